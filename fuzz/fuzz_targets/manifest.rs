//! Dataset manifests from arbitrary bytes: `aigis_data::manifest::parse`. An accepted
//! manifest must validate, print and parse back to the same manifest, and compare equal
//! to itself (no changes).
#![no_main]

use aigis_data::manifest;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = manifest::parse(data) {
        m.validate().expect("a parsed manifest validates");
        let again = manifest::parse(&m.to_json()).expect("a printed manifest parses");
        assert_eq!(again, m);
        assert!(
            manifest::compare(&m, &m).is_empty(),
            "a manifest differs from itself"
        );
    }
});
