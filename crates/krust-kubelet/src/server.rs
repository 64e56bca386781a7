//! The kubelet's HTTPS server, the API server's way to the node's containers (upstream's
//! port 10250): `GET /containerLogs/{ns}/{pod}/{container}` ([`logs`]), `/exec/…` and
//! `/attach/…` ([`exec`]), `/portForward/{ns}/{pod}` ([`portforward`]), `/stats/summary`
//! ([`stats`]) and `/healthz`.
//!
//! TLS with a client certificate required and verified against the cluster CA: only the API
//! server (and cluster admins) hold such certificates, node agents authenticate with tokens.
//!
//! The kubelet speaks the client protocols itself, so the API server only has to proxy bytes:
//! WebSocket `v5.channel.k8s.io` (also v4, v3, v2 and `channel.k8s.io`) for exec and attach,
//! bridged to containerd's SPDY streaming server ([`spdy`] as a client); SPDY/3.1 for
//! port-forward, plain or tunnelled in WebSocket binary messages as kubectl 1.30+ sends it.
//! A SPDY exec/attach request (kubectl's fallback) is passed through to containerd's streaming
//! server unchanged.

pub mod exec;
pub mod logs;
pub mod portforward;
pub mod spdy;
pub mod stats;
pub mod websocket;

use crate::cri::Cri;
use crate::runtime::{self, LABEL_POD_NAME, LABEL_POD_NAMESPACE, LABEL_POD_UID, PodContainer};
use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, StreamBody, combinators::BoxBody};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use k8s_cri::v1 as api;
use k8s_cri::v1::runtime_service_client::RuntimeServiceClient;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::convert::Infallible;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tonic::transport::{Channel, Endpoint};

/// Upstream's kubelet port.
pub const DEFAULT_PORT: u16 = 10250;

/// The body of every response.
pub type Body = BoxBody<Bytes, Infallible>;

/// What the server is started with.
#[derive(Clone)]
pub struct ServerConfig {
    pub bind: IpAddr,
    pub port: u16,
    /// Serving certificate chain and key (PEM).
    pub cert_pem: String,
    pub key_pem: String,
    /// CA whose client certificates are accepted (PEM): the cluster CA.
    pub client_ca_pem: String,
}

impl std::fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerConfig")
            .field("bind", &self.bind)
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("kubelet server TLS: {0}")]
    Tls(String),
    #[error("kubelet server listening on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// Builds the rustls configuration: our certificate, client certificates required from the CA.
pub fn tls_config(cfg: &ServerConfig) -> Result<Arc<rustls::ServerConfig>, ServerError> {
    let tls = |e: &dyn std::fmt::Display| ServerError::Tls(e.to_string());
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let chain: Vec<CertificateDer<'static>> =
        CertificateDer::pem_slice_iter(cfg.cert_pem.as_bytes())
            .collect::<Result<_, _>>()
            .map_err(|e| tls(&e))?;
    let key = PrivateKeyDer::from_pem_slice(cfg.key_pem.as_bytes()).map_err(|e| tls(&e))?;
    let mut roots = rustls::RootCertStore::empty();
    for ca in CertificateDer::pem_slice_iter(cfg.client_ca_pem.as_bytes()) {
        roots.add(ca.map_err(|e| tls(&e))?).map_err(|e| tls(&e))?;
    }
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .build()
    .map_err(|e| tls(&e))?;
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| tls(&e))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .map_err(|e| tls(&e))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Shared by the handlers.
pub struct Handler {
    pub cri: Cri,
    pub streaming: StreamingCri,
    /// The resource statistics behind `/stats/summary`.
    pub stats: Arc<crate::stats::Collector>,
}

/// Binds and serves until the process ends.
pub async fn run(
    cfg: ServerConfig,
    cri: Cri,
    stats: Arc<crate::stats::Collector>,
) -> Result<(), ServerError> {
    let tls = tls_config(&cfg)?;
    let addr = SocketAddr::new(cfg.bind, cfg.port);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| ServerError::Listen { addr, source })?;
    let handler = Arc::new(Handler {
        streaming: StreamingCri::new(cri.socket().to_path_buf()),
        cri,
        stats,
    });
    tracing::info!(%addr, "kubelet server listening");
    serve(listener, tls, handler).await;
    Ok(())
}

/// Accepts connections on `listener` forever.
pub async fn serve(
    listener: tokio::net::TcpListener,
    tls: Arc<rustls::ServerConfig>,
    handler: Arc<Handler>,
) {
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    loop {
        let (tcp, peer) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!(error = %e, "kubelet server accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = tcp.set_nodelay(true);
        let acceptor = acceptor.clone();
        let handler = handler.clone();
        tokio::spawn(async move {
            let stream =
                match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp)).await {
                    Ok(Ok(s)) => s,
                    Ok(Err(e)) => {
                        tracing::debug!(%peer, error = %e, "kubelet server TLS handshake failed");
                        return;
                    }
                    Err(_) => return,
                };
            let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                let handler = handler.clone();
                async move { Ok::<_, Infallible>(handler.handle(req).await) }
            });
            if let Err(e) = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .with_upgrades()
                .await
            {
                tracing::debug!(%peer, error = %e, "kubelet server connection ended with an error");
            }
        });
    }
}

/// A full body.
pub fn full(b: impl Into<Bytes>) -> Body {
    Full::new(b.into()).boxed()
}

/// A plain-text response (errors are plain text, as upstream's kubelet writes them).
pub fn text(status: u16, msg: impl Into<String>) -> Response<Body> {
    let mut r = Response::new(full(msg.into()));
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

/// A streaming plain-text response fed by `rx`.
pub fn streaming_text(rx: tokio::sync::mpsc::Receiver<Bytes>) -> Response<Body> {
    let s = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|b| (Ok::<_, Infallible>(hyper::body::Frame::data(b)), rx))
    });
    let mut r = Response::new(BodyExt::boxed(StreamBody::new(s)));
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain"),
    );
    r
}

/// Percent-decodes a query component (`+` is a space, as Go's url.Values encodes it).
pub fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                let hex = |c: u8| (c as char).to_digit(16);
                match (hex(b[i + 1]), hex(b[i + 2])) {
                    (Some(h), Some(l)) => {
                        out.push((h * 16 + l) as u8);
                        i += 2;
                    }
                    _ => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The query's pairs, in order, decoded.
pub fn query_pairs(query: Option<&str>) -> Vec<(String, String)> {
    query
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (percent_decode(k), percent_decode(v)),
            None => (percent_decode(p), String::new()),
        })
        .collect()
}

/// Whether a header lists `token` (comma-separated, case-insensitive).
pub fn header_has(headers: &HeaderMap, name: http::header::HeaderName, token: &str) -> bool {
    headers.get_all(name).iter().any(|v| {
        v.to_str()
            .unwrap_or("")
            .split(',')
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    })
}

/// A pod as the runtime knows it.
pub struct FoundPod {
    pub uid: String,
    pub sandbox: api::PodSandbox,
    pub runtime: runtime::RuntimePod,
}

impl Handler {
    async fn handle(&self, req: Request<Incoming>) -> Response<Body> {
        let path = req.uri().path().to_string();
        let segs: Vec<String> = path
            .trim_start_matches('/')
            .split('/')
            .map(percent_decode)
            .collect();
        let seg: Vec<&str> = segs.iter().map(String::as_str).collect();
        match seg.as_slice() {
            ["healthz"] | ["healthz", ..] => text(200, "ok"),
            ["stats", "summary"] => stats::serve(self, &req).await,
            ["containerLogs", ns, pod, container] => {
                logs::serve(self, &req, ns, pod, container).await
            }
            ["exec", ns, pod, container] | ["exec", ns, pod, _, container] => {
                exec::serve(
                    self,
                    req,
                    exec::Kind::Exec,
                    ns.to_string(),
                    pod.to_string(),
                    container.to_string(),
                )
                .await
            }
            ["attach", ns, pod, container] | ["attach", ns, pod, _, container] => {
                exec::serve(
                    self,
                    req,
                    exec::Kind::Attach,
                    ns.to_string(),
                    pod.to_string(),
                    container.to_string(),
                )
                .await
            }
            ["portForward", ns, pod] | ["portForward", ns, pod, _] => {
                portforward::serve(self, req, ns.to_string(), pod.to_string()).await
            }
            _ => text(404, "404 page not found"),
        }
    }

    /// The pod named `ns/name` on this node: its newest sandbox (a ready one first).
    pub async fn find_pod(&self, ns: &str, name: &str) -> Result<Option<FoundPod>, String> {
        let selector = crate::cri::labels(&[(LABEL_POD_NAMESPACE, ns), (LABEL_POD_NAME, name)]);
        let sandboxes = self
            .cri
            .list_pod_sandboxes(selector)
            .await
            .map_err(|e| e.to_string())?;
        let Some(sandbox) = sandboxes
            .iter()
            .max_by_key(|s| (crate::cri::sandbox_ready(s.state), s.created_at))
            .cloned()
        else {
            return Ok(None);
        };
        let uid = sandbox
            .labels
            .get(LABEL_POD_UID)
            .cloned()
            .unwrap_or_default();
        let runtime = runtime::inspect(&self.cri, &uid, &mut runtime::StatusCache::default())
            .await
            .map_err(|e| e.to_string())?;
        Ok(Some(FoundPod {
            uid,
            sandbox,
            runtime,
        }))
    }

    /// The newest container `container` of the pod (the previous one with `previous`).
    pub async fn find_container(
        &self,
        ns: &str,
        pod: &str,
        container: &str,
        previous: bool,
    ) -> Result<PodContainer, Response<Body>> {
        let found = self
            .find_pod(ns, pod)
            .await
            .map_err(|e| text(500, e))?
            .ok_or_else(|| text(404, format!("pod \"{pod}\" not found")))?;
        let list = found.runtime.by_name(container);
        let which = if previous { list.get(1) } else { list.first() };
        match which {
            Some(c) => Ok((*c).clone()),
            None if previous => Err(text(
                400,
                format!("previous terminated container \"{container}\" in pod \"{pod}\" not found"),
            )),
            None => Err(text(
                400,
                format!(
                    "container \"{container}\" in pod \"{pod}\" is waiting to start: ContainerCreating"
                ),
            )),
        }
    }
}

/// Connects tonic to a unix socket.
#[derive(Clone)]
struct UnixConnector(Arc<PathBuf>);

impl tower::Service<http::Uri> for UnixConnector {
    type Response = TokioIo<tokio::net::UnixStream>;
    type Error = std::io::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _uri: http::Uri) -> Self::Future {
        let path = self.0.clone();
        Box::pin(async move { Ok(TokioIo::new(tokio::net::UnixStream::connect(&*path).await?)) })
    }
}

/// The CRI streaming calls (`Exec`, `Attach`, `PortForward`): each returns a URL on the
/// runtime's streaming server.
#[derive(Clone)]
pub struct StreamingCri {
    client: RuntimeServiceClient<Channel>,
}

impl StreamingCri {
    pub fn new(socket: PathBuf) -> StreamingCri {
        let channel = Endpoint::from_static("http://localhost")
            .connect_timeout(Duration::from_secs(5))
            .connect_with_connector_lazy(UnixConnector(Arc::new(socket)));
        StreamingCri {
            client: RuntimeServiceClient::new(channel),
        }
    }

    pub async fn exec(&self, req: api::ExecRequest) -> Result<String, String> {
        let mut c = self.client.clone();
        match tokio::time::timeout(Duration::from_secs(30), c.exec(req)).await {
            Ok(Ok(r)) => Ok(r.into_inner().url),
            Ok(Err(s)) => Err(s.message().to_string()),
            Err(_) => Err("the container runtime did not answer Exec".into()),
        }
    }

    pub async fn attach(&self, req: api::AttachRequest) -> Result<String, String> {
        let mut c = self.client.clone();
        match tokio::time::timeout(Duration::from_secs(30), c.attach(req)).await {
            Ok(Ok(r)) => Ok(r.into_inner().url),
            Ok(Err(s)) => Err(s.message().to_string()),
            Err(_) => Err("the container runtime did not answer Attach".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_queries() {
        assert_eq!(percent_decode("exit+3"), "exit 3");
        assert_eq!(percent_decode("a%20b%2Fc"), "a b/c");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
        assert_eq!(
            query_pairs(Some("command=sh&command=-c&command=exit+3&tty&x=")),
            vec![
                ("command".to_string(), "sh".to_string()),
                ("command".into(), "-c".into()),
                ("command".into(), "exit 3".into()),
                ("tty".into(), String::new()),
                ("x".into(), String::new()),
            ]
        );
    }
}
