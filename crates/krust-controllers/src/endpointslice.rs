//! The EndpointSlice controller (upstream's `endpointslice-controller.k8s.io`): for every
//! Service with a selector, EndpointSlices (`discovery.k8s.io/v1`) listing the pods it selects
//! — one group of slices per distinct port set (named `targetPort`s resolve per pod), at most
//! 100 endpoints per slice, each endpoint with its `ready`/`serving`/`terminating` conditions,
//! node, hostname and pod reference — labelled `kubernetes.io/service-name` and
//! `endpointslice.kubernetes.io/managed-by`, owned by the Service. Slices are reused in place
//! (stable names), extra ones deleted; Services without a selector are left to their owners
//! (and to the mirroring controller).

use crate::runtime::{self, Informer, Informers, Notification, WorkQueue, split_key};
use crate::service_pods::{self, Backend, PodPort};
use k8s_openapi::api::core::v1::{ObjectReference, Pod, Service};
use k8s_openapi::api::discovery::v1::{Endpoint, EndpointConditions, EndpointPort, EndpointSlice};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::api::{Api, DeleteParams, PostParams};
use kube::{Client, ResourceExt};
use std::collections::BTreeMap;
use std::sync::Arc;

/// The label naming a slice's Service.
pub const SERVICE_NAME: &str = "kubernetes.io/service-name";
/// The label naming a slice's manager.
pub const MANAGED_BY: &str = "endpointslice.kubernetes.io/managed-by";
/// This controller's value of [`MANAGED_BY`].
pub const CONTROLLER: &str = "endpointslice-controller.k8s.io";
/// Upstream's `--max-endpoints-per-slice` default.
pub const MAX_ENDPOINTS: usize = 100;
const WORKERS: usize = 4;

/// The EndpointSlice controller.
pub struct EndpointSliceController {
    client: Client,
    informers: Informers,
}

struct Ctx {
    client: Client,
    services: Arc<Informer<Service>>,
    pods: Arc<Informer<Pod>>,
    slices: Arc<Informer<EndpointSlice>>,
    queue: WorkQueue,
}

impl EndpointSliceController {
    pub fn new(client: Client) -> Self {
        let informers = Informers::new(client.clone());
        EndpointSliceController { client, informers }
    }

    /// A controller on shared informers.
    pub fn with_informers(client: Client, informers: Informers) -> Self {
        EndpointSliceController { client, informers }
    }

    /// Runs until the process ends.
    pub async fn run(self) {
        let ctx = Arc::new(Ctx {
            client: self.client.clone(),
            services: self.informers.get::<Service>(),
            pods: self.informers.get::<Pod>(),
            slices: self.informers.get::<EndpointSlice>(),
            queue: WorkQueue::new(),
        });
        ctx.services.wait_synced().await;
        ctx.pods.wait_synced().await;
        ctx.slices.wait_synced().await;
        {
            service_pods::queue_service_changes(&ctx.queue, &ctx.services, &ctx.pods);
            let c = Arc::downgrade(&ctx);
            ctx.slices.add_handler(move |n| {
                if let Some(c) = c.upgrade() {
                    let slice = match n {
                        Notification::Added(s) | Notification::Deleted(s) => *s,
                        Notification::Updated { new, .. } => *new,
                    };
                    c.slice_changed(slice);
                }
            });
        }
        let queue = ctx.queue.clone();
        runtime::run_workers("endpointslice", queue, WORKERS, None, move |key: String| {
            let ctx = ctx.clone();
            async move { ctx.sync(&key).await }
        })
        .await;
    }
}

impl Ctx {
    /// Queues the Services of the pod's namespace that select it.
    /// A managed slice changed (or went): its Service is synced again, so edits are undone.
    fn slice_changed(&self, slice: &EndpointSlice) {
        let labels = slice.metadata.labels.clone().unwrap_or_default();
        if labels.get(MANAGED_BY).map(String::as_str) != Some(CONTROLLER) {
            return;
        }
        if let (Some(ns), Some(svc)) = (&slice.metadata.namespace, labels.get(SERVICE_NAME)) {
            self.queue.add(format!("{ns}/{svc}"));
        }
    }

    /// The managed slices of Service `ns/name`, by name.
    fn managed(&self, ns: &str, name: &str) -> Vec<Arc<EndpointSlice>> {
        let mut out: Vec<Arc<EndpointSlice>> = self
            .slices
            .list(ns)
            .into_iter()
            .filter(|s| {
                let labels = s.metadata.labels.as_ref();
                labels.and_then(|l| l.get(MANAGED_BY)).map(String::as_str) == Some(CONTROLLER)
                    && labels.and_then(|l| l.get(SERVICE_NAME)).map(String::as_str) == Some(name)
            })
            .collect();
        out.sort_by_key(|s| s.name_any());
        out
    }

    async fn sync(&self, key: &str) -> Result<(), kube::Error> {
        let (ns, name) = split_key(key);
        let api: Api<EndpointSlice> = Api::namespaced(self.client.clone(), ns);
        let existing = self.managed(ns, name);
        let svc = self.services.get(ns, name);
        let Some(svc) = svc.filter(|s| service_pods::selects(s)) else {
            // No Service (or not one whose endpoints come from a selector): no managed slices.
            for s in existing {
                delete_slice(&api, &s.name_any()).await?;
            }
            return Ok(());
        };
        let backends = service_pods::backends(&svc, &self.pods.list(ns));
        let desired = desired_slices(&svc, &backends);
        // Reuse the existing slices with the same ports, in name order, for each chunk.
        let mut pool: BTreeMap<Vec<PortKey>, Vec<Arc<EndpointSlice>>> = BTreeMap::new();
        for s in existing {
            pool.entry(port_key(s.ports.as_deref()))
                .or_default()
                .push(s);
        }
        for want in desired {
            let ports = port_key(want.ports.as_deref());
            let reuse = pool.get_mut(&ports).and_then(|v| {
                if v.is_empty() {
                    None
                } else {
                    Some(v.remove(0))
                }
            });
            match reuse {
                Some(old) if same_content(&old, &want) => {}
                Some(old) => {
                    let mut updated = want;
                    updated.metadata.name = old.metadata.name.clone();
                    updated.metadata.generate_name = old.metadata.generate_name.clone();
                    updated.metadata.resource_version = old.metadata.resource_version.clone();
                    api.replace(&old.name_any(), &PostParams::default(), &updated)
                        .await?;
                }
                None => {
                    api.create(&PostParams::default(), &want).await?;
                }
            }
        }
        for leftover in pool.into_values().flatten() {
            delete_slice(&api, &leftover.name_any()).await?;
        }
        Ok(())
    }
}

async fn delete_slice(api: &Api<EndpointSlice>, name: &str) -> Result<(), kube::Error> {
    match api.delete(name, &DeleteParams::default()).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(e)) if e.code == 404 => Ok(()),
        Err(e) => Err(e),
    }
}

/// A port's identity: name, number, protocol.
type PortKey = (Option<String>, Option<i32>, Option<String>);

/// A slice's ports, sorted, as a comparable key.
fn port_key(ports: Option<&[EndpointPort]>) -> Vec<PortKey> {
    let mut key: Vec<PortKey> = ports
        .unwrap_or_default()
        .iter()
        .map(|p| (p.name.clone(), p.port, p.protocol.clone()))
        .collect();
    key.sort();
    key
}

/// Whether a stored slice already says what `want` says (labels, ports, endpoints, owner).
fn same_content(old: &EndpointSlice, want: &EndpointSlice) -> bool {
    old.metadata.labels == want.metadata.labels
        && old.metadata.owner_references == want.metadata.owner_references
        && old.address_type == want.address_type
        && old.ports == want.ports
        && old.endpoints == want.endpoints
}

fn endpoint_port(p: &PodPort) -> EndpointPort {
    EndpointPort {
        name: Some(p.name.clone()),
        port: Some(p.port),
        protocol: Some(p.protocol.clone()),
        app_protocol: p.app_protocol.clone(),
    }
}

fn endpoint(b: &Backend) -> Endpoint {
    let meta = &b.pod.metadata;
    Endpoint {
        addresses: vec![b.ip.clone()],
        conditions: Some(EndpointConditions {
            ready: Some(b.ready),
            serving: Some(b.serving),
            terminating: Some(b.terminating),
        }),
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
        ..Endpoint::default()
    }
}

/// The slices `svc` should have for `backends`: one group per port set (a Service whose pods
/// all lack its ports still gets one empty slice, as upstream keeps a placeholder), each
/// chunked at [`MAX_ENDPOINTS`].
pub fn desired_slices(svc: &Service, backends: &[Backend]) -> Vec<EndpointSlice> {
    let name = svc.metadata.name.clone().unwrap_or_default();
    let mut labels = service_pods::endpoint_labels(svc);
    labels.insert(SERVICE_NAME.into(), name.clone());
    labels.insert(MANAGED_BY.into(), CONTROLLER.into());
    let owner = OwnerReference {
        api_version: "v1".into(),
        kind: "Service".into(),
        name: name.clone(),
        uid: svc.metadata.uid.clone().unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    };
    let mut groups: BTreeMap<Vec<PodPort>, Vec<&Backend>> = BTreeMap::new();
    for b in backends {
        groups.entry(b.ports.clone()).or_default().push(b);
    }
    let slice = |ports: &[PodPort], endpoints: Vec<Endpoint>| EndpointSlice {
        metadata: ObjectMeta {
            generate_name: Some(format!("{}-", truncate(&name, 57))),
            namespace: svc.metadata.namespace.clone(),
            labels: Some(labels.clone()),
            owner_references: Some(vec![owner.clone()]),
            ..ObjectMeta::default()
        },
        address_type: "IPv4".into(),
        endpoints,
        // A placeholder slice (no pod has the ports) has no ports, as upstream's.
        ports: (!ports.is_empty()).then(|| ports.iter().map(endpoint_port).collect()),
    };
    if groups.is_empty() {
        return vec![slice(&[], Vec::new())];
    }
    let mut out = Vec::new();
    for (ports, members) in groups {
        for chunk in members.chunks(MAX_ENDPOINTS) {
            out.push(slice(&ports, chunk.iter().map(|b| endpoint(b)).collect()));
        }
    }
    out
}

fn truncate(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn backend(i: usize, port: i32) -> Backend {
        let pod: Pod = serde_json::from_value(json!({
            "metadata": {"name": format!("p{i}"), "namespace": "ns", "uid": format!("u{i}")},
            "spec": {"nodeName": "n1", "containers": []}
        }))
        .unwrap();
        Backend {
            ip: format!("10.0.{}.{}", i / 250, i % 250),
            pod,
            ready: true,
            serving: true,
            terminating: false,
            ports: vec![PodPort {
                name: "http".into(),
                port,
                protocol: "TCP".into(),
                app_protocol: None,
            }],
            hostname: None,
        }
    }

    #[test]
    fn slices_split_by_port_set_and_at_one_hundred() {
        let svc: Service = serde_json::from_value(json!({
            "metadata": {"name": "web", "namespace": "ns", "uid": "s1", "labels": {"team": "a"}},
            "spec": {"selector": {"app": "web"}, "clusterIP": "None"}
        }))
        .unwrap();
        let mut backends: Vec<Backend> = (0..150).map(|i| backend(i, 8080)).collect();
        backends.push(backend(999, 9090));
        let slices = desired_slices(&svc, &backends);
        let sizes: Vec<usize> = slices.iter().map(|s| s.endpoints.len()).collect();
        assert_eq!(sizes, [100, 50, 1]);
        let labels = slices[0].metadata.labels.clone().unwrap();
        assert_eq!(labels[SERVICE_NAME], "web");
        assert_eq!(labels[MANAGED_BY], CONTROLLER);
        assert_eq!(labels["team"], "a");
        assert_eq!(labels["service.kubernetes.io/headless"], "");
        assert_eq!(slices[0].metadata.generate_name.as_deref(), Some("web-"));
        let owner = &slices[0].metadata.owner_references.as_ref().unwrap()[0];
        assert_eq!(
            (owner.kind.as_str(), owner.controller),
            ("Service", Some(true))
        );
        let ep = &slices[0].endpoints[0];
        assert_eq!(ep.target_ref.as_ref().unwrap().name.as_deref(), Some("p0"));
        assert_eq!(ep.conditions.as_ref().unwrap().ready, Some(true));
        // No pods: one empty slice.
        let empty = desired_slices(&svc, &[]);
        assert_eq!(empty.len(), 1);
        assert!(empty[0].endpoints.is_empty());
    }
}
