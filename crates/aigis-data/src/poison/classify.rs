//! Out-of-sample class probabilities, the input of confident learning: every row's
//! probabilities come from a model that did not see that row.
//!
//! - **k nearest neighbours** (leave-one-out, brute force, used up to `knn_max_rows`):
//!   non-linear and assumption-free, the best judge of "what do rows that look like this
//!   one say", but `O(n² d)`.
//! - **linear discriminant analysis, k-fold cross-validated** (beyond that): one pass over
//!   the data gathers per-fold sums and scatter matrices, so the whole cross-validation
//!   costs `O(n d²)` — a second for a million rows of 30 columns. It assumes classes are
//!   Gaussian with a shared covariance, which is crude but fast; the covariance is shrunk
//!   towards a multiple of the identity so that sparse or collinear columns stay solvable.
//!
//! Distances and discriminants use the robust z-scores clipped to ±[`CLIP`], so that one
//! wild column (a planted outlier, a trigger pixel) cannot decide a row's neighbours alone.

use rayon::prelude::*;

use super::linalg::{cholesky, cholesky_solve};
use super::prep::Prepared;

/// Robust z-scores beyond this are clipped before distances and discriminants.
pub(crate) const CLIP: f64 = 6.0;

/// Out-of-sample probabilities, row-major `n × k`.
#[derive(Debug, Clone)]
pub(crate) struct Probabilities {
    pub k: usize,
    pub p: Vec<f64>,
    /// For k-NN: how many of each row's neighbours carry each class (`n × k`).
    pub votes: Option<Vec<u32>>,
}

fn clipped(x: f64) -> f64 {
    x.clamp(-CLIP, CLIP)
}

/// Leave-one-out k-NN vote shares, smoothed: `(votes + 0.1) / (k + 0.1 × classes)`.
pub(crate) fn knn(data: &Prepared, y: &[usize], classes: usize, k: usize) -> Probabilities {
    let d = data.d.max(1);
    let k = k.min(data.n.saturating_sub(1)).max(1);
    let z: Vec<f64> = data.z.iter().map(|&v| clipped(v)).collect();
    let votes: Vec<u32> = z
        .par_chunks(d)
        .enumerate()
        .flat_map_iter(|(i, x)| {
            // The k best (distance, row) so far, sorted ascending.
            let mut best: Vec<(f64, usize)> = Vec::with_capacity(k + 1);
            for (j, other) in z.chunks_exact(d).enumerate() {
                if j == i {
                    continue;
                }
                let bound = if best.len() == k {
                    best.last().map_or(f64::INFINITY, |b| b.0)
                } else {
                    f64::INFINITY
                };
                let mut dist = 0.0;
                for (a, b) in x.iter().zip(other) {
                    dist += (a - b) * (a - b);
                    if dist >= bound {
                        break;
                    }
                }
                if dist < bound {
                    let at = best.partition_point(|b| b.0 <= dist);
                    best.insert(at, (dist, j));
                    best.truncate(k);
                }
            }
            let mut counts = vec![0u32; classes];
            for (_, j) in best {
                if let Some(c) = y.get(j).and_then(|&c| counts.get_mut(c)) {
                    *c += 1;
                }
            }
            counts
        })
        .collect();
    let denom = k as f64 + 0.1 * classes as f64;
    let p = votes
        .iter()
        .map(|&v| (f64::from(v) + 0.1) / denom)
        .collect();
    Probabilities {
        k: classes,
        p,
        votes: Some(votes),
    }
}

/// Per-fold sufficient statistics: class counts and sums, and the scatter `Σ x xᵀ`.
#[derive(Clone)]
struct Stats {
    count: Vec<f64>,
    sum: Vec<f64>,
    scatter: Vec<f64>,
}

/// k-fold cross-validated LDA probabilities. `fold[i]` is row `i`'s fold.
pub(crate) fn lda(
    data: &Prepared,
    y: &[usize],
    classes: usize,
    folds: usize,
    seed: u64,
) -> Probabilities {
    let d = data.d;
    let folds = folds.clamp(2, data.n.max(2));
    let mut rng = fastrand::Rng::with_seed(seed);
    let fold: Vec<usize> = (0..data.n).map(|_| rng.usize(..folds)).collect();
    let empty = Stats {
        count: vec![0.0; classes],
        sum: vec![0.0; classes * d],
        scatter: vec![0.0; d * d],
    };
    // Fixed-size blocks summed in parallel and merged in order: the floating-point sums,
    // hence the probabilities, do not depend on how rayon splits the work.
    let block = 8192;
    let partial: Vec<Vec<Stats>> = data
        .z
        .par_chunks(block * d.max(1))
        .zip(y.par_chunks(block))
        .zip(fold.par_chunks(block))
        .map(|((rows, ys), fs)| {
            let mut acc = vec![empty.clone(); folds];
            for ((x, &c), &f) in rows.chunks_exact(d.max(1)).zip(ys).zip(fs) {
                if let Some(s) = acc.get_mut(f) {
                    add(s, x, c, d);
                }
            }
            acc
        })
        .collect();
    let mut stats = vec![empty.clone(); folds];
    for acc in &partial {
        for (s, t) in stats.iter_mut().zip(acc) {
            merge(s, t);
        }
    }
    let mut total = empty.clone();
    for s in &stats {
        merge(&mut total, s);
    }
    // One linear model per fold, trained on the other folds' statistics.
    let models: Vec<Option<Model>> = stats
        .iter()
        .map(|held| fit(&total, held, classes, d))
        .collect();
    let p = data
        .z
        .par_chunks(d.max(1))
        .zip(fold.par_iter())
        .flat_map_iter(|(x, &f)| {
            let model = models.get(f).and_then(Option::as_ref);
            predict(model, x, classes)
        })
        .collect();
    Probabilities {
        k: classes,
        p,
        votes: None,
    }
}

fn add(s: &mut Stats, x: &[f64], c: usize, d: usize) {
    if let Some(n) = s.count.get_mut(c) {
        *n += 1.0;
    }
    if let Some(sum) = s.sum.get_mut(c * d..(c + 1) * d) {
        sum.iter_mut().zip(x).for_each(|(a, &v)| *a += clipped(v));
    }
    for (row, &a) in s.scatter.chunks_exact_mut(d.max(1)).zip(x) {
        let a = clipped(a);
        row.iter_mut()
            .zip(x)
            .for_each(|(t, &b)| *t += a * clipped(b));
    }
}

fn merge(s: &mut Stats, t: &Stats) {
    s.count.iter_mut().zip(&t.count).for_each(|(a, b)| *a += b);
    s.sum.iter_mut().zip(&t.sum).for_each(|(a, b)| *a += b);
    s.scatter
        .iter_mut()
        .zip(&t.scatter)
        .for_each(|(a, b)| *a += b);
}

/// Discriminant weights and offsets per class (`None` for a class absent from training).
struct Model {
    w: Vec<Option<(Vec<f64>, f64)>>,
}

fn fit(total: &Stats, held: &Stats, classes: usize, d: usize) -> Option<Model> {
    let count: Vec<f64> = total
        .count
        .iter()
        .zip(&held.count)
        .map(|(a, b)| a - b)
        .collect();
    let n: f64 = count.iter().sum();
    if n <= classes as f64 {
        return None;
    }
    let means: Vec<Vec<f64>> = (0..classes)
        .map(|c| {
            let nc = count.get(c).copied().unwrap_or(0.0).max(1.0);
            let a = total.sum.get(c * d..(c + 1) * d).unwrap_or(&[]);
            let b = held.sum.get(c * d..(c + 1) * d).unwrap_or(&[]);
            a.iter().zip(b).map(|(a, b)| (a - b) / nc).collect()
        })
        .collect();
    // Pooled within-class covariance: (S − Σ_c n_c μ_c μ_cᵀ) / (n − classes).
    let mut cov: Vec<f64> = total
        .scatter
        .iter()
        .zip(&held.scatter)
        .map(|(a, b)| a - b)
        .collect();
    for (mu, &nc) in means.iter().zip(&count) {
        for (row, &a) in cov.chunks_exact_mut(d.max(1)).zip(mu) {
            row.iter_mut().zip(mu).for_each(|(t, &b)| *t -= nc * a * b);
        }
    }
    let dof = n - classes as f64;
    cov.iter_mut().for_each(|v| *v /= dof);
    // Shrink 10 % towards (trace / d)·I, so sparse and collinear columns stay invertible.
    let trace: f64 = cov.iter().step_by(d + 1).sum();
    let target = (trace / d.max(1) as f64).max(1e-9);
    for (i, row) in cov.chunks_exact_mut(d.max(1)).enumerate() {
        row.iter_mut().for_each(|v| *v *= 0.9);
        if let Some(v) = row.get_mut(i) {
            *v += 0.1 * target;
        }
    }
    let l = cholesky(&cov, d)?;
    let w = means
        .iter()
        .zip(&count)
        .map(|(mu, &nc)| {
            if nc < 1.0 {
                return None;
            }
            let w = cholesky_solve(&l, d, mu)?;
            let b = -0.5 * w.iter().zip(mu).map(|(a, b)| a * b).sum::<f64>() + (nc / n).ln();
            Some((w, b))
        })
        .collect();
    Some(Model { w })
}

fn predict(model: Option<&Model>, x: &[f64], classes: usize) -> Vec<f64> {
    let Some(model) = model else {
        return vec![1.0 / classes.max(1) as f64; classes];
    };
    let scores: Vec<f64> = model
        .w
        .iter()
        .map(|w| {
            w.as_ref().map_or(f64::NEG_INFINITY, |(w, b)| {
                w.iter().zip(x).map(|(a, &v)| a * clipped(v)).sum::<f64>() + b
            })
        })
        .collect();
    let top = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let exp: Vec<f64> = scores.iter().map(|s| (s - top).exp()).collect();
    let total: f64 = exp.iter().sum();
    exp.iter().map(|e| e / total).collect()
}

#[cfg(test)]
mod tests {
    use super::super::prep::prepare;
    use super::super::testdata::gaussian_clusters;
    use super::*;

    fn accuracy(p: &Probabilities, y: &[usize]) -> f64 {
        let hits =
            p.p.chunks_exact(p.k)
                .zip(y)
                .filter(|(row, c)| {
                    let best = (0..p.k).max_by(|&a, &b| row[a].total_cmp(&row[b])).unwrap();
                    best == **c
                })
                .count();
        hits as f64 / y.len() as f64
    }

    #[test]
    fn both_classifiers_learn_separable_clusters() {
        let (f, labels) = gaussian_clusters(600, 4, 3, 5);
        let y: Vec<usize> = labels.iter().map(|&c| c as usize).collect();
        let p = prepare(&f);
        let a = knn(&p, &y, 3, 10);
        assert!(accuracy(&a, &y) > 0.95);
        assert!(
            a.p.chunks_exact(3)
                .all(|r| (r.iter().sum::<f64>() - 1.0).abs() < 1e-9)
        );
        let b = lda(&p, &y, 3, 5, 1);
        assert!(accuracy(&b, &y) > 0.95);
        assert_eq!(b.p, lda(&p, &y, 3, 5, 1).p);
    }

    #[test]
    fn tiny_inputs_do_not_fail() {
        let (f, _) = gaussian_clusters(2, 1, 1, 5);
        let p = prepare(&f);
        assert_eq!(knn(&p, &[0, 1], 2, 10).p.len(), 4);
        assert_eq!(lda(&p, &[0, 1], 2, 5, 1).p.len(), 4);
    }
}
