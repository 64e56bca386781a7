//! `exec` and `attach`: the CRI `Exec`/`Attach` call gives a URL on containerd's streaming
//! server, which speaks SPDY/3.1 remotecommand (`v4.channel.k8s.io`: one SPDY stream per
//! `streamType` — error, stdin, stdout, stderr, resize; stdin EOF is the stdin stream's FIN;
//! the exit status arrives as a `metav1.Status` on the error stream).
//!
//! A WebSocket client (`v5.channel.k8s.io` and older) is bridged to it: the kubelet is a SPDY
//! client of containerd and maps channel 0/1/2/3/4 to the streams, `[255, 0]` (v5) to a FIN on
//! stdin, and ends with the status on channel 3 and a close frame. A SPDY client (kubectl's
//! fallback) is passed through to containerd unchanged.

use super::spdy::{self, Event, Session};
use super::websocket::{self, Message};
use super::{Body, Handler, header_has, query_pairs, text};
use bytes::Bytes;
use http::{Request, Response, StatusCode, header};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use k8s_cri::v1 as api;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

/// WebSocket subprotocols served, best first.
pub const WS_PROTOCOLS: &[&str] = &[
    "v5.channel.k8s.io",
    "v4.channel.k8s.io",
    "v3.channel.k8s.io",
    "v2.channel.k8s.io",
    "channel.k8s.io",
];
/// The status of a command that exited 0.
pub const SUCCESS: &str = r#"{"metadata":{},"status":"Success"}"#;

/// Which call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Exec,
    Attach,
}

/// The streams asked for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StreamOptions {
    pub command: Vec<String>,
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
    pub tty: bool,
}

impl StreamOptions {
    /// Reads upstream's kubelet names (`input`, `output`, `error`, `tty` = `1`) and the API's
    /// (`stdin`, `stdout`, `stderr`, `tty` = `true`).
    pub fn from_query(pairs: &[(String, String)]) -> StreamOptions {
        let on = |names: &[&str]| {
            pairs.iter().any(|(k, v)| {
                names.contains(&k.as_str()) && matches!(v.as_str(), "1" | "true" | "True")
            })
        };
        let tty = on(&["tty"]);
        StreamOptions {
            command: pairs
                .iter()
                .filter(|(k, _)| k == "command")
                .map(|(_, v)| v.clone())
                .collect(),
            stdin: on(&["stdin", "input"]),
            stdout: on(&["stdout", "output"]),
            // A terminal merges stderr into stdout (CRI rejects both).
            stderr: on(&["stderr", "error"]) && !tty,
            tty,
        }
    }
}

/// Stream ids of our SPDY session with containerd.
#[derive(Debug, Clone, Copy)]
struct Streams {
    error: u32,
    stdin: Option<u32>,
    stdout: Option<u32>,
    stderr: Option<u32>,
    resize: Option<u32>,
}

/// Splits `http://host:port/path` (the runtime's streaming URL).
pub fn split_url(url: &str) -> Option<(String, String)> {
    let rest = url.strip_prefix("http://")?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    if authority.is_empty() {
        return None;
    }
    Some((authority.to_string(), path.to_string()))
}

/// The upgraded connection to the runtime's streaming server.
type RuntimeConn = TokioIo<hyper::upgrade::Upgraded>;

/// Sends a SPDY upgrade request to the runtime's streaming server (hyper's HTTP/1.1
/// client) and returns the upgraded connection and the response headers; anything but
/// `101 Switching Protocols` is an error.
async fn upgrade_to_runtime(
    url: &str,
    protocols: &[String],
) -> Result<(RuntimeConn, http::HeaderMap), String> {
    let (authority, path) =
        split_url(url).ok_or_else(|| format!("unsupported streaming URL {url}"))?;
    let exchange = async {
        let tcp = TcpStream::connect(&authority)
            .await
            .map_err(|e| format!("connecting to the streaming server {authority}: {e}"))?;
        let _ = tcp.set_nodelay(true);
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
            .await
            .map_err(|e| format!("connecting to the streaming server {authority}: {e}"))?;
        tokio::spawn(conn.with_upgrades());
        let mut req = Request::post(path.as_str())
            .header(header::HOST, authority.as_str())
            .header(header::CONNECTION, "Upgrade")
            .header(header::UPGRADE, "SPDY/3.1")
            .header(header::CONTENT_LENGTH, "0")
            .header(header::USER_AGENT, "krust-kubelet");
        for p in protocols {
            req = req.header("x-stream-protocol-version", p.as_str());
        }
        let req = req
            .body(http_body_util::Empty::<Bytes>::new())
            .map_err(|e| format!("building the upgrade request: {e}"))?;
        let mut resp = sender
            .send_request(req)
            .await
            .map_err(|e| format!("the streaming server {authority}: {e}"))?;
        if resp.status() != StatusCode::SWITCHING_PROTOCOLS {
            return Err(format!(
                "the streaming server answered {} to the upgrade",
                resp.status().as_u16()
            ));
        }
        let headers = std::mem::take(resp.headers_mut());
        let upgraded = hyper::upgrade::on(resp)
            .await
            .map_err(|e| format!("upgrading the streaming connection: {e}"))?;
        Ok((TokioIo::new(upgraded), headers))
    };
    tokio::time::timeout(std::time::Duration::from_secs(10), exchange)
        .await
        .map_err(|_| format!("connecting to the streaming server {authority}: timed out"))?
}

/// The CRI call for `kind`, giving the streaming URL.
async fn runtime_url(
    h: &Handler,
    kind: Kind,
    id: &str,
    o: &StreamOptions,
) -> Result<String, String> {
    match kind {
        Kind::Exec => {
            h.streaming
                .exec(api::ExecRequest {
                    container_id: id.to_string(),
                    cmd: o.command.clone(),
                    tty: o.tty,
                    stdin: o.stdin,
                    stdout: o.stdout,
                    stderr: o.stderr,
                })
                .await
        }
        Kind::Attach => {
            h.streaming
                .attach(api::AttachRequest {
                    container_id: id.to_string(),
                    stdin: o.stdin,
                    tty: o.tty,
                    stdout: o.stdout,
                    stderr: o.stderr,
                })
                .await
        }
    }
}

/// `/exec/{ns}/{pod}/{container}` and `/attach/…`.
pub async fn serve(
    h: &Handler,
    mut req: Request<Incoming>,
    kind: Kind,
    ns: String,
    pod: String,
    container: String,
) -> Response<Body> {
    let opts = StreamOptions::from_query(&query_pairs(req.uri().query()));
    if kind == Kind::Exec && opts.command.is_empty() {
        return text(
            400,
            "you must specify at least one command for the container",
        );
    }
    if !opts.stdin && !opts.stdout && !opts.stderr {
        return text(400, "you must specify at least 1 of stdin, stdout, stderr");
    }
    let websocket = header_has(req.headers(), header::UPGRADE, "websocket");
    let spdy = header_has(req.headers(), header::UPGRADE, "SPDY/3.1");
    if !websocket && !spdy {
        return text(400, "Upgrade request required");
    }
    let c = match h.find_container(&ns, &pod, &container, false).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    if c.status.state != crate::status::RunState::Running {
        return text(400, format!("container {container} is not running"));
    }
    // Whether the process runs on a terminal was fixed when it started: an attach takes the
    // container's setting, not the request's (as upstream's kubelet does), and a terminal
    // has no separate stderr.
    let mut opts = opts;
    if kind == Kind::Attach {
        opts.tty = c
            .annotations
            .get(crate::runtime::ANN_TTY)
            .map(String::as_str)
            == Some("true");
        opts.stderr &= !opts.tty;
    }
    let attach_check = (kind == Kind::Attach).then(|| AttachCheck {
        cri: h.cri.clone(),
        container_id: c.status.id.clone(),
        log_path: c.log_path.clone(),
        started: k8s_openapi::jiff::Timestamp::now(),
    });
    let url = match runtime_url(h, kind, &c.status.id, &opts).await {
        Ok(u) => u,
        Err(e) => return text(500, e),
    };
    if websocket {
        let offered: Vec<&str> = req
            .headers()
            .get_all(header::SEC_WEBSOCKET_PROTOCOL)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        let Some(protocol) = websocket::select_protocol(&offered, WS_PROTOCOLS) else {
            return text(
                400,
                "no supported WebSocket subprotocol (v5.channel.k8s.io) requested",
            );
        };
        let Some(key) = req
            .headers()
            .get(header::SEC_WEBSOCKET_KEY)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
        else {
            return text(400, "missing Sec-WebSocket-Key");
        };
        let (session, streams) = match open_runtime_session(&url, &opts).await {
            Ok(x) => x,
            Err(e) => return text(500, e),
        };
        let on_upgrade = hyper::upgrade::on(&mut req);
        tokio::spawn(async move {
            match on_upgrade.await {
                Ok(up) => bridge(TokioIo::new(up), protocol, session, streams, attach_check).await,
                Err(e) => tracing::debug!(error = %e, "exec upgrade failed"),
            }
        });
        let mut resp = Response::new(super::full(Bytes::new()));
        *resp.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
        let hs = resp.headers_mut();
        hs.insert(
            header::CONNECTION,
            http::HeaderValue::from_static("Upgrade"),
        );
        hs.insert(header::UPGRADE, http::HeaderValue::from_static("websocket"));
        if let Ok(v) = http::HeaderValue::from_str(&websocket::accept_key(&key)) {
            hs.insert(header::SEC_WEBSOCKET_ACCEPT, v);
        }
        hs.insert(
            header::SEC_WEBSOCKET_PROTOCOL,
            http::HeaderValue::from_static(protocol),
        );
        return resp;
    }
    // SPDY: hand the client's request to the runtime and pass bytes through.
    let protocols: Vec<String> = req
        .headers()
        .get_all("x-stream-protocol-version")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
        .collect();
    let (conn, headers) = match upgrade_to_runtime(&url, &protocols).await {
        Ok(x) => x,
        Err(e) => return text(500, e),
    };
    let on_upgrade = hyper::upgrade::on(&mut req);
    tokio::spawn(async move {
        if let Ok(up) = on_upgrade.await {
            let mut up = TokioIo::new(up);
            let mut conn = conn;
            let _ = tokio::io::copy_bidirectional(&mut up, &mut conn).await;
        }
    });
    let mut resp = Response::new(super::full(Bytes::new()));
    *resp.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let hs = resp.headers_mut();
    hs.insert(
        header::CONNECTION,
        http::HeaderValue::from_static("Upgrade"),
    );
    hs.insert(header::UPGRADE, http::HeaderValue::from_static("SPDY/3.1"));
    if let Some(v) = headers.get("x-stream-protocol-version") {
        hs.insert("x-stream-protocol-version", v.clone());
    }
    resp
}

/// Opens the SPDY session with the runtime and creates the streams `opts` needs, waiting for
/// the runtime's replies (spdystream drops data sent on a stream it has not replied to).
async fn open_runtime_session(
    url: &str,
    opts: &StreamOptions,
) -> Result<(Session, Streams), String> {
    let (conn, _) = upgrade_to_runtime(url, &["v4.channel.k8s.io".to_string()]).await?;
    let mut session = Session::start(conn, false);
    let mut next = 1u32;
    let mut id = || {
        let i = next;
        next += 2;
        i
    };
    let streams = Streams {
        error: id(),
        stdin: opts.stdin.then(&mut id),
        stdout: opts.stdout.then(&mut id),
        stderr: opts.stderr.then(&mut id),
        resize: opts.tty.then(&mut id),
    };
    let mut wanted = Vec::new();
    for (id, ty) in [
        (Some(streams.error), "error"),
        (streams.stdin, "stdin"),
        (streams.stdout, "stdout"),
        (streams.stderr, "stderr"),
        (streams.resize, "resize"),
    ] {
        let Some(id) = id else { continue };
        let headers = vec![("streamtype".to_string(), ty.to_string())];
        if !session.sender.syn_stream(id, headers, false).await {
            return Err("the streaming connection closed".into());
        }
        wanted.push(id);
    }
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    while !wanted.is_empty() {
        match tokio::time::timeout_at(deadline, session.events.recv()).await {
            Ok(Some(Event::SynReply { id, .. })) => wanted.retain(|w| *w != id),
            Ok(Some(Event::Reset { id })) => {
                return Err(format!("the streaming server refused stream {id}"));
            }
            Ok(Some(other)) => {
                tracing::debug!(event = ?other, "runtime stream event before the replies")
            }
            Ok(None) => return Err("the streaming server closed the connection".into()),
            Err(_) => {
                return Err(format!(
                    "timed out creating streams (no reply for {wanted:?})"
                ));
            }
        }
    }
    Ok((session, streams))
}

/// The text older protocols (before v4) put on the error channel: the message of a failure.
fn legacy_error(status: &[u8]) -> Vec<u8> {
    match serde_json::from_slice::<serde_json::Value>(status) {
        Ok(v) if v["status"] == "Success" => Vec::new(),
        Ok(v) => v["message"].as_str().unwrap_or("error").as_bytes().to_vec(),
        Err(_) => status.to_vec(),
    }
}

/// What an attach needs to tell, once it ends, whether it missed the container's output:
/// a short-lived process (`kubectl run -i -- echo hi`) can write everything and exit between
/// the pod turning Running and the attach. When the attach forwarded nothing, the container
/// has exited and all its output was logged before the attach began, the client is told the
/// container exited (kubectl then shows the container's log, as it does upstream when the
/// runtime refuses to attach to an exited container).
struct AttachCheck {
    cri: crate::cri::Cri,
    container_id: String,
    log_path: String,
    started: k8s_openapi::jiff::Timestamp,
}

impl AttachCheck {
    /// Whether the attach missed output of a container that has exited.
    async fn missed_output(&self) -> bool {
        // The runtime records the exit a moment after the streams close.
        let mut exited = false;
        for _ in 0..20 {
            match self.cri.container_status(&self.container_id).await {
                Ok(st) if st.finished_at > 0 => {
                    exited = true;
                    break;
                }
                Ok(_) => tokio::time::sleep(std::time::Duration::from_millis(50)).await,
                Err(_) => return false,
            }
        }
        exited && last_record_before(&self.log_path, self.started)
    }
}

/// Whether the CRI log at `path` has records and the last one is older than `t`.
fn last_record_before(path: &str, t: k8s_openapi::jiff::Timestamp) -> bool {
    use std::io::{Read, Seek, SeekFrom};
    let Ok(mut f) = std::fs::File::open(path) else {
        return false;
    };
    let len = f.metadata().map_or(0, |m| m.len());
    let mut tail = Vec::new();
    if f.seek(SeekFrom::Start(len.saturating_sub(16 * 1024)))
        .is_err()
        || f.read_to_end(&mut tail).is_err()
    {
        return false;
    }
    tail.split(|b| *b == b'\n')
        .rev()
        .find_map(super::logs::parse_record)
        .and_then(|r| r.time.parse::<k8s_openapi::jiff::Timestamp>().ok())
        .is_some_and(|last| last < t)
}

/// The status an attach that saw nothing of an exited container ends with (containerd's
/// words for an attach to an exited container).
const EXITED_BEFORE_ATTACH: &str = r#"{"metadata":{},"status":"Failure","message":"container is in CONTAINER_EXITED state","reason":"InternalError","code":500}"#;

/// Bridges the client's WebSocket to the runtime's SPDY streams until the command ends or
/// the client goes away.
async fn bridge<W>(
    ws: W,
    protocol: &'static str,
    mut session: Session,
    streams: Streams,
    attach_check: Option<AttachCheck>,
) where
    W: AsyncRead + AsyncWrite + Send + 'static,
{
    let (ws_r, mut ws_w) = tokio::io::split(ws);
    let (msg_tx, mut msg_rx) = tokio::sync::mpsc::channel::<Message>(32);
    let reader = tokio::spawn(async move {
        let mut r = websocket::MessageReader::new(ws_r);
        while let Ok(Some(m)) = r.next().await {
            if msg_tx.send(m).await.is_err() {
                break;
            }
        }
    });
    let v5 = protocol == "v5.channel.k8s.io";
    let status_json = v5 || protocol == "v4.channel.k8s.io";
    let mut stdin_open = streams.stdin.is_some();
    let mut status = Vec::new();
    let mut error_done = false;
    let mut open_outputs: Vec<u32> = [streams.stdout, streams.stderr]
        .into_iter()
        .flatten()
        .collect();
    let mut client_gone = false;
    let mut forwarded_output = false;
    // Once the status is in, outputs still open get a moment to finish (the runtime closes
    // the connection right after the status anyway).
    let far = tokio::time::Instant::now() + std::time::Duration::from_secs(86400 * 365);
    let mut grace = far;
    loop {
        if error_done && open_outputs.is_empty() {
            break;
        }
        tokio::select! {
            m = msg_rx.recv() => match m {
                Some(Message::Binary(d)) if !d.is_empty() => {
                    let data = Bytes::copy_from_slice(&d[1..]);
                    match d[0] {
                        0 => if let (Some(id), true) = (streams.stdin, stdin_open)
                            && !data.is_empty()
                        {
                            session.sender.data(id, data, false).await;
                        },
                        4 => if let Some(id) = streams.resize {
                            tracing::debug!(size = %String::from_utf8_lossy(&data), "terminal resize");
                            session.sender.data(id, data, false).await;
                        },
                        255 if v5 => {
                            if d.get(1) == Some(&0) && stdin_open
                                && let Some(id) = streams.stdin
                            {
                                stdin_open = false;
                                session.sender.data(id, Bytes::new(), true).await;
                            }
                        }
                        _ => {}
                    }
                }
                Some(Message::Ping(p)) => {
                    let _ = ws_w.write_all(&websocket::encode_frame(websocket::OP_PONG, &p, None)).await;
                    let _ = ws_w.flush().await;
                }
                Some(Message::Close(_)) | None => {
                    client_gone = true;
                    break;
                }
                Some(_) => {}
            },
            _ = tokio::time::sleep_until(grace) => break,
            e = session.events.recv() => match e {
                Some(Event::Data { id, data, fin }) => {
                    let channel = if Some(id) == streams.stdout {
                        Some(1u8)
                    } else if Some(id) == streams.stderr {
                        Some(2)
                    } else {
                        None
                    };
                    if let Some(ch) = channel {
                        forwarded_output |= !data.is_empty();
                        if !data.is_empty()
                            && (ws_w.write_all(&websocket::channel_frame(ch, &data)).await.is_err()
                                || ws_w.flush().await.is_err())
                        {
                            client_gone = true;
                            break;
                        }
                        if fin {
                            open_outputs.retain(|o| *o != id);
                        }
                    } else if id == streams.error {
                        if status.len() < 64 * 1024 {
                            status.extend_from_slice(&data);
                        }
                        error_done |= fin;
                        if error_done && grace == far {
                            grace = tokio::time::Instant::now() + std::time::Duration::from_secs(1);
                        }
                    }
                }
                Some(Event::Reset { id }) => {
                    open_outputs.retain(|o| *o != id);
                    error_done |= id == streams.error;
                }
                Some(Event::SynStream { id, .. }) => {
                    session.sender.reset(id, spdy::RST_REFUSED_STREAM).await;
                }
                Some(Event::SynReply { .. }) => {}
                Some(Event::GoAway) | None => break,
            },
        }
    }
    if !client_gone {
        let succeeded = status.iter().all(u8::is_ascii_whitespace)
            || serde_json::from_slice::<serde_json::Value>(&status)
                .is_ok_and(|v| v.get("status").and_then(|s| s.as_str()) == Some("Success"));
        if succeeded
            && !forwarded_output
            && let Some(check) = &attach_check
            && check.missed_output().await
        {
            status = EXITED_BEFORE_ATTACH.as_bytes().to_vec();
        }
        let status: Vec<u8> = if status.iter().all(u8::is_ascii_whitespace) {
            if status_json {
                SUCCESS.as_bytes().to_vec()
            } else {
                Vec::new()
            }
        } else if status_json {
            status
        } else {
            legacy_error(&status)
        };
        if !status.is_empty() {
            let _ = ws_w.write_all(&websocket::channel_frame(3, &status)).await;
        }
        let _ = ws_w
            .write_all(&websocket::close_frame(websocket::CLOSE_NORMAL))
            .await;
        let _ = ws_w.flush().await;
        // Give the client a moment to answer the close before the connection goes.
        let _ = tokio::time::timeout(std::time::Duration::from_secs(2), async {
            while let Some(m) = msg_rx.recv().await {
                if matches!(m, Message::Close(_)) {
                    break;
                }
            }
        })
        .await;
        let _ = ws_w.shutdown().await;
    }
    let _ = session.sender.go_away().await;
    reader.abort();
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncBufReadExt, BufReader};

    fn q(s: &str) -> Vec<(String, String)> {
        super::super::query_pairs(Some(s))
    }

    #[test]
    fn reads_stream_options_in_both_spellings() {
        let o = StreamOptions::from_query(&q(
            "command=sh&command=-c&command=exit+3&stdin=true&stdout=true&stderr=true",
        ));
        assert_eq!(o.command, vec!["sh", "-c", "exit 3"]);
        assert!(o.stdin && o.stdout && o.stderr && !o.tty);
        let o = StreamOptions::from_query(&q("command=sh&input=1&output=1&error=1&tty=1"));
        assert!(o.stdin && o.stdout && o.tty);
        assert!(!o.stderr, "a terminal has no separate stderr");
    }

    #[test]
    fn splits_streaming_urls() {
        assert_eq!(
            split_url("http://127.0.0.1:43211/exec/abcd"),
            Some(("127.0.0.1:43211".into(), "/exec/abcd".into()))
        );
        assert_eq!(split_url("http://h:1"), Some(("h:1".into(), "/".into())));
        assert_eq!(split_url("https://h:1/x"), None);
        assert_eq!(split_url("http:///x"), None);
    }

    #[test]
    fn legacy_errors_are_messages() {
        assert_eq!(legacy_error(SUCCESS.as_bytes()), b"");
        assert_eq!(
            legacy_error(br#"{"status":"Failure","message":"command terminated with non-zero exit code: 3"}"#),
            b"command terminated with non-zero exit code: 3"
        );
    }

    /// A fake containerd streaming server: answers the upgrade, replies to the streams, echoes
    /// stdin to stdout until stdin's FIN, then reports exit code 3.
    async fn fake_runtime() -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let mut conn = BufReader::new(tcp);
            loop {
                let mut line = String::new();
                conn.read_line(&mut line).await.unwrap();
                if line == "\r\n" {
                    break;
                }
            }
            conn.get_mut()
                .write_all(b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: v4.channel.k8s.io\r\n\r\n")
                .await
                .unwrap();
            let mut s = Session::start(conn, true);
            let mut types = std::collections::HashMap::new();
            while let Some(ev) = s.events.recv().await {
                match ev {
                    Event::SynStream { id, headers, .. } => {
                        types.insert(
                            spdy::header(&headers, "streamtype").unwrap().to_string(),
                            id,
                        );
                        s.sender.syn_reply(id, false).await;
                    }
                    Event::Data { id, data, fin } if Some(&id) == types.get("stdin") => {
                        s.sender.data(types["stdout"], data, false).await;
                        if fin {
                            s.sender.data(types["stdout"], Bytes::new(), true).await;
                            let status = r#"{"metadata":{},"status":"Failure","message":"command terminated with non-zero exit code: error executing command [sh -c exit 3], exit code 3","reason":"NonZeroExitCode","details":{"causes":[{"reason":"ExitCode","message":"3"}]}}"#;
                            s.sender
                                .data(types["error"], Bytes::from_static(status.as_bytes()), true)
                                .await;
                        }
                    }
                    _ => {}
                }
            }
        });
        format!("http://{addr}/exec/token")
    }

    #[tokio::test]
    async fn bridges_websocket_v5_to_spdy() {
        let url = fake_runtime().await;
        let opts = StreamOptions {
            command: vec!["cat".into()],
            stdin: true,
            stdout: true,
            stderr: true,
            tty: false,
        };
        let (session, streams) = open_runtime_session(&url, &opts).await.unwrap();
        let (client, server) = tokio::io::duplex(64 * 1024);
        tokio::spawn(bridge(server, "v5.channel.k8s.io", session, streams, None));
        let (cr, mut cw) = tokio::io::split(client);
        let mut frame = vec![0u8];
        frame.extend_from_slice(b"hi\n");
        cw.write_all(&websocket::encode_frame(
            websocket::OP_BINARY,
            &frame,
            Some([1, 2, 3, 4]),
        ))
        .await
        .unwrap();
        cw.write_all(&websocket::encode_frame(
            websocket::OP_PING,
            b"hb",
            Some([5, 6, 7, 8]),
        ))
        .await
        .unwrap();
        cw.write_all(&websocket::encode_frame(
            websocket::OP_BINARY,
            &[255, 0],
            Some([1, 2, 3, 4]),
        ))
        .await
        .unwrap();
        let mut r = websocket::MessageReader::new(cr);
        let mut stdout = Vec::new();
        let mut status = Vec::new();
        let mut pong = false;
        loop {
            match r.next().await.unwrap() {
                Some(Message::Binary(d)) if d[0] == 1 => stdout.extend_from_slice(&d[1..]),
                Some(Message::Binary(d)) if d[0] == 3 => status.extend_from_slice(&d[1..]),
                Some(Message::Pong(p)) => pong = p == b"hb",
                Some(Message::Close(code)) => {
                    assert_eq!(code, Some(1000));
                    break;
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        assert!(pong);
        assert_eq!(stdout, b"hi\n");
        let v: serde_json::Value = serde_json::from_slice(&status).unwrap();
        assert_eq!(v["details"]["causes"][0]["message"], "3");
        let _ = cw
            .write_all(&websocket::encode_frame(
                websocket::OP_CLOSE,
                &[3, 232],
                Some([0; 4]),
            ))
            .await;
    }
}
