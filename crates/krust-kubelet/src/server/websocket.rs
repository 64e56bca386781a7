//! A minimal RFC 6455 WebSocket codec for the streaming endpoints: the opening handshake's
//! `Sec-WebSocket-Accept`, subprotocol selection, frame encoding and decoding (masked or not,
//! fragmented messages reassembled, control frames checked), and an async message reader.
//!
//! Everything read from the wire is bounded ([`MAX_MESSAGE`]) and checked; malformed input is
//! an error, never a panic.

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// The GUID RFC 6455 appends to the client's key.
pub const GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
/// Largest message (after reassembly) accepted.
pub const MAX_MESSAGE: usize = 16 << 20;

pub const OP_CONTINUATION: u8 = 0x0;
pub const OP_TEXT: u8 = 0x1;
pub const OP_BINARY: u8 = 0x2;
pub const OP_CLOSE: u8 = 0x8;
pub const OP_PING: u8 = 0x9;
pub const OP_PONG: u8 = 0xA;

/// Close code of a normal closure.
pub const CLOSE_NORMAL: u16 = 1000;

/// A protocol violation by the peer.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum WsError {
    #[error("reserved bits set in a WebSocket frame")]
    ReservedBits,
    #[error("unknown WebSocket opcode {0}")]
    UnknownOpcode(u8),
    #[error("invalid WebSocket control frame")]
    BadControlFrame,
    #[error("WebSocket message larger than {MAX_MESSAGE} bytes")]
    TooLarge,
    #[error("unexpected WebSocket continuation frame")]
    UnexpectedContinuation,
    #[error("WebSocket data frame inside a fragmented message")]
    InterleavedMessage,
}

/// One decoded frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub fin: bool,
    pub opcode: u8,
    pub payload: Vec<u8>,
}

/// A complete message (data messages reassembled) or a control frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    Binary(Vec<u8>),
    Text(Vec<u8>),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    /// A close frame with its status code, if any.
    Close(Option<u16>),
}

/// `Sec-WebSocket-Accept` for a client's `Sec-WebSocket-Key`.
pub fn accept_key(key: &str) -> String {
    use base64::Engine;
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY);
    ctx.update(key.trim().as_bytes());
    ctx.update(GUID.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(ctx.finish().as_ref())
}

/// The first of `supported` that the client offered in `Sec-WebSocket-Protocol` (a
/// comma-separated list, possibly in several headers), in the server's order of preference.
pub fn select_protocol<'a>(offered: &[&str], supported: &[&'a str]) -> Option<&'a str> {
    let offered: Vec<&str> = offered
        .iter()
        .flat_map(|h| h.split(','))
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect();
    supported.iter().copied().find(|s| offered.contains(s))
}

/// Encodes one frame (FIN set). Servers send unmasked frames; clients pass a mask.
pub fn encode_frame(opcode: u8, payload: &[u8], mask: Option<[u8; 4]>) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 14);
    out.push(0x80 | (opcode & 0x0f));
    let mask_bit = if mask.is_some() { 0x80 } else { 0 };
    let len = payload.len();
    if len < 126 {
        out.push(mask_bit | len as u8);
    } else if len <= u16::MAX as usize {
        out.push(mask_bit | 126);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(mask_bit | 127);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
    match mask {
        Some(m) => {
            out.extend_from_slice(&m);
            out.extend(payload.iter().enumerate().map(|(i, b)| b ^ m[i % 4]));
        }
        None => out.extend_from_slice(payload),
    }
    out
}

/// A binary frame whose payload is `channel` then `data` (the `channel.k8s.io` framing).
pub fn channel_frame(channel: u8, data: &[u8]) -> Vec<u8> {
    let mut payload = Vec::with_capacity(data.len() + 1);
    payload.push(channel);
    payload.extend_from_slice(data);
    encode_frame(OP_BINARY, &payload, None)
}

/// A close frame with `code`.
pub fn close_frame(code: u16) -> Vec<u8> {
    encode_frame(OP_CLOSE, &code.to_be_bytes(), None)
}

/// Decodes one frame from the front of `buf`: `Ok(None)` when more bytes are needed, else the
/// frame and how many bytes it took.
pub fn decode_frame(buf: &[u8]) -> Result<Option<(Frame, usize)>, WsError> {
    if buf.len() < 2 {
        return Ok(None);
    }
    let (b0, b1) = (buf[0], buf[1]);
    if b0 & 0x70 != 0 {
        return Err(WsError::ReservedBits);
    }
    let fin = b0 & 0x80 != 0;
    let opcode = b0 & 0x0f;
    match opcode {
        OP_CONTINUATION | OP_TEXT | OP_BINARY => {}
        OP_CLOSE | OP_PING | OP_PONG => {
            if !fin || (b1 & 0x7f) > 125 {
                return Err(WsError::BadControlFrame);
            }
        }
        other => return Err(WsError::UnknownOpcode(other)),
    }
    let masked = b1 & 0x80 != 0;
    let mut pos = 2usize;
    let len = match b1 & 0x7f {
        126 => {
            let Some(b) = buf.get(2..4) else {
                return Ok(None);
            };
            pos = 4;
            u16::from_be_bytes([b[0], b[1]]) as u64
        }
        127 => {
            let Some(b) = buf.get(2..10) else {
                return Ok(None);
            };
            pos = 10;
            let mut a = [0u8; 8];
            a.copy_from_slice(b);
            u64::from_be_bytes(a)
        }
        n => n as u64,
    };
    if len > MAX_MESSAGE as u64 {
        return Err(WsError::TooLarge);
    }
    let len = len as usize;
    let mask = if masked {
        let Some(m) = buf.get(pos..pos + 4) else {
            return Ok(None);
        };
        pos += 4;
        Some([m[0], m[1], m[2], m[3]])
    } else {
        None
    };
    let Some(data) = buf.get(pos..pos + len) else {
        return Ok(None);
    };
    let payload = match mask {
        Some(m) => data.iter().enumerate().map(|(i, b)| b ^ m[i % 4]).collect(),
        None => data.to_vec(),
    };
    Ok(Some((
        Frame {
            fin,
            opcode,
            payload,
        },
        pos + len,
    )))
}

/// Reassembles messages from frames.
#[derive(Debug, Default)]
pub struct Assembler {
    partial: Option<(u8, Vec<u8>)>,
}

impl Assembler {
    /// Feeds one frame; returns a message when one is complete.
    pub fn push(&mut self, frame: Frame) -> Result<Option<Message>, WsError> {
        match frame.opcode {
            OP_PING => Ok(Some(Message::Ping(frame.payload))),
            OP_PONG => Ok(Some(Message::Pong(frame.payload))),
            OP_CLOSE => {
                let code = (frame.payload.len() >= 2)
                    .then(|| u16::from_be_bytes([frame.payload[0], frame.payload[1]]));
                Ok(Some(Message::Close(code)))
            }
            OP_CONTINUATION => {
                let Some((op, mut data)) = self.partial.take() else {
                    return Err(WsError::UnexpectedContinuation);
                };
                if data.len() + frame.payload.len() > MAX_MESSAGE {
                    return Err(WsError::TooLarge);
                }
                data.extend_from_slice(&frame.payload);
                if frame.fin {
                    Ok(Some(finish(op, data)))
                } else {
                    self.partial = Some((op, data));
                    Ok(None)
                }
            }
            op => {
                if self.partial.is_some() {
                    return Err(WsError::InterleavedMessage);
                }
                if frame.fin {
                    Ok(Some(finish(op, frame.payload)))
                } else {
                    self.partial = Some((op, frame.payload));
                    Ok(None)
                }
            }
        }
    }
}

fn finish(op: u8, data: Vec<u8>) -> Message {
    if op == OP_TEXT {
        Message::Text(data)
    } else {
        Message::Binary(data)
    }
}

/// Reads messages from a byte stream.
pub struct MessageReader<R> {
    r: R,
    buf: BytesMut,
    assembler: Assembler,
}

impl<R: AsyncRead + Unpin> MessageReader<R> {
    pub fn new(r: R) -> Self {
        MessageReader {
            r,
            buf: BytesMut::with_capacity(16 * 1024),
            assembler: Assembler::default(),
        }
    }

    /// The next message; `Ok(None)` at the end of the stream.
    pub async fn next(&mut self) -> std::io::Result<Option<Message>> {
        loop {
            match decode_frame(&self.buf) {
                Ok(Some((frame, used))) => {
                    self.buf.advance(used);
                    match self.assembler.push(frame) {
                        Ok(Some(m)) => return Ok(Some(m)),
                        Ok(None) => continue,
                        Err(e) => {
                            return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, e));
                        }
                    }
                }
                Ok(None) => {}
                Err(e) => return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, e)),
            }
            if self.r.read_buf(&mut self.buf).await? == 0 {
                return Ok(None);
            }
        }
    }
}

/// Pumps a WebSocket connection carrying a byte stream in binary messages (kubectl's
/// `SPDY/3.1+portforward.k8s.io` tunnel) to and from `inner`: binary message payloads are
/// written to `inner`, bytes read from `inner` are sent as binary messages, pings answered.
/// Returns when either side ends.
pub async fn tunnel<W, I>(ws: W, inner: I)
where
    W: AsyncRead + AsyncWrite + Send + 'static,
    I: AsyncRead + AsyncWrite + Send + 'static,
{
    let (ws_r, ws_w) = tokio::io::split(ws);
    let (mut in_r, mut in_w) = tokio::io::split(inner);
    let ws_w = std::sync::Arc::new(tokio::sync::Mutex::new(ws_w));
    let writer = ws_w.clone();
    let down = async move {
        let mut buf = vec![0u8; 32 * 1024];
        loop {
            let n = match in_r.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            let frame = encode_frame(OP_BINARY, &buf[..n], None);
            let mut w = writer.lock().await;
            if w.write_all(&frame).await.is_err() || w.flush().await.is_err() {
                break;
            }
        }
        let mut w = writer.lock().await;
        let _ = w.write_all(&close_frame(CLOSE_NORMAL)).await;
        let _ = w.shutdown().await;
    };
    let up = async move {
        let mut reader = MessageReader::new(ws_r);
        while let Ok(Some(msg)) = reader.next().await {
            match msg {
                Message::Binary(data) => {
                    if in_w.write_all(&data).await.is_err() {
                        break;
                    }
                }
                Message::Ping(p) => {
                    let mut w = ws_w.lock().await;
                    let _ = w.write_all(&encode_frame(OP_PONG, &p, None)).await;
                    let _ = w.flush().await;
                }
                Message::Close(_) => break,
                Message::Text(_) | Message::Pong(_) => {}
            }
        }
        let _ = in_w.shutdown().await;
    };
    tokio::select! {
        _ = down => {}
        _ = up => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_key_matches_rfc_example() {
        assert_eq!(
            accept_key("dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    #[test]
    fn selects_protocols_in_server_order() {
        let sup = ["v5.channel.k8s.io", "v4.channel.k8s.io", "channel.k8s.io"];
        assert_eq!(
            select_protocol(&["v4.channel.k8s.io, v5.channel.k8s.io"], &sup),
            Some("v5.channel.k8s.io")
        );
        assert_eq!(
            select_protocol(&["channel.k8s.io"], &sup),
            Some("channel.k8s.io")
        );
        assert_eq!(select_protocol(&["base64.channel.k8s.io"], &sup), None);
        assert_eq!(select_protocol(&[], &sup), None);
    }

    #[test]
    fn round_trips_frames_of_every_length_class() {
        for len in [0usize, 1, 125, 126, 127, 65535, 65536, 70000] {
            let payload: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            for mask in [None, Some([1, 2, 3, 4])] {
                let bytes = encode_frame(OP_BINARY, &payload, mask);
                let (frame, used) = decode_frame(&bytes).unwrap().unwrap();
                assert_eq!(used, bytes.len());
                assert!(frame.fin);
                assert_eq!(frame.opcode, OP_BINARY);
                assert_eq!(frame.payload, payload);
                // Every strict prefix asks for more bytes.
                for cut in [0, 1, bytes.len() / 2, bytes.len() - 1] {
                    if cut < bytes.len() {
                        assert_eq!(decode_frame(&bytes[..cut]).unwrap(), None);
                    }
                }
            }
        }
    }

    #[test]
    fn reassembles_fragments_and_passes_control_frames() {
        let mut a = Assembler::default();
        let f = |fin, opcode, p: &[u8]| Frame {
            fin,
            opcode,
            payload: p.to_vec(),
        };
        assert_eq!(a.push(f(false, OP_BINARY, b"ab")).unwrap(), None);
        assert_eq!(
            a.push(f(true, OP_PING, b"x")).unwrap(),
            Some(Message::Ping(b"x".to_vec()))
        );
        assert_eq!(a.push(f(false, OP_CONTINUATION, b"cd")).unwrap(), None);
        assert_eq!(
            a.push(f(true, OP_CONTINUATION, b"e")).unwrap(),
            Some(Message::Binary(b"abcde".to_vec()))
        );
        assert_eq!(
            a.push(f(true, OP_CONTINUATION, b"e")),
            Err(WsError::UnexpectedContinuation)
        );
        assert_eq!(
            a.push(f(true, OP_CLOSE, &1000u16.to_be_bytes())).unwrap(),
            Some(Message::Close(Some(1000)))
        );
        assert_eq!(
            a.push(f(true, OP_CLOSE, b"")).unwrap(),
            Some(Message::Close(None))
        );
    }

    #[test]
    fn rejects_bad_frames() {
        assert_eq!(decode_frame(&[0xC2, 0x00]), Err(WsError::ReservedBits));
        assert_eq!(decode_frame(&[0x83, 0x00]), Err(WsError::UnknownOpcode(3)));
        assert_eq!(decode_frame(&[0x09, 0x00]), Err(WsError::BadControlFrame));
        assert_eq!(
            decode_frame(&[0x89, 126, 0, 200]),
            Err(WsError::BadControlFrame)
        );
        let mut huge = vec![0x82, 127];
        huge.extend_from_slice(&u64::MAX.to_be_bytes());
        assert_eq!(decode_frame(&huge), Err(WsError::TooLarge));
    }

    #[test]
    fn never_panics_on_arbitrary_bytes() {
        // A small deterministic generator: xorshift.
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for _ in 0..20_000 {
            let len = (next() % 40) as usize;
            let bytes: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            let mut a = Assembler::default();
            let mut rest = &bytes[..];
            while let Ok(Some((frame, used))) = decode_frame(rest) {
                assert!(used > 0 && used <= rest.len());
                rest = &rest[used..];
                if a.push(frame).is_err() {
                    break;
                }
            }
        }
    }

    #[tokio::test]
    async fn message_reader_reads_split_input() {
        let mut bytes = encode_frame(OP_BINARY, b"\x01hello", Some([9, 8, 7, 6]));
        bytes.extend(encode_frame(OP_PING, b"p", Some([1, 1, 1, 1])));
        let (mut client, server) = tokio::io::duplex(3);
        tokio::spawn(async move {
            for chunk in bytes.chunks(2) {
                let _ = client.write_all(chunk).await;
            }
        });
        let mut r = MessageReader::new(server);
        assert_eq!(
            r.next().await.unwrap(),
            Some(Message::Binary(b"\x01hello".to_vec()))
        );
        assert_eq!(r.next().await.unwrap(), Some(Message::Ping(b"p".to_vec())));
        assert_eq!(r.next().await.unwrap(), None);
    }
}
