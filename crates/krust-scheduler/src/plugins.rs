//! The in-tree plugins of the default profile, one module each, as pure functions over
//! [`PodInfo`](crate::pod_info::PodInfo) and [`NodeInfo`](crate::node_info::NodeInfo). The
//! framework runs the filters in upstream's order (NodeUnschedulable, NodeName,
//! TaintToleration, NodeAffinity, NodePorts, NodeResourcesFit, PodTopologySpread,
//! InterPodAffinity) and the scores with upstream's default weights. Each plugin has a bit in a
//! [`PluginMask`], which the queue uses to decide which cluster events may help a pod a plugin
//! rejected.

pub mod balanced_allocation;
pub mod image_locality;
pub mod inter_pod_affinity;
pub mod node_affinity;
pub mod node_name;
pub mod node_ports;
pub mod node_resources_fit;
pub mod node_unschedulable;
pub mod pod_topology_spread;
pub mod taint_toleration;

/// A set of plugins, one bit each.
pub type PluginMask = u32;

pub const NODE_UNSCHEDULABLE: PluginMask = 1;
pub const NODE_NAME: PluginMask = 1 << 1;
pub const TAINT_TOLERATION: PluginMask = 1 << 2;
pub const NODE_AFFINITY: PluginMask = 1 << 3;
pub const NODE_PORTS: PluginMask = 1 << 4;
pub const NODE_RESOURCES_FIT: PluginMask = 1 << 5;
pub const POD_TOPOLOGY_SPREAD: PluginMask = 1 << 6;
pub const INTER_POD_AFFINITY: PluginMask = 1 << 7;
/// Every plugin.
pub const ALL: PluginMask = (1 << 8) - 1;

/// Upstream's default score weights.
pub mod weights {
    pub const TAINT_TOLERATION: i64 = 3;
    pub const NODE_AFFINITY: i64 = 2;
    pub const POD_TOPOLOGY_SPREAD: i64 = 2;
    pub const INTER_POD_AFFINITY: i64 = 2;
    pub const NODE_RESOURCES_FIT: i64 = 1;
    pub const BALANCED_ALLOCATION: i64 = 1;
    pub const IMAGE_LOCALITY: i64 = 1;
}

/// The upstream name of a plugin bit.
pub fn name(bit: PluginMask) -> &'static str {
    match bit {
        NODE_UNSCHEDULABLE => "NodeUnschedulable",
        NODE_NAME => "NodeName",
        TAINT_TOLERATION => "TaintToleration",
        NODE_AFFINITY => "NodeAffinity",
        NODE_PORTS => "NodePorts",
        NODE_RESOURCES_FIT => "NodeResourcesFit",
        POD_TOPOLOGY_SPREAD => "PodTopologySpread",
        INTER_POD_AFFINITY => "InterPodAffinity",
        _ => "",
    }
}
