//! Typed, lenient access to one node of a JSON schema: keywords of the wrong JSON type read as
//! absent (they are reported by the schema checks).

use serde_json::{Map, Value};

/// One schema node (a JSON object).
#[derive(Clone, Copy, Debug)]
pub(super) struct Node<'a>(pub &'a Map<String, Value>);

/// `additionalProperties`: a boolean or a schema.
#[derive(Clone, Copy, Debug)]
pub(super) enum Additional<'a> {
    Bool(bool),
    Schema(Node<'a>),
}

impl<'a> Node<'a> {
    pub fn of(v: &'a Value) -> Option<Self> {
        v.as_object().map(Node)
    }

    pub fn get(self, key: &str) -> Option<&'a Value> {
        self.0.get(key)
    }

    pub fn str(self, key: &str) -> Option<&'a str> {
        self.get(key).and_then(Value::as_str)
    }

    /// A boolean keyword, false when absent or not a boolean.
    pub fn flag(self, key: &str) -> bool {
        self.get(key).and_then(Value::as_bool).unwrap_or(false)
    }

    /// `type`, empty when absent.
    pub fn ty(self) -> &'a str {
        self.str("type").unwrap_or("")
    }

    pub fn format(self) -> &'a str {
        self.str("format").unwrap_or("")
    }

    pub fn properties(self) -> Option<&'a Map<String, Value>> {
        self.get("properties").and_then(Value::as_object)
    }

    /// The properties that are schemas, in key order.
    pub fn props(self) -> impl Iterator<Item = (&'a String, Node<'a>)> {
        self.properties()
            .into_iter()
            .flat_map(|m| m.iter())
            .filter_map(|(k, v)| Node::of(v).map(|n| (k, n)))
    }

    pub fn property(self, key: &str) -> Option<Node<'a>> {
        self.properties()
            .and_then(|m| m.get(key))
            .and_then(Node::of)
    }

    pub fn has_properties(self) -> bool {
        self.properties().is_some_and(|m| !m.is_empty())
    }

    /// `items` when it is a single schema.
    pub fn items(self) -> Option<Node<'a>> {
        self.get("items").and_then(Node::of)
    }

    pub fn additional(self) -> Option<Additional<'a>> {
        match self.get("additionalProperties")? {
            Value::Bool(b) => Some(Additional::Bool(*b)),
            Value::Object(m) => Some(Additional::Schema(Node(m))),
            _ => None,
        }
    }

    /// The `additionalProperties` schema, if it is one.
    pub fn additional_schema(self) -> Option<Node<'a>> {
        match self.additional()? {
            Additional::Schema(n) => Some(n),
            Additional::Bool(_) => None,
        }
    }

    pub fn preserve_unknown(self) -> bool {
        self.flag("x-kubernetes-preserve-unknown-fields")
    }

    pub fn embedded(self) -> bool {
        self.flag("x-kubernetes-embedded-resource")
    }

    pub fn int_or_string(self) -> bool {
        self.flag("x-kubernetes-int-or-string")
    }

    pub fn nullable(self) -> bool {
        self.flag("nullable")
    }

    /// The default value; a JSON null means "no default", as upstream reads it.
    pub fn default(self) -> Option<&'a Value> {
        self.get("default").filter(|v| !v.is_null())
    }

    pub fn list_type(self) -> Option<&'a str> {
        self.str("x-kubernetes-list-type")
    }

    pub fn list_map_keys(self) -> Vec<&'a str> {
        self.get("x-kubernetes-list-map-keys")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default()
    }

    /// The schemas of `allOf`, `anyOf` or `oneOf`.
    pub fn schemas(self, key: &str) -> Vec<Node<'a>> {
        self.get(key)
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Node::of).collect())
            .unwrap_or_default()
    }

    pub fn not(self) -> Option<Node<'a>> {
        self.get("not").and_then(Node::of)
    }

    pub fn number(self, key: &str) -> Option<f64> {
        self.get(key).and_then(Value::as_f64)
    }

    /// An integer keyword (`maxLength`, `minItems`...); integral floats are accepted.
    pub fn int(self, key: &str) -> Option<i64> {
        let v = self.get(key)?;
        v.as_i64().or_else(|| {
            v.as_f64()
                .filter(|f| f.fract() == 0.0 && f.abs() < 9.2e18)
                .map(|f| f as i64)
        })
    }

    pub fn required(self) -> Vec<&'a str> {
        self.get("required")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default()
    }

    pub fn enum_values(self) -> Option<&'a Vec<Value>> {
        self.get("enum")
            .and_then(Value::as_array)
            .filter(|a| !a.is_empty())
    }

    /// The child schema governing field `key` of an object: its property, else the
    /// `additionalProperties` schema.
    pub fn field_schema(self, key: &str) -> Option<Node<'a>> {
        self.property(key).or_else(|| self.additional_schema())
    }
}

/// The three fields upstream treats as type and object meta in resources.
pub(super) fn is_meta_field(k: &str) -> bool {
    matches!(k, "apiVersion" | "kind" | "metadata")
}
