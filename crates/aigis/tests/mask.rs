//! `aigis data mask`, `aigis data detokenize` and `aigis keys mask` through the real
//! binary: outputs cell by cell, round trips, determinism, the key file, exit codes,
//! failed runs that leave no output, and evidence that holds counts and no values.

use crate::common;

use std::path::Path;

use common::{Run, aigis, aigis_in, ok};

const RULES: &str = r#"
[columns]
email = "hash"
card = { action = "mask", keep_last = 4 }
customer_id = "tokenize"
name = { action = "redact", text = "-" }
notes = "detect"

[pii]
email = "tokenize"
default = "redact"
"#;

const CSV: &str = "\
id,name,email,card,customer_id,notes
1,Ana Lima,ana@example.com,4111111111111111,CUST-ana-001,\"write to ana@example.com, ssn 123-45-6789\"
2,Bob Roe,bob@example.org,5500005555555559,CUST-bob-002,no pii here
3,Ana Lima,ana@example.com,4111111111111111,CUST-ana-001,
";

fn fails(dir: &Path, args: &[&str], code: i32, needles: &[&str]) -> Run {
    let r = aigis(dir, args);
    assert_eq!(r.code, code, "aigis {args:?}\n{}\n{}", r.stdout, r.stderr);
    for n in needles {
        assert!(
            r.stderr.contains(n),
            "aigis {args:?}: no `{n}` in: {}",
            r.stderr
        );
    }
    r
}

/// A project with `in.csv` and `rules.toml`.
fn setup() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    ok(dir.path(), &["init"]);
    std::fs::write(dir.path().join("in.csv"), CSV).unwrap();
    std::fs::write(dir.path().join("rules.toml"), RULES).unwrap();
    dir
}

fn read_csv(path: &Path) -> Vec<Vec<String>> {
    let mut r = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_path(path)
        .unwrap();
    r.records()
        .map(|rec| rec.unwrap().iter().map(str::to_owned).collect())
        .collect()
}

fn is_hex64(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

#[test]
fn csv_round_trip_is_deterministic_and_restores_the_tokenized_columns() {
    let dir = setup();
    let d = dir.path();
    let first = ok(
        d,
        &[
            "data",
            "mask",
            "in.csv",
            "-o",
            "out.csv",
            "--rules",
            "rules.toml",
        ],
    );
    assert!(
        first.stderr.contains("created the project's masking key"),
        "{}",
        first.stderr
    );
    let out = read_csv(&d.join("out.csv"));
    assert_eq!(
        out[0],
        ["id", "name", "email", "card", "customer_id", "notes"]
    );
    let (r1, r2, r3) = (&out[1], &out[2], &out[3]);
    assert_eq!(r1[0], "1");
    assert_eq!(r1[1], "-");
    assert!(is_hex64(&r1[2]), "{}", r1[2]);
    assert_eq!(r1[2], r3[2], "the same email hashes the same");
    assert_ne!(r1[2], r2[2]);
    assert_eq!(r1[3], "************1111");
    assert!(r1[4].starts_with("tok1."), "{}", r1[4]);
    assert_eq!(r1[4], r3[4], "the same id tokenizes the same");
    assert!(r1[5].starts_with("write to tok1."), "{}", r1[5]);
    assert!(r1[5].ends_with(", ssn [REDACTED:us_ssn]"), "{}", r1[5]);
    assert_eq!(r2[5], "no pii here");
    assert_eq!(r3[5], "");
    let masked = std::fs::read_to_string(d.join("out.csv")).unwrap();
    for secret in [
        "ana@example.com",
        "bob@example.org",
        "CUST-ana-001",
        "123-45-6789",
        "Ana Lima",
    ] {
        assert!(!masked.contains(secret), "{secret} leaked:\n{masked}");
    }

    // A second run: the same key (not recreated), byte for byte the same output.
    let key_before = std::fs::read(d.join(".aigis/keys/mask.key")).unwrap();
    let second = ok(
        d,
        &[
            "data",
            "mask",
            "in.csv",
            "-o",
            "out2.csv",
            "--rules",
            "rules.toml",
        ],
    );
    assert!(!second.stderr.contains("created"), "{}", second.stderr);
    assert_eq!(
        std::fs::read(d.join(".aigis/keys/mask.key")).unwrap(),
        key_before
    );
    assert_eq!(std::fs::read_to_string(d.join("out2.csv")).unwrap(), masked);

    // Detokenize one column: exactly the original there, the rest as masked.
    let back = ok(
        d,
        &[
            "data",
            "detokenize",
            "out.csv",
            "-o",
            "back.csv",
            "--columns",
            "customer_id",
        ],
    );
    assert!(
        back.stderr.contains("restored 3 token(s)"),
        "{}",
        back.stderr
    );
    let back = read_csv(&d.join("back.csv"));
    let orig = read_csv(&d.join("in.csv"));
    for (b, (o, m)) in back.iter().zip(orig.iter().zip(&out)) {
        assert_eq!(b[4], o[4]);
        assert_eq!(b[..4], m[..4]);
        assert_eq!(b[5], m[5]);
    }
    // Every column: the email inside the notes comes back too.
    let all = ok(
        d,
        &["data", "detokenize", "out.csv", "-o", "all.csv", "--json"],
    )
    .json();
    assert_eq!(all["tokens_restored"], 4);
    assert_eq!(all["columns"]["notes"], 1);
    let all = read_csv(&d.join("all.csv"));
    assert_eq!(all[1][5], "write to ana@example.com, ssn [REDACTED:us_ssn]");

    // An unknown --columns name is an error, and nothing is written.
    fails(
        d,
        &[
            "data",
            "detokenize",
            "out.csv",
            "-o",
            "x.csv",
            "--columns",
            "nope",
        ],
        2,
        &["no column `nope`"],
    );
    assert!(!d.join("x.csv").exists());
}

#[test]
fn jsonl_keeps_json_kinds_and_round_trips() {
    let dir = setup();
    let d = dir.path();
    std::fs::write(
        d.join("in.jsonl"),
        concat!(
            r#"{"id":1,"ok":true,"meta":{"a":[1,2]},"email":"ana@example.com","customer_id":"CUST-ana-001","score":0.5,"gone":null}"#,
            "\n\n",
            r#"{"id":2,"ok":false,"email":"bob@example.org","customer_id":"CUST-bob-002","score":7,"extra":"x"}"#,
            "\n",
        ),
    )
    .unwrap();
    let r = ok(
        d,
        &[
            "data",
            "mask",
            "in.jsonl",
            "-o",
            "out.jsonl",
            "--rules",
            "rules.toml",
            "--allow-missing-columns",
            "--json",
        ],
    )
    .json();
    assert_eq!(r["rows"], 2);
    assert_eq!(r["output_format"], "jsonl");
    assert_eq!(r["key_created"], true);
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(d.join("out.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    let a = &lines[0];
    assert_eq!(a["id"], 1);
    assert_eq!(a["ok"], true);
    assert_eq!(a["meta"]["a"][1], 2);
    assert_eq!(a["score"], 0.5);
    assert!(a["gone"].is_null());
    assert!(is_hex64(a["email"].as_str().unwrap()));
    assert!(a["customer_id"].as_str().unwrap().starts_with("tok1."));
    assert_eq!(lines[1]["extra"], "x");
    assert_eq!(lines[1]["score"], 7);

    ok(d, &["data", "detokenize", "out.jsonl", "-o", "back.jsonl"]);
    let back: Vec<serde_json::Value> = std::fs::read_to_string(d.join("back.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(back[0]["customer_id"], "CUST-ana-001");
    assert_eq!(back[1]["customer_id"], "CUST-bob-002");
    assert_eq!(back[0]["email"], a["email"]);
    assert_eq!(back[0]["meta"], a["meta"]);

    // JSON Lines cannot become CSV (rows may differ in keys); Parquet is not written.
    fails(
        d,
        &[
            "data",
            "mask",
            "in.jsonl",
            "-o",
            "o.csv",
            "--rules",
            "rules.toml",
            "--allow-missing-columns",
        ],
        2,
        &["-o out.jsonl"],
    );
    fails(
        d,
        &[
            "data",
            "mask",
            "in.csv",
            "-o",
            "o.parquet",
            "--rules",
            "rules.toml",
            "--allow-missing-columns",
        ],
        2,
        &["Parquet is not supported", "-o out.csv"],
    );
    assert!(!d.join("o.csv").exists() && !d.join("o.parquet").exists());
}

#[test]
fn the_key_is_created_once_with_mode_0600_and_a_sealed_key_needs_its_passphrase() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(d, &["init"]);
    std::fs::write(d.join("in.csv"), CSV).unwrap();
    std::fs::write(d.join("rules.toml"), RULES).unwrap();
    let pass = [("AIGIS_KEY_PASSPHRASE", "correct horse")];
    let new = aigis_in(d, &["keys", "mask", "new"], &pass);
    assert_eq!(new.code, 0, "{}", new.stderr);
    let id = new.stdout.trim().to_owned();
    assert_eq!(id.len(), 8, "{id}");
    let path = d.join(".aigis/keys/mask.key");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let file: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(file["format"], "aigis-mask-key/v1");
    assert_eq!(file["protection"], "argon2id+xchacha20poly1305");
    assert!(file.get("secret_key").is_none());

    // Never replaced; `show` prints only the id and needs no passphrase.
    let before = std::fs::read(&path).unwrap();
    let again = ok(d, &["keys", "mask", "new"]);
    assert_eq!(again.stdout.trim(), id);
    assert!(
        again.stderr.contains("kept the existing"),
        "{}",
        again.stderr
    );
    assert_eq!(std::fs::read(&path).unwrap(), before);
    assert_eq!(ok(d, &["keys", "mask", "show"]).stdout.trim(), id);

    fails(
        d,
        &[
            "data",
            "mask",
            "in.csv",
            "-o",
            "out.csv",
            "--rules",
            "rules.toml",
        ],
        2,
        &["masking key", "AIGIS_KEY_PASSPHRASE"],
    );
    assert!(!d.join("out.csv").exists());
    let wrong = aigis_in(
        d,
        &[
            "data",
            "mask",
            "in.csv",
            "-o",
            "out.csv",
            "--rules",
            "rules.toml",
        ],
        &[("AIGIS_KEY_PASSPHRASE", "wrong")],
    );
    // The signing key is not sealed, so only the masking key refuses the passphrase.
    assert_eq!(wrong.code, 2, "{}", wrong.stderr);
    assert!(
        wrong.stderr.contains("wrong passphrase"),
        "{}",
        wrong.stderr
    );
    let r = aigis_in(
        d,
        &[
            "data",
            "mask",
            "in.csv",
            "-o",
            "out.csv",
            "--rules",
            "rules.toml",
        ],
        &pass,
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        std::fs::read_to_string(d.join("out.csv"))
            .unwrap()
            .contains(&format!("tok1.{id}."))
    );
}

#[test]
fn tampered_and_foreign_tokens_are_refused_by_row_and_column() {
    let dir = setup();
    let d = dir.path();
    ok(
        d,
        &[
            "data",
            "mask",
            "in.csv",
            "-o",
            "out.csv",
            "--rules",
            "rules.toml",
        ],
    );
    let masked = std::fs::read_to_string(d.join("out.csv")).unwrap();
    let out = read_csv(&d.join("out.csv"));
    let token = out[2][4].clone();
    let mut chars: Vec<char> = token.chars().collect();
    let i = chars.len() - 2;
    chars[i] = if chars[i] == 'A' { 'B' } else { 'A' };
    let changed: String = chars.into_iter().collect();
    std::fs::write(d.join("tampered.csv"), masked.replace(&token, &changed)).unwrap();
    let r = fails(
        d,
        &["data", "detokenize", "tampered.csv", "-o", "back.csv"],
        1,
        &["row 2", "column `customer_id`", "changed or is corrupt"],
    );
    assert!(!r.stderr.contains("CUST-"), "{}", r.stderr);
    assert!(!d.join("back.csv").exists());

    // Another project's key: exit 2, both key ids named.
    let other = setup();
    let o = other.path();
    let other_id = ok(o, &["keys", "mask", "new"]).stdout.trim().to_owned();
    let our_id = ok(d, &["keys", "mask", "show"]).stdout.trim().to_owned();
    let key_file = o.join(".aigis/keys/mask.key");
    fails(
        d,
        &[
            "data",
            "detokenize",
            "out.csv",
            "-o",
            "back.csv",
            "--key-file",
            key_file.to_str().unwrap(),
        ],
        2,
        &["row 1", &other_id, &our_id],
    );
    assert!(!d.join("back.csv").exists());
}

#[test]
fn bad_input_exits_2_naming_the_place_and_leaves_no_output() {
    let dir = setup();
    let d = dir.path();
    let mask = |input: &str, rules: &str| {
        aigis(
            d,
            &["data", "mask", input, "-o", "out.csv", "--rules", rules],
        )
    };
    std::fs::write(d.join("bad.toml"), "[columns]\nemail = \"scramble\"\n").unwrap();
    let r = mask("in.csv", "bad.toml");
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("columns.email") && r.stderr.contains("scramble"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("bad.toml"), "{}", r.stderr);

    // A row longer than the header.
    std::fs::write(d.join("long.csv"), "a,email\n1,x@y.io\n2,z@y.io,extra\n").unwrap();
    let r = mask("long.csv", "rules.toml");
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("long.csv") && r.stderr.contains("row 2"),
        "{}",
        r.stderr
    );
    // A cell that is not UTF-8.
    std::fs::write(d.join("enc.csv"), b"a,email\n1,x@y.io\n2,\xff\xfe\n").unwrap();
    let r = mask("enc.csv", "rules.toml");
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("row 2, column `email`"), "{}", r.stderr);
    // A duplicated header name would escape its rule.
    std::fs::write(d.join("dup.csv"), "email,email\nx@y.io,z@y.io\n").unwrap();
    let r = mask("dup.csv", "rules.toml");
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("the header"), "{}", r.stderr);
    // A JSON line that is not an object.
    std::fs::write(d.join("bad.jsonl"), "{\"email\":\"x@y.io\"}\n[1,2]\n").unwrap();
    let r = aigis(
        d,
        &[
            "data",
            "mask",
            "bad.jsonl",
            "-o",
            "out.jsonl",
            "--rules",
            "rules.toml",
        ],
    );
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("bad.jsonl") && r.stderr.contains("row 2"),
        "{}",
        r.stderr
    );
    assert!(!d.join("out.jsonl").exists());
    // Output over the input, and a missing input.
    let r = aigis(
        d,
        &[
            "data",
            "mask",
            "in.csv",
            "-o",
            "in.csv",
            "--rules",
            "rules.toml",
        ],
    );
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("is the input"), "{}", r.stderr);
    assert_eq!(std::fs::read_to_string(d.join("in.csv")).unwrap(), CSV);
    let r = mask("missing.csv", "rules.toml");
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("missing.csv"), "{}", r.stderr);

    assert!(!d.join("out.csv").exists());
    let leftovers: Vec<_> = std::fs::read_dir(d)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(".aigis-tmp"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");

    // Short rows are padded and counted.
    std::fs::write(d.join("short.csv"), "a,email,notes\n1,x@y.io\n").unwrap();
    let r = ok(
        d,
        &[
            "data",
            "mask",
            "short.csv",
            "-o",
            "out.csv",
            "--rules",
            "rules.toml",
            "--allow-missing-columns",
            "--json",
        ],
    )
    .json();
    assert_eq!(r["ragged_rows_padded"], 1);
    let out = read_csv(&d.join("out.csv"));
    assert_eq!(out[1].len(), 3);
    assert_eq!(out[1][2], "");

    // No project: the key lives there, so it is an error that says so.
    let bare = tempfile::tempdir().unwrap();
    std::fs::write(bare.path().join("in.csv"), CSV).unwrap();
    std::fs::write(bare.path().join("rules.toml"), RULES).unwrap();
    let r = aigis(
        bare.path(),
        &[
            "data",
            "mask",
            "in.csv",
            "-o",
            "out.csv",
            "--rules",
            "rules.toml",
        ],
    );
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("needs a project"), "{}", r.stderr);
    assert!(!bare.path().join("out.csv").exists());
}

#[test]
fn evidence_records_digests_key_id_and_counts_never_values() {
    let dir = setup();
    let d = dir.path();
    let m = ok(
        d,
        &[
            "data",
            "mask",
            "in.csv",
            "-o",
            "out.csv",
            "--rules",
            "rules.toml",
            "--json",
        ],
    )
    .json();
    let index = m["evidence"].as_u64().unwrap().to_string();
    let st = ok(d, &["evidence", "show", &index, "--statement"]);
    let v = st.json();
    assert_eq!(
        v["predicateType"],
        "https://aigis.dev/predicate/data-mask/v1"
    );
    let subjects = v["subject"].as_array().unwrap();
    assert_eq!(subjects.len(), 2);
    assert_eq!(subjects[0]["digest"]["sha256"], m["input_sha256"]);
    assert_eq!(subjects[1]["digest"]["sha256"], m["output_sha256"]);
    let p = &v["predicate"];
    assert_eq!(p["key_id"], m["key_id"]);
    assert!(p["rules"].as_str().unwrap().starts_with("sha256:"));
    assert_eq!(p["rows"], 3);
    assert_eq!(p["columns"]["email"][0]["action"], "hash");
    assert_eq!(p["columns"]["email"][0]["count"], 3);
    assert_eq!(p["columns"]["notes"][0]["kind"], "email");
    for value in [
        "ana@example.com",
        "CUST-ana-001",
        "123-45-6789",
        "4111",
        "Ana Lima",
        "tok1.",
    ] {
        assert!(
            !st.stdout.contains(value),
            "{value} in the evidence:\n{}",
            st.stdout
        );
    }

    let t = ok(
        d,
        &["data", "detokenize", "out.csv", "-o", "back.csv", "--json"],
    )
    .json();
    let index = t["evidence"].as_u64().unwrap().to_string();
    let st = ok(d, &["evidence", "show", &index, "--statement"]);
    let v = st.json();
    assert_eq!(
        v["predicateType"],
        "https://aigis.dev/predicate/data-detokenize/v1"
    );
    assert_eq!(v["predicate"]["key_id"], m["key_id"]);
    assert_eq!(v["predicate"]["columns"]["customer_id"], 3);
    assert!(!st.stdout.contains("CUST-ana-001"), "{}", st.stdout);
}

#[test]
fn parquet_input_is_written_as_jsonl_or_tsv() {
    use std::sync::Arc;

    use arrow_array::{Array, Int64Array, RecordBatch, StringArray};
    let dir = setup();
    let d = dir.path();
    let batch = RecordBatch::try_from_iter([
        (
            "id",
            Arc::new(Int64Array::from(vec![1, 2])) as Arc<dyn Array>,
        ),
        (
            "email",
            Arc::new(StringArray::from(vec![Some("ana@example.com"), None])),
        ),
        (
            "customer_id",
            Arc::new(StringArray::from(vec!["CUST-ana-001", "CUST-bob-002"])),
        ),
    ])
    .unwrap();
    let file = std::fs::File::create(d.join("in.parquet")).unwrap();
    let mut w = parquet::arrow::ArrowWriter::try_new(file, batch.schema(), None).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();

    ok(
        d,
        &[
            "data",
            "mask",
            "in.parquet",
            "-o",
            "out.jsonl",
            "--rules",
            "rules.toml",
            "--allow-missing-columns",
        ],
    );
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(d.join("out.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines[0]["id"], 1);
    assert!(is_hex64(lines[0]["email"].as_str().unwrap()));
    assert!(lines[1]["email"].is_null());
    assert!(
        lines[1]["customer_id"]
            .as_str()
            .unwrap()
            .starts_with("tok1.")
    );

    // Tab-separated output for `.tsv`, and it round-trips.
    ok(
        d,
        &[
            "data",
            "mask",
            "in.parquet",
            "-o",
            "out.tsv",
            "--rules",
            "rules.toml",
            "--allow-missing-columns",
        ],
    );
    let tsv = std::fs::read_to_string(d.join("out.tsv")).unwrap();
    assert!(tsv.starts_with("id\temail\tcustomer_id\n"), "{tsv}");
    ok(d, &["data", "detokenize", "out.tsv", "-o", "back.tsv"]);
    let back = std::fs::read_to_string(d.join("back.tsv")).unwrap();
    assert!(back.ends_with("2\t\tCUST-bob-002\n"), "{back}");
    assert!(back.contains("\tCUST-ana-001\n"), "{back}");
}

#[test]
fn help_shows_examples_and_the_rules_format() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mask = ok(d, &["data", "mask", "--help"]).stdout;
    for needle in [
        "Examples:\n  aigis data mask",
        "[columns]",
        "[pii]",
        "Parquet is not",
        "-o out.csv",
    ] {
        assert!(mask.contains(needle), "no `{needle}` in:\n{mask}");
    }
    let detok = ok(d, &["data", "detokenize", "--help"]).stdout;
    assert!(
        detok.contains("Examples:\n  aigis data detokenize") && detok.contains("--key-file"),
        "{detok}"
    );
    assert!(ok(d, &["keys", "mask", "--help"]).stdout.contains("new"));
    // Usage errors exit 2: --out and --rules are required.
    let r = aigis(d, &["data", "mask", "in.csv"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
}

#[test]
fn a_rule_for_a_missing_column_fails_closed() {
    let dir = setup();
    let p = dir.path();
    std::fs::write(p.join("typo.toml"), "[columns]\nemial = \"hash\"\n").unwrap();
    fails(
        p,
        &[
            "data",
            "mask",
            "in.csv",
            "-o",
            "out.csv",
            "--rules",
            "typo.toml",
        ],
        2,
        &["`emial`", "would not be masked", "--allow-missing-columns"],
    );
    assert!(!p.join("out.csv").exists(), "nothing written");
    ok(
        p,
        &[
            "data",
            "mask",
            "in.csv",
            "-o",
            "out.csv",
            "--rules",
            "typo.toml",
            "--allow-missing-columns",
        ],
    );
    assert!(p.join("out.csv").exists());
}

#[test]
fn a_rotated_masking_key_opens_its_tokens_for_the_overlap_and_then_never() {
    let dir = setup();
    let d = dir.path();
    ok(
        d,
        &[
            "data",
            "mask",
            "in.csv",
            "-o",
            "old.csv",
            "--rules",
            "rules.toml",
        ],
    );
    let r = ok(
        d,
        &["--json", "keys", "mask", "rotate", "--overlap-days", "30"],
    );
    let rot: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_ne!(rot["old_key_id"], rot["new_key_id"]);
    let shown = ok(
        d,
        &[
            "--json",
            "evidence",
            "show",
            &rot["evidence"].to_string(),
            "--statement",
        ],
    )
    .stdout;
    assert!(shown.contains("secret-rotation"), "{shown}");
    // New tokens are the new key's; both files open during the overlap.
    ok(
        d,
        &[
            "data",
            "mask",
            "in.csv",
            "-o",
            "new.csv",
            "--rules",
            "rules.toml",
        ],
    );
    let new_id = rot["new_key_id"].as_str().unwrap();
    assert!(read_csv(&d.join("new.csv"))[1][4].starts_with(&format!("tok1.{new_id}.")));
    ok(d, &["data", "detokenize", "old.csv", "-o", "old.back.csv"]);
    ok(d, &["data", "detokenize", "new.csv", "-o", "new.back.csv"]);
    assert_eq!(read_csv(&d.join("old.back.csv"))[1][4], "CUST-ana-001");
    // The overlap ends: the old key is deleted, and its tokens never open again.
    let old_id = rot["old_key_id"].as_str().unwrap();
    let expiry = d.join(format!(".aigis/keys/retired/mask-{old_id}.json"));
    std::fs::write(&expiry, "{\"expires_unix\": 1}").unwrap();
    let r = aigis(d, &["data", "detokenize", "old.csv", "-o", "gone.csv"]);
    assert_ne!(r.code, 0, "{}", r.stdout);
    assert!(r.stderr.contains("overlap ended"), "{}", r.stderr);
    assert!(
        !d.join(format!(".aigis/keys/retired/mask-{old_id}.key"))
            .exists()
    );
    ok(d, &["data", "detokenize", "new.csv", "-o", "new.back2.csv"]);
}
