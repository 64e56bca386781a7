//! Typed decoding of built-in objects, as upstream's decoder does it: every value of a request
//! (or of a stored object) is checked against the kind's OpenAPI definition for its JSON type,
//! so that nothing is stored that a typed client (client-go, kube-rs, the Python client) cannot
//! decode. Messages are Go's `encoding/json` errors (`json: cannot unmarshal string into Go
//! struct field DeploymentSpec.spec.replicas of type int32`), with the field path and the
//! expected Go type; quantities, int-or-string, RFC 3339 times and base64 `[]byte` are checked
//! as their Go types parse them. Unknown fields are not this module's concern
//! (`fieldValidation` handles them); `null` is accepted anywhere, as Go's decoder accepts it.
//!
//! The checker walks the same schemas the server serves: it follows `$ref`s into the built-in
//! definitions and also takes inline (CRD-style) schemas, honouring
//! `x-kubernetes-int-or-string` and `x-kubernetes-preserve-unknown-fields`.

use crate::openapi;
use base64::Engine;
use serde_json::Value;

/// The deepest nesting checked; deeper values are accepted unchecked (no schema nests this
/// deep, and the JSON parser already bounds request nesting).
const MAX_DEPTH: usize = 128;

/// A value of the wrong type: the message upstream's decoder gives, and the field's path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct TypeError {
    /// Dotted path of the field (`spec.template.spec.containers.name`; no list indices, as Go).
    pub field: String,
    pub message: String,
}

/// Checks an object of `kind` at `group/version` against its definition. Kinds without a
/// definition (custom resources) pass.
pub fn check_kind(group: &str, version: &str, kind: &str, obj: &Value) -> Result<(), TypeError> {
    match openapi::definition_for(group, version, kind) {
        Some(name) => check_definition(obj, name),
        None => Ok(()),
    }
}

/// Checks a value against the named definition (`io.k8s.api.core.v1.Pod`).
pub fn check_definition(obj: &Value, name: &str) -> Result<(), TypeError> {
    let Some(schema) = openapi::definition(name) else {
        return Ok(());
    };
    let mut w = Walker {
        path: Vec::new(),
        structs: vec![type_name(name)],
    };
    w.check(obj, schema, Some(name), 0)
}

/// Checks a stored object against the definition of its own `apiVersion` and `kind`.
pub fn check_stored(obj: &Value) -> Result<(), TypeError> {
    let av = obj.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    let kind = obj.get("kind").and_then(Value::as_str).unwrap_or("");
    let (group, version) = crate::registry::split_api_version(av);
    check_kind(group, version, kind, obj)
}

/// Checks an object's `metadata` against ObjectMeta (for custom resources, whose schemas only
/// constrain the rest).
pub fn check_metadata(obj: &Value) -> Result<(), TypeError> {
    const OBJECT_META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta";
    let (Some(meta), Some(schema)) = (obj.get("metadata"), openapi::definition(OBJECT_META)) else {
        return Ok(());
    };
    let mut w = Walker {
        path: vec!["metadata"],
        structs: vec!["ObjectMeta"],
    };
    w.check(meta, schema, Some(OBJECT_META), 0)
}

/// `Deployment` of `io.k8s.api.apps.v1.Deployment`.
fn type_name(def: &str) -> &str {
    def.rsplit('.').next().unwrap_or(def)
}

/// `v1.Deployment` of `io.k8s.api.apps.v1.Deployment`, as Go prints a named type.
fn go_named(def: &str) -> String {
    let mut parts = def.rsplit('.');
    match (parts.next(), parts.next()) {
        (Some(t), Some(p)) => format!("{p}.{t}"),
        _ => def.to_string(),
    }
}

/// The definition a schema node refers to (`$ref`, or a single-element `allOf` of one).
fn ref_name(schema: &Value) -> Option<&str> {
    let r = schema.get("$ref").and_then(Value::as_str).or_else(|| {
        schema
            .get("allOf")
            .and_then(Value::as_array)
            .filter(|a| a.len() == 1)
            .and_then(|a| a.first())
            .and_then(|s| s.get("$ref"))
            .and_then(Value::as_str)
    })?;
    r.rsplit('/').next()
}

/// Definitions whose Go types decode any JSON value.
fn free_form(name: &str) -> bool {
    matches!(
        name,
        "io.k8s.apimachinery.pkg.runtime.RawExtension"
            | "io.k8s.apimachinery.pkg.apis.meta.v1.FieldsV1"
            | "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSON"
            | "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSONSchemaPropsOrArray"
            | "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSONSchemaPropsOrBool"
            | "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSONSchemaPropsOrStringArray"
    )
}

const QUANTITY: &str = "io.k8s.apimachinery.pkg.api.resource.Quantity";
const INT_OR_STRING: &str = "io.k8s.apimachinery.pkg.util.intstr.IntOrString";
const TIME: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.Time";
const MICRO_TIME: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.MicroTime";

fn flag(s: &Value, k: &str) -> bool {
    s.get(k).and_then(Value::as_bool) == Some(true)
}

fn schema_type(s: &Value) -> Option<&str> {
    s.get("type").and_then(Value::as_str)
}

/// Go's name of the type a schema node decodes into.
fn go_type(schema: &Value, depth: usize) -> String {
    if depth > 16 {
        return "interface {}".into();
    }
    if let Some(name) = ref_name(schema) {
        return go_named(name);
    }
    if flag(schema, "x-kubernetes-int-or-string") {
        return "intstr.IntOrString".into();
    }
    match schema_type(schema) {
        Some("string") if schema.get("format").and_then(Value::as_str) == Some("byte") => {
            "[]uint8".into()
        }
        Some("string") => "string".into(),
        Some("integer") => match schema.get("format").and_then(Value::as_str) {
            Some("int32") => "int32".into(),
            _ => "int64".into(),
        },
        Some("number") => "float64".into(),
        Some("boolean") => "bool".into(),
        Some("array") => match schema.get("items") {
            Some(items) => format!("[]{}", go_type(items, depth + 1)),
            None => "[]interface {}".into(),
        },
        Some("object") => match schema.get("additionalProperties").filter(|a| a.is_object()) {
            Some(values) => format!("map[string]{}", go_type(values, depth + 1)),
            None => "map[string]interface {}".into(),
        },
        _ => "interface {}".into(),
    }
}

/// Go's name of a JSON value's type in unmarshal errors.
fn json_type(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(_) => "bool".into(),
        Value::Number(_) => "number".into(),
        Value::String(_) => "string".into(),
        Value::Array(_) => "array".into(),
        Value::Object(_) => "object".into(),
    }
}

struct Walker<'a> {
    /// Field names from the root (Go's `FieldStack`).
    path: Vec<&'a str>,
    /// The Go struct types entered; the last one contains the current field.
    structs: Vec<&'a str>,
}

impl<'a> Walker<'a> {
    fn field(&self) -> String {
        self.path.join(".")
    }

    /// `Go struct field DeploymentSpec.spec.replicas` or, at the root, `Go value`.
    fn location(&self) -> String {
        match (self.path.is_empty(), self.structs.last()) {
            (false, Some(s)) => format!("Go struct field {s}.{}", self.field()),
            _ => "Go value".into(),
        }
    }

    fn mismatch(&self, found: String, schema: &Value) -> TypeError {
        TypeError {
            field: self.field(),
            message: format!(
                "json: cannot unmarshal {found} into {} of type {}",
                self.location(),
                go_type(schema, 0)
            ),
        }
    }

    /// A value of the right JSON type that its Go type refuses to parse.
    fn unparsable(&self, go: &str, why: &str) -> TypeError {
        TypeError {
            field: self.field(),
            message: format!(
                "json: invalid value for {} of type {go}: {why}",
                self.location()
            ),
        }
    }

    fn check(
        &mut self,
        v: &'a Value,
        schema: &'a Value,
        named: Option<&'a str>,
        depth: usize,
    ) -> Result<(), TypeError> {
        if v.is_null() || depth > MAX_DEPTH {
            return Ok(());
        }
        if let Some(name) = ref_name(schema) {
            let Some(def) = openapi::definition(name) else {
                return Ok(());
            };
            return self.check(v, def, Some(name), depth + 1);
        }
        if let Some(name) = named {
            match name {
                _ if free_form(name) => return Ok(()),
                QUANTITY => return self.quantity(v),
                INT_OR_STRING => return self.int_or_string(v, schema),
                TIME | MICRO_TIME => return self.time(v, schema, go_named(name)),
                _ => {}
            }
        }
        if flag(schema, "x-kubernetes-int-or-string") {
            return self.int_or_string(v, schema);
        }
        match schema_type(schema) {
            Some("object") => self.object(v, schema, named, depth),
            Some("array") => {
                let Value::Array(items) = v else {
                    return Err(self.mismatch(json_type(v), schema));
                };
                if let Some(item) = schema.get("items").filter(|i| i.is_object()) {
                    for x in items {
                        self.check(x, item, None, depth + 1)?;
                    }
                }
                Ok(())
            }
            Some("string") => {
                let Value::String(s) = v else {
                    return Err(self.mismatch(json_type(v), schema));
                };
                if schema.get("format").and_then(Value::as_str) == Some("byte")
                    && let Err(e) = base64::engine::general_purpose::STANDARD.decode(s.as_bytes())
                {
                    return Err(self.unparsable("[]uint8", &base64_message(&e)));
                }
                Ok(())
            }
            Some("integer") => self.integer(v, schema),
            Some("number") => match v {
                Value::Number(_) => Ok(()),
                _ => Err(self.mismatch(json_type(v), schema)),
            },
            Some("boolean") => match v {
                Value::Bool(_) => Ok(()),
                _ => Err(self.mismatch(json_type(v), schema)),
            },
            _ => Ok(()),
        }
    }

    fn object(
        &mut self,
        v: &'a Value,
        schema: &'a Value,
        named: Option<&'a str>,
        depth: usize,
    ) -> Result<(), TypeError> {
        let Value::Object(map) = v else {
            let err = match named {
                Some(n) => TypeError {
                    field: self.field(),
                    message: format!(
                        "json: cannot unmarshal {} into {} of type {}",
                        json_type(v),
                        self.location(),
                        go_named(n)
                    ),
                },
                None => self.mismatch(json_type(v), schema),
            };
            return Err(err);
        };
        if flag(schema, "x-kubernetes-preserve-unknown-fields")
            && schema.get("properties").is_none()
        {
            return Ok(());
        }
        if let Some(props) = schema.get("properties").and_then(Value::as_object) {
            let entered = named.map(type_name);
            if let Some(s) = entered {
                self.structs.push(s);
            }
            for (key, x) in map {
                if let Some(p) = props.get(key) {
                    self.path.push(key);
                    let r = self.check(x, p, None, depth + 1);
                    self.path.pop();
                    r?;
                }
            }
            if entered.is_some() {
                self.structs.pop();
            }
        } else if let Some(values) = schema.get("additionalProperties").filter(|a| a.is_object()) {
            for x in map.values() {
                self.check(x, values, None, depth + 1)?;
            }
        }
        Ok(())
    }

    fn integer(&self, v: &Value, schema: &Value) -> Result<(), TypeError> {
        let Value::Number(n) = v else {
            return Err(self.mismatch(json_type(v), schema));
        };
        let fits = match schema.get("format").and_then(Value::as_str) {
            Some("int32") => n.as_i64().is_some_and(|i| i32::try_from(i).is_ok()),
            _ => n.as_i64().is_some(),
        };
        if fits {
            Ok(())
        } else {
            Err(self.mismatch(format!("number {n}"), schema))
        }
    }

    /// `resource.Quantity` takes a JSON string or number in its own syntax.
    fn quantity(&self, v: &Value) -> Result<(), TypeError> {
        let text = match v {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            other => other.to_string(),
        };
        match crate::quantity::Quantity::parse(&text) {
            Ok(_) => Ok(()),
            Err(e) => Err(self.unparsable("resource.Quantity", &e.to_string())),
        }
    }

    /// `intstr.IntOrString` takes a string, or else decodes as an `int32`.
    fn int_or_string(&self, v: &Value, _schema: &Value) -> Result<(), TypeError> {
        match v {
            Value::String(_) => Ok(()),
            Value::Number(n) if n.as_i64().is_some_and(|i| i32::try_from(i).is_ok()) => Ok(()),
            Value::Number(n) => Err(self.int32_mismatch(format!("number {n}"))),
            other => Err(self.int32_mismatch(json_type(other))),
        }
    }

    fn int32_mismatch(&self, found: String) -> TypeError {
        TypeError {
            field: self.field(),
            message: format!(
                "json: cannot unmarshal {found} into {} of type int32",
                self.location()
            ),
        }
    }

    /// `metav1.Time` and `MicroTime`: a string in RFC 3339.
    fn time(&self, v: &Value, schema: &Value, go: String) -> Result<(), TypeError> {
        let Value::String(s) = v else {
            return Err(self.mismatch(json_type(v), schema));
        };
        if s.is_empty() || crate::time::parse(s).is_some() {
            return Ok(());
        }
        Err(self.unparsable(
            &go,
            &format!("parsing time \"{s}\" as \"2006-01-02T15:04:05Z07:00\": cannot parse \"{s}\" as \"2006\""),
        ))
    }
}

/// Go's `base64.CorruptInputError` text.
fn base64_message(e: &base64::DecodeError) -> String {
    match e {
        base64::DecodeError::InvalidByte(at, _) | base64::DecodeError::InvalidLastSymbol(at, _) => {
            format!("illegal base64 data at input byte {at}")
        }
        _ => "illegal base64 data at input byte 0".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn msg(group: &str, kind: &str, v: Value) -> String {
        match check_kind(group, "v1", kind, &v) {
            Ok(()) => String::new(),
            Err(e) => e.message,
        }
    }

    #[test]
    fn go_messages_name_the_field_and_type() {
        assert_eq!(
            msg("", "Namespace", json!({"status": "oops"})),
            "json: cannot unmarshal string into Go struct field Namespace.status of type v1.NamespaceStatus"
        );
        assert_eq!(
            msg("apps", "Deployment", json!({"spec": {"replicas": "x"}})),
            "json: cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas of type int32"
        );
        assert_eq!(
            msg("", "Node", json!({"status": {"capacity": ["1"]}})),
            "json: cannot unmarshal array into Go struct field NodeStatus.status.capacity of type map[string]resource.Quantity"
        );
        assert_eq!(
            msg(
                "coordination.k8s.io",
                "Lease",
                json!({"spec": {"holderIdentity": 3}})
            ),
            "json: cannot unmarshal number into Go struct field LeaseSpec.spec.holderIdentity of type string"
        );
        assert_eq!(
            msg(
                "policy",
                "PodDisruptionBudget",
                json!({"spec": {"minAvailable": {}}})
            ),
            "json: cannot unmarshal object into Go struct field PodDisruptionBudgetSpec.spec.minAvailable of type int32"
        );
        assert_eq!(
            msg(
                "",
                "Pod",
                json!({"spec": {"containers": [{"name": "a"}, {"name": 1}]}})
            ),
            "json: cannot unmarshal number into Go struct field Container.spec.containers.name of type string"
        );
        assert_eq!(
            msg("", "Pod", json!({"metadata": {"labels": {"a": true}}})),
            "json: cannot unmarshal bool into Go struct field ObjectMeta.metadata.labels of type string"
        );
        assert_eq!(
            msg("apps", "Deployment", json!({"spec": {"replicas": 1.5}})),
            "json: cannot unmarshal number 1.5 into Go struct field DeploymentSpec.spec.replicas of type int32"
        );
        assert_eq!(
            msg(
                "apps",
                "Deployment",
                json!({"spec": {"replicas": 3_000_000_000u64}})
            ),
            "json: cannot unmarshal number 3000000000 into Go struct field DeploymentSpec.spec.replicas of type int32"
        );
        assert_eq!(
            msg("", "Pod", json!({"spec": "x"})),
            "json: cannot unmarshal string into Go struct field Pod.spec of type v1.PodSpec"
        );
    }

    #[test]
    fn special_types_parse_as_go_does() {
        let pod = |res: Value| json!({"spec": {"containers": [{"name": "a", "resources": {"limits": res}}]}});
        assert_eq!(
            msg("", "Pod", pod(json!({"cpu": "500m", "memory": 1024}))),
            ""
        );
        assert!(
            msg("", "Pod", pod(json!({"cpu": "lots"}))).contains("quantities must match"),
            "bad quantity"
        );
        assert_eq!(msg("", "Secret", json!({"data": {"a": "aGk="}})), "");
        assert_eq!(
            msg("", "Secret", json!({"data": {"a": "h!"}})),
            "json: invalid value for Go struct field Secret.data of type []uint8: illegal base64 data at input byte 1"
        );
        assert_eq!(
            msg(
                "",
                "Pod",
                json!({"metadata": {"creationTimestamp": "2024-01-02T03:04:05Z"}})
            ),
            ""
        );
        assert!(
            msg(
                "",
                "Pod",
                json!({"metadata": {"creationTimestamp": "yesterday"}})
            )
            .contains("parsing time \"yesterday\""),
        );
        assert_eq!(
            msg(
                "policy",
                "PodDisruptionBudget",
                json!({"spec": {"minAvailable": "50%"}})
            ),
            ""
        );
        // Free-form members and nulls decode anything.
        assert_eq!(
            msg(
                "",
                "Pod",
                json!({"metadata": {"managedFields": [{"fieldsV1": {"f:a": {}}}], "labels": null}})
            ),
            ""
        );
    }

    #[test]
    fn stored_objects_are_checked_at_their_own_version() {
        let bad = json!({"apiVersion": "v1", "kind": "Namespace", "status": "oops"});
        assert_eq!(
            check_stored(&bad).map_err(|e| e.field),
            Err("status".into())
        );
        let cr = json!({"apiVersion": "example.com/v1", "kind": "Thing", "spec": 1});
        assert_eq!(check_stored(&cr), Ok(()));
    }
}
