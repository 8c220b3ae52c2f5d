//! A multilayer perceptron classifier trained as scikit-learn's `MLPClassifier` trains
//! one, with its defaults where they apply: a ReLU hidden layer, a softmax output,
//! cross-entropy with an L2 penalty of `alpha` scaled by the batch, Glorot-uniform
//! initialisation, Adam at 0.001, batches of `min(200, n)` rows reshuffled each epoch,
//! stopping when the epoch's loss has not improved by `tol` for ten epochs (or, with a
//! validation fraction, its `early_stopping`: when the accuracy on a stratified held-out
//! share has not, keeping the best epoch's weights); on inputs standardized by the rows'
//! own means and deviations. No hidden layer is multinomial
//! logistic regression. Written here rather than taken from a crate: linfa has no
//! multilayer perceptron. The red team trains its copies and poisoned models with it
//! (`scripts/extraction_vs_sklearn.py` and `scripts/poisoning_vs_sklearn.py` compare it
//! with scikit-learn), and [`Mlp::to_onnx`] writes what it trained as a standard ONNX
//! model.

use aigis_runtime::export::{DenseClassifier, Layer};
use ndarray::{Array1, Array2, Axis};

/// Why a network could not be trained.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The rows, labels or settings do not fit together (named).
    #[error("{0}")]
    Options(String),
    /// The loss stopped being a number.
    #[error("{0}")]
    Diverged(String),
}

/// The trainer's settings (scikit-learn's `MLPClassifier` defaults).
#[derive(Debug, Clone)]
pub struct Settings {
    /// Hidden units (0: multinomial logistic regression).
    pub hidden: usize,
    /// The L2 penalty.
    pub alpha: f64,
    /// Adam's learning rate.
    pub learning_rate: f64,
    /// The most epochs.
    pub max_epochs: usize,
    /// The improvement of the loss that counts.
    pub tol: f64,
    /// Epochs without it before stopping.
    pub patience: usize,
    /// Hold out this share of the rows (stratified) and stop on its accuracy instead of
    /// the training loss, keeping the best epoch's weights (scikit-learn's
    /// `early_stopping`); `None`: no validation split.
    pub validation_fraction: Option<f64>,
    /// Train on adversarial examples (Madry et al.'s PGD adversarial training) instead of
    /// the rows; `None`: on the rows.
    pub adversarial: Option<Adversarial>,
    /// The softmax's temperature in training (the logits divided by it); 1 is the plain
    /// softmax. Defensive distillation trains at a high one ([`distill`]).
    pub temperature: f64,
    /// The seed of the initialisation and the shuffles.
    pub seed: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            hidden: 100,
            alpha: 1e-4,
            learning_rate: 1e-3,
            max_epochs: 200,
            tol: 1e-4,
            patience: 10,
            validation_fraction: None,
            adversarial: None,
            temperature: 1.0,
            seed: 0,
        }
    }
}

/// PGD adversarial training (Madry et al., 2018): each minibatch is replaced by its
/// L∞ projected-gradient-descent adversarial examples, found against the network as it is
/// at that step, before the network learns from them.
#[derive(Debug, Clone, PartialEq)]
pub struct Adversarial {
    /// The L∞ radius, in the features' own units (as `aigis redteam --eps` takes it).
    pub eps: f64,
    /// PGD steps per minibatch.
    pub steps: usize,
    /// Each step's size, in the features' units.
    pub step_size: f64,
    /// The features' valid range (pixels in 0..1, say): examples are clipped into it.
    pub clip: Option<(f64, f64)>,
    /// TRADES (Zhang et al., 2019) with this β instead of Madry's objective: the loss is
    /// the clean rows' cross-entropy plus β times the KL divergence of the network's
    /// answers on its adversarial examples from those on the rows, the examples found by
    /// PGD on that divergence (from a start 0.001 × N(0, 1) off the row).
    pub trades: Option<f64>,
}

/// A trained network.
#[derive(Debug, Clone)]
pub struct Mlp {
    /// Each feature's public bounds, which rows are clamped into before standardizing (a
    /// differentially private model's; the others standardize rows as they are).
    pub(crate) bounds: Option<(Array1<f64>, Array1<f64>)>,
    pub(crate) mean: Array1<f64>,
    pub(crate) scale: Array1<f64>,
    pub(crate) layers: Vec<(Array2<f64>, Array1<f64>)>,
    /// Epochs run.
    pub epochs: usize,
    /// The held-out rows' accuracy at the epoch kept, with a validation split.
    pub validation_accuracy: Option<f64>,
}

/// The rows held out for validation: in each class, `fraction` of its rows (rounded, at
/// least one where the class has two or more), drawn with `rng`. Sorted.
fn validation_rows(
    y: &[usize],
    classes: usize,
    fraction: f64,
    rng: &mut fastrand::Rng,
) -> Vec<usize> {
    let mut held = Vec::new();
    for c in 0..classes {
        let mut members: Vec<usize> = (0..y.len()).filter(|&i| y.get(i) == Some(&c)).collect();
        if members.len() < 2 {
            continue;
        }
        rng.shuffle(&mut members);
        let take = ((members.len() as f64 * fraction).round() as usize).clamp(1, members.len() - 1);
        held.extend(members.into_iter().take(take));
    }
    held.sort_unstable();
    held
}

/// Each row's gradient of its own loss (cross-entropy against `yb`) with respect to its
/// standardized input `xb`.
fn input_gradient(model: &Mlp, xb: &Array2<f64>, yb: &Array2<f64>) -> Array2<f64> {
    let outs = model.forward(xb);
    let Some(p) = outs.last() else {
        return Array2::zeros(xb.raw_dim());
    };
    to_input(model, &outs, p - yb)
}

/// A gradient at the network's logits, `delta`, carried back to its standardized input
/// through the forward pass `outs`.
fn to_input(model: &Mlp, outs: &[Array2<f64>], delta: Array2<f64>) -> Array2<f64> {
    let mut delta = delta;
    for l in (0..model.layers.len()).rev() {
        let Some((w, _)) = model.layers.get(l) else {
            break;
        };
        let mut below = delta.dot(&w.t());
        if let Some(a) = l.checked_sub(1).and_then(|i| outs.get(i)) {
            below.zip_mut_with(a, |g, &a| {
                if a <= 0.0 {
                    *g = 0.0;
                }
            });
        }
        delta = below;
    }
    delta
}

/// One signed-gradient step of `a.step_size` on `raw` along `g`, projected into the L∞
/// ball of `a.eps` around `raw0` and into `range`, all in the features' units.
fn step_in_ball(
    raw: &mut Array2<f64>,
    g: &Array2<f64>,
    raw0: &Array2<f64>,
    a: &Adversarial,
    (lo, hi): (f64, f64),
) {
    ndarray::Zip::from(raw)
        .and(g)
        .and(raw0)
        .for_each(|r, &g, &r0| {
            let stepped = *r + a.step_size * g.signum();
            *r = stepped.clamp(r0 - a.eps, r0 + a.eps).clamp(lo, hi);
        });
}

/// `xb`'s L∞ PGD adversarial examples (standardized, as `xb`) against `model`: a random
/// start in the ball, then `steps` signed-gradient steps, each projected back into the
/// ball around the row and into the features' range. Computed in the features' own units.
fn pgd(
    model: &Mlp,
    xb: &Array2<f64>,
    yb: &Array2<f64>,
    a: &Adversarial,
    rng: &mut fastrand::Rng,
) -> Array2<f64> {
    let raw0 = xb * &model.scale + &model.mean;
    let (lo, hi) = a.clip.unwrap_or((f64::NEG_INFINITY, f64::INFINITY));
    let mut raw = raw0.mapv(|v| (v + a.eps * (2.0 * rng.f64() - 1.0)).clamp(lo, hi));
    for _ in 0..a.steps {
        let g = input_gradient(model, &((&raw - &model.mean) / &model.scale), yb);
        // The standardization divides by a positive scale: the raw gradient's sign is
        // the standardized one's.
        step_in_ball(&mut raw, &g, &raw0, a, (lo, hi));
    }
    (raw - &model.mean) / &model.scale
}

/// The rows, labels and classes fit together: `rows` rows of finite numbers, a label each
/// below `classes` (two or more). The number of features.
pub(crate) fn check_rows(
    x: &[f64],
    rows: usize,
    y: &[usize],
    classes: usize,
) -> Result<usize, Error> {
    if rows == 0 || y.len() != rows || !x.len().is_multiple_of(rows) || classes < 2 {
        return Err(Error::Options(format!(
            "{} numbers, {} labels for {rows} rows of {classes} classes",
            x.len(),
            y.len()
        )));
    }
    if y.iter().any(|&c| c >= classes) {
        return Err(Error::Options(format!("a label is not below {classes}")));
    }
    if !x.iter().all(|v| v.is_finite()) {
        return Err(Error::Options("a feature is not a finite number".into()));
    }
    Ok(x.len() / rows)
}

/// A layer's weight and bias gradient.
pub(crate) type Gradient = (Array2<f64>, Array1<f64>);

/// Each layer's weight and bias gradient (in layer order) of a loss whose gradient at the
/// logits is `delta`, through the forward pass `outs` of the input `input`.
pub(crate) fn layer_gradients(
    model: &Mlp,
    input: &Array2<f64>,
    outs: &[Array2<f64>],
    delta: Array2<f64>,
) -> Vec<Gradient> {
    let mut grads = Vec::with_capacity(model.layers.len());
    let mut delta = delta;
    for l in (0..model.layers.len()).rev() {
        let below = l.checked_sub(1).and_then(|i| outs.get(i));
        let Some((w, _)) = model.layers.get(l) else {
            break;
        };
        grads.push((
            below.unwrap_or(input).t().dot(&delta),
            delta.sum_axis(Axis(0)),
        ));
        if let Some(a) = below {
            let mut d = delta.dot(&w.t());
            d.zip_mut_with(a, |g, &a| {
                if a <= 0.0 {
                    *g = 0.0;
                }
            });
            delta = d;
        }
    }
    grads.reverse();
    grads
}

/// One TRADES step on the minibatch `xb` (standardized) labelled `yb`: the examples
/// maximizing the divergence, then Adam on the clean cross-entropy plus β times the
/// divergence (and the L2 penalty). The minibatch's summed loss.
#[allow(
    clippy::too_many_arguments,
    reason = "the network, its optimizer and the batch"
)]
fn trades_step(
    model: &mut Mlp,
    adam: &mut Adam,
    xb: &Array2<f64>,
    yb: &Array2<f64>,
    a: &Adversarial,
    beta: f64,
    s: &Settings,
    rng: &mut fastrand::Rng,
) -> f64 {
    let n = xb.nrows() as f64;
    let clean = model.forward(xb);
    let Some(p) = clean.last().cloned() else {
        return f64::NAN;
    };
    // The examples: PGD on KL(p(x) ‖ p(x')), in the features' units.
    let raw0 = xb * &model.scale + &model.mean;
    let (lo, hi) = a.clip.unwrap_or((f64::NEG_INFINITY, f64::INFINITY));
    let normal = |rng: &mut fastrand::Rng| {
        // Box–Muller: the start's small jitter needs no more than this.
        let (u, v) = (1.0 - rng.f64(), rng.f64());
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    };
    let mut raw = raw0.mapv(|v| (v + 0.001 * normal(rng)).clamp(lo, hi));
    for _ in 0..a.steps {
        let x = (&raw - &model.mean) / &model.scale;
        let outs = model.forward(&x);
        let Some(q) = outs.last() else { break };
        let g = to_input(model, &outs, q - &p);
        step_in_ball(&mut raw, &g, &raw0, a, (lo, hi));
    }
    let xa = (&raw - &model.mean) / &model.scale;
    // The clean pass is the one the examples were found against: the weights have not
    // moved since.
    let (loss, grads) = trades_gradients(model, xb, &clean, &xa, yb, beta);
    let penalty: f64 = model
        .layers
        .iter()
        .map(|(w, _)| w.mapv(|q| q * q).sum())
        .sum::<f64>()
        * 0.5
        * s.alpha
        / n;
    let rate = adam.next_rate(s.learning_rate);
    for (l, (gw, gb)) in grads.into_iter().enumerate() {
        let Some(layer) = model.layers.get_mut(l) else {
            break;
        };
        let gw = gw + &(&layer.0 * (s.alpha / n));
        adam.update(l, layer, &gw, &gb, rate);
    }
    loss * n + penalty * n
}

/// TRADES' loss on the rows `xb` (their forward pass `clean`) and their examples `xa`
/// (both standardized), the mean over the rows of `CE(p(x), y) + β KL(p(x) ‖ p(x'))`,
/// and its gradient for each layer.
/// At the clean logits the divergence's gradient is `p ∘ (v − p·v)` with `v = ln p −
/// ln q`; at the examples' logits, `q − p`.
fn trades_gradients(
    model: &Mlp,
    xb: &Array2<f64>,
    clean: &[Array2<f64>],
    xa: &Array2<f64>,
    yb: &Array2<f64>,
    beta: f64,
) -> (f64, Vec<Gradient>) {
    let n = xb.nrows() as f64;
    let adv = model.forward(xa);
    let (Some(p), Some(q)) = (clean.last(), adv.last()) else {
        return (f64::NAN, Vec::new());
    };
    let ln_p = p.mapv(|v| v.max(1e-300).ln());
    let ln_q = q.mapv(|v| v.max(1e-300).ln());
    let ce = -(&ln_p * yb).sum();
    let v = &ln_p - &ln_q;
    let kl = (p * &v).sum();
    let pv = (p * &v).sum_axis(Axis(1)).insert_axis(Axis(1));
    let d_clean = ((p - yb) + &((p * &(&v - &pv)) * beta)) / n;
    let d_adv = ((q - p) * beta) / n;
    let g_clean = layer_gradients(model, xb, clean, d_clean);
    let g_adv = layer_gradients(model, xa, &adv, d_adv);
    let grads = g_clean
        .into_iter()
        .zip(g_adv)
        .map(|((gw, gb), (aw, ab))| (gw + aw, gb + ab))
        .collect();
    ((ce + beta * kl) / n, grads)
}

/// The share of `rows` of `xs` that `model` classifies as `y` says.
fn accuracy_on(model: &Mlp, xs: &Array2<f64>, y: &[usize], rows: &[usize]) -> f64 {
    if rows.is_empty() {
        return 0.0;
    }
    let p = model
        .forward(&xs.select(Axis(0), rows))
        .pop()
        .unwrap_or_default();
    let right = p
        .rows()
        .into_iter()
        .zip(rows)
        .filter(|(r, i)| {
            let top = r
                .iter()
                .enumerate()
                .max_by(|a, b| a.1.total_cmp(b.1))
                .map_or(0, |m| m.0);
            y.get(**i) == Some(&top)
        })
        .count();
    right as f64 / rows.len() as f64
}

/// Glorot-uniform layers of `sizes` (each layer's inputs and outputs), as scikit-learn
/// initialises ReLU and softmax layers.
pub(crate) fn glorot(sizes: &[usize], rng: &mut fastrand::Rng) -> Vec<(Array2<f64>, Array1<f64>)> {
    sizes
        .windows(2)
        .filter_map(|p| match p {
            &[fan_in, fan_out] => Some((fan_in, fan_out)),
            _ => None,
        })
        .map(|(fan_in, fan_out)| {
            let bound = (6.0 / (fan_in + fan_out) as f64).sqrt();
            let mut draw = || bound * (2.0 * rng.f64() - 1.0);
            let w = Array2::from_shape_simple_fn((fan_in, fan_out), &mut draw);
            let b = Array1::from_shape_simple_fn(fan_out, &mut draw);
            (w, b)
        })
        .collect()
}

/// Adam's moments, per layer, and its step count.
pub(crate) struct Adam {
    m: Vec<(Array2<f64>, Array1<f64>)>,
    v: Vec<(Array2<f64>, Array1<f64>)>,
    t: i32,
}

const BETA1: f64 = 0.9;
const BETA2: f64 = 0.999;
const ADAM_EPS: f64 = 1e-8;

impl Adam {
    pub(crate) fn new(layers: &[(Array2<f64>, Array1<f64>)]) -> Self {
        let m: Vec<(Array2<f64>, Array1<f64>)> = layers
            .iter()
            .map(|(w, b)| (Array2::zeros(w.raw_dim()), Array1::zeros(b.len())))
            .collect();
        Self {
            v: m.clone(),
            m,
            t: 0,
        }
    }

    /// Starts a step: its bias-corrected rate.
    pub(crate) fn next_rate(&mut self, learning_rate: f64) -> f64 {
        self.t = self.t.saturating_add(1);
        learning_rate * (1.0 - BETA2.powi(self.t)).sqrt() / (1.0 - BETA1.powi(self.t))
    }

    /// Moves layer `l` by its gradients `gw` and `gb` at `rate`.
    pub(crate) fn update(
        &mut self,
        l: usize,
        layer: &mut (Array2<f64>, Array1<f64>),
        gw: &Array2<f64>,
        gb: &Array1<f64>,
        rate: f64,
    ) {
        let (Some((mw, mb)), Some((vw, vb))) = (self.m.get_mut(l), self.v.get_mut(l)) else {
            return;
        };
        mw.zip_mut_with(gw, |a, &g| *a = BETA1 * *a + (1.0 - BETA1) * g);
        mb.zip_mut_with(gb, |a, &g| *a = BETA1 * *a + (1.0 - BETA1) * g);
        vw.zip_mut_with(gw, |a, &g| *a = BETA2 * *a + (1.0 - BETA2) * g * g);
        vb.zip_mut_with(gb, |a, &g| *a = BETA2 * *a + (1.0 - BETA2) * g * g);
        let (w, b) = layer;
        ndarray::Zip::from(w)
            .and(&*mw)
            .and(&*vw)
            .for_each(|p, &a, &q| {
                *p -= rate * a / (q.sqrt() + ADAM_EPS);
            });
        ndarray::Zip::from(b)
            .and(&*mb)
            .and(&*vb)
            .for_each(|p, &a, &q| {
                *p -= rate * a / (q.sqrt() + ADAM_EPS);
            });
    }
}

fn relu_in_place(a: &mut Array2<f64>) {
    a.mapv_inplace(|v| v.max(0.0));
}

fn softmax_rows(z: &mut Array2<f64>) {
    for mut row in z.rows_mut() {
        let max = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        row.mapv_inplace(|v| (v - max).exp());
        let sum = row.sum();
        row.mapv_inplace(|v| v / sum);
    }
}

impl Mlp {
    /// The layers' outputs for standardized rows `x`: each hidden layer's activations,
    /// then the class probabilities.
    pub(crate) fn forward(&self, x: &Array2<f64>) -> Vec<Array2<f64>> {
        self.forward_at(x, 1.0)
    }

    /// [`Mlp::forward`] with the softmax at `temperature` (the logits divided by it).
    fn forward_at(&self, x: &Array2<f64>, temperature: f64) -> Vec<Array2<f64>> {
        let mut outs: Vec<Array2<f64>> = Vec::with_capacity(self.layers.len());
        let last = self.layers.len().saturating_sub(1);
        for (i, (w, b)) in self.layers.iter().enumerate() {
            let input = outs.last().unwrap_or(x);
            let mut a = input.dot(w) + b;
            if i == last {
                if temperature != 1.0 {
                    a /= temperature;
                }
                softmax_rows(&mut a);
            } else {
                relu_in_place(&mut a);
            }
            outs.push(a);
        }
        outs
    }

    pub(crate) fn standardize(&self, x: &[f64], rows: usize) -> Result<Array2<f64>, Error> {
        let features = self.mean.len();
        let mut a = Array2::from_shape_vec((rows, features), x.to_vec())
            .map_err(|e| Error::Options(e.to_string()))?;
        if let Some((low, high)) = &self.bounds {
            for mut row in a.rows_mut() {
                ndarray::Zip::from(&mut row)
                    .and(low)
                    .and(high)
                    .for_each(|v, &l, &h| *v = v.max(l).min(h));
            }
        }
        Ok((a - &self.mean) / &self.scale)
    }

    /// The network as a standard ONNX classifier ([`DenseClassifier`]): input `input`
    /// (`N × features` floats), outputs `label` and `probabilities`.
    pub fn to_onnx(&self, producer: &str, version: &str) -> Result<Vec<u8>, Error> {
        self.classifier()
            .to_onnx(producer, version)
            .map_err(Error::Options)
    }

    /// The network as the exporter's [`DenseClassifier`].
    pub fn classifier(&self) -> DenseClassifier {
        DenseClassifier {
            bounds: self.bounds.as_ref().map(|(l, h)| (l.to_vec(), h.to_vec())),
            mean: self.mean.to_vec(),
            scale: self.scale.to_vec(),
            layers: self
                .layers
                .iter()
                .map(|(w, b)| Layer {
                    weights: w.iter().copied().collect(),
                    bias: b.to_vec(),
                    inputs: w.nrows(),
                    outputs: w.ncols(),
                })
                .collect(),
        }
    }

    /// Each class's probability for each of `rows` rows (row-major, `classes` a row).
    pub fn probabilities(&self, x: &[f64], rows: usize) -> Result<Vec<f64>, Error> {
        let xs = self.standardize(x, rows)?;
        let p = self.forward(&xs).pop().unwrap_or_default();
        Ok(p.iter().copied().collect())
    }

    /// Whether every weight and bias is a finite number (training has not diverged).
    pub(crate) fn finite(&self) -> bool {
        self.layers
            .iter()
            .all(|(w, b)| w.iter().chain(b).all(|v| v.is_finite()))
    }

    /// The number of features the network takes.
    pub fn features(&self) -> usize {
        self.mean.len()
    }

    /// The class the network gives each of `rows` rows.
    pub fn predict(&self, x: &[f64], rows: usize) -> Result<Vec<usize>, Error> {
        let xs = self.standardize(x, rows)?;
        let p = self.forward(&xs).pop().unwrap_or_default();
        Ok(p.rows()
            .into_iter()
            .map(|r| {
                r.iter()
                    .enumerate()
                    .max_by(|a, b| a.1.total_cmp(b.1))
                    .map_or(0, |m| m.0)
            })
            .collect())
    }
}

/// Trains a network of `classes` classes on `rows` rows of `x` labelled `y`.
pub fn train(
    x: &[f64],
    rows: usize,
    y: &[usize],
    classes: usize,
    s: &Settings,
) -> Result<Mlp, Error> {
    fit(x, rows, y, None, classes, s)
}

/// Defensive distillation (Papernot et al., 2016): a teacher trained with its softmax at
/// `temperature`, then a student trained at the same temperature on the teacher's
/// answers at it (soft labels) instead of the labels; the student is deployed at
/// temperature 1, where its softmax is far sharper than in training. Known to mask
/// gradients rather than remove adversarial examples (Carlini and Wagner, 2017): measure
/// it with attacks that do not need the gradient. The student.
pub fn distill(
    x: &[f64],
    rows: usize,
    y: &[usize],
    classes: usize,
    s: &Settings,
    temperature: f64,
) -> Result<Mlp, Error> {
    if !(temperature.is_finite() && temperature > 0.0) {
        return Err(Error::Options(format!(
            "a distillation temperature of {temperature} (it must be above 0)"
        )));
    }
    let at = Settings {
        temperature,
        ..s.clone()
    };
    let teacher = fit(x, rows, y, None, classes, &at)?;
    let soft = teacher
        .forward_at(&teacher.standardize(x, rows)?, temperature)
        .pop()
        .unwrap_or_default();
    let student = Settings {
        seed: s.seed.wrapping_add(1),
        ..at
    };
    fit(x, rows, y, Some(&soft), classes, &student)
}

/// [`train`], on `targets` (each row's class probabilities) instead of the labels' one-hot
/// rows when given; the labels still stratify a validation split and measure it.
fn fit(
    x: &[f64],
    rows: usize,
    y: &[usize],
    targets: Option<&Array2<f64>>,
    classes: usize,
    s: &Settings,
) -> Result<Mlp, Error> {
    check_rows(x, rows, y, classes)?;
    if let Some(a) = &s.adversarial {
        let positive = |v: f64| v.is_finite() && v > 0.0;
        if !(positive(a.eps) && positive(a.step_size) && a.steps > 0) {
            return Err(Error::Options(format!(
                "adversarial training at eps {}, {} steps of {}: each must be positive",
                a.eps, a.steps, a.step_size
            )));
        }
        if let Some(beta) = a.trades
            && !(beta.is_finite() && beta >= 0.0)
        {
            return Err(Error::Options(format!(
                "a TRADES β of {beta} (it must be a number, at least 0)"
            )));
        }
        if let Some((lo, hi)) = a.clip
            && !(lo.is_finite() && hi.is_finite() && lo < hi)
        {
            return Err(Error::Options(format!(
                "a clip range of {lo} to {hi} (two finite numbers, the low below the high)"
            )));
        }
    }
    let features = x.len() / rows;
    let a = Array2::from_shape_vec((rows, features), x.to_vec())
        .map_err(|e| Error::Options(e.to_string()))?;
    let mean = a
        .mean_axis(Axis(0))
        .unwrap_or_else(|| Array1::zeros(features));
    // A constant column is left as it is (its deviation taken as 1).
    let scale = a
        .std_axis(Axis(0), 0.0)
        .mapv(|v| if v > 1e-12 { v } else { 1.0 });
    let xs = (a - &mean) / &scale;
    let onehot = match targets {
        Some(t) if t.dim() == (rows, classes) => t.clone(),
        Some(t) => {
            return Err(Error::Options(format!(
                "{:?} targets for {rows} rows of {classes} classes",
                t.dim()
            )));
        }
        None => {
            let mut onehot = Array2::<f64>::zeros((rows, classes));
            for (i, &c) in y.iter().enumerate() {
                if let Some(v) = onehot.get_mut((i, c)) {
                    *v = 1.0;
                }
            }
            onehot
        }
    };
    if !(s.temperature.is_finite() && s.temperature > 0.0) {
        return Err(Error::Options(format!(
            "a softmax temperature of {} (it must be above 0)",
            s.temperature
        )));
    }

    let mut rng = fastrand::Rng::with_seed(s.seed);
    let sizes: Vec<usize> = if s.hidden > 0 {
        vec![features, s.hidden, classes]
    } else {
        vec![features, classes]
    };
    let mut model = Mlp {
        bounds: None,
        mean,
        scale,
        layers: glorot(&sizes, &mut rng),
        epochs: 0,
        validation_accuracy: None,
    };
    // The validation split draws from its own generator, so that without one the
    // initialisation and the shuffles are what they always were.
    let held = match s.validation_fraction {
        Some(f) => {
            if !(f > 0.0 && f < 1.0) {
                return Err(Error::Options(format!(
                    "a validation fraction of {f} (it must be above 0 and below 1)"
                )));
            }
            let held = validation_rows(y, classes, f, &mut fastrand::Rng::with_seed(!s.seed));
            if held.is_empty() {
                return Err(Error::Options(format!(
                    "a validation fraction of {f} holds out no row of {rows}: every class needs two rows or more"
                )));
            }
            held
        }
        None => Vec::new(),
    };
    let mut adam = Adam::new(&model.layers);
    let mut order: Vec<usize> = (0..rows)
        .filter(|i| held.binary_search(i).is_err())
        .collect();
    let trained = order.len();
    let batch = trained.min(200);
    let mut best = f64::INFINITY;
    let mut best_score = f64::NEG_INFINITY;
    let mut best_layers = None;
    let mut stale = 0;
    for epoch in 0..s.max_epochs {
        rng.shuffle(&mut order);
        let mut total = 0.0;
        for chunk in order.chunks(batch) {
            let xb = xs.select(Axis(0), chunk);
            let yb = onehot.select(Axis(0), chunk);
            if let Some((a, beta)) = s.adversarial.as_ref().and_then(|a| Some((a, a.trades?))) {
                total += trades_step(&mut model, &mut adam, &xb, &yb, a, beta, s, &mut rng);
                continue;
            }
            let xb = match &s.adversarial {
                Some(a) => pgd(&model, &xb, &yb, a, &mut rng),
                None => xb,
            };
            let n = chunk.len() as f64;
            let outs = model.forward_at(&xb, s.temperature);
            let Some(p) = outs.last() else { break };
            let ce: f64 = -(p.mapv(|q| q.max(1e-300).ln()) * &yb).sum() / n;
            let penalty: f64 = model
                .layers
                .iter()
                .map(|(w, _)| w.mapv(|q| q * q).sum())
                .sum::<f64>()
                * 0.5
                * s.alpha
                / n;
            total += (ce + penalty) * n;
            // Backward: the softmax and cross-entropy's gradient, then through the layers.
            let mut delta = (p - &yb) / n;
            if s.temperature != 1.0 {
                // The logits were divided by the temperature before the softmax.
                delta /= s.temperature;
            }
            let lr = adam.next_rate(s.learning_rate);
            for l in (0..model.layers.len()).rev() {
                // The layer's input: the rows, or the hidden layer below's activations.
                let below = l.checked_sub(1).and_then(|i| outs.get(i));
                let input = below.unwrap_or(&xb);
                let Some((w, _)) = model.layers.get(l) else {
                    break;
                };
                let gw = input.t().dot(&delta) + &(w * (s.alpha / n));
                let gb = delta.sum_axis(Axis(0));
                let next = below.map(|a| {
                    let mut d = delta.dot(&w.t());
                    d.zip_mut_with(a, |g, &a| {
                        if a <= 0.0 {
                            *g = 0.0;
                        }
                    });
                    d
                });
                let Some(layer) = model.layers.get_mut(l) else {
                    break;
                };
                adam.update(l, layer, &gw, &gb, lr);
                if let Some(d) = next {
                    delta = d;
                }
            }
        }
        model.epochs = epoch + 1;
        let loss = total / trained as f64;
        if !loss.is_finite() {
            return Err(Error::Diverged(format!(
                "the training diverged at epoch {} (its loss is not a finite number)",
                epoch + 1
            )));
        }
        // scikit-learn's `_update_no_improvement_count`; it stops once the count
        // exceeds `n_iter_no_change`.
        if held.is_empty() {
            if loss > best - s.tol {
                stale += 1;
            } else {
                stale = 0;
            }
            best = best.min(loss);
        } else {
            let score = accuracy_on(&model, &xs, y, &held);
            if score < best_score + s.tol {
                stale += 1;
            } else {
                stale = 0;
            }
            if score > best_score {
                best_score = score;
                best_layers = Some(model.layers.clone());
            }
        }
        if stale > s.patience {
            break;
        }
    }
    if let Some(layers) = best_layers {
        model.layers = layers;
        model.validation_accuracy = Some(best_score);
    }
    Ok(model)
}

#[cfg(test)]
mod tests;
