//! The two-sample Kolmogorov–Smirnov test, two-sided, as `scipy.stats.ks_2samp` computes
//! it with `method="auto"`: the exact p-value when neither sample has more than 10,000
//! values, else the asymptotic one (the one-sample distribution at the effective size
//! `round(n₁n₂/(n₁+n₂))`).
//!
//! The exact p-value of unequal samples is the probability that a uniformly random
//! interleaving of the two samples leaves the band `|x/n₁ − y/n₂| < d` somewhere: a walk
//! over the lattice that sums the probability flowing out of the band, so a tiny p-value
//! is a sum of positive terms rather than one minus a number close to one. Equal samples
//! use the reflection formula (Gnedenko and Korolyuk), as scipy does.

use serde::Serialize;

use crate::kolmogorov::kolmogorov_sf;

/// Above this many values in either sample, the asymptotic p-value (scipy's `MAX_AUTO_N`).
pub const MAX_EXACT_N: usize = 10_000;

/// How a p-value was computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    Exact,
    Asymptotic,
}

/// The result of a two-sample test.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct KsResult {
    /// The largest distance between the two empirical distribution functions.
    pub statistic: f64,
    pub p_value: f64,
    pub method: Method,
}

/// Tests whether two samples come from one continuous distribution. Both must be sorted
/// ascending, finite and non-empty (the caller drops NaN and infinities and says so).
pub fn ks_2samp(a: &[f64], b: &[f64]) -> KsResult {
    debug_assert!(!a.is_empty() && !b.is_empty());
    ks_of(a.len() as u64, b.len() as u64, statistic(a, b))
}

/// The test of a statistic `d` between samples of `n1` and `n2` values, as [`ks_2samp`]
/// gives it: the exact p-value up to 10,000 values a side, the asymptotic one above.
pub fn ks_of(n1: u64, n2: u64, d: f64) -> KsResult {
    let (n1, n2) = (
        usize::try_from(n1).unwrap_or(usize::MAX),
        usize::try_from(n2).unwrap_or(usize::MAX),
    );
    let g = gcd(n1, n2);
    if n1.max(n2) <= MAX_EXACT_N {
        let lcm = (n1 / g) as f64 * n2 as f64;
        let h = (d * lcm).round_ties_even() as u64;
        let d = h as f64 / lcm;
        let p = if h == 0 {
            1.0
        } else if n1 == n2 {
            outside_square(n1 as u64, h)
        } else {
            outside_band(n1 as u64, n2 as u64, g as u64, h)
        };
        return KsResult {
            statistic: d,
            p_value: p.clamp(0.0, 1.0),
            method: Method::Exact,
        };
    }
    KsResult {
        statistic: d,
        p_value: p_asymptotic(n1 as u64, n2 as u64, d),
        method: Method::Asymptotic,
    }
}

/// The asymptotic two-sided p-value of a statistic `d` between samples of `n1` and `n2`:
/// the one-sample distribution at `round(n₁n₂/(n₁+n₂))`, as scipy.
pub fn p_asymptotic(n1: u64, n2: u64, d: f64) -> f64 {
    let (m, n) = (n1.max(n2) as f64, n1.min(n2) as f64);
    let en = (m * n / (m + n)).round_ties_even() as u64;
    kolmogorov_sf(en.max(1), d).clamp(0.0, 1.0)
}

/// `max |F₁(t) − F₂(t)|` over every value of either sample, each distribution function
/// counting the values `≤ t` (scipy's `searchsorted(side="right")`), computed with the
/// same divisions so that the statistic is scipy's to the bit.
pub fn statistic(a: &[f64], b: &[f64]) -> f64 {
    let (n1, n2) = (a.len() as f64, b.len() as f64);
    let (mut max, mut min) = (0.0f64, 0.0f64);
    for (_, i, j) in crate::ecdf::steps(a, b) {
        let diff = i as f64 / n1 - j as f64 / n2;
        max = max.max(diff);
        min = min.min(diff);
    }
    let below = (-min).clamp(0.0, 1.0);
    if below > max { below } else { max }
}

fn gcd(mut a: usize, mut b: usize) -> usize {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// `P(D ≥ h/n)` for two samples of `n`: the reflection principle's alternating sum of
/// binomial ratios, evaluated Horner-fashion so that it does not cancel.
fn outside_square(n: u64, h: u64) -> f64 {
    let mut p = 0.0;
    let mut k = (n / h) as i64;
    let (nf, hf) = (n as f64, h as f64);
    while k >= 0 {
        let kf = k as f64;
        let mut a = 1.0;
        for j in 0..h {
            let j = j as f64;
            a = (nf - kf * hf - j) * a / (nf + kf * hf + j + 1.0);
        }
        p = a * (1.0 - p);
        k -= 1;
    }
    2.0 * p
}

/// `P(D ≥ h·g/(n₁n₂))`: the probability that a random interleaving of `n₁` and `n₂`
/// values reaches `|x·n₂ − y·n₁| ≥ h·g`, `x` and `y` the values taken of each so far.
fn outside_band(n1: u64, n2: u64, g: u64, h: u64) -> f64 {
    let bound = (h * g) as i64;
    let (n1i, n2i) = (n1 as i64, n2 as i64);
    // The y inside the band at x: |x·n₂ − y·n₁| < bound.
    let band = |x: i64| -> (i64, i64) {
        let c = x * n2i;
        let lo = (c - bound).div_euclid(n1i) + 1;
        let hi = (c + bound - 1).div_euclid(n1i);
        (lo.max(0), hi.min(n2i))
    };
    let total = (n1 + n2) as f64;
    let right = |x: i64, y: i64| (n1i - x) as f64 / (total - (x + y) as f64);
    let up = |x: i64, y: i64| (n2i - y) as f64 / (total - (x + y) as f64);
    let mut prev: Vec<f64> = Vec::new();
    let mut prev_lo = 0i64;
    let mut prev_hi = -1i64;
    let mut cur: Vec<f64> = Vec::new();
    let mut out = 0.0;
    // Entries are read with `get`: an index outside a column is a point outside the
    // band, whose mass is zero.
    let at = |v: &[f64], i: i64| {
        usize::try_from(i)
            .ok()
            .and_then(|i| v.get(i))
            .copied()
            .unwrap_or(0.0)
    };
    for x in 0..=n1i {
        let (lo, hi) = band(x);
        cur.clear();
        for y in lo..=hi {
            let mut mass = if x == 0 && y == 0 { 1.0 } else { 0.0 };
            if x > 0 && (prev_lo..=prev_hi).contains(&y) {
                mass += at(&prev, y - prev_lo) * right(x - 1, y);
            }
            if y > lo {
                mass += at(&cur, y - 1 - lo) * up(x, y - 1);
            }
            cur.push(mass);
        }
        // What leaves the band: up from the top of this column, and right from the
        // points whose right neighbour is outside the next column's band.
        if hi < n2i && hi >= lo {
            out += at(&cur, hi - lo) * up(x, hi);
        }
        if x < n1i {
            let (next_lo, next_hi) = band(x + 1);
            for y in lo..=hi {
                if !(next_lo..=next_hi).contains(&y) {
                    out += at(&cur, y - lo) * right(x, y);
                }
            }
        }
        std::mem::swap(&mut prev, &mut cur);
        prev_lo = lo;
        prev_hi = hi;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The probability of leaving the band, by counting every interleaving: the
    /// definition, for small samples.
    fn by_enumeration(n1: u64, n2: u64, g: u64, h: u64) -> f64 {
        fn walk(x: u64, y: u64, n1: u64, n2: u64, bound: i64, out: &mut u64, all: &mut u64) {
            if (x as i64 * n2 as i64 - y as i64 * n1 as i64).abs() >= bound {
                // Every completion of this path is outside.
                *out += choose(n1 - x + n2 - y, n1 - x);
                *all += choose(n1 - x + n2 - y, n1 - x);
                return;
            }
            if x == n1 && y == n2 {
                *all += 1;
                return;
            }
            if x < n1 {
                walk(x + 1, y, n1, n2, bound, out, all);
            }
            if y < n2 {
                walk(x, y + 1, n1, n2, bound, out, all);
            }
        }
        fn choose(n: u64, k: u64) -> u64 {
            (1..=k).fold(1, |c, i| c * (n - k + i) / i)
        }
        let (mut out, mut all) = (0, 0);
        walk(0, 0, n1, n2, (h * g) as i64, &mut out, &mut all);
        assert_eq!(all, choose(n1 + n2, n1));
        out as f64 / all as f64
    }

    #[test]
    fn the_band_walk_counts_what_enumeration_counts() {
        for (n1, n2) in [(3u64, 5u64), (4, 6), (7, 3), (6, 9), (8, 8), (5, 12)] {
            let g = gcd(n1 as usize, n2 as usize) as u64;
            let lcm = n1 / g * n2;
            for h in 1..=lcm {
                let want = by_enumeration(n1, n2, g, h);
                let got = outside_band(n1, n2, g, h);
                assert!(
                    (got - want).abs() < 1e-12,
                    "n1 {n1} n2 {n2} h {h}: walk {got}, enumeration {want}"
                );
                if n1 == n2 {
                    let square = outside_square(n1, h);
                    assert!((square - want).abs() < 1e-12, "square {square}, {want}");
                }
            }
        }
    }

    // From scipy 1.17: `ks_2samp([0.1, 0.4, 0.7, 1.5, 2.0], [0.3, 0.5, 2.5, 3.0, 3.1,
    // 4.0, 4.5])`, and the same with ties across the samples.
    #[test]
    fn small_samples_match_scipy() {
        let r = ks_2samp(
            &[0.1, 0.4, 0.7, 1.5, 2.0],
            &[0.3, 0.5, 2.5, 3.0, 3.1, 4.0, 4.5],
        );
        assert_eq!(r.method, Method::Exact);
        assert!(
            (r.statistic - 0.714_285_714_285_714_3).abs() < 1e-15,
            "{r:?}"
        );
        assert!(
            (r.p_value - 0.065_656_565_656_565_65).abs() < 1e-12,
            "{r:?}"
        );
        let r = ks_2samp(&[1.0, 2.0, 2.0, 3.0], &[2.0, 3.0, 3.0, 4.0, 5.0]);
        assert!((r.statistic - 0.55).abs() < 1e-15, "{r:?}");
        assert!((r.p_value - 0.428_571_428_571_428_6).abs() < 1e-12, "{r:?}");
    }
}
