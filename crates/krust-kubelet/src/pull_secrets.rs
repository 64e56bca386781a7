//! Registry credentials from a pod's `imagePullSecrets` (upstream's kubelet keyring): Secrets
//! of type `kubernetes.io/dockerconfigjson` (`.dockerconfigjson`: `{"auths": {host: entry}}`)
//! or `kubernetes.io/dockercfg` (`.dockercfg`: `{host: entry}`), each entry with `username`
//! and `password` or `auth` (`base64(user:password)`), matched to the image's registry.

use crate::registries::registry_of;
use base64::Engine;
use k8s_cri::v1 as api;
use k8s_openapi::api::core::v1::{Pod, Secret};
use kube::{Api, Client};
use serde_json::Value;

/// The registry host a docker config key names: `https://index.docker.io/v1/` and
/// `registry-1.docker.io` are Docker Hub (`docker.io`), a URL is its host.
fn key_registry(key: &str) -> String {
    let rest = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    let host = rest.split('/').next().unwrap_or(rest);
    match host {
        "index.docker.io" | "registry-1.docker.io" | "registry.hub.docker.com" => {
            "docker.io".into()
        }
        h => h.to_string(),
    }
}

/// The entries of one secret: (registry, entry).
fn entries(secret: &Secret) -> Vec<(String, Value)> {
    let data = secret.data.as_ref();
    let parse = |k: &str| -> Option<Value> {
        data.and_then(|d| d.get(k))
            .and_then(|b| serde_json::from_slice(&b.0).ok())
    };
    let map = match secret.type_.as_deref() {
        Some("kubernetes.io/dockerconfigjson") => {
            parse(".dockerconfigjson").and_then(|v| v.get("auths").cloned())
        }
        Some("kubernetes.io/dockercfg") => parse(".dockercfg"),
        _ => None,
    };
    map.and_then(|m| m.as_object().cloned())
        .into_iter()
        .flatten()
        .map(|(k, v)| (key_registry(&k), v))
        .collect()
}

/// The CRI credentials of one docker config entry.
fn auth_config(entry: &Value) -> Option<api::AuthConfig> {
    let s = |k: &str| {
        entry
            .get(k)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let (mut username, mut password) = (s("username"), s("password"));
    let auth = s("auth");
    if username.is_empty()
        && let Some((u, p)) = base64::engine::general_purpose::STANDARD
            .decode(auth.as_bytes())
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .and_then(|t| {
                t.split_once(':')
                    .map(|(u, p)| (u.to_string(), p.to_string()))
            })
    {
        username = u;
        password = p;
    }
    let identity_token = s("identitytoken");
    if username.is_empty() && identity_token.is_empty() {
        return None;
    }
    // No `server_address`: containerd would compare it with each host it contacts (the
    // registry's API host, its mirrors) and drop the credentials on any difference.
    Some(api::AuthConfig {
        username,
        password,
        identity_token,
        ..Default::default()
    })
}

/// The first credentials in `secrets` for `image`'s registry.
pub fn find(secrets: &[Secret], image: &str) -> Option<api::AuthConfig> {
    let registry = registry_of(image);
    secrets
        .iter()
        .flat_map(entries)
        .find(|(r, _)| r == registry)
        .and_then(|(_, e)| auth_config(&e))
}

/// Reads the pod's pull secrets (missing ones are skipped, as upstream's kubelet does).
pub async fn of_pod(client: &Client, pod: &Pod) -> Vec<Secret> {
    let Some(refs) = pod
        .spec
        .as_ref()
        .and_then(|s| s.image_pull_secrets.as_ref())
    else {
        return Vec::new();
    };
    let ns = pod.metadata.namespace.as_deref().unwrap_or("default");
    let api: Api<Secret> = Api::namespaced(client.clone(), ns);
    let mut out = Vec::new();
    for r in refs {
        match api.get_opt(&r.name).await {
            Ok(Some(s)) => out.push(s),
            Ok(None) => tracing::debug!(secret = %r.name, "image pull secret not found"),
            Err(e) => tracing::debug!(secret = %r.name, error = %e, "reading image pull secret"),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn secret(type_: &str, key: &str, content: Value) -> Secret {
        serde_json::from_value(json!({"metadata": {"name": "s"}, "type": type_,
            "data": {key: base64::engine::general_purpose::STANDARD.encode(content.to_string())}}))
        .unwrap()
    }

    #[test]
    fn credentials_by_registry() {
        let json = secret(
            "kubernetes.io/dockerconfigjson",
            ".dockerconfigjson",
            json!({"auths": {"https://index.docker.io/v1/": {"username": "hub", "password": "p"},
                "127.0.0.1:5000": {"auth": base64::engine::general_purpose::STANDARD.encode("u:pw")}}}),
        );
        let cfg = secret(
            "kubernetes.io/dockercfg",
            ".dockercfg",
            json!({"quay.io": {"username": "q", "password": "x"}}),
        );
        let all = [json, cfg];
        let hub = find(&all, "busybox:1.36").unwrap();
        assert_eq!(
            (hub.username.as_str(), hub.server_address.as_str()),
            ("hub", "")
        );
        let local = find(&all, "127.0.0.1:5000/library/busybox:1").unwrap();
        assert_eq!(
            (local.username.as_str(), local.password.as_str()),
            ("u", "pw")
        );
        assert_eq!(find(&all, "quay.io/a/b").unwrap().username, "q");
        assert!(find(&all, "ghcr.io/a/b").is_none());
    }
}
