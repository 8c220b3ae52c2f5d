//! The promotion gate: every check of a change of stage, decided from signed evidence
//! and the stored bytes, never from a record's own summaries.

use aigis_core::{Digest, Statement};
use aigis_evidence::{ModelScan, Predicate, ScannedFile, Verdict as ScanVerdict};
use aigis_model::signing::{self, VerifierKey};
use serde::Serialize;

use crate::error::{Error, chain};
use crate::scan::{StoredScan, record_model_scan, scan_stored};
use crate::store::{EvidenceRef, Registry, VersionRecord};
use crate::workflow::{BUNDLE_LIMIT, Workflow};

/// A ledger entry's statement, and the id of the project key that signed it. An entry
/// that is missing, not a statement, or not signed by a key of the project's keyring is
/// refused: nothing here reads unsigned claims.
pub(crate) fn read_signed(
    project: &aigis_ledger::Project,
    index: u64,
) -> Result<(Statement, String), String> {
    let ledger = project.open_ledger().map_err(|e| chain(&e))?;
    let entry = ledger
        .store()
        .entry(index)
        .map_err(|e| chain(&e))?
        .ok_or_else(|| format!("evidence #{index} is not in the ledger"))?;
    let keys = project.keyring().map_err(|e| chain(&e))?.public_keys();
    signed_statement(&keys, index, &entry.body)
}

pub(crate) use aigis_ledger::signed_statement;

/// Every ledger entry of predicate `P` about one of `digests`, once each: its statement
/// and predicate when a project key signed it and it reads as a `P`, else why not.
pub(crate) type SignedAbout<P> = Vec<(u64, Result<(Statement, P), String>)>;

pub(crate) fn signed_about<P: Predicate>(
    project: &aigis_ledger::Project,
    digests: &std::collections::BTreeSet<Digest>,
) -> Result<SignedAbout<P>, String> {
    let ledger = project.open_ledger().map_err(|e| chain(&e))?;
    let keys = project.keyring().map_err(|e| chain(&e))?.public_keys();
    let mut seen = std::collections::BTreeSet::new();
    let mut out = Vec::new();
    for digest in digests {
        let entries = ledger
            .store()
            .query(&aigis_ledger::Query {
                subject: Some(*digest),
                predicate_type: Some(P::TYPE.to_owned()),
                ..Default::default()
            })
            .map_err(|e| chain(&e))?;
        for entry in entries {
            let index = entry.index;
            if !seen.insert(index) {
                continue;
            }
            let read = signed_statement(&keys, index, &entry.body).and_then(|(statement, _)| {
                let p = P::from_statement(&statement)
                    .map_err(|e| format!("evidence #{index} cannot be read: {e}"))?;
                Ok((statement, p))
            });
            out.push((index, read));
        }
    }
    Ok(out)
}

/// What to do about a pickle import the built-in policy does not know.
pub const ALLOWLIST_HINT: &str = "hint: if a suspicious import is your own class, review it and list its exact `module.qualname` under `[[model.allow]]` in aigis.toml (with `reason` and `by`)";

/// One check of the promotion gate.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Check {
    /// What was checked: `stored-bytes`, `scan`, `signature`, `shadow` or `detector`.
    pub check: &'static str,
    /// Whether it passed.
    pub passed: bool,
    /// What was found, for a person.
    pub detail: String,
    /// The ledger index of the evidence the check read, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub evidence: Option<u64>,
    /// The key id the check found (the signature's signer), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// What the check measured, by name (the shadow period's rows, hours and rates), for
    /// the gate's policies.
    #[serde(skip)]
    pub measures: Vec<(&'static str, f64)>,
}

impl Check {
    pub(crate) fn pass(check: &'static str, detail: String, evidence: Option<u64>) -> Self {
        Self {
            check,
            passed: true,
            detail,
            evidence,
            key: None,
            measures: Vec::new(),
        }
    }

    pub(crate) fn fail(check: &'static str, detail: String, evidence: Option<u64>) -> Self {
        Self {
            check,
            passed: false,
            detail,
            evidence,
            key: None,
            measures: Vec::new(),
        }
    }
}

/// What the gate decided about a change of stage, once recorded (and applied if it
/// passed).
#[derive(Debug, Clone, Serialize)]
pub struct Decision {
    /// The model.
    pub name: String,
    /// The version that was to move.
    pub version: u32,
    /// The stage it was to move to.
    pub stage: String,
    /// `promote` or `rollback`.
    pub action: &'static str,
    /// The version the stage held before, if any.
    pub from: Option<u32>,
    /// What the readers of evidence found (stored bytes, scan, signature, and the shadow
    /// and detector checks when they apply), passed or not.
    pub checks: Vec<Check>,
    /// Whether the policy allowed the move (and, for a promotion or rollback, it was
    /// applied).
    pub passed: bool,
    /// The policy that decided.
    pub policy: aigis_evidence::GatePolicyRef,
    /// Each policy's verdict, with what a refusal is missing.
    pub verdict: crate::policy::Verdict,
    /// Every attribute the gate looked for, present or not.
    pub facts: Vec<crate::policy::Fact>,
    /// Entries about the version that were not read (not signed by a project key, or not
    /// readable as their type), and why.
    pub not_counted: Vec<NotCounted>,
    /// The ledger index of the decision's evidence; `None` for `aigis gate`, which
    /// records nothing.
    pub evidence: Option<u64>,
}

/// An entry about the version the gate did not read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NotCounted {
    /// Its ledger index.
    pub evidence: u64,
    /// Why.
    pub why: String,
}

impl Workflow<'_> {
    /// The promotion gate: every check, passed or not (so a refusal names every reason).
    ///
    /// The gate decides from signed evidence only. One thing can make that evidence stale
    /// without any byte changing: the project's allowlist. An entry removed since the scan
    /// would still let its import through; one added would still refuse it. So when the
    /// allowlist in force (the scanner's) differs from the one the scan evidence records,
    /// the stored bytes (once they are known to match their digests) are scanned again
    /// with the current allowlist, the new scan is recorded as evidence and attached to
    /// the version, and the gate reads that. Refusing with a hint would only send the user
    /// to register the same bytes again; silently reading the old verdict would let a
    /// revoked entry keep working.
    pub fn gate(&self, reg: &Registry, record: &mut VersionRecord) -> Vec<Check> {
        let total = record.files.iter().map(|f| f.bytes).sum();
        self.progress.begin("checking", total, true);
        let problems = reg.check_blobs(record, &|n| self.progress.advance(n));
        self.progress.end();
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
        let scan = self.current_scan(reg, record, stored.passed);
        vec![stored, scan, self.check_signature(reg, record)]
    }

    /// The scan check, after scanning the stored bytes again if the allowlist changed
    /// since the scan evidence was made (see [`Workflow::gate`]).
    fn current_scan(&self, reg: &Registry, record: &mut VersionRecord, stored_ok: bool) -> Check {
        const NAME: &str = "scan";
        let old = record.scan.as_ref().map(|e| e.index);
        let current = self.scanner.allowlist().digest();
        // Unreadable evidence, or evidence that is not a model scan, is left to
        // `check_scan` to refuse: only a readable scan can be out of date.
        let recorded = old.and_then(|i| self.scan_allowlist_digest(i));
        let Some((old, recorded)) = old.zip(recorded) else {
            return self.check_scan(record);
        };
        if recorded == current {
            return self.check_scan(record);
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
        let rescan = |record: &mut VersionRecord| -> Result<u64, Error> {
            let display = std::path::PathBuf::from(&record.source);
            let StoredScan {
                reports,
                subjects,
                worst,
            } = scan_stored(reg, record, self.scanner, &display, self.progress)?;
            let index = record_model_scan(
                self.project,
                self.key,
                &reports,
                subjects,
                "none",
                true,
                self.scanner.allowlist(),
            )?
            .ok_or(Error::NoFiles)?;
            record.scan = Some(EvidenceRef {
                index,
                summary: worst.as_str().to_owned(),
            });
            reg.update_version(record)?;
            Ok(index)
        };
        match rescan(record) {
            Ok(new) => {
                let mut c = self.check_scan(record);
                c.detail = format!(
                    "scanned again as evidence #{new}, with the current allowlist (evidence #{old} was made under another one): {}",
                    c.detail
                );
                c
            }
            Err(e) => Check::fail(
                NAME,
                format!(
                    "the allowlist changed since evidence #{old}, and scanning the stored bytes again failed: {}",
                    chain(&e)
                ),
                Some(old),
            ),
        }
    }

    /// The allowlist digest a model-scan evidence entry records: the empty list's for
    /// scans recorded before there was an allowlist. `None` when the entry cannot be read
    /// as a model scan signed by the project.
    fn scan_allowlist_digest(&self, index: u64) -> Option<Digest> {
        let (statement, _) = self.read_evidence(index).ok()?;
        let scan = ModelScan::from_statement(&statement).ok()?;
        Some(
            scan.allowlist
                .map_or_else(|| aigis_scan::Allowlist::default().digest(), |a| a.digest),
        )
    }

    /// A ledger entry's statement, and the id of the trusted key that signed it. An entry
    /// that is missing, not a statement, or not signed by a key of the project's keyring
    /// is refused: the gate does not read unsigned claims.
    fn read_evidence(&self, index: u64) -> Result<(Statement, String), String> {
        read_signed(self.project, index)
    }

    /// The scan evidence must be signed by a project key, be a model scan whose predicate
    /// reads as one, cover every file of the version by digest, and judge every one of
    /// them safe: suspicious (an import nobody reviewed), inconclusive and dangerous are
    /// refused.
    fn check_scan(&self, record: &VersionRecord) -> Check {
        const NAME: &str = "scan";
        let Some(scan) = &record.scan else {
            return Check::fail(NAME, "the version was never scanned".into(), None);
        };
        let (statement, _) = match self.read_evidence(scan.index) {
            Ok(s) => s,
            Err(e) => return Check::fail(NAME, e, Some(scan.index)),
        };
        judge_scan(record, scan.index, &statement)
    }

    /// The signature must verify, with a project key or one of
    /// [`Workflow::also_trust`], over the stored files laid out as they were registered,
    /// and list exactly those files.
    pub(crate) fn check_signature(&self, reg: &Registry, record: &VersionRecord) -> Check {
        const NAME: &str = "signature";
        let Some(bundle) = record.signature_bundle else {
            return Check::fail(
                NAME,
                "the version is unsigned (sign the model with `aigis model sign`, then register it again)".into(),
                None,
            );
        };
        let evidence = record.signature.as_ref().map(|e| e.index);
        let run = || -> Result<Check, Error> {
            let bytes = reg.read_blob(&bundle, BUNDLE_LIMIT)?;
            let mut trusted: Vec<VerifierKey> = self
                .project
                .keyring()?
                .public_keys()
                .into_iter()
                .map(VerifierKey::from)
                .collect();
            trusted.extend(self.also_trust.iter().cloned());
            let (_dir, model) = reg.materialize(record)?;
            Ok(match signing::verify_model(&model, &bytes, &trusted) {
                Ok(r) if r.passed() => Check {
                    key: Some(r.key_id.clone()),
                    ..Check::pass(
                        NAME,
                        format!(
                            "verified with {} key {}; the {} signed file(s) match",
                            r.algorithm, r.key_id, r.files
                        ),
                        evidence,
                    )
                },
                Ok(r) => Check::fail(
                    NAME,
                    format!(
                        "the stored files differ from the signed ones: {}",
                        r.changes
                            .iter()
                            .map(|c| format!("{c:#}"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                    evidence,
                ),
                Err(e) => Check::fail(NAME, e.to_string(), evidence),
            })
        };
        run().unwrap_or_else(|e| Check::fail(NAME, chain(&e), evidence))
    }
}

/// The scan check over a statement already known to be signed by a project key: it must
/// be a model scan whose predicate reads as one, cover every file of the version by
/// digest, and judge every one of them safe.
pub(crate) fn judge_scan(record: &VersionRecord, index: u64, statement: &Statement) -> Check {
    const NAME: &str = "scan";
    let predicate = match ModelScan::from_statement(statement) {
        Ok(p) => p,
        Err(aigis_evidence::Error::WrongType { found, .. }) => {
            return Check::fail(
                NAME,
                format!("evidence #{index} is a `{found}`, not a model scan"),
                Some(index),
            );
        }
        Err(e) => {
            return Check::fail(
                NAME,
                format!("evidence #{index} cannot be read: {e}"),
                Some(index),
            );
        }
    };
    // Subjects and the predicate's `files` are written in the same order, one each.
    if predicate.files.len() != statement.subject.len() {
        return Check::fail(
            NAME,
            format!(
                "evidence #{index} lists {} file(s) for {} subject(s)",
                predicate.files.len(),
                statement.subject.len()
            ),
            Some(index),
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
                Some(index),
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
            Some(index),
        )
    } else {
        if unknown_import {
            bad.push(ALLOWLIST_HINT.to_owned());
        }
        Check::fail(NAME, bad.join("; "), Some(index))
    }
}
