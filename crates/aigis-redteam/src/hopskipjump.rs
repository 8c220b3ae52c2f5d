//! HopSkipJump (Chen, Jordan and Wainwright, 2020): a decision-based attack that needs
//! only the model's top class, as IBM ART implements it (the authors' own choices where
//! they differ from the paper: the first iteration's δ, the sign-balanced gradient
//! estimate), so its figures compare with ART's.
//!
//! Per row: a random point in the valid range that the model classes differently, moved
//! by binary search toward the row until it sits on the boundary; then `iterations`
//! times: estimate the boundary's normal from `init_eval·√(t+1)` (at most `max_eval`)
//! random probes around the current point, step along it by a geometrically shrinking
//! size until the model still classes the point differently, and binary-search back to
//! the boundary. The adversarial row is the last point; its distance to the row is what
//! the attack measures. Every probe is one model query, counted per row; a row stops when
//! its query budget would be exceeded.

use rayon::prelude::*;

use crate::Error;
use crate::evasion::{Judge, Norm, gaussian};

/// HopSkipJump's settings (ART's defaults where ART has one).
#[derive(Debug, Clone)]
pub struct Settings {
    /// The norm minimized: L2 (ART's default) or L∞.
    pub norm: Norm,
    /// Iterations (ART's `max_iter`, default 50).
    pub iterations: usize,
    /// The most probes of one gradient estimate (`max_eval`, 10,000).
    pub max_eval: usize,
    /// The probes of the first estimate (`init_eval`, 100).
    pub init_eval: usize,
    /// Random draws tried for a starting point (`init_size`, 100).
    pub init_size: usize,
    /// The valid range of every feature.
    pub clip: (f64, f64),
    /// Where the starting points are drawn, per feature, when not in `clip` (the rows'
    /// per-feature ranges when no valid range was given: a draw of every feature over the
    /// range of all of them is far from any row, and the tree ensemble of the tests keeps
    /// some rows' class over all of them). The search itself stays within `clip`.
    pub bounds: Option<Vec<(f64, f64)>>,
    /// Model queries allowed per row (`None`: no limit).
    pub max_queries: Option<usize>,
    /// The seed of the draws.
    pub seed: u64,
}

impl Settings {
    /// ART's defaults, L2, within `clip`.
    pub fn new(clip: (f64, f64)) -> Self {
        Self {
            norm: Norm::L2,
            iterations: 50,
            max_eval: 10_000,
            init_eval: 100,
            init_size: 100,
            clip,
            bounds: None,
            max_queries: None,
            seed: 0,
        }
    }
}

/// One row's result.
#[derive(Debug, Clone)]
pub struct Row {
    /// The adversarial row, or `None` when no starting point was found.
    pub adversarial: Option<Vec<f64>>,
    /// Model queries spent.
    pub queries: usize,
}

/// The model asked about one row's points, queries counted.
struct Oracle<'a> {
    judge: &'a Judge<'a>,
    features: usize,
    /// The class to leave.
    class: usize,
    queries: usize,
    budget: usize,
}

/// The budget ran out.
struct Spent;

impl Oracle<'_> {
    /// Whether each point (row-major) is adversarial (another class than `class`).
    fn adversarial(&mut self, points: &[f64]) -> Result<Result<Vec<bool>, Spent>, Error> {
        let n = points.len() / self.features.max(1);
        if self.queries + n > self.budget {
            return Ok(Err(Spent));
        }
        self.queries += n;
        let classes = (self.judge)(points, n).map_err(Error::Model)?;
        Ok(Ok(classes.iter().map(|&c| c != self.class).collect()))
    }

    fn one(&mut self, point: &[f64]) -> Result<Result<bool, Spent>, Error> {
        Ok(self
            .adversarial(point)?
            .map(|v| v.first().copied().unwrap_or(false)))
    }
}

/// The `norm` of `a − b`.
pub fn distance(norm: Norm, a: &[f64], b: &[f64]) -> f64 {
    norm.of(a.iter().zip(b).map(|(p, q)| p - q))
}

/// ART's `_interpolate`: L2 along the segment, L∞ a box of half-width `alpha`.
fn interpolate(norm: Norm, current: &[f64], original: &[f64], alpha: f64) -> Vec<f64> {
    match norm {
        Norm::L2 => current
            .iter()
            .zip(original)
            .map(|(c, o)| (1.0 - alpha) * o + alpha * c)
            .collect(),
        Norm::Inf => current
            .iter()
            .zip(original)
            .map(|(c, o)| c.clamp(o - alpha, o + alpha))
            .collect(),
    }
}

/// ART's `_binary_search`: the boundary between `original` (not adversarial) and
/// `current` (adversarial), to `threshold`.
fn binary_search(
    oracle: &mut Oracle<'_>,
    norm: Norm,
    current: &[f64],
    original: &[f64],
    theta: f64,
    threshold: Option<f64>,
) -> Result<Result<Vec<f64>, Spent>, Error> {
    let (mut upper, mut lower, threshold) = match norm {
        Norm::L2 => (1.0, 0.0, threshold.unwrap_or(theta)),
        Norm::Inf => {
            let u = distance(Norm::Inf, current, original);
            (u, 0.0, threshold.unwrap_or((u * theta).min(theta)))
        }
    };
    while upper - lower > threshold {
        let alpha = (upper + lower) / 2.0;
        let point = interpolate(norm, current, original, alpha);
        match oracle.one(&point)? {
            Ok(true) => upper = alpha,
            Ok(false) => lower = alpha,
            Err(Spent) => return Ok(Err(Spent)),
        }
    }
    Ok(Ok(interpolate(norm, current, original, upper)))
}

/// One row's attack.
fn attack_row(
    judge: &Judge<'_>,
    x: &[f64],
    class: usize,
    s: &Settings,
    seed: u64,
) -> Result<Row, Error> {
    let d = x.len();
    let bounds: Vec<(f64, f64)> = match &s.bounds {
        Some(b) => b.clone(),
        None => vec![s.clip; d],
    };
    let (lo, hi) = s.clip;
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut oracle = Oracle {
        judge,
        features: d,
        class,
        queries: 0,
        budget: s.max_queries.unwrap_or(usize::MAX),
    };
    let dims = d as f64;
    let theta = match s.norm {
        Norm::L2 => 0.01 / dims.sqrt(),
        Norm::Inf => 0.01 / dims,
    };
    // A starting point: a uniform draw the model classes differently, then the
    // boundary between it and the row (L2, threshold 0.001, as ART).
    let mut current = None;
    for _ in 0..s.init_size {
        let draw: Vec<f64> = bounds
            .iter()
            .map(|&(lo, hi)| lo + (hi - lo) * rng.f64())
            .collect();
        match oracle.one(&draw)? {
            Ok(true) => {
                current = match binary_search(&mut oracle, Norm::L2, &draw, x, theta, Some(0.001))?
                {
                    Ok(p) => Some(p),
                    Err(Spent) => Some(draw),
                };
                break;
            }
            Ok(false) => {}
            Err(Spent) => break,
        }
    }
    let Some(mut current) = current else {
        return Ok(Row {
            adversarial: None,
            queries: oracle.queries,
        });
    };
    for t in 0..s.iterations {
        // δ: a tenth of the range first, then proportional to the distance.
        let dist = distance(s.norm, x, &current);
        let delta = if t == 0 {
            0.1 * (hi - lo)
        } else {
            match s.norm {
                Norm::L2 => dims.sqrt() * theta * dist,
                Norm::Inf => dims * theta * dist,
            }
        };
        current = match binary_search(&mut oracle, s.norm, &current, x, theta, None)? {
            Ok(p) => p,
            Err(Spent) => break,
        };
        // The gradient estimate from signed random probes around the boundary point.
        let probes = ((s.init_eval as f64 * ((t + 1) as f64).sqrt()) as usize)
            .min(s.max_eval)
            .max(1);
        let mut noise: Vec<f64> = Vec::with_capacity(probes * d);
        for _ in 0..probes {
            let start = noise.len();
            for _ in 0..d {
                noise.push(match s.norm {
                    Norm::L2 => gaussian(&mut rng),
                    Norm::Inf => 2.0 * rng.f64() - 1.0,
                });
            }
            let len = Norm::L2
                .of(noise.get(start..).unwrap_or_default().iter().copied())
                .max(f64::MIN_POSITIVE);
            noise
                .get_mut(start..)
                .unwrap_or_default()
                .iter_mut()
                .for_each(|v| *v /= len);
        }
        let mut points = Vec::with_capacity(probes * d);
        for p in noise.chunks(d) {
            points.extend(
                current
                    .iter()
                    .zip(p)
                    .map(|(c, u)| (c + delta * u).clamp(lo, hi)),
            );
        }
        // The noise actually applied, after clipping.
        for (u, (p, c)) in noise
            .iter_mut()
            .zip(points.iter().zip(current.iter().cycle()))
        {
            *u = (p - c) / delta;
        }
        let signs = match oracle.adversarial(&points)? {
            Ok(v) => v,
            Err(Spent) => break,
        };
        let f: Vec<f64> = signs.iter().map(|&b| if b { 1.0 } else { -1.0 }).collect();
        let mean = f.iter().sum::<f64>() / f.len() as f64;
        let mut grad = vec![0.0; d];
        for (u, &fv) in noise.chunks(d).zip(&f) {
            let w = if mean == 1.0 {
                1.0
            } else if mean == -1.0 {
                -1.0
            } else {
                fv - mean
            };
            for (g, v) in grad.iter_mut().zip(u) {
                *g += w * v / probes as f64;
            }
        }
        let update: Vec<f64> = match s.norm {
            Norm::L2 => {
                let len = Norm::L2.of(grad.iter().copied());
                if len == 0.0 {
                    break;
                }
                grad.iter().map(|g| g / len).collect()
            }
            Norm::Inf => grad
                .iter()
                .map(|g| g.signum() * f64::from(u8::from(*g != 0.0)))
                .collect(),
        };
        // The step: from twice the distance over √(t+1), halved until still adversarial.
        let dist = distance(s.norm, x, &current);
        let mut epsilon = 2.0 * dist / ((t + 1) as f64).sqrt();
        let mut stepped = None;
        for _ in 0..64 {
            epsilon /= 2.0;
            let point: Vec<f64> = current
                .iter()
                .zip(&update)
                .map(|(c, u)| (c + epsilon * u).clamp(lo, hi))
                .collect();
            match oracle.one(&point)? {
                Ok(true) => {
                    stepped = Some(point);
                    break;
                }
                Ok(false) => {}
                Err(Spent) => break,
            }
        }
        match stepped {
            Some(p) => current = p,
            None => break,
        }
    }
    // The last point, brought back to the boundary if the budget allows (a model that
    // fails here fails the attack, as anywhere else).
    if let Ok(p) = binary_search(&mut oracle, s.norm, &current, x, theta, None)? {
        current = p;
    }
    Ok(Row {
        adversarial: Some(current),
        queries: oracle.queries,
    })
}

/// Attacks `rows` rows of `features` numbers whose classes (to leave) are `classes`; a
/// row already classed otherwise is returned as it is, with no query.
pub fn attack(
    judge: &Judge<'_>,
    x: &[f64],
    rows: usize,
    features: usize,
    classes: &[usize],
    settings: &Settings,
) -> Result<Vec<Row>, Error> {
    let (lo, hi) = settings.clip;
    if !(lo.is_finite() && hi.is_finite() && lo < hi) {
        return Err(Error::Options(format!(
            "HopSkipJump needs a valid range; {lo}..{hi} is not one"
        )));
    }
    if let Some(b) = &settings.bounds {
        if b.len() != features {
            return Err(Error::Options(format!(
                "{} ranges for {features} features",
                b.len()
            )));
        }
        if let Some((j, (lo, hi))) = b
            .iter()
            .enumerate()
            .find(|(_, (lo, hi))| !(lo.is_finite() && hi.is_finite() && lo <= hi))
        {
            return Err(Error::Options(format!(
                "feature {j}'s range {lo}..{hi} is not one"
            )));
        }
    }
    if settings.iterations == 0 || settings.init_eval == 0 || settings.max_eval == 0 {
        return Err(Error::Options(
            "HopSkipJump needs at least one iteration and one probe".into(),
        ));
    }
    if x.len() != rows * features || classes.len() != rows {
        return Err(Error::Options(format!(
            "{} numbers and {} classes for {rows} rows of {features}",
            x.len(),
            classes.len()
        )));
    }
    x.par_chunks(features.max(1))
        .zip(classes.par_iter())
        .enumerate()
        .map(|(r, (row, &class))| {
            attack_row(
                judge,
                row,
                class,
                settings,
                settings
                    .seed
                    .wrapping_add(r as u64)
                    .wrapping_mul(0x9E37_79B9_7F4A_7C15),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A linear classifier with a known boundary: class 1 when `w·x > b`.
    fn linear(w: Vec<f64>, b: f64) -> impl Fn(&[f64], usize) -> Result<Vec<usize>, String> + Sync {
        move |x: &[f64], n: usize| {
            let d = w.len();
            Ok((0..n)
                .map(|i| {
                    let s: f64 = x[i * d..(i + 1) * d]
                        .iter()
                        .zip(&w)
                        .map(|(a, b)| a * b)
                        .sum();
                    usize::from(s > b)
                })
                .collect())
        }
    }

    #[test]
    fn it_finds_a_linear_boundarys_nearest_point() {
        // The boundary x0 + x1 = 1; the row (0.2, 0.3) is 0.5/√2 ≈ 0.354 from it in L2.
        let f = linear(vec![1.0, 1.0], 1.0);
        let judge: &Judge<'_> = &f;
        let x = [0.2, 0.3, 0.1, 0.1];
        let s = Settings {
            iterations: 30,
            ..Settings::new((0.0, 1.0))
        };
        let out = attack(judge, &x, 2, 2, &[0, 0], &s).unwrap();
        for (r, row) in out.iter().enumerate() {
            let adv = row.adversarial.as_ref().unwrap();
            let class = judge(adv, 1).unwrap()[0];
            assert_eq!(class, 1, "row {r} crossed");
            let clean = &x[r * 2..r * 2 + 2];
            let want = (1.0 - clean[0] - clean[1]) / 2f64.sqrt();
            let got = distance(Norm::L2, adv, clean);
            assert!(
                got >= want - 1e-9 && got < want * 1.01,
                "row {r}: {got} against {want}"
            );
            assert!(row.queries > 0);
        }
    }

    #[test]
    fn a_query_budget_is_honoured_and_no_start_is_a_failure() {
        let f = linear(vec![1.0, 1.0], 1.0);
        let judge: &Judge<'_> = &f;
        let s = Settings {
            max_queries: Some(150),
            ..Settings::new((0.0, 1.0))
        };
        let out = attack(judge, &[0.2, 0.3], 1, 2, &[0], &s).unwrap();
        assert!(out[0].queries <= 150, "{}", out[0].queries);
        assert!(out[0].adversarial.is_some());
        // A model that answers one class everywhere: no starting point.
        let constant = |_: &[f64], n: usize| Ok(vec![0; n]);
        let judge: &Judge<'_> = &constant;
        let out = attack(judge, &[0.2, 0.3], 1, 2, &[0], &Settings::new((0.0, 1.0))).unwrap();
        assert!(out[0].adversarial.is_none());
        assert_eq!(out[0].queries, 100);
        assert!(attack(judge, &[0.2, 0.3], 1, 2, &[0], &Settings::new((1.0, 0.0))).is_err());
    }
}
