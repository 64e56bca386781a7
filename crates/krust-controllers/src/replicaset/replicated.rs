//! The kinds the ReplicaSet controller's logic manages: ReplicaSets, and
//! ReplicationControllers through upstream's conversion adapter (the ReplicationManager is
//! the ReplicaSet controller run on RCs seen as ReplicaSets: the equality selector becomes
//! `matchLabels`, and the computed status is written back in the RC's own shape).

use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::apps::v1::{ReplicaSet, ReplicaSetStatus};
use k8s_openapi::api::core::v1::ReplicationController;
use kube::Resource;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::json;
use std::fmt::Debug;

/// A kind managed as a ReplicaSet.
pub trait Replicated:
    Resource<DynamicType = (), Scope = NamespaceResourceScope>
    + Clone
    + DeserializeOwned
    + Serialize
    + Debug
    + Send
    + Sync
    + 'static
{
    /// `kind` and `apiVersion` of owner references and events.
    const KIND: &'static str;
    const API_VERSION: &'static str;
    /// The component events are reported under.
    const REPORTER: &'static str;
    /// The work queue's name in metrics and logs.
    const QUEUE: &'static str;

    /// This object as the ReplicaSet the controller logic works on.
    fn as_replica_set(&self) -> Option<ReplicaSet>;

    /// This object with `status` (computed for its ReplicaSet view) as its status.
    fn with_status(&self, status: &ReplicaSetStatus) -> Option<Self>;
}

impl Replicated for ReplicaSet {
    const KIND: &'static str = "ReplicaSet";
    const API_VERSION: &'static str = "apps/v1";
    const REPORTER: &'static str = "replicaset-controller";
    const QUEUE: &'static str = "replicaset";

    fn as_replica_set(&self) -> Option<ReplicaSet> {
        Some(self.clone())
    }

    fn with_status(&self, status: &ReplicaSetStatus) -> Option<Self> {
        let mut rs = self.clone();
        rs.status = Some(status.clone());
        Some(rs)
    }
}

impl Replicated for ReplicationController {
    const KIND: &'static str = "ReplicationController";
    const API_VERSION: &'static str = "v1";
    const REPORTER: &'static str = "replication-controller";
    const QUEUE: &'static str = "replicationmanager";

    fn as_replica_set(&self) -> Option<ReplicaSet> {
        let mut v = serde_json::to_value(self).ok()?;
        let obj = v.as_object_mut()?;
        obj.insert("apiVersion".into(), json!("apps/v1"));
        obj.insert("kind".into(), json!("ReplicaSet"));
        if let Some(spec) = obj.get_mut("spec").and_then(|s| s.as_object_mut()) {
            let selector = spec.remove("selector").unwrap_or_else(|| json!({}));
            spec.insert("selector".into(), json!({"matchLabels": selector}));
        }
        serde_json::from_value(v).ok()
    }

    fn with_status(&self, status: &ReplicaSetStatus) -> Option<Self> {
        let mut rc = self.clone();
        rc.status = Some(serde_json::from_value(serde_json::to_value(status).ok()?).ok()?);
        Some(rc)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rc_as_replica_set_and_back() {
        let rc: ReplicationController = serde_json::from_value(json!({
            "metadata": {"name": "web", "namespace": "default", "uid": "u"},
            "spec": {"replicas": 3, "selector": {"app": "web"},
                "template": {"metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}}))
        .unwrap();
        let rs = rc.as_replica_set().unwrap();
        let spec = rs.spec.unwrap();
        assert_eq!(spec.replicas, Some(3));
        assert_eq!(
            spec.selector
                .match_labels
                .unwrap()
                .get("app")
                .map(String::as_str),
            Some("web")
        );
        let status = ReplicaSetStatus {
            replicas: 3,
            ready_replicas: Some(2),
            ..Default::default()
        };
        let back = rc.with_status(&status).unwrap();
        assert_eq!(back.status.unwrap().ready_replicas, Some(2));
    }
}
