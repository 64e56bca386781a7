//! The controller manager of krust: controllers that run inside `krust server` as ordinary API
//! clients (kube-rs over an in-process transport, as `system:kube-controller-manager`), one
//! module per controller, enabled and disabled with upstream's `--controllers` syntax. They run
//! only while this server holds the `kube-system/kube-controller-manager` Lease ([`leader`]),
//! and record core/v1 Events through the shared, correlating [`events::EventRecorder`].

pub mod clusterdns;
pub mod deployment;
pub mod disruption;
pub mod endpoints;
pub mod endpointslice;
pub mod endpointslice_mirroring;
pub mod event_ttl;
pub mod garbage_collector;
pub mod ingress_status;
pub mod namespace;
pub mod nodeipam;
pub mod replicaset;
pub mod root_ca_publisher;
pub mod service_pods;
pub mod serviceaccount;
pub mod servicelb;

pub use krust_client::{events, leader, runtime};

/// Every controller this build has, by its upstream name.
pub const CONTROLLERS: &[&str] = &[
    "garbagecollector",
    "namespace",
    "deployment",
    "replicaset",
    "replicationcontroller",
    "eventttl",
    "serviceaccount",
    "nodeipam",
    "disruption",
    "root-ca-cert-publisher",
    "endpoint",
    "endpointslice",
    "endpointslicemirroring",
    "service-lb-controller",
    "cluster-dns",
    "ingress-status",
];

/// Settings of the controller manager (the flags of upstream's kube-controller-manager and
/// kube-apiserver that krust's controllers honour).
#[derive(Clone, Debug)]
pub struct ControllerOptions {
    /// How long Events are kept after their last activity (`--event-ttl`, 1 h).
    pub event_ttl: std::time::Duration,
    /// Run only while holding the `kube-controller-manager` Lease (`--leader-elect`, on).
    pub leader_elect: bool,
    /// The pod network Nodes get their podCIDRs from (`--cluster-cidr`, 10.42.0.0/16).
    pub cluster_cidr: String,
    /// The leader-election identity (None: a new random one). A server passes one that is
    /// stable across its restarts, so a restarted server takes its own Lease back at once
    /// instead of waiting for it to expire.
    pub identity: Option<String>,
    /// The cluster CA (PEM) the root CA publisher puts in every namespace's
    /// `kube-root-ca.crt` (None: the publisher does not run).
    pub root_ca_pem: Option<String>,
    /// The cluster DNS Service IP (`--cluster-dns`) the `kube-dns` Service gets (None: the
    /// cluster DNS controller does not run).
    pub cluster_dns: Option<std::net::Ipv4Addr>,
    /// Addresses LoadBalancer Services get (`--service-lb-pool`; empty: the nodes').
    pub lb_pool: Vec<std::net::Ipv4Addr>,
}

impl Default for ControllerOptions {
    fn default() -> Self {
        ControllerOptions {
            event_ttl: event_ttl::DEFAULT_TTL,
            leader_elect: true,
            cluster_cidr: "10.42.0.0/16".to_string(),
            identity: None,
            root_ca_pem: None,
            cluster_dns: None,
            lb_pool: Vec::new(),
        }
    }
}

/// Whether `name` is enabled by a `--controllers` value: a comma-separated list where `*`
/// enables every controller, `foo` enables foo, and `-foo` disables foo (upstream's syntax).
pub fn is_enabled(spec: &str, name: &str) -> bool {
    let items: Vec<&str> = spec
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    if items.iter().any(|i| *i == format!("-{name}")) {
        return false;
    }
    items.iter().any(|i| *i == name || *i == "*")
}

/// Starts every enabled controller on `client` (in the background, once this process leads
/// when `options.leader_elect`); returns their names.
pub fn start(client: kube::Client, spec: &str, options: ControllerOptions) -> Vec<&'static str> {
    let names: Vec<&'static str> = CONTROLLERS
        .iter()
        .copied()
        .filter(|name| is_enabled(spec, name))
        .collect();
    let started = names.clone();
    if options.leader_elect {
        let elector = leader::LeaderElector::new(
            client.clone(),
            leader::NAMESPACE,
            leader::CONTROLLER_MANAGER_LEASE,
            options
                .identity
                .clone()
                .unwrap_or_else(leader::new_identity),
        );
        tokio::spawn(elector.run(move || run(client.clone(), names.clone(), options.clone())));
    } else {
        tokio::spawn(run(client, names, options));
    }
    started
}

/// Runs the controllers `names` on `client` until they all end or the future is dropped
/// (which stops them all).
pub async fn run(client: kube::Client, names: Vec<&'static str>, options: ControllerOptions) {
    // Informers shared by the controllers that watch the same kinds.
    let informers = runtime::Informers::new(client.clone());
    let mut tasks = tokio::task::JoinSet::new();
    for name in names {
        let client = client.clone();
        match name {
            "garbagecollector" => {
                tasks.spawn(garbage_collector::GarbageCollector::new(client).run());
            }
            "namespace" => {
                tasks.spawn(namespace::NamespaceController::new(client).run());
            }
            "deployment" => {
                tasks.spawn(
                    deployment::DeploymentController::with_informers(client, informers.clone())
                        .run(),
                );
            }
            "replicaset" => {
                tasks.spawn(
                    replicaset::ReplicaSetController::<k8s_openapi::api::apps::v1::ReplicaSet>::with_informers(
                        client,
                        informers.clone(),
                    )
                    .run(),
                );
            }
            "replicationcontroller" => {
                tasks.spawn(
                    replicaset::ReplicationManager::with_informers(client, informers.clone()).run(),
                );
            }
            "serviceaccount" => {
                tasks.spawn(serviceaccount::ServiceAccountController::new(client).run());
            }
            "nodeipam" => {
                tasks.spawn(nodeipam::NodeIpamController::new(client, &options.cluster_cidr).run());
            }
            "disruption" => {
                tasks.spawn(disruption::DisruptionController::new(client).run());
            }
            "root-ca-cert-publisher" => match &options.root_ca_pem {
                Some(ca) => {
                    tasks.spawn(root_ca_publisher::RootCaPublisher::new(client, ca.clone()).run());
                }
                None => continue,
            },
            "endpoint" => {
                tasks.spawn(endpoints::EndpointsController::new(client).run());
            }
            "endpointslice" => {
                tasks.spawn(endpointslice::EndpointSliceController::new(client).run());
            }
            "endpointslicemirroring" => {
                tasks.spawn(
                    endpointslice_mirroring::EndpointSliceMirroringController::new(client).run(),
                );
            }
            "service-lb-controller" => {
                tasks.spawn(
                    servicelb::ServiceLbController::new(client)
                        .with_pool(options.lb_pool.clone())
                        .run(),
                );
            }
            "cluster-dns" => match options.cluster_dns {
                Some(ip) => {
                    tasks.spawn(clusterdns::ClusterDnsController::new(client, ip).run());
                }
                None => continue,
            },
            "ingress-status" => {
                tasks.spawn(ingress_status::IngressStatusController::new(client).run());
            }
            "eventttl" => {
                tasks.spawn(event_ttl::EventTtlController::new(client, options.event_ttl).run());
            }
            _ => continue,
        }
        tracing::debug!(controller = name, "controller started");
    }
    while tasks.join_next().await.is_some() {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controllers_flag() {
        assert!(is_enabled("*", "garbagecollector"));
        assert!(!is_enabled("*,-garbagecollector", "garbagecollector"));
        assert!(is_enabled("garbagecollector", "garbagecollector"));
        assert!(!is_enabled("deployment", "garbagecollector"));
        assert!(!is_enabled("", "garbagecollector"));
    }
}
