//! `aigis data sign` / `aigis data verify` through the real binary.

use crate::common;

use common::{aigis, ok};

/// A project with a dataset folder: one 40 KiB file and one small one.
fn setup() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    ok(dir.path(), &["init"]);
    std::fs::create_dir_all(dir.path().join("data/sub")).unwrap();
    let big: Vec<u8> = (0..40_960u32).map(|i| (i * 31 % 251) as u8).collect();
    std::fs::write(dir.path().join("data/big.bin"), big).unwrap();
    std::fs::write(
        dir.path().join("data/sub/labels.csv"),
        b"id,label\n1,0\n2,1\n",
    )
    .unwrap();
    dir
}

#[test]
fn sign_then_verify_passes_and_records_evidence() {
    let dir = setup();
    let p = dir.path();
    let signed = ok(
        p,
        &["--json", "data", "sign", "data", "--chunk-size", "8192"],
    );
    let v: serde_json::Value = serde_json::from_str(&signed.stdout).unwrap();
    assert_eq!(
        (v["files"].as_u64(), v["index"].as_u64()),
        (Some(2), Some(0))
    );
    assert!(p.join("data.aigis-manifest.json").is_file());
    let r = ok(p, &["data", "verify", "data"]);
    assert!(
        r.stdout.contains("matches its manifest (2 files"),
        "{}",
        r.stdout
    );
    // The evidence is found by any file of the dataset.
    let found = ok(
        p,
        &[
            "--json",
            "evidence",
            "list",
            "--subject",
            "data/sub/labels.csv",
        ],
    );
    assert_eq!(found.stdout.lines().count(), 1);
    assert!(found.stdout.contains("data-manifest"));
    // After a checkpoint, verify proves the manifest's inclusion against it.
    ok(p, &["ledger", "checkpoint"]);
    let vkey = ok(p, &["keys", "show"]).stdout.trim().to_owned();
    let r = ok(p, &["--json", "data", "verify", "data", "--key", &vkey]);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["ok"], true);
    assert_eq!(v["ledger"]["checkpoint_size"], 1);
}

#[test]
fn verify_names_the_changed_file_and_chunk() {
    let dir = setup();
    let p = dir.path();
    ok(p, &["data", "sign", "data", "--chunk-size", "8192"]);
    let mut big = std::fs::read(p.join("data/big.bin")).unwrap();
    big[3 * 8192 + 5] ^= 0xff;
    std::fs::write(p.join("data/big.bin"), big).unwrap();
    std::fs::remove_file(p.join("data/sub/labels.csv")).unwrap();
    std::fs::write(p.join("data/extra.csv"), b"x").unwrap();
    let r = aigis(p, &["data", "verify", "data"]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    // The words of `model verify` too: added, removed, modified.
    assert!(
        r.stdout
            .contains("modified: big.bin (chunk 3, first change within bytes 24576..)"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("removed:  sub/labels.csv"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("added:    extra.csv"), "{}", r.stdout);
    let j: serde_json::Value =
        serde_json::from_str(&aigis(p, &["--json", "data", "verify", "data"]).stdout).unwrap();
    assert_eq!(j["ok"], false);
    assert_eq!(j["changes"][0]["change"], "modified");
    assert_eq!(j["changes"][0]["path"], "big.bin");
    assert_eq!(j["changes"][0]["chunks"], serde_json::json!([3]));
    assert_eq!(
        j["changes"][1],
        serde_json::json!({"change": "added", "path": "extra.csv"})
    );
    assert_eq!(
        j["changes"][2],
        serde_json::json!({"change": "removed", "path": "sub/labels.csv"})
    );
}

#[test]
fn a_forged_or_foreign_manifest_fails() {
    let dir = setup();
    let p = dir.path();
    ok(p, &["data", "sign", "data"]);
    let path = p.join("data.aigis-manifest.json");
    let original = std::fs::read(&path).unwrap();

    // Someone re-hashes changed data and edits the manifest: the signature breaks.
    let mut env: serde_json::Value = serde_json::from_slice(&original).unwrap();
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut statement: serde_json::Value =
        serde_json::from_slice(&b64.decode(env["payload"].as_str().unwrap()).unwrap()).unwrap();
    statement["predicate"]["files"][0]["size"] = 1.into();
    env["payload"] = b64.encode(serde_json::to_vec(&statement).unwrap()).into();
    std::fs::write(&path, serde_json::to_vec(&env).unwrap()).unwrap();
    let r = aigis(p, &["data", "verify", "data"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("signature"), "{}", r.stderr);

    // A manifest signed by another project: its key is not trusted here, and it is not in
    // this ledger.
    let other = tempfile::tempdir().unwrap();
    ok(other.path(), &["init"]);
    std::fs::write(&path, &original).unwrap();
    let other_key = ok(other.path(), &["keys", "show"]).stdout.trim().to_owned();
    let foreign = aigis(p, &["data", "verify", "data", "--key", &other_key]);
    assert_eq!(foreign.code, 1);

    // Garbage is a usage error, not a failed check.
    std::fs::write(&path, b"{not json").unwrap();
    let garbage = aigis(p, &["data", "verify", "data"]);
    assert_eq!(garbage.code, 2, "{}", garbage.stderr);
    assert!(
        garbage.stderr.contains("not a signed manifest"),
        "{}",
        garbage.stderr
    );
}

#[test]
fn a_manifest_missing_from_the_ledger_fails() {
    let dir = setup();
    let p = dir.path();
    ok(p, &["data", "sign", "data"]);
    let db = rusqlite::Connection::open(p.join(".aigis/ledger.db")).unwrap();
    // A valid, signed manifest that the ledger never recorded (its row replaced by another
    // statement's bytes, as if the append had been dropped).
    db.execute("UPDATE entries SET body = X'7B7D' WHERE idx = 0", [])
        .unwrap();
    drop(db);
    let r = aigis(p, &["data", "verify", "data"]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(
        r.stdout.contains("not in the project's ledger"),
        "{}",
        r.stdout
    );
}

#[test]
fn signing_the_project_folder_leaves_out_the_ledger_and_the_manifest() {
    let dir = setup();
    let p = dir.path();
    ok(
        p,
        &["data", "sign", ".", "--out", "here.aigis-manifest.json"],
    );
    // The ledger changed with the append and `here.aigis-manifest.json` is new: neither counts.
    let r = ok(
        p,
        &[
            "data",
            "verify",
            ".",
            "--manifest",
            "here.aigis-manifest.json",
        ],
    );
    assert!(
        r.stdout.contains("matches its manifest (3 files"),
        "{}",
        r.stdout
    );
}

#[test]
fn bad_paths_and_options_are_usage_errors() {
    let dir = setup();
    let p = dir.path();
    let r = aigis(p, &["data", "sign", "nope"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("nope"), "{}", r.stderr);
    let r = aigis(p, &["data", "sign", "data", "--chunk-size", "1000"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("power of two"), "{}", r.stderr);
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink("/etc/hostname", p.join("data/link")).unwrap();
        let r = aigis(p, &["data", "sign", "data"]);
        assert_eq!(r.code, 2);
        assert!(r.stderr.contains("symbolic links"), "{}", r.stderr);
    }
    let status = aigis(p, &["--json", "ledger", "status"]).stdout;
    assert!(
        status.contains("\"size\": 0"),
        "nothing half-appended: {status}"
    );
}
