//! Explanations of a model's answers, model-agnostic (the model is only asked about
//! rows): `aigis explain`.
//!
//! - [`kernel_shap`]: each feature's Shapley value for one row's answer, the answer's
//!   difference from its mean over a background set shared out among the features.
//!   The game is the interventional one KernelSHAP plays: a coalition `S` is worth the
//!   model's answer, averaged over the (weighted) background rows, on rows that take the
//!   explained row's values in `S` and the background row's elsewhere. With at most
//!   [`EXACT_FEATURES`] features every coalition is evaluated and the values are the
//!   exact Shapley values (KernelSHAP's regression over all coalitions gives the same);
//!   with more, coalitions are drawn from the Shapley kernel (sizes in proportion to
//!   `(M − 1) / (s (M − s))`, each with its complement) and the values are the
//!   least-squares fit under the constraint that they add up to the difference, as
//!   Lundberg and Lee's KernelSHAP fits them.
//! - [`Background::summarize`]: the background summarized as weighted k-means centres
//!   (as `shap.kmeans` does), so each coalition costs `k` model rows, not one per
//!   background row.
//! - [`permutation_importance`]: each feature's drop in the model's score (accuracy for a
//!   classifier, R² for a regressor, as scikit-learn's `permutation_importance` scores by
//!   default) when its column is shuffled, over several seeded shuffles.

use serde::Serialize;

use crate::Error;

/// The most features explained exactly (every one of the `2^M` coalitions evaluated).
pub const EXACT_FEATURES: usize = 10;

/// Model rows per call when coalitions are evaluated.
const ROWS_PER_CALL: usize = 16_384;

/// A model's answer to explain: one number per row (a class's probability, a regressor's
/// output). Asked from several threads at once.
pub trait Answer: Sync {
    /// The answer for each of `n` rows (`rows`, row-major).
    fn answer(&self, rows: &[f64], n: usize) -> Result<Vec<f64>, String>;
}

impl<F: Fn(&[f64], usize) -> Result<Vec<f64>, String> + Sync> Answer for F {
    fn answer(&self, rows: &[f64], n: usize) -> Result<Vec<f64>, String> {
        self(rows, n)
    }
}

/// The rows features are "absent" with: the expected answer is over them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Background {
    /// Row-major, `weights.len()` rows of `cols`.
    pub rows: Vec<f64>,
    /// Each row's weight (they add up to 1).
    pub weights: Vec<f64>,
    pub cols: usize,
}

impl Background {
    /// Every row of `data` (`n` rows of `cols`), weighted equally.
    pub fn all(data: &[f64], n: usize, cols: usize) -> Result<Self, Error> {
        if n == 0 || data.len() != n * cols || cols == 0 {
            return Err(Error::Options(
                "the background has no row (or rows of no feature)".into(),
            ));
        }
        if data.iter().any(|v| !v.is_finite()) {
            return Err(Error::Options(
                "the background holds a value that is not a finite number: fill or drop it".into(),
            ));
        }
        Ok(Self {
            rows: data.to_vec(),
            weights: vec![1.0 / n as f64; n],
            cols,
        })
    }

    /// `k` weighted k-means centres of `data` (k-means++ seeding, then Lloyd's
    /// iterations until no row moves, at most 100), each weighted by its rows' share; all
    /// rows when there are at most `k`.
    pub fn summarize(
        data: &[f64],
        n: usize,
        cols: usize,
        k: usize,
        seed: u64,
    ) -> Result<Self, Error> {
        let all = Self::all(data, n, cols)?;
        if k == 0 || n <= k {
            return Ok(all);
        }
        let row = |i: usize| data.get(i * cols..(i + 1) * cols).unwrap_or_default();
        let dist =
            |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum::<f64>();
        let mut rng = fastrand::Rng::with_seed(seed);
        let mut centres: Vec<f64> = row(rng.usize(0..n)).to_vec();
        let mut nearest: Vec<f64> = (0..n).map(|i| dist(row(i), &centres)).collect();
        while centres.len() / cols < k {
            let total: f64 = nearest.iter().sum();
            let pick = if total > 0.0 {
                let mut target = rng.f64() * total;
                nearest
                    .iter()
                    .position(|&d| {
                        target -= d;
                        target <= 0.0
                    })
                    .unwrap_or(n - 1)
            } else {
                rng.usize(0..n)
            };
            let c = row(pick).to_vec();
            for (i, d) in nearest.iter_mut().enumerate() {
                *d = d.min(dist(row(i), &c));
            }
            centres.extend(c);
        }
        let mut assignment = vec![usize::MAX; n];
        for _ in 0..100 {
            let mut moved = false;
            for (i, a) in assignment.iter_mut().enumerate() {
                let best = (0..k)
                    .map(|c| {
                        (
                            c,
                            dist(
                                row(i),
                                centres.get(c * cols..(c + 1) * cols).unwrap_or_default(),
                            ),
                        )
                    })
                    .min_by(|x, y| x.1.total_cmp(&y.1))
                    .map_or(0, |b| b.0);
                if *a != best {
                    *a = best;
                    moved = true;
                }
            }
            if !moved {
                break;
            }
            let mut sums = vec![0.0; k * cols];
            let mut counts = vec![0usize; k];
            for (i, &a) in assignment.iter().enumerate() {
                if let Some(c) = counts.get_mut(a) {
                    *c += 1;
                }
                for (s, v) in sums.iter_mut().skip(a * cols).zip(row(i)) {
                    *s += v;
                }
            }
            for (c, &count) in counts.iter().enumerate() {
                if count == 0 {
                    continue; // an empty cluster keeps its centre
                }
                for j in 0..cols {
                    if let (Some(centre), Some(sum)) =
                        (centres.get_mut(c * cols + j), sums.get(c * cols + j))
                    {
                        *centre = sum / count as f64;
                    }
                }
            }
        }
        let mut counts = vec![0usize; k];
        for &a in &assignment {
            if let Some(c) = counts.get_mut(a) {
                *c += 1;
            }
        }
        let mut rows = Vec::new();
        let mut weights = Vec::new();
        for (c, &count) in counts.iter().enumerate() {
            if count > 0 {
                rows.extend_from_slice(centres.get(c * cols..(c + 1) * cols).unwrap_or_default());
                weights.push(count as f64 / n as f64);
            }
        }
        Ok(Self {
            rows,
            weights,
            cols,
        })
    }

    fn len(&self) -> usize {
        self.weights.len()
    }
}

/// One row's Shapley values.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Shap {
    /// The expected answer over the background (the empty coalition's worth).
    pub base_value: f64,
    /// The row's answer (the full coalition's worth).
    pub value: f64,
    /// One per feature; they add up to `value − base_value`.
    pub values: Vec<f64>,
    /// Every coalition evaluated (exact Shapley values), or a sample of them.
    pub exact: bool,
    /// Coalitions evaluated.
    pub coalitions: usize,
    /// Model rows asked about.
    pub model_rows: usize,
}

/// Column `column` of a row-major matrix of `width` columns (NaN for a row without
/// it): the class whose answer is explained, picked here, in this optimized crate,
/// because it runs once for every model row asked about.
pub fn column(matrix: &[f64], width: usize, column: usize) -> Vec<f64> {
    matrix
        .chunks(width.max(1))
        .map(|c| c.get(column).copied().unwrap_or(f64::NAN))
        .collect()
}

/// The worth of each coalition in `masks` (each a feature mask of `x`) over `bg`; the
/// model calls spread over the cores.
fn worth(
    f: &dyn Answer,
    x: &[f64],
    bg: &Background,
    masks: &[Vec<bool>],
) -> Result<Vec<f64>, Error> {
    use rayon::prelude::*;
    let cols = bg.cols;
    let per = bg.len();
    let chunk = (ROWS_PER_CALL / per).max(1);
    let parts: Vec<Result<Vec<f64>, Error>> = masks
        .par_chunks(chunk)
        .map(|group| {
            let mut rows = Vec::with_capacity(group.len() * per * cols);
            for mask in group {
                for b in 0..per {
                    let brow = bg.rows.get(b * cols..(b + 1) * cols).unwrap_or_default();
                    rows.extend(
                        mask.iter()
                            .zip(x.iter().zip(brow))
                            .map(|(&on, (&xv, &bv))| if on { xv } else { bv }),
                    );
                }
            }
            let n = group.len() * per;
            let answers = f.answer(&rows, n).map_err(Error::Model)?;
            if answers.len() != n {
                return Err(Error::Model(format!(
                    "the model answered {} rows of {n}",
                    answers.len()
                )));
            }
            if let Some(bad) = answers.iter().position(|a| !a.is_finite()) {
                return Err(Error::Model(format!(
                    "the model's answer is not a finite number (model row {bad} of a call)"
                )));
            }
            Ok((0..group.len())
                .map(|m| {
                    answers
                        .get(m * per..(m + 1) * per)
                        .unwrap_or_default()
                        .iter()
                        .zip(&bg.weights)
                        .map(|(a, w)| a * w)
                        .sum()
                })
                .collect())
        })
        .collect();
    let mut out = Vec::with_capacity(masks.len());
    for part in parts {
        out.extend(part?);
    }
    Ok(out)
}

/// The Shapley values of `x`'s answer (see the module's notes). `samples`: coalitions to
/// draw when there are more than [`EXACT_FEATURES`] features (at least `2 M`; `None`:
/// `2 M + 2048`, KernelSHAP's default).
pub fn kernel_shap(
    f: &dyn Answer,
    x: &[f64],
    bg: &Background,
    samples: Option<usize>,
    seed: u64,
) -> Result<Shap, Error> {
    let m = bg.cols;
    if x.len() != m {
        return Err(Error::Options(format!(
            "the row has {} features, the background {m}",
            x.len()
        )));
    }
    if x.iter().any(|v| !v.is_finite()) {
        return Err(Error::Options(
            "the row holds a value that is not a finite number: it cannot be explained".into(),
        ));
    }
    if m <= EXACT_FEATURES {
        return exact(f, x, bg);
    }
    let samples = samples.unwrap_or(2 * m + 2048);
    if samples < 2 * m {
        return Err(Error::Options(format!(
            "{samples} coalitions cannot fit {m} features: draw at least {}",
            2 * m
        )));
    }
    sampled(f, x, bg, samples, seed)
}

fn exact(f: &dyn Answer, x: &[f64], bg: &Background) -> Result<Shap, Error> {
    let m = bg.cols;
    let masks: Vec<Vec<bool>> = (0..1usize << m)
        .map(|s| (0..m).map(|j| s >> j & 1 == 1).collect())
        .collect();
    let v = worth(f, x, bg, &masks)?;
    // The weight of a coalition of `s` others: s! (M − s − 1)! / M! = 1 / (M C(M − 1, s)).
    let mut weight = vec![0.0; m];
    let mut choose = 1.0; // C(M − 1, s)
    for (s, w) in weight.iter_mut().enumerate() {
        *w = 1.0 / (m as f64 * choose);
        choose = choose * (m - 1 - s) as f64 / (s + 1) as f64;
    }
    let mut values = vec![0.0; m];
    for (s, &vs) in v.iter().enumerate() {
        let size = s.count_ones() as usize;
        for (j, value) in values.iter_mut().enumerate() {
            if s >> j & 1 == 0
                && let (Some(&with), Some(&w)) = (v.get(s | 1 << j), weight.get(size))
            {
                *value += w * (with - vs);
            }
        }
    }
    Ok(Shap {
        base_value: v.first().copied().unwrap_or(0.0),
        value: v.last().copied().unwrap_or(0.0),
        values,
        exact: true,
        coalitions: masks.len(),
        model_rows: masks.len() * bg.len(),
    })
}

fn sampled(
    f: &dyn Answer,
    x: &[f64],
    bg: &Background,
    samples: usize,
    seed: u64,
) -> Result<Shap, Error> {
    let m = bg.cols;
    let mut rng = fastrand::Rng::with_seed(seed);
    // The kernel's total weight on each coalition size s = 1..M−1, normalized.
    let mut size_weight: Vec<f64> = (1..m)
        .map(|s| (m - 1) as f64 / (s * (m - s)) as f64)
        .collect();
    let total: f64 = size_weight.iter().sum();
    size_weight.iter_mut().for_each(|w| *w /= total);
    let weight_of = |s: usize| size_weight.get(s.wrapping_sub(1)).copied().unwrap_or(0.0);
    // As KernelSHAP does: the sizes whose every coalition fits the budget (the smallest
    // and largest first, where the kernel's weight is) are enumerated, each coalition
    // with its exact kernel weight; the rest of the budget is drawn from the remaining
    // sizes, each draw with an equal share of their weight.
    let mut masks: Vec<Vec<bool>> = vec![vec![false; m], vec![true; m]];
    let mut weights: Vec<f64> = vec![0.0, 0.0];
    let mut left = samples;
    let mut remaining = 1.0;
    let mut complete = vec![false; m];
    for s in 1..=m / 2 {
        let paired = s != m - s;
        let per_size = binomial(m, s);
        let count = per_size * if paired { 2.0 } else { 1.0 };
        let mass = weight_of(s) + if paired { weight_of(m - s) } else { 0.0 };
        // Enumerate when every coalition would be drawn about once or more anyway.
        if count > left as f64
            || remaining <= 0.0
            || (left as f64) * mass / remaining < count - 1e-8
        {
            break;
        }
        for subset in Subsets::new(m, s) {
            let mask: Vec<bool> = (0..m).map(|j| subset.contains(&j)).collect();
            masks.push(mask.clone());
            weights.push(weight_of(s) / per_size);
            if paired {
                masks.push(mask.iter().map(|b| !b).collect());
                weights.push(weight_of(m - s) / per_size);
            }
        }
        left -= count as usize;
        remaining -= mass;
        if let Some(c) = complete.get_mut(s) {
            *c = true;
        }
        if let Some(c) = complete.get_mut(m - s) {
            *c = true;
        }
    }
    let open: Vec<usize> = (1..m)
        .filter(|&s| !complete.get(s).copied().unwrap_or(true))
        .collect();
    let open_total: f64 = open.iter().map(|&s| weight_of(s)).sum();
    let draws = left - left % 2;
    if draws > 0 && open_total > 0.0 {
        let share = remaining / draws as f64;
        let mut order: Vec<usize> = (0..m).collect();
        for _ in 0..draws / 2 {
            let mut target = rng.f64() * open_total;
            let size = open
                .iter()
                .copied()
                .find(|&s| {
                    target -= weight_of(s);
                    target <= 0.0
                })
                .or_else(|| open.last().copied())
                .unwrap_or(1);
            // A uniform subset of that size: a partial Fisher–Yates shuffle.
            for i in 0..size {
                let j = rng.usize(i..m);
                order.swap(i, j);
            }
            let mut mask = vec![false; m];
            for &j in order.iter().take(size) {
                if let Some(b) = mask.get_mut(j) {
                    *b = true;
                }
            }
            let complement = mask.iter().map(|b| !b).collect();
            masks.push(mask);
            masks.push(complement);
            weights.push(share);
            weights.push(share);
        }
    }
    let v = worth(f, x, bg, &masks)?;
    let (base, full) = (
        v.first().copied().unwrap_or(0.0),
        v.get(1).copied().unwrap_or(0.0),
    );
    let delta = full - base;
    // The constraint Σφ = Δ eliminates the last feature: a weighted regression of
    // v(z) − base − z_last Δ on (z_j − z_last) for the others.
    let k = m - 1;
    let mut xtx = vec![0.0; k * k];
    let mut xty = vec![0.0; k];
    for ((mask, &vz), &w) in masks.iter().zip(&v).zip(&weights).skip(2) {
        let last = f64::from(u8::from(mask.last().copied().unwrap_or(false)));
        let y = vz - base - last * delta;
        let row: Vec<f64> = mask
            .iter()
            .take(k)
            .map(|&b| f64::from(u8::from(b)) - last)
            .collect();
        for (a, &ra) in row.iter().enumerate() {
            if ra == 0.0 {
                continue;
            }
            if let Some(t) = xty.get_mut(a) {
                *t += w * ra * y;
            }
            for (b, &rb) in row.iter().enumerate() {
                if let Some(t) = xtx.get_mut(a * k + b) {
                    *t += w * ra * rb;
                }
            }
        }
    }
    let beta = solve(xtx, xty, k).ok_or_else(|| {
        Error::Options(format!(
            "{samples} coalitions do not pin down {m} features' values: draw more (--samples)"
        ))
    })?;
    let mut values = beta.clone();
    values.push(delta - beta.iter().sum::<f64>());
    Ok(Shap {
        base_value: base,
        value: full,
        values,
        exact: false,
        coalitions: masks.len(),
        model_rows: masks.len() * bg.len(),
    })
}

/// C(n, k) as a float (exact for the sizes enumerated).
fn binomial(n: usize, k: usize) -> f64 {
    (0..k).fold(1.0, |c, i| c * (n - i) as f64 / (i + 1) as f64)
}

/// The `k`-subsets of `0..n` in lexicographic order.
struct Subsets {
    n: usize,
    current: Option<Vec<usize>>,
}

impl Subsets {
    fn new(n: usize, k: usize) -> Self {
        Self {
            n,
            current: (k <= n).then(|| (0..k).collect()),
        }
    }
}

impl Iterator for Subsets {
    type Item = Vec<usize>;

    fn next(&mut self) -> Option<Vec<usize>> {
        let out = self.current.clone()?;
        let k = out.len();
        let mut next = out.clone();
        // The rightmost element that can move right, moved, the rest packed after it.
        let mut i = k;
        loop {
            if i == 0 {
                self.current = None;
                return Some(out);
            }
            i -= 1;
            if next.get(i).copied().unwrap_or(0) < self.n - k + i {
                break;
            }
        }
        let base = next.get(i).copied().unwrap_or(0) + 1;
        for (offset, slot) in next.iter_mut().skip(i).enumerate() {
            *slot = base + offset;
        }
        self.current = Some(next);
        Some(out)
    }
}

/// Solves `a x = b` (`a` is `k × k`, row-major, symmetric positive semi-definite) by
/// Gaussian elimination with partial pivoting; `None` when singular. Written here: a
/// dense solve of at most a few hundred unknowns is all KernelSHAP needs, and a linear
/// algebra crate would add build time for this one call.
fn solve(mut a: Vec<f64>, mut b: Vec<f64>, k: usize) -> Option<Vec<f64>> {
    let scale = a.iter().fold(0.0f64, |m, v| m.max(v.abs())).max(1e-300);
    for col in 0..k {
        let pivot = (col..k).max_by(|&i, &j| {
            let (x, y) = (
                a.get(i * k + col).copied().unwrap_or(0.0),
                a.get(j * k + col).copied().unwrap_or(0.0),
            );
            x.abs().total_cmp(&y.abs())
        })?;
        let p = a.get(pivot * k + col).copied()?;
        if p.abs() <= scale * 1e-12 {
            return None;
        }
        if pivot != col {
            for j in 0..k {
                a.swap(pivot * k + j, col * k + j);
            }
            b.swap(pivot, col);
        }
        for i in col + 1..k {
            let factor = a.get(i * k + col).copied()? / p;
            if factor == 0.0 {
                continue;
            }
            for j in col..k {
                let v = a.get(col * k + j).copied()?;
                if let Some(t) = a.get_mut(i * k + j) {
                    *t -= factor * v;
                }
            }
            let bc = b.get(col).copied()?;
            if let Some(t) = b.get_mut(i) {
                *t -= factor * bc;
            }
        }
    }
    let mut x = vec![0.0; k];
    for i in (0..k).rev() {
        let mut s = b.get(i).copied()?;
        for j in i + 1..k {
            s -= a.get(i * k + j).copied()? * x.get(j).copied()?;
        }
        *x.get_mut(i)? = s / a.get(i * k + i).copied()?;
    }
    Some(x)
}

/// One feature's permutation importance.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Importance {
    /// The score's mean drop over the shuffles.
    pub mean: f64,
    /// Its standard deviation (population, as scikit-learn's `importances_std`).
    pub std: f64,
}

/// How a model is scored for [`permutation_importance`].
pub trait Scorer {
    /// The score of the model on `n` rows (`rows`, row-major): higher is better.
    fn score(&self, rows: &[f64], n: usize) -> Result<f64, String>;
}

/// Each feature's importance: the score on `data` (`n` rows of `cols`) less the score
/// with that feature's column shuffled, over `repeats` seeded shuffles; and the score.
pub fn permutation_importance(
    scorer: &dyn Scorer,
    data: &[f64],
    n: usize,
    cols: usize,
    repeats: usize,
    seed: u64,
) -> Result<(f64, Vec<Importance>), Error> {
    if n < 2 || data.len() != n * cols {
        return Err(Error::Options(
            "permutation importance needs at least two rows".into(),
        ));
    }
    if repeats == 0 {
        return Err(Error::Options("at least one shuffle (--repeats)".into()));
    }
    let baseline = scorer.score(data, n).map_err(Error::Model)?;
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut out = Vec::with_capacity(cols);
    let mut shuffled = data.to_vec();
    let mut order: Vec<usize> = (0..n).collect();
    for j in 0..cols {
        let mut drops = Vec::with_capacity(repeats);
        for _ in 0..repeats {
            rng.shuffle(&mut order);
            for (i, &from) in order.iter().enumerate() {
                if let (Some(&v), Some(t)) =
                    (data.get(from * cols + j), shuffled.get_mut(i * cols + j))
                {
                    *t = v;
                }
            }
            drops.push(baseline - scorer.score(&shuffled, n).map_err(Error::Model)?);
        }
        for i in 0..n {
            if let (Some(&v), Some(t)) = (data.get(i * cols + j), shuffled.get_mut(i * cols + j)) {
                *t = v;
            }
        }
        let mean = drops.iter().sum::<f64>() / repeats as f64;
        let var = drops.iter().map(|d| (d - mean) * (d - mean)).sum::<f64>() / repeats as f64;
        out.push(Importance {
            mean,
            std: var.sqrt(),
        });
    }
    Ok((baseline, out))
}

#[cfg(test)]
mod tests;
