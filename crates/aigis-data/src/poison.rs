//! Poisoning detection on a numeric feature matrix (with optional labels): outliers,
//! likely flipped labels, exact and near duplicates, and backdoor-like groups. Each
//! suspicious row gets a combined score in `0..1` and the reasons behind it.
//!
//! | kind | method | catches | misses |
//! |---|---|---|---|
//! | [`PoisonKind::Outlier`] | isolation forest (`poison/iforest.rs`), cut at a robust tail of its own score distribution; each column's extremes, in widths of its 1st–99th percentile range beyond it (`poison/extreme.rs`); with a profile, values far outside the reference's range | rows far from all others; a value far beyond the rest of its column even among 64 ordinary ones; values beyond what the reference saw | outliers inside a dense region; groups of identical outliers; a value shared by many rows however far out (a cap, a sentinel) |
//! | [`PoisonKind::LabelFlip`] | out-of-sample k-NN or cross-validated LDA, then confident learning (`poison/label_flip.rs`); per row only when the odds against the label beat the labels' shares tenfold, the rest in [`Report::label_noise`] | labels other similar rows confidently contradict | flips between classes the features cannot separate (there, label noise is reported for the dataset, not per row) |
//! | [`PoisonKind::Duplicate`] / [`PoisonKind::NearDuplicate`] | row hashing; p-stable LSH + exact distance, relative to the data's typical nearest-neighbour spacing, and per row only when chance does not explain the match (`poison/duplicates.rs`, [`Report::near_duplicates`]) | copies, copies with conflicting labels, tiny perturbations of rows in continuous data | near copies differing a lot in one column; near copies in tables of few distinct values (counted, not listed) |
//! | [`PoisonKind::Backdoor`] | trigger groups (`poison/trigger.rs`) that look like another label far more than their label's own rows do, corroborated by spectral signatures (`poison/spectral.rs`) | a small group sharing unusual values (fixed, or with noise up to a tenth of the column's range) in two or more columns and one label | single-column triggers, triggers hidden in ordinary values, clean-label backdoors (stamped rows already of the target label; a stamp outside the natural range is an outlier), small groups on data whose features say little about the label |
//!
//! A row gets every reason that applies, each its own finding (an outlier whose label is
//! also contradicted is both). `bench/poison_eval.py` measures each reason's rate on clean
//! real data and what it finds of planted poisons, beside cleanlab, ART and scikit-learn.
//!
//! The scan turns the numeric columns of a table into [`Features`] and calls [`detect`]:
//!
//! ```
//! use aigis_data::poison::{self, Features, Options, PoisonKind};
//!
//! // 200 rows on a line, one far away.
//! let mut data: Vec<f64> = (0..200).flat_map(|i| [i as f64, 2.0 * i as f64]).collect();
//! data[2 * 50] = 1e6;
//! let features = Features { n_rows: 200, n_cols: 2, data, names: vec!["a".into(), "b".into()] };
//! let report = poison::detect(&features, None, &Options::default())?;
//! let top = &report.rows[0];
//! assert_eq!(top.row, 50);
//! assert_eq!(top.reasons[0].kind, PoisonKind::Outlier);
//! # Ok::<(), aigis_data::Error>(())
//! ```
//!
//! Preprocessing (see `poison/prep.rs`): missing or infinite cells take their column's median,
//! constant columns are left out, columns are standardised with median and MAD (falling
//! back to IQR, then the standard deviation). Results are deterministic for a given
//! [`Options::seed`], whatever the number of threads.

mod classify;
mod combine;
mod duplicates;
mod extreme;
mod iforest;
mod label_flip;
mod linalg;
mod prep;
mod spectral;
#[cfg(test)]
mod testdata;
#[cfg(test)]
mod tests;
mod trigger;

pub use iforest::{ForestError, IsolationForest};
use serde::Serialize;

use crate::Error;

/// A numeric feature matrix. `data` is row-major (`n_rows × n_cols`); NaN marks a missing
/// value. `names` has one name per column, or is empty.
#[derive(Debug, Clone, Default)]
pub struct Features {
    pub n_rows: usize,
    pub n_cols: usize,
    pub data: Vec<f64>,
    pub names: Vec<String>,
}

/// Detector settings. The defaults work on small image and tabular datasets as well as on
/// a million rows; every threshold used is echoed in [`Report::thresholds`].
#[derive(Debug, Clone, Serialize)]
pub struct Options {
    /// Seed of every random choice (forest subsamples, folds, LSH projections).
    pub seed: u64,
    /// Isolation trees (100, as in the paper: path lengths converge well before).
    pub trees: usize,
    /// Rows per isolation tree (256, as in the paper).
    pub subsample: usize,
    /// An outlier needs an isolation score of at least this (0.62; clean rows score
    /// ~0.4–0.5; at 0.6 the forest flagged 1.3 % of clean UCI Adult, whose sparse capital
    /// columns isolate many ordinary rows early; gross single values are the per-column
    /// score's to find)…
    pub outlier_min_score: f64,
    /// …and at least `median + outlier_mad_k × 1.4826 MAD` of all scores (4), so the cut
    /// follows the data instead of assuming a contamination rate.
    pub outlier_mad_k: f64,
    /// A row is also an outlier when one of its values lies at least this many spreads
    /// beyond its column's 1st–99th percentile range, the spread being that range's width
    /// (2; see `poison/extreme.rs`): what a forest dilutes among many ordinary columns.
    pub outlier_extreme: f64,
    /// Per column (in the order of [`Features`]), the reference range `(min, max)` of a
    /// profile, or empty: a value beyond it by more than `range_margin` of its span is an
    /// outlier too.
    #[serde(skip)]
    pub reference_ranges: Vec<Option<(f64, f64)>>,
    /// See `reference_ranges` (0.1).
    pub range_margin: f64,
    /// A likely flipped label is reported on its own row only when the model's odds for
    /// the suggested label against the given one are at least this many times the odds the
    /// labels' shares give (10); weaker contradictions, natural wherever the features say
    /// little about the label, are counted in [`Report::label_noise`].
    pub label_flip_min_odds: f64,
    /// Neighbours for the k-NN label model (10).
    pub neighbours: usize,
    /// Up to this many rows the label model is leave-one-out k-NN (`O(n²)`); beyond, a
    /// cross-validated linear discriminant (10 000).
    pub knn_max_rows: usize,
    /// Folds for the cross-validated linear discriminant (5).
    pub folds: usize,
    /// Near duplicates are within this RMS distance per column, in robust standard
    /// deviations (0.05).
    pub near_duplicate_rms: f64,
    /// …and within this fraction of the typical (median) nearest-neighbour distance (0.1):
    /// a copy is close compared with how close rows normally are, so tightly packed data
    /// (whose column spread is much larger than the spacing of its rows) has no "natural"
    /// near duplicates. 0 turns this check off.
    pub near_duplicate_nn_fraction: f64,
    /// A near-duplicate pair is reported per row only when fewer than this many pairs in
    /// the whole table (0.1) would be expected to match as closely by chance, column by
    /// column, and no third row matches as closely (see [`NearDuplicateStats`]).
    pub near_duplicate_max_expected: f64,
    /// A cell is unusual (a trigger candidate) when its robust |z| is at least this (3).
    pub trigger_cell_z: f64,
    /// Smallest trigger group (4 rows).
    pub trigger_min_rows: usize,
    /// Largest trigger group, as a fraction of all rows (0.05: a backdoor is a small group).
    pub trigger_max_fraction: f64,
    /// Share of a trigger group that must carry its majority label (0.9).
    pub trigger_purity: f64,
    /// Share of a trigger group's members that must look like another label once the
    /// trigger columns are ignored (0.5): the group's label must be wrong for its features.
    pub trigger_min_disagreement: f64,
    /// Spectral-signature cut, in robust standard deviations of the projections (4).
    pub spectral_z: f64,
    /// Names of the label values (value `v` is `label_names[v]`), for the explanations;
    /// without them labels are shown as numbers.
    #[serde(skip)]
    pub label_names: Vec<String>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            seed: 0x5EED,
            trees: 100,
            subsample: 256,
            outlier_min_score: 0.62,
            outlier_mad_k: 4.0,
            outlier_extreme: 2.0,
            reference_ranges: Vec::new(),
            range_margin: 0.1,
            label_flip_min_odds: 10.0,
            neighbours: 10,
            knn_max_rows: 10_000,
            folds: 5,
            near_duplicate_rms: 0.05,
            near_duplicate_nn_fraction: 0.1,
            near_duplicate_max_expected: 0.1,
            trigger_cell_z: 3.0,
            trigger_min_rows: 4,
            trigger_max_fraction: 0.05,
            trigger_purity: 0.9,
            trigger_min_disagreement: 0.5,
            spectral_z: 4.0,
            label_names: Vec::new(),
        }
    }
}

/// The kind of poisoning a reason points to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PoisonKind {
    Outlier,
    LabelFlip,
    Duplicate,
    NearDuplicate,
    Backdoor,
}

/// Why a row is suspicious.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Reason {
    pub kind: PoisonKind,
    /// This reason's strength, `0..1`.
    pub score: f64,
    /// For a person: what was seen, with the numbers.
    pub detail: String,
    /// Other rows involved (0-based): the copies of a duplicate, the other members of a
    /// trigger group (at most 20).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub related_rows: Vec<usize>,
}

/// A suspicious row.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SuspiciousRow {
    /// 0-based index into the feature matrix.
    pub row: usize,
    /// Combined score, `1 − Π(1 − reason score)`.
    pub score: f64,
    /// Strongest first.
    pub reasons: Vec<Reason>,
}

/// Rows flagged per kind.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub outlier: usize,
    pub label_flip: usize,
    pub duplicate: usize,
    pub near_duplicate: usize,
    pub backdoor: usize,
}

/// A label's confident-learning threshold.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClassThreshold {
    pub label: u32,
    pub rows: usize,
    pub threshold: f64,
}

/// The thresholds the detectors used, so a reader can judge the findings.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Thresholds {
    /// The isolation-score cut actually applied.
    pub outlier_score: f64,
    /// The per-column extremeness cut (spreads beyond the 1st–99th percentile range).
    pub outlier_extreme: f64,
    /// `"knn"` (leave-one-out) or `"lda"` (cross-validated); empty without labels.
    pub label_model: String,
    pub class_thresholds: Vec<ClassThreshold>,
    /// The near-duplicate cut applied (RMS robust σ per column): the smaller of
    /// [`Options::near_duplicate_rms`] and `near_duplicate_nn_fraction × near_duplicate_spacing`.
    pub near_duplicate_rms: f64,
    /// The estimated median nearest-neighbour distance (RMS robust σ per column), capped at
    /// `near_duplicate_rms / near_duplicate_nn_fraction` of the options.
    pub near_duplicate_spacing: f64,
    pub trigger_cell_z: f64,
    pub spectral_z: f64,
}

/// What was done to the data before detection.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Preprocessing {
    pub rows: usize,
    pub columns: usize,
    /// Constant (or entirely missing) columns, left out.
    pub constant_columns: Vec<String>,
    /// Columns with missing or infinite cells, and how many; those cells took the median.
    pub imputed: Vec<(String, usize)>,
    pub scaling: String,
}

/// Wall time of one detector.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Timing {
    pub detector: String,
    pub seconds: f64,
}

/// Label noise in the whole dataset, with its baseline: how often the out-of-sample model
/// disagrees with the labels, how often its own uncertainty says it should, and how many of
/// the confident-learning contradictions stand out enough to be reported per row.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct LabelNoise {
    pub rows: usize,
    /// Rows whose label is not the model's first choice.
    pub disagreements: usize,
    /// The disagreements the model's probabilities expect, `Σ (1 − max p)`: the part of
    /// the label noise that the features' overlap explains.
    pub expected_disagreements: f64,
    /// Rows off the diagonal of the confident joint (confident learning).
    pub confident: usize,
    /// Of those, rows reported as likely flips (odds at least `min_odds`).
    pub reported: usize,
    pub min_odds: f64,
}

/// Near duplicates in the whole dataset, with their baseline. In a table of few distinct
/// values per column (ages, counts, codes), rows that match closely are expected; a pair is
/// reported per row only when so close a match is improbable anywhere in the table given
/// each column's own distribution, and no third row is as close.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct NearDuplicateStats {
    /// Rows within the near-duplicate cut of an earlier row.
    pub rows: usize,
    /// Of those, rows whose closeness the columns' value frequencies explain (not reported
    /// per row).
    pub explained: usize,
    pub max_expected: f64,
}

/// The result of [`detect`].
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Report {
    /// Suspicious rows, highest score first.
    pub rows: Vec<SuspiciousRow>,
    pub counts: Counts,
    pub thresholds: Thresholds,
    pub preprocessing: Preprocessing,
    pub timings: Vec<Timing>,
    /// Label noise as a dataset-level statistic (with labels).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label_noise: Option<LabelNoise>,
    /// Near duplicates as a dataset-level statistic.
    pub near_duplicates: NearDuplicateStats,
    /// Detectors skipped, and why.
    pub notes: Vec<String>,
}

/// Runs every detector; label-based ones (flips, backdoors, label conflicts of
/// duplicates) only when `labels` is given.
pub fn detect(
    features: &Features,
    labels: Option<&[u32]>,
    opts: &Options,
) -> Result<Report, Error> {
    detect_with_progress(features, labels, opts, &|_, _, _| {})
}

/// [`detect`], calling `progress(stage, done, total)` as it goes (from several threads).
pub fn detect_with_progress(
    features: &Features,
    labels: Option<&[u32]>,
    opts: &Options,
    progress: &(dyn Fn(&str, u64, u64) + Sync),
) -> Result<Report, Error> {
    prep::validate(features, labels)?;
    check_options(opts)?;
    if !opts.reference_ranges.is_empty() && opts.reference_ranges.len() != features.n_cols {
        return Err(Error::Poison(format!(
            "{} reference ranges were given for {} columns: one per column, or none",
            opts.reference_ranges.len(),
            features.n_cols
        )));
    }
    Ok(combine::run(features, labels, opts, progress))
}

fn check_options(o: &Options) -> Result<(), Error> {
    let bad = |what: &str, why: &str| Err(Error::Poison(format!("option `{what}` {why}")));
    if o.trees == 0 || o.subsample < 2 {
        return bad(
            "trees/subsample",
            "must be at least 1 tree of at least 2 rows",
        );
    }
    if o.neighbours == 0 || o.folds < 2 {
        return bad("neighbours/folds", "need at least 1 neighbour and 2 folds");
    }
    let fractions = [
        o.trigger_purity,
        o.trigger_max_fraction,
        o.trigger_min_disagreement,
    ];
    if fractions.iter().any(|v| !(0.0..=1.0).contains(v)) {
        return bad(
            "trigger_purity/trigger_max_fraction/trigger_min_disagreement",
            "must be between 0 and 1",
        );
    }
    let finite = [
        o.outlier_min_score,
        o.outlier_mad_k,
        o.outlier_extreme,
        o.range_margin,
        o.label_flip_min_odds,
        o.near_duplicate_max_expected,
        o.near_duplicate_rms,
        o.near_duplicate_nn_fraction,
        o.trigger_cell_z,
        o.spectral_z,
    ];
    if finite.iter().any(|v| !v.is_finite() || *v < 0.0) {
        return bad("thresholds", "must be finite and non-negative");
    }
    Ok(())
}
