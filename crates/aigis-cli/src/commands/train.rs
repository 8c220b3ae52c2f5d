//! `aigis train DATA --label COL -o model.onnx`: a classifier trained on a table, written
//! as ONNX.

use aigis_core::Digest;
use aigis_train::mlp::{self, Settings};
use anyhow::{Context as _, Result, bail};

use crate::cli::{Cli, TrainArgs, TrainModel};
use crate::commands::target::label_column;
use crate::output;

pub(crate) fn run(cli: &Cli, args: &TrainArgs) -> Result<()> {
    let (format, read) = crate::commands::data::scan::read_options(&args.read)?;
    let table = aigis_monitor::detect::read_matrix(
        &args.data,
        &aigis_monitor::detect::Columns {
            names: None,
            label: Some(&args.label),
            text_is_missing: false,
        },
        format,
        &read,
    )
    .with_context(|| format!("reading `{}`", args.data.display()))?;
    // `+ 0.0` makes a label written -0 the class 0.
    let values: Vec<f64> = label_column(&args.data, &args.label, &args.read)?
        .into_iter()
        .map(|v| v + 0.0)
        .collect();
    let (rows, cols) = (table.rows, table.cols);
    if rows == 0 || cols == 0 {
        bail!("`{}` has no row of numeric features", args.data.display());
    }
    if let Some(i) = table.data.iter().position(|v| !v.is_finite()) {
        bail!(
            "row {} of `{}` has a missing or non-numeric value in `{}`: training needs every feature (fill, drop or encode it)",
            i / cols + 1,
            args.data.display(),
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
            args.label,
            i + 1
        );
    }
    // The classes: the label's distinct values, sorted.
    let mut classes: Vec<f64> = values.clone();
    classes.sort_by(f64::total_cmp);
    classes.dedup();
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
    let settings = Settings {
        hidden: match (args.model, args.hidden) {
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
        },
        alpha: args.alpha,
        learning_rate: args.learning_rate,
        max_epochs: args.epochs,
        seed: args.seed,
        ..Settings::default()
    };
    let numbers = args.learning_rate > 0.0
        && args.learning_rate.is_finite()
        && args.alpha >= 0.0
        && args.alpha.is_finite();
    if !numbers {
        bail!("--learning-rate must be positive and --alpha at least 0");
    }
    if args.epochs == 0 {
        bail!("--epochs 0: train for at least one epoch");
    }
    let bar = output::progress(cli, 0, "training");
    let model = mlp::train(&table.data, rows, &y, classes.len(), &settings);
    bar.finish_and_clear();
    let model = model?;
    if model.epochs >= args.epochs {
        output::note(
            cli,
            &format!(
                "training stopped at --epochs {} before its loss settled: more epochs (or a larger --learning-rate) may fit better",
                args.epochs
            ),
        );
    }
    let predicted = model.predict(&table.data, rows)?;
    let right = predicted.iter().zip(&y).filter(|(p, t)| p == t).count();
    let accuracy = right as f64 / rows as f64;
    let bytes = model.to_onnx("aigis", env!("CARGO_PKG_VERSION"))?;
    aigis_crypto::fs::write_atomic(&args.output, &bytes, 0o644)
        .with_context(|| format!("writing `{}`", args.output.display()))?;
    let digest = Digest::of(&bytes);
    let model_name = match args.model {
        TrainModel::Mlp => "mlp",
        TrainModel::Softmax => "softmax",
        TrainModel::Logistic => "logistic",
    };
    if cli.json {
        return output::json(&serde_json::json!({
            "model": model_name,
            "output": args.output,
            "sha256": digest.to_string(),
            "rows": rows,
            "features": table.names,
            "classes": classes,
            "hidden": settings.hidden,
            "epochs": model.epochs,
            "training_accuracy": accuracy,
            "seed": args.seed,
        }));
    }
    outln!(
        "wrote `{}` ({model_name}, {} features, {} classes, {} hidden units; {digest})",
        args.output.display(),
        cols,
        classes.len(),
        settings.hidden
    );
    outln!(
        "  {rows} rows, {} epochs, training accuracy {:.4}",
        model.epochs,
        accuracy
    );
    let shown: Vec<String> = classes
        .iter()
        .enumerate()
        .map(|(i, c)| format!("{i} = {c}"))
        .collect();
    outln!("  class indices: {}", shown.join(", "));
    Ok(())
}
