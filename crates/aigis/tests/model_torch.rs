//! `aigis model scan`, `sign`, `register` and `promote` through the real binary on files
//! written by PyTorch itself (`tests/data/torch/`, by `scripts/make_torch_corpus.py`).

use crate::common;

use std::path::{Path, PathBuf};

use common::{aigis, ok};

fn torch(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/data/torch")
        .join(name)
}

#[test]
fn the_pytorch_corpus_scans_as_expected() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    ok(p, &["init"]);
    let r = aigis(p, &["--json", "model", "scan", torch("").to_str().unwrap()]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let v = r.json();
    let mut got: Vec<(String, String, String)> = v["files"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| {
            f["path"].as_str().unwrap().ends_with(".pt")
                || f["path"].as_str().unwrap().ends_with(".bin")
        })
        .map(|f| {
            let name = Path::new(f["path"].as_str().unwrap())
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned();
            (
                name,
                f["format"].as_str().unwrap().to_owned(),
                f["verdict"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    got.sort();
    let expect = [
        ("checkpoint.pt", "pytorch-zip", "safe"),
        ("evil_state_dict.pt", "pytorch-zip", "dangerous"),
        ("evil_state_dict_legacy.pt", "pickle", "dangerous"),
        ("half_legacy.pt", "pickle", "safe"),
        ("legacy_tar.pt", "pytorch-tar", "safe"),
        ("legacy_tar_evil_storage.pt", "pytorch-tar", "dangerous"),
        ("legacy_tar_evil_tensor.pt", "pytorch-tar", "dangerous"),
        ("legacy_tar_leftover.pt", "pytorch-tar", "dangerous"),
        ("module.pt", "pytorch-zip", "safe"),
        ("pytorch_model.bin", "pytorch-zip", "safe"),
        ("scripted.pt", "pytorch-zip", "safe"),
        ("state_dict.pt", "pytorch-zip", "safe"),
        ("state_dict_legacy.pt", "pickle", "safe"),
        ("traced.pt", "pytorch-zip", "safe"),
    ];
    let expect: Vec<_> = expect
        .iter()
        .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
        .collect();
    assert_eq!(got, expect);
}

/// A real PyTorch checkpoint and a legacy tar one go through the whole gate: scanned,
/// signed, registered, promoted.
#[test]
fn real_pytorch_files_are_promoted_through_the_gate() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    ok(p, &["init"]);
    for name in ["checkpoint.pt", "legacy_tar.pt"] {
        std::fs::copy(torch(name), p.join(name)).unwrap();
        ok(p, &["model", "sign", name]);
        let reg = ok(p, &["--json", "model", "register", name, "--name", "net"]).json();
        assert_eq!(reg["scan"]["verdict"], "safe", "{name}: {reg}");
        let version = reg["version"].to_string();
        let up = ok(p, &["--json", "model", "promote", "net", &version]).json();
        assert_eq!(up["passed"], true, "{name}: {up}");
        assert_eq!(up["stage"], "production");
    }
}

/// Sets bits in the local and the central header of one member of a zip: `patch` gets
/// the header and the offset of its flags field (the CRC-32 is 8 bytes further on).
fn patch_member_headers(zip: &mut [u8], member: &str, patch: impl Fn(&mut [u8], usize)) {
    let mut patched = 0;
    for (sig, name_at, flags_at) in [(&b"PK\x03\x04"[..], 30, 6), (b"PK\x01\x02", 46, 8)] {
        let starts: Vec<usize> = zip
            .windows(4)
            .enumerate()
            .filter(|(_, w)| *w == sig)
            .map(|(i, _)| i)
            .collect();
        for at in starts {
            if zip.get(at + name_at..at + name_at + member.len()) == Some(member.as_bytes()) {
                patch(&mut zip[at..], flags_at);
                patched += 1;
            }
        }
    }
    assert_eq!(patched, 2, "{member}: a local and a central header");
}

/// PyTorch's zip reader ignores a member's CRC-32 and its "encrypted" flag and loads
/// the pickle; the scanner analyses such a member too, so the verdict is the pickle's
/// (dangerous), and the zip irregularity is a finding of its own.
#[test]
fn a_checkpoint_with_a_bad_crc_or_the_encrypted_flag_is_still_dangerous() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    let original = std::fs::read(torch("evil_state_dict.pt")).unwrap();
    type Patch = fn(&mut [u8], usize);
    let cases: [(&str, &str, Patch); 2] = [
        ("bad_crc.pt", "zip.crc", |h, flags| h[flags + 8] ^= 0xff),
        ("encrypted_flag.pt", "zip.encrypted", |h, flags| {
            h[flags] |= 1
        }),
    ];
    for (name, rule, patch) in cases {
        let mut bytes = original.clone();
        patch_member_headers(&mut bytes, "evil_state_dict/data.pkl", patch);
        std::fs::write(p.join(name), &bytes).unwrap();
        // default flags: outside a project, as a CI job would call it
        let r = aigis(p, &["--json", "model", "scan", name]);
        assert_eq!(r.code, 1, "{name}: {}", r.stderr);
        let file = &r.json()["files"][0];
        assert_eq!(file["verdict"], "dangerous", "{name}: {file}");
        let rules: Vec<&str> = file["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["rule"].as_str().unwrap())
            .collect();
        assert!(rules.contains(&rule), "{name}: {rules:?}");
        assert!(
            rules.contains(&"pickle.global.dangerous"),
            "{name}: {rules:?}"
        );
    }
}
