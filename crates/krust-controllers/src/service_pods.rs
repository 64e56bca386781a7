//! What the Endpoints and EndpointSlice controllers share: which pods back a Service (those its
//! selector matches that have an IP and are not finished), each pod's ports for the Service
//! (named `targetPort`s resolved against the pod's container ports), and the pod's readiness
//! as upstream's endpoint utilities define it.

use crate::runtime::{Informer, Notification, WorkQueue, key_of};
use k8s_openapi::api::core::v1::{Pod, Service, ServicePort};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use std::collections::BTreeMap;
use std::sync::Arc;

/// One Service port as it applies to one pod: the Service port's name, protocol and
/// appProtocol, and the pod's port number.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PodPort {
    pub name: String,
    pub port: i32,
    pub protocol: String,
    pub app_protocol: Option<String>,
}

/// A pod as an endpoint of a Service.
#[derive(Debug, Clone, PartialEq)]
pub struct Backend {
    pub ip: String,
    pub pod: Pod,
    /// Ready, or the Service publishes not-ready addresses; never while terminating (unless
    /// publishing not-ready addresses), as upstream.
    pub ready: bool,
    /// The pod's own readiness, terminating or not.
    pub serving: bool,
    pub terminating: bool,
    pub ports: Vec<PodPort>,
    /// `spec.hostname`, when the pod's `subdomain` is this Service.
    pub hostname: Option<String>,
}

/// Queues a Service's key (`ns/name`) on every change of it, and on every change of a pod
/// the Services of its namespace select (before or after the change): what the Endpoints and
/// EndpointSlice controllers both watch.
pub fn queue_service_changes(
    queue: &WorkQueue,
    services: &Arc<Informer<Service>>,
    pods: &Arc<Informer<Pod>>,
) {
    services.queue_keys(queue);
    let q = queue.clone();
    let svcs = Arc::downgrade(services);
    pods.add_handler(move |n| {
        let Some(svcs) = svcs.upgrade() else { return };
        let changed: Vec<&Pod> = match n {
            Notification::Added(p) | Notification::Deleted(p) => vec![*p],
            Notification::Updated { old, new } => vec![*old, *new],
        };
        for pod in changed {
            let ns = pod.metadata.namespace.as_deref().unwrap_or("");
            for svc in svcs.list(ns) {
                if matches(&svc, pod) {
                    q.add(key_of(&svc.metadata));
                }
            }
        }
    });
}

/// Whether a Service's endpoints are computed from a selector (not ExternalName, selector set).
pub fn selects(svc: &Service) -> bool {
    let Some(spec) = &svc.spec else { return false };
    spec.type_.as_deref() != Some("ExternalName")
        && spec.selector.as_ref().is_some_and(|s| !s.is_empty())
}

/// Whether `pod` carries every label of the Service's selector.
pub fn matches(svc: &Service, pod: &Pod) -> bool {
    let Some(selector) = svc.spec.as_ref().and_then(|s| s.selector.as_ref()) else {
        return false;
    };
    let labels = pod.metadata.labels.as_ref();
    !selector.is_empty()
        && selector
            .iter()
            .all(|(k, v)| labels.and_then(|l| l.get(k)) == Some(v))
}

fn pod_ready(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// The pod's port for a Service port: a number as is, a name looked up among the pod's
/// container ports (of the same protocol); `None` when the name is not found.
pub fn resolve_port(sp: &ServicePort, pod: &Pod) -> Option<i32> {
    let protocol = sp.protocol.as_deref().unwrap_or("TCP");
    match &sp.target_port {
        None => Some(sp.port),
        Some(IntOrString::Int(n)) => Some(*n),
        Some(IntOrString::String(name)) => {
            if let Ok(n) = name.parse::<i32>() {
                return Some(n);
            }
            pod.spec
                .as_ref()?
                .containers
                .iter()
                .flat_map(|c| c.ports.iter().flatten())
                .find(|p| {
                    p.name.as_deref() == Some(name.as_str())
                        && p.protocol.as_deref().unwrap_or("TCP") == protocol
                })
                .map(|p| p.container_port)
        }
    }
}

/// The backends of `svc` among `pods` (the namespace's pods), in name order.
pub fn backends(svc: &Service, pods: &[std::sync::Arc<Pod>]) -> Vec<Backend> {
    let spec = svc.spec.clone().unwrap_or_default();
    let publish = spec.publish_not_ready_addresses == Some(true);
    let svc_name = svc.metadata.name.clone().unwrap_or_default();
    let mut out: BTreeMap<String, Backend> = BTreeMap::new();
    for pod in pods {
        if !matches(svc, pod) {
            continue;
        }
        let status = pod.status.clone().unwrap_or_default();
        let ip = status.pod_ip.clone().unwrap_or_default();
        if ip.is_empty() || matches!(status.phase.as_deref(), Some("Succeeded" | "Failed")) {
            continue;
        }
        let terminating = pod.metadata.deletion_timestamp.is_some();
        let serving = pod_ready(pod);
        let ports = spec
            .ports
            .iter()
            .flatten()
            .filter_map(|sp| {
                Some(PodPort {
                    name: sp.name.clone().unwrap_or_default(),
                    port: resolve_port(sp, pod)?,
                    protocol: sp.protocol.clone().unwrap_or_else(|| "TCP".into()),
                    app_protocol: sp.app_protocol.clone(),
                })
            })
            .collect();
        let pod_spec = pod.spec.clone().unwrap_or_default();
        let hostname = pod_spec
            .hostname
            .filter(|h| !h.is_empty() && pod_spec.subdomain.as_deref() == Some(svc_name.as_str()));
        out.insert(
            pod.metadata.name.clone().unwrap_or_default(),
            Backend {
                ip,
                pod: (**pod).clone(),
                ready: publish || (serving && !terminating),
                serving: publish || serving,
                terminating,
                ports,
                hostname,
            },
        );
    }
    out.into_values().collect()
}

/// The Service's labels an endpoints object carries, plus upstream's headless marker.
pub fn endpoint_labels(svc: &Service) -> BTreeMap<String, String> {
    let mut labels = svc.metadata.labels.clone().unwrap_or_default();
    if svc.spec.as_ref().and_then(|s| s.cluster_ip.as_deref()) == Some("None") {
        labels.insert("service.kubernetes.io/headless".into(), String::new());
    } else {
        labels.remove("service.kubernetes.io/headless");
    }
    labels
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(name: &str, ready: bool, extra: serde_json::Value) -> Arc<Pod> {
        let mut v = json!({
            "metadata": {"name": name, "namespace": "ns", "uid": format!("u-{name}"), "labels": {"app": "web"}},
            "spec": {"nodeName": "n1", "containers": [{"name": "c", "ports": [{"name": "http", "containerPort": 8080}]}]},
            "status": {"phase": "Running", "podIP": format!("10.0.0.{}", name.len()),
                "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}]}
        });
        if let (Some(m), Some(e)) = (v.as_object_mut(), extra.as_object()) {
            for (k, x) in e {
                if let (Some(Some(o)), Some(xo)) =
                    (m.get_mut(k).map(|v| v.as_object_mut()), x.as_object())
                {
                    o.extend(xo.clone());
                }
            }
        }
        Arc::new(serde_json::from_value(v).unwrap())
    }

    fn service(extra: serde_json::Value) -> Service {
        let mut v = json!({"metadata": {"name": "web", "namespace": "ns"},
            "spec": {"selector": {"app": "web"}, "ports": [
                {"name": "h", "port": 80, "targetPort": "http", "protocol": "TCP"},
                {"name": "raw", "port": 81, "targetPort": 9000, "protocol": "TCP"}]}});
        if let (Some(spec), Some(e)) = (v["spec"].as_object_mut(), extra.as_object()) {
            spec.extend(e.clone());
        }
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn backends_follow_readiness_termination_and_named_ports() {
        let pods = vec![
            pod("a", true, json!({})),
            pod("bb", false, json!({})),
            pod(
                "ccc",
                true,
                json!({"metadata": {"deletionTimestamp": "2026-01-01T00:00:00Z"}}),
            ),
            pod("dddd", true, json!({"status": {"phase": "Succeeded"}})),
            pod("eeeee", true, json!({"status": {"podIP": ""}})),
            pod(
                "other",
                true,
                json!({"metadata": {"labels": {"app": "db"}}}),
            ),
        ];
        let b = backends(&service(json!({})), &pods);
        let names: Vec<_> = b
            .iter()
            .map(|b| b.pod.metadata.name.clone().unwrap())
            .collect();
        assert_eq!(names, ["a", "bb", "ccc"]);
        assert!(b[0].ready && b[0].serving && !b[0].terminating);
        assert!(!b[1].ready && !b[1].serving);
        assert!(!b[2].ready && b[2].serving && b[2].terminating);
        assert_eq!(b[0].ports[0].port, 8080, "named targetPort resolved");
        assert_eq!(b[0].ports[1].port, 9000);
        let publish = backends(&service(json!({"publishNotReadyAddresses": true})), &pods);
        assert!(publish.iter().all(|b| b.ready));
        assert!(!selects(&service(json!({"type": "ExternalName"}))));
        assert!(!selects(&service(json!({"selector": {}}))));
    }
}
