//! Structural schemas of custom resources (placeholder until the engine lands): validation of a
//! CRD's schema, pruning, defaulting, validation of objects, and printer-column JSONPaths.

use serde_json::Value;

pub fn validate_schema(_schema: &Value, _field_prefix: &str) -> Vec<crate::FieldError> {
    Vec::new()
}

pub fn prune(_obj: &mut Value, _schema: &Value) {}

pub fn apply_defaults(_obj: &mut Value, _schema: &Value) {}

pub fn validate(_obj: &Value, _schema: &Value) -> Vec<crate::FieldError> {
    Vec::new()
}

pub fn json_path(obj: &Value, path: &str) -> Vec<Value> {
    let parts: Vec<&str> = path.trim_start_matches('.').split('.').collect();
    crate::meta::get_path(obj, &parts).cloned().into_iter().collect()
}
