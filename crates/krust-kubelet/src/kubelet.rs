//! The real node agent: connects to the container runtime over CRI, registers the Node,
//! renews its Lease every 10 s, reports its status (on change and every minute), sets up the
//! pod network once the node IPAM controller gave the node a podCIDR ([`crate::network`]), and
//! runs the pods bound to it ([`crate::pods`]) and the static pods of
//! `<agent_dir>/pod-manifests` ([`crate::static_pods`]).

use crate::container::NodeSettings;
use crate::cri::{Cri, CriError};
use crate::events::{Events, NORMAL};
use crate::machine::{self, MachineInfo};
use crate::network;
use crate::node::{self, NodeFacts};
use crate::pod_worker::PodContext;
use crate::{pleg, pods, static_pods};
use k8s_openapi::api::core::v1::Node;
use k8s_openapi::jiff::Timestamp;
use kube::api::Api;
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};

/// Lease renewal period (upstream's 10 s).
pub const LEASE_PERIOD: Duration = Duration::from_secs(10);
/// How often the node status is recomputed (written when it changed).
pub const STATUS_CHECK_PERIOD: Duration = Duration::from_secs(10);
/// How often the node status is written even when unchanged.
pub const STATUS_REPORT_PERIOD: Duration = Duration::from_secs(60);

/// Why the kubelet could not start.
#[derive(Debug, thiserror::Error)]
pub enum KubeletError {
    #[error("the container runtime at {endpoint} is not answering: {source}")]
    Runtime { endpoint: PathBuf, source: CriError },
    #[error("creating {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// What the kubelet is configured with.
#[derive(Debug, Clone)]
pub struct KubeletConfig {
    pub node_name: String,
    /// `<data-dir>/agent`.
    pub agent_dir: PathBuf,
    /// The CRI socket.
    pub runtime_endpoint: PathBuf,
    pub cluster_dns: Ipv4Addr,
    pub cluster_domain: String,
    pub node_ip: Ipv4Addr,
    pub max_pods: u32,
    /// cgroup under which pods' cgroups are made (`/kubepods`).
    pub cgroup_parent: String,
    /// Name of the CNI bridge (`krust0`).
    pub cni_bridge: String,
    /// Pod network of the cluster (an `unreachable` route is added for it).
    pub cluster_cidr: String,
    /// Service network of the cluster (an `unreachable` route is added for it).
    pub service_cidr: String,
    /// The cluster CA (PEM), for ServiceAccount volumes when `kube-root-ca.crt` is missing.
    pub ca_pem: String,
    /// The streaming server (logs, exec, attach, port-forward); `None` runs none. [streaming hook]
    pub server: Option<crate::server::ServerConfig>,
    /// The registries pulls may reach, and the file they came from (named in pull errors).
    pub registries: crate::registries::Registries,
    pub registries_file: PathBuf,
    /// The resolv.conf `dnsPolicy: Default` pods get (`--resolv-conf`, `/etc/resolv.conf`).
    pub resolv_conf: PathBuf,
}

impl KubeletConfig {
    /// `<agent_dir>/etc/cni/net.d`.
    pub fn cni_conf_dir(&self) -> PathBuf {
        self.agent_dir.join("etc").join("cni").join("net.d")
    }
}

/// The kubelet.
pub struct Kubelet {
    client: kube::Client,
    cfg: KubeletConfig,
}

/// Adds the `unreachable` routes for the cluster and Service CIDRs.
pub fn add_routes(cfg: &KubeletConfig) {
    for cidr in [&cfg.cluster_cidr, &cfg.service_cidr] {
        if cidr.is_empty() {
            continue;
        }
        if let Err(e) = network::add_unreachable_route(cidr) {
            tracing::warn!(cidr = %cidr, error = %e, "could not add the unreachable route");
        }
    }
}

/// Removes what [`add_routes`] added.
pub fn remove_routes(cluster_cidr: &str, service_cidr: &str) {
    crate::node_routes::remove(cluster_cidr);
    for cidr in [cluster_cidr, service_cidr] {
        if !cidr.is_empty() {
            network::remove_unreachable_route(cidr);
        }
    }
}

/// The runtime's `containerd://1.6.20`, and its readiness problems.
async fn runtime_facts(cri: &Cri) -> (String, Option<String>, Option<String>) {
    let version = match cri.version().await {
        Ok(v) => format!("{}://{}", v.runtime_name, v.runtime_version),
        Err(_) => String::new(),
    };
    let (mut runtime, mut network) = (None, None);
    match cri.status().await {
        Ok(st) => {
            for c in st.status.map(|s| s.conditions).unwrap_or_default() {
                if c.status {
                    continue;
                }
                let text = format!(
                    "{}={} reason:{} message:{}",
                    c.r#type, c.status, c.reason, c.message
                );
                if c.r#type == "NetworkReady" {
                    network = Some(format!("container runtime network not ready: {text}"));
                } else {
                    runtime = Some(format!(
                        "container runtime status check may not have completed yet: {text}"
                    ));
                }
            }
        }
        Err(e) => runtime = Some(format!("container runtime is down: {e}")),
    }
    (version, runtime, network)
}

impl Kubelet {
    pub fn new(client: kube::Client, cfg: KubeletConfig) -> Kubelet {
        Kubelet { client, cfg }
    }

    /// Runs until the process ends.
    pub async fn run(self) -> Result<(), KubeletError> {
        let cfg = Arc::new(self.cfg);
        let client = self.client;
        for dir in [
            cfg.agent_dir.join("pods"),
            cfg.agent_dir.join("pod-manifests"),
            cfg.cni_conf_dir(),
        ] {
            std::fs::create_dir_all(&dir).map_err(|source| KubeletError::Io {
                path: dir.clone(),
                source,
            })?;
        }
        let cri = Cri::new(&cfg.runtime_endpoint).map_err(|source| KubeletError::Runtime {
            endpoint: cfg.runtime_endpoint.clone(),
            source,
        })?;
        cri.wait_ready(Duration::from_secs(60))
            .await
            .map_err(|source| KubeletError::Runtime {
                endpoint: cfg.runtime_endpoint.clone(),
                source,
            })?;
        let agent_dir = cfg.agent_dir.clone();
        let machine = tokio::task::spawn_blocking(move || MachineInfo::read(&agent_dir))
            .await
            .unwrap_or_default();
        add_routes(&cfg);

        let mut facts = NodeFacts {
            name: cfg.node_name.clone(),
            node_ip: Some(cfg.node_ip),
            max_pods: cfg.max_pods,
            kubelet_port: cfg.server.as_ref().map_or(0, |s| i32::from(s.port)), // [streaming hook]
            machine: machine.clone(),
            ..Default::default()
        };
        refresh_facts(&cri, &cfg, &mut facts, false).await;
        let node = loop {
            match node::register(&client, &facts).await {
                Ok(n) => break n,
                Err(e) => {
                    tracing::warn!(node = %cfg.node_name, error = %e, "node registration failed; retrying");
                    tokio::time::sleep(Duration::from_secs(2)).await;
                }
            }
        };
        let node_uid = node.metadata.uid.clone().unwrap_or_default();
        tokio::spawn(lease_loop(client.clone(), cfg.node_name.clone(), node_uid));
        if let Some(server) = cfg.server.clone() {
            // [streaming hook] the kubelet server (crate::server).
            let cri = cri.clone();
            let stats = crate::stats::Collector::start(
                cri.clone(),
                crate::stats::StatsConfig {
                    node_name: cfg.node_name.clone(),
                    cgroup_parent: cfg.cgroup_parent.clone(),
                    fs_path: cfg.agent_dir.clone(),
                    host: crate::stats::Host::default(),
                },
            );
            tokio::spawn(async move {
                if let Err(e) = crate::server::run(server, cri, stats).await {
                    tracing::error!(error = %e, "the kubelet server stopped");
                }
            });
        }

        let (net_tx, net_rx) = watch::channel(false);
        tokio::spawn(network_loop(client.clone(), cfg.clone(), net_tx));
        tokio::spawn(crate::node_routes::run(
            client.clone(),
            cfg.node_name.clone(),
            cfg.cluster_cidr.clone(),
        ));
        let events = Events::new(client.clone());
        let node_ref = node_reference(&cfg.node_name);
        events.object(
            node_ref.clone(),
            NORMAL,
            "Starting",
            "Starting kubelet.".into(),
        );
        tokio::spawn(status_loop(
            client.clone(),
            cri.clone(),
            cfg.clone(),
            facts.clone(),
            net_rx.clone(),
            events.clone(),
        ));

        let status = node::node_status(&facts, None, Timestamp::now());
        let allocatable: BTreeMap<String, String> = status
            .allocatable
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k, v.0))
            .collect();
        // systemd-resolved's real upstreams only stand in for the default file.
        let fallback = (cfg.resolv_conf == std::path::Path::new("/etc/resolv.conf"))
            .then(|| std::fs::read_to_string("/run/systemd/resolve/resolv.conf").ok())
            .flatten();
        let host_resolv = crate::container::pod_resolv_conf(
            &std::fs::read_to_string(&cfg.resolv_conf).unwrap_or_default(),
            fallback.as_deref(),
        );
        let ctx = Arc::new(PodContext {
            client: client.clone(),
            cri: cri.clone(),
            events,
            node: NodeSettings {
                agent_dir: cfg.agent_dir.clone(),
                cluster_dns: cfg.cluster_dns,
                cluster_domain: cfg.cluster_domain.clone(),
                cgroup_parent: cfg.cgroup_parent.clone(),
                hostname: if machine.hostname.is_empty() {
                    cfg.node_name.clone()
                } else {
                    machine.hostname.clone()
                },
                memory_capacity: machine.memory_bytes as i64,
            },
            node_name: cfg.node_name.clone(),
            host_ip: cfg.node_ip.to_string(),
            ca_pem: cfg.ca_pem.clone(),
            registries: cfg.registries.clone(),
            registries_file: cfg.registries_file.clone(),
            allocatable,
            network_ready: net_rx,
            host_resolv,
        });
        let (pleg_tx, pleg_rx) = mpsc::unbounded_channel();
        tokio::spawn(pleg::run(cri.clone(), pleg_tx));
        tokio::spawn(static_pods::run(
            client.clone(),
            cfg.node_name.clone(),
            cfg.agent_dir.join("pod-manifests"),
        ));
        tracing::info!(node = %cfg.node_name, runtime = %facts.runtime_version, "kubelet started");
        pods::run(ctx, pleg_rx).await;
        Ok(())
    }
}

async fn refresh_facts(cri: &Cri, cfg: &KubeletConfig, facts: &mut NodeFacts, network_ready: bool) {
    let (version, runtime_problem, network_problem) = runtime_facts(cri).await;
    if !version.is_empty() {
        facts.runtime_version = version;
    }
    facts.runtime_problem = runtime_problem;
    facts.network_problem = if network_ready {
        network_problem
    } else {
        Some(
            network_problem.unwrap_or_else(|| {
                "container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady message:Network plugin returns error: cni plugin not initialized".to_string()
            }),
        )
    };
    if let Ok(images) = cri.list_images().await {
        facts.images = node::node_images(&images);
    }
    let dir = cfg.agent_dir.clone();
    let (mem, disk) = tokio::task::spawn_blocking(move || {
        let mem = std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|t| machine::meminfo_field(&t, "MemAvailable"));
        (mem, machine::filesystem_usage(&dir))
    })
    .await
    .unwrap_or((None, None));
    facts.memory_available = mem;
    facts.disk = disk;
}

async fn lease_loop(client: kube::Client, name: String, node_uid: String) {
    let mut tick = tokio::time::interval(LEASE_PERIOD);
    loop {
        tick.tick().await;
        if let Err(e) = node::renew_lease(&client, &name, &node_uid).await {
            tracing::warn!(node = %name, error = %e, "lease renewal failed");
        }
    }
}

/// The reference of the kubelet's node events (upstream uses the node name as UID).
fn node_reference(name: &str) -> k8s_openapi::api::core::v1::ObjectReference {
    k8s_openapi::api::core::v1::ObjectReference {
        kind: Some("Node".into()),
        name: Some(name.to_string()),
        uid: Some(name.to_string()),
        namespace: Some("default".into()),
        ..Default::default()
    }
}

/// The `NodeHasSufficientMemory`, `NodeReady`, … events for conditions that changed.
fn condition_events(
    events: &Events,
    name: &str,
    old: Option<&k8s_openapi::api::core::v1::NodeStatus>,
    new: &k8s_openapi::api::core::v1::NodeStatus,
) {
    for c in new.conditions.iter().flatten() {
        let before = old
            .and_then(|o| o.conditions.as_ref())
            .and_then(|cs| cs.iter().find(|p| p.type_ == c.type_))
            .map(|p| p.status.clone());
        if before.as_deref() == Some(c.status.as_str()) {
            continue;
        }
        let reason = match (c.type_.as_str(), c.status.as_str()) {
            ("Ready", "True") => "NodeReady",
            ("Ready", _) => "NodeNotReady",
            ("MemoryPressure", "True") => "NodeHasInsufficientMemory",
            ("MemoryPressure", _) => "NodeHasSufficientMemory",
            ("DiskPressure", "True") => "NodeHasDiskPressure",
            ("DiskPressure", _) => "NodeHasNoDiskPressure",
            ("PIDPressure", "True") => "NodeHasInsufficientPID",
            ("PIDPressure", _) => "NodeHasSufficientPID",
            _ => continue,
        };
        events.object(
            node_reference(name),
            NORMAL,
            reason,
            format!("Node {name} status is now: {reason}"),
        );
    }
}

async fn status_loop(
    client: kube::Client,
    cri: Cri,
    cfg: Arc<KubeletConfig>,
    mut facts: NodeFacts,
    mut network: watch::Receiver<bool>,
    events: Events,
) {
    let api: Api<Node> = Api::all(client.clone());
    let mut last: Option<(k8s_openapi::api::core::v1::NodeStatus, Instant)> = None;
    loop {
        let ready = *network.borrow();
        refresh_facts(&cri, &cfg, &mut facts, ready).await;
        let old = match api.get_opt(&cfg.node_name).await {
            Ok(Some(n)) => n.status,
            _ => None,
        };
        let status = node::node_status(&facts, old.as_ref(), Timestamp::now());
        let due = match &last {
            None => true,
            Some((prev, at)) => {
                node::status_changed(prev, &status) || at.elapsed() >= STATUS_REPORT_PERIOD
            }
        };
        if due {
            match node::write_status(&client, &cfg.node_name, &status).await {
                Ok(_) => {
                    condition_events(
                        &events,
                        &cfg.node_name,
                        last.as_ref().map(|(s, _)| s),
                        &status,
                    );
                    last = Some((status, Instant::now()));
                }
                Err(e) => {
                    tracing::warn!(node = %cfg.node_name, error = %e, "node status update failed")
                }
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(STATUS_CHECK_PERIOD) => {}
            _ = network.changed() => {}
        }
    }
}

/// Waits for the node's podCIDR, then writes the CNI configuration and reports the network
/// ready (rewriting it if the podCIDR ever changes).
async fn network_loop(client: kube::Client, cfg: Arc<KubeletConfig>, ready: watch::Sender<bool>) {
    let api: Api<Node> = Api::all(client);
    let mut current: Option<String> = None;
    loop {
        let cidr = match api.get_opt(&cfg.node_name).await {
            Ok(Some(n)) => n.spec.and_then(|s| {
                s.pod_cidr
                    .or_else(|| s.pod_cidrs.and_then(|c| c.first().cloned()))
            }),
            _ => None,
        };
        if let Some(cidr) = cidr
            && current.as_deref() != Some(cidr.as_str())
        {
            if network::check_cidr(&cidr).is_err() {
                tracing::warn!(cidr = %cidr, "the node's podCIDR is not an IPv4 CIDR");
            } else {
                // Pods' packets are routed through the node (to Services, other nodes).
                if let Err(e) = std::fs::write("/proc/sys/net/ipv4/ip_forward", "1") {
                    tracing::warn!(error = %e, "enabling IP forwarding failed");
                }
                if let Err(e) = network::ensure_bridge(&cfg.cni_bridge, &cidr) {
                    tracing::warn!(bridge = %cfg.cni_bridge, error = %e, "creating the pod bridge failed");
                }
                let conf = network::cni_config(&cfg.cni_bridge, &cidr, &cfg.agent_dir.join("cni"));
                match network::write_cni_config(&cfg.cni_conf_dir(), &conf) {
                    Ok(_) => {
                        tracing::info!(pod_cidr = %cidr, bridge = %cfg.cni_bridge, "pod network configured");
                        current = Some(cidr);
                        // containerd picks the file up asynchronously; give it a moment.
                        tokio::time::sleep(Duration::from_millis(500)).await;
                        let _ = ready.send(true);
                    }
                    Err(e) => tracing::warn!(error = %e, "writing the CNI configuration failed"),
                }
            }
        }
        let wait = if current.is_some() { 30 } else { 1 };
        tokio::time::sleep(Duration::from_secs(wait)).await;
    }
}
