//! PersistentVolumes and PersistentVolumeClaims: created `Pending`, whatever status the
//! client sent.

use super::Strategy;
use crate::Identity;
use krust_api::ResourceInfo;
use serde_json::{Value, json};

pub(super) struct VolumeStrategy;

impl Strategy for VolumeStrategy {
    fn prepare_for_create(&self, info: &ResourceInfo, obj: &mut Value, _user: Option<&Identity>) {
        super::prepare_metadata_for_create(info, obj);
        if let Some(map) = obj.as_object_mut() {
            map.insert("status".into(), json!({"phase": "Pending"}));
        }
    }
}
