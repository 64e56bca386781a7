//! The scheduling framework (upstream's `schedulePod`): PreFilter, Filter over the nodes in
//! parallel chunks starting from a rotating index and stopping once
//! `numFeasibleNodesToFind` nodes fit (trying a preemptor's nominated node first, and keeping
//! nominated pods' room), PreScore and Score with upstream's weights and normalizations, and
//! host selection with ties broken by reservoir sampling. A failure becomes a [`FitError`]
//! whose message is upstream's ("0/3 nodes are available: 1 Insufficient cpu, ...").

use crate::ScoreStrategy;
use crate::cache::Cache;
use crate::node_info::{NodeInfo, NodeSpec};
use crate::plugins::{
    self, PluginMask, balanced_allocation, image_locality, inter_pod_affinity, node_affinity,
    node_name, node_ports, node_resources_fit, node_unschedulable, pod_topology_spread,
    taint_toleration, weights,
};
use crate::pod_info::PodInfo;
use crate::queue::Nominator;
use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The highest score a plugin gives a node.
pub const MAX_NODE_SCORE: i64 = 100;
const MIN_FEASIBLE_NODES_TO_FIND: usize = 100;
const MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND: usize = 5;
/// Nodes per unit of parallel filtering work.
const CHUNK: usize = 64;

/// Why a node was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Code {
    /// Preemption may help.
    Unschedulable,
    /// Preemption cannot help.
    UnschedulableAndUnresolvable,
}

/// A plugin's rejection of a node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Status {
    pub code: Code,
    /// The rejecting plugin's bit (0 for none).
    pub plugin: PluginMask,
    pub reasons: Vec<Cow<'static, str>>,
}

impl Status {
    /// An `Unschedulable` status.
    pub fn unschedulable(plugin: PluginMask, reason: &'static str) -> Status {
        Status {
            code: Code::Unschedulable,
            plugin,
            reasons: vec![Cow::Borrowed(reason)],
        }
    }

    /// An `UnschedulableAndUnresolvable` status.
    pub fn unresolvable(plugin: PluginMask, reason: &'static str) -> Status {
        Status {
            code: Code::UnschedulableAndUnresolvable,
            plugin,
            reasons: vec![Cow::Borrowed(reason)],
        }
    }

    /// An `UnschedulableAndUnresolvable` status with a formatted reason.
    pub fn unresolvable_owned(plugin: PluginMask, reason: String) -> Status {
        Status {
            code: Code::UnschedulableAndUnresolvable,
            plugin,
            reasons: vec![Cow::Owned(reason)],
        }
    }

    /// The reasons joined, for logs and errors.
    pub fn message(&self) -> String {
        self.reasons.join(", ")
    }
}

/// Upstream's `DefaultNormalizeScore`: scales to 0-100 by the maximum, optionally reversed.
pub fn default_normalize(scores: &mut [i64], reverse: bool) {
    let max = scores.iter().copied().max().unwrap_or(0).max(0);
    if max == 0 {
        if reverse {
            scores.iter_mut().for_each(|s| *s = MAX_NODE_SCORE);
        }
        return;
    }
    for s in scores.iter_mut() {
        let v = (i128::from(MAX_NODE_SCORE) * i128::from(*s) / i128::from(max)) as i64;
        *s = if reverse { MAX_NODE_SCORE - v } else { v };
    }
}

/// Upstream's `numFeasibleNodesToFind`: every node below 100, else a percentage (adaptive
/// `50 - nodes/125`, at least 5%) but at least 100 nodes.
pub fn num_feasible_nodes_to_find(percentage: Option<u32>, num_all_nodes: usize) -> usize {
    if num_all_nodes < MIN_FEASIBLE_NODES_TO_FIND {
        return num_all_nodes;
    }
    let pct = match percentage {
        Some(p) if p > 0 => (p as usize).min(100),
        _ => 50usize
            .saturating_sub(num_all_nodes / 125)
            .max(MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND),
    };
    (num_all_nodes * pct / 100).max(MIN_FEASIBLE_NODES_TO_FIND)
}

/// Per-cycle plugin state computed by PreFilter (upstream's `CycleState`).
#[derive(Clone, Debug, Default)]
pub struct CycleState {
    pub spread: Option<pod_topology_spread::FilterState>,
    pub ipa: Option<inter_pod_affinity::FilterState>,
}

impl CycleState {
    /// Runs the PreFilter plugins that keep state.
    pub fn pre_filter(pod: &PodInfo, cache: &Cache) -> CycleState {
        CycleState {
            spread: pod_topology_spread::pre_filter(pod, cache),
            ipa: inter_pod_affinity::pre_filter(pod, cache),
        }
    }

    /// Upstream's `RunPreFilterExtensionAddPod` (delta 1) / `RemovePod` (delta -1).
    pub fn update_with_pod(
        &mut self,
        other: &PodInfo,
        pod: &PodInfo,
        node: &NodeSpec,
        delta: i64,
        cache: &Cache,
    ) {
        if let Some(s) = self.spread.as_mut() {
            s.update_with_pod(other, pod, node, delta);
        }
        if let Some(s) = self.ipa.as_mut() {
            s.update_with_pod(other, pod, node, delta, cache);
        }
    }
}

/// Runs every filter plugin in upstream's order; the first rejection wins.
pub fn run_filters(
    state: &CycleState,
    pod: &PodInfo,
    node: &NodeInfo,
    cache: &Cache,
) -> Result<(), Status> {
    node_unschedulable::filter(pod, node)?;
    node_name::filter(pod, node)?;
    taint_toleration::filter(pod, node)?;
    node_affinity::filter(pod, node)?;
    node_ports::filter(pod, node)?;
    node_resources_fit::filter(pod, node)?;
    if let Some(s) = &state.spread {
        pod_topology_spread::filter(s, pod, node)?;
    }
    if let Some(s) = &state.ipa {
        inter_pod_affinity::filter(s, pod, node, cache)?;
    }
    Ok(())
}

/// Upstream's `RunFilterPluginsWithNominatedPods`: when pods of equal or higher priority are
/// nominated to the node, the pod must fit both with them added and without them.
pub fn run_filters_with_nominated(
    state: &CycleState,
    pod: &PodInfo,
    node: &NodeInfo,
    cache: &Cache,
    nominator: &Nominator,
) -> Result<(), Status> {
    if nominator.is_empty() {
        return run_filters(state, pod, node, cache);
    }
    let nominated: Vec<&Arc<PodInfo>> = nominator
        .pods_for(node.name())
        .iter()
        .filter(|p| p.uid != pod.uid && p.priority >= pod.priority && !cache.contains_pod(&p.uid))
        .collect();
    if nominated.is_empty() {
        return run_filters(state, pod, node, cache);
    }
    let mut ni = node.clone();
    let mut st = state.clone();
    for p in nominated {
        st.update_with_pod(p, pod, &ni.node.clone(), 1, cache);
        ni.add_pod(p.clone());
    }
    run_filters(&st, pod, &ni, cache)?;
    run_filters(state, pod, node, cache)
}

/// Why a pod fits no node, and what it takes to say so.
#[derive(Clone, Debug, Default)]
pub struct Diagnosis {
    /// Rejections by node position in [`Cache::nodes`].
    pub statuses: Vec<(usize, Status)>,
    /// The status of nodes not evaluated (narrowed away by a PreFilter result).
    pub absent: Option<Status>,
    /// Every plugin that rejected some node.
    pub unschedulable_plugins: PluginMask,
}

impl Diagnosis {
    /// The rejection code of every node, by position.
    pub fn codes(&self, num_nodes: usize) -> Vec<Option<Code>> {
        let mut out = vec![self.absent.as_ref().map(|s| s.code); num_nodes];
        for (i, s) in &self.statuses {
            if let Some(slot) = out.get_mut(*i) {
                *slot = Some(s.code);
            }
        }
        out
    }
}

/// Upstream's `FitError`.
#[derive(Clone, Debug, Default)]
pub struct FitError {
    pub num_all_nodes: usize,
    pub diagnosis: Diagnosis,
    /// The PostFilter (preemption) message, e.g. `preemption: 0/3 nodes are available: ...`.
    pub post_filter_msg: String,
}

/// Formats upstream's "0/N nodes are available: <sorted reason histogram>." sentence.
pub fn nodes_available_message(
    num_all_nodes: usize,
    statuses: &[(usize, Status)],
    absent: Option<&Status>,
) -> String {
    let mut msg = format!("0/{num_all_nodes} nodes are available:");
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for (_, s) in statuses {
        for r in &s.reasons {
            *counts.entry(r.as_ref()).or_insert(0) += 1;
        }
    }
    if let Some(a) = absent {
        let n = num_all_nodes.saturating_sub(statuses.len());
        if n > 0 {
            for r in &a.reasons {
                *counts.entry(r.as_ref()).or_insert(0) += n;
            }
        }
    }
    let mut parts: Vec<String> = counts.iter().map(|(r, n)| format!("{n} {r}")).collect();
    parts.sort();
    if !parts.is_empty() {
        msg.push(' ');
        msg.push_str(&parts.join(", "));
        msg.push('.');
    }
    msg
}

impl FitError {
    /// Upstream's `FitError.Error()`.
    pub fn message(&self) -> String {
        let mut msg = nodes_available_message(
            self.num_all_nodes,
            &self.diagnosis.statuses,
            self.diagnosis.absent.as_ref(),
        );
        if !self.post_filter_msg.is_empty() {
            msg.push(' ');
            msg.push_str(&self.post_filter_msg);
        }
        msg
    }
}

/// Why scheduling failed.
#[derive(Clone, Debug)]
pub enum ScheduleError {
    /// The cluster has no nodes.
    NoNodes,
    /// No node fits.
    Fit(Box<FitError>),
}

/// Upstream's `ErrNoNodesAvailable`.
pub const NO_NODES_MSG: &str = "no nodes available to schedule pods";

/// A successful decision.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScheduleResult {
    pub node: String,
    /// Nodes filtered.
    pub evaluated: usize,
    /// Nodes that fit.
    pub feasible: usize,
}

/// A small xorshift generator for tie-breaking (no cryptographic use).
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// Seeded from the clock.
    pub fn from_time() -> Rng {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0x9E37_79B9_7F4A_7C15);
        Rng::seeded(nanos)
    }

    /// A fixed seed.
    pub fn seeded(seed: u64) -> Rng {
        Rng(seed | 1)
    }

    /// The next value.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// A value in `0..n` (`n` > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next_u64() % n }
    }
}

/// Upstream's `selectHost`: the highest total, ties broken uniformly at random by reservoir
/// sampling. Returns a position in `totals`.
pub fn select_host(totals: &[i64], rng: &mut Rng) -> Option<usize> {
    let mut best: Option<(usize, i64)> = None;
    let mut ties = 0u64;
    for (i, &s) in totals.iter().enumerate() {
        match best {
            None => {
                best = Some((i, s));
                ties = 1;
            }
            Some((_, b)) if s > b => {
                best = Some((i, s));
                ties = 1;
            }
            Some((_, b)) if s == b => {
                ties += 1;
                if rng.below(ties) == 0 {
                    best = Some((i, s));
                }
            }
            _ => {}
        }
    }
    best.map(|(i, _)| i)
}

/// The nodes a cycle filters: all, or a PreFilter-narrowed list.
enum Candidates {
    All(usize),
    List(Vec<usize>),
}

impl Candidates {
    fn len(&self) -> usize {
        match self {
            Candidates::All(n) => *n,
            Candidates::List(l) => l.len(),
        }
    }

    fn get(&self, i: usize) -> usize {
        match self {
            Candidates::All(_) => i,
            Candidates::List(l) => l.get(i).copied().unwrap_or(0),
        }
    }
}

/// The framework of one profile.
pub struct Framework {
    pub strategy: ScoreStrategy,
    pub percentage_of_nodes_to_score: Option<u32>,
    /// Threads used for filtering large clusters.
    pub parallelism: usize,
    /// Clusters with fewer candidate nodes are filtered on the calling thread.
    pub parallel_min_nodes: usize,
    next_start_node_index: usize,
    rng: Rng,
}

type FilterOutcome = (Vec<usize>, Vec<(usize, Status)>);
/// One chunk's filter results: its number and each node's outcome, in order.
type ChunkResult = (usize, Vec<(usize, Result<(), Status>)>);

impl Framework {
    /// A framework with the given scoring strategy and percentage.
    pub fn new(strategy: ScoreStrategy, percentage_of_nodes_to_score: Option<u32>) -> Framework {
        let parallelism = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
            .min(16);
        Framework {
            strategy,
            percentage_of_nodes_to_score,
            parallelism,
            parallel_min_nodes: 1024,
            next_start_node_index: 0,
            rng: Rng::from_time(),
        }
    }

    /// Replaces the tie-breaking generator (tests).
    pub fn with_rng(mut self, rng: Rng) -> Framework {
        self.rng = rng;
        self
    }

    /// Finds a node for the pod.
    pub fn schedule(
        &mut self,
        pod: &PodInfo,
        cache: &Cache,
        nominator: &Nominator,
    ) -> Result<ScheduleResult, ScheduleError> {
        let nodes = cache.nodes();
        if nodes.is_empty() {
            return Err(ScheduleError::NoNodes);
        }
        let state = CycleState::pre_filter(pod, cache);

        // A preemptor's nominated node is likely the only one that fits: try it first.
        if !pod.nominated_node_name.is_empty()
            && let Some(ni) = cache.node(&pod.nominated_node_name)
            && run_filters_with_nominated(&state, pod, ni, cache, nominator).is_ok()
        {
            return Ok(ScheduleResult {
                node: pod.nominated_node_name.clone(),
                evaluated: 1,
                feasible: 1,
            });
        }

        let mut diagnosis = Diagnosis::default();
        let candidates = match node_affinity::pre_filter(pod) {
            Some(names) => {
                diagnosis.absent = Some(Status::unresolvable_owned(
                    plugins::NODE_AFFINITY,
                    format!(
                        "node(s) didn't satisfy plugin(s) [{}]",
                        plugins::name(plugins::NODE_AFFINITY)
                    ),
                ));
                diagnosis.unschedulable_plugins |= plugins::NODE_AFFINITY;
                Candidates::List(names.iter().filter_map(|n| cache.node_index(n)).collect())
            }
            None => Candidates::All(nodes.len()),
        };

        let (feasible, failed) = self.find_feasible(pod, &state, cache, nominator, &candidates);
        let processed = feasible.len() + failed.len();
        self.next_start_node_index = (self.next_start_node_index + processed) % nodes.len();

        if feasible.is_empty() {
            for (_, s) in &failed {
                diagnosis.unschedulable_plugins |= s.plugin;
            }
            diagnosis.statuses = failed;
            return Err(ScheduleError::Fit(Box::new(FitError {
                num_all_nodes: nodes.len(),
                diagnosis,
                post_filter_msg: String::new(),
            })));
        }
        let evaluated = processed;
        let n_feasible = feasible.len();
        let chosen = if feasible.len() == 1 {
            feasible[0]
        } else {
            let totals = self.score(pod, cache, &feasible);
            let pos = select_host(&totals, &mut self.rng).unwrap_or(0);
            feasible[pos]
        };
        Ok(ScheduleResult {
            node: nodes
                .get(chosen)
                .map(|n| n.name().to_string())
                .unwrap_or_default(),
            evaluated,
            feasible: n_feasible,
        })
    }

    fn find_feasible(
        &self,
        pod: &PodInfo,
        state: &CycleState,
        cache: &Cache,
        nominator: &Nominator,
        candidates: &Candidates,
    ) -> FilterOutcome {
        let n = candidates.len();
        if n == 0 {
            return (Vec::new(), Vec::new());
        }
        let want = num_feasible_nodes_to_find(self.percentage_of_nodes_to_score, n).max(1);
        let start = self.next_start_node_index % n;
        let nodes = cache.nodes();
        let check = |pos: usize| -> (usize, Result<(), Status>) {
            let idx = candidates.get((start + pos) % n);
            let r = match nodes.get(idx) {
                Some(ni) => run_filters_with_nominated(state, pod, ni, cache, nominator),
                None => Err(Status::unresolvable(0, "node not found")),
            };
            (idx, r)
        };
        // The first `parallel_min_nodes` positions are filtered on this thread: most pods find
        // enough feasible nodes there, and waking threads costs more than it saves. Long scans
        // (few nodes fit, or expensive filters) continue in parallel.
        let mut feasible = Vec::new();
        let mut failed = Vec::new();
        let threads = self.parallelism.min(n.div_ceil(CHUNK));
        let serial_end = if threads <= 1 {
            n
        } else {
            self.parallel_min_nodes.min(n)
        };
        for pos in 0..serial_end {
            match check(pos) {
                (idx, Ok(())) => {
                    feasible.push(idx);
                    if feasible.len() >= want {
                        return (feasible, failed);
                    }
                }
                (idx, Err(s)) => failed.push((idx, s)),
            }
        }
        if serial_end >= n {
            return (feasible, failed);
        }
        let want = want - feasible.len();
        let rest = n - serial_end;
        let threads = threads.min(rest.div_ceil(CHUNK)).max(1);
        let next_chunk = AtomicUsize::new(0);
        let found = AtomicUsize::new(0);
        let work = || {
            let mut out: Vec<ChunkResult> = Vec::new();
            loop {
                if found.load(Ordering::Relaxed) >= want {
                    break;
                }
                let c = next_chunk.fetch_add(1, Ordering::Relaxed);
                let begin = serial_end + c * CHUNK;
                if begin >= n {
                    break;
                }
                let end = (begin + CHUNK).min(n);
                let results: Vec<(usize, Result<(), Status>)> = (begin..end).map(check).collect();
                let ok = results.iter().filter(|(_, r)| r.is_ok()).count();
                found.fetch_add(ok, Ordering::Relaxed);
                out.push((c, results));
            }
            out
        };
        let mut chunks = std::thread::scope(|s| {
            let handles: Vec<_> = (1..threads).map(|_| s.spawn(work)).collect();
            let mut all = work();
            for h in handles {
                if let Ok(mut part) = h.join() {
                    all.append(&mut part);
                }
            }
            all
        });
        chunks.sort_by_key(|(c, _)| *c);
        let mut found = 0;
        'outer: for (_, results) in chunks {
            for (idx, r) in results {
                match r {
                    Ok(()) => {
                        feasible.push(idx);
                        found += 1;
                        if found >= want {
                            break 'outer;
                        }
                    }
                    Err(s) => failed.push((idx, s)),
                }
            }
        }
        (feasible, failed)
    }

    /// Runs the score plugins over the feasible nodes and returns the weighted totals.
    pub fn score(&self, pod: &PodInfo, cache: &Cache, feasible: &[usize]) -> Vec<i64> {
        let nodes = cache.nodes();
        let get = |idx: usize| nodes.get(idx);
        let mut totals = vec![0i64; feasible.len()];
        let mut scratch = vec![0i64; feasible.len()];
        let skip_balanced = balanced_allocation::skip(pod);
        let total_nodes = nodes.len();
        let score_images = !pod.images.is_empty();
        for (i, &idx) in feasible.iter().enumerate() {
            let Some(ni) = get(idx) else { continue };
            let mut t =
                weights::NODE_RESOURCES_FIT * node_resources_fit::score(pod, ni, self.strategy);
            if !skip_balanced {
                t = t.saturating_add(
                    weights::BALANCED_ALLOCATION
                        .saturating_mul(balanced_allocation::score(pod, ni)),
                );
            }
            if score_images && !ni.node.images.is_empty() {
                t = t.saturating_add(
                    weights::IMAGE_LOCALITY
                        * image_locality::score(pod, ni, total_nodes, |img| {
                            cache.image_num_nodes(img)
                        }),
                );
            }
            scratch[i] = taint_toleration::score(pod, ni);
            totals[i] = t;
        }
        taint_toleration::normalize(&mut scratch);
        add_weighted(&mut totals, &scratch, weights::TAINT_TOLERATION);

        if node_affinity::has_preferred(pod) {
            for (i, &idx) in feasible.iter().enumerate() {
                scratch[i] = get(idx)
                    .map(|ni| node_affinity::score(pod, ni))
                    .unwrap_or(0);
            }
            node_affinity::normalize(&mut scratch);
            add_weighted(&mut totals, &scratch, weights::NODE_AFFINITY);
        }
        if let Some(st) = inter_pod_affinity::pre_score(pod, cache) {
            for (i, &idx) in feasible.iter().enumerate() {
                scratch[i] = get(idx)
                    .map(|ni| inter_pod_affinity::score(&st, ni))
                    .unwrap_or(0);
            }
            inter_pod_affinity::normalize(&mut scratch);
            add_weighted(&mut totals, &scratch, weights::INTER_POD_AFFINITY);
        }
        if let Some(st) = pod_topology_spread::pre_score(pod, cache, feasible) {
            for (i, &idx) in feasible.iter().enumerate() {
                scratch[i] = get(idx)
                    .map(|ni| pod_topology_spread::score(&st, pod, ni, i))
                    .unwrap_or(0);
            }
            pod_topology_spread::normalize(&st, &mut scratch);
            add_weighted(&mut totals, &scratch, weights::POD_TOPOLOGY_SPREAD);
        }
        totals
    }
}

fn add_weighted(totals: &mut [i64], scores: &[i64], weight: i64) {
    for (t, s) in totals.iter_mut().zip(scores) {
        *t = t.saturating_add(s.saturating_mul(weight));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{NodeBuilder, PodBuilder};

    #[test]
    fn feasible_nodes_to_find() {
        let cases = [
            (None, 10, 10),
            (None, 99, 99),
            (None, 100, 100),
            (None, 500, 230),  // 50 - 4 = 46%
            (None, 1000, 420), // 42%
            (None, 5000, 500), // 10%
            (None, 6000, 300), // 2% -> 5%
            (None, 1500, 570), // 38%
            (Some(100), 5000, 5000),
            (Some(1), 5000, 100),
            (Some(0), 5000, 500),
            (Some(30), 1000, 300),
        ];
        for (pct, n, want) in cases {
            assert_eq!(num_feasible_nodes_to_find(pct, n), want, "{pct:?} {n}");
        }
    }

    #[test]
    fn fit_error_message_format() {
        let taint = "node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }";
        let statuses = vec![
            (
                0,
                Status::unschedulable(plugins::NODE_RESOURCES_FIT, "Insufficient cpu"),
            ),
            (1, Status::unresolvable(plugins::TAINT_TOLERATION, taint)),
            (2, Status::unresolvable(plugins::TAINT_TOLERATION, taint)),
        ];
        let fe = FitError {
            num_all_nodes: 3,
            diagnosis: Diagnosis {
                statuses,
                absent: None,
                unschedulable_plugins: 0,
            },
            post_filter_msg:
                "preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling."
                    .into(),
        };
        assert_eq!(
            fe.message(),
            "0/3 nodes are available: 1 Insufficient cpu, 2 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling."
        );
        // Several reasons of one node each count; sorting is by the whole string.
        let multi = vec![(
            0,
            Status {
                code: Code::Unschedulable,
                plugin: plugins::NODE_RESOURCES_FIT,
                reasons: vec!["Insufficient memory".into(), "Insufficient cpu".into()],
            },
        )];
        assert_eq!(
            nodes_available_message(1, &multi, None),
            "0/1 nodes are available: 1 Insufficient cpu, 1 Insufficient memory."
        );
        // Absent nodes take the absent status.
        let absent = Status::unresolvable(0, "Preemption is not helpful for scheduling");
        assert_eq!(
            nodes_available_message(
                12,
                &[(
                    0,
                    Status::unschedulable(0, "No preemption victims found for incoming pod")
                )],
                Some(&absent)
            ),
            "0/12 nodes are available: 1 No preemption victims found for incoming pod, 11 Preemption is not helpful for scheduling."
        );
        assert_eq!(
            nodes_available_message(0, &[], None),
            "0/0 nodes are available:"
        );
    }

    #[test]
    fn normalize_and_select() {
        let mut s = vec![0, 5, 10];
        default_normalize(&mut s, false);
        assert_eq!(s, vec![0, 50, 100]);
        let mut s = vec![0, 0];
        default_normalize(&mut s, true);
        assert_eq!(s, vec![100, 100]);
        let mut rng = Rng::seeded(7);
        assert_eq!(select_host(&[1, 5, 3], &mut rng), Some(1));
        assert_eq!(select_host(&[], &mut rng), None);
        // Ties are spread roughly uniformly.
        let mut hits = [0usize; 3];
        for _ in 0..3000 {
            if let Some(i) = select_host(&[9, 9, 9], &mut rng) {
                hits[i] += 1;
            }
        }
        assert!(hits.iter().all(|h| *h > 800), "{hits:?}");
    }

    fn cluster(n: usize) -> Cache {
        let mut c = Cache::new();
        for i in 0..n {
            c.set_node(
                NodeBuilder::new(&format!("node-{i}"))
                    .label("topology.kubernetes.io/zone", &format!("zone-{}", i % 10))
                    .build_spec(),
            );
        }
        c
    }

    #[test]
    fn schedules_and_reports_fit_errors() {
        let mut c = Cache::new();
        c.set_node(
            NodeBuilder::new("small")
                .allocatable("1", "1Gi", "110")
                .build_spec(),
        );
        c.set_node(
            NodeBuilder::new("cp")
                .taint("node-role.kubernetes.io/control-plane", "", "NoSchedule")
                .build_spec(),
        );
        c.set_node(
            NodeBuilder::new("big")
                .allocatable("8", "32Gi", "110")
                .build_spec(),
        );
        let mut fw = Framework::new(ScoreStrategy::LeastAllocated, None).with_rng(Rng::seeded(1));
        let nom = Nominator::default();
        let pod = PodBuilder::new("p").requests("2", "1Gi").build_info();
        assert_eq!(
            fw.schedule(&pod, &c, &nom).map(|r| r.node).ok(),
            Some("big".to_string())
        );
        let huge = PodBuilder::new("h").requests("16", "1Gi").build_info();
        match fw.schedule(&huge, &c, &nom) {
            Err(ScheduleError::Fit(fe)) => {
                assert_eq!(
                    fe.message(),
                    "0/3 nodes are available: 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }, 2 Insufficient cpu."
                );
                assert_eq!(
                    fe.diagnosis.unschedulable_plugins,
                    plugins::NODE_RESOURCES_FIT | plugins::TAINT_TOLERATION
                );
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(matches!(
            fw.schedule(&pod, &Cache::new(), &nom),
            Err(ScheduleError::NoNodes)
        ));
    }

    #[test]
    fn least_allocated_spreads_and_most_allocated_packs() {
        let c = {
            let mut c = cluster(3);
            c.set_bound_pod(Arc::new(
                PodBuilder::new("e")
                    .requests("2", "8Gi")
                    .node("node-1")
                    .build_info(),
            ));
            c
        };
        let nom = Nominator::default();
        let pod = PodBuilder::new("p").requests("1", "2Gi").build_info();
        let mut least = Framework::new(ScoreStrategy::LeastAllocated, None);
        let mut most = Framework::new(ScoreStrategy::MostAllocated, None);
        for _ in 0..20 {
            let l = least.schedule(&pod, &c, &nom).map(|r| r.node).ok();
            assert_ne!(l.as_deref(), Some("node-1"));
            let m = most.schedule(&pod, &c, &nom).map(|r| r.node).ok();
            assert_eq!(m.as_deref(), Some("node-1"));
        }
    }

    #[test]
    fn nominated_pods_keep_their_room() {
        let mut c = Cache::new();
        c.set_node(
            NodeBuilder::new("n1")
                .allocatable("2", "4Gi", "110")
                .build_spec(),
        );
        let mut nom = Nominator::default();
        let preemptor = Arc::new(
            PodBuilder::new("pre")
                .requests("2", "1Gi")
                .priority(100)
                .build_info(),
        );
        nom.set(preemptor, "n1");
        let low = PodBuilder::new("low")
            .requests("1", "1Gi")
            .priority(0)
            .build_info();
        let mut fw = Framework::new(ScoreStrategy::LeastAllocated, None);
        assert!(matches!(
            fw.schedule(&low, &c, &nom),
            Err(ScheduleError::Fit(_))
        ));
        let high = PodBuilder::new("high")
            .requests("1", "1Gi")
            .priority(200)
            .build_info();
        assert!(fw.schedule(&high, &c, &nom).is_ok());
        // The preemptor itself uses its nominated node.
        let me = PodBuilder::new("pre")
            .requests("2", "1Gi")
            .priority(100)
            .nominated("n1")
            .build_info();
        assert_eq!(
            fw.schedule(&me, &c, &nom).map(|r| r.node).ok(),
            Some("n1".into())
        );
    }

    #[test]
    fn daemonset_style_prefilter_narrows_nodes() {
        let c = cluster(5);
        let pod = PodBuilder::new("ds")
            .required_node_terms(vec![k8s_openapi::api::core::v1::NodeSelectorTerm {
                match_expressions: None,
                match_fields: Some(vec![crate::testing::node_req(
                    "metadata.name",
                    "In",
                    &["node-3"],
                )]),
            }])
            .requests("100", "1Gi")
            .build_info();
        let mut fw = Framework::new(ScoreStrategy::LeastAllocated, None);
        match fw.schedule(&pod, &c, &Nominator::default()) {
            Err(ScheduleError::Fit(fe)) => assert_eq!(
                fe.message(),
                "0/5 nodes are available: 1 Insufficient cpu, 4 node(s) didn't satisfy plugin(s) [NodeAffinity]."
            ),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn parallel_filtering_matches_serial() {
        let mut c = cluster(3000);
        // Fill every third node.
        for i in (0..3000).step_by(3) {
            c.set_bound_pod(Arc::new(
                PodBuilder::new(&format!("f{i}"))
                    .requests("4", "1Gi")
                    .node(&format!("node-{i}"))
                    .build_info(),
            ));
        }
        let pod = PodBuilder::new("p").requests("1", "1Gi").build_info();
        let nom = Nominator::default();
        let mut serial = Framework::new(ScoreStrategy::LeastAllocated, Some(100));
        serial.parallel_min_nodes = usize::MAX;
        let mut par = Framework::new(ScoreStrategy::LeastAllocated, Some(100));
        par.parallelism = 4;
        par.parallel_min_nodes = 0;
        let cands = Candidates::All(3000);
        let st = CycleState::pre_filter(&pod, &c);
        let (fs, ls) = serial.find_feasible(&pod, &st, &c, &nom, &cands);
        let (fp, lp) = par.find_feasible(&pod, &st, &c, &nom, &cands);
        assert_eq!(fs, fp);
        assert_eq!(ls.len(), lp.len());
        assert_eq!(fs.len(), 2000);
        // With the adaptive percentage the search stops early in both modes.
        serial.percentage_of_nodes_to_score = None;
        par.percentage_of_nodes_to_score = None;
        let (fs, _) = serial.find_feasible(&pod, &st, &c, &nom, &cands);
        let (fp, _) = par.find_feasible(&pod, &st, &c, &nom, &cands);
        assert_eq!(fs.len(), 780);
        assert_eq!(fs, fp);
    }
}
