//! NodeResourcesBalancedAllocation: prefers nodes whose cpu and memory utilization would stay
//! close to each other: `(1 - std(fractions)) * 100` over the exact requests, skipped for pods
//! that request neither cpu nor memory (weight 1).

use crate::framework::MAX_NODE_SCORE;
use crate::node_info::NodeInfo;
use crate::pod_info::PodInfo;

/// Whether the plugin skips the pod (best-effort pods, upstream issue 129138).
pub fn skip(pod: &PodInfo) -> bool {
    pod.requests.requests.milli_cpu == 0 && pod.requests.requests.memory == 0
}

/// The score (already 0-100).
pub fn score(pod: &PodInfo, node: &NodeInfo) -> i64 {
    let alloc = &node.node.allocatable;
    let req = &pod.requests.requests;
    let pairs = [
        (
            node.requested.milli_cpu.saturating_add(req.milli_cpu),
            alloc.milli_cpu,
        ),
        (
            node.requested.memory.saturating_add(req.memory),
            alloc.memory,
        ),
    ];
    let mut fractions = [0f64; 2];
    let mut n = 0;
    for (requested, capacity) in pairs {
        if capacity == 0 {
            continue;
        }
        fractions[n] = (requested as f64 / capacity as f64).min(1.0);
        n += 1;
    }
    let std = if n == 2 {
        ((fractions[0] - fractions[1]) / 2.0).abs()
    } else {
        0.0
    };
    ((1.0 - std) * MAX_NODE_SCORE as f64) as i64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{NodeBuilder, PodBuilder};
    use std::sync::Arc;

    #[test]
    fn table() {
        let node = |existing: Vec<PodBuilder>| {
            let mut n = NodeInfo::new(Arc::new(NodeBuilder::new("n").build_spec()));
            for p in existing {
                n.add_pod(Arc::new(p.node("n").build_info()));
            }
            n
        };
        // 4 cpu / 16Gi.
        let cases: Vec<(&str, Vec<PodBuilder>, PodBuilder, i64)> = vec![
            (
                "perfectly balanced",
                vec![],
                PodBuilder::new("p").requests("1", "4Gi"),
                100,
            ),
            // cpu 0.5, mem 0.125 -> std 0.1875 -> 81
            (
                "cpu heavy",
                vec![],
                PodBuilder::new("p").requests("2", "2Gi"),
                81,
            ),
            (
                "existing pods count",
                vec![PodBuilder::new("e").requests("0", "8Gi")],
                PodBuilder::new("p").requests("2", "0"),
                100,
            ),
            // cpu fraction capped at 1: 1 vs 0.25 -> std 0.375 -> 62
            (
                "over capacity capped",
                vec![],
                PodBuilder::new("p").requests("8", "4Gi"),
                62,
            ),
        ];
        for (name, existing, p, want) in cases {
            assert_eq!(score(&p.build_info(), &node(existing)), want, "{name}");
        }
        assert!(skip(&PodBuilder::new("p").build_info()));
        assert!(!skip(&PodBuilder::new("p").requests("1", "").build_info()));
    }
}
