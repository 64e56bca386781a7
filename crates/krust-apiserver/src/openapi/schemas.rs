//! The schemas behind the OpenAPI documents: the built-in definitions (Kubernetes v1.33),
//! definitions synthesized for kinds krust serves at versions upstream no longer publishes
//! (`apps/v1beta1` Deployments: the `apps/v1` schema with its group-version-kind changed), and
//! custom resources' kind and list schemas built from their CRD's `openAPIV3Schema`.
//!
//! Everything is kept in the OpenAPI v2 shape (`#/definitions/...` references); [`to_v3`] and
//! [`to_v2`] produce the shapes each document needs.

use krust_api::ResourceInfo;
use krust_api::openapi as defs;
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, BTreeSet, VecDeque};

pub const OBJECT_META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta";
pub const LIST_META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta";
pub const DELETE_OPTIONS: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions";
pub const STATUS: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.Status";
pub const PATCH: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.Patch";
pub const SCALE: &str = "io.k8s.api.autoscaling.v1.Scale";
const INT_OR_STRING: &str = "io.k8s.apimachinery.pkg.util.intstr.IntOrString";
const QUANTITY: &str = "io.k8s.apimachinery.pkg.api.resource.Quantity";

const API_VERSION_DOC: &str = "APIVersion defines the versioned schema of this representation of an object. Servers should convert recognized schemas to the latest internal value, and may reject unrecognized values. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#resources";
const KIND_DOC: &str = "Kind is a string value representing the REST resource this object represents. Servers may infer this from the endpoint the client submits requests to. Cannot be updated. In CamelCase. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds";
const METADATA_DOC: &str = "Standard object's metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata";
const LIST_METADATA_DOC: &str = "Standard list metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds";

/// The definition names of one served resource version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KindNames {
    pub kind: String,
    pub list: String,
}

/// The schema set of one document: the built-in definitions plus the synthesized and custom
/// ones registered with [`Catalog::add`].
#[derive(Default)]
pub struct Catalog {
    extra: BTreeMap<String, Value>,
    custom: BTreeSet<String>,
}

fn gvk_tag(group: &str, version: &str, kind: &str) -> Value {
    json!([{"group": group, "kind": kind, "version": version}])
}

fn def_ref(name: &str) -> String {
    format!("#/definitions/{name}")
}

/// The name part of a `$ref` (`#/definitions/X` or `#/components/schemas/X`).
pub fn ref_name(r: &str) -> &str {
    r.rsplit('/').next().unwrap_or(r)
}

/// `stable.example.com` -> `com.example.stable`: how upstream prefixes custom definitions.
fn reversed_group(group: &str) -> String {
    group.split('.').rev().collect::<Vec<_>>().join(".")
}

/// `io.k8s.api.apps.v1.Deployment` at `v1beta1` -> `io.k8s.api.apps.v1beta1.Deployment`.
fn renamed_for_version(source: &str, from: &str, to: &str) -> String {
    let mut parts: Vec<&str> = source.split('.').collect();
    if parts.len() >= 2 {
        let i = parts.len() - 2;
        if parts[i] == from {
            parts[i] = to;
            return parts.join(".");
        }
    }
    format!("{source}.{to}")
}

/// A built-in definition of the same group and kind at another version (the storage version
/// first), with its version.
fn other_version_definition(info: &ResourceInfo, kind: &str) -> Option<(&'static str, String)> {
    if let Some(n) = defs::definition_for(&info.group, &info.storage_version, kind) {
        return Some((n, info.storage_version.clone()));
    }
    for (name, schema) in defs::definitions() {
        let Some(gvks) = schema
            .get("x-kubernetes-group-version-kind")
            .and_then(Value::as_array)
        else {
            continue;
        };
        for g in gvks {
            if g["group"].as_str() == Some(info.group.as_str()) && g["kind"].as_str() == Some(kind)
            {
                return Some((
                    name.as_str(),
                    g["version"].as_str().unwrap_or("").to_string(),
                ));
            }
        }
    }
    None
}

impl Catalog {
    pub fn new() -> Self {
        Self::default()
    }

    /// A definition by name.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.extra.get(name).or_else(|| defs::definition(name))
    }

    /// Whether `name` is a custom resource schema (from a CRD).
    pub fn is_custom(&self, name: &str) -> bool {
        self.custom.contains(name)
    }

    /// The synthesized and custom definitions.
    pub fn extra(&self) -> &BTreeMap<String, Value> {
        &self.extra
    }

    /// Registers the kind and list schemas of a served resource version; returns their names.
    pub fn add(&mut self, info: &ResourceInfo) -> KindNames {
        if let Some(custom) = &info.custom {
            return self.add_custom(info, custom.schema.as_ref());
        }
        let kind = match defs::definition_for(&info.group, &info.version, &info.kind) {
            Some(n) => n.to_string(),
            None => match other_version_definition(info, &info.kind) {
                Some((source, from)) => {
                    let name = renamed_for_version(source, &from, &info.version);
                    let mut schema = defs::definition(source).cloned().unwrap_or_default();
                    schema["x-kubernetes-group-version-kind"] =
                        gvk_tag(&info.group, &info.version, &info.kind);
                    if info.group == "apps"
                        && info.version == "v1beta1"
                        && info.kind == "Deployment"
                    {
                        self.add_apps_v1beta1_deployment_spec(&mut schema);
                    }
                    self.extra.insert(name.clone(), schema);
                    name
                }
                None => return self.add_custom(info, None),
            },
        };
        let list = match defs::definition_for(&info.group, &info.version, &info.list_kind) {
            Some(n) => n.to_string(),
            None => {
                let (source, from) = other_version_definition(info, &info.list_kind)
                    .map(|(s, f)| (s.to_string(), f))
                    .unwrap_or_default();
                let name = if source.is_empty() {
                    format!("{kind}List")
                } else {
                    renamed_for_version(&source, &from, &info.version)
                };
                let mut schema = defs::definition(&source)
                    .cloned()
                    .unwrap_or_else(|| list_schema(info, &kind));
                schema["x-kubernetes-group-version-kind"] =
                    gvk_tag(&info.group, &info.version, &info.list_kind);
                if let Some(items) = schema.pointer_mut("/properties/items/items") {
                    *items = json!({"$ref": def_ref(&kind)});
                }
                self.extra.insert(name.clone(), schema);
                name
            }
        };
        KindNames { kind, list }
    }

    /// `apps/v1beta1` DeploymentSpec differs from `apps/v1`: the selector is optional
    /// (defaulted from the template labels) and the deprecated `rollbackTo` exists.
    fn add_apps_v1beta1_deployment_spec(&mut self, deployment: &mut Value) {
        const SPEC: &str = "io.k8s.api.apps.v1beta1.DeploymentSpec";
        const ROLLBACK: &str = "io.k8s.api.apps.v1beta1.RollbackConfig";
        let Some(mut spec) = defs::definition("io.k8s.api.apps.v1.DeploymentSpec").cloned() else {
            return;
        };
        spec["required"] = json!(["template"]);
        spec["description"] =
            json!("DeploymentSpec is the specification of the desired behavior of the Deployment.");
        if let Some(props) = spec.get_mut("properties").and_then(Value::as_object_mut) {
            props.insert(
                "rollbackTo".into(),
                json!({"$ref": def_ref(ROLLBACK), "description": "DEPRECATED. The config this deployment is rolling back to. Will be cleared after rollback is done."}),
            );
            if let Some(sel) = props.get_mut("selector") {
                sel["description"] = json!(
                    "Label selector for pods. Existing ReplicaSets whose pods are selected by this will be the ones affected by this deployment."
                );
            }
        }
        self.extra.insert(SPEC.into(), spec);
        self.extra.insert(
            ROLLBACK.into(),
            json!({
                "description": "DEPRECATED.",
                "type": "object",
                "properties": {"revision": {"description": "The revision to rollback to. If set to 0, rollback to the last revision.", "type": "integer", "format": "int64"}},
            }),
        );
        if let Some(p) = deployment.pointer_mut("/properties/spec/$ref") {
            *p = json!(def_ref(SPEC));
        }
    }

    fn add_custom(&mut self, info: &ResourceInfo, schema: Option<&Value>) -> KindNames {
        let prefix = format!("{}.{}", reversed_group(&info.group), info.version);
        let kind = format!("{prefix}.{}", info.kind);
        let list = format!("{prefix}.{}", info.list_kind);
        let mut root = match schema {
            Some(Value::Object(m)) => Value::Object(m.clone()),
            _ => json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true}),
        };
        if root.get("type").is_none() {
            root["type"] = json!("object");
        }
        if !root.get("properties").is_some_and(Value::is_object) {
            root["properties"] = json!({});
        }
        if let Some(props) = root.get_mut("properties").and_then(Value::as_object_mut) {
            props.insert(
                "apiVersion".into(),
                json!({"description": API_VERSION_DOC, "type": "string"}),
            );
            props.insert(
                "kind".into(),
                json!({"description": KIND_DOC, "type": "string"}),
            );
            props.insert(
                "metadata".into(),
                json!({"$ref": def_ref(OBJECT_META), "description": METADATA_DOC}),
            );
        }
        root["x-kubernetes-group-version-kind"] = gvk_tag(&info.group, &info.version, &info.kind);
        let mut list_schema = list_schema(info, &kind);
        list_schema["x-kubernetes-group-version-kind"] =
            gvk_tag(&info.group, &info.version, &info.list_kind);
        self.extra.insert(kind.clone(), root);
        self.extra.insert(list.clone(), list_schema);
        self.custom.insert(kind.clone());
        self.custom.insert(list.clone());
        KindNames { kind, list }
    }

    /// The names reachable from `roots` through `$ref`s (the roots included), sorted.
    pub fn closure<I, S>(&self, roots: I) -> BTreeSet<String>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut seen = BTreeSet::new();
        let mut queue: VecDeque<String> = roots.into_iter().map(Into::into).collect();
        while let Some(name) = queue.pop_front() {
            if seen.contains(&name) {
                continue;
            }
            let Some(schema) = self.get(&name) else {
                continue;
            };
            seen.insert(name);
            let mut refs = Vec::new();
            collect_refs(schema, &mut refs);
            queue.extend(refs.into_iter().filter(|r| !seen.contains(r)));
        }
        seen
    }
}

/// The list schema upstream publishes for a custom resource.
fn list_schema(info: &ResourceInfo, kind_name: &str) -> Value {
    json!({
        "description": format!("{} is a list of {}", info.list_kind, info.kind),
        "type": "object",
        "required": ["items"],
        "properties": {
            "apiVersion": {"description": API_VERSION_DOC, "type": "string"},
            "items": {
                "description": format!("List of {}. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md", info.plural),
                "type": "array",
                "items": {"$ref": def_ref(kind_name)},
            },
            "kind": {"description": KIND_DOC, "type": "string"},
            "metadata": {"$ref": def_ref(LIST_META), "description": LIST_METADATA_DOC},
        },
    })
}

/// Every `$ref` target in a schema (only schema positions are walked, so example values and
/// property names never count).
fn collect_refs(v: &Value, out: &mut Vec<String>) {
    let Some(m) = v.as_object() else {
        return;
    };
    for (k, x) in m {
        match k.as_str() {
            "$ref" => {
                if let Some(r) = x.as_str() {
                    out.push(ref_name(r).to_string());
                }
            }
            "properties" | "patternProperties" | "definitions" => {
                if let Some(props) = x.as_object() {
                    for p in props.values() {
                        collect_refs(p, out);
                    }
                }
            }
            "items" | "additionalProperties" | "not" => match x {
                Value::Array(a) => a.iter().for_each(|s| collect_refs(s, out)),
                other => collect_refs(other, out),
            },
            "allOf" | "oneOf" | "anyOf" => {
                if let Some(a) = x.as_array() {
                    a.iter().for_each(|s| collect_refs(s, out));
                }
            }
            _ => {}
        }
    }
}

/// One schema node in the OpenAPI v3 shape: references point at `#/components/schemas/`, and
/// a reference with siblings (a description, patch extensions) is wrapped in `allOf`.
fn v3_node(v: &Value) -> Value {
    let Some(m) = v.as_object() else {
        return v.clone();
    };
    let mut out = Map::new();
    for (k, x) in m {
        let converted = match k.as_str() {
            "$ref" => match x.as_str() {
                Some(r) => json!(format!("#/components/schemas/{}", ref_name(r))),
                None => x.clone(),
            },
            "properties" | "patternProperties" | "definitions" => match x.as_object() {
                Some(props) => Value::Object(
                    props
                        .iter()
                        .map(|(name, s)| (name.clone(), v3_node(s)))
                        .collect(),
                ),
                None => x.clone(),
            },
            "items" | "additionalProperties" | "not" => match x {
                Value::Array(a) => Value::Array(a.iter().map(v3_node).collect()),
                other => v3_node(other),
            },
            "allOf" | "oneOf" | "anyOf" => match x.as_array() {
                Some(a) => Value::Array(a.iter().map(v3_node).collect()),
                None => x.clone(),
            },
            _ => x.clone(),
        };
        out.insert(k.clone(), converted);
    }
    if out.len() > 1
        && let Some(r) = out.remove("$ref")
    {
        out.insert("allOf".into(), json!([{"$ref": r}]));
    }
    Value::Object(out)
}

/// A definition in the OpenAPI v3 shape upstream serves.
pub fn to_v3(name: &str, schema: &Value) -> Value {
    let mut out = v3_node(schema);
    if (name == INT_OR_STRING || name == QUANTITY)
        && let Some(m) = out.as_object_mut()
    {
        m.remove("type");
        let types = if name == INT_OR_STRING {
            json!([{"type": "integer"}, {"type": "string"}])
        } else {
            json!([{"type": "string"}, {"type": "number"}])
        };
        m.insert("oneOf".into(), types);
    }
    out
}

const V2_TYPES: &[&str] = &["object", "array", "string", "number", "integer", "boolean"];

/// A custom resource schema node in the shape OpenAPI v2 clients can parse: constructs v2
/// cannot express are dropped (as upstream's CRD publishing does), leaving an arbitrary value
/// where no type is left.
fn v2_custom_node(v: &Value) -> Value {
    let Some(m) = v.as_object() else {
        return v.clone();
    };
    let mut out = Map::new();
    for (k, x) in m {
        match k.as_str() {
            "oneOf"
            | "anyOf"
            | "allOf"
            | "not"
            | "nullable"
            | "default"
            | "example"
            | "x-kubernetes-validations" => {}
            "properties" => {
                if let Some(props) = x.as_object() {
                    out.insert(
                        k.clone(),
                        Value::Object(
                            props
                                .iter()
                                .map(|(n, s)| (n.clone(), v2_custom_node(s)))
                                .collect(),
                        ),
                    );
                }
            }
            "items" => {
                if x.is_object() {
                    out.insert(k.clone(), v2_custom_node(x));
                }
            }
            "additionalProperties" => match x {
                Value::Object(_) => {
                    out.insert(k.clone(), v2_custom_node(x));
                }
                Value::Bool(_) => {
                    out.insert(k.clone(), x.clone());
                }
                _ => {}
            },
            "type" => {
                if x.as_str().is_some_and(|t| V2_TYPES.contains(&t)) {
                    out.insert(k.clone(), x.clone());
                }
            }
            _ => {
                out.insert(k.clone(), x.clone());
            }
        }
    }
    let flag = |k: &str| m.get(k).and_then(Value::as_bool) == Some(true);
    if flag("x-kubernetes-int-or-string") || flag("nullable") {
        out.remove("type");
    }
    if out.get("type").and_then(Value::as_str) == Some("array") && !out.contains_key("items") {
        out.remove("type");
    }
    if !out.contains_key("type") && !out.contains_key("$ref") {
        out.remove("items");
    }
    if out.contains_key("$ref") {
        out.remove("type");
        out.remove("properties");
    }
    Value::Object(out)
}

/// A definition in the OpenAPI v2 shape.
pub fn to_v2(catalog: &Catalog, name: &str, schema: &Value) -> Value {
    if catalog.is_custom(name) {
        v2_custom_node(schema)
    } else {
        schema.clone()
    }
}

/// The schema (v2 shape, `#/definitions/` references) objects of `info` are validated
/// against: the kind's definition (synthesized for versions upstream no longer publishes), or
/// for a custom resource its CRD's `openAPIV3Schema` as the CRD declares it.
pub fn kind_schema(info: &ResourceInfo) -> Option<Value> {
    if let Some(custom) = &info.custom {
        return custom.schema.clone();
    }
    let mut cat = Catalog::new();
    let names = cat.add(info);
    let mut schema = cat.get(&names.kind).cloned()?;
    inline_extra(&cat, &mut schema, 0);
    Some(schema)
}

/// Replaces references to synthesized definitions (which the built-in definitions cannot
/// resolve) by their content, so the schema stands on its own.
fn inline_extra(cat: &Catalog, v: &mut Value, depth: usize) {
    if depth > 64 {
        return;
    }
    let Some(m) = v.as_object_mut() else {
        return;
    };
    if let Some(target) = m
        .get("$ref")
        .and_then(Value::as_str)
        .map(ref_name)
        .and_then(|n| cat.extra().get(n))
    {
        m.remove("$ref");
        if let Some(t) = target.as_object() {
            for (k, x) in t {
                m.entry(k.clone()).or_insert_with(|| x.clone());
            }
        }
    }
    for (k, x) in m.iter_mut() {
        match k.as_str() {
            "properties" | "patternProperties" => {
                if let Some(props) = x.as_object_mut() {
                    for p in props.values_mut() {
                        inline_extra(cat, p, depth + 1);
                    }
                }
            }
            "items" | "additionalProperties" => inline_extra(cat, x, depth + 1),
            "allOf" | "oneOf" | "anyOf" => {
                if let Some(a) = x.as_array_mut() {
                    a.iter_mut().for_each(|s| inline_extra(cat, s, depth + 1));
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use krust_api::Registry;
    use krust_api::registry::CustomSpec;
    use std::sync::Arc;

    fn crontab(schema: Option<Value>) -> ResourceInfo {
        let mut info = (*Registry::builtin().get("", "v1", "configmaps").unwrap()).clone();
        info.group = "stable.example.com".into();
        info.version = "v1".into();
        info.storage_version = "v1".into();
        info.kind = "CronTab".into();
        info.list_kind = "CronTabList".into();
        info.plural = "crontabs".into();
        info.custom = Some(Arc::new(CustomSpec::new(
            "crontabs.stable.example.com".into(),
            schema,
            vec![],
        )));
        info
    }

    #[test]
    fn synthesizes_apps_v1beta1_deployments() {
        let r = Registry::builtin();
        let info = r.get("apps", "v1beta1", "deployments").unwrap();
        let mut cat = Catalog::new();
        let names = cat.add(&info);
        assert_eq!(names.kind, "io.k8s.api.apps.v1beta1.Deployment");
        assert_eq!(names.list, "io.k8s.api.apps.v1beta1.DeploymentList");
        let d = cat.get(&names.kind).unwrap();
        assert_eq!(
            d["x-kubernetes-group-version-kind"],
            json!([{"group": "apps", "kind": "Deployment", "version": "v1beta1"}])
        );
        assert_eq!(
            d["properties"]["spec"]["$ref"],
            "#/definitions/io.k8s.api.apps.v1beta1.DeploymentSpec"
        );
        let spec = cat.get("io.k8s.api.apps.v1beta1.DeploymentSpec").unwrap();
        assert_eq!(spec["required"], json!(["template"]));
        assert!(spec["properties"].get("rollbackTo").is_some());
        let l = cat.get(&names.list).unwrap();
        assert_eq!(
            l["properties"]["items"]["items"]["$ref"],
            "#/definitions/io.k8s.api.apps.v1beta1.Deployment"
        );
        let closure = cat.closure([names.kind.clone()]);
        assert!(closure.contains("io.k8s.api.core.v1.PodSpec"));
        assert!(closure.contains(OBJECT_META));
    }

    #[test]
    fn custom_resources_get_kind_and_list_schemas() {
        let info = crontab(Some(json!({
            "type": "object",
            "description": "A cron tab.",
            "properties": {"spec": {"type": "object", "properties": {"cronSpec": {"type": "string"}}}},
        })));
        let mut cat = Catalog::new();
        let names = cat.add(&info);
        assert_eq!(names.kind, "com.example.stable.v1.CronTab");
        assert_eq!(names.list, "com.example.stable.v1.CronTabList");
        let v3 = to_v3(&names.kind, cat.get(&names.kind).unwrap());
        assert_eq!(
            v3["properties"]["metadata"]["allOf"][0]["$ref"],
            "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
        );
        assert_eq!(
            v3["properties"]["spec"]["properties"]["cronSpec"]["type"],
            "string"
        );
        assert!(cat.closure([names.list]).contains(LIST_META));
    }

    #[test]
    fn v3_wraps_references_with_siblings_and_keeps_property_names() {
        let cat = Catalog::new();
        let props = cat
            .get("io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSONSchemaProps")
            .unwrap();
        let v3 = to_v3("x", props);
        // A property literally named `$ref` stays a property.
        assert_eq!(v3["properties"]["$ref"]["type"], "string");
        let d = to_v3("d", cat.get("io.k8s.api.apps.v1.Deployment").unwrap());
        assert!(d["properties"]["spec"].get("$ref").is_none());
        assert_eq!(
            d["properties"]["spec"]["allOf"][0]["$ref"],
            "#/components/schemas/io.k8s.api.apps.v1.DeploymentSpec"
        );
        let ios = to_v3(INT_OR_STRING, cat.get(INT_OR_STRING).unwrap());
        assert!(ios.get("type").is_none());
        assert_eq!(ios["oneOf"][0]["type"], "integer");
    }

    #[test]
    fn v2_custom_schemas_drop_what_v2_cannot_express() {
        let info = crontab(Some(json!({
            "type": "object",
            "properties": {
                "port": {"x-kubernetes-int-or-string": true, "anyOf": [{"type": "integer"}, {"type": "string"}]},
                "list": {"type": "array"},
                "maybe": {"type": "string", "nullable": true},
                "any": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
            },
        })));
        let mut cat = Catalog::new();
        let names = cat.add(&info);
        let v2 = to_v2(&cat, &names.kind, cat.get(&names.kind).unwrap());
        let p = &v2["properties"];
        assert!(p["port"].get("type").is_none() && p["port"].get("anyOf").is_none());
        assert!(p["list"].get("type").is_none());
        assert!(p["maybe"].get("type").is_none());
        assert_eq!(p["any"]["type"], "object");
        assert_eq!(p["metadata"]["$ref"], def_ref(OBJECT_META));
    }

    #[test]
    fn kind_schemas_stand_on_their_own() {
        let r = Registry::builtin();
        let s = kind_schema(&r.get("apps", "v1beta1", "deployments").unwrap()).unwrap();
        assert_eq!(s["properties"]["spec"]["required"], json!(["template"]));
        assert_eq!(
            s["properties"]["spec"]["properties"]["rollbackTo"]["properties"]["revision"]["type"],
            "integer"
        );
        assert_eq!(
            s["properties"]["spec"]["properties"]["template"]["$ref"],
            "#/definitions/io.k8s.api.core.v1.PodTemplateSpec"
        );
        let d = kind_schema(&r.get("apps", "v1", "deployments").unwrap()).unwrap();
        assert_eq!(
            &d,
            defs::definition("io.k8s.api.apps.v1.Deployment").unwrap()
        );
    }

    #[test]
    fn every_builtin_reference_resolves() {
        let cat = Catalog::new();
        let mut refs = Vec::new();
        for d in defs::definitions().values() {
            collect_refs(d, &mut refs);
        }
        for r in refs {
            assert!(cat.get(&r).is_some(), "{r}");
        }
    }
}
