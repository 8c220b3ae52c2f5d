//! Alerts: conditions checked while serving, raised to the log, to the ledger
//! (`gateway-alert` evidence) and to a webhook with an HMAC-signed body; de-duplicated,
//! so a condition that lasts is raised once and again every `repeat_s`, and said
//! `resolved` when it ends. A drift alert can run a retraining hook, whose run is
//! recorded too.
//!
//! ```toml
//! [serve.alerts]
//! webhook = "https://hooks.example.com/aigis"  # optional; plain http only to loopback
//! secret_env = "AIGIS_ALERT_SECRET"            # the HMAC key (required with a webhook)
//! # webhook_ca = "ca.pem"                      # trust these CAs instead of the system's
//! # interval_s = 30                            # how often the conditions are checked
//! # repeat_s = 3600                            # a lasting condition is raised again after
//! # min_calls = 20                             # calls in an interval before a rate is judged
//! # error_rate = 0.05                          # share of 5xx answers in the interval
//! # flag_rate = 0.2                            # share of a model's calls its detectors flagged
//! # accuracy = 0.8                             # a feedback window's accuracy below this (30+ labels)
//! # audit_queue = 1000                         # records answered but not yet in the ledger
//! # drift = true                               # a model's sliding drift window says drift
//! # extraction = true                          # a principal became suspected of copying
//! # retrain = ["./retrain.sh", "--model"]      # run on a drift alert (AIGIS_ALERT: the alert)
//! # retrain_timeout_s = 3600
//! ```
//!
//! The webhook gets `POST` with the alert as JSON and `X-Aigis-Signature: sha256=<hex>`,
//! the HMAC-SHA256 of the body under the secret; the body holds the time, so a receiver
//! that checks the signature and the time cannot be fooled by a forged or replayed alert.
//! It names the gateway that raised it (`instance`): replicas each raise their own.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use aigis_evidence::GatewayAlert;
use serde::{Deserialize, Serialize};

/// `[serve.alerts]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertsConfig {
    #[serde(default)]
    pub webhook: Option<String>,
    #[serde(default)]
    pub secret_env: Option<String>,
    #[serde(default)]
    pub webhook_ca: Option<PathBuf>,
    #[serde(default = "interval_s")]
    pub interval_s: u64,
    #[serde(default = "repeat_s")]
    pub repeat_s: u64,
    #[serde(default = "min_calls")]
    pub min_calls: u64,
    #[serde(default = "error_rate")]
    pub error_rate: Option<f64>,
    #[serde(default = "flag_rate")]
    pub flag_rate: Option<f64>,
    #[serde(default = "accuracy")]
    pub accuracy: Option<f64>,
    #[serde(default = "audit_queue")]
    pub audit_queue: Option<i64>,
    #[serde(default = "yes")]
    pub drift: bool,
    #[serde(default = "yes")]
    pub extraction: bool,
    #[serde(default)]
    pub retrain: Option<Vec<String>>,
    #[serde(default = "retrain_timeout_s")]
    pub retrain_timeout_s: u64,
}

fn interval_s() -> u64 {
    30
}
fn repeat_s() -> u64 {
    3600
}
fn min_calls() -> u64 {
    20
}
#[allow(
    clippy::unnecessary_wraps,
    reason = "serde's default for an optional threshold"
)]
fn error_rate() -> Option<f64> {
    Some(0.05)
}
#[allow(
    clippy::unnecessary_wraps,
    reason = "serde's default for an optional threshold"
)]
fn flag_rate() -> Option<f64> {
    Some(0.2)
}
#[allow(
    clippy::unnecessary_wraps,
    reason = "serde's default for an optional threshold"
)]
fn accuracy() -> Option<f64> {
    Some(0.8)
}
#[allow(
    clippy::unnecessary_wraps,
    reason = "serde's default for an optional threshold"
)]
fn audit_queue() -> Option<i64> {
    Some(1000)
}
fn yes() -> bool {
    true
}
fn retrain_timeout_s() -> u64 {
    3600
}

/// Labels a feedback window needs before its accuracy is judged.
const MIN_LABELS: u64 = 30;
/// How long the webhook may take.
const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(5);

/// One alert, as the webhook, the log and the ledger get it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Alert {
    pub time: String,
    /// The gateway that raised it (`[serve] instance`, or the id drawn at its start).
    pub instance: String,
    pub kind: &'static str,
    pub model: Option<String>,
    pub state: &'static str,
    pub value: Option<f64>,
    pub threshold: Option<f64>,
    pub message: String,
}

/// A condition as checked now.
struct Condition {
    kind: &'static str,
    model: Option<String>,
    /// A key that tells apart conditions of one kind and model (a principal).
    detail: Option<String>,
    firing: bool,
    value: Option<f64>,
    threshold: Option<f64>,
    message: String,
    /// Raised once, never resolved (an event: a principal became suspected).
    event: bool,
}

#[derive(Debug, Default)]
struct State {
    /// When each firing condition was last raised.
    firing: HashMap<(&'static str, Option<String>, Option<String>), Instant>,
    /// Calls and calls flagged per model since the last check.
    calls: HashMap<String, (u64, u64)>,
    /// Suspicions since the last check: model, principal, reason.
    suspicions: Vec<(String, String, String)>,
    /// Calls and 5xx answers at the last check.
    seen: (u64, u64),
}

/// The alerts of `[serve.alerts]`.
pub struct Alerts {
    config: AlertsConfig,
    webhook: Option<(hyper::Uri, Option<Arc<rustls::ClientConfig>>)>,
    secret: Option<zeroize::Zeroizing<Vec<u8>>>,
    state: Mutex<State>,
}

impl std::fmt::Debug for Alerts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Alerts")
            .field("webhook", &self.webhook.as_ref().map(|w| w.0.to_string()))
            .finish_non_exhaustive()
    }
}

impl Alerts {
    /// The alerts of `config` (paths relative to `base`); the error is the key and the
    /// message.
    pub fn new(config: &AlertsConfig, base: &Path) -> Result<Self, (String, String)> {
        if !(1..=86_400).contains(&config.interval_s) {
            return Err(("interval_s".into(), "must be between 1 and 86400".into()));
        }
        if config.repeat_s < config.interval_s {
            return Err(("repeat_s".into(), "must be at least interval_s".into()));
        }
        for (key, v) in [
            ("error_rate", config.error_rate),
            ("flag_rate", config.flag_rate),
            ("accuracy", config.accuracy),
        ] {
            if v.is_some_and(|v| !(v > 0.0 && v < 1.0)) {
                return Err((key.into(), "must be between 0 and 1".into()));
            }
        }
        if let Some(r) = &config.retrain
            && r.first().is_none_or(String::is_empty)
        {
            return Err((
                "retrain".into(),
                "the command to run, as a list: [\"./retrain.sh\"]".into(),
            ));
        }
        let webhook = match &config.webhook {
            None => None,
            Some(url) => {
                let uri: hyper::Uri = url
                    .parse()
                    .map_err(|e| ("webhook".to_owned(), format!("`{url}` is not a URL: {e}")))?;
                let tls = match uri.scheme_str() {
                    Some("https") => Some(
                        crate::client::tls(
                            config.webhook_ca.as_ref().map(|c| base.join(c)).as_deref(),
                            None,
                        )
                        .map_err(|m| ("webhook_ca".to_owned(), m))?,
                    ),
                    Some("http") if is_loopback(&uri) => None,
                    _ => {
                        return Err((
                            "webhook".into(),
                            "must be https:// (plain http:// only to a loopback address): alerts name models and principals".into(),
                        ));
                    }
                };
                Some((uri, tls))
            }
        };
        let secret = match (&config.secret_env, &webhook) {
            (Some(var), _) => {
                let value = std::env::var(var).map_err(|_| {
                    (
                        "secret_env".to_owned(),
                        format!("the environment variable `{var}` is not set"),
                    )
                })?;
                if value.len() < 16 {
                    return Err((
                        "secret_env".into(),
                        format!("`{var}` is shorter than 16 bytes: too weak an HMAC key"),
                    ));
                }
                Some(zeroize::Zeroizing::new(value.into_bytes()))
            }
            (None, Some(_)) => {
                return Err((
                    "secret_env".into(),
                    "a webhook needs the HMAC key its alerts are signed with".into(),
                ));
            }
            (None, None) => None,
        };
        Ok(Self {
            config: config.clone(),
            webhook,
            secret,
            state: Mutex::new(State::default()),
        })
    }

    /// How often the conditions are checked.
    pub fn interval(&self) -> Duration {
        Duration::from_secs(self.config.interval_s)
    }

    /// A call to `model` answered, flagged by a detector or not.
    pub(crate) fn call(&self, model: &str, flagged: bool) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let c = state.calls.entry(model.to_owned()).or_default();
        c.0 += 1;
        c.1 += u64::from(flagged);
    }

    /// A principal became suspected of copying `model`.
    pub(crate) fn suspected(&self, model: &str, principal: &str, reason: &str) {
        if self.config.extraction {
            self.state
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .suspicions
                .push((model.to_owned(), principal.to_owned(), reason.to_owned()));
        }
    }

    /// The HMAC-SHA256 of `body` under the secret, as the header says it.
    pub fn signature(&self, body: &[u8]) -> Option<String> {
        use hmac::Mac as _;
        let secret = self.secret.as_ref()?;
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret).ok()?;
        mac.update(body);
        let tag = mac.finalize().into_bytes();
        Some(format!(
            "sha256={}",
            tag.iter().map(|b| format!("{b:02x}")).collect::<String>()
        ))
    }
}

fn is_loopback(uri: &hyper::Uri) -> bool {
    let host = uri.host().unwrap_or_default().trim_matches(['[', ']']);
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

impl crate::Gateway {
    /// How often the alerts' conditions are checked, with `[serve.alerts]`.
    pub fn alert_interval(&self) -> Option<Duration> {
        self.alerts.as_ref().map(|a| a.interval())
    }

    /// Checks every condition once: what fires (or fires again after `repeat_s`) and what
    /// resolved is raised to the log, the ledger and the webhook. Returns the alerts
    /// raised.
    pub async fn check_alerts(self: &Arc<Self>) -> Vec<Alert> {
        let Some(alerts) = self.alerts.clone() else {
            return Vec::new();
        };
        let conditions = self.conditions(&alerts);
        let now = Instant::now();
        let repeat = Duration::from_secs(alerts.config.repeat_s);
        let time = humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string();
        let mut raised = Vec::new();
        {
            let mut state = alerts.state.lock().unwrap_or_else(PoisonError::into_inner);
            for c in conditions {
                let key = (c.kind, c.model.clone(), c.detail.clone());
                let state_now = match (c.firing, state.firing.get(&key)) {
                    (true, Some(last)) if now.duration_since(*last) < repeat => None,
                    (true, _) => {
                        if !c.event {
                            state.firing.insert(key, now);
                        }
                        Some("firing")
                    }
                    (false, Some(_)) => {
                        state.firing.remove(&key);
                        Some("resolved")
                    }
                    (false, None) => None,
                };
                if let Some(s) = state_now {
                    raised.push(Alert {
                        time: time.clone(),
                        instance: self.instance().to_owned(),
                        kind: c.kind,
                        model: c.model,
                        state: s,
                        value: c.value,
                        threshold: c.threshold,
                        message: c.message,
                    });
                }
            }
        }
        for alert in &raised {
            self.raise(&alerts, alert).await;
            if alert.kind == "drift" && alert.state == "firing" {
                self.retrain(&alerts, alert).await;
            }
        }
        raised
    }

    /// The conditions now, from the counts since the last check and the models' windows.
    fn conditions(&self, alerts: &Alerts) -> Vec<Condition> {
        let config = &alerts.config;
        let mut out = Vec::new();
        let (calls, suspicions) = {
            let mut state = alerts.state.lock().unwrap_or_else(PoisonError::into_inner);
            let seen = (self.metrics.calls_seen(), self.metrics.calls_failed());
            let (before, failed_before) = state.seen;
            state.seen = seen;
            if let Some(threshold) = config.error_rate {
                let (n, failed) = (seen.0 - before, seen.1 - failed_before);
                if n >= config.min_calls {
                    let rate = failed as f64 / n as f64;
                    out.push(Condition {
                        kind: "error_rate",
                        model: None,
                        detail: None,
                        firing: rate > threshold,
                        value: Some(rate),
                        threshold: Some(threshold),
                        message: format!("{failed} of the last {n} calls failed (5xx)"),
                        event: false,
                    });
                }
            }
            (
                std::mem::take(&mut state.calls),
                std::mem::take(&mut state.suspicions),
            )
        };
        if let Some(threshold) = config.audit_queue {
            let queued = self.metrics.audit_queue.get();
            out.push(Condition {
                kind: "audit_lag",
                model: None,
                detail: None,
                firing: queued > threshold,
                value: Some(queued as f64),
                threshold: Some(threshold as f64),
                message: format!("{queued} answered calls are not yet in the ledger"),
                event: false,
            });
        }
        if let Some(threshold) = config.flag_rate {
            for (model, (n, flagged)) in &calls {
                if *n >= config.min_calls {
                    let rate = *flagged as f64 / *n as f64;
                    out.push(Condition {
                        kind: "flag_rate",
                        model: Some(model.clone()),
                        detail: None,
                        firing: rate > threshold,
                        value: Some(rate),
                        threshold: Some(threshold),
                        message: format!(
                            "the detectors flagged {flagged} of the last {n} calls to `{model}`"
                        ),
                        event: false,
                    });
                }
            }
        }
        for (model, principal, reason) in suspicions {
            out.push(Condition {
                kind: "extraction",
                model: Some(model.clone()),
                detail: Some(principal.clone()),
                firing: true,
                value: None,
                threshold: None,
                message: format!("`{principal}` is suspected of copying `{model}`: {reason}"),
                event: true,
            });
        }
        let live = self.live();
        for m in live.models.values() {
            if let (Some(threshold), Some(f)) = (config.accuracy, &m.feedback) {
                let latest = f
                    .kpis(&m.name)
                    .windows
                    .into_iter()
                    .rev()
                    .find(|w| w.kpis.labeled >= MIN_LABELS);
                if let Some(w) = latest
                    && let Some(acc) = w.kpis.accuracy
                {
                    out.push(Condition {
                        kind: "accuracy",
                        model: Some(m.name.clone()),
                        detail: None,
                        firing: acc < threshold,
                        value: Some(acc),
                        threshold: Some(threshold),
                        message: format!(
                            "`{}` version {}: accuracy {acc:.3} on {} labelled rows of the window from {}",
                            m.name, w.kpis.version, w.kpis.labeled, w.start
                        ),
                        event: false,
                    });
                }
            }
            if let (true, Some(d)) = (config.drift, &m.drift)
                && let Some(s) = d.sliding()
                && s.verdict != "insufficient_data"
            {
                let share = s.drifted as f64 / s.tested.max(1) as f64;
                let drifted: Vec<&str> = s
                    .features
                    .iter()
                    .filter(|f| f.status == "drift")
                    .map(|f| f.name.as_str())
                    .take(10)
                    .collect();
                out.push(Condition {
                    kind: "drift",
                    model: Some(m.name.clone()),
                    detail: None,
                    firing: s.verdict == "drift",
                    value: Some(share),
                    threshold: Some(d.drift_share()),
                    message: format!(
                        "`{}`: {} of {} features drifted since {} ({})",
                        m.name,
                        s.drifted,
                        s.tested,
                        s.start,
                        drifted.join(", ")
                    ),
                    event: false,
                });
            }
        }
        out
    }

    /// To the log, the webhook and the ledger.
    async fn raise(&self, alerts: &Alerts, alert: &Alert) {
        tracing::warn!(kind = alert.kind, model = alert.model.as_deref().unwrap_or("-"), state = alert.state, message = %alert.message, "alert");
        let delivered = match &alerts.webhook {
            None => None,
            Some((uri, tls)) => {
                let body = serde_json::to_vec(alert).unwrap_or_default();
                let signature = alerts.signature(&body).unwrap_or_default();
                let sent = tokio::time::timeout(
                    WEBHOOK_TIMEOUT,
                    crate::client::request(
                        hyper::Method::POST,
                        uri,
                        Some(body),
                        tls.as_ref(),
                        64 << 10,
                        None,
                        &[("x-aigis-signature", signature.as_str())],
                    ),
                )
                .await;
                let ok = matches!(&sent, Ok(Ok(a)) if a.status.is_success());
                if !ok {
                    tracing::warn!(
                        kind = alert.kind,
                        "the alert webhook did not take the alert"
                    );
                }
                Some(ok)
            }
        };
        self.record_alert(alert, delivered).await;
    }

    async fn record_alert(&self, alert: &Alert, delivered: Option<bool>) {
        let Some(audit) = self.audit.clone() else {
            return;
        };
        let record = GatewayAlert {
            time: alert.time.clone(),
            instance: Some(alert.instance.clone()),
            kind: alert.kind.to_owned(),
            model: alert.model.clone(),
            state: alert.state.to_owned(),
            value: alert.value.filter(|v| v.is_finite()),
            threshold: alert.threshold,
            message: alert.message.clone(),
            delivered,
            tool: aigis_evidence::Tool::current(),
        };
        let subjects: Vec<(String, aigis_core::Digest)> = alert
            .model
            .as_ref()
            .and_then(|m| {
                self.live()
                    .models
                    .get(m)
                    .map(|s| (format!("model:{m}"), s.digest))
            })
            .into_iter()
            .collect();
        let written = tokio::task::spawn_blocking(move || {
            let statement = aigis_evidence::Predicate::statement(&record, subjects)
                .map_err(|e| e.to_string())?;
            audit.evidence(&statement)
        })
        .await;
        if !matches!(written, Ok(Ok(_))) {
            tracing::warn!(
                kind = alert.kind,
                "the alert could not be recorded in the ledger"
            );
        }
    }

    /// Runs the retraining hook for a drift alert; its run is an alert of its own.
    async fn retrain(&self, alerts: &Alerts, alert: &Alert) {
        let Some(argv) = alerts.config.retrain.clone() else {
            return;
        };
        let json = serde_json::to_string(alert).unwrap_or_default();
        let timeout = Duration::from_secs(alerts.config.retrain_timeout_s);
        let ran = tokio::task::spawn_blocking(move || run_hook(&argv, &json, timeout)).await;
        let (state, value, message) = match ran {
            Ok(Ok(0)) => (
                "ran",
                Some(0.0),
                "the retraining hook ran (exit 0)".to_owned(),
            ),
            Ok(Ok(code)) => (
                "failed",
                Some(f64::from(code)),
                format!("the retraining hook failed (exit {code})"),
            ),
            Ok(Err(e)) => (
                "failed",
                None,
                format!("the retraining hook did not run: {e}"),
            ),
            Err(_) => (
                "failed",
                None,
                "the retraining hook's runner failed".to_owned(),
            ),
        };
        let run = Alert {
            time: humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string(),
            instance: self.instance().to_owned(),
            kind: "retrain",
            model: alert.model.clone(),
            state,
            value,
            threshold: None,
            message,
        };
        self.raise(alerts, &run).await;
    }
}

/// Runs `argv` with the alert in `AIGIS_ALERT`; its exit code (killed after `timeout`).
fn run_hook(argv: &[String], alert: &str, timeout: Duration) -> Result<i32, String> {
    let (program, args) = argv.split_first().ok_or("no command")?;
    let mut child = std::process::Command::new(program)
        .args(args)
        .env("AIGIS_ALERT", alert)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map_err(|e| format!("`{program}`: {e}"))?;
    let started = Instant::now();
    loop {
        match child.try_wait().map_err(|e| e.to_string())? {
            Some(status) => return Ok(status.code().unwrap_or(-1)),
            None if started.elapsed() > timeout => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("killed after {} s", timeout.as_secs()));
            }
            None => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}
