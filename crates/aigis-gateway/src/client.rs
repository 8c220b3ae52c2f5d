//! The gateway as an HTTP client: a JWT issuer's JWKS, and an upstream model server.
//! One request per connection over hyper's HTTP/1.1 client, TLS with rustls on aws-lc-rs
//! (1.3 and 1.2), trusting the system's CAs or given ones, with a client certificate when
//! one is configured.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// The TLS client configuration: trusting the CAs in `ca` (PEM) or, without it, the
/// system's; presenting `identity` (certificate chain and key, PEM) when given.
pub(crate) fn tls(
    ca: Option<&Path>,
    identity: Option<(&Path, &Path)>,
) -> Result<Arc<rustls::ClientConfig>, String> {
    let mut roots = rustls::RootCertStore::empty();
    match ca {
        Some(path) => {
            let pem = std::fs::read(path)
                .map_err(|e| format!("cannot read `{}`: {e}", path.display()))?;
            for cert in CertificateDer::pem_slice_iter(&pem) {
                let cert = cert.map_err(|e| format!("`{}`: {e}", path.display()))?;
                roots
                    .add(cert)
                    .map_err(|e| format!("`{}`: {e}", path.display()))?;
            }
        }
        None => {
            for cert in rustls_native_certs::load_native_certs().certs {
                // A system certificate rustls cannot use is left out, as browsers do.
                let _ = roots.add(cert);
            }
        }
    }
    if roots.is_empty() {
        return Err("no CA certificate to trust the server with".into());
    }
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
    .map_err(|e| e.to_string())?
    .with_root_certificates(roots);
    let config = match identity {
        None => builder.with_no_client_auth(),
        Some((cert, key)) => {
            let chain_pem = std::fs::read(cert)
                .map_err(|e| format!("cannot read `{}`: {e}", cert.display()))?;
            let chain = CertificateDer::pem_slice_iter(&chain_pem)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| format!("`{}`: {e}", cert.display()))?;
            let key_pem = zeroize::Zeroizing::new(
                std::fs::read(key).map_err(|e| format!("cannot read `{}`: {e}", key.display()))?,
            );
            let key_der = PrivateKeyDer::from_pem_slice(&key_pem)
                .map_err(|e| format!("`{}` holds no private key in PEM: {e}", key.display()))?;
            builder
                .with_client_auth_cert(chain, key_der)
                .map_err(|e| format!("the client certificate and key cannot be used: {e}"))?
        }
    };
    Ok(Arc::new(config))
}

/// What a server answered.
pub(crate) struct Answer {
    pub status: hyper::StatusCode,
    pub body: Vec<u8>,
}

/// One request to `uri` (http, or https with `tls`), its answer's body read up to `limit`
/// bytes.
pub(crate) async fn request(
    method: hyper::Method,
    uri: &hyper::Uri,
    body: Option<Vec<u8>>,
    tls: Option<&Arc<rustls::ClientConfig>>,
    limit: usize,
) -> Result<Answer, Failure> {
    use http_body_util::BodyExt as _;
    let host = uri
        .host()
        .unwrap_or_default()
        .trim_matches(['[', ']'])
        .to_owned();
    let https = uri.scheme_str() == Some("https");
    let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
    let tcp = tokio::net::TcpStream::connect((host.as_str(), port))
        .await
        .map_err(|e| Failure::Connect(format!("cannot connect: {e}")))?;
    let _ = tcp.set_nodelay(true);
    let request = hyper::Request::builder()
        .method(method)
        .uri(uri.path_and_query().map_or("/", |p| p.as_str()))
        .header(
            hyper::header::HOST,
            uri.authority().map_or(host.clone(), ToString::to_string),
        )
        .header(hyper::header::ACCEPT, "application/json");
    let request = match &body {
        Some(_) => request.header(hyper::header::CONTENT_TYPE, "application/json"),
        None => request,
    }
    .body(http_body_util::Full::new(hyper::body::Bytes::from(
        body.unwrap_or_default(),
    )))
    .map_err(|e| Failure::Connect(e.to_string()))?;
    let response = if https {
        let tls =
            tls.ok_or_else(|| Failure::Connect("https without a TLS configuration".into()))?;
        let name = rustls::pki_types::ServerName::try_from(host.clone())
            .map_err(|e| Failure::Connect(format!("`{host}`: {e}")))?;
        let stream = tokio_rustls::TlsConnector::from(tls.clone())
            .connect(name, tcp)
            .await
            .map_err(|e| Failure::Connect(format!("TLS: {e}")))?;
        send(hyper_util::rt::TokioIo::new(stream), request).await?
    } else {
        send(hyper_util::rt::TokioIo::new(tcp), request).await?
    };
    let status = response.status();
    let body = http_body_util::Limited::new(response.into_body(), limit)
        .collect()
        .await
        .map_err(|e| Failure::Answer(format!("reading the answer: {e}")))?;
    Ok(Answer {
        status,
        body: body.to_bytes().to_vec(),
    })
}

async fn send<S>(
    io: S,
    request: hyper::Request<http_body_util::Full<hyper::body::Bytes>>,
) -> Result<hyper::Response<hyper::body::Incoming>, Failure>
where
    S: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|e| Failure::Connect(e.to_string()))?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    sender
        .send_request(request)
        .await
        .map_err(|e| Failure::Answer(e.to_string()))
}

/// Why a request failed: the server could not be reached, or its answer could not be read.
#[derive(Debug)]
pub(crate) enum Failure {
    Connect(String),
    Answer(String),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Connect(m) | Failure::Answer(m) => f.write_str(m),
        }
    }
}

/// Runs `future` to its end from synchronous code, on a thread of its own with its own
/// runtime (the gateway may be loading inside or outside an async runtime).
pub(crate) fn block_on<T: Send>(
    future: impl std::future::Future<Output = T> + Send,
) -> Result<T, String> {
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map(|rt| rt.block_on(future))
                    .map_err(|e| e.to_string())
            })
            .join()
            .map_err(|_| "the request's thread failed".to_owned())?
    })
}
