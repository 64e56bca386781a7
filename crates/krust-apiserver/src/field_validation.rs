//! Server-side field validation: the `fieldValidation` query parameter of create, update and
//! patch. Unknown fields (not in the kind's schema) and duplicate fields (a key repeated in
//! one JSON object of the request body) are reported as upstream words them —
//! `unknown field "spec.foo"`, `duplicate field "metadata.name"` — and, like upstream's typed
//! decoding and CRD pruning, unknown fields are dropped from the object.
//!
//! `Strict` turns the reports into a 400 `strict decoding error`, `Warn` (the default when
//! the parameter is absent) into `Warning` headers, and `Ignore` drops them silently.

use crate::status::ApiError;
use krust_api::openapi as defs;
use krust_api::{FieldError, ResourceInfo};
use serde_json::{Map, Value, json};
use std::collections::{HashMap, HashSet};

const OBJECT_META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta";

/// What to do with unknown and duplicate fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum FieldValidation {
    /// Drop them silently.
    Ignore,
    /// Drop them and send one `Warning` header per problem (upstream's default).
    #[default]
    Warn,
    /// Fail the request with 400 BadRequest naming every problem.
    Strict,
}

impl FieldValidation {
    /// The directive of the `fieldValidation` query parameter (absent or empty = `Warn`).
    /// Values other than `Ignore`, `Warn` and `Strict` (case-sensitive) are rejected as upstream
    /// does for a create (`CreateOptions`); use [`FieldValidation::from_query_for`] to name
    /// the options of an update or patch.
    pub fn from_query(v: Option<&str>) -> Result<Self, ApiError> {
        Self::from_query_for(v, "CreateOptions")
    }

    /// As [`FieldValidation::from_query`], naming `options_kind` (`CreateOptions`,
    /// `UpdateOptions` or `PatchOptions`) in the error: a 422 Invalid
    /// `CreateOptions.meta.k8s.io "" is invalid: fieldValidation: Unsupported value: "x": supported values: "", "Ignore", "Strict", "Warn"`.
    pub fn from_query_for(v: Option<&str>, options_kind: &str) -> Result<Self, ApiError> {
        match v.unwrap_or("") {
            "" | "Warn" => Ok(FieldValidation::Warn),
            "Ignore" => Ok(FieldValidation::Ignore),
            "Strict" => Ok(FieldValidation::Strict),
            other => Err(ApiError::invalid_kind(
                &format!("{options_kind}.meta.k8s.io"),
                "meta.k8s.io",
                options_kind,
                "",
                &[FieldError::not_supported(
                    "fieldValidation",
                    json!(other),
                    &["", "Ignore", "Strict", "Warn"],
                )],
            )),
        }
    }

    /// Applies the directive to the problems of a create or update of `kind` at `version`:
    /// `Strict` with problems fails with [`strict_error`]; `Warn` returns them as warnings;
    /// `Ignore` returns nothing.
    pub fn outcome(
        self,
        problems: Vec<String>,
        kind: &str,
        version: &str,
    ) -> Result<Vec<String>, ApiError> {
        match self {
            FieldValidation::Strict if !problems.is_empty() => {
                Err(strict_error(kind, version, &problems))
            }
            FieldValidation::Warn => Ok(problems),
            _ => Ok(Vec::new()),
        }
    }
}

/// `strict decoding error: unknown field "spec.foo", duplicate field "metadata.name"`.
pub fn strict_message(problems: &[String]) -> String {
    format!("strict decoding error: {}", problems.join(", "))
}

/// The 400 of a strict create or update:
/// `Deployment in version "v1" cannot be handled as a Deployment: strict decoding error: ...`.
pub fn strict_error(kind: &str, version: &str, problems: &[String]) -> ApiError {
    ApiError::bad_request(format!(
        "{kind} in version \"{version}\" cannot be handled as a {kind}: {}",
        strict_message(problems)
    ))
}

/// The 422 of a strict patch, as upstream's patch handler words it:
/// ` "" is invalid: patch: Invalid value: "map[spec:map[foo:1]]": strict decoding error: ...`.
pub fn strict_patch_error(patch: &Value, problems: &[String]) -> ApiError {
    ApiError::invalid_kind(
        "",
        "",
        "",
        "",
        &[FieldError::invalid(
            "patch",
            json!(go_map_text(patch)),
            strict_message(problems),
        )],
    )
}

/// Go's `%+v` of a decoded JSON value (`map[a:1 b:[x y]]`), as upstream prints a patch.
pub fn go_map_text(v: &Value) -> String {
    match v {
        Value::Null => "<nil>".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        Value::Array(a) => format!(
            "[{}]",
            a.iter().map(go_map_text).collect::<Vec<_>>().join(" ")
        ),
        Value::Object(m) => format!(
            "map[{}]",
            m.iter()
                .map(|(k, x)| format!("{k}:{}", go_map_text(x)))
                .collect::<Vec<_>>()
                .join(" ")
        ),
    }
}

/// The schema objects of `info` are checked against: the kind's definition, or a custom
/// resource's `openAPIV3Schema`.
pub fn schema_for(info: &ResourceInfo) -> Option<std::sync::Arc<Value>> {
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex, OnceLock};
    if info.custom.is_some() {
        return crate::openapi::kind_schema(info).map(Arc::new);
    }
    // Built-in schemas never change: build each once.
    type Cache = Mutex<HashMap<(String, String, String), Option<Arc<Value>>>>;
    static CACHE: OnceLock<Cache> = OnceLock::new();
    let key = (info.group.clone(), info.version.clone(), info.kind.clone());
    let cache = CACHE.get_or_init(Cache::default);
    if let Some(hit) = cache
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .get(&key)
    {
        return hit.clone();
    }
    let built = crate::openapi::kind_schema(info).map(Arc::new);
    cache
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .insert(key, built.clone());
    built
}

/// Unknown fields of `obj` against `schema` (a definition from the built-in OpenAPI
/// definitions, or a CRD's `openAPIV3Schema`), removing them from `obj`; plus the duplicate
/// fields of the raw JSON request body `raw` (if given). Messages are `unknown field "spec.foo"`
/// and `duplicate field "metadata.name"`, in the order they appear in the body.
///
/// Honoured: `x-kubernetes-preserve-unknown-fields`, `x-kubernetes-int-or-string`,
/// `x-kubernetes-embedded-resource` (apiVersion, kind and metadata allowed), maps
/// (`additionalProperties`). `apiVersion` and `kind` are always allowed at the root and
/// `metadata` is checked against ObjectMeta. In a CRD schema an object without properties
/// keeps nothing unless it preserves unknown fields (structural pruning); in a built-in
/// definition such an object (RawExtension, FieldsV1) is free-form. Without a schema nothing
/// is unknown.
pub fn check_and_prune(obj: &mut Value, schema: Option<&Value>, raw: Option<&[u8]>) -> Vec<String> {
    let mut unknown = Vec::new();
    if let Some(schema) = schema {
        let mode = if is_definition(schema) {
            Mode::Definitions
        } else {
            Mode::Crd
        };
        let mut path = String::new();
        walk(
            obj,
            schema,
            mode,
            Position::Root,
            &mut path,
            &mut unknown,
            0,
        );
    }
    let scan = raw.map(scan_json).unwrap_or_default();
    let mut problems: Vec<(usize, usize, String)> = Vec::new();
    for (i, p) in unknown.iter().enumerate() {
        let at = scan.first_seen.get(p).copied().unwrap_or(usize::MAX);
        problems.push((at, i, format!("unknown field \"{p}\"")));
    }
    let base = unknown.len();
    for (i, (at, p)) in scan.duplicates.iter().enumerate() {
        problems.push((*at, base + i, format!("duplicate field \"{p}\"")));
    }
    problems.sort();
    problems.into_iter().map(|(_, _, m)| m).collect()
}

/// The paths of fields not in `schema` (`spec.foo`, `spec.ports[0].bar`), dropped from `obj`
/// as [`check_and_prune`] drops them.
pub fn prune_unknown(obj: &mut Value, schema: &Value) -> Vec<String> {
    let mode = if is_definition(schema) {
        Mode::Definitions
    } else {
        Mode::Crd
    };
    let mut unknown = Vec::new();
    let mut path = String::new();
    walk(
        obj,
        schema,
        mode,
        Position::Root,
        &mut path,
        &mut unknown,
        0,
    );
    unknown
}

/// The error of a server-side apply whose configuration has fields the schema does not
/// declare, as upstream's typed patch conversion words it (a 500 without a reason):
/// `failed to create typed patch object (ns/name; apps/v1, Kind=Deployment): .spec.foo: field not declared in schema`.
/// List items are named by index (`[0]`), where upstream names keyed items by their keys.
pub fn apply_unknown_error(
    info: &ResourceInfo,
    namespace: &str,
    name: &str,
    paths: &[String],
) -> ApiError {
    let errors: Vec<String> = paths
        .iter()
        .map(|p| format!(".{p}: field not declared in schema"))
        .collect();
    let detail = match errors.as_slice() {
        [one] => one.clone(),
        many => format!("errors:\n  {}", many.join("\n  ")),
    };
    ApiError::new(
        500,
        "",
        format!(
            "failed to create typed patch object ({namespace}/{name}; {}, Kind={}): {detail}",
            info.api_version(),
            info.kind
        ),
    )
}

/// `line 11: key "foo" already set in map`: the first repeated key of a YAML apply
/// configuration, as go-yaml's strict decoding reports it, or `None` when `body` has none
/// (or is not YAML).
pub fn yaml_duplicate(body: &[u8]) -> Option<String> {
    let err = serde_saphyr::from_slice::<Value>(body).err()?;
    match err.without_snippet() {
        serde_saphyr::Error::DuplicateMappingKey { key, location } => Some(format!(
            "line {}: key \"{}\" already set in map",
            location.line(),
            key.as_deref().unwrap_or_default()
        )),
        _ => None,
    }
}

/// Parses a YAML apply configuration, the last of repeated keys winning (as go-yaml's
/// non-strict decoding); repeated keys are reported by [`yaml_duplicate`].
pub fn parse_apply_yaml(body: &[u8]) -> Result<Value, serde_saphyr::Error> {
    let mut options = serde_saphyr::Options::default();
    options.duplicate_keys = serde_saphyr::DuplicateKeyPolicy::LastWins;
    serde_saphyr::from_slice_with_options(body, options)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Built-in definitions (`$ref`s into the definitions).
    Definitions,
    /// A CRD's structural schema.
    Crd,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Position {
    /// The object itself: apiVersion and kind allowed, metadata is ObjectMeta.
    Root,
    /// An embedded resource (same as the root).
    Embedded,
    Nested,
}

/// Whether a schema is a built-in definition (tagged with its group-version-kind, or
/// referencing other definitions) rather than a CRD schema.
fn is_definition(schema: &Value) -> bool {
    if schema.get("x-kubernetes-group-version-kind").is_some() || schema.get("$ref").is_some() {
        return true;
    }
    schema
        .get("properties")
        .and_then(Value::as_object)
        .is_some_and(|p| {
            p.values()
                .any(|s| s.get("$ref").is_some() || s.get("allOf").is_some())
        })
}

fn child_path(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

const MAX_DEPTH: usize = 256;

fn flag(s: &Value, k: &str) -> bool {
    s.get(k).and_then(Value::as_bool) == Some(true)
}

fn walk(
    v: &mut Value,
    schema: &Value,
    mode: Mode,
    position: Position,
    path: &mut String,
    out: &mut Vec<String>,
    depth: usize,
) {
    if depth > MAX_DEPTH {
        return;
    }
    let s = defs::resolve(schema);
    if flag(s, "x-kubernetes-int-or-string") {
        return;
    }
    let position = if position == Position::Nested && flag(s, "x-kubernetes-embedded-resource") {
        Position::Embedded
    } else {
        position
    };
    match v {
        Value::Object(map) => walk_object(map, s, mode, position, path, out, depth),
        Value::Array(items) => {
            let Some(item_schema) = s.get("items").filter(|i| i.is_object()) else {
                return;
            };
            let base = path.clone();
            for (i, x) in items.iter_mut().enumerate() {
                *path = format!("{base}[{i}]");
                walk(x, item_schema, mode, Position::Nested, path, out, depth + 1);
            }
            *path = base;
        }
        _ => {}
    }
}

fn walk_object(
    map: &mut Map<String, Value>,
    s: &Value,
    mode: Mode,
    position: Position,
    path: &mut String,
    out: &mut Vec<String>,
    depth: usize,
) {
    let props = s.get("properties").and_then(Value::as_object);
    let additional = s.get("additionalProperties");
    let map_values = additional.filter(|a| a.is_object());
    let preserve = flag(s, "x-kubernetes-preserve-unknown-fields")
        || additional.and_then(Value::as_bool) == Some(true);
    let resource = position != Position::Nested;
    if props.is_none() && map_values.is_none() && !resource {
        // Free-form in a built-in definition; pruned entirely in a CRD unless preserved.
        if mode == Mode::Definitions || preserve || s.get("type").is_some_and(|t| t != "object") {
            return;
        }
    }
    let object_meta = defs::definition(OBJECT_META);
    // A built-in kind's own `metadata` (ObjectMeta, or ListMeta for lists); CRD schemas only
    // ever constrain ObjectMeta further, so their objects are checked against ObjectMeta.
    let own_metadata = mode == Mode::Definitions
        && position == Position::Root
        && props.is_some_and(|p| p.contains_key("metadata"));
    let base = path.clone();
    let mut remove = Vec::new();
    for (key, value) in map.iter_mut() {
        let child = child_path(&base, key);
        let mut sub_mode = mode;
        let sub = if resource && (key == "apiVersion" || key == "kind") {
            None
        } else if resource && key == "metadata" && object_meta.is_some() && !own_metadata {
            // ObjectMeta is a built-in definition even inside a CRD schema (its FieldsV1
            // and similar members are free-form, not pruned).
            sub_mode = Mode::Definitions;
            object_meta
        } else if let Some(p) = props.and_then(|p| p.get(key)) {
            Some(p)
        } else if let Some(m) = map_values {
            Some(m)
        } else if preserve || (resource && props.is_none() && mode == Mode::Definitions) {
            None
        } else {
            remove.push(key.clone());
            out.push(child);
            continue;
        };
        if let Some(sub) = sub {
            *path = child;
            walk(value, sub, sub_mode, Position::Nested, path, out, depth + 1);
        }
    }
    *path = base;
    for k in remove {
        map.remove(&k);
    }
}

/// What the raw-body scan found: the first byte offset of every key path, and the duplicate
/// keys with their offsets.
#[derive(Default)]
struct Scan {
    first_seen: HashMap<String, usize>,
    duplicates: Vec<(usize, String)>,
}

/// A small JSON scanner over the raw request body that records key paths (in the same
/// `a.b[0].c` form as the unknown-field paths) and duplicate keys. It never panics: on
/// malformed input or excessive nesting it stops and keeps what it found so far.
struct Scanner<'a> {
    b: &'a [u8],
    i: usize,
    scan: Scan,
}

impl Scanner<'_> {
    fn ws(&mut self) {
        while self.i < self.b.len() && matches!(self.b[self.i], b' ' | b'\t' | b'\n' | b'\r') {
            self.i += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn eat(&mut self, c: u8) -> Option<()> {
        self.ws();
        if self.peek() == Some(c) {
            self.i += 1;
            Some(())
        } else {
            None
        }
    }

    fn hex4(&mut self) -> Option<u32> {
        let digits = self.b.get(self.i..self.i + 4)?;
        let text = std::str::from_utf8(digits).ok()?;
        let v = u32::from_str_radix(text, 16).ok()?;
        self.i += 4;
        Some(v)
    }

    /// A string starting at the opening quote, unescaped.
    fn string(&mut self) -> Option<String> {
        self.ws();
        if self.peek() != Some(b'"') {
            return None;
        }
        self.i += 1;
        let mut out: Vec<u8> = Vec::new();
        loop {
            let c = self.peek()?;
            self.i += 1;
            match c {
                b'"' => return Some(String::from_utf8_lossy(&out).into_owned()),
                b'\\' => {
                    let e = self.peek()?;
                    self.i += 1;
                    match e {
                        b'"' | b'\\' | b'/' => out.push(e),
                        b'b' => out.push(8),
                        b'f' => out.push(12),
                        b'n' => out.push(b'\n'),
                        b'r' => out.push(b'\r'),
                        b't' => out.push(b'\t'),
                        b'u' => {
                            let mut cp = self.hex4()?;
                            if (0xD800..0xDC00).contains(&cp)
                                && self.b.get(self.i..self.i + 2) == Some(b"\\u")
                            {
                                let save = self.i;
                                self.i += 2;
                                match self.hex4() {
                                    Some(lo) if (0xDC00..0xE000).contains(&lo) => {
                                        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                                    }
                                    _ => self.i = save,
                                }
                            }
                            let ch = char::from_u32(cp).unwrap_or('\u{FFFD}');
                            let mut buf = [0u8; 4];
                            out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                        }
                        _ => return None,
                    }
                }
                _ => out.push(c),
            }
        }
    }

    fn scalar(&mut self) -> Option<()> {
        let start = self.i;
        while self.i < self.b.len()
            && !matches!(
                self.b[self.i],
                b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r'
            )
        {
            self.i += 1;
        }
        (self.i > start).then_some(())
    }

    fn value(&mut self, path: &str, depth: usize) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.ws();
        match self.peek()? {
            b'{' => {
                self.i += 1;
                let mut seen: HashSet<String> = HashSet::new();
                if self.eat(b'}').is_some() {
                    return Some(());
                }
                loop {
                    self.ws();
                    let at = self.i;
                    let key = self.string()?;
                    let child = child_path(path, &key);
                    if !seen.insert(key) {
                        self.scan.duplicates.push((at, child.clone()));
                    }
                    self.scan.first_seen.entry(child.clone()).or_insert(at);
                    self.eat(b':')?;
                    self.value(&child, depth + 1)?;
                    self.ws();
                    match self.peek()? {
                        b',' => self.i += 1,
                        b'}' => {
                            self.i += 1;
                            return Some(());
                        }
                        _ => return None,
                    }
                }
            }
            b'[' => {
                self.i += 1;
                if self.eat(b']').is_some() {
                    return Some(());
                }
                let mut index = 0usize;
                loop {
                    self.value(&format!("{path}[{index}]"), depth + 1)?;
                    index += 1;
                    self.ws();
                    match self.peek()? {
                        b',' => self.i += 1,
                        b']' => {
                            self.i += 1;
                            return Some(());
                        }
                        _ => return None,
                    }
                }
            }
            b'"' => self.string().map(|_| ()),
            _ => self.scalar(),
        }
    }
}

fn scan_json(raw: &[u8]) -> Scan {
    let mut s = Scanner {
        b: raw,
        i: 0,
        scan: Scan::default(),
    };
    let _ = s.value("", 0);
    s.scan
}

#[cfg(test)]
mod tests {
    use super::*;
    use krust_api::Registry;

    fn deployment_schema() -> Value {
        let r = Registry::builtin();
        schema_for(&r.get("apps", "v1", "deployments").unwrap())
            .unwrap()
            .as_ref()
            .clone()
    }

    fn check(body: &str, schema: &Value) -> (Value, Vec<String>) {
        let mut obj: Value = serde_json::from_str(body).unwrap();
        let problems = check_and_prune(&mut obj, Some(schema), Some(body.as_bytes()));
        (obj, problems)
    }

    #[test]
    fn directive_parsing() {
        assert_eq!(
            FieldValidation::from_query(None).unwrap(),
            FieldValidation::Warn
        );
        assert_eq!(
            FieldValidation::from_query(Some("")).unwrap(),
            FieldValidation::Warn
        );
        assert_eq!(
            FieldValidation::from_query(Some("Strict")).unwrap(),
            FieldValidation::Strict
        );
        assert_eq!(
            FieldValidation::from_query(Some("Ignore")).unwrap(),
            FieldValidation::Ignore
        );
        let e = FieldValidation::from_query_for(Some("strict"), "PatchOptions").unwrap_err();
        assert_eq!(e.code, 422);
        assert_eq!(
            e.message,
            "PatchOptions.meta.k8s.io \"\" is invalid: fieldValidation: Unsupported value: \"strict\": supported values: \"\", \"Ignore\", \"Strict\", \"Warn\""
        );
    }

    #[test]
    fn unknown_fields_in_a_deployment_are_reported_in_body_order_and_pruned() {
        let body = r#"{"apiVersion":"apps/v1","kind":"Deployment",
            "metadata":{"name":"web","bogus":1,"labels":{"app":"web"}},
            "spec":{"replicas":1,"foo":true,"selector":{"matchLabels":{"app":"web"}},
              "strategy":{"type":"RollingUpdate","rollingUpdate":{"maxSurge":"25%"}},
              "template":{"metadata":{"labels":{"app":"web"}},"spec":{"containers":[
                {"name":"a","image":"nginx","ports":[{"containerPort":80,"hostIP2":"x"}],
                 "resources":{"limits":{"cpu":"1"}}},
                {"name":"b","image":"nginx","imagePullPolice":"Always"}]}}},
            "status":{"replicas":0}}"#;
        let (obj, problems) = check(body, &deployment_schema());
        assert_eq!(
            problems,
            [
                "unknown field \"metadata.bogus\"",
                "unknown field \"spec.foo\"",
                "unknown field \"spec.template.spec.containers[0].ports[0].hostIP2\"",
                "unknown field \"spec.template.spec.containers[1].imagePullPolice\"",
            ]
        );
        assert!(obj["metadata"].get("bogus").is_none());
        assert!(obj["spec"].get("foo").is_none());
        assert_eq!(
            obj["spec"]["template"]["spec"]["containers"][1]["image"],
            "nginx"
        );
        assert!(
            obj["spec"]["template"]["spec"]["containers"][1]
                .get("imagePullPolice")
                .is_none()
        );
        assert_eq!(obj["spec"]["strategy"]["rollingUpdate"]["maxSurge"], "25%");
    }

    #[test]
    fn duplicate_fields_are_reported() {
        let body = r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a","name":"b"},
            "data":{"k":"1","k":"2"},"foo":1}"#;
        let r = Registry::builtin();
        let schema = schema_for(&r.get("", "v1", "configmaps").unwrap()).unwrap();
        let (obj, problems) = check(body, &schema);
        assert_eq!(
            problems,
            [
                "duplicate field \"metadata.name\"",
                "duplicate field \"data.k\"",
                "unknown field \"foo\"",
            ]
        );
        assert_eq!(obj["metadata"]["name"], "b");
        assert_eq!(
            strict_message(&problems),
            "strict decoding error: duplicate field \"metadata.name\", duplicate field \"data.k\", unknown field \"foo\""
        );
    }

    #[test]
    fn free_form_fields_of_builtins_are_not_unknown() {
        let body = r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p",
            "managedFields":[{"manager":"m","fieldsV1":{"f:spec":{"f:x":{}}}}]},
            "spec":{"containers":[{"name":"c","image":"i","ports":[{"containerPort":"80"}]}]}}"#;
        let r = Registry::builtin();
        let schema = schema_for(&r.get("", "v1", "pods").unwrap()).unwrap();
        let (_, problems) = check(body, &schema);
        assert!(problems.is_empty(), "{problems:?}");
    }

    #[test]
    fn lists_keep_their_list_metadata() {
        let schema = defs::definition("io.k8s.api.core.v1.ConfigMapList").unwrap();
        let body = r#"{"apiVersion":"v1","kind":"ConfigMapList","metadata":{"continue":"x","remainingItemCount":1,"nope":1},"items":[]}"#;
        let (_, problems) = check(body, schema);
        assert_eq!(problems, ["unknown field \"metadata.nope\""]);
    }

    #[test]
    fn crd_schemas_prune_structurally() {
        let schema = json!({
            "type": "object",
            "properties": {
                "spec": {
                    "type": "object",
                    "properties": {
                        "cronSpec": {"type": "string"},
                        "port": {"x-kubernetes-int-or-string": true},
                        "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                        "tags": {"type": "object", "additionalProperties": {"type": "object", "properties": {"v": {"type": "string"}}}},
                        "items": {"type": "array", "items": {"type": "object", "properties": {"n": {"type": "integer"}}}},
                        "template": {"type": "object", "x-kubernetes-embedded-resource": true, "properties": {"spec": {"type": "object"}}},
                        "closed": {"type": "object"},
                    },
                },
            },
        });
        let body = r#"{"apiVersion":"stable.example.com/v1","kind":"CronTab",
            "metadata":{"name":"x","unknownMeta":1},
            "spec":{"cronSpec":"* * * * *","port":80,"free":{"a":{"b":1}},
              "tags":{"t1":{"v":"x","w":"y"}},"items":[{"n":1,"m":2}],
              "template":{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","zzz":1},"spec":{"a":1}},
              "closed":{"gone":1},"extra":1},
            "top":1}"#;
        let (obj, problems) = check(body, &schema);
        assert_eq!(
            problems,
            [
                "unknown field \"metadata.unknownMeta\"",
                "unknown field \"spec.tags.t1.w\"",
                "unknown field \"spec.items[0].m\"",
                "unknown field \"spec.template.metadata.zzz\"",
                "unknown field \"spec.template.spec.a\"",
                "unknown field \"spec.closed.gone\"",
                "unknown field \"spec.extra\"",
                "unknown field \"top\"",
            ]
        );
        assert_eq!(obj["spec"]["free"]["a"]["b"], 1);
        assert_eq!(obj["spec"]["closed"], json!({}));
        assert_eq!(obj["spec"]["template"]["kind"], "Pod");
    }

    #[test]
    fn without_schema_or_raw_body() {
        let mut obj = json!({"a": 1});
        assert!(check_and_prune(&mut obj, None, None).is_empty());
        assert!(check_and_prune(&mut obj, None, Some(b"{\"a\":1,\"a\":2}")).len() == 1);
        // YAML or garbage never panics and finds nothing.
        for raw in [
            &b"a: 1\na: 2"[..],
            b"{\"a\":",
            b"{\"\\u12",
            b"[[[[",
            b"",
            b"\xff\xfe",
        ] {
            let _ = check_and_prune(&mut obj, None, Some(raw));
        }
        let deep = "[".repeat(100_000);
        let _ = check_and_prune(&mut obj, None, Some(deep.as_bytes()));
    }

    #[test]
    fn escaped_keys_are_compared_unescaped() {
        let body = br#"{"a\u0062":1,"ab":2,"\ud83d\ude00":1,"x":[{"k":1,"k":2}]}"#;
        let scan = scan_json(body);
        let dups: Vec<&str> = scan.duplicates.iter().map(|(_, p)| p.as_str()).collect();
        assert_eq!(dups, ["ab", "x[0].k"]);
    }

    #[test]
    fn outcomes() {
        let problems = vec!["unknown field \"spec.foo\"".to_string()];
        let e = FieldValidation::Strict
            .outcome(problems.clone(), "Deployment", "v1")
            .unwrap_err();
        assert_eq!(e.code, 400);
        assert_eq!(
            e.message,
            "Deployment in version \"v1\" cannot be handled as a Deployment: strict decoding error: unknown field \"spec.foo\""
        );
        assert_eq!(
            FieldValidation::Warn
                .outcome(problems.clone(), "D", "v1")
                .unwrap(),
            problems
        );
        assert!(
            FieldValidation::Ignore
                .outcome(problems.clone(), "D", "v1")
                .unwrap()
                .is_empty()
        );
        assert!(
            FieldValidation::Strict
                .outcome(vec![], "D", "v1")
                .unwrap()
                .is_empty()
        );
        let pe = strict_patch_error(&json!({"spec": {"foo": 1, "l": ["a", "b"]}}), &problems);
        assert_eq!(
            pe.message,
            " \"\" is invalid: patch: Invalid value: \"map[spec:map[foo:1 l:[a b]]]\": strict decoding error: unknown field \"spec.foo\""
        );
    }
}
