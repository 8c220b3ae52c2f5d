//! What the gateway's integration tests share: models from `tests/data/runtime` served
//! unsigned or signed, and fresh API keys.
#![allow(dead_code, reason = "each test file uses a part")]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use aigis_gateway::config::{ApiKeyConfig, ModelConfig};

/// A fixture model of `tests/data/runtime`.
pub fn runtime_model(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/data/runtime")
        .join(file)
}

/// `file` of `tests/data/runtime`, served as `name` without a signature check.
pub fn model(name: &str, file: &str) -> ModelConfig {
    ModelConfig {
        path: runtime_model(file),
        verify: false,
        ..ModelConfig::named(name)
    }
}

/// A fresh API key for each of `names`: the keys by name, and the configuration entries.
pub fn keys(names: &[&str]) -> (BTreeMap<String, String>, Vec<ApiKeyConfig>) {
    let mut keys = BTreeMap::new();
    let mut entries = Vec::new();
    for name in names {
        let (key, hash) = aigis_gateway::auth::generate().unwrap();
        keys.insert((*name).to_owned(), key.expose().to_owned());
        entries.push(ApiKeyConfig {
            name: (*name).into(),
            sha256: hash,
        });
    }
    (keys, entries)
}

/// Signs a copy of the fixture `file` (made in `dir`) with `key`, its signature beside it
/// (`<file>.sig`); returns the copy's path.
pub fn signed_copy(dir: &Path, file: &str, key: &aigis_model::signing::SignerKey) -> PathBuf {
    use aigis_model::signing::{self, SignOptions};
    let path = dir.join(file);
    std::fs::copy(runtime_model(file), &path).unwrap();
    let signed = signing::sign_model(&path, key, &SignOptions::default(), &|_| {}).unwrap();
    let mut sig = path.clone().into_os_string();
    sig.push(".sig");
    std::fs::write(sig, signed.bundle.to_json()).unwrap();
    path
}

/// A test CA (rcgen).
pub struct Ca {
    pub cert: rcgen::Certificate,
    pub issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
}

/// A self-signed CA named `name`.
pub fn ca(name: &str) -> Ca {
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, name);
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    Ca {
        cert,
        issuer: rcgen::Issuer::new(params, key),
    }
}

/// A leaf for `sans`, with `cn` as its subject's common name, signed by `ca`.
pub fn leaf(ca: &Ca, cn: &str, sans: &[&str]) -> (rcgen::Certificate, rcgen::KeyPair) {
    let mut params =
        rcgen::CertificateParams::new(sans.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>())
            .unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, cn);
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, &ca.issuer).unwrap();
    (cert, key)
}

/// One request to `app` in process: `body` as JSON (none when null), with `key` as the
/// bearer when not empty; the status and the JSON answer (null when it is not JSON).
pub async fn call(
    app: &axum::Router,
    method: &str,
    path: &str,
    key: &str,
    body: serde_json::Value,
) -> (axum::http::StatusCode, serde_json::Value) {
    use tower::ServiceExt as _;
    let mut request = axum::http::Request::builder().method(method).uri(path);
    if !key.is_empty() {
        request = request.header("Authorization", format!("Bearer {key}"));
    }
    let body = if body.is_null() {
        axum::body::Body::empty()
    } else {
        axum::body::Body::from(body.to_string())
    };
    let response = app
        .clone()
        .oneshot(request.body(body).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
    )
}

/// An audit that keeps the calls and changes it is given, in memory; it fails the
/// changes and the monitor windows when told to.
#[derive(Debug, Default)]
pub struct Recorder {
    pub calls: std::sync::Mutex<Vec<aigis_evidence::GatewayCall>>,
    pub changes: std::sync::Mutex<Vec<aigis_evidence::GatewayAdmin>>,
    pub alerts: std::sync::Mutex<Vec<(aigis_evidence::GatewayAlert, Vec<String>)>>,
    pub periods: std::sync::Mutex<Vec<(aigis_evidence::ShadowPeriod, Vec<String>)>>,
    pub windows: std::sync::Mutex<Vec<(aigis_evidence::MonitorWindow, Vec<String>)>>,
    pub fail: std::sync::Mutex<bool>,
}

impl aigis_gateway::audit::Audit for Recorder {
    fn record(
        &self,
        call: &aigis_evidence::GatewayCall,
        _: Vec<(String, aigis_core::Digest)>,
    ) -> Result<u64, String> {
        self.calls.lock().unwrap().push(call.clone());
        Ok(0)
    }

    fn evidence(&self, statement: &aigis_core::Statement) -> Result<u64, String> {
        use aigis_evidence::Predicate as _;
        if let Ok(change) = aigis_evidence::GatewayAdmin::from_statement(statement) {
            if *self.fail.lock().unwrap() {
                return Err("the disk is full".into());
            }
            let mut changes = self.changes.lock().unwrap();
            changes.push(change);
            return Ok(changes.len() as u64);
        }
        let subjects: Vec<String> = statement
            .subject
            .iter()
            .filter_map(|s| s.name.clone())
            .collect();
        if let Ok(alert) = aigis_evidence::GatewayAlert::from_statement(statement) {
            let mut alerts = self.alerts.lock().unwrap();
            alerts.push((alert, subjects));
            return Ok(alerts.len() as u64);
        }
        if let Ok(period) = aigis_evidence::ShadowPeriod::from_statement(statement) {
            let mut periods = self.periods.lock().unwrap();
            periods.push((period, subjects));
            return Ok(periods.len() as u64);
        }
        if let Ok(window) = aigis_evidence::MonitorWindow::from_statement(statement) {
            if *self.fail.lock().unwrap() {
                return Err("the disk is full".into());
            }
            let mut windows = self.windows.lock().unwrap();
            windows.push((window, subjects));
            return Ok(windows.len() as u64);
        }
        Err(format!("unexpected evidence {}", statement.predicate_type))
    }
}

/// A gateway served on a free loopback port, on a tokio runtime of its own. Dropping it
/// stops the server and waits for it to return, which must be `Ok`.
pub struct Running {
    pub addr: std::net::SocketAddr,
    pub runtime: tokio::runtime::Runtime,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<Result<(), aigis_gateway::Error>>>,
}

impl Running {
    /// Serves `gateway`, over TLS when `tls` is given.
    pub fn start(
        gateway: std::sync::Arc<aigis_gateway::Gateway>,
        tls: Option<std::sync::Arc<rustls::ServerConfig>>,
    ) -> Self {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = runtime.spawn(aigis_gateway::serve(gateway, listener, tls, async move {
            let _ = stopped.await;
        }));
        Running {
            addr,
            runtime,
            stop: Some(stop),
            task: Some(task),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            self.runtime.block_on(task).unwrap().unwrap();
        }
    }
}

/// The digits fixture's 40 rows, each with 19 copies whose non-zero pixels moved by -1,
/// 0 or 1: 800 rows of the kind the model was trained on, to fit detectors on.
pub fn digits_reference() -> aigis_monitor::detect::Matrix {
    use aigis_monitor::detect::Matrix;
    use serde_json::Value;
    let fixture: Value =
        serde_json::from_slice(&std::fs::read(runtime_model("digits_mlp.json")).unwrap()).unwrap();
    let data: Vec<f64> = serde_json::from_value(fixture["inputs"]["X"]["data"].clone()).unwrap();
    let mut rng = fastrand::Rng::with_seed(3);
    let mut out = Vec::new();
    for row in data.chunks(64) {
        out.extend_from_slice(row);
        for _ in 0..19 {
            out.extend(row.iter().map(|&v| {
                if v == 0.0 {
                    0.0
                } else {
                    (v + f64::from(rng.i32(-1..=1))).clamp(0.0, 16.0)
                }
            }));
        }
    }
    Matrix::new(800, 64, out, Matrix::positional_names(64)).unwrap()
}

/// The breast-cancer rows exported with the fixture models (30 features each): the 40
/// complete ones (its last rows hold missing values).
pub fn cancer_rows() -> Vec<Vec<f32>> {
    let fixture: serde_json::Value =
        serde_json::from_slice(&std::fs::read(runtime_model("cancer_gbc.json")).unwrap()).unwrap();
    let data: Vec<Option<f32>> =
        serde_json::from_value(fixture["inputs"]["X"]["data"].clone()).unwrap();
    data.chunks(30)
        .filter_map(|row| row.iter().copied().collect::<Option<Vec<f32>>>())
        .collect()
}

/// The data stage's profile of `rows` (columns `f0`, `f1`, …, and a `target` column of
/// alternating 0 and 1 when `target`), as `train.profile.json` in `dir`.
pub fn write_profile(dir: &Path, rows: &[Vec<f32>], target: bool) {
    let width = rows.first().map_or(0, Vec::len);
    let mut csv = (0..width)
        .map(|i| format!("f{i}"))
        .collect::<Vec<_>>()
        .join(",");
    csv += if target { ",target\n" } else { "\n" };
    for (i, row) in rows.iter().enumerate() {
        let cells: Vec<String> = row.iter().map(ToString::to_string).collect();
        csv += &cells.join(",");
        csv += &if target {
            format!(",{}\n", i % 2)
        } else {
            "\n".to_owned()
        };
    }
    std::fs::write(dir.join("train.csv"), csv).unwrap();
    let profile = aigis_data::scan::profile(
        &dir.join("train.csv"),
        None,
        &aigis_data::table::ReadOptions::default(),
        Some(1),
        &|_| {},
    )
    .unwrap();
    std::fs::write(
        dir.join("train.profile.json"),
        serde_json::to_vec(&profile).unwrap(),
    )
    .unwrap();
}

/// Sends `rows` to `model` as binary tensor data (the only way a NaN crosses the
/// protocol), as `X` of shape `[rows, width]`; the status and the JSON answer.
pub async fn infer_binary(
    app: &axum::Router,
    key: &str,
    model: &str,
    rows: &[Vec<f32>],
) -> (axum::http::StatusCode, serde_json::Value) {
    use tower::ServiceExt as _;
    let width = rows.first().map_or(0, Vec::len);
    let data: Vec<u8> = rows
        .iter()
        .flatten()
        .flat_map(|x| x.to_le_bytes())
        .collect();
    let header = serde_json::json!({"inputs": [{"name": "X", "shape": [rows.len(), width], "datatype": "FP32", "parameters": {"binary_data_size": data.len()}}]}).to_string();
    let mut body = header.clone().into_bytes();
    body.extend_from_slice(&data);
    let response = app
        .clone()
        .oneshot(
            axum::http::Request::post(format!("/v2/models/{model}/infer"))
                .header("Authorization", format!("Bearer {key}"))
                .header("Inference-Header-Content-Length", header.len())
                .body(axum::body::Body::from(body))
                .unwrap(),
        )
        .await
        .unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
    )
}

/// The profile `train.profile.json` of the model's folder, checked with a wide tolerance
/// and flagging only: traffic moved on purpose is answered, for the monitors to see.
pub fn wide_profile() -> aigis_gateway::inspect::ProfileConfig {
    aigis_gateway::inspect::ProfileConfig {
        file: "train.profile.json".into(),
        label: None,
        features: None,
        input: None,
        tolerance: 10.0,
        action: aigis_gateway::inspect::Action::Flag,
    }
}
