//! Pod resources as upstream's kubelet maps them: the QoS class (`GetPodQOS`), a container's
//! CRI `LinuxContainerResources` (cpu shares from requests, CFS quota from limits, memory limit,
//! `oom_score_adj` by QoS), and the values `resourceFieldRef` exposes.

use k8s_cri::v1::LinuxContainerResources;
use k8s_openapi::api::core::v1::{Container, Pod};
use krust_api::quantity::Quantity;
use std::collections::BTreeMap;

/// CFS period the kubelet uses (100 ms).
pub const CPU_PERIOD: i64 = 100_000;
const MIN_SHARES: i64 = 2;
const MAX_SHARES: i64 = 262_144;
const SHARES_PER_CPU: i64 = 1024;
const MIN_QUOTA: i64 = 1000;
/// `oom_score_adj` of Guaranteed pods' containers.
pub const GUARANTEED_OOM_SCORE_ADJ: i64 = -997;
/// `oom_score_adj` of BestEffort pods' containers.
pub const BESTEFFORT_OOM_SCORE_ADJ: i64 = 1000;

/// A pod's QoS class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QosClass {
    Guaranteed,
    Burstable,
    BestEffort,
}

impl QosClass {
    /// The name in `status.qosClass`.
    pub fn as_str(self) -> &'static str {
        match self {
            QosClass::Guaranteed => "Guaranteed",
            QosClass::Burstable => "Burstable",
            QosClass::BestEffort => "BestEffort",
        }
    }

    /// The cgroup directory under the kubelet's parent (`""` for Guaranteed, as upstream).
    pub fn cgroup_dir(self) -> &'static str {
        match self {
            QosClass::Guaranteed => "",
            QosClass::Burstable => "burstable",
            QosClass::BestEffort => "besteffort",
        }
    }
}

fn quantity(
    map: Option<&BTreeMap<String, k8s_openapi::apimachinery::pkg::api::resource::Quantity>>,
    name: &str,
) -> Option<Quantity> {
    map.and_then(|m| m.get(name))
        .and_then(|q| Quantity::parse(&q.0).ok())
}

/// Milli-CPU requested and limited by `c` (None when unset).
pub fn cpu_milli(c: &Container) -> (Option<i64>, Option<i64>) {
    let r = c.resources.as_ref();
    (
        quantity(r.and_then(|r| r.requests.as_ref()), "cpu").map(|q| q.milli_value()),
        quantity(r.and_then(|r| r.limits.as_ref()), "cpu").map(|q| q.milli_value()),
    )
}

/// Memory bytes requested and limited by `c` (None when unset).
pub fn memory_bytes(c: &Container) -> (Option<i64>, Option<i64>) {
    let r = c.resources.as_ref();
    (
        quantity(r.and_then(|r| r.requests.as_ref()), "memory").map(|q| q.value()),
        quantity(r.and_then(|r| r.limits.as_ref()), "memory").map(|q| q.value()),
    )
}

/// The pod's QoS class (upstream's `GetPodQOS`, from cpu and memory only).
pub fn qos_class(pod: &Pod) -> QosClass {
    let Some(spec) = &pod.spec else {
        return QosClass::BestEffort;
    };
    let mut requests: BTreeMap<&str, i64> = BTreeMap::new();
    let mut limits: BTreeMap<&str, i64> = BTreeMap::new();
    let mut guaranteed = true;
    for c in spec
        .init_containers
        .iter()
        .flatten()
        .chain(spec.containers.iter())
    {
        let r = c.resources.as_ref();
        for name in ["cpu", "memory"] {
            if let Some(q) = quantity(r.and_then(|r| r.requests.as_ref()), name) {
                let v = q.milli_value();
                if v > 0 {
                    *requests.entry(name).or_default() += v;
                }
            }
        }
        let mut found = 0;
        for name in ["cpu", "memory"] {
            if let Some(q) = quantity(r.and_then(|r| r.limits.as_ref()), name) {
                let v = q.milli_value();
                if v > 0 {
                    found += 1;
                    *limits.entry(name).or_default() += v;
                }
            }
        }
        if found < 2 {
            guaranteed = false;
        }
    }
    if requests.is_empty() && limits.is_empty() {
        return QosClass::BestEffort;
    }
    if guaranteed {
        for (name, req) in &requests {
            if limits.get(name) != Some(req) {
                guaranteed = false;
            }
        }
    }
    if guaranteed && requests.len() == limits.len() {
        QosClass::Guaranteed
    } else {
        QosClass::Burstable
    }
}

/// Upstream's `MilliCPUToShares`.
pub fn milli_cpu_to_shares(milli: i64) -> i64 {
    if milli == 0 {
        return MIN_SHARES;
    }
    (milli * SHARES_PER_CPU / 1000).clamp(MIN_SHARES, MAX_SHARES)
}

/// Upstream's `MilliCPUToQuota`.
pub fn milli_cpu_to_quota(milli: i64, period: i64) -> i64 {
    if milli == 0 {
        return 0;
    }
    (milli * period / 1000).max(MIN_QUOTA)
}

/// Upstream's `GetContainerOOMScoreAdjust`.
pub fn oom_score_adj(qos: QosClass, memory_request: i64, memory_capacity: i64) -> i64 {
    match qos {
        QosClass::Guaranteed => GUARANTEED_OOM_SCORE_ADJ,
        QosClass::BestEffort => BESTEFFORT_OOM_SCORE_ADJ,
        QosClass::Burstable => {
            if memory_capacity <= 0 {
                return BESTEFFORT_OOM_SCORE_ADJ - 1;
            }
            let adj = 1000 - (1000 * memory_request) / memory_capacity;
            if adj < 1000 + GUARANTEED_OOM_SCORE_ADJ {
                1000 + GUARANTEED_OOM_SCORE_ADJ
            } else if adj == BESTEFFORT_OOM_SCORE_ADJ {
                adj - 1
            } else {
                adj
            }
        }
    }
}

/// The CRI resources of container `c` in a pod of class `qos` on a node with
/// `memory_capacity` bytes.
pub fn linux_resources(
    c: &Container,
    qos: QosClass,
    memory_capacity: i64,
) -> LinuxContainerResources {
    let (cpu_req, cpu_lim) = cpu_milli(c);
    let (mem_req, mem_lim) = memory_bytes(c);
    let shares = match (cpu_req, cpu_lim) {
        (None, Some(l)) => milli_cpu_to_shares(l),
        (Some(r), _) => milli_cpu_to_shares(r),
        (None, None) => MIN_SHARES,
    };
    let mut res = LinuxContainerResources {
        cpu_shares: shares,
        memory_limit_in_bytes: mem_lim.unwrap_or(0),
        oom_score_adj: oom_score_adj(qos, mem_req.unwrap_or(0), memory_capacity),
        ..Default::default()
    };
    if let Some(l) = cpu_lim {
        res.cpu_period = CPU_PERIOD;
        res.cpu_quota = milli_cpu_to_quota(l, CPU_PERIOD);
    }
    res
}

/// The value a `resourceFieldRef` exposes: the container's request or limit (a limit that is
/// unset stands for the node's allocatable) divided by `divisor` and rounded up.
pub fn resource_field_value(
    c: &Container,
    resource: &str,
    divisor: Option<&str>,
    allocatable: &BTreeMap<String, String>,
) -> Result<String, String> {
    let (kind, name) = resource
        .split_once('.')
        .ok_or_else(|| format!("unsupported container resource : {resource}"))?;
    if !matches!(name, "cpu" | "memory" | "ephemeral-storage") && !name.starts_with("hugepages-") {
        return Err(format!("unsupported container resource : {resource}"));
    }
    let r = c.resources.as_ref();
    let value = match kind {
        "limits" => quantity(r.and_then(|r| r.limits.as_ref()), name)
            .or_else(|| allocatable.get(name).and_then(|v| Quantity::parse(v).ok())),
        "requests" => quantity(r.and_then(|r| r.requests.as_ref()), name),
        _ => return Err(format!("unsupported container resource : {resource}")),
    };
    let divisor = match divisor.filter(|d| !d.is_empty()) {
        Some(d) => Quantity::parse(d).map_err(|e| e.to_string())?,
        None => Quantity::parse("1").map_err(|e| e.to_string())?,
    };
    let Some(value) = value else {
        return Ok("0".into());
    };
    let out = if name == "cpu" {
        let d = divisor.milli_value().max(1);
        let v = value.milli_value();
        (v + d - 1).div_euclid(d)
    } else {
        let d = divisor.value().max(1);
        let v = value.value();
        (v + d - 1).div_euclid(d)
    };
    Ok(out.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(containers: serde_json::Value) -> Pod {
        serde_json::from_value(json!({"spec": {"containers": containers}})).unwrap()
    }

    #[test]
    fn classifies_qos() {
        assert_eq!(
            qos_class(&pod(json!([{"name": "a"}]))),
            QosClass::BestEffort
        );
        let g = pod(json!([{"name": "a", "resources": {
            "limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "1", "memory": "1Gi"}}}]));
        assert_eq!(qos_class(&g), QosClass::Guaranteed);
        let b = pod(json!([{"name": "a", "resources": {"requests": {"cpu": "100m"}}}]));
        assert_eq!(qos_class(&b), QosClass::Burstable);
        let b2 = pod(json!([{"name": "a", "resources": {
            "limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "500m", "memory": "1Gi"}}}]));
        assert_eq!(qos_class(&b2), QosClass::Burstable);
        let mixed = pod(json!([
            {"name": "a", "resources": {"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "1", "memory": "1Gi"}}},
            {"name": "b"}]));
        assert_eq!(qos_class(&mixed), QosClass::Burstable);
    }

    #[test]
    fn maps_resources_like_upstream() {
        assert_eq!(milli_cpu_to_shares(0), 2);
        assert_eq!(milli_cpu_to_shares(1), 2);
        assert_eq!(milli_cpu_to_shares(100), 102);
        assert_eq!(milli_cpu_to_shares(1000), 1024);
        assert_eq!(milli_cpu_to_quota(250, CPU_PERIOD), 25_000);
        assert_eq!(milli_cpu_to_quota(5, CPU_PERIOD), 1000);
        let c: Container = serde_json::from_value(json!({"name": "a", "resources": {
            "limits": {"cpu": "500m", "memory": "20Mi"}, "requests": {"cpu": "250m", "memory": "10Mi"}}}))
        .unwrap();
        let r = linux_resources(&c, QosClass::Burstable, 1 << 30);
        assert_eq!(r.cpu_shares, 256);
        assert_eq!(r.cpu_quota, 50_000);
        assert_eq!(r.cpu_period, 100_000);
        assert_eq!(r.memory_limit_in_bytes, 20 << 20);
        assert_eq!(r.oom_score_adj, 1000 - (1000 * (10 << 20)) / (1 << 30));
        assert_eq!(oom_score_adj(QosClass::Burstable, 0, 1 << 30), 999);
        assert_eq!(oom_score_adj(QosClass::Burstable, 1 << 30, 1 << 30), 3);
        assert_eq!(oom_score_adj(QosClass::Guaranteed, 0, 1), -997);
        assert_eq!(oom_score_adj(QosClass::BestEffort, 0, 1), 1000);
    }

    #[test]
    fn resource_field_values() {
        let c: Container = serde_json::from_value(json!({"name": "a", "resources": {
            "limits": {"memory": "64Mi"}, "requests": {"cpu": "250m"}}}))
        .unwrap();
        let alloc = BTreeMap::from([("cpu".to_string(), "2".to_string())]);
        assert_eq!(
            resource_field_value(&c, "limits.memory", Some("1Mi"), &alloc).unwrap(),
            "64"
        );
        assert_eq!(
            resource_field_value(&c, "limits.memory", None, &alloc).unwrap(),
            "67108864"
        );
        assert_eq!(
            resource_field_value(&c, "requests.cpu", Some("1m"), &alloc).unwrap(),
            "250"
        );
        assert_eq!(
            resource_field_value(&c, "requests.cpu", None, &alloc).unwrap(),
            "1"
        );
        assert_eq!(
            resource_field_value(&c, "limits.cpu", None, &alloc).unwrap(),
            "2"
        );
        assert!(resource_field_value(&c, "limits.gpu", None, &alloc).is_err());
    }
}
