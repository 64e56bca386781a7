//! `Priority`: a new Pod's `priorityClassName` is resolved from the PriorityClasses into
//! `spec.priority` and `spec.preemptionPolicy` (403 for an unknown class, or for a priority
//! given directly that differs); without a class the global default class applies if one
//! exists, priority 0 otherwise. Also guards the PriorityClasses themselves: one global
//! default, and the `system-` prefix reserved for the built-in classes.

use super::{Attributes, Operation, Plugin};
use crate::ApiServer;
use crate::status::ApiError;
use futures::future::BoxFuture;
use krust_api::FieldError;
use serde_json::{Value, json};

/// The classes every cluster has: name, value, description (upstream's).
pub(crate) const SYSTEM_PRIORITY_CLASSES: [(&str, i64, &str); 2] = [
    (
        "system-node-critical",
        2_000_001_000,
        "Used for system critical pods that must not be moved from their current node.",
    ),
    (
        "system-cluster-critical",
        2_000_000_000,
        "Used for system critical pods that must run in the cluster, but can be moved to another node if necessary.",
    ),
];

const PREFIX: &str = "/registry/scheduling.k8s.io/priorityclasses/";

pub(crate) struct Priority;

fn classes(server: &ApiServer) -> Vec<std::sync::Arc<Value>> {
    server
        .state
        .cache
        .list("scheduling.k8s.io/priorityclasses", PREFIX)
        .0
}

impl Plugin for Priority {
    fn name(&self) -> &'static str {
        "Priority"
    }

    fn admit<'a>(
        &'a self,
        server: &'a ApiServer,
        attrs: &'a Attributes<'a>,
        obj: &'a mut Value,
        _old: Option<&'a Value>,
    ) -> BoxFuture<'a, Result<(), ApiError>> {
        Box::pin(async move {
            if attrs.operation == Operation::Create && attrs.is_core("Pod") {
                super::cache_caught_up(server).await;
                admit_pod(server, attrs, obj)
            } else {
                Ok(())
            }
        })
    }

    fn validate<'a>(
        &'a self,
        server: &'a ApiServer,
        attrs: &'a Attributes<'a>,
        obj: &'a Value,
        _old: Option<&'a Value>,
    ) -> BoxFuture<'a, Result<(), ApiError>> {
        Box::pin(async move {
            if attrs.info.group == "scheduling.k8s.io"
                && attrs.info.kind == "PriorityClass"
                && attrs.subresource.is_none()
            {
                super::cache_caught_up(server).await;
                validate_class(server, attrs, obj)
            } else {
                Ok(())
            }
        })
    }
}

fn admit_pod(server: &ApiServer, attrs: &Attributes<'_>, pod: &mut Value) -> Result<(), ApiError> {
    let Some(spec) = pod.get_mut("spec").and_then(Value::as_object_mut) else {
        return Ok(());
    };
    let name = spec
        .get("priorityClassName")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let all = classes(server);
    let class = if name.is_empty() {
        all.iter()
            .find(|c| c.get("globalDefault").and_then(Value::as_bool) == Some(true))
            .cloned()
    } else {
        match all.iter().find(|c| krust_api::meta::name(c) == name) {
            Some(c) => Some(c.clone()),
            None => {
                return Err(ApiError::forbidden(
                    attrs.info,
                    attrs.name,
                    &format!("no PriorityClass with name {name} was found"),
                ));
            }
        }
    };
    let (value, policy) = match &class {
        Some(c) => (
            c.get("value").and_then(Value::as_i64).unwrap_or(0),
            c.get("preemptionPolicy")
                .and_then(Value::as_str)
                .unwrap_or("PreemptLowerPriority")
                .to_string(),
        ),
        None => (0, "PreemptLowerPriority".to_string()),
    };
    if let Some(given) = spec.get("priority").and_then(Value::as_i64)
        && given != value
    {
        return Err(ApiError::forbidden(
            attrs.info,
            attrs.name,
            &format!(
                "the integer value of priority ({given}) must not be provided in pod spec; priority admission controller computed {value} from the given PriorityClass name"
            ),
        ));
    }
    if let Some(c) = &class
        && name.is_empty()
    {
        spec.insert("priorityClassName".into(), json!(krust_api::meta::name(c)));
    }
    spec.insert("priority".into(), json!(value));
    if spec.get("preemptionPolicy").is_none_or(Value::is_null) {
        spec.insert("preemptionPolicy".into(), json!(policy));
    }
    Ok(())
}

fn validate_class(
    server: &ApiServer,
    attrs: &Attributes<'_>,
    class: &Value,
) -> Result<(), ApiError> {
    let name = krust_api::meta::name(class);
    if attrs.operation == Operation::Create
        && name.starts_with("system-")
        && !SYSTEM_PRIORITY_CLASSES.iter().any(|(n, _, _)| *n == name)
    {
        return Err(ApiError::forbidden(
            attrs.info,
            name,
            "priority class names with 'system-' prefix are reserved for system use only",
        ));
    }
    if class.get("globalDefault").and_then(Value::as_bool) == Some(true)
        && let Some(other) = classes(server).iter().find(|c| {
            c.get("globalDefault").and_then(Value::as_bool) == Some(true)
                && krust_api::meta::name(c) != name
        })
    {
        return Err(ApiError::invalid(
            attrs.info,
            name,
            &[FieldError::invalid(
                "globalDefault",
                json!(true),
                format!(
                    "globalDefault is already set by PriorityClass {}",
                    krust_api::meta::name(other)
                ),
            )],
        ));
    }
    Ok(())
}
