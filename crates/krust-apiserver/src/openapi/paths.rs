//! The REST paths and operations of a served resource, as upstream publishes them: the
//! collection (list, create, delete collection), the object (read, replace, patch, delete),
//! the `status` and `scale` subresources and the all-namespaces list. Each operation carries
//! `x-kubernetes-action` and `x-kubernetes-group-version-kind`; PATCH advertises
//! `fieldValidation` (kubectl then validates on the server) and, for built-in kinds only,
//! strategic merge patch.
//!
//! The operations are described once and rendered in the OpenAPI v3 ([`v3_paths`]) and v2
//! ([`v2_paths`]) shapes.

use super::schemas::{DELETE_OPTIONS, KindNames, PATCH, SCALE, STATUS};
use krust_api::ResourceInfo;
use serde_json::{Map, Value, json};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Ty {
    String,
    Boolean,
    Integer,
}

impl Ty {
    fn name(self) -> &'static str {
        match self {
            Ty::String => "string",
            Ty::Boolean => "boolean",
            Ty::Integer => "integer",
        }
    }
}

/// A path or query parameter.
#[derive(Clone)]
struct Param {
    name: &'static str,
    path: bool,
    ty: Ty,
    description: String,
}

fn q(name: &'static str, ty: Ty, description: &str) -> Param {
    Param {
        name,
        path: false,
        ty,
        description: description.to_string(),
    }
}

fn path_param(name: &'static str, description: String) -> Param {
    Param {
        name,
        path: true,
        ty: Ty::String,
        description,
    }
}

const DRY_RUN: &str = "When present, indicates that modifications should not be persisted. An invalid or unrecognized dryRun directive will result in an error response and no further processing of the request. Valid values are: - All: all dry run stages will be processed";
const FIELD_MANAGER: &str = "fieldManager is a name associated with the actor or entity that is making these changes. The value must be less than or 128 characters long, and only contain printable characters, as defined by https://golang.org/pkg/unicode/#IsPrint.";
const FIELD_MANAGER_PATCH: &str = "fieldManager is a name associated with the actor or entity that is making these changes. The value must be less than or 128 characters long, and only contain printable characters, as defined by https://golang.org/pkg/unicode/#IsPrint. This field is required for apply requests (application/apply-patch) but optional for non-apply patch types (JsonPatch, MergePatch, StrategicMergePatch).";
const FIELD_VALIDATION: &str = "fieldValidation instructs the server on how to handle objects in the request (POST/PUT/PATCH) containing unknown or duplicate fields. Valid values are: - Ignore: This will ignore any unknown fields that are silently dropped from the object, and will ignore all but the last duplicate field that the decoder encounters. This is the default behavior prior to v1.23. - Warn: This will send a warning via the standard warning response header for each unknown field that is dropped from the object, and for each duplicate field that is encountered. The request will still succeed if there are no other errors, and will only persist the last of any duplicate fields. This is the default in v1.23+ - Strict: This will fail the request with a BadRequest error if any unknown fields would be dropped from the object, or if any duplicate fields are present. The error returned from the server will contain all unknown and duplicate fields encountered.";
const FORCE: &str = "Force is going to \"force\" Apply requests. It means user will re-acquire conflicting fields owned by other people. Force flag must be unset for non-apply patch requests.";
const PRETTY: &str = "If 'true', then the output is pretty printed. Defaults to 'false' unless the user-agent indicates a browser or command-line HTTP tool (curl and wget).";
const NAMESPACE: &str = "object name and auth scope, such as for teams and projects";

fn write_params() -> Vec<Param> {
    vec![
        q("dryRun", Ty::String, DRY_RUN),
        q("fieldManager", Ty::String, FIELD_MANAGER),
        q("fieldValidation", Ty::String, FIELD_VALIDATION),
    ]
}

fn patch_params() -> Vec<Param> {
    vec![
        q("dryRun", Ty::String, DRY_RUN),
        q("fieldManager", Ty::String, FIELD_MANAGER_PATCH),
        q("fieldValidation", Ty::String, FIELD_VALIDATION),
        q("force", Ty::Boolean, FORCE),
    ]
}

fn list_params() -> Vec<Param> {
    vec![
        q(
            "allowWatchBookmarks",
            Ty::Boolean,
            "allowWatchBookmarks requests watch events with type \"BOOKMARK\". Servers that do not implement bookmarks may ignore this flag and bookmarks are sent at the server's discretion. Clients should not assume bookmarks are returned at any specific interval, nor may they assume the server will send any BOOKMARK event during a session. If this is not a watch, this field is ignored.",
        ),
        q(
            "continue",
            Ty::String,
            "The continue option should be set when retrieving more results from the server. Since this value is server defined, clients may only use the continue value from a previous query result with identical query parameters (except for the value of continue) and the server may reject a continue value it does not recognize.",
        ),
        q(
            "fieldSelector",
            Ty::String,
            "A selector to restrict the list of returned objects by their fields. Defaults to everything.",
        ),
        q(
            "labelSelector",
            Ty::String,
            "A selector to restrict the list of returned objects by their labels. Defaults to everything.",
        ),
        q(
            "limit",
            Ty::Integer,
            "limit is a maximum number of responses to return for a list call. If more items exist, the server will set the `continue` field on the list metadata to a value that can be used with the same initial query to retrieve the next set of results.",
        ),
        q(
            "resourceVersion",
            Ty::String,
            "resourceVersion sets a constraint on what resource versions a request may be served from. See https://kubernetes.io/docs/reference/using-api/api-concepts/#resource-versions for details.\n\nDefaults to unset",
        ),
        q(
            "resourceVersionMatch",
            Ty::String,
            "resourceVersionMatch determines how resourceVersion is applied to list calls. It is highly recommended that resourceVersionMatch be set for list calls where resourceVersion is set See https://kubernetes.io/docs/reference/using-api/api-concepts/#resource-versions for details.\n\nDefaults to unset",
        ),
        q(
            "sendInitialEvents",
            Ty::Boolean,
            "`sendInitialEvents=true` may be set together with `watch=true`. In that case, the watch stream will begin with synthetic events to produce the current state of objects in the collection.",
        ),
        q(
            "timeoutSeconds",
            Ty::Integer,
            "Timeout for the list/watch call. This limits the duration of the call, regardless of any activity or inactivity.",
        ),
        q(
            "watch",
            Ty::Boolean,
            "Watch for changes to the described resources and return them as a stream of add, update, and remove notifications. Specify resourceVersion.",
        ),
    ]
}

fn delete_params() -> Vec<Param> {
    vec![
        q("dryRun", Ty::String, DRY_RUN),
        q(
            "gracePeriodSeconds",
            Ty::Integer,
            "The duration in seconds before the object should be deleted. Value must be non-negative integer. The value zero indicates delete immediately. If this value is nil, the default grace period for the specified type will be used. Defaults to a per object value if not specified. zero means delete immediately.",
        ),
        q(
            "ignoreStoreReadErrorWithClusterBreakingPotential",
            Ty::Boolean,
            "if set to true, it will trigger an unsafe deletion of the resource in case the normal deletion flow fails with a corrupt object error. A resource is considered corrupt if it can not be retrieved from the underlying storage successfully because of a) its data can not be transformed e.g. decryption failure, or b) it fails to decode into an object. NOTE: unsafe deletion ignores finalizer constraints, skips precondition checks, and removes the object from the storage. WARNING: This may potentially break the cluster if the workload associated with the resource being unsafe-deleted relies on normal deletion flow. Use only if you REALLY know what you are doing. The default value is false, and the user must opt in to enable it",
        ),
        q(
            "orphanDependents",
            Ty::Boolean,
            "Deprecated: please use the PropagationPolicy, this field will be deprecated in 1.7. Should the dependent objects be orphaned. If true/false, the \"orphan\" finalizer will be added to/removed from the object's finalizers list. Either this field or PropagationPolicy may be set, but not both.",
        ),
        q(
            "propagationPolicy",
            Ty::String,
            "Whether and how garbage collection will be performed. Either this field or OrphanDependents may be set, but not both. The default policy is decided by the existing finalizer set in the metadata.finalizers and the resource-specific default policy. Acceptable values are: 'Orphan' - orphan the dependents; 'Background' - allow the garbage collector to delete the dependents in the background; 'Foreground' - a cascading policy that deletes all dependents in the foreground.",
        ),
    ]
}

/// A request body: the schema and the content types accepted.
struct Body {
    schema: String,
    content: Vec<&'static str>,
}

/// One operation.
struct Op {
    method: &'static str,
    id: String,
    description: String,
    action: &'static str,
    gvk: (String, String, String),
    params: Vec<Param>,
    body: Option<Body>,
    /// (code, description, schema)
    responses: Vec<(&'static str, &'static str, String)>,
}

/// A path with its shared parameters and operations.
pub struct PathItem {
    path: String,
    params: Vec<Param>,
    ops: Vec<Op>,
}

/// `apps` -> `AppsV1`, `rbac.authorization.k8s.io` -> `RbacAuthorizationV1`, core -> `CoreV1`:
/// the group-version part of upstream's operation ids.
fn id_prefix(group: &str, version: &str) -> String {
    let g = if group.is_empty() {
        "core"
    } else {
        group.strip_suffix(".k8s.io").unwrap_or(group)
    };
    let mut out: String = g
        .split(['.', '-'])
        .map(capitalize)
        .collect::<Vec<_>>()
        .join("");
    out.push_str(&capitalize(version));
    out
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// `apps_v1`, `core_v1`, `rbacAuthorization_v1`: upstream's operation tag.
fn tag(group: &str, version: &str) -> String {
    let g = if group.is_empty() {
        "core".to_string()
    } else {
        let short = group.strip_suffix(".k8s.io").unwrap_or(group);
        let mut parts = short.split(['.', '-']);
        let first = parts.next().unwrap_or("").to_string();
        first + &parts.map(capitalize).collect::<String>()
    };
    format!("{g}_{version}")
}

/// Every path of one resource version, with `names` the definitions of its kind and list.
pub fn path_items(info: &ResourceInfo, names: &KindNames) -> Vec<PathItem> {
    let prefix = if info.group.is_empty() {
        format!("/api/{}", info.version)
    } else {
        format!("/apis/{}/{}", info.group, info.version)
    };
    let (collection, scope) = if info.namespaced {
        (
            format!("{prefix}/namespaces/{{namespace}}/{}", info.plural),
            "Namespaced",
        )
    } else {
        (format!("{prefix}/{}", info.plural), "")
    };
    let item = format!("{collection}/{{name}}");
    let kind = &info.kind;
    let base = format!("{}{scope}{kind}", id_prefix(&info.group, &info.version));
    let gvk = (info.group.clone(), info.version.clone(), kind.clone());
    let pretty = q("pretty", Ty::String, PRETTY);
    let mut shared = Vec::new();
    if info.namespaced {
        shared.push(path_param("namespace", NAMESPACE.to_string()));
    }
    let mut patch_types = vec![
        "application/json-patch+json",
        "application/merge-patch+json",
    ];
    if info.custom.is_none() {
        patch_types.push("application/strategic-merge-patch+json");
    }
    patch_types.push("application/apply-patch+yaml");
    let op = |method: &'static str,
              verb: &str,
              sub: &str,
              action: &'static str,
              description: String,
              params: Vec<Param>,
              body: Option<Body>,
              responses: Vec<(&'static str, &'static str, String)>,
              gvk: (String, String, String)| Op {
        method,
        id: format!("{verb}{base}{sub}"),
        description,
        action,
        gvk,
        params,
        body,
        responses,
    };
    let ok = |schema: &str| vec![("200", "OK", schema.to_string())];
    let write_responses = |schema: &str| {
        vec![
            ("200", "OK", schema.to_string()),
            ("201", "Created", schema.to_string()),
        ]
    };
    let put_body = |schema: &str| {
        Some(Body {
            schema: schema.to_string(),
            content: vec!["*/*"],
        })
    };
    let patch_body = || {
        Some(Body {
            schema: PATCH.to_string(),
            content: patch_types.clone(),
        })
    };
    let mut out = vec![
        PathItem {
            path: collection.clone(),
            params: [shared.clone(), vec![pretty.clone()]].concat(),
            ops: vec![
                op(
                    "get",
                    "list",
                    "",
                    "list",
                    format!("list or watch objects of kind {kind}"),
                    list_params(),
                    None,
                    ok(&names.list),
                    gvk.clone(),
                ),
                op(
                    "post",
                    "create",
                    "",
                    "post",
                    format!("create {}", article(kind)),
                    write_params(),
                    put_body(&names.kind),
                    [
                        write_responses(&names.kind),
                        vec![("202", "Accepted", names.kind.clone())],
                    ]
                    .concat(),
                    gvk.clone(),
                ),
                op(
                    "delete",
                    "delete",
                    "",
                    "deletecollection",
                    format!("delete collection of {kind}"),
                    [delete_params(), list_params()].concat(),
                    put_body(DELETE_OPTIONS),
                    ok(STATUS),
                    gvk.clone(),
                ),
            ],
        },
        PathItem {
            path: item.clone(),
            params: [
                vec![path_param("name", format!("name of the {kind}"))],
                shared.clone(),
                vec![pretty.clone()],
            ]
            .concat(),
            ops: vec![
                op(
                    "get",
                    "read",
                    "",
                    "get",
                    format!("read the specified {kind}"),
                    vec![],
                    None,
                    ok(&names.kind),
                    gvk.clone(),
                ),
                op(
                    "put",
                    "replace",
                    "",
                    "put",
                    format!("replace the specified {kind}"),
                    write_params(),
                    put_body(&names.kind),
                    write_responses(&names.kind),
                    gvk.clone(),
                ),
                op(
                    "patch",
                    "patch",
                    "",
                    "patch",
                    format!("partially update the specified {kind}"),
                    patch_params(),
                    patch_body(),
                    write_responses(&names.kind),
                    gvk.clone(),
                ),
                op(
                    "delete",
                    "delete",
                    "",
                    "delete",
                    format!("delete {}", article(kind)),
                    delete_params(),
                    put_body(DELETE_OPTIONS),
                    vec![
                        ("200", "OK", STATUS.to_string()),
                        ("202", "Accepted", STATUS.to_string()),
                    ],
                    gvk.clone(),
                ),
            ],
        },
    ];
    // Only the verbs the resource serves (review resources are create-only).
    let served = |action: &str| {
        let verb = match action {
            "post" => "create",
            "put" => "update",
            other => other,
        };
        info.verbs.iter().any(|v| v == verb)
    };
    for item in &mut out {
        item.ops.retain(|o| served(o.action));
    }
    out.retain(|item| !item.ops.is_empty());
    let mut subresource = |name: &str, sub: &str, schema: &str, gvk: (String, String, String)| {
        out.push(PathItem {
            path: format!("{item}/{name}"),
            params: [
                vec![path_param("name", format!("name of the {}", gvk.2))],
                shared.clone(),
                vec![pretty.clone()],
            ]
            .concat(),
            ops: vec![
                op(
                    "get",
                    "read",
                    sub,
                    "get",
                    format!("read {name} of the specified {kind}"),
                    vec![],
                    None,
                    ok(schema),
                    gvk.clone(),
                ),
                op(
                    "put",
                    "replace",
                    sub,
                    "put",
                    format!("replace {name} of the specified {kind}"),
                    write_params(),
                    put_body(schema),
                    write_responses(schema),
                    gvk.clone(),
                ),
                op(
                    "patch",
                    "patch",
                    sub,
                    "patch",
                    format!("partially update {name} of the specified {kind}"),
                    patch_params(),
                    patch_body(),
                    write_responses(schema),
                    gvk,
                ),
            ],
        });
    };
    if info.subresources.status {
        subresource("status", "Status", &names.kind, gvk.clone());
    }
    if info.subresources.scale.is_some() {
        let scale_gvk = (
            "autoscaling".to_string(),
            "v1".to_string(),
            "Scale".to_string(),
        );
        subresource("scale", "Scale", SCALE, scale_gvk);
    }
    if info.namespaced && served("list") {
        out.push(PathItem {
            path: format!("{prefix}/{}", info.plural),
            params: vec![pretty],
            ops: vec![Op {
                method: "get",
                id: format!(
                    "list{}{kind}ForAllNamespaces",
                    id_prefix(&info.group, &info.version)
                ),
                description: format!("list or watch objects of kind {kind}"),
                action: "list",
                gvk,
                params: list_params(),
                body: None,
                responses: ok(&names.list),
            }],
        });
    }
    out
}

/// `a Deployment`, `an Ingress`.
fn article(kind: &str) -> String {
    let vowel = kind
        .chars()
        .next()
        .is_some_and(|c| "AEIOU".contains(c.to_ascii_uppercase()));
    format!("{} {kind}", if vowel { "an" } else { "a" })
}

fn gvk_value(gvk: &(String, String, String)) -> Value {
    json!({"group": gvk.0, "kind": gvk.2, "version": gvk.1})
}

const PRODUCES: &[&str] = &["application/json", "application/yaml"];

fn v3_param(p: &Param) -> Value {
    let mut v = json!({
        "name": p.name,
        "in": if p.path { "path" } else { "query" },
        "description": p.description,
        "schema": {"type": p.ty.name(), "uniqueItems": true},
    });
    if p.path {
        v["required"] = json!(true);
    }
    v
}

fn v3_ref(schema: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{schema}")})
}

/// The `paths` object of an OpenAPI v3 document.
pub fn v3_paths(items: &[PathItem]) -> Map<String, Value> {
    let mut out = Map::new();
    for item in items {
        let mut path = Map::new();
        for op in &item.ops {
            let mut responses = Map::new();
            for (code, description, schema) in &op.responses {
                let content: Map<String, Value> = PRODUCES
                    .iter()
                    .map(|t| (t.to_string(), json!({"schema": v3_ref(schema)})))
                    .collect();
                responses.insert(
                    code.to_string(),
                    json!({"description": description, "content": content}),
                );
            }
            responses.insert("401".into(), json!({"description": "Unauthorized"}));
            let mut o = json!({
                "tags": [tag(&op.gvk.0, &op.gvk.1)],
                "description": op.description,
                "operationId": op.id,
                "parameters": op.params.iter().map(v3_param).collect::<Vec<_>>(),
                "responses": responses,
                "x-kubernetes-action": op.action,
                "x-kubernetes-group-version-kind": gvk_value(&op.gvk),
            });
            if let Some(body) = &op.body {
                let content: Map<String, Value> = body
                    .content
                    .iter()
                    .map(|t| (t.to_string(), json!({"schema": v3_ref(&body.schema)})))
                    .collect();
                o["requestBody"] = json!({"content": content, "required": op.method != "delete"});
            }
            path.insert(op.method.to_string(), o);
        }
        path.insert(
            "parameters".into(),
            Value::Array(item.params.iter().map(v3_param).collect()),
        );
        out.insert(item.path.clone(), Value::Object(path));
    }
    out
}

fn v2_param(p: &Param) -> Value {
    let mut v = json!({
        "uniqueItems": true,
        "type": p.ty.name(),
        "description": p.description,
        "name": p.name,
        "in": if p.path { "path" } else { "query" },
    });
    if p.path {
        v["required"] = json!(true);
    }
    v
}

fn v2_ref(schema: &str) -> Value {
    json!({"$ref": format!("#/definitions/{schema}")})
}

/// The `paths` object of an OpenAPI v2 (swagger) document.
pub fn v2_paths(items: &[PathItem]) -> Map<String, Value> {
    let mut out = Map::new();
    for item in items {
        let mut path = Map::new();
        for op in &item.ops {
            let mut responses = Map::new();
            for (code, description, schema) in &op.responses {
                responses.insert(
                    code.to_string(),
                    json!({"description": description, "schema": v2_ref(schema)}),
                );
            }
            responses.insert("401".into(), json!({"description": "Unauthorized"}));
            let mut params = Vec::new();
            if let Some(body) = &op.body {
                params.push(json!({
                    "name": "body",
                    "in": "body",
                    "required": op.method != "delete",
                    "schema": v2_ref(&body.schema),
                }));
            }
            params.extend(op.params.iter().map(v2_param));
            let mut o = json!({
                "description": op.description,
                "operationId": op.id,
                "produces": PRODUCES,
                "schemes": ["https"],
                "tags": [tag(&op.gvk.0, &op.gvk.1)],
                "parameters": params,
                "responses": responses,
                "x-kubernetes-action": op.action,
                "x-kubernetes-group-version-kind": gvk_value(&op.gvk),
            });
            o["consumes"] = match &op.body {
                Some(body) => json!(body.content),
                None => json!(["*/*"]),
            };
            path.insert(op.method.to_string(), o);
        }
        path.insert(
            "parameters".into(),
            Value::Array(item.params.iter().map(v2_param).collect()),
        );
        out.insert(item.path.clone(), Value::Object(path));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::openapi::schemas::Catalog;
    use krust_api::Registry;

    #[test]
    fn operation_ids_and_tags_follow_upstream() {
        assert_eq!(id_prefix("", "v1"), "CoreV1");
        assert_eq!(id_prefix("apps", "v1beta1"), "AppsV1beta1");
        assert_eq!(
            id_prefix("rbac.authorization.k8s.io", "v1"),
            "RbacAuthorizationV1"
        );
        assert_eq!(id_prefix("stable.example.com", "v1"), "StableExampleComV1");
        assert_eq!(
            tag("rbac.authorization.k8s.io", "v1"),
            "rbacAuthorization_v1"
        );
        assert_eq!(tag("", "v1"), "core_v1");
        assert_eq!(article("Ingress"), "an Ingress");
    }

    #[test]
    fn deployment_paths() {
        let r = Registry::builtin();
        let info = r.get("apps", "v1", "deployments").unwrap();
        let names = Catalog::new().add(&info);
        let items = path_items(&info, &names);
        let v3 = v3_paths(&items);
        let item = &v3["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"];
        assert_eq!(item["get"]["operationId"], "readAppsV1NamespacedDeployment");
        let patch = &item["patch"];
        let params: Vec<&str> = patch["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            params,
            ["dryRun", "fieldManager", "fieldValidation", "force"]
        );
        let content = patch["requestBody"]["content"].as_object().unwrap();
        assert!(content.contains_key("application/strategic-merge-patch+json"));
        assert!(content.contains_key("application/apply-patch+yaml"));
        assert_eq!(
            item["put"]["requestBody"]["content"]["*/*"]["schema"]["$ref"],
            "#/components/schemas/io.k8s.api.apps.v1.Deployment"
        );
        let scale = &v3["/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale"];
        assert_eq!(
            scale["patch"]["x-kubernetes-group-version-kind"]["kind"],
            "Scale"
        );
        assert!(v3.contains_key("/apis/apps/v1/deployments"));
        let review = r
            .get("authorization.k8s.io", "v1", "selfsubjectaccessreviews")
            .unwrap();
        let review_paths = v3_paths(&path_items(&review, &Catalog::new().add(&review)));
        let keys: Vec<&String> = review_paths.keys().collect();
        assert_eq!(
            keys,
            ["/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"]
        );
        let ops: Vec<&String> = review_paths[keys[0].as_str()]
            .as_object()
            .unwrap()
            .keys()
            .collect();
        assert_eq!(ops, ["parameters", "post"]);
        let v2 = v2_paths(&items);
        let p2 = &v2["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"];
        assert_eq!(p2["consumes"].as_array().unwrap().len(), 4);
        assert_eq!(p2["parameters"][0]["in"], "body");
    }
}
