//! The ONNX models and SavedModels of `tests/data/graphs/` (written by
//! `scripts/make_format_corpus.py`) through the library, and damaged copies of them through
//! the whole scanner.

use std::path::{Path, PathBuf};

use aigis_model::{Evidence, Limits, Location, ReadSeek, Verdict, scan_path};

fn real_pickle(
    r: &mut dyn ReadSeek,
    at: &Location,
    layout: aigis_model::pickle::Layout,
) -> (Verdict, Vec<Evidence>) {
    let limits = aigis_model::pickle::Limits::default();
    aigis_model::pickle_scanner(&limits)(r, at, layout)
}

fn graphs() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/graphs")
}

#[test]
fn every_fixture_gets_its_verdict() {
    let root = graphs();
    let reports = scan_path(&root, &real_pickle, &Limits::default()).unwrap();
    let verdict = |name: &str| {
        reports
            .iter()
            .find(|r| r.path == root.join(name))
            .map(|r| (r.format.as_str(), r.verdict))
            .unwrap_or_else(|| panic!("{name} not scanned"))
    };
    for (name, format, expected) in [
        ("logreg_iris.onnx", "onnx", Verdict::Safe),
        ("truncated.onnx", "onnx", Verdict::Inconclusive),
        ("custom_domain.onnx", "onnx", Verdict::Suspicious),
        ("onnx_external/model.onnx", "onnx", Verdict::Safe),
        (
            "onnx_external/weights.bin",
            "onnx-external-data",
            Verdict::Safe,
        ),
        ("onnx_escape/model.onnx", "onnx", Verdict::Dangerous),
        ("onnx_absolute/model.onnx", "onnx", Verdict::Dangerous),
        (
            "savedmodel_benign/saved_model.pb",
            "tensorflow-savedmodel",
            Verdict::Safe,
        ),
        (
            "savedmodel_benign/fingerprint.pb",
            "tensorflow-fingerprint",
            Verdict::Safe,
        ),
        (
            "savedmodel_benign/keras_metadata.pb",
            "keras-metadata",
            Verdict::Safe,
        ),
        (
            "savedmodel_pyfunc/saved_model.pb",
            "tensorflow-savedmodel",
            Verdict::Dangerous,
        ),
        (
            "savedmodel_files/saved_model.pb",
            "tensorflow-savedmodel",
            Verdict::Dangerous,
        ),
        ("README.md", "text", Verdict::Safe),
    ] {
        assert_eq!(verdict(name), (format, expected), "{name}");
    }
    assert_eq!(reports.len(), 13);
    let model = reports
        .iter()
        .find(|r| r.path == root.join("onnx_external/model.onnx"))
        .unwrap();
    assert_eq!(
        model.external_data,
        [root.join("onnx_external/weights.bin")]
    );
}

/// Truncated and overwritten copies of every fixture, in the fixture's folder (so external
/// data paths resolve), through the whole scanner: never a panic, and safe only with the
/// evidence that the file was parsed to the end.
#[test]
fn damaged_graphs_never_panic() {
    let mut rng = fastrand::Rng::with_seed(0x9e37_79b9_7f4a_7c15u64);
    let mut next = move || rng.u64(..);
    let limits = Limits::default();
    let mut files = Vec::new();
    for entry in walk(&graphs()) {
        if entry.extension().is_some_and(|e| e == "onnx" || e == "pb") {
            files.push(entry);
        }
    }
    assert!(files.len() >= 9, "{files:?}");
    for path in files {
        let original = std::fs::read(&path).unwrap();
        for round in 0..64 {
            let mut bytes = original.clone();
            if round % 2 == 0 {
                bytes.truncate(next() as usize % bytes.len().max(1));
            }
            for _ in 0..(round % 5) {
                if !bytes.is_empty() {
                    let at = next() as usize % bytes.len();
                    bytes[at] = next() as u8;
                }
            }
            let len = bytes.len() as u64;
            let mut r = std::io::Cursor::new(bytes);
            let (format, found) =
                aigis_model::scan::scan_reader(&mut r, len, &path, &real_pickle, &limits).unwrap();
            let worst = found
                .iter()
                .map(|e| e.verdict)
                .max()
                .unwrap_or(Verdict::Safe);
            // safe only when parsed to the end (a protobuf cut at a field boundary can
            // still be whole, so a cut alone does not make it unsafe)
            let parsed = found.iter().any(|e| {
                matches!(
                    e.rule.as_str(),
                    "onnx.valid"
                        | "savedmodel.valid"
                        | "savedmodel.fingerprint"
                        | "savedmodel.keras_metadata"
                        | "format.text"
                )
            });
            assert!(
                worst > Verdict::Safe || parsed,
                "{} ({format}): {found:?}",
                path.display()
            );
        }
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}
