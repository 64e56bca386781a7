//! `pods/log`, `pods/exec`, `pods/attach` and `pods/portforward`: proxied to the kubelet of the
//! pod's node (its InternalIP and `status.daemonEndpoints.kubeletEndpoint.Port`), over TLS with
//! the API server's kubelet client certificate.
//!
//! Logs are streamed back as the kubelet writes them (`kubectl logs -f` sees lines as they
//! come). Exec, attach and port-forward go through an upgrade-aware transparent proxy, as
//! upstream's UpgradeAwareHandler: the client's upgrade request (WebSocket or SPDY, with its
//! `Upgrade`, `Sec-WebSocket-*` and `X-Stream-Protocol-Version` headers) is sent to the
//! kubelet; when the kubelet switches protocols, the client gets the kubelet's 101 and bytes
//! are copied both ways until either side closes. The kubelet speaks the client protocols.

use super::Ctx;
use crate::response::ResponseBody;
use crate::status::ApiError;
use crate::{ApiServer, KubeletClientConfig};
use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Empty, StreamBody, combinators::UnsyncBoxBody};
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use serde_json::Value;
use std::convert::Infallible;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

/// Upstream's kubelet port, when a node does not report one.
const DEFAULT_KUBELET_PORT: u16 = 10250;
/// Query parameters of `pods/log` the kubelet understands.
const LOG_PARAMS: &[&str] = &[
    "follow",
    "previous",
    "timestamps",
    "tailLines",
    "sinceSeconds",
    "sinceTime",
    "limitBytes",
];
/// Response headers of a protocol switch passed back to the client.
const UPGRADE_HEADERS: &[&str] = &[
    "connection",
    "upgrade",
    "sec-websocket-accept",
    "sec-websocket-protocol",
    "sec-websocket-extensions",
    "x-stream-protocol-version",
];

/// Whether this is one of the proxied pod subresources.
pub(crate) fn handles(ctx: &Ctx, method: &Method) -> bool {
    if !(ctx.info.group.is_empty() && ctx.info.kind == "Pod" && ctx.path.name.is_some()) {
        return false;
    }
    match ctx.path.subresource.as_deref() {
        Some("log") => *method == Method::GET,
        Some("exec" | "attach" | "portforward") => {
            *method == Method::GET || *method == Method::POST
        }
        _ => false,
    }
}

/// The container a request names, checked against the pod's spec as upstream does.
fn container_of(pod: &Value, name: &str, asked: Option<&str>) -> Result<String, ApiError> {
    let names = |field: &str| -> Vec<String> {
        pod["spec"][field]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|c| c["name"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    let containers = names("containers");
    let init = names("initContainers");
    let ephemeral = names("ephemeralContainers");
    match asked.filter(|c| !c.is_empty()) {
        Some(c) => {
            if containers
                .iter()
                .chain(&init)
                .chain(&ephemeral)
                .any(|n| n == c)
            {
                Ok(c.to_string())
            } else {
                Err(ApiError::bad_request(format!(
                    "container {c} is not valid for pod {name}"
                )))
            }
        }
        None if containers.len() == 1 => Ok(containers[0].clone()),
        None => {
            let mut msg = format!(
                "a container name must be specified for pod {name}, choose one of: [{}]",
                containers.join(" ")
            );
            if !init.is_empty() {
                msg.push_str(&format!(
                    " or one of the init containers: [{}]",
                    init.join(" ")
                ));
            }
            Err(ApiError::bad_request(msg))
        }
    }
}

/// The kubelet address of node `node`: its InternalIP (else first address) and port.
async fn kubelet_address(server: &ApiServer, node: &str) -> Result<(IpAddr, u16), ApiError> {
    let info = server
        .registry()
        .get("", "v1", "nodes")
        .ok_or_else(|| ApiError::internal("the nodes resource is not registered"))?;
    let (_, obj) = super::write::load(server, &info, &info.key(None, node), node).await?;
    kubelet_endpoint(&obj).ok_or_else(|| {
        ApiError::service_unavailable(format!("node {node} reports no address of its kubelet"))
    })
}

/// Where a Node's kubelet listens: its InternalIP (else first address) and
/// `status.daemonEndpoints.kubeletEndpoint.Port` (upstream's 10250 when unset).
pub(crate) fn kubelet_endpoint(node: &Value) -> Option<(IpAddr, u16)> {
    let addresses = node["status"]["addresses"].as_array()?;
    let ip = addresses
        .iter()
        .find(|a| a["type"] == "InternalIP")
        .or_else(|| addresses.first())
        .and_then(|a| a["address"].as_str())
        .and_then(|a| a.parse::<IpAddr>().ok())?;
    let port = node["status"]["daemonEndpoints"]["kubeletEndpoint"]["Port"]
        .as_u64()
        .and_then(|p| u16::try_from(p).ok())
        .filter(|p| *p > 0)
        .unwrap_or(DEFAULT_KUBELET_PORT);
    Some((ip, port))
}

/// `GET path` on the kubelet at `ip:port`: the body of a 2xx answer, at most `limit` bytes,
/// within `timeout` (connecting included).
pub(crate) async fn kubelet_get(
    cfg: &KubeletClientConfig,
    ip: IpAddr,
    port: u16,
    path: &str,
    limit: usize,
    timeout: Duration,
) -> Result<Bytes, ApiError> {
    let work = async {
        let mut sender = connect(cfg, ip, port).await?;
        let req = Request::builder()
            .method(Method::GET)
            .uri(path)
            .header(header::HOST, format!("{ip}:{port}"))
            .header(header::ACCEPT, "application/json")
            .body(Empty::<Bytes>::new())
            .map_err(|e| ApiError::internal(format!("building the kubelet request: {e}")))?;
        let resp = sender.send_request(req).await.map_err(|e| {
            ApiError::service_unavailable(format!(
                "error talking to the kubelet at {ip}:{port}: {e}"
            ))
        })?;
        if !resp.status().is_success() {
            return Err(kubelet_error(resp).await);
        }
        http_body_util::Limited::new(resp.into_body(), limit)
            .collect()
            .await
            .map(|c| c.to_bytes())
            .map_err(|e| {
                ApiError::service_unavailable(format!(
                    "reading the answer of the kubelet at {ip}:{port}: {e}"
                ))
            })
    };
    tokio::time::timeout(timeout, work)
        .await
        .unwrap_or_else(|_| {
            Err(ApiError::service_unavailable(format!(
                "the kubelet at {ip}:{port} did not answer within {}s",
                timeout.as_secs()
            )))
        })
}

fn tls_config(cfg: &KubeletClientConfig) -> Result<Arc<rustls::ClientConfig>, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let chain: Vec<CertificateDer<'static>> =
        CertificateDer::pem_slice_iter(cfg.cert_pem.as_bytes())
            .collect::<Result<_, _>>()
            .map_err(|e| e.to_string())?;
    let key = PrivateKeyDer::from_pem_slice(cfg.key_pem.as_bytes()).map_err(|e| e.to_string())?;
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?;
    let builder = match &cfg.ca_pem {
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            for c in CertificateDer::pem_slice_iter(ca.as_bytes()) {
                roots
                    .add(c.map_err(|e| e.to_string())?)
                    .map_err(|e| e.to_string())?;
            }
            builder.with_root_certificates(roots)
        }
        None => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(crate::tls_verify::AnyServerCert::new(
                provider,
            ))),
    };
    let mut config = builder
        .with_client_auth_cert(chain, key)
        .map_err(|e| e.to_string())?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

type KubeletSender = hyper::client::conn::http1::SendRequest<Empty<Bytes>>;

/// Opens an HTTP/1.1 connection to the kubelet at `addr`.
async fn connect(
    cfg: &KubeletClientConfig,
    ip: IpAddr,
    port: u16,
) -> Result<KubeletSender, ApiError> {
    let unavailable = |what: String| {
        ApiError::service_unavailable(format!("error dialing the kubelet at {ip}:{port}: {what}"))
    };
    let tls =
        tls_config(cfg).map_err(|e| ApiError::internal(format!("kubelet client TLS: {e}")))?;
    let tcp = tokio::time::timeout(
        Duration::from_secs(10),
        tokio::net::TcpStream::connect((ip, port)),
    )
    .await
    .map_err(|_| unavailable("timed out".into()))?
    .map_err(|e| unavailable(e.to_string()))?;
    let _ = tcp.set_nodelay(true);
    let stream = tokio_rustls::TlsConnector::from(tls)
        .connect(ServerName::IpAddress(ip.into()), tcp)
        .await
        .map_err(|e| unavailable(e.to_string()))?;
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| unavailable(e.to_string()))?;
    tokio::spawn(async move {
        if let Err(e) = conn.with_upgrades().await {
            tracing::debug!(error = %e, "kubelet connection ended with an error");
        }
    });
    Ok(sender)
}

/// A kubelet error answer as upstream's generic response checker turns it into a Status.
async fn kubelet_error(resp: Response<hyper::body::Incoming>) -> ApiError {
    let code = resp.status().as_u16();
    let body = http_body_util::Limited::new(resp.into_body(), 64 * 1024)
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    let text = String::from_utf8_lossy(&body).trim().to_string();
    match code {
        400 => ApiError::bad_request(text),
        404 => ApiError::new(404, "NotFound", text),
        500 => ApiError::internal(format!("Internal error occurred: {text}")),
        _ => ApiError::new(code, "InternalError", text),
    }
}

/// Serves a proxied pod subresource.
pub(crate) async fn serve(
    server: &ApiServer,
    ctx: &Ctx,
    parts: &http::request::Parts,
) -> Result<Response<ResponseBody>, ApiError> {
    let sub = ctx.path.subresource.clone().unwrap_or_default();
    let name = ctx.name().to_string();
    let ns = ctx.namespace().unwrap_or("default").to_string();
    let (_, pod) = super::write::load(server, &ctx.info, &ctx.key(), &name).await?;
    let container = match sub.as_str() {
        "portforward" => None,
        _ => Some(container_of(&pod, &name, ctx.query.get("container"))?),
    };
    let node = pod["spec"]["nodeName"].as_str().unwrap_or("").to_string();
    if node.is_empty() {
        if sub == "log" {
            // Upstream streams nothing for a pod not yet scheduled.
            return Ok(streamed(Response::new(()), empty_body()));
        }
        return Err(ApiError::bad_request(format!(
            "pod {name} does not have a host assigned"
        )));
    }
    let Some(cfg) = server.state.config.kubelet_client.clone() else {
        return Err(ApiError::service_unavailable(
            "this API server is not configured to reach kubelets",
        ));
    };
    let (ip, port) = kubelet_address(server, &node).await?;
    let enc = |s: &str| percent_encode_path(s);
    let path = match (sub.as_str(), &container) {
        ("log", Some(c)) => {
            let mut q = Vec::new();
            for k in LOG_PARAMS {
                if let Some(v) = ctx.query.get(k) {
                    q.push(format!("{k}={}", percent_encode_path(v)));
                }
            }
            format!(
                "/containerLogs/{}/{}/{}?{}",
                enc(&ns),
                enc(&name),
                enc(c),
                q.join("&")
            )
        }
        ("exec" | "attach", Some(c)) => format!(
            "/{sub}/{}/{}/{}?{}",
            enc(&ns),
            enc(&name),
            enc(c),
            parts.uri.query().unwrap_or("")
        ),
        _ => format!(
            "/portForward/{}/{}?{}",
            enc(&ns),
            enc(&name),
            parts.uri.query().unwrap_or("")
        ),
    };
    let mut sender = connect(&cfg, ip, port).await?;
    let mut req = Request::builder()
        .method(parts.method.clone())
        .uri(path)
        .header(header::HOST, format!("{ip}:{port}"));
    if sub != "log" {
        for (k, v) in &parts.headers {
            if matches!(
                k.as_str(),
                "host"
                    | "authorization"
                    | "content-length"
                    | "transfer-encoding"
                    | "te"
                    | "keep-alive"
            ) {
                continue;
            }
            req = req.header(k, v);
        }
    }
    let req = req
        .body(Empty::<Bytes>::new())
        .map_err(|e| ApiError::internal(format!("building the kubelet request: {e}")))?;
    let client_upgrade = parts.extensions.get::<hyper::upgrade::OnUpgrade>().cloned();
    let resp = sender.send_request(req).await.map_err(|e| {
        ApiError::service_unavailable(format!("error talking to the kubelet at {ip}:{port}: {e}"))
    })?;
    if sub == "log" {
        if !resp.status().is_success() {
            return Err(kubelet_error(resp).await);
        }
        let body = resp.into_body();
        let s = futures::stream::unfold(body, |mut b| async move {
            match b.frame().await {
                Some(Ok(f)) => Some((Ok::<_, Infallible>(f), b)),
                _ => None,
            }
        });
        let mut out = Response::new(());
        out.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        return Ok(streamed(out, UnsyncBoxBody::new(StreamBody::new(s))));
    }
    if resp.status() != StatusCode::SWITCHING_PROTOCOLS {
        // Passed back as the kubelet wrote it: clients print it ("unable to upgrade
        // connection: …") or fall back to another protocol.
        let status = resp.status();
        let content_type = resp.headers().get(header::CONTENT_TYPE).cloned();
        let body = http_body_util::Limited::new(resp.into_body(), 64 * 1024)
            .collect()
            .await
            .map(|c| c.to_bytes())
            .unwrap_or_default();
        let mut out = Response::new(());
        *out.status_mut() = status;
        if let Some(ct) = content_type {
            out.headers_mut().insert(header::CONTENT_TYPE, ct);
        }
        return Ok(streamed(out, full_body(body)));
    }
    let Some(client_upgrade) = client_upgrade else {
        return Err(ApiError::bad_request("the connection cannot be upgraded"));
    };
    let mut out = Response::new(());
    *out.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    for (k, v) in resp.headers() {
        if UPGRADE_HEADERS.contains(&k.as_str()) {
            out.headers_mut().append(k, v.clone());
        }
    }
    let kubelet_upgrade = hyper::upgrade::on(resp);
    tokio::spawn(async move {
        let (client, kubelet) = match tokio::join!(client_upgrade, kubelet_upgrade) {
            (Ok(c), Ok(k)) => (c, k),
            (Err(e), _) | (_, Err(e)) => {
                tracing::debug!(error = %e, "upgrading a streaming connection failed");
                return;
            }
        };
        let mut client = TokioIo::new(client);
        let mut kubelet = TokioIo::new(kubelet);
        if let Err(e) = tokio::io::copy_bidirectional(&mut client, &mut kubelet).await {
            tracing::debug!(error = %e, "streaming connection ended with an error");
        }
    });
    Ok(streamed(out, empty_body()))
}

fn empty_body() -> ResponseBody {
    UnsyncBoxBody::new(Empty::<Bytes>::new().map_err(|e: Infallible| e))
}

fn full_body(b: Bytes) -> ResponseBody {
    UnsyncBoxBody::new(http_body_util::Full::new(b))
}

fn streamed(parts: Response<()>, body: ResponseBody) -> Response<ResponseBody> {
    let (mut p, ()) = parts.into_parts();
    p.headers
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-cache, private"));
    Response::from_parts(p, body)
}

/// Percent-encodes a path segment or query value.
fn percent_encode_path(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b':') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn checks_containers_as_upstream() {
        let pod = json!({"spec": {"containers": [{"name": "a"}, {"name": "b"}], "initContainers": [{"name": "i"}]}});
        assert_eq!(container_of(&pod, "web", Some("b")).unwrap(), "b");
        assert_eq!(container_of(&pod, "web", Some("i")).unwrap(), "i");
        assert_eq!(
            container_of(&pod, "web", Some("x")).unwrap_err().message,
            "container x is not valid for pod web"
        );
        assert_eq!(
            container_of(&pod, "web", None).unwrap_err().message,
            "a container name must be specified for pod web, choose one of: [a b] or one of the init containers: [i]"
        );
        let one = json!({"spec": {"containers": [{"name": "only"}]}});
        assert_eq!(container_of(&one, "web", Some("")).unwrap(), "only");
    }

    #[test]
    fn encodes_path_parts() {
        assert_eq!(percent_encode_path("a b/c"), "a%20b%2Fc");
        assert_eq!(
            percent_encode_path("2024-01-01T00:00:00Z"),
            "2024-01-01T00:00:00Z"
        );
    }
}
