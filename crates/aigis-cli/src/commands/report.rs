//! `aigis report compliance|verify|attest|frameworks`: compliance reports through
//! `aigis_report` (which judges, signs and verifies); this module parses, calls and
//! renders.

use std::path::PathBuf;

use aigis_evidence::{ComplianceReport, ControlStatement, PathDigest, Tool};
use aigis_report::compliance::Standing;
use aigis_report::{Framework, Status};
use anyhow::{Context as _, Result};
use serde_json::json;

use crate::cli::{Cli, ReportAttestArgs, ReportCommand, ReportComplianceArgs, ReportVerifyArgs};
use crate::commands::{ExitStatus, done};
use crate::{context, output};

pub(crate) fn run(cli: &Cli, cmd: &ReportCommand) -> Result<ExitStatus> {
    match cmd {
        ReportCommand::Compliance(args) => done(compliance(cli, args)),
        ReportCommand::Verify(args) => verify(cli, args),
        ReportCommand::Attest(args) => done(attest(cli, args)),
        ReportCommand::Frameworks => done(frameworks(cli)),
    }
}

fn frameworks(cli: &Cli) -> Result<()> {
    let mut all = Vec::new();
    for id in aigis_report::framework::built_in_ids() {
        let (f, _) = Framework::built_in(id)?;
        all.push(f);
    }
    if cli.json {
        return output::json(&json!({"frameworks": all.iter().map(|f| json!({
            "id": f.id, "name": f.name, "version": f.version, "source": f.source,
            "scope": f.scope, "controls": f.controls.iter().map(|c| &c.id).collect::<Vec<_>>(),
        })).collect::<Vec<_>>()}));
    }
    for f in &all {
        outln!(
            "{:<15} {} ({}), {} controls",
            f.id,
            f.name,
            f.version,
            f.controls.len()
        );
    }
    Ok(())
}

fn compliance(cli: &Cli, args: &ReportComplianceArgs) -> Result<()> {
    let (framework, mapping) = match (&args.framework, &args.mapping) {
        (_, Some(path)) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading the mapping `{}`", path.display()))?;
            (Framework::parse(&text, &path.display().to_string())?, text)
        }
        (Some(id), None) => {
            let (f, text) = Framework::built_in(id)?;
            (f, text.to_owned())
        }
        (None, None) => anyhow::bail!("name a framework (--framework) or a mapping (--mapping)"),
    };
    let project = context::project(cli)?;
    let key = context::signing_key(&project)?;
    context::require_role(&project, &key, "auditor", "making a compliance report")?;
    let report = aigis_report::compliance::build(
        &project,
        &key,
        &framework,
        &mapping,
        aigis_ledger::now_ms(),
    )?;
    let signed = aigis_report::sign(&report, &key)?;
    let path = args
        .output
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("compliance-{}.json", framework.id)));
    aigis_crypto::fs::write_atomic(&path, &signed, 0o644)
        .with_context(|| format!("writing the report to `{}`", path.display()))?;
    if let Some(html) = &args.html {
        aigis_crypto::fs::write_atomic(html, aigis_report::html::render(&report).as_bytes(), 0o644)
            .with_context(|| format!("writing `{}`", html.display()))?;
    }
    let index = record(&project, &key, &report, &signed)?;
    if cli.json {
        let mut v = serde_json::to_value(&report)?;
        if let Some(o) = v.as_object_mut() {
            // The entries' bytes and proofs are in the signed file; here they would drown
            // the answer.
            o.remove("entries");
            o.remove("mapping");
            o.insert("file".into(), json!(path));
            o.insert("evidence".into(), json!(index));
        }
        return output::json(&v);
    }
    outln!(
        "{} ({}): {} met, {} partial, {} missing of {} controls, from the ledger's first {} entries",
        framework.name,
        framework.version,
        report.summary.met,
        report.summary.partial,
        report.summary.missing,
        report.controls.len(),
        report.checkpoint_size
    );
    for c in &report.controls {
        outln!("  {:<8} {:<22} {}", c.status.as_str(), c.id, c.title);
        if c.status == Status::Met {
            continue;
        }
        for r in &c.requirements {
            if r.standing == Standing::Satisfied {
                continue;
            }
            let at = r
                .evidence
                .map(|i| format!(" (evidence #{i})"))
                .unwrap_or_default();
            outln!("           - {}: {}{at}", r.what, r.detail);
            if let Some(fix) = &r.fix {
                outln!("             to do: {fix}");
            }
        }
    }
    for (i, why) in &report.not_counted {
        outln!("  not counted: evidence #{i}: {why}");
    }
    outln!(
        "signed report: {} (evidence #{index}); check it with: aigis report verify {} --key project.vkey",
        path.display(),
        path.display()
    );
    if let Some(html) = &args.html {
        outln!("html: {}", html.display());
    }
    Ok(())
}

/// Records a made report as `compliance-report` evidence about its signed bytes.
pub(crate) fn record(
    project: &aigis_ledger::Project,
    key: &aigis_crypto::SigningKey,
    report: &aigis_report::Report,
    signed: &[u8],
) -> Result<u64> {
    Ok(project.record(
        key,
        vec![(
            format!("report:{}", report.framework.id),
            aigis_core::Digest::of(signed),
        )],
        &ComplianceReport {
            framework: report.framework.id.clone(),
            framework_version: report.framework.version.clone(),
            mapping: report.framework.mapping_sha256.clone(),
            checkpoint_size: report.checkpoint_size,
            met: report.summary.met,
            partial: report.summary.partial,
            missing: report.summary.missing,
            cited: report.entries.iter().map(|e| e.index).collect(),
            tool: Tool::current(),
        },
    )?)
}

fn verify(cli: &Cli, args: &ReportVerifyArgs) -> Result<ExitStatus> {
    let bytes = std::fs::read(&args.report)
        .with_context(|| format!("reading `{}`", args.report.display()))?;
    let keys = args
        .keys
        .iter()
        .map(|k| context::verifier_key_arg(k))
        .collect::<Result<Vec<_>>>()?;
    let mut v = aigis_report::verify(&bytes, &keys)
        .with_context(|| format!("`{}`", args.report.display()))?;
    if args.ledger
        && let Some(report) = &v.report
    {
        let project = context::project(cli)?;
        let found = aigis_report::compliance::differences_from_ledger(report, &project)?;
        v.problems.extend(found);
        v.ok = v.problems.is_empty();
    }
    if cli.json {
        let mut j = serde_json::to_value(&v)?;
        if let (Some(o), Some(r)) = (j.as_object_mut(), &v.report) {
            o.insert("summary".into(), serde_json::to_value(r.summary)?);
            o.insert("ledger_checked".into(), json!(args.ledger));
        }
        output::json(&j)?;
        return Ok(ExitStatus::passed(v.ok));
    }
    if v.ok {
        let r = v.report.as_ref();
        outln!(
            "ok: {} report signed by {}, bound to the checkpoint of {} entries; {} cited entries are in its tree and signed, and {} controls' statuses follow from them{}",
            v.framework.as_deref().unwrap_or("-"),
            v.signed_by.as_deref().unwrap_or("-"),
            v.checkpoint_size.unwrap_or(0),
            v.entries_checked,
            v.controls_checked,
            if args.ledger {
                "; the project's ledger gives the same newest entries"
            } else {
                ""
            }
        );
        if let Some(r) = r {
            outln!(
                "it says: {} met, {} partial, {} missing",
                r.summary.met,
                r.summary.partial,
                r.summary.missing
            );
        }
    } else {
        outln!("FAILED: the report does not check");
        for p in &v.problems {
            outln!("  {p}");
        }
    }
    Ok(ExitStatus::passed(v.ok))
}

fn attest(cli: &Cli, args: &ReportAttestArgs) -> Result<()> {
    if args.statement.trim().is_empty() {
        anyhow::bail!("--statement is empty: say what is in place");
    }
    let project = context::project(cli)?;
    let key = context::signing_key(&project)?;
    let mut documents = Vec::new();
    let mut subjects = Vec::new();
    for d in &args.document {
        let digest = aigis_crypto::sha256_file(d)
            .with_context(|| format!("reading the document `{}`", d.display()))?;
        subjects.push((format!("document:{}", d.display()), digest));
        documents.push(PathDigest {
            path: d.clone(),
            sha256: digest.hex(),
        });
    }
    if subjects.is_empty() {
        subjects.push((
            "statement".to_owned(),
            aigis_core::Digest::of(args.statement.as_bytes()),
        ));
    }
    let index = project.record(
        &key,
        subjects,
        &ControlStatement {
            framework: args.framework.clone(),
            control: args.control.clone(),
            statement: args.statement.clone(),
            documents,
            tool: Tool::current(),
        },
    )?;
    if cli.json {
        return output::json(
            &json!({"evidence": index, "framework": args.framework, "control": args.control}),
        );
    }
    outln!(
        "recorded the statement for {} `{}` as evidence #{index}",
        args.framework,
        args.control
    );
    Ok(())
}
