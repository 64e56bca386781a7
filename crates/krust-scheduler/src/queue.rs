//! The scheduling queue (upstream's `PriorityQueue`): an active heap ordered by priority, then
//! creation time, then arrival; a backoff heap for pods that failed recently (initial backoff
//! doubling per attempt up to the maximum); an unschedulable pool that cluster events move back
//! (upstream's `MoveAllToActiveOrBackoffQueue`, restricted to pods rejected by a plugin that
//! cares about the event) and that is flushed after five minutes; and gated pods
//! (`spec.schedulingGates`). The nominator remembers where preemptors are nominated so their
//! room is kept for them. Time is passed in, so the queue is a pure data structure.

use crate::plugins::{self, PluginMask};
use crate::pod_info::PodInfo;
use std::cmp::{Ordering, Reverse};
use std::collections::{BinaryHeap, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a pod may stay in the unschedulable pool without an event moving it (upstream's
/// `podMaxInUnschedulablePodsDuration`).
pub const MAX_IN_UNSCHEDULABLE: Duration = Duration::from_secs(300);

/// A cluster change that may make unschedulable pods schedulable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClusterEvent {
    NodeAdd,
    /// A scheduling-relevant node change (labels, taints, unschedulable, allocatable).
    NodeUpdate,
    AssignedPodAdd,
    AssignedPodUpdate,
    AssignedPodDelete,
}

impl ClusterEvent {
    /// The plugins whose rejections this event may resolve (upstream's EventsToRegister).
    pub fn interested_plugins(self) -> PluginMask {
        match self {
            ClusterEvent::NodeAdd | ClusterEvent::NodeUpdate => plugins::ALL,
            ClusterEvent::AssignedPodAdd | ClusterEvent::AssignedPodUpdate => {
                plugins::POD_TOPOLOGY_SPREAD | plugins::INTER_POD_AFFINITY
            }
            ClusterEvent::AssignedPodDelete => {
                plugins::NODE_RESOURCES_FIT
                    | plugins::NODE_PORTS
                    | plugins::POD_TOPOLOGY_SPREAD
                    | plugins::INTER_POD_AFFINITY
            }
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Where {
    Active,
    Backoff,
    Unschedulable,
    Gated,
    InFlight,
}

struct Entry {
    pod: Arc<PodInfo>,
    at: Where,
    attempts: u32,
    last_failure: Option<Instant>,
    unschedulable_plugins: PluginMask,
    unschedulable_since: Option<Instant>,
    generation: u64,
    seq: u64,
}

#[derive(PartialEq, Eq)]
struct ActiveKey {
    priority: i32,
    creation_ns: i128,
    seq: u64,
    generation: u64,
    uid: String,
}

impl Ord for ActiveKey {
    fn cmp(&self, o: &Self) -> Ordering {
        self.priority
            .cmp(&o.priority)
            .then_with(|| o.creation_ns.cmp(&self.creation_ns))
            .then_with(|| o.seq.cmp(&self.seq))
    }
}

impl PartialOrd for ActiveKey {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}

/// The queue.
pub struct SchedulingQueue {
    initial_backoff: Duration,
    max_backoff: Duration,
    entries: HashMap<String, Entry>,
    active: BinaryHeap<ActiveKey>,
    backoff: BinaryHeap<Reverse<(Instant, u64, u64, String)>>,
    /// Pods in the unschedulable pool (kept apart so events need not scan every pod).
    unschedulable: HashSet<String>,
    next_seq: u64,
    next_gen: u64,
}

impl SchedulingQueue {
    /// An empty queue with the given backoff bounds.
    pub fn new(initial_backoff: Duration, max_backoff: Duration) -> SchedulingQueue {
        SchedulingQueue {
            initial_backoff,
            max_backoff: max_backoff.max(initial_backoff),
            entries: HashMap::new(),
            active: BinaryHeap::new(),
            backoff: BinaryHeap::new(),
            unschedulable: HashSet::new(),
            next_seq: 0,
            next_gen: 0,
        }
    }

    /// The backoff after `attempts` failed attempts.
    pub fn backoff_duration(&self, attempts: u32) -> Duration {
        let mut d = self.initial_backoff;
        for _ in 1..attempts {
            d = d.saturating_mul(2);
            if d >= self.max_backoff {
                return self.max_backoff;
            }
        }
        d.min(self.max_backoff)
    }

    fn backoff_expiry(&self, e: &Entry) -> Option<Instant> {
        e.last_failure.map(|t| {
            t.checked_add(self.backoff_duration(e.attempts.max(1)))
                .unwrap_or(t)
        })
    }

    fn push_active(&mut self, uid: &str) {
        self.next_gen += 1;
        let generation = self.next_gen;
        self.unschedulable.remove(uid);
        if let Some(e) = self.entries.get_mut(uid) {
            e.at = Where::Active;
            e.generation = generation;
            e.unschedulable_since = None;
            self.active.push(ActiveKey {
                priority: e.pod.priority,
                creation_ns: e.pod.creation_ns,
                seq: e.seq,
                generation,
                uid: uid.to_string(),
            });
        }
    }

    fn push_backoff(&mut self, uid: &str, now: Instant) {
        self.next_gen += 1;
        let generation = self.next_gen;
        let Some(e) = self.entries.get(uid) else {
            return;
        };
        let expiry = self.backoff_expiry(e).unwrap_or(now);
        let seq = e.seq;
        self.unschedulable.remove(uid);
        if let Some(e) = self.entries.get_mut(uid) {
            e.at = Where::Backoff;
            e.generation = generation;
            e.unschedulable_since = None;
        }
        self.backoff
            .push(Reverse((expiry, seq, generation, uid.to_string())));
    }

    /// Moves a pod out of the unschedulable pool: to backoff while it is backing off, else to
    /// the active heap.
    fn requeue(&mut self, uid: &str, now: Instant) {
        let backing_off = self
            .entries
            .get(uid)
            .and_then(|e| self.backoff_expiry(e))
            .is_some_and(|t| t > now);
        if backing_off {
            self.push_backoff(uid, now);
        } else {
            self.push_active(uid);
        }
    }

    /// Adds a pending pod, or updates it when already queued.
    pub fn add(&mut self, pod: Arc<PodInfo>, now: Instant) {
        let uid = pod.uid.clone();
        if let Some(e) = self.entries.get_mut(&uid) {
            let changed = pod.scheduling_differs(&e.pod);
            let priority_changed = pod.priority != e.pod.priority;
            let gated = pod.gated;
            e.pod = pod;
            match e.at {
                Where::Active if priority_changed => self.push_active(&uid),
                Where::Unschedulable if changed && !gated => self.requeue(&uid, now),
                Where::Gated if !gated => self.push_active(&uid),
                _ => {}
            }
            return;
        }
        self.next_seq += 1;
        let gated = pod.gated;
        self.entries.insert(
            uid.clone(),
            Entry {
                pod,
                at: Where::Gated,
                attempts: 0,
                last_failure: None,
                unschedulable_plugins: 0,
                unschedulable_since: None,
                generation: 0,
                seq: self.next_seq,
            },
        );
        if !gated {
            self.push_active(&uid);
        }
    }

    /// Removes a pod (deleted, bound elsewhere, or no longer ours).
    pub fn delete(&mut self, uid: &str) -> bool {
        self.unschedulable.remove(uid);
        self.entries.remove(uid).is_some()
    }

    /// Keeps only the pods `keep` accepts; returns the uids removed.
    pub fn retain(&mut self, keep: impl Fn(&str) -> bool) -> Vec<String> {
        let gone: Vec<String> = self.entries.keys().filter(|u| !keep(u)).cloned().collect();
        for u in &gone {
            self.entries.remove(u);
            self.unschedulable.remove(u);
        }
        gone
    }

    /// Whether the queue holds the pod.
    pub fn contains(&self, uid: &str) -> bool {
        self.entries.contains_key(uid)
    }

    /// The queued version of a pod.
    pub fn get(&self, uid: &str) -> Option<&Arc<PodInfo>> {
        self.entries.get(uid).map(|e| &e.pod)
    }

    /// Moves pods whose backoff expired to the active heap, and pods unschedulable for longer
    /// than [`MAX_IN_UNSCHEDULABLE`] back to the queue.
    pub fn flush(&mut self, now: Instant) {
        while let Some(Reverse((expiry, _, generation, uid))) = self.backoff.peek() {
            if *expiry > now {
                break;
            }
            let (generation, uid) = (*generation, uid.clone());
            self.backoff.pop();
            if self
                .entries
                .get(&uid)
                .is_some_and(|e| e.generation == generation && e.at == Where::Backoff)
            {
                self.push_active(&uid);
            }
        }
        let stale: Vec<String> = self
            .unschedulable
            .iter()
            .filter(|u| {
                self.entries.get(*u).is_some_and(|e| {
                    e.unschedulable_since
                        .is_some_and(|t| now.saturating_duration_since(t) >= MAX_IN_UNSCHEDULABLE)
                })
            })
            .cloned()
            .collect();
        for uid in stale {
            self.requeue(&uid, now);
        }
    }

    /// The highest-priority active pod, after flushing; it is in flight until one of the
    /// `done_*` calls.
    pub fn pop(&mut self, now: Instant) -> Option<Arc<PodInfo>> {
        self.flush(now);
        while let Some(k) = self.active.pop() {
            let Some(e) = self.entries.get_mut(&k.uid) else {
                continue;
            };
            if e.generation != k.generation || e.at != Where::Active {
                continue;
            }
            e.at = Where::InFlight;
            e.attempts += 1;
            return Some(e.pod.clone());
        }
        None
    }

    /// The in-flight pod was unschedulable: it waits in the unschedulable pool until an event
    /// some rejecting plugin cares about (or the periodic flush) moves it.
    pub fn done_unschedulable(&mut self, uid: &str, plugins: PluginMask, now: Instant) {
        if let Some(e) = self.entries.get_mut(uid) {
            self.unschedulable.insert(uid.to_string());
            e.at = Where::Unschedulable;
            e.last_failure = Some(now);
            e.unschedulable_plugins = plugins;
            e.unschedulable_since = Some(now);
            e.generation = 0;
        }
    }

    /// The in-flight pod failed with an error (or its binding failed): it retries after its
    /// backoff.
    pub fn done_error(&mut self, uid: &str, now: Instant) {
        if let Some(e) = self.entries.get_mut(uid) {
            e.last_failure = Some(now);
            e.unschedulable_plugins = 0;
        }
        self.push_backoff(uid, now);
    }

    /// The in-flight pod was assumed onto a node: the queue forgets it.
    pub fn done_scheduled(&mut self, uid: &str) {
        self.unschedulable.remove(uid);
        self.entries.remove(uid);
    }

    /// Re-adds a pod whose binding failed, with backoff.
    pub fn add_after_bind_failure(&mut self, pod: Arc<PodInfo>, attempts: u32, now: Instant) {
        let uid = pod.uid.clone();
        self.add(pod, now);
        if let Some(e) = self.entries.get_mut(&uid) {
            e.attempts = e.attempts.max(attempts).max(1);
            e.last_failure = Some(now);
        }
        self.push_backoff(&uid, now);
    }

    /// Upstream's `MoveAllToActiveOrBackoffQueue`: unschedulable pods rejected by a plugin
    /// interested in the event go back to the queue. Returns how many moved.
    pub fn move_all(&mut self, event: ClusterEvent, now: Instant) -> usize {
        let mask = event.interested_plugins();
        let movable: Vec<String> = self
            .unschedulable
            .iter()
            .filter(|u| {
                self.entries.get(*u).is_some_and(|e| {
                    e.at == Where::Unschedulable
                        && (e.unschedulable_plugins == 0 || e.unschedulable_plugins & mask != 0)
                })
            })
            .cloned()
            .collect();
        for uid in &movable {
            self.requeue(uid, now);
        }
        movable.len()
    }

    /// Moves one unschedulable pod back to the queue.
    pub fn activate(&mut self, uid: &str, now: Instant) {
        if self
            .entries
            .get(uid)
            .is_some_and(|e| e.at == Where::Unschedulable)
        {
            self.requeue(uid, now);
        }
    }

    /// Attempts made so far for a queued pod.
    pub fn attempts(&self, uid: &str) -> u32 {
        self.entries.get(uid).map(|e| e.attempts).unwrap_or(0)
    }

    /// When the queue next needs attention (a backoff expiry or the unschedulable flush).
    pub fn next_wakeup(&self) -> Option<Instant> {
        let backoff = self.backoff.peek().map(|Reverse((t, ..))| *t);
        let leftover = self
            .unschedulable
            .iter()
            .filter_map(|u| self.entries.get(u).and_then(|e| e.unschedulable_since))
            .min()
            .map(|t| t + MAX_IN_UNSCHEDULABLE);
        match (backoff, leftover) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Number of pending pods the queue holds.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the queue is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// Where preemptors are nominated (upstream's nominator): their room on the node is kept for
/// them while their victims terminate.
#[derive(Default)]
pub struct Nominator {
    by_node: HashMap<String, Vec<Arc<PodInfo>>>,
    node_of: HashMap<String, String>,
}

impl Nominator {
    /// Records (or moves, or clears with `""`) a pod's nomination.
    pub fn set(&mut self, pod: Arc<PodInfo>, node: &str) {
        self.remove(&pod.uid);
        if node.is_empty() {
            return;
        }
        self.node_of.insert(pod.uid.clone(), node.to_string());
        self.by_node.entry(node.to_string()).or_default().push(pod);
    }

    /// Forgets a pod's nomination.
    pub fn remove(&mut self, uid: &str) {
        if let Some(node) = self.node_of.remove(uid)
            && let Some(list) = self.by_node.get_mut(&node)
        {
            list.retain(|p| p.uid != uid);
            if list.is_empty() {
                self.by_node.remove(&node);
            }
        }
    }

    /// The pods nominated to a node.
    pub fn pods_for(&self, node: &str) -> &[Arc<PodInfo>] {
        self.by_node.get(node).map(Vec::as_slice).unwrap_or(&[])
    }

    /// The node a pod is nominated to.
    pub fn node_of(&self, uid: &str) -> Option<&str> {
        self.node_of.get(uid).map(String::as_str)
    }

    /// Whether nothing is nominated anywhere.
    pub fn is_empty(&self) -> bool {
        self.node_of.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::PodBuilder;

    fn pod(name: &str, prio: i32, created: i64) -> Arc<PodInfo> {
        Arc::new(
            PodBuilder::new(name)
                .priority(prio)
                .created(created)
                .build_info(),
        )
    }

    fn q() -> SchedulingQueue {
        SchedulingQueue::new(Duration::from_secs(1), Duration::from_secs(10))
    }

    #[test]
    fn orders_by_priority_then_creation_then_arrival() {
        let now = Instant::now();
        let mut q = q();
        q.add(pod("low-old", 0, 1), now);
        q.add(pod("high-new", 100, 50), now);
        q.add(pod("low-new", 0, 20), now);
        q.add(pod("high-old", 100, 10), now);
        q.add(pod("low-new-2", 0, 20), now);
        let order: Vec<String> =
            std::iter::from_fn(|| q.pop(now).map(|p| p.name.clone())).collect();
        assert_eq!(
            order,
            vec!["high-old", "high-new", "low-old", "low-new", "low-new-2"]
        );
    }

    #[test]
    fn backoff_doubles_to_max() {
        let q = q();
        let want = [1, 1, 2, 4, 8, 10, 10];
        for (attempts, secs) in want.iter().enumerate() {
            assert_eq!(
                q.backoff_duration(attempts as u32),
                Duration::from_secs(*secs),
                "attempts {attempts}"
            );
        }
    }

    #[test]
    fn unschedulable_pods_move_on_interesting_events_with_backoff() {
        let t0 = Instant::now();
        let mut q = q();
        q.add(pod("a", 0, 1), t0);
        assert!(q.pop(t0).is_some());
        q.done_unschedulable("uid-a", plugins::NODE_RESOURCES_FIT, t0);
        assert!(
            q.pop(t0 + Duration::from_secs(30)).is_none(),
            "stays unschedulable"
        );
        // A pod add does not help a resource failure.
        assert_eq!(q.move_all(ClusterEvent::AssignedPodAdd, t0), 0);
        // A pod delete does; still backing off (1s) so it waits.
        assert_eq!(q.move_all(ClusterEvent::AssignedPodDelete, t0), 1);
        assert!(q.pop(t0 + Duration::from_millis(500)).is_none());
        let p = q.pop(t0 + Duration::from_millis(1100));
        assert_eq!(p.map(|p| p.name.clone()), Some("a".into()));
        // Second failure: 2s backoff from the failure.
        let t1 = t0 + Duration::from_secs(2);
        q.done_unschedulable("uid-a", plugins::NODE_RESOURCES_FIT, t1);
        q.move_all(ClusterEvent::NodeAdd, t1);
        assert!(q.pop(t1 + Duration::from_millis(1500)).is_none());
        assert!(q.pop(t1 + Duration::from_millis(2100)).is_some());
    }

    #[test]
    fn leftover_unschedulable_pods_flush_after_five_minutes() {
        let t0 = Instant::now();
        let mut q = q();
        q.add(pod("a", 0, 1), t0);
        q.pop(t0);
        q.done_unschedulable("uid-a", plugins::NODE_AFFINITY, t0);
        assert!(q.pop(t0 + Duration::from_secs(299)).is_none());
        assert_eq!(q.next_wakeup(), Some(t0 + MAX_IN_UNSCHEDULABLE));
        assert!(q.pop(t0 + Duration::from_secs(301)).is_some());
    }

    #[test]
    fn updates_requeue_unschedulable_pods_and_priority_changes_reorder() {
        let t0 = Instant::now();
        let mut q = q();
        q.add(pod("a", 0, 1), t0);
        q.pop(t0);
        q.done_unschedulable("uid-a", plugins::NODE_AFFINITY, t0);
        // A status-only update (same scheduling fields) does not move it.
        q.add(pod("a", 0, 1), t0);
        assert!(q.pop(t0 + Duration::from_secs(5)).is_none());
        // A label change does.
        let changed = Arc::new(
            PodBuilder::new("a")
                .priority(0)
                .created(1)
                .label("x", "y")
                .build_info(),
        );
        q.add(changed, t0 + Duration::from_secs(5));
        assert!(q.pop(t0 + Duration::from_secs(5)).is_some());

        q.add(pod("b", 0, 1), t0);
        q.add(pod("c", 0, 2), t0);
        q.add(pod("c", 50, 2), t0);
        assert_eq!(q.pop(t0).map(|p| p.name.clone()), Some("c".into()));
    }

    #[test]
    fn errors_back_off_and_gated_pods_wait() {
        let t0 = Instant::now();
        let mut q = q();
        q.add(pod("a", 0, 1), t0);
        q.pop(t0);
        q.done_error("uid-a", t0);
        assert!(q.pop(t0).is_none());
        assert!(q.pop(t0 + Duration::from_secs(1)).is_some());

        let mut gated = PodBuilder::new("g").build();
        if let Some(s) = gated.spec.as_mut() {
            s.scheduling_gates = Some(vec![k8s_openapi::api::core::v1::PodSchedulingGate {
                name: "x".into(),
            }]);
        }
        let info = PodInfo::from_pod(&gated, &Default::default());
        q.add(Arc::new(info), t0);
        assert!(q.pop(t0).is_none());
        q.add(Arc::new(PodBuilder::new("g").build_info()), t0);
        assert_eq!(q.pop(t0).map(|p| p.name.clone()), Some("g".into()));
        q.done_scheduled("uid-g");
        assert!(!q.contains("uid-g"));
    }

    #[test]
    fn nominator_tracks_nodes() {
        let mut n = Nominator::default();
        let p = pod("a", 10, 1);
        n.set(p.clone(), "n1");
        assert_eq!(n.pods_for("n1").len(), 1);
        n.set(p.clone(), "n2");
        assert!(n.pods_for("n1").is_empty());
        assert_eq!(n.node_of("uid-a"), Some("n2"));
        n.set(p, "");
        assert!(n.is_empty());
    }
}
