//! The command line. Flag names follow k3s where k3s has the same flag.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "krust",
    version,
    about = "A Kubernetes-compatible cluster in one binary"
)]
pub struct Cli {
    /// Log filter: a level (`info`, `debug`) or targets (`krust_apiserver=debug,info`).
    /// (default: `info`; `warn` for `bench`).
    #[arg(long, global = true)]
    pub log_level: Option<String>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the control plane (API server and storage).
    Server(ServerArgs),
    /// Run a node agent that joins a server (containerd and the kubelet, or simulated nodes).
    Agent(AgentArgs),
    /// Print the admin kubeconfig of a server on this machine.
    Kubeconfig(KubeconfigArgs),
    /// Import image archives into the node's containerd, or list its images.
    Images(ImagesArgs),
    /// Run a benchmark and print its results.
    Bench(BenchArgs),
    /// Print the version.
    Version,
}

#[derive(Debug, Clone, Args)]
pub struct ServerArgs {
    /// Where state, certificates and the database live.
    #[arg(long, default_value = "/var/lib/krust")]
    pub data_dir: PathBuf,
    /// HTTPS port of the API server.
    #[arg(long, default_value_t = 6443)]
    pub https_port: u16,
    /// Address the API server listens on.
    #[arg(long, default_value = "0.0.0.0")]
    pub bind_address: String,
    /// Address advertised to clients and in the `kubernetes` Service's endpoints
    /// (default: the first non-loopback local IPv4 address, else 127.0.0.1).
    #[arg(long)]
    pub advertise_address: Option<std::net::Ipv4Addr>,
    /// Where to write the admin kubeconfig (mode 0600).
    #[arg(long, default_value = "/etc/krust/krust.yaml")]
    pub write_kubeconfig: PathBuf,
    /// Do not run a node agent in this process.
    #[arg(long)]
    pub disable_agent: bool,
    /// The node agent of this process (unless `--disable-agent`).
    #[command(flatten)]
    pub node: NodeArgs,
    /// Storage: `sqlite://PATH` (default `sqlite://<data-dir>/server/db/state.db`).
    #[arg(long)]
    pub datastore_endpoint: Option<String>,
    /// Pod network.
    #[arg(long, default_value = "10.42.0.0/16")]
    pub cluster_cidr: String,
    /// Service network; its first address is the `kubernetes` Service.
    #[arg(long, default_value = "10.43.0.0/16")]
    pub service_cidr: String,
    /// Cluster DNS Service IP.
    #[arg(long, default_value = "10.43.0.10")]
    pub cluster_dns: std::net::Ipv4Addr,
    /// Addresses LoadBalancer Services get, one each (CIDRs and `a-b` ranges, comma-separated),
    /// instead of the nodes' addresses; the first Ready node announces them on its link.
    #[arg(long, default_value = "")]
    pub service_lb_pool: String,
    /// Cluster DNS domain.
    #[arg(long, default_value = "cluster.local")]
    pub cluster_domain: String,
    /// Node port range.
    #[arg(long, default_value = "30000-32767")]
    pub service_node_port_range: String,
    /// Events kept per resource in the watch cache for watches that resume from a revision.
    #[arg(long, default_value_t = 10_000)]
    pub watch_cache_size: usize,
    /// Controllers to run, upstream's syntax: `*` for all, `foo` to enable, `-foo` to disable
    /// (e.g. `*,-garbagecollector`).
    #[arg(long, default_value = "*")]
    pub controllers: String,
    /// Run N simulated nodes in this process (a scale-testing tool, as kwok: nodes keep leases and
    /// bound pods are marked Running without containers).
    #[arg(long, default_value_t = 0)]
    pub simulate_nodes: usize,
    /// Range the simulated nodes' podCIDRs (one /24 each, by index) are carved from. Refused
    /// when it overlaps an address, route or DNS server of this host; an `unreachable` route
    /// covers it while the server runs.
    #[arg(long, default_value = "10.64.0.0/11")]
    pub simulated_pod_cidr: String,
    /// Capacity of each simulated node.
    #[arg(long, default_value = "cpu=32,memory=256Gi,pods=110")]
    pub node_capacity: String,
    /// Do not run the scheduler in this process.
    #[arg(long)]
    pub disable_scheduler: bool,
    /// How the scheduler scores node resources: `LeastAllocated` (spread, the default) or
    /// `MostAllocated` (bin-pack), as upstream's NodeResourcesFit scoring strategy.
    #[arg(long, default_value = "LeastAllocated")]
    pub scheduler_score_strategy: String,
    /// Seconds between storage compactions (history older than the previous run is dropped).
    #[arg(long, default_value_t = 300)]
    pub compaction_interval: u64,
    /// How long Events are kept after their last activity, as a duration (`1h`, `30s`,
    /// `1h30m`), upstream's `--event-ttl`.
    #[arg(long, default_value = "1h", value_parser = parse_duration)]
    pub event_ttl: std::time::Duration,
}

/// Parses a Go-style duration: decimal numbers with units `ns`, `us`/`µs`, `ms`, `s`, `m`, `h`,
/// concatenated (`1h30m`, `1.5s`, `500ms`); a bare `0` is zero.
pub fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    let t = text.trim();
    if t == "0" {
        return Ok(std::time::Duration::ZERO);
    }
    let err = || format!("invalid duration {text:?}: expected e.g. 1h, 30s, 1h30m, 500ms");
    let mut rest = t;
    let mut total = 0f64;
    if rest.is_empty() {
        return Err(err());
    }
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(err)?;
        let value: f64 = rest[..num_len].parse().map_err(|_| err())?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let seconds = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return Err(err()),
        };
        total += value * seconds;
        rest = &rest[unit_len..];
    }
    std::time::Duration::try_from_secs_f64(total).map_err(|_| err())
}

/// The real node agent's flags (k3s's names).
#[derive(Debug, Clone, Args)]
pub struct NodeArgs {
    /// The Node's name (default: this machine's host name).
    #[arg(long)]
    pub node_name: Option<String>,
    /// The Node's InternalIP (default: the advertise address, or the first non-loopback IPv4).
    #[arg(long)]
    pub node_ip: Option<std::net::Ipv4Addr>,
    /// Name of the pod network's bridge.
    #[arg(long, default_value = "krust0")]
    pub cni_bridge: String,
    /// Pods this node runs at most (its `pods` capacity).
    #[arg(long, default_value_t = 110)]
    pub max_pods: u32,
    /// Use this running CRI runtime (`unix:///run/containerd/containerd.sock`) instead of
    /// starting containerd.
    #[arg(long)]
    pub container_runtime_endpoint: Option<String>,
    /// Registries image pulls may reach, in k3s's `registries.yaml` format (mirrors, auth,
    /// TLS); without the file the node is air-gapped.
    #[arg(long, default_value = krust_kubelet::registries::DEFAULT_PATH)]
    pub private_registry: PathBuf,
    /// Port of the kubelet's HTTPS server (logs, exec, attach and port-forward, for the API
    /// server); upstream's 10250.
    #[arg(long, default_value_t = 10250)]
    pub kubelet_port: u16,
    /// The resolv.conf whose nameservers the cluster DNS forwards other names to, and which
    /// `dnsPolicy: Default` pods get.
    #[arg(long, default_value = "/etc/resolv.conf")]
    pub resolv_conf: PathBuf,
    /// Port the ingress controller serves HTTP on (0: none).
    #[arg(long, default_value_t = 80)]
    pub ingress_http_port: u16,
    /// Port the ingress controller serves HTTPS on (0: none).
    #[arg(long, default_value_t = 443)]
    pub ingress_https_port: u16,
}

#[derive(Debug, Clone, Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct AgentArgs {
    #[command(subcommand)]
    pub action: Option<AgentAction>,
    /// The server to join, e.g. `https://10.0.0.1:6443`.
    #[arg(long, required = true)]
    pub server: Option<String>,
    #[command(flatten)]
    pub node: NodeArgs,
    /// Pod network (the agent adds an `unreachable` route for it).
    #[arg(long, default_value = "10.42.0.0/16")]
    pub cluster_cidr: String,
    /// Service network (the agent adds an `unreachable` route for it).
    #[arg(long, default_value = "10.43.0.0/16")]
    pub service_cidr: String,
    /// Cluster DNS Service IP (pods' nameserver).
    #[arg(long, default_value = "10.43.0.10")]
    pub cluster_dns: std::net::Ipv4Addr,
    /// Cluster DNS domain.
    #[arg(long, default_value = "cluster.local")]
    pub cluster_domain: String,
    /// The join token (`<server data-dir>/server/token`: `K10<CA hash>::server:<secret>`).
    #[arg(long)]
    pub token: Option<String>,
    /// A file holding the join token.
    #[arg(long, conflicts_with = "token")]
    pub token_file: Option<PathBuf>,
    /// Register N simulated nodes (no containers: pods bound to them are reported Running, as
    /// kwok does). A scale-testing tool; required in this build.
    #[arg(long, value_name = "N")]
    pub simulate_nodes: Option<usize>,
    /// Capacity (and allocatable) of each simulated node: `cpu=32,memory=256Gi,pods=110`, plus
    /// `ephemeral-storage=…` and extended resources (`example.com/gpu=8`).
    #[arg(long, default_value = "cpu=32,memory=256Gi,pods=110")]
    pub node_capacity: String,
    /// Simulated nodes are named `<prefix>-0`, `<prefix>-1`, …
    #[arg(long, default_value = "sim-node")]
    pub node_name_prefix: String,
    /// Range the simulated nodes' podCIDRs (one /24 each, by index) are carved from (8,192
    /// nodes by default). Refused when it overlaps an address, route or DNS server of this
    /// host; an `unreachable` route covers it while the agent runs.
    #[arg(long, default_value = "10.64.0.0/11")]
    pub simulated_pod_cidr: String,
    /// Where the agent's state lives (unused by simulated nodes).
    #[arg(long, default_value = "/var/lib/krust")]
    pub data_dir: PathBuf,
}

#[derive(Debug, Clone, Subcommand)]
pub enum AgentAction {
    /// Remove everything an agent (or a server's agent) on this machine left behind: containerd,
    /// its shims and containers, their mounts, the pods' tmpfs volumes, the `unreachable` routes
    /// and the pod network's bridge.
    Cleanup(AgentCleanupArgs),
}

#[derive(Debug, Clone, Args)]
pub struct AgentCleanupArgs {
    /// The data directory of the agent (or server) to clean up.
    #[arg(long, default_value = "/var/lib/krust")]
    pub data_dir: PathBuf,
    /// The pod network's bridge.
    #[arg(long, default_value = "krust0")]
    pub cni_bridge: String,
    /// The pod network whose `unreachable` route is removed.
    #[arg(long, default_value = "10.42.0.0/16")]
    pub cluster_cidr: String,
    /// The Service network whose `unreachable` route is removed.
    #[arg(long, default_value = "10.43.0.0/16")]
    pub service_cidr: String,
}

#[derive(Debug, Args)]
pub struct KubeconfigArgs {
    #[arg(long, default_value = "/var/lib/krust")]
    pub data_dir: PathBuf,
}

#[derive(Debug, Args)]
pub struct ImagesArgs {
    #[command(subcommand)]
    pub which: ImagesCommand,
}

#[derive(Debug, Subcommand)]
pub enum ImagesCommand {
    /// Import OCI or docker image archives (`.tar`, `.tar.gz`) into the node's containerd
    /// (namespace `k8s.io`, where pods find them).
    Import(ImagesImportArgs),
    /// List the images the node's containerd holds.
    List(ImagesListArgs),
}

/// Which containerd: the agent's, under `--data-dir`, unless an endpoint is given.
#[derive(Debug, Args)]
pub struct ImagesRuntimeArgs {
    /// The agent's data directory (its containerd socket is
    /// `<data-dir>/agent/containerd/containerd.sock`).
    #[arg(long, default_value = "/var/lib/krust")]
    pub data_dir: PathBuf,
    /// A containerd socket to use instead (`unix:///run/containerd/containerd.sock`).
    #[arg(long)]
    pub container_runtime_endpoint: Option<String>,
}

#[derive(Debug, Args)]
pub struct ImagesImportArgs {
    /// Image archives to import.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    #[command(flatten)]
    pub runtime: ImagesRuntimeArgs,
}

#[derive(Debug, Args)]
pub struct ImagesListArgs {
    /// Print image names only.
    #[arg(short, long)]
    pub quiet: bool,
    #[command(flatten)]
    pub runtime: ImagesRuntimeArgs,
}

#[derive(Debug, Args)]
pub struct BenchArgs {
    #[command(subcommand)]
    pub which: BenchCommand,
}

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// API server throughput and latency (create/get/list/watch) and storage write rate.
    Api(BenchApiArgs),
    /// Scheduling throughput and latency on simulated nodes (also at 100 and 1000 nodes).
    Scheduler(BenchSchedulerArgs),
    /// Real pod start latency (create -> Running/Ready) on this machine's node with containerd.
    Pods(BenchPodsArgs),
    /// Deployments to availability on simulated nodes: time until all are available, pod
    /// creations per second, per-Deployment time to available.
    Controllers(BenchControllersArgs),
    /// The service proxy: time to program an endpoint change into nftables at several
    /// Service counts (simulated endpoints; root).
    Services(BenchServicesArgs),
}

#[derive(Debug, Args)]
pub struct BenchServicesArgs {
    /// Service counts to measure at.
    #[arg(long, value_delimiter = ',', default_value = "10,1000")]
    pub services: Vec<usize>,
    /// Endpoints of each Service.
    #[arg(long, default_value_t = 10)]
    pub endpoints: usize,
    /// Endpoint changes programmed at each count.
    #[arg(long, default_value_t = 20)]
    pub changes: usize,
    /// The test image archives (`scripts/build-images.sh DIR`): with them, also measure
    /// traffic to an nginx pod directly, through its ClusterIP and through the ingress, on a
    /// node server of the benchmark's own.
    #[arg(long)]
    pub images: Option<PathBuf>,
    /// Concurrent clients of the traffic rounds.
    #[arg(long, default_value_t = 4)]
    pub clients: usize,
    /// Seconds per traffic round.
    #[arg(long, default_value_t = 2.0)]
    pub seconds: f64,
    /// Alternating rounds per kind of traffic.
    #[arg(long, default_value_t = 3)]
    pub rounds: usize,
    /// The krust binary to start as the server (default: this one).
    #[arg(long)]
    pub server_binary: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct BenchControllersArgs {
    /// Deployments created.
    #[arg(long, default_value_t = 50)]
    pub deployments: usize,
    /// Replicas of each Deployment.
    #[arg(long, default_value_t = 10)]
    pub replicas: i32,
    /// Simulated nodes.
    #[arg(long, default_value_t = 100)]
    pub nodes: usize,
    /// Concurrent Deployment creations.
    #[arg(long, default_value_t = 16)]
    pub concurrency: usize,
    /// Seconds to wait for all Deployments to be available.
    #[arg(long, default_value_t = 300)]
    pub timeout: u64,
    /// The krust binary to start as the server (default: this one).
    #[arg(long)]
    pub server_binary: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct BenchPodsArgs {
    /// Pods created at once.
    #[arg(long, default_value_t = 30)]
    pub pods: usize,
    /// The folder holding the image archives (from `scripts/build-images.sh DIR`).
    #[arg(long, default_value = "target/krust-images")]
    pub images: PathBuf,
    /// The krust binary to start as the server (default: this one).
    #[arg(long)]
    pub server_binary: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct BenchSchedulerArgs {
    /// Simulated nodes of the main run.
    #[arg(long, default_value_t = 5000)]
    pub nodes: usize,
    /// Pods created in bulk per run.
    #[arg(long, default_value_t = 10000)]
    pub pods: usize,
    /// Node counts of the extra runs (comma-separated; empty for none).
    #[arg(long, default_value = "100,1000", value_delimiter = ',')]
    pub also_nodes: Vec<usize>,
    /// Concurrent pod creations.
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    /// The krust binary to start as the server (default: this one).
    #[arg(long)]
    pub server_binary: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct BenchApiArgs {
    /// Operations per measurement.
    #[arg(long, default_value_t = 2000)]
    pub count: usize,
    /// Concurrency levels, comma-separated.
    #[arg(long, default_value = "1,8,64", value_delimiter = ',')]
    pub concurrency: Vec<usize>,
    /// The krust binary to start as the server (default: this one).
    #[arg(long)]
    pub server_binary: Option<PathBuf>,
}

#[cfg(test)]
mod tests {
    use super::parse_duration;
    use std::time::Duration;

    #[test]
    fn go_durations() {
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        for bad in ["", "5", "h", "5x", "-1s", "1h-"] {
            assert!(parse_duration(bad).is_err(), "{bad:?}");
        }
    }
}
