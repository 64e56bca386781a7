//! The cluster DNS controller (krust's counterpart of the CoreDNS deployment k3s ships): keeps
//! the `kube-system/kube-dns` Service at `--cluster-dns` (no selector: its endpoints are not
//! pods) and its Endpoints listing every node agent that serves DNS — a node announces its
//! DNS address in the [`ADDRESS_ANNOTATION`] annotation once its server is bound; Ready nodes
//! are `addresses`, others `notReadyAddresses`. The EndpointSlice mirroring controller turns
//! the Endpoints into the `kube-dns` EndpointSlice the service proxies route by.

use crate::runtime::{Informer, Informers, Notification, is_already_exists, is_not_found};
use crate::servicelb::node_ready;
use k8s_openapi::api::core::v1::{Endpoints, Node, Service};
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::{Client, ResourceExt};
use serde_json::{Value, json};
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// The Node annotation a node agent's DNS server announces its address with.
pub const ADDRESS_ANNOTATION: &str = "krust.io/cluster-dns-address";
/// The namespace and name of the DNS Service.
pub const NAMESPACE: &str = "kube-system";
pub const NAME: &str = "kube-dns";

/// The cluster DNS controller.
pub struct ClusterDnsController {
    client: Client,
    cluster_dns: Ipv4Addr,
}

/// The `kube-dns` Service (CoreDNS's labels and port names).
pub fn service(cluster_dns: Ipv4Addr) -> Value {
    json!({"apiVersion": "v1", "kind": "Service",
        "metadata": {"name": NAME, "namespace": NAMESPACE,
            "labels": {"k8s-app": "kube-dns", "kubernetes.io/cluster-service": "true",
                "kubernetes.io/name": "CoreDNS"}},
        "spec": {"clusterIP": cluster_dns.to_string(), "clusterIPs": [cluster_dns.to_string()],
            "ports": [
                {"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 53},
                {"name": "dns-tcp", "port": 53, "protocol": "TCP", "targetPort": 53}]}})
}

/// The `subsets` of the `kube-dns` Endpoints for these nodes.
pub fn subsets(nodes: &[Arc<Node>]) -> Value {
    let mut ready = Vec::new();
    let mut not_ready = Vec::new();
    let mut sorted: Vec<&Arc<Node>> = nodes.iter().collect();
    sorted.sort_by_key(|n| n.name_any());
    for n in sorted {
        let Some(ip) = n
            .annotations()
            .get(ADDRESS_ANNOTATION)
            .and_then(|a| a.parse::<Ipv4Addr>().ok())
        else {
            continue;
        };
        let address = json!({"ip": ip.to_string(), "nodeName": n.name_any()});
        if node_ready(n) {
            ready.push(address);
        } else {
            not_ready.push(address);
        }
    }
    if ready.is_empty() && not_ready.is_empty() {
        return json!([]);
    }
    let mut subset = serde_json::Map::new();
    subset.insert(
        "ports".into(),
        json!([{"name": "dns", "port": 53, "protocol": "UDP"},
               {"name": "dns-tcp", "port": 53, "protocol": "TCP"}]),
    );
    if !ready.is_empty() {
        subset.insert("addresses".into(), Value::Array(ready));
    }
    if !not_ready.is_empty() {
        subset.insert("notReadyAddresses".into(), Value::Array(not_ready));
    }
    json!([subset])
}

impl ClusterDnsController {
    pub fn new(client: Client, cluster_dns: Ipv4Addr) -> Self {
        ClusterDnsController {
            client,
            cluster_dns,
        }
    }

    async fn ensure_service(&self) {
        let api: Api<Service> = Api::namespaced(self.client.clone(), NAMESPACE);
        let Ok(svc) = serde_json::from_value::<Service>(service(self.cluster_dns)) else {
            return;
        };
        match api.create(&PostParams::default(), &svc).await {
            Ok(_) => tracing::info!(ip = %self.cluster_dns, "kube-dns Service created"),
            Err(e) if is_already_exists(&e) => {}
            Err(e) => tracing::warn!(error = %e, "creating the kube-dns Service failed"),
        }
    }

    async fn sync_endpoints(&self, nodes: &[Arc<Node>]) -> Result<(), kube::Error> {
        let api: Api<Endpoints> = Api::namespaced(self.client.clone(), NAMESPACE);
        let wanted = subsets(nodes);
        match api.get_opt(NAME).await? {
            Some(ep) => {
                let current =
                    serde_json::to_value(ep.subsets.unwrap_or_default()).unwrap_or(Value::Null);
                if current != wanted {
                    let patch = json!({"subsets": wanted});
                    api.patch(NAME, &PatchParams::default(), &Patch::Merge(&patch))
                        .await?;
                }
            }
            None => {
                let ep: Endpoints = serde_json::from_value(json!({
                    "metadata": {"name": NAME, "namespace": NAMESPACE,
                        "labels": {"k8s-app": "kube-dns", "kubernetes.io/name": "CoreDNS"}},
                    "subsets": wanted}))
                .map_err(kube::Error::SerdeError)?;
                match api.create(&PostParams::default(), &ep).await {
                    Ok(_) => {}
                    Err(e) if is_already_exists(&e) => {}
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(())
    }

    /// Runs until the process ends.
    pub async fn run(self) {
        let informers = Informers::new(self.client.clone());
        let nodes: Arc<Informer<Node>> = informers.get();
        let services: Arc<Informer<Service>> = informers.get();
        nodes.wait_synced().await;
        services.wait_synced().await;
        let changed = Arc::new(Notify::new());
        let c = changed.clone();
        nodes.add_handler(move |_| c.notify_one());
        let c = changed.clone();
        services.add_handler(move |n| {
            let svc = match n {
                Notification::Added(s) | Notification::Deleted(s) => *s,
                Notification::Updated { new, .. } => *new,
            };
            if svc.metadata.namespace.as_deref() == Some(NAMESPACE)
                && svc.metadata.name.as_deref() == Some(NAME)
            {
                c.notify_one();
            }
        });
        // What was last written (node heartbeats change nothing here; re-read once a minute).
        let mut written: Option<(Value, Instant)> = None;
        loop {
            if services.get(NAMESPACE, NAME).is_none() {
                self.ensure_service().await;
            }
            let all = nodes.list_all();
            let wanted = subsets(&all);
            let fresh = written
                .as_ref()
                .is_some_and(|(w, at)| *w == wanted && at.elapsed() < Duration::from_secs(60));
            if !fresh {
                match self.sync_endpoints(&all).await {
                    Ok(()) => written = Some((wanted, Instant::now())),
                    Err(e) => {
                        if !is_not_found(&e) {
                            tracing::debug!(error = %e, "kube-dns endpoints");
                        }
                        written = None;
                        changed.notify_one();
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
            }
            let _ = tokio::time::timeout(Duration::from_secs(30), changed.notified()).await;
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str, dns: Option<&str>, ready: &str) -> Arc<Node> {
        let mut meta = json!({"name": name});
        if let Some(ip) = dns {
            meta["annotations"] = json!({ADDRESS_ANNOTATION: ip});
        }
        Arc::new(
            serde_json::from_value(json!({"metadata": meta,
                "status": {"conditions": [{"type": "Ready", "status": ready}]}}))
            .unwrap(),
        )
    }

    #[test]
    fn endpoints_are_the_announcing_nodes() {
        assert_eq!(subsets(&[node("a", None, "True")]), json!([]));
        let got = subsets(&[
            node("b", Some("10.42.1.1"), "False"),
            node("a", Some("10.42.0.1"), "True"),
            node("c", None, "True"),
            node("d", Some("garbage"), "True"),
        ]);
        assert_eq!(
            got,
            json!([{"ports": [{"name": "dns", "port": 53, "protocol": "UDP"},
                              {"name": "dns-tcp", "port": 53, "protocol": "TCP"}],
                    "addresses": [{"ip": "10.42.0.1", "nodeName": "a"}],
                    "notReadyAddresses": [{"ip": "10.42.1.1", "nodeName": "b"}]}])
        );
        let svc = service("10.43.0.10".parse().unwrap());
        assert_eq!(svc["spec"]["clusterIP"], "10.43.0.10");
        assert!(svc["spec"].get("selector").is_none());
    }
}
