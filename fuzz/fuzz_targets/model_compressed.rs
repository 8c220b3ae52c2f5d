//! Compressed model files: any bytes through `aigis_scan::internal::compressed::scan` (zlib,
//! gzip, bz2, lzma, xz, lz4 and joblib's z-file, picked by the magic number) with a
//! 1 MiB decompression limit and the real pickle scanner, then through `Scanner::scan_reader` as
//! `model.joblib` (format detection first).
//!
//! Checks that nothing panics, that memory stays bounded (a bomb or a huge declared
//! dictionary stops at the limit: libFuzzer's `-rss_limit_mb` catches the rest), and that
//! a stream that does not decompress, or passes the limit, is never clean.
#![no_main]

use std::io::Cursor;
use std::path::Path;

use aigis_scan::internal::compressed;
use aigis_scan::{Limits, Scanner, Verdict};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = Limits {
        max_member_bytes: 1 << 20,
        ..Limits::default()
    };
    let scanner = Scanner::new().with_limits(limits);
    let found = compressed::scan(&mut Cursor::new(data), &scanner);
    let worst = Verdict::worst(&found);
    if found.iter().any(|e| {
        matches!(
            e.rule.as_str(),
            "compressed.corrupt" | "compressed.too_large" | "compressed.depth"
        )
    }) {
        assert!(worst >= Verdict::Inconclusive, "{found:?}");
    }
    if compressed::codec(data).is_none() {
        assert!(worst >= Verdict::Inconclusive, "{found:?}");
    }
    let len = data.len() as u64;
    let _ = scanner.scan_reader(&mut Cursor::new(data), len, Path::new("model.joblib"));
});
