//! ONNX and SavedModel: any bytes through `onnx::scan_bytes` (external data looked up in a
//! folder that does not exist) and `savedmodel::scan_bytes`, with tight limits. Checks that
//! nothing panics, that a `safe` verdict comes only with the model parsed to the end
//! (`onnx.valid` / `savedmodel.valid`), and that a malformed model is never safe.
#![no_main]

use std::path::Path;

use aigis_scan::internal::{onnx, savedmodel};
use aigis_scan::{Finding, Limits, Verdict};
use libfuzzer_sys::fuzz_target;

fn check(evidence: &[Finding], valid: &str) {
    let worst = evidence.iter().map(|e| e.verdict).max().unwrap_or(Verdict::Safe);
    let parsed = evidence.iter().any(|e| e.rule == valid);
    assert!(parsed || worst >= Verdict::Inconclusive, "{evidence:?}");
    if evidence.iter().any(|e| e.rule.ends_with(".malformed")) {
        assert!(worst >= Verdict::Inconclusive);
    }
}

fuzz_target!(|data: &[u8]| {
    let limits = Limits {
        max_entries: 4096,
        max_array_elements: 1 << 16,
        max_depth: 16,
        ..Limits::default()
    };
    let nowhere = Path::new("/nonexistent-aigis-fuzz");
    check(&onnx::scan_bytes(data, nowhere, &limits), "onnx.valid");
    check(&savedmodel::scan_bytes(data, &limits), "savedmodel.valid");
});
