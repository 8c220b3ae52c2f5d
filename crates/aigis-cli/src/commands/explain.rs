//! `aigis explain MODEL --data D`: Shapley values of chosen rows' answers and
//! permutation importance, asking the model about rows only.

use std::path::Path;

use aigis_evidence::{Explanation, LimeSummary, PermutationImportance, Tool};
use aigis_monitor::detect::{self, Columns, Matrix};
use aigis_redteam::explain::{self, Background, Importance, Scorer, Shap};
use anyhow::{Context as _, Result};
use serde_json::json;

use crate::cli::{Cli, ExplainArgs};
use crate::commands::data::scan::read_options;
use crate::commands::target::{Target, class_indices, label_column, record_model_data};
use crate::{context, output};

/// Rows explained by default.
const DEFAULT_ROWS: usize = 5;

/// Accuracy (argmax against class indices) or R² of the target on labelled rows.
struct Scored<'a> {
    target: &'a Target,
    labels: &'a [f64],
    cols: usize,
}

impl Scorer for Scored<'_> {
    fn score(&self, rows: &[f64], n: usize) -> Result<f64, String> {
        let (out, k) = self.target.answers(rows, n, self.cols)?;
        if k <= 1 {
            let mean = self.labels.iter().sum::<f64>() / n as f64;
            let (mut ss_res, mut ss_tot) = (0.0, 0.0);
            for (p, y) in out.iter().zip(self.labels) {
                ss_res += (y - p) * (y - p);
                ss_tot += (y - mean) * (y - mean);
            }
            return Ok(if ss_tot > 0.0 {
                1.0 - ss_res / ss_tot
            } else {
                0.0
            });
        }
        let right = out
            .chunks(k)
            .zip(self.labels)
            .filter(|(p, y)| {
                p.iter()
                    .enumerate()
                    .max_by(|a, b| a.1.total_cmp(b.1))
                    .is_some_and(|(c, _)| c as f64 == **y)
            })
            .count();
        Ok(right as f64 / n as f64)
    }
}

fn read(path: &Path, label: Option<&str>, args: &ExplainArgs) -> Result<Matrix> {
    let (format, read) = read_options(&args.read)?;
    let columns = Columns {
        names: None,
        label,
        text_is_missing: false,
    };
    detect::read_matrix(path, &columns, format, &read)
        .with_context(|| format!("reading `{}`", path.display()))
}

pub(crate) fn run(cli: &Cli, args: &ExplainArgs) -> Result<()> {
    let data = read(&args.data, args.label.as_deref(), args)?;
    let (n, cols) = (data.rows, data.cols);
    if n == 0 || cols == 0 {
        anyhow::bail!("`{}` has no row of numbers to explain", args.data.display());
    }
    let project = context::project_if_any(cli)?;
    let mut target = Target::resolve(
        &args.model,
        args.output.as_deref(),
        cols,
        &args.access,
        project.as_ref(),
    )?;
    if let Some(told) = target.told() {
        output::note(cli, &told);
    }
    if let Some(c) = args.class
        && c >= target.width.max(1)
    {
        anyhow::bail!(
            "--class {c}: the output `{}` has {} column(s)",
            target.output_name,
            target.width
        );
    }
    let background_data = match &args.background {
        Some(path) => {
            let b = read(path, args.label.as_deref(), args)?;
            if b.names != data.names {
                anyhow::bail!(
                    "the background `{}` has other columns than the data ({} against {})",
                    path.display(),
                    b.names.join(","),
                    data.names.join(",")
                );
            }
            b
        }
        None => data.clone(),
    };
    let background = Background::summarize(
        &background_data.data,
        background_data.rows,
        cols,
        args.background_size,
        args.seed,
    )?;
    let rows: Vec<usize> = args
        .rows
        .clone()
        .unwrap_or_else(|| (0..n.min(DEFAULT_ROWS)).collect());
    if let Some(&bad) = rows.iter().find(|&&r| r >= n) {
        anyhow::bail!("--rows {bad}: the data has {n} rows (0 to {})", n - 1);
    }
    // The model's answers from its differentiated graph when it has one that answers as
    // the runtime does (the rows explained are the model's answers either way).
    let evaluated_by = match target.answer_by_graph(&data.data, cols) {
        Ok(()) => "graph".to_owned(),
        Err(why) => format!("runtime ({why})"),
    };
    let bins = if args.lime {
        Some(
            aigis_redteam::lime::Bins::fit(&background_data.data, background_data.rows, cols)
                .context("LIME's bins of the background")?,
        )
    } else {
        None
    };
    let bar = output::progress(cli, rows.len() as u64, "explaining rows");
    let mut explained: Vec<(usize, usize, Shap)> = Vec::new();
    let mut limes: Vec<Option<aigis_redteam::lime::Explanation>> = Vec::new();
    for &r in &rows {
        let x = data.row(r).to_vec();
        let (answer, _) = target.run(&x, 1, cols)?;
        let column = target.column_of(&answer, args.class);
        let width = target.width.max(1);
        let f = |rows: &[f64], m: usize| -> Result<Vec<f64>, String> {
            let (out, _) = target.answers(rows, m, cols)?;
            Ok(explain::column(&out, width, column))
        };
        let shap = explain::kernel_shap(&f, &x, &background, args.samples, args.seed)
            .with_context(|| format!("explaining row {r}"))?;
        explained.push((r, column, shap));
        limes.push(match &bins {
            Some(bins) => {
                let settings = aigis_redteam::lime::Settings {
                    samples: args.lime_samples,
                    features: args.top.max(1),
                    seed: args.seed,
                };
                Some(
                    aigis_redteam::lime::explain(&f, &x, bins, &settings)
                        .with_context(|| format!("LIME of row {r}"))?,
                )
            }
            None => None,
        });
        bar.inc(1);
    }
    bar.finish_and_clear();
    let permutation = match &args.label {
        Some(label) => {
            let y = label_column(&args.data, label, &args.read)?;
            if let Some(i) = data.data.iter().position(|v| !v.is_finite()) {
                anyhow::bail!(
                    "row {} of `{}` holds a value that is not a finite number: permutation importance scores every row (fill or drop it)",
                    i / cols + 1,
                    args.data.display()
                );
            }
            if target.width > 1 {
                class_indices(&y, label, target.width)?;
            }
            let scorer = Scored {
                target: &target,
                labels: &y,
                cols,
            };
            let (score, importance) = explain::permutation_importance(
                &scorer,
                &data.data,
                n,
                cols,
                args.repeats,
                args.seed,
            )?;
            Some((score, importance))
        }
        None => None,
    };
    let metric = if target.width > 1 { "accuracy" } else { "r2" };
    let method = if cols <= explain::EXACT_FEATURES {
        "exact"
    } else {
        "kernel_shap"
    };
    let samples = (cols > explain::EXACT_FEATURES).then(|| args.samples.unwrap_or(2 * cols + 2048));
    let mean_abs: Vec<f64> = (0..cols)
        .map(|j| {
            explained
                .iter()
                .map(|(_, _, s)| s.values.get(j).copied().unwrap_or(0.0).abs())
                .sum::<f64>()
                / explained.len().max(1) as f64
        })
        .collect();
    let evidence = match &project {
        Some(project) => {
            let predicate = Explanation {
                output: target.output_name.clone(),
                features: data.names.clone(),
                explained_rows: explained.len() as u64,
                background: background.weights.len() as u64,
                background_from: background_data.rows as u64,
                method: method.into(),
                samples: samples.map(|s| s as u64),
                seed: args.seed,
                mean_abs_shap: mean_abs.clone(),
                permutation: permutation
                    .as_ref()
                    .map(|(score, imp)| PermutationImportance {
                        metric: metric.into(),
                        score: *score,
                        rows: n as u64,
                        repeats: args.repeats as u64,
                        mean: imp.iter().map(|i| i.mean).collect(),
                        std: imp.iter().map(|i| i.std).collect(),
                    }),
                lime: args.lime.then(|| {
                    let done: Vec<&aigis_redteam::lime::Explanation> =
                        limes.iter().flatten().collect();
                    let rows = done.len().max(1) as f64;
                    let mut mean_abs_weight = vec![0.0; cols];
                    for l in &done {
                        for &(j, w) in &l.weights {
                            if let Some(m) = mean_abs_weight.get_mut(j) {
                                *m += w.abs() / rows;
                            }
                        }
                    }
                    LimeSummary {
                        samples: args.lime_samples as u64,
                        features: args.top.max(1) as u64,
                        mean_abs_weight,
                        mean_score: done.iter().map(|l| l.score).sum::<f64>() / rows,
                    }
                }),
                tool: Tool::current(),
            };
            Some(record_model_data(project, &target, &args.data, &predicate)?)
        }
        None => None,
    };
    if let Some(path) = &args.html {
        let page = crate::report::explain::Page {
            model: &target.name,
            output: &target.output_name,
            names: &data.names,
            rows: explained
                .iter()
                .zip(&limes)
                .map(|((r, c, s), l)| crate::report::explain::Row {
                    row: *r,
                    column: *c,
                    shap: s,
                    lime: l
                        .as_ref()
                        .zip(bins.as_ref())
                        .map(|(l, b)| (l, b.describe(data.row(*r), &data.names))),
                })
                .collect(),
            permutation: permutation
                .as_ref()
                .map(|(score, imp)| (*score, metric, imp.as_slice())),
            top: args.top.max(1),
            evaluated_by: &evaluated_by,
        };
        context::write_output(path, crate::report::explain::page(&page).as_bytes())?;
    }
    if cli.json {
        let value = json!({
            "model": target.name,
            "target": target.describe(),
            "data": args.data,
            "queries": target.queries(),
            "evaluated_by": evaluated_by,
            "output": target.output_name,
            "features": data.names,
            "method": method,
            "samples": samples,
            "background": { "rows": background.weights.len(), "from": background_data.rows },
            "rows": explained.iter().zip(&limes).map(|((r, c, s), l)| json!({
                "row": r,
                "column": c,
                "value": s.value,
                "base_value": s.base_value,
                "shap": s.values,
                "exact": s.exact,
                "coalitions": s.coalitions,
                "model_rows": s.model_rows,
                "lime": l.as_ref().map(|l| {
                    let conditions = bins
                        .as_ref()
                        .map(|b| b.describe(data.row(*r), &data.names))
                        .unwrap_or_default();
                    json!({
                        "weights": l.weights.iter().map(|&(j, w)| json!({
                            "feature": data.names.get(j),
                            "condition": conditions.get(j),
                            "weight": w,
                        })).collect::<Vec<_>>(),
                        "intercept": l.intercept,
                        "score": l.score,
                        "local_prediction": l.local_prediction,
                        "samples": args.lime_samples,
                    })
                }),
            })).collect::<Vec<_>>(),
            "mean_abs_shap": mean_abs,
            "permutation": permutation.as_ref().map(|(score, imp)| json!({
                "metric": metric,
                "score": score,
                "repeats": args.repeats,
                "importances": imp,
            })),
            "evidence": evidence,
        });
        output::json(&value)?;
    } else {
        print_text(
            &target,
            &data,
            bins.as_ref(),
            &limes,
            &explained,
            permutation.as_ref(),
            metric,
            args,
        );
        if let Some(index) = evidence {
            output::note(cli, &format!("recorded as evidence #{index}"));
        }
    }
    Ok(())
}

#[allow(
    clippy::too_many_arguments,
    reason = "the text of one run, each part named"
)]
fn print_text(
    target: &Target,
    data: &aigis_monitor::detect::Matrix,
    bins: Option<&aigis_redteam::lime::Bins>,
    limes: &[Option<aigis_redteam::lime::Explanation>],
    explained: &[(usize, usize, Shap)],
    permutation: Option<&(f64, Vec<Importance>)>,
    metric: &str,
    args: &ExplainArgs,
) {
    let names = &data.names;
    for ((r, column, s), lime) in explained.iter().zip(limes) {
        let what = if target.width > 1 {
            format!("{}[{column}]", target.output_name)
        } else {
            target.output_name.clone()
        };
        outln!(
            "row {r}: {what} = {:.4}, {:.4} over the background; {} ({} coalitions)",
            s.value,
            s.base_value,
            if s.exact {
                "exact Shapley values"
            } else {
                "KernelSHAP, sampled"
            },
            s.coalitions
        );
        let mut order: Vec<usize> = (0..s.values.len()).collect();
        order.sort_by(|&a, &b| {
            let (x, y) = (
                s.values.get(a).copied().unwrap_or(0.0),
                s.values.get(b).copied().unwrap_or(0.0),
            );
            y.abs().total_cmp(&x.abs())
        });
        for &j in order.iter().take(args.top) {
            outln!(
                "  {:<24} {:+.4}",
                names.get(j).map_or("", String::as_str),
                s.values.get(j).copied().unwrap_or(0.0)
            );
        }
        if let (Some(l), Some(bins)) = (lime, bins) {
            let conditions = bins.describe(data.row(*r), names);
            outln!(
                "  LIME ({} neighbours; local model R² {:.3}, its answer {:.4}):",
                args.lime_samples,
                l.score,
                l.local_prediction
            );
            for &(j, w) in &l.weights {
                outln!(
                    "    {:<32} {:+.4}",
                    conditions.get(j).map_or("", String::as_str),
                    w
                );
            }
        }
    }
    if let Some((score, importance)) = permutation {
        outln!();
        outln!(
            "permutation importance: {metric} {score:.4} on the rows as they are; its drop with each feature shuffled ({} times)",
            args.repeats
        );
        let mut order: Vec<usize> = (0..importance.len()).collect();
        order.sort_by(|&a, &b| {
            let (x, y) = (
                importance.get(a).map_or(0.0, |i| i.mean),
                importance.get(b).map_or(0.0, |i| i.mean),
            );
            y.total_cmp(&x)
        });
        for &j in order.iter().take(args.top) {
            if let Some(i) = importance.get(j) {
                outln!(
                    "  {:<24} {:+.4} ± {:.4}",
                    names.get(j).map_or("", String::as_str),
                    i.mean,
                    i.std
                );
            }
        }
    }
}
