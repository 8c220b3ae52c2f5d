//! Shared by the `table_*` targets: writes the input to a per-process file (overwritten
//! every run, so no directory is created per input), reads it back as a table and checks
//! the batches.

use std::path::PathBuf;
use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, Ordering};

use aigis_data::profile::TableStats;
use aigis_data::scan::{self, ScanOptions};
use aigis_data::table::{self, Batch, Format, ReadOptions};

/// Small limits, so the fuzzer sees several batches and the record limit from small inputs.
pub fn read_options() -> ReadOptions {
    ReadOptions {
        batch_rows: 64,
        batch_bytes: 1 << 14,
        max_record_bytes: 1 << 16,
        delimiter: None,
    }
}

static PATH: LazyLock<PathBuf> = LazyLock::new(|| {
    std::env::temp_dir().join(format!("aigis-fuzz-table-{}", std::process::id()))
});

/// `AIGIS_FUZZ_VERBOSE=1` prints what each input read as (rows, columns, issues, error),
/// to see that the seeds get past the format checks.
static VERBOSE: LazyLock<bool> = LazyLock::new(|| std::env::var_os("AIGIS_FUZZ_VERBOSE").is_some());

static RUNS: AtomicU64 = AtomicU64::new(0);

/// Writes `data` to this process's scratch file and returns its path.
pub fn write_input(data: &[u8]) -> &'static std::path::Path {
    std::fs::write(&*PATH, data).expect("write the fuzz input to a temporary file");
    &PATH
}

/// Reads the table in `format`, checks every batch and profiles them. With `scan_every`
/// (CSV, JSON Lines), also scans the file with one worker: without PII on most runs, with
/// it every `scan_every`-th run (building the detector costs more than the read).
pub fn check(data: &[u8], format: Format, scan_every: Option<u64>) {
    let path = write_input(data);
    let options = read_options();
    read_all(path, format, &options);
    if let Some(every) = scan_every {
        let run = RUNS.fetch_add(1, Ordering::Relaxed);
        let scan_options = ScanOptions {
            read: options.clone(),
            format: Some(format),
            threads: Some(1),
            max_details: 4,
            pii: run % every == 0,
            ..ScanOptions::default()
        };
        if let Ok(report) = scan::scan(path, &scan_options, &|_| {}) {
            serde_json::to_string(&report).expect("a scan report serializes");
        }
    }
}

fn read_all(path: &std::path::Path, format: Format, options: &ReadOptions) {
    let reader = match table::open(path, Some(format), options) {
        Ok(r) => r,
        Err(e) => {
            if *VERBOSE {
                eprintln!("open: {e}");
            }
            return;
        }
    };
    assert_eq!(reader.format(), format);
    let mut stats = TableStats::default();
    let mut next_row = 1u64;
    let mut names_seen = 0usize;
    let mut issues = 0usize;
    for batch in reader {
        let batch = match batch {
            Ok(b) => b,
            Err(e) => {
                // An error ends the read (the scan stops at it too).
                if *VERBOSE {
                    eprintln!("batch: {e}");
                }
                break;
            }
        };
        issues += batch.issues.len();
        check_batch(&batch, next_row, options);
        // JSON Lines may add columns as it goes, never drop them.
        assert!(batch.names.len() >= names_seen, "column names shrank");
        names_seen = batch.names.len();
        next_row = batch.first_row + batch.rows as u64;
        stats.add_batch(&batch).expect("a batch the reader gave profiles");
    }
    let profile = stats.finish();
    assert_eq!(profile.rows, next_row - 1, "profile rows = rows read");
    let json = serde_json::to_string(&profile).expect("a profile serializes");
    if *VERBOSE {
        eprintln!("read {} rows, {names_seen} columns, {issues} issues: {json:.300}", profile.rows);
    }
}

fn check_batch(batch: &Batch, expected_first: u64, options: &ReadOptions) {
    assert_eq!(batch.first_row, expected_first, "first_row not contiguous");
    assert!(batch.rows <= options.batch_rows.max(1), "batch over batch_rows");
    assert_eq!(batch.columns.len(), batch.names.len(), "one column per name");
    for (name, column) in batch.names.iter().zip(&batch.columns) {
        assert_eq!(column.len(), batch.rows, "column {name:?} has not `rows` cells");
        let mut n = 0;
        for (i, cell) in column.iter().enumerate() {
            assert_eq!(column.get(i), Some(cell), "get({i}) != iter() in {name:?}");
            n += 1;
        }
        assert_eq!(n, batch.rows);
        assert!(column.get(batch.rows).is_none());
    }
    let end = batch.first_row + batch.rows as u64;
    for issue in &batch.issues {
        assert!(
            issue.row == 0 || (batch.first_row..end).contains(&issue.row),
            "issue row {} outside batch rows {}..{end}: {issue:?}",
            issue.row,
            batch.first_row
        );
    }
}
