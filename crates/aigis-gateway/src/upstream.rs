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
//!
//! A server that speaks KServe's v1 protocol (TensorFlow Serving's JSON: `instances` in,
//! `predictions` out) instead: `protocol = "v1"`, the URL of the model
//! (`…/v1/models/<name>`), and the model's one input and one output, which v1's metadata
//! does not give:
//!
//! ```toml
//! [serve.models.upstream]
//! url = "http://127.0.0.1:8080/v1/models/fraud"
//! protocol = "v1"
//! version = "3"                      # the version recorded (default "upstream")
//! inputs = [{ name = "X", datatype = "FP32", shape = [-1, 30] }]
//! outputs = [{ name = "label", datatype = "INT64", shape = [-1] }]
//! ```
//!
//! Requests still come in as the Open Inference Protocol and are validated against the
//! given input; each row of the input goes to the upstream as one instance
//! (`POST <url>:predict`), and the answer must hold one prediction per row that fits the
//! given output (a number per row for a 1-D output, a list of `k` numbers for `[-1, k]`),
//! or it is a 502. At start, `GET <url>` must answer 200 and, when it says, `"ready": true`;
//! the SHA-256 of that answer and of the given signature stands for the model in the
//! audit records.
//!
//! Connections to the upstream are kept open between calls (up to 64 idle, each for at
//! most 4 s), so a call pays for no TCP or TLS handshake; one the upstream closed is
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
    /// The upstream's protocol.
    #[serde(default)]
    pub protocol: Protocol,
    /// With `v1`: the model's one input (v1's metadata has no tensors).
    #[serde(default)]
    pub inputs: Vec<TensorMetadata>,
    /// With `v1`: the model's one output.
    #[serde(default)]
    pub outputs: Vec<TensorMetadata>,
    /// With `v1`: the version recorded for the model.
    #[serde(default)]
    pub version: Option<String>,
}

/// How the gateway talks to an upstream.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// The Open Inference Protocol (KServe v2, Triton): tensors, and metadata that gives
    /// the model's signature.
    #[default]
    V2,
    /// KServe v1 / TensorFlow Serving JSON: `instances` in, `predictions` out.
    V1,
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
    pub fn check(&self) -> Result<(), (String, String)> {
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
        match self.protocol {
            Protocol::V2 => {
                for (key, given) in [
                    ("inputs", !self.inputs.is_empty()),
                    ("outputs", !self.outputs.is_empty()),
                    ("version", self.version.is_some()),
                ] {
                    if given {
                        return Err((
                            key.into(),
                            "comes from the upstream's metadata with the v2 protocol; it is given only with `protocol = \"v1\"`".into(),
                        ));
                    }
                }
            }
            Protocol::V1 => {
                for (key, list) in [("inputs", &self.inputs), ("outputs", &self.outputs)] {
                    let [one] = list.as_slice() else {
                        return Err((
                            key.into(),
                            "the v1 protocol needs exactly one (`[{ name = …, datatype = …, shape = [-1, …] }]`)".into(),
                        ));
                    };
                    let spec = one.spec().map_err(|m| (key.to_owned(), m))?;
                    if !(1..=2).contains(&spec.shape.len()) || spec.shape.first() != Some(&None) {
                        return Err((
                            key.into(),
                            format!(
                                "`{}`: the v1 protocol sends rows: the shape must be `[-1]` or `[-1, n]`",
                                one.name
                            ),
                        ));
                    }
                }
                if let Some(v) = &self.version
                    && !crate::config::is_name(v)
                {
                    return Err((
                        "version".into(),
                        format!("`{v}` is not a version name (letters, digits, `._-`)"),
                    ));
                }
            }
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
    protocol: Protocol,
    /// Sent as `Authorization: Bearer …` with every request, when given.
    bearer: Option<Bearer>,
    /// The runtime calls made outside any (a command line's) run on, made at the first:
    /// one that lives as long as the model, so the connections kept open between calls
    /// (tasks on it) live too. A runtime made per call would end them with the call.
    own: std::sync::OnceLock<tokio::runtime::Runtime>,
}

/// A bearer credential: kept zeroized, never printed.
pub struct Bearer(zeroize::Zeroizing<String>);

impl Bearer {
    /// The credential `token` (what follows `Bearer `).
    pub fn new(token: String) -> Self {
        Self(zeroize::Zeroizing::new(format!("Bearer {token}")))
    }
}

impl std::fmt::Debug for Bearer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Bearer(…)")
    }
}

/// What `GET <url>` answers (the Open Inference Protocol's model metadata).
#[derive(Deserialize)]
struct Metadata {
    /// Optional in the protocol; KServe's own server says `null`.
    #[serde(default)]
    versions: Option<Vec<String>>,
    inputs: Vec<TensorMetadata>,
    outputs: Vec<TensorMetadata>,
}

/// A tensor as the protocol's metadata (and a v1 upstream's configuration) describes it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct TensorMetadata {
    pub name: String,
    pub datatype: String,
    /// `-1` for a dimension of any size.
    pub shape: Vec<i64>,
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
    connect_as(model, config, base, timeout, None)
}

/// [`connect`], presenting `bearer` with every request (the metadata's too): a client
/// of a server that authenticates its callers, such as the aigis gateway itself.
pub fn connect_as(
    model: &str,
    config: &UpstreamConfig,
    base: &Path,
    timeout: Duration,
    bearer: Option<Bearer>,
) -> Result<(Upstream, String, aigis_core::Digest), String> {
    let url: hyper::Uri = config
        .url
        .trim_end_matches('/')
        .parse()
        .map_err(|e| format!("`{}` is not a URL: {e}", config.url))?;
    let infer: hyper::Uri = match config.protocol {
        Protocol::V2 => format!("{}/infer", config.url.trim_end_matches('/')),
        Protocol::V1 => format!("{}:predict", config.url.trim_end_matches('/')),
    }
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
    // The timer is made inside the future: `block_on`'s runtime is the only one there may
    // be (`aigis serve` loads its models before its own runtime starts).
    let answer = client::block_on(async {
        tokio::time::timeout(
            timeout.max(Duration::from_secs(5)),
            client::request(
                hyper::Method::GET,
                &url,
                None,
                tls.as_ref(),
                1 << 20,
                None,
                &authorization(bearer.as_ref()),
            ),
        )
        .await
    })?
    .map_err(|_| "the upstream did not answer its metadata in time".to_owned())?
    .map_err(|e| format!("the upstream's metadata: {e}"))?;
    if answer.status != hyper::StatusCode::OK {
        return Err(format!(
            "the upstream answered its metadata with {}",
            answer.status
        ));
    }
    let (signature, version, digest) = match config.protocol {
        Protocol::V2 => v2_signature(&answer.body)?,
        Protocol::V1 => v1_signature(config, &answer.body)?,
    };
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
            protocol: config.protocol,
            bearer,
            own: std::sync::OnceLock::new(),
        },
        version,
        digest,
    ))
}

/// The `Authorization` header of `bearer`, when there is one.
fn authorization(bearer: Option<&Bearer>) -> Vec<(&'static str, &str)> {
    bearer
        .map(|b| ("authorization", b.0.as_str()))
        .into_iter()
        .collect()
}

fn specs(list: &[TensorMetadata]) -> Result<Vec<TensorSpec>, String> {
    list.iter().map(TensorMetadata::spec).collect()
}

/// The signature, version and digest of a v2 upstream's model, from its metadata.
fn v2_signature(body: &[u8]) -> Result<(Signature, String, aigis_core::Digest), String> {
    let metadata: Metadata = serde_json::from_slice(body)
        .map_err(|e| format!("the upstream's metadata is not the protocol's: {e}"))?;
    let signature = Signature {
        inputs: specs(&metadata.inputs)?,
        outputs: specs(&metadata.outputs)?,
    };
    if signature.inputs.is_empty() || signature.outputs.is_empty() {
        return Err("the upstream's metadata lists no inputs or no outputs".into());
    }
    let version = metadata
        .versions
        .unwrap_or_default()
        .first()
        .filter(|v| crate::config::is_name(v))
        .cloned()
        .unwrap_or_else(|| "upstream".into());
    Ok((signature, version, aigis_core::Digest::of(body)))
}

/// The signature, version and digest of a v1 upstream's model: given in the
/// configuration; the upstream's status answer must not say it is not ready.
fn v1_signature(
    config: &UpstreamConfig,
    body: &[u8],
) -> Result<(Signature, String, aigis_core::Digest), String> {
    let status: serde_json::Value = serde_json::from_slice(body)
        .map_err(|e| format!("the upstream's model status is not JSON: {e}"))?;
    if status.get("ready") == Some(&serde_json::Value::Bool(false)) {
        return Err("the upstream says the model is not ready".into());
    }
    let signature = Signature {
        inputs: specs(&config.inputs)?,
        outputs: specs(&config.outputs)?,
    };
    let mut described = body.to_vec();
    for t in config.inputs.iter().chain(&config.outputs) {
        described
            .extend_from_slice(format!("\n{} {} {:?}", t.name, t.datatype, t.shape).as_bytes());
    }
    let version = config.version.clone().unwrap_or_else(|| "upstream".into());
    Ok((signature, version, aigis_core::Digest::of(&described)))
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

/// The v1 body: each row of the one input, one instance.
fn v1_body(inputs: &[NamedTensor]) -> Result<Vec<u8>, RunError> {
    let [input] = inputs else {
        return Err(RunError::Input("the v1 upstream takes one input".into()));
    };
    let out = crate::protocol::output(input.clone());
    let serde_json::Value::Array(data) = out.data else {
        return Err(RunError::Input(format!(
            "`{}` cannot be sent as v1 instances",
            out.name
        )));
    };
    let instances: Vec<serde_json::Value> = match out.shape.as_slice() {
        [_] => data,
        [rows, 0] => vec![serde_json::json!([]); *rows],
        [_, width] => data
            .chunks(*width)
            .map(|row| serde_json::Value::Array(row.to_vec()))
            .collect(),
        _ => {
            return Err(RunError::Input(format!(
                "`{}` has {} dimensions; v1 instances are rows",
                out.name,
                out.shape.len()
            )));
        }
    };
    Ok(serde_json::json!({ "instances": instances })
        .to_string()
        .into_bytes())
}

#[derive(Deserialize)]
struct PredictAnswer {
    predictions: Vec<serde_json::Value>,
}

impl Upstream {
    async fn call(&self, inputs: &[NamedTensor]) -> Result<Vec<NamedTensor>, RunError> {
        let request = match self.protocol {
            Protocol::V2 => body(inputs),
            Protocol::V1 => v1_body(inputs)?,
        };
        let answer = tokio::time::timeout(
            self.timeout,
            client::request(
                hyper::Method::POST,
                &self.infer,
                Some(request),
                self.tls.as_ref(),
                MAX_ANSWER,
                Some(&self.pool),
                &authorization(self.bearer.as_ref()),
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
        let parsed: InferAnswer = match self.protocol {
            Protocol::V2 => serde_json::from_slice(&answer.body)
                .map_err(|e| RunError::Upstream(format!("not an inference answer: {e}")))?,
            Protocol::V1 => self.v1_outputs(&answer.body, inputs)?,
        };
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
            let tensor = crate::protocol::input_tensor(out, i, None)
                .map_err(|e| RunError::Upstream(format!("output `{}`: {e}", spec.name)))?;
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

impl Upstream {
    /// A v1 answer as the one output of the signature: one prediction per row of the
    /// input, each a number (or string, or boolean) for a 1-D output, or a list of `k`
    /// of them for `[-1, k]`.
    fn v1_outputs(&self, body: &[u8], inputs: &[NamedTensor]) -> Result<InferAnswer, RunError> {
        let bad = |m: String| RunError::Upstream(m);
        let parsed: PredictAnswer = serde_json::from_slice(body)
            .map_err(|e| bad(format!("not a v1 predict answer: {e}")))?;
        let rows = inputs
            .first()
            .and_then(|t| t.tensor.shape().first().copied())
            .unwrap_or(0);
        if parsed.predictions.len() != rows {
            return Err(bad(format!(
                "{} predictions for {rows} rows",
                parsed.predictions.len()
            )));
        }
        let spec = self
            .signature
            .outputs
            .first()
            .ok_or_else(|| bad("no output is configured".into()))?;
        let is_scalar = |v: &serde_json::Value| !(v.is_array() || v.is_object() || v.is_null());
        let (shape, data): (Vec<u64>, Vec<serde_json::Value>) = if spec.shape.len() == 1 {
            if !parsed.predictions.iter().all(is_scalar) {
                return Err(bad("a prediction is not a single value".into()));
            }
            (vec![rows as u64], parsed.predictions)
        } else {
            let mut width = None;
            let mut flat = Vec::new();
            for p in parsed.predictions {
                let serde_json::Value::Array(values) = p else {
                    return Err(bad("a prediction is not a list".into()));
                };
                if *width.get_or_insert(values.len()) != values.len()
                    || !values.iter().all(is_scalar)
                {
                    return Err(bad("the predictions are not rows of one width".into()));
                }
                flat.extend(values);
            }
            (vec![rows as u64, width.unwrap_or(0) as u64], flat)
        };
        Ok(InferAnswer {
            outputs: vec![crate::protocol::RequestInput {
                name: spec.name.clone(),
                shape,
                datatype: spec.datatype.as_str().to_owned(),
                parameters: None,
                data: serde_json::Value::Array(data),
            }],
        })
    }
}

impl Upstream {
    /// The runtime of calls made outside any, made at the first.
    fn own_runtime(&self) -> Result<&tokio::runtime::Runtime, String> {
        if let Some(rt) = self.own.get() {
            return Ok(rt);
        }
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("aigis-upstream")
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start the client's runtime: {e}"))?;
        // Another thread may have made one first: either is as good.
        Ok(self.own.get_or_init(|| rt))
    }
}

impl Drop for Upstream {
    /// Its own runtime, when it made one, is shut down without waiting: a runtime dropped
    /// the usual way inside another one's task would panic.
    fn drop(&mut self) {
        if let Some(rt) = self.own.take() {
            rt.shutdown_background();
        }
    }
}

impl Runtime for Upstream {
    fn signature(&self) -> &Signature {
        &self.signature
    }

    /// Never run inline: `run` blocks on the network.
    fn remote(&self) -> bool {
        true
    }

    /// Called on a blocking thread of the gateway's runtime.
    fn run(&self, inputs: Vec<NamedTensor>) -> Result<Vec<NamedTensor>, RunError> {
        if !self.breaker.allows() {
            return Err(RunError::Unavailable("the circuit is open".into()));
        }
        let result = match tokio::runtime::Handle::try_current() {
            Ok(handle) => handle.block_on(self.call(&inputs)),
            Err(_) => match self.own_runtime() {
                Ok(rt) => rt.block_on(self.call(&inputs)),
                Err(e) => Err(RunError::Unavailable(e)),
            },
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

    /// `versions` is optional in the protocol: absent, `null` (as KServe's own server says
    /// it) or empty, the version is "upstream"; the first name-like one is taken.
    #[test]
    fn the_metadata_may_say_no_version() {
        let with = |versions: &str| {
            let body = format!(
                r#"{{"name": "m", {versions} "platform": "x",
                "inputs": [{{"name": "X", "datatype": "FP32", "shape": [-1, 2], "parameters": null}}],
                "outputs": [{{"name": "Y", "datatype": "INT64", "shape": [-1]}}]}}"#
            );
            v2_signature(body.as_bytes()).map(|(_, version, _)| version)
        };
        for none in ["", r#""versions": null,"#, r#""versions": [],"#] {
            assert_eq!(with(none).unwrap(), "upstream", "{none}");
        }
        assert_eq!(with(r#""versions": ["7", "6"],"#).unwrap(), "7");
        assert_eq!(with(r#""versions": ["../x"],"#).unwrap(), "upstream");
        assert!(with(r#""versions": "7","#).is_err());
    }
}
