//! The privacy loss distribution (PLD) accountant: the distribution of the privacy loss
//! `L = ln(P(o)/Q(o))`, `o ∼ P`, of one step, on a grid, composed over the steps by a
//! Fourier transform, and `δ(ε) = E[(1 − e^{ε − L})₊]` read off the composition. It is
//! tighter than RDP, whose conversion to `(ε, δ)` loses a little at every order.
//!
//! A step is the Poisson-subsampled Gaussian mechanism under adding or removing one
//! example, so two pairs are accounted and the larger ε is the guarantee: removing
//! (`P = (1 − q) N(0, σ²) + q N(1, σ²)`, `Q = N(0, σ²)`) and adding (`P` and `Q` swapped).
//! Each step's loss is discretized by "connecting the dots" (Doroshenko, Ghazi, Kamath,
//! Kumar and Manurangsi, 2022): atoms at `iΔ` whose hockey-stick curve `δ(ε)` equals the
//! mechanism's at every grid point and lies above it between them (the curve is convex in
//! `e^ε`), so the discrete loss dominates the true one and stays an upper bound under
//! composition. The mechanism's own `δ(ε)` at each grid point is exact, from Gaussian
//! tails. Everything left out is counted against the guarantee: the step's loss above the
//! grid is an infinite loss, its loss below the grid sits on the grid's lowest point, and
//! the composition's tails beyond its window (bounded by Chernoff's inequality) are added
//! to δ.

use rustfft::FftPlanner;
use rustfft::num_complex::Complex;

use super::{Error, Mechanism};

/// The grid's interval by default (`dp_accounting`'s `value_discretization_interval`).
pub const DEFAULT_INTERVAL: f64 = 1e-4;

/// The mass one step's grid may leave out at each end, and the composition's window.
const TAIL: f64 = 1e-15;

/// The largest Fourier transform taken; past it the grid's interval is doubled.
const MAX_POINTS: usize = 1 << 23;

/// `P(Z ≤ x)` for a standard normal `Z`.
fn lower(x: f64) -> f64 {
    0.5 * libm::erfc(-x / std::f64::consts::SQRT_2)
}

/// `ln P(Z > x)`, also far in the tail.
fn ln_upper(x: f64) -> f64 {
    0.5f64.ln() + super::log_erfc(x / std::f64::consts::SQRT_2)
}

/// `ln P(Z ≤ x)`.
fn ln_lower(x: f64) -> f64 {
    ln_upper(-x)
}

/// `e^a − e^b`, 0 where `b ≥ a` (both logarithms, so neither need be representable).
fn exp_diff(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else if b < a {
        a.exp() * -(b - a).exp_m1()
    } else {
        0.0
    }
}

/// The two pairs of a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pair {
    Remove,
    Add,
}

/// One step's loss in one pair: its hockey-stick curve `δ(ε)` and its distribution
/// function `P(L ≤ ε)`, computed in logarithms (`e^ε` itself overflows past ε = 709,
/// and a product of it with a Gaussian tail that underflows is no number at all).
struct Step {
    q: f64,
    sigma: f64,
    pair: Pair,
}

impl Step {
    /// `ln(e^l − (1 − q))`; `None` where `e^l ≤ 1 − q`.
    fn ln_excess(&self, l: f64) -> Option<f64> {
        let rest = 1.0 - self.q;
        if rest == 0.0 {
            return Some(l);
        }
        let ratio = rest * (-l).exp();
        (ratio < 1.0).then(|| l + (-ratio).ln_1p())
    }

    /// The point `o` where the mixture ratio `(1 − q) + q e^{(2o − 1)/(2σ²)}` is `e^l`
    /// (the loss is `l` removing, `−l` adding); `None` where no `o` gives it.
    fn point(&self, l: f64) -> Option<f64> {
        self.ln_excess(l)
            .map(|e| self.sigma * self.sigma * (e - self.q.ln()) + 0.5)
    }

    /// `δ(ε) = P(L > ε) − e^ε Q(L > ε)`; 1 (no privacy) where it cannot be computed.
    fn delta(&self, eps: f64) -> f64 {
        let (q, s) = (self.q, self.sigma);
        let d = match self.pair {
            // L > ε ⇔ o > o*: under P a mixture, under Q the centred normal.
            // δ = q P(Z > (o* − 1)/σ) − (e^ε − (1 − q)) P(Z > o*/σ).
            Pair::Remove => match (self.point(eps), self.ln_excess(eps)) {
                (Some(o), Some(excess)) => {
                    exp_diff(q.ln() + ln_upper((o - 1.0) / s), excess + ln_upper(o / s))
                }
                _ => -eps.exp_m1(),
            },
            // L > ε ⇔ o < u: under P the centred normal, under Q the mixture.
            // δ = (1 − e^ε (1 − q)) P(Z ≤ u/σ) − e^ε q P(Z ≤ (u − 1)/σ).
            Pair::Add => match self.point(-eps) {
                None => 0.0,
                // 1 − e^ε (1 − q) > 0 wherever `u` exists, so e^ε (1 − q) < 1.
                Some(u) => exp_diff(
                    if q == 1.0 {
                        0.0
                    } else {
                        (-(1.0 - q) * eps.exp()).ln_1p()
                    } + ln_lower(u / s),
                    eps + q.ln() + ln_lower((u - 1.0) / s),
                ),
            },
        };
        if d.is_nan() { 1.0 } else { d.clamp(0.0, 1.0) }
    }

    /// `P(L ≤ ε)` under `P`.
    fn cdf(&self, eps: f64) -> f64 {
        let (q, s) = (self.q, self.sigma);
        match self.pair {
            Pair::Remove => match self.point(eps) {
                None => 0.0,
                Some(o) => (1.0 - q) * lower(o / s) + q * lower((o - 1.0) / s),
            },
            Pair::Add => match self.point(-eps) {
                None => 1.0,
                Some(u) => ln_upper(u / s).exp(),
            },
        }
    }
}

/// A loss distribution on the grid `iΔ`: `mass[k]` at `(start + k) Δ`, and the mass of an
/// infinite loss.
#[derive(Debug, Clone)]
struct Pld {
    interval: f64,
    start: i64,
    mass: Vec<f64>,
    infinity: f64,
}

/// The first grid index from `from` (by `step`, ±1) where `done` holds, searched by
/// doubling and then bisection (`done` changes once along the way).
fn find(from: i64, step: i64, done: impl Fn(i64) -> bool) -> Result<i64, Error> {
    if done(from) {
        return Ok(from);
    }
    let mut near = 0i64; // offsets: `done(from + step·near)` is false
    let mut far = 1i64;
    while !done(from + step * far) {
        near = far;
        far *= 2;
        if far > 1 << 40 {
            return Err(Error::NoBound(
                "the privacy loss has no end on the grid: the noise is too small".into(),
            ));
        }
    }
    while far - near > 1 {
        let mid = near + (far - near) / 2;
        if done(from + step * mid) {
            far = mid;
        } else {
            near = mid;
        }
    }
    Ok(from + step * far)
}

/// One step's loss, connected from its hockey-stick curve at the grid's points.
fn discretize(step: &Step, interval: f64, tail: f64) -> Result<Pld, Error> {
    let at = |i: i64| i as f64 * interval;
    // The grid's ends: below it at most `tail` of the loss (put on its lowest point), above
    // it a hockey-stick value of at most `tail` (counted as an infinite loss).
    let lo = find(0, -1, |i| step.cdf(at(i)) <= tail)?;
    let hi = find(0, 1, |i| step.delta(at(i)) <= tail)?;
    let n = usize::try_from(hi - lo + 1).unwrap_or(usize::MAX);
    if n > MAX_POINTS {
        return Err(Error::NoBound(format!(
            "one step's privacy loss spans {n} points of {interval}"
        )));
    }
    let d: Vec<f64> = (lo..=hi).map(|i| step.delta(at(i))).collect();
    // The curve is linear in e^ε between grid points, of slope −S_i on [ε_i, ε_{i+1}]
    // (S_i: the mass above ε_i weighted by e^{−loss}; zero past the last point), so the
    // atom at ε_k is e^{ε_k} (S_{k−1} − S_k). On an even grid e^{ε_{i+1}} − e^{ε_i} =
    // e^{ε_i} (e^Δ − 1), and the atom is [e^Δ g_{k−1} − g_k] / (e^Δ − 1) with
    // g_i = δ(ε_i) − δ(ε_{i+1}): no power of e^ε, which past ε = 709 is no number.
    let g: Vec<f64> = d
        .windows(2)
        .map(|w| match w {
            [d0, d1] => (d0 - d1).max(0.0),
            _ => 0.0,
        })
        .collect();
    let grow = interval.exp();
    let step_up = interval.exp_m1();
    let infinity = d.last().copied().unwrap_or(0.0);
    let mut mass = vec![0.0; n];
    for k in 1..n {
        let before = g.get(k - 1).copied().unwrap_or(0.0);
        let here = g.get(k).copied().unwrap_or(0.0); // none past the last point
        if let Some(m) = mass.get_mut(k) {
            *m = ((grow * before - here) / step_up).max(0.0);
        }
    }
    let rest: f64 = mass.iter().skip(1).sum();
    if let Some(first) = mass.first_mut() {
        *first = (1.0 - infinity - rest).max(0.0);
    }
    Ok(Pld {
        interval,
        start: lo,
        mass,
        infinity,
    })
}

/// `ln Σ_k m_k e^{t k}`.
fn log_mgf(mass: &[f64], t: f64) -> f64 {
    let terms = mass
        .iter()
        .enumerate()
        .filter(|(_, m)| **m > 0.0)
        .map(|(k, m)| m.ln() + t * k as f64);
    let top = terms.clone().fold(f64::NEG_INFINITY, f64::max);
    if top == f64::NEG_INFINITY {
        return top;
    }
    top + terms.map(|v| (v - top).exp()).sum::<f64>().ln()
}

/// `c^n` by squaring.
fn power(mut c: Complex<f64>, mut n: u64) -> Complex<f64> {
    let mut out = Complex::new(1.0, 0.0);
    while n > 0 {
        if n & 1 == 1 {
            out *= c;
        }
        c *= c;
        n >>= 1;
    }
    out
}

/// `times` copies of the loss added up: the `times`-th power of its Fourier transform over
/// a window that Chernoff's inequality shows holds all but `tail` of the sum (the rest
/// wraps around inside it, and is added to the infinite loss, so δ only grows).
fn compose(p: &Pld, times: u64, tail: f64) -> Result<Pld, Error> {
    let t = times as f64;
    let n1 = p.mass.len() as i64;
    let times_i = i64::try_from(times)
        .map_err(|_| Error::Invalid(format!("{times} steps are more than can be counted")))?;
    // Offsets from `times · start`, in grid points.
    let mut upper_end = (n1 - 1).saturating_mul(times_i);
    let mut lower_end = 0i64;
    let ln_tail = (tail / 2.0).ln();
    for scale in [
        1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0,
    ] {
        // `scale` per unit of loss, in per grid point.
        let s = scale * p.interval;
        let up = ((t * log_mgf(&p.mass, s) - ln_tail) / s).ceil();
        if up.is_finite() && up < upper_end as f64 {
            upper_end = up.max(0.0) as i64;
        }
        let down = ((t * log_mgf(&p.mass, -s) - ln_tail) / -s).floor();
        if down.is_finite() && down > lower_end as f64 {
            lower_end = down as i64;
        }
    }
    let width = usize::try_from(upper_end - lower_end + 1).unwrap_or(usize::MAX);
    if width > MAX_POINTS {
        return Err(Error::NoBound(format!(
            "{times} steps' privacy loss spans {width} points of {}",
            p.interval
        )));
    }
    let size = width.max(p.mass.len()).next_power_of_two();
    // The step's point k goes to position k (mod size); the sum of `times` steps at
    // offset j then sits at j (mod size), read back into [lower_end, lower_end + size).
    let mut buffer = vec![Complex::new(0.0, 0.0); size];
    for (k, &m) in p.mass.iter().enumerate() {
        if let Some(b) = buffer.get_mut(k % size) {
            b.re += m;
        }
    }
    let mut planner = FftPlanner::<f64>::new();
    planner.plan_fft_forward(size).process(&mut buffer);
    for c in &mut buffer {
        *c = power(*c, times);
    }
    planner.plan_fft_inverse(size).process(&mut buffer);
    let scale = 1.0 / size as f64;
    let size_i = size as i64;
    let mut mass = vec![0.0; size];
    for (j, c) in buffer.iter().enumerate() {
        // The offset in [lower_end, lower_end + size) congruent to j.
        let offset = lower_end + (j as i64 - lower_end).rem_euclid(size_i);
        if let Some(m) = usize::try_from(offset - lower_end)
            .ok()
            .and_then(|k| mass.get_mut(k))
        {
            *m = (c.re * scale).max(0.0);
        }
    }
    // The finite loss's mass is (1 − p∞)^times; what the transform's rounding lost of it
    // (values a hair below zero, clipped) is counted as infinite loss too.
    let finite = (1.0 - p.infinity).powf(t).min(mass.iter().sum());
    Ok(Pld {
        interval: p.interval,
        start: p.start.saturating_mul(times_i).saturating_add(lower_end),
        mass,
        infinity: (1.0 - finite + tail).min(1.0),
    })
}

/// The least ε ≥ 0 with `δ(ε) ≤ delta`; `None` when no finite ε has it (the infinite
/// loss alone is above `delta`).
fn epsilon_for(p: &Pld, delta: f64) -> Option<f64> {
    if p.infinity > delta {
        return None;
    }
    // From the top atom down: above atom j (between it and the next, l_{j+1}),
    // δ(ε) = A − e^{ε − l_{j+1}} B, with A the mass above plus the infinite loss and B the
    // mass above weighted by e^{l_{j+1} − l}.
    let loss = |k: usize| (p.start + k as i64) as f64 * p.interval;
    let mut a = p.infinity;
    let mut b = 0.0;
    let mut next: Option<f64> = None; // l_{j+1}
    for k in (0..p.mass.len()).rev() {
        let m = p.mass.get(k).copied().unwrap_or(0.0);
        if m <= 0.0 {
            continue;
        }
        let l = loss(k);
        if let Some(n) = next {
            // δ just above this atom, at ε = l.
            let at_l = a - (l - n).exp() * b;
            if at_l > delta {
                // ε lies in (l, n]: A − e^{ε − n} B = delta.
                let eps = n + ((a - delta) / b).ln();
                return Some(eps.max(0.0));
            }
            b = m + (l - n).exp() * b;
        } else {
            b = m;
        }
        a += m;
        next = Some(l);
    }
    // δ(ε) ≤ delta down to the lowest atom: below it δ(ε) = A − e^{ε − l₀} B.
    let n = next?;
    let eps = if a > delta {
        n + ((a - delta) / b).ln()
    } else {
        f64::NEG_INFINITY
    };
    Some(eps.max(0.0))
}

/// A run's ε at `delta` by its privacy loss distribution, and the grid's interval used
/// (`interval`, doubled while the composition would not fit).
pub fn epsilon(mechanism: &Mechanism, delta: f64, interval: f64) -> Result<(f64, f64), Error> {
    mechanism.check()?;
    super::check_delta(delta)?;
    if !(interval > 0.0 && interval.is_finite()) {
        return Err(Error::Invalid(format!(
            "the PLD grid's interval is {interval}: it must be a positive number"
        )));
    }
    let mut interval = interval;
    loop {
        match epsilon_at(mechanism, delta, interval) {
            Err(Error::NoBound(why)) if why.contains(" spans ") && interval < 1.0 => {
                interval *= 2.0;
            }
            other => return other.map(|e| (e, interval)),
        }
    }
}

/// The smallest noise multiplier (to a relative 1e−4, rounded up) at which a run of
/// `steps` steps at `sampling_rate` spends at most `target` ε at `delta` by its PLD;
/// `start`: where to begin looking (RDP's answer, which PLD's is below).
pub fn noise_for(
    sampling_rate: f64,
    steps: u64,
    target: f64,
    delta: f64,
    interval: f64,
    start: f64,
) -> Result<f64, Error> {
    super::least_noise(sampling_rate, steps, target, delta, start, 1e-4, |m| {
        epsilon(m, delta, interval).map(|(e, _)| e)
    })
}

fn epsilon_at(mechanism: &Mechanism, delta: f64, interval: f64) -> Result<f64, Error> {
    let mut worst: f64 = 0.0;
    for pair in [Pair::Remove, Pair::Add] {
        let step = Step {
            q: mechanism.sampling_rate,
            sigma: mechanism.noise_multiplier,
            pair,
        };
        let one = discretize(&step, interval, TAIL / mechanism.steps as f64)?;
        let all = compose(&one, mechanism.steps, TAIL)?;
        let eps = epsilon_for(&all, delta).ok_or_else(|| {
            Error::NoBound(format!(
                "no finite ε at δ = {delta:e}: the loss the accountant counts as unbounded (the \
                 grid's ends and its tail bound, {:.1e}) is more; ask a larger δ",
                all.infinity
            ))
        })?;
        worst = worst.max(eps);
    }
    Ok(worst)
}

#[cfg(test)]
mod tests;
