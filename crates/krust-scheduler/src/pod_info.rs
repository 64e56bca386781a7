//! The scheduler's view of a pod (upstream's `framework.PodInfo`): everything the plugins read,
//! parsed once from a `k8s_openapi` Pod when it is observed, so that filtering and scoring never
//! touch JSON or quantities again. Affinity terms, spread constraints and tolerations are
//! compiled here with upstream's defaulting rules.

use crate::labels::{Labels, NodeSelectorTerms, NodeTerm, Selector};
use crate::node_info::{Taint, TaintEffect};
use crate::resources::{PodRequests, pod_requests};
use k8s_openapi::api::core::v1::{Pod, PodAffinityTerm, PodSpec};
use std::collections::HashMap;

/// Upstream's `system-node-critical` priority.
const SYSTEM_NODE_CRITICAL: i32 = 2_000_001_000;
/// Upstream's `system-cluster-critical` priority.
const SYSTEM_CLUSTER_CRITICAL: i32 = 2_000_000_000;

/// PriorityClass values, for pods whose `spec.priority` the API server did not fill.
#[derive(Clone, Debug, Default)]
pub struct PriorityClasses {
    classes: HashMap<String, i32>,
    global_default: Option<(String, i32)>,
}

impl PriorityClasses {
    /// Records a class.
    pub fn set(&mut self, name: &str, value: i32, global_default: bool) {
        self.classes.insert(name.to_string(), value);
        if global_default {
            self.global_default = Some((name.to_string(), value));
        } else if self.global_default.as_ref().is_some_and(|(n, _)| n == name) {
            self.global_default = None;
        }
    }

    /// Forgets a class.
    pub fn remove(&mut self, name: &str) {
        self.classes.remove(name);
        if self.global_default.as_ref().is_some_and(|(n, _)| n == name) {
            self.global_default = None;
        }
    }

    /// The priority of a pod spec: `spec.priority`, else its class, else the global default.
    pub fn resolve(&self, spec: &PodSpec) -> i32 {
        if let Some(p) = spec.priority {
            return p;
        }
        match spec.priority_class_name.as_deref() {
            Some("system-node-critical") => SYSTEM_NODE_CRITICAL,
            Some("system-cluster-critical") => SYSTEM_CLUSTER_CRITICAL,
            Some(name) if !name.is_empty() => self.classes.get(name).copied().unwrap_or(0),
            _ => self.global_default.as_ref().map(|(_, v)| *v).unwrap_or(0),
        }
    }
}

/// A toleration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Toleration {
    pub key: String,
    pub exists: bool,
    pub value: String,
    /// `None` tolerates every effect.
    pub effect: Option<TaintEffect>,
}

impl Toleration {
    /// Upstream's `Toleration.ToleratesTaint`.
    pub fn tolerates(&self, t: &Taint) -> bool {
        if self.effect.as_ref().is_some_and(|e| *e != t.effect) {
            return false;
        }
        if !self.key.is_empty() && self.key != t.key {
            return false;
        }
        self.exists || self.value == t.value
    }
}

/// Whether any toleration tolerates the taint.
pub fn tolerations_tolerate(tols: &[Toleration], t: &Taint) -> bool {
    tols.iter().any(|tol| tol.tolerates(t))
}

/// A host port a container asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostPort {
    /// `0.0.0.0` when unset.
    pub ip: String,
    /// `TCP` when unset.
    pub protocol: String,
    pub port: i32,
}

/// A compiled pod (anti-)affinity term.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AffinityTerm {
    /// Namespaces named by the term; the pod's own when neither these nor a selector are set.
    pub namespaces: Vec<String>,
    /// Matches nothing when the term has no namespace selector.
    pub namespace_selector: Selector,
    pub selector: Selector,
    pub topology_key: String,
}

impl AffinityTerm {
    fn compile(owner: &PodMeta<'_>, t: &PodAffinityTerm) -> AffinityTerm {
        let namespaces = match (&t.namespaces, &t.namespace_selector) {
            (ns, None) if ns.as_ref().is_none_or(|n| n.is_empty()) => {
                vec![owner.namespace.to_string()]
            }
            (ns, _) => ns.clone().unwrap_or_default(),
        };
        let namespace_selector = match &t.namespace_selector {
            None => Selector::nothing(),
            Some(s) => Selector::from_label_selector(Some(s)),
        };
        let mut selector = Selector::from_label_selector(t.label_selector.as_ref());
        if t.label_selector.is_some() {
            for k in t.match_label_keys.iter().flatten() {
                if let Some(v) = owner.labels.get(k) {
                    selector.require(k, v);
                }
            }
            for k in t.mismatch_label_keys.iter().flatten() {
                if let Some(v) = owner.labels.get(k) {
                    selector.require_not(k, v);
                }
            }
        }
        AffinityTerm {
            namespaces,
            namespace_selector,
            selector,
            topology_key: t.topology_key.clone(),
        }
    }

    /// Upstream's `AffinityTerm.Matches`: the pod is in one of the term's namespaces (or its
    /// namespace's labels match the namespace selector) and its labels match the selector.
    pub fn matches(&self, pod: &PodInfo, ns_labels: &Labels) -> bool {
        (self.namespaces.contains(&pod.namespace) || self.namespace_selector.matches(ns_labels))
            && self.selector.matches(&pod.labels)
    }
}

/// A weighted (preferred) pod (anti-)affinity term.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WeightedAffinityTerm {
    pub weight: i32,
    pub term: AffinityTerm,
}

/// `whenUnsatisfiable` of a topology spread constraint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WhenUnsatisfiable {
    DoNotSchedule,
    ScheduleAnyway,
}

/// A compiled topology spread constraint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpreadConstraint {
    pub max_skew: i32,
    pub topology_key: String,
    pub when_unsatisfiable: WhenUnsatisfiable,
    pub selector: Selector,
    /// 1 when unset.
    pub min_domains: i32,
    /// `nodeAffinityPolicy: Honor` (the default).
    pub honor_node_affinity: bool,
    /// `nodeTaintsPolicy: Honor` (default Ignore).
    pub honor_node_taints: bool,
}

/// The scheduler's parsed pod.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PodInfo {
    pub uid: String,
    pub namespace: String,
    pub name: String,
    pub resource_version: String,
    pub labels: Labels,
    pub priority: i32,
    /// Creation time in nanoseconds since the epoch (0 when unknown).
    pub creation_ns: i128,
    /// `status.startTime` in nanoseconds since the epoch.
    pub start_ns: Option<i128>,
    pub scheduler_name: String,
    /// `spec.nodeName` ("" when unbound).
    pub node_name: String,
    /// `status.nominatedNodeName` ("" when none).
    pub nominated_node_name: String,
    pub deleting: bool,
    /// Phase Succeeded or Failed.
    pub terminal: bool,
    /// `spec.schedulingGates` is not empty.
    pub gated: bool,
    pub preemption_never: bool,
    /// Terminating because the scheduler preempted it (DisruptionTarget condition).
    pub preempted_by_scheduler: bool,
    pub requests: PodRequests,
    pub host_ports: Vec<HostPort>,
    pub node_selector: Vec<(String, String)>,
    pub required_node_affinity: Option<NodeSelectorTerms>,
    pub preferred_node_affinity: Vec<(i32, NodeTerm)>,
    pub tolerations: Vec<Toleration>,
    pub spread_constraints: Vec<SpreadConstraint>,
    pub required_affinity: Vec<AffinityTerm>,
    pub required_anti_affinity: Vec<AffinityTerm>,
    pub preferred_affinity: Vec<WeightedAffinityTerm>,
    pub preferred_anti_affinity: Vec<WeightedAffinityTerm>,
    /// Whether the pod has any pod affinity or anti-affinity (upstream's PodsWithAffinity).
    pub has_affinity: bool,
    /// Container and init container images, normalized (`:latest` added when untagged).
    pub images: Vec<String>,
    /// Number of containers plus init containers.
    pub container_count: usize,
    /// The current `PodScheduled` condition: (status, reason, message).
    pub scheduled_condition: Option<(String, String, String)>,
}

struct PodMeta<'a> {
    namespace: &'a str,
    labels: &'a Labels,
}

/// Upstream's `normalizedImageName`: adds `:latest` to an untagged image.
pub fn normalized_image_name(name: &str) -> String {
    let colon = name.rfind(':');
    let slash = name.rfind('/');
    let untagged = match (colon, slash) {
        (None, _) => true,
        (Some(c), Some(s)) => c <= s,
        (Some(_), None) => false,
    };
    if untagged {
        format!("{name}:latest")
    } else {
        name.to_string()
    }
}

fn parse_effect(e: &str) -> TaintEffect {
    TaintEffect::parse(e)
}

impl PodInfo {
    /// Parses a pod; `priorities` resolves `priorityClassName` when `spec.priority` is unset.
    pub fn from_pod(pod: &Pod, priorities: &PriorityClasses) -> PodInfo {
        let meta = &pod.metadata;
        let labels = meta.labels.clone().unwrap_or_default();
        let namespace = meta.namespace.clone().unwrap_or_default();
        let default_spec = PodSpec::default();
        let spec = pod.spec.as_ref().unwrap_or(&default_spec);
        let status = pod.status.as_ref();
        let owner = PodMeta {
            namespace: &namespace,
            labels: &labels,
        };

        let mut host_ports = Vec::new();
        for c in &spec.containers {
            for p in c.ports.iter().flatten() {
                let port = p.host_port.unwrap_or(0);
                if port <= 0 {
                    continue;
                }
                host_ports.push(HostPort {
                    ip: p
                        .host_ip
                        .clone()
                        .filter(|s| !s.is_empty())
                        .unwrap_or_else(|| "0.0.0.0".to_string()),
                    protocol: p
                        .protocol
                        .clone()
                        .filter(|s| !s.is_empty())
                        .unwrap_or_else(|| "TCP".to_string()),
                    port,
                });
            }
        }

        let node_affinity = spec
            .affinity
            .as_ref()
            .and_then(|a| a.node_affinity.as_ref());
        let required_node_affinity = node_affinity
            .and_then(|na| {
                na.required_during_scheduling_ignored_during_execution
                    .as_ref()
            })
            .map(NodeSelectorTerms::compile);
        let preferred_node_affinity = node_affinity
            .and_then(|na| {
                na.preferred_during_scheduling_ignored_during_execution
                    .as_ref()
            })
            .map(|terms| {
                terms
                    .iter()
                    .filter(|t| t.weight != 0)
                    .map(|t| (t.weight, NodeTerm::compile(&t.preference)))
                    .collect()
            })
            .unwrap_or_default();

        let tolerations = spec
            .tolerations
            .iter()
            .flatten()
            .map(|t| Toleration {
                key: t.key.clone().unwrap_or_default(),
                exists: t.operator.as_deref() == Some("Exists"),
                value: t.value.clone().unwrap_or_default(),
                effect: t
                    .effect
                    .as_deref()
                    .filter(|e| !e.is_empty())
                    .map(parse_effect),
            })
            .collect();

        let spread_constraints = spec
            .topology_spread_constraints
            .iter()
            .flatten()
            .map(|c| {
                let mut selector = Selector::from_label_selector(c.label_selector.as_ref());
                if c.label_selector.is_some() {
                    for k in c.match_label_keys.iter().flatten() {
                        if let Some(v) = labels.get(k) {
                            selector.require(k, v);
                        }
                    }
                }
                SpreadConstraint {
                    max_skew: c.max_skew,
                    topology_key: c.topology_key.clone(),
                    when_unsatisfiable: if c.when_unsatisfiable == "ScheduleAnyway" {
                        WhenUnsatisfiable::ScheduleAnyway
                    } else {
                        WhenUnsatisfiable::DoNotSchedule
                    },
                    selector,
                    min_domains: c.min_domains.unwrap_or(1).max(1),
                    honor_node_affinity: c.node_affinity_policy.as_deref() != Some("Ignore"),
                    honor_node_taints: c.node_taints_policy.as_deref() == Some("Honor"),
                }
            })
            .collect();

        let pa = spec.affinity.as_ref().and_then(|a| a.pod_affinity.as_ref());
        let paa = spec
            .affinity
            .as_ref()
            .and_then(|a| a.pod_anti_affinity.as_ref());
        let compile_all = |terms: Option<&Vec<PodAffinityTerm>>| -> Vec<AffinityTerm> {
            terms
                .into_iter()
                .flatten()
                .map(|t| AffinityTerm::compile(&owner, t))
                .collect()
        };
        let compile_weighted =
            |terms: Option<&Vec<k8s_openapi::api::core::v1::WeightedPodAffinityTerm>>| {
                terms
                    .into_iter()
                    .flatten()
                    .map(|t| WeightedAffinityTerm {
                        weight: t.weight,
                        term: AffinityTerm::compile(&owner, &t.pod_affinity_term),
                    })
                    .collect::<Vec<_>>()
            };
        let required_affinity = compile_all(pa.and_then(|a| {
            a.required_during_scheduling_ignored_during_execution
                .as_ref()
        }));
        let required_anti_affinity = compile_all(paa.and_then(|a| {
            a.required_during_scheduling_ignored_during_execution
                .as_ref()
        }));
        let preferred_affinity = compile_weighted(pa.and_then(|a| {
            a.preferred_during_scheduling_ignored_during_execution
                .as_ref()
        }));
        let preferred_anti_affinity = compile_weighted(paa.and_then(|a| {
            a.preferred_during_scheduling_ignored_during_execution
                .as_ref()
        }));
        let has_affinity = pa.is_some() || paa.is_some();

        let init = spec.init_containers.as_deref().unwrap_or(&[]);
        let images = init
            .iter()
            .chain(spec.containers.iter())
            .filter_map(|c| c.image.as_deref())
            .filter(|i| !i.is_empty())
            .map(normalized_image_name)
            .collect();

        let conditions = status.and_then(|s| s.conditions.as_ref());
        let scheduled_condition = conditions.and_then(|cs| {
            cs.iter().find(|c| c.type_ == "PodScheduled").map(|c| {
                (
                    c.status.clone(),
                    c.reason.clone().unwrap_or_default(),
                    c.message.clone().unwrap_or_default(),
                )
            })
        });
        let preempted_by_scheduler = conditions.is_some_and(|cs| {
            cs.iter().any(|c| {
                c.type_ == "DisruptionTarget"
                    && c.status == "True"
                    && c.reason.as_deref() == Some("PreemptionByScheduler")
            })
        });
        let phase = status.and_then(|s| s.phase.as_deref()).unwrap_or("");

        PodInfo {
            uid: meta.uid.clone().unwrap_or_default(),
            name: meta.name.clone().unwrap_or_default(),
            resource_version: meta.resource_version.clone().unwrap_or_default(),
            priority: priorities.resolve(spec),
            creation_ns: meta
                .creation_timestamp
                .as_ref()
                .map(|t| t.0.as_nanosecond())
                .unwrap_or(0),
            start_ns: status
                .and_then(|s| s.start_time.as_ref())
                .map(|t| t.0.as_nanosecond()),
            scheduler_name: spec
                .scheduler_name
                .clone()
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| "default-scheduler".to_string()),
            node_name: spec.node_name.clone().unwrap_or_default(),
            nominated_node_name: status
                .and_then(|s| s.nominated_node_name.clone())
                .unwrap_or_default(),
            deleting: meta.deletion_timestamp.is_some(),
            terminal: phase == "Succeeded" || phase == "Failed",
            gated: spec
                .scheduling_gates
                .as_ref()
                .is_some_and(|g| !g.is_empty()),
            preemption_never: spec.preemption_policy.as_deref() == Some("Never"),
            preempted_by_scheduler,
            requests: pod_requests(spec),
            host_ports,
            node_selector: spec
                .node_selector
                .iter()
                .flatten()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            required_node_affinity,
            preferred_node_affinity,
            tolerations,
            spread_constraints,
            required_affinity,
            required_anti_affinity,
            preferred_affinity,
            preferred_anti_affinity,
            has_affinity,
            images,
            container_count: init.len() + spec.containers.len(),
            scheduled_condition,
            namespace,
            labels,
        }
    }

    /// `namespace/name`.
    pub fn key(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }

    /// Whether the pod has required pod anti-affinity terms.
    pub fn has_required_anti_affinity(&self) -> bool {
        !self.required_anti_affinity.is_empty()
    }

    /// Whether anything the scheduler decides on differs from `other` (upstream's
    /// `isPodUpdated`, restricted to the fields scheduling reads).
    pub fn scheduling_differs(&self, other: &PodInfo) -> bool {
        self.labels != other.labels
            || self.priority != other.priority
            || self.requests != other.requests
            || self.host_ports != other.host_ports
            || self.node_selector != other.node_selector
            || self.required_node_affinity != other.required_node_affinity
            || self.preferred_node_affinity != other.preferred_node_affinity
            || self.tolerations != other.tolerations
            || self.spread_constraints != other.spread_constraints
            || self.required_affinity != other.required_affinity
            || self.required_anti_affinity != other.required_anti_affinity
            || self.preferred_affinity != other.preferred_affinity
            || self.preferred_anti_affinity != other.preferred_anti_affinity
            || self.images != other.images
            || self.gated != other.gated
            || self.preemption_never != other.preemption_never
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::PodBuilder;

    #[test]
    fn image_names_normalized() {
        for (i, want) in [
            ("nginx", "nginx:latest"),
            ("nginx:1.25", "nginx:1.25"),
            ("registry:5000/app", "registry:5000/app:latest"),
            ("registry:5000/app:v1", "registry:5000/app:v1"),
        ] {
            assert_eq!(normalized_image_name(i), want);
        }
    }

    #[test]
    fn priority_resolution() {
        let mut pcs = PriorityClasses::default();
        pcs.set("high", 1000, false);
        pcs.set("default", 5, true);
        let p = |class: Option<&str>, prio: Option<i32>| PodSpec {
            priority_class_name: class.map(str::to_string),
            priority: prio,
            ..Default::default()
        };
        assert_eq!(pcs.resolve(&p(Some("high"), None)), 1000);
        assert_eq!(pcs.resolve(&p(Some("high"), Some(7))), 7);
        assert_eq!(pcs.resolve(&p(None, None)), 5);
        assert_eq!(
            pcs.resolve(&p(Some("system-node-critical"), None)),
            SYSTEM_NODE_CRITICAL
        );
        pcs.remove("default");
        assert_eq!(pcs.resolve(&p(None, None)), 0);
    }

    #[test]
    fn affinity_term_namespaces() {
        let owner = PodBuilder::new("p").namespace("ns1").build_info();
        let other = PodBuilder::new("q")
            .namespace("ns2")
            .label("app", "x")
            .build_info();
        let t = PodAffinityTerm {
            label_selector: Some(crate::testing::selector(&[("app", "x")])),
            topology_key: "zone".into(),
            ..Default::default()
        };
        let meta = PodMeta {
            namespace: &owner.namespace,
            labels: &owner.labels,
        };
        let own_ns = AffinityTerm::compile(&meta, &t);
        assert!(!own_ns.matches(&other, &Labels::new()));
        let all_ns = AffinityTerm::compile(
            &meta,
            &PodAffinityTerm {
                namespace_selector: Some(Default::default()),
                ..t.clone()
            },
        );
        assert!(all_ns.matches(&other, &Labels::new()));
        let named = AffinityTerm::compile(
            &meta,
            &PodAffinityTerm {
                namespaces: Some(vec!["ns2".into()]),
                ..t
            },
        );
        assert!(named.matches(&other, &Labels::new()));
    }
}
