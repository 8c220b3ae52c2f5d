//! LIME for tabular data (Ribeiro, Singh and Guestrin, 2016), as the `lime` package's
//! `LimeTabularExplainer` runs it with its defaults, so its explanations compare with
//! that package's:
//!
//! - each feature is cut at its quartiles in the background rows (numpy's linear
//!   percentiles; repeated cut points merged), and a row is described by which side of
//!   them each feature falls (`f3 <= 0.25`, `0.25 < f3 <= 0.50`, …);
//! - `samples` neighbours are drawn: each feature's bin from the background's bin
//!   frequencies, then a value in that bin from a normal with the bin's mean and
//!   deviation, truncated to the bin; the first neighbour is the row itself;
//! - each neighbour is `1` for the features whose bin is the row's and `0` for the others,
//!   weighted by `√exp(−d² / w²)` where `d` is the Euclidean distance of that vector from
//!   the row's (all ones) and `w = 0.75 √features`;
//! - the model's answer for the neighbours is fitted by weighted ridge regression
//!   (`alpha` 1, with an intercept) on the `top` features chosen as `lime` chooses them
//!   (forward selection by weighted R² up to six, else the largest coefficients of a
//!   ridge fit with `alpha` 0.01 on all of them).
//!
//! The weights say how much being in the row's bin of each feature moves the answer
//! locally. Written here: no Rust crate implements LIME.

use crate::Error;
use crate::explain::Answer;

/// Each feature's quartile bins in the background rows.
#[derive(Debug, Clone)]
pub struct Bins {
    features: Vec<FeatureBins>,
}

#[derive(Debug, Clone)]
struct FeatureBins {
    /// The cut points, ascending, distinct.
    cuts: Vec<f64>,
    /// Per bin: its share of the background, mean, deviation, lowest and highest value.
    share: Vec<f64>,
    mean: Vec<f64>,
    std: Vec<f64>,
    lo: Vec<f64>,
    hi: Vec<f64>,
}

/// numpy's `percentile(v, p)` with linear interpolation, of sorted `v`.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    let n = sorted.len();
    if n == 0 {
        return f64::NAN;
    }
    let pos = p / 100.0 * (n - 1) as f64;
    let i = pos.floor() as usize;
    let frac = pos - i as f64;
    let a = sorted.get(i).copied().unwrap_or(f64::NAN);
    let b = sorted.get((i + 1).min(n - 1)).copied().unwrap_or(a);
    a + frac * (b - a)
}

impl FeatureBins {
    /// numpy's `searchsorted(cuts, v)`: the cut points below `v`.
    fn bin(&self, v: f64) -> usize {
        self.cuts.iter().filter(|&&c| c < v).count()
    }

    /// The bin's description, e.g. `0.25 < f3 <= 0.50`.
    fn name(&self, feature: &str, bin: usize) -> String {
        let last = self.cuts.len();
        match (
            bin.checked_sub(1).and_then(|i| self.cuts.get(i)),
            self.cuts.get(bin),
        ) {
            (None, Some(hi)) => format!("{feature} <= {hi:.2}"),
            (Some(lo), Some(hi)) => format!("{lo:.2} < {feature} <= {hi:.2}"),
            (Some(lo), None) if bin == last => format!("{feature} > {lo:.2}"),
            _ => feature.to_owned(),
        }
    }
}

impl Bins {
    /// The bins of `rows` rows of `cols` numbers (every one finite).
    pub fn fit(x: &[f64], rows: usize, cols: usize) -> Result<Self, Error> {
        if rows == 0 || cols == 0 || x.len() != rows * cols {
            return Err(Error::Options(format!(
                "{} numbers are not {rows} background rows of {cols}",
                x.len()
            )));
        }
        if x.iter().any(|v| !v.is_finite()) {
            return Err(Error::Options(
                "a background value is not a finite number".into(),
            ));
        }
        let features = (0..cols)
            .map(|j| {
                let mut col: Vec<f64> = x.iter().skip(j).step_by(cols).copied().collect();
                col.sort_by(f64::total_cmp);
                let mut cuts: Vec<f64> = [25.0, 50.0, 75.0]
                    .iter()
                    .map(|&p| percentile(&col, p))
                    .collect();
                cuts.dedup();
                let k = cuts.len() + 1;
                let mut fb = FeatureBins {
                    cuts,
                    share: vec![0.0; k],
                    mean: vec![0.0; k],
                    std: vec![0.0; k],
                    lo: vec![0.0; k],
                    hi: vec![0.0; k],
                };
                let mut members: Vec<Vec<f64>> = vec![Vec::new(); k];
                for &v in &col {
                    if let Some(m) = members.get_mut(fb.bin(v)) {
                        m.push(v);
                    }
                }
                let (min, max) = (
                    col.first().copied().unwrap_or(0.0),
                    col.last().copied().unwrap_or(0.0),
                );
                for (b, m) in members.iter().enumerate() {
                    let n = m.len() as f64;
                    let mean = if m.is_empty() {
                        0.0
                    } else {
                        m.iter().sum::<f64>() / n
                    };
                    let var = if m.is_empty() {
                        0.0
                    } else {
                        m.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n
                    };
                    if let (Some(s), Some(mu), Some(sd), Some(lo), Some(hi)) = (
                        fb.share.get_mut(b),
                        fb.mean.get_mut(b),
                        fb.std.get_mut(b),
                        fb.lo.get_mut(b),
                        fb.hi.get_mut(b),
                    ) {
                        *s = n / rows as f64;
                        *mu = mean;
                        *sd = var.sqrt() + 1e-11;
                        // lime's bounds: the data's extremes outside, the cut points
                        // between.
                        *lo = if b == 0 {
                            min
                        } else {
                            fb.cuts.get(b - 1).copied().unwrap_or(min)
                        };
                        *hi = fb.cuts.get(b).copied().unwrap_or(max);
                    }
                }
                fb
            })
            .collect();
        Ok(Self { features })
    }

    /// Each feature's bin of the row `x`, described with `names`.
    pub fn describe(&self, x: &[f64], names: &[String]) -> Vec<String> {
        self.features
            .iter()
            .zip(x)
            .enumerate()
            .map(|(j, (fb, &v))| {
                let name = names.get(j).cloned().unwrap_or_else(|| format!("f{j}"));
                fb.name(&name, fb.bin(v))
            })
            .collect()
    }
}

/// LIME's settings (the `lime` package's defaults).
#[derive(Debug, Clone)]
pub struct Settings {
    /// Neighbours drawn (`num_samples`, 5,000).
    pub samples: usize,
    /// Features in the explanation (`num_features`, 10).
    pub features: usize,
    /// The seed of the draws.
    pub seed: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            samples: 5000,
            features: 10,
            seed: 0,
        }
    }
}

/// One row's explanation.
#[derive(Debug, Clone)]
pub struct Explanation {
    /// The features chosen and their weights, largest magnitude first.
    pub weights: Vec<(usize, f64)>,
    /// The local model's intercept.
    pub intercept: f64,
    /// Its weighted R² on the neighbours.
    pub score: f64,
    /// Its answer for the row itself.
    pub local_prediction: f64,
    /// The model's answer for the row.
    pub value: f64,
}

/// A draw from a normal of `mean` and `std` truncated to `[lo, hi]`: by rejection, then
/// (for a bin far in the normal's tail) uniform in the bin.
fn truncated_normal(rng: &mut fastrand::Rng, mean: f64, std: f64, lo: f64, hi: f64) -> f64 {
    // An empty or single-valued bin (or a NaN bound) has one value to give.
    if hi.partial_cmp(&lo) != Some(std::cmp::Ordering::Greater) {
        return lo;
    }
    for _ in 0..64 {
        let v = mean + std * crate::evasion::gaussian(rng);
        if (lo..=hi).contains(&v) {
            return v;
        }
    }
    lo + (hi - lo) * rng.f64()
}

/// Solves `a β = b` by Gaussian elimination with partial pivoting (`a` square, rows
/// given with `b` appended); `None` when it is singular.
fn solve(mut rows: Vec<Vec<f64>>) -> Option<Vec<f64>> {
    let k = rows.len();
    for col in 0..k {
        let pivot = (col..k).max_by(|&r, &s| {
            let v = |i: usize| {
                rows.get(i)
                    .and_then(|row| row.get(col))
                    .map_or(0.0, |v| v.abs())
            };
            v(r).total_cmp(&v(s))
        })?;
        rows.swap(col, pivot);
        let (above, rest) = rows.split_at_mut(col);
        let (prow, below) = rest.split_first_mut()?;
        let p = *prow.get(col)?;
        if p.abs() < 1e-12 {
            return None;
        }
        for row in above.iter_mut().chain(below.iter_mut()) {
            let f = row.get(col).copied().unwrap_or(0.0) / p;
            if f != 0.0 {
                for (v, &q) in row.iter_mut().zip(prow.iter()) {
                    *v -= f * q;
                }
            }
        }
    }
    rows.iter()
        .enumerate()
        .map(|(i, row)| Some(row.last()? / row.get(i)?))
        .collect()
}

/// Weighted ridge regression with an intercept (scikit-learn's `Ridge` with
/// `sample_weight`) of `y` on the columns `cols` of the `width`-wide rows `x`: the data
/// and labels centred by their weighted means, then `(Xᵀ W X + αI) β = Xᵀ W y`. The
/// coefficients (zero when the system is singular), the intercept and the weighted R².
fn ridge(
    x: &[f64],
    cols: &[usize],
    width: usize,
    y: &[f64],
    w: &[f64],
    alpha: f64,
) -> (Vec<f64>, f64, f64) {
    let k = cols.len();
    let total: f64 = w.iter().sum::<f64>().max(f64::MIN_POSITIVE);
    let pick = |row: &[f64]| -> Vec<f64> {
        cols.iter()
            .map(|&c| row.get(c).copied().unwrap_or(0.0))
            .collect()
    };
    let picked: Vec<Vec<f64>> = x.chunks(width.max(1)).map(pick).collect();
    let mut mean_x = vec![0.0; k];
    for (row, &wi) in picked.iter().zip(w) {
        for (m, v) in mean_x.iter_mut().zip(row) {
            *m += wi * v / total;
        }
    }
    let mean_y = y.iter().zip(w).map(|(v, wi)| wi * v).sum::<f64>() / total;
    let mut system: Vec<Vec<f64>> = vec![vec![0.0; k + 1]; k];
    for ((row, &wi), &yi) in picked.iter().zip(w).zip(y) {
        let centred: Vec<f64> = row.iter().zip(&mean_x).map(|(v, m)| v - m).collect();
        for (p, eq) in system.iter_mut().enumerate() {
            let dp = centred.get(p).copied().unwrap_or(0.0);
            for (slot, dq) in eq.iter_mut().zip(centred.iter().chain([&(yi - mean_y)])) {
                *slot += wi * dp * dq;
            }
        }
    }
    for (p, eq) in system.iter_mut().enumerate() {
        if let Some(v) = eq.get_mut(p) {
            *v += alpha;
        }
    }
    let beta = solve(system).unwrap_or_else(|| vec![0.0; k]);
    let intercept = mean_y - beta.iter().zip(&mean_x).map(|(b, m)| b * m).sum::<f64>();
    let (mut ss_res, mut ss_tot) = (0.0, 0.0);
    for ((row, &wi), &yi) in picked.iter().zip(w).zip(y) {
        let pred = intercept + row.iter().zip(&beta).map(|(v, b)| v * b).sum::<f64>();
        ss_res += wi * (yi - pred) * (yi - pred);
        ss_tot += wi * (yi - mean_y) * (yi - mean_y);
    }
    let r2 = if ss_tot > 0.0 {
        1.0 - ss_res / ss_tot
    } else {
        0.0
    };
    (beta, intercept, r2)
}

/// Explains `f`'s answer for the row `x` with neighbours drawn from `bins`.
pub fn explain(f: &dyn Answer, x: &[f64], bins: &Bins, s: &Settings) -> Result<Explanation, Error> {
    let d = bins.features.len();
    if x.len() != d || d == 0 {
        return Err(Error::Options(format!(
            "a row of {} numbers for bins of {d} features",
            x.len()
        )));
    }
    if s.samples < 2 || s.features == 0 {
        return Err(Error::Options(
            "LIME needs at least two samples and one feature".into(),
        ));
    }
    let n = s.samples;
    let mut rng = fastrand::Rng::with_seed(s.seed);
    let own: Vec<usize> = bins
        .features
        .iter()
        .zip(x)
        .map(|(fb, &v)| fb.bin(v))
        .collect();
    let mut binary = vec![0.0; n * d];
    let mut rows = Vec::with_capacity(n * d);
    rows.extend_from_slice(x);
    for j in 0..d {
        if let Some(b) = binary.get_mut(j) {
            *b = 1.0;
        }
    }
    for i in 1..n {
        for (j, fb) in bins.features.iter().enumerate() {
            // The bin, by the background's frequencies.
            let u = rng.f64();
            let mut acc = 0.0;
            let mut bin = fb.share.len().saturating_sub(1);
            for (b, &p) in fb.share.iter().enumerate() {
                acc += p;
                if u < acc {
                    bin = b;
                    break;
                }
            }
            let get = |v: &[f64]| v.get(bin).copied().unwrap_or(0.0);
            rows.push(truncated_normal(
                &mut rng,
                get(&fb.mean),
                get(&fb.std),
                get(&fb.lo),
                get(&fb.hi),
            ));
            if own.get(j) == Some(&bin)
                && let Some(b) = binary.get_mut(i * d + j)
            {
                *b = 1.0;
            }
        }
    }
    let y = f.answer(&rows, n).map_err(Error::Model)?;
    if y.len() != n || y.iter().any(|v| !v.is_finite()) {
        return Err(Error::Model(
            "the model's answers for the neighbours are not one finite number each".into(),
        ));
    }
    let width = 0.75 * (d as f64).sqrt();
    let weights: Vec<f64> = binary
        .chunks(d)
        .map(|b| {
            let d2: f64 = b.iter().map(|v| (v - 1.0) * (v - 1.0)).sum();
            (-d2 / (width * width)).exp().sqrt()
        })
        .collect();
    let all: Vec<usize> = (0..d).collect();
    let chosen: Vec<usize> = if s.features <= 6 {
        // Forward selection by weighted R² (ridge without a penalty).
        let mut used: Vec<usize> = Vec::new();
        for _ in 0..s.features.min(d) {
            let mut best = (f64::NEG_INFINITY, None);
            for &j in all.iter().filter(|j| !used.contains(j)) {
                let mut cols = used.clone();
                cols.push(j);
                let (_, _, r2) = ridge(&binary, &cols, d, &y, &weights, 0.0);
                if r2 > best.0 {
                    best = (r2, Some(j));
                }
            }
            match best.1 {
                Some(j) => used.push(j),
                None => break,
            }
        }
        used
    } else {
        let (coef, _, _) = ridge(&binary, &all, d, &y, &weights, 0.01);
        // The row's own binary vector is all ones: its weighted data is the coefficient.
        let mut order: Vec<usize> = all.clone();
        order.sort_by(|&a, &b| {
            coef.get(b)
                .map_or(0.0, |v| v.abs())
                .total_cmp(&coef.get(a).map_or(0.0, |v| v.abs()))
        });
        order.truncate(s.features);
        order
    };
    let (coef, intercept, score) = ridge(&binary, &chosen, d, &y, &weights, 1.0);
    let mut weights_out: Vec<(usize, f64)> =
        chosen.iter().copied().zip(coef.iter().copied()).collect();
    weights_out.sort_by(|a, b| b.1.abs().total_cmp(&a.1.abs()));
    let local_prediction = intercept + coef.iter().sum::<f64>();
    Ok(Explanation {
        weights: weights_out,
        intercept,
        score,
        local_prediction,
        value: y.first().copied().unwrap_or(f64::NAN),
    })
}

#[cfg(test)]
mod tests;
