//! `aigis model scan` through the real binary on ONNX models and TensorFlow SavedModels
//! (`tests/data/graphs/`, written by `scripts/make_format_corpus.py`).

use crate::common;

use std::path::{Path, PathBuf};

use common::{aigis, ok};

fn graphs(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/data/graphs")
        .join(name)
}

/// (file name relative to `tests/data/graphs`, verdict, rules) of each scanned file.
fn files(v: &serde_json::Value) -> Vec<(String, String, Vec<String>)> {
    let root = graphs("");
    v["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let path = Path::new(f["path"].as_str().unwrap());
            let name = path
                .strip_prefix(&root)
                .unwrap_or(path)
                .to_string_lossy()
                .into_owned();
            let rules = f["findings"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["rule"].as_str().unwrap().to_owned())
                .collect();
            (name, f["verdict"].as_str().unwrap().to_owned(), rules)
        })
        .collect()
}

fn scan(dir: &Path, paths: &[PathBuf], extra: &[&str]) -> common::Run {
    let mut args: Vec<&str> = vec!["--json", "model", "scan"];
    args.extend(extra);
    args.extend(paths.iter().map(|p| p.to_str().unwrap()));
    aigis(dir, &args)
}

#[test]
fn benign_onnx_and_savedmodel_folders_pass_even_at_suspicious() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    ok(p, &["init"]);
    let r = scan(
        p,
        &[
            graphs("logreg_iris.onnx"),
            graphs("onnx_external"),
            graphs("savedmodel_benign"),
        ],
        &["--fail-on", "suspicious"],
    );
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let v = r.json();
    assert_eq!(v["passed"], true);
    let found = files(&v);
    assert_eq!(found.len(), 6, "{found:?}");
    assert!(
        found.iter().all(|(_, verdict, _)| verdict == "safe"),
        "{found:?}"
    );
    let rules_of = |name: &str| {
        found
            .iter()
            .find(|(n, _, _)| n == name)
            .map(|(_, _, rules)| rules.clone())
            .unwrap_or_else(|| panic!("{name} not scanned: {found:?}"))
    };
    assert!(rules_of("logreg_iris.onnx").contains(&"onnx.valid".to_owned()));
    assert!(rules_of("onnx_external/model.onnx").contains(&"onnx.external_data".to_owned()));
    // the weights file is claimed by its model, not left as an unknown file
    assert_eq!(
        rules_of("onnx_external/weights.bin"),
        ["onnx.external_data_file"]
    );
    assert!(rules_of("savedmodel_benign/saved_model.pb").contains(&"savedmodel.valid".to_owned()));
    let json = v.to_string();
    assert!(json.contains("\"external_data\""), "{json}");
}

#[test]
fn malicious_graphs_fail_with_their_rules() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    for (path, verdict, rule) in [
        ("onnx_escape", "dangerous", "onnx.external_data_escape"),
        ("onnx_absolute", "dangerous", "onnx.external_data_escape"),
        ("custom_domain.onnx", "suspicious", "onnx.custom_domain"),
        ("truncated.onnx", "inconclusive", "onnx.malformed"),
        ("savedmodel_pyfunc", "dangerous", "savedmodel.python_op"),
        ("savedmodel_files", "dangerous", "savedmodel.file_write"),
    ] {
        let r = scan(p, &[graphs(path)], &[]);
        let v = r.json();
        let found = files(&v);
        assert_eq!(found.len(), 1, "{path}: {found:?}");
        let (_, got, rules) = &found[0];
        assert_eq!(got, verdict, "{path}: {found:?}");
        assert!(rules.contains(&rule.to_owned()), "{path}: {rules:?}");
        // the default --fail-on is suspicious: every one of them fails
        assert_eq!(r.code, 1, "{path}: {}", r.stderr);
        // at --fail-on inconclusive a suspicious file passes, the rest still fail
        let r = scan(p, &[graphs(path)], &["--fail-on", "inconclusive"]);
        let code = if verdict == "suspicious" { 0 } else { 1 };
        assert_eq!(r.code, code, "{path}: {}", r.stderr);
    }
    let r = scan(p, &[graphs("savedmodel_files")], &[]);
    assert!(
        files(&r.json())[0]
            .2
            .contains(&"savedmodel.file_read".to_owned())
    );

    // --fail-on dangerous lets the suspicious and the inconclusive through, not the rest
    let r = scan(
        p,
        &[graphs("custom_domain.onnx"), graphs("truncated.onnx")],
        &["--fail-on", "dangerous"],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = scan(
        p,
        &[graphs("custom_domain.onnx")],
        &["--fail-on", "suspicious"],
    );
    assert_eq!(r.code, 1);
    let r = scan(p, &[graphs("onnx_escape")], &["--fail-on", "dangerous"]);
    assert_eq!(r.code, 1);
}

#[test]
fn onnx_is_recognised_by_content_under_another_name() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    let renamed = p.join("classifier.bin");
    std::fs::copy(graphs("logreg_iris.onnx"), &renamed).unwrap();
    let r = scan(
        p,
        std::slice::from_ref(&renamed),
        &["--fail-on", "suspicious"],
    );
    assert_eq!(r.code, 0, "{}", r.stdout);
    let v = r.json();
    assert_eq!(v["files"][0]["format"], "onnx", "{v}");

    // a custom-domain model named like a PyTorch file: both findings
    let misnamed = p.join("model.pt");
    std::fs::copy(graphs("custom_domain.onnx"), &misnamed).unwrap();
    let r = scan(p, &[misnamed], &[]);
    let found = files(&r.json());
    let rules = &found[0].2;
    assert!(
        rules.contains(&"onnx.custom_domain".to_owned())
            && rules.contains(&"format.extension_mismatch".to_owned()),
        "{rules:?}"
    );
}

#[test]
fn sarif_names_the_new_rules() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    let r = scan(
        p,
        &[graphs("onnx_escape"), graphs("savedmodel_pyfunc")],
        &["--sarif", "m.sarif"],
    );
    assert_eq!(r.code, 1);
    let sarif = std::fs::read_to_string(p.join("m.sarif")).unwrap();
    assert!(sarif.contains("onnx.external_data_escape"), "{sarif}");
    assert!(sarif.contains("leaves the model's folder"), "{sarif}");
    assert!(sarif.contains("calls back into Python"), "{sarif}");
}

/// A real SavedModel written by `tf.saved_model.save` (TensorFlow 2.21,
/// `scripts/make_savedmodel_corpus.py`): the graph, its fingerprint, the checkpoint index
/// and the data file it names are all safe, so the registry's gate lets it through.
#[test]
fn a_real_savedmodel_scans_all_safe_and_passes_the_gate() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    ok(p, &["init"]);
    let r = scan(p, &[graphs("tf_benign")], &[]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let v = r.json();
    assert_eq!(v["passed"], true);
    let found = files(&v);
    let summary: Vec<(&str, &str, Vec<&str>)> = found
        .iter()
        .map(|(n, verdict, rules)| {
            (
                n.as_str(),
                verdict.as_str(),
                rules.iter().map(String::as_str).collect(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (
                "tf_benign/fingerprint.pb",
                "safe",
                vec!["savedmodel.fingerprint"]
            ),
            ("tf_benign/saved_model.pb", "safe", vec!["savedmodel.valid"]),
            (
                "tf_benign/variables/variables.data-00000-of-00001",
                "safe",
                vec!["checkpoint.data_file"]
            ),
            (
                "tf_benign/variables/variables.index",
                "safe",
                vec!["checkpoint.index"]
            ),
        ]
    );
    let formats: Vec<&str> = v["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["format"].as_str().unwrap())
        .collect();
    assert_eq!(
        formats,
        [
            "tensorflow-fingerprint",
            "tensorflow-savedmodel",
            "tensorflow-checkpoint-data",
            "tensorflow-checkpoint-index"
        ]
    );

    // signed, registered and promoted: the gate reads the scan evidence and allows it
    let model = p.join("savedmodel");
    std::fs::create_dir_all(model.join("variables")).unwrap();
    for name in [
        "saved_model.pb",
        "fingerprint.pb",
        "variables/variables.index",
        "variables/variables.data-00000-of-00001",
    ] {
        std::fs::copy(graphs("tf_benign").join(name), model.join(name)).unwrap();
    }
    ok(p, &["model", "sign", "savedmodel"]);
    ok(
        p,
        &["model", "register", "savedmodel", "--name", "classifier"],
    );
    let up = ok(p, &["--json", "model", "promote", "classifier", "1"]).json();
    assert_eq!(up["passed"], true, "{up}");
}

/// The real malicious SavedModels fail by their graph; a damaged checkpoint index is
/// inconclusive, and SARIF describes its rule.
#[test]
fn real_malicious_savedmodels_and_a_damaged_checkpoint_fail() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    for (folder, rule) in [
        ("tf_write_file", "savedmodel.file_write"),
        ("tf_read_key", "savedmodel.file_read"),
        ("tf_py_function", "savedmodel.python_op"),
    ] {
        let r = scan(p, &[graphs(folder)], &[]);
        assert_eq!(r.code, 1, "{folder}: {}", r.stderr);
        let found = files(&r.json());
        let graph = found
            .iter()
            .find(|(n, ..)| n.ends_with("saved_model.pb"))
            .unwrap();
        assert_eq!(graph.1, "dangerous", "{folder}: {found:?}");
        assert!(graph.2.contains(&rule.to_owned()), "{folder}: {found:?}");
        // the checkpoint is not what fails it
        assert!(
            found
                .iter()
                .filter(|(n, ..)| n.contains("/variables/"))
                .all(|(_, verdict, _)| verdict == "safe"),
            "{folder}: {found:?}"
        );
    }

    let index = p.join("model.ckpt.index");
    let mut bytes = std::fs::read(graphs("tf_ckpt/model.ckpt.index")).unwrap();
    bytes[10] ^= 0x40;
    std::fs::write(&index, &bytes).unwrap();
    std::fs::copy(
        graphs("tf_ckpt/model.ckpt.data-00000-of-00001"),
        p.join("model.ckpt.data-00000-of-00001"),
    )
    .unwrap();
    let r = aigis(
        p,
        &[
            "--json",
            "model",
            "scan",
            "model.ckpt.index",
            "--sarif",
            "c.sarif",
        ],
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    let found = files(&r.json());
    assert_eq!(found[0].1, "inconclusive", "{found:?}");
    assert_eq!(found[0].2, ["checkpoint.malformed"]);
    let sarif = std::fs::read_to_string(p.join("c.sarif")).unwrap();
    assert!(sarif.contains("fails its checksum"), "{sarif}");
    assert!(
        sarif.contains("A TensorFlow checkpoint index that is malformed"),
        "{sarif}"
    );
}
