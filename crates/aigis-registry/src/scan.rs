//! Model scans as evidence: the `model-scan` predicate built from the scanner's reports,
//! and the scan of a version's stored bytes.

use std::path::Path;

use aigis_core::Digest;
use aigis_evidence::{AllowlistEntry, AllowlistInForce, ModelScan, ScannedFile, Tool};
use aigis_ledger::Project;
use aigis_scan::{Allowlist, FileReport, Scanner, Verdict};

use crate::error::Error;
use crate::store::{Kind, Registry, VersionRecord};
use aigis_core::Progress;

/// The `model-scan` predicate of `reports`: each file's format, verdict and findings, the
/// allowlist in force (every entry, and the digest the promotion gate compares), and per
/// file the entries that allowed one of its imports. `fail_on` and `passed` say what the
/// scan was asked to fail on (`none` for the registry) and whether it passed.
pub fn model_scan(
    reports: &[FileReport],
    fail_on: &str,
    passed: bool,
    allowlist: &Allowlist,
) -> Result<ModelScan, Error> {
    Ok(ModelScan {
        files: reports
            .iter()
            .map(|r| {
                Ok(ScannedFile {
                    path: r.path.clone(),
                    format: r.format.to_string(),
                    verdict: convert(&r.verdict, "scan verdict")?,
                    bytes: r.bytes,
                    findings: convert(&r.findings, "scan findings")?,
                    allowlist_used: allowlist_used(r, allowlist),
                })
            })
            .collect::<Result<_, Error>>()?,
        allowlist: Some(AllowlistInForce {
            digest: allowlist.digest(),
            entries: allowlist
                .entries()
                .map(|e| AllowlistEntry {
                    name: e.name.clone(),
                    reason: e.reason.clone(),
                    by: e.by.clone(),
                })
                .collect(),
        }),
        fail_on: fail_on.to_owned(),
        passed,
        tool: Tool::current(),
    })
}

/// Records a model scan as evidence: one subject per file (`subjects`: its path and
/// digest, in the order of `reports`), the [`model_scan`] predicate. `None` when there
/// was no file.
pub fn record_model_scan(
    project: &Project,
    key: &aigis_crypto::SigningKey,
    reports: &[FileReport],
    subjects: Vec<(String, Digest)>,
    fail_on: &str,
    passed: bool,
    allowlist: &Allowlist,
) -> Result<Option<u64>, Error> {
    if subjects.is_empty() {
        return Ok(None);
    }
    let predicate = model_scan(reports, fail_on, passed, allowlist)?;
    Ok(Some(project.record(key, subjects, &predicate)?))
}

/// The scanner's own types and the evidence types serialize alike; this turns one into
/// the other through JSON (a mismatch is a bug, reported as such).
fn convert<T: serde::Serialize, U: serde::de::DeserializeOwned>(
    value: &T,
    what: &'static str,
) -> Result<U, Error> {
    serde_json::to_value(value)
        .and_then(serde_json::from_value)
        .map_err(|source| Error::Internal { what, source })
}

/// The allowlist entries that let one of the file's imports through (from its
/// `pickle.allowlist` findings), sorted.
fn allowlist_used(report: &FileReport, allowlist: &Allowlist) -> Vec<String> {
    let mut used: Vec<String> = allowlist
        .entries()
        .filter(|a| {
            let said = format!("allowlist entry `{}`", a.name);
            report
                .findings
                .iter()
                .any(|e| e.rule == "pickle.allowlist" && e.message.contains(&said))
        })
        .map(|a| a.name.clone())
        .collect();
    used.sort();
    used
}

/// A scan of a version's stored bytes: the reports, the (path, digest) subjects to record
/// them under, and the worst verdict.
pub(crate) struct StoredScan {
    pub reports: Vec<FileReport>,
    pub subjects: Vec<(String, Digest)>,
    pub worst: Verdict,
}

/// Scans a version's stored bytes, laid out as registered (so a folder is scanned as one
/// model: ONNX external data, checkpoint shards), with `scanner`. The reports name
/// the files under `display_root` (the path the version was registered from), and each
/// subject carries the digest its file was stored under.
pub(crate) fn scan_stored(
    reg: &Registry,
    record: &VersionRecord,
    scanner: &Scanner,
    display_root: &Path,
    progress: &dyn Progress,
) -> Result<StoredScan, Error> {
    let (stored_dir, stored) = reg.materialize(record)?;
    progress.begin("scanning", 1, false);
    let scanned = scanner.scan_path(&stored).map_err(|source| Error::Scan {
        path: stored.clone(),
        source,
    });
    progress.advance(1);
    progress.end();
    let mut reports = scanned?;
    aigis_scan::claim_external_data(&mut reports);
    let mut subjects = Vec::with_capacity(reports.len());
    for r in &mut reports {
        let rel = r.path.strip_prefix(&stored).unwrap_or(&r.path);
        let rel = rel.to_string_lossy().replace('\\', "/");
        let entry = record
            .files
            .iter()
            .find(|f| match record.kind {
                Kind::File => rel.is_empty(),
                Kind::Folder => f.path == rel,
            })
            .ok_or_else(|| Error::NotStored(r.path.clone()))?;
        r.path = match record.kind {
            Kind::File => display_root.to_owned(),
            Kind::Folder => display_root.join(&entry.path),
        };
        subjects.push((r.path.display().to_string(), entry.sha256));
    }
    drop(stored_dir);
    let worst = reports
        .iter()
        .map(|r| r.verdict)
        .max()
        .unwrap_or(Verdict::Safe);
    Ok(StoredScan {
        reports,
        subjects,
        worst,
    })
}
