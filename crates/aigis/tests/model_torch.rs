//! `aigis model scan`, `sign`, `register` and `promote` through the real binary on files
//! written by PyTorch itself (`tests/data/torch/`, by `scripts/make_torch_corpus.py`).

mod common;

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
