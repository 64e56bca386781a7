//! The ingress controller of a node agent (hyper + rustls): serves `networking.k8s.io/v1`
//! Ingresses of krust's IngressClasses on the node's HTTP and HTTPS ports (80/443 by
//! default), from a routing table ([`routes`]) rebuilt whenever an Ingress, IngressClass,
//! Service, EndpointSlice or Secret changes (shared informers of `krust-client`), with
//! certificates chosen by SNI ([`tls`]) and requests proxied to the backends' pods
//! ([`proxy`]). HTTP/1.1 with keep-alive and HTTP/2 (ALPN over TLS, prior knowledge in
//! clear text) on both ports. The Ingresses' status is the controller manager's job.

pub mod proxy;
pub mod routes;
pub mod tls;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use k8s_openapi::api::core::v1::{Secret, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::networking::v1::{Ingress, IngressClass};
use krust_client::runtime::Informers;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::Notify;

/// Where the controller listens.
#[derive(Debug, Clone)]
pub struct IngressConfig {
    /// Plain HTTP (`--ingress-http-port`), None: off.
    pub http: Option<SocketAddr>,
    /// HTTPS (`--ingress-https-port`), None: off.
    pub https: Option<SocketAddr>,
}

/// The ingress controller.
pub struct IngressController {
    client: kube::Client,
    config: IngressConfig,
}

async fn bind(addr: Option<SocketAddr>, what: &str) -> Option<TcpListener> {
    let addr = addr?;
    match TcpListener::bind(addr).await {
        Ok(l) => Some(l),
        Err(e) => {
            tracing::warn!(%addr, error = %e, "ingress: cannot listen for {what}");
            None
        }
    }
}

async fn serve<S>(
    proxy: Arc<proxy::IngressProxy>,
    stream: S,
    peer: SocketAddr,
    local: SocketAddr,
    scheme: &'static str,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = service_fn(move |req| {
        let proxy = proxy.clone();
        async move { Ok::<_, std::convert::Infallible>(proxy.handle(req, peer, local, scheme).await) }
    });
    let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    if let Err(e) = builder
        .serve_connection_with_upgrades(TokioIo::new(stream), service)
        .await
    {
        tracing::debug!(%peer, error = %e, "ingress connection ended with an error");
    }
}

async fn accept_loop(
    listener: TcpListener,
    proxy: Arc<proxy::IngressProxy>,
    tls: Option<tokio_rustls::TlsAcceptor>,
) {
    loop {
        let (tcp, peer) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                tracing::debug!(error = %e, "ingress accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = tcp.set_nodelay(true);
        let Ok(local) = tcp.local_addr() else {
            continue;
        };
        let proxy = proxy.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            match tls {
                None => serve(proxy, tcp, peer, local, "http").await,
                Some(acceptor) => {
                    match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp)).await
                    {
                        Ok(Ok(stream)) => serve(proxy, stream, peer, local, "https").await,
                        Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                }
            }
        });
    }
}

impl IngressController {
    pub fn new(client: kube::Client, config: IngressConfig) -> Self {
        IngressController { client, config }
    }

    /// Serves until the future is dropped.
    pub async fn run(self) {
        let http = bind(self.config.http, "HTTP").await;
        let https = bind(self.config.https, "HTTPS").await;
        if http.is_none() && https.is_none() {
            return;
        }
        let informers = Informers::new(self.client.clone());
        let ingresses = informers.get::<Ingress>();
        let classes = informers.get::<IngressClass>();
        let services = informers.get::<Service>();
        let slices = informers.get::<EndpointSlice>();
        let secrets = informers.get::<Secret>();
        let changed = Arc::new(Notify::new());
        {
            let c = changed.clone();
            ingresses.add_handler(move |_| c.notify_one());
            let c = changed.clone();
            classes.add_handler(move |_| c.notify_one());
            let c = changed.clone();
            services.add_handler(move |_| c.notify_one());
            let c = changed.clone();
            slices.add_handler(move |_| c.notify_one());
            let c = changed.clone();
            secrets.add_handler(move |_| c.notify_one());
        }
        let routes: proxy::SharedRoutes = Arc::new(RwLock::new(Arc::default()));
        let certs = Arc::new(RwLock::new(tls::Certificates::default()));
        let proxy = Arc::new(proxy::IngressProxy::new(routes.clone()));
        let mut tasks = tokio::task::JoinSet::new();
        if let Some(l) = http {
            tracing::info!(addr = ?l.local_addr().ok(), "ingress serving HTTP");
            tasks.spawn(accept_loop(l, proxy.clone(), None));
        }
        if let Some(l) = https {
            match tls::default_certificate() {
                Ok(default) => {
                    let resolver = tls::SniResolver {
                        current: certs.clone(),
                        default: Arc::new(default),
                    };
                    let mut config = rustls::ServerConfig::builder()
                        .with_no_client_auth()
                        .with_cert_resolver(Arc::new(resolver));
                    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
                    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
                    tracing::info!(addr = ?l.local_addr().ok(), "ingress serving HTTPS");
                    tasks.spawn(accept_loop(l, proxy.clone(), Some(acceptor)));
                }
                Err(e) => tracing::warn!(error = %e, "ingress: no default certificate, no HTTPS"),
            }
        }
        ingresses.wait_synced().await;
        classes.wait_synced().await;
        services.wait_synced().await;
        slices.wait_synced().await;
        secrets.wait_synced().await;
        loop {
            let table = Arc::new(routes::RouteTable::build(
                &ingresses.list_all(),
                &classes.list_all(),
                &services.list_all(),
                &slices.list_all(),
            ));
            let loaded = tls::Certificates::load(table.clone(), |ns, name| secrets.get(ns, name));
            match certs.write() {
                Ok(mut c) => *c = loaded,
                Err(p) => *p.into_inner() = loaded,
            }
            match routes.write() {
                Ok(mut r) => *r = table,
                Err(p) => *p.into_inner() = table,
            }
            let _ = tokio::time::timeout(Duration::from_secs(60), changed.notified()).await;
            // Let a burst of changes settle into one rebuild.
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}
