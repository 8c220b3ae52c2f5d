//! Poisoning of the training data: how much a stated share of poisoned training rows
//! costs a model trained on them, and how well a planted backdoor works.
//!
//! The model is retrained here, by [`extraction::train`] (scikit-learn's
//! `MLPClassifier`, or multinomial logistic regression with no hidden layer), once on
//! the clean training rows and once per poisoning, with the same seed, so the
//! difference is the poison's. Two poisonings (Biggio et al.; Gu et al., "BadNets"):
//! - **label flip**: a share of the training rows, drawn at random, get another class
//!   drawn uniformly from the others;
//! - **backdoor**: a share of the training rows not of the target class get the trigger
//!   stamped on them (its features set to its values) and the target class as their
//!   label. Its success is the share of held-out rows, not of the target class, that
//!   the poisoned model gives the target class once the trigger is stamped on them (the
//!   clean model's share is the baseline).
//!
//! Each is measured on the held-out rows: accuracy, and its drop from the clean model's.

use crate::Error;
use crate::extraction::{self, Surrogate};
use crate::square::Shape;

/// A poisoning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Labels changed to another class.
    LabelFlip,
    /// A trigger stamped and the label set to the target.
    Backdoor,
}

impl Kind {
    /// Its name in reports and evidence.
    pub fn name(self) -> &'static str {
        match self {
            Kind::LabelFlip => "label-flip",
            Kind::Backdoor => "backdoor",
        }
    }
}

/// A backdoor's trigger: features and the values stamped on them.
#[derive(Debug, Clone, PartialEq)]
pub struct Trigger {
    pub features: Vec<usize>,
    pub values: Vec<f64>,
}

impl Trigger {
    /// The usual trigger for rows laid out as `shape`: on an image, the bottom-right
    /// square of a quarter of the side (at least 2 × 2 pixels, every channel) set to
    /// the top of the image's range (the highest of every pixel's: a corner pixel's own
    /// range is often nothing but the blank background, and a trigger there at its own
    /// top would change nothing); on a row of features, its last three (or fewer) set
    /// to the top of theirs. `ranges`: each feature's (lowest, highest).
    pub fn corner(shape: Shape, ranges: &[(f64, f64)]) -> Self {
        let mut features = Vec::new();
        if shape.height > 1 {
            let side = (shape.height.min(shape.width) / 4)
                .max(2)
                .min(shape.height.min(shape.width));
            for c in 0..shape.channels {
                for h in shape.height - side..shape.height {
                    for w in shape.width - side..shape.width {
                        features.push(if shape.channels_last {
                            (h * shape.width + w) * shape.channels + c
                        } else {
                            (c * shape.height + h) * shape.width + w
                        });
                    }
                }
            }
        } else {
            let n = ranges.len();
            features.extend(n.saturating_sub(3)..n);
        }
        let image_top = ranges.iter().map(|r| r.1).fold(f64::NEG_INFINITY, f64::max);
        let values = features
            .iter()
            .map(|&j| {
                if shape.height > 1 && image_top.is_finite() {
                    image_top
                } else {
                    ranges.get(j).map_or(1.0, |r| r.1)
                }
            })
            .collect();
        Self { features, values }
    }

    /// Stamps the trigger on a row.
    pub fn stamp(&self, row: &mut [f64]) {
        for (&j, &v) in self.features.iter().zip(&self.values) {
            if let Some(x) = row.get_mut(j) {
                *x = v;
            }
        }
    }
}

/// Training rows with a share poisoned: the rows, their labels, and how many were
/// poisoned.
#[derive(Debug, Clone)]
pub struct Poisoned {
    pub x: Vec<f64>,
    pub y: Vec<usize>,
    pub rows: usize,
}

/// Poisons `round(rate × rows)` of the `rows` rows of `x` (`cols` numbers each, labels
/// `y` among `k` classes) by `kind` (a backdoor: rows not of `target` only, as many as
/// there are).
#[allow(
    clippy::too_many_arguments,
    reason = "the rows, the poisoning and the backdoor's trigger and target, each named"
)]
pub fn poison(
    x: &[f64],
    y: &[usize],
    cols: usize,
    k: usize,
    kind: Kind,
    rate: f64,
    trigger: &Trigger,
    target: usize,
    seed: u64,
) -> Result<Poisoned, Error> {
    let rows = y.len();
    if !(0.0..=1.0).contains(&rate) {
        return Err(Error::Options(format!(
            "a poisoning rate is a share of the training rows, in [0, 1], not {rate}"
        )));
    }
    if x.len() != rows * cols || k < 2 || target >= k {
        return Err(Error::Options(format!(
            "{} numbers and {rows} labels of {k} classes (target {target}) for rows of {cols}",
            x.len()
        )));
    }
    let mut rng = fastrand::Rng::with_seed(seed ^ 0x5EED_0FB0_150A);
    let mut candidates: Vec<usize> = match kind {
        Kind::LabelFlip => (0..rows).collect(),
        Kind::Backdoor => (0..rows).filter(|&r| y.get(r) != Some(&target)).collect(),
    };
    rng.shuffle(&mut candidates);
    let want = ((rate * rows as f64).round() as usize).min(candidates.len());
    let (mut px, mut py) = (x.to_vec(), y.to_vec());
    for &r in candidates.iter().take(want) {
        match kind {
            Kind::LabelFlip => {
                if let Some(label) = py.get_mut(r) {
                    // Uniform among the other classes.
                    let other = rng.usize(0..k - 1);
                    *label = if other >= *label { other + 1 } else { other };
                }
            }
            Kind::Backdoor => {
                if let Some(row) = px.get_mut(r * cols..(r + 1) * cols) {
                    trigger.stamp(row);
                }
                if let Some(label) = py.get_mut(r) {
                    *label = target;
                }
            }
        }
    }
    Ok(Poisoned {
        x: px,
        y: py,
        rows: want,
    })
}

/// A model trained on poisoned rows, measured on held-out rows.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub kind: Kind,
    /// The share asked for.
    pub rate: f64,
    /// Training rows poisoned.
    pub poisoned: usize,
    /// Its accuracy on the held-out rows.
    pub accuracy: f64,
    /// The clean model's accuracy less this one's.
    pub accuracy_drop: f64,
    /// A backdoor's success: the share of held-out rows not of the target that it
    /// gives the target once the trigger is stamped.
    pub backdoor_success: Option<f64>,
}

/// The clean model and each poisoned one, measured.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// The clean model's accuracy on the held-out rows.
    pub clean_accuracy: f64,
    /// The clean model's share of triggered held-out rows (not of the target) given the
    /// target: what a backdoor's success is to be read against.
    pub clean_backdoor_rate: f64,
    pub outcomes: Vec<Outcome>,
}

/// The share of `rows` held-out rows (`cols` numbers, true classes `y`) not of `target`
/// that `model` gives `target` with the trigger stamped on them.
fn triggered_rate(
    model: &extraction::Trained,
    x: &[f64],
    y: &[usize],
    cols: usize,
    trigger: &Trigger,
    target: usize,
) -> Result<f64, Error> {
    let mut rows = Vec::new();
    let mut n = 0;
    for (r, &label) in y.iter().enumerate() {
        if label == target {
            continue;
        }
        let mut row = x.get(r * cols..(r + 1) * cols).unwrap_or_default().to_vec();
        trigger.stamp(&mut row);
        rows.extend(row);
        n += 1;
    }
    if n == 0 {
        return Ok(0.0);
    }
    let said = model.predict(&rows, n)?;
    Ok(said.iter().filter(|&&c| c == target).count() as f64 / n as f64)
}

fn accuracy(model: &extraction::Trained, x: &[f64], y: &[usize]) -> Result<f64, Error> {
    let said = model.predict(x, y.len())?;
    Ok(said.iter().zip(y).filter(|(a, b)| a == b).count() as f64 / y.len().max(1) as f64)
}

/// Trains the clean model on `train` and one per poisoning of `plan` (a kind and a rate
/// each), all with `surrogate`'s settings and seed, and measures them on `test`. Rows
/// are `cols` numbers with labels among `k` classes. `step` is called after each model
/// and says whether to go on: when it says no, the report holds the poisonings run.
#[allow(
    clippy::too_many_arguments,
    reason = "the two sets of rows, the plan, the trigger, the trainer, each named"
)]
pub fn evaluate(
    train: (&[f64], &[usize]),
    test: (&[f64], &[usize]),
    cols: usize,
    k: usize,
    plan: &[(Kind, f64)],
    trigger: &Trigger,
    target: usize,
    surrogate: &Surrogate,
    step: &mut dyn FnMut() -> bool,
) -> Result<Report, Error> {
    let (tx, ty) = train;
    let (vx, vy) = test;
    if vy.is_empty() || vx.len() != vy.len() * cols {
        return Err(Error::Options(
            "the held-out rows are needed to measure the models".into(),
        ));
    }
    let clean = extraction::train(tx, ty.len(), ty, k, surrogate)?;
    let mut go_on = step();
    let clean_accuracy = accuracy(&clean, vx, vy)?;
    let clean_backdoor_rate = triggered_rate(&clean, vx, vy, cols, trigger, target)?;
    let mut outcomes = Vec::with_capacity(plan.len());
    for &(kind, rate) in plan {
        if !go_on {
            break;
        }
        let p = poison(tx, ty, cols, k, kind, rate, trigger, target, surrogate.seed)?;
        let model = extraction::train(&p.x, p.y.len(), &p.y, k, surrogate)?;
        go_on = step();
        let acc = accuracy(&model, vx, vy)?;
        outcomes.push(Outcome {
            kind,
            rate,
            poisoned: p.rows,
            accuracy: acc,
            accuracy_drop: clean_accuracy - acc,
            backdoor_success: match kind {
                Kind::Backdoor => Some(triggered_rate(&model, vx, vy, cols, trigger, target)?),
                Kind::LabelFlip => None,
            },
        });
    }
    Ok(Report {
        clean_accuracy,
        clean_backdoor_rate,
        outcomes,
    })
}

#[cfg(test)]
mod tests;
