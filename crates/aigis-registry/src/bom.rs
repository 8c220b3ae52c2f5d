//! A CycloneDX 1.6 ML-BOM of a registered version: the model (its files by digest, a model
//! card from the ledger's signed training, red-team and fairness evidence), the datasets
//! it was trained on (by digest and signed manifest), the packages of the lockfiles given
//! (training and serving dependencies, by purl and the lockfiles' own hashes), and a
//! reference to each ledger entry it was built from (by the SHA-256 of the entry's bytes,
//! so a reader can check it against the ledger).
//!
//! Written as JSON by hand because the Rust CycloneDX library (`cyclonedx-bom` 0.8) writes
//! specification versions up to 1.5, and the ML-BOM fields this uses are 1.6's; the output
//! is validated against the 1.6 schema by the CycloneDX project's own validator in CI.

use std::collections::BTreeSet;
use std::time::SystemTime;

use aigis_core::Digest;
use aigis_deps::lockfile::Lockfile;
use aigis_evidence::{Fairness, RedTeam, Training};
use serde_json::{Value, json};

use crate::error::Error;
use crate::policy::facts::{Found, Reader};
use crate::store::VersionRecord;

/// A lockfile to list, as the user named it, read, with its digest.
#[derive(Debug, Clone)]
pub struct LockfileInput {
    /// The path as given.
    pub path: String,
    /// What it pins.
    pub lockfile: Lockfile,
    /// Its SHA-256.
    pub sha256: Digest,
}

/// Sets `key` of a JSON object (only objects are passed).
fn put(v: &mut Value, key: &str, x: Value) {
    if let Some(o) = v.as_object_mut() {
        o.insert(key.to_owned(), x);
    }
}

fn hashes(d: &Digest) -> Value {
    json!([{"alg": "SHA-256", "content": d.hex()}])
}

/// An `attestation` reference to a ledger entry.
fn entry_ref<P>(origin: &str, what: &str, f: &Found<P>) -> Value {
    json!({
        "type": "attestation",
        "url": format!("urn:aigis:ledger:{origin}:{}", f.index),
        "comment": format!("{what}: signed evidence #{} in the aigis ledger `{origin}` (signed by key {}); `aigis evidence show {} --raw` gives the bytes this hash is of", f.index, f.key, f.index),
        "hashes": hashes(&f.body_sha256),
    })
}

/// A UUID (version 4 layout) for the BOM's serial number, from the version's digest and
/// the time: distinct for every BOM written, without a random source in this crate.
fn serial(record: &VersionRecord) -> String {
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    let mut seed = record.digest.as_bytes().to_vec();
    seed.extend_from_slice(&now.to_le_bytes());
    seed.extend_from_slice(&std::process::id().to_le_bytes());
    let mut b = *Digest::of(&seed).as_bytes();
    if let Some(x) = b.get_mut(6) {
        *x = (*x & 0x0f) | 0x40;
    }
    if let Some(x) = b.get_mut(8) {
        *x = (*x & 0x3f) | 0x80;
    }
    let h = hex::encode(b.get(..16).unwrap_or_default());
    format!(
        "urn:uuid:{}-{}-{}-{}-{}",
        h.get(0..8).unwrap_or_default(),
        h.get(8..12).unwrap_or_default(),
        h.get(12..16).unwrap_or_default(),
        h.get(16..20).unwrap_or_default(),
        h.get(20..32).unwrap_or_default()
    )
}

fn metric(kind: &str, value: f64, slice: &str) -> Value {
    json!({"type": kind, "value": format!("{value:.4}"), "slice": slice})
}

/// The BOM of `record`.
pub fn bom(
    project: &aigis_ledger::Project,
    record: &VersionRecord,
    lockfiles: &[LockfileInput],
) -> Result<Value, Error> {
    let now = SystemTime::now();
    let now_ms = i64::try_from(
        now.duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis(),
    )
    .unwrap_or(i64::MAX);
    let origin = project.origin().to_owned();
    let mut not_counted = Vec::new();
    let mut r = Reader::new(project, now_ms, &mut not_counted).map_err(Error::Facts)?;
    let files: BTreeSet<Digest> = record.files.iter().map(|f| f.sha256).collect();
    let training = r
        .newest::<Training>(&files, "model:")
        .map_err(Error::Facts)?;
    let redteam = r
        .newest::<RedTeam>(&files, "model:")
        .map_err(Error::Facts)?;
    let fairness = r
        .newest::<Fairness>(&files, "model:")
        .map_err(Error::Facts)?;

    let model_ref = format!("model:{}@{}", record.name, record.version);
    let mut components = Vec::new();
    let mut depends = Vec::new();
    let mut references = vec![];
    if let Some(e) = &record.evidence {
        references.push(json!({
            "type": "attestation",
            "url": format!("urn:aigis:ledger:{origin}:{}", e.index),
            "comment": format!("model-registration: signed evidence #{} in the aigis ledger `{origin}`", e.index),
        }));
    }

    // The datasets the training evidence names, each by digest, with its manifest.
    let mut datasets = Vec::new();
    if let Some(t) = &training {
        references.push(entry_ref(&origin, "training", t));
        for s in &t.statement.subject {
            let (Some(name), Some(hex)) = (s.name.as_deref(), s.digest.get("sha256")) else {
                continue;
            };
            let Some(path) = name.strip_prefix("data:") else {
                continue;
            };
            let Ok(digest) = hex.parse::<Digest>() else {
                continue;
            };
            let bom_ref = format!("data:{}", digest.hex());
            let mut data = json!({
                "type": "dataset",
                "name": path,
                "description": format!("{} rows; features {}; label `{}`", t.predicate.rows, t.predicate.features.join(", "), t.predicate.label),
            });
            let mut refs = vec![entry_ref(&origin, "training (names this table)", t)];
            if let Some(m) = &t.predicate.data_manifest {
                refs.push(json!({
                    "type": "attestation",
                    "url": format!("urn:aigis:ledger:{origin}:{}", m.evidence),
                    "comment": format!("data-manifest: the signed manifest the table matched before training (Merkle root {}, signed by key {})", m.root, m.signed_by),
                }));
                if let Some(o) = data.as_object_mut() {
                    o.insert(
                        "governance".into(),
                        json!({"custodians": [{"organization": {"name": format!("aigis project `{origin}`, key {}", m.signed_by)}}]}),
                    );
                }
            }
            components.push(json!({
                "type": "data",
                "bom-ref": bom_ref,
                "name": path,
                "hashes": hashes(&digest),
                "data": [data],
                "externalReferences": refs,
            }));
            datasets.push(json!({"ref": bom_ref}));
            depends.push(bom_ref);
        }
    }

    // The packages of the lockfiles: training and serving dependencies.
    let mut seen = BTreeSet::new();
    for l in lockfiles {
        for d in &l.lockfile.dependencies {
            let purl = aigis_deps::purl::purl(d);
            if !seen.insert(purl.clone()) {
                continue;
            }
            let mut c = json!({
                "type": "library",
                "bom-ref": purl,
                "name": d.name,
                "version": d.version,
                "purl": purl,
                "scope": "required",
                "properties": [
                    {"name": "aigis:lockfile", "value": l.path},
                    {"name": "aigis:lockfile-sha256", "value": l.sha256.hex()},
                ],
            });
            let h: Vec<Value> = d
                .hashes
                .iter()
                .map(|(alg, hex)| json!({"alg": alg, "content": hex}))
                .collect();
            if !h.is_empty()
                && let Some(o) = c.as_object_mut()
            {
                o.insert("hashes".into(), Value::Array(h));
            }
            components.push(c);
            depends.push(purl);
        }
    }

    // The model card, from the evidence.
    let mut metrics = Vec::new();
    let mut card = json!({});
    if let Some(t) = &training {
        let p = &t.predicate;
        metrics.push(metric("accuracy", p.training_accuracy, "training rows"));
        if let Some(v) = p.validation_accuracy {
            metrics.push(metric("accuracy", v, "held-out validation rows"));
        }
        if let Some(dp) = &p.dp {
            metrics.push(metric(
                "differential privacy epsilon",
                dp.epsilon,
                &format!("delta {:e}, {} accountant", dp.delta, dp.accountant),
            ));
        }
        put(
            &mut card,
            "modelParameters",
            json!({
                "approach": {"type": "supervised"},
                "task": "classification",
                "architectureFamily": match p.model.as_str() {
                    "mlp" => "multilayer perceptron",
                    "softmax" => "softmax regression",
                    "logistic" => "logistic regression",
                    other => other,
                },
                "modelArchitecture": format!("{} hidden units, {} classes", p.hidden, p.classes.len()),
                "datasets": datasets,
                "inputs": [{"format": format!("float32 tensor of {} features: {}", p.features.len(), p.features.join(", "))}],
                "outputs": [{"format": "class label and class probabilities"}],
            }),
        );
    }
    if let Some(rt) = &redteam {
        references.push(entry_ref(&origin, "redteam", rt));
        if let Some(a) = rt.predicate.clean_accuracy {
            metrics.push(metric("accuracy", a, "red team's labelled rows"));
        }
        for a in &rt.predicate.attacks {
            if let Some(ra) = a.robust_accuracy {
                metrics.push(metric(
                    "robust accuracy",
                    ra,
                    &format!("{} at eps {} ({} norm)", a.title(), a.eps, a.norm),
                ));
            }
        }
        if let Some(m) = &rt.predicate.membership {
            for a in &m.attacks {
                metrics.push(metric("membership inference AUC", a.auc, &a.attack));
            }
        }
    }
    let mut considerations = json!({});
    if let Some(f) = &fairness {
        references.push(entry_ref(&origin, "fairness", f));
        let assessments: Vec<Value> = f
            .predicate
            .analyses
            .iter()
            .map(|a| {
                let worst = a
                    .disparities
                    .iter()
                    .map(|d| format!("{} {}", d.metric, d.value.map_or("undefined".into(), |v| format!("{v:.4}"))))
                    .collect::<Vec<_>>()
                    .join(", ");
                json!({
                    "groupAtRisk": a.sensitive.join(" × "),
                    "harms": format!("disparities measured: {worst}"),
                    "mitigationStrategy": if f.predicate.passed { "every threshold met" } else { "a threshold was NOT met" },
                })
            })
            .collect();
        put(
            &mut considerations,
            "fairnessAssessments",
            Value::Array(assessments),
        );
    }
    if !metrics.is_empty() {
        put(
            &mut card,
            "quantitativeAnalysis",
            json!({"performanceMetrics": metrics}),
        );
    }
    if considerations.as_object().is_some_and(|o| !o.is_empty()) {
        put(&mut card, "considerations", considerations);
    }

    // The model itself: one file, or a folder of files (each a component).
    let version_hashes = if record.files.len() == 1 {
        record.files.first().map(|f| hashes(&f.sha256))
    } else {
        None
    };
    let mut model = json!({
        "type": "machine-learning-model",
        "bom-ref": model_ref,
        "name": record.name,
        "version": record.version.to_string(),
        "description": format!("registered from `{}`; version digest {}", record.source, record.digest),
        "externalReferences": references,
    });
    if let Some(h) = version_hashes {
        put(&mut model, "hashes", h);
    } else {
        put(
            &mut model,
            "components",
            Value::Array(
                record
                    .files
                    .iter()
                    .map(|f| {
                        json!({
                            "type": "file",
                            "bom-ref": format!("{model_ref}/{}", f.path),
                            "name": f.path,
                            "hashes": hashes(&f.sha256),
                        })
                    })
                    .collect(),
            ),
        );
    }
    if card.as_object().is_some_and(|o| !o.is_empty()) {
        put(&mut model, "modelCard", card);
    }

    Ok(json!({
        "$schema": "http://cyclonedx.org/schema/bom-1.6.schema.json",
        "bomFormat": "CycloneDX",
        "specVersion": "1.6",
        "serialNumber": serial(record),
        "version": 1,
        "metadata": {
            "timestamp": humantime::format_rfc3339_seconds(now).to_string(),
            "tools": {"components": [{"type": "application", "name": "aigis", "version": env!("CARGO_PKG_VERSION")}]},
            "component": model,
        },
        "components": components,
        "dependencies": [{"ref": model_ref, "dependsOn": depends}],
    }))
}
