//! Defaults of autoscaling/v2 HorizontalPodAutoscalers.

use super::{Obj, default_ptr, empty_list, ensure, unset};
use serde_json::{Value, json};

/// Default target average CPU utilization, in percent.
const DEFAULT_CPU_UTILIZATION: i64 = 80;

/// Defaults an HPA: at least one replica, a CPU utilization target of 80% when it has no
/// metrics, and, when a `behavior` is given, every unset part of its scaling rules.
pub(super) fn horizontal_pod_autoscaler(root: &mut Obj) {
    let Some(spec) = ensure(root, "spec") else {
        return;
    };
    default_ptr(spec, "minReplicas", 1);
    if empty_list(spec, "metrics") {
        spec.insert(
            "metrics".into(),
            json!([{"type": "Resource", "resource": {"name": "cpu",
                "target": {"type": "Utilization", "averageUtilization": DEFAULT_CPU_UTILIZATION}}}]),
        );
    }
    if let Some(behavior) = spec.get_mut("behavior").and_then(Value::as_object_mut) {
        // Scale up: immediately, by up to 4 pods or 100% every 15 s, whichever is more.
        scaling_rules(
            behavior,
            "scaleUp",
            Some(0),
            json!([{"type": "Pods", "value": 4, "periodSeconds": 15},
                   {"type": "Percent", "value": 100, "periodSeconds": 15}]),
        );
        // Scale down: by up to 100% every 15 s; the stabilization window stays unset (the
        // controller's flag decides it).
        scaling_rules(
            behavior,
            "scaleDown",
            None,
            json!([{"type": "Percent", "value": 100, "periodSeconds": 15}]),
        );
    }
}

/// Fills the unset fields of one direction's scaling rules (creating them when unset).
fn scaling_rules(behavior: &mut Obj, key: &str, window: Option<i64>, policies: Value) {
    let Some(rules) = ensure(behavior, key) else {
        return;
    };
    default_ptr(rules, "selectPolicy", "Max");
    if let Some(w) = window {
        default_ptr(rules, "stabilizationWindowSeconds", w);
    }
    if unset(rules, "policies") {
        rules.insert("policies".into(), policies);
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{Case, run};
    use serde_json::json;

    #[test]
    fn hpas() {
        let target = json!({"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"});
        let cpu80 = json!([{"type": "Resource", "resource": {"name": "cpu",
            "target": {"type": "Utilization", "averageUtilization": 80}}}]);
        let cases: Vec<Case> = vec![
            (
                "autoscaling",
                "HorizontalPodAutoscaler",
                json!({"spec": {"scaleTargetRef": target, "maxReplicas": 10}}),
                json!({"spec": {"scaleTargetRef": target, "maxReplicas": 10, "minReplicas": 1,
                    "metrics": cpu80}}),
            ),
            (
                "autoscaling",
                "HorizontalPodAutoscaler",
                json!({"spec": {"scaleTargetRef": target, "maxReplicas": 10, "minReplicas": 2,
                    "metrics": [], "behavior": {"scaleDown": {"stabilizationWindowSeconds": 60,
                        "policies": []}}}}),
                json!({"spec": {"scaleTargetRef": target, "maxReplicas": 10, "minReplicas": 2,
                    "metrics": cpu80, "behavior": {
                        "scaleUp": {"stabilizationWindowSeconds": 0, "selectPolicy": "Max",
                            "policies": [{"type": "Pods", "value": 4, "periodSeconds": 15},
                                {"type": "Percent", "value": 100, "periodSeconds": 15}]},
                        "scaleDown": {"stabilizationWindowSeconds": 60, "selectPolicy": "Max",
                            "policies": []}}}}),
            ),
            (
                "autoscaling",
                "HorizontalPodAutoscaler",
                json!({"spec": {"maxReplicas": 3, "behavior": {"scaleUp": {
                    "selectPolicy": "Disabled"}},
                    "metrics": [{"type": "Resource", "resource": {"name": "memory",
                        "target": {"type": "AverageValue", "averageValue": "100Mi"}}}]}}),
                json!({"spec": {"maxReplicas": 3, "minReplicas": 1, "behavior": {
                        "scaleUp": {"stabilizationWindowSeconds": 0, "selectPolicy": "Disabled",
                            "policies": [{"type": "Pods", "value": 4, "periodSeconds": 15},
                                {"type": "Percent", "value": 100, "periodSeconds": 15}]},
                        "scaleDown": {"selectPolicy": "Max",
                            "policies": [{"type": "Percent", "value": 100,
                                "periodSeconds": 15}]}},
                    "metrics": [{"type": "Resource", "resource": {"name": "memory",
                        "target": {"type": "AverageValue", "averageValue": "100Mi"}}}]}}),
            ),
            (
                "autoscaling",
                "HorizontalPodAutoscaler",
                json!({"spec": {"metrics": {"x": 1}, "behavior": "fast"}}),
                json!({"spec": {"metrics": {"x": 1}, "behavior": "fast", "minReplicas": 1}}),
            ),
        ];
        run(cases);
    }
}
