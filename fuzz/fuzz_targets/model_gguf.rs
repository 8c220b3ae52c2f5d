//! GGUF: any bytes through `gguf::scan` (header, metadata of every type, arrays, chat
//! templates, tensor infos). Checks that nothing panics and that a file is reported
//! `safe` only when it was parsed to the end (`gguf.valid`).
#![no_main]

use std::io::Cursor;

use aigis_scan::internal::gguf;
use aigis_scan::{Limits, Verdict};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = Limits {
        max_entries: 4096,
        max_array_elements: 1 << 16,
        max_string_bytes: 1 << 16,
        ..Limits::default()
    };
    let evidence = gguf::scan(&mut Cursor::new(data), data.len() as u64, &limits);
    let worst = evidence.iter().map(|e| e.verdict).max().unwrap_or(Verdict::Safe);
    let valid = evidence.iter().any(|e| e.rule == "gguf.valid");
    assert!(valid || worst >= Verdict::Inconclusive);
});
