//! Small accessors on objects held as `serde_json::Value`: metadata fields, paths, defaults.

use serde_json::{Map, Value};

/// The value at a path of object keys, if every step exists.
pub fn get_path<'a>(obj: &'a Value, path: &[&str]) -> Option<&'a Value> {
    let mut cur = obj;
    for p in path {
        cur = cur.as_object()?.get(*p)?;
    }
    Some(cur)
}

/// The string at a path, if it exists and is a string.
pub fn get_str<'a>(obj: &'a Value, path: &[&str]) -> Option<&'a str> {
    get_path(obj, path)?.as_str()
}

/// The integer at a path, if it exists and is an integer.
pub fn get_i64(obj: &Value, path: &[&str]) -> Option<i64> {
    get_path(obj, path)?.as_i64()
}

/// The mutable object at a path, creating empty objects (and replacing nulls) on the way.
/// Returns `None` if a step exists and is not an object.
pub fn object_at<'a>(obj: &'a mut Value, path: &[&str]) -> Option<&'a mut Map<String, Value>> {
    let mut cur = obj;
    for p in path {
        let map = cur.as_object_mut()?;
        let entry = map
            .entry(p.to_string())
            .or_insert_with(|| Value::Object(Map::new()));
        if entry.is_null() {
            *entry = Value::Object(Map::new());
        }
        cur = entry;
    }
    cur.as_object_mut()
}

/// Sets the value at a path, creating objects on the way (and replacing nulls). Returns false,
/// changing nothing, when a step exists and is not an object: unlike `v["a"]["b"] = x`, this
/// never panics on a wrongly typed document.
pub fn set_path(obj: &mut Value, path: &[&str], value: Value) -> bool {
    let Some((last, parents)) = path.split_last() else {
        return false;
    };
    match object_at(obj, parents) {
        Some(map) => {
            map.insert(last.to_string(), value);
            true
        }
        None => false,
    }
}

/// Drops empty `labels`, `annotations`, `finalizers` and `ownerReferences` (and nulls) from
/// `metadata`, as a round trip through upstream's typed ObjectMeta (`omitempty`) does: a
/// patch that sets `annotations: {}` leaves no `annotations` behind.
pub fn drop_empty_metadata(obj: &mut Value) {
    let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) else {
        return;
    };
    for key in ["labels", "annotations", "finalizers", "ownerReferences"] {
        let empty = match meta.get(key) {
            Some(Value::Null) => true,
            Some(Value::Object(m)) => m.is_empty(),
            Some(Value::Array(a)) => a.is_empty(),
            _ => false,
        };
        if empty {
            meta.remove(key);
        }
    }
}

/// Sets `key` in `map` when it is absent or null.
pub fn set_default(map: &mut Map<String, Value>, key: &str, value: Value) {
    match map.get(key) {
        None | Some(Value::Null) => {
            map.insert(key.to_string(), value);
        }
        Some(_) => {}
    }
}

/// `metadata.name`, or `""`.
pub fn name(obj: &Value) -> &str {
    get_str(obj, &["metadata", "name"]).unwrap_or("")
}

/// `metadata.namespace`, or `""`.
pub fn namespace(obj: &Value) -> &str {
    get_str(obj, &["metadata", "namespace"]).unwrap_or("")
}

/// `metadata.uid`, or `""`.
pub fn uid(obj: &Value) -> &str {
    get_str(obj, &["metadata", "uid"]).unwrap_or("")
}

/// `metadata.resourceVersion`, or `""`.
pub fn resource_version(obj: &Value) -> &str {
    get_str(obj, &["metadata", "resourceVersion"]).unwrap_or("")
}

/// `metadata.labels` as a string map (non-string values are skipped).
pub fn labels(obj: &Value) -> Option<&Map<String, Value>> {
    get_path(obj, &["metadata", "labels"])?.as_object()
}

/// The label value of `key`.
pub fn label<'a>(obj: &'a Value, key: &str) -> Option<&'a str> {
    labels(obj)?.get(key)?.as_str()
}

/// `metadata.finalizers` as strings.
pub fn finalizers(obj: &Value) -> Vec<String> {
    get_path(obj, &["metadata", "finalizers"])
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Whether `metadata.deletionTimestamp` is set.
pub fn is_deleting(obj: &Value) -> bool {
    matches!(get_path(obj, &["metadata", "deletionTimestamp"]), Some(v) if !v.is_null())
}

/// The mutable `metadata` map, created if missing.
pub fn metadata_mut(obj: &mut Value) -> Option<&mut Map<String, Value>> {
    object_at(obj, &["metadata"])
}

/// Removes a key at a path if present.
pub fn remove_path(obj: &mut Value, path: &[&str]) -> Option<Value> {
    let (last, parents) = path.split_last()?;
    let mut cur = obj;
    for p in parents {
        cur = cur.as_object_mut()?.get_mut(*p)?;
    }
    cur.as_object_mut()?.remove(*last)
}

/// Reads a `.a.b.c` style JSON path (as used by CRD scale subresources).
pub fn get_dotted<'a>(obj: &'a Value, dotted: &str) -> Option<&'a Value> {
    let parts: Vec<&str> = dotted.trim_start_matches('.').split('.').collect();
    get_path(obj, &parts)
}

/// Writes a `.a.b.c` style JSON path, creating objects on the way.
pub fn set_dotted(obj: &mut Value, dotted: &str, value: Value) -> bool {
    let parts: Vec<&str> = dotted.trim_start_matches('.').split('.').collect();
    set_path(obj, &parts, value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn paths() {
        let mut v = json!({"metadata": {"name": "a", "labels": {"x": "1"}}, "spec": null});
        assert_eq!(name(&v), "a");
        assert_eq!(label(&v, "x"), Some("1"));
        let spec = object_at(&mut v, &["spec", "template"]).unwrap();
        set_default(spec, "k", json!(1));
        set_default(spec, "k", json!(2));
        assert_eq!(v["spec"]["template"]["k"], 1);
        assert!(set_dotted(&mut v, ".status.replicas", json!(3)));
        assert_eq!(get_dotted(&v, ".status.replicas"), Some(&json!(3)));
        assert_eq!(remove_path(&mut v, &["status", "replicas"]), Some(json!(3)));
    }
}
