//! API errors and their `metav1.Status` rendering, with upstream's reasons, codes and messages.

use krust_api::{FieldError, ResourceInfo};
use serde_json::{Value, json};

/// An error answered to a client as a `Status` object.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    pub code: u16,
    pub reason: &'static str,
    pub message: String,
    pub details: Option<Value>,
}

impl ApiError {
    pub fn new(code: u16, reason: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            code,
            reason,
            message: message.into(),
            details: None,
        }
    }

    fn with_details(mut self, details: Value) -> Self {
        self.details = Some(details);
        self
    }

    /// Adds `details` naming the object.
    pub fn with_name(self, info: &ResourceInfo, name: &str) -> Self {
        self.with_details(json!({"name": name, "group": info.group, "kind": info.kind}))
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "BadRequest", message)
    }

    pub fn unauthorized() -> Self {
        Self::new(401, "Unauthorized", "Unauthorized")
    }

    pub fn forbidden_message(message: impl Into<String>) -> Self {
        Self::new(403, "Forbidden", message)
    }

    /// `deployments.apps "web" is forbidden: <why>`
    pub fn forbidden(info: &ResourceInfo, name: &str, why: &str) -> Self {
        Self::new(
            403,
            "Forbidden",
            format!(
                "{} \"{}\" is forbidden: {}",
                info.qualified_resource(),
                name,
                why
            ),
        )
        .with_details(json!({"name": name, "group": info.group, "kind": info.plural}))
    }

    /// `deployments.apps "web" not found`
    pub fn not_found(info: &ResourceInfo, name: &str) -> Self {
        Self::not_found_resource(&info.group, &info.plural, name)
    }

    pub fn not_found_resource(group: &str, plural: &str, name: &str) -> Self {
        let qualified = if group.is_empty() {
            plural.to_string()
        } else {
            format!("{plural}.{group}")
        };
        Self::new(404, "NotFound", format!("{qualified} \"{name}\" not found"))
            .with_details(json!({"name": name, "group": group, "kind": plural}))
    }

    /// A path that names no resource.
    pub fn not_found_path() -> Self {
        Self::new(
            404,
            "NotFound",
            "the server could not find the requested resource",
        )
        .with_details(json!({}))
    }

    pub fn method_not_allowed(verb: &str, what: &str) -> Self {
        Self::new(
            405,
            "MethodNotAllowed",
            format!("{verb} is not supported on resources of kind \"{what}\""),
        )
    }

    pub fn not_acceptable(accept: &str) -> Self {
        Self::new(
            406,
            "NotAcceptable",
            format!(
                "only the following media types are accepted: application/json, application/yaml (got {accept:?})"
            ),
        )
    }

    /// `deployments.apps "web" already exists`
    pub fn already_exists(info: &ResourceInfo, name: &str) -> Self {
        Self::new(
            409,
            "AlreadyExists",
            format!("{} \"{}\" already exists", info.qualified_resource(), name),
        )
        .with_details(json!({"name": name, "group": info.group, "kind": info.plural}))
    }

    /// The optimistic-concurrency conflict.
    pub fn conflict(info: &ResourceInfo, name: &str) -> Self {
        Self::conflict_because(
            info,
            name,
            "the object has been modified; please apply your changes to the latest version and try again",
        )
    }

    pub fn conflict_because(info: &ResourceInfo, name: &str, why: &str) -> Self {
        Self::new(
            409,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {} \"{}\": {}",
                info.qualified_resource(),
                name,
                why
            ),
        )
        .with_details(json!({"name": name, "group": info.group, "kind": info.plural}))
    }

    pub fn gone(message: impl Into<String>) -> Self {
        Self::new(410, "Expired", message)
    }

    pub fn too_large() -> Self {
        Self::new(
            413,
            "RequestEntityTooLarge",
            "Request entity too large: limit is 3145728",
        )
    }

    pub fn unsupported_media_type(content_type: &str, accepted: &[&str]) -> Self {
        Self::new(
            415,
            "UnsupportedMediaType",
            format!(
                "the body of the request was in an unknown format - accepted media types include: {} (got {content_type:?})",
                accepted.join(", ")
            ),
        )
    }

    /// 422 with one cause per field error.
    pub fn invalid(info: &ResourceInfo, name: &str, errors: &[FieldError]) -> Self {
        Self::invalid_kind(
            &info.qualified_kind(),
            &info.group,
            &info.kind,
            name,
            errors,
        )
    }

    pub fn invalid_kind(
        qualified_kind: &str,
        group: &str,
        kind: &str,
        name: &str,
        errors: &[FieldError],
    ) -> Self {
        let rendered: Vec<String> = errors.iter().map(ToString::to_string).collect();
        let summary = match rendered.as_slice() {
            [one] => one.clone(),
            many => format!("[{}]", many.join(", ")),
        };
        let causes: Vec<Value> = errors
            .iter()
            .map(|e| json!({"reason": e.kind.reason(), "message": e.message(), "field": e.field}))
            .collect();
        Self::new(
            422,
            "Invalid",
            format!("{qualified_kind} \"{name}\" is invalid: {summary}"),
        )
        .with_details(json!({"name": name, "group": group, "kind": kind, "causes": causes}))
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(
            500,
            "InternalError",
            format!("Internal error occurred: {}", message.into()),
        )
    }

    pub fn timeout(message: impl Into<String>) -> Self {
        Self::new(504, "Timeout", message)
    }

    pub fn service_unavailable(message: impl Into<String>) -> Self {
        Self::new(503, "ServiceUnavailable", message)
    }

    /// The `Status` object.
    pub fn to_status(&self) -> Value {
        let mut s = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        });
        if let Some(o) = s.as_object_mut() {
            // An unknown reason is omitted, as metav1.Status's `omitempty` does.
            if self.reason.is_empty() {
                o.remove("reason");
            }
            if let Some(d) = &self.details {
                o.insert("details".into(), d.clone());
            }
        }
        s
    }
}

impl From<krust_store::StoreError> for ApiError {
    fn from(e: krust_store::StoreError) -> Self {
        use krust_store::StoreError as E;
        match e {
            E::Compacted {
                requested,
                compacted,
            } => ApiError::gone(format!(
                "The resourceVersion for the provided list is too old: required revision {requested} has been compacted (compacted to {compacted})"
            )),
            E::FutureRevision { requested, .. } => ApiError::timeout(format!(
                "Too large resource version: {requested}, current: unknown"
            )),
            E::Closed => ApiError::service_unavailable("storage is shutting down"),
            other => ApiError::internal(other.to_string()),
        }
    }
}

/// A `Status` of success, as returned by some deletes.
pub fn success_status(info: &ResourceInfo, name: &str, uid: &str) -> Value {
    json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success",
        "details": {"name": name, "group": info.group, "kind": info.plural, "uid": uid},
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use krust_api::Registry;

    #[test]
    fn messages() {
        let r = Registry::builtin();
        let d = r.get("apps", "v1", "deployments").unwrap();
        let e = ApiError::not_found(&d, "web");
        assert_eq!(e.message, "deployments.apps \"web\" not found");
        assert_eq!(e.to_status()["details"]["kind"], "deployments");
        let errs = vec![FieldError::invalid(
            "spec.replicas",
            serde_json::json!(-1),
            "must be greater than or equal to 0",
        )];
        let e = ApiError::invalid(&d, "web", &errs);
        assert_eq!(
            e.message,
            "Deployment.apps \"web\" is invalid: spec.replicas: Invalid value: -1: must be greater than or equal to 0"
        );
        assert_eq!(
            e.to_status()["details"]["causes"][0]["reason"],
            "FieldValueInvalid"
        );
        let cm = r.get("", "v1", "configmaps").unwrap();
        assert_eq!(
            ApiError::already_exists(&cm, "x").message,
            "configmaps \"x\" already exists"
        );
    }
}
