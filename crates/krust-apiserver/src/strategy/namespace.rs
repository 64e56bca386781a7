//! Namespaces: created `Active` with the `kubernetes` finalizer, `spec.finalizers` changed
//! only through `/finalize`, the system namespaces never deleted, and a deleted namespace
//! kept `Terminating` until the namespace controller has emptied it.

use super::Strategy;
use crate::Identity;
use crate::status::ApiError;
use krust_api::ResourceInfo;
use krust_api::meta::get_path;
use serde_json::{Value, json};

/// Namespaces a delete is refused for, as upstream's.
const PROTECTED_NAMESPACES: &[&str] = &["default", "kube-system", "kube-public"];

pub(super) struct NamespaceStrategy;

impl Strategy for NamespaceStrategy {
    fn prepare_for_create(&self, info: &ResourceInfo, obj: &mut Value, _user: Option<&Identity>) {
        super::prepare_metadata_for_create(info, obj);
        let Some(map) = obj.as_object_mut() else {
            return;
        };
        map.insert("status".into(), json!({"phase": "Active"}));
        let spec = map.entry("spec").or_insert_with(|| json!({}));
        if let Some(spec) = spec.as_object_mut() {
            spec.insert("finalizers".into(), json!(["kubernetes"]));
        }
    }

    fn prepare_for_update(&self, info: &ResourceInfo, new: &mut Value, old: &Value) {
        super::prepare_for_update(info, new, old);
        if let Some(f) = get_path(old, &["spec", "finalizers"]).cloned() {
            krust_api::meta::set_path(new, &["spec", "finalizers"], f);
        }
    }

    fn check_delete(&self, info: &ResourceInfo, name: &str) -> Result<(), ApiError> {
        if PROTECTED_NAMESPACES.contains(&name) {
            return Err(ApiError::forbidden(
                info,
                name,
                "this namespace may not be deleted",
            ));
        }
        Ok(())
    }

    fn pending_finalization(&self, obj: &Value) -> bool {
        get_path(obj, &["spec", "finalizers"])
            .and_then(Value::as_array)
            .is_some_and(|f| !f.is_empty())
    }

    fn mark_deleting(&self, obj: &mut Value) {
        krust_api::meta::set_path(obj, &["status", "phase"], json!("Terminating"));
    }

    fn delete_returns_object(&self) -> bool {
        true
    }
}
