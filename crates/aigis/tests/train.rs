//! `aigis train` as a user runs it: a table in, an ONNX model out that aigis's other
//! commands run (here `aigis redteam`, with the graph's exact gradients), the same model
//! for the same seed, and bad tables refused. (onnxruntime and scikit-learn on the same
//! tables: `scripts/train_vs_sklearn.py`.)

use crate::common;

use std::fmt::Write as _;
use std::path::Path;

use common::{Rng, aigis, fails, ok};

/// Three clusters in four features (one of them constant-offset), `n` rows.
fn clusters(dir: &Path, name: &str, n: usize, seed: u64) {
    let mut rng = Rng(seed);
    let mut csv = String::from("a,b,c,d,y\n");
    for i in 0..n {
        let c = i % 3;
        let row: Vec<String> = (0..4)
            .map(|j| {
                let centre = if j == c { 2.0 } else { -1.0 } + 5.0 * j as f64;
                format!("{:.5}", centre + rng.uniform() - 0.5)
            })
            .collect();
        writeln!(csv, "{},{c}", row.join(",")).unwrap();
    }
    std::fs::write(dir.join(name), csv).unwrap();
}

fn json(dir: &Path, args: &[&str]) -> serde_json::Value {
    let mut all = vec!["--json"];
    all.extend(args);
    serde_json::from_str(&ok(dir, &all).stdout).unwrap()
}

#[test]
fn a_trained_model_is_written_as_onnx_that_aigis_runs() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    clusters(d, "train.csv", 300, 1);
    clusters(d, "test.csv", 150, 2);
    for (model, hidden) in [("mlp", 100), ("softmax", 0)] {
        let out = format!("{model}.onnx");
        let v = json(
            d,
            &[
                "train",
                "train.csv",
                "--label",
                "y",
                "--model",
                model,
                "-o",
                &out,
            ],
        );
        assert_eq!(v["hidden"], hidden);
        assert_eq!(v["rows"], 300);
        assert_eq!(v["classes"], serde_json::json!([0.0, 1.0, 2.0]));
        assert_eq!(v["features"], serde_json::json!(["a", "b", "c", "d"]));
        let bytes = std::fs::read(d.join(&out)).unwrap();
        assert_eq!(
            v["sha256"].as_str().unwrap(),
            format!(
                "sha256:{}",
                hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&bytes))
            )
        );
        assert!(v["training_accuracy"].as_f64().unwrap() > 0.95, "{v}");
        // The model as aigis's red team sees it: differentiated exactly, right on the
        // held-out rows, and on the training rows as right as training said.
        for (data, floor) in [("test.csv", 0.95), ("train.csv", 0.95)] {
            let r = json(
                d,
                &[
                    "redteam",
                    &out,
                    "--data",
                    data,
                    "--label",
                    "y",
                    "--attacks",
                    "fgsm",
                    "--eps",
                    "0.01",
                ],
            );
            assert_eq!(r["gradients"], "exact", "{r}");
            let clean = r["clean_accuracy"].as_f64().unwrap();
            assert!(clean >= floor, "{model} on {data}: {clean}");
            if data == "train.csv" {
                assert_eq!(clean, v["training_accuracy"].as_f64().unwrap(), "{model}");
            }
        }
    }
}

#[test]
fn the_same_seed_trains_the_same_model() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    clusters(d, "train.csv", 120, 3);
    let sha = |seed: &str, out: &str| {
        json(
            d,
            &[
                "train",
                "train.csv",
                "--label",
                "y",
                "--seed",
                seed,
                "--hidden",
                "8",
                "-o",
                out,
            ],
        )["sha256"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(sha("5", "a.onnx"), sha("5", "b.onnx"));
    assert_ne!(sha("5", "a.onnx"), sha("6", "c.onnx"));
    let r = ok(
        d,
        &[
            "train",
            "train.csv",
            "--label",
            "y",
            "--hidden",
            "8",
            "-o",
            "d.onnx",
        ],
    );
    assert!(
        r.stdout.contains("class indices: 0 = 0, 1 = 1, 2 = 2"),
        "{}",
        r.stdout
    );
}

#[test]
fn tables_that_cannot_train_a_classifier_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    clusters(d, "train.csv", 60, 4);
    std::fs::write(d.join("one.csv"), "a,y\n1,0\n2,0\n3,0\n").unwrap();
    std::fs::write(d.join("gap.csv"), "a,b,y\n1,2,0\n3,,1\n").unwrap();
    std::fs::write(d.join("text.csv"), "a,y\n1,cat\n2,dog\n").unwrap();
    fails(
        d,
        &["train", "train.csv", "--label", "a", "-o", "m.onnx"],
        2,
        "continuous target",
    );
    fails(
        d,
        &["train", "one.csv", "--label", "y", "-o", "m.onnx"],
        2,
        "nothing to learn",
    );
    fails(
        d,
        &["train", "gap.csv", "--label", "y", "-o", "m.onnx"],
        2,
        "row 2",
    );
    fails(
        d,
        &["train", "text.csv", "--label", "y", "-o", "m.onnx"],
        2,
        "label `y`",
    );
    fails(
        d,
        &[
            "train",
            "train.csv",
            "--label",
            "y",
            "--model",
            "logistic",
            "-o",
            "m.onnx",
        ],
        2,
        "--model logistic is for two classes",
    );
    fails(
        d,
        &[
            "train",
            "train.csv",
            "--label",
            "y",
            "--epochs",
            "0",
            "-o",
            "m.onnx",
        ],
        2,
        "--epochs 0",
    );
    fails(
        d,
        &["train", "train.csv", "--label", "nope", "-o", "m.onnx"],
        2,
        "nope",
    );
    fails(
        d,
        &["train", "missing.csv", "--label", "y", "-o", "m.onnx"],
        2,
        "missing.csv",
    );
    fails(
        d,
        &[
            "train",
            "train.csv",
            "--label",
            "y",
            "--model",
            "softmax",
            "--hidden",
            "5",
            "-o",
            "m.onnx",
        ],
        2,
        "--hidden 5 is for --model mlp",
    );
    fails(
        d,
        &[
            "train",
            "train.csv",
            "--label",
            "y",
            "--hidden",
            "0",
            "-o",
            "m.onnx",
        ],
        2,
        "--hidden 0",
    );
    assert!(!d.join("m.onnx").exists());
    // Too few epochs to settle is said.
    let r = aigis(
        d,
        &[
            "train",
            "train.csv",
            "--label",
            "y",
            "--epochs",
            "2",
            "-o",
            "m.onnx",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("before its loss settled"), "{}", r.stderr);
}

#[test]
fn a_project_that_requires_signed_data_trains_only_on_what_was_signed() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(d, &["init", "--name", "signed"]);
    let mut toml = std::fs::read_to_string(d.join("aigis.toml")).unwrap();
    toml.push_str("\n[train]\nrequire_signed_data = true\n");
    std::fs::write(d.join("aigis.toml"), toml).unwrap();
    clusters(d, "t.csv", 90, 7);
    let train = [
        "train", "t.csv", "--label", "y", "--hidden", "4", "-o", "m.onnx",
    ];
    fails(d, &train, 1, "has no signed manifest");
    assert!(!d.join("m.onnx").exists());
    let signed = json(d, &["data", "sign", "t.csv"]);
    let mut all = vec!["--json"];
    all.extend(train);
    let v: serde_json::Value = serde_json::from_str(&ok(d, &all).stdout).unwrap();
    assert_eq!(v["data_manifest"]["root"], signed["root"], "{v}");
    assert_eq!(v["data_manifest"]["evidence"], signed["index"], "{v}");
    let index = v["evidence"].as_u64().unwrap().to_string();
    let e = json(d, &["evidence", "show", &index]);
    assert_eq!(
        e["statement"]["predicate"]["data_manifest"]["root"],
        signed["root"]
    );
    // One row appended: not what was signed, refused, no model.
    let mut csv = std::fs::read_to_string(d.join("t.csv")).unwrap();
    csv.push_str("0,5,10,15,0\n");
    std::fs::write(d.join("t.csv"), &csv).unwrap();
    let again = [
        "train", "t.csv", "--label", "y", "--hidden", "4", "-o", "n.onnx",
    ];
    fails(d, &again, 1, "is not what");
    assert!(!d.join("n.onnx").exists());
    // A manifest signed in another project (its key, its ledger) is not this one's.
    let other = tempfile::tempdir().unwrap();
    let o = other.path();
    ok(o, &["init", "--name", "other"]);
    std::fs::write(o.join("t.csv"), &csv).unwrap();
    ok(o, &["data", "sign", "t.csv"]);
    std::fs::copy(
        o.join("t.csv.aigis-manifest.json"),
        d.join("t.csv.aigis-manifest.json"),
    )
    .unwrap();
    fails(d, &again, 1, "does not verify");
    // --manifest with no project to check it against is a usage error.
    let bare = tempfile::tempdir().unwrap();
    clusters(bare.path(), "t.csv", 30, 8);
    fails(
        bare.path(),
        &[
            "train",
            "t.csv",
            "--label",
            "y",
            "--manifest",
            "x.json",
            "-o",
            "m.onnx",
        ],
        2,
        "--manifest needs a project",
    );
}

/// One robust feature (the classes 2 apart, noise ±0.5) and forty weak ones (±0.15,
/// noise ±1) that together predict well and an L∞ perturbation of 0.3 turns around.
fn robust_and_weak(dir: &Path, name: &str, n: usize, seed: u64) {
    let mut rng = Rng(seed);
    let mut csv: String = (0..41).map(|j| format!("f{j},")).collect();
    csv.push_str("y\n");
    for i in 0..n {
        let c = i % 2;
        let sign = if c == 0 { -1.0 } else { 1.0 };
        let mut row = vec![format!("{:.5}", sign + rng.uniform() - 0.5)];
        row.extend((0..40).map(|_| format!("{:.5}", 0.15 * sign + 2.0 * rng.uniform() - 1.0)));
        writeln!(csv, "{},{c}", row.join(",")).unwrap();
    }
    std::fs::write(dir.join(name), csv).unwrap();
}

#[test]
fn adversarial_training_raises_the_accuracy_the_red_team_measures() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    robust_and_weak(d, "train.csv", 600, 9);
    robust_and_weak(d, "test.csv", 300, 10);
    let common = ["train", "train.csv", "--label", "y", "--hidden", "16"];
    let mut plain = common.to_vec();
    plain.extend(["-o", "plain.onnx"]);
    json(d, &plain);
    let mut robust = common.to_vec();
    robust.extend([
        "--adversarial-eps",
        "0.3",
        "--clip",
        "-3,3",
        "-o",
        "robust.onnx",
    ]);
    let v = json(d, &robust);
    assert_eq!(v["adversarial"]["method"], "pgd", "{v}");
    assert_eq!(v["adversarial"]["steps"], 10);
    assert_eq!(v["adversarial"]["step_size"], 0.075);
    assert_eq!(v["adversarial"]["clip"], serde_json::json!([-3.0, 3.0]));
    let under_pgd = |model: &str| {
        json(
            d,
            &[
                "redteam",
                model,
                "--data",
                "test.csv",
                "--label",
                "y",
                "--attacks",
                "pgd",
                "--eps",
                "0.3",
                "--clip",
                "-3,3",
            ],
        )["attacks"][0]["robust_accuracy"]
            .as_f64()
            .unwrap()
    };
    let mut trades = common.to_vec();
    trades.extend([
        "--adversarial-eps",
        "0.3",
        "--trades-beta",
        "6",
        // TRADES converges more slowly than Madry's objective: within the default 200
        // epochs at 0.01, not at the default 0.001.
        "--learning-rate",
        "0.01",
        "-o",
        "trades.onnx",
    ]);
    let t = json(d, &trades);
    assert_eq!(t["adversarial"]["method"], "trades", "{t}");
    assert_eq!(t["adversarial"]["beta"], 6.0);
    let tr = under_pgd("trades.onnx");
    assert!(tr > 0.85, "TRADES's robust accuracy {tr}");
    let (p, r) = (under_pgd("plain.onnx"), under_pgd("robust.onnx"));
    assert!(
        p < 0.5 && r > 0.85,
        "robust accuracy: plain {p}, adversarially trained {r}"
    );
    // Not with DP (its steps and clipping are another training), and a radius must be one.
    let mut dp = common.to_vec();
    dp.extend(["--adversarial-eps", "0.3", "--dp", "-o", "x.onnx"]);
    fails(d, &dp, 2, "--dp");
    let mut zero = common.to_vec();
    zero.extend(["--adversarial-eps", "0", "-o", "x.onnx"]);
    fails(d, &zero, 2, "eps 0");
}

/// `certify`'s certificate recomputed from the votes: the winner's lead over the
/// runner-up (counted one more when it is the smaller class), halved.
fn lead(votes: &[u64]) -> (usize, u64) {
    let top = (0..votes.len()).fold(0, |t, c| if votes[c] > votes[t] { c } else { t });
    let rival = (0..votes.len())
        .filter(|&c| c != top)
        .map(|c| votes[c] + u64::from(c < top))
        .max()
        .unwrap();
    (top, votes[top].saturating_sub(rival) / 2)
}

#[test]
fn a_partition_ensembles_certificates_hold_when_that_many_rows_are_poisoned() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    clusters(d, "train.csv", 300, 11);
    clusters(d, "test.csv", 60, 12);
    let base = [
        "train",
        "train.csv",
        "--label",
        "y",
        "--hidden",
        "8",
        "--partitions",
        "9",
    ];
    let mut a = base.to_vec();
    a.extend(["-o", "dpa.onnx"]);
    let v = json(d, &a);
    let sizes: Vec<u64> = v["partitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_u64().unwrap())
        .collect();
    assert_eq!(sizes.len(), 9);
    assert_eq!(sizes.iter().sum::<u64>(), 300);
    let c = json(
        d,
        &["certify", "dpa.onnx", "--data", "test.csv", "--label", "y"],
    );
    assert_eq!(c["partitions"], 9);
    let predictions = c["predictions"].as_array().unwrap();
    assert_eq!(predictions.len(), 60);
    assert!(c["accuracy"].as_f64().unwrap() > 0.9, "{c}");
    for p in predictions {
        let votes: Vec<u64> = p["votes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n.as_u64().unwrap())
            .collect();
        assert_eq!(votes.iter().sum::<u64>(), 9);
        let (class, rho) = lead(&votes);
        assert_eq!(p["class"], class);
        assert_eq!(p["certified_rows"], rho);
    }
    // The curve: certified accuracy falls with the rows poisoned, from the accuracy.
    let curve = c["certified"].as_array().unwrap();
    assert_eq!(curve[0]["accuracy"], c["accuracy"]);
    assert!(
        curve
            .windows(2)
            .all(|w| w[1]["accuracy"].as_f64() <= w[0]["accuracy"].as_f64())
    );
    // The guarantee, tested: for the best-certified row, add that many rows of its own
    // features with another label and retrain: its class does not move.
    let best = predictions
        .iter()
        .max_by_key(|p| p["certified_rows"].as_u64().unwrap())
        .unwrap();
    let rho = best["certified_rows"].as_u64().unwrap();
    assert!(rho >= 2, "{best}");
    let row = best["row"].as_u64().unwrap() as usize;
    let test = std::fs::read_to_string(d.join("test.csv")).unwrap();
    let line = test.lines().nth(row).unwrap();
    let (features, label) = line.rsplit_once(',').unwrap();
    let wrong = (label.parse::<usize>().unwrap() + 1) % 3;
    let mut poisoned = std::fs::read_to_string(d.join("train.csv")).unwrap();
    for i in 0..rho {
        // Each a different row (a partition of its own hash: the worst case spreads them).
        writeln!(poisoned, "{features}{},{wrong}", "7".repeat(i as usize + 1)).unwrap();
    }
    std::fs::write(d.join("poisoned.csv"), poisoned).unwrap();
    let mut b = base.to_vec();
    b[1] = "poisoned.csv";
    b.extend(["-o", "poisoned.onnx"]);
    json(d, &b);
    let after = json(
        d,
        &[
            "certify",
            "poisoned.onnx",
            "--data",
            "test.csv",
            "--label",
            "y",
        ],
    );
    assert_eq!(
        after["predictions"][row - 1]["class"],
        best["class"],
        "{rho} poisoned rows moved a prediction certified for {rho}"
    );
    // Unlabelled rows: the share certified; a model that is no ensemble is refused.
    std::fs::write(
        d.join("rows.csv"),
        test.lines()
            .map(|l| l.rsplit_once(',').unwrap().0.to_owned() + "\n")
            .collect::<String>(),
    )
    .unwrap();
    let u = json(d, &["certify", "dpa.onnx", "--data", "rows.csv"]);
    assert_eq!(u["accuracy"], serde_json::Value::Null);
    assert_eq!(u["certified"][0]["share"], 1.0);
    ok(d, &["train", "train.csv", "--label", "y", "-o", "one.onnx"]);
    fails(
        d,
        &["certify", "one.onnx", "--data", "test.csv", "--label", "y"],
        2,
        "not a partition ensemble",
    );
    fails(
        d,
        &["certify", "dpa.onnx", "--data", "test.csv"],
        2,
        "name it with --label",
    );
    // In a project, the summary is signed evidence about the model and the table.
    ok(d, &["init", "--name", "certified"]);
    let c = json(
        d,
        &["certify", "dpa.onnx", "--data", "test.csv", "--label", "y"],
    );
    let index = c["evidence"].as_u64().unwrap().to_string();
    let e = json(d, &["evidence", "show", &index]);
    let s = &e["statement"];
    assert_eq!(
        s["predicateType"],
        "https://aigis.dev/predicate/certification/v1"
    );
    assert_eq!(s["subject"][0]["name"], "model:dpa.onnx");
    assert_eq!(s["predicate"]["partitions"], 9);
    assert_eq!(s["predicate"]["accuracy"], c["accuracy"]);
    assert_eq!(
        s["predicate"]["certified"][1]["share"],
        c["certified"][1]["accuracy"]
    );
}

#[test]
fn a_distilled_model_is_written_and_its_temperature_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    clusters(d, "train.csv", 300, 13);
    let v = json(
        d,
        &[
            "train",
            "train.csv",
            "--label",
            "y",
            "--hidden",
            "16",
            "--learning-rate",
            "0.01",
            "--distill-temperature",
            "20",
            "-o",
            "student.onnx",
        ],
    );
    assert_eq!(v["distillation_temperature"], 20.0);
    assert!(v["training_accuracy"].as_f64().unwrap() > 0.95, "{v}");
    // The student runs at temperature 1: its answers are all but certain.
    let r = json(
        d,
        &[
            "redteam",
            "student.onnx",
            "--data",
            "train.csv",
            "--label",
            "y",
            "--attacks",
            "fgsm",
            "--eps",
            "0.01",
        ],
    );
    assert_eq!(
        r["clean_accuracy"].as_f64().unwrap(),
        v["training_accuracy"].as_f64().unwrap()
    );
    let base = ["train", "train.csv", "--label", "y", "-o", "x.onnx"];
    let mut zero = base.to_vec();
    zero.extend(["--distill-temperature", "0"]);
    fails(d, &zero, 2, "temperature of 0");
    let mut both = base.to_vec();
    both.extend(["--distill-temperature", "20", "--partitions", "3"]);
    fails(d, &both, 2, "--partitions");
}
