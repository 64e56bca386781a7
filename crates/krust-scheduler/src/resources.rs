//! Resource accounting: node allocatable and pod requests as upstream's `framework.Resource`
//! (milli-CPU, bytes of memory and ephemeral storage, allowed pod count, scalar resources such
//! as `nvidia.com/gpu` or `hugepages-2Mi`), and a pod's effective requests as
//! `resourcehelper.PodRequests` computes them: the larger of the sum over containers and the
//! largest init container (restartable "sidecar" init containers accumulate), plus overhead.

use k8s_openapi::api::core::v1::{Container, PodSpec};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use std::collections::BTreeMap;

/// Upstream's `DefaultMilliCPURequest`: what scoring assumes for a container without a CPU
/// request.
pub const DEFAULT_MILLI_CPU_REQUEST: i64 = 100;
/// Upstream's `DefaultMemoryRequest` (200 MiB).
pub const DEFAULT_MEMORY_REQUEST: i64 = 200 * 1024 * 1024;

/// An amount of every resource the scheduler tracks.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Resource {
    pub milli_cpu: i64,
    pub memory: i64,
    pub ephemeral_storage: i64,
    /// `pods` of a node's allocatable; unused for pod requests.
    pub allowed_pod_number: i64,
    /// Extended, hugepages and attachable-volume resources, sorted by name.
    pub scalar: Vec<(String, i64)>,
}

/// Whether upstream counts `name` as a scalar resource (extended resources such as
/// `example.com/dongle`, `*kubernetes.io/*` prefixed resources, `hugepages-*`,
/// `attachable-volumes-*`).
pub fn is_scalar_resource_name(name: &str) -> bool {
    (name.contains('/') && !name.starts_with("requests."))
        || name.starts_with("hugepages-")
        || name.starts_with("attachable-volumes-")
}

/// Whole units of a quantity string; unparsable quantities count as zero.
pub fn quantity_value(q: &Quantity) -> i64 {
    krust_api::quantity::Quantity::parse(&q.0)
        .map(|q| q.value())
        .unwrap_or(0)
}

/// Thousandths of a unit of a quantity string; unparsable quantities count as zero.
pub fn quantity_milli_value(q: &Quantity) -> i64 {
    krust_api::quantity::Quantity::parse(&q.0)
        .map(|q| q.milli_value())
        .unwrap_or(0)
}

impl Resource {
    /// A node's allocatable (or capacity) list.
    pub fn from_list(list: &BTreeMap<String, Quantity>) -> Resource {
        let mut r = Resource::default();
        for (name, q) in list {
            match name.as_str() {
                "cpu" => r.milli_cpu = quantity_milli_value(q),
                "memory" => r.memory = quantity_value(q),
                "ephemeral-storage" => r.ephemeral_storage = quantity_value(q),
                "pods" => r.allowed_pod_number = quantity_value(q),
                other if is_scalar_resource_name(other) => r.set_scalar(other, quantity_value(q)),
                _ => {}
            }
        }
        r
    }

    /// The amount of a scalar resource (zero when absent).
    pub fn scalar(&self, name: &str) -> i64 {
        self.scalar
            .binary_search_by(|(n, _)| n.as_str().cmp(name))
            .map(|i| self.scalar[i].1)
            .unwrap_or(0)
    }

    /// Sets a scalar resource.
    pub fn set_scalar(&mut self, name: &str, v: i64) {
        match self.scalar.binary_search_by(|(n, _)| n.as_str().cmp(name)) {
            Ok(i) => self.scalar[i].1 = v,
            Err(i) => self.scalar.insert(i, (name.to_string(), v)),
        }
    }

    /// Whether nothing is requested.
    pub fn is_zero(&self) -> bool {
        self.milli_cpu == 0
            && self.memory == 0
            && self.ephemeral_storage == 0
            && self.scalar.iter().all(|(_, v)| *v == 0)
    }

    /// Adds another amount (saturating).
    pub fn add(&mut self, o: &Resource) {
        self.milli_cpu = self.milli_cpu.saturating_add(o.milli_cpu);
        self.memory = self.memory.saturating_add(o.memory);
        self.ephemeral_storage = self.ephemeral_storage.saturating_add(o.ephemeral_storage);
        self.allowed_pod_number = self.allowed_pod_number.saturating_add(o.allowed_pod_number);
        for (n, v) in &o.scalar {
            let cur = self.scalar(n);
            self.set_scalar(n, cur.saturating_add(*v));
        }
    }

    /// Subtracts another amount (saturating).
    pub fn sub(&mut self, o: &Resource) {
        self.milli_cpu = self.milli_cpu.saturating_sub(o.milli_cpu);
        self.memory = self.memory.saturating_sub(o.memory);
        self.ephemeral_storage = self.ephemeral_storage.saturating_sub(o.ephemeral_storage);
        self.allowed_pod_number = self.allowed_pod_number.saturating_sub(o.allowed_pod_number);
        for (n, v) in &o.scalar {
            let cur = self.scalar(n);
            self.set_scalar(n, cur.saturating_sub(*v));
        }
    }

    /// Raises every dimension to at least `o`'s.
    pub fn set_max(&mut self, o: &Resource) {
        self.milli_cpu = self.milli_cpu.max(o.milli_cpu);
        self.memory = self.memory.max(o.memory);
        self.ephemeral_storage = self.ephemeral_storage.max(o.ephemeral_storage);
        for (n, v) in &o.scalar {
            let cur = self.scalar(n);
            self.set_scalar(n, cur.max(*v));
        }
    }
}

/// A pod's requests as the scheduler uses them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PodRequests {
    /// Exact requests (NodeResourcesFit filtering, node accounting).
    pub requests: Resource,
    /// CPU with upstream's 100m default for containers that request none (scoring).
    pub non_zero_milli_cpu: i64,
    /// Memory with upstream's 200Mi default for containers that request none (scoring).
    pub non_zero_memory: i64,
}

/// One container's requests; a resource with a limit and no request requests its limit, as the
/// API server's defaulting sets it. With `non_zero`, missing CPU and memory get the defaults.
fn container_requests(c: &Container, non_zero: bool) -> Resource {
    let mut r = Resource::default();
    let mut has_cpu = false;
    let mut has_mem = false;
    let res = c.resources.as_ref();
    let requests = res.and_then(|r| r.requests.as_ref());
    let limits = res.and_then(|r| r.limits.as_ref());
    let mut apply = |name: &str, q: &Quantity, r: &mut Resource| match name {
        "cpu" => {
            has_cpu = true;
            r.milli_cpu = quantity_milli_value(q);
        }
        "memory" => {
            has_mem = true;
            r.memory = quantity_value(q);
        }
        "ephemeral-storage" => r.ephemeral_storage = quantity_value(q),
        other if is_scalar_resource_name(other) => r.set_scalar(other, quantity_value(q)),
        _ => {}
    };
    if let Some(req) = requests {
        for (n, q) in req {
            apply(n, q, &mut r);
        }
    }
    if let Some(lim) = limits {
        for (n, q) in lim {
            if requests.is_none_or(|req| !req.contains_key(n)) {
                apply(n, q, &mut r);
            }
        }
    }
    if non_zero {
        if !has_cpu {
            r.milli_cpu = DEFAULT_MILLI_CPU_REQUEST;
        }
        if !has_mem {
            r.memory = DEFAULT_MEMORY_REQUEST;
        }
    }
    r
}

fn aggregate(spec: &PodSpec, non_zero: bool) -> Resource {
    let mut reqs = Resource::default();
    for c in &spec.containers {
        reqs.add(&container_requests(c, non_zero));
    }
    let mut restartable = Resource::default();
    let mut init_max = Resource::default();
    for c in spec.init_containers.iter().flatten() {
        let mut cr = container_requests(c, non_zero);
        if c.restart_policy.as_deref() == Some("Always") {
            reqs.add(&cr);
            restartable.add(&cr);
            cr = restartable.clone();
        } else {
            cr.add(&restartable);
        }
        init_max.set_max(&cr);
    }
    reqs.set_max(&init_max);
    if let Some(overhead) = &spec.overhead {
        let mut o = Resource::from_list(overhead);
        o.allowed_pod_number = 0;
        reqs.add(&o);
    }
    reqs
}

/// The requests of a pod spec, as upstream computes them.
pub fn pod_requests(spec: &PodSpec) -> PodRequests {
    let requests = aggregate(spec, false);
    let nz = aggregate(spec, true);
    PodRequests {
        requests,
        non_zero_milli_cpu: nz.milli_cpu,
        non_zero_memory: nz.memory,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{container, init_container, sidecar};

    #[test]
    fn requests_table() {
        struct Case {
            name: &'static str,
            spec: PodSpec,
            cpu: i64,
            mem: i64,
            nz_cpu: i64,
            nz_mem: i64,
        }
        let gi = 1i64 << 30;
        let cases = vec![
            Case {
                name: "sum of containers",
                spec: PodSpec {
                    containers: vec![container("500m", "1Gi"), container("1", "1Gi")],
                    ..Default::default()
                },
                cpu: 1500,
                mem: 2 * gi,
                nz_cpu: 1500,
                nz_mem: 2 * gi,
            },
            Case {
                name: "init container larger than sum",
                spec: PodSpec {
                    containers: vec![container("1", "1Gi"), container("500m", "1Gi")],
                    init_containers: Some(vec![init_container("2", "1Gi")]),
                    ..Default::default()
                },
                cpu: 2000,
                mem: 2 * gi,
                nz_cpu: 2000,
                nz_mem: 2 * gi,
            },
            Case {
                name: "sidecar accumulates",
                spec: PodSpec {
                    containers: vec![container("1", "1Gi")],
                    init_containers: Some(vec![sidecar("500m", "1Gi"), init_container("1", "1Gi")]),
                    ..Default::default()
                },
                cpu: 1500,
                mem: 2 * gi,
                nz_cpu: 1500,
                nz_mem: 2 * gi,
            },
            Case {
                name: "empty requests get non-zero defaults for scoring",
                spec: PodSpec {
                    containers: vec![container("", ""), container("", "")],
                    ..Default::default()
                },
                cpu: 0,
                mem: 0,
                nz_cpu: 200,
                nz_mem: 2 * DEFAULT_MEMORY_REQUEST,
            },
            Case {
                name: "overhead added",
                spec: PodSpec {
                    containers: vec![container("1", "1Gi")],
                    overhead: Some(BTreeMap::from([
                        ("cpu".to_string(), Quantity("250m".into())),
                        ("memory".to_string(), Quantity("120Mi".into())),
                    ])),
                    ..Default::default()
                },
                cpu: 1250,
                mem: gi + (120 << 20),
                nz_cpu: 1250,
                nz_mem: gi + (120 << 20),
            },
        ];
        for c in cases {
            let r = pod_requests(&c.spec);
            assert_eq!(r.requests.milli_cpu, c.cpu, "{}", c.name);
            assert_eq!(r.requests.memory, c.mem, "{}", c.name);
            assert_eq!(r.non_zero_milli_cpu, c.nz_cpu, "{}", c.name);
            assert_eq!(r.non_zero_memory, c.nz_mem, "{}", c.name);
        }
    }

    #[test]
    fn limits_default_requests_and_scalars() {
        let mut c = container("", "");
        c.resources = Some(k8s_openapi::api::core::v1::ResourceRequirements {
            limits: Some(BTreeMap::from([
                ("cpu".to_string(), Quantity("2".into())),
                ("example.com/gpu".to_string(), Quantity("1".into())),
            ])),
            ..Default::default()
        });
        let r = pod_requests(&PodSpec {
            containers: vec![c],
            ..Default::default()
        });
        assert_eq!(r.requests.milli_cpu, 2000);
        assert_eq!(r.requests.scalar("example.com/gpu"), 1);
        assert_eq!(r.requests.memory, 0);
        let node = Resource::from_list(&BTreeMap::from([
            ("cpu".to_string(), Quantity("4".into())),
            ("pods".to_string(), Quantity("110".into())),
            ("hugepages-2Mi".to_string(), Quantity("0".into())),
            ("bogus".to_string(), Quantity("zzz".into())),
        ]));
        assert_eq!(node.milli_cpu, 4000);
        assert_eq!(node.allowed_pod_number, 110);
        assert_eq!(node.scalar.len(), 1);
    }
}
