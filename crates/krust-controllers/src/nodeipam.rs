//! The node IPAM controller (upstream's range allocator): every Node gets a /24 of the cluster
//! CIDR (`--cluster-cidr`, 10.42.0.0/16 by default) as `spec.podCIDR` and `spec.podCIDRs`,
//! never the same one twice. podCIDRs already on Nodes are marked used before anything is
//! allocated; a deleted Node's range goes back to the pool; candidates are tried round-robin
//! after the last one handed out, as upstream's `CidrSet` does. When the range is exhausted the
//! Node gets a `CIDRNotAvailable` event.

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Node, ObjectReference};
use krust_client::events::{EventRecorder, NORMAL};
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use kube::{Client, ResourceExt};
use serde_json::json;
use std::collections::{HashMap, HashSet};
use std::net::Ipv4Addr;
use std::time::Duration;

/// Prefix length of each node's range (upstream's `--node-cidr-mask-size`, 24 for IPv4).
pub const NODE_MASK: u8 = 24;

/// Why the cluster CIDR is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IpamError {
    #[error("{0:?} is not an IPv4 CIDR")]
    Cidr(String),
    #[error("the cluster CIDR {cluster} is smaller than a node's range (/{node})")]
    TooSmall { cluster: String, node: u8 },
}

/// An IPv4 network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ipv4Net {
    pub addr: u32,
    pub prefix: u8,
}

impl Ipv4Net {
    /// Parses `a.b.c.d/n` (host bits are cleared).
    pub fn parse(s: &str) -> Result<Ipv4Net, IpamError> {
        let bad = || IpamError::Cidr(s.to_string());
        let (ip, bits) = s.trim().split_once('/').ok_or_else(bad)?;
        let ip: Ipv4Addr = ip.parse().map_err(|_| bad())?;
        let prefix: u8 = bits.parse().map_err(|_| bad())?;
        if prefix > 32 {
            return Err(bad());
        }
        Ok(Ipv4Net {
            addr: u32::from(ip) & mask(prefix),
            prefix,
        })
    }

    fn contains(&self, other: &Ipv4Net) -> bool {
        other.prefix >= self.prefix && (other.addr & mask(self.prefix)) == self.addr
    }
}

impl std::fmt::Display for Ipv4Net {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", Ipv4Addr::from(self.addr), self.prefix)
    }
}

fn mask(prefix: u8) -> u32 {
    if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(prefix))
    }
}

/// The node ranges carved from a cluster CIDR (upstream's `cidrset`).
#[derive(Debug, Clone)]
pub struct CidrSet {
    cluster: Ipv4Net,
    node_prefix: u8,
    used: HashSet<u32>,
    next: u32,
}

impl CidrSet {
    /// The ranges of `cluster` with node prefix `/node_prefix` (at least the cluster's).
    pub fn new(cluster: &str, node_prefix: u8) -> Result<CidrSet, IpamError> {
        let cluster = Ipv4Net::parse(cluster)?;
        if cluster.prefix > node_prefix {
            return Err(IpamError::TooSmall {
                cluster: cluster.to_string(),
                node: node_prefix,
            });
        }
        Ok(CidrSet {
            cluster,
            node_prefix,
            used: HashSet::new(),
            next: 0,
        })
    }

    /// How many node ranges there are.
    pub fn capacity(&self) -> u32 {
        let bits = u32::from(self.node_prefix - self.cluster.prefix);
        if bits >= 32 { u32::MAX } else { 1u32 << bits }
    }

    fn index_of(&self, net: &Ipv4Net) -> Option<u32> {
        if net.prefix != self.node_prefix || !self.cluster.contains(net) {
            return None;
        }
        Some((net.addr - self.cluster.addr) >> (32 - u32::from(self.node_prefix)))
    }

    fn net_at(&self, i: u32) -> Ipv4Net {
        Ipv4Net {
            addr: self.cluster.addr + (i << (32 - u32::from(self.node_prefix))),
            prefix: self.node_prefix,
        }
    }

    /// Marks `cidr` used; false when it is not one of this set's ranges.
    pub fn occupy(&mut self, cidr: &str) -> bool {
        match Ipv4Net::parse(cidr).ok().and_then(|n| self.index_of(&n)) {
            Some(i) => {
                self.used.insert(i);
                true
            }
            None => false,
        }
    }

    /// Gives `cidr` back.
    pub fn release(&mut self, cidr: &str) {
        if let Some(i) = Ipv4Net::parse(cidr).ok().and_then(|n| self.index_of(&n)) {
            self.used.remove(&i);
        }
    }

    /// The next free range, marked used; None when every range is taken.
    pub fn allocate(&mut self) -> Option<String> {
        let cap = self.capacity();
        for k in 0..cap {
            let i = (self.next.wrapping_add(k)) % cap;
            if !self.used.contains(&i) {
                self.used.insert(i);
                self.next = (i + 1) % cap;
                return Some(self.net_at(i).to_string());
            }
        }
        None
    }
}

fn pod_cidrs(node: &Node) -> Vec<String> {
    let spec = node.spec.as_ref();
    let mut out: Vec<String> = spec.and_then(|s| s.pod_cidrs.clone()).unwrap_or_default();
    if let Some(c) = spec.and_then(|s| s.pod_cidr.clone())
        && !out.contains(&c)
    {
        out.push(c);
    }
    out
}

/// The node IPAM controller.
pub struct NodeIpamController {
    client: Client,
    cluster_cidr: String,
}

impl NodeIpamController {
    pub fn new(client: Client, cluster_cidr: &str) -> Self {
        NodeIpamController {
            client,
            cluster_cidr: cluster_cidr.to_string(),
        }
    }

    /// Runs until the process ends.
    pub async fn run(self) {
        let mut set = match CidrSet::new(
            &self.cluster_cidr,
            NODE_MASK.max(Ipv4Net::parse(&self.cluster_cidr).map_or(NODE_MASK, |n| n.prefix)),
        ) {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(error = %e, "node IPAM controller disabled");
                return;
            }
        };
        let recorder = EventRecorder::new(self.client.clone(), "cidrAllocator");
        let api: Api<Node> = Api::all(self.client.clone());
        let mut events = watcher::watcher(api.clone(), watcher::Config::default())
            .default_backoff()
            .boxed();
        // Node name -> its ranges, as last seen.
        let mut known: HashMap<String, Vec<String>> = HashMap::new();
        let mut listing: Option<Vec<Node>> = None;
        let mut synced = false;
        let mut pending: Vec<Node> = Vec::new();
        loop {
            let ev = match events.next().await {
                Some(Ok(ev)) => ev,
                Some(Err(e)) => {
                    tracing::debug!(error = %e, "node watch");
                    continue;
                }
                None => return,
            };
            match ev {
                Event::Init => listing = Some(Vec::new()),
                Event::InitApply(n) => {
                    if let Some(l) = listing.as_mut() {
                        l.push(n);
                    }
                }
                Event::InitDone => {
                    let nodes = listing.take().unwrap_or_default();
                    let names: HashSet<String> = nodes.iter().map(|n| n.name_any()).collect();
                    for (name, cidrs) in known.clone() {
                        if !names.contains(&name) {
                            for c in &cidrs {
                                set.release(c);
                            }
                            known.remove(&name);
                        }
                    }
                    // Ranges already handed out are marked before anything is allocated.
                    for n in &nodes {
                        let cidrs = pod_cidrs(n);
                        for c in &cidrs {
                            set.occupy(c);
                        }
                        known.insert(n.name_any(), cidrs);
                    }
                    synced = true;
                    pending.extend(nodes);
                }
                Event::Apply(n) => {
                    let cidrs = pod_cidrs(&n);
                    for c in &cidrs {
                        set.occupy(c);
                    }
                    known.insert(n.name_any(), cidrs);
                    pending.push(n);
                }
                Event::Delete(n) => {
                    if let Some(cidrs) = known.remove(&n.name_any()) {
                        for c in &cidrs {
                            set.release(c);
                        }
                    }
                }
            }
            if !synced {
                continue;
            }
            for n in std::mem::take(&mut pending) {
                let name = n.name_any();
                if !pod_cidrs(&n).is_empty()
                    || known.get(&name).is_some_and(|c| !c.is_empty())
                    || n.metadata.deletion_timestamp.is_some()
                {
                    continue;
                }
                let Some(cidr) = set.allocate() else {
                    let reference = ObjectReference {
                        api_version: Some("v1".into()),
                        kind: Some("Node".into()),
                        name: Some(name.clone()),
                        uid: n.metadata.uid.clone(),
                        ..Default::default()
                    };
                    recorder.emit(
                        reference,
                        NORMAL,
                        "CIDRNotAvailable",
                        format!("Node {name} status is now: CIDRNotAvailable"),
                    );
                    continue;
                };
                let patch = json!({"spec": {"podCIDR": cidr, "podCIDRs": [cidr]}});
                let mut done = false;
                for attempt in 0..3 {
                    match api
                        .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
                        .await
                    {
                        Ok(_) => {
                            done = true;
                            break;
                        }
                        Err(kube::Error::Api(e)) if e.code == 404 => break,
                        Err(e) => {
                            tracing::warn!(node = %name, error = %e, "assigning a podCIDR failed");
                            tokio::time::sleep(Duration::from_millis(200 * (attempt + 1))).await;
                        }
                    }
                }
                if done {
                    tracing::info!(node = %name, pod_cidr = %cidr, "podCIDR assigned");
                    known.insert(name, vec![cidr]);
                } else {
                    set.release(&cidr);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn carves_node_ranges() {
        let mut s = CidrSet::new("10.42.0.0/16", 24).unwrap();
        assert_eq!(s.capacity(), 256);
        assert!(s.occupy("10.42.0.0/24"));
        assert!(s.occupy("10.42.2.0/24"));
        assert!(!s.occupy("10.99.0.0/24"));
        assert!(!s.occupy("10.42.0.0/25"));
        assert_eq!(s.allocate().as_deref(), Some("10.42.1.0/24"));
        assert_eq!(s.allocate().as_deref(), Some("10.42.3.0/24"));
        s.release("10.42.1.0/24");
        // Round-robin: the released range is not reused right away.
        assert_eq!(s.allocate().as_deref(), Some("10.42.4.0/24"));
        let mut small = CidrSet::new("10.1.0.0/23", 24).unwrap();
        assert_eq!(small.allocate().as_deref(), Some("10.1.0.0/24"));
        assert_eq!(small.allocate().as_deref(), Some("10.1.1.0/24"));
        assert_eq!(small.allocate(), None);
        small.release("10.1.0.0/24");
        assert_eq!(small.allocate().as_deref(), Some("10.1.0.0/24"));
        assert!(CidrSet::new("10.0.0.0/25", 24).is_err());
        assert!(CidrSet::new("nonsense", 24).is_err());
        assert_eq!(
            Ipv4Net::parse("10.42.7.9/16").unwrap().to_string(),
            "10.42.0.0/16"
        );
    }
}
