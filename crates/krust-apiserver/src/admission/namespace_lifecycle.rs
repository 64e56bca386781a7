//! `NamespaceLifecycle`: no new objects in a namespace that does not exist (404) or is being
//! terminated (403 with the `NamespaceTerminating` cause), as upstream.

use super::{Attributes, Operation, Plugin};
use crate::ApiServer;
use crate::status::ApiError;
use crate::watch_cache::decode_stored;
use futures::future::BoxFuture;
use serde_json::{Value, json};

pub(crate) struct NamespaceLifecycle;

/// Kinds upstream lets through regardless of the namespace's state (reviews are not stored).
fn exempt(kind: &str) -> bool {
    matches!(
        kind,
        "SubjectAccessReview"
            | "SelfSubjectAccessReview"
            | "LocalSubjectAccessReview"
            | "TokenReview"
            | "SelfSubjectReview"
            | "SelfSubjectRulesReview"
    )
}

impl Plugin for NamespaceLifecycle {
    fn name(&self) -> &'static str {
        "NamespaceLifecycle"
    }

    /// Upstream runs this check in the mutating phase, first, so that no other plugin looks
    /// up objects in a namespace that is not there.
    fn admit<'a>(
        &'a self,
        server: &'a ApiServer,
        attrs: &'a Attributes<'a>,
        _obj: &'a mut Value,
        _old: Option<&'a Value>,
    ) -> BoxFuture<'a, Result<(), ApiError>> {
        Box::pin(async move {
            let (Operation::Create, Some(namespace), true) =
                (attrs.operation, attrs.namespace, attrs.info.namespaced)
            else {
                return Ok(());
            };
            if exempt(&attrs.info.kind) || attrs.subresource.is_some() {
                return Ok(());
            }
            let key = format!("/registry/core/namespaces/{namespace}");
            let ns = server.state.backend.get(&key).await?;
            let Some(ns) = ns.as_ref().and_then(decode_stored) else {
                return Err(ApiError::not_found_resource("", "namespaces", namespace));
            };
            if krust_api::meta::is_deleting(&ns) {
                let mut e = ApiError::forbidden(
                    attrs.info,
                    attrs.name,
                    &format!(
                        "unable to create new content in namespace {namespace} because it is being terminated"
                    ),
                );
                if let Some(d) = e.details.as_mut().and_then(Value::as_object_mut) {
                    d.insert(
                        "causes".into(),
                        json!([{
                            "reason": "NamespaceTerminating",
                            "message": format!("namespace {namespace} is being terminated"),
                            "field": "metadata.namespace",
                        }]),
                    );
                }
                return Err(e);
            }
            Ok(())
        })
    }
}
