//! The pod network between nodes (host-gw, as flannel's backend of that name): every other
//! node's podCIDR is routed through that node's InternalIP (`ip route replace <podCIDR> via
//! <node IP> proto 78`), kept in step with the Nodes the kubelet watches; routes of nodes that
//! went away are removed, and all of them with [`remove`] (a clean stop, `krust agent cleanup`).
//! Nodes must share a link (host-gw does not tunnel).

use k8s_openapi::api::core::v1::Node;
use krust_client::runtime::Informers;
use std::collections::BTreeMap;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// The routing protocol number the routes carry (`proto 78`), to find them again.
pub const PROTO: &str = "78";

/// Which podCIDR goes through which node IP: every node but `own` with a podCIDR inside
/// `cluster_cidr` and an InternalIP.
pub fn wanted(nodes: &[Arc<Node>], own: &str) -> BTreeMap<String, String> {
    nodes
        .iter()
        .filter(|n| n.metadata.name.as_deref() != Some(own))
        .filter_map(|n| {
            let spec = n.spec.as_ref()?;
            let cidr = spec
                .pod_cidr
                .clone()
                .or_else(|| spec.pod_cidrs.as_ref()?.first().cloned())?;
            crate::network::check_cidr(&cidr).ok()?;
            let ip = n
                .status
                .as_ref()?
                .addresses
                .as_ref()?
                .iter()
                .find(|a| a.type_ == "InternalIP")?
                .address
                .parse::<std::net::Ipv4Addr>()
                .ok()?;
            Some((cidr, ip.to_string()))
        })
        .collect()
}

fn ip(args: &[&str]) -> Result<(), String> {
    match Command::new("ip").args(args).output() {
        Ok(o) if o.status.success() => Ok(()),
        Ok(o) => Err(String::from_utf8_lossy(&o.stderr).trim().to_string()),
        Err(e) => Err(e.to_string()),
    }
}

/// The `proto 78` routes of this network namespace inside `cluster_cidr`.
fn installed(cluster_cidr: &str) -> Vec<String> {
    let Ok(out) = Command::new("ip")
        .args(["-4", "route", "show", "proto", PROTO, "root", cluster_cidr])
        .output()
    else {
        return Vec::new();
    };
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(String::from))
        .collect()
}

/// Removes every node route inside `cluster_cidr`.
pub fn remove(cluster_cidr: &str) {
    if crate::network::check_cidr(cluster_cidr).is_err() {
        return;
    }
    for cidr in installed(cluster_cidr) {
        let _ = ip(&["route", "del", &cidr, "proto", PROTO]);
    }
}

/// Keeps the routes until the future is dropped.
pub async fn run(client: kube::Client, own: String, cluster_cidr: String) {
    let informers = Informers::new(client);
    let nodes = informers.get::<Node>();
    nodes.wait_synced().await;
    let changed = Arc::new(Notify::new());
    let c = changed.clone();
    nodes.add_handler(move |_| c.notify_one());
    let mut current: BTreeMap<String, String> = BTreeMap::new();
    loop {
        let want = wanted(&nodes.list_all(), &own);
        if want != current {
            let (want2, cidr) = (want.clone(), cluster_cidr.clone());
            let _ = tokio::task::spawn_blocking(move || {
                for (pod_cidr, via) in &want2 {
                    if let Err(e) = ip(&["route", "replace", pod_cidr, "via", via, "proto", PROTO]) {
                        tracing::warn!(pod_cidr = %pod_cidr, via = %via, error = %e, "routing a node's pods failed");
                    }
                }
                for stale in installed(&cidr) {
                    if !want2.contains_key(&stale) {
                        let _ = ip(&["route", "del", &stale, "proto", PROTO]);
                    }
                }
            })
            .await;
            tracing::info!(routes = want.len(), "routes to other nodes' pods updated");
            current = want;
        }
        let _ = tokio::time::timeout(Duration::from_secs(30), changed.notified()).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn other_nodes_with_cidrs_and_addresses() {
        let node = |name: &str, cidr: Option<&str>, ip: Option<&str>| -> Arc<Node> {
            let mut v = json!({"metadata": {"name": name}, "spec": {}, "status": {}});
            if let Some(c) = cidr {
                v["spec"]["podCIDR"] = json!(c);
            }
            if let Some(i) = ip {
                v["status"]["addresses"] = json!([{"type": "Hostname", "address": name},
                    {"type": "InternalIP", "address": i}]);
            }
            Arc::new(serde_json::from_value(v).unwrap())
        };
        let got = wanted(
            &[
                node("a", Some("10.42.0.0/24"), Some("10.251.0.2")),
                node("b", Some("10.42.1.0/24"), Some("10.251.0.3")),
                node("c", None, Some("10.251.0.4")),
                node("d", Some("10.42.3.0/24"), None),
                node("e", Some("bogus"), Some("10.251.0.5")),
            ],
            "a",
        );
        assert_eq!(
            got,
            BTreeMap::from([("10.42.1.0/24".to_string(), "10.251.0.3".to_string())])
        );
    }
}
