//! The actions probes and lifecycle hooks run, with upstream's result messages: `exec`
//! (CRI `ExecSync`: exit code 0 is success, the output is the message), `httpGet` (hyper's
//! HTTP/1.1 client over one TCP connection: 200-399 is success), `tcpSocket` (a connection
//! within the timeout is success).

use crate::cri::Cri;
use http_body_util::BodyExt;
use hyper_util::rt::TokioIo;
use k8s_openapi::api::core::v1::{Container, HTTPGetAction, TCPSocketAction};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use std::time::Duration;
use tokio::net::TcpStream;

/// The `User-Agent` of HTTP probes (upstream's `kube-probe/<major.minor>`).
pub const USER_AGENT: &str = "kube-probe/1.33";
/// Bytes of an HTTP response body kept for the message (upstream keeps 10 KiB).
const MAX_BODY: usize = 10 * 1024;

/// What an action came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Success(String),
    Failure(String),
}

impl Outcome {
    pub fn is_success(&self) -> bool {
        matches!(self, Outcome::Success(_))
    }

    /// The message (output or error).
    pub fn message(&self) -> &str {
        match self {
            Outcome::Success(m) | Outcome::Failure(m) => m,
        }
    }
}

/// A port by number or by the name of one of `container`'s ports.
pub fn resolve_port(port: &IntOrString, container: &Container) -> Result<u16, String> {
    match port {
        IntOrString::Int(n) if (1..=65535).contains(n) => Ok(*n as u16),
        IntOrString::Int(n) => Err(format!("invalid port number: {n}")),
        IntOrString::String(s) => {
            if let Ok(n) = s.parse::<u16>()
                && n > 0
            {
                return Ok(n);
            }
            container
                .ports
                .iter()
                .flatten()
                .find(|p| p.name.as_deref() == Some(s.as_str()))
                .map(|p| p.container_port as u16)
                .ok_or_else(|| format!("couldn't find port: {s} in {}", container.name))
        }
    }
}

/// Runs `cmd` in the container.
pub async fn exec(cri: &Cri, container_id: &str, cmd: &[String], timeout: Duration) -> Outcome {
    match cri.exec_sync(container_id, cmd.to_vec(), timeout).await {
        Ok(r) => {
            let mut out = String::from_utf8_lossy(&r.stdout).into_owned();
            out.push_str(&String::from_utf8_lossy(&r.stderr));
            if r.exit_code == 0 {
                Outcome::Success(out)
            } else {
                Outcome::Failure(out)
            }
        }
        Err(crate::cri::CriError::Timeout { .. }) => {
            Outcome::Failure(format!("command {:?} timed out", cmd.join(" ")))
        }
        Err(e) => Outcome::Failure(e.message()),
    }
}

fn host_port(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// The request of an HTTP probe: `GET path` with upstream's default `Host`, `User-Agent`
/// and `Accept` unless the probe sets them, and the probe's own headers.
pub fn http_request(
    host: &str,
    port: u16,
    path: &str,
    headers: &[(String, String)],
) -> Result<http::Request<http_body_util::Empty<bytes::Bytes>>, String> {
    let path = if path.is_empty() {
        "/".to_string()
    } else if path.starts_with('/') {
        path.to_string()
    } else {
        format!("/{path}")
    };
    let mut req = http::Request::get(path.as_str());
    let mut has_host = false;
    let mut has_ua = false;
    let mut has_accept = false;
    for (k, v) in headers {
        has_host |= k.eq_ignore_ascii_case("host");
        has_ua |= k.eq_ignore_ascii_case("user-agent");
        has_accept |= k.eq_ignore_ascii_case("accept");
        req = req.header(k.as_str(), v.as_str());
    }
    if !has_host {
        req = req.header(http::header::HOST, host_port(host, port));
    }
    if !has_ua {
        req = req.header(http::header::USER_AGENT, USER_AGENT);
    }
    if !has_accept {
        req = req.header(http::header::ACCEPT, "*/*");
    }
    // Upstream's probe transport disables keep-alives.
    req = req.header(http::header::CONNECTION, "close");
    req.body(http_body_util::Empty::new())
        .map_err(|e| format!("invalid probe request: {e}"))
}

fn dial_error(addr: &str, e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::ConnectionRefused => {
            format!("dial tcp {addr}: connect: connection refused")
        }
        _ => format!("dial tcp {addr}: {e}"),
    }
}

/// An HTTP GET against `host:port` (`host` defaults to the pod IP).
pub async fn http_get(
    action: &HTTPGetAction,
    pod_ip: &str,
    container: &Container,
    timeout: Duration,
) -> Outcome {
    let port = match resolve_port(&action.port, container) {
        Ok(p) => p,
        Err(e) => return Outcome::Failure(e),
    };
    let host = action
        .host
        .clone()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| pod_ip.to_string());
    let scheme = action
        .scheme
        .as_deref()
        .unwrap_or("HTTP")
        .to_ascii_lowercase();
    let path = action.path.clone().unwrap_or_default();
    let url = format!(
        "{scheme}://{}{}",
        host_port(&host, port),
        if path.is_empty() { "/" } else { &path }
    );
    if scheme != "http" {
        return Outcome::Failure(format!(
            "Get {url:?}: HTTPS probes are not supported by this node"
        ));
    }
    let headers: Vec<(String, String)> = action
        .http_headers
        .iter()
        .flatten()
        .map(|h| (h.name.clone(), h.value.clone()))
        .collect();
    let addr = host_port(&host, port);
    let request = match http_request(&host, port, &path, &headers) {
        Ok(r) => r,
        Err(e) => return Outcome::Failure(format!("Get {url:?}: {e}")),
    };
    let attempt = async {
        let stream = TcpStream::connect(&addr)
            .await
            .map_err(|e| format!("Get {url:?}: {}", dial_error(&addr, &e)))?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| format!("Get {url:?}: {e}"))?;
        let conn = tokio::spawn(conn);
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| format!("Get {url:?}: {e}"))?;
        let status = response.status().as_u16();
        // Keep at most MAX_BODY bytes of the body, as upstream does.
        let mut body = response.into_body();
        let mut kept = Vec::new();
        while kept.len() < MAX_BODY {
            match body.frame().await {
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        kept.extend_from_slice(&data);
                    }
                }
                Some(Err(e)) => return Err(format!("Get {url:?}: {e}")),
                None => break,
            }
        }
        conn.abort();
        kept.truncate(MAX_BODY);
        Ok::<(u16, Vec<u8>), String>((status, kept))
    };
    match tokio::time::timeout(timeout, attempt).await {
        Ok(Ok((code, body))) if (200..400).contains(&code) => {
            Outcome::Success(String::from_utf8_lossy(&body).into_owned())
        }
        Ok(Ok((code, _))) => Outcome::Failure(format!("HTTP probe failed with statuscode: {code}")),
        Ok(Err(e)) => Outcome::Failure(e),
        Err(_) => Outcome::Failure(format!(
            "Get {url:?}: context deadline exceeded (Client.Timeout exceeded while awaiting headers)"
        )),
    }
}

/// A TCP connection to `host:port`.
pub async fn tcp_socket(
    action: &TCPSocketAction,
    pod_ip: &str,
    container: &Container,
    timeout: Duration,
) -> Outcome {
    let port = match resolve_port(&action.port, container) {
        Ok(p) => p,
        Err(e) => return Outcome::Failure(e),
    };
    let host = action
        .host
        .clone()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| pod_ip.to_string());
    let addr = host_port(&host, port);
    match tokio::time::timeout(timeout, TcpStream::connect(&addr)).await {
        Ok(Ok(_)) => Outcome::Success(String::new()),
        Ok(Err(e)) => Outcome::Failure(dial_error(&addr, &e)),
        Err(_) => Outcome::Failure(format!("dial tcp {addr}: i/o timeout")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    fn container() -> Container {
        serde_json::from_value(
            json!({"name": "c", "ports": [{"name": "http", "containerPort": 8080}]}),
        )
        .unwrap()
    }

    #[test]
    fn ports_and_requests() {
        let c = container();
        assert_eq!(resolve_port(&IntOrString::Int(80), &c), Ok(80));
        assert_eq!(
            resolve_port(&IntOrString::String("http".into()), &c),
            Ok(8080)
        );
        assert_eq!(resolve_port(&IntOrString::String("81".into()), &c), Ok(81));
        assert!(resolve_port(&IntOrString::String("nope".into()), &c).is_err());
        assert!(resolve_port(&IntOrString::Int(0), &c).is_err());
        let req = http_request("10.0.0.1", 80, "healthz", &[("X-A".into(), "b".into())]).unwrap();
        assert_eq!(req.uri(), "/healthz");
        let h = req.headers();
        assert_eq!(h["host"], "10.0.0.1:80");
        assert_eq!(h["user-agent"], "kube-probe/1.33");
        assert_eq!(h["accept"], "*/*");
        assert_eq!(h["x-a"], "b");
        let req = http_request("h", 80, "", &[("Host".into(), "example".into())]).unwrap();
        assert_eq!(req.uri(), "/");
        assert_eq!(req.headers().get_all("host").iter().count(), 1);
        assert_eq!(req.headers()["host"], "example");
        assert!(http_request("h", 80, "/", &[("bad name".into(), "v".into())]).is_err());
    }

    async fn serve_once(status: &'static str) -> u16 {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        tokio::spawn(async move {
            if let Ok((mut s, _)) = l.accept().await {
                let mut buf = [0u8; 1024];
                let _ = s.read(&mut buf).await;
                let _ = s
                    .write_all(
                        format!("HTTP/1.1 {status}\r\nContent-Length: 2\r\n\r\nok").as_bytes(),
                    )
                    .await;
            }
        });
        port
    }

    #[tokio::test]
    async fn http_and_tcp_probes() {
        let c = container();
        let port = serve_once("200 OK").await;
        let action: HTTPGetAction =
            serde_json::from_value(json!({"port": port, "path": "/x"})).unwrap();
        let out = http_get(&action, "127.0.0.1", &c, Duration::from_secs(2)).await;
        assert_eq!(out, Outcome::Success("ok".into()));
        let port = serve_once("503 Service Unavailable").await;
        let action: HTTPGetAction = serde_json::from_value(json!({"port": port})).unwrap();
        let out = http_get(&action, "127.0.0.1", &c, Duration::from_secs(2)).await;
        assert_eq!(
            out,
            Outcome::Failure("HTTP probe failed with statuscode: 503".into())
        );

        // A closed port: connection refused, with Go's wording.
        let closed = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let action: TCPSocketAction = serde_json::from_value(json!({"port": closed})).unwrap();
        let out = tcp_socket(&action, "127.0.0.1", &c, Duration::from_secs(2)).await;
        assert_eq!(
            out,
            Outcome::Failure(format!(
                "dial tcp 127.0.0.1:{closed}: connect: connection refused"
            ))
        );
        let action: HTTPGetAction = serde_json::from_value(json!({"port": closed})).unwrap();
        let out = http_get(&action, "127.0.0.1", &c, Duration::from_secs(2)).await;
        assert_eq!(
            out.message(),
            format!(
                "Get \"http://127.0.0.1:{closed}/\": dial tcp 127.0.0.1:{closed}: connect: connection refused"
            )
        );
        let port = serve_once("200 OK").await;
        let action: TCPSocketAction = serde_json::from_value(json!({"port": port})).unwrap();
        assert!(
            tcp_socket(&action, "127.0.0.1", &c, Duration::from_secs(2))
                .await
                .is_success()
        );
    }
}
