//! Upstream mode against real servers over real sockets: another aigis gateway serving the
//! model over TLS that requires a client certificate (mutual TLS from the front gateway),
//! with predictions equal to the model's run in process; requests validated at the front
//! against the upstream's signature; an upstream that stops gives 503 and opens the
//! circuit; one that answers outside the protocol gives 502 and none of its words.

use crate::common;

use std::path::Path;
use std::sync::Arc;

use aigis_gateway::config::ModelConfig;
use aigis_gateway::tls::{ClientAuth, TlsConfig};
use aigis_gateway::upstream::UpstreamConfig;
use aigis_gateway::{Gateway, ServeConfig};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{Value, json};
use tower::ServiceExt as _;

/// A running server: its address, and what stops it.
struct Running {
    addr: std::net::SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Result<(), aigis_gateway::Error>>,
}

impl Running {
    async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = self.task.await;
    }
}

async fn run(app: axum::Router, tls: Option<Arc<rustls::ServerConfig>>) -> Running {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(aigis_gateway::serve_router(
        app,
        listener,
        tls,
        async move {
            let _ = stopped.await;
        },
    ));
    Running {
        addr,
        stop: Some(stop),
        task,
    }
}

/// The model in the upstream gateway, over TLS that requires a client certificate from
/// `client_ca` (its principal: the certificate's common name).
fn upstream_gateway(
    dir: &Path,
    server_ca: &common::Ca,
    client_ca: &common::Ca,
) -> (Arc<Gateway>, Arc<rustls::ServerConfig>) {
    let (cert, key) = common::leaf(server_ca, "upstream", &["localhost", "127.0.0.1"]);
    std::fs::write(dir.join("up.pem"), cert.pem() + &server_ca.cert.pem()).unwrap();
    std::fs::write(dir.join("up.key"), key.serialize_pem()).unwrap();
    std::fs::write(dir.join("clients.pem"), client_ca.cert.pem()).unwrap();
    let mut config =
        ServeConfig::loopback(vec![common::model("cancer", "cancer_gbc.onnx")], Vec::new());
    config.plain = false;
    config.tls = Some(TlsConfig {
        cert: "up.pem".into(),
        key: "up.key".into(),
        client_ca: Some("clients.pem".into()),
        client_auth: Some(ClientAuth::Required),
    });
    let tls =
        aigis_gateway::tls::server_config(config.tls.as_ref().unwrap(), dir, Path::new("up.toml"))
            .unwrap();
    (Arc::new(Gateway::new(&config, dir, &[]).unwrap()), tls)
}

fn front(
    url: &str,
    extra: impl FnOnce(&mut UpstreamConfig),
) -> Result<(Gateway, String), aigis_gateway::Error> {
    let (keys, entries) = common::keys(&["ci"]);
    let mut upstream = UpstreamConfig {
        url: url.into(),
        ca: None,
        cert: None,
        key: None,
        failures: 2,
        open_s: 60,
        protocol: Default::default(),
        inputs: Vec::new(),
        outputs: Vec::new(),
        version: None,
    };
    extra(&mut upstream);
    let model = ModelConfig {
        name: "cancer".into(),
        path: Default::default(),
        signature: None,
        verify: false,
        registry: None,
        file: None,
        identity: None,
        profile: None,
        detector: None,
        extraction: None,
        drift: None,
        feedback: None,
        shadow: None,
        upstream: Some(upstream),
    };
    let mut config = ServeConfig::loopback(vec![model], entries);
    config.timeout_ms = 3000;
    Ok((
        Gateway::new(&config, Path::new("/"), &[])?,
        keys["ci"].clone(),
    ))
}

async fn infer(app: &axum::Router, key: &str, rows: usize) -> (StatusCode, Value) {
    let body = json!({"inputs": [{"name": "X", "shape": [rows, 30], "datatype": "FP32", "data": (0..rows * 30).map(|i| (i % 17) as f32 * 1.5).collect::<Vec<_>>()}]});
    common::call(app, "POST", "/v2/models/cancer/infer", key, body).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_model_on_another_gateway_over_mutual_tls_answers_as_in_process() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let server_ca = common::ca("upstream server CA");
    let client_ca = common::ca("upstream client CA");
    let (up, tls) = upstream_gateway(d, &server_ca, &client_ca);
    let server = run(up.router(), Some(tls)).await;
    let url = format!("https://localhost:{}/v2/models/cancer", server.addr.port());
    std::fs::write(d.join("ca.pem"), server_ca.cert.pem()).unwrap();
    let (cert, key) = common::leaf(&client_ca, "front-gateway", &[]);
    std::fs::write(d.join("me.pem"), cert.pem()).unwrap();
    std::fs::write(d.join("me.key"), key.serialize_pem()).unwrap();
    let with_identity = |u: &mut UpstreamConfig| {
        u.ca = Some(d.join("ca.pem"));
        u.cert = Some(d.join("me.pem"));
        u.key = Some(d.join("me.key"));
    };

    // Without the client certificate the upstream refuses the handshake: no start.
    let refused =
        tokio::task::block_in_place(|| front(&url, |u| u.ca = Some(d.join("ca.pem"))).map(|_| ()));
    match refused {
        Err(e @ aigis_gateway::Error::Upstream { .. }) => {
            assert!(e.to_string().contains("metadata"), "{e}")
        }
        other => panic!("{other:?}"),
    }

    let (gw, key) = tokio::task::block_in_place(|| front(&url, with_identity)).unwrap();
    let gw = Arc::new(gw);
    assert_eq!(gw.models()[0].signed_by, None);
    let app = gw.clone().router();
    // The same answers as the model run in process.
    let local = Arc::new(
        Gateway::new(
            &ServeConfig::loopback(
                vec![common::model("cancer", "cancer_gbc.onnx")],
                common::keys(&["ci"]).1,
            ),
            Path::new("/"),
            &[],
        )
        .unwrap(),
    );
    let (status, through) = infer(&app, &key, 3).await;
    assert_eq!(status, StatusCode::OK, "{through}");
    let want = local.models()[0]
        .runtime
        .run(vec![aigis_runtime::NamedTensor::new(
            "X",
            aigis_runtime::Tensor::new(
                vec![3, 30],
                aigis_runtime::Data::Fp32((0..90).map(|i| (i % 17) as f32 * 1.5).collect()),
            )
            .unwrap(),
        )])
        .unwrap();
    let want: Vec<Value> = want
        .into_iter()
        .map(|t| serde_json::to_value(aigis_gateway::protocol::output(t)).unwrap())
        .collect();
    // Labels equal; probabilities equal to what a JSON round trip of an f32 keeps.
    let got = through["outputs"].as_array().unwrap();
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(&want) {
        assert_eq!(
            (&g["name"], &g["datatype"], &g["shape"]),
            (&w["name"], &w["datatype"], &w["shape"])
        );
        let (g, w) = (g["data"].as_array().unwrap(), w["data"].as_array().unwrap());
        assert_eq!(g.len(), w.len());
        for (a, b) in g.iter().zip(w) {
            assert!(
                (a.as_f64().unwrap() - b.as_f64().unwrap()).abs() < 1e-6,
                "{a} {b}"
            );
        }
    }
    // Validated at the front against the upstream's signature.
    let body = json!({"inputs": [{"name": "X", "shape": [1, 29], "datatype": "FP32", "data": vec![0.0; 29]}]});
    let response = app
        .clone()
        .oneshot(
            Request::post("/v2/models/cancer/infer")
                .header("Authorization", format!("Bearer {key}"))
                .body(Body::from(body.to_string()))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);

    // The upstream stops: 503, and after two failures the circuit is open (still 503,
    // without trying).
    server.stop().await;
    for _ in 0..3 {
        let (status, v) = infer(&app, &key, 1).await;
        assert_eq!(
            (status, v["code"].as_str()),
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Some("upstream_unavailable")
            )
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_upstream_that_answers_outside_the_protocol_is_a_502_with_none_of_its_words() {
    // A plain-http server on loopback: good metadata, then answers that are not outputs.
    let metadata = json!({"name": "cancer", "versions": ["7"], "platform": "x",
        "inputs": [{"name": "X", "datatype": "FP32", "shape": [-1, 30]}],
        "outputs": [{"name": "label", "datatype": "INT64", "shape": [-1]}]});
    let answers = Arc::new(std::sync::Mutex::new(vec![
        (
            200,
            json!({"outputs": [{"name": "label", "datatype": "FP32", "shape": [1], "data": [1.0]}]}),
        ),
        (500, json!({"error": "secret internal path /srv/models/x"})),
        (200, json!({"outputs": []})),
    ]));
    let app = axum::Router::new()
        .route(
            "/v2/models/cancer",
            axum::routing::get(move || {
                let m = metadata.clone();
                async move { axum::Json(m) }
            }),
        )
        .route(
            "/v2/models/cancer/infer",
            axum::routing::post(move || {
                let answers = answers.clone();
                async move {
                    let (status, body) = answers.lock().unwrap().remove(0);
                    (StatusCode::from_u16(status).unwrap(), axum::Json(body))
                }
            }),
        );
    let server = run(app, None).await;
    let url = format!("http://127.0.0.1:{}/v2/models/cancer", server.addr.port());
    let (gw, key) = tokio::task::block_in_place(|| front(&url, |u| u.failures = 10)).unwrap();
    assert_eq!(gw.models()[0].version, "7");
    let app = Arc::new(gw).router();
    for _ in 0..3 {
        let (status, v) = infer(&app, &key, 1).await;
        assert_eq!(
            (status, v["code"].as_str()),
            (StatusCode::BAD_GATEWAY, Some("upstream_error")),
            "{v}"
        );
        assert!(!v.to_string().contains("secret"), "{v}");
    }
    server.stop().await;
}

#[test]
fn upstream_settings_are_checked_with_their_key() {
    let key = |model: &str| {
        let (_, entries) = common::keys(&["ci"]);
        let text = format!(
            "[serve]\nplain = true\n[[serve.models]]\nname = \"m\"\n{model}\n[[serve.api_keys]]\nname = \"ci\"\nsha256 = \"{}\"\n",
            entries[0].sha256
        );
        match ServeConfig::from_toml(&text, Path::new("aigis.toml")) {
            Ok(_) => String::new(),
            Err(aigis_gateway::Error::Config { key, .. }) => key,
            Err(e) => panic!("{e}"),
        }
    };
    let up = |url: &str| format!("verify = false\n[serve.models.upstream]\nurl = \"{url}\"");
    assert_eq!(key(&up("https://models.internal/v2/models/m")), "");
    assert_eq!(key(&up("http://127.0.0.1:8000/v2/models/m")), "");
    assert_eq!(
        key(&up("http://models.internal/v2/models/m")),
        "serve.models[0].upstream.url"
    );
    assert_eq!(key(&up("ftp://x/")), "serve.models[0].upstream.url");
    assert_eq!(
        key("[serve.models.upstream]\nurl = \"https://models.internal/v2/models/m\""),
        "serve.models[0].verify"
    );
    assert_eq!(
        key(&(up("https://m.internal/v2/models/m") + "\ncert = \"c.pem\"")),
        "serve.models[0].upstream.cert"
    );
    assert_eq!(
        key(&("path = \"m.onnx\"\n".to_owned() + &up("https://m.internal/v2/models/m"))),
        "serve.models[0].upstream"
    );
    // v1: the one input and one output are given, as rows; with v2 they are not.
    let v1 = |rest: &str| up("https://m.internal/v1/models/m") + "\nprotocol = \"v1\"\n" + rest;
    let x = "inputs = [{ name = \"X\", datatype = \"FP32\", shape = [-1, 30] }]\n";
    let y = "outputs = [{ name = \"label\", datatype = \"INT64\", shape = [-1] }]\n";
    assert_eq!(key(&v1(&format!("{x}{y}version = \"3\""))), "");
    assert_eq!(key(&v1(y)), "serve.models[0].upstream.inputs");
    assert_eq!(key(&v1(x)), "serve.models[0].upstream.outputs");
    assert_eq!(
        key(&v1(&format!("{}{y}", x.replace("-1, 30", "2, 30")))),
        "serve.models[0].upstream.inputs"
    );
    assert_eq!(
        key(&v1(&format!("{x}{}", y.replace("INT64", "INT65")))),
        "serve.models[0].upstream.outputs"
    );
    assert_eq!(
        key(&v1(&format!("{x}{y}version = \"../x\""))),
        "serve.models[0].upstream.version"
    );
    assert_eq!(
        key(&(up("https://m.internal/v2/models/m") + "\n" + x)),
        "serve.models[0].upstream.inputs"
    );
    // A value of the wrong kind is found while the TOML is read, and named at its key too.
    assert_eq!(
        key(&(up("https://m.internal/v2/models/m") + "\nprotocol = \"v3\"")),
        "serve.models[0].upstream.protocol"
    );
}

/// A KServe v1 server (TensorFlow Serving's JSON) on loopback, as the fake below answers:
/// `mode` "label" gives one label per row, "proba" a pair per row, "short" one
/// prediction too few. It keeps the last body it was sent.
fn v1_server(
    ready: bool,
    mode: Arc<std::sync::Mutex<&'static str>>,
    seen: Arc<std::sync::Mutex<Value>>,
) -> axum::Router {
    axum::Router::new()
        .route(
            "/v1/models/cancer",
            axum::routing::get(move || async move {
                axum::Json(json!({"name": "cancer", "ready": ready}))
            }),
        )
        .route(
            "/v1/models/cancer:predict",
            axum::routing::post(move |axum::Json(body): axum::Json<Value>| {
                let (mode, seen) = (mode.clone(), seen.clone());
                async move {
                    let rows = body["instances"].as_array().cloned().unwrap_or_default();
                    *seen.lock().unwrap() = body;
                    let label = |row: &Value| {
                        let sum: f64 = row
                            .as_array()
                            .unwrap()
                            .iter()
                            .map(|v| v.as_f64().unwrap())
                            .sum();
                        i64::from(sum > 300.0)
                    };
                    let mode = *mode.lock().unwrap();
                    let mut predictions: Vec<Value> = rows
                        .iter()
                        .map(|r| match mode {
                            "proba" => json!([0.25, 0.75]),
                            _ => json!(label(r)),
                        })
                        .collect();
                    if mode == "short" {
                        predictions.pop();
                    }
                    axum::Json(json!({ "predictions": predictions }))
                }
            }),
        )
}

fn tensor(name: &str, datatype: &str, shape: &[i64]) -> aigis_gateway::upstream::TensorMetadata {
    aigis_gateway::upstream::TensorMetadata {
        name: name.into(),
        datatype: datatype.into(),
        shape: shape.to_vec(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_kserve_v1_upstream_gets_rows_as_instances_and_its_predictions_are_checked() {
    let mode = Arc::new(std::sync::Mutex::new("label"));
    let seen = Arc::new(std::sync::Mutex::new(Value::Null));
    let server = run(v1_server(true, mode.clone(), seen.clone()), None).await;
    let url = format!("http://127.0.0.1:{}/v1/models/cancer", server.addr.port());
    let v1 = |output: aigis_gateway::upstream::TensorMetadata| {
        move |u: &mut UpstreamConfig| {
            u.protocol = aigis_gateway::upstream::Protocol::V1;
            u.inputs = vec![tensor("X", "FP32", &[-1, 30])];
            u.outputs = vec![output];
            u.version = Some("3".into());
            u.failures = 10;
        }
    };
    let (gw, key) =
        tokio::task::block_in_place(|| front(&url, v1(tensor("label", "INT64", &[-1])))).unwrap();
    assert_eq!(gw.models()[0].version, "3");
    let app = Arc::new(gw).router();
    let (status, v) = infer(&app, &key, 3).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    // The rows went as instances, value for value.
    let sent: Vec<f32> = (0..90).map(|i| (i % 17) as f32 * 1.5).collect();
    let instances = seen.lock().unwrap()["instances"].clone();
    assert_eq!(instances.as_array().unwrap().len(), 3);
    for (r, row) in instances.as_array().unwrap().iter().enumerate() {
        let row: Vec<f32> = row
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap() as f32)
            .collect();
        assert_eq!(row, sent[r * 30..(r + 1) * 30]);
    }
    let want: Vec<i64> = sent
        .chunks(30)
        .map(|r| i64::from(r.iter().map(|x| f64::from(*x)).sum::<f64>() > 300.0))
        .collect();
    assert_eq!(v["outputs"][0]["name"], "label");
    assert_eq!(v["outputs"][0]["datatype"], "INT64");
    assert_eq!(v["outputs"][0]["shape"], json!([3]));
    assert_eq!(v["outputs"][0]["data"], json!(want));
    // Validated at the front against the given input.
    let body = json!({"inputs": [{"name": "X", "shape": [1, 29], "datatype": "FP32", "data": vec![0.0; 29]}]});
    let (status, _) = common::call(&app, "POST", "/v2/models/cancer/infer", &key, body).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    // An answer that does not fit the given output is the upstream's error.
    for bad in ["short", "proba"] {
        *mode.lock().unwrap() = bad;
        let (status, v) = infer(&app, &key, 2).await;
        assert_eq!(
            (status, v["code"].as_str()),
            (StatusCode::BAD_GATEWAY, Some("upstream_error")),
            "{bad}: {v}"
        );
    }
    // A `[-1, 2]` output takes a list per row.
    let (gw, key) =
        tokio::task::block_in_place(|| front(&url, v1(tensor("probabilities", "FP32", &[-1, 2]))))
            .unwrap();
    let app = Arc::new(gw).router();
    let (status, v) = infer(&app, &key, 2).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["outputs"][0]["shape"], json!([2, 2]));
    assert_eq!(v["outputs"][0]["data"], json!([0.25, 0.75, 0.25, 0.75]));
    server.stop().await;

    // A v1 server that says its model is not ready stops the start.
    let server = run(v1_server(false, mode, seen), None).await;
    let url = format!("http://127.0.0.1:{}/v1/models/cancer", server.addr.port());
    let refused = tokio::task::block_in_place(|| front(&url, v1(tensor("label", "INT64", &[-1]))));
    let Err(aigis_gateway::Error::Upstream { message, .. }) = refused else {
        panic!("a model that is not ready was served");
    };
    assert!(message.contains("not ready"), "{message}");
    server.stop().await;
}
