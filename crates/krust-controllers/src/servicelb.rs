//! The load-balancer controller (the k3s ServiceLB model): every Service of type
//! LoadBalancer (without a `loadBalancerClass`) gets `status.loadBalancer.ingress` with the
//! InternalIPs of the Ready nodes, where each node's service proxy answers at the Service's
//! ports. Two such Services cannot share a port and protocol: the younger one gets no
//! address and a `PortConflict` Warning Event naming the older one, instead of being
//! silently dropped.

use crate::events::EventRecorder;
use crate::runtime::{Informer, Informers};
use k8s_openapi::api::core::v1::{Node, ObjectReference, Service};
use kube::api::{Api, Patch, PatchParams};
use kube::{Client, ResourceExt};
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// The load-balancer controller.
pub struct ServiceLbController {
    client: Client,
}

/// The addresses a LoadBalancer Service should have, or the conflict that keeps it from any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Assignment {
    Ingress(Vec<String>),
    /// `port/PROTOCOL` and the Service (`ns/name`) that holds it.
    Conflict(String, String),
}

pub(crate) fn node_ready(n: &Node) -> bool {
    n.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// The InternalIPs of the Ready nodes, sorted.
pub fn node_addresses(nodes: &[Arc<Node>]) -> Vec<String> {
    let ips: BTreeSet<String> = nodes
        .iter()
        .filter(|n| node_ready(n))
        .flat_map(|n| {
            n.status
                .as_ref()
                .and_then(|s| s.addresses.clone())
                .unwrap_or_default()
        })
        .filter(|a| a.type_ == "InternalIP")
        .map(|a| a.address)
        .collect();
    ips.into_iter().collect()
}

/// What every LoadBalancer Service of `services` gets, oldest first claiming its ports.
pub fn assign(services: &[Arc<Service>], nodes: &[Arc<Node>]) -> BTreeMap<String, Assignment> {
    let addresses = node_addresses(nodes);
    let mut lbs: Vec<&Arc<Service>> = services
        .iter()
        .filter(|s| {
            s.spec.as_ref().is_some_and(|sp| {
                sp.type_.as_deref() == Some("LoadBalancer") && sp.load_balancer_class.is_none()
            })
        })
        .collect();
    lbs.sort_by_key(|s| {
        (
            s.metadata.creation_timestamp.clone().map(|t| t.0),
            s.name_any(),
        )
    });
    let mut held: BTreeMap<String, String> = BTreeMap::new();
    let mut out = BTreeMap::new();
    for svc in lbs {
        let key = format!("{}/{}", svc.namespace().unwrap_or_default(), svc.name_any());
        let ports: Vec<String> = svc
            .spec
            .as_ref()
            .and_then(|s| s.ports.clone())
            .unwrap_or_default()
            .iter()
            .map(|p| format!("{}/{}", p.port, p.protocol.as_deref().unwrap_or("TCP")))
            .collect();
        let conflict = ports
            .iter()
            .find_map(|p| held.get(p).map(|owner| (p.clone(), owner.clone())));
        match conflict {
            Some((port, owner)) => {
                out.insert(key, Assignment::Conflict(port, owner));
            }
            None => {
                for p in ports {
                    held.insert(p, key.clone());
                }
                out.insert(key, Assignment::Ingress(addresses.clone()));
            }
        }
    }
    out
}

impl ServiceLbController {
    pub fn new(client: Client) -> Self {
        ServiceLbController { client }
    }

    /// Runs until the process ends.
    pub async fn run(self) {
        let informers = Informers::new(self.client.clone());
        let services: Arc<Informer<Service>> = informers.get();
        let nodes: Arc<Informer<Node>> = informers.get();
        services.wait_synced().await;
        nodes.wait_synced().await;
        let changed = Arc::new(Notify::new());
        let c = changed.clone();
        services.add_handler(move |_| c.notify_one());
        let c = changed.clone();
        nodes.add_handler(move |_| c.notify_one());
        let events = EventRecorder::new(self.client.clone(), "service-lb-controller");
        let mut announced: BTreeSet<(String, String)> = BTreeSet::new();
        loop {
            let all = services.list_all();
            for (key, assignment) in assign(&all, &nodes.list_all()) {
                let (ns, name) = key.split_once('/').unwrap_or(("", key.as_str()));
                let Some(svc) = services.get(ns, name) else {
                    continue;
                };
                let ingress: Vec<String> = match &assignment {
                    Assignment::Ingress(ips) => ips.clone(),
                    Assignment::Conflict(port, owner) => {
                        if announced.insert((key.clone(), owner.clone())) {
                            let reference = ObjectReference {
                                api_version: Some("v1".into()),
                                kind: Some("Service".into()),
                                namespace: Some(ns.to_string()),
                                name: Some(name.to_string()),
                                uid: svc.metadata.uid.clone(),
                                ..ObjectReference::default()
                            };
                            events
                                .record(
                                    &reference,
                                    "Warning",
                                    "PortConflict",
                                    &format!("port {port} is already used by the load balancer of Service {owner}"),
                                )
                                .await;
                        }
                        Vec::new()
                    }
                };
                let current: Vec<String> = svc
                    .status
                    .as_ref()
                    .and_then(|s| s.load_balancer.as_ref())
                    .and_then(|lb| lb.ingress.as_ref())
                    .map(|i| i.iter().filter_map(|x| x.ip.clone()).collect())
                    .unwrap_or_default();
                if current == ingress {
                    continue;
                }
                let entries: Vec<serde_json::Value> = ingress
                    .iter()
                    .map(|ip| json!({"ip": ip, "ipMode": "VIP"}))
                    .collect();
                let api: Api<Service> = Api::namespaced(self.client.clone(), ns);
                let patch = json!({"status": {"loadBalancer": {"ingress": entries}}});
                if let Err(e) = api
                    .patch_status(name, &PatchParams::default(), &Patch::Merge(&patch))
                    .await
                {
                    tracing::debug!(service = %key, error = %e, "load balancer status");
                }
            }
            let _ = tokio::time::timeout(Duration::from_secs(30), changed.notified()).await;
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ready_nodes_give_addresses_and_the_younger_of_two_loses_a_port() {
        let node = |name: &str, ip: &str, ready: &str| -> Arc<Node> {
            Arc::new(
                serde_json::from_value(json!({"metadata": {"name": name},
                    "status": {"addresses": [{"type": "InternalIP", "address": ip}, {"type": "Hostname", "address": name}],
                        "conditions": [{"type": "Ready", "status": ready}]}}))
                .unwrap(),
            )
        };
        let svc = |name: &str, at: &str, port: i32| -> Arc<Service> {
            Arc::new(
                serde_json::from_value(json!({"metadata": {"name": name, "namespace": "d", "creationTimestamp": at},
                    "spec": {"type": "LoadBalancer", "ports": [{"port": port, "protocol": "TCP"}]}}))
                .unwrap(),
            )
        };
        let nodes = vec![
            node("b", "192.0.2.3", "True"),
            node("a", "192.0.2.2", "True"),
            node("c", "192.0.2.4", "False"),
        ];
        let services = vec![
            svc("young", "2026-01-02T00:00:00Z", 80),
            svc("old", "2026-01-01T00:00:00Z", 80),
            svc("other", "2026-01-03T00:00:00Z", 81),
        ];
        let got = assign(&services, &nodes);
        let ips = vec!["192.0.2.2".to_string(), "192.0.2.3".to_string()];
        assert_eq!(got["d/old"], Assignment::Ingress(ips.clone()));
        assert_eq!(got["d/other"], Assignment::Ingress(ips));
        assert_eq!(
            got["d/young"],
            Assignment::Conflict("80/TCP".into(), "d/old".into())
        );
    }
}
