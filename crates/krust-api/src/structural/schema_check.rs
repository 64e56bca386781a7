//! Validation of a CRD's `openAPIV3Schema`, in upstream's order: the generic OpenAPI checks
//! (`ValidateCustomResourceDefinitionOpenAPISchema` with the v1 options), then the structural
//! rules (`schema.ValidateStructural`, errors sorted as upstream sorts them), then — when the
//! schema is structural — the defaults (`defaulting.ValidateDefaults`).

use super::MAX_DEPTH;
use super::node::{Additional, Node, is_meta_field};
use super::prune::prune_structural;
use super::validate::{Validator, compile, embedded_resources};
use crate::field_error::{FieldError, Path};
use serde_json::{Value, json};

const OPENAPI_TYPES: [&str; 6] = ["array", "boolean", "integer", "number", "object", "string"];

pub(super) fn validate_schema(schema: &Value, prefix: &str) -> Vec<FieldError> {
    let root = Path::new(prefix);
    let mut errs = Vec::new();
    let Some(s) = Node::of(schema) else {
        errs.push(FieldError::invalid(
            prefix,
            schema.clone(),
            format!(
                "json: cannot unmarshal {} into Go value of type v1.JSONSchemaProps",
                json_kind(schema)
            ),
        ));
        return errs;
    };
    if s.nullable() {
        errs.push(FieldError::forbidden(
            root.child("nullable"),
            "nullable cannot be true at the root",
        ));
    }
    let mut too_deep = false;
    generic(&mut errs, s, &root, &Ssv::default(), true, 0, &mut too_deep);
    if too_deep {
        return errs;
    }
    if let Some(msg) = unsupported(s, 0) {
        if errs.is_empty() {
            errs.push(FieldError::invalid(prefix, json!(""), msg));
        }
        return errs;
    }
    let mut structural = Vec::new();
    invariants(&mut structural, s, Level::Root, &root, 0);
    completeness(&mut structural, s, &root);
    if structural.is_empty() {
        defaults(&mut errs, s, true, &root, false, 0);
    } else {
        structural.sort_by_cached_key(ToString::to_string);
        errs.extend(structural);
    }
    errs
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

// --- generic checks -------------------------------------------------------------------------

/// `specStandardValidatorV3`'s state: whether defaults are allowed here (and why not), and
/// whether this schema applies to a resource's type or object meta.
#[derive(Clone)]
struct Ssv {
    allow_defaults: bool,
    reason: String,
    inside_meta: bool,
}

impl Default for Ssv {
    fn default() -> Self {
        Ssv {
            allow_defaults: true,
            reason: String::new(),
            inside_meta: false,
        }
    }
}

impl Ssv {
    fn forbid_defaults(&self, reason: String) -> Ssv {
        Ssv {
            allow_defaults: false,
            reason,
            inside_meta: self.inside_meta,
        }
    }
}

/// The Go types keywords decode into; a value of another JSON type fails decoding upstream.
fn keyword_types(errs: &mut Vec<FieldError>, s: Node<'_>, path: &Path) {
    for (k, v) in s.0 {
        if v.is_null() {
            continue;
        }
        let (ok, go_type) = match k.as_str() {
            "type"
            | "format"
            | "title"
            | "description"
            | "pattern"
            | "id"
            | "$schema"
            | "$ref"
            | "x-kubernetes-list-type"
            | "x-kubernetes-map-type" => (v.is_string(), "string"),
            "nullable"
            | "uniqueItems"
            | "exclusiveMinimum"
            | "exclusiveMaximum"
            | "x-kubernetes-preserve-unknown-fields"
            | "x-kubernetes-embedded-resource"
            | "x-kubernetes-int-or-string" => (v.is_boolean(), "bool"),
            "minimum" | "maximum" | "multipleOf" => (v.is_number(), "float64"),
            "maxLength" | "minLength" | "maxItems" | "minItems" | "maxProperties"
            | "minProperties" => (v.as_i64().is_some(), "int64"),
            "required" | "x-kubernetes-list-map-keys" => (
                v.as_array().is_some_and(|a| a.iter().all(Value::is_string)),
                "[]string",
            ),
            "enum" => (v.is_array(), "[]v1.JSON"),
            "properties" | "patternProperties" | "definitions" => (
                v.as_object()
                    .is_some_and(|m| m.values().all(Value::is_object)),
                "map[string]v1.JSONSchemaProps",
            ),
            "allOf" | "anyOf" | "oneOf" => (
                v.as_array().is_some_and(|a| a.iter().all(Value::is_object)),
                "[]v1.JSONSchemaProps",
            ),
            "not" => (v.is_object(), "v1.JSONSchemaProps"),
            "items" => (
                v.is_object() || v.as_array().is_some_and(|a| a.iter().all(Value::is_object)),
                "v1.JSONSchemaPropsOrArray",
            ),
            "additionalProperties" | "additionalItems" => {
                (v.is_object() || v.is_boolean(), "v1.JSONSchemaPropsOrBool")
            }
            "x-kubernetes-validations" => (
                v.as_array().is_some_and(|a| a.iter().all(Value::is_object)),
                "v1.ValidationRules",
            ),
            _ => (true, ""),
        };
        if !ok {
            errs.push(FieldError::invalid(
                path.child(k),
                v.clone(),
                format!(
                    "json: cannot unmarshal {} into Go struct field JSONSchemaProps.{k} of type {go_type}",
                    json_kind(v)
                ),
            ));
        }
    }
}

fn non_empty_object(v: Option<&Value>) -> bool {
    v.and_then(Value::as_object).is_some_and(|m| !m.is_empty())
}

fn present(v: Option<&Value>) -> bool {
    v.is_some_and(|v| !v.is_null())
}

/// `ValidateCustomResourceDefinitionOpenAPISchema` (with `specStandardValidatorV3.validate`).
fn generic(
    errs: &mut Vec<FieldError>,
    s: Node<'_>,
    path: &Path,
    ssv: &Ssv,
    is_root: bool,
    depth: usize,
    too_deep: &mut bool,
) {
    if depth > MAX_DEPTH {
        if !*too_deep {
            errs.push(FieldError::forbidden(
                path.as_str(),
                format!("must not be nested more than {MAX_DEPTH} levels deep"),
            ));
        }
        *too_deep = true;
        return;
    }
    keyword_types(errs, s, path);
    let ty = s.ty();

    // specStandardValidatorV3.validate
    if !ty.is_empty() && !OPENAPI_TYPES.contains(&ty) {
        errs.push(FieldError::not_supported(
            path.child("type"),
            json!(ty),
            &OPENAPI_TYPES,
        ));
    }
    if s.default().is_some() && !ssv.allow_defaults {
        let mut detail = "must not be set".to_string();
        if !ssv.reason.is_empty() {
            detail.push(' ');
            detail.push_str(&ssv.reason);
        }
        errs.push(FieldError::forbidden(path.child("default"), detail));
    }
    if s.str("id").is_some_and(|id| !id.is_empty()) {
        errs.push(FieldError::forbidden(
            path.child("id"),
            "id is not supported",
        ));
    }
    if present(s.get("additionalItems")) {
        errs.push(FieldError::forbidden(
            path.child("additionalItems"),
            "additionalItems is not supported",
        ));
    }
    if non_empty_object(s.get("patternProperties")) {
        errs.push(FieldError::forbidden(
            path.child("patternProperties"),
            "patternProperties is not supported",
        ));
    }
    if non_empty_object(s.get("definitions")) {
        errs.push(FieldError::forbidden(
            path.child("definitions"),
            "definitions is not supported",
        ));
    }
    if present(s.get("dependencies")) {
        errs.push(FieldError::forbidden(
            path.child("dependencies"),
            "dependencies is not supported",
        ));
    }
    if present(s.get("$ref")) {
        errs.push(FieldError::forbidden(
            path.child("$ref"),
            "$ref is not supported",
        ));
    }
    if ty == "null" {
        errs.push(FieldError::forbidden(
            path.child("type"),
            "type cannot be set to null, use nullable as an alternative",
        ));
    }
    if s.get("items")
        .and_then(Value::as_array)
        .is_some_and(|a| !a.is_empty())
    {
        errs.push(FieldError::forbidden(
            path.child("items"),
            "items must be a schema object and not an array",
        ));
    }
    if ssv.inside_meta && s.embedded() {
        errs.push(FieldError::forbidden(
            path.child("x-kubernetes-embedded-resource"),
            "must not be used inside of resource meta",
        ));
    }

    if s.flag("uniqueItems") {
        errs.push(FieldError::forbidden(
            path.child("uniqueItems"),
            "uniqueItems cannot be set to true since the runtime complexity becomes quadratic",
        ));
    }
    if let Some(ap) = s.additional() {
        if s.has_properties() && matches!(ap, Additional::Bool(false) | Additional::Schema(_)) {
            errs.push(FieldError::forbidden(
                path.child("additionalProperties"),
                "additionalProperties and properties are mutual exclusive",
            ));
        }
        if let Additional::Schema(n) = ap {
            let sub = if ssv.inside_meta {
                ssv.forbid_defaults(
                    "inside additionalProperties applying to object metadata".into(),
                )
            } else {
                ssv.clone()
            };
            generic(
                errs,
                n,
                &path.child("additionalProperties"),
                &sub,
                false,
                depth + 1,
                too_deep,
            );
        }
    }
    for (k, p) in s.props() {
        let mut sub = ssv.clone();
        if (is_root || s.embedded()) && is_meta_field(k) {
            sub.inside_meta = true;
            if is_root {
                sub = sub.forbid_defaults(format!("in top-level {k}"));
            }
        }
        generic(
            errs,
            p,
            &path.child("properties").key(k),
            &sub,
            false,
            depth + 1,
            too_deep,
        );
    }
    if let Some(n) = s.not() {
        generic(errs, n, &path.child("not"), ssv, false, depth + 1, too_deep);
    }
    for kw in ["allOf", "oneOf", "anyOf"] {
        for (i, n) in s.schemas(kw).into_iter().enumerate() {
            generic(
                errs,
                n,
                &path.child(kw).index(i),
                ssv,
                false,
                depth + 1,
                too_deep,
            );
        }
    }
    if let Some(defs) = s.get("definitions").and_then(Value::as_object) {
        for (k, v) in defs {
            if let Some(n) = Node::of(v) {
                generic(
                    errs,
                    n,
                    &path.child("definitions").key(k),
                    ssv,
                    false,
                    depth + 1,
                    too_deep,
                );
            }
        }
    }
    match s.get("items") {
        Some(Value::Object(m)) => generic(
            errs,
            Node(m),
            &path.child("items"),
            ssv,
            false,
            depth + 1,
            too_deep,
        ),
        Some(Value::Array(a)) => {
            for (i, v) in a.iter().enumerate() {
                if let Some(n) = Node::of(v) {
                    generic(
                        errs,
                        n,
                        &path.child("items").index(i),
                        ssv,
                        false,
                        depth + 1,
                        too_deep,
                    );
                }
            }
        }
        _ => {}
    }
    if let Some(deps) = s.get("dependencies").and_then(Value::as_object) {
        for (k, v) in deps {
            if let Some(n) = Node::of(v) {
                generic(
                    errs,
                    n,
                    &path.child("dependencies").key(k),
                    ssv,
                    false,
                    depth + 1,
                    too_deep,
                );
            }
        }
    }
    extensions(errs, s, path);
}

/// The checks of the `x-kubernetes-*` extensions of one node.
fn extensions(errs: &mut Vec<FieldError>, s: Node<'_>, path: &Path) {
    let ty = s.ty();
    if s.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(false)) {
        errs.push(FieldError::invalid(
            path.child("x-kubernetes-preserve-unknown-fields"),
            json!(false),
            "must be true or undefined",
        ));
    }
    let type_must_be = |errs: &mut Vec<FieldError>, want: &str, detail: &str| {
        if ty.is_empty() {
            errs.push(FieldError::required(path.child("type"), detail));
        } else if ty != want {
            errs.push(FieldError::invalid(path.child("type"), json!(ty), detail));
        }
    };
    if let Some(map_type) = s.str("x-kubernetes-map-type") {
        type_must_be(
            errs,
            "object",
            "must be object if x-kubernetes-map-type is specified",
        );
        if map_type != "atomic" && map_type != "granular" {
            errs.push(FieldError::not_supported(
                path.child("x-kubernetes-map-type"),
                json!(map_type),
                &["atomic", "granular"],
            ));
        }
    }
    let list_type = s.list_type();
    if list_type.is_some() && ty != "array" {
        type_must_be(
            errs,
            "array",
            "must be array if x-kubernetes-list-type is specified",
        );
    } else if list_type == Some("set")
        && let Some(items) = s.items()
    {
        let detail = "must be atomic as item of a list with x-kubernetes-list-type=set";
        match items.ty() {
            "array" => {
                if let Some(lt) = items.list_type()
                    && lt != "atomic"
                {
                    errs.push(FieldError::invalid(
                        path.child("items").child("x-kubernetes-list-type"),
                        json!(lt),
                        detail,
                    ));
                }
            }
            "object" if items.str("x-kubernetes-map-type") != Some("atomic") => {
                errs.push(FieldError::invalid(
                    path.child("items").child("x-kubernetes-map-type"),
                    items
                        .get("x-kubernetes-list-type")
                        .cloned()
                        .unwrap_or(Value::Null),
                    detail,
                ));
            }
            _ => {}
        }
    }
    if let Some(lt) = list_type
        && !matches!(lt, "atomic" | "set" | "map")
    {
        errs.push(FieldError::not_supported(
            path.child("x-kubernetes-list-type"),
            json!(lt),
            &["atomic", "set", "map"],
        ));
    }
    let keys = s.list_map_keys();
    if !keys.is_empty() {
        let detail = "must be map if x-kubernetes-list-map-keys is non-empty";
        match list_type {
            None => errs.push(FieldError::required(
                path.child("x-kubernetes-list-type"),
                detail,
            )),
            Some(lt) if lt != "map" => {
                errs.push(FieldError::invalid(
                    path.child("x-kubernetes-list-type"),
                    json!(lt),
                    detail,
                ));
            }
            Some(_) => {}
        }
    }
    if list_type == Some("map") {
        if keys.is_empty() {
            errs.push(FieldError::required(
                path.child("x-kubernetes-list-map-keys"),
                "must not be empty if x-kubernetes-list-type is map",
            ));
        }
        match s.get("items") {
            None | Some(Value::Null) => errs.push(FieldError::required(
                path.child("items"),
                "must have a schema if x-kubernetes-list-type is map",
            )),
            Some(items @ Value::Array(_)) => errs.push(FieldError::invalid(
                path.child("items"),
                items.clone(),
                "must only have a single schema if x-kubernetes-list-type is map",
            )),
            Some(Value::Object(m)) => {
                let items = Node(m);
                if items.ty() != "object" {
                    errs.push(FieldError::invalid(
                        path.child("items").child("type"),
                        json!(items.ty()),
                        "must be object if parent array's x-kubernetes-list-type is map",
                    ));
                } else {
                    let all_keys = s
                        .get("x-kubernetes-list-map-keys")
                        .cloned()
                        .unwrap_or(Value::Null);
                    let mut seen = std::collections::HashSet::new();
                    for k in &keys {
                        match items.property(k) {
                            Some(p) if matches!(p.ty(), "array" | "object") => errs.push(FieldError::invalid(
                                path.child("items").child("properties").key(k).child("type"),
                                json!(items.ty()),
                                "must be a scalar type if parent array's x-kubernetes-list-type is map",
                            )),
                            Some(_) => {}
                            None => errs.push(FieldError::invalid(
                                path.child("x-kubernetes-list-map-keys"),
                                all_keys.clone(),
                                "entries must all be names of item properties",
                            )),
                        }
                        if !seen.insert(*k) {
                            errs.push(FieldError::invalid(
                                path.child("x-kubernetes-list-map-keys"),
                                all_keys.clone(),
                                "must not contain duplicate entries",
                            ));
                        }
                    }
                }
            }
            Some(_) => {}
        }
    }
    validation_rules(errs, s, path);
    // validateMapListKeysMapSet
    if let (Some(items), Some(lt @ ("set" | "map"))) = (s.items(), list_type) {
        if items.nullable() {
            errs.push(FieldError::forbidden(
                path.child("items").child("nullable"),
                format!("cannot be nullable when x-kubernetes-list-type is {lt}"),
            ));
        }
        if lt == "map" {
            let required = items.required();
            for k in &keys {
                let Some(p) = items.property(k) else {
                    continue;
                };
                let kp = path.child("items").child("properties").key(k);
                if !required.contains(k) && p.default().is_none() {
                    errs.push(FieldError::required(
                        kp.child("default"),
                        "this property is in x-kubernetes-list-map-keys, so it must have a default or be a required property",
                    ));
                }
                if p.nullable() {
                    errs.push(FieldError::forbidden(
                        kp.child("nullable"),
                        "this property is in x-kubernetes-list-map-keys, so it cannot be nullable",
                    ));
                }
            }
        }
    }
}

/// `x-kubernetes-validations`: the rule/message shape checks (CEL is not compiled here).
fn validation_rules(errs: &mut Vec<FieldError>, s: Node<'_>, path: &Path) {
    let Some(rules) = s.get("x-kubernetes-validations").and_then(Value::as_array) else {
        return;
    };
    let has_newline = |t: &str| t.contains(['\n', '\r']);
    for (i, rule) in rules.iter().enumerate() {
        let Some(rule) = Node::of(rule) else {
            continue;
        };
        let rp = path.child("x-kubernetes-validations").index(i);
        let text = rule.str("rule").unwrap_or("").trim();
        let message = rule.str("message").unwrap_or("");
        let trimmed_msg = message.trim();
        if text.is_empty() {
            errs.push(FieldError::required(
                rp.child("rule"),
                "rule is not specified",
            ));
        } else if !message.is_empty() && trimmed_msg.is_empty() {
            errs.push(FieldError::invalid(
                rp.child("message"),
                json!(message),
                "message must be non-empty if specified",
            ));
        } else if has_newline(trimmed_msg) {
            errs.push(FieldError::invalid(
                rp.child("message"),
                json!(message),
                "message must not contain line breaks",
            ));
        } else if has_newline(text) && trimmed_msg.is_empty() {
            errs.push(FieldError::required(
                rp.child("message"),
                "message must be specified if rule contains line breaks",
            ));
        }
    }
}

/// What makes upstream's conversion to a structural schema fail, anywhere in the schema (all
/// of it is reported by the generic checks too, except `$schema`).
fn unsupported(s: Node<'_>, depth: usize) -> Option<&'static str> {
    if depth > MAX_DEPTH {
        return None;
    }
    let non_empty_str = |k: &str| s.str(k).is_some_and(|v| !v.is_empty());
    if non_empty_str("id") {
        return Some("OpenAPIV3Schema 'id' is not supported");
    }
    if non_empty_str("$schema") {
        return Some("OpenAPIV3Schema 'schema' is not supported");
    }
    if non_empty_str("$ref") {
        return Some("OpenAPIV3Schema '$ref' is not supported");
    }
    if non_empty_object(s.get("patternProperties")) {
        return Some("OpenAPIV3Schema 'patternProperties' is not supported");
    }
    if non_empty_object(s.get("dependencies")) {
        return Some("OpenAPIV3Schema 'dependencies' is not supported");
    }
    if present(s.get("additionalItems")) {
        return Some("OpenAPIV3Schema 'additionalItems' is not supported");
    }
    if non_empty_object(s.get("definitions")) {
        return Some("OpenAPIV3Schema 'definitions' is not supported");
    }
    if s.get("items")
        .and_then(Value::as_array)
        .is_some_and(|a| !a.is_empty())
    {
        return Some("OpenAPIV3Schema 'items' must be a schema, but is an array");
    }
    children(s)
        .into_iter()
        .find_map(|c| unsupported(c, depth + 1))
}

/// Every schema directly below a node.
fn children(s: Node<'_>) -> Vec<Node<'_>> {
    let mut out: Vec<Node<'_>> = s.props().map(|(_, n)| n).collect();
    out.extend(s.items());
    out.extend(s.additional_schema());
    out.extend(s.not());
    for kw in ["allOf", "anyOf", "oneOf"] {
        out.extend(s.schemas(kw));
    }
    out
}

// --- structural rules -----------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq)]
enum Level {
    Root,
    Item,
    Field,
}

/// `validateStructuralInvariants`.
fn invariants(errs: &mut Vec<FieldError>, s: Node<'_>, lvl: Level, path: &Path, depth: usize) {
    if depth > MAX_DEPTH {
        return;
    }
    let ty = s.ty();
    if ty == "array" && !present(s.get("items")) {
        errs.push(FieldError::required(
            path.child("items"),
            "must be specified",
        ));
    }
    if let Some(items) = s.items() {
        invariants(errs, items, Level::Item, &path.child("items"), depth + 1);
    }
    for (k, p) in s.props() {
        invariants(
            errs,
            p,
            Level::Field,
            &path.child("properties").key(k),
            depth + 1,
        );
    }
    if let Some(ap) = s.additional() {
        if lvl == Level::Root {
            errs.push(FieldError::forbidden(
                path.child("additionalProperties"),
                "must not be used at the root",
            ));
        }
        if let Additional::Schema(n) = ap {
            invariants(
                errs,
                n,
                Level::Field,
                &path.child("additionalProperties"),
                depth + 1,
            );
        }
    }
    if s.int_or_string() && s.preserve_unknown() {
        errs.push(FieldError::invalid(
            path.child("x-kubernetes-preserve-unknown-fields"),
            json!(true),
            "must be false if x-kubernetes-int-or-string is true",
        ));
    }
    if s.int_or_string() && s.embedded() {
        errs.push(FieldError::invalid(
            path.child("x-kubernetes-embedded-resource"),
            json!(true),
            "must be false if x-kubernetes-int-or-string is true",
        ));
    }
    value_validation(
        errs,
        s,
        int_or_string_any_of(s),
        int_or_string_all_of(s),
        lvl,
        path,
        depth,
    );

    if s.embedded() && ty != "object" {
        let detail = "must be object if x-kubernetes-embedded-resource is true";
        if ty.is_empty() {
            errs.push(FieldError::required(path.child("type"), detail));
        } else {
            errs.push(FieldError::invalid(path.child("type"), json!(ty), detail));
        }
    } else if ty.is_empty() && !s.int_or_string() && !s.preserve_unknown() {
        let detail = match lvl {
            Level::Root => "must not be empty at the root",
            Level::Item => "must not be empty for specified array items",
            Level::Field => "must not be empty for specified object fields",
        };
        errs.push(FieldError::required(path.child("type"), detail));
    }
    if s.embedded() && s.additional().is_some() {
        errs.push(FieldError::forbidden(
            path.child("additionalProperties"),
            "must not be used if x-kubernetes-embedded-resource is set",
        ));
    }
    if lvl == Level::Root && !ty.is_empty() && ty != "object" {
        errs.push(FieldError::invalid(
            path.child("type"),
            json!(ty),
            "must be object at the root",
        ));
    }
    if lvl == Level::Root || s.embedded() {
        for (field, want) in [
            ("kind", "string"),
            ("apiVersion", "string"),
            ("metadata", "object"),
        ] {
            if let Some(p) = s.property(field)
                && p.ty() != want
            {
                errs.push(FieldError::invalid(
                    path.child("properties").key(field).child("type"),
                    json!(p.ty()),
                    format!("must be {want}"),
                ));
            }
        }
    }
    if lvl == Level::Root
        && let Some(meta) = s.property("metadata")
        && !metadata_restricted_to_names(meta)
    {
        errs.push(FieldError::forbidden(
            path.child("properties").key("metadata"),
            "must not specify anything other than name and generateName, but metadata is implicitly specified",
        ));
    }
    if s.embedded() && !s.preserve_unknown() && !s.has_properties() {
        errs.push(FieldError::required(
            path.child("properties"),
            "must not be empty if x-kubernetes-embedded-resource is true without x-kubernetes-preserve-unknown-fields",
        ));
    }
}

/// Whether a schema node is exactly `{"type": ty}` (annotations aside).
fn is_bare_type(n: Node<'_>, ty: &str) -> bool {
    n.ty() == ty
        && n.0
            .iter()
            .all(|(k, v)| matches!(k.as_str(), "type" | "example" | "externalDocs") || v.is_null())
}

/// `anyOf: [{type: integer}, {type: string}]`, which int-or-string fields may use.
fn int_or_string_any_of(s: Node<'_>) -> bool {
    let any = s.schemas("anyOf");
    any.len() == 2 && is_bare_type(any[0], "integer") && is_bare_type(any[1], "string")
}

/// `allOf: [{anyOf: [{type: integer}, {type: string}]}, ...]`.
fn int_or_string_all_of(s: Node<'_>) -> bool {
    s.schemas("allOf")
        .first()
        .is_some_and(|first| int_or_string_any_of(*first))
}

/// `validateValueValidation`: the logic junctors and the pattern of a node.
fn value_validation(
    errs: &mut Vec<FieldError>,
    s: Node<'_>,
    skip_any_of: bool,
    skip_first_all_of_any_of: bool,
    lvl: Level,
    path: &Path,
    depth: usize,
) {
    if depth > MAX_DEPTH {
        return;
    }
    if !skip_any_of {
        for (i, n) in s.schemas("anyOf").into_iter().enumerate() {
            nested(
                errs,
                n,
                false,
                lvl,
                &path.child("anyOf").index(i),
                depth + 1,
            );
        }
    }
    for (i, n) in s.schemas("allOf").into_iter().enumerate() {
        let skip = skip_first_all_of_any_of && i == 0;
        nested(errs, n, skip, lvl, &path.child("allOf").index(i), depth + 1);
    }
    for (i, n) in s.schemas("oneOf").into_iter().enumerate() {
        nested(
            errs,
            n,
            false,
            lvl,
            &path.child("oneOf").index(i),
            depth + 1,
        );
    }
    if let Some(n) = s.not() {
        nested(errs, n, false, lvl, &path.child("not"), depth + 1);
    }
    if let Some(pattern) = s.str("pattern").filter(|p| !p.is_empty())
        && let Err(e) = compile(pattern)
    {
        errs.push(FieldError::invalid(
            path.child("pattern"),
            json!(pattern),
            format!("must be a valid regular expression, but isn't: {e}"),
        ));
    }
}

/// `validateNestedValueValidation`: a schema under a logic junctor may only validate values.
fn nested(
    errs: &mut Vec<FieldError>,
    v: Node<'_>,
    skip_any_of: bool,
    lvl: Level,
    path: &Path,
    depth: usize,
) {
    if depth > MAX_DEPTH {
        return;
    }
    value_validation(errs, v, skip_any_of, false, lvl, path, depth);
    if let Some(items) = v.items() {
        nested(errs, items, false, lvl, &path.child("items"), depth + 1);
    }
    for (k, p) in v.props() {
        nested(
            errs,
            p,
            false,
            Level::Field,
            &path.child("properties").key(k),
            depth + 1,
        );
    }
    let forbid = |errs: &mut Vec<FieldError>, key: &str, detail: &str| {
        errs.push(FieldError::forbidden(path.child(key), detail));
    };
    let non_empty_str = |k: &str| v.str(k).is_some_and(|t| !t.is_empty());
    if non_empty_str("type") {
        forbid(errs, "type", "must be empty to be structural");
    }
    if v.additional().is_some() {
        forbid(
            errs,
            "additionalProperties",
            "must be undefined to be structural",
        );
    }
    if v.default().is_some() {
        forbid(errs, "default", "must be undefined to be structural");
    }
    if non_empty_str("title") {
        forbid(errs, "title", "must be empty to be structural");
    }
    if non_empty_str("description") {
        forbid(errs, "description", "must be empty to be structural");
    }
    if v.nullable() {
        forbid(errs, "nullable", "must be false to be structural");
    }
    if v.preserve_unknown() {
        forbid(
            errs,
            "x-kubernetes-preserve-unknown-fields",
            "must be false to be structural",
        );
    }
    if v.embedded() {
        forbid(
            errs,
            "x-kubernetes-embedded-resource",
            "must be false to be structural",
        );
    }
    if v.int_or_string() {
        forbid(
            errs,
            "x-kubernetes-int-or-string",
            "must be false to be structural",
        );
    }
    if !v.list_map_keys().is_empty() {
        forbid(
            errs,
            "x-kubernetes-list-map-keys",
            "must be empty to be structural",
        );
    }
    if v.list_type().is_some() {
        forbid(
            errs,
            "x-kubernetes-list-type",
            "must be undefined to be structural",
        );
    }
    if v.property("metadata").is_some() {
        errs.push(FieldError::forbidden(
            path.child("properties").key("metadata"),
            "must not be specified in a nested context",
        ));
    }
}

/// Whether the root's `metadata` schema constrains nothing but `name` and `generateName` (its
/// `type` and `default` aside, which are checked elsewhere).
fn metadata_restricted_to_names(meta: Node<'_>) -> bool {
    if let Some(props) = meta.properties()
        && !props.is_empty()
    {
        let name = props.contains_key("name");
        let generate_name = props.contains_key("generateName");
        let only_names = (name && generate_name && props.len() == 2)
            || ((name || generate_name) && props.len() == 1);
        if !only_names {
            return false;
        }
    }
    meta.0.iter().all(|(k, v)| match k.as_str() {
        "type" | "default" | "properties" | "example" | "externalDocs" | "id" | "$schema"
        | "$ref" | "definitions" | "dependencies" | "additionalItems" | "patternProperties" => true,
        "description" | "title" | "format" | "pattern" => v.as_str().is_none_or(str::is_empty),
        "nullable"
        | "uniqueItems"
        | "exclusiveMinimum"
        | "exclusiveMaximum"
        | "x-kubernetes-preserve-unknown-fields"
        | "x-kubernetes-embedded-resource"
        | "x-kubernetes-int-or-string" => v.as_bool() != Some(true),
        "required"
        | "enum"
        | "allOf"
        | "anyOf"
        | "oneOf"
        | "x-kubernetes-list-map-keys"
        | "x-kubernetes-validations" => v.as_array().is_none_or(Vec::is_empty),
        "maximum"
        | "minimum"
        | "multipleOf"
        | "maxLength"
        | "minLength"
        | "maxItems"
        | "minItems"
        | "maxProperties"
        | "minProperties"
        | "not"
        | "items"
        | "additionalProperties"
        | "x-kubernetes-list-type"
        | "x-kubernetes-map-type" => v.is_null(),
        _ => true,
    })
}

/// `validateStructuralCompleteness`: every field or item a value validation of the root speaks
/// about is specified structurally.
fn completeness(errs: &mut Vec<FieldError>, s: Node<'_>, path: &Path) {
    junctors_complete(errs, s, s, path, path, 0);
}

fn junctors_complete(
    errs: &mut Vec<FieldError>,
    v: Node<'_>,
    s: Node<'_>,
    spath: &Path,
    vpath: &Path,
    depth: usize,
) {
    if depth > MAX_DEPTH {
        return;
    }
    if let Some(n) = v.not() {
        nested_complete(errs, n, Some(s), spath, &vpath.child("not"), depth + 1);
    }
    for kw in ["allOf", "anyOf", "oneOf"] {
        for (i, n) in v.schemas(kw).into_iter().enumerate() {
            nested_complete(
                errs,
                n,
                Some(s),
                spath,
                &vpath.child(kw).index(i),
                depth + 1,
            );
        }
    }
}

fn nested_complete(
    errs: &mut Vec<FieldError>,
    v: Node<'_>,
    s: Option<Node<'_>>,
    spath: &Path,
    vpath: &Path,
    depth: usize,
) {
    if depth > MAX_DEPTH {
        return;
    }
    let Some(s) = s else {
        errs.push(FieldError::required(
            spath.as_str(),
            format!("because it is defined in {vpath}"),
        ));
        return;
    };
    junctors_complete(errs, v, s, spath, vpath, depth + 1);
    if let Some(items) = v.items() {
        nested_complete(
            errs,
            items,
            s.items(),
            &spath.child("items"),
            &vpath.child("items"),
            depth + 1,
        );
    }
    for (k, vf) in v.props() {
        let sp = spath.child("properties").key(k);
        let vp = vpath.child("properties").key(k);
        match s.property(k) {
            Some(sf) => nested_complete(errs, vf, Some(sf), &sp, &vp, depth + 1),
            None => errs.push(FieldError::required(
                sp,
                format!("because it is defined in {vp}"),
            )),
        }
    }
}

// --- defaults -------------------------------------------------------------------------------

/// `defaulting.ValidateDefaults`: each default must be pruned (no unknown fields), give valid
/// embedded resources, and validate against its schema. `resource_root` is the schema of a
/// resource (the root, or an embedded resource); `inside_meta` marks schemas of a resource's
/// `apiVersion`, `kind` or `metadata`.
fn defaults(
    errs: &mut Vec<FieldError>,
    s: Node<'_>,
    resource_root: bool,
    path: &Path,
    inside_meta: bool,
    depth: usize,
) {
    if depth > MAX_DEPTH {
        return;
    }
    let resource = resource_root || s.embedded();
    let inside_meta = inside_meta && !resource;
    if let Some(d) = s.default() {
        let dpath = path.child("default");
        if inside_meta {
            errs.extend(Validator::new(Some(dpath.as_str())).run(d, s));
        } else {
            let mut pruned = d.clone();
            prune_structural(&mut pruned, Some(s), resource, 0);
            if &pruned != d {
                errs.push(FieldError::invalid(
                    dpath.as_str(),
                    d.clone(),
                    "must not have unknown fields",
                ));
            }
            if let Some(e) = meta_type_error(d, s, resource, &dpath, 0) {
                errs.push(e);
            } else {
                let mut meta_errs = Vec::new();
                embedded_resources(&mut meta_errs, &dpath, d, s, resource, 0);
                if meta_errs.is_empty() {
                    errs.extend(Validator::new(Some(dpath.as_str())).run(d, s));
                } else {
                    errs.extend(meta_errs);
                }
            }
        }
    }
    if let Some(items) = s.items() {
        defaults(
            errs,
            items,
            false,
            &path.child("items"),
            inside_meta,
            depth + 1,
        );
    }
    for (k, p) in s.props() {
        let sub_meta = inside_meta || (resource && is_meta_field(k));
        defaults(
            errs,
            p,
            false,
            &path.child("properties").key(k),
            sub_meta,
            depth + 1,
        );
    }
}

/// `objectmeta.Coerce` without dropping: the first `apiVersion`/`kind` that is not a string, or
/// `metadata` that is not an object, in the resources of a default.
fn meta_type_error(
    x: &Value,
    s: Node<'_>,
    resource: bool,
    path: &Path,
    depth: usize,
) -> Option<FieldError> {
    if depth > MAX_DEPTH {
        return None;
    }
    match x {
        Value::Object(m) => {
            if resource || s.embedded() {
                for (k, v) in m {
                    match k.as_str() {
                        "apiVersion" | "kind" if !v.is_string() => {
                            return Some(FieldError::invalid(
                                path.child(k),
                                v.clone(),
                                "must be a string",
                            ));
                        }
                        "metadata" if !v.is_object() && !v.is_null() => {
                            return Some(FieldError::invalid(
                                path.child(k),
                                v.clone(),
                                format!(
                                    "json: cannot unmarshal {} into Go value of type v1.ObjectMeta",
                                    json_kind(v)
                                ),
                            ));
                        }
                        _ => {}
                    }
                }
            }
            m.iter().find_map(|(k, v)| {
                if let Some(p) = s.property(k) {
                    meta_type_error(v, p, false, &path.child(k), depth + 1)
                } else {
                    s.additional_schema()
                        .and_then(|ap| meta_type_error(v, ap, false, &path.key(k), depth + 1))
                }
            })
        }
        Value::Array(a) => {
            let items = s.items()?;
            a.iter()
                .enumerate()
                .find_map(|(i, v)| meta_type_error(v, items, false, &path.index(i), depth + 1))
        }
        _ => None,
    }
}
