//! `ServiceAccount`: a new Pod runs as a ServiceAccount that exists (`default` unless it names
//! one; 403 otherwise), inherits its `imagePullSecrets` when it has none, and — unless the Pod
//! or the ServiceAccount sets `automountServiceAccountToken: false` — gets the
//! `kube-api-access-<random>` projected volume (a bound token, `kube-root-ca.crt`'s `ca.crt`,
//! the namespace) mounted read-only at `/var/run/secrets/kubernetes.io/serviceaccount` in
//! every container and init container, in the API object, as upstream does.

use super::{Attributes, Operation, Plugin, cache_caught_up};
use crate::ApiServer;
use crate::status::ApiError;
use futures::future::BoxFuture;
use serde_json::{Map, Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Where the ServiceAccount volume is mounted.
pub(crate) const MOUNT_PATH: &str = "/var/run/secrets/kubernetes.io/serviceaccount";
/// The bound token's lifetime (upstream's 3607 s: an hour and a little, so that clients
/// that do not re-read it are detectable).
const TOKEN_EXPIRATION_SECONDS: i64 = 3607;
/// How long a Pod in a new namespace waits for the `default` ServiceAccount to appear.
const DEFAULT_ACCOUNT_WAIT: Duration = Duration::from_secs(3);

pub(crate) struct ServiceAccount;

impl Plugin for ServiceAccount {
    fn name(&self) -> &'static str {
        "ServiceAccount"
    }

    fn admit<'a>(
        &'a self,
        server: &'a ApiServer,
        attrs: &'a Attributes<'a>,
        obj: &'a mut Value,
        _old: Option<&'a Value>,
    ) -> BoxFuture<'a, Result<(), ApiError>> {
        Box::pin(async move {
            if attrs.operation != Operation::Create || !attrs.is_core("Pod") || is_mirror(obj) {
                return Ok(());
            }
            let namespace = attrs.namespace.unwrap_or("default");
            let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut) else {
                return Ok(());
            };
            let account = match spec.get("serviceAccountName").and_then(Value::as_str) {
                Some(n) if !n.is_empty() => n.to_string(),
                _ => "default".to_string(),
            };
            spec.insert("serviceAccountName".into(), json!(account));
            spec.insert("serviceAccount".into(), json!(account));
            let sa = lookup(server, namespace, &account).await.ok_or_else(|| {
                ApiError::forbidden(
                    attrs.info,
                    attrs.name,
                    &format!(
                        "error looking up service account {namespace}/{account}: serviceaccount \"{account}\" not found"
                    ),
                )
            })?;
            inherit_pull_secrets(spec, &sa);
            let automount = spec
                .get("automountServiceAccountToken")
                .and_then(Value::as_bool)
                .or_else(|| {
                    sa.get("automountServiceAccountToken")
                        .and_then(Value::as_bool)
                })
                .unwrap_or(true);
            if automount {
                add_token_volume(spec);
            }
            Ok(())
        })
    }
}

fn is_mirror(pod: &Value) -> bool {
    krust_api::meta::get_path(
        pod,
        &["metadata", "annotations", "kubernetes.io/config.mirror"],
    )
    .is_some()
}

/// The ServiceAccount from the watch cache; `default` may take a moment to appear in a new
/// namespace (the ServiceAccount controller creates it).
async fn lookup(server: &ApiServer, namespace: &str, name: &str) -> Option<Arc<Value>> {
    let key = format!("/registry/core/serviceaccounts/{namespace}/{name}");
    let get = || server.state.cache.get("core/serviceaccounts", &key).0;
    if let Some(sa) = get() {
        return Some(sa);
    }
    cache_caught_up(server).await;
    let deadline = Instant::now() + DEFAULT_ACCOUNT_WAIT;
    loop {
        if let Some(sa) = get() {
            return Some(sa);
        }
        if name != "default" || Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn inherit_pull_secrets(spec: &mut Map<String, Value>, sa: &Value) {
    let has_own = spec
        .get("imagePullSecrets")
        .and_then(Value::as_array)
        .is_some_and(|a| !a.is_empty());
    if has_own {
        return;
    }
    if let Some(secrets) = sa
        .get("imagePullSecrets")
        .and_then(Value::as_array)
        .filter(|a| !a.is_empty())
    {
        spec.insert("imagePullSecrets".into(), Value::Array(secrets.clone()));
    }
}

fn mounts_token(c: &Value) -> bool {
    c.get("volumeMounts")
        .and_then(Value::as_array)
        .is_some_and(|ms| {
            ms.iter().any(|m| {
                m.get("mountPath")
                    .and_then(Value::as_str)
                    .is_some_and(|p| p.trim_end_matches('/') == MOUNT_PATH)
            })
        })
}

/// Adds the projected token volume and mounts it where no container mounts something there
/// already (upstream adds nothing when any container does).
pub(crate) fn add_token_volume(spec: &mut Map<String, Value>) {
    let containers = ["containers", "initContainers"];
    let already = containers.iter().any(|k| {
        spec.get(*k)
            .and_then(Value::as_array)
            .is_some_and(|cs| cs.iter().any(mounts_token))
    });
    if already {
        return;
    }
    let taken: Vec<String> = spec
        .get("volumes")
        .and_then(Value::as_array)
        .map(|vs| {
            vs.iter()
                .map(|v| {
                    krust_api::meta::get_str(v, &["name"])
                        .unwrap_or("")
                        .to_string()
                })
                .collect()
        })
        .unwrap_or_default();
    let mut name = crate::object::generate_name("kube-api-access-");
    while taken.contains(&name) {
        name = crate::object::generate_name("kube-api-access-");
    }
    let volume = json!({
        "name": name,
        "projected": {
            "defaultMode": 420,
            "sources": [
                {"serviceAccountToken": {"expirationSeconds": TOKEN_EXPIRATION_SECONDS, "path": "token"}},
                {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                {"downwardAPI": {"items": [{"path": "namespace",
                    "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}}
            ]
        }
    });
    let volumes = spec.entry("volumes").or_insert_with(|| json!([]));
    if volumes.is_null() {
        *volumes = json!([]);
    }
    let Some(volumes) = volumes.as_array_mut() else {
        return;
    };
    volumes.push(volume);
    for key in containers {
        let Some(cs) = spec.get_mut(key).and_then(Value::as_array_mut) else {
            continue;
        };
        for c in cs.iter_mut().filter_map(Value::as_object_mut) {
            let mounts = c.entry("volumeMounts").or_insert_with(|| json!([]));
            if mounts.is_null() {
                *mounts = json!([]);
            }
            if let Some(m) = mounts.as_array_mut() {
                m.push(json!({"name": name, "mountPath": MOUNT_PATH, "readOnly": true}));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_volume_is_added_once_and_mounted_everywhere() {
        let mut pod = json!({"containers": [{"name": "a"}, {"name": "b", "volumeMounts": []}],
            "initContainers": [{"name": "i"}], "volumes": [{"name": "data"}]});
        let Some(spec) = pod.as_object_mut() else {
            panic!("not an object")
        };
        add_token_volume(spec);
        let volumes = spec["volumes"].as_array().cloned().unwrap_or_default();
        assert_eq!(volumes.len(), 2);
        let name = volumes[1]["name"].as_str().unwrap_or("").to_string();
        assert!(
            name.starts_with("kube-api-access-") && name.len() == 21,
            "{name}"
        );
        for key in ["containers", "initContainers"] {
            for c in spec[key].as_array().into_iter().flatten() {
                assert_eq!(c["volumeMounts"][0]["mountPath"], MOUNT_PATH);
                assert_eq!(c["volumeMounts"][0]["name"], json!(name));
            }
        }
        add_token_volume(spec);
        assert_eq!(spec["volumes"].as_array().map(Vec::len), Some(2));
    }
}
