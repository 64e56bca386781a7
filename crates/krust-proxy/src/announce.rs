//! Load-balancer addresses that are not any node's (`--service-lb-pool`) are announced on
//! the link by one node, the first Ready one by name: it holds them as `/32` addresses of
//! the interface carrying its InternalIP (label `<dev>:klb`), so neighbours' ARP finds it,
//! and its proxy takes the traffic from there like any LoadBalancer address. The addresses
//! go when no longer wanted, on a clean stop and with [`remove_all`].

use k8s_openapi::api::core::v1::{Node, Service};
use std::collections::BTreeSet;
use std::process::Command;
use std::sync::Arc;

const LABEL: &str = "klb";

fn ready(n: &Node) -> bool {
    n.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

fn internal_ips(n: &Node) -> impl Iterator<Item = String> + '_ {
    n.status
        .iter()
        .flat_map(|s| s.addresses.iter().flatten())
        .filter(|a| a.type_ == "InternalIP")
        .map(|a| a.address.clone())
}

/// The addresses node `own` should announce: the LoadBalancer ingress IPs that are no node's
/// InternalIP, when `own` is the first Ready node by name.
pub fn wanted(services: &[Arc<Service>], nodes: &[Arc<Node>], own: &str) -> BTreeSet<String> {
    let first = nodes
        .iter()
        .filter(|n| ready(n))
        .filter_map(|n| n.metadata.name.clone())
        .min();
    if first.as_deref() != Some(own) {
        return BTreeSet::new();
    }
    let node_ips: BTreeSet<String> = nodes.iter().flat_map(|n| internal_ips(n)).collect();
    services
        .iter()
        .filter(|s| s.spec.as_ref().and_then(|sp| sp.type_.as_deref()) == Some("LoadBalancer"))
        .flat_map(|s| {
            s.status
                .iter()
                .flat_map(|st| st.load_balancer.iter())
                .flat_map(|lb| lb.ingress.iter().flatten())
                .filter_map(|i| i.ip.clone())
        })
        .filter(|ip| ip.parse::<std::net::Ipv4Addr>().is_ok() && !node_ips.contains(ip))
        .collect()
}

fn ip(args: &[&str]) -> Result<String, String> {
    match Command::new("ip").args(args).output() {
        Ok(o) if o.status.success() => Ok(String::from_utf8_lossy(&o.stdout).into_owned()),
        Ok(o) => Err(String::from_utf8_lossy(&o.stderr).trim().to_string()),
        Err(e) => Err(e.to_string()),
    }
}

/// The interface holding `addr` (`ip -o -4 addr show`).
pub fn device_of(addr: &str) -> Option<String> {
    let out = ip(&["-o", "-4", "addr", "show"]).ok()?;
    out.lines().find_map(|l| {
        let words: Vec<&str> = l.split_whitespace().collect();
        let at = words.iter().position(|w| *w == "inet")?;
        let cidr = words.get(at + 1)?;
        (cidr.split('/').next() == Some(addr)).then(|| words.get(1).map(|d| d.to_string()))?
    })
}

/// The announced addresses of this network namespace (`(address, device)`).
pub fn announced() -> Vec<(String, String)> {
    let Ok(out) = ip(&["-o", "-4", "addr", "show"]) else {
        return Vec::new();
    };
    out.lines()
        .filter_map(|l| {
            let words: Vec<&str> = l.split_whitespace().collect();
            let label = words.last()?;
            if !label.ends_with(&format!(":{LABEL}")) {
                return None;
            }
            let at = words.iter().position(|w| *w == "inet")?;
            let addr = words.get(at + 1)?.split('/').next()?.to_string();
            Some((addr, words.get(1)?.to_string()))
        })
        .collect()
}

/// Makes the announced addresses `want` on `device` (blocking).
pub fn apply(want: &BTreeSet<String>, device: &str) {
    let have = announced();
    for (addr, dev) in &have {
        if !want.contains(addr) || dev != device {
            let _ = ip(&["addr", "del", &format!("{addr}/32"), "dev", dev]);
        }
    }
    let label = format!("{device}:{LABEL}");
    for addr in want {
        if have.iter().any(|(a, d)| a == addr && d == device) {
            continue;
        }
        let cidr = format!("{addr}/32");
        let result = if label.len() <= 15 {
            ip(&["addr", "add", &cidr, "dev", device, "label", &label])
        } else {
            ip(&["addr", "add", &cidr, "dev", device])
        };
        match result {
            Ok(_) => tracing::info!(address = %addr, %device, "announcing a load-balancer address"),
            Err(e) => tracing::warn!(address = %addr, %device, error = %e, "announcing failed"),
        }
    }
}

/// Removes every announced address (blocking).
pub fn remove_all() {
    for (addr, dev) in announced() {
        let _ = ip(&["addr", "del", &format!("{addr}/32"), "dev", &dev]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_first_ready_node_announces_pool_addresses() {
        let node = |name: &str, ip: &str, ready: &str| -> Arc<Node> {
            Arc::new(
                serde_json::from_value(json!({"metadata": {"name": name},
                    "status": {"addresses": [{"type": "InternalIP", "address": ip}],
                        "conditions": [{"type": "Ready", "status": ready}]}}))
                .unwrap(),
            )
        };
        let lb = |ip: &str| -> Arc<Service> {
            Arc::new(
                serde_json::from_value(json!({"metadata": {"name": ip, "namespace": "d"},
                    "spec": {"type": "LoadBalancer"},
                    "status": {"loadBalancer": {"ingress": [{"ip": ip}]}}}))
                .unwrap(),
            )
        };
        let nodes = vec![
            node("a", "10.0.0.2", "False"),
            node("b", "10.0.0.3", "True"),
            node("c", "10.0.0.4", "True"),
        ];
        let services = vec![lb("10.0.0.200"), lb("10.0.0.3")];
        assert_eq!(
            wanted(&services, &nodes, "b"),
            BTreeSet::from(["10.0.0.200".to_string()])
        );
        assert!(wanted(&services, &nodes, "c").is_empty());
        assert!(wanted(&services, &nodes, "a").is_empty());
    }
}
