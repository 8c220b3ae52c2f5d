//! `aigis redteam MODEL --data D --label COL`: evasion attacks on labelled rows, their
//! success against the model itself, thresholds, evidence.

use std::path::Path;
use std::time::Instant;

use aigis_evidence::{
    RedTeam, RedTeamAttack, RedTeamBreach, RedTeamExtraction, RedTeamExtractionPoint,
    RedTeamMembership, RedTeamMembershipAttack, RedTeamPoisoning, RedTeamPoisoningOutcome,
    RedTeamThreshold, Tool,
};
use aigis_monitor::detect::{self, Columns};
use aigis_redteam::evasion::{self, Estimated, Gradient, Norm, Settings};
use aigis_redteam::hopskipjump::{self, distance};
use aigis_redteam::membership::Roc;
use aigis_redteam::square;
use aigis_runtime::grad::Graph;
use anyhow::{Context as _, Result};
use serde_json::json;

use crate::cli::{AttackKind, Cli, GradientsArg, NormArg, RedteamArgs};
use crate::commands::ExitStatus;
use crate::commands::data::scan::read_options;
use crate::commands::target::{Target, class_indices, label_column, record_model_data};
use crate::{context, output};

/// A measure a threshold bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Measure {
    RobustAccuracy,
    CleanAccuracy,
    SuccessRate,
    MiaAuc,
    MiaTprAt001,
    MiaTprAt01,
    /// The extracted copy's fidelity after this many queries.
    FidelityAt(usize),
    /// The largest backdoor success of the poisonings.
    BackdoorSuccess,
    /// The largest accuracy drop of the poisonings.
    PoisonAccuracyDrop,
}

impl Measure {
    const ALL: [(&'static str, Measure); 8] = [
        ("robust-accuracy", Measure::RobustAccuracy),
        ("clean-accuracy", Measure::CleanAccuracy),
        ("success-rate", Measure::SuccessRate),
        ("mia-auc", Measure::MiaAuc),
        ("mia-tpr-at-0.001", Measure::MiaTprAt001),
        ("mia-tpr-at-0.01", Measure::MiaTprAt01),
        ("backdoor-success", Measure::BackdoorSuccess),
        ("poison-accuracy-drop", Measure::PoisonAccuracyDrop),
    ];

    fn name(self) -> String {
        match self {
            Measure::FidelityAt(n) => format!("fidelity-at-{n}"),
            _ => Self::ALL
                .iter()
                .find(|(_, m)| *m == self)
                .map_or("", |(n, _)| n)
                .to_owned(),
        }
    }

    fn parse(metric: &str) -> Option<Self> {
        if let Some(n) = metric.strip_prefix("fidelity-at-") {
            return n.parse().ok().filter(|&n| n > 0).map(Measure::FidelityAt);
        }
        Self::ALL
            .iter()
            .find(|(n, _)| *n == metric)
            .map(|(_, m)| *m)
    }
}

/// One `METRIC=VALUE` threshold, `at_least` for a floor; `origin` names where it was
/// written in errors.
fn threshold(text: &str, at_least: bool, origin: &str) -> Result<(Measure, bool, f64)> {
    let example = if at_least {
        "robust-accuracy=0.6"
    } else {
        "success-rate=0.5"
    };
    let (metric, value) = crate::commands::metric_value(text, origin, example)?;
    let measure = Measure::parse(metric).ok_or_else(|| {
        anyhow::anyhow!(
            "{origin} `{text}`: no measure `{metric}`; the measures are {}, fidelity-at-N",
            Measure::ALL.map(|(n, _)| n).join(", ")
        )
    })?;
    Ok((measure, at_least, value))
}

/// The thresholds of the project's `[redteam]` table.
pub(crate) fn project_thresholds(
    project: Option<&aigis_ledger::Project>,
) -> Result<Vec<(Measure, bool, f64)>> {
    let file = crate::commands::ProjectThresholds::of(project, "redteam")?;
    let mut out = Vec::new();
    if let Some(project) = project {
        for (list, at_least, key) in [
            (&file.fail_under, true, "fail_under"),
            (&file.fail_over, false, "fail_over"),
        ] {
            let origin = crate::commands::ProjectThresholds::origin(project, "redteam", key);
            for text in list {
                out.push(threshold(text, at_least, &origin)?);
            }
        }
    }
    Ok(out)
}

/// The project's thresholds, then the command line's (which replace the project's on the
/// same measure and bound).
fn thresholds(
    args: &RedteamArgs,
    project: Option<&aigis_ledger::Project>,
) -> Result<Vec<(Measure, bool, f64)>> {
    let mut out = project_thresholds(project)?;
    for (list, at_least, flag) in [
        (&args.fail_under, true, "--fail-under"),
        (&args.fail_over, false, "--fail-over"),
    ] {
        for text in list {
            let t = threshold(text, at_least, flag)?;
            out.retain(|&(m, b, _)| !(m == t.0 && b == t.1));
            out.push(t);
        }
    }
    Ok(out)
}

/// The gradients the attacks use, and why they are estimated when they are.
enum Source {
    Exact(Graph),
    Estimated(String),
    /// Only decision-based attacks: no gradient is used.
    None,
}

fn gradients(target: &Target, wanted: GradientsArg, x: &[f64], cols: usize) -> Result<Source> {
    if wanted == GradientsArg::Estimated {
        return Ok(Source::Estimated(
            "asked for (--gradients estimated)".into(),
        ));
    }
    match (target.verified_graph(x, cols), wanted) {
        (Ok(g), _) => Ok(Source::Exact(g)),
        (Err(why), GradientsArg::Exact) => anyhow::bail!(
            "--gradients exact: the model `{}` cannot be differentiated: {why}",
            target.name
        ),
        (Err(why), _) => Ok(Source::Estimated(why)),
    }
}

fn argmax(scores: &[f64], k: usize) -> Vec<usize> {
    scores
        .chunks(k.max(1))
        .map(|r| {
            r.iter()
                .enumerate()
                .max_by(|a, b| a.1.total_cmp(b.1))
                .map_or(0, |m| m.0)
        })
        .collect()
}

/// What `aigis redteam` runs: the attacks at each ε, the gradients' source, the limits.
pub(crate) struct Plan {
    pub(crate) attacks: Vec<AttackKind>,
    pub(crate) eps: Vec<f64>,
    pub(crate) norm: Norm,
    pub(crate) steps: usize,
    pub(crate) step: Option<f64>,
    pub(crate) restarts: usize,
    pub(crate) target: Option<usize>,
    pub(crate) clip: Option<(f64, f64)>,
    pub(crate) gradients: GradientsArg,
    pub(crate) seed: u64,
    pub(crate) time_budget: Option<f64>,
    /// When the run began: the time budget counts from here.
    pub(crate) started: Instant,
    /// HopSkipJump's iterations.
    pub(crate) iterations: usize,
    /// The Square attack's iterations.
    pub(crate) square_iterations: usize,
    /// The Square attack's first share of the image.
    pub(crate) p_init: f64,
    /// HopSkipJump's and the Square attack's queries per row.
    pub(crate) max_queries: Option<usize>,
}

impl Plan {
    /// Why no more work is started, when the time budget is spent.
    pub(crate) fn time_spent(&self) -> Option<String> {
        self.time_budget
            .filter(|&b| self.started.elapsed().as_secs_f64() >= b)
            .map(|b| format!("the time budget of {b} s was spent"))
    }
}

/// The evasion attacks of a run, as its evidence says them.
pub(crate) struct Evasion {
    pub(crate) rows: usize,
    pub(crate) clean_accuracy: f64,
    pub(crate) gradients: &'static str,
    pub(crate) note: Option<String>,
    pub(crate) attacks: Vec<RedTeamAttack>,
}

/// Runs `plan`'s evasion attacks against `target` on `x` (complete rows of the model's
/// input) whose classes are `labels`.
pub(crate) fn evade(
    cli: &Cli,
    target: &Target,
    x: &[f64],
    labels: &[usize],
    plan: &Plan,
) -> Result<Evasion> {
    let rows = labels.len();
    let cols = x.len().checked_div(rows).unwrap_or(0);

    let judge = |x: &[f64], n: usize| -> Result<Vec<usize>, String> {
        let (scores, k) = target
            .model
            .run(x, n, cols, target.output)
            .map_err(|e| format!("the model: {e}"))?;
        Ok(argmax(&scores, k))
    };
    let clean = judge(x, rows).map_err(anyhow::Error::msg)?;
    let clean_accuracy =
        clean.iter().zip(labels).filter(|(c, y)| c == y).count() as f64 / rows as f64;

    let white_box = plan
        .attacks
        .iter()
        .any(|a| matches!(a, AttackKind::Fgsm | AttackKind::Pgd));
    let source = if white_box {
        gradients(target, plan.gradients, x, cols)?
    } else {
        Source::None
    };
    let h = match plan.clip {
        Some((lo, hi)) => 1e-3 * (hi - lo),
        None => {
            let mean_abs = x.iter().map(|v| v.abs()).sum::<f64>() / x.len() as f64;
            1e-3 * mean_abs.max(1e-3)
        }
    };
    let estimated = Estimated {
        scores: |x: &[f64], n: usize| target.model.run(x, n, cols, target.output),
        features: cols,
        h,
    };
    let (gradient, note): (&dyn Gradient, Option<String>) = match &source {
        Source::Exact(g) => (g, None),
        Source::Estimated(why) => (&estimated, Some(why.clone())),
        Source::None => (&estimated, None),
    };
    if let Some(why) = &note {
        output::note(
            cli,
            &format!(
                "gradients estimated from the model's answers ({} queries per row per step): {why}",
                gradient.queries_per_gradient()
            ),
        );
    }

    let norm = plan.norm;
    let runs: Vec<(AttackKind, f64)> = plan
        .attacks
        .iter()
        .flat_map(|&a| plan.eps.iter().map(move |&e| (a, e)))
        .collect();
    let bar = output::progress(cli, runs.len() as u64, "attacking");
    let mut results = Vec::new();
    // HopSkipJump runs once (it minimizes the perturbation); each ε then counts the rows
    // it fooled within ε.
    let mut hsj: Option<(Vec<hopskipjump::Row>, f64)> = None;
    let range = plan.clip.unwrap_or_else(|| {
        let lo = x.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = x.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        (lo, if hi > lo { hi } else { lo + 1.0 })
    });
    // Why the attacks not yet run are not run: a budget spent.
    let spent = |time_matters: bool| -> Option<String> {
        if target.budget_spent() {
            return Some(format!(
                "the query budget of {} rows was spent",
                target.query_budget().unwrap_or_default()
            ));
        }
        plan.time_spent().filter(|_| time_matters)
    };
    // An attack's failure, unless it is the query budget running out (then the attack
    // is skipped, and said so).
    let failed = |e: anyhow::Error| -> Result<()> {
        if target.budget_spent() {
            Ok(())
        } else {
            Err(e)
        }
    };
    // The black-box attacks' oracle: the model's differentiated graph when there is one
    // (the same function in f64, without the runtime's cost per call: HopSkipJump's
    // binary searches ask about one point at a time); the runtime otherwise, and always
    // under a query budget (every query then goes to the model, to be counted). The
    // points found are judged by the runtime.
    let oracle = if plan
        .attacks
        .iter()
        .any(|a| matches!(a, AttackKind::Hsj | AttackKind::Square))
    {
        match &source {
            _ if target.query_budget().is_some() => None,
            Source::Exact(g) => Some(g.clone()),
            _ => target.verified_graph(x, cols).ok(),
        }
    } else {
        None
    };
    for &(kind, eps) in &runs {
        if kind == AttackKind::Hsj {
            let mut skipped = spent(hsj.is_none());
            if hsj.is_none() && skipped.is_none() {
                let settings = hopskipjump::Settings {
                    norm,
                    iterations: plan.iterations,
                    max_queries: plan.max_queries,
                    seed: plan.seed,
                    // Without a valid range, each feature's own range in the rows.
                    bounds: plan.clip.is_none().then(|| feature_ranges(x, cols)),
                    ..hopskipjump::Settings::new(range)
                };
                // Only the rows the model gets right are attacked.
                let right: Vec<usize> = (0..rows)
                    .filter(|&r| clean.get(r) == labels.get(r))
                    .collect();
                let sub: Vec<f64> = right
                    .iter()
                    .flat_map(|&r| x.get(r * cols..(r + 1) * cols).unwrap_or_default().to_vec())
                    .collect();
                let classes: Vec<usize> = right
                    .iter()
                    .map(|&r| labels.get(r).copied().unwrap_or(0))
                    .collect();
                let by_graph = |x: &[f64], n: usize| -> Result<Vec<usize>, String> {
                    let Some(g) = &oracle else {
                        return judge(x, n);
                    };
                    let tape = g.forward(x, n)?;
                    let (scores, k) = g.output(&tape)?;
                    Ok(argmax(&scores, k))
                };
                let t = Instant::now();
                let found =
                    hopskipjump::attack(&by_graph, &sub, right.len(), cols, &classes, &settings)
                        .context("HopSkipJump");
                let found = match found {
                    Ok(found) => found,
                    Err(e) => {
                        failed(e)?;
                        Vec::new()
                    }
                };
                skipped = spent(false);
                let mut all: Vec<hopskipjump::Row> = (0..rows)
                    .map(|_| hopskipjump::Row {
                        adversarial: None,
                        queries: 0,
                    })
                    .collect();
                for (&r, row) in right.iter().zip(found) {
                    if let Some(slot) = all.get_mut(r) {
                        *slot = row;
                    }
                }
                if skipped.is_none() {
                    hsj = Some((all, t.elapsed().as_secs_f64()));
                }
            }
            let mut record = base_record("hsj", norm, eps, 0.0, plan.iterations, 0, None);
            match (&hsj, skipped) {
                (_, Some(why)) => record.skipped = Some(why),
                (Some((found, seconds)), None) => {
                    // A row is fooled within ε when its adversarial point is that close.
                    let adv: Vec<f64> = (0..rows)
                        .flat_map(|r| {
                            let clean_row = x.get(r * cols..(r + 1) * cols).unwrap_or_default();
                            match found.get(r).and_then(|f| f.adversarial.as_ref()) {
                                Some(a) if distance(norm, a, clean_row) <= eps * (1.0 + 1e-12) => {
                                    a.clone()
                                }
                                _ => clean_row.to_vec(),
                            }
                        })
                        .collect();
                    let after = match judge(&adv, rows) {
                        Ok(after) => after,
                        Err(e) => {
                            failed(anyhow::Error::msg(e))?;
                            record.skipped = spent(false);
                            results.push(record);
                            bar.inc(1);
                            continue;
                        }
                    };
                    let o = evasion::outcome(x, &adv, cols, labels, &clean, &after, None, rows);
                    let attacked = found.iter().filter(|f| f.queries > 0).count().max(1);
                    fill(&mut record, &o);
                    record.queries_per_row =
                        (found.iter().map(|f| f.queries).sum::<usize>() / attacked) as u64 + 1;
                    record.seconds = *seconds;
                }
                (None, None) => {}
            }
            results.push(record);
            bar.inc(1);
            continue;
        }
        let settings = match kind {
            AttackKind::Fgsm => Settings {
                target: plan.target,
                clip: plan.clip,
                seed: plan.seed,
                ..Settings::fgsm(eps, norm)
            },
            _ => Settings {
                eps,
                step: plan.step.unwrap_or(2.5 * eps / plan.steps as f64),
                steps: plan.steps,
                norm,
                restarts: plan.restarts,
                target: plan.target,
                clip: plan.clip,
                seed: plan.seed,
            },
        };
        let name = match kind {
            AttackKind::Fgsm => "fgsm",
            AttackKind::Square => "square",
            _ => "pgd",
        };
        let mut record = match kind {
            AttackKind::Square => base_record(
                name,
                norm,
                eps,
                0.0,
                plan.square_iterations,
                plan.restarts,
                plan.target,
            ),
            _ => base_record(
                name,
                norm,
                eps,
                settings.step,
                settings.steps,
                settings.restarts,
                settings.target,
            ),
        };
        if let Some(why) = spent(true) {
            record.skipped = Some(why);
            results.push(record);
            bar.inc(1);
            continue;
        }
        let t = Instant::now();
        let attacked = match kind {
            AttackKind::Square => square(target, oracle.as_ref(), x, labels, &clean, plan, eps),
            _ => evasion::attack(gradient, &judge, x, rows, cols, labels, &settings)
                .map_err(anyhow::Error::from),
        }
        .with_context(|| format!("{name} at eps {eps}"));
        // The attack's own time, as ART's `generate` is timed: the judging below is not in it.
        record.seconds = t.elapsed().as_secs_f64();
        let judged = attacked.and_then(|a| {
            let after = judge(&a.rows, rows).map_err(anyhow::Error::msg)?;
            Ok((a, after))
        });
        let (attacked, after) = match judged {
            Ok(done) => done,
            Err(e) => {
                failed(e)?;
                record.skipped = spent(false);
                record.seconds = 0.0;
                results.push(record);
                bar.inc(1);
                continue;
            }
        };
        let o = evasion::outcome(
            x,
            &attacked.rows,
            cols,
            labels,
            &clean,
            &after,
            settings.target,
            rows,
        );
        fill(&mut record, &o);
        record.gradients_per_row = attacked.gradients_per_row as u64;
        record.queries_per_row = attacked.queries_per_row as u64 + 1;
        results.push(record);
        bar.inc(1);
    }
    bar.finish_and_clear();

    Ok(Evasion {
        rows,
        clean_accuracy,
        gradients: match source {
            Source::Exact(_) => "exact",
            Source::Estimated(_) => "estimated",
            Source::None => "none",
        },
        note,
        attacks: results,
    })
}

/// The Square attack at `eps` on the rows of `x` the model gets right (targeted: those
/// not already of the target), the others left as they are.
fn square(
    target: &Target,
    oracle: Option<&Graph>,
    x: &[f64],
    labels: &[usize],
    clean: &[usize],
    plan: &Plan,
    eps: f64,
) -> Result<evasion::Attacked> {
    let rows = labels.len();
    let cols = x.len().checked_div(rows).unwrap_or(0);
    let attacked: Vec<usize> = (0..rows)
        .filter(|&r| match plan.target {
            Some(t) => clean.get(r) != Some(&t),
            None => clean.get(r) == labels.get(r),
        })
        .collect();
    let sub: Vec<f64> = attacked
        .iter()
        .flat_map(|&r| x.get(r * cols..(r + 1) * cols).unwrap_or_default().to_vec())
        .collect();
    let classes: Vec<usize> = attacked
        .iter()
        .map(|&r| labels.get(r).copied().unwrap_or(0))
        .collect();
    let settings = square::Settings {
        norm: plan.norm,
        iterations: plan.square_iterations,
        p_init: plan.p_init,
        runs: plan.restarts + 1,
        clip: plan.clip,
        target: plan.target,
        max_queries: plan.max_queries,
        seed: plan.seed,
        ..square::Settings::new(eps, square::Shape::of(target.model.inner(), cols))
    };
    let scores = |x: &[f64], n: usize| match oracle {
        Some(g) => g.output(&g.forward(x, n)?),
        None => target.model.run(x, n, cols, target.output),
    };
    let found = square::attack(&scores, &sub, attacked.len(), cols, &classes, &settings)?;
    let mut out = x.to_vec();
    for (&r, row) in attacked.iter().zip(&found) {
        if let Some(slot) = out.get_mut(r * cols..(r + 1) * cols) {
            slot.copy_from_slice(&row.adversarial);
        }
    }
    let queries: usize = found.iter().map(|f| f.queries).sum();
    Ok(evasion::Attacked {
        rows: out,
        gradients_per_row: 0,
        queries_per_row: queries / attacked.len().max(1),
    })
}

/// An attack's record before it runs.
fn base_record(
    attack: &str,
    norm: Norm,
    eps: f64,
    step: f64,
    steps: usize,
    restarts: usize,
    target: Option<usize>,
) -> RedTeamAttack {
    RedTeamAttack {
        attack: attack.into(),
        norm: match norm {
            Norm::Inf => "inf".into(),
            Norm::L2 => "l2".into(),
        },
        eps,
        step,
        steps: steps as u64,
        restarts: restarts as u64,
        target: target.map(|t| t as u64),
        attacked: 0,
        succeeded: 0,
        success_rate: None,
        robust_accuracy: None,
        median_linf: None,
        median_l2: None,
        gradients_per_row: 0,
        queries_per_row: 0,
        seconds: 0.0,
        skipped: None,
    }
}

/// The outcome's figures in the record.
fn fill(record: &mut RedTeamAttack, o: &evasion::Outcome) {
    record.attacked = o.attacked as u64;
    record.succeeded = o.succeeded as u64;
    record.success_rate = o.success_rate;
    record.robust_accuracy = Some(o.robust_accuracy);
    record.median_linf = o.median_linf;
    record.median_l2 = o.median_l2;
}

/// What a run measured, each part when it ran.
#[derive(Default)]
pub(crate) struct Findings {
    pub(crate) evasion: Option<Evasion>,
    pub(crate) membership: Option<RedTeamMembership>,
    pub(crate) extraction: Option<RedTeamExtraction>,
    pub(crate) poisoning: Option<RedTeamPoisoning>,
}

/// The verdict of a run: its evasion attacks and membership inference checked against
/// `thresholds`. A measure that could not be taken (its attacks not run, or skipped)
/// breaches every threshold on it, and a skipped attack fails the run.
pub(crate) fn verdict(
    output: &str,
    found: Findings,
    plan: &Plan,
    thresholds: &[(Measure, bool, f64)],
    queries: u64,
) -> RedTeam {
    let Findings {
        evasion,
        membership,
        extraction,
        poisoning,
    } = found;
    let attacks = evasion
        .as_ref()
        .map(|e| e.attacks.as_slice())
        .unwrap_or_default();
    let skipped = attacks.iter().any(|r| r.skipped.is_some());
    let mia = |f: fn(&RedTeamMembershipAttack) -> f64| {
        membership
            .as_ref()
            .and_then(|m| m.attacks.iter().map(f).max_by(f64::total_cmp))
    };
    let measured = |m: Measure| -> Option<f64> {
        match m {
            Measure::CleanAccuracy => evasion.as_ref().map(|e| e.clean_accuracy),
            Measure::RobustAccuracy if !skipped => attacks
                .iter()
                .filter_map(|r| r.robust_accuracy)
                .min_by(f64::total_cmp),
            Measure::SuccessRate if !skipped => attacks
                .iter()
                .filter_map(|r| r.success_rate)
                .max_by(f64::total_cmp),
            Measure::RobustAccuracy | Measure::SuccessRate => None,
            Measure::MiaAuc => mia(|a| a.auc),
            Measure::MiaTprAt001 => mia(|a| a.tpr_at_0_1_pct_fpr),
            Measure::MiaTprAt01 => mia(|a| a.tpr_at_1_pct_fpr),
            Measure::FidelityAt(n) => extraction.as_ref().and_then(|e| {
                e.points
                    .iter()
                    .find(|p| p.queries == n as u64)
                    .map(|p| p.fidelity)
            }),
            Measure::BackdoorSuccess => poisoning.as_ref().and_then(|p| {
                p.outcomes
                    .iter()
                    .filter_map(|o| o.backdoor_success)
                    .max_by(f64::total_cmp)
            }),
            Measure::PoisonAccuracyDrop => poisoning.as_ref().and_then(|p| {
                p.outcomes
                    .iter()
                    .map(|o| o.accuracy_drop)
                    .max_by(f64::total_cmp)
            }),
        }
    };
    let bound = |at_least: bool| if at_least { "at_least" } else { "at_most" };
    let breaches: Vec<RedTeamBreach> = thresholds
        .iter()
        .filter_map(|&(m, at_least, value)| {
            let v = measured(m);
            let ok = v.is_some_and(|v| if at_least { v >= value } else { v <= value });
            (!ok).then(|| RedTeamBreach {
                metric: m.name(),
                bound: bound(at_least).into(),
                threshold: value,
                value: v,
            })
        })
        .collect();
    let passed = breaches.is_empty()
        && !skipped
        && extraction.as_ref().is_none_or(|e| e.skipped.is_none())
        && poisoning.as_ref().is_none_or(|p| p.skipped.is_none());
    RedTeam {
        output: output.to_string(),
        rows: evasion.as_ref().map_or(0, |e| e.rows as u64),
        clean_accuracy: evasion.as_ref().map(|e| e.clean_accuracy),
        gradients: evasion.as_ref().map(|e| e.gradients.to_string()),
        gradients_note: evasion.as_ref().and_then(|e| e.note.clone()),
        clip: plan.clip.map(|(lo, hi)| [lo, hi]),
        seed: plan.seed,
        attacks: evasion.map(|e| e.attacks).unwrap_or_default(),
        membership,
        extraction,
        poisoning,
        thresholds: thresholds
            .iter()
            .map(|&(m, at_least, value)| RedTeamThreshold {
                metric: m.name(),
                bound: bound(at_least).into(),
                value,
            })
            .collect(),
        breaches,
        passed,
        queries: Some(queries),
        tool: Tool::current(),
    }
}

/// Each feature's range (lowest, highest) in the rows `x` of `cols` numbers.
fn feature_ranges(x: &[f64], cols: usize) -> Vec<(f64, f64)> {
    (0..cols)
        .map(|j| {
            x.iter()
                .skip(j)
                .step_by(cols.max(1))
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| {
                    (lo.min(v), hi.max(v))
                })
        })
        .collect()
}

/// Model extraction: the model asked about `budgets.last()` queries from
/// `--extract-from`, a copy trained on the first `b` of its answers for each budget `b`,
/// measured on the rows `x` (true classes `labels`).
fn extract(
    cli: &Cli,
    target: &Target,
    args: &RedteamArgs,
    plan: &Plan,
    x: &[f64],
    labels: &[usize],
    budgets: &[usize],
) -> Result<RedTeamExtraction> {
    use aigis_redteam::extraction::{self, Source as From, Surrogate};
    let rows = labels.len();
    let cols = x.len().checked_div(rows).unwrap_or(0);
    let most = budgets.last().copied().unwrap_or(0);
    if budgets.first() == Some(&0) {
        anyhow::bail!("--extract 0: a copy needs at least one query");
    }
    if let Some(b) = target.query_budget()
        && target.queries() + (most + rows) as u64 > b
    {
        anyhow::bail!(
            "--extract {most} and the {rows} rows it is measured on need {} queries; the query budget of {b} has {} left",
            most + rows,
            b.saturating_sub(target.queries())
        );
    }
    let ranges = match args.clip {
        Some(clip) => vec![clip; cols],
        None => feature_ranges(x, cols),
    };
    let (source, name) = match args.extract_from.as_str() {
        "random" => (From::Random, "random"),
        "profile" => (From::Profile, "profile"),
        path => {
            let path = Path::new(path);
            let pool = read_rows(path, args)
                .with_context(|| format!("the attacker's rows `{}`", path.display()))?;
            if pool.cols != cols {
                anyhow::bail!(
                    "--extract-from `{}`: {} numeric columns, the model takes {cols} (or say `random` or `profile`)",
                    path.display(),
                    pool.cols
                );
            }
            if let Some(i) = pool.data.iter().position(|v| !v.is_finite()) {
                anyhow::bail!(
                    "--extract-from `{}`: row {} has a missing value",
                    path.display(),
                    i / cols.max(1) + 1
                );
            }
            (From::Pool(pool.data), "pool")
        }
    };
    let queries = extraction::queries(&source, most, cols, &ranges, x, args.seed)?;
    let (scores, k) = target.run(&queries, most, cols)?;
    let answers = argmax(&scores, k);
    let (clean, k) = target.run(x, rows, cols)?;
    let model_classes = argmax(&clean, k);
    let surrogate = Surrogate {
        hidden: args.surrogate_hidden,
        seed: args.seed,
        ..Surrogate::default()
    };
    let bar = output::progress(cli, budgets.len() as u64, "training copies");
    let mut points = Vec::new();
    let mut skipped = None;
    for &b in budgets {
        if let Some(why) = plan.time_spent() {
            skipped = Some(why);
            break;
        }
        let point = extraction::curve(
            &[b],
            &queries,
            &answers,
            target.width,
            x,
            &model_classes,
            labels,
            &surrogate,
        )
        .with_context(|| format!("the copy trained on {b} queries"))?;
        points.extend(point.into_iter().map(|p| RedTeamExtractionPoint {
            queries: p.queries as u64,
            fidelity: p.fidelity,
            accuracy: p.accuracy,
        }));
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok(RedTeamExtraction {
        source: name.into(),
        hidden: args.surrogate_hidden as u64,
        rows: rows as u64,
        points,
        skipped,
    })
}

/// Poisoning: a model retrained on `train` clean and once per `--poison`, measured on the
/// rows `x` (true classes `labels`).
fn poison(
    cli: &Cli,
    target: &Target,
    args: &RedteamArgs,
    run: &Plan,
    train: &Path,
    x: &[f64],
    labels: &[usize],
) -> Result<RedTeamPoisoning> {
    use aigis_redteam::extraction::Surrogate;
    use aigis_redteam::poisoning::{self, Kind, Trigger};
    let rows = labels.len();
    let cols = x.len().checked_div(rows).unwrap_or(0);
    let plan = args
        .poison
        .iter()
        .map(|text| {
            let (kind, rate) = text.split_once('=').ok_or_else(|| {
                anyhow::anyhow!("--poison `{text}`: write KIND=RATE, e.g. `backdoor=0.01`")
            })?;
            let kind = match kind.trim() {
                "label-flip" => Kind::LabelFlip,
                "backdoor" => Kind::Backdoor,
                other => anyhow::bail!(
                    "--poison `{text}`: no poisoning `{other}`; the kinds are label-flip, backdoor"
                ),
            };
            let rate: f64 = rate
                .trim()
                .parse()
                .ok()
                .filter(|r: &f64| (0.0..=1.0).contains(r))
                .ok_or_else(|| {
                    anyhow::anyhow!(
                        "--poison `{text}`: the rate is a share of the training rows, in [0, 1]"
                    )
                })?;
            Ok((kind, rate))
        })
        .collect::<Result<Vec<_>>>()?;
    if args.poison_target >= target.width {
        anyhow::bail!(
            "--poison-target {}: the model gives {} classes (0 to {})",
            args.poison_target,
            target.width,
            target.width - 1
        );
    }
    let (t, t_labels) = read_labelled(train, args, None)
        .with_context(|| format!("the training rows `{}`", train.display()))?;
    if t.cols != cols {
        anyhow::bail!(
            "--train `{}`: {} numeric columns, the --data rows {cols}",
            train.display(),
            t.cols
        );
    }
    let t_labels = class_indices(&t_labels, &args.label, target.width)
        .with_context(|| format!("the training rows `{}`", train.display()))?;
    let ranges = match args.clip {
        Some(clip) => vec![clip; cols],
        None => feature_ranges(&t.data, cols),
    };
    let trigger = Trigger::corner(square::Shape::of(target.model.inner(), cols), &ranges);
    let surrogate = Surrogate {
        hidden: args.surrogate_hidden,
        seed: args.seed,
        ..Surrogate::default()
    };
    let bar = output::progress(cli, plan.len() as u64 + 1, "training poisoned models");
    let report = poisoning::evaluate(
        (&t.data, &t_labels),
        (x, labels),
        cols,
        target.width,
        &plan,
        &trigger,
        args.poison_target,
        &surrogate,
        &mut || {
            bar.inc(1);
            run.time_spent().is_none()
        },
    )?;
    bar.finish_and_clear();
    Ok(RedTeamPoisoning {
        hidden: args.surrogate_hidden as u64,
        train_rows: t_labels.len() as u64,
        rows: rows as u64,
        target: args.poison_target as u64,
        trigger_features: trigger.features.iter().map(|&j| j as u64).collect(),
        clean_accuracy: report.clean_accuracy,
        clean_backdoor_rate: report.clean_backdoor_rate,
        outcomes: report
            .outcomes
            .iter()
            .map(|o| RedTeamPoisoningOutcome {
                kind: o.kind.name().into(),
                rate: o.rate,
                poisoned: o.poisoned as u64,
                accuracy: o.accuracy,
                accuracy_drop: o.accuracy_drop,
                backdoor_success: o.backdoor_success,
            })
            .collect(),
        skipped: (report.outcomes.len() < plan.len())
            .then(|| run.time_spent())
            .flatten(),
    })
}

/// A table's numeric columns but the label's.
fn read_rows(path: &Path, args: &RedteamArgs) -> Result<aigis_monitor::detect::Matrix> {
    let (format, read) = read_options(&args.read)?;
    detect::read_matrix(
        path,
        &Columns {
            names: None,
            label: Some(&args.label),
            text_is_missing: false,
        },
        format,
        &read,
    )
    .with_context(|| format!("reading `{}`", path.display()))
}

/// A table's rows (the label's column left out) and their class indices.
fn read_labelled(
    path: &Path,
    args: &RedteamArgs,
    limit: Option<usize>,
) -> Result<(aigis_monitor::detect::Matrix, Vec<f64>)> {
    let mut data = read_rows(path, args)?;
    let mut labels = label_column(path, &args.label, &args.read)?;
    if let Some(n) = limit {
        data.rows = data.rows.min(n);
        data.data.truncate(data.rows * data.cols);
        labels.truncate(data.rows);
    }
    if data.rows == 0 || data.cols == 0 {
        anyhow::bail!("`{}` has no row of numbers", path.display());
    }
    if let Some(i) = data.data.iter().position(|v| !v.is_finite()) {
        anyhow::bail!(
            "row {} of `{}` holds a value that is not a finite number: every row the model is asked about must be complete (fill or drop it)",
            i / data.cols + 1,
            path.display()
        );
    }
    Ok((data, labels))
}

/// Membership inference: the target's (and references') answers on the members and
/// non-members, each attack's ROC.
fn membership(
    target: &Target,
    references: &[Target],
    members: (&[f64], &[usize]),
    non_members: (&[f64], &[usize]),
    cols: usize,
) -> Result<(RedTeamMembership, Vec<(&'static str, Roc)>)> {
    let scores = |t: &Target, x: &[f64], n: usize| -> Result<(Vec<f64>, usize)> {
        t.model
            .run(x, n, cols, t.output)
            .map_err(|e| anyhow::anyhow!("the model: {e}"))
    };
    let signals = |x: &[f64], classes: &[usize]| -> Result<Vec<(&'static str, Vec<f64>)>> {
        let n = classes.len();
        let (s, k) = scores(target, x, n)?;
        let refs = references
            .iter()
            .map(|r| scores(r, x, n))
            .collect::<Result<Vec<_>>>()?;
        Ok(aigis_redteam::membership::attack(&s, k, classes, &refs))
    };
    let inside = signals(members.0, members.1)?;
    let outside = signals(non_members.0, non_members.1)?;
    let mut rocs = Vec::new();
    let mut attacks = Vec::new();
    for ((name, m), (_, n)) in inside.iter().zip(&outside) {
        let roc = aigis_redteam::membership::roc(m, n)?;
        let at = |f: f64| {
            roc.tpr_at
                .iter()
                .find(|(x, _)| *x == f)
                .map_or(0.0, |p| p.1)
        };
        attacks.push(RedTeamMembershipAttack {
            attack: (*name).to_string(),
            auc: roc.auc,
            tpr_at_0_1_pct_fpr: at(0.001),
            tpr_at_1_pct_fpr: at(0.01),
            advantage: roc.advantage,
        });
        rocs.push((*name, roc));
    }
    Ok((
        RedTeamMembership {
            members: members.1.len() as u64,
            non_members: non_members.1.len() as u64,
            references: references.len() as u64,
            attacks,
        },
        rocs,
    ))
}

pub(crate) fn run(cli: &Cli, args: &RedteamArgs) -> Result<ExitStatus> {
    let started = Instant::now();
    let project = context::project_if_any(cli)?;
    let thresholds = thresholds(args, project.as_ref())?;
    for &eps in &args.eps {
        if !(eps.is_finite() && eps > 0.0) {
            anyhow::bail!("--eps {eps}: a perturbation budget is a positive number");
        }
    }
    if let Some(step) = args.step
        && !(step.is_finite() && step > 0.0)
    {
        anyhow::bail!("--step {step}: a step is a positive number");
    }
    if args.steps == 0 {
        anyhow::bail!("--steps 0: PGD needs at least one step");
    }
    if args.attacks.contains(&AttackKind::Square) && !(args.p_init > 0.0 && args.p_init <= 1.0) {
        anyhow::bail!("--p-init {}: a share of the image, in (0, 1]", args.p_init);
    }
    if args.iterations == Some(0) {
        anyhow::bail!("--iterations 0: the attacks need at least one iteration");
    }
    let data = match &args.data {
        Some(path) => Some(read_labelled(path, args, args.rows)?),
        None => None,
    };
    let sets = match (&args.members, &args.non_members) {
        (Some(m), Some(n)) => Some((read_labelled(m, args, None)?, read_labelled(n, args, None)?)),
        _ => None,
    };
    // Every table holds the model's input, so the same numeric columns.
    let tables = data
        .iter()
        .map(|(t, _)| t)
        .chain(sets.iter().flat_map(|(m, n)| [&m.0, &n.0]));
    let mut cols = None;
    for t in tables {
        match cols {
            Some(c) if c != t.cols => anyhow::bail!(
                "the tables have {c} and {} numeric columns: each holds the model's input",
                t.cols
            ),
            _ => cols = Some(t.cols),
        }
    }
    let cols =
        cols.ok_or_else(|| anyhow::anyhow!("give --data, or --members and --non-members"))?;
    let target = Target::resolve(
        &args.model,
        args.output.as_deref(),
        cols,
        &args.access,
        project.as_ref(),
    )?;
    if let Some(told) = target.told() {
        output::note(cli, &told);
    }
    if target.width < 2 {
        anyhow::bail!(
            "the output `{}` has {} column(s): the attacks need a classifier's class scores (name another with --output)",
            target.output_name,
            target.width
        );
    }
    if let Some(t) = args.target
        && t >= target.width
    {
        anyhow::bail!(
            "--target {t}: the output `{}` has {} classes (0 to {})",
            target.output_name,
            target.width,
            target.width - 1
        );
    }
    let plan = Plan {
        attacks: args
            .attacks
            .iter()
            .copied()
            .filter(|a| *a != AttackKind::None)
            .collect(),
        eps: args.eps.clone(),
        norm: match args.norm {
            NormArg::Inf => Norm::Inf,
            NormArg::L2 => Norm::L2,
        },
        steps: args.steps,
        step: args.step,
        restarts: args.restarts,
        target: args.target,
        clip: args.clip,
        gradients: args.gradients,
        seed: args.seed,
        time_budget: args.time_budget,
        started,
        iterations: args.iterations.unwrap_or(50),
        square_iterations: args.iterations.unwrap_or(1000),
        p_init: args.p_init,
        max_queries: args.max_queries,
    };
    let evasion = match &data {
        Some((x, labels)) if !plan.attacks.is_empty() => {
            let labels = class_indices(labels, &args.label, target.width)?;
            Some(evade(cli, &target, &x.data, &labels, &plan)?)
        }
        _ => None,
    };
    // The budgets, with those the thresholds name.
    let mut budgets = args.extract.clone();
    budgets.extend(thresholds.iter().filter_map(|(m, _, _)| match m {
        Measure::FidelityAt(n) => Some(*n),
        _ => None,
    }));
    budgets.sort_unstable();
    budgets.dedup();
    let extraction = match &data {
        Some((x, labels)) if !budgets.is_empty() => {
            let labels = class_indices(labels, &args.label, target.width)?;
            Some(extract(
                cli, &target, args, &plan, &x.data, &labels, &budgets,
            )?)
        }
        _ if !budgets.is_empty() => {
            anyhow::bail!(
                "--extract and fidelity-at-N need --data: the rows the copy is measured on"
            )
        }
        _ => None,
    };
    let poisoning = match (&args.train, &data) {
        (Some(train), Some((x, labels))) => {
            let labels = class_indices(labels, &args.label, target.width)?;
            Some(poison(cli, &target, args, &plan, train, &x.data, &labels)?)
        }
        _ => None,
    };
    let (membership, rocs) = match &sets {
        Some(((m, ml), (n, nl))) => {
            let references = args
                .reference
                .iter()
                .map(|path| {
                    let r = Target::open(path, Some(&target.output_name), cols)?;
                    if r.width != target.width {
                        anyhow::bail!(
                            "the reference `{}` gives {} classes, the model {}",
                            path.display(),
                            r.width,
                            target.width
                        );
                    }
                    Ok(r)
                })
                .collect::<Result<Vec<_>>>()?;
            let (ml, nl) = (
                class_indices(ml, &args.label, target.width)?,
                class_indices(nl, &args.label, target.width)?,
            );
            let (summary, rocs) =
                membership(&target, &references, (&m.data, &ml), (&n.data, &nl), cols)?;
            (Some(summary), rocs)
        }
        _ => (None, Vec::new()),
    };
    let predicate = verdict(
        &target.output_name,
        Findings {
            evasion,
            membership,
            extraction,
            poisoning,
        },
        &plan,
        &thresholds,
        target.queries(),
    );
    // The evidence's data subject: the attacked rows, else the members.
    let data_path = args.data.as_ref().or(args.members.as_ref());
    let evidence = match (&project, data_path) {
        (Some(project), Some(data)) => Some(record_model_data(project, &target, data, &predicate)?),
        _ => None,
    };
    if let Some(path) = &args.html {
        context::write_output(
            path,
            crate::report::redteam::page(&target.name, &predicate, &rocs).as_bytes(),
        )?;
    }
    if let Some(path) = &args.sarif {
        context::write_output(
            path,
            &crate::report::redteam::sarif(&target.name, &predicate)?,
        )?;
    }
    if cli.json {
        let mut value = serde_json::to_value(&predicate)?;
        output::insert(&mut value, "model", json!(target.name));
        output::insert(&mut value, "target", target.describe());
        output::insert(&mut value, "data", json!(args.data));
        output::insert(
            &mut value,
            "membership_roc",
            json!(
                rocs.iter()
                    .map(|(name, roc)| json!({"attack": name, "points": roc.points}))
                    .collect::<Vec<_>>()
            ),
        );
        output::insert(&mut value, "evidence", json!(evidence));
        output::json(&value)?;
    } else {
        print_text(&target.name, &predicate);
        if let Some(index) = evidence {
            output::note(cli, &format!("recorded as evidence #{index}"));
        }
    }
    Ok(if predicate.passed {
        ExitStatus::Success
    } else {
        ExitStatus::Failure
    })
}

fn pct(v: Option<f64>) -> String {
    v.map_or_else(|| "-".into(), |v| format!("{:.1}%", 100.0 * v))
}

fn size(v: Option<f64>) -> String {
    v.map_or_else(|| "-".into(), |v| format!("{v:.4}"))
}

fn print_text(model: &str, r: &RedTeam) {
    if let (Some(clean), Some(gradients)) = (r.clean_accuracy, &r.gradients) {
        outln!(
            "{model}: {} rows, clean accuracy {}; gradients {gradients}",
            r.rows,
            pct(Some(clean))
        );
        print_attacks(r);
    }
    if let Some(m) = &r.membership {
        outln!(
            "membership inference: {} members, {} non-members, {} reference model(s)",
            m.members,
            m.non_members,
            m.references
        );
        outln!(
            "{:<13} {:>7} {:>15} {:>13} {:>10}",
            "attack",
            "AUC",
            "TPR@0.1%FPR",
            "TPR@1%FPR",
            "advantage"
        );
        for a in &m.attacks {
            outln!(
                "{:<13} {:>7.4} {:>15} {:>13} {:>10.4}",
                a.attack,
                a.auc,
                pct(Some(a.tpr_at_0_1_pct_fpr)),
                pct(Some(a.tpr_at_1_pct_fpr)),
                a.advantage
            );
        }
    }
    if let Some(e) = &r.extraction {
        outln!(
            "extraction: copies ({}) trained on the model's classes for queries from {}, measured on {} rows",
            crate::report::redteam::trainer(e.hidden),
            e.source,
            e.rows
        );
        outln!("{:>9} {:>9} {:>9}", "queries", "fidelity", "accuracy");
        for p in &e.points {
            outln!(
                "{:>9} {:>9} {:>9}",
                p.queries,
                pct(Some(p.fidelity)),
                pct(Some(p.accuracy))
            );
        }
    }
    if let Some(p) = &r.poisoning {
        outln!(
            "poisoning: models ({}) retrained on {} training rows, measured on {} rows; clean: accuracy {}, triggered rows given class {}: {}",
            crate::report::redteam::trainer(p.hidden),
            p.train_rows,
            p.rows,
            pct(Some(p.clean_accuracy)),
            p.target,
            pct(Some(p.clean_backdoor_rate))
        );
        outln!(
            "{:>11} {:>6} {:>9} {:>9} {:>9} {:>9}",
            "poisoning",
            "rate",
            "rows",
            "accuracy",
            "drop",
            "backdoor"
        );
        for o in &p.outcomes {
            outln!(
                "{:>11} {:>6} {:>9} {:>9} {:>9} {:>9}",
                o.kind,
                o.rate,
                o.poisoned,
                pct(Some(o.accuracy)),
                pct(Some(o.accuracy_drop)),
                pct(o.backdoor_success)
            );
        }
    }
    let skipped = r.attacks.iter().filter(|a| a.skipped.is_some()).count();
    if skipped > 0 {
        outln!("FAIL {skipped} attack(s) skipped: the verdict was not reached");
    }
    for (what, why) in [
        (
            "extraction",
            r.extraction.as_ref().and_then(|e| e.skipped.as_ref()),
        ),
        (
            "poisoning",
            r.poisoning.as_ref().and_then(|p| p.skipped.as_ref()),
        ),
    ] {
        if let Some(why) = why {
            outln!("FAIL {what} stopped ({why}): the verdict was not reached");
        }
    }
    for b in &r.breaches {
        outln!(
            "FAIL {} {} {}: {}",
            b.metric,
            if b.bound == "at_least" { "≥" } else { "≤" },
            b.threshold,
            b.value.map_or_else(
                || "not measured (its attacks were not run, or skipped)".into(),
                |v| format!("{v:.4}")
            )
        );
    }
}

fn print_attacks(r: &RedTeam) {
    outln!(
        "{:<6} {:<4} {:>8} {:>6} {:>9} {:>9} {:>9} {:>9} {:>10} {:>8}",
        "attack",
        "norm",
        "eps",
        "steps",
        "attacked",
        "success",
        "robust",
        "med L∞",
        "med L2",
        "seconds"
    );
    for a in &r.attacks {
        if let Some(why) = &a.skipped {
            outln!("{:<6} {:<4} {:>8} skipped: {why}", a.attack, a.norm, a.eps);
            continue;
        }
        outln!(
            "{:<6} {:<4} {:>8} {:>6} {:>9} {:>9} {:>9} {:>9} {:>10} {:>8.2}",
            a.attack,
            a.norm,
            a.eps,
            a.steps,
            a.attacked,
            pct(a.success_rate),
            pct(a.robust_accuracy),
            size(a.median_linf),
            size(a.median_l2),
            a.seconds
        );
    }
}
