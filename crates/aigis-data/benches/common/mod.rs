//! Helpers shared by the benchmarks: timing, memory, test files. `aigis-crypto`'s
//! benchmark includes this file too (`#[path]`), so both crates measure the same way.
#![allow(dead_code, reason = "each benchmark uses a different part")]

use std::io::{BufWriter, Read as _, Write as _};
use std::path::Path;
use std::time::{Duration, Instant};

use sha2::{Digest as _, Sha256};

const MIB: usize = 1 << 20;

/// Each measure is the best of this many runs.
pub const RUNS: usize = 3;

/// The fastest of [`RUNS`] runs of `f`, with that run's result.
pub fn best_of<T>(mut f: impl FnMut() -> T) -> (Duration, T) {
    let mut best: Option<(Duration, T)> = None;
    for _ in 0..RUNS {
        let start = Instant::now();
        let out = f();
        let t = start.elapsed();
        if best.as_ref().is_none_or(|(b, _)| t < *b) {
            best = Some((t, out));
        }
    }
    best.expect("RUNS is at least one")
}

/// Resets the kernel's peak-memory mark (Linux) and returns the current resident KiB.
pub fn reset_peak_memory() -> Option<u64> {
    std::fs::write("/proc/self/clear_refs", "5").ok()?;
    status_kib("VmRSS:")
}

/// A KiB field of `/proc/self/status` (Linux), such as `VmHWM:` (peak resident memory).
pub fn status_kib(key: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(key))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Megabytes (10^6 bytes) per second.
pub fn mb_per_s(bytes: u64, t: Duration) -> f64 {
    bytes as f64 / 1e6 / t.as_secs_f64()
}

/// `len` bytes of xorshift64 output in `path`.
pub fn write_random(path: &Path, len: u64, seed: u64) {
    let mut out = BufWriter::with_capacity(MIB, std::fs::File::create(path).expect("create"));
    let mut x = seed | 1;
    let mut block = vec![0u8; MIB];
    let mut left = len;
    while left > 0 {
        for word in block.chunks_exact_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            word.copy_from_slice(&x.to_le_bytes());
        }
        let n = left.min(MIB as u64) as usize;
        out.write_all(&block[..n]).expect("write");
        left -= n as u64;
    }
    out.flush().expect("flush");
}

/// Reads a file once so that the measures start from the page cache.
pub fn warm(path: &Path) {
    let mut buf = vec![0u8; MIB];
    let mut f = std::fs::File::open(path).expect("open");
    while f.read(&mut buf).expect("read") > 0 {}
}

/// The file's SHA-256 (hex) with the `sha2` crate on this thread.
pub fn sha256_in_process(path: &Path) -> String {
    let mut f = std::fs::File::open(path).expect("open");
    let mut buf = vec![0u8; MIB];
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

/// A Markdown table of MB/s for each measure and its ratio to `baseline` (named
/// `baseline_name` in the header).
pub fn print_table(
    rows: &[(String, Option<Duration>)],
    bytes: u64,
    baseline: Option<Duration>,
    baseline_name: &str,
) {
    let rate = |t: Duration| bytes as f64 / t.as_secs_f64() / 1e6;
    println!("| measure | MB/s | ratio vs {baseline_name} |");
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
