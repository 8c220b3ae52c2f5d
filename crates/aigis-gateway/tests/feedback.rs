//! Delayed labels over the API: each answered call has an id (the request's or one the
//! gateway makes), `POST /v2/models/{name}/feedback` labels it once, and `GET
//! /v2/models/{name}/kpis` gives the model's accuracy and calibration per window; Cedar
//! decides who may send labels, and a call's id is its principal's: another principal
//! labels it only when the gateway made the id, or when it is one of `labelers`.

use crate::common;

use std::sync::Arc;

use aigis_gateway::authz::AuthzConfig;
use aigis_gateway::{Gateway, ServeConfig};
use axum::http::StatusCode;
use serde_json::{Value, json};

struct Setup {
    gateway: Arc<Gateway>,
    app: axum::Router,
    keys: std::collections::BTreeMap<String, String>,
    _dir: tempfile::TempDir,
}

fn start(policies: Option<&str>) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let (keys, entries) = common::keys(&["app", "labeler", "other"]);
    let mut model = common::model("digits", "digits_mlp.onnx");
    model.feedback = Some(toml::from_str("window_s = 600\nlabelers = [\"labeler\"]").unwrap());
    let plain = common::model("plain", "digits_mlp.onnx");
    let mut config = ServeConfig::loopback(vec![model, plain], entries);
    if let Some(p) = policies {
        std::fs::write(dir.path().join("policies.cedar"), p).unwrap();
        config.authz = Some(AuthzConfig {
            policies: "policies.cedar".into(),
            groups: Default::default(),
        });
    }
    let gateway = Arc::new(Gateway::new(&config, dir.path(), &[]).unwrap());
    Setup {
        app: gateway.clone().router(),
        gateway,
        keys,
        _dir: dir,
    }
}

/// The fixture's digits and onnxruntime's labels for them.
fn digits() -> (Vec<Vec<f64>>, Vec<i64>) {
    let v: Value =
        serde_json::from_slice(&std::fs::read(common::runtime_model("digits_mlp.json")).unwrap())
            .unwrap();
    let x: Vec<f64> = serde_json::from_value(v["inputs"]["X"]["data"].clone()).unwrap();
    let y: Vec<i64> = serde_json::from_value(v["outputs"]["output_label"]["data"].clone()).unwrap();
    (x.chunks(64).map(<[f64]>::to_vec).collect(), y)
}

fn request(rows: &[Vec<f64>], id: Option<&str>) -> Value {
    let data: Vec<f64> = rows.iter().flatten().copied().collect();
    let mut body = json!({"inputs": [{"name": "X", "shape": [rows.len(), 64], "datatype": "FP32", "data": data}]});
    if let Some(id) = id {
        body["id"] = json!(id);
    }
    body
}

impl Setup {
    async fn call(&self, who: &str, method: &str, path: &str, body: Value) -> (StatusCode, Value) {
        common::call(&self.app, method, path, &self.keys[who], body).await
    }
}

#[tokio::test]
async fn labels_by_id_give_accuracy_and_calibration_per_window() {
    let s = start(None);
    let (x, y) = digits();
    // A call with its own id (two rows), and one without (the gateway makes one).
    let (status, a) = s
        .call(
            "app",
            "POST",
            "/v2/models/digits/infer",
            request(&x[..2], Some("order-1")),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{a}");
    assert_eq!(a["id"], "order-1");
    let (_, b) = s
        .call(
            "app",
            "POST",
            "/v2/models/digits/infer",
            request(&x[2..3], None),
        )
        .await;
    let made = b["id"].as_str().unwrap().to_owned();
    assert!(made.starts_with("aigis-") && made.len() == 38, "{made}");
    // The labels: the first call's are both right, the second's is wrong.
    let wrong = (y[2] + 1) % 10;
    let (status, m) = s
        .call(
            "labeler",
            "POST",
            "/v2/models/digits/feedback",
            json!({"feedback": [
                {"id": "order-1", "labels": [y[0], y[1].to_string()]},
                {"id": made, "labels": [wrong]},
                {"id": "never-seen", "labels": [1]},
            ]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{m}");
    assert_eq!(m, json!({"matched": 2, "unknown": ["never-seen"]}));
    let (status, k) = s
        .call("app", "GET", "/v2/models/digits/kpis", Value::Null)
        .await;
    assert_eq!(status, StatusCode::OK, "{k}");
    assert_eq!(k["window_s"], 600);
    assert_eq!(k["pending"], 0);
    let w = &k["windows"][0];
    assert_eq!(
        (w["predictions"].as_u64(), w["labeled"].as_u64()),
        (Some(3), Some(3))
    );
    assert!(
        (w["accuracy"].as_f64().unwrap() - 2.0 / 3.0).abs() < 1e-12,
        "{w}"
    );
    assert!(
        w["ece"].as_f64().is_some() && w["mean_confidence"].as_f64().is_some(),
        "{w}"
    );
    assert_eq!(
        w["version"],
        s.gateway
            .models()
            .iter()
            .find(|m| m.name == "digits")
            .unwrap()
            .version
    );
    // Labelled once only.
    let (_, again) = s
        .call(
            "labeler",
            "POST",
            "/v2/models/digits/feedback",
            json!({"feedback": [{"id": "order-1", "labels": [0, 0]}]}),
        )
        .await;
    assert_eq!(again["matched"], 0);
    let metrics = s.gateway.metrics().render();
    assert!(
        metrics.contains(
            "aigis_gateway_feedback_labels_total{model=\"digits\",outcome=\"matched\"} 2"
        ),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_feedback_that_does_not_fit_is_refused_whole() {
    let s = start(None);
    let (x, _) = digits();
    s.call(
        "app",
        "POST",
        "/v2/models/digits/infer",
        request(&x[..2], Some("r")),
    )
    .await;
    for (body, field) in [
        (
            json!({"feedback": [{"id": "r", "labels": [1]}]}),
            "feedback[0].labels",
        ),
        (
            json!({"feedback": [{"id": "r", "labels": [1.5, 2]}]}),
            "feedback[0].labels[0]",
        ),
    ] {
        let (status, e) = s
            .call("labeler", "POST", "/v2/models/digits/feedback", body)
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
        assert!(e["error"].as_str().unwrap().contains(field), "{e}");
    }
    let (status, e) = s
        .call(
            "labeler",
            "POST",
            "/v2/models/digits/feedback",
            json!({"labels": []}),
        )
        .await;
    assert_eq!(
        (status, e["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("malformed_json"))
    );
    // A model without feedback says so.
    let (status, e) = s
        .call("app", "GET", "/v2/models/plain/kpis", Value::Null)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(
        e["error"]
            .as_str()
            .unwrap()
            .contains("has no `[serve.models.feedback]`"),
        "{e}"
    );
    // Nothing was counted.
    let (_, k) = s
        .call("app", "GET", "/v2/models/digits/kpis", Value::Null)
        .await;
    assert_eq!(
        (k["pending"].as_u64(), k["windows"][0]["labeled"].as_u64()),
        (Some(1), Some(0))
    );
}

#[tokio::test]
async fn cedar_decides_who_may_send_labels() {
    let s = start(Some(
        "permit (principal, action in [Aigis::Action::\"infer\", Aigis::Action::\"metadata\"], resource);\n\
         permit (principal == Aigis::Principal::\"labeler\", action == Aigis::Action::\"feedback\", resource == Aigis::Model::\"digits\");\n",
    ));
    let (x, y) = digits();
    s.call(
        "app",
        "POST",
        "/v2/models/digits/infer",
        request(&x[..1], Some("r")),
    )
    .await;
    let body = json!({"feedback": [{"id": "r", "labels": [y[0]]}]});
    let (status, _) = s
        .call("app", "POST", "/v2/models/digits/feedback", body.clone())
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, m) = s
        .call("labeler", "POST", "/v2/models/digits/feedback", body)
        .await;
    assert_eq!((status, m["matched"].as_u64()), (StatusCode::OK, Some(1)));
}

#[tokio::test]
async fn a_call_id_is_its_principals_and_no_one_else_can_claim_or_label_it() {
    let s = start(None);
    let (x, y) = digits();
    let infer = |who: &'static str, rows: std::ops::Range<usize>, id: Option<&'static str>| {
        let body = request(&x[rows], id);
        let s = &s;
        async move {
            let (status, v) = s.call(who, "POST", "/v2/models/digits/infer", body).await;
            assert_eq!(status, StatusCode::OK, "{v}");
            v["id"].as_str().unwrap().to_owned()
        }
    };
    let feedback = |who: &'static str, body: Value| {
        let s = &s;
        async move {
            s.call(who, "POST", "/v2/models/digits/feedback", body)
                .await
        }
    };
    // Two principals choose the same id: both calls are kept, neither pre-empts the
    // other (before, the second was not kept).
    infer("app", 0..1, Some("order-1")).await;
    infer("other", 1..3, Some("order-1")).await;
    let (_, k) = s
        .call("app", "GET", "/v2/models/digits/kpis", Value::Null)
        .await;
    assert_eq!(
        (k["pending"].as_u64(), k["duplicate_ids"].as_u64()),
        (Some(2), Some(0))
    );
    // `other` labels its own call (two rows): the one-row call of `app` is not it.
    let (status, m) = feedback(
        "other",
        json!({"feedback": [{"id": "order-1", "labels": [y[1], y[2]]}]}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{m}");
    assert_eq!(m, json!({"matched": 1, "unknown": []}));
    // Nor can it label `app`'s call with that id now, or name `app`: refused whole.
    let (_, m) = feedback(
        "other",
        json!({"feedback": [{"id": "order-1", "labels": [0]}]}),
    )
    .await;
    assert_eq!(m, json!({"matched": 0, "unknown": ["order-1"]}));
    let (status, e) = feedback(
        "other",
        json!({"feedback": [{"id": "order-1", "labels": [0], "principal": "app"}]}),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{e}");
    assert!(e["error"].as_str().unwrap().contains("labelers"), "{e}");
    // An id the gateway made is a capability: whoever the caller gave it to labels it.
    let made = infer("app", 3..4, None).await;
    let (_, m) = feedback(
        "other",
        json!({"feedback": [{"id": made, "labels": [y[3]]}]}),
    )
    .await;
    assert_eq!(m["matched"], 1, "{m}");
    // A labeler labels any principal's call; when several principals' calls have the
    // id it must name one.
    infer("other", 4..5, Some("order-2")).await;
    infer("app", 5..6, Some("order-2")).await;
    let (_, m) = feedback(
        "labeler",
        json!({"feedback": [
            {"id": "order-1", "labels": [y[0]]},
            {"id": "order-2", "labels": [y[4]]},
        ]}),
    )
    .await;
    assert_eq!(
        m,
        json!({"matched": 1, "unknown": [], "ambiguous": ["order-2"]})
    );
    let (_, m) = feedback(
        "labeler",
        json!({"feedback": [
            {"id": "order-2", "labels": [y[4]], "principal": "other"},
            {"id": "order-2", "labels": [y[5]], "principal": "app"},
        ]}),
    )
    .await;
    assert_eq!(m, json!({"matched": 2, "unknown": []}));
    let (_, k) = s
        .call("app", "GET", "/v2/models/digits/kpis", Value::Null)
        .await;
    let w = &k["windows"][0];
    assert_eq!(
        (
            k["pending"].as_u64(),
            w["predictions"].as_u64(),
            w["labeled"].as_u64()
        ),
        (Some(0), Some(6), Some(6)),
        "{k}"
    );
}
