//! `aigis model register|list|show|promote|rollback` through the real binary: the store,
//! the versions, the promotion gate and the evidence of every change.

mod common;

use std::path::{Path, PathBuf};

use common::{Run, aigis, fails, ok};

fn corpus(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/data/models")
        .join(name)
}

/// A project with a benign model file, a malicious one and a benign model folder.
fn setup() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    ok(p, &["init"]);
    std::fs::copy(
        corpus("benign_sklearn_logreg.joblib"),
        p.join("good.joblib"),
    )
    .unwrap();
    std::fs::copy(corpus("mal_os_system_p2.pkl"), p.join("bad.pkl")).unwrap();
    std::fs::create_dir(p.join("folder")).unwrap();
    std::fs::copy(
        corpus("benign_sklearn_pipeline.joblib"),
        p.join("folder/model.joblib"),
    )
    .unwrap();
    std::fs::write(p.join("folder/config.json"), b"{\"classes\": 10}\n").unwrap();
    dir
}

fn json(r: &Run) -> serde_json::Value {
    r.json()
}

fn statement(p: &Path, index: &serde_json::Value) -> serde_json::Value {
    let i = index.as_u64().unwrap().to_string();
    json(&ok(p, &["evidence", "show", &i, "--statement"]))
}

#[test]
fn versions_are_numbered_stored_by_content_and_recorded() {
    let dir = setup();
    let p = dir.path();
    let one = json(&ok(
        p,
        &[
            "--json",
            "model",
            "register",
            "good.joblib",
            "--name",
            "fraud",
        ],
    ));
    assert_eq!(one["version"], 1);
    assert_eq!(one["scan"]["verdict"], "safe");
    assert!(one["signature"].is_null());
    // A single file's version digest is the file's own SHA-256, and it is stored under it.
    let digest = one["digest"].as_str().unwrap().to_owned();
    let hex = digest.trim_start_matches("sha256:");
    let blob = p
        .join(".aigis/registry/blobs/sha256")
        .join(&hex[..2])
        .join(hex);
    assert_eq!(
        std::fs::read(&blob).unwrap(),
        std::fs::read(p.join("good.joblib")).unwrap()
    );

    let folder = json(&ok(
        p,
        &["--json", "model", "register", "folder", "--name", "fraud"],
    ));
    assert_eq!(folder["version"], 2);
    let files: Vec<&str> = folder["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert_eq!(files, ["config.json", "model.joblib"]);
    // The folder digest is the SHA-256 of its sorted `sha256sum` listing.
    let listing: String = folder["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            format!(
                "{}  {}\n",
                f["sha256"].as_str().unwrap().trim_start_matches("sha256:"),
                f["path"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        folder["digest"].as_str().unwrap(),
        aigis_core::Digest::of(listing.as_bytes()).to_string()
    );

    // The registration is evidence about `fraud@2`, pointing at the scan evidence.
    let st = statement(p, &folder["evidence"]);
    assert_eq!(
        st["predicateType"],
        "https://aigis.dev/predicate/model-registration/v1"
    );
    assert_eq!(st["subject"][0]["name"], "fraud@2");
    assert_eq!(st["predicate"]["scan_evidence"], folder["scan"]["evidence"]);
    let scan = statement(p, &folder["scan"]["evidence"]);
    assert_eq!(
        scan["predicateType"],
        "https://aigis.dev/predicate/model-scan/v1"
    );

    let list = json(&ok(p, &["--json", "model", "list"]));
    assert_eq!(list["models"][0]["name"], "fraud");
    assert_eq!(list["models"][0]["latest"], 2);
    let show = json(&ok(p, &["--json", "model", "show", "fraud"]));
    assert_eq!(show["versions"].as_array().unwrap().len(), 2);
    let v1 = json(&ok(p, &["--json", "model", "show", "fraud", "1"]));
    assert_eq!(v1["digest"], one["digest"]);
    let text = ok(p, &["model", "show", "fraud", "2"]).stdout;
    assert!(text.contains("model.joblib"), "{text}");

    fails(p, &["model", "show", "fraud", "9"], 2, "has no version 9");
    fails(p, &["model", "show", "nope"], 2, "no model named `nope`");
    fails(
        p,
        &["model", "register", "good.joblib", "--name", "../up"],
        2,
        "not a valid model name",
    );
    fails(
        p,
        &["model", "register", "missing.onnx", "--name", "x"],
        2,
        "missing.onnx",
    );
}

#[test]
fn the_gate_refuses_unsigned_and_dangerous_versions_and_records_why() {
    let dir = setup();
    let p = dir.path();
    ok(p, &["model", "register", "good.joblib", "--name", "fraud"]);
    ok(p, &["model", "register", "bad.pkl", "--name", "fraud"]);

    let r = aigis(p, &["--json", "model", "promote", "fraud", "1"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let v = json(&r);
    assert_eq!(v["passed"], false);
    let failed: Vec<&str> = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["passed"] == false)
        .map(|c| c["check"].as_str().unwrap())
        .collect();
    assert_eq!(failed, ["signature"]);

    let r = aigis(p, &["model", "promote", "fraud", "2", "--stage", "staging"]);
    assert_eq!(r.code, 1);
    assert!(r.stdout.contains("`bad.pkl` is dangerous"), "{}", r.stdout);
    assert!(r.stdout.contains("REFUSED"), "{}", r.stdout);

    // Both refusals are evidence; no stage moved.
    let found = ok(
        p,
        &[
            "--json",
            "evidence",
            "list",
            "--predicate-type",
            "https://aigis.dev/predicate/model-promotion/v1",
        ],
    );
    assert_eq!(
        found.stdout.matches("model-promotion/v1").count(),
        2,
        "{}",
        found.stdout
    );
    let list = json(&ok(p, &["--json", "model", "list"]));
    assert!(list["models"][0]["stages"].as_object().unwrap().is_empty());
    fails(
        p,
        &["model", "rollback", "fraud"],
        2,
        "no version of fraud is at stage `production`",
    );
    fails(
        p,
        &["model", "promote", "fraud", "1", "--stage", "a/b"],
        2,
        "not a valid stage name",
    );
}
