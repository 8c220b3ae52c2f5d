//! Reloading a running gateway: a new model version and a rotated API key take effect at
//! once, calls in flight across the swap all finish, a reload that does not check out
//! (a bad policy, a model that fails verification) changes nothing, each change is
//! recorded before it takes effect, and one that cannot be recorded is not applied.

use crate::common;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use aigis_evidence::AdminOutcome;
use aigis_gateway::authz::AuthzConfig;
use aigis_gateway::config::{ApiKeyConfig, ModelConfig};
use aigis_gateway::{Gateway, ServeConfig};
use axum::http::StatusCode;
use serde_json::{Value, json};

fn runtime_model(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/data/runtime")
        .join(file)
}

fn config(file: &str, keys: &[(&str, &str)]) -> ServeConfig {
    ServeConfig::loopback(
        vec![ModelConfig {
            path: runtime_model(file),
            verify: false,
            ..ModelConfig::named("cancer")
        }],
        keys.iter()
            .map(|(name, hash)| ApiKeyConfig {
                name: (*name).into(),
                sha256: (*hash).into(),
            })
            .collect(),
    )
}

use common::Recorder;

async fn infer(app: &axum::Router, key: &str) -> (StatusCode, Value) {
    let body = json!({"inputs": [{"name": "X", "shape": [1, 30], "datatype": "FP32", "data": vec![1.0; 30]}]});
    common::call(app, "POST", "/v2/models/cancer/infer", key, body).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_reload_swaps_model_and_keys_at_once_without_dropping_calls() {
    let (old_key, old_hash) = aigis_gateway::auth::generate().unwrap();
    let (new_key, new_hash) = aigis_gateway::auth::generate().unwrap();
    let recorder = Arc::new(Recorder::default());
    let gw = Arc::new(
        Gateway::new(
            &config("cancer_gbc.onnx", &[("ci", &old_hash)]),
            Path::new("/"),
            &[],
        )
        .unwrap()
        .with_audit(recorder.clone()),
    );
    let app = gw.clone().router();
    let (status, v) = infer(&app, old_key.expose()).await;
    assert_eq!(status, StatusCode::OK);
    let before = v["model_version"].as_str().unwrap().to_owned();

    // Calls keep arriving while the model and the key are swapped.
    let mut calls = Vec::new();
    for _ in 0..64 {
        let app = app.clone();
        let key = old_key.expose().to_owned();
        calls.push(tokio::spawn(async move { infer(&app, &key).await.0 }));
    }
    let next = config("cancer_tree.onnx", &[("ci", &old_hash), ("ci", &new_hash)]);
    let report = tokio::task::spawn_blocking({
        let gw = gw.clone();
        move || gw.reload(&next, Path::new("/"), &[], "signal")
    })
    .await
    .unwrap()
    .unwrap();
    for call in calls {
        assert_eq!(
            call.await.unwrap(),
            StatusCode::OK,
            "a call across the swap"
        );
    }
    let (name, version, previous) = &report.models[0];
    assert_eq!(
        (name.as_str(), previous.as_deref()),
        ("cancer", Some(before.as_str()))
    );
    assert_ne!(version, &before);
    let (status, v) = infer(&app, new_key.expose()).await;
    assert_eq!(status, StatusCode::OK, "the new key works at once");
    assert_eq!(
        v["model_version"],
        json!(version),
        "the new version is served"
    );

    // The old key is withdrawn by the next reload.
    let next = config("cancer_tree.onnx", &[("ci", &new_hash)]);
    gw.reload(&next, Path::new("/"), &[], "signal").unwrap();
    assert_eq!(
        infer(&app, old_key.expose()).await.0,
        StatusCode::UNAUTHORIZED
    );

    let changes = recorder.changes.lock().unwrap();
    assert_eq!(changes.len(), 2);
    assert_eq!(changes[0].outcome, AdminOutcome::Applied);
    assert_eq!(changes[0].trigger, "signal");
    assert_eq!(
        changes[0].models[0].previous.as_deref(),
        Some(before.as_str())
    );
    assert_eq!(changes[0].api_keys, 2);
}

#[test]
fn a_reload_that_does_not_check_out_or_cannot_be_recorded_changes_nothing() {
    let (key, hash) = aigis_gateway::auth::generate().unwrap();
    let recorder = Arc::new(Recorder::default());
    let dir = tempfile::tempdir().unwrap();
    let gw = Arc::new(
        Gateway::new(
            &config("cancer_gbc.onnx", &[("ci", &hash)]),
            dir.path(),
            &[],
        )
        .unwrap()
        .with_audit(recorder.clone()),
    );
    let app = gw.clone().router();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let version = || runtime.block_on(infer(&app, key.expose())).1["model_version"].clone();
    let served = version();

    // A policy that does not validate.
    std::fs::write(
        dir.path().join("bad.cedar"),
        "forbid (principal, action, resource) when { context.rows == \"x\" };",
    )
    .unwrap();
    let mut next = config("cancer_tree.onnx", &[("ci", &hash)]);
    next.authz = Some(AuthzConfig {
        policies: "bad.cedar".into(),
        groups: Default::default(),
    });
    let e = gw.reload(&next, dir.path(), &[], "signal").unwrap_err();
    assert!(e.to_string().contains("serve.authz.policies"), "{e}");
    assert_eq!(version(), served, "the old model is still served");
    assert!(gw.authz().is_none(), "no policies came in");

    // A model that must verify but has no signature.
    let mut next = config("cancer_tree.onnx", &[("ci", &hash)]);
    next.models[0].verify = true;
    assert!(gw.reload(&next, dir.path(), &[], "signal").is_err());
    assert_eq!(version(), served);

    {
        let changes = recorder.changes.lock().unwrap();
        assert_eq!(changes.len(), 2, "refusals are recorded too");
        assert!(changes.iter().all(|c| c.outcome == AdminOutcome::Refused));
        assert!(
            changes[0]
                .detail
                .as_deref()
                .unwrap()
                .contains("serve.authz.policies")
        );
    }

    // A good change that cannot be recorded is not applied.
    *recorder.fail.lock().unwrap() = true;
    let next = config("cancer_tree.onnx", &[("ci", &hash)]);
    match gw.reload(&next, dir.path(), &[], "signal") {
        Err(aigis_gateway::Error::Unrecorded(_)) => {}
        other => panic!("{other:?}"),
    }
    assert_eq!(version(), served);
}

#[test]
fn settings_a_reload_cannot_change_are_named() {
    let (_, hash) = aigis_gateway::auth::generate().unwrap();
    let gw = Gateway::new(
        &config("cancer_gbc.onnx", &[("ci", &hash)]),
        Path::new("/"),
        &[],
    )
    .unwrap();
    let mut next = config("cancer_gbc.onnx", &[("ci", &hash)]);
    next.timeout_ms = 5;
    next.max_body_bytes = 10;
    let report = gw.reload(&next, Path::new("/"), &[], "signal").unwrap();
    assert_eq!(
        report.need_restart,
        ["serve.timeout_ms", "serve.max_body_bytes"]
    );
}
