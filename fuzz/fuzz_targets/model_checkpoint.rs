//! TensorFlow checkpoint indexes: any bytes through `checkpoint::scan_files` (the LevelDB
//! table: footer, block checksums, restart points, key order; then the bundle header and
//! tensor entries), as `variables.index` in a scratch folder that holds one 4 KiB data
//! file `variables.data-00000-of-00001`, with tight limits. Checks that nothing panics,
//! that a `safe` verdict comes only with the index read to the end (`checkpoint.index`),
//! that a malformed index is never safe, and that data files are claimed only when every
//! piece of evidence is safe.
#![no_main]

use std::io::Cursor;
use std::path::PathBuf;
use std::sync::LazyLock;

use aigis_scan::internal::checkpoint;
use aigis_scan::{Limits, Verdict};
use libfuzzer_sys::fuzz_target;

/// A folder per process with the data file a one-shard index names.
static FOLDER: LazyLock<PathBuf> = LazyLock::new(|| {
    let dir = std::env::temp_dir().join(format!("aigis-fuzz-checkpoint-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("create the fuzz scratch folder");
    std::fs::write(dir.join("variables.data-00000-of-00001"), vec![0u8; 4096])
        .expect("write the fuzz data file");
    dir
});

fuzz_target!(|data: &[u8]| {
    let limits = Limits {
        max_entries: 4096,
        max_header_bytes: 1 << 20,
        max_string_bytes: 1 << 12,
        max_files: 64,
        ..Limits::default()
    };
    let index = FOLDER.join("variables.index");
    let (evidence, files) =
        checkpoint::scan_files(&mut Cursor::new(data), data.len() as u64, &index, &limits);
    let worst = evidence
        .iter()
        .map(|e| e.verdict)
        .max()
        .unwrap_or(Verdict::Safe);
    let parsed = evidence.iter().any(|e| e.rule == "checkpoint.index");
    assert!(parsed || worst >= Verdict::Inconclusive, "{evidence:?}");
    if evidence.iter().any(|e| e.rule == "checkpoint.malformed") {
        assert!(worst >= Verdict::Inconclusive);
    }
    if !files.is_empty() {
        assert_eq!(worst, Verdict::Safe, "{evidence:?}");
        assert!(files.iter().all(|f| f.starts_with(&*FOLDER)), "{files:?}");
    }
});
