//! `aigis model register|list|show|promote|rollback` through the real binary: the store,
//! the versions, the promotion gate and the evidence of every change.

use crate::common;

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

fn stage(p: &Path, name: &str, stage: &str) -> serde_json::Value {
    let list = json(&ok(p, &["--json", "model", "list"]));
    list["models"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == name)
        .map(|m| m["stages"][stage].clone())
        .unwrap_or_default()
}

#[test]
fn signed_clean_versions_are_promoted_and_rolled_back_through_the_gate() {
    let dir = setup();
    let p = dir.path();
    ok(p, &["model", "sign", "good.joblib"]);
    ok(p, &["model", "sign", "folder"]);
    ok(p, &["model", "sign", "bad.pkl"]);
    let v1 = json(&ok(
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
    assert_eq!(v1["signature"]["verified"], true);
    // The bundle inside the folder is not part of the model.
    let v2 = json(&ok(
        p,
        &["--json", "model", "register", "folder", "--name", "fraud"],
    ));
    assert_eq!(v2["files"].as_array().unwrap().len(), 2);
    ok(p, &["model", "register", "bad.pkl", "--name", "fraud"]);

    let up = json(&ok(p, &["--json", "model", "promote", "fraud", "1"]));
    assert_eq!(up["passed"], true);
    assert_eq!(stage(p, "fraud", "production"), 1);
    let st = statement(p, &up["evidence"]);
    assert_eq!(
        st["predicateType"],
        "https://aigis.dev/predicate/model-promotion/v1"
    );
    assert_eq!(st["predicate"]["decision"], "allowed");
    assert_eq!(st["subject"][0]["name"], "fraud@1");
    fails(
        p,
        &["model", "promote", "fraud", "1"],
        2,
        "already at stage `production`",
    );

    let up2 = ok(p, &["model", "promote", "fraud", "2"]);
    assert!(up2.stdout.contains("replacing version 1"), "{}", up2.stdout);
    // Signed but dangerous: refused, production keeps version 2.
    let r = aigis(p, &["model", "promote", "fraud", "3"]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert_eq!(stage(p, "fraud", "production"), 2);
    // Another stage is independent.
    ok(p, &["model", "promote", "fraud", "2", "--stage", "staging"]);

    let back = json(&ok(p, &["--json", "model", "rollback", "fraud"]));
    assert_eq!(
        (back["version"].as_u64(), back["from"].as_u64()),
        (Some(1), Some(2))
    );
    assert_eq!(stage(p, "fraud", "production"), 1);
    assert_eq!(stage(p, "fraud", "staging"), 2);
    fails(
        p,
        &["model", "rollback", "fraud"],
        2,
        "nothing to roll back to",
    );
    fails(
        p,
        &[
            "model", "rollback", "fraud", "--stage", "staging", "--to", "3",
        ],
        2,
        "never held version 3",
    );
}

#[test]
fn the_gate_re_checks_the_stored_bytes_and_the_signature_over_them() {
    let dir = setup();
    let p = dir.path();
    ok(p, &["model", "sign", "folder"]);
    // Changed after signing: registered (with the failure recorded), never promoted.
    std::fs::write(p.join("folder/config.json"), b"{\"classes\": 11}\n").unwrap();
    let v = json(&ok(
        p,
        &["--json", "model", "register", "folder", "--name", "m"],
    ));
    assert_eq!(v["signature"]["verified"], false);
    let r = aigis(p, &["--json", "model", "promote", "m", "1"]);
    assert_eq!(r.code, 1);
    let checks = json(&r)["checks"].clone();
    assert_eq!(checks[2]["check"], "signature");
    assert!(
        checks[2]["detail"]
            .as_str()
            .unwrap()
            .contains("config.json"),
        "{checks}"
    );

    // Signed and clean, then its stored bytes are edited inside the registry.
    ok(p, &["model", "sign", "good.joblib"]);
    let v = json(&ok(
        p,
        &["--json", "model", "register", "good.joblib", "--name", "g"],
    ));
    let hex = v["digest"]
        .as_str()
        .unwrap()
        .trim_start_matches("sha256:")
        .to_owned();
    let blob = p
        .join(".aigis/registry/blobs/sha256")
        .join(&hex[..2])
        .join(&hex);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&blob, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    let mut bytes = std::fs::read(&blob).unwrap();
    bytes[10] ^= 1;
    std::fs::write(&blob, bytes).unwrap();
    let r = aigis(p, &["--json", "model", "promote", "g", "1"]);
    assert_eq!(r.code, 1);
    let v = json(&r);
    let failed: Vec<&str> = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["passed"] == false)
        .map(|c| c["check"].as_str().unwrap())
        .collect();
    assert_eq!(failed, ["stored-bytes", "signature"]);
    assert!(stage(p, "g", "production").is_null());
}

#[test]
fn the_gate_reads_the_evidence_not_the_record() {
    let dir = setup();
    let p = dir.path();
    ok(p, &["model", "sign", "bad.pkl"]);
    ok(p, &["model", "register", "bad.pkl", "--name", "m"]);
    // Someone edits the record to say the scan was clean: the gate still reads the
    // dangerous verdict from the signed evidence.
    let path = p.join(".aigis/registry/models/m/versions/1.json");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.replace("\"dangerous\"", "\"safe\"")).unwrap();
    let r = aigis(p, &["model", "promote", "m", "1"]);
    assert_eq!(r.code, 1);
    assert!(r.stdout.contains("`bad.pkl` is dangerous"), "{}", r.stdout);
    // Pointing the record at other evidence (the signature's) does not pass either.
    let mut rec: serde_json::Value = serde_json::from_str(&text).unwrap();
    rec["scan"]["index"] = rec["signature"]["index"].clone();
    std::fs::write(&path, rec.to_string()).unwrap();
    let r = aigis(p, &["model", "promote", "m", "1"]);
    assert_eq!(r.code, 1);
    assert!(r.stdout.contains("not a model scan"), "{}", r.stdout);
}

#[test]
fn a_scan_predicate_that_does_not_read_as_one_is_a_refusal() {
    let dir = setup();
    let p = dir.path();
    ok(p, &["model", "sign", "good.joblib"]);
    ok(p, &["model", "register", "good.joblib", "--name", "m"]);
    let path = p.join(".aigis/registry/models/m/versions/1.json");
    let mut rec: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    // Signed by the project key and of the model-scan type, about the stored file, but
    // each predicate breaks the type in its own way: an unknown verdict, a missing
    // field, a file list that is not a list, an extra field.
    let scan = statement(p, &rec["scan"]["index"]);
    let good = scan["predicate"].clone();
    let mut broken = Vec::new();
    let mut v = good.clone();
    v["files"][0]["verdict"] = "fine".into();
    broken.push(v);
    let mut v = good.clone();
    v["files"][0].as_object_mut().unwrap().remove("findings");
    broken.push(v);
    let mut v = good.clone();
    v["files"] = serde_json::json!({"path": "good.joblib", "verdict": "safe"});
    broken.push(v);
    let mut v = good.clone();
    v["files"][0]["verdict_override"] = "safe".into();
    broken.push(v);
    let digest = format!(
        "good.joblib=sha256:{}",
        scan["subject"][0]["digest"]["sha256"].as_str().unwrap()
    );
    for predicate in broken {
        std::fs::write(p.join("forged.json"), predicate.to_string()).unwrap();
        let r = ok(
            p,
            &[
                "--json",
                "attest",
                "--subject-digest",
                &digest,
                "--predicate-type",
                "https://aigis.dev/predicate/model-scan/v1",
                "--predicate",
                "forged.json",
            ],
        );
        let index = json(&r)["index"].as_u64().unwrap();
        rec["scan"]["index"] = index.into();
        std::fs::write(&path, rec.to_string()).unwrap();
        let r = aigis(p, &["--json", "model", "promote", "m", "1"]);
        assert_eq!(r.code, 1, "{}", r.stdout);
        let v = json(&r);
        let scan_check = v["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["check"] == "scan")
            .unwrap()
            .clone();
        assert_eq!(scan_check["passed"], false, "{scan_check}");
        let detail = scan_check["detail"].as_str().unwrap();
        assert!(
            detail.contains(&format!("evidence #{index} cannot be read"))
                && detail.contains("model-scan"),
            "{detail}"
        );
    }
    // The genuine scan still passes its check.
    std::fs::write(p.join("genuine.json"), good.to_string()).unwrap();
    let r = ok(
        p,
        &[
            "--json",
            "attest",
            "--subject-digest",
            &digest,
            "--predicate-type",
            "https://aigis.dev/predicate/model-scan/v1",
            "--predicate",
            "genuine.json",
        ],
    );
    rec["scan"]["index"] = json(&r)["index"].clone();
    std::fs::write(&path, rec.to_string()).unwrap();
    let v = json(&aigis(p, &["--json", "model", "promote", "m", "1"]));
    let scan_check = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == "scan")
        .unwrap()
        .clone();
    assert_eq!(scan_check["passed"], true, "{scan_check}");
}

/// A folder is scanned as one model, from the stored copy: an ONNX model's external
/// data file belongs to it (safe), and the scan evidence names the source files with
/// the digests they were stored under.
#[test]
fn a_model_folder_is_scanned_as_one_model_from_the_store() {
    let dir = setup();
    let p = dir.path();
    let graphs =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/graphs/onnx_external");
    std::fs::create_dir(p.join("onnx")).unwrap();
    for f in ["model.onnx", "weights.bin"] {
        std::fs::copy(graphs.join(f), p.join("onnx").join(f)).unwrap();
    }
    let reg = json(&ok(
        p,
        &["--json", "model", "register", "onnx", "--name", "iris"],
    ));
    assert_eq!(reg["scan"]["verdict"], "safe", "{reg}");
    let scan = statement(p, &reg["scan"]["evidence"]);
    let mut subjects: Vec<(String, String)> = scan["subject"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap().to_owned(),
                s["digest"]["sha256"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    subjects.sort();
    let mut files: Vec<(String, String)> = reg["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                format!("onnx/{}", f["path"].as_str().unwrap()),
                f["sha256"]
                    .as_str()
                    .unwrap()
                    .trim_start_matches("sha256:")
                    .to_owned(),
            )
        })
        .collect();
    files.sort();
    assert_eq!(subjects, files);
}

fn signing_fixture(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/data/model-signing")
        .join(name)
        .to_str()
        .unwrap()
        .to_owned()
}

#[test]
fn a_release_key_outside_the_project_is_trusted_with_also_trust() {
    let dir = setup();
    let p = dir.path();
    let (private, public) = (signing_fixture("p256.pem"), signing_fixture("p256.pub"));
    ok(
        p,
        &["model", "sign", "good.joblib", "--signing-key", &private],
    );
    // The project's keys do not know the release key.
    let v1 = json(&ok(
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
    assert_eq!(v1["signature"]["verified"], false, "{v1}");
    let r = aigis(p, &["model", "promote", "fraud", "1"]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    // Trusted beside the project's keys, it verifies at registration and at the gate.
    let v2 = json(&ok(
        p,
        &[
            "--json",
            "model",
            "register",
            "good.joblib",
            "--name",
            "fraud",
            "--also-trust",
            &public,
        ],
    ));
    assert_eq!(v2["signature"]["verified"], true, "{v2}");
    let up = json(&ok(
        p,
        &[
            "--json",
            "model",
            "promote",
            "fraud",
            "2",
            "--also-trust",
            &public,
        ],
    ));
    assert_eq!(up["passed"], true, "{up}");
    // `--key` means "trust only these keys" elsewhere; here it is not an option.
    fails(
        p,
        &["model", "promote", "fraud", "2", "--key", &public],
        2,
        "--key",
    );
}
