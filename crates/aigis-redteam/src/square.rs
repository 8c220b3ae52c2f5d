//! The Square attack (Andriushchenko, Croce, Flammarion and Hein, 2020), L∞ and L2: a
//! score-based black-box attack that needs the model's class scores only, no gradient.
//! L∞ runs as IBM ART runs it (its margin loss, its schedule of window sizes, its
//! vertical-stripe start), so its figures compare with ART's; L2 as the paper describes
//! it (see [`l2_candidate`]), on the same schedule.
//!
//! L∞, per row, within ε of the row (and the valid range): start from vertical stripes
//! of ±ε (one sign per channel and column), kept when they lower the margin; then each
//! iteration sets a random square window of the image, one random sign per channel, to
//! the row ± ε, and keeps the change when it lowers the margin. L2 keeps the change at
//! length ε and moves it between windows instead. The margin is the score
//! of the row's class less the highest other (targeted: the highest other less the
//! target's); the row is fooled when it is below zero. The window covers a share `p` of
//! the image that halves on ART's schedule (`p_init` at the start, `p_init / 512` near
//! the end). Every candidate is one model query, counted per row; the rows still being
//! attacked are asked about in one call per iteration, so a model behind a server is
//! asked once per iteration, not once per row.
//!
//! Where ART differs: it draws one window for the whole batch per iteration (here each
//! row draws its own, from its own seeded generator, so a row's attack does not depend
//! on the others), and it asks the model three times per row and iteration (once here).
//! Its L2 form divides the new window by the length it is meant to be given rather than
//! scaling it to that length, so after the change is rescaled to ε the new window
//! crowds out the rest; and its L2 start on an image under 10 pixels high is a window of
//! 0/0 (not a number), which it never keeps. Here the L2 form follows the paper.
//! Inputs that are not images (a row of features) are a one-pixel-high image whose
//! windows are runs of neighbouring features.

use crate::Error;
use crate::evasion::Norm;

/// The model's class scores for rows: `rows × k` (row-major) and `k`.
pub type Scores<'a> = dyn Fn(&[f64], usize) -> Result<(Vec<f64>, usize), String> + Sync + 'a;

/// How a row's numbers lie as an image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    pub channels: usize,
    pub height: usize,
    pub width: usize,
    /// `[H, W, C]` order (channels last); `[C, H, W]` otherwise.
    pub channels_last: bool,
}

impl Shape {
    /// The shape of a model input whose dimensions after the batch are `inner` (when it
    /// fixes them) and that takes `features` numbers per row:
    /// - `[C, H, W]`, or `[H, W, C]` when the first is not a channel count (1, 3 or 4)
    ///   and the last is;
    /// - `[H, W]`: one channel;
    /// - a row of `n` numbers: an `√n × √n` image when `n` is a square above 1 (the
    ///   flattened 8×8 digits), else one pixel high.
    pub fn of(inner: Option<&[usize]>, features: usize) -> Self {
        let flat = |n: usize| {
            let side = (n as f64).sqrt().round() as usize;
            let (height, width) = if side > 1 && side * side == n {
                (side, side)
            } else {
                (1, n)
            };
            Self {
                channels: 1,
                height,
                width,
                channels_last: false,
            }
        };
        let channel = |c: usize| matches!(c, 1 | 3 | 4);
        match inner {
            Some(&[a, b, c]) if a * b * c == features => {
                if !channel(a) && channel(c) {
                    Self {
                        channels: c,
                        height: a,
                        width: b,
                        channels_last: true,
                    }
                } else {
                    Self {
                        channels: a,
                        height: b,
                        width: c,
                        channels_last: false,
                    }
                }
            }
            Some(&[h, w]) if h * w == features => Self {
                channels: 1,
                height: h,
                width: w,
                channels_last: false,
            },
            _ => flat(features),
        }
    }

    fn size(&self) -> usize {
        self.channels * self.height * self.width
    }

    /// The index of channel `c`, pixel `(h, w)` in a row.
    fn at(&self, c: usize, h: usize, w: usize) -> usize {
        if self.channels_last {
            (h * self.width + w) * self.channels + c
        } else {
            (c * self.height + h) * self.width + w
        }
    }

    /// The window's height and width for a share `p` of the image: ART's square of side
    /// `round(√(p·H·W))` (at least 1, at most the image), or on a one-pixel-high image a
    /// run of `round(p·W)` features.
    fn window(&self, p: f64) -> (usize, usize) {
        if self.height == 1 {
            let w = ((p * self.width as f64).round() as usize).clamp(1, self.width);
            return (1, w);
        }
        let side = ((p * (self.height * self.width) as f64).sqrt().round() as usize)
            .clamp(1, self.height.min(self.width));
        (side, side)
    }
}

/// The Square attack's settings (ART's defaults where ART has one).
#[derive(Debug, Clone)]
pub struct Settings {
    /// The size of the change: the largest change of any feature (L∞) or its Euclidean
    /// length (L2), as `norm` says.
    pub eps: f64,
    /// L∞ (ART's and the paper's default) or L2.
    pub norm: Norm,
    /// Iterations per run (ART's `max_iter`).
    pub iterations: usize,
    /// The share of the image the first windows cover (`p_init`, 0.8).
    pub p_init: f64,
    /// Runs; each starts again from the clean row for the rows not yet fooled
    /// (`nb_restarts`, 1).
    pub runs: usize,
    /// The valid range of every feature.
    pub clip: Option<(f64, f64)>,
    /// Push every row to this class instead of away from its own.
    pub target: Option<usize>,
    /// Model queries allowed per row (`None`: no limit).
    pub max_queries: Option<usize>,
    /// How a row's numbers lie as an image.
    pub shape: Shape,
    /// The seed of the draws.
    pub seed: u64,
}

impl Settings {
    /// ART's defaults at `eps` for rows shaped `shape`.
    pub fn new(eps: f64, shape: Shape) -> Self {
        Self {
            eps,
            norm: Norm::Inf,
            iterations: 100,
            p_init: 0.8,
            runs: 1,
            clip: None,
            target: None,
            max_queries: None,
            shape,
            seed: 0,
        }
    }
}

/// One row's result.
#[derive(Debug, Clone)]
pub struct Row {
    /// The best point found (the row itself when nothing lowered its margin).
    pub adversarial: Vec<f64>,
    /// Whether its margin went below zero.
    pub fooled: bool,
    /// Model queries spent on it (its clean scores included).
    pub queries: usize,
}

/// ART's `_get_percentage_of_elements`: `p_init` halved at 0.1 %, 0.5 %, 2 %, 5 %, 10 %,
/// 20 %, 40 %, 60 % and 80 % of the iterations.
fn share(p_init: f64, iteration: usize, iterations: usize) -> f64 {
    const AT: [f64; 9] = [0.001, 0.005, 0.02, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8];
    let done = iteration as f64 / iterations.max(1) as f64;
    // `bisect_left`: the intervals strictly below `done`.
    let halvings = AT.iter().filter(|&&a| a < done).count();
    p_init / f64::from(1u32 << halvings)
}

/// Whether a row of margin `m` is still to be fooled (a NaN margin, from a model that
/// answered NaN, is not fooled).
fn standing(m: f64) -> bool {
    m.is_nan() || m >= 0.0
}

/// The margin of each row's scores: its class's score less the highest other's, or
/// targeted the highest other's less the target's. Below zero: fooled.
fn margins(scores: &[f64], k: usize, classes: &[usize], target: Option<usize>) -> Vec<f64> {
    scores
        .chunks(k.max(1))
        .zip(classes)
        .map(|(row, &class)| {
            let pick = target.unwrap_or(class);
            let own = row.get(pick).copied().unwrap_or(f64::NAN);
            let other = row
                .iter()
                .enumerate()
                .filter(|&(j, _)| j != pick)
                .map(|(_, &v)| v)
                .fold(f64::NEG_INFINITY, f64::max);
            if target.is_some() {
                other - own
            } else {
                own - other
            }
        })
        .collect()
}

/// The L∞ candidate for a row at `iteration` from its current point `from`: at the
/// start, vertical stripes of ±ε over the clean row (one sign per channel and column);
/// then `from` with a random square window set to the clean row ± ε, one sign per
/// channel. Within the valid range `(lo, hi)`.
fn linf_candidate(
    s: &Settings,
    clean: &[f64],
    from: &[f64],
    iteration: usize,
    rng: &mut fastrand::Rng,
    (lo, hi): (f64, f64),
) -> Vec<f64> {
    let shape = s.shape;
    let mut point = if iteration == 0 { clean } else { from }.to_vec();
    // Sets the window of `wh × ww` at `(h0, w0)` of each channel to the clean row ± ε.
    let mut paint = |(h0, w0, wh, ww): (usize, usize, usize, usize), signs: &[f64]| {
        for (c, &sign) in signs.iter().enumerate() {
            for h in h0..h0 + wh {
                for w in w0..w0 + ww {
                    let i = shape.at(c, h, w);
                    if let (Some(v), Some(&o)) = (point.get_mut(i), clean.get(i)) {
                        *v = (o + sign).clamp(lo, hi);
                    }
                }
            }
        }
    };
    let signs = |rng: &mut fastrand::Rng| -> Vec<f64> {
        (0..shape.channels)
            .map(|_| if rng.bool() { s.eps } else { -s.eps })
            .collect()
    };
    if iteration == 0 {
        for w in 0..shape.width {
            let signs = signs(rng);
            paint((0, w, shape.height, 1), &signs);
        }
    } else {
        let (wh, ww) = shape.window(share(s.p_init, iteration - 1, s.iterations));
        let h0 = rng.usize(0..=shape.height - wh);
        let w0 = rng.usize(0..=shape.width - ww);
        let signs = signs(rng);
        paint((h0, w0, wh, ww), &signs);
    }
    point
}

/// One lobe of the L2 attack's window: `a × b` numbers (row-major) that are largest at
/// the centre and fall off in nested rectangles, each ring adding `1 / (k + 1)²`, of unit
/// Euclidean length (the paper's "pseudo-Gaussian" shape).
fn lobe(a: usize, b: usize) -> Vec<f64> {
    let mut v = vec![0.0; a * b];
    let (ca, cb) = (a / 2, b / 2);
    for k in 0..=ca.max(cb) {
        let weight = 1.0 / ((k + 1) * (k + 1)) as f64;
        let rows = ca.saturating_sub(k)..(ca + k + 1).min(a);
        let cols = cb.saturating_sub(k)..(cb + k + 1).min(b);
        for i in rows {
            for j in cols.clone() {
                if let Some(x) = v.get_mut(i * b + j) {
                    *x += weight;
                }
            }
        }
    }
    unit(&mut v);
    v
}

/// Scales `v` to unit Euclidean length (left as it is when it is all zero).
fn unit(v: &mut [f64]) {
    let n = v.iter().map(|x| x * x).sum::<f64>().sqrt();
    if n > 0.0 {
        v.iter_mut().for_each(|x| *x /= n);
    }
}

/// The L2 attack's window of `wh × ww` (row-major, unit length): a positive lobe over the
/// first half of its rows and a negative one over the rest, turned a quarter (the lobes
/// side by side) on a coin's throw; on a one-row window the lobes lie along the row, in
/// either order.
fn l2_window(wh: usize, ww: usize, rng: &mut fastrand::Rng) -> Vec<f64> {
    let mut v = Vec::with_capacity(wh * ww);
    if wh == 1 {
        let first = ww / 2;
        v.extend(lobe(1, first));
        v.extend(lobe(1, ww - first).into_iter().map(|x| -x));
        if rng.bool() {
            v.reverse();
        }
    } else {
        let first = wh / 2;
        v.extend(lobe(first, ww));
        v.extend(lobe(wh - first, ww).into_iter().map(|x| -x));
        if wh == ww && rng.bool() {
            let t: Vec<f64> = (0..wh * ww)
                .map(|i| v.get((i % ww) * ww + i / ww).copied().unwrap_or(0.0))
                .collect();
            v = t;
        }
    }
    unit(&mut v);
    v
}

/// The L2 candidate for a row at `iteration` from its current point `from` (the paper's
/// L2 attack):
/// - at the start, the clean row plus a grid of 5 × 5 windows (a fifth of the image's
///   side each, centred; runs of a fifth of a one-row input), each the two-lobed shape
///   with a random sign per channel, scaled to length ε;
/// - then a window of the image's share `p` (at least 3 wide and odd) gets a fresh
///   two-lobed shape of random sign per channel plus its own current change (to unit
///   length), a second window of the same size is cleared, and the first is given the
///   length both held plus what the whole change still lacks of ε; the change is then
///   scaled to length ε.
///
/// Within the valid range `(lo, hi)`, which can only shorten the change.
fn l2_candidate(
    s: &Settings,
    clean: &[f64],
    from: &[f64],
    iteration: usize,
    rng: &mut fastrand::Rng,
    (lo, hi): (f64, f64),
) -> Vec<f64> {
    let shape = s.shape;
    let channels = shape.channels;
    let mut delta: Vec<f64> = from.iter().zip(clean).map(|(a, b)| a - b).collect();
    // The indices of a window's numbers in one channel, row-major.
    let cells = |c: usize, (h0, w0, wh, ww): (usize, usize, usize, usize)| {
        (h0..h0 + wh).flat_map(move |h| (w0..w0 + ww).map(move |w| shape.at(c, h, w)))
    };
    if iteration == 0 {
        delta.iter_mut().for_each(|d| *d = 0.0);
        // Tiles of a fifth of the side, from a fifth's remainder halved, as many as the
        // side holds whole.
        let (th, tw) = if shape.height == 1 {
            (1, (shape.width / 5).max(1))
        } else {
            let t = (shape.height / 5).max(1).min(shape.width);
            (t, t)
        };
        let oh = shape.height.saturating_sub(5 * th) / 2;
        let ow = shape.width.saturating_sub(5 * tw) / 2;
        let nh = (shape.height - oh) / th;
        let nw = (shape.width - ow) / tw;
        for i in 0..nh {
            for j in 0..nw {
                let tile = l2_window(th, tw, rng);
                for c in 0..channels {
                    let sign = if rng.bool() { 1.0 } else { -1.0 };
                    for (idx, t) in cells(c, (oh + i * th, ow + j * tw, th, tw)).zip(&tile) {
                        if let Some(d) = delta.get_mut(idx) {
                            *d += sign * t;
                        }
                    }
                }
            }
        }
    } else {
        let p = share(s.p_init, iteration - 1, s.iterations);
        let (wh, ww) = if shape.height == 1 {
            let w = ((p * shape.width as f64).round() as usize).max(3) | 1;
            (1, w.min(shape.width))
        } else {
            let side =
                ((p * (shape.height * shape.width) as f64).sqrt().round() as usize).max(3) | 1;
            let side = side.min(shape.height.min(shape.width));
            (side, side)
        };
        let place = |rng: &mut fastrand::Rng| {
            (
                rng.usize(0..=shape.height - wh),
                rng.usize(0..=shape.width - ww),
            )
        };
        let (h1, w1) = place(rng);
        let (h2, w2) = place(rng);
        let first = (h1, w1, wh, ww);
        let second = (h2, w2, wh, ww);
        let norm2 = |d: &[f64], idx: &mut dyn Iterator<Item = usize>| {
            idx.map(|i| d.get(i).map_or(0.0, |v| v * v)).sum::<f64>()
        };
        let whole = delta.iter().map(|v| v * v).sum::<f64>();
        let lacking = (s.eps * s.eps - whole).max(0.0) / channels as f64;
        let shape_new = l2_window(wh, ww, rng);
        for c in 0..channels {
            let in_first = norm2(&delta, &mut cells(c, first)).sqrt();
            // Both windows' numbers, each counted once.
            let mut both: Vec<usize> = cells(c, first).chain(cells(c, second)).collect();
            both.sort_unstable();
            both.dedup();
            let held = norm2(&delta, &mut both.iter().copied());
            let sign = if rng.bool() { 1.0 } else { -1.0 };
            let mut new: Vec<f64> = cells(c, first)
                .zip(&shape_new)
                .map(|(i, t)| sign * t + delta.get(i).copied().unwrap_or(0.0) / (in_first + 1e-10))
                .collect();
            unit(&mut new);
            let length = (lacking + held).sqrt();
            for i in cells(c, second) {
                if let Some(d) = delta.get_mut(i) {
                    *d = 0.0;
                }
            }
            for (i, v) in cells(c, first).zip(new) {
                if let Some(d) = delta.get_mut(i) {
                    *d = v * length;
                }
            }
        }
    }
    let length = delta.iter().map(|v| v * v).sum::<f64>().sqrt();
    if length.is_nan() || length <= 0.0 {
        return from.to_vec();
    }
    clean
        .iter()
        .zip(&delta)
        .map(|(o, d)| (o + d / length * s.eps).clamp(lo, hi))
        .collect()
}

/// Attacks `rows` rows of `features` numbers whose classes are `classes`. A row already
/// fooled when clean (or, targeted, of the target class) is returned as it is.
pub fn attack(
    scores: &Scores<'_>,
    x: &[f64],
    rows: usize,
    features: usize,
    classes: &[usize],
    s: &Settings,
) -> Result<Vec<Row>, Error> {
    if !(s.eps.is_finite() && s.eps > 0.0) {
        return Err(Error::Options(format!(
            "the Square attack needs a positive eps, not {}",
            s.eps
        )));
    }
    if s.iterations == 0 || s.runs == 0 {
        return Err(Error::Options(
            "the Square attack needs at least one run of one iteration".into(),
        ));
    }
    if !(s.p_init > 0.0 && s.p_init <= 1.0) {
        return Err(Error::Options(format!(
            "the Square attack's first share of the image is in (0, 1], not {}",
            s.p_init
        )));
    }
    if s.shape.size() != features || features == 0 {
        return Err(Error::Options(format!(
            "an image of {}×{}×{} is not a row of {features} numbers",
            s.shape.channels, s.shape.height, s.shape.width
        )));
    }
    if x.len() != rows * features || classes.len() != rows {
        return Err(Error::Options(format!(
            "{} numbers and {} classes for {rows} rows of {features}",
            x.len(),
            classes.len()
        )));
    }
    let (lo, hi) = s.clip.unwrap_or((f64::NEG_INFINITY, f64::INFINITY));
    let budget = s.max_queries.unwrap_or(usize::MAX);
    let clean = |r: usize| x.get(r * features..(r + 1) * features).unwrap_or_default();

    // The model's scores for `points` of the rows `who`, as margins.
    let ask = |points: &[f64], who: &[usize]| -> Result<Vec<f64>, Error> {
        let (out, k) = scores(points, who.len()).map_err(Error::Model)?;
        if out.len() != who.len() * k || k < 2 {
            return Err(Error::Model(format!(
                "{} scores for {} rows: class scores are needed",
                out.len(),
                who.len()
            )));
        }
        let classes: Vec<usize> = who
            .iter()
            .map(|&r| classes.get(r).copied().unwrap_or(0))
            .collect();
        Ok(margins(&out, k, &classes, s.target))
    };

    let mut current: Vec<Vec<f64>> = (0..rows).map(|r| clean(r).to_vec()).collect();
    let mut queries = vec![1usize; rows];
    let all: Vec<usize> = (0..rows).collect();
    let clean_margin = ask(x, &all)?;
    let mut margin = clean_margin.clone();
    let mut rngs: Vec<fastrand::Rng> = (0..rows)
        .map(|r| {
            fastrand::Rng::with_seed(
                s.seed
                    .wrapping_add(r as u64)
                    .wrapping_mul(0x9E37_79B9_7F4A_7C15),
            )
        })
        .collect();
    for run in 0..s.runs {
        let mut active: Vec<usize> = (0..rows)
            .filter(|&r| margin.get(r).copied().is_some_and(standing))
            .collect();
        if run > 0 {
            // ART starts each run again from the clean rows.
            for &r in &active {
                if let (Some(c), Some(m)) = (current.get_mut(r), margin.get_mut(r)) {
                    c.copy_from_slice(clean(r));
                    *m = clean_margin.get(r).copied().unwrap_or(f64::NAN);
                }
            }
        }
        // Iteration 0 is the start: vertical stripes, one sign per channel and column
        // over the whole height; then the squares.
        for iteration in 0..=s.iterations {
            active.retain(|&r| {
                queries.get(r).is_some_and(|&q| q < budget)
                    && margin.get(r).copied().is_some_and(standing)
            });
            if active.is_empty() {
                break;
            }
            let mut points = Vec::with_capacity(active.len() * features);
            for &r in &active {
                let (Some(rng), Some(from)) = (rngs.get_mut(r), current.get(r)) else {
                    continue;
                };
                let point = match s.norm {
                    Norm::Inf => linf_candidate(s, clean(r), from, iteration, rng, (lo, hi)),
                    Norm::L2 => l2_candidate(s, clean(r), from, iteration, rng, (lo, hi)),
                };
                points.extend(point);
            }
            let new = ask(&points, &active)?;
            for (i, &r) in active.iter().enumerate() {
                if let Some(q) = queries.get_mut(r) {
                    *q += 1;
                }
                let (Some(&m), Some(best)) = (new.get(i), margin.get_mut(r)) else {
                    continue;
                };
                if m < *best {
                    *best = m;
                    if let (Some(slot), Some(p)) = (
                        current.get_mut(r),
                        points.get(i * features..(i + 1) * features),
                    ) {
                        slot.copy_from_slice(p);
                    }
                }
            }
        }
    }
    Ok((0..rows)
        .map(|r| Row {
            adversarial: current.get(r).cloned().unwrap_or_default(),
            fooled: margin.get(r).is_some_and(|&m| m < 0.0),
            queries: queries.get(r).copied().unwrap_or(0),
        })
        .collect())
}

#[cfg(test)]
mod tests;
