//! The other per-feature statistics: Pearson's chi-square test of homogeneity (as
//! `scipy.stats.chi2_contingency` on the 2 × k table of counts), the first Wasserstein
//! distance (as `scipy.stats.wasserstein_distance`) and the population stability index.

use std::collections::BTreeMap;

use serde::Serialize;

/// The floor put under an empty bin's share in the PSI (the usual 0.01 %), so that a bin
/// empty on one side gives a large finite term rather than an infinite one.
pub const PSI_FLOOR: f64 = 1e-4;

/// A chi-square test of homogeneity.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Chi2Result {
    pub statistic: f64,
    pub p_value: f64,
    /// Degrees of freedom: the categories seen, less one.
    pub dof: u64,
}

/// Whether the categories' counts in `reference` and `current` come from one
/// distribution: Pearson's statistic on the 2 × k table of the categories either side
/// has, with Yates' continuity correction when there is one degree of freedom (scipy's
/// default). Both sides must have a count.
pub fn chi2_homogeneity(
    reference: &BTreeMap<String, u64>,
    current: &BTreeMap<String, u64>,
) -> Chi2Result {
    let mut columns: BTreeMap<&str, [f64; 2]> = BTreeMap::new();
    for (k, &c) in reference {
        columns.entry(k.as_str()).or_default()[0] += c as f64;
    }
    for (k, &c) in current {
        columns.entry(k.as_str()).or_default()[1] += c as f64;
    }
    columns.retain(|_, c| c[0] + c[1] > 0.0);
    let rows = [
        columns.values().map(|c| c[0]).sum::<f64>(),
        columns.values().map(|c| c[1]).sum::<f64>(),
    ];
    let total = rows[0] + rows[1];
    let dof = columns.len().saturating_sub(1) as u64;
    if dof == 0 || rows[0] == 0.0 || rows[1] == 0.0 {
        return Chi2Result {
            statistic: 0.0,
            p_value: 1.0,
            dof,
        };
    }
    let mut statistic = 0.0;
    for c in columns.values() {
        let col = c[0] + c[1];
        for (&row, &observed) in rows.iter().zip(c) {
            let expected = row * col / total;
            let mut o = observed;
            if dof == 1 {
                let correction = (o - expected).abs().min(0.5);
                o += correction.copysign(expected - o);
            }
            statistic += (o - expected).powi(2) / expected;
        }
    }
    Chi2Result {
        statistic,
        p_value: chi2_sf(statistic, dof),
        dof,
    }
}

/// `P(χ²_dof ≥ x)`: the regularized upper incomplete gamma function.
pub fn chi2_sf(x: f64, dof: u64) -> f64 {
    if x <= 0.0 {
        return 1.0;
    }
    statrs::function::gamma::checked_gamma_ur(dof as f64 / 2.0, x / 2.0)
        .unwrap_or(f64::NAN)
        .clamp(0.0, 1.0)
}

/// The first Wasserstein (earth mover's) distance between two samples, both sorted
/// ascending, finite and non-empty: `∫ |F₁(t) − F₂(t)| dt` (infinite when the samples
/// are further apart than the double range).
pub fn wasserstein(a: &[f64], b: &[f64]) -> f64 {
    let (n1, n2) = (a.len() as f64, b.len() as f64);
    let mut sum = Neumaier::default();
    // The distribution functions are constant from one value to the next, at their
    // values after the first.
    let mut last: Option<(f64, f64)> = None;
    for (t, i, j) in crate::ecdf::steps(a, b) {
        if let Some((prev, diff)) = last
            && diff > 0.0
        {
            // A span past the double range (from -1e308 to 1e308) is infinite; where
            // the functions agree it adds nothing (not 0 × ∞).
            sum.add(diff * (t - prev));
        }
        last = Some((t, (i as f64 / n1 - j as f64 / n2).abs()));
    }
    sum.total()
}

/// The population stability index of a numeric feature: the reference's quantiles cut
/// both samples into `bins` bins of (about) equal reference share, and
/// `PSI = Σ (cᵢ − rᵢ) ln(cᵢ / rᵢ)` over the bins' shares, each floored at [`PSI_FLOOR`].
/// Both samples sorted ascending, finite and non-empty.
pub fn psi_numeric(reference: &[f64], current: &[f64], bins: usize) -> f64 {
    let edges = quantile_edges(reference, bins.max(1));
    let r = bin_shares(reference, &edges);
    let c = bin_shares(current, &edges);
    psi_of_shares(&r, &c)
}

/// The population stability index over categories (every category either side has).
pub fn psi_categorical(reference: &BTreeMap<String, u64>, current: &BTreeMap<String, u64>) -> f64 {
    let (rt, ct) = (
        reference.values().sum::<u64>() as f64,
        current.values().sum::<u64>() as f64,
    );
    let mut keys: Vec<&String> = reference.keys().chain(current.keys()).collect();
    keys.sort();
    keys.dedup();
    let share =
        |m: &BTreeMap<String, u64>, k: &String, t: f64| m.get(k).copied().unwrap_or(0) as f64 / t;
    let r: Vec<f64> = keys.iter().map(|k| share(reference, k, rt)).collect();
    let c: Vec<f64> = keys.iter().map(|k| share(current, k, ct)).collect();
    psi_of_shares(&r, &c)
}

/// The PSI of two lists of bin shares.
pub(crate) fn psi_of_shares(r: &[f64], c: &[f64]) -> f64 {
    r.iter()
        .zip(c)
        .map(|(&r, &c)| {
            let (r, c) = (r.max(PSI_FLOOR), c.max(PSI_FLOOR));
            (c - r) * (c / r).ln()
        })
        .sum()
}

/// The inner cut points: the reference's quantiles at `i/bins` (linear interpolation,
/// numpy's default), repeated ones dropped.
pub(crate) fn quantile_edges(sorted: &[f64], bins: usize) -> Vec<f64> {
    let n = sorted.len();
    if n == 0 {
        return Vec::new();
    }
    let mut edges: Vec<f64> = (1..bins)
        .map(|i| {
            let pos = i as f64 / bins as f64 * (n - 1) as f64;
            let lo = pos.floor() as usize;
            let hi = (lo + 1).min(n - 1);
            let frac = pos - lo as f64;
            let at = |i: usize| sorted.get(i).copied().unwrap_or(f64::NAN);
            let (a, b) = (at(lo), at(hi));
            let edge = a + (b - a) * frac;
            // b − a past the double range: the same point by the other form.
            if edge.is_finite() {
                edge
            } else {
                a * (1.0 - frac) + b * frac
            }
        })
        .collect();
    edges.dedup();
    edges
}

/// The share of a sorted sample in each bin: `(−∞, e₀]`, `(e₀, e₁]`, …, `(e_last, ∞)`.
pub(crate) fn bin_shares(sorted: &[f64], edges: &[f64]) -> Vec<f64> {
    let n = sorted.len() as f64;
    let mut shares = Vec::with_capacity(edges.len() + 1);
    let mut before = 0;
    for &e in edges {
        let upto = sorted.partition_point(|&v| v <= e);
        shares.push((upto - before) as f64 / n);
        before = upto;
    }
    shares.push((sorted.len() - before) as f64 / n);
    shares
}

/// Neumaier's compensated sum: long sums of small products stay accurate.
#[derive(Default)]
struct Neumaier {
    sum: f64,
    carry: f64,
}

impl Neumaier {
    fn add(&mut self, x: f64) {
        let t = self.sum + x;
        if self.sum.abs() >= x.abs() {
            self.carry += (self.sum - t) + x;
        } else {
            self.carry += (x - t) + self.sum;
        }
        self.sum = t;
    }

    fn total(&self) -> f64 {
        if self.sum.is_infinite() {
            // The carry of an infinite sum is NaN.
            return self.sum;
        }
        self.sum + self.carry
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(pairs: &[(&str, u64)]) -> BTreeMap<String, u64> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect()
    }

    // scipy 1.17: chi2_contingency([[30, 50, 20], [25, 40, 45]]) and, with one degree of
    // freedom (Yates), chi2_contingency([[30, 70], [45, 55]]).
    #[test]
    fn chi_square_matches_scipy() {
        let r = chi2_homogeneity(
            &counts(&[("a", 30), ("b", 50), ("c", 20)]),
            &counts(&[("a", 25), ("b", 40), ("c", 45)]),
        );
        assert_eq!(r.dof, 2);
        assert!(
            (r.statistic - 10.729_179_910_998_093).abs() < 1e-10,
            "{r:?}"
        );
        assert!(
            (r.p_value - 0.004_679_378_600_688_16).abs() < 1e-12,
            "{r:?}"
        );
        let r = chi2_homogeneity(
            &counts(&[("x", 30), ("y", 70)]),
            &counts(&[("x", 45), ("y", 55)]),
        );
        assert_eq!(r.dof, 1);
        assert!((r.statistic - 4.181_333_333_333_333).abs() < 1e-10, "{r:?}");
        assert!(
            (r.p_value - 0.040_871_534_089_006_28).abs() < 1e-12,
            "{r:?}"
        );
    }

    #[test]
    fn one_category_is_no_evidence_of_change() {
        let r = chi2_homogeneity(&counts(&[("a", 10)]), &counts(&[("a", 3)]));
        assert_eq!((r.statistic, r.p_value, r.dof), (0.0, 1.0, 0));
    }

    // scipy 1.17: wasserstein_distance([0, 1, 3], [5, 6, 8]) = 5 and
    // wasserstein_distance([3.4, 3.9, 7.5, 7.8], [4.5, 1.4]) = 2.7.
    #[test]
    fn wasserstein_matches_scipy() {
        assert!((wasserstein(&[0.0, 1.0, 3.0], &[5.0, 6.0, 8.0]) - 5.0).abs() < 1e-12);
        assert!((wasserstein(&[3.4, 3.9, 7.5, 7.8], &[1.4, 4.5]) - 2.7).abs() < 1e-12);
    }

    #[test]
    fn psi_is_zero_for_one_sample_and_grows_with_a_shift() {
        let a: Vec<f64> = (0..1000).map(f64::from).collect();
        assert!(psi_numeric(&a, &a, 10).abs() < 1e-12);
        let b: Vec<f64> = (300..1300).map(f64::from).collect();
        let shifted = psi_numeric(&a, &b, 10);
        assert!(shifted > 1.0, "{shifted}");
    }
}
