//! The API objects a simulated node writes: its Node (labels, podCIDR, status with capacity,
//! conditions, addresses, nodeInfo), its Lease, and the status of a pod it "runs". Pure
//! functions of their inputs and the current time, so they are tested without a server.

use super::NodeCapacity;
use super::ipam::Ipv4Cidr;
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::api::core::v1::{
    ContainerState, ContainerStateRunning, ContainerStateTerminated, ContainerStatus,
    DaemonEndpoint, HostIP, Node, NodeAddress, NodeCondition, NodeDaemonEndpoints, NodeSpec,
    NodeStatus, NodeSystemInfo, Pod, PodCondition, PodIP, PodStatus,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta, OwnerReference, Time};
use k8s_openapi::jiff::Timestamp;
use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::net::Ipv4Addr;

/// Label set on every simulated node.
pub const SIMULATED_LABEL: &str = "krust.io/simulated";
/// What a simulated node reports as its kubelet version.
pub const KUBELET_VERSION: &str = "v1.33.0-krust";
/// What a simulated node reports as its container runtime.
pub const RUNTIME_VERSION: &str = "krust-sim://0.1";
/// The scheme of the container IDs of simulated containers.
const CONTAINER_ID_SCHEME: &str = "krust-sim";
/// The kubelet port reported in `status.daemonEndpoints` (nothing listens there).
const KUBELET_PORT: i32 = 10250;

/// What identifies one simulated node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NodeIdentity {
    pub name: String,
    pub address: Ipv4Addr,
    pub pod_cidr: Ipv4Cidr,
}

/// The labels of a simulated node (upstream's well-known node labels plus the simulated mark).
pub(crate) fn node_labels(name: &str) -> BTreeMap<String, String> {
    [
        ("kubernetes.io/hostname", name),
        ("kubernetes.io/os", "linux"),
        ("kubernetes.io/arch", "amd64"),
        ("beta.kubernetes.io/os", "linux"),
        ("beta.kubernetes.io/arch", "amd64"),
        (SIMULATED_LABEL, "true"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// The Node to create for `id`, status included (as the kubelet registers it).
pub(crate) fn new_node(id: &NodeIdentity, capacity: &NodeCapacity, now: Timestamp) -> Node {
    let cidr = id.pod_cidr.to_string();
    Node {
        metadata: ObjectMeta {
            name: Some(id.name.clone()),
            labels: Some(node_labels(&id.name)),
            annotations: Some(
                [
                    ("node.alpha.kubernetes.io/ttl", "0"),
                    (
                        "volumes.kubernetes.io/controller-managed-attach-detach",
                        "true",
                    ),
                ]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ),
            ..ObjectMeta::default()
        },
        spec: Some(NodeSpec {
            pod_cidr: Some(cidr.clone()),
            pod_cidrs: Some(vec![cidr]),
            ..NodeSpec::default()
        }),
        status: Some(node_status(id, capacity, now, now)),
    }
}

fn condition(
    type_: &str,
    status: &str,
    reason: &str,
    message: &str,
    since: Timestamp,
    now: Timestamp,
) -> NodeCondition {
    NodeCondition {
        type_: type_.into(),
        status: status.into(),
        reason: Some(reason.into()),
        message: Some(message.into()),
        last_heartbeat_time: Some(Time(now)),
        last_transition_time: Some(Time(since)),
    }
}

/// A hex string derived from `parts` (stable across runs): fake IDs and digests.
fn fake_hex(parts: &[&str], len: usize) -> String {
    let mut out = String::with_capacity(len + 16);
    let mut round = 0u64;
    while out.len() < len {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        round.hash(&mut h);
        parts.hash(&mut h);
        out.push_str(&format!("{:016x}", h.finish()));
        round += 1;
    }
    out.truncate(len);
    out
}

/// A UUID-shaped fake ID derived from `parts`.
fn fake_uuid(parts: &[&str]) -> String {
    let h = fake_hex(parts, 32);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// The node's status: capacity and allocatable (equal: nothing is reserved), the four
/// conditions with upstream reasons (Ready since `ready_since`, heartbeat `now`), addresses,
/// daemon endpoints and nodeInfo.
pub(crate) fn node_status(
    id: &NodeIdentity,
    capacity: &NodeCapacity,
    ready_since: Timestamp,
    now: Timestamp,
) -> NodeStatus {
    let resources: BTreeMap<String, Quantity> = capacity
        .resources()
        .into_iter()
        .map(|(k, v)| (k, Quantity(v)))
        .collect();
    NodeStatus {
        capacity: Some(resources.clone()),
        allocatable: Some(resources),
        conditions: Some(vec![
            condition(
                "MemoryPressure",
                "False",
                "KubeletHasSufficientMemory",
                "kubelet has sufficient memory available",
                ready_since,
                now,
            ),
            condition(
                "DiskPressure",
                "False",
                "KubeletHasNoDiskPressure",
                "kubelet has no disk pressure",
                ready_since,
                now,
            ),
            condition(
                "PIDPressure",
                "False",
                "KubeletHasSufficientPID",
                "kubelet has sufficient PID available",
                ready_since,
                now,
            ),
            condition(
                "Ready",
                "True",
                "KubeletReady",
                "kubelet is posting ready status",
                ready_since,
                now,
            ),
        ]),
        addresses: Some(vec![
            NodeAddress {
                type_: "InternalIP".into(),
                address: id.address.to_string(),
            },
            NodeAddress {
                type_: "Hostname".into(),
                address: id.name.clone(),
            },
        ]),
        daemon_endpoints: Some(NodeDaemonEndpoints {
            kubelet_endpoint: Some(DaemonEndpoint { port: KUBELET_PORT }),
        }),
        node_info: Some(NodeSystemInfo {
            architecture: "amd64".into(),
            operating_system: "linux".into(),
            os_image: "krust simulated node".into(),
            kernel_version: "6.1.0-krust-sim".into(),
            container_runtime_version: RUNTIME_VERSION.into(),
            kubelet_version: KUBELET_VERSION.into(),
            kube_proxy_version: String::new(),
            boot_id: fake_uuid(&["boot", &id.name]),
            machine_id: fake_hex(&["machine", &id.name], 32),
            system_uuid: fake_uuid(&["system", &id.name]),
            swap: None,
        }),
        ..NodeStatus::default()
    }
}

/// The node's Lease in `kube-node-lease`, owned by the Node (so it goes when the Node goes).
pub(crate) fn node_lease(
    name: &str,
    node_uid: Option<&str>,
    duration_seconds: i32,
    now: Timestamp,
) -> Lease {
    Lease {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            namespace: Some(super::LEASE_NAMESPACE.to_string()),
            owner_references: node_uid.map(|uid| {
                vec![OwnerReference {
                    api_version: "v1".into(),
                    kind: "Node".into(),
                    name: name.to_string(),
                    uid: uid.to_string(),
                    ..OwnerReference::default()
                }]
            }),
            ..ObjectMeta::default()
        },
        spec: Some(LeaseSpec {
            holder_identity: Some(name.to_string()),
            lease_duration_seconds: Some(duration_seconds),
            renew_time: Some(MicroTime(now)),
            ..LeaseSpec::default()
        }),
    }
}

/// `nginx:1.7.9` → (`docker.io/library/nginx:1.7.9`, `docker.io/library/nginx`): the image
/// reference as a runtime reports it, and its repository.
fn normalize_image(image: &str) -> (String, String) {
    let image = image.trim();
    let (name, suffix) = match image.split_once('@') {
        Some((n, d)) => (n, format!("@{d}")),
        None => {
            // A tag is a ':' after the last '/'.
            let slash = image.rfind('/').map_or(0, |i| i + 1);
            match image[slash..].rfind(':') {
                Some(i) => (&image[..slash + i], format!(":{}", &image[slash + i + 1..])),
                None => (image, ":latest".to_string()),
            }
        }
    };
    let repo = match name.split_once('/') {
        None => format!("docker.io/library/{name}"),
        Some((first, _)) if first.contains('.') || first.contains(':') || first == "localhost" => {
            name.to_string()
        }
        Some(_) => format!("docker.io/{name}"),
    };
    (format!("{repo}{suffix}"), repo)
}

/// The status fields reported for a container image.
fn image_fields(image: &str) -> (String, String) {
    let (full, repo) = normalize_image(image);
    let id = format!("{repo}@sha256:{}", fake_hex(&["image", &full], 64));
    (full, id)
}

/// The pod condition types a running pod has, in upstream's order.
const RUNNING_CONDITIONS: &[&str] = &[
    "PodReadyToStartContainers",
    "Initialized",
    "Ready",
    "ContainersReady",
    "PodScheduled",
];

/// The status that makes `pod` Running and Ready on a node at `host_ip`, with pod address
/// `pod_ip` (the host's for hostNetwork pods). Conditions of other types are kept, and those
/// already True keep their transition time; `startTime` and `qosClass` are kept when set.
pub(crate) fn running_pod_status(
    pod: &Pod,
    host_ip: Ipv4Addr,
    pod_ip: Ipv4Addr,
    now: Timestamp,
) -> PodStatus {
    let old = pod.status.clone().unwrap_or_default();
    let old_conditions = old.conditions.clone().unwrap_or_default();
    let spec = pod.spec.clone().unwrap_or_default();
    let uid = pod.metadata.uid.clone().unwrap_or_default();
    let started = old.start_time.clone().unwrap_or(Time(now));

    // Readiness gates: Ready only once every gate's condition is True (upstream's rule).
    let unmet_gate = spec
        .readiness_gates
        .iter()
        .flatten()
        .map(|g| g.condition_type.clone())
        .find(|t| {
            !old_conditions
                .iter()
                .any(|c| &c.type_ == t && c.status == "True")
        });

    let mut conditions: Vec<PodCondition> = Vec::new();
    for type_ in RUNNING_CONDITIONS {
        let (status, reason, message) = match (&unmet_gate, *type_) {
            (Some(gate), "Ready") => (
                "False",
                Some("ReadinessGatesNotReady".to_string()),
                Some(format!(
                    "corresponding condition of pod readiness gate \"{gate}\" does not exist."
                )),
            ),
            _ => ("True", None, None),
        };
        let previous = old_conditions.iter().find(|c| c.type_ == *type_);
        let since = match previous {
            Some(c) if c.status == status => c.last_transition_time.clone().unwrap_or(Time(now)),
            _ => Time(now),
        };
        conditions.push(PodCondition {
            type_: (*type_).to_string(),
            status: status.to_string(),
            reason,
            message,
            last_transition_time: Some(since),
            last_probe_time: None,
            observed_generation: None,
        });
    }
    conditions.extend(
        old_conditions
            .into_iter()
            .filter(|c| !RUNNING_CONDITIONS.contains(&c.type_.as_str())),
    );

    let container_id = |name: &str| format!("{CONTAINER_ID_SCHEME}://{uid}-{name}");
    let container_statuses = spec
        .containers
        .iter()
        .map(|c| {
            let (image, image_id) = image_fields(c.image.as_deref().unwrap_or_default());
            ContainerStatus {
                name: c.name.clone(),
                image,
                image_id,
                container_id: Some(container_id(&c.name)),
                ready: true,
                started: Some(true),
                restart_count: 0,
                state: Some(ContainerState {
                    running: Some(ContainerStateRunning {
                        started_at: Some(Time(now)),
                    }),
                    ..ContainerState::default()
                }),
                ..ContainerStatus::default()
            }
        })
        .collect();
    let init_statuses: Vec<ContainerStatus> = spec
        .init_containers
        .iter()
        .flatten()
        .map(|c| {
            let (image, image_id) = image_fields(c.image.as_deref().unwrap_or_default());
            let sidecar = c.restart_policy.as_deref() == Some("Always");
            let state = if sidecar {
                ContainerState {
                    running: Some(ContainerStateRunning {
                        started_at: Some(Time(now)),
                    }),
                    ..ContainerState::default()
                }
            } else {
                ContainerState {
                    terminated: Some(ContainerStateTerminated {
                        exit_code: 0,
                        reason: Some("Completed".into()),
                        started_at: Some(Time(now)),
                        finished_at: Some(Time(now)),
                        container_id: Some(container_id(&c.name)),
                        ..ContainerStateTerminated::default()
                    }),
                    ..ContainerState::default()
                }
            };
            ContainerStatus {
                name: c.name.clone(),
                image,
                image_id,
                container_id: Some(container_id(&c.name)),
                ready: true,
                started: Some(sidecar),
                restart_count: 0,
                state: Some(state),
                ..ContainerStatus::default()
            }
        })
        .collect();

    PodStatus {
        phase: Some("Running".into()),
        conditions: Some(conditions),
        host_ip: Some(host_ip.to_string()),
        host_ips: Some(vec![HostIP {
            ip: host_ip.to_string(),
        }]),
        pod_ip: Some(pod_ip.to_string()),
        pod_ips: Some(vec![PodIP {
            ip: pod_ip.to_string(),
        }]),
        start_time: Some(started),
        container_statuses: Some(container_statuses),
        init_container_statuses: (!init_statuses.is_empty()).then_some(init_statuses),
        qos_class: old.qos_class,
        ..PodStatus::default()
    }
}

/// Whether `pod` is already running on the node at `host_ip` (as this simulator left it before
/// a restart): its address is then to be kept, not handed out again.
pub(crate) fn already_running_here(pod: &Pod, host_ip: Ipv4Addr) -> Option<Option<Ipv4Addr>> {
    let status = pod.status.as_ref()?;
    if status.phase.as_deref() != Some("Running") {
        return None;
    }
    if status.host_ip.as_deref()? != host_ip.to_string() {
        return None;
    }
    let all_reported = pod.spec.as_ref().is_some_and(|s| {
        status
            .container_statuses
            .as_ref()
            .is_some_and(|cs| cs.len() == s.containers.len())
    });
    if !all_reported {
        return None;
    }
    Some(status.pod_ip.as_deref().and_then(|ip| ip.parse().ok()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{Container, PodReadinessGate, PodSpec};

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn id() -> NodeIdentity {
        NodeIdentity {
            name: "sim-node-1".into(),
            address: Ipv4Addr::new(198, 18, 0, 2),
            pod_cidr: "10.128.1.0/24".parse().unwrap(),
        }
    }

    #[test]
    fn node_object() {
        let now = ts("2025-01-02T03:04:05Z");
        let node = new_node(&id(), &NodeCapacity::default(), now);
        let v = serde_json::to_value(&node).unwrap();
        assert_eq!(v["metadata"]["name"], "sim-node-1");
        assert_eq!(v["metadata"]["labels"]["krust.io/simulated"], "true");
        assert_eq!(
            v["metadata"]["labels"]["kubernetes.io/hostname"],
            "sim-node-1"
        );
        assert_eq!(v["metadata"]["labels"]["kubernetes.io/os"], "linux");
        assert_eq!(v["metadata"]["labels"]["kubernetes.io/arch"], "amd64");
        assert_eq!(v["spec"]["podCIDR"], "10.128.1.0/24");
        assert_eq!(v["spec"]["podCIDRs"][0], "10.128.1.0/24");
        let st = &v["status"];
        assert_eq!(st["capacity"]["cpu"], "32");
        assert_eq!(st["capacity"]["memory"], "256Gi");
        assert_eq!(st["capacity"]["pods"], "110");
        assert_eq!(st["capacity"]["ephemeral-storage"], "1Ti");
        assert_eq!(st["allocatable"], st["capacity"]);
        let conds = st["conditions"].as_array().unwrap();
        let ready = conds.iter().find(|c| c["type"] == "Ready").unwrap();
        assert_eq!(ready["status"], "True");
        assert_eq!(ready["reason"], "KubeletReady");
        assert_eq!(ready["message"], "kubelet is posting ready status");
        assert_eq!(ready["lastHeartbeatTime"], "2025-01-02T03:04:05Z");
        for (t, r) in [
            ("MemoryPressure", "KubeletHasSufficientMemory"),
            ("DiskPressure", "KubeletHasNoDiskPressure"),
            ("PIDPressure", "KubeletHasSufficientPID"),
        ] {
            let c = conds.iter().find(|c| c["type"] == t).unwrap();
            assert_eq!(c["status"], "False");
            assert_eq!(c["reason"], r);
        }
        assert_eq!(st["addresses"][0]["type"], "InternalIP");
        assert_eq!(st["addresses"][0]["address"], "198.18.0.2");
        assert_eq!(st["addresses"][1]["type"], "Hostname");
        assert_eq!(st["addresses"][1]["address"], "sim-node-1");
        assert_eq!(st["daemonEndpoints"]["kubeletEndpoint"]["Port"], 10250);
        let info = &st["nodeInfo"];
        assert_eq!(info["kubeletVersion"], "v1.33.0-krust");
        assert_eq!(info["containerRuntimeVersion"], "krust-sim://0.1");
        assert_eq!(info["operatingSystem"], "linux");
        assert_eq!(info["architecture"], "amd64");
        assert_eq!(info["systemUUID"].as_str().unwrap().len(), 36);
        assert_eq!(info["machineID"].as_str().unwrap().len(), 32);
    }

    #[test]
    fn status_refresh_keeps_transition_time() {
        let since = ts("2025-01-01T00:00:00Z");
        let now = ts("2025-01-01T00:05:00Z");
        let st = node_status(&id(), &NodeCapacity::default(), since, now);
        let ready = st
            .conditions
            .unwrap()
            .into_iter()
            .find(|c| c.type_ == "Ready")
            .unwrap();
        assert_eq!(ready.last_transition_time, Some(Time(since)));
        assert_eq!(ready.last_heartbeat_time, Some(Time(now)));
    }

    #[test]
    fn lease_object() {
        let now = ts("2025-01-02T03:04:05.123456Z");
        let v = serde_json::to_value(node_lease("sim-node-0", Some("u-1"), 40, now)).unwrap();
        assert_eq!(v["metadata"]["namespace"], "kube-node-lease");
        assert_eq!(v["metadata"]["ownerReferences"][0]["kind"], "Node");
        assert_eq!(v["metadata"]["ownerReferences"][0]["uid"], "u-1");
        assert_eq!(v["spec"]["holderIdentity"], "sim-node-0");
        assert_eq!(v["spec"]["leaseDurationSeconds"], 40);
        assert_eq!(v["spec"]["renewTime"], "2025-01-02T03:04:05.123456Z");
        let v = serde_json::to_value(node_lease("n", None, 40, now)).unwrap();
        assert!(v["metadata"].get("ownerReferences").is_none());
    }

    #[test]
    fn images_are_normalized() {
        assert_eq!(
            normalize_image("nginx:1.7.9"),
            (
                "docker.io/library/nginx:1.7.9".into(),
                "docker.io/library/nginx".into()
            )
        );
        assert_eq!(
            normalize_image("busybox").0,
            "docker.io/library/busybox:latest"
        );
        assert_eq!(
            normalize_image("bitnami/redis").0,
            "docker.io/bitnami/redis:latest"
        );
        assert_eq!(
            normalize_image("localhost:5000/app:v1"),
            ("localhost:5000/app:v1".into(), "localhost:5000/app".into())
        );
        assert_eq!(
            normalize_image("registry.k8s.io/pause@sha256:abc").0,
            "registry.k8s.io/pause@sha256:abc"
        );
        let (_, image_id) = image_fields("nginx:1.7.9");
        assert!(image_id.starts_with("docker.io/library/nginx@sha256:"));
        assert_eq!(image_id.len(), "docker.io/library/nginx@sha256:".len() + 64);
        assert_eq!(image_fields("nginx:1.7.9"), image_fields("nginx:1.7.9"));
    }

    fn pod(spec: PodSpec, status: Option<PodStatus>) -> Pod {
        Pod {
            metadata: ObjectMeta {
                name: Some("x".into()),
                namespace: Some("default".into()),
                uid: Some("uid-1".into()),
                ..ObjectMeta::default()
            },
            spec: Some(spec),
            status,
        }
    }

    fn container(name: &str, image: &str) -> Container {
        Container {
            name: name.into(),
            image: Some(image.into()),
            ..Container::default()
        }
    }

    #[test]
    fn running_status() {
        let scheduled_at = ts("2025-01-01T00:00:00Z");
        let now = ts("2025-01-01T00:00:02Z");
        let mut sidecar = container("proxy", "envoy:1");
        sidecar.restart_policy = Some("Always".into());
        let p = pod(
            PodSpec {
                containers: vec![container("app", "nginx:1.7.9"), container("log", "busybox")],
                init_containers: Some(vec![container("init", "busybox"), sidecar]),
                ..PodSpec::default()
            },
            Some(PodStatus {
                phase: Some("Pending".into()),
                qos_class: Some("BestEffort".into()),
                conditions: Some(vec![
                    PodCondition {
                        type_: "PodScheduled".into(),
                        status: "True".into(),
                        last_transition_time: Some(Time(scheduled_at)),
                        ..PodCondition::default()
                    },
                    PodCondition {
                        type_: "example.com/Custom".into(),
                        status: "False".into(),
                        ..PodCondition::default()
                    },
                ]),
                ..PodStatus::default()
            }),
        );
        let host = Ipv4Addr::new(198, 18, 0, 2);
        let ip = Ipv4Addr::new(10, 128, 1, 2);
        let st = running_pod_status(&p, host, ip, now);
        let v = serde_json::to_value(&st).unwrap();
        assert_eq!(v["phase"], "Running");
        assert_eq!(v["hostIP"], "198.18.0.2");
        assert_eq!(v["hostIPs"][0]["ip"], "198.18.0.2");
        assert_eq!(v["podIP"], "10.128.1.2");
        assert_eq!(v["podIPs"][0]["ip"], "10.128.1.2");
        assert_eq!(v["startTime"], "2025-01-01T00:00:02Z");
        assert_eq!(v["qosClass"], "BestEffort");
        let conds = v["conditions"].as_array().unwrap();
        let types: Vec<&str> = conds.iter().map(|c| c["type"].as_str().unwrap()).collect();
        assert_eq!(
            types,
            [
                "PodReadyToStartContainers",
                "Initialized",
                "Ready",
                "ContainersReady",
                "PodScheduled",
                "example.com/Custom"
            ]
        );
        for c in &conds[..5] {
            assert_eq!(c["status"], "True");
        }
        assert_eq!(conds[2]["lastTransitionTime"], "2025-01-01T00:00:02Z");
        // PodScheduled keeps the scheduler's transition time; foreign conditions are kept.
        assert_eq!(conds[4]["lastTransitionTime"], "2025-01-01T00:00:00Z");
        assert_eq!(conds[5]["status"], "False");

        let cs = v["containerStatuses"].as_array().unwrap();
        assert_eq!(cs.len(), 2);
        assert_eq!(cs[0]["name"], "app");
        assert_eq!(cs[0]["image"], "docker.io/library/nginx:1.7.9");
        assert_eq!(cs[0]["containerID"], "krust-sim://uid-1-app");
        assert_eq!(cs[0]["ready"], true);
        assert_eq!(cs[0]["started"], true);
        assert_eq!(cs[0]["restartCount"], 0);
        assert_eq!(
            cs[0]["state"]["running"]["startedAt"],
            "2025-01-01T00:00:02Z"
        );
        assert!(
            cs[0]["imageID"]
                .as_str()
                .unwrap()
                .starts_with("docker.io/library/nginx@sha256:")
        );
        let ics = v["initContainerStatuses"].as_array().unwrap();
        assert_eq!(ics[0]["state"]["terminated"]["exitCode"], 0);
        assert_eq!(ics[0]["state"]["terminated"]["reason"], "Completed");
        assert_eq!(ics[0]["started"], false);
        assert!(ics[1]["state"]["running"].is_object());
        assert_eq!(ics[1]["started"], true);

        // Written again later, nothing moves backwards.
        let mut p2 = p.clone();
        p2.status = Some(st);
        let later = ts("2025-01-01T00:01:00Z");
        let again = running_pod_status(&p2, host, ip, later);
        let v2 = serde_json::to_value(&again).unwrap();
        assert_eq!(v2["startTime"], "2025-01-01T00:00:02Z");
        assert_eq!(
            v2["conditions"][2]["lastTransitionTime"],
            "2025-01-01T00:00:02Z"
        );
    }

    #[test]
    fn readiness_gates_hold_ready_back() {
        let p = pod(
            PodSpec {
                containers: vec![container("app", "nginx")],
                readiness_gates: Some(vec![PodReadinessGate {
                    condition_type: "example.com/lb".into(),
                }]),
                ..PodSpec::default()
            },
            None,
        );
        let now = ts("2025-01-01T00:00:00Z");
        let st = running_pod_status(&p, Ipv4Addr::LOCALHOST, Ipv4Addr::LOCALHOST, now);
        let ready = st
            .conditions
            .as_ref()
            .unwrap()
            .iter()
            .find(|c| c.type_ == "Ready")
            .unwrap();
        assert_eq!(ready.status, "False");
        assert_eq!(ready.reason.as_deref(), Some("ReadinessGatesNotReady"));
        assert!(st.init_container_statuses.is_none());
    }

    #[test]
    fn recognizes_pods_running_here() {
        let host = Ipv4Addr::new(198, 18, 0, 2);
        let spec = PodSpec {
            containers: vec![container("app", "nginx")],
            ..PodSpec::default()
        };
        let pending = pod(spec.clone(), None);
        assert_eq!(already_running_here(&pending, host), None);
        let st = running_pod_status(
            &pending,
            host,
            Ipv4Addr::new(10, 128, 1, 9),
            Timestamp::now(),
        );
        let running = pod(spec, Some(st));
        assert_eq!(
            already_running_here(&running, host),
            Some(Some(Ipv4Addr::new(10, 128, 1, 9)))
        );
        assert_eq!(
            already_running_here(&running, Ipv4Addr::new(198, 18, 0, 3)),
            None
        );
    }
}
