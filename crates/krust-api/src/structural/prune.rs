//! Pruning (`pruning.PruneWithOptions`), object-meta coercion of the resource root and of
//! embedded resources (`objectmeta.Coerce` dropping malformed fields), and removal of nulls
//! that are neither nullable nor defaulted (`defaulting.PruneNonNullableNullsWithoutDefaults`).

use super::MAX_DEPTH;
use super::node::{Additional, Node, is_meta_field};
use serde_json::{Map, Value};

pub(super) fn prune(obj: &mut Value, schema: &Value) {
    let Some(s) = Node::of(schema) else {
        return;
    };
    prune_structural(obj, Some(s), true, 0);
    prune_nulls(obj, Some(s), 0);
    coerce(obj, s, true, 0);
}

/// Removes the fields `s` does not specify. At a resource root (`resource_root`) and in
/// embedded resources, `apiVersion`, `kind` and `metadata` are left alone.
pub(super) fn prune_structural(
    x: &mut Value,
    s: Option<Node<'_>>,
    resource_root: bool,
    depth: usize,
) {
    if depth > MAX_DEPTH {
        return;
    }
    let embedded = resource_root || s.is_some_and(Node::embedded);
    if let Some(s) = s
        && s.preserve_unknown()
    {
        skip_prune(x, s, embedded, depth);
        return;
    }
    match x {
        Value::Object(m) => {
            let Some(s) = s else {
                m.clear();
                return;
            };
            m.retain(|k, v| {
                if embedded && is_meta_field(k) {
                    return true;
                }
                if let Some(p) = s.property(k) {
                    prune_structural(v, Some(p), false, depth + 1);
                    true
                } else if let Some(ap) = s.additional() {
                    let sub = match ap {
                        Additional::Schema(n) => Some(n),
                        Additional::Bool(_) => None,
                    };
                    prune_structural(v, sub, false, depth + 1);
                    true
                } else {
                    false
                }
            });
        }
        Value::Array(a) => {
            let items = s.and_then(Node::items);
            for v in a {
                prune_structural(v, items, false, depth + 1);
            }
        }
        _ => {}
    }
}

/// Under `x-kubernetes-preserve-unknown-fields`: unknown fields stay, specified ones are
/// pruned by their schema.
fn skip_prune(x: &mut Value, s: Node<'_>, embedded: bool, depth: usize) {
    if depth > MAX_DEPTH {
        return;
    }
    match x {
        Value::Object(m) => {
            for (k, v) in m.iter_mut() {
                if embedded && is_meta_field(k) {
                    continue;
                }
                if let Some(p) = s.property(k) {
                    prune_structural(v, Some(p), false, depth + 1);
                } else if let Some(ap) = s.additional() {
                    let sub = match ap {
                        Additional::Schema(n) => Some(n),
                        Additional::Bool(_) => None,
                    };
                    prune_structural(v, sub, false, depth + 1);
                }
            }
        }
        Value::Array(a) => {
            if let Some(items) = s.items() {
                for v in a {
                    skip_prune(v, items, items.embedded(), depth + 1);
                }
            }
        }
        _ => {}
    }
}

/// Removes nulls whose schema is neither nullable nor has a default.
pub(super) fn prune_nulls(x: &mut Value, s: Option<Node<'_>>, depth: usize) {
    if depth > MAX_DEPTH {
        return;
    }
    match x {
        Value::Object(m) => {
            m.retain(|k, v| {
                let sub = s.and_then(|s| s.field_schema(k));
                if v.is_null() && sub.is_some_and(|n| !n.nullable() && n.default().is_none()) {
                    return false;
                }
                prune_nulls(v, sub, depth + 1);
                true
            });
        }
        Value::Array(a) => {
            let items = s.and_then(Node::items);
            for v in a {
                prune_nulls(v, items, depth + 1);
            }
        }
        _ => {}
    }
}

/// Reduces the `metadata` of the resource root and of embedded resources to `ObjectMeta`'s
/// fields, dropping malformed ones; drops non-string `apiVersion`/`kind` of embedded resources.
fn coerce(x: &mut Value, s: Node<'_>, resource_root: bool, depth: usize) {
    if depth > MAX_DEPTH {
        return;
    }
    match x {
        Value::Object(m) => {
            if resource_root || s.embedded() {
                if !resource_root {
                    m.retain(|k, v| !matches!(k.as_str(), "apiVersion" | "kind") || v.is_string());
                }
                match m.get_mut("metadata") {
                    Some(Value::Object(meta)) => coerce_object_meta(meta),
                    Some(Value::Null) | None => {}
                    Some(_) => {
                        // Upstream drops malformed root metadata; embedded ones stay for
                        // validation to report.
                        if resource_root {
                            m.remove("metadata");
                        }
                    }
                }
            }
            for (k, v) in m.iter_mut() {
                if let Some(p) = s.property(k) {
                    coerce(v, p, false, depth + 1);
                } else if let Some(ap) = s.additional_schema() {
                    coerce(v, ap, false, depth + 1);
                }
            }
        }
        Value::Array(a) => {
            if let Some(items) = s.items() {
                for v in a {
                    coerce(v, items, false, depth + 1);
                }
            }
        }
        _ => {}
    }
}

fn is_time(v: &Value) -> bool {
    v.as_str().is_some_and(|s| crate::time::parse(s).is_some())
}

fn is_int(v: &Value) -> bool {
    v.as_i64().is_some()
}

fn is_string_map(v: &Value) -> bool {
    v.as_object()
        .is_some_and(|m| m.values().all(Value::is_string))
}

fn owner_reference(v: &Value) -> Option<Value> {
    let m = v.as_object()?;
    let ok = m.iter().all(|(k, val)| {
        val.is_null()
            || match k.as_str() {
                "apiVersion" | "kind" | "name" | "uid" => val.is_string(),
                "controller" | "blockOwnerDeletion" => val.is_boolean(),
                _ => true,
            }
    });
    ok.then(|| {
        known_fields(
            v,
            &[
                "apiVersion",
                "kind",
                "name",
                "uid",
                "controller",
                "blockOwnerDeletion",
            ],
        )
    })
}

fn managed_fields_entry(v: &Value) -> Option<Value> {
    let m = v.as_object()?;
    let ok = m.iter().all(|(k, val)| {
        val.is_null()
            || match k.as_str() {
                "manager" | "operation" | "apiVersion" | "fieldsType" | "subresource" => {
                    val.is_string()
                }
                "time" => is_time(val),
                "fieldsV1" => val.is_object(),
                _ => true,
            }
    });
    ok.then(|| {
        known_fields(
            v,
            &[
                "manager",
                "operation",
                "apiVersion",
                "time",
                "fieldsType",
                "fieldsV1",
                "subresource",
            ],
        )
    })
}

/// The non-null values of the listed keys.
fn known_fields(v: &Value, keys: &[&str]) -> Value {
    let mut out = Map::new();
    if let Some(m) = v.as_object() {
        for (k, val) in m {
            if keys.contains(&k.as_str()) && !val.is_null() {
                out.insert(k.clone(), val.clone());
            }
        }
    }
    Value::Object(out)
}

fn list_of(v: &Value, each: fn(&Value) -> Option<Value>) -> Option<Value> {
    let a = v.as_array()?;
    a.iter()
        .map(each)
        .collect::<Option<Vec<_>>>()
        .map(Value::Array)
}

/// `ObjectMeta` through a typed round trip: unknown fields, malformed fields and empty values
/// (`omitempty`) are dropped.
fn coerce_object_meta(meta: &mut Map<String, Value>) {
    let mut out = Map::new();
    for (k, v) in meta.iter() {
        let kept = match k.as_str() {
            "name" | "generateName" | "namespace" | "selfLink" | "uid" | "resourceVersion" => {
                v.as_str().filter(|s| !s.is_empty()).map(|_| v.clone())
            }
            "generation" => (is_int(v) && v.as_i64() != Some(0)).then(|| v.clone()),
            "deletionGracePeriodSeconds" => is_int(v).then(|| v.clone()),
            "creationTimestamp" | "deletionTimestamp" => is_time(v).then(|| v.clone()),
            "labels" | "annotations" => (is_string_map(v)
                && v.as_object().is_some_and(|m| !m.is_empty()))
            .then(|| v.clone()),
            "finalizers" => v
                .as_array()
                .filter(|a| !a.is_empty() && a.iter().all(Value::is_string))
                .map(|_| v.clone()),
            "ownerReferences" => {
                list_of(v, owner_reference).filter(|a| a.as_array().is_some_and(|a| !a.is_empty()))
            }
            "managedFields" => list_of(v, managed_fields_entry)
                .filter(|a| a.as_array().is_some_and(|a| !a.is_empty())),
            _ => None,
        };
        if let Some(kept) = kept {
            out.insert(k.clone(), kept);
        }
    }
    *meta = out;
}
