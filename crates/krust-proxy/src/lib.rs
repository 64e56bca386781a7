//! The service proxy of a node agent: watches Services and EndpointSlices (shared informers
//! of `krust-client`) and programs an nftables table of its own (`ruleset`), one `nft -f -`
//! transaction per sync, within a few tens of milliseconds of a change: the first sync
//! writes the table whole, later ones only the chains, sets and map elements that changed. ClusterIPs with
//! endpoints also get a host route through the pod bridge, so the node itself reaches them
//! past the `unreachable` route that keeps unassigned Service IPs on this machine. The table
//! and the routes go on a clean stop and with [`cleanup`].

pub mod announce;
pub mod nft;
pub mod ruleset;

use k8s_openapi::api::core::v1::{Node, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use krust_client::runtime::Informers;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// What a proxy needs to know about its node.
#[derive(Debug, Clone)]
pub struct ProxyConfig {
    /// The nftables table (`ip` family) the proxy owns.
    pub table: String,
    /// The pod network (traffic from it to a ClusterIP is not masqueraded).
    pub cluster_cidr: String,
    /// The pod bridge ClusterIP host routes go through.
    pub bridge: String,
    /// This node's name (the endpoints of `Local` traffic policies are its own).
    pub node_name: String,
    /// This node's InternalIP (load-balancer pool addresses are announced on its interface).
    pub node_ip: Option<std::net::Ipv4Addr>,
}

impl ProxyConfig {
    /// The table name of the proxy of the node agent whose pod bridge is `bridge`.
    pub fn table_for(bridge: &str) -> String {
        format!("krust-proxy-{bridge}")
    }
}

/// The service proxy.
pub struct ServiceProxy {
    client: kube::Client,
    config: ProxyConfig,
}

impl ServiceProxy {
    pub fn new(client: kube::Client, config: ProxyConfig) -> Self {
        ServiceProxy { client, config }
    }

    /// Syncs until the future is dropped.
    pub async fn run(self) {
        let informers = Informers::new(self.client.clone());
        let services = informers.get::<Service>();
        let slices = informers.get::<EndpointSlice>();
        let nodes = informers.get::<Node>();
        services.wait_synced().await;
        slices.wait_synced().await;
        nodes.wait_synced().await;
        let changed = Arc::new(Notify::new());
        {
            let c = changed.clone();
            services.add_handler(move |_| c.notify_one());
            let c = changed.clone();
            slices.add_handler(move |_| c.notify_one());
            let c = changed.clone();
            nodes.add_handler(move |_| c.notify_one());
        }
        let mut announcing: BTreeSet<String> = BTreeSet::new();
        // Whether the table holds what `state` rendered (if not, the next sync writes it
        // whole); `state` re-renders only the Service ports that change.
        let mut programmed = false;
        let mut state = ruleset::RenderState::default();
        let mut routed: BTreeSet<String> = BTreeSet::new();
        loop {
            // Let a burst of changes settle into one transaction.
            tokio::time::sleep(Duration::from_millis(10)).await;
            let plan = ruleset::plan(
                &services.list_all(),
                &slices.list_all(),
                &self.config.node_name,
            );
            let (before, after) = state.advance(&self.config.cluster_cidr, &plan);
            let table = &self.config.table;
            let result = if !programmed {
                Err(nft::NftError::Failed {
                    program: "nft",
                    stderr: "no table yet".into(),
                })
            } else if before == after {
                Ok(())
            } else {
                // Only what changed (upstream's partial sync).
                nft::apply(&ruleset::incremental_script(table, &before, &after)).await
            };
            let result = match result {
                Ok(()) => Ok(()),
                // First sync, or the table is not what we think: write it whole.
                Err(_) => {
                    let full =
                        ruleset::full_script(table, &self.config.cluster_cidr, &state.full());
                    nft::apply(&full).await
                }
            };
            match result {
                Ok(()) => {
                    tracing::debug!(ports = plan.ports.len(), "service rules programmed");
                    programmed = true;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "programming the service rules failed");
                    programmed = false;
                }
            }
            let wanted_routes = plan.routed_ips();
            // Routes not added (the bridge may not exist yet) are tried again shortly.
            let mut missing = 0usize;
            let to_add: Vec<String> = wanted_routes.difference(&routed).cloned().collect();
            for ip in to_add {
                match nft::add_route(&ip, &self.config.bridge).await {
                    Ok(()) => {
                        routed.insert(ip);
                    }
                    Err(e) => {
                        missing += 1;
                        tracing::debug!(%ip, error = %e, "adding a ClusterIP route failed");
                    }
                }
            }
            if missing > 0 {
                tracing::info!(routes = missing, bridge = %self.config.bridge, "ClusterIP routes wait for the pod bridge");
            }
            let stale: Vec<String> = routed.difference(&wanted_routes).cloned().collect();
            for ip in stale {
                nft::del_route(&ip, &self.config.bridge).await;
                routed.remove(&ip);
            }
            let announce = announce::wanted(
                &services.list_all(),
                &nodes.list_all(),
                &self.config.node_name,
            );
            if announce != announcing {
                let device = self
                    .config
                    .node_ip
                    .and_then(|ip| announce::device_of(&ip.to_string()));
                match device {
                    Some(device) => {
                        let want = announce.clone();
                        let _ =
                            tokio::task::spawn_blocking(move || announce::apply(&want, &device))
                                .await;
                        announcing = announce;
                    }
                    None => tracing::warn!("no interface holds the node's address: not announcing"),
                }
            }
            // Resync at least every 30 s; a table removed by someone else is written again.
            let wait = if missing > 0 || !programmed {
                Duration::from_secs(1)
            } else {
                Duration::from_secs(30)
            };
            let _ = tokio::time::timeout(wait, changed.notified()).await;
            if programmed && !nft::table_exists(table).await {
                programmed = false;
            }
        }
    }
}

/// Removes the proxy's table and ClusterIP routes (a clean stop, `krust agent cleanup`);
/// blocking.
pub fn cleanup(config: &ProxyConfig) {
    nft::cleanup_blocking(&config.table, &config.bridge);
    announce::remove_all();
}
