//! The compliance report in `aigis demo`: the EU AI Act's high-risk obligations judged
//! from everything the demo recorded, signed, bound to a checkpoint, and checked offline
//! with the verifier key alone, as an auditor would.

use std::path::Path;

use aigis_ledger::Project;
use anyhow::{Context as _, Result};
use serde_json::json;

use super::Log;

pub(crate) fn run(log: &mut Log<'_>, dir: &Path, project: &Project) -> Result<()> {
    let key = crate::context::signing_key(project)?;
    let (framework, mapping) = aigis_report::Framework::built_in("eu-ai-act")?;
    let report = aigis_report::compliance::build(
        project,
        &key,
        &framework,
        mapping,
        aigis_ledger::now_ms(),
    )?;
    let signed = aigis_report::sign(&report, &key)?;
    let path = dir.join("compliance-eu-ai-act.json");
    std::fs::write(&path, &signed).context("writing the signed report")?;
    let html = dir.join("compliance-eu-ai-act.html");
    std::fs::write(&html, aigis_report::html::render(&report))
        .context("writing the report page")?;
    let index = crate::commands::report::record(project, &key, &report, &signed)?;
    let s = report.summary;
    log.step(
        "report compliance",
        format!(
            "EU AI Act (Articles 9-15, 17) judged from the ledger's signed evidence: {} met, {} partial, {} missing; signed and bound to the checkpoint of {} entries, citing {} of them ({}; evidence #{index})",
            s.met,
            s.partial,
            s.missing,
            report.checkpoint_size,
            report.entries.len(),
            html.display()
        ),
        json!({"summary": s, "file": path, "html": html}),
    );
    // The auditor's side: the file and the verifier key, nothing else.
    let vkey = project.verifier_key()?;
    let bytes = std::fs::read(&path).context("reading the signed report")?;
    let v = aigis_report::verify(&bytes, std::slice::from_ref(&vkey))?;
    log.expect(
        v.ok,
        "report verify",
        format!(
            "aigis report verify: ok offline with the verifier key alone ({} cited entries in the checkpoint's tree and signed; {} controls' statuses follow from them)",
            v.entries_checked, v.controls_checked
        ),
        json!({"problems": v.problems}),
    )?;
    // A copy whose payload was edited (one control said met) no longer verifies.
    let mut edited = aigis_crypto::dsse::Envelope::from_json(&bytes)?;
    let mut lying = report.clone();
    if let Some(c) = lying.controls.first_mut() {
        c.status = aigis_report::Status::Met;
    }
    edited.payload = serde_json::to_vec(&lying)?;
    let v = aigis_report::verify(&edited.to_json(), std::slice::from_ref(&vkey))?;
    log.expect(
        !v.ok,
        "report verify",
        format!(
            "a copy of the report edited to say `{}` is met: REFUSED ({})",
            report.controls.first().map_or("-", |c| c.id.as_str()),
            v.problems.first().map_or("", String::as_str)
        ),
        json!({"problems": v.problems}),
    )
}
