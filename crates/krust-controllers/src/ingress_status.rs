//! The ingress status controller: creates the `krust` IngressClass (controller
//! `krust.io/ingress-controller`, marked the default) unless it exists, and sets
//! `status.loadBalancer.ingress` of every Ingress of a krust class to the InternalIPs of the
//! Ready nodes, where each node agent's ingress controller answers on ports 80 and 443.

use crate::runtime::{Informer, Informers, is_already_exists};
use crate::servicelb::node_addresses;
use k8s_openapi::api::core::v1::Node;
use k8s_openapi::api::networking::v1::{Ingress, IngressClass};
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::{Client, ResourceExt};
use serde_json::json;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// The `spec.controller` of krust's IngressClasses.
pub const CONTROLLER: &str = "krust.io/ingress-controller";
/// The IngressClass krust creates.
pub const CLASS: &str = "krust";

/// The ingress status controller.
pub struct IngressStatusController {
    client: Client,
}

/// Whether `ing` names one of the classes of krust's controller.
pub fn is_ours(ing: &Ingress, classes: &[Arc<IngressClass>]) -> bool {
    let ours: BTreeSet<String> = classes
        .iter()
        .filter(|c| c.spec.as_ref().and_then(|s| s.controller.as_deref()) == Some(CONTROLLER))
        .map(|c| c.name_any())
        .collect();
    let named = ing
        .spec
        .as_ref()
        .and_then(|s| s.ingress_class_name.clone())
        .or_else(|| {
            ing.annotations()
                .get("kubernetes.io/ingress.class")
                .cloned()
        });
    named.is_some_and(|n| ours.contains(&n))
}

impl IngressStatusController {
    pub fn new(client: Client) -> Self {
        IngressStatusController { client }
    }

    async fn ensure_class(&self) {
        let api: Api<IngressClass> = Api::all(self.client.clone());
        let Ok(class) = serde_json::from_value::<IngressClass>(json!({
            "metadata": {"name": CLASS, "annotations": {
                "ingressclass.kubernetes.io/is-default-class": "true"}},
            "spec": {"controller": CONTROLLER}}))
        else {
            return;
        };
        match api.create(&PostParams::default(), &class).await {
            Ok(_) => tracing::info!("IngressClass krust created"),
            Err(e) if is_already_exists(&e) => {}
            Err(e) => tracing::warn!(error = %e, "creating the krust IngressClass failed"),
        }
    }

    /// Runs until the process ends.
    pub async fn run(self) {
        self.ensure_class().await;
        let informers = Informers::new(self.client.clone());
        let ingresses: Arc<Informer<Ingress>> = informers.get();
        let classes: Arc<Informer<IngressClass>> = informers.get();
        let nodes: Arc<Informer<Node>> = informers.get();
        ingresses.wait_synced().await;
        classes.wait_synced().await;
        nodes.wait_synced().await;
        let changed = Arc::new(Notify::new());
        let c = changed.clone();
        ingresses.add_handler(move |_| c.notify_one());
        let c = changed.clone();
        classes.add_handler(move |_| c.notify_one());
        let c = changed.clone();
        nodes.add_handler(move |_| c.notify_one());
        loop {
            let all_classes = classes.list_all();
            let addresses = node_addresses(&nodes.list_all());
            for ing in ingresses.list_all() {
                let wanted: Vec<String> = if is_ours(&ing, &all_classes) {
                    addresses.clone()
                } else {
                    continue;
                };
                let current: Vec<String> = ing
                    .status
                    .as_ref()
                    .and_then(|s| s.load_balancer.as_ref())
                    .and_then(|lb| lb.ingress.as_ref())
                    .map(|i| i.iter().filter_map(|x| x.ip.clone()).collect())
                    .unwrap_or_default();
                if current == wanted {
                    continue;
                }
                let entries: Vec<serde_json::Value> =
                    wanted.iter().map(|ip| json!({"ip": ip})).collect();
                let ns = ing.namespace().unwrap_or_default();
                let api: Api<Ingress> = Api::namespaced(self.client.clone(), &ns);
                let patch = json!({"status": {"loadBalancer": {"ingress": entries}}});
                if let Err(e) = api
                    .patch_status(
                        &ing.name_any(),
                        &PatchParams::default(),
                        &Patch::Merge(&patch),
                    )
                    .await
                {
                    tracing::debug!(ingress = %ing.name_any(), error = %e, "ingress status");
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

    #[test]
    fn ours_by_class_name_or_annotation() {
        let class = |name: &str, controller: &str| -> Arc<IngressClass> {
            Arc::new(
                serde_json::from_value(
                    json!({"metadata": {"name": name}, "spec": {"controller": controller}}),
                )
                .unwrap(),
            )
        };
        let classes = vec![
            class("krust", CONTROLLER),
            class("nginx", "k8s.io/ingress-nginx"),
        ];
        let ing = |v: serde_json::Value| -> Ingress { serde_json::from_value(v).unwrap() };
        assert!(is_ours(
            &ing(json!({"spec": {"ingressClassName": "krust"}})),
            &classes
        ));
        assert!(!is_ours(
            &ing(json!({"spec": {"ingressClassName": "nginx"}})),
            &classes
        ));
        assert!(is_ours(
            &ing(json!({"metadata": {"annotations": {"kubernetes.io/ingress.class": "krust"}}})),
            &classes
        ));
        assert!(!is_ours(&ing(json!({"spec": {}})), &classes));
    }
}
