//! The model card of a registered version, built only from the ledger's signed evidence
//! about it (in the spirit of Google's Model Card Toolkit: details, provenance,
//! quantitative analyses, considerations), each statement linked to the entry that
//! proves it, and what is missing said plainly.
//!
//! The evidence is every entry whose subjects name the version's digest or one of its
//! files' digests (the registration, scans, signatures, the red team, fairness and
//! explanation runs on the file, promotions, shadow periods). An entry not signed by a
//! key of the project's keyring, or that does not read as its type, is listed as not
//! counted, never read.

use std::collections::BTreeSet;
use std::time::{Duration, SystemTime};

use aigis_core::{Digest, Statement};
use aigis_evidence::{
    Explanation, Fairness, ModelPromotion, ModelRegistration, ModelScan, ModelSignature,
    ModelVerification, Predicate, RedTeam, ShadowPeriod, Verdict,
};
use serde::Serialize;

use crate::error::Error;
use crate::store::{FileEntry, Registry, VersionRecord};

/// A model card.
#[derive(Debug, Clone, Serialize)]
pub struct Card {
    /// The model's name.
    pub name: String,
    /// The version.
    pub version: u32,
    /// The version's digest (over its files).
    pub digest: Digest,
    /// Its files and their digests.
    pub files: Vec<FileEntry>,
    /// When it was registered (RFC 3339).
    pub registered_at: String,
    /// The key that recorded the registration.
    pub registered_by: String,
    /// Where it was registered from.
    pub source: String,
    /// The stages this version holds now.
    pub stages: Vec<String>,
    /// When the card was made (RFC 3339).
    pub made_at: String,
    /// The ledger's size when it was read: every index cited is below it.
    pub ledger_size: u64,
    /// The statements, by section.
    pub sections: Vec<Section>,
    /// Evidence the card expected and did not find.
    pub missing: Vec<Missing>,
    /// Entries about the version that were not counted, and why.
    pub not_counted: Vec<NotCounted>,
}

/// A section of the card.
#[derive(Debug, Clone, Serialize)]
pub struct Section {
    /// Its title.
    pub title: String,
    /// Its statements, oldest evidence first.
    pub statements: Vec<Line>,
}

/// One statement and the entry that proves it.
#[derive(Debug, Clone, Serialize)]
pub struct Line {
    /// What the evidence says.
    pub text: String,
    /// The ledger index of the entry that says it.
    pub evidence: u64,
    /// When the entry was recorded (RFC 3339).
    pub recorded_at: String,
    /// Its age in whole days when the card was made.
    pub age_days: u64,
}

/// Evidence a card expects, not found, and the command that makes it.
#[derive(Debug, Clone, Serialize)]
pub struct Missing {
    /// What is missing.
    pub what: String,
    /// The command that records it (or why none does yet).
    pub how: String,
}

/// An entry about the version that the card did not read.
#[derive(Debug, Clone, Serialize)]
pub struct NotCounted {
    /// The entry's ledger index.
    pub evidence: u64,
    /// Why it was not read.
    pub why: String,
}

struct Entry {
    index: u64,
    at_ms: i64,
    statement: Statement,
}

/// Whether a statement that names one of the version's digests is about this version:
/// one naming the version's own digest is; a scan or signature must cover only its files
/// (another version sharing a file has its own); a registration or promotion is matched
/// by name and version when it is read; other evidence (the red team, fairness,
/// explanations) must name one of its files as its `model:` subject.
fn about(statement: &Statement, record: &VersionRecord) -> bool {
    let hex = |d: &aigis_core::ResourceDescriptor| d.digest.get("sha256").cloned();
    let files: BTreeSet<String> = record.files.iter().map(|f| f.sha256.hex()).collect();
    let version = record.digest.hex();
    if statement
        .subject
        .iter()
        .any(|d| hex(d).as_deref() == Some(version.as_str()))
    {
        return true;
    }
    let t = statement.predicate_type.as_str();
    if t == ModelScan::TYPE || t == ModelSignature::TYPE || t == ModelVerification::TYPE {
        return !statement.subject.is_empty()
            && statement
                .subject
                .iter()
                .all(|d| hex(d).is_some_and(|h| files.contains(&h)));
    }
    if t == ModelRegistration::TYPE || t == ModelPromotion::TYPE {
        return true;
    }
    statement.subject.iter().any(|d| {
        d.name.as_deref().is_some_and(|n| n.starts_with("model:"))
            && hex(d).is_some_and(|h| files.contains(&h))
    })
}

fn rfc3339(ms: i64) -> String {
    let t = SystemTime::UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).unwrap_or(0));
    humantime::format_rfc3339_seconds(t).to_string()
}

fn pct(v: f64) -> String {
    format!("{:.1} %", 100.0 * v)
}

/// The card of `record`, from `project`'s ledger.
pub fn card(
    project: &aigis_ledger::Project,
    reg: &Registry,
    record: &VersionRecord,
) -> Result<Card, Error> {
    let ledger = project.open_ledger()?;
    let keys = project.keyring()?.public_keys();
    let digests: BTreeSet<Digest> = std::iter::once(record.digest)
        .chain(record.files.iter().map(|f| f.sha256))
        .collect();
    let mut seen = BTreeSet::new();
    let mut entries = Vec::new();
    let mut not_counted = Vec::new();
    for digest in &digests {
        let found = ledger.store().query(&aigis_ledger::Query {
            subject: Some(*digest),
            ..Default::default()
        })?;
        for e in found {
            if !seen.insert(e.index) {
                continue;
            }
            match aigis_ledger::signed_statement(&keys, e.index, &e.body) {
                Ok((statement, _)) if !about(&statement, record) => {}
                Ok((statement, _)) => entries.push(Entry {
                    index: e.index,
                    at_ms: e.recorded_at_ms,
                    statement,
                }),
                Err(why) => not_counted.push(NotCounted {
                    evidence: e.index,
                    why,
                }),
            }
        }
    }
    entries.sort_by_key(|e| e.index);
    let ledger_size = ledger.tree_size()?;
    let now_ms = i64::try_from(
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis(),
    )
    .unwrap_or(i64::MAX);
    let line = |e: &Entry, text: String| Line {
        text,
        evidence: e.index,
        recorded_at: rfc3339(e.at_ms),
        age_days: u64::try_from((now_ms - e.at_ms).max(0) / 86_400_000).unwrap_or(0),
    };
    let mut provenance = Vec::new();
    let mut quantitative = Vec::new();
    let mut deployment = Vec::new();
    let mut kinds: BTreeSet<&'static str> = BTreeSet::new();
    let mut others: std::collections::BTreeMap<String, Vec<&Entry>> = Default::default();
    for e in &entries {
        let t = e.statement.predicate_type.as_str();
        macro_rules! parse {
            ($ty:ty) => {
                match <$ty>::from_statement(&e.statement) {
                    Ok(p) => p,
                    Err(err) => {
                        not_counted.push(NotCounted {
                            evidence: e.index,
                            why: format!("it does not read as {}: {err}", <$ty>::NAME),
                        });
                        continue;
                    }
                }
            };
        }
        if t == ModelScan::TYPE {
            let p = parse!(ModelScan);
            kinds.insert("scan");
            let worst = p
                .files
                .iter()
                .map(|f| f.verdict)
                .max()
                .unwrap_or(Verdict::Safe);
            provenance.push(line(
                e,
                format!(
                    "Scanned for code that runs at load: {} file(s), the worst verdict {}{}; {}.",
                    p.files.len(),
                    format!("{worst:?}").to_lowercase(),
                    p.allowlist
                        .as_ref()
                        .map_or(String::new(), |_| " (with the project's allowlist)".into()),
                    if p.passed { "passed" } else { "failed" }
                ),
            ));
        } else if t == ModelSignature::TYPE {
            let p = parse!(ModelSignature);
            kinds.insert("signature");
            provenance.push(line(
                e,
                format!("Signed ({} {}) by key {}.", p.format, p.algorithm, p.key_id),
            ));
        } else if t == ModelVerification::TYPE {
            let text = match parse!(ModelVerification) {
                ModelVerification::Checked(c) => {
                    if c.passed {
                        kinds.insert("signature");
                    }
                    format!(
                        "Signature checked by `aigis model verify`: key {} ({}), {}.",
                        c.key_id,
                        c.algorithm,
                        if c.passed {
                            "the files match"
                        } else {
                            "the files do NOT match"
                        }
                    )
                }
                ModelVerification::Rejected(r) => {
                    format!("A signature was rejected: {}.", r.reason)
                }
                ModelVerification::Registered(r) => {
                    if r.verified {
                        kinds.insert("signature");
                    }
                    format!(
                        "Signature checked over the stored files at registration: {} ({}).",
                        if r.verified {
                            "verified"
                        } else {
                            "NOT verified"
                        },
                        r.detail
                    )
                }
            };
            provenance.push(line(e, text));
        } else if t == RedTeam::TYPE {
            let p = parse!(RedTeam);
            kinds.insert("redteam");
            quantitative.push(line(e, redteam_text(&p)));
        } else if t == Fairness::TYPE {
            let p = parse!(Fairness);
            kinds.insert("fairness");
            quantitative.push(line(e, fairness_text(&p)));
        } else if t == Explanation::TYPE {
            let p = parse!(Explanation);
            kinds.insert("explanation");
            quantitative.push(line(e, explanation_text(&p)));
        } else if t == ModelRegistration::TYPE {
            let p = parse!(ModelRegistration);
            if p.name != record.name || p.version != record.version {
                continue;
            }
            provenance.push(line(
                e,
                format!(
                    "Registered as {} version {} from `{}`: {} file(s) stored by digest.",
                    p.name,
                    p.version,
                    p.source,
                    p.files.len()
                ),
            ));
        } else if t == ModelPromotion::TYPE {
            let p = parse!(ModelPromotion);
            if p.name != record.name || p.version != record.version {
                continue;
            }
            deployment.push(line(
                e,
                format!("{:?} to {}: {:?}.", p.action, p.stage, p.decision),
            ));
        } else if t == ShadowPeriod::TYPE {
            let _ = parse!(ShadowPeriod);
            deployment.push(line(
                e,
                "A shadow period beside the served version was recorded.".into(),
            ));
        } else {
            others.entry(t.to_string()).or_default().push(e);
        }
    }
    // The rest by kind: how many entries, the first and last cited (the last proves the
    // line's date).
    for (t, list) in &others {
        let name = t.rsplit('/').nth(1).unwrap_or(t);
        let what = match name {
            "gateway-call" => "calls answered by the gateway",
            "gateway-alert" => "gateway alerts",
            "monitor-window" => "monitoring windows of its traffic",
            "monitor-drift" => "drift reports",
            "detector-fit" => "per-request detectors fitted for it",
            other => other,
        };
        if let (Some(first), Some(last)) = (list.first(), list.last()) {
            let text = if list.len() == 1 {
                format!("Recorded: {what} (1 entry).")
            } else {
                format!(
                    "Recorded: {what}, {} entries from #{} to #{}.",
                    list.len(),
                    first.index,
                    last.index
                )
            };
            deployment.push(line(last, text));
        }
    }
    let _ = reg;
    let mut missing = Vec::new();
    // The file the commands name: an ONNX file, else the largest.
    let file = record
        .files
        .iter()
        .find(|f| f.path.ends_with(".onnx"))
        .or_else(|| record.files.iter().max_by_key(|f| f.bytes))
        .map_or("<model file>".to_string(), |f| f.path.clone());
    for (kind, what, how) in [
        (
            "scan",
            "An artifact scan",
            format!("`aigis model scan {file}`"),
        ),
        (
            "signature",
            "A verified signature",
            format!("`aigis model sign {file}`, then register the signed model"),
        ),
        (
            "redteam",
            "A red-team run (evasion, membership inference)",
            format!("`aigis redteam {file} --data test.csv --label y`"),
        ),
        (
            "fairness",
            "A fairness assessment of its decisions",
            format!(
                "`aigis fairness decisions.csv --label y --prediction yhat --sensitive COL --model {file}`"
            ),
        ),
        (
            "explanation",
            "Explanations of its answers",
            format!("`aigis explain {file} --data test.csv --label y`"),
        ),
    ] {
        if !kinds.contains(kind) {
            missing.push(Missing {
                what: what.into(),
                how,
            });
        }
    }
    missing.push(Missing {
        what: "The data it was trained on, and how (training evidence)".into(),
        how: "not recorded by aigis yet: the training stage will link a version to its data manifests".into(),
    });
    let sections = [
        ("Provenance and integrity", provenance),
        ("Quantitative analyses", quantitative),
        ("Deployment", deployment),
    ]
    .into_iter()
    .map(|(title, statements)| Section {
        title: title.into(),
        statements,
    })
    .collect();
    let stages = reg
        .stages(&record.name)
        .map(|s| {
            s.stages
                .iter()
                .filter(|(_, st)| st.version == record.version)
                .map(|(n, _)| n.clone())
                .collect()
        })
        .unwrap_or_default();
    Ok(Card {
        name: record.name.clone(),
        version: record.version,
        digest: record.digest,
        files: record.files.clone(),
        registered_at: record.registered_at.clone(),
        registered_by: record.registered_by.clone(),
        source: record.source.clone(),
        stages,
        made_at: rfc3339(now_ms),
        ledger_size,
        sections,
        missing,
        not_counted,
    })
}

fn redteam_text(p: &RedTeam) -> String {
    let mut parts = Vec::new();
    if let (Some(clean), Some(g)) = (p.clean_accuracy, &p.gradients) {
        parts.push(format!(
            "on {} rows, clean accuracy {} ({g} gradients)",
            p.rows,
            pct(clean)
        ));
        for a in &p.attacks {
            match (&a.skipped, a.robust_accuracy) {
                (Some(why), _) => {
                    parts.push(format!("{} at ε {} not run ({why})", a.title(), a.eps))
                }
                (None, Some(r)) => parts.push(format!(
                    "{} ({}) at ε {}: robust accuracy {}",
                    a.title(),
                    a.norm,
                    a.eps,
                    pct(r)
                )),
                _ => {}
            }
        }
    }
    if let Some(m) = &p.membership {
        for a in &m.attacks {
            parts.push(format!(
                "membership inference ({}, {} members, {} non-members): AUC {:.3}, TPR {} at 0.1 % FPR",
                a.attack,
                m.members,
                m.non_members,
                a.auc,
                pct(a.tpr_at_0_1_pct_fpr)
            ));
        }
    }
    if let Some(e) = &p.extraction {
        let curve: Vec<String> = e
            .points
            .iter()
            .map(|q| format!("{} after {} queries", pct(q.fidelity), q.queries))
            .collect();
        parts.push(format!(
            "extraction from {} queries: a copy agrees with it on {}",
            e.source,
            curve.join(", ")
        ));
    }
    if let Some(q) = &p.poisoning {
        let each: Vec<String> = q
            .outcomes
            .iter()
            .map(|o| match o.backdoor_success {
                Some(b) => format!(
                    "a backdoor in {} of the training rows works on {} of triggered rows",
                    pct(o.rate),
                    pct(b)
                ),
                None => format!(
                    "{} of the labels flipped costs {} of accuracy",
                    pct(o.rate),
                    pct(o.accuracy_drop)
                ),
            })
            .collect();
        parts.push(format!(
            "poisoning (a model retrained by aigis on {} training rows): {}",
            q.train_rows,
            each.join(", ")
        ));
    }
    format!(
        "Red team: {}; {}.",
        parts.join("; "),
        if p.passed {
            "its thresholds met"
        } else {
            "FAILED its thresholds"
        }
    )
}

fn fairness_text(p: &Fairness) -> String {
    let mut parts = Vec::new();
    for a in &p.analyses {
        let get = |m: &str| {
            a.disparities
                .iter()
                .find(|d| d.metric == m)
                .and_then(|d| d.value)
                .map_or("undefined".to_string(), |v| format!("{v:.3}"))
        };
        parts.push(format!(
            "by {}: demographic parity difference {}, equalized odds difference {}, disparate impact {}",
            a.sensitive.join(" × "),
            get("demographic-parity-difference"),
            get("equalized-odds-difference"),
            get("disparate-impact")
        ));
    }
    format!(
        "Fairness of its decisions on {} rows: {}; {}.",
        p.rows,
        parts.join("; "),
        if p.passed {
            "its thresholds met"
        } else {
            "FAILED its thresholds"
        }
    )
}

fn explanation_text(p: &Explanation) -> String {
    let lime = p
        .lime
        .as_ref()
        .map(|l| {
            format!(
                "; LIME's local models (R² {:.2} on average) weigh most {}",
                l.mean_score,
                largest(&p.features, &l.mean_abs_weight).join(", ")
            )
        })
        .unwrap_or_default();
    format!(
        "Explanations ({} Shapley values of {} rows): the features its answers depend on most are {}{lime}.",
        p.method,
        p.explained_rows,
        largest(&p.features, &p.mean_abs_shap).join(", ")
    )
}

/// The five features of largest `values`, each with its value.
fn largest(features: &[String], values: &[f64]) -> Vec<String> {
    let mut order: Vec<usize> = (0..features.len()).collect();
    order.sort_by(|&a, &b| {
        let v = |i: usize| values.get(i).copied().unwrap_or(0.0);
        v(b).total_cmp(&v(a))
    });
    order
        .iter()
        .take(5)
        .filter_map(|&i| Some(format!("{} ({:.3})", features.get(i)?, values.get(i)?)))
        .collect()
}
