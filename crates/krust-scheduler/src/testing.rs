//! Test helpers: builders for `k8s_openapi` Pods and Nodes and for the scheduler's model.

use crate::node_info::NodeSpec;
use crate::pod_info::{PodInfo, PriorityClasses};
use k8s_openapi::api::core::v1::{
    Affinity, Container, ContainerImage, ContainerPort, Node, NodeAffinity, NodeSelector,
    NodeSelectorRequirement, NodeSelectorTerm, NodeSpec as K8sNodeSpec, NodeStatus, Pod,
    PodAffinity, PodAffinityTerm, PodAntiAffinity, PodSpec, PodStatus, PreferredSchedulingTerm,
    ResourceRequirements, Taint, Toleration, TopologySpreadConstraint, WeightedPodAffinityTerm,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, Time};
use std::collections::BTreeMap;

fn q(s: &str) -> Quantity {
    Quantity(s.to_string())
}

/// A container requesting cpu and memory ("" for none).
pub fn container(cpu: &str, mem: &str) -> Container {
    let mut req = BTreeMap::new();
    if !cpu.is_empty() {
        req.insert("cpu".to_string(), q(cpu));
    }
    if !mem.is_empty() {
        req.insert("memory".to_string(), q(mem));
    }
    Container {
        name: "c".into(),
        image: Some("busybox".into()),
        resources: Some(ResourceRequirements {
            requests: if req.is_empty() { None } else { Some(req) },
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// An init container.
pub fn init_container(cpu: &str, mem: &str) -> Container {
    container(cpu, mem)
}

/// A restartable (sidecar) init container.
pub fn sidecar(cpu: &str, mem: &str) -> Container {
    Container {
        restart_policy: Some("Always".into()),
        ..container(cpu, mem)
    }
}

/// A matchLabels selector.
pub fn selector(pairs: &[(&str, &str)]) -> LabelSelector {
    LabelSelector {
        match_labels: Some(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        ),
        match_expressions: None,
    }
}

/// A node selector requirement.
pub fn node_req(key: &str, op: &str, values: &[&str]) -> NodeSelectorRequirement {
    NodeSelectorRequirement {
        key: key.into(),
        operator: op.into(),
        values: if values.is_empty() {
            None
        } else {
            Some(values.iter().map(|s| s.to_string()).collect())
        },
    }
}

/// A pod affinity term on a matchLabels selector.
pub fn affinity_term(pairs: &[(&str, &str)], topology_key: &str) -> PodAffinityTerm {
    PodAffinityTerm {
        label_selector: Some(selector(pairs)),
        topology_key: topology_key.into(),
        ..Default::default()
    }
}

/// Builds pods.
#[derive(Clone)]
pub struct PodBuilder {
    pod: Pod,
}

impl PodBuilder {
    /// A pod in `default` with uid `uid-<name>` and one container without requests.
    pub fn new(name: &str) -> PodBuilder {
        PodBuilder {
            pod: Pod {
                metadata: ObjectMeta {
                    name: Some(name.into()),
                    namespace: Some("default".into()),
                    uid: Some(format!("uid-{name}")),
                    ..Default::default()
                },
                spec: Some(PodSpec {
                    containers: vec![container("", "")],
                    ..Default::default()
                }),
                status: Some(PodStatus::default()),
            },
        }
    }

    fn spec(&mut self) -> &mut PodSpec {
        self.pod.spec.get_or_insert_with(Default::default)
    }

    fn affinity(&mut self) -> &mut Affinity {
        self.spec().affinity.get_or_insert_with(Default::default)
    }

    pub fn namespace(mut self, ns: &str) -> Self {
        self.pod.metadata.namespace = Some(ns.into());
        self
    }

    pub fn label(mut self, k: &str, v: &str) -> Self {
        self.pod
            .metadata
            .labels
            .get_or_insert_with(Default::default)
            .insert(k.into(), v.into());
        self
    }

    /// Replaces the containers with one requesting cpu and memory.
    pub fn requests(mut self, cpu: &str, mem: &str) -> Self {
        self.spec().containers = vec![container(cpu, mem)];
        self
    }

    /// Adds a request to the first container.
    pub fn request(mut self, name: &str, qty: &str) -> Self {
        let c = &mut self.spec().containers[0];
        c.resources
            .get_or_insert_with(Default::default)
            .requests
            .get_or_insert_with(Default::default)
            .insert(name.into(), q(qty));
        self
    }

    pub fn host_port(mut self, ip: &str, proto: &str, port: i32) -> Self {
        let c = &mut self.spec().containers[0];
        c.ports
            .get_or_insert_with(Default::default)
            .push(ContainerPort {
                container_port: port,
                host_port: Some(port),
                host_ip: if ip.is_empty() { None } else { Some(ip.into()) },
                protocol: if proto.is_empty() {
                    None
                } else {
                    Some(proto.into())
                },
                ..Default::default()
            });
        self
    }

    pub fn image(mut self, image: &str) -> Self {
        self.spec().containers[0].image = Some(image.into());
        self
    }

    pub fn node_selector(mut self, k: &str, v: &str) -> Self {
        self.spec()
            .node_selector
            .get_or_insert_with(Default::default)
            .insert(k.into(), v.into());
        self
    }

    pub fn required_node_terms(mut self, terms: Vec<NodeSelectorTerm>) -> Self {
        self.affinity()
            .node_affinity
            .get_or_insert_with(NodeAffinity::default)
            .required_during_scheduling_ignored_during_execution = Some(NodeSelector {
            node_selector_terms: terms,
        });
        self
    }

    pub fn preferred_node_term(mut self, weight: i32, term: NodeSelectorTerm) -> Self {
        self.affinity()
            .node_affinity
            .get_or_insert_with(NodeAffinity::default)
            .preferred_during_scheduling_ignored_during_execution
            .get_or_insert_with(Default::default)
            .push(PreferredSchedulingTerm {
                weight,
                preference: term,
            });
        self
    }

    pub fn toleration(mut self, key: &str, op: &str, value: &str, effect: &str) -> Self {
        let opt = |s: &str| {
            if s.is_empty() {
                None
            } else {
                Some(s.to_string())
            }
        };
        self.spec()
            .tolerations
            .get_or_insert_with(Default::default)
            .push(Toleration {
                key: opt(key),
                operator: opt(op),
                value: opt(value),
                effect: opt(effect),
                toleration_seconds: None,
            });
        self
    }

    pub fn spread(mut self, c: TopologySpreadConstraint) -> Self {
        self.spec()
            .topology_spread_constraints
            .get_or_insert_with(Default::default)
            .push(c);
        self
    }

    pub fn required_affinity(mut self, t: PodAffinityTerm) -> Self {
        self.affinity()
            .pod_affinity
            .get_or_insert_with(PodAffinity::default)
            .required_during_scheduling_ignored_during_execution
            .get_or_insert_with(Default::default)
            .push(t);
        self
    }

    pub fn required_anti_affinity(mut self, t: PodAffinityTerm) -> Self {
        self.affinity()
            .pod_anti_affinity
            .get_or_insert_with(PodAntiAffinity::default)
            .required_during_scheduling_ignored_during_execution
            .get_or_insert_with(Default::default)
            .push(t);
        self
    }

    pub fn preferred_affinity(mut self, weight: i32, t: PodAffinityTerm) -> Self {
        self.affinity()
            .pod_affinity
            .get_or_insert_with(PodAffinity::default)
            .preferred_during_scheduling_ignored_during_execution
            .get_or_insert_with(Default::default)
            .push(WeightedPodAffinityTerm {
                weight,
                pod_affinity_term: t,
            });
        self
    }

    pub fn preferred_anti_affinity(mut self, weight: i32, t: PodAffinityTerm) -> Self {
        self.affinity()
            .pod_anti_affinity
            .get_or_insert_with(PodAntiAffinity::default)
            .preferred_during_scheduling_ignored_during_execution
            .get_or_insert_with(Default::default)
            .push(WeightedPodAffinityTerm {
                weight,
                pod_affinity_term: t,
            });
        self
    }

    pub fn priority(mut self, p: i32) -> Self {
        self.spec().priority = Some(p);
        self
    }

    pub fn preemption_never(mut self) -> Self {
        self.spec().preemption_policy = Some("Never".into());
        self
    }

    pub fn node(mut self, n: &str) -> Self {
        self.spec().node_name = Some(n.into());
        self
    }

    pub fn nominated(mut self, n: &str) -> Self {
        self.pod
            .status
            .get_or_insert_with(Default::default)
            .nominated_node_name = Some(n.into());
        self
    }

    pub fn scheduler_name(mut self, n: &str) -> Self {
        self.spec().scheduler_name = Some(n.into());
        self
    }

    pub fn start_time(mut self, secs: i64) -> Self {
        self.pod
            .status
            .get_or_insert_with(Default::default)
            .start_time = k8s_openapi::jiff::Timestamp::from_second(secs)
            .ok()
            .map(Time);
        self
    }

    pub fn created(mut self, secs: i64) -> Self {
        self.pod.metadata.creation_timestamp = k8s_openapi::jiff::Timestamp::from_second(secs)
            .ok()
            .map(Time);
        self
    }

    pub fn deleting(mut self) -> Self {
        self.pod.metadata.deletion_timestamp =
            k8s_openapi::jiff::Timestamp::from_second(1).ok().map(Time);
        self
    }

    pub fn build(self) -> Pod {
        self.pod
    }

    pub fn build_info(self) -> PodInfo {
        PodInfo::from_pod(&self.pod, &PriorityClasses::default())
    }
}

/// Builds nodes.
#[derive(Clone)]
pub struct NodeBuilder {
    node: Node,
}

impl NodeBuilder {
    /// A node with 4 CPUs, 16Gi memory, 110 pods and a hostname label.
    pub fn new(name: &str) -> NodeBuilder {
        let alloc = BTreeMap::from([
            ("cpu".to_string(), q("4")),
            ("memory".to_string(), q("16Gi")),
            ("pods".to_string(), q("110")),
            ("ephemeral-storage".to_string(), q("100Gi")),
        ]);
        NodeBuilder {
            node: Node {
                metadata: ObjectMeta {
                    name: Some(name.into()),
                    labels: Some(BTreeMap::from([(
                        "kubernetes.io/hostname".to_string(),
                        name.to_string(),
                    )])),
                    ..Default::default()
                },
                spec: Some(K8sNodeSpec::default()),
                status: Some(NodeStatus {
                    allocatable: Some(alloc.clone()),
                    capacity: Some(alloc),
                    ..Default::default()
                }),
            },
        }
    }

    fn alloc(&mut self) -> &mut BTreeMap<String, Quantity> {
        self.node
            .status
            .get_or_insert_with(Default::default)
            .allocatable
            .get_or_insert_with(Default::default)
    }

    pub fn allocatable(mut self, cpu: &str, mem: &str, pods: &str) -> Self {
        let a = self.alloc();
        a.insert("cpu".into(), q(cpu));
        a.insert("memory".into(), q(mem));
        a.insert("pods".into(), q(pods));
        self
    }

    pub fn resource(mut self, name: &str, qty: &str) -> Self {
        self.alloc().insert(name.into(), q(qty));
        self
    }

    pub fn label(mut self, k: &str, v: &str) -> Self {
        self.node
            .metadata
            .labels
            .get_or_insert_with(Default::default)
            .insert(k.into(), v.into());
        self
    }

    pub fn taint(mut self, key: &str, value: &str, effect: &str) -> Self {
        self.node
            .spec
            .get_or_insert_with(Default::default)
            .taints
            .get_or_insert_with(Default::default)
            .push(Taint {
                key: key.into(),
                value: if value.is_empty() {
                    None
                } else {
                    Some(value.into())
                },
                effect: effect.into(),
                time_added: None,
            });
        self
    }

    pub fn unschedulable(mut self) -> Self {
        self.node
            .spec
            .get_or_insert_with(Default::default)
            .unschedulable = Some(true);
        self
    }

    pub fn image(mut self, names: &[&str], size: i64) -> Self {
        self.node
            .status
            .get_or_insert_with(Default::default)
            .images
            .get_or_insert_with(Default::default)
            .push(ContainerImage {
                names: Some(names.iter().map(|s| s.to_string()).collect()),
                size_bytes: Some(size),
            });
        self
    }

    pub fn build(self) -> Node {
        self.node
    }

    pub fn build_spec(self) -> NodeSpec {
        NodeSpec::from_node(&self.node)
    }
}

/// A topology spread constraint on a matchLabels selector.
pub fn spread_constraint(
    max_skew: i32,
    key: &str,
    when: &str,
    pairs: &[(&str, &str)],
) -> TopologySpreadConstraint {
    TopologySpreadConstraint {
        max_skew,
        topology_key: key.into(),
        when_unsatisfiable: when.into(),
        label_selector: Some(selector(pairs)),
        ..Default::default()
    }
}
