//! safetensors: any bytes through `safetensors::scan`. Checks that nothing panics and
//! that the verdict is `safe` only when the header was fully validated (the
//! `safetensors.valid` evidence is present).
#![no_main]

use std::io::Cursor;

use aigis_scan::internal::safetensors;
use aigis_scan::{Limits, Verdict};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = Limits {
        max_header_bytes: 1 << 20,
        ..Limits::default()
    };
    let evidence = safetensors::scan(&mut Cursor::new(data), data.len() as u64, &limits);
    let worst = evidence.iter().map(|e| e.verdict).max().unwrap_or(Verdict::Safe);
    let valid = evidence.iter().any(|e| e.rule == "safetensors.valid");
    assert!(valid || worst == Verdict::Inconclusive);
});
