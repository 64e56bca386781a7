//! Defaults of cluster-level kinds: StorageClass (storage.k8s.io/v1), PriorityClass
//! (scheduling.k8s.io/v1), RoleBinding and ClusterRoleBinding (rbac.authorization.k8s.io/v1)
//! and CustomResourceDefinition (apiextensions.k8s.io/v1).

use super::{Obj, child, default_ptr, default_str, each_obj, empty_list, ensure, str_of};
use serde_json::{Value, json};

/// The RBAC API group, the default group of role references and user or group subjects.
const RBAC_GROUP: &str = "rbac.authorization.k8s.io";

/// StorageClasses delete their volumes and bind them immediately unless told otherwise.
pub(super) fn storage_class(root: &mut Obj) {
    default_ptr(root, "reclaimPolicy", "Delete");
    default_ptr(root, "volumeBindingMode", "Immediate");
}

/// PriorityClasses preempt lower priorities unless told otherwise.
pub(super) fn priority_class(root: &mut Obj) {
    default_ptr(root, "preemptionPolicy", "PreemptLowerPriority");
}

/// Role references and user or group subjects of (cluster) role bindings are in the RBAC group.
pub(super) fn role_binding(root: &mut Obj) {
    if let Some(role_ref) = ensure(root, "roleRef") {
        default_str(role_ref, "apiGroup", RBAC_GROUP);
    }
    each_obj(root, "subjects", |subject| {
        if matches!(str_of(subject, "kind"), "User" | "Group") {
            default_str(subject, "apiGroup", RBAC_GROUP);
        }
    });
}

/// CRDs: singular name and list kind from the kind, no conversion unless one is given (and
/// port 443 for a conversion webhook service), the storage version recorded as stored.
pub(super) fn custom_resource_definition(root: &mut Obj) {
    let mut storage_version = None;
    if let Some(spec) = ensure(root, "spec") {
        if let Some(names) = ensure(spec, "names") {
            let kind = str_of(names, "kind").to_string();
            if !kind.is_empty() {
                default_str(names, "singular", &kind.to_lowercase());
                default_str(names, "listKind", &format!("{kind}List"));
            }
        }
        if let Some(conversion) = ensure(spec, "conversion") {
            default_str(conversion, "strategy", "None");
            if let Some(service) = child(conversion, "webhook")
                .and_then(|w| child(w, "clientConfig"))
                .and_then(|c| child(c, "service"))
            {
                default_ptr(service, "port", 443);
            }
        }
        storage_version = spec
            .get("versions")
            .and_then(Value::as_array)
            .and_then(|versions| {
                versions
                    .iter()
                    .find(|v| v.get("storage") == Some(&Value::Bool(true)))
            })
            .and_then(|v| v.get("name"))
            .and_then(Value::as_str)
            .map(str::to_string);
    }
    if let Some(name) = storage_version
        && let Some(status) = ensure(root, "status")
        && empty_list(status, "storedVersions")
    {
        status.insert("storedVersions".into(), json!([name]));
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{Case, run};
    use serde_json::json;

    #[test]
    fn cluster_kinds() {
        let cases: Vec<Case> = vec![
            (
                "storage.k8s.io",
                "StorageClass",
                json!({"provisioner": "x"}),
                json!({"provisioner": "x", "reclaimPolicy": "Delete",
                    "volumeBindingMode": "Immediate"}),
            ),
            (
                "storage.k8s.io",
                "StorageClass",
                json!({"provisioner": "x", "reclaimPolicy": "Retain",
                    "volumeBindingMode": "WaitForFirstConsumer"}),
                json!({"provisioner": "x", "reclaimPolicy": "Retain",
                    "volumeBindingMode": "WaitForFirstConsumer"}),
            ),
            (
                "scheduling.k8s.io",
                "PriorityClass",
                json!({"value": 1000}),
                json!({"value": 1000, "preemptionPolicy": "PreemptLowerPriority"}),
            ),
            (
                "rbac.authorization.k8s.io",
                "RoleBinding",
                json!({"roleRef": {"kind": "Role", "name": "r"}, "subjects": [
                    {"kind": "User", "name": "bob"}, {"kind": "Group", "name": "devs"},
                    {"kind": "ServiceAccount", "name": "default", "namespace": "ns"}]}),
                json!({"roleRef": {"kind": "Role", "name": "r",
                    "apiGroup": "rbac.authorization.k8s.io"}, "subjects": [
                    {"kind": "User", "name": "bob", "apiGroup": "rbac.authorization.k8s.io"},
                    {"kind": "Group", "name": "devs", "apiGroup": "rbac.authorization.k8s.io"},
                    {"kind": "ServiceAccount", "name": "default", "namespace": "ns"}]}),
            ),
            (
                "rbac.authorization.k8s.io",
                "ClusterRoleBinding",
                json!({"roleRef": {"apiGroup": "rbac.authorization.k8s.io",
                    "kind": "ClusterRole", "name": "view"}}),
                json!({"roleRef": {"apiGroup": "rbac.authorization.k8s.io",
                    "kind": "ClusterRole", "name": "view"}}),
            ),
            (
                "rbac.authorization.k8s.io",
                "ClusterRole",
                json!({"rules": [{"verbs": ["get"]}]}),
                json!({"rules": [{"verbs": ["get"]}]}),
            ),
            (
                "apiextensions.k8s.io",
                "CustomResourceDefinition",
                json!({"spec": {"group": "example.com", "scope": "Namespaced",
                    "names": {"kind": "CronTab", "plural": "crontabs"},
                    "versions": [{"name": "v1beta1", "served": true, "storage": false},
                        {"name": "v1", "served": true, "storage": true}]}}),
                json!({"spec": {"group": "example.com", "scope": "Namespaced",
                    "names": {"kind": "CronTab", "plural": "crontabs", "singular": "crontab",
                        "listKind": "CronTabList"},
                    "conversion": {"strategy": "None"},
                    "versions": [{"name": "v1beta1", "served": true, "storage": false},
                        {"name": "v1", "served": true, "storage": true}]},
                    "status": {"storedVersions": ["v1"]}}),
            ),
            (
                "apiextensions.k8s.io",
                "CustomResourceDefinition",
                json!({"spec": {"names": {"kind": "A", "singular": "aa", "listKind": "AL"},
                    "conversion": {"strategy": "Webhook", "webhook": {"clientConfig": {
                        "service": {"name": "s", "namespace": "n"}}}}},
                    "status": {"storedVersions": ["v0"]}}),
                json!({"spec": {"names": {"kind": "A", "singular": "aa", "listKind": "AL"},
                    "conversion": {"strategy": "Webhook", "webhook": {"clientConfig": {
                        "service": {"name": "s", "namespace": "n", "port": 443}}}}},
                    "status": {"storedVersions": ["v0"]}}),
            ),
            (
                "policy",
                "PodDisruptionBudget",
                json!({"spec": {"minAvailable": 1}}),
                json!({"spec": {"minAvailable": 1}}),
            ),
        ];
        run(cases);
    }
}
