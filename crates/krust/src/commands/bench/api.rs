//! `krust bench api`: create/get/list/watch throughput and p50/p99 latency against a real
//! `krust server` at several concurrencies, and the SQLite backend's raw write rate measured in
//! the same run, side by side, so the API's overhead shows as a ratio.

use super::percentile_ms;
use super::server_process::ServerProcess;
use crate::cli::BenchApiArgs;
use futures::StreamExt;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use krust_store::Backend;
use kube::api::{Api, ListParams, PostParams, WatchEvent, WatchParams};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn configmap(name: &str) -> ConfigMap {
    ConfigMap {
        metadata: kube::api::ObjectMeta {
            name: Some(name.into()),
            labels: Some(BTreeMap::from([("bench".to_string(), "api".to_string())])),
            ..Default::default()
        },
        data: Some(BTreeMap::from([("payload".to_string(), "x".repeat(256))])),
        ..Default::default()
    }
}

/// One measured operation: total wall time and per-operation latencies.
struct Run {
    ops: usize,
    wall: Duration,
    lat: Vec<f64>,
}

impl Run {
    fn per_s(&self) -> f64 {
        self.ops as f64 / self.wall.as_secs_f64().max(1e-9)
    }
}

/// Runs `count` operations over `conc` tasks; `op(i)` performs operation `i`.
async fn measure<F, Fut>(count: usize, conc: usize, op: F) -> anyhow::Result<Run>
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = anyhow::Result<()>> + Send,
{
    let op = Arc::new(op);
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..conc.max(1) {
        let op = op.clone();
        let next = next.clone();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= count {
                    return Ok::<_, anyhow::Error>(lat);
                }
                let t = Instant::now();
                op(i).await?;
                lat.push(t.elapsed().as_secs_f64());
            }
        }));
    }
    let mut lat = Vec::with_capacity(count);
    for t in tasks {
        lat.extend(t.await??);
    }
    Ok(Run {
        ops: count,
        wall: start.elapsed(),
        lat,
    })
}

fn row(op: &str, conc: usize, run: &mut Run) -> (f64, f64, f64) {
    let per_s = run.per_s();
    let p50 = percentile_ms(&mut run.lat, 0.50);
    let p99 = percentile_ms(&mut run.lat, 0.99);
    println!(
        "{op:<10} {conc:>5} {:>8} {per_s:>12.0} {p50:>10.2} {p99:>10.2}",
        run.ops
    );
    (per_s, p50, p99)
}

async fn raw_sqlite_creates(count: usize, conc: usize) -> anyhow::Result<Run> {
    let dir = tempfile::Builder::new()
        .prefix("krust-bench-raw-")
        .tempdir()?;
    let backend = Arc::new(krust_store::sqlite::SqliteBackend::open(
        &dir.path().join("raw.db"),
    )?);
    let value = bytes::Bytes::from(serde_json::to_vec(&configmap("raw"))?);
    let b = backend.clone();
    let run = measure(count, conc, move |i| {
        let b = b.clone();
        let value = value.clone();
        async move {
            b.create(&format!("/registry/core/configmaps/raw/cm-{i}"), value)
                .await?;
            Ok(())
        }
    })
    .await?;
    backend.close().await?;
    Ok(run)
}

/// Create while watching: time from each create's start until its ADDED event arrives.
async fn watch_latency(
    api: Api<ConfigMap>,
    count: usize,
    conc: usize,
    prefix: &str,
) -> anyhow::Result<Run> {
    let rv = api
        .list(&ListParams::default().limit(1))
        .await?
        .metadata
        .resource_version
        .unwrap_or_default();
    let mut stream = api
        .watch(&WatchParams::default().timeout(290), &rv)
        .await?
        .boxed();
    let started: Arc<std::sync::Mutex<HashMap<String, Instant>>> = Arc::default();
    let names_prefix = prefix.to_string();
    let writer_started = started.clone();
    let writer_api = api.clone();
    let begin = Instant::now();
    let writer = tokio::spawn(measure(count, conc, move |i| {
        let api = writer_api.clone();
        let started = writer_started.clone();
        let name = format!("{names_prefix}-{i}");
        async move {
            started
                .lock()
                .map_err(|_| anyhow::anyhow!("poisoned"))?
                .insert(name.clone(), Instant::now());
            api.create(&PostParams::default(), &configmap(&name))
                .await?;
            Ok(())
        }
    }));
    let mut lat = Vec::with_capacity(count);
    let deadline = Instant::now() + Duration::from_secs(280);
    while lat.len() < count && Instant::now() < deadline {
        let Some(ev) = tokio::time::timeout(Duration::from_secs(30), stream.next()).await? else {
            break;
        };
        if let WatchEvent::Added(cm) = ev? {
            let name = cm.metadata.name.unwrap_or_default();
            let t0 = started
                .lock()
                .map_err(|_| anyhow::anyhow!("poisoned"))?
                .get(&name)
                .copied();
            if let Some(t0) = t0 {
                lat.push(t0.elapsed().as_secs_f64());
            }
        }
    }
    writer.await??;
    Ok(Run {
        ops: lat.len(),
        wall: begin.elapsed(),
        lat,
    })
}

pub async fn run(args: BenchApiArgs) -> anyhow::Result<()> {
    let count = args.count.max(1);
    let server = ServerProcess::start(
        args.server_binary.clone(),
        &["--disable-scheduler".to_string()],
    )
    .await?;
    let client = server.client().await?;
    let rss_idle = server.rss_mib();
    println!(
        "krust bench api: {count} operations per row, concurrency {:?}",
        args.concurrency
    );
    println!(
        "{:<10} {:>5} {:>8} {:>12} {:>10} {:>10}",
        "OP", "CONC", "OPS", "OPS/S", "P50_MS", "P99_MS"
    );
    let mut summary: Vec<(String, String)> = vec![
        ("bench".into(), "api".into()),
        ("count".into(), count.to_string()),
    ];
    for &conc in &args.concurrency {
        let ns = format!("bench-c{conc}");
        let nss: Api<Namespace> = Api::all(client.clone());
        let mut n = Namespace::default();
        n.metadata.name = Some(ns.clone());
        nss.create(&PostParams::default(), &n).await?;
        let api: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);

        let a = api.clone();
        let mut create = measure(count, conc, move |i| {
            let a = a.clone();
            async move {
                a.create(&PostParams::default(), &configmap(&format!("cm-{i}")))
                    .await?;
                Ok(())
            }
        })
        .await?;
        let (create_per_s, create_p50, create_p99) = row("create", conc, &mut create);

        let mut raw = raw_sqlite_creates(count, conc).await?;
        let (raw_per_s, _, _) = row("raw-sqlite", conc, &mut raw);

        let a = api.clone();
        let mut get = measure(count, conc, move |i| {
            let a = a.clone();
            async move {
                a.get(&format!("cm-{}", i % count)).await?;
                Ok(())
            }
        })
        .await?;
        let (get_per_s, get_p50, get_p99) = row("get", conc, &mut get);

        // Lists of 100 objects (a label-selected page), from the watch cache.
        let lists = (count / 10).max(10);
        let a = api.clone();
        let mut list = measure(lists, conc, move |_| {
            let a = a.clone();
            async move {
                let l = a
                    .list(&ListParams::default().labels("bench=api").limit(100))
                    .await?;
                anyhow::ensure!(!l.items.is_empty(), "empty list");
                Ok(())
            }
        })
        .await?;
        let (list_per_s, list_p50, list_p99) = row("list100", conc, &mut list);

        let mut watch = watch_latency(api.clone(), count.min(2000), conc, "w").await?;
        let (watch_per_s, watch_p50, watch_p99) = row("watch", conc, &mut watch);

        let ratio = create_per_s / raw_per_s.max(1e-9);
        println!("{:<10} {conc:>5} api/raw create ratio {ratio:.3}", "ratio");
        for (k, v) in [
            ("create_per_s", create_per_s),
            ("create_p50_ms", create_p50),
            ("create_p99_ms", create_p99),
            ("raw_create_per_s", raw_per_s),
            ("get_per_s", get_per_s),
            ("get_p50_ms", get_p50),
            ("get_p99_ms", get_p99),
            ("list100_per_s", list_per_s),
            ("list100_p50_ms", list_p50),
            ("list100_p99_ms", list_p99),
            ("watch_events_per_s", watch_per_s),
            ("watch_p50_ms", watch_p50),
            ("watch_p99_ms", watch_p99),
            ("api_raw_ratio", ratio),
        ] {
            summary.push((format!("c{conc}_{k}"), format!("{v:.2}")));
        }
    }
    summary.push(("rss_idle_mib".into(), format!("{rss_idle:.1}")));
    summary.push(("rss_end_mib".into(), format!("{:.1}", server.rss_mib())));
    let line: Vec<String> = summary.iter().map(|(k, v)| format!("{k}={v}")).collect();
    println!("{}", line.join(" "));
    Ok(())
}
