//! `aigis model register|list|show|promote|rollback`: the model registry and its
//! promotion gate.
//!
//! The registry (`aigis_model::registry`) keeps versions' bytes and records; this file
//! adds what needs the project: evidence for every change, and the gate, which decides
//! from the ledger's signed evidence and from the stored bytes, never from the record's
//! own summaries.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use aigis_core::{Digest, Statement};
use aigis_crypto::dsse::Envelope;
use aigis_evidence::{
    Decision as GateDecision, GateCheck, ModelKind, ModelPromotion, ModelRegistration, ModelScan,
    ModelVerification, Predicate, RegisteredFile, ScannedFile, SignatureRegistered, StageAction,
    Verdict as ScanVerdict,
};
use aigis_ledger::Project;
use aigis_model::registry::{self, EvidenceRef, Registry, StageState, VersionRecord};
use aigis_model::signing::{self, VerifierKey};
use aigis_scan::{FileReport, Scanner, Verdict};
use anyhow::{Context as _, Result};
use serde::Serialize;
use serde_json::json;

use crate::cli::{Cli, ModelPromoteArgs, ModelRegisterArgs, ModelRollbackArgs, ModelShowArgs};
use crate::{CheckFailed, context, output};

/// The largest signature bundle read.
const BUNDLE_LIMIT: u64 = 16 << 20;

fn open(project: &Project) -> Result<Registry> {
    let root = project
        .root
        .join(aigis_ledger::project::STATE_DIR)
        .join("registry");
    Ok(Registry::open(&root)?)
}

fn now() -> String {
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0);
    output::time_ms(ms)
}

/// The subject a registry statement speaks of: the version's digest, named
/// `<name>@<version>`.
fn subject(record: &VersionRecord) -> (String, Digest) {
    (format!("{}@{}", record.name, record.version), record.digest)
}

/// The default signature bundle for a model path, if it exists.
fn default_bundle(path: &Path) -> Option<PathBuf> {
    let candidate = if path.is_dir() {
        path.join("model.sig")
    } else {
        let mut name = path.as_os_str().to_owned();
        name.push(".sig");
        PathBuf::from(name)
    };
    candidate.is_file().then_some(candidate)
}

/// A version just registered.
pub(crate) struct Registered {
    pub record: VersionRecord,
    pub worst: Verdict,
    pub signature: Option<Check>,
    pub evidence: u64,
    pub bytes: u64,
}

pub fn register(cli: &Cli, args: &ModelRegisterArgs) -> Result<()> {
    let project = context::project(cli)?;
    // The passphrase is asked for before any work.
    let key = context::signing_key(&project)?;
    let r = register_version(
        cli,
        &project,
        &key,
        &args.path,
        &args.name,
        args.signature.as_deref(),
        &args.keys,
    )?;
    let record = &r.record;
    if cli.json {
        return output::json(&json!({
            "name": record.name,
            "version": record.version,
            "digest": record.digest,
            "files": record.files,
            "scan": {"verdict": r.worst, "evidence": record.scan.as_ref().map(|e| e.index)},
            "signature": r.signature.as_ref().map(|c| json!({
                "verified": c.passed, "detail": c.detail,
                "evidence": record.signature.as_ref().map(|e| e.index),
            })),
            "evidence": r.evidence,
        }));
    }
    outln!(
        "registered {} version {} ({}), {} file(s), {} bytes",
        record.name,
        record.version,
        record.digest,
        record.files.len(),
        r.bytes
    );
    outln!(
        "  scan       {}{}",
        r.worst.as_str(),
        record
            .scan
            .as_ref()
            .map(|e| format!(" (evidence #{})", e.index))
            .unwrap_or_default()
    );
    match (&r.signature, &record.signature) {
        (Some(c), Some(e)) => outln!(
            "  signature  {} {} (evidence #{})",
            if c.passed { "verified:" } else { "FAILED:" },
            c.detail,
            e.index
        ),
        _ => outln!(
            "  signature  none (promotion needs one: aigis model sign {})",
            args.path.display()
        ),
    }
    outln!("  evidence   #{}", r.evidence);
    if r.worst >= Verdict::Suspicious {
        output::note(
            cli,
            &format!(
                "warning: the scan is {}; `model promote` will refuse this version",
                r.worst.as_str()
            ),
        );
    }
    if let Some(c) = r.signature.as_ref().filter(|c| !c.passed) {
        output::note(
            cli,
            &format!(
                "warning: the signature does not verify ({}); `model promote` will refuse this version",
                c.detail
            ),
        );
    }
    Ok(())
}

/// Scans, stores, verifies the signature of and records a new version of `name`.
pub(crate) fn register_version(
    cli: &Cli,
    project: &Project,
    key: &aigis_crypto::SigningKey,
    path: &Path,
    name: &str,
    signature: Option<&Path>,
    keys: &[PathBuf],
) -> Result<Registered> {
    registry::check_name(name)?;
    let reg = open(project)?;
    let bundle_path = match signature {
        Some(p) if !p.is_file() => {
            anyhow::bail!("the signature bundle `{}` does not exist", p.display())
        }
        Some(p) => Some(p.to_owned()),
        None => default_bundle(path),
    };
    // A bundle inside the model folder is not part of the model.
    let mut exclude = Vec::new();
    if let Some(b) = &bundle_path
        && path.is_dir()
        && let (Ok(b), Ok(root)) = (b.canonicalize(), path.canonicalize())
        && let Ok(rel) = b.strip_prefix(&root)
    {
        exclude.push(rel.to_string_lossy().replace('\\', "/"));
    }
    let source = registry::list_source(path, &exclude)?;

    // 1. Store the files, hashing each once as it is copied.
    let total: u64 = source
        .files
        .iter()
        .map(|(_, p)| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0))
        .sum();
    let bar = output::byte_progress(cli, total, "storing");
    let mut files = Vec::with_capacity(source.files.len());
    for (rel, path) in &source.files {
        files.push(reg.store_file(rel, path, &|n| bar.inc(n))?);
    }
    bar.finish_and_clear();
    let digest = registry::version_digest(source.kind, &files);
    let mut record = VersionRecord {
        schema: registry::VERSION_SCHEMA.to_owned(),
        name: name.to_owned(),
        version: 0, // numbered under the lock below
        kind: source.kind,
        digest,
        files,
        source: std::path::absolute(path)
            .unwrap_or_else(|_| path.to_owned())
            .display()
            .to_string(),
        registered_at: now(),
        registered_by: key.public().key_id(),
        scan: None,
        signature_bundle: None,
        signature: None,
        evidence: None,
    };

    // 2. Scan the stored bytes, laid out as registered, with the project's allowlist,
    // and record the scan under the source paths with the digests just computed. What
    // was scanned is what is stored.
    let scanner = context::scanner(Some(project))?;
    let StoredScan {
        reports,
        subjects,
        worst,
    } = scan_stored(cli, &reg, &record, &scanner, path)?;
    let scan_index = super::model::record_scan_of(
        project,
        &reports,
        subjects,
        "none",
        true,
        scanner.allowlist(),
    )?;

    let _lock = reg.lock()?;
    record.version = reg.versions(name)?.last().copied().unwrap_or(0) + 1;
    record.scan = scan_index.map(|index| EvidenceRef {
        index,
        summary: worst.as_str().to_owned(),
    });

    // 3. The signature, if any: kept, verified over the stored files, and recorded.
    let mut signature_note = None;
    if let Some(path) = &bundle_path {
        let bytes = context::read_input(path, "signature bundle", BUNDLE_LIMIT)?;
        record.signature_bundle = Some(reg.store_bytes(&bytes)?);
        let check = check_signature(project, &reg, &record, keys);
        let index = record_statement(
            project,
            key,
            &record,
            &ModelVerification::Registered(SignatureRegistered {
                bundle: record.signature_bundle,
                verified: check.passed,
                detail: check.detail.clone(),
                files: registered_files(&record)?,
            }),
        )?;
        record.signature = Some(EvidenceRef {
            index,
            summary: check.detail.clone(),
        });
        signature_note = Some(check);
    }

    reg.write_version(&record)?;
    let index = record_statement(
        project,
        key,
        &record,
        &ModelRegistration {
            name: record.name.clone(),
            version: record.version,
            kind: match record.kind {
                registry::Kind::File => ModelKind::File,
                registry::Kind::Folder => ModelKind::Folder,
            },
            source: record.source.clone(),
            files: registered_files(&record)?,
            scan_evidence: record.scan.as_ref().map(|e| e.index),
            signature_bundle: record.signature_bundle,
            signature_evidence: record.signature.as_ref().map(|e| e.index),
        },
    )?;
    record.evidence = Some(EvidenceRef {
        index,
        summary: "registered".into(),
    });
    reg.update_version(&record)?;
    Ok(Registered {
        record,
        worst,
        signature: signature_note,
        evidence: index,
        bytes: total,
    })
}

/// A scan of a version's stored bytes: the reports, the (path, digest) subjects to record
/// them under, and the worst verdict.
struct StoredScan {
    reports: Vec<FileReport>,
    subjects: Vec<(String, Digest)>,
    worst: Verdict,
}

/// Scans a version's stored bytes, laid out as registered (so a folder is scanned as one
/// model: ONNX external data, checkpoint shards), with `scanner`. The reports name
/// the files under `display_root` (the path the version was registered from), and each
/// subject carries the digest its file was stored under.
fn scan_stored(
    cli: &Cli,
    reg: &Registry,
    record: &VersionRecord,
    scanner: &Scanner,
    display_root: &Path,
) -> Result<StoredScan> {
    let (stored_dir, stored) = reg.materialize(record)?;
    let mut reports = super::model::scan_paths(cli, std::slice::from_ref(&stored), scanner)?;
    let mut subjects = Vec::with_capacity(reports.len());
    for r in &mut reports {
        let rel = r.path.strip_prefix(&stored).unwrap_or(&r.path);
        let rel = rel.to_string_lossy().replace('\\', "/");
        let entry = record
            .files
            .iter()
            .find(|f| match record.kind {
                registry::Kind::File => rel.is_empty(),
                registry::Kind::Folder => f.path == rel,
            })
            .with_context(|| {
                format!(
                    "the scan reported `{}`, which was not stored",
                    r.path.display()
                )
            })?;
        r.path = match record.kind {
            registry::Kind::File => display_root.to_owned(),
            registry::Kind::Folder => display_root.join(&entry.path),
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

/// A version's files as its evidence lists them.
fn registered_files(record: &VersionRecord) -> Result<Vec<RegisteredFile>> {
    Ok(record
        .files
        .iter()
        .map(|f| RegisteredFile {
            path: f.path.clone(),
            sha256: f.sha256,
            bytes: f.bytes,
        })
        .collect())
}

fn record_statement<P: Predicate>(
    project: &Project,
    key: &aigis_crypto::SigningKey,
    record: &VersionRecord,
    predicate: &P,
) -> Result<u64> {
    let statement = predicate.statement(vec![subject(record)])?;
    Ok(super::attest::append(&project.open_ledger()?, &statement, key)?.0)
}

/// A ledger entry's statement, and the id of the trusted key that signed it. An entry
/// that is missing, not a statement, or not signed by a key of the project's keyring is
/// an error: the gate does not read unsigned claims.
fn read_evidence(project: &Project, index: u64) -> Result<(Statement, String)> {
    let ledger = project.open_ledger()?;
    let entry = ledger
        .store()
        .entry(index)?
        .with_context(|| format!("evidence #{index} is not in the ledger"))?;
    let envelope = Envelope::from_json(&entry.body)
        .with_context(|| format!("evidence #{index} is not a DSSE envelope"))?;
    let keys = project.keyring()?.public_keys();
    let key_id = envelope
        .verify(&keys)
        .with_context(|| format!("evidence #{index} is not signed by a project key"))?;
    let statement = Statement::from_json(&envelope.payload)
        .with_context(|| format!("evidence #{index} is not an in-toto statement"))?;
    Ok((statement, key_id))
}

/// One check of the promotion gate.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub check: &'static str,
    pub passed: bool,
    pub detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub evidence: Option<u64>,
}

impl Check {
    fn pass(check: &'static str, detail: String, evidence: Option<u64>) -> Self {
        Self {
            check,
            passed: true,
            detail,
            evidence,
        }
    }

    fn fail(check: &'static str, detail: String, evidence: Option<u64>) -> Self {
        Self {
            check,
            passed: false,
            detail,
            evidence,
        }
    }
}

/// The promotion gate: every check, passed or not (so a refusal names every reason).
///
/// The gate decides from signed evidence only. One thing can make that evidence stale
/// without any byte changing: the project's allowlist. An entry removed since the scan
/// would still let its import through; one added would still refuse it. So when the
/// allowlist in force differs from the one the scan evidence records, the stored bytes
/// (once they are known to match their digests) are scanned again with the current
/// allowlist, the new scan is recorded as evidence and attached to the version, and the
/// gate reads that. Refusing with a hint would only send the user to register the same
/// bytes again; silently reading the old verdict would let a revoked entry keep working.
fn gate(
    cli: &Cli,
    project: &Project,
    reg: &Registry,
    record: &mut VersionRecord,
    keys: &[PathBuf],
) -> Vec<Check> {
    let total = record.files.iter().map(|f| f.bytes).sum();
    let bar = output::byte_progress(cli, total, "checking");
    let problems = reg.check_blobs(record, &|n| bar.inc(n));
    bar.finish_and_clear();
    let stored = if problems.is_empty() {
        Check::pass(
            "stored-bytes",
            format!("{} file(s) match their digests", record.files.len()),
            None,
        )
    } else {
        let list: Vec<String> = problems
            .iter()
            .map(|p| match p.found {
                Some(d) => format!("`{}` now hashes to {d}", p.path),
                None => format!("`{}` is missing from the store", p.path),
            })
            .collect();
        Check::fail("stored-bytes", list.join("; "), None)
    };
    let scan = current_scan(cli, project, reg, record, stored.passed);
    vec![stored, scan, check_signature(project, reg, record, keys)]
}

/// The scan check, after scanning the stored bytes again if the allowlist changed since
/// the scan evidence was made (see [`gate`]).
fn current_scan(
    cli: &Cli,
    project: &Project,
    reg: &Registry,
    record: &mut VersionRecord,
    stored_ok: bool,
) -> Check {
    const NAME: &str = "scan";
    let old = record.scan.as_ref().map(|e| e.index);
    let scanner = match context::scanner(Some(project)) {
        Ok(l) => l,
        Err(e) => return Check::fail(NAME, format!("{e:#}"), old),
    };
    let current = scanner.allowlist().digest();
    // Unreadable evidence, or evidence that is not a model scan, is left to
    // `check_scan` to refuse: only a readable scan can be out of date.
    let recorded = old.and_then(|i| scan_allowlist_digest(project, i));
    let Some((old, recorded)) = old.zip(recorded) else {
        return check_scan(project, record);
    };
    if recorded == current {
        return check_scan(project, record);
    }
    if !stored_ok {
        return Check::fail(
            NAME,
            format!(
                "evidence #{old} was made under another allowlist ({recorded}, now {current}), and the stored bytes cannot be scanned again because they no longer match their digests"
            ),
            Some(old),
        );
    }
    let mut rescan = || -> Result<u64> {
        let display = PathBuf::from(&record.source);
        let StoredScan {
            reports,
            subjects,
            worst,
        } = scan_stored(cli, reg, record, &scanner, &display)?;
        let index = super::model::record_scan_of(
            project,
            &reports,
            subjects,
            "none",
            true,
            scanner.allowlist(),
        )?
        .context("the version has no files to scan")?;
        record.scan = Some(EvidenceRef {
            index,
            summary: worst.as_str().to_owned(),
        });
        reg.update_version(record)?;
        Ok(index)
    };
    match rescan() {
        Ok(new) => {
            let mut c = check_scan(project, record);
            c.detail = format!(
                "scanned again as evidence #{new}, with the current allowlist (evidence #{old} was made under another one): {}",
                c.detail
            );
            c
        }
        Err(e) => Check::fail(
            NAME,
            format!(
                "the allowlist changed since evidence #{old}, and scanning the stored bytes again failed: {e:#}"
            ),
            Some(old),
        ),
    }
}

/// The allowlist digest a model-scan evidence entry records: the empty list's for scans
/// recorded before there was an allowlist. `None` when the entry cannot be read as a
/// model scan signed by the project.
fn scan_allowlist_digest(project: &Project, index: u64) -> Option<Digest> {
    let (statement, _) = read_evidence(project, index).ok()?;
    let scan = ModelScan::from_statement(&statement).ok()?;
    Some(
        scan.allowlist
            .map_or_else(|| aigis_scan::Allowlist::default().digest(), |a| a.digest),
    )
}

/// The scan evidence must be signed by a project key, be a model scan whose predicate
/// reads as one, cover every file of the version by digest, and judge every one of them
/// safe: suspicious (an import nobody reviewed), inconclusive and dangerous are refused.
fn check_scan(project: &Project, record: &VersionRecord) -> Check {
    const NAME: &str = "scan";
    let Some(scan) = &record.scan else {
        return Check::fail(NAME, "the version was never scanned".into(), None);
    };
    let (statement, _) = match read_evidence(project, scan.index) {
        Ok(s) => s,
        Err(e) => return Check::fail(NAME, format!("{e:#}"), Some(scan.index)),
    };
    let predicate = match ModelScan::from_statement(&statement) {
        Ok(p) => p,
        Err(aigis_evidence::Error::WrongType { found, .. }) => {
            return Check::fail(
                NAME,
                format!("evidence #{} is a `{found}`, not a model scan", scan.index),
                Some(scan.index),
            );
        }
        Err(e) => {
            return Check::fail(
                NAME,
                format!("evidence #{} cannot be read: {e}", scan.index),
                Some(scan.index),
            );
        }
    };
    // Subjects and the predicate's `files` are written in the same order, one each.
    if predicate.files.len() != statement.subject.len() {
        return Check::fail(
            NAME,
            format!(
                "evidence #{} lists {} file(s) for {} subject(s)",
                scan.index,
                predicate.files.len(),
                statement.subject.len()
            ),
            Some(scan.index),
        );
    }
    let verdicts: Vec<(Digest, &ScannedFile)> = statement
        .subject
        .iter()
        .zip(&predicate.files)
        .filter_map(|(s, file)| {
            let digest: Digest = s.digest.get("sha256")?.parse().ok()?;
            Some((digest, file))
        })
        .collect();
    let mut worst = ScanVerdict::Safe;
    let mut bad = Vec::new();
    let mut unknown_import = false;
    for f in &record.files {
        let found = verdicts
            .iter()
            .filter(|(d, _)| *d == f.sha256)
            .max_by_key(|(_, file)| file.verdict);
        let Some((_, file)) = found else {
            return Check::fail(
                NAME,
                format!(
                    "the scan evidence does not cover `{}` ({})",
                    f.path, f.sha256
                ),
                Some(scan.index),
            );
        };
        let v = file.verdict;
        worst = worst.max(v);
        if v >= ScanVerdict::Suspicious {
            // Name what made it so: the first finding at the file's verdict.
            let first = file.findings.iter().find(|e| e.verdict == v);
            unknown_import |= first.is_some_and(|e| e.rule == "pickle.global.suspicious");
            bad.push(match first {
                Some(e) => format!("`{}` is {}: {}", f.path, v.as_str(), e.message),
                None => format!("`{}` is {}", f.path, v.as_str()),
            });
        }
    }
    if bad.is_empty() {
        Check::pass(
            NAME,
            format!("worst verdict {}", worst.as_str()),
            Some(scan.index),
        )
    } else {
        if unknown_import {
            bad.push(super::model::ALLOWLIST_HINT.to_owned());
        }
        Check::fail(NAME, bad.join("; "), Some(scan.index))
    }
}

/// Stage names follow the model-name rules.
fn check_stage(stage: &str) -> Result<()> {
    registry::check_name(stage).map_err(|_| {
        anyhow::anyhow!("`{stage}` is not a valid stage name (letters, digits, `.`, `_`, `-`)")
    })
}

/// What the gate decided about a change of stage, once recorded (and applied if it
/// passed).
pub(crate) struct Decision {
    pub name: String,
    pub version: u32,
    pub stage: String,
    pub action: &'static str,
    pub from: Option<u32>,
    pub checks: Vec<Check>,
    pub passed: bool,
    pub evidence: u64,
}

pub fn promote(cli: &Cli, args: &ModelPromoteArgs) -> Result<()> {
    let project = context::project(cli)?;
    let key = context::signing_key(&project)?;
    let d = promote_version(
        cli,
        &project,
        &key,
        &args.name,
        args.version,
        &args.stage,
        &args.keys,
    )?;
    report(cli, &d)
}

/// Runs the gate for moving `version` of `name` to `stage`, records the decision and
/// applies it if every check passed. A refusal is a decision, not an error.
pub(crate) fn promote_version(
    cli: &Cli,
    project: &Project,
    key: &aigis_crypto::SigningKey,
    name: &str,
    version: u32,
    stage: &str,
    keys: &[PathBuf],
) -> Result<Decision> {
    check_stage(stage)?;
    let reg = open(project)?;
    let _lock = reg.lock()?;
    let record = reg.version(name, version)?;
    let mut stages = reg.stages(name)?;
    let current = stages.stages.get(stage).cloned();
    if current.as_ref().is_some_and(|c| c.version == version) {
        anyhow::bail!("{name} version {version} is already at stage `{stage}`");
    }
    let mut record = record;
    let checks = gate(cli, project, &reg, &mut record, keys);
    let mut previous = current
        .as_ref()
        .map(|c| c.previous.clone())
        .unwrap_or_default();
    if let Some(c) = &current {
        previous.push(c.version);
    }
    decide(
        project,
        key,
        &reg,
        &record,
        &mut stages,
        Move {
            action: StageAction::Promote,
            stage,
            from: current.map(|c| c.version),
            previous,
        },
        checks,
    )
}

pub fn rollback(cli: &Cli, args: &ModelRollbackArgs) -> Result<()> {
    check_stage(&args.stage)?;
    let project = context::project(cli)?;
    let key = context::signing_key(&project)?;
    let reg = open(&project)?;
    let _lock = reg.lock()?;
    let mut stages = reg.stages(&args.name)?;
    let Some(current) = stages.stages.get(&args.stage).cloned() else {
        if reg.versions(&args.name)?.is_empty() {
            return Err(registry::RegistryError::NoModel(args.name.clone()).into());
        }
        anyhow::bail!("no version of {} is at stage `{}`", args.name, args.stage);
    };
    let mut previous = current.previous.clone();
    let target = match args.to {
        None => previous.pop().with_context(|| {
            format!(
                "stage `{}` of {} has held only version {}: nothing to roll back to",
                args.stage, args.name, current.version
            )
        })?,
        Some(v) => {
            let Some(at) = previous.iter().rposition(|&p| p == v) else {
                anyhow::bail!(
                    "stage `{}` of {} never held version {v} before (it held {:?}); use `model promote` for another version",
                    args.stage,
                    args.name,
                    previous
                );
            };
            previous.truncate(at);
            v
        }
    };
    let mut record = reg.version(&args.name, target)?;
    let checks = gate(cli, &project, &reg, &mut record, &args.keys);
    let d = decide(
        &project,
        &key,
        &reg,
        &record,
        &mut stages,
        Move {
            action: StageAction::Rollback,
            stage: &args.stage,
            from: Some(current.version),
            previous,
        },
        checks,
    )?;
    report(cli, &d)
}

/// A change of stage, as the gate is asked to allow it.
struct Move<'a> {
    action: StageAction,
    stage: &'a str,
    from: Option<u32>,
    /// The stage's history after the move.
    previous: Vec<u32>,
}

/// Records the gate's decision as evidence and applies it if every check passed.
fn decide(
    project: &Project,
    key: &aigis_crypto::SigningKey,
    reg: &Registry,
    record: &VersionRecord,
    stages: &mut registry::Stages,
    mv: Move<'_>,
    checks: Vec<Check>,
) -> Result<Decision> {
    let passed = checks.iter().all(|c| c.passed);
    let index = record_statement(
        project,
        key,
        record,
        &ModelPromotion {
            name: record.name.clone(),
            version: record.version,
            action: mv.action,
            stage: mv.stage.to_owned(),
            from: mv.from,
            decision: if passed {
                GateDecision::Allowed
            } else {
                GateDecision::Refused
            },
            checks: checks
                .iter()
                .map(|c| GateCheck {
                    check: c.check.to_owned(),
                    passed: c.passed,
                    detail: c.detail.clone(),
                    evidence: c.evidence,
                })
                .collect(),
        },
    )?;
    if passed {
        stages.stages.insert(
            mv.stage.to_owned(),
            StageState {
                version: record.version,
                since: now(),
                evidence: index,
                previous: mv.previous,
            },
        );
        reg.write_stages(&record.name, stages)?;
    }
    Ok(Decision {
        name: record.name.clone(),
        version: record.version,
        stage: mv.stage.to_owned(),
        action: mv.action.as_str(),
        from: mv.from,
        checks,
        passed,
        evidence: index,
    })
}

/// Prints a decision; a refusal exits 1.
fn report(cli: &Cli, d: &Decision) -> Result<()> {
    if cli.json {
        output::json(&json!({
            "name": d.name, "version": d.version, "stage": d.stage,
            "action": d.action, "from": d.from, "passed": d.passed,
            "checks": d.checks, "evidence": d.evidence,
        }))?;
    } else {
        for c in &d.checks {
            outln!(
                "  {:<4} {:<13} {}{}",
                if c.passed { "ok" } else { "FAIL" },
                c.check,
                c.detail,
                c.evidence
                    .map(|i| format!(" (evidence #{i})"))
                    .unwrap_or_default()
            );
        }
        let verb = if d.action == "promote" {
            "promoted"
        } else {
            "rolled back"
        };
        if d.passed {
            outln!(
                "{verb}: {} version {} is at stage `{}`{} (evidence #{})",
                d.name,
                d.version,
                d.stage,
                d.from
                    .map(|f| format!(", replacing version {f}"))
                    .unwrap_or_default(),
                d.evidence
            );
        } else {
            outln!(
                "REFUSED: {} version {} stays out of stage `{}` (evidence #{})",
                d.name,
                d.version,
                d.stage,
                d.evidence
            );
        }
    }
    if !d.passed {
        return Err(CheckFailed(String::new()).into());
    }
    Ok(())
}

pub fn list(cli: &Cli) -> Result<()> {
    let project = context::project(cli)?;
    let reg = open(&project)?;
    let mut models = Vec::new();
    for name in reg.names()? {
        let versions = reg.versions(&name)?;
        let stages = reg.stages(&name)?;
        models.push(json!({
            "name": name,
            "versions": versions.len(),
            "latest": versions.last(),
            "stages": stages.stages.iter().map(|(s, st)| (s.clone(), json!(st.version))).collect::<serde_json::Map<_, _>>(),
        }));
    }
    if cli.json {
        return output::json(&json!({ "models": models }));
    }
    if models.is_empty() {
        outln!("no models registered (aigis model register PATH --name NAME)");
        return Ok(());
    }
    outln!("{:<24} {:>8} {:>7}  stages", "name", "versions", "latest");
    for m in &models {
        let stages: Vec<String> = m["stages"]
            .as_object()
            .map(|o| o.iter().map(|(s, v)| format!("{s}=v{v}")).collect())
            .unwrap_or_default();
        outln!(
            "{:<24} {:>8} {:>7}  {}",
            m["name"].as_str().unwrap_or_default(),
            m["versions"].to_string(),
            m["latest"].to_string(),
            if stages.is_empty() {
                "-".to_owned()
            } else {
                stages.join(" ")
            }
        );
    }
    Ok(())
}

pub fn show(cli: &Cli, args: &ModelShowArgs) -> Result<()> {
    let project = context::project(cli)?;
    let reg = open(&project)?;
    let versions = reg.versions(&args.name)?;
    if versions.is_empty() {
        return Err(registry::RegistryError::NoModel(args.name.clone()).into());
    }
    let stages = reg.stages(&args.name)?;
    let at_stage = |v: u32| -> Vec<&str> {
        stages
            .stages
            .iter()
            .filter(|(_, s)| s.version == v)
            .map(|(n, _)| n.as_str())
            .collect()
    };
    if let Some(v) = args.version {
        let record = reg.version(&args.name, v)?;
        if cli.json {
            let mut value = serde_json::to_value(&record)?;
            output::insert(&mut value, "stages", json!(at_stage(v)));
            return output::json(&value);
        }
        outln!("{} version {}", record.name, record.version);
        outln!("  digest      {}", record.digest);
        outln!(
            "  registered  {} by key {} from {}",
            record.registered_at,
            record.registered_by,
            record.source
        );
        let ev = |e: &Option<EvidenceRef>| {
            e.as_ref()
                .map(|e| format!("{} (evidence #{})", e.summary, e.index))
                .unwrap_or_else(|| "none".into())
        };
        outln!("  scan        {}", ev(&record.scan));
        outln!("  signature   {}", ev(&record.signature));
        outln!("  evidence    {}", ev(&record.evidence));
        let st = at_stage(v);
        outln!(
            "  stages      {}",
            if st.is_empty() {
                "-".to_owned()
            } else {
                st.join(", ")
            }
        );
        outln!("  files");
        for f in &record.files {
            outln!("    {}  {:>12}  {}", f.sha256, f.bytes, f.path);
        }
        return Ok(());
    }
    let mut rows = Vec::new();
    for v in &versions {
        let r = reg.version(&args.name, *v)?;
        rows.push(json!({
            "version": v,
            "digest": r.digest,
            "registered_at": r.registered_at,
            "files": r.files.len(),
            "bytes": r.files.iter().map(|f| f.bytes).sum::<u64>(),
            "scan": r.scan.as_ref().map(|e| &e.summary),
            "signed": r.signature_bundle.is_some(),
            "stages": at_stage(*v),
        }));
    }
    if cli.json {
        return output::json(&json!({
            "name": args.name,
            "versions": rows,
            "stages": stages.stages,
        }));
    }
    outln!(
        "{:>7}  {:<24} {:<13} {:<7} {:>12}  stages",
        "version",
        "registered",
        "scan",
        "signed",
        "bytes"
    );
    for r in &rows {
        let st: Vec<&str> = r["stages"]
            .as_array()
            .map(|a| a.iter().filter_map(|s| s.as_str()).collect())
            .unwrap_or_default();
        outln!(
            "{:>7}  {:<24} {:<13} {:<7} {:>12}  {}",
            r["version"].to_string(),
            r["registered_at"].as_str().unwrap_or_default(),
            r["scan"].as_str().unwrap_or("none"),
            if r["signed"].as_bool() == Some(true) {
                "yes"
            } else {
                "no"
            },
            r["bytes"].to_string(),
            if st.is_empty() {
                "-".into()
            } else {
                st.join(", ")
            }
        );
    }
    Ok(())
}

/// The signature must verify, with a project key or one given with --also-trust, over the
/// stored files laid out as they were registered, and list exactly those files.
fn check_signature(
    project: &Project,
    reg: &Registry,
    record: &VersionRecord,
    keys: &[PathBuf],
) -> Check {
    const NAME: &str = "signature";
    let Some(bundle) = record.signature_bundle else {
        return Check::fail(
            NAME,
            "the version is unsigned (sign the model with `aigis model sign`, then register it again)".into(),
            None,
        );
    };
    let evidence = record.signature.as_ref().map(|e| e.index);
    let run = || -> Result<Check> {
        let bytes = reg.read_blob(&bundle, BUNDLE_LIMIT)?;
        let mut trusted: Vec<VerifierKey> = project
            .keyring()?
            .public_keys()
            .into_iter()
            .map(VerifierKey::from)
            .collect();
        trusted.extend(super::model_sign::pem_keys(keys)?);
        let (_dir, model) = reg.materialize(record)?;
        Ok(match signing::verify_model(&model, &bytes, &trusted) {
            Ok(r) if r.passed() => Check::pass(
                NAME,
                format!(
                    "verified with {} key {}; the {} signed file(s) match",
                    r.algorithm, r.key_id, r.files
                ),
                evidence,
            ),
            Ok(r) => Check::fail(
                NAME,
                format!(
                    "the stored files differ from the signed ones: {}",
                    r.changes
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join("; ")
                ),
                evidence,
            ),
            Err(e) => Check::fail(NAME, e.to_string(), evidence),
        })
    };
    run().unwrap_or_else(|e| Check::fail(NAME, format!("{e:#}"), evidence))
}
