//! `portForward`: a SPDY/3.1 server (`portforward.k8s.io`), reached either by a plain
//! `Upgrade: SPDY/3.1` or through WebSocket (`SPDY/3.1+portforward.k8s.io`: SPDY frames in
//! binary messages, what kubectl 1.30+ tries first).
//!
//! Each forwarded connection is a pair of streams sharing `port` and `requestID` headers: an
//! `error` stream (the client only reads it: a message there fails the forward; it must be
//! closed when the connection ends) and a `data` stream bridged to a TCP connection to the
//! pod's IP and port. Pods' IPs are reachable from the node, so no network namespace is
//! entered (a port bound only to the pod's loopback is not reachable this way).

use super::spdy::{self, Event, Session};
use super::websocket;
use super::{Body, Handler, header_has, text};
use bytes::{Bytes, BytesMut};
use http::{Request, Response, StatusCode, header};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;

/// The SPDY subprotocol.
pub const PROTOCOL: &str = "portforward.k8s.io";
/// The same, tunnelled in WebSocket.
pub const WS_TUNNEL_PROTOCOL: &str = "SPDY/3.1+portforward.k8s.io";

/// `/portForward/{ns}/{pod}`.
pub async fn serve(
    h: &Handler,
    mut req: Request<Incoming>,
    ns: String,
    pod: String,
) -> Response<Body> {
    let found = match h.find_pod(&ns, &pod).await {
        Ok(Some(f)) => f,
        Ok(None) => return text(404, format!("pod \"{pod}\" not found")),
        Err(e) => return text(500, e),
    };
    let ip = match h.cri.pod_sandbox_status(&found.sandbox.id).await {
        Ok(st) => st.network.and_then(|n| n.ip.parse::<IpAddr>().ok()),
        Err(e) => return text(500, e.to_string()),
    };
    let Some(ip) = ip else {
        return text(500, format!("pod \"{pod}\" has no IP address"));
    };
    let target = Target {
        ip,
        pod: format!("{ns}/{pod}"),
        uid: found.uid,
    };
    let websocket = header_has(req.headers(), header::UPGRADE, "websocket");
    let spdy = header_has(req.headers(), header::UPGRADE, "SPDY/3.1");
    let mut resp = Response::new(super::full(Bytes::new()));
    *resp.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    if websocket {
        let offered: Vec<&str> = req
            .headers()
            .get_all(header::SEC_WEBSOCKET_PROTOCOL)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        if websocket::select_protocol(&offered, &[WS_TUNNEL_PROTOCOL]).is_none() {
            return text(
                400,
                format!(
                    "unsupported port-forward subprotocol: {}",
                    offered.join(",")
                ),
            );
        }
        let Some(key) = req
            .headers()
            .get(header::SEC_WEBSOCKET_KEY)
            .and_then(|v| v.to_str().ok())
            .map(websocket::accept_key)
        else {
            return text(400, "missing Sec-WebSocket-Key");
        };
        let on_upgrade = hyper::upgrade::on(&mut req);
        tokio::spawn(async move {
            if let Ok(up) = on_upgrade.await {
                let (a, b) = tokio::io::duplex(256 * 1024);
                tokio::spawn(websocket::tunnel(TokioIo::new(up), a));
                run_session(b, target).await;
            }
        });
        let hs = resp.headers_mut();
        hs.insert(
            header::CONNECTION,
            http::HeaderValue::from_static("Upgrade"),
        );
        hs.insert(header::UPGRADE, http::HeaderValue::from_static("websocket"));
        if let Ok(v) = http::HeaderValue::from_str(&key) {
            hs.insert(header::SEC_WEBSOCKET_ACCEPT, v);
        }
        hs.insert(
            header::SEC_WEBSOCKET_PROTOCOL,
            http::HeaderValue::from_static(WS_TUNNEL_PROTOCOL),
        );
        return resp;
    }
    if !spdy {
        return text(400, "Upgrade request required");
    }
    let offered = req
        .headers()
        .get_all("x-stream-protocol-version")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|p| p.trim() == PROTOCOL);
    if !offered {
        return text(
            403,
            format!(
                "unable to upgrade: unable to negotiate protocol: client supports none of [{PROTOCOL}]"
            ),
        );
    }
    let on_upgrade = hyper::upgrade::on(&mut req);
    tokio::spawn(async move {
        if let Ok(up) = on_upgrade.await {
            run_session(TokioIo::new(up), target).await;
        }
    });
    let hs = resp.headers_mut();
    hs.insert(
        header::CONNECTION,
        http::HeaderValue::from_static("Upgrade"),
    );
    hs.insert(header::UPGRADE, http::HeaderValue::from_static("SPDY/3.1"));
    hs.insert(
        "x-stream-protocol-version",
        http::HeaderValue::from_static(PROTOCOL),
    );
    resp
}

/// Half-open stream pairs a session may hold.
const MAX_PENDING: usize = 256;
/// Forwarded connections a session may hold.
const MAX_CONNECTIONS: usize = 1024;

/// Where forwarded connections go.
#[derive(Debug, Clone)]
pub struct Target {
    pub ip: IpAddr,
    pub pod: String,
    pub uid: String,
}

/// A half-open pair of streams.
#[derive(Debug, Default)]
struct Pair {
    port: String,
    error: Option<u32>,
    data: Option<u32>,
}

/// What the session loop sends to a connection task.
enum Inbound {
    Data(Bytes),
    Fin,
}

/// Serves one SPDY port-forward session until the client goes away.
pub async fn run_session<IO>(io: IO, target: Target)
where
    IO: AsyncRead + AsyncWrite + Send + 'static,
{
    let mut session = Session::start(io, true);
    let mut pairs: HashMap<String, Pair> = HashMap::new();
    let mut conns: HashMap<u32, mpsc::Sender<Inbound>> = HashMap::new();
    let mut tasks = Vec::new();
    while let Some(ev) = session.events.recv().await {
        match ev {
            Event::SynStream { id, headers, .. } => {
                session.sender.syn_reply(id, false).await;
                let ty = spdy::header(&headers, "streamtype")
                    .unwrap_or("")
                    .to_string();
                let port = spdy::header(&headers, "port").unwrap_or("").to_string();
                let request = spdy::header(&headers, "requestid")
                    .map(str::to_string)
                    .unwrap_or_else(|| port.clone());
                if !pairs.contains_key(&request)
                    && (pairs.len() >= MAX_PENDING || conns.len() >= MAX_CONNECTIONS)
                {
                    session.sender.reset(id, spdy::RST_REFUSED_STREAM).await;
                    continue;
                }
                let pair = pairs.entry(request.clone()).or_default();
                pair.port = port;
                match ty.as_str() {
                    "error" => pair.error = Some(id),
                    "data" => pair.data = Some(id),
                    _ => {
                        session.sender.reset(id, spdy::RST_PROTOCOL_ERROR).await;
                        continue;
                    }
                }
                if let Pair {
                    error: Some(error),
                    data: Some(data),
                    ..
                } = *pair
                {
                    let port = pair.port.clone();
                    pairs.remove(&request);
                    let (tx, rx) = mpsc::channel(32);
                    conns.insert(data, tx);
                    tasks.push(tokio::spawn(forward(
                        session.sender.clone(),
                        target.clone(),
                        port,
                        error,
                        data,
                        rx,
                    )));
                }
            }
            Event::Data { id, data, fin } => {
                if let Some(tx) = conns.get(&id) {
                    if !data.is_empty() && tx.send(Inbound::Data(data)).await.is_err() {
                        conns.remove(&id);
                        continue;
                    }
                    if fin {
                        let _ = tx.send(Inbound::Fin).await;
                        conns.remove(&id);
                    }
                }
            }
            Event::Reset { id } => {
                conns.remove(&id);
            }
            Event::SynReply { .. } => {}
            Event::GoAway => break,
        }
        tasks.retain(|t: &tokio::task::JoinHandle<()>| !t.is_finished());
    }
    for t in tasks {
        t.abort();
    }
}

/// One forwarded connection: dial the pod, copy both ways, report a failure on the error
/// stream, and close both streams at the end.
async fn forward(
    tx: spdy::Sender,
    target: Target,
    port: String,
    error: u32,
    data: u32,
    mut rx: mpsc::Receiver<Inbound>,
) {
    let fail = |msg: String| {
        let tx = tx.clone();
        async move {
            tx.data(error, Bytes::from(msg), true).await;
            tx.data(data, Bytes::new(), true).await;
        }
    };
    let Ok(port_num) = port.parse::<u16>() else {
        fail(format!("invalid port {port:?}")).await;
        return;
    };
    let addr = std::net::SocketAddr::new(target.ip, port_num);
    let tcp = match tokio::time::timeout(
        Duration::from_secs(10),
        tokio::net::TcpStream::connect(addr),
    )
    .await
    {
        Ok(Ok(t)) => t,
        Ok(Err(e)) => {
            fail(format!(
                "error forwarding port {port_num} to pod {}, uid {}: failed to connect to {addr}: {e}",
                target.pod, target.uid
            ))
            .await;
            return;
        }
        Err(_) => {
            fail(format!(
                "error forwarding port {port_num} to pod {}, uid {}: timed out connecting to {addr}",
                target.pod, target.uid
            ))
            .await;
            return;
        }
    };
    let _ = tcp.set_nodelay(true);
    let (mut r, mut w) = tcp.into_split();
    let down_tx = tx.clone();
    let down = async move {
        let mut buf = BytesMut::with_capacity(64 * 1024);
        loop {
            buf.reserve(64 * 1024);
            match r.read_buf(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    if !down_tx.data(data, buf.split().freeze(), false).await {
                        return;
                    }
                }
            }
        }
        down_tx.data(data, Bytes::new(), true).await;
    };
    let up = async move {
        while let Some(m) = rx.recv().await {
            match m {
                Inbound::Data(b) => {
                    if w.write_all(&b).await.is_err() {
                        break;
                    }
                }
                Inbound::Fin => break,
            }
        }
        let _ = w.shutdown().await;
    };
    // The pod's side ending ends the connection; the client's FIN only half-closes it.
    tokio::pin!(down);
    tokio::pin!(up);
    let mut up_done = false;
    loop {
        tokio::select! {
            _ = &mut down => break,
            _ = &mut up, if !up_done => up_done = true,
        }
    }
    tx.data(error, Bytes::new(), true).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn forwards_a_connection_and_reports_failures() {
        // An echo server standing in for the pod.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut buf = vec![0u8; 1024];
            let n = s.read(&mut buf).await.unwrap();
            s.write_all(&buf[..n]).await.unwrap();
        });
        let (a, b) = tokio::io::duplex(64 * 1024);
        let target = Target {
            ip: "127.0.0.1".parse().unwrap(),
            pod: "default/p".into(),
            uid: "u".into(),
        };
        tokio::spawn(run_session(b, target));
        let mut client = Session::start(a, false);
        let hdr = |ty: &str, port: u16, req: &str| {
            vec![
                ("streamtype".to_string(), ty.to_string()),
                ("port".to_string(), port.to_string()),
                ("requestid".to_string(), req.to_string()),
            ]
        };
        client
            .sender
            .syn_stream(1, hdr("error", port, "0"), false)
            .await;
        client
            .sender
            .syn_stream(3, hdr("data", port, "0"), false)
            .await;
        // A second request to a closed port fails on its error stream.
        client
            .sender
            .syn_stream(5, hdr("error", 1, "1"), false)
            .await;
        client
            .sender
            .syn_stream(7, hdr("data", 1, "1"), false)
            .await;
        let mut replies = 0;
        let mut echoed = Vec::new();
        let mut error_text = Vec::new();
        let mut closed = std::collections::HashSet::new();
        while closed.len() < 4 {
            match client.events.recv().await.unwrap() {
                Event::SynReply { .. } => {
                    replies += 1;
                    if replies == 4 {
                        client
                            .sender
                            .data(3, Bytes::from_static(b"ping"), false)
                            .await;
                    }
                }
                Event::Data { id, data, fin } => {
                    match id {
                        3 => echoed.extend_from_slice(&data),
                        5 => error_text.extend_from_slice(&data),
                        _ => assert!(data.is_empty(), "stream {id} got {data:?}"),
                    }
                    if fin {
                        closed.insert(id);
                    }
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(echoed, b"ping");
        let text = String::from_utf8(error_text).unwrap();
        assert!(
            text.starts_with("error forwarding port 1 to pod default/p, uid u"),
            "{text}"
        );
    }
}
