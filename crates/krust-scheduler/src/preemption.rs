//! Preemption (upstream's DefaultPreemption PostFilter): when a pod fits nowhere, find nodes
//! where evicting lower-priority pods would make it fit. Per node, every lower-priority pod is
//! removed, then as many as possible are reprieved from the most important down (PDB-violating
//! ones first), PodDisruptionBudgets judged by `status.disruptionsAllowed` and the selector.
//! The best candidate has the fewest PDB violations, then the lowest highest victim priority,
//! the smallest priority sum, the fewest victims, the latest start of its most important
//! victims. The preemptor is nominated there; pods with `preemptionPolicy: Never` do not
//! preempt, nor do pods whose nominated node still has victims terminating.

use crate::cache::{Cache, Pdb};
use crate::framework::{
    Code, CycleState, Diagnosis, Rng, Status, nodes_available_message, run_filters_with_nominated,
};
use crate::node_info::NodeInfo;
use crate::pod_info::PodInfo;
use crate::queue::Nominator;
use std::cmp::Ordering;
use std::sync::Arc;

/// Upstream's `MinCandidateNodesPercentage` default.
const MIN_CANDIDATE_NODES_PERCENTAGE: usize = 10;
/// Upstream's `MinCandidateNodesAbsolute` default.
const MIN_CANDIDATE_NODES_ABSOLUTE: usize = 100;

const NOT_HELPFUL: &str = "Preemption is not helpful for scheduling";
const NO_VICTIMS: &str = "No preemption victims found for incoming pod";

/// What preemption decided.
#[derive(Clone, Debug, Default)]
pub struct Outcome {
    /// `Some(node)` nominates the preemptor, `Some("")` clears its nomination, `None` leaves
    /// it unchanged.
    pub nominated_node: Option<String>,
    /// The PostFilter message for the FitError (empty when preemption succeeded).
    pub message: String,
    /// Pods to evict.
    pub victims: Vec<Arc<PodInfo>>,
    /// Lower-priority pods nominated to the chosen node, whose nomination is cleared.
    pub clear_nominated: Vec<Arc<PodInfo>>,
}

/// A node where preemption would work.
#[derive(Clone, Debug)]
pub struct Candidate {
    pub node: String,
    /// Ordered from most to least important.
    pub victims: Vec<Arc<PodInfo>>,
    pub num_pdb_violations: usize,
}

/// Upstream's `MoreImportantPod`: higher priority, then earlier start.
fn more_important(a: &PodInfo, b: &PodInfo) -> Ordering {
    b.priority.cmp(&a.priority).then_with(|| {
        a.start_ns
            .unwrap_or(i128::MAX)
            .cmp(&b.start_ns.unwrap_or(i128::MAX))
    })
}

/// Splits pods (keeping their order) into those whose eviction would violate a PDB and the
/// rest (upstream's `filterPodsWithPDBViolation`).
pub fn filter_pods_with_pdb_violation<'a>(
    pods: &[Arc<PodInfo>],
    pdbs: impl Iterator<Item = &'a Pdb>,
) -> (Vec<Arc<PodInfo>>, Vec<Arc<PodInfo>>) {
    let pdbs: Vec<&Pdb> = pdbs.collect();
    let mut allowed: Vec<i64> = pdbs
        .iter()
        .map(|p| i64::from(p.disruptions_allowed))
        .collect();
    let mut violating = Vec::new();
    let mut ok = Vec::new();
    for p in pods {
        let mut violated = false;
        if !p.labels.is_empty() {
            for (i, pdb) in pdbs.iter().enumerate() {
                if pdb.namespace != p.namespace
                    || pdb.selector.is_empty_or_nothing()
                    || !pdb.selector.matches(&p.labels)
                    || pdb.disrupted_pods.contains(&p.name)
                {
                    continue;
                }
                allowed[i] -= 1;
                if allowed[i] < 0 {
                    violated = true;
                }
            }
        }
        if violated {
            violating.push(p.clone());
        } else {
            ok.push(p.clone());
        }
    }
    (violating, ok)
}

/// Upstream's `SelectVictimsOnNode`.
pub fn select_victims_on_node(
    pod: &PodInfo,
    state: &CycleState,
    node: &NodeInfo,
    cache: &Cache,
    nominator: &Nominator,
) -> Result<(Vec<Arc<PodInfo>>, usize), Status> {
    let mut potential: Vec<Arc<PodInfo>> = node
        .pods
        .iter()
        .filter(|p| p.priority < pod.priority)
        .cloned()
        .collect();
    if potential.is_empty() {
        return Err(Status::unresolvable(0, NO_VICTIMS));
    }
    let mut ni = node.clone();
    let mut st = state.clone();
    let spec = ni.node.clone();
    for p in &potential {
        ni.remove_pod(&p.uid);
        st.update_with_pod(p, pod, &spec, -1, cache);
    }
    run_filters_with_nominated(&st, pod, &ni, cache, nominator)?;
    potential.sort_by(|a, b| more_important(a, b));
    let (violating, non_violating) = filter_pods_with_pdb_violation(&potential, cache.pdbs());
    let mut victims: Vec<Arc<PodInfo>> = Vec::new();
    let mut num_violating = 0;
    let mut reprieve = |p: &Arc<PodInfo>, ni: &mut NodeInfo, st: &mut CycleState| -> bool {
        ni.add_pod(p.clone());
        st.update_with_pod(p, pod, &spec, 1, cache);
        let fits = run_filters_with_nominated(st, pod, ni, cache, nominator).is_ok();
        if !fits {
            ni.remove_pod(&p.uid);
            st.update_with_pod(p, pod, &spec, -1, cache);
            victims.push(p.clone());
        }
        fits
    };
    for p in &violating {
        if !reprieve(p, &mut ni, &mut st) {
            num_violating += 1;
        }
    }
    for p in &non_violating {
        reprieve(p, &mut ni, &mut st);
    }
    if !violating.is_empty() && !non_violating.is_empty() {
        victims.sort_by(|a, b| more_important(a, b));
    }
    Ok((victims, num_violating))
}

/// Upstream's `pickOneNodeForPreemption`.
pub fn pick_one_node(candidates: &[Candidate]) -> Option<usize> {
    let mut all: Vec<usize> = (0..candidates.len()).collect();
    if all.is_empty() {
        return None;
    }
    type ScoreFn = fn(&Candidate) -> i128;
    let fns: [ScoreFn; 5] = [
        |c| -(c.num_pdb_violations as i128),
        |c| -(c.victims.first().map(|v| v.priority).unwrap_or(0) as i128),
        |c| {
            -c.victims
                .iter()
                .map(|v| i128::from(v.priority) + i128::from(i32::MAX) + 1)
                .sum::<i128>()
        },
        |c| -(c.victims.len() as i128),
        |c| {
            let top = c.victims.first().map(|v| v.priority).unwrap_or(0);
            c.victims
                .iter()
                .filter(|v| v.priority == top)
                .map(|v| v.start_ns.unwrap_or(i128::MAX))
                .min()
                .unwrap_or(i128::MIN)
        },
    ];
    for f in fns {
        let best = all.iter().map(|&i| f(&candidates[i])).max()?;
        all.retain(|&i| f(&candidates[i]) == best);
        if all.len() == 1 {
            break;
        }
    }
    all.first().copied()
}

fn eligible(pod: &PodInfo, cache: &Cache, codes: &[Option<Code>]) -> Result<(), &'static str> {
    if pod.preemption_never {
        return Err("not eligible due to preemptionPolicy=Never.");
    }
    if pod.nominated_node_name.is_empty() {
        return Ok(());
    }
    let Some(idx) = cache.node_index(&pod.nominated_node_name) else {
        return Ok(());
    };
    if codes.get(idx).copied().flatten() == Some(Code::UnschedulableAndUnresolvable) {
        return Ok(());
    }
    if let Some(ni) = cache.nodes().get(idx)
        && ni
            .pods
            .iter()
            .any(|p| p.priority < pod.priority && p.deleting && p.preempted_by_scheduler)
    {
        return Err("not eligible due to a terminating pod on the nominated node.");
    }
    Ok(())
}

/// Runs preemption for a pod that fits nowhere.
pub fn preempt(
    pod: &PodInfo,
    cache: &Cache,
    nominator: &Nominator,
    diagnosis: &Diagnosis,
    rng: &mut Rng,
) -> Outcome {
    let nodes = cache.nodes();
    let codes = diagnosis.codes(nodes.len());
    if let Err(msg) = eligible(pod, cache, &codes) {
        return Outcome {
            message: format!("preemption: {msg}"),
            ..Default::default()
        };
    }
    let potential: Vec<usize> = codes
        .iter()
        .enumerate()
        .filter(|(_, c)| **c == Some(Code::Unschedulable))
        .map(|(i, _)| i)
        .collect();
    let not_helpful = Status::unresolvable(0, NOT_HELPFUL);
    let no_candidates = |statuses: &[(usize, Status)]| Outcome {
        nominated_node: if pod.nominated_node_name.is_empty() {
            None
        } else {
            Some(String::new())
        },
        message: format!(
            "preemption: {}",
            nodes_available_message(nodes.len(), statuses, Some(&not_helpful))
        ),
        ..Default::default()
    };
    if potential.is_empty() {
        return no_candidates(&[]);
    }

    let state = CycleState::pre_filter(pod, cache);
    let n = potential.len();
    let offset = rng.below(n as u64) as usize;
    let num_candidates = (n * MIN_CANDIDATE_NODES_PERCENTAGE / 100)
        .max(MIN_CANDIDATE_NODES_ABSOLUTE)
        .min(n);
    let mut non_violating: Vec<Candidate> = Vec::new();
    let mut violating: Vec<Candidate> = Vec::new();
    let mut statuses: Vec<(usize, Status)> = Vec::new();
    for i in 0..n {
        let idx = potential[(offset + i) % n];
        let Some(ni) = nodes.get(idx) else { continue };
        match select_victims_on_node(pod, &state, ni, cache, nominator) {
            Ok((victims, num_pdb_violations)) if !victims.is_empty() => {
                let c = Candidate {
                    node: ni.name().to_string(),
                    victims,
                    num_pdb_violations,
                };
                if num_pdb_violations == 0 {
                    non_violating.push(c);
                } else {
                    violating.push(c);
                }
                if !non_violating.is_empty()
                    && non_violating.len() + violating.len() >= num_candidates
                {
                    break;
                }
            }
            Ok(_) => statuses.push((
                idx,
                Status::unresolvable_owned(
                    0,
                    format!("expected at least one victim pod on node {:?}", ni.name()),
                ),
            )),
            Err(s) => statuses.push((idx, s)),
        }
    }
    let mut candidates = non_violating;
    candidates.append(&mut violating);
    let Some(best) = pick_one_node(&candidates) else {
        return no_candidates(&statuses);
    };
    let chosen = candidates.swap_remove(best);
    let clear_nominated = nominator
        .pods_for(&chosen.node)
        .iter()
        .filter(|p| p.priority < pod.priority && p.uid != pod.uid)
        .cloned()
        .collect();
    Outcome {
        nominated_node: Some(chosen.node),
        message: String::new(),
        victims: chosen.victims,
        clear_nominated,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ScoreStrategy;
    use crate::framework::{Framework, ScheduleError};
    use crate::labels::Selector;
    use crate::testing::{NodeBuilder, PodBuilder, selector};
    use std::collections::HashSet;

    fn pdb(ns: &str, labels: &[(&str, &str)], allowed: i32) -> Pdb {
        Pdb {
            namespace: ns.into(),
            name: format!("pdb-{allowed}"),
            selector: Selector::from_label_selector(Some(&selector(labels))),
            disruptions_allowed: allowed,
            disrupted_pods: HashSet::new(),
        }
    }

    fn victim(name: &str, node: &str, prio: i32, cpu: &str, start: i64) -> PodBuilder {
        PodBuilder::new(name)
            .node(node)
            .priority(prio)
            .requests(cpu, "1Gi")
            .start_time(start)
    }

    /// Schedules `pod` (expecting failure) and preempts.
    fn run(cache: &Cache, pod: &PodInfo) -> (String, Outcome) {
        let mut fw = Framework::new(ScoreStrategy::LeastAllocated, None);
        let nom = Nominator::default();
        match fw.schedule(pod, cache, &nom) {
            Err(ScheduleError::Fit(mut fe)) => {
                let out = preempt(pod, cache, &nom, &fe.diagnosis, &mut Rng::seeded(3));
                fe.post_filter_msg = out.message.clone();
                (fe.message(), out)
            }
            other => panic!("expected a fit error, got {other:?}"),
        }
    }

    fn names(v: &[Arc<PodInfo>]) -> Vec<&str> {
        v.iter().map(|p| p.name.as_str()).collect()
    }

    #[test]
    fn pdb_violation_split() {
        let pods: Vec<Arc<PodInfo>> = ["a", "b", "c"]
            .iter()
            .map(|n| Arc::new(PodBuilder::new(n).label("app", "db").build_info()))
            .chain(std::iter::once(Arc::new(PodBuilder::new("x").build_info())))
            .collect();
        let pdbs = [pdb("default", &[("app", "db")], 1)];
        let (v, ok) = filter_pods_with_pdb_violation(&pods, pdbs.iter());
        assert_eq!(names(&v), vec!["b", "c"]);
        assert_eq!(names(&ok), vec!["a", "x"]);
        let other_ns = [pdb("other", &[("app", "db")], 0)];
        let (v, _) = filter_pods_with_pdb_violation(&pods, other_ns.iter());
        assert!(v.is_empty());
        let mut disrupted = pdb("default", &[("app", "db")], 0);
        disrupted.disrupted_pods.insert("a".into());
        let (v, _) = filter_pods_with_pdb_violation(&pods, std::iter::once(&disrupted));
        assert_eq!(names(&v), vec!["b", "c"]);
    }

    #[test]
    fn victims_are_minimal_and_lowest_priority() {
        let mut c = Cache::new();
        c.set_node(
            NodeBuilder::new("n1")
                .allocatable("4", "16Gi", "110")
                .build_spec(),
        );
        for p in [
            victim("v-low", "n1", 1, "1", 10),
            victim("v-mid", "n1", 5, "1", 10),
            victim("v-high", "n1", 9, "1", 10),
            victim("same-prio", "n1", 100, "1", 10),
        ] {
            c.set_bound_pod(Arc::new(p.build_info()));
        }
        let pod = PodBuilder::new("pre")
            .priority(100)
            .requests("2", "1Gi")
            .build_info();
        let (msg, out) = run(&c, &pod);
        assert_eq!(msg, "0/1 nodes are available: 1 Insufficient cpu.");
        assert_eq!(out.nominated_node.as_deref(), Some("n1"));
        assert_eq!(names(&out.victims), vec!["v-mid", "v-low"]);
    }

    #[test]
    fn pdb_protected_pods_are_reprieved_first() {
        let mut c = Cache::new();
        c.set_node(
            NodeBuilder::new("n1")
                .allocatable("2", "16Gi", "110")
                .build_spec(),
        );
        c.set_bound_pod(Arc::new(
            victim("guarded", "n1", 1, "1", 10)
                .label("app", "db")
                .build_info(),
        ));
        c.set_bound_pod(Arc::new(victim("free", "n1", 1, "1", 10).build_info()));
        c.set_pdb(pdb("default", &[("app", "db")], 0));
        let pod = PodBuilder::new("pre")
            .priority(100)
            .requests("1", "1Gi")
            .build_info();
        let (_, out) = run(&c, &pod);
        assert_eq!(names(&out.victims), vec!["free"]);
    }

    #[test]
    fn candidate_node_choice() {
        // n1: a PDB-protected victim; n2: a priority-50 victim; n3: two priority-10 victims;
        // n4: one priority-10 victim. n4 wins (no PDB, lowest top priority, smallest sum).
        let mut c = Cache::new();
        for n in ["n1", "n2", "n3", "n4"] {
            c.set_node(
                NodeBuilder::new(n)
                    .allocatable("2", "16Gi", "110")
                    .build_spec(),
            );
        }
        for p in [
            victim("a", "n1", 1, "2", 1).label("app", "db"),
            victim("b", "n2", 50, "2", 1),
            victim("c1", "n3", 10, "1", 1),
            victim("c2", "n3", 10, "1", 1),
            victim("d", "n4", 10, "2", 1),
        ] {
            c.set_bound_pod(Arc::new(p.build_info()));
        }
        c.set_pdb(pdb("default", &[("app", "db")], 0));
        let pod = PodBuilder::new("pre")
            .priority(100)
            .requests("2", "1Gi")
            .build_info();
        let (_, out) = run(&c, &pod);
        assert_eq!(out.nominated_node.as_deref(), Some("n4"));
        assert_eq!(names(&out.victims), vec!["d"]);
    }

    #[test]
    fn pick_one_node_tie_breaks() {
        let v = |prio: i32, start: i64| {
            Arc::new(
                PodBuilder::new("v")
                    .priority(prio)
                    .start_time(start)
                    .build_info(),
            )
        };
        let cand = |node: &str, victims: Vec<Arc<PodInfo>>, pdb: usize| Candidate {
            node: node.into(),
            victims,
            num_pdb_violations: pdb,
        };
        let cs = vec![
            cand("pdb", vec![v(1, 1)], 1),
            cand("high", vec![v(5, 1)], 0),
            cand("sum", vec![v(1, 1), v(1, 1)], 0),
            cand("early", vec![v(1, 1)], 0),
            cand("late", vec![v(1, 9)], 0),
        ];
        assert_eq!(
            pick_one_node(&cs).map(|i| cs[i].node.as_str()),
            Some("late")
        );
        assert_eq!(
            pick_one_node(&cs[..2]).map(|i| cs[i].node.as_str()),
            Some("high")
        );
        assert_eq!(pick_one_node(&[]), None);
    }

    #[test]
    fn not_helpful_messages() {
        let mut c = Cache::new();
        c.set_node(
            NodeBuilder::new("n1")
                .allocatable("1", "16Gi", "110")
                .build_spec(),
        );
        c.set_node(
            NodeBuilder::new("cp1")
                .taint("node-role.kubernetes.io/control-plane", "", "NoSchedule")
                .build_spec(),
        );
        c.set_node(
            NodeBuilder::new("cp2")
                .taint("node-role.kubernetes.io/control-plane", "", "NoSchedule")
                .build_spec(),
        );
        let pod = PodBuilder::new("p").requests("8", "1Gi").build_info();
        let (msg, out) = run(&c, &pod);
        assert_eq!(
            msg,
            "0/3 nodes are available: 1 Insufficient cpu, 2 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling."
        );
        assert!(out.victims.is_empty());
        // A resolvable failure with nothing to evict.
        let pod = PodBuilder::new("p").requests("1", "1Gi").build_info();
        c.set_bound_pod(Arc::new(victim("same", "n1", 0, "1", 1).build_info()));
        let (msg, _) = run(&c, &pod);
        assert_eq!(
            msg,
            "0/3 nodes are available: 1 Insufficient cpu, 2 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }. preemption: 0/3 nodes are available: 1 No preemption victims found for incoming pod, 2 Preemption is not helpful for scheduling."
        );
        let never = PodBuilder::new("p")
            .requests("1", "1Gi")
            .priority(10)
            .preemption_never()
            .build_info();
        let (msg, out) = run(&c, &never);
        assert!(
            msg.ends_with(". preemption: not eligible due to preemptionPolicy=Never."),
            "{msg}"
        );
        assert!(out.nominated_node.is_none());
    }

    #[test]
    fn terminating_victims_block_new_preemption() {
        let mut c = Cache::new();
        c.set_node(
            NodeBuilder::new("n1")
                .allocatable("1", "16Gi", "110")
                .build_spec(),
        );
        let mut going = victim("going", "n1", 0, "1", 1).deleting().build();
        if let Some(s) = going.status.as_mut() {
            s.conditions = Some(vec![k8s_openapi::api::core::v1::PodCondition {
                type_: "DisruptionTarget".into(),
                status: "True".into(),
                reason: Some("PreemptionByScheduler".into()),
                ..Default::default()
            }]);
        }
        c.set_bound_pod(Arc::new(PodInfo::from_pod(&going, &Default::default())));
        let pod = PodBuilder::new("pre")
            .priority(10)
            .requests("1", "1Gi")
            .nominated("n1")
            .build_info();
        let (msg, out) = run(&c, &pod);
        assert_eq!(
            msg,
            "0/1 nodes are available: 1 Insufficient cpu. preemption: not eligible due to a terminating pod on the nominated node."
        );
        assert!(out.nominated_node.is_none());
    }
}
