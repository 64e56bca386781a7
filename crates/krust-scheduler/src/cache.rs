//! The scheduler cache (upstream's `internal/cache`): every node with the pods counted on it.
//! Bound, non-terminal pods are counted from the watch; pods the scheduler has decided on are
//! counted as ASSUMED from the moment of the decision until the watch shows them bound (or the
//! binding fails and they are forgotten), so that two decisions never double-book a node.
//! Pods bound to a node the cache has not seen yet wait as orphans and are counted when it
//! appears. The cache also keeps what plugins need beyond nodes: image spread, namespace
//! labels (affinity namespace selectors) and PodDisruptionBudgets (preemption).

use crate::labels::{Labels, Selector};
use crate::node_info::{NodeInfo, NodeSpec};
use crate::pod_info::PodInfo;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long an assumed pod whose binding succeeded may stay unconfirmed by the watch.
pub const ASSUMED_POD_TTL: Duration = Duration::from_secs(300);

/// A PodDisruptionBudget as preemption reads it.
#[derive(Clone, Debug)]
pub struct Pdb {
    pub namespace: String,
    pub name: String,
    pub selector: Selector,
    pub disruptions_allowed: i32,
    pub disrupted_pods: HashSet<String>,
}

impl Pdb {
    /// Parses a policy/v1 PodDisruptionBudget.
    pub fn from_pdb(p: &k8s_openapi::api::policy::v1::PodDisruptionBudget) -> Pdb {
        let status = p.status.as_ref();
        Pdb {
            namespace: p.metadata.namespace.clone().unwrap_or_default(),
            name: p.metadata.name.clone().unwrap_or_default(),
            selector: Selector::from_label_selector(
                p.spec.as_ref().and_then(|s| s.selector.as_ref()),
            ),
            disruptions_allowed: status.map(|s| s.disruptions_allowed).unwrap_or(0),
            disrupted_pods: status
                .and_then(|s| s.disrupted_pods.as_ref())
                .map(|m| m.keys().cloned().collect())
                .unwrap_or_default(),
        }
    }

    /// `namespace/name`.
    pub fn key(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum PodState {
    Bound,
    /// Assumed by the scheduler; `Some(t)` once the binding call succeeded at `t`.
    Assumed(Option<Instant>),
}

#[derive(Clone, Debug)]
struct CachedPod {
    node: String,
    pod: Arc<PodInfo>,
    state: PodState,
}

/// What a node update changed, for queueing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeChange {
    Added,
    /// Labels, taints, unschedulable or allocatable changed.
    Updated,
    /// Nothing scheduling-relevant changed.
    Unchanged,
}

/// The cache.
#[derive(Default)]
pub struct Cache {
    nodes: Vec<NodeInfo>,
    index: HashMap<String, usize>,
    pods: HashMap<String, CachedPod>,
    orphans: HashMap<String, Vec<Arc<PodInfo>>>,
    image_nodes: HashMap<String, usize>,
    pdbs: BTreeMap<String, Pdb>,
    namespaces: HashMap<String, Labels>,
    pods_with_affinity: usize,
    pods_with_required_anti_affinity: usize,
    empty_labels: Labels,
}

impl Cache {
    /// An empty cache.
    pub fn new() -> Cache {
        Cache::default()
    }

    /// Every known node, in a stable order between changes.
    pub fn nodes(&self) -> &[NodeInfo] {
        &self.nodes
    }

    /// The position of a node in [`Cache::nodes`].
    pub fn node_index(&self, name: &str) -> Option<usize> {
        self.index.get(name).copied()
    }

    /// A node by name.
    pub fn node(&self, name: &str) -> Option<&NodeInfo> {
        self.node_index(name).and_then(|i| self.nodes.get(i))
    }

    /// How many nodes have an image (ImageLocality's spread).
    pub fn image_num_nodes(&self, image: &str) -> usize {
        self.image_nodes.get(image).copied().unwrap_or(0)
    }

    /// A namespace's labels (empty when unknown).
    pub fn namespace_labels(&self, ns: &str) -> &Labels {
        self.namespaces.get(ns).unwrap_or(&self.empty_labels)
    }

    /// Records a namespace's labels.
    pub fn set_namespace(&mut self, name: &str, labels: Labels) {
        self.namespaces.insert(name.to_string(), labels);
    }

    /// Forgets a namespace.
    pub fn remove_namespace(&mut self, name: &str) {
        self.namespaces.remove(name);
    }

    /// Every PodDisruptionBudget.
    pub fn pdbs(&self) -> impl Iterator<Item = &Pdb> {
        self.pdbs.values()
    }

    /// Records a PodDisruptionBudget.
    pub fn set_pdb(&mut self, pdb: Pdb) {
        self.pdbs.insert(pdb.key(), pdb);
    }

    /// Forgets a PodDisruptionBudget by `namespace/name`.
    pub fn remove_pdb(&mut self, key: &str) {
        self.pdbs.remove(key);
    }

    /// Keeps only the PDBs whose keys were seen in a relist.
    pub fn retain_pdbs(&mut self, seen: &HashSet<String>) {
        self.pdbs.retain(|k, _| seen.contains(k));
    }

    /// Whether any counted pod has pod affinity or anti-affinity.
    pub fn have_pods_with_affinity(&self) -> bool {
        self.pods_with_affinity > 0
    }

    /// Whether any counted pod has required pod anti-affinity.
    pub fn have_pods_with_required_anti_affinity(&self) -> bool {
        self.pods_with_required_anti_affinity > 0
    }

    fn image_delta(&mut self, spec: &NodeSpec, add: bool) {
        for name in spec.images.keys() {
            if add {
                *self.image_nodes.entry(name.clone()).or_insert(0) += 1;
            } else if let Some(c) = self.image_nodes.get_mut(name) {
                *c = c.saturating_sub(1);
                if *c == 0 {
                    self.image_nodes.remove(name);
                }
            }
        }
    }

    /// Adds or updates a node.
    pub fn set_node(&mut self, spec: NodeSpec) -> NodeChange {
        if let Some(&i) = self.index.get(&spec.name) {
            let Some(ni) = self.nodes.get_mut(i) else {
                return NodeChange::Unchanged;
            };
            let old = ni.node.clone();
            if *old == spec {
                return NodeChange::Unchanged;
            }
            let relevant = old.labels != spec.labels
                || old.taints != spec.taints
                || old.unschedulable != spec.unschedulable
                || old.allocatable != spec.allocatable;
            let images_changed = old.images != spec.images;
            let spec = Arc::new(spec);
            ni.node = spec.clone();
            if images_changed {
                self.image_delta(&old, false);
                self.image_delta(&spec, true);
            }
            return if relevant {
                NodeChange::Updated
            } else {
                NodeChange::Unchanged
            };
        }
        let name = spec.name.clone();
        self.image_delta(&spec, true);
        let mut ni = NodeInfo::new(Arc::new(spec));
        for p in self.orphans.remove(&name).unwrap_or_default() {
            self.count_affinity(&p, true);
            ni.add_pod(p);
        }
        self.index.insert(name, self.nodes.len());
        self.nodes.push(ni);
        NodeChange::Added
    }

    /// Removes a node; its pods wait as orphans in case it comes back.
    pub fn remove_node(&mut self, name: &str) -> bool {
        let Some(i) = self.index.remove(name) else {
            return false;
        };
        if i >= self.nodes.len() {
            return false;
        }
        let ni = self.nodes.swap_remove(i);
        if let Some(moved) = self.nodes.get(i) {
            self.index.insert(moved.node.name.clone(), i);
        }
        self.image_delta(&ni.node.clone(), false);
        for p in &ni.pods {
            self.count_affinity(p, false);
        }
        if !ni.pods.is_empty() {
            self.orphans.insert(name.to_string(), ni.pods);
        }
        true
    }

    /// Keeps only the nodes seen in a relist.
    pub fn retain_nodes(&mut self, seen: &HashSet<String>) {
        let gone: Vec<String> = self
            .nodes
            .iter()
            .map(|n| n.node.name.clone())
            .filter(|n| !seen.contains(n))
            .collect();
        for n in gone {
            self.remove_node(&n);
        }
    }

    fn count_affinity(&mut self, p: &PodInfo, add: bool) {
        if p.has_affinity {
            if add {
                self.pods_with_affinity += 1;
            } else {
                self.pods_with_affinity = self.pods_with_affinity.saturating_sub(1);
            }
        }
        if p.has_required_anti_affinity() {
            if add {
                self.pods_with_required_anti_affinity += 1;
            } else {
                self.pods_with_required_anti_affinity =
                    self.pods_with_required_anti_affinity.saturating_sub(1);
            }
        }
    }

    fn attach(&mut self, node: &str, pod: Arc<PodInfo>) {
        match self.index.get(node).and_then(|&i| self.nodes.get_mut(i)) {
            Some(ni) => {
                ni.add_pod(pod.clone());
                self.count_affinity(&pod, true);
            }
            None => self.orphans.entry(node.to_string()).or_default().push(pod),
        }
    }

    fn detach(&mut self, node: &str, uid: &str) -> Option<Arc<PodInfo>> {
        match self.index.get(node).and_then(|&i| self.nodes.get_mut(i)) {
            Some(ni) => {
                let p = ni.remove_pod(uid)?;
                self.count_affinity(&p, false);
                Some(p)
            }
            None => {
                let list = self.orphans.get_mut(node)?;
                let i = list.iter().position(|p| p.uid == uid)?;
                let p = list.swap_remove(i);
                if list.is_empty() {
                    self.orphans.remove(node);
                }
                Some(p)
            }
        }
    }

    /// Counts a bound pod observed from the watch (confirming it when it was assumed), or
    /// stops counting it when it became terminal. Returns whether the pod is counted now.
    pub fn set_bound_pod(&mut self, pod: Arc<PodInfo>) -> bool {
        let uid = pod.uid.clone();
        if let Some(old) = self.pods.remove(&uid) {
            self.detach(&old.node, &uid);
        }
        if pod.terminal || pod.node_name.is_empty() {
            return false;
        }
        let node = pod.node_name.clone();
        self.attach(&node, pod.clone());
        self.pods.insert(
            uid,
            CachedPod {
                node,
                pod,
                state: PodState::Bound,
            },
        );
        true
    }

    /// Stops counting a pod (deleted or gone). Returns the node and pod it was counted as.
    pub fn remove_pod(&mut self, uid: &str) -> Option<(String, Arc<PodInfo>)> {
        let old = self.pods.remove(uid)?;
        self.detach(&old.node, uid);
        Some((old.node, old.pod))
    }

    /// Keeps only the pods seen in a relist (assumed pods whose binding is in flight stay).
    pub fn retain_pods(&mut self, seen: &HashSet<String>) -> Vec<(String, Arc<PodInfo>)> {
        let gone: Vec<String> = self
            .pods
            .iter()
            .filter(|(uid, c)| !seen.contains(*uid) && c.state != PodState::Assumed(None))
            .map(|(uid, _)| uid.clone())
            .collect();
        gone.iter().filter_map(|u| self.remove_pod(u)).collect()
    }

    /// Counts a pod the scheduler decided to put on `node`, before the binding is confirmed.
    pub fn assume(&mut self, pod: &PodInfo, node: &str) -> Arc<PodInfo> {
        let mut p = pod.clone();
        p.node_name = node.to_string();
        p.nominated_node_name.clear();
        let p = Arc::new(p);
        if let Some(old) = self.pods.remove(&p.uid) {
            self.detach(&old.node, &p.uid);
        }
        self.attach(node, p.clone());
        self.pods.insert(
            p.uid.clone(),
            CachedPod {
                node: node.to_string(),
                pod: p.clone(),
                state: PodState::Assumed(None),
            },
        );
        p
    }

    /// Records that an assumed pod's binding succeeded.
    pub fn finish_binding(&mut self, uid: &str, now: Instant) {
        if let Some(c) = self.pods.get_mut(uid)
            && c.state == PodState::Assumed(None)
        {
            c.state = PodState::Assumed(Some(now));
        }
    }

    /// Forgets an assumed pod (its binding failed). Returns what it was counted as.
    pub fn forget(&mut self, uid: &str) -> Option<(String, Arc<PodInfo>)> {
        match self.pods.get(uid) {
            Some(c) if matches!(c.state, PodState::Assumed(_)) => self.remove_pod(uid),
            _ => None,
        }
    }

    /// Whether a pod is assumed (decided, not yet observed bound).
    pub fn is_assumed(&self, uid: &str) -> bool {
        self.pods
            .get(uid)
            .is_some_and(|c| matches!(c.state, PodState::Assumed(_)))
    }

    /// Whether a pod is counted (bound or assumed).
    pub fn contains_pod(&self, uid: &str) -> bool {
        self.pods.contains_key(uid)
    }

    /// Drops assumed pods whose binding succeeded longer than `ttl` ago without the watch
    /// confirming them.
    pub fn expire_assumed(&mut self, now: Instant, ttl: Duration) -> usize {
        let expired: Vec<String> = self
            .pods
            .iter()
            .filter(|(_, c)| {
                matches!(c.state, PodState::Assumed(Some(t)) if now.saturating_duration_since(t) > ttl)
            })
            .map(|(u, _)| u.clone())
            .collect();
        for u in &expired {
            self.remove_pod(u);
        }
        expired.len()
    }

    /// Number of counted pods.
    pub fn pod_count(&self) -> usize {
        self.pods.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{NodeBuilder, PodBuilder};

    fn bound(name: &str, node: &str, cpu: &str) -> Arc<PodInfo> {
        Arc::new(
            PodBuilder::new(name)
                .requests(cpu, "1Gi")
                .node(node)
                .build_info(),
        )
    }

    #[test]
    fn assumed_pods_count_until_forgotten_or_confirmed() {
        let mut c = Cache::new();
        assert_eq!(
            c.set_node(NodeBuilder::new("n1").build_spec()),
            NodeChange::Added
        );
        let p = PodBuilder::new("a").requests("1", "1Gi").build_info();
        c.assume(&p, "n1");
        assert!(c.is_assumed("uid-a"));
        assert_eq!(c.node("n1").map(|n| n.requested.milli_cpu), Some(1000));
        c.forget("uid-a");
        assert_eq!(c.node("n1").map(|n| n.requested.milli_cpu), Some(0));
        c.assume(&p, "n1");
        c.finish_binding("uid-a", Instant::now());
        assert!(c.set_bound_pod(bound("a", "n1", "1")));
        assert!(!c.is_assumed("uid-a"));
        assert_eq!(c.node("n1").map(|n| n.pods.len()), Some(1));
        assert_eq!(c.node("n1").map(|n| n.requested.milli_cpu), Some(1000));
    }

    #[test]
    fn orphans_attach_when_node_appears_and_terminal_pods_leave() {
        let mut c = Cache::new();
        c.set_bound_pod(bound("a", "n1", "1"));
        assert!(c.node("n1").is_none());
        c.set_node(NodeBuilder::new("n1").build_spec());
        assert_eq!(c.node("n1").map(|n| n.pods.len()), Some(1));
        c.set_node(NodeBuilder::new("n2").build_spec());
        c.remove_node("n1");
        assert_eq!(c.nodes().len(), 1);
        assert_eq!(c.node_index("n2"), Some(0));
        c.set_node(NodeBuilder::new("n1").build_spec());
        assert_eq!(c.node("n1").map(|n| n.pods.len()), Some(1));
        let mut done = PodBuilder::new("a").node("n1").build();
        if let Some(s) = done.status.as_mut() {
            s.phase = Some("Succeeded".into());
        }
        let done = Arc::new(PodInfo::from_pod(
            &done,
            &crate::pod_info::PriorityClasses::default(),
        ));
        assert!(!c.set_bound_pod(done));
        assert_eq!(c.node("n1").map(|n| n.pods.len()), Some(0));
    }

    #[test]
    fn node_update_relevance_and_images() {
        let mut c = Cache::new();
        c.set_node(
            NodeBuilder::new("n1")
                .image(&["nginx:latest"], 100)
                .build_spec(),
        );
        c.set_node(
            NodeBuilder::new("n2")
                .image(&["nginx:latest"], 100)
                .build_spec(),
        );
        assert_eq!(c.image_num_nodes("nginx:latest"), 2);
        assert_eq!(
            c.set_node(
                NodeBuilder::new("n1")
                    .image(&["nginx:latest"], 100)
                    .build_spec()
            ),
            NodeChange::Unchanged
        );
        assert_eq!(
            c.set_node(NodeBuilder::new("n1").label("zone", "a").build_spec()),
            NodeChange::Updated
        );
        assert_eq!(c.image_num_nodes("nginx:latest"), 1);
        c.retain_nodes(&HashSet::from(["n1".to_string()]));
        assert_eq!(c.image_num_nodes("nginx:latest"), 0);
    }

    #[test]
    fn expiry_of_unconfirmed_assumed_pods() {
        let mut c = Cache::new();
        c.set_node(NodeBuilder::new("n1").build_spec());
        c.assume(&PodBuilder::new("a").build_info(), "n1");
        let t0 = Instant::now();
        assert_eq!(
            c.expire_assumed(t0 + Duration::from_secs(1000), ASSUMED_POD_TTL),
            0
        );
        c.finish_binding("uid-a", t0);
        assert_eq!(
            c.expire_assumed(t0 + Duration::from_secs(1), ASSUMED_POD_TTL),
            0
        );
        assert_eq!(
            c.expire_assumed(t0 + Duration::from_secs(1000), ASSUMED_POD_TTL),
            1
        );
        assert_eq!(c.pod_count(), 0);
    }
}
