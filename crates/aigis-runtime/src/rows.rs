//! A model asked about rows of numbers, as the detectors, the red team and the explainers
//! ask it: rows of `f64` fed through its one floating-point input (in batches, shaped as
//! the input wants: `[n, 64]` or `[n, 8, 8]`), one floating-point output read back as an
//! `[n, k]` matrix of `f64`.

use std::sync::Arc;

use crate::{Data, DataType, NamedTensor, Runtime, Tensor, TensorSpec};

/// Rows per model call.
pub const BATCH: usize = 4096;

/// A model fed rows of numbers through one floating-point input.
#[derive(Debug, Clone)]
pub struct RowModel {
    runtime: Arc<dyn Runtime>,
    input: String,
    /// The input's shape after the batch dimension, when it fixes one.
    inner: Option<Vec<usize>>,
    datatype: DataType,
    /// Rows per call.
    batch: usize,
}

impl RowModel {
    /// The model behind `runtime`, fed through `input` (its only input when `None`),
    /// which must be floating point.
    pub fn new(runtime: Arc<dyn Runtime>, input: Option<&str>) -> Result<Self, String> {
        let spec = pick_input(&runtime.signature().inputs, input)?;
        if !matches!(spec.datatype, DataType::Fp32 | DataType::Fp64) {
            return Err(format!(
                "the input `{}` is {}, not floating point: rows of numbers cannot be fed to it",
                spec.name, spec.datatype
            ));
        }
        Ok(Self {
            input: spec.name.clone(),
            inner: spec
                .shape
                .get(1..)
                .and_then(|s| s.iter().copied().collect()),
            datatype: spec.datatype,
            runtime,
            batch: BATCH,
        })
    }

    /// At most `rows` rows per call (at least one): a model behind a server that limits
    /// its requests' size.
    #[must_use]
    pub fn with_batch(mut self, rows: usize) -> Self {
        self.batch = rows.max(1);
        self
    }

    /// Rows per call.
    pub fn batch(&self) -> usize {
        self.batch
    }

    /// The runtime.
    pub fn runtime(&self) -> &Arc<dyn Runtime> {
        &self.runtime
    }

    /// The input's name.
    pub fn input(&self) -> &str {
        &self.input
    }

    /// The input's dimensions after the batch, when it fixes them.
    pub fn inner(&self) -> Option<&[usize]> {
        self.inner.as_deref()
    }

    /// The numbers per row the input fixes, when it fixes them.
    pub fn features(&self) -> Option<usize> {
        self.inner.as_ref().map(|s| s.iter().product())
    }

    /// The floating-point outputs of two dimensions (`[N, k]`), by index in the
    /// signature.
    pub fn matrix_outputs(&self) -> Vec<usize> {
        self.runtime
            .signature()
            .outputs
            .iter()
            .enumerate()
            .filter(|(_, o)| {
                matches!(o.datatype, DataType::Fp32 | DataType::Fp64) && o.shape.len() == 2
            })
            .map(|(i, _)| i)
            .collect()
    }

    /// Output `output` for `rows` rows of `cols` numbers (`data`, row-major): its values
    /// (`rows × k`, row-major) and `k`.
    pub fn run(
        &self,
        data: &[f64],
        rows: usize,
        cols: usize,
        output: usize,
    ) -> Result<(Vec<f64>, usize), String> {
        if data.len() != rows * cols {
            return Err(format!(
                "{} numbers are not {rows} rows of {cols}",
                data.len()
            ));
        }
        let mut out = Vec::with_capacity(rows * 2);
        let mut width = None;
        for start in (0..rows).step_by(self.batch) {
            let n = self.batch.min(rows - start);
            let values = data
                .get(start * cols..(start + n) * cols)
                .unwrap_or_default();
            let mut shape = vec![n];
            match &self.inner {
                Some(inner) if inner.iter().product::<usize>() == cols => shape.extend(inner),
                _ => shape.push(cols),
            }
            let data = match self.datatype {
                DataType::Fp64 => Data::Fp64(values.to_vec()),
                _ => Data::Fp32(values.iter().map(|&v| v as f32).collect()),
            };
            let tensor = Tensor::new(shape, data).map_err(|e| e.to_string())?;
            let outputs = self
                .runtime
                .run(vec![NamedTensor::new(self.input.clone(), tensor)])
                .map_err(|e| e.to_string())?;
            let tensor = outputs
                .into_iter()
                .nth(output)
                .ok_or("the model gave fewer outputs than its signature says")?
                .tensor;
            let (part, k) = output_matrix(&tensor, n)?;
            if width.is_some_and(|w| w != k) {
                return Err(format!(
                    "the model gave {k} columns for some rows, {} for others",
                    width.unwrap_or_default()
                ));
            }
            width = Some(k);
            out.extend(part);
        }
        Ok((out, width.unwrap_or(0)))
    }
}

/// The model input called `name`, or its only input when `None`.
pub fn pick_input<'a>(
    inputs: &'a [TensorSpec],
    name: Option<&str>,
) -> Result<&'a TensorSpec, String> {
    match name {
        Some(name) => inputs
            .iter()
            .find(|s| s.name == name)
            .ok_or_else(|| format!("the model has no input `{name}`")),
        None => match inputs {
            [one] => Ok(one),
            _ => Err("the model has several inputs: say which one (`input`)".into()),
        },
    }
}

/// The `[n, k]` values of an output tensor, as `f64`, and `k`.
pub fn output_matrix(tensor: &Tensor, n: usize) -> Result<(Vec<f64>, usize), String> {
    let shape = tensor.shape();
    let k = shape.get(1).copied().unwrap_or(0);
    if shape.len() != 2 || shape.first() != Some(&n) {
        return Err(format!(
            "the model's output has shape {shape:?} for {n} rows"
        ));
    }
    match tensor.data() {
        Data::Fp32(v) => Ok((v.iter().map(|&x| f64::from(x)).collect(), k)),
        Data::Fp64(v) => Ok((v.clone(), k)),
        _ => Err("the model's output is not floating point".into()),
    }
}
