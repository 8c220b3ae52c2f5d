//! `aigis certify MODEL --data TABLE`: each prediction of a partition ensemble (`aigis
//! train --partitions K`) with the number of training rows an attacker could add or
//! remove without changing it (deep partition aggregation's certificate), and the
//! certified accuracy at each such number.

use aigis_evidence::{Certification, CertifiedShare, Tool};
use aigis_runtime::export::PARTITIONS_KEY;
use aigis_runtime::{Data, NamedTensor, Runtime as _, Tensor};
use aigis_train::partition;
use anyhow::{Context as _, Result, bail};
use serde_json::json;

use crate::cli::{CertifyArgs, Cli};
use crate::commands::target::{class_indices, label_column};
use crate::output;

pub(crate) fn run(cli: &Cli, args: &CertifyArgs) -> Result<()> {
    let bytes = std::fs::read(&args.model)
        .with_context(|| format!("reading `{}`", args.model.display()))?;
    let proto = aigis_runtime::onnx::read_proto(&bytes)
        .with_context(|| format!("reading `{}` as ONNX", args.model.display()))?;
    let Some(k) = proto
        .metadata_props
        .iter()
        .find(|p| p.key == PARTITIONS_KEY)
        .and_then(|p| p.value.parse::<u64>().ok())
        .filter(|&k| k >= 2)
    else {
        bail!(
            "`{}` is not a partition ensemble (its metadata has no `{PARTITIONS_KEY}`): certify a model trained by `aigis train --partitions K`",
            args.model.display()
        );
    };
    let (format, read) = crate::commands::data::scan::read_options(&args.read)?;
    let table = aigis_monitor::detect::read_matrix(
        &args.data,
        &aigis_monitor::detect::Columns {
            names: None,
            label: args.label.as_deref(),
            text_is_missing: false,
        },
        format,
        &read,
    )
    .with_context(|| format!("reading `{}`", args.data.display()))?;
    let (rows, cols) = (table.rows, table.cols);
    if rows == 0 {
        bail!("`{}` has no row", args.data.display());
    }
    if let Some(i) = table.data.iter().position(|v| !v.is_finite()) {
        bail!(
            "row {} of `{}` has a missing or non-numeric feature",
            i / cols.max(1) + 1,
            args.data.display()
        );
    }
    let width = proto
        .graph
        .as_ref()
        .and_then(|g| g.input.first())
        .and_then(|i| {
            let aigis_runtime::onnx::proto::type_proto::Value::TensorType(t) =
                i.r#type.as_ref()?.value.as_ref()?;
            match t.shape.as_ref()?.dim.get(1)?.value.as_ref()? {
                aigis_runtime::onnx::proto::tensor_shape_proto::dimension::Value::DimValue(n) => {
                    usize::try_from(*n).ok()
                }
                _ => None,
            }
        });
    if let Some(w) = width
        && w != cols
    {
        bail!(
            "`{}` has {cols} numeric columns{}, and the model takes {w} features{}",
            args.data.display(),
            args.label
                .as_ref()
                .map_or(String::new(), |l| format!(" besides `{l}`")),
            if args.label.is_none() && cols == w + 1 {
                ": is the label among them? name it with --label"
            } else {
                ""
            }
        );
    }
    let runtime = aigis_runtime::OnnxRuntime::from_bytes(&bytes)
        .with_context(|| format!("loading `{}`", args.model.display()))?;
    let input = Tensor::new(
        vec![rows, cols],
        Data::Fp32(table.data.iter().map(|&v| v as f32).collect()),
    )?;
    let out = runtime
        .run(vec![NamedTensor::new("input", input)])
        .with_context(|| format!("running `{}`", args.model.display()))?;
    let Some(Data::Fp32(shares)) = out
        .iter()
        .find(|t| t.name == "probabilities")
        .map(|t| t.tensor.data())
    else {
        bail!(
            "`{}` gives no float `probabilities` output",
            args.model.display()
        );
    };
    let classes = shares.len() / rows;
    // The vote shares times the members are the votes: whole numbers adding up to K, or
    // the model is not what its metadata says (fail closed).
    let mut votes: Vec<Vec<u64>> = Vec::with_capacity(rows);
    for (r, row) in shares.chunks(classes.max(1)).enumerate() {
        let v: Vec<f64> = row.iter().map(|&s| f64::from(s) * k as f64).collect();
        let whole = v
            .iter()
            .all(|x| (x - x.round()).abs() < 1e-3 && *x >= -1e-3);
        let counts: Vec<u64> = v.iter().map(|x| x.round().max(0.0) as u64).collect();
        if !whole || counts.iter().sum::<u64>() != k {
            bail!(
                "row {}: the model's vote shares {row:?} are not {k} votes: `{}` is not an aigis partition ensemble",
                r + 1,
                args.model.display()
            );
        }
        votes.push(counts);
    }
    let truth = match &args.label {
        Some(label) => Some(class_indices(
            &label_column(&args.data, label, &args.read)?,
            label,
            classes,
        )?),
        None => None,
    };
    let certified: Vec<(usize, u64)> = votes.iter().map(|v| partition::certificate(v)).collect();
    let correct: Vec<bool> = match &truth {
        Some(t) => certified.iter().zip(t).map(|((c, _), t)| c == t).collect(),
        None => vec![true; rows],
    };
    let top = certified.iter().map(|c| c.1).max().unwrap_or(0);
    // The share of rows right (or, without labels, of all rows) whose certificate is at
    // least r, for r from 0 to the largest.
    let curve: Vec<(u64, f64)> = (0..=top)
        .map(|r| {
            let n = certified
                .iter()
                .zip(&correct)
                .filter(|((_, rho), ok)| **ok && *rho >= r)
                .count();
            (r, n as f64 / rows as f64)
        })
        .collect();
    let mut radii: Vec<u64> = certified.iter().map(|c| c.1).collect();
    radii.sort_unstable();
    let median = radii.get(rows / 2).copied().unwrap_or(0);
    let accuracy = truth.as_ref().map(|_| curve.first().map_or(0.0, |c| c.1));
    let evidence = match crate::context::project_if_any(cli)? {
        Some(project) => {
            let predicate = Certification {
                partitions: k,
                rows: rows as u64,
                label: args.label.clone(),
                accuracy,
                median_certified_rows: median,
                certified: curve
                    .iter()
                    .map(|&(rows, share)| CertifiedShare { rows, share })
                    .collect(),
                tool: Tool::current(),
            };
            let subjects = vec![
                (
                    format!("model:{}", args.model.display()),
                    aigis_core::Digest::of(&bytes),
                ),
                (
                    format!("data:{}", args.data.display()),
                    aigis_crypto::sha256_file(&args.data)?,
                ),
            ];
            Some(project.record(
                &crate::context::signing_key(&project)?,
                subjects,
                &predicate,
            )?)
        }
        None => None,
    };
    if cli.json {
        return output::json(&json!({
            "model": args.model,
            "data": args.data,
            "partitions": k,
            "rows": rows,
            "accuracy": accuracy,
            "evidence": evidence,
            "median_certified_rows": median,
            "certified": curve.iter().map(|(r, s)| json!({
                "rows": r,
                if truth.is_some() { "accuracy" } else { "share" }: s,
            })).collect::<Vec<_>>(),
            "predictions": certified.iter().zip(&votes).enumerate().map(|(i, ((c, rho), v))| json!({
                "row": i + 1,
                "class": c,
                "votes": v,
                "certified_rows": rho,
                "correct": truth.as_ref().map(|t| t.get(i) == Some(c)),
            })).collect::<Vec<_>>(),
        }));
    }
    outln!(
        "`{}`: a vote of {k} models, one per partition of its training rows; {rows} rows of `{}`",
        args.model.display(),
        args.data.display()
    );
    outln!(
        "each prediction stands whatever number of training rows an attacker adds or removes, up to its certificate (median {median})"
    );
    let what = if truth.is_some() {
        "certified accuracy"
    } else {
        "rows certified"
    };
    outln!("  rows poisoned  {what}");
    let mut shown: Vec<u64> = vec![0, 1, 2, 5, 10, 20, 50, 100, 200, 500];
    shown.retain(|&r| r <= top);
    if shown.last() != Some(&top) {
        shown.push(top);
    }
    for r in shown {
        if let Some((_, s)) = curve.get(r as usize) {
            outln!("  {r:>13}  {s:.4}");
        }
    }
    if let Some(index) = evidence {
        outln!("evidence #{index} in the ledger");
    }
    Ok(())
}
