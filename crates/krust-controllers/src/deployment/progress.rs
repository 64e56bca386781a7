//! Rollout progress, after upstream's `progress.go`: the `Progressing` condition
//! (`NewReplicaSetAvailable` when complete, `ReplicaSetUpdated` on progress,
//! `ProgressDeadlineExceeded` past `progressDeadlineSeconds` without progress), ReplicaSet
//! failures surfaced as `ReplicaFailure`, when to look again at a stuck rollout, and the
//! paused/resumed conditions.

use super::sync::{calculate_status, status_equal};
use super::util::{
    NEW_RS_AVAILABLE_REASON, PAUSED_REASON, PROGRESSING, REPLICA_FAILURE, RESUMED_REASON,
    RS_UPDATED_REASON, TIMED_OUT_REASON, get_condition, is_paused, new_condition,
    progress_deadline, remove_condition, replicas, set_condition,
};
use k8s_openapi::api::apps::v1::{Deployment, DeploymentCondition, DeploymentStatus, ReplicaSet};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use std::time::Duration;

/// When to sync a Deployment again on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requeue {
    /// Not needed: events will tell.
    No,
    /// Soon, rate-limited (the deadline is less than a second away).
    RateLimited,
    /// After this long (the deadline of a stuck rollout).
    After(Duration),
}

fn z(v: Option<i32>) -> i32 {
    v.unwrap_or(0)
}

/// Upstream's `DeploymentComplete`: all replicas updated and available, and the latest
/// generation observed.
pub fn deployment_complete(d: &Deployment, s: &DeploymentStatus) -> bool {
    let want = replicas(d);
    z(s.updated_replicas) == want
        && z(s.replicas) == want
        && z(s.available_replicas) == want
        && s.observed_generation.unwrap_or(0) >= d.metadata.generation.unwrap_or(0)
}

/// Upstream's `DeploymentProgressing`: more updated, fewer old, more ready or more available
/// replicas than the stored status says.
pub fn deployment_progressing(d: &Deployment, s: &DeploymentStatus) -> bool {
    let old = d.status.clone().unwrap_or_default();
    let old_old = z(old.replicas) - z(old.updated_replicas);
    let new_old = z(s.replicas) - z(s.updated_replicas);
    z(s.updated_replicas) > z(old.updated_replicas)
        || new_old < old_old
        || z(s.ready_replicas) > z(old.ready_replicas)
        || z(s.available_replicas) > z(old.available_replicas)
}

/// Upstream's `DeploymentTimedOut`: the Progressing condition was last updated longer than
/// `progressDeadlineSeconds` ago.
pub fn deployment_timed_out(d: &Deployment, s: &DeploymentStatus, now: Timestamp) -> bool {
    let Some(deadline) = progress_deadline(d) else {
        return false;
    };
    let Some(c) = get_condition(s, PROGRESSING) else {
        return false;
    };
    match c.reason.as_deref() {
        Some(NEW_RS_AVAILABLE_REASON) => return false,
        Some(TIMED_OUT_REASON) => return true,
        _ => {}
    }
    let Some(from) = c.last_update_time.as_ref().map(|t| t.0) else {
        return false;
    };
    from.checked_add(SignedDuration::from_secs(i64::from(deadline)))
        .is_ok_and(|at| at < now)
}

fn rs_name(rs: Option<&ReplicaSet>) -> Option<&str> {
    rs.and_then(|r| r.metadata.name.as_deref())
}

/// A ReplicaSet condition as a Deployment condition.
fn from_rs_condition(c: &k8s_openapi::api::apps::v1::ReplicaSetCondition) -> DeploymentCondition {
    DeploymentCondition {
        type_: c.type_.clone(),
        status: c.status.clone(),
        reason: c.reason.clone(),
        message: c.message.clone(),
        last_transition_time: c.last_transition_time.clone(),
        last_update_time: c.last_transition_time.clone(),
    }
}

/// The `ReplicaFailure` conditions of the new ReplicaSet, else of any ReplicaSet.
fn replica_failures(all: &[&ReplicaSet], new_rs: Option<&ReplicaSet>) -> Vec<DeploymentCondition> {
    let of = |rs: &ReplicaSet| -> Vec<DeploymentCondition> {
        rs.status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .into_iter()
            .flatten()
            .filter(|c| c.type_ == REPLICA_FAILURE)
            .map(from_rs_condition)
            .collect()
    };
    let from_new = new_rs.map(of).unwrap_or_default();
    if !from_new.is_empty() {
        return from_new;
    }
    all.iter().flat_map(|rs| of(rs)).collect()
}

/// Upstream's `syncRolloutStatus` without the write: the new status, and `None` when it equals
/// the stored one (then with when to look at a stuck rollout again).
pub fn rollout_status(
    d: &Deployment,
    all: &[&ReplicaSet],
    new_rs: Option<&ReplicaSet>,
    now: Timestamp,
) -> (Option<DeploymentStatus>, Requeue) {
    let mut s = calculate_status(all, new_rs, d, now);
    if progress_deadline(d).is_none() {
        remove_condition(&mut s, PROGRESSING);
    }
    let old = d.status.clone().unwrap_or_default();
    let current = get_condition(&old, PROGRESSING).cloned();
    let complete_before = z(s.replicas) == z(s.updated_replicas)
        && current.as_ref().and_then(|c| c.reason.as_deref()) == Some(NEW_RS_AVAILABLE_REASON);
    if progress_deadline(d).is_some() && !complete_before {
        if deployment_complete(d, &s) {
            let msg = match rs_name(new_rs) {
                Some(n) => format!("ReplicaSet {n:?} has successfully progressed."),
                None => format!("Deployment {:?} has successfully progressed.", name(d)),
            };
            set_condition(
                &mut s,
                new_condition(PROGRESSING, "True", NEW_RS_AVAILABLE_REASON, msg, now),
            );
        } else if deployment_progressing(d, &s) {
            let msg = match rs_name(new_rs) {
                Some(n) => format!("ReplicaSet {n:?} is progressing."),
                None => format!("Deployment {:?} is progressing.", name(d)),
            };
            let mut c = new_condition(PROGRESSING, "True", RS_UPDATED_REASON, msg, now);
            if let Some(cur) = &current {
                if cur.status == "True" {
                    c.last_transition_time = cur.last_transition_time.clone();
                }
                remove_condition(&mut s, PROGRESSING);
            }
            set_condition(&mut s, c);
        } else if deployment_timed_out(d, &s, now) {
            let msg = match rs_name(new_rs) {
                Some(n) => format!("ReplicaSet {n:?} has timed out progressing."),
                None => format!("Deployment {:?} has timed out progressing.", name(d)),
            };
            set_condition(
                &mut s,
                new_condition(PROGRESSING, "False", TIMED_OUT_REASON, msg, now),
            );
        }
    }
    match replica_failures(all, new_rs).into_iter().next() {
        Some(c) => set_condition(&mut s, c),
        None => remove_condition(&mut s, REPLICA_FAILURE),
    }
    if status_equal(&old, &s) {
        return (None, requeue_stuck(d, &s, now));
    }
    (Some(s), Requeue::No)
}

/// Upstream's `requeueStuckDeployment`: when a rollout that is neither complete nor timed out
/// should be checked against its deadline.
pub fn requeue_stuck(d: &Deployment, new_status: &DeploymentStatus, now: Timestamp) -> Requeue {
    let Some(deadline) = progress_deadline(d) else {
        return Requeue::No;
    };
    let old = d.status.clone().unwrap_or_default();
    let Some(cur) = get_condition(&old, PROGRESSING) else {
        return Requeue::No;
    };
    if deployment_complete(d, new_status) || cur.reason.as_deref() == Some(TIMED_OUT_REASON) {
        return Requeue::No;
    }
    let Some(updated) = cur.last_update_time.as_ref().map(|t| t.0) else {
        return Requeue::No;
    };
    let Ok(at) = updated.checked_add(SignedDuration::from_secs(i64::from(deadline))) else {
        return Requeue::No;
    };
    let after = at.duration_since(now);
    if after < SignedDuration::from_secs(1) {
        return Requeue::RateLimited;
    }
    let after = Duration::try_from(after).unwrap_or(Duration::ZERO);
    Requeue::After(after + Duration::from_secs(1))
}

fn name(d: &Deployment) -> &str {
    d.metadata.name.as_deref().unwrap_or("")
}

/// Upstream's `checkPausedConditions`: the status with `DeploymentPaused` (or
/// `DeploymentResumed`) when that changed; `None` when nothing is to be written.
pub fn paused_conditions(d: &Deployment, now: Timestamp) -> Option<DeploymentStatus> {
    progress_deadline(d)?;
    let status = d.status.clone().unwrap_or_default();
    let cond = get_condition(&status, PROGRESSING);
    if cond.and_then(|c| c.reason.as_deref()) == Some(TIMED_OUT_REASON) {
        return None;
    }
    let paused_exists = cond.and_then(|c| c.reason.as_deref()) == Some(PAUSED_REASON);
    let mut status = status.clone();
    if is_paused(d) && !paused_exists {
        set_condition(
            &mut status,
            new_condition(
                PROGRESSING,
                "Unknown",
                PAUSED_REASON,
                "Deployment is paused".into(),
                now,
            ),
        );
        return Some(status);
    }
    if !is_paused(d) && paused_exists {
        set_condition(
            &mut status,
            new_condition(
                PROGRESSING,
                "Unknown",
                RESUMED_REASON,
                "Deployment is resumed".into(),
                now,
            ),
        );
        return Some(status);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deployment::test_support::{deployment, rs};
    use crate::deployment::util::{FOUND_NEW_RS_REASON, now_time};
    use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int;

    fn ts(s: i64) -> Timestamp {
        Timestamp::from_second(s).unwrap()
    }

    fn with_progressing(
        d: &mut Deployment,
        reason: &str,
        status: &str,
        updated: i64,
        s: DeploymentStatus,
    ) {
        let mut s = s;
        s.conditions = Some(vec![DeploymentCondition {
            type_: PROGRESSING.into(),
            status: status.into(),
            reason: Some(reason.into()),
            message: Some("x".into()),
            last_update_time: Some(now_time(ts(updated))),
            last_transition_time: Some(now_time(ts(updated))),
        }]);
        d.status = Some(s);
    }

    #[test]
    fn complete_rollout_reports_new_replica_set_available() {
        let mut d = deployment(3, Int(1), Int(0));
        d.metadata.name = Some("web".into());
        d.metadata.generation = Some(2);
        d.spec.as_mut().unwrap().progress_deadline_seconds = Some(600);
        with_progressing(
            &mut d,
            RS_UPDATED_REASON,
            "True",
            100,
            DeploymentStatus::default(),
        );
        let new = rs("web-abc", 2, 3, 3);
        let (s, _) = rollout_status(&d, &[&new], Some(&new), ts(200));
        let s = s.unwrap();
        let c = get_condition(&s, PROGRESSING).unwrap();
        assert_eq!(c.reason.as_deref(), Some(NEW_RS_AVAILABLE_REASON));
        assert_eq!(
            c.message.as_deref(),
            Some("ReplicaSet \"web-abc\" has successfully progressed.")
        );
        assert_eq!(s.observed_generation, Some(2));
        assert!(deployment_complete(&d, &s));
        // Stored: nothing more to write.
        d.status = Some(s);
        let (again, requeue) = rollout_status(&d, &[&new], Some(&new), ts(300));
        assert!(again.is_none());
        assert_eq!(requeue, Requeue::No);
    }

    #[test]
    fn progress_updates_the_condition_and_keeps_transition_time() {
        let mut d = deployment(3, Int(1), Int(0));
        d.spec.as_mut().unwrap().progress_deadline_seconds = Some(600);
        with_progressing(
            &mut d,
            FOUND_NEW_RS_REASON,
            "True",
            100,
            DeploymentStatus {
                replicas: Some(3),
                updated_replicas: Some(1),
                ..Default::default()
            },
        );
        let old = rs("old", 1, 2, 2);
        let new = rs("new", 2, 2, 0);
        let (s, _) = rollout_status(&d, &[&old, &new], Some(&new), ts(200));
        let s = s.unwrap();
        let c = get_condition(&s, PROGRESSING).unwrap();
        assert_eq!(c.reason.as_deref(), Some(RS_UPDATED_REASON));
        assert_eq!(
            c.message.as_deref(),
            Some("ReplicaSet \"new\" is progressing.")
        );
        assert_eq!(c.last_transition_time, Some(now_time(ts(100))));
        assert_eq!(c.last_update_time, Some(now_time(ts(200))));
    }

    #[test]
    fn no_progress_past_the_deadline_times_out() {
        let mut d = deployment(3, Int(1), Int(0));
        d.spec.as_mut().unwrap().progress_deadline_seconds = Some(600);
        let st = DeploymentStatus {
            replicas: Some(4),
            updated_replicas: Some(1),
            available_replicas: Some(3),
            ready_replicas: Some(3),
            ..Default::default()
        };
        with_progressing(&mut d, RS_UPDATED_REASON, "True", 100, st);
        let old = rs("old", 1, 3, 3);
        let new = rs("new", 2, 1, 0);
        // Before the deadline: unchanged, look again when it passes.
        let (s, requeue) = rollout_status(&d, &[&old, &new], Some(&new), ts(500));
        // The Available condition is new: written once.
        let s = s.unwrap();
        d.status = Some(s);
        let (s, requeue2) = rollout_status(&d, &[&old, &new], Some(&new), ts(500));
        assert!(s.is_none());
        assert_eq!(requeue, Requeue::No);
        assert_eq!(requeue2, Requeue::After(Duration::from_secs(201)));
        // After it: ProgressDeadlineExceeded.
        let (s, _) = rollout_status(&d, &[&old, &new], Some(&new), ts(701));
        let s = s.unwrap();
        let c = get_condition(&s, PROGRESSING).unwrap();
        assert_eq!(
            (c.status.as_str(), c.reason.as_deref()),
            ("False", Some(TIMED_OUT_REASON))
        );
        assert_eq!(
            c.message.as_deref(),
            Some("ReplicaSet \"new\" has timed out progressing.")
        );
    }

    #[test]
    fn no_deadline_no_progressing_condition() {
        let mut d = deployment(1, Int(1), Int(0));
        d.spec.as_mut().unwrap().progress_deadline_seconds = None;
        with_progressing(
            &mut d,
            RS_UPDATED_REASON,
            "True",
            100,
            DeploymentStatus::default(),
        );
        let new = rs("new", 2, 1, 1);
        let (s, _) = rollout_status(&d, &[&new], Some(&new), ts(200));
        assert!(get_condition(&s.unwrap(), PROGRESSING).is_none());
    }

    #[test]
    fn replica_failures_are_surfaced() {
        let mut d = deployment(1, Int(1), Int(0));
        d.spec.as_mut().unwrap().progress_deadline_seconds = Some(600);
        let mut new = rs("new", 2, 1, 0);
        new.status.as_mut().unwrap().conditions =
            Some(vec![k8s_openapi::api::apps::v1::ReplicaSetCondition {
                type_: REPLICA_FAILURE.into(),
                status: "True".into(),
                reason: Some("FailedCreate".into()),
                message: Some("forbidden".into()),
                last_transition_time: Some(now_time(ts(5))),
            }]);
        let (s, _) = rollout_status(&d, &[&new], Some(&new), ts(200));
        let c = get_condition(s.as_ref().unwrap(), REPLICA_FAILURE).unwrap();
        assert_eq!(c.reason.as_deref(), Some("FailedCreate"));
    }

    #[test]
    fn paused_and_resumed() {
        let mut d = deployment(1, Int(1), Int(0));
        d.spec.as_mut().unwrap().progress_deadline_seconds = Some(600);
        d.spec.as_mut().unwrap().paused = Some(true);
        let s = paused_conditions(&d, ts(10)).unwrap();
        let c = get_condition(&s, PROGRESSING).unwrap();
        assert_eq!(
            (c.status.as_str(), c.reason.as_deref()),
            ("Unknown", Some(PAUSED_REASON))
        );
        d.status = Some(s);
        assert!(paused_conditions(&d, ts(11)).is_none());
        d.spec.as_mut().unwrap().paused = Some(false);
        let s = paused_conditions(&d, ts(12)).unwrap();
        assert_eq!(
            get_condition(&s, PROGRESSING).unwrap().reason.as_deref(),
            Some(RESUMED_REASON)
        );
    }
}
