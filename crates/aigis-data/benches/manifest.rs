//! Throughput of `manifest::build` against the usual command-line hashers.
//!
//! ```sh
//! cargo bench -p aigis-data --bench manifest   # 2 GiB file + 2000 × 4 KiB files
//! AIGIS_BENCH_MANIFEST_MB=512 cargo bench -p aigis-data --bench manifest
//! cargo test  -p aigis-data --bench manifest   # 8 MiB smoke run
//! ```
//!
//! The data is pseudo-random (xorshift), written once into a temporary folder and read
//! once before timing, so every measure hashes from the page cache: the numbers are
//! hashing speed, not disk speed. Each measure is the best of 3 runs; MB/s is 10^6 bytes
//! per second. `b3sum` is measured only when it is installed. The digests `build` writes
//! are checked against `sha256sum`'s.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "a benchmark stops on a broken setup"
)]

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{
    best_of, print_table, reset_peak_memory, sha256_in_process, status_kib, warm, write_random,
};

use aigis_data::manifest::{self, Options};

const MIB: u64 = 1 << 20;

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --bench manifest` passes nothing.
    let full = std::env::args().any(|a| a == "--bench");
    let big_mb = if full {
        std::env::var("AIGIS_BENCH_MANIFEST_MB")
            .ok()
            .map(|v| {
                v.parse::<u64>()
                    .expect("AIGIS_BENCH_MANIFEST_MB is a number of MiB")
            })
            .unwrap_or(2048)
    } else {
        8
    };
    let (small_files, small_size) = if full { (2000, 4096) } else { (20, 4096) };

    let dir = tempfile::tempdir().expect("a temporary folder");
    let big = dir.path().join("big.bin");
    let started = Instant::now();
    write_random(&big, big_mb * MIB, 0x9E37_79B9_7F4A_7C15);
    println!(
        "manifest bench ({} run): {big_mb} MiB file written in {:.1} s",
        if full { "full" } else { "smoke" },
        started.elapsed().as_secs_f64()
    );
    let big_only = std::slice::from_ref(&big);
    warm(&big);

    let bytes = big_mb * MIB;
    let mut rows = Vec::new();
    let before_build = reset_peak_memory();
    let (t, m) = best_of(|| manifest::build(&big, &Options::default(), &|_| {}).expect("build"));
    let peak_build = status_kib("VmHWM:");
    let entry = m.files.first().expect("one file");
    assert_eq!(entry.size, bytes);
    rows.push(("`manifest::build` (8 MiB chunks)".to_owned(), Some(t)));
    let sha256sum = best_of_command("sha256sum", &[], big_only);
    if let Some((_, out)) = &sha256sum {
        assert_eq!(
            first_word(out),
            entry.sha256,
            "build and sha256sum disagree"
        );
    }
    let baseline = sha256sum.as_ref().map(|(t, _)| *t);
    rows.push(("`sha256sum`".to_owned(), baseline));
    if let Some((t, _)) = best_of_command("b3sum", &[], big_only) {
        rows.push(("`b3sum` (all cores)".to_owned(), Some(t)));
        if let Some((t, _)) = best_of_command("b3sum", &["--num-threads", "1"], big_only) {
            rows.push(("`b3sum --num-threads 1`".to_owned(), Some(t)));
        }
    } else {
        println!("b3sum is not installed: skipped");
    }
    let (t, digest) = best_of(|| sha256_in_process(&big));
    assert_eq!(digest, entry.sha256, "build and sha2 disagree");
    rows.push(("`sha2` in process, one thread".to_owned(), Some(t)));
    println!();
    println!(
        "One file of {big_mb} MiB ({} chunks of 8 MiB), from the page cache:",
        entry.chunks.len()
    );
    print_table(&rows, bytes, baseline, "sha256sum");

    // Many small files: per-file costs (open, threads, buffers) dominate.
    let folder = dir.path().join("small");
    std::fs::create_dir(&folder).expect("mkdir");
    let mut paths = Vec::with_capacity(small_files);
    for i in 0..small_files {
        let p = folder.join(format!("f{i:05}.bin"));
        write_random(&p, small_size, 1 + i as u64);
        paths.push(p);
    }
    paths.iter().for_each(|p| warm(p));
    let total = small_files as u64 * small_size;
    let mut rows = Vec::new();
    let before_folder = reset_peak_memory();
    let (t, m) = best_of(|| manifest::build(&folder, &Options::default(), &|_| {}).expect("build"));
    let peak_folder = status_kib("VmHWM:");
    assert_eq!(m.files.len(), small_files);
    rows.push((format!("`manifest::build` ({small_files} files)"), Some(t)));
    let sha256sum = best_of_command("sha256sum", &[], &paths);
    if let Some((_, out)) = &sha256sum {
        // `sha256sum` prints the files in argument order, which is the manifest's order.
        let digests: Vec<&str> = out.lines().map(first_word).collect();
        let ours: Vec<&str> = m.files.iter().map(|f| f.sha256.as_str()).collect();
        assert_eq!(digests, ours, "build and sha256sum disagree");
    }
    let baseline = sha256sum.as_ref().map(|(t, _)| *t);
    rows.push((
        "`sha256sum` (one invocation, all paths)".to_owned(),
        baseline,
    ));
    println!();
    println!(
        "{small_files} files of {} KiB, from the page cache:",
        small_size / 1024
    );
    print_table(&rows, total, baseline, "sha256sum");

    println!();
    let show = |k: Option<u64>| {
        k.map_or_else(
            || "unknown".to_owned(),
            |k| format!("{:.1} MiB", k as f64 / 1024.0),
        )
    };
    println!(
        "Peak resident memory of the process (VmHWM, reset before each set of builds): \
         big-file builds {} (resident before: {}), folder builds {} (resident before: {})",
        show(peak_build),
        show(before_build),
        show(peak_folder),
        show(before_folder)
    );
}

/// Runs `program args… paths…` `RUNS` times; `None` when the program is not installed.
fn best_of_command(program: &str, args: &[&str], paths: &[PathBuf]) -> Option<(Duration, String)> {
    if Command::new(program).arg("--version").output().is_err() {
        return None;
    }
    let (t, out) = best_of(|| {
        Command::new(program)
            .args(args)
            .args(paths)
            .output()
            .expect("run")
    });
    assert!(
        out.status.success(),
        "{program}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some((t, String::from_utf8_lossy(&out.stdout).into_owned()))
}

fn first_word(line: &str) -> &str {
    line.split_whitespace().next().unwrap_or_default()
}
