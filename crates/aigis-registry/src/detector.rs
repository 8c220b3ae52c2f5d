//! The detector check of the promotion gate (`[model.gate.detector]`): before a version
//! serves a stage, a detector file must have been fitted and calibrated for it, as signed
//! `detector-fit` evidence recorded by `aigis detect fit --model` in the project says.
//!
//! What counts, and why:
//! - only fits signed by a project key whose `model:` subject is a file of the version:
//!   the squeeze detector's threshold is calibrated on that model's answers, and a file
//!   calibrated with another model is refused by the gateway anyway. A fit that merely
//!   names the version's file in another role (its reference, say) says nothing about it;
//! - only fits holding every detector of `detectors`, calibrated for a false-positive
//!   rate of at most `max_fpr` on at least `min_calibration_rows` clean rows, whose own
//!   record of the share of those rows flagged agrees with that rate.
//!
//! The newest fit that qualifies is cited; when none does, each one left out is named
//! with why.

use std::collections::BTreeSet;

use aigis_core::Digest;
use aigis_evidence::DetectorFit;
use aigis_ledger::project::DetectorGateConfig;

use crate::gate::{Check, signed_about};
use crate::store::VersionRecord;

const NAME: &str = "detector";

/// Reasons shown for the fits left out.
const MAX_REASONS: usize = 5;

/// The detector check for moving `record` into a stage, under `config`.
pub(crate) fn check(
    project: &aigis_ledger::Project,
    config: &DetectorGateConfig,
    record: &VersionRecord,
) -> Check {
    match newest_qualifying(project, config, record) {
        Ok((Some((index, fit, file)), _)) => Check::pass(
            NAME,
            format!(
                "`{file}` was calibrated with this version's file: {} for {}% false positives on {} clean rows ({}% of them flagged)",
                and_list(
                    &fit.detectors
                        .iter()
                        .map(|d| d.name.as_str())
                        .collect::<Vec<_>>()
                ),
                percent(fit.fpr),
                fit.calibration_rows,
                percent(fit.calibration_flagged),
            ),
            Some(index),
        ),
        Ok((None, left_out)) => {
            let why = if left_out.is_empty() {
                String::new()
            } else {
                let shown: Vec<&str> = left_out
                    .iter()
                    .take(MAX_REASONS)
                    .map(String::as_str)
                    .collect();
                format!(
                    "; fits left out: {}{}",
                    shown.join("; "),
                    if left_out.len() > MAX_REASONS {
                        format!("; and {} more", left_out.len() - MAX_REASONS)
                    } else {
                        String::new()
                    }
                )
            };
            Check::fail(
                NAME,
                format!(
                    "no detector file calibrated with this version's file ({} at {}% false positives at most, on {} clean rows or more){why} (fit one in the project: `aigis detect fit TRAIN --model <the version's file> --calibration CLEAN --fpr {}`)",
                    and_list(
                        &config
                            .detectors
                            .iter()
                            .map(String::as_str)
                            .collect::<Vec<_>>()
                    ),
                    percent(config.max_fpr),
                    config.min_calibration_rows,
                    config.max_fpr,
                ),
                None,
            )
        }
        Err(e) => Check::fail(
            NAME,
            format!("the detector evidence cannot be read: {e}"),
            None,
        ),
    }
}

fn percent(share: f64) -> String {
    let s = format!("{:.2}", share * 100.0);
    s.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// A qualifying fit (its index, its statement's predicate, the detector file's subject
/// name) if any, and why the others were left out.
type Found = (Option<(u64, DetectorFit, String)>, Vec<String>);

fn newest_qualifying(
    project: &aigis_ledger::Project,
    config: &DetectorGateConfig,
    record: &VersionRecord,
) -> Result<Found, String> {
    let files: BTreeSet<Digest> = record.files.iter().map(|f| f.sha256).collect();
    let mut best: Option<(u64, DetectorFit, String)> = None;
    let mut left_out = Vec::new();
    for (index, read) in signed_about::<DetectorFit>(project, &files)? {
        let (statement, fit) = match read {
            Ok(r) => r,
            Err(e) => {
                left_out.push(e);
                continue;
            }
        };
        let calibrated_with_it = statement.subject.iter().any(|s| {
            s.name.as_deref().is_some_and(|n| n.starts_with("model:"))
                && s.digest
                    .get("sha256")
                    .and_then(|d| d.parse::<Digest>().ok())
                    .is_some_and(|d| files.contains(&d))
        });
        if !calibrated_with_it {
            left_out.push(format!(
                "#{index} names this version's file, but not as the model it was calibrated with"
            ));
            continue;
        }
        let file = statement
            .subject
            .iter()
            .find_map(|s| s.name.as_deref()?.strip_prefix("detector:"))
            .unwrap_or("a detector file")
            .to_owned();
        let has: BTreeSet<&str> = fit.detectors.iter().map(|d| d.name.as_str()).collect();
        let lacking: Vec<&str> = config
            .detectors
            .iter()
            .map(String::as_str)
            .filter(|d| !has.contains(d))
            .collect();
        let problem = if !lacking.is_empty() {
            Some(format!("it has no {}", lacking.join(" or ")))
        } else if !(fit.fpr.is_finite() && fit.fpr <= config.max_fpr) {
            Some(format!(
                "it was calibrated for {}% false positives",
                percent(fit.fpr)
            ))
        } else if fit.calibration_rows < config.min_calibration_rows {
            Some(format!(
                "its thresholds were set on {} clean rows",
                fit.calibration_rows
            ))
        } else if !(fit.calibration_flagged.is_finite() && fit.calibration_flagged <= fit.fpr)
            || fit
                .detectors
                .iter()
                .any(|d| !d.threshold.is_finite() || d.calibration_flagged > fit.fpr)
        {
            Some("its record of the calibration does not add up".to_owned())
        } else {
            None
        };
        match problem {
            Some(p) => left_out.push(format!("#{index} (`{file}`): {p}")),
            None => {
                if best.as_ref().is_none_or(|(b, _, _)| *b < index) {
                    best = Some((index, fit, file));
                }
            }
        }
    }
    Ok((best, left_out))
}

/// `a`, `a and b`, `a, b and c`.
fn and_list(items: &[&str]) -> String {
    match items.split_last() {
        None => String::new(),
        Some((last, [])) => (*last).to_owned(),
        Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
    }
}
