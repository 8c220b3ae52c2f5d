//! Upstream mode: a model served by another server (Triton, KServe, TorchServe's KServe
//! v2 endpoint, or another aigis), reached over the Open Inference Protocol v2, behind the
//! same guards as a model run in process.
//!
//! ```toml
//! [[serve.models]]
//! name = "fraud"
//! verify = false                     # said in so many words: aigis cannot check what another server runs
//! [serve.models.upstream]
//! url = "https://models.internal:8443/v2/models/fraud"
//! ca = "upstream-ca.pem"             # trust these CAs (default: the system's)
//! cert = "gw-client.pem"             # a client certificate: mutual TLS to the upstream
//! key = "gw-client.key"
//! failures = 5                       # consecutive failures that open the circuit
//! open_s = 30                        # how long it stays open before one call tries again
//! ```
//!
//! At start (and on every reload) the model's metadata (`GET <url>`) gives its signature,
//! which the gateway validates requests against as for a local model; its first version
//! is the version served, and the SHA-256 of the metadata stands for the model in the
//! audit records. A call is sent as JSON tensors to `<url>/infer` within the gateway's
//! `timeout_ms` (504 past it). An upstream that cannot be reached, or whose circuit is
//! open, gives 503 `upstream_unavailable`; one that answers with an error or an answer
//! that is not the model's outputs gives 502 `upstream_error`; the upstream's own message
//! is logged, never passed on. `http://` is allowed on loopback addresses only.
//! Connections to the upstream are kept open between calls (up to 64 idle, each for at
//! most 30 s), so a call pays for no TCP or TLS handshake; one the upstream closed is
//! replaced by a new one, without failing the call.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use aigis_runtime::{Error as RunError, NamedTensor, Runtime, Signature, TensorSpec};
use serde::Deserialize;

use crate::client;

/// `[serve.models.upstream]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamConfig {
    /// The model's URL on the upstream (`…/v2/models/<name>`).
    pub url: String,
    /// CA certificates (PEM) to trust the upstream with; the system's when absent.
    #[serde(default)]
    pub ca: Option<PathBuf>,
    /// A client certificate chain (PEM) to present: mutual TLS.
    #[serde(default)]
    pub cert: Option<PathBuf>,
    /// Its private key (PEM).
    #[serde(default)]
    pub key: Option<PathBuf>,
    /// Consecutive failures that open the circuit.
    #[serde(default = "default_failures")]
    pub failures: u32,
    /// How long the circuit stays open.
    #[serde(default = "default_open_s")]
    pub open_s: u64,
}

fn default_failures() -> u32 {
    5
}

fn default_open_s() -> u64 {
    30
}

/// The largest answer read from an upstream.
const MAX_ANSWER: usize = 64 << 20;

impl UpstreamConfig {
    /// The checks of the table: the key (under `serve.models[i].upstream`) and message.
    pub(crate) fn check(&self) -> Result<(), (String, String)> {
        let uri: hyper::Uri = self.url.parse().map_err(|e| {
            (
                "url".to_owned(),
                format!("`{}` is not a URL: {e}", self.url),
            )
        })?;
        let host = uri.host().unwrap_or_default().trim_matches(['[', ']']);
        match uri.scheme_str() {
            Some("https") => {}
            Some("http") => {
                let loopback = host == "localhost"
                    || host
                        .parse::<std::net::IpAddr>()
                        .is_ok_and(|ip| ip.is_loopback());
                if !loopback {
                    return Err((
                        "url".into(),
                        "plain http is allowed to a loopback address only: use https".into(),
                    ));
                }
            }
            _ => return Err(("url".into(), "must be an http(s) URL".into())),
        }
        if host.is_empty() {
            return Err(("url".into(), "names no host".into()));
        }
        if self.cert.is_some() != self.key.is_some() {
            return Err((
                "cert".into(),
                "a client certificate needs both `cert` and `key`".into(),
            ));
        }
        if self.failures == 0 {
            return Err(("failures".into(), "must be at least 1".into()));
        }
        if self.open_s == 0 || self.open_s > 3600 {
            return Err(("open_s".into(), "must be between 1 and 3600".into()));
        }
        Ok(())
    }
}

/// The circuit breaker: open after `threshold` consecutive failures, for `open`; then
/// calls go through again, and the first failure opens it at once.
#[derive(Debug)]
struct Breaker {
    threshold: u32,
    open: Duration,
    failures: AtomicU32,
    open_until: std::sync::Mutex<Option<Instant>>,
}

impl Breaker {
    fn allows(&self) -> bool {
        let until = *self
            .open_until
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        until.is_none_or(|t| Instant::now() >= t)
    }

    fn succeeded(&self) {
        self.failures.store(0, Ordering::SeqCst);
        *self
            .open_until
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = None;
    }

    fn failed(&self) {
        let n = self
            .failures
            .fetch_add(1, Ordering::SeqCst)
            .saturating_add(1);
        if n >= self.threshold {
            *self
                .open_until
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) =
                Some(Instant::now() + self.open);
        }
    }
}

/// A model on an upstream server, run as a [`Runtime`].
#[derive(Debug)]
pub struct Upstream {
    name: String,
    infer: hyper::Uri,
    tls: Option<Arc<rustls::ClientConfig>>,
    signature: Signature,
    timeout: Duration,
    breaker: Breaker,
    /// Connections kept open to the upstream between calls.
    pool: client::Pool,
}

/// What `GET <url>` answers (the Open Inference Protocol's model metadata).
#[derive(Deserialize)]
struct Metadata {
    #[serde(default)]
    versions: Vec<String>,
    inputs: Vec<TensorMetadata>,
    outputs: Vec<TensorMetadata>,
}

#[derive(Deserialize)]
struct TensorMetadata {
    name: String,
    datatype: String,
    shape: Vec<i64>,
}

impl TensorMetadata {
    fn spec(&self) -> Result<TensorSpec, String> {
        let datatype = crate::protocol::datatype(&self.datatype).ok_or_else(|| {
            format!(
                "`{}` has the datatype `{}`, which the gateway does not serve",
                self.name, self.datatype
            )
        })?;
        let shape = self
            .shape
            .iter()
            .map(|d| match *d {
                -1 => Ok(None),
                d => usize::try_from(d)
                    .map(Some)
                    .map_err(|_| format!("`{}` has the dimension {d}", self.name)),
            })
            .collect::<Result<_, _>>()?;
        Ok(TensorSpec {
            name: self.name.clone(),
            datatype,
            shape,
        })
    }
}

/// The upstream model of `config`, its signature read from the upstream's metadata: the
/// runtime, the version it reports, and the SHA-256 of the metadata.
pub fn connect(
    model: &str,
    config: &UpstreamConfig,
    base: &Path,
    timeout: Duration,
) -> Result<(Upstream, String, aigis_core::Digest), String> {
    let url: hyper::Uri = config
        .url
        .trim_end_matches('/')
        .parse()
        .map_err(|e| format!("`{}` is not a URL: {e}", config.url))?;
    let infer: hyper::Uri = format!("{}/infer", config.url.trim_end_matches('/'))
        .parse()
        .map_err(|e| format!("`{}` is not a URL: {e}", config.url))?;
    let tls = if url.scheme_str() == Some("https") {
        let at = |p: &PathBuf| base.join(p);
        let ca = config.ca.as_ref().map(at);
        let identity = config
            .cert
            .as_ref()
            .map(at)
            .zip(config.key.as_ref().map(at));
        Some(client::tls(
            ca.as_deref(),
            identity.as_ref().map(|(c, k)| (c.as_path(), k.as_path())),
        )?)
    } else {
        None
    };
    let answer = client::block_on(tokio::time::timeout(
        timeout.max(Duration::from_secs(5)),
        client::request(hyper::Method::GET, &url, None, tls.as_ref(), 1 << 20, None),
    ))?
    .map_err(|_| "the upstream did not answer its metadata in time".to_owned())?
    .map_err(|e| format!("the upstream's metadata: {e}"))?;
    if answer.status != hyper::StatusCode::OK {
        return Err(format!(
            "the upstream answered its metadata with {}",
            answer.status
        ));
    }
    let metadata: Metadata = serde_json::from_slice(&answer.body)
        .map_err(|e| format!("the upstream's metadata is not the protocol's: {e}"))?;
    let specs = |list: &[TensorMetadata]| {
        list.iter()
            .map(TensorMetadata::spec)
            .collect::<Result<Vec<_>, _>>()
    };
    let signature = Signature {
        inputs: specs(&metadata.inputs)?,
        outputs: specs(&metadata.outputs)?,
    };
    if signature.inputs.is_empty() || signature.outputs.is_empty() {
        return Err("the upstream's metadata lists no inputs or no outputs".into());
    }
    let version = metadata
        .versions
        .first()
        .filter(|v| crate::config::is_name(v))
        .cloned()
        .unwrap_or_else(|| "upstream".into());
    Ok((
        Upstream {
            name: model.to_owned(),
            infer,
            tls,
            signature,
            timeout,
            breaker: Breaker {
                threshold: config.failures,
                open: Duration::from_secs(config.open_s),
                failures: AtomicU32::new(0),
                open_until: std::sync::Mutex::new(None),
            },
            pool: client::Pool::default(),
        },
        version,
        aigis_core::Digest::of(&answer.body),
    ))
}

/// The JSON body of an inference request.
fn body(inputs: &[NamedTensor]) -> Vec<u8> {
    let inputs: Vec<serde_json::Value> = inputs
        .iter()
        .map(|t| {
            let out = crate::protocol::output(t.clone());
            serde_json::json!({
                "name": out.name,
                "datatype": out.datatype,
                "shape": out.shape,
                "data": out.data,
            })
        })
        .collect();
    serde_json::json!({ "inputs": inputs })
        .to_string()
        .into_bytes()
}

#[derive(Deserialize)]
struct InferAnswer {
    outputs: Vec<crate::protocol::RequestInput>,
}

impl Upstream {
    async fn call(&self, inputs: &[NamedTensor]) -> Result<Vec<NamedTensor>, RunError> {
        let answer = tokio::time::timeout(
            self.timeout,
            client::request(
                hyper::Method::POST,
                &self.infer,
                Some(body(inputs)),
                self.tls.as_ref(),
                MAX_ANSWER,
                Some(&self.pool),
            ),
        )
        .await
        .map_err(|_| RunError::Unavailable("no answer in time".into()))?
        .map_err(|e| match e {
            client::Failure::Connect(m) => RunError::Unavailable(m),
            client::Failure::Answer(m) => RunError::Upstream(m),
        })?;
        if !answer.status.is_success() {
            let text = String::from_utf8_lossy(&answer.body);
            let text: String = text.chars().take(300).collect();
            return Err(RunError::Upstream(format!(
                "answered {}: {text}",
                answer.status
            )));
        }
        let parsed: InferAnswer = serde_json::from_slice(&answer.body)
            .map_err(|e| RunError::Upstream(format!("not an inference answer: {e}")))?;
        let mut outputs = Vec::with_capacity(self.signature.outputs.len());
        for spec in &self.signature.outputs {
            let (i, out) = parsed
                .outputs
                .iter()
                .enumerate()
                .find(|(_, o)| o.name == spec.name)
                .ok_or_else(|| {
                    RunError::Upstream(format!("the answer has no output `{}`", spec.name))
                })?;
            let tensor = crate::protocol::input_tensor(out, i, None).map_err(|e| {
                RunError::Upstream(format!("output `{}`: {}", spec.name, e.message))
            })?;
            if tensor.tensor.datatype() != spec.datatype || !spec.accepts(tensor.tensor.shape()) {
                return Err(RunError::Upstream(format!(
                    "output `{}` is not what the model's metadata says",
                    spec.name
                )));
            }
            outputs.push(tensor);
        }
        Ok(outputs)
    }
}

impl Runtime for Upstream {
    fn signature(&self) -> &Signature {
        &self.signature
    }

    /// Called on a blocking thread of the gateway's runtime.
    fn run(&self, inputs: Vec<NamedTensor>) -> Result<Vec<NamedTensor>, RunError> {
        if !self.breaker.allows() {
            return Err(RunError::Unavailable("the circuit is open".into()));
        }
        let result = match tokio::runtime::Handle::try_current() {
            Ok(handle) => handle.block_on(self.call(&inputs)),
            Err(_) => client::block_on(self.call(&inputs))
                .map_err(RunError::Unavailable)
                .and_then(|r| r),
        };
        match &result {
            Ok(_) => self.breaker.succeeded(),
            // A refused input is the caller's, not the upstream's failure.
            Err(RunError::Input(_) | RunError::Shape(_)) => {}
            Err(e) => {
                tracing::warn!(model = %self.name, error = %e, "the upstream failed");
                self.breaker.failed();
            }
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_circuit_opens_after_its_failures_and_tries_again_after_its_time() {
        let b = Breaker {
            threshold: 3,
            open: Duration::from_millis(60),
            failures: AtomicU32::new(0),
            open_until: std::sync::Mutex::new(None),
        };
        b.failed();
        b.failed();
        assert!(b.allows(), "below the threshold");
        b.succeeded();
        b.failed();
        b.failed();
        assert!(b.allows(), "a success starts the count again");
        b.failed();
        assert!(!b.allows(), "open");
        std::thread::sleep(Duration::from_millis(80));
        assert!(b.allows(), "half open: one call may try");
        b.failed();
        assert!(!b.allows(), "the trial failed: open again at once");
        std::thread::sleep(Duration::from_millis(80));
        b.succeeded();
        assert!(b.allows());
    }
}
