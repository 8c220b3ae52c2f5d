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
