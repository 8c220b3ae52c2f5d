//! Prometheus metrics, served on a listener of their own (`[serve.metrics]`), in the
//! OpenMetrics text format:
//!
//! | metric | what |
//! |---|---|
//! | `aigis_gateway_requests_total{route, model, status, code, decision}` | calls, by their answer (`code` is the error code, `-` when allowed; `model` is `-` unless the call reached a served model) |
//! | `aigis_gateway_stage_duration_seconds{stage}` | time in each guard (`authenticate`, `parse`, `authorize`, `model`, `rate_limit`, `extraction`, `validate`, `inspect`, `model_call`, `feedback`) and in the `audit` write |
//! | `aigis_gateway_overhead_seconds` | time spent in aigis per call, the model call excluded (also each answer's `X-Aigis-Overhead-Us` header) |
//! | `aigis_gateway_requests_in_flight` | calls being answered |
//! | `aigis_gateway_audit_failures_total` | calls not answered because they could not be recorded |
//! | `aigis_gateway_rate_store_failures_total` | rate-store steps that failed (the call refused, or let through with `fail_open`) |
//! | `aigis_gateway_audit_queue` | records answered but not yet in the ledger (the audit lag, in `buffered` mode) |
//! | `aigis_gateway_jwks_reads_total` | JWKS re-reads (a rotation, or a refresh after the TTL) |
//! | `aigis_gateway_feedback_labels_total{model, outcome}` | calls named in feedback: `matched` (their labels counted) or `unknown` (not awaiting labels) |
//! | `aigis_gateway_detections_total{model, detector, action}` | calls a detector flagged (`action`: `flag` let through, `block` refused; for `extraction`, calls of a suspected principal, with what they get: `flag`, `throttle`, `block`) |
//! | `aigis_gateway_kpi{model, version, kpi}` | the latest feedback window with labels of each model version: `accuracy`, `precision`, `recall` (macro), `ece`, `mean_confidence` |
//! | `aigis_gateway_kpi_labeled_rows{model, version}` | the rows labelled in that window |
//! | `aigis_gateway_drift_share{model}` | the share of tested features that drift in the sliding window (`[serve.models.drift]`) |
//! | `aigis_gateway_drift_features{model, status}` | the sliding window's features by status: `drift`, `inconclusive`, `tested` |
//! | `aigis_gateway_drift_rows{model}` | the rows in the sliding window |
//! | `aigis_gateway_shadow_disagreement_ratio{model}` | the share of rows the candidate in the shadow answered differently, since it started |
//! | `aigis_gateway_shadow_rows{model}`, `aigis_gateway_shadow_failures{model}` | rows compared, calls the candidate failed |
//! | `aigis_gateway_shadow_latency_seconds{model, answered_by, quantile}` | p50 and p99 latency of the `candidate` and the `served` model over the last 10,000 mirrored calls |
//!
//! The model gauges are read from the gateway's state when the metrics are scraped.
//!
//! Labels never carry a principal, a key or request data; every label value comes from a
//! bounded set (the routes, the configured models, the error codes).
//!
//! ```toml
//! [serve.metrics]
//! listen = "127.0.0.1:9464"   # GET /metrics; plain HTTP, loopback unless public = true
//! # public = true             # serve it on a non-loopback address (no credentials asked)
//! ```

use std::net::SocketAddr;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use serde::Deserialize;

/// `[serve.metrics]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    pub listen: SocketAddr,
    /// Allow a non-loopback address.
    #[serde(default)]
    pub public: bool,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CallLabels {
    route: String,
    model: String,
    status: u16,
    code: &'static str,
    decision: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DetectionLabels {
    model: String,
    detector: &'static str,
    action: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LabelLabels {
    model: String,
    outcome: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KpiLabels {
    model: String,
    version: String,
    kpi: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct VersionLabels {
    model: String,
    version: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ModelLabels {
    model: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabels {
    model: String,
    status: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LatencyLabels {
    model: String,
    answered_by: &'static str,
    quantile: &'static str,
}

type Level = Gauge<f64, std::sync::atomic::AtomicU64>;

/// The gauges read from the models' state at each scrape.
#[derive(Default)]
struct ModelGauges {
    kpi: Family<KpiLabels, Level>,
    kpi_labeled: Family<VersionLabels, Level>,
    drift_share: Family<ModelLabels, Level>,
    drift_features: Family<StatusLabels, Level>,
    drift_rows: Family<ModelLabels, Level>,
    shadow_disagreement: Family<ModelLabels, Level>,
    shadow_rows: Family<ModelLabels, Level>,
    shadow_failures: Family<ModelLabels, Level>,
    shadow_latency: Family<LatencyLabels, Level>,
}

impl ModelGauges {
    fn register(&self, registry: &mut Registry) {
        registry.register(
            "kpi",
            "The latest feedback window with labels of each model version",
            self.kpi.clone(),
        );
        registry.register(
            "kpi_labeled_rows",
            "The rows labelled in that window",
            self.kpi_labeled.clone(),
        );
        registry.register(
            "drift_share",
            "The share of tested features that drift in the sliding window",
            self.drift_share.clone(),
        );
        registry.register(
            "drift_features",
            "The sliding window's features by status",
            self.drift_features.clone(),
        );
        registry.register(
            "drift_rows",
            "The rows in the sliding window",
            self.drift_rows.clone(),
        );
        registry.register(
            "shadow_disagreement_ratio",
            "The share of rows the candidate in the shadow answered differently",
            self.shadow_disagreement.clone(),
        );
        registry.register(
            "shadow_rows",
            "Rows the candidate in the shadow answered and compared",
            self.shadow_rows.clone(),
        );
        registry.register(
            "shadow_failures",
            "Mirrored calls the candidate failed",
            self.shadow_failures.clone(),
        );
        registry.register(
            "shadow_latency_seconds",
            "p50 and p99 latency of the candidate and the served model over the last mirrored calls",
            self.shadow_latency.clone(),
        );
    }

    fn clear(&self) {
        self.kpi.clear();
        self.kpi_labeled.clear();
        self.drift_share.clear();
        self.drift_features.clear();
        self.drift_rows.clear();
        self.shadow_disagreement.clear();
        self.shadow_rows.clear();
        self.shadow_failures.clear();
        self.shadow_latency.clear();
    }

    /// Sets the gauges from `models`' state now.
    fn read<'m>(&self, models: impl Iterator<Item = &'m crate::models::Served>) {
        let model = |m: &crate::models::Served| ModelLabels {
            model: m.name.clone(),
        };
        for m in models {
            if let Some(f) = &m.feedback {
                let kpis = f.kpis(&m.name);
                // The latest window with labels of each version.
                let mut latest: std::collections::BTreeMap<&str, &crate::feedback::Window> =
                    std::collections::BTreeMap::new();
                for w in kpis.windows.iter().filter(|w| w.kpis.labeled > 0) {
                    latest.insert(&w.kpis.version, w);
                }
                for (version, w) in latest {
                    let labels = |kpi| KpiLabels {
                        model: m.name.clone(),
                        version: version.to_owned(),
                        kpi,
                    };
                    for (kpi, v) in [
                        ("accuracy", w.kpis.accuracy),
                        ("precision", w.kpis.precision),
                        ("recall", w.kpis.recall),
                        ("ece", w.kpis.ece),
                        ("mean_confidence", w.kpis.mean_confidence),
                    ] {
                        if let Some(v) = v {
                            self.kpi.get_or_create(&labels(kpi)).set(v);
                        }
                    }
                    self.kpi_labeled
                        .get_or_create(&VersionLabels {
                            model: m.name.clone(),
                            version: version.to_owned(),
                        })
                        .set(w.kpis.labeled as f64);
                }
            }
            if let Some(d) = &m.drift
                && let Some(w) = d.sliding()
            {
                self.drift_rows.get_or_create(&model(m)).set(w.rows as f64);
                for (status, n) in [
                    ("drift", w.drifted),
                    ("inconclusive", w.inconclusive),
                    ("tested", w.tested),
                ] {
                    self.drift_features
                        .get_or_create(&StatusLabels {
                            model: m.name.clone(),
                            status,
                        })
                        .set(n as f64);
                }
                if w.tested > 0 {
                    self.drift_share
                        .get_or_create(&model(m))
                        .set(w.drifted as f64 / w.tested as f64);
                }
            }
            if let Some(sh) = &m.shadow {
                let r = sh.report(&m.name, &m.version);
                if let Some(rate) = r.disagreement_rate {
                    self.shadow_disagreement.get_or_create(&model(m)).set(rate);
                }
                self.shadow_rows.get_or_create(&model(m)).set(r.rows as f64);
                self.shadow_failures
                    .get_or_create(&model(m))
                    .set(r.failures as f64);
                for (answered_by, latency) in [
                    ("candidate", r.candidate_latency_us),
                    ("served", r.served_latency_us),
                ] {
                    let Some([p50, p99]) = latency else { continue };
                    for (quantile, us) in [("0.5", p50), ("0.99", p99)] {
                        self.shadow_latency
                            .get_or_create(&LatencyLabels {
                                model: m.name.clone(),
                                answered_by,
                                quantile,
                            })
                            .set(us as f64 / 1e6);
                    }
                }
            }
        }
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StageLabels {
    stage: &'static str,
}

fn latency() -> Histogram {
    // 10 µs to about 5 s.
    Histogram::new(exponential_buckets(0.000_01, 2.0, 20))
}

/// The gateway's metrics.
pub struct Metrics {
    registry: Registry,
    calls: Family<CallLabels, Counter>,
    stages: Family<StageLabels, Histogram, fn() -> Histogram>,
    overhead: Histogram,
    in_flight: Gauge,
    audit_failures: Counter,
    /// Records queued for the ledger, in the buffered audit mode.
    pub(crate) audit_queue: Gauge,
    /// Failures of the rate store.
    pub(crate) rate_store_failures: Counter,
    detections: Family<DetectionLabels, Counter>,
    labels: Family<LabelLabels, Counter>,
    /// Shared with the JWT issuers, which count their re-reads into it.
    pub(crate) jwks_reads: Counter,
    /// Calls answered, and those answered 5xx (what the error-rate alert reads).
    answered: std::sync::atomic::AtomicU64,
    failed: std::sync::atomic::AtomicU64,
    models: ModelGauges,
    /// Held while the model gauges are read and the text written, so that a scrape
    /// never sees another's half-read gauges.
    scrape: std::sync::Mutex<()>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("aigis_gateway");
        let calls = Family::<CallLabels, Counter>::default();
        registry.register("requests", "Calls, by their answer", calls.clone());
        let stages = Family::<StageLabels, Histogram, fn() -> Histogram>::new_with_constructor(
            latency as fn() -> Histogram,
        );
        registry.register(
            "stage_duration_seconds",
            "Time in each guard of the stack, and in the audit write",
            stages.clone(),
        );
        let overhead = latency();
        registry.register(
            "overhead_seconds",
            "Time spent in aigis per call, the model call excluded",
            overhead.clone(),
        );
        let in_flight = Gauge::default();
        registry.register(
            "requests_in_flight",
            "Calls being answered",
            in_flight.clone(),
        );
        let audit_failures = Counter::default();
        registry.register(
            "audit_failures",
            "Calls not answered because they could not be recorded",
            audit_failures.clone(),
        );
        let rate_store_failures = Counter::default();
        registry.register(
            "rate_store_failures",
            "Rate-store steps that failed",
            rate_store_failures.clone(),
        );
        let audit_queue = Gauge::default();
        registry.register(
            "audit_queue",
            "Records answered but not yet in the ledger (buffered audit mode)",
            audit_queue.clone(),
        );
        let detections = Family::<DetectionLabels, Counter>::default();
        registry.register(
            "detections",
            "Calls a detector flagged, by what the flag did",
            detections.clone(),
        );
        let labels = Family::<LabelLabels, Counter>::default();
        registry.register(
            "feedback_labels",
            "Calls named in feedback: matched (their labels counted) or unknown (not awaiting labels)",
            labels.clone(),
        );
        let jwks_reads = Counter::default();
        registry.register(
            "jwks_reads",
            "JWKS re-reads (a key rotation, or a refresh after the TTL)",
            jwks_reads.clone(),
        );
        let models = ModelGauges::default();
        models.register(&mut registry);
        Metrics {
            registry,
            calls,
            stages,
            overhead,
            in_flight,
            audit_failures,
            audit_queue,
            rate_store_failures,
            detections,
            labels,
            jwks_reads,
            answered: std::sync::atomic::AtomicU64::new(0),
            failed: std::sync::atomic::AtomicU64::new(0),
            models,
            scrape: std::sync::Mutex::new(()),
        }
    }
}

/// One finished call, as the metrics see it.
pub(crate) struct Observed<'a> {
    pub route: &'a str,
    pub model: Option<&'a str>,
    pub status: u16,
    pub code: Option<&'a str>,
    pub stages: &'a [(&'static str, Duration)],
    pub overhead: Duration,
}

impl crate::Gateway {
    /// The OpenMetrics text of every metric, the model gauges read now.
    pub fn metrics_text(&self) -> String {
        let m = &self.metrics;
        let _scrape = m
            .scrape
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        m.models.clear();
        m.models.read(self.live().models.values());
        m.render()
    }
}

impl Metrics {
    /// The OpenMetrics text of every metric (the model gauges as last read: see
    /// [`crate::Gateway::metrics_text`]).
    pub fn render(&self) -> String {
        let mut text = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }

    pub(crate) fn started(&self) {
        self.in_flight.inc();
    }

    pub(crate) fn finished(&self, call: &Observed<'_>) {
        self.in_flight.dec();
        self.answered
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if call.status >= 500 {
            self.failed
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        let code = call
            .code
            .and_then(|c| crate::CODES.iter().find(|k| **k == c).copied())
            .unwrap_or("-");
        self.calls
            .get_or_create(&CallLabels {
                route: call.route.to_owned(),
                model: call.model.unwrap_or("-").to_owned(),
                status: call.status,
                code,
                decision: if (200..300).contains(&call.status) {
                    "allowed"
                } else {
                    "refused"
                },
            })
            .inc();
        for (stage, took) in call.stages {
            self.stages
                .get_or_create(&StageLabels { stage })
                .observe(took.as_secs_f64());
        }
        self.overhead.observe(call.overhead.as_secs_f64());
    }

    /// Calls answered since the start.
    pub(crate) fn calls_seen(&self) -> u64 {
        self.answered.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Calls answered 5xx since the start.
    pub(crate) fn calls_failed(&self) -> u64 {
        self.failed.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// A detector flagged a call to `model` (a configured model: a bounded label).
    pub(crate) fn detected(&self, model: &str, detector: &'static str, action: &'static str) {
        self.detections
            .get_or_create(&DetectionLabels {
                model: model.to_owned(),
                detector,
                action,
            })
            .inc();
    }

    /// A feedback call to `model` matched `matched` calls and named `unknown` others.
    pub(crate) fn labelled(&self, model: &str, matched: u64, unknown: u64) {
        for (outcome, n) in [("matched", matched), ("unknown", unknown)] {
            if n > 0 {
                self.labels
                    .get_or_create(&LabelLabels {
                        model: model.to_owned(),
                        outcome,
                    })
                    .inc_by(n);
            }
        }
    }

    pub(crate) fn audit_write(&self, took: Duration, ok: bool) {
        self.stages
            .get_or_create(&StageLabels { stage: "audit" })
            .observe(took.as_secs_f64());
        if !ok {
            self.audit_failures.inc();
        }
    }
}
