//! Pure helpers of the Deployment controller, after upstream's `deployment/util`: the
//! `pod-template-hash` (FNV-32a, SafeEncodeString alphabet), semantic template equality
//! ignoring the hash, revision and replica annotations, maxSurge/maxUnavailable resolution,
//! conditions, and finding the new and old ReplicaSets.

use k8s_openapi::api::apps::v1::{Deployment, DeploymentCondition, DeploymentStatus, ReplicaSet};
use k8s_openapi::api::core::v1::PodTemplateSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use k8s_openapi::jiff::Timestamp;
use serde_json::Value;
use std::cmp::Ordering;
use std::collections::BTreeMap;

/// The label that tells a Deployment's ReplicaSets (and their pods) apart.
pub const POD_TEMPLATE_HASH: &str = "pod-template-hash";
/// The revision of a Deployment and of its ReplicaSets.
pub const REVISION: &str = "deployment.kubernetes.io/revision";
/// Earlier revisions of a ReplicaSet that was rolled back to.
pub const REVISION_HISTORY: &str = "deployment.kubernetes.io/revision-history";
/// The Deployment's replicas when a ReplicaSet was last scaled.
pub const DESIRED_REPLICAS: &str = "deployment.kubernetes.io/desired-replicas";
/// The Deployment's replicas + maxSurge when a ReplicaSet was last scaled.
pub const MAX_REPLICAS: &str = "deployment.kubernetes.io/max-replicas";
/// The annotation kubectl records commands in.
pub const CHANGE_CAUSE: &str = "kubernetes.io/change-cause";
/// kubectl's last applied configuration (never copied to ReplicaSets).
pub const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";
/// The deprecated rollback request annotation.
pub const ROLLBACK_TO: &str = "deprecated.deployment.rollback.to";
/// The longest revision history annotation (upstream's `maxRevHistoryLengthInChars`).
pub const MAX_REV_HISTORY_CHARS: usize = 2000;

/// Condition types and reasons, with upstream's spelling.
pub const PROGRESSING: &str = "Progressing";
pub const AVAILABLE: &str = "Available";
pub const REPLICA_FAILURE: &str = "ReplicaFailure";
pub const NEW_RS_REASON: &str = "NewReplicaSetCreated";
pub const FOUND_NEW_RS_REASON: &str = "FoundNewReplicaSet";
pub const RS_UPDATED_REASON: &str = "ReplicaSetUpdated";
pub const NEW_RS_AVAILABLE_REASON: &str = "NewReplicaSetAvailable";
pub const TIMED_OUT_REASON: &str = "ProgressDeadlineExceeded";
pub const PAUSED_REASON: &str = "DeploymentPaused";
pub const RESUMED_REASON: &str = "DeploymentResumed";
pub const FAILED_RS_CREATE_REASON: &str = "ReplicaSetCreateError";
pub const MIN_AVAILABLE_REASON: &str = "MinimumReplicasAvailable";
pub const MIN_UNAVAILABLE_REASON: &str = "MinimumReplicasUnavailable";

// ---------------------------------------------------------------------------------------------
// Hashing and template equality
// ---------------------------------------------------------------------------------------------

/// The alphabet of upstream's `rand.SafeEncodeString` (no vowels, no confusable characters).
const SAFE_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// Upstream's `rand.SafeEncodeString`: each byte mapped into the safe alphabet.
pub fn safe_encode(s: &str) -> String {
    s.bytes()
        .map(|b| SAFE_ALPHABET[b as usize % SAFE_ALPHABET.len()] as char)
        .collect()
}

/// FNV-1a, 32 bits.
pub struct Fnv32a(u32);

impl Default for Fnv32a {
    fn default() -> Self {
        Fnv32a(0x811c_9dc5)
    }
}

impl Fnv32a {
    pub fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u32::from(*b);
            self.0 = self.0.wrapping_mul(0x0100_0193);
        }
    }

    pub fn sum32(&self) -> u32 {
        self.0
    }
}

fn normalize_quantities(map: &mut serde_json::Map<String, Value>) {
    for (_, v) in map.iter_mut() {
        if let Some(q) = krust_api::quantity::from_json(v) {
            *v = Value::String(format!("{}m", q.milli_value()));
        }
    }
}

/// Drops what Go's semantic equality cannot tell from absent: nulls, empty strings, empty
/// objects and empty lists (after their own pruning); writes quantities canonically.
fn prune(v: &mut Value) {
    match v {
        Value::Object(map) => {
            for (k, child) in map.iter_mut() {
                if (k == "limits" || k == "requests")
                    && let Value::Object(q) = child
                {
                    normalize_quantities(q);
                }
                prune(child);
            }
            map.retain(|_, child| !is_empty_value(child));
        }
        Value::Array(items) => items.iter_mut().for_each(prune),
        _ => {}
    }
}

fn is_empty_value(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Object(m) => m.is_empty(),
        Value::Array(a) => a.is_empty(),
        _ => false,
    }
}

/// A pod template as a normalized JSON value: without the `pod-template-hash` label and
/// `creationTimestamp`, pruned of empty values.
pub fn normalized_template(t: &PodTemplateSpec) -> Value {
    let mut v = serde_json::to_value(t).unwrap_or(Value::Null);
    if let Some(meta) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.remove("creationTimestamp");
        if let Some(labels) = meta.get_mut("labels").and_then(Value::as_object_mut) {
            labels.remove(POD_TEMPLATE_HASH);
        }
    }
    prune(&mut v);
    v
}

/// Upstream's `EqualIgnoreHash`: whether two templates are semantically equal once the
/// `pod-template-hash` label is ignored.
pub fn equal_ignore_hash(a: &PodTemplateSpec, b: &PodTemplateSpec) -> bool {
    normalized_template(a) == normalized_template(b)
}

/// JSON with object keys sorted, whatever the map implementation.
fn canonical_json(v: &Value, out: &mut String) {
    match v {
        Value::Object(map) => {
            let sorted: BTreeMap<&String, &Value> = map.iter().collect();
            out.push('{');
            for (i, (k, child)) in sorted.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                canonical_json(child, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, child) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical_json(child, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// The `pod-template-hash` of a template (upstream's `controller.ComputeHash`): FNV-32a of the
/// normalized template (plus the collision count, little-endian in 8 bytes, when set), its
/// decimal form mapped into the safe alphabet. Stable across restarts and equal for
/// semantically equal templates.
pub fn compute_hash(t: &PodTemplateSpec, collision_count: Option<i32>) -> String {
    let mut text = String::new();
    canonical_json(&normalized_template(t), &mut text);
    let mut h = Fnv32a::default();
    h.write(text.as_bytes());
    if let Some(c) = collision_count {
        let mut bytes = [0u8; 8];
        bytes[..4].copy_from_slice(&(c as u32).to_le_bytes());
        h.write(&bytes);
    }
    safe_encode(&h.sum32().to_string())
}

// ---------------------------------------------------------------------------------------------
// Deployment spec accessors
// ---------------------------------------------------------------------------------------------

/// `spec.replicas` (1 when unset).
pub fn replicas(d: &Deployment) -> i32 {
    d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1)
}

/// `spec.replicas` of a ReplicaSet (1 when unset).
pub fn rs_replicas(rs: &ReplicaSet) -> i32 {
    rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1)
}

/// `status.replicas` of a ReplicaSet.
pub fn rs_status_replicas(rs: &ReplicaSet) -> i32 {
    rs.status.as_ref().map(|s| s.replicas).unwrap_or(0)
}

/// `status.availableReplicas` of a ReplicaSet.
pub fn rs_available(rs: &ReplicaSet) -> i32 {
    rs.status
        .as_ref()
        .and_then(|s| s.available_replicas)
        .unwrap_or(0)
}

/// `status.readyReplicas` of a ReplicaSet.
pub fn rs_ready(rs: &ReplicaSet) -> i32 {
    rs.status
        .as_ref()
        .and_then(|s| s.ready_replicas)
        .unwrap_or(0)
}

/// Whether the Deployment uses the RollingUpdate strategy (the default).
pub fn is_rolling(d: &Deployment) -> bool {
    d.spec
        .as_ref()
        .and_then(|s| s.strategy.as_ref())
        .and_then(|s| s.type_.as_deref())
        .is_none_or(|t| t == "RollingUpdate")
}

/// Whether the Deployment uses the Recreate strategy.
pub fn is_recreate(d: &Deployment) -> bool {
    d.spec
        .as_ref()
        .and_then(|s| s.strategy.as_ref())
        .and_then(|s| s.type_.as_deref())
        == Some("Recreate")
}

/// Whether the Deployment is paused.
pub fn is_paused(d: &Deployment) -> bool {
    d.spec.as_ref().and_then(|s| s.paused).unwrap_or(false)
}

/// `spec.minReadySeconds`.
pub fn min_ready_seconds(d: &Deployment) -> i32 {
    d.spec
        .as_ref()
        .and_then(|s| s.min_ready_seconds)
        .unwrap_or(0)
}

/// `spec.progressDeadlineSeconds` when it is set and not "infinite" (MaxInt32).
pub fn progress_deadline(d: &Deployment) -> Option<i32> {
    d.spec
        .as_ref()
        .and_then(|s| s.progress_deadline_seconds)
        .filter(|s| *s != i32::MAX)
}

/// `spec.revisionHistoryLimit` when it limits anything.
pub fn revision_history_limit(d: &Deployment) -> Option<i32> {
    d.spec
        .as_ref()
        .and_then(|s| s.revision_history_limit)
        .filter(|s| *s != i32::MAX)
}

// ---------------------------------------------------------------------------------------------
// maxSurge / maxUnavailable
// ---------------------------------------------------------------------------------------------

/// Upstream's `GetScaledValueFromIntOrPercent`: an int as is, `N%` of `total` rounded up or
/// down.
pub fn scaled_value(v: &IntOrString, total: i32, round_up: bool) -> Result<i32, String> {
    match v {
        IntOrString::Int(i) => Ok(*i),
        IntOrString::String(s) => {
            let Some(num) = s.strip_suffix('%') else {
                return Err(format!(
                    "invalid value for IntOrString: invalid type: string is not a percentage: {s:?}"
                ));
            };
            let pct: i64 = num
                .parse()
                .map_err(|e| format!("invalid value for IntOrString: invalid value {s:?}: {e}"))?;
            let exact = pct as f64 * f64::from(total) / 100.0;
            Ok(if round_up {
                exact.ceil()
            } else {
                exact.floor()
            } as i32)
        }
    }
}

/// Upstream's `ResolveFenceposts`: (maxSurge, maxUnavailable) for `desired` replicas, surge
/// rounded up and unavailability rounded down; when both are zero, one pod may be unavailable.
pub fn resolve_fenceposts(
    max_surge: Option<&IntOrString>,
    max_unavailable: Option<&IntOrString>,
    desired: i32,
) -> Result<(i32, i32), String> {
    let zero = IntOrString::Int(0);
    let surge = scaled_value(max_surge.unwrap_or(&zero), desired, true)?;
    let mut unavailable = scaled_value(max_unavailable.unwrap_or(&zero), desired, false)?;
    if surge == 0 && unavailable == 0 {
        unavailable = 1;
    }
    Ok((surge, unavailable))
}

fn fenceposts(d: &Deployment) -> (i32, i32) {
    let rolling = d
        .spec
        .as_ref()
        .and_then(|s| s.strategy.as_ref())
        .and_then(|s| s.rolling_update.as_ref());
    resolve_fenceposts(
        rolling.and_then(|r| r.max_surge.as_ref()),
        rolling.and_then(|r| r.max_unavailable.as_ref()),
        replicas(d),
    )
    .unwrap_or((0, 0))
}

/// The most pods above `replicas` a rolling update may run (0 for Recreate).
pub fn max_surge(d: &Deployment) -> i32 {
    if !is_rolling(d) {
        return 0;
    }
    fenceposts(d).0
}

/// The most pods below `replicas` a rolling update may leave unavailable (0 for Recreate and
/// for zero replicas, never more than `replicas`).
pub fn max_unavailable(d: &Deployment) -> i32 {
    if !is_rolling(d) || replicas(d) == 0 {
        return 0;
    }
    fenceposts(d).1.min(replicas(d))
}

// ---------------------------------------------------------------------------------------------
// Revisions and annotations
// ---------------------------------------------------------------------------------------------

fn annotation<'a>(meta: &'a ObjectMeta, key: &str) -> Option<&'a str> {
    meta.annotations.as_ref()?.get(key).map(String::as_str)
}

/// The revision annotation of an object, parsed.
pub fn revision(meta: &ObjectMeta) -> Result<i64, String> {
    match annotation(meta, REVISION) {
        None | Some("") => Ok(0),
        Some(v) => v.parse().map_err(|_| format!("invalid revision {v:?}")),
    }
}

/// The highest revision among ReplicaSets (unparseable revisions are skipped).
pub fn max_revision<'a>(rss: impl IntoIterator<Item = &'a ReplicaSet>) -> i64 {
    rss.into_iter()
        .filter_map(|rs| revision(&rs.metadata).ok())
        .max()
        .unwrap_or(0)
}

/// Annotations a Deployment does not pass on to its ReplicaSets.
fn skip_copy(key: &str) -> bool {
    matches!(
        key,
        LAST_APPLIED | REVISION | REVISION_HISTORY | DESIRED_REPLICAS | MAX_REPLICAS | ROLLBACK_TO
    )
}

/// Copies the Deployment's annotations (but the skipped ones) to a ReplicaSet. True on change.
pub fn copy_annotations_to_rs(d: &Deployment, rs: &mut ObjectMeta) -> bool {
    let mut changed = false;
    let anns = rs.annotations.get_or_insert_with(BTreeMap::new);
    for (k, v) in d.metadata.annotations.iter().flatten() {
        if skip_copy(k) || anns.get(k) == Some(v) {
            continue;
        }
        anns.insert(k.clone(), v.clone());
        changed = true;
    }
    changed
}

/// Sets the desired- and max-replicas annotations. True on change.
pub fn set_replicas_annotations(rs: &mut ObjectMeta, desired: i32, max: i32) -> bool {
    let anns = rs.annotations.get_or_insert_with(BTreeMap::new);
    let mut changed = false;
    for (k, v) in [(DESIRED_REPLICAS, desired), (MAX_REPLICAS, max)] {
        let v = v.to_string();
        if anns.get(k) != Some(&v) {
            anns.insert(k.to_string(), v);
            changed = true;
        }
    }
    changed
}

/// Whether the desired- or max-replicas annotations differ from these values.
pub fn replicas_annotations_need_update(rs: &ObjectMeta, desired: i32, max: i32) -> bool {
    annotation(rs, DESIRED_REPLICAS) != Some(desired.to_string().as_str())
        || annotation(rs, MAX_REPLICAS) != Some(max.to_string().as_str())
}

/// The desired-replicas annotation of a ReplicaSet.
pub fn desired_replicas_annotation(rs: &ReplicaSet) -> Option<i32> {
    annotation(&rs.metadata, DESIRED_REPLICAS)?.parse().ok()
}

/// The max-replicas annotation of a ReplicaSet.
pub fn max_replicas_annotation(rs: &ReplicaSet) -> Option<i32> {
    annotation(&rs.metadata, MAX_REPLICAS)?.parse().ok()
}

/// Upstream's `SetNewReplicaSetAnnotations`: copies the Deployment's annotations, raises the
/// ReplicaSet's revision to `new_revision` (keeping the revisions it had in
/// `revision-history` when it is rolled back to) and, for a ReplicaSet about to be created,
/// sets the replica annotations. True on change.
pub fn set_new_rs_annotations(
    d: &Deployment,
    rs: &mut ObjectMeta,
    new_revision: &str,
    exists: bool,
    history_limit_chars: usize,
) -> bool {
    let mut changed = copy_annotations_to_rs(d, rs);
    let anns = rs.annotations.get_or_insert_with(BTreeMap::new);
    let old_revision = anns.get(REVISION).cloned();
    let old_int = match old_revision.as_deref() {
        None | Some("") => 0,
        Some(v) => match v.parse::<i64>() {
            Ok(n) => n,
            Err(_) => return false,
        },
    };
    let Ok(new_int) = new_revision.parse::<i64>() else {
        return false;
    };
    if old_int < new_int {
        anns.insert(REVISION.to_string(), new_revision.to_string());
        changed = true;
        if let Some(old) = old_revision.filter(|o| !o.is_empty()) {
            let history = anns.get(REVISION_HISTORY).cloned().unwrap_or_default();
            if history.is_empty() {
                anns.insert(REVISION_HISTORY.to_string(), old);
            } else {
                let parts: Vec<&str> = history.split(',').collect();
                let mut total = history.len() + old.len() + 1;
                let mut start = 0;
                while total > history_limit_chars && start < parts.len() {
                    total -= parts[start].len() + 1;
                    start += 1;
                }
                if total <= history_limit_chars {
                    let mut kept: Vec<&str> = parts[start..].to_vec();
                    kept.push(&old);
                    anns.insert(REVISION_HISTORY.to_string(), kept.join(","));
                }
            }
        }
    }
    if !exists {
        let desired = replicas(d);
        if set_replicas_annotations(rs, desired, desired + max_surge(d)) {
            changed = true;
        }
    }
    changed
}

/// Sets the Deployment's revision annotation. True on change.
pub fn set_deployment_revision(d: &mut Deployment, revision: &str) -> bool {
    let anns = d.metadata.annotations.get_or_insert_with(BTreeMap::new);
    if anns.get(REVISION).map(String::as_str) == Some(revision) {
        return false;
    }
    anns.insert(REVISION.to_string(), revision.to_string());
    true
}

// ---------------------------------------------------------------------------------------------
// Finding ReplicaSets
// ---------------------------------------------------------------------------------------------

/// Oldest first, by creation time then name (upstream's `ReplicaSetsByCreationTimestamp`).
pub fn by_creation(a: &ReplicaSet, b: &ReplicaSet) -> Ordering {
    let ta = a.metadata.creation_timestamp.as_ref().map(|t| t.0);
    let tb = b.metadata.creation_timestamp.as_ref().map(|t| t.0);
    ta.cmp(&tb)
        .then_with(|| a.metadata.name.cmp(&b.metadata.name))
}

/// Lowest revision first, then oldest.
pub fn by_revision(a: &ReplicaSet, b: &ReplicaSet) -> Ordering {
    let ra = revision(&a.metadata).unwrap_or(0);
    let rb = revision(&b.metadata).unwrap_or(0);
    ra.cmp(&rb).then_with(|| by_creation(a, b))
}

fn rs_template(rs: &ReplicaSet) -> Option<&PodTemplateSpec> {
    rs.spec.as_ref()?.template.as_ref()
}

/// The Deployment's template.
pub fn template(d: &Deployment) -> Option<&PodTemplateSpec> {
    d.spec.as_ref().map(|s| &s.template)
}

/// Upstream's `FindNewReplicaSet`: the oldest ReplicaSet whose template equals the
/// Deployment's, ignoring the hash.
pub fn find_new_rs<'a>(d: &Deployment, rss: &'a [ReplicaSet]) -> Option<&'a ReplicaSet> {
    let t = template(d)?;
    let mut sorted: Vec<&ReplicaSet> = rss.iter().collect();
    sorted.sort_by(|a, b| by_creation(a, b));
    sorted
        .into_iter()
        .find(|rs| rs_template(rs).is_some_and(|rt| equal_ignore_hash(rt, t)))
}

/// Every ReplicaSet but `new_uid`'s.
pub fn old_rss(rss: &[ReplicaSet], new_uid: Option<&str>) -> Vec<ReplicaSet> {
    rss.iter()
        .filter(|rs| new_uid.is_none() || rs.metadata.uid.as_deref() != new_uid)
        .cloned()
        .collect()
}

/// Sum of `spec.replicas`.
pub fn replica_count<'a>(rss: impl IntoIterator<Item = &'a ReplicaSet>) -> i32 {
    rss.into_iter().map(rs_replicas).sum()
}

/// Sum of `status.replicas`.
pub fn actual_replica_count<'a>(rss: impl IntoIterator<Item = &'a ReplicaSet>) -> i32 {
    rss.into_iter().map(rs_status_replicas).sum()
}

/// Sum of `status.availableReplicas`.
pub fn available_count<'a>(rss: impl IntoIterator<Item = &'a ReplicaSet>) -> i32 {
    rss.into_iter().map(rs_available).sum()
}

/// Sum of `status.readyReplicas`.
pub fn ready_count<'a>(rss: impl IntoIterator<Item = &'a ReplicaSet>) -> i32 {
    rss.into_iter().map(rs_ready).sum()
}

/// Whether a ReplicaSet has any replicas wanted.
pub fn is_active(rs: &ReplicaSet) -> bool {
    rs_replicas(rs) > 0
}

/// Upstream's `NewRSNewReplicas`: the size the new ReplicaSet may grow to now.
pub fn new_rs_new_replicas(d: &Deployment, all: &[&ReplicaSet], new_rs: &ReplicaSet) -> i32 {
    if !is_rolling(d) {
        return replicas(d);
    }
    let max_total = replicas(d) + max_surge(d);
    let current = replica_count(all.iter().copied());
    if current >= max_total {
        return rs_replicas(new_rs);
    }
    let up = (max_total - current).min(replicas(d) - rs_replicas(new_rs));
    rs_replicas(new_rs) + up
}

/// Upstream's `IsSaturated`: the ReplicaSet runs all the Deployment's replicas, available.
pub fn is_saturated(d: &Deployment, rs: Option<&ReplicaSet>) -> bool {
    let Some(rs) = rs else {
        return false;
    };
    desired_replicas_annotation(rs) == Some(replicas(d))
        && rs_replicas(rs) == replicas(d)
        && rs_available(rs) == replicas(d)
}

// ---------------------------------------------------------------------------------------------
// Conditions
// ---------------------------------------------------------------------------------------------

/// `now` at the precision the API stores.
pub fn now_time(now: Timestamp) -> Time {
    crate::replicaset::pods::now_time(now)
}

/// A condition with both times set to `now`.
pub fn new_condition(
    type_: &str,
    status: &str,
    reason: &str,
    message: String,
    now: Timestamp,
) -> DeploymentCondition {
    DeploymentCondition {
        type_: type_.into(),
        status: status.into(),
        reason: Some(reason.into()),
        message: Some(message),
        last_update_time: Some(now_time(now)),
        last_transition_time: Some(now_time(now)),
    }
}

/// The condition of `type_`.
pub fn get_condition<'a>(s: &'a DeploymentStatus, type_: &str) -> Option<&'a DeploymentCondition> {
    s.conditions.as_ref()?.iter().find(|c| c.type_ == type_)
}

/// Upstream's `SetDeploymentCondition`: no change when status and reason are the same; the
/// transition time is kept when only the reason changes.
pub fn set_condition(s: &mut DeploymentStatus, mut c: DeploymentCondition) {
    if let Some(cur) = get_condition(s, &c.type_) {
        if cur.status == c.status && cur.reason == c.reason {
            return;
        }
        if cur.status == c.status {
            c.last_transition_time = cur.last_transition_time.clone();
        }
    }
    remove_condition(s, &c.type_.clone());
    s.conditions.get_or_insert_with(Vec::new).push(c);
}

/// Removes the condition of `type_`.
pub fn remove_condition(s: &mut DeploymentStatus, type_: &str) {
    if let Some(cs) = s.conditions.as_mut() {
        cs.retain(|c| c.type_ != type_);
        if cs.is_empty() {
            s.conditions = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::apps::v1::{DeploymentSpec, DeploymentStrategy, RollingUpdateDeployment};
    use k8s_openapi::api::core::v1::{Container, PodSpec, ResourceRequirements};
    use serde_json::json;

    fn tmpl(image: &str) -> PodTemplateSpec {
        PodTemplateSpec {
            metadata: Some(ObjectMeta {
                labels: Some([("app".to_string(), "nginx".to_string())].into()),
                ..Default::default()
            }),
            spec: Some(PodSpec {
                containers: vec![Container {
                    name: "nginx".into(),
                    image: Some(image.into()),
                    ..Default::default()
                }],
                ..Default::default()
            }),
        }
    }

    #[test]
    fn fnv32a_known_values() {
        let mut h = Fnv32a::default();
        assert_eq!(h.sum32(), 0x811c9dc5);
        h.write(b"a");
        assert_eq!(h.sum32(), 0xe40c292c);
        let mut h = Fnv32a::default();
        h.write(b"foobar");
        assert_eq!(h.sum32(), 0xbf9cf968);
    }

    #[test]
    fn safe_encoding_matches_upstream_alphabet() {
        // Upstream's "5d8c45cbdb" is SafeEncodeString("1847017686").
        assert_eq!(safe_encode("1847017686"), "5d8c45cbdb");
        assert_eq!(safe_encode("0123456789"), "456789bcdf");
    }

    #[test]
    fn hash_is_stable_and_ignores_the_hash_label() {
        let a = tmpl("nginx:1.7.9");
        let h = compute_hash(&a, None);
        assert_eq!(h, compute_hash(&a.clone(), None));
        assert!(!h.is_empty() && h.len() <= 10);
        assert!(h.bytes().all(|b| SAFE_ALPHABET.contains(&b)));
        let mut labeled = a.clone();
        labeled
            .metadata
            .as_mut()
            .unwrap()
            .labels
            .as_mut()
            .unwrap()
            .insert(POD_TEMPLATE_HASH.into(), h.clone());
        assert_eq!(compute_hash(&labeled, None), h);
        assert_ne!(compute_hash(&tmpl("nginx:1.9.1"), None), h);
        assert_ne!(compute_hash(&a, Some(1)), h);
        assert_ne!(compute_hash(&a, Some(1)), compute_hash(&a, Some(2)));
        // Pinned: the hash must not change between builds (ReplicaSet names depend on it).
        assert_eq!(h, "d86899ccb");
    }

    #[test]
    fn undo_template_equals_the_replica_set_template() {
        // The ReplicaSet's template, as stored (hash label, defaults).
        let rs_t: PodTemplateSpec = serde_json::from_value(json!({
            "metadata": {"labels": {"app": "nginx", "pod-template-hash": "5d8c45cbdb"}},
            "spec": {"containers": [{"name": "nginx", "image": "nginx:1.7.9",
                "ports": [{"containerPort": 80, "protocol": "TCP"}],
                "terminationMessagePath": "/dev/termination-log", "imagePullPolicy": "IfNotPresent"}],
                "restartPolicy": "Always", "dnsPolicy": "ClusterFirst", "securityContext": {},
                "terminationGracePeriodSeconds": 30, "schedulerName": "default-scheduler"}
        }))
        .unwrap();
        // What `kubectl rollout undo` patches into the Deployment.
        let undo: PodTemplateSpec = serde_json::from_value(json!({
            "metadata": {"creationTimestamp": null, "labels": {"app": "nginx"}},
            "spec": {"containers": [{"name": "nginx", "image": "nginx:1.7.9", "resources": {},
                "ports": [{"containerPort": 80, "protocol": "TCP"}],
                "terminationMessagePath": "/dev/termination-log", "imagePullPolicy": "IfNotPresent"}],
                "restartPolicy": "Always", "dnsPolicy": "ClusterFirst", "securityContext": {},
                "terminationGracePeriodSeconds": 30, "schedulerName": "default-scheduler"}
        }))
        .unwrap();
        assert!(equal_ignore_hash(&rs_t, &undo));
        assert_eq!(compute_hash(&rs_t, None), compute_hash(&undo, None));
        let mut other = undo.clone();
        other.spec.as_mut().unwrap().containers[0].image = Some("nginx:1.9.1".into());
        assert!(!equal_ignore_hash(&rs_t, &other));
        // Quantities compare by value.
        let mut q1 = undo.clone();
        q1.spec.as_mut().unwrap().containers[0].resources = Some(ResourceRequirements {
            limits: Some(
                [(
                    "cpu".to_string(),
                    k8s_openapi::apimachinery::pkg::api::resource::Quantity("0.5".into()),
                )]
                .into(),
            ),
            ..Default::default()
        });
        let mut q2 = q1.clone();
        q2.spec.as_mut().unwrap().containers[0]
            .resources
            .as_mut()
            .unwrap()
            .limits
            .as_mut()
            .unwrap()
            .insert(
                "cpu".into(),
                k8s_openapi::apimachinery::pkg::api::resource::Quantity("500m".into()),
            );
        assert!(equal_ignore_hash(&q1, &q2));
        // Zero-valued pointers are not absent.
        let mut z = undo.clone();
        z.spec.as_mut().unwrap().termination_grace_period_seconds = Some(0);
        assert!(!equal_ignore_hash(&undo, &z));
    }

    fn deployment(replicas: i32, surge: IntOrString, unavail: IntOrString) -> Deployment {
        Deployment {
            spec: Some(DeploymentSpec {
                replicas: Some(replicas),
                strategy: Some(DeploymentStrategy {
                    type_: Some("RollingUpdate".into()),
                    rolling_update: Some(RollingUpdateDeployment {
                        max_surge: Some(surge),
                        max_unavailable: Some(unavail),
                    }),
                }),
                template: tmpl("nginx:1.7.9"),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn fenceposts_round_as_upstream() {
        let p = |s: &str| IntOrString::String(s.into());
        let i = IntOrString::Int;
        // 25% of 3: surge rounds up to 1, unavailable down to 0.
        let d = deployment(3, p("25%"), p("25%"));
        assert_eq!((max_surge(&d), max_unavailable(&d)), (1, 0));
        let d = deployment(10, p("25%"), p("25%"));
        assert_eq!((max_surge(&d), max_unavailable(&d)), (3, 2));
        // Both zero after rounding: one may be unavailable.
        let d = deployment(3, i(0), p("10%"));
        assert_eq!((max_surge(&d), max_unavailable(&d)), (0, 1));
        let d = deployment(3, i(2), i(5));
        assert_eq!((max_surge(&d), max_unavailable(&d)), (2, 3));
        let d = deployment(0, p("25%"), p("25%"));
        assert_eq!(max_unavailable(&d), 0);
        assert!(scaled_value(&p("abc"), 10, true).is_err());
        assert!(scaled_value(&p("10"), 10, true).is_err());
        let mut r = deployment(3, i(1), i(1));
        r.spec.as_mut().unwrap().strategy = Some(DeploymentStrategy {
            type_: Some("Recreate".into()),
            rolling_update: None,
        });
        assert_eq!((max_surge(&r), max_unavailable(&r)), (0, 0));
    }

    fn rs_meta(rev: Option<&str>, history: Option<&str>) -> ObjectMeta {
        let mut anns = BTreeMap::new();
        if let Some(r) = rev {
            anns.insert(REVISION.to_string(), r.to_string());
        }
        if let Some(h) = history {
            anns.insert(REVISION_HISTORY.to_string(), h.to_string());
        }
        ObjectMeta {
            annotations: Some(anns),
            ..Default::default()
        }
    }

    #[test]
    fn revisions_on_create_and_rollback() {
        let mut d = deployment(
            3,
            IntOrString::String("25%".into()),
            IntOrString::String("25%".into()),
        );
        d.metadata.annotations = Some(
            [
                (CHANGE_CAUSE.to_string(), "kubectl set image".to_string()),
                (LAST_APPLIED.to_string(), "{}".to_string()),
                (REVISION.to_string(), "2".to_string()),
            ]
            .into(),
        );
        // A new ReplicaSet.
        let mut m = ObjectMeta::default();
        assert!(set_new_rs_annotations(
            &d,
            &mut m,
            "3",
            false,
            MAX_REV_HISTORY_CHARS
        ));
        let a = m.annotations.as_ref().unwrap();
        assert_eq!(a[REVISION], "3");
        assert_eq!(a[CHANGE_CAUSE], "kubectl set image");
        assert_eq!(a[DESIRED_REPLICAS], "3");
        assert_eq!(a[MAX_REPLICAS], "4");
        assert!(!a.contains_key(LAST_APPLIED));
        assert!(!a.contains_key(REVISION_HISTORY));
        // Nothing to do the second time.
        assert!(!set_new_rs_annotations(
            &d,
            &mut m,
            "3",
            true,
            MAX_REV_HISTORY_CHARS
        ));
        // Rolled back to: revision 1 becomes 3, history keeps 1.
        let mut old = rs_meta(Some("1"), None);
        assert!(set_new_rs_annotations(
            &d,
            &mut old,
            "3",
            true,
            MAX_REV_HISTORY_CHARS
        ));
        let a = old.annotations.as_ref().unwrap();
        assert_eq!(a[REVISION], "3");
        assert_eq!(a[REVISION_HISTORY], "1");
        assert!(!a.contains_key(DESIRED_REPLICAS));
        let mut again = rs_meta(Some("3"), Some("1"));
        set_new_rs_annotations(&d, &mut again, "5", true, MAX_REV_HISTORY_CHARS);
        assert_eq!(again.annotations.as_ref().unwrap()[REVISION_HISTORY], "1,3");
        // The history is cut from the front to fit.
        let mut long = rs_meta(Some("9"), Some("1,3,5,7"));
        set_new_rs_annotations(&d, &mut long, "10", true, 7);
        assert_eq!(
            long.annotations.as_ref().unwrap()[REVISION_HISTORY],
            "3,5,7,9"
        );
        // Never lowered.
        let mut high = rs_meta(Some("7"), None);
        set_new_rs_annotations(&d, &mut high, "3", true, MAX_REV_HISTORY_CHARS);
        assert_eq!(high.annotations.as_ref().unwrap()[REVISION], "7");
        // Max revision skips junk.
        let rss = vec![
            ReplicaSet {
                metadata: rs_meta(Some("4"), None),
                ..Default::default()
            },
            ReplicaSet {
                metadata: rs_meta(Some("x"), None),
                ..Default::default()
            },
            ReplicaSet {
                metadata: rs_meta(None, None),
                ..Default::default()
            },
        ];
        assert_eq!(max_revision(&rss), 4);
        assert!(set_deployment_revision(&mut d, "3"));
        assert!(!set_deployment_revision(&mut d, "3"));
    }

    #[test]
    fn finds_the_oldest_matching_replica_set() {
        let d = deployment(3, IntOrString::Int(1), IntOrString::Int(1));
        let mk = |name: &str, secs: i64, image: &str| ReplicaSet {
            metadata: ObjectMeta {
                name: Some(name.into()),
                uid: Some(name.into()),
                creation_timestamp: Some(Time(Timestamp::from_second(secs).unwrap())),
                ..Default::default()
            },
            spec: Some(k8s_openapi::api::apps::v1::ReplicaSetSpec {
                template: Some(tmpl(image)),
                ..Default::default()
            }),
            status: None,
        };
        let rss = vec![
            mk("b", 20, "nginx:1.7.9"),
            mk("a", 30, "nginx:1.7.9"),
            mk("c", 10, "nginx:1.9.1"),
        ];
        assert_eq!(
            find_new_rs(&d, &rss).unwrap().metadata.name.as_deref(),
            Some("b")
        );
        assert_eq!(old_rss(&rss, Some("b")).len(), 2);
    }

    #[test]
    fn conditions_keep_transition_time_when_status_holds() {
        let t0 = Timestamp::from_second(100).unwrap();
        let t1 = Timestamp::from_second(200).unwrap();
        let mut s = DeploymentStatus::default();
        set_condition(
            &mut s,
            new_condition(PROGRESSING, "True", NEW_RS_REASON, "a".into(), t0),
        );
        set_condition(
            &mut s,
            new_condition(PROGRESSING, "True", NEW_RS_REASON, "b".into(), t1),
        );
        assert_eq!(
            get_condition(&s, PROGRESSING).unwrap().message.as_deref(),
            Some("a")
        );
        set_condition(
            &mut s,
            new_condition(PROGRESSING, "True", RS_UPDATED_REASON, "c".into(), t1),
        );
        let c = get_condition(&s, PROGRESSING).unwrap();
        assert_eq!(c.last_transition_time, Some(now_time(t0)));
        assert_eq!(c.last_update_time, Some(now_time(t1)));
        set_condition(
            &mut s,
            new_condition(PROGRESSING, "False", TIMED_OUT_REASON, "d".into(), t1),
        );
        assert_eq!(
            get_condition(&s, PROGRESSING).unwrap().last_transition_time,
            Some(now_time(t1))
        );
        remove_condition(&mut s, PROGRESSING);
        assert!(s.conditions.is_none());
    }
}
