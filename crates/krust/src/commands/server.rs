//! `krust server`: storage, certificates, the API server on HTTPS, the admin kubeconfig, and
//! periodic storage compaction, until SIGTERM or SIGINT.

use super::kubeconfig::admin_kubeconfig_path;
use crate::cli::ServerArgs;
use crate::kubeconfig::{admin_kubeconfig, write_kubeconfig};
use crate::pki::{ClusterPki, ServingNames};
use anyhow::{Context, bail};
use krust_apiserver::allocator::Ipv4Net;
use krust_apiserver::watch_cache::CacheConfig;
use krust_apiserver::{ApiServer, Config};
use krust_store::Backend;
use krust_store::sqlite::SqliteBackend;
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// Opens the datastore named by `--datastore-endpoint`.
pub fn open_datastore(endpoint: &str) -> anyhow::Result<Arc<dyn Backend>> {
    if endpoint.starts_with("sqlite://") {
        let b = SqliteBackend::from_endpoint(endpoint)
            .with_context(|| format!("opening datastore {endpoint}"))?;
        Ok(Arc::new(b))
    } else if endpoint.starts_with("etcd://") || endpoint.starts_with("http") {
        bail!("the etcd datastore is not supported by this build yet; use sqlite://PATH")
    } else {
        bail!("unknown datastore endpoint {endpoint:?}: expected sqlite://PATH")
    }
}

fn parse_port_range(s: &str) -> anyhow::Result<(u16, u16)> {
    let (a, b) = s
        .split_once('-')
        .with_context(|| format!("--service-node-port-range {s:?}: expected LOW-HIGH"))?;
    let (a, b): (u16, u16) = (a.trim().parse()?, b.trim().parse()?);
    if a > b {
        bail!("--service-node-port-range {s:?}: low end above high end");
    }
    Ok((a, b))
}

fn default_advertise_address() -> Ipv4Addr {
    crate::pki::primary_ipv4()
}

/// The join token (`K10<sha256 of the CA>::server:<secret>`, as k3s writes it): created once,
/// reused after. Returns the secret part, which authenticates agents as bearer token.
fn ensure_token(path: &Path, ca_pem: &str) -> anyhow::Result<String> {
    if let Ok(existing) = std::fs::read_to_string(path)
        && let Some((_, secret)) = existing.trim().rsplit_once("::server:")
    {
        return Ok(secret.to_string());
    }
    let mut b = [0u8; 24];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut b)
        .map_err(|_| anyhow::anyhow!("no randomness for the join token"))?;
    let secret: String = b.iter().map(|x| format!("{x:02x}")).collect();
    let digest = ring::digest::digest(&ring::digest::SHA256, ca_pem.as_bytes());
    let hash: String = digest.as_ref().iter().map(|x| format!("{x:02x}")).collect();
    write_kubeconfig(path, &format!("K10{hash}::server:{secret}\n"))
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(secret)
}

async fn compact_periodically(backend: Arc<dyn Backend>, every: Duration) {
    let mut previous = None;
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        let Ok(now) = backend.current_revision().await else {
            continue;
        };
        if let Some(prev) = previous {
            if let Err(e) = backend.compact(prev).await {
                tracing::warn!(error = %e, "storage compaction failed");
            } else {
                tracing::debug!(revision = prev, "storage compacted");
            }
        }
        previous = Some(now);
    }
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let term = signal(SignalKind::terminate());
    let int = signal(SignalKind::interrupt());
    match (term, int) {
        (Ok(mut t), Ok(mut i)) => {
            tokio::select! {
                _ = t.recv() => {},
                _ = i.recv() => {},
            }
        }
        _ => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

pub async fn run(args: ServerArgs) -> anyhow::Result<()> {
    let server_dir = args.data_dir.join("server");
    std::fs::create_dir_all(&server_dir)
        .with_context(|| format!("creating {}", server_dir.display()))?;
    let service_cidr = Ipv4Net::parse(&args.service_cidr)
        .with_context(|| format!("--service-cidr {:?} is not an IPv4 CIDR", args.service_cidr))?;
    Ipv4Net::parse(&args.cluster_cidr)
        .with_context(|| format!("--cluster-cidr {:?} is not an IPv4 CIDR", args.cluster_cidr))?;
    let own = [args.node.cni_bridge.as_str()];
    crate::host_network::refuse_host_overlap("--service-cidr", &args.service_cidr, &own)?;
    crate::host_network::refuse_host_overlap("--cluster-cidr", &args.cluster_cidr, &own)?;
    if args.simulate_nodes > 0 {
        crate::host_network::refuse_host_overlap(
            "--simulated-pod-cidr",
            &args.simulated_pod_cidr,
            &own,
        )?;
    }
    let node_port_range = parse_port_range(&args.service_node_port_range)?;
    let advertise = args
        .advertise_address
        .unwrap_or_else(default_advertise_address);

    let endpoint = args.datastore_endpoint.clone().unwrap_or_else(|| {
        format!(
            "sqlite://{}",
            server_dir.join("db").join("state.db").display()
        )
    });
    let backend = open_datastore(&endpoint)?;

    let mut names =
        ServingNames::gather_with_domain(IpAddr::V4(service_cidr.nth(1)), &args.cluster_domain);
    names.add_ip(IpAddr::V4(advertise));
    let pki = ClusterPki::load_or_create(&server_dir.join("tls"), &names)
        .context("preparing the cluster certificates")?;
    let tls = crate::tls::server_config(&pki).context("building the TLS configuration")?;

    let join_secret = ensure_token(&server_dir.join("token"), pki.ca_cert_pem())?;
    let config = Config {
        join_secret: Some(join_secret),
        ca_pem: Some(pki.ca_cert_pem().to_string()),
        service_account_key_pkcs8: Some(crate::service_account_key::load_or_create(
            &server_dir
                .join("tls")
                .join(crate::service_account_key::FILE_NAME),
        )?),
        service_cidr,
        node_port_range,
        cache: CacheConfig {
            window: args.watch_cache_size.max(1),
            ..CacheConfig::default()
        },
        advertise_address: advertise,
        https_port: args.https_port,
        kubelet_client: Some({
            let (cert_pem, key_pem) = crate::kubelet_tls::apiserver_client(&pki)?;
            krust_apiserver::KubeletClientConfig {
                cert_pem,
                key_pem,
                ca_pem: None,
            }
        }),
        extra_metrics: (!args.disable_agent)
            .then_some(krust_kubelet::metrics::encode as fn() -> String),
        ..Config::default()
    };
    let api = ApiServer::new(config, backend.clone())
        .await
        .map_err(|e| anyhow::anyhow!("starting the API server: {e}"))?;

    let bind: IpAddr = args
        .bind_address
        .parse()
        .with_context(|| format!("--bind-address {:?}", args.bind_address))?;
    let listener = tokio::net::TcpListener::bind((bind, args.https_port))
        .await
        .with_context(|| format!("listening on {bind}:{}", args.https_port))?;

    // Loopback when the server listens there (or everywhere), else the address it binds.
    let local = if bind.is_unspecified() || bind.is_loopback() {
        "127.0.0.1".to_string()
    } else {
        bind.to_string()
    };
    let url = format!("https://{local}:{}", args.https_port);
    let kubeconfig = admin_kubeconfig(
        &url,
        pki.ca_cert_pem(),
        pki.admin_cert_pem(),
        pki.admin_key_pem(),
    );
    write_kubeconfig(&admin_kubeconfig_path(&args.data_dir), &kubeconfig)?;
    write_kubeconfig(&args.write_kubeconfig, &kubeconfig)
        .with_context(|| format!("writing {}", args.write_kubeconfig.display()))?;

    let controller_client = crate::in_process::client(&api, "system:kube-controller-manager", &[]);
    // One leader-election identity per data directory: stable across restarts of this
    // server (which then take their Leases back at once), distinct between servers.
    let data_dir_id =
        std::fs::canonicalize(&args.data_dir).unwrap_or_else(|_| args.data_dir.clone());
    let digest = ring::digest::digest(
        &ring::digest::SHA256,
        data_dir_id.to_string_lossy().as_bytes(),
    );
    let hex: String = digest.as_ref()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let identity = format!(
        "{}_{hex}",
        crate::pki::hostname().unwrap_or_else(|| "krust".into())
    );
    let options = krust_controllers::ControllerOptions {
        event_ttl: args.event_ttl,
        identity: Some(identity.clone()),
        cluster_cidr: args.cluster_cidr.clone(),
        root_ca_pem: Some(pki.ca_cert_pem().to_string()),
        cluster_dns: Some(args.cluster_dns),
        lb_pool: krust_controllers::servicelb::parse_pool(&args.service_lb_pool)
            .map_err(|e| anyhow::anyhow!("--service-lb-pool {e}"))?,
        ..Default::default()
    };
    let started = krust_controllers::start(controller_client, &args.controllers, options);
    tracing::info!(controllers = ?started, "controllers started");
    if !args.disable_scheduler {
        let client = crate::in_process::client(&api, "system:kube-scheduler", &[]);
        let score_strategy = match args.scheduler_score_strategy.as_str() {
            "LeastAllocated" => krust_scheduler::ScoreStrategy::LeastAllocated,
            "MostAllocated" => krust_scheduler::ScoreStrategy::MostAllocated,
            other => bail!(
                "--scheduler-score-strategy {other:?}: expected LeastAllocated or MostAllocated"
            ),
        };
        let config = krust_scheduler::SchedulerConfig {
            score_strategy,
            ..Default::default()
        };
        tokio::spawn(
            krust_scheduler::Scheduler::new(client, config)
                .run_with_leader_election(identity.clone()),
        );
    }
    if args.simulate_nodes > 0 {
        let capacity = krust_kubelet::simulated::parse_capacity(&args.node_capacity)
            .map_err(|e| anyhow::anyhow!("--node-capacity: {e}"))?;
        let config = krust_kubelet::simulated::SimConfig {
            count: args.simulate_nodes,
            capacity,
            pod_cidr_base: args.simulated_pod_cidr.clone(),
            ..Default::default()
        };
        config.validate()?;
        // Packets to the simulated pods' addresses die here instead of leaving the host.
        crate::node_agent::add_simulated_route(&args.data_dir, &args.simulated_pod_cidr);
        let client = crate::in_process::client(&api, "system:krust-agent", &["system:nodes"]);
        tokio::spawn(krust_kubelet::simulated::SimulatedNodes::new(client, config).run());
        tracing::info!(nodes = args.simulate_nodes, "simulated nodes started");
    }
    let agent = if args.disable_agent {
        None
    } else {
        let node_name = args
            .node
            .node_name
            .clone()
            .unwrap_or_else(crate::node_agent::default_node_name);
        let client =
            crate::in_process::client(&api, &format!("system:node:{node_name}"), &["system:nodes"]);
        let node_ip = crate::node_agent::node_ip(args.node.node_ip.or(Some(advertise)));
        let kubelet_server = Some(crate::kubelet_tls::in_process_server(
            &pki,
            &node_name,
            node_ip,
            args.node.kubelet_port,
        )?);
        let opts = crate::node_agent::AgentOptions {
            kubelet_server,
            data_dir: args.data_dir.clone(),
            node_ip,
            node_name,
            cluster_dns: args.cluster_dns,
            cluster_domain: args.cluster_domain.clone(),
            cluster_cidr: args.cluster_cidr.clone(),
            service_cidr: args.service_cidr.clone(),
            cni_bridge: args.node.cni_bridge.clone(),
            max_pods: args.node.max_pods,
            ca_pem: pki.ca_cert_pem().to_string(),
            runtime_endpoint: args
                .node
                .container_runtime_endpoint
                .as_deref()
                .map(crate::node_agent::endpoint_path),
            private_registry: args.node.private_registry.clone(),
            resolv_conf: args.node.resolv_conf.clone(),
            ingress_ports: (args.node.ingress_http_port, args.node.ingress_https_port),
        };
        Some(crate::node_agent::RunningAgent::start(client, opts).await?)
    };
    tokio::spawn(compact_periodically(
        backend.clone(),
        Duration::from_secs(args.compaction_interval.max(1)),
    ));

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let serving = tokio::spawn(crate::serve::serve_https(
        listener,
        tls,
        api.clone(),
        stop_rx,
    ));
    tracing::info!(url = %url, kubeconfig = %args.write_kubeconfig.display(), datastore = %endpoint, "krust server is ready");
    shutdown_signal().await;
    tracing::info!("shutting down");
    if let Some(agent) = agent {
        agent.stop().await;
    }
    let _ = stop_tx.send(true);
    let _ = serving.await;
    if args.simulate_nodes > 0 {
        crate::node_agent::remove_simulated_route(&args.data_dir);
    }
    Ok(())
}
