//! Per-kind create and update strategies (upstream's `PrepareForCreate`/`PrepareForUpdate` and
//! `BeforeCreate`/`BeforeUpdate`): system metadata, status resets, generation bumps, and the
//! rules of the `status` subresource.

use crate::object::new_uid;
use krust_api::ResourceInfo;
use krust_api::meta::get_path;
use serde_json::{Map, Value, json};

const SYSTEM_META_ON_CREATE: &[&str] = &[
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "resourceVersion",
    "selfLink",
    "generation",
];

/// Fills system metadata and resets fields clients may not set on create.
pub fn prepare_for_create(info: &ResourceInfo, obj: &mut Value) {
    if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        for k in SYSTEM_META_ON_CREATE {
            meta.remove(*k);
        }
        meta.insert("uid".into(), Value::String(new_uid()));
        meta.insert(
            "creationTimestamp".into(),
            Value::String(krust_api::time::now_rfc3339()),
        );
        if info.tracks_generation {
            meta.insert("generation".into(), json!(1));
        }
        if !info.namespaced {
            meta.remove("namespace");
        }
    }
    let Some(map) = obj.as_object_mut() else {
        return;
    };
    match (info.group.as_str(), info.kind.as_str()) {
        ("", "Namespace") => {
            map.insert("status".into(), json!({"phase": "Active"}));
            let spec = map.entry("spec").or_insert_with(|| json!({}));
            if let Some(spec) = spec.as_object_mut() {
                spec.insert("finalizers".into(), json!(["kubernetes"]));
            }
        }
        ("", "Pod") => {
            let qos = qos_class(map.get("spec"));
            let keep_static = map.get("status").and_then(|s| s.get("phase")).is_some();
            if !keep_static {
                map.insert(
                    "status".into(),
                    json!({"phase": "Pending", "qosClass": qos}),
                );
            } else if let Some(s) = map.get_mut("status").and_then(Value::as_object_mut) {
                s.insert("qosClass".into(), json!(qos));
            }
        }
        ("", "PersistentVolume") | ("", "PersistentVolumeClaim") => {
            map.insert("status".into(), json!({"phase": "Pending"}));
        }
        ("", "Node") => {}
        ("apiextensions.k8s.io", "CustomResourceDefinition") => {
            map.remove("status");
            if let Some(meta) = map.get_mut("metadata").and_then(Value::as_object_mut) {
                let fins = meta.entry("finalizers").or_insert_with(|| json!([]));
                if let Some(list) = fins.as_array_mut()
                    && !list.iter().any(|f| f == crate::crd::CLEANUP_FINALIZER)
                {
                    list.push(json!(crate::crd::CLEANUP_FINALIZER));
                }
            }
        }
        _ if info.subresources.status => {
            map.remove("status");
        }
        _ => {}
    }
}

/// Folds a Secret's write-only `stringData` into `data` (base64), as upstream does on write.
pub fn normalize_secret(info: &ResourceInfo, obj: &mut Value) {
    use base64::Engine;
    if !(info.group.is_empty() && info.kind == "Secret") {
        return;
    }
    let Some(map) = obj.as_object_mut() else {
        return;
    };
    let Some(Value::Object(string_data)) = map.remove("stringData") else {
        return;
    };
    let data = map.entry("data").or_insert_with(|| json!({}));
    if data.is_null() {
        *data = json!({});
    }
    if let Some(data) = data.as_object_mut() {
        for (k, v) in string_data {
            let text = match v {
                Value::String(s) => s,
                other => other.to_string(),
            };
            data.insert(
                k,
                Value::String(base64::engine::general_purpose::STANDARD.encode(text.as_bytes())),
            );
        }
    }
}

/// Carries over what an update may not change and bumps `generation` on spec changes.
pub fn prepare_for_update(info: &ResourceInfo, new: &mut Value, old: &Value) {
    let old_meta = old.get("metadata").cloned().unwrap_or_else(|| json!({}));
    if let Some(meta) = new.get_mut("metadata").and_then(Value::as_object_mut) {
        for k in [
            "creationTimestamp",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "generation",
        ] {
            match old_meta.get(k) {
                Some(v) => {
                    meta.insert(k.into(), v.clone());
                }
                None => {
                    meta.remove(k);
                }
            }
        }
        let uid_empty = meta
            .get("uid")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty);
        if uid_empty && let Some(u) = old_meta.get("uid") {
            meta.insert("uid".into(), u.clone());
        }
        meta.remove("selfLink");
    }
    let Some(map) = new.as_object_mut() else {
        return;
    };
    if info.subresources.status {
        match old.get("status") {
            Some(s) => {
                map.insert("status".into(), s.clone());
            }
            None => {
                map.remove("status");
            }
        }
    }
    if (info.group.as_str(), info.kind.as_str()) == ("", "Namespace")
        && let Some(f) = get_path(old, &["spec", "finalizers"]).cloned()
    {
        let spec = map.entry("spec").or_insert_with(|| json!({}));
        if let Some(spec) = spec.as_object_mut() {
            spec.insert("finalizers".into(), f);
        }
    }
    if info.tracks_generation && spec_changed(new, old) {
        bump_generation(new, old);
    }
}

fn spec_view(v: &Value) -> Map<String, Value> {
    let mut m = v.as_object().cloned().unwrap_or_default();
    for k in ["metadata", "status", "apiVersion", "kind"] {
        m.remove(k);
    }
    m
}

fn spec_changed(new: &Value, old: &Value) -> bool {
    spec_view(new) != spec_view(old)
}

fn bump_generation(new: &mut Value, old: &Value) {
    let g = get_path(old, &["metadata", "generation"])
        .and_then(Value::as_i64)
        .unwrap_or(0);
    if let Some(meta) = new.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.insert("generation".into(), json!(g + 1));
    }
}

/// Metadata a write to `status` may change on a built-in kind (upstream's status strategies
/// keep everything in the body's metadata but what the system owns).
const STATUS_WRITABLE_META: &[&str] = &["labels", "annotations", "finalizers", "ownerReferences"];

/// The object after a write to its `status` subresource: the stored object with the body's
/// status and, for built-in kinds, the body's labels, annotations, finalizers and owner
/// references (a custom resource's status write changes its status only, and a Pod's status
/// write keeps its owner references, as upstream). Everything else in the body is ignored.
pub fn status_update(info: &ResourceInfo, body: &Value, old: &Value) -> Value {
    let mut new = old.clone();
    let is_pod = info.group.is_empty() && info.kind == "Pod";
    if info.custom.is_none()
        && let (Some(meta), Some(body_meta)) = (
            new.get_mut("metadata").and_then(Value::as_object_mut),
            body.get("metadata").and_then(Value::as_object),
        )
    {
        for key in STATUS_WRITABLE_META {
            if is_pod && *key == "ownerReferences" {
                continue;
            }
            match body_meta.get(*key) {
                Some(v) if !v.is_null() => {
                    meta.insert(key.to_string(), v.clone());
                }
                _ => {
                    meta.remove(*key);
                }
            }
        }
    }
    if let Some(map) = new.as_object_mut() {
        match body.get("status") {
            Some(s) => {
                map.insert("status".into(), s.clone());
            }
            None => {
                map.remove("status");
            }
        }
    }
    if let (Some(meta), Some(rv)) = (
        new.get_mut("metadata").and_then(Value::as_object_mut),
        get_path(body, &["metadata", "resourceVersion"]).cloned(),
    ) {
        meta.insert("resourceVersion".into(), rv);
    }
    new
}

fn has_quantity(res: Option<&Value>, kind: &str, name: &str) -> bool {
    res.and_then(|r| r.get(kind))
        .and_then(|m| m.get(name))
        .is_some_and(|q| !q.is_null())
}

/// The pod's QoS class from its containers' requests and limits.
pub fn qos_class(spec: Option<&Value>) -> &'static str {
    let containers: Vec<&Value> = ["containers", "initContainers"]
        .iter()
        .filter_map(|k| spec.and_then(|s| s.get(*k)).and_then(Value::as_array))
        .flatten()
        .collect();
    let mut any = false;
    let mut guaranteed = true;
    for c in &containers {
        let res = c.get("resources");
        for name in ["cpu", "memory"] {
            let req = has_quantity(res, "requests", name);
            let lim = has_quantity(res, "limits", name);
            any |= req || lim;
            if !lim {
                guaranteed = false;
            } else if req {
                let r = res.and_then(|r| r["requests"].get(name));
                let l = res.and_then(|r| r["limits"].get(name));
                if r != l {
                    guaranteed = false;
                }
            }
        }
    }
    if !any {
        "BestEffort"
    } else if guaranteed && !containers.is_empty() {
        "Guaranteed"
    } else {
        "Burstable"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use krust_api::Registry;

    #[test]
    fn create_and_update() {
        let r = Registry::builtin();
        let d = r.get("apps", "v1", "deployments").unwrap();
        let mut obj = json!({"metadata": {"name": "web", "resourceVersion": "9", "generation": 7},
            "spec": {"replicas": 1}, "status": {"replicas": 5}});
        prepare_for_create(&d, &mut obj);
        assert_eq!(obj["metadata"]["generation"], 1);
        assert!(obj.get("status").is_none());
        assert!(obj["metadata"].get("resourceVersion").is_none());
        let old = obj.clone();
        let mut new = obj.clone();
        new["metadata"]["labels"] = json!({"a": "b"});
        new["status"] = json!({"replicas": 9});
        prepare_for_update(&d, &mut new, &old);
        assert_eq!(new["metadata"]["generation"], 1);
        assert!(new.get("status").is_none());
        new["spec"]["replicas"] = json!(3);
        prepare_for_update(&d, &mut new, &old);
        assert_eq!(new["metadata"]["generation"], 2);
        let s = status_update(
            &d,
            &json!({"spec": {"replicas": 100}, "status": {"replicas": 3},
                "metadata": {"annotations": {"a": "b"}, "uid": "other"}}),
            &old,
        );
        assert_eq!(s["spec"]["replicas"], 1);
        assert_eq!(s["status"]["replicas"], 3);
        assert_eq!(s["metadata"]["annotations"]["a"], "b");
        assert_eq!(s["metadata"]["uid"], old["metadata"]["uid"]);
    }

    #[test]
    fn qos() {
        assert_eq!(
            qos_class(Some(&json!({"containers": [{"name": "a"}]}))),
            "BestEffort"
        );
        assert_eq!(
            qos_class(Some(
                &json!({"containers": [{"resources": {"requests": {"cpu": "1"}}}]})
            )),
            "Burstable"
        );
        assert_eq!(
            qos_class(Some(
                &json!({"containers": [{"resources": {"limits": {"cpu": "1", "memory": "1Gi"}}}]})
            )),
            "Guaranteed"
        );
    }
}
