//! Every file of `tests/data/containers/` (written by `scripts/make_container_corpus.py`
//! with Keras 3 itself, h5py, and by hand) gets the verdict and the evidence it should.

use std::path::{Path, PathBuf};

use aigis_model::{Evidence, FileReport, Limits, Location, ReadSeek, Verdict, scan_file};

fn real_pickle(r: &mut dyn ReadSeek, at: &Location) -> (Verdict, Vec<Evidence>) {
    let limits = aigis_model::pickle::Limits::default();
    aigis_model::pickle_scanner(&limits)(r, at)
}

fn corpus(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/data/containers")
        .join(name)
}

fn scan(name: &str) -> FileReport {
    scan_file(&corpus(name), &real_pickle, &Limits::default()).unwrap()
}

fn find<'a>(r: &'a FileReport, rule: &str) -> &'a Evidence {
    r.evidence
        .iter()
        .find(|e| e.rule == rule)
        .unwrap_or_else(|| panic!("no {rule} in {:?}", r.evidence))
}

#[test]
fn keras3_files_made_by_keras() {
    for name in ["keras_dense.keras", "keras_functional.keras"] {
        let r = scan(name);
        assert_eq!(
            (r.format.as_str(), r.verdict),
            ("keras", Verdict::Safe),
            "{name}: {:?}",
            r.evidence
        );
        let config = find(&r, "keras.config");
        assert_eq!(config.location.member.as_deref(), Some("config.json"));
    }
    let r = scan("keras_functional.keras");
    // Bidirectional(LSTM), TimeDistributed(Dense) and the nested Sequential were walked
    let n: u32 = find(&r, "keras.config")
        .message
        .split_whitespace()
        .find_map(|w| w.parse().ok())
        .unwrap();
    assert!(n > 20, "{n}");

    let r = scan("keras_lambda.keras");
    assert_eq!(r.verdict, Verdict::Dangerous);
    let hit = find(&r, "keras.lambda");
    assert_eq!(hit.location.member.as_deref(), Some("config.json"));
    assert!(hit.message.contains("`scale`"), "{}", hit.message);

    let r = scan("keras_custom.keras");
    assert_eq!(r.verdict, Verdict::Suspicious, "{:?}", r.evidence);
    assert!(
        find(&r, "keras.custom_object")
            .message
            .contains("aigis_test>Gate")
    );

    let r = scan("keras_exec.keras");
    assert_eq!(r.verdict, Verdict::Dangerous);
    assert!(
        find(&r, "keras.dangerous_import")
            .message
            .contains("builtins.exec")
    );

    let r = scan("keras_bad_config.keras");
    assert_eq!(r.verdict, Verdict::Inconclusive);
    find(&r, "keras.config_malformed");
}
