//! `metrics.k8s.io/v1beta1` (metrics-server's API, what `kubectl top` reads): `NodeMetrics`
//! (`nodes`, cluster-scoped) and `PodMetrics` (`pods`, namespaced), `get` and `list` only,
//! with label selectors (on the node's or pod's labels) and `metadata.name` /
//! `metadata.namespace` field selectors.
//!
//! Nothing is stored: each Ready node's kubelet is asked for its `/stats/summary` (through the
//! kubelet client of `pods/log`), at most once per [`CACHE_TTL`]; simulated nodes have no
//! kubelet and are skipped. As metrics-server does, a node or a pod is reported only once
//! every figure it needs is there (CPU rates need two kubelet samples) and pods are matched
//! to the pods the API server holds (by namespace, name and UID). Quantities are printed as
//! metrics-server prints them: CPU in cores, millicores, microcores or nanocores
//! (`250m`, `123456n`), memory with the largest exact binary suffix (`123456Ki`).

use crate::ApiServer;
use crate::negotiate::Output;
use crate::object::partial_metadata;
use crate::response::{self, ResponseBody};
use crate::rest::Ctx;
use crate::status::ApiError;
use futures::StreamExt;
use http::{Method, Response};
use krust_api::fields::FieldSelector;
use krust_api::selector::LabelSelector;
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The API group.
pub const GROUP: &str = "metrics.k8s.io";
/// The served version.
pub const VERSION: &str = "v1beta1";
/// The window CPU rates are measured over: the kubelet's sampling period.
pub const WINDOW: &str = "10s";
/// How long one scrape of the kubelets is served.
pub const CACHE_TTL: Duration = Duration::from_secs(5);
/// How long a kubelet may take to answer.
const SCRAPE_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest summary read from a kubelet.
const SUMMARY_LIMIT: usize = 32 << 20;
/// Kubelets asked at once.
const CONCURRENCY: usize = 16;
/// The label simulated nodes carry (no kubelet listens for them).
const SIMULATED_LABEL: &str = "krust.io/simulated";

/// Whether a request is for this API.
pub(crate) fn handles(ctx: &Ctx) -> bool {
    ctx.info.group == GROUP
}

// ---------------------------------------------------------------------------------------------
// The Summary API as read (only what metrics need; anything else is ignored).

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct Summary {
    node: NodeStats,
    pods: Vec<PodStats>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct NodeStats {
    node_name: String,
    cpu: Option<Cpu>,
    memory: Option<Mem>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct Cpu {
    time: Option<String>,
    usage_nano_cores: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct Mem {
    time: Option<String>,
    working_set_bytes: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct PodStats {
    pod_ref: PodRef,
    containers: Vec<ContainerStats>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct PodRef {
    name: String,
    namespace: String,
    uid: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct ContainerStats {
    name: String,
    cpu: Option<Cpu>,
    memory: Option<Mem>,
}

// ---------------------------------------------------------------------------------------------
// Samples.

/// Usage of a node or container.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    pub cpu_nanocores: u64,
    pub memory_bytes: u64,
}

/// A node's usage.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeSample {
    pub name: String,
    pub timestamp: String,
    pub usage: Usage,
}

/// A container's usage.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContainerSample {
    pub name: String,
    pub usage: Usage,
}

/// A pod's containers' usage.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PodSample {
    pub namespace: String,
    pub name: String,
    pub uid: String,
    pub timestamp: String,
    pub containers: Vec<ContainerSample>,
}

/// One scrape of every node.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scrape {
    pub nodes: Vec<NodeSample>,
    pub pods: Vec<PodSample>,
}

/// Usage and time of a CPU and memory pair, when both are complete.
fn usage_of(cpu: Option<&Cpu>, mem: Option<&Mem>) -> Option<(Usage, Option<String>)> {
    let cpu = cpu?;
    let mem = mem?;
    let usage = Usage {
        cpu_nanocores: cpu.usage_nano_cores?,
        memory_bytes: mem.working_set_bytes?,
    };
    Some((usage, cpu.time.clone().or_else(|| mem.time.clone())))
}

/// The samples of one kubelet's summary (`node` names the node when the summary does not).
fn samples_of(node: &str, summary: &Summary) -> (Option<NodeSample>, Vec<PodSample>) {
    let name = if summary.node.node_name.is_empty() {
        node
    } else {
        summary.node.node_name.as_str()
    };
    let node_sample =
        usage_of(summary.node.cpu.as_ref(), summary.node.memory.as_ref()).map(|(usage, time)| {
            NodeSample {
                name: name.to_string(),
                timestamp: time.unwrap_or_else(krust_api::time::now_rfc3339),
                usage,
            }
        });
    let mut pods = Vec::new();
    'pods: for p in &summary.pods {
        if p.pod_ref.name.is_empty() || p.containers.is_empty() {
            continue;
        }
        let mut containers = Vec::new();
        let mut newest: Option<String> = None;
        for c in &p.containers {
            // A container without complete figures leaves the whole pod out.
            let Some((usage, time)) = usage_of(c.cpu.as_ref(), c.memory.as_ref()) else {
                continue 'pods;
            };
            if time > newest {
                newest = time;
            }
            containers.push(ContainerSample {
                name: c.name.clone(),
                usage,
            });
        }
        pods.push(PodSample {
            namespace: p.pod_ref.namespace.clone(),
            name: p.pod_ref.name.clone(),
            uid: p.pod_ref.uid.clone(),
            timestamp: newest.unwrap_or_else(krust_api::time::now_rfc3339),
            containers,
        });
    }
    (node_sample, pods)
}

/// Whether a Node object is Ready.
fn node_ready(node: &Value) -> bool {
    node["status"]["conditions"].as_array().is_some_and(|cs| {
        cs.iter()
            .any(|c| c["type"] == "Ready" && c["status"] == "True")
    })
}

/// Scrapes every Ready node's kubelet.
async fn scrape(server: &ApiServer) -> Scrape {
    let Some(cfg) = server.state.config.kubelet_client.clone() else {
        return Scrape::default();
    };
    let (nodes, _) = server
        .state
        .cache
        .list("core/nodes", "/registry/core/nodes/");
    let targets: Vec<(String, std::net::IpAddr, u16)> = nodes
        .iter()
        .filter(|n| node_ready(n))
        .filter(|n| n["metadata"]["labels"][SIMULATED_LABEL] != "true")
        .filter_map(|n| {
            let name = n["metadata"]["name"].as_str()?.to_string();
            let (ip, port) = crate::rest::kubelet_endpoint(n)?;
            Some((name, ip, port))
        })
        .collect();
    let cfg = &cfg;
    let results: Vec<(Option<NodeSample>, Vec<PodSample>)> = futures::stream::iter(targets)
        .map(|(name, ip, port)| async move {
            let path = "/stats/summary?only_cpu_and_memory=true";
            let body = match crate::rest::kubelet_get(
                cfg,
                ip,
                port,
                path,
                SUMMARY_LIMIT,
                SCRAPE_TIMEOUT,
            )
            .await
            {
                Ok(b) => b,
                Err(e) => {
                    tracing::warn!(node = %name, error = %e.message, "scraping the kubelet failed");
                    return (None, Vec::new());
                }
            };
            match serde_json::from_slice::<Summary>(&body) {
                Ok(summary) => samples_of(&name, &summary),
                Err(e) => {
                    tracing::warn!(node = %name, error = %e, "the kubelet's summary is not valid");
                    (None, Vec::new())
                }
            }
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    let mut out = Scrape::default();
    for (node, pods) in results {
        out.nodes.extend(node);
        out.pods.extend(pods);
    }
    out.nodes.sort_by(|a, b| a.name.cmp(&b.name));
    out.pods
        .sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
    out
}

/// The newest scrape, shared by requests for [`CACHE_TTL`].
#[derive(Default)]
pub struct Scraper {
    last: tokio::sync::Mutex<Option<(Instant, Arc<Scrape>)>>,
}

impl Scraper {
    async fn get(&self, server: &ApiServer) -> Arc<Scrape> {
        let mut last = self.last.lock().await;
        if let Some((at, s)) = last.as_ref()
            && at.elapsed() < CACHE_TTL
        {
            return s.clone();
        }
        let s = Arc::new(scrape(server).await);
        *last = Some((Instant::now(), s.clone()));
        s
    }
}

// ---------------------------------------------------------------------------------------------
// Objects.

/// CPU as metrics-server prints it (a canonical decimal quantity of nanocores).
pub fn cpu_quantity(nanocores: u64) -> String {
    match nanocores {
        0 => "0".into(),
        n if n.is_multiple_of(1_000_000_000) => format!("{}", n / 1_000_000_000),
        n if n.is_multiple_of(1_000_000) => format!("{}m", n / 1_000_000),
        n if n.is_multiple_of(1_000) => format!("{}u", n / 1_000),
        n => format!("{n}n"),
    }
}

/// Memory as metrics-server prints it (a canonical binary quantity of bytes).
pub fn memory_quantity(bytes: u64) -> String {
    if bytes == 0 {
        return "0".into();
    }
    let mut value = bytes;
    let mut suffix = 0;
    const SUFFIXES: [&str; 7] = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"];
    while value.is_multiple_of(1024) && suffix + 1 < SUFFIXES.len() {
        value /= 1024;
        suffix += 1;
    }
    format!("{value}{}", SUFFIXES[suffix])
}

fn usage_json(u: Usage) -> Value {
    json!({"cpu": cpu_quantity(u.cpu_nanocores), "memory": memory_quantity(u.memory_bytes)})
}

fn labels_of(obj: Option<&Value>) -> Option<Value> {
    obj.and_then(|o| o["metadata"].get("labels"))
        .filter(|l| l.as_object().is_some_and(|m| !m.is_empty()))
        .cloned()
}

/// A `NodeMetrics` object (`node` is the Node, for its labels).
pub fn node_metrics(sample: &NodeSample, node: Option<&Value>, now: &str) -> Value {
    let mut meta = json!({"name": sample.name, "creationTimestamp": now});
    if let Some(l) = labels_of(node) {
        meta["labels"] = l;
    }
    json!({
        "kind": "NodeMetrics",
        "apiVersion": format!("{GROUP}/{VERSION}"),
        "metadata": meta,
        "timestamp": sample.timestamp,
        "window": WINDOW,
        "usage": usage_json(sample.usage),
    })
}

/// A `PodMetrics` object (`pod` is the Pod, for its labels).
pub fn pod_metrics(sample: &PodSample, pod: Option<&Value>, now: &str) -> Value {
    let mut meta = json!({
        "name": sample.name,
        "namespace": sample.namespace,
        "creationTimestamp": now,
    });
    if let Some(l) = labels_of(pod) {
        meta["labels"] = l;
    }
    let containers: Vec<Value> = sample
        .containers
        .iter()
        .map(|c| json!({"name": c.name, "usage": usage_json(c.usage)}))
        .collect();
    json!({
        "kind": "PodMetrics",
        "apiVersion": format!("{GROUP}/{VERSION}"),
        "metadata": meta,
        "timestamp": sample.timestamp,
        "window": WINDOW,
        "containers": containers,
    })
}

/// The usage a table shows for an object: the node's, or the sum of the pod's containers.
fn total_usage(obj: &Value) -> (String, String) {
    if obj["usage"].is_object() {
        return (
            obj["usage"]["cpu"].as_str().unwrap_or("").to_string(),
            obj["usage"]["memory"].as_str().unwrap_or("").to_string(),
        );
    }
    let mut sum = Usage::default();
    for c in obj["containers"].as_array().into_iter().flatten() {
        let u = &c["usage"];
        sum.cpu_nanocores = sum
            .cpu_nanocores
            .saturating_add(parse_cpu(u["cpu"].as_str().unwrap_or("")).unwrap_or(0));
        sum.memory_bytes = sum
            .memory_bytes
            .saturating_add(parse_memory(u["memory"].as_str().unwrap_or("")).unwrap_or(0));
    }
    (
        cpu_quantity(sum.cpu_nanocores),
        memory_quantity(sum.memory_bytes),
    )
}

/// Nanocores of a quantity [`cpu_quantity`] printed.
fn parse_cpu(q: &str) -> Option<u64> {
    let (digits, scale) = match q.as_bytes().last()? {
        b'n' => (&q[..q.len() - 1], 1),
        b'u' => (&q[..q.len() - 1], 1_000),
        b'm' => (&q[..q.len() - 1], 1_000_000),
        _ => (q, 1_000_000_000),
    };
    digits.parse::<u64>().ok()?.checked_mul(scale)
}

/// Bytes of a quantity [`memory_quantity`] printed.
fn parse_memory(q: &str) -> Option<u64> {
    const SUFFIXES: [&str; 6] = ["Ki", "Mi", "Gi", "Ti", "Pi", "Ei"];
    for (i, suffix) in SUFFIXES.iter().enumerate() {
        if let Some(digits) = q.strip_suffix(suffix) {
            return digits
                .parse::<u64>()
                .ok()?
                .checked_mul(1u64 << (10 * (i + 1)));
        }
    }
    q.parse().ok()
}

/// A Table as metrics-server renders one: Name, cpu, memory, Window.
fn table(ctx: &Ctx, items: &[Value], v1beta1: bool) -> Result<Value, ApiError> {
    let include = ctx.query.get("includeObject").unwrap_or("Metadata");
    let column = |name: &str, format: &str, description: &str| json!({"name": name, "type": "string", "format": format, "description": description, "priority": 0});
    let rows: Vec<Value> = items
        .iter()
        .map(|o| {
            let (cpu, memory) = total_usage(o);
            let mut row = json!({"cells": [o["metadata"]["name"], cpu, memory, o["window"]]});
            match include {
                "None" => {}
                "Object" => row["object"] = o.clone(),
                _ => row["object"] = partial_metadata(o, v1beta1),
            }
            row
        })
        .collect();
    if !matches!(include, "None" | "Object" | "Metadata" | "") {
        return Err(ApiError::bad_request(format!(
            "includeObject: Unsupported value: {include:?}: supported values: \"Metadata\", \"None\", \"Object\""
        )));
    }
    Ok(json!({
        "kind": "Table",
        "apiVersion": if v1beta1 { "meta.k8s.io/v1beta1" } else { "meta.k8s.io/v1" },
        "metadata": {},
        "columnDefinitions": [
            column("Name", "name", "Name of the resource"),
            column("cpu", "quantity", ""),
            column("memory", "quantity", ""),
            column("Window", "duration", ""),
        ],
        "rows": rows,
    }))
}

/// The metrics objects a request asks for, before selectors.
fn objects(server: &ApiServer, ctx: &Ctx, scrape: &Scrape, now: &str) -> Vec<Value> {
    let name = ctx.path.name.as_deref();
    if ctx.info.kind == "NodeMetrics" {
        let (nodes, _) = server
            .state
            .cache
            .list("core/nodes", "/registry/core/nodes/");
        let by_name: HashMap<&str, &Value> = nodes
            .iter()
            .filter_map(|n| Some((n["metadata"]["name"].as_str()?, n.as_ref())))
            .collect();
        return scrape
            .nodes
            .iter()
            .filter(|s| name.is_none_or(|n| n == s.name))
            .filter_map(|s| {
                let node = by_name.get(s.name.as_str())?;
                Some(node_metrics(s, Some(node), now))
            })
            .collect();
    }
    let namespace = ctx.namespace();
    let prefix = match namespace {
        Some(ns) => format!("/registry/core/pods/{ns}/"),
        None => "/registry/core/pods/".to_string(),
    };
    let (pods, _) = server.state.cache.list("core/pods", &prefix);
    let by_name: HashMap<(&str, &str), &Value> = pods
        .iter()
        .filter_map(|p| {
            let m = &p["metadata"];
            Some(((m["namespace"].as_str()?, m["name"].as_str()?), p.as_ref()))
        })
        .collect();
    scrape
        .pods
        .iter()
        .filter(|s| namespace.is_none_or(|ns| ns == s.namespace))
        .filter(|s| name.is_none_or(|n| n == s.name))
        .filter_map(|s| {
            let pod = by_name.get(&(s.namespace.as_str(), s.name.as_str()))?;
            let uid = pod["metadata"]["uid"].as_str().unwrap_or("");
            // A pod recreated under the same name is not the one measured.
            if !s.uid.is_empty() && !uid.is_empty() && uid != s.uid {
                return None;
            }
            Some(pod_metrics(s, Some(pod), now))
        })
        .collect()
}

/// Serves a `metrics.k8s.io` request.
pub(crate) async fn serve(
    server: &ApiServer,
    ctx: &Ctx,
    parts: &http::request::Parts,
) -> Result<Response<ResponseBody>, ApiError> {
    let read = parts.method == Method::GET || parts.method == Method::HEAD;
    if !read || ctx.query.flag("watch") {
        // What upstream's generic API server answers for a verb the storage does not offer.
        return Err(ApiError::new(
            405,
            "MethodNotAllowed",
            "the server does not allow this method on the requested resource",
        ));
    }
    if ctx.path.subresource.is_some() {
        return Err(ApiError::not_found_path());
    }
    let labels = LabelSelector::parse(ctx.query.get("labelSelector").unwrap_or(""))
        .map_err(|e| ApiError::bad_request(format!("unable to parse requirement: {e}")))?;
    let fields = FieldSelector::parse(ctx.query.get("fieldSelector").unwrap_or(""))
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    fields
        .check_supported(GROUP, &ctx.info.kind)
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let scrape = server.state.metrics_api.get(server).await;
    let now = krust_api::time::now_rfc3339();
    let items: Vec<Value> = objects(server, ctx, &scrape, &now)
        .into_iter()
        .filter(|o| labels.matches_object(o) && fields.matches(GROUP, &ctx.info.kind, o))
        .collect();
    if let Some(name) = ctx.path.name.as_deref() {
        let Some(obj) = items.into_iter().next() else {
            let shown = match ctx.namespace() {
                Some(ns) => format!("{ns}/{name}"),
                None => name.to_string(),
            };
            return Err(ApiError::not_found(&ctx.info, &shown));
        };
        let body = match ctx.output {
            Output::Table { v1beta1 } => table(ctx, std::slice::from_ref(&obj), v1beta1)?,
            Output::PartialMetadata { v1beta1 } => partial_metadata(&obj, v1beta1),
            Output::Json | Output::Yaml | Output::Protobuf => obj,
        };
        return Ok(response::object(200, &body, ctx.output, &ctx.warnings));
    }
    let body = match ctx.output {
        Output::Table { v1beta1 } => table(ctx, &items, v1beta1)?,
        Output::PartialMetadata { v1beta1 } => json!({
            "kind": "PartialObjectMetadataList",
            "apiVersion": if v1beta1 { "meta.k8s.io/v1beta1" } else { "meta.k8s.io/v1" },
            "metadata": {},
            "items": items.iter().map(|o| partial_metadata(o, v1beta1)).collect::<Vec<_>>(),
        }),
        Output::Json | Output::Yaml | Output::Protobuf => json!({
            "kind": ctx.info.list_kind,
            "apiVersion": ctx.info.api_version(),
            "metadata": {},
            "items": items,
        }),
    };
    Ok(response::object(200, &body, ctx.output, &ctx.warnings))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_as_metrics_server_prints_them() {
        assert_eq!(cpu_quantity(0), "0");
        assert_eq!(cpu_quantity(123_456), "123456n");
        assert_eq!(cpu_quantity(250_000_000), "250m");
        assert_eq!(cpu_quantity(2_000_000_000), "2");
        assert_eq!(cpu_quantity(1_500_000_000), "1500m");
        assert_eq!(cpu_quantity(7_000), "7u");
        assert_eq!(memory_quantity(0), "0");
        assert_eq!(memory_quantity(1_542_364 * 1024), "1542364Ki");
        assert_eq!(memory_quantity(1 << 20), "1Mi");
        assert_eq!(memory_quantity(1000), "1000");
        assert_eq!(memory_quantity(u64::MAX), u64::MAX.to_string());
        for n in [0, 5, 7_000, 250_000_000, 3_000_000_000] {
            assert_eq!(parse_cpu(&cpu_quantity(n)), Some(n));
        }
        for b in [0, 1000, 3072, 1 << 20, 5 << 40] {
            assert_eq!(parse_memory(&memory_quantity(b)), Some(b));
        }
        assert_eq!(parse_cpu("x"), None);
        assert_eq!(parse_cpu(""), None);
        assert_eq!(parse_memory("99999999999Ei"), None);
    }

    const SUMMARY: &str = r#"{
      "node": {"nodeName": "n1", "startTime": "2024-01-01T00:00:00Z",
               "cpu": {"time": "2024-01-01T00:10:00Z", "usageNanoCores": 250000000, "usageCoreNanoSeconds": 9},
               "memory": {"time": "2024-01-01T00:10:00Z", "workingSetBytes": 4194304, "availableBytes": 1}},
      "pods": [
        {"podRef": {"name": "busy", "namespace": "default", "uid": "u1"},
         "containers": [{"name": "burn", "cpu": {"time": "2024-01-01T00:10:01Z", "usageNanoCores": 999000000},
                         "memory": {"workingSetBytes": 1048576}}],
         "cpu": {"usageNanoCores": 1000000000}, "memory": {"workingSetBytes": 2}},
        {"podRef": {"name": "new", "namespace": "default", "uid": "u2"},
         "containers": [{"name": "c", "cpu": {"usageCoreNanoSeconds": 5}, "memory": {"workingSetBytes": 1}}]},
        {"podRef": {"name": "empty", "namespace": "default", "uid": "u3"}, "containers": []},
        {"podRef": {"name": "web", "namespace": "prod", "uid": "u4"},
         "containers": [{"name": "nginx", "cpu": {"usageNanoCores": 123456}, "memory": {"workingSetBytes": 3072}},
                        {"name": "side", "cpu": {"usageNanoCores": 4}, "memory": {"workingSetBytes": 1024}}]}
      ]}"#;

    #[test]
    fn samples_from_a_summary() {
        let summary: Summary = serde_json::from_str(SUMMARY).unwrap();
        let (node, pods) = samples_of("fallback", &summary);
        let node = node.unwrap();
        assert_eq!(node.name, "n1");
        assert_eq!(node.timestamp, "2024-01-01T00:10:00Z");
        assert_eq!(
            node.usage,
            Usage {
                cpu_nanocores: 250_000_000,
                memory_bytes: 4 << 20
            }
        );
        // "new" lacks a CPU rate, "empty" has no containers: metrics-server leaves both out.
        let names: Vec<&str> = pods.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["busy", "web"]);
        assert_eq!(pods[0].timestamp, "2024-01-01T00:10:01Z");
        assert_eq!(pods[1].containers.len(), 2);

        // Garbage is an error, never a panic; missing parts are left out.
        assert!(serde_json::from_str::<Summary>("[1]").is_err());
        let empty: Summary = serde_json::from_str("{}").unwrap();
        assert_eq!(samples_of("x", &empty), (None, vec![]));
    }

    #[test]
    fn metrics_objects() {
        let summary: Summary = serde_json::from_str(SUMMARY).unwrap();
        let (node, pods) = samples_of("n1", &summary);
        let node_obj =
            json!({"metadata": {"name": "n1", "labels": {"kubernetes.io/hostname": "n1"}}});
        let nm = node_metrics(&node.unwrap(), Some(&node_obj), "2024-01-01T00:10:05Z");
        assert_eq!(
            nm,
            json!({
                "kind": "NodeMetrics",
                "apiVersion": "metrics.k8s.io/v1beta1",
                "metadata": {"name": "n1", "creationTimestamp": "2024-01-01T00:10:05Z",
                             "labels": {"kubernetes.io/hostname": "n1"}},
                "timestamp": "2024-01-01T00:10:00Z",
                "window": "10s",
                "usage": {"cpu": "250m", "memory": "4Mi"},
            })
        );
        let pm = pod_metrics(&pods[1], None, "now");
        assert_eq!(pm["metadata"]["namespace"], "prod");
        assert!(pm["metadata"].get("labels").is_none());
        assert_eq!(
            pm["containers"],
            json!([
                {"name": "nginx", "usage": {"cpu": "123456n", "memory": "3Ki"}},
                {"name": "side", "usage": {"cpu": "4n", "memory": "1Ki"}},
            ])
        );
        assert_eq!(total_usage(&pm), ("123460n".to_string(), "4Ki".to_string()));
        assert_eq!(total_usage(&nm), ("250m".to_string(), "4Mi".to_string()));
    }

    #[test]
    fn readiness() {
        assert!(node_ready(
            &json!({"status": {"conditions": [{"type": "Ready", "status": "True"}]}})
        ));
        assert!(!node_ready(
            &json!({"status": {"conditions": [{"type": "Ready", "status": "Unknown"}]}})
        ));
        assert!(!node_ready(&json!({})));
    }
}
