//! The gate's edge cases, on a project made in a temporary folder (no binary): each
//! test registers real corpus models through [`Workflow`], then changes one thing the
//! gate reads and checks the checks.

use std::path::{Path, PathBuf};

use aigis_core::{Digest, Statement};
use aigis_crypto::keyfile::KdfParams;
use aigis_evidence::{ModelScan, Predicate as _};
use aigis_ledger::Project;
use aigis_model::signing::{self, SignOptions, SignerKey};
use aigis_scan::Scanner;

use crate::store::{EvidenceRef, VersionRecord};
use crate::{BUNDLE_LIMIT, Check, Error, NoProgress, Workflow, open};

pub(crate) fn corpus(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/data/models")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

pub(crate) const GOOD: &str = "benign_sklearn_logreg.joblib";
const BAD: &str = "mal_os_system_p2.pkl";

pub(crate) struct Fixture {
    _dir: tempfile::TempDir,
    pub(crate) project: Project,
    pub(crate) key: aigis_crypto::SigningKey,
    pub(crate) scanner: Scanner,
}

pub(crate) fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let (project, _) = Project::init(
        &dir.path().join("p"),
        Some("test"),
        None,
        KdfParams::default(),
    )
    .unwrap();
    let key = project.signing_key(None).unwrap();
    Fixture {
        _dir: dir,
        project,
        key,
        scanner: Scanner::new(),
    }
}

impl Fixture {
    pub(crate) fn flow(&self) -> Workflow<'_> {
        Workflow::new(&self.project, &self.key, &self.scanner, &NoProgress)
    }

    /// A model folder with `files`, signed with the project's current key (`model.sig`).
    pub(crate) fn signed_folder(&self, name: &str, files: &[(&str, &[u8])]) -> PathBuf {
        let d = self.project.root.join(name);
        std::fs::create_dir_all(&d).unwrap();
        for (file, bytes) in files {
            std::fs::write(d.join(file), bytes).unwrap();
        }
        let signer = SignerKey::from(self.project.signing_key(None).unwrap());
        let opts = SignOptions {
            ignore_paths: vec!["model.sig".into()],
            ..SignOptions::default()
        };
        let signed = signing::sign_model(&d, &signer, &opts, &|_| {}).unwrap();
        std::fs::write(d.join("model.sig"), signed.bundle.to_json()).unwrap();
        d
    }

    /// Runs the gate over version `version` of `name` as stored, after `edit`.
    fn gate_with(
        &self,
        name: &str,
        version: u32,
        edit: impl FnOnce(&mut VersionRecord),
    ) -> Vec<Check> {
        let reg = open(&self.project).unwrap();
        let mut record = reg.version(name, version).unwrap();
        edit(&mut record);
        reg.update_version(&record).unwrap();
        self.flow().gate(&reg, &mut record)
    }

    /// Records a model scan of `files` (corpus names) under `subjects`.
    fn scan_evidence(&self, files: &[&[u8]], subjects: Vec<(String, Digest)>) -> u64 {
        let dir = tempfile::tempdir().unwrap();
        let mut reports = Vec::new();
        for (i, bytes) in files.iter().enumerate() {
            let path = dir.path().join(format!("{i}.pkl"));
            std::fs::write(&path, bytes).unwrap();
            reports.extend(self.scanner.scan_path(&path).unwrap());
        }
        crate::record_model_scan(
            &self.project,
            &self.key,
            &reports,
            subjects,
            "none",
            true,
            self.scanner.allowlist(),
        )
        .unwrap()
        .unwrap()
    }
}

fn check<'a>(checks: &'a [Check], name: &str) -> &'a Check {
    checks.iter().find(|c| c.check == name).unwrap()
}

fn point_scan_at(index: u64) -> impl FnOnce(&mut VersionRecord) {
    move |r| {
        r.scan = Some(EvidenceRef {
            index,
            summary: "safe".into(),
        });
    }
}

#[test]
fn a_signed_clean_folder_passes_every_check_and_is_promoted() {
    let f = fixture();
    let good = corpus(GOOD);
    let d = f.signed_folder("m", &[("model.joblib", &good), ("config.json", b"{}")]);
    let r = f.flow().register(&d, "fraud", None).unwrap();
    assert_eq!(r.record.version, 1);
    assert!(r.signature.as_ref().is_some_and(|c| c.passed));
    let up = f.flow().promote("fraud", 1, "production").unwrap();
    assert!(up.passed, "{:?}", up.checks);
    assert_eq!(
        up.checks.iter().map(|c| c.check).collect::<Vec<_>>(),
        ["stored-bytes", "scan", "signature"]
    );
    // Promoting it again is an error, not a decision.
    assert!(matches!(
        f.flow().promote("fraud", 1, "production"),
        Err(Error::AlreadyAtStage { .. })
    ));
    // A stage that held one version has nothing to roll back to.
    assert!(matches!(
        f.flow().rollback("fraud", "production", None),
        Err(Error::NothingToRollBack { .. })
    ));
}

#[test]
fn two_files_with_one_digest_are_stored_once_and_judged_by_their_worst_verdict() {
    let f = fixture();
    let good = corpus(GOOD);
    let d = f.signed_folder("m", &[("a.joblib", &good), ("b.joblib", &good)]);
    let r = f.flow().register(&d, "fraud", None).unwrap();
    let [a, b] = &r.record.files[..] else {
        panic!("{:?}", r.record.files)
    };
    assert_eq!(a.sha256, b.sha256);
    let reg = open(&f.project).unwrap();
    assert!(reg.blob_path(&a.sha256).is_file());
    let checks = f.gate_with("fraud", 1, |_| {});
    assert!(checks.iter().all(|c| c.passed), "{checks:?}");

    // Evidence that calls the one digest both safe and dangerous is read at its worst:
    // a safe entry cannot hide a dangerous one for the same bytes.
    let digest = a.sha256;
    let index = f.scan_evidence(
        &[&good, &corpus(BAD)],
        vec![("a.joblib".into(), digest), ("b.joblib".into(), digest)],
    );
    let checks = f.gate_with("fraud", 1, point_scan_at(index));
    let scan = check(&checks, "scan");
    assert!(!scan.passed, "{scan:?}");
    assert!(scan.detail.contains("dangerous"), "{}", scan.detail);
    assert_eq!(scan.evidence, Some(index));
}

#[test]
fn evidence_signed_by_a_rotated_key_is_read_while_the_keyring_keeps_it() {
    let f = fixture();
    let d = f.signed_folder("m", &[("model.joblib", &corpus(GOOD))]);
    f.flow().register(&d, "fraud", None).unwrap();
    let old = f.key.public().key_id();
    let (new, _) = f.project.rotate_key(None, KdfParams::default()).unwrap();
    let after = Workflow::new(&f.project, &new, &f.scanner, &NoProgress);

    let reg = open(&f.project).unwrap();
    let mut record = reg.version("fraud", 1).unwrap();
    let checks = after.gate(&reg, &mut record);
    assert!(checks.iter().all(|c| c.passed), "{checks:?}");

    // The old key removed from the keyring: what it signed is no longer read.
    let mut ring = f.project.keyring().unwrap();
    ring.keys.retain(|k| k.key_id != old);
    assert_eq!(ring.keys.len(), 1);
    ring.save(&f.project.keyring_path()).unwrap();
    let checks = after.gate(&reg, &mut record);
    let scan = check(&checks, "scan");
    assert!(!scan.passed);
    assert!(
        scan.detail.contains("is not signed by a project key"),
        "{}",
        scan.detail
    );
    let signature = check(&checks, "signature");
    assert!(!signature.passed, "{signature:?}");
    let d = after.promote("fraud", 1, "production").unwrap();
    assert!(!d.passed);
    assert!(reg.stages("fraud").unwrap().stages.is_empty());
}

#[test]
fn a_scan_that_does_not_cover_every_stored_file_is_a_refusal() {
    let f = fixture();
    let good = corpus(GOOD);
    let d = f.signed_folder("m", &[("model.joblib", &good), ("config.json", b"{}")]);
    let r = f.flow().register(&d, "fraud", None).unwrap();
    let model = r
        .record
        .files
        .iter()
        .find(|e| e.path == "model.joblib")
        .unwrap()
        .sha256;
    let index = f.scan_evidence(&[&good], vec![("model.joblib".into(), model)]);
    let checks = f.gate_with("fraud", 1, point_scan_at(index));
    let scan = check(&checks, "scan");
    assert!(!scan.passed);
    assert!(
        scan.detail
            .contains("the scan evidence does not cover `config.json`"),
        "{}",
        scan.detail
    );
}

#[test]
fn a_bundle_at_the_size_limit_is_read_and_one_byte_more_is_refused() {
    let f = fixture();
    let model = f.project.root.join("model.joblib");
    std::fs::write(&model, corpus(GOOD)).unwrap();
    let bundle = f.project.root.join("big.sig");
    let at_limit = vec![b' '; usize::try_from(BUNDLE_LIMIT).unwrap()];
    std::fs::write(&bundle, &at_limit).unwrap();
    // Read and kept: it is not a bundle, which the signature check says.
    let r = f.flow().register(&model, "fraud", Some(&bundle)).unwrap();
    let c = r.signature.unwrap();
    assert!(!c.passed);
    assert!(!c.detail.contains("larger than"), "{}", c.detail);
    let reg = open(&f.project).unwrap();
    let stored = r.record.signature_bundle.unwrap();
    assert_eq!(stored, Digest::of(&at_limit));
    assert!(!check(&f.gate_with("fraud", 1, |_| {}), "signature").passed);

    // One byte more: refused before anything is recorded.
    std::fs::write(&bundle, vec![b' '; at_limit.len() + 1]).unwrap();
    assert!(matches!(
        f.flow().register(&model, "fraud", Some(&bundle)),
        Err(Error::BundleTooLarge {
            limit: BUNDLE_LIMIT,
            ..
        })
    ));
    assert_eq!(reg.versions("fraud").unwrap(), [1]);

    // A stored bundle over the limit is not read whole: its digest does not match.
    let over = reg.store_bytes(&vec![b' '; at_limit.len() + 1]).unwrap();
    let checks = f.gate_with("fraud", 1, |r| r.signature_bundle = Some(over));
    let signature = check(&checks, "signature");
    assert!(!signature.passed);
    assert!(
        signature.detail.contains("the stored bytes hash to"),
        "{}",
        signature.detail
    );
}

#[test]
fn a_scan_predicate_that_does_not_parse_is_a_refusal() {
    let f = fixture();
    let d = f.signed_folder("m", &[("model.joblib", &corpus(GOOD))]);
    let r = f.flow().register(&d, "fraud", None).unwrap();
    let statement = Statement::new(
        vec![("model.joblib".into(), r.record.files[0].sha256)],
        ModelScan::TYPE,
        serde_json::json!({"files": "not a list"}),
    )
    .unwrap();
    let (index, _) = f
        .project
        .open_ledger()
        .unwrap()
        .append_statement(&statement, &f.key)
        .unwrap();
    let checks = f.gate_with("fraud", 1, point_scan_at(index));
    let scan = check(&checks, "scan");
    assert!(!scan.passed);
    assert!(
        scan.detail
            .starts_with(&format!("evidence #{index} cannot be read")),
        "{}",
        scan.detail
    );
    // Evidence of another type in its place.
    let registration = r.record.evidence.unwrap().index;
    let checks = f.gate_with("fraud", 1, point_scan_at(registration));
    let scan = check(&checks, "scan");
    assert!(!scan.passed);
    assert!(scan.detail.contains("not a model scan"), "{}", scan.detail);
}

#[test]
fn a_missing_evidence_entry_is_a_refusal() {
    let f = fixture();
    let d = f.signed_folder("m", &[("model.joblib", &corpus(GOOD))]);
    f.flow().register(&d, "fraud", None).unwrap();
    let checks = f.gate_with("fraud", 1, point_scan_at(10_000));
    let scan = check(&checks, "scan");
    assert!(!scan.passed);
    assert_eq!(scan.detail, "evidence #10000 is not in the ledger");
    assert_eq!(scan.evidence, Some(10_000));
    let checks = f.gate_with("fraud", 1, |r| r.scan = None);
    assert_eq!(
        check(&checks, "scan").detail,
        "the version was never scanned"
    );
    // And a refusal is recorded, not applied.
    let d = f.flow().promote("fraud", 1, "production").unwrap();
    assert!(!d.passed);
    assert!(d.evidence.is_some_and(|e| e > 0));
}

#[test]
fn a_dangerous_model_is_registered_and_refused_by_the_gate() {
    let f = fixture();
    let d = f.signed_folder("m", &[("model.pkl", &corpus(BAD))]);
    let r = f.flow().register(&d, "fraud", None).unwrap();
    assert_eq!(r.worst, aigis_scan::Verdict::Dangerous);
    let d = f.flow().promote("fraud", 1, "production").unwrap();
    assert!(!d.passed);
    let scan = check(&d.checks, "scan");
    assert!(
        scan.detail.contains("`model.pkl` is dangerous"),
        "{}",
        scan.detail
    );
    assert!(check(&d.checks, "signature").passed);
}
