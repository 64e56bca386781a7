//! The actions probes and lifecycle hooks run, with upstream's result messages: `exec`
//! (CRI `ExecSync`: exit code 0 is success, the output is the message), `httpGet` (a small
//! HTTP/1.1 client over tokio's `TcpStream`: 200-399 is success), `tcpSocket` (a connection
//! within the timeout is success).

use crate::cri::Cri;
use k8s_openapi::api::core::v1::{Container, HTTPGetAction, TCPSocketAction};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
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

/// The request line and headers of an HTTP probe.
pub fn http_request(host: &str, port: u16, path: &str, headers: &[(String, String)]) -> String {
    let path = if path.is_empty() {
        "/".to_string()
    } else if path.starts_with('/') {
        path.to_string()
    } else {
        format!("/{path}")
    };
    let mut has_host = None;
    let mut has_ua = false;
    let mut has_accept = false;
    let mut extra = String::new();
    for (k, v) in headers {
        if k.eq_ignore_ascii_case("host") {
            has_host = Some(v.clone());
            continue;
        }
        has_ua |= k.eq_ignore_ascii_case("user-agent");
        has_accept |= k.eq_ignore_ascii_case("accept");
        extra.push_str(&format!("{k}: {v}\r\n"));
    }
    let mut req = format!(
        "GET {path} HTTP/1.1\r\nHost: {}\r\n",
        has_host.unwrap_or_else(|| host_port(host, port))
    );
    if !has_ua {
        req.push_str(&format!("User-Agent: {USER_AGENT}\r\n"));
    }
    if !has_accept {
        req.push_str("Accept: */*\r\n");
    }
    req.push_str(&extra);
    req.push_str("Connection: close\r\n\r\n");
    req
}

/// The status code of an HTTP/1.x response head.
pub fn parse_status(head: &[u8]) -> Option<u16> {
    let line_end = head.iter().position(|b| *b == b'\n')?;
    let line = String::from_utf8_lossy(&head[..line_end]);
    let mut parts = line.split_whitespace();
    if !parts.next()?.starts_with("HTTP/") {
        return None;
    }
    parts.next()?.parse().ok()
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
    let request = http_request(&host, port, &path, &headers);
    let attempt = async {
        let mut stream = TcpStream::connect(&addr)
            .await
            .map_err(|e| format!("Get {url:?}: {}", dial_error(&addr, &e)))?;
        stream
            .write_all(request.as_bytes())
            .await
            .map_err(|e| format!("Get {url:?}: {e}"))?;
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            let n = stream
                .read(&mut chunk)
                .await
                .map_err(|e| format!("Get {url:?}: {e}"))?;
            if n == 0 {
                break;
            }
            buf.extend_from_slice(&chunk[..n]);
            if buf.len() > MAX_BODY + 8192 {
                break;
            }
        }
        Ok::<Vec<u8>, String>(buf)
    };
    let raw = match tokio::time::timeout(timeout, attempt).await {
        Ok(Ok(raw)) => raw,
        Ok(Err(e)) => return Outcome::Failure(e),
        Err(_) => {
            return Outcome::Failure(format!(
                "Get {url:?}: context deadline exceeded (Client.Timeout exceeded while awaiting headers)"
            ));
        }
    };
    match parse_status(&raw) {
        Some(code) if (200..400).contains(&code) => {
            let body = raw
                .windows(4)
                .position(|w| w == b"\r\n\r\n")
                .map(|i| String::from_utf8_lossy(&raw[i + 4..]).into_owned())
                .unwrap_or_default();
            Outcome::Success(body.chars().take(MAX_BODY).collect())
        }
        Some(code) => Outcome::Failure(format!("HTTP probe failed with statuscode: {code}")),
        None => Outcome::Failure(format!("Get {url:?}: malformed HTTP response")),
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
        let req = http_request("10.0.0.1", 80, "healthz", &[("X-A".into(), "b".into())]);
        assert_eq!(
            req,
            "GET /healthz HTTP/1.1\r\nHost: 10.0.0.1:80\r\nUser-Agent: kube-probe/1.33\r\nAccept: */*\r\nX-A: b\r\nConnection: close\r\n\r\n"
        );
        let req = http_request("h", 80, "", &[("Host".into(), "example".into())]);
        assert!(req.starts_with("GET / HTTP/1.1\r\nHost: example\r\n"));
        assert_eq!(parse_status(b"HTTP/1.1 204 No Content\r\n\r\n"), Some(204));
        assert_eq!(parse_status(b"HTTP/1.0 500 x\r\n"), Some(500));
        assert_eq!(parse_status(b"garbage\r\n"), None);
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
