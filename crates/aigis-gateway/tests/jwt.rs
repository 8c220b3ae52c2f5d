//! The JWT attack suite, through the gateway's routes: each published way to get a token
//! past a verifier is tried, and each is refused with 401, while the honest tokens (and
//! API keys beside them) pass. Keys are made fresh per run (RSA 2048 and P-256 with
//! rcgen), tokens signed with jsonwebtoken or written by hand where a library would
//! refuse to make them (`alg: none`, a tampered part).

use crate::common;

use std::path::Path;
use std::sync::Arc;

use aigis_gateway::config::ApiKeyConfig;
use aigis_gateway::jwt::JwtConfig;
use aigis_gateway::{Gateway, ServeConfig};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use tower::ServiceExt as _;

const ISSUER: &str = "https://issuer.test";
const AUDIENCE: &str = "aigis";

/// A signing key and its public JWK.
struct Signer {
    key: EncodingKey,
    jwk: Jwk,
    alg: Algorithm,
    /// The public key as PEM (SubjectPublicKeyInfo): what an HS/RS confusion uses as the
    /// HMAC secret.
    public_pem: String,
}

fn rsa(kid: &str) -> Signer {
    let pair = rcgen::KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, rcgen::RsaKeySize::_2048)
        .unwrap();
    let pkcs8 = pair.serialize_der();
    let info = pkcs8::PrivateKeyInfo::try_from(pkcs8.as_slice()).unwrap();
    let key = EncodingKey::from_rsa_der(info.private_key);
    signer(key, Algorithm::RS256, kid, pair.public_key_pem())
}

fn p256(kid: &str) -> Signer {
    let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let key = EncodingKey::from_ec_der(&pair.serialize_der());
    signer(key, Algorithm::ES256, kid, pair.public_key_pem())
}

fn signer(key: EncodingKey, alg: Algorithm, kid: &str, public_pem: String) -> Signer {
    let mut jwk = Jwk::from_encoding_key(&key, alg).unwrap();
    jwk.common.key_id = Some(kid.into());
    Signer {
        key,
        jwk,
        alg,
        public_pem,
    }
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn claims() -> Value {
    json!({"iss": ISSUER, "aud": AUDIENCE, "sub": "analyst-7", "exp": now() + 600, "iat": now()})
}

impl Signer {
    fn token(&self, claims: &Value) -> String {
        let mut header = Header::new(self.alg);
        header.kid = self.jwk.common.key_id.clone();
        jsonwebtoken::encode(&header, claims, &self.key).unwrap()
    }

    fn token_with(&self, header: Header, claims: &Value) -> String {
        jsonwebtoken::encode(&header, claims, &self.key).unwrap()
    }
}

fn jwks(keys: &[&Jwk]) -> String {
    json!({"keys": keys}).to_string()
}

struct Setup {
    dir: tempfile::TempDir,
    app: axum::Router,
    gateway: Arc<Gateway>,
    api_key: String,
}

fn jwt_config(extra: impl FnOnce(&mut JwtConfig)) -> JwtConfig {
    let mut c = JwtConfig {
        issuer: ISSUER.into(),
        jwks: "jwks.json".into(),
        jwks_ca: None,
        audience: AUDIENCE.into(),
        algorithms: vec!["RS256".into()],
        leeway_s: 30,
        jwks_ttl_s: 300,
        jwks_refresh_min_s: 10,
    };
    extra(&mut c);
    c
}

fn setup(jwks_text: &str, issuers: Vec<JwtConfig>) -> Setup {
    setup_with(&[("jwks.json", jwks_text.to_owned())], issuers)
}

fn setup_with(files: &[(&str, String)], issuers: Vec<JwtConfig>) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    let (key, hash) = aigis_gateway::auth::generate().unwrap();
    let model = common::model("cancer", "cancer_gbc.onnx");
    let mut config = ServeConfig::loopback(
        vec![model],
        vec![ApiKeyConfig {
            name: "ci".into(),
            sha256: hash,
        }],
    );
    config.auth.jwt = issuers;
    let gateway = Arc::new(Gateway::new(&config, dir.path(), &[]).unwrap());
    Setup {
        dir,
        app: gateway.clone().router(),
        gateway,
        api_key: key.expose().to_owned(),
    }
}

impl Setup {
    fn status(&self, bearer: &str) -> StatusCode {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let request = Request::get("/v2/models/cancer")
                .header("Authorization", format!("Bearer {bearer}"))
                .body(Body::empty())
                .unwrap();
            self.app.clone().oneshot(request).await.unwrap().status()
        })
    }

    fn write_jwks(&self, text: &str) {
        std::fs::write(self.dir.path().join("jwks.json"), text).unwrap();
    }
}

fn b64(v: &Value) -> String {
    URL_SAFE_NO_PAD.encode(v.to_string())
}

/// HMAC-SHA256 of `message` under `secret`, as a JWS signature.
fn hs256(secret: &[u8], message: &str) -> String {
    let key = EncodingKey::from_secret(secret).unwrap();
    jsonwebtoken::crypto::sign(message.as_bytes(), &key, Algorithm::HS256).unwrap()
}

#[test]
fn honest_tokens_pass_and_each_published_attack_is_refused() {
    let a = rsa("a");
    let s = setup(&jwks(&[&a.jwk]), vec![jwt_config(|_| {})]);
    let ok = StatusCode::OK;
    let no = StatusCode::UNAUTHORIZED;
    assert_eq!(s.status(&a.token(&claims())), ok);
    // API keys still work beside tokens.
    assert_eq!(s.status(&s.api_key), ok);

    // alg none, in the spellings that have fooled verifiers.
    for alg in ["none", "None", "NONE", "nOnE"] {
        let header = json!({"alg": alg, "typ": "JWT", "kid": "a"});
        let unsigned = format!("{}.{}.", b64(&header), b64(&claims()));
        assert_eq!(s.status(&unsigned), no, "alg {alg}");
        // The same with the honest token's signature still attached.
        let honest = a.token(&claims());
        let sig = honest.rsplit('.').next().unwrap();
        assert_eq!(
            s.status(&format!("{}.{}.{sig}", b64(&header), b64(&claims()))),
            no
        );
    }

    // HS/RS confusion: HS256 with the public key (as PEM, and as its JWK) as the secret.
    for secret in [
        a.public_pem.as_bytes().to_vec(),
        serde_json::to_vec(&a.jwk).unwrap(),
    ] {
        let header = json!({"alg": "HS256", "typ": "JWT", "kid": "a"});
        let message = format!("{}.{}", b64(&header), b64(&claims()));
        let forged = format!("{message}.{}", hs256(&secret, &message));
        assert_eq!(s.status(&forged), no);
    }

    // Times: expired, not yet valid, beyond and within the stated leeway (30 s).
    let with = |patch: Value| {
        let mut c = claims();
        for (k, v) in patch.as_object().unwrap() {
            if v.is_null() {
                c.as_object_mut().unwrap().remove(k);
            } else {
                c[k] = v.clone();
            }
        }
        a.token(&c)
    };
    assert_eq!(s.status(&with(json!({"exp": now() - 120}))), no, "expired");
    assert_eq!(
        s.status(&with(json!({"exp": now() - 10}))),
        ok,
        "within leeway"
    );
    assert_eq!(
        s.status(&with(json!({"nbf": now() + 120}))),
        no,
        "not yet valid"
    );
    assert_eq!(
        s.status(&with(json!({"nbf": now() + 10}))),
        ok,
        "nbf within leeway"
    );
    assert_eq!(
        s.status(&with(json!({"exp": "tomorrow"}))),
        no,
        "exp not a number"
    );

    // Claims: audience, issuer, missing required ones, a subject that is no name.
    assert_eq!(s.status(&with(json!({"aud": "someone-else"}))), no);
    assert_eq!(s.status(&with(json!({"aud": ["x", AUDIENCE]}))), ok);
    assert_eq!(s.status(&with(json!({"iss": "https://evil.test"}))), no);
    assert_eq!(s.status(&with(json!({"iss": format!("{ISSUER}/")}))), no);
    for missing in ["exp", "iss", "aud", "sub"] {
        assert_eq!(
            s.status(&with(json!({ missing: null }))),
            no,
            "no {missing}"
        );
    }
    assert_eq!(s.status(&with(json!({"sub": "a b"}))), no);
    assert_eq!(s.status(&with(json!({"sub": ""}))), no);

    // Tampering: another subject under the same signature; a changed signature.
    let honest = a.token(&claims());
    let parts: Vec<&str> = honest.split('.').collect();
    let mut c = claims();
    c["sub"] = json!("admin");
    assert_eq!(
        s.status(&format!("{}.{}.{}", parts[0], b64(&c), parts[2])),
        no
    );
    let mut sig = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
    sig[10] ^= 1;
    assert_eq!(
        s.status(&format!(
            "{}.{}.{}",
            parts[0],
            parts[1],
            URL_SAFE_NO_PAD.encode(sig)
        )),
        no
    );
    assert_eq!(
        s.status(&format!("{}.{}", parts[0], parts[1])),
        no,
        "two parts"
    );
    assert_eq!(s.status(&format!("{honest}.x")), no, "four parts");

    // Another key that claims the right kid; a key carried in the token's own header.
    let mallory = rsa("a");
    assert_eq!(s.status(&mallory.token(&claims())), no);
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some("m".into());
    header.jwk = Some(mallory.jwk.clone());
    assert_eq!(s.status(&mallory.token_with(header, &claims())), no);
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some("a".into());
    header.jku = Some("https://evil.test/jwks.json".into());
    assert_eq!(s.status(&mallory.token_with(header, &claims())), no);

    // kid tricks: unknown ids, paths, injections, none at all from another key.
    for kid in ["b", "../../../../dev/null", "' OR '1'='1", "a\u{0}", ""] {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(kid.into());
        assert_eq!(
            s.status(&a.token_with(header, &claims())),
            no,
            "kid {kid:?}"
        );
    }
    let no_kid = a.token_with(Header::new(Algorithm::RS256), &claims());
    assert_eq!(s.status(&no_kid), ok, "the one key, without a kid");
    let no_kid = mallory.token_with(Header::new(Algorithm::RS256), &claims());
    assert_eq!(s.status(&no_kid), no);

    // An algorithm the issuer is not pinned to, even with a key in its JWKS.
    let e = p256("e");
    s.write_jwks(&jwks(&[&a.jwk, &e.jwk]));
    assert_eq!(
        s.status(&e.token(&claims())),
        no,
        "ES256 from an RS256 issuer"
    );

    // Critical headers jsonwebtoken does not understand; an oversized token.
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some("a".into());
    header.crit = Some(vec!["exp".into()]);
    assert_eq!(s.status(&a.token_with(header, &claims())), no, "crit");
    let mut c = claims();
    c["pad"] = json!("x".repeat(9000));
    assert_eq!(s.status(&a.token(&c)), no, "over 8 KiB");
}

#[test]
fn a_rotated_jwks_works_from_its_first_token_and_unknown_kids_cannot_storm_it() {
    let a = rsa("a");
    let b = rsa("b");
    let s = setup(&jwks(&[&a.jwk]), vec![jwt_config(|_| {})]);
    let reads = s.gateway.jwks_reads();
    assert_eq!(s.status(&a.token(&claims())), StatusCode::OK);

    // The issuer rotates: b is published, a withdrawn.
    s.write_jwks(&jwks(&[&b.jwk]));
    assert_eq!(
        s.status(&b.token(&claims())),
        StatusCode::OK,
        "new key at once"
    );
    assert_eq!(s.gateway.jwks_reads(), reads + 1);

    // A flood of made-up kids re-reads nothing more within jwks_refresh_min_s.
    for i in 0..50 {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(format!("made-up-{i}"));
        assert_eq!(
            s.status(&a.token_with(header, &claims())),
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(s.gateway.jwks_reads(), reads + 1);
    // The withdrawn key is refused once the set is re-read (a stays cached until then:
    // it was withdrawn from a file that was re-read, so it is gone now).
    assert_eq!(s.status(&a.token(&claims())), StatusCode::UNAUTHORIZED);
}

/// A token that passed is remembered, not trusted: the same text is refused once its
/// `exp` has passed, and once the key that signed it leaves a re-read JWKS.
#[test]
fn a_remembered_token_is_checked_again_at_every_use() {
    let a = rsa("a");
    let b = rsa("b");
    let s = setup(&jwks(&[&a.jwk]), vec![jwt_config(|c| c.leeway_s = 0)]);
    let mut short = claims();
    short["exp"] = json!(now() + 2);
    let short = a.token(&short);
    let long = a.token(&claims());
    for _ in 0..3 {
        assert_eq!(s.status(&short), StatusCode::OK);
        assert_eq!(s.status(&long), StatusCode::OK);
    }
    std::thread::sleep(std::time::Duration::from_millis(3100));
    assert_eq!(
        s.status(&short),
        StatusCode::UNAUTHORIZED,
        "a remembered token past its exp"
    );
    assert_eq!(s.status(&long), StatusCode::OK);

    // The issuer withdraws a; a token with b's kid makes the gateway re-read the JWKS.
    s.write_jwks(&jwks(&[&b.jwk]));
    assert_eq!(s.status(&b.token(&claims())), StatusCode::OK);
    assert_eq!(
        s.status(&long),
        StatusCode::UNAUTHORIZED,
        "a remembered token whose key was withdrawn"
    );
}

#[test]
fn several_issuers_each_with_their_own_keys_and_algorithms() {
    let a = rsa("a");
    let e = p256("e");
    let other = "https://other.test";
    let s = setup_with(
        &[
            ("jwks.json", jwks(&[&a.jwk])),
            ("other.json", jwks(&[&e.jwk])),
        ],
        vec![
            jwt_config(|_| {}),
            jwt_config(|c| {
                c.issuer = other.into();
                c.jwks = "other.json".into();
                c.algorithms = vec!["ES256".into()];
            }),
        ],
    );
    let mut c = claims();
    assert_eq!(s.status(&a.token(&c)), StatusCode::OK);
    c["iss"] = json!(other);
    assert_eq!(s.status(&e.token(&c)), StatusCode::OK);
    // A's key cannot speak for the other issuer, nor the other's key for A.
    assert_eq!(s.status(&a.token(&c)), StatusCode::UNAUTHORIZED);
    assert_eq!(s.status(&e.token(&claims())), StatusCode::UNAUTHORIZED);
}

#[test]
fn bad_issuer_configurations_stop_the_start_with_the_key_named() {
    let a = rsa("a");
    let key_of = |files: &[(&str, String)], c: JwtConfig| {
        let text = format!(
            "[serve]\nplain = true\n[[serve.models]]\nname = \"m\"\npath = \"m.onnx\"\n[serve.auth.jwt]\nissuer = \"{}\"\njwks = \"{}\"\naudience = \"{}\"\nalgorithms = {:?}\nleeway_s = {}\n",
            c.issuer, c.jwks, c.audience, c.algorithms, c.leeway_s
        );
        let config = match ServeConfig::from_toml(&text, Path::new("aigis.toml")) {
            Err(aigis_gateway::Error::Config { key, .. }) => return key,
            Err(other) => panic!("{other}"),
            Ok(config) => config,
        };
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in files {
            std::fs::write(dir.path().join(name), text).unwrap();
        }
        match aigis_gateway::jwt::Issuers::load(
            &config.auth.jwt,
            dir.path(),
            Path::new("aigis.toml"),
            Default::default(),
        ) {
            Err(aigis_gateway::Error::Config { key, .. }) => key,
            Err(other) => panic!("{other}"),
            Ok(_) => "accepted".into(),
        }
    };
    let good = [("jwks.json", jwks(&[&a.jwk]))];
    assert_eq!(key_of(&good, jwt_config(|_| {})), "accepted");
    for (alg, why) in [("HS256", "hmac"), ("none", "none"), ("XYZ", "unknown")] {
        assert_eq!(
            key_of(&good, jwt_config(|c| c.algorithms = vec![alg.into()])),
            "serve.auth.jwt[0].algorithms[0]",
            "{why}"
        );
    }
    assert_eq!(
        key_of(&good, jwt_config(|c| c.algorithms = vec![])),
        "serve.auth.jwt[0].algorithms"
    );
    assert_eq!(
        key_of(&good, jwt_config(|c| c.leeway_s = 3600)),
        "serve.auth.jwt[0].leeway_s"
    );
    assert_eq!(
        key_of(&good, jwt_config(|c| c.audience = String::new())),
        "serve.auth.jwt[0].audience"
    );
    assert_eq!(key_of(&[], jwt_config(|_| {})), "serve.auth.jwt[0].jwks");
    assert_eq!(
        key_of(&[("jwks.json", "{}".into())], jwt_config(|_| {})),
        "serve.auth.jwt[0].jwks"
    );
    // Only secrets (an `oct` key) and nothing to verify with.
    let secret = json!({"keys": [{"kty": "oct", "k": "c2VjcmV0", "kid": "s"}]}).to_string();
    assert_eq!(
        key_of(&[("jwks.json", secret)], jwt_config(|_| {})),
        "serve.auth.jwt[0].jwks"
    );
}

/// A JWKS server over TLS (the gateway's own connection loop, axum), serving what
/// `document` holds at `/jwks.json`.
struct JwksServer {
    /// Keeps the server's runtime alive as long as the server.
    _runtime: tokio::runtime::Runtime,
    url: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for JwksServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

fn jwks_server(dir: &Path, document: Arc<std::sync::Mutex<String>>) -> JwksServer {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.distinguished_name
        .push(DnType::CommonName, "jwks test CA");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_key = KeyPair::generate().unwrap();
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca, ca_key);
    let leaf = CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
    let leaf_key = KeyPair::generate().unwrap();
    let leaf_cert = leaf.signed_by(&leaf_key, &issuer).unwrap();
    std::fs::write(dir.join("idp-ca.pem"), ca_cert.pem()).unwrap();
    std::fs::write(dir.join("idp.pem"), leaf_cert.pem()).unwrap();
    std::fs::write(dir.join("idp.key"), leaf_key.serialize_pem()).unwrap();
    let tls = aigis_gateway::tls::server_config(
        &aigis_gateway::tls::TlsConfig {
            cert: "idp.pem".into(),
            key: "idp.key".into(),
            client_ca: None,
            client_auth: None,
        },
        dir,
        Path::new("idp.toml"),
    )
    .unwrap();
    let app = axum::Router::new().route(
        "/jwks.json",
        axum::routing::get(move || {
            let text = document.lock().unwrap().clone();
            async move { ([("content-type", "application/json")], text) }
        }),
    );
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let port = listener.local_addr().unwrap().port();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    runtime.spawn(aigis_gateway::serve_router(
        app,
        listener,
        Some(tls),
        async move {
            let _ = stopped.await;
        },
    ));
    JwksServer {
        _runtime: runtime,
        url: format!("https://localhost:{port}/jwks.json"),
        stop: Some(stop),
    }
}

#[test]
fn a_jwks_served_over_https_is_fetched_and_followed_through_a_rotation() {
    let a = rsa("a");
    let b = rsa("b");
    let document = Arc::new(std::sync::Mutex::new(jwks(&[&a.jwk])));
    let idp = tempfile::tempdir().unwrap();
    let server = jwks_server(idp.path(), document.clone());
    let ca = idp.path().join("idp-ca.pem");
    let s = setup(
        "{}",
        vec![jwt_config(|c| {
            c.jwks = server.url.clone();
            c.jwks_ca = Some(ca.clone());
        })],
    );
    assert_eq!(s.status(&a.token(&claims())), StatusCode::OK);
    *document.lock().unwrap() = jwks(&[&b.jwk]);
    assert_eq!(
        s.status(&b.token(&claims())),
        StatusCode::OK,
        "rotated over https"
    );
    assert_eq!(s.status(&a.token(&claims())), StatusCode::UNAUTHORIZED);

    // The JWKS server must be trusted: with the system's CAs (which do not hold the test
    // CA) the start is refused, naming the key; plain http is refused at once.
    let key_of = |c: JwtConfig| match aigis_gateway::jwt::Issuers::load(
        &[c],
        idp.path(),
        Path::new("aigis.toml"),
        Default::default(),
    ) {
        Err(aigis_gateway::Error::Config { key, message, .. }) => (key, message),
        Err(other) => panic!("{other}"),
        Ok(_) => panic!("accepted"),
    };
    let (key, message) = key_of(jwt_config(|c| c.jwks = server.url.clone()));
    assert_eq!(key, "serve.auth.jwt[0].jwks", "{message}");
    let text = "[serve]\nplain = true\n[[serve.models]]\nname = \"m\"\npath = \"m.onnx\"\n[serve.auth.jwt]\nissuer = \"i\"\njwks = \"http://idp.test/jwks.json\"\naudience = \"a\"\nalgorithms = [\"RS256\"]\n";
    match ServeConfig::from_toml(text, Path::new("aigis.toml")) {
        Err(aigis_gateway::Error::Config { key, .. }) => assert_eq!(key, "serve.auth.jwt[0].jwks"),
        other => panic!("{other:?}"),
    }
    drop(server);
}
