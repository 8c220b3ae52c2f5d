//! Fairness of a binary classifier's decisions across groups: `aigis fairness`.
//!
//! A table holds, per person, the true outcome (`label`), the model's decision
//! (`prediction`), optionally its score, and one or more sensitive columns. Each sensitive
//! column is analysed on its own and, when there are several, their intersection (every
//! combination of values present). Per group: the selection rate, the true and false
//! positive rates, the accuracy and, with a score, its calibration (mean score, Brier
//! score, expected calibration error). Between groups, as fairlearn's `metrics` module
//! defines them (`method="between_groups"`, `agg="worst_case"`):
//!
//! - demographic parity difference and ratio: the largest selection rate less the
//!   smallest, and the smallest over the largest;
//! - true and false positive rate differences, equalized odds difference (the larger of
//!   the two) and ratio (the smaller of the two rates' min/max ratios);
//! - disparate impact: each group's selection rate over the most selected group's (the
//!   "four-fifths rule" ratio); the analysis's value is the lowest, equal to the
//!   demographic parity ratio;
//! - the accuracy difference.
//!
//! The values equal fairlearn's on the same data (a CI check runs both on UCI Adult and
//! COMPAS), including its conventions at the edges: a group with no positive label has a
//! true positive rate of 0 and one with no negative label a false positive rate of 0 (as
//! scikit-learn's normalized confusion matrix gives), which a warning then names. A ratio
//! whose largest rate is 0 is undefined (`None`), as is every disparity of an analysis with
//! fewer than two groups: a threshold on an undefined value fails.
//!
//! Intervals are percentile bootstrap intervals: the rows resampled with replacement
//! (`bootstrap` times, seeded), every metric recomputed, a resample in which a group is
//! absent or a value undefined left out of that value's interval.

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};

use aigis_data::table::{self, CellKind, Format, ReadOptions};
use serde::Serialize;

use crate::Error;

/// An analysis with more groups than this is refused: a column with that many values is
/// an identifier, not a sensitive attribute, and naming its groups would name people.
pub const MAX_GROUPS: usize = 1000;

/// The name of the group of rows whose sensitive value is missing.
pub const MISSING: &str = "(missing)";

/// What to measure.
#[derive(Debug, Clone)]
pub struct Options {
    /// The true outcome's column.
    pub label: String,
    /// The model's decision's column.
    pub prediction: String,
    /// The sensitive columns (at least one).
    pub sensitive: Vec<String>,
    /// The model's score for the positive outcome (a probability), for calibration.
    pub score: Option<String>,
    /// The positive (favourable) outcome as the columns write it; `None`: `1` when the
    /// values are 0/1 or -1/1, `true` when they are booleans.
    pub positive: Option<String>,
    /// Groups with fewer rows are reported but left out of the disparities.
    pub min_group: u64,
    /// Bootstrap resamples for the intervals; 0: none.
    pub bootstrap: usize,
    /// The intervals' confidence.
    pub confidence: f64,
    /// The bootstrap's seed.
    pub seed: u64,
    /// Equal-width bins of the expected calibration error.
    pub calibration_bins: usize,
    /// The file's format; `None`: from its name or content.
    pub format: Option<Format>,
    pub read: ReadOptions,
}

impl Options {
    /// The defaults for these columns: 1,000 bootstrap resamples at 95 %, seed 0, ten
    /// calibration bins, every group in the disparities.
    pub fn new(label: &str, prediction: &str, sensitive: Vec<String>) -> Self {
        Self {
            label: label.to_owned(),
            prediction: prediction.to_owned(),
            sensitive,
            score: None,
            positive: None,
            min_group: 0,
            bootstrap: 1000,
            confidence: 0.95,
            seed: 0,
            calibration_bins: 10,
            format: None,
            read: ReadOptions::default(),
        }
    }
}

/// A value with its bootstrap interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Estimate {
    /// `None` when undefined (see the module's notes).
    pub value: Option<f64>,
    /// The percentile interval at the report's confidence, when bootstrapped and defined
    /// in at least one resample.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interval: Option<[f64; 2]>,
}

impl Estimate {
    fn of(value: Option<f64>) -> Self {
        Self {
            value,
            interval: None,
        }
    }
}

/// The rates of one group (or of everyone).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rates {
    pub rows: u64,
    /// Rows whose label is the positive outcome.
    pub label_positive: u64,
    /// Rows whose prediction is the positive outcome.
    pub predicted_positive: u64,
    pub selection_rate: Estimate,
    /// 0 (as fairlearn) when the group has no positive label; see `warnings`.
    pub true_positive_rate: Estimate,
    /// 0 (as fairlearn) when the group has no negative label; see `warnings`.
    pub false_positive_rate: Estimate,
    pub accuracy: Estimate,
    /// With a score: its calibration in this group.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub calibration: Option<Calibration>,
}

/// How well a score's probabilities match the outcomes in a group.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Calibration {
    /// The mean score.
    pub mean_score: Estimate,
    /// The mean squared difference of score and outcome (scikit-learn's
    /// `brier_score_loss`).
    pub brier: Estimate,
    /// The expected calibration error over equal-width bins of the score: each bin's
    /// |mean score − share positive|, weighted by its rows.
    pub expected_calibration_error: Estimate,
}

/// One group of an analysis.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Group {
    /// The group's value in each sensitive column of the analysis.
    pub values: Vec<String>,
    /// Its selection rate over the most selected group's (disparate impact).
    pub impact_ratio: Estimate,
    /// Fewer rows than `min_group`: reported, not in the disparities.
    pub excluded: bool,
    #[serde(flatten)]
    pub rates: Rates,
}

/// The disparities between an analysis's groups.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Disparities {
    pub demographic_parity_difference: Estimate,
    pub demographic_parity_ratio: Estimate,
    pub true_positive_rate_difference: Estimate,
    pub false_positive_rate_difference: Estimate,
    pub equalized_odds_difference: Estimate,
    pub equalized_odds_ratio: Estimate,
    pub disparate_impact: Estimate,
    pub accuracy_difference: Estimate,
}

impl Disparities {
    /// The value of `metric`.
    pub fn get(&self, metric: Metric) -> Estimate {
        match metric {
            Metric::DemographicParityDifference => self.demographic_parity_difference,
            Metric::DemographicParityRatio => self.demographic_parity_ratio,
            Metric::TruePositiveRateDifference => self.true_positive_rate_difference,
            Metric::FalsePositiveRateDifference => self.false_positive_rate_difference,
            Metric::EqualizedOddsDifference => self.equalized_odds_difference,
            Metric::EqualizedOddsRatio => self.equalized_odds_ratio,
            Metric::DisparateImpact => self.disparate_impact,
            Metric::AccuracyDifference => self.accuracy_difference,
        }
    }

    fn get_mut(&mut self, metric: Metric) -> &mut Estimate {
        match metric {
            Metric::DemographicParityDifference => &mut self.demographic_parity_difference,
            Metric::DemographicParityRatio => &mut self.demographic_parity_ratio,
            Metric::TruePositiveRateDifference => &mut self.true_positive_rate_difference,
            Metric::FalsePositiveRateDifference => &mut self.false_positive_rate_difference,
            Metric::EqualizedOddsDifference => &mut self.equalized_odds_difference,
            Metric::EqualizedOddsRatio => &mut self.equalized_odds_ratio,
            Metric::DisparateImpact => &mut self.disparate_impact,
            Metric::AccuracyDifference => &mut self.accuracy_difference,
        }
    }
}

/// One sensitive column, or the intersection of several.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Analysis {
    /// The sensitive columns.
    pub sensitive: Vec<String>,
    /// Every group present, in the order of their values.
    pub groups: Vec<Group>,
    pub disparities: Disparities,
}

impl Analysis {
    /// `sex` or `sex × race`.
    pub fn name(&self) -> String {
        self.sensitive.join(" × ")
    }
}

/// The bootstrap's settings.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Bootstrap {
    pub resamples: usize,
    pub confidence: f64,
    pub seed: u64,
}

/// What `aigis fairness` found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub path: PathBuf,
    pub rows: u64,
    pub label: String,
    pub prediction: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub score: Option<String>,
    /// The positive outcome, as the columns write it.
    pub positive: String,
    /// The other outcome, when the columns hold one.
    pub negative: Option<String>,
    pub min_group: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bootstrap: Option<Bootstrap>,
    /// Everyone.
    pub overall: Rates,
    pub analyses: Vec<Analysis>,
    /// What a reader should know: groups whose rates are fairlearn's 0 for lack of a
    /// label, analyses with fewer than two groups, excluded groups.
    pub warnings: Vec<String>,
}

/// A disparity a threshold can be set on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Metric {
    DemographicParityDifference,
    DemographicParityRatio,
    TruePositiveRateDifference,
    FalsePositiveRateDifference,
    EqualizedOddsDifference,
    EqualizedOddsRatio,
    DisparateImpact,
    AccuracyDifference,
}

impl Metric {
    pub const ALL: [Metric; 8] = [
        Metric::DemographicParityDifference,
        Metric::DemographicParityRatio,
        Metric::TruePositiveRateDifference,
        Metric::FalsePositiveRateDifference,
        Metric::EqualizedOddsDifference,
        Metric::EqualizedOddsRatio,
        Metric::DisparateImpact,
        Metric::AccuracyDifference,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Metric::DemographicParityDifference => "demographic-parity-difference",
            Metric::DemographicParityRatio => "demographic-parity-ratio",
            Metric::TruePositiveRateDifference => "true-positive-rate-difference",
            Metric::FalsePositiveRateDifference => "false-positive-rate-difference",
            Metric::EqualizedOddsDifference => "equalized-odds-difference",
            Metric::EqualizedOddsRatio => "equalized-odds-ratio",
            Metric::DisparateImpact => "disparate-impact",
            Metric::AccuracyDifference => "accuracy-difference",
        }
    }
}

impl fmt::Display for Metric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Metric {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim().replace('_', "-").to_ascii_lowercase();
        Metric::ALL
            .into_iter()
            .find(|m| m.name() == s)
            .ok_or_else(|| {
                format!(
                    "unknown fairness metric `{s}`: one of {}",
                    Metric::ALL.map(Metric::name).join(", ")
                )
            })
    }
}

/// Which side of a threshold passes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Bound {
    /// The value must be at most the threshold (`--fail-over`).
    AtMost,
    /// The value must be at least the threshold (`--fail-under`).
    AtLeast,
}

/// A threshold on a disparity, checked in every analysis.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Threshold {
    pub metric: Metric,
    pub bound: Bound,
    pub value: f64,
}

/// A threshold an analysis did not meet.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Breach {
    /// The analysis's name (`sex`, `sex × race`).
    pub analysis: String,
    pub metric: Metric,
    pub bound: Bound,
    pub threshold: f64,
    /// `None`: the value was undefined, which fails.
    pub value: Option<f64>,
}

/// The thresholds `report` breaks, analysis by analysis.
pub fn check(report: &Report, thresholds: &[Threshold]) -> Vec<Breach> {
    let mut breaches = Vec::new();
    for analysis in &report.analyses {
        for t in thresholds {
            let value = analysis.disparities.get(t.metric).value;
            let ok = value.is_some_and(|v| match t.bound {
                Bound::AtMost => v <= t.value,
                Bound::AtLeast => v >= t.value,
            });
            if !ok {
                breaches.push(Breach {
                    analysis: analysis.name(),
                    metric: t.metric,
                    bound: t.bound,
                    threshold: t.value,
                    value,
                });
            }
        }
    }
    breaches
}

/// One row, as the metrics need it.
#[derive(Debug, Clone, Copy)]
struct Row {
    label: bool,
    prediction: bool,
    score: f64,
}

/// The columns read: the rows, and each sensitive column's value per row (an index into
/// its distinct values).
#[derive(Debug)]
struct Data {
    rows: Vec<Row>,
    /// Per sensitive column: its distinct values, and each row's.
    columns: Vec<(Vec<String>, Vec<u32>)>,
    positive: String,
    negative: Option<String>,
}

/// Measures `options`' columns of the table at `path`.
pub fn assess(path: &Path, options: &Options) -> Result<Report, Error> {
    validate(options)?;
    let data = read(path, options)?;
    if data.rows.is_empty() {
        return Err(Error::Column(format!(
            "`{}` has no data row: nothing to measure",
            path.display()
        )));
    }
    let mut analyses: Vec<(Vec<String>, Partition)> = Vec::new();
    for (name, (values, codes)) in options.sensitive.iter().zip(&data.columns) {
        let groups = values.iter().map(|v| vec![v.clone()]).collect();
        analyses.push((
            vec![name.clone()],
            Partition {
                groups,
                of_row: codes.clone(),
            },
        ));
    }
    if data.columns.len() > 1 {
        analyses.push((options.sensitive.clone(), intersect(&data.columns)?));
    }
    let scored = options.score.is_some();
    let bins = options.calibration_bins;
    let mut warnings = Vec::new();
    let mut out = Vec::new();
    for (sensitive, partition) in &analyses {
        let counts = partition.count(&data.rows, bins, Some);
        let mut analysis = Analysis {
            sensitive: sensitive.clone(),
            groups: Vec::new(),
            disparities: disparities(&counts, options.min_group),
        };
        let top = top_selection_rate(&counts, options.min_group);
        for (values, c) in partition.groups.iter().zip(&counts) {
            let impact = impact_ratio(top, c);
            analysis.groups.push(Group {
                values: values.clone(),
                impact_ratio: Estimate::of(impact),
                excluded: c.rows < options.min_group,
                rates: c.rates(scored),
            });
        }
        warnings.extend(warnings_of(&analysis, options.min_group));
        out.push(analysis);
    }
    let everyone = Partition {
        groups: vec![Vec::new()],
        of_row: vec![0; data.rows.len()],
    };
    let mut overall = everyone
        .count(&data.rows, bins, Some)
        .first()
        .map(|c| c.rates(scored))
        .ok_or_else(|| Error::Column("no row was counted".into()))?;
    let bootstrap = if options.bootstrap > 0 {
        resample(
            &data.rows,
            &analyses,
            &everyone,
            &mut out,
            &mut overall,
            options,
        );
        Some(Bootstrap {
            resamples: options.bootstrap,
            confidence: options.confidence,
            seed: options.seed,
        })
    } else {
        None
    };
    Ok(Report {
        path: path.to_owned(),
        rows: data.rows.len() as u64,
        label: options.label.clone(),
        prediction: options.prediction.clone(),
        score: options.score.clone(),
        positive: data.positive,
        negative: data.negative,
        min_group: options.min_group,
        bootstrap,
        overall,
        analyses: out,
        warnings,
    })
}

fn validate(options: &Options) -> Result<(), Error> {
    if options.sensitive.is_empty() {
        return Err(Error::Options(
            "name at least one sensitive column (--sensitive)".into(),
        ));
    }
    let mut seen = BTreeSet::new();
    for s in &options.sensitive {
        if !seen.insert(s) {
            return Err(Error::Options(format!(
                "the sensitive column `{s}` is named twice"
            )));
        }
        if *s == options.label || *s == options.prediction || Some(s) == options.score.as_ref() {
            return Err(Error::Options(format!(
                "`{s}` is named as a sensitive column and as the label, prediction or score"
            )));
        }
    }
    if options.label == options.prediction {
        return Err(Error::Options(format!(
            "the label and the prediction are the same column `{}`",
            options.label
        )));
    }
    if !(options.confidence > 0.0 && options.confidence < 1.0) {
        return Err(Error::Options(format!(
            "the confidence is a share between 0 and 1, not {}",
            options.confidence
        )));
    }
    if options.calibration_bins == 0 || options.calibration_bins > 1000 {
        return Err(Error::Options(format!(
            "calibration bins: 1 to 1000, not {}",
            options.calibration_bins
        )));
    }
    if options.bootstrap > 100_000 {
        return Err(Error::Options(format!(
            "bootstrap resamples: at most 100,000, not {}",
            options.bootstrap
        )));
    }
    Ok(())
}

/// A label or prediction as compared: a number in its shortest form (`1.0` is `1`),
/// `true`/`false` in lower case, other text trimmed.
fn outcome(text: &str) -> String {
    let t = text.trim();
    if let Ok(v) = t.parse::<f64>()
        && v.is_finite()
    {
        // `-0` is 0.
        return format!("{}", v + 0.0);
    }
    if t.eq_ignore_ascii_case("true") || t.eq_ignore_ascii_case("false") {
        return t.to_ascii_lowercase();
    }
    t.to_owned()
}

/// The positive outcome among `seen` (at most two values), or why there is none.
fn positive_of(seen: &BTreeSet<String>, given: Option<&str>) -> Result<String, Error> {
    let listed = || {
        seen.iter()
            .map(|v| format!("`{v}`"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if let Some(given) = given {
        let p = outcome(given);
        if !seen.contains(&p) && seen.len() >= 2 {
            return Err(Error::Options(format!(
                "--positive `{given}` is not among the label and prediction values ({})",
                listed()
            )));
        }
        return Ok(p);
    }
    let within = |allowed: &[&str]| seen.iter().all(|v| allowed.contains(&v.as_str()));
    if within(&["0", "1"]) || within(&["-1", "1"]) {
        Ok("1".into())
    } else if within(&["false", "true"]) {
        Ok("true".into())
    } else {
        Err(Error::Options(format!(
            "the label and prediction hold {}: say which is the positive (favourable) outcome with --positive",
            listed()
        )))
    }
}

/// A sensitive column as read: its distinct values, their indices, each row's index.
type Coding = (Vec<String>, HashMap<String, u32>, Vec<u32>);

fn read(path: &Path, options: &Options) -> Result<Data, Error> {
    let mut reader = table::open(path, options.format, &options.read)?;
    let names = reader.names();
    let mut wanted = vec![options.label.as_str(), options.prediction.as_str()];
    if let Some(s) = &options.score {
        wanted.push(s);
    }
    wanted.extend(options.sensitive.iter().map(String::as_str));
    if reader.format() != Format::Jsonl {
        for w in &wanted {
            if !names.iter().any(|n| n == w) {
                return Err(Error::Column(format!(
                    "`{}` has no column `{w}` (it has {})",
                    path.display(),
                    names.join(", ")
                )));
            }
        }
    }
    let mut labels: Vec<String> = Vec::new();
    let mut predictions: Vec<String> = Vec::new();
    let mut scores: Vec<f64> = Vec::new();
    let mut columns: Vec<Coding> = options
        .sensitive
        .iter()
        .map(|_| (Vec::new(), HashMap::new(), Vec::new()))
        .collect();
    let mut seen = BTreeSet::new();
    for batch in &mut reader {
        let batch = batch?;
        let column = |name: &str| {
            batch.column(name).ok_or_else(|| {
                Error::Column(format!(
                    "`{}` has no column `{name}` at row {}",
                    path.display(),
                    batch.first_row
                ))
            })
        };
        let at = |i: usize| batch.first_row + i as u64;
        for (i, cell) in column(&options.label)?.iter().enumerate() {
            let v = required(cell, &options.label, at(i))?;
            if seen.insert(v.clone()) && seen.len() > 2 {
                return Err(too_many(&seen));
            }
            labels.push(v);
        }
        for (i, cell) in column(&options.prediction)?.iter().enumerate() {
            let v = required(cell, &options.prediction, at(i))?;
            if seen.insert(v.clone()) && seen.len() > 2 {
                return Err(too_many(&seen));
            }
            predictions.push(v);
        }
        if let Some(name) = &options.score {
            for (i, cell) in column(name)?.iter().enumerate() {
                scores.push(score(cell, name, at(i))?);
            }
        }
        for (name, (values, index, codes)) in options.sensitive.iter().zip(&mut columns) {
            for cell in column(name)?.iter() {
                let v = if cell.kind == CellKind::Null {
                    MISSING.to_owned()
                } else {
                    cell.text.trim().to_owned()
                };
                let code = match index.get(&v) {
                    Some(&c) => c,
                    None => {
                        if values.len() >= MAX_GROUPS {
                            return Err(Error::Column(format!(
                                "the sensitive column `{name}` has more than {MAX_GROUPS} values: is it an identifier? Give a column of groups (bin ages, for one)"
                            )));
                        }
                        let c = values.len() as u32;
                        index.insert(v.clone(), c);
                        values.push(v);
                        c
                    }
                };
                codes.push(code);
            }
        }
    }
    let positive = positive_of(&seen, options.positive.as_deref())?;
    let negative = seen.iter().find(|v| **v != positive).cloned();
    let rows = labels
        .iter()
        .zip(&predictions)
        .enumerate()
        .map(|(i, (l, p))| Row {
            label: *l == positive,
            prediction: *p == positive,
            score: scores.get(i).copied().unwrap_or(0.0),
        })
        .collect();
    // Groups in the order of their values, so reports do not depend on the rows' order.
    let columns = columns
        .into_iter()
        .map(|(values, _, codes)| sorted(values, codes))
        .collect();
    Ok(Data {
        rows,
        columns,
        positive,
        negative,
    })
}

/// `values` sorted (numbers by value, then text), `codes` renumbered to match.
fn sorted(values: Vec<String>, codes: Vec<u32>) -> (Vec<String>, Vec<u32>) {
    let mut order: Vec<usize> = (0..values.len()).collect();
    let key = |v: &String| (v.trim().parse::<f64>().ok(), v.clone());
    order.sort_by(|&a, &b| {
        let (ka, kb) = (values.get(a).map(key), values.get(b).map(key));
        match (ka, kb) {
            (Some((Some(x), _)), Some((Some(y), _))) => x.total_cmp(&y),
            (Some((Some(_), _)), Some((None, _))) => std::cmp::Ordering::Less,
            (Some((None, _)), Some((Some(_), _))) => std::cmp::Ordering::Greater,
            (x, y) => x.map(|k| k.1).cmp(&y.map(|k| k.1)),
        }
    });
    let mut new_code = vec![0u32; values.len()];
    for (new, &old) in order.iter().enumerate() {
        if let Some(slot) = new_code.get_mut(old) {
            *slot = new as u32;
        }
    }
    let sorted_values = order
        .iter()
        .filter_map(|&i| values.get(i).cloned())
        .collect();
    let codes = codes
        .into_iter()
        .map(|c| new_code.get(c as usize).copied().unwrap_or(c))
        .collect();
    (sorted_values, codes)
}

fn too_many(seen: &BTreeSet<String>) -> Error {
    let listed: Vec<_> = seen.iter().map(|v| format!("`{v}`")).collect();
    Error::Column(format!(
        "the label and prediction columns hold more than two values ({}): these metrics are for a yes/no decision; map the outcomes to two values first",
        listed.join(", ")
    ))
}

fn required(cell: table::Cell<'_>, column: &str, row: u64) -> Result<String, Error> {
    if cell.kind == CellKind::Null || cell.text.trim().is_empty() {
        return Err(Error::Column(format!(
            "`{column}` is empty at row {row}: every row needs its label and prediction (drop or fill it)"
        )));
    }
    let v = outcome(cell.text);
    if v.eq_ignore_ascii_case("nan") {
        return Err(Error::Column(format!(
            "`{column}` is NaN at row {row}: every row needs its label and prediction"
        )));
    }
    Ok(v)
}

fn score(cell: table::Cell<'_>, column: &str, row: u64) -> Result<f64, Error> {
    let text = cell.text.trim();
    match text.parse::<f64>() {
        Ok(v) if (0.0..=1.0).contains(&v) => Ok(v),
        Ok(v) => Err(Error::Column(format!(
            "the score `{column}` is {v} at row {row}: a score here is the probability of the positive outcome, in [0, 1]"
        ))),
        Err(_) => Err(Error::Column(format!(
            "the score `{column}` is not a number at row {row} (`{text}`)"
        ))),
    }
}

/// The groups of an analysis and each row's.
#[derive(Debug, Clone)]
struct Partition {
    groups: Vec<Vec<String>>,
    of_row: Vec<u32>,
}

impl Partition {
    /// Each group's counts over the rows `index` picks (`index(i)` for i in 0..n; the
    /// identity, or a resample's draws).
    fn count(
        &self,
        rows: &[Row],
        bins: usize,
        index: impl Fn(usize) -> Option<usize>,
    ) -> Vec<Counts> {
        let mut counts = vec![Counts::new(bins); self.groups.len()];
        for i in 0..rows.len() {
            let Some(j) = index(i) else { continue };
            let (Some(row), Some(&g)) = (rows.get(j), self.of_row.get(j)) else {
                continue;
            };
            if let Some(c) = counts.get_mut(g as usize) {
                c.add(row);
            }
        }
        counts
    }
}

/// The intersection of several sensitive columns: every combination present, in the
/// order of the columns' values.
fn intersect(columns: &[(Vec<String>, Vec<u32>)]) -> Result<Partition, Error> {
    let rows = columns.first().map_or(0, |c| c.1.len());
    let mut keys: Vec<Vec<u32>> = Vec::new();
    let mut index: HashMap<Vec<u32>, u32> = HashMap::new();
    let mut of_row = Vec::with_capacity(rows);
    for i in 0..rows {
        let key: Vec<u32> = columns
            .iter()
            .map(|c| c.1.get(i).copied().unwrap_or(0))
            .collect();
        let code = match index.get(&key) {
            Some(&c) => c,
            None => {
                if keys.len() >= MAX_GROUPS {
                    return Err(Error::Column(format!(
                        "the sensitive columns' intersection has more than {MAX_GROUPS} groups: name fewer columns, or coarser ones"
                    )));
                }
                let c = keys.len() as u32;
                index.insert(key.clone(), c);
                keys.push(key);
                c
            }
        };
        of_row.push(code);
    }
    // Renumber in the order of the keys (the columns' values are already sorted).
    let mut order: Vec<usize> = (0..keys.len()).collect();
    order.sort_by(|&a, &b| keys.get(a).cmp(&keys.get(b)));
    let mut new_code = vec![0u32; keys.len()];
    for (new, &old) in order.iter().enumerate() {
        if let Some(slot) = new_code.get_mut(old) {
            *slot = new as u32;
        }
    }
    let groups = order
        .iter()
        .filter_map(|&k| keys.get(k))
        .map(|key| {
            key.iter()
                .zip(columns)
                .map(|(&v, c)| c.0.get(v as usize).cloned().unwrap_or_default())
                .collect()
        })
        .collect();
    let of_row = of_row
        .into_iter()
        .map(|c| new_code.get(c as usize).copied().unwrap_or(c))
        .collect();
    Ok(Partition { groups, of_row })
}

/// A group's confusion matrix and score sums.
#[derive(Debug, Clone)]
struct Counts {
    rows: u64,
    tp: u64,
    fp: u64,
    tn: u64,
    fn_: u64,
    score_sum: f64,
    squared_error: f64,
    /// Per calibration bin: rows, score sum, positives.
    bins: Vec<(u64, f64, u64)>,
}

impl Counts {
    fn new(bins: usize) -> Self {
        Self {
            rows: 0,
            tp: 0,
            fp: 0,
            tn: 0,
            fn_: 0,
            score_sum: 0.0,
            squared_error: 0.0,
            bins: vec![(0, 0.0, 0); bins],
        }
    }

    fn add(&mut self, row: &Row) {
        self.rows += 1;
        match (row.label, row.prediction) {
            (true, true) => self.tp += 1,
            (false, true) => self.fp += 1,
            (false, false) => self.tn += 1,
            (true, false) => self.fn_ += 1,
        }
        let y = if row.label { 1.0 } else { 0.0 };
        self.score_sum += row.score;
        self.squared_error += (row.score - y) * (row.score - y);
        let n = self.bins.len();
        // A score of exactly 1 goes to the last bin.
        let b = ((row.score * n as f64) as usize).min(n.saturating_sub(1));
        if let Some(bin) = self.bins.get_mut(b) {
            bin.0 += 1;
            bin.1 += row.score;
            bin.2 += u64::from(row.label);
        }
    }

    fn ratio(a: u64, b: u64) -> Option<f64> {
        (b > 0).then(|| a as f64 / b as f64)
    }

    fn selection_rate(&self) -> Option<f64> {
        Self::ratio(self.tp + self.fp, self.rows)
    }

    /// fairlearn's: 0 without a positive label.
    fn true_positive_rate(&self) -> Option<f64> {
        (self.rows > 0).then(|| Self::ratio(self.tp, self.tp + self.fn_).unwrap_or(0.0))
    }

    /// fairlearn's: 0 without a negative label.
    fn false_positive_rate(&self) -> Option<f64> {
        (self.rows > 0).then(|| Self::ratio(self.fp, self.fp + self.tn).unwrap_or(0.0))
    }

    fn accuracy(&self) -> Option<f64> {
        Self::ratio(self.tp + self.tn, self.rows)
    }

    fn mean_score(&self) -> Option<f64> {
        (self.rows > 0).then(|| self.score_sum / self.rows as f64)
    }

    fn brier(&self) -> Option<f64> {
        (self.rows > 0).then(|| self.squared_error / self.rows as f64)
    }

    fn expected_calibration_error(&self) -> Option<f64> {
        (self.rows > 0).then(|| {
            self.bins
                .iter()
                .filter(|b| b.0 > 0)
                .map(|&(n, sum, pos)| {
                    let n = n as f64;
                    n * (sum / n - pos as f64 / n).abs()
                })
                .sum::<f64>()
                / self.rows as f64
        })
    }

    fn rates(&self, scored: bool) -> Rates {
        Rates {
            rows: self.rows,
            label_positive: self.tp + self.fn_,
            predicted_positive: self.tp + self.fp,
            selection_rate: Estimate::of(self.selection_rate()),
            true_positive_rate: Estimate::of(self.true_positive_rate()),
            false_positive_rate: Estimate::of(self.false_positive_rate()),
            accuracy: Estimate::of(self.accuracy()),
            calibration: scored.then(|| Calibration {
                mean_score: Estimate::of(self.mean_score()),
                brier: Estimate::of(self.brier()),
                expected_calibration_error: Estimate::of(self.expected_calibration_error()),
            }),
        }
    }
}

/// The groups that count towards the disparities: present, and not too small.
fn counted(counts: &[Counts], min_group: u64) -> impl Iterator<Item = &Counts> {
    counts
        .iter()
        .filter(move |c| c.rows > 0 && c.rows >= min_group)
}

/// The largest less the smallest of `values`, and the smallest over the largest
/// (`None` when the largest is 0); both `None` with fewer than two values.
fn spread(values: impl Iterator<Item = f64>) -> (Option<f64>, Option<f64>) {
    let (mut lo, mut hi, mut n) = (f64::INFINITY, f64::NEG_INFINITY, 0usize);
    for v in values {
        lo = lo.min(v);
        hi = hi.max(v);
        n += 1;
    }
    if n < 2 {
        return (None, None);
    }
    (Some(hi - lo), (hi > 0.0).then(|| lo / hi))
}

fn disparities(counts: &[Counts], min_group: u64) -> Disparities {
    let of = |f: fn(&Counts) -> Option<f64>| spread(counted(counts, min_group).filter_map(f));
    let (dp_diff, dp_ratio) = of(Counts::selection_rate);
    let (tpr_diff, tpr_ratio) = of(Counts::true_positive_rate);
    let (fpr_diff, fpr_ratio) = of(Counts::false_positive_rate);
    let (acc_diff, _) = of(Counts::accuracy);
    let both = |a: Option<f64>, b: Option<f64>, f: fn(f64, f64) -> f64| Some(f(a?, b?));
    Disparities {
        demographic_parity_difference: Estimate::of(dp_diff),
        demographic_parity_ratio: Estimate::of(dp_ratio),
        true_positive_rate_difference: Estimate::of(tpr_diff),
        false_positive_rate_difference: Estimate::of(fpr_diff),
        equalized_odds_difference: Estimate::of(both(tpr_diff, fpr_diff, f64::max)),
        equalized_odds_ratio: Estimate::of(both(tpr_ratio, fpr_ratio, f64::min)),
        disparate_impact: Estimate::of(dp_ratio),
        accuracy_difference: Estimate::of(acc_diff),
    }
}

/// The most selected counted group's selection rate.
fn top_selection_rate(counts: &[Counts], min_group: u64) -> Option<f64> {
    counted(counts, min_group)
        .filter_map(Counts::selection_rate)
        .fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.max(v))))
}

/// `group`'s selection rate over `top`, the most selected counted group's
/// ([`top_selection_rate`], computed once per analysis).
fn impact_ratio(top: Option<f64>, group: &Counts) -> Option<f64> {
    let (top, rate) = (top?, group.selection_rate()?);
    (top > 0.0).then(|| rate / top)
}

fn warnings_of(analysis: &Analysis, min_group: u64) -> Vec<String> {
    let name = analysis.name();
    let mut out = Vec::new();
    let label = |g: &Group| g.values.join(" / ");
    let no_positive: Vec<_> = analysis
        .groups
        .iter()
        .filter(|g| g.rates.label_positive == 0)
        .map(label)
        .collect();
    if !no_positive.is_empty() {
        out.push(format!(
            "{name}: no positive label in {}: their true positive rate is counted as 0 (as fairlearn does), which can make equalized odds look worse than it is",
            no_positive.join(", ")
        ));
    }
    let no_negative: Vec<_> = analysis
        .groups
        .iter()
        .filter(|g| g.rates.label_positive == g.rates.rows)
        .map(label)
        .collect();
    if !no_negative.is_empty() {
        out.push(format!(
            "{name}: no negative label in {}: their false positive rate is counted as 0 (as fairlearn does)",
            no_negative.join(", ")
        ));
    }
    let excluded: Vec<_> = analysis
        .groups
        .iter()
        .filter(|g| g.excluded)
        .map(label)
        .collect();
    if !excluded.is_empty() {
        out.push(format!(
            "{name}: {} group(s) under {min_group} rows left out of the disparities: {}",
            excluded.len(),
            excluded.join(", ")
        ));
    }
    let counted = analysis.groups.iter().filter(|g| !g.excluded).count();
    if counted < 2 {
        out.push(format!(
            "{name}: fewer than two groups to compare: its disparities are undefined, and any threshold on them fails"
        ));
    }
    out
}

/// The percentile bootstrap: every estimate of `out` and `overall` gets its interval.
fn resample(
    rows: &[Row],
    analyses: &[(Vec<String>, Partition)],
    everyone: &Partition,
    out: &mut [Analysis],
    overall: &mut Rates,
    options: &Options,
) {
    let n = rows.len();
    let bins = options.calibration_bins;
    let mut rng = fastrand::Rng::with_seed(options.seed);
    // Samples of each value: per analysis, per group, per rate; the disparities; overall.
    let mut group_samples: Vec<Vec<RateSamples>> = analyses
        .iter()
        .map(|(_, p)| vec![RateSamples::default(); p.groups.len()])
        .collect();
    let mut disparity_samples: Vec<HashMap<Metric, Vec<f64>>> =
        analyses.iter().map(|_| HashMap::new()).collect();
    let mut overall_samples = RateSamples::default();
    let mut draws = vec![0usize; n];
    for _ in 0..options.bootstrap {
        for d in &mut draws {
            *d = rng.usize(0..n);
        }
        let pick = |i: usize| draws.get(i).copied();
        for (a, (_, partition)) in analyses.iter().enumerate() {
            let counts = partition.count(rows, bins, pick);
            if let Some(samples) = group_samples.get_mut(a) {
                let top = top_selection_rate(&counts, options.min_group);
                for (s, c) in samples.iter_mut().zip(&counts) {
                    s.push(c, top);
                }
            }
            let d = disparities(&counts, options.min_group);
            if let Some(map) = disparity_samples.get_mut(a) {
                for m in Metric::ALL {
                    if let Some(v) = d.get(m).value {
                        map.entry(m).or_default().push(v);
                    }
                }
            }
        }
        if let Some(c) = everyone.count(rows, bins, pick).first() {
            overall_samples.push(c, None);
        }
    }
    let interval = |v: &mut Vec<f64>| percentile_interval(v, options.confidence);
    for ((analysis, samples), mut disparity) in
        out.iter_mut().zip(group_samples).zip(disparity_samples)
    {
        for (group, mut s) in analysis.groups.iter_mut().zip(samples) {
            group.impact_ratio.interval = interval(&mut s.impact_ratio);
            s.apply(&mut group.rates, options.confidence);
        }
        for m in Metric::ALL {
            if let Some(v) = disparity.get_mut(&m) {
                analysis.disparities.get_mut(m).interval = interval(v);
            }
        }
    }
    overall_samples.apply(overall, options.confidence);
}

/// One group's values over the resamples it was present in.
#[derive(Debug, Clone, Default)]
struct RateSamples {
    selection_rate: Vec<f64>,
    true_positive_rate: Vec<f64>,
    false_positive_rate: Vec<f64>,
    accuracy: Vec<f64>,
    impact_ratio: Vec<f64>,
    mean_score: Vec<f64>,
    brier: Vec<f64>,
    expected_calibration_error: Vec<f64>,
}

impl RateSamples {
    /// `top`: the most selected counted group's rate in this resample.
    fn push(&mut self, c: &Counts, top: Option<f64>) {
        let put = |v: &mut Vec<f64>, x: Option<f64>| v.extend(x);
        // A group absent from a resample has no value there (not a rate of 0).
        if c.rows == 0 {
            return;
        }
        put(&mut self.selection_rate, c.selection_rate());
        put(&mut self.true_positive_rate, c.true_positive_rate());
        put(&mut self.false_positive_rate, c.false_positive_rate());
        put(&mut self.accuracy, c.accuracy());
        put(&mut self.impact_ratio, impact_ratio(top, c));
        put(&mut self.mean_score, c.mean_score());
        put(&mut self.brier, c.brier());
        put(
            &mut self.expected_calibration_error,
            c.expected_calibration_error(),
        );
    }

    fn apply(mut self, rates: &mut Rates, confidence: f64) {
        let set = |e: &mut Estimate, v: &mut Vec<f64>| {
            e.interval = percentile_interval(v, confidence);
        };
        set(&mut rates.selection_rate, &mut self.selection_rate);
        set(&mut rates.true_positive_rate, &mut self.true_positive_rate);
        set(
            &mut rates.false_positive_rate,
            &mut self.false_positive_rate,
        );
        set(&mut rates.accuracy, &mut self.accuracy);
        if let Some(c) = &mut rates.calibration {
            set(&mut c.mean_score, &mut self.mean_score);
            set(&mut c.brier, &mut self.brier);
            set(
                &mut c.expected_calibration_error,
                &mut self.expected_calibration_error,
            );
        }
    }
}

/// The `(1 − confidence) / 2` and `(1 + confidence) / 2` quantiles of `v`, interpolated
/// linearly between order statistics (numpy's default); `None` for no sample.
pub fn percentile_interval(v: &mut [f64], confidence: f64) -> Option<[f64; 2]> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let q = |p: f64| {
        let h = (v.len() - 1) as f64 * p;
        let lo = h.floor() as usize;
        let hi = h.ceil() as usize;
        let (a, b) = (v.get(lo).copied()?, v.get(hi).copied()?);
        Some(a + (b - a) * (h - lo as f64))
    };
    Some([q((1.0 - confidence) / 2.0)?, q((1.0 + confidence) / 2.0)?])
}

#[cfg(test)]
mod tests;
