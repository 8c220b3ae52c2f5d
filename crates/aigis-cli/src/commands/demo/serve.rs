//! The gateway in `aigis demo`: a signed digits model served on a loopback port under a
//! Cedar policy, then driven over a real socket with an allowed call, a wrong key, a
//! principal the policy forbids, a malformed input and a burst over the rate limit, each
//! answered as it must be and each recorded in the ledger; then a second gateway for the
//! same model with extraction detection, where a copier is refused and a partner is not;
//! then a third, watching the model as a platform would, through which clean traffic, a
//! drifted batch and IBM ART's adversarial digits are replayed.

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
pub(crate) const DIGITS: &[u8] =
    include_bytes!("../../../../../tests/data/runtime/digits_mlp.onnx");

/// The 40 test digits exported with it (and onnxruntime's answers), the reference the
/// demo's detectors are fitted on.
pub(crate) const DIGITS_ROWS: &str =
    include_str!("../../../../../tests/data/runtime/digits_mlp.json");

/// IBM ART's FGSM and PGD digits against the model, the ones it misreads
/// (`scripts/make_demo_adversarials.py`).
const ADVERSARIAL: &str =
    include_str!("../../../../../tests/data/demo/digits_mlp_adversarial.json");

/// The demo's reference rows: the 40 digits and 19 jittered copies of each, 800 rows.
fn reference() -> Result<Vec<Vec<f64>>> {
    jittered(3, 19, true)
}

/// The 40 test digits (pixels scaled to [0, 1] as the model was trained), and after each
/// `copies` copies with each lit pixel moved by one grey level (1/16) up, down or not,
/// from the seed; without `originals`, the copies alone.
fn jittered(seed: u64, copies: usize, originals: bool) -> Result<Vec<Vec<f64>>> {
    let fixture: Value = serde_json::from_str(DIGITS_ROWS).context("reading the digits")?;
    let pixels = fixture
        .pointer("/inputs/X/data")
        .cloned()
        .unwrap_or_default();
    let data: Vec<f64> = serde_json::from_value(pixels).context("reading the digits' pixels")?;
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut out = Vec::new();
    for row in data.chunks(64) {
        if originals {
            out.push(row.to_vec());
        }
        for _ in 0..copies {
            out.push(
                row.iter()
                    .map(|&v| {
                        if v == 0.0 {
                            0.0
                        } else {
                            (v + f64::from(rng.i32(-1..=1)) / 16.0).clamp(0.0, 1.0)
                        }
                    })
                    .collect(),
            );
        }
    }
    Ok(out)
}

/// Fits the detectors (out-of-distribution forest, feature squeezing at 3 bits) on the
/// reference for the served model, writes the file and signs it with the project's key.
fn fit_detector(
    cli: &crate::Cli,
    model: &Path,
    out: &Path,
    project: &aigis_ledger::Project,
) -> Result<()> {
    use aigis_monitor::detect::{self, FitOptions, Matrix, SqueezeOptions, Squeezer};
    let rows = reference()?;
    let matrix = Matrix::new(rows.len(), 64, rows.concat(), Matrix::positional_names(64))?;
    let runtime = aigis_runtime::OnnxRuntime::from_bytes(DIGITS)?;
    let served = aigis_gateway::detect::RuntimeModel::new(Arc::new(runtime), None)
        .map_err(anyhow::Error::msg)?;
    let opts = FitOptions {
        fpr: 0.01,
        squeeze: Some(SqueezeOptions {
            squeezers: vec![Squeezer::Bits(3)],
            image: Some(detect::Image {
                height: 8,
                width: 8,
                channels: 1,
            }),
            range: Some((0.0, 1.0)),
            model_sha256: aigis_core::Digest::of(&std::fs::read(model)?).hex(),
        }),
        ..FitOptions::default()
    };
    let fitted = detect::fit(&matrix, None, Some(&served), &opts)?;
    std::fs::write(out, serde_json::to_vec(&fitted)?).context("writing the detector file")?;
    let (signature, _) = crate::commands::model::sign::sign_file(cli, project, out)?;
    let subjects = vec![
        (
            format!("detector:{}", out.display()),
            aigis_crypto::sha256_file(out)?,
        ),
        (
            "reference:tests/data/runtime/digits_mlp.json (jittered to 800 rows)".to_owned(),
            aigis_core::Digest::of(DIGITS_ROWS.as_bytes()),
        ),
        (
            format!("model:{}", model.display()),
            aigis_crypto::sha256_file(model)?,
        ),
    ];
    crate::commands::detect::record_fit(project, &fitted, &signature, subjects)?;
    Ok(())
}

/// The detector file fitted by [`fit_detector`], verified, its flags letting calls
/// through.
fn flagging_detector() -> aigis_gateway::detect::DetectorConfig {
    aigis_gateway::detect::DetectorConfig {
        file: "serve/digits.detector.json".into(),
        signature: None,
        verify: true,
        action: aigis_gateway::inspect::Action::Flag,
        detectors: None,
        input: None,
    }
}

/// A gateway for `config` whose calls are recorded in the project's ledger.
fn audited(
    config: &ServeConfig,
    dir: &Path,
    trusted: &[VerifierKey],
    project: &aigis_ledger::Project,
) -> Result<Arc<Gateway>> {
    let audit = aigis_gateway::audit::LedgerAudit::new(
        project.open_ledger()?,
        crate::context::signing_key(project)?,
    );
    Ok(Arc::new(
        Gateway::new(config, dir, trusted)?.with_audit(Arc::new(audit)),
    ))
}

/// A gateway served on `config`'s loopback address until [`Serving::stop`].
struct Serving {
    addr: std::net::SocketAddr,
    stop: tokio::sync::oneshot::Sender<()>,
    server: tokio::task::JoinHandle<Result<(), aigis_gateway::Error>>,
}

impl Serving {
    fn start(
        gateway: Arc<Gateway>,
        config: &ServeConfig,
        runtime: &tokio::runtime::Runtime,
    ) -> Result<Self> {
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind(config.listen))
            .context("binding a loopback port")?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = runtime.spawn(aigis_gateway::serve(gateway, listener, None, async move {
            let _ = stopped.await;
        }));
        Ok(Self { addr, stop, server })
    }

    /// Stops it and waits for it to return, which must be `Ok`.
    fn stop(self, runtime: &tokio::runtime::Runtime) -> Result<()> {
        let _ = self.stop.send(());
        runtime
            .block_on(self.server)
            .context("the gateway task")??;
        Ok(())
    }
}

/// An HTTP client that hands back every status rather than failing on one.
fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .new_agent()
}

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

/// The newest `gateway-call` record in the project's ledger (a gateway records its
/// monitors' windows between its calls).
fn last_call(project: &aigis_ledger::Project) -> Result<aigis_evidence::GatewayCall> {
    use aigis_evidence::Predicate as _;
    let ledger = project.open_ledger()?;
    let entry = ledger
        .store()
        .query(&aigis_ledger::Query {
            predicate_type: Some(aigis_evidence::GatewayCall::TYPE.to_owned()),
            limit: Some(1),
            newest_first: true,
            ..aigis_ledger::Query::default()
        })?
        .into_iter()
        .next()
        .context("the ledger has no gateway-call record")?;
    let envelope = aigis_crypto::dsse::Envelope::from_json(&entry.body)?;
    let statement = aigis_core::Statement::from_json(&envelope.payload)?;
    Ok(aigis_evidence::GatewayCall::from_statement(&statement)?)
}

/// The detector flags (name, reasons) of the newest `gateway-call` record in the ledger.
fn last_flags(project: &aigis_ledger::Project) -> Result<Vec<(String, Vec<String>)>> {
    Ok(last_call(project)?
        .flags
        .into_iter()
        .map(|f| (f.detector, f.reasons))
        .collect())
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
    cli: &crate::Cli,
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
    fit_detector(cli, &model, &models.join("digits.detector.json"), project)?;

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
        // Relative to the folder given to the gateway below.
        path: "serve/digits.onnx".into(),
        detector: Some(flagging_detector()),
        ..ModelConfig::named("digits")
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
            burst: 7,
            delay_ms: 0,
            daily_quota: None,
            fail_open: false,
            store: None,
        }),
        ..ServeConfig::loopback(vec![model_entry], vec![client, intern])
    };
    let trusted: Vec<VerifierKey> = crate::context::model_verifiers(project)?;
    let before = project.open_ledger()?.tree_size()?;
    let gateway = audited(&config, dir, &trusted, project)?;
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
    let server = Serving::start(gateway, &config, &runtime)?;
    let addr = server.addr;
    log.step(
        "serve",
        format!(
            "aigis serve: the digits model (a scikit-learn MLP, ONNX), its signature verified (key {}), on http://{addr}, API keys required, a Cedar policy (the client may use the model, the intern nothing), detectors of out-of-distribution and adversarial inputs fitted on 800 digits (flag), 7 rows at once then 1 a minute per client",
            signed_by.get(..16).unwrap_or_default()
        ),
        json!({"address": format!("http://{addr}"), "signed_by": signed_by}),
    );

    let agent = agent();
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
    // The detectors: a digit like the reference passes unflagged; the same digit with a
    // corner pixel no reference digit uses is let through (`flag`) and its record says why.
    let digit: Vec<f32> = reference()?
        .first()
        .map(|r| r.iter().map(|&v| v as f32).collect())
        .unwrap_or_default();
    let mut odd = digit.clone();
    if let Some(p) = odd.first_mut() {
        *p = 0.5625;
    }
    let mut seen = Vec::new();
    for pixels in [&digit, &odd] {
        let body = json!({"inputs": [{"name": "X", "shape": [1, 64], "datatype": "FP32", "data": pixels}]});
        let (status, _, _) = call(&agent, &url, key, &body)?;
        seen.push((status, last_flags(project)?));
    }
    let flagged_by: Vec<String> = seen
        .get(1)
        .map(|(_, f)| f.iter().map(|x| x.0.clone()).collect())
        .unwrap_or_default();
    log.expect(
        seen.first().is_some_and(|(s, f)| *s == 200 && f.is_empty())
            && seen.get(1).is_some_and(|(s, f)| *s == 200 && !f.is_empty()),
        "serve detect",
        format!(
            "a test digit passes unflagged; the same digit with a corner pixel no training digit uses is let through and flagged by {} ({})",
            flagged_by.join(" and "),
            seen.get(1)
                .and_then(|(_, f)| f.first())
                .and_then(|x| x.1.first())
                .cloned()
                .unwrap_or_default()
        ),
        json!({"statuses": seen.iter().map(|(s, _)| s).collect::<Vec<_>>(), "flags": seen.iter().map(|(_, f)| f).collect::<Vec<_>>()}),
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

    server.stop(&runtime)?;
    let recorded = project.open_ledger()?.tree_size()? - before;
    log.expect(
        // One record per call: 1 allowed, a wrong key, the intern, a malformed input, the
        // two digits of the detectors, a burst of 4.
        recorded == 10,
        "serve audit",
        format!(
            "every call is in the ledger before its answer left: {recorded} signed gateway-call records for the 10 calls (6 allowed, 4 refused)"
        ),
        json!({"records": recorded}),
    )?;
    extraction(log, dir, project, &trusted, &runtime)?;
    monitor(log, dir, project, &trusted, &runtime)
}

/// A second gateway for the same model, as a public API would serve it: no rate limit,
/// the extraction detector blocking. A partner replays the 40 test digits; a copier
/// sweeps one pixel at a time around a digit and is refused once its steps give it away.
fn extraction(
    log: &mut Log<'_>,
    dir: &Path,
    project: &aigis_ledger::Project,
    trusted: &[VerifierKey],
    runtime: &tokio::runtime::Runtime,
) -> Result<()> {
    let (partner_key, partner_hash) =
        aigis_gateway::auth::generate().context("making an API key")?;
    let (copier_key, copier_hash) = aigis_gateway::auth::generate().context("making an API key")?;
    let extraction: aigis_gateway::extraction::ExtractionConfig =
        serde_json::from_value(json!({"action": "block"})).context("the extraction settings")?;
    let model_entry = ModelConfig {
        path: "serve/digits.onnx".into(),
        extraction: Some(extraction),
        ..ModelConfig::named("digits")
    };
    let config = ServeConfig::loopback(
        vec![model_entry],
        vec![
            ApiKeyConfig {
                name: "partner".into(),
                sha256: partner_hash,
            },
            ApiKeyConfig {
                name: "copier".into(),
                sha256: copier_hash,
            },
        ],
    );
    let server = Serving::start(audited(&config, dir, trusted, project)?, &config, runtime)?;
    let addr = server.addr;
    let agent = agent();
    let url = format!("http://{addr}/v2/models/digits/infer");
    let row = |pixels: &[f32]| json!({"inputs": [{"name": "X", "shape": [1, 64], "datatype": "FP32", "data": pixels}]});
    let digits: Vec<Vec<f32>> = reference()?
        .iter()
        .step_by(20)
        .map(|r| r.iter().map(|&v| v as f32).collect())
        .collect();
    let mut partner = Vec::new();
    for d in &digits {
        partner.push(call(&agent, &url, partner_key.expose(), &row(d))?.0);
    }
    let partner_flagged = !last_flags(project)?.is_empty();
    // The copier: each pixel of a digit in turn through 0, 1/4, 1/2, 3/4 and 1.
    let base = digits.first().cloned().unwrap_or_default();
    let mut answered = 0usize;
    let mut refused = None;
    'sweep: for pixel in 0..base.len() {
        for v in [0.0f32, 0.25, 0.5, 0.75, 1.0] {
            let mut q = base.clone();
            if let Some(p) = q.get_mut(pixel) {
                *p = v;
            }
            let (status, _, body) = call(&agent, &url, copier_key.expose(), &row(&q))?;
            if status == 200 {
                answered += 1;
            } else {
                refused = Some((status, field(&body, "code").to_owned()));
                break 'sweep;
            }
        }
    }
    let why = last_flags(project)?
        .into_iter()
        .find(|(d, _)| d == "extraction")
        .and_then(|(_, r)| r.into_iter().next())
        .unwrap_or_default();
    server.stop(runtime)?;
    log.expect(
        partner.iter().all(|s| *s == 200)
            && !partner_flagged
            && refused.as_ref().is_some_and(|(s, c)| *s == 403 && c == "extraction_suspected")
            && why.starts_with("probing"),
        "serve extraction",
        format!(
            "a public gateway for the same model, extraction detection on: a partner's {} test digits all answered, unflagged; a copier sweeping one pixel at a time is answered {answered} times, then refused ({} {}); the ledger says why: {why}",
            partner.len(),
            refused.as_ref().map_or(0, |r| r.0),
            refused.as_ref().map_or("", |r| r.1.as_str()),
        ),
        json!({"partner": partner, "copier_answered": answered, "refused": refused, "reason": why}),
    )?;
    Ok(())
}

/// A third gateway for the same model, watching it as an ML platform would: the
/// detectors flagging, the training profile checking values, drift in one-second windows.
/// Through it go clean traffic (fresh jittered copies of the test digits) and the same
/// digits dimmed to 60 % (a failing scanner lamp), each as one batch; then IBM ART's FGSM
/// and PGD digits one call each. The demo shows what each detector flagged, what the
/// profile refused, and the drift verdicts.
fn monitor(
    log: &mut Log<'_>,
    dir: &Path,
    project: &aigis_ledger::Project,
    trusted: &[VerifierKey],
    runtime: &tokio::runtime::Runtime,
) -> Result<()> {
    // The training data's profile, from the reference rows.
    let csv = dir.join("serve/reference.csv");
    let mut text = (0..64)
        .map(|i| format!("p{i}"))
        .collect::<Vec<_>>()
        .join(",");
    text.push('\n');
    for row in reference()? {
        text += &row
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(",");
        text.push('\n');
    }
    std::fs::write(&csv, text).context("writing the reference rows")?;
    let profile = aigis_data::scan::profile(
        &csv,
        None,
        &aigis_data::table::ReadOptions::default(),
        Some(1),
        &|_| {},
    )?;
    std::fs::write(
        dir.join("serve/digits.profile.json"),
        serde_json::to_vec(&profile)?,
    )
    .context("writing the profile")?;

    let (key, hash) = aigis_gateway::auth::generate().context("making an API key")?;
    let model_entry = ModelConfig {
        path: "serve/digits.onnx".into(),
        detector: Some(flagging_detector()),
        profile: Some(
            serde_json::from_value(
                json!({"file": "serve/digits.profile.json", "tolerance": 0.0, "action": "flag"}),
            )
            .context("the profile settings")?,
        ),
        drift: Some(
            serde_json::from_value(json!({"window_s": 1, "windows": 10, "sliding": 1}))
                .context("the drift settings")?,
        ),
        ..ModelConfig::named("digits")
    };
    let config = ServeConfig::loopback(
        vec![model_entry],
        vec![ApiKeyConfig {
            name: "platform".into(),
            sha256: hash,
        }],
    );
    let server = Serving::start(audited(&config, dir, trusted, project)?, &config, runtime)?;
    let addr = server.addr;
    let agent = agent();
    let url = format!("http://{addr}/v2/models/digits/infer");
    // A batch in one call: its status and the rows each detector flagged.
    let batch = |rows: &[Vec<f64>]| -> Result<(u16, Vec<(String, u64)>)> {
        let data: Vec<f32> = rows.iter().flatten().map(|&v| v as f32).collect();
        let body = json!({"inputs": [{"name": "X", "shape": [rows.len(), 64], "datatype": "FP32", "data": data}]});
        let (status, _, _) = call(&agent, &url, key.expose(), &body)?;
        Ok((status, last_flagged_rows(project)?))
    };
    // Rows one call each: the rows the profile refused counted as `refused`, the rows
    // each detector flagged under its name.
    let one_by_one = |rows: &[Vec<f64>]| -> Result<Vec<(String, u64)>> {
        let mut counts: std::collections::BTreeMap<String, u64> = Default::default();
        for row in rows {
            let (status, flags) = batch(std::slice::from_ref(row))?;
            if status == 422 {
                *counts.entry("refused".into()).or_default() += 1;
            }
            for (d, k) in flags {
                *counts.entry(d).or_default() += k;
            }
        }
        Ok(counts.into_iter().collect())
    };
    let drift = || -> Result<(String, u64, u64)> {
        let mut resp = agent
            .get(&format!("http://{addr}/v2/models/digits/drift"))
            .header("Authorization", &format!("Bearer {}", key.expose()))
            .call()
            .context("asking for the drift")?;
        let v: Value = serde_json::from_str(&resp.body_mut().read_to_string()?)?;
        let w = v.get("sliding").cloned().unwrap_or_default();
        Ok((
            field(&w, "verdict").to_owned(),
            w.get("drifted").and_then(Value::as_u64).unwrap_or_default(),
            w.get("tested").and_then(Value::as_u64).unwrap_or_default(),
        ))
    };
    // Each batch in a one-second window of its own.
    let next_window = || {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        std::thread::sleep(std::time::Duration::from_millis(
            1010 - u64::from(now.subsec_millis()),
        ));
    };
    let clean = jittered(11, 10, false)?;
    let dimmed: Vec<Vec<f64>> = clean
        .iter()
        .map(|r| r.iter().map(|v| v * 0.6).collect())
        .collect();
    let attacks: Value = serde_json::from_str(ADVERSARIAL).context("reading the attacks")?;
    let mut seen = Vec::new();
    next_window();
    let (status, flags) = batch(&clean)?;
    let verdict = drift()?;
    seen.push((
        "clean traffic".to_owned(),
        clean.len(),
        status,
        flags,
        Some(verdict),
    ));
    next_window();
    let (status, flags) = batch(&dimmed)?;
    let verdict = drift()?;
    seen.push((
        "the same digits dimmed to 60 %".to_owned(),
        dimmed.len(),
        status,
        flags,
        Some(verdict),
    ));
    for attack in attacks
        .get("attacks")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let rows: Vec<Vec<f64>> =
            serde_json::from_value(attack.get("rows").cloned().unwrap_or_default())
                .context("reading the attack's rows")?;
        let name = format!(
            "ART {} (eps {}{})",
            field(attack, "attack"),
            attack.get("eps").cloned().unwrap_or_default(),
            if attack.get("masked").and_then(Value::as_bool) == Some(true) {
                ", only on pixels digits light"
            } else {
                ""
            }
        );
        let flags = one_by_one(&rows)?;
        seen.push((name, rows.len(), 200, flags, None));
    }
    server.stop(runtime)?;

    let share = |flags: &[(String, u64)], detector: &str, n: usize| {
        flags
            .iter()
            .find(|(d, _)| d == detector)
            .map_or(0.0, |(_, k)| *k as f64 / n.max(1) as f64)
    };
    let described: Vec<String> = seen
        .iter()
        .map(|(name, n, status, flags, verdict)| {
            let by: Vec<String> = flags
                .iter()
                .map(|(d, k)| {
                    if d == "refused" {
                        format!("{k} refused by the profile")
                    } else {
                        format!("{k} flagged by {d}")
                    }
                })
                .collect();
            format!(
                "{name}: {n} rows{}, {}{}",
                if *status == 200 {
                    String::new()
                } else {
                    format!(" (answered {status})")
                },
                if by.is_empty() {
                    "none flagged".to_owned()
                } else {
                    by.join(", ")
                },
                verdict
                    .as_ref()
                    .map(|(v, d, t)| format!(
                        ", drift verdict {v} ({d} of {t} tested features drifted)"
                    ))
                    .unwrap_or_default()
            )
        })
        .collect();
    let clean_ok = seen.first().is_some_and(|(_, n, s, f, v)| {
        *s == 200
            && ["ood", "mahalanobis", "squeeze"]
                .iter()
                .all(|d| share(f, d, *n) <= 0.05)
            && v.as_ref().is_some_and(|v| v.0 == "stable")
    });
    let drift_seen = seen
        .get(1)
        .is_some_and(|(_, _, s, _, v)| *s == 200 && v.as_ref().is_some_and(|v| v.0 == "drift"));
    // Every attack is caught (refused, or flagged by some detector) far above the rate
    // at which clean rows are flagged.
    let clean_rate = seen.first().map_or(0.0, |(_, n, _, f, _)| {
        f.iter().map(|(_, k)| *k as f64).sum::<f64>() / (*n).max(1) as f64
    });
    let attacks_seen = seen.len() == 6
        && seen.iter().skip(2).all(|(_, n, _, f, _)| {
            f.iter()
                .map(|(_, k)| *k as f64 / (*n).max(1) as f64)
                .fold(0.0, f64::max)
                >= (10.0 * clean_rate).max(0.5)
        });
    log.expect(
        clean_ok && drift_seen && attacks_seen,
        "serve monitor",
        format!(
            "a third gateway watching the model (the detectors flagging, the training profile checking values, drift in one-second windows): {}",
            described.join("; ")
        ),
        json!({"batches": seen.iter().map(|(name, n, s, f, v)| json!({
            "batch": name, "rows": n, "status": s,
            "flagged_rows": f.iter().map(|(d, k)| (d.clone(), json!(k))).collect::<serde_json::Map<String, Value>>(),
            "drift": v.as_ref().map(|(verdict, d, t)| json!({"verdict": verdict, "drifted": d, "tested": t})),
        })).collect::<Vec<_>>()}),
    )?;
    report(log, project)
}

/// What the gateways saw, read back from the ledger alone (the stopped gateway recorded
/// its last window), as `aigis monitor report` does: its page in the project's folder.
fn report(log: &mut Log<'_>, project: &aigis_ledger::Project) -> Result<()> {
    let ledger = project.open_ledger()?;
    let keys = project.keyring()?.public_keys();
    let now = aigis_ledger::now_ms();
    let report = crate::commands::monitor::report::gather(
        ledger.store(),
        &keys,
        (now - 3_600_000, now + 1),
        1000,
        &std::collections::BTreeSet::from(["digits".to_owned()]),
    )?;
    let path = project.root.join("monitor-report.html");
    crate::context::write_output(&path, crate::report::monitor::page(&report).as_bytes())?;
    let Some(digits) = report.models.first() else {
        return Err(crate::failed(
            "demo step `monitor report`: no evidence of the digits model".to_owned(),
        ));
    };
    let verdicts: Vec<&str> = digits
        .drift
        .iter()
        .map(|w| w.window.drift.verdict.as_str())
        .collect();
    let flagged: std::collections::BTreeMap<&str, u64> = digits
        .detectors
        .iter()
        .map(|d| {
            let rows = digits
                .calls
                .iter()
                .filter_map(|b| b.flagged_rows.get(d))
                .sum();
            (d.as_str(), rows)
        })
        .collect();
    let calls: u64 = digits.calls.iter().map(|b| b.calls).sum();
    log.expect(
        verdicts.contains(&"stable")
            && verdicts.contains(&"drift")
            && report.unreadable.is_empty()
            && flagged.values().any(|n| *n > 0),
        "monitor report",
        format!(
            "aigis monitor report, from the signed evidence alone: {} drift windows of the digits model ({}), {calls} calls, rows flagged by {}; the page is {}",
            verdicts.len(),
            verdicts.join(", "),
            flagged
                .iter()
                .map(|(d, n)| format!("{d} {n}"))
                .collect::<Vec<_>>()
                .join(", "),
            path.display()
        ),
        json!({"drift": verdicts, "calls": calls, "flagged_rows": flagged, "page": path}),
    )
}

/// The rows each detector flagged in the newest `gateway-call` record (its `rows`; a
/// detector that judged the call as a whole counts every row).
fn last_flagged_rows(project: &aigis_ledger::Project) -> Result<Vec<(String, u64)>> {
    let call = last_call(project)?;
    Ok(call
        .flags
        .iter()
        .map(|f| (f.detector.clone(), f.rows.or(call.rows).unwrap_or_default()))
        .collect())
}
