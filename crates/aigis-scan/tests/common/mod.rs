//! What the integration tests over `tests/data/` share: the real pickle scanner, the
//! fixture folders, and finding a piece of evidence by its rule.
#![allow(dead_code, reason = "each test file uses a different part")]

use std::path::{Path, PathBuf};

use aigis_scan::{FileReport, Finding, Limits, Rule, Scanner};

/// The scanner the CLI uses, with these limits.
pub fn scanner(limits: &Limits) -> Scanner {
    Scanner::new().with_limits(limits.clone())
}

/// `tests/data/<folder>/<name>` at the repository's root.
pub fn fixture(folder: &str, name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/data")
        .join(folder)
        .join(name)
}

/// One file through the whole scanner with the default limits; every rule it reports is
/// a registered [`Rule`].
pub fn scan_at(path: &Path) -> FileReport {
    let r = Scanner::new().scan_file(path).unwrap();
    for f in &r.findings {
        assert!(Rule::find(&f.rule).is_some(), "unregistered rule: {f:?}");
    }
    r
}

/// The first evidence of `rule`; the test fails without one.
pub fn find<'a>(r: &'a FileReport, rule: &str) -> &'a Finding {
    r.findings
        .iter()
        .find(|e| e.rule == rule)
        .unwrap_or_else(|| panic!("no {rule} in {:?}", r.findings))
}
