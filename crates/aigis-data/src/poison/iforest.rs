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

use super::prep::{Prepared, sample_indices};

/// A node in 16 bytes (scoring is a pointer chase, so small nodes matter): a split on
/// column `col` at `value` with children `left` and `left + 1`, or, when `col` is
/// [`LEAF`], a leaf whose `value` is `c(size)`, precomputed.
#[derive(Debug, Clone, Copy)]
struct Node {
    value: f64,
    col: u32,
    left: u32,
}

const LEAF: u32 = u32::MAX;

impl Node {
    fn leaf(adjust: f64) -> Self {
        Self {
            value: adjust,
            col: LEAF,
            left: 0,
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
fn grow(data: &Prepared, rows: &mut [usize], rng: &mut fastrand::Rng, limit: usize) -> Vec<Node> {
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
            };
        }
        stack.push((left, start, start + mid, depth + 1));
        stack.push((left + 1, start + mid, end, depth + 1));
    }
    nodes
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
    let psi = subsample.min(data.n).max(1);
    let limit = (psi as f64).log2().ceil().max(1.0) as usize;
    let forest: Vec<Vec<Node>> = (0..trees)
        .into_par_iter()
        .map(|t| {
            let mut rng =
                fastrand::Rng::with_seed(seed ^ (t as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
            let mut rows = sample_indices(&mut rng, data.n, psi);
            grow(data, &mut rows, &mut rng, limit)
        })
        .collect();
    let norm = c(psi).max(1.0);
    let done = std::sync::atomic::AtomicU64::new(0);
    let chunk = 4096;
    data.z
        .par_chunks(chunk * data.d.max(1))
        .flat_map_iter(|block| {
            // Tree by tree over the block, so one tree stays in cache while 4,096 rows
            // walk it; each row still sums its path lengths in tree order (deterministic).
            let mut sums = vec![0.0; block.len() / data.d.max(1)];
            for tree in &forest {
                for (sum, x) in sums.iter_mut().zip(block.chunks_exact(data.d.max(1))) {
                    *sum += path_length(tree, x);
                }
            }
            let out: Vec<f64> = sums
                .iter()
                .map(|sum| 2f64.powf(-(sum / forest.len().max(1) as f64) / norm))
                .collect();
            let n = done.fetch_add(out.len() as u64, std::sync::atomic::Ordering::Relaxed);
            progress(n + out.len() as u64);
            out
        })
        .collect()
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
}
