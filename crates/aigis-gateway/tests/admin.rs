//! The admin API in process: who may use it (listed principals only, and Cedar's `admin`
//! action on top), keys created, rotated with an overlap and revoked, taking effect on the
//! model routes at once and kept across a restart; a model swapped to another signed file
//! and back, an unsigned one refused; each change recorded before it takes effect (with
//! the caller and the key ids, never a key), and a change that cannot be recorded not made.

use crate::common;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use aigis_evidence::{AdminOutcome, GatewayAdmin, KeyChange};
use aigis_gateway::admin::AdminConfig;
use aigis_gateway::authz::AuthzConfig;
use aigis_gateway::{Gateway, ServeConfig};
use aigis_model::signing::{SignerKey, VerifierKey};
use axum::http::StatusCode;
use serde_json::{Value, json};

struct Setup {
    dir: tempfile::TempDir,
    config: ServeConfig,
    trusted: Vec<VerifierKey>,
    gateway: Arc<Gateway>,
    app: axum::Router,
    admin: axum::Router,
    keys: BTreeMap<String, String>,
    recorder: Arc<Recorder>,
    signer: SignerKey,
}

fn admin_config() -> AdminConfig {
    AdminConfig {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        principals: vec!["ops".into()],
        state: "admin-state.json".into(),
        totp: BTreeMap::new(),
    }
}

fn setup(policies: Option<&str>) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let signer = SignerKey::Ed25519(aigis_crypto::SigningKey::generate());
    let (keys, entries) = common::keys(&["ci", "ops", "intern"]);
    let mut config =
        ServeConfig::loopback(vec![common::model("cancer", "cancer_gbc.onnx")], entries);
    config.admin = Some(admin_config());
    if let Some(p) = policies {
        std::fs::write(dir.path().join("policies.cedar"), p).unwrap();
        config.authz = Some(AuthzConfig {
            policies: "policies.cedar".into(),
            groups: BTreeMap::new(),
        });
    }
    let trusted = vec![signer.public()];
    let recorder = Arc::new(Recorder::default());
    let gateway = start(&config, dir.path(), &trusted, &recorder);
    Setup {
        app: gateway.clone().router(),
        admin: gateway.clone().admin_router(),
        gateway,
        config,
        trusted,
        dir,
        keys,
        recorder,
        signer,
    }
}

fn start(
    config: &ServeConfig,
    base: &Path,
    trusted: &[VerifierKey],
    recorder: &Arc<Recorder>,
) -> Arc<Gateway> {
    Arc::new(
        Gateway::new(config, base, trusted)
            .unwrap()
            .with_audit(recorder.clone()),
    )
}

use common::{Recorder, call};

async fn infer(app: &axum::Router, key: &str) -> (StatusCode, Value) {
    let body = json!({"inputs": [{"name": "X", "shape": [1, 30], "datatype": "FP32", "data": vec![1.0; 30]}]});
    call(app, "POST", "/v2/models/cancer/infer", key, body).await
}

impl Setup {
    fn key(&self, who: &str) -> &str {
        &self.keys[who]
    }

    async fn admin(&self, method: &str, path: &str, body: Value) -> (StatusCode, Value) {
        call(&self.admin, method, path, self.key("ops"), body).await
    }

    fn changes(&self) -> Vec<GatewayAdmin> {
        self.recorder.changes.lock().unwrap().clone()
    }

    fn state_file(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("admin-state.json")).unwrap_or_default()
    }
}

#[tokio::test]
async fn only_listed_principals_may_use_the_admin_api_whatever_the_policies_permit() {
    // A policy that permits everything does not open the admin API to `ci`.
    let s = setup(Some(
        "permit (principal, action, resource);\nforbid (principal == Aigis::Principal::\"intern\", action, resource);",
    ));
    let (status, v) = call(&s.admin, "GET", "/admin/v1/keys", "", Value::Null).await;
    assert_eq!(
        (status, v["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("unauthenticated"))
    );
    let (status, v) = call(
        &s.admin,
        "GET",
        "/admin/v1/keys",
        "aigis_wrong",
        Value::Null,
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{v}");
    let (status, v) = call(
        &s.admin,
        "POST",
        "/admin/v1/keys",
        s.key("ci"),
        json!({"principal": "ci"}),
    )
    .await;
    assert_eq!(
        (status, v["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("forbidden"))
    );
    let (status, _) = s.admin("GET", "/admin/v1/keys", Value::Null).await;
    assert_eq!(status, StatusCode::OK);
    // A listed principal that the policies forbid `admin` is refused too.
    let forbidding = setup(Some(
        "permit (principal, action, resource);\nforbid (principal, action == Aigis::Action::\"admin\", resource);",
    ));
    let (status, _) = forbidding.admin("GET", "/admin/v1/keys", Value::Null).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // The model routes are not on the admin listener, nor the admin routes on the gateway's.
    let (status, _) = call(
        &s.admin,
        "GET",
        "/v2/models/cancer",
        s.key("ops"),
        Value::Null,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = call(&s.app, "GET", "/admin/v1/keys", s.key("ops"), Value::Null).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Every admin call, refused or not, is a call record with its route template.
    let calls = s.recorder.calls.lock().unwrap().clone();
    let admin_calls: Vec<(&str, u16)> = calls
        .iter()
        .filter(|c| c.route.contains("/admin/"))
        .map(|c| (c.route.as_str(), c.status))
        .collect();
    assert_eq!(
        admin_calls,
        [
            ("GET /admin/v1/keys", 401),
            ("GET /admin/v1/keys", 401),
            ("POST /admin/v1/keys", 403),
            ("GET /admin/v1/keys", 200),
            ("GET /admin/v1/keys", 404),
        ]
    );
}

#[tokio::test]
async fn keys_are_created_rotated_and_revoked_at_once_and_kept_across_a_restart() {
    let s = setup(None);
    // Create.
    let (status, made) = s
        .admin("POST", "/admin/v1/keys", json!({"principal": "bot"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{made}");
    let bot = made["key"].as_str().unwrap().to_owned();
    assert!(bot.starts_with("aigis_"));
    assert_eq!(infer(&s.app, &bot).await.0, StatusCode::OK);
    // The key's text is in no record and not in the state file; its id is.
    let state = s.state_file();
    let records = serde_json::to_string(&s.changes()).unwrap();
    for text in [&state, &records] {
        assert!(!text.contains(&bot));
        assert!(text.contains(made["id"].as_str().unwrap()), "{text}");
    }
    let change = s.changes().last().unwrap().clone();
    assert_eq!(
        (
            change.action.as_str(),
            change.trigger.as_str(),
            change.by.as_deref(),
            change.outcome
        ),
        ("key-create", "admin", Some("ops"), AdminOutcome::Applied)
    );
    assert_eq!(change.keys[0].change, KeyChange::Created);

    // Rotate `ci` (a key of the configuration) with an overlap: both keys work.
    let (status, rotated) = s
        .admin(
            "POST",
            "/admin/v1/keys/rotate",
            json!({"principal": "ci", "overlap_s": 3600}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{rotated}");
    let ci2 = rotated["key"].as_str().unwrap().to_owned();
    assert_eq!(rotated["retiring"].as_array().unwrap().len(), 1);
    assert_eq!(infer(&s.app, &ci2).await.0, StatusCode::OK);
    assert_eq!(infer(&s.app, s.key("ci")).await.0, StatusCode::OK);
    // Rotate again without overlap: the keys before it stop at once.
    let (status, rotated) = s
        .admin(
            "POST",
            "/admin/v1/keys/rotate",
            json!({"principal": "ci", "overlap_s": 0}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{rotated}");
    let ci3 = rotated["key"].as_str().unwrap().to_owned();
    assert_eq!(infer(&s.app, &ci3).await.0, StatusCode::OK);
    assert_eq!(infer(&s.app, &ci2).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(infer(&s.app, s.key("ci")).await.0, StatusCode::UNAUTHORIZED);
    let expiring: Vec<KeyChange> = s
        .changes()
        .last()
        .unwrap()
        .keys
        .iter()
        .map(|k| k.change)
        .collect();
    assert_eq!(
        expiring,
        [KeyChange::Created, KeyChange::Expires, KeyChange::Expires]
    );

    // Revoke by id (the bot's) and by principal (`intern`, a configured key).
    let (status, v) = s
        .admin("POST", "/admin/v1/keys/revoke", json!({"id": made["id"]}))
        .await;
    assert_eq!(
        (status, v["revoked"].as_array().unwrap().len()),
        (StatusCode::OK, 1)
    );
    assert_eq!(infer(&s.app, &bot).await.0, StatusCode::UNAUTHORIZED);
    let (status, _) = s
        .admin(
            "POST",
            "/admin/v1/keys/revoke",
            json!({"principal": "intern"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        infer(&s.app, s.key("intern")).await.0,
        StatusCode::UNAUTHORIZED
    );
    // Nothing left to revoke, a bad id, a body that is neither.
    for (body, status) in [
        (json!({"principal": "intern"}), StatusCode::NOT_FOUND),
        (json!({"id": "xyz"}), StatusCode::UNPROCESSABLE_ENTITY),
        (
            json!({"id": "0123456789abcdef", "principal": "ci"}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (json!({"who": "ci"}), StatusCode::BAD_REQUEST),
    ] {
        assert_eq!(
            s.admin("POST", "/admin/v1/keys/revoke", body.clone())
                .await
                .0,
            status,
            "{body}"
        );
    }
    assert_eq!(
        s.admin(
            "POST",
            "/admin/v1/keys/rotate",
            json!({"principal": "nobody"})
        )
        .await
        .0,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(
        s.admin("POST", "/admin/v1/keys", json!({"principal": "a b"}))
            .await
            .0,
        StatusCode::UNPROCESSABLE_ENTITY
    );

    // The list shows every key and whether it authenticates.
    let (_, list) = s.admin("GET", "/admin/v1/keys", Value::Null).await;
    let active: Vec<(String, bool)> = list["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| {
            (
                k["principal"].as_str().unwrap().to_owned(),
                k["active"].as_bool().unwrap(),
            )
        })
        .collect();
    let count = |p: &str, a: bool| active.iter().filter(|(q, b)| q == p && *b == a).count();
    assert_eq!((count("ci", true), count("ci", false)), (1, 2));
    assert_eq!(
        (
            count("bot", false),
            count("intern", false),
            count("ops", true)
        ),
        (1, 1, 1)
    );

    // A restart on the same configuration reads the state: the same keys work.
    let again = start(&s.config, s.dir.path(), &s.trusted, &s.recorder);
    let app = again.router();
    assert_eq!(infer(&app, &ci3).await.0, StatusCode::OK);
    for gone in [bot.as_str(), ci2.as_str(), s.key("ci"), s.key("intern")] {
        assert_eq!(infer(&app, gone).await.0, StatusCode::UNAUTHORIZED);
    }
}

#[tokio::test]
async fn a_change_that_cannot_be_recorded_is_not_made() {
    let s = setup(None);
    *s.recorder.fail.lock().unwrap() = true;
    let (status, v) = s
        .admin("POST", "/admin/v1/keys", json!({"principal": "bot"}))
        .await;
    assert_eq!(
        (status, v["code"].as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, Some("audit_unavailable"))
    );
    assert!(v.get("key").is_none());
    assert_eq!(s.state_file(), "");
    assert!(!s.dir.path().join("admin-state.json.tmp").exists());
    let (status, v) = s
        .admin("POST", "/admin/v1/keys/revoke", json!({"principal": "ci"}))
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{v}");
    assert_eq!(infer(&s.app, s.key("ci")).await.0, StatusCode::OK);
}

#[tokio::test]
async fn a_model_is_swapped_to_another_signed_file_and_back_and_never_to_an_unsigned_one() {
    let s = setup(None);
    let (_, before) = infer(&s.app, s.key("ci")).await;
    let before = before["model_version"].as_str().unwrap().to_owned();
    common::signed_copy(s.dir.path(), "cancer_tree.onnx", &s.signer);
    let (status, v) = s
        .admin(
            "POST",
            "/admin/v1/models/cancer/swap",
            json!({"path": "cancer_tree.onnx"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["models"][0]["previous"], before.as_str());
    let (status, after) = infer(&s.app, s.key("ci")).await;
    assert_eq!(status, StatusCode::OK);
    let after = after["model_version"].as_str().unwrap().to_owned();
    assert_ne!(after, before);
    let change = s.changes().last().unwrap().clone();
    assert_eq!(
        (change.action.as_str(), change.models[0].version.as_str()),
        ("model-swap", after.as_str())
    );
    let (_, listed) = s.admin("GET", "/admin/v1/models", Value::Null).await;
    assert_eq!(listed["models"][0]["swapped"]["path"], "cancer_tree.onnx");
    assert!(listed["models"][0]["signed_by"].is_string());

    // An unsigned file is refused, whatever the configuration said of the model it replaces.
    std::fs::copy(
        common::runtime_model("cancer_scaler_logreg.onnx"),
        s.dir.path().join("plain.onnx"),
    )
    .unwrap();
    let (status, v) = s
        .admin(
            "POST",
            "/admin/v1/models/cancer/swap",
            json!({"path": "plain.onnx"}),
        )
        .await;
    assert_eq!(
        (status, v["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("change_refused")),
        "{v}"
    );
    assert!(v["error"].as_str().unwrap().contains("unsigned"), "{v}");
    assert_eq!(
        infer(&s.app, s.key("ci")).await.1["model_version"],
        after.as_str()
    );
    assert_eq!(s.changes().last().unwrap().outcome, AdminOutcome::Refused);
    // No such model; a body that names no source; `verify` cannot be asked for.
    for (path, body, status) in [
        (
            "/admin/v1/models/nope/swap",
            json!({"path": "cancer_tree.onnx"}),
            StatusCode::NOT_FOUND,
        ),
        (
            "/admin/v1/models/cancer/swap",
            json!({}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "/admin/v1/models/cancer/swap",
            json!({"path": "x.onnx", "verify": false}),
            StatusCode::BAD_REQUEST,
        ),
    ] {
        assert_eq!(
            s.admin("POST", path, body.clone()).await.0,
            status,
            "{path} {body}"
        );
    }

    // A restart keeps the swap; unswapping goes back to the configured file.
    let again = start(&s.config, s.dir.path(), &s.trusted, &s.recorder);
    assert_eq!(
        infer(&again.clone().router(), s.key("ci")).await.1["model_version"],
        after.as_str()
    );
    let (status, v) = s
        .admin("DELETE", "/admin/v1/models/cancer/swap", Value::Null)
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(
        infer(&s.app, s.key("ci")).await.1["model_version"],
        before.as_str()
    );
    assert_eq!(
        s.admin("DELETE", "/admin/v1/models/cancer/swap", Value::Null)
            .await
            .0,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn a_reload_through_the_admin_api_reads_the_configuration_source() {
    let s = setup(None);
    // Without a source to read, it is refused.
    let (status, v) = s.admin("POST", "/admin/v1/reload", Value::Null).await;
    assert_eq!(
        (status, v["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("change_refused"))
    );
    let next = {
        let mut c = s.config.clone();
        c.models[0] = common::model("cancer", "cancer_tree.onnx");
        c
    };
    let base = s.dir.path().to_owned();
    let trusted = s.trusted.clone();
    let gw = Arc::new(
        Gateway::new(&s.config, s.dir.path(), &s.trusted)
            .unwrap()
            .with_audit(s.recorder.clone())
            .with_config_source(Arc::new(move || {
                Ok((next.clone(), base.clone(), trusted.clone()))
            })),
    );
    let (status, v) = call(
        &gw.clone().admin_router(),
        "POST",
        "/admin/v1/reload",
        s.key("ops"),
        Value::Null,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_ne!(v["models"][0]["version"], v["models"][0]["previous"]);
    let change = s.changes().last().unwrap().clone();
    assert_eq!(
        (change.action.as_str(), change.by.as_deref()),
        ("reload", Some("ops"))
    );
    let _ = s.gateway;
}

#[test]
fn the_admin_settings_are_checked_with_their_key() {
    let (_, entries) = common::keys(&["ops"]);
    let base = ServeConfig::loopback(vec![common::model("m", "cancer_gbc.onnx")], entries);
    let key = |admin: &str| {
        let text = format!(
            "[serve]\nplain = true\n[[serve.models]]\nname = \"m\"\npath = \"m.onnx\"\n[[serve.api_keys]]\nname = \"ops\"\nsha256 = \"{}\"\n[serve.admin]\n{admin}\n",
            base.api_keys[0].sha256
        );
        match ServeConfig::from_toml(&text, Path::new("aigis.toml")) {
            Ok(_) => String::new(),
            Err(aigis_gateway::Error::Config { key, .. }) => key,
            Err(e) => panic!("{e}"),
        }
    };
    assert_eq!(
        key("listen = \"127.0.0.1:9443\"\nprincipals = [\"ops\"]"),
        ""
    );
    assert_eq!(
        key("listen = \"127.0.0.1:9443\"\nprincipals = []"),
        "serve.admin.principals"
    );
    assert_eq!(
        key("listen = \"127.0.0.1:9443\"\nprincipals = [\"a b\"]"),
        "serve.admin.principals"
    );
    assert_eq!(
        key("listen = \"0.0.0.0:9443\"\nprincipals = [\"ops\"]"),
        "serve.admin.listen"
    );
    assert_eq!(
        key("listen = \"127.0.0.1:8080\"\nprincipals = [\"ops\"]"),
        "serve.admin.listen"
    );
    // A missing field is named at its table.
    assert_eq!(key("principals = [\"ops\"]"), "serve.admin");
    // Entries may say how the principal authenticates.
    let admin = |list: &str| key(&format!("listen = \"127.0.0.1:9443\"\nprincipals = {list}"));
    assert_eq!(
        admin(r#"["api_key:ops", "certificate:ops", "jwt:auth0|42"]"#),
        ""
    );
    for bad in [
        r#"["ldap:ops"]"#,
        r#"["api_key:a b"]"#,
        r#"["jwt:"]"#,
        r#"[":ops"]"#,
    ] {
        assert_eq!(admin(bad), "serve.admin.principals", "{bad}");
    }
    // With a JWT issuer, a bare name could be any token's `sub`: refused.
    let with_jwt = |list: &str| {
        key(&format!(
            "listen = \"127.0.0.1:9443\"\nprincipals = {list}\n[serve.auth.jwt]\nissuer = \"https://idp.test\"\njwks = \"jwks.json\"\naudience = \"aigis\"\nalgorithms = [\"RS256\"]"
        ))
    };
    assert_eq!(with_jwt(r#"["ops"]"#), "serve.admin.principals");
    assert_eq!(with_jwt(r#"["api_key:ops"]"#), "");
    // A state file that is not one stops the start, naming the key.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("admin-state.json"), "{").unwrap();
    let mut config = base.clone();
    config.admin = Some(admin_config());
    match Gateway::new(&config, dir.path(), &[]) {
        Err(aigis_gateway::Error::Config { key, .. }) => assert_eq!(key, "serve.admin.state"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_admin_calls_lose_no_change() {
    let s = Arc::new(setup(None));
    let mut calls = Vec::new();
    for i in 0..16 {
        let s = s.clone();
        calls.push(tokio::spawn(async move {
            s.admin(
                "POST",
                "/admin/v1/keys",
                json!({"principal": format!("bot{i}")}),
            )
            .await
        }));
    }
    let mut made = Vec::new();
    for call in calls {
        let (status, v) = call.await.unwrap();
        assert_eq!(status, StatusCode::CREATED, "{v}");
        made.push(v["key"].as_str().unwrap().to_owned());
    }
    // Every key works, now and after a restart: none was lost to another call.
    let again = start(&s.config, s.dir.path(), &s.trusted, &s.recorder);
    for app in [s.app.clone(), again.router()] {
        for key in &made {
            assert_eq!(infer(&app, key).await.0, StatusCode::OK);
        }
    }
    assert_eq!(s.changes().len(), 16);
}

#[tokio::test]
async fn a_suspected_principal_is_listed_and_cleared_and_the_clearing_is_recorded_first() {
    let dir = tempfile::tempdir().unwrap();
    let (keys, entries) = common::keys(&["ci", "ops", "intern"]);
    let mut model = common::model("cancer", "cancer_gbc.onnx");
    model.extraction = Some(toml::from_str("action = \"block\"\nbudget = 2").unwrap());
    let mut config = ServeConfig::loopback(vec![model], entries);
    config.admin = Some(admin_config());
    let recorder = Arc::new(Recorder::default());
    let gateway = start(&config, dir.path(), &[], &recorder);
    let (app, admin) = (gateway.clone().router(), gateway.clone().admin_router());
    let statuses = [
        infer(&app, &keys["ci"]).await.0,
        infer(&app, &keys["ci"]).await.0,
        infer(&app, &keys["ci"]).await.0,
        infer(&app, &keys["ci"]).await.0,
    ];
    assert_eq!(statuses[3], StatusCode::FORBIDDEN, "{statuses:?}");
    let suspects = || {
        call(
            &admin,
            "GET",
            "/admin/v1/extraction",
            &keys["ops"],
            Value::Null,
        )
    };
    let (status, v) = suspects().await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["models"][0]["model"], "cancer");
    assert_eq!(v["models"][0]["suspects"][0]["principal"], "ci");
    assert_eq!(v["models"][0]["suspects"][0]["sign"], "budget");
    let path = "/admin/v1/models/cancer/extraction/ci";
    // Not a listed admin principal: refused.
    let (status, _) = call(&admin, "DELETE", path, &keys["intern"], Value::Null).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Not recorded: not made.
    *recorder.fail.lock().unwrap() = true;
    let (status, v) = call(&admin, "DELETE", path, &keys["ops"], Value::Null).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{v}");
    assert_eq!(infer(&app, &keys["ci"]).await.0, StatusCode::FORBIDDEN);
    *recorder.fail.lock().unwrap() = false;
    let (status, v) = call(&admin, "DELETE", path, &keys["ops"], Value::Null).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert!(v["cleared"].as_str().unwrap().contains("`ci`"), "{v}");
    let change = recorder.changes.lock().unwrap().last().cloned().unwrap();
    assert_eq!(
        (change.action.as_str(), change.by.as_deref()),
        ("extraction-clear", Some("ops"))
    );
    assert!(change.detail.unwrap().contains("budget: more than 2 rows"));
    // It starts over: answered, up to the budget again.
    assert_eq!(infer(&app, &keys["ci"]).await.0, StatusCode::OK);
    let (_, v) = suspects().await;
    assert_eq!(v["models"], json!([]));
    // Nothing to clear, or no such model: 404.
    for path in [path, "/admin/v1/models/nope/extraction/ci"] {
        let (status, v) = call(&admin, "DELETE", path, &keys["ops"], Value::Null).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {v}");
    }
}

/// `X-Aigis-OTP` on an admin call: a request with it.
async fn admin_otp(s: &Setup, code: Option<&str>) -> (StatusCode, Value) {
    use tower::ServiceExt as _;
    let mut request = axum::http::Request::builder()
        .method("GET")
        .uri("/admin/v1/keys")
        .header("Authorization", format!("Bearer {}", s.key("ops")));
    if let Some(c) = code {
        request = request.header("X-Aigis-OTP", c);
    }
    let response = s
        .admin
        .clone()
        .oneshot(request.body(axum::body::Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn admin_calls_need_the_caller_s_one_time_password_once() {
    let mut s = setup(None);
    let secret = b"12345678901234567890";
    let path = s.dir.path().join("ops.totp");
    aigis_crypto::fs::write_atomic(&path, aigis_crypto::totp::base32(secret).as_bytes(), 0o600)
        .unwrap();
    let mut admin = admin_config();
    admin.totp = BTreeMap::from([("ops".to_owned(), "file:ops.totp".to_owned())]);
    s.config.admin = Some(admin);
    s.gateway = start(&s.config, s.dir.path(), &s.trusted, &s.recorder);
    s.admin = s.gateway.clone().admin_router();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let code = |ahead: u64| {
        aigis_crypto::totp::totp(
            secret,
            now + ahead * 30,
            6,
            aigis_crypto::totp::Algorithm::Sha1,
        )
        .unwrap()
    };
    let (status, v) = admin_otp(&s, None).await;
    assert_eq!(
        (status, v["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("second_factor_required"))
    );
    let (status, v) = admin_otp(&s, Some("000000")).await;
    assert_eq!(
        (status, v["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("second_factor_wrong"))
    );
    let (status, _) = admin_otp(&s, Some(&code(0))).await;
    assert_eq!(status, StatusCode::OK);
    // The same code again: spent.
    let (status, _) = admin_otp(&s, Some(&code(0))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = admin_otp(&s, Some(&code(1))).await;
    assert_eq!(status, StatusCode::OK);
    // Five wrong codes lock it, a right one after included.
    for _ in 0..5 {
        admin_otp(&s, Some("111111")).await;
    }
    let (status, v) = admin_otp(&s, Some(&code(1))).await;
    assert_eq!(
        (status, v["code"].as_str()),
        (StatusCode::TOO_MANY_REQUESTS, Some("second_factor_locked"))
    );

    // A listed principal without a secret is refused; a secret that is not there stops
    // the gateway at start, by name.
    let mut other = admin_config();
    other.principals.push("ci".into());
    other.totp = BTreeMap::from([("ops".to_owned(), "file:ops.totp".to_owned())]);
    s.config.admin = Some(other);
    let gw = start(&s.config, s.dir.path(), &s.trusted, &s.recorder);
    let (status, _) = call(
        &gw.clone().admin_router(),
        "GET",
        "/admin/v1/keys",
        s.key("ci"),
        Value::Null,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let mut missing = admin_config();
    missing.totp = BTreeMap::from([("ops".to_owned(), "file:nowhere.totp".to_owned())]);
    s.config.admin = Some(missing);
    let e = Gateway::new(&s.config, s.dir.path(), &s.trusted)
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains("serve.admin.totp") && e.contains("nowhere.totp"),
        "{e}"
    );
}
