//! The model a validation command asks about rows (`aigis explain`, `aigis redteam`):
//! an ONNX file run by the runtime, one numeric output of shape `[N, k]` read back.

use std::path::Path;
use std::sync::Arc;

use aigis_runtime::OnnxRuntime;
use aigis_runtime::rows::RowModel;
use anyhow::{Context as _, Result};

use crate::context;

/// The largest model file read.
pub(crate) const MAX_MODEL_BYTES: u64 = 4 << 30;

/// The model, the output read, and how wide it is.
pub(crate) struct Target {
    pub(crate) model: RowModel,
    /// The model file's bytes (for its graph).
    pub(crate) bytes: Vec<u8>,
    pub(crate) output: usize,
    pub(crate) output_name: String,
    pub(crate) width: usize,
}

impl Target {
    pub(crate) fn open(path: &Path, output: Option<&str>, cols: usize) -> Result<Self> {
        let bytes = context::read_input(path, "model", MAX_MODEL_BYTES)?;
        let runtime = OnnxRuntime::from_bytes(&bytes)
            .with_context(|| format!("loading the model `{}`", path.display()))?;
        let model = RowModel::new(Arc::new(runtime), None)
            .map_err(|e| anyhow::anyhow!("the model `{}`: {e}", path.display()))?;
        let outputs = model.runtime().signature().outputs.clone();
        let candidates = model.matrix_outputs();
        let name_of = |i: usize| outputs.get(i).map(|o| o.name.clone()).unwrap_or_default();
        let index = match output {
            Some(name) => candidates
                .iter()
                .copied()
                .find(|&i| name_of(i) == name)
                .ok_or_else(|| {
                    anyhow::anyhow!(
                        "the model has no numeric output `{name}` of shape [N, k]; its outputs: {}",
                        outputs.iter().map(|o| o.name.as_str()).collect::<Vec<_>>().join(", ")
                    )
                })?,
            None => candidates
                .iter()
                .copied()
                .find(|&i| name_of(i).to_lowercase().contains("prob"))
                .or_else(|| candidates.first().copied())
                .ok_or_else(|| {
                    anyhow::anyhow!(
                        "the model has no numeric output of shape [N, k] to explain; its outputs: {}",
                        outputs.iter().map(|o| o.name.as_str()).collect::<Vec<_>>().join(", ")
                    )
                })?,
        };
        if let Some(f) = model.features()
            && f != cols
        {
            anyhow::bail!(
                "the model `{}` takes {f} numbers per row, the data has {cols} numeric columns (name the label with --label to leave it out)",
                path.display()
            );
        }
        let mut target = Self {
            model,
            bytes,
            output: index,
            output_name: name_of(index),
            width: 0,
        };
        target.width = target.run(&vec![0.0; cols], 1, cols)?.1;
        Ok(target)
    }

    pub(crate) fn run(&self, rows: &[f64], n: usize, cols: usize) -> Result<(Vec<f64>, usize)> {
        self.model
            .run(rows, n, cols, self.output)
            .map_err(|e| anyhow::anyhow!("the model: {e}"))
    }

    /// The column each row's answer is read from: `class`, or the row's top class.
    pub(crate) fn column_of(&self, values: &[f64], class: Option<usize>) -> usize {
        if self.width <= 1 {
            return 0;
        }
        class.unwrap_or_else(|| {
            values
                .iter()
                .enumerate()
                .max_by(|a, b| a.1.total_cmp(b.1))
                .map_or(0, |m| m.0)
        })
    }
}

/// The numbers of a table's column `label`, every one of them present and finite.
pub(crate) fn label_column(
    path: &Path,
    label: &str,
    read: &crate::cli::ReadArgs,
) -> Result<Vec<f64>> {
    use aigis_monitor::detect::{self, Columns};
    let (format, read_opts) = crate::commands::data::scan::read_options(read)?;
    let names = [label.to_string()];
    let y = detect::read_matrix(
        path,
        &Columns {
            names: Some(&names),
            label: None,
            text_is_missing: false,
        },
        format,
        &read_opts,
    )
    .with_context(|| format!("reading the label `{label}`"))?;
    if let Some(i) = y.data.iter().position(|v| !v.is_finite()) {
        anyhow::bail!(
            "the label `{label}` is missing or not a number at row {}: every row needs one",
            i + 1
        );
    }
    Ok(y.data)
}

/// The class index of each label, for a classifier of `width` classes: labels must be
/// the indices 0 to `width - 1` of its output's columns.
pub(crate) fn class_indices(labels: &[f64], label: &str, width: usize) -> Result<Vec<usize>> {
    labels
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            if v.fract() == 0.0 && v >= 0.0 && (v as usize) < width {
                Ok(v as usize)
            } else {
                Err(anyhow::anyhow!(
                    "the label `{label}` at row {} is {v}: a classifier's labels here are its class indices 0 to {}",
                    i + 1,
                    width.saturating_sub(1)
                ))
            }
        })
        .collect()
}

/// Records `predicate` about a model file and a data file (subjects `model:<path>` and
/// `data:<path>`, with their digests) in `project`: the ledger index.
pub(crate) fn record_model_data<P: aigis_evidence::Predicate>(
    project: &aigis_ledger::Project,
    model: &Path,
    data: &Path,
    predicate: &P,
) -> Result<u64> {
    let subjects = vec![
        (
            format!("model:{}", model.display()),
            aigis_crypto::sha256_file(model)?,
        ),
        (
            format!("data:{}", data.display()),
            aigis_crypto::sha256_file(data)?,
        ),
    ];
    Ok(project.record(&context::signing_key(project)?, subjects, predicate)?)
}
