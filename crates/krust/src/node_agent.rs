//! The real node agent, shared by `krust server` (in-process, unless `--disable-agent`) and
//! `krust agent`: containerd as a supervised child (unless `--container-runtime-endpoint`
//! names a running one), the air-gap images of `<data-dir>/agent/images/` imported, then the
//! kubelet, the service proxy, the cluster DNS and the ingress controller. Stopping the agent stops containerd (its shims keep the containers running, and
//! the next start adopts them) and removes the kubelet's `unreachable` routes;
//! [`cleanup`] (`krust agent cleanup`) removes everything, containers included.

use anyhow::Context;
use krust_kubelet::containerd::{self, Containerd, ContainerdConfig};
use krust_kubelet::kubelet::{Kubelet, KubeletConfig};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use tokio::task::JoinHandle;

/// What the agent runs with.
#[derive(Debug, Clone)]
pub struct AgentOptions {
    pub data_dir: PathBuf,
    pub node_name: String,
    pub node_ip: Ipv4Addr,
    pub cluster_dns: Ipv4Addr,
    pub cluster_domain: String,
    pub cluster_cidr: String,
    pub service_cidr: String,
    pub cni_bridge: String,
    pub max_pods: u32,
    /// The cluster CA (PEM).
    pub ca_pem: String,
    /// A running CRI runtime to use instead of starting containerd.
    pub runtime_endpoint: Option<PathBuf>,
    /// The registries file (`--private-registry`).
    pub private_registry: PathBuf,
    /// The kubelet's HTTPS server (logs, exec, attach, port-forward).
    pub kubelet_server: Option<krust_kubelet::server::ServerConfig>,
    /// The resolv.conf of the node (`--resolv-conf`): the cluster DNS's upstream resolvers.
    pub resolv_conf: PathBuf,
    /// The ingress controller's HTTP and HTTPS ports (0: not served).
    pub ingress_ports: (u16, u16),
}

/// A running agent.
pub struct RunningAgent {
    containerd: Option<Containerd>,
    kubelet: JoinHandle<()>,
    /// The service proxy (nftables).
    proxy: JoinHandle<()>,
    /// The cluster DNS server.
    dns: JoinHandle<()>,
    /// The ingress controller.
    ingress: JoinHandle<()>,
    proxy_config: krust_proxy::ProxyConfig,
    cluster_cidr: String,
    service_cidr: String,
}

/// This machine's host name, lowercased (the default node name).
pub fn default_node_name() -> String {
    krust_client::events::hostname().to_ascii_lowercase()
}

/// The node's IP: `preferred` unless it is loopback or unspecified, else the first
/// machine's main IPv4 address ([`crate::pki::primary_ipv4`]).
pub fn node_ip(preferred: Option<Ipv4Addr>) -> Ipv4Addr {
    if let Some(ip) = preferred
        && !ip.is_loopback()
        && !ip.is_unspecified()
    {
        return ip;
    }
    crate::pki::primary_ipv4()
}

/// `/var/...` style endpoint (`unix://` prefix allowed).
pub fn endpoint_path(endpoint: &str) -> PathBuf {
    PathBuf::from(endpoint.strip_prefix("unix://").unwrap_or(endpoint))
}

impl RunningAgent {
    /// Starts containerd (or uses the given runtime), imports the air-gap images and starts
    /// the kubelet.
    pub async fn start(client: kube::Client, opts: AgentOptions) -> anyhow::Result<RunningAgent> {
        let agent_dir = opts.data_dir.join("agent");
        std::fs::create_dir_all(&agent_dir)
            .with_context(|| format!("creating {}", agent_dir.display()))?;
        let registries = krust_kubelet::registries::Registries::load(&opts.private_registry)?;
        if !registries.is_empty() {
            tracing::info!(file = %opts.private_registry.display(), hosts = ?registries.reachable_hosts(), "registries configured");
        }
        let (containerd, socket) = match &opts.runtime_endpoint {
            Some(ep) => (None, ep.clone()),
            None => {
                let mut cfg = ContainerdConfig::for_data_dir(&opts.data_dir);
                cfg.registries = registries.clone();
                let cd = Containerd::start(cfg)
                    .await
                    .context("starting containerd")?;
                let socket = cd.endpoint().to_path_buf();
                (Some(cd), socket)
            }
        };
        let images = krust_kubelet::images::images_dir(&opts.data_dir);
        if images.is_dir() {
            match krust_kubelet::images::import_dir(&socket, &images).await {
                Ok(report) => {
                    for (path, names) in &report.imported {
                        tracing::info!(archive = %path.display(), images = ?names, "image archive imported");
                    }
                    for (path, e) in &report.failed {
                        tracing::warn!(archive = %path.display(), error = %e, "image archive not imported");
                    }
                }
                Err(e) => tracing::warn!(error = %e, "importing the image archives failed"),
            }
        }
        let cfg = KubeletConfig {
            node_name: opts.node_name.clone(),
            agent_dir,
            runtime_endpoint: socket,
            cluster_dns: opts.cluster_dns,
            cluster_domain: opts.cluster_domain.clone(),
            node_ip: opts.node_ip,
            max_pods: opts.max_pods,
            cgroup_parent: "/kubepods".into(),
            cni_bridge: opts.cni_bridge.clone(),
            cluster_cidr: opts.cluster_cidr.clone(),
            service_cidr: opts.service_cidr.clone(),
            ca_pem: opts.ca_pem.clone(),
            server: opts.kubelet_server.clone(),
            registries,
            registries_file: opts.private_registry.clone(),
            resolv_conf: opts.resolv_conf.clone(),
        };
        let proxy_config = krust_proxy::ProxyConfig {
            table: krust_proxy::ProxyConfig::table_for(&opts.cni_bridge),
            cluster_cidr: opts.cluster_cidr.clone(),
            bridge: opts.cni_bridge.clone(),
            node_name: opts.node_name.clone(),
            node_ip: Some(opts.node_ip),
        };
        let proxy = tokio::spawn(
            krust_proxy::ServiceProxy::new(client.clone(), proxy_config.clone()).run(),
        );
        let dns = tokio::spawn(serve_cluster_dns(client.clone(), opts.clone()));
        let any = |port: u16| {
            (port != 0).then(|| std::net::SocketAddr::from((Ipv4Addr::UNSPECIFIED, port)))
        };
        let ingress = tokio::spawn(
            krust_ingress::IngressController::new(
                client.clone(),
                krust_ingress::IngressConfig {
                    http: any(opts.ingress_ports.0),
                    https: any(opts.ingress_ports.1),
                },
            )
            .run(),
        );
        let kubelet = tokio::spawn(async move {
            if let Err(e) = Kubelet::new(client, cfg).run().await {
                tracing::error!(error = %e, "the kubelet stopped");
            }
        });
        tracing::info!(node = %opts.node_name, node_ip = %opts.node_ip, "node agent started");
        Ok(RunningAgent {
            containerd,
            kubelet,
            proxy,
            dns,
            ingress,
            proxy_config,
            cluster_cidr: opts.cluster_cidr,
            service_cidr: opts.service_cidr,
        })
    }

    /// Stops the kubelet and containerd (containers keep running) and removes the routes.
    pub async fn stop(self) {
        self.dns.abort();
        let _ = self.dns.await;
        self.ingress.abort();
        let _ = self.ingress.await;
        self.proxy.abort();
        let _ = self.proxy.await;
        let proxy_config = self.proxy_config.clone();
        let _ = tokio::task::spawn_blocking(move || krust_proxy::cleanup(&proxy_config)).await;
        self.kubelet.abort();
        let _ = self.kubelet.await;
        if let Some(cd) = self.containerd
            && let Err(e) = cd.stop().await
        {
            tracing::warn!(error = %e, "stopping containerd failed");
        }
        krust_kubelet::kubelet::remove_routes(&self.cluster_cidr, &self.service_cidr);
    }
}

/// Serves the cluster DNS at the gateway address of the node's podCIDR (the pod bridge's,
/// which the kubelet creates once the node has a podCIDR), forwarding other names to the
/// nameservers of `--resolv-conf`, and announces the address on the Node so the
/// `kube-dns` Endpoints list it. Retries until it can bind; serves until aborted.
async fn serve_cluster_dns(client: kube::Client, opts: AgentOptions) {
    use k8s_openapi::api::core::v1::Node;
    let nodes: kube::Api<Node> = kube::Api::all(client.clone());
    let mut warned = false;
    let dns = loop {
        let cidr = match nodes.get_opt(&opts.node_name).await {
            Ok(Some(n)) => n.spec.and_then(|s| {
                s.pod_cidr
                    .or_else(|| s.pod_cidrs.and_then(|c| c.first().cloned()))
            }),
            _ => None,
        };
        if let Some(Ok((gw, _))) = cidr.as_deref().map(krust_kubelet::network::gateway) {
            let resolv = std::fs::read_to_string(&opts.resolv_conf).unwrap_or_default();
            let exclude = [
                std::net::IpAddr::V4(opts.cluster_dns),
                std::net::IpAddr::V4(gw),
            ];
            let config = krust_dns::DnsConfig {
                listen: std::net::SocketAddr::new(gw.into(), 53),
                domain: opts.cluster_domain.clone(),
                cluster_dns: Some(opts.cluster_dns.into()),
                upstreams: krust_dns::forward::resolv_conf_servers(&resolv, &exclude),
            };
            match krust_dns::ClusterDns::bind(config).await {
                Ok(dns) => break (dns, gw),
                Err(e) if !warned => {
                    tracing::debug!(error = %e, "cluster DNS cannot bind yet");
                    warned = true;
                }
                Err(_) => {}
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    };
    let (dns, gw) = dns;
    let patch = serde_json::json!({"metadata": {"annotations": {
        krust_controllers::clusterdns::ADDRESS_ANNOTATION: gw.to_string()}}});
    if let Err(e) = nodes
        .patch(
            &opts.node_name,
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(&patch),
        )
        .await
    {
        tracing::warn!(error = %e, "announcing the cluster DNS address failed");
    }
    dns.run(client).await;
}

/// Removes everything an agent on `data_dir` left: containerd, its shims and containers, their
/// mounts, the pods' tmpfs volumes, the `unreachable` routes and the CNI bridge.
pub fn cleanup(
    data_dir: &Path,
    bridge: &str,
    cluster_cidr: &str,
    service_cidr: &str,
) -> anyhow::Result<()> {
    let root = ContainerdConfig::for_data_dir(data_dir).root;
    let report = containerd::cleanup(&root).context("cleaning up containerd")?;
    if !report.is_empty() {
        tracing::info!(
            daemons = report.daemons.len(),
            shims = report.shims.len(),
            containers = report.containers.len(),
            unmounted = report.unmounted.len(),
            "containerd leftovers removed"
        );
    }
    let pods = data_dir.join("agent").join("pods");
    if let Ok(entries) = std::fs::read_dir(&pods) {
        for e in entries.flatten() {
            krust_kubelet::volumes::cleanup(&e.path());
        }
    }
    krust_kubelet::kubelet::remove_routes(cluster_cidr, service_cidr);
    remove_simulated_route(data_dir);
    krust_proxy::cleanup(&krust_proxy::ProxyConfig {
        table: krust_proxy::ProxyConfig::table_for(bridge),
        cluster_cidr: cluster_cidr.to_string(),
        bridge: bridge.to_string(),
        node_name: String::new(),
        node_ip: None,
    });
    krust_kubelet::network::delete_bridge(bridge);
    Ok(())
}

/// Where the simulated nodes' range is recorded while its route is installed, so
/// [`cleanup`] can remove the route after an unclean stop.
fn simulated_route_record(data_dir: &Path) -> std::path::PathBuf {
    data_dir.join("simulated-pod-cidr")
}

/// Installs the `unreachable` route for the simulated nodes' pod range and records it under
/// `data_dir`.
pub fn add_simulated_route(data_dir: &Path, cidr: &str) {
    if let Err(e) = std::fs::create_dir_all(data_dir)
        .and_then(|()| std::fs::write(simulated_route_record(data_dir), cidr))
    {
        tracing::warn!(dir = %data_dir.display(), error = %e, "could not record the simulated range");
    }
    if let Err(e) = krust_kubelet::network::add_unreachable_route(cidr) {
        tracing::warn!(cidr = %cidr, error = %e, "could not add the unreachable route");
    }
}

/// Removes the route [`add_simulated_route`] installed, if one is recorded under `data_dir`.
pub fn remove_simulated_route(data_dir: &Path) {
    let record = simulated_route_record(data_dir);
    if let Ok(cidr) = std::fs::read_to_string(&record) {
        krust_kubelet::network::remove_unreachable_route(cidr.trim());
        let _ = std::fs::remove_file(&record);
    }
}
