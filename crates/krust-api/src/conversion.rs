//! Conversion between served versions and the stored version: `apps/v1beta1` Deployments
//! (with the defaults v1beta1 applied, notably the selector taken from the template labels)
//! and `autoscaling/v1` HorizontalPodAutoscalers (stored as `autoscaling/v2`).

use crate::meta::{get_path, object_at, set_default};
use serde_json::{Value, json};

/// Converts an object received at `group/version` to the storage version `storage_version`.
/// Applies the served version's own defaults first, as upstream's decoding does.
pub fn to_storage(group: &str, kind: &str, version: &str, storage_version: &str, obj: &mut Value) {
    if group == "events.k8s.io" && kind == "Event" {
        event_to_core(obj);
        return;
    }
    if version == storage_version {
        return;
    }
    match (group, kind, version) {
        ("apps", "Deployment", "v1beta1") => deployment_v1beta1_to_v1(obj),
        ("autoscaling", "HorizontalPodAutoscaler", "v1") => hpa_v1_to_v2(obj),
        _ => {}
    }
    if let Some(m) = obj.as_object_mut() {
        m.insert(
            "apiVersion".into(),
            Value::String(crate::registry::api_version(group, storage_version)),
        );
    }
}

/// Converts a stored object to the served `version`.
pub fn from_storage(group: &str, kind: &str, version: &str, obj: &mut Value) {
    let stored = obj
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    if stored == crate::registry::api_version(group, version) {
        return;
    }
    if group == "events.k8s.io" && kind == "Event" {
        event_from_core(obj, version);
        return;
    }
    if let ("autoscaling", "HorizontalPodAutoscaler", "v1") = (group, kind, version) {
        hpa_v2_to_v1(obj)
    }
    if let Some(m) = obj.as_object_mut() {
        m.insert(
            "apiVersion".into(),
            Value::String(crate::registry::api_version(group, version)),
        );
    }
}

/// events.k8s.io field name -> core/v1 field name (upstream's conversion).
const EVENT_FIELDS: &[(&str, &str)] = &[
    ("regarding", "involvedObject"),
    ("note", "message"),
    ("reportingController", "reportingComponent"),
    ("deprecatedSource", "source"),
    ("deprecatedFirstTimestamp", "firstTimestamp"),
    ("deprecatedLastTimestamp", "lastTimestamp"),
    ("deprecatedCount", "count"),
];

/// An `events.k8s.io` Event as the core/v1 Event it is stored as.
fn event_to_core(obj: &mut Value) {
    if let Some(m) = obj.as_object_mut() {
        for (from, to) in EVENT_FIELDS {
            if let Some(v) = m.remove(*from) {
                m.insert((*to).to_string(), v);
            }
        }
        m.insert("apiVersion".into(), Value::String("v1".into()));
    }
}

/// A stored core/v1 Event as an `events.k8s.io` Event.
fn event_from_core(obj: &mut Value, version: &str) {
    if let Some(m) = obj.as_object_mut() {
        for (to, from) in EVENT_FIELDS {
            if let Some(v) = m.remove(*from) {
                m.insert((*to).to_string(), v);
            }
        }
        m.insert(
            "apiVersion".into(),
            Value::String(format!("events.k8s.io/{version}")),
        );
    }
}

fn deployment_v1beta1_to_v1(obj: &mut Value) {
    let template_labels = get_path(obj, &["spec", "template", "metadata", "labels"]).cloned();
    if let Some(tl) = template_labels.filter(|l| l.as_object().is_some_and(|m| !m.is_empty())) {
        if let Some(spec) = object_at(obj, &["spec"]) {
            let has_selector = spec.get("selector").is_some_and(|s| !s.is_null());
            if !has_selector {
                spec.insert("selector".into(), json!({ "matchLabels": tl }));
            }
        }
        if let Some(meta) = object_at(obj, &["metadata"]) {
            let empty = meta
                .get("labels")
                .and_then(Value::as_object)
                .is_none_or(|m| m.is_empty());
            if empty {
                meta.insert("labels".into(), tl);
            }
        }
    }
    if let Some(spec) = object_at(obj, &["spec"]) {
        spec.remove("rollbackTo");
        set_default(spec, "revisionHistoryLimit", json!(2));
    }
}

fn hpa_v1_to_v2(obj: &mut Value) {
    if let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut)
        && let Some(t) = spec.remove("targetCPUUtilizationPercentage")
        && !t.is_null()
    {
        spec.insert(
            "metrics".into(),
            json!([{"type": "Resource", "resource": {"name": "cpu",
                        "target": {"type": "Utilization", "averageUtilization": t}}}]),
        );
    }
    if let Some(status) = obj.get_mut("status").and_then(Value::as_object_mut)
        && let Some(c) = status.remove("currentCPUUtilizationPercentage")
        && !c.is_null()
    {
        status.insert(
            "currentMetrics".into(),
            json!([{"type": "Resource", "resource": {"name": "cpu",
                        "current": {"averageUtilization": c}}}]),
        );
    }
}

fn cpu_utilization(metrics: Option<&Value>, which: &str) -> Option<Value> {
    metrics?.as_array()?.iter().find_map(|m| {
        let r = m.get("resource")?;
        (m.get("type")?.as_str()? == "Resource" && r.get("name")?.as_str()? == "cpu")
            .then(|| r.get(which)?.get("averageUtilization").cloned())?
    })
}

fn hpa_v2_to_v1(obj: &mut Value) {
    if let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut) {
        let cpu = cpu_utilization(spec.get("metrics"), "target");
        spec.remove("metrics");
        spec.remove("behavior");
        if let Some(c) = cpu {
            spec.insert("targetCPUUtilizationPercentage".into(), c);
        }
    }
    if let Some(status) = obj.get_mut("status").and_then(Value::as_object_mut) {
        let cpu = cpu_utilization(status.get("currentMetrics"), "current");
        status.remove("currentMetrics");
        status.remove("conditions");
        if let Some(c) = cpu {
            status.insert("currentCPUUtilizationPercentage".into(), c);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v1beta1_deployment_gets_selector_from_template() {
        let mut d = json!({"apiVersion": "apps/v1beta1", "kind": "Deployment",
            "metadata": {"name": "nginx-deployment"},
            "spec": {"replicas": 3, "template": {"metadata": {"labels": {"app": "nginx"}},
                "spec": {"containers": [{"name": "nginx", "image": "nginx:1.7.9"}]}}}});
        to_storage("apps", "Deployment", "v1beta1", "v1", &mut d);
        assert_eq!(d["apiVersion"], "apps/v1");
        assert_eq!(
            d["spec"]["selector"],
            json!({"matchLabels": {"app": "nginx"}})
        );
        assert_eq!(d["metadata"]["labels"], json!({"app": "nginx"}));
        assert_eq!(d["spec"]["revisionHistoryLimit"], 2);
        from_storage("apps", "Deployment", "v1beta1", &mut d);
        assert_eq!(d["apiVersion"], "apps/v1beta1");
    }

    #[test]
    fn events_share_core_storage() {
        let mut e = json!({"apiVersion": "events.k8s.io/v1", "kind": "Event", "note": "hi",
            "regarding": {"kind": "Pod", "name": "p"}, "reportingController": "default-scheduler", "reason": "Scheduled"});
        to_storage("events.k8s.io", "Event", "v1", "v1", &mut e);
        assert_eq!(e["apiVersion"], "v1");
        assert_eq!(e["message"], "hi");
        assert_eq!(e["involvedObject"]["name"], "p");
        assert_eq!(e["reportingComponent"], "default-scheduler");
        from_storage("events.k8s.io", "Event", "v1", &mut e);
        assert_eq!(e["apiVersion"], "events.k8s.io/v1");
        assert_eq!(e["note"], "hi");
        assert!(e.get("message").is_none());
    }

    #[test]
    fn hpa_round_trip() {
        let mut h = json!({"apiVersion": "autoscaling/v1", "kind": "HorizontalPodAutoscaler",
            "spec": {"maxReplicas": 5, "targetCPUUtilizationPercentage": 50}});
        to_storage("autoscaling", "HorizontalPodAutoscaler", "v1", "v2", &mut h);
        assert_eq!(h["apiVersion"], "autoscaling/v2");
        assert_eq!(
            h["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"],
            50
        );
        from_storage("autoscaling", "HorizontalPodAutoscaler", "v1", &mut h);
        assert_eq!(h["spec"]["targetCPUUtilizationPercentage"], 50);
        assert!(h["spec"].get("metrics").is_none());
    }
}
