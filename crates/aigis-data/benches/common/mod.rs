//! Timing and memory helpers shared by the benchmarks.
#![allow(dead_code)] // each benchmark uses a different part

use std::time::{Duration, Instant};

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
