//! The gateway in `aigis demo`: a signed digits model served on a loopback port under a
//! Cedar policy, then driven over a real socket with an allowed call, a wrong key, a
//! principal the policy forbids, a malformed input and a burst over the rate limit, each
//! answered as it must be and each recorded in the ledger.

use std::path::Path;
use std::sync::Arc;

use aigis_gateway::authz::AuthzConfig;
use aigis_gateway::config::{ApiKeyConfig, ModelConfig};
use aigis_gateway::limits::LimitsConfig;
use aigis_gateway::{Gateway, ServeConfig};
use aigis_model::signing::{self, SignOptions, SignerKey, VerifierKey};
use anyhow::{Context as _, Result};
use serde_json::{Value, json};

use super::Log;

/// A scikit-learn MLP on the 8×8 digits, exported with skl2onnx
/// (`scripts/make_runtime_models.py`).
const DIGITS: &[u8] = include_bytes!("../../../../../tests/data/runtime/digits_mlp.onnx");

/// One HTTP call: its status, `Retry-After` and JSON body.
fn call(
    agent: &ureq::Agent,
    url: &str,
    key: &str,
    body: &Value,
) -> Result<(u16, Option<String>, Value)> {
    let mut resp = agent
        .post(url)
        .header("Authorization", &format!("Bearer {key}"))
        .header("Content-Type", "application/json")
        .send(body.to_string())
        .context("calling the gateway")?;
    let status = resp.status().as_u16();
    let retry = resp
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let text = resp
        .body_mut()
        .read_to_string()
        .context("reading the answer")?;
    Ok((
        status,
        retry,
        serde_json::from_str(&text).unwrap_or(Value::Null),
    ))
}

/// A string field of a JSON answer, or "".
fn field<'v>(body: &'v Value, name: &str) -> &'v str {
    body.get(name).and_then(Value::as_str).unwrap_or_default()
}

fn image(features: usize) -> Value {
    // A plain "1": a vertical stroke down the middle of the 8×8 grid.
    let pixels: Vec<f32> = (0..features)
        .map(|i| if i % 8 == 3 || i % 8 == 4 { 1.0 } else { 0.0 })
        .collect();
    json!({"inputs": [{"name": "X", "shape": [1, features], "datatype": "FP32", "data": pixels}]})
}

pub(crate) fn run(
    _cli: &crate::Cli,
    log: &mut Log<'_>,
    dir: &Path,
    project: &aigis_ledger::Project,
) -> Result<()> {
    let models = dir.join("serve");
    std::fs::create_dir_all(&models).context("creating the serve folder")?;
    let model = models.join("digits.onnx");
    std::fs::write(&model, DIGITS).context("writing the digits model")?;
    let key = SignerKey::from(crate::context::signing_key(project)?);
    let signed = signing::sign_model(&model, &key, &SignOptions::default(), &|_| {})?;
    std::fs::write(models.join("digits.onnx.sig"), signed.bundle.to_json())?;

    // Who may do what: the client may use the digits model; the intern may do nothing.
    std::fs::write(
        models.join("policies.cedar"),
        "permit (principal == Aigis::Principal::\"demo-client\", action, resource == Aigis::Model::\"digits\");\n\
         forbid (principal == Aigis::Principal::\"intern\", action, resource);\n",
    )
    .context("writing the policies")?;
    let (api_key, hash) = aigis_gateway::auth::generate().context("making an API key")?;
    let (intern_key, intern_hash) = aigis_gateway::auth::generate().context("making an API key")?;
    let model_entry = ModelConfig {
        name: "digits".into(),
        // Relative to the folder given to the gateway below.
        path: "serve/digits.onnx".into(),
        signature: None,
        verify: true,
        registry: None,
        file: None,
        identity: None,
        profile: None,
        detector: None,
        upstream: None,
    };
    let client = ApiKeyConfig {
        name: "demo-client".into(),
        sha256: hash,
    };
    let intern = ApiKeyConfig {
        name: "intern".into(),
        sha256: intern_hash,
    };
    let config = ServeConfig {
        authz: Some(AuthzConfig {
            policies: "serve/policies.cedar".into(),
            groups: Default::default(),
        }),
        limits: Some(LimitsConfig {
            rate: "1/min".into(),
            burst: 5,
            delay_ms: 0,
            daily_quota: None,
            fail_open: false,
            store: None,
        }),
        ..ServeConfig::loopback(vec![model_entry], vec![client, intern])
    };
    let trusted: Vec<VerifierKey> = crate::context::model_verifiers(project)?;
    let audit = aigis_gateway::audit::LedgerAudit::new(
        project.open_ledger()?,
        crate::context::signing_key(project)?,
    );
    let before = project.open_ledger()?.tree_size()?;
    let gateway = Arc::new(Gateway::new(&config, dir, &trusted)?.with_audit(Arc::new(audit)));
    let signed_by = gateway
        .models()
        .into_iter()
        .next()
        .and_then(|m| m.signed_by.clone())
        .unwrap_or_default();

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind(config.listen))
        .context("binding a loopback port")?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = runtime.spawn(aigis_gateway::serve(gateway, listener, None, async move {
        let _ = stopped.await;
    }));
    log.step(
        "serve",
        format!(
            "aigis serve: the digits model (a scikit-learn MLP, ONNX), its signature verified (key {}), on http://{addr}, API keys required, a Cedar policy (the client may use the model, the intern nothing), 5 rows at once then 1 a minute per client",
            signed_by.get(..16).unwrap_or_default()
        ),
        json!({"address": format!("http://{addr}"), "signed_by": signed_by}),
    );

    let agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .new_agent();
    let url = format!("http://{addr}/v2/models/digits/infer");
    let key = api_key.expose();

    let (status, _, body) = call(&agent, &url, key, &image(64))?;
    let label = body
        .get("outputs")
        .and_then(|o| o.get(0))
        .and_then(|o| o.get("data"))
        .and_then(|d| d.get(0))
        .cloned()
        .unwrap_or(Value::Null);
    log.expect(
        status == 200,
        "serve infer",
        format!("an allowed call (Open Inference Protocol v2): 200, the model reads a drawn \"1\" as {label}"),
        json!({"status": status, "response": body}),
    )?;
    let (status, _, body) = call(&agent, &url, "aigis_not-a-real-key", &image(64))?;
    log.expect(
        status == 401,
        "serve auth",
        format!("a wrong API key: {status} {}", field(&body, "code")),
        json!({"status": status, "response": body}),
    )?;
    let (status, _, body) = call(&agent, &url, intern_key.expose(), &image(64))?;
    log.expect(
        status == 403,
        "serve authorize",
        format!(
            "a principal the Cedar policy forbids (the intern, with a valid key): {status} {}",
            field(&body, "code")
        ),
        json!({"status": status, "response": body}),
    )?;
    let (status, _, body) = call(&agent, &url, key, &image(63))?;
    log.expect(
        status == 422,
        "serve validate",
        format!(
            "a malformed input (63 pixels): {status} {} ({})",
            field(&body, "code"),
            field(&body, "error")
        ),
        json!({"status": status, "response": body}),
    )?;
    let mut statuses = Vec::new();
    let mut retry_after = None;
    for _ in 0..4 {
        let (status, retry, _) = call(&agent, &url, key, &image(64))?;
        statuses.push(status);
        retry_after = retry_after.or(retry);
    }
    log.expect(
        statuses == [200, 200, 200, 429] && retry_after.is_some(),
        "serve rate limit",
        format!(
            "a burst of 4 more calls: {statuses:?}; the last is over the rate limit (the malformed call was charged too), Retry-After {}s",
            retry_after.as_deref().unwrap_or("?")
        ),
        json!({"statuses": statuses, "retry_after": retry_after}),
    )?;

    let _ = stop.send(());
    runtime.block_on(server).context("the gateway task")??;
    let recorded = project.open_ledger()?.tree_size()? - before;
    log.expect(
        // One record per call: 1 allowed, a wrong key, the intern, a malformed input, a
        // burst of 4.
        recorded == 8,
        "serve audit",
        format!(
            "every call is in the ledger before its answer left: {recorded} signed gateway-call records for the 8 calls (4 allowed, 4 refused)"
        ),
        json!({"records": recorded}),
    )?;
    Ok(())
}
