//! The Endpoints controller (upstream's `endpoint` controller): for every Service with a
//! selector, an `Endpoints` object of the same name whose subsets list the selected pods —
//! ready ones under `addresses`, the others under `notReadyAddresses` (terminating pods are
//! left out unless the Service publishes not-ready addresses), grouped by port set and
//! repacked in IP order as upstream does, at most 1000 addresses (then truncated with the
//! `endpoints.kubernetes.io/over-capacity: truncated` annotation). Services without a selector
//! keep the Endpoints their owners write.

use crate::runtime::{self, Informer, Informers, Notification, WorkQueue, key_of, split_key};
use crate::service_pods::{self, Backend, PodPort};
use k8s_openapi::api::core::v1::{
    EndpointAddress, EndpointPort, EndpointSubset, Endpoints, ObjectReference, Pod, Service,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Client;
use kube::api::{Api, PostParams};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Upstream's cap on addresses in one Endpoints object.
pub const MAX_ADDRESSES: usize = 1000;
const OVER_CAPACITY: &str = "endpoints.kubernetes.io/over-capacity";
const WORKERS: usize = 4;

/// The Endpoints controller.
pub struct EndpointsController {
    client: Client,
    informers: Informers,
}

struct Ctx {
    client: Client,
    services: Arc<Informer<Service>>,
    pods: Arc<Informer<Pod>>,
    endpoints: Arc<Informer<Endpoints>>,
    queue: WorkQueue,
}

impl EndpointsController {
    pub fn new(client: Client) -> Self {
        let informers = Informers::new(client.clone());
        EndpointsController { client, informers }
    }

    /// A controller on shared informers.
    pub fn with_informers(client: Client, informers: Informers) -> Self {
        EndpointsController { client, informers }
    }

    /// Runs until the process ends.
    pub async fn run(self) {
        let ctx = Arc::new(Ctx {
            client: self.client.clone(),
            services: self.informers.get::<Service>(),
            pods: self.informers.get::<Pod>(),
            endpoints: self.informers.get::<Endpoints>(),
            queue: WorkQueue::new(),
        });
        ctx.services.wait_synced().await;
        ctx.pods.wait_synced().await;
        ctx.endpoints.wait_synced().await;
        {
            service_pods::queue_service_changes(&ctx.queue, &ctx.services, &ctx.pods);
            let c = Arc::downgrade(&ctx);
            ctx.endpoints.add_handler(move |n| {
                if let Some(c) = c.upgrade()
                    && let Notification::Updated { new, .. } | Notification::Deleted(new) = n
                {
                    c.queue.add(key_of(&new.metadata));
                }
            });
        }
        let queue = ctx.queue.clone();
        runtime::run_workers("endpoint", queue, WORKERS, None, move |key: String| {
            let ctx = ctx.clone();
            async move { ctx.sync(&key).await }
        })
        .await;
    }
}

impl Ctx {
    async fn sync(&self, key: &str) -> Result<(), kube::Error> {
        let (ns, name) = split_key(key);
        let Some(svc) = self.services.get(ns, name) else {
            // The Endpoints go with the Service (the garbage collector does not own them:
            // upstream deletes them here).
            if self.endpoints.get(ns, name).is_some() {
                let api: Api<Endpoints> = Api::namespaced(self.client.clone(), ns);
                match api.delete(name, &Default::default()).await {
                    Ok(_) => {}
                    Err(kube::Error::Api(e)) if e.code == 404 => {}
                    Err(e) => return Err(e),
                }
            }
            return Ok(());
        };
        if !service_pods::selects(&svc) {
            return Ok(());
        }
        let backends = service_pods::backends(&svc, &self.pods.list(ns));
        let want = desired(&svc, &backends);
        let api: Api<Endpoints> = Api::namespaced(self.client.clone(), ns);
        match self.endpoints.get(ns, name) {
            Some(old)
                if old.subsets.clone().unwrap_or_default()
                    == want.subsets.clone().unwrap_or_default()
                    && old.metadata.labels == want.metadata.labels
                    && old.metadata.annotations == want.metadata.annotations => {}
            Some(old) => {
                let mut updated = want;
                updated.metadata.resource_version = old.metadata.resource_version.clone();
                api.replace(name, &PostParams::default(), &updated).await?;
            }
            None => match api.create(&PostParams::default(), &want).await {
                Ok(_) => {}
                // Created meanwhile: the next event brings it into the informer.
                Err(kube::Error::Api(e)) if e.code == 409 => {}
                Err(e) => return Err(e),
            },
        }
        Ok(())
    }
}

fn address(b: &Backend) -> EndpointAddress {
    let meta = &b.pod.metadata;
    EndpointAddress {
        ip: b.ip.clone(),
        hostname: b.hostname.clone(),
        node_name: b
            .pod
            .spec
            .as_ref()
            .and_then(|s| s.node_name.clone())
            .filter(|n| !n.is_empty()),
        target_ref: Some(ObjectReference {
            kind: Some("Pod".into()),
            namespace: meta.namespace.clone(),
            name: meta.name.clone(),
            uid: meta.uid.clone(),
            ..ObjectReference::default()
        }),
    }
}

fn port(p: &PodPort) -> EndpointPort {
    EndpointPort {
        name: Some(p.name.clone()).filter(|n| !n.is_empty()),
        port: p.port,
        protocol: Some(p.protocol.clone()),
        app_protocol: p.app_protocol.clone(),
    }
}

/// The Endpoints `svc` should have for `backends`.
pub fn desired(svc: &Service, backends: &[Backend]) -> Endpoints {
    let publish = svc
        .spec
        .as_ref()
        .and_then(|s| s.publish_not_ready_addresses)
        == Some(true);
    // Port set -> (ready, not ready), each keyed by IP (upstream's repacking sorts by IP).
    type Addresses = BTreeMap<String, EndpointAddress>;
    let mut groups: BTreeMap<Vec<PodPort>, (Addresses, Addresses)> = BTreeMap::new();
    let mut total = 0usize;
    for b in backends {
        if b.ports.is_empty() || (b.terminating && !publish) {
            continue;
        }
        if total == MAX_ADDRESSES {
            break;
        }
        total += 1;
        let group = groups.entry(b.ports.clone()).or_default();
        if b.ready {
            group.0.insert(b.ip.clone(), address(b));
        } else {
            group.1.insert(b.ip.clone(), address(b));
        }
    }
    let truncated = backends
        .iter()
        .filter(|b| !b.ports.is_empty() && (!b.terminating || publish))
        .count()
        > MAX_ADDRESSES;
    let subsets: Vec<EndpointSubset> = groups
        .into_iter()
        .map(|(ports, (ready, not_ready))| {
            let mut ports: Vec<EndpointPort> = ports.iter().map(port).collect();
            ports.sort_by(|a, b| (&a.name, a.port).cmp(&(&b.name, b.port)));
            EndpointSubset {
                addresses: (!ready.is_empty()).then(|| ready.into_values().collect()),
                not_ready_addresses: (!not_ready.is_empty())
                    .then(|| not_ready.into_values().collect()),
                ports: Some(ports),
            }
        })
        .collect();
    Endpoints {
        metadata: ObjectMeta {
            name: svc.metadata.name.clone(),
            namespace: svc.metadata.namespace.clone(),
            labels: Some(service_pods::endpoint_labels(svc)).filter(|l| !l.is_empty()),
            annotations: truncated
                .then(|| BTreeMap::from([(OVER_CAPACITY.to_string(), "truncated".to_string())])),
            ..ObjectMeta::default()
        },
        subsets: (!subsets.is_empty()).then_some(subsets),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn backend(name: &str, ip: &str, ready: bool, terminating: bool) -> Backend {
        Backend {
            ip: ip.into(),
            pod: serde_json::from_value(
                json!({"metadata": {"name": name, "namespace": "ns", "uid": name},
                "spec": {"nodeName": "n1", "containers": []}}),
            )
            .unwrap(),
            ready,
            serving: ready,
            terminating,
            ports: vec![PodPort {
                name: "http".into(),
                port: 8080,
                protocol: "TCP".into(),
                app_protocol: None,
            }],
            hostname: None,
        }
    }

    #[test]
    fn ready_and_not_ready_addresses_in_ip_order() {
        let svc: Service = serde_json::from_value(json!({
            "metadata": {"name": "web", "namespace": "ns"},
            "spec": {"selector": {"app": "web"}}
        }))
        .unwrap();
        let e = desired(
            &svc,
            &[
                backend("b", "10.0.0.9", true, false),
                backend("a", "10.0.0.10", true, false),
                backend("c", "10.0.0.3", false, false),
                backend("d", "10.0.0.4", false, true),
            ],
        );
        let subsets = e.subsets.unwrap();
        assert_eq!(subsets.len(), 1);
        let ips: Vec<&str> = subsets[0]
            .addresses
            .iter()
            .flatten()
            .map(|a| a.ip.as_str())
            .collect();
        assert_eq!(ips, ["10.0.0.10", "10.0.0.9"]);
        let not_ready: Vec<&str> = subsets[0]
            .not_ready_addresses
            .iter()
            .flatten()
            .map(|a| a.ip.as_str())
            .collect();
        assert_eq!(not_ready, ["10.0.0.3"], "terminating pods are left out");
        assert_eq!(subsets[0].ports.as_ref().unwrap()[0].port, 8080);
        assert!(desired(&svc, &[]).subsets.is_none());
    }
}
