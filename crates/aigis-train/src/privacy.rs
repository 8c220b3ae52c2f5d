//! The privacy accountant of DP-SGD: what a run of the Poisson-subsampled Gaussian
//! mechanism spends, as Rényi differential privacy (RDP) converted to `(ε, δ)`.
//!
//! One step of DP-SGD takes each example with probability `q` (Poisson sampling), clips
//! each example's gradient to norm `C` and adds Gaussian noise of standard deviation
//! `σ C`; the noise multiplier is `σ`. Its RDP at order `α` is `ln A_α / (α − 1)`, where
//! `A_α = E_{z∼μ₀}[(μ(z)/μ₀(z))^α]`, `μ₀ = N(0, σ²)` and `μ = (1 − q) μ₀ + q N(1, σ²)`
//! (Mironov, Talwar and Zhang, "Rényi Differential Privacy of the Sampled Gaussian
//! Mechanism", 2019): a finite binomial sum at an integer order, their two convergent
//! series at a fractional one. RDP adds up over steps, and the `(ε, δ)` guarantee is the
//! best over the orders of the conversion of Canonne, Kamath and Steinke (2020,
//! Proposition 12; also Asoodeh et al. 2020):
//! `ε = RDP(α) + ln(1 − 1/α) − ln(δ α) / (α − 1)`.
//!
//! These are the definitions Google's `dp_accounting` (and through it TF Privacy and
//! Opacus's RDP accountant) computes, on the same orders by default
//! ([`default_orders`]); `scripts/privacy_vs_dp_accounting.py` compares the two over a
//! grid of settings.
//!
//! The accounting is only as true as its assumption that each step sampled each example
//! independently with probability `q`: a shuffled pass over fixed-size batches is another
//! mechanism, which this does not account for.

use serde::Serialize;

pub mod pld;

/// Why an accounting could not be made.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A setting outside its range, named.
    #[error("{0}")]
    Invalid(String),
    /// A series that did not converge (the settings are named): no bound is given rather
    /// than a wrong one.
    #[error("{0}")]
    NoBound(String),
}

/// One DP-SGD run as the accountant sees it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Mechanism {
    /// The probability with which each step takes each example (batch size over data size
    /// for Poisson sampling).
    pub sampling_rate: f64,
    /// The noise's standard deviation over the clipping norm.
    pub noise_multiplier: f64,
    /// The steps (each a subsampled Gaussian mechanism).
    pub steps: u64,
}

impl Mechanism {
    fn check(&self) -> Result<(), Error> {
        let q = self.sampling_rate;
        if !(q > 0.0 && q <= 1.0) {
            return Err(Error::Invalid(format!(
                "the sampling rate is {}: it must be in (0, 1]",
                shown(q)
            )));
        }
        check_noise(self.noise_multiplier)?;
        if self.steps == 0 {
            return Err(Error::Invalid("the run has no step".into()));
        }
        if self.steps > MAX_STEPS {
            return Err(Error::Invalid(format!(
                "{} steps: at most {MAX_STEPS} are accounted",
                self.steps
            )));
        }
        Ok(())
    }
}

/// The most steps accounted (2⁵³: every count up to it is exact as a double).
pub const MAX_STEPS: u64 = 1 << 53;

/// The range of noise multipliers accounted: outside it `σ²` is no longer a number a
/// double holds with room to spare (no run's noise is anywhere near either end).
const NOISE_RANGE: (f64, f64) = (1e-100, 1e100);

/// A number for a message: plain, or in scientific notation when very large or small.
fn shown(v: f64) -> String {
    if v != 0.0 && v.is_finite() && !(1e-4..1e6).contains(&v.abs()) {
        format!("{v:e}")
    } else {
        v.to_string()
    }
}

fn check_noise(sigma: f64) -> Result<(), Error> {
    if sigma > 0.0 && sigma.is_finite() && !(NOISE_RANGE.0..=NOISE_RANGE.1).contains(&sigma) {
        return Err(Error::Invalid(format!(
            "the noise multiplier is {}: the accountant takes {:e} to {:e}",
            shown(sigma),
            NOISE_RANGE.0,
            NOISE_RANGE.1
        )));
    }
    if sigma > 0.0 && sigma.is_finite() {
        Ok(())
    } else {
        Err(Error::Invalid(format!(
            "the noise multiplier is {}: it must be a positive number (without noise \
             there is no privacy guarantee)",
            shown(sigma)
        )))
    }
}

fn check_delta(delta: f64) -> Result<(), Error> {
    if delta > 0.0 && delta < 1.0 {
        Ok(())
    } else {
        Err(Error::Invalid(format!(
            "δ is {delta}: it must be in (0, 1) (no finite ε holds at δ = 0)"
        )))
    }
}

/// The orders the accountant tries: 1.1 to 10.9 by tenths, 11 to 63, and 128, 256, 512
/// and 1024 (the grid `dp_accounting` uses by default, so results compare).
pub fn default_orders() -> Vec<f64> {
    let mut orders: Vec<f64> = (1..100).map(|x| 1.0 + f64::from(x) / 10.0).collect();
    orders.extend((11..64).map(f64::from));
    orders.extend([128.0, 256.0, 512.0, 1024.0]);
    orders
}

/// `ln(e^a + e^b)`.
fn log_add(a: f64, b: f64) -> f64 {
    let (hi, lo) = if a >= b { (a, b) } else { (b, a) };
    if lo == f64::NEG_INFINITY {
        return hi;
    }
    hi + (lo - hi).exp().ln_1p()
}

/// `ln erfc(x)`, also where `erfc(x)` is below the smallest double: past `x = 20` from
/// the asymptotic series `erfc(x) ≈ e^{−x²} / (x √π) (1 − 1/(2x²) + 3/(4x⁴) − 15/(8x⁶))`,
/// whose next term is below 3e−10 of the sum there.
pub(crate) fn log_erfc(x: f64) -> f64 {
    if x < 20.0 {
        return libm::erfc(x).ln();
    }
    let x2 = x * x;
    let series = 1.0 - 1.0 / (2.0 * x2) + 3.0 / (4.0 * x2 * x2) - 15.0 / (8.0 * x2 * x2 * x2);
    -x2 - x.ln() - 0.5 * std::f64::consts::PI.ln() + series.ln()
}

/// `ln |Γ(x)|` and the sign of `Γ(x)`.
fn log_gamma(x: f64) -> (f64, f64) {
    let (v, sign) = libm::lgamma_r(x);
    (v, if sign < 0 { -1.0 } else { 1.0 })
}

/// `ln A_α` at an integer order: `Σ_{k=0}^{α} C(α, k) (1 − q)^{α−k} q^k e^{(k² − k)/(2σ²)}`,
/// every term positive.
fn log_a_integer(q: f64, sigma: f64, alpha: u64) -> f64 {
    let a = alpha as f64;
    let (lg_a, _) = log_gamma(a + 1.0);
    let mut total = f64::NEG_INFINITY;
    for k in 0..=alpha {
        let k = k as f64;
        let log_choose = lg_a - log_gamma(k + 1.0).0 - log_gamma(a - k + 1.0).0;
        let term =
            log_choose + k * q.ln() + (a - k) * (-q).ln_1p() + (k * k - k) / (2.0 * sigma * sigma);
        total = log_add(total, term);
    }
    total
}

/// Terms of the fractional-order series taken at most (each two `erfc`s).
const MAX_TERMS: usize = 200_000;

/// `ln A_α` at a fractional order: Mironov, Talwar and Zhang's two series (section 3.3),
/// split at `z₀ = σ² ln(1/q − 1) + ½` (where `q μ₁(z) = (1 − q) μ₀(z)`); each term carries the
/// generalized binomial coefficient `C(α, k)`, whose sign alternates past `k > α`. The
/// terms are summed in logarithms with their signs; the series stops once past `α` both
/// terms are below `e^{−40}` (the sum, `A_α ≥ 1`, then moves less than a double's
/// precision, and an alternating tail is bounded by its first term).
fn log_a_fractional(q: f64, sigma: f64, alpha: f64) -> Result<f64, Error> {
    let z0 = sigma * sigma * (1.0 / q - 1.0).ln() + 0.5;
    let (lg_a, _) = log_gamma(alpha + 1.0);
    let (ln_q, ln_1q) = (q.ln(), (-q).ln_1p());
    let s2 = 2.0 * sigma * sigma;
    let root2_sigma = std::f64::consts::SQRT_2 * sigma;
    // Positive and negative parts, each as a logarithm.
    let (mut pos, mut neg) = (f64::NEG_INFINITY, f64::NEG_INFINITY);
    for k in 0..MAX_TERMS {
        let kf = k as f64;
        let j = alpha - kf;
        let (lg_j, sign) = log_gamma(j + 1.0);
        let log_choose = lg_a - log_gamma(kf + 1.0).0 - lg_j;
        let t0 = log_choose + kf * ln_q + j * ln_1q;
        let t1 = log_choose + j * ln_q + kf * ln_1q;
        let e0 = 0.5f64.ln() + log_erfc((kf - z0) / root2_sigma);
        let e1 = 0.5f64.ln() + log_erfc((z0 - j) / root2_sigma);
        let s0 = t0 + (kf * kf - kf) / s2 + e0;
        let s1 = t1 + (j * j - j) / s2 + e1;
        if s0.is_nan() || s1.is_nan() || s0 == f64::INFINITY || s1 == f64::INFINITY {
            break;
        }
        let both = log_add(s0, s1);
        if sign > 0.0 {
            pos = log_add(pos, both);
        } else {
            neg = log_add(neg, both);
        }
        if kf > alpha && s0.max(s1) < -40.0 {
            // ln(e^pos − e^neg); a difference that cancels more than e^25 of its parts
            // would keep too few correct digits to be trusted.
            let sum = if neg == f64::NEG_INFINITY {
                pos
            } else if neg < pos {
                pos + (-(neg - pos).exp()).ln_1p()
            } else {
                f64::NEG_INFINITY
            };
            if pos - sum > 25.0 {
                break;
            }
            return Ok(sum);
        }
    }
    Err(Error::NoBound(format!(
        "the RDP series at order {alpha} (sampling rate {q}, noise multiplier {sigma}) did not \
         converge to a trustworthy sum"
    )))
}

/// The RDP of one step at order `alpha` (> 1): `ln A_α / (α − 1)`; `α / (2σ²)` without
/// subsampling (`q = 1`).
pub fn step_rdp(sampling_rate: f64, noise_multiplier: f64, alpha: f64) -> Result<f64, Error> {
    Mechanism {
        sampling_rate,
        noise_multiplier,
        steps: 1,
    }
    .check()?;
    if !(alpha > 1.0 && alpha.is_finite()) {
        return Err(Error::Invalid(format!(
            "the RDP order is {alpha}: it must be a number above 1"
        )));
    }
    let (q, sigma) = (sampling_rate, noise_multiplier);
    if q == 1.0 {
        return Ok(alpha / (2.0 * sigma * sigma));
    }
    let log_a = if alpha.fract() == 0.0 && alpha <= 1e6 {
        log_a_integer(q, sigma, alpha as u64)
    } else {
        log_a_fractional(q, sigma, alpha)?
    };
    // A_α ≥ 1; a hair below is rounding.
    Ok(log_a.max(0.0) / (alpha - 1.0))
}

/// An `(ε, δ)` guarantee and the order it came from.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Guarantee {
    pub epsilon: f64,
    pub delta: f64,
    /// The RDP order whose conversion gave the smallest ε.
    pub order: f64,
    /// Whether that order is the smallest or largest tried: a wider grid could give a
    /// smaller ε.
    pub order_at_edge: bool,
}

/// ε at `delta` from the run's RDP at each of `orders` (`rdp[i]` at `orders[i]`).
pub fn epsilon_from_rdp(orders: &[f64], rdp: &[f64], delta: f64) -> Result<Guarantee, Error> {
    check_delta(delta)?;
    if orders.is_empty() || orders.len() != rdp.len() {
        return Err(Error::Invalid(format!(
            "{} orders for {} RDP values",
            orders.len(),
            rdp.len()
        )));
    }
    let mut best: Option<(f64, usize)> = None;
    for (i, (&a, &r)) in orders.iter().zip(rdp).enumerate() {
        let eps = if r.is_nan() {
            continue;
        } else if delta * delta + (-r).exp_m1() > 0.0 {
            // (0, δ) already: the total variation is at most √(1 − e^{−KL})
            // (Bretagnolle–Huber), and the RDP at any order bounds the KL divergence.
            0.0
        } else if a > 1.01 {
            r + (-1.0 / a).ln_1p() - (delta * a).ln() / (a - 1.0)
        } else {
            f64::INFINITY
        };
        if best.is_none_or(|(b, _)| eps < b) {
            best = Some((eps, i));
        }
    }
    let (eps, i) = best.ok_or_else(|| Error::NoBound("no order gave an RDP value".into()))?;
    if !eps.is_finite() {
        return Err(Error::NoBound(
            "no order gives a finite ε: the noise is too small for this many steps".into(),
        ));
    }
    Ok(Guarantee {
        epsilon: eps.max(0.0),
        delta,
        order: orders.get(i).copied().unwrap_or(f64::NAN),
        order_at_edge: i == 0 || i + 1 == orders.len(),
    })
}

/// The run's RDP at each of `orders` ([`default_orders`] when empty): the orders and the
/// values.
pub fn rdp(mechanism: &Mechanism, orders: &[f64]) -> Result<(Vec<f64>, Vec<f64>), Error> {
    mechanism.check()?;
    let orders = if orders.is_empty() {
        default_orders()
    } else {
        orders.to_vec()
    };
    // An order whose series gives no trustworthy sum is left out (its RDP infinite), as
    // no bound is better than a wrong one; the other orders still bound ε.
    let rdp = orders
        .iter()
        .map(
            |&a| match step_rdp(mechanism.sampling_rate, mechanism.noise_multiplier, a) {
                Ok(r) => Ok(r * mechanism.steps as f64),
                Err(Error::NoBound(_)) => Ok(f64::INFINITY),
                Err(e) => Err(e),
            },
        )
        .collect::<Result<Vec<f64>, Error>>()?;
    Ok((orders, rdp))
}

/// The run's `(ε, δ)` by RDP over `orders` ([`default_orders`] when empty).
pub fn epsilon(mechanism: &Mechanism, delta: f64, orders: &[f64]) -> Result<Guarantee, Error> {
    check_delta(delta)?;
    let (orders, rdp) = rdp(mechanism, orders)?;
    epsilon_from_rdp(&orders, &rdp, delta)
}

/// The largest noise multiplier tried by [`noise_for`].
const MAX_NOISE: f64 = 1e4;

/// The smallest noise multiplier (to a relative 1e−6, rounded up) at which a run of
/// `steps` steps at `sampling_rate` spends at most `target` ε at `delta`, by RDP.
pub fn noise_for(
    sampling_rate: f64,
    steps: u64,
    target: f64,
    delta: f64,
    orders: &[f64],
) -> Result<f64, Error> {
    least_noise(sampling_rate, steps, target, delta, 1.0, 1e-6, |m| {
        epsilon(m, delta, orders).map(|g| g.epsilon)
    })
}

/// The smallest noise multiplier, to a relative `tolerance` and rounded up, at which
/// `spent` (ε as a function of the run, falling as the noise grows) is at most `target`:
/// from `start`, doubled or halved until the target is bracketed, then bisected. A run
/// with too little noise for a finite ε is above any target.
pub(crate) fn least_noise(
    sampling_rate: f64,
    steps: u64,
    target: f64,
    delta: f64,
    start: f64,
    tolerance: f64,
    spent: impl Fn(&Mechanism) -> Result<f64, Error>,
) -> Result<f64, Error> {
    if !(target > 0.0 && target.is_finite()) {
        return Err(Error::Invalid(format!(
            "the target ε is {target}: it must be a positive number"
        )));
    }
    check_delta(delta)?;
    let eps = |sigma: f64| -> Result<f64, Error> {
        let m = Mechanism {
            sampling_rate,
            noise_multiplier: sigma,
            steps,
        };
        match spent(&m) {
            Err(Error::NoBound(_)) => Ok(f64::INFINITY),
            other => other,
        }
    };
    let mut hi = start;
    while eps(hi)? > target {
        hi *= 2.0;
        if hi > MAX_NOISE {
            return Err(Error::NoBound(format!(
                "no noise multiplier up to {MAX_NOISE} keeps {steps} steps at sampling rate \
                 {sampling_rate} within ε = {target} at δ = {delta:e}"
            )));
        }
    }
    let mut lo = hi / 2.0;
    while eps(lo)? <= target {
        hi = lo;
        lo /= 2.0;
        if lo < 1e-6 {
            return Ok(hi);
        }
    }
    while (hi - lo) > tolerance * hi {
        let mid = 0.5 * (lo + hi);
        if eps(mid)? <= target {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    Ok(hi)
}

#[cfg(test)]
mod tests;
