//! NodeAffinity: `spec.nodeSelector` and required node affinity must match the node (filter);
//! a PreFilter narrows the candidates when every required term names nodes by
//! `metadata.name`; preferred terms add their weights (score, normalized to 0-100, weight 2).

use crate::framework::{Status, default_normalize};
use crate::node_info::{NodeInfo, NodeSpec};
use crate::plugins::NODE_AFFINITY;
use crate::pod_info::PodInfo;

/// Upstream's `ErrReasonPod`.
pub const ERR_REASON: &str = "node(s) didn't match Pod's node affinity/selector";

/// Upstream's `GetRequiredNodeAffinity(pod).Match(node)`: the node selector and required node
/// affinity both hold.
pub fn matches_required(pod: &PodInfo, node: &NodeSpec) -> bool {
    pod.node_selector
        .iter()
        .all(|(k, v)| node.labels.get(k) == Some(v))
        && pod
            .required_node_affinity
            .as_ref()
            .is_none_or(|t| t.matches(&node.name, &node.labels))
}

/// The PreFilter result: the only node names that can match, when the required terms name them.
pub fn pre_filter(pod: &PodInfo) -> Option<Vec<String>> {
    pod.required_node_affinity.as_ref()?.node_names()
}

/// The filter.
pub fn filter(pod: &PodInfo, node: &NodeInfo) -> Result<(), Status> {
    if matches_required(pod, &node.node) {
        Ok(())
    } else {
        Err(Status::unresolvable(NODE_AFFINITY, ERR_REASON))
    }
}

/// Whether scoring has anything to do.
pub fn has_preferred(pod: &PodInfo) -> bool {
    !pod.preferred_node_affinity.is_empty()
}

/// The raw score: the summed weights of the preferred terms the node matches.
pub fn score(pod: &PodInfo, node: &NodeInfo) -> i64 {
    pod.preferred_node_affinity
        .iter()
        .filter(|(_, t)| t.matches(&node.node.name, &node.node.labels))
        .map(|(w, _)| i64::from(*w))
        .sum()
}

/// Normalization to 0-100.
pub fn normalize(scores: &mut [i64]) {
    default_normalize(scores, false);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{NodeBuilder, PodBuilder, node_req};
    use k8s_openapi::api::core::v1::NodeSelectorTerm;
    use std::sync::Arc;

    fn term(reqs: Vec<k8s_openapi::api::core::v1::NodeSelectorRequirement>) -> NodeSelectorTerm {
        NodeSelectorTerm {
            match_expressions: Some(reqs),
            match_fields: None,
        }
    }

    #[test]
    fn filter_table() {
        let node = NodeInfo::new(Arc::new(
            NodeBuilder::new("n1")
                .label("zone", "a")
                .label("disk", "ssd")
                .label("gen", "5")
                .build_spec(),
        ));
        let cases: Vec<(&str, PodBuilder, bool)> = vec![
            ("nothing required", PodBuilder::new("p"), true),
            (
                "nodeSelector match",
                PodBuilder::new("p").node_selector("zone", "a"),
                true,
            ),
            (
                "nodeSelector mismatch",
                PodBuilder::new("p").node_selector("zone", "b"),
                false,
            ),
            (
                "nodeSelector missing label",
                PodBuilder::new("p").node_selector("gpu", "yes"),
                false,
            ),
            (
                "In",
                PodBuilder::new("p").required_node_terms(vec![term(vec![node_req(
                    "zone",
                    "In",
                    &["a", "b"],
                )])]),
                true,
            ),
            (
                "NotIn",
                PodBuilder::new("p").required_node_terms(vec![term(vec![node_req(
                    "zone",
                    "NotIn",
                    &["a"],
                )])]),
                false,
            ),
            (
                "Exists",
                PodBuilder::new("p").required_node_terms(vec![term(vec![node_req(
                    "disk",
                    "Exists",
                    &[],
                )])]),
                true,
            ),
            (
                "DoesNotExist",
                PodBuilder::new("p").required_node_terms(vec![term(vec![node_req(
                    "disk",
                    "DoesNotExist",
                    &[],
                )])]),
                false,
            ),
            (
                "Gt",
                PodBuilder::new("p").required_node_terms(vec![term(vec![node_req(
                    "gen",
                    "Gt",
                    &["4"],
                )])]),
                true,
            ),
            (
                "Lt",
                PodBuilder::new("p").required_node_terms(vec![term(vec![node_req(
                    "gen",
                    "Lt",
                    &["4"],
                )])]),
                false,
            ),
            (
                "terms ORed",
                PodBuilder::new("p").required_node_terms(vec![
                    term(vec![node_req("zone", "In", &["b"])]),
                    term(vec![node_req("disk", "In", &["ssd"])]),
                ]),
                true,
            ),
            (
                "selector and affinity both needed",
                PodBuilder::new("p")
                    .node_selector("zone", "b")
                    .required_node_terms(vec![term(vec![node_req("disk", "In", &["ssd"])])]),
                false,
            ),
            (
                "matchFields",
                PodBuilder::new("p").required_node_terms(vec![NodeSelectorTerm {
                    match_expressions: None,
                    match_fields: Some(vec![node_req("metadata.name", "In", &["n1"])]),
                }]),
                true,
            ),
            (
                "empty terms list",
                PodBuilder::new("p").required_node_terms(vec![]),
                false,
            ),
        ];
        for (name, pod, fits) in cases {
            let r = filter(&pod.build_info(), &node);
            assert_eq!(r.is_ok(), fits, "{name}");
            if let Err(s) = r {
                assert_eq!(s.reasons, vec![ERR_REASON.to_string()]);
            }
        }
    }

    #[test]
    fn pre_filter_names() {
        let pod = PodBuilder::new("p")
            .required_node_terms(vec![NodeSelectorTerm {
                match_expressions: None,
                match_fields: Some(vec![node_req("metadata.name", "In", &["n9"])]),
            }])
            .build_info();
        assert_eq!(pre_filter(&pod), Some(vec!["n9".to_string()]));
        assert_eq!(pre_filter(&PodBuilder::new("p").build_info()), None);
    }

    #[test]
    fn score_table() {
        let nodes: Vec<NodeInfo> = [
            NodeBuilder::new("a"),
            NodeBuilder::new("b").label("zone", "z1"),
            NodeBuilder::new("c")
                .label("zone", "z1")
                .label("disk", "ssd"),
        ]
        .into_iter()
        .map(|b| NodeInfo::new(Arc::new(b.build_spec())))
        .collect();
        let pod = PodBuilder::new("p")
            .preferred_node_term(2, term(vec![node_req("zone", "In", &["z1"])]))
            .preferred_node_term(6, term(vec![node_req("disk", "Exists", &[])]))
            .build_info();
        assert!(has_preferred(&pod));
        let mut s: Vec<i64> = nodes.iter().map(|n| score(&pod, n)).collect();
        assert_eq!(s, vec![0, 2, 8]);
        normalize(&mut s);
        assert_eq!(s, vec![0, 25, 100]);
    }
}
