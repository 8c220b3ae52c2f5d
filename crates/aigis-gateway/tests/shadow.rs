//! A candidate in a model's shadow: it answers the same calls off the response path, the
//! client sees only the served model's answers, and the gateway counts the rows where the
//! two disagree (equal to onnxruntime's answers of the two models on the same rows) and
//! times both; a candidate that does not take the served model's inputs, or is unsigned
//! where signatures are checked, stops the start.

use crate::common;

use std::path::Path;
use std::sync::Arc;

use aigis_gateway::shadow::ShadowConfig;
use aigis_gateway::{Gateway, ServeConfig};
use axum::http::StatusCode;
use serde_json::Value;

fn fixture(name: &str) -> Value {
    serde_json::from_slice(&std::fs::read(common::runtime_model(name)).unwrap()).unwrap()
}

fn shadow_of(file: &str, verify: bool) -> ShadowConfig {
    toml::from_str(&format!(
        "path = \"{}\"\nverify = {verify}",
        common::runtime_model(file).display()
    ))
    .unwrap()
}

/// The wine forest served with the gradient-boosted model in its shadow, recording its
/// periods every `record_s` with a recorder: the keys, the settings, the gateway and the
/// recorder.
fn recorded(
    record_s: u64,
) -> (
    std::collections::BTreeMap<String, String>,
    ServeConfig,
    Arc<Gateway>,
    Arc<common::Recorder>,
) {
    let (keys, entries) = common::keys(&["ci"]);
    let mut model = common::model("wine", "wine_forest.onnx");
    let mut shadow = shadow_of("wine_gbc.onnx", false);
    shadow.record_s = record_s;
    model.shadow = Some(shadow);
    let config = ServeConfig::loopback(vec![model], entries);
    let recorder = Arc::new(common::Recorder::default());
    let gw = Arc::new(
        Gateway::new(&config, Path::new("/"), &[])
            .unwrap()
            .with_audit(recorder.clone()),
    );
    (keys, config, gw, recorder)
}

/// The `/shadow` report once `calls` mirrored calls are compared or skipped.
async fn settled(app: &axum::Router, key: &str, calls: u64) -> Value {
    let mut report = Value::Null;
    for _ in 0..200 {
        let (status, r) =
            common::call(app, "GET", "/v2/models/wine/shadow", key, Value::Null).await;
        assert_eq!(status, StatusCode::OK, "{r}");
        report = r;
        if report["calls"].as_u64().unwrap() + report["skipped"].as_u64().unwrap() == calls {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    report
}

#[tokio::test]
async fn a_candidate_answers_in_the_shadow_and_its_disagreements_are_counted() {
    let (keys, config, gw, recorder) = recorded(3600);
    let app = gw.clone().router();
    // Nothing mirrored yet: no period to record.
    gw.record_due(true).await;
    assert!(recorder.periods.lock().unwrap().is_empty());
    // The fixtures: the same 42 wine rows, with onnxruntime's labels from each model.
    let (forest, gbc) = (fixture("wine_forest.json"), fixture("wine_gbc.json"));
    assert_eq!(forest["inputs"], gbc["inputs"]);
    let data: Vec<Option<f32>> =
        serde_json::from_value(forest["inputs"]["X"]["data"].clone()).unwrap();
    let rows: Vec<Vec<f32>> = data
        .chunks(13)
        .map(|r| r.iter().map(|v| v.unwrap_or(f32::NAN)).collect())
        .collect();
    let want: Vec<i64> =
        serde_json::from_value(forest["outputs"]["output_label"]["data"].clone()).unwrap();
    let other: Vec<i64> =
        serde_json::from_value(gbc["outputs"]["output_label"]["data"].clone()).unwrap();
    let differ = want.iter().zip(&other).filter(|(a, b)| a != b).count() as u64;
    assert!(differ > 0);
    // One row a call; each answer is the served model's.
    for (row, label) in rows.iter().zip(&want) {
        let (status, v) =
            common::infer_binary(&app, &keys["ci"], "wine", std::slice::from_ref(row)).await;
        assert_eq!(status, StatusCode::OK, "{v}");
        assert_eq!(v["outputs"][0]["data"][0].as_i64(), Some(*label));
    }
    // The shadow calls finish off the response path.
    let report = settled(&app, &keys["ci"], 42).await;
    let calls = report["calls"].as_u64().unwrap();
    assert_eq!(report["failures"], 0, "{report}");
    // Sequential calls never find 4 in flight: every one compared.
    assert_eq!((calls, report["rows"].as_u64()), (42, Some(42)), "{report}");
    assert_eq!(report["disagreements"].as_u64(), Some(differ), "{report}");
    let rate = report["disagreement_rate"].as_f64().unwrap();
    assert!((rate - differ as f64 / 42.0).abs() < 1e-12);
    assert!(report["candidate_latency_us"][1].as_u64().unwrap() > 0);
    assert_eq!(report["candidate_version"].as_str().unwrap().len(), 12);
    assert_ne!(report["candidate_version"], report["served_version"]);

    // Recorded as evidence: the period so far (`record_s` has not passed, so only when
    // asked), about the candidate's file and the served one.
    gw.record_due(false).await;
    assert!(recorder.periods.lock().unwrap().is_empty());
    gw.record_due(true).await;
    let periods = recorder.periods.lock().unwrap().clone();
    assert_eq!(periods.len(), 1);
    let (p, subjects) = &periods[0];
    assert_eq!(subjects, &["candidate", "served"]);
    assert_eq!((p.calls, p.rows, p.disagreements), (42, 42, differ));
    assert_eq!((p.failures, p.skipped), (0, 0));
    assert_eq!(p.model, "wine");
    assert_eq!(
        p.candidate_sha256,
        report["candidate_sha256"].as_str().unwrap()
    );
    assert_eq!(
        p.candidate_version,
        report["candidate_version"].as_str().unwrap()
    );
    assert_eq!(p.served_version, report["served_version"].as_str().unwrap());
    assert_eq!(
        p.candidate_latency_us.map(|l| l[1]),
        report["candidate_latency_us"][1].as_u64()
    );
    assert!(humantime::parse_rfc3339(&p.from).unwrap() <= humantime::parse_rfc3339(&p.to).unwrap());
    // Nothing new since: nothing more to record.
    gw.record_due(true).await;
    assert_eq!(recorder.periods.lock().unwrap().len(), 1);

    // Three more calls, then a reload without the shadow: the rest is recorded, from
    // where the first period ended.
    for row in rows.iter().take(3) {
        let (status, _) =
            common::infer_binary(&app, &keys["ci"], "wine", std::slice::from_ref(row)).await;
        assert_eq!(status, StatusCode::OK);
    }
    settled(&app, &keys["ci"], 45).await;
    let mut without = config.clone();
    without.models[0].shadow = None;
    gw.reload(&without, Path::new("/"), &[], "test").unwrap();
    let periods = recorder.periods.lock().unwrap().clone();
    assert_eq!(periods.len(), 2);
    let (q, _) = &periods[1];
    assert_eq!((q.calls, q.rows), (3, 3));
    assert_eq!(q.from, p.to);
}

#[test]
fn a_candidate_must_take_the_served_inputs_and_be_verified() {
    let (_, entries) = common::keys(&["ci"]);
    let mut model = common::model("wine", "wine_forest.onnx");
    model.shadow = Some(shadow_of("digits_mlp.onnx", false));
    let config = ServeConfig::loopback(vec![model], entries.clone());
    let e = Gateway::new(&config, Path::new("/"), &[])
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains("serve.models[0].shadow.path")
            && e.contains("no FP32 input `X` of shape [-1, 13]"),
        "{e}"
    );
    let mut model = common::model("wine", "wine_forest.onnx");
    model.shadow = Some(shadow_of("wine_gbc.onnx", true));
    let config = ServeConfig::loopback(vec![model], entries);
    let e = Gateway::new(&config, Path::new("/"), &[])
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("unsigned") || e.contains("signature"), "{e}");
}

/// A served gateway records the period every `record_s`, without being asked.
#[test]
fn a_served_shadow_records_its_period_every_record_s() {
    let (keys, _, gw, recorder) = recorded(1);
    let instance = gw.instance().to_owned();
    let running = common::Running::start(gw, None);
    let agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .new_agent();
    let body = serde_json::json!({"inputs": [{"name": "X", "shape": [2, 13], "datatype": "FP32", "data": vec![1.0; 26]}]});
    let resp = agent
        .post(&format!("http://{}/v2/models/wine/infer", running.addr))
        .header("Authorization", &format!("Bearer {}", keys["ci"]))
        .send(body.to_string())
        .unwrap();
    assert_eq!(resp.status(), 200);
    let mut periods = Vec::new();
    for _ in 0..60 {
        periods = recorder.periods.lock().unwrap().clone();
        if !periods.is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(periods.len(), 1, "recorded while serving");
    assert_eq!((periods[0].0.calls, periods[0].0.rows), (1, 2));
    assert_eq!(periods[0].0.instance.as_deref(), Some(instance.as_str()));
    // Stopping records nothing more: nothing was mirrored since.
    drop(running);
    assert_eq!(recorder.periods.lock().unwrap().len(), 1);
}
