//! Custom resources: pruned and defaulted by their CRD's schema, validated by it, and
//! status writes that change the status only.

use super::Strategy;
use krust_api::{FieldError, ResourceInfo};
use serde_json::Value;

pub(super) struct CustomResource;

fn schema(info: &ResourceInfo) -> Option<&Value> {
    info.custom.as_ref().and_then(|c| c.schema.as_ref())
}

impl Strategy for CustomResource {
    fn canonicalize(&self, info: &ResourceInfo, obj: &mut Value) {
        if let Some(schema) = schema(info) {
            krust_api::structural::prune(obj, schema);
            krust_api::structural::apply_defaults(obj, schema);
        }
    }

    fn status_update(&self, _info: &ResourceInfo, body: &Value, old: &Value) -> Value {
        super::status_update(body, old, &[])
    }

    fn validate(&self, info: &ResourceInfo, obj: &Value, old: Option<&Value>) -> Vec<FieldError> {
        let mut errs =
            krust_api::validation::validate(&info.group, &info.kind, info.namespaced, obj, old);
        if let Some(schema) = schema(info) {
            errs.extend(krust_api::structural::validate(obj, schema));
        }
        errs
    }
}
