//! Personal data that is not a pattern (names, dates of birth, addresses, postal codes,
//! person ids, quasi-identifiers) through the real binary, on `tests/data/pii/people.csv`
//! (made by `scripts/make_pii_fixture.py`).

use crate::common;

use std::path::{Path, PathBuf};

use common::ok;

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/pii/people.csv")
}

#[test]
fn scan_reports_personal_columns_and_quasi_identifiers() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::copy(fixture(), d.join("people.csv")).unwrap();
    let run = ok(d, &["--json", "data", "scan", "people.csv"]);
    let v = run.json();
    let kinds: Vec<(String, String)> = v["personal_columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["column"].as_str().unwrap().to_owned(),
                c["kind"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let want = [
        ("c1", "person_name"),
        ("prénom", "given_name"),
        ("Nachname", "family_name"),
        ("geburtsdatum", "date_of_birth"),
        ("zip", "postal_code"),
        ("adresse", "street_address"),
        ("case_no", "person_id"),
    ];
    assert_eq!(
        kinds,
        want.map(|(c, k)| (c.to_owned(), k.to_owned())),
        "occupation, city, amount and notes are not personal columns"
    );
    // The meaningless header `c1` was judged from its values alone.
    let c1 = &v["personal_columns"][0];
    assert!(c1["evidence"].get("header").is_none(), "{c1}");
    assert!(
        c1["evidence"]["dictionary"].as_f64().unwrap() >= 0.5,
        "{c1}"
    );
    // Every cell of each judged column is counted, with its row and column.
    let count = |rule: &str, column: &str| -> u64 {
        v["counts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["rule"] == rule && c["column"] == column)
            .map_or(0, |c| c["count"].as_u64().unwrap())
    };
    for (column, kind) in want {
        assert_eq!(count(&format!("pii.{kind}"), column), 80, "{column}");
    }
    assert_eq!(
        count("pii.email", "notes"),
        20,
        "the pattern kinds still work"
    );
    let finding = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["rule"] == "pii.person_name")
        .unwrap();
    assert_eq!(finding["row"], 1);
    assert_eq!(finding["column"], "c1");
    assert!(
        !run.stdout.contains("Linda Lopez"),
        "no personal value in the report"
    );
    // Date of birth, ZIP code and sex are quasi-identifiers; together they make every
    // one of the 80 rows unique.
    let q = &v["quasi_identifiers"];
    assert_eq!(q["rows"], 80);
    let candidates: Vec<&str> = q["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["column"].as_str().unwrap())
        .collect();
    for c in ["geburtsdatum", "zip", "sex"] {
        assert!(candidates.contains(&c), "{candidates:?}");
    }
    assert!(!candidates.contains(&"c1"), "names are direct identifiers");
    let top = &q["sets"][0];
    assert_eq!(top["k"], 1);
    assert_eq!(top["unique_share"], 1.0);
    assert!(
        v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["rule"] == "pii.quasi_identifier" && f["severity"] == "medium")
    );

    ok(d, &["data", "scan", "people.csv", "--html", "scan.html"]);
    let html = std::fs::read_to_string(d.join("scan.html")).unwrap();
    assert!(html.contains("<h2>Personal data by column</h2>"), "{html}");
    assert!(html.contains("<h2>Quasi-identifiers</h2>"), "{html}");
    assert!(
        !html.contains("Linda Lopez"),
        "no personal value in the HTML"
    );
    let text = ok(d, &["data", "scan", "people.csv"]).stdout;
    assert!(text.contains("personal data by column"), "{text}");
    assert!(
        text.contains("c1                       person_name"),
        "{text}"
    );
    assert!(text.contains("quasi-identifiers (80 rows"), "{text}");
}

#[test]
fn mask_applies_the_action_of_a_judged_kind_to_a_name_column() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(d, &["init"]);
    std::fs::copy(fixture(), d.join("people.csv")).unwrap();
    std::fs::write(
        d.join("rules.toml"),
        "[columns]\nc1 = \"detect\"\n\"prénom\" = \"detect\"\ngeburtsdatum = \"detect\"\ncity = \"detect\"\n\
         [pii]\nperson_name = \"redact\"\ngiven_name = { action = \"mask\", keep_last = 1 }\n\
         date_of_birth = { action = \"redact\", text = \"[DOB]\" }\n",
    )
    .unwrap();
    let run = ok(
        d,
        &[
            "data",
            "mask",
            "people.csv",
            "-o",
            "out.csv",
            "--rules",
            "rules.toml",
        ],
    );
    assert!(
        run.stderr.contains("`c1` (person_name)"),
        "the judgement is shown: {}",
        run.stderr
    );
    let out = std::fs::read_to_string(d.join("out.csv")).unwrap();
    let input = std::fs::read_to_string(d.join("people.csv")).unwrap();
    let mut rows = out.lines();
    assert_eq!(rows.next(), input.lines().next(), "same header");
    for (masked, original) in rows.zip(input.lines().skip(1)) {
        let m: Vec<&str> = masked.split(',').collect();
        let o: Vec<&str> = original.split(',').collect();
        assert_eq!(m[0], "[REDACTED:person_name]");
        assert_eq!(m[1].chars().last(), o[1].chars().last());
        assert!(m[1].starts_with('*'), "{}", m[1]);
        assert_eq!(m[3], "[DOB]");
        assert_eq!(m[9], o[9], "city names are not names: left as they are");
    }
}
