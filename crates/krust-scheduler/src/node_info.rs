//! The scheduler's view of a node (upstream's `framework.NodeInfo`): the node's labels, taints,
//! allocatable resources and images (shared, rarely changing), plus the pods counted on it
//! (bound and assumed) with their summed requests, used host ports and affinity counts.

use crate::labels::Labels;
use crate::pod_info::{HostPort, PodInfo};
use crate::resources::Resource;
use k8s_openapi::api::core::v1::Node;
use std::collections::HashMap;
use std::sync::Arc;

/// A taint effect.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TaintEffect {
    NoSchedule,
    PreferNoSchedule,
    NoExecute,
    /// An effect this scheduler does not know; never tolerated by an effect-specific toleration
    /// of a known effect, never filtered on.
    Other,
}

impl TaintEffect {
    /// Parses an effect name.
    pub fn parse(s: &str) -> TaintEffect {
        match s {
            "NoSchedule" => TaintEffect::NoSchedule,
            "PreferNoSchedule" => TaintEffect::PreferNoSchedule,
            "NoExecute" => TaintEffect::NoExecute,
            _ => TaintEffect::Other,
        }
    }
}

/// A node taint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Taint {
    pub key: String,
    pub value: String,
    pub effect: TaintEffect,
}

/// The parts of a node that come from the Node object.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NodeSpec {
    pub name: String,
    pub labels: Labels,
    pub taints: Vec<Taint>,
    pub unschedulable: bool,
    pub allocatable: Resource,
    /// Image name -> size in bytes, for every name of every image on the node.
    pub images: HashMap<String, i64>,
}

impl NodeSpec {
    /// Parses a Node; allocatable falls back to capacity when the node reports none.
    pub fn from_node(node: &Node) -> NodeSpec {
        let spec = node.spec.as_ref();
        let status = node.status.as_ref();
        let alloc = status
            .and_then(|s| s.allocatable.as_ref().or(s.capacity.as_ref()))
            .map(Resource::from_list)
            .unwrap_or_default();
        let mut images = HashMap::new();
        for img in status.and_then(|s| s.images.as_ref()).into_iter().flatten() {
            let size = img.size_bytes.unwrap_or(0);
            for n in img.names.iter().flatten() {
                images.insert(n.clone(), size);
            }
        }
        NodeSpec {
            name: node.metadata.name.clone().unwrap_or_default(),
            labels: node.metadata.labels.clone().unwrap_or_default(),
            taints: spec
                .and_then(|s| s.taints.as_ref())
                .into_iter()
                .flatten()
                .map(|t| Taint {
                    key: t.key.clone(),
                    value: t.value.clone().unwrap_or_default(),
                    effect: TaintEffect::parse(&t.effect),
                })
                .collect(),
            unschedulable: spec.and_then(|s| s.unschedulable).unwrap_or(false),
            allocatable: alloc,
            images,
        }
    }
}

/// A node with the pods counted on it.
#[derive(Clone, Debug)]
pub struct NodeInfo {
    pub node: Arc<NodeSpec>,
    /// Sum of the requests of the counted pods.
    pub requested: Resource,
    /// Sum of the non-zero CPU requests (scoring).
    pub non_zero_milli_cpu: i64,
    /// Sum of the non-zero memory requests (scoring).
    pub non_zero_memory: i64,
    pub pods: Vec<Arc<PodInfo>>,
    pub used_ports: Vec<HostPort>,
    /// Pods with any pod affinity or anti-affinity.
    pub pods_with_affinity: usize,
    /// Pods with required pod anti-affinity.
    pub pods_with_required_anti_affinity: usize,
}

impl NodeInfo {
    /// An empty node.
    pub fn new(node: Arc<NodeSpec>) -> NodeInfo {
        NodeInfo {
            node,
            requested: Resource::default(),
            non_zero_milli_cpu: 0,
            non_zero_memory: 0,
            pods: Vec::new(),
            used_ports: Vec::new(),
            pods_with_affinity: 0,
            pods_with_required_anti_affinity: 0,
        }
    }

    /// The node's name.
    pub fn name(&self) -> &str {
        &self.node.name
    }

    /// Counts a pod on the node.
    pub fn add_pod(&mut self, pod: Arc<PodInfo>) {
        self.requested.add(&pod.requests.requests);
        self.non_zero_milli_cpu = self
            .non_zero_milli_cpu
            .saturating_add(pod.requests.non_zero_milli_cpu);
        self.non_zero_memory = self
            .non_zero_memory
            .saturating_add(pod.requests.non_zero_memory);
        self.used_ports.extend(pod.host_ports.iter().cloned());
        if pod.has_affinity {
            self.pods_with_affinity += 1;
        }
        if pod.has_required_anti_affinity() {
            self.pods_with_required_anti_affinity += 1;
        }
        self.pods.push(pod);
    }

    /// Stops counting a pod; returns it when it was counted.
    pub fn remove_pod(&mut self, uid: &str) -> Option<Arc<PodInfo>> {
        let i = self.pods.iter().position(|p| p.uid == uid)?;
        let pod = self.pods.swap_remove(i);
        self.requested.sub(&pod.requests.requests);
        self.non_zero_milli_cpu = self
            .non_zero_milli_cpu
            .saturating_sub(pod.requests.non_zero_milli_cpu);
        self.non_zero_memory = self
            .non_zero_memory
            .saturating_sub(pod.requests.non_zero_memory);
        for hp in &pod.host_ports {
            if let Some(j) = self.used_ports.iter().position(|u| u == hp) {
                self.used_ports.swap_remove(j);
            }
        }
        if pod.has_affinity {
            self.pods_with_affinity = self.pods_with_affinity.saturating_sub(1);
        }
        if pod.has_required_anti_affinity() {
            self.pods_with_required_anti_affinity =
                self.pods_with_required_anti_affinity.saturating_sub(1);
        }
        Some(pod)
    }

    /// Upstream's `HostPortInfo.CheckConflict` for one wanted port: `0.0.0.0` conflicts with
    /// the same protocol and port on any address, a specific address with itself and `0.0.0.0`.
    pub fn port_conflicts(&self, want: &HostPort) -> bool {
        if want.port <= 0 {
            return false;
        }
        self.used_ports.iter().any(|u| {
            u.port == want.port
                && u.protocol == want.protocol
                && (want.ip == "0.0.0.0" || u.ip == "0.0.0.0" || u.ip == want.ip)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{NodeBuilder, PodBuilder};

    #[test]
    fn accounting_add_remove() {
        let mut ni = NodeInfo::new(Arc::new(NodeBuilder::new("n").build_spec()));
        let p = Arc::new(
            PodBuilder::new("p")
                .requests("500m", "1Gi")
                .host_port("", "TCP", 80)
                .build_info(),
        );
        ni.add_pod(p.clone());
        assert_eq!(ni.requested.milli_cpu, 500);
        assert_eq!(ni.used_ports.len(), 1);
        assert!(ni.remove_pod(&p.uid).is_some());
        assert_eq!(ni.requested, Resource::default());
        assert!(ni.used_ports.is_empty());
        assert!(ni.remove_pod(&p.uid).is_none());
    }
}
