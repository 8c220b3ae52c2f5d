//! Every call to a model route is in the ledger before it is answered: one signed
//! `gateway-call` per call after a concurrent burst of allowed and refused calls, the
//! ledger verifying whole, digests and no data in the records; and a call that cannot be
//! recorded is not answered.

use std::path::Path;
use std::sync::Arc;

use aigis_core::Digest;
use aigis_crypto::keyfile::KdfParams;
use aigis_evidence::{CallDecision, GatewayCall, Predicate as _};
use aigis_gateway::audit::{Audit, LedgerAudit};
use aigis_gateway::config::{ApiKeyConfig, ModelConfig};
use aigis_gateway::{Gateway, ServeConfig};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::json;
use tower::ServiceExt as _;

fn config(hash: String) -> ServeConfig {
    let model = ModelConfig {
        name: "digits".into(),
        path: Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/data/runtime/digits_mlp.onnx"),
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
        upstream: None,
    };
    let key = ApiKeyConfig {
        name: "ci".into(),
        sha256: hash,
    };
    ServeConfig::loopback(vec![model], vec![key])
}

fn request(key: Option<&str>, width: usize, value: f32) -> Request<Body> {
    let body = json!({"inputs": [{"name": "X", "shape": [1, width], "datatype": "FP32", "data": vec![value; width]}]});
    let mut r = Request::builder()
        .method("POST")
        .uri("/v2/models/digits/infer");
    if let Some(k) = key {
        r = r.header("authorization", format!("Bearer {k}"));
    }
    r.body(Body::from(body.to_string())).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_burst_leaves_one_verified_record_per_call_with_digests_and_no_data() {
    let dir = tempfile::tempdir().unwrap();
    let (project, _) =
        aigis_ledger::Project::init(dir.path(), Some("audit"), None, KdfParams::default()).unwrap();
    let key = project.signing_key(None).unwrap();
    let audit = Arc::new(LedgerAudit::new(project.open_ledger().unwrap(), key));
    let (api_key, hash) = aigis_gateway::auth::generate().unwrap();
    let gw = Gateway::new(&config(hash), Path::new("/"), &[])
        .unwrap()
        .with_audit(audit);
    let router = Arc::new(gw).router();
    let api_key = api_key.expose().to_owned();
    // 30 allowed, 6 without a key, 4 with a wrong shape, all at once.
    let mut calls = Vec::new();
    for i in 0..40 {
        let router = router.clone();
        let key = api_key.clone();
        calls.push(tokio::spawn(async move {
            let req = match i % 10 {
                0..=2 if i < 18 => request(None, 64, 0.123_456),
                3 if i < 40 => request(Some(&key), 63, 0.123_456),
                _ => request(Some(&key), 64, 0.123_456),
            };
            router.oneshot(req).await.unwrap().status()
        }));
    }
    let mut statuses = Vec::new();
    for c in calls {
        statuses.push(c.await.unwrap());
    }
    let ok = statuses.iter().filter(|s| **s == StatusCode::OK).count();
    let unauthenticated = statuses
        .iter()
        .filter(|s| **s == StatusCode::UNAUTHORIZED)
        .count();
    let invalid = statuses
        .iter()
        .filter(|s| **s == StatusCode::UNPROCESSABLE_ENTITY)
        .count();
    assert_eq!((ok, unauthenticated, invalid), (30, 6, 4), "{statuses:?}");

    let ledger = project.open_ledger().unwrap();
    assert_eq!(ledger.tree_size().unwrap(), 40);
    let mut decisions = (0, 0);
    for index in 0..40 {
        let entry = ledger.store().entry(index).unwrap().unwrap();
        let text = String::from_utf8_lossy(&entry.body).into_owned();
        assert!(!text.contains(&api_key), "a key in the ledger");
        let envelope = aigis_crypto::dsse::Envelope::from_json(&entry.body).unwrap();
        let payload = String::from_utf8(envelope.payload.clone()).unwrap();
        assert!(!payload.contains("0.123456"), "input data in the ledger");
        let statement = aigis_core::Statement::from_json(&envelope.payload).unwrap();
        let call = GatewayCall::from_statement(&statement).unwrap();
        assert_eq!(call.route, "POST /v2/models/{name}/infer");
        match call.decision {
            CallDecision::Allowed => {
                decisions.0 += 1;
                assert_eq!(call.principal.as_deref(), Some("ci"));
                assert_eq!(
                    call.guards,
                    ["authenticate", "parse", "model", "validate", "model_call"]
                );
                assert_eq!(call.rows, Some(1));
                assert_eq!(statement.subject.len(), 2, "request and model");
            }
            CallDecision::Refused => {
                decisions.1 += 1;
                match call.code.as_deref() {
                    Some("unauthenticated") => {
                        assert_eq!(call.principal, None);
                        assert_eq!(call.guards, ["authenticate"]);
                        assert_eq!(call.model_version, None);
                    }
                    Some("invalid_input") => {
                        assert_eq!(call.guards, ["authenticate", "parse", "model", "validate"]);
                        assert!(call.model_version.is_some());
                    }
                    other => panic!("{other:?}"),
                }
            }
        }
    }
    assert_eq!(decisions, (30, 10));
    // Every leaf and node recomputed, and every entry's signature checked with the key.
    let public = project.signing_key(None).unwrap().public();
    let options = aigis_ledger::VerifyOptions {
        origin: Some(project.origin().to_owned()),
        verifiers: Box::new(Vec::new),
        entry_keys: Some(vec![public]),
        external_checkpoints: vec![],
    };
    let report = aigis_ledger::verify(ledger.store(), &options, &mut |_, _| {}).unwrap();
    assert_eq!(report.entries_checked, 40);
    assert!(report.ok(), "{report:?}");
}

#[derive(Debug)]
struct Broken;

impl Audit for Broken {
    fn evidence(&self, _: &aigis_core::Statement) -> Result<u64, String> {
        Err("the disk is full".into())
    }

    fn record(&self, _: &GatewayCall, _: Vec<(String, Digest)>) -> Result<u64, String> {
        Err("disk full".into())
    }
}

#[tokio::test]
async fn a_call_that_cannot_be_recorded_is_not_answered() {
    let (key, hash) = aigis_gateway::auth::generate().unwrap();
    let gw = Gateway::new(&config(hash), Path::new("/"), &[])
        .unwrap()
        .with_audit(Arc::new(Broken));
    let router = Arc::new(gw).router();
    let resp = router
        .clone()
        .oneshot(request(Some(key.expose()), 64, 0.5))
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["code"], "audit_unavailable");
    assert!(v.get("outputs").is_none());
    // The health probes are not calls to a model: they answer.
    let live = router
        .oneshot(Request::get("/v2/health/live").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(live.status(), StatusCode::OK);
}

/// An audit that can be told to fail, keeping what it took in order.
#[derive(Debug, Default)]
struct Flaky {
    fail: std::sync::atomic::AtomicBool,
    /// When set, how many more records it takes before it fails (a ledger that fails
    /// part way through a batch).
    budget: std::sync::Mutex<Option<usize>>,
    taken: std::sync::Mutex<Vec<GatewayCall>>,
}

impl Audit for Flaky {
    fn evidence(&self, _: &aigis_core::Statement) -> Result<u64, String> {
        Ok(0)
    }

    fn record(&self, call: &GatewayCall, _: Vec<(String, Digest)>) -> Result<u64, String> {
        if self.fail.load(std::sync::atomic::Ordering::SeqCst) {
            return Err("the ledger is down".into());
        }
        if let Some(budget) = self.budget.lock().unwrap().as_mut() {
            if *budget == 0 {
                return Err("the ledger is full".into());
            }
            *budget -= 1;
        }
        let mut taken = self.taken.lock().unwrap();
        taken.push(call.clone());
        Ok(taken.len() as u64)
    }
}

fn buffered(buffer: usize, spool: &Path) -> aigis_gateway::audit::AuditConfig {
    aigis_gateway::audit::AuditConfig {
        mode: aigis_gateway::audit::AuditMode::Buffered,
        buffer,
        spool: spool.to_owned(),
    }
}

/// The request digests of what `audit` took, in order.
fn taken(audit: &Flaky) -> Vec<Digest> {
    audit
        .taken
        .lock()
        .unwrap()
        .iter()
        .map(|c| c.request_sha256)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_buffered_mode_answers_while_the_ledger_is_down_then_records_in_order_or_spools() {
    let dir = tempfile::tempdir().unwrap();
    let spool = dir.path().join("audit.spool");
    let (key, hash) = aigis_gateway::auth::generate().unwrap();
    let ledger = Arc::new(Flaky::default());
    ledger.fail.store(true, std::sync::atomic::Ordering::SeqCst);
    let gw = Arc::new(
        Gateway::new(&config(hash.clone()), Path::new("/"), &[])
            .unwrap()
            .with_buffered_audit(ledger.clone(), &buffered(4, &spool), dir.path())
            .unwrap(),
    );
    let router = gw.clone().router();
    let call = |value: f32| {
        let router = router.clone();
        let key = key.expose().to_owned();
        async move {
            router
                .oneshot(request(Some(&key), 64, value))
                .await
                .unwrap()
                .status()
        }
    };
    // The ledger is down: four calls are answered (queued), the fifth is refused.
    let mut sent = Vec::new();
    for i in 0..4 {
        assert_eq!(call(i as f32 / 10.0).await, StatusCode::OK);
        let body = json!({"inputs": [{"name": "X", "shape": [1, 64], "datatype": "FP32", "data": vec![i as f32 / 10.0; 64]}]});
        sent.push(Digest::of(body.to_string().as_bytes()));
    }
    assert_eq!(call(0.9).await, StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        gw.metrics()
            .render()
            .contains("aigis_gateway_audit_queue 4")
    );
    assert!(taken(&ledger).is_empty());
    // It comes back: the queue reaches it, in order.
    ledger
        .fail
        .store(false, std::sync::atomic::Ordering::SeqCst);
    for _ in 0..100 {
        if taken(&ledger).len() == 4 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(taken(&ledger), sent);
    assert!(
        gw.metrics()
            .render()
            .contains("aigis_gateway_audit_queue 0")
    );

    // Down again at a stop: what is queued is spooled, and the next start records it
    // first, in order, before it serves.
    ledger.fail.store(true, std::sync::atomic::Ordering::SeqCst);
    assert_eq!(call(0.5).await, StatusCode::OK);
    assert_eq!(call(0.6).await, StatusCode::OK);
    let spooled =
        tokio::task::block_in_place(|| gw.drain_audit(std::time::Duration::from_millis(300)));
    assert_eq!(spooled, 2);
    assert!(spool.exists());
    assert_eq!(
        call(0.7).await,
        StatusCode::SERVICE_UNAVAILABLE,
        "stopping: nothing more is taken"
    );
    // A start while the ledger still refuses them does not serve.
    let refused = Gateway::new(&config(hash.clone()), Path::new("/"), &[])
        .unwrap()
        .with_buffered_audit(ledger.clone(), &buffered(4, &spool), dir.path());
    assert!(
        matches!(refused, Err(aigis_gateway::Error::Config { ref key, .. }) if key == "serve.audit.spool")
    );
    ledger
        .fail
        .store(false, std::sync::atomic::Ordering::SeqCst);
    let again = Gateway::new(&config(hash), Path::new("/"), &[])
        .unwrap()
        .with_buffered_audit(ledger.clone(), &buffered(4, &spool), dir.path())
        .unwrap();
    assert!(!spool.exists());
    let records = taken(&ledger);
    assert_eq!(records.len(), 6);
    let tail: Vec<Digest> = [0.5f32, 0.6]
        .iter()
        .map(|v| {
            let body = json!({"inputs": [{"name": "X", "shape": [1, 64], "datatype": "FP32", "data": vec![*v; 64]}]});
            Digest::of(body.to_string().as_bytes())
        })
        .collect();
    assert_eq!(records[4..], tail[..]);
    assert_eq!(again.drain_audit(std::time::Duration::from_millis(100)), 0);
}

/// A ledger that takes part of a batch and then fails: the writer tries again only what
/// was not taken, so nothing is recorded twice and the order holds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_buffered_writer_retries_only_what_the_ledger_did_not_take() {
    let dir = tempfile::tempdir().unwrap();
    let (key, hash) = aigis_gateway::auth::generate().unwrap();
    let ledger = Arc::new(Flaky::default());
    ledger.fail.store(true, std::sync::atomic::Ordering::SeqCst);
    let gw = Arc::new(
        Gateway::new(&config(hash), Path::new("/"), &[])
            .unwrap()
            .with_buffered_audit(
                ledger.clone(),
                &buffered(16, &dir.path().join("s")),
                dir.path(),
            )
            .unwrap(),
    );
    let router = gw.clone().router();
    let mut sent = Vec::new();
    for i in 0..6 {
        let value = i as f32 / 10.0;
        let status = router
            .clone()
            .oneshot(request(Some(key.expose()), 64, value))
            .await
            .unwrap()
            .status();
        assert_eq!(status, StatusCode::OK);
        let body = json!({"inputs": [{"name": "X", "shape": [1, 64], "datatype": "FP32", "data": vec![value; 64]}]});
        sent.push(Digest::of(body.to_string().as_bytes()));
    }
    // Back, but it takes two records and fails on the third.
    *ledger.budget.lock().unwrap() = Some(2);
    ledger
        .fail
        .store(false, std::sync::atomic::Ordering::SeqCst);
    for _ in 0..100 {
        if taken(&ledger).len() >= 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(taken(&ledger), sent[..2]);
    assert!(
        gw.metrics()
            .render()
            .contains("aigis_gateway_audit_queue 4")
    );
    *ledger.budget.lock().unwrap() = None;
    for _ in 0..100 {
        if taken(&ledger).len() >= 6 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(taken(&ledger), sent, "each once, in order");
    let spooled =
        tokio::task::block_in_place(|| gw.drain_audit(std::time::Duration::from_millis(100)));
    assert_eq!(spooled, 0);
}
