//! `GET /stats/summary`: upstream's Summary API (node, pods and containers CPU and memory, the
//! node's filesystem and network), the newest sample of the kubelet's [`crate::stats`]
//! collector. `?only_cpu_and_memory=true` (what metrics-server asks for) leaves out the
//! filesystem and network figures.

use super::{Body, Handler, full, query_pairs, text};
use http::{Method, Request, Response};

/// Serves the summary.
pub async fn serve<B>(handler: &Handler, req: &Request<B>) -> Response<Body> {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return text(405, "405 method not allowed");
    }
    let only_cpu_and_memory = query_pairs(req.uri().query())
        .iter()
        .any(|(k, v)| k == "only_cpu_and_memory" && v == "true");
    let summary = handler.stats.summary().await;
    let body = if only_cpu_and_memory {
        serde_json::to_vec(&summary.cpu_and_memory())
    } else {
        serde_json::to_vec(summary.as_ref())
    };
    match body {
        Ok(bytes) => {
            let mut r = Response::new(full(bytes));
            r.headers_mut().insert(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static("application/json"),
            );
            r
        }
        Err(e) => text(500, format!("encoding the summary: {e}")),
    }
}
