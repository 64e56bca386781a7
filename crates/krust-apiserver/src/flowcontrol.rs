//! The API priority and fairness configuration upstream bootstraps
//! (`flowcontrol.apiserver.k8s.io/v1`): the mandatory and suggested PriorityLevelConfigurations
//! and FlowSchemas, with `apf.kubernetes.io/autoupdate-spec: "true"`, and each FlowSchema's
//! `Dangling` condition. Requests are not yet queued by these (a later issue); the objects are
//! served so that clients and conformance checks that read them find upstream's set.

use crate::ApiServer;
use crate::bootstrap::create_with_status;
use crate::status::ApiError;
use serde_json::{Value, json};

const API_VERSION: &str = "flowcontrol.apiserver.k8s.io/v1";
const GROUP: &str = "flowcontrol.apiserver.k8s.io";

/// A Limited priority level: (name, nominal shares, lendable %, queuing (queues, hand size,
/// queue length limit); `None` rejects instead of queuing).
type Limited = (&'static str, i64, i64, Option<(i64, i64, i64)>);

const LIMITED_LEVELS: &[Limited] = &[
    ("system", 30, 33, Some((64, 6, 50))),
    ("node-high", 40, 25, Some((64, 6, 50))),
    ("leader-election", 10, 0, Some((16, 4, 50))),
    ("workload-high", 40, 50, Some((128, 6, 50))),
    ("workload-low", 100, 90, Some((128, 6, 50))),
    ("global-default", 20, 50, Some((128, 6, 50))),
    ("catch-all", 5, 0, None),
];

fn metadata(name: &str) -> Value {
    json!({"name": name, "annotations": {"apf.kubernetes.io/autoupdate-spec": "true"}})
}

fn priority_levels() -> Vec<Value> {
    let mut out = vec![
        json!({"apiVersion": API_VERSION, "kind": "PriorityLevelConfiguration",
        "metadata": metadata("exempt"),
        "spec": {"type": "Exempt", "exempt": {"nominalConcurrencyShares": 0,
            "lendablePercent": 0}}}),
    ];
    for (name, shares, lendable, queuing) in LIMITED_LEVELS {
        let limit_response = match queuing {
            Some((queues, hand, len)) => json!({"type": "Queue", "queuing": {
                "queues": queues, "handSize": hand, "queueLengthLimit": len}}),
            None => json!({"type": "Reject"}),
        };
        out.push(
            json!({"apiVersion": API_VERSION, "kind": "PriorityLevelConfiguration",
            "metadata": metadata(name),
            "spec": {"type": "Limited", "limited": {"nominalConcurrencyShares": shares,
                "lendablePercent": lendable, "limitResponse": limit_response}}}),
        );
    }
    out
}

fn group(name: &str) -> Value {
    json!({"kind": "Group", "group": {"name": name}})
}

fn user(name: &str) -> Value {
    json!({"kind": "User", "user": {"name": name}})
}

fn service_account(namespace: &str, name: &str) -> Value {
    json!({"kind": "ServiceAccount", "serviceAccount": {"namespace": namespace, "name": name}})
}

fn all_resources() -> Value {
    json!([{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"], "clusterScope": true,
        "namespaces": ["*"]}])
}

fn leases_and_endpoints() -> Value {
    json!([{"verbs": ["get", "create", "update"], "apiGroups": ["", "coordination.k8s.io"],
        "resources": ["endpoints", "configmaps", "leases"], "namespaces": ["*"]}])
}

/// One bootstrap FlowSchema: (name, priority level, matching precedence, distinguisher
/// method, subjects, resource rules, non-resource rules).
type Schema = (
    &'static str,
    &'static str,
    i64,
    Option<&'static str>,
    Value,
    Value,
    Value,
);

fn flow_schemas() -> Vec<Value> {
    let all_urls = json!([{"verbs": ["*"], "nonResourceURLs": ["*"]}]);
    let none = json!([]);
    let specs: Vec<Schema> = vec![
        (
            "exempt",
            "exempt",
            1,
            None,
            json!([group("system:masters")]),
            all_resources(),
            all_urls.clone(),
        ),
        (
            "probes",
            "exempt",
            2,
            None,
            json!([
                group("system:unauthenticated"),
                group("system:authenticated")
            ]),
            none.clone(),
            json!([{"verbs": ["get"], "nonResourceURLs": ["/healthz", "/readyz", "/livez"]}]),
        ),
        (
            "system-leader-election",
            "leader-election",
            100,
            Some("ByUser"),
            json!([
                user("system:kube-controller-manager"),
                user("system:kube-scheduler"),
                service_account("kube-system", "*")
            ]),
            leases_and_endpoints(),
            none.clone(),
        ),
        (
            "endpoint-controller",
            "workload-high",
            150,
            Some("ByUser"),
            json!([
                user("system:kube-controller-manager"),
                service_account("kube-system", "endpoint-controller")
            ]),
            json!([{"verbs": ["get", "create", "update"], "apiGroups": [""],
                "resources": ["endpoints"], "namespaces": ["*"]}]),
            none.clone(),
        ),
        (
            "workload-leader-election",
            "leader-election",
            200,
            Some("ByUser"),
            json!([service_account("*", "*")]),
            leases_and_endpoints(),
            none.clone(),
        ),
        (
            "system-node-high",
            "node-high",
            400,
            Some("ByUser"),
            json!([group("system:nodes")]),
            json!([{"verbs": ["*"], "apiGroups": [""], "resources": ["nodes", "nodes/status"],
                "clusterScope": true}, {"verbs": ["*"], "apiGroups": ["coordination.k8s.io"],
                "resources": ["leases"], "namespaces": ["*"]}]),
            none.clone(),
        ),
        (
            "system-nodes",
            "system",
            500,
            Some("ByUser"),
            json!([group("system:nodes")]),
            all_resources(),
            all_urls.clone(),
        ),
        (
            "kube-controller-manager",
            "workload-high",
            800,
            Some("ByNamespace"),
            json!([user("system:kube-controller-manager")]),
            all_resources(),
            all_urls.clone(),
        ),
        (
            "kube-scheduler",
            "workload-high",
            800,
            Some("ByNamespace"),
            json!([user("system:kube-scheduler")]),
            all_resources(),
            all_urls.clone(),
        ),
        (
            "kube-system-service-accounts",
            "workload-high",
            900,
            Some("ByNamespace"),
            json!([service_account("kube-system", "*")]),
            all_resources(),
            all_urls.clone(),
        ),
        (
            "service-accounts",
            "workload-low",
            9000,
            Some("ByUser"),
            json!([group("system:serviceaccounts")]),
            all_resources(),
            all_urls.clone(),
        ),
        (
            "global-default",
            "global-default",
            9900,
            Some("ByUser"),
            json!([
                group("system:unauthenticated"),
                group("system:authenticated")
            ]),
            all_resources(),
            all_urls.clone(),
        ),
        (
            "catch-all",
            "catch-all",
            10000,
            Some("ByUser"),
            json!([
                group("system:unauthenticated"),
                group("system:authenticated")
            ]),
            all_resources(),
            all_urls,
        ),
    ];
    specs
        .into_iter()
        .map(
            |(name, level, precedence, method, subjects, resources, urls)| {
                let mut rule = json!({"subjects": subjects});
                if resources.as_array().is_some_and(|r| !r.is_empty()) {
                    krust_api::meta::set_path(&mut rule, &["resourceRules"], resources);
                }
                if urls.as_array().is_some_and(|r| !r.is_empty()) {
                    krust_api::meta::set_path(&mut rule, &["nonResourceRules"], urls);
                }
                let mut spec = json!({"priorityLevelConfiguration": {"name": level},
                "matchingPrecedence": precedence, "rules": [rule]});
                if let Some(m) = method {
                    krust_api::meta::set_path(
                        &mut spec,
                        &["distinguisherMethod"],
                        json!({"type": m}),
                    );
                }
                json!({"apiVersion": API_VERSION, "kind": "FlowSchema", "metadata": metadata(name),
                "spec": spec})
            },
        )
        .collect()
}

/// The `Dangling` condition of a FlowSchema whose priority level exists.
fn found(level: &str) -> Value {
    json!({"conditions": [{"type": "Dangling", "status": "False", "reason": "Found",
        "message": format!("This FlowSchema references the PriorityLevelConfiguration object named {level:?} and it exists"),
        "lastTransitionTime": krust_api::time::now_rfc3339()}]})
}

/// Creates upstream's bootstrap priority levels and flow schemas that do not exist yet.
pub(crate) async fn ensure_bootstrap_configuration(server: &ApiServer) -> Result<(), ApiError> {
    for plc in priority_levels() {
        create_with_status(
            server,
            GROUP,
            "prioritylevelconfigurations",
            None,
            plc,
            None,
        )
        .await?;
    }
    for fs in flow_schemas() {
        let level = krust_api::meta::get_str(&fs, &["spec", "priorityLevelConfiguration", "name"])
            .unwrap_or("")
            .to_string();
        create_with_status(server, GROUP, "flowschemas", None, fs, Some(found(&level))).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_schema_names_a_level() {
        let levels: Vec<String> = priority_levels()
            .iter()
            .map(|p| krust_api::meta::name(p).to_string())
            .collect();
        let schemas = flow_schemas();
        assert_eq!(schemas.len(), 13);
        for fs in &schemas {
            let level =
                krust_api::meta::get_str(fs, &["spec", "priorityLevelConfiguration", "name"]);
            assert!(levels.iter().any(|l| Some(l.as_str()) == level), "{fs}");
        }
    }
}
