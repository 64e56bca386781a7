//! The rollout strategies as pure step functions over (Deployment, ReplicaSets) -> scale
//! actions, after upstream's `rolling.go` and `recreate.go`. RollingUpdate first grows the new
//! ReplicaSet as far as maxSurge allows, otherwise shrinks old ReplicaSets as far as
//! maxUnavailable allows (unhealthy replicas first); Recreate scales every old ReplicaSet to
//! zero, waits for their pods to be gone, then scales the new one up.

use super::sync::ScaleAction;
use super::util::{
    available_count, by_creation, is_active, max_unavailable, new_rs_new_replicas, replica_count,
    replicas, rs_available, rs_replicas,
};
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::Pod;
use std::collections::HashMap;
use std::sync::Arc;

fn action(rs: &ReplicaSet, to: i32) -> ScaleAction {
    ScaleAction {
        name: rs.metadata.name.clone().unwrap_or_default(),
        from: rs_replicas(rs),
        to,
    }
}

fn set_replicas(rs: &mut ReplicaSet, n: i32) {
    if let Some(spec) = rs.spec.as_mut() {
        spec.replicas = Some(n);
    }
}

/// Upstream's `reconcileNewReplicaSet`: the new ReplicaSet's next size, when it changes.
pub fn reconcile_new_rs(d: &Deployment, all: &[&ReplicaSet], new_rs: &ReplicaSet) -> Option<i32> {
    let want = replicas(d);
    let cur = rs_replicas(new_rs);
    if cur == want {
        return None;
    }
    if cur > want {
        return Some(want);
    }
    let n = new_rs_new_replicas(d, all, new_rs);
    (n != cur).then_some(n)
}

/// Upstream's `reconcileOldReplicaSets`: how far the active old ReplicaSets may shrink now
/// without going under `replicas - maxUnavailable` available pods, unhealthy replicas first.
pub fn reconcile_old_rss(
    d: &Deployment,
    all: &[&ReplicaSet],
    active_old: &[ReplicaSet],
    new_rs: &ReplicaSet,
) -> Vec<ScaleAction> {
    let mut actions = Vec::new();
    if replica_count(active_old) == 0 {
        return actions;
    }
    let all_pods = replica_count(all.iter().copied());
    let min_available = replicas(d) - max_unavailable(d);
    let new_unavailable = rs_replicas(new_rs) - rs_available(new_rs);
    let max_scaled_down = all_pods - min_available - new_unavailable;
    if max_scaled_down <= 0 {
        return actions;
    }

    // Unhealthy replicas first: they would block the rollout otherwise.
    let mut old: Vec<ReplicaSet> = active_old.to_vec();
    old.sort_by(by_creation);
    let mut cleaned = 0;
    for rs in old.iter_mut() {
        if cleaned >= max_scaled_down {
            break;
        }
        let (spec, avail) = (rs_replicas(rs), rs_available(rs));
        if spec == 0 || spec == avail {
            continue;
        }
        let down = (max_scaled_down - cleaned).min(spec - avail);
        actions.push(action(rs, spec - down));
        set_replicas(rs, spec - down);
        cleaned += down;
    }

    // Then available replicas, as far as maxUnavailable allows.
    let available = available_count(old.iter().chain(std::iter::once(new_rs)));
    if available <= min_available {
        return actions;
    }
    let total = available - min_available;
    let mut scaled = 0;
    for rs in old.iter_mut() {
        if scaled >= total {
            break;
        }
        let spec = rs_replicas(rs);
        if spec == 0 {
            continue;
        }
        let down = spec.min(total - scaled);
        actions.push(action(rs, spec - down));
        set_replicas(rs, spec - down);
        scaled += down;
    }
    actions
}

/// One step of upstream's `rolloutRolling` once the new ReplicaSet exists: scale it up if it
/// may grow, else scale old ones down. Empty when nothing may change now.
pub fn rolling_step(d: &Deployment, new_rs: &ReplicaSet, old: &[ReplicaSet]) -> Vec<ScaleAction> {
    let mut all: Vec<&ReplicaSet> = old.iter().collect();
    all.push(new_rs);
    if let Some(n) = reconcile_new_rs(d, &all, new_rs) {
        return vec![action(new_rs, n)];
    }
    let active_old: Vec<ReplicaSet> = old.iter().filter(|rs| is_active(rs)).cloned().collect();
    reconcile_old_rss(d, &all, &active_old, new_rs)
}

/// Recreate, first step: every active old ReplicaSet to zero.
pub fn recreate_scale_down(old: &[ReplicaSet]) -> Vec<ScaleAction> {
    old.iter()
        .filter(|rs| is_active(rs))
        .map(|rs| action(rs, 0))
        .collect()
}

/// Recreate, last step: the new ReplicaSet to the Deployment's size.
pub fn recreate_scale_up(d: &Deployment, new_rs: &ReplicaSet) -> Option<ScaleAction> {
    (rs_replicas(new_rs) != replicas(d)).then(|| action(new_rs, replicas(d)))
}

/// Upstream's `oldPodsRunning`: whether old ReplicaSets still report pods, or any pod not of the
/// new ReplicaSet is not terminal (`pods_by_rs`: pods by their ReplicaSet's uid).
pub fn old_pods_running(
    new_rs: Option<&ReplicaSet>,
    old: &[ReplicaSet],
    pods_by_rs: &HashMap<String, Vec<Arc<Pod>>>,
) -> bool {
    if super::util::actual_replica_count(old) > 0 {
        return true;
    }
    let new_uid = new_rs.and_then(|rs| rs.metadata.uid.as_deref());
    pods_by_rs.iter().any(|(uid, pods)| {
        Some(uid.as_str()) != new_uid
            && pods.iter().any(|p| {
                !matches!(
                    p.status.as_ref().and_then(|s| s.phase.as_deref()),
                    Some("Failed" | "Succeeded")
                )
            })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deployment::test_support::{deployment, rs};
    use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::{Int, String as Pct};

    #[test]
    fn new_replica_set_grows_by_surge() {
        // 3 replicas, maxSurge 1: the new RS may grow to 1 while the old one still has 3.
        let d = deployment(3, Int(1), Int(0));
        let old = vec![rs("old", 1, 3, 3)];
        let new = rs("new", 2, 0, 0);
        assert_eq!(
            rolling_step(&d, &new, &old),
            vec![ScaleAction {
                name: "new".into(),
                from: 0,
                to: 1
            }]
        );
        // Surge used up: old ones shrink once the new pod is available.
        let new = rs("new", 2, 1, 0);
        assert!(rolling_step(&d, &new, &old).is_empty());
        let new = rs("new", 2, 1, 1);
        assert_eq!(
            rolling_step(&d, &new, &old),
            vec![ScaleAction {
                name: "old".into(),
                from: 3,
                to: 2
            }]
        );
    }

    #[test]
    fn new_replica_set_bigger_than_wanted_shrinks() {
        let d = deployment(2, Int(1), Int(0));
        let new = rs("new", 2, 5, 5);
        assert_eq!(
            rolling_step(&d, &new, &[]),
            vec![ScaleAction {
                name: "new".into(),
                from: 5,
                to: 2
            }]
        );
    }

    #[test]
    fn unhealthy_old_replicas_go_first() {
        // 10 replicas, 25%/25%: min available 8.
        let d = deployment(10, Pct("25%".into()), Pct("25%".into()));
        // Two old RSs: the older one has 2 unavailable replicas.
        let old = vec![rs("a", 1, 5, 3), rs("b", 2, 5, 5)];
        let new = rs("new", 3, 3, 0);
        // all 13, min available 8, new unavailable 3 -> may scale down 2.
        let acts = rolling_step(&d, &new, &old);
        assert_eq!(
            acts,
            vec![ScaleAction {
                name: "a".into(),
                from: 5,
                to: 3
            }]
        );
    }

    #[test]
    fn available_old_replicas_shrink_to_min_available() {
        let d = deployment(4, Int(0), Int(2));
        let old = vec![rs("a", 1, 4, 4)];
        let new = rs("new", 2, 0, 0);
        // No surge: the new RS cannot grow; 2 old pods may go.
        assert_eq!(
            rolling_step(&d, &new, &old),
            vec![ScaleAction {
                name: "a".into(),
                from: 4,
                to: 2
            }]
        );
    }

    #[test]
    fn recreate_steps() {
        let mut d = deployment(3, Int(1), Int(0));
        d.spec.as_mut().unwrap().strategy = Some(k8s_openapi::api::apps::v1::DeploymentStrategy {
            type_: Some("Recreate".into()),
            rolling_update: None,
        });
        let old = vec![rs("a", 1, 3, 3), rs("b", 2, 0, 0)];
        assert_eq!(
            recreate_scale_down(&old),
            vec![ScaleAction {
                name: "a".into(),
                from: 3,
                to: 0
            }]
        );
        let new = rs("new", 3, 0, 0);
        assert_eq!(
            recreate_scale_up(&d, &new),
            Some(ScaleAction {
                name: "new".into(),
                from: 0,
                to: 3
            })
        );
        let mut gone = old.clone();
        gone[0].spec.as_mut().unwrap().replicas = Some(0);
        gone[0].status.as_mut().unwrap().replicas = 0;
        let mut pods = HashMap::new();
        assert!(!old_pods_running(Some(&new), &gone, &pods));
        let pod = Arc::new(Pod::default());
        pods.insert("a".to_string(), vec![pod]);
        assert!(old_pods_running(Some(&new), &gone, &pods));
        assert!(old_pods_running(Some(&new), &old, &HashMap::new()));
    }
}
