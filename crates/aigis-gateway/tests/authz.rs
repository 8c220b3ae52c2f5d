//! Cedar authorization through the gateway's routes: permits by group, a forbidden
//! principal, context (batch rows, source address), 403 before 404 so a forbidden
//! principal cannot probe model names, policies that do not validate against the schema
//! refused at load, and a reload that keeps the policies in force when the new file is bad.

use crate::common;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use aigis_gateway::authz::AuthzConfig;

use aigis_gateway::tls::Peer;
use aigis_gateway::{Gateway, ServeConfig};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{Value, json};
use tower::ServiceExt as _;

const POLICIES: &str = r#"
// Analysts may run every model.
permit (principal in Aigis::Group::"analysts", action == Aigis::Action::"infer", resource);
// Everyone authenticated may read metadata.
permit (principal, action == Aigis::Action::"metadata", resource);
// The intern may do nothing at all.
forbid (principal == Aigis::Principal::"intern", action, resource);
// No batch over 10 rows.
forbid (principal, action == Aigis::Action::"infer", resource) when { context.rows > 10 };
"#;

struct Setup {
    dir: tempfile::TempDir,
    gateway: Arc<Gateway>,
    app: axum::Router,
    keys: BTreeMap<String, String>,
}

fn setup(policies: &str) -> Result<Setup, aigis_gateway::Error> {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("policies.cedar"), policies).unwrap();
    let (keys, entries) = common::keys(&["ci", "ops", "intern"]);
    let model = common::model("cancer", "cancer_gbc.onnx");
    let mut config = ServeConfig::loopback(vec![model], entries);
    config.authz = Some(AuthzConfig {
        policies: "policies.cedar".into(),
        groups: BTreeMap::from([("analysts".into(), vec!["ci".into(), "intern".into()])]),
    });
    let gateway = Arc::new(Gateway::new(&config, dir.path(), &[])?);
    Ok(Setup {
        dir,
        app: gateway.clone().router(),
        gateway,
        keys,
    })
}

impl Setup {
    fn call(
        &self,
        who: &str,
        method: &str,
        path: &str,
        rows: usize,
        from: Option<&str>,
    ) -> (StatusCode, Value) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let body = if method == "POST" {
                json!({"inputs": [{"name": "X", "shape": [rows, 30], "datatype": "FP32", "data": vec![1.0; rows * 30]}]})
                    .to_string()
            } else {
                String::new()
            };
            let mut request = Request::builder()
                .method(method)
                .uri(path)
                .header("Authorization", format!("Bearer {}", self.keys[who]))
                .header("Content-Type", "application/json")
                .body(Body::from(body))
                .unwrap();
            if let Some(addr) = from {
                request.extensions_mut().insert(Peer {
                    addr: Some(addr.parse::<SocketAddr>().unwrap()),
                    client_cert: None,
                });
            }
            let response = self.app.clone().oneshot(request).await.unwrap();
            let status = response.status();
            let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
                .await
                .unwrap();
            (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
        })
    }

    fn status(&self, who: &str, method: &str, path: &str, rows: usize) -> StatusCode {
        self.call(who, method, path, rows, None).0
    }
}

const INFER: &str = "/v2/models/cancer/infer";

#[test]
fn policies_decide_by_principal_group_action_and_context() {
    let s = setup(POLICIES).unwrap();
    assert_eq!(s.status("ci", "POST", INFER, 2), StatusCode::OK);
    let (status, body) = s.call("intern", "POST", INFER, 2, None);
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("forbidden"))
    );
    // No permit applies to ops for infer: denied by default.
    assert_eq!(s.status("ops", "POST", INFER, 2), StatusCode::FORBIDDEN);
    // Metadata is permitted to all but the intern.
    assert_eq!(
        s.status("ops", "GET", "/v2/models/cancer", 0),
        StatusCode::OK
    );
    assert_eq!(s.status("ops", "GET", "/v2", 0), StatusCode::OK);
    assert_eq!(
        s.status("intern", "GET", "/v2/models/cancer", 0),
        StatusCode::FORBIDDEN
    );
    assert_eq!(s.status("intern", "GET", "/v2", 0), StatusCode::FORBIDDEN);
    // Context: the batch's rows.
    assert_eq!(s.status("ci", "POST", INFER, 10), StatusCode::OK);
    assert_eq!(s.status("ci", "POST", INFER, 11), StatusCode::FORBIDDEN);
}

#[test]
fn a_forbidden_principal_cannot_tell_which_models_exist() {
    let s = setup(POLICIES).unwrap();
    let unknown = "/v2/models/secret-model/infer";
    assert_eq!(
        s.status("intern", "POST", unknown, 1),
        StatusCode::FORBIDDEN
    );
    assert_eq!(s.status("intern", "POST", INFER, 1), StatusCode::FORBIDDEN);
    assert_eq!(s.status("ci", "POST", unknown, 1), StatusCode::NOT_FOUND);
}

#[test]
fn the_source_address_is_in_the_context() {
    let s = setup(&format!(
        "{POLICIES}\nforbid (principal, action, resource) unless {{ context.source_ip.isInRange(ip(\"10.0.0.0/8\")) }};\n"
    ))
    .unwrap();
    assert_eq!(
        s.call("ci", "POST", INFER, 1, Some("10.1.2.3:5000")).0,
        StatusCode::OK
    );
    assert_eq!(
        s.call("ci", "POST", INFER, 1, Some("192.168.1.1:5000")).0,
        StatusCode::FORBIDDEN
    );
    // Unknown (no connection facts): the unspecified address, outside every range.
    assert_eq!(
        s.call("ci", "POST", INFER, 1, None).0,
        StatusCode::FORBIDDEN
    );
}

fn load_error(policies: &str) -> String {
    match setup(policies) {
        Err(aigis_gateway::Error::Config { key, message, .. }) => {
            assert_eq!(key, "serve.authz.policies", "{message}");
            message
        }
        Err(other) => panic!("{other}"),
        Ok(_) => panic!("loaded: {policies}"),
    }
}

#[test]
fn policies_that_do_not_validate_against_the_schema_refuse_to_load() {
    // A type error: compared with a string, `context.rows` would make this `forbid`
    // fail at every request, and a failed forbid is skipped.
    let m = load_error(
        "permit (principal, action, resource);\nforbid (principal, action, resource) when { context.rows == \"ten\" };",
    );
    assert!(m.contains("schema"), "{m}");
    // An attribute the context does not have.
    load_error("forbid (principal, action, resource) when { context.country == \"XX\" };");
    // A misspelt entity type and action.
    load_error("forbid (principal == Aigis::Princpal::\"intern\", action, resource);");
    load_error("permit (principal, action == Aigis::Action::\"infere\", resource);");
    // Not Cedar at all.
    load_error("allow everyone");
}

#[test]
fn a_bad_reload_keeps_the_policies_in_force_and_a_good_one_replaces_them() {
    let s = setup(POLICIES).unwrap();
    let authz = s.gateway.authz().unwrap();
    let file = s.dir.path().join("policies.cedar");

    std::fs::write(
        &file,
        "forbid (principal, action, resource) when { context.rows == \"x\" };",
    )
    .unwrap();
    assert!(authz.reload().is_err());
    assert_eq!(
        s.status("ci", "POST", INFER, 2),
        StatusCode::OK,
        "old policies in force"
    );

    std::fs::write(
        &file,
        "permit (principal == Aigis::Principal::\"ops\", action, resource);",
    )
    .unwrap();
    assert_eq!(authz.reload().unwrap(), 1);
    assert_eq!(s.status("ops", "POST", INFER, 2), StatusCode::OK);
    assert_eq!(s.status("ci", "POST", INFER, 2), StatusCode::FORBIDDEN);
}
