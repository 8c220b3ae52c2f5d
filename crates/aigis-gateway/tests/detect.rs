//! The detectors of `aigis detect fit` at the inspection seam, in front of the digits
//! MLP: a detector file fitted (out-of-distribution forest and feature squeezing) on
//! digit-like rows and signed; rows like them pass, a row unlike them is blocked or
//! flagged with reasons that quote no value, a row that cannot be scored is flagged by
//! both, and a file that is unsigned, tampered, fitted for another model or asked for a
//! detector it lacks stops the start, naming the key. Squeezing runs after the model
//! call, on the answer served: a block withholds it.

use crate::common;

use std::path::Path;
use std::sync::Arc;

use aigis_core::Digest;
use aigis_gateway::detect::{DetectorConfig, RuntimeModel};
use aigis_gateway::inspect::{Action, Inspected};
use aigis_gateway::{Gateway, ServeConfig};
use aigis_model::signing::{self, SignOptions, SignerKey};
use aigis_monitor::detect::{self, FitOptions, SqueezeOptions, Squeezer};
use aigis_runtime::{Data, NamedTensor, OnnxRuntime, Runtime, Tensor};
use axum::http::StatusCode;
use serde_json::{Value, json};

/// The 40 digits exported with the model, each also with 19 jittered copies (±1 on the
/// pixels that are not 0): 800 rows.
/// Fits the detector file for the digits model in `dir`, signed with `key`.
fn fit(dir: &Path, key: &SignerKey, model_sha256: Option<&str>) {
    fit_then(dir, key, model_sha256, |_| {});
}

/// [`fit`], with the file changed by `edit` before it is signed.
fn fit_then(
    dir: &Path,
    key: &SignerKey,
    model_sha256: Option<&str>,
    edit: impl FnOnce(&mut detect::Detector),
) {
    let bytes = std::fs::read(common::runtime_model("digits_mlp.onnx")).unwrap();
    let runtime = Arc::new(OnnxRuntime::from_bytes(&bytes).unwrap());
    let model = RuntimeModel::new(runtime, None).unwrap();
    let opts = FitOptions {
        fpr: 0.05,
        trees: 100,
        squeeze: Some(SqueezeOptions {
            squeezers: vec![Squeezer::Bits(3)],
            image: Some("8x8".parse().unwrap()),
            range: Some((0.0, 16.0)),
            model_sha256: model_sha256.map_or_else(|| Digest::of(&bytes).hex(), str::to_owned),
        }),
        ..FitOptions::default()
    };
    let mut d = detect::fit(&common::digits_reference(), None, Some(&model), &opts).unwrap();
    edit(&mut d);
    let path = dir.join("digits.detector.json");
    std::fs::write(&path, serde_json::to_vec(&d).unwrap()).unwrap();
    let signed = signing::sign_model(&path, key, &SignOptions::default(), &|_| {}).unwrap();
    std::fs::write(
        dir.join("digits.detector.json.sig"),
        signed.bundle.to_json(),
    )
    .unwrap();
}

struct Setup {
    _dir: tempfile::TempDir,
    app: axum::Router,
    key: String,
    recorder: Arc<common::Recorder>,
}

fn config(action: Action, detectors: Option<Vec<String>>) -> DetectorConfig {
    DetectorConfig {
        file: "digits.detector.json".into(),
        signature: None,
        verify: true,
        action,
        detectors,
        input: None,
    }
}

fn start(
    dir: tempfile::TempDir,
    signer: &SignerKey,
    detector: DetectorConfig,
) -> Result<Setup, aigis_gateway::Error> {
    let (keys, entries) = common::keys(&["ci"]);
    let mut model = common::model("digits", "digits_mlp.onnx");
    model.detector = Some(detector);
    let config = ServeConfig::loopback(vec![model], entries);
    let recorder = Arc::new(common::Recorder::default());
    let gateway =
        Gateway::new(&config, dir.path(), &[signer.public()])?.with_audit(recorder.clone());
    Ok(Setup {
        _dir: dir,
        app: Arc::new(gateway).router(),
        key: keys["ci"].clone(),
        recorder,
    })
}

fn setup(action: Action) -> (Setup, Vec<Vec<f32>>) {
    let dir = tempfile::tempdir().unwrap();
    let signer = SignerKey::Ed25519(aigis_crypto::SigningKey::generate());
    fit(dir.path(), &signer, None);
    let rows = common::digits_reference()
        .data
        .chunks(64)
        .step_by(20)
        .map(|r| r.iter().map(|&v| v as f32).collect())
        .collect();
    (start(dir, &signer, config(action, None)).unwrap(), rows)
}

impl Setup {
    async fn infer(&self, rows: &[Vec<f32>]) -> (StatusCode, Value) {
        common::infer_binary(&self.app, &self.key, "digits", rows).await
    }

    fn last(&self) -> aigis_evidence::GatewayCall {
        self.recorder.calls.lock().unwrap().last().unwrap().clone()
    }
}

#[tokio::test]
async fn rows_like_the_reference_pass_and_a_row_unlike_it_is_blocked_or_flagged() {
    let (s, rows) = setup(Action::Block);
    let (status, v) = s.infer(&rows[..10]).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert!(s.last().flags.is_empty(), "{:?}", s.last().flags);
    // A corner pixel, 0 in every reference row, at 9: blocked, nothing given away.
    let mut odd = rows[3].clone();
    odd[0] = 9.0;
    let (status, v) = s.infer(&[rows[1].clone(), odd.clone()]).await;
    assert_eq!(
        (status, v["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("input_blocked")),
        "{v}"
    );
    assert!(!v["error"].as_str().unwrap().contains("x0"), "{v}");
    let flags = s.last().flags;
    assert_eq!(flags[0].detector, "ood");
    assert_eq!(flags[0].action, "block");
    assert_eq!(flags[0].score, Some(1.0));
    let reasons = flags[0].reasons.join(" | ");
    assert!(
        reasons.contains("row 1: isolation score 1 is above"),
        "{reasons}"
    );
    assert!(
        reasons.contains("row 1: `x0` is outside the reference's 0 to 0"),
        "{reasons}"
    );
    assert!(
        !reasons.contains('9'),
        "the record quotes a value: {reasons}"
    );

    // Flagging lets the call through; a row that cannot be scored (NaN, which the
    // reference never had) is flagged by every detector.
    let (s, rows) = setup(Action::Flag);
    let (status, _) = s.infer(&[odd]).await;
    assert_eq!(status, StatusCode::OK);
    let mut nan = rows[2].clone();
    nan[20] = f32::NAN;
    let (status, _) = s.infer(&[rows[0].clone(), nan]).await;
    assert_eq!(status, StatusCode::OK);
    let detectors: Vec<String> = s.last().flags.iter().map(|f| f.detector.clone()).collect();
    assert_eq!(detectors, ["ood", "mahalanobis", "squeeze"]);
    assert!(
        s.last().flags[0].reasons[0].contains("`x20` is NaN"),
        "{:?}",
        s.last().flags
    );
}

fn refused(r: Result<Setup, aigis_gateway::Error>) -> String {
    match r {
        Err(aigis_gateway::Error::Config { key, message, .. }) => format!("{key}: {message}"),
        Err(e) => panic!("{e}"),
        Ok(_) => panic!("started"),
    }
}

#[test]
fn a_detector_file_that_cannot_be_trusted_or_used_stops_the_start() {
    let signer = SignerKey::Ed25519(aigis_crypto::SigningKey::generate());
    // Tampered: the threshold raised so that nothing is flagged.
    let dir = tempfile::tempdir().unwrap();
    fit(dir.path(), &signer, None);
    let path = dir.path().join("digits.detector.json");
    let mut v: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    v["ood"]["threshold"] = json!(0.999);
    std::fs::write(&path, v.to_string()).unwrap();
    let e = refused(start(dir, &signer, config(Action::Flag, None)));
    assert!(
        e.starts_with("serve.models[0].detector.file: ")
            && e.contains("not the file its signature signed"),
        "{e}"
    );
    // Unsigned.
    let dir = tempfile::tempdir().unwrap();
    fit(dir.path(), &signer, None);
    std::fs::remove_file(dir.path().join("digits.detector.json.sig")).unwrap();
    assert!(refused(start(dir, &signer, config(Action::Flag, None))).contains("unsigned"));
    // Signed by a key that is not trusted.
    let dir = tempfile::tempdir().unwrap();
    fit(
        dir.path(),
        &SignerKey::Ed25519(aigis_crypto::SigningKey::generate()),
        None,
    );
    assert!(refused(start(dir, &signer, config(Action::Flag, None))).contains("does not verify"));
    // Calibrated with another model.
    let dir = tempfile::tempdir().unwrap();
    fit(dir.path(), &signer, Some(&"0".repeat(64)));
    assert!(
        refused(start(dir, &signer, config(Action::Flag, None)))
            .contains("fit it again for this model")
    );
    // ... which a file of the ood detector only does not care about.
    let dir = tempfile::tempdir().unwrap();
    fit(dir.path(), &signer, Some(&"0".repeat(64)));
    assert!(start(dir, &signer, config(Action::Flag, Some(vec!["ood".into()]))).is_ok());
    // A detector the file does not have.
    let dir = tempfile::tempdir().unwrap();
    fit(dir.path(), &signer, None);
    let e = refused(start(
        dir,
        &signer,
        config(Action::Flag, Some(vec!["prada".into()])),
    ));
    assert!(
        e.starts_with("serve.models[0].detector.detectors: the file has no detector `prada`"),
        "{e}"
    );
}

#[tokio::test]
async fn squeezing_reads_the_answer_served_and_a_block_withholds_it() {
    // Every row flagged by squeezing (a threshold under any L1 distance), signed as is.
    let signer = SignerKey::Ed25519(aigis_crypto::SigningKey::generate());
    let dir = tempfile::tempdir().unwrap();
    fit_then(dir.path(), &signer, None, |d| {
        d.squeeze.as_mut().unwrap().threshold = -1.0;
    });
    let row: Vec<f32> = common::digits_reference()
        .row(0)
        .iter()
        .map(|&v| v as f32)
        .collect();
    let s = start(dir, &signer, config(Action::Block, None)).unwrap();
    let (status, v) = s.infer(std::slice::from_ref(&row)).await;
    assert_eq!(
        (status, v["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("input_blocked")),
        "{v}"
    );
    assert!(v.get("outputs").is_none(), "{v}");
    let last = s.last();
    // ood before the model call (it passed), squeezing after it.
    assert_eq!(
        last.guards
            .iter()
            .skip_while(|g| *g != "inspect")
            .collect::<Vec<_>>(),
        ["inspect", "model_call", "inspect"],
        "{:?}",
        last.guards
    );
    assert_eq!(last.flags.len(), 1, "{:?}", last.flags);
    assert_eq!(
        (
            last.flags[0].detector.as_str(),
            last.flags[0].action.as_str()
        ),
        ("squeeze", "block")
    );

    // At the seam: given the answer served, squeezing scores exactly what it scores when
    // it runs the model itself; given another answer, it compares with that one.
    let dir = tempfile::tempdir().unwrap();
    fit(dir.path(), &signer, None);
    let bytes = std::fs::read(common::runtime_model("digits_mlp.onnx")).unwrap();
    let runtime: Arc<dyn Runtime> = Arc::new(OnnxRuntime::from_bytes(&bytes).unwrap());
    let seams = aigis_gateway::detect::load(
        &config(Action::Flag, Some(vec!["squeeze".into()])),
        dir.path(),
        &runtime,
        &Digest::of(&bytes).hex(),
        &[signer.public()],
    )
    .unwrap();
    let squeeze = &seams[0].0;
    assert!(squeeze.needs_answer());
    let name = runtime.signature().inputs[0].name.clone();
    let reference = common::digits_reference();
    // The first row squeezing hardly moves.
    let (inputs, served, alone) = (0..reference.rows)
        .find_map(|i| {
            let row = reference.row(i).iter().map(|&v| v as f32).collect();
            let inputs = vec![NamedTensor::new(
                name.clone(),
                Tensor::new(vec![1, 64], Data::Fp32(row)).unwrap(),
            )];
            let served = runtime.run(inputs.clone()).unwrap();
            let alone = squeeze.inspect(&Inspected {
                principal: "p",
                model: "digits",
                inputs: &inputs,
                answer: None,
            });
            (alone.score.unwrap() < 0.5).then_some((inputs, served, alone))
        })
        .unwrap();
    let call = |answer| Inspected {
        principal: "p",
        model: "digits",
        inputs: &inputs,
        answer,
    };
    assert_eq!(alone, squeeze.inspect(&call(Some(&served))));
    // The same answer with its probabilities replaced by a sure vote for another class.
    let forged: Vec<NamedTensor> = served
        .iter()
        .map(|o| match o.tensor.data() {
            Data::Fp32(p) if o.tensor.shape() == [1, 10] => {
                let top = (0..10).max_by(|&a, &b| p[a].total_cmp(&p[b])).unwrap();
                let mut q = vec![0.0f32; 10];
                q[(top + 1) % 10] = 1.0;
                NamedTensor::new(
                    o.name.clone(),
                    Tensor::new(vec![1, 10], Data::Fp32(q)).unwrap(),
                )
            }
            _ => o.clone(),
        })
        .collect();
    let moved = squeeze.inspect(&call(Some(&forged))).score.unwrap();
    assert!(moved > 1.4, "{moved} vs {:?}", alone.score);
}
