//! `pods/binding`: how the scheduler assigns a pod to a node (sets `spec.nodeName` and the
//! `PodScheduled` condition), refusing pods already bound or being deleted.

use super::write::load;
use super::{Ctx, decode_object};
use crate::ApiServer;
use crate::response::{self, ResponseBody};
use crate::status::ApiError;
use http::Response;
use krust_store::StoreError;
use serde_json::{Value, json};

pub(crate) async fn create(
    server: &ApiServer,
    ctx: &mut Ctx,
    body: &[u8],
    content_type: Option<&str>,
) -> Result<Response<ResponseBody>, ApiError> {
    let format = super::object_format(content_type)?;
    let binding = decode_object(body, format)?;
    let info = ctx.info.clone();
    let name = ctx.name().to_string();
    let node = binding["target"]["name"].as_str().unwrap_or("").to_string();
    if node.is_empty() {
        return Err(ApiError::invalid_kind(
            "Binding",
            "",
            "Binding",
            &name,
            &[krust_api::FieldError::required("target.name", "")],
        ));
    }
    let dry_run = ctx.dry_run()?;
    for _ in 0..8 {
        let (cur, old) = load(server, &info, &ctx.key(), &name).await?;
        if krust_api::meta::is_deleting(&old) {
            return Err(ApiError::conflict_because(
                &info,
                &name,
                &format!("pod {name} is being deleted, cannot be assigned to a host"),
            ));
        }
        if let Some(existing) = old["spec"]["nodeName"].as_str().filter(|n| !n.is_empty()) {
            return Err(ApiError::conflict_because(
                &info,
                &name,
                &format!("pod {name} is already assigned to node \"{existing}\""),
            ));
        }
        let mut new = old.clone();
        krust_api::meta::set_path(&mut new, &["spec", "nodeName"], json!(node));
        let now = krust_api::time::now_rfc3339();
        let cond = json!({"type": "PodScheduled", "status": "True", "lastProbeTime": null, "lastTransitionTime": now});
        let status = new
            .as_object_mut()
            .map(|m| m.entry("status").or_insert_with(|| json!({})));
        if let Some(status) = status.and_then(Value::as_object_mut) {
            let conds = status.entry("conditions").or_insert_with(|| json!([]));
            if let Some(list) = conds.as_array_mut() {
                list.retain(|c| c["type"] != "PodScheduled");
                list.push(cond);
            }
        }
        if dry_run {
            break;
        }
        match server
            .state
            .backend
            .update(
                &cur.key,
                crate::object::encode_for_storage(&new)?,
                cur.mod_revision,
            )
            .await
        {
            Ok(_) => break,
            Err(StoreError::Conflict { .. }) => continue,
            Err(StoreError::NotFound(_)) => return Err(ApiError::not_found(&info, &name)),
            Err(e) => return Err(e.into()),
        }
    }
    let status = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201});
    Ok(response::json(201, &status, &ctx.warnings))
}
