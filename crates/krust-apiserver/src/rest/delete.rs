//! DELETE and DELETECOLLECTION: `DeleteOptions` (preconditions, `propagationPolicy`,
//! `gracePeriodSeconds`, `dryRun`), finalizers and `deletionTimestamp`, graceful deletion of
//! pods bound to a node, namespaces moving to `Terminating`, and the objects that may never be
//! deleted (`default`, `kube-system`, `kube-public`).

use super::read::{Filter, list_objects};
use super::{Ctx, parse_rv};
use crate::ApiServer;
use crate::object::render;
use crate::response::{self, ResponseBody};
use crate::status::{ApiError, success_status};
use crate::watch_cache::decode_stored;
use http::Response;
use krust_api::meta::{finalizers, is_deleting, uid};
use krust_api::{FieldError, ResourceInfo};
use krust_store::StoreError;
use serde_json::{Value, json};

/// The parts of `DeleteOptions` krust acts on.
#[derive(Debug, Default, Clone)]
pub(crate) struct DeleteOptions {
    pub propagation: Option<String>,
    pub grace: Option<i64>,
    pub uid: Option<String>,
    pub resource_version: Option<String>,
    pub dry_run: bool,
}

fn parse_options(ctx: &Ctx, body: &[u8]) -> Result<DeleteOptions, ApiError> {
    let mut o = DeleteOptions::default();
    let trimmed: &[u8] = body.trim_ascii();
    if !trimmed.is_empty() {
        let v: Value = if trimmed.starts_with(b"k8s\0") {
            krust_api::protobuf::decode_object(body)
                .map_err(|e| ApiError::bad_request(format!("couldn't decode DeleteOptions: {e}")))?
        } else {
            serde_json::from_slice(trimmed)
                .map_err(|e| ApiError::bad_request(format!("couldn't decode DeleteOptions: {e}")))?
        };
        o.propagation = v["propagationPolicy"].as_str().map(str::to_string);
        o.grace = v["gracePeriodSeconds"].as_i64();
        o.uid = v["preconditions"]["uid"].as_str().map(str::to_string);
        o.resource_version = v["preconditions"]["resourceVersion"]
            .as_str()
            .map(str::to_string);
        if let Some(orphan) = v["orphanDependents"].as_bool()
            && o.propagation.is_none()
        {
            o.propagation = Some(if orphan { "Orphan" } else { "Background" }.into());
        }
        if let Some(d) = v["dryRun"].as_array() {
            o.dry_run = d.iter().any(|x| x == "All");
        }
    }
    if let Some(p) = ctx.query.non_empty("propagationPolicy") {
        o.propagation = Some(p.to_string());
    }
    if let Some(g) = ctx.query.non_empty("gracePeriodSeconds") {
        o.grace =
            Some(g.parse().map_err(|_| {
                ApiError::bad_request(format!("invalid gracePeriodSeconds: {g:?}"))
            })?);
    }
    o.dry_run |= ctx.dry_run()?;
    if let Some(p) = &o.propagation
        && !matches!(p.as_str(), "Orphan" | "Foreground" | "Background")
    {
        return Err(ApiError::invalid_kind(
            "DeleteOptions.meta.k8s.io",
            "meta.k8s.io",
            "DeleteOptions",
            "",
            &[FieldError::not_supported(
                "propagationPolicy",
                json!(p),
                &["Foreground", "Background", "Orphan"],
            )],
        ));
    }
    Ok(o)
}

pub(crate) enum Deleted {
    /// Gone from storage; the last state.
    Now(Value),
    /// Still present with `deletionTimestamp` (finalizers or a grace period pending).
    Pending(Value),
    /// A stored object that does not decode as its kind (written before writes were
    /// type-checked, or by something else): removed at once, with its UID.
    Corrupt(String),
}

pub(crate) async fn delete_one(
    server: &ApiServer,
    info: &ResourceInfo,
    key: &str,
    name: &str,
    opts: &DeleteOptions,
) -> Result<Deleted, ApiError> {
    let strategy = crate::strategy::of(info);
    strategy.check_delete(info, name)?;
    for _ in 0..8 {
        let cur = server
            .state
            .backend
            .get(key)
            .await?
            .ok_or_else(|| ApiError::not_found(info, name))?;
        let Some(obj) = decode_stored(&cur).filter(|o| super::read::check_stored(o).is_ok()) else {
            // It cannot be decoded, so neither its finalizers nor its grace period can be
            // honoured: deleting it is the way out (upstream's unsafe deletion of corrupt
            // objects).
            if opts.dry_run {
                return Ok(Deleted::Corrupt(String::new()));
            }
            return match server
                .state
                .backend
                .delete(key, Some(cur.mod_revision))
                .await
            {
                Ok(_) => {
                    tracing::warn!(%key, "deleted a stored object that does not decode");
                    let uid = serde_json::from_slice::<Value>(&cur.value)
                        .ok()
                        .and_then(|v| {
                            krust_api::meta::get_str(&v, &["metadata", "uid"]).map(str::to_string)
                        })
                        .unwrap_or_default();
                    Ok(Deleted::Corrupt(uid))
                }
                Err(StoreError::Conflict { .. }) => continue,
                Err(StoreError::NotFound(_)) => Err(ApiError::not_found(info, name)),
                Err(e) => Err(e.into()),
            };
        };
        if let Some(u) = &opts.uid
            && u != uid(&obj)
        {
            return Err(ApiError::conflict_because(
                info,
                name,
                &format!(
                    "Precondition failed: UID in precondition: {u}, UID in object meta: {}",
                    uid(&obj)
                ),
            ));
        }
        if let Some(rv) = &opts.resource_version
            && *rv != cur.mod_revision.to_string()
        {
            return Err(ApiError::conflict_because(
                info,
                name,
                &format!(
                    "Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {}",
                    cur.mod_revision
                ),
            ));
        }
        let mut fins = finalizers(&obj);
        match opts.propagation.as_deref() {
            Some("Orphan") => {
                fins.retain(|f| f != "foregroundDeletion");
                if !fins.iter().any(|f| f == "orphan") {
                    fins.push("orphan".into());
                }
            }
            Some("Foreground") => {
                fins.retain(|f| f != "orphan");
                if !fins.iter().any(|f| f == "foregroundDeletion") {
                    fins.push("foregroundDeletion".into());
                }
            }
            Some("Background") if is_deleting(&obj) => {
                fins.retain(|f| f != "orphan" && f != "foregroundDeletion");
            }
            _ => {}
        }
        let grace = strategy.deletion_grace(&obj, opts.grace);
        let pending = strategy.pending_finalization(&obj);
        if !fins.is_empty() || grace > 0 || pending {
            let mut new = obj.clone();
            if let Some(meta) = new.get_mut("metadata").and_then(Value::as_object_mut) {
                if meta.get("deletionTimestamp").is_none_or(|v| v.is_null()) || grace > 0 {
                    meta.insert(
                        "deletionTimestamp".into(),
                        json!(krust_api::time::rfc3339_after(grace)),
                    );
                }
                meta.insert("deletionGracePeriodSeconds".into(), json!(grace));
                if fins.is_empty() {
                    meta.remove("finalizers");
                } else {
                    meta.insert("finalizers".into(), json!(fins));
                }
            }
            strategy.mark_deleting(&mut new);
            if is_deleting(&obj) && crate::object::semantically_equal(&new, &obj) {
                return Ok(Deleted::Pending(obj));
            }
            if opts.dry_run {
                return Ok(Deleted::Pending(new));
            }
            match server
                .state
                .backend
                .update(
                    key,
                    crate::object::encode_for_storage(&new)?,
                    cur.mod_revision,
                )
                .await
            {
                Ok(kv) => {
                    krust_api::meta::set_path(
                        &mut new,
                        &["metadata", "resourceVersion"],
                        json!(kv.mod_revision.to_string()),
                    );
                    return Ok(Deleted::Pending(new));
                }
                Err(StoreError::Conflict { .. }) => continue,
                Err(StoreError::NotFound(_)) => return Err(ApiError::not_found(info, name)),
                Err(e) => return Err(e.into()),
            }
        }
        if opts.dry_run {
            return Ok(Deleted::Now(obj));
        }
        match server
            .state
            .backend
            .delete(key, Some(cur.mod_revision))
            .await
        {
            Ok(kv) => {
                strategy.release(&server.state.allocator, &obj);
                let mut last = obj;
                krust_api::meta::set_path(
                    &mut last,
                    &["metadata", "resourceVersion"],
                    json!(kv.mod_revision.to_string()),
                );
                return Ok(Deleted::Now(last));
            }
            Err(StoreError::Conflict { .. }) => continue,
            Err(StoreError::NotFound(_)) => return Err(ApiError::not_found(info, name)),
            Err(e) => return Err(e.into()),
        }
    }
    Err(ApiError::conflict(info, name))
}

/// Deletes one object with default options (used by controllers inside the API server).
pub(crate) async fn delete_object(
    server: &ApiServer,
    info: &ResourceInfo,
    key: &str,
    name: &str,
) -> Result<(), ApiError> {
    delete_one(server, info, key, name, &DeleteOptions::default())
        .await
        .map(|_| ())
}

pub(crate) async fn delete(
    server: &ApiServer,
    ctx: &mut Ctx,
    body: &[u8],
) -> Result<Response<ResponseBody>, ApiError> {
    let opts = parse_options(ctx, body)?;
    let info = ctx.info.clone();
    let name = ctx.name().to_string();
    match delete_one(server, &info, &ctx.key(), &name, &opts).await? {
        Deleted::Pending(obj) => Ok(response::object(
            200,
            &render(&info, &obj),
            ctx.output,
            &ctx.warnings,
        )),
        Deleted::Now(obj) => {
            let body = if crate::strategy::of(&info).delete_returns_object() {
                render(&info, &obj)
            } else {
                success_status(&info, &name, uid(&obj))
            };
            Ok(response::object(200, &body, ctx.output, &ctx.warnings))
        }
        Deleted::Corrupt(uid) => Ok(response::object(
            200,
            &success_status(&info, &name, &uid),
            ctx.output,
            &ctx.warnings,
        )),
    }
}

pub(crate) async fn delete_collection(
    server: &ApiServer,
    ctx: &mut Ctx,
    body: &[u8],
) -> Result<Response<ResponseBody>, ApiError> {
    let opts = parse_options(ctx, body)?;
    parse_rv(ctx.query.get("resourceVersion"))?;
    let filter = Filter::from_ctx(ctx)?;
    let mut list_ctx_query = ctx.query.clone();
    list_ctx_query.set("limit", "");
    list_ctx_query.set("continue", "");
    let listed = {
        let saved = std::mem::replace(&mut ctx.query, list_ctx_query);
        let r = list_objects(server, ctx, &filter).await;
        ctx.query = saved;
        r?
    };
    let info = ctx.info.clone();
    let mut items = Vec::new();
    for obj in &listed.items {
        let name = krust_api::meta::name(obj).to_string();
        let ns = krust_api::meta::namespace(obj);
        let key = info.key(if ns.is_empty() { None } else { Some(ns) }, &name);
        match delete_one(server, &info, &key, &name, &opts).await {
            Ok(Deleted::Now(o) | Deleted::Pending(o)) => items.push(render(&info, &o)),
            Ok(Deleted::Corrupt(_)) => {}
            Err(e) if e.code == 404 => {}
            Err(e) => return Err(e),
        }
    }
    let body = json!({
        "kind": info.list_kind,
        "apiVersion": info.api_version(),
        "metadata": {"resourceVersion": listed.revision.to_string()},
        "items": items,
    });
    Ok(response::object(200, &body, ctx.output, &ctx.warnings))
}
