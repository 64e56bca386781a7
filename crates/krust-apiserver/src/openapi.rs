//! OpenAPI v3 documents: the root index (`/openapi/v3`, with a content hash per group-version
//! document) and per group-version documents listing every path and operation, each tagged
//! with `x-kubernetes-group-version-kind`, PATCH operations advertising `fieldValidation`
//! (which makes kubectl validate on the server instead of downloading schemas).

use krust_api::{Registry, ResourceInfo};
use serde_json::{Map, Value, json};

fn gv_path(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

fn query_param(name: &str, description: &str) -> Value {
    json!({"name": name, "in": "query", "description": description, "schema": {"type": "string"}, "uniqueItems": true})
}

fn operation(info: &ResourceInfo, action: &str, id: &str, extra_params: Vec<Value>, body_types: &[&str]) -> Value {
    let mut op = json!({
        "operationId": id,
        "description": format!("{action} {}", info.kind),
        "tags": [info.api_version()],
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": {"group": info.group, "version": info.version, "kind": info.kind},
        "parameters": extra_params,
        "responses": {"200": {"description": "OK"}, "401": {"description": "Unauthorized"}},
    });
    if !body_types.is_empty() {
        let content: Map<String, Value> = body_types
            .iter()
            .map(|t| (t.to_string(), json!({"schema": {"type": "object"}})))
            .collect();
        op["requestBody"] = json!({"content": content, "required": true});
    }
    op
}

fn write_params() -> Vec<Value> {
    vec![
        query_param("dryRun", "When present, indicates that modifications should not be persisted."),
        query_param("fieldManager", "fieldManager is a name associated with the actor or entity that is making these changes."),
        query_param("fieldValidation", "fieldValidation instructs the server on how to handle objects in the request containing unknown or duplicate fields."),
    ]
}

fn paths_for(info: &ResourceInfo) -> Vec<(String, Value)> {
    let prefix = format!("/{}", gv_path(&info.group, &info.version));
    let collection = if info.namespaced {
        format!("{prefix}/namespaces/{{namespace}}/{}", info.plural)
    } else {
        format!("{prefix}/{}", info.plural)
    };
    let item = format!("{collection}/{{name}}");
    let id = format!("{}{}", info.version, info.kind);
    let mut patch_params = write_params();
    patch_params.push(query_param("force", "Force is going to \"force\" Apply requests."));
    let patch_types = ["application/json-patch+json", "application/merge-patch+json", "application/apply-patch+yaml"];
    let mut out = vec![
        (
            collection.clone(),
            json!({
                "get": operation(info, "list", &format!("list{id}"), vec![query_param("labelSelector", ""), query_param("fieldSelector", "")], &[]),
                "post": operation(info, "post", &format!("create{id}"), write_params(), &["*/*"]),
            }),
        ),
        (
            item.clone(),
            json!({
                "get": operation(info, "get", &format!("read{id}"), vec![], &[]),
                "put": operation(info, "put", &format!("replace{id}"), write_params(), &["*/*"]),
                "patch": operation(info, "patch", &format!("patch{id}"), patch_params.clone(), &patch_types),
                "delete": operation(info, "delete", &format!("delete{id}"), vec![query_param("dryRun", "")], &[]),
            }),
        ),
    ];
    if info.subresources.status {
        out.push((
            format!("{item}/status"),
            json!({"patch": operation(info, "patch", &format!("patch{id}Status"), patch_params.clone(), &patch_types)}),
        ));
    }
    out
}

/// One group-version document, or `None` when nothing is served there. `gv` is `api/v1` or
/// `apis/<group>/<version>`.
pub fn v3_group_version(reg: &Registry, gv: &str) -> Option<Value> {
    let (group, version) = match gv.split('/').collect::<Vec<_>>().as_slice() {
        ["api", v] => (String::new(), v.to_string()),
        ["apis", g, v] => (g.to_string(), v.to_string()),
        _ => return None,
    };
    let infos = reg.resources_at(&group, &version);
    if infos.is_empty() {
        return None;
    }
    let paths: Map<String, Value> = infos.iter().flat_map(|i| paths_for(i)).collect();
    Some(json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "v1.33.0"},
        "paths": paths,
        "components": {"schemas": {}},
    }))
}

fn hash(v: &Value) -> String {
    let bytes = serde_json::to_vec(v).unwrap_or_default();
    let d = ring::digest::digest(&ring::digest::SHA512, &bytes);
    d.as_ref().iter().map(|b| format!("{b:02X}")).collect()
}

/// `/openapi/v3`: every group-version document with its content hash.
pub fn v3_root(reg: &Registry) -> Value {
    let mut paths = Map::new();
    for g in reg.groups() {
        for v in &g.versions {
            let p = gv_path(&g.name, v);
            if let Some(doc) = v3_group_version(reg, &p) {
                paths.insert(
                    p.clone(),
                    json!({"serverRelativeURL": format!("/openapi/v3/{p}?hash={}", hash(&doc))}),
                );
            }
        }
    }
    json!({"paths": paths})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patch_operations_advertise_field_validation() {
        let r = Registry::builtin();
        let root = v3_root(&r);
        assert!(root["paths"]["apis/apps/v1beta1"]["serverRelativeURL"]
            .as_str()
            .unwrap()
            .starts_with("/openapi/v3/apis/apps/v1beta1?hash="));
        let doc = v3_group_version(&r, "apis/apps/v1beta1").unwrap();
        let patch = &doc["paths"]["/apis/apps/v1beta1/namespaces/{namespace}/deployments/{name}"]["patch"];
        assert_eq!(patch["x-kubernetes-group-version-kind"]["version"], "v1beta1");
        assert!(patch["parameters"].as_array().unwrap().iter().any(|p| p["name"] == "fieldValidation"));
        assert!(v3_group_version(&r, "api/v1").is_some());
        assert!(v3_group_version(&r, "apis/nope/v1").is_none());
    }
}
