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

/// The surrogate and its training: the training stage's trainer ([`aigis_train::mlp`]),
/// scikit-learn's `MLPClassifier`.
pub use aigis_train::mlp::{Mlp as Trained, Settings as Surrogate};

/// Trains a surrogate of `classes` classes on `rows` rows of `x` labelled `y`
/// ([`aigis_train::mlp::train`]).
pub fn train(
    x: &[f64],
    rows: usize,
    y: &[usize],
    classes: usize,
    s: &Surrogate,
) -> Result<Trained, Error> {
    Ok(aigis_train::mlp::train(x, rows, y, classes, s)?)
}

impl From<aigis_train::mlp::Error> for Error {
    fn from(e: aigis_train::mlp::Error) -> Self {
        match e {
            aigis_train::mlp::Error::Options(m) => Error::Options(m),
            aigis_train::mlp::Error::Diverged(m) => Error::Model(m),
        }
    }
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
