//! DP-SGD (Abadi et al., 2016): the network of [`crate::mlp`] trained so that the model
//! is `(ε, δ)`-differentially private with respect to adding or removing one row.
//!
//! Each step:
//! - **Poisson sampling**: every row joins the batch independently with probability `q`
//!   (the sampler the accountants of [`crate::privacy`] assume; the batch's size varies,
//!   and an empty batch is a step like any other);
//! - **per-example clipping**: each row's gradient is scaled to an L2 norm of at most `C`
//!   (`max_grad_norm`). Its norm is found without forming it: a dense layer's per-example
//!   weight gradient is the outer product `a ⊗ δ` of the layer's input and the loss's
//!   gradient at its output, whose norm is `‖a‖·‖δ‖` (and the bias's is `‖δ‖`), so the
//!   clipped sum is `Aᵀ·diag(c)·Δ`, two matrix products per layer (the trick Opacus calls
//!   ghost clipping);
//! - **Gaussian noise** of standard deviation `σ·C` on every coordinate of the summed
//!   gradient, which is then divided by the expected batch size `q·N` (Opacus' choice for
//!   Poisson sampling, so the divisor does not depend on the batch drawn);
//! - Adam's update on the noisy gradient (post-processing), with the L2 penalty's gradient
//!   (which does not depend on the data) added after the noise.
//!
//! What the accountant needs to be true of the run, and how it is kept true here:
//! - a fixed number of steps, decided before training: there is no early stopping on the
//!   loss, which would depend on the data;
//! - inputs that do not depend on other rows: each feature is clamped into **public
//!   bounds** and scaled by them, never by the rows' own means and deviations (which would
//!   publish them outside the guarantee);
//! - secret randomness: the sampling and the noise come from the generator the caller
//!   passes, which must be cryptographic ([`secure_rng`] seeds ChaCha20 from the operating
//!   system). The seed of the settings fixes only the initial weights, which are public.
//!
//! Not covered (as in Opacus and TF Privacy): the noise is drawn in double precision by
//! the ziggurat method, which is not hardened against floating-point side channels
//! (Mironov 2012; Jin et al. 2022).

use chacha20::ChaCha20Rng;
use ndarray::{Array1, Array2, Axis};
use rand::{Rng as _, SeedableRng as _};
use rand_distr::{Distribution as _, StandardNormal};

use crate::mlp::{Adam, Error, Mlp, glorot};

/// A DP-SGD run's settings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Hidden units (0: multinomial logistic regression).
    pub hidden: usize,
    /// Adam's learning rate.
    pub learning_rate: f64,
    /// The L2 penalty (its gradient is added after the noise).
    pub alpha: f64,
    /// Each row's probability of joining a batch, `q`.
    pub sampling_rate: f64,
    /// Steps, decided before training.
    pub steps: u64,
    /// The noise's standard deviation over the clipping norm, `σ`.
    pub noise_multiplier: f64,
    /// Each row's gradient is clipped to this L2 norm, `C`.
    pub max_grad_norm: f64,
    /// The seed of the initial weights (public; not of the sampling or the noise).
    pub seed: u64,
}

/// Each feature's public range: rows are clamped into it and scaled by it.
#[derive(Debug, Clone, PartialEq)]
pub struct Bounds {
    pub low: Vec<f64>,
    pub high: Vec<f64>,
}

/// A cryptographic generator for the sampling and the noise, seeded by the operating
/// system.
pub fn secure_rng() -> Result<ChaCha20Rng, Error> {
    ChaCha20Rng::try_from_rng(&mut rand::rngs::SysRng).map_err(|e| {
        Error::Options(format!(
            "the operating system's random source failed ({e}): DP-SGD needs secret randomness"
        ))
    })
}

fn check(
    x: &[f64],
    rows: usize,
    y: &[usize],
    classes: usize,
    bounds: &Bounds,
    s: &Settings,
) -> Result<usize, Error> {
    let features = crate::mlp::check_rows(x, rows, y, classes)?;
    if bounds.low.len() != features || bounds.high.len() != features {
        return Err(Error::Options(format!(
            "{} low and {} high bounds for {features} features",
            bounds.low.len(),
            bounds.high.len()
        )));
    }
    if let Some(j) = (0..features).find(|&j| {
        let (l, h) = (bounds.low.get(j), bounds.high.get(j));
        // The width too must be a number: 1e308 less -1e308 is not.
        !matches!((l, h), (Some(l), Some(h)) if l < h && (h - l).is_finite())
    }) {
        return Err(Error::Options(format!(
            "feature {}: its bounds must be finite numbers, the low below the high, their distance finite",
            j + 1
        )));
    }
    let positive = |v: f64| v.is_finite() && v > 0.0;
    if !(positive(s.sampling_rate) && s.sampling_rate <= 1.0) {
        return Err(Error::Options(format!(
            "a sampling rate of {} (it must be above 0 and at most 1)",
            s.sampling_rate
        )));
    }
    if !positive(s.noise_multiplier) {
        return Err(Error::Options(format!(
            "a noise multiplier of {} (it must be above 0: without noise there is no privacy)",
            s.noise_multiplier
        )));
    }
    if !positive(s.max_grad_norm) {
        return Err(Error::Options(format!(
            "a clipping norm of {} (it must be above 0)",
            s.max_grad_norm
        )));
    }
    if !(positive(s.learning_rate) && s.alpha.is_finite() && s.alpha >= 0.0) {
        return Err(Error::Options(
            "the learning rate must be above 0 and the L2 penalty at least 0".into(),
        ));
    }
    if s.steps == 0 {
        return Err(Error::Options("a run of 0 steps".into()));
    }
    Ok(features)
}

/// Per-example gradients of a batch, clipped and summed: each layer's weight and bias
/// gradient. `xb` is the batch's scaled rows and `yb` their one-hot labels.
fn clipped_sum(
    model: &Mlp,
    xb: &Array2<f64>,
    yb: &Array2<f64>,
    max_grad_norm: f64,
) -> Vec<(Array2<f64>, Array1<f64>)> {
    let outs = model.forward(xb);
    let layers = model.layers.len();
    // The per-example loss's gradient at each layer's output (not divided by the batch).
    let mut deltas: Vec<Array2<f64>> = Vec::with_capacity(layers);
    if let Some(p) = outs.last() {
        deltas.push(p - yb);
    }
    for l in (1..layers).rev() {
        let (Some(d), Some((w, _)), Some(a)) =
            (deltas.last(), model.layers.get(l), outs.get(l - 1))
        else {
            break;
        };
        let mut below = d.dot(&w.t());
        below.zip_mut_with(a, |g, &a| {
            if a <= 0.0 {
                *g = 0.0;
            }
        });
        deltas.push(below);
    }
    deltas.reverse();
    let input =
        |l: usize| -> &Array2<f64> { l.checked_sub(1).and_then(|i| outs.get(i)).unwrap_or(xb) };
    // Each row's squared gradient norm: Σ over layers of (‖a‖² + 1)·‖δ‖².
    let mut norm2 = Array1::<f64>::zeros(xb.nrows());
    for (l, d) in deltas.iter().enumerate() {
        let a2 = input(l).map_axis(Axis(1), |r| r.dot(&r));
        let d2 = d.map_axis(Axis(1), |r| r.dot(&r));
        norm2 = norm2 + (a2 + 1.0) * d2;
    }
    let factor = norm2.mapv(|n2| {
        let n = n2.sqrt();
        if n > max_grad_norm {
            max_grad_norm / n
        } else {
            1.0
        }
    });
    let factor = factor.insert_axis(Axis(1));
    deltas
        .iter()
        .enumerate()
        .map(|(l, d)| {
            let scaled = d * &factor;
            (input(l).t().dot(&scaled), scaled.sum_axis(Axis(0)))
        })
        .collect()
}

/// Draws a Poisson-sampled batch into `batch`: each of `rows` rows joins independently with
/// probability `q`.
fn poisson_batch(rows: usize, q: f64, rng: &mut ChaCha20Rng, batch: &mut Vec<usize>) {
    batch.clear();
    if q >= 1.0 {
        batch.extend(0..rows);
        return;
    }
    // A row joins when a uniform 64-bit draw is below q·2⁶⁴.
    let threshold = (q * 2f64.powi(64)) as u64;
    batch.extend((0..rows).filter(|_| rng.next_u64() < threshold));
}

/// Adds Gaussian noise of standard deviation `std` to every coordinate of `g` and divides
/// it by `expected`, the expected batch size.
fn noisy_mean(g: &mut [f64], std: f64, expected: f64, rng: &mut ChaCha20Rng) {
    for v in g {
        let z: f64 = StandardNormal.sample(rng);
        *v = (*v + std * z) / expected;
    }
}

/// Trains a network of `classes` classes on `rows` rows of `x` labelled `y` by DP-SGD.
/// `rng` draws the batches and the noise; `progress` is told each step done. Not generic
/// over the generator: a generic trainer is compiled in its caller's crate, which the dev
/// profile leaves unoptimized (the trainer ran 16 times slower so).
#[allow(
    clippy::too_many_arguments,
    reason = "the run's data, bounds, settings and randomness"
)]
pub fn train(
    x: &[f64],
    rows: usize,
    y: &[usize],
    classes: usize,
    bounds: &Bounds,
    s: &Settings,
    rng: &mut ChaCha20Rng,
    progress: &mut dyn FnMut(u64),
) -> Result<Mlp, Error> {
    let features = check(x, rows, y, classes, bounds, s)?;
    let low = Array1::from(bounds.low.clone());
    let high = Array1::from(bounds.high.clone());
    let mid = (&low + &high) / 2.0;
    let half = (&high - &low) / 2.0;
    let mut model = Mlp {
        bounds: Some((low, high)),
        mean: mid,
        scale: half,
        layers: Vec::new(),
        epochs: 0,
        validation_accuracy: None,
    };
    let xs = model.standardize(x, rows)?;
    let mut onehot = Array2::<f64>::zeros((rows, classes));
    for (i, &c) in y.iter().enumerate() {
        if let Some(v) = onehot.get_mut((i, c)) {
            *v = 1.0;
        }
    }
    let sizes: Vec<usize> = if s.hidden > 0 {
        vec![features, s.hidden, classes]
    } else {
        vec![features, classes]
    };
    model.layers = glorot(&sizes, &mut fastrand::Rng::with_seed(s.seed));
    let mut adam = Adam::new(&model.layers);
    let expected = s.sampling_rate * rows as f64;
    let std = s.noise_multiplier * s.max_grad_norm;
    let mut batch: Vec<usize> = Vec::with_capacity(expected.ceil() as usize * 2 + 16);
    for step in 0..s.steps {
        poisson_batch(rows, s.sampling_rate, rng, &mut batch);
        let mut grads = if batch.is_empty() {
            model
                .layers
                .iter()
                .map(|(w, b)| (Array2::zeros(w.raw_dim()), Array1::zeros(b.len())))
                .collect()
        } else {
            let xb = xs.select(Axis(0), &batch);
            let yb = onehot.select(Axis(0), &batch);
            clipped_sum(&model, &xb, &yb, s.max_grad_norm)
        };
        let rate = adam.next_rate(s.learning_rate);
        for (l, (gw, gb)) in grads.iter_mut().enumerate() {
            for g in [gw.as_slice_mut(), gb.as_slice_mut()] {
                // Fresh arrays are contiguous; a view that is not would be a bug here.
                let Some(g) = g else {
                    return Err(Error::Options("a gradient is not contiguous".into()));
                };
                noisy_mean(g, std, expected, rng);
            }
            let Some(layer) = model.layers.get_mut(l) else {
                break;
            };
            gw.scaled_add(s.alpha / expected, &layer.0);
            adam.update(l, layer, gw, gb, rate);
        }
        if !model.finite() {
            return Err(Error::Diverged(format!(
                "the training diverged at step {} (a weight is not a finite number): lower the learning rate",
                step + 1
            )));
        }
        progress(step + 1);
    }
    // Epochs in the sense of passes over the data, in expectation.
    model.epochs = (s.steps as f64 * s.sampling_rate).ceil() as usize;
    Ok(model)
}

#[cfg(test)]
mod tests;
