//! Validation of objects with upstream Kubernetes v1.33's rules and messages.
//!
//! [`validate`] checks a storage-version object (already defaulted) on create, or on update
//! against the stored object, and returns every problem as a [`FieldError`] with upstream's
//! field path, error type and detail. Every kind gets upstream's `ObjectMeta` checks (with the
//! kind's name syntax); Pods and the workload controllers (Deployment, ReplicaSet, StatefulSet,
//! DaemonSet, ReplicationController, Job, CronJob, PodTemplate), Services, ConfigMaps, Secrets
//! and Namespaces also get their spec checks and the fields that cannot change on update.
//!
//! Objects come from users, so nothing here assumes a field exists or has the right JSON
//! type: a value of the wrong type is reported as an `Invalid` error. Fields the server
//! defaults (a container's `terminationMessagePolicy`, a port's `protocol`, a Deployment's
//! `strategy`...) are treated as their default when absent.
//!
//! A few upstream checks belong to other parts of the server and are not repeated here: the
//! node port range and IP allocation (the allocator knows the configured ranges), and the
//! registry's clean-up of fields a Service type no longer uses (which this module tolerates
//! when they are left unchanged on update).
//!
//! The checks live in submodules: `meta` (metadata, labels, selectors), `pod` (pod specs and
//! templates), `apps` (workload controllers), `service`, `config` (ConfigMap, Secret,
//! Namespace) and `util` (JSON access, quantities, base64).

mod apps;
mod config;
mod meta;
mod pod;
mod service;
mod util;

#[cfg(test)]
mod tests;

use crate::field_error::{FieldError, Path};
use serde_json::Value;

/// Validates a storage-version object on create (`old` = None) or update (`old` = the stored
/// object). Returns every problem found.
pub fn validate(
    group: &str,
    kind: &str,
    namespaced: bool,
    obj: &Value,
    old: Option<&Value>,
) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let rule = meta::name_rule(group, kind);
    match old {
        None => meta::validate_object_meta(&mut errs, obj, namespaced, rule),
        Some(old) => meta::validate_object_meta_update(&mut errs, obj, old, namespaced),
    }
    match (group, kind) {
        ("", "Pod") => pod::validate_pod(&mut errs, obj, old),
        ("", "PodTemplate") => {
            let template = util::obj_or_null(&mut errs, obj, "template", &Path::default());
            pod::validate_pod_template_spec(&mut errs, template, &Path::new("template"), &[]);
        }
        ("", "ReplicationController") => apps::validate_replication_controller(&mut errs, obj),
        ("", "Service") => service::validate_service(&mut errs, obj, old),
        ("", "ConfigMap") => config::validate_config_map(&mut errs, obj, old),
        ("", "Secret") => config::validate_secret(&mut errs, obj, old),
        ("", "Namespace") => config::validate_namespace(&mut errs, obj),
        ("apps", "Deployment") => apps::validate_deployment(&mut errs, obj, old),
        ("apps", "ReplicaSet") => apps::validate_replica_set(&mut errs, obj, old),
        ("apps", "StatefulSet") => apps::validate_stateful_set(&mut errs, obj, old),
        ("apps", "DaemonSet") => apps::validate_daemon_set(&mut errs, obj, old),
        ("batch", "Job") => apps::validate_job(&mut errs, obj, old),
        ("batch", "CronJob") => apps::validate_cron_job(&mut errs, obj, old),
        _ => {}
    }
    // The generic registry checks names against the path-segment rules once the kind's own
    // validation passed (only reachable for kinds with looser name syntax).
    if errs.is_empty() && old.is_none() && rule != meta::NameRule::PathSegment {
        let name = meta::metadata(&mut Vec::new(), obj)
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or("");
        if !name.is_empty() {
            util::invalid_each(
                &mut errs,
                &Path::new("metadata").child("name"),
                name,
                crate::validation_names::path_segment_name(name),
            );
        }
    }
    errs
}
