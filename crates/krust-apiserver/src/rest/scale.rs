//! The `scale` subresource: an `autoscaling/v1` Scale view over a replica count (GET, PUT with
//! an optional resourceVersion precondition, and PATCH through `write::patch`).

use super::write::{Attempt, Mode, commit_update, load};
use super::{Ctx, decode_object};
use crate::ApiServer;
use crate::response::{self, ResponseBody};
use crate::status::ApiError;
use http::Response;
use krust_api::meta::{get_dotted, get_path, resource_version, set_dotted};
use krust_api::selector::LabelSelector;
use krust_api::{FieldError, ResourceInfo};
use serde_json::{Value, json};

/// The Scale of a stored object.
pub(crate) fn scale_view(info: &ResourceInfo, obj: &Value) -> Value {
    let paths = info.subresources.scale.clone();
    let (spec_path, status_path, selector_path) = match &paths {
        Some(p) => (
            p.spec_replicas.as_str(),
            p.status_replicas.as_str(),
            p.label_selector.clone(),
        ),
        None => (".spec.replicas", ".status.replicas", None),
    };
    let selector = if info.group == "apps" || info.group.is_empty() {
        LabelSelector::from_structured(get_path(obj, &["spec", "selector"]))
            .map(|s| {
                if s.nothing {
                    String::new()
                } else {
                    s.to_string()
                }
            })
            .unwrap_or_default()
    } else {
        selector_path
            .and_then(|p| {
                get_dotted(obj, &p)
                    .and_then(Value::as_str)
                    .map(str::to_string)
            })
            .unwrap_or_default()
    };
    let meta = &obj["metadata"];
    let mut m = json!({
        "name": meta["name"],
        "uid": meta["uid"],
        "resourceVersion": meta["resourceVersion"],
        "creationTimestamp": meta["creationTimestamp"],
    });
    if let Some(ns) = meta.get("namespace") {
        m["namespace"] = ns.clone();
    }
    let mut status =
        json!({"replicas": get_dotted(obj, status_path).and_then(Value::as_i64).unwrap_or(0)});
    if !selector.is_empty() {
        status["selector"] = json!(selector);
    }
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": m,
        "spec": {"replicas": get_dotted(obj, spec_path).and_then(Value::as_i64).unwrap_or(0)},
        "status": status,
    })
}

/// The stored object with the replica count of a Scale written into it.
pub(crate) fn apply_scale(
    info: &ResourceInfo,
    old: &Value,
    scale: &Value,
) -> Result<Value, ApiError> {
    let name = krust_api::meta::name(old);
    let replicas = match scale.get("spec").and_then(|s| s.get("replicas")) {
        None | Some(Value::Null) => 0,
        Some(v) => v.as_i64().ok_or_else(|| {
            ApiError::bad_request(format!(
                "Scale.autoscaling \"{name}\" is invalid: spec.replicas must be an integer"
            ))
        })?,
    };
    if replicas < 0 {
        return Err(ApiError::invalid_kind(
            "Scale.autoscaling",
            "autoscaling",
            "Scale",
            name,
            &[FieldError::invalid(
                "spec.replicas",
                json!(replicas),
                "must be greater than or equal to 0",
            )],
        ));
    }
    let path = info
        .subresources
        .scale
        .as_ref()
        .map(|p| p.spec_replicas.clone())
        .unwrap_or_else(|| ".spec.replicas".into());
    let mut new = old.clone();
    set_dotted(&mut new, &path, json!(replicas));
    Ok(new)
}

pub(crate) async fn get(
    server: &ApiServer,
    ctx: &mut Ctx,
) -> Result<Response<ResponseBody>, ApiError> {
    let (_, obj) = load(server, &ctx.info, &ctx.key(), ctx.name()).await?;
    Ok(response::object(
        200,
        &scale_view(&ctx.info, &obj),
        ctx.output,
        &ctx.warnings,
    ))
}

pub(crate) async fn update(
    server: &ApiServer,
    ctx: &mut Ctx,
    body: &[u8],
    content_type: Option<&str>,
) -> Result<Response<ResponseBody>, ApiError> {
    let format = super::object_format(content_type)?;
    let dry_run = ctx.dry_run()?;
    let scale = decode_object(body, format)?;
    let info = ctx.info.clone();
    let name = ctx.name().to_string();
    let wanted_rv = resource_version(&scale).to_string();
    for _ in 0..8 {
        let (cur, old) = load(server, &info, &ctx.key(), &name).await?;
        if !wanted_rv.is_empty() && wanted_rv != cur.mod_revision.to_string() {
            return Err(ApiError::conflict(&info, &name));
        }
        let new = apply_scale(&info, &old, &scale)?;
        let opts = super::write::WriteOpts {
            dry_run,
            manager: Some(&ctx.manager),
            subresource: Some("scale"),
            user: Some(&ctx.identity),
        };
        match commit_update(server, &info, &cur, &old, new, Mode::Main, &opts).await? {
            Attempt::Done(stored) => {
                return Ok(response::object(
                    200,
                    &scale_view(&info, &stored),
                    ctx.output,
                    &ctx.warnings,
                ));
            }
            Attempt::Conflict if wanted_rv.is_empty() => continue,
            Attempt::Conflict => return Err(ApiError::conflict(&info, &name)),
        }
    }
    Err(ApiError::conflict(&info, &name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use krust_api::Registry;

    #[test]
    fn view_and_apply() {
        let r = Registry::builtin();
        let d = r.get("apps", "v1", "deployments").unwrap();
        let obj = json!({"metadata": {"name": "web", "namespace": "default", "resourceVersion": "5"},
            "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "nginx"}}}, "status": {"replicas": 2}});
        let s = scale_view(&d, &obj);
        assert_eq!(s["spec"]["replicas"], 3);
        assert_eq!(s["status"]["selector"], "app=nginx");
        assert_eq!(s["status"]["replicas"], 2);
        let new = apply_scale(&d, &obj, &json!({"spec": {"replicas": 5}})).unwrap();
        assert_eq!(new["spec"]["replicas"], 5);
        let e = apply_scale(&d, &obj, &json!({"spec": {"replicas": -1}})).unwrap_err();
        assert_eq!(e.code, 422);
    }
}
