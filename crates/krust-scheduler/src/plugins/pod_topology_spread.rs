//! PodTopologySpread: `DoNotSchedule` constraints filter nodes whose domain would exceed
//! `maxSkew` over the least-loaded domain (honouring `minDomains`, `nodeAffinityPolicy`,
//! `nodeTaintsPolicy` and `matchLabelKeys`); `ScheduleAnyway` constraints score nodes so that
//! fewer matching pods in the node's domains score higher (weight 2). Counting skips pods being
//! deleted and pods of other namespaces, as upstream does.

use crate::cache::Cache;
use crate::framework::{MAX_NODE_SCORE, Status};
use crate::labels::Selector;
use crate::node_info::{NodeInfo, NodeSpec};
use crate::plugins::POD_TOPOLOGY_SPREAD;
use crate::plugins::node_affinity::matches_required;
use crate::plugins::taint_toleration::find_untolerated;
use crate::pod_info::{PodInfo, SpreadConstraint, WhenUnsatisfiable};
use std::collections::HashMap;
use std::sync::Arc;

/// Upstream's `ErrReasonConstraintsNotMatch`.
pub const ERR_REASON: &str = "node(s) didn't match pod topology spread constraints";
/// Upstream's `ErrReasonNodeLabelNotMatch`.
pub const ERR_REASON_LABEL: &str =
    "node(s) didn't match pod topology spread constraints (missing required label)";

const HOSTNAME: &str = "kubernetes.io/hostname";

/// Pods on a node matching a constraint's selector in a namespace (upstream's
/// `countPodsMatchSelector`: an empty selector counts nothing, terminating pods are skipped).
fn count_matching(pods: &[Arc<PodInfo>], selector: &Selector, ns: &str) -> i64 {
    if selector.is_empty_or_nothing() {
        return 0;
    }
    pods.iter()
        .filter(|p| !p.deleting && p.namespace == ns && selector.matches(&p.labels))
        .count() as i64
}

fn has_all_keys(node: &NodeSpec, constraints: &[SpreadConstraint]) -> bool {
    constraints
        .iter()
        .all(|c| node.labels.contains_key(&c.topology_key))
}

fn inclusion_matches(c: &SpreadConstraint, pod: &PodInfo, node: &NodeSpec) -> bool {
    if c.honor_node_affinity && !matches_required(pod, node) {
        return false;
    }
    if c.honor_node_taints && find_untolerated(&node.taints, &pod.tolerations).is_some() {
        return false;
    }
    true
}

/// The two least-loaded domains of a constraint (upstream's `criticalPaths`).
#[derive(Clone, Debug)]
struct CriticalPaths([(String, i64); 2]);

impl CriticalPaths {
    fn new() -> CriticalPaths {
        CriticalPaths([(String::new(), i64::MAX), (String::new(), i64::MAX)])
    }

    fn min(&self) -> i64 {
        self.0[0].1
    }

    fn update(&mut self, value: &str, num: i64) {
        let p = &mut self.0;
        let i = if p[0].0 == value {
            Some(0)
        } else if p[1].0 == value {
            Some(1)
        } else {
            None
        };
        match i {
            Some(i) => {
                p[i].1 = num;
                if p[0].1 > p[1].1 {
                    p.swap(0, 1);
                }
            }
            None => {
                if num < p[0].1 {
                    p[1] = p[0].clone();
                    p[0] = (value.to_string(), num);
                } else if num < p[1].1 {
                    p[1] = (value.to_string(), num);
                }
            }
        }
    }
}

/// The PreFilter state for the `DoNotSchedule` constraints.
#[derive(Clone, Debug)]
pub struct FilterState {
    constraints: Vec<SpreadConstraint>,
    /// Per constraint: topology value -> matching pods.
    counts: Vec<HashMap<String, i64>>,
    paths: Vec<CriticalPaths>,
}

/// PreFilter: counts matching pods per domain over every eligible node. `None` when the pod
/// has no `DoNotSchedule` constraint.
pub fn pre_filter(pod: &PodInfo, cache: &Cache) -> Option<FilterState> {
    let constraints: Vec<SpreadConstraint> = pod
        .spread_constraints
        .iter()
        .filter(|c| c.when_unsatisfiable == WhenUnsatisfiable::DoNotSchedule)
        .cloned()
        .collect();
    if constraints.is_empty() {
        return None;
    }
    let mut counts: Vec<HashMap<String, i64>> = vec![HashMap::new(); constraints.len()];
    for ni in cache.nodes() {
        let node = &ni.node;
        if !has_all_keys(node, &constraints) {
            continue;
        }
        for (i, c) in constraints.iter().enumerate() {
            if !inclusion_matches(c, pod, node) {
                continue;
            }
            let Some(value) = node.labels.get(&c.topology_key) else {
                continue;
            };
            let n = count_matching(&ni.pods, &c.selector, &pod.namespace);
            match counts[i].get_mut(value.as_str()) {
                Some(v) => *v += n,
                None => {
                    counts[i].insert(value.clone(), n);
                }
            }
        }
    }
    let paths = counts
        .iter()
        .map(|m| {
            let mut p = CriticalPaths::new();
            for (v, n) in m {
                p.update(v, *n);
            }
            p
        })
        .collect();
    Some(FilterState {
        constraints,
        counts,
        paths,
    })
}

impl FilterState {
    /// Upstream's AddPod/RemovePod extension: `other` is added to (delta 1) or removed from
    /// (delta -1) `node` while evaluating `pod`.
    pub fn update_with_pod(&mut self, other: &PodInfo, pod: &PodInfo, node: &NodeSpec, delta: i64) {
        if other.namespace != pod.namespace || !has_all_keys(node, &self.constraints) {
            return;
        }
        for (i, c) in self.constraints.iter().enumerate() {
            if !c.selector.matches(&other.labels) || !inclusion_matches(c, pod, node) {
                continue;
            }
            let Some(value) = node.labels.get(&c.topology_key) else {
                continue;
            };
            let n = self.counts[i].entry(value.clone()).or_insert(0);
            *n += delta;
            let n = *n;
            self.paths[i].update(value, n);
        }
    }
}

/// The filter.
pub fn filter(state: &FilterState, pod: &PodInfo, node: &NodeInfo) -> Result<(), Status> {
    for (i, c) in state.constraints.iter().enumerate() {
        let Some(value) = node.node.labels.get(&c.topology_key) else {
            return Err(Status::unresolvable(POD_TOPOLOGY_SPREAD, ERR_REASON_LABEL));
        };
        let mut min_match = state.paths[i].min();
        if (state.counts[i].len() as i64) < i64::from(c.min_domains) {
            min_match = 0;
        }
        let self_match = i64::from(c.selector.matches(&pod.labels));
        let match_num = state.counts[i].get(value).copied().unwrap_or(0);
        let skew = match_num
            .saturating_add(self_match)
            .saturating_sub(min_match);
        if skew > i64::from(c.max_skew) {
            return Err(Status::unschedulable(POD_TOPOLOGY_SPREAD, ERR_REASON));
        }
    }
    Ok(())
}

/// The PreScore state for the `ScheduleAnyway` constraints.
#[derive(Clone, Debug)]
pub struct ScoreState {
    constraints: Vec<SpreadConstraint>,
    /// Per constraint (non-hostname keys): topology value -> matching pods.
    counts: Vec<HashMap<String, i64>>,
    weights: Vec<f64>,
    /// Feasible nodes (by position in the feasible list) lacking a topology key.
    ignored: Vec<bool>,
}

/// PreScore over the feasible nodes (`feasible` are positions in [`Cache::nodes`]). `None`
/// when the pod has no `ScheduleAnyway` constraint.
pub fn pre_score(pod: &PodInfo, cache: &Cache, feasible: &[usize]) -> Option<ScoreState> {
    let constraints: Vec<SpreadConstraint> = pod
        .spread_constraints
        .iter()
        .filter(|c| c.when_unsatisfiable == WhenUnsatisfiable::ScheduleAnyway)
        .cloned()
        .collect();
    if constraints.is_empty() || feasible.is_empty() {
        return None;
    }
    let nodes = cache.nodes();
    let mut counts: Vec<HashMap<String, i64>> = vec![HashMap::new(); constraints.len()];
    let mut ignored = vec![false; feasible.len()];
    let mut sizes = vec![0usize; constraints.len()];
    for (fi, &idx) in feasible.iter().enumerate() {
        let Some(ni) = nodes.get(idx) else {
            ignored[fi] = true;
            continue;
        };
        if !has_all_keys(&ni.node, &constraints) {
            ignored[fi] = true;
            continue;
        }
        for (i, c) in constraints.iter().enumerate() {
            if c.topology_key == HOSTNAME {
                continue;
            }
            if let Some(v) = ni.node.labels.get(&c.topology_key)
                && !counts[i].contains_key(v)
            {
                counts[i].insert(v.clone(), 0);
                sizes[i] += 1;
            }
        }
    }
    let n_ignored = ignored.iter().filter(|i| **i).count();
    let weights = constraints
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let size = if c.topology_key == HOSTNAME {
                feasible.len() - n_ignored
            } else {
                sizes[i]
            };
            ((size + 2) as f64).ln()
        })
        .collect();
    for ni in nodes {
        if !has_all_keys(&ni.node, &constraints) {
            continue;
        }
        for (i, c) in constraints.iter().enumerate() {
            if !inclusion_matches(c, pod, &ni.node) {
                continue;
            }
            let Some(v) = ni.node.labels.get(&c.topology_key) else {
                continue;
            };
            if let Some(n) = counts[i].get_mut(v) {
                *n += count_matching(&ni.pods, &c.selector, &pod.namespace);
            }
        }
    }
    Some(ScoreState {
        constraints,
        counts,
        weights,
        ignored,
    })
}

/// The raw score of the feasible node at position `fi`.
pub fn score(state: &ScoreState, pod: &PodInfo, node: &NodeInfo, fi: usize) -> i64 {
    if state.ignored.get(fi).copied().unwrap_or(true) {
        return 0;
    }
    let mut score = 0f64;
    for (i, c) in state.constraints.iter().enumerate() {
        let Some(v) = node.node.labels.get(&c.topology_key) else {
            continue;
        };
        let cnt = if c.topology_key == HOSTNAME {
            count_matching(&node.pods, &c.selector, &pod.namespace)
        } else {
            state.counts[i].get(v).copied().unwrap_or(0)
        };
        score += cnt as f64 * state.weights[i] + (f64::from(c.max_skew) - 1.0);
    }
    score.round() as i64
}

/// Normalization: fewer matching pods score higher; ignored nodes score 0.
pub fn normalize(state: &ScoreState, scores: &mut [i64]) {
    let mut min = i64::MAX;
    let mut max = 0i64;
    for (i, s) in scores.iter().enumerate() {
        if state.ignored.get(i).copied().unwrap_or(true) {
            continue;
        }
        min = min.min(*s);
        max = max.max(*s);
    }
    for (i, s) in scores.iter_mut().enumerate() {
        if state.ignored.get(i).copied().unwrap_or(true) {
            *s = 0;
        } else if max == 0 {
            *s = MAX_NODE_SCORE;
        } else {
            let v = i128::from(MAX_NODE_SCORE)
                * (i128::from(max) + i128::from(min) - i128::from(*s))
                / i128::from(max);
            *s = v.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{NodeBuilder, PodBuilder, spread_constraint};

    /// Nodes a1, a2 in zone a, b1 in zone b, c1 (no zone label).
    /// A bound pod: name, node, labels.
    type Placed = (
        &'static str,
        &'static str,
        &'static [(&'static str, &'static str)],
    );

    fn cluster(pods: &[Placed]) -> Cache {
        let mut c = Cache::new();
        for (n, z) in [
            ("a1", Some("a")),
            ("a2", Some("a")),
            ("b1", Some("b")),
            ("c1", None),
        ] {
            let mut b = NodeBuilder::new(n);
            if let Some(z) = z {
                b = b.label("zone", z);
            }
            c.set_node(b.build_spec());
        }
        for (name, node, labels) in pods {
            let mut b = PodBuilder::new(name).node(node);
            for (k, v) in labels.iter() {
                b = b.label(k, v);
            }
            c.set_bound_pod(Arc::new(b.build_info()));
        }
        c
    }

    fn check(cache: &Cache, pod: &PodInfo) -> Vec<(String, Result<(), String>)> {
        let state = pre_filter(pod, cache);
        cache
            .nodes()
            .iter()
            .map(|n| {
                let r = match &state {
                    None => Ok(()),
                    Some(s) => filter(s, pod, n).map_err(|e| e.reasons.join(",")),
                };
                (n.name().to_string(), r)
            })
            .collect()
    }

    fn ok_nodes(results: &[(String, Result<(), String>)]) -> Vec<&str> {
        results
            .iter()
            .filter(|(_, r)| r.is_ok())
            .map(|(n, _)| n.as_str())
            .collect()
    }

    #[test]
    fn filter_table() {
        let web: &[(&str, &str)] = &[("app", "web")];
        struct Case {
            name: &'static str,
            pods: Vec<Placed>,
            pod: PodBuilder,
            want: Vec<&'static str>,
        }
        let zone1 = || {
            PodBuilder::new("new")
                .label("app", "web")
                .spread(spread_constraint(
                    1,
                    "zone",
                    "DoNotSchedule",
                    &[("app", "web")],
                ))
        };
        let cases = vec![
            Case {
                name: "empty cluster: any zoned node",
                pods: vec![],
                pod: zone1(),
                want: vec!["a1", "a2", "b1"],
            },
            Case {
                name: "zone a has one more: only zone b",
                pods: vec![("p1", "a1", web)],
                pod: zone1(),
                want: vec!["b1"],
            },
            Case {
                name: "balanced: everywhere",
                pods: vec![("p1", "a1", web), ("p2", "b1", web)],
                pod: zone1(),
                want: vec!["a1", "a2", "b1"],
            },
            Case {
                name: "other labels do not count",
                pods: vec![("p1", "a1", &[("app", "db")])],
                pod: zone1(),
                want: vec!["a1", "a2", "b1"],
            },
            Case {
                name: "maxSkew 2 allows imbalance",
                pods: vec![("p1", "a1", web)],
                pod: PodBuilder::new("new")
                    .label("app", "web")
                    .spread(spread_constraint(
                        2,
                        "zone",
                        "DoNotSchedule",
                        &[("app", "web")],
                    )),
                want: vec!["a1", "a2", "b1"],
            },
            Case {
                name: "pod not matching its own selector",
                pods: vec![("p1", "a1", web)],
                pod: PodBuilder::new("new").spread(spread_constraint(
                    1,
                    "zone",
                    "DoNotSchedule",
                    &[("app", "web")],
                )),
                want: vec!["a1", "a2", "b1"],
            },
            Case {
                name: "hostname spreading",
                pods: vec![("p1", "a1", web), ("p2", "a2", web)],
                pod: PodBuilder::new("new")
                    .label("app", "web")
                    .spread(spread_constraint(
                        1,
                        "kubernetes.io/hostname",
                        "DoNotSchedule",
                        &[("app", "web")],
                    )),
                want: vec!["b1", "c1"],
            },
            Case {
                name: "ScheduleAnyway does not filter",
                pods: vec![("p1", "a1", web)],
                pod: PodBuilder::new("new")
                    .label("app", "web")
                    .spread(spread_constraint(
                        1,
                        "zone",
                        "ScheduleAnyway",
                        &[("app", "web")],
                    )),
                want: vec!["a1", "a2", "b1", "c1"],
            },
            Case {
                name: "node affinity policy Honor excludes domains",
                pods: vec![("p1", "a1", web)],
                pod: zone1().node_selector("zone", "a"),
                // Only zone a is a domain, so its min is its own count: skew 1+1-1 = 1.
                want: vec!["a1", "a2", "b1"],
            },
        ];
        for c in cases {
            let cache = cluster(&c.pods);
            let results = check(&cache, &c.pod.build_info());
            assert_eq!(ok_nodes(&results), c.want, "{}", c.name);
        }
        let cache = cluster(&[("p1", "a1", web)]);
        let results = check(&cache, &zone1().build_info());
        let reasons: Vec<String> = results.into_iter().filter_map(|(_, r)| r.err()).collect();
        assert_eq!(reasons, vec![ERR_REASON, ERR_REASON, ERR_REASON_LABEL]);
    }

    #[test]
    fn min_domains() {
        let web: &[(&str, &str)] = &[("app", "web")];
        let cache = cluster(&[("p1", "b1", web)]);
        let mut c = spread_constraint(1, "zone", "DoNotSchedule", &[("app", "web")]);
        c.min_domains = Some(3);
        let pod = PodBuilder::new("new")
            .label("app", "web")
            .spread(c)
            .build_info();
        // Only 2 domains < 3: the global minimum counts as 0, so zone b (1 pod) is full.
        assert_eq!(ok_nodes(&check(&cache, &pod)), vec!["a1", "a2"]);
    }

    #[test]
    fn update_with_pod_adjusts_counts() {
        let cache = cluster(&[]);
        let pod = PodBuilder::new("new")
            .label("app", "web")
            .spread(spread_constraint(
                1,
                "zone",
                "DoNotSchedule",
                &[("app", "web")],
            ))
            .build_info();
        let mut s = pre_filter(&pod, &cache).expect("state");
        let other = PodBuilder::new("o").label("app", "web").build_info();
        let a1 = cache.node("a1").expect("a1");
        s.update_with_pod(&other, &pod, &a1.node, 1);
        assert!(filter(&s, &pod, a1).is_err());
        s.update_with_pod(&other, &pod, &a1.node, -1);
        assert!(filter(&s, &pod, a1).is_ok());
    }

    #[test]
    fn score_table() {
        let web: &[(&str, &str)] = &[("app", "web")];
        let cache = cluster(&[("p1", "a1", web), ("p2", "a1", web), ("p3", "b1", web)]);
        let pod = PodBuilder::new("new")
            .label("app", "web")
            .spread(spread_constraint(
                1,
                "zone",
                "ScheduleAnyway",
                &[("app", "web")],
            ))
            .build_info();
        let feasible: Vec<usize> = (0..cache.nodes().len()).collect();
        let st = pre_score(&pod, &cache, &feasible).expect("state");
        let mut scores: Vec<i64> = feasible
            .iter()
            .enumerate()
            .map(|(fi, &i)| score(&st, &pod, &cache.nodes()[i], fi))
            .collect();
        // zone a: 2 pods, zone b: 1 pod; weight ln(2+2).
        assert_eq!(scores, vec![3, 3, 1, 0]);
        normalize(&st, &mut scores);
        // max 3, min 1: a -> 100*(3+1-3)/3 = 33, b -> 100*(3+1-1)/3 = 100, c1 ignored.
        assert_eq!(scores, vec![33, 33, 100, 0]);

        let host = PodBuilder::new("new")
            .label("app", "web")
            .spread(spread_constraint(
                1,
                "kubernetes.io/hostname",
                "ScheduleAnyway",
                &[("app", "web")],
            ))
            .build_info();
        let st = pre_score(&host, &cache, &feasible).expect("state");
        let mut scores: Vec<i64> = feasible
            .iter()
            .enumerate()
            .map(|(fi, &i)| score(&st, &host, &cache.nodes()[i], fi))
            .collect();
        // 4 nodes -> weight ln(6) = 1.79: a1 2 pods -> 4, b1 1 -> 2, others 0.
        assert_eq!(scores, vec![4, 0, 2, 0]);
        normalize(&st, &mut scores);
        assert_eq!(scores, vec![0, 100, 50, 100]);
    }
}
