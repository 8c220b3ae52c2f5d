//! Output hardening per principal, through the routes: the default principal sees the full
//! answer, a partner only the label, an analyst the top class with rounded scores; the
//! label never changes.

use crate::common;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use aigis_gateway::harden::{Hardening, Mode, OutputsConfig};
use aigis_gateway::{Gateway, ServeConfig};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{Value, json};
use tower::ServiceExt as _;

#[tokio::test]
async fn each_principal_sees_what_its_hardening_allows() {
    let (keys, entries) = common::keys(&["ci", "partner", "analyst"]);
    let model = common::model("wine", "wine_forest.onnx");
    let mut config = ServeConfig::loopback(vec![model], entries);
    let full = Hardening {
        mode: Mode::Full,
        top_k: None,
        decimals: None,
        noise: None,
    };
    config.outputs = Some(OutputsConfig {
        default: full.clone(),
        principals: BTreeMap::from([
            (
                "partner".to_owned(),
                Hardening {
                    mode: Mode::Label,
                    ..full.clone()
                },
            ),
            (
                "analyst".to_owned(),
                Hardening {
                    mode: Mode::TopK,
                    top_k: Some(1),
                    decimals: Some(1),
                    noise: None,
                },
            ),
        ]),
    });
    let gw = Arc::new(Gateway::new(&config, Path::new("/"), &[]).unwrap());
    let app = gw.router();
    let ask = |who: &'static str| {
        let app = app.clone();
        let key = keys[who].clone();
        async move {
            let rows: Vec<f32> = (0..26).map(|i| (i % 13) as f32 * 1.7 + 0.3).collect();
            let body = json!({"inputs": [{"name": "X", "shape": [2, 13], "datatype": "FP32", "data": rows}]});
            let response = app
                .oneshot(
                    Request::post("/v2/models/wine/infer")
                        .header("Authorization", format!("Bearer {key}"))
                        .body(Body::from(body.to_string()))
                        .unwrap(),
                )
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::OK);
            let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
                .await
                .unwrap();
            let v: Value = serde_json::from_slice(&bytes).unwrap();
            v["outputs"]
                .as_array()
                .unwrap()
                .iter()
                .map(|o| (o["name"].as_str().unwrap().to_owned(), o["data"].clone()))
                .collect::<BTreeMap<String, Value>>()
        }
    };
    let everything = ask("ci").await;
    assert_eq!(everything.len(), 2, "{everything:?}");
    let label = everything["output_label"].clone();
    let partner = ask("partner").await;
    assert_eq!(partner.keys().collect::<Vec<_>>(), ["output_label"]);
    assert_eq!(partner["output_label"], label);
    let analyst = ask("analyst").await;
    assert_eq!(analyst["output_label"], label);
    let scores: Vec<f64> = serde_json::from_value(analyst["output_probability"].clone()).unwrap();
    for row in scores.chunks(3) {
        assert_eq!(row.iter().filter(|v| **v != 0.0).count(), 1, "{row:?}");
        for v in row {
            assert!(
                ((v * 10.0).round() - v * 10.0).abs() < 1e-6,
                "{v} is not rounded to 0.1"
            );
        }
    }
}
