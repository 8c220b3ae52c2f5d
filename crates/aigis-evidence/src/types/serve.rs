//! Predicates of the gateway (`aigis serve`).

use aigis_core::Digest;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{Predicate, Tool};

/// Whether the gateway served the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum CallDecision {
    /// Answered with a 2xx status.
    Allowed,
    /// Refused by a guard, or failed.
    Refused,
}

/// `aigis serve`: one call, allowed or refused, written before the answer leaves the
/// gateway. The subjects are the request body (`request`) and, when the call reached a
/// model, the model file (`model:<name>`). It holds digests of what came in and went out,
/// never the data itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GatewayCall {
    /// When the call arrived, RFC 3339 with milliseconds.
    pub time: String,
    /// The HTTP method and the route (`POST /v2/models/{name}/infer`).
    pub route: String,
    /// The authenticated principal; `null` when the call was not authenticated.
    pub principal: Option<String>,
    /// How the principal authenticated (`api_key`, `jwt`, `certificate`); `null` when
    /// the call was not authenticated, and in records written before this field existed.
    #[serde(default)]
    pub authenticated_by: Option<String>,
    /// The model named in the path, as given; `null` for routes without one.
    pub model: Option<String>,
    /// The served version of that model, when it exists.
    pub model_version: Option<String>,
    /// Served or refused.
    pub decision: CallDecision,
    /// The HTTP status of the answer.
    pub status: u16,
    /// The answer's error code (`unauthenticated`, `invalid_input`, …); `null` when allowed.
    pub code: Option<String>,
    /// The guards that ran, in order (`authenticate`, `parse`, `authorize`, `model`,
    /// `rate_limit`, `validate`, `model_call`).
    pub guards: Vec<String>,
    /// Rows in the request's batch, when it was read.
    pub rows: Option<u64>,
    /// SHA-256 of the request body.
    #[schemars(schema_with = "super::digest_schema")]
    pub request_sha256: Digest,
    /// SHA-256 of the answer's body.
    #[schemars(schema_with = "super::digest_schema")]
    pub response_sha256: Digest,
    /// Time spent answering, in microseconds.
    pub duration_us: u64,
    /// What the inspection seam's detectors flagged (none when nothing was flagged).
    #[serde(default)]
    pub flags: Vec<CallFlag>,
    /// The aigis that served it.
    pub tool: Tool,
}

/// A detector's flag on a call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CallFlag {
    /// The detector (`profile_range`, `ood`, `squeeze`, `extraction`).
    pub detector: String,
    /// What the flag did: `flag` (let through) or `block` (refused); for `extraction`,
    /// what the principal's later calls get: `flag`, `throttle` or `block`.
    pub action: String,
    /// The detector's score, when it has one (higher is more suspicious).
    pub score: Option<f64>,
    /// Why, without the input's values (`row 0, \`age\`: above the training maximum 90`).
    pub reasons: Vec<String>,
    /// How many rows of the call it flagged, for a detector that judges rows one by one
    /// (`ood`, `squeeze`); absent in records made before it was kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rows: Option<u64>,
}

impl Predicate for GatewayCall {
    const TYPE: &'static str = "https://aigis.dev/predicate/gateway-call/v1";
    const NAME: &'static str = "gateway-call";
}

/// Whether an administrative change to the gateway took effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum AdminOutcome {
    /// Checked in full and in effect.
    Applied,
    /// Refused; what was in effect stays.
    Refused,
}

/// A model served after an administrative change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AdminModel {
    /// The name it is served under.
    pub name: String,
    /// The version served now.
    pub version: String,
    /// The version it replaced; `null` when the model was not served before.
    pub previous: Option<String>,
}

/// `aigis serve`: an administrative change to a running gateway (a reload of its models,
/// API keys, JWT issuers and policies, on SIGHUP, after a promotion or through the admin
/// API; an API key created, rotated or revoked; a model's version swapped), written before the
/// change takes effect; a change
/// that cannot be recorded does not take effect. The subjects are the model files served
/// after the change (`model:<name>`): the new ones, or, when it was refused, the ones that
/// stay.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GatewayAdmin {
    /// When, RFC 3339 with milliseconds.
    pub time: String,
    /// What was asked: `reload`; through the admin API also `key-create`, `key-rotate`,
    /// `key-revoke`, `model-swap`, `model-unswap` and `extraction-clear` (a principal's
    /// extraction suspicion cleared; `detail` names the model, the principal and why it
    /// was suspected).
    pub action: String,
    /// What asked for it (`signal`: SIGHUP; `promotion`: a promotion or rollback moved
    /// the version at the stage of a model served from the registry; `admin`: a call to the
    /// admin API, by the principal in `by`).
    pub trigger: String,
    /// Applied or refused.
    pub outcome: AdminOutcome,
    /// The models served after the change (when refused: those that stay, unchanged).
    pub models: Vec<AdminModel>,
    /// Models no longer served.
    pub removed: Vec<String>,
    /// API keys configured after the change.
    pub api_keys: u64,
    /// JWT issuers configured after the change.
    pub jwt_issuers: u64,
    /// Whether Cedar policies are in force after the change.
    pub policies: bool,
    /// Why it was refused, the settings that changed but wait for a restart, or what an
    /// `extraction-clear` cleared.
    pub detail: Option<String>,
    /// The principal that asked, for a change made through the admin API.
    #[serde(default)]
    pub by: Option<String>,
    /// The API keys the change created, set to expire or revoked, by id (the first 16 hex
    /// digits of the key's SHA-256; never the key).
    #[serde(default)]
    pub keys: Vec<AdminKey>,
    /// The aigis that made the change.
    pub tool: Tool,
}

/// What an administrative change did to one API key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum KeyChange {
    /// A new key.
    Created,
    /// The key now expires (a rotation's overlap).
    Expires,
    /// The key no longer authenticates.
    Revoked,
}

/// An API key an administrative change touched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AdminKey {
    /// The first 16 hex digits of the key's SHA-256.
    pub id: String,
    /// The principal it authenticates.
    pub principal: String,
    /// What the change did to it.
    pub change: KeyChange,
    /// When it stops authenticating (RFC 3339), if it does.
    pub expires: Option<String>,
}

impl Predicate for GatewayAdmin {
    const TYPE: &'static str = "https://aigis.dev/predicate/gateway-admin/v1";
    const NAME: &'static str = "gateway-admin";
}

/// `aigis serve`: an alert that fired or resolved (drift, a KPI below its threshold, a
/// detector flag rate, an extraction suspicion, an error rate, the audit lag), or a run of
/// the retraining hook a drift alert triggered. The subject is the model file when the
/// alert is about a model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GatewayAlert {
    /// When, RFC 3339 with milliseconds.
    pub time: String,
    /// The gateway that raised it (`[serve] instance`, or an id drawn at its start).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    /// `drift`, `accuracy`, `flag_rate`, `extraction`, `error_rate`, `audit_lag`, or
    /// `retrain` (the hook's run).
    pub kind: String,
    /// The model it is about, when it is about one.
    pub model: Option<String>,
    /// `firing` or `resolved`; for `retrain`, `ran` (exit 0) or `failed`.
    pub state: String,
    /// The measured value (a share, an accuracy, records queued, an exit code).
    pub value: Option<f64>,
    /// The threshold it crossed.
    pub threshold: Option<f64>,
    /// What happened, in a line (no principal's key, no request data).
    pub message: String,
    /// Whether the webhook accepted it (a 2xx answer); `null` without a webhook.
    pub delivered: Option<bool>,
    /// The aigis that raised it.
    pub tool: Tool,
}

impl Predicate for GatewayAlert {
    const TYPE: &'static str = "https://aigis.dev/predicate/gateway-alert/v1";
    const NAME: &'static str = "gateway-alert";
}

/// `aigis serve` with `[serve.models.shadow]`: a period in which a candidate model answered
/// the served model's calls in its shadow, and how often the two disagreed. Each record
/// covers the calls since the previous one of the same shadow (periods do not overlap, so
/// the promotion gate can add them up). Subjects: the candidate's file (`candidate`) and
/// the served model's (`served`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ShadowPeriod {
    /// The served model's name in the gateway.
    pub model: String,
    /// The served model's version.
    pub served_version: String,
    /// The served model's SHA-256.
    pub served_sha256: String,
    /// The candidate's version.
    pub candidate_version: String,
    /// The candidate's SHA-256.
    pub candidate_sha256: String,
    /// The key id that signed the candidate, when its signature was verified.
    pub candidate_signed_by: Option<String>,
    /// The gateway that mirrored the calls (`[serve] instance`, or an id drawn at its
    /// start): each replica records its own periods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    /// The period's start (the shadow's start or the previous record), RFC 3339 with
    /// milliseconds.
    pub from: String,
    /// The period's end (this record).
    pub to: String,
    /// Calls mirrored and compared in the period.
    pub calls: u64,
    /// The rows of those calls.
    pub rows: u64,
    /// Rows whose labels differ.
    pub disagreements: u64,
    /// Calls the candidate failed on (an error, or an answer without labels).
    pub failures: u64,
    /// Calls not mirrored because the candidate was busy.
    pub skipped: u64,
    /// The candidate's p50 and p99 latency in microseconds over the period's mirrored
    /// calls (at most the last 10,000).
    pub candidate_latency_us: Option<[u64; 2]>,
    /// The served model's, over the same calls.
    pub served_latency_us: Option<[u64; 2]>,
    /// The aigis that recorded it.
    pub tool: Tool,
}

impl Predicate for ShadowPeriod {
    const TYPE: &'static str = "https://aigis.dev/predicate/shadow-period/v1";
    const NAME: &'static str = "shadow-period";
}

/// `aigis serve` with `[serve.models.drift]` or `[serve.models.feedback]`: one window of a
/// served model's monitoring, what `aigis monitor report` plots. A drift window is
/// recorded once, when it ends (its rows are counted by the time of the call, so it is
/// final then); a KPI window when it ends and again, at most once per window length, while
/// delayed labels still arrive for it (the latest record of a window is its latest count).
/// When the gateway stops, or a reload drops the monitor, the windows not yet recorded are
/// recorded as they are, `complete: false`. Subject: the served model's file (`served`).
/// Statistics and counts only, never a value of the data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MonitorWindow {
    /// The served model's name in the gateway.
    pub model: String,
    /// The served model's version when the window was recorded.
    pub served_version: String,
    /// The served model's SHA-256.
    pub served_sha256: String,
    /// The gateway that recorded it (`[serve] instance`, or an id drawn at its start):
    /// replicas serving the same model record windows with the same start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    /// `drift` or `kpis`: which of the two below is set.
    pub kind: String,
    /// The window's start, RFC 3339.
    pub start: String,
    /// The window's end, RFC 3339.
    pub end: String,
    /// Whether the window had ended when it was recorded (`false`: the gateway stopped,
    /// or a reload dropped the monitor, before its end).
    pub complete: bool,
    /// The window's drift test against the profile (`kind = "drift"`).
    pub drift: Option<WindowDrift>,
    /// The window's KPIs from delayed labels (`kind = "kpis"`).
    pub kpis: Option<WindowKpis>,
    /// The aigis that recorded it.
    pub tool: Tool,
}

/// The drift test of a [`MonitorWindow`]: each feature's two-sample Kolmogorov–Smirnov
/// test between the window's sketch and the profile's, with the sketches' error.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WindowDrift {
    /// Rows the window holds.
    pub rows: u64,
    /// `drift`, `stable`, `inconclusive` or `insufficient_data`.
    pub verdict: String,
    /// A feature drifts when even its larger p-value is below this.
    pub alpha: f64,
    /// The window drifts when at least this share of the tested features drift.
    pub drift_share: f64,
    /// Features that drifted.
    pub drifted: u64,
    /// Features whose p-values straddle `alpha`.
    pub inconclusive: u64,
    /// Features tested (drifted, inconclusive or stable).
    pub tested: u64,
    /// Every feature, in the profile's order.
    pub features: Vec<WindowFeature>,
}

/// One feature of a [`WindowDrift`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WindowFeature {
    /// The feature's name in the profile.
    pub name: String,
    /// `drift`, `stable`, `inconclusive`, `insufficient_data` or `not_tested`.
    pub status: String,
    /// The KS statistic between the two sketches; `null` when not tested.
    pub statistic: Option<f64>,
    /// The statistic's error (the sketches' rank errors and the grid's step).
    pub error: Option<f64>,
    /// The asymptotic p-value at the larger end of the error.
    pub p_value_low: Option<f64>,
    /// The asymptotic p-value at the smaller end of the error.
    pub p_value_high: Option<f64>,
}

/// The KPIs of a [`MonitorWindow`]: the predictions of one model version made in the
/// window, and the delayed labels received for them so far.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WindowKpis {
    /// The version that made the predictions.
    pub version: String,
    /// Rows answered (and kept for their labels).
    pub predictions: u64,
    /// Rows labelled so far.
    pub labeled: u64,
    /// `null` until a row is labelled.
    pub accuracy: Option<f64>,
    /// Macro average over the classes seen.
    pub precision: Option<f64>,
    /// Macro average over the classes seen.
    pub recall: Option<f64>,
    /// Expected calibration error (ten equal-width bins of the top probability).
    pub ece: Option<f64>,
    /// The mean top probability of the labelled rows.
    pub mean_confidence: Option<f64>,
    /// More than 1,000 classes were seen: precision and recall leave the rest out.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub classes_truncated: bool,
}

impl Predicate for MonitorWindow {
    const TYPE: &'static str = "https://aigis.dev/predicate/monitor-window/v1";
    const NAME: &'static str = "monitor-window";
}
