//! The gateway as an HTTP client: a JWT issuer's JWKS, and an upstream model server.
//! hyper's HTTP/1.1 client, TLS with rustls on aws-lc-rs (1.3 and 1.2), trusting the
//! system's CAs or given ones, with a client certificate when one is configured. An
//! upstream's connections are kept open and reused ([`Pool`]); a JWKS is read over a
//! connection of its own each time.

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

/// The idle connections to one server, reused for its next requests (HTTP/1.1
/// keep-alive), so a call to an upstream does not pay for a TCP and TLS handshake.
///
/// hyper's pooling client (hyper-util's `legacy` client) would bring its own connector
/// stack; this is the part of it the gateway needs: a bounded stack of idle senders,
/// each checked to be open and ready before it is used again.
#[derive(Default)]
pub(crate) struct Pool {
    idle: std::sync::Mutex<Vec<(Sender, std::time::Instant)>>,
}

type Sender = hyper::client::conn::http1::SendRequest<http_body_util::Full<hyper::body::Bytes>>;

/// The most idle connections kept per server.
const MAX_IDLE: usize = 64;
/// How long a connection may stay idle before it is closed rather than reused. Servers
/// close idle connections too (uvicorn after 5 s, nginx after 75 s), and a request written
/// just as the server closes fails; staying under the shortest common timeout avoids that.
const IDLE_FOR: std::time::Duration = std::time::Duration::from_secs(4);

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool").finish_non_exhaustive()
    }
}

impl Pool {
    fn take(&self) -> Option<Sender> {
        let mut idle = self
            .idle
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        while let Some((sender, since)) = idle.pop() {
            if since.elapsed() < IDLE_FOR && !sender.is_closed() {
                return Some(sender);
            }
        }
        None
    }

    /// An idle connection ready for a request. One whose last answer was read may take
    /// a moment to be ready again (its connection task finishes the exchange); one that
    /// is not ready within 100 ms is dropped.
    async fn ready(&self) -> Option<Sender> {
        while let Some(mut sender) = self.take() {
            let ready =
                tokio::time::timeout(std::time::Duration::from_millis(100), sender.ready()).await;
            if matches!(ready, Ok(Ok(()))) {
                return Some(sender);
            }
        }
        None
    }

    fn give(&self, sender: Sender) {
        if sender.is_closed() {
            return;
        }
        let mut idle = self
            .idle
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if idle.len() < MAX_IDLE {
            idle.push((sender, std::time::Instant::now()));
        }
    }

    /// Idle connections kept now.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.idle.lock().map(|i| i.len()).unwrap_or(0)
    }
}

/// One request to `uri` (http, or https with `tls`), its answer's body read up to `limit`
/// bytes. With a `pool`, an idle connection is reused when there is one, and the
/// connection is kept for the next request once the answer is read.
pub(crate) async fn request(
    method: hyper::Method,
    uri: &hyper::Uri,
    body: Option<Vec<u8>>,
    tls: Option<&Arc<rustls::ClientConfig>>,
    limit: usize,
    pool: Option<&Pool>,
    headers: &[(&str, &str)],
) -> Result<Answer, Failure> {
    use http_body_util::BodyExt as _;
    let host = uri
        .host()
        .unwrap_or_default()
        .trim_matches(['[', ']'])
        .to_owned();
    let request = hyper::Request::builder()
        .method(method)
        .uri(uri.path_and_query().map_or("/", |p| p.as_str()))
        .header(
            hyper::header::HOST,
            uri.authority().map_or(host.clone(), ToString::to_string),
        )
        .header(hyper::header::ACCEPT, "application/json");
    let request = headers
        .iter()
        .fold(request, |r, (name, value)| r.header(*name, *value));
    let request = match &body {
        Some(_) => request.header(hyper::header::CONTENT_TYPE, "application/json"),
        None => request,
    }
    .body(http_body_util::Full::new(hyper::body::Bytes::from(
        body.unwrap_or_default(),
    )))
    .map_err(|e| Failure::Connect(e.to_string()))?;
    let mut request = Some(request);
    let mut sent = None;
    let reused = match pool {
        Some(pool) => pool.ready().await,
        None => None,
    };
    if let Some(mut sender) = reused {
        let req = request
            .take()
            .ok_or_else(|| Failure::Connect("no request".into()))?;
        match sender.try_send_request(req).await {
            Ok(response) => sent = Some((sender, response)),
            Err(mut e) => match e.take_message() {
                // Not sent (the server closed the idle connection): a new connection.
                Some(req) => request = Some(req),
                None => return Err(Failure::Answer(e.into_error().to_string())),
            },
        }
    }
    let (sender, response) = match sent {
        Some(sent) => sent,
        None => {
            let req = request.ok_or_else(|| Failure::Connect("no request".into()))?;
            let mut sender = connect(uri, &host, tls).await?;
            let response = sender
                .send_request(req)
                .await
                .map_err(|e| Failure::Answer(e.to_string()))?;
            (sender, response)
        }
    };
    let status = response.status();
    let body = http_body_util::Limited::new(response.into_body(), limit)
        .collect()
        .await
        .map_err(|e| Failure::Answer(format!("reading the answer: {e}")))?;
    if let Some(pool) = pool {
        pool.give(sender);
    }
    Ok(Answer {
        status,
        body: body.to_bytes().to_vec(),
    })
}

/// A new connection to `uri`'s server, over TLS for https.
async fn connect(
    uri: &hyper::Uri,
    host: &str,
    tls: Option<&Arc<rustls::ClientConfig>>,
) -> Result<Sender, Failure> {
    let https = uri.scheme_str() == Some("https");
    let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
    let tcp = tokio::net::TcpStream::connect((host, port))
        .await
        .map_err(|e| Failure::Connect(format!("cannot connect: {e}")))?;
    let _ = tcp.set_nodelay(true);
    if https {
        let tls =
            tls.ok_or_else(|| Failure::Connect("https without a TLS configuration".into()))?;
        let name = rustls::pki_types::ServerName::try_from(host.to_owned())
            .map_err(|e| Failure::Connect(format!("`{host}`: {e}")))?;
        let stream = tokio_rustls::TlsConnector::from(tls.clone())
            .connect(name, tcp)
            .await
            .map_err(|e| Failure::Connect(format!("TLS: {e}")))?;
        handshake(hyper_util::rt::TokioIo::new(stream)).await
    } else {
        handshake(hyper_util::rt::TokioIo::new(tcp)).await
    }
}

async fn handshake<S>(io: S) -> Result<Sender, Failure>
where
    S: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (sender, conn) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|e| Failure::Connect(e.to_string()))?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(sender)
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A plain-HTTP server on loopback answering `{}` to everything, counting the
    /// connections it accepts; with `keep_alive` false it closes each after one answer.
    async fn server(keep_alive: bool) -> (hyper::Uri, Arc<AtomicUsize>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let count = accepted.clone();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                count.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(|_req| async {
                        Ok::<_, std::convert::Infallible>(hyper::Response::new(
                            http_body_util::Full::new(hyper::body::Bytes::from_static(b"{}")),
                        ))
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .keep_alive(keep_alive)
                        .serve_connection(hyper_util::rt::TokioIo::new(tcp), service)
                        .await;
                });
            }
        });
        let uri = format!("http://{addr}/v2/models/m/infer").parse().unwrap();
        (uri, accepted)
    }

    async fn post(uri: &hyper::Uri, pool: &Pool) -> Answer {
        request(
            hyper::Method::POST,
            uri,
            Some(b"{}".to_vec()),
            None,
            1024,
            Some(pool),
            &[],
        )
        .await
        .unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_upstream_connection_is_reused_for_the_next_calls() {
        let (uri, accepted) = server(true).await;
        let pool = Pool::default();
        for _ in 0..20 {
            assert_eq!(post(&uri, &pool).await.status, hyper::StatusCode::OK);
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 1);
        assert_eq!(pool.len(), 1);
        // Calls at once each need a connection; they are all kept for the next ones.
        let pool = Arc::new(pool);
        let calls: Vec<_> = (0..8)
            .map(|_| {
                let (uri, pool) = (uri.clone(), pool.clone());
                tokio::spawn(async move { post(&uri, &pool).await.status })
            })
            .collect();
        for call in calls {
            assert_eq!(call.await.unwrap(), hyper::StatusCode::OK);
        }
        let after = accepted.load(Ordering::SeqCst);
        assert!(after <= 8, "{after} connections for 8 calls at once");
        assert_eq!(pool.len(), after);
        // Without a pool (a JWKS read), a connection per request.
        request(hyper::Method::GET, &uri, None, None, 1024, None, &[])
            .await
            .unwrap();
        assert_eq!(accepted.load(Ordering::SeqCst), after + 1);
    }

    #[tokio::test]
    async fn an_upstream_that_closes_its_connections_is_connected_to_again() {
        let (uri, accepted) = server(false).await;
        let pool = Pool::default();
        for _ in 0..10 {
            assert_eq!(post(&uri, &pool).await.status, hyper::StatusCode::OK);
            // Give the server's close time to arrive, as it would between real calls.
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 10);
        // And without the pause: a connection closed under the pool is not a failure.
        for _ in 0..10 {
            assert_eq!(post(&uri, &pool).await.status, hyper::StatusCode::OK);
        }
    }
}
