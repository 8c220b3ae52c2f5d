//! The training data's profile in front of a real model: a profile made by the data stage
//! (`aigis_data::scan::profile`) from the breast-cancer rows the model was exported with;
//! rows like the training data pass unflagged, a row far outside its ranges is flagged
//! (and let through, recorded) or blocked (422, no range given away), values the training
//! data could not have had are refused by validation, and a profile that does not fit
//! the model stops the start naming the key.

use crate::common;

use std::path::Path;
use std::sync::Arc;

use aigis_evidence::GatewayCall;
use aigis_gateway::inspect::{Action, ProfileConfig};
use aigis_gateway::{Gateway, ServeConfig};
use axum::http::StatusCode;
use serde_json::Value;

/// The breast-cancer rows exported with the model (30 features each).
fn rows() -> Vec<Vec<f32>> {
    common::cancer_rows()
}

/// The data stage's profile of those rows (as a CSV with a label column), in `dir`.
fn profile(dir: &Path) {
    common::write_profile(dir, &rows(), true);
}

use common::Recorder;

struct Setup {
    _dir: tempfile::TempDir,
    app: axum::Router,
    key: String,
    recorder: Arc<Recorder>,
}

fn setup(action: Action, features: Option<Vec<String>>) -> Result<Setup, aigis_gateway::Error> {
    let dir = tempfile::tempdir().unwrap();
    profile(dir.path());
    let (keys, entries) = common::keys(&["ci"]);
    let mut model = common::model("cancer", "cancer_gbc.onnx");
    model.profile = Some(ProfileConfig {
        file: "train.profile.json".into(),
        label: Some("target".into()),
        features,
        input: None,
        tolerance: 0.05,
        action,
    });
    let config = ServeConfig::loopback(vec![model], entries);
    let recorder = Arc::new(Recorder::default());
    let gateway = Gateway::new(&config, dir.path(), &[])?.with_audit(recorder.clone());
    Ok(Setup {
        _dir: dir,
        app: Arc::new(gateway).router(),
        key: keys["ci"].clone(),
        recorder,
    })
}

impl Setup {
    async fn infer(&self, rows: &[Vec<f32>]) -> (StatusCode, Value) {
        common::infer_binary(&self.app, &self.key, "cancer", rows).await
    }

    fn last(&self) -> GatewayCall {
        self.recorder.calls.lock().unwrap().last().unwrap().clone()
    }
}

#[tokio::test]
async fn rows_like_the_training_data_pass_and_a_row_outside_it_is_flagged_or_blocked() {
    let s = setup(Action::Flag, None).unwrap();
    let rows = rows();
    // Every training row passes unflagged.
    let (status, v) = s.infer(&rows).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let call = s.last();
    assert!(call.flags.is_empty(), "{:?}", call.flags);
    assert!(
        call.guards.contains(&"inspect".to_owned()),
        "{:?}",
        call.guards
    );

    // `mean radius` (f0) ten times the largest seen: flagged, let through, recorded.
    let mut far = rows[0].clone();
    far[0] *= 10.0;
    let (status, _) = s.infer(&[rows[1].clone(), far.clone()]).await;
    assert_eq!(status, StatusCode::OK);
    let flags = s.last().flags;
    assert_eq!(flags.len(), 1);
    assert_eq!(
        (flags[0].detector.as_str(), flags[0].action.as_str()),
        ("profile_range", "flag")
    );
    assert_eq!(flags[0].reasons.len(), 1);
    let reason = &flags[0].reasons[0];
    assert!(
        reason.starts_with("row 1, `f0`: above the training maximum"),
        "{reason}"
    );
    // The record holds no input value.
    assert!(!reason.contains(&far[0].to_string()), "{reason}");

    // Blocking: 422, and the answer does not give the range away.
    let s = setup(Action::Block, None).unwrap();
    let (status, v) = s.infer(&[far]).await;
    assert_eq!(
        (status, v["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("input_blocked")),
        "{v}"
    );
    assert!(!v["error"].as_str().unwrap().contains("maximum"), "{v}");
    assert_eq!(s.last().flags[0].action, "block");
    assert_eq!(s.infer(&rows[..3]).await.0, StatusCode::OK);

    // Validation: the training data had no missing values and no infinities.
    let mut nan = rows[2].clone();
    nan[4] = f32::NAN;
    let (status, v) = s.infer(&[rows[0].clone(), nan]).await;
    assert_eq!(
        (status, v["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_input")),
        "{v}"
    );
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .starts_with("inputs[0].data: row 1, feature `f4`: a missing value"),
        "{v}"
    );
}

#[test]
fn a_profile_that_does_not_fit_the_model_stops_the_start_with_its_key() {
    let key = |r: Result<Setup, aigis_gateway::Error>| match r {
        Err(aigis_gateway::Error::Config { key, message, .. }) => format!("{key}: {message}"),
        Err(e) => panic!("{e}"),
        Ok(_) => panic!("started"),
    };
    let e = key(setup(Action::Flag, Some(vec!["f0".into(), "f1".into()])));
    assert!(
        e.starts_with("serve.models[0].profile.features: 2 features"),
        "{e}"
    );
    let mut names: Vec<String> = (0..29).map(|i| format!("f{i}")).collect();
    names.push("nope".into());
    let e = key(setup(Action::Flag, Some(names)));
    assert!(e.contains("no column `nope`"), "{e}");
}
