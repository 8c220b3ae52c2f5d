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
//! **Relative to the data's own spacing.** The `ε` cut is in robust σ of whole columns, so
//! on its own it mistakes ordinary neighbours for copies wherever rows are naturally packed
//! much tighter than a column's spread: in two tight, well-separated clusters, a column's
//! MAD measures the distance *between* the clusters and every row's neighbour inside its
//! cluster falls under `ε`. A copy, however, is close compared with how close rows
//! normally are. So a pair must also be within `nn_fraction` of the typical (median)
//! nearest-neighbour distance, estimated on a random sample of up to 1,000 rows through the
//! same LSH buckets (each sampled row against the rows it meets there, exact duplicates of
//! it excluded). Rows meeting no one within `ε √d / nn_fraction` count as that far, so on
//! sparse data (neighbours far beyond `ε`) the cut is `ε` as before, and the estimate costs
//! `O(1000 × 256 × d)` per table whatever `n`. The estimate errs high (hashing can miss a
//! row's true nearest neighbour), that is towards the plain `ε` cut.
//!
//! Misses: near duplicates that differ a lot in one column (they are not near in the
//! RMS sense), and a few percent of pairs right at the threshold (hashing is randomised);
//! in data where most rows are near copies of others (then near copies are the norm and
//! the typical spacing is tiny); and, in very low dimensions, a chance pair closer than
//! `nn_fraction` of the typical spacing can still be reported (about `nn_fraction^dim` of
//! rows: 0.1 % in three dimensions at 0.1).

use std::hash::{Hash as _, Hasher as _};

use rayon::prelude::*;

use super::prep::{Prepared, median, sample_indices};

const TABLES: usize = 3;
const PROJECTIONS: usize = 5;
const BUCKET_CAP: usize = 256;
const WINDOW: usize = 32;
/// Rows whose nearest candidate neighbour estimates the data's typical spacing.
const NN_SAMPLE: usize = 1000;

/// A row in one hash table: `(bucket key, first projection, row)`.
type Keyed = (u64, f64, usize);

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

/// Rows sampled per column to estimate how often values fall close to a given one.
const BASELINE_SAMPLE: usize = 20_000;
/// Of those, rows checked for a joint match (a third row as close as the pair).
const JOINT_SAMPLE: usize = 5_000;

/// The chance baseline of a near match: how many pairs in the table would match as closely
/// as a found pair does, column by column, if the columns were independent and each kept its
/// own distribution (`n(n−1)/2 × Π P(column within the pair's distance)`; over the whole
/// table, because a table of 30,000 rows holds 450 million pairs to find a close one in). In a table of few distinct values per column (ages, counts, codes),
/// close matches are common and this number is large; for a perturbed copy of a row in
/// continuous data it is tiny. Columns are in truth correlated, which makes natural
/// matches more likely than the product says, so the baseline errs towards reporting.
///
/// Because of those correlations (COMPAS repeats two of its columns, and its day counts move
/// together), a second estimate is taken too, jointly: how many sampled rows other than the
/// pair do match row `i` that closely in every column, scaled to the whole table. The
/// larger of the two is the baseline.
pub(crate) struct MatchBaseline {
    /// Per kept column, a sorted sample of its standardised values.
    sorted: Vec<Vec<f64>>,
    /// The sampled rows.
    rows: Vec<usize>,
}

impl MatchBaseline {
    pub fn new(data: &Prepared, seed: u64) -> Self {
        let mut rng = fastrand::Rng::with_seed(seed ^ 0x4D41_5443);
        let rows = sample_indices(&mut rng, data.n, BASELINE_SAMPLE);
        let columns: Vec<Vec<f64>> = (0..data.d)
            .map(|j| {
                rows.iter()
                    .filter_map(|&i| data.row(i).get(j).copied())
                    .collect()
            })
            .collect();
        // A column that repeats an earlier one (COMPAS ships two copies of its decile
        // score and of its prior count) says nothing new: counting it twice would square
        // its probability and call a chance match improbable.
        let sorted = columns
            .iter()
            .enumerate()
            .map(|(j, c)| {
                if columns.iter().take(j).any(|e| e == c) {
                    return Vec::new();
                }
                let mut v = c.clone();
                v.sort_unstable_by(f64::total_cmp);
                v
            })
            .collect();
        Self { sorted, rows }
    }

    /// Expected number of pairs in the whole table as close as rows `i` and `j`, column by
    /// column (within, in every column, the distance between `i` and `j`), by chance;
    /// infinite when a sampled third row is that close to `i` too (then the pair sits in a
    /// crowd of alike rows, not a copy). The joint check is skipped when the estimate is
    /// already `enough`.
    pub fn expected_matches(&self, data: &Prepared, i: usize, j: usize, enough: f64) -> f64 {
        let (a, b) = (data.row(i), data.row(j));
        let mut log_p = 0.0;
        for ((x, z), col) in a.iter().zip(b).zip(&self.sorted) {
            if col.is_empty() {
                continue;
            }
            let tol = (x - z).abs();
            let lo = col.partition_point(|v| *v < x - tol);
            let hi = col.partition_point(|v| *v <= x + tol);
            let m = col.len().max(1) as f64;
            // A value the sample never shows still has some chance: half a sampled row.
            let p = ((hi - lo) as f64).max(0.5) / m;
            log_p += p.min(1.0).ln();
        }
        let n = data.n as f64;
        let independent = n * (n - 1.0) / 2.0 * log_p.exp();
        if independent >= enough {
            return independent;
        }
        let joint = self
            .rows
            .iter()
            .take(JOINT_SAMPLE)
            .filter(|&&k| k != i && k != j)
            .any(|&k| {
                data.row(k)
                    .iter()
                    .zip(a.iter().zip(b))
                    .all(|(v, (x, z))| (v - x).abs() <= (x - z).abs())
            });
        if joint { f64::INFINITY } else { independent }
    }
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

/// Near duplicates and the cut that found them.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Near {
    /// Pairs `(i, j, rms distance)`, `i < j`.
    pub pairs: Vec<(usize, usize, f64)>,
    /// Median nearest-neighbour distance of the sampled rows (RMS per column, robust σ),
    /// capped at `ε / nn_fraction`.
    pub typical_rms: f64,
    /// The cut applied: `min(ε, nn_fraction × typical_rms)`.
    pub cut_rms: f64,
}

/// Near-duplicate rows that are not in the same exact group (`group_of[i]` is the index of
/// `i`'s exact group, if any): within `eps` RMS robust σ per column and within
/// `nn_fraction` of the typical nearest-neighbour distance (see the module notes).
pub(crate) fn near(
    data: &Prepared,
    eps: f64,
    nn_fraction: f64,
    seed: u64,
    group_of: &[Option<usize>],
) -> Near {
    let d = data.d;
    if d == 0 || data.n < 2 || eps <= 0.0 {
        return Near::default();
    }
    let same_group = |i: usize, j: usize| {
        matches!(
            (group_of.get(i), group_of.get(j)),
            (Some(Some(g)), Some(Some(h))) if g == h
        )
    };
    let root_d = (d as f64).sqrt();
    let radius = eps * root_d;
    let radius2 = radius * radius;
    let w = 8.0 * radius;
    // How far the spacing estimate needs to look: beyond `cap` the spacing no longer
    // tightens the cut. A fraction of 0 (or less) disables the spacing check.
    let cap = if nn_fraction > 0.0 {
        radius / nn_fraction
    } else {
        f64::INFINITY
    };
    let sample: Vec<usize> = if cap.is_finite() {
        let mut s = sample_indices(
            &mut fastrand::Rng::with_seed(seed ^ 0x4E4E),
            data.n,
            NN_SAMPLE,
        );
        s.sort_unstable();
        s
    } else {
        Vec::new()
    };
    let mut nearest2 = vec![cap * cap; sample.len()];
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut pairs = Vec::new();
    for _ in 0..TABLES {
        let planes: Vec<(Vec<f64>, f64)> = (0..PROJECTIONS)
            .map(|_| {
                let a = (0..d).map(|_| gauss(&mut rng)).collect();
                (a, rng.f64() * w)
            })
            .collect();
        let mut keyed: Vec<Keyed> = data
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
        nearest_candidates(data, &keyed, &sample, &mut nearest2, &same_group);
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
                        if same_group(i, j) {
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
                            out.push((i.min(j), i.max(j), dist / root_d));
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
    let mut spacing: Vec<f64> = nearest2.iter().map(|v| v.sqrt()).collect();
    let typical = median(&mut spacing).unwrap_or(cap);
    let cut_rms = if typical.is_finite() {
        eps.min(nn_fraction * typical / root_d)
    } else {
        eps
    };
    pairs.retain(|p| p.2 <= cut_rms);
    Near {
        pairs,
        typical_rms: typical / root_d,
        cut_rms,
    }
}

/// Lowers `nearest2[s]` (squared distance) to the nearest row that sampled row `sample[s]`
/// meets in this table's buckets: the whole bucket when it is small, else the `WINDOW`
/// rows either side along the first projection (as the pair search does).
fn nearest_candidates(
    data: &Prepared,
    keyed: &[Keyed],
    sample: &[usize],
    nearest2: &mut [f64],
    same_group: &(dyn Fn(usize, usize) -> bool + Sync),
) {
    if sample.is_empty() {
        return;
    }
    // (sample slot, bucket, position in the bucket) of every sampled row.
    let mut found: Vec<(usize, &[Keyed], usize)> = Vec::with_capacity(sample.len());
    for run in keyed.chunk_by(|a, b| a.0 == b.0) {
        for (pos, &(_, _, i)) in run.iter().enumerate() {
            if let Ok(s) = sample.binary_search(&i) {
                found.push((s, run, pos));
            }
        }
    }
    let best: Vec<(usize, f64)> = found
        .par_iter()
        .map(|&(s, run, pos)| {
            let (lo, hi) = if run.len() <= BUCKET_CAP {
                (0, run.len())
            } else {
                (
                    pos.saturating_sub(WINDOW),
                    (pos + WINDOW + 1).min(run.len()),
                )
            };
            let i = run.get(pos).map_or(usize::MAX, |r| r.2);
            let mut best = nearest2.get(s).copied().unwrap_or(0.0);
            for &(_, _, j) in run.get(lo..hi).unwrap_or(&[]) {
                if j == i || same_group(i, j) {
                    continue;
                }
                let mut dist2 = 0.0;
                for (u, v) in data.row(i).iter().zip(data.row(j)) {
                    dist2 += (u - v) * (u - v);
                    if dist2 >= best {
                        break;
                    }
                }
                best = best.min(dist2);
            }
            (s, best)
        })
        .collect();
    for (s, b) in best {
        if let Some(slot) = nearest2.get_mut(s) {
            *slot = slot.min(b);
        }
    }
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
        let found = near(&p, 0.05, 0.1, 4, &group_of);
        let pairs = &found.pairs;
        assert_eq!(pairs.len(), 1, "{pairs:?}");
        assert_eq!((pairs[0].0, pairs[0].1), (10, 2000));
        assert_eq!(found, near(&p, 0.05, 0.1, 4, &group_of));
        // Rows here are typically ~0.3 σ apart (RMS): the copy is far closer than that.
        assert!(
            found.typical_rms > 0.2 && found.cut_rms <= 0.05,
            "{found:?}"
        );
    }

    #[test]
    fn tight_clusters_have_no_natural_near_duplicates() {
        // Two tight clusters far apart in 3 columns: each column's MAD measures the gap
        // between the clusters, so neighbours inside a cluster are within 0.05 robust σ.
        let mut rng = fastrand::Rng::with_seed(3);
        let n = 2000;
        let mut data: Vec<f64> = (0..n)
            .flat_map(|i| {
                let c = if i % 2 == 0 { 0.0 } else { 10.0 };
                [
                    c + rng.f64() - 0.5,
                    c + rng.f64() - 0.5,
                    c + rng.f64() - 0.5,
                ]
            })
            .collect();
        // Row 7 becomes row 3 plus a tiny change.
        for j in 0..3 {
            data[7 * 3 + j] = data[3 * 3 + j] + 1e-4;
        }
        let f = super::super::Features {
            n_rows: n,
            n_cols: 3,
            data,
            names: Vec::new(),
        };
        let found = near(&prepare(&f), 0.05, 0.1, 4, &vec![None; n]);
        // The copy, and at most a chance pair or two (about 0.1³ of rows in 3 columns).
        assert!(
            found.pairs.iter().any(|p| (p.0, p.1) == (3, 7)),
            "{found:?}"
        );
        assert!(found.pairs.len() <= 4, "{found:?}");
        assert!(found.cut_rms < 0.005, "{found:?}");
        // Without the spacing check, most rows have a "near duplicate".
        assert!(near(&prepare(&f), 0.05, 0.0, 4, &vec![None; n]).pairs.len() > n / 2);
    }
}
