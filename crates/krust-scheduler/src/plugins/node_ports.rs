//! NodePorts: a pod's host ports must be free on the node (same protocol and port on the same
//! address, or on any address when either side binds `0.0.0.0`).

use crate::framework::Status;
use crate::node_info::NodeInfo;
use crate::plugins::NODE_PORTS;
use crate::pod_info::PodInfo;

/// Upstream's `ErrReason`.
pub const ERR_REASON: &str = "node(s) didn't have free ports for the requested pod ports";

/// The filter.
pub fn filter(pod: &PodInfo, node: &NodeInfo) -> Result<(), Status> {
    if pod.host_ports.iter().any(|p| node.port_conflicts(p)) {
        Err(Status::unschedulable(NODE_PORTS, ERR_REASON))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{NodeBuilder, PodBuilder};
    use std::sync::Arc;

    #[test]
    fn table() {
        let node_with = |existing: PodBuilder| {
            let mut n = NodeInfo::new(Arc::new(NodeBuilder::new("n").build_spec()));
            n.add_pod(Arc::new(existing.node("n").build_info()));
            n
        };
        let cases = [
            ("no ports", PodBuilder::new("e"), PodBuilder::new("p"), true),
            (
                "same port",
                PodBuilder::new("e").host_port("", "TCP", 80),
                PodBuilder::new("p").host_port("", "", 80),
                false,
            ),
            (
                "other protocol",
                PodBuilder::new("e").host_port("", "UDP", 80),
                PodBuilder::new("p").host_port("", "TCP", 80),
                true,
            ),
            (
                "other port",
                PodBuilder::new("e").host_port("", "TCP", 81),
                PodBuilder::new("p").host_port("", "TCP", 80),
                true,
            ),
            (
                "specific ip vs wildcard",
                PodBuilder::new("e").host_port("10.0.0.1", "TCP", 80),
                PodBuilder::new("p").host_port("0.0.0.0", "TCP", 80),
                false,
            ),
            (
                "wildcard vs specific ip",
                PodBuilder::new("e").host_port("", "TCP", 80),
                PodBuilder::new("p").host_port("10.0.0.2", "TCP", 80),
                false,
            ),
            (
                "different specific ips",
                PodBuilder::new("e").host_port("10.0.0.1", "TCP", 80),
                PodBuilder::new("p").host_port("10.0.0.2", "TCP", 80),
                true,
            ),
        ];
        for (name, existing, pod, fits) in cases {
            let r = filter(&pod.build_info(), &node_with(existing));
            assert_eq!(r.is_ok(), fits, "{name}");
            if let Err(s) = r {
                assert_eq!(s.reasons, vec![ERR_REASON.to_string()]);
            }
        }
    }
}
