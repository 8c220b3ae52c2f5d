//! `aigis bom` as a user runs it: a model trained, signed, registered and red-teamed in a
//! project, its CycloneDX 1.6 ML-BOM naming the model's and the dataset's digests, a
//! model card from the evidence, the lockfiles' packages with their hashes, and each
//! ledger entry by the SHA-256 of its bytes; validated by the CycloneDX project's own
//! library (`scripts/validate_bom.py`) where Python has it, always in CI.

use crate::common;

use std::path::Path;
use std::process::Command;

use common::{aigis, ok};
use sha2::Digest as _;

fn sha256(bytes: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(bytes))
}

#[test]
fn a_version_s_ml_bom_names_every_digest_and_validates() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(d, &["init"]);
    common::two_class_table(d, 300, 3);
    ok(d, &["data", "sign", "t.csv"]);
    ok(
        d,
        &[
            "train",
            "t.csv",
            "--label",
            "y",
            "--model",
            "logistic",
            "--dp",
            "--epsilon",
            "3",
            "--delta",
            "1e-5",
            "--bounds",
            "0:1",
            "--classes",
            "0,1",
            "-o",
            "m.onnx",
        ],
    );
    ok(d, &["model", "sign", "m.onnx"]);
    ok(d, &["model", "register", "m.onnx", "--name", "m"]);
    ok(
        d,
        &[
            "redteam", "m@1", "--data", "t.csv", "--label", "y", "--clip", "0,1", "--eps", "0.05",
        ],
    );
    let deps = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/deps");
    let r = aigis(
        d,
        &[
            "bom",
            "m",
            "1",
            "--lockfile",
            deps.join("requirements.txt").to_str().unwrap(),
            "--lockfile",
            deps.join("Cargo.lock").to_str().unwrap(),
            "--lockfile",
            deps.join("package-lock.json").to_str().unwrap(),
            "-o",
            "bom.json",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let bom: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.join("bom.json")).unwrap()).unwrap();
    assert_eq!(bom["bomFormat"], "CycloneDX");
    assert_eq!(bom["specVersion"], "1.6");
    let model = &bom["metadata"]["component"];
    assert_eq!(model["type"], "machine-learning-model");
    assert_eq!(
        model["hashes"][0]["content"],
        sha256(&std::fs::read(d.join("m.onnx")).unwrap())
    );
    // The dataset, by the table's digest, is the model card's dataset.
    let table_hash = sha256(&std::fs::read(d.join("t.csv")).unwrap());
    let components = bom["components"].as_array().unwrap();
    let data = components.iter().find(|c| c["type"] == "data").unwrap();
    assert_eq!(data["hashes"][0]["content"], table_hash);
    let card = &model["modelCard"];
    assert_eq!(
        card["modelParameters"]["datasets"][0]["ref"],
        data["bom-ref"]
    );
    assert_eq!(
        card["modelParameters"]["architectureFamily"],
        "logistic regression"
    );
    let metrics: Vec<String> = card["quantitativeAnalysis"]["performanceMetrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["type"].as_str().unwrap().to_owned())
        .collect();
    for m in [
        "accuracy",
        "differential privacy epsilon",
        "robust accuracy",
    ] {
        assert!(metrics.iter().any(|x| x == m), "{m}: {metrics:?}");
    }
    // Each attestation reference's hash is the ledger entry's bytes'.
    let refs = model["externalReferences"].as_array().unwrap();
    let mut checked = 0;
    for e in refs.iter().filter(|e| e.get("hashes").is_some()) {
        let index = e["url"].as_str().unwrap().rsplit(':').next().unwrap();
        let raw = ok(d, &["evidence", "show", index, "--raw"]).raw;
        assert_eq!(e["hashes"][0]["content"], sha256(&raw), "{e}");
        checked += 1;
    }
    assert!(checked >= 2, "{refs:?}");
    // The lockfiles' packages, by purl, with their hashes.
    let purl = |p: &str| {
        components
            .iter()
            .find(|c| c["purl"] == p)
            .unwrap_or_else(|| panic!("no {p}"))
    };
    assert_eq!(
        purl("pkg:pypi/requests@2.19.1")["hashes"][0]["content"],
        "63b52e3c866428a224f97cab011de738c36aec0185aa91cfacd418b5d58911d1"
    );
    assert_eq!(
        purl("pkg:cargo/smallvec@1.6.0")["hashes"][0]["alg"],
        "SHA-256"
    );
    assert!(purl("pkg:npm/%40babel/core@7.0.0-rc.1")["hashes"].is_null());

    // The CycloneDX project's own validator.
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/validate_bom.py");
    let have = Command::new("python3")
        .args(["-c", "import cyclonedx.validation.json"])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        have || std::env::var_os("AIGIS_REQUIRE_INTEROP").is_none(),
        "AIGIS_REQUIRE_INTEROP is set but python3 cannot import cyclonedx"
    );
    if have {
        let out = Command::new("python3")
            .arg(&script)
            .arg(d.join("bom.json"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    } else {
        eprintln!(
            "SKIPPED: python3 cannot import cyclonedx (pip install cyclonedx-python-lib jsonschema)"
        );
    }

    // No such version: exit 2.
    let r = aigis(d, &["bom", "m", "7"]);
    assert_eq!(r.code, 2);
}
