//! `aigis monitor drift` as a user runs it: the verdicts and exit codes, the bad inputs.
//! (Its numbers against scipy's: `scripts/monitor_vs_scipy.py` and the crate's tests.)

use crate::common;

use std::fmt::Write as _;
use std::path::Path;

use common::{Rng, aigis, fails, ok};

/// A table of `rows` rows: `age` (normal around `age_mean`), `income` (log-normal),
/// `plan` (three categories with `plan_weights`), and `score` (normal).
fn table(dir: &Path, name: &str, seed: u64, rows: usize, age_mean: f64, plan_weights: &[f64]) {
    let mut rng = Rng(seed);
    let mut csv = String::from("age,income,plan,score\n");
    for _ in 0..rows {
        let age = age_mean + 12.0 * rng.normal();
        let income = (10.5 + 0.6 * rng.normal()).exp();
        let plan = rng.pick(&["basic", "plus", "pro"], plan_weights);
        let score = rng.normal();
        writeln!(csv, "{age:.2},{income:.2},{plan},{score:.5}").unwrap();
    }
    std::fs::write(dir.join(name), csv).unwrap();
}

fn feature<'a>(report: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    report["features"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == name)
        .unwrap_or_else(|| panic!("no feature {name} in {report}"))
}

#[test]
fn the_same_distribution_is_no_drift_and_a_moved_one_is_drift() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    table(d, "ref.csv", 1, 2000, 40.0, &[0.5, 0.3, 0.2]);
    table(d, "same.csv", 2, 1500, 40.0, &[0.5, 0.3, 0.2]);
    table(d, "moved.csv", 3, 1500, 46.0, &[0.3, 0.3, 0.4]);

    let same = ok(d, &["--json", "monitor", "drift", "ref.csv", "same.csv"]).json();
    assert_eq!(same["verdict"], "no_drift", "{same}");
    assert_eq!(same["tested"], 4);
    for f in same["features"].as_array().unwrap() {
        assert_eq!(f["status"], "stable", "{f}");
    }
    assert_eq!(feature(&same, "age")["test"]["test"], "ks");
    assert_eq!(feature(&same, "age")["test"]["method"], "exact");
    assert_eq!(feature(&same, "plan")["kind"], "categorical");
    assert_eq!(feature(&same, "plan")["test"]["test"], "chi2");
    assert_eq!(feature(&same, "plan")["test"]["dof"], 2);

    let moved = aigis(d, &["--json", "monitor", "drift", "ref.csv", "moved.csv"]);
    assert_eq!(moved.code, 1, "{}\n{}", moved.stdout, moved.stderr);
    let moved = moved.json();
    assert_eq!(moved["verdict"], "drift");
    assert_eq!(feature(&moved, "age")["status"], "drift");
    assert_eq!(feature(&moved, "plan")["status"], "drift");
    assert_eq!(feature(&moved, "income")["status"], "stable");
    assert_eq!(feature(&moved, "score")["status"], "stable");
    assert!(feature(&moved, "age")["psi"].as_f64().unwrap() > 0.1);
    let w = feature(&moved, "age")["wasserstein"].as_f64().unwrap();
    assert!((4.0..8.0).contains(&w), "a 6-year shift: Wasserstein {w}");

    // Text: the table and the verdict line.
    let text = aigis(d, &["monitor", "drift", "ref.csv", "moved.csv"]);
    assert_eq!(text.code, 1);
    assert!(
        text.stdout.contains("DRIFT: 2 of 4 features drifted"),
        "{}",
        text.stdout
    );
    assert!(
        text.stdout
            .lines()
            .any(|l| l.starts_with("age") && l.contains("DRIFT"))
    );
    // One drifted feature of four stays under the default 50%, and over a stricter share.
    let one = ok(
        d,
        &[
            "--json",
            "monitor",
            "drift",
            "ref.csv",
            "moved.csv",
            "--columns",
            "age,income,score",
        ],
    )
    .json();
    assert_eq!(one["verdict"], "no_drift");
    assert_eq!(one["drifted"], 1);
    let strict = aigis(
        d,
        &[
            "monitor",
            "drift",
            "ref.csv",
            "moved.csv",
            "--columns",
            "age,income,score",
            "--drift-share",
            "0.3",
        ],
    );
    assert_eq!(strict.code, 1, "{}", strict.stdout);
}

#[test]
fn values_that_went_missing_are_drift_and_a_feature_with_none_is_no_verdict() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut rng = Rng(7);
    let (mut reference, mut current) = (
        String::from("a,b,gone,empty,city\n"),
        String::from("a,b,gone,empty,city\n"),
    );
    for i in 0..600 {
        let (a, b) = (rng.normal(), rng.normal());
        writeln!(reference, "{a:.5},{b:.5},{:.5},,c{}", rng.normal(), i % 5).unwrap();
        // `b` loses a third of its values to NaN and infinity; `gone` all of them; the
        // values left look the same. `city` becomes thousands of values.
        let b = match i % 3 {
            0 => "NaN".to_owned(),
            1 => "inf".to_owned(),
            _ => format!("{b:.5}"),
        };
        writeln!(current, "{:.5},{b},-inf,,town-{i}", rng.normal()).unwrap();
    }
    for i in 600..1600 {
        writeln!(
            current,
            "{:.5},{:.5},-inf,,town-{i}",
            rng.normal(),
            rng.normal()
        )
        .unwrap();
    }
    std::fs::write(d.join("ref.csv"), reference).unwrap();
    std::fs::write(d.join("cur.csv"), current).unwrap();

    let run = aigis(d, &["--json", "monitor", "drift", "ref.csv", "cur.csv"]);
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    let r = run.json();
    assert_eq!(feature(&r, "a")["status"], "stable");
    let b = feature(&r, "b");
    assert_eq!(b["status"], "drift", "{b}");
    assert!(
        b["reason"].as_str().unwrap().contains("missing values"),
        "{b}"
    );
    // CSV's `NaN` is pandas' null marker; `inf` is a number that is not finite. Both are
    // left out of the test and counted.
    assert_eq!(b["current"]["nulls"], 200, "{b}");
    assert_eq!(b["current"]["non_finite"], 200, "{b}");
    assert_eq!(b["current"]["values"], 1200, "{b}");
    assert_eq!(feature(&r, "gone")["status"], "drift");
    assert_eq!(feature(&r, "city")["status"], "drift");
    // Null on both sides: nothing to test, and the dataset gets no verdict from the rest.
    let empty = feature(&r, "empty");
    assert_eq!(empty["status"], "insufficient_data", "{empty}");
    assert!(empty["test"].is_null());

    let only_empty = aigis(
        d,
        &[
            "monitor",
            "drift",
            "ref.csv",
            "cur.csv",
            "--columns",
            "a,empty",
        ],
    );
    assert_eq!(only_empty.code, 1, "{}", only_empty.stdout);
    assert!(
        only_empty
            .stdout
            .contains("INSUFFICIENT DATA: 1 feature(s) without a verdict"),
        "{}",
        only_empty.stdout
    );
    ok(
        d,
        &["monitor", "drift", "ref.csv", "cur.csv", "--columns", "a"],
    );
}

#[test]
fn the_formats_the_data_stage_reads_are_read_here() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    table(d, "ref.csv", 11, 300, 40.0, &[0.5, 0.3, 0.2]);
    let csv = std::fs::read_to_string(d.join("ref.csv")).unwrap();
    let mut jsonl = String::new();
    for line in csv.lines().skip(1) {
        let c: Vec<&str> = line.split(',').collect();
        writeln!(
            jsonl,
            r#"{{"age": {}, "income": {}, "plan": "{}", "score": {}}}"#,
            c[0], c[1], c[2], c[3]
        )
        .unwrap();
    }
    std::fs::write(d.join("same.jsonl"), jsonl).unwrap();
    // The same rows as JSON Lines: every statistic zero, every p-value one.
    let r = ok(d, &["--json", "monitor", "drift", "ref.csv", "same.jsonl"]).json();
    for f in r["features"].as_array().unwrap() {
        assert_eq!(f["test"]["statistic"], 0.0, "{f}");
        assert_eq!(f["test"]["p_value"], 1.0, "{f}");
    }
}

#[test]
fn bad_input_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    table(d, "ref.csv", 1, 50, 40.0, &[0.5, 0.3, 0.2]);
    std::fs::write(d.join("other.csv"), "age,salary,plan,score\n1,2,basic,3\n").unwrap();
    fails(
        d,
        &["monitor", "drift", "ref.csv", "nowhere.csv"],
        2,
        "nowhere.csv",
    );
    let r = fails(
        d,
        &["monitor", "drift", "ref.csv", "other.csv"],
        2,
        "different columns",
    );
    assert!(
        r.stderr.contains("only the reference has `income`"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("only the current data has `salary`"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("--columns"), "{}", r.stderr);
    fails(
        d,
        &[
            "monitor",
            "drift",
            "ref.csv",
            "other.csv",
            "--columns",
            "age,income",
        ],
        2,
        "has no column `income`",
    );
    let named = aigis(
        d,
        &[
            "--json",
            "monitor",
            "drift",
            "ref.csv",
            "other.csv",
            "--columns",
            "age,plan",
        ],
    );
    assert_ne!(named.code, 2, "{}", named.stderr);
    assert_eq!(named.json()["features"].as_array().unwrap().len(), 2);
    fails(
        d,
        &["monitor", "drift", "ref.csv", "ref.csv", "--alpha", "2"],
        2,
        "alpha must be between 0 and 1",
    );
    fails(
        d,
        &[
            "monitor",
            "drift",
            "ref.csv",
            "ref.csv",
            "--drift-share",
            "0",
        ],
        2,
        "drift share",
    );
    fails(
        d,
        &["monitor", "drift", "ref.csv", "ref.csv", "--psi-bins", "1"],
        2,
        "PSI bins",
    );
    // A header and no rows: nothing to test, which is no verdict (exit 1), never a pass.
    std::fs::write(d.join("header.csv"), "age,income,plan,score\n").unwrap();
    let r = aigis(d, &["--json", "monitor", "drift", "ref.csv", "header.csv"]);
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    assert_eq!(r.json()["verdict"], "insufficient_data");
}

#[test]
fn in_a_project_the_comparison_is_signed_evidence() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(d, &["init"]);
    table(d, "ref.csv", 1, 500, 40.0, &[0.5, 0.3, 0.2]);
    table(d, "moved.csv", 3, 400, 47.0, &[0.5, 0.3, 0.2]);
    let run = aigis(d, &["--json", "monitor", "drift", "ref.csv", "moved.csv"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let report = run.json();
    let index = report["evidence"].as_u64().expect("an evidence index");
    let shown = ok(d, &["--json", "evidence", "show", &index.to_string()]).json();
    let text = shown.to_string();
    assert!(
        text.contains("https://aigis.dev/predicate/monitor-drift/v1"),
        "{text}"
    );
    assert!(
        text.contains("reference:ref.csv") && text.contains("current:moved.csv"),
        "{text}"
    );
    assert!(
        text.contains(r#""verdict":"drift""#) || text.contains(r#""verdict": "drift""#),
        "{text}"
    );
    ok(d, &["ledger", "verify"]);
    // Outside a project it still runs, and says it was not recorded.
    let outside = tempfile::tempdir().unwrap();
    std::fs::copy(d.join("ref.csv"), outside.path().join("ref.csv")).unwrap();
    let r = ok(outside.path(), &["monitor", "drift", "ref.csv", "ref.csv"]);
    assert!(r.stderr.contains("not recorded"), "{}", r.stderr);
}

#[test]
fn against_a_profile_the_result_is_the_tables_or_carries_the_sketchs_error() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // A small reference: its profile's sketches hold every value, and the result is the
    // table's to the bit.
    table(d, "small.csv", 1, 150, 40.0, &[0.5, 0.3, 0.2]);
    table(d, "cur.csv", 2, 800, 43.0, &[0.4, 0.3, 0.3]);
    ok(
        d,
        &["data", "profile", "small.csv", "-o", "small.profile.json"],
    );
    let by_table = aigis(d, &["--json", "monitor", "drift", "small.csv", "cur.csv"]).json();
    let by_profile = aigis(
        d,
        &[
            "--json",
            "monitor",
            "drift",
            "small.profile.json",
            "cur.csv",
        ],
    )
    .json();
    for (t, p) in by_table["features"]
        .as_array()
        .unwrap()
        .iter()
        .zip(by_profile["features"].as_array().unwrap())
    {
        assert_eq!(t["test"], p["test"], "{t}\n{p}");
        assert_eq!(t["p_value"], p["p_value"]);
        assert_eq!(t["status"], p["status"]);
        assert!(p["sketch"].is_null());
    }
    // A large one: the sketch summarizes; the statistic is within its error of the
    // table's, and the verdict is the table's or none.
    table(d, "big.csv", 3, 20_000, 40.0, &[0.5, 0.3, 0.2]);
    ok(d, &["data", "profile", "big.csv", "-o", "big.profile.json"]);
    let by_table = aigis(d, &["--json", "monitor", "drift", "big.csv", "cur.csv"]).json();
    let by_profile = aigis(
        d,
        &["--json", "monitor", "drift", "big.profile.json", "cur.csv"],
    )
    .json();
    let (t, p) = (feature(&by_table, "age"), feature(&by_profile, "age"));
    let error = p["sketch"]["rank_error"].as_f64().unwrap();
    assert!((0.005..0.03).contains(&error), "{p}");
    let (dt, dp) = (
        t["test"]["statistic"].as_f64().unwrap(),
        p["test"]["statistic"].as_f64().unwrap(),
    );
    assert!(
        (dt - dp).abs() <= error,
        "exact {dt}, sketch {dp} ± {error}"
    );
    assert_eq!(t["status"], "drift");
    assert_eq!(
        p["status"], "drift",
        "a 3-year shift is seen through the sketch: {p}"
    );
    for name in ["income", "score"] {
        let s = feature(&by_profile, name)["status"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(s == "stable" || s == "inconclusive", "{name}: {s}");
    }
    assert_eq!(
        feature(&by_profile, "plan")["test"],
        feature(&by_table, "plan")["test"]
    );
    // A profile edited to say more nulls than rows is read without a panic.
    let edited = std::fs::read_to_string(d.join("small.profile.json"))
        .unwrap()
        .replacen("\"nulls\": 0", "\"nulls\": 1000000000000", 1);
    assert!(edited.contains("1000000000000"));
    std::fs::write(d.join("edited.profile.json"), edited).unwrap();
    let r = aigis(
        d,
        &[
            "--json",
            "monitor",
            "drift",
            "edited.profile.json",
            "cur.csv",
        ],
    );
    assert_ne!(r.code, 2, "{}", r.stderr);
    // A file that is not a profile is a clear error naming it.
    std::fs::write(d.join("bad.json"), "{\"format\": \"something else\"}").unwrap();
    fails(
        d,
        &["monitor", "drift", "bad.json", "cur.csv"],
        2,
        "bad.json",
    );
}

#[test]
fn in_a_project_a_profile_must_be_the_projects_own() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(d, &["init"]);
    table(d, "ref.csv", 1, 150, 40.0, &[0.5, 0.3, 0.2]);
    table(d, "cur.csv", 2, 300, 40.0, &[0.5, 0.3, 0.2]);
    ok(d, &["data", "profile", "ref.csv", "-o", "ref.profile.json"]);
    let r = aigis(
        d,
        &["--json", "monitor", "drift", "ref.profile.json", "cur.csv"],
    );
    assert_ne!(r.code, 2, "{}", r.stderr);
    assert!(
        r.json()["profile_evidence"].as_u64().is_some(),
        "{}",
        r.stdout
    );
    // The same profile edited afterwards is refused.
    let text = std::fs::read_to_string(d.join("ref.profile.json")).unwrap();
    let edited = text.replacen("\"rows\": 150", "\"rows\": 151", 1);
    assert_ne!(edited, text);
    std::fs::write(d.join("edited.profile.json"), edited).unwrap();
    let r = fails(
        d,
        &["monitor", "drift", "edited.profile.json", "cur.csv"],
        2,
        "not `data-profile` evidence",
    );
    assert!(r.stderr.contains("--unrecorded-profile"), "{}", r.stderr);
    // Said in so many words, it is compared.
    let r = aigis(
        d,
        &[
            "monitor",
            "drift",
            "edited.profile.json",
            "cur.csv",
            "--unrecorded-profile",
        ],
    );
    assert_ne!(r.code, 2, "{}", r.stderr);
}

/// `--stream`: the same verdicts on the same tables (its numeric features), a categorical
/// one left without a verdict unless left out, a profile refused as its reference.
#[test]
fn stream_reads_the_current_table_a_chunk_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    table(d, "ref.csv", 1, 2000, 40.0, &[0.5, 0.3, 0.2]);
    table(d, "same.csv", 2, 1500, 40.0, &[0.5, 0.3, 0.2]);
    table(d, "moved.csv", 3, 1500, 46.0, &[0.5, 0.3, 0.2]);
    let numeric = "age,income,score";
    for (current, verdict, code) in [("same.csv", "no_drift", 0), ("moved.csv", "drift", 1)] {
        let args = [
            "--json",
            "monitor",
            "drift",
            "ref.csv",
            current,
            "--columns",
            numeric,
        ];
        let share = ["--drift-share", "0.3"];
        let whole = aigis(d, &[&args[..], &share].concat());
        let stream = aigis(d, &[&args[..], &share, &["--stream"]].concat());
        assert_eq!((whole.code, stream.code), (code, code), "{}", stream.stderr);
        let (w, s) = (whole.json(), stream.json());
        assert_eq!(s["verdict"], verdict);
        for name in ["age", "income", "score"] {
            assert_eq!(feature(&w, name)["status"], feature(&s, name)["status"]);
            assert_eq!(
                feature(&w, name)["test"]["statistic"],
                feature(&s, name)["test"]["statistic"]
            );
        }
    }
    // Every column: the categorical one is tested by its counts as without --stream
    // (the chi-square test and the PSI over categories), and a moved mix is drift.
    table(d, "remixed.csv", 4, 1500, 40.0, &[0.3, 0.3, 0.4]);
    for current in ["same.csv", "remixed.csv"] {
        let args = ["--json", "monitor", "drift", "ref.csv", current];
        let whole = aigis(d, &args);
        let stream = aigis(d, &[&args[..], &["--stream"]].concat());
        assert_eq!(whole.code, stream.code, "{}", stream.stderr);
        let (w, s) = (whole.json(), stream.json());
        assert_eq!(w["verdict"], s["verdict"], "{current}");
        let (fw, fs) = (feature(&w, "plan"), feature(&s, "plan"));
        assert_eq!(fs["kind"], "categorical");
        for key in ["status", "test", "psi", "reference", "current", "missing"] {
            assert_eq!(fw[key], fs[key], "{current}: plan's {key}");
        }
    }
    let remixed = aigis(
        d,
        &[
            "--json",
            "monitor",
            "drift",
            "ref.csv",
            "remixed.csv",
            "--stream",
        ],
    );
    assert_eq!(feature(&remixed.json(), "plan")["status"], "drift");
    // A handful of categories that became thousands of values is drift; a column of more
    // values than categories can be (ids) is not tested: both as without --stream.
    let mut ids = String::from("plan,id\n");
    for i in 0..1500 {
        writeln!(ids, "{},id-{i}", ["basic", "plus", "pro"][i % 3]).unwrap();
    }
    std::fs::write(d.join("ids_ref.csv"), &ids).unwrap();
    let mut exploded = String::from("plan,id\n");
    for i in 0..1500 {
        writeln!(exploded, "plan-{i},id-{}", i + 7).unwrap();
    }
    std::fs::write(d.join("ids_cur.csv"), &exploded).unwrap();
    let args = ["--json", "monitor", "drift", "ids_ref.csv", "ids_cur.csv"];
    let (w, s) = (
        aigis(d, &args).json(),
        aigis(d, &[&args[..], &["--stream"]].concat()).json(),
    );
    for (name, status) in [("plan", "drift"), ("id", "not_tested")] {
        assert_eq!(feature(&s, name)["status"], status, "{s}");
        assert_eq!(feature(&w, name), feature(&s, name), "{name}");
    }
    // A profile is not a reference --stream takes.
    ok(d, &["data", "profile", "ref.csv"]);
    fails(
        d,
        &[
            "monitor",
            "drift",
            "ref.csv.profile.json",
            "same.csv",
            "--stream",
        ],
        2,
        "not its profile",
    );
    fails(
        d,
        &[
            "monitor", "drift", "ref.csv", "same.csv", "--stream", "--grid", "3",
        ],
        2,
        "grid",
    );
}

/// `--stream` over Parquet reads number columns straight from their Arrow arrays: every
/// integer and float width, nulls, NaN, and a column of another type (text) as cells.
/// Its report equals the one the table reader gives without `--stream` on the same file.
#[test]
fn stream_reads_parquet_numbers_as_the_table_reader_does() {
    use std::sync::Arc;

    use arrow_array::{
        Array, Float32Array, Float64Array, Int8Array, Int64Array, RecordBatch, StringArray,
        UInt16Array,
    };

    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let batch = |seed: u64, rows: usize, shift: f64| {
        let mut rng = Rng(seed);
        let mut f64s = Vec::new();
        let mut f32s = Vec::new();
        let mut i64s = Vec::new();
        let mut i8s = Vec::new();
        let mut u16s = Vec::new();
        let mut texts = Vec::new();
        let mut tiers = Vec::new();
        for i in 0..rows {
            tiers.push((i % 41 != 0).then_some(if rng.uniform() < 0.5 + shift {
                "gold"
            } else {
                "basic"
            }));
            let x = shift + rng.normal();
            f64s.push(match i % 97 {
                0 => None,
                1 => Some(f64::NAN),
                _ => Some(x),
            });
            f32s.push(Some((2.0 * rng.normal() + shift) as f32));
            i64s.push((i % 13 != 0).then(|| (1e6 * rng.normal()) as i64 + 9_007_199_254_740_993));
            i8s.push(Some((10.0 * rng.normal()).clamp(-128.0, 127.0) as i8));
            u16s.push(Some((rng.uniform() * 60_000.0) as u16));
            texts.push(if i % 50 == 0 {
                "n/a".to_owned()
            } else {
                format!("{:.3}", rng.normal() + shift)
            });
        }
        RecordBatch::try_from_iter([
            ("f64", Arc::new(Float64Array::from(f64s)) as Arc<dyn Array>),
            ("f32", Arc::new(Float32Array::from(f32s))),
            ("i64", Arc::new(Int64Array::from(i64s))),
            ("i8", Arc::new(Int8Array::from(i8s))),
            ("u16", Arc::new(UInt16Array::from(u16s))),
            ("text", Arc::new(StringArray::from(texts))),
            ("tier", Arc::new(StringArray::from(tiers))),
        ])
        .unwrap()
    };
    let write = |name: &str, batches: &[RecordBatch]| {
        let file = std::fs::File::create(d.join(name)).unwrap();
        let mut w = parquet::arrow::ArrowWriter::try_new(file, batches[0].schema(), None).unwrap();
        for b in batches {
            w.write(b).unwrap();
            // Row groups of their own: the reader crosses them.
            w.flush().unwrap();
        }
        w.close().unwrap();
    };
    write("ref.parquet", &[batch(1, 3000, 0.0)]);
    write(
        "cur.parquet",
        &[batch(2, 1500, 0.3), batch(3, 1200, 0.3), batch(4, 700, 0.3)],
    );
    let numbers = ["f64", "f32", "i64", "i8", "u16"];
    let columns = numbers.join(",");
    let args = [
        "--json",
        "monitor",
        "drift",
        "ref.parquet",
        "cur.parquet",
        "--drift-share",
        "0.3",
        "--columns",
        &columns,
    ];
    let whole = aigis(d, &args);
    let stream = aigis(d, &[&args[..], &["--stream"]].concat());
    assert_eq!(whole.code, 1, "{}", whole.stderr);
    assert_eq!(stream.code, 1, "{}", stream.stderr);
    let (w, s) = (whole.json(), stream.json());
    assert_eq!(
        (w["verdict"].as_str(), s["verdict"].as_str()),
        (Some("drift"), Some("drift"))
    );
    for name in numbers {
        let (fw, fs) = (feature(&w, name), feature(&s, name));
        assert_eq!(fw["status"], fs["status"], "{name}: {fw}\n{fs}");
        assert_eq!(fw["test"]["statistic"], fs["test"]["statistic"], "{name}");
        assert_eq!(fw["test"]["p_value"], fs["test"]["p_value"], "{name}");
        assert_eq!(fw["psi"], fs["psi"], "{name}");
        assert_eq!(fw["current"], fs["current"], "{name}");
    }
    // The shifted ones moved; nulls and NaN are counted as such.
    assert_eq!(feature(&s, "f64")["status"], "drift");
    assert_eq!(feature(&s, "i8")["status"], "stable");
    let cur = &feature(&s, "f64")["current"];
    assert_eq!(
        (
            cur["rows"].as_u64(),
            cur["nulls"].as_u64(),
            cur["non_finite"].as_u64()
        ),
        (Some(3400), Some(37), Some(37)),
        "{cur}"
    );
    assert_eq!(feature(&s, "i64")["current"]["nulls"], 263);
    // A text column comes through the table reader's cells: more distinct values than
    // categories can be, not tested, as without --stream.
    let all = aigis(
        d,
        &[
            "--json",
            "monitor",
            "drift",
            "ref.parquet",
            "cur.parquet",
            "--stream",
        ],
    );
    let all = all.json();
    assert_eq!(feature(&all, "text")["status"], "not_tested");
    // A column of categories, counted from its cells, with nulls: as without --stream.
    let whole_all = aigis(
        d,
        &["--json", "monitor", "drift", "ref.parquet", "cur.parquet"],
    )
    .json();
    assert_eq!(feature(&all, "tier")["kind"], "categorical");
    assert_eq!(feature(&all, "tier")["status"], "drift");
    assert_eq!(feature(&all, "tier"), feature(&whole_all, "tier"));
}
