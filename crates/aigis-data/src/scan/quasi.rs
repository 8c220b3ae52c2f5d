//! Quasi-identifiers: columns that are not personal data one by one (a date of birth, a
//! sex, a postal code, an age, a race) but that together single people out. For each
//! set of candidate columns this counts, over the rows, the groups of rows that share
//! the same values: the share of rows alone in their group (re-identifiable by anyone who
//! knows those few facts about a person), and the smallest group, `k` as in
//! k-anonymity (Sweeney, 2002).
//!
//! Workers hash each candidate cell (64 bits) row by row; at the end, each set's hashes
//! are combined per row, sorted, and the runs counted. Memory: 8 bytes per candidate
//! cell of the first [`MAX_ROWS`] rows.

use std::hash::{DefaultHasher, Hash, Hasher};

use serde::Serialize;

use crate::table::{Batch, CellKind};

/// Rows looked at (the first ones); the report says how many.
pub const MAX_ROWS: u64 = 500_000;
/// Candidate columns at most (sets of up to 3 of them, and all of them, are counted).
pub const MAX_CANDIDATES: usize = 8;
/// A set is reported as identifying when at least this share of rows is unique under it.
pub const IDENTIFYING: f64 = 0.5;

/// A column taken as a quasi-identifier, and why.
#[derive(Debug, Clone, Serialize)]
pub struct Candidate {
    pub column: String,
    /// `date of birth`, `postal code`, `sex`, `age`, …
    pub reason: String,
}

/// How identifying one set of columns is.
#[derive(Debug, Clone, Serialize)]
pub struct QuasiSet {
    pub columns: Vec<String>,
    /// Rows that no other row shares these values with.
    pub unique_rows: u64,
    /// `unique_rows` / rows.
    pub unique_share: f64,
    /// The smallest group of rows sharing these values (k-anonymity's k).
    pub k: u64,
    /// Distinct combinations of values.
    pub groups: u64,
}

/// The quasi-identifier part of a scan report.
#[derive(Debug, Clone, Serialize)]
pub struct QuasiIdentifiers {
    /// Rows counted (the first [`MAX_ROWS`] at most).
    pub rows: u64,
    pub candidates: Vec<Candidate>,
    /// Every candidate together (the one candidate, when there is one), then the smallest sets that
    /// make at least half the rows unique; when none does, the three most identifying
    /// sets. Most identifying first.
    pub sets: Vec<QuasiSet>,
}

impl QuasiIdentifiers {
    /// The set to warn about: the smallest of those that make the most rows unique.
    pub fn worst(&self) -> Option<&QuasiSet> {
        self.sets.iter().max_by(|a, b| {
            a.unique_share
                .total_cmp(&b.unique_share)
                .then(b.columns.len().cmp(&a.columns.len()))
        })
    }
}

/// What one worker hashed: (first row, row-major hashes of the candidate cells).
#[derive(Debug, Default)]
pub(crate) struct Gathered {
    chunks: Vec<(u64, Vec<u64>)>,
}

impl Gathered {
    pub fn add(&mut self, batch: &Batch, candidates: &[String]) {
        if candidates.is_empty() || batch.first_row > MAX_ROWS {
            return;
        }
        let rows = batch.rows.min((MAX_ROWS + 1 - batch.first_row) as usize);
        let columns: Vec<_> = candidates.iter().map(|c| batch.column(c)).collect();
        let mut out = Vec::with_capacity(rows * candidates.len());
        for i in 0..rows {
            for column in &columns {
                let mut h = DefaultHasher::new();
                match column.and_then(|c| c.get(i)) {
                    Some(cell) if cell.kind != CellKind::Null => cell.text.trim().hash(&mut h),
                    // Missing values form a group of their own.
                    _ => 0xA1u8.hash(&mut h),
                }
                out.push(h.finish());
            }
        }
        self.chunks.push((batch.first_row, out));
    }
}

/// Counts the sets over every worker's hashes. `None` without candidates or rows.
pub(crate) fn compute(
    parts: Vec<Gathered>,
    candidates: Vec<Candidate>,
) -> Option<QuasiIdentifiers> {
    let width = candidates.len();
    if width == 0 {
        return None;
    }
    let mut chunks: Vec<(u64, Vec<u64>)> = parts.into_iter().flat_map(|p| p.chunks).collect();
    chunks.sort_by_key(|(first, _)| *first);
    let cells: Vec<u64> = chunks.into_iter().flat_map(|(_, v)| v).collect();
    let rows = cells.len() / width;
    if rows == 0 {
        return None;
    }
    let mut subsets: Vec<Vec<usize>> = Vec::new();
    for a in 0..width {
        subsets.push(vec![a]);
        for b in a + 1..width {
            subsets.push(vec![a, b]);
            for c in b + 1..width {
                subsets.push(vec![a, b, c]);
            }
        }
    }
    if width > 3 {
        subsets.push((0..width).collect());
    }
    let mut combined = vec![0u64; rows];
    let mut measured: Vec<(Vec<usize>, QuasiSet)> = Vec::with_capacity(subsets.len());
    for set in subsets {
        for (r, out) in combined.iter_mut().enumerate() {
            let mut h = 0xcbf2_9ce4_8422_2325u64;
            for &c in &set {
                let x = cells.get(r * width + c).copied().unwrap_or(0);
                h = (h ^ x).wrapping_mul(0x0000_0100_0000_01b3).rotate_left(29);
            }
            *out = h;
        }
        combined.sort_unstable();
        let (mut unique, mut groups, mut k) = (0u64, 0u64, u64::MAX);
        let mut i = 0;
        while i < rows {
            let v = combined.get(i).copied();
            let mut j = i + 1;
            while j < rows && combined.get(j).copied() == v {
                j += 1;
            }
            let size = (j - i) as u64;
            groups += 1;
            unique += u64::from(size == 1);
            k = k.min(size);
            i = j;
        }
        let names = set
            .iter()
            .filter_map(|&c| candidates.get(c).map(|x| x.column.clone()))
            .collect();
        measured.push((
            set,
            QuasiSet {
                columns: names,
                unique_rows: unique,
                unique_share: unique as f64 / rows as f64,
                k,
                groups,
            },
        ));
    }
    let identifying = |m: &(Vec<usize>, QuasiSet)| m.1.unique_share >= IDENTIFYING;
    // The smallest identifying sets: identifying, and no identifying set inside them.
    let minimal: Vec<&(Vec<usize>, QuasiSet)> = measured
        .iter()
        .filter(|m| identifying(m))
        .filter(|m| {
            !measured.iter().any(|o| {
                identifying(o) && o.0.len() < m.0.len() && o.0.iter().all(|c| m.0.contains(c))
            })
        })
        .collect();
    let mut sets: Vec<QuasiSet> = Vec::new();
    if let Some(all) = measured.iter().find(|m| m.0.len() == width) {
        sets.push(all.1.clone());
    }
    let mut picked: Vec<&(Vec<usize>, QuasiSet)> = if minimal.is_empty() {
        let mut by_share: Vec<_> = measured.iter().filter(|m| m.0.len() < width).collect();
        by_share.sort_by(|a, b| b.1.unique_share.total_cmp(&a.1.unique_share));
        by_share.into_iter().take(3).collect()
    } else {
        let mut m = minimal;
        m.sort_by(|a, b| {
            a.0.len()
                .cmp(&b.0.len())
                .then(b.1.unique_share.total_cmp(&a.1.unique_share))
        });
        m.into_iter().take(5).collect()
    };
    picked.retain(|m| m.0.len() < width);
    sets.extend(picked.into_iter().map(|m| m.1.clone()));
    sets.sort_by(|a, b| {
        b.unique_share
            .total_cmp(&a.unique_share)
            .then(a.columns.len().cmp(&b.columns.len()))
    });
    Some(QuasiIdentifiers {
        rows: rows as u64,
        candidates,
        sets,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::{ReadOptions, open};

    fn run(csv: &str, candidates: &[&str]) -> QuasiIdentifiers {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.csv");
        std::fs::write(&path, csv).unwrap();
        let names: Vec<String> = candidates.iter().map(|s| s.to_string()).collect();
        let mut g = Gathered::default();
        for batch in open(&path, None, &ReadOptions::default()).unwrap() {
            g.add(&batch.unwrap(), &names);
        }
        let c = names
            .iter()
            .map(|n| Candidate {
                column: n.clone(),
                reason: n.clone(),
            })
            .collect();
        compute(vec![g], c).unwrap()
    }

    #[test]
    fn counts_unique_rows_and_k() {
        // sex alone: groups of 3 and 3; sex + zip: (F,1) ×2, (F,2), (M,1), (M,2) ×2.
        let q = run(
            "sex,zip,age\nF,1,30\nF,1,31\nF,2,32\nM,1,33\nM,2,34\nM,2,35\n",
            &["sex", "zip"],
        );
        assert_eq!(q.rows, 6);
        let all = &q.sets[0];
        assert_eq!(all.columns, ["sex", "zip"]);
        assert_eq!((all.unique_rows, all.k, all.groups), (2, 1, 4));
        assert!((all.unique_share - 2.0 / 6.0).abs() < 1e-12);
        // No set makes half the rows unique: the three most identifying are listed too.
        assert!(q.sets.iter().any(|s| s.columns == ["sex"] && s.k == 3));
        let q = run(
            "sex,zip,age\nF,1,30\nF,1,31\nF,2,32\nM,1,33\nM,2,34\nM,2,35\n",
            &["sex", "zip", "age"],
        );
        // Age alone makes every row unique: it is the smallest identifying set.
        assert_eq!(q.worst().unwrap().columns, ["age"]);
        assert_eq!(q.worst().unwrap().k, 1);
        assert!(
            !q.sets.iter().any(|s| s.columns == ["sex", "age"]),
            "not minimal"
        );
    }

    #[test]
    fn one_candidate_is_one_set() {
        let q = run("dob\n1950-01-01\n1950-01-01\n1960-02-02\n", &["dob"]);
        assert_eq!(q.sets.len(), 1);
        assert_eq!(q.sets[0].columns, ["dob"]);
        assert_eq!((q.sets[0].unique_rows, q.sets[0].k), (1, 1));
    }

    #[test]
    fn empty_cells_are_a_value() {
        let q = run("a,b\n,x\n,x\n1,y\n", &["a", "b"]);
        assert_eq!(q.sets[0].groups, 2);
        assert_eq!(q.sets[0].unique_rows, 1);
    }
}
