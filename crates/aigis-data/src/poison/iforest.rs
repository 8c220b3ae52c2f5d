//! Isolation forest (Liu, Ting & Zhou 2008), written here because no small, maintained
//! Rust crate offers it without pulling a whole ML framework.
//!
//! Each tree is grown on `ψ` rows drawn without replacement, splitting on a random column
//! at a uniform point between that column's minimum and maximum in the node, until a row
//! is alone or the height limit `⌈log₂ ψ⌉` is reached. A row's anomaly score is
//! `s(x) = 2^(−E[h(x)] / c(ψ))`, where `h` is the path length (plus `c(size)` for the rows
//! left together in a leaf) and `c(m) = 2H(m−1) − 2(m−1)/m` the average path length of an
//! unsuccessful search in a binary search tree. Scores near 1 are isolated quickly
//! (anomalies); most rows score 0.4–0.5.
//!
//! Why the forest rather than a robust-covariance Mahalanobis distance: the scan sees
//! labelled data, which is usually several clusters (one or more per class); a single
//! robust covariance fits one ellipsoid and flags the tails of the smaller clusters, and on
//! wide sparse data (images) it is singular. The forest needs no covariance, is invariant
//! to each column's scale, and costs `O(trees × ψ log ψ)` to build and `O(n × trees × log ψ)`
//! to score — about a second for a million rows.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::prep::{Prepared, sample_indices};

/// A node: a split on column `col` at `value` with children `left` and `left + 1`, the
/// node's rows spanning `lo..=hi` in that column; or, when `col` is [`LEAF`], a leaf
/// whose `value` is `c(size)`, precomputed. Stored as the array `[value, col, left, lo,
/// hi]`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(from = "(f64, u32, u32, f64, f64)", into = "(f64, u32, u32, f64, f64)")]
struct Node {
    value: f64,
    col: u32,
    left: u32,
    lo: f64,
    hi: f64,
}

const LEAF: u32 = u32::MAX;

impl From<(f64, u32, u32, f64, f64)> for Node {
    fn from((value, col, left, lo, hi): (f64, u32, u32, f64, f64)) -> Self {
        Self {
            value,
            col,
            left,
            lo,
            hi,
        }
    }
}

impl From<Node> for (f64, u32, u32, f64, f64) {
    fn from(n: Node) -> Self {
        (n.value, n.col, n.left, n.lo, n.hi)
    }
}

/// A matrix of `d` columns, row-major, no NaN.
#[derive(Clone, Copy)]
struct Rows<'a> {
    z: &'a [f64],
    d: usize,
}

impl Rows<'_> {
    fn row(&self, i: usize) -> &[f64] {
        self.z.get(i * self.d..(i + 1) * self.d).unwrap_or(&[])
    }
}

impl Node {
    fn leaf(adjust: f64) -> Self {
        Self {
            value: adjust,
            col: LEAF,
            left: 0,
            lo: 0.0,
            hi: 0.0,
        }
    }
}

/// Average path length of an unsuccessful search in a binary search tree of `m` nodes.
fn c(m: usize) -> f64 {
    match m {
        0 | 1 => 0.0,
        2 => 1.0,
        _ => {
            let m = m as f64;
            2.0 * ((m - 1.0).ln() + 0.577_215_664_901_532_9) - 2.0 * (m - 1.0) / m
        }
    }
}

/// One tree, grown on the rows `rows` of `data`.
fn grow(data: Rows<'_>, rows: &mut [usize], rng: &mut fastrand::Rng, limit: usize) -> Vec<Node> {
    let mut nodes = Vec::with_capacity(2 * rows.len());
    // Iterative growth: (node slot, start, end, depth) of the pieces of `rows` still to split.
    nodes.push(Node::leaf(0.0));
    let mut stack = vec![(0usize, 0usize, rows.len(), 0usize)];
    let mut candidates = Vec::with_capacity(data.d);
    while let Some((slot, start, end, depth)) = stack.pop() {
        let Some(part) = rows.get_mut(start..end) else {
            continue;
        };
        let leaf = Node::leaf(c(part.len()));
        if part.len() <= 1 || depth >= limit {
            if let Some(n) = nodes.get_mut(slot) {
                *n = leaf;
            }
            continue;
        }
        // Only columns that still vary in this node can split it.
        candidates.clear();
        for j in 0..data.d {
            let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
            for &i in part.iter() {
                let v = data.row(i).get(j).copied().unwrap_or(0.0);
                lo = lo.min(v);
                hi = hi.max(v);
            }
            if hi > lo {
                candidates.push((j, lo, hi));
            }
        }
        let Some(&(col, lo, hi)) = candidates.get(rng.usize(..candidates.len().max(1))) else {
            if let Some(n) = nodes.get_mut(slot) {
                *n = leaf;
            }
            continue;
        };
        let value = lo + rng.f64() * (hi - lo);
        // Partition `part` in place: rows below the split first.
        let mut mid = 0;
        for k in 0..part.len() {
            let v = part
                .get(k)
                .map_or(0.0, |&i| data.row(i).get(col).copied().unwrap_or(0.0));
            if v < value {
                part.swap(mid, k);
                mid += 1;
            }
        }
        let left = nodes.len();
        nodes.push(Node::leaf(0.0));
        nodes.push(Node::leaf(0.0));
        if let Some(n) = nodes.get_mut(slot) {
            *n = Node {
                value,
                col: col as u32,
                left: left as u32,
                lo,
                hi,
            };
        }
        stack.push((left, start, start + mid, depth + 1));
        stack.push((left + 1, start + mid, end, depth + 1));
    }
    nodes
}

/// The expected path length of a row `x` that was not among the rows a tree grew on:
/// where `x` lies outside a split node's range `lo..=hi` of its column, by `δ`, a tree
/// grown with `x` among its rows would have drawn that split in a range `δ` wider and
/// isolated `x` there with probability `δ / (hi − lo + δ)`; otherwise (and where `x` is
/// inside) the walk goes on as [`path_length`]'s. Without this, a row far beyond the
/// reference in one feature scores like the reference's own most extreme row, however
/// far it is (the forest cannot tell 5σ from 50σ); with it, the score grows with the
/// distance.
fn expected_path_length(tree: &[Node], x: &[f64]) -> f64 {
    let mut at = 0usize;
    let mut depth = 0.0;
    let mut reach = 1.0;
    let mut sum = 0.0;
    while let Some(node) = tree.get(at) {
        if node.col == LEAF {
            return sum + reach * (depth + node.value);
        }
        let v = x.get(node.col as usize).copied().unwrap_or(0.0);
        let outside = if v < node.lo {
            node.lo - v
        } else if v > node.hi {
            v - node.hi
        } else {
            0.0
        };
        if outside > 0.0 {
            let p = outside / (node.hi - node.lo + outside);
            let p = if p.is_finite() { p } else { 1.0 };
            sum += reach * p * (depth + 1.0);
            reach *= 1.0 - p;
        }
        at = node.left as usize + usize::from(v >= node.value);
        depth += 1.0;
    }
    sum + reach * depth
}

/// Path length of `x` in `tree`, with the leaf's `c(size)` adjustment.
fn path_length(tree: &[Node], x: &[f64]) -> f64 {
    let mut at = 0usize;
    let mut depth = 0.0;
    while let Some(node) = tree.get(at) {
        if node.col == LEAF {
            return depth + node.value;
        }
        let v = x.get(node.col as usize).copied().unwrap_or(0.0);
        at = node.left as usize + usize::from(v >= node.value);
        depth += 1.0;
    }
    depth
}

/// Anomaly scores `s(x)` in `0..1` for every row of `data`.
pub(crate) fn scores(
    data: &Prepared,
    trees: usize,
    subsample: usize,
    seed: u64,
    progress: &(dyn Fn(u64) + Sync),
) -> Vec<f64> {
    let forest = IsolationForest::grow(
        Rows {
            z: &data.z,
            d: data.d,
        },
        data.n,
        trees,
        subsample,
        seed,
    );
    forest.scores_with(&data.z, path_length, progress)
}

/// A fitted isolation forest, to score rows that were not in its training data (the
/// gateway's out-of-distribution detector). It serializes to JSON: the subsample size,
/// the number of columns and each tree's nodes as `[value, column, left child]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IsolationForest {
    /// Columns of a row.
    columns: usize,
    /// Rows each tree was grown on (`ψ`).
    subsample: usize,
    /// The columns with one value in all the rows it grew on, and that value: no tree
    /// splits on them, so a new row that differs there is isolated before any split (the
    /// limit of [`expected_path_length`]'s rule for a range of width 0): score 1.
    #[serde(default)]
    constant: Vec<(usize, f64)>,
    trees: Vec<Vec<Node>>,
}

/// Why a forest read from a file cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("isolation forest: {0}")]
pub struct ForestError(String);

impl IsolationForest {
    /// Grows `trees` trees on `n` rows of `columns` values each (`data`, row-major), each
    /// on `subsample` rows drawn without replacement with `seed`. Values must be finite
    /// (impute missing ones first).
    pub fn fit(
        data: &[f64],
        columns: usize,
        trees: usize,
        subsample: usize,
        seed: u64,
    ) -> Result<Self, ForestError> {
        if columns == 0 || !data.len().is_multiple_of(columns) || data.is_empty() {
            return Err(ForestError(format!(
                "{} values do not make rows of {columns} columns",
                data.len()
            )));
        }
        if trees == 0 || subsample < 2 {
            return Err(ForestError(
                "at least one tree, on at least 2 rows each, is needed".into(),
            ));
        }
        if let Some(i) = data.iter().position(|v| !v.is_finite()) {
            return Err(ForestError(format!(
                "row {}, column {} is not a finite number",
                i / columns,
                i % columns
            )));
        }
        let n = data.len() / columns;
        let mut forest = Self::grow(
            Rows {
                z: data,
                d: columns,
            },
            n,
            trees,
            subsample,
            seed,
        );
        forest.constant = (0..columns)
            .filter_map(|j| {
                let first = *data.get(j)?;
                data.iter()
                    .skip(j)
                    .step_by(columns)
                    .all(|&v| v == first)
                    .then_some((j, first))
            })
            .collect();
        Ok(forest)
    }

    fn grow(data: Rows<'_>, n: usize, trees: usize, subsample: usize, seed: u64) -> Self {
        let psi = subsample.min(n).max(1);
        let limit = (psi as f64).log2().ceil().max(1.0) as usize;
        let trees = (0..trees)
            .into_par_iter()
            .map(|t| {
                let mut rng =
                    fastrand::Rng::with_seed(seed ^ (t as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
                let mut rows = sample_indices(&mut rng, n, psi);
                grow(data, &mut rows, &mut rng, limit)
            })
            .collect();
        Self {
            columns: data.d,
            subsample: psi,
            constant: Vec::new(),
            trees,
        }
    }

    /// Columns of the rows it scores.
    pub fn columns(&self) -> usize {
        self.columns
    }

    /// Checks a forest read from a file: every split names a column of the rows and
    /// children after itself (so a walk ends), every number is finite. A forest this
    /// crate grew always passes.
    pub fn validate(&self) -> Result<(), ForestError> {
        if self.columns == 0 || self.trees.is_empty() || self.subsample == 0 {
            return Err(ForestError("no columns, no trees or no rows".into()));
        }
        if self
            .constant
            .iter()
            .any(|&(j, v)| j >= self.columns || !v.is_finite())
        {
            return Err(ForestError("a constant column out of range".into()));
        }
        for (t, tree) in self.trees.iter().enumerate() {
            if tree.is_empty() {
                return Err(ForestError(format!("tree {t} has no node")));
            }
            for (i, node) in tree.iter().enumerate() {
                let ok = node.value.is_finite()
                    && node.lo.is_finite()
                    && node.hi.is_finite()
                    && node.lo <= node.hi
                    && (node.col == LEAF
                        || ((node.col as usize) < self.columns
                            && (node.left as usize) > i
                            && (node.left as usize) + 1 < tree.len()));
                if !ok {
                    return Err(ForestError(format!(
                        "tree {t}, node {i} is not a valid node"
                    )));
                }
            }
        }
        Ok(())
    }

    /// The anomaly score `s(x)` of a new row, in `0..1` (about 0.5 for a typical row,
    /// near 1 for one isolated quickly; see [`expected_path_length`] for a row beyond the
    /// reference's range). A value missing from `x` counts as 0.
    pub fn score(&self, x: &[f64]) -> f64 {
        if self.off_constant(x) {
            return 1.0;
        }
        let sum: f64 = self.trees.iter().map(|t| expected_path_length(t, x)).sum();
        self.score_of_path_sum(sum)
    }

    /// Whether `x` differs from the rows in a column where they all had one value.
    /// Forgets the constant columns that take another value in `rows` (clean rows the
    /// forest did not grow on, row-major): a column is constant in the data only if it is
    /// in those too, and flagging every other value of a column that varies in clean
    /// rows flags clean rows.
    pub fn forget_constants_varying_in(&mut self, rows: &[f64]) {
        let columns = self.columns;
        if columns == 0 {
            return;
        }
        self.constant.retain(|&(j, v)| {
            rows.chunks_exact(columns)
                .all(|r| r.get(j).is_none_or(|x| *x == v))
        });
    }

    /// The columns held constant, with their value.
    pub fn constants(&self) -> &[(usize, f64)] {
        &self.constant
    }

    fn off_constant(&self, x: &[f64]) -> bool {
        self.constant
            .iter()
            .any(|&(j, v)| x.get(j).is_some_and(|&y| y != v))
    }

    fn score_of_path_sum(&self, sum: f64) -> f64 {
        let norm = c(self.subsample).max(1.0);
        2f64.powf(-(sum / self.trees.len().max(1) as f64) / norm)
    }

    /// The scores of new rows (row-major, [`columns`](Self::columns) each), as
    /// [`score`](Self::score) gives them.
    pub fn scores(&self, data: &[f64]) -> Vec<f64> {
        let mut out = self.scores_with(data, expected_path_length, &|_| {});
        for (s, x) in out.iter_mut().zip(data.chunks_exact(self.columns.max(1))) {
            if self.off_constant(x) {
                *s = 1.0;
            }
        }
        out
    }

    fn scores_with(
        &self,
        data: &[f64],
        path: fn(&[Node], &[f64]) -> f64,
        progress: &(dyn Fn(u64) + Sync),
    ) -> Vec<f64> {
        let d = self.columns.max(1);
        let done = std::sync::atomic::AtomicU64::new(0);
        let chunk = 4096;
        data.par_chunks(chunk * d)
            .flat_map_iter(|block| {
                // Tree by tree over the block, so one tree stays in cache while 4,096 rows
                // walk it; each row still sums its path lengths in tree order (deterministic).
                let mut sums = vec![0.0; block.len() / d];
                for tree in &self.trees {
                    for (sum, x) in sums.iter_mut().zip(block.chunks_exact(d)) {
                        *sum += path(tree, x);
                    }
                }
                let out: Vec<f64> = sums
                    .iter()
                    .map(|&sum| self.score_of_path_sum(sum))
                    .collect();
                let n = done.fetch_add(out.len() as u64, std::sync::atomic::Ordering::Relaxed);
                progress(n + out.len() as u64);
                out
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::super::prep::prepare;
    use super::super::testdata::gaussian_clusters;
    use super::*;

    #[test]
    fn planted_outliers_score_highest() {
        let (mut f, _) = gaussian_clusters(2000, 5, 3, 7);
        for i in [10usize, 500, 1500] {
            for v in &mut f.data[i * 5..(i + 1) * 5] {
                *v = *v * 8.0 + 30.0;
            }
        }
        let p = prepare(&f);
        let s = scores(&p, 100, 256, 1, &|_| {});
        assert_eq!(s.len(), 2000);
        let mut order: Vec<usize> = (0..2000).collect();
        order.sort_by(|&a, &b| s[b].total_cmp(&s[a]));
        let mut top: Vec<usize> = order[..3].to_vec();
        top.sort_unstable();
        assert_eq!(top, vec![10, 500, 1500]);
        assert!(s[10] > 0.65, "{}", s[10]);
        // Deterministic for a seed.
        assert_eq!(s, scores(&p, 100, 256, 1, &|_| {}));
    }

    #[test]
    fn tiny_and_constant_inputs() {
        let (f, _) = gaussian_clusters(3, 1, 1, 1);
        let p = prepare(&f);
        let s = scores(&p, 10, 256, 1, &|_| {});
        assert_eq!(s.len(), 3);
        assert!(s.iter().all(|v| v.is_finite() && *v > 0.0 && *v <= 1.0));
        assert_eq!(c(1), 0.0);
    }

    #[test]
    fn a_fitted_forest_scores_new_rows_and_survives_json() {
        let (f, _) = gaussian_clusters(1000, 4, 2, 3);
        let forest = IsolationForest::fit(&f.data, 4, 50, 256, 9).unwrap();
        forest.validate().unwrap();
        let inside = forest.score(&f.data[..4]);
        let far = forest.score(&[1e3, -1e3, 1e3, -1e3]);
        assert!(far > 0.7 && far > inside + 0.15, "{far} {inside}");
        let text = serde_json::to_string(&forest).unwrap();
        let back: IsolationForest = serde_json::from_str(&text).unwrap();
        assert_eq!(back, forest);
        assert_eq!(back.scores(&f.data[..8]), forest.scores(&f.data[..8]));
        assert_eq!(forest.scores(&f.data[..4])[0], inside);
        // Farther is more anomalous, even in one feature only.
        let mut x = f.data[..4].to_vec();
        let mut last = forest.score(&x);
        for far in [5.0, 10.0, 50.0, 500.0] {
            x[2] = far;
            let s = forest.score(&x);
            assert!(s > last, "{far}: {s} <= {last}");
            last = s;
        }
        assert!(last > 0.7, "{last}");
    }

    #[test]
    fn a_forest_from_a_file_is_checked_before_use() {
        let (f, _) = gaussian_clusters(100, 2, 1, 3);
        let forest = IsolationForest::fit(&f.data, 2, 3, 16, 1).unwrap();
        let mut v = serde_json::to_value(&forest).unwrap();
        // A split whose child is itself would walk forever; a column past the row's end.
        v["trees"][0][0] = serde_json::json!([0.5, 0, 0, 0.0, 1.0]);
        let bad: IsolationForest = serde_json::from_value(v.clone()).unwrap();
        assert!(bad.validate().is_err());
        v["trees"][0][0] = serde_json::json!([0.5, 7, 1, 0.0, 1.0]);
        let bad: IsolationForest = serde_json::from_value(v).unwrap();
        assert!(bad.validate().is_err());
        assert!(IsolationForest::fit(&[1.0, f64::NAN], 2, 3, 16, 1).is_err());
        // A column with one value: a row that differs there is isolated at once.
        let data: Vec<f64> = (0..100).flat_map(|i| [f64::from(i), 7.0]).collect();
        let forest = IsolationForest::fit(&data, 2, 20, 64, 1).unwrap();
        assert!(forest.score(&[50.0, 7.0]) < 0.6);
        assert_eq!(forest.score(&[50.0, 7.5]), 1.0);
        assert_eq!(forest.scores(&[50.0, 7.5, 50.0, 7.0])[0], 1.0);
        assert!(IsolationForest::fit(&[1.0, 2.0, 3.0], 2, 3, 16, 1).is_err());
    }
}
