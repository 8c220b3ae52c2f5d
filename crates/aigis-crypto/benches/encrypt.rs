//! Throughput of `crypt` encryption and decryption beside `openssl enc`.
//!
//! ```sh
//! cargo bench -p aigis-crypto --bench encrypt     # a 1 GiB file
//! AIGIS_BENCH_ENCRYPT_MB=256 cargo bench -p aigis-crypto --bench encrypt
//! cargo test  -p aigis-crypto --bench encrypt     # 2 MiB smoke run (dev profile: slow)
//! ```
//!
//! The plaintext is pseudo-random (xorshift), written once into a temporary folder and
//! read once before timing, so reads come from the page cache. Each measure is the best of
//! 3 runs; MB/s is 10^6 plaintext bytes per second. The baseline is `openssl enc -chacha20`
//! (the same cipher, without Poly1305 and without chunking: a lower bound on the work);
//! `-aes-256-ctr` is shown too. `crypt::encrypt`/`decrypt` are the streaming API between
//! buffered files; `encrypt_file`/`decrypt_file` are what `aigis data encrypt`/`decrypt`
//! run: they also hash both sides (SHA-256, for the evidence) and sync the output to disk
//! before renaming it into place, so they include disk writes. Every decryption is checked
//! to give back the plaintext.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "a benchmark stops on a broken setup"
)]

use std::io::{BufReader, BufWriter};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

#[path = "../../aigis-data/benches/common/mod.rs"]
mod common;

use aigis_crypto::crypt;
use aigis_crypto::recipient::Identity;
use common::{
    best_of, print_table, reset_peak_memory, sha256_in_process as sha256, status_kib, warm,
    write_random,
};

const MIB: u64 = 1 << 20;

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --bench encrypt` passes nothing.
    let full = std::env::args().any(|a| a == "--bench");
    let mb = if full {
        std::env::var("AIGIS_BENCH_ENCRYPT_MB")
            .ok()
            .map(|v| {
                v.parse::<u64>()
                    .expect("AIGIS_BENCH_ENCRYPT_MB is a number of MiB")
            })
            .unwrap_or(1024)
    } else {
        2
    };
    let bytes = mb * MIB;
    let dir = tempfile::tempdir().expect("a temporary folder");
    let plain = dir.path().join("plain.bin");
    let sealed = dir.path().join("plain.bin.aigis-enc");
    let opened = dir.path().join("opened.bin");
    write_random(&plain, bytes, 0x9E37_79B9_7F4A_7C15);
    let want = sha256(&plain);
    warm(&plain);
    println!(
        "encrypt bench ({} run): {mb} MiB, chunks of {} KiB",
        if full { "full" } else { "smoke" },
        crypt::DEFAULT_CHUNK_SIZE / 1024
    );

    let identity = Identity::generate().expect("an identity");
    let to = [identity.recipient().clone()];
    let ids = [identity];
    let mut rows: Vec<(String, Option<Duration>)> = Vec::new();

    let before = reset_peak_memory();
    let (t, s) = best_of(|| {
        let input = std::fs::File::open(&plain).expect("open");
        let out =
            BufWriter::with_capacity(256 * 1024, std::fs::File::create(&sealed).expect("create"));
        crypt::encrypt(input, out, &to, crypt::DEFAULT_CHUNK_SIZE, &|_| {}).expect("encrypt")
    });
    let peak_encrypt = status_kib("VmHWM:");
    assert_eq!(s.plaintext_bytes, bytes);
    rows.push(("`crypt::encrypt`".into(), Some(t)));
    warm(&sealed);
    reset_peak_memory();
    let (t, s) = best_of(|| {
        let input =
            BufReader::with_capacity(256 * 1024, std::fs::File::open(&sealed).expect("open"));
        let out =
            BufWriter::with_capacity(256 * 1024, std::fs::File::create(&opened).expect("create"));
        crypt::decrypt(input, out, &ids, &|_| {}).expect("decrypt")
    });
    let peak_decrypt = status_kib("VmHWM:");
    assert_eq!(s.plaintext_bytes, bytes);
    assert_eq!(sha256(&opened), want, "decrypt gave back other bytes");
    rows.push(("`crypt::decrypt`".into(), Some(t)));

    let (t, s) = best_of(|| {
        crypt::encrypt_file(&plain, &sealed, &to, crypt::DEFAULT_CHUNK_SIZE, &|_| {})
            .expect("encrypt_file")
    });
    assert_eq!(
        s.plaintext_sha256.map(|d| d.to_string()),
        Some(format!("sha256:{want}"))
    );
    rows.push((
        "`crypt::encrypt_file` (+ SHA-256 both sides, fsync)".into(),
        Some(t),
    ));
    warm(&sealed);
    let (t, s) = best_of(|| {
        std::fs::remove_file(&opened).ok();
        crypt::decrypt_file(&sealed, &opened, &ids, &|_| {}).expect("decrypt_file")
    });
    assert_eq!(
        s.plaintext_sha256.map(|d| d.to_string()),
        Some(format!("sha256:{want}"))
    );
    rows.push((
        "`crypt::decrypt_file` (+ SHA-256 both sides, fsync)".into(),
        Some(t),
    ));

    let baseline = openssl(&plain, &dir.path().join("openssl.bin"), "-chacha20");
    rows.push(("`openssl enc -chacha20` (no MAC)".into(), baseline));
    let aes = openssl(&plain, &dir.path().join("openssl.bin"), "-aes-256-ctr");
    rows.push(("`openssl enc -aes-256-ctr` (no MAC)".into(), aes));

    println!();
    print_table(&rows, bytes, baseline, "openssl chacha20");
    let show = |k: Option<u64>| {
        k.map_or_else(
            || "unknown".to_owned(),
            |k| format!("{:.1} MiB", k as f64 / 1024.0),
        )
    };
    println!();
    println!(
        "Peak resident memory (VmHWM, reset before each): encrypt {}, decrypt {} (resident before: {})",
        show(peak_encrypt),
        show(peak_decrypt),
        show(before)
    );
}

/// `openssl enc CIPHER` over the file, best of `RUNS`; `None` if openssl is missing.
fn openssl(input: &Path, output: &Path, cipher: &str) -> Option<Duration> {
    if Command::new("openssl").arg("version").output().is_err() {
        println!("openssl is not installed: skipped");
        return None;
    }
    let key = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
    let iv = "000102030405060708090a0b0c0d0e0f";
    let (t, out) = best_of(|| {
        Command::new("openssl")
            .args(["enc", cipher, "-K", key, "-iv", iv, "-in"])
            .arg(input)
            .arg("-out")
            .arg(output)
            .output()
            .expect("run openssl")
    });
    assert!(
        out.status.success(),
        "openssl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(t)
}
