//! Per-feature extremeness: a cell far beyond everything else in its column.
//!
//! An isolation forest splits on a random column at each node, so a row that is extreme in
//! one column out of 64 is isolated only by the few trees that happen to split on that
//! column: its score is diluted by the other 63 ordinary columns. This score is not: each
//! cell is compared with its own column, and a row's score is its largest over the columns.
//!
//! Per column, the bulk is the range between its 1st and 99th percentiles, `[q₀₁, q₉₉]`
//! (leaving out at least 10 rows at each end, at most a quarter, so that on a small table a
//! few planted extremes are not the percentile itself), and its spread is `q₉₉ − q₀₁` (for
//! a sparse column whose percentiles meet, the 0.1th to 99.9th, then the whole range). A
//! cell above the bulk scores `(x − q₉₉) / spread`, below it `(q₀₁ − x) / spread`, inside 0:
//! how many bulk-widths beyond the column's own tail the value lies. The percentiles ignore
//! the rows beyond them, so a few planted extremes cannot widen the yardstick that measures
//! them, and a heavy-tailed column (incomes, counts) has a wide bulk and needs a value far
//! out indeed.
//!
//! A value that many rows share (at least [`min_repeat`] of them) is not isolated, however
//! far out: it is a sentinel or a cap (UCI Adult's capital gain of 99,999 in 159 rows), a
//! mode of the data. Rows carrying it are left to the forest.

use std::collections::HashMap;

use rayon::prelude::*;

use super::prep::Prepared;

/// A column's bulk: its 1st and 99th percentiles and the spread that measures distance.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Bulk {
    pub lo: f64,
    pub hi: f64,
    pub spread: f64,
}

impl Bulk {
    /// How many spreads `x` lies beyond the bulk (0 inside).
    pub fn score(&self, x: f64) -> f64 {
        if x > self.hi {
            (x - self.hi) / self.spread
        } else if x < self.lo {
            (self.lo - x) / self.spread
        } else {
            0.0
        }
    }
}

/// Rows sharing one value, beyond which it is a mode of the data rather than an outlier.
pub(crate) fn min_repeat(n: usize) -> usize {
    (n / 1000).max(5)
}

/// Each kept column's bulk (`None` for a column whose values all but coincide).
pub(crate) fn bulks(data: &Prepared) -> Vec<Option<Bulk>> {
    let d = data.d;
    (0..d)
        .into_par_iter()
        .map(|j| {
            let mut column: Vec<f64> = data.rows().filter_map(|r| r.get(j).copied()).collect();
            let n = column.len();
            if n < 2 {
                return None;
            }
            let mut at = |k: usize| -> f64 {
                let k = k.min(n - 1);
                let (_, v, _) = column.select_nth_unstable_by(k, f64::total_cmp);
                *v
            };
            // Rows left out at each end: 1 % (at least 10, at most a quarter), then 0.1 %
            // (at least 1), then none.
            let ranks = [
                n.div_ceil(100).max(10).min(n / 4),
                n.div_ceil(1000).max(1).min(n / 4),
                0,
            ];
            for k in ranks {
                let (lo, hi) = (at(k), at(n - 1 - k));
                if hi > lo {
                    return Some(Bulk {
                        lo,
                        hi,
                        spread: hi - lo,
                    });
                }
            }
            None
        })
        .collect()
}

/// Per row with at least one cell scoring `cut` or more (values shared by
/// [`min_repeat`] rows or more left out): `(row, [(kept column, score)])`, strongest cell
/// first, rows ascending.
pub(crate) fn extreme_rows(
    data: &Prepared,
    bulks: &[Option<Bulk>],
    cut: f64,
) -> Vec<(usize, Vec<(usize, f64)>)> {
    let cells: Vec<(usize, usize, f64, f64)> = data
        .z
        .par_chunks(data.d.max(1))
        .enumerate()
        .flat_map_iter(|(i, row)| {
            row.iter()
                .zip(bulks)
                .enumerate()
                .filter_map(move |(j, (&x, b))| {
                    let s = b.as_ref().map_or(0.0, |b| b.score(x));
                    (s >= cut).then_some((i, j, x, s))
                })
                .collect::<Vec<_>>()
        })
        .collect();
    let mut repeats: HashMap<(usize, u64), usize> = HashMap::new();
    for &(_, j, x, _) in &cells {
        *repeats.entry((j, x.to_bits())).or_insert(0) += 1;
    }
    let limit = min_repeat(data.n);
    let mut rows: Vec<(usize, Vec<(usize, f64)>)> = Vec::new();
    for (i, j, x, s) in cells {
        if repeats.get(&(j, x.to_bits())).copied().unwrap_or(0) >= limit {
            continue;
        }
        match rows.last_mut() {
            Some((r, list)) if *r == i => list.push((j, s)),
            _ => rows.push((i, vec![(j, s)])),
        }
    }
    for (_, list) in &mut rows {
        list.sort_by(|a, b| b.1.total_cmp(&a.1));
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::super::prep::prepare;
    use super::*;
    use crate::poison::Features;

    fn gauss(rng: &mut fastrand::Rng) -> f64 {
        super::super::duplicates::gauss(rng)
    }

    #[test]
    fn one_extreme_cell_in_64_columns_is_found() {
        let (n, d) = (1500, 64);
        let mut rng = fastrand::Rng::with_seed(3);
        let mut data: Vec<f64> = (0..n * d).map(|_| gauss(&mut rng)).collect();
        data[700 * d + 41] = 40.0;
        let f = Features {
            n_rows: n,
            n_cols: d,
            data,
            names: Vec::new(),
        };
        let p = prepare(&f);
        let b = bulks(&p);
        let rows = extreme_rows(&p, &b, 2.0);
        assert_eq!(rows.len(), 1, "{rows:?}");
        assert_eq!(rows[0].0, 700);
        assert_eq!(rows[0].1[0].0, 41);
        assert!(rows[0].1[0].1 > 5.0, "{rows:?}");
    }

    #[test]
    fn a_shared_cap_is_a_mode_not_an_outlier() {
        // 1 % of rows at a far cap value (top-coding), one row far beyond on its own.
        let n = 3000;
        let mut rng = fastrand::Rng::with_seed(5);
        let mut data: Vec<f64> = (0..n).map(|_| gauss(&mut rng).abs() * 10.0).collect();
        for v in data.iter_mut().take(30) {
            *v = 9999.0;
        }
        data[100] = 123_456.0;
        let f = Features {
            n_rows: n,
            n_cols: 1,
            data,
            names: Vec::new(),
        };
        let p = prepare(&f);
        let rows = extreme_rows(&p, &bulks(&p), 2.0);
        let found: Vec<usize> = rows.iter().map(|r| r.0).collect();
        assert_eq!(found, vec![100]);
    }

    #[test]
    fn a_sparse_column_measures_with_its_wider_tail() {
        // A pixel that is 0 in 99.5 % of rows and up to 16 otherwise: its natural values
        // are not extreme, a value of 160 is.
        let n = 2000;
        let mut data = vec![0.0; n];
        for (k, i) in (0..n).step_by(200).enumerate() {
            data[i] = 4.0 + k as f64;
        }
        data[7] = 160.0;
        let f = Features {
            n_rows: n,
            n_cols: 1,
            data,
            names: Vec::new(),
        };
        let p = prepare(&f);
        let rows = extreme_rows(&p, &bulks(&p), 2.0);
        let found: Vec<usize> = rows.iter().map(|r| r.0).collect();
        assert_eq!(found, vec![7]);
    }
}
