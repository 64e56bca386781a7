//! `krust bench pods`: real pod start latency on this machine's node (containerd through CRI):
//! N busybox pods created at once, create -> Running and create -> Ready p50/p99 (seen by a
//! watcher), the share of that time spent in CRI calls, and containerd's and krust's memory
//! before and after.

use super::percentile_ms;
use super::server_process::{ServerProcess, rss_mib_of};
use crate::cli::BenchPodsArgs;
use anyhow::{Context, bail};
use futures::StreamExt;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, DeleteParams, ListParams, PostParams, WatchEvent, WatchParams};
use std::collections::HashMap;
use std::time::{Duration, Instant};

fn pod(name: &str) -> anyhow::Result<Pod> {
    Ok(serde_json::from_value(serde_json::json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "labels": {"bench": "pods"}},
        "spec": {"terminationGracePeriodSeconds": 1, "containers": [{
            "name": "c", "image": "docker.io/library/busybox:1.36", "imagePullPolicy": "IfNotPresent",
            "command": ["sleep", "3600"]}]}
    }))?)
}

/// The CRI calls that start a pod (not the periodic listing and status polls).
const START_OPERATIONS: &[&str] = &[
    "run_podsandbox",
    "create_container",
    "start_container",
    "image_status",
    "pull_image",
];

/// Seconds the kubelet spent in pod-starting CRI calls so far, from `/metrics`
/// (`kubelet_runtime_operations_duration_seconds_sum`).
async fn cri_seconds(client: &kube::Client) -> anyhow::Result<f64> {
    let req = http::Request::get("/metrics").body(Vec::new())?;
    let text = client.request_text(req).await?;
    Ok(text
        .lines()
        .filter(|l| l.starts_with("kubelet_runtime_operations_duration_seconds_sum"))
        .filter(|l| {
            START_OPERATIONS
                .iter()
                .any(|op| l.contains(&format!("operation_type=\"{op}\"")))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum())
}

fn is_ready(p: &Pod) -> bool {
    p.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

pub async fn run(args: BenchPodsArgs) -> anyhow::Result<()> {
    let images = std::fs::canonicalize(&args.images).with_context(|| {
        format!(
            "the image archives in {} (build them with scripts/build-images.sh {})",
            args.images.display(),
            args.images.display()
        )
    })?;
    let server = ServerProcess::start_node(args.server_binary.clone(), &images, &[]).await?;
    let client = server.client().await?;
    let nodes: Api<Node> = Api::all(client.clone());
    let started = Instant::now();
    loop {
        let ready = nodes
            .list(&ListParams::default())
            .await?
            .items
            .iter()
            .any(|n| {
                n.status
                    .as_ref()
                    .and_then(|s| s.conditions.as_ref())
                    .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
                    && n.spec.as_ref().and_then(|s| s.pod_cidr.as_ref()).is_some()
            });
        if ready {
            break;
        }
        if started.elapsed() > Duration::from_secs(120) {
            bail!("the node did not become Ready within 120 s");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Warm-up: one pod started and removed, so image unpacking is not measured.
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    pods.create(&PostParams::default(), &pod("warmup")?).await?;
    let warm = Instant::now();
    while !pods
        .get("warmup")
        .await
        .map(|p| is_ready(&p))
        .unwrap_or(false)
    {
        if warm.elapsed() > Duration::from_secs(120) {
            bail!("the warm-up pod did not become Ready");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    pods.delete("warmup", &DeleteParams::default().grace_period(0))
        .await?;
    let rss_krust_before = server.rss_mib();
    let rss_containerd_before = server.containerd_pid().map(rss_mib_of).unwrap_or(0.0);
    let cri_before = cri_seconds(&client).await.unwrap_or(0.0);

    let rv = pods
        .list_metadata(&ListParams::default().limit(1))
        .await?
        .metadata
        .resource_version
        .unwrap_or_default();
    let mut stream = pods
        .watch(
            &WatchParams::default().labels("bench=pods").timeout(290),
            &rv,
        )
        .await?
        .boxed();
    let mut created: HashMap<String, Instant> = HashMap::new();
    for i in 0..args.pods {
        let name = format!("bench-{i}");
        created.insert(name.clone(), Instant::now());
        pods.create(&PostParams::default(), &pod(&name)?).await?;
    }
    let mut running: HashMap<String, f64> = HashMap::new();
    let mut ready: HashMap<String, f64> = HashMap::new();
    let deadline = Instant::now() + Duration::from_secs(280);
    while ready.len() < args.pods && Instant::now() < deadline {
        let Ok(Some(ev)) = tokio::time::timeout(Duration::from_secs(60), stream.next()).await
        else {
            break;
        };
        let p = match ev? {
            WatchEvent::Added(p) | WatchEvent::Modified(p) => p,
            _ => continue,
        };
        let name = p.metadata.name.clone().unwrap_or_default();
        let Some(t0) = created.get(&name) else {
            continue;
        };
        let phase = p.status.as_ref().and_then(|s| s.phase.as_deref());
        if phase == Some("Running") {
            running
                .entry(name.clone())
                .or_insert_with(|| t0.elapsed().as_secs_f64());
        }
        if is_ready(&p) {
            ready
                .entry(name)
                .or_insert_with(|| t0.elapsed().as_secs_f64());
        }
    }
    let cri_after = cri_seconds(&client).await.unwrap_or(0.0);
    let rss_krust_after = server.rss_mib();
    let rss_containerd_after = server.containerd_pid().map(rss_mib_of).unwrap_or(0.0);
    if ready.len() < args.pods {
        bail!("only {} of {} pods became Ready", ready.len(), args.pods);
    }
    let mut run_lat: Vec<f64> = running.values().copied().collect();
    let mut ready_lat: Vec<f64> = ready.values().copied().collect();
    let total_start: f64 = run_lat.iter().sum();
    let cri_share = if total_start > 0.0 {
        (cri_after - cri_before) / total_start
    } else {
        0.0
    };
    let (r50, r99) = (
        percentile_ms(&mut run_lat, 0.5),
        percentile_ms(&mut run_lat, 0.99),
    );
    let (d50, d99) = (
        percentile_ms(&mut ready_lat, 0.5),
        percentile_ms(&mut ready_lat, 0.99),
    );
    println!(
        "krust bench pods: {} busybox pods created at once on one real node (containerd through CRI); upstream SLO: 5 s p99",
        args.pods
    );
    println!("{:<16} {:>9} {:>9}", "", "P50_MS", "P99_MS");
    println!("{:<16} {r50:>9.0} {r99:>9.0}", "create->Running");
    println!("{:<16} {d50:>9.0} {d99:>9.0}", "create->Ready");
    println!("pod-starting CRI calls / pod start time: {:.2}", cri_share);
    println!(
        "RSS MiB: krust {rss_krust_before:.1} -> {rss_krust_after:.1}, containerd {rss_containerd_before:.1} -> {rss_containerd_after:.1}"
    );
    println!(
        "bench=pods pods={} running_p50_ms={r50:.0} running_p99_ms={r99:.0} ready_p50_ms={d50:.0} ready_p99_ms={d99:.0} cri_share_ratio={cri_share:.2} krust_rss_mib={rss_krust_after:.1} containerd_rss_mib={rss_containerd_after:.1}",
        args.pods
    );
    let _ = pods
        .delete_collection(
            &DeleteParams::default().grace_period(0),
            &ListParams::default().labels("bench=pods"),
        )
        .await;
    Ok(())
}
