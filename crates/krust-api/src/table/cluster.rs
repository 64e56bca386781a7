//! Rows of the remaining API groups: autoscaling (HorizontalPodAutoscaler, from its v2 storage
//! form), coordination (Lease), storage (StorageClass), RBAC bindings, policy
//! (PodDisruptionBudget), scheduling (PriorityClass) and certificates
//! (CertificateSigningRequest).

use super::{
    AGE, Col, NAME, Printer, age_cell, arr_at, bool_at, col, int_at, int_or_string, n, name_cell,
    opt_int_at, quantity, s, str_at, wide,
};
use crate::meta::get_path;
use serde_json::Value;

pub(super) const HPA: Printer = Printer {
    columns: &[
        NAME,
        col("Reference", "string", "The resource being scaled."),
        col(
            "Targets",
            "string",
            "Current and target values of the metrics scaled on.",
        ),
        col("MinPods", "string", "The lower limit of replicas."),
        col("MaxPods", "string", "The upper limit of replicas."),
        col("Replicas", "string", "The current number of replicas."),
        AGE,
    ],
    cells: hpa_cells,
};

pub(super) const LEASE: Printer = Printer {
    columns: &[
        NAME,
        col("Holder", "string", "The identity of the lease holder."),
        AGE,
    ],
    cells: lease_cells,
};

pub(super) const STORAGE_CLASS: Printer = Printer {
    columns: &[
        NAME,
        col(
            "Provisioner",
            "string",
            "The volume plugin that provisions volumes of the class.",
        ),
        col(
            "ReclaimPolicy",
            "string",
            "The reclaim policy of provisioned volumes.",
        ),
        col(
            "VolumeBindingMode",
            "string",
            "When volumes are provisioned and bound.",
        ),
        col(
            "AllowVolumeExpansion",
            "string",
            "Whether provisioned volumes can be expanded.",
        ),
        AGE,
    ],
    cells: storage_class_cells,
};

const fn binding_columns(what: &'static [&'static str; 3]) -> [Col; 6] {
    [
        NAME,
        col("Role", "string", "The role the binding grants."),
        AGE,
        wide("Users", "string", what[0]),
        wide("Groups", "string", what[1]),
        wide("ServiceAccounts", "string", what[2]),
    ]
}

const ROLE_BINDING_COLUMNS: [Col; 6] = binding_columns(&[
    "Users in the roleBinding",
    "Groups in the roleBinding",
    "ServiceAccounts in the roleBinding",
]);

const CLUSTER_ROLE_BINDING_COLUMNS: [Col; 6] = binding_columns(&[
    "Users in the clusterRoleBinding",
    "Groups in the clusterRoleBinding",
    "ServiceAccounts in the clusterRoleBinding",
]);

pub(super) const ROLE_BINDING: Printer = Printer {
    columns: &ROLE_BINDING_COLUMNS,
    cells: binding_cells,
};

pub(super) const CLUSTER_ROLE_BINDING: Printer = Printer {
    columns: &CLUSTER_ROLE_BINDING_COLUMNS,
    cells: binding_cells,
};

pub(super) const POD_DISRUPTION_BUDGET: Printer = Printer {
    columns: &[
        NAME,
        col(
            "Min Available",
            "string",
            "The minimum number of pods that must be available.",
        ),
        col(
            "Max Unavailable",
            "string",
            "The maximum number of pods that may be unavailable.",
        ),
        col(
            "Allowed Disruptions",
            "integer",
            "How many pods may be disrupted right now.",
        ),
        AGE,
    ],
    cells: pdb_cells,
};

pub(super) const PRIORITY_CLASS: Printer = Printer {
    columns: &[
        NAME,
        col("Value", "integer", "The priority of pods of this class."),
        col(
            "Global-Default",
            "boolean",
            "Whether pods without a class get this one.",
        ),
        AGE,
        col(
            "PreemptionPolicy",
            "string",
            "Whether pods of this class may preempt lower-priority pods.",
        ),
    ],
    cells: priority_class_cells,
};

pub(super) const CSR: Printer = Printer {
    columns: &[
        NAME,
        AGE,
        col(
            "SignerName",
            "string",
            "The signer the certificate is requested from.",
        ),
        col("Requestor", "string", "The user that created the request."),
        col(
            "RequestedDuration",
            "string",
            "The requested validity of the certificate.",
        ),
        col(
            "Condition",
            "string",
            "Whether the request is approved, denied, failed or issued.",
        ),
    ],
    cells: csr_cells,
};

// ---- HorizontalPodAutoscaler ----------------------------------------------------------------

/// A quantity as printed by upstream, `<nil>` when absent.
fn q(obj: Option<&Value>, path: &[&str]) -> String {
    obj.and_then(|o| quantity(get_path(o, path)))
        .unwrap_or_else(|| "<nil>".into())
}

/// Whether a quantity at a path is set.
fn has(obj: &Value, path: &[&str]) -> bool {
    get_path(obj, path).is_some_and(|v| !v.is_null())
}

/// The status block `key` of the current metric at the same index, when it is set.
fn current<'a>(status: Option<&'a Value>, key: &str) -> Option<&'a Value> {
    status
        .and_then(|st| get_path(st, &[key]))
        .filter(|v| v.is_object())
}

/// One metric in the Targets cell (upstream's `formatHPAMetrics` cases).
fn hpa_metric(spec: &Value, status: Option<&Value>) -> String {
    let unknown = || "<unknown>".to_string();
    match str_at(spec, &["type"]) {
        kind @ ("External" | "Object") => {
            let key = if kind == "External" {
                "external"
            } else {
                "object"
            };
            let cur = current(status, key);
            if has(spec, &[key, "target", "averageValue"]) {
                let c = cur
                    .filter(|c| has(c, &["current", "averageValue"]))
                    .map(|c| q(Some(c), &["current", "averageValue"]))
                    .unwrap_or_else(unknown);
                format!(
                    "{c}/{} (avg)",
                    q(Some(spec), &[key, "target", "averageValue"])
                )
            } else {
                let c = cur
                    .map(|c| q(Some(c), &["current", "value"]))
                    .unwrap_or_else(unknown);
                format!("{c}/{}", q(Some(spec), &[key, "target", "value"]))
            }
        }
        "Pods" => {
            let c = current(status, "pods")
                .map(|c| q(Some(c), &["current", "averageValue"]))
                .unwrap_or_else(unknown);
            format!("{c}/{}", q(Some(spec), &["pods", "target", "averageValue"]))
        }
        kind @ ("Resource" | "ContainerResource") => {
            let key = if kind == "Resource" {
                "resource"
            } else {
                "containerResource"
            };
            let name = str_at(spec, &[key, "name"]);
            let cur = current(status, key);
            if has(spec, &[key, "target", "averageValue"]) {
                let c = cur
                    .map(|c| q(Some(c), &["current", "averageValue"]))
                    .unwrap_or_else(unknown);
                format!(
                    "{name}: {c}/{}",
                    q(Some(spec), &[key, "target", "averageValue"])
                )
            } else {
                let c = cur
                    .and_then(|c| opt_int_at(c, &["current", "averageUtilization"]))
                    .map(|u| format!("{u}%"))
                    .unwrap_or_else(unknown);
                let target = opt_int_at(spec, &[key, "target", "averageUtilization"])
                    .map(|u| format!("{u}%"))
                    .unwrap_or_else(|| "<auto>".into());
                format!("{name}: {c}/{target}")
            }
        }
        _ => "<unknown type>".into(),
    }
}

/// The Targets cell: the first two metrics, then ` + N more...`; `<none>` without metrics.
fn hpa_targets(hpa: &Value) -> String {
    const MAX: usize = 2;
    let specs = arr_at(hpa, &["spec", "metrics"]);
    if specs.is_empty() {
        return "<none>".into();
    }
    let statuses = arr_at(hpa, &["status", "currentMetrics"]);
    let list: Vec<String> = specs
        .iter()
        .enumerate()
        .take(MAX)
        .map(|(i, spec)| hpa_metric(spec, statuses.get(i)))
        .collect();
    let ret = list.join(", ");
    if specs.len() > MAX {
        format!("{ret} + {} more...", specs.len() - MAX)
    } else {
        ret
    }
}

fn hpa_cells(hpa: &Value) -> Vec<Value> {
    let reference = format!(
        "{}/{}",
        str_at(hpa, &["spec", "scaleTargetRef", "kind"]),
        str_at(hpa, &["spec", "scaleTargetRef", "name"])
    );
    let min = opt_int_at(hpa, &["spec", "minReplicas"])
        .map(|m| m.to_string())
        .unwrap_or_else(|| "<unset>".into());
    vec![
        name_cell(hpa),
        s(reference),
        s(hpa_targets(hpa)),
        s(min),
        n(int_at(hpa, &["spec", "maxReplicas"])),
        n(int_at(hpa, &["status", "currentReplicas"])),
        age_cell(hpa),
    ]
}

// ---- Lease, StorageClass --------------------------------------------------------------------

fn lease_cells(lease: &Value) -> Vec<Value> {
    vec![
        name_cell(lease),
        s(str_at(lease, &["spec", "holderIdentity"])),
        age_cell(lease),
    ]
}

/// Whether a StorageClass is annotated as the default one.
fn is_default_class(sc: &Value) -> bool {
    [
        "storageclass.kubernetes.io/is-default-class",
        "storageclass.beta.kubernetes.io/is-default-class",
    ]
    .iter()
    .any(|a| str_at(sc, &["metadata", "annotations", a]) == "true")
}

fn storage_class_cells(sc: &Value) -> Vec<Value> {
    let mut name = crate::meta::name(sc).to_string();
    if is_default_class(sc) {
        name.push_str(" (default)");
    }
    let reclaim = get_path(sc, &["reclaimPolicy"])
        .and_then(Value::as_str)
        .unwrap_or("Delete");
    let binding = get_path(sc, &["volumeBindingMode"])
        .and_then(Value::as_str)
        .unwrap_or("Immediate");
    vec![
        s(name),
        s(str_at(sc, &["provisioner"])),
        s(reclaim),
        s(binding),
        Value::Bool(bool_at(sc, &["allowVolumeExpansion"]).unwrap_or(false)),
        age_cell(sc),
    ]
}

// ---- RBAC bindings --------------------------------------------------------------------------

fn binding_cells(b: &Value) -> Vec<Value> {
    let mut users = Vec::new();
    let mut groups = Vec::new();
    let mut sas = Vec::new();
    for subject in arr_at(b, &["subjects"]) {
        let name = str_at(subject, &["name"]);
        match str_at(subject, &["kind"]) {
            "ServiceAccount" => sas.push(format!("{}/{name}", str_at(subject, &["namespace"]))),
            "User" => users.push(name.to_string()),
            "Group" => groups.push(name.to_string()),
            _ => {}
        }
    }
    vec![
        name_cell(b),
        s(format!(
            "{}/{}",
            str_at(b, &["roleRef", "kind"]),
            str_at(b, &["roleRef", "name"])
        )),
        age_cell(b),
        s(users.join(", ")),
        s(groups.join(", ")),
        s(sas.join(", ")),
    ]
}

// ---- PodDisruptionBudget, PriorityClass -----------------------------------------------------

fn pdb_cells(pdb: &Value) -> Vec<Value> {
    let field =
        |f: &str| int_or_string(get_path(pdb, &["spec", f])).unwrap_or_else(|| "N/A".into());
    vec![
        name_cell(pdb),
        s(field("minAvailable")),
        s(field("maxUnavailable")),
        n(int_at(pdb, &["status", "disruptionsAllowed"])),
        age_cell(pdb),
    ]
}

fn priority_class_cells(pc: &Value) -> Vec<Value> {
    vec![
        name_cell(pc),
        n(int_at(pc, &["value"])),
        Value::Bool(bool_at(pc, &["globalDefault"]).unwrap_or(false)),
        age_cell(pc),
        s(str_at(pc, &["preemptionPolicy"])),
    ]
}

// ---- CertificateSigningRequest --------------------------------------------------------------

/// The Condition cell: `Approved`/`Denied`/`Pending`, then `,Failed` and `,Issued`.
fn csr_condition(csr: &Value) -> String {
    let conditions = arr_at(csr, &["status", "conditions"]);
    let has = |t: &str| conditions.iter().any(|c| str_at(c, &["type"]) == t);
    let mut status = if has("Denied") {
        "Denied".to_string()
    } else if has("Approved") {
        "Approved".to_string()
    } else {
        "Pending".to_string()
    };
    if has("Failed") {
        status.push_str(",Failed");
    }
    if !str_at(csr, &["status", "certificate"]).is_empty() {
        status.push_str(",Issued");
    }
    status
}

fn csr_cells(csr: &Value) -> Vec<Value> {
    let signer = str_at(csr, &["spec", "signerName"]);
    let duration = opt_int_at(csr, &["spec", "expirationSeconds"])
        .map(crate::time::human_duration)
        .unwrap_or_else(|| "<none>".into());
    vec![
        name_cell(csr),
        age_cell(csr),
        s(if signer.is_empty() { "<none>" } else { signer }),
        s(str_at(csr, &["spec", "username"])),
        s(duration),
        s(csr_condition(csr)),
    ]
}

#[cfg(test)]
mod tests {
    use super::super::cells;
    use super::super::test_util::{ago, row};
    use serde_json::{Value, json};

    fn meta(name: &str) -> Value {
        json!({"name": name, "creationTimestamp": ago(600)})
    }

    fn hpa(metrics: Value, current: Value) -> Value {
        json!({"metadata": meta("web"), "spec": {"scaleTargetRef": {"apiVersion": "apps/v1",
            "kind": "Deployment", "name": "web"}, "minReplicas": 1, "maxReplicas": 10, "metrics": metrics},
            "status": {"currentReplicas": 2, "currentMetrics": current}})
    }

    #[test]
    fn hpas() {
        let cpu = json!({"type": "Resource", "resource": {"name": "cpu",
            "target": {"type": "Utilization", "averageUtilization": 80}}});
        let cases: Vec<(Value, &str)> = vec![
            (hpa(json!([cpu]), json!(null)), "cpu: <unknown>/80%"),
            (
                hpa(
                    json!([cpu]),
                    json!([{"type": "Resource", "resource": {"name": "cpu",
                    "current": {"averageUtilization": 35, "averageValue": "120m"}}}]),
                ),
                "cpu: 35%/80%",
            ),
            (
                hpa(
                    json!([{"type": "Resource", "resource": {"name": "memory",
                    "target": {"type": "AverageValue", "averageValue": "500Mi"}}}]),
                    json!([{"type": "Resource", "resource": {"name": "memory",
                        "current": {"averageValue": "300Mi"}}}]),
                ),
                "memory: 300Mi/500Mi",
            ),
            (
                hpa(
                    json!([{"type": "Pods", "pods": {"metric": {"name": "qps"},
                    "target": {"type": "AverageValue", "averageValue": "1k"}}}]),
                    json!([]),
                ),
                "<unknown>/1k",
            ),
            (
                hpa(
                    json!([{"type": "External", "external": {"metric": {"name": "queue"},
                    "target": {"type": "AverageValue", "averageValue": "30"}}},
                    {"type": "Object", "object": {"metric": {"name": "rps"},
                    "target": {"type": "Value", "value": "10"}}}]),
                    json!([{"type": "External", "external": {"current": {"averageValue": "12"}}},
                           {"type": "Object", "object": {"current": {"value": "7"}}}]),
                ),
                "12/30 (avg), 7/10",
            ),
            (
                hpa(
                    json!([{"type": "ContainerResource", "containerResource": {"name": "cpu",
                    "container": "app", "target": {"type": "Utilization"}}}, cpu, cpu, {"type": "Weird"}]),
                    json!(null),
                ),
                "cpu: <unknown>/<auto>, cpu: <unknown>/80% + 2 more...",
            ),
            (hpa(json!([]), json!(null)), "<none>"),
        ];
        for (obj, targets) in cases {
            assert_eq!(
                row("autoscaling", "HorizontalPodAutoscaler", &obj),
                ["web", "Deployment/web", targets, "1", "10", "2", "10m"]
            );
        }
        let bare = json!({"metadata": meta("x"), "spec": {"maxReplicas": 3}});
        assert_eq!(
            cells("autoscaling", "HorizontalPodAutoscaler", &bare),
            [
                json!("x"),
                json!("/"),
                json!("<none>"),
                json!("<unset>"),
                json!(3),
                json!(0),
                json!("10m")
            ]
        );
    }

    #[test]
    fn other_kinds() {
        let cases: Vec<(&str, &str, Value, Vec<Value>)> = vec![
            (
                "coordination.k8s.io",
                "Lease",
                json!({"metadata": meta("kube-scheduler"), "spec": {"holderIdentity": "node-1_abc"}}),
                vec![json!("kube-scheduler"), json!("node-1_abc"), json!("10m")],
            ),
            (
                "coordination.k8s.io",
                "Lease",
                json!({"metadata": meta("free"), "spec": {}}),
                vec![json!("free"), json!(""), json!("10m")],
            ),
            (
                "storage.k8s.io",
                "StorageClass",
                json!({"metadata": {"name": "standard", "creationTimestamp": ago(600),
                        "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
                       "provisioner": "rancher.io/local-path", "reclaimPolicy": "Delete",
                       "volumeBindingMode": "WaitForFirstConsumer"}),
                vec![
                    json!("standard (default)"),
                    json!("rancher.io/local-path"),
                    json!("Delete"),
                    json!("WaitForFirstConsumer"),
                    json!(false),
                    json!("10m"),
                ],
            ),
            (
                "storage.k8s.io",
                "StorageClass",
                json!({"metadata": meta("fast"), "provisioner": "csi.example.com",
                       "reclaimPolicy": "Retain", "allowVolumeExpansion": true}),
                vec![
                    json!("fast"),
                    json!("csi.example.com"),
                    json!("Retain"),
                    json!("Immediate"),
                    json!(true),
                    json!("10m"),
                ],
            ),
            (
                "rbac.authorization.k8s.io",
                "RoleBinding",
                json!({"metadata": meta("rb"), "roleRef": {"apiGroup": "rbac.authorization.k8s.io",
                        "kind": "ClusterRole", "name": "view"},
                       "subjects": [{"kind": "User", "name": "alice"}, {"kind": "User", "name": "bob"},
                                    {"kind": "Group", "name": "devs"},
                                    {"kind": "ServiceAccount", "name": "ci", "namespace": "tools"}]}),
                vec![
                    json!("rb"),
                    json!("ClusterRole/view"),
                    json!("10m"),
                    json!("alice, bob"),
                    json!("devs"),
                    json!("tools/ci"),
                ],
            ),
            (
                "rbac.authorization.k8s.io",
                "ClusterRoleBinding",
                json!({"metadata": meta("crb"), "roleRef": {"kind": "ClusterRole", "name": "admin"}}),
                vec![
                    json!("crb"),
                    json!("ClusterRole/admin"),
                    json!("10m"),
                    json!(""),
                    json!(""),
                    json!(""),
                ],
            ),
            (
                "policy",
                "PodDisruptionBudget",
                json!({"metadata": meta("pdb"), "spec": {"minAvailable": 2},
                       "status": {"disruptionsAllowed": 1}}),
                vec![
                    json!("pdb"),
                    json!("2"),
                    json!("N/A"),
                    json!(1),
                    json!("10m"),
                ],
            ),
            (
                "policy",
                "PodDisruptionBudget",
                json!({"metadata": meta("pct"), "spec": {"maxUnavailable": "25%"}}),
                vec![
                    json!("pct"),
                    json!("N/A"),
                    json!("25%"),
                    json!(0),
                    json!("10m"),
                ],
            ),
            (
                "scheduling.k8s.io",
                "PriorityClass",
                json!({"metadata": meta("high"), "value": 1000000, "globalDefault": true,
                       "preemptionPolicy": "PreemptLowerPriority"}),
                vec![
                    json!("high"),
                    json!(1000000),
                    json!(true),
                    json!("10m"),
                    json!("PreemptLowerPriority"),
                ],
            ),
            (
                "scheduling.k8s.io",
                "PriorityClass",
                json!({"metadata": meta("low"), "value": -5}),
                vec![
                    json!("low"),
                    json!(-5),
                    json!(false),
                    json!("10m"),
                    json!(""),
                ],
            ),
            (
                "certificates.k8s.io",
                "CertificateSigningRequest",
                json!({"metadata": meta("csr-1"), "spec": {"signerName": "kubernetes.io/kube-apiserver-client",
                        "username": "alice", "expirationSeconds": 86400},
                       "status": {"conditions": [{"type": "Approved", "status": "True"}],
                                  "certificate": "LS0t"}}),
                vec![
                    json!("csr-1"),
                    json!("10m"),
                    json!("kubernetes.io/kube-apiserver-client"),
                    json!("alice"),
                    json!("24h"),
                    json!("Approved,Issued"),
                ],
            ),
            (
                "certificates.k8s.io",
                "CertificateSigningRequest",
                json!({"metadata": meta("csr-2"), "spec": {"username": "bob"},
                       "status": {"conditions": [{"type": "Approved"}, {"type": "Denied"}, {"type": "Failed"}]}}),
                vec![
                    json!("csr-2"),
                    json!("10m"),
                    json!("<none>"),
                    json!("bob"),
                    json!("<none>"),
                    json!("Denied,Failed"),
                ],
            ),
            (
                "certificates.k8s.io",
                "CertificateSigningRequest",
                json!({"metadata": meta("csr-3")}),
                vec![
                    json!("csr-3"),
                    json!("10m"),
                    json!("<none>"),
                    json!(""),
                    json!("<none>"),
                    json!("Pending"),
                ],
            ),
        ];
        for (group, kind, obj, want) in cases {
            assert_eq!(cells(group, kind, &obj), want, "{group}/{kind} {obj}");
        }
    }
}
