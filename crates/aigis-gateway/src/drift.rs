//! Drift while serving: each feature of the calls a model answers, summarized per window
//! in a quantile sketch (DataSketches' KLL, `k = 1000`: the gateway keeps no row; about
//! 25 KB per feature and window at most), and tested against the training data's sketch
//! in the profile of `[serve.models.profile]`.
//!
//! ```toml
//! [serve.models.drift]           # needs [serve.models.profile]
//! # window_s = 3600              # tumbling windows, by the time of the call
//! # windows = 24                 # windows kept
//! # sliding = 6                  # the last this many windows merged: the sliding window
//! # alpha = 0.05                 # per feature
//! # drift_share = 0.5            # the share of drifted features that is drift
//! # min_rows = 30                # a window with fewer rows has no verdict
//! ```
//!
//! `GET /v2/models/{name}/drift` gives each window, and the sliding one: per feature the
//! two-sample Kolmogorov–Smirnov statistic between the two sketches, its error (each
//! sketch's rank error, none for one that still holds every value, plus one step of the
//! quantile grid it is evaluated on when a sketch holds more points than the grid), and
//! the asymptotic p-values at both ends of that error. A feature drifts when even the
//! larger p-value is below `alpha`, is stable when even the smaller is not, and is
//! `inconclusive` between; the window drifts when the drifted share reaches
//! `drift_share` however the inconclusive ones turn out, is stable when it cannot, and is
//! inconclusive otherwise. The profile's own sketch (`k = 200`, a rank error of 1.3 % once
//! the training data has more rows than it holds) bounds how small a shift can be told
//! from none: near that size a feature is `inconclusive`. A window with fewer than
//! `min_rows` rows, or a feature the
//! profile has no sketch of, has no verdict (`insufficient_data`, `not_tested`): no
//! verdict is never "stable". `aigis monitor drift` computes the exact statistics offline
//! on files.
//!
//! In a project, each window's test is recorded as signed `monitor-window` evidence when
//! the window ends (and the open one when the gateway stops): `aigis monitor report`
//! reads those. An ended window is kept until it is recorded, past `windows` if need be
//! (at most 64 more), so a short window is never dropped before the recorder sees it.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use aigis_monitor::sketch::Quantiles;
use aigis_runtime::NamedTensor;
use serde::{Deserialize, Serialize};

use crate::inspect::Features;

/// `[serve.models.drift]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DriftConfig {
    #[serde(default = "window_s")]
    pub window_s: u64,
    #[serde(default = "windows")]
    pub windows: usize,
    #[serde(default = "sliding")]
    pub sliding: usize,
    #[serde(default = "alpha")]
    pub alpha: f64,
    #[serde(default = "drift_share")]
    pub drift_share: f64,
    #[serde(default = "min_rows")]
    pub min_rows: u64,
}

fn window_s() -> u64 {
    3600
}
fn windows() -> usize {
    24
}
fn sliding() -> usize {
    6
}
fn alpha() -> f64 {
    0.05
}
fn drift_share() -> f64 {
    0.5
}
fn min_rows() -> u64 {
    30
}

/// The windows' sketches' parameter: a rank error of about 0.3 % (the profile's
/// `k = 200` has 1.3 %), for about 25 KB per feature and window at most.
const K: u16 = 1000;

/// One window's sketches, one per feature.
#[derive(Debug, Clone)]
struct Window {
    rows: u64,
    sketches: Vec<Quantiles>,
}

/// A model's drift windows.
#[derive(Debug)]
pub struct Drift {
    config: DriftConfig,
    features: Arc<Features>,
    /// By window start, in milliseconds.
    windows: Mutex<BTreeMap<i64, Window>>,
    /// What was recorded as evidence: the start of the last ended window, and the start
    /// and rows of an open one recorded as it was. Held while windows are recorded, so two
    /// recorders never record one twice.
    recorded: Mutex<Recorded>,
    /// Whether the windows are recorded as evidence, and the start of the last ended
    /// window recorded: `observe` keeps an ended window until it is recorded, beyond
    /// `windows` (at most [`UNRECORDED`] more).
    recording: AtomicBool,
    recorded_through: AtomicI64,
}

/// Ended windows kept beyond `windows` while they wait to be recorded.
pub(crate) const UNRECORDED: i64 = 64;

/// The windows of a [`Drift`] recorded as evidence.
#[derive(Debug, Default)]
struct Recorded {
    /// The start of the last ended window recorded.
    ended: Option<i64>,
    /// The start and rows of the open window recorded as it was.
    open: Option<(i64, u64)>,
}

/// A feature's test in one window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FeatureDrift {
    pub name: String,
    /// `drift`, `stable`, `inconclusive`, `insufficient_data` or `not_tested`.
    pub status: &'static str,
    pub rows: u64,
    pub statistic: Option<f64>,
    /// The statistic's error (the sketches' rank errors and the grid's step).
    pub error: Option<f64>,
    pub p_value_low: Option<f64>,
    pub p_value_high: Option<f64>,
}

/// One window's verdict.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WindowDrift {
    pub start: String,
    pub end: String,
    pub rows: u64,
    /// `drift`, `stable`, `inconclusive` or `insufficient_data`.
    pub verdict: &'static str,
    pub drifted: usize,
    pub inconclusive: usize,
    pub tested: usize,
    pub features: Vec<FeatureDrift>,
}

/// `GET /v2/models/{name}/drift`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DriftReport {
    pub model: String,
    pub window_s: u64,
    pub alpha: f64,
    pub drift_share: f64,
    /// Oldest first; the last is the window still open.
    pub windows: Vec<WindowDrift>,
    /// The last `sliding` windows merged.
    pub sliding: Option<WindowDrift>,
}

impl Drift {
    /// The drift windows of `config` for the features of a profile; the error is the key
    /// and the message.
    pub fn new(config: &DriftConfig, features: Arc<Features>) -> Result<Self, (String, String)> {
        if !(1..=31 * 86_400).contains(&config.window_s) {
            return Err((
                "window_s".into(),
                "must be between 1 and 2678400 (31 days)".into(),
            ));
        }
        if !(1..=1000).contains(&config.windows) {
            return Err(("windows".into(), "must be between 1 and 1000".into()));
        }
        if !(1..=config.windows).contains(&config.sliding) {
            return Err(("sliding".into(), "must be between 1 and `windows`".into()));
        }
        if !(config.alpha > 0.0 && config.alpha < 1.0) {
            return Err(("alpha".into(), "must be between 0 and 1".into()));
        }
        if !(config.drift_share > 0.0 && config.drift_share <= 1.0) {
            return Err(("drift_share".into(), "must be above 0 and at most 1".into()));
        }
        if config.min_rows < 2 {
            return Err(("min_rows".into(), "must be at least 2".into()));
        }
        if features.reference().all(|(_, q)| q.is_none()) {
            return Err((
                "profile".into(),
                "the profile has no quantile sketch of any feature: make it again with `aigis data profile`".into(),
            ));
        }
        // A sketch can be made: checked once here, so `observe` never fails.
        Quantiles::new(K).map_err(|e| ("window_s".to_owned(), e))?;
        Ok(Self {
            config: config.clone(),
            features,
            windows: Mutex::new(BTreeMap::new()),
            recorded: Mutex::new(Recorded::default()),
            recording: AtomicBool::new(false),
            recorded_through: AtomicI64::new(i64::MIN),
        })
    }

    /// Whether a reload with `config` and `features` keeps these windows: the same
    /// settings and the same profile.
    pub fn same(&self, config: &DriftConfig, features: &Features) -> bool {
        &self.config == config && self.features.profile_sha256() == features.profile_sha256()
    }

    /// The share of drifted features that is drift.
    pub fn drift_share(&self) -> f64 {
        self.config.drift_share
    }

    fn window_ms(&self) -> i64 {
        i64::try_from(self.config.window_s).unwrap_or(i64::MAX / 1000) * 1000
    }

    /// Takes a call's valid inputs, at `now_ms`.
    pub fn observe(&self, inputs: &[NamedTensor], now_ms: i64) {
        let Some((values, width)) = self.features.rows(inputs) else {
            return;
        };
        if width == 0 {
            return;
        }
        let window = self.window_ms();
        let start = now_ms - now_ms.rem_euclid(window);
        let mut windows = self.windows.lock().unwrap_or_else(PoisonError::into_inner);
        let w = windows.entry(start).or_insert_with(|| Window {
            rows: 0,
            sketches: (0..width).filter_map(|_| Quantiles::new(K).ok()).collect(),
        });
        for row in values.chunks_exact(width) {
            w.rows += 1;
            for (sketch, v) in w.sketches.iter_mut().zip(row) {
                sketch.update(*v);
            }
        }
        let keep_from = start - window * (i64::try_from(self.config.windows).unwrap_or(1) - 1);
        let keep_from = unrecorded_from(keep_from, window, &self.recording, &self.recorded_through);
        windows.retain(|s, _| *s >= keep_from);
    }

    /// The windows' verdicts now.
    pub fn report(&self, model: &str) -> DriftReport {
        let windows = self.snapshot();
        let window = self.window_ms();
        DriftReport {
            model: model.to_owned(),
            window_s: self.config.window_s,
            alpha: self.config.alpha,
            drift_share: self.config.drift_share,
            windows: windows
                .iter()
                .map(|(s, w)| self.verdict(*s, s + window, w))
                .collect(),
            sliding: self.merged(&windows),
        }
    }

    /// The sliding window's verdict alone (what the drift alert reads: the other windows
    /// are not tested).
    pub fn sliding(&self) -> Option<WindowDrift> {
        self.merged(&self.snapshot())
    }

    /// Records the windows that ended since the last record, oldest first, with
    /// `record` (which gets the window and whether it had ended), and with `all` the
    /// window still open too, as it is (`all` is for a monitor that stops; that window is
    /// recorded again once it ends, or with more rows). Returns how many were recorded; a
    /// failed record stops there, and those after it are tried again the next time.
    pub(crate) fn record_windows(
        &self,
        now_ms: i64,
        all: bool,
        mut record: impl FnMut(aigis_evidence::WindowDrift, &WindowDrift, bool) -> Result<(), String>,
    ) -> Result<usize, String> {
        let mut mark = self.recorded.lock().unwrap_or_else(PoisonError::into_inner);
        self.recording.store(true, Ordering::Relaxed);
        let window = self.window_ms();
        let mut done = 0;
        for (start, w) in self.snapshot() {
            let complete = start + window <= now_ms;
            if mark.ended.is_some_and(|m| start <= m)
                || !(complete || all)
                || (!complete && mark.open == Some((start, w.rows)))
            {
                continue;
            }
            let verdict = self.verdict(start, start + window, &w);
            record(self.evidence(&verdict), &verdict, complete)?;
            done += 1;
            if complete {
                mark.ended = Some(start);
                self.recorded_through.store(start, Ordering::Relaxed);
            } else {
                mark.open = Some((start, w.rows));
            }
        }
        Ok(done)
    }

    /// A window's verdict as evidence.
    fn evidence(&self, w: &WindowDrift) -> aigis_evidence::WindowDrift {
        let count = |n: usize| u64::try_from(n).unwrap_or(u64::MAX);
        aigis_evidence::WindowDrift {
            rows: w.rows,
            verdict: w.verdict.to_owned(),
            alpha: self.config.alpha,
            drift_share: self.config.drift_share,
            drifted: count(w.drifted),
            inconclusive: count(w.inconclusive),
            tested: count(w.tested),
            features: w
                .features
                .iter()
                .map(|f| aigis_evidence::WindowFeature {
                    name: f.name.clone(),
                    status: f.status.to_owned(),
                    statistic: f.statistic,
                    error: f.error,
                    p_value_low: f.p_value_low,
                    p_value_high: f.p_value_high,
                })
                .collect(),
        }
    }

    /// The windows now, oldest first.
    fn snapshot(&self) -> Vec<(i64, Window)> {
        self.windows
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|(s, w)| (*s, w.clone()))
            .collect()
    }

    /// The last `sliding` windows merged, and their verdict.
    fn merged(&self, windows: &[(i64, Window)]) -> Option<WindowDrift> {
        let window = self.window_ms();
        windows
            .iter()
            .rev()
            .take(self.config.sliding)
            .fold(
                None::<(i64, i64, Window)>,
                |merged, (start, w)| match merged {
                    None => Some((*start, start + window, w.clone())),
                    Some((_, end, mut m)) => {
                        m.rows += w.rows;
                        for (a, b) in m.sketches.iter_mut().zip(&w.sketches) {
                            // Sketches of one `k` always merge.
                            let _ = a.merge(b);
                        }
                        Some((*start, end, m))
                    }
                },
            )
            .map(|(start, end, w)| self.verdict(start, end, &w))
    }

    fn verdict(&self, start: i64, end: i64, w: &Window) -> WindowDrift {
        let alpha = self.config.alpha;
        let features: Vec<FeatureDrift> = self
            .features
            .reference()
            .zip(&w.sketches)
            .map(|((name, reference), current)| {
                let rows = current.n();
                let mut f = FeatureDrift {
                    name: name.to_owned(),
                    status: "not_tested",
                    rows,
                    statistic: None,
                    error: None,
                    p_value_low: None,
                    p_value_high: None,
                };
                let Some(reference) = reference else {
                    return f;
                };
                if rows < self.config.min_rows {
                    f.status = "insufficient_data";
                    return f;
                }
                let Some((ks, bound)) = reference.ks_sketch(current) else {
                    f.status = "insufficient_data";
                    return f;
                };
                f.status = if bound.p_value_high < alpha {
                    "drift"
                } else if bound.p_value_low >= alpha {
                    "stable"
                } else {
                    "inconclusive"
                };
                f.statistic = Some(ks.statistic);
                f.error = Some(bound.rank_error);
                f.p_value_low = Some(bound.p_value_low);
                f.p_value_high = Some(bound.p_value_high);
                f
            })
            .collect();
        let count = |s: &str| features.iter().filter(|f| f.status == s).count();
        let (drifted, inconclusive) = (count("drift"), count("inconclusive"));
        let tested = drifted + inconclusive + count("stable");
        let share = self.config.drift_share;
        let verdict = if tested == 0 {
            "insufficient_data"
        } else if drifted as f64 / tested as f64 >= share {
            "drift"
        } else if ((drifted + inconclusive) as f64 / tested as f64) < share {
            "stable"
        } else {
            "inconclusive"
        };
        WindowDrift {
            start: crate::feedback::rfc3339(start),
            end: crate::feedback::rfc3339(end),
            rows: w.rows,
            verdict,
            drifted,
            inconclusive,
            tested,
            features,
        }
    }
}

/// Where the windows kept start: at `keep_from` (the last `windows`), or earlier while
/// windows are `recording` and an ended one after `recorded_through` is not recorded yet
/// (at most [`UNRECORDED`] windows earlier).
pub(crate) fn unrecorded_from(
    keep_from: i64,
    window: i64,
    recording: &AtomicBool,
    recorded_through: &AtomicI64,
) -> i64 {
    if !recording.load(Ordering::Relaxed) {
        return keep_from;
    }
    let waiting = recorded_through.load(Ordering::Relaxed).saturating_add(1);
    keep_from.min(waiting.max(keep_from.saturating_sub(window.saturating_mul(UNRECORDED))))
}
