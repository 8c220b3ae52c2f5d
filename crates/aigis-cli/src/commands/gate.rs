//! `aigis gate`: asks the promotion gate's policy about a version, records nothing; and
//! the rendering of every gate decision (`model promote` and `model rollback` print theirs
//! here too).

use aigis_registry::policy::{DEFAULT_POLICY, SCHEMA};
use aigis_registry::{Decision, GatePolicy, Workflow};
use anyhow::{Context as _, Result};
use serde_json::json;

use crate::cli::{Cli, GateArgs};
use crate::commands::ExitStatus;
use crate::{context, output};

pub(crate) fn run(cli: &Cli, args: &GateArgs) -> Result<ExitStatus> {
    if args.schema {
        out!("{SCHEMA}");
        return Ok(ExitStatus::Success);
    }
    if args.default_policy {
        out!("{DEFAULT_POLICY}");
        return Ok(ExitStatus::Success);
    }
    let policy = args.policy.as_deref().map(GatePolicy::load).transpose()?;
    let (Some(name), Some(version)) = (&args.name, args.version) else {
        // clap requires both unless --schema or --default-policy.
        anyhow::bail!("name the model and the version: aigis gate NAME VERSION");
    };
    let project = context::project(cli)?;
    let key = context::signing_key(&project)?;
    let scanner = context::scanner(Some(&project))?;
    let also_trust = super::model::sign::pem_keys(&args.keys)?;
    let bar = output::Bar::new(cli);
    let mut flow = Workflow::new(&project, &key, &scanner, &bar).also_trust(&also_trust);
    if let Some(p) = &policy {
        flow = flow.with_policy(p);
    }
    let d = flow
        .ask(name, version, &args.stage)
        .with_context(|| format!("asking the gate about {name} version {version}"))?;
    report(cli, &d)
}

/// `evidence #3, 2 days old`.
fn cite(evidence: &[u64], age_days: Option<u64>) -> String {
    let list: Vec<String> = evidence.iter().map(|i| format!("#{i}")).collect();
    let mut s = match list.len() {
        0 => String::new(),
        1 => format!("evidence {}", list.join("")),
        _ => format!("evidence {}", list.join(", ")),
    };
    if let Some(age) = age_days {
        if !s.is_empty() {
            s.push_str(", ");
        }
        s.push_str(&match age {
            0 => "recorded today".to_owned(),
            1 => "1 day old".to_owned(),
            n => format!("{n} days old"),
        });
    }
    if s.is_empty() { s } else { format!(" ({s})") }
}

/// Prints a gate decision: each policy's verdict and, for a refusal, what it read, what is
/// missing and the command that records it. A refusal exits 1.
pub(crate) fn report(cli: &Cli, d: &Decision) -> Result<ExitStatus> {
    if cli.json {
        output::json(&json!({
            "name": d.name, "version": d.version, "stage": d.stage,
            "action": d.action, "from": d.from, "passed": d.passed,
            "policy": d.policy, "policies": d.verdict.policies, "errors": d.verdict.errors,
            "facts": d.facts, "not_counted": d.not_counted,
            "checks": d.checks, "evidence": d.evidence,
        }))?;
        return Ok(ExitStatus::passed(d.passed));
    }
    let fact = |attribute: &str| d.facts.iter().find(|f| f.attribute == attribute);
    let top = |path: &str| path.split('.').next().unwrap_or(path).to_owned();
    let w = d
        .verdict
        .policies
        .iter()
        .map(|p| p.policy.chars().count())
        .chain([13])
        .max()
        .unwrap_or(13);
    let pad = " ".repeat(w + 8);
    for p in &d.verdict.policies {
        let mut attributes: Vec<String> = p.reads.iter().map(|r| top(r)).collect();
        attributes.dedup();
        let present: Vec<&aigis_registry::policy::Fact> = attributes
            .iter()
            .filter_map(|a| fact(a))
            .filter(|f| !f.value.is_null())
            .collect();
        let verdict = if p.passed { "ok" } else { "FAIL" };
        if p.passed {
            let detail = if present.is_empty() && !attributes.is_empty() {
                // A forbid that reads only what is absent did not apply: say so rather
                // than repeat what it would have asked.
                format!(
                    "does not apply: no {}",
                    attributes
                        .iter()
                        .map(|a| format!("`{a}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            } else if present.is_empty() {
                p.message.clone()
            } else {
                present
                    .iter()
                    .map(|f| format!("{}{}", f.detail, cite(&f.evidence, f.age_days)))
                    .collect::<Vec<_>>()
                    .join("; ")
            };
            outln!("  {verdict:<4} {:<w$} {detail}", p.policy);
            continue;
        }
        outln!("  {verdict:<4} {:<w$} {}", p.policy, p.message);
        if let Some(e) = &p.error {
            outln!("{pad}could not be evaluated (a refusal): {e}");
        }
        for f in &present {
            outln!(
                "{pad}{}: {}{}",
                f.attribute,
                f.detail,
                cite(&f.evidence, f.age_days)
            );
        }
        for m in &p.missing {
            outln!("{pad}missing `{}`: {}", m.attribute, m.why);
            outln!("{pad}to record it: {}", m.fix);
        }
    }
    for e in &d.verdict.errors {
        outln!("  FAIL {:<w$} {e}", "decision");
    }
    for n in &d.not_counted {
        outln!("  not counted: evidence #{}: {}", n.evidence, n.why);
    }
    outln!("  policy: {} ({})", d.policy.source, d.policy.digest);
    let at = format!("{} version {}", d.name, d.version);
    match (d.action, d.passed, d.evidence) {
        ("gate", true, _) => outln!(
            "ALLOWED: {at} may move to stage `{}` (asked only: nothing recorded or moved)",
            d.stage
        ),
        ("gate", false, _) => outln!(
            "REFUSED: {at} may not move to stage `{}` (asked only: nothing recorded)",
            d.stage
        ),
        (action, true, evidence) => outln!(
            "{}: {at} is at stage `{}`{}{}",
            if action == "promote" {
                "promoted"
            } else {
                "rolled back"
            },
            d.stage,
            d.from
                .map(|f| format!(", replacing version {f}"))
                .unwrap_or_default(),
            evidence
                .map(|e| format!(" (evidence #{e})"))
                .unwrap_or_default()
        ),
        (_, false, evidence) => outln!(
            "REFUSED: {at} stays out of stage `{}`{}",
            d.stage,
            evidence
                .map(|e| format!(" (evidence #{e})"))
                .unwrap_or_default()
        ),
    }
    Ok(ExitStatus::passed(d.passed))
}
