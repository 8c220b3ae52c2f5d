//! `aigis model scan` through the real binary on benign files as the real libraries
//! write them (`tests/data/benign/`: NumPy, scikit-learn and joblib from Python 2.7 to
//! 3.13) and on pickles in every compression joblib reads (`tests/data/compressed/`).

use crate::common;

use std::path::{Path, PathBuf};

use common::aigis;

fn data(folder: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/data")
        .join(folder)
}

/// (file name, verdict) of each scanned file.
fn verdicts(v: &serde_json::Value) -> Vec<(String, String)> {
    v["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let name = Path::new(f["path"].as_str().unwrap())
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned();
            (name, f["verdict"].as_str().unwrap().to_owned())
        })
        .collect()
}

#[test]
fn benign_files_of_every_library_generation_pass_even_at_suspicious() {
    let dir = tempfile::tempdir().unwrap();
    let benign = data("benign");
    let r = aigis(
        dir.path(),
        &[
            "--json",
            "model",
            "scan",
            "--fail-on",
            "suspicious",
            benign.to_str().unwrap(),
        ],
    );
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let found = verdicts(&r.json());
    // the README is text: safe too
    assert!(found.len() >= 40, "{found:?}");
    assert!(found.iter().all(|(_, v)| v == "safe"), "{found:?}");
}

#[test]
fn compressed_pickles_are_read_whatever_the_compressor() {
    let dir = tempfile::tempdir().unwrap();
    let compressed = data("compressed");
    let r = aigis(
        dir.path(),
        &["--json", "model", "scan", compressed.to_str().unwrap()],
    );
    // evil files fail the scan at any threshold
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    for (name, verdict) in verdicts(&r.json()) {
        let expected = if name.starts_with("evil_")
            || name.starts_with("companion_p")
            || name == "companion_absolute.pkl"
        {
            "dangerous"
        } else if name == "zfile_bad_length.pkl" {
            "inconclusive"
        } else {
            "safe"
        };
        assert_eq!(verdict, expected, "{name}");
    }
}
