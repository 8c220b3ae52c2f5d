//! Zip: any bytes as a model archive. `zip::open` with small limits, then every member
//! read through `zip::read`; then the whole file through `Scanner::scan_reader` as
//! `model.pt` (format detection, member dispatch, polyglot checks, the pickle scanner).
//!
//! Checks that nothing panics, that a member read never exceeds the limits, and that a
//! failure is always inconclusive evidence (never a clean verdict).
#![no_main]

use std::io::Cursor;
use std::path::Path;

use aigis_scan::internal::zip;
use aigis_scan::{Limits, Scanner, Verdict};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = Limits {
        max_members: 64,
        max_member_bytes: 1 << 20,
        max_total_bytes: 4 << 20,
        ..Limits::default()
    };
    let len = data.len() as u64;
    let mut r = Cursor::new(data);
    match zip::open(&mut r, len, &limits) {
        Ok(archive) => {
            let mut budget = limits.max_total_bytes;
            for m in &archive.members {
                match zip::read(&mut r, m, &limits, &mut budget) {
                    Ok(data) => assert!(data.bytes.len() as u64 <= limits.max_member_bytes),
                    Err(e) => assert_eq!(e.verdict, Verdict::Inconclusive),
                }
            }
        }
        Err(e) => assert_eq!(e.verdict, Verdict::Inconclusive),
    }
    let _ = Scanner::new()
        .with_limits(limits)
        .scan_reader(&mut r, len, Path::new("model.pt"));
});
