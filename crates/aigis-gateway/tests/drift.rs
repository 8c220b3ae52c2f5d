//! Drift windows while serving: the features of the calls, summarized in sketches per
//! window, tested against the training data's profile; traffic like the training data is
//! stable, traffic with half its features moved drifts on those, a window with
//! too few rows has no verdict, and drift needs a profile.

use crate::common;

use std::path::Path;
use std::sync::Arc;

use aigis_gateway::{Gateway, ServeConfig};
use axum::http::StatusCode;
use serde_json::Value;

fn seeds() -> Vec<Vec<f32>> {
    common::cancer_rows()
}

/// `n` rows like the fixture's: a seed row, each value moved by up to ±5 %.
fn like_training(rng: &mut fastrand::Rng, n: usize) -> Vec<Vec<f32>> {
    let seeds = seeds();
    (0..n)
        .map(|_| {
            seeds[rng.usize(..seeds.len())]
                .iter()
                .map(|v| v * (0.95 + 0.1 * rng.f32()))
                .collect()
        })
        .collect()
}

/// The profile of `n` such rows.
fn profile(dir: &Path, n: usize) {
    let mut rng = fastrand::Rng::with_seed(1);
    common::write_profile(dir, &like_training(&mut rng, n), false);
}

struct Setup {
    _dir: tempfile::TempDir,
    app: axum::Router,
    key: String,
}

fn setup(drift: Option<&str>, with_profile: bool) -> Result<Setup, aigis_gateway::Error> {
    setup_of(drift, with_profile, 150)
}

/// A gateway whose profile has `rows` rows (150: its sketches hold every value).
fn setup_of(
    drift: Option<&str>,
    with_profile: bool,
    rows: usize,
) -> Result<Setup, aigis_gateway::Error> {
    let dir = tempfile::tempdir().unwrap();
    profile(dir.path(), rows);
    let (keys, entries) = common::keys(&["ci"]);
    let mut model = common::model("cancer", "cancer_gbc.onnx");
    if with_profile {
        // Wide: the drifted rows are not refused here.
        model.profile = Some(common::wide_profile());
    }
    model.drift = drift.map(|d| toml::from_str(d).unwrap());
    let config = ServeConfig::loopback(vec![model], entries);
    let gateway = Gateway::new(&config, dir.path(), &[])?;
    Ok(Setup {
        _dir: dir,
        app: Arc::new(gateway).router(),
        key: keys["ci"].clone(),
    })
}

impl Setup {
    async fn send(&self, rows: &[Vec<f32>]) {
        for chunk in rows.chunks(50) {
            let (status, v) = common::infer_binary(&self.app, &self.key, "cancer", chunk).await;
            assert_eq!(status, StatusCode::OK, "{v}");
        }
    }

    async fn report(&self) -> Value {
        let (status, v) = common::call(
            &self.app,
            "GET",
            "/v2/models/cancer/drift",
            &self.key,
            Value::Null,
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{v}");
        v
    }
}

#[tokio::test]
async fn traffic_like_the_training_data_is_stable_and_moved_features_drift() {
    let mut rng = fastrand::Rng::with_seed(2);
    let stable = setup(Some(""), true).unwrap();
    stable.send(&like_training(&mut rng, 1000)).await;
    let r = stable.report().await;
    let w = &r["windows"][0];
    assert_eq!(w["rows"], 1000);
    assert_eq!(w["verdict"], "stable", "{w}");
    assert_eq!(w["tested"], 30);
    // The error stated is the window's sketch's (the profile holds every value).
    let error = w["features"][0]["error"].as_f64().unwrap();
    assert!(error < 0.01, "{error}");
    assert_eq!(r["sliding"]["rows"], 1000);

    let drifted = setup(Some(""), true).unwrap();
    let moved: Vec<Vec<f32>> = like_training(&mut rng, 1000)
        .into_iter()
        .map(|r| {
            r.iter()
                .enumerate()
                .map(|(j, v)| if j.is_multiple_of(2) { v * 1.3 } else { *v })
                .collect()
        })
        .collect();
    drifted.send(&moved).await;
    let r = drifted.report().await;
    let w = &r["windows"][0];
    assert_eq!(w["verdict"], "drift", "{w}");
    // Every moved feature drifts; of the 15 unmoved, about alpha's share by chance.
    let mut false_alarms = 0;
    for f in w["features"].as_array().unwrap() {
        let j: usize = f["name"].as_str().unwrap()[1..].parse().unwrap();
        if j.is_multiple_of(2) {
            assert_eq!(f["status"], "drift", "{f}");
        } else {
            false_alarms += usize::from(f["status"] == "drift");
        }
    }
    assert!(
        false_alarms <= 2,
        "{false_alarms} of 15 unmoved features drifted"
    );
}

#[tokio::test]
async fn against_a_profile_that_summarizes_the_error_is_stated_and_only_clear_shifts_decide() {
    // 20,000 training rows: the profile's sketches summarize (1.3 % each).
    let s = setup_of(Some(""), true, 20_000).unwrap();
    let mut rng = fastrand::Rng::with_seed(4);
    let moved: Vec<Vec<f32>> = like_training(&mut rng, 2000)
        .into_iter()
        .map(|r| {
            r.iter()
                .enumerate()
                .map(|(j, v)| if j < 10 { v * 1.3 } else { *v })
                .collect()
        })
        .collect();
    s.send(&moved).await;
    let w = s.report().await["windows"][0].clone();
    for f in w["features"].as_array().unwrap() {
        let j: usize = f["name"].as_str().unwrap()[1..].parse().unwrap();
        let error = f["error"].as_f64().unwrap();
        assert!(error > 0.013 && error < 0.02, "{f}");
        // A clear shift drifts.
        if j < 10 {
            assert_eq!(f["status"], "drift", "{f}");
        }
    }
    assert_ne!(w["verdict"], "stable", "{w}");
}

#[tokio::test]
async fn a_window_with_too_few_rows_has_no_verdict() {
    let s = setup(Some("min_rows = 50"), true).unwrap();
    s.send(&like_training(&mut fastrand::Rng::with_seed(3), 20))
        .await;
    let w = s.report().await["windows"][0].clone();
    assert_eq!(w["verdict"], "insufficient_data", "{w}");
    assert_eq!(w["features"][0]["status"], "insufficient_data");
}

#[test]
fn drift_needs_a_profile_and_sane_settings() {
    let e = setup(Some(""), false).err().unwrap().to_string();
    assert!(e.contains("serve.models[0].drift.profile"), "{e}");
    for (config, key) in [
        ("alpha = 0", "alpha"),
        ("sliding = 30", "sliding"),
        ("window_s = 0", "window_s"),
        ("drift_share = 2", "drift_share"),
    ] {
        let e = setup(Some(config), true).err().unwrap().to_string();
        assert!(
            e.contains(&format!("serve.models[0].drift.{key}")),
            "{config}: {e}"
        );
    }
}

#[tokio::test]
async fn a_model_without_drift_windows_says_so() {
    let s = setup(None, true).unwrap();
    let (status, v) = common::call(
        &s.app,
        "GET",
        "/v2/models/cancer/drift",
        &s.key,
        Value::Null,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("has no `[serve.models.drift]`"),
        "{v}"
    );
}

/// The `monitor-window` records of `recorder` of `kind`, as (start, complete, record).
fn recorded(
    recorder: &common::Recorder,
    kind: &str,
) -> Vec<(String, bool, aigis_evidence::MonitorWindow)> {
    recorder
        .windows
        .lock()
        .unwrap()
        .iter()
        .filter(|(w, _)| w.kind == kind)
        .map(|(w, subjects)| {
            assert_eq!(subjects, &["served"]);
            (w.start.clone(), w.complete, w.clone())
        })
        .collect()
}

/// A gateway whose windows are recorded: the cancer model with the wide profile, the
/// `drift` and `feedback` settings, and a recorder.
struct Recorded {
    dir: tempfile::TempDir,
    config: ServeConfig,
    gw: Arc<Gateway>,
    app: axum::Router,
    key: String,
    recorder: Arc<common::Recorder>,
}

impl Recorded {
    fn new(drift: &str, feedback: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        profile(dir.path(), 150);
        let (keys, entries) = common::keys(&["ci"]);
        let mut model = common::model("cancer", "cancer_gbc.onnx");
        model.profile = Some(common::wide_profile());
        model.drift = Some(toml::from_str(drift).unwrap());
        model.feedback = Some(toml::from_str(feedback).unwrap());
        let config = ServeConfig::loopback(vec![model], entries);
        let recorder = Arc::new(common::Recorder::default());
        let gw = Arc::new(
            Gateway::new(&config, dir.path(), &[])
                .unwrap()
                .with_audit(recorder.clone()),
        );
        Self {
            app: gw.clone().router(),
            key: keys["ci"].clone(),
            dir,
            config,
            gw,
            recorder,
        }
    }
}

/// Sleeps into the next second and a bit: the 1-second windows open now have ended.
async fn next_second() {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_millis();
    tokio::time::sleep(std::time::Duration::from_millis(u64::from(1100 - ms))).await;
}

#[tokio::test]
async fn each_window_is_recorded_as_evidence_once_it_ends_and_kpis_again_as_labels_come() {
    let Recorded {
        dir,
        config,
        gw,
        app,
        key,
        recorder,
    } = Recorded::new("window_s = 1\nmin_rows = 10", "window_s = 1");
    let key = &key;

    // 100 rows in two calls, their answers' ids and labels kept.
    next_second().await;
    let mut rng = fastrand::Rng::with_seed(5);
    let mut answered = Vec::new();
    for chunk in like_training(&mut rng, 100).chunks(50) {
        let (status, v) = common::infer_binary(&app, key, "cancer", chunk).await;
        assert_eq!(status, StatusCode::OK, "{v}");
        answered.push((
            v["id"].as_str().unwrap().to_owned(),
            v["outputs"][0]["data"].clone(),
        ));
    }
    // Nothing is due before the windows end; once they have, each is recorded once.
    next_second().await;
    gw.record_due(false).await;
    let drift = recorded(&recorder, "drift");
    assert!(!drift.is_empty());
    assert!(drift.iter().all(|(_, complete, _)| *complete));
    let rows: u64 = drift
        .iter()
        .map(|(_, _, w)| w.drift.as_ref().unwrap().rows)
        .sum();
    assert_eq!(rows, 100);
    let d = drift[0].2.drift.as_ref().unwrap();
    assert_eq!(d.features.len(), 30);
    assert_eq!(d.alpha, 0.05);
    assert!(
        d.features
            .iter()
            .all(|f| f.statistic.is_some() || f.status == "insufficient_data")
    );
    assert_eq!(drift[0].2.model, "cancer");
    assert_eq!(drift[0].2.served_sha256.len(), 64);
    // Named by the gateway that recorded them: an id drawn at its start, unlike another's.
    assert!(gw.instance().starts_with("gw-") && gw.instance().len() == 19);
    assert!(
        recorder
            .windows
            .lock()
            .unwrap()
            .iter()
            .all(|(w, _)| w.instance.as_deref() == Some(gw.instance()))
    );
    assert_ne!(
        gw.instance(),
        Gateway::new(&config, dir.path(), &[]).unwrap().instance()
    );
    assert!(drift[0].2.kpis.is_none());
    let kpis = recorded(&recorder, "kpis");
    let predictions: u64 = kpis
        .iter()
        .map(|(_, _, w)| w.kpis.as_ref().unwrap().predictions)
        .sum();
    assert_eq!(predictions, 100);
    assert!(
        kpis.iter()
            .all(|(_, c, w)| *c && w.kpis.as_ref().unwrap().labeled == 0)
    );
    let (n_drift, n_kpis) = (drift.len(), kpis.len());
    gw.record_due(false).await;
    assert_eq!(recorder.windows.lock().unwrap().len(), n_drift + n_kpis);

    // Delayed labels for the first call: its window is recorded again, a window length
    // after its last record, with the new counts (the model's own labels: all right).
    let (status, m) = common::call(
        &app,
        "POST",
        "/v2/models/cancer/feedback",
        key,
        serde_json::json!({"feedback": [{"id": answered[0].0, "labels": answered[0].1}]}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{m}");
    gw.record_due(false).await;
    assert_eq!(
        recorded(&recorder, "kpis").len(),
        n_kpis,
        "not before a window length"
    );
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
    gw.record_due(false).await;
    let again = recorded(&recorder, "kpis");
    assert_eq!(again.len(), n_kpis + 1, "{again:?}");
    let last = again.last().unwrap().2.kpis.clone().unwrap();
    assert_eq!((last.labeled, last.accuracy), (50, Some(1.0)));
    assert_eq!(recorded(&recorder, "drift").len(), n_drift);

    // A failed record is tried again: the open window, recorded when the gateway stops,
    // as it is.
    next_second().await;
    common::infer_binary(&app, key, "cancer", &like_training(&mut rng, 20)).await;
    *recorder.fail.lock().unwrap() = true;
    gw.record_due(true).await;
    let before = recorder.windows.lock().unwrap().len();
    *recorder.fail.lock().unwrap() = false;
    gw.record_due(true).await;
    let open = recorded(&recorder, "drift").pop().unwrap();
    assert_eq!(recorder.windows.lock().unwrap().len(), before + 2);
    assert_eq!(open.2.drift.as_ref().unwrap().rows, 20);
    assert_eq!(open.2.drift.as_ref().unwrap().verdict, "stable");
    assert!(!open.1, "the open window is not complete");
    let open_start = open.0.clone();
    let open_kpis = recorded(&recorder, "kpis").pop().unwrap();
    assert_eq!(open_kpis.2.kpis.unwrap().predictions, 20);

    // Recorded as it was, an open window is not recorded again until it changes.
    gw.record_due(true).await;
    assert_eq!(recorder.windows.lock().unwrap().len(), before + 2);

    // A reload that changes the drift settings starts new windows: the old ones not yet
    // recorded are recorded then (the one recorded open, now ended, again).
    next_second().await;
    common::infer_binary(&app, key, "cancer", &like_training(&mut rng, 15)).await;
    let mut changed = config.clone();
    changed.models[0].drift = Some(toml::from_str("window_s = 2\nmin_rows = 10").unwrap());
    let before = recorded(&recorder, "drift").len();
    gw.reload(&changed, dir.path(), &[], "test").unwrap();
    let after = recorded(&recorder, "drift");
    assert_eq!(after.len(), before + 2, "{after:?}");
    let [ended, open] = [&after[before], &after[before + 1]];
    assert_eq!(ended.0, open_start);
    assert!(ended.1 && !open.1);
    assert_eq!(ended.2.drift.as_ref().unwrap().rows, 20);
    assert_eq!(open.2.drift.as_ref().unwrap().rows, 15);
}

/// With one window kept, the next window's first call would drop the one that just
/// ended before the recorder (every second) sees it: an ended window is kept until it
/// is recorded.
#[tokio::test]
async fn an_ended_window_waits_to_be_recorded_even_past_the_windows_kept() {
    let r = Recorded::new(
        "window_s = 1\nwindows = 1\nsliding = 1\nmin_rows = 10",
        "window_s = 1\nwindows = 1",
    );
    // The recorder has run: the windows are recorded from now on.
    r.gw.record_due(false).await;
    let mut rng = fastrand::Rng::with_seed(6);
    next_second().await;
    common::infer_binary(&r.app, &r.key, "cancer", &like_training(&mut rng, 20)).await;
    next_second().await;
    common::infer_binary(&r.app, &r.key, "cancer", &like_training(&mut rng, 15)).await;
    r.gw.record_due(false).await;
    let drift = recorded(&r.recorder, "drift");
    assert_eq!(drift.len(), 1, "{drift:?}");
    assert!(drift[0].1);
    assert_eq!(drift[0].2.drift.as_ref().unwrap().rows, 20);
    let kpis = recorded(&r.recorder, "kpis");
    assert_eq!(kpis.len(), 1, "{kpis:?}");
    assert_eq!(kpis[0].2.kpis.as_ref().unwrap().predictions, 20);
    // Recorded, it goes: one window kept again.
    common::infer_binary(&r.app, &r.key, "cancer", &like_training(&mut rng, 5)).await;
    let (_, report) = common::call(
        &r.app,
        "GET",
        "/v2/models/cancer/drift",
        &r.key,
        Value::Null,
    )
    .await;
    assert_eq!(report["windows"].as_array().unwrap().len(), 1, "{report}");
}
