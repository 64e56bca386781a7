//! `krust bench scheduler`: a server with N simulated nodes, P pods created in bulk, and the
//! scheduling throughput (first create to last binding) and latency (create to binding seen
//! by a watcher), for the main node count and the extra ones, side by side in one run.

use super::percentile_ms;
use super::server_process::ServerProcess;
use crate::cli::BenchSchedulerArgs;
use futures::StreamExt;
use k8s_openapi::api::core::v1::{Container, Node, Pod, PodSpec, ResourceRequirements};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use kube::api::{Api, ListParams, PostParams, WatchEvent, WatchParams};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn pod(name: &str) -> Pod {
    Pod {
        metadata: kube::api::ObjectMeta {
            name: Some(name.into()),
            labels: Some(BTreeMap::from([(
                "bench".to_string(),
                "scheduler".to_string(),
            )])),
            ..Default::default()
        },
        spec: Some(PodSpec {
            containers: vec![Container {
                name: "c".into(),
                image: Some("busybox".into()),
                resources: Some(ResourceRequirements {
                    requests: Some(BTreeMap::from([
                        ("cpu".to_string(), Quantity("100m".into())),
                        ("memory".to_string(), Quantity("64Mi".into())),
                    ])),
                    ..Default::default()
                }),
                ..Default::default()
            }],
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// One run's results.
struct Outcome {
    nodes: usize,
    pods: usize,
    bound: usize,
    per_s: f64,
    p50: f64,
    p99: f64,
    register_s: f64,
}

async fn run_once(args: &BenchSchedulerArgs, nodes: usize) -> anyhow::Result<Outcome> {
    let extra = vec![
        "--simulate-nodes".to_string(),
        nodes.to_string(),
        "--node-capacity".to_string(),
        "cpu=32,memory=256Gi,pods=110".to_string(),
    ];
    let server = ServerProcess::start(args.server_binary.clone(), &extra).await?;
    let client = server.client().await?;
    let started = Instant::now();
    let node_api: Api<Node> = Api::all(client.clone());
    loop {
        let n = node_api
            .list_metadata(&ListParams::default())
            .await?
            .items
            .len();
        if n >= nodes {
            break;
        }
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(600),
            "only {n} of {nodes} nodes registered"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let register_s = started.elapsed().as_secs_f64();
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let rv = pods
        .list_metadata(&ListParams::default().limit(1))
        .await?
        .metadata
        .resource_version
        .unwrap_or_default();
    let mut stream = pods
        .watch(&WatchParams::default().timeout(290), &rv)
        .await?
        .boxed();
    let created: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let count = args.pods;
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let first_create = Instant::now();
    let mut creators = Vec::new();
    for _ in 0..args.concurrency.max(1) {
        let pods = pods.clone();
        let created = created.clone();
        let next = next.clone();
        creators.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= count {
                    return Ok::<_, anyhow::Error>(());
                }
                let name = format!("bench-{i}");
                created
                    .lock()
                    .map_err(|_| anyhow::anyhow!("poisoned"))?
                    .insert(name.clone(), Instant::now());
                pods.create(&PostParams::default(), &pod(&name)).await?;
            }
        }));
    }
    let mut latencies = Vec::with_capacity(count);
    let mut bound: std::collections::HashSet<String> = std::collections::HashSet::new();
    let mut last_bind = first_create;
    let deadline = Instant::now() + Duration::from_secs(280);
    while bound.len() < count && Instant::now() < deadline {
        let Ok(Some(ev)) = tokio::time::timeout(Duration::from_secs(60), stream.next()).await
        else {
            break;
        };
        let pod = match ev? {
            WatchEvent::Added(p) | WatchEvent::Modified(p) => p,
            _ => continue,
        };
        let name = pod.metadata.name.clone().unwrap_or_default();
        let has_node = pod
            .spec
            .as_ref()
            .and_then(|s| s.node_name.as_ref())
            .is_some_and(|n| !n.is_empty());
        if has_node && !bound.contains(&name) {
            let t0 = created
                .lock()
                .map_err(|_| anyhow::anyhow!("poisoned"))?
                .get(&name)
                .copied();
            if let Some(t0) = t0 {
                latencies.push(t0.elapsed().as_secs_f64());
                last_bind = Instant::now();
                bound.insert(name);
            }
        }
    }
    for c in creators {
        c.await??;
    }
    let wall = last_bind
        .duration_since(first_create)
        .as_secs_f64()
        .max(1e-9);
    let per_s = bound.len() as f64 / wall;
    let p50 = percentile_ms(&mut latencies, 0.50);
    let p99 = percentile_ms(&mut latencies, 0.99);
    Ok(Outcome {
        nodes,
        pods: count,
        bound: bound.len(),
        per_s,
        p50,
        p99,
        register_s,
    })
}

pub async fn run(args: BenchSchedulerArgs) -> anyhow::Result<()> {
    println!(
        "krust bench scheduler: {} pods per run, nodes {} (+ {:?}); upstream scheduler_perf SchedulingBasic threshold: 270 pods/s (5000 nodes, 10000 pods)",
        args.pods, args.nodes, args.also_nodes
    );
    println!(
        "{:>6} {:>7} {:>7} {:>10} {:>9} {:>9} {:>11}",
        "NODES", "PODS", "BOUND", "PODS/S", "P50_MS", "P99_MS", "REGISTER_S"
    );
    let mut runs = vec![args.nodes];
    runs.extend(
        args.also_nodes
            .iter()
            .copied()
            .filter(|n| *n > 0 && *n != args.nodes),
    );
    let mut summary = vec![format!(
        "bench=scheduler nodes={} pods={}",
        args.nodes, args.pods
    )];
    for (i, nodes) in runs.iter().enumerate() {
        let o = run_once(&args, *nodes).await?;
        println!(
            "{:>6} {:>7} {:>7} {:>10.0} {:>9.1} {:>9.1} {:>11.1}",
            o.nodes, o.pods, o.bound, o.per_s, o.p50, o.p99, o.register_s
        );
        anyhow::ensure!(
            o.bound == o.pods,
            "only {} of {} pods were bound",
            o.bound,
            o.pods
        );
        if i == 0 {
            summary.push(format!(
                "pods_per_s={:.0} p50_ms={:.1} p99_ms={:.1} vs_upstream_ratio={:.1}",
                o.per_s,
                o.p50,
                o.p99,
                o.per_s / 270.0
            ));
        } else {
            summary.push(format!(
                "n{}_pods_per_s={:.0} n{}_p99_ms={:.1}",
                o.nodes, o.per_s, o.nodes, o.p99
            ));
        }
    }
    println!("{}", summary.join(" "));
    Ok(())
}
