//! The shadow check of the promotion gate (`[model.gate.shadow]`): the version must have
//! answered real traffic in the shadow of what it replaces, and mostly agreed with it, as
//! signed `shadow-period` evidence recorded by `aigis serve` says.
//!
//! What counts, and why:
//! - only periods signed by a project key, whose `candidate` subject and recorded digest
//!   are a file of the version (a statement about the same bytes, not about a model that
//!   happens to share a subject);
//! - only periods in which the served model was another file than the candidate: a model
//!   shadowed by a copy of itself agrees with itself;
//! - only periods in the shadow of the file of the version the stage holds, since
//!   agreement with some other model says nothing about the change being made. A stage
//!   that holds no version (a first promotion) has nothing to compare with: the check
//!   passes and says so;
//! - only periods that ended within `max_age_days`, when set.
//!
//! Periods of one shadow never overlap (each covers the calls since the previous record),
//! so their counts are added; their hours are the length of the union of their spans, so
//! two gateways shadowing at once do not count the same hour twice.

use std::collections::BTreeSet;
use std::time::{Duration, SystemTime};

use aigis_core::Digest;
use aigis_evidence::ShadowPeriod;
use aigis_ledger::project::ShadowGateConfig;

use crate::gate::{Check, signed_about};
use crate::store::VersionRecord;

const NAME: &str = "shadow";

/// The periods kept: their counts added, and why others were left out.
#[derive(Debug, Default)]
struct Tally {
    indexes: Vec<u64>,
    calls: u64,
    rows: u64,
    disagreements: u64,
    failures: u64,
    spans: Vec<(SystemTime, SystemTime)>,
    /// Periods left out, by reason.
    self_compared: usize,
    other_served: usize,
    too_old: usize,
    unreadable: Vec<String>,
}

/// The shadow check for moving `record` into a stage that holds `current` (the version
/// and its files' digests, if any), under `config`.
pub(crate) fn check(
    project: &aigis_ledger::Project,
    config: &ShadowGateConfig,
    record: &VersionRecord,
    current: Option<(u32, BTreeSet<Digest>)>,
) -> Check {
    let Some((held, files)) = current else {
        return Check::pass(
            NAME,
            "the stage holds no version yet: there is nothing to compare the candidate with".into(),
            None,
        );
    };
    match tally(project, config, record, &files) {
        Ok(t) => judge(config, &t, held),
        Err(e) => Check::fail(
            NAME,
            format!("the shadow evidence cannot be read: {e}"),
            None,
        ),
    }
}

fn tally(
    project: &aigis_ledger::Project,
    config: &ShadowGateConfig,
    record: &VersionRecord,
    current: &BTreeSet<Digest>,
) -> Result<Tally, String> {
    let files: BTreeSet<Digest> = record.files.iter().map(|f| f.sha256).collect();
    let oldest = config
        .max_age_days
        .map(|d| SystemTime::now() - Duration::from_secs_f64(d * 86_400.0));
    let mut t = Tally::default();
    for (index, read) in signed_about::<ShadowPeriod>(project, &files)? {
        let (statement, period) = match read {
            Ok(r) => r,
            Err(e) => {
                t.unreadable.push(e);
                continue;
            }
        };
        let subject = |name: &str| -> Option<Digest> {
            statement
                .subject
                .iter()
                .find(|s| s.name.as_deref() == Some(name))
                .and_then(|s| s.digest.get("sha256"))
                .and_then(|d| d.parse().ok())
        };
        let (Some(candidate), Some(served)) = (subject("candidate"), subject("served")) else {
            t.unreadable.push(format!(
                "evidence #{index} does not name its candidate and served model"
            ));
            continue;
        };
        if !files.contains(&candidate) || period.candidate_sha256 != candidate.hex() {
            // The version's file is this period's served model, not its candidate.
            continue;
        }
        if period.served_sha256 != served.hex() {
            t.unreadable.push(format!(
                "evidence #{index} records two digests for its served model"
            ));
            continue;
        }
        if files.contains(&served) {
            t.self_compared += 1;
            continue;
        }
        if !current.contains(&served) {
            t.other_served += 1;
            continue;
        }
        let span = humantime::parse_rfc3339(&period.from)
            .and_then(|from| Ok((from, humantime::parse_rfc3339(&period.to)?)));
        let Ok((from, to)) = span else {
            t.unreadable
                .push(format!("evidence #{index} has an unreadable period"));
            continue;
        };
        if oldest.is_some_and(|o| to < o) {
            t.too_old += 1;
            continue;
        }
        t.indexes.push(index);
        t.calls += period.calls;
        t.rows += period.rows;
        t.disagreements += period.disagreements;
        t.failures += period.failures;
        t.spans.push((from, to.max(from)));
    }
    t.indexes.sort_unstable();
    Ok(t)
}

/// Hours covered by the union of `spans`.
fn hours(mut spans: Vec<(SystemTime, SystemTime)>) -> f64 {
    spans.sort();
    let mut total = Duration::ZERO;
    let mut open: Option<(SystemTime, SystemTime)> = None;
    for (from, to) in spans {
        open = match open {
            Some((a, b)) if from <= b => Some((a, b.max(to))),
            Some((a, b)) => {
                total += b.duration_since(a).unwrap_or_default();
                Some((from, to))
            }
            None => Some((from, to)),
        };
    }
    if let Some((a, b)) = open {
        total += b.duration_since(a).unwrap_or_default();
    }
    total.as_secs_f64() / 3600.0
}

/// The upper end of the Wilson score interval at 95 % for `k` of `n`.
fn wilson_upper(k: u64, n: u64) -> f64 {
    let (k, n) = (k as f64, n as f64);
    let z: f64 = 1.959_963_984_540_054;
    let p = k / n;
    let centre = p + z * z / (2.0 * n);
    let spread = z * (p * (1.0 - p) / n + z * z / (4.0 * n * n)).sqrt();
    ((centre + spread) / (1.0 + z * z / n)).min(1.0)
}

fn judge(config: &ShadowGateConfig, t: &Tally, held: u32) -> Check {
    let against = format!("version {held}, which the stage holds");
    let mut left_out = Vec::new();
    if t.self_compared > 0 {
        left_out.push(format!(
            "{} compared the version with itself",
            t.self_compared
        ));
    }
    if t.other_served > 0 {
        left_out.push(format!(
            "{} were in the shadow of another model than {against}",
            t.other_served
        ));
    }
    if t.too_old > 0 {
        left_out.push(format!(
            "{} ended more than {} days ago",
            t.too_old,
            config.max_age_days.unwrap_or_default()
        ));
    }
    left_out.extend(t.unreadable.iter().cloned());
    let left_out = if left_out.is_empty() {
        String::new()
    } else {
        format!("; periods left out: {}", left_out.join("; "))
    };
    let last = t.indexes.last().copied();
    if t.indexes.is_empty() {
        return Check::fail(
            NAME,
            format!(
                "no shadow period of this version against {against}{left_out} (run it as `[serve.models.shadow]` of the served model in `aigis serve`, which records one every `record_s` and when it stops)"
            ),
            None,
        );
    }
    let hours = hours(t.spans.clone());
    let cited = if t.indexes.len() <= 5 {
        t.indexes
            .iter()
            .map(|i| format!("#{i}"))
            .collect::<Vec<_>>()
            .join(", ")
    } else {
        format!(
            "#{} … #{}",
            t.indexes.first().copied().unwrap_or_default(),
            last.unwrap_or_default()
        )
    };
    let mirrored = t.calls + t.failures;
    let failure_rate = if mirrored == 0 {
        0.0
    } else {
        t.failures as f64 / mirrored as f64
    };
    let mut problems = Vec::new();
    if t.rows < config.min_rows {
        problems.push(format!(
            "{} rows compared, {} needed",
            t.rows, config.min_rows
        ));
    }
    if hours < config.min_hours {
        problems.push(format!(
            "{hours:.2} hours covered, {} needed",
            config.min_hours
        ));
    }
    let rate = (t.rows > 0).then(|| t.disagreements as f64 / t.rows as f64);
    match rate {
        Some(r) if r > config.max_disagreement => problems.push(format!(
            "disagreement {:.3} % is above {:.3} %",
            r * 100.0,
            config.max_disagreement * 100.0
        )),
        None => problems.push("no row was compared".into()),
        _ => {}
    }
    if failure_rate > config.max_failure_rate {
        problems.push(format!(
            "the candidate failed {} of {mirrored} mirrored calls ({:.2} %, at most {:.2} %)",
            t.failures,
            failure_rate * 100.0,
            config.max_failure_rate * 100.0
        ));
    }
    let summary = format!(
        "{} period(s) against {against} ({cited}): {} rows in {} calls over {hours:.2} h, {} answered differently{}{}",
        t.indexes.len(),
        t.rows,
        t.calls,
        t.disagreements,
        rate.map(|r| format!(
            " ({:.3} %, 95 % upper bound {:.3} %)",
            r * 100.0,
            wilson_upper(t.disagreements, t.rows) * 100.0
        ))
        .unwrap_or_default(),
        if t.failures > 0 {
            format!(", {} failed call(s)", t.failures)
        } else {
            String::new()
        },
    );
    let mut check = if problems.is_empty() {
        Check::pass(NAME, format!("{summary}{left_out}"), last)
    } else {
        Check::fail(
            NAME,
            format!("{}: {summary}{left_out}", problems.join("; ")),
            last,
        )
    };
    check.measures = vec![
        ("rows", t.rows as f64),
        ("hours", hours),
        ("failure_rate", failure_rate),
    ];
    if let Some(r) = rate {
        check.measures.push(("disagreement", r));
        check
            .measures
            .push(("disagreement_upper", wilson_upper(t.disagreements, t.rows)));
    }
    check
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hours_are_the_union_of_the_spans() {
        let t = |h: u64| SystemTime::UNIX_EPOCH + Duration::from_secs(h * 3600);
        assert_eq!(hours(vec![]), 0.0);
        assert_eq!(hours(vec![(t(0), t(2)), (t(1), t(3))]), 3.0);
        assert_eq!(hours(vec![(t(5), t(6)), (t(0), t(1)), (t(0), t(1))]), 2.0);
        assert_eq!(hours(vec![(t(0), t(4)), (t(1), t(2))]), 4.0);
    }

    #[test]
    fn wilson_bound_matches_the_closed_form() {
        // statsmodels' proportion_confint(5, 100, method="wilson") upper end.
        assert!((wilson_upper(5, 100) - 0.111_750_469_231_919_14).abs() < 1e-12);
        assert!((wilson_upper(0, 1000) - 0.003_826_758_485_555_125).abs() < 1e-12);
        assert!((wilson_upper(10, 10) - 1.0).abs() < 1e-12);
    }
}
