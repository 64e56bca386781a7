//! Simulated nodes, as kwok provides them: N Nodes registered with capacity, conditions,
//! addresses and nodeInfo, their Leases renewed every 10 s and their status refreshed every
//! 5 minutes, and every pod bound to one of them moved to Running and Ready (a unique fake IP
//! from the node's podCIDR, container statuses, conditions) without any container, then
//! deleted for real once it is being deleted. A scale-testing tool for the control plane
//! (scheduler, controllers, API server): never the default, never how a feature is shown to
//! work.
//!
//! Everything goes through the API as an ordinary client (`kube::Client`): Node and Lease
//! writes, `nodes/status` and `pods/status` merge patches, deletions with a UID precondition.
//! Writes are issued with bounded concurrency and retried with backoff; failures are logged
//! at most every few seconds, so thousands of nodes do not flood the log.

mod ipam;
mod nodes;
mod objects;
mod pods;

pub use ipam::{IpPool, Ipv4Cidr, node_address, node_pod_cidr};
pub use objects::{KUBELET_VERSION, RUNTIME_VERSION, SIMULATED_LABEL};

use std::collections::{BTreeMap, HashMap};
use std::str::FromStr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The namespace of node Leases.
pub const LEASE_NAMESPACE: &str = "kube-node-lease";

/// Errors in a simulated-node configuration.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid node capacity {spec:?}: {reason}")]
    InvalidCapacity { spec: String, reason: String },
    #[error("invalid IPv4 CIDR {0:?} (expected e.g. 10.64.0.0/11)")]
    InvalidCidr(String),
    #[error("{count} simulated nodes do not fit: there are only {available} {why}")]
    TooManyNodes {
        count: usize,
        available: usize,
        why: String,
    },
    #[error(
        "invalid node name prefix {0:?}: node names must be lowercase DNS subdomains (a-z, 0-9, '-', '.')"
    )]
    InvalidNamePrefix(String),
    #[error("the number of simulated nodes must be at least 1")]
    NoNodes,
}

/// What each simulated node reports as capacity (and allocatable).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeCapacity {
    pub cpu: String,
    pub memory: String,
    pub pods: String,
    pub ephemeral_storage: String,
    /// Extended resources (`example.com/gpu=8`) and hugepages (`hugepages-2Mi=1Gi`).
    pub extended: BTreeMap<String, String>,
}

impl Default for NodeCapacity {
    fn default() -> Self {
        NodeCapacity {
            cpu: "32".into(),
            memory: "256Gi".into(),
            pods: "110".into(),
            ephemeral_storage: "1Ti".into(),
            extended: BTreeMap::new(),
        }
    }
}

impl NodeCapacity {
    /// The resource list as the Node reports it (`cpu`, `memory`, `pods`, `ephemeral-storage`,
    /// `hugepages-1Gi`/`hugepages-2Mi` at 0 unless set, then the extended resources).
    pub fn resources(&self) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        out.insert("hugepages-1Gi".to_string(), "0".to_string());
        out.insert("hugepages-2Mi".to_string(), "0".to_string());
        out.extend(self.extended.clone());
        out.insert("cpu".into(), self.cpu.clone());
        out.insert("memory".into(), self.memory.clone());
        out.insert("pods".into(), self.pods.clone());
        out.insert("ephemeral-storage".into(), self.ephemeral_storage.clone());
        out
    }
}

impl FromStr for NodeCapacity {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        parse_capacity(s)
    }
}

/// Parses `cpu=32,memory=256Gi,pods=110[,ephemeral-storage=1Ti][,example.com/gpu=8]`: the
/// resources given override the defaults ([`NodeCapacity::default`]); names with a `/` are
/// extended resources. Every value must be a Kubernetes quantity (`pods` an integer).
pub fn parse_capacity(spec: &str) -> Result<NodeCapacity, Error> {
    let bad = |reason: String| Error::InvalidCapacity {
        spec: spec.to_string(),
        reason,
    };
    let mut cap = NodeCapacity::default();
    for item in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (name, value) = item
            .split_once('=')
            .ok_or_else(|| bad(format!("{item:?} is not NAME=QUANTITY")))?;
        let (name, value) = (name.trim(), value.trim());
        if !is_quantity(value) {
            return Err(bad(format!(
                "{value:?} is not a quantity (e.g. 32, 500m, 256Gi)"
            )));
        }
        match name {
            "cpu" => cap.cpu = value.into(),
            "memory" => cap.memory = value.into(),
            "pods" => {
                if value.parse::<u32>().is_err() {
                    return Err(bad(format!("pods must be a whole number, not {value:?}")));
                }
                cap.pods = value.into();
            }
            "ephemeral-storage" | "ephemeral_storage" | "storage" => {
                cap.ephemeral_storage = value.into()
            }
            n if n.contains('/') || n.starts_with("hugepages-") => {
                cap.extended.insert(n.to_string(), value.to_string());
            }
            n => {
                return Err(bad(format!(
                    "unknown resource {n:?} (cpu, memory, pods, ephemeral-storage, \
                     hugepages-<size>, or an extended resource such as example.com/gpu)"
                )));
            }
        }
    }
    Ok(cap)
}

/// Whether `s` is a Kubernetes quantity: a non-negative decimal number with an optional binary
/// (`Ki`…`Ei`), decimal (`n u m k M G T P E`) or exponent (`e3`) suffix.
fn is_quantity(s: &str) -> bool {
    let digits_end = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (number, suffix) = s.split_at(digits_end);
    if number.is_empty()
        || number.matches('.').count() > 1
        || !number.chars().any(|c| c.is_ascii_digit())
    {
        return false;
    }
    match suffix {
        "" | "Ki" | "Mi" | "Gi" | "Ti" | "Pi" | "Ei" | "n" | "u" | "m" | "k" | "M" | "G" | "T"
        | "P" | "E" => true,
        exp => {
            let Some(rest) = exp.strip_prefix(['e', 'E']) else {
                return false;
            };
            let rest = rest.strip_prefix(['+', '-']).unwrap_or(rest);
            !rest.is_empty() && rest.chars().all(|c| c.is_ascii_digit())
        }
    }
}

/// How the simulated nodes look and behave.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// How many nodes.
    pub count: usize,
    /// Node names are `<prefix>-0` … `<prefix>-<count-1>`.
    pub name_prefix: String,
    pub capacity: NodeCapacity,
    /// Each node's podCIDR is the `index`-th `/24` of this range.
    pub pod_cidr_base: String,
    /// Most API writes in flight at once, for pods; leases and registration use as many.
    pub max_in_flight: usize,
    /// Lease renewal period (upstream: 10 s).
    pub lease_renew_interval: Duration,
    /// `spec.leaseDurationSeconds` of the Leases (upstream: 40).
    pub lease_duration_seconds: i32,
    /// Node status refresh period (upstream's nodeStatusReportFrequency: 5 min).
    pub status_report_interval: Duration,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            count: 1,
            name_prefix: "sim-node".into(),
            capacity: NodeCapacity::default(),
            pod_cidr_base: "10.64.0.0/11".into(),
            max_in_flight: 32,
            lease_renew_interval: Duration::from_secs(10),
            lease_duration_seconds: 40,
            status_report_interval: Duration::from_secs(300),
        }
    }
}

impl SimConfig {
    /// Name of node `index`.
    pub fn node_name(&self, index: usize) -> String {
        format!("{}-{index}", self.name_prefix)
    }

    /// Checks that the nodes can be built: a node count that fits the pod range and the fake
    /// address range, a valid name prefix, valid capacity quantities.
    pub fn validate(&self) -> Result<(), Error> {
        if self.count == 0 {
            return Err(Error::NoNodes);
        }
        let p = &self.name_prefix;
        let valid_prefix = !p.is_empty()
            && p.len() <= 200
            && p.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
            && p.starts_with(|c: char| c.is_ascii_alphanumeric());
        if !valid_prefix {
            return Err(Error::InvalidNamePrefix(p.clone()));
        }
        let base: Ipv4Cidr = self.pod_cidr_base.parse()?;
        node_pod_cidr(base, self.count - 1)?;
        node_address(self.count - 1)?;
        let caps = self.capacity.resources();
        for (name, value) in &caps {
            if !is_quantity(value) {
                return Err(Error::InvalidCapacity {
                    spec: format!("{name}={value}"),
                    reason: "not a quantity".into(),
                });
            }
        }
        Ok(())
    }
}

/// N simulated nodes on one API client.
pub struct SimulatedNodes {
    client: kube::Client,
    config: SimConfig,
}

impl SimulatedNodes {
    pub fn new(client: kube::Client, config: SimConfig) -> Self {
        SimulatedNodes { client, config }
    }

    /// Registers the nodes (creating them, or adopting existing ones of the same names), then
    /// keeps their Leases and status current and runs the pods bound to them. Returns only when
    /// the configuration is invalid (logged); otherwise runs until dropped.
    pub async fn run(self) {
        if let Err(e) = self.config.validate() {
            tracing::error!(error = %e, "simulated nodes: invalid configuration");
            return;
        }
        let shared = match nodes::Shared::new(self.client, self.config) {
            Ok(s) => std::sync::Arc::new(s),
            Err(e) => {
                tracing::error!(error = %e, "simulated nodes: invalid configuration");
                return;
            }
        };
        let leases = nodes::renew_leases(shared.clone());
        let rest = async {
            nodes::register_all(&shared).await;
            tokio::join!(
                nodes::refresh_status(shared.clone()),
                pods::run(shared.clone())
            );
        };
        tokio::join!(leases, rest);
    }
}

/// A warning logged at most once per interval, with the count of those suppressed since.
pub(crate) struct RateLimitedLog {
    what: &'static str,
    every: Duration,
    last: Mutex<Option<Instant>>,
    suppressed: AtomicU64,
}

impl RateLimitedLog {
    pub(crate) fn new(what: &'static str) -> Self {
        RateLimitedLog {
            what,
            every: Duration::from_secs(5),
            last: Mutex::new(None),
            suppressed: AtomicU64::new(0),
        }
    }

    pub(crate) fn warn(&self, object: &str, error: &dyn std::fmt::Display) {
        let now = Instant::now();
        let due = {
            let Ok(mut last) = self.last.lock() else {
                return;
            };
            let due = last.is_none_or(|t| now.duration_since(t) >= self.every);
            if due {
                *last = Some(now);
            }
            due
        };
        if due {
            let suppressed = self.suppressed.swap(0, Ordering::Relaxed);
            tracing::warn!(
                object,
                error = %error,
                similar_errors_suppressed = suppressed,
                "simulated nodes: {} failed (will retry)",
                self.what
            );
        } else {
            self.suppressed.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(object, error = %error, "simulated nodes: {} failed", self.what);
        }
    }
}

/// Whether an API error is worth retrying (conflicts, throttling, server and transport errors).
pub(crate) fn retryable(e: &kube::Error) -> bool {
    match e {
        kube::Error::Api(s) => matches!(s.code, 409 | 429 | 500..=599),
        _ => true,
    }
}

/// The HTTP status of an API error, if it is one.
pub(crate) fn status_code(e: &kube::Error) -> Option<u16> {
    match e {
        kube::Error::Api(s) => Some(s.code),
        _ => None,
    }
}

/// Backoff before attempt `attempt` (1-based): 50 ms doubling, at most 5 s.
pub(crate) fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(50u64.saturating_mul(1 << attempt.min(7))).min(Duration::from_secs(5))
}

/// Node names to their indexes.
pub(crate) type NodeIndex = HashMap<String, usize>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capacity_defaults_and_overrides() {
        let c = parse_capacity("").unwrap();
        assert_eq!(c, NodeCapacity::default());
        let c = parse_capacity("cpu=32,memory=256Gi,pods=110").unwrap();
        assert_eq!(c.cpu, "32");
        assert_eq!(c.memory, "256Gi");
        assert_eq!(c.pods, "110");
        assert_eq!(c.ephemeral_storage, "1Ti");
        let c: NodeCapacity =
            "cpu=4, memory=8Gi ,pods=20,ephemeral-storage=100Gi,example.com/gpu=2"
                .parse()
                .unwrap();
        assert_eq!(c.cpu, "4");
        assert_eq!(c.memory, "8Gi");
        assert_eq!(c.pods, "20");
        assert_eq!(c.ephemeral_storage, "100Gi");
        let r = c.resources();
        assert_eq!(r["example.com/gpu"], "2");
        assert_eq!(r["ephemeral-storage"], "100Gi");
        assert_eq!(r["hugepages-2Mi"], "0");
        let c = parse_capacity("cpu=500m,memory=1.5G,hugepages-2Mi=1Gi").unwrap();
        assert_eq!(c.cpu, "500m");
        assert_eq!(c.resources()["hugepages-2Mi"], "1Gi");
        assert_eq!(parse_capacity("memory=1e9").unwrap().memory, "1e9");
    }

    #[test]
    fn capacity_errors() {
        for bad in [
            "cpu",
            "cpu=",
            "cpu=lots",
            "cpu=-1",
            "memory=1Gb",
            "memory=1..5Gi",
            "pods=1.5",
            "pods=10k",
            "gpus=1",
            "cpu=1e",
        ] {
            let e = parse_capacity(bad).unwrap_err();
            assert!(matches!(e, Error::InvalidCapacity { .. }), "{bad}: {e}");
        }
        let msg = parse_capacity("gpus=1").unwrap_err().to_string();
        assert!(msg.contains("unknown resource \"gpus\""), "{msg}");
    }

    #[test]
    fn config_validation() {
        let mut c = SimConfig {
            count: 5000,
            ..SimConfig::default()
        };
        c.validate().unwrap();
        assert_eq!(c.node_name(7), "sim-node-7");
        c.count = 0;
        assert!(matches!(c.validate(), Err(Error::NoNodes)));
        c.count = 32769;
        assert!(matches!(c.validate(), Err(Error::TooManyNodes { .. })));
        c.count = 3;
        c.pod_cidr_base = "10.0.0.0/33".into();
        assert!(matches!(c.validate(), Err(Error::InvalidCidr(_))));
        c.pod_cidr_base = "10.0.0.0/23".into();
        assert!(matches!(c.validate(), Err(Error::TooManyNodes { .. })));
        c.pod_cidr_base = "10.0.0.0/16".into();
        c.validate().unwrap();
        for bad in ["", "Sim", "-x", "a_b", "a b"] {
            c.name_prefix = bad.into();
            assert!(
                matches!(c.validate(), Err(Error::InvalidNamePrefix(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn backoff_is_bounded() {
        assert_eq!(backoff(1), Duration::from_millis(100));
        assert_eq!(backoff(30), Duration::from_secs(5));
    }
}
