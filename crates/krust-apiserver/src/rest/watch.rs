//! WATCH: a chunked stream of `{"type":..,"object":..}` lines from the watch cache, with
//! `resourceVersion` semantics, selector transitions (an object leaving the selector is
//! DELETED, entering it ADDED), bookmarks, `sendInitialEvents`, `timeoutSeconds`, Table and
//! PartialObjectMetadata events, and a 410 ERROR event for a too-old revision.

use super::read::{Filter, too_large_rv};
use super::table::{Include, include_of, table};
use super::{Ctx, parse_rv};
use crate::ApiServer;
use crate::negotiate::Output;
use crate::object::{partial_metadata, render};
use crate::response::{self, ResponseBody};
use crate::status::ApiError;
use crate::watch_cache::{CacheEvent, EventType, TooOld, WatchFrom};
use bytes::Bytes;
use http::Response;
use serde_json::{Value, json};
use std::time::Duration;
use tokio::sync::mpsc;

/// What the writer task needs, detached from the request.
struct Encoder {
    ctx: Ctx,
    include: Include,
    filter: Filter,
    first_table: bool,
    /// The `apiVersion` this watch serves.
    api_version: String,
    /// Events go out as length-prefixed protobuf `WatchEvent`s instead of JSON lines.
    protobuf: bool,
}

impl Encoder {
    fn object(&mut self, obj: &Value) -> Value {
        match self.ctx.output {
            Output::Table { v1beta1 } => {
                let with_columns = std::mem::take(&mut self.first_table);
                table(
                    &self.ctx,
                    [obj],
                    self.include,
                    v1beta1,
                    with_columns,
                    json!({"resourceVersion": krust_api::meta::resource_version(obj)}),
                )
            }
            Output::PartialMetadata { v1beta1 } => partial_metadata(obj, v1beta1),
            Output::Json | Output::Yaml | Output::Protobuf => render(&self.ctx.info, obj),
        }
    }

    fn line(&mut self, kind: &str, obj: &Value) -> Bytes {
        let object = self.object(obj);
        self.frame(kind, &object)
    }

    /// One event in this watch's format.
    fn frame(&self, kind: &str, object: &Value) -> Bytes {
        frame(self.protobuf, kind, object)
    }

    /// The event to send for a cache event, after selector transitions.
    fn event(&mut self, ev: &CacheEvent) -> Option<Bytes> {
        let now = self.filter.matches(&ev.object);
        let before = ev.prev.as_ref().is_some_and(|p| self.filter.matches(p));
        let kind = match ev.kind {
            EventType::Added => now.then_some("ADDED"),
            EventType::Modified => match (before, now) {
                (true, true) => Some("MODIFIED"),
                (false, true) => Some("ADDED"),
                (true, false) => Some("DELETED"),
                (false, false) => None,
            },
            EventType::Deleted => (now || before).then_some("DELETED"),
        }?;
        // Unconverted JSON and v1 metadata watches reuse the event's one serialization.
        let unconverted = ev.object.get("apiVersion").and_then(Value::as_str)
            == Some(self.api_version.as_str())
            && self
                .ctx
                .info
                .custom
                .as_ref()
                .is_none_or(|c| c.read_defaults().is_none());
        match self.ctx.output {
            Output::Json if unconverted => return Some(framed(kind, ev.json())),
            Output::PartialMetadata { v1beta1: false } => {
                return Some(framed(kind, ev.metadata_json()));
            }
            _ => {}
        }
        Some(self.line(kind, &ev.object))
    }

    fn bookmark(&mut self, rv: i64, initial_end: bool) -> Bytes {
        let mut meta = json!({"resourceVersion": rv.to_string()});
        if initial_end {
            meta["annotations"] = json!({"k8s.io/initial-events-end": "true"});
        }
        let obj = match self.ctx.output {
            Output::Table { v1beta1 } => json!({
                "kind": "Table",
                "apiVersion": if v1beta1 { "meta.k8s.io/v1beta1" } else { "meta.k8s.io/v1" },
                "metadata": meta, "columnDefinitions": [], "rows": [],
            }),
            Output::PartialMetadata { v1beta1 } => json!({
                "kind": "PartialObjectMetadata",
                "apiVersion": if v1beta1 { "meta.k8s.io/v1beta1" } else { "meta.k8s.io/v1" },
                "metadata": meta,
            }),
            _ => {
                json!({"kind": self.ctx.info.kind, "apiVersion": self.ctx.info.api_version(), "metadata": meta})
            }
        };
        self.frame("BOOKMARK", &obj)
    }
}

/// The ERROR event (a 500 Status) that ends a watch meeting a stored object that does not
/// decode as its kind, as upstream's watch ends on a decoding error.
fn corrupt_event(ev: &CacheEvent, enc: &Encoder) -> Option<Bytes> {
    let filter = &enc.filter;
    let why = ev.corrupt.as_ref()?;
    if ev.kind == EventType::Deleted || !filter.matches(&ev.object) {
        return None;
    }
    let status = super::read::corrupt_object(&ev.key, why).to_status();
    Some(enc.frame("ERROR", &status))
}

/// An event as a JSON line, or (protobuf) as a 4-byte big-endian length and a protobuf
/// `WatchEvent`, as upstream's streaming serializer frames them.
fn frame(protobuf: bool, kind: &str, object: &Value) -> Bytes {
    if protobuf {
        match krust_api::protobuf::encode_watch_event(kind, object) {
            Ok(body) => {
                let mut v = Vec::with_capacity(body.len() + 4);
                v.extend_from_slice(&u32::try_from(body.len()).unwrap_or(u32::MAX).to_be_bytes());
                v.extend_from_slice(&body);
                return Bytes::from(v);
            }
            Err(e) => tracing::warn!(error = %e, "a watch event has no protobuf form"),
        }
    }
    line(kind, object)
}

/// A watch line around an already serialized object.
fn framed(kind: &str, object: &[u8]) -> Bytes {
    let mut v = Vec::with_capacity(object.len() + 32);
    v.extend_from_slice(b"{\"type\":\"");
    v.extend_from_slice(kind.as_bytes());
    v.extend_from_slice(b"\",\"object\":");
    v.extend_from_slice(object);
    v.extend_from_slice(b"}\n");
    Bytes::from(v)
}

fn line(kind: &str, object: &Value) -> Bytes {
    let mut v = serde_json::to_vec(&json!({"type": kind, "object": object})).unwrap_or_default();
    v.push(b'\n');
    Bytes::from(v)
}

fn random_timeout() -> Duration {
    let mut b = [0u8; 2];
    let _ = ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut b);
    Duration::from_secs(1800 + u64::from(u16::from_le_bytes(b)) % 1800)
}

pub(crate) async fn serve(
    server: &ApiServer,
    ctx: &mut Ctx,
) -> Result<Response<ResponseBody>, ApiError> {
    let filter = Filter::from_ctx(ctx)?;
    let include = include_of(ctx)?;
    let rv = parse_rv(ctx.query.get("resourceVersion"))?;
    let send_initial = ctx.query.flag("sendInitialEvents");
    let bookmarks = ctx.query.flag("allowWatchBookmarks");
    if send_initial && !(bookmarks && ctx.query.get("resourceVersionMatch") == Some("NotOlderThan"))
    {
        return Err(ApiError::invalid_kind(
            "ListOptions.meta.k8s.io",
            "meta.k8s.io",
            "ListOptions",
            "",
            &[krust_api::FieldError::forbidden(
                "sendInitialEvents",
                "sendInitialEvents is allowed with watch=true, allowWatchBookmarks=true and resourceVersionMatch=NotOlderThan only",
            )],
        ));
    }
    let cache = server.state.cache.clone();
    let from = match (rv, send_initial) {
        (Some(r), false) if r > 0 => {
            if !cache.wait_for(r, Duration::from_secs(3)).await {
                return Err(too_large_rv(r, cache.revision()));
            }
            WatchFrom::Revision(r)
        }
        (r, true) => {
            let target = match r {
                Some(r) if r > 0 => r,
                _ => server.state.backend.current_revision().await?,
            };
            if !cache.wait_for(target, Duration::from_secs(3)).await {
                return Err(too_large_rv(target, cache.revision()));
            }
            WatchFrom::Now
        }
        _ => WatchFrom::Now,
    };
    let timeout = match ctx.query.non_empty("timeoutSeconds") {
        Some(t) => Duration::from_secs(
            t.parse::<u64>()
                .map_err(|_| ApiError::bad_request(format!("invalid timeoutSeconds: {t:?}")))?,
        ),
        None => random_timeout(),
    };
    let resource = ctx.cache_resource();
    let prefix = ctx.info.namespace_prefix(ctx.namespace());
    let warnings = ctx.warnings.clone();
    let mut enc = Encoder {
        ctx: Ctx {
            info: ctx.info.clone(),
            path: ctx.path.clone(),
            query: ctx.query.clone(),
            output: ctx.output,
            identity: ctx.identity.clone(),
            warnings: Vec::new(),
            manager: ctx.manager.clone(),
        },
        include,
        filter,
        first_table: true,
        api_version: ctx.info.api_version(),
        protobuf: ctx.output == Output::Protobuf && ctx.info.custom.is_none(),
    };
    let content_type = if enc.protobuf {
        "application/vnd.kubernetes.protobuf;stream=watch"
    } else {
        "application/json"
    };
    let (tx, rx) = mpsc::channel::<Bytes>(64);
    let start = match cache.watch(&resource, &prefix, from) {
        Ok(s) => s,
        Err(TooOld { requested, oldest }) => {
            let status =
                ApiError::gone(format!("too old resource version: {requested} ({oldest})"))
                    .to_status();
            let _ = tx.try_send(enc.frame("ERROR", &status));
            drop(tx);
            return Ok(response::stream_as(rx, content_type, &warnings));
        }
    };
    let bookmark_every = server.state.config.bookmark_interval;
    let metrics_gauge = server.state.metrics.watchers.clone();
    tokio::spawn(async move {
        metrics_gauge.inc();
        let id = start.id;
        let mut live = start.rx;
        let deadline = tokio::time::Instant::now() + timeout;
        let mut ok = true;
        for ev in &start.initial {
            if let Some(b) = corrupt_event(ev, &enc) {
                let _ = tx.send(b).await;
                ok = false;
                break;
            }
            if let Some(b) = enc.event(ev)
                && tx.send(b).await.is_err()
            {
                ok = false;
                break;
            }
        }
        if ok && send_initial {
            ok = tx.send(enc.bookmark(start.revision, true)).await.is_ok();
        }
        let mut tick = tokio::time::interval(bookmark_every);
        tick.tick().await;
        while ok {
            tokio::select! {
                ev = live.recv() => match ev {
                    Some(ev) => {
                        if let Some(b) = corrupt_event(&ev, &enc) {
                            let _ = tx.send(b).await;
                            break;
                        }
                        if let Some(b) = enc.event(&ev) {
                            ok = tx.send(b).await.is_ok();
                        }
                    }
                    None => break,
                },
                _ = tick.tick(), if bookmarks => {
                    if let Some(rv) = cache.bookmark_revision(&resource, &live) {
                        ok = tx.send(enc.bookmark(rv, false)).await.is_ok();
                    }
                }
                _ = tokio::time::sleep_until(deadline) => break,
                _ = tx.closed() => break,
            }
        }
        cache.unwatch(&resource, id);
        metrics_gauge.dec();
    });
    Ok(response::stream_as(rx, content_type, &warnings))
}
