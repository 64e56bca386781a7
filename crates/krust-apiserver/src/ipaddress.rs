//! IPAddress objects for Service ClusterIPs (`networking.k8s.io/v1`, as upstream 1.33's
//! allocator keeps them): every allocated ClusterIP has an `IPAddress` named by the IP, with
//! a `parentRef` to its Service and upstream's labels, created once the Service holds the IP
//! and deleted once it no longer does; an `IPAddress` created by hand (not managed by the
//! allocator) reserves its IP, so no Service is given it and one asking for it is refused.
//!
//! The allocator itself stays in memory (fast, exact within one server); this task mirrors
//! it into objects and back, reconciling on every Service or IPAddress change and once at
//! start (upstream's repair loop).

use crate::ApiServer;
use crate::watch_cache::WatchFrom;
use krust_api::meta::{get_path, get_str};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

const GROUP: &str = "networking.k8s.io";
const MANAGED_BY: &str = "ipaddress.kubernetes.io/managed-by";
const ALLOCATOR: &str = "ipallocator.k8s.io";
const FAMILY: &str = "ipaddress.kubernetes.io/ip-family";

/// Starts the task (it runs as long as the process).
pub(crate) fn spawn(server: ApiServer) {
    tokio::spawn(async move { run(server).await });
}

async fn run(server: ApiServer) {
    let (Some(services), Some(addresses)) = (
        server.registry().storage_info("", "services"),
        server.registry().storage_info(GROUP, "ipaddresses"),
    ) else {
        return;
    };
    let cache = &server.state.cache;
    let watch = |info: &krust_api::ResourceInfo| {
        cache.watch(
            &crate::rest::cache_resource(info),
            &info.key_prefix(),
            WatchFrom::Now,
        )
    };
    let (Ok(mut svc_watch), Ok(mut ip_watch)) = (watch(&services), watch(&addresses)) else {
        return;
    };
    let mut tick = tokio::time::interval(Duration::from_secs(30));
    let mut reserved = BTreeSet::new();
    loop {
        if let Err(e) = reconcile(&server, &services, &addresses, &mut reserved).await {
            tracing::warn!(error = %e, "IPAddress sync failed");
        }
        tokio::select! {
            ev = svc_watch.rx.recv() => if ev.is_none() { break },
            ev = ip_watch.rx.recv() => if ev.is_none() { break },
            _ = tick.tick() => {}
        }
        // Let a burst of changes settle into one pass.
        tokio::time::sleep(Duration::from_millis(20)).await;
        while svc_watch.rx.try_recv().is_ok() || ip_watch.rx.try_recv().is_ok() {}
    }
    tracing::warn!("IPAddress sync stopped: its watch ended");
}

/// The IPAddress object of `ip` held by Service `namespace/name`.
fn address_of(ip: &str, namespace: &str, name: &str) -> Value {
    json!({"apiVersion": "networking.k8s.io/v1", "kind": "IPAddress",
        "metadata": {"name": ip, "labels": {FAMILY: "IPv4", MANAGED_BY: ALLOCATOR}},
        "spec": {"parentRef": {"group": "", "resource": "services",
            "namespace": namespace, "name": name}}})
}

async fn reconcile(
    server: &ApiServer,
    services: &krust_api::ResourceInfo,
    addresses: &krust_api::ResourceInfo,
    reserved: &mut BTreeSet<String>,
) -> Result<(), crate::status::ApiError> {
    let cache = &server.state.cache;
    let (svc_list, _) = cache.list(
        &crate::rest::cache_resource(services),
        &services.key_prefix(),
    );
    let (ip_list, _) = cache.list(
        &crate::rest::cache_resource(addresses),
        &addresses.key_prefix(),
    );
    // ClusterIP -> the Service holding it.
    let mut held: BTreeMap<String, (String, String)> = BTreeMap::new();
    for svc in &svc_list {
        for ip in crate::allocator::cluster_ips(svc) {
            held.insert(
                ip,
                (
                    krust_api::meta::namespace(svc).to_string(),
                    krust_api::meta::name(svc).to_string(),
                ),
            );
        }
    }
    let mut existing: BTreeMap<String, Value> = BTreeMap::new();
    for a in &ip_list {
        existing.insert(krust_api::meta::name(a).to_string(), (**a).clone());
    }
    let allocator = &server.state.allocator;
    let mut reserved_now = BTreeSet::new();
    for (name, obj) in &existing {
        let managed = get_str(obj, &["metadata", "labels", MANAGED_BY]) == Some(ALLOCATOR);
        let parent = (
            get_str(obj, &["spec", "parentRef", "namespace"]).unwrap_or_default(),
            get_str(obj, &["spec", "parentRef", "name"]).unwrap_or_default(),
        );
        let holder = held.get(name);
        if managed && holder.is_none_or(|(ns, n)| (ns.as_str(), n.as_str()) != parent) {
            // The Service let the IP go (or another one holds it now): the object goes.
            let key = addresses.key(None, name);
            crate::rest::delete_object(server, addresses, &key, name).await?;
        } else if !managed && holder.is_none() {
            // Reserved by hand.
            allocator.reserve_ip(name);
            reserved_now.insert(name.clone());
        }
    }
    // A reservation whose IPAddress is gone frees the IP (unless a Service took it since).
    for ip in reserved.difference(&reserved_now) {
        if !held.contains_key(ip) {
            allocator.release_ip(ip);
        }
    }
    *reserved = reserved_now;
    for (ip, (ns, name)) in &held {
        let current = existing.get(ip);
        let current_parent = current.and_then(|o| get_path(o, &["spec", "parentRef"]));
        let ours = current_parent.is_some_and(|p| {
            p.get("namespace").and_then(Value::as_str) == Some(ns.as_str())
                && p.get("name").and_then(Value::as_str) == Some(name.as_str())
        });
        let managed = current
            .is_some_and(|o| get_str(o, &["metadata", "labels", MANAGED_BY]) == Some(ALLOCATOR));
        if current.is_none() || (managed && !ours) {
            crate::bootstrap::create_if_missing(
                server,
                GROUP,
                "ipaddresses",
                None,
                address_of(ip, ns, name),
            )
            .await?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn address_objects_name_their_service() {
        let a = address_of("10.43.0.10", "kube-system", "kube-dns");
        assert_eq!(a["metadata"]["name"], "10.43.0.10");
        assert_eq!(a["metadata"]["labels"][MANAGED_BY], ALLOCATOR);
        assert_eq!(a["spec"]["parentRef"]["resource"], "services");
        assert_eq!(a["spec"]["parentRef"]["name"], "kube-dns");
    }
}
