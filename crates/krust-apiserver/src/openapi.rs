//! The OpenAPI documents kubectl reads: `/openapi/v3` (an index of group-version documents,
//! each with a content hash), `/openapi/v3/<group-version>` (OpenAPI 3.0: the paths and
//! operations of that group version and `components.schemas` with its kinds and every schema
//! they reference) and `/openapi/v2` (swagger 2.0 with every path and definition, as JSON or
//! as gnostic protobuf for kubectl 1.27 and 1.28).
//!
//! kubectl `explain` renders the v3 schemas; `apply` sends `fieldValidation=Strict` because
//! PATCH operations advertise that parameter, and computes strategic merge patches from the v3
//! (or v2) schema of built-in kinds. Custom resources are published from their CRD schema,
//! without strategic merge patch.
//!
//! Documents are built from the registry on demand and cached until the served resources
//! change.

mod paths;
mod protobuf;
mod schemas;

pub use schemas::kind_schema;

use crate::ResponseBody;
use crate::status::ApiError;
use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use krust_api::{Registry, ResourceInfo};
use schemas::{Catalog, DELETE_OPTIONS, PATCH, SCALE, STATUS};
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

/// The media type kubectl asks for the protobuf OpenAPI v2 document with.
pub const V2_PROTOBUF: &str = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf";
/// The media type of the protobuf OpenAPI v2 document as upstream labels its responses (Go's
/// MIME parser rejects the `@` form).
pub const V2_PROTOBUF_CONTENT_TYPE: &str =
    "application/com.github.proto-openapi.spec.v2.v1.0+protobuf";
const TITLE: &str = "Kubernetes";
const API_VERSION: &str = "v1.33.0";

fn gv_path(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

fn split_gv_path(gv: &str) -> Option<(String, String)> {
    match gv.split('/').collect::<Vec<_>>().as_slice() {
        ["api", v] if !v.is_empty() => Some((String::new(), v.to_string())),
        ["apis", g, v] if !g.is_empty() && !v.is_empty() => Some((g.to_string(), v.to_string())),
        _ => None,
    }
}

/// A hash of everything the documents are built from, to know when a cached one is stale.
fn fingerprint<'a>(infos: impl Iterator<Item = &'a ResourceInfo>) -> u64 {
    let mut h = DefaultHasher::new();
    for i in infos {
        (
            &i.group,
            &i.version,
            &i.storage_version,
            &i.kind,
            &i.list_kind,
            &i.plural,
            i.namespaced,
            i.subresources.status,
            i.subresources.scale.is_some(),
        )
            .hash(&mut h);
        if let Some(c) = &i.custom {
            c.crd_name.hash(&mut h);
            serde_json::to_string(&c.schema)
                .unwrap_or_default()
                .hash(&mut h);
        }
    }
    h.finish()
}

fn security_scheme() -> Value {
    json!({"BearerToken": {"type": "apiKey", "name": "authorization", "in": "header", "description": "Bearer Token authentication"}})
}

/// The v3 document of the resources of one group version.
fn build_v3(infos: &[Arc<ResourceInfo>]) -> Value {
    let mut catalog = Catalog::new();
    let mut roots: Vec<String> = [DELETE_OPTIONS, STATUS, PATCH]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let mut items = Vec::new();
    for info in infos {
        let names = catalog.add(info);
        if info.subresources.scale.is_some() {
            roots.push(SCALE.to_string());
        }
        items.extend(paths::path_items(info, &names));
        roots.push(names.kind);
        roots.push(names.list);
    }
    let schemas: Map<String, Value> = catalog
        .closure(roots)
        .into_iter()
        .filter_map(|name| {
            let s = catalog.get(&name).map(|s| schemas::to_v3(&name, s))?;
            Some((name, s))
        })
        .collect();
    json!({
        "openapi": "3.0.0",
        "info": {"title": TITLE, "version": API_VERSION},
        "paths": paths::v3_paths(&items),
        "components": {"schemas": schemas, "securitySchemes": security_scheme()},
    })
}

struct CachedV3 {
    fingerprint: u64,
    doc: Arc<Value>,
    hash: String,
}

fn v3_cache() -> &'static Mutex<HashMap<String, CachedV3>> {
    static CACHE: OnceLock<Mutex<HashMap<String, CachedV3>>> = OnceLock::new();
    CACHE.get_or_init(|| Mutex::new(HashMap::new()))
}

fn hash(v: &Value) -> String {
    let bytes = serde_json::to_vec(v).unwrap_or_default();
    let d = ring::digest::digest(&ring::digest::SHA512, &bytes);
    d.as_ref().iter().map(|b| format!("{b:02X}")).collect()
}

/// The (cached) document of one group version and its hash.
fn v3_doc(reg: &Registry, gv: &str) -> Option<(Arc<Value>, String)> {
    let (group, version) = split_gv_path(gv)?;
    let infos = reg.resources_at(&group, &version);
    if infos.is_empty() {
        return None;
    }
    let fp = fingerprint(infos.iter().map(|i| i.as_ref()));
    let mut cache = v3_cache().lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(c) = cache.get(gv)
        && c.fingerprint == fp
    {
        return Some((c.doc.clone(), c.hash.clone()));
    }
    let doc = Arc::new(build_v3(&infos));
    let h = hash(&doc);
    cache.insert(
        gv.to_string(),
        CachedV3 {
            fingerprint: fp,
            doc: doc.clone(),
            hash: h.clone(),
        },
    );
    Some((doc, h))
}

/// One group-version document (`gv` is `api/v1` or `apis/<group>/<version>`), or `None` when
/// nothing is served there.
pub fn v3_group_version(reg: &Registry, gv: &str) -> Option<Value> {
    v3_doc(reg, gv).map(|(doc, _)| (*doc).clone())
}

/// `/openapi/v3`: every served group version with the URL of its document, whose `hash`
/// changes whenever the document does.
pub fn v3_root(reg: &Registry) -> Value {
    let mut paths = Map::new();
    for g in reg.groups() {
        for v in &g.versions {
            let p = gv_path(&g.name, v);
            if let Some((_, h)) = v3_doc(reg, &p) {
                paths.insert(
                    p.clone(),
                    json!({"serverRelativeURL": format!("/openapi/v3/{p}?hash={h}")}),
                );
            }
        }
    }
    json!({"paths": paths})
}

/// The swagger 2.0 document of everything served.
fn build_v2(reg: &Registry) -> Value {
    let mut catalog = Catalog::new();
    let mut items = Vec::new();
    for info in reg.all() {
        let names = catalog.add(info);
        items.extend(paths::path_items(info, &names));
    }
    let mut definitions: Map<String, Value> = krust_api::openapi::definitions().clone();
    for (name, schema) in catalog.extra() {
        definitions.insert(name.clone(), schemas::to_v2(&catalog, name, schema));
    }
    json!({
        "swagger": "2.0",
        "info": {"title": TITLE, "version": API_VERSION},
        "paths": paths::v2_paths(&items),
        "definitions": definitions,
        "securityDefinitions": security_scheme(),
        "security": [{"BearerToken": []}],
    })
}

struct CachedV2 {
    fingerprint: u64,
    json: Bytes,
    protobuf: Bytes,
}

fn v2_cache() -> &'static Mutex<Option<CachedV2>> {
    static CACHE: OnceLock<Mutex<Option<CachedV2>>> = OnceLock::new();
    CACHE.get_or_init(|| Mutex::new(None))
}

/// The v2 document as (JSON, protobuf) bytes.
fn v2_bytes(reg: &Registry) -> (Bytes, Bytes) {
    let fp = fingerprint(reg.all().map(|i| i.as_ref()));
    let mut cache = v2_cache().lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(c) = cache.as_ref()
        && c.fingerprint == fp
    {
        return (c.json.clone(), c.protobuf.clone());
    }
    let doc = build_v2(reg);
    let json = Bytes::from(serde_json::to_vec(&doc).unwrap_or_default());
    let protobuf = Bytes::from(protobuf::encode_document(&doc));
    *cache = Some(CachedV2 {
        fingerprint: fp,
        json: json.clone(),
        protobuf: protobuf.clone(),
    });
    (json, protobuf)
}

/// The v2 representation an `Accept` header asks for: `Some(true)` protobuf, `Some(false)`
/// JSON, `None` neither.
fn wants_protobuf(accept: Option<&str>) -> Option<bool> {
    let accept = accept.unwrap_or("").trim();
    if accept.is_empty() {
        return Some(false);
    }
    for item in accept.split(',') {
        let media = item.split(';').next().unwrap_or("").trim();
        match media {
            V2_PROTOBUF | V2_PROTOBUF_CONTENT_TYPE => return Some(true),
            "application/json" | "application/*" | "*/*" => return Some(false),
            _ => {}
        }
    }
    None
}

/// `/openapi/v2`: JSON, or gnostic protobuf when the `Accept` header asks for it.
pub fn v2_response(
    reg: &Registry,
    accept: Option<&str>,
) -> Result<Response<ResponseBody>, ApiError> {
    let Some(protobuf) = wants_protobuf(accept) else {
        return Err(ApiError::not_acceptable(accept.unwrap_or("")));
    };
    let (json, proto) = v2_bytes(reg);
    let (body, content_type) = if protobuf {
        (proto, V2_PROTOBUF_CONTENT_TYPE)
    } else {
        (json, "application/json")
    };
    let mut resp = Response::new(Full::new(body).boxed_unsync());
    *resp.status_mut() = StatusCode::OK;
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static(content_type),
    );
    resp.headers_mut().insert(
        http::header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache, private"),
    );
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;
    use krust_api::registry::CustomSpec;

    fn with_crontab(schema: Value) -> Registry {
        let mut r = Registry::builtin();
        let mut info = (*r.get("", "v1", "configmaps").unwrap()).clone();
        info.group = "stable.example.com".into();
        info.version = "v1".into();
        info.storage_version = "v1".into();
        info.kind = "CronTab".into();
        info.list_kind = "CronTabList".into();
        info.plural = "crontabs".into();
        info.subresources.status = true;
        info.custom = Some(Arc::new(CustomSpec::new(
            "crontabs.stable.example.com".into(),
            Some(schema),
            vec![],
        )));
        r.insert(info);
        r
    }

    fn schema_with_gvk<'a>(doc: &'a Value, group: &str, version: &str, kind: &str) -> Vec<&'a str> {
        let want = json!({"group": group, "kind": kind, "version": version});
        doc["components"]["schemas"]
            .as_object()
            .unwrap()
            .iter()
            .filter(|(_, s)| {
                s["x-kubernetes-group-version-kind"]
                    .as_array()
                    .is_some_and(|a| a.contains(&want))
            })
            .map(|(n, _)| n.as_str())
            .collect()
    }

    #[test]
    fn root_lists_every_group_version_with_a_hash() {
        let r = Registry::builtin();
        let root = v3_root(&r);
        for gv in [
            "api/v1",
            "apis/apps/v1",
            "apis/apps/v1beta1",
            "apis/autoscaling/v2",
        ] {
            let url = root["paths"][gv]["serverRelativeURL"].as_str().unwrap();
            assert!(url.starts_with(&format!("/openapi/v3/{gv}?hash=")), "{url}");
            assert_eq!(url.len(), format!("/openapi/v3/{gv}?hash=").len() + 128);
        }
        assert!(v3_group_version(&r, "apis/nope/v1").is_none());
        assert!(v3_group_version(&r, "apis/apps").is_none());
    }

    #[test]
    fn apps_v1_document_has_kinds_and_their_closure() {
        let r = Registry::builtin();
        let doc = v3_group_version(&r, "apis/apps/v1").unwrap();
        assert_eq!(doc["openapi"], "3.0.0");
        assert_eq!(
            schema_with_gvk(&doc, "apps", "v1", "Deployment"),
            ["io.k8s.api.apps.v1.Deployment"]
        );
        let schemas = doc["components"]["schemas"].as_object().unwrap();
        for name in [
            "io.k8s.api.apps.v1.DeploymentStrategy",
            "io.k8s.api.core.v1.Container",
            "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta",
            "io.k8s.api.autoscaling.v1.Scale",
            "io.k8s.apimachinery.pkg.apis.meta.v1.Patch",
        ] {
            assert!(schemas.contains_key(name), "{name}");
        }
        // Every reference resolves inside the document.
        let text = serde_json::to_string(&doc).unwrap();
        for part in text.split("\"#/components/schemas/").skip(1) {
            let name = part.split('"').next().unwrap();
            assert!(schemas.contains_key(name), "dangling {name}");
        }
        let strategy = &schemas["io.k8s.api.apps.v1.DeploymentSpec"]["properties"]["strategy"];
        assert_eq!(strategy["x-kubernetes-patch-strategy"], "retainKeys");
        assert_eq!(
            strategy["allOf"][0]["$ref"],
            "#/components/schemas/io.k8s.api.apps.v1.DeploymentStrategy"
        );
    }

    #[test]
    fn apps_v1beta1_deployments_are_synthesized() {
        let r = Registry::builtin();
        let doc = v3_group_version(&r, "apis/apps/v1beta1").unwrap();
        assert_eq!(
            schema_with_gvk(&doc, "apps", "v1beta1", "Deployment"),
            ["io.k8s.api.apps.v1beta1.Deployment"]
        );
        let patch =
            &doc["paths"]["/apis/apps/v1beta1/namespaces/{namespace}/deployments/{name}"]["patch"];
        assert_eq!(
            patch["x-kubernetes-group-version-kind"]["version"],
            "v1beta1"
        );
        assert!(
            patch["requestBody"]["content"]
                .get("application/strategic-merge-patch+json")
                .is_some()
        );
    }

    #[test]
    fn custom_resources_are_published_without_strategic_merge_patch() {
        let schema = json!({"type": "object", "properties": {"spec": {"type": "object", "description": "The spec.", "properties": {"cronSpec": {"type": "string"}}}}});
        let r = with_crontab(schema.clone());
        let doc = v3_group_version(&r, "apis/stable.example.com/v1").unwrap();
        assert_eq!(
            schema_with_gvk(&doc, "stable.example.com", "v1", "CronTab"),
            ["com.example.stable.v1.CronTab"]
        );
        assert_eq!(
            schema_with_gvk(&doc, "stable.example.com", "v1", "CronTabList"),
            ["com.example.stable.v1.CronTabList"]
        );
        let item =
            &doc["paths"]["/apis/stable.example.com/v1/namespaces/{namespace}/crontabs/{name}"];
        let content = item["patch"]["requestBody"]["content"].as_object().unwrap();
        assert!(!content.contains_key("application/strategic-merge-patch+json"));
        assert!(content.contains_key("application/apply-patch+yaml"));
        assert!(
            doc["paths"]
                .get("/apis/stable.example.com/v1/namespaces/{namespace}/crontabs/{name}/status")
                .is_some()
        );
        // Changing the CRD schema changes the hash.
        let h1 = v3_root(&r)["paths"]["apis/stable.example.com/v1"].clone();
        let mut schema2 = schema;
        schema2["properties"]["spec"]["properties"]["image"] = json!({"type": "string"});
        let r2 = with_crontab(schema2);
        let h2 = v3_root(&r2)["paths"]["apis/stable.example.com/v1"].clone();
        assert_ne!(h1, h2);
        assert_eq!(
            v3_root(&r)["paths"]["apis/apps/v1"],
            v3_root(&r2)["paths"]["apis/apps/v1"]
        );
    }

    #[test]
    fn v2_has_every_definition_and_both_encodings() {
        let r = with_crontab(json!({"type": "object"}));
        let (json_bytes, proto) = v2_bytes(&r);
        let doc: Value = serde_json::from_slice(&json_bytes).unwrap();
        assert_eq!(doc["swagger"], "2.0");
        let defs = doc["definitions"].as_object().unwrap();
        assert!(defs.contains_key("io.k8s.api.apps.v1.Deployment"));
        assert!(defs.contains_key("io.k8s.api.apps.v1beta1.Deployment"));
        assert!(defs.contains_key("com.example.stable.v1.CronTab"));
        let patch =
            &doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"];
        assert!(
            patch["parameters"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p["name"] == "fieldValidation")
        );
        assert!(proto.len() > 100_000);
        assert_eq!(wants_protobuf(Some(V2_PROTOBUF)), Some(true));
        assert_eq!(wants_protobuf(Some("application/json, */*")), Some(false));
        assert_eq!(wants_protobuf(None), Some(false));
        assert_eq!(wants_protobuf(Some("text/html")), None);
        let resp = v2_response(&r, Some(V2_PROTOBUF)).unwrap();
        assert_eq!(
            resp.headers()[http::header::CONTENT_TYPE],
            V2_PROTOBUF_CONTENT_TYPE
        );
        assert_eq!(v2_response(&r, Some("text/html")).unwrap_err().code, 406);
    }
}
