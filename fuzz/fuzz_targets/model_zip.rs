//! Zip: any bytes as a model archive. `zip::open` with small limits, then every member
//! read through `zip::read`; then the whole file through `scan_reader` as `model.pt`
//! (format detection, member dispatch, polyglot checks) with a stand-in pickle scanner.
//!
//! Checks that nothing panics, that a member read never exceeds the limits, and that a
//! failure is always inconclusive evidence (never a clean verdict).
#![no_main]

use std::io::Cursor;
use std::path::Path;

use aigis_scan::{Evidence, Limits, Location, ReadSeek, Verdict, zip};
use libfuzzer_sys::fuzz_target;

fn pickle(
    _: &mut dyn ReadSeek,
    _: &Location,
    _: aigis_scan::pickle::Layout,
) -> (Verdict, Vec<Evidence>) {
    (Verdict::Safe, vec![])
}

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
    let _ = aigis_scan::scan::scan_reader(&mut r, len, Path::new("model.pt"), &pickle, &limits);
});
