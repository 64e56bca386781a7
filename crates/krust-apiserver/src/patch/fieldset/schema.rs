//! Schema navigation for server-side apply: how a value at some position in an object is
//! treated by field ownership (a leaf, a granular map or struct, a set list or a map list), and
//! the path element that names each item of a granular list.
//!
//! The schema is either a built-in kind's OpenAPI v2 definition (`$ref`s followed through
//! [`openapi::resolve`]) or a CRD's inline `openAPIV3Schema`; the same `x-kubernetes-*`
//! extensions drive both. Without a schema, objects are granular maps and lists are atomic.
//! The root `metadata` always uses the `ObjectMeta` definition (as upstream does for custom
//! resources), so finalizers merge as a set and owner references by `uid` everywhere.

use super::PathElement;
use krust_api::openapi;
use serde_json::{Map, Value};

/// How deep walkers descend into values and field sets; anything deeper is treated as a leaf.
pub const MAX_DEPTH: usize = 128;

const OBJECT_META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta";

/// A position in a schema: the schema node of a field (the property itself, which carries the
/// list extensions), or nothing (untyped).
#[derive(Debug, Clone, Copy)]
pub struct Ty<'a> {
    node: Option<&'a Value>,
    root: bool,
}

/// How a value is merged and owned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Shape<'a> {
    /// A scalar, an atomic list or an atomic map: owned and replaced as a whole.
    Leaf,
    /// A granular map or struct: each key is its own field.
    Map,
    /// A list of scalars merged by value (`x-kubernetes-list-type: set`).
    Set,
    /// A list of objects merged by key fields (`x-kubernetes-list-type: map`).
    Assoc(Vec<&'a str>),
}

/// The schema of a map key or struct field.
#[derive(Debug, Clone, Copy)]
pub struct FieldTy<'a> {
    pub ty: Ty<'a>,
    /// Whether the key is a declared struct field (as opposed to a key of a map).
    pub declared: bool,
}

impl<'a> Ty<'a> {
    /// The type of a whole object.
    pub fn root(schema: Option<&'a Value>) -> Ty<'a> {
        Ty {
            node: schema,
            root: true,
        }
    }

    /// No schema: granular maps and atomic lists.
    pub fn untyped() -> Ty<'a> {
        Ty {
            node: None,
            root: false,
        }
    }

    fn resolved(&self) -> Option<&'a Value> {
        self.node.map(openapi::resolve)
    }

    /// An extension on the field node, or else on the type it refers to (a field's own
    /// extension wins, e.g. a granular `claimRef` of an atomic `ObjectReference`).
    fn ext(&self, name: &str) -> Option<&'a Value> {
        let node = self.node?;
        node.get(name)
            .or_else(|| self.resolved().and_then(|r| r.get(name)))
    }

    /// How `v` (a value of this type) is merged.
    pub fn shape(&self, v: &Value) -> Shape<'a> {
        match v {
            Value::Object(_) => {
                if self.ext("x-kubernetes-map-type").and_then(Value::as_str) == Some("atomic") {
                    Shape::Leaf
                } else {
                    Shape::Map
                }
            }
            Value::Array(_) => match self.ext("x-kubernetes-list-type").and_then(Value::as_str) {
                Some("set") => Shape::Set,
                Some("map") => {
                    let keys: Vec<&'a str> = self
                        .ext("x-kubernetes-list-map-keys")
                        .and_then(Value::as_array)
                        .map(|a| a.iter().filter_map(Value::as_str).collect())
                        .unwrap_or_default();
                    if keys.is_empty() {
                        Shape::Leaf
                    } else {
                        Shape::Assoc(keys)
                    }
                }
                _ => Shape::Leaf,
            },
            _ => Shape::Leaf,
        }
    }

    /// The type of key `key` of an object of this type.
    pub fn field(&self, key: &str) -> FieldTy<'a> {
        if self.root
            && key == "metadata"
            && let Some(meta) = openapi::definition(OBJECT_META)
        {
            return FieldTy {
                ty: Ty {
                    node: Some(meta),
                    root: false,
                },
                declared: true,
            };
        }
        let Some(resolved) = self.resolved() else {
            return FieldTy {
                ty: Ty::untyped(),
                declared: false,
            };
        };
        if let Some(prop) = resolved.get("properties").and_then(|p| p.get(key)) {
            return FieldTy {
                ty: Ty {
                    node: Some(prop),
                    root: false,
                },
                declared: true,
            };
        }
        match resolved
            .get("additionalProperties")
            .filter(|v| v.is_object())
        {
            Some(ap) => FieldTy {
                ty: Ty {
                    node: Some(ap),
                    root: false,
                },
                declared: false,
            },
            None => FieldTy {
                ty: Ty::untyped(),
                declared: false,
            },
        }
    }

    /// The type of the items of a list of this type.
    pub fn elem(&self) -> Ty<'a> {
        let node = self
            .resolved()
            .and_then(|r| r.get("items"))
            .filter(|v| v.is_object());
        Ty { node, root: false }
    }

    /// Whether this is a struct of a built-in kind (a `$ref` to a definition with properties).
    /// Such structs are always present in the zero value upstream compares a created object
    /// against, so an update never records the struct node itself (only its fields).
    pub fn is_builtin_struct(&self) -> bool {
        match (self.node, self.resolved()) {
            (Some(node), Some(resolved)) => {
                !std::ptr::eq(node, resolved) && resolved.get("properties").is_some()
            }
            _ => false,
        }
    }

    /// The default of a key field of a map list whose items have this type, for items that
    /// omit it: the schema's `default`, else the built-in `protocol` default (`TCP`).
    fn key_default(&self, key: &str) -> Option<Value> {
        let declared = self
            .resolved()
            .and_then(|r| r.get("properties"))
            .and_then(|p| p.get(key))
            .and_then(|p| p.get("default"))
            .cloned();
        declared.or_else(|| (key == "protocol").then(|| Value::String("TCP".to_string())))
    }

    /// The path element of an item of a granular list of this type with shape `shape`.
    pub fn item_element(&self, shape: &Shape<'_>, item: &Value) -> Result<PathElement, String> {
        match shape {
            Shape::Set => Ok(PathElement::Value(canonical(item))),
            Shape::Assoc(keys) => {
                let Some(obj) = item.as_object() else {
                    return Err("associative list items must be objects".to_string());
                };
                let elem = self.elem();
                let mut key = Map::new();
                for k in keys {
                    match obj.get(*k).filter(|v| !v.is_null()) {
                        Some(v) => {
                            key.insert((*k).to_string(), v.clone());
                        }
                        None => match elem.key_default(k) {
                            Some(d) => {
                                key.insert((*k).to_string(), d);
                            }
                            None => {
                                return Err(format!(
                                    "associative list with keys has an element that omits key \
                                     field {k:?} (and doesn't have default value)"
                                ));
                            }
                        },
                    }
                }
                Ok(PathElement::Key(canonical(&Value::Object(key))))
            }
            Shape::Leaf | Shape::Map => Err("not a granular list".to_string()),
        }
    }

    /// Like [`Ty::item_element`], but never fails: an item without a usable key is named by
    /// its index (live objects may hold anything; only applied configurations are checked).
    pub fn item_element_lenient(
        &self,
        shape: &Shape<'_>,
        item: &Value,
        index: usize,
    ) -> PathElement {
        self.item_element(shape, item)
            .unwrap_or(PathElement::Index(u64::try_from(index).unwrap_or(u64::MAX)))
    }
}

/// The canonical JSON text of a value (compact, object keys sorted).
pub fn canonical(v: &Value) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

/// 0 for objects, 1 for arrays, 2 for scalars, 3 for null: values of different kinds never
/// merge structurally.
pub fn kind(v: &Value) -> u8 {
    match v {
        Value::Object(_) => 0,
        Value::Array(_) => 1,
        Value::Null => 3,
        _ => 2,
    }
}
