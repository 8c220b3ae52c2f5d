//! Shadow models: a candidate version answers the same calls as the served model, off the
//! response path, and the gateway counts how often the two disagree and how long the
//! candidate takes; the client only ever sees the served model's answer.
//!
//! ```toml
//! [[serve.models]]
//! name = "digits"
//! path = "models/digits-v1.onnx"
//! [serve.models.shadow]
//! path = "models/digits-v2.onnx"   # verified as a served model is (`signature`, `verify`,
//!                                  # `identity` for an encrypted file)
//! # sample = 1.0                   # the share of calls mirrored
//! # max_in_flight = 4              # mirrored calls at once; more are skipped, not queued
//! # record_s = 3600                # how often the period so far is recorded as evidence
//! ```
//!
//! `GET /v2/models/{name}/shadow` gives the candidate's version, the calls and rows
//! compared, the rows whose labels differ (as [`crate::feedback::answers`] reads the
//! labels: the label output, else the index of the largest score), the disagreement rate,
//! the candidate's and the served model's latency (p50 and p99 over the last 10,000
//! mirrored calls), the candidate's failures, and the calls skipped because it was busy.
//!
//! With an audit (a project), what the candidate did is recorded as signed `shadow-period`
//! evidence, which `aigis model promote` reads when the project's `[model.gate.shadow]`
//! asks for a shadow period: every `record_s` seconds (the calls since the previous
//! record, so periods never overlap), when a reload drops or replaces the shadow, and when
//! the gateway stops. A period in which nothing was mirrored is not recorded; a record
//! that cannot be written is tried again at the next turn, its calls kept.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use aigis_runtime::{NamedTensor, Runtime};
use serde::{Deserialize, Serialize};

/// `[serve.models.shadow]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShadowConfig {
    pub path: PathBuf,
    #[serde(default)]
    pub signature: Option<PathBuf>,
    #[serde(default = "yes")]
    pub verify: bool,
    #[serde(default)]
    pub identity: Option<PathBuf>,
    #[serde(default = "sample")]
    pub sample: f64,
    #[serde(default = "max_in_flight")]
    pub max_in_flight: usize,
    #[serde(default = "record_s")]
    pub record_s: u64,
}

fn yes() -> bool {
    true
}
fn sample() -> f64 {
    1.0
}
fn max_in_flight() -> usize {
    4
}
fn record_s() -> u64 {
    3600
}

/// Latencies kept for the percentiles.
const LATENCIES: usize = 10_000;

/// A served model's shadow: the candidate and what it did.
#[derive(Debug)]
pub struct Shadow {
    config: ShadowConfig,
    pub(crate) runtime: Arc<dyn Runtime>,
    pub(crate) version: String,
    digest: aigis_core::Digest,
    signed_by: Option<String>,
    in_flight: AtomicUsize,
    calls: AtomicU64,
    rows: AtomicU64,
    disagreements: AtomicU64,
    failures: AtomicU64,
    skipped: AtomicU64,
    /// (candidate, served) microseconds per mirrored call, the last `LATENCIES`, and how
    /// many were ever pushed.
    latencies: Mutex<(VecDeque<(u64, u64)>, u64)>,
    /// Where the period not yet recorded starts. Held while a period is recorded, so two
    /// records never cover the same calls.
    mark: Mutex<Mark>,
}

/// The counts when the last period was recorded (or the shadow started).
#[derive(Debug, Clone, Copy)]
struct Mark {
    at: SystemTime,
    calls: u64,
    rows: u64,
    disagreements: u64,
    failures: u64,
    skipped: u64,
    latencies: u64,
}

/// `GET /v2/models/{name}/shadow`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ShadowReport {
    pub model: String,
    pub served_version: String,
    pub candidate_version: String,
    pub candidate_sha256: String,
    pub candidate_signed_by: Option<String>,
    /// Calls mirrored and compared.
    pub calls: u64,
    pub rows: u64,
    pub disagreements: u64,
    pub disagreement_rate: Option<f64>,
    /// Calls the candidate failed on (an error, or an answer without labels).
    pub failures: u64,
    /// Calls not mirrored because `max_in_flight` were running.
    pub skipped: u64,
    pub candidate_latency_us: Option<[u64; 2]>,
    pub served_latency_us: Option<[u64; 2]>,
}

impl Shadow {
    /// The shadow of `config`, its candidate loaded and verified as `served` was.
    pub(crate) fn new(
        config: &ShadowConfig,
        candidate: crate::models::Served,
    ) -> Result<Self, (String, String)> {
        if !(config.sample > 0.0 && config.sample <= 1.0) {
            return Err(("sample".into(), "must be above 0 and at most 1".into()));
        }
        if !(1..=256).contains(&config.max_in_flight) {
            return Err(("max_in_flight".into(), "must be between 1 and 256".into()));
        }
        if config.record_s == 0 {
            return Err(("record_s".into(), "must be at least 1 (second)".into()));
        }
        Ok(Self {
            config: config.clone(),
            runtime: candidate.runtime,
            version: candidate.version,
            digest: candidate.digest,
            signed_by: candidate.signed_by,
            in_flight: AtomicUsize::new(0),
            calls: AtomicU64::new(0),
            rows: AtomicU64::new(0),
            disagreements: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            skipped: AtomicU64::new(0),
            latencies: Mutex::new((VecDeque::new(), 0)),
            mark: Mutex::new(Mark {
                at: SystemTime::now(),
                calls: 0,
                rows: 0,
                disagreements: 0,
                failures: 0,
                skipped: 0,
                latencies: 0,
            }),
        })
    }

    /// Whether a reload with `config` keeps this shadow (and its counts): the same
    /// settings and the same candidate file.
    pub(crate) fn same(&self, config: &ShadowConfig, digest: &aigis_core::Digest) -> bool {
        &self.config == config && &self.digest == digest
    }

    /// Mirrors a call the served model answered (`outputs`, in `served`) to the
    /// candidate, on the blocking pool, unless `max_in_flight` are running or the call is
    /// not sampled. Never waits.
    pub(crate) fn mirror(
        self: &Arc<Self>,
        inputs: Vec<NamedTensor>,
        outputs: &[NamedTensor],
        rows: usize,
        served: Duration,
    ) {
        if self.config.sample < 1.0 && fastrand::f64() >= self.config.sample {
            return;
        }
        if self.in_flight.fetch_add(1, Ordering::AcqRel) >= self.config.max_in_flight {
            self.in_flight.fetch_sub(1, Ordering::AcqRel);
            self.skipped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let Some(want) = crate::feedback::answers(outputs, rows) else {
            self.in_flight.fetch_sub(1, Ordering::AcqRel);
            return;
        };
        let shadow = Arc::clone(self);
        tokio::task::spawn_blocking(move || {
            let started = std::time::Instant::now();
            let answer = shadow.runtime.run(inputs);
            let took = started.elapsed();
            match answer
                .ok()
                .and_then(|out| crate::feedback::answers(&out, rows))
            {
                Some(got) => {
                    let differ = got
                        .labels
                        .iter()
                        .zip(&want.labels)
                        .filter(|(a, b)| a != b)
                        .count();
                    shadow.rows.fetch_add(rows as u64, Ordering::Relaxed);
                    shadow
                        .disagreements
                        .fetch_add(differ as u64, Ordering::Relaxed);
                    {
                        let mut l = shadow
                            .latencies
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner);
                        if l.0.len() >= LATENCIES {
                            l.0.pop_front();
                        }
                        l.0.push_back((micros(took), micros(served)));
                        l.1 += 1;
                    }
                    // Counted last (release): a report that sees this call sees its rows,
                    // disagreements and latency too.
                    shadow.calls.fetch_add(1, Ordering::Release);
                }
                None => {
                    shadow.failures.fetch_add(1, Ordering::Relaxed);
                }
            }
            shadow.in_flight.fetch_sub(1, Ordering::AcqRel);
        });
    }

    /// What the candidate did so far.
    pub fn report(&self, model: &str, served_version: &str) -> ShadowReport {
        // The calls first (acquire): what they count is in the other numbers.
        let calls = self.calls.load(Ordering::Acquire);
        let (rows, disagreements) = (
            self.rows.load(Ordering::Relaxed),
            self.disagreements.load(Ordering::Relaxed),
        );
        let latencies: Vec<(u64, u64)> = self
            .latencies
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .0
            .iter()
            .copied()
            .collect();
        ShadowReport {
            model: model.to_owned(),
            served_version: served_version.to_owned(),
            candidate_version: self.version.clone(),
            candidate_sha256: self.digest.hex(),
            candidate_signed_by: self.signed_by.clone(),
            calls,
            rows,
            disagreements,
            disagreement_rate: (rows > 0).then(|| disagreements as f64 / rows as f64),
            failures: self.failures.load(Ordering::Relaxed),
            skipped: self.skipped.load(Ordering::Relaxed),
            candidate_latency_us: percentiles(latencies.iter().map(|l| l.0).collect()),
            served_latency_us: percentiles(latencies.iter().map(|l| l.1).collect()),
        }
    }

    /// Records the period since the last record as `shadow-period` evidence with `audit`,
    /// when `record_s` has passed since it started (or at once with `now`) and something
    /// was mirrored in it. `served` is the served model's version and digest. Returns the
    /// evidence's index, if one was recorded; on an error the period stays open.
    pub(crate) fn record_period(
        &self,
        model: &str,
        served: (&str, &aigis_core::Digest),
        instance: &str,
        audit: &dyn crate::audit::Audit,
        now: bool,
    ) -> Result<Option<u64>, String> {
        let mut mark = self.mark.lock().unwrap_or_else(PoisonError::into_inner);
        let to = SystemTime::now();
        let due = to
            .duration_since(mark.at)
            .is_ok_and(|d| d >= Duration::from_secs(self.config.record_s));
        if !(now || due) {
            return Ok(None);
        }
        // The calls first (acquire): what they count is in the other numbers.
        let calls = self.calls.load(Ordering::Acquire);
        let (latencies, pushed) = {
            let l = self
                .latencies
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let new = usize::try_from(l.1 - mark.latencies).unwrap_or(usize::MAX);
            let skip = l.0.len().saturating_sub(new);
            (l.0.iter().skip(skip).copied().collect::<Vec<_>>(), l.1)
        };
        let next = Mark {
            at: to,
            calls,
            rows: self.rows.load(Ordering::Relaxed),
            disagreements: self.disagreements.load(Ordering::Relaxed),
            failures: self.failures.load(Ordering::Relaxed),
            skipped: self.skipped.load(Ordering::Relaxed),
            latencies: pushed,
        };
        if (next.calls, next.failures, next.skipped) == (mark.calls, mark.failures, mark.skipped) {
            return Ok(None);
        }
        let period = aigis_evidence::ShadowPeriod {
            model: model.to_owned(),
            served_version: served.0.to_owned(),
            served_sha256: served.1.hex(),
            candidate_version: self.version.clone(),
            candidate_sha256: self.digest.hex(),
            candidate_signed_by: self.signed_by.clone(),
            instance: Some(instance.to_owned()),
            from: humantime::format_rfc3339_millis(mark.at).to_string(),
            to: humantime::format_rfc3339_millis(to).to_string(),
            calls: next.calls - mark.calls,
            rows: next.rows - mark.rows,
            disagreements: next.disagreements - mark.disagreements,
            failures: next.failures - mark.failures,
            skipped: next.skipped - mark.skipped,
            candidate_latency_us: percentiles(latencies.iter().map(|l| l.0).collect()),
            served_latency_us: percentiles(latencies.iter().map(|l| l.1).collect()),
            tool: aigis_evidence::Tool::current(),
        };
        let statement = aigis_evidence::Predicate::statement(
            &period,
            vec![
                ("candidate".into(), self.digest),
                ("served".into(), *served.1),
            ],
        )
        .map_err(|e| e.to_string())?;
        let index = audit.evidence(&statement)?;
        *mark = next;
        Ok(Some(index))
    }
}

/// The p50 and p99 of `v` (nearest rank), `None` when it is empty.
fn percentiles(mut v: Vec<u64>) -> Option<[u64; 2]> {
    if v.is_empty() {
        return None;
    }
    v.sort_unstable();
    let at = |p: f64| v.get(((v.len() - 1) as f64 * p).round() as usize).copied();
    Some([at(0.5)?, at(0.99)?])
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

impl crate::Gateway {
    /// Records the periods of the shadows of `models` (see [`Shadow::record_period`]).
    pub(crate) fn record_periods<'m>(
        &self,
        models: impl Iterator<Item = &'m crate::models::Served>,
        now: bool,
    ) {
        let Some(audit) = &self.audit else {
            return;
        };
        for m in models {
            let Some(sh) = &m.shadow else { continue };
            let served = (m.version.as_str(), &m.digest);
            match sh.record_period(&m.name, served, &self.instance, audit.as_ref(), now) {
                Ok(Some(index)) => {
                    tracing::info!(model = %m.name, candidate = %sh.version, evidence = index, "shadow period recorded");
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(model = %m.name, error = %e, "the shadow period could not be recorded; it is tried again");
                }
            }
        }
    }
}
