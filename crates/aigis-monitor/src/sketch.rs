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
