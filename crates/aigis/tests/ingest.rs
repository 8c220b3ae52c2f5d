//! `aigis data ingest` through the real binary: only approved, signed, unchanged and
//! clean data gets in, and every decision is recorded.

use crate::common;

use std::path::Path;

use common::{aigis, ok};

fn clean_table() -> String {
    let mut s = String::from("id,amount,country\n");
    for i in 0..200 {
        s.push_str(&format!("{i},{}.5,{}\n", i % 90, ["FR", "DE"][i % 2]));
    }
    s
}

/// A consumer project approving source `vendor-x` (a second project) for
/// `incoming/vendor-x`; returns (tempdir, consumer root, vendor root).
fn setup() -> (tempfile::TempDir, std::path::PathBuf, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let consumer = dir.path().join("consumer");
    let vendor = dir.path().join("vendor");
    std::fs::create_dir_all(consumer.join("incoming/vendor-x/batch1")).unwrap();
    std::fs::create_dir_all(&vendor).unwrap();
    ok(&consumer, &["init"]);
    ok(&vendor, &["init"]);
    let vkey = ok(&vendor, &["keys", "show"]).stdout.trim().to_owned();
    let mut config = std::fs::read_to_string(consumer.join("aigis.toml")).unwrap();
    config.push_str(&format!(
        "\n[[data.sources]]\nname = \"vendor-x\"\npath = \"incoming/vendor-x\"\nkeys = [\"{vkey}\"]\n"
    ));
    std::fs::write(consumer.join("aigis.toml"), config).unwrap();
    std::fs::write(
        consumer.join("incoming/vendor-x/batch1/train.csv"),
        clean_table(),
    )
    .unwrap();
    (dir, consumer, vendor)
}

fn vendor_signs(vendor: &Path, path: &Path) {
    ok(vendor, &["data", "sign", path.to_str().unwrap()]);
}

#[test]
fn approved_signed_clean_data_is_accepted_with_provenance() {
    let (_dir, consumer, vendor) = setup();
    vendor_signs(&vendor, &consumer.join("incoming/vendor-x/batch1"));
    let r = ok(
        &consumer,
        &["--json", "data", "ingest", "incoming/vendor-x/batch1"],
    );
    let v = r.json();
    assert_eq!(v["accepted"], true);
    assert_eq!(v["files"], 1);
    assert_eq!(v["scans"][0]["passed"], true);
    let index = v["provenance_evidence"].as_u64().unwrap().to_string();
    let shown = ok(&consumer, &["evidence", "show", &index, "--statement"]);
    let statement: serde_json::Value = serde_json::from_str(&shown.stdout).unwrap();
    assert_eq!(statement["predicateType"], "https://slsa.dev/provenance/v1");
    assert_eq!(statement["subject"][0]["name"], "train.csv");
    let build = &statement["predicate"]["buildDefinition"];
    assert_eq!(build["externalParameters"]["source"]["name"], "vendor-x");
    assert!(build["internalParameters"]["runBy"]["keyId"].is_string());
    assert_eq!(build["resolvedDependencies"][0]["name"], "source manifest");
    // The project's own manifest of what it took in verifies like any other.
    let manifest = v["manifest"].as_str().unwrap();
    ok(
        &consumer,
        &[
            "data",
            "verify",
            "incoming/vendor-x/batch1",
            "--manifest",
            manifest,
        ],
    );
}

#[test]
fn unknown_unsigned_foreign_or_changed_sources_are_refused() {
    let (dir, consumer, vendor) = setup();
    // Not under any approved source.
    let stray = dir.path().join("stray.csv");
    std::fs::write(&stray, clean_table()).unwrap();
    let r = aigis(&consumer, &["data", "ingest", stray.to_str().unwrap()]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("not from an approved source") && r.stderr.contains("vendor-x"),
        "{}",
        r.stderr
    );
    // A refusal (exit 1) prints its hint once, last, apart from the message.
    assert_eq!(
        r.stderr.lines().last(),
        Some("hint: add a [[data.sources]] entry (name, path, keys) to aigis.toml"),
        "{}",
        r.stderr
    );
    assert_eq!(r.stderr.matches("hint:").count(), 1, "{}", r.stderr);

    // Approved place, but nobody signed it.
    let r = aigis(&consumer, &["data", "ingest", "incoming/vendor-x/batch1"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("unsigned"), "{}", r.stderr);

    // Signed, but by a key the source is not approved with (the consumer's own).
    ok(&consumer, &["data", "sign", "incoming/vendor-x/batch1"]);
    let r = aigis(&consumer, &["data", "ingest", "incoming/vendor-x/batch1"]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr
            .contains("not signed by a key approved for source `vendor-x`"),
        "{}",
        r.stderr
    );

    // Signed by the vendor, then changed.
    vendor_signs(&vendor, &consumer.join("incoming/vendor-x/batch1"));
    let csv = consumer.join("incoming/vendor-x/batch1/train.csv");
    let text = std::fs::read_to_string(&csv)
        .unwrap()
        .replace("17,17.5,DE", "17,99.5,DE");
    std::fs::write(&csv, text).unwrap();
    let r = aigis(&consumer, &["data", "ingest", "incoming/vendor-x/batch1"]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr
            .contains("changed after source `vendor-x` signed it")
            && r.stderr.contains("train.csv"),
        "{}",
        r.stderr
    );
}

#[test]
fn data_with_findings_is_refused_and_the_refusal_recorded() {
    let (_dir, consumer, vendor) = setup();
    let mut dirty = clean_table();
    dirty.push_str("200,1.5,FR\n201,4111 1111 1111 1111,DE\n");
    std::fs::write(consumer.join("incoming/vendor-x/batch1/train.csv"), dirty).unwrap();
    vendor_signs(&vendor, &consumer.join("incoming/vendor-x/batch1"));
    let r = aigis(
        &consumer,
        &["--json", "data", "ingest", "incoming/vendor-x/batch1"],
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    let v = r.json();
    assert_eq!(v["accepted"], false);
    assert!(v["refusals"][0].as_str().unwrap().contains("train.csv"));
    let index = v["provenance_evidence"].as_u64().unwrap().to_string();
    let shown = ok(&consumer, &["evidence", "show", &index, "--statement"]);
    assert!(
        shown.stdout.contains("\"accepted\": false"),
        "{}",
        shown.stdout
    );
    assert!(!shown.stdout.contains("4111"), "no values in evidence");
    // With a lower bar the same data gets in.
    let r = ok(
        &consumer,
        &[
            "data",
            "ingest",
            "incoming/vendor-x/batch1",
            "--fail-on",
            "critical",
        ],
    );
    assert!(r.stdout.contains("accepted 1 file"), "{}", r.stdout);
}

/// `[data]` is read by the data stage, but a mistake in it is refused by every command,
/// naming the file and the key, as when the ledger crate read it.
#[test]
fn a_misspelt_source_key_is_refused_by_every_command() {
    let (_dir, consumer, _) = setup();
    let path = consumer.join("aigis.toml");
    let config = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, format!("{config}lable = \"target\"\n")).unwrap();
    for args in [&["evidence", "list"][..], &["ledger", "status"]] {
        let r = aigis(&consumer, args);
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
        assert!(
            r.stderr.contains("invalid project file")
                && r.stderr.contains("aigis.toml")
                && r.stderr.contains("unknown field `lable`"),
            "{args:?}: {}",
            r.stderr
        );
    }
    // Put right, the project works again.
    std::fs::write(&path, format!("{config}label = \"target\"\n")).unwrap();
    ok(&consumer, &["evidence", "list"]);
}
