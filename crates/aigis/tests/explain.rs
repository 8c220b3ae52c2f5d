//! `aigis explain` as a user runs it, on real scikit-learn exports: exact Shapley values
//! on a ridge regression (the closed form), sampled ones on the digits MLP, permutation
//! importance, the evidence, bad input. (Against shap's KernelExplainer:
//! `scripts/explain_vs_shap.py`.)

use crate::common;

use std::fmt::Write as _;

use common::{aigis, fails, inputs_csv, ok, runtime_model};

#[test]
fn a_linear_model_gets_its_closed_form_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // A background of one row at the origin and rows that are unit vectors: on a linear
    // model each row's value for its one feature is the coefficient, the rest 0.
    let mut bg = String::from("f0,f1,f2,f3,f4,f5,f6,f7,f8,f9\n");
    bg.push_str(&["0"; 10].join(","));
    bg.push('\n');
    std::fs::write(d.join("bg.csv"), &bg).unwrap();
    let mut units = String::from("f0,f1,f2,f3,f4,f5,f6,f7,f8,f9\n");
    for j in 0..10 {
        let row: Vec<&str> = (0..10).map(|k| if k == j { "1" } else { "0" }).collect();
        writeln!(units, "{}", row.join(",")).unwrap();
    }
    std::fs::write(d.join("units.csv"), &units).unwrap();
    let model = runtime_model("diabetes_ridge.onnx");
    let rows = "0,1,2,3,4,5,6,7,8,9";
    let v = ok(
        d,
        &[
            "--json",
            "explain",
            &model,
            "--data",
            "units.csv",
            "--background",
            "bg.csv",
            "--rows",
            rows,
        ],
    )
    .json();
    assert_eq!(v["method"], "exact");
    assert_eq!(v["output"], "variable");
    for (j, r) in v["rows"].as_array().unwrap().iter().enumerate() {
        let shap: Vec<f64> = r["shap"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect();
        let coefficient = r["value"].as_f64().unwrap() - r["base_value"].as_f64().unwrap();
        assert!(r["exact"].as_bool().unwrap());
        for (k, s) in shap.iter().enumerate() {
            let want = if k == j { coefficient } else { 0.0 };
            assert!(
                (s - want).abs() < 1e-3 * coefficient.abs().max(1.0),
                "row {j} feature {k}: {s} vs {want}"
            );
        }
    }
}

#[test]
fn the_digits_mlp_is_explained_by_sampled_coalitions_with_permutation_importance() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(d, &["init"]);
    inputs_csv(d, "digits_mlp.json", "digits.csv", Some("output_label"));
    let model = runtime_model("digits_mlp.onnx");
    let r = ok(
        d,
        &[
            "--json",
            "explain",
            &model,
            "--data",
            "digits.csv",
            "--label",
            "label",
            "--rows",
            "0,3",
            "--samples",
            "600",
            "--repeats",
            "2",
        ],
    );
    let v = r.json();
    assert_eq!(v["method"], "kernel_shap");
    assert_eq!(v["output"], "output_probability");
    // Answered by the model's differentiated graph (checked against the runtime first);
    // under a query budget by the runtime, every query counted: the same values, to the
    // runtime's float32 rounding.
    assert_eq!(v["evaluated_by"], "graph");
    let by_runtime = ok(
        d,
        &[
            "--json",
            "explain",
            &model,
            "--data",
            "digits.csv",
            "--label",
            "label",
            "--rows",
            "0,3",
            "--samples",
            "600",
            "--repeats",
            "2",
            "--query-budget",
            "100000000",
        ],
    )
    .json();
    assert!(
        by_runtime["evaluated_by"]
            .as_str()
            .unwrap()
            .starts_with("runtime")
    );
    assert!(by_runtime["queries"].as_u64().unwrap() > 600);
    for (a, b) in v["rows"]
        .as_array()
        .unwrap()
        .iter()
        .zip(by_runtime["rows"].as_array().unwrap())
    {
        for (x, y) in a["shap"]
            .as_array()
            .unwrap()
            .iter()
            .zip(b["shap"].as_array().unwrap())
        {
            assert!(
                (x.as_f64().unwrap() - y.as_f64().unwrap()).abs() < 1e-5,
                "{x} {y}"
            );
        }
    }
    assert_eq!(v["features"].as_array().unwrap().len(), 64);
    for r in v["rows"].as_array().unwrap() {
        let shap: Vec<f64> = r["shap"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect();
        let sum: f64 = shap.iter().sum();
        let delta = r["value"].as_f64().unwrap() - r["base_value"].as_f64().unwrap();
        assert!(
            (sum - delta).abs() < 1e-9,
            "the values add up to the difference"
        );
        assert!(!r["exact"].as_bool().unwrap());
    }
    // The labels are the model's own answers: accuracy 1 before shuffling.
    assert_eq!(v["permutation"]["score"], 1.0);
    assert_eq!(
        v["permutation"]["importances"].as_array().unwrap().len(),
        64
    );
    // Recorded: aggregates only.
    let index = v["evidence"].as_u64().unwrap();
    let shown = ok(d, &["--json", "evidence", "show", &index.to_string()])
        .json()
        .to_string();
    for needle in [
        "https://aigis.dev/predicate/explanation/v1",
        "mean_abs_shap",
        "model:",
        "data:digits.csv",
    ] {
        assert!(shown.contains(needle), "{needle}: {shown}");
    }
    // Text: the rows and the most important features.
    let r = ok(
        d,
        &[
            "explain",
            &model,
            "--data",
            "digits.csv",
            "--label",
            "label",
            "--rows",
            "1",
            "--samples",
            "300",
            "--repeats",
            "1",
            "--top",
            "3",
        ],
    );
    assert!(
        r.stdout.contains("row 1: output_probability["),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("permutation importance: accuracy 1.0000"),
        "{}",
        r.stdout
    );
}

#[test]
fn bad_input_says_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    inputs_csv(d, "digits_mlp.json", "digits.csv", Some("output_label"));
    let model = runtime_model("digits_mlp.onnx");
    let base = [
        "explain",
        model.as_str(),
        "--data",
        "digits.csv",
        "--label",
        "label",
    ];
    let with = |extra: &[&'static str]| -> Vec<String> {
        base.iter()
            .map(|s| s.to_string())
            .chain(extra.iter().map(|s| s.to_string()))
            .collect()
    };
    let run = |args: Vec<String>| {
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        aigis(d, &refs)
    };
    let r = run(with(&["--rows", "500"]));
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("--rows 500: the data has 40 rows"),
        "{}",
        r.stderr
    );
    let r = run(with(&["--class", "10"]));
    assert!(
        r.code == 2 && r.stderr.contains("has 10 column(s)"),
        "{}",
        r.stderr
    );
    let r = run(with(&["--samples", "10", "--rows", "0"]));
    assert!(
        r.code == 2 && r.stderr.contains("draw at least 128"),
        "{}",
        r.stderr
    );
    // Without --label the label column is taken as a feature: 65 numbers.
    fails(
        d,
        &["explain", &model, "--data", "digits.csv"],
        2,
        "digits_mlp.onnx` takes 64 numbers per row, the data has 65",
    );
    // A label that is not a class index.
    let text = std::fs::read_to_string(d.join("digits.csv"))
        .unwrap()
        .replacen(",4\n", ",4.5\n", 1);
    std::fs::write(d.join("half.csv"), text).unwrap();
    let r = aigis(
        d,
        &[
            "explain",
            &model,
            "--data",
            "half.csv",
            "--label",
            "label",
            "--rows",
            "0",
            "--samples",
            "200",
        ],
    );
    assert!(
        r.code == 2 && r.stderr.contains("class indices 0 to 9"),
        "{}",
        r.stderr
    );
    // A missing label is refused, not scored as a wrong answer.
    let text = std::fs::read_to_string(d.join("digits.csv"))
        .unwrap()
        .replacen(",4\n", ",\n", 1);
    std::fs::write(d.join("hole.csv"), text).unwrap();
    let r = aigis(
        d,
        &[
            "explain",
            &model,
            "--data",
            "hole.csv",
            "--label",
            "label",
            "--rows",
            "0",
            "--samples",
            "200",
        ],
    );
    assert!(
        r.code == 2 && r.stderr.contains("missing or not a number at row"),
        "{}",
        r.stderr
    );
    let help = ok(d, &["explain", "--help"]);
    assert!(help.stdout.contains("Examples:") && help.stdout.contains("--background-size"));
}

/// `--lime`: each row's LIME weights beside its Shapley values, the features named by
/// the row's quartile bin, as many as --top, the same for the same seed; the text lists
/// them.
#[test]
fn lime_weights_come_with_the_rows_bins() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(d, &["init", "-q"]);
    inputs_csv(d, "digits_mlp.json", "digits.csv", Some("output_label"));
    let model = runtime_model("digits_mlp.onnx");
    let run = |seed: &str| {
        ok(
            d,
            &[
                "--json",
                "explain",
                &model,
                "--data",
                "digits.csv",
                "--label",
                "label",
                "--rows",
                "0,1",
                "--samples",
                "300",
                "--lime",
                "--top",
                "5",
                "--lime-samples",
                "2000",
                "--seed",
                seed,
            ],
        )
        .json()
    };
    let v = run("0");
    for row in v["rows"].as_array().unwrap() {
        let lime = &row["lime"];
        let weights = lime["weights"].as_array().unwrap();
        assert_eq!(weights.len(), 5, "{lime}");
        let magnitudes: Vec<f64> = weights
            .iter()
            .map(|w| w["weight"].as_f64().unwrap().abs())
            .collect();
        assert!(
            magnitudes.windows(2).all(|p| p[0] >= p[1]),
            "largest first: {lime}"
        );
        for w in weights {
            let feature = w["feature"].as_str().unwrap();
            assert!(w["condition"].as_str().unwrap().contains(feature), "{w}");
        }
        assert!(lime["score"].as_f64().unwrap() > 0.0, "{lime}");
        assert_eq!(lime["samples"], 2000);
    }
    // The evidence holds LIME's aggregates: each feature's mean absolute weight.
    let shown = ok(
        d,
        &["--json", "evidence", "show", &v["evidence"].to_string()],
    )
    .json()
    .to_string();
    assert!(
        shown.contains("mean_abs_weight") && shown.contains("\"samples\":2000"),
        "{shown}"
    );
    assert_eq!(run("0")["rows"][0]["lime"], v["rows"][0]["lime"]);
    assert_ne!(run("1")["rows"][0]["lime"], v["rows"][0]["lime"]);
    let text = ok(
        d,
        &[
            "explain",
            &model,
            "--data",
            "digits.csv",
            "--label",
            "label",
            "--rows",
            "0",
            "--samples",
            "300",
            "--lime",
            "--top",
            "3",
        ],
    );
    assert!(
        text.stdout
            .contains("LIME (5000 neighbours; local model R²"),
        "{}",
        text.stdout
    );
    // Without --lime, none.
    let none = ok(
        d,
        &[
            "--json",
            "explain",
            &model,
            "--data",
            "digits.csv",
            "--label",
            "label",
            "--rows",
            "0",
            "--samples",
            "300",
        ],
    )
    .json();
    assert!(none["rows"][0]["lime"].is_null());
}

/// `--html`: a self-contained page with each row's bars, LIME's, the mean over the rows
/// and permutation importance; names from the data are escaped.
#[test]
fn the_html_page_draws_the_attributions_and_escapes_names() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    inputs_csv(d, "digits_mlp.json", "digits.csv", Some("output_label"));
    // A column name that would be markup.
    let text = std::fs::read_to_string(d.join("digits.csv")).unwrap();
    std::fs::write(d.join("digits.csv"), text.replacen("f0,", "<b>f0</b>,", 1)).unwrap();
    let model = runtime_model("digits_mlp.onnx");
    ok(
        d,
        &[
            "explain",
            &model,
            "--data",
            "digits.csv",
            "--label",
            "label",
            "--rows",
            "0,1",
            "--samples",
            "300",
            "--lime",
            "--lime-samples",
            "500",
            "--repeats",
            "1",
            "--html",
            "explain.html",
        ],
    );
    let page = std::fs::read_to_string(d.join("explain.html")).unwrap();
    for needle in [
        "Row 0: Shapley values",
        "Row 1: LIME weights",
        "Mean absolute Shapley value",
        "Permutation importance",
        "<svg",
    ] {
        assert!(page.contains(needle), "{needle}");
    }
    assert!(!page.contains("<b>f0</b>") && !page.contains("<script"));
    assert!(page.contains("&lt;b&gt;f0&lt;/b&gt;"));
}
