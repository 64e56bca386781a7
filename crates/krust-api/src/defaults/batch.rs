//! Defaults of batch/v1 kinds: Job and CronJob, with their pod templates.

use super::pod::template;
use super::{Obj, default_ptr, default_str, each_obj, ensure, unset};
use serde_json::Value;

/// Default retries of a Job.
const BACKOFF_LIMIT: i64 = 6;
/// Retries of a Job with a per-index backoff limit (Go's `math.MaxInt32`).
const BACKOFF_LIMIT_PER_INDEX_MODE: i64 = i32::MAX as i64;

/// Defaults a Job: one completion and parallelism 1 when neither is set, six retries,
/// `NonIndexed` completions, not suspended, pods replaced once terminated (or failed, with a
/// pod failure policy), no manual selector; labels from the template when it has none.
pub(super) fn job(root: &mut Obj) {
    let template_labels = root
        .get("spec")
        .and_then(|s| s.get("template"))
        .and_then(|t| t.get("metadata"))
        .and_then(|m| m.get("labels"))
        .and_then(Value::as_object)
        .filter(|l| !l.is_empty())
        .cloned();
    let Some(spec) = ensure(root, "spec") else {
        return;
    };
    if unset(spec, "completions") && unset(spec, "parallelism") {
        default_ptr(spec, "completions", 1);
    }
    default_ptr(spec, "parallelism", 1);
    if unset(spec, "backoffLimit") {
        let limit = if unset(spec, "backoffLimitPerIndex") {
            BACKOFF_LIMIT
        } else {
            BACKOFF_LIMIT_PER_INDEX_MODE
        };
        spec.insert("backoffLimit".into(), Value::from(limit));
    }
    default_ptr(spec, "completionMode", "NonIndexed");
    default_ptr(spec, "suspend", false);
    pod_failure_policy(spec);
    if unset(spec, "podReplacementPolicy") {
        let policy = if unset(spec, "podFailurePolicy") {
            "TerminatingOrFailed"
        } else {
            "Failed"
        };
        spec.insert("podReplacementPolicy".into(), Value::from(policy));
    }
    default_ptr(spec, "manualSelector", false);
    if let Some(t) = ensure(spec, "template") {
        template(t);
    }
    if let Some(labels) = template_labels
        && let Some(meta) = ensure(root, "metadata")
        && super::empty_collection(meta, "labels")
    {
        meta.insert("labels".into(), Value::Object(labels));
    }
}

/// Pod condition patterns of a pod failure policy match status `True` by default.
fn pod_failure_policy(job_spec: &mut Obj) {
    if let Some(policy) = job_spec
        .get_mut("podFailurePolicy")
        .and_then(Value::as_object_mut)
    {
        each_obj(policy, "rules", |rule| {
            each_obj(rule, "onPodConditions", |pattern| {
                default_str(pattern, "status", "True");
            });
        });
    }
}

/// Defaults a CronJob: concurrent runs allowed, not suspended, three successful and one failed
/// Job kept; its job template's pod template defaulted (not the Job's own defaults).
pub(super) fn cron_job(root: &mut Obj) {
    let Some(spec) = ensure(root, "spec") else {
        return;
    };
    default_str(spec, "concurrencyPolicy", "Allow");
    default_ptr(spec, "suspend", false);
    default_ptr(spec, "successfulJobsHistoryLimit", 3);
    default_ptr(spec, "failedJobsHistoryLimit", 1);
    let Some(job_spec) = ensure(spec, "jobTemplate").and_then(|j| ensure(j, "spec")) else {
        return;
    };
    pod_failure_policy(job_spec);
    if let Some(t) = ensure(job_spec, "template") {
        template(t);
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{Case, run};
    use serde_json::{Value, json};

    fn pi_template() -> Value {
        json!({"spec": {"restartPolicy": "Never",
            "containers": [{"name": "pi", "image": "perl:5.34.0",
                "command": ["perl", "-Mbignum=bpi", "-wle", "print bpi(2000)"]}]}})
    }

    fn pi_template_defaulted() -> Value {
        json!({"spec": {"restartPolicy": "Never",
            "containers": [{"name": "pi", "image": "perl:5.34.0",
                "command": ["perl", "-Mbignum=bpi", "-wle", "print bpi(2000)"],
                "imagePullPolicy": "IfNotPresent", "resources": {},
                "terminationMessagePath": "/dev/termination-log",
                "terminationMessagePolicy": "File"}],
            "dnsPolicy": "ClusterFirst", "schedulerName": "default-scheduler",
            "securityContext": {}, "terminationGracePeriodSeconds": 30}})
    }

    #[test]
    fn jobs() {
        let cases: Vec<Case> = vec![
            (
                "batch",
                "Job",
                json!({"metadata": {"name": "pi"}, "spec": {"template": pi_template(),
                    "backoffLimit": 4}}),
                json!({"metadata": {"name": "pi"}, "spec": {"template": pi_template_defaulted(),
                    "backoffLimit": 4, "completions": 1, "parallelism": 1,
                    "completionMode": "NonIndexed", "suspend": false,
                    "podReplacementPolicy": "TerminatingOrFailed", "manualSelector": false}}),
            ),
            // Completions alone leave parallelism at 1 only; per-index backoff; a pod failure
            // policy; labels taken from the template.
            (
                "batch",
                "Job",
                json!({"spec": {"completions": 5, "completionMode": "Indexed",
                    "backoffLimitPerIndex": 1, "manualSelector": true,
                    "podFailurePolicy": {"rules": [{"action": "Ignore",
                        "onPodConditions": [{"type": "DisruptionTarget"}]}]},
                    "template": {"metadata": {"labels": {"app": "pi"}},
                        "spec": {"restartPolicy": "Never", "containers": []}}}}),
                json!({"metadata": {"labels": {"app": "pi"}},
                    "spec": {"completions": 5, "parallelism": 1, "completionMode": "Indexed",
                    "backoffLimitPerIndex": 1, "backoffLimit": 2147483647,
                    "manualSelector": true, "suspend": false,
                    "podFailurePolicy": {"rules": [{"action": "Ignore",
                        "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}]}]},
                    "podReplacementPolicy": "Failed",
                    "template": {"metadata": {"labels": {"app": "pi"}},
                        "spec": {"restartPolicy": "Never", "containers": [],
                        "dnsPolicy": "ClusterFirst", "schedulerName": "default-scheduler",
                        "securityContext": {}, "terminationGracePeriodSeconds": 30}}}}),
            ),
            (
                "batch",
                "Job",
                json!({"spec": {"parallelism": 0, "template": {}}}),
                json!({"spec": {"parallelism": 0, "backoffLimit": 6,
                    "completionMode": "NonIndexed", "suspend": false,
                    "podReplacementPolicy": "TerminatingOrFailed", "manualSelector": false,
                    "template": {"spec": {"dnsPolicy": "ClusterFirst", "restartPolicy": "Always",
                        "schedulerName": "default-scheduler", "securityContext": {},
                        "terminationGracePeriodSeconds": 30}}}}),
            ),
            (
                "batch",
                "CronJob",
                json!({"spec": {"schedule": "* * * * *",
                    "jobTemplate": {"spec": {"template": pi_template()}}}}),
                json!({"spec": {"schedule": "* * * * *", "concurrencyPolicy": "Allow",
                    "suspend": false, "successfulJobsHistoryLimit": 3,
                    "failedJobsHistoryLimit": 1,
                    "jobTemplate": {"spec": {"template": pi_template_defaulted()}}}}),
            ),
            (
                "batch",
                "CronJob",
                json!({"spec": {"concurrencyPolicy": "Forbid", "suspend": true,
                    "successfulJobsHistoryLimit": 0, "jobTemplate": "x"}}),
                json!({"spec": {"concurrencyPolicy": "Forbid", "suspend": true,
                    "successfulJobsHistoryLimit": 0, "failedJobsHistoryLimit": 1,
                    "jobTemplate": "x"}}),
            ),
        ];
        run(cases);
    }
}
