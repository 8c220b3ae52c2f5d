//! `aigis serve`: the gateway in front of a model.
//!
//! It speaks the Open Inference Protocol v2 (KServe, Triton) over HTTP, so existing
//! clients work unchanged:
//!
//! | route | what |
//! |---|---|
//! | `GET /v2/health/live`, `GET /v2/health/ready` | liveness and readiness (no credentials: probes carry none, and they say nothing about a model) |
//! | `GET /v2` | server metadata |
//! | `GET /v2/models/{name}` | a model's metadata, from its signature |
//! | `GET /v2/models/{name}/ready` | whether it is loaded |
//! | `POST /v2/models/{name}/infer` | an inference (JSON tensors, flat or nested, or the binary tensor extension) |
//! | `POST /v2/models/{name}/feedback` | labels for earlier calls, by id ([`feedback`]) |
//! | `GET /v2/models/{name}/kpis` | the model's accuracy and calibration per window, from those labels |
//! | `GET /v2/models/{name}/drift` | drift of its inputs per window against the training data's profile ([`drift`]) |
//! | `GET /v2/models/{name}/shadow` | how a candidate version in the model's shadow answers the same calls ([`shadow`]) |
//! | `GET /openapi.json` | the OpenAPI document of these routes |
//!
//! Every route but the two health probes and the OpenAPI document needs an API key (`Authorization: Bearer
//! <key>`): there is no anonymous path to a model. A request is then checked against the
//! model's signature (names, datatypes, shapes, the body size) before the model runs, in
//! a blocking thread with a timeout. Errors are JSON, `{"error": "...", "code": "..."}`,
//! with a stable code and no internal detail. Models are verified against their OpenSSF
//! signature at start, over the bytes that are then loaded ([`models`]).
//!
//! What the guard stack adds next (TLS, JWT, Cedar authorization, rate limits, audit
//! evidence, metrics) plugs in around [`Gateway::router`].
#![forbid(unsafe_code)]

pub mod admin;
pub mod alerts;
pub mod audit;
pub mod auth;
pub mod authz;
mod client;
pub mod config;
pub mod detect;
pub mod drift;
mod error;
pub mod extraction;
pub mod feedback;
pub mod harden;
pub mod inspect;
pub mod jwt;
mod kept;
pub mod limits;
pub mod metrics;
pub mod models;
pub use aigis_runtime::protocol;
mod server;
pub mod shadow;
pub mod tls;
pub mod upstream;
mod windows;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use aigis_model::signing::VerifierKey;
use aigis_monitor::extraction::Looked;
use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use audit::Trail;
pub use config::ServeConfig;
use error::ErrorCode;
pub use error::{ApiError, CODES, Error};
use models::Served;
use protocol::{InferResponse, ModelMetadata};
pub use server::{serve, serve_router};

/// The OpenAPI 3.1 document of the routes, served at `GET /openapi.json`; a test keeps it
/// equal to [`ROUTES`] and the router.
pub const OPENAPI: &str = include_str!("../openapi.json");

/// Every route the gateway answers, as (method, path).
pub const ROUTES: [(&str, &str); 11] = [
    ("GET", "/v2/health/live"),
    ("GET", "/v2/health/ready"),
    ("GET", "/v2"),
    ("GET", "/v2/models/{name}"),
    ("GET", "/v2/models/{name}/ready"),
    ("POST", "/v2/models/{name}/infer"),
    ("POST", "/v2/models/{name}/feedback"),
    ("GET", "/v2/models/{name}/kpis"),
    ("GET", "/v2/models/{name}/drift"),
    ("GET", "/v2/models/{name}/shadow"),
    ("GET", "/openapi.json"),
];

/// What a reload replaces, all at once: each request takes the whole of it when it
/// starts and keeps it to the end, so a reload never mixes an old model with new
/// policies within one call, and never drops a call in flight.
#[derive(Debug, Clone)]
struct Live {
    models: BTreeMap<String, Served>,
    keys: auth::ApiKeys,
    issuers: Arc<jwt::Issuers>,
    authz: Option<Arc<authz::Authz>>,
    outputs: Option<harden::OutputsConfig>,
}

impl Live {
    /// Loads what `config` says, with the admin API's changes (`state`) laid over it.
    fn load(
        config: &ServeConfig,
        state: &admin::State,
        base: &Path,
        trusted: &[VerifierKey],
        project: Option<&aigis_ledger::Project>,
        jwks_reads: &prometheus_client::metrics::counter::Counter,
        previous: Option<&Live>,
    ) -> Result<Self, Error> {
        let config = &state.overlay(config);
        let mut models = BTreeMap::new();
        for (i, m) in config.models.iter().enumerate() {
            let timeout = Duration::from_millis(config.timeout_ms);
            let mut served = models::load(m, base, trusted, project, timeout)?;
            // What this model's entry held before a reload: the trackers it can keep.
            let old = previous.and_then(|p| p.models.get(&m.name));
            if let Some(p) = &m.profile {
                let features = inspect::Features::load(p, base, &served.runtime.signature().inputs)
                    .map(Arc::new)
                    .map_err(|(key, message)| Error::Config {
                        file: config.source.clone(),
                        key: format!("serve.models[{i}].profile.{key}"),
                        message,
                    })?;
                served.detectors.push((
                    Arc::new(inspect::ProfileRange::new(features.clone())),
                    p.action,
                ));
                served.features = Some(features);
            }
            if let Some(d) = &m.detector {
                let found = detect::load(d, base, &served.runtime, &served.digest.hex(), trusted)
                    .map_err(|(key, message)| Error::Config {
                    file: config.source.clone(),
                    key: format!("serve.models[{i}].detector.{key}"),
                    message,
                })?;
                served.detectors.extend(found);
            }
            if let Some(e) = &m.extraction {
                let ranges = served
                    .detectors
                    .iter()
                    .find_map(|(d, _)| d.feature_ranges());
                // Each rate is the file's share of clean rows for all its detectors
                // together; the gateway counts the rows any detector marked on a call
                // (when each said which; else the most any one found), as that share
                // counts them.
                let rates = extraction::CleanRates {
                    flagged: served
                        .detectors
                        .iter()
                        .filter_map(|(d, _)| d.clean_rate())
                        .reduce(f64::max),
                    atypical: served
                        .detectors
                        .iter()
                        .filter_map(|(d, _)| d.atypical_rate())
                        .reduce(f64::max),
                    by_class: served
                        .detectors
                        .iter()
                        .find_map(|(d, _)| d.clean_flags_by_class(&served.digest.hex())),
                };
                let calibrated = served
                    .detectors
                    .iter()
                    .find_map(|(d, _)| d.extraction_threshold());
                let fresh = extraction::Extraction::load(
                    e,
                    &served.runtime.signature().inputs,
                    &served.digest.hex(),
                    ranges,
                    rates,
                    calibrated.as_ref(),
                )
                .map_err(|(key, message)| Error::Config {
                    file: config.source.clone(),
                    key: format!("serve.models[{i}].extraction.{key}"),
                    message,
                })?;
                // The same model with the same settings keeps its principals' history.
                let tracker = old
                    .filter(|old| old.digest == served.digest)
                    .and_then(|old| old.extraction.clone())
                    .filter(|old| old.same(&fresh))
                    .unwrap_or_else(|| Arc::new(fresh));
                served.extraction = Some(tracker);
            }
            if let Some(d) = &m.drift {
                let config_err = |(key, message): (String, String)| Error::Config {
                    file: config.source.clone(),
                    key: format!("serve.models[{i}].drift.{key}"),
                    message,
                };
                let features = served.features.clone().ok_or_else(|| {
                    config_err((
                        "profile".into(),
                        "drift is tested against the training data's profile: add [serve.models.profile]".into(),
                    ))
                })?;
                let kept = old
                    .and_then(|old| old.drift.clone())
                    .filter(|old| old.same(d, &features));
                served.drift = Some(match kept {
                    Some(k) => k,
                    None => Arc::new(drift::Drift::new(d, features).map_err(config_err)?),
                });
            }
            if let Some(sh) = &m.shadow {
                let config_err = |(key, message): (String, String)| Error::Config {
                    file: config.source.clone(),
                    key: format!("serve.models[{i}].shadow.{key}"),
                    message,
                };
                let candidate = models::load(
                    &config::ModelConfig {
                        name: format!("{}~shadow", m.name),
                        path: sh.path.clone(),
                        signature: sh.signature.clone(),
                        verify: sh.verify,
                        identity: sh.identity.clone(),
                        ..config::ModelConfig::named(&m.name)
                    },
                    base,
                    trusted,
                    project,
                    timeout,
                )?;
                // The candidate takes what the served model takes.
                for spec in &served.runtime.signature().inputs {
                    let fits = |c: &aigis_runtime::TensorSpec| {
                        c.name == spec.name
                            && c.datatype == spec.datatype
                            && c.shape.len() == spec.shape.len()
                            && c.shape
                                .iter()
                                .zip(&spec.shape)
                                .all(|(a, b)| a.is_none() || b.is_none() || a == b)
                    };
                    if !candidate.runtime.signature().inputs.iter().any(fits) {
                        return Err(config_err((
                            "path".into(),
                            format!(
                                "the candidate has no {} input `{}` of shape {:?} as the served model has",
                                spec.datatype,
                                spec.name,
                                spec.protocol_shape()
                            ),
                        )));
                    }
                }
                let kept = old
                    .and_then(|old| old.shadow.clone())
                    .filter(|old| old.same(sh, &candidate.digest));
                served.shadow = Some(match kept {
                    Some(k) => k,
                    None => Arc::new(shadow::Shadow::new(sh, candidate).map_err(config_err)?),
                });
            }
            if let Some(f) = &m.feedback {
                // The same settings keep the predictions awaiting labels and the windows
                // (each counted by model version).
                let kept = old
                    .and_then(|old| old.feedback.clone())
                    .filter(|old| old.same(f));
                served.feedback = Some(match kept {
                    Some(k) => k,
                    None => Arc::new(feedback::Feedback::new(f).map_err(|(key, message)| {
                        Error::Config {
                            file: config.source.clone(),
                            key: format!("serve.models[{i}].feedback.{key}"),
                            message,
                        }
                    })?),
                });
            }
            tracing::info!(
                model = %served.name,
                version = %served.version,
                signed_by = served.signed_by.as_deref().unwrap_or("-"),
                "model loaded"
            );
            models.insert(m.name.clone(), served);
        }
        let issuers =
            jwt::Issuers::load(&config.auth.jwt, base, &config.source, jwks_reads.clone())?;
        let authz = config
            .authz
            .as_ref()
            .map(|a| authz::Authz::load(a, base, &config.source).map(Arc::new))
            .transpose()?;
        Ok(Live {
            models,
            keys: state.api_keys(&config.api_keys),
            issuers: Arc::new(issuers),
            authz,
            outputs: config.outputs.clone(),
        })
    }
}

/// What a reload changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reloaded {
    /// Each model served now, with its version and the version it replaced (`None` for a
    /// model that was not served before).
    pub models: Vec<(String, String, Option<String>)>,
    /// Models no longer served.
    pub removed: Vec<String>,
    /// API keys that authenticate after the change (or will, until they expire).
    pub api_keys: usize,
    pub jwt_issuers: usize,
    pub policies: bool,
    /// Whether the TLS certificate and key were read again.
    pub certificate: bool,
    /// Settings that changed in the file but only take effect at a restart.
    pub need_restart: Vec<&'static str>,
}

/// What the live state was made from: the configuration, its folder, the trusted keys
/// and the admin API's changes. Its lock orders reloads and admin changes: one at a time.
#[derive(Debug, Clone)]
pub(crate) struct Current {
    pub config: ServeConfig,
    pub base: PathBuf,
    pub trusted: Vec<VerifierKey>,
    pub state: admin::State,
}

/// Reads the configuration again, for a reload: the configuration, the folder its paths
/// are relative to, and the keys trusted to sign models.
pub type ConfigSource =
    Arc<dyn Fn() -> Result<(ServeConfig, PathBuf, Vec<VerifierKey>), String> + Send + Sync>;

impl Reloaded {
    /// What changed from `old` to `new`, made from `next`; `fixed` holds the settings a
    /// reload cannot change.
    fn between(old: &Live, new: &Live, next: &Current, fixed: &ServeConfig) -> Self {
        let config = &next.config;
        let models = new
            .models
            .values()
            .map(|m| {
                (
                    m.name.clone(),
                    m.version.clone(),
                    old.models.get(&m.name).map(|o| o.version.clone()),
                )
            })
            .collect();
        let removed = old
            .models
            .keys()
            .filter(|k| !new.models.contains_key(*k))
            .cloned()
            .collect();
        let f = fixed;
        let mut need_restart = Vec::new();
        for (changed, key) in [
            (f.listen != config.listen, "serve.listen"),
            (
                f.plain != config.plain
                    || f.tls.as_ref().map(|t| (&t.client_ca, t.client_auth))
                        != config.tls.as_ref().map(|t| (&t.client_ca, t.client_auth)),
                "serve.tls",
            ),
            (f.limits != config.limits, "serve.limits"),
            (f.timeout_ms != config.timeout_ms, "serve.timeout_ms"),
            (
                f.max_body_bytes != config.max_body_bytes,
                "serve.max_body_bytes",
            ),
            (f.metrics != config.metrics, "serve.metrics"),
            (f.admin != config.admin, "serve.admin"),
            (f.audit != config.audit, "serve.audit"),
            (f.alerts != config.alerts, "serve.alerts"),
            (f.instance != config.instance, "serve.instance"),
        ] {
            if changed {
                need_restart.push(key);
            }
        }
        Reloaded {
            models,
            removed,
            api_keys: new.keys.len(),
            jwt_issuers: config.auth.jwt.len(),
            policies: new.authz.is_some(),
            certificate: false,
            need_restart,
        }
    }
}

/// What a change is, for its record.
struct How<'a> {
    action: &'a str,
    trigger: &'a str,
    by: Option<&'a str>,
    keys: Vec<aigis_evidence::AdminKey>,
    /// Whether the models are loaded again.
    models: bool,
}

/// The gateway's state, shared by every request.
pub struct Gateway {
    live: std::sync::RwLock<Arc<Live>>,
    current: std::sync::Mutex<Current>,
    /// The admin listener's settings, with `[serve.admin]`.
    admin: Option<admin::Setup>,
    /// Where a reload through the admin API reads the configuration.
    source: Option<ConfigSource>,
    /// The settings a reload cannot change, to say when the file changed them.
    fixed: ServeConfig,
    /// The project, for models from its registry.
    project: Option<PathBuf>,
    timeout: Duration,
    max_body: usize,
    limiter: Option<limits::Limiter>,
    audit: Option<Arc<dyn audit::Audit>>,
    /// The queue of the buffered audit mode.
    buffer: Option<Arc<audit::Buffered>>,
    /// The TLS certificate a reload reads again.
    certificates: Option<Arc<tls::Certificates>>,
    metrics: metrics::Metrics,
    /// `[serve.alerts]`.
    alerts: Option<Arc<alerts::Alerts>>,
    /// This gateway's name in its monitoring evidence (`[serve] instance`, or an id
    /// drawn at the start).
    instance: String,
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway")
            .field("live", &self.live)
            .field("admin", &self.admin)
            .finish_non_exhaustive()
    }
}

impl Gateway {
    /// Loads and verifies every model of `config`; `base` is the folder its paths are
    /// relative to, `trusted` the keys whose model signatures are accepted.
    pub fn new(config: &ServeConfig, base: &Path, trusted: &[VerifierKey]) -> Result<Self, Error> {
        Self::build(config, base, trusted, None)
    }

    /// As [`Gateway::new`], in a project: models may then come from its registry
    /// (`registry = "name@stage"`).
    pub fn in_project(
        config: &ServeConfig,
        base: &Path,
        trusted: &[VerifierKey],
        project: &aigis_ledger::Project,
    ) -> Result<Self, Error> {
        Self::build(config, base, trusted, Some(project))
    }

    fn build(
        config: &ServeConfig,
        base: &Path,
        trusted: &[VerifierKey],
        project: Option<&aigis_ledger::Project>,
    ) -> Result<Self, Error> {
        let metrics = metrics::Metrics::default();
        let limiter = config
            .limits
            .as_ref()
            .map(|l| {
                let store = limits::Limiter::store_of(l).map_err(|m| ("serve.limits.store", m))?;
                let mut limiter =
                    limits::Limiter::new(l, store).map_err(|m| ("serve.limits", m))?;
                limiter.count_failures(metrics.rate_store_failures.clone());
                Ok(limiter)
            })
            .transpose()
            .map_err(|(key, message): (&str, String)| Error::Config {
                file: config.source.clone(),
                key: key.into(),
                message,
            })?;
        let alerts = config
            .alerts
            .as_ref()
            .map(|a| alerts::Alerts::new(a, base).map(Arc::new))
            .transpose()
            .map_err(|(key, message)| Error::Config {
                file: config.source.clone(),
                key: format!("serve.alerts.{key}"),
                message,
            })?;
        let (admin, state) = match admin::setup(config, base)? {
            Some((setup, state)) => (Some(setup), state),
            None => (None, admin::State::default()),
        };
        let live = Live::load(
            config,
            &state,
            base,
            trusted,
            project,
            &metrics.jwks_reads,
            None,
        )?;
        Ok(Gateway {
            live: std::sync::RwLock::new(Arc::new(live)),
            current: std::sync::Mutex::new(Current {
                config: config.clone(),
                base: base.to_owned(),
                trusted: trusted.to_vec(),
                state,
            }),
            admin,
            source: None,
            fixed: config.clone(),
            project: project.map(|p| p.root.clone()),
            timeout: Duration::from_millis(config.timeout_ms),
            max_body: config.max_body_bytes,
            limiter,
            audit: None,
            buffer: None,
            certificates: None,
            metrics,
            alerts,
            instance: match &config.instance {
                Some(name) => name.clone(),
                None => instance_id()?,
            },
        })
    }

    /// This gateway's name in its monitoring evidence.
    pub fn instance(&self) -> &str {
        &self.instance
    }

    /// Records every call to a model route with `audit` before answering it; a call that
    /// cannot be recorded is not answered (503).
    pub fn with_audit(mut self, audit: Arc<dyn audit::Audit>) -> Self {
        self.audit = Some(audit);
        self
    }

    /// Records calls with `inner` through a bounded queue, as `[serve.audit]` says
    /// (`mode = "buffered"`, see [`audit::Buffered`]); first puts in `inner` what an
    /// earlier stop spooled, and refuses to start while it cannot. `base` is the folder the
    /// spool's path is relative to.
    pub fn with_buffered_audit(
        mut self,
        inner: Arc<dyn audit::Audit>,
        config: &audit::AuditConfig,
        base: &Path,
    ) -> Result<Self, Error> {
        let spool = if config.spool.is_absolute() {
            config.spool.clone()
        } else {
            base.join(&config.spool)
        };
        let buffered = audit::Buffered::new(
            inner,
            config.buffer,
            spool,
            self.metrics.audit_queue.clone(),
        )
        .map_err(|message| Error::Config {
            file: self.fixed.source.clone(),
            key: "serve.audit.spool".into(),
            message,
        })?;
        let buffered = Arc::new(buffered);
        self.audit = Some(buffered.clone());
        self.buffer = Some(buffered);
        Ok(self)
    }

    /// At a stop, in the buffered audit mode: waits up to `deadline` for the queued records
    /// to reach the ledger, and spools the rest; returns how many were spooled.
    pub fn drain_audit(&self, deadline: Duration) -> usize {
        self.buffer.as_ref().map_or(0, |b| b.drain(deadline))
    }

    /// The TLS certificate and key in use (from [`tls::server_config_reloadable`]): a
    /// reload reads them again, so a renewed certificate needs no restart.
    pub fn with_certificates(mut self, certificates: Arc<tls::Certificates>) -> Self {
        self.certificates = Some(certificates);
        self
    }

    /// Where a reload asked through the admin API reads the configuration (without it,
    /// `POST /admin/v1/reload` is refused).
    pub fn with_config_source(mut self, source: ConfigSource) -> Self {
        self.source = Some(source);
        self
    }

    /// The admin listener's address, with `[serve.admin]`.
    pub fn admin_listen(&self) -> Option<std::net::SocketAddr> {
        self.admin.as_ref().map(|a| a.config.listen)
    }

    fn current(&self) -> Current {
        self.current
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Replaces the rate store (a store shared by several replicas); only with limits.
    pub fn with_rate_store(mut self, store: Box<dyn limits::RateStore>) -> Self {
        if let Some(limiter) = self.limiter.take() {
            self.limiter = Some(limiter.with_store(store));
        }
        self
    }

    /// The metrics, for `GET /metrics` on the metrics listener.
    pub fn metrics(&self) -> &metrics::Metrics {
        &self.metrics
    }

    /// The router of the metrics listener: `GET /metrics`.
    pub fn metrics_router(self: Arc<Self>) -> Router {
        Router::new()
            .route(
                "/metrics",
                get(|State(gw): State<Arc<Gateway>>| async move {
                    (
                        [(
                            header::CONTENT_TYPE,
                            "application/openmetrics-text; version=1.0.0; charset=utf-8",
                        )],
                        gw.metrics_text(),
                    )
                }),
            )
            .fallback(not_found)
            .with_state(self)
    }

    fn live(&self) -> Arc<Live> {
        self.live
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Reads everything a reload can change from `config` (models, API keys, JWT issuers
    /// and their keys, policies), checks all of it (models verified and loaded, policies
    /// validated), and only then swaps it in, at once. On any error nothing changes.
    /// Calls in flight finish with what they started with. The admin API's changes stay
    /// laid over the new configuration.
    ///
    /// With an audit, the change is recorded (`gateway-admin`, `trigger` saying what asked
    /// for it) before it takes effect, and a change that cannot be recorded is not applied;
    /// a refused change is recorded too.
    pub fn reload(
        &self,
        config: &ServeConfig,
        base: &Path,
        trusted: &[VerifierKey],
        trigger: &str,
    ) -> Result<Reloaded, Error> {
        self.reload_by(config, base, trusted, trigger, None)
    }

    fn reload_by(
        &self,
        config: &ServeConfig,
        base: &Path,
        trusted: &[VerifierKey],
        trigger: &str,
        by: Option<&str>,
    ) -> Result<Reloaded, Error> {
        let mut current = self
            .current
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let next = Current {
            config: config.clone(),
            base: base.to_owned(),
            trusted: trusted.to_vec(),
            state: current.state.clone(),
        };
        self.apply(
            &mut current,
            next,
            &How {
                action: "reload",
                trigger,
                by,
                keys: Vec::new(),
                models: true,
            },
        )
    }

    /// Reads the configuration again from the source given with
    /// [`Gateway::with_config_source`] and reloads it (see [`Gateway::reload`]).
    pub fn reload_from_source(&self, trigger: &str, by: Option<&str>) -> Result<Reloaded, Error> {
        let source = self.source.as_ref().ok_or_else(|| {
            Error::Source(
                "this gateway was started without a configuration file to read again".into(),
            )
        })?;
        let (config, base, trusted) = source().map_err(Error::Source)?;
        self.reload_by(&config, &base, &trusted, trigger, by)
    }

    /// Makes a change asked through the admin API: `edit` works on the admin state while
    /// changes are locked (no other reload or admin call in between), and the new state
    /// is kept in the state file once the change is recorded.
    pub(crate) fn apply_admin<T>(
        &self,
        action: &'static str,
        by: &str,
        models: bool,
        edit: admin::Edit<T>,
    ) -> Result<(Reloaded, T), ApiError> {
        let mut current = self
            .current
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut state = current.state.clone();
        let (out, keys) = edit(&current, &mut state)?;
        let next = Current {
            state,
            ..current.clone()
        };
        let report = self
            .apply(
                &mut current,
                next,
                &How {
                    action,
                    trigger: "admin",
                    by: Some(by),
                    keys,
                    models,
                },
            )
            .map_err(admin::refusal)?;
        Ok((report, out))
    }

    /// Clears `principal`'s extraction suspicion on `model`, asked through the admin API
    /// by `by`: recorded as a `gateway-admin` change (`extraction-clear`) before it is
    /// made, and not made when it cannot be recorded. The principal starts over, with no
    /// history. Returns what the record's detail says.
    pub(crate) fn clear_extraction(
        &self,
        model: &str,
        principal: &str,
        by: &str,
    ) -> Result<String, ApiError> {
        // One change at a time, as with reloads and the other admin changes.
        let current = self
            .current
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let live = self.live();
        let not_found = |m: String| ApiError::new(StatusCode::NOT_FOUND, "not_found", m);
        let served = live
            .models
            .get(model)
            .ok_or_else(|| not_found(format!("no model `{model}` is served")))?;
        let x = served.extraction.as_ref().ok_or_else(|| {
            not_found(format!(
                "model `{model}` has no `[serve.models.extraction]`"
            ))
        })?;
        let s = x.suspected(principal).ok_or_else(|| {
            not_found(format!(
                "`{principal}` is not suspected of extraction on `{model}`"
            ))
        })?;
        let detail = format!(
            "model `{model}`: principal `{principal}` no longer suspected of extraction (it was after {} rows: {})",
            s.after_rows,
            s.reason.describe()
        );
        let report = Reloaded::between(&live, &live, &current, &current.config);
        let how = How {
            action: "extraction-clear",
            trigger: "admin",
            by: Some(by),
            keys: Vec::new(),
            models: false,
        };
        self.record_admin(
            &how,
            aigis_evidence::AdminOutcome::Applied,
            &report,
            &live,
            Some(detail.clone()),
        )
        .map_err(|e| admin::refusal(Error::Unrecorded(e)))?;
        x.forget(principal);
        tracing::warn!(model, principal, by, "extraction suspicion cleared");
        Ok(detail)
    }

    /// Records a `gateway-admin` change about the models of `live`.
    fn record_admin(
        &self,
        how: &How<'_>,
        outcome: aigis_evidence::AdminOutcome,
        report: &Reloaded,
        live: &Live,
        detail: Option<String>,
    ) -> Result<(), String> {
        let Some(audit) = &self.audit else {
            return Ok(());
        };
        let change = aigis_evidence::GatewayAdmin {
            time: humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string(),
            action: how.action.to_owned(),
            trigger: how.trigger.to_owned(),
            outcome,
            models: report
                .models
                .iter()
                .map(|(name, version, previous)| aigis_evidence::AdminModel {
                    name: name.clone(),
                    version: version.clone(),
                    previous: previous.clone(),
                })
                .collect(),
            removed: report.removed.clone(),
            api_keys: report.api_keys as u64,
            jwt_issuers: report.jwt_issuers as u64,
            policies: report.policies,
            detail,
            by: how.by.map(str::to_owned),
            keys: how.keys.clone(),
            tool: aigis_evidence::Tool::current(),
        };
        let subjects = live
            .models
            .values()
            .map(|m| (format!("model:{}", m.name), m.digest))
            .collect();
        let statement =
            aigis_evidence::Predicate::statement(&change, subjects).map_err(|e| e.to_string())?;
        audit.evidence(&statement).map(|_| ())
    }

    /// Records that a change was refused, `why`; what stays in force (`old`, made from
    /// `current`) is its subject. A record that cannot be written is logged: the refusal
    /// itself already changed nothing.
    fn record_refused(&self, how: &How<'_>, old: &Live, current: &Current, why: String) {
        let kept = Reloaded::between(old, old, current, &current.config);
        if let Err(e) = self.record_admin(
            how,
            aigis_evidence::AdminOutcome::Refused,
            &kept,
            old,
            Some(why),
        ) {
            tracing::error!(error = %e, "the refused change could not be recorded");
        }
    }

    /// Checks `next` in full, records the change, keeps the admin state when it changed,
    /// and swaps it in; on any failure what is in force stays (and a refusal is recorded).
    fn apply(
        &self,
        current: &mut Current,
        next: Current,
        how: &How<'_>,
    ) -> Result<Reloaded, Error> {
        let old = self.live();
        let loaded = if how.models {
            let project = self
                .project
                .as_deref()
                .map(aigis_ledger::Project::load)
                .transpose()
                .map_err(|e| Error::Unverified {
                    model: "-".into(),
                    message: format!("the project cannot be read: {}", chain(&e)),
                });
            project.and_then(|project| {
                Live::load(
                    &next.config,
                    &next.state,
                    &next.base,
                    &next.trusted,
                    project.as_ref(),
                    &self.metrics.jwks_reads,
                    Some(&old),
                )
            })
        } else {
            Ok(Live {
                keys: next.state.api_keys(&next.config.api_keys),
                ..(*old).clone()
            })
        };
        let new = match loaded {
            Ok(new) => new,
            Err(e) => {
                self.record_refused(how, &old, current, chain(&e));
                return Err(e);
            }
        };
        let mut report = Reloaded::between(&old, &new, &next, &self.fixed);
        // A reload reads the TLS certificate and key again (a renewal); they are used
        // once the change is recorded.
        let certificate = match (&self.certificates, &next.config.tls) {
            (Some(_), Some(t)) if how.action == "reload" => {
                match tls::Certificates::read(t, &next.base, &next.config.source) {
                    Ok(key) => Some(key),
                    Err(e) => {
                        self.record_refused(how, &old, current, chain(&e));
                        return Err(e);
                    }
                }
            }
            _ => None,
        };
        report.certificate = certificate.is_some();
        let staged = match &self.admin {
            Some(setup) if next.state != current.state => {
                Some(next.state.stage(&setup.state_path).map_err(Error::State)?)
            }
            _ => None,
        };
        let detail = (!report.need_restart.is_empty())
            .then(|| format!("waiting for a restart: {}", report.need_restart.join(", ")));
        if let Err(why) = self.record_admin(
            how,
            aigis_evidence::AdminOutcome::Applied,
            &report,
            &new,
            detail,
        ) {
            if let Some(tmp) = &staged {
                let _ = std::fs::remove_file(tmp);
            }
            return Err(Error::Unrecorded(why));
        }
        if let (Some(tmp), Some(setup)) = (&staged, &self.admin)
            && let Err(why) = admin::commit(tmp, &setup.state_path)
        {
            // Recorded as applied, but it cannot be kept: undo it, on the record too.
            let message =
                format!("the admin state cannot be kept, so the change was undone: {why}");
            self.record_refused(how, &old, current, message.clone());
            return Err(Error::State(message));
        }
        if let (Some(key), Some(certificates)) = (certificate, &self.certificates) {
            certificates.install(key);
        }
        let new = Arc::new(new);
        *self
            .live
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::clone(&new);
        *current = next;
        // A shadow the change dropped or replaced: its last period is recorded now.
        let ended = old.models.values().filter(|m| {
            m.shadow.as_ref().is_some_and(|sh| {
                new.models
                    .get(&m.name)
                    .and_then(|n| n.shadow.as_ref())
                    .is_none_or(|n| !Arc::ptr_eq(n, sh))
            })
        });
        self.record_periods(ended, true);
        // A monitor the change dropped or replaced (new settings start new windows): its
        // windows not yet recorded are recorded now.
        fn dropped<'a, T>(old: &'a Option<Arc<T>>, new: Option<&Option<Arc<T>>>) -> Option<&'a T> {
            old.as_deref().filter(|o| {
                new.and_then(Option::as_ref)
                    .is_none_or(|n| !std::ptr::eq(&**n, *o))
            })
        }
        for m in old.models.values() {
            let kept = new.models.get(&m.name);
            let drift = dropped(&m.drift, kept.map(|n| &n.drift));
            let feedback = dropped(&m.feedback, kept.map(|n| &n.feedback));
            if drift.is_some() || feedback.is_some() {
                self.record_windows(m, drift, feedback, true);
            }
        }
        Ok(report)
    }

    /// Whether a promotion or rollback moved the version at the stage of a model served
    /// from the registry (then a reload swaps it in).
    pub fn stages_moved(&self) -> bool {
        let Some(root) = &self.project else {
            return false;
        };
        let live = self.live();
        if live.models.values().all(|m| m.stage.is_none()) {
            return false;
        }
        match aigis_ledger::Project::load(root) {
            Ok(project) => live
                .models
                .values()
                .any(|m| models::stage_moved(m, &project)),
            Err(_) => false,
        }
    }

    /// The policies, when `[serve.authz]` is configured.
    pub fn authz(&self) -> Option<Arc<authz::Authz>> {
        self.live().authz.clone()
    }

    /// How many times a JWT issuer's JWKS was re-read since the start.
    pub fn jwks_reads(&self) -> u64 {
        self.metrics.jwks_reads.get()
    }

    /// The models being served.
    pub fn models(&self) -> Vec<Served> {
        self.live().models.values().cloned().collect()
    }

    /// Each served model with an extraction detector, and the principals it suspects
    /// now (none, for some): what a later start restores with
    /// [`Gateway::restore_extraction`].
    pub fn extraction_suspects(&self) -> Vec<extraction::Saved> {
        self.live()
            .models
            .values()
            .filter_map(|m| {
                let x = m.extraction.as_ref()?;
                Some(extraction::Saved {
                    model: m.name.clone(),
                    sha256: m.digest.hex(),
                    settings: x.settings().clone(),
                    suspects: x.suspects(),
                })
            })
            .collect()
    }

    /// Makes the principals an earlier run suspected suspected again, for the models
    /// served now from the same file (SHA-256) with the same settings (a model or
    /// settings that changed start over, as at a reload); how many were restored.
    pub fn restore_extraction(&self, saved: &[extraction::Saved]) -> usize {
        let live = self.live();
        saved
            .iter()
            .filter_map(|s| {
                let m = live.models.get(&s.model)?;
                let x = m.extraction.as_ref()?;
                (m.digest.hex() == s.sha256 && *x.settings() == s.settings)
                    .then(|| x.restore(&s.suspects))
            })
            .sum()
    }

    /// The HTTP service.
    pub fn router(self: Arc<Self>) -> Router {
        let max_body = self.max_body;
        Router::new()
            .route("/v2/health/live", get(live))
            .route("/v2/health/ready", get(ready))
            .route("/v2", get(server_metadata))
            .route("/v2/models/{name}", get(model_metadata))
            .route("/v2/models/{name}/ready", get(model_ready))
            .route("/v2/models/{name}/infer", post(infer))
            .route("/v2/models/{name}/feedback", post(feedback_labels))
            .route("/v2/models/{name}/kpis", get(kpis))
            .route("/v2/models/{name}/drift", get(drift_report))
            .route("/v2/models/{name}/shadow", get(shadow_report))
            .route("/openapi.json", get(openapi))
            .fallback(not_found)
            .layer(axum::middleware::from_fn_with_state(self.clone(), observed))
            .layer(DefaultBodyLimit::max(max_body))
            .with_state(self)
    }

    /// The request's principal: by its `Authorization` header when it has one, else by
    /// the connection's verified client certificate (see [`auth`]).
    async fn principal(
        live: &Live,
        headers: &HeaderMap,
        peer: Option<&tls::Peer>,
    ) -> Result<auth::Principal, ApiError> {
        if let Some(value) = headers.get(header::AUTHORIZATION) {
            let bearer = value
                .to_str()
                .ok()
                .and_then(auth::bearer)
                .ok_or_else(ApiError::unauthenticated)?;
            if bearer.starts_with(auth::KEY_PREFIX) || live.issuers.is_empty() {
                return live
                    .keys
                    .authenticate(bearer)
                    .ok_or_else(ApiError::unauthenticated);
            }
            return live.issuers.authenticate(bearer).await.map_err(|why| {
                tracing::info!(reason = ?why.to_string(), "bearer token refused");
                ApiError::unauthenticated()
            });
        }
        peer.and_then(|p| p.client_cert.as_ref())
            .and_then(|der| auth::from_certificate(der))
            .ok_or_else(ApiError::unauthenticated)
    }

    /// The served model `name`, recording it in `trail`.
    fn served<'l>(live: &'l Live, name: &str, trail: &mut Trail) -> Result<&'l Served, ApiError> {
        trail.enter("model");
        let model = live
            .models
            .get(name)
            .ok_or_else(|| ApiError::no_model(name))?;
        trail.model = Some((model.version.clone(), model.digest));
        Ok(model)
    }

    /// Asks the policies (when there are any) whether `principal` may do `action` to the
    /// model `name` (the gateway itself when `name` is empty). Asked before the model is
    /// looked up, so a principal that may not use a model cannot learn whether it exists.
    fn authorize(
        live: &Live,
        principal: &auth::Principal,
        action: authz::Action,
        name: &str,
        call: &Call<'_>,
        trail: &mut Trail,
    ) -> Result<(), ApiError> {
        let Some(authz) = &live.authz else {
            return Ok(());
        };
        trail.enter("authorize");
        let resource = if name.is_empty() {
            authz::Resource::Server
        } else {
            authz::Resource::Model {
                name,
                version: live.models.get(name).map(|m| m.version.as_str()),
            }
        };
        let context = authz::CallContext {
            unix_ms: unix_ms(),
            source_ip: call.peer.and_then(|p| p.addr).map(|a| a.ip()),
            request_bytes: call.request_bytes,
            rows: call.rows,
        };
        if authz.allows(principal, action, resource, &context) {
            Ok(())
        } else {
            Err(ApiError::forbidden())
        }
    }
}

/// Now, in milliseconds since the Unix epoch.
pub(crate) fn unix_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// An error and its causes on one line.
pub(crate) use aigis_core::error_chain as chain;

fn json(value: serde_json::Value) -> Response {
    axum::Json(value).into_response()
}

async fn live() -> Response {
    json(serde_json::json!({"live": true}))
}

async fn ready(State(gw): State<Arc<Gateway>>) -> Response {
    json(serde_json::json!({"ready": !gw.live().models.is_empty()}))
}

async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

pub(crate) async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such route")
}

/// Measures every call (the metrics and the `X-Aigis-Overhead-Us` header), and records the
/// calls to model routes (see [`audit`]), answering them only once the record is written.
pub(crate) async fn observed(
    State(gw): State<Arc<Gateway>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let started = std::time::Instant::now();
    gw.metrics.started();
    let path = request.uri().path().to_owned();
    let method = request.method().as_str().to_owned();
    let (route, model) = audit::route_of(&method, &path);
    let unrecorded = path.starts_with("/v2/health/") || path == "/openapi.json";
    let (mut response, trail) = match gw.audit.clone() {
        Some(audit) if !unrecorded => {
            audited(&gw, audit, request, next, &route, model.clone(), started).await
        }
        _ => {
            let mut response = next.run(request).await;
            let trail = response
                .extensions_mut()
                .remove::<Trail>()
                .unwrap_or_default();
            (response, trail)
        }
    };
    let overhead = started.elapsed().saturating_sub(trail.model_time());
    if let Ok(v) = axum::http::HeaderValue::from_str(&overhead.as_micros().to_string()) {
        response.headers_mut().insert("x-aigis-overhead-us", v);
    }
    // Compared in place: no string is built per call for it.
    let known = route.split_once(' ').is_some_and(|(method, path)| {
        ROUTES.contains(&(method, path)) || admin::ROUTES.contains(&(method, path))
    });
    let code = response.extensions().get::<ErrorCode>().map(|c| c.0);
    gw.metrics.finished(&metrics::Observed {
        route: if known { &route } else { "other" },
        model: trail.model.as_ref().and(model.as_deref()),
        status: response.status().as_u16(),
        code,
        stages: &trail.timings,
        overhead,
    });
    response
}

/// Answers the call and records it before the answer leaves; a call that cannot be
/// recorded is not answered (503).
async fn audited(
    gw: &Gateway,
    audit: Arc<dyn audit::Audit>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
    route: &str,
    model: Option<String>,
    started: std::time::Instant,
) -> (Response, Trail) {
    let time = humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string();
    let (parts, body) = request.into_parts();
    let (request_bytes, response) = match read_capped(body, gw.max_body).await {
        Ok(bytes) => {
            let request =
                axum::extract::Request::from_parts(parts, axum::body::Body::from(bytes.clone()));
            (bytes, next.run(request).await)
        }
        Err(Unread::TooLong) => (
            Bytes::new(),
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                format!("the body is larger than {} bytes", gw.max_body),
            )
            .into_response(),
        ),
        Err(Unread::Broken) => (
            Bytes::new(),
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "bad_request",
                "the body cannot be read",
            )
            .into_response(),
        ),
    };
    let (mut response_parts, response_body) = response.into_parts();
    let response_bytes = axum::body::to_bytes(response_body, usize::MAX)
        .await
        .unwrap_or_default();
    let trail = response_parts
        .extensions
        .remove::<Trail>()
        .unwrap_or_default();
    let status = response_parts.status;
    let code = response_parts
        .extensions
        .get::<ErrorCode>()
        .map(|c| c.0.to_owned());
    let request_sha256 = aigis_core::Digest::of(&request_bytes);
    let mut subjects = vec![("request".to_owned(), request_sha256)];
    if let (Some(name), Some((_, digest))) = (&model, &trail.model) {
        subjects.push((format!("model:{name}"), *digest));
    }
    let call = aigis_evidence::GatewayCall {
        time,
        route: route.to_owned(),
        principal: trail.principal.clone(),
        authenticated_by: trail.authenticated_by.map(str::to_owned),
        model,
        model_version: trail.model.as_ref().map(|(version, _)| version.clone()),
        decision: if status.is_success() {
            aigis_evidence::CallDecision::Allowed
        } else {
            aigis_evidence::CallDecision::Refused
        },
        status: status.as_u16(),
        code,
        guards: trail.guards.iter().map(|g| (*g).to_owned()).collect(),
        rows: trail.rows,
        request_sha256,
        response_sha256: aigis_core::Digest::of(&response_bytes),
        duration_us: u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
        flags: trail
            .flags
            .iter()
            .map(|f| aigis_evidence::CallFlag {
                detector: f.detector.to_owned(),
                action: f.action.to_owned(),
                score: f.score,
                reasons: f.reasons.clone(),
                rows: f.rows.map(|n| n as u64),
            })
            .collect(),
        tool: aigis_evidence::Tool::current(),
    };
    let writing = std::time::Instant::now();
    let recorded = audit.submit(call, subjects).await;
    gw.metrics.audit_write(writing.elapsed(), recorded.is_ok());
    let response = match recorded {
        Ok(_) => Response::from_parts(response_parts, axum::body::Body::from(response_bytes)),
        Err(e) => {
            tracing::error!(error = %e, "the audit record could not be written; the call is not answered");
            audit_unavailable()
        }
    };
    (response, trail)
}

/// The most of an over-long body read and thrown away after its 413, and for how long.
const LINGER_BYTES: usize = 16 << 20;
const LINGER: std::time::Duration = std::time::Duration::from_secs(2);

/// Why a body was not read.
enum Unread {
    /// Longer than the limit.
    TooLong,
    /// The connection failed while it was being read.
    Broken,
}

/// The body, when it is at most `limit` bytes. A longer one is refused, and the rest of
/// it is read and thrown away in the background (up to 16 MiB, for up to 2 s): closing a
/// connection with unread data makes the kernel reset it, and the client, still sending,
/// would get a connection error instead of the 413 (nginx's "lingering close").
async fn read_capped(mut body: axum::body::Body, limit: usize) -> Result<Bytes, Unread> {
    use http_body_util::BodyExt as _;
    let mut chunks: Vec<Bytes> = Vec::new();
    let mut read = 0usize;
    while let Some(frame) = body.frame().await {
        let Ok(data) = frame.map_err(|_| Unread::Broken)?.into_data() else {
            continue;
        };
        read += data.len();
        if read > limit {
            tokio::spawn(async move {
                let mut thrown = data.len();
                let _ = tokio::time::timeout(LINGER, async {
                    while thrown <= LINGER_BYTES {
                        match body.frame().await {
                            Some(Ok(frame)) => {
                                thrown += frame.data_ref().map_or(0, Bytes::len);
                            }
                            _ => break,
                        }
                    }
                })
                .await;
            });
            return Err(Unread::TooLong);
        }
        chunks.push(data);
    }
    // One frame, the usual case, is not copied.
    Ok(match chunks.len() {
        1 => chunks.swap_remove(0),
        _ => Bytes::from(chunks.concat()),
    })
}

fn audit_unavailable() -> Response {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "audit_unavailable",
        "the call could not be recorded, so it was not answered; try again later",
    )
    .into_response()
}

/// The response of a handler, with what it did attached for the audit.
pub(crate) fn finish(trail: Trail, result: Result<Response, ApiError>) -> Response {
    let mut response = result.unwrap_or_else(IntoResponse::into_response);
    response.extensions_mut().insert(trail);
    response
}

/// The connection's TLS facts, when it came through [`serve`].
type PeerInfo = Option<axum::Extension<tls::Peer>>;

async fn server_metadata(
    State(gw): State<Arc<Gateway>>,
    peer: PeerInfo,
    headers: HeaderMap,
) -> Response {
    let mut trail = Trail::default();
    let result = async {
        let live = gw.live();
        let principal = authenticated(&live, &headers, peer.as_deref(), &mut trail).await?;
        let call = Call {
            peer: peer.as_deref(),
            request_bytes: 0,
            rows: 0,
        };
        Gateway::authorize(
            &live,
            &principal,
            authz::Action::Metadata,
            "",
            &call,
            &mut trail,
        )?;
        Ok(json(serde_json::json!({
            "name": "aigis",
            "version": env!("CARGO_PKG_VERSION"),
            "extensions": [],
        })))
    }
    .await;
    finish(trail, result)
}

/// Authenticates and finds the model, recording both in `trail`.
async fn authorized_model<'l>(
    live: &'l Live,
    name: &str,
    headers: &HeaderMap,
    peer: Option<&tls::Peer>,
    trail: &mut Trail,
) -> Result<(auth::Principal, &'l Served), ApiError> {
    let principal = authenticated(live, headers, peer, trail).await?;
    let call = Call {
        peer,
        request_bytes: 0,
        rows: 0,
    };
    Gateway::authorize(
        live,
        &principal,
        authz::Action::Metadata,
        name,
        &call,
        trail,
    )?;
    Ok((principal, Gateway::served(live, name, trail)?))
}

/// Authenticates, recording who in `trail`.
pub(crate) async fn authenticated(
    live: &Live,
    headers: &HeaderMap,
    peer: Option<&tls::Peer>,
    trail: &mut Trail,
) -> Result<auth::Principal, ApiError> {
    trail.enter("authenticate");
    let principal = Gateway::principal(live, headers, peer).await?;
    trail.principal = Some(principal.name.clone());
    trail.authenticated_by = Some(principal.method.as_str());
    Ok(principal)
}

/// What the authorization sees of a call besides who and what.
struct Call<'a> {
    peer: Option<&'a tls::Peer>,
    request_bytes: u64,
    rows: u64,
}

async fn model_metadata(
    State(gw): State<Arc<Gateway>>,
    UrlPath(name): UrlPath<String>,
    peer: PeerInfo,
    headers: HeaderMap,
) -> Response {
    let mut trail = Trail::default();
    let live = gw.live();
    let result = authorized_model(&live, &name, &headers, peer.as_deref(), &mut trail)
        .await
        .map(|(_, m)| {
            axum::Json(ModelMetadata::new(
                &m.name,
                &m.version,
                m.runtime.signature(),
            ))
            .into_response()
        });
    finish(trail, result)
}

async fn model_ready(
    State(gw): State<Arc<Gateway>>,
    UrlPath(name): UrlPath<String>,
    peer: PeerInfo,
    headers: HeaderMap,
) -> Response {
    let mut trail = Trail::default();
    let live = gw.live();
    let result = authorized_model(&live, &name, &headers, peer.as_deref(), &mut trail)
        .await
        .map(|(_, m)| json(serde_json::json!({"name": m.name, "ready": true})));
    finish(trail, result)
}

async fn infer(
    State(gw): State<Arc<Gateway>>,
    UrlPath(name): UrlPath<String>,
    peer: PeerInfo,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let mut trail = Trail::default();
    let result = infer_in(&gw, &name, &headers, peer.as_deref(), body, &mut trail).await;
    finish(trail, result)
}

async fn infer_in(
    gw: &Arc<Gateway>,
    name: &str,
    headers: &HeaderMap,
    peer: Option<&tls::Peer>,
    body: Result<Bytes, BytesRejection>,
    trail: &mut Trail,
) -> Result<Response, ApiError> {
    // Who first: an unauthenticated caller learns nothing, not even which models exist.
    let live = gw.live();
    let principal = authenticated(&live, headers, peer, trail).await?;
    trail.enter("parse");
    let body = body.map_err(|e| body_refused(&e, gw.max_body))?;
    // The binary tensor extension: a JSON header of this many bytes, then the tensors.
    let header_len = match headers.get("inference-header-content-length") {
        None => body.len(),
        Some(v) => v
            .to_str()
            .ok()
            .and_then(|v| v.trim().parse::<usize>().ok())
            .filter(|n| *n <= body.len())
            .ok_or_else(|| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "bad_request",
                    "Inference-Header-Content-Length is not a length within the body",
                )
            })?,
    };
    let (request, parts) = protocol::split(&body, header_len).map_err(|e| match e {
        protocol::BodyError::Malformed(m) => {
            ApiError::new(StatusCode::BAD_REQUEST, "malformed_json", m)
        }
        protocol::BodyError::Invalid(i) => i.into(),
    })?;
    // A batch costs its rows: the first dimension its first input declares (checked
    // against the model's signature below; a request is charged before that check, so
    // invalid requests are throttled too).
    let rows = request
        .inputs
        .first()
        .and_then(|i| i.shape.first().copied())
        .unwrap_or(1);
    trail.rows = Some(rows);
    let call = Call {
        peer,
        request_bytes: body.len() as u64,
        rows,
    };
    Gateway::authorize(&live, &principal, authz::Action::Infer, name, &call, trail)?;
    let model = Gateway::served(&live, name, trail)?;
    if let Some(limiter) = &gw.limiter {
        trail.enter("rate_limit");
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
        let verdict = if limiter.is_remote() {
            // A shared store answers over the network (up to its 100 ms timeout): not on
            // an async thread, where it would hold up every call that thread serves.
            let (gw, who, model) = (Arc::clone(gw), principal.name.clone(), name.to_owned());
            tokio::task::spawn_blocking(move || {
                gw.limiter.as_ref().map_or(limits::Verdict::StoreDown, |l| {
                    l.check(&who, &model, rows, now)
                })
            })
            .await
            .unwrap_or(limits::Verdict::StoreDown)
        } else {
            limiter.check(&principal.name, name, rows, now)
        };
        match verdict {
            limits::Verdict::Pass => {}
            limits::Verdict::Wait(d) => tokio::time::sleep(d).await,
            limits::Verdict::OverRate(after) => {
                return Err(ApiError::retry_after(
                    "rate_limited",
                    "over the rate limit for this principal and model",
                    after,
                ));
            }
            limits::Verdict::OverQuota(after) => {
                return Err(ApiError::retry_after(
                    "quota_exceeded",
                    "over the daily quota for this principal and model",
                    after,
                ));
            }
            limits::Verdict::BatchOverBurst { burst } => {
                return Err(ApiError::invalid(
                    "inputs",
                    format!(
                        "a batch of {rows} rows is more than the burst of {burst} the rate limit allows"
                    ),
                ));
            }
            limits::Verdict::StoreDown => {
                return Err(ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "rate_store_unavailable",
                    "the rate limit cannot be checked; try again later",
                ));
            }
        }
    }
    if let Some(x) = &model.extraction {
        trail.enter("extraction");
        let (flag, refused) = match x.before(&principal.name) {
            Ok(flag) => (flag, None),
            Err(refused) => {
                let (flag, e) = *refused;
                (Some(flag), Some(e))
            }
        };
        if let Some(flag) = flag {
            gw.metrics.detected(name, flag.detector, flag.action);
            trail.flags.push(flag);
        }
        if let Some(e) = refused {
            return Err(e);
        }
    }
    trail.enter("validate");
    let inputs = request
        .inputs
        .iter()
        .zip(parts)
        .enumerate()
        .map(|(i, (input, part))| {
            let tensor = protocol::input_tensor(input, i, part)?;
            let spec = model
                .runtime
                .signature()
                .inputs
                .iter()
                .find(|s| s.name == tensor.name)
                .ok_or_else(|| {
                    ApiError::invalid(
                        format!("inputs[{i}].name"),
                        format!("the model has no input `{}`", tensor.name),
                    )
                })?;
            if spec.datatype != tensor.tensor.datatype() {
                return Err(ApiError::invalid(
                    format!("inputs[{i}].datatype"),
                    format!("the model takes {}", spec.datatype),
                ));
            }
            if !spec.accepts(tensor.tensor.shape()) {
                return Err(ApiError::invalid(
                    format!("inputs[{i}].shape"),
                    format!("the model takes {:?}", spec.protocol_shape()),
                ));
            }
            Ok(tensor)
        })
        .collect::<Result<Vec<_>, ApiError>>()?;
    if let Some(features) = &model.features {
        features.validate(&inputs)?;
    }
    if let Some(d) = &model.drift {
        d.observe(&inputs, unix_ms());
    }
    // What the calibrated detectors flagged, for the extraction detector.
    let mut looked: Option<Looked> = None;
    let mut inspected_flag = false;
    // Detectors that read the answer (squeezing) run after the model call.
    let reads_answer = model.detectors.iter().any(|(d, _)| d.needs_answer());
    if !model.detectors.is_empty() {
        inspect_step(
            gw,
            &model.detectors,
            (&principal.name, name),
            (&inputs, None, rows),
            trail,
            (&mut looked, &mut inspected_flag),
        )
        .await?;
        if !reads_answer {
            count_inspected(gw, name, inspected_flag);
        }
    }
    let wanted: Option<Vec<String>> = request
        .outputs
        .as_ref()
        .map(|o| o.iter().map(|o| o.name.clone()).collect());
    if let Some(wanted) = &wanted {
        for (i, w) in wanted.iter().enumerate() {
            if !model
                .runtime
                .signature()
                .outputs
                .iter()
                .any(|o| &o.name == w)
            {
                return Err(ApiError::invalid(
                    format!("outputs[{i}].name"),
                    format!("the model has no output `{w}`"),
                ));
            }
        }
    }
    // The extraction detector, the shadow and the detectors that read the answer read the
    // rows after it.
    let asked = (model.extraction.is_some() || model.shadow.is_some() || reads_answer)
        .then(|| inputs.clone());
    let call_started = std::time::Instant::now();
    trail.enter("model_call");
    let answer = if model.pace.inline(&*model.runtime, rows) {
        // A local model whose calls take under 100 µs runs here: handing it to the blocking
        // pool would cost more than the call (aigis_runtime::Pace).
        Ok(Ok(model.pace.run(&*model.runtime, rows, inputs)))
    } else {
        let (runtime, pace) = (model.runtime.clone(), model.pace.clone());
        let call = tokio::task::spawn_blocking(move || pace.run(&*runtime, rows, inputs));
        tokio::time::timeout(gw.timeout, call).await
    };
    trail.close();
    let outputs = match answer {
        Err(_) => {
            tracing::warn!(model = %name, principal = %principal.name, "model call timed out");
            return Err(ApiError::new(
                StatusCode::GATEWAY_TIMEOUT,
                "model_timeout",
                "the model did not answer in time",
            ));
        }
        Ok(Err(_)) => {
            return Err(ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "the gateway failed on this request",
            ));
        }
        Ok(Ok(Err(aigis_runtime::Error::Input(m) | aigis_runtime::Error::Shape(m)))) => {
            return Err(ApiError::invalid("inputs", m));
        }
        // The upstream's own words stay in the log (the upstream logged them already).
        Ok(Ok(Err(aigis_runtime::Error::Unavailable(_)))) => {
            return Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "upstream_unavailable",
                "the model's server cannot be reached; try again later",
            ));
        }
        Ok(Ok(Err(aigis_runtime::Error::Upstream(_)))) => {
            return Err(ApiError::new(
                StatusCode::BAD_GATEWAY,
                "upstream_error",
                "the model's server did not answer as the protocol says",
            ));
        }
        Ok(Ok(Err(e))) => {
            tracing::warn!(model = %name, principal = %principal.name, error = %e, "model call failed");
            return Err(ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "model_error",
                "the model failed on this input",
            ));
        }
        Ok(Ok(Ok(outputs))) => outputs,
    };
    if let (true, Some(asked)) = (reads_answer, &asked) {
        inspect_step(
            gw,
            &model.detectors,
            (&principal.name, name),
            (asked, Some(&outputs), rows),
            trail,
            (&mut looked, &mut inspected_flag),
        )
        .await?;
        count_inspected(gw, name, inspected_flag);
    }
    let asked = match (&model.shadow, asked) {
        (Some(sh), Some(asked)) => {
            // The extraction detector reads them too: a copy only then.
            let (mirrored, kept) = if model.extraction.is_some() {
                (asked.clone(), Some(asked))
            } else {
                (asked, None)
            };
            sh.mirror(
                mirrored,
                &outputs,
                usize::try_from(rows).unwrap_or(0),
                call_started.elapsed(),
            );
            kept
        }
        (_, asked) => asked,
    };
    if let (Some(x), Some(asked)) = (&model.extraction, asked) {
        trail.enter("extraction");
        let flag = if rows <= INSPECT_INLINE_ROWS {
            x.after(&principal.name, &asked, &outputs, looked)
        } else {
            // Distances to up to `max_points` earlier queries per row: a large batch goes
            // to the blocking pool.
            let (x, who, answer) = (Arc::clone(x), principal.name.clone(), outputs.clone());
            tokio::task::spawn_blocking(move || x.after(&who, &asked, &answer, looked))
                .await
                .map_err(|_| ApiError::internal())?
        };
        trail.close();
        if let Some(flag) = flag {
            gw.metrics.detected(name, flag.detector, flag.action);
            if let Some(a) = &gw.alerts {
                a.suspected(
                    name,
                    &principal.name,
                    flag.reasons.first().map_or("", String::as_str),
                );
            }
            trail.flags.push(flag);
        }
    }
    // The call's id, and its answers kept for their labels.
    let id = match &model.feedback {
        Some(f) => {
            let made = request.id.is_none();
            let id = match request.id.clone() {
                Some(id) => Some(id),
                None => feedback::new_id(),
            };
            if let (Some(id), Some(answers)) = (
                &id,
                feedback::answers(&outputs, usize::try_from(rows).unwrap_or(0)),
            ) {
                f.keep(
                    &principal.name,
                    id,
                    made,
                    &model.version,
                    unix_ms(),
                    answers,
                );
            }
            id
        }
        None => request.id,
    };
    // What this principal may see of the answer.
    let outputs = match &live.outputs {
        Some(o) => harden::apply(o.for_principal(&principal.name), outputs),
        None => outputs,
    };
    let outputs = outputs
        .into_iter()
        .filter(|o| wanted.as_ref().is_none_or(|w| w.contains(&o.name)))
        .map(protocol::output)
        .collect();
    Ok(axum::Json(InferResponse {
        model_name: model.name.clone(),
        model_version: model.version.clone(),
        id,
        outputs,
    })
    .into_response())
}

/// `POST /v2/models/{name}/feedback`: labels for earlier calls, by id.
async fn feedback_labels(
    State(gw): State<Arc<Gateway>>,
    UrlPath(name): UrlPath<String>,
    peer: PeerInfo,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let mut trail = Trail::default();
    let result = feedback_in(&gw, &name, &headers, peer.as_deref(), body, &mut trail).await;
    finish(trail, result)
}

async fn feedback_in(
    gw: &Arc<Gateway>,
    name: &str,
    headers: &HeaderMap,
    peer: Option<&tls::Peer>,
    body: Result<Bytes, BytesRejection>,
    trail: &mut Trail,
) -> Result<Response, ApiError> {
    let live = gw.live();
    let principal = authenticated(&live, headers, peer, trail).await?;
    trail.enter("parse");
    let body = body.map_err(|e| body_refused(&e, gw.max_body))?;
    let request: feedback::FeedbackRequest = serde_json::from_slice(&body)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "malformed_json", e.to_string()))?;
    let rows: usize = request.feedback.iter().map(|i| i.labels.len()).sum();
    trail.rows = Some(rows as u64);
    let call = Call {
        peer,
        request_bytes: body.len() as u64,
        rows: rows as u64,
    };
    Gateway::authorize(
        &live,
        &principal,
        authz::Action::Feedback,
        name,
        &call,
        trail,
    )?;
    let model = Gateway::served(&live, name, trail)?;
    let store = model
        .feedback
        .as_ref()
        .ok_or_else(|| no_monitor(name, "feedback"))?;
    trail.enter("feedback");
    let matched = store.label(&principal.name, &request)?;
    trail.close();
    gw.metrics
        .labelled(name, matched.matched, matched.unknown.len() as u64);
    Ok(axum::Json(matched).into_response())
}

/// A body that could not be read: over the limit (413), or not read (400).
fn body_refused(e: &BytesRejection, max_body: usize) -> ApiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("the body is larger than {max_body} bytes"),
        )
    } else {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "the body cannot be read",
        )
    }
}

/// `GET /v2/models/{name}/shadow`: what the candidate in the model's shadow did.
async fn shadow_report(
    State(gw): State<Arc<Gateway>>,
    UrlPath(name): UrlPath<String>,
    peer: PeerInfo,
    headers: HeaderMap,
) -> Response {
    model_view(&gw, &name, &headers, peer.as_deref(), "shadow", |m| {
        let sh = m.shadow.as_ref()?;
        Some(axum::Json(sh.report(&m.name, &m.version)).into_response())
    })
    .await
}

/// `GET /v2/models/{name}/drift`: the drift windows' verdicts.
async fn drift_report(
    State(gw): State<Arc<Gateway>>,
    UrlPath(name): UrlPath<String>,
    peer: PeerInfo,
    headers: HeaderMap,
) -> Response {
    model_view(&gw, &name, &headers, peer.as_deref(), "drift", |m| {
        Some(axum::Json(m.drift.as_ref()?.report(&m.name)).into_response())
    })
    .await
}

/// `GET /v2/models/{name}/kpis`: the model's KPIs per window and version.
async fn kpis(
    State(gw): State<Arc<Gateway>>,
    UrlPath(name): UrlPath<String>,
    peer: PeerInfo,
    headers: HeaderMap,
) -> Response {
    model_view(&gw, &name, &headers, peer.as_deref(), "feedback", |m| {
        Some(axum::Json(m.feedback.as_ref()?.kpis(&m.name)).into_response())
    })
    .await
}

/// A route that shows one of a model's monitors: authenticated, authorized as
/// `metadata`, and 404 naming the setting (`[serve.models.<setting>]`) when the model
/// has none (`view` gives `None`).
async fn model_view(
    gw: &Gateway,
    name: &str,
    headers: &HeaderMap,
    peer: Option<&tls::Peer>,
    setting: &str,
    view: impl FnOnce(&Served) -> Option<Response>,
) -> Response {
    let mut trail = Trail::default();
    let live = gw.live();
    let result = authorized_model(&live, name, headers, peer, &mut trail)
        .await
        .and_then(|(_, m)| view(m).ok_or_else(|| no_monitor(name, setting)));
    finish(trail, result)
}

/// The model has no `[serve.models.<setting>]`.
fn no_monitor(name: &str, setting: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        format!("the model `{name}` has no `[serve.models.{setting}]`"),
    )
}

/// An instance id for a gateway whose configuration names none: 8 random bytes, so that
/// two replicas, or a restarted one, never share it.
fn instance_id() -> Result<String, Error> {
    feedback::random_hex(8)
        .map(|hex| format!("gw-{hex}"))
        .ok_or_else(|| Error::State("no random numbers for the instance id".into()))
}

/// Calls of at most this many rows are inspected on the async thread that serves them.
const INSPECT_INLINE_ROWS: u64 = 16;

/// Every detector's finding on a call, with its action: before the model call (no
/// `answer`), those that do not read the answer; after it, those that do.
fn inspect_all(
    detectors: &[detect::Seam],
    principal: &str,
    model: &str,
    inputs: &[aigis_runtime::NamedTensor],
    answer: Option<&[aigis_runtime::NamedTensor]>,
) -> Vec<(&'static str, inspect::Action, inspect::Finding)> {
    let call = inspect::Inspected {
        principal,
        model,
        inputs,
        answer,
    };
    detectors
        .iter()
        .filter(|(d, _)| d.needs_answer() == answer.is_some())
        .map(|(d, action)| (d.name(), *action, d.inspect(&call)))
        .collect()
}

/// [`inspect_all`], on the blocking pool for a call of many rows: a detector may run the
/// model again (squeezing), and a large batch must not hold an async thread.
async fn inspect_phase(
    detectors: &[detect::Seam],
    principal: &str,
    model: &str,
    inputs: &[aigis_runtime::NamedTensor],
    answer: Option<&[aigis_runtime::NamedTensor]>,
    rows: u64,
) -> Result<Vec<(&'static str, inspect::Action, inspect::Finding)>, ApiError> {
    if rows <= INSPECT_INLINE_ROWS {
        return Ok(inspect_all(detectors, principal, model, inputs, answer));
    }
    let (detectors, who, what, inputs, answer) = (
        detectors.to_vec(),
        principal.to_owned(),
        model.to_owned(),
        inputs.to_vec(),
        answer.map(<[_]>::to_vec),
    );
    tokio::task::spawn_blocking(move || {
        inspect_all(&detectors, &who, &what, &inputs, answer.as_deref())
    })
    .await
    .map_err(|_| ApiError::internal())
}

/// Counts an inspected call for the alerts' flag rate once its last phase has run (a call
/// whose model call failed before squeezing could run is not counted). The inspection's
/// flags only: a suspected principal's extraction flag is not a detector's flag on this
/// call's rows.
fn count_inspected(gw: &Gateway, model: &str, flagged: bool) {
    if let Some(a) = &gw.alerts {
        a.call(model, flagged);
    }
}

/// One phase of the inspection (before the model call without an answer, after it with
/// the answer): the detectors' findings recorded, and a blocking one's refusal.
async fn inspect_step(
    gw: &Gateway,
    detectors: &[detect::Seam],
    (principal, model): (&str, &str),
    (inputs, answer, rows): (
        &[aigis_runtime::NamedTensor],
        Option<&[aigis_runtime::NamedTensor]>,
        u64,
    ),
    trail: &mut Trail,
    (looked, flagged): (&mut Option<Looked>, &mut bool),
) -> Result<(), ApiError> {
    trail.enter("inspect");
    let found = inspect_phase(detectors, principal, model, inputs, answer, rows).await?;
    trail.close();
    match record_findings(gw, model, principal, trail, found, looked, flagged) {
        Some(detector) => {
            count_inspected(gw, model, true);
            Err(input_blocked(detector))
        }
        None => Ok(()),
    }
}

/// Puts what the detectors found into the call's trail, the metrics and the log; counts
/// the rows they flagged and the rows above their atypical cuts (the most any one did)
/// for the extraction detector. Returns the first detector whose flag blocks the call.
fn record_findings(
    gw: &Gateway,
    model: &str,
    principal: &str,
    trail: &mut Trail,
    found: Vec<(&'static str, inspect::Action, inspect::Finding)>,
    looked: &mut Option<Looked>,
    flagged: &mut bool,
) -> Option<&'static str> {
    let mut blocked = None;
    for (detector, action, found) in found {
        if found.flagged_rows.is_some() || found.atypical_rows.is_some() {
            let first = looked.is_none();
            let l = looked.get_or_insert_with(Looked::default);
            l.flagged = l.flagged.max(found.flagged_rows.unwrap_or(0));
            l.atypical = l.atypical.max(found.atypical_rows.unwrap_or(0));
            // Which rows any detector flagged, as the file's calibration counted them
            // (`any`); a detector that looked without saying which leaves the call's
            // rows unattributed.
            l.flags = union_rows(first, l.flags.take(), found.row_flags);
            if let Some(f) = &l.flags {
                l.flagged = l.flagged.max(f.iter().filter(|x| **x).count());
            }
            l.atypical_flags = union_rows(first, l.atypical_flags.take(), found.row_atypical);
            if let Some(f) = &l.atypical_flags {
                l.atypical = l.atypical.max(f.iter().filter(|x| **x).count());
            }
        }
        if !found.flagged {
            continue;
        }
        *flagged = true;
        gw.metrics.detected(model, detector, action.as_str());
        tracing::info!(model, principal, detector, action = action.as_str(), reasons = ?found.reasons, "input flagged");
        trail.flags.push(inspect::Flag {
            detector,
            action: action.as_str(),
            score: found.score,
            reasons: found.reasons,
            rows: found.flagged_rows,
        });
        if action == inspect::Action::Block {
            blocked.get_or_insert(detector);
        }
    }
    blocked
}

/// Rows marked by any detector so far (`so_far`) or by this one (`this`): `this` for
/// the first detector that looked; `None` once one looked without saying which rows.
fn union_rows(
    first: bool,
    so_far: Option<Vec<bool>>,
    this: Option<Vec<bool>>,
) -> Option<Vec<bool>> {
    match (first, so_far, this) {
        (true, _, f) => f,
        (false, Some(mut a), Some(b)) if a.len() == b.len() => {
            a.iter_mut().zip(&b).for_each(|(x, y)| *x |= *y);
            Some(a)
        }
        _ => None,
    }
}

/// The refusal of a call a detector blocked. Why stays in the audit record: the training
/// data's ranges are not the caller's to learn.
fn input_blocked(detector: &str) -> ApiError {
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "input_blocked",
        format!("the input was refused by the inspection (`{detector}`)"),
    )
}
