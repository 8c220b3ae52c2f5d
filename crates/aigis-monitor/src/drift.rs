//! Drift between two tables, feature by feature: `aigis monitor drift REF CURRENT`.
//!
//! Each column is read whole from both files (CSV, JSON Lines or Parquet, through the
//! data stage's readers) and tested exactly:
//!
//! - a **numeric** column (at least 99 % of the reference's non-null values are
//!   numbers, the data stage's type rule) by the two-sample Kolmogorov–Smirnov test,
//!   with the population stability index and the Wasserstein distance beside it;
//! - a **categorical** one (anything else with at most [`MAX_CATEGORIES`] distinct
//!   values in the reference) by the chi-square test of homogeneity, with the PSI over
//!   categories;
//! - a column with more distinct text values than that (identifiers, free text) is not
//!   tested, and says so.
//!
//! Beside the values' test, a feature has the chi-square test of its missing values'
//! share (when anything is missing) and, when numeric, an exact test of the current
//! values beyond the reference's range ([`Range`]: a few extreme values move the
//! distribution functions too little for the KS test). A feature drifts when the
//! smallest of its tests' p-values times their number (Bonferroni) is below `alpha`,
//! or when a categorical feature's handful of categories became more than
//! [`MAX_CATEGORIES`]; the dataset drifts when the share of drifted features among those
//! with a verdict reaches `drift_share`. NaN and
//! infinities are left out of the tests and counted; a feature with no value left on
//! either side is "insufficient data", never "stable", and so is the dataset when such
//! a feature leaves it without drift on the others (name the features to compare with
//! `columns` to leave one out).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use aigis_data::table::{self, CellKind, Format, ReadOptions};
use serde::Serialize;

use crate::Error;
use crate::ks::{self, KsResult};
use crate::stats::{self, Chi2Result};

/// A non-numeric column with more distinct values than this in the reference is text,
/// not categories, and is not tested.
pub const MAX_CATEGORIES: usize = 1000;
/// The share of a column's non-null reference values that must be numbers for it to be
/// numeric (the data stage's [`aigis_data::profile::TYPE_SHARE`]).
pub const NUMERIC_SHARE: f64 = aigis_data::profile::TYPE_SHARE;

/// What to test and when to call it drift.
#[derive(Debug, Clone)]
pub struct Options {
    /// A feature drifts when its test's p-value is below this.
    pub alpha: f64,
    /// The dataset drifts when at least this share of the tested features drift.
    pub drift_share: f64,
    /// Bins of the numeric PSI (cut at the reference's quantiles).
    pub psi_bins: usize,
    /// Only these columns (each must be in both files); `None`: every column, and the
    /// two files must have the same ones.
    pub columns: Option<Vec<String>>,
    /// The files' format; `None`: from each file's name or content.
    pub format: Option<Format>,
    pub read: ReadOptions,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            alpha: 0.05,
            drift_share: 0.5,
            psi_bins: 10,
            columns: None,
            format: None,
            read: ReadOptions::default(),
        }
    }
}

/// A column's values as read from one file.
#[derive(Debug, Default, Clone)]
pub(crate) struct Values {
    /// The finite numbers, sorted once read.
    numbers: Vec<f64>,
    /// Every non-null value's text and count, until there are more than
    /// [`MAX_CATEGORIES`] distinct ones.
    texts: Option<BTreeMap<String, u64>>,
    nulls: u64,
    non_finite: u64,
    /// Non-null values that are not numbers.
    not_numbers: u64,
    rows: u64,
    /// A reference known only by its profile's quantile sketch (too many values for it
    /// to hold them all): `numbers` is then empty.
    sketch: Option<crate::sketch::Quantiles>,
}

impl Values {
    pub(crate) fn new() -> Self {
        Self {
            texts: Some(BTreeMap::new()),
            ..Self::default()
        }
    }

    /// The values of a profile's column: `numbers` or `sketch` for a numeric column,
    /// `texts` for categories.
    pub(crate) fn from_profile(
        rows: u64,
        nulls: u64,
        numbers: Vec<f64>,
        sketch: Option<crate::sketch::Quantiles>,
        texts: Option<BTreeMap<String, u64>>,
        not_numbers: u64,
    ) -> Self {
        Self {
            numbers,
            texts,
            nulls,
            non_finite: 0,
            not_numbers,
            rows,
            sketch,
        }
    }

    /// A column known by its counts and its finite numbers (sorted): what `--stream`
    /// keeps of the reference, and of the current data (without numbers).
    pub(crate) fn summary(
        rows: u64,
        nulls: u64,
        non_finite: u64,
        not_numbers: u64,
        numbers: Vec<f64>,
    ) -> Self {
        Self {
            numbers,
            texts: None,
            nulls,
            non_finite,
            not_numbers,
            rows,
            sketch: None,
        }
    }

    pub(crate) fn rows(&self) -> u64 {
        self.rows
    }

    pub(crate) fn nulls(&self) -> u64 {
        self.nulls
    }

    pub(crate) fn non_finite(&self) -> u64 {
        self.non_finite
    }

    pub(crate) fn not_numbers(&self) -> u64 {
        self.not_numbers
    }

    /// The finite numbers held, or summed up by the sketch.
    pub(crate) fn number_count(&self) -> u64 {
        self.sketch
            .as_ref()
            .map_or(self.numbers.len() as u64, |s| s.n())
    }

    fn add(&mut self, kind: CellKind, text: &str) {
        self.rows += 1;
        // The CSV reader has already made pandas' and R's null markers (`NA`, `NaN` …)
        // null cells.
        if kind == CellKind::Null {
            self.nulls += 1;
            return;
        }
        match number_of(kind, text) {
            Some(x) if x.is_finite() => self.numbers.push(x),
            Some(_) => self.non_finite += 1,
            None => self.not_numbers += 1,
        }
        count_text(&mut self.texts, text, 1);
    }

    pub(crate) fn non_null(&self) -> u64 {
        self.rows.saturating_sub(self.nulls)
    }

    /// A column known by its rows, nulls and each value's text and count (`None`: more
    /// than [`MAX_CATEGORIES`] distinct ones): what `--stream` keeps of a column that is
    /// not numbers.
    pub(crate) fn categories(rows: u64, nulls: u64, texts: Option<BTreeMap<String, u64>>) -> Self {
        Self {
            texts,
            nulls,
            rows,
            ..Self::default()
        }
    }
}

/// Adds `text` to a column's counts of its values, until there are more than
/// [`MAX_CATEGORIES`] distinct ones (then `None`).
pub(crate) fn count_text(texts: &mut Option<BTreeMap<String, u64>>, text: &str, by: u64) {
    if let Some(t) = texts {
        if let Some(c) = t.get_mut(text) {
            *c += by;
        } else if t.len() < MAX_CATEGORIES {
            t.insert(text.to_owned(), by);
        } else {
            *texts = None;
        }
    }
}

/// A cell's number: a number, or NaN or an infinity as the formats spell them.
pub(crate) fn number_of(kind: CellKind, text: &str) -> Option<f64> {
    aigis_data::profile::parse_number(kind, text).or_else(|| non_finite_number(kind, text))
}

/// NaN and the infinities as the formats spell them (`parse_number` refuses them, as it
/// should for typing; here they are counted, not mistaken for text).
fn non_finite_number(kind: CellKind, text: &str) -> Option<f64> {
    if !matches!(kind, CellKind::Number | CellKind::Text) {
        return None;
    }
    match text.trim().to_ascii_lowercase().as_str() {
        "nan" | "-nan" | "+nan" => Some(f64::NAN),
        "inf" | "+inf" | "infinity" | "+infinity" => Some(f64::INFINITY),
        "-inf" | "-infinity" => Some(f64::NEG_INFINITY),
        _ => None,
    }
}

/// A table read whole, column by column.
pub(crate) struct Table {
    pub(crate) path: PathBuf,
    pub(crate) rows: u64,
    pub(crate) columns: BTreeMap<String, Values>,
    pub(crate) order: Vec<String>,
}

fn read(path: &Path, wanted: Option<&[String]>, options: &Options) -> Result<Table, Error> {
    let reader = table::open(path, options.format, &options.read)?;
    let mut columns: BTreeMap<String, Values> = BTreeMap::new();
    let mut order: Vec<String> = Vec::new();
    let mut rows = 0u64;
    // CSV and Parquet name their columns up front: a file with a header and no rows
    // still has them (and then nothing to test).
    for name in reader.names().iter() {
        if wanted.is_none_or(|w| w.contains(name)) && !columns.contains_key(name) {
            order.push(name.clone());
            columns.insert(name.clone(), Values::new());
        }
    }
    for batch in reader {
        let batch = batch?;
        for (name, column) in batch.names.iter().zip(&batch.columns) {
            if wanted.is_some_and(|w| !w.contains(name)) {
                continue;
            }
            let values = columns.entry(name.clone()).or_insert_with(|| {
                order.push(name.clone());
                let mut v = Values::new();
                // A column a JSON Lines file adds late was null in the rows before.
                v.rows = rows;
                v.nulls = rows;
                v
            });
            column.iter().for_each(|c| values.add(c.kind, c.text));
        }
        rows += batch.rows as u64;
        // A column missing from this batch (JSON Lines) is null in its rows.
        for v in columns.values_mut() {
            let missing = rows.saturating_sub(v.rows);
            v.rows += missing;
            v.nulls += missing;
        }
    }
    for v in columns.values_mut() {
        v.numbers.sort_unstable_by(f64::total_cmp);
    }
    Ok(Table {
        path: path.to_owned(),
        rows,
        columns,
        order,
    })
}

/// A drift report: what `aigis monitor drift --json` prints.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub reference: Source,
    pub current: Source,
    pub alpha: f64,
    pub drift_share: f64,
    pub features: Vec<Feature>,
    /// Features with a verdict (drift or stable).
    pub tested: usize,
    pub drifted: usize,
    /// Features without a verdict: no value left on one side (or both), or a sketch's
    /// error leaving the p-value on both sides of alpha.
    pub insufficient: usize,
    /// `drifted / tested`, when anything was tested.
    pub share: Option<f64>,
    pub verdict: Verdict,
}

/// One input file.
#[derive(Debug, Clone, Serialize)]
pub struct Source {
    pub path: PathBuf,
    pub rows: u64,
}

/// The dataset's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Drift,
    NoDrift,
    /// Not drift on the features tested, but a feature could not be tested (or none
    /// could): no verdict can be given.
    InsufficientData,
}

/// How a feature was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Numeric,
    Categorical,
    /// Too many distinct values to be categories, not numbers: not tested.
    Text,
}

/// A feature's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Drift,
    Stable,
    InsufficientData,
    /// Against a profile's sketch: the sketch's error leaves the p-value on both sides
    /// of alpha. No verdict, like insufficient data.
    Inconclusive,
    NotTested,
}

/// What one side of a feature held.
#[derive(Debug, Clone, Serialize)]
pub struct Counts {
    pub rows: u64,
    /// The values the test used.
    pub values: u64,
    pub nulls: u64,
    /// NaN and infinities (numeric features).
    pub non_finite: u64,
    /// Values that are not numbers in a numeric feature.
    pub not_numbers: u64,
}

/// A test's result.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "test", rename_all = "snake_case")]
pub enum Test {
    /// Two-sample Kolmogorov–Smirnov, two-sided.
    Ks(KsResult),
    /// Chi-square test of homogeneity.
    Chi2(Chi2Result),
}

impl Test {
    pub fn p_value(&self) -> f64 {
        match self {
            Test::Ks(r) => r.p_value,
            Test::Chi2(r) => r.p_value,
        }
    }

    pub fn statistic(&self) -> f64 {
        match self {
            Test::Ks(r) => r.statistic,
            Test::Chi2(r) => r.statistic,
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Test::Ks(_) => "ks",
            Test::Chi2(_) => "chi2",
        }
    }
}

/// One feature's drift.
#[derive(Debug, Clone, Serialize)]
pub struct Feature {
    pub name: String,
    pub kind: Kind,
    pub status: Status,
    pub test: Option<Test>,
    pub psi: Option<f64>,
    /// Numeric features only.
    pub wasserstein: Option<f64>,
    pub reference: Counts,
    pub current: Counts,
    /// Whether the share of missing values (nulls, NaN and infinities, and non-numbers
    /// in a numeric feature) changed: a feature whose values went missing has drifted
    /// even when the values left look the same.
    pub missing: Option<Missing>,
    /// Numeric features: the current values beyond the reference's range, and the exact
    /// probability of that many under no drift (a few extreme values move the
    /// distribution functions too little for the KS test to see).
    pub range: Option<Range>,
    /// The feature's p-value: the smallest of its tests' (the values', the missing
    /// share's when anything is missing, the range's) times their number (Bonferroni),
    /// so that running more tests does not raise the false alarms.
    pub p_value: Option<f64>,
    /// Against a profile's quantile sketch: the KS statistic's error and the p-values at
    /// its two ends; `None` when the statistic is exact.
    pub sketch: Option<crate::sketch::Bound>,
    /// Why a feature has no test result, or what drifted when it is not the values.
    pub reason: Option<String>,
}

/// The current values beyond the reference's smallest and largest, and the p-value of
/// seeing that many: with `n` reference and `m` current values exchangeable (no drift),
/// the chance that the `k` largest of all are current ones is
/// `m(m−1)…(m−k+1) / ((n+m)(n+m−1)…(n+m−k+1))`, exact whatever the distribution
/// (ties at the extremes only make it conservative); both tails, Bonferroni-combined.
#[derive(Debug, Clone, Serialize)]
pub struct Range {
    pub above: u64,
    pub below: u64,
    pub p_value: f64,
}

/// The missing values' share either side, and the chi-square test of the 2 × 2 table
/// (present, missing) × (reference, current).
#[derive(Debug, Clone, Serialize)]
pub struct Missing {
    pub reference_share: f64,
    pub current_share: f64,
    pub test: Chi2Result,
}

/// Compares `current` with `reference`, feature by feature.
pub fn drift(reference: &Path, current: &Path, options: &Options) -> Result<Report, Error> {
    check_options(options)?;
    let wanted = options.columns.as_deref();
    let r = read(reference, wanted, options)?;
    let c = read(current, wanted, options)?;
    compare(r, c, options)
}

/// Compares `current` with a reference known by its profile (`aigis data profile`):
/// where the profile's sketches hold every value (a small reference) the result is the
/// one the reference table gives; where they summarize, the KS statistic comes from the
/// quantile sketch and carries its error ([`crate::sketch`]).
pub fn drift_from_profile(
    profile_path: &Path,
    current: &Path,
    options: &Options,
) -> Result<Report, Error> {
    check_options(options)?;
    let wanted = options.columns.as_deref();
    let r = crate::sketch::reference_of(profile_path, wanted)?;
    let c = read(current, wanted, options)?;
    compare(r, c, options)
}

fn compare(r: Table, c: Table, options: &Options) -> Result<Report, Error> {
    let wanted = options.columns.as_deref();
    let names = feature_names(&r, &c, wanted)?;
    let features: Vec<Feature> = names
        .iter()
        .filter_map(|name| {
            let (rv, cv) = r.columns.get(name).zip(c.columns.get(name))?;
            Some(feature(name, rv, cv, options))
        })
        .collect();
    Ok(report_of(r.path, r.rows, c.path, c.rows, features, options))
}

/// The report of `features`, decided, between the reference at `r_path` and the current
/// data at `c_path`.
pub(crate) fn report_of(
    r_path: PathBuf,
    r_rows: u64,
    c_path: PathBuf,
    c_rows: u64,
    features: Vec<Feature>,
    options: &Options,
) -> Report {
    let tested = features
        .iter()
        .filter(|f| matches!(f.status, Status::Drift | Status::Stable))
        .count();
    let drifted = features
        .iter()
        .filter(|f| f.status == Status::Drift)
        .count();
    let insufficient = features
        .iter()
        .filter(|f| matches!(f.status, Status::InsufficientData | Status::Inconclusive))
        .count();
    let share = (tested > 0).then(|| drifted as f64 / tested as f64);
    // Drift seen is drift; otherwise a feature that could not be tested leaves the
    // dataset without a verdict (fail closed: the untested feature may be the one that
    // moved), rather than passing it on the others.
    let verdict = match share {
        Some(s) if s >= options.drift_share => Verdict::Drift,
        _ if insufficient > 0 || tested == 0 => Verdict::InsufficientData,
        _ => Verdict::NoDrift,
    };
    Report {
        reference: Source {
            path: r_path,
            rows: r_rows,
        },
        current: Source {
            path: c_path,
            rows: c_rows,
        },
        alpha: options.alpha,
        drift_share: options.drift_share,
        features,
        tested,
        drifted,
        insufficient,
        share,
        verdict,
    }
}

pub(crate) fn check_options(o: &Options) -> Result<(), Error> {
    if !(o.alpha > 0.0 && o.alpha < 1.0) {
        return Err(Error::Options(format!(
            "alpha must be between 0 and 1 (exclusive), not {}",
            o.alpha
        )));
    }
    if !(o.drift_share > 0.0 && o.drift_share <= 1.0) {
        return Err(Error::Options(format!(
            "the drift share must be above 0 and at most 1, not {}",
            o.drift_share
        )));
    }
    if !(2..=1000).contains(&o.psi_bins) {
        return Err(Error::Options(format!(
            "PSI bins must be from 2 to 1000, not {}",
            o.psi_bins
        )));
    }
    if o.columns.as_ref().is_some_and(Vec::is_empty) {
        return Err(Error::Options("no column named to compare".to_owned()));
    }
    Ok(())
}

/// The features to compare, in the reference's order: the named ones (each in both
/// files), or every column when the two files have the same ones.
fn feature_names(r: &Table, c: &Table, wanted: Option<&[String]>) -> Result<Vec<String>, Error> {
    common_names((&r.path, &r.order), (&c.path, &c.order), wanted)
}

/// [`feature_names`] of two files known by their path and their columns in order.
pub(crate) fn common_names(
    r: (&Path, &[String]),
    c: (&Path, &[String]),
    wanted: Option<&[String]>,
) -> Result<Vec<String>, Error> {
    let has = |t: (&Path, &[String]), n: &String| t.1.contains(n);
    if let Some(wanted) = wanted {
        for t in [r, c] {
            let m: Vec<String> = wanted.iter().filter(|w| !has(t, w)).cloned().collect();
            if !m.is_empty() {
                return Err(Error::Columns(format!(
                    "{} has no column {}",
                    t.0.display(),
                    list(&m)
                )));
            }
        }
        return Ok(wanted.to_vec());
    }
    let only_r: Vec<String> = r.1.iter().filter(|n| !has(c, n)).cloned().collect();
    let only_c: Vec<String> = c.1.iter().filter(|n| !has(r, n)).cloned().collect();
    if !only_r.is_empty() || !only_c.is_empty() {
        let mut parts = Vec::new();
        if !only_r.is_empty() {
            parts.push(format!("only the reference has {}", list(&only_r)));
        }
        if !only_c.is_empty() {
            parts.push(format!("only the current data has {}", list(&only_c)));
        }
        return Err(Error::Columns(format!(
            "the two files have different columns: {} (name the ones to compare with --columns)",
            parts.join("; ")
        )));
    }
    if r.1.is_empty() {
        return Err(Error::Columns(format!("{} has no columns", r.0.display())));
    }
    Ok(r.1.to_vec())
}

fn list(names: &[String]) -> String {
    const SHOWN: usize = 8;
    let mut s = names
        .iter()
        .take(SHOWN)
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > SHOWN {
        s.push_str(&format!(" and {} more", names.len() - SHOWN));
    }
    s
}

pub(crate) fn feature(name: &str, r: &Values, c: &Values, options: &Options) -> Feature {
    let mut f = feature_values(name, r, c, options);
    decide_feature(&mut f, options.alpha);
    f
}

/// A feature's values tested, before the verdict.
fn feature_values(name: &str, r: &Values, c: &Values, options: &Options) -> Feature {
    let kind = kind_of(r);
    let counts = |v: &Values, used: u64| Counts {
        rows: v.rows,
        values: used,
        nulls: v.nulls,
        non_finite: if kind == Kind::Numeric {
            v.non_finite
        } else {
            0
        },
        not_numbers: if kind == Kind::Numeric {
            v.not_numbers
        } else {
            0
        },
    };
    let mut f = Feature {
        name: name.to_owned(),
        kind,
        status: Status::NotTested,
        test: None,
        psi: None,
        wasserstein: None,
        reference: counts(r, 0),
        current: counts(c, 0),
        missing: missing_of(r, c, kind),
        range: None,
        p_value: None,
        sketch: None,
        reason: None,
    };
    match kind {
        Kind::Numeric => {
            f.reference.values = r.number_count();
            f.current.values = c.numbers.len() as u64;
            if f.reference.values == 0 || c.numbers.is_empty() {
                f.status = Status::InsufficientData;
                f.reason = Some(insufficient(f.reference.values == 0, "finite number"));
                return f;
            }
            if let Some(q) = &r.sketch {
                let (result, bound) = q.ks(&c.numbers);
                f.range = Some(range_of(q.min(), q.max(), q.n(), &c.numbers));
                f.psi = Some(q.psi(&c.numbers, options.psi_bins));
                f.test = Some(Test::Ks(result));
                f.sketch = Some(bound);
                // Decided with the other tests in `decide`.
                f.status = Status::Stable;
                return f;
            }
            let result = ks::ks_2samp(&r.numbers, &c.numbers);
            f.range = Some(range(&r.numbers, &c.numbers));
            f.psi = Some(stats::psi_numeric(&r.numbers, &c.numbers, options.psi_bins));
            f.wasserstein = Some(stats::wasserstein(&r.numbers, &c.numbers));
            f.test = Some(Test::Ks(result));
        }
        Kind::Categorical => {
            let empty = BTreeMap::new();
            let rt = r.texts.as_ref().unwrap_or(&empty);
            let Some(ct) = c.texts.as_ref() else {
                // A handful of categories became thousands of values: that is drift,
                // whatever a test would say.
                f.status = Status::Drift;
                f.reason = Some(format!(
                    "more than {MAX_CATEGORIES} distinct values, where the reference has {}",
                    rt.len()
                ));
                f.reference.values = r.non_null();
                f.current.values = c.non_null();
                return f;
            };
            f.reference.values = r.non_null();
            f.current.values = c.non_null();
            if rt.is_empty() || ct.is_empty() {
                f.status = Status::InsufficientData;
                f.reason = Some(insufficient(rt.is_empty(), "value"));
                return f;
            }
            f.psi = Some(stats::psi_categorical(rt, ct));
            f.test = Some(Test::Chi2(stats::chi2_homogeneity(rt, ct)));
        }
        Kind::Text => {
            f.reference.values = r.non_null();
            f.current.values = c.non_null();
            f.reason = Some(format!(
                "more than {MAX_CATEGORIES} distinct values that are not numbers: text, not tested"
            ));
            return f;
        }
    }
    // Decided with the other tests in `decide`.
    f.status = Status::Stable;
    f
}

/// The missing values' shares and their test, when both sides have rows.
pub(crate) fn missing_of(r: &Values, c: &Values, kind: Kind) -> Option<Missing> {
    let gone = |v: &Values| {
        v.nulls
            + if kind == Kind::Numeric {
                v.non_finite + v.not_numbers
            } else {
                0
            }
    };
    let (rm, cm) = (gone(r), gone(c));
    if r.rows == 0 || c.rows == 0 {
        return None;
    }
    let table = |present: u64, missing: u64| {
        BTreeMap::from([
            ("missing".to_owned(), missing),
            ("present".to_owned(), present),
        ])
    };
    Some(Missing {
        // A profile may say more nulls than rows (edited by hand): shares stay shares.
        reference_share: (rm as f64 / r.rows as f64).min(1.0),
        current_share: (cm as f64 / c.rows as f64).min(1.0),
        test: stats::chi2_homogeneity(
            &table(r.rows.saturating_sub(rm), rm),
            &table(c.rows.saturating_sub(cm), cm),
        ),
    })
}

/// The feature's verdict from its tests: drift when the smallest p-value times the number
/// of tests is below `alpha`, saying which tests; stable when the values were tested and
/// nothing is; otherwise the status the values' test left (insufficient data, not
/// tested, or drift for an explosion of categories).
pub(crate) fn decide_feature(f: &mut Feature, alpha: f64) {
    let values_p = f.test.as_ref().map(Test::p_value);
    if values_p.is_some_and(f64::is_nan) {
        // A p-value that could not be computed is no evidence of stability.
        f.test = None;
        f.status = Status::InsufficientData;
        f.reason = Some("the p-value could not be computed".to_owned());
    }
    let mut tests: Vec<(String, f64)> = Vec::new();
    if let Some(t) = &f.test {
        tests.push((format!("{} p = {:.2e}", t.name(), t.p_value()), t.p_value()));
    }
    if let Some(m) = f.missing.as_ref().filter(|m| m.test.dof > 0) {
        tests.push((
            format!(
                "missing values {:.1}% → {:.1}% (p = {:.2e})",
                m.reference_share * 100.0,
                m.current_share * 100.0,
                m.test.p_value
            ),
            m.test.p_value,
        ));
    }
    if let Some(r) = &f.range {
        tests.push((
            format!(
                "{} above and {} below the reference's range (p = {:.2e})",
                r.above, r.below, r.p_value
            ),
            r.p_value,
        ));
    }
    let k = tests.len() as f64;
    let Some(min) = tests.iter().map(|t| t.1).reduce(f64::min) else {
        return;
    };
    let combined = (min * k).min(1.0);
    f.p_value = Some(combined);
    let why: Vec<String> = tests
        .into_iter()
        .filter(|(_, p)| p * k < alpha)
        .map(|(w, _)| w)
        .collect();
    // Against a sketch, the values' p-value is known between two ends: the verdict is
    // the one both ends give, or none.
    let (mut drift, mut stable) = (combined < alpha, combined >= alpha);
    if let Some(b) = &f.sketch {
        let others = tests_others_min(f);
        let at = |p: f64| (p.min(others) * k).min(1.0);
        drift = at(b.p_value_high) < alpha;
        stable = at(b.p_value_low) >= alpha;
    }
    if drift {
        let why = why.join("; ");
        f.reason = Some(match f.reason.take() {
            Some(r) if f.status != Status::Stable => format!("{why}; {r}"),
            _ => why,
        });
        f.status = Status::Drift;
    } else if !stable && f.status == Status::Stable {
        let b = f.sketch.as_ref();
        f.status = Status::Inconclusive;
        f.reason = Some(format!(
            "the KS statistic's error (±{:.4}: the reference's quantile sketch, or the --stream grid) leaves its p-value between {:.2e} and {:.2e}, on both sides of alpha",
            b.map_or(0.0, |b| b.rank_error),
            b.map_or(0.0, |b| b.p_value_low),
            b.map_or(0.0, |b| b.p_value_high),
        ));
    } else if f.status == Status::Drift && f.test.is_some() {
        f.status = Status::Stable;
    }
}

/// The smallest p-value of a feature's tests other than its values' (1 when none).
fn tests_others_min(f: &Feature) -> f64 {
    let missing = f
        .missing
        .as_ref()
        .filter(|m| m.test.dof > 0)
        .map_or(1.0, |m| m.test.p_value);
    let range = f.range.as_ref().map_or(1.0, |r| r.p_value);
    missing.min(range)
}

/// The current values beyond the reference's range, and their p-value ([`Range`]).
/// Both samples sorted, finite and non-empty.
fn range(r: &[f64], c: &[f64]) -> Range {
    range_of(
        r.first().copied().unwrap_or(f64::NEG_INFINITY),
        r.last().copied().unwrap_or(f64::INFINITY),
        r.len() as u64,
        c,
    )
}

/// [`range`] for a reference known by its smallest and largest of `n` values.
fn range_of(lo: f64, hi: f64, n: u64, c: &[f64]) -> Range {
    let above = (c.len() - c.partition_point(|&x| x <= hi)) as u64;
    let below = c.partition_point(|&x| x < lo) as u64;
    range_counts(n, c.len() as u64, above, below)
}

/// [`range`] from the counts: `above` and `below` of `m` current values beyond the range
/// of `n` reference values.
pub(crate) fn range_counts(n: u64, m: u64, above: u64, below: u64) -> Range {
    let (n, m) = (n as f64, m as f64);
    // P(the k most extreme on one side are all current), in logs.
    let tail = |k: u64| -> f64 {
        (0..k)
            .map(|i| ((m - i as f64) / (n + m - i as f64)).ln())
            .sum::<f64>()
            .exp()
    };
    Range {
        above,
        below,
        p_value: (2.0 * tail(above).min(tail(below))).min(1.0),
    }
}

/// A feature not tested, with its reference's counts and the current rows.
pub(crate) fn untested(name: &str, r: &Values, c_rows: u64) -> Feature {
    Feature {
        name: name.to_owned(),
        kind: Kind::Text,
        status: Status::NotTested,
        test: None,
        psi: None,
        wasserstein: None,
        reference: Counts {
            rows: r.rows,
            values: r.non_null(),
            nulls: r.nulls,
            non_finite: 0,
            not_numbers: 0,
        },
        current: Counts {
            rows: c_rows,
            values: 0,
            nulls: 0,
            non_finite: 0,
            not_numbers: 0,
        },
        missing: None,
        range: None,
        p_value: None,
        sketch: None,
        reason: None,
    }
}

fn insufficient(reference_empty: bool, what: &str) -> String {
    format!(
        "no {what} in the {}",
        if reference_empty {
            "reference"
        } else {
            "current data"
        }
    )
}

/// Numeric when the reference's non-null values are numbers (NaN and infinities count
/// as numbers here); categorical when they are few; text otherwise. A column with no
/// value in the reference is numeric if the current data's are, so that it is reported
/// as insufficient data rather than guessed.
fn kind_of(r: &Values) -> Kind {
    let non_null = r.non_null();
    if non_null == 0 {
        return Kind::Numeric;
    }
    let numbers = (r.number_count() + r.non_finite) as f64;
    if numbers / non_null as f64 >= NUMERIC_SHARE {
        Kind::Numeric
    } else if r.texts.is_some() {
        Kind::Categorical
    } else {
        Kind::Text
    }
}
