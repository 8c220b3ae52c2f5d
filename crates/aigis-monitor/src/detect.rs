//! Per-request detectors of inputs that are not like the reference data: fitted offline
//! on the reference (`aigis detect fit`), stored as one JSON file that is signed like a
//! model, and run on each input (`aigis detect`, the gateway).
//!
//! - **ood**: an isolation forest (the data stage's, [`aigis_data::poison::IsolationForest`])
//!   grown on the reference rows; its score is high for a row the trees isolate quickly.
//! - **mahalanobis**: the squared Mahalanobis distance under a shrunk covariance of the
//!   reference ([`mahalanobis`]): high for a row whose values do not go together, which
//!   a forest that splits one feature at a time does not see.
//! - **squeeze**: feature squeezing ([`squeeze`]): how far the model's probabilities move
//!   when the input is squeezed. It needs the model, and is tied to it by its SHA-256.
//!
//! The thresholds are calibrated on clean rows the forest did not see (a held-out share
//! of the reference, or a separate clean file) for a stated false-positive rate of the
//! detectors together: a row is flagged when a score is above its detector's threshold,
//! and the thresholds are set ([`joint_thresholds`]) so that at most `⌊fpr × n⌋` of the `n`
//! calibration rows are flagged by any detector (for new clean rows from the same
//! distribution the expected rate is then at most about `fpr`). A row whose score cannot be computed (a value that is not a finite
//! number where the reference had none missing, a model output that is not a number) is
//! flagged: no verdict is never "clean".

pub mod input;
pub mod mahalanobis;
pub mod squeeze;

use std::collections::BTreeMap;

use aigis_data::poison::IsolationForest;
use serde::{Deserialize, Serialize};

use crate::Error;
pub use input::{Columns, Matrix, read_matrix};
pub use mahalanobis::Mahalanobis;
pub use squeeze::{Image, Squeezer};

/// The detector file's `format`.
pub const FORMAT: &str = "aigis-detector/1";

/// The largest detector file read.
pub const MAX_DETECTOR_BYTES: u64 = 256 << 20;

/// A model, as the squeeze detector asks it: class probabilities for each row.
pub trait Model {
    /// `rows.rows × classes` probabilities, row-major, and `classes`.
    fn probabilities(&self, rows: &Matrix) -> Result<(Vec<f64>, usize), String>;
    /// The probabilities of the very rows being scored, when the caller has them already
    /// (a gateway holds the answer it served for them): the squeeze detector then runs
    /// the model on the squeezed rows only. `None` (the default) asks the model.
    fn answered(&self, rows: &Matrix) -> Option<(Vec<f64>, usize)> {
        let _ = rows;
        None
    }
}

/// A fitted detector file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Detector {
    /// [`FORMAT`].
    pub format: String,
    /// The features, in the order of a row.
    pub features: Vec<String>,
    /// Each feature's smallest and largest finite value in the reference.
    pub ranges: Vec<[f64; 2]>,
    /// Each feature's median in the reference (what a missing value is taken as).
    pub medians: Vec<f64>,
    /// Whether the reference had missing values in each feature: where it had none, a
    /// missing value is flagged rather than filled in.
    pub missing: Vec<bool>,
    /// The false-positive rate the thresholds were calibrated for, all detectors together.
    pub fpr: f64,
    pub calibration: Calibration,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ood: Option<Ood>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mahalanobis: Option<Mahalanobis>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub squeeze: Option<Squeeze>,
    /// PRADA's threshold for the model's extraction detector, calibrated on natural
    /// clients simulated from the reference (with the model).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extraction: Option<Extraction>,
}

/// The extraction detector's calibration ([`crate::extraction::calibrate`]): it holds for
/// the model it was made with, whose answers split the rows into classes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Extraction {
    /// The SHA-256 of the model file (hex).
    pub model_sha256: String,
    pub prada: crate::extraction::Calibrated,
}

/// Where the thresholds came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Calibration {
    /// Reference rows the forest was grown on.
    pub fit_rows: usize,
    /// Clean rows the thresholds were set on.
    pub calibration_rows: usize,
    /// `held_out` (a share of the reference, drawn with `seed`) or `file`.
    pub source: String,
    pub seed: u64,
    /// On the calibration rows, the share each detector flags, and `any` the share
    /// flagged by one or more (at most `fpr`).
    pub flagged: BTreeMap<String, f64>,
    /// Where the most atypical tenth of the calibration rows begins, for the model-free
    /// detectors: what the extraction detector's `atypical` sign counts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub atypical: Option<Atypical>,
    /// The calibration rows by the class the model answers and how many of them the
    /// file's detectors flagged: the extraction detector's inputs sign compares a
    /// client's flagged rows with these class by class.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by_class: Option<ByClass>,
}

/// [`Calibration::by_class`]: it holds for the model that classed the rows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ByClass {
    /// The SHA-256 of the model file (hex).
    pub model_sha256: String,
    pub classes: Vec<crate::extraction::ClassFlags>,
}

/// The share of clean rows [`Atypical`]'s cuts leave above them, each detector on its own.
pub const ATYPICAL_SHARE: f64 = 0.1;

/// Where the most atypical [`ATYPICAL_SHARE`] of the clean calibration rows begins, by
/// the detectors that do not use the model (`ood`, `mahalanobis`).
///
/// A copier's synthetic queries (random points, features drawn each on its own) can
/// stay under the thresholds set for a 1 % false-positive rate and still be, nearly all
/// of them, among the clean rows' most atypical tenth: on digits, rows of independent
/// pixels drawn from real digits passed the thresholds 98 % of the time and were above the
/// mahalanobis cut 99–100 % of the time (`bench/extraction_eval.py`, BENCHMARKS.md).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Atypical {
    /// Each detector's cut: a row whose score is above it is atypical.
    pub cuts: BTreeMap<String, f64>,
    /// The calibration rows above one cut or more.
    pub above: usize,
}

/// The out-of-distribution detector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ood {
    pub threshold: f64,
    pub forest: IsolationForest,
}

/// The feature-squeezing detector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Squeeze {
    pub threshold: f64,
    pub squeezers: Vec<Squeezer>,
    /// The value range of the bit-depth squeezer.
    pub low: f64,
    pub high: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<Image>,
    /// The SHA-256 of the model file it was calibrated with (hex).
    pub model_sha256: String,
    /// The model's number of classes.
    pub classes: usize,
}

/// How to fit.
#[derive(Debug, Clone)]
pub struct FitOptions {
    pub fpr: f64,
    /// The share of the reference held out to calibrate on, when no calibration file is
    /// given.
    pub calibration_share: f64,
    pub seed: u64,
    pub trees: usize,
    pub subsample: usize,
    /// Fit the ood detector.
    pub ood: bool,
    /// Fit the mahalanobis detector: `None` when the features are at most
    /// [`mahalanobis::AUTO_MAX_FEATURES`] and some vary.
    pub mahalanobis: Option<bool>,
    /// Fit the squeeze detector (needs the model).
    pub squeeze: Option<SqueezeOptions>,
    /// The SHA-256 of the model given to [`fit`] (hex): with it, the calibration rows are
    /// classed by the model into [`Calibration::by_class`].
    pub model_sha256: Option<String>,
}

/// How to calibrate the extraction detector's PRADA threshold.
#[derive(Debug, Clone)]
pub struct ExtractionOptions {
    /// The tracker's settings it is for (`min_distances`, `history`, `probe_window`).
    pub settings: crate::extraction::Settings,
    /// Natural clients simulated.
    pub clients: usize,
    pub model_sha256: String,
}

impl Default for FitOptions {
    fn default() -> Self {
        Self {
            fpr: 0.01,
            calibration_share: 0.25,
            seed: 0,
            trees: 200,
            subsample: 256,
            ood: true,
            mahalanobis: None,
            squeeze: None,
            model_sha256: None,
        }
    }
}

/// The squeeze detector's settings.
#[derive(Debug, Clone)]
pub struct SqueezeOptions {
    pub squeezers: Vec<Squeezer>,
    pub image: Option<Image>,
    /// The bit-depth squeezer's range; the reference's smallest and largest value when
    /// `None`.
    pub range: Option<(f64, f64)>,
    pub model_sha256: String,
}

/// One row's result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RowResult {
    pub row: usize,
    pub flagged: bool,
    /// Each detector's score (`null` when it could not be computed; then flagged).
    pub scores: BTreeMap<&'static str, Option<f64>>,
    /// The detectors that flagged it.
    pub flags: Vec<&'static str>,
    pub reasons: Vec<String>,
}

impl RowResult {
    /// `detector` could not score the row: no score, and the row flagged by it (no
    /// verdict is not a pass), with `why` when the row's own reasons do not say.
    fn unscored(&mut self, detector: &'static str, why: Option<&str>) {
        self.scores.insert(detector, None);
        self.flags.push(detector);
        self.reasons.extend(why.map(str::to_owned));
    }
}

/// What [`Detector::score_with`] runs and says.
#[derive(Debug, Clone, Copy)]
pub struct ScoreOptions {
    /// Run the ood detector (when the file has one).
    pub ood: bool,
    /// Run the mahalanobis detector (when the file has one).
    pub mahalanobis: bool,
    /// Run the squeeze detector (when the file has one).
    pub squeeze: bool,
    /// Reasons quote the values (a feature out of range); off where the reasons go to
    /// an audit record, which holds no request data.
    pub values: bool,
}

impl Default for ScoreOptions {
    fn default() -> Self {
        Self {
            ood: true,
            mahalanobis: true,
            squeeze: true,
            values: true,
        }
    }
}

/// Reasons kept per row.
const MAX_REASONS: usize = 6;

/// The `(k+1)`-th largest of `scores`, `k = ⌊fpr × n⌋`: flagging what is above it flags at
/// most `k` of them.
pub fn threshold(scores: &[f64], fpr: f64) -> f64 {
    let mut sorted: Vec<f64> = scores.to_vec();
    sorted.sort_unstable_by(|a, b| b.total_cmp(a));
    let k = ((fpr * sorted.len() as f64).floor() as usize).min(sorted.len().saturating_sub(1));
    sorted.get(k).copied().unwrap_or(f64::INFINITY)
}

/// Thresholds for several detectors' calibration scores (one slice per detector, a
/// score per row) such that the rows flagged by any of them are at most `⌊fpr × n⌋`: each
/// detector's threshold is its `(k+1)`-th largest score, with the largest `k` for which
/// the union stays within the budget (the union only grows with `k`, so a binary search
/// finds it). One detector: [`threshold`]'s.
pub fn joint_thresholds(scores: &[&[f64]], fpr: f64) -> Vec<f64> {
    let n = scores.first().map_or(0, |s| s.len());
    let budget = (fpr * n as f64).floor() as usize;
    let sorted: Vec<Vec<f64>> = scores
        .iter()
        .map(|s| {
            let mut v = s.to_vec();
            v.sort_unstable_by(|a, b| b.total_cmp(a));
            v
        })
        .collect();
    let at = |k: usize| -> Vec<f64> {
        sorted
            .iter()
            .map(|v| {
                v.get(k.min(v.len().saturating_sub(1)))
                    .copied()
                    .unwrap_or(f64::INFINITY)
            })
            .collect()
    };
    let union = |t: &[f64]| {
        (0..n)
            .filter(|&i| {
                scores
                    .iter()
                    .zip(t)
                    .any(|(s, &t)| s.get(i).is_some_and(|&x| x > t))
            })
            .count()
    };
    // The largest k in 0..=budget whose union fits (k = 0 always does: nothing is above
    // each detector's largest score).
    let (mut lo, mut hi) = (0usize, budget);
    while lo < hi {
        let mid = lo + (hi - lo).div_ceil(2);
        if union(&at(mid)) <= budget {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    at(lo)
}

fn options_error(message: impl Into<String>) -> Error {
    Error::Options(message.into())
}

/// Smallest and largest finite value, median, and whether any value is missing, per
/// column of `m`.
fn column_stats(m: &Matrix) -> (Vec<[f64; 2]>, Vec<f64>, Vec<bool>) {
    let mut ranges = Vec::with_capacity(m.cols);
    let mut medians = Vec::with_capacity(m.cols);
    let mut missing = Vec::with_capacity(m.cols);
    for j in 0..m.cols {
        let mut values: Vec<f64> = (0..m.rows)
            .filter_map(|i| m.data.get(i * m.cols + j).copied())
            .filter(|v| v.is_finite())
            .collect();
        missing.push(values.len() < m.rows);
        values.sort_unstable_by(f64::total_cmp);
        let lo = values.first().copied().unwrap_or(0.0);
        let hi = values.last().copied().unwrap_or(0.0);
        ranges.push([lo, hi]);
        let n = values.len();
        let median = match n {
            0 => 0.0,
            _ if n % 2 == 1 => values.get(n / 2).copied().unwrap_or(0.0),
            _ => {
                let a = values.get(n / 2 - 1).copied().unwrap_or(0.0);
                let b = values.get(n / 2).copied().unwrap_or(0.0);
                a / 2.0 + b / 2.0
            }
        };
        medians.push(median);
    }
    (ranges, medians, missing)
}

/// The rows `which` of `m`.
fn take(m: &Matrix, which: &[usize]) -> Matrix {
    let mut data = Vec::with_capacity(which.len() * m.cols);
    for &i in which {
        data.extend_from_slice(m.row(i));
    }
    Matrix {
        rows: which.len(),
        cols: m.cols,
        data,
        names: m.names.clone(),
    }
}

/// Fits the detectors on `reference`, calibrating on `calibration` when given, else on a
/// held-out share of the reference. `model` is needed for the squeeze detector.
pub fn fit(
    reference: &Matrix,
    calibration: Option<&Matrix>,
    model: Option<&dyn Model>,
    opts: &FitOptions,
) -> Result<Detector, Error> {
    if !(opts.fpr > 0.0 && opts.fpr < 0.5) {
        return Err(options_error(format!(
            "the false-positive rate {} is not between 0 and 0.5",
            opts.fpr
        )));
    }
    let wide = reference.cols > mahalanobis::AUTO_MAX_FEATURES;
    let with_mahalanobis = opts.mahalanobis.unwrap_or(!wide);
    if !opts.ood && !with_mahalanobis && opts.squeeze.is_none() {
        return Err(options_error(
            "no detector to fit: the ood and mahalanobis detectors are off and there is no model to squeeze",
        ));
    }
    if reference.cols == 0 {
        return Err(options_error("the reference has no feature"));
    }
    let (ranges, medians, missing) = column_stats(reference);
    let empty = (0..reference.cols).find(|&j| {
        (0..reference.rows).all(|i| !reference.row(i).get(j).is_some_and(|v| v.is_finite()))
    });
    if let Some(j) = empty {
        return Err(options_error(format!(
            "feature `{}` has no value in the reference",
            reference.names.get(j).map_or("", String::as_str)
        )));
    }
    let (fit_rows, cal, source) = match calibration {
        Some(c) => {
            if c.names != reference.names {
                return Err(Error::Columns(format!(
                    "the calibration rows' columns ({}) are not the reference's ({})",
                    c.names.join(", "),
                    reference.names.join(", ")
                )));
            }
            (reference.clone(), c.clone(), "file")
        }
        None => {
            if !(opts.calibration_share > 0.0 && opts.calibration_share < 1.0) {
                return Err(options_error(format!(
                    "the calibration share {} is not between 0 and 1",
                    opts.calibration_share
                )));
            }
            let mut order: Vec<usize> = (0..reference.rows).collect();
            fastrand::Rng::with_seed(opts.seed).shuffle(&mut order);
            let held = ((opts.calibration_share * reference.rows as f64).ceil() as usize)
                .min(reference.rows);
            let (cal, fit) = order.split_at(held);
            (take(reference, fit), take(reference, cal), "held_out")
        }
    };
    // At fpr × n < 1 the threshold is the largest calibration score, which new clean
    // rows pass with probability about 1/(n+1): that must not be above fpr.
    let need = (1.0 / opts.fpr).ceil() as usize - 1;
    if cal.rows < need.max(1) {
        return Err(options_error(format!(
            "calibrating at a false-positive rate of {} needs at least {} clean rows to set the threshold on, there are {}: give more rows, a larger --calibration-share, a calibration file or a larger --fpr",
            opts.fpr,
            need.max(1),
            cal.rows
        )));
    }
    let mut detector = Detector {
        format: FORMAT.to_owned(),
        features: reference.names.clone(),
        ranges,
        medians,
        missing,
        fpr: opts.fpr,
        calibration: Calibration {
            fit_rows: fit_rows.rows,
            calibration_rows: cal.rows,
            source: source.to_owned(),
            seed: opts.seed,
            flagged: BTreeMap::new(),
            atypical: None,
            by_class: None,
        },
        ood: None,
        mahalanobis: None,
        squeeze: None,
        extraction: None,
    };
    let mut calibration_scores: Vec<(&'static str, Vec<f64>)> = Vec::new();
    // The clean calibration rows, missing values filled: what the ood and mahalanobis
    // thresholds are set on.
    let calibration_rows = detector.filled(&cal);
    if opts.ood {
        if fit_rows.rows < 2 {
            return Err(options_error(format!(
                "the isolation forest needs at least 2 rows to grow on, there are {}",
                fit_rows.rows
            )));
        }
        let filled = detector.filled(&fit_rows);
        let forest = IsolationForest::fit(
            &filled,
            fit_rows.cols,
            opts.trees,
            opts.subsample,
            opts.seed,
        )
        .map_err(|e| options_error(e.to_string()))?;
        // A column constant in the rows the forest grew on but not in the clean
        // calibration rows is not constant in the data: its other values are not flagged.
        let mut forest = forest;
        forest.forget_constants_varying_in(&calibration_rows);
        calibration_scores.push(("ood", forest.scores(&calibration_rows)));
        detector.ood = Some(Ood {
            threshold: f64::INFINITY,
            forest,
        });
    }
    if with_mahalanobis {
        if opts.mahalanobis == Some(true) && reference.cols > mahalanobis::MAX_FEATURES {
            return Err(options_error(format!(
                "the mahalanobis detector is fitted for at most {} features, the reference has {}",
                mahalanobis::MAX_FEATURES,
                reference.cols
            )));
        }
        if fit_rows.rows < 2 {
            return Err(options_error(format!(
                "the mahalanobis detector needs at least 2 rows to fit on, there are {}",
                fit_rows.rows
            )));
        }
        // Beyond MAX_FIT_ROWS, a seeded sample: the estimate costs rows × features².
        let sample = if fit_rows.rows > mahalanobis::MAX_FIT_ROWS {
            let mut order: Vec<usize> = (0..fit_rows.rows).collect();
            fastrand::Rng::with_seed(opts.seed ^ 0x6d61_6861).shuffle(&mut order);
            order.truncate(mahalanobis::MAX_FIT_ROWS);
            order.sort_unstable();
            take(&fit_rows, &order)
        } else {
            fit_rows.clone()
        };
        match Mahalanobis::fit(&detector.filled(&sample), sample.cols, &calibration_rows) {
            Some(m) => {
                calibration_scores.push(("mahalanobis", m.scores(&calibration_rows)));
                detector.mahalanobis = Some(m);
            }
            None if opts.mahalanobis == Some(true) => {
                return Err(options_error(
                    "the mahalanobis detector cannot be fitted: no feature varies in the reference or the calibration rows",
                ));
            }
            None => {}
        }
    }
    if let Some(sq) = &opts.squeeze {
        let model = model.ok_or_else(|| options_error("the squeeze detector needs the model"))?;
        if sq.squeezers.is_empty() {
            return Err(options_error(
                "the squeeze detector needs at least one squeezer",
            ));
        }
        let (low, high) = match sq.range {
            Some(r) => r,
            None => detector
                .ranges
                .iter()
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), [a, b]| {
                    (lo.min(*a), hi.max(*b))
                }),
        };
        if !(low.is_finite() && high.is_finite() && low < high) {
            return Err(options_error(format!(
                "the bit-depth range {low} to {high} is not a range of finite numbers"
            )));
        }
        check_image(&sq.squeezers, sq.image, detector.features.len())?;
        let mut squeeze = Squeeze {
            threshold: 0.0,
            squeezers: sq.squeezers.clone(),
            low,
            high,
            image: sq.image,
            model_sha256: sq.model_sha256.clone(),
            classes: 0,
        };
        let (scores, classes, _) = squeeze_scores(&detector, &squeeze, &cal, model)?;
        if let Some(i) = scores.iter().position(|s| !s.is_finite()) {
            return Err(options_error(format!(
                "the model's probabilities for calibration row {i} (a clean row) are not numbers"
            )));
        }
        calibration_scores.push(("squeeze", scores));
        squeeze.classes = classes;
        detector.squeeze = Some(squeeze);
    }
    let scores: Vec<&[f64]> = calibration_scores
        .iter()
        .map(|(_, s)| s.as_slice())
        .collect();
    let thresholds = joint_thresholds(&scores, opts.fpr);
    for ((name, s), &t) in calibration_scores.iter().zip(&thresholds) {
        // A threshold at the highest score the detector can give flags nothing: no
        // detector is not a detector that passes everything.
        let top = match *name {
            "ood" => 1.0,
            "squeeze" => 2.0,
            _ => f64::INFINITY,
        };
        if t >= top {
            return Err(options_error(format!(
                "the {name} detector cannot be calibrated at a false-positive rate of {}: more than that share of the clean calibration rows get its highest score ({top}), so its threshold would flag nothing; give more reference rows or a larger --fpr",
                opts.fpr
            )));
        }
        let share = s.iter().filter(|&&x| x > t).count() as f64 / cal.rows as f64;
        detector.calibration.flagged.insert((*name).into(), share);
        match *name {
            "ood" => detector.ood.iter_mut().for_each(|o| o.threshold = t),
            "mahalanobis" => detector
                .mahalanobis
                .iter_mut()
                .for_each(|m| m.threshold = t),
            _ => detector.squeeze.iter_mut().for_each(|q| q.threshold = t),
        }
    }
    let any = (0..cal.rows)
        .filter(|&i| {
            scores
                .iter()
                .zip(&thresholds)
                .any(|(s, &t)| s.get(i).is_some_and(|&x| x > t))
        })
        .count();
    detector
        .calibration
        .flagged
        .insert("any".into(), any as f64 / cal.rows as f64);
    detector.calibration.atypical = atypical_cuts(&calibration_scores, cal.rows);
    if let (Some(model), Some(sha256)) = (model, &opts.model_sha256) {
        let flagged: Vec<bool> = (0..cal.rows)
            .map(|i| {
                scores
                    .iter()
                    .zip(&thresholds)
                    .any(|(s, &t)| s.get(i).is_some_and(|&x| x > t))
            })
            .collect();
        detector.calibration.by_class = Some(ByClass {
            model_sha256: sha256.clone(),
            classes: class_flags(&cal, model, &flagged)?,
        });
    }
    Ok(detector)
}

/// The model's class for each of `rows` (the index of its largest probability).
fn classes_of(model: &dyn Model, rows: &Matrix) -> Result<Vec<u32>, Error> {
    let (probs, k) = model
        .probabilities(rows)
        .map_err(|e| options_error(format!("running the model: {e}")))?;
    if k == 0 || probs.len() != rows.rows * k {
        return Err(options_error(format!(
            "the model gave {} probabilities for {} rows of {k} classes",
            probs.len(),
            rows.rows
        )));
    }
    Ok(probs
        .chunks_exact(k)
        .map(|p| {
            let best =
                p.iter()
                    .enumerate()
                    .fold((0usize, f64::NEG_INFINITY), |(bi, bv), (i, &v)| {
                        if v > bv { (i, v) } else { (bi, bv) }
                    });
            u32::try_from(best.0).unwrap_or(u32::MAX)
        })
        .collect())
}

/// The calibration rows by the class the model answers, and how many of each class
/// were `flagged`.
fn class_flags(
    rows: &Matrix,
    model: &dyn Model,
    flagged: &[bool],
) -> Result<Vec<crate::extraction::ClassFlags>, Error> {
    let classes = classes_of(model, rows)?;
    let mut counts: BTreeMap<u32, (u64, u64)> = BTreeMap::new();
    for (class, &f) in classes.iter().zip(flagged) {
        let c = counts.entry(*class).or_default();
        c.0 += 1;
        c.1 += u64::from(f);
    }
    Ok(counts
        .into_iter()
        .map(|(class, (rows, flagged))| crate::extraction::ClassFlags {
            class,
            rows,
            flagged,
        })
        .collect())
}

/// The model-free detectors' [`Atypical`] cuts on the calibration rows' scores; `None`
/// without such a detector.
fn atypical_cuts(scores: &[(&'static str, Vec<f64>)], rows: usize) -> Option<Atypical> {
    let free: Vec<(&str, &[f64], f64)> = scores
        .iter()
        .filter(|(name, _)| matches!(*name, "ood" | "mahalanobis"))
        .map(|(name, s)| (*name, s.as_slice(), threshold(s, ATYPICAL_SHARE)))
        .collect();
    if free.is_empty() || rows == 0 {
        return None;
    }
    let above = (0..rows)
        .filter(|&i| {
            free.iter()
                .any(|(_, s, cut)| s.get(i).is_some_and(|x| x > cut))
        })
        .count();
    Some(Atypical {
        cuts: free
            .iter()
            .map(|(name, _, cut)| ((*name).to_owned(), *cut))
            .collect(),
        above,
    })
}

/// PRADA's threshold for `d`'s extraction detector (the file keeps it as
/// `d.extraction`), from natural clients replaying the reference's complete rows (the
/// rows `d` was fitted on), each in the class the model answers for it, over the features
/// scaled as the gateway scales them (by the reference's ranges). The error says why
/// it cannot be made (too few distinct rows for one test, the model's answers).
pub fn calibrate_extraction(
    d: &Detector,
    reference: &Matrix,
    model: &dyn Model,
    ex: &ExtractionOptions,
    seed: u64,
) -> Result<Extraction, Error> {
    ex.settings
        .validate()
        .map_err(|(key, m)| options_error(format!("the extraction detector's {key} {m}")))?;
    let mut complete: Vec<usize> = (0..reference.rows)
        .filter(|&i| reference.row(i).iter().all(|v| v.is_finite()))
        .collect();
    // Beyond MAX_POOL_ROWS, a seeded sample: a simulated client sends at most a few
    // thousand rows, and the model runs on each row kept.
    if complete.len() > crate::extraction::MAX_POOL_ROWS {
        fastrand::Rng::with_seed(seed ^ 0x7072_6164).shuffle(&mut complete);
        complete.truncate(crate::extraction::MAX_POOL_ROWS);
        complete.sort_unstable();
    }
    let rows = take(reference, &complete);
    let classes = classes_of(model, &rows)?;
    let scale = crate::extraction::scale_of(&d.ranges);
    let prada =
        crate::extraction::calibrate(&ex.settings, &scale, &rows.data, &classes, ex.clients, seed)
            .map_err(|e| options_error(format!("calibrating the extraction detector: {e}")))?;
    Ok(Extraction {
        model_sha256: ex.model_sha256.clone(),
        prada,
    })
}

fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

fn check_image(squeezers: &[Squeezer], image: Option<Image>, features: usize) -> Result<(), Error> {
    let median = squeezers
        .iter()
        .any(|s| matches!(s, Squeezer::Median { .. }));
    match image {
        None if median => Err(options_error(
            "median smoothing needs the image shape (--image HxW)",
        )),
        Some(img) if img.len() != Some(features) => Err(options_error(format!(
            "the image shape {img} holds {} values, the rows have {features}",
            img.len()
                .map_or_else(|| "too many".to_owned(), |n| n.to_string())
        ))),
        _ => Ok(()),
    }
}

/// Each row's squeeze score (NaN where the model gave no number), the model's classes,
/// and for each row the squeezer that moved it most.
fn squeeze_scores(
    d: &Detector,
    sq: &Squeeze,
    rows: &Matrix,
    model: &dyn Model,
) -> Result<(Vec<f64>, usize, Vec<Squeezer>), Error> {
    let model_error = |e: String| options_error(format!("running the model: {e}"));
    let (base, classes) = match model.answered(rows) {
        Some(known) => known,
        None => model.probabilities(rows).map_err(model_error)?,
    };
    if classes == 0 || base.len() != rows.rows * classes {
        return Err(options_error(format!(
            "the model gave {} probabilities for {} rows of {classes} classes",
            base.len(),
            rows.rows
        )));
    }
    let cx = squeeze::Context {
        low: sq.low,
        high: sq.high,
        ranges: &d.ranges,
        image: sq.image,
    };
    let first = sq.squeezers.first().copied().unwrap_or(Squeezer::Bits(1));
    let mut best = vec![0.0f64; rows.rows];
    let mut which = vec![first; rows.rows];
    let mut squeezed = rows.clone();
    for &s in &sq.squeezers {
        for (out, row) in squeezed
            .data
            .chunks_exact_mut(rows.cols.max(1))
            .zip(rows.data.chunks_exact(rows.cols.max(1)))
        {
            squeeze::squeeze(s, row, out, &cx);
        }
        let (probs, k) = model.probabilities(&squeezed).map_err(model_error)?;
        if k != classes || probs.len() != base.len() {
            return Err(options_error(
                "the model gave a different number of classes for the squeezed rows",
            ));
        }
        let pairs = base.chunks_exact(classes).zip(probs.chunks_exact(classes));
        for ((p, q), (b, w)) in pairs.zip(best.iter_mut().zip(which.iter_mut())) {
            let l1: f64 = p.iter().zip(q).map(|(a, b)| (a - b).abs()).sum();
            // NaN (a probability that is not a number) stays: the row cannot be scored.
            if !l1.is_finite() {
                *b = f64::NAN;
            } else if l1 > *b {
                *b = l1;
                *w = s;
            }
        }
    }
    Ok((best, classes, which))
}

/// Formats a score or value short.
fn short(x: f64) -> String {
    let s = format!("{x:.4}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s.is_empty() || s == "-" {
        "0".to_owned()
    } else {
        s.to_owned()
    }
}

impl Detector {
    /// Reads and checks a detector file's bytes.
    pub fn from_json(bytes: &[u8]) -> Result<Self, Error> {
        let d: Detector = serde_json::from_slice(bytes)
            .map_err(|e| options_error(format!("not a detector file: {e}")))?;
        d.validate()?;
        Ok(d)
    }

    /// Checks what a file could get wrong: the format, lengths that agree, finite
    /// thresholds, a forest whose walks end.
    pub fn validate(&self) -> Result<(), Error> {
        let bad = |m: String| options_error(format!("the detector file is not valid: {m}"));
        if self.format != FORMAT {
            return Err(bad(format!(
                "its format is `{}`, not `{FORMAT}`",
                self.format
            )));
        }
        let n = self.features.len();
        if n == 0 || self.ranges.len() != n || self.medians.len() != n || self.missing.len() != n {
            return Err(bad(
                "features, ranges, medians and missing differ in length".into(),
            ));
        }
        if !(self.fpr > 0.0 && self.fpr < 0.5) {
            return Err(bad(format!("fpr {} is not between 0 and 0.5", self.fpr)));
        }
        if self.ood.is_none() && self.mahalanobis.is_none() && self.squeeze.is_none() {
            return Err(bad("it holds no detector".into()));
        }
        if self
            .ranges
            .iter()
            .flatten()
            .chain(&self.medians)
            .any(|v| !v.is_finite())
        {
            return Err(bad("a range or median is not a finite number".into()));
        }
        if let Some(ood) = &self.ood {
            if !ood.threshold.is_finite() {
                return Err(bad("the ood threshold is not a finite number".into()));
            }
            ood.forest.validate().map_err(|e| bad(e.to_string()))?;
            if ood.forest.columns() != n {
                return Err(bad(format!(
                    "the forest scores rows of {} values, the features are {n}",
                    ood.forest.columns()
                )));
            }
        }
        if let Some(m) = &self.mahalanobis {
            m.validate().map_err(bad)?;
            if m.columns() != n {
                return Err(bad(format!(
                    "the mahalanobis distance scores rows of {} values, the features are {n}",
                    m.columns()
                )));
            }
        }
        if let Some(sq) = &self.squeeze {
            if !sq.threshold.is_finite() || sq.squeezers.is_empty() || sq.classes == 0 {
                return Err(bad(
                    "the squeeze threshold, squeezers or classes are missing".into(),
                ));
            }
            if !(sq.low.is_finite() && sq.high.is_finite() && sq.low < sq.high) {
                return Err(bad("the squeeze range is not a range".into()));
            }
            if !is_sha256_hex(&sq.model_sha256) {
                return Err(bad("the model's SHA-256 is not 64 hex digits".into()));
            }
            check_image(&sq.squeezers, sq.image, n).map_err(|e| bad(e.to_string()))?;
        }
        if let Some(a) = &self.calibration.atypical {
            if a.above > self.calibration.calibration_rows {
                return Err(bad(format!(
                    "{} atypical rows of {} calibration rows",
                    a.above, self.calibration.calibration_rows
                )));
            }
            if a.cuts.is_empty() {
                return Err(bad("the atypical cuts are missing".into()));
            }
            for (name, cut) in &a.cuts {
                let held = match name.as_str() {
                    "ood" => self.ood.is_some(),
                    "mahalanobis" => self.mahalanobis.is_some(),
                    _ => false,
                };
                if !held || !cut.is_finite() {
                    return Err(bad(format!(
                        "the atypical cut `{name}` is not a finite cut of a model-free detector the file holds"
                    )));
                }
            }
        }
        if let Some(b) = &self.calibration.by_class {
            if !is_sha256_hex(&b.model_sha256) {
                return Err(bad("the model's SHA-256 is not 64 hex digits".into()));
            }
            crate::extraction::check_class_flags(&b.classes)
                .map_err(|m| bad(format!("the calibration rows by class: {m}")))?;
            let rows: u64 = b.classes.iter().map(|c| c.rows).sum();
            if rows != self.calibration.calibration_rows as u64 {
                return Err(bad(format!(
                    "the calibration rows by class add up to {rows}, not the {} calibration rows",
                    self.calibration.calibration_rows
                )));
            }
        }
        if let Some(ex) = &self.extraction {
            if !is_sha256_hex(&ex.model_sha256) {
                return Err(bad("the model's SHA-256 is not 64 hex digits".into()));
            }
            ex.prada
                .validate()
                .map_err(|m| bad(format!("extraction: {m}")))?;
        }
        Ok(())
    }

    /// How many of `results` (this detector's, on one table) score above one of its
    /// [`Atypical`] cuts or more, or above `only`'s cut when given (a row a detector
    /// could not score counts: no verdict is not a pass); `None` without such a cut.
    pub fn atypical_rows(&self, results: &[RowResult], only: Option<&str>) -> Option<usize> {
        self.atypical_flags(results, only)
            .map(|f| f.iter().filter(|a| **a).count())
    }

    /// Which of `results` are above a cut, as [`Detector::atypical_rows`] counts them, in
    /// their order.
    pub fn atypical_flags(&self, results: &[RowResult], only: Option<&str>) -> Option<Vec<bool>> {
        let all = &self.calibration.atypical.as_ref()?.cuts;
        let cuts = || {
            all.iter()
                .filter(move |(name, _)| only.is_none_or(|o| o == name.as_str()))
        };
        cuts().next()?;
        Some(
            results
                .iter()
                .map(|r| {
                    cuts().any(|(name, cut)| match r.scores.get(name.as_str()) {
                        Some(Some(s)) => s > cut,
                        _ => true,
                    })
                })
                .collect(),
        )
    }

    /// The names of its detectors, in the order they run.
    pub fn names(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        if self.ood.is_some() {
            out.push("ood");
        }
        if self.mahalanobis.is_some() {
            out.push("mahalanobis");
        }
        if self.squeeze.is_some() {
            out.push("squeeze");
        }
        out
    }

    /// `m`'s values with a missing one (not a finite number) replaced by the feature's
    /// median.
    fn filled(&self, m: &Matrix) -> Vec<f64> {
        m.data
            .chunks_exact(m.cols.max(1))
            .flat_map(|row| {
                row.iter()
                    .zip(&self.medians)
                    .map(|(&v, &med)| if v.is_finite() { v } else { med })
            })
            .collect()
    }

    /// `m`'s columns put in the order of the features: by name, or by position when
    /// `m` is an array (positional names) of as many columns.
    pub fn align(&self, m: &Matrix) -> Result<Matrix, Error> {
        if m.names == self.features {
            return Ok(m.clone());
        }
        if m.names == Matrix::positional_names(m.cols) {
            if m.cols != self.features.len() {
                return Err(Error::Columns(format!(
                    "the rows have {} values, the detector's features are {}",
                    m.cols,
                    self.features.len()
                )));
            }
            let mut out = m.clone();
            out.names = self.features.clone();
            return Ok(out);
        }
        let index: Vec<Option<usize>> = self
            .features
            .iter()
            .map(|f| m.names.iter().position(|n| n == f))
            .collect();
        let absent: Vec<&str> = self
            .features
            .iter()
            .zip(&index)
            .filter(|(_, i)| i.is_none())
            .map(|(f, _)| f.as_str())
            .collect();
        if !absent.is_empty() {
            return Err(Error::Columns(format!(
                "the rows lack the detector's feature(s) {}",
                absent.join(", ")
            )));
        }
        let mut data = Vec::with_capacity(m.rows * self.features.len());
        for i in 0..m.rows {
            let row = m.row(i);
            data.extend(
                index
                    .iter()
                    .map(|j| j.and_then(|j| row.get(j)).copied().unwrap_or(f64::NAN)),
            );
        }
        Matrix::new(m.rows, self.features.len(), data, self.features.clone())
    }

    /// Scores every row of `m` (aligned first) with every detector of the file; `model`
    /// is needed when the file has a squeeze detector, and must be the one it was
    /// calibrated with (the caller checks its digest against [`Squeeze::model_sha256`]).
    pub fn score(&self, m: &Matrix, model: Option<&dyn Model>) -> Result<Vec<RowResult>, Error> {
        self.score_with(m, model, &ScoreOptions::default())
    }

    /// [`score`](Self::score) with a choice of detectors and of what the reasons say.
    pub fn score_with(
        &self,
        m: &Matrix,
        model: Option<&dyn Model>,
        opts: &ScoreOptions,
    ) -> Result<Vec<RowResult>, Error> {
        let m = self.align(m)?;
        let pct = |x: f64| {
            let p = format!("{:.2}", x * 100.0);
            format!("{}%", p.trim_end_matches('0').trim_end_matches('.'))
        };
        let mut results: Vec<RowResult> = (0..m.rows)
            .map(|row| RowResult {
                row,
                flagged: false,
                scores: BTreeMap::new(),
                flags: Vec::new(),
                reasons: Vec::new(),
            })
            .collect();
        // Values that are not numbers where the reference had none missing.
        let mut unusable = vec![false; m.rows];
        for (i, r) in results.iter_mut().enumerate() {
            for (j, &v) in m.row(i).iter().enumerate() {
                let allowed = v.is_nan() && self.missing.get(j) == Some(&true);
                if !v.is_finite() && !allowed {
                    if let Some(u) = unusable.get_mut(i) {
                        *u = true;
                    }
                    r.reasons.push(format!(
                        "`{}` is {}, and the reference {}",
                        self.features.get(j).map_or("", String::as_str),
                        if v.is_nan() { "NaN" } else { "infinite" },
                        if v.is_nan() {
                            "had no value missing there"
                        } else {
                            "had only finite values"
                        }
                    ));
                }
            }
        }
        // The rows with missing values filled, once for the detectors that read them.
        let runs_ood = self.ood.is_some() && opts.ood;
        let runs_mahalanobis = self.mahalanobis.is_some() && opts.mahalanobis;
        let filled = if runs_ood || runs_mahalanobis {
            self.filled(&m)
        } else {
            Vec::new()
        };
        if let Some(ood) = self.ood.as_ref().filter(|_| opts.ood) {
            let scores = ood.forest.scores(&filled);
            for ((r, &s), &bad) in results.iter_mut().zip(&scores).zip(&unusable) {
                if bad {
                    r.unscored("ood", None);
                    continue;
                }
                r.scores.insert("ood", Some(s));
                if s > ood.threshold {
                    r.flags.push("ood");
                    r.reasons.push(format!(
                        "isolation score {} is above {} (the {} false-positive threshold)",
                        short(s),
                        short(ood.threshold),
                        pct(self.fpr)
                    ));
                    let row = m.row(r.row);
                    let outside = self.outside(row, opts.values);
                    r.reasons.extend(outside);
                }
            }
        }
        if let Some(maha) = self.mahalanobis.as_ref().filter(|_| opts.mahalanobis) {
            let scores = maha.scores(&filled);
            for ((r, &s), &bad) in results.iter_mut().zip(&scores).zip(&unusable) {
                if bad {
                    r.unscored("mahalanobis", None);
                    continue;
                }
                // A distance that is not a number (a factor read from a file can make one)
                // is no verdict: flagged.
                if s.is_nan() {
                    r.unscored(
                        "mahalanobis",
                        Some("the Mahalanobis distance could not be computed"),
                    );
                    continue;
                }
                r.scores.insert("mahalanobis", Some(s));
                if s > maha.threshold {
                    let quoted = r.flags.contains(&"ood");
                    r.flags.push("mahalanobis");
                    r.reasons.push(format!(
                        "squared Mahalanobis distance {} is above {} (the {} false-positive threshold): far from the reference's rows, or values that do not go together as theirs do",
                        short(s),
                        short(maha.threshold),
                        pct(self.fpr)
                    ));
                    r.reasons.extend(self.far_in(maha, m.row(r.row), s));
                    if !quoted {
                        let outside = self.outside(m.row(r.row), opts.values);
                        r.reasons.extend(outside);
                    }
                }
            }
        }
        if let Some(sq) = self.squeeze.as_ref().filter(|_| opts.squeeze) {
            let model = model.ok_or_else(|| {
                options_error("this detector file squeezes features: it needs the model (--model)")
            })?;
            let (scores, classes, which) = squeeze_scores(self, sq, &m, model)?;
            if classes != sq.classes {
                return Err(options_error(format!(
                    "the model gives {classes} classes, the detector was calibrated with {}",
                    sq.classes
                )));
            }
            for ((r, &s), w) in results.iter_mut().zip(&scores).zip(&which) {
                if !s.is_finite() {
                    r.unscored("squeeze", Some("the model's probabilities are not numbers"));
                    continue;
                }
                r.scores.insert("squeeze", Some(s));
                if s > sq.threshold {
                    r.flags.push("squeeze");
                    r.reasons.push(format!(
                        "the prediction moves {} (L1) under {w}, above {} (the {} false-positive threshold)",
                        short(s),
                        short(sq.threshold),
                        pct(self.fpr)
                    ));
                }
            }
        }
        // A row that could not be scored is flagged by whichever detector ran.
        let ran = if runs_ood {
            "ood"
        } else if runs_mahalanobis {
            "mahalanobis"
        } else {
            "squeeze"
        };
        for (r, &bad) in results.iter_mut().zip(&unusable) {
            if bad && r.flags.is_empty() {
                r.flags.push(ran);
            }
        }
        for r in &mut results {
            r.flagged = !r.flags.is_empty();
            r.reasons.truncate(MAX_REASONS);
        }
        Ok(results)
    }

    /// The features that make up most of `row`'s squared distance `total` (three at most,
    /// each a tenth of it or more), as one reason; names only, never a value.
    fn far_in(&self, maha: &Mahalanobis, row: &[f64], total: f64) -> Option<String> {
        let mut shares: Vec<(f64, &str)> = maha
            .contributions(row)
            .into_iter()
            .zip(&self.features)
            .map(|(c, f)| (c / total, f.as_str()))
            .filter(|(c, _)| c.is_finite() && *c >= 0.1)
            .collect();
        shares.sort_by(|a, b| b.0.total_cmp(&a.0));
        shares.truncate(3);
        if shares.is_empty() {
            return None;
        }
        let parts: Vec<String> = shares
            .iter()
            .map(|(c, f)| format!("`{f}` ({:.0}%)", c * 100.0))
            .collect();
        Some(format!(
            "most of the distance comes from {}",
            parts.join(", ")
        ))
    }

    /// The features of `row` outside the reference's range, the farthest first (three at
    /// most), as reasons; with their values when `values`.
    fn outside(&self, row: &[f64], values: bool) -> Vec<String> {
        let mut out: Vec<(f64, String)> = row
            .iter()
            .zip(&self.ranges)
            .zip(&self.features)
            .filter_map(|((&v, &[lo, hi]), name)| {
                let width = (hi - lo).max(f64::MIN_POSITIVE);
                let by = if v < lo {
                    (lo - v) / width
                } else if v > hi {
                    (v - hi) / width
                } else {
                    return None;
                };
                let what = if values {
                    format!("`{name}` = {}", short(v))
                } else {
                    format!("`{name}`")
                };
                Some((
                    by,
                    format!(
                        "{what} is outside the reference's {} to {}",
                        short(lo),
                        short(hi)
                    ),
                ))
            })
            .collect();
        out.sort_by(|a, b| b.0.total_cmp(&a.0));
        out.into_iter().take(3).map(|(_, s)| s).collect()
    }
}

#[cfg(test)]
mod tests;
