//! Scaling and status of a Deployment, after upstream's `sync.go`: scaling events (one active
//! ReplicaSet takes the new size; during a rollout every active ReplicaSet is scaled in
//! proportion, from the largest, leftovers to the largest), the status computed from the
//! ReplicaSets (with the `Available` condition), and revision-history cleanup.

use super::util::{
    AVAILABLE, MIN_AVAILABLE_REASON, MIN_UNAVAILABLE_REASON, actual_replica_count, available_count,
    by_creation, by_revision, is_active, is_rolling, is_saturated, max_replicas_annotation,
    max_surge, max_unavailable, new_condition, ready_count, replica_count, replicas,
    revision_history_limit, rs_replicas, rs_status_replicas, set_condition,
};
use crate::replicaset::pods::nonzero;
use k8s_openapi::api::apps::v1::{Deployment, DeploymentStatus, ReplicaSet};
use k8s_openapi::jiff::Timestamp;

/// Set a ReplicaSet's `spec.replicas` from `from` to `to` (with `from == to` only its
/// desired/max-replicas annotations are refreshed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScaleAction {
    pub name: String,
    pub from: i32,
    pub to: i32,
}

impl ScaleAction {
    /// "up" or "down", as the event says.
    pub fn direction(&self) -> &'static str {
        if self.to > self.from { "up" } else { "down" }
    }
}

fn action(rs: &ReplicaSet, to: i32) -> ScaleAction {
    ScaleAction {
        name: rs.metadata.name.clone().unwrap_or_default(),
        from: rs_replicas(rs),
        to,
    }
}

/// Upstream's `FindActiveOrLatest`: the only active ReplicaSet, or the newest when none is
/// active; `None` when several are active.
pub fn find_active_or_latest<'a>(
    new_rs: Option<&'a ReplicaSet>,
    old: &'a [ReplicaSet],
) -> Option<&'a ReplicaSet> {
    if new_rs.is_none() && old.is_empty() {
        return None;
    }
    let mut sorted: Vec<&ReplicaSet> = old.iter().collect();
    sorted.sort_by(|a, b| by_creation(b, a));
    let mut all: Vec<&ReplicaSet> = sorted.clone();
    all.extend(new_rs);
    let active: Vec<&ReplicaSet> = all.into_iter().filter(|rs| is_active(rs)).collect();
    match active.len() {
        0 => new_rs.or_else(|| sorted.first().copied()),
        1 => Some(active[0]),
        _ => None,
    }
}

/// Upstream's `getReplicaSetFraction`: how many replicas a ReplicaSet gains (or loses) when the
/// Deployment's max size changes, in proportion to its size.
fn rs_fraction(rs: &ReplicaSet, d: &Deployment) -> i32 {
    if replicas(d) == 0 {
        return -rs_replicas(rs);
    }
    let max_now = replicas(d) + max_surge(d);
    let max_before = match max_replicas_annotation(rs) {
        Some(v) if v != 0 => v,
        _ => {
            let s = d.status.as_ref().and_then(|s| s.replicas).unwrap_or(0);
            if s == 0 {
                return 0;
            }
            s
        }
    };
    let size = f64::from(rs_replicas(rs)) * f64::from(max_now) / f64::from(max_before);
    size.round() as i32 - rs_replicas(rs)
}

/// Upstream's `GetProportion`.
fn proportion(rs: &ReplicaSet, d: &Deployment, to_add: i32, added: i32) -> i32 {
    if rs_replicas(rs) == 0 || to_add == 0 || to_add == added {
        return 0;
    }
    let fraction = rs_fraction(rs, d);
    let allowed = to_add - added;
    if to_add > 0 {
        fraction.min(allowed)
    } else {
        fraction.max(allowed)
    }
}

/// Upstream's `scale`: the actions for a scaling event (or a paused Deployment). Actions with
/// `from == to` only refresh annotations.
pub fn scale_plan(
    d: &Deployment,
    new_rs: Option<&ReplicaSet>,
    old: &[ReplicaSet],
) -> Vec<ScaleAction> {
    if let Some(rs) = find_active_or_latest(new_rs, old) {
        if rs_replicas(rs) == replicas(d) {
            return Vec::new();
        }
        return vec![action(rs, replicas(d))];
    }
    if is_saturated(d, new_rs) {
        return old
            .iter()
            .filter(|rs| is_active(rs))
            .map(|rs| action(rs, 0))
            .collect();
    }
    if !is_rolling(d) {
        return Vec::new();
    }
    let mut all: Vec<&ReplicaSet> = old
        .iter()
        .chain(new_rs)
        .filter(|rs| is_active(rs))
        .collect();
    let current = replica_count(all.iter().copied());
    let allowed = if replicas(d) > 0 {
        replicas(d) + max_surge(d)
    } else {
        0
    };
    let to_add = allowed - current;
    if to_add > 0 {
        // Larger first; newer first among equals.
        all.sort_by(|a, b| {
            rs_replicas(b)
                .cmp(&rs_replicas(a))
                .then_with(|| by_creation(b, a))
        });
    } else if to_add < 0 {
        // Larger first; older first among equals.
        all.sort_by(|a, b| {
            rs_replicas(b)
                .cmp(&rs_replicas(a))
                .then_with(|| by_creation(a, b))
        });
    }
    let mut added = 0;
    let mut sizes: Vec<i32> = Vec::with_capacity(all.len());
    for rs in &all {
        if to_add != 0 {
            let p = proportion(rs, d, to_add, added);
            sizes.push(rs_replicas(rs) + p);
            added += p;
        } else {
            sizes.push(rs_replicas(rs));
        }
    }
    if to_add != 0
        && let Some(first) = sizes.first_mut()
    {
        *first = (*first + to_add - added).max(0);
    }
    all.iter()
        .zip(sizes)
        .map(|(rs, size)| action(rs, size))
        .collect()
}

/// Upstream's `isScalingEvent`: an active ReplicaSet was last scaled for another size of the
/// Deployment.
pub fn is_scaling_event(d: &Deployment, rs_list: &[ReplicaSet]) -> bool {
    let want = replicas(d);
    let found = super::util::find_new_rs(d, rs_list);
    let old = super::util::old_rss(rs_list, found.and_then(|rs| rs.metadata.uid.as_deref()));
    found
        .into_iter()
        .chain(old.iter())
        .filter(|rs| is_active(rs))
        .filter_map(super::util::desired_replicas_annotation)
        .any(|desired| desired != want)
}

/// Upstream's `calculateStatus`: the Deployment's status from its ReplicaSets, with the
/// `Available` condition. Zero counts are left out, as upstream's `omitempty`.
pub fn calculate_status(
    all: &[&ReplicaSet],
    new_rs: Option<&ReplicaSet>,
    d: &Deployment,
    now: Timestamp,
) -> DeploymentStatus {
    let available = available_count(all.iter().copied());
    let total = replica_count(all.iter().copied());
    let unavailable = (total - available).max(0);
    let prev = d.status.clone().unwrap_or_default();
    let mut status = DeploymentStatus {
        observed_generation: d.metadata.generation,
        replicas: nonzero(actual_replica_count(all.iter().copied())),
        updated_replicas: nonzero(new_rs.map(rs_status_replicas).unwrap_or(0)),
        ready_replicas: nonzero(ready_count(all.iter().copied())),
        available_replicas: nonzero(available),
        unavailable_replicas: nonzero(unavailable),
        collision_count: prev.collision_count,
        conditions: prev.conditions.clone(),
        terminating_replicas: None,
    };
    if available >= replicas(d) - max_unavailable(d) {
        set_condition(
            &mut status,
            new_condition(
                AVAILABLE,
                "True",
                MIN_AVAILABLE_REASON,
                "Deployment has minimum availability.".into(),
                now,
            ),
        );
    } else {
        set_condition(
            &mut status,
            new_condition(
                AVAILABLE,
                "False",
                MIN_UNAVAILABLE_REASON,
                "Deployment does not have minimum availability.".into(),
                now,
            ),
        );
    }
    status
}

/// Whether two statuses say the same (absent numbers are zero, absent lists empty).
pub fn status_equal(a: &DeploymentStatus, b: &DeploymentStatus) -> bool {
    let z = |v: Option<i32>| v.unwrap_or(0);
    a.observed_generation.unwrap_or(0) == b.observed_generation.unwrap_or(0)
        && z(a.replicas) == z(b.replicas)
        && z(a.updated_replicas) == z(b.updated_replicas)
        && z(a.ready_replicas) == z(b.ready_replicas)
        && z(a.available_replicas) == z(b.available_replicas)
        && z(a.unavailable_replicas) == z(b.unavailable_replicas)
        && a.collision_count == b.collision_count
        && a.conditions.clone().unwrap_or_default() == b.conditions.clone().unwrap_or_default()
}

/// Upstream's `cleanupDeployment`: the old ReplicaSets beyond `revisionHistoryLimit` to delete,
/// lowest revision first, only those scaled to zero, fully observed and not being deleted.
pub fn cleanup_plan(d: &Deployment, old: &[ReplicaSet]) -> Vec<String> {
    let Some(limit) = revision_history_limit(d) else {
        return Vec::new();
    };
    let mut alive: Vec<&ReplicaSet> = old
        .iter()
        .filter(|rs| rs.metadata.deletion_timestamp.is_none())
        .collect();
    let diff = alive.len() as i64 - i64::from(limit);
    if diff <= 0 {
        return Vec::new();
    }
    alive.sort_by(|a, b| by_revision(a, b));
    alive
        .into_iter()
        .take(diff as usize)
        .filter(|rs| {
            let observed = rs
                .status
                .as_ref()
                .and_then(|s| s.observed_generation)
                .unwrap_or(0);
            rs_status_replicas(rs) == 0
                && rs_replicas(rs) == 0
                && rs.metadata.generation.unwrap_or(0) <= observed
        })
        .filter_map(|rs| rs.metadata.name.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deployment::test_support::{deployment, rs, with_max_replicas};
    use crate::deployment::util::{DESIRED_REPLICAS, REVISION, get_condition};
    use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int;

    #[test]
    fn one_active_replica_set_takes_the_new_size() {
        let d = deployment(5, Int(1), Int(1));
        let new = rs("new", 2, 3, 3);
        let old = vec![rs("old", 1, 0, 0)];
        assert_eq!(
            scale_plan(&d, Some(&new), &old),
            vec![ScaleAction {
                name: "new".into(),
                from: 3,
                to: 5
            }]
        );
        // Nothing active: the newest gets it.
        let new0 = rs("new", 2, 0, 0);
        assert_eq!(scale_plan(&d, Some(&new0), &old)[0].name, "new");
        assert_eq!(scale_plan(&d, None, &old)[0].name, "old");
    }

    #[test]
    fn proportional_scaling_during_a_rollout() {
        // Upstream's example: 10 replicas, maxSurge 3, mid-rollout with 8 old and 5 new
        // (13 = 10 + 3), scaled to 15: the max becomes 18, 5 more to spread.
        let mut d = deployment(15, Int(3), Int(1));
        d.status = Some(DeploymentStatus {
            replicas: Some(13),
            ..Default::default()
        });
        let old = vec![with_max_replicas(rs("old", 1, 8, 8), 13)];
        let new = with_max_replicas(rs("new", 2, 5, 0), 13);
        let plan = scale_plan(&d, Some(&new), &old);
        // old: 8*18/13 = 11.08 -> +3; new: 5*18/13 = 6.9 -> +2.
        assert_eq!(
            plan,
            vec![
                ScaleAction {
                    name: "old".into(),
                    from: 8,
                    to: 11
                },
                ScaleAction {
                    name: "new".into(),
                    from: 5,
                    to: 7
                },
            ]
        );
        // And back down to 10 replicas (max 13 again).
        let mut d = deployment(10, Int(3), Int(1));
        d.status = Some(DeploymentStatus {
            replicas: Some(18),
            ..Default::default()
        });
        let old = vec![with_max_replicas(rs("old", 1, 11, 11), 18)];
        let new = with_max_replicas(rs("new", 2, 7, 0), 18);
        let plan = scale_plan(&d, Some(&new), &old);
        let total: i32 = plan.iter().map(|a| a.to).sum();
        assert_eq!(total, 13);
        assert_eq!(
            plan[0],
            ScaleAction {
                name: "old".into(),
                from: 11,
                to: 8
            }
        );
    }

    #[test]
    fn saturated_new_replica_set_drains_old_ones() {
        let d = deployment(3, Int(1), Int(1));
        let mut new = rs("new", 2, 3, 3);
        new.metadata.annotations = Some([(DESIRED_REPLICAS.to_string(), "3".to_string())].into());
        let old = vec![rs("old", 1, 2, 2)];
        assert_eq!(
            scale_plan(&d, Some(&new), &old),
            vec![ScaleAction {
                name: "old".into(),
                from: 2,
                to: 0
            }]
        );
    }

    #[test]
    fn status_and_availability() {
        let d = deployment(3, Int(1), Int(0));
        let new = rs("new", 2, 3, 2);
        let old = rs("old", 1, 1, 1);
        let now = Timestamp::from_second(1000).unwrap();
        let s = calculate_status(&[&old, &new], Some(&new), &d, now);
        assert_eq!(s.replicas, Some(4));
        assert_eq!(s.updated_replicas, Some(3));
        assert_eq!(s.available_replicas, Some(3));
        assert_eq!(s.unavailable_replicas, Some(1));
        let c = get_condition(&s, AVAILABLE).unwrap();
        assert_eq!(
            (c.status.as_str(), c.reason.as_deref()),
            ("True", Some(MIN_AVAILABLE_REASON))
        );
        assert_eq!(
            c.message.as_deref(),
            Some("Deployment has minimum availability.")
        );
        let new = rs("new", 2, 3, 1);
        let s = calculate_status(&[&new], Some(&new), &d, now);
        let c = get_condition(&s, AVAILABLE).unwrap();
        assert_eq!(
            (c.status.as_str(), c.reason.as_deref()),
            ("False", Some(MIN_UNAVAILABLE_REASON))
        );
        // Zero counts are omitted, and compare equal to explicit zeros.
        let empty = calculate_status(&[], None, &d, now);
        assert_eq!(empty.replicas, None);
        let mut zeros = empty.clone();
        zeros.replicas = Some(0);
        assert!(status_equal(&empty, &zeros));
    }

    #[test]
    fn history_cleanup_keeps_the_newest() {
        let mut d = deployment(3, Int(1), Int(1));
        d.spec.as_mut().unwrap().revision_history_limit = Some(1);
        let mut olds = Vec::new();
        for (i, name) in ["r1", "r2", "r3"].iter().enumerate() {
            let mut r = rs(name, i as i64, 0, 0);
            r.metadata.annotations = Some([(REVISION.to_string(), (i + 1).to_string())].into());
            olds.push(r);
        }
        // One still has pods: kept.
        olds[1].status.as_mut().unwrap().replicas = 1;
        assert_eq!(cleanup_plan(&d, &olds), vec!["r1".to_string()]);
        d.spec.as_mut().unwrap().revision_history_limit = None;
        assert!(cleanup_plan(&d, &olds).is_empty());
    }
}
