//! The gateway over real TLS (rustls on both ends, certificates made by rcgen): the hybrid
//! post-quantum key exchange first, TLS 1.2 still served, untrusted and plain clients
//! refused, mutual TLS (a client certificate authenticates its principal; none, or one
//! from another CA, fails the handshake), a silent connection that does not hold up the
//! others, and configuration errors that name their key.

use crate::common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use aigis_gateway::config::ApiKeyConfig;
use aigis_gateway::tls::{ClientAuth, TlsConfig};
use aigis_gateway::{Gateway, ServeConfig};
use common::{Ca, ca, leaf};
use rcgen::KeyPair;
use rustls::pki_types::{PrivateKeyDer, ServerName};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

struct Files {
    dir: tempfile::TempDir,
    server_ca: Ca,
    client_ca: Ca,
}

impl Files {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let server_ca = ca("aigis test server CA");
        let client_ca = ca("aigis test client CA");
        let (cert, key) = leaf(&server_ca, "gateway", &["localhost", "127.0.0.1"]);
        std::fs::write(
            dir.path().join("gw.pem"),
            cert.pem() + &server_ca.cert.pem(),
        )
        .unwrap();
        std::fs::write(dir.path().join("gw.key"), key.serialize_pem()).unwrap();
        std::fs::write(dir.path().join("clients.pem"), client_ca.cert.pem()).unwrap();
        Files {
            dir,
            server_ca,
            client_ca,
        }
    }

    fn tls(&self, mtls: Option<ClientAuth>) -> TlsConfig {
        TlsConfig {
            cert: "gw.pem".into(),
            key: "gw.key".into(),
            client_ca: mtls.map(|_| PathBuf::from("clients.pem")),
            client_auth: mtls,
        }
    }
}

struct Server {
    addr: SocketAddr,
    key: String,
    gateway: Arc<Gateway>,
    config: ServeConfig,
    running: common::Running,
}

fn start(files: &Files, mtls: Option<ClientAuth>) -> Server {
    let (key, hash) = aigis_gateway::auth::generate().unwrap();
    let model = common::model("cancer", "cancer_gbc.onnx");
    let mut config = ServeConfig::loopback(
        vec![model],
        vec![ApiKeyConfig {
            name: "ci".into(),
            sha256: hash,
        }],
    );
    config.plain = false;
    config.tls = Some(files.tls(mtls));
    let (tls, certificates) = aigis_gateway::tls::server_config_reloadable(
        config.tls.as_ref().unwrap(),
        files.dir.path(),
        Path::new("aigis.toml"),
    )
    .unwrap();
    let gateway = Arc::new(
        Gateway::new(&config, Path::new("/"), &[])
            .unwrap()
            .with_certificates(certificates),
    );
    let running = common::Running::start(gateway.clone(), Some(tls));
    Server {
        addr: running.addr,
        key: key.expose().to_owned(),
        gateway,
        config,
        running,
    }
}

/// A rustls client trusting `roots`, offering `groups` (all when empty) and `versions`,
/// presenting `identity` when given.
struct Client {
    config: Arc<rustls::ClientConfig>,
}

impl Client {
    fn new(
        roots: &rcgen::Certificate,
        groups: &[&str],
        versions: &[&'static rustls::SupportedProtocolVersion],
        identity: Option<(&rcgen::Certificate, &KeyPair)>,
    ) -> Self {
        let mut provider = rustls::crypto::aws_lc_rs::default_provider();
        if !groups.is_empty() {
            provider
                .kx_groups
                .retain(|g| groups.contains(&g.name().as_str().unwrap()));
        }
        let mut store = rustls::RootCertStore::empty();
        store.add(roots.der().clone()).unwrap();
        let builder = rustls::ClientConfig::builder_with_provider(Arc::new(provider))
            .with_protocol_versions(versions)
            .unwrap()
            .with_root_certificates(store);
        let config = match identity {
            None => builder.with_no_client_auth(),
            Some((cert, key)) => builder
                .with_client_auth_cert(
                    vec![cert.der().clone()],
                    PrivateKeyDer::try_from(key.serialize_der()).unwrap(),
                )
                .unwrap(),
        };
        Client {
            config: Arc::new(config),
        }
    }

    fn default(roots: &rcgen::Certificate) -> Self {
        Client::new(roots, &[], rustls::ALL_VERSIONS, None)
    }
}

/// What one request over a fresh connection gave: the status, the body, the protocol
/// version and key exchange group negotiated.
#[derive(Debug)]
struct Answer {
    status: u16,
    body: String,
    version: Option<rustls::ProtocolVersion>,
    group: Option<String>,
    /// The server's leaf certificate (DER).
    leaf: Option<Vec<u8>>,
}

fn get(
    server: &Server,
    client: &Client,
    path: &str,
    bearer: Option<&str>,
) -> Result<Answer, std::io::Error> {
    server.running.runtime.block_on(async {
        let tcp = tokio::net::TcpStream::connect(server.addr).await?;
        let connector = tokio_rustls::TlsConnector::from(client.config.clone());
        let mut tls = connector
            .connect(ServerName::try_from("localhost").unwrap(), tcp)
            .await?;
        let (version, group, leaf) = {
            let conn = tls.get_ref().1;
            (
                conn.protocol_version(),
                conn.negotiated_key_exchange_group()
                    .map(|g| g.name().as_str().unwrap().to_owned()),
                conn.peer_certificates()
                    .and_then(|c| c.first())
                    .map(|c| c.to_vec()),
            )
        };
        let auth = bearer.map_or(String::new(), |k| format!("Authorization: Bearer {k}\r\n"));
        tls.write_all(
            format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n{auth}Connection: close\r\n\r\n")
                .as_bytes(),
        )
        .await?;
        let mut raw = Vec::new();
        tls.read_to_end(&mut raw).await?;
        let text = String::from_utf8_lossy(&raw).into_owned();
        let status = text
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| std::io::Error::other(format!("no HTTP answer: {text:?}")))?;
        let body = text
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_owned())
            .unwrap_or_default();
        Ok(Answer {
            status,
            body,
            version,
            group,
            leaf,
        })
    })
}

#[test]
fn the_hybrid_post_quantum_exchange_is_negotiated_and_older_clients_still_connect() {
    let files = Files::new();
    let server = start(&files, None);
    let ca = &files.server_ca.cert;

    let a = get(&server, &Client::default(ca), "/v2/health/live", None).unwrap();
    assert_eq!(a.status, 200, "{a:?}");
    assert_eq!(a.version, Some(rustls::ProtocolVersion::TLSv1_3));
    assert_eq!(a.group.as_deref(), Some("X25519MLKEM768"));

    // A client without ML-KEM gets classical X25519; one limited to TLS 1.2 gets 1.2.
    let classic = Client::new(ca, &["X25519"], rustls::ALL_VERSIONS, None);
    let a = get(&server, &classic, "/v2/health/live", None).unwrap();
    assert_eq!((a.status, a.group.as_deref()), (200, Some("X25519")));
    let tls12 = Client::new(ca, &[], &[&rustls::version::TLS12], None);
    let a = get(&server, &tls12, "/v2/health/live", None).unwrap();
    assert_eq!(a.version, Some(rustls::ProtocolVersion::TLSv1_2));

    // The guards run behind TLS as before.
    let a = get(&server, &Client::default(ca), "/v2/models/cancer", None).unwrap();
    assert_eq!(a.status, 401, "{a:?}");
    let a = get(
        &server,
        &Client::default(ca),
        "/v2/models/cancer",
        Some(&server.key),
    )
    .unwrap();
    assert_eq!(a.status, 200, "{a:?}");
    assert!(a.body.contains("\"cancer\""), "{}", a.body);

    // A client that does not trust the server's CA stops at the handshake.
    let stranger = ca_cert("someone else");
    assert!(
        get(
            &server,
            &Client::default(&stranger),
            "/v2/health/live",
            None
        )
        .is_err()
    );
}

fn ca_cert(name: &str) -> rcgen::Certificate {
    ca(name).cert
}

#[test]
fn plain_http_to_the_tls_port_gets_no_answer() {
    let files = Files::new();
    let server = start(&files, None);
    let raw = server.running.runtime.block_on(async {
        let mut tcp = tokio::net::TcpStream::connect(server.addr).await.unwrap();
        tcp.write_all(b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut raw = Vec::new();
        let _ = tcp.read_to_end(&mut raw).await;
        raw
    });
    assert!(
        !String::from_utf8_lossy(&raw).contains("live"),
        "{}",
        String::from_utf8_lossy(&raw)
    );
}

#[test]
fn a_silent_connection_does_not_hold_up_the_others() {
    let files = Files::new();
    let server = start(&files, None);
    // Connect and say nothing: the handshake waits for this client on its own task.
    let _silent = server
        .running
        .runtime
        .block_on(tokio::net::TcpStream::connect(server.addr))
        .unwrap();
    let a = get(
        &server,
        &Client::default(&files.server_ca.cert),
        "/v2/health/live",
        None,
    )
    .unwrap();
    assert_eq!(a.status, 200);
}

#[test]
fn mutual_tls_authenticates_the_certificate_and_refuses_the_rest() {
    let files = Files::new();
    let server = start(&files, Some(ClientAuth::Required));
    let roots = &files.server_ca.cert;
    let (cert, key) = leaf(&files.client_ca, "ci-bot", &["ci-bot.clients.test"]);
    let with_cert = Client::new(roots, &[], rustls::ALL_VERSIONS, Some((&cert, &key)));

    // The certificate authenticates its principal: no key needed.
    let a = get(&server, &with_cert, "/v2/models/cancer", None).unwrap();
    assert_eq!(a.status, 200, "{a:?}");
    // A wrong key is refused, whatever certificate the connection holds.
    let a = get(
        &server,
        &with_cert,
        "/v2/models/cancer",
        Some("aigis_wrong"),
    )
    .unwrap();
    assert_eq!(a.status, 401, "{a:?}");
    // A verified certificate whose name is not a principal name authenticates nobody.
    let (cert, key) = leaf(&files.client_ca, "ci bot; drop", &[]);
    let odd = Client::new(roots, &[], rustls::ALL_VERSIONS, Some((&cert, &key)));
    let a = get(&server, &odd, "/v2/models/cancer", None).unwrap();
    assert_eq!(a.status, 401, "{a:?}");

    // No certificate, or one from another CA: the handshake fails.
    assert!(get(&server, &Client::default(roots), "/v2/health/live", None).is_err());
    let other_ca = ca("other client CA");
    let (cert, key) = leaf(&other_ca, "ci-bot", &["ci-bot.clients.test"]);
    let forged = Client::new(roots, &[], rustls::ALL_VERSIONS, Some((&cert, &key)));
    assert!(get(&server, &forged, "/v2/health/live", None).is_err());
}

#[test]
fn optional_client_certificates_let_a_key_in_and_keep_a_certificate_verified() {
    let files = Files::new();
    let server = start(&files, Some(ClientAuth::Optional));
    let roots = &files.server_ca.cert;
    let a = get(&server, &Client::default(roots), "/v2/models/cancer", None).unwrap();
    assert_eq!(a.status, 401);
    let a = get(
        &server,
        &Client::default(roots),
        "/v2/models/cancer",
        Some(&server.key),
    )
    .unwrap();
    assert_eq!(a.status, 200);
    let other_ca = ca("other client CA");
    let (cert, key) = leaf(&other_ca, "ci-bot", &[]);
    let forged = Client::new(roots, &[], rustls::ALL_VERSIONS, Some((&cert, &key)));
    assert!(get(&server, &forged, "/v2/health/live", None).is_err());
}

#[test]
fn bad_tls_files_are_named_by_their_key() {
    let files = Files::new();
    let base = files.dir.path();
    let key_of = |tls: TlsConfig| match aigis_gateway::tls::server_config(
        &tls,
        base,
        Path::new("aigis.toml"),
    ) {
        Err(aigis_gateway::Error::Config { key, message, .. }) => (key, message),
        Err(other) => panic!("{other}"),
        Ok(_) => panic!("accepted"),
    };
    let mut tls = files.tls(None);
    tls.cert = "missing.pem".into();
    assert_eq!(key_of(tls).0, "serve.tls.cert");

    std::fs::write(base.join("junk.pem"), "not pem").unwrap();
    let mut tls = files.tls(None);
    tls.cert = "junk.pem".into();
    assert_eq!(key_of(tls).0, "serve.tls.cert");
    let mut tls = files.tls(None);
    tls.key = "junk.pem".into();
    assert_eq!(key_of(tls).0, "serve.tls.key");

    // A key that is not the certificate's.
    let other = KeyPair::generate().unwrap();
    std::fs::write(base.join("other.key"), other.serialize_pem()).unwrap();
    let mut tls = files.tls(None);
    tls.key = "other.key".into();
    let (key, message) = key_of(tls);
    assert_eq!(key, "serve.tls.key");
    // Nothing of the key's text is in the message.
    assert!(!message.contains("PRIVATE"), "{message}");

    let mut tls = files.tls(Some(ClientAuth::Required));
    tls.client_ca = Some("junk.pem".into());
    assert_eq!(key_of(tls).0, "serve.tls.client_ca");
}

#[test]
fn a_reload_serves_a_renewed_certificate_and_keeps_it_when_the_next_does_not_fit() {
    let files = Files::new();
    let server = start(&files, None);
    // A fresh client each time: a resumed session would show the certificate it began with.
    let leaf_now = || {
        get(
            &server,
            &Client::default(&files.server_ca.cert),
            "/v2/health/live",
            None,
        )
        .unwrap()
        .leaf
        .unwrap()
    };
    let first = leaf_now();
    let reload = || {
        server
            .gateway
            .reload(&server.config, files.dir.path(), &[], "signal")
    };
    // Renewed: a new leaf and key from the same CA, used from the next handshake.
    let (cert, key) = leaf(&files.server_ca, "gateway", &["localhost", "127.0.0.1"]);
    std::fs::write(
        files.dir.path().join("gw.pem"),
        cert.pem() + &files.server_ca.cert.pem(),
    )
    .unwrap();
    std::fs::write(files.dir.path().join("gw.key"), key.serialize_pem()).unwrap();
    let report = reload().unwrap();
    assert!(
        report.certificate && report.need_restart.is_empty(),
        "{report:?}"
    );
    let second = leaf_now();
    assert_ne!(second, first);
    assert_eq!(second, cert.der().to_vec());
    // A key that does not fit the certificate: the reload is refused, naming the key,
    // and the renewed certificate stays in use.
    let (_, other) = leaf(&files.server_ca, "gateway", &["localhost"]);
    std::fs::write(files.dir.path().join("gw.key"), other.serialize_pem()).unwrap();
    match reload() {
        Err(aigis_gateway::Error::Config { key, .. }) => assert_eq!(key, "serve.tls.key"),
        other => panic!("{other:?}"),
    }
    assert_eq!(leaf_now(), second);
    // A new client CA waits for a restart, and says so.
    let mut config = server.config.clone();
    config.tls.as_mut().unwrap().client_ca = Some("clients.pem".into());
    std::fs::write(files.dir.path().join("gw.key"), key.serialize_pem()).unwrap();
    let report = server
        .gateway
        .reload(&config, files.dir.path(), &[], "signal")
        .unwrap();
    assert_eq!(report.need_restart, ["serve.tls"]);
}
