//! The rate store shared by replicas, on a real Redis server (`redis-server` started by
//! the test on a free loopback port): two gateways sharing one limit let exactly its
//! burst through under concurrency, the daily quota is shared too, and when Redis is down
//! calls are refused (or let through with `fail_open`), counted either way.
//!
//! Skipped when `redis-server` is not installed, unless `AIGIS_REQUIRE_REDIS=1` (CI).

use crate::common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;

use aigis_gateway::limits::LimitsConfig;
use aigis_gateway::{Gateway, ServeConfig};
use axum::http::StatusCode;
use serde_json::json;

struct Redis {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A Redis server of its own on a free port, or `None` when there is none to start.
fn redis() -> Option<Redis> {
    let found = Command::new("redis-server")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        assert!(
            std::env::var_os("AIGIS_REQUIRE_REDIS").is_none(),
            "AIGIS_REQUIRE_REDIS is set and redis-server is not installed"
        );
        eprintln!("skipped: redis-server is not installed");
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new("redis-server")
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .current_dir(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Some(Redis {
                child,
                port,
                _dir: dir,
            });
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("redis-server did not start");
}

/// A gateway serving digits to `principal` (the key whose SHA-256 is `hash`), its limits
/// in the Redis server on `port`.
fn gateway(
    port: u16,
    (principal, hash): (&str, &str),
    rate: &str,
    burst: u64,
    daily: Option<u64>,
    fail_open: bool,
) -> Arc<Gateway> {
    let mut config = ServeConfig::loopback(
        vec![common::model("digits", "digits_mlp.onnx")],
        vec![aigis_gateway::config::ApiKeyConfig {
            name: principal.into(),
            sha256: hash.into(),
        }],
    );
    config.limits = Some(LimitsConfig {
        rate: rate.into(),
        burst,
        delay_ms: 0,
        daily_quota: daily,
        fail_open,
        store: Some(format!("redis://127.0.0.1:{port}/0")),
    });
    Arc::new(Gateway::new(&config, Path::new("/"), &[]).unwrap())
}

async fn infer(app: axum::Router, key: String) -> (StatusCode, String) {
    let body = json!({"inputs": [{"name": "X", "shape": [1, 64], "datatype": "FP32", "data": vec![0.5; 64]}]});
    let (status, v) = common::call(&app, "POST", "/v2/models/digits/infer", &key, body).await;
    (status, v["code"].as_str().unwrap_or_default().to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_replicas_share_one_limit_exactly_and_a_store_down_is_refused_and_counted() {
    let Some(mut server) = redis() else { return };
    let (key, hash) = aigis_gateway::auth::generate().unwrap();
    let key = key.expose().to_owned();
    // Two replicas, one limit: a burst of 10 then one row an hour.
    let a = gateway(server.port, ("ci", &hash), "1/h", 10, None, false);
    let b = gateway(server.port, ("ci", &hash), "1/h", 10, None, false);
    let mut calls = Vec::new();
    for i in 0..40 {
        let app = if i % 2 == 0 { a.clone() } else { b.clone() }.router();
        calls.push(tokio::spawn(infer(app, key.clone())));
    }
    let mut passed = 0;
    for call in calls {
        match call.await.unwrap() {
            (StatusCode::OK, _) => passed += 1,
            (StatusCode::TOO_MANY_REQUESTS, code) => assert_eq!(code, "rate_limited"),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(passed, 10, "exactly the burst, across both replicas");

    // A daily quota of 3 rows, shared the same way (another principal).
    let (key2, hash2) = aigis_gateway::auth::generate().unwrap();
    let key2 = key2.expose().to_owned();
    let c = gateway(server.port, ("ops", &hash2), "1000/s", 100, Some(3), false);
    let d = gateway(server.port, ("ops", &hash2), "1000/s", 100, Some(3), false);
    let mut outcomes = Vec::new();
    for i in 0..6 {
        let app = if i % 2 == 0 { c.clone() } else { d.clone() }.router();
        outcomes.push(infer(app, key2.clone()).await);
    }
    let ok = outcomes
        .iter()
        .filter(|(s, _)| *s == StatusCode::OK)
        .count();
    assert_eq!(ok, 3, "{outcomes:?}");
    assert!(outcomes.iter().any(|(_, c)| c == "quota_exceeded"));

    // Redis goes down: refused, fail closed, and counted.
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    let (status, code) = infer(a.clone().router(), key.clone()).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, "rate_store_unavailable")
    );
    assert!(
        a.metrics()
            .render()
            .contains("aigis_gateway_rate_store_failures_total 1")
    );
    // Unless the configuration says to let calls through: then they pass, still counted.
    let open = gateway(server.port, ("ci", &hash), "1/h", 10, None, true);
    let (status, _) = infer(open.clone().router(), key).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        open.metrics()
            .render()
            .contains("aigis_gateway_rate_store_failures_total 1")
    );
}

#[test]
fn a_store_url_is_checked_and_never_repeated() {
    let (_, hash) = aigis_gateway::auth::generate().unwrap();
    for (url, says) in [
        (
            "rediss://:s3cret@10.0.0.5:6380/0",
            "TLS to Redis is not supported",
        ),
        ("redis://:s3cret@[bad/0", "not a Redis URL"),
    ] {
        let mut config = ServeConfig::loopback(
            vec![common::model("digits", "digits_mlp.onnx")],
            vec![aigis_gateway::config::ApiKeyConfig {
                name: "ci".into(),
                sha256: hash.clone(),
            }],
        );
        config.limits = Some(LimitsConfig {
            rate: "1/s".into(),
            burst: 1,
            delay_ms: 0,
            daily_quota: None,
            fail_open: false,
            store: Some(url.into()),
        });
        match Gateway::new(&config, Path::new("/"), &[]) {
            Err(e @ aigis_gateway::Error::Config { .. }) => {
                let text = e.to_string();
                assert!(
                    text.contains("serve.limits.store") && text.contains(says),
                    "{text}"
                );
                assert!(!text.contains("s3cret"), "{text}");
            }
            other => panic!("{other:?}"),
        }
    }
}

/// A store that does not answer (a listener that never replies, so each Redis step waits
/// out its 100 ms timeout) holds up only the calls that need it: on a runtime with one
/// thread, a call that needs no limit is answered while a rate-limited call still waits
/// for the store. Were the step run on the async thread, nothing else could run until it
/// gave up, and the rate-limited call would finish first.
#[tokio::test(flavor = "current_thread")]
async fn a_store_that_does_not_answer_holds_up_only_its_own_calls() {
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let (key, hash) = aigis_gateway::auth::generate().unwrap();
    let key = key.expose().to_owned();
    let gw = gateway(port, ("ci", &hash), "1000/s", 100, None, false);
    let finished = Arc::new(std::sync::Mutex::new(Vec::new()));
    let limited = {
        let (app, key, finished) = (gw.clone().router(), key.clone(), finished.clone());
        tokio::spawn(async move {
            let outcome = infer(app, key).await;
            finished.lock().unwrap().push("infer");
            outcome
        })
    };
    // Let the rate-limited call run up to its wait for the store.
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    let (status, _) = common::call(
        &gw.clone().router(),
        "GET",
        "/v2/models/digits",
        &key,
        json!(null),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    finished.lock().unwrap().push("metadata");
    let (status, code) = limited.await.unwrap();
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, "rate_store_unavailable")
    );
    assert_eq!(*finished.lock().unwrap(), ["metadata", "infer"]);
    drop(silent);
}
