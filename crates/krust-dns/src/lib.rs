//! The cluster DNS of a node agent (hickory-dns): a DNS server on UDP and TCP that answers the
//! cluster zone from the Services, EndpointSlices and Namespaces it watches (shared informers
//! of `krust-client`; [`zone`]) and forwards other names to the node's upstream resolvers with
//! a cache ([`forward`]). The `kube-dns` Service sends pods' queries here.

pub mod forward;
pub mod handler;
pub mod zone;

use hickory_server::Server;
use k8s_openapi::api::core::v1::{Namespace, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use krust_client::runtime::Informers;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::sync::Notify;

/// What the DNS server serves.
#[derive(Debug, Clone)]
pub struct DnsConfig {
    /// Where it listens (UDP and TCP).
    pub listen: SocketAddr,
    /// The cluster domain (`cluster.local`).
    pub domain: String,
    /// The cluster DNS Service IP (`--cluster-dns`), the address of `ns.dns.<domain>`.
    pub cluster_dns: Option<IpAddr>,
    /// Where other names go (the nameservers of the node's resolv.conf).
    pub upstreams: Vec<SocketAddr>,
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum DnsError {
    #[error("binding {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// A bound DNS server, serving once [`ClusterDns::run`] is awaited.
pub struct ClusterDns {
    udp: tokio::net::UdpSocket,
    tcp: tokio::net::TcpListener,
    config: DnsConfig,
}

impl ClusterDns {
    /// Binds the UDP socket and TCP listener.
    pub async fn bind(config: DnsConfig) -> Result<ClusterDns, DnsError> {
        let addr = config.listen;
        let err = |source| DnsError::Bind { addr, source };
        let udp = tokio::net::UdpSocket::bind(addr).await.map_err(err)?;
        let tcp = tokio::net::TcpListener::bind(addr).await.map_err(err)?;
        Ok(ClusterDns { udp, tcp, config })
    }

    /// The UDP address it answers at.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.udp.local_addr().ok()
    }

    /// Serves until the future is dropped.
    pub async fn run(self, client: kube::Client) {
        let informers = Informers::new(client);
        let services = informers.get::<Service>();
        let slices = informers.get::<EndpointSlice>();
        let namespaces = informers.get::<Namespace>();
        let zone: handler::SharedZone = Arc::new(RwLock::new(Arc::new(zone::Zone::empty(
            &self.config.domain,
            self.config.cluster_dns,
        ))));
        let forwarder = forward::Forwarder::new(&self.config.upstreams);
        if forwarder.is_none() {
            tracing::warn!("cluster DNS: no upstream resolvers; names outside the cluster fail");
        }
        let mut server = Server::new(handler::ClusterDnsHandler::new(zone.clone(), forwarder));
        server.register_socket(self.udp);
        server.register_listener(self.tcp, Duration::from_secs(10), 64);
        let changed = Arc::new(Notify::new());
        {
            let c = changed.clone();
            services.add_handler(move |_| c.notify_one());
            let c = changed.clone();
            slices.add_handler(move |_| c.notify_one());
            let c = changed.clone();
            namespaces.add_handler(move |_| c.notify_one());
        }
        tracing::info!(listen = %self.config.listen, domain = %self.config.domain, "cluster DNS serving");
        let updater = async {
            services.wait_synced().await;
            slices.wait_synced().await;
            namespaces.wait_synced().await;
            let mut serial: u32 = 0;
            loop {
                // Let a burst of changes settle into one rebuild.
                tokio::time::sleep(Duration::from_millis(10)).await;
                serial = serial.wrapping_add(1);
                let built = zone::Zone::build(
                    &self.config.domain,
                    self.config.cluster_dns,
                    serial,
                    &services.list_all(),
                    &slices.list_all(),
                    &namespaces.list_all(),
                );
                match zone.write() {
                    Ok(mut z) => *z = Arc::new(built),
                    Err(poisoned) => *poisoned.into_inner() = Arc::new(built),
                }
                let _ = tokio::time::timeout(Duration::from_secs(60), changed.notified()).await;
            }
        };
        tokio::select! {
            () = updater => {}
            r = server.block_until_done() => {
                if let Err(e) = r {
                    tracing::warn!(error = %e, "cluster DNS stopped");
                }
            }
        }
    }
}
