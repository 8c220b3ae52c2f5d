//! The connection loop, one for plain HTTP and TLS.
//!
//! Written on hyper directly rather than `axum::serve`, which has no TLS: each connection
//! is its own task, so a slow or hostile handshake never holds up the accept loop; the
//! handshake and the request headers each have a deadline (a client that trickles bytes
//! is dropped); the peer's address and verified client certificate go with every request
//! ([`tls::Peer`]); and on shutdown the listener closes at once while the connections in
//! flight finish their requests (hyper-util's graceful shutdown), up to a drain deadline.

use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tower::ServiceExt as _;

use crate::tls::Peer;
use crate::{Error, Gateway};

/// How long a TLS handshake may take.
const HANDSHAKE: Duration = Duration::from_secs(10);
/// How long a client may take to send a request's headers.
const HEADERS: Duration = Duration::from_secs(10);
/// How long the requests in flight have to finish after a shutdown.
const DRAIN: Duration = Duration::from_secs(30);

/// Serves `gateway` on `listener` (over TLS with `tls`) until `shutdown` completes, then
/// lets the requests in flight finish.
pub async fn serve(
    gateway: Arc<Gateway>,
    listener: tokio::net::TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), Error> {
    // The alerts' checks run beside the connections, until the server stops.
    let checks = gateway.alert_interval().map(|every| {
        let gw = Arc::clone(&gateway);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.tick().await;
            loop {
                tick.tick().await;
                gw.check_alerts().await;
            }
        })
    });
    // Shadow periods and monitor windows are recorded every second that one is due (a
    // reload may add a shadow or a monitor), and the rest once more when the server stops.
    let periods = {
        let gw = Arc::clone(&gateway);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                tick.tick().await;
                if gw.records() {
                    gw.record_due(false).await;
                }
            }
        })
    };
    let served = serve_router(Arc::clone(&gateway).router(), listener, tls, shutdown).await;
    if let Some(checks) = checks {
        checks.abort();
    }
    periods.abort();
    gateway.record_due(true).await;
    served
}

/// Serves any router the same way (the metrics listener uses it).
pub async fn serve_router(
    app: axum::Router,
    listener: tokio::net::TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), Error> {
    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(HEADERS)
        .keep_alive(true);
    tokio::pin!(shutdown);
    loop {
        let (tcp, addr) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Out of file descriptors and the like: wait rather than spin.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = tcp.set_nodelay(true);
        let app = app.clone();
        let acceptor = acceptor.clone();
        let http = http.clone();
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let mut peer = Peer {
                addr: Some(addr),
                client_cert: None,
            };
            let service = |peer: Peer| {
                hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
                    request.extensions_mut().insert(peer.clone());
                    app.clone().oneshot(request)
                })
            };
            match acceptor {
                None => {
                    let conn = http.serve_connection(TokioIo::new(tcp), service(peer));
                    if let Err(e) = watcher.watch(conn).await {
                        tracing::debug!(peer = %addr, error = %e, "connection ended");
                    }
                }
                Some(acceptor) => {
                    let stream = match tokio::time::timeout(HANDSHAKE, acceptor.accept(tcp)).await {
                        Ok(Ok(stream)) => stream,
                        Ok(Err(e)) => {
                            tracing::info!(peer = %addr, error = %e, "TLS handshake failed");
                            return;
                        }
                        Err(_) => {
                            tracing::info!(peer = %addr, "TLS handshake timed out");
                            return;
                        }
                    };
                    peer.client_cert = stream
                        .get_ref()
                        .1
                        .peer_certificates()
                        .and_then(|c| c.first())
                        .map(|c| c.clone().into_owned());
                    let conn = http.serve_connection(TokioIo::new(stream), service(peer));
                    if let Err(e) = watcher.watch(conn).await {
                        tracing::debug!(peer = %addr, error = %e, "connection ended");
                    }
                }
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(DRAIN, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            "requests still in flight {}s after the shutdown were cut",
            DRAIN.as_secs()
        );
    }
    Ok(())
}
