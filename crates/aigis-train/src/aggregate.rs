//! How a federated round's updates become one: federated averaging (McMahan et al., 2017)
//! and the rules that withstand a share of poisoning clients — Krum and multi-Krum
//! (Blanchard et al., 2017), the coordinate-wise median and trimmed mean (Yin et al.,
//! 2018) — each after an optional bound on every update's L2 norm.
//!
//! An update is a flat vector (every parameter of the model, in one order all parties
//! share) with the number of rows it was trained on. Only the mean weighs by rows: a
//! robust rule that weighed by rows would let a client claim a million rows.

use std::fmt;

/// A rule that makes one update of a round's many.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Rule {
    /// Federated averaging: the mean weighted by each update's rows.
    Mean,
    /// Each coordinate's median (the mean of the two middle values when even).
    Median,
    /// Each coordinate's mean once its `⌊trim · n⌋` lowest and highest values are dropped
    /// (scipy's `trim_mean(…, proportiontocut=trim)`).
    TrimmedMean {
        /// The share of updates dropped at each end, in `[0, 0.5)`.
        trim: f64,
    },
    /// Krum: the one update whose `n − f − 2` nearest others are nearest (the least sum of
    /// squared distances), with `f` the poisoning clients it is to withstand.
    Krum {
        /// The poisoning clients tolerated; `n > 2f + 2` is needed.
        byzantine: usize,
    },
    /// Multi-Krum: the mean of the `m` updates with the least Krum scores.
    MultiKrum {
        /// The poisoning clients tolerated; `n > 2f + 2` is needed.
        byzantine: usize,
        /// How many updates are averaged (`1` is Krum).
        select: usize,
    },
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rule::Mean => write!(f, "mean"),
            Rule::Median => write!(f, "median"),
            Rule::TrimmedMean { trim } => write!(f, "trimmed-mean (trim {trim})"),
            Rule::Krum { byzantine } => write!(f, "krum (f = {byzantine})"),
            Rule::MultiKrum { byzantine, select } => {
                write!(f, "multi-krum (f = {byzantine}, m = {select})")
            }
        }
    }
}

impl Rule {
    /// The rule's name as `--aggregate` takes it.
    pub fn name(&self) -> &'static str {
        match self {
            Rule::Mean => "mean",
            Rule::Median => "median",
            Rule::TrimmedMean { .. } => "trimmed-mean",
            Rule::Krum { .. } => "krum",
            Rule::MultiKrum { .. } => "multi-krum",
        }
    }

    /// The fewest updates the rule is defined on.
    pub fn least_updates(&self) -> usize {
        match *self {
            Rule::Mean | Rule::Median => 1,
            // n > 2k with k = ⌊trim n⌋ holds for every n ≥ 1 when trim < 0.5.
            Rule::TrimmedMean { .. } => 1,
            Rule::Krum { byzantine } => 2 * byzantine + 3,
            Rule::MultiKrum { byzantine, select } => (2 * byzantine + 3).max(select),
        }
    }

    /// Checks the rule's own settings.
    pub fn check(&self) -> Result<(), String> {
        match *self {
            Rule::TrimmedMean { trim } if !(0.0..0.5).contains(&trim) => Err(format!(
                "a trimmed mean trimming {trim} at each end (it must be at least 0 and below 0.5)"
            )),
            Rule::MultiKrum { select: 0, .. } => {
                Err("multi-krum selecting 0 updates (it must select 1 or more)".into())
            }
            _ => Ok(()),
        }
    }
}

/// One client's update: the change it proposes to every parameter, and its rows.
#[derive(Debug, Clone, PartialEq)]
pub struct Update {
    /// The proposed change (or model), one value a parameter.
    pub values: Vec<f64>,
    /// The rows it was trained on (the mean's weight).
    pub rows: u64,
}

/// What a round's aggregation made of its updates.
#[derive(Debug, Clone, PartialEq)]
pub struct Aggregate {
    /// The aggregate update.
    pub values: Vec<f64>,
    /// The updates the rule chose (Krum, multi-Krum); every index otherwise.
    pub selected: Vec<usize>,
    /// The updates whose norm was bounded.
    pub clipped: Vec<usize>,
}

/// Scales `values` down to an L2 norm of `bound` when above it; whether it did.
pub fn clip_norm(values: &mut [f64], bound: f64) -> bool {
    let norm = values.iter().map(|v| v * v).sum::<f64>().sqrt();
    if norm > bound && norm > 0.0 {
        let scale = bound / norm;
        values.iter_mut().for_each(|v| *v *= scale);
        true
    } else {
        false
    }
}

/// Applies `rule` to `updates`, each first bounded to an L2 norm of `clip` when given.
/// Refuses updates of different lengths, non-finite values, a bad bound, and fewer
/// updates than the rule is defined on.
pub fn aggregate(updates: &[Update], rule: Rule, clip: Option<f64>) -> Result<Aggregate, String> {
    rule.check()?;
    let n = updates.len();
    if n < rule.least_updates() {
        return Err(format!(
            "{n} update(s) for {rule}, which needs at least {}",
            rule.least_updates()
        ));
    }
    let dim = updates.first().map_or(0, |u| u.values.len());
    for (i, u) in updates.iter().enumerate() {
        if u.values.len() != dim {
            return Err(format!(
                "update {} has {} values where the first has {dim}",
                i + 1,
                u.values.len()
            ));
        }
        if let Some(j) = u.values.iter().position(|v| !v.is_finite()) {
            return Err(format!(
                "update {} has a non-finite value at {}",
                i + 1,
                j + 1
            ));
        }
    }
    if let Some(c) = clip
        && !(c.is_finite() && c > 0.0)
    {
        return Err(format!("a norm bound of {c} (it must be above 0)"));
    }
    let mut vs: Vec<Vec<f64>> = updates.iter().map(|u| u.values.clone()).collect();
    let mut clipped = Vec::new();
    if let Some(c) = clip {
        for (i, v) in vs.iter_mut().enumerate() {
            if clip_norm(v, c) {
                clipped.push(i);
            }
        }
    }
    let all: Vec<usize> = (0..n).collect();
    let (values, selected) = match rule {
        Rule::Mean => {
            let weights: Vec<f64> = updates.iter().map(|u| u.rows as f64).collect();
            (weighted_mean(&vs, &weights, dim)?, all)
        }
        Rule::Median => (per_coordinate(&vs, dim, median), all),
        Rule::TrimmedMean { trim } => {
            let cut = (trim * n as f64).floor() as usize;
            (per_coordinate(&vs, dim, |c| trimmed(c, cut)), all)
        }
        Rule::Krum { byzantine } => {
            let best = krum_order(&vs, byzantine)
                .into_iter()
                .take(1)
                .collect::<Vec<_>>();
            let chosen: Vec<Vec<f64>> = best.iter().filter_map(|&i| vs.get(i).cloned()).collect();
            (weighted_mean(&chosen, &vec![1.0; chosen.len()], dim)?, best)
        }
        Rule::MultiKrum { byzantine, select } => {
            let mut best: Vec<usize> = krum_order(&vs, byzantine)
                .into_iter()
                .take(select)
                .collect();
            best.sort_unstable();
            let chosen: Vec<Vec<f64>> = best.iter().filter_map(|&i| vs.get(i).cloned()).collect();
            (weighted_mean(&chosen, &vec![1.0; chosen.len()], dim)?, best)
        }
    };
    Ok(Aggregate {
        values,
        selected,
        clipped,
    })
}

fn weighted_mean(vs: &[Vec<f64>], weights: &[f64], dim: usize) -> Result<Vec<f64>, String> {
    let total: f64 = weights.iter().sum();
    if !(total.is_finite() && total > 0.0) {
        return Err("the updates count no rows between them".into());
    }
    let mut out = vec![0.0; dim];
    for (v, w) in vs.iter().zip(weights) {
        for (o, x) in out.iter_mut().zip(v) {
            *o += w / total * x;
        }
    }
    Ok(out)
}

/// `f` of each coordinate's values across the updates.
fn per_coordinate(vs: &[Vec<f64>], dim: usize, f: impl Fn(&mut [f64]) -> f64) -> Vec<f64> {
    let mut column = vec![0.0; vs.len()];
    (0..dim)
        .map(|j| {
            for (c, v) in column.iter_mut().zip(vs) {
                *c = v.get(j).copied().unwrap_or(0.0);
            }
            f(&mut column)
        })
        .collect()
}

fn median(c: &mut [f64]) -> f64 {
    c.sort_unstable_by(f64::total_cmp);
    let n = c.len();
    if n == 0 {
        return 0.0;
    }
    let hi = c.get(n / 2).copied().unwrap_or(0.0);
    if n % 2 == 1 {
        hi
    } else {
        (c.get(n / 2 - 1).copied().unwrap_or(0.0) + hi) / 2.0
    }
}

fn trimmed(c: &mut [f64], cut: usize) -> f64 {
    c.sort_unstable_by(f64::total_cmp);
    let kept = c.get(cut..c.len().saturating_sub(cut)).unwrap_or(&[]);
    if kept.is_empty() {
        return 0.0;
    }
    kept.iter().sum::<f64>() / kept.len() as f64
}

/// The updates from the least Krum score to the greatest (ties by index). A score is the
/// sum of the squared distances to the `n − f − 2` nearest other updates.
pub fn krum_order(vs: &[Vec<f64>], byzantine: usize) -> Vec<usize> {
    let n = vs.len();
    let near = n.saturating_sub(byzantine + 2).max(1);
    let mut d = vec![0.0f64; n * n];
    for i in 0..n {
        for j in (i + 1)..n {
            let dist = match (vs.get(i), vs.get(j)) {
                (Some(a), Some(b)) => a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum(),
                _ => f64::INFINITY,
            };
            if let Some(v) = d.get_mut(i * n + j) {
                *v = dist;
            }
            if let Some(v) = d.get_mut(j * n + i) {
                *v = dist;
            }
        }
    }
    let mut scores: Vec<(f64, usize)> = (0..n)
        .map(|i| {
            let mut row: Vec<f64> = (0..n)
                .filter(|&j| j != i)
                .map(|j| d.get(i * n + j).copied().unwrap_or(f64::INFINITY))
                .collect();
            row.sort_unstable_by(f64::total_cmp);
            (row.iter().take(near).sum(), i)
        })
        .collect();
    scores.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    scores.into_iter().map(|(_, i)| i).collect()
}

#[cfg(test)]
mod tests;
