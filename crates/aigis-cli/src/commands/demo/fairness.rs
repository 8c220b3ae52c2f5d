//! The fairness part of `aigis demo`: a loan desk's decisions with a disparity planted
//! against one age band, measured per group as `aigis fairness` measures them, the
//! disparate-impact threshold (the four-fifths rule) caught, recorded as `fairness`
//! evidence.

use std::fmt::Write as _;
use std::path::Path;

use aigis_ledger::Project;
use aigis_redteam::fairness::{self, Bound, Metric, Options, Threshold};
use anyhow::{Context as _, Result};
use serde_json::json;

use super::Log;
use crate::cli::Cli;

/// Applicants per age band.
const PER_BAND: usize = 300;
/// The share of the oldest band's creditworthy applicants the desk declines (planted).
const PLANTED: f64 = 0.45;

pub(crate) fn run(cli: &Cli, log: &mut Log<'_>, dir: &Path, project: &Project) -> Result<()> {
    // A deterministic draw (xorshift), so the demo prints the same table every time.
    let mut state: u64 = 0x2545_F491_4F6C_DD1D;
    let mut uniform = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    let mut csv = String::from("age_band,repaid,approved\n");
    let bands = ["under_25", "25_to_60", "over_60"];
    for band in bands.iter().cycle().take(3 * PER_BAND) {
        let repaid = u8::from(uniform() < 0.45);
        // The desk approves the applicants who repay, and a few who do not; in the
        // oldest band it declines a share of those who would repay.
        let mut approved = if repaid == 1 {
            1
        } else {
            u8::from(uniform() < 0.06)
        };
        if *band == "over_60" && repaid == 1 && uniform() < PLANTED {
            approved = 0;
        }
        writeln!(csv, "{band},{repaid},{approved}")?;
    }
    let folder = dir.join("fairness");
    std::fs::create_dir_all(&folder).context("creating fairness/")?;
    let data = folder.join("loan-decisions.csv");
    std::fs::write(&data, csv).context("writing fairness/loan-decisions.csv")?;

    // No intervals: the table stays within a terminal's width (`aigis fairness` gives
    // them by default).
    let options = Options {
        bootstrap: 0,
        ..Options::new("repaid", "approved", vec!["age_band".into()])
    };
    let report = fairness::assess(&data, &options).context("measuring the loan decisions")?;
    let thresholds = [Threshold {
        metric: Metric::DisparateImpact,
        bound: Bound::AtLeast,
        value: 0.8,
    }];
    let breaches = fairness::check(&report, &thresholds);
    let index =
        crate::commands::fairness::record(project, &data, None, &report, &thresholds, &breaches)?;
    let impact = report
        .analyses
        .first()
        .and_then(|a| a.disparities.get(Metric::DisparateImpact).value);
    let caught = breaches.len() == 1 && impact.is_some_and(|v| v < 0.8);
    log.expect(
        caught,
        "fairness",
        format!(
            "evidence #{index}: a loan desk's decisions by age band, with {:.0} % of the over-60s who repay declined (planted): disparate impact {} below the four-fifths rule, caught",
            100.0 * PLANTED,
            impact.map_or_else(|| "-".into(), |v| format!("{v:.2}"))
        ),
        json!({"index": index, "disparate_impact": impact, "breaches": breaches.len()}),
    )?;
    if !cli.json {
        crate::commands::fairness::print_text(&report, &thresholds, &breaches);
    }
    Ok(())
}
