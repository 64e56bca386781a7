//! Workload controllers: Deployment, ReplicaSet, StatefulSet and DaemonSet (`apps`),
//! ReplicationController (core), Job and CronJob (`batch`) — upstream's spec validation, the
//! selector/template agreement, update strategies, and the fields fixed after creation.

use super::meta::{selector_len, selector_matches, validate_label_selector};
use super::pod::validate_pod_template_spec;
use super::util::{
    Errs, FIELD_IMMUTABLE, NULL, get, get_arr, get_bool, get_int, get_str, immutable,
    int_or_percent_value, invalid_each, nonnegative, nonnegative_at, not_more_than_100_percent,
    obj_or_null, positive_int_or_percent, str_or_empty, type_error,
};
use crate::field_error::{FieldError, Path};
use crate::validation_names as names;
use serde_json::{Map, Value};

const SELECTOR_MISMATCH: &str = "`selector` does not match template `labels`";

/// The spec of an object (null when absent; a non-object is reported).
fn spec_of<'a>(errs: &mut Errs, obj: &'a Value) -> &'a Value {
    obj_or_null(errs, obj, "spec", &Path::default())
}

/// The labels of a pod template.
fn template_labels(template: &Value) -> Option<&Value> {
    get(get(template, "metadata").unwrap_or(&NULL), "labels")
}

/// The labels value shown in a selector mismatch (null when the template has none).
fn labels_value(template: &Value) -> Value {
    template_labels(template).cloned().unwrap_or(Value::Null)
}

/// A pod template's `restartPolicy` (defaulted to Always when absent).
fn restart_policy(template: &Value) -> &str {
    get(get(template, "spec").unwrap_or(&NULL), "restartPolicy")
        .and_then(Value::as_str)
        .filter(|p| !p.is_empty())
        .unwrap_or("Always")
}

/// Checks the required, strictly valid, non-empty `spec.selector` of an apps workload.
/// Returns whether it converts to a selector.
fn validate_required_selector(errs: &mut Errs, spec: &Value, path: &Path, what: &str) -> bool {
    let sp = path.child("selector");
    match get(spec, "selector") {
        None => {
            errs.push(FieldError::required(&sp, ""));
            true
        }
        Some(sel) => {
            let ok = validate_label_selector(errs, sel, &sp);
            if sel.is_object() && selector_len(sel) == 0 {
                errs.push(FieldError::invalid(
                    &sp,
                    sel.clone(),
                    format!("empty selector is invalid for {what}"),
                ));
            }
            ok
        }
    }
}

/// Upstream's `ValidatePodTemplateSpecForReplicaSet` (also used for Deployments): the selector
/// matches the template labels, the template is valid, restartPolicy is Always and
/// activeDeadlineSeconds is unset. `owner` names the kind in the message.
fn validate_template_for_controller(
    errs: &mut Errs,
    spec: &Value,
    path: &Path,
    owner: &str,
    extra_volumes: &[&str],
) {
    let tp = path.child("template");
    let template = obj_or_null(errs, spec, "template", path);
    let (empty, matches) = selector_matches(get(spec, "selector"), template_labels(template));
    if !empty && !matches {
        errs.push(FieldError::invalid(
            tp.child("metadata").child("labels"),
            labels_value(template),
            SELECTOR_MISMATCH,
        ));
    }
    validate_pod_template_spec(errs, template, &tp, extra_volumes);
    always_restart_no_deadline(errs, template, &tp, owner);
}

/// restartPolicy must be Always and activeDeadlineSeconds unset for long-running workloads.
fn always_restart_no_deadline(errs: &mut Errs, template: &Value, tp: &Path, owner: &str) {
    let policy = restart_policy(template);
    if policy != "Always" {
        errs.push(FieldError::not_supported(
            tp.child("spec").child("restartPolicy"),
            Value::from(policy),
            &["Always"],
        ));
    }
    let tspec = get(template, "spec").unwrap_or(&NULL);
    if get(tspec, "activeDeadlineSeconds").is_some() {
        errs.push(FieldError::forbidden(
            tp.child("spec").child("activeDeadlineSeconds"),
            format!("activeDeadlineSeconds in {owner} is not Supported"),
        ));
    }
}

/// `spec.selector` is immutable on update (apps/v1 and batch/v1).
fn immutable_selector(errs: &mut Errs, obj: &Value, old: &Value) {
    let new_spec = get(obj, "spec").unwrap_or(&NULL);
    let old_spec = get(old, "spec").unwrap_or(&NULL);
    immutable(
        errs,
        &Path::new("spec").child("selector"),
        get(new_spec, "selector"),
        get(old_spec, "selector"),
    );
}

/// Upstream's `ValidateDeploymentSpec` (and the strategy's immutable selector on update).
pub(crate) fn validate_deployment(errs: &mut Errs, obj: &Value, old: Option<&Value>) {
    let path = Path::new("spec");
    let spec = spec_of(errs, obj);
    nonnegative_at(errs, spec, "replicas", &path);
    if validate_required_selector(errs, spec, &path, "deployment") {
        validate_template_for_controller(errs, spec, &path, "ReplicaSet", &[]);
    } else {
        errs.push(FieldError::invalid(
            path.child("selector"),
            get(spec, "selector").cloned().unwrap_or(Value::Null),
            "invalid label selector",
        ));
    }
    validate_deployment_strategy(errs, spec, &path);
    let min_ready = get_int(errs, spec, "minReadySeconds", &path);
    if let Some(m) = min_ready {
        nonnegative(errs, &path.child("minReadySeconds"), m);
    }
    nonnegative_at(errs, spec, "revisionHistoryLimit", &path);
    if let Some(pds) = get_int(errs, spec, "progressDeadlineSeconds", &path) {
        let p = path.child("progressDeadlineSeconds");
        nonnegative(errs, &p, pds);
        if pds <= min_ready.unwrap_or(0) {
            errs.push(FieldError::invalid(
                p,
                Value::from(pds),
                "must be greater than minReadySeconds",
            ));
        }
    }
    if let Some(old) = old {
        immutable_selector(errs, obj, old);
    }
}

/// Upstream's `ValidateDeploymentStrategy`.
fn validate_deployment_strategy(errs: &mut Errs, spec: &Value, path: &Path) {
    let sp = path.child("strategy");
    let strategy = obj_or_null(errs, spec, "strategy", path);
    let rolling = get(strategy, "rollingUpdate");
    match get_str(errs, strategy, "type", &sp).unwrap_or("RollingUpdate") {
        "Recreate" => {
            if rolling.is_some() {
                errs.push(FieldError::forbidden(
                    sp.child("rollingUpdate"),
                    "may not be specified when strategy `type` is 'Recreate'",
                ));
            }
        }
        "RollingUpdate" => {
            let rp = sp.child("rollingUpdate");
            let ru = obj_or_null(errs, strategy, "rollingUpdate", &sp);
            let default = Value::from("25%");
            let max_unavailable = get(ru, "maxUnavailable").unwrap_or(&default);
            let max_surge = get(ru, "maxSurge").unwrap_or(&default);
            positive_int_or_percent(errs, max_unavailable, &rp.child("maxUnavailable"));
            positive_int_or_percent(errs, max_surge, &rp.child("maxSurge"));
            if int_or_percent_value(max_unavailable) == 0 && int_or_percent_value(max_surge) == 0 {
                errs.push(FieldError::invalid(
                    rp.child("maxUnavailable"),
                    max_unavailable.clone(),
                    "may not be 0 when `maxSurge` is 0",
                ));
            }
            not_more_than_100_percent(errs, max_unavailable, &rp.child("maxUnavailable"));
        }
        _ => errs.push(FieldError::not_supported(
            &sp,
            strategy.clone(),
            &["Recreate", "RollingUpdate"],
        )),
    }
}

/// Upstream's `ValidateReplicaSetSpec` (and the immutable selector on update).
pub(crate) fn validate_replica_set(errs: &mut Errs, obj: &Value, old: Option<&Value>) {
    let path = Path::new("spec");
    let spec = spec_of(errs, obj);
    nonnegative_at(errs, spec, "replicas", &path);
    nonnegative_at(errs, spec, "minReadySeconds", &path);
    // Upstream's ReplicaSet message names "deployment" too.
    if validate_required_selector(errs, spec, &path, "deployment") {
        validate_template_for_controller(errs, spec, &path, "ReplicaSet", &[]);
    } else {
        errs.push(FieldError::invalid(
            path.child("selector"),
            get(spec, "selector").cloned().unwrap_or(Value::Null),
            "invalid label selector",
        ));
    }
    if let Some(old) = old {
        immutable_selector(errs, obj, old);
    }
}

/// Upstream's `ValidateStatefulSetSpec`, and on update the rule that only replicas, ordinals,
/// template, updateStrategy, persistentVolumeClaimRetentionPolicy and minReadySeconds change.
/// The pod template is validated like other workloads' (volume mounts may also name
/// volumeClaimTemplates), where upstream checks only its labels and annotations.
pub(crate) fn validate_stateful_set(errs: &mut Errs, obj: &Value, old: Option<&Value>) {
    let path = Path::new("spec");
    let spec = spec_of(errs, obj);

    let pmp = get_str(errs, spec, "podManagementPolicy", &path).unwrap_or("OrderedReady");
    if pmp != "OrderedReady" && pmp != "Parallel" {
        errs.push(FieldError::invalid(
            path.child("podManagementPolicy"),
            Value::from(pmp),
            "must be 'OrderedReady' or 'Parallel'",
        ));
    }

    let usp = path.child("updateStrategy");
    let strategy = obj_or_null(errs, spec, "updateStrategy", &path);
    let rolling = get(strategy, "rollingUpdate");
    match get_str(errs, strategy, "type", &usp).unwrap_or("RollingUpdate") {
        "OnDelete" => {
            if let Some(ru) = rolling {
                errs.push(FieldError::invalid(
                    usp.child("rollingUpdate"),
                    ru.clone(),
                    "only allowed for updateStrategy 'RollingUpdate'",
                ));
            }
        }
        "RollingUpdate" => {
            if let Some(ru) = rolling {
                let rp = usp.child("rollingUpdate");
                nonnegative_at(errs, ru, "partition", &rp);
                if let Some(mu) = get(ru, "maxUnavailable") {
                    let mp = rp.child("maxUnavailable");
                    positive_int_or_percent(errs, mu, &mp);
                    if int_or_percent_value(mu) == 0 {
                        errs.push(FieldError::invalid(&mp, mu.clone(), "cannot be 0"));
                    }
                    not_more_than_100_percent(errs, mu, &mp);
                }
            }
        }
        _ => errs.push(FieldError::invalid(
            &usp,
            strategy.clone(),
            "must be 'RollingUpdate' or 'OnDelete'",
        )),
    }

    let policy_path = path.child("persistentVolumeClaimRetentionPolicy");
    let policy = obj_or_null(errs, spec, "persistentVolumeClaimRetentionPolicy", &path);
    for key in ["whenDeleted", "whenScaled"] {
        if let Some(v) = get_str(errs, policy, key, &policy_path)
            && v != "Retain"
            && v != "Delete"
        {
            errs.push(FieldError::not_supported(
                policy_path.child(key),
                Value::from(v),
                &["Retain", "Delete"],
            ));
        }
    }

    nonnegative_at(errs, spec, "replicas", &path);
    nonnegative_at(errs, spec, "minReadySeconds", &path);
    let ordinals = obj_or_null(errs, spec, "ordinals", &path);
    if let Some(start) = get_int(errs, ordinals, "start", &path.child("ordinals")) {
        nonnegative(errs, &path.child("ordinals.start"), start);
    }
    let service_name = str_or_empty(errs, spec, "serviceName", &path);
    if !service_name.is_empty() {
        invalid_each(
            errs,
            &path.child("serviceName"),
            service_name,
            names::dns1035_label(service_name),
        );
    }

    let ok = match get(spec, "selector") {
        None => {
            errs.push(FieldError::required(path.child("selector"), ""));
            true
        }
        Some(sel) => {
            let ok = validate_label_selector(errs, sel, &path.child("selector"));
            if sel.is_object() && selector_len(sel) == 0 {
                errs.push(FieldError::invalid(
                    path.child("selector"),
                    sel.clone(),
                    "empty selector is invalid for statefulset",
                ));
            }
            ok
        }
    };
    let claim_names: Vec<&str> = get_arr(&mut Vec::new(), spec, "volumeClaimTemplates", &path)
        .iter()
        .filter_map(|t| get(get(t, "metadata").unwrap_or(&NULL), "name").and_then(Value::as_str))
        .collect();
    if ok {
        let tp = path.child("template");
        let template = obj_or_null(errs, spec, "template", &path);
        let (empty, matches) = selector_matches(get(spec, "selector"), template_labels(template));
        if !empty && !matches {
            errs.push(FieldError::invalid(
                tp.child("metadata").child("labels"),
                labels_value(template),
                SELECTOR_MISMATCH,
            ));
        }
        validate_pod_template_spec(errs, template, &tp, &claim_names);
    } else {
        errs.push(FieldError::invalid(
            path.child("selector"),
            get(spec, "selector").cloned().unwrap_or(Value::Null),
            "",
        ));
    }
    let template = get(spec, "template").unwrap_or(&NULL);
    always_restart_no_deadline(errs, template, &path.child("template"), "StatefulSet");

    if let Some(old) = old {
        let mutable = [
            "replicas",
            "ordinals",
            "template",
            "updateStrategy",
            "persistentVolumeClaimRetentionPolicy",
            "minReadySeconds",
        ];
        if strip_keys(spec, &mutable) != strip_keys(get(old, "spec").unwrap_or(&NULL), &mutable) {
            errs.push(FieldError::forbidden(
                &path,
                "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden",
            ));
        }
    }
}

/// An object without some keys (and without nulls), for comparisons.
fn strip_keys(v: &Value, keys: &[&str]) -> Map<String, Value> {
    v.as_object()
        .map(|m| {
            m.iter()
                .filter(|(k, v)| !keys.contains(&k.as_str()) && !v.is_null())
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        })
        .unwrap_or_default()
}

/// Upstream's `ValidateDaemonSetSpec` (and the immutable selector on update).
pub(crate) fn validate_daemon_set(errs: &mut Errs, obj: &Value, old: Option<&Value>) {
    let path = Path::new("spec");
    let spec = spec_of(errs, obj);
    let sel = get(spec, "selector");
    let ok = match sel {
        Some(sel) => validate_label_selector(errs, sel, &path.child("selector")),
        None => true,
    };
    let tp = path.child("template");
    let template = obj_or_null(errs, spec, "template", &path);
    if ok {
        let (_, matches) = selector_matches(sel, template_labels(template));
        if !matches {
            errs.push(FieldError::invalid(
                tp.child("metadata").child("labels"),
                labels_value(template),
                SELECTOR_MISMATCH,
            ));
        }
    }
    if let Some(sel) = sel.filter(|s| s.is_object() && selector_len(s) == 0) {
        errs.push(FieldError::invalid(
            path.child("selector"),
            sel.clone(),
            "empty selector is invalid for daemonset",
        ));
    }
    validate_pod_template_spec(errs, template, &tp, &[]);
    always_restart_no_deadline(errs, template, &tp, "DaemonSet");
    nonnegative_at(errs, spec, "minReadySeconds", &path);
    nonnegative_at(errs, spec, "templateGeneration", &path);

    let usp = path.child("updateStrategy");
    let strategy = obj_or_null(errs, spec, "updateStrategy", &path);
    match get_str(errs, strategy, "type", &usp).unwrap_or("RollingUpdate") {
        "OnDelete" => {}
        "RollingUpdate" => {
            let rp = usp.child("rollingUpdate");
            let ru = obj_or_null(errs, strategy, "rollingUpdate", &usp);
            let (one, zero) = (Value::from(1), Value::from(0));
            let max_unavailable = get(ru, "maxUnavailable").unwrap_or(&one);
            let max_surge = get(ru, "maxSurge").unwrap_or(&zero);
            positive_int_or_percent(errs, max_unavailable, &rp.child("maxUnavailable"));
            positive_int_or_percent(errs, max_surge, &rp.child("maxSurge"));
            not_more_than_100_percent(errs, max_unavailable, &rp.child("maxUnavailable"));
            not_more_than_100_percent(errs, max_surge, &rp.child("maxSurge"));
            let has_unavailable = int_or_percent_value(max_unavailable) != 0;
            let has_surge = int_or_percent_value(max_surge) != 0;
            if has_unavailable && has_surge {
                errs.push(FieldError::invalid(
                    rp.child("maxSurge"),
                    max_surge.clone(),
                    "may not be set when maxUnavailable is non-zero",
                ));
            } else if !has_unavailable && !has_surge {
                errs.push(FieldError::required(
                    rp.child("maxUnavailable"),
                    "cannot be 0 when maxSurge is 0",
                ));
            }
        }
        _ => errs.push(FieldError::not_supported(
            &usp,
            strategy.clone(),
            &["RollingUpdate", "OnDelete"],
        )),
    }
    nonnegative_at(errs, spec, "revisionHistoryLimit", &path);
    if let Some(old) = old {
        immutable_selector(errs, obj, old);
    }
}

/// Upstream's `ValidateReplicationControllerSpec`: the selector (a plain label map, defaulted
/// from the template labels) must be non-empty and match the template.
pub(crate) fn validate_replication_controller(errs: &mut Errs, obj: &Value) {
    let path = Path::new("spec");
    let spec = spec_of(errs, obj);
    nonnegative_at(errs, spec, "minReadySeconds", &path);
    let template = get(spec, "template");
    let non_empty = |v: &'_ Value| v.as_object().is_some_and(|m| !m.is_empty());
    let selector = get(spec, "selector")
        .filter(|s| non_empty(s))
        .or_else(|| template.and_then(template_labels))
        .and_then(Value::as_object)
        .filter(|m| !m.is_empty());
    if selector.is_none() {
        errs.push(FieldError::required(path.child("selector"), ""));
    }
    nonnegative_at(errs, spec, "replicas", &path);
    let tp = path.child("template");
    let Some(template) = template else {
        errs.push(FieldError::required(&tp, ""));
        return;
    };
    if !template.is_object() {
        errs.push(type_error(&tp, template, "object"));
        return;
    }
    if let Some(sel) = selector {
        let labels = template_labels(template).and_then(Value::as_object);
        let matches = sel
            .iter()
            .all(|(k, v)| labels.and_then(|l| l.get(k)) == Some(v));
        if !matches {
            errs.push(FieldError::invalid(
                tp.child("metadata").child("labels"),
                labels_value(template),
                SELECTOR_MISMATCH,
            ));
        }
    }
    validate_pod_template_spec(errs, template, &tp, &[]);
    always_restart_no_deadline(errs, template, &tp, "ReplicationController");
}

/// Upstream's `validateJobSpec` (without the selector), shared by Jobs and CronJob job
/// templates.
fn validate_job_spec(errs: &mut Errs, spec: &Value, path: &Path) {
    for key in [
        "parallelism",
        "completions",
        "activeDeadlineSeconds",
        "backoffLimit",
        "ttlSecondsAfterFinished",
    ] {
        nonnegative_at(errs, spec, key, path);
    }
    if let Some(mode) = get_str(errs, spec, "completionMode", path) {
        if mode != "NonIndexed" && mode != "Indexed" {
            errs.push(FieldError::not_supported(
                path.child("completionMode"),
                Value::from(mode),
                &["NonIndexed", "Indexed"],
            ));
        } else if mode == "Indexed" && get(spec, "completions").is_none() {
            errs.push(FieldError::required(
                path.child("completions"),
                "when completion mode is Indexed",
            ));
        }
    }
    let tp = path.child("template");
    let template = obj_or_null(errs, spec, "template", path);
    validate_pod_template_spec(errs, template, &tp, &[]);
    let policy = get(get(template, "spec").unwrap_or(&NULL), "restartPolicy")
        .and_then(Value::as_str)
        .unwrap_or("");
    let rp = tp.child("spec").child("restartPolicy");
    match policy {
        "" | "Always" => errs.push(FieldError::required(
            rp,
            "valid values: \"OnFailure\", \"Never\"",
        )),
        "OnFailure" | "Never" => {}
        other => errs.push(FieldError::not_supported(
            rp,
            Value::from(other),
            &["OnFailure", "Never"],
        )),
    }
}

/// Upstream's `ValidateJob` and `ValidateJobUpdate`. The server generates the selector unless
/// `manualSelector` is set, so a missing selector is only an error with a manual selector.
pub(crate) fn validate_job(errs: &mut Errs, obj: &Value, old: Option<&Value>) {
    let path = Path::new("spec");
    let spec = spec_of(errs, obj);
    validate_job_spec(errs, spec, &path);
    let manual = get_bool(errs, spec, "manualSelector", &path) == Some(true);
    match get(spec, "selector") {
        None if manual => errs.push(FieldError::required(path.child("selector"), "")),
        None => {}
        Some(sel) => {
            validate_label_selector(errs, sel, &path.child("selector"));
            let template = get(spec, "template").unwrap_or(&NULL);
            let (_, matches) = selector_matches(Some(sel), template_labels(template));
            if !matches {
                errs.push(FieldError::invalid(
                    path.child("template").child("metadata").child("labels"),
                    labels_value(template),
                    SELECTOR_MISMATCH,
                ));
            }
        }
    }
    let Some(old) = old else {
        return;
    };
    let new_spec = get(obj, "spec").unwrap_or(&NULL);
    let old_spec = get(old, "spec").unwrap_or(&NULL);
    for key in [
        "completions",
        "selector",
        "completionMode",
        "podFailurePolicy",
        "backoffLimitPerIndex",
    ] {
        immutable(
            errs,
            &path.child(key),
            get(new_spec, key),
            get(old_spec, key),
        );
    }
    // The template is immutable, except scheduling directives of a job that is suspended and
    // has not started.
    let never_started = get(get(old, "status").unwrap_or(&NULL), "startTime").is_none();
    let suspended = get(old_spec, "suspend").and_then(Value::as_bool) == Some(true);
    let scheduling = ["nodeSelector", "tolerations", "affinity", "schedulingGates"];
    let comparable = |t: Option<&Value>| -> Value {
        let mut t = t.cloned().unwrap_or(Value::Null);
        if suspended
            && never_started
            && let Some(m) = t.as_object_mut()
        {
            m.remove("metadata");
            if let Some(s) = m.get_mut("spec").and_then(Value::as_object_mut) {
                for k in scheduling {
                    s.remove(k);
                }
            }
        }
        t
    };
    let new_t = get(new_spec, "template");
    if comparable(new_t) != comparable(get(old_spec, "template")) {
        errs.push(FieldError::invalid(
            path.child("template"),
            new_t.cloned().unwrap_or(Value::Null),
            FIELD_IMMUTABLE,
        ));
    }
}

/// Upstream's `ValidateCronJobCreate`/`ValidateCronJobUpdate`.
pub(crate) fn validate_cron_job(errs: &mut Errs, obj: &Value, old: Option<&Value>) {
    let path = Path::new("spec");
    if old.is_none() {
        let name = get(get(obj, "metadata").unwrap_or(&NULL), "name")
            .and_then(Value::as_str)
            .unwrap_or("");
        // A CronJob's name plus an 11-character suffix must fit a DNS-1035 label.
        if name.len() > 52 {
            errs.push(FieldError::invalid(
                "metadata.name",
                Value::from(name),
                "must be no more than 52 characters",
            ));
        }
    }
    let spec = spec_of(errs, obj);
    let schedule = str_or_empty(errs, spec, "schedule", &path);
    if schedule.is_empty() {
        errs.push(FieldError::required(path.child("schedule"), ""));
    } else if let Err(msg) = check_cron_schedule(schedule) {
        errs.push(FieldError::invalid(
            path.child("schedule"),
            Value::from(schedule),
            msg,
        ));
    }
    nonnegative_at(errs, spec, "startingDeadlineSeconds", &path);
    if let Some(p) = get_str(errs, spec, "concurrencyPolicy", &path)
        && !["Allow", "Forbid", "Replace"].contains(&p)
    {
        errs.push(FieldError::not_supported(
            path.child("concurrencyPolicy"),
            Value::from(p),
            &["Allow", "Forbid", "Replace"],
        ));
    }
    let jtp = path.child("jobTemplate");
    let job_template = obj_or_null(errs, spec, "jobTemplate", &path);
    let jsp = jtp.child("spec");
    let job_spec = obj_or_null(errs, job_template, "spec", &jtp);
    validate_job_spec(errs, job_spec, &jsp);
    if let Some(sel) = get(job_spec, "selector") {
        errs.push(FieldError::invalid(
            jsp.child("selector"),
            sel.clone(),
            "`selector` will be auto-generated",
        ));
    }
    if get_bool(errs, job_spec, "manualSelector", &jsp) == Some(true) {
        errs.push(FieldError::not_supported(
            jsp.child("manualSelector"),
            Value::from(true),
            &["nil", "false"],
        ));
    }
    nonnegative_at(errs, spec, "successfulJobsHistoryLimit", &path);
    nonnegative_at(errs, spec, "failedJobsHistoryLimit", &path);
}

/// A light check of a standard cron schedule (five fields, or a `@` descriptor), with
/// robfig/cron's messages.
fn check_cron_schedule(schedule: &str) -> Result<(), String> {
    if let Some(desc) = schedule.strip_prefix('@') {
        let known = [
            "yearly", "annually", "monthly", "weekly", "daily", "midnight", "hourly",
        ];
        if known.contains(&desc) || desc.starts_with("every ") {
            return Ok(());
        }
        return Err(format!("unrecognized descriptor: {schedule}"));
    }
    let fields: Vec<&str> = schedule
        .split_whitespace()
        .filter(|f| !f.starts_with("TZ=") && !f.starts_with("CRON_TZ="))
        .collect();
    if fields.len() != 5 {
        return Err(format!(
            "expected exactly 5 fields, found {}: [{}]",
            fields.len(),
            fields.join(" ")
        ));
    }
    for f in &fields {
        let ok = f
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '*' | '/' | ',' | '-' | '?'));
        if !ok {
            return Err(format!("failed to parse int from {f}"));
        }
    }
    Ok(())
}
