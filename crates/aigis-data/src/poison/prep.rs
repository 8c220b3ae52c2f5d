//! Turning the caller's raw feature matrix into the standardised matrix the detectors use.
//!
//! Missing values (NaN, and ±∞, which no detector can use either) are replaced by the
//! column median. Columns are then standardised robustly, `z = (x − median) / scale`,
//! where `scale` is the first non-zero of MAD × 1.4826, IQR / 1.349 and the standard
//! deviation: the robust estimates keep a few planted extreme rows from inflating the
//! scale and hiding themselves, and the fallbacks keep sparse columns (a pixel that is
//! almost always 0, whose MAD and IQR are 0) usable. A column with one value only is
//! constant and carries no signal: it is left out of the standardised matrix.

use rayon::prelude::*;

use crate::Error;

use super::Features;

/// The standardised matrix and what was done to obtain it.
#[derive(Debug, Clone)]
pub(crate) struct Prepared {
    /// Rows.
    pub n: usize,
    /// Columns kept (non-constant).
    pub d: usize,
    /// Row-major `n × d` robust z-scores, no NaN.
    pub z: Vec<f64>,
    /// For each kept column, its index in the caller's matrix.
    pub cols: Vec<usize>,
    /// Caller's column indices that were constant (or entirely missing).
    pub constant: Vec<usize>,
    /// Caller's column indices that had missing values, with how many.
    pub imputed: Vec<(usize, usize)>,
    /// For each kept column, its `(median, scale)`: `z = (x − median) / scale`.
    pub params: Vec<(f64, f64)>,
}

impl Prepared {
    /// Row `i` of the standardised matrix (empty when `i` is out of range).
    pub fn row(&self, i: usize) -> &[f64] {
        self.z.get(i * self.d..(i + 1) * self.d).unwrap_or(&[])
    }

    /// The rows of the standardised matrix, in order.
    pub fn rows(&self) -> std::slice::ChunksExact<'_, f64> {
        self.z.chunks_exact(self.d.max(1))
    }
}

/// Checks the shape of `features` and `labels`.
pub(crate) fn validate(features: &Features, labels: Option<&[u32]>) -> Result<(), Error> {
    let want = features.n_rows.checked_mul(features.n_cols);
    if want != Some(features.data.len()) {
        return Err(Error::Poison(format!(
            "the feature matrix holds {} values, but {} rows × {} columns need {} (the values go row by row)",
            features.data.len(),
            features.n_rows,
            features.n_cols,
            want.map_or_else(|| "more than fit in memory".to_owned(), |w| w.to_string())
        )));
    }
    if !features.names.is_empty() && features.names.len() != features.n_cols {
        return Err(Error::Poison(format!(
            "{} column names were given for {} columns: one per column, or none",
            features.names.len(),
            features.n_cols
        )));
    }
    if let Some(labels) = labels
        && labels.len() != features.n_rows
    {
        return Err(Error::Poison(format!(
            "{} labels were given for {} rows: one per row",
            labels.len(),
            features.n_rows
        )));
    }
    Ok(())
}

/// The median of `values` (reordered in place); `None` when empty.
pub(crate) fn median(values: &mut [f64]) -> Option<f64> {
    quantile(values, 0.5)
}

/// The `q` quantile (nearest rank, lower) of `values`, reordered in place.
pub(crate) fn quantile(values: &mut [f64], q: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let k = ((values.len() - 1) as f64 * q.clamp(0.0, 1.0)).round() as usize;
    let (_, v, _) = values.select_nth_unstable_by(k, f64::total_cmp);
    Some(*v)
}

/// Robust location and scale of a sample: median and MAD × 1.4826, falling back to
/// IQR / 1.349, then to the standard deviation. `None` when the sample is empty; scale 0
/// when it is constant.
pub(crate) fn robust_location_scale(values: &mut [f64]) -> Option<(f64, f64)> {
    let med = median(values)?;
    let mut dev: Vec<f64> = values.iter().map(|v| (v - med).abs()).collect();
    let mad = median(&mut dev).unwrap_or(0.0) * 1.4826;
    if mad > 0.0 {
        return Some((med, mad));
    }
    let iqr = quantile(values, 0.75).unwrap_or(med) - quantile(values, 0.25).unwrap_or(med);
    if iqr > 0.0 {
        return Some((med, iqr / 1.349));
    }
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let var = values.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n;
    Some((med, var.sqrt()))
}

/// Imputes, drops constant columns and standardises.
pub(crate) fn prepare(features: &Features) -> Prepared {
    let (n, p) = (features.n_rows, features.n_cols);
    // Columns are independent: estimate them in parallel (a million-row column takes a
    // few tens of milliseconds to select medians from).
    let estimates: Vec<(usize, Option<(f64, f64)>)> = (0..p)
        .into_par_iter()
        .map(|j| {
            let column = features.data.iter().skip(j).step_by(p.max(1));
            let mut finite: Vec<f64> = column.copied().filter(|v| v.is_finite()).collect();
            let missing = n - finite.len().min(n);
            let estimate = robust_location_scale(&mut finite)
                .filter(|&(_, scale)| scale > 0.0 && scale.is_finite());
            (missing, estimate)
        })
        .collect();
    let mut cols = Vec::new();
    let mut constant = Vec::new();
    let mut imputed = Vec::new();
    let mut params = Vec::new();
    for (j, (missing, estimate)) in estimates.into_iter().enumerate() {
        if missing > 0 {
            imputed.push((j, missing));
        }
        match estimate {
            Some(lp) => {
                cols.push(j);
                params.push(lp);
            }
            None => constant.push(j),
        }
    }
    let d = cols.len();
    let mut z = Vec::with_capacity(n * d);
    for row in features.data.chunks_exact(p.max(1)).take(n) {
        for (&j, &(med, scale)) in cols.iter().zip(&params) {
            let v = row.get(j).copied().filter(|v| v.is_finite()).unwrap_or(med);
            z.push((v - med) / scale);
        }
    }
    Prepared {
        n,
        d,
        z,
        cols,
        constant,
        imputed,
        params,
    }
}

/// Rows of a class sampled to estimate its column-by-column distribution.
const PROFILE_ROWS: usize = 2000;
/// Floor of a class's column scale, in robust σ of the whole column. Within one class a
/// column can be (nearly) constant — a pixel that is always blank in the digit 0 — and a
/// zero scale would make any other value infinitely unusual, even a slightly smudged one.
const MIN_CLASS_SCALE: f64 = 0.1;

/// Per column, the robust location and scale (in the standardised units of `data`) of the
/// rows `members` — one class — estimated on up to 2,000 of them. Used to ask whether a
/// row is unusual *for the class it resembles*, which separates a trigger (values no
/// member of that class has) from a plain label flip (an ordinary member of another
/// class). `None` when `members` is empty.
pub(crate) fn class_profile(
    data: &Prepared,
    members: &[usize],
    rng: &mut fastrand::Rng,
) -> Option<Vec<(f64, f64)>> {
    if members.is_empty() {
        return None;
    }
    let rows: Vec<&[f64]> = sample_indices(rng, members.len(), PROFILE_ROWS)
        .into_iter()
        .filter_map(|k| members.get(k).map(|&i| data.row(i)))
        .collect();
    let profile = (0..data.d)
        .map(|j| {
            let mut column: Vec<f64> = rows.iter().filter_map(|r| r.get(j).copied()).collect();
            let (loc, scale) = robust_location_scale(&mut column).unwrap_or((0.0, 1.0));
            (loc, scale.max(MIN_CLASS_SCALE))
        })
        .collect();
    Some(profile)
}

/// `k` distinct indices below `n` (all of them, shuffled, when `k ≥ n`), by Floyd's
/// algorithm so that drawing 256 rows out of a million does not touch a million slots.
pub(crate) fn sample_indices(rng: &mut fastrand::Rng, n: usize, k: usize) -> Vec<usize> {
    if k >= n {
        let mut all: Vec<usize> = (0..n).collect();
        rng.shuffle(&mut all);
        return all;
    }
    let mut chosen = std::collections::HashSet::with_capacity(k);
    let mut out = Vec::with_capacity(k);
    for j in n - k..n {
        let t = rng.usize(..=j);
        let pick = if chosen.contains(&t) { j } else { t };
        chosen.insert(pick);
        out.push(pick);
    }
    out
}

/// The caller's name of column `j`, or `#j` (1-based) when unnamed.
pub(crate) fn column_name(features: &Features, j: usize) -> String {
    features
        .names
        .get(j)
        .cloned()
        .unwrap_or_else(|| format!("#{}", j + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn features(n: usize, p: usize, data: Vec<f64>) -> Features {
        Features {
            n_rows: n,
            n_cols: p,
            data,
            names: Vec::new(),
        }
    }

    #[test]
    fn imputes_median_and_drops_constant_columns() {
        let f = features(
            4,
            3,
            vec![
                1.0,
                5.0,
                f64::NAN,
                2.0,
                5.0,
                f64::NAN,
                3.0,
                5.0,
                f64::NAN,
                f64::INFINITY,
                5.0,
                f64::NAN,
            ],
        );
        let p = prepare(&f);
        assert_eq!(p.cols, vec![0]);
        assert_eq!(p.constant, vec![1, 2]);
        assert_eq!(p.imputed, vec![(0, 1), (2, 4)]);
        // The missing cell takes the median (2), so its z-score is 0.
        assert_eq!(p.row(3), &[0.0]);
        assert!(p.z.iter().all(|v| v.is_finite()));
    }

    #[test]
    fn sparse_column_falls_back_to_standard_deviation() {
        let mut data = vec![0.0; 100];
        data[7] = 16.0;
        let p = prepare(&features(100, 1, data));
        assert_eq!(p.cols, vec![0]);
        assert!(p.row(7)[0] > 9.0);
    }

    #[test]
    fn shape_errors() {
        assert!(validate(&features(2, 2, vec![0.0; 3]), None).is_err());
        assert!(validate(&features(2, 2, vec![0.0; 4]), Some(&[1])).is_err());
        assert!(validate(&features(usize::MAX, 2, vec![]), None).is_err());
        assert!(validate(&features(2, 2, vec![0.0; 4]), Some(&[1, 2])).is_ok());
    }

    #[test]
    fn floyd_sampling_is_distinct() {
        let mut rng = fastrand::Rng::with_seed(1);
        let mut s = sample_indices(&mut rng, 1000, 256);
        s.sort_unstable();
        s.dedup();
        assert_eq!(s.len(), 256);
        assert!(s.iter().all(|&i| i < 1000));
        assert_eq!(sample_indices(&mut rng, 5, 10).len(), 5);
    }
}
