//! NodeResourcesFit: the pod's requests must fit the node's allocatable minus what the counted
//! pods request (cpu, memory, ephemeral-storage, scalar resources) and the node must have room
//! for one more pod (filter, "Insufficient cpu", "Too many pods", ...; a request larger than
//! the whole node is unresolvable by preemption). Scoring is LeastAllocated (default) or
//! MostAllocated over cpu and memory with weight 1 each, on non-zero requests.

use crate::ScoreStrategy;
use crate::framework::{Code, MAX_NODE_SCORE, Status};
use crate::node_info::NodeInfo;
use crate::plugins::NODE_RESOURCES_FIT;
use crate::pod_info::PodInfo;
use std::borrow::Cow;

/// The filter.
pub fn filter(pod: &PodInfo, node: &NodeInfo) -> Result<(), Status> {
    let alloc = &node.node.allocatable;
    let used = &node.requested;
    let req = &pod.requests.requests;
    let mut reasons: Vec<Cow<'static, str>> = Vec::new();
    let mut unresolvable = false;
    if node.pods.len() as i64 + 1 > alloc.allowed_pod_number {
        reasons.push(Cow::Borrowed("Too many pods"));
    }
    if !req.is_zero() {
        let mut check = |want: i64, allocatable: i64, requested: i64, reason: Cow<'static, str>| {
            if want > 0 && want > allocatable.saturating_sub(requested) {
                reasons.push(reason);
                if want > allocatable {
                    unresolvable = true;
                }
            }
        };
        check(
            req.milli_cpu,
            alloc.milli_cpu,
            used.milli_cpu,
            Cow::Borrowed("Insufficient cpu"),
        );
        check(
            req.memory,
            alloc.memory,
            used.memory,
            Cow::Borrowed("Insufficient memory"),
        );
        check(
            req.ephemeral_storage,
            alloc.ephemeral_storage,
            used.ephemeral_storage,
            Cow::Borrowed("Insufficient ephemeral-storage"),
        );
        for (name, want) in &req.scalar {
            if *want == 0 {
                continue;
            }
            let a = alloc.scalar(name);
            if *want > a.saturating_sub(used.scalar(name)) {
                reasons.push(Cow::Owned(format!("Insufficient {name}")));
                if *want > a {
                    unresolvable = true;
                }
            }
        }
    }
    if reasons.is_empty() {
        return Ok(());
    }
    Err(Status {
        code: if unresolvable {
            Code::UnschedulableAndUnresolvable
        } else {
            Code::Unschedulable
        },
        plugin: NODE_RESOURCES_FIT,
        reasons,
    })
}

fn least_requested(requested: i64, capacity: i64) -> i64 {
    if capacity <= 0 || requested > capacity {
        return 0;
    }
    let (r, c) = (i128::from(requested), i128::from(capacity));
    ((c - r) * i128::from(MAX_NODE_SCORE) / c) as i64
}

fn most_requested(requested: i64, capacity: i64) -> i64 {
    if capacity <= 0 {
        return 0;
    }
    let (r, c) = (i128::from(requested.min(capacity)), i128::from(capacity));
    (r * i128::from(MAX_NODE_SCORE) / c) as i64
}

/// The score (already 0-100): cpu and memory, weight 1 each, from non-zero requests.
pub fn score(pod: &PodInfo, node: &NodeInfo, strategy: ScoreStrategy) -> i64 {
    let alloc = &node.node.allocatable;
    let resources = [
        (
            alloc.milli_cpu,
            node.non_zero_milli_cpu
                .saturating_add(pod.requests.non_zero_milli_cpu),
        ),
        (
            alloc.memory,
            node.non_zero_memory
                .saturating_add(pod.requests.non_zero_memory),
        ),
    ];
    let mut total = 0i64;
    let mut weights = 0i64;
    for (capacity, requested) in resources {
        if capacity == 0 {
            continue;
        }
        total += match strategy {
            ScoreStrategy::LeastAllocated => least_requested(requested, capacity),
            ScoreStrategy::MostAllocated => most_requested(requested, capacity),
        };
        weights += 1;
    }
    if weights == 0 { 0 } else { total / weights }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{NodeBuilder, PodBuilder};
    use std::sync::Arc;

    fn node(b: NodeBuilder, existing: Vec<PodBuilder>) -> NodeInfo {
        let mut n = NodeInfo::new(Arc::new(b.build_spec()));
        for p in existing {
            n.add_pod(Arc::new(p.node("n").build_info()));
        }
        n
    }

    #[test]
    fn filter_table() {
        let small = || {
            NodeBuilder::new("n")
                .allocatable("2", "4Gi", "3")
                .resource("example.com/gpu", "2")
        };
        type Case = (
            &'static str,
            NodeInfo,
            PodBuilder,
            Option<(Code, Vec<&'static str>)>,
        );
        let cases: Vec<Case> = vec![
            (
                "fits",
                node(small(), vec![]),
                PodBuilder::new("p").requests("1", "1Gi"),
                None,
            ),
            (
                "insufficient cpu",
                node(small(), vec![PodBuilder::new("e").requests("1500m", "1Gi")]),
                PodBuilder::new("p").requests("1", "1Gi"),
                Some((Code::Unschedulable, vec!["Insufficient cpu"])),
            ),
            (
                "insufficient cpu and memory",
                node(small(), vec![PodBuilder::new("e").requests("1500m", "3Gi")]),
                PodBuilder::new("p").requests("1", "2Gi"),
                Some((
                    Code::Unschedulable,
                    vec!["Insufficient cpu", "Insufficient memory"],
                )),
            ),
            (
                "larger than the node",
                node(small(), vec![]),
                PodBuilder::new("p").requests("3", "1Gi"),
                Some((Code::UnschedulableAndUnresolvable, vec!["Insufficient cpu"])),
            ),
            (
                "too many pods",
                node(
                    small(),
                    vec![
                        PodBuilder::new("a"),
                        PodBuilder::new("b"),
                        PodBuilder::new("c"),
                    ],
                ),
                PodBuilder::new("p"),
                Some((Code::Unschedulable, vec!["Too many pods"])),
            ),
            (
                "exactly full fits",
                node(small(), vec![PodBuilder::new("e").requests("1", "2Gi")]),
                PodBuilder::new("p").requests("1", "2Gi"),
                None,
            ),
            (
                "extended resource",
                node(
                    small(),
                    vec![PodBuilder::new("e").request("example.com/gpu", "1")],
                ),
                PodBuilder::new("p").request("example.com/gpu", "2"),
                Some((Code::Unschedulable, vec!["Insufficient example.com/gpu"])),
            ),
            (
                "extended resource missing on node",
                node(NodeBuilder::new("n"), vec![]),
                PodBuilder::new("p").request("example.com/gpu", "1"),
                Some((
                    Code::UnschedulableAndUnresolvable,
                    vec!["Insufficient example.com/gpu"],
                )),
            ),
            (
                "ephemeral storage",
                node(NodeBuilder::new("n"), vec![]),
                PodBuilder::new("p").request("ephemeral-storage", "200Gi"),
                Some((
                    Code::UnschedulableAndUnresolvable,
                    vec!["Insufficient ephemeral-storage"],
                )),
            ),
            (
                "best effort pod only needs a pod slot",
                node(small(), vec![PodBuilder::new("e").requests("2", "4Gi")]),
                PodBuilder::new("p"),
                None,
            ),
        ];
        for (name, n, p, want) in cases {
            let r = filter(&p.build_info(), &n);
            match want {
                None => assert!(r.is_ok(), "{name}: {r:?}"),
                Some((code, reasons)) => {
                    let s = r.expect_err(name);
                    assert_eq!(s.code, code, "{name}");
                    assert_eq!(s.reasons, reasons, "{name}");
                }
            }
        }
    }

    #[test]
    fn score_table() {
        // 4 cpu / 16Gi node.
        let cases: Vec<(&str, Vec<PodBuilder>, PodBuilder, ScoreStrategy, i64)> = vec![
            (
                "least: empty node, 1 cpu 4Gi",
                vec![],
                PodBuilder::new("p").requests("1", "4Gi"),
                ScoreStrategy::LeastAllocated,
                75,
            ),
            (
                "least: half used",
                vec![PodBuilder::new("e").requests("2", "8Gi")],
                PodBuilder::new("p").requests("1", "4Gi"),
                ScoreStrategy::LeastAllocated,
                25,
            ),
            (
                "least: no requests count 100m/200Mi",
                vec![],
                PodBuilder::new("p"),
                ScoreStrategy::LeastAllocated,
                // cpu (4000-100)*100/4000 = 97, mem (16384-200)*100/16384 = 98
                97,
            ),
            (
                "least: over capacity scores 0",
                vec![PodBuilder::new("e").requests("4", "16Gi")],
                PodBuilder::new("p").requests("1", "1Gi"),
                ScoreStrategy::LeastAllocated,
                0,
            ),
            (
                "most: half used",
                vec![PodBuilder::new("e").requests("2", "8Gi")],
                PodBuilder::new("p").requests("1", "4Gi"),
                ScoreStrategy::MostAllocated,
                75,
            ),
            (
                "most: over capacity clamps",
                vec![PodBuilder::new("e").requests("4", "16Gi")],
                PodBuilder::new("p").requests("1", "1Gi"),
                ScoreStrategy::MostAllocated,
                100,
            ),
        ];
        for (name, existing, p, strategy, want) in cases {
            let n = node(NodeBuilder::new("n"), existing);
            assert_eq!(score(&p.build_info(), &n, strategy), want, "{name}");
        }
    }
}
