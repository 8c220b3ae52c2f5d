//! Personal data over time, as a data steward runs it: a table protected per data subject,
//! one subject erased by destroying their key (their cells unreadable in every copy, the
//! ledger still verifying, the evidence naming them only by a keyed hash), and retention
//! rules listed and enforced.

use crate::common;

use std::time::{Duration, SystemTime};

use common::{aigis, ok};

const TABLE: &str = "id,name,email,spend\ncust-alpha,Ann Example,ann@example.org,120\ncust-beta,Bo Sample,bo@example.org,80\ncust-alpha,Ann Example,ann.work@example.org,35\n";

#[test]
fn an_erased_subject_is_unreadable_and_the_ledger_still_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(d, &["init"]);
    std::fs::write(d.join("c.csv"), TABLE).unwrap();
    let p: serde_json::Value = serde_json::from_str(
        &ok(
            d,
            &[
                "--json",
                "data",
                "protect",
                "c.csv",
                "--subject",
                "id",
                "--columns",
                "name,email",
                "-o",
                "p.csv",
            ],
        )
        .stdout,
    )
    .unwrap();
    assert_eq!(p["subjects"], 2);
    assert_eq!(p["cells"], 9);
    let protected = std::fs::read_to_string(d.join("p.csv")).unwrap();
    for secret in [
        "cust-alpha",
        "Ann Example",
        "ann@example.org",
        "bo@example.org",
    ] {
        assert!(!protected.contains(secret), "{secret} in {protected}");
    }
    // A copy that left the project before the erasure.
    std::fs::copy(d.join("p.csv"), d.join("copy.csv")).unwrap();
    ok(d, &["data", "reveal", "p.csv", "-o", "r.csv"]);
    assert_eq!(std::fs::read_to_string(d.join("r.csv")).unwrap(), TABLE);

    let e: serde_json::Value = serde_json::from_str(
        &ok(
            d,
            &[
                "--json",
                "data",
                "erase",
                "--subject",
                "cust-alpha",
                "--reason",
                "Art. 17 request 118",
            ],
        )
        .stdout,
    )
    .unwrap();
    assert_eq!(e["remaining"], 1);
    let shown = ok(
        d,
        &[
            "evidence",
            "show",
            &e["evidence"].to_string(),
            "--statement",
        ],
    )
    .stdout;
    assert!(
        shown.contains("erasure") && !shown.contains("cust-alpha"),
        "{shown}"
    );

    let r: serde_json::Value = serde_json::from_str(
        &ok(d, &["--json", "data", "reveal", "copy.csv", "-o", "r2.csv"]).stdout,
    )
    .unwrap();
    assert_eq!(r["erased_rows"], 2);
    assert_eq!(r["erased_cells"], 6);
    let revealed = std::fs::read_to_string(d.join("r2.csv")).unwrap();
    assert!(
        !revealed.contains("ann@example.org") && revealed.contains("bo@example.org"),
        "{revealed}"
    );
    assert!(
        revealed.contains(",,,120"),
        "the erased row keeps what was not personal: {revealed}"
    );

    // The ledger never held the data: it verifies after the erasure.
    ok(d, &["ledger", "checkpoint"]);
    ok(d, &["ledger", "verify"]);

    // Erasing again, or someone never protected: nothing to erase, exit 1.
    let r = aigis(
        d,
        &[
            "data",
            "erase",
            "--subject",
            "cust-alpha",
            "--reason",
            "again",
        ],
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    // Bad input: a missing column, an empty reason.
    let r = aigis(
        d,
        &[
            "data",
            "protect",
            "c.csv",
            "--subject",
            "nope",
            "-o",
            "x.csv",
        ],
    );
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("has no column `nope`"), "{}", r.stderr);
    assert!(!d.join("x.csv").exists());
    let r = aigis(
        d,
        &["data", "erase", "--subject", "cust-beta", "--reason", " "],
    );
    assert_eq!(r.code, 2);
}

/// JSON Lines in and out: an erased subject's cells come back null, everyone else's as
/// what they were (numbers as numbers); `--format` as for `data mask`.
#[test]
fn a_json_lines_table_is_protected_and_revealed_with_its_kinds() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(d, &["init"]);
    let rows = [
        r#"{"id":"u-1","email":"ann@example.org","age":31,"plan":"gold"}"#,
        r#"{"id":"u-2","email":"bo@example.org","age":47.5,"plan":"free"}"#,
    ];
    std::fs::write(d.join("people.log"), rows.join("\n") + "\n").unwrap();
    let p: serde_json::Value = serde_json::from_str(
        &ok(
            d,
            &[
                "--json",
                "data",
                "protect",
                "people.log",
                "--format",
                "jsonl",
                "--subject",
                "id",
                "--columns",
                "email,age",
                "-o",
                "p.jsonl",
            ],
        )
        .stdout,
    )
    .unwrap();
    assert_eq!(
        (p["rows"].as_u64(), p["cells"].as_u64()),
        (Some(2), Some(6))
    );
    assert_eq!(p["input_format"], "jsonl");
    let protected = std::fs::read_to_string(d.join("p.jsonl")).unwrap();
    assert!(
        !protected.contains("ann@") && !protected.contains(":31") && !protected.contains("u-1"),
        "{protected}"
    );
    ok(
        d,
        &["data", "erase", "--subject", "u-1", "--reason", "request 7"],
    );
    let r: serde_json::Value = serde_json::from_str(
        &ok(d, &["--json", "data", "reveal", "p.jsonl", "-o", "r.jsonl"]).stdout,
    )
    .unwrap();
    assert_eq!(
        (r["erased_cells"].as_u64(), r["cells"].as_u64()),
        (Some(3), Some(3))
    );
    let back: Vec<serde_json::Value> = std::fs::read_to_string(d.join("r.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        back,
        [
            serde_json::json!({"id": null, "email": null, "age": null, "plan": "gold"}),
            serde_json::from_str::<serde_json::Value>(rows[1]).unwrap(),
        ]
    );
    let r = aigis(d, &["data", "reveal", "p.jsonl", "-o", "r.csv"]);
    assert_eq!(
        r.code, 2,
        "JSON Lines rows may differ in keys: not CSV ({})",
        r.stderr
    );
    assert!(!d.join("r.csv").exists());
}

#[test]
fn retention_rules_are_listed_and_enforced() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(d, &["init"]);
    std::fs::create_dir_all(d.join("raw")).unwrap();
    std::fs::write(d.join("raw/old.csv"), "a\n1\n").unwrap();
    std::fs::write(d.join("raw/new.csv"), "a\n2\n").unwrap();
    let forty_days_ago = SystemTime::now() - Duration::from_secs(40 * 86_400);
    std::fs::File::options()
        .write(true)
        .open(d.join("raw/old.csv"))
        .unwrap()
        .set_modified(forty_days_ago)
        .unwrap();
    let config = std::fs::read_to_string(d.join("aigis.toml")).unwrap();
    std::fs::write(
        d.join("aigis.toml"),
        format!("{config}\n[[data.retention]]\npath = \"raw\"\ndays = 30\n"),
    )
    .unwrap();
    let r = aigis(d, &["data", "retention"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stdout.contains("old.csv") && !r.stdout.contains("new.csv"),
        "{}",
        r.stdout
    );
    assert!(d.join("raw/old.csv").exists(), "listing deletes nothing");
    ok(d, &["data", "retention", "--enforce"]);
    assert!(!d.join("raw/old.csv").exists());
    assert!(d.join("raw/new.csv").exists());
    let listed = ok(d, &["--json", "evidence", "list"]).stdout;
    assert!(listed.contains("retention/v1"), "{listed}");
    ok(d, &["data", "retention"]);
    // A rule that does not read is refused by name.
    std::fs::write(
        d.join("aigis.toml"),
        format!("{config}\n[[data.retention]]\npath = \"raw\"\nkeep = 30\n"),
    )
    .unwrap();
    let r = aigis(d, &["data", "retention"]);
    assert_eq!(r.code, 2);
}

#[test]
fn minimisation_names_unused_columns_and_personal_data_in_the_clear() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(d, &["init"]);
    let mut csv = String::from("id,full_name,email,spend,y\n");
    let names = [
        "Ann Example",
        "Bo Sample",
        "Cy Person",
        "Di Tester",
        "Ed Writer",
    ];
    for i in 0..60 {
        csv.push_str(&format!(
            "c{i},{},user{i}@example.org,{},{}\n",
            names[i % 5],
            10 + i,
            i % 2
        ));
    }
    std::fs::write(d.join("t.csv"), &csv).unwrap();
    aigis(d, &["data", "scan", "t.csv", "--fail-on", "none"]);
    let r = aigis(
        d,
        &[
            "--json",
            "data",
            "minimise",
            "t.csv",
            "--features",
            "spend",
            "--label",
            "y",
        ],
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let unused: Vec<&str> = v["unused"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap())
        .collect();
    assert_eq!(unused, ["id", "full_name", "email"]);
    let clear: Vec<&str> = v["personal_in_clear"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["column"].as_str().unwrap())
        .collect();
    assert!(clear.contains(&"email"), "{v:#}");
    // Only what the model uses, nothing personal: passes.
    std::fs::write(
        d.join("min.csv"),
        csv.lines()
            .map(|l| {
                let f: Vec<&str> = l.split(',').collect();
                format!("{},{}\n", f[3], f[4])
            })
            .collect::<String>(),
    )
    .unwrap();
    aigis(d, &["data", "scan", "min.csv", "--fail-on", "none"]);
    ok(
        d,
        &[
            "data",
            "minimise",
            "min.csv",
            "--features",
            "spend",
            "--label",
            "y",
        ],
    );
}
