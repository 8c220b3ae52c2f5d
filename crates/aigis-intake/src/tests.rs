//! The ingest policy and the manifest helpers on a real project in a temporary folder,
//! without the command line.

use std::path::{Path, PathBuf};

use aigis_core::{CheckFailure as _, NoProgress, Severity};
use aigis_crypto::SigningKey;
use aigis_crypto::keyfile::KdfParams;
use aigis_evidence::{IngestProvenance, Predicate as _};
use aigis_ledger::Project;

use crate::Error;
use crate::ingest::{Request, ingest};
use crate::manifest;
use crate::scan::FailOn;

/// A clean table: no personal data, nothing that looks poisoned.
fn clean_table() -> String {
    let mut s = String::from("id,amount,label\n");
    for i in 0..200 {
        s.push_str(&format!("{i},{}.5,{}\n", 10 + i % 37, i % 2));
    }
    s
}

struct Fixture {
    _dir: tempfile::TempDir,
    project: Project,
    key: SigningKey,
    vendor: SigningKey,
    batch: PathBuf,
}

/// A project approving source `vendor-x` (folder `incoming/vendor-x`, the vendor's key),
/// with one batch in it holding `table`, signed by the vendor.
fn fixture(table: &str) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("p");
    Project::init(&root, Some("test"), None, KdfParams::default()).unwrap();
    let vendor = SigningKey::generate();
    let vkey = aigis_crypto::note::verifier_key("vendor-x", &vendor.public()).unwrap();
    let mut config = std::fs::read_to_string(root.join("aigis.toml")).unwrap();
    config.push_str(&format!(
        "\n[[data.sources]]\nname = \"vendor-x\"\npath = \"incoming/vendor-x\"\nkeys = [\"{vkey}\"]\n"
    ));
    std::fs::write(root.join("aigis.toml"), config).unwrap();
    let project = Project::load(&root).unwrap();
    let batch = root.join("incoming/vendor-x/batch-1");
    std::fs::create_dir_all(&batch).unwrap();
    std::fs::write(batch.join("train.csv"), table).unwrap();
    sign_as(&vendor, &batch);
    let key = project.signing_key(None).unwrap();
    Fixture {
        _dir: dir,
        project,
        key,
        vendor,
        batch,
    }
}

/// Signs `path`'s manifest with `key`, beside it.
fn sign_as(key: &SigningKey, path: &Path) {
    let m = aigis_data::manifest::build(path, &Default::default(), &|_| {}).unwrap();
    let out = manifest::default_path(path).unwrap();
    std::fs::write(out, manifest::signed_envelope(key, &m).unwrap()).unwrap();
}

impl Fixture {
    fn ingest(&self, src: &Path) -> Result<crate::ingest::Outcome, Error> {
        let request = Request::new(src.to_owned(), FailOn::at(Severity::High));
        ingest(&self.project, &self.key, &request, &NoProgress)
    }

    fn provenance(&self, index: u64) -> IngestProvenance {
        let ledger = self.project.open_ledger().unwrap();
        let entry = ledger.store().entry(index).unwrap().unwrap();
        let envelope = aigis_crypto::dsse::Envelope::from_json(&entry.body).unwrap();
        let statement = aigis_core::Statement::from_json(&envelope.payload).unwrap();
        IngestProvenance::from_statement(&statement).unwrap()
    }
}

#[test]
fn approved_signed_clean_data_is_accepted_with_the_projects_manifest_and_provenance() {
    let f = fixture(&clean_table());
    let o = f.ingest(&f.batch).unwrap();
    assert!(o.accepted, "{:?}", o.refusals);
    assert_eq!(
        (o.source.as_str(), o.files, o.scans.len()),
        ("vendor-x", 1, 1)
    );
    assert_eq!(o.signed_by, f.vendor.public().key_id());
    // The project's own manifest verifies with the project's key and is in the ledger.
    let out = o.manifest.clone().unwrap();
    assert!(out.starts_with(f.project.layout().ingested_dir()));
    let signed = manifest::open_signed(&out, &[f.key.public()]).unwrap();
    let place = manifest::find_in_ledger(&f.project, &signed, &[])
        .unwrap()
        .unwrap();
    assert_eq!(Some(place.index), o.manifest_evidence);
    let p = f.provenance(o.provenance_evidence);
    assert_eq!(
        p.build_definition.external_parameters.source.name,
        "vendor-x"
    );
    assert_eq!(p.build_definition.external_parameters.fail_on, "high");
}

#[test]
fn data_with_findings_is_refused_and_the_refusal_recorded() {
    let mut table = clean_table();
    table.push_str("200,4111 1111 1111 1111,1\n");
    let f = fixture(&table);
    let o = f.ingest(&f.batch).unwrap();
    assert!(!o.accepted);
    assert!(o.refusals[0].starts_with("train.csv: "), "{:?}", o.refusals);
    assert_eq!(o.manifest, None);
    let p = f.provenance(o.provenance_evidence);
    let text = serde_json::to_string(&p).unwrap();
    assert!(text.contains("\"accepted\":false"), "{text}");
    // The card number itself, not any run of its digits: hex digests and key ids in the
    // evidence hold "4111" by chance now and then.
    assert!(
        !text.contains("4111 1111 1111 1111") && !text.contains("4111111111111111"),
        "no values in evidence: {text}"
    );
}

#[test]
fn unknown_unsigned_foreign_and_changed_sources_are_failed_checks() {
    let f = fixture(&clean_table());
    // Not in an approved source.
    let elsewhere = f.project.root.join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    std::fs::write(elsewhere.join("a.csv"), "a\n1\n").unwrap();
    let e = f.ingest(&elsewhere).unwrap_err();
    assert!(
        matches!(e, Error::NotApproved { .. }) && e.is_check_failure(),
        "{e}"
    );
    assert!(e.to_string().contains("`vendor-x`"), "{e}");

    // Unsigned.
    let other = f.project.root.join("incoming/vendor-x/batch-2");
    std::fs::create_dir_all(&other).unwrap();
    std::fs::write(other.join("a.csv"), "a\n1\n").unwrap();
    let e = f.ingest(&other).unwrap_err();
    assert!(
        matches!(e, Error::Unsigned { .. }) && e.is_check_failure(),
        "{e}"
    );

    // Signed by a key the source is not approved with.
    sign_as(&SigningKey::generate(), &other);
    let e = f.ingest(&other).unwrap_err();
    assert!(
        matches!(e, Error::ForeignSignature { .. }) && e.is_check_failure(),
        "{e}"
    );

    // Changed after the vendor signed it.
    std::fs::write(
        f.batch.join("train.csv"),
        clean_table().replace("199,", "198,"),
    )
    .unwrap();
    let e = f.ingest(&f.batch).unwrap_err();
    assert!(
        matches!(e, Error::Changed { .. }) && e.is_check_failure(),
        "{e}"
    );
    assert!(e.to_string().contains("train.csv"), "{e}");
}

#[test]
fn a_manifest_is_refused_when_not_signed_by_the_keys_given_or_not_a_manifest() {
    let f = fixture(&clean_table());
    let path = manifest::default_path(&f.batch).unwrap();
    assert!(manifest::open_signed(&path, &[f.vendor.public()]).is_ok());
    let e = manifest::open_signed(&path, &[f.key.public()]).unwrap_err();
    assert!(
        matches!(e, Error::BadSignature { .. }) && e.is_check_failure(),
        "{e}"
    );
    // Not in this project's ledger: the vendor signed it elsewhere.
    let signed = manifest::open_signed(&path, &[f.vendor.public()]).unwrap();
    assert_eq!(
        manifest::find_in_ledger(&f.project, &signed, &[]).unwrap(),
        None
    );
    std::fs::write(&path, b"{}").unwrap();
    let e = manifest::open_signed(&path, &[f.vendor.public()]).unwrap_err();
    assert!(
        matches!(e, Error::NotSignedManifest { .. }) && !e.is_check_failure(),
        "{e}"
    );
}
