//! `pods/eviction`: graceful deletion that respects PodDisruptionBudgets (what `kubectl drain`
//! uses): 429 when a budget allows no disruption, else the budget's allowance is spent and the
//! pod deleted.

use super::delete::{DeleteOptions, delete_one};
use super::write::load;
use super::{Ctx, decode_object};
use crate::ApiServer;
use crate::response::{self, ResponseBody};
use crate::status::ApiError;
use crate::watch_cache::decode_stored;
use http::Response;
use krust_api::selector::LabelSelector;
use krust_store::{RangeRequest, StoreError};
use serde_json::{Value, json};

fn is_ready(pod: &Value) -> bool {
    pod["status"]["conditions"].as_array().is_some_and(|cs| {
        cs.iter()
            .any(|c| c["type"] == "Ready" && c["status"] == "True")
    })
}

fn too_many_requests(message: String, causes: Value) -> ApiError {
    let mut e = ApiError::new(
        429,
        "TooManyRequests",
        "Cannot evict pod as it would violate the pod's disruption budget.",
    );
    e.details = Some(json!({"causes": [{"reason": "DisruptionBudget", "message": message}]}));
    if !causes.is_null() {
        e.details = Some(causes);
    }
    e
}

pub(crate) async fn create(
    server: &ApiServer,
    ctx: &mut Ctx,
    body: &[u8],
    content_type: Option<&str>,
) -> Result<Response<ResponseBody>, ApiError> {
    let format = super::object_format(content_type)?;
    let eviction = decode_object(body, format)?;
    let info = ctx.info.clone();
    let name = ctx.name().to_string();
    let ns = ctx.namespace().unwrap_or("").to_string();
    let (_, pod) = load(server, &info, &ctx.key(), &name).await?;
    let terminal = matches!(
        pod["status"]["phase"].as_str(),
        Some("Succeeded" | "Failed")
    );
    let dry_run = ctx.dry_run()?;
    if !terminal && !krust_api::meta::is_deleting(&pod) && is_ready(&pod) {
        // The budgets selecting this pod.
        let prefix = format!("/registry/policy/poddisruptionbudgets/{ns}/");
        let range = server
            .state
            .backend
            .range(RangeRequest {
                prefix,
                ..Default::default()
            })
            .await?;
        let mut matching = Vec::new();
        for kv in &range.kvs {
            let Some(pdb) = decode_stored(kv) else {
                continue;
            };
            let Ok(sel) = LabelSelector::from_structured(pdb["spec"].get("selector")) else {
                continue;
            };
            if !sel.is_empty() && sel.matches_object(&pod) {
                matching.push((kv.clone(), pdb));
            }
        }
        if matching.len() > 1 {
            return Err(ApiError::internal(
                "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.",
            ));
        }
        if let Some((kv, pdb)) = matching.pop() {
            let pdb_name = krust_api::meta::name(&pdb).to_string();
            let allowed = pdb["status"]["disruptionsAllowed"].as_i64().unwrap_or(0);
            if allowed <= 0 {
                let desired = pdb["status"]["desiredHealthy"].as_i64().unwrap_or(0);
                let healthy = pdb["status"]["currentHealthy"].as_i64().unwrap_or(0);
                return Err(too_many_requests(
                    format!(
                        "The disruption budget {pdb_name} needs {desired} healthy pods and has {healthy} currently"
                    ),
                    Value::Null,
                ));
            }
            if !dry_run {
                let mut new = pdb.clone();
                krust_api::meta::set_path(
                    &mut new,
                    &["status", "disruptionsAllowed"],
                    json!(allowed - 1),
                );
                krust_api::meta::set_path(
                    &mut new,
                    &["status", "disruptedPods", &name],
                    json!(krust_api::time::now_rfc3339()),
                );
                match server
                    .state
                    .backend
                    .update(
                        &kv.key,
                        crate::object::encode_for_storage(&new)?,
                        kv.mod_revision,
                    )
                    .await
                {
                    Ok(_) => {}
                    Err(StoreError::Conflict { .. }) => {
                        return Err(too_many_requests(
                            format!(
                                "the disruption budget {pdb_name} was modified; retry the eviction"
                            ),
                            Value::Null,
                        ));
                    }
                    Err(e) => return Err(e.into()),
                }
            }
        }
    }
    let mut opts = DeleteOptions {
        dry_run,
        ..Default::default()
    };
    let delete_options = &eviction["deleteOptions"];
    opts.grace = delete_options["gracePeriodSeconds"].as_i64();
    opts.uid = delete_options["preconditions"]["uid"]
        .as_str()
        .map(str::to_string);
    opts.resource_version = delete_options["preconditions"]["resourceVersion"]
        .as_str()
        .map(str::to_string);
    delete_one(server, &info, &ctx.key(), &name, &opts).await?;
    let status = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201});
    Ok(response::json(201, &status, &ctx.warnings))
}
