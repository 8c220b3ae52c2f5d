//! `aigis train DATA --label COL -o model.onnx`: a classifier trained on a table, written
//! as ONNX; with `--dp`, by DP-SGD, with the ε it spent.

mod budget;

use std::path::Path;

use aigis_core::Digest;
use aigis_evidence::{Tool, Training, TrainingAdversarial, TrainingManifest, TrainingPrivacy};
use aigis_train::dpsgd::{self, Bounds};
use aigis_train::mlp::{self, Mlp, Settings};
use aigis_train::partition;
use aigis_train::privacy::Mechanism;
use anyhow::{Context as _, Result, bail};

use crate::cli::{Cli, ReadArgs, TrainArgs, TrainModel};
use crate::commands::target::label_column;
use crate::{context, output};

pub(crate) fn run(cli: &Cli, args: &TrainArgs) -> Result<()> {
    execute(cli, args, true).map(|_| ())
}

/// Trains, writes the model and records the run; prints the report when `print` (as
/// `--json` asks), and returns it as JSON (what `--json` prints) either way.
pub(crate) fn execute(cli: &Cli, args: &TrainArgs, print: bool) -> Result<serde_json::Value> {
    let project = context::project_if_any(cli)?;
    if let Some(p) = &project {
        context::require_role(p, &context::signing_key(p)?, "trainer", "training a model")?;
    }
    let data_digest = aigis_crypto::sha256_file(&args.data)
        .with_context(|| format!("reading `{}`", args.data.display()))?;
    let budget = match &project {
        Some(p) => budget::of(p, &args.data, &data_digest)?,
        None => None,
    };
    let manifest = signed_manifest(cli, project.as_ref(), args)?;
    if let Some(b) = &budget
        && !args.dp
    {
        return Err(crate::failed(format!(
            "`{}` is under the privacy budget `{}` of aigis.toml ({} left): training it without --dp would spend an unbounded ε",
            args.data.display(),
            b.dataset,
            b.left()
        )));
    }
    let table = read_labelled(cli, &args.data, &args.label, &args.read)?;
    let values = table.values.clone();
    let (rows, cols) = (table.rows, table.cols);
    // The classes: the ones given (public: a DP model's shape must not come from the
    // rows), or the label's distinct values; sorted either way.
    let mut classes: Vec<f64> = match &args.classes {
        Some(given) => {
            if let Some(c) = given.iter().find(|c| !c.is_finite() || c.fract() != 0.0) {
                bail!("--classes: {c} is not a class code (a whole number)");
            }
            given.iter().map(|c| c + 0.0).collect()
        }
        None if args.dp => bail!(
            "--dp needs the label's classes given (--classes 0,1,...): read from the rows, the model's classes would tell whether a rare class is in the data, outside the guarantee"
        ),
        None => values.clone(),
    };
    classes.sort_by(f64::total_cmp);
    classes.dedup();
    if args.classes.is_some() {
        if classes.len() < 2 {
            bail!("--classes names one class: a classifier needs two");
        }
        if let Some((i, v)) = values
            .iter()
            .enumerate()
            .find(|(_, v)| classes.binary_search_by(|c| c.total_cmp(v)).is_err())
        {
            bail!(
                "the label `{}` is {v} at row {}, which is not one of --classes",
                args.label,
                i + 1
            );
        }
    }
    if classes.len() < 2 {
        bail!(
            "the label `{}` has one value ({}) in every row: there is nothing to learn",
            args.label,
            classes.first().copied().unwrap_or(f64::NAN)
        );
    }
    if args.model == TrainModel::Logistic && classes.len() != 2 {
        bail!(
            "--model logistic is for two classes; the label `{}` has {} (use --model softmax)",
            args.label,
            classes.len()
        );
    }
    let y: Vec<usize> = values
        .iter()
        .map(|v| classes.partition_point(|c| c < v))
        .collect();
    let hidden = match (args.model, args.hidden) {
        (TrainModel::Mlp, Some(0)) => {
            bail!("--hidden 0: an mlp needs hidden units (use --model softmax for none)")
        }
        (TrainModel::Mlp, h) => h.unwrap_or(100),
        (_, Some(h)) => bail!(
            "--hidden {h} is for --model mlp; a {} regression has no hidden layer",
            if args.model == TrainModel::Logistic {
                "logistic"
            } else {
                "softmax"
            }
        ),
        (_, None) => 0,
    };
    let learning_rate = args
        .learning_rate
        .unwrap_or(if args.dp { 0.01 } else { 1e-3 });
    let numbers = learning_rate > 0.0
        && learning_rate.is_finite()
        && args.alpha >= 0.0
        && args.alpha.is_finite();
    if !numbers {
        bail!("--learning-rate must be positive and --alpha at least 0");
    }
    let epochs = args.epochs.unwrap_or(if args.dp { 30 } else { 200 });
    if epochs == 0 {
        bail!("--epochs 0: train for at least one epoch");
    }
    let adversarial = args.adversarial_eps.map(|eps| mlp::Adversarial {
        eps,
        steps: args.adversarial_steps,
        step_size: args.adversarial_step_size.unwrap_or(eps / 4.0),
        clip: args.clip,
        trades: args.trades_beta,
    });
    let training_seconds;
    let (mut model, private) = if args.dp {
        let bounds = bounds(&args.bounds, &table.names, "--dp")?;
        let (model, private) = train_dp(
            cli,
            args,
            budget.as_ref(),
            &table.data,
            rows,
            &y,
            classes.len(),
            &bounds,
            hidden,
            learning_rate,
            epochs,
        )?;
        training_seconds = private.seconds.1;
        (Trained::one(&model, &table.data, rows)?, Some(private))
    } else {
        let settings = Settings {
            hidden,
            alpha: args.alpha,
            learning_rate,
            max_epochs: epochs,
            seed: args.seed,
            validation_fraction: args.validation_fraction,
            adversarial: adversarial.clone(),
            ..Settings::default()
        };
        if let Some(k) = args.partitions {
            let bar = output::progress(cli, k as u64, "training the partitions' models");
            let started = std::time::Instant::now();
            let trained = partition::train(
                &table.data,
                rows,
                &y,
                &values,
                classes.len(),
                k,
                &settings,
                &mut |i| bar.set_position(i as u64),
            );
            training_seconds = started.elapsed().as_secs_f64();
            bar.finish_and_clear();
            let (members, sizes) = trained?;
            let votes = votes_of(&members, &table.data, rows, classes.len())?;
            let predicted: Vec<usize> = votes.iter().map(|v| partition::certificate(v).0).collect();
            let bytes = partition::to_onnx(&members, "aigis", env!("CARGO_PKG_VERSION"))?;
            let epochs_run = members.iter().map(|m| m.epochs).max().unwrap_or(0);
            (
                Trained {
                    predicted,
                    bytes,
                    epochs: epochs_run,
                    validation_accuracy: None,
                    partitions: Some(sizes),
                },
                None,
            )
        } else {
            let bar = output::progress(cli, 0, "training");
            let started = std::time::Instant::now();
            let model = match args.distill_temperature {
                Some(t) => mlp::distill(&table.data, rows, &y, classes.len(), &settings, t),
                None => mlp::train(&table.data, rows, &y, classes.len(), &settings),
            };
            training_seconds = started.elapsed().as_secs_f64();
            bar.finish_and_clear();
            let model = model?;
            if model.epochs >= epochs {
                output::note(
                    cli,
                    &format!(
                        "training stopped at --epochs {epochs} before its loss settled: more epochs (or a larger --learning-rate) may fit better"
                    ),
                );
            }
            (Trained::one(&model, &table.data, rows)?, None)
        }
    };
    let right = model
        .predicted
        .iter()
        .zip(&y)
        .filter(|(p, t)| p == t)
        .count();
    let accuracy = right as f64 / rows as f64;
    let bytes = std::mem::take(&mut model.bytes);
    let digest = Digest::of(&bytes);
    let model_name = match args.model {
        TrainModel::Mlp => "mlp",
        TrainModel::Softmax => "softmax",
        TrainModel::Logistic => "logistic",
    };
    // Recorded before the model is written: a run the ledger does not know of must not
    // leave a model (its ε would not be charged to its budget).
    let evidence = match &project {
        Some(p) => {
            let predicate = Training {
                model: model_name.to_owned(),
                rows: rows as u64,
                features: table.names.clone(),
                label: args.label.clone(),
                classes: classes.clone(),
                hidden: hidden as u64,
                epochs: model.epochs as u64,
                learning_rate,
                alpha: args.alpha,
                seed: args.seed,
                training_accuracy: accuracy,
                validation_fraction: args.validation_fraction,
                validation_accuracy: model.validation_accuracy,
                data_manifest: manifest.clone(),
                distillation_temperature: args.distill_temperature,
                partitions: model
                    .partitions
                    .as_ref()
                    .map(|p| p.iter().map(|&n| n as u64).collect()),
                adversarial: adversarial.as_ref().map(|a| TrainingAdversarial {
                    method: if a.trades.is_some() { "trades" } else { "pgd" }.to_owned(),
                    beta: a.trades,
                    norm: "linf".to_owned(),
                    eps: a.eps,
                    steps: a.steps as u64,
                    step_size: a.step_size,
                    clip: a.clip.map(|(lo, hi)| [lo, hi]),
                }),
                dp: private.as_ref().map(|p| p.evidence(budget.as_ref())),
                tool: Tool::current(),
            };
            let subjects = vec![
                (format!("data:{}", args.data.display()), data_digest),
                (format!("model:{}", args.output.display()), digest),
            ];
            Some(p.record(&context::signing_key(p)?, subjects, &predicate)?)
        }
        None => None,
    };
    aigis_crypto::fs::write_atomic(&args.output, &bytes, 0o644)
        .with_context(|| format!("writing `{}`", args.output.display()))?;
    let report = serde_json::json!({
            "model": model_name,
            "output": args.output,
            "sha256": digest.to_string(),
            "rows": rows,
            "features": table.names,
            "classes": classes,
            "hidden": hidden,
            "epochs": model.epochs,
            "learning_rate": learning_rate,
            "training_accuracy": accuracy,
            "validation_fraction": args.validation_fraction,
            "validation_accuracy": model.validation_accuracy,
            "seed": args.seed,
            "dp": private.as_ref().map(Private::json),
            "budget": budget.as_ref().map(|b| serde_json::json!({
                "dataset": b.dataset,
                "epsilon": b.epsilon,
                "delta": b.delta,
                "spent_before": {"epsilon": b.spent_epsilon, "delta": b.spent_delta, "runs": b.runs},
                "spent": {
                    "epsilon": b.spent_epsilon + private.as_ref().map_or(0.0, |p| p.spent.epsilon),
                    "delta": b.spent_delta + private.as_ref().map_or(0.0, |p| p.delta),
                },
            })),
            "evidence": evidence,
            "data_manifest": manifest,
            "partitions": model.partitions,
            "distillation_temperature": args.distill_temperature,
            "adversarial": adversarial.as_ref().map(|a| serde_json::json!({
                "method": if a.trades.is_some() { "trades" } else { "pgd" },
                "beta": a.trades, "norm": "linf", "eps": a.eps, "steps": a.steps,
                "step_size": a.step_size, "clip": a.clip.map(|(lo, hi)| [lo, hi]),
            })),
            "seconds": {
                "training": training_seconds,
                "accounting": private.as_ref().map(|p| p.seconds.0),
            },
    });
    if !print {
        return Ok(report);
    }
    if cli.json {
        output::json(&report)?;
        return Ok(report);
    }
    outln!(
        "wrote `{}` ({model_name}, {} features, {} classes, {hidden} hidden units; {digest})",
        args.output.display(),
        cols,
        classes.len(),
    );
    match &private {
        None => {
            outln!(
                "  {rows} rows, {} epochs, training accuracy {:.4}",
                model.epochs,
                accuracy
            );
            if let (Some(f), Some(v)) = (args.validation_fraction, model.validation_accuracy) {
                outln!(
                    "  stopped on a held-out {:.0} % of the rows: their accuracy {v:.4} at the epoch kept",
                    f * 100.0
                );
            }
        }
        Some(p) => {
            outln!(
                "  DP-SGD: ε = {:.4} at δ = {:e} ({}{})",
                p.spent.epsilon,
                p.delta,
                p.spent.accountant.to_uppercase(),
                match (p.spent.accountant, p.spent.rdp, p.spent.pld) {
                    ("pld", Some(r), _) => format!("; RDP {r:.4}"),
                    ("rdp", _, Some(l)) => format!("; PLD {l:.4}"),
                    _ => String::new(),
                }
            );
            outln!(
                "  noise multiplier {}, clipping norm {}, {} steps of Poisson batches (q = {:.6}, expected {:.1} of {rows} rows)",
                p.mechanism.noise_multiplier,
                p.max_grad_norm,
                p.mechanism.steps,
                p.mechanism.sampling_rate,
                p.mechanism.sampling_rate * rows as f64
            );
            outln!(
                "  training accuracy {accuracy:.4} (measured on the training rows, outside the guarantee)"
            );
            if let Some(b) = &budget {
                let after = budget::Budget {
                    spent_epsilon: b.spent_epsilon + p.spent.epsilon,
                    spent_delta: b.spent_delta + p.delta,
                    runs: b.runs + 1,
                    ..b.clone()
                };
                outln!(
                    "  charged to the privacy budget `{}` (ε ≤ {}, δ ≤ {:e}): {} left after {} run(s)",
                    b.dataset,
                    b.epsilon,
                    b.delta,
                    after.left(),
                    after.runs
                );
            }
        }
    }
    let shown: Vec<String> = classes
        .iter()
        .enumerate()
        .map(|(i, c)| format!("{i} = {c}"))
        .collect();
    outln!("  class indices: {}", shown.join(", "));
    if let Some(p) = &model.partitions {
        outln!(
            "  a majority vote of {} models, one per partition of the rows ({} to {} rows each): `aigis certify` gives each prediction's certificate",
            p.len(),
            p.iter().min().unwrap_or(&0),
            p.iter().max().unwrap_or(&0)
        );
    }
    if let Some(m) = &manifest {
        outln!(
            "  the table matches its signed manifest (root {}, evidence #{}, key {})",
            m.root,
            m.evidence,
            m.signed_by
        );
    }
    if let Some(index) = evidence {
        outln!("  evidence #{index} in the ledger");
    }
    Ok(report)
}

/// What was trained: its answers on the training rows and its ONNX bytes.
struct Trained {
    predicted: Vec<usize>,
    bytes: Vec<u8>,
    epochs: usize,
    validation_accuracy: Option<f64>,
    /// A partition ensemble's partitions' sizes.
    partitions: Option<Vec<usize>>,
}

impl Trained {
    fn one(model: &Mlp, x: &[f64], rows: usize) -> Result<Self> {
        Ok(Self {
            predicted: model.predict(x, rows)?,
            bytes: model.to_onnx("aigis", env!("CARGO_PKG_VERSION"))?,
            epochs: model.epochs,
            validation_accuracy: model.validation_accuracy,
            partitions: None,
        })
    }
}

/// Each row's votes per class from `members`.
fn votes_of(members: &[Mlp], x: &[f64], rows: usize, classes: usize) -> Result<Vec<Vec<u64>>> {
    let mut votes = vec![vec![0u64; classes]; rows];
    for m in members {
        for (r, c) in m.predict(x, rows)?.into_iter().enumerate() {
            if let Some(v) = votes.get_mut(r).and_then(|v| v.get_mut(c)) {
                *v += 1;
            }
        }
    }
    Ok(votes)
}

/// The table's signed manifest, checked: required by `[train] require_signed_data`, or
/// given (`--manifest`), or found beside the table. A manifest that does not verify, or
/// a table that differs from it, is a failed check (exit 1): the run does not train on
/// data that is not what was signed.
fn signed_manifest(
    cli: &Cli,
    project: Option<&aigis_ledger::Project>,
    args: &TrainArgs,
) -> Result<Option<TrainingManifest>> {
    let Some(project) = project else {
        if args.manifest.is_some() {
            bail!(
                "--manifest needs a project (its keyring and ledger): run in one, or pass --project"
            );
        }
        return Ok(None);
    };
    let required = budget::requires_signed_data(project)?;
    let beside = aigis_intake::manifest::default_path(&args.data)
        .ok()
        .filter(|m| m.is_file());
    if !required && args.manifest.is_none() && beside.is_none() {
        return Ok(None);
    }
    if required && args.manifest.is_none() && beside.is_none() {
        return Err(crate::failed(format!(
            "the project requires signed data ([train] require_signed_data) and `{}` has no signed manifest beside it: sign it (`aigis data sign {}`) or give --manifest",
            args.data.display(),
            args.data.display()
        )));
    }
    let checked = crate::commands::data::manifest::check(
        cli,
        project,
        &args.data,
        args.manifest.as_deref(),
        &[],
    )
    .map_err(|e| {
        crate::failed(format!(
            "the signed manifest of `{}` does not verify: {}",
            args.data.display(),
            aigis_core::error_chain(e.as_ref())
        ))
    })?;
    let Some(place) = checked.ledger.as_ref().filter(|_| checked.ok()) else {
        let why = if checked.ledger.is_none() {
            "its signed manifest is not in the project's ledger".to_owned()
        } else {
            checked
                .changes
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ")
        };
        return Err(crate::failed(format!(
            "`{}` is not what `{}` signed: {why}",
            args.data.display(),
            checked.manifest_path.display()
        )));
    };
    Ok(Some(TrainingManifest {
        root: checked.expected.root.clone(),
        evidence: place.index,
        signed_by: checked.signed_by.clone(),
    }))
}

/// What a DP-SGD run promised.
struct Private {
    mechanism: Mechanism,
    delta: f64,
    max_grad_norm: f64,
    target: Option<f64>,
    spent: crate::commands::privacy::Spent,
    bounds: Bounds,
    /// Seconds spent accounting (the noise search included) and training.
    seconds: (f64, f64),
}

impl Private {
    fn evidence(&self, budget: Option<&budget::Budget>) -> TrainingPrivacy {
        TrainingPrivacy {
            epsilon: self.spent.epsilon,
            delta: self.delta,
            accountant: self.spent.accountant.to_owned(),
            rdp_epsilon: self.spent.rdp,
            pld_epsilon: self.spent.pld,
            target_epsilon: self.target,
            sampling: "poisson".to_owned(),
            sampling_rate: self.mechanism.sampling_rate,
            noise_multiplier: self.mechanism.noise_multiplier,
            steps: self.mechanism.steps,
            max_grad_norm: self.max_grad_norm,
            bounds_low: self.bounds.low.clone(),
            bounds_high: self.bounds.high.clone(),
            budget: budget.map(|b| b.dataset.clone()),
        }
    }

    fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "epsilon": self.spent.epsilon,
            "delta": self.delta,
            "accountant": self.spent.accountant,
            "rdp_epsilon": self.spent.rdp,
            "pld_epsilon": self.spent.pld,
            "target_epsilon": self.target,
            "sampling": "poisson",
            "sampling_rate": self.mechanism.sampling_rate,
            "noise_multiplier": self.mechanism.noise_multiplier,
            "steps": self.mechanism.steps,
            "max_grad_norm": self.max_grad_norm,
            "bounds": {"low": self.bounds.low, "high": self.bounds.high},
        })
    }
}

/// A table read for training: its features (row-major), their names, and the label's
/// values.
pub(crate) struct Labelled {
    pub(crate) data: Vec<f64>,
    pub(crate) rows: usize,
    pub(crate) cols: usize,
    pub(crate) names: Vec<String>,
    pub(crate) values: Vec<f64>,
}

/// Reads `data`'s numeric features and its `label` column, refusing what a classifier
/// cannot learn from (no rows, a missing value, a label that is not a class code) and
/// noting a constant column.
pub(crate) fn read_labelled(
    cli: &Cli,
    data: &Path,
    label: &str,
    read_args: &ReadArgs,
) -> Result<Labelled> {
    let (format, read) = crate::commands::data::scan::read_options(read_args)?;
    let table = aigis_monitor::detect::read_matrix(
        data,
        &aigis_monitor::detect::Columns {
            names: None,
            label: Some(label),
            text_is_missing: false,
        },
        format,
        &read,
    )
    .with_context(|| format!("reading `{}`", data.display()))?;
    // `+ 0.0` makes a label written -0 the class 0.
    let values: Vec<f64> = label_column(data, label, read_args)?
        .into_iter()
        .map(|v| v + 0.0)
        .collect();
    let (rows, cols) = (table.rows, table.cols);
    if rows == 0 || cols == 0 {
        bail!("`{}` has no row of numeric features", data.display());
    }
    if let Some(i) = table.data.iter().position(|v| !v.is_finite()) {
        bail!(
            "row {} of `{}` has a missing or non-numeric value in `{}`: training needs every feature (fill, drop or encode it)",
            i / cols + 1,
            data.display(),
            table.names.get(i % cols).map_or("?", String::as_str)
        );
    }
    if let Some(j) = (0..cols).find(|&j| {
        let first = table.data.get(j).copied();
        (0..rows).all(|r| table.data.get(r * cols + j).copied() == first)
    }) {
        output::note(
            cli,
            &format!(
                "the column `{}` has one value in every row: it cannot inform the model",
                table.names.get(j).map_or("?", String::as_str)
            ),
        );
    }
    // A classifier's labels are class codes: a fractional value means a continuous target.
    if let Some((i, v)) = values.iter().enumerate().find(|(_, v)| v.fract() != 0.0) {
        bail!(
            "the label `{}` is {v} at row {}: a classifier's labels are class codes (whole numbers), and this looks like a continuous target",
            label,
            i + 1
        );
    }
    Ok(Labelled {
        data: table.data,
        rows,
        cols,
        names: table.names,
        values,
    })
}

/// Each feature's bounds from `--bounds` (`LO:HI` for all, `COLUMN=LO:HI` for one; later
/// ones win). Every feature needs one.
pub(crate) fn bounds(specs: &[String], names: &[String], who: &str) -> Result<Bounds> {
    let mut low: Vec<Option<f64>> = vec![None; names.len()];
    let mut high = low.clone();
    for spec in specs {
        let (column, range) = match spec.rsplit_once('=') {
            Some((c, r)) => (Some(c), r),
            None => (None, spec.as_str()),
        };
        let parsed = range.split_once(':').and_then(|(l, h)| {
            Some((l.trim().parse::<f64>().ok()?, h.trim().parse::<f64>().ok()?))
        });
        let Some((l, h)) = parsed.filter(|(l, h)| l.is_finite() && h.is_finite() && l < h) else {
            bail!(
                "--bounds {spec}: give LO:HI (or COLUMN=LO:HI), two finite numbers, the low below the high"
            );
        };
        let targets: Vec<usize> = match column {
            None => (0..names.len()).collect(),
            Some(c) => match names.iter().position(|n| n == c) {
                Some(j) => vec![j],
                None => bail!(
                    "--bounds {spec}: the table has no feature `{c}` (its features: {})",
                    names.join(", ")
                ),
            },
        };
        for j in targets {
            if let (Some(lo), Some(hi)) = (low.get_mut(j), high.get_mut(j)) {
                *lo = Some(l);
                *hi = Some(h);
            }
        }
    }
    let missing: Vec<&str> = names
        .iter()
        .zip(&low)
        .filter(|(_, l)| l.is_none())
        .map(|(n, _)| n.as_str())
        .collect();
    if !missing.is_empty() {
        let shown = missing
            .iter()
            .take(8)
            .copied()
            .collect::<Vec<_>>()
            .join(", ");
        let more = if missing.len() > 8 {
            format!(" and {} more", missing.len() - 8)
        } else {
            String::new()
        };
        bail!(
            "{who} needs public bounds for every feature, and {shown}{more} have none: give --bounds LO:HI (all features) or --bounds COLUMN=LO:HI, from the domain (a unit's range, a schema), not from the table; scaling by the rows' own statistics would publish them outside the guarantee"
        );
    }
    Ok(Bounds {
        low: low.into_iter().flatten().collect(),
        high: high.into_iter().flatten().collect(),
    })
}

/// The DP-SGD run: its sampling rate and steps, its noise (given, or the least for the
/// target ε), the training, and the ε spent.
#[allow(
    clippy::too_many_arguments,
    reason = "the table read and the settings resolved"
)]
fn train_dp(
    cli: &Cli,
    args: &TrainArgs,
    budget: Option<&budget::Budget>,
    x: &[f64],
    rows: usize,
    y: &[usize],
    classes: usize,
    bounds: &Bounds,
    hidden: usize,
    learning_rate: f64,
    epochs: usize,
) -> Result<(Mlp, Private)> {
    let q = match (args.sampling_rate, args.batch_size) {
        (Some(q), _) => {
            if !(q > 0.0 && q <= 1.0) {
                bail!("--sampling-rate {q}: it must be above 0 and at most 1");
            }
            q
        }
        (None, Some(b)) => {
            if b == 0 || b > rows as u64 {
                bail!("--batch-size {b}: the expected batch must be between 1 and the {rows} rows");
            }
            b as f64 / rows as f64
        }
        (None, None) => 64.min(rows) as f64 / rows as f64,
    };
    let steps = (epochs as f64 / q).ceil();
    if steps > aigis_train::privacy::MAX_STEPS as f64 {
        bail!("--epochs {epochs} at sampling rate {q} is more steps than can be counted");
    }
    let steps = steps as u64;
    let delta = args.delta;
    if !(delta > 0.0 && delta < 1.0) {
        bail!("--delta {delta}: it must be above 0 and below 1");
    }
    if delta * rows as f64 >= 1.0 {
        output::note(
            cli,
            &format!(
                "δ = {delta:e} is not below one over the {rows} rows: a mechanism with such a δ may publish a row outright; the usual choice is well below 1/{rows}"
            ),
        );
    }
    let started = std::time::Instant::now();
    let (sigma, target) = match (args.noise_multiplier, args.epsilon) {
        (Some(sigma), _) => (sigma, None),
        (None, Some(e)) => {
            if !(e > 0.0 && e.is_finite()) {
                bail!("--epsilon {e}: it must be a positive number");
            }
            (
                crate::commands::privacy::least_noise(cli, q, steps, e, delta)?,
                Some(e),
            )
        }
        (None, None) => bail!(
            "--dp needs the noise: --epsilon (the ε to spend; the least noise is found) or --noise-multiplier"
        ),
    };
    let mechanism = Mechanism {
        sampling_rate: q,
        noise_multiplier: sigma,
        steps,
    };
    // Accounted before training: a run whose guarantee cannot be stated is not run.
    let spent = crate::commands::privacy::spent(cli, mechanism, delta)?;
    if let Some(b) = budget {
        b.check(spent.epsilon, delta)?;
    }
    let settings = dpsgd::Settings {
        hidden,
        learning_rate,
        alpha: args.alpha,
        sampling_rate: q,
        steps,
        noise_multiplier: sigma,
        max_grad_norm: args.max_grad_norm,
        seed: args.seed,
    };
    let accounting = started.elapsed().as_secs_f64();
    let started = std::time::Instant::now();
    let mut rng = dpsgd::secure_rng()?;
    let bar = output::progress(cli, steps, "DP-SGD");
    let model = dpsgd::train(
        x,
        rows,
        y,
        classes,
        bounds,
        &settings,
        &mut rng,
        &mut |_| bar.inc(1),
    );
    bar.finish_and_clear();
    let training = started.elapsed().as_secs_f64();
    Ok((
        model?,
        Private {
            seconds: (accounting, training),
            mechanism,
            delta,
            max_grad_norm: args.max_grad_norm,
            target,
            spent,
            bounds: bounds.clone(),
        },
    ))
}
