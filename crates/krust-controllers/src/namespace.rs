//! The namespace controller: a namespace being deleted (phase `Terminating`, finalizer
//! `kubernetes`) has everything in it deleted, custom resources included, then its
//! `kubernetes` finalizer removed through the `finalize` subresource, which lets the API server
//! remove it.

use futures::StreamExt;
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, ApiResource, DeleteParams, DynamicObject, ListParams, PostParams};
use kube::discovery::{Discovery, Scope, verbs};
use kube::runtime::watcher::{self, Event};
use kube::{Client, ResourceExt};
use std::collections::BTreeSet;
use std::time::Duration;

const FINALIZER: &str = "kubernetes";

/// The namespace controller.
pub struct NamespaceController {
    client: Client,
}

impl NamespaceController {
    pub fn new(client: Client) -> Self {
        NamespaceController { client }
    }

    /// Runs until the process ends.
    pub async fn run(self) {
        let api: Api<Namespace> = Api::all(self.client.clone());
        let mut events = watcher::watcher(api, watcher::Config::default()).boxed();
        let mut terminating: BTreeSet<String> = BTreeSet::new();
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tokio::select! {
                ev = events.next() => match ev {
                    Some(Ok(Event::Apply(ns) | Event::InitApply(ns))) => {
                        if ns.metadata.deletion_timestamp.is_some() {
                            terminating.insert(ns.name_any());
                        }
                    }
                    Some(Ok(Event::Delete(ns))) => {
                        terminating.remove(&ns.name_any());
                    }
                    Some(Ok(_)) => continue,
                    Some(Err(e)) => {
                        tracing::debug!(error = %e, "namespace watch");
                        tokio::time::sleep(Duration::from_millis(500)).await;
                        continue;
                    }
                    None => return,
                },
                _ = tick.tick() => {}
            }
            if terminating.is_empty() {
                continue;
            }
            let resources = self.namespaced_resources().await;
            let names: Vec<String> = terminating.iter().cloned().collect();
            for name in names {
                match self.drain(&name, &resources).await {
                    Ok(true) => {
                        terminating.remove(&name);
                    }
                    Ok(false) => {}
                    Err(e) => tracing::debug!(namespace = %name, error = %e, "namespace cleanup"),
                }
            }
        }
    }

    async fn namespaced_resources(&self) -> Vec<ApiResource> {
        let Ok(discovery) = Discovery::new(self.client.clone()).run().await else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for group in discovery.groups() {
            for (ar, caps) in group.recommended_resources() {
                if caps.scope == Scope::Namespaced
                    && caps.supports_operation(verbs::LIST)
                    && caps.supports_operation(verbs::DELETE)
                {
                    out.push(ar);
                }
            }
        }
        out
    }

    /// Deletes what is left in the namespace; finalizes it once empty. True when done.
    async fn drain(&self, ns: &str, resources: &[ApiResource]) -> Result<bool, kube::Error> {
        let mut remaining = 0usize;
        for ar in resources {
            let api: Api<DynamicObject> = Api::namespaced_with(self.client.clone(), ns, ar);
            let list = match api.list_metadata(&ListParams::default()).await {
                Ok(l) => l,
                Err(kube::Error::Api(e)) if e.code == 404 || e.code == 405 => continue,
                Err(e) => return Err(e),
            };
            for obj in &list.items {
                remaining += 1;
                if obj.metadata.deletion_timestamp.is_some() {
                    continue;
                }
                match api
                    .delete(&obj.name_any(), &DeleteParams::background())
                    .await
                {
                    Ok(_) => {}
                    Err(kube::Error::Api(e)) if e.code == 404 || e.code == 409 => {}
                    Err(e) => return Err(e),
                }
            }
        }
        if remaining > 0 {
            return Ok(false);
        }
        let api: Api<Namespace> = Api::all(self.client.clone());
        let Some(mut ns_obj) = api.get_opt(ns).await? else {
            return Ok(true);
        };
        if let Some(spec) = ns_obj.spec.as_mut()
            && let Some(f) = spec.finalizers.as_mut()
        {
            f.retain(|x| x != FINALIZER);
        }
        match api
            .replace_subresource("finalize", ns, &PostParams::default(), &ns_obj)
            .await
        {
            Ok(_) => Ok(true),
            Err(kube::Error::Api(e)) if e.code == 404 => Ok(true),
            Err(kube::Error::Api(e)) if e.code == 409 => Ok(false),
            Err(e) => Err(e),
        }
    }
}
