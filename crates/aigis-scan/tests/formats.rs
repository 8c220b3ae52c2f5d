//! Every file of `tests/data/formats/` (written by `scripts/make_format_corpus.py` with
//! the reference writers: safetensors, gguf, numpy, zipfile) gets the verdict and the
//! evidence it should.
//!
//! The pickle scanner is the real one (a default [`aigis_scan::Scanner`]), so each test
//! shows both that a pickle reaches it, with its location, and what it says.

use crate::common;

use std::path::PathBuf;

use common::{fixture, scan_at};

use aigis_scan::{Limits, Scanner, Verdict};

fn corpus(name: &str) -> PathBuf {
    fixture("formats", name)
}

fn scan(name: &str) -> aigis_scan::FileReport {
    scan_at(&corpus(name))
}

fn rules(r: &aigis_scan::FileReport) -> Vec<&str> {
    r.findings.iter().map(|e| e.rule.as_str()).collect()
}

#[test]
fn real_files_from_the_reference_writers() {
    for (name, format, verdict) in [
        ("model.safetensors", "safetensors", Verdict::Safe),
        ("model.gguf", "gguf", Verdict::Safe),
        ("plain.npy", "npy", Verdict::Safe),
        ("benign.pkl", "pickle", Verdict::Safe),
        ("benign_torch.pt", "pytorch-zip", Verdict::Safe),
        // an object array is a pickle (`allow_pickle=True`): as safe as what it runs
        ("objects.npz", "npz", Verdict::Safe),
    ] {
        let r = scan(name);
        assert_eq!(
            (r.format.as_str(), r.verdict),
            (format, verdict),
            "{name}: {:?}",
            r.findings
        );
    }
}

#[test]
fn malicious_files_are_dangerous_with_the_place_named() {
    let r = scan("evil_template.gguf");
    assert_eq!(r.verdict, Verdict::Dangerous);
    assert!(
        r.findings
            .iter()
            .any(|e| e.rule == "gguf.chat_template" && e.message.contains("__globals__"))
    );

    let r = scan("evil_torch.pt");
    assert_eq!(r.verdict, Verdict::Dangerous);
    let hit = r
        .findings
        .iter()
        .find(|e| e.verdict == Verdict::Dangerous)
        .unwrap();
    assert_eq!(hit.location.member.as_deref(), Some("archive/data.pkl"));

    let r = scan("evil_objects.npz");
    assert_eq!((r.format.as_str(), r.verdict), ("npz", Verdict::Dangerous));
    assert!(
        r.findings
            .iter()
            .any(|e| e.location.member.as_deref() == Some("a.npy"))
    );

    for name in ["evil.pkl", "evil_compressed.joblib"] {
        assert_eq!(scan(name).verdict, Verdict::Dangerous, "{name}");
    }
}

#[test]
fn misleading_names_and_polyglots() {
    let r = scan("evil_named.safetensors");
    assert_eq!(
        (r.format.as_str(), r.verdict),
        ("pickle", Verdict::Dangerous)
    );
    assert!(rules(&r).contains(&"format.extension_mismatch"));

    // a pickle with a zip appended: both halves are scanned
    let r = scan("polyglot.pt");
    assert_eq!(r.verdict, Verdict::Dangerous);
    assert!(rules(&r).contains(&"format.polyglot"), "{:?}", r.findings);
}

#[test]
fn zip_tricks() {
    let r = scan("duplicate_names.pt");
    assert!(rules(&r).contains(&"zip.duplicate_name"));
    // both copies are scanned: a loader may pick the evil one
    assert_eq!(r.verdict, Verdict::Dangerous);

    let r = scan("traversal.zip");
    assert_eq!(r.verdict, Verdict::Dangerous);
    assert!(rules(&r).contains(&"zip.path_traversal"));

    let r = scan("bad_crc.pt");
    assert_eq!(r.verdict, Verdict::Inconclusive);
    assert!(rules(&r).contains(&"zip.crc"), "{:?}", r.findings);

    let r = scan("bomb.zip");
    assert_eq!(r.verdict, Verdict::Inconclusive);
    assert!(rules(&r).contains(&"zip.bomb"));
}

#[test]
fn a_folder_gives_one_report_per_file_and_serializes() {
    let dir = corpus("");
    let reports = Scanner::new().scan_path(&dir).unwrap();
    let files = std::fs::read_dir(&dir).unwrap().count();
    assert_eq!(reports.len(), files);
    // the README is text: nothing to run
    let readme = reports
        .iter()
        .find(|r| r.path.ends_with("README.md"))
        .unwrap();
    assert_eq!(
        (readme.format.as_str(), readme.verdict),
        ("text", Verdict::Safe)
    );
    let json = serde_json::to_value(&reports[0]).unwrap();
    assert!(json.get("verdict").is_some() && json.get("findings").is_some());
}

#[test]
fn unanalysed_and_unknown_formats_are_never_safe() {
    let dir = tempfile::tempdir().unwrap();
    for (name, bytes) in [
        ("model.h5", b"\x89HDF\r\n\x1a\n\0\0\0\0".to_vec()),
        ("model.onnx", b"\x08\x07\x12\x07pytorch".to_vec()),
        ("weights.bin", vec![0xde, 0xad, 0xbe, 0xef, 0, 1, 2]),
        ("empty.pkl", vec![]),
    ] {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        let r = Scanner::new().scan_file(&path).unwrap();
        assert!(r.verdict >= Verdict::Suspicious, "{name}: {r:?}");
    }
    assert!(
        Scanner::new()
            .scan_file(&dir.path().join("missing"))
            .is_err()
    );
}

/// A cheap stand-in for the fuzz targets in the ordinary test run: every corpus file,
/// truncated at many points and with bytes overwritten, through the whole scanner.
/// Nothing may panic, and a damaged file must not come out cleaner than `safe` with
/// evidence (a verdict or an error, never a crash).
#[test]
fn damaged_files_never_panic() {
    let mut rng = fastrand::Rng::with_seed(0x2545_f491_4f6c_dd1du64);
    let mut next = move || rng.u64(..);
    let scanner = Scanner::new().with_limits(Limits::default());
    for entry in std::fs::read_dir(corpus("")).unwrap() {
        let path = entry.unwrap().path();
        let original = std::fs::read(&path).unwrap();
        for round in 0..64 {
            let mut bytes = original.clone();
            if round % 2 == 0 {
                bytes.truncate(next() as usize % (bytes.len() + 1));
            }
            for _ in 0..(round % 5) {
                if !bytes.is_empty() {
                    let at = next() as usize % bytes.len();
                    bytes[at] = next() as u8;
                }
            }
            let len = bytes.len() as u64;
            let mut r = std::io::Cursor::new(bytes);
            let scanned = scanner.scan_reader(&mut r, len, &path);
            assert!(scanned.is_ok(), "{}: {scanned:?}", path.display());
        }
    }
}

/// Hugging Face chat templates (in `tokenizer_config.json` or a `.jinja` file) get the
/// same check as GGUF ones.
#[test]
fn chat_templates_in_text_files() {
    let dir = tempfile::tempdir().unwrap();
    let evil = "{{ ''.__class__.__mro__[1].__subclasses__() }}";
    for (name, text, verdict) in [
        (
            "tokenizer_config.json",
            serde_json::json!({"chat_template": evil}).to_string(),
            Verdict::Dangerous,
        ),
        (
            "tokenizer_config_list.json",
            serde_json::json!({"chat_template": [{"name": "default", "template": evil}]})
                .to_string(),
            Verdict::Dangerous,
        ),
        ("chat_template.jinja", evil.to_owned(), Verdict::Dangerous),
        (
            "ok.json",
            serde_json::json!({"chat_template": "{{ messages[0].content }}"}).to_string(),
            Verdict::Safe,
        ),
    ] {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        let r = Scanner::new().scan_file(&path).unwrap();
        assert_eq!((r.format.as_str(), r.verdict), ("text", verdict), "{name}");
    }
}
