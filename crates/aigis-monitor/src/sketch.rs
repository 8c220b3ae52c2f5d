//! Drift against a reference profile (`aigis data profile`) instead of the reference
//! table: the reference's numeric columns are its KLL quantile sketches, its categories
//! the frequent-items sketches (Apache DataSketches, as the profile stores them).
//!
//! Where a sketch still holds every value (a reference of up to a few hundred rows;
//! DataSketches says it is not in estimation mode), the values are taken back out and
//! the result is the one the table itself gives. Where it summarizes, the KS statistic
//! is computed against the sketch's distribution function, at every current value and
//! on a fine grid of the sketch's quantiles, and it carries the sketch's error: the
//! normalized rank error DataSketches states for its `k` (99 % confidence, one rank
//! query; about 1.3 % for the profile's `k = 200`). The statistic is then within that
//! error of the exact one at each point, and [`Bound`] gives the p-values at its two
//! ends; a verdict is given only where both ends agree (`inconclusive` otherwise). The
//! p-value is the asymptotic one (the reference is above the exact method's size). The
//! range test uses the sketch's exact minimum and maximum; PSI cuts the bins at the
//! sketch's quantiles and takes the reference's shares from its ranks; there is no
//! Wasserstein distance. A frequent-items sketch is used only when it is exact (its
//! maximum error is zero: at most a few hundred categories), else the column is not
//! tested.

use std::collections::BTreeMap;
use std::path::Path;

use aigis_data::profile::{ColumnType, Profile};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use datasketches::common::SearchCriteria;
use datasketches::frequencies::{ErrorType, FrequentItemsSketch};
use datasketches::kll::{KllFloat, KllSketch};
use serde::Serialize;

use crate::Error;
use crate::drift::{Table, Values};
use crate::ks::{KsResult, Method, p_asymptotic};

/// Points of the sketch's quantile grid the KS statistic is evaluated at (besides every
/// current value).
const GRID: usize = 4096;

/// The KS statistic's error against a sketch, and the p-values at its two ends.
#[derive(Debug, Clone, Serialize)]
pub struct Bound {
    /// The sketch's normalized rank error (99 % confidence).
    pub rank_error: f64,
    /// The p-value at the statistic plus the error (the most drift it can be).
    pub p_value_low: f64,
    /// The p-value at the statistic less the error (the least).
    pub p_value_high: f64,
}

/// A reference column known by its quantile sketch.
#[derive(Debug, Clone)]
pub struct Quantiles {
    sketch: KllSketch<KllFloat<f64>>,
}

impl Quantiles {
    /// The values the sketch summarizes.
    pub fn n(&self) -> u64 {
        self.sketch.n()
    }

    /// The smallest value (exact).
    pub fn min(&self) -> f64 {
        self.sketch.min_item().map_or(f64::NAN, |v| **v)
    }

    /// The largest value (exact).
    pub fn max(&self) -> f64 {
        self.sketch.max_item().map_or(f64::NAN, |v| **v)
    }

    /// The estimated share of values `≤ x`.
    fn rank(&self, x: f64) -> f64 {
        KllFloat::<f64>::new(x)
            .ok()
            .and_then(|v| self.sketch.rank(&v, SearchCriteria::Inclusive))
            .unwrap_or(0.0)
    }

    fn quantile(&self, rank: f64) -> Option<f64> {
        self.sketch
            .quantile(rank.clamp(0.0, 1.0), SearchCriteria::Inclusive)
            .ok()
            .flatten()
            .map(|v| *v)
    }

    /// The two-sample KS test against `current` (sorted, finite, non-empty) and its
    /// bound.
    pub fn ks(&self, current: &[f64]) -> (KsResult, Bound) {
        let mut points: Vec<f64> = current.to_vec();
        points.extend((1..=GRID).filter_map(|j| self.quantile((j as f64 - 0.5) / GRID as f64)));
        points.extend([self.min(), self.max()]);
        points.retain(|x| x.is_finite());
        points.sort_by(f64::total_cmp);
        points.dedup();
        let m = current.len() as f64;
        let (mut max, mut min) = (0.0f64, 0.0f64);
        for &t in &points {
            let diff = self.rank(t) - current.partition_point(|&x| x <= t) as f64 / m;
            max = max.max(diff);
            min = min.min(diff);
        }
        let d = max.max(-min).clamp(0.0, 1.0);
        let (n1, n2) = (self.n(), current.len() as u64);
        let error = self.sketch.normalized_rank_error();
        let result = KsResult {
            statistic: d,
            p_value: p_asymptotic(n1, n2, d),
            method: Method::Asymptotic,
        };
        let bound = Bound {
            rank_error: error,
            p_value_low: p_asymptotic(n1, n2, (d + error).min(1.0)),
            p_value_high: p_asymptotic(n1, n2, (d - error).max(0.0)),
        };
        (result, bound)
    }

    /// An empty sketch of parameter `k` (DataSketches' KLL; the profile uses 200), to
    /// summarize values as they come (a window of the gateway's traffic).
    pub fn new(k: u16) -> Result<Self, String> {
        KllSketch::new(k)
            .map(|sketch| Self { sketch })
            .map_err(|e| e.to_string())
    }

    /// The sketch of a profile's numeric column, when it has one.
    pub fn of_column(profile: &Profile, column: &str) -> Result<Option<Self>, String> {
        let Some(c) = profile.columns.iter().find(|c| c.name == column) else {
            return Ok(None);
        };
        let Some(kll) = &c.sketches.kll_f64 else {
            return Ok(None);
        };
        let raw = STANDARD
            .decode(kll)
            .map_err(|e| format!("column `{column}`: its quantile sketch is not base64: {e}"))?;
        let sketch = KllSketch::<KllFloat<f64>>::deserialize(&raw)
            .map_err(|e| format!("column `{column}`: its quantile sketch does not read: {e}"))?;
        Ok(Some(Self { sketch }))
    }

    /// Takes one value; one that is not a finite number is left out.
    pub fn update(&mut self, x: f64) {
        if let Ok(v) = KllFloat::<f64>::new(x)
            && x.is_finite()
        {
            self.sketch.update(v);
        }
    }

    /// Adds another sketch's values (windows merged into a longer one).
    pub fn merge(&mut self, other: &Quantiles) -> Result<(), String> {
        self.sketch.merge(&other.sketch).map_err(|e| e.to_string())
    }

    /// Its rank error: none while it holds every value.
    pub fn rank_error(&self) -> f64 {
        if self.sketch.is_estimation_mode() {
            self.sketch.normalized_rank_error()
        } else {
            0.0
        }
    }

    /// The two-sample KS test of `current`, itself a sketch, against this one: the
    /// largest difference of the two distribution functions over both sketches'
    /// quantile grids and extremes. Its error is the two rank errors, plus one grid step
    /// when a sketch holds more points than the grid. `None` when either is empty.
    pub fn ks_sketch(&self, current: &Quantiles) -> Option<(KsResult, Bound)> {
        if self.n() == 0 || current.n() == 0 {
            return None;
        }
        let (a, b) = (self.sketch.sorted_view(), current.sketch.sorted_view());
        let grid_step = if a.len() > GRID || b.len() > GRID {
            1.0 / GRID as f64
        } else {
            0.0
        };
        let mut points: Vec<f64> = Vec::with_capacity(2 * GRID + 4);
        for view in [&a, &b] {
            points.extend((1..=GRID).filter_map(|j| {
                view.quantile((j as f64 - 0.5) / GRID as f64, SearchCriteria::Inclusive)
                    .ok()
                    .flatten()
                    .map(|v| *v)
            }));
        }
        points.extend([self.min(), self.max(), current.min(), current.max()]);
        points.retain(|x| x.is_finite());
        points.sort_by(f64::total_cmp);
        points.dedup();
        let rank = |view: &datasketches::kll::SortedView<KllFloat<f64>>, x: f64| {
            KllFloat::<f64>::new(x)
                .ok()
                .and_then(|v| view.rank(&v, SearchCriteria::Inclusive))
                .unwrap_or(0.0)
        };
        let d = points
            .iter()
            .map(|&t| (rank(&a, t) - rank(&b, t)).abs())
            .fold(0.0f64, f64::max)
            .clamp(0.0, 1.0);
        let (n1, n2) = (self.n(), current.n());
        let error = self.rank_error() + current.rank_error() + grid_step;
        Some((
            KsResult {
                statistic: d,
                p_value: p_asymptotic(n1, n2, d),
                method: Method::Asymptotic,
            },
            Bound {
                rank_error: error,
                p_value_low: p_asymptotic(n1, n2, (d + error).min(1.0)),
                p_value_high: p_asymptotic(n1, n2, (d - error).max(0.0)),
            },
        ))
    }

    /// The PSI of `current` (sorted, finite, non-empty) against the sketch, the bins cut
    /// at its quantiles.
    pub fn psi(&self, current: &[f64], bins: usize) -> f64 {
        let mut edges: Vec<f64> = (1..bins)
            .filter_map(|i| self.quantile(i as f64 / bins as f64))
            .collect();
        edges.dedup();
        let mut reference = Vec::with_capacity(edges.len() + 1);
        let mut before = 0.0;
        for &e in &edges {
            let r = self.rank(e);
            reference.push(r - before);
            before = r;
        }
        reference.push(1.0 - before);
        crate::stats::psi_of_shares(&reference, &crate::stats::bin_shares(current, &edges))
    }
}

/// The reference as a profile describes it, column by column (only `wanted` ones when
/// named).
pub(crate) fn reference_of(path: &Path, wanted: Option<&[String]>) -> Result<Table, Error> {
    let bytes = std::fs::read(path).map_err(|source| {
        Error::Data(aigis_data::Error::Io {
            path: path.to_owned(),
            source,
        })
    })?;
    let profile = Profile::from_json(&bytes).map_err(|e| Error::Profile {
        path: path.to_owned(),
        message: e.to_string(),
    })?;
    let bad = |column: &str, what: &str, e: &dyn std::fmt::Display| Error::Profile {
        path: path.to_owned(),
        message: format!("column `{column}`: {what}: {e}"),
    };
    let mut columns = BTreeMap::new();
    let mut order = Vec::new();
    for c in &profile.columns {
        if wanted.is_some_and(|w| !w.contains(&c.name)) {
            continue;
        }
        let non_null = c.count.saturating_sub(c.nulls);
        let values = match (c.column_type, &c.sketches.kll_f64) {
            (ColumnType::Integer | ColumnType::Float, Some(kll)) => {
                let raw = STANDARD
                    .decode(kll)
                    .map_err(|e| bad(&c.name, "its quantile sketch is not base64", &e))?;
                let sketch = KllSketch::<KllFloat<f64>>::deserialize(&raw)
                    .map_err(|e| bad(&c.name, "its quantile sketch does not read", &e))?;
                let q = Quantiles { sketch };
                let n = q.n();
                let not_numbers = non_null.saturating_sub(n);
                if q.sketch.is_estimation_mode() {
                    Values::from_profile(c.count, c.nulls, Vec::new(), Some(q), None, not_numbers)
                } else {
                    // Every value is still in the sketch, each of weight one: the i-th
                    // smallest is the quantile at the middle of its rank step.
                    let numbers: Vec<f64> = (1..=n)
                        .filter_map(|i| q.quantile((i as f64 - 0.5) / n as f64))
                        .collect();
                    Values::from_profile(c.count, c.nulls, numbers, None, None, not_numbers)
                }
            }
            (ColumnType::Categorical | ColumnType::Boolean, _) => {
                let raw = STANDARD
                    .decode(&c.sketches.frequent_items)
                    .map_err(|e| bad(&c.name, "its frequent-items sketch is not base64", &e))?;
                let sketch = FrequentItemsSketch::<String>::deserialize(&raw)
                    .map_err(|e| bad(&c.name, "its frequent-items sketch does not read", &e))?;
                let texts = (sketch.maximum_error() == 0).then(|| {
                    sketch
                        .frequent_items(ErrorType::NoFalsePositives)
                        .into_iter()
                        .map(|row| (row.item().clone(), row.estimate()))
                        .collect::<BTreeMap<String, u64>>()
                });
                Values::from_profile(c.count, c.nulls, Vec::new(), None, texts, 0)
            }
            // Text, dates, nested values, or nothing: not compared.
            _ => Values::from_profile(c.count, c.nulls, Vec::new(), None, None, non_null),
        };
        order.push(c.name.clone());
        columns.insert(c.name.clone(), values);
    }
    Ok(Table {
        path: path.to_owned(),
        rows: profile.rows,
        columns,
        order,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "a test fails by panicking")]
    use super::*;

    fn sketch_of(values: &[f64]) -> Quantiles {
        let mut q = Quantiles::new(200).unwrap();
        for &v in values {
            q.update(v);
        }
        q
    }

    #[test]
    fn two_exact_sketches_give_the_exact_statistic() {
        // scipy.stats.ks_2samp([0.1, 0.4, 0.7, 1.5, 2.0], [0.3, 0.5, 2.5, 3.0, 3.1, 4.0, 4.5])
        let (r, b) = sketch_of(&[0.1, 0.4, 0.7, 1.5, 2.0])
            .ks_sketch(&sketch_of(&[0.3, 0.5, 2.5, 3.0, 3.1, 4.0, 4.5]))
            .unwrap();
        assert!((r.statistic - 0.714_285_714_285_714_3).abs() < 1e-12);
        assert_eq!(b.rank_error, 0.0);
        assert!(sketch_of(&[]).ks_sketch(&sketch_of(&[1.0])).is_none());
    }

    #[test]
    fn summarizing_sketches_stay_within_their_error_of_the_exact_statistic() {
        let mut rng = fastrand::Rng::with_seed(8);
        for shift in [0.0, 0.05, 0.2] {
            let a: Vec<f64> = (0..50_000).map(|_| rng.f64()).collect();
            let b: Vec<f64> = (0..20_000).map(|_| rng.f64() + shift).collect();
            let (mut sa, mut sb) = (a.clone(), b.clone());
            sa.sort_by(f64::total_cmp);
            sb.sort_by(f64::total_cmp);
            let exact = crate::ks::ks_2samp(&sa, &sb).statistic;
            let (mut qa, qb) = (sketch_of(&a[..25_000]), sketch_of(&b));
            // Windows merge: the two halves of `a`.
            qa.merge(&sketch_of(&a[25_000..])).unwrap();
            assert_eq!(qa.n(), 50_000);
            let (r, bound) = qa.ks_sketch(&qb).unwrap();
            assert!(bound.rank_error > 0.0);
            assert!(
                (r.statistic - exact).abs() <= bound.rank_error,
                "shift {shift}: {} vs {exact} ± {}",
                r.statistic,
                bound.rank_error
            );
            assert!(bound.p_value_low <= r.p_value && r.p_value <= bound.p_value_high);
        }
    }
}
