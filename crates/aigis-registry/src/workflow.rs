//! Registration, promotion and rollback: what changes the registry, each change recorded
//! as evidence in the project's ledger.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use aigis_crypto::SigningKey;
use aigis_evidence::{
    Decision as GateDecision, GateCheck, ModelKind, ModelPromotion, ModelRegistration,
    ModelVerification, Predicate, RegisteredFile, SignatureRegistered, StageAction,
};
use aigis_ledger::Project;
use aigis_model::signing::VerifierKey;
use aigis_scan::{Scanner, Verdict};

use aigis_core::Progress;

use crate::error::Error;
use crate::gate::{Check, Decision, NotCounted};
use crate::policy::{GatePolicy, Question};
use crate::scan::{StoredScan, record_model_scan, scan_stored};
use crate::store::{
    self, EvidenceRef, Kind, Registry, RegistryError, StageState, Stages, VersionRecord,
};

/// The largest signature bundle read.
pub const BUNDLE_LIMIT: u64 = 16 << 20;

/// The project's registry (`.aigis/registry/`), created if missing.
pub fn open(project: &Project) -> Result<Registry, Error> {
    Ok(Registry::open(&project.layout().registry_dir())?)
}

/// Stage names follow the model-name rules.
pub fn check_stage(stage: &str) -> Result<(), Error> {
    store::check_name(stage).map_err(|_| Error::Stage(stage.to_owned()))
}

/// The registry's changes in one project: who signs the evidence, the scanner (with the
/// project's allowlist) and the keys trusted beside the project's for model signatures.
pub struct Workflow<'a> {
    pub(crate) project: &'a Project,
    pub(crate) key: &'a SigningKey,
    pub(crate) scanner: &'a Scanner,
    pub(crate) also_trust: &'a [VerifierKey],
    pub(crate) progress: &'a dyn Progress,
    /// The gate's policy when the caller gives one (`aigis gate --policy`); else the
    /// project's (`[model.gate] policy`), else the built-in one.
    pub(crate) policy: Option<&'a GatePolicy>,
    /// The time evidence ages are measured at; `None`: now. Only tests set it (a gate
    /// asked as of the past would make stale evidence look fresh).
    pub(crate) as_of_ms: Option<i64>,
}

impl std::fmt::Debug for Workflow<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Workflow")
            .field("project", &self.project.root)
            .field("key", &self.key.public().key_id())
            .field("also_trust", &self.also_trust.len())
            .finish_non_exhaustive()
    }
}

/// A version just registered.
#[derive(Debug, Clone)]
pub struct Registered {
    /// Its record, as stored.
    pub record: VersionRecord,
    /// The worst verdict of the scan of its stored bytes.
    pub worst: Verdict,
    /// The signature check, when a bundle was registered with it.
    pub signature: Option<Check>,
    /// The ledger index of the registration's evidence.
    pub evidence: u64,
    /// The bytes stored.
    pub bytes: u64,
}

/// A change of stage, as the gate is asked to allow it.
struct Move<'a> {
    /// `None`: only asked (`aigis gate`), nothing recorded or moved.
    action: Option<StageAction>,
    stage: &'a str,
    from: Option<u32>,
    /// The stage's history after the move.
    previous: Vec<u32>,
}

fn now() -> String {
    humantime::format_rfc3339_millis(SystemTime::now()).to_string()
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

/// Reads a signature bundle of at most [`BUNDLE_LIMIT`] bytes.
fn read_bundle(path: &Path) -> Result<Vec<u8>, Error> {
    use std::io::Read as _;
    let err = |source| Error::Bundle {
        path: path.to_owned(),
        source,
    };
    let mut buf = Vec::new();
    std::fs::File::open(path)
        .map_err(err)?
        .take(BUNDLE_LIMIT + 1)
        .read_to_end(&mut buf)
        .map_err(err)?;
    if buf.len() as u64 > BUNDLE_LIMIT {
        return Err(Error::BundleTooLarge {
            path: path.to_owned(),
            limit: BUNDLE_LIMIT,
        });
    }
    Ok(buf)
}

/// A version's files as its evidence lists them.
fn registered_files(record: &VersionRecord) -> Vec<RegisteredFile> {
    record
        .files
        .iter()
        .map(|f| RegisteredFile {
            path: f.path.clone(),
            sha256: f.sha256,
            bytes: f.bytes,
        })
        .collect()
}

impl<'a> Workflow<'a> {
    /// Changes to the registry of `project`, their evidence signed with `key`, models
    /// scanned with `scanner` (which carries the project's allowlist).
    pub fn new(
        project: &'a Project,
        key: &'a SigningKey,
        scanner: &'a Scanner,
        progress: &'a dyn Progress,
    ) -> Self {
        Self {
            project,
            key,
            scanner,
            also_trust: &[],
            progress,
            policy: None,
            as_of_ms: None,
        }
    }

    /// Decides with `policy` instead of the project's.
    #[must_use]
    pub fn with_policy(mut self, policy: &'a GatePolicy) -> Self {
        self.policy = Some(policy);
        self
    }

    /// The policy in force: the one given, else the project's `[model.gate] policy`
    /// (relative to the project's folder), else the built-in one.
    pub fn policy_in_force(&self) -> Result<std::borrow::Cow<'a, GatePolicy>, Error> {
        let policy = match self.policy {
            Some(p) => std::borrow::Cow::Borrowed(p),
            None => std::borrow::Cow::Owned(match &self.project.config.model.gate.policy {
                Some(path) => GatePolicy::load(&self.project.root.join(path))?,
                None => GatePolicy::builtin()?,
            }),
        };
        // The project's roles may require separation of duties, whatever the policy says.
        if self
            .project
            .roles()?
            .is_some_and(|r| r.roles.separation_of_duties)
        {
            return Ok(std::borrow::Cow::Owned(policy.with_separation_of_duties()?));
        }
        Ok(policy)
    }

    /// Also trusts these keys, beside the project's keyring, for model signatures.
    #[must_use]
    pub fn also_trust(mut self, keys: &'a [VerifierKey]) -> Self {
        self.also_trust = keys;
        self
    }

    /// Records `predicate` about the version (its digest, named `<name>@<version>`).
    fn record<P: Predicate>(&self, record: &VersionRecord, predicate: &P) -> Result<u64, Error> {
        let subject = (format!("{}@{}", record.name, record.version), record.digest);
        Ok(self.project.record(self.key, vec![subject], predicate)?)
    }

    /// Stores, scans, verifies the signature of and records a new version of `name` from
    /// the model file or folder at `path`. The signature bundle is `signature`, or
    /// `<file>.sig` / `<folder>/model.sig` when that exists (and is then not part of the
    /// model). A scan that is not safe, or a signature that does not verify, is recorded,
    /// not refused: the gate refuses the version later.
    pub fn register(
        &self,
        path: &Path,
        name: &str,
        signature: Option<&Path>,
    ) -> Result<Registered, Error> {
        store::check_name(name)?;
        let reg = open(self.project)?;
        let bundle_path = match signature {
            Some(p) if !p.is_file() => return Err(Error::NoBundle(p.to_owned())),
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
        let source = store::list_source(path, &exclude)?;

        // 1. Store the files, hashing each once as it is copied.
        let total: u64 = source
            .files
            .iter()
            .map(|(_, p)| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0))
            .sum();
        self.progress.begin("storing", total, true);
        let mut files = Vec::with_capacity(source.files.len());
        for (rel, path) in &source.files {
            match reg.store_file(rel, path, &|n| self.progress.advance(n)) {
                Ok(f) => files.push(f),
                Err(e) => {
                    self.progress.end();
                    return Err(e.into());
                }
            }
        }
        self.progress.end();
        let digest = store::version_digest(source.kind, &files);
        let mut record = VersionRecord {
            schema: store::VERSION_SCHEMA.to_owned(),
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
            registered_by: self.key.public().key_id(),
            scan: None,
            signature_bundle: None,
            signature: None,
            evidence: None,
        };

        // 2. Scan the stored bytes, laid out as registered, with the project's
        // allowlist, and record the scan under the source paths with the digests just
        // computed. What was scanned is what is stored.
        let StoredScan {
            reports,
            subjects,
            worst,
        } = scan_stored(&reg, &record, self.scanner, path, self.progress)?;
        let scan_index = record_model_scan(
            self.project,
            self.key,
            &reports,
            subjects,
            "none",
            true,
            self.scanner.allowlist(),
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
            let bytes = read_bundle(path)?;
            record.signature_bundle = Some(reg.store_bytes(&bytes)?);
            let check = self.check_signature(&reg, &record);
            let index = self.record(
                &record,
                &ModelVerification::Registered(SignatureRegistered {
                    bundle: record.signature_bundle,
                    verified: check.passed,
                    detail: check.detail.clone(),
                    files: registered_files(&record),
                }),
            )?;
            record.signature = Some(EvidenceRef {
                index,
                summary: check.detail.clone(),
            });
            signature_note = Some(check);
        }

        reg.write_version(&record)?;
        let index = self.record(
            &record,
            &ModelRegistration {
                name: record.name.clone(),
                version: record.version,
                kind: match record.kind {
                    Kind::File => ModelKind::File,
                    Kind::Folder => ModelKind::Folder,
                },
                source: record.source.clone(),
                files: registered_files(&record),
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

    /// Runs the gate for moving `version` of `name` to `stage`, records the decision and
    /// applies it if the policy allows it. A refusal is a decision, not an error.
    pub fn promote(&self, name: &str, version: u32, stage: &str) -> Result<Decision, Error> {
        self.promotion(name, version, stage, true)
    }

    /// Asks the gate whether `version` of `name` may move to `stage`, and records nothing
    /// (`aigis gate`): the same checks, attributes and policy as [`Workflow::promote`].
    /// The only evidence it may write is a new scan, when the allowlist changed since the
    /// version was scanned.
    pub fn ask(&self, name: &str, version: u32, stage: &str) -> Result<Decision, Error> {
        self.promotion(name, version, stage, false)
    }

    fn promotion(
        &self,
        name: &str,
        version: u32,
        stage: &str,
        apply: bool,
    ) -> Result<Decision, Error> {
        check_stage(stage)?;
        let policy = self.policy_in_force()?;
        let reg = open(self.project)?;
        let _lock = reg.lock()?;
        let mut record = reg.version(name, version)?;
        let mut stages = reg.stages(name)?;
        let current = stages.stages.get(stage).cloned();
        if apply && current.as_ref().is_some_and(|c| c.version == version) {
            return Err(Error::AlreadyAtStage {
                name: name.to_owned(),
                version,
                stage: stage.to_owned(),
            });
        }
        let mut checks = self.gate(&reg, &mut record);
        if let Some(shadow) = self
            .project
            .config
            .model
            .gate
            .shadow
            .as_ref()
            .filter(|s| s.stages.iter().any(|s| s == stage))
        {
            let held = match &current {
                Some(c) => Some((
                    c.version,
                    reg.version(name, c.version)?
                        .files
                        .iter()
                        .map(|f| f.sha256)
                        .collect(),
                )),
                None => None,
            };
            checks.push(crate::shadow::check(self.project, shadow, &record, held));
        }
        if let Some(detector) = self
            .project
            .config
            .model
            .gate
            .detector
            .as_ref()
            .filter(|d| d.stages.iter().any(|s| s == stage))
        {
            checks.push(crate::detector::check(self.project, detector, &record));
        }
        let mut previous = current
            .as_ref()
            .map(|c| c.previous.clone())
            .unwrap_or_default();
        if let Some(c) = &current {
            previous.push(c.version);
        }
        self.decide(
            &reg,
            &record,
            &mut stages,
            Move {
                action: apply.then_some(StageAction::Promote),
                stage,
                from: current.map(|c| c.version),
                previous,
            },
            checks,
            &policy,
        )
    }

    /// Runs the gate for returning `stage` of `name` to the version it held before (or to
    /// `to`, which it must have held), records the decision and applies it if every check
    /// passed.
    pub fn rollback(&self, name: &str, stage: &str, to: Option<u32>) -> Result<Decision, Error> {
        check_stage(stage)?;
        let policy = self.policy_in_force()?;
        let reg = open(self.project)?;
        let _lock = reg.lock()?;
        let mut stages = reg.stages(name)?;
        let Some(current) = stages.stages.get(stage).cloned() else {
            if reg.versions(name)?.is_empty() {
                return Err(RegistryError::NoModel(name.to_owned()).into());
            }
            return Err(Error::EmptyStage {
                name: name.to_owned(),
                stage: stage.to_owned(),
            });
        };
        let mut previous = current.previous.clone();
        let target = match to {
            None => previous.pop().ok_or_else(|| Error::NothingToRollBack {
                name: name.to_owned(),
                stage: stage.to_owned(),
                version: current.version,
            })?,
            Some(v) => {
                let Some(at) = previous.iter().rposition(|&p| p == v) else {
                    return Err(Error::NeverHeld {
                        name: name.to_owned(),
                        stage: stage.to_owned(),
                        version: v,
                        previous,
                    });
                };
                previous.truncate(at);
                v
            }
        };
        let mut record = reg.version(name, target)?;
        let checks = self.gate(&reg, &mut record);
        self.decide(
            &reg,
            &record,
            &mut stages,
            Move {
                action: Some(StageAction::Rollback),
                stage,
                from: Some(current.version),
                previous,
            },
            checks,
            &policy,
        )
    }

    /// Asks the policy over the version's attributes, records the decision as evidence
    /// and applies it if the policy allowed it (unless the move is only asked).
    fn decide(
        &self,
        reg: &Registry,
        record: &VersionRecord,
        stages: &mut Stages,
        mv: Move<'_>,
        checks: Vec<Check>,
        policy: &GatePolicy,
    ) -> Result<Decision, Error> {
        let now_ms = self.as_of_ms.unwrap_or_else(|| {
            i64::try_from(
                SystemTime::now()
                    .duration_since(SystemTime::UNIX_EPOCH)
                    .unwrap_or_default()
                    .as_millis(),
            )
            .unwrap_or(i64::MAX)
        });
        let facts = crate::policy::facts::gather(
            self.project,
            record,
            &checks,
            self.scanner.known_bad(),
            now_ms,
        )
        .map_err(Error::Facts)?;
        let principal = self.key.public().key_id();
        let roles: Option<Vec<String>> = self.project.roles()?.map(|r| {
            r.roles
                .member(&principal)
                .map(|m| m.roles.iter().cloned().collect())
                .unwrap_or_default()
        });
        let verdict = policy.decide(
            &Question {
                principal: &principal,
                action: mv.action.unwrap_or(StageAction::Promote).as_str(),
                stage: mv.stage,
                from: mv.from,
                roles: roles.as_deref(),
            },
            &facts,
        );
        let passed = verdict.allowed;
        let policy_ref = aigis_evidence::GatePolicyRef {
            source: policy.source.clone(),
            digest: policy.digest,
        };
        let read = facts.read();
        let mut evidence = None;
        if let Some(action) = mv.action {
            let index = self.record(
                record,
                &ModelPromotion {
                    name: record.name.clone(),
                    version: record.version,
                    action,
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
                    policy: Some(policy_ref.clone()),
                    policies: verdict
                        .policies
                        .iter()
                        .map(|p| aigis_evidence::GatePolicyVerdict {
                            policy: p.policy.clone(),
                            effect: p.effect.to_owned(),
                            passed: p.passed,
                            reads: p.reads.clone(),
                            evidence: p.evidence.clone(),
                            error: p.error.clone(),
                        })
                        .collect(),
                    attributes: Some(
                        facts
                            .facts
                            .iter()
                            .filter(|f| !f.value.is_null())
                            .map(|f| (f.attribute.clone(), f.value.clone()))
                            .collect(),
                    ),
                    read,
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
            evidence = Some(index);
        }
        Ok(Decision {
            name: record.name.clone(),
            version: record.version,
            stage: mv.stage.to_owned(),
            action: mv.action.map_or("gate", StageAction::as_str),
            from: mv.from,
            checks,
            passed,
            policy: policy_ref,
            verdict,
            facts: facts.facts,
            not_counted: facts
                .not_counted
                .into_iter()
                .map(|(evidence, why)| NotCounted { evidence, why })
                .collect(),
            evidence,
        })
    }
}
