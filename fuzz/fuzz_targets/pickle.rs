//! The pickle machine from arbitrary bytes, as a plain stream and as the members of a
//! legacy PyTorch tar: `aigis_scan::internal::pickle::scan_bytes` must return
//! (bounded time and memory), never panic, and never call a file it could not fully parse
//! clean.
#![no_main]

use std::io::Cursor;

use aigis_scan::internal::pickle::{self, Limits};
use aigis_scan::{Allowlist, Location, Verdict};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let loc = Location {
        member: Some("fuzz/data.pkl".to_owned()),
        offset: None,
    };
    let limits = Limits::default();
    let report = pickle::scan_bytes(data, &loc, &limits);

    // The verdict is the worst evidence; safe means nothing to say and fully parsed.
    let worst = report.findings.iter().map(|e| e.verdict).max();
    assert_eq!(report.verdict, worst.unwrap_or(Verdict::Safe));
    if report.verdict == Verdict::Safe {
        assert!(report.pickles >= 1);
        assert!(report.trailing_data.is_none());
        assert!(report.imports.iter().all(|i| i.verdict == Verdict::Safe));
    }
    for e in &report.findings {
        assert!(e.rule.starts_with("pickle."));
        assert_eq!(e.location.member.as_deref(), Some("fuzz/data.pkl"));
        assert!(e.location.offset.is_some_and(|o| o <= data.len() as u64));
    }
    // Imports the policy calls dangerous make the file dangerous.
    if report.imports.iter().any(|i| i.verdict == Verdict::Dangerous) {
        assert_eq!(report.verdict, Verdict::Dangerous);
    }

    // The reader API gives the same answer as the slice API.
    let again = pickle::scan(Cursor::new(data), &loc, &limits).expect("a cursor reads");
    assert_eq!(again, report);

    // Tight limits still terminate, and never make a dangerous file clean. (They may
    // change other verdicts: a string too long to inspect is not decoded, so a broken
    // escape CPython would reject goes unnoticed; that rejection would run nothing.)
    let tight = Limits {
        max_ops: 64,
        max_stack: 16,
        max_memo: 8,
        max_nesting: 2,
        max_inspect: 16,
        max_retained: 64,
        allow_trailing_data: false,
        ..Limits::default()
    };
    let small = pickle::scan_bytes(data, &loc, &tight);
    if report.verdict == Verdict::Dangerous && small.verdict == Verdict::Safe {
        panic!("tight limits made a {} file safe", report.verdict);
    }

    // The same bytes as the members of a legacy PyTorch tar, pickles between raw
    // records: bounded, and safe only when fully parsed.
    for layout in [
        pickle::Layout::TorchTarStorages,
        pickle::Layout::TorchTarTensors,
    ] {
        let r = pickle::scan_layout(Cursor::new(data), &loc, &limits, &Allowlist::default(), layout)
            .expect("a cursor reads");
        let worst = r.findings.iter().map(|e| e.verdict).max();
        assert_eq!(r.verdict, worst.unwrap_or(Verdict::Safe));
        if r.verdict == Verdict::Safe {
            assert!(r.pickles >= 1);
            assert!(r.imports.iter().all(|i| i.verdict == Verdict::Safe));
        }
    }
});
