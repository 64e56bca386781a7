//! InterPodAffinity: required pod affinity (some matching pod in the node's topology domain, or
//! the first pod of a self-affine group), required anti-affinity (no matching pod in the
//! domain), and existing pods' required anti-affinity against the incoming pod (filter).
//! Preferred terms of the incoming pod and of existing pods (plus existing pods' required
//! affinity with weight 1) score topology domains, min-max normalized (weight 2).

use crate::cache::Cache;
use crate::framework::{MAX_NODE_SCORE, Status};
use crate::node_info::{NodeInfo, NodeSpec};
use crate::plugins::INTER_POD_AFFINITY;
use crate::pod_info::{AffinityTerm, PodInfo, WeightedAffinityTerm};
use std::collections::HashMap;

/// Upstream's `ErrReasonAffinityRulesNotMatch`.
pub const ERR_AFFINITY: &str = "node(s) didn't match pod affinity rules";
/// Upstream's `ErrReasonAntiAffinityRulesNotMatch`.
pub const ERR_ANTI_AFFINITY: &str = "node(s) didn't match pod anti-affinity rules";
/// Upstream's `ErrReasonExistingAntiAffinityRulesNotMatch`.
pub const ERR_EXISTING_ANTI_AFFINITY: &str =
    "node(s) didn't satisfy existing pods anti-affinity rules";

/// Upstream's default `hardPodAffinityWeight`.
const HARD_POD_AFFINITY_WEIGHT: i64 = 1;

/// Counts per topology key, then value.
#[derive(Clone, Debug, Default)]
struct TopologyCounts(HashMap<String, HashMap<String, i64>>);

impl TopologyCounts {
    fn add(&mut self, node: &NodeSpec, key: &str, delta: i64) {
        let Some(v) = node.labels.get(key) else {
            return;
        };
        if !self.0.contains_key(key) {
            self.0.insert(key.to_string(), HashMap::new());
        }
        let Some(by_value) = self.0.get_mut(key) else {
            return;
        };
        let n = match by_value.get_mut(v.as_str()) {
            Some(n) => n,
            None => by_value.entry(v.clone()).or_insert(0),
        };
        *n += delta;
        if *n == 0 {
            by_value.remove(v.as_str());
            if by_value.is_empty() {
                self.0.remove(key);
            }
        }
    }

    fn get(&self, key: &str, value: &str) -> i64 {
        self.0
            .get(key)
            .and_then(|m| m.get(value))
            .copied()
            .unwrap_or(0)
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

fn matches_all(terms: &[AffinityTerm], pod: &PodInfo, cache: &Cache) -> bool {
    let ns = cache.namespace_labels(&pod.namespace);
    terms.iter().all(|t| t.matches(pod, ns))
}

/// The PreFilter state.
#[derive(Clone, Debug, Default)]
pub struct FilterState {
    existing_anti_affinity: TopologyCounts,
    affinity: TopologyCounts,
    anti_affinity: TopologyCounts,
}

impl FilterState {
    /// Upstream's AddPod/RemovePod extension: `other` is added to (1) or removed from (-1)
    /// `node` while evaluating `pod`.
    pub fn update_with_pod(
        &mut self,
        other: &PodInfo,
        pod: &PodInfo,
        node: &NodeSpec,
        delta: i64,
        cache: &Cache,
    ) {
        let pod_ns = cache.namespace_labels(&pod.namespace);
        for t in &other.required_anti_affinity {
            if t.matches(pod, pod_ns) {
                self.existing_anti_affinity
                    .add(node, &t.topology_key, delta);
            }
        }
        if !pod.required_affinity.is_empty() && matches_all(&pod.required_affinity, other, cache) {
            for t in &pod.required_affinity {
                self.affinity.add(node, &t.topology_key, delta);
            }
        }
        let other_ns = cache.namespace_labels(&other.namespace);
        for t in &pod.required_anti_affinity {
            if t.matches(other, other_ns) {
                self.anti_affinity.add(node, &t.topology_key, delta);
            }
        }
    }
}

/// PreFilter. `None` when neither the pod nor any counted pod has required terms.
pub fn pre_filter(pod: &PodInfo, cache: &Cache) -> Option<FilterState> {
    let has_own = !pod.required_affinity.is_empty() || !pod.required_anti_affinity.is_empty();
    let has_existing = cache.have_pods_with_required_anti_affinity();
    if !has_own && !has_existing {
        return None;
    }
    let mut s = FilterState::default();
    let pod_ns = cache.namespace_labels(&pod.namespace);
    for ni in cache.nodes() {
        if has_existing && ni.pods_with_required_anti_affinity > 0 {
            for e in ni.pods.iter().filter(|p| p.has_required_anti_affinity()) {
                for t in &e.required_anti_affinity {
                    if t.matches(pod, pod_ns) {
                        s.existing_anti_affinity.add(&ni.node, &t.topology_key, 1);
                    }
                }
            }
        }
        if has_own {
            for e in &ni.pods {
                if !pod.required_affinity.is_empty()
                    && matches_all(&pod.required_affinity, e, cache)
                {
                    for t in &pod.required_affinity {
                        s.affinity.add(&ni.node, &t.topology_key, 1);
                    }
                }
                let e_ns = cache.namespace_labels(&e.namespace);
                for t in &pod.required_anti_affinity {
                    if t.matches(e, e_ns) {
                        s.anti_affinity.add(&ni.node, &t.topology_key, 1);
                    }
                }
            }
        }
    }
    Some(s)
}

/// The filter.
pub fn filter(
    state: &FilterState,
    pod: &PodInfo,
    node: &NodeInfo,
    cache: &Cache,
) -> Result<(), Status> {
    let labels = &node.node.labels;
    // Required affinity.
    let mut pods_exist = true;
    for t in &pod.required_affinity {
        match labels.get(&t.topology_key) {
            Some(v) => {
                if state.affinity.get(&t.topology_key, v) <= 0 {
                    pods_exist = false;
                }
            }
            None => return Err(Status::unresolvable(INTER_POD_AFFINITY, ERR_AFFINITY)),
        }
    }
    // The first pod of a group with affinity to itself may go where its terms' topologies
    // exist when no other pod matches anywhere.
    let first_of_group =
        state.affinity.is_empty() && matches_all(&pod.required_affinity, pod, cache);
    if !pods_exist && !first_of_group {
        return Err(Status::unresolvable(INTER_POD_AFFINITY, ERR_AFFINITY));
    }
    // Required anti-affinity.
    if !state.anti_affinity.is_empty() {
        for t in &pod.required_anti_affinity {
            if let Some(v) = labels.get(&t.topology_key)
                && state.anti_affinity.get(&t.topology_key, v) > 0
            {
                return Err(Status::unschedulable(INTER_POD_AFFINITY, ERR_ANTI_AFFINITY));
            }
        }
    }
    // Existing pods' anti-affinity.
    if !state.existing_anti_affinity.is_empty() {
        for (k, v) in labels {
            if state.existing_anti_affinity.get(k, v) > 0 {
                return Err(Status::unschedulable(
                    INTER_POD_AFFINITY,
                    ERR_EXISTING_ANTI_AFFINITY,
                ));
            }
        }
    }
    Ok(())
}

/// The PreScore state: a score per topology key and value.
#[derive(Clone, Debug, Default)]
pub struct ScoreState {
    scores: TopologyCounts,
}

fn process_terms(
    m: &mut TopologyCounts,
    terms: &[WeightedAffinityTerm],
    target: &PodInfo,
    ns: &crate::labels::Labels,
    node: &NodeSpec,
    sign: i64,
) {
    for t in terms {
        if t.term.matches(target, ns) {
            m.add(node, &t.term.topology_key, i64::from(t.weight) * sign);
        }
    }
}

/// PreScore. `None` when nothing can score (no preferred terms on the pod and no counted pod
/// with affinity).
pub fn pre_score(pod: &PodInfo, cache: &Cache) -> Option<ScoreState> {
    let has_constraints =
        !pod.preferred_affinity.is_empty() || !pod.preferred_anti_affinity.is_empty();
    if !has_constraints && !cache.have_pods_with_affinity() {
        return None;
    }
    let mut m = TopologyCounts::default();
    let pod_ns = cache.namespace_labels(&pod.namespace);
    for ni in cache.nodes() {
        if ni.node.labels.is_empty() || (!has_constraints && ni.pods_with_affinity == 0) {
            continue;
        }
        for e in &ni.pods {
            if !has_constraints && !e.has_affinity {
                continue;
            }
            let e_ns = cache.namespace_labels(&e.namespace);
            process_terms(&mut m, &pod.preferred_affinity, e, e_ns, &ni.node, 1);
            process_terms(&mut m, &pod.preferred_anti_affinity, e, e_ns, &ni.node, -1);
            for t in &e.required_affinity {
                if t.matches(pod, pod_ns) {
                    m.add(&ni.node, &t.topology_key, HARD_POD_AFFINITY_WEIGHT);
                }
            }
            process_terms(&mut m, &e.preferred_affinity, pod, pod_ns, &ni.node, 1);
            process_terms(
                &mut m,
                &e.preferred_anti_affinity,
                pod,
                pod_ns,
                &ni.node,
                -1,
            );
        }
    }
    if m.is_empty() {
        return None;
    }
    Some(ScoreState { scores: m })
}

/// The raw score of a node: the sum over topology keys of its domain's score.
pub fn score(state: &ScoreState, node: &NodeInfo) -> i64 {
    state
        .scores
        .0
        .iter()
        .filter_map(|(k, by_value)| {
            node.node
                .labels
                .get(k)
                .and_then(|v| by_value.get(v))
                .copied()
        })
        .sum()
}

/// Min-max normalization to 0-100.
pub fn normalize(scores: &mut [i64]) {
    let (Some(min), Some(max)) = (scores.iter().min().copied(), scores.iter().max().copied())
    else {
        return;
    };
    let diff = max as f64 - min as f64;
    for s in scores.iter_mut() {
        *s = if diff > 0.0 {
            (MAX_NODE_SCORE as f64 * ((*s as f64 - min as f64) / diff)) as i64
        } else {
            0
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{NodeBuilder, PodBuilder, affinity_term};
    use std::sync::Arc;

    /// Nodes a1, a2 (zone a), b1 (zone b), x1 (no zone).
    fn cluster(pods: Vec<PodBuilder>) -> Cache {
        let mut c = Cache::new();
        for (n, z) in [
            ("a1", Some("a")),
            ("a2", Some("a")),
            ("b1", Some("b")),
            ("x1", None),
        ] {
            let mut b = NodeBuilder::new(n);
            if let Some(z) = z {
                b = b.label("zone", z);
            }
            c.set_node(b.build_spec());
        }
        for p in pods {
            c.set_bound_pod(Arc::new(p.build_info()));
        }
        c
    }

    fn results(cache: &Cache, pod: &PodInfo) -> Vec<Result<(), String>> {
        let state = pre_filter(pod, cache);
        cache
            .nodes()
            .iter()
            .map(|n| match &state {
                None => Ok(()),
                Some(s) => filter(s, pod, n, cache).map_err(|e| e.reasons.join(",")),
            })
            .collect()
    }

    fn ok(r: &[Result<(), String>]) -> Vec<usize> {
        r.iter()
            .enumerate()
            .filter(|(_, r)| r.is_ok())
            .map(|(i, _)| i)
            .collect()
    }

    #[test]
    fn filter_table() {
        let db_on = |node: &str| {
            PodBuilder::new(&format!("db-{node}"))
                .label("app", "db")
                .node(node)
        };
        struct Case {
            name: &'static str,
            existing: Vec<PodBuilder>,
            pod: PodBuilder,
            ok: Vec<usize>,
        }
        let cases = vec![
            Case {
                name: "affinity to db in zone a",
                existing: vec![db_on("a1")],
                pod: PodBuilder::new("web")
                    .required_affinity(affinity_term(&[("app", "db")], "zone")),
                ok: vec![0, 1],
            },
            Case {
                name: "affinity with no matching pod anywhere and not self-matching",
                existing: vec![],
                pod: PodBuilder::new("web")
                    .required_affinity(affinity_term(&[("app", "db")], "zone")),
                ok: vec![],
            },
            Case {
                name: "first pod of a self-affine group",
                existing: vec![],
                pod: PodBuilder::new("web")
                    .label("app", "db")
                    .required_affinity(affinity_term(&[("app", "db")], "zone")),
                ok: vec![0, 1, 2],
            },
            Case {
                name: "anti-affinity keeps out of zone a",
                existing: vec![db_on("a2")],
                pod: PodBuilder::new("web")
                    .required_anti_affinity(affinity_term(&[("app", "db")], "zone")),
                ok: vec![2, 3],
            },
            Case {
                name: "hostname anti-affinity",
                existing: vec![db_on("a2")],
                pod: PodBuilder::new("web").required_anti_affinity(affinity_term(
                    &[("app", "db")],
                    "kubernetes.io/hostname",
                )),
                ok: vec![0, 2, 3],
            },
            Case {
                name: "existing pod's anti-affinity repels the incoming pod",
                existing: vec![
                    PodBuilder::new("lonely")
                        .node("b1")
                        .required_anti_affinity(affinity_term(&[("app", "web")], "zone")),
                ],
                pod: PodBuilder::new("web").label("app", "web"),
                ok: vec![0, 1, 3],
            },
            Case {
                name: "other namespace does not count",
                existing: vec![db_on("a1").namespace("other")],
                pod: PodBuilder::new("web")
                    .required_anti_affinity(affinity_term(&[("app", "db")], "zone")),
                ok: vec![0, 1, 2, 3],
            },
        ];
        for c in cases {
            let cache = cluster(c.existing);
            let r = results(&cache, &c.pod.build_info());
            assert_eq!(ok(&r), c.ok, "{}: {r:?}", c.name);
        }
        // Messages.
        let cache = cluster(vec![db_on("a1")]);
        let r = results(
            &cache,
            &PodBuilder::new("web")
                .required_affinity(affinity_term(&[("app", "db")], "zone"))
                .build_info(),
        );
        assert_eq!(r[2], Err(ERR_AFFINITY.to_string()));
        let r = results(
            &cache,
            &PodBuilder::new("web")
                .required_anti_affinity(affinity_term(&[("app", "db")], "zone"))
                .build_info(),
        );
        assert_eq!(r[0], Err(ERR_ANTI_AFFINITY.to_string()));
        let cache = cluster(vec![
            PodBuilder::new("lonely")
                .node("b1")
                .required_anti_affinity(affinity_term(&[("app", "web")], "zone")),
        ]);
        let r = results(
            &cache,
            &PodBuilder::new("web").label("app", "web").build_info(),
        );
        assert_eq!(r[2], Err(ERR_EXISTING_ANTI_AFFINITY.to_string()));
    }

    #[test]
    fn update_with_pod() {
        let cache = cluster(vec![]);
        let pod = PodBuilder::new("web")
            .required_anti_affinity(affinity_term(&[("app", "db")], "zone"))
            .build_info();
        let mut s = pre_filter(&pod, &cache).expect("state");
        let db = PodBuilder::new("db").label("app", "db").build_info();
        let a1 = cache.node("a1").expect("a1");
        s.update_with_pod(&db, &pod, &a1.node, 1, &cache);
        assert!(filter(&s, &pod, a1, &cache).is_err());
        s.update_with_pod(&db, &pod, &a1.node, -1, &cache);
        assert!(filter(&s, &pod, a1, &cache).is_ok());
    }

    #[test]
    fn score_table() {
        let cache = cluster(vec![
            PodBuilder::new("db").label("app", "db").node("a1"),
            PodBuilder::new("cache").label("app", "cache").node("b1"),
        ]);
        let pod = PodBuilder::new("web")
            .preferred_affinity(10, affinity_term(&[("app", "db")], "zone"))
            .preferred_anti_affinity(5, affinity_term(&[("app", "cache")], "zone"))
            .build_info();
        let st = pre_score(&pod, &cache).expect("state");
        let mut s: Vec<i64> = cache.nodes().iter().map(|n| score(&st, n)).collect();
        assert_eq!(s, vec![10, 10, -5, 0]);
        normalize(&mut s);
        assert_eq!(s, vec![100, 100, 0, 33]);
        // Existing pods' preferences count too.
        let cache = cluster(vec![
            PodBuilder::new("db")
                .label("app", "db")
                .node("b1")
                .preferred_affinity(7, affinity_term(&[("app", "web")], "zone"))
                .required_affinity(affinity_term(&[("app", "web")], "kubernetes.io/hostname")),
        ]);
        let web = PodBuilder::new("web").label("app", "web").build_info();
        let st = pre_score(&web, &cache).expect("state");
        let s: Vec<i64> = cache.nodes().iter().map(|n| score(&st, n)).collect();
        assert_eq!(s, vec![0, 0, 8, 0]);
        assert!(pre_score(&PodBuilder::new("x").build_info(), &cluster(vec![])).is_none());
    }
}
