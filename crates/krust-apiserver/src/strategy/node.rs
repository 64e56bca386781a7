//! Nodes: created with the status their kubelet reports (upstream's node strategy does not
//! reset it on create, so a kubelet registers capacity and conditions in one write).

use super::Strategy;
use crate::Identity;
use krust_api::ResourceInfo;
use serde_json::Value;

pub(super) struct NodeStrategy;

impl Strategy for NodeStrategy {
    fn prepare_for_create(&self, info: &ResourceInfo, obj: &mut Value, _user: Option<&Identity>) {
        super::prepare_metadata_for_create(info, obj);
    }
}
