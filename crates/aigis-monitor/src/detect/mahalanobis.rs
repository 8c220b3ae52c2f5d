//! The `mahalanobis` detector: a row's squared Mahalanobis distance from the reference,
//! under a Ledoit–Wolf shrunk covariance of the standardized features.
//!
//! Why beside the isolation forest: the forest splits one feature at a time, so a row
//! whose every value is in range but whose values do not go together (a radius with
//! another cell's area) is not isolated faster than a natural one. On scikit-learn's
//! breast_cancer, rows drawn uniformly from a few natural rows' box are flagged by none of
//! a forest's calibrated thresholds and by all of this distance's (`bench/detect_eval.py`
//! and `bench/extraction_eval.py`, BENCHMARKS.md): these are the random and synthetic
//! queries of a copying client. The covariance is shrunk (Ledoit and Wolf, 2004) so that
//! it is well conditioned with few rows or many features, and a feature that is constant
//! in the reference keeps a small variance: a row that moves it is far.
//!
//! Each standardized value is clipped to ±[`CLIP`] standard deviations first. Without
//! that, a feature that is nearly always one value (a digit's pixel that is lit in one
//! image of two hundred) gives its rare natural rows distances in the thousands, the
//! calibrated threshold lands among them, and rows whose values merely do not go together
//! pass under it: in `bench/extraction_eval.py` (seed 0), a copier's uniform random
//! queries to the breast_cancer model were refused after 880 calls unclipped and after 20
//! clipped at 4. A value beyond the clip is the isolation forest's to see.
//!
//! Written by hand: a Ledoit–Wolf estimate, a Cholesky factorization and a forward
//! substitution are some fifty lines, and no linear-algebra crate is in this crate's tree
//! (nalgebra would be added, with its build, for them). The estimate
//! is checked against scikit-learn's `LedoitWolf` in `scripts/detect_vs_sklearn.py`.

use serde::{Deserialize, Serialize};

/// Features above which `aigis detect fit` leaves this detector out unless asked: its
/// file holds `d (d + 1) / 2` numbers and a row costs as many multiplications.
pub const AUTO_MAX_FEATURES: usize = 512;

/// Rows the covariance is estimated on at most (a seeded sample of the reference beyond
/// this): the estimate costs `rows × d²`.
pub const MAX_FIT_ROWS: usize = 50_000;

/// Features this detector is fitted for at most.
pub const MAX_FEATURES: usize = 4096;

/// Standardized values are clipped to this many standard deviations.
pub const CLIP: f64 = 4.0;

/// The diagonal added to the shrunk covariance, a share of its mean variance: it keeps
/// the matrix positive definite when the shrinkage is zero and a feature is constant.
const RIDGE: f64 = 1e-6;

/// The fitted distance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mahalanobis {
    /// Flagged above this squared distance.
    pub threshold: f64,
    /// Each feature's mean in the rows it was fitted on.
    pub mean: Vec<f64>,
    /// Each feature's standard deviation there (1 for a feature constant there and in
    /// the calibration rows).
    pub scale: Vec<f64>,
    /// Standardized values are clipped to ±this.
    pub clip: f64,
    /// The mean of the clipped standardized rows it was fitted on, taken off before the
    /// distance.
    pub center: Vec<f64>,
    /// The Ledoit–Wolf shrinkage intensity used, between 0 and 1.
    pub shrinkage: f64,
    /// The lower Cholesky factor `L` of the shrunk covariance of the centred, clipped,
    /// standardized features, row by row (`d (d + 1) / 2` numbers). The squared distance
    /// of such a row `z` is `|y|²` where `L y = z`.
    pub factor: Vec<f64>,
}

/// The rows of a packed lower-triangular matrix of `d` rows (row `i` holds `i + 1`
/// numbers); fewer when `packed` is short.
fn lower_rows(packed: &[f64], d: usize) -> impl Iterator<Item = &[f64]> {
    let mut rest = packed;
    (1..=d).map_while(move |len| {
        let (row, tail) = rest.split_at_checked(len)?;
        rest = tail;
        Some(row)
    })
}

impl Mahalanobis {
    /// Fits on `rows` (row-major, `cols` features, every value finite); `calibration`
    /// (the same layout) only gives a scale to a feature constant in `rows`. `None` when
    /// every feature is constant in both (there is no covariance to speak of).
    pub fn fit(rows: &[f64], cols: usize, calibration: &[f64]) -> Option<Self> {
        let n = rows.len() / cols.max(1);
        if cols == 0 || n < 2 {
            return None;
        }
        let (mean, sd) = moments(rows, cols);
        let (_, cal_sd) = moments(calibration, cols);
        let mut constant = 0;
        let scale: Vec<f64> = sd
            .iter()
            .zip(&cal_sd)
            .map(|(&s, &c)| {
                if s > 0.0 {
                    s
                } else if c > 0.0 {
                    c
                } else {
                    constant += 1;
                    1.0
                }
            })
            .collect();
        if constant == cols {
            return None;
        }
        // The clipped standardized rows, centred.
        let mut z: Vec<f64> = rows
            .chunks_exact(cols)
            .flat_map(|r| {
                r.iter()
                    .zip(&mean)
                    .zip(&scale)
                    .map(|((x, m), s)| ((x - m) / s).clamp(-CLIP, CLIP))
            })
            .collect();
        let (center, _) = moments(&z, cols);
        for r in z.chunks_exact_mut(cols) {
            for (v, c) in r.iter_mut().zip(&center) {
                *v -= c;
            }
        }
        // Their covariance S (divided by n, as Ledoit and Wolf's), the lower triangle
        // row by row.
        let mut s: Vec<Vec<f64>> = (1..=cols).map(|len| vec![0.0; len]).collect();
        for r in z.chunks_exact(cols) {
            for (&a, row) in r.iter().zip(s.iter_mut()) {
                if a != 0.0 {
                    for (out, &b) in row.iter_mut().zip(r) {
                        *out += a * b;
                    }
                }
            }
        }
        let nf = n as f64;
        s.iter_mut().flatten().for_each(|v| *v /= nf);
        let shrinkage = ledoit_wolf_shrinkage(&z, &s, cols);
        let mu = diagonal(&s).sum::<f64>() / cols as f64;
        for row in &mut s {
            row.iter_mut().for_each(|v| *v *= 1.0 - shrinkage);
            if let Some(d) = row.last_mut() {
                *d += shrinkage * mu + RIDGE * mu.max(f64::MIN_POSITIVE);
            }
        }
        Some(Self {
            threshold: f64::INFINITY,
            mean,
            scale,
            clip: CLIP,
            center,
            shrinkage,
            factor: cholesky(&s)?,
        })
    }

    /// The features it scores.
    pub fn columns(&self) -> usize {
        self.mean.len()
    }

    /// Into `z`, `row` standardized, clipped and centred; into `y`, the solution of
    /// `L y = z` (forward substitution, one row of the factor at a time). Both are
    /// cleared first (buffers reused from row to row).
    fn solve(&self, row: &[f64], z: &mut Vec<f64>, y: &mut Vec<f64>) {
        z.clear();
        z.extend(
            row.iter()
                .zip(self.mean.iter().zip(&self.scale))
                .zip(&self.center)
                .map(|((x, (m, s)), c)| ((x - m) / s).clamp(-self.clip, self.clip) - c),
        );
        y.clear();
        for (zi, l) in z.iter().zip(lower_rows(&self.factor, self.columns())) {
            let (diagonal, before) = l.split_last().unwrap_or((&1.0, &[]));
            let dot: f64 = before.iter().zip(y.iter()).map(|(a, b)| a * b).sum();
            y.push((zi - dot) / diagonal);
        }
    }

    /// Each row's squared distance (`rows` row-major, [`columns`](Self::columns) values
    /// each, finite): `|y|²`.
    pub fn scores(&self, rows: &[f64]) -> Vec<f64> {
        let d = self.columns();
        let (mut z, mut y) = (Vec::with_capacity(d), Vec::with_capacity(d));
        rows.chunks_exact(d.max(1))
            .map(|r| {
                self.solve(r, &mut z, &mut y);
                y.iter().map(|v| v * v).sum()
            })
            .collect()
    }

    /// Each feature's share of a row's squared distance: `z_j (Σ⁻¹ z)_j`, which add up to
    /// the distance (a feature can give a negative share when it pulls against the
    /// others). For the reasons of a flagged row: which features made it far.
    pub fn contributions(&self, row: &[f64]) -> Vec<f64> {
        let d = self.columns();
        let (mut z, mut y) = (Vec::with_capacity(d), Vec::with_capacity(d));
        self.solve(row, &mut z, &mut y);
        // Then Lᵀ w = y: w = Σ⁻¹ z.
        let factor: Vec<&[f64]> = lower_rows(&self.factor, d).collect();
        let mut w = vec![0.0f64; d];
        for i in (0..d).rev() {
            let after: f64 = factor
                .iter()
                .zip(&w)
                .skip(i + 1)
                .map(|(r, wk)| r.get(i).copied().unwrap_or(0.0) * wk)
                .sum();
            let diagonal = factor.get(i).and_then(|r| r.get(i)).copied().unwrap_or(1.0);
            let yi = y.get(i).copied().unwrap_or(0.0);
            if let Some(slot) = w.get_mut(i) {
                *slot = (yi - after) / diagonal;
            }
        }
        z.iter().zip(&w).map(|(a, b)| a * b).collect()
    }

    /// What a file could get wrong.
    pub fn validate(&self) -> Result<(), String> {
        let d = self.mean.len();
        if d == 0 || d > MAX_FEATURES || self.scale.len() != d || self.center.len() != d {
            return Err("the mahalanobis mean, scale and center differ in length".into());
        }
        if self.factor.len() != d * (d + 1) / 2 {
            return Err(format!(
                "the mahalanobis factor holds {} numbers, {d} features need {}",
                self.factor.len(),
                d * (d + 1) / 2
            ));
        }
        let finite = |v: &[f64]| v.iter().all(|x| x.is_finite());
        let sound = self.threshold.is_finite()
            && (0.0..=1.0).contains(&self.shrinkage)
            && self.clip.is_finite()
            && self.clip > 0.0
            && finite(&self.center)
            && finite(&self.mean)
            && finite(&self.factor)
            && self.scale.iter().all(|v| v.is_finite() && *v > 0.0);
        if !sound {
            return Err(
                "the mahalanobis threshold, mean, scale, clip, center or factor is not finite"
                    .into(),
            );
        }
        // A factor with a diagonal that is not positive is not a covariance's: its
        // distances would divide by zero or change sign.
        if diagonal(
            &lower_rows(&self.factor, d)
                .map(<[f64]>::to_vec)
                .collect::<Vec<_>>(),
        )
        .any(|v| v <= 0.0)
        {
            return Err("the mahalanobis factor has a diagonal that is not positive".into());
        }
        Ok(())
    }
}

/// The diagonal of a lower triangle stored row by row.
fn diagonal(rows: &[Vec<f64>]) -> impl Iterator<Item = f64> + '_ {
    rows.iter().filter_map(|r| r.last().copied())
}

/// Each column's mean and (population) standard deviation.
fn moments(rows: &[f64], cols: usize) -> (Vec<f64>, Vec<f64>) {
    let n = (rows.len() / cols.max(1)).max(1) as f64;
    let mut mean = vec![0.0f64; cols];
    for r in rows.chunks_exact(cols.max(1)) {
        for (m, x) in mean.iter_mut().zip(r) {
            *m += x;
        }
    }
    mean.iter_mut().for_each(|m| *m /= n);
    let mut var = vec![0.0f64; cols];
    for r in rows.chunks_exact(cols.max(1)) {
        for ((v, x), m) in var.iter_mut().zip(r).zip(&mean) {
            *v += (x - m) * (x - m);
        }
    }
    (mean, var.into_iter().map(|v| (v / n).sqrt()).collect())
}

/// Ledoit and Wolf's (2004) optimal shrinkage of the sample covariance `s` (its lower
/// triangle, of the centred rows `z`) towards the scaled identity, in [0, 1]:
/// `min(b², d²) / d²` where `d² = ‖S − μI‖² / p` and
/// `b² = (Σ_k ‖z_k z_kᵀ − S‖²) / (n² p)`, with the Frobenius norm.
fn ledoit_wolf_shrinkage(z: &[f64], s: &[Vec<f64>], cols: usize) -> f64 {
    let n = (z.len() / cols) as f64;
    let p = cols as f64;
    let mu = diagonal(s).sum::<f64>() / p;
    // ‖S‖² (each off-diagonal entry twice) and Σ_k ‖z_k‖⁴, from which
    // Σ_k ‖z_k z_kᵀ − S‖² = Σ_k ‖z_k‖⁴ − n ‖S‖².
    let s2: f64 = s
        .iter()
        .map(|row| {
            let (d, off) = row.split_last().unwrap_or((&0.0, &[]));
            d * d + 2.0 * off.iter().map(|v| v * v).sum::<f64>()
        })
        .sum();
    let z4: f64 = z
        .chunks_exact(cols)
        .map(|r| {
            let q: f64 = r.iter().map(|v| v * v).sum();
            q * q
        })
        .sum();
    let distance = (s2 - p * mu * mu) / p; // ‖S − μI‖² / p
    let spread = ((z4 / n - s2) / (n * p)).max(0.0);
    if distance <= 0.0 {
        return 1.0;
    }
    spread.min(distance) / distance
}

/// The lower Cholesky factor, packed row by row, of a symmetric positive-definite matrix
/// given by its lower triangle's rows; `None` when it is not positive definite.
fn cholesky(a: &[Vec<f64>]) -> Option<Vec<f64>> {
    let mut l: Vec<Vec<f64>> = Vec::with_capacity(a.len());
    for a_row in a {
        let (a_ii, before) = a_row.split_last()?;
        let mut row: Vec<f64> = Vec::with_capacity(a_row.len());
        for (a_ij, l_j) in before.iter().zip(&l) {
            let (l_jj, l_j_before) = l_j.split_last()?;
            let dot: f64 = row.iter().zip(l_j_before).map(|(x, y)| x * y).sum();
            row.push((a_ij - dot) / l_jj);
        }
        let v = a_ii - row.iter().map(|x| x * x).sum::<f64>();
        if !(v > 0.0 && v.is_finite()) {
            return None;
        }
        row.push(v.sqrt());
        l.push(row);
    }
    let packed: Vec<f64> = l.into_iter().flatten().collect();
    packed.iter().all(|v| v.is_finite()).then_some(packed)
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, reason = "tests index small known arrays")]
mod tests {
    use super::*;

    #[test]
    fn the_distance_is_the_inverse_covariances_quadratic_form() {
        // Two correlated features: the shrunk covariance is known in closed form, and the
        // distance along the correlation is smaller than across it.
        let mut rng = fastrand::Rng::with_seed(3);
        let mut rows = Vec::new();
        for _ in 0..2000 {
            let a = (0..12).map(|_| rng.f64()).sum::<f64>() - 6.0;
            let b = (0..12).map(|_| rng.f64()).sum::<f64>() - 6.0;
            rows.extend([a, 0.9 * a + 0.1 * b]);
        }
        let m = Mahalanobis::fit(&rows, 2, &[]).unwrap();
        // Rebuild Σ = L Lᵀ from the factor and check zᵀ Σ⁻¹ z by hand (a 2 × 2 inverse).
        let f = &m.factor; // [l00, l10, l11]
        let (a, b, d) = (f[0] * f[0], f[1] * f[0], f[1] * f[1] + f[2] * f[2]);
        let det = a * d - b * b;
        let z = [1.0, -1.0];
        let c = [z[0] - m.center[0], z[1] - m.center[1]];
        let want = (d * c[0] * c[0] - 2.0 * b * c[0] * c[1] + a * c[1] * c[1]) / det;
        let x: Vec<f64> = z
            .iter()
            .zip(m.mean.iter().zip(&m.scale))
            .map(|(z, (mu, s))| z * s + mu)
            .collect();
        let got = m.scores(&x)[0];
        assert!((got - want).abs() < 1e-9 * want, "{got} {want}");
        // The features' shares add up to the distance.
        let shares = m.contributions(&x);
        assert!(
            (shares.iter().sum::<f64>() - got).abs() < 1e-9 * got,
            "{shares:?}"
        );
        let along = m.scores(&[m.mean[0] + m.scale[0], m.mean[1] + m.scale[1]])[0];
        assert!(got > 20.0 * along, "{got} {along}");
        assert!(m.shrinkage > 0.0 && m.shrinkage < 0.1, "{}", m.shrinkage);
        let mut m = m;
        assert!(m.validate().is_err(), "no threshold yet");
        m.threshold = 10.0;
        m.validate().unwrap();
    }

    #[test]
    fn a_constant_feature_keeps_a_small_variance_and_nothing_varying_is_refused() {
        let rows: Vec<f64> = (0..100).flat_map(|i| [f64::from(i), 5.0]).collect();
        let m = Mahalanobis::fit(&rows, 2, &[]).unwrap();
        let near = m.scores(&[50.0, 5.0])[0];
        let moved = m.scores(&[50.0, 5.5])[0];
        // Half a unit off the constant is as far as tens of standard deviations.
        assert!(near < 1e-3 && moved > 20.0, "{near} {moved}");
        assert!(Mahalanobis::fit(&[1.0, 2.0, 1.0, 2.0], 2, &[1.0, 2.0]).is_none());
        // A feature constant in the fit rows but varying in the calibration rows is
        // scaled by the calibration rows' spread.
        let cal = [0.0, 4.0, 1.0, 6.0];
        let m = Mahalanobis::fit(&rows, 2, &cal).unwrap();
        assert_eq!(m.scale[1], 1.0);
        assert!(Mahalanobis::fit(&rows[..2], 2, &[]).is_none());
    }
}
