//! `aigis model sign` / `aigis model verify` through the real binary, and interoperability
//! with OpenSSF model-signing (`python3 -m model_signing`) in both directions.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{aigis, fails, ok};

const SIGN_PREDICATE: &str = "https://aigis.dev/predicate/model-signature/v1";
const VERIFY_PREDICATE: &str = "https://aigis.dev/predicate/model-verification/v1";

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/data/model-signing")
        .join(name)
}

fn key(name: &str) -> String {
    fixture(name).to_str().unwrap().to_owned()
}

/// A project with a small model folder `m/` (a nested file, an empty file, git files).
fn setup() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    ok(p, &["init"]);
    let m = p.join("m");
    std::fs::create_dir_all(m.join("sub")).unwrap();
    std::fs::create_dir_all(m.join(".git")).unwrap();
    std::fs::write(m.join("weights.bin"), vec![3u8; 5000]).unwrap();
    std::fs::write(m.join("sub/config.json"), b"{\"layers\": 2}").unwrap();
    std::fs::write(m.join("empty"), b"").unwrap();
    std::fs::write(m.join(".git/HEAD"), b"ref: refs/heads/main").unwrap();
    dir
}

#[test]
fn sign_then_verify_with_the_project_key_records_evidence() {
    let dir = setup();
    let p = dir.path();
    let v = ok(p, &["--json", "model", "sign", "m"]).json();
    assert_eq!(v["signature"], "m/model.sig");
    assert_eq!(v["files"], 3);
    assert_eq!(v["algorithm"], "ed25519");
    assert_eq!(v["serialization"]["method"], "files");
    assert_eq!(v["evidence"], 0);
    let root = v["root_digest"].as_str().unwrap().to_owned();
    assert!(p.join("m/model.sig").is_file());

    let r = ok(p, &["model", "verify", "m"]);
    assert!(
        r.stdout.contains("signature: ok, ed25519 key"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains(&format!(
            "matches its signature (3 file(s), 5013 bytes, root {root})"
        )),
        "{}",
        r.stdout
    );
    for predicate in [SIGN_PREDICATE, VERIFY_PREDICATE] {
        let found = ok(
            p,
            &["--json", "evidence", "list", "--predicate-type", predicate],
        );
        assert_eq!(found.stdout.lines().count(), 1, "{predicate}");
        assert!(
            found.stdout.contains(root.trim_start_matches("sha256:")),
            "{}",
            found.stdout
        );
    }
}

#[test]
fn verify_names_each_added_removed_and_modified_file() {
    let dir = setup();
    let p = dir.path();
    ok(p, &["model", "sign", "m"]);
    std::fs::write(p.join("m/weights.bin"), vec![4u8; 5000]).unwrap();
    std::fs::remove_file(p.join("m/sub/config.json")).unwrap();
    std::fs::write(p.join("m/sub/backdoor.py"), b"import os").unwrap();
    // Git files are not part of the signature.
    std::fs::write(p.join("m/.git/HEAD"), b"changed").unwrap();
    let r = aigis(p, &["model", "verify", "m"]);
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    for line in [
        "FAILED: `m` differs from its signature (3 change(s))",
        "added:    sub/backdoor.py",
        "removed:  sub/config.json",
        "modified: weights.bin",
    ] {
        assert!(r.stdout.contains(line), "{line}:\n{}", r.stdout);
    }
    let r = aigis(p, &["--json", "model", "verify", "m"]);
    assert_eq!(r.code, 1);
    let v = r.json();
    assert_eq!(v["ok"], false);
    assert_eq!(
        v["report"]["changes"],
        serde_json::json!([
            {"change": "added", "path": "sub/backdoor.py"},
            {"change": "removed", "path": "sub/config.json"},
            {"change": "modified", "path": "weights.bin"},
        ])
    );
    // Unsigned files can be let through on request; the others still fail.
    let r = aigis(
        p,
        &["--json", "model", "verify", "m", "--ignore-unsigned-files"],
    );
    assert_eq!(r.code, 1);
    assert_eq!(r.json()["report"]["changes"].as_array().unwrap().len(), 2);
}

#[test]
fn a_wrong_key_fails_and_a_malformed_signature_is_an_input_error() {
    let dir = setup();
    let p = dir.path();
    ok(
        p,
        &["model", "sign", "m", "--signing-key", &key("p256.pem")],
    );
    fails(
        p,
        &["model", "verify", "m", "--key", &key("p384.pub")],
        1,
        "the model signature does not verify",
    );
    // The project's own key did not sign it either.
    fails(p, &["model", "verify", "m"], 1, "does not verify");
    ok(p, &["model", "verify", "m", "--key", &key("p256.pub")]);

    std::fs::write(p.join("bad.sig"), b"{\"mediaType\": 3}").unwrap();
    fails(
        p,
        &["model", "verify", "m", "--signature", "bad.sig"],
        2,
        "invalid model signature",
    );
    fails(
        p,
        &["model", "verify", "m", "--signature", "missing.sig"],
        2,
        "cannot open the model signature `missing.sig`",
    );
    fails(
        p,
        &["model", "verify", "m", "--key", &key("p256.pem")],
        2,
        "expected a `PUBLIC KEY` PEM block",
    );
    // A signature edited by hand no longer verifies.
    let sig = std::fs::read_to_string(p.join("m/model.sig")).unwrap();
    let mut bundle: serde_json::Value = serde_json::from_str(&sig).unwrap();
    bundle["dsseEnvelope"]["payload"] = "eyJfdHlwZSI6IngifQ==".into();
    std::fs::write(p.join("m/model.sig"), bundle.to_string()).unwrap();
    fails(
        p,
        &["model", "verify", "m", "--key", &key("p256.pub")],
        1,
        "does not verify",
    );
}

#[test]
fn one_file_shards_and_ignores() {
    let dir = setup();
    let p = dir.path();
    // One file: the signature goes beside it.
    let v = ok(p, &["--json", "model", "sign", "m/weights.bin"]).json();
    assert_eq!(v["signature"], "m/weights.bin.sig");
    ok(p, &["model", "verify", "m/weights.bin"]);
    std::fs::remove_file(p.join("m/weights.bin.sig")).unwrap();

    let v = ok(
        p,
        &[
            "--json",
            "model",
            "sign",
            "m",
            "--shard-size",
            "1024",
            "--ignore",
            "m/empty",
        ],
    )
    .json();
    assert_eq!(v["serialization"]["method"], "shards");
    assert_eq!(v["serialization"]["shard_size"], 1024);
    // weights.bin: 5 shards; config.json: 1; `empty` ignored.
    assert_eq!(v["resources"], 6);
    let ignored = v["serialization"]["ignore_paths"].as_array().unwrap();
    assert!(ignored.contains(&"empty".into()) && ignored.contains(&"model.sig".into()));
    std::fs::write(p.join("m/empty"), b"not empty any more").unwrap();
    ok(p, &["model", "verify", "m"]);
    let mut w = std::fs::read(p.join("m/weights.bin")).unwrap();
    w[4000] ^= 1;
    std::fs::write(p.join("m/weights.bin"), w).unwrap();
    let r = aigis(p, &["--json", "model", "verify", "m"]);
    assert_eq!(r.code, 1);
    assert_eq!(
        r.json()["report"]["changes"],
        serde_json::json!([{"change": "modified", "path": "weights.bin"}])
    );

    fails(
        p,
        &[
            "model",
            "sign",
            "m",
            "--method",
            "files",
            "--shard-size",
            "9",
        ],
        2,
        "--shard-size goes with --method shards",
    );
    fails(
        p,
        &["model", "sign", "m", "--ignore", "elsewhere"],
        2,
        "is not inside the model",
    );
}

#[cfg(unix)]
#[test]
fn symlinks_are_refused_unless_allowed() {
    let dir = setup();
    let p = dir.path();
    std::os::unix::fs::symlink(p.join("m/weights.bin"), p.join("m/alias.bin")).unwrap();
    fails(p, &["model", "sign", "m"], 2, "--allow-symlinks");
    ok(p, &["model", "sign", "m", "--allow-symlinks"]);
    ok(p, &["model", "verify", "m"]);
}

#[test]
fn help_has_examples() {
    let dir = tempfile::tempdir().unwrap();
    for cmd in ["sign", "verify"] {
        let r = ok(dir.path(), &["model", cmd, "--help"]);
        assert!(r.stdout.contains("Examples:"), "{}", r.stdout);
        assert!(r.stdout.contains(&format!("aigis model {cmd} models/")));
    }
}

/// Whether OpenSSF model-signing is importable; says why the interop test is skipped
/// when it is not. CI sets `AIGIS_REQUIRE_INTEROP=1`, where a missing package fails.
fn model_signing_available() -> bool {
    let found = Command::new("python3")
        .args(["-c", "import model_signing"])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        found || std::env::var_os("AIGIS_REQUIRE_INTEROP").is_none(),
        "AIGIS_REQUIRE_INTEROP is set but python3 cannot import model_signing"
    );
    if !found {
        eprintln!(
            "SKIPPED: python3 cannot import model_signing (pip install model-signing pyopenssl)"
        );
    }
    found
}

fn python(dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new("python3")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap()
}

fn python_ok(dir: &Path, args: &[&str]) {
    let out = python(dir, args);
    assert!(
        out.status.success(),
        "python3 {args:?}\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn interoperates_with_openssf_model_signing() {
    if !model_signing_available() {
        return;
    }
    let dir = setup();
    let p = dir.path();
    for (private, public) in [("p256.pem", "p256.pub"), ("p384.pem", "p384.pub")] {
        // aigis signs, model-signing verifies; then a tampered file fails there too.
        ok(p, &["model", "sign", "m", "--signing-key", &key(private)]);
        let verify = [
            "-m",
            "model_signing",
            "verify",
            "key",
            "--public_key",
            &key(public),
            "--signature",
            "m/model.sig",
            "m",
        ];
        python_ok(p, &verify);
        std::fs::write(p.join("m/weights.bin"), b"tampered").unwrap();
        assert!(!python(p, &verify).status.success(), "{private}");
        std::fs::write(p.join("m/weights.bin"), vec![3u8; 5000]).unwrap();

        // model-signing signs, aigis verifies and names a tampered file.
        python_ok(
            p,
            &[
                "-m",
                "model_signing",
                "sign",
                "key",
                "--private_key",
                &key(private),
                "--signature",
                "m/model.sig",
                "m",
            ],
        );
        let v = ok(
            p,
            &["--json", "model", "verify", "m", "--key", &key(public)],
        )
        .json();
        assert_eq!(v["ok"], true, "{v}");
        std::fs::write(p.join("m/weights.bin"), b"tampered").unwrap();
        let r = aigis(
            p,
            &["--json", "model", "verify", "m", "--key", &key(public)],
        );
        assert_eq!(r.code, 1, "{}", r.stderr);
        assert_eq!(
            r.json()["report"]["changes"],
            serde_json::json!([{"change": "modified", "path": "weights.bin"}])
        );
        std::fs::write(p.join("m/weights.bin"), vec![3u8; 5000]).unwrap();
    }

    // The shards method: model-signing's CLI always re-hashes by files, so its library
    // verifies aigis's sharded signature.
    ok(
        p,
        &[
            "model",
            "sign",
            "m",
            "--signing-key",
            &key("p384.pem"),
            "--shard-size",
            "1000",
        ],
    );
    let script = format!(
        "import model_signing\n\
         model_signing.verifying.Config().use_elliptic_key_verifier(public_key={:?})\
         .verify('m', 'm/model.sig')",
        key("p384.pub")
    );
    python_ok(p, &["-c", &script]);

    // model-signing 1.1 refuses Ed25519 keys; aigis signs and verifies with them.
    let out = python(
        p,
        &[
            "-m",
            "model_signing",
            "sign",
            "key",
            "--private_key",
            &key("ed25519.pem"),
            "--signature",
            "ed.sig",
            "m",
        ],
    );
    assert!(!out.status.success(), "model-signing now accepts Ed25519");
    ok(
        p,
        &["model", "sign", "m", "--signing-key", &key("ed25519.pem")],
    );
    ok(p, &["model", "verify", "m", "--key", &key("ed25519.pub")]);
}
