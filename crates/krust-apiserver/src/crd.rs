//! CustomResourceDefinitions: validation of the CRD itself, and the controller that turns the
//! stored CRDs into served resources (registry entries with their schemas and printer
//! columns), keeps their `NamesAccepted`/`Established` conditions, and on deletion removes every
//! custom object before letting the CRD go.

use crate::ApiServer;
use crate::status::ApiError;
use crate::watch_cache::{WatchFrom, decode_stored};
use krust_api::registry::{CustomSpec, PrinterColumn, ResourceInfo, ScalePaths, Subresources};
use krust_api::{FieldError, Registry};
use krust_store::StoreError;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

/// The finalizer that keeps a CRD until its objects are gone.
pub const CLEANUP_FINALIZER: &str = "customresourcecleanup.apiextensions.k8s.io";

const CRDS: &str = "apiextensions.k8s.io/customresourcedefinitions";
const CRD_PREFIX: &str = "/registry/apiextensions.k8s.io/customresourcedefinitions/";

fn s<'a>(v: &'a Value, k: &str) -> &'a str {
    v.get(k).and_then(Value::as_str).unwrap_or("")
}

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// The names a CRD declares, with upstream's defaults (singular, listKind).
fn names(crd: &Value) -> Value {
    let n = &crd["spec"]["names"];
    let kind = s(n, "kind");
    let mut out = n.clone();
    if s(n, "singular").is_empty() {
        out["singular"] = json!(kind.to_lowercase());
    }
    if s(n, "listKind").is_empty() {
        out["listKind"] = json!(format!("{kind}List"));
    }
    out
}

/// The registry entries a CRD contributes, one per served version.
pub fn infos_of(crd: &Value) -> Vec<ResourceInfo> {
    let spec = &crd["spec"];
    let group = s(spec, "group").to_string();
    let n = names(crd);
    let (kind, plural) = (s(&n, "kind").to_string(), s(&n, "plural").to_string());
    if group.is_empty() || kind.is_empty() || plural.is_empty() {
        return Vec::new();
    }
    let versions = spec["versions"].as_array().cloned().unwrap_or_default();
    let Some(storage) = versions
        .iter()
        .find(|v| v["storage"].as_bool() == Some(true))
        .map(|v| s(v, "name").to_string())
    else {
        return Vec::new();
    };
    let crd_name = krust_api::meta::name(crd).to_string();
    versions
        .iter()
        .filter(|v| v["served"].as_bool() != Some(false))
        .map(|v| {
            let version = s(v, "name").to_string();
            let sub = &v["subresources"];
            let scale = sub
                .get("scale")
                .filter(|x| x.is_object())
                .map(|sc| ScalePaths {
                    spec_replicas: s(sc, "specReplicasPath").to_string(),
                    status_replicas: s(sc, "statusReplicasPath").to_string(),
                    label_selector: sc
                        .get("labelSelectorPath")
                        .and_then(Value::as_str)
                        .map(str::to_string),
                });
            let printer_columns = v["additionalPrinterColumns"]
                .as_array()
                .map(|cols| {
                    cols.iter()
                        .map(|c| PrinterColumn {
                            name: s(c, "name").to_string(),
                            type_: s(c, "type").to_string(),
                            format: s(c, "format").to_string(),
                            description: s(c, "description").to_string(),
                            priority: c["priority"].as_i64().unwrap_or(0) as i32,
                            json_path: s(c, "jsonPath").to_string(),
                        })
                        .collect()
                })
                .unwrap_or_default();
            let deprecation_warning = (v["deprecated"].as_bool() == Some(true)).then(|| {
                v["deprecationWarning"]
                    .as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| format!("{group}/{version} {kind} is deprecated"))
            });
            ResourceInfo {
                group: group.clone(),
                version,
                storage_version: storage.clone(),
                kind: kind.clone(),
                list_kind: s(&n, "listKind").to_string(),
                plural: plural.clone(),
                singular: s(&n, "singular").to_string(),
                namespaced: s(spec, "scope") != "Cluster",
                short_names: strings(n.get("shortNames")),
                categories: strings(n.get("categories")),
                subresources: Subresources {
                    status: sub.get("status").is_some_and(Value::is_object),
                    scale,
                    extra: Vec::new(),
                },
                verbs: [
                    "delete",
                    "deletecollection",
                    "get",
                    "list",
                    "patch",
                    "create",
                    "update",
                    "watch",
                ]
                .iter()
                .map(|x| x.to_string())
                .collect(),
                deprecation_warning,
                tracks_generation: true,
                custom: Some(Arc::new(CustomSpec::new(
                    crd_name.clone(),
                    v["schema"].get("openAPIV3Schema").cloned(),
                    printer_columns,
                ))),
            }
        })
        .collect()
}

/// Validates a CRD on create (`old` None) or update, as upstream's CRD validation does for
/// the parts krust acts on.
pub fn validate_crd(crd: &Value, old: Option<&Value>) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let spec = &crd["spec"];
    let group = s(spec, "group");
    let names = &spec["names"];
    let plural = s(names, "plural");
    let kind = s(names, "kind");
    if group.is_empty() {
        errs.push(FieldError::required("spec.group", ""));
    } else if !group.contains('.') {
        errs.push(FieldError::invalid(
            "spec.group",
            json!(group),
            "should be a domain with at least one dot",
        ));
    }
    if plural.is_empty() {
        errs.push(FieldError::required("spec.names.plural", ""));
    } else {
        for e in krust_api::validation_names::dns1035_label(plural) {
            errs.push(FieldError::invalid("spec.names.plural", json!(plural), e));
        }
    }
    if kind.is_empty() {
        errs.push(FieldError::required("spec.names.kind", ""));
    }
    let name = krust_api::meta::name(crd);
    if !plural.is_empty() && !group.is_empty() && name != format!("{plural}.{group}") {
        errs.push(FieldError::invalid(
            "metadata.name",
            json!(name),
            "must be spec.names.plural+\".\"+spec.group",
        ));
    }
    match s(spec, "scope") {
        "Namespaced" | "Cluster" => {}
        "" => errs.push(FieldError::required("spec.scope", "")),
        other => errs.push(FieldError::not_supported(
            "spec.scope",
            json!(other),
            &["Cluster", "Namespaced"],
        )),
    }
    let versions = spec["versions"].as_array().cloned().unwrap_or_default();
    if versions.is_empty() {
        errs.push(FieldError::invalid(
            "spec.versions",
            json!([]),
            "must have exactly one version marked as storage version",
        ));
    } else {
        let storage = versions
            .iter()
            .filter(|v| v["storage"].as_bool() == Some(true))
            .count();
        if storage != 1 {
            errs.push(FieldError::invalid(
                "spec.versions",
                spec["versions"].clone(),
                "must have exactly one version marked as storage version",
            ));
        }
        let mut seen = std::collections::HashSet::new();
        for (i, v) in versions.iter().enumerate() {
            let vn = s(v, "name");
            if vn.is_empty() {
                errs.push(FieldError::required(format!("spec.versions[{i}].name"), ""));
            } else if !seen.insert(vn.to_string()) {
                errs.push(FieldError::duplicate(
                    format!("spec.versions[{i}].name"),
                    json!(vn),
                ));
            }
            if let Some(schema) = v["schema"].get("openAPIV3Schema") {
                errs.extend(krust_api::structural::validate_schema(
                    schema,
                    &format!("spec.versions[{i}].schema.openAPIV3Schema"),
                ));
            }
        }
    }
    if let Some(old) = old {
        if s(&old["spec"], "scope") != s(spec, "scope") {
            errs.push(FieldError::invalid(
                "spec.scope",
                json!(s(spec, "scope")),
                "field is immutable",
            ));
        }
        if s(&old["spec"], "group") != group {
            errs.push(FieldError::invalid(
                "spec.group",
                json!(group),
                "field is immutable",
            ));
        }
    }
    errs
}

/// Starts the controller that serves CRDs.
pub(crate) fn spawn(server: ApiServer) {
    tokio::spawn(async move {
        loop {
            let watch = server.state.cache.watch(CRDS, CRD_PREFIX, WatchFrom::Now);
            let Ok(mut watch) = watch else {
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            };
            reconcile(&server).await;
            loop {
                let pending = has_pending_deletions(&server);
                let next = if pending {
                    tokio::time::timeout(Duration::from_millis(500), watch.rx.recv()).await
                } else {
                    Ok(watch.rx.recv().await)
                };
                match next {
                    Ok(Some(_)) => {
                        while watch.rx.try_recv().is_ok() {}
                        reconcile(&server).await;
                    }
                    Ok(None) => break,
                    Err(_) => reconcile(&server).await,
                }
            }
        }
    });
}

fn has_pending_deletions(server: &ApiServer) -> bool {
    let (crds, _) = server.state.cache.list(CRDS, CRD_PREFIX);
    crds.iter().any(|c| krust_api::meta::is_deleting(c))
}

/// Makes the registry, the CRDs' status and pending deletions match the stored CRDs.
pub(crate) async fn reconcile(server: &ApiServer) {
    let (crds, _) = server.state.cache.list(CRDS, CRD_PREFIX);
    let builtin = Registry::builtin();
    let mut registry = builtin.clone();
    let mut conflicts = std::collections::HashSet::new();
    for crd in &crds {
        let infos = infos_of(crd);
        let clash = infos
            .iter()
            .any(|i| builtin.storage_info(&i.group, &i.plural).is_some());
        if clash {
            conflicts.insert(krust_api::meta::name(crd).to_string());
            continue;
        }
        for info in infos {
            registry.insert(info);
        }
    }
    *server
        .state
        .registry
        .write()
        .unwrap_or_else(std::sync::PoisonError::into_inner) = registry;
    for crd in &crds {
        let name = krust_api::meta::name(crd).to_string();
        let result = if krust_api::meta::is_deleting(crd) {
            cleanup(server, crd).await
        } else {
            ensure_status(server, &name, conflicts.contains(&name)).await
        };
        if let Err(e) = result {
            tracing::debug!(crd = %name, error = %e, "reconciling a CRD");
        }
    }
    if let Err(e) = crate::apiservice::sync(server).await {
        tracing::debug!(error = %e, "syncing the local APIServices");
    }
}

fn condition(type_: &str, status: &str, reason: &str, message: &str, old: &Value) -> Value {
    let prev = old["status"]["conditions"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| s(c, "type") == type_));
    let time = match prev {
        Some(p) if s(p, "status") == status => p["lastTransitionTime"].clone(),
        _ => json!(krust_api::time::now_rfc3339()),
    };
    json!({"type": type_, "status": status, "reason": reason, "message": message, "lastTransitionTime": time})
}

async fn ensure_status(server: &ApiServer, name: &str, conflict: bool) -> Result<(), ApiError> {
    let key = format!("{CRD_PREFIX}{name}");
    let Some(kv) = server.state.backend.get(&key).await? else {
        return Ok(());
    };
    let Some(crd) = decode_stored(&kv) else {
        return Ok(());
    };
    let mut status = crd["status"].clone();
    if !status.is_object() {
        status = json!({});
    }
    let conditions = if conflict {
        vec![
            condition(
                "NamesAccepted",
                "False",
                "NameConflict",
                "the resource name is already served by a built-in API",
                &crd,
            ),
            condition(
                "Established",
                "False",
                "NotAccepted",
                "not all names are accepted",
                &crd,
            ),
        ]
    } else {
        vec![
            condition(
                "NamesAccepted",
                "True",
                "NoConflicts",
                "no conflicts found",
                &crd,
            ),
            condition(
                "Established",
                "True",
                "InitialNamesAccepted",
                "the initial names have been accepted",
                &crd,
            ),
        ]
    };
    status["conditions"] = json!(conditions);
    if !conflict {
        status["acceptedNames"] = names(&crd);
    }
    let mut stored = strings(status.get("storedVersions"));
    if let Some(v) = crd["spec"]["versions"]
        .as_array()
        .and_then(|vs| vs.iter().find(|v| v["storage"].as_bool() == Some(true)))
    {
        let v = s(v, "name").to_string();
        if !stored.contains(&v) {
            stored.push(v);
        }
    }
    status["storedVersions"] = json!(stored);
    if crd["status"] == status {
        return Ok(());
    }
    let mut new = crd.clone();
    new["status"] = status;
    match server
        .state
        .backend
        .update(
            &key,
            crate::object::encode_for_storage(&new)?,
            kv.mod_revision,
        )
        .await
    {
        Ok(_) | Err(StoreError::Conflict { .. }) | Err(StoreError::NotFound(_)) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Deletes a terminating CRD's objects, then lets the CRD go.
async fn cleanup(server: &ApiServer, crd: &Value) -> Result<(), ApiError> {
    let name = krust_api::meta::name(crd).to_string();
    let spec = &crd["spec"];
    let plural = s(&spec["names"], "plural");
    let prefix = format!("/registry/{}/{}/", s(spec, "group"), plural);
    let infos = infos_of(crd);
    let remaining = server
        .state
        .backend
        .range(krust_store::RangeRequest {
            prefix,
            ..Default::default()
        })
        .await?;
    if let Some(info) = infos.iter().find(|i| i.version == i.storage_version) {
        for kv in &remaining.kvs {
            let Some(obj) = decode_stored(kv) else {
                continue;
            };
            let obj_name = krust_api::meta::name(&obj).to_string();
            if let Err(e) = crate::rest::delete_object(server, info, &kv.key, &obj_name).await
                && e.code != 404
            {
                tracing::debug!(object = %kv.key, error = %e, "deleting a custom object");
            }
        }
    }
    let still = server
        .state
        .backend
        .range(krust_store::RangeRequest {
            prefix: format!("/registry/{}/{}/", s(spec, "group"), plural),
            limit: 1,
            ..Default::default()
        })
        .await?;
    if !still.kvs.is_empty() {
        return Ok(());
    }
    let key = format!("{CRD_PREFIX}{name}");
    let Some(kv) = server.state.backend.get(&key).await? else {
        return Ok(());
    };
    let Some(mut cur) = decode_stored(&kv) else {
        return Ok(());
    };
    let mut fins = krust_api::meta::finalizers(&cur);
    fins.retain(|f| f != CLEANUP_FINALIZER);
    let result = if fins.is_empty() {
        server
            .state
            .backend
            .delete(&key, Some(kv.mod_revision))
            .await
            .map(|_| ())
    } else {
        krust_api::meta::set_path(&mut cur, &["metadata", "finalizers"], json!(fins));
        server
            .state
            .backend
            .update(
                &key,
                crate::object::encode_for_storage(&cur)?,
                kv.mod_revision,
            )
            .await
            .map(|_| ())
    };
    match result {
        Ok(()) | Err(StoreError::Conflict { .. }) | Err(StoreError::NotFound(_)) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn crontab() -> Value {
        json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": "crontabs.stable.example.com"},
            "spec": {"group": "stable.example.com", "scope": "Namespaced",
                "names": {"plural": "crontabs", "kind": "CronTab", "shortNames": ["ct"]},
                "versions": [
                    {"name": "v1", "served": true, "storage": true,
                     "schema": {"openAPIV3Schema": {"type": "object"}},
                     "subresources": {"status": {}, "scale": {"specReplicasPath": ".spec.replicas", "statusReplicasPath": ".status.replicas", "labelSelectorPath": ".status.labelSelector"}},
                     "additionalPrinterColumns": [{"name": "Spec", "type": "string", "jsonPath": ".spec.cronSpec"}]},
                    {"name": "v1beta1", "served": true, "storage": false}]}})
    }

    #[test]
    fn infos_and_validation() {
        let infos = infos_of(&crontab());
        assert_eq!(infos.len(), 2);
        let v1 = &infos[0];
        assert_eq!(v1.singular, "crontab");
        assert_eq!(v1.list_kind, "CronTabList");
        assert!(v1.subresources.status);
        assert_eq!(
            v1.subresources.scale.as_ref().unwrap().spec_replicas,
            ".spec.replicas"
        );
        assert_eq!(infos[1].storage_version, "v1");
        assert_eq!(
            v1.custom.as_ref().unwrap().printer_columns[0].json_path,
            ".spec.cronSpec"
        );
        assert!(validate_crd(&crontab(), None).is_empty());
        let mut bad = crontab();
        bad["metadata"]["name"] = json!("wrong");
        bad["spec"]["versions"][1]["storage"] = json!(true);
        let errs = validate_crd(&bad, None);
        assert!(errs.iter().any(|e| e.field == "metadata.name"));
        assert!(errs.iter().any(|e| e.field == "spec.versions"));
    }
}
