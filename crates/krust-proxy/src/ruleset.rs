//! The nftables ruleset of the service proxy, built from Services and EndpointSlices in the
//! design of upstream kube-proxy's nftables mode: a `service-ips` verdict map from
//! ClusterIP . protocol . port (and `service-nodeports` from protocol . port on local
//! addresses) to one chain per Service port, which picks a ready endpoint at random
//! (`numgen random`) and DNATs to it; terminating endpoints are used only when no ready one is
//! left; Service ports without endpoints are rejected (`no-endpoint-*` sets); traffic from
//! outside the cluster CIDR, to NodePorts, and hairpin traffic (a pod reaching itself) is
//! marked and masqueraded. `internalTrafficPolicy: Local` limits ClusterIP traffic, and
//! `externalTrafficPolicy: Local` NodePort traffic, to this node's endpoints (the latter
//! without masquerading, so pods see the client's address); `sessionAffinity: ClientIP` keeps
//! a client on its endpoint for the timeout (per-endpoint sets of client addresses, as
//! upstream). Pods' traffic leaving the cluster CIDR (not to this node) is masqueraded here
//! too, instead of by the CNI plugin. The whole table is replaced in one transaction.

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
    /// `status.loadBalancer.ingress` IPs of a LoadBalancer Service (answered at `port`).
    pub load_balancer_ips: Vec<String>,
    /// `loadBalancerSourceRanges`: only these clients reach the load-balancer IPs.
    pub source_ranges: Vec<String>,
    /// `ip:port` of the endpoints traffic goes to.
    pub endpoints: Vec<(String, i32)>,
    /// Which of `endpoints` run on this node.
    pub local: Vec<bool>,
    /// `internalTrafficPolicy: Local`.
    pub internal_local: bool,
    /// `externalTrafficPolicy: Local` (NodePorts).
    pub external_local: bool,
    /// `sessionAffinity: ClientIP`: its timeout in seconds.
    pub affinity_timeout: Option<i32>,
}

impl ServicePort {
    /// Indices of the endpoints ClusterIP traffic may go to.
    fn cluster_targets(&self) -> Vec<usize> {
        (0..self.endpoints.len())
            .filter(|i| !self.internal_local || self.local.get(*i) == Some(&true))
            .collect()
    }

    /// Indices of the endpoints NodePort traffic may go to.
    fn node_port_targets(&self) -> Vec<usize> {
        (0..self.endpoints.len())
            .filter(|i| !self.external_local || self.local.get(*i) == Some(&true))
            .collect()
    }
}

/// What a sync programs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    pub ports: Vec<ServicePort>,
}

impl Plan {
    /// The ClusterIPs of the Services (they get a host route so the node itself reaches them
    /// past the `unreachable` route of the Service CIDR, and a port without endpoints is
    /// refused by the output chain's `reject`, as upstream, instead of "no route to host").
    pub fn routed_ips(&self) -> BTreeSet<String> {
        self.ports.iter().map(|p| p.cluster_ip.clone()).collect()
    }
}

fn proto(p: Option<&str>) -> String {
    p.unwrap_or("TCP").to_ascii_lowercase()
}

/// The plan for `services` and `slices` (all namespaces) on node `node`.
pub fn plan(services: &[Arc<Service>], slices: &[Arc<EndpointSlice>], node: &str) -> Plan {
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
            // (ip, port) -> whether the endpoint runs on this node.
            let (mut ready, mut fallback) = (BTreeMap::new(), BTreeMap::new());
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
                    let here = ep.node_name.as_deref() == Some(node);
                    // Upstream: a nil `ready` counts as ready.
                    if c.ready != Some(false) {
                        ready.insert((addr.clone(), target_port), here);
                    } else if c.serving == Some(true) && c.terminating == Some(true) {
                        fallback.insert((addr.clone(), target_port), here);
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
                load_balancer_ips: if spec.type_.as_deref() == Some("LoadBalancer") {
                    svc.status
                        .as_ref()
                        .and_then(|s| s.load_balancer.as_ref())
                        .and_then(|lb| lb.ingress.as_ref())
                        .map(|i| i.iter().filter_map(|x| x.ip.clone()).collect())
                        .unwrap_or_default()
                } else {
                    Vec::new()
                },
                source_ranges: spec.load_balancer_source_ranges.clone().unwrap_or_default(),
                local: endpoints.values().copied().collect(),
                endpoints: endpoints.into_keys().collect(),
                internal_local: spec.internal_traffic_policy.as_deref() == Some("Local"),
                external_local: node_port.is_some()
                    && spec.external_traffic_policy.as_deref() == Some("Local"),
                affinity_timeout: (spec.session_affinity.as_deref() == Some("ClientIP")).then(
                    || {
                        spec.session_affinity_config
                            .as_ref()
                            .and_then(|c| c.client_ip.as_ref())
                            .and_then(|c| c.timeout_seconds)
                            .unwrap_or(10800)
                    },
                ),
            });
        }
    }
    ports.sort_by(|a, b| a.id.cmp(&b.id));
    Plan { ports }
}

/// A stable, short name part for `text` (FNV-1a, 64 bits, hex): chains keep their names
/// across syncs, so a partial sync can address them.
fn short_hash(text: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// The per-Service part of the table, as named chains, sets and map elements: what a partial
/// sync compares between two plans.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rendered {
    /// Chain name -> its rules.
    pub chains: BTreeMap<String, Vec<String>>,
    /// Affinity set name -> its timeout in seconds.
    pub sets: BTreeMap<String, i32>,
    /// `service-ips` elements: key -> verdict.
    pub service_ips: BTreeMap<String, String>,
    /// `service-nodeports` elements: key -> verdict.
    pub node_ports: BTreeMap<String, String>,
    pub no_endpoint_ips: BTreeSet<String>,
    pub no_endpoint_node_ports: BTreeSet<String>,
}

/// The rules that send a connection to one of `targets` (indices into the port's
/// endpoints): a client with affinity back to its endpoint, else one at random.
fn choose(rules: &mut Vec<String>, eps: &[String], p: &ServicePort, targets: &[usize]) {
    if p.affinity_timeout.is_some() {
        for j in targets {
            if let Some(ep) = eps.get(*j) {
                rules.push(format!("ip saddr @{ep}-affinity goto {ep}"));
            }
        }
    }
    let arms: Vec<String> = targets
        .iter()
        .enumerate()
        .filter_map(|(k, j)| eps.get(*j).map(|ep| format!("{k} : goto {ep}")))
        .collect();
    rules.push(format!(
        "numgen random mod {} vmap {{ {} }}",
        arms.len(),
        arms.join(", ")
    ));
}

/// The Service part of the table for `plan`.
pub fn render(cluster_cidr: &str, plan: &Plan) -> Rendered {
    let mut r = Rendered::default();
    for p in &plan.ports {
        render_port(&mut r, cluster_cidr, p);
    }
    r
}

/// Adds one Service port's chains, sets and map elements to `r`. Every name and key it
/// adds is the port's own (chain names hash its id, keys hold its address and port), so
/// ports can be rendered apart and put together ([`RenderState`]).
fn render_port(r: &mut Rendered, cluster_cidr: &str, p: &ServicePort) {
    let chain = format!("svc-{}", short_hash(&p.id));
    let ip_key = format!("{} . {} . {}", p.cluster_ip, p.protocol, p.port);
    let eps: Vec<String> = p
        .endpoints
        .iter()
        .map(|(ip, port)| format!("{chain}-ep-{}", short_hash(&format!("{ip}:{port}"))))
        .collect();
    let cluster = p.cluster_targets();
    let external = p.node_port_targets();
    if cluster.is_empty() {
        r.no_endpoint_ips.insert(ip_key);
    } else {
        r.service_ips.insert(ip_key, format!("goto {chain}"));
        let mut rules = vec![format!(
            "ip daddr {} ip saddr != {cluster_cidr} jump mark-for-masquerade comment \"{}\"",
            p.cluster_ip, p.id
        )];
        choose(&mut rules, &eps, p, &cluster);
        r.chains.insert(chain.clone(), rules);
    }
    if let Some(np) = p.node_port {
        let key = format!("{} . {np}", p.protocol);
        if external.is_empty() {
            r.no_endpoint_node_ports.insert(key);
        } else {
            let np_chain = format!("{chain}-nodeport");
            r.node_ports.insert(key, format!("goto {np_chain}"));
            // Local: no masquerade, so the pod sees the client (upstream).
            let mut rules = vec![if p.external_local {
                format!(
                    "meta l4proto {} comment \"{} nodePort {np}\"",
                    p.protocol, p.id
                )
            } else {
                format!(
                    "jump mark-for-masquerade comment \"{} nodePort {np}\"",
                    p.id
                )
            }];
            choose(&mut rules, &eps, p, &external);
            r.chains.insert(np_chain, rules);
        }
    }
    // Load-balancer IPs: external traffic, like a NodePort's, at the Service port.
    if !p.load_balancer_ips.is_empty() && !external.is_empty() {
        let lb_chain = format!("{chain}-lb");
        for lb_ip in &p.load_balancer_ips {
            r.service_ips.insert(
                format!("{lb_ip} . {} . {}", p.protocol, p.port),
                format!("goto {lb_chain}"),
            );
        }
        let mut rules = Vec::new();
        if !p.source_ranges.is_empty() {
            rules.push(format!(
                "ip saddr != {{ {} }} drop comment \"{} loadBalancerSourceRanges\"",
                p.source_ranges.join(", "),
                p.id
            ));
        }
        if !p.external_local {
            rules.push(format!(
                "jump mark-for-masquerade comment \"{} load balancer\"",
                p.id
            ));
        }
        choose(&mut rules, &eps, p, &external);
        r.chains.insert(lb_chain, rules);
    }
    let used: BTreeSet<usize> = cluster.iter().chain(external.iter()).copied().collect();
    for j in used {
        let (Some(ep), Some((ip, port))) = (eps.get(j), p.endpoints.get(j)) else {
            continue;
        };
        let mut rules = vec![format!("ip saddr {ip} jump mark-for-masquerade")];
        if let Some(timeout) = p.affinity_timeout {
            r.sets.insert(format!("{ep}-affinity"), timeout);
            rules.push(format!("update @{ep}-affinity {{ ip saddr }}"));
        }
        rules.push(format!("meta l4proto {} dnat to {ip}:{port}", p.protocol));
        r.chains.insert(ep.clone(), rules);
    }
}

impl Rendered {
    /// Adds everything of `other` (names and keys not already there).
    fn absorb(&mut self, other: Rendered) {
        self.chains.extend(other.chains);
        self.sets.extend(other.sets);
        self.service_ips.extend(other.service_ips);
        self.node_ports.extend(other.node_ports);
        self.no_endpoint_ips.extend(other.no_endpoint_ips);
        self.no_endpoint_node_ports
            .extend(other.no_endpoint_node_ports);
    }
}

/// The rendering of every port of the last plan, so that moving to the next plan renders
/// only the ports that changed: what a partial sync needs is the before and after of those
/// ports alone (their names and keys are theirs only).
#[derive(Debug, Default)]
pub struct RenderState {
    ports: BTreeMap<String, (ServicePort, Rendered)>,
}

impl RenderState {
    /// Moves to `plan`; returns the old and the new rendering of the ports that changed
    /// (both empty when nothing did).
    pub fn advance(&mut self, cluster_cidr: &str, plan: &Plan) -> (Rendered, Rendered) {
        let (mut before, mut after) = (Rendered::default(), Rendered::default());
        let mut next: BTreeMap<String, (ServicePort, Rendered)> = BTreeMap::new();
        for p in &plan.ports {
            match self.ports.remove(&p.id) {
                Some((old, rendered)) if old == *p => {
                    next.insert(p.id.clone(), (old, rendered));
                }
                previous => {
                    if let Some((_, rendered)) = previous {
                        before.absorb(rendered);
                    }
                    let mut r = Rendered::default();
                    render_port(&mut r, cluster_cidr, p);
                    after.absorb(r.clone());
                    next.insert(p.id.clone(), (p.clone(), r));
                }
            }
        }
        // Ports no longer in the plan.
        for (_, (_, rendered)) in std::mem::take(&mut self.ports) {
            before.absorb(rendered);
        }
        self.ports = next;
        (before, after)
    }

    /// The rendering of the whole current plan (for a full sync).
    pub fn full(&self) -> Rendered {
        let mut r = Rendered::default();
        for (_, rendered) in self.ports.values() {
            r.absorb(rendered.clone());
        }
        r
    }
}

fn affinity_set(name: &str, timeout: i32) -> String {
    format!("set {name} {{ type ipv4_addr; flags dynamic,timeout; timeout {timeout}s; }}")
}

/// The `nft -f` script that replaces table `ip <table>` with the plan's rules. Traffic from
/// `cluster_cidr` (pods) to a ClusterIP is not masqueraded; everything else reaching a
/// Service is.
pub fn script(table: &str, cluster_cidr: &str, plan: &Plan) -> String {
    full_script(table, cluster_cidr, &render(cluster_cidr, plan))
}

/// The full form of [`script`] for an already rendered plan.
pub fn full_script(table: &str, cluster_cidr: &str, r: &Rendered) -> String {
    let mut s = String::new();
    // Create-then-delete makes the transaction valid whether or not the table exists.
    let _ = writeln!(s, "add table ip {table}");
    let _ = writeln!(s, "delete table ip {table}");
    let _ = writeln!(s, "table ip {table} {{");
    let elements = |v: Vec<String>| {
        if v.is_empty() {
            String::new()
        } else {
            format!("    elements = {{ {} }}\n", v.join(", "))
        }
    };
    let pairs =
        |m: &BTreeMap<String, String>| m.iter().map(|(k, v)| format!("{k} : {v}")).collect();
    for (name, timeout) in &r.sets {
        let _ = writeln!(s, "  {}", affinity_set(name, *timeout));
    }
    let _ = write!(
        s,
        "  map service-ips {{\n    type ipv4_addr . inet_proto . inet_service : verdict\n{}  }}\n",
        elements(pairs(&r.service_ips))
    );
    let _ = write!(
        s,
        "  map service-nodeports {{\n    type inet_proto . inet_service : verdict\n{}  }}\n",
        elements(pairs(&r.node_ports))
    );
    let _ = write!(
        s,
        "  set no-endpoint-services {{\n    type ipv4_addr . inet_proto . inet_service\n{}  }}\n",
        elements(r.no_endpoint_ips.iter().cloned().collect())
    );
    let _ = write!(
        s,
        "  set no-endpoint-nodeports {{\n    type inet_proto . inet_service\n{}  }}\n",
        elements(r.no_endpoint_node_ports.iter().cloned().collect())
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
  chain masquerading {{\n    ip saddr {cluster_cidr} ip daddr != {cluster_cidr} fib daddr type != local masquerade\n    meta mark and {MASQ_MARK} == 0 return\n    meta mark set meta mark xor {MASQ_MARK}\n    masquerade fully-random\n  }}\n\
  chain services {{\n    ip daddr . meta l4proto . th dport vmap @service-ips\n    fib daddr type local meta l4proto . th dport vmap @service-nodeports\n  }}\n"
    );
    for (name, rules) in &r.chains {
        let _ = writeln!(s, "  chain {name} {{");
        for rule in rules {
            let _ = writeln!(s, "    {rule}");
        }
        let _ = writeln!(s, "  }}");
    }
    s.push_str("}\n");
    s
}

/// What differs between two sorted maps, in key order: keys only in `old`, keys in both with
/// another value (the new one), keys only in `new` — one pass over both.
struct Diff<'a, K, V> {
    removed: Vec<&'a K>,
    changed: Vec<(&'a K, &'a V)>,
    added: Vec<(&'a K, &'a V)>,
}

fn diff<'a, K: Ord, V: PartialEq>(
    old: &'a BTreeMap<K, V>,
    new: &'a BTreeMap<K, V>,
) -> Diff<'a, K, V> {
    let mut d = Diff {
        removed: Vec::new(),
        changed: Vec::new(),
        added: Vec::new(),
    };
    let (mut o, mut n) = (old.iter().peekable(), new.iter().peekable());
    loop {
        match (o.peek(), n.peek()) {
            (Some((ok, ov)), Some((nk, nv))) => match ok.cmp(nk) {
                std::cmp::Ordering::Less => {
                    d.removed.push(*ok);
                    o.next();
                }
                std::cmp::Ordering::Greater => {
                    d.added.push((*nk, *nv));
                    n.next();
                }
                std::cmp::Ordering::Equal => {
                    if ov != nv {
                        d.changed.push((*nk, *nv));
                    }
                    o.next();
                    n.next();
                }
            },
            (Some((ok, _)), None) => {
                d.removed.push(*ok);
                o.next();
            }
            (None, Some((nk, nv))) => {
                d.added.push((*nk, *nv));
                n.next();
            }
            (None, None) => return d,
        }
    }
}

/// The transaction that turns table `ip <table>`, holding `old`, into `new`, touching only
/// the chains, sets and map elements that differ (upstream's partial sync). Empty when
/// nothing changed.
pub fn incremental_script(table: &str, old: &Rendered, new: &Rendered) -> String {
    let mut s = String::new();
    let chains = diff(&old.chains, &new.chains);
    let ips = diff(&old.service_ips, &new.service_ips);
    let node_ports = diff(&old.node_ports, &new.node_ports);
    // 1. Rules of changed or removed chains go first (they may point at what is removed).
    let mut flushed: Vec<&String> = chains.removed.clone();
    flushed.extend(chains.changed.iter().map(|(k, _)| *k));
    flushed.sort();
    for name in flushed {
        let _ = writeln!(s, "flush chain ip {table} {name}");
    }
    // 2. Map elements that changed or went.
    for (map, d) in [("service-ips", &ips), ("service-nodeports", &node_ports)] {
        let gone = d
            .removed
            .iter()
            .copied()
            .chain(d.changed.iter().map(|(k, _)| *k));
        for k in gone {
            let _ = writeln!(s, "delete element ip {table} {map} {{ {k} }}");
        }
    }
    for k in old.no_endpoint_ips.difference(&new.no_endpoint_ips) {
        let _ = writeln!(
            s,
            "delete element ip {table} no-endpoint-services {{ {k} }}"
        );
    }
    for k in old
        .no_endpoint_node_ports
        .difference(&new.no_endpoint_node_ports)
    {
        let _ = writeln!(
            s,
            "delete element ip {table} no-endpoint-nodeports {{ {k} }}"
        );
    }
    // 3. Chains and sets no longer used.
    for name in &chains.removed {
        let _ = writeln!(s, "delete chain ip {table} {name}");
    }
    for (name, t) in &old.sets {
        if new.sets.get(name) != Some(t) {
            let _ = writeln!(s, "delete set ip {table} {name}");
        }
    }
    // 4. New sets and chains, then the rules of new and changed chains.
    for (name, t) in &new.sets {
        if old.sets.get(name) != Some(t) {
            let _ = writeln!(
                s,
                "add {}",
                affinity_set(name, *t).replacen("set ", &format!("set ip {table} "), 1)
            );
        }
    }
    for (name, _) in &chains.added {
        let _ = writeln!(s, "add chain ip {table} {name}");
    }
    let mut filled: Vec<(&String, &Vec<String>)> = chains.added.clone();
    filled.extend(chains.changed.iter().copied());
    filled.sort();
    for (name, rules) in filled {
        for rule in rules {
            let _ = writeln!(s, "add rule ip {table} {name} {rule}");
        }
    }
    // 5. Map elements that are new or changed.
    for (map, d) in [("service-ips", &ips), ("service-nodeports", &node_ports)] {
        let mut set: Vec<(&String, &String)> = d.added.clone();
        set.extend(d.changed.iter().copied());
        set.sort();
        for (k, v) in set {
            let _ = writeln!(s, "add element ip {table} {map} {{ {k} : {v} }}");
        }
    }
    for k in new.no_endpoint_ips.difference(&old.no_endpoint_ips) {
        let _ = writeln!(s, "add element ip {table} no-endpoint-services {{ {k} }}");
    }
    for k in new
        .no_endpoint_node_ports
        .difference(&old.no_endpoint_node_ports)
    {
        let _ = writeln!(s, "add element ip {table} no-endpoint-nodeports {{ {k} }}");
    }
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
        let p = plan(&services, &slices, "n1");
        let ids: Vec<&str> = p.ports.iter().map(|x| x.id.as_str()).collect();
        assert_eq!(ids, ["d/empty:81", "d/going:83", "d/web:http"]);
        assert!(p.ports[0].endpoints.is_empty());
        assert_eq!(p.ports[1].endpoints, [("10.42.0.8".to_string(), 9000)]);
        assert_eq!(p.ports[2].endpoints, [("10.42.0.5".to_string(), 8080)]);
        assert_eq!(p.ports[2].node_port, Some(30080));
        assert_eq!(
            p.routed_ips().into_iter().collect::<Vec<_>>(),
            ["10.43.0.20", "10.43.0.21", "10.43.0.22"]
        );
        let text = script("krust-proxy-test", "10.42.0.0/16", &p);
        assert!(
            text.contains("10.43.0.21 . tcp . 81"),
            "no-endpoint element:\n{text}"
        );
        assert!(text.contains("10.43.0.20 . tcp . 80 : goto svc-"), "{text}");
        assert!(
            text.contains("tcp . 30080 : goto svc-") && text.contains("-nodeport }"),
            "{text}"
        );
        assert!(text.contains("dnat to 10.42.0.5:8080"), "{text}");
        assert!(
            text.starts_with("add table ip krust-proxy-test\ndelete table ip krust-proxy-test\n")
        );
        nft_accepts(&text);
    }

    /// The kernel's own parser accepts the script (`nft -c` checks without applying; root).
    fn nft_accepts(text: &str) {
        use std::io::Write;
        let mut check = std::process::Command::new("nft")
            .args(["-c", "-f", "-"])
            .stdin(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
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

    #[test]
    fn local_policies_and_client_ip_affinity() {
        let services = vec![svc(json!({"metadata": {"name": "web", "namespace": "d"},
            "spec": {"clusterIP": "10.43.0.30", "type": "NodePort",
                "internalTrafficPolicy": "Local", "externalTrafficPolicy": "Local",
                "sessionAffinity": "ClientIP", "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 60}},
                "ports": [{"port": 80, "protocol": "TCP", "nodePort": 30090}]}}))];
        let slices = vec![slice(
            json!({"metadata": {"name": "web-1", "namespace": "d",
                "labels": {"kubernetes.io/service-name": "web"}},
            "addressType": "IPv4", "ports": [{"name": "", "port": 8080, "protocol": "TCP"}],
            "endpoints": [
                {"addresses": ["10.42.0.5"], "conditions": {"ready": true}, "nodeName": "n1"},
                {"addresses": ["10.42.1.5"], "conditions": {"ready": true}, "nodeName": "n2"}]}),
        )];
        let here = plan(&services, &slices, "n1");
        let p = &here.ports[0];
        assert_eq!(p.local, [true, false]);
        assert_eq!(p.cluster_targets(), [0]);
        assert_eq!(p.node_port_targets(), [0]);
        assert_eq!(p.affinity_timeout, Some(60));
        let text = script("krust-proxy-test", "10.42.0.0/16", &here);
        assert!(
            text.contains("numgen random mod 1 vmap { 0 : goto svc-"),
            "{text}"
        );
        assert!(text.contains("timeout 60s"), "{text}");
        assert!(text.contains("-affinity { ip saddr }"), "{text}");
        assert!(text.contains("-affinity goto svc-"), "{text}");
        let nodeport = text.split("-nodeport {").nth(1).unwrap_or_default();
        let nodeport = nodeport.split("  }").next().unwrap_or_default();
        assert!(
            !nodeport.contains("mark-for-masquerade"),
            "Local keeps the client address: {nodeport}"
        );
        nft_accepts(&text);
        // On a node without a local endpoint, both are rejected.
        let elsewhere = plan(&services, &slices, "n3");
        assert_eq!(elsewhere.routed_ips().len(), 1);
        let text = script("krust-proxy-test", "10.42.0.0/16", &elsewhere);
        assert!(
            text.contains("elements = { 10.43.0.30 . tcp . 80 }"),
            "{text}"
        );
        assert!(text.contains("elements = { tcp . 30090 }"), "{text}");
        nft_accepts(&text);
    }

    /// `nft list table` of `table`, with the table's name replaced and every line (and every
    /// element of a one-line set) sorted, so two tables holding the same rules compare equal.
    fn listing(table: &str) -> Vec<String> {
        let out = std::process::Command::new("nft")
            .args(["list", "table", "ip", table])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).replace(table, "T");
        let mut lines: Vec<String> = text
            .lines()
            .map(|l| {
                let l = l.trim();
                match (l.find('{'), l.rfind('}')) {
                    (Some(a), Some(b)) if l.contains("elements") && a < b => {
                        let mut parts: Vec<&str> = l[a + 1..b].split(',').map(str::trim).collect();
                        parts.sort();
                        format!("{}{{ {} }}", &l[..a], parts.join(", "))
                    }
                    _ => l.to_string(),
                }
            })
            .collect();
        lines.sort();
        lines
    }

    fn nft_apply(text: &str) -> (bool, String) {
        use std::io::Write;
        let mut nft = std::process::Command::new("nft")
            .args(["-f", "-"])
            .stdin(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        nft.stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
        let out = nft.wait_with_output().unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    #[test]
    fn partial_syncs_reach_the_same_table_as_full_ones() {
        let svc_of = |name: &str, ip: &str, node_port: i32, affinity: bool| {
            svc(json!({"metadata": {"name": name, "namespace": "d"},
                "spec": {"clusterIP": ip, "type": "NodePort",
                    "sessionAffinity": if affinity { "ClientIP" } else { "None" },
                    "ports": [{"port": 80, "protocol": "TCP", "nodePort": node_port}]}}))
        };
        let slice_of = |name: &str, ips: &[&str]| {
            let eps: Vec<serde_json::Value> = ips
                .iter()
                .map(|ip| json!({"addresses": [ip], "conditions": {"ready": true}, "nodeName": "n1"}))
                .collect();
            slice(
                json!({"metadata": {"name": format!("{name}-1"), "namespace": "d",
                    "labels": {"kubernetes.io/service-name": name}},
                "addressType": "IPv4", "ports": [{"name": "", "port": 8080, "protocol": "TCP"}],
                "endpoints": eps}),
            )
        };
        let steps = [
            (
                vec![
                    svc_of("a", "10.43.0.40", 30040, false),
                    svc_of("b", "10.43.0.41", 30041, false),
                ],
                vec![
                    slice_of("a", &["10.42.0.1", "10.42.0.2"]),
                    slice_of("b", &["10.42.0.3"]),
                ],
            ),
            // An endpoint moves, b loses its endpoints, c appears with affinity.
            (
                vec![
                    svc_of("a", "10.43.0.40", 30040, false),
                    svc_of("b", "10.43.0.41", 30041, false),
                    svc_of("c", "10.43.0.42", 30042, true),
                ],
                vec![
                    slice_of("a", &["10.42.0.1", "10.42.0.9"]),
                    slice_of("c", &["10.42.0.4"]),
                ],
            ),
            // a goes, b comes back, c drops affinity.
            (
                vec![
                    svc_of("b", "10.43.0.41", 30041, false),
                    svc_of("c", "10.43.0.42", 30042, false),
                ],
                vec![slice_of("b", &["10.42.0.3"]), slice_of("c", &["10.42.0.4"])],
            ),
        ];
        let pid = std::process::id();
        let (inc, full) = (
            format!("krust-test-inc-{pid}"),
            format!("krust-test-full-{pid}"),
        );
        let cidr = "10.42.0.0/16";
        let mut old: Option<Rendered> = None;
        let mut failure = None;
        // As the proxy does it: only the ports that changed are rendered again.
        let mut state = RenderState::default();
        for (services, slices) in &steps {
            let p = plan(services, slices, "n1");
            let new = render(cidr, &p);
            let (before, after) = state.advance(cidr, &p);
            assert_eq!(state.full(), new);
            // The changed ports alone give the same transaction as the whole tables.
            if let Some(o) = &old {
                assert_eq!(
                    incremental_script(&inc, &before, &after),
                    incremental_script(&inc, o, &new)
                );
            }
            let text = match &old {
                None => full_script(&inc, cidr, &new),
                Some(_) => incremental_script(&inc, &before, &after),
            };
            let (ok, err) = nft_apply(&text);
            let (ok_full, err_full) = nft_apply(&full_script(&full, cidr, &new));
            if !(ok && ok_full) {
                failure = Some(format!("{err}{err_full}\n{text}"));
                break;
            }
            if listing(&inc).len() < 10 || listing(&inc) != listing(&full) {
                failure = Some(format!(
                    "tables differ after:\n{text}\n{:#?}\n{:#?}",
                    listing(&inc),
                    listing(&full)
                ));
                break;
            }
            old = Some(new);
        }
        for t in [&inc, &full] {
            let _ = std::process::Command::new("nft")
                .args(["delete", "table", "ip", t])
                .status();
        }
        assert!(failure.is_none(), "{}", failure.unwrap_or_default());
        // Nothing changed: nothing to do.
        let same = old.unwrap_or_default();
        assert!(incremental_script(&inc, &same, &same).is_empty());
        let (services, slices) = &steps[2];
        let (before, after) = state.advance(cidr, &plan(services, slices, "n1"));
        assert!(before == after && after.chains.is_empty());
    }

    #[test]
    fn load_balancer_ips_answer_at_the_service_port() {
        let services = vec![svc(json!({"metadata": {"name": "lb", "namespace": "d"},
            "spec": {"clusterIP": "10.43.0.50", "type": "LoadBalancer",
                "loadBalancerSourceRanges": ["192.0.2.0/24"],
                "ports": [{"port": 8081, "protocol": "TCP", "nodePort": 30081}]},
            "status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.2"}]}}}))];
        let slices = vec![slice(json!({"metadata": {"name": "lb-1", "namespace": "d",
                "labels": {"kubernetes.io/service-name": "lb"}},
            "addressType": "IPv4", "ports": [{"name": "", "port": 80, "protocol": "TCP"}],
            "endpoints": [{"addresses": ["10.42.0.5"], "conditions": {"ready": true}}]}))];
        let p = plan(&services, &slices, "n1");
        let text = script("krust-proxy-test", "10.42.0.0/16", &p);
        assert!(
            text.contains("192.0.2.2 . tcp . 8081 : goto svc-"),
            "{text}"
        );
        assert!(text.contains("ip saddr != { 192.0.2.0/24 } drop"), "{text}");
        nft_accepts(&text);
    }
}
