//! CustomResourceDefinitions: created without status and with the clean-up finalizer that
//! lets the API server delete a CRD's objects before the CRD, validated by the CRD rules.

use super::Strategy;
use crate::Identity;
use crate::crd::CLEANUP_FINALIZER;
use krust_api::{FieldError, ResourceInfo};
use serde_json::{Value, json};

pub(super) struct CrdStrategy;

impl Strategy for CrdStrategy {
    fn prepare_for_create(&self, info: &ResourceInfo, obj: &mut Value, _user: Option<&Identity>) {
        super::prepare_metadata_for_create(info, obj);
        let Some(map) = obj.as_object_mut() else {
            return;
        };
        map.remove("status");
        if let Some(meta) = map.get_mut("metadata").and_then(Value::as_object_mut) {
            let fins = meta.entry("finalizers").or_insert_with(|| json!([]));
            if let Some(list) = fins.as_array_mut()
                && !list.iter().any(|f| f == CLEANUP_FINALIZER)
            {
                list.push(json!(CLEANUP_FINALIZER));
            }
        }
    }

    fn validate(&self, info: &ResourceInfo, obj: &Value, old: Option<&Value>) -> Vec<FieldError> {
        let mut errs =
            krust_api::validation::validate(&info.group, &info.kind, info.namespaced, obj, old);
        errs.extend(crate::crd::validate_crd(obj, old));
        errs
    }
}
