//! HTTPS serving of the API server: TLS handshakes with optional client certificates, the
//! caller's identity taken from a verified certificate, HTTP/1.1 and HTTP/2 on one port.

use crate::tls::peer_identity;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use krust_apiserver::{ApiServer, Identity};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

/// Accepts connections until `shutdown` turns true.
pub async fn serve_https(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    api: ApiServer,
    mut shutdown: watch::Receiver<bool>,
) {
    let acceptor = TlsAcceptor::from(tls);
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = shutdown.changed() => return,
        };
        let (tcp, peer) = match accepted {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = tcp.set_nodelay(true);
        let acceptor = acceptor.clone();
        let api = api.clone();
        tokio::spawn(async move {
            let tls =
                match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp)).await {
                    Ok(Ok(s)) => s,
                    Ok(Err(e)) => {
                        tracing::debug!(%peer, error = %e, "TLS handshake failed");
                        return;
                    }
                    Err(_) => {
                        tracing::debug!(%peer, "TLS handshake timed out");
                        return;
                    }
                };
            let identity = tls
                .get_ref()
                .1
                .peer_certificates()
                .and_then(peer_identity)
                .map(|p| {
                    // Every authenticated user is also in `system:authenticated` (upstream's
                    // AuthenticatedGroupAdder).
                    let mut groups = p.groups;
                    if !groups.iter().any(|g| g == "system:authenticated") {
                        groups.push("system:authenticated".into());
                    }
                    Identity {
                        user: p.user,
                        groups,
                    }
                });
            let service = service_fn(move |mut req: http::Request<hyper::body::Incoming>| {
                let api = api.clone();
                if let Some(id) = &identity {
                    req.extensions_mut().insert(id.clone());
                }
                async move { Ok::<_, std::convert::Infallible>(api.handle(req).await) }
            });
            let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
            builder.http2().max_concurrent_streams(1000);
            if let Err(e) = builder
                .serve_connection_with_upgrades(TokioIo::new(tls), service)
                .await
            {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        });
    }
}
