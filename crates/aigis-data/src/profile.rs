//! Reference profiles: per column, the type, null rate, range, quantiles, categories, and
//! the sketches they come from.
//!
//! A profile is built in one pass from batches ([`ColumnStats::add`]), and two partial
//! profiles of the same columns merge ([`ColumnStats::merge`]), so a big dataset can be
//! profiled in parallel or on several machines. The sketches are Apache DataSketches
//! (KLL for quantiles, HLL for distinct counts, frequent items for categories) in their
//! standard binary forms, base64 in the JSON, so the drift monitor — or any DataSketches
//! library in Java, C++ or Python — can read and merge them later.
//!
//! Types are inferred, not guessed from a few rows: every value is tried as each type,
//! and a column takes the narrowest type that at least [`TYPE_SHARE`] of its non-null
//! values have (so a reference file with a few bad rows still gets its real type, and a
//! scan then reports those rows).

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use datasketches::frequencies::{ErrorType, FrequentItemsSketch};
use datasketches::hll::{HllSketch, HllType, HllUnion};
use datasketches::kll::{KllFloat, KllSketch};
use serde::{Deserialize, Serialize};

use crate::Error;
use crate::table::{Batch, CellKind};

/// The profile format name, in every profile file.
pub const FORMAT: &str = "aigis/data-profile@v1";
/// The share of non-null values that must have a type for the column to take it.
pub const TYPE_SHARE: f64 = 0.99;
/// A column with at most this many distinct values (and few relative to its rows) is
/// categorical, and its categories become the allowed set.
pub const MAX_CATEGORIES: usize = 50;
/// The quantiles a profile lists.
pub const QUANTILES: [f64; 9] = [0.0, 0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99, 1.0];

const KLL_K: u16 = 200;
const HLL_LG_K: u8 = 12;
const FREQ_MAP: usize = 256;

/// A column's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ColumnType {
    Integer,
    Float,
    Boolean,
    Date,
    Datetime,
    Categorical,
    Text,
    Nested,
    /// Every value was null.
    Empty,
}

impl ColumnType {
    pub const fn as_str(self) -> &'static str {
        match self {
            ColumnType::Integer => "integer",
            ColumnType::Float => "float",
            ColumnType::Boolean => "boolean",
            ColumnType::Date => "date",
            ColumnType::Datetime => "datetime",
            ColumnType::Categorical => "categorical",
            ColumnType::Text => "text",
            ColumnType::Nested => "nested",
            ColumnType::Empty => "empty",
        }
    }

    /// Whether a (non-null) cell has this type.
    pub fn accepts(self, kind: CellKind, text: &str) -> bool {
        match self {
            ColumnType::Integer => is_integer(kind, text),
            ColumnType::Float => parse_number(kind, text).is_some(),
            ColumnType::Boolean => is_bool(kind, text),
            ColumnType::Date => is_date(text),
            ColumnType::Datetime => is_datetime(text) || is_date(text),
            ColumnType::Nested => kind == CellKind::Nested,
            ColumnType::Categorical | ColumnType::Text | ColumnType::Empty => true,
        }
    }

    /// Whether values of this type are numbers (ranges and quantiles apply).
    pub const fn is_numeric(self) -> bool {
        matches!(self, ColumnType::Integer | ColumnType::Float)
    }
}

/// One column of a profile.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ColumnProfile {
    pub name: String,
    #[serde(rename = "type")]
    pub column_type: ColumnType,
    pub count: u64,
    pub nulls: u64,
    pub null_rate: f64,
    /// Values that do not have the column's type (the reference's own bad rows).
    pub type_violations: u64,
    /// Estimated distinct non-null values (HLL).
    pub distinct: f64,
    /// For numeric columns: the smallest and largest value seen. A scan reports values
    /// outside; widen them by editing the profile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mean: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub std: Option<f64>,
    /// For numeric columns: [`QUANTILES`] → value (KLL, rank error about 1.3 %).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub quantiles: BTreeMap<String, f64>,
    /// For categorical columns: the allowed values and their frequencies (share of
    /// non-null values). A scan reports any other value.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub categories: BTreeMap<String, f64>,
    /// The most frequent values of any column, with counts (at most 10).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub top: Vec<(String, u64)>,
    pub sketches: Sketches,
}

/// The raw sketches, base64 of the Apache DataSketches serial forms.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Sketches {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kll_f64: Option<String>,
    pub hll: String,
    pub frequent_items: String,
}

/// A dataset's reference profile.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Profile {
    pub format: String,
    pub rows: u64,
    pub columns: Vec<ColumnProfile>,
}

impl Profile {
    /// Parses a profile file's bytes.
    pub fn from_json(bytes: &[u8]) -> Result<Self, Error> {
        let p: Profile = serde_json::from_slice(bytes)
            .map_err(|e| Error::Profile(format!("not a profile: {e}")))?;
        if p.format != FORMAT {
            return Err(Error::Profile(format!(
                "unknown format `{}` (expected `{FORMAT}`)",
                p.format
            )));
        }
        Ok(p)
    }

    pub fn column(&self, name: &str) -> Option<&ColumnProfile> {
        self.columns.iter().find(|c| c.name == name)
    }
}

/// Mergeable statistics of one column.
#[derive(Debug, Clone)]
pub struct ColumnStats {
    pub name: String,
    count: u64,
    nulls: u64,
    ints: u64,
    numbers: u64,
    bools: u64,
    dates: u64,
    datetimes: u64,
    nested: u64,
    sum: f64,
    sum_sq: f64,
    kll: KllSketch<KllFloat<f64>>,
    hll: HllSketch,
    freq: FrequentItemsSketch<String>,
}

impl ColumnStats {
    pub fn new(name: &str) -> Result<Self, Error> {
        Ok(Self {
            name: name.to_owned(),
            count: 0,
            nulls: 0,
            ints: 0,
            numbers: 0,
            bools: 0,
            dates: 0,
            datetimes: 0,
            nested: 0,
            sum: 0.0,
            sum_sq: 0.0,
            kll: KllSketch::new(KLL_K).map_err(sketch_error)?,
            hll: HllSketch::new(HLL_LG_K, HllType::Hll8).map_err(sketch_error)?,
            freq: FrequentItemsSketch::new(FREQ_MAP).map_err(sketch_error)?,
        })
    }

    /// Adds one cell.
    pub fn add(&mut self, kind: CellKind, text: &str) {
        self.count += 1;
        if kind == CellKind::Null {
            self.nulls += 1;
            return;
        }
        if kind == CellKind::Nested {
            self.nested += 1;
        } else if let Some(x) = parse_number(kind, text) {
            self.numbers += 1;
            if is_integer(kind, text) {
                self.ints += 1;
            }
            if let Ok(v) = KllFloat::<f64>::new(x)
                && x.is_finite()
            {
                self.kll.update(v);
                self.sum += x;
                self.sum_sq += x * x;
            }
        } else if is_bool(kind, text) {
            self.bools += 1;
        } else if is_date(text) {
            self.dates += 1;
        } else if is_datetime(text) {
            self.datetimes += 1;
        }
        self.hll.update(text);
        self.freq.update_ref(text);
    }

    /// Adds the column called `self.name` of a batch (nulls if the batch lacks it).
    pub fn add_batch(&mut self, batch: &Batch) {
        match batch.column(&self.name) {
            Some(column) => column.iter().for_each(|c| self.add(c.kind, c.text)),
            None => {
                self.count += batch.rows as u64;
                self.nulls += batch.rows as u64;
            }
        }
    }

    /// Merges another column's statistics into this one.
    pub fn merge(&mut self, other: &ColumnStats) -> Result<(), Error> {
        self.count += other.count;
        self.nulls += other.nulls;
        self.ints += other.ints;
        self.numbers += other.numbers;
        self.bools += other.bools;
        self.dates += other.dates;
        self.datetimes += other.datetimes;
        self.nested += other.nested;
        self.sum += other.sum;
        self.sum_sq += other.sum_sq;
        self.kll
            .merge(&other.kll)
            .map_err(|e| Error::Profile(format!("merging quantile sketches: {e}")))?;
        let mut union = HllUnion::new(HLL_LG_K)
            .map_err(|e| Error::Profile(format!("merging distinct-count sketches: {e}")))?;
        union.update(&self.hll);
        union.update(&other.hll);
        self.hll = union.to_sketch(HllType::Hll8);
        self.freq.merge(&other.freq);
        Ok(())
    }

    /// The inferred type.
    pub fn column_type(&self) -> ColumnType {
        let non_null = self.count - self.nulls;
        if non_null == 0 {
            return ColumnType::Empty;
        }
        let share = |n: u64| n as f64 / non_null as f64 >= TYPE_SHARE;
        let distinct = self.hll.estimate();
        if share(self.nested) {
            ColumnType::Nested
        } else if share(self.bools) {
            ColumnType::Boolean
        } else if share(self.ints) {
            ColumnType::Integer
        } else if share(self.numbers) {
            ColumnType::Float
        } else if share(self.dates) {
            ColumnType::Date
        } else if share(self.dates + self.datetimes) {
            ColumnType::Datetime
        } else if distinct <= MAX_CATEGORIES as f64 + 0.5 && distinct * 10.0 <= non_null as f64 {
            ColumnType::Categorical
        } else {
            ColumnType::Text
        }
    }

    /// The column's profile.
    pub fn finish(&self) -> ColumnProfile {
        let column_type = self.column_type();
        let non_null = self.count - self.nulls;
        let conforming = match column_type {
            ColumnType::Integer => self.ints,
            ColumnType::Float => self.numbers,
            ColumnType::Boolean => self.bools,
            ColumnType::Date => self.dates,
            ColumnType::Datetime => self.dates + self.datetimes,
            ColumnType::Nested => self.nested,
            _ => non_null,
        };
        let mut quantiles = BTreeMap::new();
        let (mut min, mut max, mut mean, mut std) = (None, None, None, None);
        let numeric_n = self.kll.n();
        if column_type.is_numeric() && numeric_n > 0 {
            for q in QUANTILES {
                if let Ok(Some(v)) = self
                    .kll
                    .quantile(q, datasketches::common::SearchCriteria::Inclusive)
                {
                    quantiles.insert(format!("{q}"), v.into_inner());
                }
            }
            min = self.kll.min_item().map(|v| v.into_inner());
            max = self.kll.max_item().map(|v| v.into_inner());
            let n = numeric_n as f64;
            let m = self.sum / n;
            mean = Some(m);
            std = Some((self.sum_sq / n - m * m).max(0.0).sqrt());
        }
        let rows = self.freq.frequent_items(ErrorType::NoFalsePositives);
        let top: Vec<(String, u64)> = rows
            .iter()
            .take(10)
            .map(|r| (r.item().clone(), r.estimate()))
            .collect();
        let mut categories = BTreeMap::new();
        if column_type == ColumnType::Categorical && non_null > 0 {
            for r in self.freq.frequent_items(ErrorType::NoFalseNegatives) {
                categories.insert(r.item().clone(), r.estimate() as f64 / non_null as f64);
            }
        }
        ColumnProfile {
            name: self.name.clone(),
            column_type,
            count: self.count,
            nulls: self.nulls,
            null_rate: if self.count == 0 {
                0.0
            } else {
                self.nulls as f64 / self.count as f64
            },
            type_violations: non_null.saturating_sub(conforming),
            distinct: self.hll.estimate().round(),
            min,
            max,
            mean,
            std,
            quantiles,
            categories,
            top,
            sketches: Sketches {
                kll_f64: (numeric_n > 0).then(|| STANDARD.encode(self.kll.serialize())),
                hll: STANDARD.encode(self.hll.serialize()),
                frequent_items: STANDARD.encode(self.freq.serialize()),
            },
        }
    }
}

/// Statistics of every column of a table, built from batches in any order.
#[derive(Debug, Clone, Default)]
pub struct TableStats {
    rows: u64,
    columns: Vec<ColumnStats>,
}

impl TableStats {
    /// Adds a batch; a column first seen here counts as null in the rows before it.
    pub fn add_batch(&mut self, batch: &Batch) -> Result<(), Error> {
        for name in batch.names.iter() {
            if !self.columns.iter().any(|c| &c.name == name) {
                let mut stats = ColumnStats::new(name)?;
                stats.count = self.rows;
                stats.nulls = self.rows;
                self.columns.push(stats);
            }
        }
        for stats in &mut self.columns {
            stats.add_batch(batch);
        }
        self.rows += batch.rows as u64;
        Ok(())
    }

    /// Merges statistics of another part of the same table.
    pub fn merge(&mut self, other: &TableStats) -> Result<(), Error> {
        for theirs in &other.columns {
            match self.columns.iter_mut().find(|c| c.name == theirs.name) {
                Some(ours) => ours.merge(theirs)?,
                None => {
                    let mut stats = ColumnStats::new(&theirs.name)?;
                    stats.count = self.rows;
                    stats.nulls = self.rows;
                    stats.merge(theirs)?;
                    self.columns.push(stats);
                }
            }
        }
        for ours in &mut self.columns {
            if !other.columns.iter().any(|c| c.name == ours.name) {
                ours.count += other.rows;
                ours.nulls += other.rows;
            }
        }
        self.rows += other.rows;
        Ok(())
    }

    /// Puts the columns in the order of `names` (first batch order), others after.
    pub fn order_by(&mut self, names: &[String]) {
        self.columns.sort_by_key(|c| {
            names
                .iter()
                .position(|n| *n == c.name)
                .unwrap_or(usize::MAX)
        });
    }

    pub fn rows(&self) -> u64 {
        self.rows
    }

    pub fn columns(&self) -> &[ColumnStats] {
        &self.columns
    }

    /// The profile.
    pub fn finish(&self) -> Profile {
        Profile {
            format: FORMAT.to_owned(),
            rows: self.rows,
            columns: self.columns.iter().map(ColumnStats::finish).collect(),
        }
    }
}

fn sketch_error(e: impl std::fmt::Display) -> Error {
    Error::Profile(format!("sketch: {e}"))
}

/// The number in a cell, if it is one: a JSON/Parquet number, or text that reads as a
/// decimal number (not `inf` or `nan`, which Rust's parser would accept).
pub fn parse_number(kind: CellKind, text: &str) -> Option<f64> {
    match kind {
        CellKind::Number => text.parse().ok(),
        CellKind::Text => {
            let t = text.trim();
            let first = t.as_bytes().first()?;
            if !(first.is_ascii_digit() || matches!(first, b'-' | b'+' | b'.')) {
                return None;
            }
            if t.bytes()
                .any(|b| b.is_ascii_alphabetic() && b != b'e' && b != b'E')
            {
                return None;
            }
            t.parse().ok()
        }
        _ => None,
    }
}

/// Whether a cell is a whole number (`12`, `-3`, `+7`; JSON `3.0` is not).
pub fn is_integer(kind: CellKind, text: &str) -> bool {
    if !matches!(kind, CellKind::Number | CellKind::Text) {
        return false;
    }
    let t = text.trim();
    let digits = t.strip_prefix(['-', '+']).unwrap_or(t);
    !digits.is_empty() && digits.len() <= 19 && digits.bytes().all(|b| b.is_ascii_digit())
}

/// `true`/`false` in any case, or a boolean the format typed.
pub fn is_bool(kind: CellKind, text: &str) -> bool {
    kind == CellKind::Bool
        || (kind == CellKind::Text
            && (text.eq_ignore_ascii_case("true") || text.eq_ignore_ascii_case("false")))
}

/// An ISO 8601 calendar date, `YYYY-MM-DD`, with a real month and day.
pub fn is_date(text: &str) -> bool {
    let b = text.as_bytes();
    if b.len() != 10 || b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') {
        return false;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        let part = text.get(r)?;
        part.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| part.parse().ok())
            .flatten()
    };
    let (Some(y), Some(m), Some(d)) = (num(0..4), num(5..7), num(8..10)) else {
        return false;
    };
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    (1..=days).contains(&d)
}

/// A date and a time: `YYYY-MM-DD[T ]HH:MM[:SS[.fff]]` with an optional `Z` or offset.
pub fn is_datetime(text: &str) -> bool {
    let (Some(date), Some(sep), Some(time)) = (text.get(..10), text.get(10..11), text.get(11..))
    else {
        return false;
    };
    if !is_date(date) || !(sep == "T" || sep == " ") {
        return false;
    }
    let time = time
        .strip_suffix('Z')
        .or_else(|| {
            let cut = time.rfind(['+', '-'])?;
            (cut >= 5).then(|| time.get(..cut)).flatten()
        })
        .unwrap_or(time);
    let b = time.as_bytes();
    let two = |i: usize, max: u8| -> bool {
        match (b.get(i), b.get(i + 1)) {
            (Some(x), Some(y)) if x.is_ascii_digit() && y.is_ascii_digit() => {
                (x - b'0') * 10 + (y - b'0') <= max
            }
            _ => false,
        }
    };
    if b.len() < 5 || !two(0, 23) || b.get(2) != Some(&b':') || !two(3, 59) {
        return false;
    }
    match b.get(5) {
        None => true,
        Some(b':') => {
            two(6, 60)
                && match b.get(8) {
                    None => true,
                    Some(b'.') => b.len() > 9 && b.iter().skip(9).all(u8::is_ascii_digit),
                    _ => false,
                }
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::{Column, ReadOptions};
    use std::sync::Arc;

    fn batch(names: &[&str], rows: &[&[&str]]) -> Batch {
        let mut columns: Vec<Column> = names.iter().map(|_| Column::default()).collect();
        for row in rows {
            for (c, v) in columns.iter_mut().zip(row.iter()) {
                if crate::table::is_null_marker(v) {
                    c.push_null();
                } else {
                    c.push(CellKind::Text, v);
                }
            }
        }
        Batch {
            names: Arc::from(names.iter().map(|s| s.to_string()).collect::<Vec<_>>()),
            first_row: 1,
            rows: rows.len(),
            columns,
            issues: Vec::new(),
            input_bytes: 0,
        }
    }

    #[test]
    fn infers_types_and_statistics() {
        let mut rows: Vec<Vec<String>> = Vec::new();
        for i in 0..1000 {
            rows.push(vec![
                i.to_string(),
                format!("{}.5", i % 7),
                ["red", "green", "blue"][i % 3].to_string(),
                format!("2026-01-{:02}", i % 28 + 1),
                if i % 10 == 0 {
                    String::new()
                } else {
                    format!("note {i} about things")
                },
                if i % 2 == 0 {
                    "true".into()
                } else {
                    "false".into()
                },
            ]);
        }
        rows[5][0] = "oops".into(); // one bad integer stays under 1 %
        let rows_ref: Vec<Vec<&str>> = rows
            .iter()
            .map(|r| r.iter().map(String::as_str).collect())
            .collect();
        let rows_ref: Vec<&[&str]> = rows_ref.iter().map(Vec::as_slice).collect();
        let names = ["id", "x", "colour", "day", "note", "flag"];
        let mut stats = TableStats::default();
        stats.add_batch(&batch(&names, &rows_ref[..400])).unwrap();
        let mut other = TableStats::default();
        other.add_batch(&batch(&names, &rows_ref[400..])).unwrap();
        stats.merge(&other).unwrap();
        let p = stats.finish();
        let types: Vec<_> = p.columns.iter().map(|c| c.column_type).collect();
        assert_eq!(
            types,
            [
                ColumnType::Integer,
                ColumnType::Float,
                ColumnType::Categorical,
                ColumnType::Date,
                ColumnType::Text,
                ColumnType::Boolean
            ]
        );
        let id = p.column("id").unwrap();
        assert_eq!(id.type_violations, 1);
        assert_eq!(id.max, Some(999.0));
        assert!((id.quantiles["0.5"] - 500.0).abs() < 30.0);
        assert!((id.distinct - 1000.0).abs() < 40.0);
        let colour = p.column("colour").unwrap();
        assert_eq!(colour.categories.len(), 3);
        assert!((colour.categories["red"] - 0.334).abs() < 0.01);
        assert!((p.column("note").unwrap().null_rate - 0.1).abs() < 1e-9);
        // The sketches survive a round trip through JSON and merge again.
        let json = serde_json::to_vec(&p).unwrap();
        let back = Profile::from_json(&json).unwrap();
        let kll = STANDARD
            .decode(back.column("x").unwrap().sketches.kll_f64.as_ref().unwrap())
            .unwrap();
        let sketch = KllSketch::<KllFloat<f64>>::deserialize(&kll).unwrap();
        assert_eq!(sketch.n(), 1000);
        let _ = ReadOptions::default();
    }

    #[test]
    fn late_columns_count_earlier_rows_as_null() {
        let mut stats = TableStats::default();
        stats.add_batch(&batch(&["a"], &[&["1"], &["2"]])).unwrap();
        stats
            .add_batch(&batch(&["a", "b"], &[&["3", "x"]]))
            .unwrap();
        let p = stats.finish();
        assert_eq!(p.column("b").unwrap().nulls, 2);
        assert_eq!(p.column("b").unwrap().count, 3);
    }

    #[test]
    fn value_forms() {
        assert!(is_date("2024-02-29") && !is_date("2023-02-29") && !is_date("2024-13-01"));
        assert!(is_datetime("2026-11-23T10:15:00Z") && is_datetime("2026-11-23 10:15"));
        assert!(is_datetime("2026-11-23T10:15:00.123+02:00"));
        assert!(!is_datetime("2026-11-23T25:00") && !is_datetime("2026-11-23"));
        assert!(is_integer(CellKind::Text, "-12") && !is_integer(CellKind::Text, "1.0"));
        assert_eq!(parse_number(CellKind::Text, "1e3"), Some(1000.0));
        assert_eq!(parse_number(CellKind::Text, "inf"), None);
        assert_eq!(parse_number(CellKind::Text, "12 apples"), None);
        assert!(is_bool(CellKind::Text, "TRUE") && !is_bool(CellKind::Text, "1"));
    }
}
