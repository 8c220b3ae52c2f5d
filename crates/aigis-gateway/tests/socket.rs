//! The gateway over a real socket with a real HTTP client (ureq): an inference, a
//! refusal, and a shutdown that lets the server return.

use crate::common;

use std::path::Path;
use std::sync::Arc;

use aigis_gateway::{Gateway, ServeConfig};
use serde_json::{Value, json};

/// The cancer model, served to the one key `ci`: the key and the configuration.
fn cancer() -> (String, ServeConfig) {
    let (keys, entries) = common::keys(&["ci"]);
    let model = common::model("cancer", "cancer_gbc.onnx");
    (
        keys["ci"].clone(),
        ServeConfig::loopback(vec![model], entries),
    )
}

/// A client that returns every status as an answer.
fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .new_agent()
}

#[test]
fn an_inference_and_a_refusal_over_a_socket_then_a_clean_shutdown() {
    let (key, config) = cancer();
    let gateway = Arc::new(Gateway::new(&config, Path::new("/"), &[]).unwrap());
    let running = common::Running::start(gateway, None);
    let addr = running.addr;

    let agent = agent();
    let url = format!("http://{addr}/v2/models/cancer/infer");
    let body = json!({"inputs": [{"name": "X", "shape": [2, 30], "datatype": "FP32", "data": vec![1.0; 60]}]});
    let mut resp = agent
        .post(&url)
        .header("Authorization", &format!("Bearer {key}"))
        .header("Content-Type", "application/json")
        .send(body.to_string())
        .unwrap();
    assert_eq!(resp.status(), 200);
    let v: Value = serde_json::from_str(&resp.body_mut().read_to_string().unwrap()).unwrap();
    assert_eq!(v["model_name"], "cancer");
    let label = v["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["name"] == "output_label")
        .unwrap();
    assert_eq!(label["shape"], json!([2]));

    let mut resp = agent.post(&url).send(body.to_string()).unwrap();
    assert_eq!(resp.status(), 401);
    let v: Value = serde_json::from_str(&resp.body_mut().read_to_string().unwrap()).unwrap();
    assert_eq!(v["code"], "unauthenticated");

    // Stopped, and returned Ok.
    drop(running);
    assert!(
        agent
            .get(&format!("http://{addr}/v2/health/live"))
            .call()
            .is_err()
    );
}

/// A body over the limit gets its 413 over a real socket even when the client is still
/// sending it: the gateway reads the rest and throws it away instead of closing the
/// connection on unread data, which the kernel answers with a reset (the client then sees
/// a broken connection, not the answer). 12 MB is more than loopback's socket buffers
/// hold, so without that the client's write fails.
#[test]
fn a_body_over_the_limit_is_answered_413_while_the_client_still_sends() {
    let (key, mut config) = cancer();
    config.max_body_bytes = 1024;
    let recorder = Arc::new(common::Recorder::default());
    let gateway = Arc::new(
        Gateway::new(&config, Path::new("/"), &[])
            .unwrap()
            .with_audit(recorder.clone()),
    );
    let running = common::Running::start(gateway, None);
    let addr = running.addr;
    let agent = agent();
    let url = format!("http://{addr}/v2/models/cancer/infer");
    let big = vec![b' '; 12 << 20];
    for _ in 0..3 {
        let mut resp = agent
            .post(&url)
            .header("Authorization", &format!("Bearer {key}"))
            .header("Content-Type", "application/json")
            .send(&big[..])
            .expect("the client could send the whole body and read the answer");
        assert_eq!(resp.status(), 413);
        let v: Value = serde_json::from_str(&resp.body_mut().read_to_string().unwrap()).unwrap();
        assert_eq!(v["code"], "payload_too_large");
    }
    // Each refusal is recorded.
    assert_eq!(recorder.calls.lock().unwrap().len(), 3);
}
