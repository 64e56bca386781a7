//! The EndpointSlice mirroring controller (upstream's `endpointslicemirroring-controller.k8s.io`):
//! Endpoints written by hand for a Service without a selector are mirrored into EndpointSlices
//! — one per subset, `addresses` ready and `notReadyAddresses` not, the subset's ports —
//! labelled with the Service name and this controller, owned by the Endpoints, so that
//! consumers of slices (the service proxy, DNS) see them. Endpoints labelled
//! `endpointslice.kubernetes.io/skip-mirror: "true"`, and those of Services with a selector
//! (the Endpoints controller's), are not mirrored.

use crate::endpointslice::{MANAGED_BY, SERVICE_NAME};
use crate::runtime::{self, Informer, Informers, Notification, WorkQueue, split_key};
use k8s_openapi::api::core::v1::{EndpointAddress, Endpoints, Service};
use k8s_openapi::api::discovery::v1::{Endpoint, EndpointConditions, EndpointPort, EndpointSlice};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::api::{Api, DeleteParams, PostParams};
use kube::{Client, ResourceExt};
use std::sync::Arc;

/// This controller's value of the managed-by label.
pub const CONTROLLER: &str = "endpointslicemirroring-controller.k8s.io";
const SKIP_MIRROR: &str = "endpointslice.kubernetes.io/skip-mirror";
/// Upstream's `--mirroring-max-endpoints-per-subset` default.
const MAX_PER_SUBSET: usize = 1000;

/// The mirroring controller.
pub struct EndpointSliceMirroringController {
    client: Client,
    informers: Informers,
}

struct Ctx {
    client: Client,
    services: Arc<Informer<Service>>,
    endpoints: Arc<Informer<Endpoints>>,
    slices: Arc<Informer<EndpointSlice>>,
    queue: WorkQueue,
}

impl EndpointSliceMirroringController {
    pub fn new(client: Client) -> Self {
        let informers = Informers::new(client.clone());
        EndpointSliceMirroringController { client, informers }
    }

    /// Runs until the process ends.
    pub async fn run(self) {
        let ctx = Arc::new(Ctx {
            client: self.client.clone(),
            services: self.informers.get::<Service>(),
            endpoints: self.informers.get::<Endpoints>(),
            slices: self.informers.get::<EndpointSlice>(),
            queue: WorkQueue::new(),
        });
        ctx.services.wait_synced().await;
        ctx.endpoints.wait_synced().await;
        ctx.slices.wait_synced().await;
        {
            ctx.services.queue_keys(&ctx.queue);
            ctx.endpoints.queue_keys(&ctx.queue);
            let c = Arc::downgrade(&ctx);
            ctx.slices.add_handler(move |n| {
                if let Some(c) = c.upgrade() {
                    let (Notification::Added(o)
                    | Notification::Deleted(o)
                    | Notification::Updated { new: o, .. }) = n;
                    let labels = o.metadata.labels.clone().unwrap_or_default();
                    if labels.get(MANAGED_BY).map(String::as_str) == Some(CONTROLLER)
                        && let (Some(ns), Some(svc)) =
                            (&o.metadata.namespace, labels.get(SERVICE_NAME))
                    {
                        c.queue.add(format!("{ns}/{svc}"));
                    }
                }
            });
        }
        let queue = ctx.queue.clone();
        runtime::run_workers(
            "endpointslicemirroring",
            queue,
            2,
            None,
            move |key: String| {
                let ctx = ctx.clone();
                async move { ctx.sync(&key).await }
            },
        )
        .await;
    }
}

impl Ctx {
    async fn sync(&self, key: &str) -> Result<(), kube::Error> {
        let (ns, name) = split_key(key);
        let api: Api<EndpointSlice> = Api::namespaced(self.client.clone(), ns);
        let mut existing: Vec<Arc<EndpointSlice>> = self
            .slices
            .list(ns)
            .into_iter()
            .filter(|s| {
                let l = s.metadata.labels.as_ref();
                l.and_then(|l| l.get(MANAGED_BY)).map(String::as_str) == Some(CONTROLLER)
                    && l.and_then(|l| l.get(SERVICE_NAME)).map(String::as_str) == Some(name)
            })
            .collect();
        existing.sort_by_key(|s| s.name_any());
        let svc = self.services.get(ns, name);
        let eps = self.endpoints.get(ns, name);
        let mirrored = match (&svc, &eps) {
            (Some(svc), Some(eps)) if wants_mirror(svc, eps) => mirror(eps),
            _ => Vec::new(),
        };
        let mut old = existing.into_iter();
        for want in mirrored {
            match old.next() {
                Some(cur)
                    if cur.endpoints == want.endpoints
                        && cur.ports == want.ports
                        && cur.metadata.labels == want.metadata.labels => {}
                Some(cur) => {
                    let mut updated = want;
                    updated.metadata.name = cur.metadata.name.clone();
                    updated.metadata.resource_version = cur.metadata.resource_version.clone();
                    api.replace(&cur.name_any(), &PostParams::default(), &updated)
                        .await?;
                }
                None => {
                    api.create(&PostParams::default(), &want).await?;
                }
            }
        }
        for leftover in old {
            match api
                .delete(&leftover.name_any(), &DeleteParams::default())
                .await
            {
                Ok(_) => {}
                Err(kube::Error::Api(e)) if e.code == 404 => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

/// Whether `eps` is mirrored: its Service has no selector and it does not opt out.
fn wants_mirror(svc: &Service, eps: &Endpoints) -> bool {
    let no_selector = svc
        .spec
        .as_ref()
        .and_then(|s| s.selector.as_ref())
        .is_none_or(|s| s.is_empty());
    let skip = eps
        .metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(SKIP_MIRROR))
        .is_some_and(|v| v == "true");
    no_selector && !skip
}

fn endpoint(a: &EndpointAddress, ready: bool) -> Endpoint {
    Endpoint {
        addresses: vec![a.ip.clone()],
        conditions: Some(EndpointConditions {
            ready: Some(ready),
            serving: Some(ready),
            terminating: Some(false),
        }),
        hostname: a.hostname.clone(),
        node_name: a.node_name.clone(),
        target_ref: a.target_ref.clone(),
        ..Endpoint::default()
    }
}

/// The slices mirroring `eps`: one per subset with IPv4 addresses.
pub fn mirror(eps: &Endpoints) -> Vec<EndpointSlice> {
    let name = eps.metadata.name.clone().unwrap_or_default();
    let mut labels = eps.metadata.labels.clone().unwrap_or_default();
    labels.insert(SERVICE_NAME.into(), name.clone());
    labels.insert(MANAGED_BY.into(), CONTROLLER.into());
    let owner = OwnerReference {
        api_version: "v1".into(),
        kind: "Endpoints".into(),
        name: name.clone(),
        uid: eps.metadata.uid.clone().unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    };
    eps.subsets
        .iter()
        .flatten()
        .filter_map(|ss| {
            let ready = ss.addresses.iter().flatten().map(|a| endpoint(a, true));
            let not_ready = ss
                .not_ready_addresses
                .iter()
                .flatten()
                .map(|a| endpoint(a, false));
            let endpoints: Vec<Endpoint> = ready
                .chain(not_ready)
                .filter(|e| {
                    e.addresses
                        .iter()
                        .all(|ip| ip.parse::<std::net::Ipv4Addr>().is_ok())
                })
                .take(MAX_PER_SUBSET)
                .collect();
            if endpoints.is_empty() {
                return None;
            }
            Some(EndpointSlice {
                metadata: ObjectMeta {
                    generate_name: Some(format!("{name}-")),
                    namespace: eps.metadata.namespace.clone(),
                    labels: Some(labels.clone()),
                    owner_references: Some(vec![owner.clone()]),
                    ..ObjectMeta::default()
                },
                address_type: "IPv4".into(),
                endpoints,
                ports: Some(
                    ss.ports
                        .iter()
                        .flatten()
                        .map(|p| EndpointPort {
                            name: Some(p.name.clone().unwrap_or_default()),
                            port: Some(p.port),
                            protocol: Some(p.protocol.clone().unwrap_or_else(|| "TCP".into())),
                            app_protocol: p.app_protocol.clone(),
                        })
                        .collect(),
                ),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn subsets_become_slices() {
        let eps: Endpoints = serde_json::from_value(json!({
            "metadata": {"name": "ext", "namespace": "ns", "uid": "e1", "labels": {"a": "b"}},
            "subsets": [
                {"addresses": [{"ip": "192.0.2.1"}], "notReadyAddresses": [{"ip": "192.0.2.2"}],
                 "ports": [{"name": "http", "port": 80}]},
                {"addresses": [{"ip": "2001:db8::1"}], "ports": [{"port": 81}]}
            ]
        }))
        .unwrap();
        let slices = mirror(&eps);
        assert_eq!(slices.len(), 1, "the IPv6-only subset is not an IPv4 slice");
        let s = &slices[0];
        assert_eq!(s.endpoints.len(), 2);
        assert_eq!(
            s.endpoints[0].conditions.as_ref().unwrap().ready,
            Some(true)
        );
        assert_eq!(
            s.endpoints[1].conditions.as_ref().unwrap().ready,
            Some(false)
        );
        let labels = s.metadata.labels.clone().unwrap();
        assert_eq!(labels[MANAGED_BY], CONTROLLER);
        assert_eq!(labels[SERVICE_NAME], "ext");
        assert_eq!(labels["a"], "b");
        assert_eq!(
            s.metadata.owner_references.as_ref().unwrap()[0].kind,
            "Endpoints"
        );
    }
}
