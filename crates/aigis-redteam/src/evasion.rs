//! Gradient evasion attacks: FGSM and PGD (Goodfellow et al. 2015; Madry et al. 2018),
//! L∞ and L2, untargeted and targeted, with random restarts, as IBM ART's
//! `FastGradientMethod` and `ProjectedGradientDescent` define them.
//!
//! A step moves each row along the normalized gradient of its cross-entropy loss (its
//! sign for L∞, the gradient over its L2 norm for L2): up the loss of its true class when
//! untargeted, down the loss of the target class when targeted. After each step the
//! perturbation is projected back into the ε-ball around the clean row and the row is
//! clipped to the valid range. FGSM is one step of size ε from the clean row. With
//! restarts, each run starts from a uniform draw in the ball, and a row keeps the first
//! run that fools the judge (the model itself, through the runtime), else the last.
//!
//! The gradient comes from a [`Gradient`]: the model's graph differentiated exactly
//! ([`aigis_runtime::grad::Graph`]) or central differences of its answers ([`Estimated`]).

use rayon::prelude::*;

use crate::Error;
use aigis_runtime::grad::Graph;

/// Rows per gradient call (each is one task of the thread pool).
const CHUNK: usize = 64;

/// The gradient of each row's cross-entropy loss against a class, with respect to the
/// row.
pub trait Gradient: Sync {
    /// The loss per row of `rows` rows (row-major, `features` each) against `classes`,
    /// and its gradient (row-major).
    fn loss_gradient(
        &self,
        x: &[f64],
        rows: usize,
        classes: &[usize],
    ) -> Result<(Vec<f64>, Vec<f64>), String>;

    /// Model queries per row that one gradient costs (0 for a white box).
    fn queries_per_gradient(&self) -> usize;
}

impl Gradient for Graph {
    fn loss_gradient(
        &self,
        x: &[f64],
        rows: usize,
        classes: &[usize],
    ) -> Result<(Vec<f64>, Vec<f64>), String> {
        Graph::loss_gradient(self, x, rows, classes)
    }

    fn queries_per_gradient(&self) -> usize {
        0
    }
}

/// Gradients estimated by central differences of the loss of the model's answers: two
/// model queries per feature per row. For a model whose graph is not differentiated here
/// (trees, or a model on another server). A piecewise-constant model (a tree ensemble) has
/// a zero gradient almost everywhere, and the attack then fails: that is the estimate's
/// limit, not the model's robustness, and the report says which gradients were used.
pub struct Estimated<F> {
    /// The model's class scores (probabilities, or logits) for rows: `rows × k`,
    /// row-major, and `k`.
    pub scores: F,
    /// Features per row.
    pub features: usize,
    /// The step of the differences.
    pub h: f64,
}

impl<F> std::fmt::Debug for Estimated<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Estimated")
            .field("features", &self.features)
            .field("h", &self.h)
            .finish_non_exhaustive()
    }
}

/// The cross-entropy of each row's scores against its class: of the scores as
/// probabilities when every row is one, else of their softmax.
pub fn cross_entropy(scores: &[f64], k: usize, classes: &[usize]) -> Vec<f64> {
    let k = k.max(1);
    let probabilities = k > 1
        && scores
            .chunks(k)
            .all(|r| r.iter().all(|&p| p >= -1e-9) && (r.iter().sum::<f64>() - 1.0).abs() < 1e-4);
    scores
        .chunks(k)
        .zip(classes)
        .map(|(r, &c)| {
            let v = r.get(c).copied().unwrap_or(f64::NAN);
            if probabilities {
                // -ln p = ln(1 + Σ others / p): a float32 probability of 1 - 1e-9 reads
                // as 1, but the others keep their small values, and with them the loss.
                let others: f64 = r
                    .iter()
                    .enumerate()
                    .filter(|&(j, _)| j != c)
                    .map(|(_, p)| p.max(0.0))
                    .sum();
                (others / v.max(1e-300)).ln_1p()
            } else {
                let max = r.iter().fold(f64::NEG_INFINITY, |a, &b| a.max(b));
                let lse = max + r.iter().map(|z| (z - max).exp()).sum::<f64>().ln();
                lse - v
            }
        })
        .collect()
}

impl<F> Gradient for Estimated<F>
where
    F: Fn(&[f64], usize) -> Result<(Vec<f64>, usize), String> + Sync,
{
    fn loss_gradient(
        &self,
        x: &[f64],
        rows: usize,
        classes: &[usize],
    ) -> Result<(Vec<f64>, Vec<f64>), String> {
        let d = self.features;
        let (at, k) = (self.scores)(x, rows)?;
        let loss = cross_entropy(&at, k, classes);
        // One row's 2·d probes at a time: a chunk's all at once would hold rows·2·d²
        // numbers (630 MB for 64 rows of 784 pixels).
        let mut gradient = Vec::with_capacity(rows * d);
        let mut probes = Vec::with_capacity(2 * d * d);
        for (r, &c) in classes.iter().enumerate().take(rows) {
            let row = x.get(r * d..(r + 1) * d).ok_or("fewer numbers than rows")?;
            probes.clear();
            for j in 0..d {
                for sign in [1.0, -1.0] {
                    let start = probes.len();
                    probes.extend_from_slice(row);
                    if let Some(v) = probes.get_mut(start + j) {
                        *v += sign * self.h;
                    }
                }
            }
            let (out, k) = (self.scores)(&probes, 2 * d)?;
            let losses = cross_entropy(&out, k, &vec![c; 2 * d]);
            gradient.extend(losses.chunks(2).map(|p| match p {
                [up, down] => (up - down) / (2.0 * self.h),
                _ => 0.0,
            }));
        }
        Ok((gradient, loss))
    }

    fn queries_per_gradient(&self) -> usize {
        2 * self.features + 1
    }
}

/// The norm of the perturbation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Norm {
    /// The largest change of any feature.
    Inf,
    /// The Euclidean length of the change.
    L2,
}

impl Norm {
    /// The norm of `v`.
    pub fn of(self, v: impl Iterator<Item = f64>) -> f64 {
        match self {
            Norm::Inf => v.fold(0.0, |a, b| a.max(b.abs())),
            Norm::L2 => v.map(|b| b * b).sum::<f64>().sqrt(),
        }
    }
}

/// One gradient attack's settings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The largest perturbation (in the norm).
    pub eps: f64,
    /// The size of a step.
    pub step: f64,
    /// Steps (1 for FGSM).
    pub steps: usize,
    /// The norm of the perturbation and the step.
    pub norm: Norm,
    /// Runs from random starts in the ball (0: one run from the clean row).
    pub restarts: usize,
    /// The class to push every row to (targeted), or `None` (away from the true class).
    pub target: Option<usize>,
    /// The valid range of every feature.
    pub clip: Option<(f64, f64)>,
    /// The seed of the random starts.
    pub seed: u64,
}

impl Settings {
    /// FGSM: one step of ε.
    pub fn fgsm(eps: f64, norm: Norm) -> Self {
        Self {
            eps,
            step: eps,
            steps: 1,
            norm,
            restarts: 0,
            target: None,
            clip: None,
            seed: 0,
        }
    }

    fn check(&self) -> Result<(), Error> {
        if !(self.eps.is_finite() && self.eps > 0.0) {
            return Err(Error::Options(format!(
                "eps must be a positive number, not {}",
                self.eps
            )));
        }
        if !(self.step.is_finite() && self.step > 0.0) {
            return Err(Error::Options(format!(
                "the step must be a positive number, not {}",
                self.step
            )));
        }
        if self.steps == 0 {
            return Err(Error::Options("an attack needs at least one step".into()));
        }
        if let Some((lo, hi)) = self.clip
            && !(lo.is_finite() && hi.is_finite() && lo < hi)
        {
            return Err(Error::Options(format!(
                "the valid range {lo}..{hi} is empty or not finite"
            )));
        }
        Ok(())
    }
}

/// The model's class for each of `rows` rows (row-major): the served model's answers.
pub type Judge<'a> = dyn Fn(&[f64], usize) -> Result<Vec<usize>, String> + Sync + 'a;

/// Adversarial rows, and what they cost.
#[derive(Debug, Clone)]
pub struct Attacked {
    /// The adversarial rows (row-major, as the clean ones).
    pub rows: Vec<f64>,
    /// Gradients computed per row.
    pub gradients_per_row: usize,
    /// Model queries per row (beyond the gradients of a white box).
    pub queries_per_row: usize,
}

/// Attacks `rows` rows of `features` numbers whose true classes are `labels`. `judge`
/// gives the model's class for rows (the runtime's, so success is the served model's
/// answer); it is asked only when there are restarts.
pub fn attack(
    gradient: &dyn Gradient,
    judge: &Judge<'_>,
    x: &[f64],
    rows: usize,
    features: usize,
    labels: &[usize],
    settings: &Settings,
) -> Result<Attacked, Error> {
    settings.check()?;
    if x.len() != rows * features || labels.len() != rows {
        return Err(Error::Options(format!(
            "{} numbers and {} labels for {rows} rows of {features}",
            x.len(),
            labels.len()
        )));
    }
    let classes: Vec<usize> = match settings.target {
        Some(t) => vec![t; rows],
        None => labels.to_vec(),
    };
    let runs = settings.restarts.max(1);
    let mut best = x.to_vec();
    let mut done = vec![false; rows];
    let mut rng = fastrand::Rng::with_seed(settings.seed);
    for run in 0..runs {
        let start: Vec<f64> = if settings.restarts == 0 {
            x.to_vec()
        } else {
            let mut s = x.to_vec();
            random_start(&mut s, x, features, settings, &mut rng);
            s
        };
        let adv = x
            .par_chunks(CHUNK * features)
            .zip(start.par_chunks(CHUNK * features))
            .zip(classes.par_chunks(CHUNK))
            .map(|((clean, from), classes)| {
                run_steps(gradient, clean, from, classes, features, settings)
            })
            .collect::<Result<Vec<Vec<f64>>, String>>()
            .map_err(Error::Model)?
            .concat();
        if runs == 1 {
            best = adv;
            break;
        }
        let said = judge(&adv, rows).map_err(Error::Model)?;
        for (r, (&class, done)) in said.iter().zip(done.iter_mut()).enumerate() {
            let fooled = match settings.target {
                Some(t) => class == t,
                None => labels.get(r).is_some_and(|&l| l != class),
            };
            if !*done && (fooled || run + 1 == runs) {
                *done = fooled;
                if let (Some(dst), Some(src)) = (
                    best.get_mut(r * features..(r + 1) * features),
                    adv.get(r * features..(r + 1) * features),
                ) {
                    dst.copy_from_slice(src);
                }
            }
        }
    }
    Ok(Attacked {
        rows: best,
        gradients_per_row: runs * settings.steps,
        queries_per_row: runs * settings.steps * gradient.queries_per_gradient()
            + if runs > 1 { runs } else { 0 },
    })
}

/// A uniform draw in the ε-ball around each row (L∞: each feature; L2: a direction and
/// a radius ε·u^(1/d)), clipped.
fn random_start(
    s: &mut [f64],
    x: &[f64],
    features: usize,
    settings: &Settings,
    rng: &mut fastrand::Rng,
) {
    for (row, clean) in s.chunks_mut(features).zip(x.chunks(features)) {
        match settings.norm {
            Norm::Inf => {
                for (v, c) in row.iter_mut().zip(clean) {
                    *v = c + settings.eps * (2.0 * rng.f64() - 1.0);
                }
            }
            Norm::L2 => {
                let dir: Vec<f64> = (0..features).map(|_| gaussian(rng)).collect();
                let len = Norm::L2.of(dir.iter().copied()).max(f64::MIN_POSITIVE);
                let radius = settings.eps * rng.f64().powf(1.0 / features.max(1) as f64);
                for ((v, c), d) in row.iter_mut().zip(clean).zip(&dir) {
                    *v = c + radius * d / len;
                }
            }
        }
        clip(row, settings.clip);
    }
}

/// A standard normal draw (Box–Muller).
pub(crate) fn gaussian(rng: &mut fastrand::Rng) -> f64 {
    let u = rng.f64().max(f64::MIN_POSITIVE);
    (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * rng.f64()).cos()
}

fn clip(row: &mut [f64], range: Option<(f64, f64)>) {
    if let Some((lo, hi)) = range {
        row.iter_mut().for_each(|v| *v = v.clamp(lo, hi));
    }
}

/// `settings.steps` steps from `from` for a chunk of rows.
fn run_steps(
    gradient: &dyn Gradient,
    clean: &[f64],
    from: &[f64],
    classes: &[usize],
    features: usize,
    settings: &Settings,
) -> Result<Vec<f64>, String> {
    let rows = classes.len();
    let mut adv = from.to_vec();
    let direction = if settings.target.is_some() { -1.0 } else { 1.0 };
    for _ in 0..settings.steps {
        let (g, _) = gradient.loss_gradient(&adv, rows, classes)?;
        for ((row, grow), crow) in adv
            .chunks_mut(features)
            .zip(g.chunks(features))
            .zip(clean.chunks(features))
        {
            match settings.norm {
                Norm::Inf => {
                    for (v, gv) in row.iter_mut().zip(grow) {
                        // ART's sign: 0 where the gradient is 0.
                        let s = if *gv > 0.0 {
                            1.0
                        } else if *gv < 0.0 {
                            -1.0
                        } else {
                            0.0
                        };
                        *v += direction * settings.step * s;
                    }
                }
                Norm::L2 => {
                    let len = Norm::L2.of(grow.iter().copied());
                    if len > 0.0 {
                        for (v, gv) in row.iter_mut().zip(grow) {
                            *v += direction * settings.step * gv / len;
                        }
                    }
                }
            }
            project(row, crow, settings);
        }
    }
    Ok(adv)
}

/// The row moved back into the ε-ball around the clean row, then clipped.
fn project(row: &mut [f64], clean: &[f64], settings: &Settings) {
    match settings.norm {
        Norm::Inf => {
            for (v, c) in row.iter_mut().zip(clean) {
                *v = v.clamp(c - settings.eps, c + settings.eps);
            }
        }
        Norm::L2 => {
            let len = Norm::L2.of(row.iter().zip(clean).map(|(v, c)| v - c));
            if len > settings.eps {
                let f = settings.eps / len;
                for (v, c) in row.iter_mut().zip(clean) {
                    *v = c + (*v - c) * f;
                }
            }
        }
    }
    clip(row, settings.clip);
}

/// How an attack went, judged by the model's own answers.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Outcome {
    /// Rows the model gets right when clean.
    pub clean_correct: usize,
    /// Rows attacked: those the model gets right (and, targeted, not of the target class).
    pub attacked: usize,
    /// Attacked rows that now fool the model (another class; targeted: the target).
    pub succeeded: usize,
    /// `succeeded / attacked`.
    pub success_rate: Option<f64>,
    /// Rows the model still gets right after the attack, over every row.
    pub robust_accuracy: f64,
    /// Median L∞ and L2 size of the successful perturbations.
    pub median_linf: Option<f64>,
    /// See `median_linf`.
    pub median_l2: Option<f64>,
}

/// The outcome of an attack from the model's classes for the clean (`clean`) and the
/// adversarial rows (`adv_classes`).
#[expect(
    clippy::too_many_arguments,
    reason = "the rows, their classes before and after, and the attack's target"
)]
pub fn outcome(
    x: &[f64],
    adv: &[f64],
    features: usize,
    labels: &[usize],
    clean: &[usize],
    adv_classes: &[usize],
    target: Option<usize>,
    rows: usize,
) -> Outcome {
    let (mut attacked, mut succeeded, mut clean_correct, mut robust) = (0, 0, 0, 0);
    let (mut linf, mut l2) = (Vec::new(), Vec::new());
    for r in 0..rows {
        let (Some(&y), Some(&c), Some(&a)) = (labels.get(r), clean.get(r), adv_classes.get(r))
        else {
            continue;
        };
        if a == y {
            robust += 1;
        }
        if c != y {
            continue;
        }
        clean_correct += 1;
        if target == Some(y) {
            continue;
        }
        attacked += 1;
        let fooled = match target {
            Some(t) => a == t,
            None => a != y,
        };
        if fooled {
            succeeded += 1;
            let delta = || {
                x.get(r * features..(r + 1) * features)
                    .unwrap_or_default()
                    .iter()
                    .zip(
                        adv.get(r * features..(r + 1) * features)
                            .unwrap_or_default(),
                    )
                    .map(|(p, q)| q - p)
            };
            linf.push(Norm::Inf.of(delta()));
            l2.push(Norm::L2.of(delta()));
        }
    }
    Outcome {
        clean_correct,
        attacked,
        succeeded,
        success_rate: (attacked > 0).then(|| succeeded as f64 / attacked as f64),
        robust_accuracy: if rows == 0 {
            0.0
        } else {
            robust as f64 / rows as f64
        },
        median_linf: median(&mut linf),
        median_l2: median(&mut l2),
    }
}

fn median(v: &mut [f64]) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    let hi = v.get(n / 2).copied();
    if n % 2 == 1 {
        hi
    } else {
        Some((v.get(n / 2 - 1).copied().unwrap_or(0.0) + hi.unwrap_or(0.0)) / 2.0)
    }
}

#[cfg(test)]
mod tests;
