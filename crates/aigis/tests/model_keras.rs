//! `aigis model scan --json` through the real binary on `tests/data/containers/` (made by
//! `scripts/make_container_corpus.py`): Keras configs in `.keras` zips and legacy `.h5`
//! files, zips inside zips, legacy `torch.save` files.

use crate::common;

use std::path::{Path, PathBuf};

use common::aigis;

fn corpus(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/data/containers")
        .join(name)
}

/// Scans the files in one run; the JSON report and the exit code.
fn scan(names: &[&str]) -> (serde_json::Value, i32) {
    let dir = tempfile::tempdir().unwrap();
    let paths: Vec<PathBuf> = names.iter().map(|n| corpus(n)).collect();
    let mut args = vec!["--json", "model", "scan", "--fail-on", "suspicious"];
    args.extend(paths.iter().map(|p| p.to_str().unwrap()));
    let r = aigis(dir.path(), &args);
    (r.json(), r.code)
}

/// (file name, format, verdict) of every file.
fn verdicts(v: &serde_json::Value) -> Vec<(String, String, String)> {
    v["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let name = Path::new(f["path"].as_str().unwrap())
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned();
            let s = |k: &str| f[k].as_str().unwrap().to_owned();
            (name, s("format"), s("verdict"))
        })
        .collect()
}

/// The first finding of `rule` in file `i`.
fn evidence<'a>(v: &'a serde_json::Value, i: usize, rule: &str) -> &'a serde_json::Value {
    v["files"][i]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["rule"] == rule)
        .unwrap_or_else(|| panic!("no {rule} in {}", v["files"][i]))
}

fn owned(rows: &[(&str, &str, &str)]) -> Vec<(String, String, String)> {
    rows.iter()
        .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
        .collect()
}

#[test]
fn clean_keras_and_h5_files_pass() {
    let files = [
        "keras_dense.keras",
        "keras_functional.keras",
        "keras3_dense.h5",
        "keras2_tfop_math.h5",
        "weights_only.weights.h5",
        "nested_benign.zip",
        "legacy_torch.pt",
    ];
    let (v, code) = scan(&files);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["passed"], true);
    assert_eq!(
        verdicts(&v),
        owned(&[
            ("keras_dense.keras", "keras", "safe"),
            ("keras_functional.keras", "keras", "safe"),
            ("keras3_dense.h5", "hdf5", "safe"),
            ("keras2_tfop_math.h5", "hdf5", "safe"),
            ("weights_only.weights.h5", "hdf5", "safe"),
            ("nested_benign.zip", "zip", "safe"),
            ("legacy_torch.pt", "pickle", "safe"),
        ])
    );
    assert_eq!(
        evidence(&v, 0, "keras.config")["location"]["member"],
        "config.json"
    );
    assert_eq!(
        evidence(&v, 0, "hdf5.valid")["location"]["member"],
        "model.weights.h5"
    );
    assert!(
        evidence(&v, 6, "pickle.legacy_torch")["message"]
            .as_str()
            .unwrap()
            .contains("2 raw storages")
    );
}

#[test]
fn keras_code_is_found_and_named() {
    let files = [
        "keras_lambda.keras",
        "keras_custom.keras",
        "keras_exec.keras",
        "keras3_lambda_latest.h5",
        "keras2_lambda.h5",
        "keras2_tfop_write_file.h5",
    ];
    let (v, code) = scan(&files);
    assert_eq!(code, 1, "{v}");
    assert_eq!(
        verdicts(&v),
        owned(&[
            ("keras_lambda.keras", "keras", "dangerous"),
            ("keras_custom.keras", "keras", "suspicious"),
            ("keras_exec.keras", "keras", "dangerous"),
            ("keras3_lambda_latest.h5", "hdf5", "dangerous"),
            ("keras2_lambda.h5", "hdf5", "dangerous"),
            ("keras2_tfop_write_file.h5", "hdf5", "dangerous"),
        ])
    );
    let lambda = evidence(&v, 0, "keras.lambda");
    assert_eq!(lambda["verdict"], "dangerous");
    assert_eq!(lambda["location"]["member"], "config.json");
    assert!(lambda["message"].as_str().unwrap().contains("`scale`"));
    assert!(
        evidence(&v, 1, "keras.custom_object")["message"]
            .as_str()
            .unwrap()
            .contains("aigis_test>Gate")
    );
    assert!(
        evidence(&v, 2, "keras.dangerous_import")["message"]
            .as_str()
            .unwrap()
            .contains("builtins.exec")
    );
    // in an .h5 the place is the attribute message's offset
    for i in [3, 4] {
        let hit = evidence(&v, i, "keras.lambda");
        assert!(hit["location"]["offset"].is_u64(), "{hit}");
        assert!(hit["location"].get("member").is_none(), "{hit}");
    }
    assert!(
        evidence(&v, 5, "keras.tf_op")["message"]
            .as_str()
            .unwrap()
            .contains("tf.io.write_file")
    );
}

#[test]
fn unreadable_structures_are_inconclusive() {
    let files = [
        "keras_bad_config.keras",
        "dense_attributes.h5",
        "truncated_weights.h5",
        "truncated_config.h5",
        "nested_deep.zip",
        "legacy_torch_overrun.pt",
    ];
    let (v, code) = scan(&files);
    assert_eq!(code, 1, "{v}");
    assert!(
        verdicts(&v)
            .iter()
            .all(|(_, _, verdict)| verdict == "inconclusive"),
        "{v}"
    );
    evidence(&v, 0, "keras.config_malformed");
    evidence(&v, 1, "hdf5.malformed");
    evidence(&v, 2, "hdf5.truncated");
    evidence(&v, 3, "hdf5.malformed");
    assert_eq!(
        evidence(&v, 4, "zip.depth")["location"]["member"],
        "l1.zip!l2.zip!l3.zip"
    );
    evidence(&v, 5, "pickle.legacy_storage");
}

#[test]
fn pickles_inside_nested_zips_and_after_legacy_storages() {
    let (v, code) = scan(&[
        "nested_evil.zip",
        "nested_npz.zip",
        "legacy_torch_hidden.pt",
    ]);
    assert_eq!(code, 1, "{v}");
    assert!(
        verdicts(&v)
            .iter()
            .all(|(_, _, verdict)| verdict == "dangerous"),
        "{v}"
    );
    assert_eq!(
        evidence(&v, 0, "pickle.global.dangerous")["location"]["member"],
        "models/inner.zip!data.pkl"
    );
    assert_eq!(
        evidence(&v, 1, "pickle.global.dangerous")["location"]["member"],
        "arrays.npz!a.npy"
    );
    assert_eq!(
        evidence(&v, 2, "pickle.legacy_leftover")["verdict"],
        "suspicious"
    );
    assert!(evidence(&v, 2, "pickle.global.dangerous")["location"]["offset"].as_u64() > Some(489));
}
