//! The reverse proxy of the ingress controller: a request is matched against the routing
//! table by its host (`Host`, or `:authority` over HTTP/2) and path, then sent over HTTP/1.1
//! (pooled keep-alive connections) to one of the backend's ready endpoints in turn, with
//! `X-Forwarded-For`/`-Proto`/`-Host`/`-Port` and `X-Real-IP` added and hop-by-hop headers
//! dropped. A WebSocket (any `Upgrade`) is passed through: the 101 of the backend joins both
//! connections. No rule: 404; no ready endpoint: 503; a backend that cannot be reached: 502.
//! Each request gives one access log line (target `krust_ingress::access`).

use crate::routes::{Route, RouteTable};
use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Request, Response, StatusCode, Uri, Version};
use http_body_util::{BodyExt, Full, combinators::BoxBody};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

/// A response body: a proxied one or a short text.
pub type Body = BoxBody<Bytes, hyper::Error>;

/// The routing table the proxy reads, replaced whole when the cluster changes.
pub type SharedRoutes = Arc<RwLock<Arc<RouteTable>>>;

/// The proxy.
pub struct IngressProxy {
    routes: SharedRoutes,
    client: Client<HttpConnector, Incoming>,
    next: AtomicUsize,
}

const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
];

fn text(status: StatusCode, body: &'static str) -> Response<Body> {
    let mut r = Response::new(
        Full::new(Bytes::from_static(body.as_bytes()))
            .map_err(|never| match never {})
            .boxed(),
    );
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

/// The host without its port (`[::1]:80` → `::1`), lowercased.
pub fn host_only(host: &str) -> String {
    let h = if let Some(rest) = host.strip_prefix('[') {
        rest.split(']').next().unwrap_or(rest)
    } else {
        host.rsplit_once(':')
            .filter(|(_, p)| p.chars().all(|c| c.is_ascii_digit()))
            .map_or(host, |(h, _)| h)
    };
    h.to_ascii_lowercase()
}

fn strip_hop_by_hop(headers: &mut HeaderMap, keep_upgrade: bool) {
    // Headers the Connection header names are hop-by-hop too.
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|n| HeaderName::from_bytes(n.trim().as_bytes()).ok())
        .collect();
    for n in named {
        if !(keep_upgrade && n == header::UPGRADE) {
            headers.remove(n);
        }
    }
    for n in HOP_BY_HOP {
        headers.remove(n);
    }
    if keep_upgrade {
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    } else {
        headers.remove(header::UPGRADE);
    }
}

fn wants_upgrade(req: &Request<Incoming>) -> bool {
    req.version() == Version::HTTP_11
        && req.headers().contains_key(header::UPGRADE)
        && req
            .headers()
            .get_all(header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(|v| {
                v.split(',')
                    .any(|t| t.trim().eq_ignore_ascii_case("upgrade"))
            })
}

impl IngressProxy {
    pub fn new(routes: SharedRoutes) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(Duration::from_secs(5)));
        connector.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(60))
            .build(connector);
        IngressProxy {
            routes,
            client,
            next: AtomicUsize::new(0),
        }
    }

    /// Serves one request that came from `peer` to `local` over `scheme` (`http`/`https`).
    pub async fn handle(
        &self,
        req: Request<Incoming>,
        peer: SocketAddr,
        local: SocketAddr,
        scheme: &'static str,
    ) -> Response<Body> {
        let started = Instant::now();
        let method = req.method().clone();
        let target = req
            .uri()
            .path_and_query()
            .map_or_else(|| "/".to_string(), |p| p.as_str().to_string());
        let version = req.version();
        let host_full = req
            .headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .map(String::from)
            .or_else(|| req.uri().authority().map(|a| a.to_string()))
            .unwrap_or_default();
        let host = host_only(&host_full);
        let route = {
            let table = match self.routes.read() {
                Ok(t) => t.clone(),
                Err(p) => p.into_inner().clone(),
            };
            table.route(&host, req.uri().path())
        };
        let (resp, ingress, upstream) = match route {
            Route::NotFound => (
                text(StatusCode::NOT_FOUND, "404 page not found\n"),
                "-".to_string(),
                "-".to_string(),
            ),
            Route::NoEndpoints { ingress, .. } => (
                text(StatusCode::SERVICE_UNAVAILABLE, "no available server\n"),
                ingress,
                "-".to_string(),
            ),
            Route::Backend {
                ingress, endpoints, ..
            } => {
                let n = self.next.fetch_add(1, Ordering::Relaxed);
                match endpoints.get(n % endpoints.len().max(1)) {
                    Some(ep) => {
                        let ep = *ep;
                        let resp = self
                            .forward(req, ep, &host_full, &target, peer, local, scheme)
                            .await;
                        (resp, ingress, ep.to_string())
                    }
                    None => (
                        text(StatusCode::SERVICE_UNAVAILABLE, "no available server\n"),
                        ingress,
                        "-".to_string(),
                    ),
                }
            }
        };
        tracing::info!(
            target: "krust_ingress::access",
            "{} \"{} {} {:?}\" {} host={} ingress={} upstream={} {}ms",
            peer.ip(),
            method,
            target,
            version,
            resp.status().as_u16(),
            if host.is_empty() { "-" } else { host.as_str() },
            ingress,
            upstream,
            started.elapsed().as_millis()
        );
        resp
    }

    #[allow(clippy::too_many_arguments)]
    async fn forward(
        &self,
        mut req: Request<Incoming>,
        ep: SocketAddr,
        host_full: &str,
        target: &str,
        peer: SocketAddr,
        local: SocketAddr,
        scheme: &'static str,
    ) -> Response<Body> {
        let upgrade = wants_upgrade(&req);
        let client_side = upgrade.then(|| hyper::upgrade::on(&mut req));
        let Ok(uri) = format!("http://{ep}{target}").parse::<Uri>() else {
            return text(StatusCode::BAD_REQUEST, "bad request target\n");
        };
        let (mut parts, body) = req.into_parts();
        parts.uri = uri;
        parts.version = Version::HTTP_11;
        let headers = &mut parts.headers;
        strip_hop_by_hop(headers, upgrade);
        if !headers.contains_key(header::HOST)
            && let Ok(v) = HeaderValue::from_str(host_full)
        {
            headers.insert(header::HOST, v);
        }
        let client_ip = peer.ip().to_string();
        let xff = match headers.get("x-forwarded-for").and_then(|v| v.to_str().ok()) {
            Some(prior) => format!("{prior}, {client_ip}"),
            None => client_ip.clone(),
        };
        let set = |headers: &mut HeaderMap, name: &'static str, value: &str| {
            if let Ok(v) = HeaderValue::from_str(value) {
                headers.insert(name, v);
            }
        };
        set(headers, "x-forwarded-for", &xff);
        set(headers, "x-real-ip", &client_ip);
        set(headers, "x-forwarded-proto", scheme);
        set(headers, "x-forwarded-host", host_full);
        set(headers, "x-forwarded-port", &local.port().to_string());
        let mut resp = match self.client.request(Request::from_parts(parts, body)).await {
            Ok(r) => r,
            Err(e) => {
                tracing::debug!(upstream = %ep, error = %e, "backend request failed");
                return text(StatusCode::BAD_GATEWAY, "Bad Gateway\n");
            }
        };
        if resp.status() == StatusCode::SWITCHING_PROTOCOLS
            && let Some(client_side) = client_side
        {
            let backend_side = hyper::upgrade::on(&mut resp);
            tokio::spawn(async move {
                match tokio::try_join!(client_side, backend_side) {
                    Ok((c, b)) => {
                        let _ = tokio::io::copy_bidirectional(
                            &mut TokioIo::new(c),
                            &mut TokioIo::new(b),
                        )
                        .await;
                    }
                    Err(e) => tracing::debug!(error = %e, "upgrade failed"),
                }
            });
            let (parts, _) = resp.into_parts();
            return Response::from_parts(
                parts,
                Full::new(Bytes::new())
                    .map_err(|never| match never {})
                    .boxed(),
            );
        }
        strip_hop_by_hop(resp.headers_mut(), false);
        resp.map(BodyExt::boxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_without_ports() {
        assert_eq!(host_only("Example.TEST:8080"), "example.test");
        assert_eq!(host_only("example.test"), "example.test");
        assert_eq!(host_only("[::1]:80"), "::1");
        assert_eq!(host_only(""), "");
    }

    #[test]
    fn hop_by_hop_headers_go() {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONNECTION,
            HeaderValue::from_static("keep-alive, x-secret"),
        );
        h.insert("x-secret", HeaderValue::from_static("1"));
        h.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        h.insert("x-kept", HeaderValue::from_static("1"));
        let mut up = h.clone();
        strip_hop_by_hop(&mut h, false);
        assert_eq!(h.len(), 1, "{h:?}");
        assert!(h.contains_key("x-kept"));
        strip_hop_by_hop(&mut up, true);
        assert_eq!(up.get(header::UPGRADE).unwrap(), "websocket");
        assert_eq!(up.get(header::CONNECTION).unwrap(), "upgrade");
        assert!(!up.contains_key("x-secret"));
    }
}
