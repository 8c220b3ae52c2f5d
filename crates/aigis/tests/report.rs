//! `aigis report compliance|verify|attest|frameworks` as a user and an auditor run them:
//! a report over a real project, its signed file checked offline with the verifier key
//! alone, a statement meeting an organizational control, and a tampered file refused.

use crate::common;

use std::path::Path;

use common::{aigis, fails, ok};

fn json(dir: &Path, args: &[&str]) -> serde_json::Value {
    let mut all = vec!["--json"];
    all.extend(args);
    serde_json::from_str(&ok(dir, &all).stdout).unwrap()
}

fn control<'a>(report: &'a serde_json::Value, id: &str) -> &'a serde_json::Value {
    report["controls"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("no control {id}"))
}

#[test]
fn a_report_is_signed_recorded_and_verified_offline() {
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
    // The dependencies: uv.lock's requests 2.31.0 is past every record's fix.
    let deps = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/deps");
    ok(
        d,
        &[
            "deps",
            "scan",
            deps.join("uv.lock").to_str().unwrap(),
            "--osv",
            deps.join("osv").to_str().unwrap(),
        ],
    );
    let vkey = ok(d, &["keys", "show"]).stdout;
    std::fs::write(d.join("project.vkey"), &vkey).unwrap();

    let frameworks = json(d, &["report", "frameworks"]);
    assert_eq!(frameworks["frameworks"].as_array().unwrap().len(), 7);

    // OWASP ML06 (supply chain): the scans and the signature are in the ledger.
    let r = json(
        d,
        &[
            "report",
            "compliance",
            "--framework",
            "owasp-ml-top10",
            "-o",
            "owasp.json",
            "--html",
            "owasp.html",
        ],
    );
    assert_eq!(
        control(&r, "ML06")["status"],
        "met",
        "{:#}",
        control(&r, "ML06")
    );
    let ml01 = control(&r, "ML01");
    assert_eq!(ml01["status"], "missing");
    assert!(
        ml01["requirements"][0]["fix"]
            .as_str()
            .unwrap()
            .contains("aigis redteam"),
        "{ml01}"
    );
    let cited = control(&r, "ML06")["requirements"][0]["evidence"].clone();
    let shown = json(d, &["evidence", "show", &cited.to_string()]);
    assert!(shown.to_string().contains("model-scan"), "{shown}");
    let html = std::fs::read_to_string(d.join("owasp.html")).unwrap();
    assert!(html.contains("<svg") && html.contains("ML06"));
    // The report is evidence itself.
    let recorded = json(
        d,
        &[
            "evidence",
            "show",
            &r["evidence"].to_string(),
            "--statement",
        ],
    );
    assert_eq!(recorded["predicate"]["framework"], "owasp-ml-top10");
    assert_eq!(recorded["predicate"]["met"], r["summary"]["met"]);

    // Offline, with the key alone (a string or a file), away from the project.
    let away = tempfile::tempdir().unwrap();
    std::fs::copy(d.join("owasp.json"), away.path().join("owasp.json")).unwrap();
    let v = ok(
        away.path(),
        &["report", "verify", "owasp.json", "--key", vkey.trim()],
    );
    assert!(
        v.stdout.starts_with("ok: owasp-ml-top10 report"),
        "{}",
        v.stdout
    );
    let v = json(
        d,
        &[
            "report",
            "verify",
            "owasp.json",
            "--key",
            "project.vkey",
            "--ledger",
        ],
    );
    assert_eq!(v["ok"], true, "{v:#}");
    assert_eq!(v["ledger_checked"], true);

    // Another project's key: refused, exit 1.
    let other = tempfile::tempdir().unwrap();
    ok(other.path(), &["init"]);
    let stranger = ok(other.path(), &["keys", "show"]).stdout;
    let r = aigis(
        d,
        &["report", "verify", "owasp.json", "--key", stranger.trim()],
    );
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(
        r.stdout.contains("not signed by a key given"),
        "{}",
        r.stdout
    );

    // One changed byte of the payload: the signature no longer verifies.
    let text = std::fs::read_to_string(d.join("owasp.json")).unwrap();
    let mut envelope: serde_json::Value = serde_json::from_str(&text).unwrap();
    let payload = envelope["payload"].as_str().unwrap().to_owned();
    let flipped = if payload.ends_with('A') { "B" } else { "A" };
    envelope["payload"] =
        (payload[..payload.len() - 4].to_owned() + flipped + &payload[payload.len() - 3..]).into();
    std::fs::write(d.join("bad.json"), envelope.to_string()).unwrap();
    let r = aigis(
        d,
        &["report", "verify", "bad.json", "--key", "project.vkey"],
    );
    assert!(r.code == 1 || r.code == 2, "{} {}", r.stdout, r.stderr);
    assert_ne!(r.code, 0);
    // Not a report: exit 2, named.
    std::fs::write(d.join("junk.json"), "{\"a\": 1}").unwrap();
    fails(
        d,
        &["report", "verify", "junk.json", "--key", "project.vkey"],
        2,
        "junk.json",
    );

    // A person's statement meets GOVERN 1.1.
    let before = json(
        d,
        &[
            "report",
            "compliance",
            "--framework",
            "nist-ai-rmf",
            "-o",
            "n.json",
        ],
    );
    assert_eq!(control(&before, "GOVERN 1.1")["status"], "missing");
    std::fs::write(d.join("register.md"), "# Legal register\n").unwrap();
    ok(
        d,
        &[
            "report",
            "attest",
            "--framework",
            "nist-ai-rmf",
            "--control",
            "GOVERN 1.1",
            "--statement",
            "Legal keeps the register of AI rules",
            "--document",
            "register.md",
        ],
    );
    let after = json(
        d,
        &[
            "report",
            "compliance",
            "--framework",
            "nist-ai-rmf",
            "-o",
            "n.json",
        ],
    );
    assert_eq!(control(&after, "GOVERN 1.1")["status"], "met");
    ok(
        d,
        &[
            "report",
            "verify",
            "n.json",
            "--key",
            "project.vkey",
            "--ledger",
        ],
    );

    // Bad input, by name.
    fails(
        d,
        &["report", "compliance", "--framework", "sox"],
        2,
        "`sox` is not a framework",
    );
    std::fs::write(d.join("m.toml"), "id = 1").unwrap();
    fails(
        d,
        &["report", "compliance", "--mapping", "m.toml"],
        2,
        "m.toml",
    );
    fails(
        d,
        &[
            "report",
            "attest",
            "--framework",
            "x",
            "--control",
            "y",
            "--statement",
            " ",
        ],
        2,
        "--statement is empty",
    );
}
