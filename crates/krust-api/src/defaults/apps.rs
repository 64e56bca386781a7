//! Defaults of apps/v1 kinds: Deployment, ReplicaSet, StatefulSet and DaemonSet, with their
//! pod templates (and the StatefulSet's volume claim templates).

use super::pod::{claim_spec, template};
use super::{Obj, child, default_ptr, default_str, each_obj, ensure, str_of};

/// Defaults a Deployment: replicas 1, a `RollingUpdate` strategy of 25%/25%, ten old
/// ReplicaSets kept, a 600 s progress deadline.
pub(super) fn deployment(root: &mut Obj) {
    let Some(spec) = ensure(root, "spec") else {
        return;
    };
    default_ptr(spec, "replicas", 1);
    if let Some(strategy) = ensure(spec, "strategy") {
        default_str(strategy, "type", "RollingUpdate");
        if str_of(strategy, "type") == "RollingUpdate"
            && let Some(rolling) = ensure(strategy, "rollingUpdate")
        {
            default_ptr(rolling, "maxUnavailable", "25%");
            default_ptr(rolling, "maxSurge", "25%");
        }
    }
    default_ptr(spec, "revisionHistoryLimit", 10);
    default_ptr(spec, "progressDeadlineSeconds", 600);
    pod_template(spec);
}

/// Defaults a ReplicaSet: replicas 1.
pub(super) fn replica_set(root: &mut Obj) {
    let Some(spec) = ensure(root, "spec") else {
        return;
    };
    default_ptr(spec, "replicas", 1);
    pod_template(spec);
}

/// Defaults a StatefulSet: `OrderedReady` pods, a `RollingUpdate` strategy (partition 0 when
/// the strategy was defaulted or has a `rollingUpdate`), claims retained, replicas 1, ten
/// revisions kept, and claim templates defaulted like claims.
pub(super) fn stateful_set(root: &mut Obj) {
    let Some(spec) = ensure(root, "spec") else {
        return;
    };
    default_str(spec, "podManagementPolicy", "OrderedReady");
    if let Some(strategy) = ensure(spec, "updateStrategy") {
        if super::empty_str(strategy, "type") {
            strategy.insert("type".into(), "RollingUpdate".into());
            // Only a defaulted type brings a default rollingUpdate along.
            ensure(strategy, "rollingUpdate");
        }
        if str_of(strategy, "type") == "RollingUpdate"
            && let Some(rolling) = child(strategy, "rollingUpdate")
        {
            default_ptr(rolling, "partition", 0);
        }
    }
    if let Some(retention) = ensure(spec, "persistentVolumeClaimRetentionPolicy") {
        default_str(retention, "whenDeleted", "Retain");
        default_str(retention, "whenScaled", "Retain");
    }
    default_ptr(spec, "replicas", 1);
    default_ptr(spec, "revisionHistoryLimit", 10);
    pod_template(spec);
    each_obj(spec, "volumeClaimTemplates", |claim| {
        default_str(claim, "apiVersion", "v1");
        default_str(claim, "kind", "PersistentVolumeClaim");
        if let Some(claim_spec_obj) = ensure(claim, "spec") {
            claim_spec(claim_spec_obj);
        }
        if let Some(status) = ensure(claim, "status") {
            default_str(status, "phase", "Pending");
        }
    });
}

/// Defaults a DaemonSet: a `RollingUpdate` strategy with maxUnavailable 1 and maxSurge 0, ten
/// revisions kept.
pub(super) fn daemon_set(root: &mut Obj) {
    let Some(spec) = ensure(root, "spec") else {
        return;
    };
    if let Some(strategy) = ensure(spec, "updateStrategy") {
        default_str(strategy, "type", "RollingUpdate");
        if str_of(strategy, "type") == "RollingUpdate"
            && let Some(rolling) = ensure(strategy, "rollingUpdate")
        {
            default_ptr(rolling, "maxUnavailable", 1);
            default_ptr(rolling, "maxSurge", 0);
        }
    }
    default_ptr(spec, "revisionHistoryLimit", 10);
    pod_template(spec);
}

/// The `template` of a workload spec (a struct upstream, so created when missing).
fn pod_template(spec: &mut Obj) {
    if let Some(t) = ensure(spec, "template") {
        template(t);
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{Case, run};
    use serde_json::{Value, json};

    fn nginx_template() -> Value {
        json!({"metadata": {"labels": {"app": "nginx"}},
            "spec": {"containers": [{"name": "nginx", "image": "nginx:1.7.9",
                "ports": [{"containerPort": 80}]}]}})
    }

    fn nginx_template_defaulted() -> Value {
        json!({"metadata": {"labels": {"app": "nginx"}},
            "spec": {"containers": [{"name": "nginx", "image": "nginx:1.7.9",
                "imagePullPolicy": "IfNotPresent",
                "ports": [{"containerPort": 80, "protocol": "TCP"}],
                "resources": {},
                "terminationMessagePath": "/dev/termination-log",
                "terminationMessagePolicy": "File"}],
                "dnsPolicy": "ClusterFirst", "restartPolicy": "Always",
                "schedulerName": "default-scheduler", "securityContext": {},
                "terminationGracePeriodSeconds": 30}})
    }

    #[test]
    fn workloads() {
        let cases: Vec<Case> = vec![
            (
                "apps",
                "Deployment",
                json!({"spec": {"replicas": 3, "template": nginx_template()}}),
                json!({"spec": {"replicas": 3,
                    "strategy": {"type": "RollingUpdate",
                        "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}},
                    "revisionHistoryLimit": 10, "progressDeadlineSeconds": 600,
                    "template": nginx_template_defaulted()}}),
            ),
            (
                "apps",
                "Deployment",
                json!({"spec": {"strategy": {"type": "Recreate"}, "revisionHistoryLimit": 0,
                    "template": nginx_template()}}),
                json!({"spec": {"replicas": 1, "strategy": {"type": "Recreate"},
                    "revisionHistoryLimit": 0, "progressDeadlineSeconds": 600,
                    "template": nginx_template_defaulted()}}),
            ),
            (
                "apps",
                "Deployment",
                json!({"spec": {"strategy": {"rollingUpdate": {"maxSurge": 1}},
                    "template": nginx_template()}}),
                json!({"spec": {"replicas": 1, "strategy": {"type": "RollingUpdate",
                        "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": 1}},
                    "revisionHistoryLimit": 10, "progressDeadlineSeconds": 600,
                    "template": nginx_template_defaulted()}}),
            ),
            (
                "apps",
                "ReplicaSet",
                json!({"spec": {"template": nginx_template()}}),
                json!({"spec": {"replicas": 1, "template": nginx_template_defaulted()}}),
            ),
            (
                "apps",
                "StatefulSet",
                json!({"spec": {"serviceName": "web", "template": nginx_template(),
                    "volumeClaimTemplates": [{"metadata": {"name": "www"},
                        "spec": {"accessModes": ["ReadWriteOnce"],
                            "resources": {"requests": {"storage": "1Gi"}}}}]}}),
                json!({"spec": {"serviceName": "web", "replicas": 1,
                    "podManagementPolicy": "OrderedReady",
                    "updateStrategy": {"type": "RollingUpdate",
                        "rollingUpdate": {"partition": 0}},
                    "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Retain",
                        "whenScaled": "Retain"},
                    "revisionHistoryLimit": 10,
                    "template": nginx_template_defaulted(),
                    "volumeClaimTemplates": [{"apiVersion": "v1",
                        "kind": "PersistentVolumeClaim", "metadata": {"name": "www"},
                        "spec": {"accessModes": ["ReadWriteOnce"],
                            "resources": {"requests": {"storage": "1Gi"}},
                            "volumeMode": "Filesystem"},
                        "status": {"phase": "Pending"}}]}}),
            ),
            // An explicit RollingUpdate without rollingUpdate gets no partition; OnDelete none.
            (
                "apps",
                "StatefulSet",
                json!({"spec": {"updateStrategy": {"type": "RollingUpdate"},
                    "podManagementPolicy": "Parallel",
                    "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Delete"},
                    "template": nginx_template()}}),
                json!({"spec": {"replicas": 1, "podManagementPolicy": "Parallel",
                    "updateStrategy": {"type": "RollingUpdate"},
                    "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Delete",
                        "whenScaled": "Retain"},
                    "revisionHistoryLimit": 10, "template": nginx_template_defaulted()}}),
            ),
            (
                "apps",
                "StatefulSet",
                json!({"spec": {"updateStrategy": {"type": "OnDelete",
                    "rollingUpdate": {}}, "template": nginx_template()}}),
                json!({"spec": {"replicas": 1, "podManagementPolicy": "OrderedReady",
                    "updateStrategy": {"type": "OnDelete", "rollingUpdate": {}},
                    "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Retain",
                        "whenScaled": "Retain"},
                    "revisionHistoryLimit": 10, "template": nginx_template_defaulted()}}),
            ),
            (
                "apps",
                "DaemonSet",
                json!({"spec": {"template": nginx_template()}}),
                json!({"spec": {"updateStrategy": {"type": "RollingUpdate",
                        "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}},
                    "revisionHistoryLimit": 10, "template": nginx_template_defaulted()}}),
            ),
            (
                "apps",
                "DaemonSet",
                json!({"spec": {"updateStrategy": {"type": "OnDelete"},
                    "template": nginx_template()}}),
                json!({"spec": {"updateStrategy": {"type": "OnDelete"},
                    "revisionHistoryLimit": 10, "template": nginx_template_defaulted()}}),
            ),
            // Wrong types.
            (
                "apps",
                "Deployment",
                json!({"spec": {"strategy": "fast", "replicas": "3", "template": 1}}),
                json!({"spec": {"strategy": "fast", "replicas": "3", "template": 1,
                    "revisionHistoryLimit": 10, "progressDeadlineSeconds": 600}}),
            ),
            (
                "apps",
                "StatefulSet",
                json!({"spec": []}),
                json!({"spec": []}),
            ),
            (
                "apps",
                "ControllerRevision",
                json!({"revision": 1}),
                json!({"revision": 1}),
            ),
        ];
        run(cases);
    }
}
