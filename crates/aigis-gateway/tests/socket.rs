//! The gateway over a real socket with a real HTTP client (ureq): an inference, a
//! refusal, and a shutdown that lets the server return.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "a test reports failures by panicking"
)]

mod common;

use std::path::Path;
use std::sync::Arc;

use aigis_gateway::config::ApiKeyConfig;
use aigis_gateway::{Gateway, ServeConfig};
use serde_json::{Value, json};

#[test]
fn an_inference_and_a_refusal_over_a_socket_then_a_clean_shutdown() {
    let (key, hash) = aigis_gateway::auth::generate().unwrap();
    let model = common::model("cancer", "cancer_gbc.onnx");
    let entry = ApiKeyConfig {
        name: "ci".into(),
        sha256: hash,
    };
    let config = ServeConfig::loopback(vec![model], vec![entry]);
    let gateway = Arc::new(Gateway::new(&config, Path::new("/"), &[]).unwrap());
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = runtime.spawn(aigis_gateway::serve(gateway, listener, None, async move {
        let _ = stopped.await;
    }));

    let agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .new_agent();
    let url = format!("http://{addr}/v2/models/cancer/infer");
    let body = json!({"inputs": [{"name": "X", "shape": [2, 30], "datatype": "FP32", "data": vec![1.0; 60]}]});
    let mut resp = agent
        .post(&url)
        .header("Authorization", &format!("Bearer {}", key.expose()))
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

    stop.send(()).unwrap();
    runtime.block_on(server).unwrap().unwrap();
    assert!(
        agent
            .get(&format!("http://{addr}/v2/health/live"))
            .call()
            .is_err()
    );
}
