//! APIServices: the name must be `spec.version + "." + spec.group` (upstream's
//! `ValidateAPIService`), so `v1.` names the core group's.

use super::Strategy;
use krust_api::meta::get_str;
use krust_api::{FieldError, ResourceInfo};
use serde_json::{Value, json};

pub(super) struct ApiServiceStrategy;

impl Strategy for ApiServiceStrategy {
    fn validate(&self, info: &ResourceInfo, obj: &Value, old: Option<&Value>) -> Vec<FieldError> {
        let mut errs =
            krust_api::validation::validate(&info.group, &info.kind, info.namespaced, obj, old);
        let name = krust_api::meta::name(obj);
        let version = get_str(obj, &["spec", "version"]).unwrap_or("");
        let group = get_str(obj, &["spec", "group"]).unwrap_or("");
        let want = format!("{version}.{group}");
        if !name.is_empty() && name != want {
            errs.push(FieldError::invalid(
                "metadata.name",
                json!(name),
                format!("must be `spec.version+\".\"+spec.group`: {want:?}"),
            ));
        }
        if version.is_empty() {
            errs.push(FieldError::required("spec.version", ""));
        }
        errs
    }
}
