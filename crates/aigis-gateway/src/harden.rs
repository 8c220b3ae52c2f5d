//! Output hardening: how much of a model's answer a principal sees. Full scores help a
//! client copy a model (extraction) or infer membership; a label, the top few classes or
//! rounded scores leave it less to work with.
//!
//! ```toml
//! [serve.outputs]                      # the default for every principal
//! mode = "full"                        # "full", "label" or "top_k"
//! # top_k = 3                          # with mode = "top_k": the classes kept per row
//! # decimals = 2                       # round every score to this many decimals
//! # noise = 0.01                       # add Gaussian noise of this standard deviation to
//! #                                    # scores (then clipped to [0, 1] and each row rescaled to sum 1)
//! [serve.outputs.principals.partner-bank]
//! mode = "label"
//! ```
//!
//! Which output is which: an output of integers, booleans or strings is a label (kept in
//! every mode); a floating-point output of two dimensions is a score matrix (one row per
//! input, one column per class: probabilities); any other floating-point output (a
//! regressor's prediction) is the answer itself, and is only rounded. `label` drops the
//! score matrices when the model has a label output; `top_k` keeps each row's `k` highest
//! scores and zeroes the rest. Noise and rounding apply to the scores left. The label is
//! computed by the model from the exact scores, so hardening never changes it.

use std::collections::BTreeMap;

use aigis_runtime::{Data, NamedTensor, Tensor};
use serde::Deserialize;

/// How much of the answer a principal sees.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hardening {
    #[serde(default)]
    pub mode: Mode,
    #[serde(default)]
    pub top_k: Option<usize>,
    #[serde(default)]
    pub decimals: Option<u32>,
    #[serde(default)]
    pub noise: Option<f64>,
}

/// `mode`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    #[default]
    Full,
    Label,
    TopK,
}

/// `[serve.outputs]`: the default and the principals that differ.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputsConfig {
    #[serde(flatten)]
    pub default: Hardening,
    #[serde(default)]
    pub principals: BTreeMap<String, Hardening>,
}

impl Hardening {
    /// Checks the values; `at` is the key's dotted name.
    pub(crate) fn check(&self, at: &str) -> Result<(), (String, String)> {
        match (self.mode, self.top_k) {
            (Mode::TopK, None | Some(0)) => {
                return Err((
                    format!("{at}.top_k"),
                    "say how many classes to keep (1 or more)".into(),
                ));
            }
            (Mode::Full | Mode::Label, Some(_)) => {
                return Err((format!("{at}.top_k"), "only with mode = \"top_k\"".into()));
            }
            _ => {}
        }
        if self.decimals.is_some_and(|d| d > 15) {
            return Err((format!("{at}.decimals"), "at most 15".into()));
        }
        if self
            .noise
            .is_some_and(|n| !n.is_finite() || n <= 0.0 || n > 1.0)
        {
            return Err((
                format!("{at}.noise"),
                "a standard deviation above 0 and at most 1".into(),
            ));
        }
        Ok(())
    }

    fn is_full(&self) -> bool {
        self.mode == Mode::Full && self.decimals.is_none() && self.noise.is_none()
    }
}

impl OutputsConfig {
    pub(crate) fn check(&self) -> Result<(), (String, String)> {
        self.default.check("serve.outputs")?;
        for (name, h) in &self.principals {
            h.check(&format!("serve.outputs.principals.{name}"))?;
        }
        Ok(())
    }

    /// The hardening for `principal`.
    pub fn for_principal(&self, principal: &str) -> &Hardening {
        self.principals.get(principal).unwrap_or(&self.default)
    }
}

fn is_label(t: &Tensor) -> bool {
    !matches!(t.data(), Data::Fp32(_) | Data::Fp64(_))
}

/// Applies `h` to a model's outputs.
pub fn apply(h: &Hardening, outputs: Vec<NamedTensor>) -> Vec<NamedTensor> {
    if h.is_full() {
        return outputs;
    }
    let has_label = outputs.iter().any(|o| is_label(&o.tensor));
    outputs
        .into_iter()
        .filter(|o| {
            !(h.mode == Mode::Label
                && has_label
                && !is_label(&o.tensor)
                && o.tensor.shape().len() == 2)
        })
        .filter_map(|o| harden_tensor(h, o))
        .collect()
}

/// One output hardened; `None` (the output is withheld) if it could not be rebuilt, which
/// hardening, keeping its shape and length, never causes.
fn harden_tensor(h: &Hardening, o: NamedTensor) -> Option<NamedTensor> {
    if is_label(&o.tensor) {
        return Some(o);
    }
    let scores = o.tensor.shape().len() == 2;
    let NamedTensor { name, tensor } = o;
    let (shape, data) = tensor.into_parts();
    let width = shape.get(1).copied().unwrap_or(0);
    let harden = |values: &mut [f64]| {
        if scores && width > 0 {
            for row in values.chunks_mut(width) {
                harden_row(h, row);
            }
        } else if let Some(d) = h.decimals {
            for v in values.iter_mut() {
                *v = round(*v, d);
            }
        }
    };
    let data = match data {
        Data::Fp64(mut v) => {
            harden(&mut v);
            Data::Fp64(v)
        }
        Data::Fp32(v) => {
            let mut wide: Vec<f64> = v.into_iter().map(f64::from).collect();
            harden(&mut wide);
            #[expect(clippy::cast_possible_truncation, reason = "back to the model's FP32")]
            Data::Fp32(wide.into_iter().map(|x| x as f32).collect())
        }
        other => other,
    };
    Tensor::new(shape, data)
        .ok()
        .map(|tensor| NamedTensor { name, tensor })
}

fn round(v: f64, decimals: u32) -> f64 {
    let scale = 10f64.powi(i32::try_from(decimals).unwrap_or(15));
    (v * scale).round() / scale
}

/// One row of scores: the top `k`, then noise (clipped, rescaled), then rounding.
fn harden_row(h: &Hardening, row: &mut [f64]) {
    if h.mode == Mode::TopK
        && let Some(k) = h.top_k
        && k < row.len()
    {
        let mut order: Vec<(usize, f64)> = row.iter().copied().enumerate().collect();
        // Highest first; ties keep the lower class index.
        order.sort_by(|(i, a), (j, b)| b.total_cmp(a).then(i.cmp(j)));
        for (i, _) in order.into_iter().skip(k) {
            if let Some(v) = row.get_mut(i) {
                *v = 0.0;
            }
        }
    }
    if let Some(sigma) = h.noise {
        for v in row.iter_mut() {
            if *v != 0.0 || h.mode != Mode::TopK {
                *v = (*v + sigma * gaussian()).clamp(0.0, 1.0);
            }
        }
        let sum: f64 = row.iter().sum();
        if sum > 0.0 {
            for v in row.iter_mut() {
                *v /= sum;
            }
        }
    }
    if let Some(d) = h.decimals {
        for v in row.iter_mut() {
            *v = round(*v, d);
        }
    }
}

/// A standard normal draw (Box–Muller over fastrand's uniform generator, seeded from the
/// OS): the noise needs to be unpredictable per answer, not cryptographic.
fn gaussian() -> f64 {
    let u1 = fastrand::f64().max(f64::MIN_POSITIVE);
    let u2 = fastrand::f64();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outputs() -> Vec<NamedTensor> {
        vec![
            NamedTensor::new(
                "label",
                Tensor::new(vec![2], Data::Int64(vec![2, 0])).unwrap(),
            ),
            NamedTensor::new(
                "probabilities",
                Tensor::new(
                    vec![2, 3],
                    Data::Fp32(vec![0.1, 0.2345, 0.6655, 0.7, 0.2, 0.1]),
                )
                .unwrap(),
            ),
        ]
    }

    fn scores(o: &[NamedTensor]) -> Vec<f32> {
        match o
            .iter()
            .find(|t| t.name == "probabilities")
            .unwrap()
            .tensor
            .data()
        {
            Data::Fp32(v) => v.clone(),
            other => panic!("{other:?}"),
        }
    }

    fn h(mode: Mode, top_k: Option<usize>, decimals: Option<u32>, noise: Option<f64>) -> Hardening {
        Hardening {
            mode,
            top_k,
            decimals,
            noise,
        }
    }

    #[test]
    fn full_returns_everything_unchanged() {
        assert_eq!(
            apply(&h(Mode::Full, None, None, None), outputs()),
            outputs()
        );
    }

    #[test]
    fn label_keeps_only_the_label() {
        let o = apply(&h(Mode::Label, None, None, None), outputs());
        assert_eq!(o.len(), 1);
        assert_eq!(o[0].name, "label");
        assert_eq!(o[0], outputs()[0]);
    }

    #[test]
    fn top_k_zeroes_the_rest_and_rounding_rounds() {
        let o = apply(&h(Mode::TopK, Some(1), Some(2), None), outputs());
        assert_eq!(scores(&o), vec![0.0, 0.0, 0.67, 0.7, 0.0, 0.0]);
        assert_eq!(o[0], outputs()[0], "the label is untouched");
        let o = apply(&h(Mode::Full, None, Some(1), None), outputs());
        assert_eq!(scores(&o), vec![0.1, 0.2, 0.7, 0.7, 0.2, 0.1]);
    }

    #[test]
    fn noise_moves_scores_but_keeps_rows_distributions() {
        let o = apply(&h(Mode::Full, None, None, Some(0.05)), outputs());
        let s = scores(&o);
        assert_ne!(s, scores(&outputs()));
        for row in s.chunks(3) {
            assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-5, "{row:?}");
            assert!(row.iter().all(|v| (0.0..=1.0).contains(v)));
        }
    }

    #[test]
    fn a_regressor_is_only_rounded() {
        let out = vec![NamedTensor::new(
            "variable",
            Tensor::new(vec![2, 1], Data::Fp32(vec![151.2345, 75.5])).unwrap(),
        )];
        let o = apply(&h(Mode::Label, None, Some(1), None), out);
        assert_eq!(o.len(), 1, "no label output: the prediction is the answer");
        match o[0].tensor.data() {
            Data::Fp32(v) => assert_eq!(v, &vec![151.2, 75.5]),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn bad_settings_are_named() {
        assert_eq!(
            h(Mode::TopK, None, None, None).check("x").unwrap_err().0,
            "x.top_k"
        );
        assert_eq!(
            h(Mode::Label, Some(2), None, None)
                .check("x")
                .unwrap_err()
                .0,
            "x.top_k"
        );
        assert_eq!(
            h(Mode::Full, None, Some(99), None)
                .check("x")
                .unwrap_err()
                .0,
            "x.decimals"
        );
        assert_eq!(
            h(Mode::Full, None, None, Some(-1.0))
                .check("x")
                .unwrap_err()
                .0,
            "x.noise"
        );
        assert_eq!(
            h(Mode::Full, None, None, Some(f64::NAN))
                .check("x")
                .unwrap_err()
                .0,
            "x.noise"
        );
    }
}
