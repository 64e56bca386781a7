//! `RuntimeClass`: a new Pod naming a `runtimeClassName` gets the class's `overhead.podFixed`
//! as `spec.overhead`, its `scheduling.nodeSelector` merged into the pod's (403 on a
//! conflicting value) and its `scheduling.tolerations` added; an unknown class, or an
//! overhead that differs from the class's (or is set without a class defining one), is
//! refused with upstream's 403.

use super::{Attributes, Operation, Plugin};
use crate::ApiServer;
use crate::status::ApiError;
use futures::future::BoxFuture;
use krust_api::meta::get_path;
use serde_json::{Map, Value, json};
use std::sync::Arc;

const PREFIX: &str = "/registry/node.k8s.io/runtimeclasses/";

pub(crate) struct RuntimeClass;

fn class_name(pod: &Value) -> Option<&str> {
    krust_api::meta::get_str(pod, &["spec", "runtimeClassName"]).filter(|n| !n.is_empty())
}

/// The pod's RuntimeClass: `Ok(None)` without one, 403 when it names a missing class.
fn lookup(
    server: &ApiServer,
    attrs: &Attributes<'_>,
    pod: &Value,
) -> Result<Option<Arc<Value>>, ApiError> {
    let Some(name) = class_name(pod) else {
        return Ok(None);
    };
    let (classes, _) = server
        .state
        .cache
        .list("node.k8s.io/runtimeclasses", PREFIX);
    match classes
        .into_iter()
        .find(|c| krust_api::meta::name(c) == name)
    {
        Some(c) => Ok(Some(c)),
        None => Err(forbidden(
            attrs,
            format!("pod rejected: RuntimeClass {name:?} not found"),
        )),
    }
}

fn forbidden(attrs: &Attributes<'_>, message: String) -> ApiError {
    ApiError::forbidden(attrs.info, attrs.name, &message)
}

fn overhead(class: &Value) -> Option<&Value> {
    get_path(class, &["overhead", "podFixed"])
        .filter(|o| o.as_object().is_some_and(|m| !m.is_empty()))
}

fn pod_overhead(pod: &Value) -> Option<&Value> {
    get_path(pod, &["spec", "overhead"]).filter(|o| o.as_object().is_some_and(|m| !m.is_empty()))
}

/// Whether two resource lists hold the same quantities (`1000m` equals `1`).
fn same_resources(a: &Value, b: &Value) -> bool {
    let (Some(a), Some(b)) = (a.as_object(), b.as_object()) else {
        return a == b;
    };
    a.len() == b.len()
        && a.iter().all(|(k, qa)| {
            b.get(k).is_some_and(|qb| {
                let milli = |q: &Value| krust_api::quantity::from_json(q).map(|q| q.milli_value());
                match (milli(qa), milli(qb)) {
                    (Some(x), Some(y)) => x == y,
                    _ => qa == qb,
                }
            })
        })
}

fn admit_pod(server: &ApiServer, attrs: &Attributes<'_>, pod: &mut Value) -> Result<(), ApiError> {
    let Some(class) = lookup(server, attrs, pod)? else {
        return Ok(());
    };
    if let Some(fixed) = overhead(&class) {
        if let Some(given) = pod_overhead(pod)
            && !same_resources(given, fixed)
        {
            return Err(forbidden(
                attrs,
                "pod rejected: Pod's Overhead doesn't match RuntimeClass's defined Overhead".into(),
            ));
        }
        krust_api::meta::set_path(pod, &["spec", "overhead"], fixed.clone());
    }
    let Some(scheduling) = class.get("scheduling").filter(|s| s.is_object()) else {
        return Ok(());
    };
    if let Some(selector) = scheduling.get("nodeSelector").and_then(Value::as_object) {
        let mut merged: Map<String, Value> = get_path(pod, &["spec", "nodeSelector"])
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        for (key, value) in selector {
            if let Some(existing) = merged.get(key)
                && existing != value
            {
                return Err(forbidden(
                    attrs,
                    format!(
                        "conflict: runtimeClass.scheduling.nodeSelector[{key:?}] = {}; pod.spec.nodeSelector[{key:?}] = {}",
                        value.as_str().unwrap_or(""),
                        existing.as_str().unwrap_or("")
                    ),
                ));
            }
            merged.insert(key.clone(), value.clone());
        }
        if !merged.is_empty() {
            krust_api::meta::set_path(pod, &["spec", "nodeSelector"], Value::Object(merged));
        }
    }
    if let Some(extra) = scheduling.get("tolerations").and_then(Value::as_array) {
        let mut tolerations: Vec<Value> = get_path(pod, &["spec", "tolerations"])
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        for t in extra {
            if !tolerations.contains(t) {
                tolerations.push(t.clone());
            }
        }
        if !tolerations.is_empty() {
            krust_api::meta::set_path(pod, &["spec", "tolerations"], json!(tolerations));
        }
    }
    Ok(())
}

fn validate_pod(server: &ApiServer, attrs: &Attributes<'_>, pod: &Value) -> Result<(), ApiError> {
    let class = lookup(server, attrs, pod)?;
    match (class.as_deref().and_then(overhead), pod_overhead(pod)) {
        (Some(fixed), given) if !given.is_some_and(|g| same_resources(g, fixed)) => Err(forbidden(
            attrs,
            "pod rejected: Pod's Overhead doesn't match RuntimeClass's defined Overhead".into(),
        )),
        (None, Some(_)) => Err(forbidden(
            attrs,
            "pod rejected: Pod Overhead set without corresponding RuntimeClass defined Overhead"
                .into(),
        )),
        _ => Ok(()),
    }
}

impl Plugin for RuntimeClass {
    fn name(&self) -> &'static str {
        "RuntimeClass"
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
                if class_name(obj).is_some() {
                    super::cache_caught_up(server).await;
                }
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
            if attrs.operation == Operation::Create && attrs.is_core("Pod") {
                validate_pod(server, attrs, obj)
            } else {
                Ok(())
            }
        })
    }
}
