//! Exact and near duplicates.
//!
//! **Exact**: rows with bit-identical feature vectors (after making every NaN one value
//! and −0 equal to +0), found by hashing each row and sorting the hashes, then checking
//! the candidates value by value — `O(n log n)`, no pairwise work. Duplicates inflate a
//! row's weight in training; duplicates carrying *different* labels are a direct conflict
//! (one of them is wrong, or the features cannot decide the label) and score higher.
//!
//! **Near**: rows whose robust z-scores are within an RMS distance `ε` per column
//! (`‖zᵢ − zⱼ‖ ≤ ε √d`). Candidates come from locality-sensitive hashing with p-stable
//! (Gaussian) projections (Datar et al. 2004): `L` tables, each keyed by `m` quantised
//! projections `⌊(a·z + b) / w⌋` with `w = 8 ε √d`, so that a pair at the threshold shares
//! a table's key with probability ≈ 0.6 and some table's key with probability ≈ 0.94,
//! while rows far apart almost never meet. Candidate pairs are then checked exactly. A
//! bucket larger than 256 rows (dense data) is compared only within a sliding window of
//! 32 along its first projection, which bounds the work at `O(n × 32)` per table.
//!
//! Misses: near duplicates that differ a lot in one column (they are not near in the
//! RMS sense), and a few percent of pairs right at the threshold (hashing is randomised).

use std::hash::{Hash as _, Hasher as _};

use rayon::prelude::*;

use super::prep::Prepared;

const TABLES: usize = 3;
const PROJECTIONS: usize = 5;
const BUCKET_CAP: usize = 256;
const WINDOW: usize = 32;

fn canonical(v: f64) -> u64 {
    if v.is_nan() {
        f64::NAN.to_bits()
    } else if v == 0.0 {
        0
    } else {
        v.to_bits()
    }
}

/// A standard normal draw (Box–Muller).
pub(crate) fn gauss(rng: &mut fastrand::Rng) -> f64 {
    let (u, v) = (rng.f64().max(f64::MIN_POSITIVE), rng.f64());
    (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
}

/// Groups (of two or more rows, ascending) with identical raw feature vectors.
pub(crate) fn exact(data: &[f64], n: usize, p: usize) -> Vec<Vec<usize>> {
    if p == 0 {
        return if n > 1 {
            vec![(0..n).collect()]
        } else {
            Vec::new()
        };
    }
    let rows: Vec<&[f64]> = data.chunks_exact(p).take(n).collect();
    let mut keyed: Vec<(u64, usize)> = rows
        .par_iter()
        .enumerate()
        .map(|(i, row)| {
            let mut h = std::hash::DefaultHasher::new();
            row.iter().for_each(|&v| canonical(v).hash(&mut h));
            (h.finish(), i)
        })
        .collect();
    keyed.par_sort_unstable();
    let same = |a: usize, b: usize| match (rows.get(a), rows.get(b)) {
        (Some(x), Some(y)) => x
            .iter()
            .zip(*y)
            .all(|(u, v)| canonical(*u) == canonical(*v)),
        _ => false,
    };
    let mut groups = Vec::new();
    for run in keyed.chunk_by(|a, b| a.0 == b.0) {
        if run.len() < 2 {
            continue;
        }
        // Equal hashes almost always mean equal rows; split the run if they do not.
        let mut left: Vec<usize> = run.iter().map(|r| r.1).collect();
        while let Some(&first) = left.first() {
            let (group, rest): (Vec<usize>, Vec<usize>) =
                left.iter().partition(|&&i| same(first, i));
            if group.len() > 1 {
                groups.push(group);
            }
            left = rest;
        }
    }
    groups.sort_unstable();
    groups
}

/// Pairs `(i, j, rms distance)`, `i < j`, of near-duplicate rows that are not in the same
/// exact group (`group_of[i]` is the index of `i`'s exact group, if any).
pub(crate) fn near(
    data: &Prepared,
    eps: f64,
    seed: u64,
    group_of: &[Option<usize>],
) -> Vec<(usize, usize, f64)> {
    let d = data.d;
    if d == 0 || data.n < 2 || eps <= 0.0 {
        return Vec::new();
    }
    let radius = eps * (d as f64).sqrt();
    let radius2 = radius * radius;
    let w = 8.0 * radius;
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut pairs = Vec::new();
    for _ in 0..TABLES {
        let planes: Vec<(Vec<f64>, f64)> = (0..PROJECTIONS)
            .map(|_| {
                let a = (0..d).map(|_| gauss(&mut rng)).collect();
                (a, rng.f64() * w)
            })
            .collect();
        let mut keyed: Vec<(u64, f64, usize)> = data
            .z
            .par_chunks(d)
            .enumerate()
            .map(|(i, x)| {
                let mut h = std::hash::DefaultHasher::new();
                let mut first = 0.0;
                for (k, (a, b)) in planes.iter().enumerate() {
                    let proj: f64 = a.iter().zip(x).map(|(p, q)| p * q).sum();
                    if k == 0 {
                        first = proj;
                    }
                    (((proj + b) / w).floor() as i64).hash(&mut h);
                }
                (h.finish(), first, i)
            })
            .collect();
        keyed.par_sort_unstable_by(|a, b| {
            a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)).then(a.2.cmp(&b.2))
        });
        let found: Vec<(usize, usize, f64)> = keyed
            .chunk_by(|a, b| a.0 == b.0)
            .filter(|run| run.len() > 1)
            .collect::<Vec<_>>()
            .par_iter()
            .flat_map_iter(|run| {
                let reach = if run.len() <= BUCKET_CAP {
                    run.len()
                } else {
                    WINDOW
                };
                let mut out = Vec::new();
                for (a, &(_, _, i)) in run.iter().enumerate() {
                    for &(_, _, j) in run.iter().skip(a + 1).take(reach) {
                        let same_group = matches!(
                            (group_of.get(i), group_of.get(j)),
                            (Some(Some(g)), Some(Some(h))) if g == h
                        );
                        if same_group {
                            continue;
                        }
                        // Stop summing once past the radius: most pairs in a dense bucket
                        // are far apart after a column or two.
                        let mut dist2 = 0.0;
                        for (u, v) in data.row(i).iter().zip(data.row(j)) {
                            dist2 += (u - v) * (u - v);
                            if dist2 > radius2 {
                                break;
                            }
                        }
                        let dist = dist2.sqrt();
                        if dist <= radius {
                            out.push((i.min(j), i.max(j), dist / (d as f64).sqrt()));
                        }
                    }
                }
                out
            })
            .collect();
        pairs.extend(found);
    }
    pairs.sort_unstable_by_key(|a| (a.0, a.1));
    pairs.dedup_by(|a, b| (a.0, a.1) == (b.0, b.1));
    pairs
}

#[cfg(test)]
mod tests {
    use super::super::prep::prepare;
    use super::super::testdata::gaussian_clusters;
    use super::*;

    #[test]
    fn exact_groups_with_nan_and_signed_zero() {
        let data = vec![1.0, f64::NAN, 2.0, 3.0, 1.0, f64::NAN, 0.0, 5.0, -0.0, 5.0];
        let groups = exact(&data, 5, 2);
        assert_eq!(groups, vec![vec![0, 2], vec![3, 4]]);
        assert!(exact(&[], 0, 2).is_empty());
        assert_eq!(exact(&[], 3, 0), vec![vec![0, 1, 2]]);
    }

    #[test]
    fn near_pairs_found_and_far_rows_ignored() {
        let (mut f, _) = gaussian_clusters(3000, 12, 3, 9);
        // (12 columns: in fewer, 1000 rows per cluster have natural near neighbours.)
        // Row 2000 becomes row 10 plus a tiny change; row 2001 an exact copy of row 11.
        for j in 0..12 {
            f.data[2000 * 12 + j] = f.data[10 * 12 + j] + 0.001 * (j as f64);
            f.data[2001 * 12 + j] = f.data[11 * 12 + j];
        }
        let groups = exact(&f.data, 3000, 12);
        assert_eq!(groups, vec![vec![11, 2001]]);
        let mut group_of = vec![None; 3000];
        group_of[11] = Some(0);
        group_of[2001] = Some(0);
        let p = prepare(&f);
        let pairs = near(&p, 0.05, 4, &group_of);
        assert_eq!(pairs.len(), 1, "{pairs:?}");
        assert_eq!((pairs[0].0, pairs[0].1), (10, 2000));
        assert_eq!(pairs, near(&p, 0.05, 4, &group_of));
    }
}
