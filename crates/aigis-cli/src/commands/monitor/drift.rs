//! `aigis monitor drift REF CURRENT`: drift per feature between two tables.

use std::path::Path;

use aigis_evidence::{DriftFeature, MonitorDrift, Tool};
use aigis_monitor::drift::{self, Feature, Options, Report, Status, Verdict};
use anyhow::{Context as _, Result};

use crate::cli::{Cli, MonitorDriftArgs};
use crate::commands::ExitStatus;
use crate::commands::data::scan::read_options;
use crate::{context, output};

pub(crate) fn drift(cli: &Cli, args: &MonitorDriftArgs) -> Result<ExitStatus> {
    let (format, read) = read_options(&args.read)?;
    let options = Options {
        alpha: args.alpha,
        drift_share: args.drift_share,
        psi_bins: args.psi_bins,
        columns: args.columns.clone(),
        format,
        read,
    };
    output::note(cli, "reading both tables and testing each feature…");
    // A `.json` reference is a profile (`aigis data profile`); JSON Lines tables are
    // `.jsonl` or `.ndjson`.
    let is_profile = args
        .reference
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"));
    let project = context::project_if_any(cli)?;
    let profile_evidence = match (&project, is_profile) {
        (Some(project), true) => {
            recorded_profile(project, &args.reference, args.unrecorded_profile)?
        }
        _ => None,
    };
    let npy = |p: &Path| p.extension().is_some_and(|e| e.eq_ignore_ascii_case("npy"));
    let stream = args.stream || npy(&args.reference) || npy(&args.current);
    if stream && is_profile {
        return Err(crate::hinted(
            format!(
                "--stream compares with the reference table, not its profile `{}`",
                args.reference.display()
            ),
            "a profile's quantile sketch is too coarse for millions of rows: give the reference table",
        ));
    }
    let report = if stream {
        aigis_monitor::stream::drift_stream(
            &args.reference,
            &args.current,
            &options,
            args.grid,
            &output::Bar::new(cli),
        )
    } else if is_profile {
        drift::drift_from_profile(&args.reference, &args.current, &options)
    } else {
        drift::drift(&args.reference, &args.current, &options)
    };
    let report = report.with_context(|| {
        format!(
            "comparing `{}` with `{}`",
            args.current.display(),
            args.reference.display()
        )
    })?;
    let evidence = match &project {
        Some(project) => Some(record(project, &args.reference, &args.current, &report)?),
        None => None,
    };
    if cli.json {
        let mut value = serde_json::to_value(&report)?;
        output::insert(&mut value, "evidence", evidence);
        output::insert(&mut value, "profile_evidence", profile_evidence);
        output::json(&value)?;
    } else {
        print_text(&report);
        if let Some(index) = profile_evidence {
            output::note(
                cli,
                &format!("the profile is the project's evidence #{index}"),
            );
        }
        if let Some(index) = evidence {
            output::note(cli, &format!("recorded as evidence #{index}"));
        }
    }
    Ok(ExitStatus::passed(report.verdict == Verdict::NoDrift))
}

/// The newest `data-profile` evidence in `project`'s ledger whose subject is the profile
/// file as it is now. None found is an error, unless `unrecorded` (then `None`).
fn recorded_profile(
    project: &aigis_ledger::Project,
    profile: &Path,
    unrecorded: bool,
) -> Result<Option<u64>> {
    let digest = aigis_crypto::sha256_file(profile)?;
    let query = aigis_ledger::Query {
        subject: Some(digest),
        predicate_type: Some(
            <aigis_evidence::DataProfile as aigis_evidence::Predicate>::TYPE.to_owned(),
        ),
        limit: Some(1),
        newest_first: true,
        ..aigis_ledger::Query::default()
    };
    let found = project.open_ledger()?.store().query(&query)?;
    match found.first() {
        Some(entry) => Ok(Some(entry.index)),
        None if unrecorded => Ok(None),
        None => Err(crate::hinted(
            format!(
                "the profile `{}` ({digest}) is not `data-profile` evidence in this project's ledger: it was made elsewhere, or edited since",
                profile.display()
            ),
            "make it here with `aigis data profile`, or pass --unrecorded-profile to compare against it anyway",
        )),
    }
}

/// The comparison as `monitor-drift` evidence in `project`'s ledger: the two tables'
/// digests and every feature's statistics (never a value of the data). Its index.
pub(crate) fn record(
    project: &aigis_ledger::Project,
    reference: &Path,
    current: &Path,
    report: &Report,
) -> Result<u64> {
    let subject = |role: &str, path: &Path| -> Result<(String, aigis_core::Digest)> {
        Ok((
            format!("{role}:{}", path.display()),
            aigis_crypto::sha256_file(path)?,
        ))
    };
    let predicate = MonitorDrift {
        reference_rows: report.reference.rows,
        current_rows: report.current.rows,
        alpha: report.alpha,
        drift_share: report.drift_share,
        verdict: context::as_json_string(&report.verdict)?,
        tested: report.tested as u64,
        drifted: report.drifted as u64,
        insufficient: report.insufficient as u64,
        features: report
            .features
            .iter()
            .map(|f| {
                Ok(DriftFeature {
                    name: f.name.clone(),
                    kind: context::as_json_string(&f.kind)?,
                    status: context::as_json_string(&f.status)?,
                    test: f.test.as_ref().map(|t| t.name().to_owned()),
                    statistic: f.test.as_ref().map(|t| t.statistic()),
                    p_value: f.p_value,
                    psi: f.psi,
                })
            })
            .collect::<Result<_>>()?,
        tool: Tool::current(),
    };
    Ok(project.record(
        &context::signing_key(project)?,
        vec![
            subject("reference", reference)?,
            subject("current", current)?,
        ],
        &predicate,
    )?)
}

fn print_text(report: &Report) {
    outln!(
        "reference: {} ({} rows)",
        report.reference.path.display(),
        report.reference.rows
    );
    outln!(
        "current:   {} ({} rows)",
        report.current.path.display(),
        report.current.rows
    );
    outln!();
    let width = report
        .features
        .iter()
        .map(|f| f.name.chars().count())
        .max()
        .unwrap_or(0)
        .clamp(7, 40);
    outln!(
        "{:<width$}  {:<11}  {:<4}  {:>9}  {:>9}  {:>7}  {:>11}  status",
        "feature",
        "kind",
        "test",
        "statistic",
        "p-value",
        "PSI",
        "Wasserstein"
    );
    for f in &report.features {
        outln!("{}", row(f, width));
    }
    outln!();
    let verdict = match report.verdict {
        Verdict::Drift => "DRIFT".to_owned(),
        Verdict::NoDrift => "no drift".to_owned(),
        Verdict::InsufficientData if report.tested == 0 => {
            "INSUFFICIENT DATA: no feature could be tested".to_owned()
        }
        Verdict::InsufficientData => format!(
            "INSUFFICIENT DATA: {} feature(s) without a verdict (nothing to test, or a sketch's error on both sides of alpha; leave them out with --columns)",
            report.insufficient
        ),
    };
    match report.share {
        Some(share) => outln!(
            "{verdict}: {} of {} features drifted ({:.1}%; the dataset drifts at {}% or more; a feature at p < {})",
            report.drifted,
            report.tested,
            share * 100.0,
            report.drift_share * 100.0,
            report.alpha,
        ),
        None => outln!("{verdict}"),
    }
}

fn row(f: &Feature, width: usize) -> String {
    let name: String = if f.name.chars().count() > width {
        f.name.chars().take(width - 1).chain(['…']).collect()
    } else {
        f.name.clone()
    };
    let kind = serde_json::to_value(f.kind)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    let num = |x: Option<f64>| x.map_or("-".to_owned(), |x| format!("{x:.4}"));
    let status = match f.status {
        Status::Drift => match &f.reason {
            Some(why) => format!("DRIFT ({why})"),
            None => "DRIFT".to_owned(),
        },
        Status::Stable => "stable".to_owned(),
        Status::InsufficientData => format!(
            "insufficient data ({})",
            f.reason.as_deref().unwrap_or("no values")
        ),
        Status::Inconclusive => format!(
            "inconclusive ({})",
            f.reason
                .as_deref()
                .unwrap_or("the sketch's error spans alpha")
        ),
        Status::NotTested => format!("not tested ({})", f.reason.as_deref().unwrap_or("")),
    };
    let (test, stat) = match &f.test {
        Some(t) => (t.name(), format!("{:.4}", t.statistic())),
        None => ("-", "-".to_owned()),
    };
    let p = f.p_value.map_or("-".to_owned(), p_value);
    let mut status = status;
    let skipped = f.current.non_finite
        + f.current.not_numbers
        + f.reference.non_finite
        + f.reference.not_numbers;
    if skipped > 0 {
        status.push_str(&format!(
            " ({skipped} NaN, infinite or non-numeric values left out)"
        ));
    }
    format!(
        "{name:<width$}  {kind:<11}  {test:<4}  {stat:>9}  {p:>9}  {:>7}  {:>11}  {status}",
        num(f.psi),
        num(f.wasserstein)
    )
}

fn p_value(p: f64) -> String {
    if p == 0.0 || p >= 1e-3 {
        format!("{p:.4}")
    } else {
        format!("{p:.2e}")
    }
}
