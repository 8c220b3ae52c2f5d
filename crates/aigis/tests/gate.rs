//! `aigis gate` and the policy `aigis model promote` decides by, as a user runs them: the
//! evidence of every stage recorded by the real commands (data sign and scan, train with
//! DP, model sign and register, redteam), read as the version's attributes by Cedar
//! policies, a refusal explained, separation of duties across a key rotation, and bad
//! policies refused at load.

use crate::common;

use std::path::Path;

use common::{aigis, ok};

fn json(dir: &Path, args: &[&str]) -> serde_json::Value {
    let mut all = vec!["--json"];
    all.extend(args);
    serde_json::from_str(&ok(dir, &all).stdout).unwrap()
}

/// `--json` output of a command that may exit 1.
fn answer(dir: &Path, args: &[&str]) -> serde_json::Value {
    let mut all = vec!["--json"];
    all.extend(args);
    let r = aigis(dir, &all);
    assert!(r.code == 0 || r.code == 1, "{args:?}: {}", r.stderr);
    serde_json::from_str(&r.stdout).unwrap()
}

fn policy<'a>(d: &'a serde_json::Value, id: &str) -> &'a serde_json::Value {
    d["policies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["policy"] == id)
        .unwrap_or_else(|| panic!("no policy `{id}` in {d}"))
}

const STRICT: &str = r#"
@id("dp") @message("ε at most 2.5 at δ ≤ 1e-6")
forbid (principal, action, resource) unless {
  resource has training && resource.training has dp &&
  resource.training.dp.epsilon.lessThanOrEqual(decimal("2.5")) &&
  resource.training.dp.delta_log10.lessThanOrEqual(decimal("-6.0"))
};
@id("signed-data")
forbid (principal, action, resource) unless {
  resource has training && resource.training has data_manifest &&
  resource.training.data_manifest.verified
};
@id("data-scanned")
forbid (principal, action, resource) unless {
  resource has training && resource.training has data_scan &&
  resource.training.data_scan.pii_findings == 0 &&
  resource.training.data_scan has poisoning_flagged
};
@id("redteam") @message("a fresh PGD red team with robust accuracy of at least 0.5")
forbid (principal, action, resource) unless {
  resource has redteam && resource.redteam.age_days <= 30 &&
  resource.redteam.attacks.contains("pgd") && resource.redteam has robust_accuracy &&
  resource.redteam.robust_accuracy.greaterThanOrEqual(decimal("0.5"))
};
@id("signature")
forbid (principal, action, resource) unless { resource has signature && resource.signature.verified };
@id("four-eyes") @message("the key that trained may not promote")
forbid (principal, action == Aigis::Action::"promote", resource)
when { resource has training && resource.training.trained_by == principal };
@id("allow") permit (principal, action, resource);
"#;

#[test]
fn the_gate_decides_from_every_stage_s_evidence_and_explains_a_refusal() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(d, &["init"]);
    common::two_class_table(d, 400, 7);
    std::fs::write(d.join("strict.cedar"), STRICT).unwrap();

    // A model trained by aigis, nothing else yet: the refusal names what is missing, and
    // the command that records it, with the version's own name in it.
    ok(
        d,
        &[
            "train", "t.csv", "--label", "y", "--model", "logistic", "-o", "m.onnx",
        ],
    );
    ok(d, &["model", "register", "m.onnx", "--name", "m"]);
    let r = aigis(d, &["gate", "m", "1", "--policy", "strict.cedar"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stdout.contains("FAIL dp"), "{}", r.stdout);
    assert!(r.stdout.contains("missing `training.dp`"), "{}", r.stdout);
    assert!(r.stdout.contains("--dp --epsilon"), "{}", r.stdout);
    assert!(
        r.stdout.contains("aigis redteam m@1 --data TABLE"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("REFUSED: m version 1"), "{}", r.stdout);
    let entries = || {
        ok(d, &["--json", "evidence", "list"])
            .stdout
            .lines()
            .count()
    };

    // Every stage's evidence, recorded by the real commands.
    ok(d, &["data", "sign", "t.csv"]);
    ok(d, &["data", "scan", "t.csv", "--label", "y"]);
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
            "2",
            "--delta",
            "1e-6",
            "--bounds",
            "0:1",
            "--classes",
            "0,1",
            "-o",
            "dp.onnx",
        ],
    );
    ok(d, &["model", "sign", "dp.onnx"]);
    ok(d, &["model", "register", "dp.onnx", "--name", "m"]);
    ok(
        d,
        &[
            "redteam",
            "m@2",
            "--data",
            "t.csv",
            "--label",
            "y",
            "--clip",
            "0,1",
            "--attacks",
            "fgsm,pgd",
            "--eps",
            "0.05",
        ],
    );
    let before = entries();
    let g = answer(d, &["gate", "m", "2", "--policy", "strict.cedar"]);
    assert_eq!(entries(), before, "asking records nothing");
    for id in ["dp", "signed-data", "data-scanned", "redteam", "signature"] {
        assert_eq!(policy(&g, id)["passed"], true, "{id}: {g:#}");
    }
    let facts = |name: &str| {
        g["facts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["attribute"] == name)
            .unwrap()
            .clone()
    };
    let training = facts("training")["value"].clone();
    let eps = training["dp"]["epsilon"].as_f64().unwrap();
    assert!(eps <= 2.0 + 1e-4 && eps > 1.0, "{training}");
    assert_eq!(training["dp"]["delta_log10"], -6.0);
    assert_eq!(training["data_manifest"]["verified"], true);
    assert_eq!(training["data_scan"]["pii_findings"], 0);
    let redteam = facts("redteam")["value"].clone();
    assert!(
        redteam["attacks"]
            .as_array()
            .unwrap()
            .contains(&serde_json::json!("pgd")),
        "{redteam}"
    );
    // The key that trained asks: four eyes refuse, and nothing else does.
    assert_eq!(g["passed"], false);
    assert_eq!(policy(&g, "four-eyes")["passed"], false);

    // The project's policy decides `model promote`; the refusal is evidence with the
    // policy's digest.
    let config = std::fs::read_to_string(d.join("aigis.toml")).unwrap();
    std::fs::write(
        d.join("aigis.toml"),
        format!("{config}\n[model.gate]\npolicy = \"strict.cedar\"\n"),
    )
    .unwrap();
    let r = aigis(d, &["--json", "model", "promote", "m", "2"]);
    assert_eq!(r.code, 1);
    let refused: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(
        refused["policy"]["source"].as_str().unwrap(),
        d.join("strict.cedar").display().to_string()
    );
    let shown = json(
        d,
        &[
            "evidence",
            "show",
            &refused["evidence"].to_string(),
            "--statement",
        ],
    );
    let predicate = &shown["predicate"];
    assert_eq!(predicate["decision"], "refused");
    assert_eq!(predicate["policy"]["digest"], refused["policy"]["digest"]);
    assert!(
        predicate["read"]
            .as_array()
            .unwrap()
            .contains(&policy(&refused, "redteam")["evidence"][0]),
        "{predicate}"
    );

    // After a rotation, another key promotes what the old one trained.
    ok(d, &["keys", "rotate"]);
    let up = json(d, &["model", "promote", "m", "2"]);
    assert_eq!(up["passed"], true, "{up:#}");
    assert_eq!(policy(&up, "four-eyes")["passed"], true);

    // The red team's recorded time, moved in the ledger file (it is not in the Merkle
    // tree): its time signature no longer matches, so the gate does not count it, and
    // `evidence show` says so.
    let index = policy(&g, "redteam")["evidence"][0].as_u64().unwrap();
    let shown = json(d, &["evidence", "show", &index.to_string()]);
    assert_eq!(shown["time"]["signed"], true, "{shown:#}");
    let db = rusqlite::Connection::open(d.join(".aigis/ledger.db")).unwrap();
    db.execute(
        "UPDATE entries SET recorded_at_ms = recorded_at_ms + 1 WHERE idx = ?1",
        [index as i64],
    )
    .unwrap();
    let g = answer(d, &["gate", "m", "2", "--policy", "strict.cedar"]);
    assert_eq!(policy(&g, "redteam")["passed"], false, "{g:#}");
    assert!(
        g.to_string().contains("does not match its time signature"),
        "{g:#}"
    );
    let shown = ok(d, &["evidence", "show", &index.to_string()]).stdout;
    assert!(shown.contains("NOT VERIFIED"), "{shown}");
}

#[test]
fn policies_are_printed_and_bad_ones_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let schema = ok(d, &["gate", "--schema"]).stdout;
    assert!(schema.contains("entity ModelVersion"), "{schema}");
    let default = ok(d, &["gate", "--default-policy"]).stdout;
    std::fs::write(d.join("default.cedar"), &default).unwrap();
    ok(d, &["init"]);
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/data/models/benign_sklearn_logreg.joblib"),
        d.join("m.joblib"),
    )
    .unwrap();
    ok(d, &["model", "sign", "m.joblib"]);
    ok(d, &["model", "register", "m.joblib", "--name", "m"]);
    // The printed default is the built-in one: same verdict, same digest.
    let built_in = json(d, &["gate", "m", "1"]);
    let file = json(d, &["gate", "m", "1", "--policy", "default.cedar"]);
    assert_eq!(built_in["passed"], true, "{built_in:#}");
    assert_eq!(file["passed"], true);
    assert_eq!(built_in["policy"]["digest"], file["policy"]["digest"]);

    // Every example in the repository loads against the schema.
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/gate");
    let mut n = 0;
    for e in std::fs::read_dir(&examples).unwrap() {
        let path = e.unwrap().path();
        let r = aigis(
            d,
            &[
                "--json",
                "gate",
                "m",
                "1",
                "--policy",
                path.to_str().unwrap(),
            ],
        );
        assert!(
            r.code == 0 || r.code == 1,
            "{}: {}",
            path.display(),
            r.stderr
        );
        n += 1;
    }
    assert!(n >= 2);

    // A typo in an attribute, and an optional one read without `has`: refused at load,
    // naming the file, exit 2.
    for (text, says) in [
        (
            "forbid (principal, action, resource) unless { resource.sgnature.verified };\npermit (principal, action, resource);",
            "does not validate",
        ),
        (
            "forbid (principal, action, resource) unless { resource.redteam.passed };\npermit (principal, action, resource);",
            "does not validate",
        ),
        ("forbid (principal, action, resource);", "has no `permit`"),
    ] {
        std::fs::write(d.join("bad.cedar"), text).unwrap();
        let r = aigis(d, &["gate", "m", "1", "--policy", "bad.cedar"]);
        assert_eq!(r.code, 2, "{}", r.stderr);
        assert!(r.stderr.contains("bad.cedar"), "{}", r.stderr);
        assert!(r.stderr.contains(says), "{}", r.stderr);
    }
    let r = aigis(d, &["gate", "m"]);
    assert_eq!(r.code, 2);
    let r = aigis(d, &["gate", "m", "9"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
}

#[test]
fn a_known_bad_digest_is_dangerous_to_the_scanner_and_refused_by_the_gate() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(d, &["init"]);
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/data/models/benign_sklearn_logreg.joblib"),
        d.join("m.joblib"),
    )
    .unwrap();
    ok(d, &["model", "sign", "m.joblib"]);
    ok(d, &["model", "register", "m.joblib", "--name", "m"]);
    // Registered clean; then a feed learns of the file.
    let digest = {
        use sha2::Digest as _;
        hex::encode(sha2::Sha256::digest(
            std::fs::read(d.join("m.joblib")).unwrap(),
        ))
    };
    std::fs::write(
        d.join("feed.txt"),
        format!("# hub advisories\nsha256:{digest} HUB-2026-17 backdoored logistic regression\n"),
    )
    .unwrap();
    let r = aigis(
        d,
        &[
            "--json",
            "model",
            "scan",
            "m.joblib",
            "--known-bad",
            "feed.txt",
        ],
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stdout.contains("known_bad.digest") && r.stdout.contains("HUB-2026-17"),
        "{}",
        r.stdout
    );

    let config = std::fs::read_to_string(d.join("aigis.toml")).unwrap();
    std::fs::write(
        d.join("aigis.toml"),
        config.replacen("[model]", "[model]\nknown_bad = [\"feed.txt\"]", 1)
            + if config.contains("[model]") {
                ""
            } else {
                "\n[model]\nknown_bad = [\"feed.txt\"]\n"
            },
    )
    .unwrap();
    let g = answer(d, &["gate", "m", "1"]);
    assert_eq!(g["passed"], false, "{g:#}");
    assert_eq!(policy(&g, "known-bad")["passed"], false);
    let fact = g["facts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["attribute"] == "known_bad")
        .unwrap();
    assert!(
        fact["detail"].as_str().unwrap().contains("HUB-2026-17"),
        "{fact}"
    );
    // Registration scans with the project's feeds too.
    let r = json(d, &["model", "register", "m.joblib", "--name", "m2"]);
    assert_eq!(r["scan"]["verdict"], "dangerous", "{r:#}");

    // A feed that does not read refuses the command, naming the line.
    std::fs::write(d.join("feed.txt"), "sha256:abc nowhere\n").unwrap();
    let r = aigis(d, &["gate", "m", "1"]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("feed.txt") && r.stderr.contains("line 1"),
        "{}",
        r.stderr
    );
}
