//! `krust bench controllers`: a server with N simulated nodes, D Deployments of R replicas
//! created at once, and the time until every one is available (Deployment controller creates
//! the ReplicaSets, the ReplicaSet controller the pods, the scheduler binds them, the simulated
//! nodes run them), the pod creations per second (ReplicaSet-created pods over that time), and
//! the p50/p99 of each Deployment's time from its create request to available.

use super::percentile_ms;
use super::server_process::ServerProcess;
use crate::cli::BenchControllersArgs;
use futures::StreamExt;
use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec};
use k8s_openapi::api::core::v1::{
    Container, Event, Node, Pod, PodSpec, PodTemplateSpec, ResourceRequirements,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::api::{Api, ListParams, ObjectMeta, PostParams};
use kube::runtime::watcher;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const LABEL: &str = "bench";
const LABEL_VALUE: &str = "controllers";

fn deployment(name: &str, replicas: i32) -> Deployment {
    let labels = BTreeMap::from([
        ("app".to_string(), name.to_string()),
        (LABEL.to_string(), LABEL_VALUE.to_string()),
    ]);
    Deployment {
        metadata: ObjectMeta {
            name: Some(name.into()),
            labels: Some(BTreeMap::from([(
                LABEL.to_string(),
                LABEL_VALUE.to_string(),
            )])),
            ..Default::default()
        },
        spec: Some(DeploymentSpec {
            replicas: Some(replicas),
            selector: LabelSelector {
                match_labels: Some(BTreeMap::from([("app".to_string(), name.to_string())])),
                ..Default::default()
            },
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(labels),
                    ..Default::default()
                }),
                spec: Some(PodSpec {
                    containers: vec![Container {
                        name: "c".into(),
                        image: Some("busybox".into()),
                        resources: Some(ResourceRequirements {
                            requests: Some(BTreeMap::from([
                                ("cpu".to_string(), Quantity("10m".into())),
                                ("memory".to_string(), Quantity("16Mi".into())),
                            ])),
                            ..Default::default()
                        }),
                        ..Default::default()
                    }],
                    ..Default::default()
                }),
            },
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Whether a Deployment has rolled out `replicas` available pods of its current generation.
fn available(d: &Deployment, replicas: i32) -> bool {
    let Some(st) = d.status.as_ref() else {
        return false;
    };
    st.observed_generation.unwrap_or(0) >= d.metadata.generation.unwrap_or(0)
        && st.updated_replicas.unwrap_or(0) >= replicas
        && st.available_replicas.unwrap_or(0) >= replicas
        && st.replicas.unwrap_or(0) == replicas
}

async fn wait_for_nodes(client: &kube::Client, nodes: usize) -> anyhow::Result<f64> {
    let started = Instant::now();
    let node_api: Api<Node> = Api::all(client.clone());
    loop {
        let n = node_api
            .list_metadata(&ListParams::default())
            .await?
            .items
            .len();
        if n >= nodes {
            return Ok(started.elapsed().as_secs_f64());
        }
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(600),
            "only {n} of {nodes} nodes registered"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

pub async fn run(args: BenchControllersArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.deployments > 0 && args.replicas > 0,
        "--deployments and --replicas must be positive"
    );
    let extra = vec![
        "--simulate-nodes".to_string(),
        args.nodes.to_string(),
        "--node-capacity".to_string(),
        "cpu=32,memory=256Gi,pods=110".to_string(),
    ];
    let server = ServerProcess::start(args.server_binary.clone(), &extra).await?;
    let client = server.client().await?;
    let register_s = wait_for_nodes(&client, args.nodes).await?;
    println!(
        "krust bench controllers: {} Deployments x {} replicas on {} simulated nodes (registered in {:.1}s)",
        args.deployments, args.replicas, args.nodes, register_s
    );

    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "default");
    // Watch first, so no transition to available is missed.
    let mut stream = watcher::watcher(
        deployments.clone(),
        watcher::Config::default().labels(&format!("{LABEL}={LABEL_VALUE}")),
    )
    .boxed();
    let requested: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let first_create = Instant::now();
    let mut creators = Vec::new();
    for _ in 0..args.concurrency.max(1) {
        let api = deployments.clone();
        let requested = requested.clone();
        let next = next.clone();
        let (count, replicas) = (args.deployments, args.replicas);
        creators.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= count {
                    return Ok::<_, anyhow::Error>(());
                }
                let name = format!("bench-{i}");
                requested
                    .lock()
                    .map_err(|_| anyhow::anyhow!("poisoned"))?
                    .insert(name.clone(), Instant::now());
                api.create(&PostParams::default(), &deployment(&name, replicas))
                    .await?;
            }
        }));
    }

    let deadline = Instant::now() + Duration::from_secs(args.timeout);
    let mut done: HashMap<String, f64> = HashMap::new();
    let mut last_available = first_create;
    while done.len() < args.deployments {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        let Ok(Some(ev)) = tokio::time::timeout(left, stream.next()).await else {
            break;
        };
        let d = match ev {
            Ok(watcher::Event::Apply(d) | watcher::Event::InitApply(d)) => d,
            Ok(_) => continue,
            Err(e) => {
                tracing::debug!(error = %e, "deployment watch");
                continue;
            }
        };
        let name = d.metadata.name.clone().unwrap_or_default();
        if done.contains_key(&name) || !available(&d, args.replicas) {
            continue;
        }
        let t0 = requested
            .lock()
            .map_err(|_| anyhow::anyhow!("poisoned"))?
            .get(&name)
            .copied();
        if let Some(t0) = t0 {
            last_available = Instant::now();
            done.insert(name, t0.elapsed().as_secs_f64());
        }
    }
    for c in creators {
        c.await??;
    }
    let all_available_s = last_available
        .duration_since(first_create)
        .as_secs_f64()
        .max(1e-9);

    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let created_pods = pods
        .list_metadata(&ListParams::default().labels(&format!("{LABEL}={LABEL_VALUE}")))
        .await?
        .items
        .iter()
        .filter(|p| {
            p.metadata
                .owner_references
                .iter()
                .flatten()
                .any(|o| o.kind == "ReplicaSet" && o.controller == Some(true))
        })
        .count();
    let events: Api<Event> = Api::namespaced(client.clone(), "default");
    let event_objects = events
        .list_metadata(&ListParams::default())
        .await?
        .items
        .len();
    let pods_per_s = created_pods as f64 / all_available_s;
    let mut latencies: Vec<f64> = done.values().copied().collect();
    let p50 = percentile_ms(&mut latencies, 0.50);
    let p99 = percentile_ms(&mut latencies, 0.99);

    println!(
        "{:>11} {:>8} {:>6} {:>9} {:>6} {:>16} {:>8} {:>9} {:>9} {:>7}",
        "DEPLOYMENTS",
        "REPLICAS",
        "NODES",
        "AVAILABLE",
        "PODS",
        "ALL_AVAILABLE_S",
        "PODS/S",
        "P50_MS",
        "P99_MS",
        "EVENTS"
    );
    println!(
        "{:>11} {:>8} {:>6} {:>9} {:>6} {:>16.2} {:>8.0} {:>9.0} {:>9.0} {:>7}",
        args.deployments,
        args.replicas,
        args.nodes,
        done.len(),
        created_pods,
        all_available_s,
        pods_per_s,
        p50,
        p99,
        event_objects
    );
    anyhow::ensure!(
        done.len() == args.deployments,
        "only {} of {} Deployments became available within {}s",
        done.len(),
        args.deployments,
        args.timeout
    );
    println!(
        "bench=controllers deployments={} replicas={} pods_per_s={:.0} all_available_s={:.2} p50_ms={:.0} p99_ms={:.0} nodes={}",
        args.deployments, args.replicas, pods_per_s, all_available_s, p50, p99, args.nodes
    );
    Ok(())
}
