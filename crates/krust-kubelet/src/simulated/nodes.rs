//! The node side of simulated nodes: registration (create, or adopt a Node of the same name
//! left by an earlier run), Lease renewal every `lease_renew_interval` and status refresh every
//! `status_report_interval`, both spread evenly over their period (5,000 nodes at 10 s are
//! 500 renewals a second, not 5,000 every ten seconds) with bounded concurrency.

use super::ipam::{Ipv4Cidr, node_address, node_pod_cidr};
use super::objects::{NodeIdentity, new_node, node_labels, node_lease, node_status};
use super::{Error, LEASE_NAMESPACE, NodeIndex, RateLimitedLog, SimConfig, backoff, status_code};
use futures::StreamExt;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Node;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::Timestamp;
use kube::Client;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::json;
use std::future::Future;
use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;
use tokio::time::MissedTickBehavior;

/// Log a registration progress line every this many nodes.
const PROGRESS_EVERY: usize = 1000;

/// What changes about a node while the simulator runs.
#[derive(Debug, Clone)]
pub(crate) struct NodeRuntime {
    /// The Node's UID once registered (the Lease's owner).
    pub uid: Option<String>,
    /// The podCIDR in effect: the carved one, or an adopted Node's own.
    pub pod_cidr: Ipv4Cidr,
    pub registered: bool,
    /// When the node became Ready (the conditions' `lastTransitionTime`).
    pub ready_since: Timestamp,
}

/// One simulated node.
pub(crate) struct SimNode {
    pub name: String,
    pub address: Ipv4Addr,
    /// The podCIDR carved for this node's index.
    carved: Ipv4Cidr,
    state: Mutex<NodeRuntime>,
}

impl SimNode {
    /// The podCIDR in effect.
    pub(crate) fn pod_cidr(&self) -> Ipv4Cidr {
        self.runtime().map_or(self.carved, |rt| rt.pod_cidr)
    }

    pub(crate) fn runtime(&self) -> Option<NodeRuntime> {
        self.state.lock().ok().map(|s| s.clone())
    }

    fn update(&self, f: impl FnOnce(&mut NodeRuntime)) {
        if let Ok(mut s) = self.state.lock() {
            f(&mut s);
        }
    }

    fn identity(&self) -> NodeIdentity {
        NodeIdentity {
            name: self.name.clone(),
            address: self.address,
            pod_cidr: self.pod_cidr(),
        }
    }
}

/// State shared by the simulator's loops.
pub(crate) struct Shared {
    pub client: Client,
    pub config: SimConfig,
    pub nodes: Vec<SimNode>,
    pub by_name: NodeIndex,
    node_errors: RateLimitedLog,
    lease_errors: RateLimitedLog,
    pub pod_errors: RateLimitedLog,
}

impl Shared {
    pub(crate) fn new(client: Client, config: SimConfig) -> Result<Self, Error> {
        let base: Ipv4Cidr = config.pod_cidr_base.parse()?;
        let now = Timestamp::now();
        let mut nodes = Vec::with_capacity(config.count);
        let mut by_name = NodeIndex::with_capacity(config.count);
        for i in 0..config.count {
            let name = config.node_name(i);
            by_name.insert(name.clone(), i);
            let carved = node_pod_cidr(base, i)?;
            nodes.push(SimNode {
                name,
                address: node_address(i)?,
                carved,
                state: Mutex::new(NodeRuntime {
                    uid: None,
                    pod_cidr: carved,
                    registered: false,
                    ready_since: now,
                }),
            });
        }
        Ok(Shared {
            client,
            config,
            nodes,
            by_name,
            node_errors: RateLimitedLog::new("node registration or status update"),
            lease_errors: RateLimitedLog::new("lease renewal"),
            pod_errors: RateLimitedLog::new("pod update"),
        })
    }
}

/// Registers every node, `max_in_flight` at a time, each retried until it succeeds; logs
/// progress every 1,000 nodes.
pub(crate) async fn register_all(shared: &Arc<Shared>) {
    let total = shared.nodes.len();
    let started = Instant::now();
    let mut done = 0usize;
    let mut stream = futures::stream::iter(0..total)
        .map(|i| register_retrying(shared, i))
        .buffer_unordered(shared.config.max_in_flight.max(1));
    while stream.next().await.is_some() {
        done += 1;
        if done.is_multiple_of(PROGRESS_EVERY) && done < total {
            tracing::info!(
                "registered {done}/{total} simulated nodes ({:.1}s)",
                started.elapsed().as_secs_f64()
            );
        }
    }
    tracing::info!(
        nodes = total,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "simulated nodes registered ({}-0 … {}-{})",
        shared.config.name_prefix,
        shared.config.name_prefix,
        total.saturating_sub(1)
    );
}

async fn register_retrying(shared: &Arc<Shared>, i: usize) {
    let mut attempt = 0;
    loop {
        attempt += 1;
        match register(shared, i).await {
            Ok(()) => return,
            Err(e) => {
                shared.node_errors.warn(&shared.nodes[i].name, &e);
                tokio::time::sleep(backoff(attempt)).await;
            }
        }
    }
}

fn has_ready_condition(node: &Node) -> bool {
    node.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready"))
}

/// Creates node `i` (or adopts the existing Node of that name), writes its status and
/// creates its Lease.
async fn register(shared: &Shared, i: usize) -> Result<(), kube::Error> {
    let node = &shared.nodes[i];
    let id = node.identity();
    let api: Api<Node> = Api::all(shared.client.clone());
    let cap = &shared.config.capacity;
    let now = Timestamp::now();
    let created = match api
        .create(&PostParams::default(), &new_node(&id, cap, now))
        .await
    {
        Ok(n) => {
            if !has_ready_condition(&n) {
                // The server dropped the status on create: write it through the subresource.
                let body = json!({"status": node_status(&id, cap, now, now)});
                api.patch_status(&id.name, &PatchParams::default(), &Patch::Merge(&body))
                    .await?;
            }
            n
        }
        Err(e) if status_code(&e) == Some(409) => adopt(shared, &api, &id, now).await?,
        Err(e) => return Err(e),
    };
    let uid = created.metadata.uid.clone();
    node.update(|s| {
        s.uid = uid.clone();
        s.ready_since = now;
    });
    ensure_lease(shared, i, uid.as_deref()).await?;
    node.update(|s| s.registered = true);
    Ok(())
}

/// Takes over an existing Node of the same name (an agent restart must not duplicate nodes):
/// labels merged in, podCIDR set if it has none (its own kept otherwise), status rewritten.
async fn adopt(
    shared: &Shared,
    api: &Api<Node>,
    id: &NodeIdentity,
    now: Timestamp,
) -> Result<Node, kube::Error> {
    let labels = json!({"metadata": {"labels": node_labels(&id.name)}});
    let mut node = api
        .patch(&id.name, &PatchParams::default(), &Patch::Merge(&labels))
        .await?;
    let existing = node.spec.as_ref().and_then(|s| s.pod_cidr.clone());
    let mut effective = id.clone();
    match existing.as_deref().map(str::parse::<Ipv4Cidr>) {
        Some(Ok(cidr)) => effective.pod_cidr = cidr,
        Some(Err(_)) => {}
        None => {
            let cidr = id.pod_cidr.to_string();
            let spec = json!({"spec": {"podCIDR": cidr, "podCIDRs": [cidr]}});
            match api
                .patch(&id.name, &PatchParams::default(), &Patch::Merge(&spec))
                .await
            {
                Ok(n) => node = n,
                Err(e) => tracing::debug!(node = %id.name, error = %e, "setting podCIDR"),
            }
        }
    }
    if let Some(i) = shared.by_name.get(&id.name) {
        shared.nodes[*i].update(|s| s.pod_cidr = effective.pod_cidr);
    }
    let body = json!({"status": node_status(&effective, &shared.config.capacity, now, now)});
    api.patch_status(&id.name, &PatchParams::default(), &Patch::Merge(&body))
        .await?;
    Ok(node)
}

/// Creates node `i`'s Lease, or takes over the existing one.
async fn ensure_lease(
    shared: &Shared,
    i: usize,
    node_uid: Option<&str>,
) -> Result<(), kube::Error> {
    let name = &shared.nodes[i].name;
    let api: Api<Lease> = Api::namespaced(shared.client.clone(), LEASE_NAMESPACE);
    let lease = node_lease(
        name,
        node_uid,
        shared.config.lease_duration_seconds,
        Timestamp::now(),
    );
    match api.create(&PostParams::default(), &lease).await {
        Ok(_) => Ok(()),
        Err(e) if status_code(&e) == Some(409) => {
            let body = json!({
                "metadata": {"ownerReferences": lease.metadata.owner_references},
                "spec": lease.spec,
            });
            api.patch(name, &PatchParams::default(), &Patch::Merge(&body))
                .await
                .map(|_| ())
        }
        Err(e) => Err(e),
    }
}

/// Runs `f(i)` for every `i < n` once per `period`, spread over it in up to `max_slots`
/// evenly spaced batches, at most `permits` calls in flight.
async fn spread<F, Fut>(n: usize, period: Duration, max_slots: usize, permits: usize, f: F)
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    if n == 0 {
        return;
    }
    let slots = n.clamp(1, max_slots.max(1));
    let step = (period / u32::try_from(slots).unwrap_or(u32::MAX)).max(Duration::from_millis(1));
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + step, step);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let sem = Arc::new(Semaphore::new(permits.max(1)));
    let mut slot = 0;
    loop {
        tick.tick().await;
        for i in (slot..n).step_by(slots) {
            let Ok(permit) = sem.clone().acquire_owned().await else {
                return;
            };
            let fut = f(i);
            tokio::spawn(async move {
                fut.await;
                drop(permit);
            });
        }
        slot = (slot + 1) % slots;
    }
}

/// Renews every registered node's Lease once per `lease_renew_interval`.
pub(crate) async fn renew_leases(shared: Arc<Shared>) {
    let n = shared.nodes.len();
    let period = shared.config.lease_renew_interval;
    let permits = shared.config.max_in_flight;
    spread(n, period, 100, permits, |i| renew_lease(shared.clone(), i)).await;
}

async fn renew_lease(shared: Arc<Shared>, i: usize) {
    let node = &shared.nodes[i];
    let Some(rt) = node.runtime() else {
        return;
    };
    if !rt.registered {
        return;
    }
    let api: Api<Lease> = Api::namespaced(shared.client.clone(), LEASE_NAMESPACE);
    let body = json!({"spec": {
        "holderIdentity": node.name,
        "leaseDurationSeconds": shared.config.lease_duration_seconds,
        "renewTime": MicroTime(Timestamp::now()),
    }});
    let result = match api
        .patch(&node.name, &PatchParams::default(), &Patch::Merge(&body))
        .await
    {
        Err(e) if status_code(&e) == Some(404) => ensure_lease(&shared, i, rt.uid.as_deref()).await,
        other => other.map(|_| ()),
    };
    if let Err(e) = result {
        shared.lease_errors.warn(&node.name, &e);
    }
}

/// Rewrites every registered node's status (heartbeat times) once per
/// `status_report_interval`; a node deleted meanwhile is registered again.
pub(crate) async fn refresh_status(shared: Arc<Shared>) {
    let n = shared.nodes.len();
    let period = shared.config.status_report_interval;
    let permits = (shared.config.max_in_flight / 4).max(1);
    spread(n, period, 300, permits, |i| refresh_one(shared.clone(), i)).await;
}

async fn refresh_one(shared: Arc<Shared>, i: usize) {
    let node = &shared.nodes[i];
    let Some(rt) = node.runtime() else {
        return;
    };
    let id = node.identity();
    if !rt.registered {
        return;
    }
    let api: Api<Node> = Api::all(shared.client.clone());
    let body = json!({"status": node_status(&id, &shared.config.capacity, rt.ready_since, Timestamp::now())});
    match api
        .patch_status(&node.name, &PatchParams::default(), &Patch::Merge(&body))
        .await
    {
        Ok(_) => {}
        Err(e) if status_code(&e) == Some(404) => {
            tracing::info!(node = %node.name, "simulated node was deleted; registering it again");
            node.update(|s| s.registered = false);
            register_retrying(&shared, i).await;
        }
        Err(e) => shared.node_errors.warn(&node.name, &e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn spread_covers_every_index_each_period() {
        let hits: Arc<Vec<AtomicUsize>> = Arc::new((0..250).map(|_| AtomicUsize::new(0)).collect());
        let h = hits.clone();
        let run = spread(250, Duration::from_millis(200), 100, 4, move |i| {
            let h = h.clone();
            async move {
                h[i].fetch_add(1, Ordering::Relaxed);
            }
        });
        // About five periods: every index about five times, never far off.
        let _ = tokio::time::timeout(Duration::from_millis(1100), run).await;
        tokio::time::sleep(Duration::from_millis(20)).await;
        let counts: Vec<usize> = hits.iter().map(|a| a.load(Ordering::Relaxed)).collect();
        assert!(counts.iter().all(|c| (2..=6).contains(c)), "{counts:?}");
        let spread = counts.iter().max().unwrap() - counts.iter().min().unwrap();
        assert!(spread <= 1, "{counts:?}");
    }
}
