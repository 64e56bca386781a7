//! Building HTTP responses: JSON and YAML bodies, Status errors, `Warning` headers and
//! streaming bodies for watches.

use crate::negotiate::Output;
use crate::status::ApiError;
use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode};
use http_body_util::{BodyExt, Full, StreamBody, combinators::UnsyncBoxBody};
use serde_json::Value;
use std::convert::Infallible;

/// The body type of every response.
pub type ResponseBody = UnsyncBoxBody<Bytes, Infallible>;

fn full(bytes: impl Into<Bytes>) -> ResponseBody {
    Full::new(bytes.into()).boxed_unsync()
}

fn with_warnings(mut resp: Response<ResponseBody>, warnings: &[String]) -> Response<ResponseBody> {
    for w in warnings {
        let text = format!("299 - {}", quote(w));
        if let Ok(v) = HeaderValue::from_str(&text) {
            resp.headers_mut().append(http::header::WARNING, v);
        }
    }
    resp
}

fn quote(s: &str) -> String {
    let escaped: String = s
        .chars()
        .filter(|c| !c.is_control())
        .flat_map(|c| match c {
            '"' | '\\' => vec!['\\', c],
            c => vec![c],
        })
        .collect();
    format!("\"{escaped}\"")
}

fn build(status: u16, content_type: &str, body: ResponseBody) -> Response<ResponseBody> {
    let mut resp = Response::new(body);
    *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if let Ok(v) = HeaderValue::from_str(content_type) {
        resp.headers_mut().insert(http::header::CONTENT_TYPE, v);
    }
    resp.headers_mut().insert(
        http::header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache, private"),
    );
    resp
}

/// A JSON response.
pub fn json(status: u16, v: &Value, warnings: &[String]) -> Response<ResponseBody> {
    let bytes = serde_json::to_vec(v).unwrap_or_default();
    with_warnings(build(status, "application/json", full(bytes)), warnings)
}

/// A response in the negotiated representation (JSON unless YAML was asked for).
pub fn object(
    status: u16,
    v: &Value,
    output: Output,
    warnings: &[String],
) -> Response<ResponseBody> {
    if output == Output::Yaml
        && let Ok(text) = serde_saphyr::to_string(v)
    {
        return with_warnings(build(status, "application/yaml", full(text)), warnings);
    }
    if output == Output::Protobuf {
        match krust_api::protobuf::encode_object(v) {
            Ok(bytes) => {
                return with_warnings(
                    build(status, krust_api::protobuf::CONTENT_TYPE, full(bytes)),
                    warnings,
                );
            }
            // Custom resources have no protobuf form: JSON, as upstream serves them.
            Err(e) => tracing::debug!(error = %e, "answering in JSON"),
        }
    }
    json(status, v, warnings)
}

/// An aggregated discovery document with its ETag, or `304 Not Modified` when the client
/// already holds it (`If-None-Match`).
pub fn discovery(v: &Value, version: &str, if_none_match: Option<&str>) -> Response<ResponseBody> {
    let bytes = serde_json::to_vec(v).unwrap_or_default();
    let etag = crate::discovery::etag(&bytes);
    let content_type =
        format!("application/json;g=apidiscovery.k8s.io;v={version};as=APIGroupDiscoveryList");
    let not_modified = if_none_match.is_some_and(|m| m.split(',').any(|t| t.trim() == etag));
    let mut resp = if not_modified {
        build(304, &content_type, full(Bytes::new()))
    } else {
        build(200, &content_type, full(bytes))
    };
    if let Ok(v) = HeaderValue::from_str(&etag) {
        resp.headers_mut().insert(http::header::ETAG, v);
    }
    resp.headers_mut()
        .insert(http::header::VARY, HeaderValue::from_static("Accept"));
    resp
}

/// A plain-text response.
pub fn text(status: u16, body: String) -> Response<ResponseBody> {
    build(status, "text/plain; charset=utf-8", full(body))
}

/// A Status error response.
pub fn error(e: &ApiError) -> Response<ResponseBody> {
    json(e.code, &e.to_status(), &[])
}

/// A streaming response of `content_type` (a protobuf watch is
/// `application/vnd.kubernetes.protobuf;stream=watch`).
pub fn stream_as(
    rx: tokio::sync::mpsc::Receiver<Bytes>,
    content_type: &str,
    warnings: &[String],
) -> Response<ResponseBody> {
    let s = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|b| (Ok::<_, Infallible>(http_body::Frame::data(b)), rx))
    });
    let body = UnsyncBoxBody::new(StreamBody::new(s));
    with_warnings(build(200, content_type, body), warnings)
}
