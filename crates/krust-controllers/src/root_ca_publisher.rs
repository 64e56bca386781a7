//! The root CA publisher (upstream's `root-ca-cert-publisher`): every active namespace has a
//! ConfigMap `kube-root-ca.crt` whose `ca.crt` is the cluster CA, so that in-cluster clients
//! can verify `https://kubernetes.default.svc`. The ConfigMap is created when a namespace
//! appears, recreated when deleted, and put back when edited.
//!
//! Two watches feed it: namespaces, and ConfigMaps named `kube-root-ca.crt`. After both have
//! listed, every active namespace whose ConfigMap is missing or differs is reconciled; a write
//! that fails is retried on the next one-second tick.

use futures::StreamExt;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{Api, ObjectMeta, PostParams};
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use kube::{Client, ResourceExt};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// The ConfigMap every namespace gets.
pub const CONFIG_MAP: &str = "kube-root-ca.crt";
/// Its key holding the CA bundle.
pub const KEY: &str = "ca.crt";
/// Upstream's description annotation.
pub const DESCRIPTION: &str = "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters.";
const DESCRIPTION_KEY: &str = "kubernetes.io/description";

/// The ConfigMap as the publisher writes it.
fn desired(ca: &str) -> ConfigMap {
    ConfigMap {
        metadata: ObjectMeta {
            name: Some(CONFIG_MAP.into()),
            annotations: Some(BTreeMap::from([(
                DESCRIPTION_KEY.to_string(),
                DESCRIPTION.to_string(),
            )])),
            ..ObjectMeta::default()
        },
        data: Some(BTreeMap::from([(KEY.to_string(), ca.to_string())])),
        ..ConfigMap::default()
    }
}

/// Whether a stored ConfigMap is what the publisher wants.
fn up_to_date(cm: &ConfigMap, ca: &str) -> bool {
    let data_ok = cm
        .data
        .as_ref()
        .is_some_and(|d| d.len() == 1 && d.get(KEY).map(String::as_str) == Some(ca))
        && cm.binary_data.as_ref().is_none_or(BTreeMap::is_empty);
    let annotation_ok = cm
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(DESCRIPTION_KEY))
        .is_some_and(|d| d == DESCRIPTION);
    data_ok && annotation_ok
}

fn active(ns: &Namespace) -> bool {
    ns.metadata.deletion_timestamp.is_none()
        && ns.status.as_ref().and_then(|s| s.phase.as_deref()) != Some("Terminating")
}

/// The root CA publisher.
pub struct RootCaPublisher {
    client: Client,
    ca: String,
}

impl RootCaPublisher {
    /// Publishes `ca` (PEM).
    pub fn new(client: Client, ca: String) -> Self {
        RootCaPublisher { client, ca }
    }

    /// Runs until the process ends.
    pub async fn run(self) {
        let namespaces: Api<Namespace> = Api::all(self.client.clone());
        let maps: Api<ConfigMap> = Api::all(self.client.clone());
        let mut ns_events = watcher::watcher(namespaces, watcher::Config::default())
            .default_backoff()
            .boxed();
        let cm_config = watcher::Config::default().fields(&format!("metadata.name={CONFIG_MAP}"));
        let mut cm_events = watcher::watcher(maps, cm_config).default_backoff().boxed();
        let (mut active_ns, mut staging_ns) = (BTreeSet::new(), BTreeSet::new());
        // Namespace -> whether its ConfigMap is up to date.
        let (mut published, mut staging_cm) = (BTreeMap::new(), BTreeMap::new());
        let (mut ns_synced, mut cm_synced) = (false, false);
        let mut failed: BTreeSet<String> = BTreeSet::new();
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tokio::select! {
                ev = ns_events.next() => match ev {
                    Some(Ok(Event::Init)) => staging_ns.clear(),
                    Some(Ok(Event::InitApply(ns))) => {
                        if active(&ns) {
                            staging_ns.insert(ns.name_any());
                        }
                    }
                    Some(Ok(Event::InitDone)) => {
                        active_ns = std::mem::take(&mut staging_ns);
                        ns_synced = true;
                    }
                    Some(Ok(Event::Apply(ns))) => {
                        if active(&ns) {
                            active_ns.insert(ns.name_any());
                        } else {
                            active_ns.remove(&ns.name_any());
                        }
                    }
                    Some(Ok(Event::Delete(ns))) => {
                        active_ns.remove(&ns.name_any());
                    }
                    Some(Err(e)) => tracing::debug!(error = %e, "root-ca publisher: namespace watch"),
                    None => return,
                },
                ev = cm_events.next() => match ev {
                    Some(Ok(Event::Init)) => staging_cm.clear(),
                    Some(Ok(Event::InitApply(cm))) => {
                        staging_cm.insert(cm.namespace().unwrap_or_default(), up_to_date(&cm, &self.ca));
                    }
                    Some(Ok(Event::InitDone)) => {
                        published = std::mem::take(&mut staging_cm);
                        cm_synced = true;
                    }
                    Some(Ok(Event::Apply(cm))) => {
                        published.insert(cm.namespace().unwrap_or_default(), up_to_date(&cm, &self.ca));
                    }
                    Some(Ok(Event::Delete(cm))) => {
                        published.remove(&cm.namespace().unwrap_or_default());
                    }
                    Some(Err(e)) => tracing::debug!(error = %e, "root-ca publisher: configmap watch"),
                    None => return,
                },
                _ = tick.tick() => failed.clear(),
            }
            if !(ns_synced && cm_synced) {
                continue;
            }
            let stale: Vec<(String, Option<bool>)> = active_ns
                .iter()
                .filter(|ns| !failed.contains(*ns))
                .filter_map(|ns| match published.get(ns) {
                    Some(true) => None,
                    other => Some((ns.clone(), other.copied())),
                })
                .collect();
            for (ns, exists) in stale {
                match self.publish(&ns, exists.is_some()).await {
                    Ok(()) => {
                        published.insert(ns, true);
                    }
                    Err(e) => {
                        tracing::debug!(namespace = %ns, error = %e, "publishing kube-root-ca.crt");
                        failed.insert(ns);
                    }
                }
            }
        }
    }

    /// Creates (or, when it exists, replaces) the ConfigMap in `ns`.
    async fn publish(&self, ns: &str, exists: bool) -> Result<(), kube::Error> {
        let api: Api<ConfigMap> = Api::namespaced(self.client.clone(), ns);
        let pp = PostParams {
            field_manager: Some("kube-controller-manager".into()),
            ..PostParams::default()
        };
        if exists {
            let mut cm = api.get(CONFIG_MAP).await?;
            let want = desired(&self.ca);
            cm.data = want.data;
            cm.binary_data = None;
            cm.metadata
                .annotations
                .get_or_insert_with(BTreeMap::new)
                .insert(DESCRIPTION_KEY.into(), DESCRIPTION.into());
            api.replace(CONFIG_MAP, &pp, &cm).await.map(|_| ())
        } else {
            match api.create(&pp, &desired(&self.ca)).await {
                Ok(_) => Ok(()),
                Err(kube::Error::Api(s)) if s.code == 409 => Ok(()),
                Err(e) => Err(e),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edits_are_detected() {
        let ca = "-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----\n";
        let mut cm = desired(ca);
        assert!(up_to_date(&cm, ca));
        cm.data = Some(BTreeMap::from([(KEY.to_string(), "other".to_string())]));
        assert!(!up_to_date(&cm, ca));
        let mut extra = desired(ca);
        if let Some(d) = extra.data.as_mut() {
            d.insert("more".into(), "x".into());
        }
        assert!(!up_to_date(&extra, ca));
        let mut unannotated = desired(ca);
        unannotated.metadata.annotations = None;
        assert!(!up_to_date(&unannotated, ca));
    }
}
