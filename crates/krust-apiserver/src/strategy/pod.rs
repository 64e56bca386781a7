//! Pods: created `Pending` with their QoS class (static pods mirrored by a kubelet keep the
//! status they come with), status writes that cannot change owner references, and graceful
//! deletion of pods bound to a node.

use super::Strategy;
use crate::Identity;
use krust_api::ResourceInfo;
use krust_api::meta::{get_path, get_str};
use serde_json::{Value, json};

pub(super) struct PodStrategy;

/// Metadata a Pod's status write may change: upstream's pod status strategy keeps the owner
/// references.
const POD_STATUS_WRITABLE_META: &[&str] = &["labels", "annotations", "finalizers"];

impl Strategy for PodStrategy {
    /// A main-resource update cannot change ephemeral containers (their subresource does).
    fn prepare_for_update(&self, info: &ResourceInfo, new: &mut Value, old: &Value) {
        super::prepare_for_update(info, new, old);
        let old_ephemeral = get_path(old, &["spec", "ephemeralContainers"]).cloned();
        if let Some(spec) = new.get_mut("spec").and_then(Value::as_object_mut) {
            match old_ephemeral {
                Some(v) => spec.insert("ephemeralContainers".into(), v),
                None => spec.remove("ephemeralContainers"),
            };
        }
    }

    /// Only `spec.ephemeralContainers` (and the metadata a status write may change) comes
    /// from the request, as upstream's ephemeral-containers strategy.
    fn ephemeral_containers_update(
        &self,
        _info: &ResourceInfo,
        body: &Value,
        old: &Value,
    ) -> Value {
        let mut new = old.clone();
        let wanted = get_path(body, &["spec", "ephemeralContainers"]).cloned();
        if let Some(spec) = new.get_mut("spec").and_then(Value::as_object_mut) {
            match wanted {
                Some(v) if !v.is_null() => spec.insert("ephemeralContainers".into(), v),
                _ => spec.remove("ephemeralContainers"),
            };
        }
        new
    }

    fn prepare_for_create(&self, info: &ResourceInfo, obj: &mut Value, _user: Option<&Identity>) {
        super::prepare_metadata_for_create(info, obj);
        let Some(map) = obj.as_object_mut() else {
            return;
        };
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

    fn status_update(&self, _info: &ResourceInfo, body: &Value, old: &Value) -> Value {
        super::status_update(body, old, POD_STATUS_WRITABLE_META)
    }

    /// A pod bound to a node and not finished gets its grace period (the request's, else
    /// `terminationGracePeriodSeconds`, else 30), never longer than one already running.
    fn deletion_grace(&self, obj: &Value, requested: Option<i64>) -> i64 {
        let bound = get_str(obj, &["spec", "nodeName"]).is_some_and(|n| !n.is_empty());
        let done = matches!(
            get_str(obj, &["status", "phase"]),
            Some("Succeeded" | "Failed")
        );
        if !bound || done {
            return 0;
        }
        let g = requested
            .or_else(|| {
                get_path(obj, &["spec", "terminationGracePeriodSeconds"]).and_then(Value::as_i64)
            })
            .unwrap_or(30)
            .max(0);
        match get_path(obj, &["metadata", "deletionGracePeriodSeconds"]).and_then(Value::as_i64) {
            Some(c) if krust_api::meta::is_deleting(obj) => g.min(c),
            _ => g,
        }
    }

    fn delete_returns_object(&self) -> bool {
        true
    }
}

fn has_quantity(res: Option<&Value>, kind: &str, name: &str) -> bool {
    res.and_then(|r| r.get(kind))
        .and_then(|m| m.get(name))
        .is_some_and(|q| !q.is_null())
}

/// The pod's QoS class from its containers' requests and limits.
pub(crate) fn qos_class(spec: Option<&Value>) -> &'static str {
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
