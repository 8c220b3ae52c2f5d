//! `aigis fairness DATA --label COL --prediction COL --sensitive COL...`: a classifier's
//! decisions per group, the disparities between groups, thresholds, evidence.

use std::path::Path;

use aigis_evidence::{
    Fairness, FairnessAnalysis, FairnessBootstrap, FairnessBreach, FairnessDisparity,
    FairnessGroup, FairnessThreshold, Tool,
};
use aigis_redteam::fairness::{self, Bound, Breach, Estimate, Metric, Options, Rates, Report};
use anyhow::{Context as _, Result};

use crate::cli::{Cli, FairnessArgs};
use crate::commands::ExitStatus;
use crate::commands::data::scan::read_options;
use crate::report::fairness::number as estimate;
use crate::{context, output};

/// The thresholds of the project's `[fairness]` table.
pub(crate) fn project_thresholds(
    project: Option<&aigis_ledger::Project>,
) -> Result<Vec<fairness::Threshold>> {
    let file = crate::commands::ProjectThresholds::of(project, "fairness")?;
    let mut out = Vec::new();
    if let Some(project) = project {
        for (list, bound, key) in [
            (&file.fail_over, Bound::AtMost, "fail_over"),
            (&file.fail_under, Bound::AtLeast, "fail_under"),
        ] {
            let origin = crate::commands::ProjectThresholds::origin(project, "fairness", key);
            for t in list {
                out.push(threshold(t, bound, &origin)?);
            }
        }
    }
    Ok(out)
}

pub(crate) fn run(cli: &Cli, args: &FairnessArgs) -> Result<ExitStatus> {
    let (format, read) = read_options(&args.read)?;
    let project = context::project_if_any(cli)?;
    // The project's thresholds, then the command line's (which replace the project's on
    // the same metric and bound).
    let mut thresholds = project_thresholds(project.as_ref())?;
    for (list, bound, flag) in [
        (&args.fail_over, Bound::AtMost, "--fail-over"),
        (&args.fail_under, Bound::AtLeast, "--fail-under"),
    ] {
        for t in list {
            let t = threshold(t, bound, flag)?;
            thresholds.retain(|o| !(o.metric == t.metric && o.bound == t.bound));
            thresholds.push(t);
        }
    }
    let options = Options {
        score: args.score.clone(),
        positive: args.positive.clone(),
        min_group: args.min_group,
        bootstrap: args.bootstrap,
        confidence: args.confidence,
        seed: args.seed,
        calibration_bins: args.calibration_bins,
        format,
        read,
        ..Options::new(&args.label, &args.prediction, args.sensitive.clone())
    };
    output::note(cli, "reading the decisions and measuring each group…");
    let report = fairness::assess(&args.data, &options)
        .with_context(|| format!("measuring the fairness of `{}`", args.data.display()))?;
    let breaches = fairness::check(&report, &thresholds);
    let evidence = match &project {
        Some(project) => Some(record(
            project,
            &args.data,
            args.model.as_deref(),
            &report,
            &thresholds,
            &breaches,
        )?),
        None => None,
    };
    if let Some(path) = &args.html {
        context::write_output(
            path,
            crate::report::fairness::page(&report, &thresholds, &breaches).as_bytes(),
        )?;
    }
    if let Some(path) = &args.sarif {
        context::write_output(
            path,
            &crate::report::fairness::sarif(&args.data, &report, &breaches)?,
        )?;
    }
    if cli.json {
        let mut value = serde_json::to_value(&report)?;
        output::insert(&mut value, "thresholds", serde_json::to_value(&thresholds)?);
        output::insert(&mut value, "breaches", serde_json::to_value(&breaches)?);
        output::insert(&mut value, "passed", breaches.is_empty());
        output::insert(&mut value, "evidence", evidence);
        output::json(&value)?;
    } else {
        print_text(&report, &thresholds, &breaches);
        for w in &report.warnings {
            output::note(cli, &format!("warning: {w}"));
        }
        if let Some(index) = evidence {
            output::note(cli, &format!("recorded as evidence #{index}"));
        }
    }
    Ok(ExitStatus::passed(breaches.is_empty()))
}

/// `METRIC=VALUE`.
fn threshold(text: &str, bound: Bound, flag: &str) -> Result<fairness::Threshold> {
    let (metric, value) = crate::commands::metric_value(text, flag, "disparate-impact=0.8")?;
    let metric: Metric = metric
        .parse()
        .map_err(|e: String| anyhow::anyhow!("{flag} `{text}`: {e}"))?;
    Ok(fairness::Threshold {
        metric,
        bound,
        value,
    })
}

fn bound_name(b: Bound) -> &'static str {
    match b {
        Bound::AtMost => "at_most",
        Bound::AtLeast => "at_least",
    }
}

fn group_evidence(
    values: Vec<String>,
    r: &Rates,
    impact: Option<f64>,
    excluded: bool,
) -> FairnessGroup {
    let cal = r.calibration.as_ref();
    FairnessGroup {
        values,
        rows: r.rows,
        label_positive: r.label_positive,
        predicted_positive: r.predicted_positive,
        selection_rate: r.selection_rate.value,
        true_positive_rate: r.true_positive_rate.value,
        false_positive_rate: r.false_positive_rate.value,
        accuracy: r.accuracy.value,
        impact_ratio: impact,
        excluded,
        brier: cal.and_then(|c| c.brier.value),
        expected_calibration_error: cal.and_then(|c| c.expected_calibration_error.value),
    }
}

/// The run as `fairness` evidence in `project`'s ledger. Its index.
pub(crate) fn record(
    project: &aigis_ledger::Project,
    data: &Path,
    model: Option<&Path>,
    report: &Report,
    thresholds: &[fairness::Threshold],
    breaches: &[Breach],
) -> Result<u64> {
    let mut subjects = vec![(
        format!("data:{}", data.display()),
        aigis_crypto::sha256_file(data)?,
    )];
    if let Some(model) = model {
        subjects.push((
            format!("model:{}", model.display()),
            aigis_crypto::sha256_file(model)
                .with_context(|| format!("cannot read the model `{}`", model.display()))?,
        ));
    }
    let predicate = Fairness {
        rows: report.rows,
        label: report.label.clone(),
        prediction: report.prediction.clone(),
        score: report.score.clone(),
        positive: report.positive.clone(),
        min_group: report.min_group,
        bootstrap: report.bootstrap.as_ref().map(|b| FairnessBootstrap {
            resamples: b.resamples as u64,
            confidence: b.confidence,
            seed: b.seed,
        }),
        overall: group_evidence(Vec::new(), &report.overall, None, false),
        analyses: report
            .analyses
            .iter()
            .map(|a| FairnessAnalysis {
                sensitive: a.sensitive.clone(),
                groups: a
                    .groups
                    .iter()
                    .map(|g| {
                        group_evidence(g.values.clone(), &g.rates, g.impact_ratio.value, g.excluded)
                    })
                    .collect(),
                disparities: Metric::ALL
                    .into_iter()
                    .map(|m| {
                        let e = a.disparities.get(m);
                        FairnessDisparity {
                            metric: m.name().to_owned(),
                            value: e.value,
                            interval: e.interval,
                        }
                    })
                    .collect(),
            })
            .collect(),
        thresholds: thresholds
            .iter()
            .map(|t| FairnessThreshold {
                metric: t.metric.name().to_owned(),
                bound: bound_name(t.bound).to_owned(),
                value: t.value,
            })
            .collect(),
        breaches: breaches
            .iter()
            .map(|b| FairnessBreach {
                analysis: b.analysis.clone(),
                metric: b.metric.name().to_owned(),
                bound: bound_name(b.bound).to_owned(),
                threshold: b.threshold,
                value: b.value,
            })
            .collect(),
        passed: breaches.is_empty(),
        tool: Tool::current(),
    };
    Ok(project.record(&context::signing_key(project)?, subjects, &predicate)?)
}

pub(crate) fn print_text(report: &Report, thresholds: &[fairness::Threshold], breaches: &[Breach]) {
    outln!(
        "decisions: {} ({} rows), label `{}`, prediction `{}`, positive `{}`",
        report.path.display(),
        report.rows,
        report.label,
        report.prediction,
        report.positive
    );
    match &report.bootstrap {
        Some(b) => outln!(
            "intervals: {} % percentile bootstrap, {} resamples, seed {}",
            b.confidence * 100.0,
            b.resamples,
            b.seed
        ),
        None => outln!("intervals: none (--bootstrap 0)"),
    }
    let scored = report.score.is_some();
    let mut header = vec![
        "group".to_owned(),
        "rows".into(),
        "selection rate".into(),
        "impact ratio".into(),
        "TPR".into(),
        "FPR".into(),
        "accuracy".into(),
    ];
    if scored {
        header.extend(["Brier".into(), "ECE".into()]);
    }
    let row = |name: String, r: &Rates, impact: Option<Estimate>| {
        let mut cells = vec![
            name,
            r.rows.to_string(),
            estimate(r.selection_rate),
            impact.map_or_else(|| "-".into(), estimate),
            estimate(r.true_positive_rate),
            estimate(r.false_positive_rate),
            estimate(r.accuracy),
        ];
        if let Some(c) = &r.calibration {
            cells.extend([estimate(c.brier), estimate(c.expected_calibration_error)]);
        }
        cells
    };
    for analysis in &report.analyses {
        outln!();
        outln!("{}", analysis.name());
        let mut rows = vec![header.clone()];
        for g in &analysis.groups {
            let mut name = g.values.join(" / ");
            if g.excluded {
                name.push_str(" (excluded)");
            }
            rows.push(row(name, &g.rates, Some(g.impact_ratio)));
        }
        rows.push(row("everyone".into(), &report.overall, None));
        print_table(&rows);
        for m in Metric::ALL {
            let e = analysis.disparities.get(m);
            let verdict = thresholds
                .iter()
                .filter(|t| t.metric == m)
                .map(|t| {
                    let broken = breaches.iter().any(|b| {
                        b.analysis == analysis.name() && b.metric == m && b.bound == t.bound
                    });
                    let side = match t.bound {
                        Bound::AtMost => "≤",
                        Bound::AtLeast => "≥",
                    };
                    format!(
                        "  {} (must be {side} {})",
                        if broken { "FAIL" } else { "ok" },
                        t.value
                    )
                })
                .collect::<String>();
            outln!("  {:<32} {}{verdict}", m.name(), estimate(e));
        }
    }
    outln!();
    if thresholds.is_empty() {
        outln!("no threshold set (--fail-over, --fail-under): nothing to fail");
    } else if breaches.is_empty() {
        outln!("passed: every threshold holds in every analysis");
    } else {
        outln!("FAILED: {} threshold(s) not met", breaches.len());
        for b in breaches {
            let value = b
                .value
                .map_or_else(|| "undefined".into(), |v| format!("{v:.4}"));
            outln!(
                "  {}: {} is {value}, must be {} {}",
                b.analysis,
                b.metric,
                match b.bound {
                    Bound::AtMost => "at most",
                    Bound::AtLeast => "at least",
                },
                b.threshold
            );
        }
    }
}

/// Left-aligned columns, two spaces apart.
fn print_table(rows: &[Vec<String>]) {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|i| {
            rows.iter()
                .filter_map(|r| r.get(i))
                .map(|c| c.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    for r in rows {
        let line: Vec<String> = r
            .iter()
            .zip(&widths)
            .map(|(c, &w)| format!("{c:<w$}"))
            .collect();
        outln!("  {}", line.join("  ").trim_end());
    }
}
