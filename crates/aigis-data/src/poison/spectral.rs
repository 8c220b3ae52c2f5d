//! The spectral-signature method (Tran, Li & Madry 2018), per label.
//!
//! Within one class, poisoned rows that share a trigger shift the class mean in one
//! direction; when they are numerous enough, that direction becomes the top singular
//! vector of the centred class matrix, and the poisoned rows project far along it. For each
//! class this computes the covariance of the (clipped) robust z-scores, its top eigenvector
//! `v` by power iteration, and each row's projection `(x − μ)·v`; the paper ranks rows by
//! the squared projection and removes the top `1.5 ε` (with `ε` the assumed poison rate).
//! aigis does not assume a rate: it flags projections more than `spectral_z` robust standard
//! deviations (median ± 1.4826 MAD of the projections) from the class median, one-sided —
//! on the side where the projections have the longer tail.
//!
//! Catches: a trigger that dominates its class's variance. Misses: on raw features, a
//! trigger smaller than the class's natural spread (the paper applies it to a network's
//! learned representation, where the trigger is amplified), and triggers in classes of
//! fewer than 10 rows. It also flags the natural tail of a skewed class (0.4 % of COMPAS's
//! clean rows had a label the model rejected and a far projection), which is why the scan
//! uses it only to add weight to a trigger group's members, never on its own.

use rayon::prelude::*;

use super::classify::CLIP;
use super::linalg::top_eigenvector;
use super::prep::{Prepared, median};

/// Per row: the robust z of its projection within its class (0 for skipped classes).
pub(crate) fn scores(data: &Prepared, y: &[usize], classes: usize, seed: u64) -> Vec<f64> {
    let d = data.d;
    let mut out = vec![0.0; data.n];
    if d == 0 {
        return out;
    }
    // Per-class sums and scatter in fixed blocks, merged in order (deterministic sums).
    let block = 8192;
    let empty = (
        vec![0.0; classes],
        vec![0.0; classes * d],
        vec![0.0; classes * d * d],
    );
    let partial: Vec<_> = data
        .z
        .par_chunks(block * d)
        .zip(y.par_chunks(block))
        .map(|(rows, ys)| {
            let (mut count, mut sum, mut scatter) = empty.clone();
            for (x, &c) in rows.chunks_exact(d).zip(ys) {
                if let Some(n) = count.get_mut(c) {
                    *n += 1.0;
                }
                if let Some(s) = sum.get_mut(c * d..(c + 1) * d) {
                    s.iter_mut()
                        .zip(x)
                        .for_each(|(a, v)| *a += v.clamp(-CLIP, CLIP));
                }
                if let Some(s) = scatter.get_mut(c * d * d..(c + 1) * d * d) {
                    for (row, a) in s.chunks_exact_mut(d).zip(x) {
                        let a = a.clamp(-CLIP, CLIP);
                        row.iter_mut()
                            .zip(x)
                            .for_each(|(t, b)| *t += a * b.clamp(-CLIP, CLIP));
                    }
                }
            }
            (count, sum, scatter)
        })
        .collect();
    let (mut count, mut sum, mut scatter) = empty;
    for (c, s, t) in &partial {
        count.iter_mut().zip(c).for_each(|(a, b)| *a += b);
        sum.iter_mut().zip(s).for_each(|(a, b)| *a += b);
        scatter.iter_mut().zip(t).for_each(|(a, b)| *a += b);
    }
    for c in 0..classes {
        let n = count.get(c).copied().unwrap_or(0.0);
        if n < 10.0 {
            continue;
        }
        let mu: Vec<f64> = sum
            .get(c * d..(c + 1) * d)
            .unwrap_or(&[])
            .iter()
            .map(|s| s / n)
            .collect();
        let mut cov: Vec<f64> = scatter
            .get(c * d * d..(c + 1) * d * d)
            .unwrap_or(&[])
            .iter()
            .map(|s| s / n)
            .collect();
        for (row, a) in cov.chunks_exact_mut(d).zip(&mu) {
            row.iter_mut().zip(&mu).for_each(|(t, b)| *t -= a * b);
        }
        let (v, _) = top_eigenvector(&cov, d, seed ^ c as u64);
        let members: Vec<usize> = y
            .iter()
            .enumerate()
            .filter(|&(_, &k)| k == c)
            .map(|(i, _)| i)
            .collect();
        let proj: Vec<f64> = members
            .iter()
            .map(|&i| {
                data.row(i)
                    .iter()
                    .zip(&mu)
                    .zip(&v)
                    .map(|((x, m), w)| (x.clamp(-CLIP, CLIP) - m) * w)
                    .sum()
            })
            .collect();
        let mut sorted = proj.clone();
        let Some(med) = median(&mut sorted) else {
            continue;
        };
        let mut dev: Vec<f64> = proj.iter().map(|p| (p - med).abs()).collect();
        let scale = median(&mut dev).unwrap_or(0.0) * 1.4826;
        if scale <= 0.0 {
            continue;
        }
        // The eigenvector's sign is arbitrary: orient it towards the longer tail.
        let (lo, hi) = proj.iter().fold((0.0f64, 0.0f64), |(lo, hi), p| {
            (lo.min(p - med), hi.max(p - med))
        });
        let sign = if hi >= -lo { 1.0 } else { -1.0 };
        for (&i, p) in members.iter().zip(&proj) {
            if let Some(o) = out.get_mut(i) {
                *o = (sign * (p - med) / scale).max(0.0);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::prep::prepare;
    use super::super::testdata::gaussian_clusters;
    use super::*;

    #[test]
    fn a_dominant_trigger_projects_far() {
        let (mut f, labels) = gaussian_clusters(3000, 8, 3, 21);
        // 40 rows of class 0 get columns 6 and 7 pushed to a fixed far value.
        let planted: Vec<usize> = (0..3000).filter(|&i| labels[i] == 0).take(40).collect();
        for &i in &planted {
            f.data[i * 8 + 6] = 12.0;
            f.data[i * 8 + 7] = 12.0;
        }
        let y: Vec<usize> = labels.iter().map(|&c| c as usize).collect();
        let s = scores(&prepare(&f), &y, 3, 1);
        let found = planted.iter().filter(|&&i| s[i] > 4.0).count();
        assert!(found >= 38, "{found}");
        let others = (0..3000)
            .filter(|i| !planted.contains(i) && s[*i] > 4.0)
            .count();
        assert!(others < 10, "{others}");
    }
}
