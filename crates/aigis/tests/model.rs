//! `aigis model scan` through the real binary, on the fixture corpus made by
//! `scripts/make_model_corpus.py` and `scripts/make_format_corpus.py`.

use crate::common;

use std::path::{Path, PathBuf};

use common::{aigis, ok};

fn corpus(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/data")
        .join(name)
}

fn verdicts(v: &serde_json::Value) -> Vec<(String, String)> {
    v["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let path = f["path"].as_str().unwrap();
            let name = Path::new(path)
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned();
            (name, f["verdict"].as_str().unwrap().to_owned())
        })
        .collect()
}

#[test]
fn benign_files_pass_and_malicious_ones_fail_with_their_evidence() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    ok(p, &["init"]);
    let benign = [
        corpus("models/benign_sklearn_pipeline.joblib"),
        corpus("models/benign_numpy_p5.pkl"),
        corpus("models/benign_state_dict.pkl"),
        corpus("formats/model.safetensors"),
        corpus("formats/model.gguf"),
    ];
    let mut args: Vec<&str> = vec!["--json", "model", "scan", "--fail-on", "suspicious"];
    args.extend(benign.iter().map(|b| b.to_str().unwrap()));
    let r = ok(p, &args);
    let v = r.json();
    assert!(
        verdicts(&v).iter().all(|(_, verdict)| verdict == "safe"),
        "{v}"
    );
    assert_eq!(v["passed"], true);

    let evil = corpus("models/mal_stack_global_memo_p4.pkl");
    let torch = corpus("formats/evil_torch.pt");
    let r = aigis(
        p,
        &[
            "--json",
            "model",
            "scan",
            evil.to_str().unwrap(),
            torch.to_str().unwrap(),
            "--sarif",
            "m.sarif",
        ],
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    let v = r.json();
    assert_eq!(
        verdicts(&v),
        [
            (
                "mal_stack_global_memo_p4.pkl".to_owned(),
                "dangerous".to_owned()
            ),
            ("evil_torch.pt".to_owned(), "dangerous".to_owned())
        ]
    );
    let torch_evidence = &v["files"][1]["findings"];
    let hit = torch_evidence
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["rule"] == "pickle.global.dangerous")
        .unwrap();
    assert_eq!(hit["location"]["member"], "archive/data.pkl");
    assert!(hit["location"]["offset"].is_u64());
    assert!(hit["message"].as_str().unwrap().contains("system"));

    let sarif: serde_json::Value =
        serde_json::from_slice(&std::fs::read(p.join("m.sarif")).unwrap()).unwrap();
    let results = sarif["runs"][0]["results"].as_array().unwrap();
    assert!(results.iter().any(|r| r["level"] == "error"
        && r["locations"][0]["logicalLocations"][0]["fullyQualifiedName"] == "archive/data.pkl"
        && r["locations"][0]["physicalLocation"]["region"]["byteOffset"].is_u64()));

    // Recorded in the ledger, with every file's digest as a subject.
    let index = v["evidence"].as_u64().unwrap().to_string();
    let shown = ok(p, &["evidence", "show", &index, "--statement"]);
    let statement: serde_json::Value = serde_json::from_str(&shown.stdout).unwrap();
    assert_eq!(
        statement["predicateType"],
        "https://aigis.dev/predicate/model-scan/v1"
    );
    assert_eq!(statement["subject"].as_array().unwrap().len(), 2);
}

#[test]
fn a_pickle_that_looks_like_text_is_still_scanned() {
    let dir = tempfile::tempdir().unwrap();
    // Protocol 0, starting with MARK: printable text to a format sniffer.
    std::fs::write(
        dir.path().join("notes.txt"),
        b"(cposix\nsystem\nS'echo aigis-test'\ntR.",
    )
    .unwrap();
    let r = aigis(dir.path(), &["--json", "model", "scan", "notes.txt"]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert_eq!(r.json()["files"][0]["verdict"], "dangerous");
}

#[test]
fn unreadable_paths_and_bad_flags_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let r = aigis(dir.path(), &["model", "scan", "missing.pt"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("missing.pt"), "{}", r.stderr);
    let some = corpus("models/benign_numpy_p2.pkl");
    let r = aigis(
        dir.path(),
        &["model", "scan", some.to_str().unwrap(), "--fail-on", "bad"],
    );
    assert_eq!(r.code, 2);
    // clap's usage error, with the accepted values.
    assert!(
        r.stderr
            .contains("invalid value 'bad' for '--fail-on <VERDICT>'")
            && r.stderr
                .contains("[possible values: suspicious, inconclusive, dangerous, none]"),
        "{}",
        r.stderr
    );
    // Upper case is accepted, and echoed back normalized.
    let r = aigis(
        dir.path(),
        &[
            "--json",
            "model",
            "scan",
            some.to_str().unwrap(),
            "--fail-on",
            "DANGEROUS",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.json()["fail_on"], "dangerous");
    // Inconclusive fails by default: never clean.
    let truncated = corpus("models/bad_memo_unset.pkl");
    let r = aigis(dir.path(), &["model", "scan", truncated.to_str().unwrap()]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(r.stdout.contains("inconclusive"), "{}", r.stdout);
}

/// A protocol-4 pickle whose first frame (4 bytes) ends inside an opcode's argument.
/// CPython's C unpickler on an `io.BytesIO` drops the rest of the frame and runs
/// `os.system`; on a file it reads across the end and sees only bytes. `harmless` swaps
/// the call for a string, leaving the frame irregularity alone.
fn frame_crossing_pickle(harmless: bool) -> Vec<u8> {
    let call: &[u8] = if harmless {
        b"\x8c\x0ejust a string."
    } else {
        b"\x8c\x02os\x8c\x06system\x93\x8c\x04echo\x85R"
    };
    let mut p = b"\x80\x04\x95\x04\x00\x00\x00\x00\x00\x00\x00".to_vec();
    p.extend(b"\x8c\x0bab123456789C");
    p.push(call.len() as u8);
    p.extend(call);
    p.extend(b"00N.");
    p
}

/// What CPython's unpicklers disagree on is read every way: the call that only one of
/// them runs is dangerous, and a frame irregularity alone is never safe; both fail
/// `model scan` at its default flags.
#[test]
fn a_pickle_cpython_reads_two_ways_fails_at_default_flags() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    for (name, harmless, verdict) in [
        ("crossing.pkl", false, "dangerous"),
        ("crossing_harmless.pkl", true, "suspicious"),
    ] {
        std::fs::write(p.join(name), frame_crossing_pickle(harmless)).unwrap();
        let r = aigis(p, &["--json", "model", "scan", name]);
        assert_eq!(r.code, 1, "{name}: {}", r.stderr);
        let file = &r.json()["files"][0];
        assert_eq!(file["verdict"], verdict, "{name}: {file}");
        let frame = file["findings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["rule"] == "pickle.frame")
            .unwrap_or_else(|| panic!("{name}: no pickle.frame finding: {file}"));
        assert_eq!(frame["verdict"], "suspicious", "{name}");
        let imports = file["findings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["rule"] == "pickle.imports");
        if !harmless {
            assert!(
                imports.unwrap()["message"]
                    .as_str()
                    .unwrap()
                    .contains("os.system"),
                "{name}: {file}"
            );
        }
    }
}
