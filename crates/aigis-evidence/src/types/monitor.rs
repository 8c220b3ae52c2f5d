//! Predicates of the monitor (`aigis monitor`).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{Predicate, Tool};

/// `aigis monitor drift`: a table compared with its reference, feature by feature. The
/// subjects are the reference (`reference:<path>`: the table, or its profile) and the
/// current table (`current:<path>`). Statistics only, never a value of the data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MonitorDrift {
    /// Data rows of the reference table.
    pub reference_rows: u64,
    /// Data rows of the current table.
    pub current_rows: u64,
    /// A feature drifts when its p-value is below this.
    pub alpha: f64,
    /// The dataset drifts when at least this share of the features with a verdict drift.
    pub drift_share: f64,
    /// `drift`, `no_drift` or `insufficient_data` (a feature could not be tested and the
    /// others do not show drift, or none could).
    pub verdict: String,
    /// Features with a verdict (drift or stable).
    pub tested: u64,
    /// Features that drifted.
    pub drifted: u64,
    /// Features without a verdict: no value left on one side (or both), or inconclusive.
    pub insufficient: u64,
    /// Every feature compared, in the reference's column order.
    pub features: Vec<DriftFeature>,
    /// The aigis that compared them.
    pub tool: Tool,
}

/// One feature of a [`MonitorDrift`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DriftFeature {
    /// The column's header.
    pub name: String,
    /// `numeric`, `categorical` or `text`.
    pub kind: String,
    /// `drift`, `stable`, `insufficient_data`, `inconclusive` (against a profile's
    /// sketch, its error on both sides of alpha) or `not_tested`.
    pub status: String,
    /// The values' test (`ks` or `chi2`); `null` when the values were not tested.
    pub test: Option<String>,
    /// The values' test statistic; `null` when not tested.
    pub statistic: Option<f64>,
    /// The feature's p-value (its tests' smallest times their number); `null` when no
    /// test ran.
    pub p_value: Option<f64>,
    /// The population stability index; `null` when not computed.
    pub psi: Option<f64>,
}

impl Predicate for MonitorDrift {
    const TYPE: &'static str = "https://aigis.dev/predicate/monitor-drift/v1";
    const NAME: &'static str = "monitor-drift";
}

/// `aigis detect fit`: a detector file fitted on a reference and calibrated for a
/// false-positive rate. The subjects are the detector file (`detector:<path>`), the
/// reference (`reference:<path>`), the clean rows it was calibrated on when they are a
/// file of their own (`calibration:<path>`) and the model it squeezes features for
/// (`model:<path>`). Thresholds and counts only, never a value of the data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DetectorFit {
    /// The file's signature (`aigis model sign`'s bundle, beside it).
    pub signature: String,
    /// Features of a row.
    pub features: u64,
    /// Reference rows the forest grew on.
    pub fit_rows: u64,
    /// Clean rows the thresholds were set on.
    pub calibration_rows: u64,
    /// `held_out` (a share of the reference, drawn with `seed`) or `file`.
    pub calibration: String,
    /// The seed of the split and the forest.
    pub seed: u64,
    /// The false-positive rate the thresholds were set for, the detectors together.
    pub fpr: f64,
    /// Each detector with its threshold.
    pub detectors: Vec<DetectorThreshold>,
    /// The calibration rows' share flagged by one detector or more (at most `fpr`).
    pub calibration_flagged: f64,
    /// The extraction detector's PRADA threshold the file holds for the model, when it
    /// was calibrated (`aigis detect fit --model`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extraction: Option<ExtractionThreshold>,
    /// The aigis that fitted it.
    pub tool: Tool,
}

/// The extraction detector's threshold of a [`DetectorFit`], from simulated natural
/// clients replaying the reference.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExtractionThreshold {
    /// The Shapiro–Wilk W of a client's nearest-query distances below which it is
    /// suspected.
    pub threshold: f64,
    /// Natural clients simulated.
    pub clients: u64,
    /// The distinct reference rows each sent, in its own order.
    pub rows_per_client: u64,
    /// The lowest W any reached.
    pub lowest_w: f64,
    /// The median of each one's lowest W.
    pub median_lowest_w: f64,
    /// The setting it holds for: distances before the first test.
    pub min_distances: u64,
    /// The setting it holds for: the last this many distances tested.
    pub history: u64,
}

/// One detector of a [`DetectorFit`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DetectorThreshold {
    /// `ood` (isolation forest), `mahalanobis` (shrunk-covariance distance) or `squeeze`
    /// (feature squeezing).
    pub name: String,
    /// A row is flagged when its score is above this.
    pub threshold: f64,
    /// The calibration rows' share it flags.
    pub calibration_flagged: f64,
    /// For `squeeze`: its squeezers (`bits:3`, `median:2x2`, …); empty otherwise.
    pub squeezers: Vec<String>,
}

impl Predicate for DetectorFit {
    const TYPE: &'static str = "https://aigis.dev/predicate/detector-fit/v1";
    const NAME: &'static str = "detector-fit";
}
