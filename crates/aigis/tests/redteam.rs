//! `aigis redteam` as a user runs it, on real scikit-learn exports: FGSM and PGD with
//! exact gradients on the digits MLP, estimated ones on a tree ensemble, thresholds, the
//! time budget, the evidence, bad input. (Against IBM ART: `bench/redteam_vs_art.py`.)

use crate::common;

use common::{aigis, fails, inputs_csv, ok, runtime_model};

fn f(v: &serde_json::Value) -> f64 {
    v.as_f64().unwrap()
}

#[test]
fn the_digits_mlp_is_fooled_more_by_pgd_and_by_larger_eps_and_it_is_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(d, &["init"]);
    inputs_csv(d, "digits_mlp.json", "digits.csv", Some("output_label"));
    let model = runtime_model("digits_mlp.onnx");
    let v = ok(
        d,
        &[
            "--json",
            "redteam",
            &model,
            "--data",
            "digits.csv",
            "--label",
            "label",
            "--eps",
            "0.05,0.1",
            "--clip",
            "0,1",
            "--steps",
            "20",
        ],
    )
    .json();
    assert_eq!(v["gradients"], "exact");
    assert_eq!(v["gradients_note"], serde_json::Value::Null);
    assert_eq!(v["output"], "output_probability");
    // The labels are the model's own answers.
    assert_eq!(f(&v["clean_accuracy"]), 1.0);
    let attacks = v["attacks"].as_array().unwrap();
    let names: Vec<(String, f64)> = attacks
        .iter()
        .map(|a| (a["attack"].as_str().unwrap().to_string(), f(&a["eps"])))
        .collect();
    assert_eq!(
        names,
        [
            ("fgsm".into(), 0.05),
            ("fgsm".into(), 0.1),
            ("pgd".into(), 0.05),
            ("pgd".into(), 0.1)
        ]
    );
    let rate = |i: usize| f(&attacks[i]["success_rate"]);
    assert!(rate(1) > rate(0), "a larger eps fools more: {attacks:?}");
    assert!(
        rate(2) >= rate(0) && rate(3) >= rate(1),
        "PGD fools at least as many as FGSM"
    );
    assert!(rate(3) > 0.3 && rate(0) < 0.5, "{attacks:?}");
    for a in attacks {
        let rows = f(&v["rows"]);
        assert_eq!(f(&a["attacked"]), rows);
        // Every row right when clean: robust accuracy is the share not fooled.
        assert!((f(&a["robust_accuracy"]) - (1.0 - f(&a["succeeded"]) / rows)).abs() < 1e-12);
        assert!(f(&a["median_linf"]) <= f(&a["eps"]) + 1e-9);
    }
    assert_eq!(f(&attacks[2]["gradients_per_row"]), 20.0);
    assert_eq!(v["passed"], true);
    let index = v["evidence"].as_u64().unwrap();
    let shown = ok(d, &["--json", "evidence", "show", &index.to_string()])
        .json()
        .to_string();
    for needle in [
        "https://aigis.dev/predicate/redteam/v1",
        "robust_accuracy",
        "data:digits.csv",
    ] {
        assert!(shown.contains(needle), "{needle}: {shown}");
    }

    // Thresholds: robust accuracy under PGD at eps 0.1 is below 0.9: exit 1, said.
    let r = aigis(
        d,
        &[
            "redteam",
            &model,
            "--data",
            "digits.csv",
            "--label",
            "label",
            "--eps",
            "0.1",
            "--clip",
            "0,1",
            "--fail-under",
            "robust-accuracy=0.9",
            "--fail-over",
            "success-rate=1",
            "--html",
            "r.html",
            "--sarif",
            "r.sarif",
        ],
    );
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("FAIL robust-accuracy ≥ 0.9"),
        "{}",
        r.stdout
    );
    assert!(!r.stdout.contains("FAIL success-rate"), "{}", r.stdout);
    // The page draws the curve and says it failed; SARIF holds the one breach.
    let page = std::fs::read_to_string(d.join("r.html")).unwrap();
    assert!(page.contains("<svg") && page.contains("Success rate against ε"));
    assert!(page.contains("FAILED: 1 threshold(s) not met"), "{page}");
    let sarif: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("r.sarif")).unwrap()).unwrap();
    let results = sarif["runs"][0]["results"].as_array().unwrap();
    assert_eq!(results.len(), 1, "{sarif}");
    assert_eq!(results[0]["ruleId"], "redteam.robust-accuracy");
    // Met thresholds pass.
    ok(
        d,
        &[
            "redteam",
            &model,
            "--data",
            "digits.csv",
            "--label",
            "label",
            "--eps",
            "0.01",
            "--attacks",
            "fgsm",
            "--fail-under",
            "robust-accuracy=0.5,clean-accuracy=0.99",
        ],
    );
    // A spent time budget skips the attacks: the verdict is not reached, exit 1.
    let v = aigis(
        d,
        &[
            "--json",
            "redteam",
            &model,
            "--data",
            "digits.csv",
            "--label",
            "label",
            "--time-budget",
            "0",
            "--fail-under",
            "robust-accuracy=0.1",
        ],
    );
    assert_eq!(v.code, 1, "{}", v.stderr);
    let v = v.json();
    assert_eq!(v["passed"], false);
    assert!(
        v["attacks"][0]["skipped"]
            .as_str()
            .unwrap()
            .contains("time budget")
    );
    assert_eq!(v["breaches"][0]["value"], serde_json::Value::Null);
    let v = aigis(
        d,
        &[
            "--json",
            "redteam",
            &model,
            "--data",
            "digits.csv",
            "--label",
            "label",
            "--time-budget",
            "0",
        ],
    );
    assert_eq!(v.code, 1, "a skipped attack fails even without a threshold");
}

#[test]
fn targeted_l2_attacks_push_rows_to_the_target() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    inputs_csv(d, "digits_mlp.json", "digits.csv", Some("output_label"));
    let model = runtime_model("digits_mlp.onnx");
    let v = ok(
        d,
        &[
            "--json",
            "redteam",
            &model,
            "--data",
            "digits.csv",
            "--label",
            "label",
            "--norm",
            "2",
            "--eps",
            "2",
            "--target",
            "3",
            "--attacks",
            "pgd",
            "--restarts",
            "2",
            "--clip",
            "0,1",
        ],
    )
    .json();
    let a = &v["attacks"][0];
    assert_eq!(a["norm"], "l2");
    assert_eq!(a["target"], 3);
    assert_eq!(a["restarts"], 2);
    assert!(
        f(&a["attacked"]) < f(&v["rows"]),
        "rows of class 3 are not attacked"
    );
    assert!(f(&a["success_rate"]) > 0.5, "{a}");
    assert!(f(&a["median_l2"]) <= 2.0 + 1e-9);
}

#[test]
fn a_tree_ensemble_is_attacked_with_estimated_gradients_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    inputs_csv(d, "cancer_gbc.json", "cancer.csv", Some("output_label"));
    let model = runtime_model("cancer_gbc.onnx");
    let r = ok(
        d,
        &[
            "--json",
            "redteam",
            &model,
            "--data",
            "cancer.csv",
            "--label",
            "label",
            "--eps",
            "0.5",
            "--steps",
            "3",
            "--rows",
            "40",
        ],
    );
    let v = r.json();
    assert_eq!(v["gradients"], "estimated");
    assert!(
        v["gradients_note"]
            .as_str()
            .unwrap()
            .contains("TreeEnsembleClassifier")
    );
    let text = ok(
        d,
        &[
            "redteam",
            &model,
            "--data",
            "cancer.csv",
            "--label",
            "label",
            "--eps",
            "0.5",
            "--attacks",
            "fgsm",
            "--rows",
            "40",
        ],
    );
    assert!(
        text.stdout.contains("gradients estimated"),
        "{}",
        text.stdout
    );
    assert!(
        text.stderr.contains("TreeEnsembleClassifier"),
        "{}",
        text.stderr
    );
    // 30 features: 61 queries per gradient, and one to judge the result.
    assert_eq!(f(&v["attacks"][1]["queries_per_row"]), 3.0 * 61.0 + 1.0);
    fails(
        d,
        &[
            "redteam",
            &model,
            "--data",
            "cancer.csv",
            "--label",
            "label",
            "--rows",
            "40",
            "--gradients",
            "exact",
        ],
        2,
        "TreeEnsembleClassifier",
    );
}

#[test]
fn bad_input_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    inputs_csv(d, "digits_mlp.json", "digits.csv", Some("output_label"));
    let model = runtime_model("digits_mlp.onnx");
    let base = [
        "redteam",
        model.as_str(),
        "--data",
        "digits.csv",
        "--label",
        "label",
    ];
    let with = |extra: &[&'static str]| -> Vec<String> {
        base.iter().chain(extra).map(|s| s.to_string()).collect()
    };
    let fails = |args: &[String], code: i32, needle: &str| {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        fails(d, &args, code, needle)
    };
    fails(&with(&["--target", "10"]), 2, "--target 10");
    fails(&with(&["--eps=-1"]), 2, "positive");
    fails(&with(&["--clip", "1,0"]), 2, "empty");
    fails(&with(&["--steps", "0"]), 2, "at least one step");
    fails(
        &with(&["--fail-under", "accuracy=0.5"]),
        2,
        "robust-accuracy",
    );
    common::fails(
        d,
        &["redteam", &model, "--data", "digits.csv", "--label", "nope"],
        2,
        "nope",
    );
    // Labels that are not class indices.
    let text = std::fs::read_to_string(d.join("digits.csv")).unwrap();
    let bad = text.replacen(",0\n", ",12\n", 1);
    std::fs::write(d.join("bad.csv"), bad).unwrap();
    common::fails(
        d,
        &["redteam", &model, "--data", "bad.csv", "--label", "label"],
        2,
        "class indices 0 to 9",
    );
    // A regressor has no classes to attack.
    inputs_csv(d, "diabetes_ridge.json", "diabetes.csv", None);
    let ridge = runtime_model("diabetes_ridge.onnx");
    common::fails(
        d,
        &[
            "redteam",
            &ridge,
            "--data",
            "diabetes.csv",
            "--label",
            "label",
        ],
        2,
        "class scores",
    );
}

#[test]
fn a_row_with_a_missing_value_is_refused_by_its_number() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // The fixture's last two rows hold missing values.
    inputs_csv(d, "cancer_gbc.json", "cancer.csv", Some("output_label"));
    let model = runtime_model("cancer_gbc.onnx");
    fails(
        d,
        &[
            "redteam",
            &model,
            "--data",
            "cancer.csv",
            "--label",
            "label",
        ],
        2,
        "row 41 of `cancer.csv` holds a value that is not a finite number",
    );
}

fn redteam_fixture(name: &str) -> String {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/data/redteam")
        .join(name);
    p.display().to_string()
}

#[test]
fn membership_inference_tells_an_overfit_models_training_rows_and_is_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(d, &["init"]);
    let (model, members, non) = (
        redteam_fixture("mia_target.onnx"),
        redteam_fixture("mia_members.csv"),
        redteam_fixture("mia_non_members.csv"),
    );
    let refs = format!(
        "{},{}",
        redteam_fixture("mia_ref0.onnx"),
        redteam_fixture("mia_ref1.onnx")
    );
    let args = [
        "--json",
        "redteam",
        &model,
        "--label",
        "label",
        "--members",
        &members,
        "--non-members",
        &non,
        "--reference",
        &refs,
    ];
    let v = ok(d, &args).json();
    let m = &v["membership"];
    assert_eq!(m["members"], 150);
    assert_eq!(m["non_members"], 150);
    assert_eq!(m["references"], 2);
    let attacks = m["attacks"].as_array().unwrap();
    let names: Vec<&str> = attacks
        .iter()
        .map(|a| a["attack"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["loss", "confidence", "reference", "lira_offline"]);
    for a in attacks {
        // An MLP fitted to 150 rows until it is sure of them: its training rows show.
        assert!(f(&a["auc"]) > 0.6, "{a}");
        assert!(f(&a["tpr_at_1_pct_fpr"]) >= f(&a["tpr_at_0_1_pct_fpr"]));
        assert!(f(&a["advantage"]) > 0.2, "{a}");
    }
    // No evasion ran: no rows, no gradients.
    assert_eq!(v["rows"], 0);
    assert_eq!(v["gradients"], serde_json::Value::Null);
    let roc = &v["membership_roc"][0]["points"];
    let page = aigis(d, &[&args[1..], &["--html", "m.html"]].concat());
    assert_eq!(page.code, 0, "{}", page.stderr);
    let page = std::fs::read_to_string(d.join("m.html")).unwrap();
    assert!(page.contains("ROC on log-log axes") && page.contains("lira_offline"));
    assert_eq!(roc[0], serde_json::json!([0.0, 0.0]));
    assert_eq!(
        roc[roc.as_array().unwrap().len() - 1],
        serde_json::json!([1.0, 1.0])
    );
    let index = v["evidence"].as_u64().unwrap();
    let shown = ok(d, &["--json", "evidence", "show", &index.to_string()])
        .json()
        .to_string();
    assert!(shown.contains("tpr_at_0_1_pct_fpr") && shown.contains("mia_members.csv"));

    // The same rows as members and non-members: no attack can tell them, AUC one half.
    let v = ok(
        d,
        &[
            "--json",
            "redteam",
            &model,
            "--label",
            "label",
            "--members",
            &members,
            "--non-members",
            &members,
        ],
    )
    .json();
    for a in v["membership"]["attacks"].as_array().unwrap() {
        assert_eq!(f(&a["auc"]), 0.5, "{a}");
    }

    // Thresholds on the leak: exit 1 above, said; a measure not taken fails.
    let r = aigis(d, &[&args[1..], &["--fail-over", "mia-auc=0.6"]].concat());
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stdout.contains("FAIL mia-auc ≤ 0.6"), "{}", r.stdout);
    ok(
        d,
        &[&args[1..], &["--fail-over", "mia-tpr-at-0.001=0.5"]].concat(),
    );
    let r = aigis(
        d,
        &[&args[1..], &["--fail-under", "robust-accuracy=0.1"]].concat(),
    );
    assert_eq!(r.code, 1);
    assert!(r.stdout.contains("not measured"), "{}", r.stdout);
    // Both sets, or neither.
    let r = aigis(
        d,
        &["redteam", &model, "--label", "label", "--members", &members],
    );
    assert_eq!(r.code, 2);
    fails(d, &["redteam", &model, "--label", "label"], 2, "--data");
    // A reference that answers other classes.
    fails(
        d,
        &[
            "redteam",
            &model,
            "--label",
            "label",
            "--members",
            &members,
            "--non-members",
            &non,
            "--reference",
            &runtime_model("cancer_gbc.onnx"),
        ],
        2,
        "cancer_gbc.onnx",
    );
}

#[test]
fn the_model_card_cites_the_evidence_about_its_file_and_says_what_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(d, &["init"]);
    std::fs::copy(runtime_model("digits_mlp.onnx"), d.join("digits.onnx")).unwrap();
    inputs_csv(d, "digits_mlp.json", "digits.csv", Some("output_label"));
    ok(d, &["model", "sign", "digits.onnx"]);
    let v = ok(
        d,
        &[
            "--json",
            "model",
            "register",
            "digits.onnx",
            "--name",
            "digits",
        ],
    )
    .json();
    assert_eq!(v["version"], 1, "{v}");
    // Before any validation: the card says what is missing and how to record it.
    let card = ok(d, &["--json", "model", "card", "digits", "1"]).json();
    let missing: Vec<&str> = card["missing"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["how"].as_str().unwrap())
        .collect();
    assert!(
        missing
            .iter()
            .any(|h| h.contains("aigis redteam digits.onnx")),
        "{missing:?}"
    );
    assert!(
        missing
            .iter()
            .any(|h| h.contains("aigis explain digits.onnx"))
    );
    // The red team and an explanation of the same file, then the card again.
    let red = ok(
        d,
        &[
            "--json",
            "redteam",
            "digits.onnx",
            "--data",
            "digits.csv",
            "--label",
            "label",
            "--eps",
            "0.1",
            "--clip",
            "0,1",
        ],
    )
    .json()["evidence"]
        .as_u64()
        .unwrap();
    let explained = ok(
        d,
        &[
            "--json",
            "explain",
            "digits.onnx",
            "--data",
            "digits.csv",
            "--label",
            "label",
            "--rows",
            "0",
            "--samples",
            "200",
            "--repeats",
            "1",
        ],
    )
    .json()["evidence"]
        .as_u64()
        .unwrap();
    // A red team of another model does not belong on this card.
    inputs_csv(d, "wine_minmax_mlp.json", "wine.csv", Some("output_label"));
    ok(
        d,
        &[
            "redteam",
            &runtime_model("wine_minmax_mlp.onnx"),
            "--data",
            "wine.csv",
            "--label",
            "label",
            "--eps",
            "0.1",
        ],
    );
    let card = ok(d, &["--json", "model", "card", "digits", "1"]).json();
    let lines: Vec<(String, u64)> = card["sections"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["statements"].as_array().unwrap().clone())
        .map(|l| {
            (
                l["text"].as_str().unwrap().to_string(),
                l["evidence"].as_u64().unwrap(),
            )
        })
        .collect();
    let cites = |needle: &str| {
        lines
            .iter()
            .filter(|(t, _)| t.contains(needle))
            .map(|(_, e)| *e)
            .collect::<Vec<_>>()
    };
    assert_eq!(cites("Red team:"), [red], "{lines:?}");
    assert_eq!(cites("Explanations ("), [explained], "{lines:?}");
    assert_eq!(cites("Registered as digits version 1").len(), 1);
    assert_eq!(cites("verified").len(), 1, "{lines:?}");
    assert_eq!(cites("worst verdict safe").len(), 1, "{lines:?}");
    let missing = card["missing"].to_string();
    assert!(
        !missing.contains("aigis redteam") && !missing.contains("aigis explain"),
        "{missing}"
    );
    assert!(
        missing.contains("fairness") && missing.contains("training"),
        "{missing}"
    );
    assert_eq!(card["not_counted"], serde_json::json!([]));
    // Markdown: every statement cites its entry.
    let md = ok(d, &["model", "card", "digits", "1", "-o", "card.md"]);
    assert!(md.stdout.is_empty());
    let text = std::fs::read_to_string(d.join("card.md")).unwrap();
    assert!(text.starts_with("# Model card: digits version 1"), "{text}");
    assert!(text.contains(&format!("(evidence #{red},")), "{text}");
    assert!(text.contains("## Missing evidence"));
    // A version that does not exist.
    fails(d, &["model", "card", "digits", "7"], 2, "7");
}

#[test]
fn hopskipjump_fools_a_tree_ensemble_from_its_answers_alone_within_its_query_budget() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    inputs_csv(d, "cancer_gbc.json", "cancer.csv", Some("output_label"));
    let model = runtime_model("cancer_gbc.onnx");
    let run = |extra: &[&str]| {
        let base = [
            "--json",
            "redteam",
            &model,
            "--data",
            "cancer.csv",
            "--label",
            "label",
            "--rows",
            "10",
            "--attacks",
            "hsj",
            "--norm",
            "2",
            "--iterations",
            "5",
        ];
        ok(d, &[&base[..], extra].concat()).json()
    };
    // No gradient is needed, so none is asked for: even --gradients exact runs.
    let v = run(&["--eps", "0.001,1000000", "--gradients", "exact"]);
    assert_eq!(v["gradients"], "none");
    let (small, large) = (&v["attacks"][0], &v["attacks"][1]);
    assert_eq!(small["attack"], "hsj");
    // Without --clip the starting points are drawn in each feature's own range in the
    // rows: every row finds one (drawn over the range of all features alike, one of the
    // ten kept its class), and the boundary is near.
    assert_eq!(f(&large["success_rate"]), 1.0, "{large}");
    assert!(f(&large["median_l2"]) < 1.0, "{large}");
    assert!(
        f(&small["success_rate"]) < 1.0,
        "a tiny eps does not fool every row: {small}"
    );
    assert!(f(&large["median_l2"]) > 0.0);
    // One run for both eps: the same time and queries.
    assert_eq!(small["seconds"], large["seconds"]);
    assert_eq!(small["queries_per_row"], large["queries_per_row"]);
    // A query budget per row is honoured (and one query to judge the result).
    let v = run(&["--eps", "1000000", "--max-queries", "300"]);
    assert!(f(&v["attacks"][0]["queries_per_row"]) <= 301.0, "{v}");
}

/// A registry version is named `NAME@VERSION` or `NAME@STAGE`: its stored bytes are
/// attacked, the evidence names the version's file by digest, and its card counts it.
#[test]
fn a_registry_version_is_red_teamed_by_name_and_its_card_counts_it() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(d, &["init"]);
    inputs_csv(d, "digits_mlp.json", "digits.csv", Some("output_label"));
    std::fs::copy(runtime_model("digits_mlp.onnx"), d.join("digits.onnx")).unwrap();
    ok(d, &["model", "sign", "digits.onnx"]);
    ok(d, &["model", "register", "digits.onnx", "--name", "digits"]);
    let run = |spec: &str| {
        ok(
            d,
            &[
                "--json",
                "redteam",
                spec,
                "--data",
                "digits.csv",
                "--label",
                "label",
                "--attacks",
                "fgsm",
                "--clip",
                "0,1",
            ],
        )
        .json()
    };
    let v = run("digits@1");
    let digest = {
        use sha2::Digest as _;
        hex::encode(sha2::Sha256::digest(
            std::fs::read(d.join("digits.onnx")).unwrap(),
        ))
    };
    assert_eq!(v["target"]["kind"], "registry", "{v}");
    assert_eq!(v["target"]["version"], 1);
    assert_eq!(v["target"]["file"], "digits.onnx");
    assert!(
        v["target"]["sha256"].as_str().unwrap().ends_with(&digest),
        "{v}"
    );
    assert_eq!(
        v["gradients"], "exact",
        "the stored graph is differentiated"
    );
    // The same figures as the file itself.
    let file = run("digits.onnx");
    let without_time = |v: &serde_json::Value| {
        let mut a = v["attacks"].clone();
        a[0]["seconds"] = serde_json::Value::Null;
        a
    };
    assert_eq!(without_time(&v), without_time(&file));
    // The card of version 1 counts the red team (it names the version's file).
    let index = v["evidence"].as_u64().unwrap();
    let card = ok(d, &["--json", "model", "card", "digits", "1"]).json();
    assert!(
        card.to_string().contains(&format!("\"evidence\":{index}")),
        "the card cites the red team #{index}: {card}"
    );
    // Named by its stage once the gate put it there.
    ok(
        d,
        &["model", "promote", "digits", "1", "--stage", "staging"],
    );
    let v = run("digits@staging");
    assert_eq!(v["target"]["version"], 1);
    assert_eq!(v["target"]["stage"], "staging");
    // What is not there is named.
    fails(
        d,
        &[
            "redteam",
            "digits@7",
            "--data",
            "digits.csv",
            "--label",
            "label",
        ],
        2,
        "version 7",
    );
    fails(
        d,
        &[
            "redteam",
            "digits@production",
            "--data",
            "digits.csv",
            "--label",
            "label",
        ],
        2,
        "no version of `digits` is at stage `production`",
    );
    // A version of several models: which one is named, or the run says how.
    std::fs::create_dir(d.join("pair")).unwrap();
    std::fs::copy(runtime_model("digits_mlp.onnx"), d.join("pair/digits.onnx")).unwrap();
    std::fs::copy(
        runtime_model("wine_minmax_mlp.onnx"),
        d.join("pair/wine.onnx"),
    )
    .unwrap();
    ok(d, &["model", "sign", "pair"]);
    ok(d, &["model", "register", "pair", "--name", "pair"]);
    let base = ["redteam", "--data", "digits.csv", "--label", "label"];
    fails(
        d,
        &[&base[..], &["pair@1"]].concat(),
        2,
        "several `.onnx` files (digits.onnx, wine.onnx): name one with --model-file",
    );
    let v = ok(
        d,
        &[
            "--json",
            "redteam",
            "pair@1",
            "--model-file",
            "digits.onnx",
            "--data",
            "digits.csv",
            "--label",
            "label",
            "--attacks",
            "fgsm",
            "--clip",
            "0,1",
        ],
    )
    .json();
    assert_eq!(v["target"]["file"], "digits.onnx", "{v}");
    assert_eq!(without_time(&v), without_time(&file));
    fails(
        d,
        &[&base[..], &["pair@1", "--model-file", "nope.onnx"]].concat(),
        2,
        "has no file `nope.onnx`",
    );
    fails(
        d,
        &[&base[..], &["digits.onnx", "--model-file", "digits.onnx"]].concat(),
        2,
        "--model-file names a file of a registry version",
    );
    // Outside a project there is no registry: said, not "no such file".
    let outside = tempfile::tempdir().unwrap();
    std::fs::copy(d.join("digits.csv"), outside.path().join("digits.csv")).unwrap();
    fails(
        outside.path(),
        &[
            "redteam",
            "digits@1",
            "--data",
            "digits.csv",
            "--label",
            "label",
        ],
        2,
        "registry version",
    );
}

/// The aigis gateway serving the digits model, red-teamed over HTTP as a caller sees it:
/// the same answers as the file (gradients estimated from answers on both sides), with
/// its API key from the environment; no key, a plain-http remote host and a spent query
/// budget are each said.
#[test]
fn a_served_model_is_red_teamed_through_the_gateway_as_the_file_is() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(d, &["init", "-q"]);
    std::fs::create_dir(d.join("models")).unwrap();
    std::fs::copy(
        runtime_model("digits_mlp.onnx"),
        d.join("models/digits.onnx"),
    )
    .unwrap();
    ok(d, &["model", "sign", "models/digits.onnx"]);
    let key = ok(d, &["keys", "api", "new", "--name", "ci", "--json"]).json();
    let (token, hash) = (
        key["key"].as_str().unwrap(),
        key["sha256"].as_str().unwrap(),
    );
    let mut text = std::fs::read_to_string(d.join("aigis.toml")).unwrap();
    text.push_str(&format!(
        "\n[serve]\nplain = true\n\n[[serve.models]]\nname = \"digits\"\npath = \"models/digits.onnx\"\n\n[[serve.api_keys]]\nname = \"ci\"\nsha256 = \"{hash}\"\n"
    ));
    std::fs::write(d.join("aigis.toml"), text).unwrap();
    inputs_csv(d, "digits_mlp.json", "digits.csv", Some("output_label"));
    let (mut server, address) = common::serve(d, &[]);
    let url = format!("{address}/v2/models/digits");
    let attack = |model: &str, extra: &[&str]| {
        let base = [
            "--json",
            "redteam",
            model,
            "--data",
            "digits.csv",
            "--label",
            "label",
            "--rows",
            "12",
            "--attacks",
            "fgsm,hsj",
            "--eps",
            "0.1",
            "--clip",
            "0,1",
            "--iterations",
            "3",
        ];
        common::aigis_in(d, &[&base[..], extra].concat(), &[("RT_TOKEN", token)])
    };
    let remote = attack(&url, &["--token-env", "RT_TOKEN", "--batch", "100"]);
    // Gradients estimated from answers, and (with a query budget) HopSkipJump asking the
    // model itself, on both sides.
    let local = attack(
        "models/digits.onnx",
        &["--gradients", "estimated", "--query-budget", "100000000"],
    );
    assert_eq!(remote.code, 0, "{}{}", remote.stdout, remote.stderr);
    assert_eq!(local.code, 0, "{}{}", local.stdout, local.stderr);
    let (r, l) = (remote.json(), local.json());
    assert_eq!(r["target"]["kind"], "remote");
    assert_eq!(r["gradients"], "estimated");
    assert_eq!(r["clean_accuracy"], l["clean_accuracy"]);
    for (a, b) in r["attacks"]
        .as_array()
        .unwrap()
        .iter()
        .zip(l["attacks"].as_array().unwrap())
    {
        for field in [
            "attack",
            "attacked",
            "succeeded",
            "median_linf",
            "median_l2",
            "queries_per_row",
        ] {
            assert_eq!(a[field], b[field], "{field}: remote {a} local {b}");
        }
    }
    assert!(f(&r["queries"]) > 1000.0, "{r}");
    assert_eq!(r["queries"], l["queries"], "as many rows asked of each");
    // Errors go to stdout as JSON with --json: read both.
    let said = |r: &common::Run| format!("{}{}", r.stdout, r.stderr);
    // Exact gradients need the graph, which a remote model does not give.
    let exact = attack(&url, &["--token-env", "RT_TOKEN", "--gradients", "exact"]);
    assert_eq!(exact.code, 2, "{}", said(&exact));
    assert!(said(&exact).contains("remote"), "{}", said(&exact));
    // No token: the gateway's refusal, with the flag that gives one.
    let bare = attack(&url, &[]);
    assert_eq!(bare.code, 2, "{}", said(&bare));
    assert!(
        said(&bare).contains("401") && said(&bare).contains("--token-env"),
        "{}",
        said(&bare)
    );
    let unset = attack(&url, &["--token-env", "RT_NOT_SET"]);
    assert!(
        unset.code == 2 && said(&unset).contains("RT_NOT_SET"),
        "{}",
        said(&unset)
    );
    // A wrong token is refused, and never repeated back.
    let wrong = common::aigis_in(
        d,
        &[
            "redteam",
            &url,
            "--data",
            "digits.csv",
            "--label",
            "label",
            "--token-env",
            "RT_TOKEN",
        ],
        &[("RT_TOKEN", "aigis_not-a-real-key-0123456789")],
    );
    assert_eq!(wrong.code, 2, "{}", said(&wrong));
    assert!(!said(&wrong).contains("not-a-real-key"), "{}", said(&wrong));
    // A query budget too small for every attack: the rest are skipped and the run fails.
    let spent = attack(&url, &["--token-env", "RT_TOKEN", "--query-budget", "2000"]);
    assert_eq!(spent.code, 1, "{}", spent.stderr);
    let s = spent.json();
    assert!(f(&s["queries"]) <= 2000.0, "{s}");
    assert_eq!(s["passed"], false);
    assert!(
        s["attacks"].as_array().unwrap().iter().any(|a| a["skipped"]
            .as_str()
            .is_some_and(|w| w.contains("query budget of 2000"))),
        "{s}"
    );
    // `aigis explain` reaches the served model the same way, with the same answers as the
    // file's runtime.
    let explain = |model: &str| {
        let r = common::aigis_in(
            d,
            &[
                "--json",
                "explain",
                model,
                "--data",
                "digits.csv",
                "--label",
                "label",
                "--rows",
                "0",
                "--background-size",
                "5",
                "--samples",
                "300",
                "--repeats",
                "1",
            ]
            .iter()
            .copied()
            .chain(if model.starts_with("http") {
                ["--token-env", "RT_TOKEN"]
            } else {
                // The runtime, as the remote side (else its graph, in f64).
                ["--query-budget", "100000000"]
            })
            .collect::<Vec<_>>(),
            &[("RT_TOKEN", token)],
        );
        assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
        r.json()
    };
    let (er, el) = (explain(&url), explain("models/digits.onnx"));
    assert_eq!(er["target"]["kind"], "remote");
    assert_eq!(er["rows"][0]["shap"], el["rows"][0]["shap"]);
    assert_eq!(er["permutation"], el["permutation"]);
    assert_eq!(er["queries"], el["queries"]);
    server.kill().unwrap();
    server.wait().unwrap();
    // Plain http leaves the machine only to a loopback address: a token is not sent
    // in the clear.
    fails(
        d,
        &[
            "redteam",
            "http://example.com/v2/models/x",
            "--data",
            "digits.csv",
            "--label",
            "label",
        ],
        2,
        "loopback",
    );
}

/// The Square attack from the model's scores alone: on the digits MLP it fools more rows
/// at a larger eps, stays within eps and the valid range, keeps to its query budget per
/// row, and the same seed gives the same figures; in L2 likewise; on a tree ensemble (no
/// gradient) it runs as well.
#[test]
fn the_square_attack_fools_from_scores_alone_within_eps_and_its_queries() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    inputs_csv(d, "digits_mlp.json", "digits.csv", Some("output_label"));
    let model = runtime_model("digits_mlp.onnx");
    let run = |extra: &[&str]| {
        let base = [
            "--json",
            "redteam",
            &model,
            "--data",
            "digits.csv",
            "--label",
            "label",
            "--attacks",
            "square",
            "--clip",
            "0,1",
            "--iterations",
            "200",
        ];
        ok(d, &[&base[..], extra].concat()).json()
    };
    let v = run(&["--eps", "0.05,0.2"]);
    assert_eq!(v["gradients"], "none", "no gradient is used");
    let (small, large) = (&v["attacks"][0], &v["attacks"][1]);
    assert_eq!(small["attack"], "square");
    assert!(f(&large["success_rate"]) > f(&small["success_rate"]), "{v}");
    assert!(f(&large["success_rate"]) >= 0.9, "{large}");
    for a in [small, large] {
        assert!(f(&a["median_linf"]) <= f(&a["eps"]) + 1e-6, "{a}");
        assert!(f(&a["queries_per_row"]) <= 1.0 + 1.0 + 200.0 + 1.0, "{a}");
    }
    assert_eq!(
        run(&["--eps", "0.05,0.2"])["attacks"][1]["succeeded"],
        large["succeeded"]
    );
    let capped = run(&["--eps", "0.2", "--max-queries", "10"]);
    assert!(
        f(&capped["attacks"][0]["queries_per_row"]) <= 11.0,
        "{capped}"
    );
    assert!(f(&capped["attacks"][0]["success_rate"]) < f(&large["success_rate"]));
    // L2: the change has length at most eps, and a larger eps fools more.
    let l2 = run(&["--norm", "2", "--eps", "0.3,1.5"]);
    let (small, large) = (&l2["attacks"][0], &l2["attacks"][1]);
    assert_eq!(small["norm"], "l2");
    assert!(
        f(&large["success_rate"]) > f(&small["success_rate"]),
        "{l2}"
    );
    assert!(f(&large["success_rate"]) >= 0.9, "{large}");
    for a in [small, large] {
        assert!(f(&a["median_l2"]) <= f(&a["eps"]) + 1e-6, "{a}");
    }
    inputs_csv(d, "cancer_gbc.json", "cancer.csv", Some("output_label"));
    let trees = ok(
        d,
        &[
            "--json",
            "redteam",
            &runtime_model("cancer_gbc.onnx"),
            "--data",
            "cancer.csv",
            "--label",
            "label",
            "--attacks",
            "square",
            "--eps",
            "2",
            "--rows",
            "30",
            "--iterations",
            "100",
        ],
    )
    .json();
    assert_eq!(trees["gradients"], "none");
    assert!(f(&trees["attacks"][0]["success_rate"]) > 0.0, "{trees}");
}

/// Model extraction: copies trained on the model's answers to more and more queries,
/// each from its source, the curve recorded, `fidelity-at-N` a threshold (its N joins
/// the budgets), and what cannot be done said.
#[test]
fn extraction_copies_the_model_from_its_answers_and_gates_on_fidelity() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(d, &["init"]);
    inputs_csv(d, "digits_mlp.json", "digits.csv", Some("output_label"));
    let model = runtime_model("digits_mlp.onnx");
    let run = |extra: &[&str]| {
        let base = [
            "--json",
            "redteam",
            &model,
            "--data",
            "digits.csv",
            "--label",
            "label",
            "--attacks",
            "none",
            "--clip",
            "0,1",
        ];
        aigis(d, &[&base[..], extra].concat())
    };
    let r = run(&["--extract", "20,2000", "--fail-over", "fidelity-at-500=0.5"]);
    assert_eq!(
        r.code, 1,
        "a faithful copy fails the threshold: {}{}",
        r.stdout, r.stderr
    );
    let v = r.json();
    let e = &v["extraction"];
    assert_eq!(e["source"], "profile");
    assert_eq!(e["rows"], 40);
    let points = e["points"].as_array().unwrap();
    let queries: Vec<u64> = points
        .iter()
        .map(|p| p["queries"].as_u64().unwrap())
        .collect();
    assert_eq!(queries, [20, 500, 2000]);
    assert!(f(&points[2]["fidelity"]) > f(&points[0]["fidelity"]), "{e}");
    assert!(f(&points[2]["fidelity"]) >= 0.9, "{e}");
    assert_eq!(v["breaches"][0]["metric"], "fidelity-at-500");
    assert_eq!(f(&v["breaches"][0]["value"]), f(&points[1]["fidelity"]));
    // Every query asked of the model: the largest budget and the rows measured.
    assert_eq!(v["queries"], 2000 + 40 + 1);
    assert!(v["attacks"].as_array().unwrap().is_empty());
    assert!(v["evidence"].is_u64());
    // Uniform queries copy less of it than the data's profile does.
    let random = run(&["--extract", "2000", "--extract-from", "random"]).json();
    assert!(
        f(&random["extraction"]["points"][0]["fidelity"]) < f(&points[2]["fidelity"]),
        "{random}"
    );
    // The attacker's own rows, in order, no more queries than rows.
    let pool = run(&[
        "--extract",
        "30",
        "--extract-from",
        "digits.csv",
        "--surrogate-hidden",
        "0",
    ]);
    assert_eq!(pool.code, 0, "{}{}", pool.stdout, pool.stderr);
    assert_eq!(pool.json()["extraction"]["source"], "pool");
    assert_eq!(pool.json()["extraction"]["hidden"], 0);
    let more = run(&["--extract", "41", "--extract-from", "digits.csv"]);
    assert!(
        more.code == 2 && more.stdout.contains("40 rows"),
        "{}",
        more.stdout
    );
    let missing = run(&["--extract", "10", "--extract-from", "nope.csv"]);
    assert!(
        missing.code == 2 && missing.stdout.contains("nope.csv"),
        "{}",
        missing.stdout
    );
    let budget = run(&["--extract", "1000", "--query-budget", "500"]);
    assert!(
        budget.code == 2 && budget.stdout.contains("query budget"),
        "{}",
        budget.stdout
    );
    let bad = run(&["--fail-over", "fidelity-at-x=0.5"]);
    assert!(
        bad.code == 2 && bad.stdout.contains("fidelity-at-N"),
        "{}",
        bad.stdout
    );
}

/// `[redteam]` in `aigis.toml` holds every run in the project; the command line replaces
/// a threshold on the same measure and bound.
#[test]
fn the_projects_redteam_thresholds_hold_every_run() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(d, &["init", "-q"]);
    inputs_csv(d, "digits_mlp.json", "digits.csv", Some("output_label"));
    let file = d.join("aigis.toml");
    let original = std::fs::read_to_string(&file).unwrap();
    std::fs::write(
        &file,
        format!("{original}\n[redteam]\nfail_under = [\"robust-accuracy=0.99\"]\nfail_over = [\"fidelity-at-100=0.999\"]\n"),
    )
    .unwrap();
    let model = runtime_model("digits_mlp.onnx");
    let base = [
        "--json",
        "redteam",
        &model,
        "--data",
        "digits.csv",
        "--label",
        "label",
        "--attacks",
        "fgsm",
        "--eps",
        "0.2",
        "--clip",
        "0,1",
    ];
    let r = aigis(d, &base);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    let v = r.json();
    let metrics: Vec<&str> = v["thresholds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["metric"].as_str().unwrap())
        .collect();
    assert_eq!(metrics, ["robust-accuracy", "fidelity-at-100"]);
    // The file's fidelity-at-100 ran the extraction with a budget of 100.
    assert_eq!(v["extraction"]["points"][0]["queries"], 100);
    assert_eq!(v["breaches"][0]["metric"], "robust-accuracy");
    let r = aigis(
        d,
        &[
            &base[..],
            &[
                "--fail-under",
                "robust-accuracy=0",
                "--fail-over",
                "fidelity-at-100=1",
            ],
        ]
        .concat(),
    );
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_eq!(r.json()["thresholds"].as_array().unwrap().len(), 2);
    std::fs::write(
        &file,
        format!("{original}\n[redteam]\nfail_over = [\"mia=0.5\"]\n"),
    )
    .unwrap();
    let r = aigis(d, &["ledger", "verify"]);
    assert!(
        r.code == 2 && r.stderr.contains("[redteam] fail_over `mia=0.5`"),
        "{}",
        r.stderr
    );
}

/// Poisoning: a model retrained on the training rows clean and per poisoning, measured
/// on the held-out rows; a tenth of the rows with a backdoor plants it (the clean model
/// has none), flipped labels cost accuracy; thresholds on both, the evidence holds it,
/// and bad input is named.
#[test]
fn poisoning_plants_a_backdoor_and_flipped_labels_cost_accuracy() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(d, &["init"]);
    let (model, train, test) = (
        redteam_fixture("mia_target.onnx"),
        redteam_fixture("mia_members.csv"),
        redteam_fixture("mia_non_members.csv"),
    );
    let base = [
        "--json",
        "redteam",
        &model,
        "--data",
        &test,
        "--label",
        "label",
        "--attacks",
        "none",
        "--clip",
        "0,1",
        "--surrogate-hidden",
        "32",
        "--train",
        &train,
    ];
    let v = ok(
        d,
        &[&base[..], &["--poison", "label-flip=0.4,backdoor=0.1"]].concat(),
    )
    .json();
    let p = &v["poisoning"];
    assert_eq!(p["train_rows"], 150);
    assert_eq!(p["rows"], 150);
    assert_eq!(p["target"], 0);
    assert_eq!(p["trigger_features"], serde_json::json!([54, 55, 62, 63]));
    assert!(f(&p["clean_accuracy"]) > 0.8, "{p}");
    assert!(f(&p["clean_backdoor_rate"]) < 0.1, "{p}");
    let (flip, backdoor) = (&p["outcomes"][0], &p["outcomes"][1]);
    assert_eq!(flip["kind"], "label-flip");
    assert_eq!(flip["poisoned"], 60);
    assert!(f(&flip["accuracy_drop"]) > 0.1, "{p}");
    assert_eq!(flip["backdoor_success"], serde_json::Value::Null);
    assert_eq!(backdoor["kind"], "backdoor");
    assert_eq!(backdoor["poisoned"], 15);
    assert!(f(&backdoor["backdoor_success"]) > 0.5, "{p}");
    assert!(f(&backdoor["accuracy"]) > 0.75, "{p}");
    let index = v["evidence"].as_u64().unwrap();
    let shown = ok(d, &["--json", "evidence", "show", &index.to_string()])
        .json()
        .to_string();
    assert!(shown.contains("backdoor_success"), "{shown}");
    // The text names each poisoning, the page tabulates them.
    let text = ok(
        d,
        &[
            &base[1..],
            &["--poison", "backdoor=0.1", "--html", "p.html"],
        ]
        .concat(),
    )
    .stdout;
    let page = std::fs::read_to_string(d.join("p.html")).unwrap();
    assert!(page.contains("<h2>Poisoning</h2>") && page.contains("<td>backdoor</td>"));
    assert!(text.contains(
        "poisoning: models (one hidden layer of 32 units) retrained on 150 training rows"
    ));
    // Thresholds.
    let breached = aigis(
        d,
        &[
            &base[..],
            &[
                "--poison",
                "backdoor=0.1",
                "--fail-over",
                "backdoor-success=0.3",
            ],
        ]
        .concat(),
    );
    assert_eq!(breached.code, 1, "{}", breached.stderr);
    assert!(
        breached.stdout.contains("\"passed\": false"),
        "{}",
        breached.stdout
    );
    ok(
        d,
        &[
            &base[..],
            &[
                "--poison",
                "label-flip=0.4",
                "--fail-over",
                "poison-accuracy-drop=0.9",
            ],
        ]
        .concat(),
    );
    // A spent time budget stops the poisonings and the copies not yet trained, and the
    // run fails: its verdict was not reached.
    let stopped = aigis(
        d,
        &[
            &base[..],
            &[
                "--poison",
                "backdoor=0.1",
                "--extract",
                "50",
                "--time-budget",
                "0",
            ],
        ]
        .concat(),
    );
    assert_eq!(stopped.code, 1, "{}", stopped.stderr);
    let v: serde_json::Value = serde_json::from_str(&stopped.stdout).unwrap();
    assert_eq!(v["passed"], false);
    assert_eq!(v["poisoning"]["outcomes"], serde_json::json!([]));
    assert!(
        v["poisoning"]["skipped"]
            .as_str()
            .unwrap()
            .contains("time budget"),
        "{v}"
    );
    assert_eq!(v["extraction"]["points"], serde_json::json!([]));
    assert!(v["extraction"]["skipped"].as_str().is_some(), "{v}");
    // A threshold on poisoning that did not run fails.
    let unmeasured = aigis(
        d,
        &[
            "redteam",
            &model,
            "--data",
            &test,
            "--label",
            "label",
            "--attacks",
            "fgsm",
            "--fail-over",
            "backdoor-success=0.5",
        ],
    );
    assert_eq!(unmeasured.code, 1, "{}", unmeasured.stderr);
    // Bad input.
    for (extra, said) in [
        (&["--poison", "nope=0.1"][..], "no poisoning `nope`"),
        (&["--poison", "backdoor=2"][..], "in [0, 1]"),
        (&["--poison", "backdoor"][..], "KIND=RATE"),
        (
            &["--poison", "backdoor=0.1", "--poison-target", "12"][..],
            "--poison-target 12",
        ),
    ] {
        fails(d, &[&base[1..], extra].concat(), 2, said);
    }
    inputs_csv(d, "wine_minmax_mlp.json", "wine.csv", Some("output_label"));
    fails(
        d,
        &[
            "redteam",
            &model,
            "--data",
            &test,
            "--label",
            "label",
            "--attacks",
            "none",
            "--train",
            "wine.csv",
            "--poison",
            "backdoor=0.1",
        ],
        2,
        "numeric columns",
    );
    fails(
        d,
        &[
            "redteam",
            &model,
            "--data",
            &test,
            "--label",
            "label",
            "--poison",
            "backdoor=0.1",
        ],
        2,
        "--train",
    );
}
