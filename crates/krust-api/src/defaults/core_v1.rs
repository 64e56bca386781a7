//! Defaults of core/v1 kinds other than pods: Service (including the IP family fields the
//! service registry fills on a single-stack IPv4 cluster), ReplicationController, Endpoints,
//! Secret, Namespace, Node, PersistentVolume, PersistentVolumeClaim and LimitRange.

use super::pod::{claim_spec, template, volume_source};
use super::{
    Obj, child, default_ptr, default_str, each_obj, empty_collection, empty_str, ensure, str_of,
    unset,
};
use serde_json::{Value, json};

/// Default ClientIP session affinity timeout, in seconds (three hours).
const CLIENT_IP_AFFINITY_SECONDS: i64 = 10_800;
/// The label every namespace carries with its own name.
const NAMESPACE_NAME_LABEL: &str = "kubernetes.io/metadata.name";
/// The IP family of service cluster IPs on this (single-stack) cluster.
const CLUSTER_IP_FAMILY: &str = "IPv4";

/// Defaults a ReplicationController: replicas 1, and a template's labels as the selector and
/// the controller's labels when those are empty.
pub(super) fn replication_controller(root: &mut Obj) {
    let template_labels = root
        .get("spec")
        .and_then(|s| s.get("template"))
        .and_then(|t| t.get("metadata"))
        .and_then(|m| m.get("labels"))
        .and_then(Value::as_object)
        .filter(|l| !l.is_empty())
        .cloned();
    let Some(spec) = ensure(root, "spec") else {
        return;
    };
    default_ptr(spec, "replicas", 1);
    if let Some(t) = child(spec, "template") {
        template(t);
    }
    if let Some(labels) = template_labels {
        if empty_collection(spec, "selector") {
            spec.insert("selector".into(), Value::Object(labels.clone()));
        }
        if let Some(meta) = ensure(root, "metadata")
            && empty_collection(meta, "labels")
        {
            meta.insert("labels".into(), Value::Object(labels));
        }
    }
}

/// Defaults a Service: `SetDefaults_Service`, then the IP family fields the registry's
/// allocator sets (the cluster IP itself is allocated by the server).
pub(super) fn service(root: &mut Obj) {
    let Some(spec) = ensure(root, "spec") else {
        return;
    };
    default_str(spec, "sessionAffinity", "None");
    match str_of(spec, "sessionAffinity") {
        "None" => {
            spec.remove("sessionAffinityConfig");
        }
        "ClientIP" => client_ip_affinity(spec),
        _ => {}
    }
    default_str(spec, "type", "ClusterIP");
    each_obj(spec, "ports", |p| {
        default_str(p, "protocol", "TCP");
        let target_unset = match p.get("targetPort") {
            None | Some(Value::Null) => true,
            Some(Value::String(s)) => s.is_empty(),
            Some(v) => v.as_f64() == Some(0.0),
        };
        if target_unset && let Some(port) = p.get("port").filter(|v| v.is_i64()).cloned() {
            p.insert("targetPort".into(), port);
        }
    });
    let service_type = str_of(spec, "type").to_string();
    let has_external_ips = spec
        .get("externalIPs")
        .and_then(Value::as_array)
        .is_some_and(|a| !a.is_empty());
    let externally_accessible = matches!(service_type.as_str(), "LoadBalancer" | "NodePort")
        || (service_type == "ClusterIP" && has_external_ips);
    if externally_accessible {
        default_str(spec, "externalTrafficPolicy", "Cluster");
    }
    if matches!(
        service_type.as_str(),
        "ClusterIP" | "NodePort" | "LoadBalancer"
    ) {
        default_ptr(spec, "internalTrafficPolicy", "Cluster");
    }
    if service_type == "LoadBalancer" {
        default_ptr(spec, "allocateLoadBalancerNodePorts", true);
    }
    if service_type != "ExternalName" {
        ip_families(spec);
    }
    let Some(status) = ensure(root, "status") else {
        return;
    };
    let Some(lb) = ensure(status, "loadBalancer") else {
        return;
    };
    if service_type == "LoadBalancer" {
        each_obj(lb, "ingress", |ing| {
            if !empty_str(ing, "ip") && unset(ing, "ipMode") {
                ing.insert("ipMode".into(), json!("VIP"));
            }
        });
    }
}

/// ClientIP affinity gets a timeout unless one is set.
fn client_ip_affinity(spec: &mut Obj) {
    let needs_default = match spec.get("sessionAffinityConfig") {
        None | Some(Value::Null) => true,
        Some(Value::Object(config)) => match config.get("clientIP") {
            None | Some(Value::Null) => true,
            Some(Value::Object(client_ip)) => unset(client_ip, "timeoutSeconds"),
            Some(_) => false,
        },
        Some(_) => false,
    };
    if needs_default {
        spec.insert(
            "sessionAffinityConfig".into(),
            json!({"clientIP": {"timeoutSeconds": CLIENT_IP_AFFINITY_SECONDS}}),
        );
    }
}

/// `clusterIPs` from `clusterIP`, then `ipFamilyPolicy` and `ipFamilies` as upstream's service
/// allocator sets them on a single-stack IPv4 cluster: headless services without a selector
/// require dual stack and list both families, others are single-stack IPv4 (or the family of
/// the cluster IPs they ask for).
fn ip_families(spec: &mut Obj) {
    let cluster_ip = str_of(spec, "clusterIP").to_string();
    if !cluster_ip.is_empty() && empty_collection(spec, "clusterIPs") {
        spec.insert("clusterIPs".into(), json!([cluster_ip]));
    }
    let headless_without_selector = cluster_ip == "None" && empty_collection(spec, "selector");
    if unset(spec, "ipFamilyPolicy") {
        let policy = if headless_without_selector {
            "RequireDualStack"
        } else {
            "SingleStack"
        };
        spec.insert("ipFamilyPolicy".into(), json!(policy));
    }
    let single_stack = str_of(spec, "ipFamilyPolicy") == "SingleStack";
    let cluster_ips: Vec<String> = spec
        .get("clusterIPs")
        .and_then(Value::as_array)
        .map(|ips| {
            ips.iter()
                .map(|ip| ip.as_str().unwrap_or("").to_string())
                .collect()
        })
        .unwrap_or_default();
    if unset(spec, "ipFamilies") {
        spec.insert("ipFamilies".into(), json!([]));
    }
    let Some(families) = spec.get_mut("ipFamilies").and_then(Value::as_array_mut) else {
        return;
    };
    for (i, ip) in cluster_ips.iter().enumerate() {
        if ip == "None" || ip.is_empty() {
            break;
        }
        if i >= families.len() {
            let family = if ip.contains(':') { "IPv6" } else { "IPv4" };
            families.push(json!(family));
        }
    }
    if families.is_empty() {
        families.push(json!(CLUSTER_IP_FAMILY));
    }
    if headless_without_selector && families.len() < 2 && !single_stack {
        let other = if families[0] == "IPv4" {
            "IPv6"
        } else {
            "IPv4"
        };
        families.push(json!(other));
    }
}

/// Endpoints ports default to TCP.
pub(super) fn endpoints(root: &mut Obj) {
    each_obj(root, "subsets", |subset| {
        each_obj(subset, "ports", |p| default_str(p, "protocol", "TCP"));
    });
}

/// Secrets are `Opaque` unless typed.
pub(super) fn secret(root: &mut Obj) {
    default_str(root, "type", "Opaque");
}

/// Namespaces carry their name as a label, and are `Active` unless a phase is set.
pub(super) fn namespace(root: &mut Obj) {
    let name = root
        .get("metadata")
        .and_then(|m| m.get("name"))
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    if !name.is_empty()
        && let Some(labels) = ensure(root, "metadata").and_then(|m| ensure(m, "labels"))
    {
        labels.insert(NAMESPACE_NAME_LABEL.into(), Value::String(name));
    }
    if let Some(status) = ensure(root, "status") {
        default_str(status, "phase", "Active");
    }
}

/// A node's allocatable resources default to its capacity.
pub(super) fn node(root: &mut Obj) {
    if let Some(status) = child(root, "status")
        && unset(status, "allocatable")
        && let Some(capacity) = status.get("capacity").filter(|c| c.is_object()).cloned()
    {
        status.insert("allocatable".into(), capacity);
    }
}

/// PersistentVolumes: reclaim policy `Retain`, volume mode `Filesystem`, source defaults, and
/// phase `Pending`.
pub(super) fn persistent_volume(root: &mut Obj) {
    if let Some(spec) = ensure(root, "spec") {
        default_str(spec, "persistentVolumeReclaimPolicy", "Retain");
        default_ptr(spec, "volumeMode", "Filesystem");
        volume_source(spec);
    }
    if let Some(status) = ensure(root, "status") {
        default_str(status, "phase", "Pending");
    }
}

/// PersistentVolumeClaims: volume mode `Filesystem` and phase `Pending`.
pub(super) fn persistent_volume_claim(root: &mut Obj) {
    if let Some(spec) = ensure(root, "spec") {
        claim_spec(spec);
    }
    if let Some(status) = ensure(root, "status") {
        default_str(status, "phase", "Pending");
    }
}

/// Container limit ranges: the default limit defaults to the max, the default request to the
/// default limit, then to the min.
pub(super) fn limit_range(root: &mut Obj) {
    let Some(spec) = child(root, "spec") else {
        return;
    };
    each_obj(spec, "limits", |item| {
        if str_of(item, "type") != "Container" {
            return;
        }
        fill_missing(item, "default", "max");
        fill_missing(item, "defaultRequest", "default");
        fill_missing(item, "defaultRequest", "min");
    });
}

/// Copies the entries of the resource list `from` that `to` lacks into `to` (created only when
/// something is copied; left alone when it is not an object).
fn fill_missing(item: &mut Obj, to: &str, from: &str) {
    let Some(source) = item.get(from).and_then(Value::as_object).cloned() else {
        return;
    };
    let missing: Vec<(String, Value)> = match item.get(to) {
        None | Some(Value::Null) => source.into_iter().collect(),
        Some(Value::Object(target)) => source
            .into_iter()
            .filter(|(k, _)| !target.contains_key(k))
            .collect(),
        Some(_) => return,
    };
    if missing.is_empty() {
        return;
    }
    if let Some(target) = ensure(item, to) {
        target.extend(missing);
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{Case, run};
    use serde_json::json;

    #[test]
    fn services() {
        let cases: Vec<Case> = vec![
            (
                "",
                "Service",
                json!({"metadata": {"name": "s"}, "spec": {"selector": {"app": "a"},
                    "ports": [{"port": 80}, {"port": 53, "protocol": "UDP", "targetPort": "dns"},
                              {"port": 81, "targetPort": 0}]}}),
                json!({"metadata": {"name": "s"}, "spec": {"selector": {"app": "a"},
                    "ports": [{"port": 80, "protocol": "TCP", "targetPort": 80},
                              {"port": 53, "protocol": "UDP", "targetPort": "dns"},
                              {"port": 81, "protocol": "TCP", "targetPort": 81}],
                    "type": "ClusterIP", "sessionAffinity": "None",
                    "internalTrafficPolicy": "Cluster",
                    "ipFamilyPolicy": "SingleStack", "ipFamilies": ["IPv4"]},
                    "status": {"loadBalancer": {}}}),
            ),
            (
                "",
                "Service",
                json!({"spec": {"type": "LoadBalancer", "sessionAffinity": "ClientIP",
                    "ports": [{"port": 443, "targetPort": 8443}]},
                    "status": {"loadBalancer": {"ingress": [{"ip": "1.2.3.4"},
                        {"hostname": "lb.example.com"}]}}}),
                json!({"spec": {"type": "LoadBalancer", "sessionAffinity": "ClientIP",
                    "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 10800}},
                    "ports": [{"port": 443, "targetPort": 8443, "protocol": "TCP"}],
                    "externalTrafficPolicy": "Cluster", "internalTrafficPolicy": "Cluster",
                    "allocateLoadBalancerNodePorts": true,
                    "ipFamilyPolicy": "SingleStack", "ipFamilies": ["IPv4"]},
                    "status": {"loadBalancer": {"ingress": [{"ip": "1.2.3.4", "ipMode": "VIP"},
                        {"hostname": "lb.example.com"}]}}}),
            ),
            // NodePort; None affinity drops a config; ClusterIP with external IPs.
            (
                "",
                "Service",
                json!({"spec": {"type": "NodePort", "sessionAffinity": "None",
                    "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 5}}}}),
                json!({"spec": {"type": "NodePort", "sessionAffinity": "None",
                    "externalTrafficPolicy": "Cluster", "internalTrafficPolicy": "Cluster",
                    "ipFamilyPolicy": "SingleStack", "ipFamilies": ["IPv4"]},
                    "status": {"loadBalancer": {}}}),
            ),
            (
                "",
                "Service",
                json!({"spec": {"externalIPs": ["10.1.1.1"], "clusterIP": "10.96.0.10"}}),
                json!({"spec": {"externalIPs": ["10.1.1.1"], "clusterIP": "10.96.0.10",
                    "clusterIPs": ["10.96.0.10"], "type": "ClusterIP", "sessionAffinity": "None",
                    "externalTrafficPolicy": "Cluster", "internalTrafficPolicy": "Cluster",
                    "ipFamilyPolicy": "SingleStack", "ipFamilies": ["IPv4"]},
                    "status": {"loadBalancer": {}}}),
            ),
            // Headless: with a selector single-stack, without one dual-stack.
            (
                "",
                "Service",
                json!({"spec": {"clusterIP": "None", "selector": {"app": "db"}}}),
                json!({"spec": {"clusterIP": "None", "clusterIPs": ["None"],
                    "selector": {"app": "db"}, "type": "ClusterIP", "sessionAffinity": "None",
                    "internalTrafficPolicy": "Cluster",
                    "ipFamilyPolicy": "SingleStack", "ipFamilies": ["IPv4"]},
                    "status": {"loadBalancer": {}}}),
            ),
            (
                "",
                "Service",
                json!({"spec": {"clusterIP": "None"}}),
                json!({"spec": {"clusterIP": "None", "clusterIPs": ["None"],
                    "type": "ClusterIP", "sessionAffinity": "None",
                    "internalTrafficPolicy": "Cluster",
                    "ipFamilyPolicy": "RequireDualStack", "ipFamilies": ["IPv4", "IPv6"]},
                    "status": {"loadBalancer": {}}}),
            ),
            // ExternalName: no traffic policies, no families.
            (
                "",
                "Service",
                json!({"spec": {"type": "ExternalName", "externalName": "example.com"}}),
                json!({"spec": {"type": "ExternalName", "externalName": "example.com",
                    "sessionAffinity": "None"}, "status": {"loadBalancer": {}}}),
            ),
            // Wrong types.
            (
                "",
                "Service",
                json!({"spec": {"ports": "x", "ipFamilies": "IPv4", "sessionAffinity": 3},
                    "status": 1}),
                json!({"spec": {"ports": "x", "ipFamilies": "IPv4", "sessionAffinity": 3,
                    "type": "ClusterIP", "internalTrafficPolicy": "Cluster",
                    "ipFamilyPolicy": "SingleStack"}, "status": 1}),
            ),
        ];
        run(cases);
    }

    #[test]
    fn other_core_kinds() {
        let cases: Vec<Case> = vec![
            (
                "",
                "ReplicationController",
                json!({"metadata": {"name": "rc"}, "spec": {"template": {
                    "metadata": {"labels": {"app": "x"}},
                    "spec": {"containers": [{"name": "c", "image": "x:1"}]}}}}),
                json!({"metadata": {"name": "rc", "labels": {"app": "x"}}, "spec": {
                    "replicas": 1, "selector": {"app": "x"}, "template": {
                    "metadata": {"labels": {"app": "x"}},
                    "spec": {"containers": [{"name": "c", "image": "x:1",
                        "imagePullPolicy": "IfNotPresent", "resources": {},
                        "terminationMessagePath": "/dev/termination-log",
                        "terminationMessagePolicy": "File"}],
                        "dnsPolicy": "ClusterFirst", "restartPolicy": "Always",
                        "schedulerName": "default-scheduler", "securityContext": {},
                        "terminationGracePeriodSeconds": 30}}}}),
            ),
            (
                "",
                "ReplicationController",
                json!({"metadata": {"labels": {"own": "1"}}, "spec": {"replicas": 0,
                    "selector": {"s": "1"}}}),
                json!({"metadata": {"labels": {"own": "1"}}, "spec": {"replicas": 0,
                    "selector": {"s": "1"}}}),
            ),
            (
                "",
                "Endpoints",
                json!({"subsets": [{"ports": [{"port": 80}, {"port": 53, "protocol": "UDP"}]}]}),
                json!({"subsets": [{"ports": [{"port": 80, "protocol": "TCP"},
                    {"port": 53, "protocol": "UDP"}]}]}),
            ),
            (
                "",
                "Secret",
                json!({"data": {}}),
                json!({"data": {}, "type": "Opaque"}),
            ),
            (
                "",
                "Secret",
                json!({"type": "kubernetes.io/tls"}),
                json!({"type": "kubernetes.io/tls"}),
            ),
            (
                "",
                "Namespace",
                json!({"metadata": {"name": "dev", "labels": {"team": "a"}}}),
                json!({"metadata": {"name": "dev", "labels": {"team": "a",
                    "kubernetes.io/metadata.name": "dev"}}, "status": {"phase": "Active"}}),
            ),
            (
                "",
                "Namespace",
                json!({"metadata": {"generateName": "x-"}, "status": {"phase": "Terminating"}}),
                json!({"metadata": {"generateName": "x-"}, "status": {"phase": "Terminating"}}),
            ),
            (
                "",
                "Node",
                json!({"status": {"capacity": {"cpu": "4", "pods": "110"}}}),
                json!({"status": {"capacity": {"cpu": "4", "pods": "110"},
                    "allocatable": {"cpu": "4", "pods": "110"}}}),
            ),
            ("", "Node", json!({"spec": {}}), json!({"spec": {}})),
            (
                "",
                "PersistentVolume",
                json!({"spec": {"capacity": {"storage": "1Gi"}, "hostPath": {"path": "/d"}}}),
                json!({"spec": {"capacity": {"storage": "1Gi"},
                    "hostPath": {"path": "/d", "type": ""},
                    "persistentVolumeReclaimPolicy": "Retain", "volumeMode": "Filesystem"},
                    "status": {"phase": "Pending"}}),
            ),
            (
                "",
                "PersistentVolumeClaim",
                json!({"spec": {"accessModes": ["ReadWriteOnce"],
                    "resources": {"requests": {"storage": "1Gi"}}}}),
                json!({"spec": {"accessModes": ["ReadWriteOnce"],
                    "resources": {"requests": {"storage": "1Gi"}}, "volumeMode": "Filesystem"},
                    "status": {"phase": "Pending"}}),
            ),
            (
                "",
                "PersistentVolumeClaim",
                json!({"spec": {"volumeMode": "Block"}, "status": {"phase": "Bound"}}),
                json!({"spec": {"volumeMode": "Block"}, "status": {"phase": "Bound"}}),
            ),
            (
                "",
                "LimitRange",
                json!({"spec": {"limits": [
                    {"type": "Container", "max": {"cpu": "2", "memory": "1Gi"},
                     "min": {"cpu": "100m", "ephemeral-storage": "1Gi"},
                     "default": {"memory": "512Mi"}},
                    {"type": "Container", "min": {"cpu": "1"}},
                    {"type": "Container"},
                    {"type": "Pod", "max": {"cpu": "4"}}]}}),
                json!({"spec": {"limits": [
                    {"type": "Container", "max": {"cpu": "2", "memory": "1Gi"},
                     "min": {"cpu": "100m", "ephemeral-storage": "1Gi"},
                     "default": {"memory": "512Mi", "cpu": "2"},
                     "defaultRequest": {"memory": "512Mi", "cpu": "2",
                        "ephemeral-storage": "1Gi"}},
                    {"type": "Container", "min": {"cpu": "1"}, "defaultRequest": {"cpu": "1"}},
                    {"type": "Container"},
                    {"type": "Pod", "max": {"cpu": "4"}}]}}),
            ),
            (
                "",
                "ConfigMap",
                json!({"data": {"a": "b"}}),
                json!({"data": {"a": "b"}}),
            ),
        ];
        run(cases);
    }
}
