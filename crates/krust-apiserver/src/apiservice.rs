//! Local APIServices (`apiregistration.k8s.io/v1`): one `<version>.<group>` object for every
//! group version the server serves itself, built-in or from a CRD, `Available` with reason
//! `Local`, with upstream's group and version priorities; kept in line with the registry as
//! CRDs come and go (upstream's `apiservice-registration` and `crd-autoregistration`
//! controllers). Aggregated (service-backed) APIServices can be stored but are not proxied.

use crate::ApiServer;
use crate::bootstrap::create_with_status;
use crate::status::ApiError;
use krust_api::Registry;
use krust_store::RangeRequest;
use serde_json::{Value, json};

const GROUP: &str = "apiregistration.k8s.io";
const AUTOMANAGED: &str = "kube-aggregator.kubernetes.io/automanaged";

/// Upstream's `apiVersionPriorities` (group priority minimum, version priority); other
/// groups (CRDs) get 1000/100.
fn priority(group: &str, version: &str) -> (i64, i64) {
    match (group, version) {
        ("", "v1") => (18000, 1),
        ("apps", "v1") => (17800, 15),
        ("events.k8s.io", "v1") => (17750, 15),
        ("authentication.k8s.io", "v1") => (17700, 15),
        ("authorization.k8s.io", "v1") => (17600, 15),
        ("autoscaling", "v2") => (17500, 30),
        ("autoscaling", "v1") => (17500, 15),
        ("batch", "v1") => (17400, 15),
        ("certificates.k8s.io", "v1") => (17300, 15),
        ("networking.k8s.io", "v1") => (17200, 15),
        ("policy", "v1") => (17100, 15),
        ("rbac.authorization.k8s.io", "v1") => (17000, 15),
        ("storage.k8s.io", "v1") => (16800, 15),
        ("storage.k8s.io", "v1beta1") => (16800, 9),
        ("apiextensions.k8s.io", "v1") => (16700, 15),
        ("admissionregistration.k8s.io", "v1") => (16700, 15),
        ("admissionregistration.k8s.io", "v1beta1") => (16700, 12),
        ("admissionregistration.k8s.io", "v1alpha1") => (16700, 9),
        ("scheduling.k8s.io", "v1") => (16600, 15),
        ("coordination.k8s.io", "v1") => (16500, 15),
        ("node.k8s.io", "v1") => (16300, 15),
        ("discovery.k8s.io", "v1") => (16200, 15),
        ("flowcontrol.apiserver.k8s.io", "v1") => (16100, 21),
        ("apiregistration.k8s.io", "v1") => (18000, 15),
        ("metrics.k8s.io", "v1beta1") => (100, 100),
        _ => (1000, 100),
    }
}

/// The APIService name of a group version: `v1.apps`, `v1.` for the core group.
fn name_of(group: &str, version: &str) -> String {
    format!("{version}.{group}")
}

fn api_service(group: &str, version: &str, automanaged: &str) -> Value {
    let (group_priority, version_priority) = priority(group, version);
    json!({"apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService",
        "metadata": {"name": name_of(group, version), "labels": {AUTOMANAGED: automanaged}},
        "spec": {"group": group, "version": version, "groupPriorityMinimum": group_priority,
            "versionPriority": version_priority}})
}

fn available() -> Value {
    json!({"conditions": [{"type": "Available", "status": "True", "reason": "Local",
        "message": "Local APIServices are always available",
        "lastTransitionTime": krust_api::time::now_rfc3339()}]})
}

/// Creates the APIServices of every served group version that lacks one, and deletes the
/// automanaged ones of CRD group versions no longer served.
pub(crate) async fn sync(server: &ApiServer) -> Result<(), ApiError> {
    let (groups, info) = {
        let registry = server.registry();
        (
            registry.groups().to_vec(),
            registry.storage_info(GROUP, "apiservices"),
        )
    };
    let builtin = Registry::builtin();
    let mut wanted = Vec::new();
    for g in &groups {
        for v in &g.versions {
            let managed = if builtin.resources_at(&g.name, v).is_empty() {
                "true"
            } else {
                "onstart"
            };
            wanted.push(name_of(&g.name, v));
            let obj = api_service(&g.name, v, managed);
            create_with_status(server, GROUP, "apiservices", None, obj, Some(available())).await?;
        }
    }
    let Some(info) = info else {
        return Ok(());
    };
    let stored = server
        .state
        .backend
        .range(RangeRequest {
            prefix: info.key_prefix(),
            ..Default::default()
        })
        .await?;
    for kv in stored.kvs {
        let Some(obj) = crate::watch_cache::decode_stored(&kv) else {
            continue;
        };
        let name = krust_api::meta::name(&obj).to_string();
        let managed = krust_api::meta::get_str(&obj, &["metadata", "labels", AUTOMANAGED]);
        if managed == Some("true") && !wanted.contains(&name) {
            crate::rest::delete_object(server, &info, &kv.key, &name).await?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_priorities() {
        let core = api_service("", "v1", "onstart");
        assert_eq!(core["metadata"]["name"], "v1.");
        assert_eq!(core["spec"]["groupPriorityMinimum"], 18000);
        let crd = api_service("stable.example.com", "v1", "true");
        assert_eq!(crd["metadata"]["name"], "v1.stable.example.com");
        assert_eq!(crd["spec"]["versionPriority"], 100);
    }
}
