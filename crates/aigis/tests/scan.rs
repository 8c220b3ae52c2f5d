//! `aigis data profile` / `aigis data scan` through the real binary.

use crate::common;

use std::path::Path;
use std::sync::Arc;

use common::{aigis, ok};

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).unwrap();
}

/// A project with a clean reference table and a new one with planted problems.
fn setup() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    ok(p, &["init"]);
    let mut reference = String::from("id,amount,country,opened\n");
    for i in 0..600 {
        reference.push_str(&format!(
            "{i},{}.5,{},2026-0{}-1{}\n",
            (i * 37) % 400 + 10,
            ["FR", "DE", "US", "ES"][i % 4],
            i % 9 + 1,
            i % 10
        ));
    }
    write(p, "ref.csv", &reference);
    let mut new = String::from("id,amount,country,opened\n");
    for i in 0..300 {
        let amount = match i {
            7 => "lots".to_owned(),
            8 => "90000".to_owned(),
            _ => format!("{}.5", (i * 13) % 400 + 10),
        };
        let country = if i == 9 {
            "ATLANTIS"
        } else {
            ["FR", "DE"][i % 2]
        };
        new.push_str(&format!("{i},{amount},{country},2026-02-1{}\n", i % 10));
    }
    write(p, "new.csv", &new);
    dir
}

#[test]
fn profile_then_scan_reports_rows_and_columns_and_records_counts_only() {
    let dir = setup();
    let p = dir.path();
    let prof = ok(
        p,
        &[
            "--json",
            "data",
            "profile",
            "ref.csv",
            "-o",
            "ref.profile.json",
        ],
    );
    assert_eq!(prof.json()["rows"], 600);
    let profile: serde_json::Value =
        serde_json::from_slice(&std::fs::read(p.join("ref.profile.json")).unwrap()).unwrap();
    let types: Vec<&str> = profile["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["integer", "float", "categorical", "date"]);

    let scan = aigis(
        p,
        &[
            "--json",
            "data",
            "scan",
            "new.csv",
            "--profile",
            "ref.profile.json",
            "--sarif",
            "scan.sarif",
            "--html",
            "scan.html",
        ],
    );
    // Only medium and low findings: the default --fail-on high passes.
    assert_eq!(scan.code, 0, "{}\n{}", scan.stdout, scan.stderr);
    let report = scan.json();
    assert_eq!(report["rows"], 300);
    assert_eq!(report["passed"], true);
    let found: Vec<(u64, String, String)> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["row"].as_u64().unwrap_or(0),
                f["column"].as_str().unwrap_or("").to_owned(),
                f["rule"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    for want in [
        (8, "amount", "schema.type"),
        (9, "amount", "schema.range"),
        (10, "country", "schema.category"),
    ] {
        let want = (want.0, want.1.to_owned(), want.2.to_owned());
        assert!(found.contains(&want), "{want:?} not in {found:?}");
    }
    assert_eq!(found.len(), 3, "{found:?}");

    // SARIF 2.1.0 with a result per finding, placed on the file's line.
    let sarif: serde_json::Value =
        serde_json::from_slice(&std::fs::read(p.join("scan.sarif")).unwrap()).unwrap();
    assert_eq!(sarif["version"], "2.1.0");
    let results = sarif["runs"][0]["results"].as_array().unwrap();
    assert_eq!(results.len(), 3);
    let category = results
        .iter()
        .find(|r| r["ruleId"] == "schema.category")
        .unwrap();
    assert_eq!(category["level"], "warning");
    assert_eq!(
        category["locations"][0]["physicalLocation"]["region"]["startLine"],
        11
    );
    let rules = sarif["runs"][0]["tool"]["driver"]["rules"]
        .as_array()
        .unwrap();
    assert_eq!(
        rules[category["ruleIndex"].as_u64().unwrap() as usize]["id"],
        "schema.category"
    );
    let html = std::fs::read_to_string(p.join("scan.html")).unwrap();
    assert!(html.contains("<svg") && html.contains("ATLANTIS"));
    assert!(!html.contains("<script"));

    // The ledger keeps counts, never the values.
    let index = report["evidence"].as_u64().unwrap();
    let shown = ok(p, &["evidence", "show", &index.to_string(), "--statement"]);
    let statement: serde_json::Value = serde_json::from_str(&shown.stdout).unwrap();
    assert_eq!(
        statement["predicateType"],
        "https://aigis.dev/predicate/data-scan/v1"
    );
    assert_eq!(statement["predicate"]["rows"], 300);
    assert!(!shown.stdout.contains("ATLANTIS") && !shown.stdout.contains("lots"));
    let listed = ok(p, &["evidence", "list", "--subject", "new.csv"]);
    assert!(listed.stdout.contains("data-scan"), "{}", listed.stdout);
}

#[test]
fn fail_on_sets_the_exit_code() {
    let dir = setup();
    let p = dir.path();
    ok(p, &["data", "profile", "ref.csv", "-o", "ref.profile.json"]);
    let args = ["data", "scan", "new.csv", "--profile", "ref.profile.json"];
    let medium = aigis(p, &[&args[..], &["--fail-on", "medium"]].concat());
    assert_eq!(medium.code, 1, "{}", medium.stdout);
    assert!(
        medium.stdout.contains("result: FAILED"),
        "{}",
        medium.stdout
    );
    assert!(medium.stdout.contains("row 10"), "{}", medium.stdout);
    let never = aigis(p, &[&args[..], &["--fail-on", "none"]].concat());
    assert_eq!(never.code, 0);
    let bad = aigis(p, &[&args[..], &["--fail-on", "severe"]].concat());
    assert_eq!(bad.code, 2);
    assert!(
        bad.stderr
            .contains("invalid value 'severe' for '--fail-on <SEVERITY>'")
            && bad
                .stderr
                .contains("[possible values: info, low, medium, high, critical, none]"),
        "{}",
        bad.stderr
    );
    // The accepted values are in the help too.
    let help = aigis(p, &["data", "scan", "--help"]);
    assert!(
        help.stdout
            .contains("[possible values: info, low, medium, high, critical, none]"),
        "{}",
        help.stdout
    );
}

#[test]
fn jsonl_and_parquet_are_scanned_like_csv() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    let mut lines = String::new();
    for i in 0..200 {
        lines.push_str(&format!("{{\"id\":{i},\"score\":{}.25}}\n", i % 50));
    }
    lines.push_str("{\"id\":\"x\",\"score\":1.0}\nnot json\n");
    write(p, "events.jsonl", &lines);
    let r = aigis(
        p,
        &[
            "--json",
            "data",
            "scan",
            "events.jsonl",
            "--fail-on",
            "none",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v = r.json();
    assert_eq!(v["format"], "jsonl");
    let rules: Vec<(u64, &str)> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["row"].as_u64().unwrap(), f["rule"].as_str().unwrap()))
        .collect();
    assert_eq!(rules, [(201, "schema.type"), (202, "read.malformed")]);
    assert!(v["evidence"].is_null(), "no project, so no ledger: {v}");
    let text = aigis(p, &["data", "scan", "events.jsonl", "--fail-on", "none"]);
    assert!(text.stderr.contains("not recorded"), "{}", text.stderr);

    use arrow_array::{Array, Float64Array, Int64Array, RecordBatch, StringArray};
    let ids: Vec<i64> = (0..100).collect();
    let scores: Vec<Option<f64>> = (0..100).map(|i| (i != 42).then_some(i as f64)).collect();
    let names: Vec<String> = (0..100).map(|i| format!("n{i}")).collect();
    let batch = RecordBatch::try_from_iter([
        ("id", Arc::new(Int64Array::from(ids)) as Arc<dyn Array>),
        ("score", Arc::new(Float64Array::from(scores))),
        ("name", Arc::new(StringArray::from(names))),
    ])
    .unwrap();
    let file = std::fs::File::create(p.join("t.parquet")).unwrap();
    let mut w = parquet::arrow::ArrowWriter::try_new(file, batch.schema(), None).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
    let prof = ok(p, &["--json", "data", "profile", "t.parquet"]);
    assert_eq!(prof.json()["rows"], 100);
    let scan = ok(
        p,
        &[
            "--json",
            "data",
            "scan",
            "t.parquet",
            "--profile",
            "t.parquet.profile.json",
        ],
    );
    let v = scan.json();
    assert_eq!(v["format"], "parquet");
    assert_eq!(v["rows"], 100);
    assert_eq!(v["findings"].as_array().unwrap().len(), 0, "{v}");
}

#[test]
fn bad_input_is_a_clear_error_with_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    let missing = aigis(p, &["data", "scan", "nope.csv"]);
    assert_eq!(missing.code, 2);
    assert!(missing.stderr.contains("nope.csv"), "{}", missing.stderr);

    write(p, "bad.parquet", "PAR1 garbage PAR1");
    let bad = aigis(p, &["data", "scan", "bad.parquet"]);
    assert_eq!(bad.code, 2);
    assert!(
        bad.stderr.contains("bad.parquet") && bad.stderr.contains("Parquet"),
        "{}",
        bad.stderr
    );

    // A file that makes the `parquet` crate panic (found by fuzzing) is an error too.
    let seed = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/seeds/table_parquet/regression-dict-page-missing.parquet");
    std::fs::copy(&seed, p.join("dict.parquet")).unwrap();
    let crash = aigis(p, &["data", "scan", "dict.parquet"]);
    assert_eq!(crash.code, 2, "{}", crash.stderr);
    assert!(
        crash.stderr.contains("dict.parquet") && crash.stderr.contains("Parquet"),
        "{}",
        crash.stderr
    );

    let mut long = String::from("a,b\n1,2\n");
    long.push_str(&"x".repeat(300_000));
    long.push_str(",3\n");
    write(p, "long.csv", &long);
    let too_long = aigis(
        p,
        &["data", "scan", "long.csv", "--max-record-bytes", "100000"],
    );
    assert_eq!(too_long.code, 2);
    assert!(too_long.stderr.contains("row 2"), "{}", too_long.stderr);

    write(p, "empty.csv", "");
    let empty = aigis(p, &["data", "profile", "empty.csv"]);
    assert_eq!(empty.code, 2);
    assert!(empty.stderr.contains("empty"), "{}", empty.stderr);
    assert!(!p.join("empty.csv.profile.json").exists());

    write(p, "bad.profile.json", "{\"format\":\"other\"}");
    write(p, "ok.csv", "a\n1\n");
    let profile = aigis(
        p,
        &["data", "scan", "ok.csv", "--profile", "bad.profile.json"],
    );
    assert_eq!(profile.code, 2);
    assert!(
        profile.stderr.contains("bad.profile.json"),
        "{}",
        profile.stderr
    );
}

#[test]
fn label_screens_for_poisoning_with_rows_and_reasons() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    // Two well-separated classes, with planted problems.
    let mut s = String::from("x1,x2,x3,target\n");
    let mut state = 12345u64;
    let mut noise = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % 1000) as f64 / 1000.0 - 0.5
    };
    for i in 0..400 {
        let (centre, label) = if i % 2 == 0 {
            (0.0, "cat")
        } else {
            (10.0, "dog")
        };
        let mut label = label;
        if [101, 203, 305].contains(&i) {
            label = if label == "cat" { "dog" } else { "cat" }; // flipped
        }
        let (a, b, c) = if [50, 150].contains(&i) {
            (300.0, -250.0, 400.0) // far outside both classes
        } else {
            (centre + noise(), centre + noise(), centre + noise())
        };
        s.push_str(&format!("{a:.4},{b:.4},{c:.4},{label}\n"));
    }
    write(p, "train.csv", &s);
    let r = aigis(
        p,
        &[
            "--json",
            "data",
            "scan",
            "train.csv",
            "--label",
            "target",
            "--fail-on",
            "none",
            "--html",
            "r.html",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v = r.json();
    let rows = v["poisoning"]["rows"].as_array().unwrap();
    let kinds_of = |row: u64| -> Vec<String> {
        rows.iter()
            .filter(|r| r["row"] == row)
            .flat_map(|r| r["reasons"].as_array().unwrap().iter())
            .map(|x| x["kind"].as_str().unwrap().to_owned())
            .collect()
    };
    // Data rows are 1-based: loop index i is row i + 1.
    for flipped in [102, 204, 306] {
        assert!(
            kinds_of(flipped).contains(&"label_flip".to_owned()),
            "row {flipped}: {:?}",
            kinds_of(flipped)
        );
    }
    for outlier in [51, 151] {
        assert!(
            kinds_of(outlier).contains(&"outlier".to_owned()),
            "row {outlier}: {:?}",
            kinds_of(outlier)
        );
    }
    assert!(rows.len() <= 10, "few false alarms on clean rows: {rows:?}");
    let classes = v["poisoning"]["classes"].as_array().unwrap();
    assert_eq!(classes.len(), 2);
    assert_eq!(
        v["poisoning"]["features"],
        serde_json::json!(["x1", "x2", "x3"])
    );
    let findings = v["findings"].as_array().unwrap();
    assert!(
        findings
            .iter()
            .any(|f| f["rule"] == "poison.label_flip" && f["row"] == 102)
    );
    let html = std::fs::read_to_string(p.join("r.html")).unwrap();
    assert!(html.contains("Poisoning screen") && html.contains("Suspicious rows per class"));

    let missing = aigis(p, &["data", "scan", "train.csv", "--label", "nope"]);
    assert_eq!(missing.code, 2);
    assert!(
        missing.stderr.contains("no column `nope`") && missing.stderr.contains("target"),
        "{}",
        missing.stderr
    );
}

#[test]
fn quarantine_splits_rows_and_release_records_the_decision() {
    let dir = setup();
    let p = dir.path();
    ok(p, &["data", "profile", "ref.csv", "-o", "ref.profile.json"]);
    let before = std::fs::read(p.join("new.csv")).unwrap();
    let r = aigis(
        p,
        &[
            "--json",
            "data",
            "scan",
            "new.csv",
            "--profile",
            "ref.profile.json",
            "--quarantine",
            "q",
            "--quarantine-on",
            "medium",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v = r.json();
    assert_eq!(v["quarantine"]["quarantined"]["rows"], 2, "{v}");
    assert_eq!(v["quarantine"]["clean"]["rows"], 298);
    assert_eq!(
        std::fs::read(p.join("new.csv")).unwrap(),
        before,
        "the input is never modified"
    );
    let quarantined = std::fs::read_to_string(p.join("q/new.quarantined.csv")).unwrap();
    // Rows 8 (type) and 10 (category); row 9 is only out of range (low).
    assert!(quarantined.starts_with("id,amount,country,opened,_aigis_row,_aigis_reasons\n"));
    assert!(
        quarantined.contains(",8,schema.type\n") && quarantined.contains(",10,schema.category\n"),
        "{quarantined}"
    );
    // The scan's evidence names both files by digest.
    let index = v["evidence"].as_u64().unwrap().to_string();
    let shown = ok(p, &["evidence", "show", &index, "--statement"]);
    assert!(shown.stdout.contains("\"quarantined\""), "{}", shown.stdout);

    let released = ok(
        p,
        &[
            "--json",
            "data",
            "release",
            "q",
            "--rows",
            "10",
            "--reason",
            "reviewed: a new market",
        ],
    );
    let rv = released.json();
    assert_eq!(rv["released"], serde_json::json!([10]));
    assert_eq!(rv["quarantined_rows"], 1);
    assert_eq!(rv["clean_rows"], 299);
    let clean = std::fs::read_to_string(p.join("q/new.clean.csv")).unwrap();
    assert!(clean.ends_with("9,127.5,ATLANTIS,2026-02-19\n"), "{clean}");
    let index = rv["evidence"].as_u64().unwrap().to_string();
    let shown = ok(p, &["evidence", "show", &index, "--statement"]);
    let statement: serde_json::Value = serde_json::from_str(&shown.stdout).unwrap();
    assert_eq!(
        statement["predicateType"],
        "https://aigis.dev/predicate/data-release/v1"
    );
    assert_eq!(statement["predicate"]["reason"], "reviewed: a new market");
    assert_eq!(
        statement["predicate"]["released_rows"],
        serde_json::json!([10])
    );

    let none = aigis(
        p,
        &["data", "release", "q", "--rows", "10", "--reason", "again"],
    );
    assert_eq!(none.code, 2);
    assert!(
        none.stderr.contains("nothing was changed"),
        "{}",
        none.stderr
    );
}

/// A folder of tables may link tables in from inside itself (read) but not from outside
/// (an error naming the link, exit 2): what a scan reads is what the folder holds.
#[cfg(unix)]
#[test]
fn a_folder_s_links_are_followed_inside_it_and_refused_out_of_it() {
    let dir = setup();
    let p = dir.path();
    std::fs::create_dir_all(p.join("ds/parts")).unwrap();
    std::fs::copy(p.join("ref.csv"), p.join("ds/parts/a.csv")).unwrap();
    std::os::unix::fs::symlink("parts/a.csv", p.join("ds/latest.csv")).unwrap();
    let v = ok(
        p,
        &["--json", "data", "profile", "ds", "-o", "ds.profile.json"],
    )
    .json();
    assert_eq!(
        (v["files"].as_u64(), v["rows"].as_u64()),
        (Some(2), Some(1200)),
        "{v}"
    );
    std::os::unix::fs::symlink("../new.csv", p.join("ds/leak.csv")).unwrap();
    let r = aigis(p, &["data", "profile", "ds", "-o", "ds.profile.json"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("leak.csv") && r.stderr.contains("outside"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("hint:"), "{}", r.stderr);
}

#[test]
fn a_folder_is_profiled_as_one_dataset_and_scanned_table_by_table() {
    let dir = setup();
    let p = dir.path();
    std::fs::create_dir_all(p.join("ds/part2")).unwrap();
    std::fs::copy(p.join("ref.csv"), p.join("ds/part1.csv")).unwrap();
    std::fs::copy(p.join("new.csv"), p.join("ds/part2/new.csv")).unwrap();
    std::fs::write(p.join("ds/README.txt"), "not a table").unwrap();
    let prof = ok(
        p,
        &["--json", "data", "profile", "ds", "-o", "ds.profile.json"],
    );
    let v = prof.json();
    assert_eq!(v["rows"], 900, "{v}");
    assert_eq!(v["files"], 2);

    let scan_args = [
        "--json",
        "data",
        "scan",
        "ds",
        "--profile",
        "ref.profile.json",
        "--fail-on",
        "medium",
        "--sarif",
        "ds.sarif",
        "--html",
        "ds.html",
    ];
    let r = aigis(p, &scan_args);
    // ref.profile.json does not exist yet: a clear error, exit 2.
    assert_eq!(r.code, 2);
    ok(p, &["data", "profile", "ref.csv", "-o", "ref.profile.json"]);
    let r = aigis(p, &scan_args);
    assert_eq!(r.code, 1, "new.csv has medium findings: {}", r.stderr);
    let v = r.json();
    let files = v["files"].as_array().unwrap();
    assert_eq!(files.len(), 2);
    assert_eq!(files[0]["passed"], true);
    assert_eq!(files[1]["passed"], false);
    assert_eq!(v["passed"], false);
    let sarif: serde_json::Value =
        serde_json::from_slice(&std::fs::read(p.join("ds.sarif")).unwrap()).unwrap();
    let uris: Vec<&str> = sarif["runs"][0]["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
                .as_str()
                .unwrap()
        })
        .collect();
    assert!(
        !uris.is_empty() && uris.iter().all(|u| u.ends_with("new.csv")),
        "{uris:?}"
    );
    let html = std::fs::read_to_string(p.join("ds.html")).unwrap();
    assert!(html.contains("2 tables") && html.contains("part1.csv") && html.contains("new.csv"));
    // One piece of evidence names both tables.
    let index = v["evidence"].as_u64().unwrap().to_string();
    let shown = ok(p, &["evidence", "show", &index, "--statement"]);
    let statement: serde_json::Value = serde_json::from_str(&shown.stdout).unwrap();
    assert_eq!(statement["subject"].as_array().unwrap().len(), 2);
    assert_eq!(statement["predicate"]["files"].as_array().unwrap().len(), 2);

    std::fs::create_dir_all(p.join("nothing")).unwrap();
    let empty = aigis(p, &["data", "scan", "nothing"]);
    assert_eq!(empty.code, 2);
    assert!(empty.stderr.contains("no table files"), "{}", empty.stderr);
}

/// 600 rows × 40 numeric columns in three classes (a "wide" table, where an isolation
/// forest dilutes one extreme column among many ordinary ones), as CSV.
fn wide_table(edit: &dyn Fn(usize, &mut Vec<f64>, &mut usize)) -> String {
    let mut s = (0..40)
        .map(|j| format!("f{j}"))
        .collect::<Vec<_>>()
        .join(",")
        + ",label\n";
    let mut state = 99u64;
    let mut noise = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % 10_000) as f64 / 10_000.0 - 0.5
    };
    for i in 0..600 {
        let mut label = i % 3;
        let mut row: Vec<f64> = (0..40)
            .map(|j| 50.0 + 10.0 * ((label * 7 + j) % 5) as f64 + 2.0 * noise())
            .collect();
        edit(i, &mut row, &mut label);
        let cells: Vec<String> = row.iter().map(|v| format!("{v:.4}")).collect();
        s.push_str(&format!("{},{label}\n", cells.join(",")));
    }
    s
}

#[test]
fn a_gross_value_in_one_wide_column_is_an_outlier_with_every_reason_listed() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    write(p, "clean.csv", &wide_table(&|_, _, _| {}));
    // Row 100 (line 101): one column times 40 and its label changed; row 200: a value a
    // little beyond what the reference saw (only a profile tells); row 300: clean.
    write(
        p,
        "new.csv",
        &wide_table(&|i, row, label| {
            if i == 100 {
                row[23] *= 40.0;
                *label = (*label + 1) % 3;
            }
            if i == 200 {
                row[5] = 110.0;
            }
        }),
    );
    ok(
        p,
        &[
            "data",
            "profile",
            "clean.csv",
            "--out",
            "clean.profile.json",
        ],
    );
    let scan = |profile: bool| {
        let mut args = vec!["--json", "data", "scan", "new.csv", "--label", "label"];
        args.extend(["--fail-on", "none", "--no-pii"]);
        if profile {
            args.extend(["--profile", "clean.profile.json"]);
        }
        let r = aigis(p, &args);
        assert_eq!(r.code, 0, "{}", r.stderr);
        r.json()
    };
    let reasons = |v: &serde_json::Value, row: u64| -> Vec<(String, String)> {
        v["poisoning"]["rows"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["row"] == row)
            .flat_map(|r| r["reasons"].as_array().unwrap().iter())
            .map(|x| {
                (
                    x["kind"].as_str().unwrap().to_owned(),
                    x["detail"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };
    let v = scan(false);
    let r101 = reasons(&v, 101);
    let kinds: Vec<&str> = r101.iter().map(|r| r.0.as_str()).collect();
    assert!(
        kinds.contains(&"outlier") && kinds.contains(&"label_flip"),
        "{r101:?}"
    );
    let outlier = &r101.iter().find(|r| r.0 == "outlier").unwrap().1;
    assert!(outlier.contains("f23"), "{outlier}");
    // Each reason is its own finding.
    let findings = v["findings"].as_array().unwrap();
    for rule in ["poison.outlier", "poison.label_flip"] {
        assert!(
            findings
                .iter()
                .any(|f| f["rule"] == rule && f["row"] == 101),
            "{rule}"
        );
    }
    assert!(reasons(&v, 201).is_empty(), "{:?}", reasons(&v, 201));
    assert!(reasons(&v, 301).is_empty());
    // Dataset-level statistics with their baselines.
    let detectors = &v["poisoning"]["detectors"];
    assert!(detectors["label_noise"]["disagreements"].as_u64().unwrap() >= 1);
    assert!(detectors["near_duplicates"]["rows"].is_u64());
    // The text report gives the same statistics.
    let text = aigis(
        p,
        &[
            "data",
            "scan",
            "new.csv",
            "--label",
            "label",
            "--fail-on",
            "none",
            "--no-pii",
        ],
    );
    assert!(
        text.stdout
            .contains("label noise: the model disagrees with"),
        "{}",
        text.stdout
    );
    // and so does the HTML one
    aigis(
        p,
        &[
            "data",
            "scan",
            "new.csv",
            "--label",
            "label",
            "--fail-on",
            "none",
            "--no-pii",
            "--html",
            "noise.html",
        ],
    );
    let html = std::fs::read_to_string(p.join("noise.html")).unwrap();
    assert!(
        html.contains("<p>label noise: the model disagrees with"),
        "{html}"
    );
    // With the clean profile, the value beyond the reference's range is an outlier too.
    let v = scan(true);
    let r201 = reasons(&v, 201);
    assert!(
        r201.iter()
            .any(|r| r.0 == "outlier" && r.1.contains("reference range") && r.1.contains("f5")),
        "{r201:?}"
    );
    assert!(reasons(&v, 301).is_empty());
}
