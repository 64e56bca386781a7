//! Static pods: every `*.yaml`, `*.yml` or `*.json` manifest in `<agent_dir>/pod-manifests` is a
//! pod this node runs without being asked. As upstream, each becomes a **mirror pod** in the
//! API named `<name>-<node>`, bound to this node and annotated `kubernetes.io/config.mirror`
//! (with `kubernetes.io/config.source: file` and the manifest's hash), which the pod manager
//! then runs like any bound pod. A changed manifest replaces its mirror pod, a removed one
//! deletes it, and a mirror pod deleted by hand is recreated at the next scan.

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How often the manifests directory is read.
pub const SCAN_PERIOD: Duration = Duration::from_secs(10);
pub const ANN_MIRROR: &str = "kubernetes.io/config.mirror";
pub const ANN_SOURCE: &str = "kubernetes.io/config.source";
pub const ANN_HASH: &str = "kubernetes.io/config.hash";

fn fnv(text: &str) -> String {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in text.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x100000001b3);
    }
    format!("{h:016x}")
}

/// Parses one manifest into the mirror pod to create for node `node`.
pub fn mirror_pod(text: &str, node: &str, path: &Path) -> Result<Pod, String> {
    let mut pod: Pod = if path.extension().is_some_and(|e| e == "json") {
        serde_json::from_str(text).map_err(|e| e.to_string())?
    } else {
        serde_saphyr::from_str(text).map_err(|e| e.to_string())?
    };
    let name = pod
        .metadata
        .name
        .clone()
        .filter(|n| !n.is_empty())
        .ok_or("the manifest has no metadata.name")?;
    let hash = fnv(&format!("{node}\n{text}"));
    pod.metadata.name = Some(format!("{name}-{node}"));
    if pod.metadata.namespace.as_deref().is_none_or(str::is_empty) {
        pod.metadata.namespace = Some("default".into());
    }
    pod.metadata.uid = None;
    pod.metadata.resource_version = None;
    let ann = pod.metadata.annotations.get_or_insert_with(BTreeMap::new);
    ann.insert(ANN_SOURCE.into(), "file".into());
    ann.insert(ANN_HASH.into(), hash.clone());
    ann.insert(ANN_MIRROR.into(), hash);
    let spec = pod.spec.get_or_insert_with(Default::default);
    spec.node_name = Some(node.to_string());
    pod.status = None;
    Ok(pod)
}

/// The manifests of `dir`, parsed.
pub fn read_manifests(dir: &Path, node: &str) -> Vec<(PathBuf, Result<Pod, String>)> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    let mut paths: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.extension()
                .is_some_and(|e| e == "yaml" || e == "yml" || e == "json")
                && !p
                    .file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        })
        .collect();
    paths.sort();
    for p in paths {
        let parsed = std::fs::read_to_string(&p)
            .map_err(|e| e.to_string())
            .and_then(|t| mirror_pod(&t, node, &p));
        out.push((p, parsed));
    }
    out
}

/// Keeps the mirror pods in line with the manifests, forever.
pub async fn run(client: kube::Client, node: String, dir: PathBuf) {
    let mut reported: HashMap<PathBuf, String> = HashMap::new();
    loop {
        sync_once(&client, &node, &dir, &mut reported).await;
        tokio::time::sleep(SCAN_PERIOD).await;
    }
}

async fn sync_once(
    client: &kube::Client,
    node: &str,
    dir: &Path,
    reported: &mut HashMap<PathBuf, String>,
) {
    let manifests = {
        let (dir, node) = (dir.to_path_buf(), node.to_string());
        tokio::task::spawn_blocking(move || read_manifests(&dir, &node))
            .await
            .unwrap_or_default()
    };
    let all: Api<Pod> = Api::all(client.clone());
    let existing = match all
        .list(&ListParams::default().fields(&format!("spec.nodeName={node}")))
        .await
    {
        Ok(l) => l.items,
        Err(e) => {
            tracing::debug!(error = %e, "listing mirror pods failed");
            return;
        }
    };
    let mirrors: HashMap<(String, String), &Pod> = existing
        .iter()
        .filter(|p| {
            p.metadata
                .annotations
                .as_ref()
                .is_some_and(|a| a.contains_key(ANN_MIRROR))
        })
        .map(|p| {
            (
                (
                    p.metadata.namespace.clone().unwrap_or_default(),
                    p.metadata.name.clone().unwrap_or_default(),
                ),
                p,
            )
        })
        .collect();
    let mut wanted = Vec::new();
    for (path, parsed) in manifests {
        let pod = match parsed {
            Ok(p) => p,
            Err(e) => {
                if reported.get(&path) != Some(&e) {
                    tracing::warn!(manifest = %path.display(), error = %e, "invalid static pod manifest");
                    reported.insert(path, e);
                }
                continue;
            }
        };
        let ns = pod.metadata.namespace.clone().unwrap_or_default();
        let name = pod.metadata.name.clone().unwrap_or_default();
        let hash = pod
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(ANN_MIRROR).cloned())
            .unwrap_or_default();
        wanted.push((ns.clone(), name.clone()));
        let api: Api<Pod> = Api::namespaced(client.clone(), &ns);
        match mirrors.get(&(ns.clone(), name.clone())) {
            Some(m)
                if m.metadata
                    .annotations
                    .as_ref()
                    .and_then(|a| a.get(ANN_MIRROR))
                    == Some(&hash) => {}
            Some(_) => {
                // The manifest changed: replace the mirror pod.
                let _ = api.delete(&name, &DeleteParams::default()).await;
            }
            None => match api.create(&PostParams::default(), &pod).await {
                Ok(_) => {
                    tracing::info!(pod = %format!("{ns}/{name}"), "static pod: mirror pod created")
                }
                Err(kube::Error::Api(e)) if e.code == 409 => {}
                Err(e) => {
                    tracing::warn!(pod = %format!("{ns}/{name}"), error = %e, "creating a mirror pod failed")
                }
            },
        }
    }
    for ((ns, name), p) in &mirrors {
        if !wanted.contains(&(ns.clone(), name.clone())) && p.metadata.deletion_timestamp.is_none()
        {
            let api: Api<Pod> = Api::namespaced(client.clone(), ns);
            let _ = api.delete(name, &DeleteParams::default()).await;
            tracing::info!(pod = %format!("{ns}/{name}"), "static pod manifest removed: mirror pod deleted");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mirror_pods_from_manifests() {
        let text = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\nspec:\n  containers:\n  - name: c\n    image: busybox:1.36\n";
        let p = mirror_pod(text, "node1", Path::new("web.yaml")).unwrap();
        assert_eq!(p.metadata.name.as_deref(), Some("web-node1"));
        assert_eq!(p.metadata.namespace.as_deref(), Some("default"));
        let ann = p.metadata.annotations.as_ref().unwrap();
        assert_eq!(ann[ANN_SOURCE], "file");
        assert_eq!(ann[ANN_MIRROR], ann[ANN_HASH]);
        assert_eq!(p.spec.as_ref().unwrap().node_name.as_deref(), Some("node1"));
        let other = mirror_pod(
            &text.replace("1.36", "latest"),
            "node1",
            Path::new("web.yaml"),
        )
        .unwrap();
        assert_ne!(
            other.metadata.annotations.as_ref().unwrap()[ANN_MIRROR],
            ann[ANN_MIRROR]
        );
        assert!(mirror_pod("metadata: {}\n", "n", Path::new("x.yaml")).is_err());
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.yaml"), text).unwrap();
        std::fs::write(dir.path().join("b.txt"), text).unwrap();
        std::fs::write(dir.path().join("c.yml"), "garbage: [").unwrap();
        let found = read_manifests(dir.path(), "n");
        assert_eq!(found.len(), 2);
        assert!(found[0].1.is_ok());
        assert!(found[1].1.is_err());
    }
}
