use super::*;

fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn reference_csv() -> String {
    let mut s = String::from("id,amount,country,signup\n");
    for i in 0..500 {
        s.push_str(&format!(
            "{i},{}.25,{},2026-01-{:02}\n",
            i % 90 + 10,
            ["FR", "DE", "US"][i % 3],
            i % 28 + 1
        ));
    }
    s
}

#[test]
fn reference_profile_catches_every_kind_of_violation() {
    let dir = tempfile::tempdir().unwrap();
    let reference = write(dir.path(), "ref.csv", &reference_csv());
    let profile = profile(
        &reference,
        None,
        &ReadOptions::default(),
        Some(2),
        &|_: Progress<'_>| {},
    )
    .unwrap();
    assert_eq!(profile.rows, 500);

    let mut s = String::from("id,amount,country,extra\n");
    s.push_str("1,20.25,FR,x\n"); // row 1: fine
    s.push_str("two,20.25,FR,x\n"); // row 2: type
    s.push_str("3,5000,FR,x\n"); // row 3: range
    s.push_str("4,20.25,XX,x\n"); // row 4: category
    s.push_str(",20.25,DE,x\n"); // row 5: unexpected null
    s.push_str("6,20.25\n"); // row 6: ragged, and null country
    let scanned = write(dir.path(), "new.csv", &s);
    let options = ScanOptions {
        profile: Some(profile),
        threads: Some(2),
        read: ReadOptions {
            batch_rows: 2,
            ..ReadOptions::default()
        },
        ..ScanOptions::default()
    };
    let report = scan(&scanned, &options, &|_: Progress<'_>| {}).unwrap();
    assert_eq!(report.rows, 6);
    assert_eq!(report.schema, "reference");
    let got: Vec<(Option<u64>, &str, Option<&str>)> = report
        .findings
        .iter()
        .map(|f| (f.row, f.rule.as_str(), f.column.as_deref()))
        .collect();
    for want in [
        (Some(2), "schema.type", Some("id")),
        (Some(3), "schema.range", Some("amount")),
        (Some(4), "schema.category", Some("country")),
        (Some(5), "schema.null", Some("id")),
        (Some(6), "read.ragged_row", None),
        (Some(6), "schema.null", Some("country")),
        (None, "schema.missing_column", Some("signup")),
        (None, "schema.extra_column", Some("extra")),
    ] {
        assert!(got.contains(&want), "{want:?} not in {got:?}");
    }
    assert_eq!(report.worst(), Some(Severity::High));
    assert!(
        report
            .findings
            .iter()
            .all(|f| f.file.as_deref() == Some(&*scanned.to_string_lossy()))
    );
}

#[test]
fn inferred_types_flag_later_rows_and_details_are_capped() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = String::from("n,label\n");
    for i in 0..3000 {
        if i >= 2000 && i % 2 == 0 {
            s.push_str("n/a-ish,1\n");
        } else {
            s.push_str(&format!("{i},1\n"));
        }
    }
    let p = write(dir.path(), "t.csv", &s);
    let options = ScanOptions {
        max_details: 10,
        threads: Some(2),
        read: ReadOptions {
            batch_rows: 256,
            ..ReadOptions::default()
        },
        ..ScanOptions::default()
    };
    let report = scan(&p, &options, &|_: Progress<'_>| {}).unwrap();
    assert_eq!(report.schema, "inferred");
    let types = report
        .counts
        .iter()
        .find(|c| c.rule == "schema.type")
        .unwrap();
    assert_eq!(types.count, 500);
    let details: Vec<u64> = report
        .findings
        .iter()
        .filter(|f| f.rule == "schema.type")
        .filter_map(|f| f.row)
        .collect();
    // The first ten rows, whatever order the workers saw the batches in.
    assert_eq!(details, (0..10).map(|k| 2001 + 2 * k).collect::<Vec<u64>>());
    assert_eq!(report.count_at_least(Severity::High), 0);
}

#[test]
fn read_errors_stop_the_scan_with_the_row() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = String::from("a\n1\n");
    s.push_str(&"x".repeat(5000));
    s.push('\n');
    let p = write(dir.path(), "t.csv", &s);
    let options = ScanOptions {
        read: ReadOptions {
            max_record_bytes: 1000,
            ..ReadOptions::default()
        },
        ..ScanOptions::default()
    };
    let err = scan(&p, &options, &|_: Progress<'_>| {})
        .unwrap_err()
        .to_string();
    assert!(err.contains("row 2"), "{err}");
}

#[test]
fn personal_data_is_found_with_row_column_and_confidence() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = String::from("id,contact,card_number,notes,amount\n");
    for i in 0..50 {
        s.push_str(&format!("{i},none,,ordinary text {i},{i}.5\n"));
    }
    s.push_str("50,ana@example.org,4111 1111 1111 1111,call (415) 555-2671,1.5\n");
    s.push_str("51,none,,ssn 123-45-6789 and key AKIAIOSFODNN7EXAMPLE,2.5\n");
    let p = write(dir.path(), "t.csv", &s);
    let report = scan(&p, &ScanOptions::default(), &|_: Progress<'_>| {}).unwrap();
    let got: Vec<(u64, &str, &str)> = report
        .findings
        .iter()
        .filter(|f| f.rule.starts_with("pii."))
        .map(|f| {
            (
                f.row.unwrap(),
                f.column.as_deref().unwrap(),
                f.rule.as_str(),
            )
        })
        .collect();
    for want in [
        (51, "contact", "pii.email"),
        (51, "card_number", "pii.credit_card"),
        (51, "notes", "pii.phone"),
        (52, "notes", "pii.us_ssn"),
        (52, "notes", "pii.api_key"),
    ] {
        assert!(got.contains(&want), "{want:?} not in {got:?}");
    }
    assert!(
        report
            .findings
            .iter()
            .filter(|f| f.rule.starts_with("pii."))
            .all(|f| f.confidence.unwrap() >= 0.5)
    );
    // No values in the messages.
    assert!(
        report
            .findings
            .iter()
            .all(|f| !f.message.contains("example.org") && !f.message.contains("1111"))
    );
    assert_eq!(report.worst(), Some(Severity::High));
    let off = ScanOptions {
        pii: false,
        ..ScanOptions::default()
    };
    assert!(
        scan(&p, &off, &|_: Progress<'_>| {})
            .unwrap()
            .findings
            .is_empty()
    );
}

#[test]
fn column_findings_count_every_row_and_keep_the_first_in_detail() {
    let mut sink = Sink::new(3, Some(Severity::Medium));
    let template = Finding::new("pii.person_name", Severity::Medium, "a name").in_column("c1");
    // A later batch first, as workers may see them.
    sink.push_rows(template.clone(), &[11, 12, 13, 14]);
    sink.push_rows(template.clone(), &[2, 5]);
    sink.push_rows(template, &[]);
    let key = ("pii.person_name".to_owned(), Some("c1".to_owned()));
    assert_eq!(sink.counts[&key], (Severity::Medium, 6));
    let rows: Vec<Option<u64>> = sink.details[&key].iter().map(|f| f.row).collect();
    assert_eq!(rows, [Some(2), Some(5), Some(11)]);
    assert_eq!(sink.flagged.len(), 6);
    assert!(sink.flagged[&14].contains("pii.person_name"));
    let mut low = Sink::new(3, Some(Severity::High));
    low.push_rows(
        Finding::new("pii.given_name", Severity::Low, "x").in_column("c2"),
        &[1, 2],
    );
    assert!(low.flagged.is_empty(), "below the quarantine threshold");
}

#[test]
fn a_scan_judges_name_and_birth_columns_and_counts_quasi_identifiers() {
    let dir = tempfile::tempdir().unwrap();
    let given = [
        "James", "Maria", "Robert", "Linda", "Miguel", "Aisha", "Sofia", "Emily",
    ];
    let family = [
        "Smith", "Garcia", "Nguyen", "Johnson", "Brown", "Lopez", "Davis", "Kim",
    ];
    let mut csv = String::from("full_name,dob,sex,zip,amount\n");
    for i in 0..400 {
        csv.push_str(&format!(
            "{} {},{}-{:02}-{:02},{},{:05},{}.5\n",
            given[i % 8],
            family[(i / 8) % 8],
            1940 + (i * 7) % 60,
            1 + i % 12,
            1 + (i * 3) % 28,
            ["M", "F"][i % 2],
            10000 + (i * 37) % 500,
            i
        ));
    }
    let path = write(dir.path(), "people.csv", &csv);
    let options = ScanOptions {
        read: ReadOptions {
            batch_rows: 64,
            ..ReadOptions::default()
        },
        threads: Some(2),
        ..ScanOptions::default()
    };
    let report = scan(&path, &options, &|_| {}).unwrap();
    let kinds: Vec<(&str, PiiKind)> = report
        .personal_columns
        .iter()
        .map(|c| (c.column.as_str(), c.kind))
        .collect();
    assert_eq!(
        kinds,
        [
            ("full_name", PiiKind::PersonName),
            ("dob", PiiKind::DateOfBirth),
            ("zip", PiiKind::PostalCode)
        ]
    );
    let count = |rule: &str| {
        report
            .counts
            .iter()
            .filter(|c| c.rule == rule)
            .map(|c| c.count)
            .sum::<u64>()
    };
    assert_eq!(count("pii.person_name"), 400, "every row, across batches");
    assert_eq!(count("pii.date_of_birth"), 400);
    let q = report.quasi_identifiers.as_ref().unwrap();
    assert_eq!(q.rows, 400);
    let columns: Vec<&str> = q.candidates.iter().map(|c| c.column.as_str()).collect();
    assert_eq!(columns, ["dob", "zip", "sex"]);
    let all = q.sets.iter().find(|s| s.columns.len() == 3).unwrap();
    assert_eq!(all.unique_share, 1.0);
    assert_eq!(count("pii.quasi_identifier"), 1);
    // Without PII detection, none of it.
    let off = scan(
        &path,
        &ScanOptions {
            pii: false,
            ..options.clone()
        },
        &|_| {},
    )
    .unwrap();
    assert!(off.personal_columns.is_empty() && off.quasi_identifiers.is_none());
}
