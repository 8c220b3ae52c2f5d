//! `aigis keys recipient`, `aigis data encrypt` and `aigis data decrypt` through the real
//! binary: exit codes, outputs, evidence, and that a failed decryption leaves no file.

use crate::common;

use std::path::PathBuf;

use common::{Run, aigis_in as aigis_env, fails, ok};

/// A project with a recipient key and a 150 KiB file `data.bin` (three chunks).
fn setup() -> (tempfile::TempDir, String, Vec<u8>) {
    let dir = tempfile::tempdir().unwrap();
    ok(dir.path(), &["init"]);
    let recipient = ok(dir.path(), &["keys", "recipient", "new"]).stdout;
    let data: Vec<u8> = (0..150_000u32).map(|i| (i * 7 % 253) as u8).collect();
    std::fs::write(dir.path().join("data.bin"), &data).unwrap();
    (dir, recipient.trim().to_owned(), data)
}

fn json(r: &Run) -> serde_json::Value {
    r.json()
}

#[test]
fn recipient_keys_are_made_once_and_shown() {
    let (dir, recipient, _) = setup();
    let p = dir.path();
    assert!(recipient.starts_with("aigis-recipient-v1:"), "{recipient}");
    let again = ok(p, &["keys", "recipient", "new"]);
    assert_eq!(again.stdout.trim(), recipient);
    assert!(
        again.stderr.contains("kept the existing"),
        "{}",
        again.stderr
    );
    assert_eq!(
        ok(p, &["keys", "recipient", "show"]).stdout.trim(),
        recipient
    );
    let v = json(&ok(p, &["--json", "keys", "recipient", "show"]));
    assert_eq!(v["recipient"], recipient.as_str());
    assert_eq!(
        (v["created"].as_bool(), v["encrypted"].as_bool()),
        (Some(false), Some(false))
    );
    assert_eq!(v["key_id"].as_str().unwrap().len(), 16);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let key = p.join(".aigis/keys/recipient.key");
        let mode = std::fs::metadata(key).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let fresh = tempfile::tempdir().unwrap();
    ok(fresh.path(), &["init"]);
    fails(
        fresh.path(),
        &["keys", "recipient", "show"],
        2,
        "aigis keys recipient new",
    );
}

#[test]
fn encrypt_to_self_then_decrypt_and_the_evidence_names_both_digests() {
    let (dir, _, data) = setup();
    let p = dir.path();
    let enc = json(&ok(p, &["--json", "data", "encrypt", "data.bin"]));
    assert_eq!(enc["output"], "data.bin.aigis-enc");
    assert_eq!(
        (enc["chunks"].as_u64(), enc["plaintext_bytes"].as_u64()),
        (Some(3), Some(150_000))
    );
    let sealed = std::fs::read(p.join("data.bin.aigis-enc")).unwrap();
    assert_eq!(enc["ciphertext_bytes"].as_u64(), Some(sealed.len() as u64));
    assert!(
        !sealed
            .windows(64)
            .any(|w| data.windows(64).next() == Some(w))
    );

    // The evidence: an in-toto statement about the plaintext and the ciphertext.
    let index = enc["index"].as_u64().unwrap().to_string();
    let st = json(&ok(p, &["evidence", "show", &index, "--statement"]));
    assert_eq!(
        st["predicateType"],
        "https://aigis.dev/predicate/encryption/v1"
    );
    assert_eq!(
        st["subject"][0]["digest"]["sha256"],
        enc["plaintext_sha256"]
            .as_str()
            .unwrap()
            .trim_start_matches("sha256:")
    );
    assert_eq!(
        st["subject"][1]["digest"]["sha256"],
        enc["ciphertext_sha256"]
            .as_str()
            .unwrap()
            .trim_start_matches("sha256:")
    );
    assert_eq!(st["predicate"]["recipients"], enc["recipients"]);
    assert_eq!(st["predicate"]["chunk_size"].as_u64(), Some(65_536));
    let found = ok(
        p,
        &[
            "--json",
            "evidence",
            "list",
            "--subject",
            "data.bin.aigis-enc",
        ],
    );
    assert!(found.stdout.contains("encryption/v1"), "{}", found.stdout);

    std::fs::rename(p.join("data.bin"), p.join("original.bin")).unwrap();
    let dec = json(&ok(p, &["--json", "data", "decrypt", "data.bin.aigis-enc"]));
    assert_eq!(dec["output"], "data.bin");
    assert_eq!(dec["opened_by"], enc["recipients"][0]);
    assert_eq!(dec["plaintext_sha256"], enc["plaintext_sha256"]);
    assert_eq!(std::fs::read(p.join("data.bin")).unwrap(), data);
    let r = ok(
        p,
        &["data", "decrypt", "data.bin.aigis-enc", "-o", "again.bin"],
    );
    assert_eq!(r.stdout.trim(), "again.bin");
    assert!(
        r.stderr
            .contains("authenticated 150000 bytes in 3 chunk(s)"),
        "{}",
        r.stderr
    );
}

#[test]
fn a_file_for_another_project_opens_there_and_nowhere_else() {
    let (alice, _, data) = setup();
    let (bob, bob_recipient, _) = setup();
    let (eve, _, _) = setup();
    // Bob's recipient as a string and as a file; Alice keeps a copy for herself.
    std::fs::write(
        alice.path().join("bob.recipient"),
        format!("{bob_recipient}\n"),
    )
    .unwrap();
    let out = alice.path().join("for-bob.enc");
    let out = out.to_str().unwrap();
    let v = json(&ok(
        alice.path(),
        &[
            "--json",
            "data",
            "encrypt",
            "data.bin",
            "--to",
            "bob.recipient",
            "--to-self",
            "-o",
            out,
        ],
    ));
    assert_eq!(v["recipients"].as_array().unwrap().len(), 2);
    ok(
        alice.path(),
        &[
            "data",
            "encrypt",
            "data.bin",
            "--to",
            &bob_recipient,
            "-o",
            "only-bob.enc",
        ],
    );

    let plain = bob.path().join("from-alice.bin");
    ok(
        bob.path(),
        &["data", "decrypt", out, "-o", plain.to_str().unwrap()],
    );
    assert_eq!(std::fs::read(&plain).unwrap(), data);
    ok(alice.path(), &["data", "decrypt", out, "-o", "mine.bin"]);
    fails(
        alice.path(),
        &["data", "decrypt", "only-bob.enc", "-o", "x.bin"],
        2,
        "not encrypted to any of your keys",
    );
    assert!(!alice.path().join("x.bin").exists());

    // Eve is refused (exit 2: not a tampered file, just not hers) and gets no file.
    let r = fails(
        eve.path(),
        &["data", "decrypt", out, "-o", "stolen.bin"],
        2,
        "not encrypted to any of your keys",
    );
    assert!(r.stderr.contains("hint"), "{}", r.stderr);
    assert!(!eve.path().join("stolen.bin").exists());

    // --identity works outside any project.
    let outside = tempfile::tempdir().unwrap();
    let key = bob.path().join(".aigis/keys/recipient.key");
    ok(
        outside.path(),
        &[
            "data",
            "decrypt",
            out,
            "-o",
            "plain.bin",
            "--identity",
            key.to_str().unwrap(),
        ],
    );
    assert_eq!(
        std::fs::read(outside.path().join("plain.bin")).unwrap(),
        data
    );
}

#[test]
fn tampered_files_fail_with_exit_1_and_leave_no_output() {
    let (dir, _, _) = setup();
    let p = dir.path();
    ok(p, &["data", "encrypt", "data.bin", "-o", "good.enc"]);
    let good = std::fs::read(p.join("good.enc")).unwrap();
    let header = 28 + 1176 + 32;
    let chunk = 65_536 + 16;
    let write = |name: &str, bytes: &[u8]| std::fs::write(p.join(name), bytes).unwrap();

    let mut flipped = good.clone();
    flipped[header + 2 * chunk + 10] ^= 1;
    write("flipped.enc", &flipped);
    write("truncated.enc", &good[..header + 2 * chunk]);
    write("cut-mid-chunk.enc", &good[..good.len() - 100]);
    let mut appended = good.clone();
    appended.extend_from_slice(b"extra");
    write("appended.enc", &appended);
    let mut swapped = good[..header].to_vec();
    swapped.extend_from_slice(&good[header + chunk..header + 2 * chunk]);
    swapped.extend_from_slice(&good[header..header + chunk]);
    swapped.extend_from_slice(&good[header + 2 * chunk..]);
    write("swapped.enc", &swapped);
    let mut header_bit = good.clone();
    header_bit[15] ^= 1;
    write("header.enc", &header_bit);

    for (file, needle) in [
        ("flipped.enc", "chunk 2 (at byte"),
        ("truncated.enc", "truncated: the file ends after chunk 1"),
        ("cut-mid-chunk.enc", "chunk 2 (at byte"),
        ("appended.enc", "chunk 2 (at byte"),
        ("swapped.enc", "chunk 0 (at byte"),
        ("header.enc", "the header failed authentication"),
    ] {
        let r = fails(p, &["data", "decrypt", file, "-o", "out.bin"], 1, needle);
        assert!(r.stderr.contains(file), "{}", r.stderr);
        assert!(!p.join("out.bin").exists(), "{file} left an output");
    }
    // An existing output is left as it was.
    write("out.bin", b"before");
    fails(
        p,
        &["data", "decrypt", "flipped.enc", "-o", "out.bin"],
        1,
        "failed authentication",
    );
    assert_eq!(std::fs::read(p.join("out.bin")).unwrap(), b"before");
    // No temporary file is left behind either.
    let leftovers: Vec<PathBuf> = std::fs::read_dir(p)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|f| {
            f.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with(".aigis-tmp")
        })
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    fails(
        p,
        &["data", "decrypt", "data.bin", "-o", "x"],
        1,
        "not an aigis encrypted file",
    );
}

#[test]
fn a_sealed_recipient_key_needs_its_passphrase() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    let pass = [("AIGIS_KEY_PASSPHRASE", "correct horse")];
    assert_eq!(aigis_env(p, &["init"], &pass).code, 0);
    let r = aigis_env(p, &["--json", "keys", "recipient", "new"], &pass);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v = json(&r);
    assert_eq!(
        (v["created"].as_bool(), v["encrypted"].as_bool()),
        (Some(true), Some(true))
    );
    std::fs::write(p.join("f.txt"), b"secret rows").unwrap();
    assert_eq!(aigis_env(p, &["data", "encrypt", "f.txt"], &pass).code, 0);
    fails(
        p,
        &["data", "decrypt", "f.txt.aigis-enc", "-o", "g.txt"],
        2,
        "AIGIS_KEY_PASSPHRASE",
    );
    let wrong = aigis_env(
        p,
        &["data", "decrypt", "f.txt.aigis-enc", "-o", "g.txt"],
        &[("AIGIS_KEY_PASSPHRASE", "nope")],
    );
    assert_eq!(wrong.code, 2);
    assert!(
        wrong
            .stderr
            .contains("wrong passphrase for the recipient key"),
        "{}",
        wrong.stderr
    );
    assert!(!p.join("g.txt").exists());
    let r = aigis_env(
        p,
        &["data", "decrypt", "f.txt.aigis-enc", "-o", "g.txt"],
        &pass,
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(std::fs::read(p.join("g.txt")).unwrap(), b"secret rows");
}

#[test]
fn usage_mistakes_exit_2() {
    let (dir, _, _) = setup();
    let p = dir.path();
    fails(
        p,
        &[
            "data",
            "encrypt",
            "data.bin",
            "--to",
            "age1qyqszqgpqyqszqgpqyqszqgp",
        ],
        2,
        "neither a recipient",
    );
    fails(
        p,
        &[
            "data",
            "encrypt",
            "data.bin",
            "--to",
            "aigis-recipient-v1:AAAA",
        ],
        2,
        "invalid recipient",
    );
    fails(p, &["data", "encrypt", "missing.bin"], 2, "missing.bin");
    fails(
        p,
        &["data", "encrypt", "data.bin", "--chunk-size", "1000"],
        2,
        "power of two",
    );
    fails(
        p,
        &["data", "encrypt", "data.bin", "-o", "data.bin"],
        2,
        "is the input file",
    );
    ok(p, &["data", "encrypt", "data.bin", "-o", "d.enc"]);
    fails(p, &["data", "decrypt", "d.enc"], 2, "--out");
    fails(
        p,
        &[
            "data",
            "decrypt",
            "d.enc",
            "--identity",
            "nope.key",
            "-o",
            "x",
        ],
        2,
        "nope.key",
    );
    for cmd in [
        ["data", "encrypt"],
        ["data", "decrypt"],
        ["keys", "recipient"],
    ] {
        let help = ok(p, &[cmd[0], cmd[1], "--help"]).stdout;
        assert!(help.contains("Example"), "{cmd:?}: {help}");
    }
}

#[test]
fn models_are_sealed_with_the_same_scheme_and_the_evidence_says_model() {
    let (dir, _, _) = setup();
    let p = dir.path();
    let model: Vec<u8> = (0..70_000u32).map(|i| (i * 13 % 251) as u8).collect();
    std::fs::write(p.join("model.onnx"), &model).unwrap();
    let enc = json(&ok(p, &["--json", "model", "encrypt", "model.onnx"]));
    assert_eq!(
        (enc["output"].as_str(), enc["artifact"].as_str()),
        (Some("model.onnx.aigis-enc"), Some("model"))
    );
    let index = enc["index"].as_u64().unwrap().to_string();
    let st = json(&ok(p, &["evidence", "show", &index, "--statement"]));
    assert_eq!(st["predicate"]["artifact"], "model");
    // One format for both: `data decrypt` opens a sealed model and vice versa.
    ok(
        p,
        &["data", "decrypt", "model.onnx.aigis-enc", "-o", "a.onnx"],
    );
    assert_eq!(std::fs::read(p.join("a.onnx")).unwrap(), model);
    ok(p, &["data", "encrypt", "a.onnx", "-o", "a.sealed"]);
    let dec = json(&ok(
        p,
        &["--json", "model", "decrypt", "a.sealed", "-o", "b.onnx"],
    ));
    assert_eq!(dec["plaintext_sha256"], enc["plaintext_sha256"]);

    // A flipped byte: exit 1 and no output.
    let mut sealed = std::fs::read(p.join("model.onnx.aigis-enc")).unwrap();
    let at = sealed.len() - 100;
    sealed[at] ^= 1;
    std::fs::write(p.join("bad.aigis-enc"), &sealed).unwrap();
    fails(
        p,
        &["model", "decrypt", "bad.aigis-enc"],
        1,
        "bad.aigis-enc",
    );
    assert!(!p.join("bad").exists());

    // A model folder is one encryption per file: a clear refusal, nothing written.
    std::fs::create_dir(p.join("folder")).unwrap();
    fails(p, &["model", "encrypt", "folder"], 2, "is a folder");
    assert!(!p.join("folder.aigis-enc").exists());
    // ... and the help says so (it once promised that folders are packed).
    let help = ok(p, &["model", "encrypt", "--help"]).stdout;
    let help = help.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(help.contains("a model folder is refused"), "{help}");
}

#[test]
fn a_rotated_recipient_key_decrypts_old_files_for_the_overlap_and_then_never() {
    let (dir, before, data) = setup();
    let p = dir.path();
    ok(p, &["data", "encrypt", "data.bin", "--out", "old.enc"]);
    let rot = json(&ok(
        p,
        &[
            "--json",
            "keys",
            "recipient",
            "rotate",
            "--overlap-days",
            "7",
        ],
    ));
    assert_ne!(rot["recipient"].as_str().unwrap(), before);
    ok(p, &["data", "encrypt", "data.bin", "--out", "new.enc"]);
    // Both decrypt during the overlap; the new file is for the new key only.
    ok(p, &["data", "decrypt", "old.enc", "--out", "old.bin"]);
    ok(p, &["data", "decrypt", "new.enc", "--out", "new.bin"]);
    assert_eq!(std::fs::read(p.join("old.bin")).unwrap(), data);
    assert_eq!(std::fs::read(p.join("new.bin")).unwrap(), data);
    // The overlap ends: the old secret key is deleted; its files never open again.
    let old_id = rot["old_key_id"].as_str().unwrap();
    let expiry = p.join(format!(".aigis/keys/retired/recipient-{old_id}.json"));
    assert!(expiry.exists(), "{}", expiry.display());
    std::fs::write(&expiry, "{\"expires_unix\": 1}").unwrap();
    let r = aigis_env(p, &["data", "decrypt", "old.enc", "--out", "gone.bin"], &[]);
    assert_ne!(r.code, 0);
    assert!(r.stderr.contains("overlap ended"), "{}", r.stderr);
    assert!(
        !p.join(format!(".aigis/keys/retired/recipient-{old_id}.key"))
            .exists()
    );
    ok(p, &["data", "decrypt", "new.enc", "--out", "new2.bin"]);
}
