//! Every rule id the scanner reports over the test corpora (every file under the
//! repository's `tests/data/`) is a registered [`Rule`] with a description, so SARIF and
//! the docs can describe every finding.

use std::collections::BTreeSet;
use std::path::Path;

use aigis_scan::{Rule, Scanner};

#[test]
fn every_rule_the_corpora_produce_is_registered() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data");
    let reports = Scanner::new().scan_path(&root).unwrap();
    assert!(reports.len() >= 150, "{} files", reports.len());
    let produced: BTreeSet<&str> = reports
        .iter()
        .flat_map(|r| &r.findings)
        .map(|f| f.rule.as_str())
        .collect();
    let unknown: Vec<&&str> = produced
        .iter()
        .filter(|id| Rule::find(id).is_none())
        .collect();
    assert!(unknown.is_empty(), "rules not registered: {unknown:?}");
    // the corpora reach a good part of the rules, from every format
    assert!(produced.len() >= 50, "{produced:?}");
    for format in [
        "pickle",
        "zip",
        "compressed",
        "npy",
        "safetensors",
        "gguf",
        "hdf5",
        "keras",
        "onnx",
        "savedmodel",
        "checkpoint",
        "format",
    ] {
        assert!(
            produced
                .iter()
                .any(|id| id.starts_with(&format!("{format}."))),
            "no `{format}.*` rule in {produced:?}"
        );
    }
}
