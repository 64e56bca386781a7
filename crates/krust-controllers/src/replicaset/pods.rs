//! Pure pod logic of the ReplicaSet controller: which pods count (active), readiness and
//! availability (`minReadySeconds`), upstream's ranking of pods for deletion, slow-start batch
//! sizes, pods made from a ReplicaSet's template, and the ReplicaSet status.

use k8s_openapi::api::apps::v1::{ReplicaSet, ReplicaSetCondition, ReplicaSetStatus};
use k8s_openapi::api::core::v1::{Pod, PodCondition};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference, Time};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

/// The annotation users set to make a pod cheaper or dearer to delete on scale-down.
pub const POD_DELETION_COST: &str = "controller.kubernetes.io/pod-deletion-cost";
/// The size of the first batch of slow-start creation.
pub const SLOW_START_INITIAL_BATCH: usize = 1;
/// The most pods one sync creates or deletes (upstream's `burstReplicas`).
pub const BURST_REPLICAS: usize = 500;
/// The condition type of a failed create or delete.
pub const REPLICA_FAILURE: &str = "ReplicaFailure";

/// `now` truncated to whole seconds, the precision the API stores times with.
pub fn now_time(now: Timestamp) -> Time {
    Time(Timestamp::from_second(now.as_second()).unwrap_or(now))
}

fn phase(pod: &Pod) -> &str {
    pod.status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or("")
}

/// Whether a pod counts: not Succeeded, not Failed, not being deleted.
pub fn is_active(pod: &Pod) -> bool {
    !matches!(phase(pod), "Succeeded" | "Failed") && pod.metadata.deletion_timestamp.is_none()
}

/// The pod's `Ready` condition.
pub fn ready_condition(pod: &Pod) -> Option<&PodCondition> {
    pod.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == "Ready")
}

/// Whether the pod's `Ready` condition is `True`.
pub fn is_ready(pod: &Pod) -> bool {
    ready_condition(pod).is_some_and(|c| c.status == "True")
}

/// How long until a ready pod becomes available: `Some(ZERO)` when it is, `None` when it is not
/// ready or never will be by the clock (ready without a transition time).
pub fn available_in(pod: &Pod, min_ready_seconds: i32, now: Timestamp) -> Option<Duration> {
    let c = ready_condition(pod).filter(|c| c.status == "True")?;
    if min_ready_seconds <= 0 {
        return Some(Duration::ZERO);
    }
    let since = c.last_transition_time.as_ref()?.0;
    let at = since
        .checked_add(SignedDuration::from_secs(i64::from(min_ready_seconds)))
        .ok()?;
    if at < now {
        return Some(Duration::ZERO);
    }
    Some(
        Duration::try_from(at.duration_since(now)).unwrap_or(Duration::ZERO)
            + Duration::from_millis(1),
    )
}

/// Whether a pod has been ready for at least `min_ready_seconds` (upstream's
/// `IsPodAvailable`).
pub fn is_available(pod: &Pod, min_ready_seconds: i32, now: Timestamp) -> bool {
    available_in(pod, min_ready_seconds, now) == Some(Duration::ZERO)
}

fn node_name(pod: &Pod) -> &str {
    pod.spec
        .as_ref()
        .and_then(|s| s.node_name.as_deref())
        .unwrap_or("")
}

fn phase_ordinal(pod: &Pod) -> i32 {
    match phase(pod) {
        "Pending" => 0,
        "Unknown" => 1,
        "Running" => 2,
        _ => 0,
    }
}

fn deletion_cost(pod: &Pod) -> i32 {
    pod.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(POD_DELETION_COST))
        .and_then(|v| v.parse::<i32>().ok())
        .unwrap_or(0)
}

fn ready_time(pod: &Pod) -> Option<Timestamp> {
    ready_condition(pod)
        .filter(|c| c.status == "True")
        .and_then(|c| c.last_transition_time.as_ref())
        .map(|t| t.0)
}

fn max_restarts(pod: &Pod) -> i32 {
    pod.status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref())
        .map(|cs| cs.iter().map(|c| c.restart_count).max().unwrap_or(0))
        .unwrap_or(0)
}

fn uid(pod: &Pod) -> &str {
    pod.metadata.uid.as_deref().unwrap_or("")
}

/// `t1` sorts first when it is later than `t2`, or when it is unset.
fn after_or_zero(t1: Option<Timestamp>, t2: Option<Timestamp>) -> bool {
    match (t1, t2) {
        (None, _) => true,
        (_, None) => false,
        (Some(a), Some(b)) => a > b,
    }
}

fn log_rank(t: Timestamp, now: Timestamp) -> i64 {
    let d = now.as_nanosecond() - t.as_nanosecond();
    if d > 0 { (d as f64).log2() as i64 } else { -1 }
}

/// Compares two timestamps the way upstream's `LogarithmicScaleDown` does: by the power-of-two
/// bucket of their age, then by pod UID; true when the first pod sorts first.
fn time_less(
    t1: Option<Timestamp>,
    t2: Option<Timestamp>,
    a: &Pod,
    b: &Pod,
    now: Option<Timestamp>,
) -> bool {
    match (t1, t2, now) {
        (Some(x), Some(y), Some(now)) => {
            let diff = log_rank(x, now) - log_rank(y, now);
            if diff == 0 { uid(a) < uid(b) } else { diff < 0 }
        }
        _ => after_or_zero(t1, t2),
    }
}

/// Upstream's `ActivePodsWithRanks.Less`: whether pod `a` (with `rank_a` active related pods
/// on its node) should be deleted before pod `b`:
/// unassigned < assigned; Pending < Unknown < Running; not ready < ready; lower deletion cost;
/// more colocated related pods; ready for less time; more container restarts; newer.
pub fn deletion_less(
    a: &Pod,
    rank_a: usize,
    b: &Pod,
    rank_b: usize,
    now: Option<Timestamp>,
) -> bool {
    let (na, nb) = (node_name(a), node_name(b));
    if na != nb && (na.is_empty() || nb.is_empty()) {
        return na.is_empty();
    }
    if phase_ordinal(a) != phase_ordinal(b) {
        return phase_ordinal(a) < phase_ordinal(b);
    }
    if is_ready(a) != is_ready(b) {
        return !is_ready(a);
    }
    if deletion_cost(a) != deletion_cost(b) {
        return deletion_cost(a) < deletion_cost(b);
    }
    if rank_a != rank_b {
        return rank_a > rank_b;
    }
    if is_ready(a) && is_ready(b) {
        let (ta, tb) = (ready_time(a), ready_time(b));
        if ta != tb {
            return time_less(ta, tb, a, b, now);
        }
    }
    if max_restarts(a) != max_restarts(b) {
        return max_restarts(a) > max_restarts(b);
    }
    let (ca, cb) = (
        a.metadata.creation_timestamp.as_ref().map(|t| t.0),
        b.metadata.creation_timestamp.as_ref().map(|t| t.0),
    );
    if ca != cb {
        return time_less(ca, cb, a, b, now);
    }
    false
}

/// The `diff` pods of `pods` to delete first. Each pod is ranked by how many active pods of
/// `related` (the pods of every ReplicaSet with the same controller) share its node.
pub fn pods_to_delete(
    pods: &[Arc<Pod>],
    related: &[Arc<Pod>],
    diff: usize,
    now: Timestamp,
) -> Vec<Arc<Pod>> {
    if diff >= pods.len() {
        return pods.to_vec();
    }
    let mut on_node: HashMap<&str, usize> = HashMap::new();
    for p in related {
        if is_active(p) {
            *on_node.entry(node_name(p)).or_default() += 1;
        }
    }
    let mut ranked: Vec<(Arc<Pod>, usize)> = pods
        .iter()
        .map(|p| {
            let rank = on_node.get(node_name(p)).copied().unwrap_or(0);
            (p.clone(), rank)
        })
        .collect();
    ranked.sort_by(|(a, ra), (b, rb)| {
        if deletion_less(a, *ra, b, *rb, Some(now)) {
            Ordering::Less
        } else if deletion_less(b, *rb, a, *ra, Some(now)) {
            Ordering::Greater
        } else {
            Ordering::Equal
        }
    });
    ranked.into_iter().take(diff).map(|(p, _)| p).collect()
}

/// The batch sizes of upstream's `slowStartBatch`: 1, 2, 4, ... until `count` calls are made.
pub fn slow_start_batches(count: usize, initial: usize) -> Vec<usize> {
    let mut out = Vec::new();
    let mut remaining = count;
    let mut batch = remaining.min(initial.max(1));
    while batch > 0 {
        out.push(batch);
        remaining -= batch;
        batch = (2 * batch).min(remaining);
    }
    out
}

/// A pod made from the ReplicaSet's template: the template's labels, annotations and
/// finalizers, `generateName` `<rs>-`, and a controller reference to the ReplicaSet.
pub fn pod_from_template(rs: &ReplicaSet, owner: OwnerReference) -> Option<Pod> {
    let template = rs.spec.as_ref()?.template.as_ref()?;
    let tmeta = template.metadata.clone().unwrap_or_default();
    let name = rs.metadata.name.as_deref()?;
    Some(Pod {
        metadata: ObjectMeta {
            generate_name: Some(format!("{name}-")),
            namespace: rs.metadata.namespace.clone(),
            labels: tmeta.labels,
            annotations: tmeta.annotations,
            finalizers: tmeta.finalizers,
            owner_references: Some(vec![owner]),
            ..Default::default()
        },
        spec: template.spec.clone(),
        status: None,
    })
}

fn labels_match(template_labels: &BTreeMap<String, String>, pod: &Pod) -> bool {
    let labels = pod.metadata.labels.as_ref();
    template_labels
        .iter()
        .all(|(k, v)| labels.and_then(|l| l.get(k)) == Some(v))
}

/// The ReplicaSet's status for its active pods: replicas, fullyLabeledReplicas (pods carrying
/// every template label), readyReplicas, availableReplicas, and the `ReplicaFailure`
/// condition set (`FailedCreate`/`FailedDelete`) when managing replicas failed with
/// `manage_error`, removed when it did not. `observedGeneration` is left to the caller.
pub fn calculate_status(
    rs: &ReplicaSet,
    active: &[Arc<Pod>],
    manage_error: Option<&str>,
    now: Timestamp,
) -> ReplicaSetStatus {
    let mut status = rs.status.clone().unwrap_or_default();
    let spec = rs.spec.as_ref();
    let min_ready = spec.and_then(|s| s.min_ready_seconds).unwrap_or(0);
    let template_labels = spec
        .and_then(|s| s.template.as_ref())
        .and_then(|t| t.metadata.as_ref())
        .and_then(|m| m.labels.clone())
        .unwrap_or_default();
    let (mut fully, mut ready, mut available) = (0, 0, 0);
    for p in active {
        if labels_match(&template_labels, p) {
            fully += 1;
        }
        if is_ready(p) {
            ready += 1;
            if is_available(p, min_ready, now) {
                available += 1;
            }
        }
    }
    let has_failure = status
        .conditions
        .iter()
        .flatten()
        .any(|c| c.type_ == REPLICA_FAILURE);
    match manage_error {
        Some(msg) if !has_failure => {
            let desired = spec.and_then(|s| s.replicas).unwrap_or(1) as i64;
            let diff = active.len() as i64 - desired;
            let reason = match diff.cmp(&0) {
                Ordering::Less => "FailedCreate",
                Ordering::Greater => "FailedDelete",
                Ordering::Equal => "",
            };
            let mut conds: Vec<ReplicaSetCondition> = status
                .conditions
                .take()
                .unwrap_or_default()
                .into_iter()
                .filter(|c| c.type_ != REPLICA_FAILURE)
                .collect();
            conds.push(ReplicaSetCondition {
                type_: REPLICA_FAILURE.into(),
                status: "True".into(),
                reason: Some(reason.into()),
                message: Some(msg.to_string()),
                last_transition_time: Some(now_time(now)),
            });
            status.conditions = Some(conds);
        }
        None if has_failure => {
            let conds: Vec<ReplicaSetCondition> = status
                .conditions
                .take()
                .unwrap_or_default()
                .into_iter()
                .filter(|c| c.type_ != REPLICA_FAILURE)
                .collect();
            status.conditions = (!conds.is_empty()).then_some(conds);
        }
        _ => {}
    }
    status.replicas = active.len() as i32;
    status.fully_labeled_replicas = nonzero(fully);
    status.ready_replicas = nonzero(ready);
    status.available_replicas = nonzero(available);
    status
}

/// `None` for zero, as upstream's `omitempty` fields.
pub fn nonzero(n: i32) -> Option<i32> {
    (n != 0).then_some(n)
}

/// Whether two ReplicaSet statuses say the same (absent numbers are zero).
pub fn status_equal(a: &ReplicaSetStatus, b: &ReplicaSetStatus) -> bool {
    let z = |v: Option<i32>| v.unwrap_or(0);
    a.replicas == b.replicas
        && z(a.fully_labeled_replicas) == z(b.fully_labeled_replicas)
        && z(a.ready_replicas) == z(b.ready_replicas)
        && z(a.available_replicas) == z(b.available_replicas)
        && a.observed_generation.unwrap_or(0) == b.observed_generation.unwrap_or(0)
        && a.conditions.clone().unwrap_or_default() == b.conditions.clone().unwrap_or_default()
}

/// How long until the next ready-but-not-yet-available pod becomes available.
pub fn next_available(
    active: &[Arc<Pod>],
    min_ready_seconds: i32,
    now: Timestamp,
) -> Option<Duration> {
    if min_ready_seconds <= 0 {
        return None;
    }
    active
        .iter()
        .filter_map(|p| available_in(p, min_ready_seconds, now))
        .filter(|d| !d.is_zero())
        .min()
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{ContainerStatus, PodSpec, PodStatus};

    fn ts(secs: i64) -> Timestamp {
        Timestamp::from_second(secs).unwrap()
    }

    struct P {
        name: &'static str,
        node: &'static str,
        phase: &'static str,
        ready_since: Option<i64>,
        created: i64,
        restarts: i32,
        cost: Option<i32>,
    }

    impl Default for P {
        fn default() -> Self {
            P {
                name: "p",
                node: "n1",
                phase: "Running",
                ready_since: None,
                created: 1000,
                restarts: 0,
                cost: None,
            }
        }
    }

    fn pod(p: P) -> Arc<Pod> {
        let mut conds = Vec::new();
        if let Some(r) = p.ready_since {
            conds.push(PodCondition {
                type_: "Ready".into(),
                status: "True".into(),
                last_transition_time: Some(Time(ts(r))),
                ..Default::default()
            });
        }
        Arc::new(Pod {
            metadata: ObjectMeta {
                name: Some(p.name.into()),
                uid: Some(format!("uid-{}", p.name)),
                creation_timestamp: Some(Time(ts(p.created))),
                annotations: p.cost.map(|c| {
                    [(POD_DELETION_COST.to_string(), c.to_string())]
                        .into_iter()
                        .collect()
                }),
                ..Default::default()
            },
            spec: Some(PodSpec {
                node_name: (!p.node.is_empty()).then(|| p.node.to_string()),
                ..Default::default()
            }),
            status: Some(PodStatus {
                phase: Some(p.phase.into()),
                conditions: Some(conds),
                container_statuses: Some(vec![ContainerStatus {
                    restart_count: p.restarts,
                    ..Default::default()
                }]),
                ..Default::default()
            }),
        })
    }

    fn names(v: &[Arc<Pod>]) -> Vec<&str> {
        v.iter()
            .map(|p| p.metadata.name.as_deref().unwrap())
            .collect()
    }

    #[test]
    fn deletion_ranking_follows_upstream() {
        let now = ts(100_000);
        let pods = vec![
            pod(P {
                name: "running-ready-old",
                ready_since: Some(1000),
                ..Default::default()
            }),
            pod(P {
                name: "unassigned",
                node: "",
                phase: "Pending",
                ..Default::default()
            }),
            pod(P {
                name: "pending",
                phase: "Pending",
                ..Default::default()
            }),
            pod(P {
                name: "unknown",
                phase: "Unknown",
                ..Default::default()
            }),
            pod(P {
                name: "running-not-ready",
                ..Default::default()
            }),
            pod(P {
                name: "running-ready-new",
                ready_since: Some(99_990),
                ..Default::default()
            }),
        ];
        let order = pods_to_delete(&pods, &pods, 5, now);
        assert_eq!(
            names(&order),
            [
                "unassigned",
                "pending",
                "unknown",
                "running-not-ready",
                "running-ready-new"
            ]
        );
    }

    #[test]
    fn deletion_cost_colocation_restarts_and_age() {
        let now = ts(100_000);
        // deletion cost beats everything after readiness
        let cheap = pod(P {
            name: "cheap",
            cost: Some(-5),
            ready_since: Some(1),
            ..Default::default()
        });
        let dear = pod(P {
            name: "dear",
            ready_since: Some(99_999),
            ..Default::default()
        });
        assert!(deletion_less(&cheap, 1, &dear, 1, Some(now)));
        // doubled-up pods first
        let a = pod(P {
            name: "a",
            node: "n1",
            ready_since: Some(10),
            ..Default::default()
        });
        let b = pod(P {
            name: "b",
            node: "n2",
            ready_since: Some(10),
            ..Default::default()
        });
        assert!(deletion_less(&a, 3, &b, 1, Some(now)));
        assert!(!deletion_less(&b, 1, &a, 3, Some(now)));
        // more restarts first
        let r1 = pod(P {
            name: "r1",
            restarts: 5,
            ..Default::default()
        });
        let r0 = pod(P {
            name: "r0",
            restarts: 0,
            ..Default::default()
        });
        assert!(deletion_less(&r1, 1, &r0, 1, Some(now)));
        // newer first (different log2 buckets of age)
        let young = pod(P {
            name: "young",
            created: 99_000,
            ..Default::default()
        });
        let old = pod(P {
            name: "old",
            created: 10,
            ..Default::default()
        });
        assert!(deletion_less(&young, 1, &old, 1, Some(now)));
        assert!(!deletion_less(&old, 1, &young, 1, Some(now)));
        // without a reference time: plain newer-first
        assert!(deletion_less(&young, 1, &old, 1, None));
        // same bucket: by UID
        let x = pod(P {
            name: "x",
            created: 99_000,
            ..Default::default()
        });
        let y = pod(P {
            name: "y",
            created: 99_001,
            ..Default::default()
        });
        assert!(deletion_less(&x, 1, &y, 1, Some(now)));
    }

    #[test]
    fn all_pods_when_deleting_more_than_exist() {
        let pods = vec![pod(P::default())];
        assert_eq!(pods_to_delete(&pods, &pods, 3, ts(5)).len(), 1);
    }

    #[test]
    fn slow_start_doubles() {
        assert_eq!(slow_start_batches(0, 1), Vec::<usize>::new());
        assert_eq!(slow_start_batches(1, 1), [1]);
        assert_eq!(slow_start_batches(3, 1), [1, 2]);
        assert_eq!(slow_start_batches(10, 1), [1, 2, 4, 3]);
        assert_eq!(slow_start_batches(500, 1).iter().sum::<usize>(), 500);
    }

    #[test]
    fn availability_waits_min_ready_seconds() {
        let now = ts(1000);
        let p = pod(P {
            ready_since: Some(995),
            ..Default::default()
        });
        assert!(is_available(&p, 0, now));
        assert!(is_available(&p, 4, now));
        assert!(!is_available(&p, 5, now));
        assert!(!is_available(&p, 10, now));
        let left = available_in(&p, 10, now).unwrap();
        assert!(left > Duration::from_secs(4) && left < Duration::from_secs(6));
        assert_eq!(
            next_available(std::slice::from_ref(&p), 10, now),
            Some(left)
        );
        let not_ready = pod(P::default());
        assert!(!is_available(&not_ready, 0, now));
        assert_eq!(available_in(&not_ready, 10, now), None);
    }

    #[test]
    fn status_counts_and_failure_condition() {
        let rs = ReplicaSet {
            spec: Some(k8s_openapi::api::apps::v1::ReplicaSetSpec {
                replicas: Some(3),
                min_ready_seconds: Some(10),
                template: Some(k8s_openapi::api::core::v1::PodTemplateSpec {
                    metadata: Some(ObjectMeta {
                        labels: Some([("app".to_string(), "x".to_string())].into()),
                        ..Default::default()
                    }),
                    spec: None,
                }),
                ..Default::default()
            }),
            ..Default::default()
        };
        let mut labeled = (*pod(P {
            ready_since: Some(0),
            ..Default::default()
        }))
        .clone();
        labeled.metadata.labels = Some([("app".to_string(), "x".to_string())].into());
        let pods = vec![
            Arc::new(labeled),
            pod(P {
                ready_since: Some(995),
                ..Default::default()
            }),
        ];
        let now = ts(1000);
        let s = calculate_status(&rs, &pods, Some("quota exceeded"), now);
        assert_eq!(s.replicas, 2);
        assert_eq!(s.fully_labeled_replicas, Some(1));
        assert_eq!(s.ready_replicas, Some(2));
        assert_eq!(s.available_replicas, Some(1));
        let c = &s.conditions.as_ref().unwrap()[0];
        assert_eq!(c.reason.as_deref(), Some("FailedCreate"));
        assert_eq!(c.message.as_deref(), Some("quota exceeded"));
        let mut rs2 = rs.clone();
        rs2.status = Some(s);
        let s2 = calculate_status(&rs2, &pods, None, now);
        assert!(s2.conditions.is_none());
    }

    #[test]
    fn pods_from_template_are_owned() {
        let rs = ReplicaSet {
            metadata: ObjectMeta {
                name: Some("web-abc".into()),
                namespace: Some("default".into()),
                ..Default::default()
            },
            spec: Some(k8s_openapi::api::apps::v1::ReplicaSetSpec {
                template: Some(k8s_openapi::api::core::v1::PodTemplateSpec {
                    metadata: Some(ObjectMeta {
                        labels: Some([("app".to_string(), "x".to_string())].into()),
                        annotations: Some([("a".to_string(), "b".to_string())].into()),
                        ..Default::default()
                    }),
                    spec: Some(PodSpec::default()),
                }),
                ..Default::default()
            }),
            status: None,
        };
        let owner = OwnerReference {
            uid: "u".into(),
            controller: Some(true),
            block_owner_deletion: Some(true),
            ..Default::default()
        };
        let p = pod_from_template(&rs, owner).unwrap();
        assert_eq!(p.metadata.generate_name.as_deref(), Some("web-abc-"));
        assert_eq!(p.metadata.labels.unwrap()["app"], "x");
        assert_eq!(p.metadata.annotations.unwrap()["a"], "b");
        assert_eq!(p.metadata.owner_references.unwrap()[0].uid, "u");
        assert_eq!(p.metadata.namespace.as_deref(), Some("default"));
    }
}
