//! The scheduling loop: one thread owns the cache, the queue and the nominator, applies what
//! the watches report between cycles (so a cycle sees a consistent cluster without locks or
//! snapshots), and runs one cycle per pod: schedule, then assume and ask for a binding, or
//! preempt and report the failure (event and `PodScheduled=False` condition). Writes go out as
//! [`Action`]s to the async executor; binding results come back as [`Input::BindDone`].

use crate::SchedulerConfig;
use crate::binder::{Action, PodRef, UnschedulableCondition};
use crate::cache::{ASSUMED_POD_TTL, Cache, NodeChange, Pdb};
use crate::events::EventSpec;
use crate::framework::{Framework, NO_NODES_MSG, Rng, ScheduleError};
use crate::labels::Labels;
use crate::node_info::NodeSpec;
use crate::pod_info::PodInfo;
use crate::preemption;
use crate::queue::{ClusterEvent, Nominator, SchedulingQueue};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError, TryRecvError};
use std::time::{Duration, Instant};
use tokio::sync::mpsc::UnboundedSender;

/// Inputs processed between scheduling cycles, at most.
const MAX_INPUTS_PER_CYCLE: usize = 4096;
/// Longest sleep when idle.
const IDLE_WAIT: Duration = Duration::from_secs(1);

/// What the watches and the executor tell the loop.
#[derive(Debug)]
pub enum Input {
    Pod(Arc<PodInfo>),
    PodDeleted(String),
    PodsRelist,
    PodsSynced,
    Node(Box<NodeSpec>),
    NodeDeleted(String),
    NodesRelist,
    NodesSynced,
    Pdb(Box<Pdb>),
    PdbDeleted(String),
    PdbsRelist,
    PdbsSynced,
    Namespace(String, Labels),
    NamespaceDeleted(String),
    /// A binding finished; `error` is `(HTTP code, message)` on failure.
    BindDone {
        uid: String,
        node: String,
        error: Option<(u16, String)>,
    },
}

/// Counters for logs and tests.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub attempts: u64,
    pub scheduled: u64,
    pub unschedulable: u64,
    pub preemptions: u64,
}

/// The state the loop owns.
pub struct Core {
    config: SchedulerConfig,
    pub(crate) cache: Cache,
    pub(crate) queue: SchedulingQueue,
    pub(crate) nominator: Nominator,
    framework: Framework,
    rng: Rng,
    actions: UnboundedSender<Action>,
    pods_synced: bool,
    nodes_synced: bool,
    relist_pods: Option<HashSet<String>>,
    relist_nodes: Option<HashSet<String>>,
    relist_pdbs: Option<HashSet<String>>,
    /// Pods whose binding is in flight: the queued pod and its attempts.
    binding: HashMap<String, (Arc<PodInfo>, u32)>,
    last_expiry: Instant,
    pub(crate) stats: Stats,
}

impl Core {
    /// A loop state writing to `actions`.
    pub fn new(config: SchedulerConfig, actions: UnboundedSender<Action>) -> Core {
        let framework = Framework::new(config.score_strategy, config.percentage_of_nodes_to_score);
        Core {
            queue: SchedulingQueue::new(config.initial_backoff, config.max_backoff),
            config,
            cache: Cache::new(),
            nominator: Nominator::default(),
            framework,
            rng: Rng::from_time(),
            actions,
            pods_synced: false,
            nodes_synced: false,
            relist_pods: None,
            relist_nodes: None,
            relist_pdbs: None,
            binding: HashMap::new(),
            last_expiry: Instant::now(),
            stats: Stats::default(),
        }
    }

    fn send(&self, a: Action) {
        let _ = self.actions.send(a);
    }

    /// Whether the initial lists of pods and nodes are in.
    pub fn synced(&self) -> bool {
        self.pods_synced && self.nodes_synced
    }

    fn move_all(&mut self, ev: ClusterEvent, now: Instant) {
        self.queue.move_all(ev, now);
    }

    /// Applies one input.
    pub fn handle(&mut self, input: Input, now: Instant) {
        match input {
            Input::Pod(p) => self.on_pod(p, now),
            Input::PodDeleted(uid) => self.on_pod_deleted(&uid, now),
            Input::PodsRelist => self.relist_pods = Some(HashSet::new()),
            Input::PodsSynced => {
                if let Some(seen) = self.relist_pods.take() {
                    let gone = self.cache.retain_pods(&seen);
                    let queued: Vec<String> = self
                        .binding
                        .keys()
                        .filter(|u| !seen.contains(*u))
                        .cloned()
                        .collect();
                    for u in queued {
                        self.binding.remove(&u);
                    }
                    self.queue_retain(&seen);
                    if !gone.is_empty() {
                        self.move_all(ClusterEvent::AssignedPodDelete, now);
                    }
                }
                self.pods_synced = true;
            }
            Input::Node(spec) => {
                if let Some(seen) = self.relist_nodes.as_mut() {
                    seen.insert(spec.name.clone());
                }
                match self.cache.set_node(*spec) {
                    NodeChange::Added => self.move_all(ClusterEvent::NodeAdd, now),
                    NodeChange::Updated => self.move_all(ClusterEvent::NodeUpdate, now),
                    NodeChange::Unchanged => {}
                }
            }
            Input::NodeDeleted(name) => {
                self.cache.remove_node(&name);
            }
            Input::NodesRelist => self.relist_nodes = Some(HashSet::new()),
            Input::NodesSynced => {
                if let Some(seen) = self.relist_nodes.take() {
                    self.cache.retain_nodes(&seen);
                }
                self.nodes_synced = true;
            }
            Input::Pdb(p) => {
                if let Some(seen) = self.relist_pdbs.as_mut() {
                    seen.insert(p.key());
                }
                self.cache.set_pdb(*p);
            }
            Input::PdbDeleted(key) => self.cache.remove_pdb(&key),
            Input::PdbsRelist => self.relist_pdbs = Some(HashSet::new()),
            Input::PdbsSynced => {
                if let Some(seen) = self.relist_pdbs.take() {
                    self.cache.retain_pdbs(&seen);
                }
            }
            Input::Namespace(name, labels) => self.cache.set_namespace(&name, labels),
            Input::NamespaceDeleted(name) => self.cache.remove_namespace(&name),
            Input::BindDone { uid, node, error } => self.on_bind_done(&uid, &node, error, now),
        }
    }

    fn queue_retain(&mut self, seen: &HashSet<String>) {
        // Pods the relist did not show are gone.
        for u in self.queue.retain(|u| seen.contains(u)) {
            self.nominator.remove(&u);
        }
    }

    fn on_pod(&mut self, p: Arc<PodInfo>, now: Instant) {
        if let Some(seen) = self.relist_pods.as_mut() {
            seen.insert(p.uid.clone());
        }
        if !p.node_name.is_empty() {
            self.forget_pending(&p.uid);
            let was_counted = self.cache.contains_pod(&p.uid);
            let counted = self.cache.set_bound_pod(p);
            if counted && !was_counted {
                self.move_all(ClusterEvent::AssignedPodAdd, now);
            } else if !counted && was_counted {
                self.move_all(ClusterEvent::AssignedPodDelete, now);
            }
            return;
        }
        if p.scheduler_name != self.config.scheduler_name || p.terminal || p.deleting {
            self.forget_pending(&p.uid);
            return;
        }
        if self.cache.is_assumed(&p.uid) {
            // Our binding is in flight; this is an older unbound version.
            return;
        }
        if p.nominated_node_name.is_empty() {
            self.nominator.remove(&p.uid);
        } else {
            self.nominator
                .set(p.clone(), &p.nominated_node_name.clone());
        }
        self.queue.add(p, now);
    }

    fn forget_pending(&mut self, uid: &str) {
        self.queue.delete(uid);
        self.nominator.remove(uid);
    }

    fn on_pod_deleted(&mut self, uid: &str, now: Instant) {
        self.forget_pending(uid);
        self.binding.remove(uid);
        if self.cache.remove_pod(uid).is_some() {
            self.move_all(ClusterEvent::AssignedPodDelete, now);
        }
    }

    fn on_bind_done(&mut self, uid: &str, node: &str, error: Option<(u16, String)>, now: Instant) {
        let Some((code, msg)) = error else {
            self.cache.finish_binding(uid, now);
            self.binding.remove(uid);
            return;
        };
        tracing::debug!(uid, node, code, error = %msg, "binding failed");
        let forgotten = self.cache.forget(uid).is_some();
        if forgotten {
            self.move_all(ClusterEvent::AssignedPodDelete, now);
        }
        let Some((pod, attempts)) = self.binding.remove(uid) else {
            return;
        };
        // 404: the pod is gone; 409: it is bound already (the watch will show where).
        if code == 404 || code == 409 {
            return;
        }
        let message = format!("Binding rejected: {msg}");
        self.send(Action::Event(EventSpec::failed_scheduling(
            &PodRef::of(&pod),
            &message,
        )));
        self.send(Action::PatchStatus {
            pod: PodRef::of(&pod),
            condition: Some(UnschedulableCondition {
                reason: "SchedulerError",
                message,
            }),
            nominated_node: None,
        });
        self.queue.add_after_bind_failure(pod, attempts, now);
    }

    /// Runs one scheduling cycle if a pod is ready. Returns whether one ran.
    pub fn schedule_one(&mut self, now: Instant) -> bool {
        let Some(pod) = self.queue.pop(now) else {
            return false;
        };
        self.stats.attempts += 1;
        if self.cache.contains_pod(&pod.uid) {
            self.queue.done_scheduled(&pod.uid);
            return true;
        }
        match self.framework.schedule(&pod, &self.cache, &self.nominator) {
            Ok(r) => {
                self.stats.scheduled += 1;
                self.cache.assume(&pod, &r.node);
                self.nominator.remove(&pod.uid);
                let attempts = self.queue.attempts(&pod.uid);
                self.queue.done_scheduled(&pod.uid);
                self.binding
                    .insert(pod.uid.clone(), (pod.clone(), attempts));
                self.send(Action::Bind {
                    pod: PodRef::of(&pod),
                    node: r.node,
                });
            }
            Err(ScheduleError::NoNodes) => {
                self.stats.unschedulable += 1;
                self.queue.done_unschedulable(&pod.uid, 0, now);
                self.report_failure(&pod, NO_NODES_MSG.to_string(), None);
            }
            Err(ScheduleError::Fit(mut fe)) => {
                self.stats.unschedulable += 1;
                let out = preemption::preempt(
                    &pod,
                    &self.cache,
                    &self.nominator,
                    &fe.diagnosis,
                    &mut self.rng,
                );
                fe.post_filter_msg = out.message.clone();
                let message = fe.message();
                let mut nominated_change = None;
                match out.nominated_node {
                    Some(n) if !n.is_empty() => {
                        self.stats.preemptions += 1;
                        let mut nominated = (*pod).clone();
                        nominated.nominated_node_name = n.clone();
                        let nominated = Arc::new(nominated);
                        self.nominator.set(nominated.clone(), &n);
                        // The queued copy tries its nominated node first next time.
                        self.queue.add(nominated, now);
                        if pod.nominated_node_name != n {
                            nominated_change = Some(Some(n.clone()));
                        }
                        for v in &out.victims {
                            self.send(Action::Preempt {
                                victim: PodRef::of(v),
                                preemptor_uid: pod.uid.clone(),
                                node: n.clone(),
                                scheduler_name: self.config.scheduler_name.clone(),
                            });
                        }
                        for p in &out.clear_nominated {
                            self.nominator.remove(&p.uid);
                            self.send(Action::PatchStatus {
                                pod: PodRef::of(p),
                                condition: None,
                                nominated_node: Some(None),
                            });
                            self.queue.activate(&p.uid, now);
                        }
                    }
                    Some(_) => {
                        self.nominator.remove(&pod.uid);
                        let mut cleared = (*pod).clone();
                        cleared.nominated_node_name.clear();
                        self.queue.add(Arc::new(cleared), now);
                        nominated_change = Some(None);
                    }
                    None => {}
                }
                self.queue
                    .done_unschedulable(&pod.uid, fe.diagnosis.unschedulable_plugins, now);
                self.report_failure(&pod, message, nominated_change);
            }
        }
        true
    }

    fn report_failure(
        &mut self,
        pod: &PodInfo,
        message: String,
        nominated_change: Option<Option<String>>,
    ) {
        tracing::debug!(pod = %pod.key(), %message, "unschedulable");
        let r = PodRef::of(pod);
        self.send(Action::Event(EventSpec::failed_scheduling(&r, &message)));
        let same_condition = pod
            .scheduled_condition
            .as_ref()
            .is_some_and(|(s, reason, m)| {
                s == "False" && reason == "Unschedulable" && *m == message
            });
        if !same_condition || nominated_change.is_some() {
            self.send(Action::PatchStatus {
                pod: r,
                condition: if same_condition {
                    None
                } else {
                    Some(UnschedulableCondition {
                        reason: "Unschedulable",
                        message,
                    })
                },
                nominated_node: nominated_change,
            });
        }
    }

    /// Periodic housekeeping: expiring unconfirmed assumed pods.
    fn housekeeping(&mut self, now: Instant) {
        if now.saturating_duration_since(self.last_expiry) < Duration::from_secs(5) {
            return;
        }
        self.last_expiry = now;
        if self.cache.expire_assumed(now, ASSUMED_POD_TTL) > 0 {
            self.move_all(ClusterEvent::AssignedPodDelete, now);
        }
    }

    /// Runs until every input sender is gone.
    pub fn run(mut self, inputs: Receiver<Input>) {
        loop {
            let mut n = 0;
            loop {
                match inputs.try_recv() {
                    Ok(i) => {
                        self.handle(i, Instant::now());
                        n += 1;
                        if n >= MAX_INPUTS_PER_CYCLE {
                            break;
                        }
                    }
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => return,
                }
            }
            let now = Instant::now();
            if self.synced() {
                self.housekeeping(now);
                if self.schedule_one(now) {
                    continue;
                }
            }
            let wait = self
                .queue
                .next_wakeup()
                .map(|t| t.saturating_duration_since(now))
                .unwrap_or(IDLE_WAIT)
                .min(IDLE_WAIT);
            match inputs.recv_timeout(wait) {
                Ok(i) => self.handle(i, Instant::now()),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{NodeBuilder, PodBuilder};
    use tokio::sync::mpsc::{UnboundedReceiver, unbounded_channel};

    fn core() -> (Core, UnboundedReceiver<Action>) {
        let (tx, rx) = unbounded_channel();
        let mut c = Core::new(SchedulerConfig::default(), tx);
        let now = Instant::now();
        c.handle(Input::NodesRelist, now);
        c.handle(Input::NodesSynced, now);
        c.handle(Input::PodsRelist, now);
        c.handle(Input::PodsSynced, now);
        (c, rx)
    }

    fn node(c: &mut Core, b: NodeBuilder) {
        c.handle(
            Input::Node(Box::new(NodeSpec::from_node(&b.build()))),
            Instant::now(),
        );
    }

    fn pod(c: &mut Core, b: PodBuilder) {
        c.handle(Input::Pod(Arc::new(b.build_info())), Instant::now());
    }

    fn drain(rx: &mut UnboundedReceiver<Action>) -> Vec<Action> {
        std::iter::from_fn(|| rx.try_recv().ok()).collect()
    }

    fn binds(actions: &[Action]) -> Vec<(String, String)> {
        actions
            .iter()
            .filter_map(|a| match a {
                Action::Bind { pod, node } => Some((pod.name.clone(), node.clone())),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn binds_and_never_double_books() {
        let (mut c, mut rx) = core();
        node(
            &mut c,
            NodeBuilder::new("n1").allocatable("4", "16Gi", "110"),
        );
        for i in 0..3 {
            pod(
                &mut c,
                PodBuilder::new(&format!("p{i}")).requests("3", "1Gi"),
            );
        }
        let now = Instant::now();
        while c.schedule_one(now) {}
        let actions = drain(&mut rx);
        assert_eq!(binds(&actions), vec![("p0".to_string(), "n1".to_string())]);
        let failed: Vec<&String> = actions
            .iter()
            .filter_map(|a| match a {
                Action::Event(e) if e.reason == "FailedScheduling" => Some(&e.note),
                _ => None,
            })
            .collect();
        assert_eq!(failed.len(), 2);
        assert_eq!(
            failed[0],
            "0/1 nodes are available: 1 Insufficient cpu. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod."
        );
        // The binding succeeds and the watch shows the pod bound: still counted once.
        c.handle(
            Input::BindDone {
                uid: "uid-p0".into(),
                node: "n1".into(),
                error: None,
            },
            now,
        );
        pod(
            &mut c,
            PodBuilder::new("p0").requests("3", "1Gi").node("n1"),
        );
        assert_eq!(c.cache.node("n1").map(|n| n.pods.len()), Some(1));
        assert_eq!(c.stats.scheduled, 1);
    }

    #[test]
    fn other_schedulers_pods_are_left_alone() {
        let (mut c, mut rx) = core();
        node(&mut c, NodeBuilder::new("n1"));
        pod(&mut c, PodBuilder::new("mine"));
        pod(
            &mut c,
            PodBuilder::new("theirs").scheduler_name("other-scheduler"),
        );
        while c.schedule_one(Instant::now()) {}
        assert_eq!(
            binds(&drain(&mut rx)),
            vec![("mine".to_string(), "n1".to_string())]
        );
    }

    #[test]
    fn condition_is_patched_once_per_message() {
        let (mut c, mut rx) = core();
        node(
            &mut c,
            NodeBuilder::new("n1").taint("dedicated", "x", "NoSchedule"),
        );
        pod(&mut c, PodBuilder::new("p"));
        let t0 = Instant::now();
        assert!(c.schedule_one(t0));
        let actions = drain(&mut rx);
        let msg = "0/1 nodes are available: 1 node(s) had untolerated taint {dedicated: x}. preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling.";
        assert!(actions.iter().any(|a| matches!(a,
            Action::PatchStatus { condition: Some(c), .. } if c.reason == "Unschedulable" && c.message == msg)));
        // The watch shows the condition; a node update retries; the same failure does not
        // patch again but records the event again.
        let mut seen = PodBuilder::new("p").build();
        if let Some(s) = seen.status.as_mut() {
            s.conditions = Some(vec![k8s_openapi::api::core::v1::PodCondition {
                type_: "PodScheduled".into(),
                status: "False".into(),
                reason: Some("Unschedulable".into()),
                message: Some(msg.into()),
                ..Default::default()
            }]);
        }
        c.handle(
            Input::Pod(Arc::new(PodInfo::from_pod(&seen, &Default::default()))),
            t0,
        );
        node(
            &mut c,
            NodeBuilder::new("n1")
                .taint("dedicated", "x", "NoSchedule")
                .label("a", "b"),
        );
        assert!(c.schedule_one(t0 + Duration::from_secs(2)));
        let actions = drain(&mut rx);
        assert!(
            !actions
                .iter()
                .any(|a| matches!(a, Action::PatchStatus { .. }))
        );
        assert!(
            actions
                .iter()
                .any(|a| matches!(a, Action::Event(e) if e.reason == "FailedScheduling"))
        );
        // Removing the taint makes it schedulable.
        node(&mut c, NodeBuilder::new("n1"));
        assert!(c.schedule_one(t0 + Duration::from_secs(10)));
        assert_eq!(binds(&drain(&mut rx)).len(), 1);
    }

    #[test]
    fn preemption_nominates_evicts_and_schedules_after_victims_go() {
        let (mut c, mut rx) = core();
        node(
            &mut c,
            NodeBuilder::new("n1").allocatable("2", "16Gi", "110"),
        );
        pod(
            &mut c,
            PodBuilder::new("low")
                .requests("2", "1Gi")
                .priority(0)
                .node("n1")
                .start_time(1),
        );
        pod(
            &mut c,
            PodBuilder::new("high").requests("2", "1Gi").priority(1000),
        );
        let t0 = Instant::now();
        assert!(c.schedule_one(t0));
        let actions = drain(&mut rx);
        assert!(actions.iter().any(|a| matches!(a,
            Action::Preempt { victim, node, .. } if victim.name == "low" && node == "n1")));
        assert!(actions.iter().any(|a| matches!(a,
            Action::PatchStatus { nominated_node: Some(Some(n)), .. } if n == "n1")));
        assert_eq!(c.nominator.node_of("uid-high"), Some("n1"));
        // The nominated room is kept from lower-priority pods meanwhile.
        pod(
            &mut c,
            PodBuilder::new("other").requests("1", "1Gi").priority(0),
        );
        // The victim terminates (graceful) then goes.
        let mut going = PodBuilder::new("low")
            .requests("2", "1Gi")
            .priority(0)
            .node("n1")
            .deleting()
            .build();
        if let Some(s) = going.status.as_mut() {
            s.conditions = Some(vec![k8s_openapi::api::core::v1::PodCondition {
                type_: "DisruptionTarget".into(),
                status: "True".into(),
                reason: Some("PreemptionByScheduler".into()),
                ..Default::default()
            }]);
        }
        c.handle(
            Input::Pod(Arc::new(PodInfo::from_pod(&going, &Default::default()))),
            t0,
        );
        c.handle(Input::PodDeleted("uid-low".into()), t0);
        let t1 = t0 + Duration::from_secs(2);
        while c.schedule_one(t1) {}
        let b = binds(&drain(&mut rx));
        assert!(b.contains(&("high".to_string(), "n1".to_string())), "{b:?}");
        assert!(!b.iter().any(|(p, _)| p == "other"), "{b:?}");
    }

    #[test]
    fn failed_bindings_are_forgotten_and_retried() {
        let (mut c, mut rx) = core();
        node(&mut c, NodeBuilder::new("n1"));
        pod(&mut c, PodBuilder::new("p").requests("1", "1Gi"));
        let t0 = Instant::now();
        assert!(c.schedule_one(t0));
        assert_eq!(binds(&drain(&mut rx)).len(), 1);
        assert_eq!(
            c.cache.node("n1").map(|n| n.requested.milli_cpu),
            Some(1000)
        );
        c.handle(
            Input::BindDone {
                uid: "uid-p".into(),
                node: "n1".into(),
                error: Some((500, "boom".into())),
            },
            t0,
        );
        assert_eq!(c.cache.node("n1").map(|n| n.requested.milli_cpu), Some(0));
        let actions = drain(&mut rx);
        assert!(
            actions
                .iter()
                .any(|a| matches!(a, Action::Event(e) if e.note == "Binding rejected: boom"))
        );
        assert!(!c.schedule_one(t0), "backing off");
        assert!(c.schedule_one(t0 + Duration::from_secs(2)));
        assert_eq!(binds(&drain(&mut rx)).len(), 1);
        // A conflict means someone bound it: no retry.
        c.handle(
            Input::BindDone {
                uid: "uid-p".into(),
                node: "n1".into(),
                error: Some((409, "already assigned".into())),
            },
            t0,
        );
        assert!(!c.schedule_one(t0 + Duration::from_secs(60)));
    }

    #[test]
    fn waits_for_nodes_then_retries_on_node_add() {
        let (mut c, mut rx) = core();
        pod(&mut c, PodBuilder::new("p"));
        let t0 = Instant::now();
        assert!(c.schedule_one(t0));
        let actions = drain(&mut rx);
        assert!(
            actions
                .iter()
                .any(|a| matches!(a, Action::Event(e) if e.note == NO_NODES_MSG))
        );
        node(&mut c, NodeBuilder::new("n1"));
        assert!(c.schedule_one(t0 + Duration::from_secs(2)));
        assert_eq!(binds(&drain(&mut rx)).len(), 1);
    }

    #[test]
    fn relist_drops_vanished_objects() {
        let (mut c, _rx) = core();
        node(&mut c, NodeBuilder::new("n1"));
        node(&mut c, NodeBuilder::new("n2"));
        pod(&mut c, PodBuilder::new("bound").node("n1"));
        pod(&mut c, PodBuilder::new("pending"));
        let now = Instant::now();
        c.handle(Input::NodesRelist, now);
        node(&mut c, NodeBuilder::new("n1"));
        c.handle(Input::NodesSynced, now);
        c.handle(Input::PodsRelist, now);
        c.handle(Input::PodsSynced, now);
        assert_eq!(c.cache.nodes().len(), 1);
        assert_eq!(c.cache.pod_count(), 0);
        assert!(c.queue.is_empty());
    }
}
