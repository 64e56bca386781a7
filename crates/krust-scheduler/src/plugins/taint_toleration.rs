//! TaintToleration: a node's NoSchedule and NoExecute taints must be tolerated (filter); each
//! untolerated PreferNoSchedule taint lowers the node's score (reverse-normalized, weight 3).

use crate::framework::{Status, default_normalize};
use crate::node_info::{NodeInfo, Taint, TaintEffect};
use crate::plugins::TAINT_TOLERATION;
use crate::pod_info::{PodInfo, Toleration, tolerations_tolerate};

/// The first NoSchedule or NoExecute taint the tolerations do not tolerate.
pub fn find_untolerated<'a>(taints: &'a [Taint], tolerations: &[Toleration]) -> Option<&'a Taint> {
    taints.iter().find(|t| {
        matches!(t.effect, TaintEffect::NoSchedule | TaintEffect::NoExecute)
            && !tolerations_tolerate(tolerations, t)
    })
}

/// The filter: `node(s) had untolerated taint {key: value}`.
pub fn filter(pod: &PodInfo, node: &NodeInfo) -> Result<(), Status> {
    match find_untolerated(&node.node.taints, &pod.tolerations) {
        None => Ok(()),
        Some(t) => Err(Status::unresolvable_owned(
            TAINT_TOLERATION,
            format!("node(s) had untolerated taint {{{}: {}}}", t.key, t.value),
        )),
    }
}

/// The raw score: how many PreferNoSchedule taints the pod's PreferNoSchedule (or
/// effect-less) tolerations leave untolerated.
pub fn score(pod: &PodInfo, node: &NodeInfo) -> i64 {
    node.node
        .taints
        .iter()
        .filter(|t| t.effect == TaintEffect::PreferNoSchedule)
        .filter(|t| {
            !pod.tolerations.iter().any(|tol| {
                matches!(tol.effect, None | Some(TaintEffect::PreferNoSchedule)) && tol.tolerates(t)
            })
        })
        .count() as i64
}

/// Normalization: fewer intolerable taints score higher.
pub fn normalize(scores: &mut [i64]) {
    default_normalize(scores, true);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{NodeBuilder, PodBuilder};
    use std::sync::Arc;

    fn node(b: NodeBuilder) -> NodeInfo {
        NodeInfo::new(Arc::new(b.build_spec()))
    }

    #[test]
    fn filter_table() {
        let cp =
            NodeBuilder::new("n").taint("node-role.kubernetes.io/control-plane", "", "NoSchedule");
        let cases: Vec<(&str, NodeBuilder, PodBuilder, Option<&str>)> = vec![
            (
                "no taints",
                NodeBuilder::new("n"),
                PodBuilder::new("p"),
                None,
            ),
            (
                "untolerated NoSchedule",
                cp.clone(),
                PodBuilder::new("p"),
                Some("node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }"),
            ),
            (
                "tolerated by Exists",
                cp.clone(),
                PodBuilder::new("p").toleration(
                    "node-role.kubernetes.io/control-plane",
                    "Exists",
                    "",
                    "NoSchedule",
                ),
                None,
            ),
            (
                "Equal with value",
                NodeBuilder::new("n").taint("dedicated", "gpu", "NoExecute"),
                PodBuilder::new("p").toleration("dedicated", "Equal", "gpu", ""),
                None,
            ),
            (
                "Equal wrong value",
                NodeBuilder::new("n").taint("dedicated", "gpu", "NoExecute"),
                PodBuilder::new("p").toleration("dedicated", "Equal", "cpu", ""),
                Some("node(s) had untolerated taint {dedicated: gpu}"),
            ),
            (
                "PreferNoSchedule does not filter",
                NodeBuilder::new("n").taint("soft", "x", "PreferNoSchedule"),
                PodBuilder::new("p"),
                None,
            ),
            (
                "wrong effect toleration",
                cp,
                PodBuilder::new("p").toleration(
                    "node-role.kubernetes.io/control-plane",
                    "Exists",
                    "",
                    "NoExecute",
                ),
                Some("node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }"),
            ),
        ];
        for (name, n, p, want) in cases {
            let r = filter(&p.build_info(), &node(n));
            match want {
                None => assert!(r.is_ok(), "{name}"),
                Some(msg) => {
                    let s = r.expect_err(name);
                    assert_eq!(s.reasons, vec![msg.to_string()], "{name}");
                    assert_eq!(s.code, crate::framework::Code::UnschedulableAndUnresolvable);
                }
            }
        }
    }

    #[test]
    fn score_table() {
        let nodes = [
            node(NodeBuilder::new("a")),
            node(NodeBuilder::new("b").taint("x", "1", "PreferNoSchedule")),
            node(
                NodeBuilder::new("c")
                    .taint("x", "1", "PreferNoSchedule")
                    .taint("y", "1", "PreferNoSchedule"),
            ),
        ];
        let pod = PodBuilder::new("p").build_info();
        let mut s: Vec<i64> = nodes.iter().map(|n| score(&pod, n)).collect();
        assert_eq!(s, vec![0, 1, 2]);
        normalize(&mut s);
        assert_eq!(s, vec![100, 50, 0]);
        let tolerant = PodBuilder::new("p")
            .toleration("x", "Exists", "", "PreferNoSchedule")
            .build_info();
        let mut s: Vec<i64> = nodes.iter().map(|n| score(&tolerant, n)).collect();
        assert_eq!(s, vec![0, 0, 1]);
        normalize(&mut s);
        assert_eq!(s, vec![100, 100, 0]);
        let noschedule_tol = PodBuilder::new("p")
            .toleration("x", "Exists", "", "NoSchedule")
            .build_info();
        assert_eq!(score(&noschedule_tol, &nodes[1]), 1);
    }
}
