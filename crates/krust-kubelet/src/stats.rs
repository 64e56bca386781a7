//! Resource statistics of the node, its pods and their containers, in the shape of upstream's
//! Summary API (`/stats/summary`, served by [`crate::server::stats`]; the API server's
//! `metrics.k8s.io` and so `kubectl top` read it).
//!
//! A background task samples every [`SAMPLE_PERIOD`], as cAdvisor's housekeeping does:
//! - the node: CPU from `/proc/stat`, memory from `/proc/meminfo` and `/proc/vmstat`
//!   (working set = total - available, as upstream's node summary), the agent directory's
//!   filesystem (`df`) and the interfaces of `/proc/net/dev`;
//! - pods and containers: the runtime's CRI stats (`ListPodSandboxStats`,
//!   `ListContainerStats`) when it fills them, else their cgroups: cgroup v1 (`cpuacct.usage`,
//!   `memory.usage_in_bytes`, `memory.stat`) or v2 (`cpu.stat`, `memory.current`,
//!   `memory.stat`), working set = usage - inactive file. A pod's cgroup is
//!   `<parent>[/burstable|/besteffort]/pod<uid>`, a container's is the pod's `/<container id>`
//!   (containerd with cgroupfs). containerd 1.6 fills both CRI calls (cumulative CPU, memory,
//!   and the pod network's interfaces) but no CPU rate for containers.
//!
//! CPU rates (`usageNanoCores`) come from the previous sample of the same cgroup: the first
//! sample of a new container has none yet. File readers take their roots from [`Host`], so
//! tests run on fake `/proc` and `/sys/fs/cgroup` trees.

use crate::cri::{self, Cri};
use crate::runtime::LABEL_CONTAINER_NAME;
use k8s_cri::v1 as api;
use k8s_openapi::jiff::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Mutex, watch};

/// How often the collector samples (the CPU rate window).
pub const SAMPLE_PERIOD: Duration = Duration::from_secs(10);
/// Kernel clock ticks per second of `/proc/stat` (`USER_HZ`, 100 on every Linux ABI).
const USER_HZ: u64 = 100;
/// cgroup v1 memory limits at or above this mean "no limit".
const NO_LIMIT: u64 = 1 << 62;

// ---------------------------------------------------------------------------------------------
// The Summary API (k8s.io/kubelet/pkg/apis/stats/v1alpha1), the fields krust fills.

/// `/stats/summary`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    pub node: NodeStats,
    pub pods: Vec<PodStats>,
}

/// The node's statistics.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeStats {
    pub node_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu: Option<CpuStats>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory: Option<MemoryStats>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network: Option<NetworkStats>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fs: Option<FsStats>,
}

/// CPU usage: cumulative and the rate over the last sample window.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CpuStats {
    pub time: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage_nano_cores: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage_core_nano_seconds: Option<u64>,
}

/// Memory usage.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MemoryStats {
    pub time: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub available_bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage_bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub working_set_bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rss_bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub page_faults: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub major_page_faults: Option<u64>,
}

/// A filesystem's usage.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FsStats {
    pub time: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub available_bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub capacity_bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub used_bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inodes_free: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inodes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inodes_used: Option<u64>,
}

/// One network interface's counters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InterfaceStats {
    pub name: String,
    pub rx_bytes: u64,
    pub rx_errors: u64,
    pub tx_bytes: u64,
    pub tx_errors: u64,
}

/// Network usage: the default interface's counters inline, and every interface.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NetworkStats {
    pub time: String,
    #[serde(flatten)]
    pub default: InterfaceStats,
    pub interfaces: Vec<InterfaceStats>,
}

/// A pod's statistics.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodStats {
    pub pod_ref: PodReference,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_time: Option<String>,
    pub containers: Vec<ContainerStats>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu: Option<CpuStats>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory: Option<MemoryStats>,
    /// The pod network namespace's interfaces (when the runtime reports them).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network: Option<NetworkStats>,
}

/// Which pod.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PodReference {
    pub name: String,
    pub namespace: String,
    pub uid: String,
}

/// A container's statistics.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerStats {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu: Option<CpuStats>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory: Option<MemoryStats>,
}

impl Summary {
    /// The summary without filesystem and network figures (`only_cpu_and_memory=true`).
    pub fn cpu_and_memory(&self) -> Summary {
        let mut s = self.clone();
        s.node.fs = None;
        s.node.network = None;
        for p in &mut s.pods {
            p.network = None;
        }
        s
    }
}

// ---------------------------------------------------------------------------------------------
// Readings.

/// Memory figures of one cgroup (or the node), in bytes and counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Memory {
    pub usage: Option<u64>,
    pub working_set: Option<u64>,
    pub rss: Option<u64>,
    pub page_faults: Option<u64>,
    pub major_page_faults: Option<u64>,
    pub available: Option<u64>,
}

/// One reading of a cgroup (or the node).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// Cumulative CPU time, nanoseconds.
    pub cpu_ns: Option<u64>,
    /// When the CPU time was read (nanoseconds since the epoch), if not at the sample time.
    pub cpu_at: Option<i128>,
    pub memory: Option<Memory>,
}

impl Usage {
    fn is_empty(&self) -> bool {
        self.cpu_ns.is_none() && self.memory.is_none()
    }

    /// `self`, with what it lacks taken from `other`.
    fn or(self, other: Usage) -> Usage {
        Usage {
            cpu_ns: self.cpu_ns.or(other.cpu_ns),
            cpu_at: if self.cpu_ns.is_some() {
                self.cpu_at
            } else {
                other.cpu_at
            },
            memory: match (self.memory, other.memory) {
                (Some(m), Some(o)) => Some(Memory {
                    usage: m.usage.or(o.usage),
                    working_set: m.working_set.or(o.working_set),
                    rss: m.rss.or(o.rss),
                    page_faults: m.page_faults.or(o.page_faults),
                    major_page_faults: m.major_page_faults.or(o.major_page_faults),
                    available: m.available.or(o.available),
                }),
                (m, o) => m.or(o),
            },
        }
    }
}

/// A `key value` line file (`memory.stat`, `cpu.stat`, `/proc/vmstat`): the value of `key`.
pub fn flat_field(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let mut parts = l.split_whitespace();
        (parts.next()? == key).then_some(())?;
        parts.next()?.parse().ok()
    })
}

/// A `/proc/meminfo` field, in bytes.
pub fn meminfo_bytes(text: &str, name: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let rest = l.strip_prefix(name)?.strip_prefix(':')?;
        let mut parts = rest.split_whitespace();
        let n: u64 = parts.next()?.parse().ok()?;
        Some(match parts.next() {
            Some("kB") => n.saturating_mul(1024),
            _ => n,
        })
    })
}

/// `/proc/stat`: the node's busy CPU time in nanoseconds (user, nice, system, irq, softirq,
/// steal; guest time is already in user) and the boot time in seconds since the epoch.
pub fn parse_proc_stat(text: &str) -> (Option<u64>, Option<i64>) {
    let mut cpu = None;
    let mut btime = None;
    for l in text.lines() {
        let mut parts = l.split_whitespace();
        match parts.next() {
            Some("cpu") => {
                let v: Vec<u64> = parts.map(|p| p.parse().unwrap_or(0)).collect();
                let at = |i: usize| v.get(i).copied().unwrap_or(0);
                // user nice system idle iowait irq softirq steal
                let busy = [0, 1, 2, 5, 6, 7]
                    .iter()
                    .fold(0u64, |acc, i| acc.saturating_add(at(*i)));
                if !v.is_empty() {
                    cpu = Some(busy.saturating_mul(1_000_000_000 / USER_HZ));
                }
            }
            Some("btime") => btime = parts.next().and_then(|v| v.parse().ok()),
            _ => {}
        }
    }
    (cpu, btime)
}

/// `/proc/net/dev`: every interface but loopback.
pub fn parse_net_dev(text: &str) -> Vec<InterfaceStats> {
    text.lines()
        .filter_map(|l| {
            let (name, rest) = l.split_once(':')?;
            let name = name.trim();
            if name.is_empty() || name == "lo" {
                return None;
            }
            let v: Vec<u64> = rest
                .split_whitespace()
                .map(|p| p.parse().unwrap_or(0))
                .collect();
            if v.len() < 11 {
                return None;
            }
            Some(InterfaceStats {
                name: name.to_string(),
                rx_bytes: v[0],
                rx_errors: v[2],
                tx_bytes: v[8],
                tx_errors: v[10],
            })
        })
        .collect()
}

/// `/proc/net/route`: the interface of the default route.
pub fn default_interface(text: &str) -> Option<String> {
    text.lines().skip(1).find_map(|l| {
        let mut parts = l.split_whitespace();
        let iface = parts.next()?;
        (parts.next()? == "00000000").then(|| iface.to_string())
    })
}

/// Where the node's figures are read: `/proc` and `/sys/fs/cgroup`, or fakes in tests.
#[derive(Debug, Clone)]
pub struct Host {
    pub proc_root: PathBuf,
    pub cgroup_root: PathBuf,
}

impl Default for Host {
    fn default() -> Self {
        Host {
            proc_root: PathBuf::from("/proc"),
            cgroup_root: PathBuf::from("/sys/fs/cgroup"),
        }
    }
}

/// `base` joined with a cgroup path (`/kubepods/pod1`), refusing anything but plain names.
fn cgroup_dir(base: &Path, rel: &str) -> Option<PathBuf> {
    let rel = Path::new(rel.trim_start_matches('/'));
    if rel
        .components()
        .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir))
    {
        return None;
    }
    Some(base.join(rel))
}

fn read(path: &Path) -> Option<String> {
    std::fs::read_to_string(path).ok()
}

fn read_u64(path: &Path) -> Option<u64> {
    read(path)?.trim().parse().ok()
}

impl Host {
    /// Whether the cgroup tree is the unified (v2) one; hybrid v1 trees count as v1.
    pub fn cgroup_v2(&self) -> bool {
        self.cgroup_root.join("cgroup.controllers").is_file()
    }

    /// The directories of cgroup `rel` holding CPU and memory figures.
    fn cgroup_dirs(&self, rel: &str) -> Option<(PathBuf, PathBuf)> {
        if self.cgroup_v2() {
            let d = cgroup_dir(&self.cgroup_root, rel)?;
            return Some((d.clone(), d));
        }
        let cpu = ["cpuacct", "cpu,cpuacct", "cpuacct,cpu"]
            .iter()
            .map(|h| self.cgroup_root.join(h))
            .find(|p| p.is_dir())
            .unwrap_or_else(|| self.cgroup_root.join("cpuacct"));
        Some((
            cgroup_dir(&cpu, rel)?,
            cgroup_dir(&self.cgroup_root.join("memory"), rel)?,
        ))
    }

    /// Whether cgroup `rel` exists.
    pub fn cgroup_exists(&self, rel: &str) -> bool {
        self.cgroup_dirs(rel)
            .is_some_and(|(cpu, mem)| cpu.is_dir() || mem.is_dir())
    }

    /// The CPU and memory figures of cgroup `rel` (`None` when it does not exist).
    pub fn cgroup_usage(&self, rel: &str) -> Option<Usage> {
        let (cpu_dir, mem_dir) = self.cgroup_dirs(rel)?;
        let usage = if self.cgroup_v2() {
            let cpu_ns = read(&cpu_dir.join("cpu.stat"))
                .and_then(|t| flat_field(&t, "usage_usec"))
                .map(|us| us.saturating_mul(1000));
            let memory = read_u64(&mem_dir.join("memory.current")).map(|usage| {
                let stat = read(&mem_dir.join("memory.stat")).unwrap_or_default();
                let limit = read(&mem_dir.join("memory.max")).and_then(|t| t.trim().parse().ok());
                memory_of(
                    usage,
                    flat_field(&stat, "inactive_file"),
                    flat_field(&stat, "anon"),
                    flat_field(&stat, "pgfault"),
                    flat_field(&stat, "pgmajfault"),
                    limit,
                )
            });
            Usage {
                cpu_ns,
                cpu_at: None,
                memory,
            }
        } else {
            let cpu_ns = read_u64(&cpu_dir.join("cpuacct.usage"));
            let memory = read_u64(&mem_dir.join("memory.usage_in_bytes")).map(|usage| {
                let stat = read(&mem_dir.join("memory.stat")).unwrap_or_default();
                let field = |k: &str| {
                    flat_field(&stat, &format!("total_{k}")).or_else(|| flat_field(&stat, k))
                };
                let limit = read_u64(&mem_dir.join("memory.limit_in_bytes"));
                memory_of(
                    usage,
                    field("inactive_file"),
                    field("rss"),
                    field("pgfault"),
                    field("pgmajfault"),
                    limit,
                )
            });
            Usage {
                cpu_ns,
                cpu_at: None,
                memory,
            }
        };
        (!usage.is_empty()).then_some(usage)
    }

    /// The cgroup of pod `uid` under `parent`: `<parent>[/burstable|/besteffort]/pod<uid>`.
    pub fn pod_cgroup(&self, parent: &str, uid: &str) -> Option<String> {
        if uid.is_empty() || uid.contains('/') {
            return None;
        }
        let parent = parent.trim_end_matches('/');
        ["", "/burstable", "/besteffort"]
            .iter()
            .map(|qos| format!("{parent}{qos}/pod{uid}"))
            .find(|rel| self.cgroup_exists(rel))
    }

    /// The cgroup of container `id` in pod cgroup `pod`: `<pod>/<id>`, or a child named
    /// after the id (`cri-containerd-<id>.scope`).
    pub fn container_cgroup(&self, pod: &str, id: &str) -> Option<String> {
        if id.is_empty() || id.contains('/') {
            return None;
        }
        let direct = format!("{}/{id}", pod.trim_end_matches('/'));
        if self.cgroup_exists(&direct) {
            return Some(direct);
        }
        let (cpu, mem) = self.cgroup_dirs(pod)?;
        [cpu, mem].iter().find_map(|dir| {
            std::fs::read_dir(dir).ok()?.flatten().find_map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                (e.path().is_dir() && name.contains(id))
                    .then(|| format!("{}/{name}", pod.trim_end_matches('/')))
            })
        })
    }

    /// The node's CPU time and memory.
    pub fn node_usage(&self) -> Usage {
        let (cpu_ns, _) = read(&self.proc_root.join("stat"))
            .map(|t| parse_proc_stat(&t))
            .unwrap_or((None, None));
        let memory = read(&self.proc_root.join("meminfo")).and_then(|t| {
            let total = meminfo_bytes(&t, "MemTotal")?;
            let free = meminfo_bytes(&t, "MemFree").unwrap_or(0);
            let available = meminfo_bytes(&t, "MemAvailable").unwrap_or(free);
            let vmstat = read(&self.proc_root.join("vmstat")).unwrap_or_default();
            Some(Memory {
                usage: Some(total.saturating_sub(free)),
                working_set: Some(total.saturating_sub(available)),
                rss: meminfo_bytes(&t, "AnonPages"),
                page_faults: flat_field(&vmstat, "pgfault"),
                major_page_faults: flat_field(&vmstat, "pgmajfault"),
                available: Some(available),
            })
        });
        Usage {
            cpu_ns,
            cpu_at: None,
            memory,
        }
    }

    /// When the machine booted.
    pub fn boot_time(&self) -> Option<Timestamp> {
        let (_, btime) = parse_proc_stat(&read(&self.proc_root.join("stat"))?);
        Timestamp::from_second(btime?).ok()
    }

    /// The node's interfaces, the default route's first.
    pub fn network(&self, time: &str) -> Option<NetworkStats> {
        let interfaces = parse_net_dev(&read(&self.proc_root.join("net/dev"))?);
        let default_name = read(&self.proc_root.join("net/route"))
            .and_then(|t| default_interface(&t))
            .unwrap_or_default();
        let default = interfaces
            .iter()
            .find(|i| i.name == default_name)
            .or_else(|| interfaces.first())
            .cloned()?;
        Some(NetworkStats {
            time: time.to_string(),
            default,
            interfaces,
        })
    }
}

/// Memory figures from a cgroup's usage and `memory.stat` fields, as cAdvisor computes them.
fn memory_of(
    usage: u64,
    inactive_file: Option<u64>,
    rss: Option<u64>,
    page_faults: Option<u64>,
    major_page_faults: Option<u64>,
    limit: Option<u64>,
) -> Memory {
    let working_set = usage.saturating_sub(inactive_file.unwrap_or(0));
    Memory {
        usage: Some(usage),
        working_set: Some(working_set),
        rss,
        page_faults,
        major_page_faults,
        available: limit
            .filter(|l| *l < NO_LIMIT)
            .map(|l| l.saturating_sub(working_set)),
    }
}

// ---------------------------------------------------------------------------------------------
// Rates.

/// Previous CPU readings per cgroup, for `usageNanoCores`.
#[derive(Debug, Default)]
pub struct Rates {
    prev: HashMap<String, (i128, u64)>,
    next: HashMap<String, (i128, u64)>,
}

impl Rates {
    /// Records `cpu_ns` of `key` read at `at_ns` and returns the rate since its previous
    /// reading, in nanocores (`None` for a first reading or a reset counter).
    pub fn rate(&mut self, key: &str, at_ns: i128, cpu_ns: u64) -> Option<u64> {
        self.next.insert(key.to_string(), (at_ns, cpu_ns));
        let (prev_at, prev_cpu) = *self.prev.get(key)?;
        let dt = at_ns.checked_sub(prev_at).filter(|d| *d > 0)?;
        let used = cpu_ns.checked_sub(prev_cpu)?;
        let rate = i128::from(used).saturating_mul(1_000_000_000) / dt;
        Some(u64::try_from(rate).unwrap_or(u64::MAX))
    }

    /// Ends a sample: what was recorded becomes the previous readings (cgroups not seen any
    /// more are forgotten).
    pub fn finish(&mut self) {
        self.prev = std::mem::take(&mut self.next);
    }
}

// ---------------------------------------------------------------------------------------------
// Building a summary.

/// What the runtime reported for one sample.
#[derive(Debug, Clone, Default)]
pub struct RuntimeView {
    pub sandboxes: Vec<api::PodSandbox>,
    pub containers: Vec<api::Container>,
    pub container_stats: Vec<api::ContainerStats>,
    pub sandbox_stats: Vec<api::PodSandboxStats>,
}

/// What a summary is built for.
#[derive(Debug, Clone)]
pub struct StatsConfig {
    pub node_name: String,
    /// The kubelet's cgroup parent (`/kubepods`).
    pub cgroup_parent: String,
    /// A path on the filesystem reported as the node's (`<data-dir>/agent`).
    pub fs_path: PathBuf,
    pub host: Host,
}

fn rfc3339(t: Timestamp) -> String {
    krust_api::time::format_seconds(t)
}

fn timestamp_of(nanos: i128) -> Timestamp {
    Timestamp::from_nanosecond(nanos).unwrap_or_else(|_| Timestamp::now())
}

/// CPU and memory of a CRI stats answer (`None` parts when not filled in).
fn cri_usage(cpu: Option<&api::CpuUsage>, memory: Option<&api::MemoryUsage>) -> Usage {
    let v = |x: &Option<api::UInt64Value>| x.as_ref().map(|v| v.value);
    let cpu = cpu.filter(|c| c.usage_core_nano_seconds.is_some());
    Usage {
        cpu_ns: cpu.and_then(|c| v(&c.usage_core_nano_seconds)),
        cpu_at: cpu.map(|c| i128::from(c.timestamp)).filter(|t| *t > 0),
        memory: memory.filter(|m| m.working_set_bytes.is_some()).map(|m| {
            let working_set = v(&m.working_set_bytes);
            Memory {
                usage: v(&m.usage_bytes).filter(|u| *u > 0),
                working_set,
                rss: v(&m.rss_bytes).filter(|u| *u > 0),
                page_faults: v(&m.page_faults).filter(|u| *u > 0),
                major_page_faults: v(&m.major_page_faults).filter(|u| *u > 0),
                available: v(&m.available_bytes).filter(|u| *u > 0),
            }
        }),
    }
}

/// A pod's network figures from the runtime's sandbox stats.
fn cri_network(n: &api::NetworkUsage, now: Timestamp) -> Option<NetworkStats> {
    let iface = |i: &api::NetworkInterfaceUsage| {
        let v = |x: &Option<api::UInt64Value>| x.as_ref().map_or(0, |v| v.value);
        InterfaceStats {
            name: i.name.clone(),
            rx_bytes: v(&i.rx_bytes),
            rx_errors: v(&i.rx_errors),
            tx_bytes: v(&i.tx_bytes),
            tx_errors: v(&i.tx_errors),
        }
    };
    let default = n.default_interface.as_ref().map(iface)?;
    let time = if n.timestamp > 0 {
        timestamp_of(i128::from(n.timestamp))
    } else {
        now
    };
    Some(NetworkStats {
        time: rfc3339(time),
        interfaces: if n.interfaces.is_empty() {
            vec![default.clone()]
        } else {
            n.interfaces.iter().map(iface).collect()
        },
        default,
    })
}

/// The Summary API figures of one reading; `key` names its rate.
fn stats_of(
    usage: Usage,
    key: &str,
    now_ns: i128,
    rates: &mut Rates,
) -> (Option<CpuStats>, Option<MemoryStats>) {
    let time = rfc3339(timestamp_of(now_ns));
    let cpu = usage.cpu_ns.map(|total| {
        let at = usage.cpu_at.unwrap_or(now_ns);
        CpuStats {
            time: rfc3339(timestamp_of(at)),
            usage_nano_cores: rates.rate(key, at, total),
            usage_core_nano_seconds: Some(total),
        }
    });
    let memory = usage.memory.map(|m| MemoryStats {
        time,
        available_bytes: m.available,
        usage_bytes: m.usage,
        working_set_bytes: m.working_set,
        rss_bytes: m.rss,
        page_faults: m.page_faults,
        major_page_faults: m.major_page_faults,
    });
    (cpu, memory)
}

/// The sum of containers' readings (a pod whose own cgroup cannot be read).
fn sum_usage<'a>(parts: impl Iterator<Item = &'a Usage>) -> Usage {
    let mut out = Usage::default();
    for u in parts {
        if let Some(c) = u.cpu_ns {
            out.cpu_ns = Some(out.cpu_ns.unwrap_or(0).saturating_add(c));
        }
        if let Some(m) = u.memory {
            let o = out.memory.get_or_insert_with(Memory::default);
            let add = |a: Option<u64>, b: Option<u64>| match (a, b) {
                (None, None) => None,
                (a, b) => Some(a.unwrap_or(0).saturating_add(b.unwrap_or(0))),
            };
            o.usage = add(o.usage, m.usage);
            o.working_set = add(o.working_set, m.working_set);
            o.rss = add(o.rss, m.rss);
            o.page_faults = add(o.page_faults, m.page_faults);
            o.major_page_faults = add(o.major_page_faults, m.major_page_faults);
        }
    }
    out
}

/// Builds one summary: reads the node and the cgroups (blocking file reads) and computes rates
/// against the previous sample.
pub fn build_summary(
    cfg: &StatsConfig,
    view: &RuntimeView,
    rates: &mut Rates,
    now: Timestamp,
) -> Summary {
    let host = &cfg.host;
    let now_ns = now.as_nanosecond();
    let time = rfc3339(now);
    let (cpu, memory) = stats_of(host.node_usage(), "node", now_ns, rates);
    let node = NodeStats {
        node_name: cfg.node_name.clone(),
        start_time: host.boot_time().map(rfc3339),
        cpu,
        memory,
        network: host.network(&time),
        fs: filesystem(&cfg.fs_path, &time),
    };
    let container_stats: HashMap<&str, &api::ContainerStats> = view
        .container_stats
        .iter()
        .filter_map(|s| Some((s.attributes.as_ref()?.id.as_str(), s)))
        .collect();
    let sandbox_stats: HashMap<&str, &api::PodSandboxStats> = view
        .sandbox_stats
        .iter()
        .filter_map(|s| Some((s.attributes.as_ref()?.id.as_str(), s)))
        .collect();
    let mut pods = Vec::new();
    for sb in view
        .sandboxes
        .iter()
        .filter(|s| cri::sandbox_ready(s.state))
    {
        let Some(meta) = sb.metadata.as_ref() else {
            continue;
        };
        let pod_cg = host.pod_cgroup(&cfg.cgroup_parent, &meta.uid);
        let mut containers = Vec::new();
        let mut readings = Vec::new();
        let mut running: Vec<&api::Container> = view
            .containers
            .iter()
            .filter(|c| {
                c.pod_sandbox_id == sb.id
                    && cri::container_state(c.state) == api::ContainerState::ContainerRunning
            })
            .collect();
        running.sort_by_key(|c| c.created_at);
        for c in running {
            let name = c
                .labels
                .get(LABEL_CONTAINER_NAME)
                .cloned()
                .or_else(|| c.metadata.as_ref().map(|m| m.name.clone()))
                .unwrap_or_default();
            let from_cri = container_stats
                .get(c.id.as_str())
                .map(|s| cri_usage(s.cpu.as_ref(), s.memory.as_ref()))
                .unwrap_or_default();
            let from_cgroup = pod_cg
                .as_deref()
                .and_then(|p| host.container_cgroup(p, &c.id))
                .and_then(|cg| host.cgroup_usage(&cg))
                .unwrap_or_default();
            let usage = from_cri.or(from_cgroup);
            let (cpu, memory) = stats_of(usage, &format!("container/{}", c.id), now_ns, rates);
            readings.push(usage);
            containers.push(ContainerStats {
                name,
                start_time: crate::runtime::timestamp(c.created_at).map(rfc3339),
                cpu,
                memory,
            });
        }
        let linux = sandbox_stats
            .get(sb.id.as_str())
            .and_then(|s| s.linux.as_ref());
        let from_cri = linux
            .map(|l| cri_usage(l.cpu.as_ref(), l.memory.as_ref()))
            .unwrap_or_default();
        let network = linux
            .and_then(|l| l.network.as_ref())
            .and_then(|n| cri_network(n, now));
        let from_cgroup = pod_cg
            .as_deref()
            .and_then(|p| host.cgroup_usage(p))
            .unwrap_or_default();
        let usage = from_cri.or(from_cgroup).or(sum_usage(readings.iter()));
        let (cpu, memory) = stats_of(usage, &format!("pod/{}", meta.uid), now_ns, rates);
        pods.push(PodStats {
            pod_ref: PodReference {
                name: meta.name.clone(),
                namespace: meta.namespace.clone(),
                uid: meta.uid.clone(),
            },
            start_time: crate::runtime::timestamp(sb.created_at).map(rfc3339),
            containers,
            cpu,
            memory,
            network,
        });
    }
    pods.sort_by(|a, b| {
        (&a.pod_ref.namespace, &a.pod_ref.name).cmp(&(&b.pod_ref.namespace, &b.pod_ref.name))
    });
    rates.finish();
    Summary { node, pods }
}

/// The filesystem holding `path`.
fn filesystem(path: &Path, time: &str) -> Option<FsStats> {
    let fs = crate::machine::filesystem(path)?;
    Some(FsStats {
        time: time.to_string(),
        capacity_bytes: Some(fs.size),
        available_bytes: Some(fs.available),
        used_bytes: Some(fs.used),
        inodes: Some(fs.inodes),
        inodes_free: Some(fs.inodes_free),
        inodes_used: Some(fs.inodes.saturating_sub(fs.inodes_free)),
    })
}

// ---------------------------------------------------------------------------------------------
// The collector.

struct State {
    rates: Rates,
    /// The runtime answered `Unimplemented` to `ListPodSandboxStats`: not asked again.
    no_sandbox_stats: bool,
}

/// Samples periodically and keeps the newest summary.
pub struct Collector {
    cfg: Arc<StatsConfig>,
    cri: Cri,
    latest: watch::Sender<Option<Arc<Summary>>>,
    state: Mutex<State>,
}

impl Collector {
    /// A collector; [`Collector::start`] also runs its sampling task.
    pub fn new(cri: Cri, cfg: StatsConfig) -> Arc<Collector> {
        Arc::new(Collector {
            cfg: Arc::new(cfg),
            cri,
            latest: watch::channel(None).0,
            state: Mutex::new(State {
                rates: Rates::default(),
                no_sandbox_stats: false,
            }),
        })
    }

    /// A collector sampling every [`SAMPLE_PERIOD`] until the process ends.
    pub fn start(cri: Cri, cfg: StatsConfig) -> Arc<Collector> {
        let c = Self::new(cri, cfg);
        let task = c.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(SAMPLE_PERIOD);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                task.sample().await;
            }
        });
        c
    }

    /// The newest summary (sampled now when there is none yet).
    pub async fn summary(&self) -> Arc<Summary> {
        if let Some(s) = self.latest.borrow().clone() {
            return s;
        }
        self.sample().await
    }

    /// Takes one sample and publishes it.
    pub async fn sample(&self) -> Arc<Summary> {
        let mut state = self.state.lock().await;
        let mut view = RuntimeView::default();
        match self.cri.list_pod_sandboxes(HashMap::new()).await {
            Ok(s) => view.sandboxes = s,
            Err(e) => tracing::debug!(error = %e, "stats: listing sandboxes failed"),
        }
        match self.cri.list_containers(HashMap::new()).await {
            Ok(c) => view.containers = c,
            Err(e) => tracing::debug!(error = %e, "stats: listing containers failed"),
        }
        match self.cri.list_container_stats().await {
            Ok(s) => view.container_stats = s,
            Err(e) => tracing::debug!(error = %e, "stats: ListContainerStats failed"),
        }
        if !state.no_sandbox_stats {
            match self.cri.list_pod_sandbox_stats().await {
                Ok(s) => view.sandbox_stats = s,
                Err(e) => {
                    if e.code() == Some(tonic::Code::Unimplemented) {
                        state.no_sandbox_stats = true;
                    }
                    tracing::debug!(error = %e, "stats: ListPodSandboxStats failed");
                }
            }
        }
        let cfg = self.cfg.clone();
        let mut rates = std::mem::take(&mut state.rates);
        let built = tokio::task::spawn_blocking(move || {
            let s = build_summary(&cfg, &view, &mut rates, Timestamp::now());
            (s, rates)
        })
        .await;
        let summary = match built {
            Ok((s, rates)) => {
                state.rates = rates;
                Arc::new(s)
            }
            Err(e) => {
                tracing::warn!(error = %e, "stats: sampling failed");
                Arc::new(Summary {
                    node: NodeStats {
                        node_name: self.cfg.node_name.clone(),
                        ..Default::default()
                    },
                    pods: Vec::new(),
                })
            }
        };
        self.latest.send_replace(Some(summary.clone()));
        summary
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(root: &Path, rel: &str, text: &str) {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    fn fake_proc(root: &Path, busy_ticks: u64) {
        write(
            root,
            "proc/stat",
            &format!(
                "cpu  {busy_ticks} 0 0 5000 20 0 0 0 0 0\ncpu0 1 0 0 1 0 0 0 0 0 0\nintr 1\nbtime 1700000000\n"
            ),
        );
        write(
            root,
            "proc/meminfo",
            "MemTotal:        8000000 kB\nMemFree:         2000000 kB\nMemAvailable:    5000000 kB\nAnonPages:       1000000 kB\n",
        );
        write(root, "proc/vmstat", "pgfault 1234\npgmajfault 5\n");
        write(
            root,
            "proc/net/dev",
            "Inter-|   Receive                                                |  Transmit\n face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n    lo: 100 1 0 0 0 0 0 0 100 1 0 0 0 0 0 0\n  eth0: 5000 10 1 0 0 0 0 0 7000 12 2 0 0 0 0 0\n",
        );
        write(
            root,
            "proc/net/route",
            "Iface\tDestination\tGateway\tFlags\nkr0\t00002A0A\t00000000\t0001\neth0\t00000000\t0100A8C0\t0003\n",
        );
    }

    fn v1_cgroup(root: &Path, rel: &str, cpu_ns: u64, usage: u64, inactive: u64) {
        write(
            root,
            &format!("cg/cpuacct/{rel}/cpuacct.usage"),
            &format!("{cpu_ns}\n"),
        );
        write(
            root,
            &format!("cg/memory/{rel}/memory.usage_in_bytes"),
            &format!("{usage}\n"),
        );
        write(
            root,
            &format!("cg/memory/{rel}/memory.limit_in_bytes"),
            "9223372036854771712\n",
        );
        write(
            root,
            &format!("cg/memory/{rel}/memory.stat"),
            &format!(
                "cache 1\nrss 2\ninactive_file 3\ntotal_cache 10\ntotal_rss {}\ntotal_inactive_file {inactive}\ntotal_pgfault 40\ntotal_pgmajfault 1\n",
                usage / 2
            ),
        );
    }

    fn host(root: &Path) -> Host {
        Host {
            proc_root: root.join("proc"),
            cgroup_root: root.join("cg"),
        }
    }

    fn sandbox(id: &str, name: &str, uid: &str) -> api::PodSandbox {
        api::PodSandbox {
            id: id.into(),
            metadata: Some(api::PodSandboxMetadata {
                name: name.into(),
                uid: uid.into(),
                namespace: "default".into(),
                attempt: 0,
            }),
            state: api::PodSandboxState::SandboxReady as i32,
            created_at: 1_700_000_100_000_000_000,
            ..Default::default()
        }
    }

    fn container(id: &str, sandbox: &str, name: &str) -> api::Container {
        api::Container {
            id: id.into(),
            pod_sandbox_id: sandbox.into(),
            metadata: Some(api::ContainerMetadata {
                name: name.into(),
                attempt: 0,
            }),
            state: api::ContainerState::ContainerRunning as i32,
            created_at: 1_700_000_200_000_000_000,
            labels: [(LABEL_CONTAINER_NAME.to_string(), name.to_string())].into(),
            ..Default::default()
        }
    }

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_second(secs).unwrap()
    }

    #[test]
    fn parsers_take_only_what_they_understand() {
        assert_eq!(flat_field("a 1\nusage_usec 42\n", "usage_usec"), Some(42));
        assert_eq!(flat_field("usage_usec x\n", "usage_usec"), None);
        assert_eq!(meminfo_bytes("MemTotal: 2 kB\n", "MemTotal"), Some(2048));
        assert_eq!(
            meminfo_bytes("MemTotal: 99999999999999999 kB\n", "MemTotal"),
            Some(u64::MAX)
        );
        assert_eq!(parse_proc_stat("garbage\n\ncpu\n"), (None, None));
        assert_eq!(
            parse_proc_stat("cpu 1 2 3 4 5 6 7 8\nbtime 12\n"),
            (Some((1 + 2 + 3 + 6 + 7 + 8) * 10_000_000), Some(12))
        );
        assert!(parse_net_dev("x: 1 2\n").is_empty());
        let fs = filesystem(Path::new("/"), "t").unwrap();
        assert!(fs.capacity_bytes.unwrap_or(0) > 0 && fs.time == "t");
        assert_eq!(
            fs.inodes_used,
            Some(fs.inodes.unwrap_or(0) - fs.inodes_free.unwrap_or(0))
        );
        assert_eq!(cgroup_dir(Path::new("/c"), "/a/../b"), None);
        assert_eq!(
            cgroup_dir(Path::new("/c"), "/kubepods/pod1"),
            Some(PathBuf::from("/c/kubepods/pod1"))
        );
    }

    #[test]
    fn rates_need_two_readings() {
        let mut r = Rates::default();
        assert_eq!(r.rate("a", 0, 1_000), None);
        r.finish();
        // 0.5 s of CPU in 2 s: a quarter of a core.
        assert_eq!(r.rate("a", 2_000_000_000, 500_001_000), Some(250_000_000));
        r.finish();
        // A counter that went backwards (a new cgroup) has no rate.
        assert_eq!(r.rate("a", 3_000_000_000, 5), None);
        r.finish();
        r.finish();
        assert_eq!(r.rate("a", 4_000_000_000, 10), None, "forgotten");
    }

    #[test]
    fn summary_from_cgroup_v1_files() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fake_proc(root, 1000);
        std::fs::create_dir_all(root.join("cg/memory")).unwrap();
        v1_cgroup(root, "kubepods/besteffort/podu1", 1_000_000_000, 8192, 4096);
        v1_cgroup(
            root,
            "kubepods/besteffort/podu1/c1",
            900_000_000,
            6144,
            2048,
        );
        v1_cgroup(root, "kubepods/burstable/podu2", 0, 4096, 0);
        let cfg = StatsConfig {
            node_name: "n1".into(),
            cgroup_parent: "/kubepods".into(),
            fs_path: root.to_path_buf(),
            host: host(root),
        };
        let view = RuntimeView {
            sandboxes: vec![
                sandbox("s1", "busy", "u1"),
                sandbox("s2", "idle", "u2"),
                api::PodSandbox {
                    state: api::PodSandboxState::SandboxNotready as i32,
                    ..sandbox("s3", "gone", "u3")
                },
            ],
            containers: vec![
                container("c1", "s1", "burn"),
                api::Container {
                    state: api::ContainerState::ContainerExited as i32,
                    ..container("c0", "s1", "burn")
                },
            ],
            ..Default::default()
        };
        let mut rates = Rates::default();
        let first = build_summary(&cfg, &view, &mut rates, at(1_700_001_000));
        assert_eq!(first.node.node_name, "n1");
        assert_eq!(
            first.node.start_time.as_deref(),
            Some("2023-11-14T22:13:20Z")
        );
        let cpu = first.node.cpu.as_ref().unwrap();
        assert_eq!(cpu.usage_core_nano_seconds, Some(10_000_000_000));
        assert_eq!(cpu.usage_nano_cores, None);
        let mem = first.node.memory.as_ref().unwrap();
        assert_eq!(mem.working_set_bytes, Some(3_000_000 * 1024));
        assert_eq!(mem.available_bytes, Some(5_000_000 * 1024));
        assert_eq!(mem.usage_bytes, Some(6_000_000 * 1024));
        assert_eq!(mem.page_faults, Some(1234));
        let net = first.node.network.as_ref().unwrap();
        assert_eq!(
            (net.default.name.as_str(), net.default.tx_bytes),
            ("eth0", 7000)
        );
        assert_eq!(first.pods.len(), 2, "only ready sandboxes");
        let busy = &first.pods[0];
        assert_eq!(busy.pod_ref.name, "busy");
        assert_eq!(busy.containers.len(), 1, "only running containers");
        let c = &busy.containers[0];
        assert_eq!(c.name, "burn");
        assert_eq!(c.start_time.as_deref(), Some("2023-11-14T22:16:40Z"));
        assert_eq!(c.memory.as_ref().unwrap().working_set_bytes, Some(4096));
        assert_eq!(c.memory.as_ref().unwrap().rss_bytes, Some(3072));
        assert_eq!(
            busy.memory.as_ref().unwrap().working_set_bytes,
            Some(8192 - 4096)
        );

        // Ten seconds later: the container burnt 5 s of CPU, half a core.
        fake_proc(root, 2000);
        v1_cgroup(root, "kubepods/besteffort/podu1", 6_000_000_000, 8192, 4096);
        v1_cgroup(
            root,
            "kubepods/besteffort/podu1/c1",
            5_900_000_000,
            6144,
            2048,
        );
        let second = build_summary(&cfg, &view, &mut rates, at(1_700_001_010));
        let c = &second.pods[0].containers[0];
        assert_eq!(c.cpu.as_ref().unwrap().usage_nano_cores, Some(500_000_000));
        assert_eq!(
            second.pods[0].cpu.as_ref().unwrap().usage_nano_cores,
            Some(500_000_000)
        );
        assert_eq!(
            second.pods[1].cpu.as_ref().unwrap().usage_nano_cores,
            Some(0)
        );
        // 1000 ticks (10 s of CPU) in 10 s: one core.
        assert_eq!(
            second.node.cpu.as_ref().unwrap().usage_nano_cores,
            Some(1_000_000_000)
        );
        let json = serde_json::to_value(&second).unwrap();
        assert_eq!(json["node"]["nodeName"], "n1");
        assert_eq!(json["pods"][0]["podRef"]["uid"], "u1");
        assert_eq!(
            json["pods"][0]["containers"][0]["cpu"]["usageNanoCores"],
            500_000_000
        );
        assert_eq!(json["node"]["network"]["name"], "eth0");
        assert!(json["node"]["memory"]["workingSetBytes"].is_u64());
        let slim = serde_json::to_value(second.cpu_and_memory()).unwrap();
        assert!(slim["node"].get("network").is_none());
    }

    #[test]
    fn summary_from_cgroup_v2_files() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fake_proc(root, 0);
        write(root, "cg/cgroup.controllers", "cpu memory\n");
        let pod = "cg/kubepods/podu1";
        write(
            root,
            &format!("{pod}/cpu.stat"),
            "usage_usec 1000\nuser_usec 1\n",
        );
        write(root, &format!("{pod}/memory.current"), "10000\n");
        write(root, &format!("{pod}/memory.max"), "max\n");
        write(
            root,
            &format!("{pod}/memory.stat"),
            "anon 300\nfile 500\ninactive_file 2000\npgfault 7\npgmajfault 1\n",
        );
        // A systemd-style container scope.
        let ctr = format!("{pod}/cri-containerd-c1.scope");
        write(root, &format!("{ctr}/cpu.stat"), "usage_usec 900\n");
        write(root, &format!("{ctr}/memory.current"), "5000\n");
        write(root, &format!("{ctr}/memory.max"), "6000\n");
        write(root, &format!("{ctr}/memory.stat"), "inactive_file 1000\n");
        let h = host(root);
        assert!(h.cgroup_v2());
        assert_eq!(
            h.pod_cgroup("/kubepods", "u1").as_deref(),
            Some("/kubepods/podu1")
        );
        assert_eq!(h.pod_cgroup("/kubepods", "../x"), None);
        let cg = h.container_cgroup("/kubepods/podu1", "c1").unwrap();
        let u = h.cgroup_usage(&cg).unwrap();
        assert_eq!(u.cpu_ns, Some(900_000));
        let m = u.memory.unwrap();
        assert_eq!((m.working_set, m.available), (Some(4000), Some(2000)));
        let p = h.cgroup_usage("/kubepods/podu1").unwrap().memory.unwrap();
        assert_eq!(
            (p.working_set, p.rss, p.available),
            (Some(8000), Some(300), None)
        );
        assert_eq!(h.cgroup_usage("/kubepods/nothing"), None);
    }

    #[test]
    fn cri_stats_win_over_cgroup_files() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fake_proc(root, 0);
        std::fs::create_dir_all(root.join("cg/memory")).unwrap();
        v1_cgroup(root, "kubepods/podu1/c1", 1, 100, 0);
        let cfg = StatsConfig {
            node_name: "n1".into(),
            cgroup_parent: "/kubepods".into(),
            fs_path: root.to_path_buf(),
            host: host(root),
        };
        let stats = |cpu: u64, ts: i64| api::ContainerStats {
            attributes: Some(api::ContainerAttributes {
                id: "c1".into(),
                ..Default::default()
            }),
            cpu: Some(api::CpuUsage {
                timestamp: ts,
                usage_core_nano_seconds: Some(api::UInt64Value { value: cpu }),
                usage_nano_cores: None,
            }),
            memory: Some(api::MemoryUsage {
                timestamp: ts,
                working_set_bytes: Some(api::UInt64Value { value: 777 }),
                ..Default::default()
            }),
            ..Default::default()
        };
        let eth0 = api::NetworkInterfaceUsage {
            name: "eth0".into(),
            rx_bytes: Some(api::UInt64Value { value: 10 }),
            tx_bytes: Some(api::UInt64Value { value: 20 }),
            ..Default::default()
        };
        let mut view = RuntimeView {
            sandboxes: vec![sandbox("s1", "p", "u1"), sandbox("s2", "q", "u2")],
            containers: vec![container("c1", "s1", "main")],
            container_stats: vec![stats(1_000, 1_000_000_000)],
            sandbox_stats: vec![api::PodSandboxStats {
                attributes: Some(api::PodSandboxAttributes {
                    id: "s2".into(),
                    ..Default::default()
                }),
                linux: Some(api::LinuxPodSandboxStats {
                    cpu: Some(api::CpuUsage {
                        timestamp: 0,
                        usage_core_nano_seconds: Some(api::UInt64Value { value: 42 }),
                        usage_nano_cores: None,
                    }),
                    network: Some(api::NetworkUsage {
                        timestamp: 0,
                        default_interface: Some(eth0.clone()),
                        interfaces: vec![eth0],
                    }),
                    ..Default::default()
                }),
                windows: None,
            }],
        };
        let mut rates = Rates::default();
        let s = build_summary(&cfg, &view, &mut rates, at(1_700_000_000));
        let c = &s.pods[0].containers[0];
        assert_eq!(c.memory.as_ref().unwrap().working_set_bytes, Some(777));
        // Usage bytes the runtime left out come from the cgroup.
        assert_eq!(c.memory.as_ref().unwrap().usage_bytes, Some(100));
        assert_eq!(c.cpu.as_ref().unwrap().usage_core_nano_seconds, Some(1_000));
        // The rate uses the runtime's timestamps: 0.25 s of CPU over 1 s.
        view.container_stats = vec![stats(250_001_000, 2_000_000_000)];
        let s = build_summary(&cfg, &view, &mut rates, at(1_700_000_100));
        let c = &s.pods[0].containers[0];
        assert_eq!(c.cpu.as_ref().unwrap().usage_nano_cores, Some(250_000_000));
        // No pod cgroup of its own and no sandbox stats: the sum of its containers.
        assert_eq!(
            s.pods[0].memory.as_ref().unwrap().working_set_bytes,
            Some(777)
        );
        assert_eq!(s.pods[0].network, None);
        // Sandbox stats: the pod's own CPU and network.
        let q = &s.pods[1];
        assert_eq!(q.cpu.as_ref().unwrap().usage_core_nano_seconds, Some(42));
        let net = q.network.as_ref().unwrap();
        assert_eq!(
            (net.default.name.as_str(), net.default.rx_bytes),
            ("eth0", 10)
        );
        assert_eq!(net.interfaces.len(), 1);
        assert!(s.cpu_and_memory().pods[1].network.is_none());
    }
}
