//! The metrics: calls counted by route, model, status and code with bounded labels (a
//! made-up path or model name does not become a label), time per guard, the overhead
//! header on every answer, and the OpenMetrics text on the metrics router.

use crate::common;

use std::path::Path;
use std::sync::Arc;

use aigis_gateway::config::ApiKeyConfig;
use aigis_gateway::{Gateway, ServeConfig};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::json;
use tower::ServiceExt as _;

fn gateway() -> (Arc<Gateway>, String) {
    let (key, hash) = aigis_gateway::auth::generate().unwrap();
    let model = common::model("cancer", "cancer_gbc.onnx");
    let config = ServeConfig::loopback(
        vec![model],
        vec![ApiKeyConfig {
            name: "ci".into(),
            sha256: hash,
        }],
    );
    (
        Arc::new(Gateway::new(&config, Path::new("/"), &[]).unwrap()),
        key.expose().to_owned(),
    )
}

async fn call(
    app: &axum::Router,
    method: &str,
    path: &str,
    key: Option<&str>,
) -> (StatusCode, u64) {
    let body = if method == "POST" {
        json!({"inputs": [{"name": "X", "shape": [1, 30], "datatype": "FP32", "data": vec![1.0; 30]}]})
            .to_string()
    } else {
        String::new()
    };
    let mut request = Request::builder().method(method).uri(path);
    if let Some(key) = key {
        request = request.header("Authorization", format!("Bearer {key}"));
    }
    let response = app
        .clone()
        .oneshot(request.body(Body::from(body)).unwrap())
        .await
        .unwrap();
    let overhead = response
        .headers()
        .get("x-aigis-overhead-us")
        .expect("every answer carries the overhead header")
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    (response.status(), overhead)
}

#[tokio::test]
async fn calls_are_counted_with_bounded_labels_and_timed_per_guard() {
    let (gw, key) = gateway();
    let app = gw.clone().router();
    let infer = "/v2/models/cancer/infer";
    for _ in 0..3 {
        assert_eq!(
            call(&app, "POST", infer, Some(&key)).await.0,
            StatusCode::OK
        );
    }
    assert_eq!(
        call(&app, "POST", infer, None).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        call(&app, "POST", "/v2/models/made-up-1/infer", Some(&key))
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        call(&app, "GET", "/a/path/nobody/serves", Some(&key))
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        call(&app, "GET", "/v2/health/live", None).await.0,
        StatusCode::OK
    );

    let text = gw.metrics().render();
    let has = |line: &str| {
        assert!(
            text.lines().any(|l| l == line),
            "no line `{line}` in\n{text}"
        );
    };
    has(
        r#"aigis_gateway_requests_total{route="POST /v2/models/{name}/infer",model="cancer",status="200",code="-",decision="allowed"} 3"#,
    );
    has(
        r#"aigis_gateway_requests_total{route="POST /v2/models/{name}/infer",model="-",status="401",code="unauthenticated",decision="refused"} 1"#,
    );
    has(
        r#"aigis_gateway_requests_total{route="POST /v2/models/{name}/infer",model="-",status="404",code="model_not_found",decision="refused"} 1"#,
    );
    has(
        r#"aigis_gateway_requests_total{route="other",model="-",status="404",code="not_found",decision="refused"} 1"#,
    );
    has(
        r#"aigis_gateway_requests_total{route="GET /v2/health/live",model="-",status="200",code="-",decision="allowed"} 1"#,
    );
    assert!(
        !text.contains("made-up-1") && !text.contains("nobody"),
        "{text}"
    );
    // Every guard of the three allowed calls was timed.
    for stage in ["authenticate", "parse", "model", "validate", "model_call"] {
        let count = format!("aigis_gateway_stage_duration_seconds_count{{stage=\"{stage}\"}} ");
        let n: u64 = text
            .lines()
            .find_map(|l| l.strip_prefix(&count))
            .unwrap_or_else(|| panic!("no {stage} in\n{text}"))
            .parse()
            .unwrap();
        assert!(n >= 3, "{stage}: {n}");
    }
    has("aigis_gateway_requests_in_flight 0");
    has("aigis_gateway_overhead_seconds_count 7");
    assert!(text.ends_with("# EOF\n"));

    // The metrics router serves the same text.
    let response = gw
        .clone()
        .metrics_router()
        .oneshot(Request::get("/metrics").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/openmetrics-text")
    );
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    assert!(
        String::from_utf8(body.to_vec())
            .unwrap()
            .contains("aigis_gateway_requests_total")
    );
}

#[test]
fn a_metrics_listener_off_loopback_must_be_said_public() {
    let base = "plain = true\n[[serve.models]]\nname = \"m\"\npath = \"m.onnx\"\n[[serve.api_keys]]\nname = \"ci\"\nsha256 = \"0000000000000000000000000000000000000000000000000000000000000000\"\n";
    let parse = |extra: &str| {
        ServeConfig::from_toml(&format!("[serve]\n{base}{extra}"), Path::new("aigis.toml"))
    };
    assert!(parse("[serve.metrics]\nlisten = \"127.0.0.1:9464\"\n").is_ok());
    match parse("[serve.metrics]\nlisten = \"0.0.0.0:9464\"\n") {
        Err(aigis_gateway::Error::Config { key, .. }) => assert_eq!(key, "serve.metrics.listen"),
        other => panic!("{other:?}"),
    }
    assert!(parse("[serve.metrics]\nlisten = \"0.0.0.0:9464\"\npublic = true\n").is_ok());
}

/// Every metric the shipped Grafana dashboard (`docs/grafana/aigis-gateway.json`) queries
/// is one the gateway exports with a sample, with the suffix its type gives it, after
/// calls that give each family one: a detection, labels for a call, drift and a shadow.
#[tokio::test]
async fn the_grafana_dashboard_queries_metrics_that_exist() {
    let dashboard: serde_json::Value =
        serde_json::from_str(include_str!("../../../docs/grafana/aigis-gateway.json")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let rows = common::cancer_rows();
    common::write_profile(dir.path(), &rows, false);
    let (keys, entries) = common::keys(&["ci"]);
    let mut model = common::model("cancer", "cancer_gbc.onnx");
    model.extraction = Some(toml::from_str("budget = 1").unwrap());
    model.feedback = Some(toml::from_str("").unwrap());
    model.profile = Some(
        toml::from_str("file = \"train.profile.json\"\ntolerance = 10.0\naction = \"flag\"")
            .unwrap(),
    );
    model.drift = Some(toml::from_str("min_rows = 10").unwrap());
    model.shadow = Some(
        toml::from_str(&format!(
            "path = \"{}\"\nverify = false",
            common::runtime_model("cancer_tree.onnx").display()
        ))
        .unwrap(),
    );
    let config = ServeConfig::loopback(vec![model], entries);
    let gw = Arc::new(Gateway::new(&config, dir.path(), &[]).unwrap());
    let app = gw.clone().router();
    let body = json!({"id": "r1", "inputs": [{
        "name": "X", "shape": [rows.len(), 30], "datatype": "FP32",
        "data": rows.iter().flatten().collect::<Vec<_>>(),
    }]});
    let (status, v) =
        common::call(&app, "POST", "/v2/models/cancer/infer", &keys["ci"], body).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    for _ in 0..2 {
        common::infer_binary(&app, &keys["ci"], "cancer", &rows[..1]).await;
    }
    let (status, _) = common::call(
        &app,
        "POST",
        "/v2/models/cancer/feedback",
        &keys["ci"],
        json!({"feedback": [{"id": "r1", "labels": vec![1; rows.len()]}, {"id": "none", "labels": [1]}]}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    // The shadow answers off the response path.
    for _ in 0..200 {
        if gw
            .metrics_text()
            .contains("aigis_gateway_shadow_latency_seconds{")
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let text = gw.metrics_text();
    // The model gauges hold what the model routes say.
    let (_, kpis) = common::call(
        &app,
        "GET",
        "/v2/models/cancer/kpis",
        &keys["ci"],
        serde_json::Value::Null,
    )
    .await;
    let accuracy = kpis["windows"][0]["accuracy"].as_f64().unwrap();
    let version = kpis["windows"][0]["version"].as_str().unwrap();
    assert!(
        text.contains(&format!(
            "aigis_gateway_kpi{{model=\"cancer\",version=\"{version}\",kpi=\"accuracy\"}} {accuracy}"
        )),
        "{text}"
    );
    let (_, shadow) = common::call(
        &app,
        "GET",
        "/v2/models/cancer/shadow",
        &keys["ci"],
        serde_json::Value::Null,
    )
    .await;
    assert!(
        text.contains(&format!(
            "aigis_gateway_shadow_rows{{model=\"cancer\"}} {}",
            shadow["rows"].as_u64().unwrap()
        )),
        "{text}"
    );
    assert!(
        text.contains("aigis_gateway_drift_features{model=\"cancer\",status=\"tested\"} 30"),
        "{text}"
    );
    let mut checked = 0;
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            let expr = target["expr"].as_str().unwrap();
            let mut rest = expr;
            while let Some(at) = rest.find("aigis_gateway_") {
                let name: String = rest[at..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                rest = &rest[at + name.len()..];
                let (base, kind) = if let Some(b) = name.strip_suffix("_bucket") {
                    (b, "histogram")
                } else if let Some(b) = name.strip_suffix("_total") {
                    (b, "counter")
                } else {
                    (name.as_str(), "gauge")
                };
                assert!(
                    text.contains(&format!("# TYPE {base} {kind}")),
                    "the dashboard's `{name}` ({}) is not a {kind} the gateway exports",
                    panel["title"]
                );
                assert!(
                    text.lines().any(|l| l.starts_with(&format!("{name}{{"))
                        || l.starts_with(&format!("{name} "))),
                    "the dashboard's `{name}` ({}) has no sample",
                    panel["title"]
                );
                checked += 1;
            }
        }
    }
    assert!(checked >= 16, "{checked} metrics checked");
}
