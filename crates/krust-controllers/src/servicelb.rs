//! The load-balancer controller (the k3s ServiceLB model): every Service of type
//! LoadBalancer (without a `loadBalancerClass`) gets `status.loadBalancer.ingress` with the
//! InternalIPs of the Ready nodes, where each node's service proxy answers at the Service's
//! ports. Two such Services cannot share a port and protocol: the younger one gets no
//! address, a `PortConflict` Warning Event naming the older one and a `PortConflict`
//! condition, instead of being silently dropped. With `--service-lb-pool`, each Service gets
//! an address of its own from the pool instead (kept across restarts, `spec.loadBalancerIP`
//! honoured when free; an exhausted pool is an `AllocationFailed` Event), which the first
//! Ready node announces on its link.

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

/// The Service condition of a load balancer that lost a port to an older one.
pub const CONFLICT_CONDITION: &str = "PortConflict";

/// The load-balancer controller.
pub struct ServiceLbController {
    client: Client,
    pool: Vec<std::net::Ipv4Addr>,
}

/// The addresses a LoadBalancer Service should have, or what keeps it from any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Assignment {
    Ingress(Vec<String>),
    /// `port/PROTOCOL` and the Service (`ns/name`) that holds it.
    Conflict(String, String),
    /// Every address of the pool is taken.
    Exhausted,
}

/// The addresses of a `--service-lb-pool` value: comma-separated CIDRs (`10.0.0.0/29`) and
/// ranges (`10.0.0.10-10.0.0.20`), at most 65,536 addresses.
pub fn parse_pool(text: &str) -> Result<Vec<std::net::Ipv4Addr>, String> {
    use std::net::Ipv4Addr;
    let mut out = Vec::new();
    for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let bad =
            || format!("{item:?}: expected a CIDR (10.0.0.0/29) or a range (10.0.0.10-10.0.0.20)");
        let (first, last) = if let Some((ip, bits)) = item.split_once('/') {
            let ip: Ipv4Addr = ip.parse().map_err(|_| bad())?;
            let bits: u32 = bits.parse().map_err(|_| bad())?;
            if bits > 32 {
                return Err(bad());
            }
            let mask = u32::MAX.checked_shl(32 - bits).unwrap_or(0);
            let base = u32::from(ip) & mask;
            (base, base | !mask)
        } else if let Some((a, b)) = item.split_once('-') {
            let a: Ipv4Addr = a.trim().parse().map_err(|_| bad())?;
            let b: Ipv4Addr = b.trim().parse().map_err(|_| bad())?;
            (u32::from(a), u32::from(b))
        } else {
            let ip: Ipv4Addr = item.parse().map_err(|_| bad())?;
            (u32::from(ip), u32::from(ip))
        };
        if last < first || (last - first) as usize + out.len() >= 65_536 {
            return Err(format!("{item:?}: empty or larger than 65,536 addresses"));
        }
        out.extend((first..=last).map(Ipv4Addr::from));
    }
    Ok(out)
}

fn load_balancers(services: &[Arc<Service>]) -> Vec<&Arc<Service>> {
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
    lbs
}

fn service_key(svc: &Service) -> String {
    format!("{}/{}", svc.namespace().unwrap_or_default(), svc.name_any())
}

/// What every LoadBalancer Service gets from `pool`: the address it has (first holder wins),
/// else the `spec.loadBalancerIP` it asks for when free, else the lowest free one.
pub fn assign_from_pool(
    services: &[Arc<Service>],
    pool: &[std::net::Ipv4Addr],
) -> BTreeMap<String, Assignment> {
    let lbs = load_balancers(services);
    let in_pool: BTreeSet<String> = pool.iter().map(|ip| ip.to_string()).collect();
    let mut taken: BTreeSet<String> = BTreeSet::new();
    let mut out = BTreeMap::new();
    let mut waiting = Vec::new();
    for svc in &lbs {
        let current = svc
            .status
            .as_ref()
            .and_then(|s| s.load_balancer.as_ref())
            .and_then(|lb| lb.ingress.as_ref())
            .and_then(|i| i.first())
            .and_then(|i| i.ip.clone())
            .filter(|ip| in_pool.contains(ip) && !taken.contains(ip));
        match current {
            Some(ip) => {
                taken.insert(ip.clone());
                out.insert(service_key(svc), Assignment::Ingress(vec![ip]));
            }
            None => waiting.push(*svc),
        }
    }
    for svc in waiting {
        let asked = svc
            .spec
            .as_ref()
            .and_then(|s| s.load_balancer_ip.clone())
            .filter(|ip| in_pool.contains(ip) && !taken.contains(ip));
        let ip = asked.or_else(|| {
            pool.iter()
                .map(|ip| ip.to_string())
                .find(|ip| !taken.contains(ip))
        });
        match ip {
            Some(ip) => {
                taken.insert(ip.clone());
                out.insert(service_key(svc), Assignment::Ingress(vec![ip]));
            }
            None => {
                out.insert(service_key(svc), Assignment::Exhausted);
            }
        }
    }
    out
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
    let lbs = load_balancers(services);
    let mut held: BTreeMap<String, String> = BTreeMap::new();
    let mut out = BTreeMap::new();
    for svc in lbs {
        let key = service_key(svc);
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
        ServiceLbController {
            client,
            pool: Vec::new(),
        }
    }

    /// Addresses come from `pool` (`--service-lb-pool`) instead of the nodes.
    pub fn with_pool(mut self, pool: Vec<std::net::Ipv4Addr>) -> Self {
        self.pool = pool;
        self
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
            let assignments = if self.pool.is_empty() {
                assign(&all, &nodes.list_all())
            } else {
                assign_from_pool(&all, &self.pool)
            };
            for (key, assignment) in assignments {
                let (ns, name) = key.split_once('/').unwrap_or(("", key.as_str()));
                let Some(svc) = services.get(ns, name) else {
                    continue;
                };
                let reference = ObjectReference {
                    api_version: Some("v1".into()),
                    kind: Some("Service".into()),
                    namespace: Some(ns.to_string()),
                    name: Some(name.to_string()),
                    uid: svc.metadata.uid.clone(),
                    ..ObjectReference::default()
                };
                let mut conflict = None;
                let ingress: Vec<String> = match &assignment {
                    Assignment::Ingress(ips) => ips.clone(),
                    Assignment::Conflict(port, owner) => {
                        let message = format!(
                            "port {port} is already used by the load balancer of Service {owner}"
                        );
                        if announced.insert((key.clone(), owner.clone())) {
                            events
                                .record(&reference, "Warning", "PortConflict", &message)
                                .await;
                        }
                        conflict = Some(message);
                        Vec::new()
                    }
                    Assignment::Exhausted => {
                        if announced.insert((key.clone(), String::new())) {
                            events
                                .record(
                                    &reference,
                                    "Warning",
                                    "AllocationFailed",
                                    "no address of the load-balancer pool is free",
                                )
                                .await;
                        }
                        Vec::new()
                    }
                };
                let had_conflict = svc
                    .status
                    .as_ref()
                    .and_then(|s| s.conditions.as_ref())
                    .is_some_and(|cs| cs.iter().any(|c| c.type_ == CONFLICT_CONDITION));
                let current: Vec<String> = svc
                    .status
                    .as_ref()
                    .and_then(|s| s.load_balancer.as_ref())
                    .and_then(|lb| lb.ingress.as_ref())
                    .map(|i| i.iter().filter_map(|x| x.ip.clone()).collect())
                    .unwrap_or_default();
                if current == ingress && had_conflict == conflict.is_some() {
                    continue;
                }
                let entries: Vec<serde_json::Value> = ingress
                    .iter()
                    .map(|ip| json!({"ip": ip, "ipMode": "VIP"}))
                    .collect();
                let api: Api<Service> = Api::namespaced(self.client.clone(), ns);
                // No address: no `ingress` list at all (null removes it), as upstream shows it.
                let entries = if entries.is_empty() {
                    serde_json::Value::Null
                } else {
                    serde_json::Value::Array(entries)
                };
                // The conditions: a conflict's, or what is left once it is gone (null: none).
                let conditions = if let Some(message) = &conflict {
                    Some(json!([{
                        "type": CONFLICT_CONDITION, "status": "True", "reason": "PortConflict",
                        "message": message,
                        "lastTransitionTime": krust_api::time::now_rfc3339(),
                        "observedGeneration": svc.metadata.generation.unwrap_or(0)}]))
                } else if had_conflict {
                    let kept: Vec<_> = svc
                        .status
                        .as_ref()
                        .and_then(|s| s.conditions.clone())
                        .unwrap_or_default()
                        .into_iter()
                        .filter(|c| c.type_ != CONFLICT_CONDITION)
                        .collect();
                    Some(if kept.is_empty() {
                        serde_json::Value::Null
                    } else {
                        json!(kept)
                    })
                } else {
                    None
                };
                let patch = match conditions {
                    Some(c) => {
                        json!({"status": {"loadBalancer": {"ingress": entries}, "conditions": c}})
                    }
                    None => json!({"status": {"loadBalancer": {"ingress": entries}}}),
                };
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

    #[test]
    fn pools_parse_and_give_each_service_its_own_address() {
        let pool = parse_pool("10.0.0.8/30, 10.0.0.20-10.0.0.21").unwrap();
        let text: Vec<String> = pool.iter().map(|i| i.to_string()).collect();
        assert_eq!(
            text,
            [
                "10.0.0.8",
                "10.0.0.9",
                "10.0.0.10",
                "10.0.0.11",
                "10.0.0.20",
                "10.0.0.21"
            ]
        );
        assert!(parse_pool("10.0.0.5-10.0.0.1").is_err());
        assert!(parse_pool("10.0.0.0/8").is_err());
        assert!(parse_pool("nope").is_err());
        let svc = |name: &str, at: &str, asked: Option<&str>, has: Option<&str>| -> Arc<Service> {
            let mut v = json!({"metadata": {"name": name, "namespace": "d", "creationTimestamp": at},
                "spec": {"type": "LoadBalancer", "ports": [{"port": 80}]}});
            if let Some(ip) = asked {
                v["spec"]["loadBalancerIP"] = json!(ip);
            }
            if let Some(ip) = has {
                v["status"] = json!({"loadBalancer": {"ingress": [{"ip": ip}]}});
            }
            Arc::new(serde_json::from_value(v).unwrap())
        };
        let pool = parse_pool("10.0.0.1-10.0.0.3").unwrap();
        let got = assign_from_pool(
            &[
                svc("a", "2026-01-01T00:00:00Z", None, None),
                svc("b", "2026-01-02T00:00:00Z", None, Some("10.0.0.1")),
                svc("c", "2026-01-03T00:00:00Z", Some("10.0.0.3"), None),
                svc("d", "2026-01-04T00:00:00Z", None, None),
            ],
            &pool,
        );
        let ip = |s: &str| Assignment::Ingress(vec![s.to_string()]);
        assert_eq!(got["d/b"], ip("10.0.0.1"));
        assert_eq!(got["d/a"], ip("10.0.0.2"));
        assert_eq!(got["d/c"], ip("10.0.0.3"));
        assert_eq!(got["d/d"], Assignment::Exhausted);
    }
}
