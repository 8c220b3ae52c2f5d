//! `aigis model scan PATH...`: what each model file would do when loaded.

use std::path::PathBuf;

use aigis_core::Finding;
// What to do about a pickle import the built-in policy does not know.
use aigis_registry::ALLOWLIST_HINT;
use aigis_scan::{Allowlist, FileReport, Scanner, Verdict};
use anyhow::{Context as _, Result};
use serde_json::json;

use crate::cli::{Cli, ModelScanArgs};
use crate::commands::ExitStatus;
use crate::report::sarif::{self, Placed};
use crate::{context, output};

/// A rule's description for SARIF, as the scanner declares it.
fn describe(rule: &str) -> &'static str {
    aigis_scan::Rule::find(rule).map_or("A model scan finding.", |r| r.description)
}

/// The scanner's evidence as findings, for SARIF.
fn findings(reports: &[FileReport]) -> Vec<(Finding, String)> {
    reports
        .iter()
        .flat_map(|r| {
            r.findings.iter().map(move |e| {
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

/// Scans model files and folders with the scanner given (the project's allowlist:
/// [`context::scanner`]).
pub(crate) fn scan_paths(
    cli: &Cli,
    paths: &[PathBuf],
    scanner: &Scanner,
) -> Result<Vec<FileReport>> {
    let mut reports: Vec<FileReport> = Vec::new();
    let bar = output::progress(cli, paths.len() as u64, "scanning");
    for path in paths {
        let found = scanner
            .scan_path(path)
            .with_context(|| format!("scanning `{}`", path.display()))?;
        reports.extend(found);
        bar.inc(1);
    }
    bar.finish_and_clear();
    // A model's data files given as paths of their own (`model scan model.onnx weights.bin`).
    aigis_scan::claim_external_data(&mut reports);
    Ok(reports)
}

/// Records a model scan as evidence (`aigis_registry::record_model_scan`): one subject
/// per file (its path and digest), each file's verdict and findings in the predicate.
/// `None` when there was no file.
pub(crate) fn record_scan(
    project: &aigis_ledger::Project,
    reports: &[FileReport],
    fail_on: &str,
    passed: bool,
    allowlist: &Allowlist,
) -> Result<Option<u64>> {
    let mut subjects = Vec::with_capacity(reports.len());
    for r in reports {
        subjects.push((
            r.path.display().to_string(),
            aigis_crypto::sha256_file(&r.path)?,
        ));
    }
    if subjects.is_empty() {
        return Ok(None);
    }
    let key = context::signing_key(project)?;
    Ok(aigis_registry::record_model_scan(
        project, &key, reports, subjects, fail_on, passed, allowlist,
    )?)
}

/// The allowlist in force, as the scan predicate and `--json` record it.
pub(crate) fn allowlist_json(allowlist: &Allowlist) -> serde_json::Value {
    json!({
        "digest": allowlist.digest(),
        "entries": allowlist.entries().collect::<Vec<_>>(),
    })
}

pub(crate) fn scan(cli: &Cli, args: &ModelScanArgs) -> Result<ExitStatus> {
    let fail_on = args.fail_on.verdict();
    // Inside a project its allowlist applies and the scan is recorded; outside one the
    // scan runs on the built-in policy alone.
    let project = context::project_if_any(cli)?;
    let scanner = context::scanner_with(project.as_ref(), &args.known_bad)?;
    let reports = scan_paths(cli, &args.paths, &scanner)?;
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

    let index = match &project {
        Some(project) => record_scan(
            project,
            &reports,
            &args.fail_on.to_string(),
            passed,
            scanner.allowlist(),
        )?,
        None => None,
    };

    if cli.json {
        output::json(&json!({
            "files": reports,
            "allowlist": allowlist_json(scanner.allowlist()),
            "fail_on": args.fail_on.to_string(),
            "passed": passed,
            "evidence": index,
        }))?;
    } else {
        for r in &reports {
            outln!(
                "{:<12} {} ({}, {} bytes)",
                r.verdict.as_str(),
                r.path.display(),
                r.format,
                r.bytes
            );
            for e in &r.findings {
                let at = match (&e.location.member, e.location.offset) {
                    (Some(m), Some(o)) => format!(" [{m} @ {o}]"),
                    (Some(m), None) => format!(" [{m}]"),
                    (None, Some(o)) => format!(" [@ {o}]"),
                    (None, None) => String::new(),
                };
                outln!(
                    "  {:<12} {:<28} {}{at}",
                    e.verdict.as_str(),
                    e.rule,
                    e.message
                );
            }
        }
        let count = |v: Verdict| reports.iter().filter(|r| r.verdict == v).count();
        outln!(
            "\n{} file(s): {} safe, {} suspicious, {} inconclusive, {} dangerous",
            reports.len(),
            count(Verdict::Safe),
            count(Verdict::Suspicious),
            count(Verdict::Inconclusive),
            count(Verdict::Dangerous)
        );
        if passed {
            outln!("result: passed (--fail-on {})", args.fail_on);
        } else {
            outln!(
                "result: FAILED, {} file(s) at or above {} (--fail-on)",
                failing.len(),
                args.fail_on
            );
            let unknown_import = failing.iter().any(|r| {
                r.findings
                    .iter()
                    .any(|e| e.rule == "pickle.global.suspicious")
            });
            if unknown_import {
                output::note(cli, ALLOWLIST_HINT);
            }
        }
        if let Some(i) = index {
            outln!("recorded as evidence #{i} in the ledger");
        }
    }
    Ok(ExitStatus::passed(passed))
}

#[cfg(test)]
mod tests {
    use super::describe;

    #[test]
    fn tensorflow_checkpoint_and_asset_rules_have_their_own_descriptions() {
        let generic = [
            describe("savedmodel.malformed"),
            describe("no.such.rule"),
            describe("format.unknown"),
        ];
        for rule in [
            "checkpoint.index",
            "checkpoint.data_file",
            "checkpoint.malformed",
            "checkpoint.compressed",
            "checkpoint.limit",
            "checkpoint.tensor_range",
            "checkpoint.shard_missing",
            "checkpoint.shard_escape",
            "checkpoint.variant",
            "savedmodel.asset",
            "savedmodel.asset_file",
            "savedmodel.asset_missing",
            "savedmodel.asset_escape",
            "savedmodel.asset_link",
        ] {
            assert!(!generic.contains(&describe(rule)), "{rule}");
        }
        assert!(describe("checkpoint.shard_escape").contains("symbolic link"));
        assert!(describe("savedmodel.asset_escape").contains("leaves the model's folder"));
    }
}
