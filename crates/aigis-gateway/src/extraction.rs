//! Extraction detection at the gateway: each principal's queries to a model, and the
//! model's answers, feed [`aigis_monitor::extraction::Tracker`] (PRADA's distances,
//! probing, the detectors' flag rate, a query budget). A principal that becomes suspected
//! stays so while the gateway runs, and the configuration says what that does to its
//! later calls ([`Response`]):
//!
//! ```toml
//! [[serve.models]]
//! name = "digits"
//! path = "models/digits.onnx"
//! [serve.models.extraction]
//! action = "throttle"        # "flag" (record it), "throttle" (one call per `throttle_ms`),
//!                            # or "block" (403 `extraction_suspected`)
//! # budget = 100000          # rows a principal may send before it is suspected
//! # threshold = 0.80         # PRADA: Shapiro–Wilk W of the distances below this
//!                            # (default: the detector file's, calibrated for the model
//!                            # by `aigis detect fit --model`, else 0.80)
//! # min_distances = 100      # distances before the test is made
//! # history = 1000           # the last this many distances are tested
//! # probe_window = 64        # steps looked at for probing
//! # probe_share = 0.5        # share of probing steps that makes a principal suspected
//! # inputs = true            # count the rows the detector file's detectors flag, against
//!                            # the bound of the share they flag on clean rows, and the
//!                            # rows among the most atypical tenth of clean rows, against
//!                            # at least a half
//! # throttle_ms = 1000
//! # max_principals = 1024    # principals tracked at once
//! # max_points = 1024        # points kept per principal (4 bytes a feature)
//! # input = "X"              # the input it looks at (default: the only one)
//! ```
//!
//! Distances are over features scaled by the reference's ranges when the model has a
//! profile or a detector file, so that one feature of large values does not decide them.
//! The call that makes a principal suspected is answered, and its audit record carries the
//! flag (`extraction`, with the sign and its numbers); every later call's record carries
//! it too, so the audit trail shows what the principal did after. The tracker lives as
//! long as the gateway: a reload that keeps the model and these settings keeps it, and
//! the suspected principals outlive a restart ([`Saved`], which `aigis serve` keeps
//! between a stop and the next start).

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use aigis_monitor::extraction::{Looked, Settings, Suspicion, Tracker};
use aigis_runtime::{Data, DataType, NamedTensor, TensorSpec};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use crate::ApiError;
use crate::inspect::Flag;

/// What a suspected principal's later calls get.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Response {
    /// Answered; each call's record carries the flag.
    Flag,
    /// One call per `throttle_ms`; a call sooner gets 429 with Retry-After.
    Throttle,
    /// Refused: 403 `extraction_suspected`.
    Block,
}

impl Response {
    fn as_str(self) -> &'static str {
        match self {
            Response::Flag => "flag",
            Response::Throttle => "throttle",
            Response::Block => "block",
        }
    }
}

/// `[serve.models.extraction]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExtractionConfig {
    #[serde(default = "flag")]
    pub action: Response,
    #[serde(default)]
    pub budget: Option<u64>,
    /// PRADA's threshold; `None` takes the detector file's calibration for the model,
    /// else [`Settings::default`]'s.
    #[serde(default)]
    pub threshold: Option<f64>,
    #[serde(default = "min_distances")]
    pub min_distances: usize,
    #[serde(default = "history")]
    pub history: usize,
    #[serde(default = "probe_window")]
    pub probe_window: usize,
    #[serde(default = "probe_share")]
    pub probe_share: f64,
    /// Whether the rows the detector file's detectors flag, and those above its atypical
    /// cuts, are counted.
    #[serde(default = "yes")]
    pub inputs: bool,
    #[serde(default = "throttle_ms")]
    pub throttle_ms: u64,
    #[serde(default = "max_principals")]
    pub max_principals: usize,
    #[serde(default = "max_points")]
    pub max_points: usize,
    #[serde(default)]
    pub input: Option<String>,
}

fn flag() -> Response {
    Response::Flag
}
fn min_distances() -> usize {
    Settings::default().min_distances
}
fn history() -> usize {
    Settings::default().history
}
fn probe_window() -> usize {
    Settings::default().probe_window
}
fn probe_share() -> f64 {
    Settings::default().probe_share
}
fn yes() -> bool {
    true
}
fn throttle_ms() -> u64 {
    1000
}
fn max_principals() -> usize {
    Settings::default().max_principals
}
fn max_points() -> usize {
    Settings::default().max_points
}

/// A model's extraction detector.
#[derive(Debug)]
pub struct Extraction {
    config: ExtractionConfig,
    tracker: Tracker,
    input: String,
    /// Where the threshold came from: `configured`, `calibrated` (the detector file's)
    /// or `default`.
    threshold_source: Source,
    /// When each suspected principal's last call was let through (throttling).
    last_call: Mutex<HashMap<String, Instant>>,
}

/// The name in audit records and metrics.
pub const DETECTOR: &str = "extraction";

/// PRADA's threshold as the detector file calibrated it for a model.
#[derive(Debug, Clone)]
pub struct CalibratedThreshold {
    pub prada: aigis_monitor::extraction::Calibrated,
    /// The model it was calibrated with (SHA-256, hex).
    pub model_sha256: String,
    /// The reference's feature ranges, which scaled its distances.
    pub ranges: Vec<[f64; 2]>,
}

/// Where the threshold in use came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    /// `[serve.models.extraction] threshold`.
    Configured,
    /// The detector file's calibration for the model.
    Calibrated,
    /// [`Settings::default`]'s.
    Default,
}

impl Source {
    fn as_str(self) -> &'static str {
        match self {
            Source::Configured => "configured",
            Source::Calibrated => "calibrated",
            Source::Default => "default",
        }
    }
}

/// The threshold in use, and where it came from.
fn threshold_of(
    config: &ExtractionConfig,
    calibrated: Option<&CalibratedThreshold>,
    model_sha256: &str,
) -> Result<(f64, Source), (String, String)> {
    if let Some(t) = config.threshold {
        return Ok((t, Source::Configured));
    }
    let Some(c) = calibrated else {
        return Ok((Settings::default().threshold, Source::Default));
    };
    if c.model_sha256 != model_sha256 {
        return Err((
            "threshold".into(),
            format!(
                "the detector file's threshold was calibrated with the model sha256:{}, this model is sha256:{model_sha256}: fit it again for this model (`aigis detect fit --model`), or set threshold",
                c.model_sha256
            ),
        ));
    }
    if c.prada.min_distances != config.min_distances || c.prada.history != config.history {
        return Err((
            "threshold".into(),
            format!(
                "the detector file's threshold was calibrated for min_distances {} and history {}, these settings are {} and {}: fit it again with --extraction-min-distances and --extraction-history, or set threshold",
                c.prada.min_distances, c.prada.history, config.min_distances, config.history
            ),
        ));
    }
    Ok((c.prada.threshold, Source::Calibrated))
}

/// The principals a served model's extraction detector suspected, as a stop leaves them
/// for the next start (`aigis serve` keeps them in `gateway-extraction.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Saved {
    pub model: String,
    /// The SHA-256 of the model file (hex).
    pub sha256: String,
    /// The tracker's settings they were suspected under.
    pub settings: Settings,
    pub suspects: Vec<SavedSuspect>,
}

/// One suspected principal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SavedSuspect {
    pub principal: String,
    pub suspicion: Suspicion,
}

/// What a served model's detector file says of clean rows, for the inputs and
/// atypical signs.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CleanRates {
    /// The share its detectors flag ([`crate::inspect::Detector::clean_rate`]).
    pub flagged: Option<f64>,
    /// The share above its atypical cuts ([`crate::inspect::Detector::atypical_rate`]).
    pub atypical: Option<f64>,
    /// Its calibration rows flagged per class of this model
    /// ([`crate::inspect::Detector::clean_flags_by_class`]).
    pub by_class: Option<Vec<aigis_monitor::extraction::ClassFlags>>,
}

impl Extraction {
    /// The detector of `config` for a model whose inputs are `inputs` and whose file is
    /// `model_sha256`; `ranges` are the reference's feature ranges when known, `rates`
    /// the detector file's clean rates and `calibrated` its PRADA threshold, when it has
    /// them (the threshold's own ranges then scale the
    /// distances, as they did when it was calibrated). The error is the key and the
    /// message.
    pub fn load(
        config: &ExtractionConfig,
        inputs: &[TensorSpec],
        model_sha256: &str,
        ranges: Option<Vec<[f64; 2]>>,
        rates: CleanRates,
        calibrated: Option<&CalibratedThreshold>,
    ) -> Result<Self, (String, String)> {
        let (threshold, source) = threshold_of(config, calibrated, model_sha256)?;
        let ranges = match (source, calibrated) {
            (Source::Calibrated, Some(c)) => Some(c.ranges.clone()),
            _ => ranges,
        };
        let spec = crate::detect::pick_input(inputs, config.input.as_deref())
            .map_err(|m| ("input".to_owned(), m))?;
        let width: Option<usize> = spec
            .shape
            .get(1..)
            .and_then(|s| s.iter().copied().product());
        let width = match (width, &ranges) {
            (Some(w), _) => w,
            (None, Some(r)) => r.len(),
            (None, None) => {
                return Err((
                    "input".into(),
                    format!(
                        "`{}` does not fix its row's size: give the model a profile or a detector file",
                        spec.name
                    ),
                ));
            }
        };
        if !matches!(spec.datatype, DataType::Fp32 | DataType::Fp64) || width == 0 {
            return Err((
                "input".into(),
                format!("`{}` is not a batch of float rows", spec.name),
            ));
        }
        let scale: Vec<f32> = match &ranges {
            Some(r) if r.len() == width => aigis_monitor::extraction::scale_of(r),
            _ if source == Source::Calibrated => {
                return Err((
                    "threshold".into(),
                    format!(
                        "the detector file's threshold was calibrated on rows of {} features, `{}` has {width}",
                        ranges.as_ref().map_or(0, Vec::len),
                        spec.name
                    ),
                ));
            }
            _ => vec![1.0; width],
        };
        let settings = Settings {
            threshold,
            min_distances: config.min_distances,
            history: config.history,
            probe_window: config.probe_window,
            probe_share: config.probe_share,
            budget: config.budget,
            flag_rate: rates.flagged.filter(|_| config.inputs),
            atypical_rate: rates.atypical.filter(|_| config.inputs),
            flag_by_class: rates
                .by_class
                .filter(|_| config.inputs && rates.flagged.is_some()),
            max_principals: config.max_principals,
            max_points: config.max_points,
            ..Settings::default()
        };
        if config.throttle_ms == 0 {
            return Err(("throttle_ms".into(), "must be at least 1".into()));
        }
        let tracker = Tracker::new(settings, scale).map_err(|(k, m)| (k.to_owned(), m))?;
        tracing::info!(
            threshold,
            source = source.as_str(),
            "extraction detector: PRADA threshold {threshold:.4} ({})",
            source.as_str()
        );
        Ok(Self {
            config: config.clone(),
            tracker,
            input: spec.name.clone(),
            threshold_source: source,
            last_call: Mutex::new(HashMap::new()),
        })
    }

    /// The rows a principal sent and the points kept for it, when it is tracked.
    pub fn held(&self, principal: &str) -> Option<(u64, usize)> {
        self.tracker.held(principal)
    }

    /// Whether this detector can go on tracking in place of `new` (a reloaded model's):
    /// the same configuration, and the same threshold and scale in effect.
    pub fn same(&self, new: &Extraction) -> bool {
        self.config == new.config
            && self.tracker.settings() == new.tracker.settings()
            && self.tracker.scale() == new.tracker.scale()
    }

    /// The tracker's settings in effect (the threshold as calibrated or configured).
    pub fn settings(&self) -> &Settings {
        self.tracker.settings()
    }

    /// The principals suspected now.
    pub fn suspects(&self) -> Vec<SavedSuspect> {
        self.tracker
            .suspects()
            .into_iter()
            .map(|(principal, suspicion)| SavedSuspect {
                principal,
                suspicion,
            })
            .collect()
    }

    /// Why `principal` is suspected, when it is.
    pub fn suspected(&self, principal: &str) -> Option<Suspicion> {
        self.tracker.suspected(principal)
    }

    /// Forgets `principal`'s suspicion and history.
    pub fn forget(&self, principal: &str) {
        self.tracker.forget(principal);
        self.last_call
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(principal);
    }

    /// Makes each of `suspects` suspected again (an earlier run's); how many could be.
    pub fn restore(&self, suspects: &[SavedSuspect]) -> usize {
        suspects
            .iter()
            .filter(|s| self.tracker.restore(&s.principal, s.suspicion.clone()))
            .count()
    }

    /// Where the threshold came from: `configured`, `calibrated` (the detector file's,
    /// for this model) or `default`.
    pub fn threshold_source(&self) -> &'static str {
        self.threshold_source.as_str()
    }

    /// Before the call: what a suspected principal's call gets. `Ok(Some(flag))` lets it
    /// through with the flag on its record; `Err` refuses it, with the flag for the record
    /// of the refusal.
    pub fn before(&self, principal: &str) -> Result<Option<Flag>, Box<(Flag, ApiError)>> {
        let Some(suspicion) = self.tracker.suspected(principal) else {
            return Ok(None);
        };
        let flag = flag_of(&suspicion, self.config.action, false);
        match self.config.action {
            Response::Flag => Ok(Some(flag)),
            Response::Block => Err(Box::new((
                flag,
                ApiError::new(
                    StatusCode::FORBIDDEN,
                    "extraction_suspected",
                    "this principal's queries to this model look like an attempt to copy it: its calls are refused",
                ),
            ))),
            Response::Throttle => {
                let every = Duration::from_millis(self.config.throttle_ms);
                let now = Instant::now();
                let mut last = self
                    .last_call
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner);
                if let Some(at) = last.get(principal) {
                    let since = now.saturating_duration_since(*at);
                    if since < every {
                        return Err(Box::new((
                            flag,
                            ApiError::retry_after(
                                "throttled",
                                "this principal's queries to this model look like an attempt to copy it: one call per interval",
                                every - since,
                            ),
                        )));
                    }
                }
                // Bounded: suspected principals are at most the tracker's principals, and
                // those whose interval passed are forgotten first.
                if last.len() >= 2 * self.config.max_principals {
                    last.retain(|_, at| now.saturating_duration_since(*at) < every);
                }
                last.insert(principal.to_owned(), now);
                Ok(Some(flag))
            }
        }
    }

    /// After the answer: the call's rows and classes into the tracker; the flag when this
    /// call made the principal suspected. `looked` is what the calibrated detectors
    /// counted on this call, when they looked.
    pub fn after(
        &self,
        principal: &str,
        inputs: &[NamedTensor],
        outputs: &[NamedTensor],
        looked: Option<Looked>,
    ) -> Option<Flag> {
        let width = self.tracker.width();
        let tensor = &inputs.iter().find(|t| t.name == self.input)?.tensor;
        let rows: Vec<f64> = match tensor.data() {
            Data::Fp32(v) => v.iter().map(|&x| f64::from(x)).collect(),
            Data::Fp64(v) => v.clone(),
            _ => return None,
        };
        let n = rows.len() / width;
        let classes = classes(outputs, n);
        let looked = looked.map(|mut l| {
            l.strata = strata(outputs, n);
            l
        });
        let seen = self.tracker.observe(principal, &rows, &classes, looked);
        match seen.suspicion {
            Some(s) if seen.new => {
                if self.config.action == Response::Throttle {
                    // Its next call waits the interval from this one.
                    self.last_call
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .insert(principal.to_owned(), Instant::now());
                }
                tracing::warn!(principal, sign = s.reason.kind(), after_rows = s.after_rows, reason = %s.reason.describe(), "extraction suspected");
                Some(flag_of(&s, self.config.action, true))
            }
            _ => None,
        }
    }
}

/// The class the model gave each of `n` rows (its label, as [`crate::feedback::answers`]
/// reads it: a number as itself, a text label by a hash of it); one class for all when
/// it gives neither labels nor scores.
fn classes(outputs: &[NamedTensor], n: usize) -> Vec<u32> {
    match crate::feedback::answers(outputs, n) {
        Some(a) => a
            .labels
            .iter()
            .map(|l| {
                l.parse::<u32>().unwrap_or_else(|_| {
                    // FNV-1a: a stable class number for a text label.
                    l.bytes().fold(0x811c_9dc5u32, |h, b| {
                        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
                    })
                })
            })
            .collect(),
        None => vec![0; n],
    }
}

/// Each row's class as a detector file's calibration counted it: the index of the
/// largest value of the model's first float output of shape `[n, k]` (k ≥ 2), as
/// `aigis detect fit --model` takes the model's probabilities. `None` without one.
fn strata(outputs: &[NamedTensor], n: usize) -> Option<Vec<u32>> {
    let (values, k) = crate::feedback::scores(outputs, n)?;
    Some(
        crate::feedback::top(&values, k)
            .into_iter()
            .map(|(i, _)| u32::try_from(i).unwrap_or(u32::MAX))
            .collect(),
    )
}

fn flag_of(s: &Suspicion, action: Response, new: bool) -> Flag {
    let mut reasons = vec![s.reason.describe()];
    reasons.push(if new {
        format!("suspected after {} rows", s.after_rows)
    } else {
        format!("suspected since row {}", s.after_rows)
    });
    Flag {
        detector: DETECTOR,
        action: action.as_str(),
        score: Some(s.reason.score()),
        reasons,
        // About the principal, not about rows of this call.
        rows: None,
    }
}
