//! ImageLocality: prefers nodes that already have the pod's images (from
//! `node.status.images`), each image counting its size scaled by the fraction of nodes that
//! have it, clamped between 23MB and 1000MB per container and mapped to 0-100 (weight 1).

use crate::framework::MAX_NODE_SCORE;
use crate::node_info::NodeInfo;
use crate::pod_info::PodInfo;

const MB: i64 = 1024 * 1024;
const MIN_THRESHOLD: i64 = 23 * MB;
const MAX_CONTAINER_THRESHOLD: i64 = 1000 * MB;

/// The score (already 0-100). `num_nodes(image)` is how many nodes have the image,
/// `total_nodes` how many nodes there are.
pub fn score(
    pod: &PodInfo,
    node: &NodeInfo,
    total_nodes: usize,
    num_nodes: impl Fn(&str) -> usize,
) -> i64 {
    let mut sum: i64 = 0;
    if total_nodes > 0 {
        for image in &pod.images {
            if let Some(size) = node.node.images.get(image) {
                let spread = num_nodes(image) as f64 / total_nodes as f64;
                sum = sum.saturating_add((*size as f64 * spread) as i64);
            }
        }
    }
    let max_threshold = MAX_CONTAINER_THRESHOLD.saturating_mul(pod.container_count as i64);
    if max_threshold <= MIN_THRESHOLD {
        return 0;
    }
    let clamped = i128::from(sum.clamp(MIN_THRESHOLD, max_threshold));
    let (min, max) = (i128::from(MIN_THRESHOLD), i128::from(max_threshold));
    (i128::from(MAX_NODE_SCORE) * (clamped - min) / (max - min)) as i64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{NodeBuilder, PodBuilder};
    use std::sync::Arc;

    #[test]
    fn table() {
        let node = |b: NodeBuilder| NodeInfo::new(Arc::new(b.build_spec()));
        let big = node(NodeBuilder::new("a").image(&["nginx:latest"], 500 * MB));
        let huge = node(
            NodeBuilder::new("b").image(&["nginx:latest", "docker.io/nginx:latest"], 3000 * MB),
        );
        let small = node(NodeBuilder::new("c").image(&["nginx:latest"], 10 * MB));
        let none = node(NodeBuilder::new("d"));
        let pod = PodBuilder::new("p").image("nginx").build_info();
        let cases = [
            // 500MB * (1/2 nodes) = 250MB -> (250-23)/(1000-23)*100 = 23
            ("half the nodes have it", &big, 2usize, 1usize, 23i64),
            ("every node has it", &big, 1, 1, 48),
            ("clamped to max", &huge, 1, 1, 100),
            ("below min", &small, 1, 1, 0),
            ("absent", &none, 1, 0, 0),
        ];
        for (name, n, total, have, want) in cases {
            assert_eq!(score(&pod, n, total, |_| have), want, "{name}");
        }
        let other = PodBuilder::new("p").image("redis:7").build_info();
        assert_eq!(score(&other, &big, 1, |_| 1), 0);
    }
}
