//! The extraction detector at the gateway: a principal that spends its budget, sweeps
//! one feature at a time, or sends queries the detectors flag far more often than clean
//! ones is suspected, and its later calls are flagged, throttled or refused as configured;
//! another principal is not touched, and a reload that keeps the settings keeps the
//! history.

use crate::common;

use std::path::Path;
use std::sync::Arc;

use aigis_gateway::detect::DetectorConfig;
use aigis_gateway::extraction::{ExtractionConfig, Response};
use aigis_gateway::inspect::Action;
use aigis_gateway::{Gateway, ServeConfig};
use aigis_monitor::detect::{self, FitOptions};
use axum::http::StatusCode;

fn settings(action: Response) -> ExtractionConfig {
    toml::from_str::<ExtractionConfig>(&format!(
        "action = \"{}\"",
        match action {
            Response::Flag => "flag",
            Response::Throttle => "throttle",
            Response::Block => "block",
        }
    ))
    .unwrap()
}

/// `digits.detector.json`, not checked against a signature, flagging.
fn unsigned_detector() -> DetectorConfig {
    DetectorConfig {
        file: "digits.detector.json".into(),
        signature: None,
        verify: false,
        action: Action::Flag,
        detectors: None,
        input: None,
    }
}

struct Setup {
    gateway: Arc<Gateway>,
    app: axum::Router,
    keys: std::collections::BTreeMap<String, String>,
    recorder: Arc<common::Recorder>,
    config: ServeConfig,
    dir: tempfile::TempDir,
}

fn start(extraction: ExtractionConfig, with_detector: bool) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let (keys, entries) = common::keys(&["copier", "benign"]);
    let mut model = common::model("digits", "digits_mlp.onnx");
    model.extraction = Some(extraction);
    if with_detector {
        let opts = FitOptions {
            fpr: 0.05,
            trees: 100,
            ..FitOptions::default()
        };
        let d = detect::fit(&common::digits_reference(), None, None, &opts).unwrap();
        std::fs::write(
            dir.path().join("digits.detector.json"),
            serde_json::to_vec(&d).unwrap(),
        )
        .unwrap();
        model.detector = Some(unsigned_detector());
    }
    let config = ServeConfig::loopback(vec![model], entries);
    let recorder = Arc::new(common::Recorder::default());
    let gateway = Arc::new(
        Gateway::new(&config, dir.path(), &[])
            .unwrap()
            .with_audit(recorder.clone()),
    );
    Setup {
        app: gateway.clone().router(),
        gateway,
        keys,
        recorder,
        config,
        dir,
    }
}

impl Setup {
    async fn infer(&self, who: &str, rows: &[Vec<f32>]) -> (StatusCode, serde_json::Value) {
        common::infer_binary(&self.app, &self.keys[who], "digits", rows).await
    }

    /// The extraction flag on the last call's record.
    fn last_flag(&self) -> Option<aigis_evidence::CallFlag> {
        let calls = self.recorder.calls.lock().unwrap();
        calls
            .last()
            .unwrap()
            .flags
            .iter()
            .find(|f| f.detector == "extraction")
            .cloned()
    }
}

fn natural() -> Vec<Vec<f32>> {
    common::digits_reference()
        .data
        .chunks(64)
        .step_by(20)
        .map(|r| r.iter().map(|&v| v as f32).collect())
        .collect()
}

#[tokio::test]
async fn a_spent_budget_blocks_the_principal_and_no_one_else() {
    let mut e = settings(Response::Block);
    e.budget = Some(6);
    let s = start(e, false);
    let rows = natural();
    // Two rows a call: three calls spend the budget.
    for pair in rows.chunks(2).take(3) {
        assert_eq!(s.infer("copier", pair).await.0, StatusCode::OK);
        assert_eq!(s.last_flag(), None);
    }
    // The call that goes over is answered, and its record says why.
    assert_eq!(s.infer("copier", &rows[6..8]).await.0, StatusCode::OK);
    let flag = s.last_flag().expect("flagged");
    assert_eq!(flag.action, "block");
    assert!(
        flag.reasons[0].contains("budget: more than 6 rows"),
        "{:?}",
        flag.reasons
    );
    assert!(
        flag.reasons[1].contains("after 8 rows"),
        "{:?}",
        flag.reasons
    );
    // Every later call is refused, without saying more.
    let (status, body) = s.infer("copier", &rows[8..9]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["code"], "extraction_suspected", "{body}");
    // Its record says why, too.
    let flag = s.last_flag().expect("the refusal is flagged");
    assert!(
        flag.reasons[1].starts_with("suspected since row 8"),
        "{:?}",
        flag.reasons
    );
    // Another principal is not.
    assert_eq!(s.infer("benign", &rows[..4]).await.0, StatusCode::OK);
    assert_eq!(s.last_flag(), None);
}

#[tokio::test]
async fn a_one_pixel_sweep_is_throttled() {
    let mut e = settings(Response::Throttle);
    e.throttle_ms = 300;
    let s = start(e, false);
    let base = natural()[0].clone();
    let mut suspected_after = None;
    'sweep: for pixel in 0..64 {
        for v in [0.0f32, 4.0, 8.0, 12.0, 16.0] {
            let mut row = base.clone();
            row[pixel] = v;
            let (status, _) = s.infer("copier", &[row]).await;
            assert_eq!(status, StatusCode::OK);
            if let Some(flag) = s.last_flag() {
                assert!(
                    flag.reasons[0].starts_with("probing:"),
                    "{:?}",
                    flag.reasons
                );
                assert_eq!(flag.action, "throttle");
                suspected_after = Some(pixel * 5 + 1);
                break 'sweep;
            }
        }
    }
    let after = suspected_after.expect("the sweep was suspected");
    assert!(after <= 80, "after {after} calls");
    // At once again: 429, throttled.
    let (status, body) = s.infer("copier", std::slice::from_ref(&base)).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(body["code"], "throttled", "{body}");
    // After the interval, one call goes through, flagged.
    tokio::time::sleep(std::time::Duration::from_millis(350)).await;
    assert_eq!(
        s.infer("copier", std::slice::from_ref(&base)).await.0,
        StatusCode::OK
    );
    let flag = s.last_flag().expect("still flagged");
    assert!(
        flag.reasons[1].starts_with("suspected since row"),
        "{:?}",
        flag.reasons
    );
    assert_eq!(s.infer("benign", &[base]).await.0, StatusCode::OK);
}

#[tokio::test]
async fn random_queries_the_detectors_flag_are_suspected_and_a_reload_keeps_that() {
    let s = start(settings(Response::Flag), true);
    let mut rng = fastrand::Rng::with_seed(9);
    let mut suspected = None;
    for i in 0..200 {
        let row: Vec<f32> = (0..64).map(|_| rng.f32() * 16.0).collect();
        assert_eq!(s.infer("copier", &[row]).await.0, StatusCode::OK);
        if let Some(flag) = s.last_flag() {
            assert!(flag.reasons[0].starts_with("inputs:"), "{:?}", flag.reasons);
            assert_eq!(flag.action, "flag");
            suspected = Some(i + 1);
            break;
        }
    }
    let after = suspected.expect("suspected");
    assert!(after <= 40, "after {after}");
    // The fixture's own digits, from another principal: not suspected.
    for row in natural() {
        s.infer("benign", &[row]).await;
        assert_eq!(s.last_flag(), None);
    }
    // A reload with the same model and settings keeps the history.
    s.gateway
        .reload(&s.config, s.dir.path(), &[], "signal")
        .unwrap();
    let app = s.gateway.clone().router();
    common::infer_binary(&app, &s.keys["copier"], "digits", &natural()[..1]).await;
    let flag = s.last_flag().expect("still suspected after the reload");
    assert!(
        flag.reasons[1].starts_with("suspected since row"),
        "{:?}",
        flag.reasons
    );
    // Other settings start again.
    let mut changed = s.config.clone();
    changed.models[0].extraction.as_mut().unwrap().probe_share = 0.6;
    s.gateway
        .reload(&changed, s.dir.path(), &[], "signal")
        .unwrap();
    common::infer_binary(&app, &s.keys["copier"], "digits", &natural()[..1]).await;
    assert_eq!(s.last_flag(), None);
}

#[test]
fn settings_that_cannot_work_are_named() {
    for (config, key) in [
        ("threshold = 1.5", "threshold"),
        ("probe_share = 0", "probe_share"),
        ("budget = 0", "budget"),
        ("throttle_ms = 0", "throttle_ms"),
        ("history = 10", "history"),
    ] {
        let (_, entries) = common::keys(&["a"]);
        let mut model = common::model("digits", "digits_mlp.onnx");
        model.extraction = Some(toml::from_str(config).unwrap());
        let config = ServeConfig::loopback(vec![model], entries);
        let e = Gateway::new(&config, Path::new("/"), &[]).unwrap_err();
        assert!(
            e.to_string()
                .contains(&format!("serve.models[0].extraction.{key}")),
            "{config:?}: {e}"
        );
    }
    assert!(toml::from_str::<ExtractionConfig>("actoin = \"block\"").is_err());
}

/// A detector file for the digits model with its extraction threshold calibrated for
/// `settings`; the file's calibration.
fn calibrated_file(dir: &Path, settings: aigis_monitor::extraction::Settings) -> detect::Detector {
    let bytes = std::fs::read(common::runtime_model("digits_mlp.onnx")).unwrap();
    let runtime = Arc::new(aigis_runtime::OnnxRuntime::from_bytes(&bytes).unwrap());
    let model = aigis_gateway::detect::RuntimeModel::new(runtime, None).unwrap();
    let opts = FitOptions {
        fpr: 0.05,
        trees: 50,
        ..FitOptions::default()
    };
    let reference = common::digits_reference();
    let mut d = detect::fit(&reference, None, None, &opts).unwrap();
    let ex = detect::ExtractionOptions {
        settings,
        clients: 20,
        model_sha256: aigis_core::Digest::of(&bytes).hex(),
    };
    d.extraction = Some(detect::calibrate_extraction(&d, &reference, &model, &ex, 0).unwrap());
    std::fs::write(
        dir.join("digits.detector.json"),
        serde_json::to_vec(&d).unwrap(),
    )
    .unwrap();
    d
}

#[test]
fn the_threshold_the_detector_file_calibrated_for_the_model_is_used() {
    let dir = tempfile::tempdir().unwrap();
    let d = calibrated_file(dir.path(), aigis_monitor::extraction::Settings::default());
    let calibrated = d.extraction.as_ref().unwrap().prada.threshold;
    assert!(calibrated > 0.0 && calibrated != 0.80, "{calibrated}");
    let (_, entries) = common::keys(&["a"]);
    let gateway_with = |extraction: &str, file: bool| {
        let mut model = common::model("digits", "digits_mlp.onnx");
        model.extraction = Some(toml::from_str(extraction).unwrap());
        if file {
            model.detector = Some(unsigned_detector());
        }
        let config = ServeConfig::loopback(vec![model], entries.clone());
        Gateway::new(&config, dir.path(), &[]).map(|g| (g, config))
    };
    let in_effect = |g: &Gateway| {
        let e = g.models()[0].extraction.clone().unwrap();
        (e.settings().threshold, e.threshold_source())
    };
    let (g, config) = gateway_with("action = \"block\"", true).unwrap();
    assert_eq!(in_effect(&g), (calibrated, "calibrated"));
    // The configuration's own threshold wins; without a file, the default.
    let (g2, _) = gateway_with("threshold = 0.6", true).unwrap();
    assert_eq!(in_effect(&g2), (0.6, "configured"));
    let (g3, _) = gateway_with("action = \"block\"", false).unwrap();
    assert_eq!(in_effect(&g3), (0.80, "default"));
    // Calibrated for other settings: refused, naming them, unless a threshold is set.
    let e = gateway_with("min_distances = 50", true)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("serve.models[0].extraction.threshold") && e.contains("min_distances 100"),
        "{e}"
    );
    assert!(gateway_with("min_distances = 50\nthreshold = 0.8", true).is_ok());
    // A new calibration (a file fitted again) takes effect at a reload, with a new history.
    let mut refit = d.clone();
    refit.extraction.as_mut().unwrap().prada.threshold = 0.5;
    std::fs::write(
        dir.path().join("digits.detector.json"),
        serde_json::to_vec(&refit).unwrap(),
    )
    .unwrap();
    g.reload(&config, dir.path(), &[], "signal").unwrap();
    assert_eq!(in_effect(&g), (0.5, "calibrated"));
    // Calibrated with another model: refused.
    let mut other = d;
    other.extraction.as_mut().unwrap().model_sha256 = "ab".repeat(32);
    std::fs::write(
        dir.path().join("digits.detector.json"),
        serde_json::to_vec(&other).unwrap(),
    )
    .unwrap();
    let e = gateway_with("action = \"block\"", true)
        .unwrap_err()
        .to_string();
    assert!(e.contains("fit it again for this model"), "{e}");
}

/// Digits whose pixels are each drawn on their own from the reference's rows, kept when
/// every detector passes them and they are among the most atypical tenth of clean rows:
/// queries only the atypical sign can see.
fn atypical_unflagged(d: &detect::Detector, n: usize) -> Vec<Vec<f32>> {
    let reference = common::digits_reference();
    let cuts = &d.calibration.atypical.as_ref().expect("atypical cuts").cuts;
    let mut rng = fastrand::Rng::with_seed(21);
    let mut out = Vec::new();
    for _ in 0..200 {
        let rows: Vec<f64> = (0..500 * 64)
            .map(|i| reference.data[rng.usize(0..reference.rows) * 64 + i % 64])
            .collect();
        let m = detect::Matrix::new(500, 64, rows, detect::Matrix::positional_names(64)).unwrap();
        for (r, row) in d.score(&m, None).unwrap().iter().zip(m.data.chunks(64)) {
            let atypical = cuts
                .iter()
                .any(|(name, cut)| r.scores[name.as_str()].unwrap() > *cut);
            if !r.flagged && atypical {
                out.push(row.iter().map(|&v| v as f32).collect());
            }
        }
        if out.len() >= n {
            out.truncate(n);
            return out;
        }
    }
    panic!("only {} such rows", out.len());
}

#[tokio::test]
async fn queries_nearly_all_atypical_are_suspected_though_none_is_flagged() {
    let s = start(settings(Response::Block), true);
    let path = s.dir.path().join("digits.detector.json");
    let d = detect::Detector::from_json(&std::fs::read(&path).unwrap()).unwrap();
    let rows = atypical_unflagged(&d, 60);
    let mut suspected = None;
    for (i, row) in rows.iter().enumerate() {
        assert_eq!(
            s.infer("copier", std::slice::from_ref(row)).await.0,
            StatusCode::OK
        );
        if let Some(flag) = s.last_flag() {
            assert!(
                flag.reasons[0].starts_with("atypical: "),
                "{:?}",
                flag.reasons
            );
            suspected = Some(i + 1);
            break;
        }
    }
    // Every row atypical: suspected after 20 (half would be clean rows' bound at most).
    assert_eq!(suspected, Some(20));
    assert_eq!(s.infer("copier", &rows[..1]).await.0, StatusCode::FORBIDDEN);
    // The reference's own digits, from another principal: not suspected.
    for row in natural() {
        assert_eq!(s.infer("benign", &[row]).await.0, StatusCode::OK);
        assert_eq!(s.last_flag(), None);
    }
    // A file made before the cuts: the sign is left out (the settings change, so the
    // copier's history starts over; with the sign it would be suspected again at 20).
    let mut older: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    older["calibration"]
        .as_object_mut()
        .unwrap()
        .remove("atypical");
    std::fs::write(&path, serde_json::to_vec(&older).unwrap()).unwrap();
    s.gateway
        .reload(&s.config, s.dir.path(), &[], "signal")
        .unwrap();
    let app = s.gateway.clone().router();
    for row in &rows {
        let (status, _) =
            common::infer_binary(&app, &s.keys["copier"], "digits", std::slice::from_ref(row))
                .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(s.last_flag(), None);
    }
}

/// A client whose rows the detectors flag as often as they flag clean rows of the class
/// the model answers for them is not taken for a copier, when the detector file counted
/// its calibration rows by class for this model; a client flagged as often in a class
/// whose clean rows are not flagged still is. The counts are set by hand here (every
/// clean row of one class flagged, none of another) so that the rows each client sends,
/// uniform noise the detectors flag, fall in a class of known rate: what is tested is
/// that the gateway classes each row as `detect fit --model` did and tells the tracker
/// which rows were flagged.
#[tokio::test]
async fn a_client_is_compared_with_clean_rows_of_the_class_it_asks_about() {
    let bytes = std::fs::read(common::runtime_model("digits_mlp.onnx")).unwrap();
    let runtime = Arc::new(aigis_runtime::OnnxRuntime::from_bytes(&bytes).unwrap());
    let model = aigis_gateway::detect::RuntimeModel::new(runtime, None).unwrap();
    let sha256 = aigis_core::Digest::of(&bytes).hex();
    let s = start(settings(Response::Block), true);
    let path = s.dir.path().join("digits.detector.json");
    let mut d = detect::Detector::from_json(&std::fs::read(&path).unwrap()).unwrap();
    // Noise rows the detectors flag, by the class the model gives them.
    let mut rng = fastrand::Rng::with_seed(5);
    let noise: Vec<f64> = (0..2000 * 64).map(|_| rng.f64() * 16.0).collect();
    let m = detect::Matrix::new(2000, 64, noise, detect::Matrix::positional_names(64)).unwrap();
    let scored = d.score(&m, None).unwrap();
    let (probs, k) = detect::Model::probabilities(&model, &m).unwrap();
    let mut by: std::collections::BTreeMap<u32, Vec<Vec<f32>>> = Default::default();
    for ((r, row), p) in scored.iter().zip(m.data.chunks(64)).zip(probs.chunks(k)) {
        if r.flagged {
            let class = p
                .iter()
                .enumerate()
                .max_by(|a, b| a.1.total_cmp(b.1))
                .unwrap()
                .0 as u32;
            by.entry(class)
                .or_default()
                .push(row.iter().map(|&v| v as f32).collect());
        }
    }
    let mut classes: Vec<(u32, usize)> = by.iter().map(|(c, r)| (*c, r.len())).collect();
    classes.sort_by_key(|(_, n)| std::cmp::Reverse(*n));
    let [(busy, _), (other, _), ..] = classes[..] else {
        panic!("the noise falls in fewer than two classes: {classes:?}");
    };
    assert!(
        by[&busy].len() >= 40 && by[&other].len() >= 40,
        "{classes:?}"
    );
    let rows = d.calibration.calibration_rows as u64;
    // Noise is atypical too: that sign is left out, the inputs sign alone is tested.
    d.calibration.atypical = None;
    d.calibration.by_class = Some(detect::ByClass {
        model_sha256: sha256,
        classes: vec![
            aigis_monitor::extraction::ClassFlags {
                class: busy,
                rows: 40,
                flagged: 40,
            },
            aigis_monitor::extraction::ClassFlags {
                class: other,
                rows: rows - 40,
                flagged: 0,
            },
        ],
    });
    std::fs::write(&path, serde_json::to_vec(&d).unwrap()).unwrap();
    s.gateway
        .reload(&s.config, s.dir.path(), &[], "signal")
        .unwrap();
    let app = s.gateway.clone().router();
    let send = |who: &'static str, rows: Vec<Vec<f32>>| {
        let app = app.clone();
        let key = s.keys[who].clone();
        async move {
            for (i, row) in rows.iter().take(40).enumerate() {
                let (status, _) =
                    common::infer_binary(&app, &key, "digits", std::slice::from_ref(row)).await;
                if status == StatusCode::FORBIDDEN {
                    return Some(i);
                }
            }
            None
        }
    };
    // The class whose clean rows are all flagged: nothing to tell them apart.
    assert_eq!(send("benign", by[&busy].clone()).await, None);
    // The class whose clean rows are never flagged: refused.
    let refused = send("copier", by[&other].clone()).await.expect("refused");
    assert!((20..=25).contains(&refused), "after {refused}");
    let calls = s.recorder.calls.lock().unwrap();
    let flag = calls
        .iter()
        .flat_map(|c| &c.flags)
        .find(|f| f.detector == "extraction")
        .expect("flagged");
    assert!(flag.reasons[0].starts_with("inputs:"), "{:?}", flag.reasons);
}
