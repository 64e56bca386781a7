//! NodeName: a pod that names its node (`spec.nodeName`) fits only that node.

use crate::framework::Status;
use crate::node_info::NodeInfo;
use crate::plugins::NODE_NAME;
use crate::pod_info::PodInfo;

/// Upstream's `ErrReason`.
pub const ERR_REASON: &str = "node(s) didn't match the requested node name";

/// The filter.
pub fn filter(pod: &PodInfo, node: &NodeInfo) -> Result<(), Status> {
    if pod.node_name.is_empty() || pod.node_name == node.name() {
        Ok(())
    } else {
        Err(Status::unresolvable(NODE_NAME, ERR_REASON))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{NodeBuilder, PodBuilder};
    use std::sync::Arc;

    #[test]
    fn table() {
        let node = NodeInfo::new(Arc::new(NodeBuilder::new("n1").build_spec()));
        let cases = [
            ("no node name", PodBuilder::new("p"), true),
            ("same node", PodBuilder::new("p").node("n1"), true),
            ("other node", PodBuilder::new("p").node("n2"), false),
        ];
        for (name, pod, fits) in cases {
            let r = filter(&pod.build_info(), &node);
            assert_eq!(r.is_ok(), fits, "{name}");
            if let Err(s) = r {
                assert_eq!(s.reasons, vec![ERR_REASON.to_string()]);
            }
        }
    }
}
