//! The nftables ruleset of the service proxy, built from Services and EndpointSlices in the
//! design of upstream kube-proxy's nftables mode: a `service-ips` verdict map from
//! ClusterIP . protocol . port (and `service-nodeports` from protocol . port on local
//! addresses) to one chain per Service port, which picks a ready endpoint at random
//! (`numgen random`) and DNATs to it; terminating endpoints are used only when no ready one is
//! left; Service ports without endpoints are rejected (`no-endpoint-*` sets); traffic from
//! outside the cluster CIDR, to NodePorts, and hairpin traffic (a pod reaching itself) is
//! marked and masqueraded. The whole table is replaced in one transaction.

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;
use std::sync::Arc;

/// The mark bit of connections to masquerade (upstream's 0x4000).
const MASQ_MARK: &str = "0x4000";

/// One Service port as the proxy programs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServicePort {
    /// `namespace/name:port-name` (for comments and logs).
    pub id: String,
    pub cluster_ip: String,
    pub protocol: String,
    pub port: i32,
    pub node_port: Option<i32>,
    /// `ip:port` of the endpoints traffic goes to.
    pub endpoints: Vec<(String, i32)>,
}

/// What a sync programs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    pub ports: Vec<ServicePort>,
}

impl Plan {
    /// The ClusterIPs that have at least one endpoint (they get a host route so the node
    /// itself reaches them past the `unreachable` route of the Service CIDR).
    pub fn routed_ips(&self) -> BTreeSet<String> {
        self.ports
            .iter()
            .filter(|p| !p.endpoints.is_empty())
            .map(|p| p.cluster_ip.clone())
            .collect()
    }
}

fn proto(p: Option<&str>) -> String {
    p.unwrap_or("TCP").to_ascii_lowercase()
}

/// The plan for `services` and `slices` (all namespaces).
pub fn plan(services: &[Arc<Service>], slices: &[Arc<EndpointSlice>]) -> Plan {
    // (namespace, service) -> its slices.
    let mut by_service: BTreeMap<(String, String), Vec<&EndpointSlice>> = BTreeMap::new();
    for s in slices {
        if s.address_type != "IPv4" {
            continue;
        }
        let Some(svc) = s
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get("kubernetes.io/service-name"))
        else {
            continue;
        };
        let ns = s.metadata.namespace.clone().unwrap_or_default();
        by_service.entry((ns, svc.clone())).or_default().push(s);
    }
    let mut ports = Vec::new();
    for svc in services {
        let Some(spec) = &svc.spec else { continue };
        let ip = spec.cluster_ip.clone().unwrap_or_default();
        if spec.type_.as_deref() == Some("ExternalName") || ip.is_empty() || ip == "None" {
            continue;
        }
        let ns = svc.metadata.namespace.clone().unwrap_or_default();
        let name = svc.metadata.name.clone().unwrap_or_default();
        let slices = by_service
            .get(&(ns.clone(), name.clone()))
            .cloned()
            .unwrap_or_default();
        for sp in spec.ports.iter().flatten() {
            let port_name = sp.name.clone().unwrap_or_default();
            let protocol = proto(sp.protocol.as_deref());
            let (mut ready, mut fallback) = (BTreeSet::new(), BTreeSet::new());
            for slice in &slices {
                let Some(target) = slice.ports.iter().flatten().find(|p| {
                    p.name.clone().unwrap_or_default() == port_name
                        && proto(p.protocol.as_deref()) == protocol
                }) else {
                    continue;
                };
                let Some(target_port) = target.port else {
                    continue;
                };
                for ep in &slice.endpoints {
                    let c = ep.conditions.clone().unwrap_or_default();
                    let Some(addr) = ep.addresses.first() else {
                        continue;
                    };
                    // Upstream: a nil `ready` counts as ready.
                    if c.ready != Some(false) {
                        ready.insert((addr.clone(), target_port));
                    } else if c.serving == Some(true) && c.terminating == Some(true) {
                        fallback.insert((addr.clone(), target_port));
                    }
                }
            }
            let endpoints = if ready.is_empty() { fallback } else { ready };
            let node_port = matches!(spec.type_.as_deref(), Some("NodePort" | "LoadBalancer"))
                .then_some(sp.node_port)
                .flatten();
            ports.push(ServicePort {
                id: format!(
                    "{ns}/{name}:{}",
                    if port_name.is_empty() {
                        sp.port.to_string()
                    } else {
                        port_name
                    }
                ),
                cluster_ip: ip.clone(),
                protocol,
                port: sp.port,
                node_port,
                endpoints: endpoints.into_iter().collect(),
            });
        }
    }
    ports.sort_by(|a, b| a.id.cmp(&b.id));
    Plan { ports }
}

/// The `nft -f` script that replaces table `ip <table>` with the plan's rules. Traffic from
/// `cluster_cidr` (pods) to a ClusterIP is not masqueraded; everything else reaching a
/// Service is.
pub fn script(table: &str, cluster_cidr: &str, plan: &Plan) -> String {
    let mut s = String::new();
    // Create-then-delete makes the transaction valid whether or not the table exists.
    let _ = writeln!(s, "add table ip {table}");
    let _ = writeln!(s, "delete table ip {table}");
    let _ = writeln!(s, "table ip {table} {{");
    let mut ips = Vec::new();
    let mut nodeports = Vec::new();
    let mut no_ep_ips = Vec::new();
    let mut no_ep_nodeports = Vec::new();
    let mut chains = String::new();
    for (i, p) in plan.ports.iter().enumerate() {
        let chain = format!("svc_{i}");
        if p.endpoints.is_empty() {
            no_ep_ips.push(format!("{} . {} . {}", p.cluster_ip, p.protocol, p.port));
            if let Some(np) = p.node_port {
                no_ep_nodeports.push(format!("{} . {np}", p.protocol));
            }
            continue;
        }
        ips.push(format!(
            "{} . {} . {} : goto {chain}",
            p.cluster_ip, p.protocol, p.port
        ));
        if let Some(np) = p.node_port {
            nodeports.push(format!("{} . {np} : goto {chain}_nodeport", p.protocol));
            let _ = writeln!(
                chains,
                "  chain {chain}_nodeport {{\n    comment \"{} nodePort {np}\"\n    jump mark-for-masquerade\n    goto {chain}\n  }}",
                p.id
            );
        }
        let _ = writeln!(chains, "  chain {chain} {{\n    comment \"{}\"", p.id);
        let _ = writeln!(
            chains,
            "    ip daddr {} ip saddr != {cluster_cidr} jump mark-for-masquerade",
            p.cluster_ip
        );
        let targets: Vec<String> = (0..p.endpoints.len())
            .map(|j| format!("{j} : goto {chain}_ep_{j}"))
            .collect();
        let _ = writeln!(
            chains,
            "    numgen random mod {} vmap {{ {} }}\n  }}",
            p.endpoints.len(),
            targets.join(", ")
        );
        for (j, (ip, port)) in p.endpoints.iter().enumerate() {
            let _ = writeln!(
                chains,
                "  chain {chain}_ep_{j} {{\n    ip saddr {ip} jump mark-for-masquerade\n    meta l4proto {} dnat to {ip}:{port}\n  }}",
                p.protocol
            );
        }
    }
    let elements = |v: &[String]| {
        if v.is_empty() {
            String::new()
        } else {
            format!("    elements = {{ {} }}\n", v.join(", "))
        }
    };
    let _ = write!(
        s,
        "  map service-ips {{\n    type ipv4_addr . inet_proto . inet_service : verdict\n{}  }}\n",
        elements(&ips)
    );
    let _ = write!(
        s,
        "  map service-nodeports {{\n    type inet_proto . inet_service : verdict\n{}  }}\n",
        elements(&nodeports)
    );
    let _ = write!(
        s,
        "  set no-endpoint-services {{\n    type ipv4_addr . inet_proto . inet_service\n{}  }}\n",
        elements(&no_ep_ips)
    );
    let _ = write!(
        s,
        "  set no-endpoint-nodeports {{\n    type inet_proto . inet_service\n{}  }}\n",
        elements(&no_ep_nodeports)
    );
    let _ = write!(
        s,
        "  chain filter-input {{\n    type filter hook input priority -110; policy accept;\n    ct state new fib daddr type local meta l4proto . th dport @no-endpoint-nodeports reject\n  }}\n\
  chain filter-forward {{\n    type filter hook forward priority -110; policy accept;\n    ct state new ip daddr . meta l4proto . th dport @no-endpoint-services reject\n  }}\n\
  chain filter-output {{\n    type filter hook output priority -110; policy accept;\n    ct state new ip daddr . meta l4proto . th dport @no-endpoint-services reject\n  }}\n\
  chain nat-prerouting {{\n    type nat hook prerouting priority dstnat; policy accept;\n    jump services\n  }}\n\
  chain nat-output {{\n    type nat hook output priority -100; policy accept;\n    jump services\n  }}\n\
  chain nat-postrouting {{\n    type nat hook postrouting priority srcnat; policy accept;\n    jump masquerading\n  }}\n\
  chain mark-for-masquerade {{\n    meta mark set meta mark or {MASQ_MARK}\n  }}\n\
  chain masquerading {{\n    meta mark and {MASQ_MARK} == 0 return\n    meta mark set meta mark xor {MASQ_MARK}\n    masquerade fully-random\n  }}\n\
  chain services {{\n    ip daddr . meta l4proto . th dport vmap @service-ips\n    fib daddr type local meta l4proto . th dport vmap @service-nodeports\n  }}\n"
    );
    s.push_str(&chains);
    s.push_str("}\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn svc(v: serde_json::Value) -> Arc<Service> {
        Arc::new(serde_json::from_value(v).unwrap())
    }

    fn slice(v: serde_json::Value) -> Arc<EndpointSlice> {
        Arc::new(serde_json::from_value(v).unwrap())
    }

    #[test]
    fn plans_ready_endpoints_and_falls_back_to_terminating_ones() {
        let services = vec![
            svc(json!({"metadata": {"name": "web", "namespace": "d"},
                "spec": {"clusterIP": "10.43.0.20", "type": "NodePort",
                    "ports": [{"name": "http", "port": 80, "protocol": "TCP", "nodePort": 30080}]}})),
            svc(json!({"metadata": {"name": "empty", "namespace": "d"},
                "spec": {"clusterIP": "10.43.0.21", "ports": [{"port": 81}]}})),
            svc(json!({"metadata": {"name": "headless", "namespace": "d"},
                "spec": {"clusterIP": "None", "ports": [{"port": 82}]}})),
            svc(json!({"metadata": {"name": "going", "namespace": "d"},
                "spec": {"clusterIP": "10.43.0.22", "ports": [{"port": 83}]}})),
        ];
        let slices = vec![
            slice(json!({"metadata": {"name": "web-1", "namespace": "d",
                    "labels": {"kubernetes.io/service-name": "web"}},
                "addressType": "IPv4", "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
                "endpoints": [
                    {"addresses": ["10.42.0.5"], "conditions": {"ready": true}},
                    {"addresses": ["10.42.0.6"], "conditions": {"ready": false, "serving": true, "terminating": true}},
                    {"addresses": ["10.42.0.7"], "conditions": {"ready": false}}]})),
            slice(json!({"metadata": {"name": "going-1", "namespace": "d",
                    "labels": {"kubernetes.io/service-name": "going"}},
                "addressType": "IPv4", "ports": [{"name": "", "port": 9000, "protocol": "TCP"}],
                "endpoints": [{"addresses": ["10.42.0.8"],
                    "conditions": {"ready": false, "serving": true, "terminating": true}}]})),
        ];
        let p = plan(&services, &slices);
        let ids: Vec<&str> = p.ports.iter().map(|x| x.id.as_str()).collect();
        assert_eq!(ids, ["d/empty:81", "d/going:83", "d/web:http"]);
        assert!(p.ports[0].endpoints.is_empty());
        assert_eq!(p.ports[1].endpoints, [("10.42.0.8".to_string(), 9000)]);
        assert_eq!(p.ports[2].endpoints, [("10.42.0.5".to_string(), 8080)]);
        assert_eq!(p.ports[2].node_port, Some(30080));
        assert_eq!(
            p.routed_ips().into_iter().collect::<Vec<_>>(),
            ["10.43.0.20", "10.43.0.22"]
        );
        let text = script("krust-proxy-test", "10.42.0.0/16", &p);
        assert!(
            text.contains("10.43.0.21 . tcp . 81"),
            "no-endpoint element:\n{text}"
        );
        assert!(
            text.contains("10.43.0.20 . tcp . 80 : goto svc_2"),
            "{text}"
        );
        assert!(text.contains("tcp . 30080 : goto svc_2_nodeport"), "{text}");
        assert!(text.contains("dnat to 10.42.0.5:8080"), "{text}");
        assert!(
            text.starts_with("add table ip krust-proxy-test\ndelete table ip krust-proxy-test\n")
        );
        // The kernel's own parser accepts it (`nft -c` checks without applying; root).
        let mut check = std::process::Command::new("nft")
            .args(["-c", "-f", "-"])
            .stdin(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        check
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
        let out = check.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}\n{text}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
