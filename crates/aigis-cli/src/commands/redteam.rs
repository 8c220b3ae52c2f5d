//! `aigis redteam MODEL --data D --label COL`: evasion attacks on labelled rows, their
//! success against the model itself, thresholds, evidence.

use std::path::Path;
use std::time::Instant;

use aigis_evidence::{RedTeam, RedTeamAttack, RedTeamBreach, RedTeamThreshold, Tool};
use aigis_monitor::detect::{self, Columns};
use aigis_redteam::evasion::{self, Estimated, Gradient, Norm, Settings};
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
}

impl Measure {
    const ALL: [(&'static str, Measure); 3] = [
        ("robust-accuracy", Measure::RobustAccuracy),
        ("clean-accuracy", Measure::CleanAccuracy),
        ("success-rate", Measure::SuccessRate),
    ];

    fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(_, m)| *m == self)
            .map_or("", |(n, _)| n)
    }
}

fn thresholds(args: &RedteamArgs) -> Result<Vec<(Measure, bool, f64)>> {
    let mut out = Vec::new();
    for (list, at_least, flag) in [
        (&args.fail_under, true, "--fail-under"),
        (&args.fail_over, false, "--fail-over"),
    ] {
        for text in list {
            let (metric, value) = text.split_once('=').ok_or_else(|| {
                crate::hinted(
                    format!("{flag} `{text}` is not METRIC=VALUE"),
                    "for example --fail-under robust-accuracy=0.6",
                )
            })?;
            let measure = Measure::ALL
                .iter()
                .find(|(n, _)| *n == metric.trim())
                .map(|(_, m)| *m)
                .ok_or_else(|| {
                    anyhow::anyhow!(
                        "{flag} `{text}`: no measure `{metric}`; the measures are {}",
                        Measure::ALL.map(|(n, _)| n).join(", ")
                    )
                })?;
            let value: f64 = value
                .trim()
                .parse()
                .ok()
                .filter(|v: &f64| v.is_finite())
                .ok_or_else(|| anyhow::anyhow!("{flag} `{text}`: `{value}` is not a number"))?;
            out.push((measure, at_least, value));
        }
    }
    Ok(out)
}

/// The gradients the attacks use, and why they are estimated when they are.
enum Source {
    Exact(Graph),
    Estimated(String),
}

fn gradients(target: &Target, model: &Path, wanted: GradientsArg, cols: usize) -> Result<Source> {
    if wanted == GradientsArg::Estimated {
        return Ok(Source::Estimated(
            "asked for (--gradients estimated)".into(),
        ));
    }
    let graph = aigis_runtime::onnx::read_proto(&target.bytes)
        .map_err(|e| e.to_string())
        .and_then(|proto| {
            Graph::from_onnx(&proto, Some(target.model.input()), &target.output_name)
                .map_err(|u| format!("its graph uses what is not differentiated here: {u}"))
        })
        .and_then(|g| {
            if g.features() == cols {
                Ok(g)
            } else {
                Err(format!(
                    "its graph takes {} numbers per row, the data has {cols}",
                    g.features()
                ))
            }
        });
    match (graph, wanted) {
        (Ok(g), _) => Ok(Source::Exact(g)),
        (Err(why), GradientsArg::Exact) => anyhow::bail!(
            "--gradients exact: the model `{}` cannot be differentiated: {why}",
            model.display()
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
}

/// Runs `plan` against `target` on `x` (complete rows of the model's input) whose
/// classes are `labels`, and checks `thresholds`: the run as its evidence says it.
pub(crate) fn assess(
    cli: &Cli,
    target: &Target,
    model: &Path,
    x: &[f64],
    labels: &[usize],
    plan: &Plan,
    thresholds: &[(Measure, bool, f64)],
) -> Result<RedTeam> {
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

    let source = gradients(target, model, plan.gradients, cols)?;
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
    let started = Instant::now();
    let bar = output::progress(cli, runs.len() as u64, "attacking");
    let mut results = Vec::new();
    for &(kind, eps) in &runs {
        let settings = match kind {
            AttackKind::Fgsm => Settings {
                target: plan.target,
                clip: plan.clip,
                seed: plan.seed,
                ..Settings::fgsm(eps, norm)
            },
            AttackKind::Pgd => Settings {
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
            AttackKind::Pgd => "pgd",
        };
        let mut record = RedTeamAttack {
            attack: name.into(),
            norm: match norm {
                Norm::Inf => "inf".into(),
                Norm::L2 => "l2".into(),
            },
            eps,
            step: settings.step,
            steps: settings.steps as u64,
            restarts: settings.restarts as u64,
            target: settings.target.map(|t| t as u64),
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
        };
        if let Some(budget) = plan.time_budget
            && started.elapsed().as_secs_f64() >= budget
        {
            record.skipped = Some(format!("the time budget of {budget} s was spent"));
            results.push(record);
            bar.inc(1);
            continue;
        }
        let t = Instant::now();
        let attacked = evasion::attack(gradient, &judge, x, rows, cols, labels, &settings)
            .with_context(|| format!("{name} at eps {eps}"))?;
        // The attack's own time, as ART's `generate` is timed: the judging below is not in it.
        record.seconds = t.elapsed().as_secs_f64();
        let after = judge(&attacked.rows, rows).map_err(anyhow::Error::msg)?;
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
        record.attacked = o.attacked as u64;
        record.succeeded = o.succeeded as u64;
        record.success_rate = o.success_rate;
        record.robust_accuracy = Some(o.robust_accuracy);
        record.median_linf = o.median_linf;
        record.median_l2 = o.median_l2;
        record.gradients_per_row = attacked.gradients_per_row as u64;
        record.queries_per_row = attacked.queries_per_row as u64 + 1;
        results.push(record);
        bar.inc(1);
    }
    bar.finish_and_clear();

    let measured = |m: Measure| -> Option<f64> {
        let done = || results.iter().filter(|r| r.skipped.is_none());
        let skipped = results.iter().any(|r| r.skipped.is_some());
        match m {
            Measure::CleanAccuracy => Some(clean_accuracy),
            _ if skipped => None,
            Measure::RobustAccuracy => done()
                .filter_map(|r| r.robust_accuracy)
                .min_by(f64::total_cmp),
            Measure::SuccessRate => done().filter_map(|r| r.success_rate).max_by(f64::total_cmp),
        }
    };
    let bound = |at_least: bool| if at_least { "at_least" } else { "at_most" };
    let breaches: Vec<RedTeamBreach> = thresholds
        .iter()
        .filter_map(|&(m, at_least, value)| {
            let v = measured(m);
            let ok = v.is_some_and(|v| if at_least { v >= value } else { v <= value });
            (!ok).then(|| RedTeamBreach {
                metric: m.name().into(),
                bound: bound(at_least).into(),
                threshold: value,
                value: v,
            })
        })
        .collect();
    let predicate = RedTeam {
        output: target.output_name.clone(),
        rows: rows as u64,
        clean_accuracy,
        gradients: if note.is_some() { "estimated" } else { "exact" }.into(),
        gradients_note: note.clone(),
        clip: plan.clip.map(|(lo, hi)| [lo, hi]),
        seed: plan.seed,
        attacks: results,
        thresholds: thresholds
            .iter()
            .map(|&(m, at_least, value)| RedTeamThreshold {
                metric: m.name().into(),
                bound: bound(at_least).into(),
                value,
            })
            .collect(),
        breaches,
        passed: false,
        tool: Tool::current(),
    };
    // A run that skipped an attack has not reached its verdict: it does not pass.
    Ok(RedTeam {
        passed: predicate.breaches.is_empty()
            && predicate.attacks.iter().all(|a| a.skipped.is_none()),
        ..predicate
    })
}

pub(crate) fn run(cli: &Cli, args: &RedteamArgs) -> Result<ExitStatus> {
    let thresholds = thresholds(args)?;
    let (format, read) = read_options(&args.read)?;
    let mut data = detect::read_matrix(
        &args.data,
        &Columns {
            names: None,
            label: Some(&args.label),
            text_is_missing: false,
        },
        format,
        &read,
    )
    .with_context(|| format!("reading `{}`", args.data.display()))?;
    let mut labels = label_column(&args.data, &args.label, &args.read)?;
    if let Some(n) = args.rows {
        data.rows = data.rows.min(n);
        data.data.truncate(data.rows * data.cols);
        labels.truncate(data.rows);
    }
    let (rows, cols) = (data.rows, data.cols);
    if rows == 0 || cols == 0 {
        anyhow::bail!("`{}` has no row of numbers to attack", args.data.display());
    }
    if let Some(i) = data.data.iter().position(|v| !v.is_finite()) {
        anyhow::bail!(
            "row {} of `{}` holds a value that is not a finite number: every attacked row must be complete (fill or drop it)",
            i / cols + 1,
            args.data.display()
        );
    }
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
    let target = Target::open(&args.model, args.output.as_deref(), cols)?;
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
    let labels = class_indices(&labels, &args.label, target.width)?;
    let project = context::project_if_any(cli)?;
    let plan = Plan {
        attacks: args.attacks.clone(),
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
    };
    let predicate = assess(
        cli,
        &target,
        &args.model,
        &data.data,
        &labels,
        &plan,
        &thresholds,
    )?;
    let evidence = match &project {
        Some(project) => Some(record_model_data(
            project,
            &args.model,
            &args.data,
            &predicate,
        )?),
        None => None,
    };
    if cli.json {
        let mut value = serde_json::to_value(&predicate)?;
        output::insert(&mut value, "model", json!(args.model));
        output::insert(&mut value, "data", json!(args.data));
        output::insert(&mut value, "evidence", json!(evidence));
        output::json(&value)?;
    } else {
        print_text(&args.model, &predicate);
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

fn print_text(model: &Path, r: &RedTeam) {
    outln!(
        "{}: {} rows, clean accuracy {}; gradients {}",
        model.display(),
        r.rows,
        pct(Some(r.clean_accuracy)),
        r.gradients
    );
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
    for b in &r.breaches {
        outln!(
            "FAIL {} {} {}: {}",
            b.metric,
            if b.bound == "at_least" { "≥" } else { "≤" },
            b.threshold,
            b.value.map_or_else(
                || "not measured (an attack was skipped)".into(),
                |v| format!("{v:.4}")
            )
        );
    }
}
