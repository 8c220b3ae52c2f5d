//! Throughput and memory of `aigis data scan` (validation + personal data) on a CSV
//! table, beside reading the same file with the reader alone and with `wc -l`.
//!
//! ```sh
//! cargo bench -p aigis-data --bench scan    # a 512 MB table
//! AIGIS_BENCH_SCAN_MB=2048 cargo bench -p aigis-data --bench scan
//! cargo test  -p aigis-data --bench scan    # a 4 MB smoke run that checks the findings
//! ```
//!
//! The table has ten columns of the kinds real datasets mix: an id, amounts, a category,
//! a timestamp, names, emails, phone numbers, free text with occasional card numbers, a
//! score and a flag. One row in 2,000 has a planted bad value. It is written once and read
//! once before timing, so the numbers are parsing and scanning speed, not disk speed.
//! Each measure is the best of 3 runs; MB/s is 10^6 bytes per second.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "a benchmark stops on a broken setup"
)]

mod common;

use std::io::{BufWriter, Write as _};
use std::path::Path;
use std::process::Command;

use aigis_data::scan::{self, Progress, ScanOptions};
use aigis_data::table::{self, ReadOptions};
use common::{best_of, mb_per_s, reset_peak_memory, status_kib};

const FIRST: [&str; 8] = [
    "Ana", "Li", "Omar", "Sofia", "Kenji", "Amara", "Luca", "Priya",
];
const LAST: [&str; 8] = [
    "Silva", "Chen", "Haddad", "Rossi", "Sato", "Okafor", "Bianchi", "Nair",
];
const WORDS: [&str; 16] = [
    "refund",
    "requested",
    "after",
    "delivery",
    "was",
    "late",
    "customer",
    "asked",
    "about",
    "the",
    "invoice",
    "and",
    "shipping",
    "address",
    "update",
    "please",
];
const COUNTRIES: [&str; 5] = ["FR", "DE", "US", "JP", "BR"];

fn write_table(path: &Path, target_bytes: u64) -> u64 {
    let mut out = BufWriter::with_capacity(1 << 20, std::fs::File::create(path).expect("create"));
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let mut written = 0u64;
    let header = "id,amount,country,ts,name,email,phone,note,score,flag\n";
    out.write_all(header.as_bytes()).expect("write");
    written += header.len() as u64;
    let mut rows = 0u64;
    while written < target_bytes {
        rows += 1;
        let r = next();
        let first = FIRST[(r % 8) as usize];
        let last = LAST[((r >> 8) % 8) as usize];
        let mut note = String::new();
        for k in 0..(4 + (r >> 16) % 8) {
            if k > 0 {
                note.push(' ');
            }
            note.push_str(WORDS[((r >> (20 + k)) % 16) as usize]);
        }
        if rows.is_multiple_of(97) {
            note.push_str(" card 4111 1111 1111 1111");
        }
        let amount = if rows.is_multiple_of(2000) {
            "n/a".to_owned()
        } else {
            format!("{}.{:02}", (r >> 24) % 5000, (r >> 40) % 100)
        };
        let line = format!(
            "{rows},{amount},{},2026-{:02}-{:02}T{:02}:{:02}:00Z,{first} {last},{}.{}{}@example.com,+1 415 555 {:04},\"{note}\",{:.4},{}\n",
            COUNTRIES[((r >> 12) % 5) as usize],
            (r >> 30) % 12 + 1,
            (r >> 34) % 28 + 1,
            (r >> 38) % 24,
            (r >> 43) % 60,
            first.to_lowercase(),
            last.to_lowercase(),
            (r >> 48) % 100,
            (r >> 50) % 10_000,
            ((r >> 20) % 10_000) as f64 / 10_000.0,
            if r & 1 == 0 { "true" } else { "false" },
        );
        out.write_all(line.as_bytes()).expect("write");
        written += line.len() as u64;
    }
    out.flush().expect("flush");
    rows
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let mb: u64 = if full {
        std::env::var("AIGIS_BENCH_SCAN_MB")
            .ok()
            .map(|v| v.parse().expect("AIGIS_BENCH_SCAN_MB is a number of MB"))
            .unwrap_or(512)
    } else {
        4
    };
    let dir = tempfile::tempdir().expect("a temporary folder");
    let path = dir.path().join("table.csv");
    let rows = write_table(&path, mb * 1_000_000);
    let bytes = std::fs::metadata(&path).expect("metadata").len();
    let _ = std::fs::read(&path); // into the page cache
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "scan bench ({} run): {rows} rows, {bytes} bytes, {threads} threads",
        if full { "full" } else { "smoke" }
    );

    let read = ReadOptions::default();
    let (t_read, n) = best_of(|| {
        let mut n = 0u64;
        for batch in table::open(&path, None, &read).expect("open") {
            n += batch.expect("batch").rows as u64;
        }
        n
    });
    assert_eq!(n, rows);

    let quiet = |_: Progress<'_>| {};
    let no_pii = ScanOptions {
        pii: false,
        ..ScanOptions::default()
    };
    let (t_validate, _) = best_of(|| scan::scan(&path, &no_pii, &quiet).expect("scan"));
    let before = reset_peak_memory();
    let (t_scan, report) =
        best_of(|| scan::scan(&path, &ScanOptions::default(), &quiet).expect("scan"));
    let peak = status_kib("VmHWM:");

    // What the scan must have found: the planted bad amounts and cards, and every email
    // and phone number, whatever order the workers ran in.
    let count = |rule: &str| -> u64 {
        report
            .counts
            .iter()
            .filter(|c| c.rule == rule)
            .map(|c| c.count)
            .sum()
    };
    assert_eq!(report.rows, rows);
    assert_eq!(count("schema.type"), rows / 2000);
    assert_eq!(count("pii.credit_card"), rows / 97);
    assert_eq!(count("pii.email"), rows);
    assert_eq!(count("pii.phone"), rows);

    let wc = best_of(|| {
        Command::new("wc")
            .arg("-l")
            .arg(&path)
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false)
    });

    println!("\n| measure | time | MB/s | vs the reader alone |");
    println!("|---|---:|---:|---:|");
    let line = |name: &str, t: std::time::Duration| {
        println!(
            "| {name} | {:.2} s | {:.0} | {:.2} |",
            t.as_secs_f64(),
            mb_per_s(bytes, t),
            t_read.as_secs_f64() / t.as_secs_f64()
        );
    };
    if wc.1 {
        line("`wc -l` (reading the bytes, no parsing)", wc.0);
    }
    line(
        "table reader alone (CSV parse into batches, 1 thread)",
        t_read,
    );
    line("scan: validation only", t_validate);
    line("scan: validation + personal data (the default)", t_scan);
    if let (Some(before), Some(peak)) = (before, peak) {
        println!(
            "\npeak resident memory during the default scan: {} MiB above the {} MiB before it, for a {} MB file",
            peak.saturating_sub(before) / 1024,
            before / 1024,
            bytes / 1_000_000
        );
    }
}
