//! `aigis model register|list|show|promote|rollback`: the model registry and its
//! promotion gate, through `aigis_registry` (which stores, scans, verifies, decides and
//! records the evidence); this module parses, calls and renders.

use aigis_registry::store::EvidenceRef;
use aigis_registry::{RegistryError, Workflow};
use aigis_scan::Verdict;
use anyhow::Result;
use serde_json::json;

use crate::cli::{Cli, ModelPromoteArgs, ModelRegisterArgs, ModelRollbackArgs, ModelShowArgs};
use crate::commands::ExitStatus;
use crate::{context, output};

pub fn register(cli: &Cli, args: &ModelRegisterArgs) -> Result<()> {
    let project = context::project(cli)?;
    // The passphrase is asked for before any work.
    let key = context::signing_key(&project)?;
    let scanner = context::scanner(Some(&project))?;
    let also_trust = super::sign::pem_keys(&args.keys)?;
    let bar = output::Bar::new(cli);
    let r = Workflow::new(&project, &key, &scanner, &bar)
        .also_trust(&also_trust)
        .register(&args.path, &args.name, args.signature.as_deref())?;
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

pub fn promote(cli: &Cli, args: &ModelPromoteArgs) -> Result<ExitStatus> {
    let project = context::project(cli)?;
    let key = context::signing_key(&project)?;
    context::require_role(&project, &key, "releaser", "promoting a model")?;
    let scanner = context::scanner(Some(&project))?;
    let also_trust = super::sign::pem_keys(&args.keys)?;
    let bar = output::Bar::new(cli);
    let d = Workflow::new(&project, &key, &scanner, &bar)
        .also_trust(&also_trust)
        .promote(&args.name, args.version, &args.stage)?;
    crate::commands::gate::report(cli, &d)
}

pub fn rollback(cli: &Cli, args: &ModelRollbackArgs) -> Result<ExitStatus> {
    aigis_registry::check_stage(&args.stage)?;
    let project = context::project(cli)?;
    let key = context::signing_key(&project)?;
    context::require_role(&project, &key, "releaser", "rolling a stage back")?;
    let scanner = context::scanner(Some(&project))?;
    let also_trust = super::sign::pem_keys(&args.keys)?;
    let bar = output::Bar::new(cli);
    let d = Workflow::new(&project, &key, &scanner, &bar)
        .also_trust(&also_trust)
        .rollback(&args.name, &args.stage, args.to)?;
    crate::commands::gate::report(cli, &d)
}

/// A line of `model list`.
#[derive(serde::Serialize)]
struct ModelRow {
    name: String,
    versions: usize,
    latest: Option<u32>,
    /// Stage name -> the version in it.
    stages: std::collections::BTreeMap<String, u32>,
}

/// A line of `model versions`.
#[derive(serde::Serialize)]
struct VersionRow<'a> {
    version: u32,
    digest: aigis_core::Digest,
    registered_at: String,
    files: usize,
    bytes: u64,
    scan: Option<String>,
    signed: bool,
    stages: Vec<&'a str>,
}

pub fn list(cli: &Cli) -> Result<()> {
    let project = context::project(cli)?;
    let reg = aigis_registry::open(&project)?;
    let mut models = Vec::new();
    for name in reg.names()? {
        let versions = reg.versions(&name)?;
        let stages = reg.stages(&name)?;
        models.push(ModelRow {
            versions: versions.len(),
            latest: versions.last().copied(),
            stages: stages
                .stages
                .iter()
                .map(|(s, st)| (s.clone(), st.version))
                .collect(),
            name,
        });
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
        let stages: Vec<String> = m.stages.iter().map(|(s, v)| format!("{s}=v{v}")).collect();
        outln!(
            "{:<24} {:>8} {:>7}  {}",
            m.name,
            m.versions,
            m.latest.map_or("null".to_owned(), |v| v.to_string()),
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
    let reg = aigis_registry::open(&project)?;
    let versions = reg.versions(&args.name)?;
    if versions.is_empty() {
        return Err(RegistryError::NoModel(args.name.clone()).into());
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
        rows.push(VersionRow {
            version: *v,
            digest: r.digest,
            files: r.files.len(),
            bytes: r.files.iter().map(|f| f.bytes).sum::<u64>(),
            scan: r.scan.as_ref().map(|e| e.summary.clone()),
            signed: r.signature_bundle.is_some(),
            stages: at_stage(*v),
            registered_at: r.registered_at,
        });
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
        outln!(
            "{:>7}  {:<24} {:<13} {:<7} {:>12}  {}",
            r.version,
            r.registered_at,
            r.scan.as_deref().unwrap_or("none"),
            if r.signed { "yes" } else { "no" },
            r.bytes,
            if r.stages.is_empty() {
                "-".into()
            } else {
                r.stages.join(", ")
            }
        );
    }
    Ok(())
}
