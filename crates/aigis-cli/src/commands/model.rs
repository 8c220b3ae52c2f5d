//! `aigis model scan PATH...`: what each model file would do when loaded.

use aigis_core::Finding;
use aigis_model::{FileReport, Verdict};
use anyhow::{Context as _, Result};
use serde_json::json;

use crate::cli::{Cli, ModelCommand, ModelScanArgs};
use crate::report::sarif::{self, Placed};
use crate::{CheckFailed, context, output};

/// The evidence a model scan writes.
pub const SCAN_PREDICATE: &str = "https://aigis.dev/predicate/model-scan/v1";

pub fn run(cli: &Cli, cmd: &ModelCommand) -> Result<()> {
    match cmd {
        ModelCommand::Scan(args) => scan(cli, args),
        ModelCommand::Watermark(cmd) => super::model_watermark::run(cli, cmd),
    }
}

fn parse_verdict(s: &str) -> Result<Option<Verdict>> {
    Ok(match s.to_ascii_lowercase().as_str() {
        "none" => None,
        "suspicious" => Some(Verdict::Suspicious),
        "inconclusive" => Some(Verdict::Inconclusive),
        "dangerous" => Some(Verdict::Dangerous),
        other => anyhow::bail!(
            "--fail-on: unknown verdict `{other}` (expected suspicious, inconclusive, dangerous or none)"
        ),
    })
}

fn describe(rule: &str) -> &'static str {
    match rule {
        r if r.starts_with("pickle.global") => {
            "A pickle imports or calls something outside the allowlist."
        }
        r if r.starts_with("pickle.") => "A pickle that cannot be fully analysed.",
        r if r.starts_with("zip.") => "A problem in a zip archive's structure.",
        r if r.starts_with("safetensors.") => "An invalid safetensors header.",
        r if r.starts_with("gguf.") => "An invalid GGUF header or a suspicious chat template.",
        r if r.starts_with("format.") => "The file's format, extension or layout.",
        _ => "A model scan finding.",
    }
}

/// The scanner's evidence as findings, for SARIF.
fn findings(reports: &[FileReport]) -> Vec<(Finding, String)> {
    reports
        .iter()
        .flat_map(|r| {
            r.evidence.iter().map(move |e| {
                let mut f = Finding::new(e.rule.clone(), e.verdict.severity(), e.message.clone())
                    .in_file(r.path.display().to_string());
                f.offset = e.location.offset;
                let logical = e
                    .location
                    .member
                    .clone()
                    .unwrap_or_else(|| r.path.display().to_string());
                (f, logical)
            })
        })
        .collect()
}

fn scan(cli: &Cli, args: &ModelScanArgs) -> Result<()> {
    let fail_on = parse_verdict(&args.fail_on)?;
    let limits = aigis_model::Limits::default();
    let pickle_limits = aigis_model::pickle::Limits::default();
    let pickle = aigis_model::pickle_scanner(&pickle_limits);
    let mut reports: Vec<FileReport> = Vec::new();
    let bar = output::progress(cli, args.paths.len() as u64, "scanning");
    for path in &args.paths {
        let found = aigis_model::scan_path(path, &pickle, &limits)
            .with_context(|| format!("scanning `{}`", path.display()))?;
        reports.extend(found);
        bar.inc(1);
    }
    bar.finish_and_clear();
    let failing: Vec<&FileReport> = reports
        .iter()
        .filter(|r| fail_on.is_some_and(|f| r.verdict >= f))
        .collect();
    let passed = failing.is_empty();

    if let Some(path) = &args.sarif {
        let all = findings(&reports);
        let placed: Vec<Placed<'_>> = all
            .iter()
            .map(|(f, logical)| Placed {
                finding: f,
                start_line: None,
                logical: logical.clone(),
            })
            .collect();
        let props = json!({
            "files": reports.iter().map(|r| json!({"path": r.path, "format": r.format, "verdict": r.verdict})).collect::<Vec<_>>(),
        });
        context::write_output(path, &sarif::document(&placed, &describe, props)?)?;
    }

    let index = match context::project(cli) {
        Ok(project) => {
            let mut subjects = Vec::with_capacity(reports.len());
            for r in &reports {
                subjects.push((
                    r.path.display().to_string(),
                    aigis_crypto::sha256_file(&r.path)?,
                ));
            }
            let predicate = json!({
                "files": reports.iter().map(|r| json!({
                    "path": r.path, "format": r.format, "verdict": r.verdict, "bytes": r.bytes,
                    "evidence": r.evidence,
                })).collect::<Vec<_>>(),
                "fail_on": args.fail_on,
                "passed": passed,
                "tool": format!("aigis {}", env!("CARGO_PKG_VERSION")),
            });
            if subjects.is_empty() {
                None
            } else {
                Some(super::scan::record(
                    &project,
                    subjects,
                    SCAN_PREDICATE,
                    predicate,
                )?)
            }
        }
        Err(e) => {
            output::note(cli, &format!("note: not recorded in a ledger ({e})"));
            None
        }
    };

    if cli.json {
        output::json(&json!({
            "files": reports,
            "fail_on": args.fail_on,
            "passed": passed,
            "evidence": index,
        }))?;
    } else {
        for r in &reports {
            println!(
                "{:<12} {} ({}, {} bytes)",
                r.verdict.as_str(),
                r.path.display(),
                r.format,
                r.bytes
            );
            for e in &r.evidence {
                let at = match (&e.location.member, e.location.offset) {
                    (Some(m), Some(o)) => format!(" [{m} @ {o}]"),
                    (Some(m), None) => format!(" [{m}]"),
                    (None, Some(o)) => format!(" [@ {o}]"),
                    (None, None) => String::new(),
                };
                println!(
                    "  {:<12} {:<28} {}{at}",
                    e.verdict.as_str(),
                    e.rule,
                    e.message
                );
            }
        }
        let count = |v: Verdict| reports.iter().filter(|r| r.verdict == v).count();
        println!(
            "\n{} file(s): {} safe, {} suspicious, {} inconclusive, {} dangerous",
            reports.len(),
            count(Verdict::Safe),
            count(Verdict::Suspicious),
            count(Verdict::Inconclusive),
            count(Verdict::Dangerous)
        );
        if passed {
            println!("result: passed (--fail-on {})", args.fail_on);
        } else {
            println!(
                "result: FAILED, {} file(s) at or above {} (--fail-on)",
                failing.len(),
                args.fail_on
            );
        }
        if let Some(i) = index {
            println!("recorded as evidence #{i} in the ledger");
        }
    }
    if !passed {
        return Err(CheckFailed(String::new()).into());
    }
    Ok(())
}
