//! Alerts while serving: an extraction suspicion, a feedback window's accuracy and a
//! drifted sliding window are raised once to an HMAC-signed webhook and to the ledger,
//! not again while they last, `resolved` when they end; a drift alert runs the
//! retraining hook and its run is recorded; a webhook without its key is refused.

use crate::common;

use std::path::Path;
use std::sync::{Arc, Mutex};

use aigis_gateway::{Gateway, ServeConfig};
use serde_json::{Value, json};

fn seeds() -> Vec<Vec<f32>> {
    common::cancer_rows()
}

fn profile(dir: &Path) {
    common::write_profile(dir, &seeds(), false);
}

/// What the webhook was sent: each signature header and body.
type Received = Arc<Mutex<Vec<(String, Vec<u8>)>>>;

/// A webhook on loopback that keeps what it is sent.
async fn webhook() -> (String, Received) {
    let got: Received = Arc::default();
    let keep = got.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(
            move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                let keep = keep.clone();
                async move {
                    let signature = headers
                        .get("x-aigis-signature")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_owned();
                    keep.lock().unwrap().push((signature, body.to_vec()));
                    "ok"
                }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}/hook"), got)
}

/// The HMAC-SHA256 a receiver computes with the shared key.
fn expected_signature(body: &[u8]) -> String {
    use hmac::Mac as _;
    let key = std::env::var("CARGO_MANIFEST_DIR").unwrap();
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key.as_bytes()).unwrap();
    mac.update(body);
    let tag = mac.finalize().into_bytes();
    format!(
        "sha256={}",
        tag.iter().map(|b| format!("{b:02x}")).collect::<String>()
    )
}

#[tokio::test]
async fn alerts_fire_once_are_signed_recorded_and_resolve() {
    let dir = tempfile::tempdir().unwrap();
    profile(dir.path());
    let out = dir.path().join("retrain.json");
    let (url, received) = webhook().await;
    let (keys, entries) = common::keys(&["app", "copier"]);
    let mut model = common::model("cancer", "cancer_gbc.onnx");
    model.profile = Some(common::wide_profile());
    model.drift = Some(toml::from_str("").unwrap());
    model.feedback = Some(toml::from_str("").unwrap());
    model.extraction = Some(toml::from_str("budget = 3").unwrap());
    let mut config = ServeConfig::loopback(vec![model], entries);
    config.alerts = Some(
        toml::from_str(&format!(
            "webhook = \"{url}\"\nsecret_env = \"CARGO_MANIFEST_DIR\"\nretrain = [\"sh\", \"-c\", \"printf '%s' \\\"$AIGIS_ALERT\\\" > '{}'\"]",
            out.display()
        ))
        .unwrap(),
    );
    let recorder = Arc::new(common::Recorder::default());
    let gw = Arc::new(
        Gateway::new(&config, dir.path(), &[])
            .unwrap()
            .with_audit(recorder.clone()),
    );
    let app = gw.clone().router();
    // Nothing yet.
    assert!(gw.check_alerts().await.is_empty());

    // A copier over its budget; 40 calls whose labels are mostly wrong; rows with half
    // their features moved (the drift).
    for _ in 0..5 {
        common::infer_binary(&app, &keys["copier"], "cancer", &seeds()[..1]).await;
    }
    let moved: Vec<Vec<f32>> = seeds()
        .iter()
        .map(|r| {
            r.iter()
                .enumerate()
                .map(|(j, v)| if j < 20 { v * 1.5 } else { *v })
                .collect()
        })
        .collect();
    let mut items = Vec::new();
    for (i, row) in moved.iter().enumerate() {
        let id = format!("c{i}");
        let mut body = json!({"id": id, "inputs": [{"name": "X", "shape": [1, 30], "datatype": "FP32", "data": row}]});
        body["id"] = json!(id);
        let (_, answer) =
            common::call(&app, "POST", "/v2/models/cancer/infer", &keys["app"], body).await;
        let label = answer["outputs"][0]["data"][0].as_i64().unwrap();
        // Three of four labels wrong.
        let truth = if i % 4 == 0 { label } else { 1 - label };
        items.push(json!({"id": id, "labels": [truth]}));
    }
    common::call(
        &app,
        "POST",
        "/v2/models/cancer/feedback",
        &keys["app"],
        json!({"feedback": items}),
    )
    .await;

    let raised = gw.check_alerts().await;
    let kinds: Vec<(&str, &str)> = raised.iter().map(|a| (a.kind, a.state)).collect();
    for want in [
        ("extraction", "firing"),
        ("accuracy", "firing"),
        ("drift", "firing"),
    ] {
        assert!(kinds.contains(&want), "{want:?} not in {kinds:?}");
    }
    let extraction = raised.iter().find(|a| a.kind == "extraction").unwrap();
    assert!(
        extraction
            .message
            .contains("`copier` is suspected of copying `cancer`"),
        "{}",
        extraction.message
    );
    // The webhook got each, signed: the signature checks with the key, and not for
    // another body.
    let got = received.lock().unwrap().clone();
    assert!(got.len() >= 4, "{} sent", got.len());
    for (signature, body) in &got {
        assert_eq!(signature, &expected_signature(body));
        assert_ne!(signature, &expected_signature(b"{}"));
    }
    let bodies: Vec<Value> = got
        .iter()
        .map(|(_, b)| serde_json::from_slice(b).unwrap())
        .collect();
    assert!(
        bodies
            .iter()
            .any(|b| b["kind"] == "accuracy" && b["value"].as_f64().unwrap() < 0.8)
    );
    // The retraining hook ran with the drift alert, and its run is an alert too.
    let hook: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(
        (hook["kind"].as_str(), hook["state"].as_str()),
        (Some("drift"), Some("firing"))
    );
    // Each names the gateway that raised it: the webhook's body, the hook's, the ledger's.
    assert!(
        bodies.iter().all(|b| b["instance"] == gw.instance()),
        "{bodies:?}"
    );
    assert_eq!(hook["instance"], gw.instance());
    assert!(
        bodies
            .iter()
            .any(|b| b["kind"] == "retrain" && b["state"] == "ran"),
        "{bodies:?}"
    );
    // The ledger holds each, delivered, about the model.
    let recorded = recorder.alerts.lock().unwrap().clone();
    assert_eq!(recorded.len(), got.len());
    assert!(
        recorded
            .iter()
            .all(|(a, s)| a.delivered == Some(true) && s == &vec!["model:cancer".to_owned()])
    );
    assert!(
        recorded
            .iter()
            .all(|(a, _)| a.instance.as_deref() == Some(gw.instance()))
    );

    // Still true: not raised again.
    let again = gw.check_alerts().await;
    assert!(
        again
            .iter()
            .all(|a| a.kind != "accuracy" && a.kind != "drift"),
        "{again:?}"
    );

    // Right labels for many more calls: the accuracy alert resolves.
    let mut items = Vec::new();
    for i in 0..200 {
        let id = format!("r{i}");
        let row = &seeds()[i % 40];
        let (_, answer) = common::call(
            &app,
            "POST",
            "/v2/models/cancer/infer",
            &keys["app"],
            json!({"id": id, "inputs": [{"name": "X", "shape": [1, 30], "datatype": "FP32", "data": row}]}),
        )
        .await;
        items.push(json!({"id": id, "labels": [answer["outputs"][0]["data"][0]]}));
    }
    common::call(
        &app,
        "POST",
        "/v2/models/cancer/feedback",
        &keys["app"],
        json!({"feedback": items}),
    )
    .await;
    let later = gw.check_alerts().await;
    assert!(
        later
            .iter()
            .any(|a| a.kind == "accuracy" && a.state == "resolved"),
        "{later:?}"
    );
}

#[test]
fn a_webhook_needs_its_key_and_https_off_loopback() {
    for (alerts, key) in [
        (
            "webhook = \"http://127.0.0.1:9/hook\"",
            "serve.alerts.secret_env",
        ),
        (
            "webhook = \"http://hooks.example.com/x\"\nsecret_env = \"CARGO_MANIFEST_DIR\"",
            "serve.alerts.webhook",
        ),
        (
            "webhook = \"http://127.0.0.1:9/hook\"\nsecret_env = \"AIGIS_NO_SUCH_VARIABLE\"",
            "serve.alerts.secret_env",
        ),
        ("repeat_s = 1\ninterval_s = 30", "serve.alerts.repeat_s"),
        ("retrain = []", "serve.alerts.retrain"),
    ] {
        let (_, entries) = common::keys(&["a"]);
        let mut config =
            ServeConfig::loopback(vec![common::model("digits", "digits_mlp.onnx")], entries);
        config.alerts = Some(toml::from_str(alerts).unwrap());
        let e = Gateway::new(&config, Path::new("/"), &[])
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains(key), "{alerts}: {e}");
    }
}
