//! `aigis fairness` as a user runs it: the table per group, thresholds and exit codes,
//! `--json`, the evidence in a project, bad input. (Equality with fairlearn on UCI Adult
//! and COMPAS: `scripts/fairness_vs_fairlearn.py`.)

use crate::common;

use std::fmt::Write as _;
use std::path::Path;

use common::{aigis, fails, ok};

/// 400 decisions: group F selected 1 in 4, group M 1 in 2; the label is 1 for every
/// other row; the score is the decision's 0.2 or 0.8.
fn decisions(dir: &Path) {
    let mut csv = String::from("sex,outcome,decision,score\n");
    for i in 0..200 {
        let f = u8::from(i % 4 == 0);
        let m = u8::from(i % 2 == 0);
        let y = i % 3 % 2;
        writeln!(csv, "F,{y},{f},{}", if f == 1 { 0.8 } else { 0.2 }).unwrap();
        writeln!(csv, "M,{y},{m},{}", if m == 1 { 0.8 } else { 0.2 }).unwrap();
    }
    std::fs::write(dir.join("decisions.csv"), csv).unwrap();
}

const BASE: [&str; 8] = [
    "fairness",
    "decisions.csv",
    "--label",
    "outcome",
    "--prediction",
    "decision",
    "--sensitive",
    "sex",
];

fn with<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    BASE.iter().copied().chain(extra.iter().copied()).collect()
}

#[test]
fn the_groups_rates_and_disparities_are_printed_and_thresholds_decide_the_exit_code() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    decisions(d);
    let r = ok(d, &with(&["--bootstrap", "100"]));
    for needle in [
        "positive `1`",
        "95 % percentile bootstrap, 100 resamples",
        "  F         200   0.250 [",
        "demographic-parity-difference    0.250 [",
        "disparate-impact                 0.500 [",
        "no threshold set",
    ] {
        assert!(r.stdout.contains(needle), "{needle}:\n{}", r.stdout);
    }
    // A threshold the data breaks: exit 1, and the breach named.
    let r = aigis(d, &with(&["--fail-under", "disparate-impact=0.8"]));
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout
            .contains("sex: disparate-impact is 0.5000, must be at least 0.8"),
        "{}",
        r.stdout
    );
    // Thresholds it meets: exit 0.
    let r = ok(
        d,
        &with(&[
            "--fail-under",
            "disparate-impact=0.5",
            "--fail-over",
            "demographic-parity-difference=0.25,equalized-odds-difference=0.6",
        ]),
    );
    assert!(
        r.stdout.contains("passed: every threshold holds"),
        "{}",
        r.stdout
    );
    // A bad threshold is a usage error.
    fails(
        d,
        &with(&["--fail-under", "parity=0.8"]),
        2,
        "unknown fairness metric",
    );
    fails(
        d,
        &with(&["--fail-under", "disparate-impact"]),
        2,
        "not METRIC=VALUE",
    );
    fails(
        d,
        &with(&["--fail-over", "disparate-impact=x"]),
        2,
        "is not a number",
    );
}

#[test]
fn json_holds_every_group_and_the_score_calibration() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    decisions(d);
    let r = aigis(
        d,
        &[
            &["--json"][..],
            &with(&[
                "--score",
                "score",
                "--bootstrap",
                "0",
                "--fail-over",
                "demographic-parity-difference=0.1",
            ]),
        ]
        .concat(),
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    let v = r.json();
    assert_eq!(v["rows"], 400);
    assert_eq!(v["passed"], false);
    let groups = &v["analyses"][0]["groups"];
    assert_eq!(groups[0]["values"][0], "F");
    assert_eq!(groups[0]["selection_rate"]["value"], 0.25);
    assert_eq!(groups[1]["selection_rate"]["value"], 0.5);
    assert!(groups[0]["calibration"]["brier"]["value"].is_f64());
    assert_eq!(v["breaches"][0]["metric"], "demographic-parity-difference");
    assert_eq!(v["breaches"][0]["value"], 0.25);
    assert!(v["bootstrap"].is_null());
    assert!(v["evidence"].is_null(), "no project, no evidence");
}

#[test]
fn in_a_project_the_run_is_signed_evidence_bound_to_the_model() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(d, &["init"]);
    decisions(d);
    std::fs::write(
        d.join("model.onnx"),
        b"not really a model, only its digest matters",
    )
    .unwrap();
    let r = aigis(
        d,
        &[
            &["--json"][..],
            &with(&[
                "--model",
                "model.onnx",
                "--fail-under",
                "disparate-impact=0.8",
            ]),
        ]
        .concat(),
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    let index = r.json()["evidence"].as_u64().expect("an evidence index");
    let shown = ok(d, &["--json", "evidence", "show", &index.to_string()]).json();
    let text = shown.to_string();
    for needle in [
        "https://aigis.dev/predicate/fairness/v1",
        "data:decisions.csv",
        "model:model.onnx",
        "\"passed\":false",
        "disparate-impact",
    ] {
        assert!(text.contains(needle), "{needle}: {text}");
    }
    ok(d, &["ledger", "verify"]);
}

#[test]
fn bad_input_says_what_and_where() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    decisions(d);
    fails(d, &with(&["--sensitive", "age"]), 2, "no column `age`");
    std::fs::write(d.join("words.csv"), "g,y,p\nA,yes,no\nB,no,no\n").unwrap();
    let words = [
        "fairness",
        "words.csv",
        "--label",
        "y",
        "--prediction",
        "p",
        "--sensitive",
        "g",
    ];
    fails(
        d,
        &words,
        2,
        "say which is the positive (favourable) outcome with --positive",
    );
    ok(d, &[&words[..], &["--positive", "yes"]].concat());
    std::fs::write(d.join("three.csv"), "g,y,p\nA,1,0\nB,2,0\n").unwrap();
    fails(
        d,
        &[
            "fairness",
            "three.csv",
            "--label",
            "y",
            "--prediction",
            "p",
            "--sensitive",
            "g",
        ],
        2,
        "more than two values",
    );
    std::fs::write(d.join("holes.csv"), "g,y,p\nA,1,0\nB,,0\n").unwrap();
    fails(
        d,
        &[
            "fairness",
            "holes.csv",
            "--label",
            "y",
            "--prediction",
            "p",
            "--sensitive",
            "g",
        ],
        2,
        "`y` is empty at row 2",
    );
    fails(
        d,
        &with(&["--score", "sex"]),
        2,
        "named as a sensitive column",
    );
    fails(
        d,
        &with(&["--confidence", "1.5"]),
        2,
        "the confidence is a share",
    );
    let help = ok(d, &["fairness", "--help"]);
    assert!(help.stdout.contains("Examples:") && help.stdout.contains("--fail-under"));
}

#[test]
fn the_html_page_and_the_sarif_say_what_failed() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    decisions(d);
    let r = aigis(
        d,
        &with(&[
            "--score",
            "score",
            "--bootstrap",
            "50",
            "--fail-under",
            "disparate-impact=0.8",
            "--html",
            "f.html",
            "--sarif",
            "f.sarif",
        ]),
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    let html = std::fs::read_to_string(d.join("f.html")).unwrap();
    for needle in [
        "<svg role=\"img\" aria-label=\"rates per group of sex\"",
        "FAILED: 1 threshold(s) not met",
        "<span class=\"fail\">FAIL ≥ 0.8</span>",
        "<th>Brier</th>",
    ] {
        assert!(html.contains(needle), "{needle}");
    }
    assert!(!html.contains("<script"), "self-contained, no script");
    let sarif: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("f.sarif")).unwrap()).unwrap();
    assert_eq!(sarif["version"], "2.1.0");
    let results = sarif["runs"][0]["results"].as_array().unwrap();
    assert_eq!(results.len(), 1);
    assert_eq!(results[0]["ruleId"], "fairness.disparate-impact");
    assert_eq!(results[0]["level"], "error");
    assert!(
        results[0]["message"]["text"]
            .as_str()
            .unwrap()
            .contains("sex: disparate-impact is 0.5000, must be at least 0.8")
    );
    // A group named with markup is escaped.
    std::fs::write(d.join("odd.csv"), "g,y,p\n<b>x</b>,1,1\nB,0,0\n").unwrap();
    ok(
        d,
        &[
            "fairness",
            "odd.csv",
            "--label",
            "y",
            "--prediction",
            "p",
            "--sensitive",
            "g",
            "--html",
            "odd.html",
        ],
    );
    let html = std::fs::read_to_string(d.join("odd.html")).unwrap();
    assert!(html.contains("&lt;b&gt;x&lt;/b&gt;") && !html.contains("<b>x</b>"));
}

/// `[fairness]` in `aigis.toml`: thresholds every run in the project is held to; one on
/// the command line replaces the file's on the same metric and bound; a bad entry is
/// refused by name, by every command.
#[test]
fn the_projects_thresholds_hold_every_run() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(d, &["init", "-q"]);
    decisions(d);
    let file = d.join("aigis.toml");
    let original = std::fs::read_to_string(&file).unwrap();
    std::fs::write(
        &file,
        format!("{original}\n[fairness]\nfail_under = [\"disparate-impact=0.8\"]\n"),
    )
    .unwrap();
    let r = aigis(d, &with(&["--bootstrap", "0"]));
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout
            .contains("disparate-impact is 0.5000, must be at least 0.8"),
        "{}",
        r.stdout
    );
    ok(
        d,
        &with(&["--bootstrap", "0", "--fail-under", "disparate-impact=0.5"]),
    );
    std::fs::write(
        &file,
        format!("{original}\n[fairness]\nfail_under = [\"fairness=1\"]\n"),
    )
    .unwrap();
    for args in [with(&["--bootstrap", "0"]), vec!["ledger", "verify"]] {
        let r = aigis(d, &args);
        assert_eq!(r.code, 2, "{args:?}: {}{}", r.stdout, r.stderr);
        assert!(
            r.stderr.contains("[fairness] fail_under `fairness=1`"),
            "{}",
            r.stderr
        );
    }
    std::fs::write(&file, format!("{original}\n[fairness]\nfail_below = []\n")).unwrap();
    let r = aigis(d, &with(&["--bootstrap", "0"]));
    assert!(
        r.code == 2 && r.stderr.contains("[fairness]") && r.stderr.contains("fail_below"),
        "{}",
        r.stderr
    );
}
