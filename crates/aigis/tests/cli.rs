//! End-to-end tests of the `aigis` binary: exit codes, stdout (text and JSON) and stderr.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::{Run, aigis, aigis_in, ok};

struct Project {
    dir: tempfile::TempDir,
}

impl Project {
    fn new() -> Self {
        let p = Self {
            dir: tempfile::tempdir().unwrap(),
        };
        p.ok(&["init", "--name", "test"]);
        p
    }
    fn path(&self) -> &Path {
        self.dir.path()
    }
    fn run(&self, args: &[&str]) -> Run {
        aigis_in(self.path(), args, &[])
    }
    fn ok(&self, args: &[&str]) -> Run {
        let r = self.run(args);
        assert_eq!(
            r.code, 0,
            "aigis {args:?}\nstdout: {}\nstderr: {}",
            r.stdout, r.stderr
        );
        r
    }
    fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let p = self.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }
    fn attest(&self, file: &str, predicate_type: &str) -> u64 {
        self.write("pred.json", br#"{"result":"pass"}"#);
        let r = self.ok(&[
            "attest",
            "--subject",
            file,
            "--predicate-type",
            predicate_type,
            "--predicate",
            "pred.json",
        ]);
        r.stdout.trim().parse().unwrap()
    }
    /// Appends `n` identical pieces of evidence about a file `a`.
    fn attest_copies(&self, n: usize) {
        self.write("a", b"a");
        for _ in 0..n {
            self.attest("a", "https://example.com/p/v1");
        }
    }
    fn vkey(&self) -> String {
        self.ok(&["keys", "show"]).stdout.trim().to_owned()
    }
    fn db(&self) -> rusqlite::Connection {
        rusqlite::Connection::open(self.path().join(".aigis/ledger.db")).unwrap()
    }
    fn json(&self, args: &[&str]) -> serde_json::Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        serde_json::from_str(&self.ok(&all).stdout).unwrap()
    }
}

#[test]
fn init_twice_keeps_key_and_ledger_and_says_so() {
    let p = Project::new();
    let key_before = std::fs::read(p.path().join(".aigis/keys/signing.key")).unwrap();
    p.write("a.bin", b"a");
    p.attest("a.bin", "https://example.com/p/v1");
    let again = p.ok(&["init"]);
    assert!(
        again.stdout.contains("kept    signing key"),
        "{}",
        again.stdout
    );
    assert!(again.stdout.contains("kept    ledger"));
    assert_eq!(
        std::fs::read(p.path().join(".aigis/keys/signing.key")).unwrap(),
        key_before
    );
    assert_eq!(p.json(&["ledger", "status"])["size"], 1);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(p.path().join(".aigis/keys/signing.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let report = p.json(&["init"]);
    assert_eq!(report["signing_key"], "kept");
}

#[test]
fn the_project_is_found_from_below_or_by_flag_or_env() {
    let p = Project::new();
    let sub = p.path().join("a/b");
    std::fs::create_dir_all(&sub).unwrap();
    let from_below = aigis_in(&sub, &["keys", "show"], &[]);
    assert_eq!(from_below.code, 0, "{}", from_below.stderr);
    let elsewhere = tempfile::tempdir().unwrap();
    let none = aigis_in(elsewhere.path(), &["keys", "show"], &[]);
    assert_eq!(none.code, 2);
    assert!(none.stderr.contains("aigis init"), "{}", none.stderr);
    let by_flag = aigis_in(
        elsewhere.path(),
        &["--project", p.path().to_str().unwrap(), "keys", "show"],
        &[],
    );
    assert_eq!(by_flag.stdout, from_below.stdout);
    let by_env = aigis_in(
        elsewhere.path(),
        &["keys", "show"],
        &[("AIGIS_PROJECT", p.path().to_str().unwrap())],
    );
    assert_eq!(by_env.stdout, from_below.stdout);
}

#[test]
fn a_sealed_key_needs_its_passphrase_and_never_shows_it() {
    let dir = tempfile::tempdir().unwrap();
    let pass = [("AIGIS_KEY_PASSPHRASE", "correct horse battery")];
    let init = aigis_in(dir.path(), &["init"], &pass);
    assert_eq!(init.code, 0, "{}", init.stderr);
    assert!(init.stdout.contains("sealed"));
    let keyfile = std::fs::read_to_string(dir.path().join(".aigis/keys/signing.key")).unwrap();
    assert!(keyfile.contains("argon2id+xchacha20poly1305") && !keyfile.contains("secret_key"));
    std::fs::write(dir.path().join("f"), b"x").unwrap();
    std::fs::write(dir.path().join("p.json"), b"{}").unwrap();
    let attest = [
        "attest",
        "--subject",
        "f",
        "--predicate-type",
        "https://example.com/p",
        "--predicate",
        "p.json",
    ];
    let without = aigis_in(dir.path(), &attest, &[]);
    assert_eq!(without.code, 2);
    assert!(
        without.stderr.contains("AIGIS_KEY_PASSPHRASE"),
        "{}",
        without.stderr
    );
    let wrong = aigis_in(dir.path(), &attest, &[("AIGIS_KEY_PASSPHRASE", "wrong")]);
    assert_eq!(wrong.code, 2);
    assert!(wrong.stderr.contains("wrong passphrase") && !wrong.stderr.contains("wrong\""));
    let right = aigis_in(dir.path(), &attest, &pass);
    assert_eq!(right.code, 0, "{}", right.stderr);
    // Reading needs no passphrase.
    assert_eq!(aigis_in(dir.path(), &["ledger", "verify"], &[]).code, 0);
}

#[test]
fn attest_then_list_and_show_with_filters() {
    let p = Project::new();
    p.write("model.onnx", b"model");
    p.write("data.csv", b"data");
    let i0 = p.attest("model.onnx", "https://example.com/scan/v1");
    let i1 = p.attest("data.csv", "https://example.com/scan/v1");
    let i2 = p.attest("model.onnx", "https://example.com/eval/v1");
    assert_eq!((i0, i1, i2), (0, 1, 2));

    let by_file = p.ok(&["--json", "evidence", "list", "--subject", "model.onnx"]);
    let indices: Vec<u64> = by_file
        .stdout
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["index"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(indices, vec![0, 2]);
    let by_type = p.ok(&[
        "--json",
        "evidence",
        "list",
        "--predicate-type",
        "https://example.com/eval/v1",
    ]);
    assert_eq!(by_type.stdout.lines().count(), 1);
    let digest = format!("sha256:{}", sha256_hex(b"data"));
    let by_digest = p.ok(&["--json", "evidence", "list", "--subject", &digest]);
    assert_eq!(by_digest.stdout.lines().count(), 1);
    assert_eq!(
        p.ok(&["--json", "evidence", "list", "--since", "1h"])
            .stdout
            .lines()
            .count(),
        3
    );
    assert_eq!(
        p.ok(&["--json", "evidence", "list", "--until", "2000-01-01"])
            .stdout
            .lines()
            .count(),
        0
    );
    assert_eq!(
        p.ok(&["--json", "evidence", "list", "--limit", "1"])
            .stdout
            .lines()
            .count(),
        1
    );
    let table = p.ok(&["evidence", "list"]);
    assert!(table.stdout.contains("https://example.com/eval/v1"));
    let bad_time = p.run(&["evidence", "list", "--since", "someday"]);
    assert_eq!(bad_time.code, 2);
    assert!(bad_time.stderr.contains("hint"));

    let shown = p.json(&["evidence", "show", "2"]);
    assert_eq!(shown["signature"]["verified"], true);
    assert_eq!(
        shown["statement"]["predicateType"],
        "https://example.com/eval/v1"
    );
    assert_eq!(
        shown["envelope"]["payloadType"],
        "application/vnd.in-toto+json"
    );
    let statement = p.ok(&["evidence", "show", "2", "--statement"]);
    let statement: serde_json::Value = serde_json::from_str(&statement.stdout).unwrap();
    assert_eq!(statement["_type"], "https://in-toto.io/Statement/v1");
    assert_eq!(
        statement["subject"][0]["digest"]["sha256"],
        sha256_hex(b"model")
    );
    let missing = p.run(&["evidence", "show", "9"]);
    assert_eq!(missing.code, 2);
    assert!(missing.stderr.contains("no entry 9"), "{}", missing.stderr);
}

#[test]
fn attest_refuses_bad_input_with_exit_2() {
    let p = Project::new();
    p.write("f", b"x");
    p.write("notjson", b"{nope");
    p.write("array.json", b"[1]");
    p.write("ok.json", b"{}");
    let cases: [(&[&str], &str); 5] = [
        (
            &[
                "attest",
                "--subject",
                "f",
                "--predicate-type",
                "https://e/p",
                "--predicate",
                "notjson",
            ],
            "not JSON",
        ),
        (
            &[
                "attest",
                "--subject",
                "f",
                "--predicate-type",
                "https://e/p",
                "--predicate",
                "array.json",
            ],
            "object",
        ),
        (
            &[
                "attest",
                "--subject",
                "f",
                "--predicate-type",
                "no uri",
                "--predicate",
                "ok.json",
            ],
            "predicateType",
        ),
        (
            &[
                "attest",
                "--subject",
                "missing",
                "--predicate-type",
                "https://e/p",
                "--predicate",
                "ok.json",
            ],
            "missing",
        ),
        (
            &[
                "attest",
                "--subject-digest",
                "x=sha256:12",
                "--predicate-type",
                "https://e/p",
                "--predicate",
                "ok.json",
            ],
            "64 hex",
        ),
    ];
    for (args, needle) in cases {
        let r = p.run(args);
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
        assert!(r.stderr.contains(needle), "{args:?}: {}", r.stderr);
    }
    assert_eq!(
        p.json(&["ledger", "status"])["size"],
        0,
        "nothing half-appended"
    );
    // Predicates may come from stdin.
    let mut child = Command::new(env!("CARGO_BIN_EXE_aigis"))
        .args([
            "attest",
            "--subject-digest",
            &format!("m=sha256:{}", sha256_hex(b"m")),
            "--predicate-type",
            "https://e/p",
            "--predicate",
            "-",
        ])
        .current_dir(p.path())
        .env_remove("AIGIS_PROJECT")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write as _;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"{\"from\":\"stdin\"}")
        .unwrap();
    assert!(child.wait_with_output().unwrap().status.success());
}

#[test]
fn checkpoint_and_inclusion_proof_verify_offline() {
    let p = Project::new();
    // Distinct files: identical statements make byte-identical entries (Ed25519 is
    // deterministic), and a proof of one is then rightly a proof of the other.
    for i in 0..5 {
        p.write(&format!("a{i}"), &[i]);
        p.attest(&format!("a{i}"), "https://example.com/p/v1");
    }
    p.ok(&["ledger", "checkpoint", "--out", "cp.note"]);
    let vkey = p.vkey();
    let v = p.ok(&["ledger", "verify-checkpoint", "cp.note", "--key", &vkey]);
    assert!(v.stdout.contains("at 5 entries"), "{}", v.stdout);

    p.ok(&["ledger", "prove", "3", "--out", "e3.tlog-proof"]);
    let entry = p.ok(&["evidence", "show", "3", "--raw"]).raw;
    p.write("e3.json", &entry);
    p.write("e2.json", &p.ok(&["evidence", "show", "2", "--raw"]).raw);
    let proof = std::fs::read_to_string(p.path().join("e3.tlog-proof")).unwrap();
    assert!(
        proof.starts_with("c2sp.org/tlog-proof@v1\nindex 3\n"),
        "{proof}"
    );

    // Offline: a folder with no project, only the key, proof and entry.
    let auditor = tempfile::tempdir().unwrap();
    for f in ["e3.tlog-proof", "e3.json", "e2.json", "cp.note"] {
        std::fs::copy(p.path().join(f), auditor.path().join(f)).unwrap();
    }
    let check = |entry: &str, key: &str| {
        aigis_in(
            auditor.path(),
            &[
                "ledger",
                "verify-proof",
                "e3.tlog-proof",
                "--entry",
                entry,
                "--key",
                key,
            ],
            &[],
        )
    };
    let ok = check("e3.json", &vkey);
    assert_eq!(ok.code, 0, "{}", ok.stderr);
    assert!(ok.stdout.contains("entry 3 is in"));
    let wrong_entry = check("e2.json", &vkey);
    assert_eq!(wrong_entry.code, 1, "{}", wrong_entry.stderr);
    assert!(wrong_entry.stderr.contains("byte-exact"));
    let other = Project::new();
    let wrong_key = check("e3.json", &other.vkey());
    assert_eq!(wrong_key.code, 1, "{}", wrong_key.stderr);
    let bad_key = check("e3.json", "not-a-key");
    assert_eq!(bad_key.code, 2);

    std::fs::write(
        auditor.path().join("garbage"),
        "c2sp.org/tlog-proof@v1\nindex x\n\n",
    )
    .unwrap();
    let garbage = aigis_in(
        auditor.path(),
        &[
            "ledger",
            "verify-proof",
            "garbage",
            "--entry",
            "e3.json",
            "--key",
            &vkey,
        ],
        &[],
    );
    assert_eq!(garbage.code, 2);
    assert!(
        garbage.stderr.contains("malformed proof"),
        "{}",
        garbage.stderr
    );
    let json = aigis_in(
        auditor.path(),
        &[
            "--json",
            "ledger",
            "verify-proof",
            "e3.tlog-proof",
            "--entry",
            "e3.json",
            "--key",
            &vkey,
        ],
        &[],
    );
    let json: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(
        (
            json["verified"].as_bool(),
            json["index"].as_u64(),
            json["size"].as_u64()
        ),
        (Some(true), Some(3), Some(5))
    );
}

#[test]
fn consistency_proofs_between_checkpoints() {
    let p = Project::new();
    p.attest_copies(3);
    p.ok(&["ledger", "checkpoint", "--out", "old.note"]);
    p.attest_copies(4);
    p.ok(&["ledger", "prove", "--from", "3", "--out", "grew.json"]);
    let vkey = p.vkey();
    let ok = p.run(&[
        "ledger",
        "verify-proof",
        "grew.json",
        "--key",
        &vkey,
        "--old-checkpoint",
        "old.note",
    ]);
    assert_eq!(ok.code, 0, "{}", ok.stderr);
    assert!(
        ok.stdout
            .contains("at 7 entries extends its tree of 3 entries"),
        "{}",
        ok.stdout
    );
    // The embedded old checkpoint works too.
    assert_eq!(
        p.run(&["ledger", "verify-proof", "grew.json", "--key", &vkey])
            .code,
        0
    );

    // A checkpoint of a different history (another project's log, same size) is refused.
    let other = Project::new();
    other.write("a", b"b");
    for _ in 0..3 {
        other.attest("a", "https://example.com/p/v1");
    }
    other.ok(&["ledger", "checkpoint", "--out", "other.note"]);
    std::fs::copy(other.path().join("other.note"), p.path().join("other.note")).unwrap();
    let mixed = p.run(&[
        "ledger",
        "verify-proof",
        "grew.json",
        "--key",
        &vkey,
        "--key",
        &other.vkey(),
        "--old-checkpoint",
        "other.note",
    ]);
    assert_eq!(mixed.code, 1, "{}", mixed.stderr);

    let no_old = p.run(&["ledger", "prove", "--from", "2", "--to", "5"]);
    assert_eq!(no_old.code, 2);
    assert!(
        no_old.stderr.contains("checkpoints exist at sizes"),
        "{}",
        no_old.stderr
    );
}

#[test]
fn verify_checkpoint_accepts_notes_from_other_implementations() {
    let kat: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../tests/data/kat/signed-note.json"
        ))
        .unwrap(),
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    for ex in kat["examples"].as_array().unwrap() {
        let path = dir.path().join("note");
        std::fs::write(&path, ex["note"].as_str().unwrap()).unwrap();
        let r = aigis_in(
            dir.path(),
            &[
                "ledger",
                "verify-checkpoint",
                "note",
                "--key",
                ex["verifier_key"].as_str().unwrap(),
            ],
            &[],
        );
        let want = if ex["valid"].as_bool().unwrap() { 0 } else { 1 };
        assert_eq!(r.code, want, "{}: {} {}", ex["id"], r.stdout, r.stderr);
        if want == 0 {
            assert!(
                r.stdout.contains("signed note (not a tlog checkpoint)"),
                "{}",
                r.stdout
            );
        }
    }
    std::fs::write(dir.path().join("junk"), "no signatures here").unwrap();
    let junk = aigis_in(
        dir.path(),
        &[
            "ledger",
            "verify-checkpoint",
            "junk",
            "--key",
            kat["examples"][0]["verifier_key"].as_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(junk.code, 2, "{}", junk.stderr);
}

#[test]
fn verify_names_the_first_tampered_entry() {
    let p = Project::new();
    p.attest_copies(12);
    p.ok(&["ledger", "checkpoint"]);
    assert_eq!(p.json(&["ledger", "verify", "--signatures"])["ok"], true);

    // Modify one byte of entry 7.
    p.db().execute("UPDATE entries SET body = CAST(replace(CAST(body AS TEXT), 'payload', 'paYload') AS BLOB) WHERE idx = 7", []).unwrap();
    let r = p.run(&["ledger", "verify"]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(r.stdout.contains("first bad index: 7"), "{}", r.stdout);
    let j: serde_json::Value =
        serde_json::from_str(&p.run(&["--json", "ledger", "verify"]).stdout).unwrap();
    assert_eq!(j["ok"], false);
    assert_eq!(j["first_bad_index"], 7);
    assert_eq!(j["problems"][0]["code"], "entry-modified");
}

#[test]
fn verify_catches_deleted_entries_with_an_external_checkpoint() {
    let p = Project::new();
    p.attest_copies(6);
    p.ok(&["ledger", "checkpoint", "--out", "held-by-auditor.note"]);
    // Truncate the log and erase its own checkpoints: only the auditor's copy remains.
    let db = p.db();
    db.execute("DELETE FROM entries WHERE idx >= 4", [])
        .unwrap();
    db.execute("DELETE FROM checkpoints", []).unwrap();
    db.execute("UPDATE meta SET value = 4 WHERE key = 'tree_size'", [])
        .unwrap();
    drop(db);
    assert_eq!(
        p.run(&["ledger", "verify"]).code,
        0,
        "without the auditor's checkpoint the truncation is invisible"
    );
    let vkey = p.vkey();
    let r = p.run(&[
        "ledger",
        "verify",
        "--checkpoint",
        "held-by-auditor.note",
        "--key",
        &vkey,
    ]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(r.stdout.contains("first bad index: 4"), "{}", r.stdout);
    assert!(r.stdout.contains("entries-deleted"), "{}", r.stdout);
}

#[test]
fn a_damaged_database_is_a_clear_error_not_a_panic() {
    let p = Project::new();
    p.write("a", b"a");
    p.attest("a", "https://example.com/p/v1");
    let db = p.path().join(".aigis/ledger.db");
    let _ = std::fs::remove_file(p.path().join(".aigis/ledger.db-wal"));
    let _ = std::fs::remove_file(p.path().join(".aigis/ledger.db-shm"));
    std::fs::write(&db, vec![0x5a; 8192]).unwrap();
    for args in [
        &["ledger", "verify"][..],
        &["evidence", "list"],
        &["ledger", "status"],
    ] {
        let r = p.run(args);
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
        assert!(r.stderr.contains("ledger.db"), "{args:?}: {}", r.stderr);
    }
}

#[test]
fn key_rotation_keeps_old_checkpoints_verifiable() {
    let p = Project::new();
    p.write("a", b"a");
    p.attest("a", "https://example.com/p/v1");
    p.ok(&["ledger", "checkpoint", "--out", "before.note"]);
    let old_vkey = p.vkey();
    let rotated = p.json(&["keys", "rotate"]);
    let new_vkey = p.vkey();
    assert_ne!(old_vkey, new_vkey);
    assert_eq!(rotated["verifier_key"], new_vkey.as_str());
    p.attest("a", "https://example.com/p/v1");
    p.ok(&["ledger", "checkpoint", "--out", "after.note"]);

    let check = |note: &str, key: &str| {
        p.run(&["ledger", "verify-checkpoint", note, "--key", key])
            .code
    };
    assert_eq!(check("before.note", &old_vkey), 0);
    assert_eq!(check("after.note", &new_vkey), 0);
    assert_eq!(check("after.note", &old_vkey), 1);
    let all = p.json(&["ledger", "verify", "--signatures"]);
    assert_eq!(all["ok"], true, "{all}");
    let keys = p.json(&["keys", "show"]);
    assert_eq!(keys["keyring"].as_array().unwrap().len(), 2);
    // The rotation is itself evidence, signed by the old key.
    let rotation = p.json(&[
        "evidence",
        "show",
        &rotated["rotation_evidence_index"].to_string(),
    ]);
    assert_eq!(
        rotation["statement"]["predicateType"],
        "https://aigis.dev/predicate/key-rotation/v1"
    );
    assert_eq!(
        rotation["signature"]["key_id"],
        keys["keyring"][0]["key_id"]
    );
    // Pinning only the new key: the old checkpoint is then untrusted.
    let pinned = p.run(&["ledger", "verify", "--key", &new_vkey]);
    assert_eq!(pinned.code, 1, "{}", pinned.stdout);
}

#[test]
fn demo_runs_and_reports_the_caught_tampering() {
    let dir = tempfile::tempdir().unwrap();
    let r = aigis_in(dir.path(), &["--json", "demo", "--dir", "d"], &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["tamper_caught"], true);
    // The artifact stage: the benign model is promoted, the signed malicious one refused.
    let steps = v["steps"].as_array().unwrap();
    let promotions: Vec<&serde_json::Value> = steps
        .iter()
        .filter(|s| s["step"] == "model promote")
        .collect();
    assert_eq!(promotions.len(), 2, "{steps:?}");
    assert!(
        promotions[1]["text"].as_str().unwrap().starts_with(
            "REFUSED fraud version 2 (scan: `model.joblib` is dangerous: `posix.system`"
        ),
        "{promotions:?}"
    );
    // The gateway: an allowed call, a wrong key, a malformed input, a burst over the limit.
    for (step, needle) in [
        ("serve infer", "200"),
        ("serve auth", "401 unauthenticated"),
        ("serve authorize", "403 forbidden"),
        ("serve validate", "422 invalid_input (inputs[0].shape"),
        (
            "serve detect",
            "flagged by ood (row 0: isolation score 1 is above",
        ),
        ("serve rate limit", "[200, 200, 200, 429]"),
        ("serve audit", "10 signed gateway-call records"),
        (
            "serve extraction",
            "times, then refused (403 extraction_suspected); the ledger says why: probing:",
        ),
        ("serve monitor", "drift verdict stable (0 of 64"),
        ("serve monitor", "dimmed to 60 %: 400 rows"),
        ("serve monitor", "40 refused by the profile"),
        ("federate", "5 rounds of secure aggregation"),
        (
            "federate verify",
            "5 rounds chained from the first model, 15 masked updates signed",
        ),
    ] {
        let s = steps
            .iter()
            .find(|s| s["step"] == step)
            .unwrap_or_else(|| panic!("no step {step}"));
        assert!(s["text"].as_str().unwrap().contains(needle), "{s}");
    }
    // The red team: exact gradients, PGD fools more at the larger eps, recorded.
    let red = &steps.iter().find(|s| s["step"] == "redteam").unwrap()["data"];
    assert_eq!(red["report"]["gradients"], "exact", "{red}");
    let attacks = red["report"]["attacks"].as_array().unwrap();
    assert_eq!(attacks.len(), 4);
    let rate = |i: usize| attacks[i]["success_rate"].as_f64().unwrap();
    assert!(rate(3) > rate(2) && rate(2) > 0.0, "{red}");
    let shown = aigis_in(
        &dir.path().join("d"),
        &["--json", "evidence", "show", &red["index"].to_string()],
        &[],
    );
    assert!(
        shown.stdout.contains("predicate/redteam/v1"),
        "{}",
        shown.stdout
    );
    // The model card of the red-teamed model cites that run, and says what is missing.
    let card = &steps.iter().find(|s| s["step"] == "model card").unwrap()["data"]["card"];
    let cited: Vec<u64> = card["sections"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["statements"].as_array().unwrap().clone())
        .map(|l| l["evidence"].as_u64().unwrap())
        .collect();
    assert!(cited.contains(&red["index"].as_u64().unwrap()), "{card}");
    assert!(card["missing"].to_string().contains("fairness"), "{card}");
    assert!(dir.path().join("d/MODEL_CARD-digits.md").is_file());
    // The planted disparity in the loan decisions: disparate impact below 0.8, recorded.
    let fair = &steps.iter().find(|s| s["step"] == "fairness").unwrap()["data"];
    let impact = fair["disparate_impact"].as_f64().unwrap();
    assert!(impact < 0.8 && impact > 0.4, "{fair}");
    let shown = aigis_in(
        &dir.path().join("d"),
        &["--json", "evidence", "show", &fair["index"].to_string()],
        &[],
    );
    assert!(
        shown.stdout.contains("predicate/fairness/v1"),
        "{}",
        shown.stdout
    );
    // The monitored replay: the dimmed batch drifts, the masked attacks are flagged.
    let monitor = &steps.iter().find(|s| s["step"] == "serve monitor").unwrap()["data"];
    let batches = monitor["batches"].as_array().unwrap();
    assert_eq!(batches.len(), 6, "{monitor}");
    assert_eq!(batches[1]["drift"]["verdict"], "drift", "{monitor}");
    assert!(
        batches[3]["flagged_rows"]["ood"].as_u64().unwrap() > 10,
        "{monitor}"
    );
    let d = dir.path().join("d");
    let list = aigis_in(&d, &["--json", "model", "list"], &[]);
    let list: serde_json::Value = serde_json::from_str(&list.stdout).unwrap();
    let fraud = list["models"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "fraud")
        .unwrap_or_else(|| panic!("{list}"));
    assert_eq!(fraud["stages"]["production"], 1);
    // What the demo's gateways saw, from their evidence alone: `aigis monitor report`.
    let report = aigis_in(
        &d,
        &[
            "--json",
            "monitor",
            "report",
            "--from",
            "1h",
            "-o",
            "report.html",
        ],
        &[],
    );
    assert_eq!(report.code, 0, "{}", report.stderr);
    let r: serde_json::Value = serde_json::from_str(&report.stdout).unwrap();
    let models = r["models"].as_array().unwrap();
    let digits = models.iter().find(|m| m["model"] == "digits").unwrap();
    let verdicts: Vec<&str> = digits["drift"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["verdict"].as_str().unwrap())
        .collect();
    // The clean traffic's window, and the dimmed digits' one.
    assert!(
        verdicts.contains(&"stable") && verdicts.contains(&"drift"),
        "{verdicts:?}"
    );
    let detectors = digits["detectors"].as_array().unwrap();
    for name in ["ood", "squeeze", "profile_range"] {
        assert!(detectors.iter().any(|x| x == name), "{detectors:?}");
    }
    // Every signed call is counted once: under its model, or apart when refused before
    // one was chosen.
    let counted: u64 = models
        .iter()
        .flat_map(|m| m["calls"].as_array().unwrap())
        .map(|b| b["calls"].as_u64().unwrap())
        .sum::<u64>()
        + r["calls_without_model"].as_u64().unwrap();
    assert_eq!(Some(counted), r["evidence"]["gateway-call"].as_u64(), "{r}");
    assert!(r["unreadable"].as_array().unwrap().is_empty());
    let page = std::fs::read_to_string(d.join("report.html")).unwrap();
    assert!(page.contains("<svg") && page.contains("<h2>digits</h2>"));
    let empty = aigis_in(
        &d,
        &["monitor", "report", "--from", "1h", "--to", "2h"],
        &[],
    );
    assert_eq!(empty.code, 2);
    assert!(
        empty.stderr.contains("the range is empty"),
        "{}",
        empty.stderr
    );
    // A model name that left no evidence is named, with those that did.
    let typo = aigis_in(
        &d,
        &["monitor", "report", "--from", "1h", "--model", "digit"],
        &[],
    );
    assert_eq!(typo.code, 2);
    assert!(
        typo.stderr
            .contains("no gateway evidence of the model `digit`")
            && typo.stderr.contains("models with evidence in this range: ")
            && typo.stderr.contains("digits"),
        "{}",
        typo.stderr
    );
    let text = aigis_in(dir.path(), &["demo"], &[]);
    assert_eq!(text.code, 0, "{}", text.stderr);
    assert!(text.stdout.contains("FAILED at index 1"), "{}", text.stdout);
    assert!(
        text.stdout.contains("modified: transactions.csv (chunk 1,"),
        "{}",
        text.stdout
    );
    let not_empty = aigis_in(dir.path(), &["demo", "--dir", "d"], &[]);
    assert_eq!(not_empty.code, 2);
}

#[test]
fn help_has_examples_and_usage_errors_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    for cmd in [
        &["attest", "--help"][..],
        &["ledger", "verify", "--help"],
        &["ledger", "prove", "--help"],
        &["init", "--help"],
    ] {
        let r = aigis_in(dir.path(), cmd, &[]);
        assert_eq!(r.code, 0);
        assert!(r.stdout.contains("Example"), "{cmd:?}: {}", r.stdout);
    }
    assert_eq!(aigis_in(dir.path(), &["frobnicate"], &[]).code, 2);
    assert_eq!(aigis_in(dir.path(), &["ledger", "prove"], &[]).code, 2);
}

fn sha256_hex(bytes: &[u8]) -> String {
    aigis_core::Digest::of(bytes).hex()
}

/// Hints are data: one `hint:` line after the message and its causes, never inside a
/// message; under `--json` the error is a JSON document on stdout with the hint apart.
#[test]
fn an_error_prints_its_hint_once_after_the_causes_and_as_a_json_field() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    let r = aigis(p, &["evidence", "list"]);
    assert_eq!(r.code, 2);
    let lines: Vec<&str> = r.stderr.lines().collect();
    assert!(
        lines[0].starts_with("error: no aigis project in"),
        "{}",
        r.stderr
    );
    let hints: Vec<&&str> = lines.iter().filter(|l| l.contains("hint:")).collect();
    assert_eq!(hints.len(), 1, "{}", r.stderr);
    assert_eq!(
        lines.last().copied(),
        Some("hint: run `aigis init`, or pass --project DIR (or set AIGIS_PROJECT)")
    );
    assert!(r.stdout.is_empty());

    let r = aigis(p, &["--json", "evidence", "list"]);
    assert_eq!(r.code, 2);
    let doc: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let message = doc["error"]["message"].as_str().unwrap();
    assert!(message.starts_with("no aigis project in"), "{doc}");
    assert!(
        !message.contains('\n') && !message.contains("hint"),
        "{doc}"
    );
    assert_eq!(
        doc["error"]["hint"],
        "run `aigis init`, or pass --project DIR (or set AIGIS_PROJECT)"
    );

    // A hint of the command line's own (a bad time bound) in a project.
    ok(p, &["init"]);
    let r = aigis(p, &["--json", "evidence", "list", "--since", "someday"]);
    assert_eq!(r.code, 2);
    let doc: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(doc["error"]["message"], "`someday` is not a time");
    assert!(
        doc["error"]["hint"]
            .as_str()
            .unwrap()
            .starts_with("use RFC 3339"),
        "{doc}"
    );
    // A library error's hint under a cause: the encrypted key without a passphrase is
    // covered by the crypt tests; here, an error with a cause keeps its hint last.
    let r = aigis(p, &["evidence", "list", "--since", "someday"]);
    assert_eq!(
        r.stderr.lines().last(),
        Some("hint: use RFC 3339 (2026-11-01T12:00:00Z), a date (2026-11-01) or an age (90m, 7d)"),
        "{}",
        r.stderr
    );
}

/// `aigis evidence list | head -1`: a reader of stdout that goes away before aigis has
/// written ends aigis quietly (exit 0, nothing on stderr), never with a panic.
#[test]
fn a_closed_stdout_ends_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    ok(p, &["init"]);
    std::fs::write(p.join("pred.json"), br#"{"result":"pass"}"#).unwrap();
    for _ in 0..3 {
        ok(
            p,
            &[
                "attest",
                "--subject",
                "pred.json",
                "--predicate",
                "pred.json",
                "--predicate-type",
                "https://example.com/x/v1",
            ],
        );
    }
    let model = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/data/models/benign_sklearn_logreg.joblib");
    let model = model.to_str().unwrap();
    for args in [
        &["evidence", "list"][..],
        &["--json", "evidence", "list"],
        &["evidence", "show", "0"],
        &["ledger", "status"],
        &["--json", "ledger", "verify"],
        &["keys", "show"],
        &["model", "scan", model],
        &["--json", "model", "scan", model],
    ] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_aigis"))
            .args(args)
            .current_dir(p)
            .env_remove("AIGIS_PROJECT")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // The reader goes away before aigis writes anything.
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert_eq!(out.status.code(), Some(0), "{args:?}: {stderr}");
        assert!(!stderr.contains("error"), "{args:?}: {stderr}");
    }
}
