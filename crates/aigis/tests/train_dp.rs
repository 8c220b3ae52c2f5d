//! `aigis train --dp` as a user runs it: the ε spent is the accountant's for the run's
//! sampling rate, noise and steps; the model written clamps rows into the public bounds
//! as training did (aigis's red team, differentiating it exactly, measures the accuracy
//! training reported); bad settings are refused by name; and a project's privacy budget
//! is charged in the ledger and refuses the run that would overspend it, the table's
//! copies and training without DP included.

use crate::common;

use std::fmt::Write as _;
use std::path::Path;

use common::{Rng, aigis, fails, ok};

/// Two classes in three features within [0, 10] (and one row beyond, in `c`).
fn table(dir: &Path, name: &str, n: usize, seed: u64) {
    let mut rng = Rng(seed);
    let mut csv = String::from("a,b,c,y\n");
    for i in 0..n {
        let y = i % 2;
        let centre = if y == 0 { 3.0 } else { 7.0 };
        let c = if i == 0 {
            1000.0
        } else {
            centre + rng.uniform() - 0.5
        };
        writeln!(
            csv,
            "{:.4},{:.4},{c:.4},{y}",
            centre + 2.0 * (rng.uniform() - 0.5),
            centre + 2.0 * (rng.uniform() - 0.5)
        )
        .unwrap();
    }
    std::fs::write(dir.join(name), csv).unwrap();
}

fn json(dir: &Path, args: &[&str]) -> serde_json::Value {
    let mut all = vec!["--json"];
    all.extend(args);
    serde_json::from_str(&ok(dir, &all).stdout).unwrap()
}

const DP: [&str; 10] = [
    "train",
    "t.csv",
    "--label",
    "y",
    "--dp",
    "--bounds",
    "0:10",
    "--classes",
    "0,1",
    "--hidden",
];

fn dp(extra: &[&str]) -> Vec<String> {
    DP.iter()
        .chain(["8"].iter())
        .chain(extra)
        .map(|s| (*s).to_owned())
        .collect()
}

fn args(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

#[test]
fn a_dp_run_spends_what_the_accountant_says_and_its_model_clamps_as_training_did() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    table(d, "t.csv", 400, 1);
    let v = json(d, &args(&dp(&["--epsilon", "2", "-o", "m.onnx"])));
    let p = &v["dp"];
    // The expected batch is 64 of 400 rows; 30 epochs of it, rounded up.
    let q = p["sampling_rate"].as_f64().unwrap();
    assert!((q - 64.0 / 400.0).abs() < 1e-12, "{v}");
    assert_eq!(p["steps"], (30.0f64 / q).ceil() as u64);
    assert_eq!(p["sampling"], "poisson");
    // The least noise for ε = 2: the spent ε is just under it, by PLD (the tighter).
    let eps = p["epsilon"].as_f64().unwrap();
    assert!(eps <= 2.0 && eps > 1.99, "{v}");
    assert_eq!(p["accountant"], "pld");
    assert!(p["rdp_epsilon"].as_f64().unwrap() > eps);
    // The same numbers from `aigis privacy`: the run's ε for its q, σ and steps.
    let sigma = p["noise_multiplier"].as_f64().unwrap().to_string();
    let steps = p["steps"].to_string();
    let alone = json(
        d,
        &[
            "privacy",
            "epsilon",
            "--sampling-rate",
            &q.to_string(),
            "--steps",
            &steps,
            "--noise-multiplier",
            &sigma,
            "--delta",
            "1e-5",
        ],
    );
    assert_eq!(alone["epsilon"], p["epsilon"], "{alone}");
    // Learned despite the noise.
    let accuracy = v["training_accuracy"].as_f64().unwrap();
    assert!(accuracy > 0.85, "{v}");
    // The written model as the red team sees it: differentiated exactly through its
    // clamp, and as right on the training rows (one beyond the bounds) as training said.
    let r = json(
        d,
        &[
            "redteam",
            "m.onnx",
            "--data",
            "t.csv",
            "--label",
            "y",
            "--attacks",
            "fgsm",
            "--eps",
            "0.01",
        ],
    );
    assert_eq!(r["gradients"], "exact", "{r}");
    assert_eq!(r["clean_accuracy"].as_f64().unwrap(), accuracy, "{r}");
    // A DP run's randomness is the operating system's: two runs differ.
    let w = json(d, &args(&dp(&["--epsilon", "2", "-o", "n.onnx"])));
    assert_ne!(v["sha256"], w["sha256"]);
    // The noise given instead: the ε is what the accountant says of it.
    let g = json(
        d,
        &args(&dp(&["--noise-multiplier", &sigma, "-o", "o.onnx"])),
    );
    assert_eq!(g["dp"]["epsilon"], p["epsilon"], "{g}");
    assert_eq!(g["dp"]["target_epsilon"], serde_json::Value::Null);
}

#[test]
fn dp_settings_that_cannot_keep_the_promise_are_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    table(d, "t.csv", 100, 2);
    let base = [
        "train",
        "t.csv",
        "--label",
        "y",
        "-o",
        "m.onnx",
        "--dp",
        "--classes",
        "0,1",
    ];
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["--epsilon", "1"],
            "public bounds for every feature, and a, b, c have none",
        ),
        (
            vec!["--epsilon", "1", "--bounds", "0:10", "--bounds", "d=0:1"],
            "no feature `d`",
        ),
        (
            vec!["--epsilon", "1", "--bounds", "a=0:10"],
            "b, c have none",
        ),
        (vec!["--epsilon", "1", "--bounds", "5:1"], "--bounds 5:1"),
        (
            vec!["--epsilon", "1", "--bounds", "0:inf"],
            "--bounds 0:inf",
        ),
        (vec!["--bounds", "0:10"], "--dp needs the noise"),
        (vec!["--epsilon", "0", "--bounds", "0:10"], "--epsilon 0"),
        (
            vec!["--noise-multiplier", "0", "--bounds", "0:10"],
            "noise multiplier is 0",
        ),
        (
            vec!["--epsilon", "1", "--bounds", "0:10", "--batch-size", "101"],
            "--batch-size 101",
        ),
        (
            vec!["--epsilon", "1", "--bounds", "0:10", "--sampling-rate", "0"],
            "--sampling-rate 0",
        ),
        (
            vec!["--epsilon", "1", "--bounds", "0:10", "--delta", "1"],
            "--delta 1",
        ),
        (
            vec!["--epsilon", "1", "--bounds", "0:10", "--max-grad-norm", "0"],
            "clipping norm",
        ),
    ];
    for (extra, needle) in cases {
        let mut a = base.to_vec();
        a.extend(extra);
        fails(d, &a, 2, needle);
        assert!(!d.join("m.onnx").exists(), "{a:?} wrote a model");
    }
    // The classes must be given: read from the rows, they are outside the guarantee.
    fails(
        d,
        &[
            "train",
            "t.csv",
            "--label",
            "y",
            "-o",
            "m.onnx",
            "--dp",
            "--epsilon",
            "1",
            "--bounds",
            "0:10",
        ],
        2,
        "--dp needs the label's classes given",
    );
    fails(
        d,
        &[
            "train",
            "t.csv",
            "--label",
            "y",
            "-o",
            "m.onnx",
            "--classes",
            "0,2",
        ],
        2,
        "is 1 at row 2, which is not one of --classes",
    );
    // A class no row has is still a class of the model.
    let v = json(
        d,
        &[
            "train",
            "t.csv",
            "--label",
            "y",
            "-o",
            "m3.onnx",
            "--dp",
            "--epsilon",
            "1",
            "--bounds",
            "0:10",
            "--classes",
            "0,1,2",
        ],
    );
    assert_eq!(v["classes"], serde_json::json!([0.0, 1.0, 2.0]));
    // DP options without --dp are a usage error, not silently ignored.
    fails(
        d,
        &[
            "train",
            "t.csv",
            "--label",
            "y",
            "-o",
            "m.onnx",
            "--epsilon",
            "1",
        ],
        2,
        "--dp",
    );
    // A δ not below 1/rows is said.
    let r = ok(
        d,
        &[
            "train",
            "t.csv",
            "--label",
            "y",
            "-o",
            "m.onnx",
            "--dp",
            "--epsilon",
            "1",
            "--bounds",
            "0:10",
            "--delta",
            "0.02",
            "--classes",
            "0,1",
        ],
    );
    assert!(
        r.stderr.contains("not below one over the 100 rows"),
        "{}",
        r.stderr
    );
}

#[test]
fn a_project_budget_is_charged_in_the_ledger_and_refuses_what_would_overspend_it() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(d, &["init", "--name", "budget"]);
    table(d, "t.csv", 200, 3);
    let mut toml = std::fs::read_to_string(d.join("aigis.toml")).unwrap();
    toml.push_str(
        "\n[[train.budget]]\ndataset = \"clinic\"\npaths = [\"t.csv\"]\nepsilon = 5\ndelta = 1e-4\n",
    );
    std::fs::write(d.join("aigis.toml"), toml).unwrap();
    // A copy of the table is under its budget before any run was charged to it.
    std::fs::copy(d.join("t.csv"), d.join("early.csv")).unwrap();
    fails(
        d,
        &["train", "early.csv", "--label", "y", "-o", "c.onnx"],
        1,
        "under the privacy budget `clinic`",
    );
    let first = json(d, &args(&dp(&["--epsilon", "3", "-o", "a.onnx"])));
    let spent = first["dp"]["epsilon"].as_f64().unwrap();
    assert_eq!(first["budget"]["dataset"], "clinic");
    assert_eq!(first["budget"]["spent_before"]["runs"], 0);
    assert_eq!(first["budget"]["spent"]["epsilon"].as_f64().unwrap(), spent);
    // The evidence: the table and the model by digest, the guarantee and the budget.
    let index = first["evidence"].as_u64().unwrap().to_string();
    let e = json(d, &["evidence", "show", &index]);
    let s = &e["statement"];
    assert_eq!(
        s["predicateType"],
        "https://aigis.dev/predicate/training/v1"
    );
    assert_eq!(s["subject"][0]["name"], "data:t.csv");
    assert_eq!(
        format!(
            "sha256:{}",
            s["subject"][1]["digest"]["sha256"].as_str().unwrap()
        ),
        first["sha256"].as_str().unwrap()
    );
    let promised = &s["predicate"]["dp"];
    assert_eq!(promised["budget"], "clinic");
    assert_eq!(promised["epsilon"].as_f64().unwrap(), spent);
    assert_eq!(
        promised["noise_multiplier"],
        first["dp"]["noise_multiplier"]
    );
    assert_eq!(
        promised["bounds_high"],
        serde_json::json!([10.0, 10.0, 10.0])
    );
    // A second ε = 3 would pass 5: refused (a failed check, exit 1), no model written.
    let r = fails(
        d,
        &args(&dp(&["--epsilon", "3", "-o", "b.onnx"])),
        1,
        "privacy budget `clinic`",
    );
    assert!(r.stderr.contains("1 earlier run(s)"), "{}", r.stderr);
    assert!(!d.join("b.onnx").exists());
    // Without DP the table would spend an unbounded ε.
    fails(
        d,
        &["train", "t.csv", "--label", "y", "-o", "c.onnx"],
        1,
        "without --dp",
    );
    // A copy elsewhere is the same table: charged to the same budget.
    std::fs::create_dir(d.join("elsewhere")).unwrap();
    std::fs::copy(d.join("t.csv"), d.join("elsewhere/copy.csv")).unwrap();
    let mut copy = dp(&["--epsilon", "3", "-o", "d.onnx"]);
    copy[1] = "elsewhere/copy.csv".to_owned();
    let copy = args(&copy);
    fails(d, &copy, 1, "privacy budget `clinic`");
    // What is left may be spent, and then nothing is.
    let second = json(d, &args(&dp(&["--epsilon", "1.5", "-o", "e.onnx"])));
    assert_eq!(second["budget"]["spent_before"]["runs"], 1);
    fails(
        d,
        &args(&dp(&["--epsilon", "0.6", "-o", "f.onnx"])),
        1,
        "privacy budget `clinic`",
    );
    // A table under no budget trains as before, and the ledger verifies.
    table(d, "other.csv", 60, 4);
    ok(d, &["train", "other.csv", "--label", "y", "-o", "g.onnx"]);
    ok(d, &["ledger", "verify"]);
    // A budget that is not one is refused by name.
    let mut toml = std::fs::read_to_string(d.join("aigis.toml")).unwrap();
    toml.push_str(
        "\n[[train.budget]]\ndataset = \"x\"\npaths = [\"other.csv\"]\nepsilon = -1\ndelta = 0\n",
    );
    std::fs::write(d.join("aigis.toml"), toml).unwrap();
    fails(
        d,
        &["train", "other.csv", "--label", "y", "-o", "g.onnx"],
        2,
        "`epsilon` is -1",
    );
}

#[test]
fn a_table_under_no_project_trains_without_a_ledger() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    table(d, "t.csv", 100, 5);
    let v = json(d, &args(&dp(&["--noise-multiplier", "1", "-o", "m.onnx"])));
    assert_eq!(v["evidence"], serde_json::Value::Null);
    assert_eq!(v["budget"], serde_json::Value::Null);
    let r = aigis(d, &args(&dp(&["--noise-multiplier", "1", "-o", "m.onnx"])));
    assert!(r.stdout.contains("DP-SGD: ε = "), "{}", r.stdout);
    assert!(r.stdout.contains("outside the guarantee"), "{}", r.stdout);
}
