//! Model extraction: how well a copy trained from the model's answers agrees with it, as
//! the number of queries grows.
//!
//! The attacker asks the model about `N` rows (drawn uniformly in each feature's range,
//! from a normal fitted to each feature of the given data, or taken in order from rows of
//! its own), trains a surrogate on the classes the model gave them, and is measured on
//! held-out rows: its *fidelity* (the share of rows where it gives the model's class)
//! and its *accuracy* (against the true labels). Queries are drawn once for the largest
//! budget; each smaller budget trains on their first rows, so the curve is of one
//! attacker spending more.
//!
//! The surrogate is scikit-learn's `MLPClassifier` with its defaults where they apply
//! (ReLU hidden layer, softmax output, cross-entropy with an L2 penalty of `alpha`
//! scaled by the batch, Glorot-uniform initialisation, Adam at 0.001, batches of
//! `min(200, n)` rows reshuffled each epoch, stopping when the epoch's loss has not
//! improved by `tol` for ten epochs), on inputs standardized by the queries' own means
//! and deviations; no hidden layer is multinomial logistic regression. Written here
//! rather than taken from a crate: linfa has no multilayer perceptron, and the training
//! stage will share this one (`scripts/extraction_vs_sklearn.py` compares it with
//! scikit-learn on the same queries).

use ndarray::{Array1, Array2, Axis};

use crate::Error;

/// Where the attacker's queries come from.
#[derive(Debug, Clone)]
pub enum Source {
    /// Uniform in each feature's range.
    Random,
    /// A normal per feature with the given data's mean and standard deviation, clipped
    /// to its range.
    Profile,
    /// The attacker's own rows (row-major), in order: a budget of at most their number.
    Pool(Vec<f64>),
}

/// The surrogate's settings (scikit-learn's `MLPClassifier` defaults).
#[derive(Debug, Clone)]
pub struct Surrogate {
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
    /// The seed of the initialisation and the shuffles.
    pub seed: u64,
}

impl Default for Surrogate {
    fn default() -> Self {
        Self {
            hidden: 100,
            alpha: 1e-4,
            learning_rate: 1e-3,
            max_epochs: 200,
            tol: 1e-4,
            patience: 10,
            seed: 0,
        }
    }
}

/// The queries for a budget of `n` rows of `features` numbers, each feature within
/// `ranges`, with `data` (row-major) standing for the distribution the attacker knows.
pub fn queries(
    source: &Source,
    n: usize,
    features: usize,
    ranges: &[(f64, f64)],
    data: &[f64],
    seed: u64,
) -> Result<Vec<f64>, Error> {
    if ranges.len() != features || features == 0 {
        return Err(Error::Options(format!(
            "{} ranges for {features} features",
            ranges.len()
        )));
    }
    let mut rng = fastrand::Rng::with_seed(seed);
    match source {
        Source::Random => Ok((0..n)
            .flat_map(|_| {
                ranges
                    .iter()
                    .map(|&(lo, hi)| lo + (hi - lo) * rng.f64())
                    .collect::<Vec<_>>()
            })
            .collect()),
        Source::Profile => {
            let rows = data.len() / features;
            if rows < 2 {
                return Err(Error::Options(
                    "a profile needs at least two rows of data".into(),
                ));
            }
            let stats: Vec<(f64, f64)> = (0..features)
                .map(|j| {
                    let col = data.iter().skip(j).step_by(features);
                    let mean = col.clone().sum::<f64>() / rows as f64;
                    let var = col.map(|v| (v - mean) * (v - mean)).sum::<f64>() / (rows - 1) as f64;
                    (mean, var.sqrt())
                })
                .collect();
            let mut out = Vec::with_capacity(n * features);
            for _ in 0..n {
                for (&(mean, std), &(lo, hi)) in stats.iter().zip(ranges) {
                    out.push((mean + std * crate::evasion::gaussian(&mut rng)).clamp(lo, hi));
                }
            }
            Ok(out)
        }
        Source::Pool(pool) => {
            let rows = pool.len() / features;
            if rows == 0 || pool.len() != rows * features {
                return Err(Error::Options(format!(
                    "the attacker's rows are not rows of {features} numbers"
                )));
            }
            if n > rows {
                return Err(Error::Options(format!(
                    "the attacker has {rows} rows: a budget of {n} queries would ask some twice"
                )));
            }
            Ok(pool.get(..n * features).unwrap_or_default().to_vec())
        }
    }
}

/// A trained surrogate.
#[derive(Debug, Clone)]
pub struct Trained {
    mean: Array1<f64>,
    scale: Array1<f64>,
    layers: Vec<(Array2<f64>, Array1<f64>)>,
    /// Epochs run.
    pub epochs: usize,
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

impl Trained {
    /// The layers' outputs for standardized rows `x`: each hidden layer's activations,
    /// then the class probabilities.
    fn forward(&self, x: &Array2<f64>) -> Vec<Array2<f64>> {
        let mut outs: Vec<Array2<f64>> = Vec::with_capacity(self.layers.len());
        let last = self.layers.len().saturating_sub(1);
        for (i, (w, b)) in self.layers.iter().enumerate() {
            let input = outs.last().unwrap_or(x);
            let mut a = input.dot(w) + b;
            if i == last {
                softmax_rows(&mut a);
            } else {
                relu_in_place(&mut a);
            }
            outs.push(a);
        }
        outs
    }

    fn standardize(&self, x: &[f64], rows: usize) -> Result<Array2<f64>, Error> {
        let features = self.mean.len();
        let a = Array2::from_shape_vec((rows, features), x.to_vec())
            .map_err(|e| Error::Options(e.to_string()))?;
        Ok((a - &self.mean) / &self.scale)
    }

    /// The class the surrogate gives each of `rows` rows.
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

/// Trains a surrogate of `classes` classes on `rows` rows of `x` labelled `y`.
pub fn train(
    x: &[f64],
    rows: usize,
    y: &[usize],
    classes: usize,
    s: &Surrogate,
) -> Result<Trained, Error> {
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
        return Err(Error::Options("a query is not a finite number".into()));
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
    let mut onehot = Array2::<f64>::zeros((rows, classes));
    for (i, &c) in y.iter().enumerate() {
        if let Some(v) = onehot.get_mut((i, c)) {
            *v = 1.0;
        }
    }

    let mut rng = fastrand::Rng::with_seed(s.seed);
    let sizes: Vec<usize> = if s.hidden > 0 {
        vec![features, s.hidden, classes]
    } else {
        vec![features, classes]
    };
    let mut model = Trained {
        mean,
        scale,
        layers: sizes
            .windows(2)
            .filter_map(|p| match p {
                &[fan_in, fan_out] => Some((fan_in, fan_out)),
                _ => None,
            })
            .map(|(fan_in, fan_out)| {
                // Glorot uniform, as scikit-learn initialises ReLU and softmax layers.
                let bound = (6.0 / (fan_in + fan_out) as f64).sqrt();
                let mut draw = || bound * (2.0 * rng.f64() - 1.0);
                let w = Array2::from_shape_simple_fn((fan_in, fan_out), &mut draw);
                let b = Array1::from_shape_simple_fn(fan_out, &mut draw);
                (w, b)
            })
            .collect(),
        epochs: 0,
    };
    // Adam's moments, per layer.
    let mut m: Vec<(Array2<f64>, Array1<f64>)> = model
        .layers
        .iter()
        .map(|(w, b)| (Array2::zeros(w.raw_dim()), Array1::zeros(b.len())))
        .collect();
    let mut v = m.clone();
    let (beta1, beta2, eps) = (0.9f64, 0.999f64, 1e-8);
    let batch = rows.min(200);
    let mut order: Vec<usize> = (0..rows).collect();
    let mut best = f64::INFINITY;
    let mut stale = 0;
    let mut t = 0i32;
    for epoch in 0..s.max_epochs {
        rng.shuffle(&mut order);
        let mut total = 0.0;
        for chunk in order.chunks(batch) {
            let xb = xs.select(Axis(0), chunk);
            let yb = onehot.select(Axis(0), chunk);
            let n = chunk.len() as f64;
            let outs = model.forward(&xb);
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
            t += 1;
            let lr = s.learning_rate * (1.0 - beta2.powi(t)).sqrt() / (1.0 - beta1.powi(t));
            for l in (0..model.layers.len()).rev() {
                // The layer's input: the rows, or the hidden layer below's activations.
                let below = l.checked_sub(1).and_then(|i| outs.get(i));
                let input = below.unwrap_or(&xb);
                let (Some((w, _)), Some((mw, mb)), Some((vw, vb))) =
                    (model.layers.get(l), m.get_mut(l), v.get_mut(l))
                else {
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
                mw.zip_mut_with(&gw, |a, &g| *a = beta1 * *a + (1.0 - beta1) * g);
                mb.zip_mut_with(&gb, |a, &g| *a = beta1 * *a + (1.0 - beta1) * g);
                vw.zip_mut_with(&gw, |a, &g| *a = beta2 * *a + (1.0 - beta2) * g * g);
                vb.zip_mut_with(&gb, |a, &g| *a = beta2 * *a + (1.0 - beta2) * g * g);
                let Some((w, b)) = model.layers.get_mut(l) else {
                    break;
                };
                ndarray::Zip::from(w)
                    .and(&*mw)
                    .and(&*vw)
                    .for_each(|p, &a, &q| {
                        *p -= lr * a / (q.sqrt() + eps);
                    });
                ndarray::Zip::from(b)
                    .and(&*mb)
                    .and(&*vb)
                    .for_each(|p, &a, &q| {
                        *p -= lr * a / (q.sqrt() + eps);
                    });
                if let Some(d) = next {
                    delta = d;
                }
            }
        }
        model.epochs = epoch + 1;
        let loss = total / rows as f64;
        if !loss.is_finite() {
            return Err(Error::Model(format!(
                "the surrogate's training diverged at epoch {}",
                epoch + 1
            )));
        }
        // scikit-learn's `_update_no_improvement_count`; it stops once the count
        // exceeds `n_iter_no_change`.
        if loss > best - s.tol {
            stale += 1;
        } else {
            stale = 0;
        }
        best = best.min(loss);
        if stale > s.patience {
            break;
        }
    }
    Ok(model)
}

/// One point of the curve.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    /// Queries the surrogate was trained on.
    pub queries: usize,
    /// The share of held-out rows where the surrogate gives the model's class.
    pub fidelity: f64,
    /// The share where it gives the true label.
    pub accuracy: f64,
    /// Epochs its training ran.
    pub epochs: usize,
}

/// The curve: for each budget (ascending), a surrogate trained on the first `budget` of
/// `queries` labelled `answers` (the model's classes), measured on `test` rows against
/// the model's classes `model_classes` and the true `labels`.
#[allow(clippy::too_many_arguments, reason = "the curve's inputs, each named")]
pub fn curve(
    budgets: &[usize],
    queries: &[f64],
    answers: &[usize],
    classes: usize,
    test: &[f64],
    model_classes: &[usize],
    labels: &[usize],
    surrogate: &Surrogate,
) -> Result<Vec<Point>, Error> {
    let features = queries.len() / answers.len().max(1);
    let n_test = model_classes.len();
    if features == 0 || test.len() != n_test * features || labels.len() != n_test || n_test == 0 {
        return Err(Error::Options(
            "the held-out rows do not match the queries' width".into(),
        ));
    }
    budgets
        .iter()
        .map(|&b| {
            let b = b.min(answers.len());
            let x = queries.get(..b * features).unwrap_or_default();
            let y = answers.get(..b).unwrap_or_default();
            let trained = train(x, b, y, classes, surrogate)?;
            let predicted = trained.predict(test, n_test)?;
            let share = |truth: &[usize]| {
                predicted.iter().zip(truth).filter(|(p, t)| p == t).count() as f64 / n_test as f64
            };
            Ok(Point {
                queries: b,
                fidelity: share(model_classes),
                accuracy: share(labels),
                epochs: trained.epochs,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests;
