//! The ONNX models and SavedModels of `tests/data/graphs/` (written by
//! `scripts/make_format_corpus.py`, and the real TensorFlow ones in `tf_*/` by
//! `scripts/make_savedmodel_corpus.py`) through the library, and damaged copies of them
//! through the whole scanner.

use crate::common;

use std::path::{Path, PathBuf};

use common::fixture;

use aigis_scan::{Limits, Scanner, Verdict};

fn graphs() -> PathBuf {
    fixture("graphs", "")
}

#[test]
fn every_fixture_gets_its_verdict() {
    let root = graphs();
    let reports = Scanner::new().scan_path(&root).unwrap();
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
    // and the 23 files of the real TensorFlow models, checked below
    assert_eq!(reports.len(), 13 + 23);
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
    let scanner = Scanner::new().with_limits(Limits::default());
    let mut files = Vec::new();
    for entry in walk(&graphs()) {
        if entry
            .extension()
            .is_some_and(|e| e == "onnx" || e == "pb" || e == "index")
        {
            files.push(entry);
        }
    }
    // 11 ONNX and SavedModel files by make_format_corpus.py, 16 of the real TensorFlow models
    assert!(files.len() >= 27, "{files:?}");
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
            let (format, found) = scanner.scan_reader(&mut r, len, &path).unwrap();
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
                        | "checkpoint.index"
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

/// One file of a folder scan: its path under the folder, format, verdict and rules.
type Scanned = (String, String, Verdict, Vec<String>);

/// Every file of a folder scan.
fn scan_folder(folder: &Path) -> Vec<Scanned> {
    let reports = Scanner::new().scan_path(folder).unwrap();
    reports
        .into_iter()
        .map(|r| {
            let name = r
                .path
                .strip_prefix(folder)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            let rules = r.findings.iter().map(|e| e.rule.clone()).collect();
            (name, r.format.to_string(), r.verdict, rules)
        })
        .collect()
}

/// Real SavedModels written by `tf.saved_model.save`: everything in the benign ones is
/// safe (the checkpoint index checked, its data file claimed); the malicious ones are
/// dangerous by their graph, and only by it.
#[test]
fn real_tensorflow_models_get_their_verdicts() {
    for (folder, graph, rule) in [
        ("tf_benign", Verdict::Safe, "savedmodel.valid"),
        ("tf_vocab", Verdict::Safe, "savedmodel.valid"),
        ("tf_write_file", Verdict::Dangerous, "savedmodel.file_write"),
        ("tf_read_key", Verdict::Dangerous, "savedmodel.file_read"),
        ("tf_py_function", Verdict::Dangerous, "savedmodel.python_op"),
    ] {
        let found = scan_folder(&graphs().join(folder));
        let get = |name: &str| {
            found
                .iter()
                .find(|(n, ..)| n == name)
                .unwrap_or_else(|| panic!("{folder}/{name} not scanned: {found:?}"))
        };
        let (_, format, verdict, rules) = get("saved_model.pb");
        assert_eq!(
            (format.as_str(), *verdict),
            ("tensorflow-savedmodel", graph),
            "{folder}: {found:?}"
        );
        assert!(rules.contains(&rule.to_owned()), "{folder}: {rules:?}");
        let (_, format, verdict, rules) = get("variables/variables.index");
        assert_eq!(
            (format.as_str(), *verdict, rules.as_slice()),
            (
                "tensorflow-checkpoint-index",
                Verdict::Safe,
                &["checkpoint.index".to_owned()][..]
            ),
            "{folder}"
        );
        let (_, format, verdict, rules) = get("variables/variables.data-00000-of-00001");
        assert_eq!(
            (format.as_str(), *verdict, rules.as_slice()),
            (
                "tensorflow-checkpoint-data",
                Verdict::Safe,
                &["checkpoint.data_file".to_owned()][..]
            ),
            "{folder}"
        );
        for (name, _, verdict, _) in &found {
            if name != "saved_model.pb" {
                assert_eq!(*verdict, Verdict::Safe, "{folder}/{name}: {found:?}");
            }
        }
    }
    // The vocabulary of the lookup table: an asset the graph names, claimed as its data.
    let found = scan_folder(&graphs().join("tf_vocab"));
    let (_, format, verdict, rules) = found
        .iter()
        .find(|(n, ..)| n == "assets/vocab.txt")
        .unwrap();
    assert_eq!(
        (format.as_str(), *verdict, rules.as_slice()),
        (
            "tensorflow-asset",
            Verdict::Safe,
            &["savedmodel.asset_file".to_owned()][..]
        )
    );

    // A TF1-style checkpoint, outside any SavedModel: the same prefix rule.
    let found = scan_folder(&graphs().join("tf_ckpt"));
    assert_eq!(
        found
            .iter()
            .map(|(n, f, v, _)| (n.as_str(), f.as_str(), *v))
            .collect::<Vec<_>>(),
        [
            (
                "model.ckpt.data-00000-of-00001",
                "tensorflow-checkpoint-data",
                Verdict::Safe
            ),
            (
                "model.ckpt.index",
                "tensorflow-checkpoint-index",
                Verdict::Safe
            ),
        ]
    );
}

/// Copies `tests/data/graphs/<name>` into a fresh folder.
fn copy_fixture(name: &str) -> tempfile::TempDir {
    fn copy(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap() {
            let path = entry.unwrap().path();
            let target = to.join(path.file_name().unwrap());
            if path.is_dir() {
                copy(&path, &target);
            } else {
                std::fs::copy(&path, &target).unwrap();
            }
        }
    }
    let dir = tempfile::tempdir().unwrap();
    copy(&graphs().join(name), dir.path());
    dir
}

/// The real benign SavedModel, damaged in its checkpoint: never clean.
#[test]
fn damaged_checkpoints_of_a_real_savedmodel_are_not_clean() {
    let index = "variables/variables.index";
    let data = "variables/variables.data-00000-of-00001";
    let original = std::fs::read(graphs().join("tf_benign").join(index)).unwrap();
    let verdicts = |dir: &Path| -> (Vec<Scanned>, Verdict) {
        let found = scan_folder(dir);
        let worst = found.iter().map(|f| f.2).max().unwrap();
        (found, worst)
    };
    let of = |found: &[Scanned], name: &str| {
        found
            .iter()
            .find(|(n, ..)| n == name)
            .cloned()
            .unwrap_or_else(|| panic!("{name} not scanned: {found:?}"))
    };

    // truncated index: no longer a table, and its data file no one's
    let dir = copy_fixture("tf_benign");
    std::fs::write(dir.path().join(index), &original[..original.len() - 10]).unwrap();
    let (found, worst) = verdicts(dir.path());
    assert_eq!(worst, Verdict::Inconclusive, "{found:?}");
    assert_eq!(of(&found, data).1, "unknown");

    // a flipped byte in the first block's checksum
    let dir = copy_fixture("tf_benign");
    let mut bad = original.clone();
    let crc_of_first_block = 0xa1; // the trailer of the 160-byte data block at 0
    bad[crc_of_first_block] ^= 0x01;
    std::fs::write(dir.path().join(index), &bad).unwrap();
    let (found, _) = verdicts(dir.path());
    let (_, format, verdict, rules) = of(&found, index);
    assert_eq!(
        (format.as_str(), verdict),
        ("tensorflow-checkpoint-index", Verdict::Inconclusive)
    );
    assert_eq!(rules, ["checkpoint.malformed"]);
    assert_eq!(of(&found, data).2, Verdict::Inconclusive);

    // a tensor past the end of the data file (the data file cut by a byte)
    let dir = copy_fixture("tf_benign");
    let shard = std::fs::read(dir.path().join(data)).unwrap();
    std::fs::write(dir.path().join(data), &shard[..shard.len() - 1]).unwrap();
    let (found, _) = verdicts(dir.path());
    let (_, _, verdict, rules) = of(&found, index);
    assert_eq!(verdict, Verdict::Inconclusive);
    assert!(
        rules.contains(&"checkpoint.tensor_range".to_owned()),
        "{rules:?}"
    );
    assert_eq!(of(&found, data).1, "unknown");

    // the data file missing
    let dir = copy_fixture("tf_benign");
    std::fs::remove_file(dir.path().join(data)).unwrap();
    let (found, worst) = verdicts(dir.path());
    assert_eq!(worst, Verdict::Inconclusive);
    assert!(
        of(&found, index)
            .3
            .contains(&"checkpoint.shard_missing".to_owned())
    );

    // the index missing: the data file is an unknown file again
    let dir = copy_fixture("tf_benign");
    std::fs::remove_file(dir.path().join(index)).unwrap();
    let (found, worst) = verdicts(dir.path());
    assert_eq!(worst, Verdict::Inconclusive);
    assert_eq!(of(&found, data).3, ["format.unknown"]);

    // a pickle in place of the data file (as long as the tensors need): its evidence
    // stands, it is not claimed as tensor data
    let dir = copy_fixture("tf_benign");
    let mut evil = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/models/mal_os_system_p2.pkl"),
    )
    .unwrap();
    evil.resize(evil.len().max(shard.len()), 0);
    std::fs::write(dir.path().join(data), &evil).unwrap();
    let (found, worst) = verdicts(dir.path());
    assert_eq!(worst, Verdict::Dangerous);
    let (_, format, verdict, _) = of(&found, data);
    assert_eq!((format.as_str(), verdict), ("pickle", Verdict::Dangerous));
    assert_eq!(of(&found, index).2, Verdict::Safe);
}

/// The real vocabulary model with its asset renamed in `saved_model.pb` to a file outside
/// the SavedModel (the same length, so the protobuf stays well-formed): the graph would
/// load that file into its lookup table.
#[test]
fn a_real_savedmodel_whose_asset_leaves_its_folder_is_dangerous() {
    let dir = copy_fixture("tf_vocab");
    let pb = dir.path().join("saved_model.pb");
    let bytes = std::fs::read(&pb).unwrap();
    // AssetFileDef.filename (field 2, 9 bytes)
    let name = b"\x12\x09vocab.txt";
    let at: Vec<usize> = (0..bytes.len())
        .filter(|&i| bytes[i..].starts_with(name))
        .collect();
    assert_eq!(at.len(), 1);
    for evil in [&b"/etc/motd"[..], b"../../x.t"] {
        let mut patched = bytes.clone();
        patched[at[0] + 2..at[0] + 11].copy_from_slice(evil);
        std::fs::write(&pb, &patched).unwrap();
        let found = scan_folder(dir.path());
        let (_, _, verdict, rules) = found.iter().find(|(n, ..)| n == "saved_model.pb").unwrap();
        assert_eq!(*verdict, Verdict::Dangerous, "{found:?}");
        assert!(
            rules.contains(&"savedmodel.asset_escape".to_owned()),
            "{rules:?}"
        );
        // vocab.txt is no longer named by the model: plain text again
        let (_, format, ..) = found
            .iter()
            .find(|(n, ..)| n == "assets/vocab.txt")
            .unwrap();
        assert_eq!(format, "text");
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
