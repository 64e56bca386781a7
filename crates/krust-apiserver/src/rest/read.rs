//! GET and LIST: from storage when the newest state is needed or a list is paginated, from the
//! watch cache otherwise; label and field selectors, `limit`/`continue`, and the JSON, Table and
//! `PartialObjectMetadata` representations.

use super::table::{include_of, table};
use super::{Ctx, parse_rv};
use crate::ApiServer;
use crate::negotiate::Output;
use crate::object::{partial_metadata, render};
use crate::response::{self, ResponseBody};
use crate::status::ApiError;
use crate::watch_cache::decode_stored;
use base64::Engine;
use http::Response;
use krust_api::fields::FieldSelector;
use krust_api::selector::LabelSelector;
use krust_store::RangeRequest;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

/// How long a read waits for the cache to reach a requested revision.
const WAIT: Duration = Duration::from_secs(3);

/// Label and field selectors of a list or watch.
pub(crate) struct Filter {
    pub labels: LabelSelector,
    pub fields: FieldSelector,
    group: String,
    kind: String,
}

impl Filter {
    pub fn from_ctx(ctx: &Ctx) -> Result<Self, ApiError> {
        let labels = LabelSelector::parse(ctx.query.get("labelSelector").unwrap_or(""))
            .map_err(|e| ApiError::bad_request(format!("unable to parse requirement: {e}")))?;
        let fields = FieldSelector::parse(ctx.query.get("fieldSelector").unwrap_or(""))
            .map_err(|e| ApiError::bad_request(e.to_string()))?;
        fields
            .check_supported(&ctx.info.group, &ctx.info.kind)
            .map_err(|e| ApiError::bad_request(e.to_string()))?;
        Ok(Filter {
            labels,
            fields,
            group: ctx.info.group.clone(),
            kind: ctx.info.kind.clone(),
        })
    }

    pub fn matches(&self, obj: &Value) -> bool {
        self.labels.matches_object(obj) && self.fields.matches(&self.group, &self.kind, obj)
    }
}

/// Checks that a stored object decodes as its kind (see [`krust_api::typecheck`]).
pub(crate) fn check_stored(obj: &Value) -> Result<(), krust_api::typecheck::TypeError> {
    krust_api::typecheck::check_stored(obj)
}

/// The 500 of a read that met a stored object that does not decode as its kind; deleting the
/// object is the way out.
pub(crate) fn corrupt_object(key: &str, why: &str) -> ApiError {
    ApiError::internal(format!(
        "failed to decode the stored object {key}: {why}; the object can only be deleted"
    ))
}

/// Renders one storage-version object in the negotiated representation.
pub(crate) fn render_one(ctx: &Ctx, obj: &Value) -> Result<Value, ApiError> {
    Ok(match ctx.output {
        Output::Table { v1beta1 } => table(
            ctx,
            [obj],
            include_of(ctx)?,
            v1beta1,
            true,
            json!({"resourceVersion": krust_api::meta::resource_version(obj)}),
        ),
        Output::PartialMetadata { v1beta1 } => partial_metadata(obj, v1beta1),
        Output::Json | Output::Yaml | Output::Protobuf => render(&ctx.info, obj),
    })
}

pub(crate) async fn get(
    server: &ApiServer,
    ctx: &mut Ctx,
) -> Result<Response<ResponseBody>, ApiError> {
    let key = ctx.key();
    let obj = match parse_rv(ctx.query.get("resourceVersion"))? {
        None => {
            let kv = server.state.backend.get(&key).await?;
            kv.as_ref().and_then(decode_stored).map(Arc::new)
        }
        Some(rv) => {
            if rv > 0 && !server.state.cache.wait_for(rv, WAIT).await {
                return Err(too_large_rv(rv, server.state.cache.revision()));
            }
            server.state.cache.get(&ctx.cache_resource(), &key).0
        }
    };
    let obj = obj.ok_or_else(|| ApiError::not_found(&ctx.info, ctx.name()))?;
    if let Err(e) = check_stored(&obj) {
        return Err(corrupt_object(&key, &e.message));
    }
    let body = render_one(ctx, &obj)?;
    Ok(response::object(200, &body, ctx.output, &ctx.warnings))
}

pub(crate) fn too_large_rv(rv: i64, current: i64) -> ApiError {
    ApiError::timeout(format!(
        "Too large resource version: {rv}, current: {current}"
    ))
}

#[derive(serde::Serialize, serde::Deserialize)]
struct ContinueToken {
    v: String,
    rv: i64,
    start: String,
}

fn encode_continue(rv: i64, start: &str) -> String {
    let t = ContinueToken {
        v: "meta.k8s.io/v1".into(),
        rv,
        start: start.to_string(),
    };
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(serde_json::to_vec(&t).unwrap_or_default())
}

fn decode_continue(s: &str) -> Result<ContinueToken, ApiError> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s.trim_end_matches('='))
        .map_err(|e| ApiError::bad_request(format!("continue key is not valid: {e}")))?;
    serde_json::from_slice::<ContinueToken>(&bytes)
        .ok()
        .filter(|t| t.v == "meta.k8s.io/v1" && t.rv > 0)
        .ok_or_else(|| ApiError::bad_request("continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)"))
}

const CONTINUE_TOO_OLD: &str = "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.";

/// The objects of a list, the revision they reflect and a continue token when truncated.
pub(crate) struct Listed {
    pub items: Vec<Arc<Value>>,
    pub revision: i64,
    pub continue_token: Option<String>,
    /// The storage key of the last item of a truncated page.
    pub last_key: Option<String>,
}

/// Reads a page from storage, filtering, until `limit` matching items are found.
async fn list_from_storage(
    server: &ApiServer,
    prefix: &str,
    at: Option<i64>,
    mut start_after: Option<String>,
    limit: usize,
    filter: &Filter,
) -> Result<Listed, ApiError> {
    let mut items = Vec::new();
    let mut rev = at;
    loop {
        let want = if limit == 0 {
            0
        } else {
            (limit - items.len()).max(64)
        };
        let page = server
            .state
            .backend
            .range(RangeRequest {
                prefix: prefix.to_string(),
                start_after: start_after.clone(),
                limit: want,
                revision: rev,
            })
            .await?;
        rev = Some(page.revision);
        let n = page.kvs.len();
        for (i, kv) in page.kvs.iter().enumerate() {
            let Some(obj) = decode_stored(kv) else {
                continue;
            };
            if let Err(e) = check_stored(&obj) {
                return Err(corrupt_object(&kv.key, &e.message));
            }
            if filter.matches(&obj) {
                items.push(Arc::new(obj));
            }
            if limit > 0 && items.len() >= limit {
                let more = i + 1 < n || page.more;
                let token = more.then(|| encode_continue(page.revision, &kv.key));
                return Ok(Listed {
                    items,
                    revision: page.revision,
                    last_key: token.as_ref().map(|_| kv.key.clone()),
                    continue_token: token,
                });
            }
        }
        if !page.more {
            return Ok(Listed {
                items,
                revision: page.revision,
                continue_token: None,
                last_key: None,
            });
        }
        start_after = page.kvs.last().map(|kv| kv.key.clone());
    }
}

/// Lists matching objects as the query asks (cache or storage, consistency, pagination).
pub(crate) async fn list_objects(
    server: &ApiServer,
    ctx: &Ctx,
    filter: &Filter,
) -> Result<Listed, ApiError> {
    let prefix = ctx.info.namespace_prefix(ctx.namespace());
    let limit: usize = match ctx.query.non_empty("limit") {
        Some(l) => l
            .parse::<i64>()
            .map_err(|_| ApiError::bad_request(format!("invalid limit: {l:?}")))?
            .max(0) as usize,
        None => 0,
    };
    let rv = parse_rv(ctx.query.get("resourceVersion"))?;
    let exact = ctx.query.get("resourceVersionMatch") == Some("Exact");
    if let Some(c) = ctx.query.non_empty("continue") {
        if rv.is_some() {
            return Err(ApiError::bad_request(
                "specifying resource version is not allowed when using continue",
            ));
        }
        let token = decode_continue(c)?;
        if !token.start.starts_with(&prefix) {
            return Err(ApiError::bad_request(
                "continue key is not valid: key does not match the request",
            ));
        }
        return match list_from_storage(
            server,
            &prefix,
            Some(token.rv),
            Some(token.start),
            limit,
            filter,
        )
        .await
        {
            Err(e) if e.code == 410 => Err(ApiError::gone(CONTINUE_TOO_OLD)),
            other => other,
        };
    }
    if exact {
        let Some(at) = rv.filter(|r| *r > 0) else {
            return Err(ApiError::bad_request(
                "resourceVersionMatch \"Exact\" is forbidden for resourceVersion \"\" or \"0\"",
            ));
        };
        return list_from_storage(server, &prefix, Some(at), None, limit, filter).await;
    }
    if limit > 0 && rv.is_none() {
        return list_from_storage(server, &prefix, None, None, limit, filter).await;
    }
    let target = match rv {
        None => server.state.backend.current_revision().await?,
        Some(r) => r,
    };
    if target > 0 && !server.state.cache.wait_for(target, WAIT).await {
        return Err(too_large_rv(target, server.state.cache.revision()));
    }
    if let Some((key, why)) = server
        .state
        .cache
        .first_corrupt(&ctx.cache_resource(), &prefix)
    {
        return Err(corrupt_object(&key, &why));
    }
    let (all, revision) = server.state.cache.list(&ctx.cache_resource(), &prefix);
    let items = all.into_iter().filter(|o| filter.matches(o)).collect();
    Ok(Listed {
        items,
        revision,
        continue_token: None,
        last_key: None,
    })
}

pub(crate) async fn list(
    server: &ApiServer,
    ctx: &mut Ctx,
) -> Result<Response<ResponseBody>, ApiError> {
    let filter = Filter::from_ctx(ctx)?;
    let listed = list_objects(server, ctx, &filter).await?;
    let mut meta = json!({"resourceVersion": listed.revision.to_string()});
    if let Some(t) = &listed.continue_token {
        meta["continue"] = json!(t);
        // As upstream: how many objects follow this page, when no selector filters them.
        if filter.labels.is_empty()
            && filter.fields.is_empty()
            && let Some(last) = &listed.last_key
        {
            let prefix = ctx.info.namespace_prefix(ctx.namespace());
            let remaining = server
                .state
                .cache
                .count_after(&ctx.cache_resource(), &prefix, last);
            krust_api::meta::set_path(&mut meta, &["remainingItemCount"], json!(remaining));
        }
    }
    let body = match ctx.output {
        Output::Table { v1beta1 } => table(
            ctx,
            listed.items.iter().map(|o| o.as_ref()),
            include_of(ctx)?,
            v1beta1,
            true,
            meta,
        ),
        Output::PartialMetadata { v1beta1 } => json!({
            "kind": "PartialObjectMetadataList",
            "apiVersion": if v1beta1 { "meta.k8s.io/v1beta1" } else { "meta.k8s.io/v1" },
            "metadata": meta,
            "items": listed.items.iter().map(|o| partial_metadata(o, v1beta1)).collect::<Vec<_>>(),
        }),
        Output::Json | Output::Yaml | Output::Protobuf => json!({
            "kind": ctx.info.list_kind,
            "apiVersion": ctx.info.api_version(),
            "metadata": meta,
            "items": listed.items.iter().map(|o| render(&ctx.info, o)).collect::<Vec<_>>(),
        }),
    };
    Ok(response::object(200, &body, ctx.output, &ctx.warnings))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continue_tokens_round_trip() {
        let t = encode_continue(42, "/registry/core/pods/default/a");
        let d = decode_continue(&t).unwrap();
        assert_eq!(
            (d.rv, d.start.as_str()),
            (42, "/registry/core/pods/default/a")
        );
        assert!(decode_continue("!!!").is_err());
        assert!(decode_continue("e30").is_err());
    }
}
