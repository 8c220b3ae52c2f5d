//! HDF5: any bytes through `hdf5::scan` (superblock v0–v3, object headers v1/v2 and their
//! continuations, attribute messages, fixed- and variable-length strings, the global
//! heap, then the Keras config walk). Checks that nothing panics, that a file is `safe`
//! only with the evidence of a full read (`hdf5.valid`, or `keras.config` for every
//! config found), that a root group that could not be read is never better than
//! inconclusive, and that a scan is the same twice. A config read to the end may carry
//! only a finding (a custom object is `suspicious`, with no `keras.config`): that is a
//! verdict, not a failure to read.
#![no_main]

use std::io::Cursor;

use aigis_scan::internal::hdf5;
use aigis_scan::{Limits, Location, Verdict};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = Limits {
        max_header_bytes: 1 << 20,
        max_config_depth: 16,
        ..Limits::default()
    };
    let at = Location::default();
    let evidence = hdf5::scan(&mut Cursor::new(data), data.len() as u64, &at, &limits);
    let worst = evidence.iter().map(|e| e.verdict).max().unwrap_or(Verdict::Safe);
    let read = evidence
        .iter()
        .any(|e| e.rule == "hdf5.valid" || e.rule == "keras.config");
    assert!(read || worst > Verdict::Safe, "{evidence:?}");
    if evidence
        .iter()
        .any(|e| e.rule == "hdf5.malformed" || e.rule == "hdf5.truncated")
    {
        assert!(worst >= Verdict::Inconclusive, "{evidence:?}");
    }
    let again = hdf5::scan(&mut Cursor::new(data), data.len() as u64, &at, &limits);
    assert_eq!(evidence, again);
});
