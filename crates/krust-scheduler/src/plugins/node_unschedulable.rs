//! NodeUnschedulable: cordoned nodes (`spec.unschedulable`) take only pods that tolerate the
//! `node.kubernetes.io/unschedulable:NoSchedule` taint.

use crate::framework::Status;
use crate::node_info::{NodeInfo, Taint, TaintEffect};
use crate::plugins::NODE_UNSCHEDULABLE;
use crate::pod_info::{PodInfo, tolerations_tolerate};

/// Upstream's `ErrReasonUnschedulable`.
pub const ERR_REASON: &str = "node(s) were unschedulable";

/// The filter.
pub fn filter(pod: &PodInfo, node: &NodeInfo) -> Result<(), Status> {
    if !node.node.unschedulable {
        return Ok(());
    }
    let taint = Taint {
        key: "node.kubernetes.io/unschedulable".to_string(),
        value: String::new(),
        effect: TaintEffect::NoSchedule,
    };
    if tolerations_tolerate(&pod.tolerations, &taint) {
        Ok(())
    } else {
        Err(Status::unresolvable(NODE_UNSCHEDULABLE, ERR_REASON))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{NodeBuilder, PodBuilder};
    use std::sync::Arc;

    #[test]
    fn table() {
        let cordoned = NodeInfo::new(Arc::new(NodeBuilder::new("n").unschedulable().build_spec()));
        let open = NodeInfo::new(Arc::new(NodeBuilder::new("n").build_spec()));
        let cases = [
            ("schedulable node", &open, PodBuilder::new("p"), true),
            ("cordoned node", &cordoned, PodBuilder::new("p"), false),
            (
                "tolerates unschedulable",
                &cordoned,
                PodBuilder::new("p").toleration(
                    "node.kubernetes.io/unschedulable",
                    "Exists",
                    "",
                    "NoSchedule",
                ),
                true,
            ),
            (
                "tolerates everything",
                &cordoned,
                PodBuilder::new("p").toleration("", "Exists", "", ""),
                true,
            ),
            (
                "wrong effect",
                &cordoned,
                PodBuilder::new("p").toleration(
                    "node.kubernetes.io/unschedulable",
                    "Exists",
                    "",
                    "NoExecute",
                ),
                false,
            ),
        ];
        for (name, node, pod, fits) in cases {
            let r = filter(&pod.build_info(), node);
            assert_eq!(r.is_ok(), fits, "{name}");
            if let Err(s) = r {
                assert_eq!(s.reasons, vec![ERR_REASON.to_string()], "{name}");
            }
        }
    }
}
