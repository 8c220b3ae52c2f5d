//! `aigis detect fit` and `aigis detect` as a user runs them: flags and reasons, exit
//! codes, the signature in a project, the model the squeeze detector is tied to, bad
//! input. (Detection rates against real attacks: `bench/detect_eval.py`.)

use crate::common;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use common::{Rng, aigis, fails, ok};

/// `rows` rows of `a`, `b`, `c` (standard normal) and a `label`, then the `extra` lines.
fn table(dir: &Path, name: &str, seed: u64, rows: usize, extra: &[&str]) {
    let mut rng = Rng(seed);
    let mut csv = String::from("a,b,c,label\n");
    for i in 0..rows {
        let (a, b, c) = (rng.normal(), rng.normal(), rng.normal());
        writeln!(csv, "{a:.4},{b:.4},{c:.4},{}", i % 2).unwrap();
    }
    for line in extra {
        writeln!(csv, "{line}").unwrap();
    }
    std::fs::write(dir.join(name), csv).unwrap();
}

/// An `.npy` float32 array of `rows` 8×8 images with values 0..16 (as np.save writes it).
fn images(dir: &Path, name: &str, seed: u64, rows: usize) {
    let mut rng = Rng(seed);
    let body: Vec<u8> = (0..rows * 64)
        .flat_map(|_| ((rng.uniform() * 17.0).floor() as f32).to_le_bytes())
        .collect();
    std::fs::write(
        dir.join(name),
        npy("<f4", &format!("({rows}, 8, 8)"), &body),
    )
    .unwrap();
}

fn npy(descr: &str, shape: &str, body: &[u8]) -> Vec<u8> {
    let mut header = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(body);
    out
}

fn runtime_model(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/data/runtime")
        .join(name)
}

#[test]
fn rows_unlike_the_reference_are_flagged_with_their_reasons() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    table(d, "train.csv", 1, 2000, &[]);
    // The clean rows come from the same distribution; the last three do not.
    table(
        d,
        "today.csv",
        2,
        40,
        &["9.5,0.1,0.2,1", "0.1,-30,0.3,0", "0.2,0.1,abc,1"],
    );
    table(d, "clean.csv", 3, 10, &[]);
    let r = ok(
        d,
        &[
            "detect",
            "fit",
            "train.csv",
            "--label",
            "label",
            "--fpr",
            "0.01",
        ],
    );
    assert!(r.stdout.contains("train.detector.json"), "{}", r.stdout);
    assert!(r.stderr.contains("not signed"), "{}", r.stderr);
    let r = aigis(
        d,
        &[
            "--json",
            "detect",
            "--detector",
            "train.detector.json",
            "today.csv",
            "--unsigned",
        ],
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    let v = r.json();
    assert_eq!(v["rows"], 43);
    let results = v["results"].as_array().unwrap();
    for (row, says) in [(40, "`a` = 9.5"), (41, "`b` = -30"), (42, "`c` is NaN")] {
        let r = &results[row];
        assert_eq!(r["flagged"], true, "{r}");
        let reasons = r["reasons"].to_string();
        assert!(reasons.contains(says), "{row}: {reasons}");
    }
    assert!(results[42]["scores"]["ood"].is_null());
    // At 1%, clean rows mostly pass; the three are among the flagged.
    assert!(v["flagged"].as_u64().unwrap() <= 5, "{v}");
    // The three are atypical too (the unscored one counts); the batch as a whole about
    // as atypical as the calibration rows were.
    let atypical = &v["atypical"];
    let k = atypical["rows"].as_u64().unwrap();
    assert!((3..=15).contains(&k), "{atypical}");
    assert!((atypical["share"].as_f64().unwrap() - k as f64 / 43.0).abs() < 1e-12);
    let clean = atypical["calibration_share"].as_f64().unwrap();
    assert!((0.1..=0.2).contains(&clean), "{atypical}");
    let r = aigis(
        d,
        &[
            "detect",
            "--detector",
            "train.detector.json",
            "clean.csv",
            "--unsigned",
        ],
    );
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stdout.starts_with("0 of 10 rows flagged"), "{}", r.stdout);
    assert!(
        r.stdout.contains("rows (") && r.stdout.contains("are among the most atypical tenth"),
        "{}",
        r.stdout
    );
    // The same seed, the same file.
    let first = std::fs::read(d.join("train.detector.json")).unwrap();
    ok(
        d,
        &[
            "detect",
            "fit",
            "train.csv",
            "--label",
            "label",
            "--fpr",
            "0.01",
        ],
    );
    assert_eq!(std::fs::read(d.join("train.detector.json")).unwrap(), first);
}

#[test]
fn rows_whose_values_do_not_go_together_are_flagged_by_the_distance() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // Two features that move together, as a cell's radius and perimeter do.
    let mut rng = Rng(5);
    let mut csv = String::from("radius,perimeter\n");
    for _ in 0..2000 {
        let r = rng.normal();
        writeln!(
            csv,
            "{:.4},{:.4}",
            10.0 + r,
            60.0 + 6.0 * r + 0.3 * rng.normal()
        )
        .unwrap();
    }
    std::fs::write(d.join("train.csv"), csv).unwrap();
    // Each value well inside its range, the pair apart: a small radius with a large
    // perimeter, and the reverse.
    std::fs::write(
        d.join("apart.csv"),
        "radius,perimeter\n9,66\n11,54\n10,60\n",
    )
    .unwrap();
    let r = ok(
        d,
        &["--json", "detect", "fit", "train.csv", "--fpr", "0.01"],
    );
    let names: Vec<String> = r.json()["detectors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["ood", "mahalanobis"]);
    let r = aigis(
        d,
        &[
            "--json",
            "detect",
            "--detector",
            "train.detector.json",
            "apart.csv",
            "--unsigned",
        ],
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    let v = r.json();
    let results = v["results"].as_array().unwrap();
    for row in [0, 1] {
        let flags = results[row]["flags"].to_string();
        assert!(flags.contains("mahalanobis"), "{row}: {}", results[row]);
        assert!(
            results[row]["reasons"][0]
                .as_str()
                .unwrap()
                .contains("do not go together"),
            "{}",
            results[row]
        );
        // Both features pull against each other: both are named.
        let why = results[row]["reasons"][1].as_str().unwrap();
        assert!(
            why.starts_with("most of the distance comes from")
                && why.contains("`radius`")
                && why.contains("`perimeter`"),
            "{why}"
        );
    }
    assert_eq!(results[2]["flagged"], false, "{}", results[2]);
    // Left out when asked; nothing at all to fit is refused.
    let r = ok(
        d,
        &[
            "--json",
            "detect",
            "fit",
            "train.csv",
            "--no-mahalanobis",
            "-o",
            "forest.json",
        ],
    );
    assert_eq!(r.json()["detectors"].as_array().unwrap().len(), 1);
    fails(
        d,
        &["detect", "fit", "train.csv", "--no-ood", "--no-mahalanobis"],
        2,
        "no detector to fit",
    );
}

#[test]
fn in_a_project_the_detector_file_is_signed_and_checked() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(d, &["init"]);
    table(d, "train.csv", 4, 800, &[]);
    table(d, "today.csv", 5, 5, &[]);
    let v = ok(
        d,
        &[
            "--json",
            "detect",
            "fit",
            "train.csv",
            "--label",
            "label",
            "--fpr",
            "0.05",
            "-o",
            "fraud.detector.json",
        ],
    )
    .json();
    assert_eq!(v["signature"], "fraud.detector.json.sig");
    // The fit is evidence: the file, the reference, the thresholds.
    let index = v["evidence"].as_u64().unwrap().to_string();
    let st = ok(d, &["evidence", "show", &index, "--statement"]).json();
    assert_eq!(
        st["predicateType"],
        "https://aigis.dev/predicate/detector-fit/v1"
    );
    let names: Vec<&str> = st["subject"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["detector:fraud.detector.json", "reference:train.csv"]
    );
    assert_eq!(st["predicate"]["detectors"][0]["name"], "ood");
    assert_eq!(st["predicate"]["calibration_rows"], 200);
    assert!(st["predicate"]["calibration_flagged"].as_f64().unwrap() <= 0.05);
    let r = ok(
        d,
        &["detect", "--detector", "fraud.detector.json", "today.csv"],
    );
    assert!(r.stderr.contains("signature verified"), "{}", r.stderr);
    // An edited file (its thresholds raised so nothing is flagged) is refused.
    let text = std::fs::read_to_string(d.join("fraud.detector.json")).unwrap();
    let mut edited: serde_json::Value = serde_json::from_str(&text).unwrap();
    edited["ood"]["threshold"] = serde_json::json!(0.99);
    std::fs::write(d.join("fraud.detector.json"), edited.to_string()).unwrap();
    fails(
        d,
        &["detect", "--detector", "fraud.detector.json", "today.csv"],
        1,
        "is not the file its signature",
    );
    std::fs::remove_file(d.join("fraud.detector.json.sig")).unwrap();
    fails(
        d,
        &["detect", "--detector", "fraud.detector.json", "today.csv"],
        1,
        "is unsigned",
    );
    // Outside a project there is nothing to check it with: said, and --unsigned.
    let other = tempfile::tempdir().unwrap();
    std::fs::write(other.path().join("d.json"), text).unwrap();
    table(other.path(), "today.csv", 5, 5, &[]);
    fails(
        other.path(),
        &["detect", "--detector", "d.json", "today.csv"],
        2,
        "--unsigned",
    );
}

#[test]
fn the_extraction_threshold_is_calibrated_for_the_model() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(d, &["init"]);
    images(d, "train.npy", 6, 400);
    images(d, "small.npy", 8, 80);
    std::fs::copy(runtime_model("digits_mlp.onnx"), d.join("digits.onnx")).unwrap();
    let sha = aigis_core::Digest::of(&std::fs::read(d.join("digits.onnx")).unwrap()).hex();
    // `detect fit` of `reference` with the model, and `extra`.
    let fit_of = |reference: &'static str, extra: &[&'static str]| -> Vec<&'static str> {
        let mut args = vec![
            "detect",
            "fit",
            reference,
            "--model",
            "digits.onnx",
            "--fpr",
            "0.05",
        ];
        args.extend_from_slice(extra);
        args
    };
    let fit = |extra: &[&'static str]| fit_of("train.npy", extra);
    let mut args = vec!["--json"];
    args.extend(fit(&[
        "--no-squeeze",
        "--extraction-clients",
        "20",
        "-o",
        "d.json",
    ]));
    let v = ok(d, &args).json();
    let names: Vec<&str> = v["detectors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["ood", "mahalanobis"], "--no-squeeze");
    let prada = &v["extraction"]["prada"];
    assert_eq!(v["extraction"]["model_sha256"], sha.as_str());
    let threshold = prada["threshold"].as_f64().unwrap();
    let lowest = prada["lowest_w"].as_f64().unwrap();
    let median = prada["median_lowest_w"].as_f64().unwrap();
    assert_eq!(prada["clients"], 20);
    assert_eq!(prada["rows_per_client"], 400);
    assert_eq!(
        (prada["min_distances"].as_u64(), prada["history"].as_u64()),
        (Some(100), Some(1000))
    );
    assert!(lowest <= median && median <= 1.0, "{prada}");
    assert!(
        (threshold - (lowest - (median - lowest).max(0.02)).clamp(0.01, 0.95)).abs() < 1e-12,
        "{prada}"
    );
    // What the file holds is what --json said, and the signed evidence of the fit
    // records it; the text names it too.
    let file: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.join("d.json")).unwrap()).unwrap();
    assert_eq!(file["extraction"], v["extraction"]);
    // The atypical cuts of the model-free detectors, what --json said.
    let atypical = &file["calibration"]["atypical"];
    assert_eq!(v["calibration"]["atypical"], *atypical);
    let cuts: Vec<&String> = atypical["cuts"].as_object().unwrap().keys().collect();
    assert_eq!(cuts, ["mahalanobis", "ood"], "{atypical}");
    // The calibration rows counted by the digit the model answers, for this model.
    let by_class = &file["calibration"]["by_class"];
    assert_eq!(v["calibration"]["by_class"], *by_class);
    assert_eq!(by_class["model_sha256"], sha.as_str());
    let classes = by_class["classes"].as_array().unwrap();
    assert!(classes.len() >= 5, "{by_class}");
    let counted: u64 = classes.iter().map(|c| c["rows"].as_u64().unwrap()).sum();
    assert_eq!(
        counted,
        file["calibration"]["calibration_rows"].as_u64().unwrap()
    );
    let index = v["evidence"].as_u64().unwrap().to_string();
    let st = ok(d, &["evidence", "show", &index, "--statement"]).json();
    let recorded = &st["predicate"]["extraction"];
    assert_eq!(recorded["threshold"], prada["threshold"]);
    assert_eq!(recorded["lowest_w"], prada["lowest_w"]);
    assert_eq!(recorded["clients"], 20);
    assert!(
        st["subject"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["name"] == "model:digits.onnx"),
        "{st}"
    );
    let text = ok(d, &fit(&["--extraction-clients", "20", "-o", "d2.json"]));
    assert!(
        text.stderr.contains("extraction: PRADA threshold")
            && text.stderr.contains("squeeze:")
            && text
                .stderr
                .contains("atypical: the most atypical tenth of clean rows")
            && text
                .stderr
                .contains("inputs: the calibration rows flagged per class of the model"),
        "{}",
        text.stderr
    );
    // Left out on request; on a reference too small, a note, or an error when asked for.
    let mut args = vec!["--json"];
    args.extend(fit(&["--no-extraction", "-o", "d3.json"]));
    assert!(ok(d, &args).json()["extraction"].is_null());
    let small = ok(d, &fit_of("small.npy", &["-o", "d4.json"]));
    assert!(
        small.stderr.contains("extraction: not calibrated")
            && small.stderr.contains("80 distinct reference rows"),
        "{}",
        small.stderr
    );
    fails(
        d,
        &fit_of("small.npy", &["--extraction-min-distances", "100"]),
        2,
        "80 distinct reference rows",
    );
    // A smaller min_distances fits the small reference.
    let mut args = vec!["--json"];
    args.extend(fit_of(
        "small.npy",
        &[
            "--extraction-min-distances",
            "30",
            "--extraction-history",
            "60",
            "-o",
            "d5.json",
        ],
    ));
    let v = ok(d, &args).json();
    assert_eq!(v["extraction"]["prada"]["min_distances"], 30);
    fails(
        d,
        &["detect", "fit", "train.npy", "--no-squeeze"],
        2,
        "--model",
    );
}

#[test]
fn squeezing_is_tied_to_its_model() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    images(d, "train.npy", 6, 600);
    images(d, "inputs.npy", 7, 20);
    std::fs::copy(runtime_model("digits_mlp.onnx"), d.join("digits.onnx")).unwrap();
    std::fs::copy(runtime_model("cancer_tree.onnx"), d.join("other.onnx")).unwrap();
    let v = ok(
        d,
        &[
            "--json",
            "detect",
            "fit",
            "train.npy",
            "--model",
            "digits.onnx",
            "--image",
            "8x8",
            "--range",
            "0,16",
            "--fpr",
            "0.05",
            "-o",
            "d.json",
        ],
    )
    .json();
    let names: Vec<&str> = v["detectors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["ood", "mahalanobis", "squeeze"]);
    assert_eq!(
        v["detectors"][2]["squeezers"],
        serde_json::json!(["bits:3"])
    );
    let v = aigis(
        d,
        &[
            "--json",
            "detect",
            "--detector",
            "d.json",
            "--model",
            "digits.onnx",
            "inputs.npy",
            "--unsigned",
        ],
    )
    .json();
    assert_eq!(v["rows"], 20);
    assert!(
        v["results"][0]["scores"]["squeeze"].as_f64().is_some(),
        "{v}"
    );
    fails(
        d,
        &["detect", "--detector", "d.json", "inputs.npy", "--unsigned"],
        2,
        "needs the model it was calibrated with",
    );
    fails(
        d,
        &[
            "detect",
            "--detector",
            "d.json",
            "--model",
            "other.onnx",
            "inputs.npy",
            "--unsigned",
        ],
        2,
        "fit it again for this model",
    );
    // A median needs an image; an image must fit the rows.
    fails(
        d,
        &[
            "detect",
            "fit",
            "train.npy",
            "--model",
            "digits.onnx",
            "--squeeze",
            "median:2x2",
        ],
        2,
        "--image",
    );
    fails(
        d,
        &[
            "detect",
            "fit",
            "train.npy",
            "--model",
            "digits.onnx",
            "--image",
            "7x7",
        ],
        2,
        "the rows have 64",
    );
    fails(
        d,
        &[
            "detect",
            "fit",
            "train.npy",
            "--model",
            "digits.onnx",
            "--squeeze",
            "blur:2",
        ],
        2,
        "unknown squeezer",
    );
}

#[test]
fn bad_input_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    table(d, "train.csv", 8, 300, &[]);
    table(d, "small.csv", 8, 40, &[]);
    std::fs::write(d.join("other.csv"), "a,b,x\n1,2,3\n").unwrap();
    std::fs::write(d.join("objects.npy"), npy("|O", "(2,)", b"\x80\x04N.")).unwrap();
    std::fs::write(d.join("short.npy"), npy("<f8", "(2, 3)", &[0u8; 8])).unwrap();
    fails(
        d,
        &["detect", "fit", "small.csv", "--label", "label"],
        2,
        "needs at least 99 clean rows",
    );
    fails(d, &["detect", "fit", "objects.npy"], 2, "Python objects");
    fails(d, &["detect", "fit", "short.npy"], 2, "needs 48 bytes");
    fails(
        d,
        &["detect", "fit", "train.csv", "--fpr", "0.7"],
        2,
        "between 0 and 0.5",
    );
    fails(
        d,
        &["detect", "fit", "train.csv", "--columns", "a,zz"],
        2,
        "no column `zz`",
    );
    ok(
        d,
        &[
            "detect",
            "fit",
            "train.csv",
            "--label",
            "label",
            "--fpr",
            "0.05",
        ],
    );
    fails(
        d,
        &[
            "detect",
            "--detector",
            "train.detector.json",
            "other.csv",
            "--unsigned",
        ],
        2,
        "no column `c`",
    );
    fails(
        d,
        &[
            "detect",
            "--detector",
            "train.csv",
            "other.csv",
            "--unsigned",
        ],
        2,
        "not a detector file",
    );
    fails(
        d,
        &["detect", "--detector", "train.detector.json", "--unsigned"],
        2,
        "INPUTS",
    );
}

/// `[model.gate.detector]`: a version is promoted only once a detector file has been
/// fitted and calibrated with its own file, as signed `detector-fit` evidence says.
#[test]
fn the_gate_wants_a_detector_calibrated_for_the_version() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(d, &["init", "-q"]);
    std::fs::create_dir(d.join("models")).unwrap();
    std::fs::copy(
        runtime_model("digits_mlp.onnx"),
        d.join("models/digits.onnx"),
    )
    .unwrap();
    std::fs::copy(
        runtime_model("cancer_tree.onnx"),
        d.join("models/other.onnx"),
    )
    .unwrap();
    images(d, "train.npy", 6, 600);
    // 30 features for the other model.
    let mut rng = Rng(8);
    let body: Vec<u8> = (0..600 * 30)
        .flat_map(|_| (rng.normal() as f32).to_le_bytes())
        .collect();
    std::fs::write(d.join("other.npy"), npy("<f4", "(600, 30)", &body)).unwrap();
    let base = std::fs::read_to_string(d.join("aigis.toml")).unwrap();
    let gate = |settings: &str| {
        std::fs::write(
            d.join("aigis.toml"),
            format!("{base}\n[model.gate.detector]\n{settings}\n"),
        )
        .unwrap();
    };
    // Settings that make no sense are refused by name.
    gate("max_fpr = 2");
    fails(d, &["model", "list"], 2, "model.gate.detector.max_fpr");
    gate("detectors = [\"prada\"]");
    fails(d, &["model", "list"], 2, "model.gate.detector.detectors");
    gate("");
    ok(d, &["model", "sign", "models/digits.onnx"]);
    ok(
        d,
        &[
            "model",
            "register",
            "models/digits.onnx",
            "--name",
            "digits",
        ],
    );
    let detector = |r: &common::Run| -> serde_json::Value {
        r.json()["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["check"] == "detector")
            .cloned()
            .unwrap()
    };
    let promote = || aigis(d, &["--json", "model", "promote", "digits", "1"]);
    // No fit yet: refused, saying how to make one.
    let r = promote();
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    let c = detector(&r);
    assert_eq!(c["passed"], false);
    let detail = c["detail"].as_str().unwrap();
    assert!(
        detail.contains("no detector file calibrated with this version's file")
            && detail.contains("aigis detect fit"),
        "{detail}"
    );
    let fit = |fpr: &str, out: &str| {
        ok(
            d,
            &[
                "detect",
                "fit",
                "train.npy",
                "--model",
                "models/digits.onnx",
                "--image",
                "8x8",
                "--range",
                "0,16",
                "--fpr",
                fpr,
                "-o",
                out,
            ],
        );
    };
    // Fits that do not qualify: for another model, and for too many false positives
    // (named); an ood-only fit without the model does not name the version at all.
    ok(
        d,
        &[
            "detect",
            "fit",
            "other.npy",
            "--model",
            "models/other.onnx",
            "-o",
            "other.detector.json",
        ],
    );
    fit("0.2", "loose.detector.json");
    ok(
        d,
        &["detect", "fit", "train.npy", "-o", "ood.detector.json"],
    );
    let r = promote();
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    let detail = detector(&r)["detail"].as_str().unwrap().to_owned();
    assert!(
        detail.contains("`loose.detector.json`): it was calibrated for 20% false positives")
            && !detail.contains("other.detector.json"),
        "{detail}"
    );
    // Calibrated with the version's own file: promoted, the fit cited.
    fit("0.05", "digits.detector.json");
    let r = promote();
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let c = detector(&r);
    assert_eq!(c["passed"], true);
    let detail = c["detail"].as_str().unwrap();
    assert!(
        detail.starts_with("`digits.detector.json` was calibrated with this version's file: ood, mahalanobis and squeeze for 5% false positives on 150 clean rows"),
        "{detail}"
    );
    assert!(c["evidence"].as_u64().is_some());
    // A gate that wants a detector no fit has: the same fits are left out, by why.
    gate("detectors = [\"squeeze\"]\nmin_calibration_rows = 1000\nstages = [\"staging\"]");
    let r = aigis(
        d,
        &[
            "--json", "model", "promote", "digits", "1", "--stage", "staging",
        ],
    );
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    let detail = detector(&r)["detail"].as_str().unwrap().to_owned();
    assert!(
        detail.contains("its thresholds were set on 150 clean rows"),
        "{detail}"
    );
}
