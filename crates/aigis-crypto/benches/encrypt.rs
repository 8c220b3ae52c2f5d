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

use std::io::{BufReader, BufWriter, Read as _, Write as _};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use aigis_crypto::crypt;
use aigis_crypto::recipient::Identity;
use sha2::{Digest as _, Sha256};

const RUNS: usize = 3;
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
    print_table(&rows, bytes, baseline);
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

/// `len` bytes of xorshift64 output.
fn write_random(path: &Path, len: u64, seed: u64) {
    let mut out =
        BufWriter::with_capacity(MIB as usize, std::fs::File::create(path).expect("create"));
    let mut x = seed | 1;
    let mut block = vec![0u8; MIB as usize];
    let mut left = len;
    while left > 0 {
        for word in block.chunks_exact_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            word.copy_from_slice(&x.to_le_bytes());
        }
        let n = left.min(MIB) as usize;
        out.write_all(&block[..n]).expect("write");
        left -= n as u64;
    }
    out.flush().expect("flush");
}

/// Reads the file once so that the measures start from the page cache.
fn warm(path: &Path) {
    let mut buf = vec![0u8; MIB as usize];
    let mut f = std::fs::File::open(path).expect("open");
    while f.read(&mut buf).expect("read") > 0 {}
}

fn sha256(path: &Path) -> String {
    let mut f = std::fs::File::open(path).expect("open");
    let mut buf = vec![0u8; MIB as usize];
    let mut h = Sha256::new();
    loop {
        let n = f.read(&mut buf).expect("read");
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    hex::encode(h.finalize())
}

fn best_of<T>(mut f: impl FnMut() -> T) -> (Duration, T) {
    let mut best: Option<(Duration, T)> = None;
    for _ in 0..RUNS {
        let start = Instant::now();
        let out = f();
        let t = start.elapsed();
        if best.as_ref().is_none_or(|(b, _)| t < *b) {
            best = Some((t, out));
        }
    }
    best.expect("at least one run")
}

fn print_table(rows: &[(String, Option<Duration>)], bytes: u64, baseline: Option<Duration>) {
    let rate = |t: Duration| bytes as f64 / t.as_secs_f64() / 1e6;
    println!("| measure | MB/s | ratio vs openssl chacha20 |");
    println!("|---|---:|---:|");
    for (name, t) in rows {
        let Some(t) = t else {
            println!("| {name} | n/a | n/a |");
            continue;
        };
        let ratio = baseline.map_or_else(
            || "n/a".to_owned(),
            |b| format!("{:.2}", rate(*t) / rate(b)),
        );
        println!("| {name} | {:.0} | {ratio} |", rate(*t));
    }
}

/// Resets the process's peak resident set size (Linux: `5` into `/proc/self/clear_refs`)
/// and returns the current one, in KiB.
fn reset_peak_memory() -> Option<u64> {
    std::fs::write("/proc/self/clear_refs", "5").ok()?;
    status_kib("VmRSS:")
}

/// A KiB field of `/proc/self/status` (Linux), such as `VmHWM:` (peak resident memory).
fn status_kib(key: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(key))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
