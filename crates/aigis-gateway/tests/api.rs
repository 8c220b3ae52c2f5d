//! The gateway's routes in process (no socket): authentication, the Open Inference
//! Protocol's bodies, every refusal with its status and code, and predictions equal to
//! onnxruntime's on a real model; and the models' signature checks at start.

use crate::common;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use aigis_gateway::config::{ApiKeyConfig, ModelConfig};
use aigis_gateway::{Error, Gateway, ServeConfig};
use aigis_model::signing::SignerKey;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{Value, json};
use tower::ServiceExt as _;

fn runtime_data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/runtime")
}

struct Fixture {
    router: axum::Router,
    key: String,
}

fn config(models: Vec<ModelConfig>, hash: String, max_body: usize) -> ServeConfig {
    let keys = vec![ApiKeyConfig {
        name: "ci".into(),
        sha256: hash,
    }];
    ServeConfig {
        max_body_bytes: max_body,
        ..ServeConfig::loopback(models, keys)
    }
}

fn unsigned(name: &str, file: &str) -> ModelConfig {
    ModelConfig {
        path: runtime_data().join(file),
        verify: false,
        ..ModelConfig::named(name)
    }
}

fn fixture() -> Fixture {
    fixture_of(false)
}

/// The fixture, with `[serve.models.feedback]` on the digits model when `feedback`.
fn fixture_of(feedback: bool) -> Fixture {
    let (key, hash) = aigis_gateway::auth::generate().unwrap();
    let mut digits = unsigned("digits", "digits_mlp.onnx");
    if feedback {
        digits.feedback = Some(toml::from_str("").unwrap());
    }
    let cfg = config(
        vec![digits, unsigned("wine", "wine_scaler_logreg_names.onnx")],
        hash,
        64 * 1024,
    );
    let gw = Gateway::new(&cfg, Path::new("/"), &[]).unwrap();
    Fixture {
        router: Arc::new(gw).router(),
        key: key.expose().to_owned(),
    }
}

impl Fixture {
    async fn call(
        &self,
        method: &str,
        uri: &str,
        key: Option<&str>,
        body: Body,
    ) -> (StatusCode, Value, Option<String>) {
        let mut req = Request::builder().method(method).uri(uri);
        if let Some(k) = key {
            req = req.header("authorization", format!("Bearer {k}"));
        }
        let resp = self
            .router
            .clone()
            .oneshot(req.body(body).unwrap())
            .await
            .unwrap();
        let status = resp.status();
        let www = resp
            .headers()
            .get("www-authenticate")
            .map(|v| v.to_str().unwrap().to_owned());
        let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .unwrap();
        let value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        (status, value, www)
    }

    async fn get(&self, uri: &str, key: Option<&str>) -> (StatusCode, Value, Option<String>) {
        self.call("GET", uri, key, Body::empty()).await
    }

    async fn infer(&self, model: &str, body: Value) -> (StatusCode, Value) {
        let (s, v, _) = self
            .call(
                "POST",
                &format!("/v2/models/{model}/infer"),
                Some(&self.key),
                Body::from(body.to_string()),
            )
            .await;
        (s, v)
    }
}

#[tokio::test]
async fn health_is_open_and_everything_else_needs_a_key() {
    let f = fixture();
    assert_eq!(f.get("/v2/health/live", None).await.0, StatusCode::OK);
    assert_eq!(f.get("/v2/health/ready", None).await.1["ready"], true);
    for uri in [
        "/v2",
        "/v2/models/digits",
        "/v2/models/digits/ready",
        "/v2/models/nope",
    ] {
        let (status, body, www) = f.get(uri, None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{uri}");
        assert_eq!(body["code"], "unauthenticated");
        assert_eq!(www.as_deref(), Some("Bearer"));
        let (status, ..) = f.get(uri, Some("aigis_not-a-key")).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{uri}");
    }
    let (status, body, _) = f
        .call("POST", "/v2/models/digits/infer", None, Body::from("{}"))
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("unauthenticated"))
    );
    assert_eq!(f.get("/v2", Some(&f.key)).await.1["name"], "aigis");
}

#[tokio::test]
async fn metadata_comes_from_the_models_signature() {
    let f = fixture();
    let (status, m, _) = f.get("/v2/models/digits", Some(&f.key)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(m["name"], "digits");
    assert_eq!(
        m["inputs"],
        json!([{"name": "X", "datatype": "FP32", "shape": [-1, 64]}])
    );
    assert_eq!(m["outputs"][0]["name"], "output_label");
    assert_eq!(m["outputs"][1]["name"], "output_probability");
    assert_eq!(m["versions"].as_array().unwrap().len(), 1);
    let (status, body, _) = f.get("/v2/models/nope", Some(&f.key)).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("model_not_found"))
    );
    let (status, body, _) = f.get("/v3/anything", Some(&f.key)).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found"))
    );
}

/// The predictions of the protocol's JSON are onnxruntime's (from the runtime fixtures).
#[tokio::test]
async fn predictions_over_the_protocol_are_onnxruntimes() {
    let f = fixture();
    for (model, file) in [
        ("digits", "digits_mlp.json"),
        ("wine", "wine_scaler_logreg_names.json"),
    ] {
        let doc: Value =
            serde_json::from_slice(&std::fs::read(runtime_data().join(file)).unwrap()).unwrap();
        let x = &doc["inputs"]["X"];
        let rows = x["shape"][0].as_u64().unwrap();
        let width = x["shape"][1].as_u64().unwrap() as usize;
        // Nested rows, as many clients send them.
        let nested: Vec<Value> = x["data"]
            .as_array()
            .unwrap()
            .chunks(width)
            .map(|r| Value::Array(r.to_vec()))
            .collect();
        let (status, resp) = f
            .infer(
                model,
                json!({"id": "r1", "inputs": [{"name": "X", "shape": [rows, width], "datatype": "FP32", "data": nested}]}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{resp}");
        assert_eq!(resp["id"], "r1");
        assert_eq!(resp["model_name"], model);
        let outputs = resp["outputs"].as_array().unwrap();
        let label = outputs
            .iter()
            .find(|o| o["name"] == "output_label")
            .unwrap();
        assert_eq!(
            label["data"], doc["outputs"]["output_label"]["data"],
            "{model}"
        );
        let proba = outputs
            .iter()
            .find(|o| o["name"] == "output_probability")
            .unwrap();
        assert_eq!(proba["datatype"], "FP32");
        let want = doc["outputs"]["output_probability"]["data"]
            .as_array()
            .unwrap();
        let got = proba["data"].as_array().unwrap();
        assert_eq!(got.len(), want.len());
        for (g, w) in got.iter().zip(want) {
            assert!(
                (g.as_f64().unwrap() - w.as_f64().unwrap()).abs() < 1e-5,
                "{model}: {g} vs {w}"
            );
        }
    }
}

#[tokio::test]
async fn only_the_outputs_asked_for_are_returned() {
    let f = fixture();
    let (status, resp) = f
        .infer(
            "digits",
            json!({"inputs": [{"name": "X", "shape": [1, 64], "datatype": "FP32", "data": vec![0.5; 64]}],
                   "outputs": [{"name": "output_label"}]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(resp["outputs"].as_array().unwrap().len(), 1);
    let (status, resp) = f
        .infer(
            "digits",
            json!({"inputs": [{"name": "X", "shape": [1, 64], "datatype": "FP32", "data": vec![0.5; 64]}],
                   "outputs": [{"name": "logits"}]}),
        )
        .await;
    assert_eq!(
        (status, resp["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_input"))
    );
    assert!(
        resp["error"]
            .as_str()
            .unwrap()
            .starts_with("outputs[0].name")
    );
}

#[tokio::test]
async fn every_bad_request_is_refused_with_its_field_and_code() {
    let f = fixture();
    let x = |shape: Value, dtype: &str, data: Value| json!({"inputs": [{"name": "X", "shape": shape, "datatype": dtype, "data": data}]});
    let cases: Vec<(Value, StatusCode, &str, &str)> = vec![
        (
            x(json!([1, 63]), "FP32", json!(vec![0.5; 63])),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_input",
            "inputs[0].shape",
        ),
        (
            x(json!([1, 64]), "INT64", json!(vec![1; 64])),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_input",
            "inputs[0].datatype",
        ),
        (
            x(json!([1, 64]), "FP32", json!(vec![0.5; 63])),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_input",
            "inputs[0].data",
        ),
        (
            x(json!([1, 64]), "FP32", json!(vec!["a"; 64])),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_input",
            "inputs[0].data[0]",
        ),
        (
            json!({"inputs": [{"name": "Y", "shape": [1, 64], "datatype": "FP32", "data": vec![0.5; 64]}]}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_input",
            "inputs[0].name",
        ),
        (
            json!({"inputs": []}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_input",
            "inputs",
        ),
        (
            json!({"nothing": true}),
            StatusCode::BAD_REQUEST,
            "malformed_json",
            "the body",
        ),
    ];
    for (body, status, code, field) in cases {
        let (s, resp) = f.infer("digits", body.clone()).await;
        assert_eq!(
            (s, resp["code"].as_str()),
            (status, Some(code)),
            "{body}: {resp}"
        );
        assert!(
            resp["error"].as_str().unwrap().starts_with(field),
            "{body}: {resp}"
        );
    }
    let (s, v, _) = f
        .call(
            "POST",
            "/v2/models/digits/infer",
            Some(&f.key),
            Body::from("{not json"),
        )
        .await;
    assert_eq!(
        (s, v["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("malformed_json"))
    );
    let big = x(json!([2000, 64]), "FP32", json!(vec![0.5; 128_000]));
    let (s, v) = f.infer("digits", big).await;
    assert_eq!(
        (s, v["code"].as_str()),
        (StatusCode::PAYLOAD_TOO_LARGE, Some("payload_too_large"))
    );
    // Nothing internal leaks into an error.
    let (_, v) = f
        .infer("digits", x(json!([1, 63]), "FP32", json!(vec![0.5; 63])))
        .await;
    assert!(!v.to_string().contains("/"), "{v}");
}

#[test]
fn a_model_is_served_only_when_its_signature_verifies_over_its_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let key = SignerKey::Ed25519(aigis_crypto::SigningKey::generate());
    let other = SignerKey::Ed25519(aigis_crypto::SigningKey::generate());
    let path = common::signed_copy(dir.path(), "digits_mlp.onnx", &key);
    let (_, hash) = aigis_gateway::auth::generate().unwrap();
    let model = ModelConfig {
        path: path.clone(),
        verify: true,
        ..ModelConfig::named("digits")
    };
    let load = |trusted: &[aigis_model::signing::VerifierKey], m: &ModelConfig| {
        Gateway::new(
            &config(vec![m.clone()], hash.clone(), 1 << 20),
            dir.path(),
            trusted,
        )
    };
    let gw = load(&[key.public()], &model).unwrap();
    assert_eq!(
        gw.models()[0].signed_by.as_deref(),
        Some(key.public().key_id().as_str())
    );
    let refused = |r: Result<Gateway, Error>, needle: &str| match r {
        Err(e @ Error::Unverified { .. }) => assert!(e.to_string().contains(needle), "{e}"),
        other => panic!("{other:?}"),
    };
    refused(load(&[other.public()], &model), "does not verify");
    refused(load(&[], &model), "no key is trusted");
    // One byte changed after signing.
    let mut bytes = std::fs::read(&path).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&path, &bytes).unwrap();
    refused(
        load(&[key.public()], &model),
        "not the one its signature signed",
    );
    // Unsigned.
    let bare = dir.path().join("bare.onnx");
    std::fs::copy(runtime_data().join("digits_mlp.onnx"), &bare).unwrap();
    let unsigned_model = ModelConfig {
        path: bare.clone(),
        ..model.clone()
    };
    refused(load(&[key.public()], &unsigned_model), "unsigned");
    // ... unless the configuration says so.
    let said = ModelConfig {
        verify: false,
        ..unsigned_model
    };
    assert_eq!(
        load(&[], &said).unwrap().models()[0].signed_by.clone(),
        None
    );
    // A model the runtime refuses stops the start, naming the operator.
    let bad = ModelConfig {
        path: runtime_data().join("refuse_unsupported_op.onnx"),
        verify: false,
        ..model
    };
    let e = load(&[], &bad).unwrap_err();
    assert!(
        std::error::Error::source(&e)
            .unwrap()
            .to_string()
            .contains("Imputer"),
        "{e}"
    );
}

#[tokio::test]
async fn an_encrypted_model_is_decrypted_in_memory_checked_and_served() {
    use aigis_crypto::{crypt, keyfile::KdfParams, recipient};
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let signer = SignerKey::Ed25519(aigis_crypto::SigningKey::generate());
    let serving = recipient::Identity::generate().unwrap();
    let fast = KdfParams {
        m_cost_kib: 8,
        t_cost: 1,
        p_cost: 1,
    };
    recipient::save(&d.join("serving.key"), &serving, None, fast).unwrap();
    let other = recipient::Identity::generate().unwrap();
    recipient::save(&d.join("other.key"), &other, None, fast).unwrap();
    // Signed in the clear, encrypted to the serving key, the plaintext removed.
    let plain = common::signed_copy(d, "digits_mlp.onnx", &signer);
    let enc = d.join("digits_mlp.onnx.aigis-enc");
    crypt::encrypt_file(
        &plain,
        &enc,
        &[serving.recipient().clone()],
        crypt::MIN_CHUNK_SIZE,
        &|_| {},
    )
    .unwrap();
    let plaintext = std::fs::read(&plain).unwrap();
    std::fs::remove_file(&plain).unwrap();
    let (key, hash) = aigis_gateway::auth::generate().unwrap();
    let model = ModelConfig {
        name: "digits".into(),
        path: "digits_mlp.onnx.aigis-enc".into(),
        signature: None,
        verify: true,
        registry: None,
        file: None,
        identity: Some("serving.key".into()),
        profile: None,
        detector: None,
        extraction: None,
        drift: None,
        feedback: None,
        shadow: None,
        upstream: None,
    };
    let load = |m: &ModelConfig| {
        Gateway::new(
            &config(vec![m.clone()], hash.clone(), 1 << 20),
            d,
            &[signer.public()],
        )
    };
    let files = || {
        let mut names: Vec<String> = std::fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    };
    let before = files();
    let gw = load(&model).unwrap();
    let served = &gw.models()[0];
    assert_eq!(
        served.decrypted_by.as_deref(),
        Some(serving.key_id().to_string().as_str())
    );
    assert!(served.signed_by.is_some());
    // The version is the plaintext's (what was signed), and no plaintext reached the disk.
    assert_eq!(served.digest, aigis_core::Digest::of(&plaintext));
    assert_eq!(files(), before);
    // It answers as the same model served in the clear.
    let router = Arc::new(gw).router();
    let body = json!({"inputs": [{"name": "X", "shape": [1, 64], "datatype": "FP32", "data": vec![0.5; 64]}]});
    let response = router
        .oneshot(
            Request::post("/v2/models/digits/infer")
                .header("authorization", format!("Bearer {}", key.expose()))
                .body(Body::from(body.to_string()))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let got: Value = serde_json::from_slice(
        &axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap(),
    )
    .unwrap();
    let (_, want) = fixture().infer("digits", body).await;
    assert_eq!(got["outputs"], want["outputs"]);

    let refused = |r: Result<Gateway, Error>, needle: &str, failed_check: bool| match r {
        Err(e @ Error::Encrypted { .. }) => {
            assert!(e.to_string().contains(needle), "{e}");
            assert_eq!(
                aigis_core::CheckFailure::is_check_failure(&e),
                failed_check,
                "{e}"
            );
        }
        other => panic!("{other:?}"),
    };
    // Another key; no key and no project; a key given for a file that is not encrypted.
    refused(
        load(&ModelConfig {
            identity: Some("other.key".into()),
            ..model.clone()
        }),
        "cannot be decrypted",
        false,
    );
    refused(
        load(&ModelConfig {
            identity: None,
            profile: None,
            detector: None,
            extraction: None,
            drift: None,
            feedback: None,
            shadow: None,
            upstream: None,
            ..model.clone()
        }),
        "say which recipient key",
        false,
    );
    std::fs::write(d.join("bare.onnx"), &plaintext).unwrap();
    refused(
        load(&ModelConfig {
            path: "bare.onnx".into(),
            ..model.clone()
        }),
        "not an encrypted file",
        false,
    );
    // One byte of the ciphertext changed: not authentic, a failed check.
    let mut bytes = std::fs::read(&enc).unwrap();
    let last = bytes.len() - 20;
    bytes[last] ^= 1;
    std::fs::write(&enc, &bytes).unwrap();
    refused(load(&model), "cannot be decrypted", true);
}

#[tokio::test]
async fn over_the_rate_limit_is_429_with_retry_after_per_principal_and_model() {
    let (ci, ci_hash) = aigis_gateway::auth::generate().unwrap();
    let (ops, ops_hash) = aigis_gateway::auth::generate().unwrap();
    let mut cfg = config(
        vec![unsigned("digits", "digits_mlp.onnx")],
        ci_hash,
        1 << 20,
    );
    cfg.api_keys.push(ApiKeyConfig {
        name: "ops".into(),
        sha256: ops_hash,
    });
    cfg.limits = Some(aigis_gateway::limits::LimitsConfig {
        rate: "1/h".into(),
        burst: 3,
        delay_ms: 0,
        daily_quota: None,
        fail_open: false,
        store: None,
    });
    let router = Arc::new(Gateway::new(&cfg, Path::new("/"), &[]).unwrap()).router();
    let call = |key: String, rows: usize| {
        let router = router.clone();
        async move {
            let body = json!({"inputs": [{"name": "X", "shape": [rows, 64], "datatype": "FP32", "data": vec![0.5; rows * 64]}]});
            let resp = router
                .oneshot(
                    Request::builder()
                        .method("POST")
                        .uri("/v2/models/digits/infer")
                        .header("authorization", format!("Bearer {key}"))
                        .body(Body::from(body.to_string()))
                        .unwrap(),
                )
                .await
                .unwrap();
            let status = resp.status();
            let retry = resp
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap().parse::<u64>().unwrap());
            let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
                .await
                .unwrap();
            let v: Value = serde_json::from_slice(&bytes).unwrap();
            (status, v["code"].as_str().map(str::to_owned), retry)
        }
    };
    let ci = ci.expose().to_owned();
    let ops = ops.expose().to_owned();
    assert_eq!(call(ci.clone(), 2).await.0, StatusCode::OK);
    assert_eq!(call(ci.clone(), 1).await.0, StatusCode::OK);
    let (status, code, retry) = call(ci.clone(), 1).await;
    assert_eq!(
        (status, code.as_deref()),
        (StatusCode::TOO_MANY_REQUESTS, Some("rate_limited"))
    );
    assert_eq!(retry, Some(3600));
    // Another principal has its own budget; a batch over the burst can never pass.
    assert_eq!(call(ops.clone(), 3).await.0, StatusCode::OK);
    let (status, code, _) = call(ops, 4).await;
    assert_eq!(
        (status, code.as_deref()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_input"))
    );
}

/// The OpenAPI document lists exactly the routes the router answers.
#[tokio::test]
async fn the_openapi_document_is_the_routes() {
    let doc: Value = serde_json::from_str(aigis_gateway::OPENAPI).unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    let mut documented: Vec<(String, String)> = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            documented.push((method.to_uppercase(), path.clone()));
        }
    }
    documented.sort();
    let mut routes: Vec<(String, String)> = aigis_gateway::ROUTES
        .iter()
        .map(|(m, p)| ((*m).to_owned(), (*p).to_owned()))
        .collect();
    routes.sort();
    assert_eq!(documented, routes);
    // Each route is one the router answers (not its fallback, not 405).
    let f = fixture_of(true);
    for (method, path) in aigis_gateway::ROUTES {
        let uri = path.replace("{name}", "digits");
        let body = if path.ends_with("/feedback") {
            Body::from(json!({"feedback": []}).to_string())
        } else if method == "POST" {
            Body::from(json!({"inputs": [{"name": "X", "shape": [1, 64], "datatype": "FP32", "data": vec![0.5; 64]}]}).to_string())
        } else {
            Body::empty()
        };
        let (status, v, _) = f.call(method, &uri, Some(&f.key), body).await;
        if path.ends_with("/drift") || path.ends_with("/shadow") {
            // The route answers (not the fallback): this model has neither.
            assert_eq!(status, StatusCode::NOT_FOUND, "{method} {uri}: {v}");
            assert!(
                v["error"]
                    .as_str()
                    .unwrap()
                    .contains("has no `[serve.models."),
                "{v}"
            );
            continue;
        }
        assert_eq!(status, StatusCode::OK, "{method} {uri}: {v}");
    }
    let (status, v, _) = f.get("/openapi.json", None).await;
    assert_eq!(
        (status, v["info"]["title"].as_str()),
        (StatusCode::OK, Some("aigis serve"))
    );
    // The document's codes are exactly the ones the gateway sends (`CODES`; a debug
    // build panics on any other), and each of them is sent from somewhere in the source.
    let codes: Vec<String> = serde_json::from_value(
        doc["components"]["schemas"]["Error"]["properties"]["code"]["enum"].clone(),
    )
    .unwrap();
    assert_eq!(codes, aigis_gateway::CODES);
    let source = include_str!("../src/lib.rs").to_owned()
        + include_str!("../src/error.rs")
        + include_str!("../src/admin.rs")
        + include_str!("../src/extraction.rs");
    for code in aigis_gateway::CODES {
        assert!(
            source.matches(&format!("\"{code}\"")).count() >= 2,
            "{code} is listed but never sent"
        );
    }
}
