//! The Node object of a real node: registration (create, or adopt a Node of the same name),
//! the status upstream's kubelet reports (capacity and allocatable from the machine, addresses,
//! nodeInfo, images, the four conditions with upstream reasons and messages, daemon
//! endpoints), and the Lease in `kube-node-lease` renewed every 10 s.

use crate::machine::MachineInfo;
use k8s_cri::v1 as cri;
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::api::core::v1::{
    ContainerImage, DaemonEndpoint, Node, NodeAddress, NodeCondition, NodeDaemonEndpoints,
    NodeStatus, NodeSystemInfo,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta, OwnerReference, Time};
use k8s_openapi::jiff::Timestamp;
use kube::Client;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::json;
use std::collections::BTreeMap;
use std::net::Ipv4Addr;

/// Version reported as `kubeletVersion`.
pub const KUBELET_VERSION: &str = "v1.33.0+krust";
/// Port reported in `daemonEndpoints`.
pub const KUBELET_PORT: i32 = 10250;
/// Namespace of node Leases.
pub const LEASE_NAMESPACE: &str = "kube-node-lease";
/// Lease duration (upstream's 40 s).
pub const LEASE_DURATION_SECONDS: i32 = 40;
/// Hard eviction threshold of memory (upstream's `memory.available<100Mi`).
pub const EVICTION_MEMORY: u64 = 100 << 20;
/// Images reported in the node status at most.
pub const MAX_IMAGES: usize = 50;
/// Names reported per image at most.
pub const MAX_NAMES_PER_IMAGE: usize = 5;

/// Everything the node status is built from.
#[derive(Debug, Clone, Default)]
pub struct NodeFacts {
    pub name: String,
    pub node_ip: Option<Ipv4Addr>,
    pub max_pods: u32,
    pub machine: MachineInfo,
    /// `containerd://1.6.20`.
    pub runtime_version: String,
    pub images: Vec<ContainerImage>,
    /// Why the runtime is not ready (None when it is).
    pub runtime_problem: Option<String>,
    /// Why the pod network is not ready (None when it is).
    pub network_problem: Option<String>,
    pub memory_available: Option<u64>,
    /// (size, available) of the agent directory's filesystem.
    pub disk: Option<(u64, u64)>,
    /// Port of the kubelet server in `daemonEndpoints` (0: [`KUBELET_PORT`]). [streaming hook]
    pub kubelet_port: i32,
}

/// A byte count as upstream formats memory (`NKi` when a whole number of KiB).
pub fn bytes_quantity(bytes: u64) -> Quantity {
    if bytes > 0 && bytes.is_multiple_of(1024) {
        Quantity(format!("{}Ki", bytes / 1024))
    } else {
        Quantity(bytes.to_string())
    }
}

/// The images of a CRI `ListImages` answer as the node status lists them: largest first, at
/// most 50, each with its digests then tags (at most 5 names).
pub fn node_images(images: &[cri::Image]) -> Vec<ContainerImage> {
    let mut out: Vec<ContainerImage> = images
        .iter()
        .filter_map(|i| {
            let mut names: Vec<String> = i
                .repo_digests
                .iter()
                .chain(i.repo_tags.iter())
                .cloned()
                .collect();
            if names.is_empty() {
                return None;
            }
            names.truncate(MAX_NAMES_PER_IMAGE);
            Some(ContainerImage {
                names: Some(names),
                size_bytes: Some(i.size as i64),
            })
        })
        .collect();
    out.sort_by_key(|i| std::cmp::Reverse(i.size_bytes));
    out.truncate(MAX_IMAGES);
    out
}

/// Labels of the node (upstream's defaults).
pub fn node_labels(name: &str, arch: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("kubernetes.io/hostname".to_string(), name.to_string()),
        ("kubernetes.io/os".to_string(), "linux".to_string()),
        ("kubernetes.io/arch".to_string(), arch.to_string()),
        ("beta.kubernetes.io/os".to_string(), "linux".to_string()),
        ("beta.kubernetes.io/arch".to_string(), arch.to_string()),
    ])
}

/// The Node to create.
pub fn new_node(facts: &NodeFacts) -> Node {
    Node {
        metadata: ObjectMeta {
            name: Some(facts.name.clone()),
            labels: Some(node_labels(&facts.name, &facts.machine.architecture)),
            annotations: Some(BTreeMap::from([
                ("node.alpha.kubernetes.io/ttl".to_string(), "0".to_string()),
                (
                    "volumes.kubernetes.io/controller-managed-attach-detach".to_string(),
                    "true".to_string(),
                ),
            ])),
            ..Default::default()
        },
        ..Default::default()
    }
}

fn condition(
    type_: &str,
    status: bool,
    reason: &str,
    message: &str,
    old: Option<&NodeStatus>,
    now: Timestamp,
) -> NodeCondition {
    let status = if status { "True" } else { "False" }.to_string();
    let transition = old
        .and_then(|o| o.conditions.as_ref())
        .and_then(|cs| cs.iter().find(|c| c.type_ == type_))
        .filter(|c| c.status == status)
        .and_then(|c| c.last_transition_time.clone())
        .unwrap_or(Time(now));
    NodeCondition {
        type_: type_.to_string(),
        status,
        reason: Some(reason.to_string()),
        message: Some(message.to_string()),
        last_heartbeat_time: Some(Time(now)),
        last_transition_time: Some(transition),
    }
}

/// The node's status as of `now` (conditions keep their transition times from `old`).
pub fn node_status(facts: &NodeFacts, old: Option<&NodeStatus>, now: Timestamp) -> NodeStatus {
    let m = &facts.machine;
    let mut capacity = BTreeMap::new();
    capacity.insert("cpu".to_string(), Quantity(m.cpus.to_string()));
    capacity.insert("memory".to_string(), bytes_quantity(m.memory_bytes));
    capacity.insert(
        "ephemeral-storage".to_string(),
        bytes_quantity(m.ephemeral_storage_bytes),
    );
    capacity.insert("pods".to_string(), Quantity(facts.max_pods.to_string()));
    capacity.insert("hugepages-1Gi".to_string(), Quantity("0".into()));
    capacity.insert("hugepages-2Mi".to_string(), Quantity("0".into()));
    let mut allocatable = capacity.clone();
    allocatable.insert(
        "memory".to_string(),
        bytes_quantity(m.memory_bytes.saturating_sub(EVICTION_MEMORY)),
    );
    allocatable.insert(
        "ephemeral-storage".to_string(),
        bytes_quantity(m.ephemeral_storage_bytes - m.ephemeral_storage_bytes / 10),
    );

    let memory_pressure = facts.memory_available.is_some_and(|a| a < EVICTION_MEMORY);
    let disk_pressure = facts
        .disk
        .is_some_and(|(size, avail)| size > 0 && avail < size / 10);
    let mut conditions = vec![
        if memory_pressure {
            condition(
                "MemoryPressure",
                true,
                "KubeletHasInsufficientMemory",
                "kubelet has insufficient memory available",
                old,
                now,
            )
        } else {
            condition(
                "MemoryPressure",
                false,
                "KubeletHasSufficientMemory",
                "kubelet has sufficient memory available",
                old,
                now,
            )
        },
        if disk_pressure {
            condition(
                "DiskPressure",
                true,
                "KubeletHasDiskPressure",
                "kubelet has disk pressure",
                old,
                now,
            )
        } else {
            condition(
                "DiskPressure",
                false,
                "KubeletHasNoDiskPressure",
                "kubelet has no disk pressure",
                old,
                now,
            )
        },
        condition(
            "PIDPressure",
            false,
            "KubeletHasSufficientPID",
            "kubelet has sufficient PID available",
            old,
            now,
        ),
    ];
    let problems: Vec<String> = [&facts.runtime_problem, &facts.network_problem]
        .into_iter()
        .flatten()
        .cloned()
        .collect();
    conditions.push(if problems.is_empty() {
        condition(
            "Ready",
            true,
            "KubeletReady",
            "kubelet is posting ready status",
            old,
            now,
        )
    } else {
        condition(
            "Ready",
            false,
            "KubeletNotReady",
            &problems.join(", "),
            old,
            now,
        )
    });

    let mut addresses = Vec::new();
    if let Some(ip) = facts.node_ip {
        addresses.push(NodeAddress {
            type_: "InternalIP".into(),
            address: ip.to_string(),
        });
    }
    addresses.push(NodeAddress {
        type_: "Hostname".into(),
        address: if m.hostname.is_empty() {
            facts.name.clone()
        } else {
            m.hostname.clone()
        },
    });
    NodeStatus {
        capacity: Some(capacity),
        allocatable: Some(allocatable),
        conditions: Some(conditions),
        addresses: Some(addresses),
        daemon_endpoints: Some(NodeDaemonEndpoints {
            kubelet_endpoint: Some(DaemonEndpoint {
                port: if facts.kubelet_port > 0 {
                    facts.kubelet_port
                } else {
                    KUBELET_PORT
                },
            }),
        }),
        node_info: Some(NodeSystemInfo {
            architecture: m.architecture.clone(),
            boot_id: m.boot_id.clone(),
            container_runtime_version: facts.runtime_version.clone(),
            kernel_version: m.kernel_version.clone(),
            kube_proxy_version: String::new(),
            kubelet_version: KUBELET_VERSION.to_string(),
            machine_id: m.machine_id.clone(),
            operating_system: "linux".to_string(),
            os_image: m.os_image.clone(),
            system_uuid: m.system_uuid.clone(),
            ..Default::default()
        }),
        images: Some(facts.images.clone()),
        ..Default::default()
    }
}

/// Whether two statuses differ in more than heartbeat times.
pub fn status_changed(a: &NodeStatus, b: &NodeStatus) -> bool {
    let strip = |s: &NodeStatus| {
        let mut s = s.clone();
        for c in s.conditions.iter_mut().flatten() {
            c.last_heartbeat_time = None;
        }
        s
    };
    strip(a) != strip(b)
}

/// Creates the Node, or adopts an existing one of the same name (its labels are topped up
/// with the defaults). Returns the Node as stored.
pub async fn register(client: &Client, facts: &NodeFacts) -> Result<Node, kube::Error> {
    let api: Api<Node> = Api::all(client.clone());
    match api.create(&PostParams::default(), &new_node(facts)).await {
        Ok(n) => {
            tracing::info!(node = %facts.name, "node registered");
            Ok(n)
        }
        Err(kube::Error::Api(e)) if e.code == 409 => {
            let labels = node_labels(&facts.name, &facts.machine.architecture);
            let patch = json!({"metadata": {"labels": labels}});
            let n = api
                .patch(&facts.name, &PatchParams::default(), &Patch::Merge(&patch))
                .await?;
            tracing::info!(node = %facts.name, "node already registered: adopted");
            Ok(n)
        }
        Err(e) => Err(e),
    }
}

/// Writes the node's status; returns the Node as stored.
pub async fn write_status(
    client: &Client,
    name: &str,
    status: &NodeStatus,
) -> Result<Node, kube::Error> {
    let api: Api<Node> = Api::all(client.clone());
    let patch = json!({ "status": status });
    api.patch_status(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
}

/// Creates or renews the node's Lease.
pub async fn renew_lease(client: &Client, name: &str, node_uid: &str) -> Result<(), kube::Error> {
    let api: Api<Lease> = Api::namespaced(client.clone(), LEASE_NAMESPACE);
    let now = MicroTime(Timestamp::now());
    let patch = json!({"spec": {
        "holderIdentity": name,
        "leaseDurationSeconds": LEASE_DURATION_SECONDS,
        "renewTime": now,
    }});
    match api
        .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
    {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(e)) if e.code == 404 => {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(name.to_string()),
                    namespace: Some(LEASE_NAMESPACE.to_string()),
                    owner_references: Some(vec![OwnerReference {
                        api_version: "v1".into(),
                        kind: "Node".into(),
                        name: name.to_string(),
                        uid: node_uid.to_string(),
                        ..Default::default()
                    }]),
                    ..Default::default()
                },
                spec: Some(LeaseSpec {
                    holder_identity: Some(name.to_string()),
                    lease_duration_seconds: Some(LEASE_DURATION_SECONDS),
                    renew_time: Some(now),
                    ..Default::default()
                }),
            };
            api.create(&PostParams::default(), &lease).await.map(|_| ())
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> NodeFacts {
        NodeFacts {
            name: "n1".into(),
            node_ip: Some(Ipv4Addr::new(192, 0, 2, 2)),
            max_pods: 110,
            machine: MachineInfo {
                cpus: 2,
                memory_bytes: 24_684_544 * 1024,
                ephemeral_storage_bytes: 100_000_000_000,
                kernel_version: "6.1.0".into(),
                os_image: "Debian GNU/Linux 12 (bookworm)".into(),
                architecture: "amd64".into(),
                hostname: "vm".into(),
                ..Default::default()
            },
            runtime_version: "containerd://1.6.20".into(),
            ..Default::default()
        }
    }

    #[test]
    fn status_like_upstream() {
        let now = Timestamp::from_second(1_700_000_000).unwrap();
        let st = node_status(&facts(), None, now);
        let cap = st.capacity.as_ref().unwrap();
        assert_eq!(cap["cpu"].0, "2");
        assert_eq!(cap["memory"].0, "24684544Ki");
        assert_eq!(cap["pods"].0, "110");
        let alloc = st.allocatable.as_ref().unwrap();
        assert_eq!(alloc["memory"].0, format!("{}Ki", 24_684_544 - 102_400));
        assert_eq!(alloc["ephemeral-storage"].0, "87890625Ki");
        let conds = st.conditions.as_ref().unwrap();
        let types: Vec<&str> = conds.iter().map(|c| c.type_.as_str()).collect();
        assert_eq!(
            types,
            ["MemoryPressure", "DiskPressure", "PIDPressure", "Ready"]
        );
        assert_eq!(conds[3].reason.as_deref(), Some("KubeletReady"));
        assert_eq!(
            conds[3].message.as_deref(),
            Some("kubelet is posting ready status")
        );
        assert_eq!(
            conds[0].reason.as_deref(),
            Some("KubeletHasSufficientMemory")
        );
        let info = st.node_info.as_ref().unwrap();
        assert_eq!(info.kubelet_version, KUBELET_VERSION);
        assert_eq!(info.container_runtime_version, "containerd://1.6.20");
        let addrs = st.addresses.as_ref().unwrap();
        assert_eq!(addrs[0].type_, "InternalIP");
        assert_eq!(addrs[1].address, "vm");

        // Transition times survive a refresh; heartbeats do not count as a change.
        let later = Timestamp::from_second(1_700_000_060).unwrap();
        let st2 = node_status(&facts(), Some(&st), later);
        assert!(!status_changed(&st, &st2));
        assert_eq!(
            st2.conditions.as_ref().unwrap()[3].last_transition_time,
            Some(Time(now))
        );
        let mut f = facts();
        f.network_problem = Some("container runtime network not ready".into());
        let st3 = node_status(&f, Some(&st2), later);
        assert!(status_changed(&st2, &st3));
        let ready = &st3.conditions.as_ref().unwrap()[3];
        assert_eq!(ready.status, "False");
        assert_eq!(ready.reason.as_deref(), Some("KubeletNotReady"));
        assert_eq!(ready.last_transition_time, Some(Time(later)));
    }

    #[test]
    fn images_largest_first() {
        let imgs = vec![
            cri::Image {
                id: "sha256:1".into(),
                repo_tags: vec!["docker.io/library/busybox:1.36".into()],
                size: 10,
                ..Default::default()
            },
            cri::Image {
                id: "sha256:2".into(),
                repo_tags: vec!["docker.io/library/nginx:1.7.9".into()],
                repo_digests: vec!["docker.io/library/nginx@sha256:2".into()],
                size: 20,
                ..Default::default()
            },
            cri::Image {
                id: "sha256:3".into(),
                size: 30,
                ..Default::default()
            },
        ];
        let out = node_images(&imgs);
        assert_eq!(out.len(), 2);
        assert_eq!(
            out[0].names.as_ref().unwrap()[0],
            "docker.io/library/nginx@sha256:2"
        );
        assert_eq!(out[1].size_bytes, Some(10));
        assert_eq!(bytes_quantity(2048).0, "2Ki");
        assert_eq!(bytes_quantity(1000).0, "1000");
    }
}
