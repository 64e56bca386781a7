//! The traffic half of `krust bench services` (with `--images`): a node server runs two
//! identical nginx pods, one behind a ClusterIP Service and an Ingress, and the same client
//! load goes, in alternating rounds, to the other pod's IP directly and through the ClusterIP
//! (new connections: connect, one HTTP/1.0 request, read to close) and through the ingress
//! controller (keep-alive HTTP/1.1 requests), so that each ratio is measured side by side in
//! one run.

use super::server_process::{ServerProcess, free_port};
use anyhow::{Context, bail};
use k8s_openapi::api::core::v1::{Pod, Service};
use k8s_openapi::api::networking::v1::Ingress;
use kube::api::{Api, PostParams};
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// One kind of load against one address.
#[derive(Clone, Copy)]
enum Load {
    /// A new connection per request (HTTP/1.0, read to close).
    Connections,
    /// Keep-alive HTTP/1.1 requests with this Host header's value.
    KeepAlive(&'static str),
}

const HOST: &str = "bench.example.test";

/// Reads one HTTP/1.1 response with a Content-Length from `conn`.
async fn read_response(conn: &mut TcpStream, buf: &mut Vec<u8>) -> anyhow::Result<()> {
    buf.clear();
    let mut chunk = [0u8; 8192];
    let header_end = loop {
        let n = conn.read(&mut chunk).await?;
        if n == 0 {
            bail!("connection closed mid-response");
        }
        buf.extend_from_slice(chunk.get(..n).unwrap_or_default());
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(buf.get(..header_end).unwrap_or_default()).to_lowercase();
    if !head.starts_with("http/1.1 200") {
        bail!("not a 200: {}", head.lines().next().unwrap_or(""));
    }
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .context("a response without Content-Length")?;
    while buf.len() < header_end + length {
        let n = conn.read(&mut chunk).await?;
        if n == 0 {
            bail!("connection closed mid-body");
        }
        buf.extend_from_slice(chunk.get(..n).unwrap_or_default());
    }
    Ok(())
}

/// `workers` clients for `duration`; the latency of every request, in seconds.
async fn round(
    addr: SocketAddr,
    load: Load,
    workers: usize,
    duration: Duration,
) -> anyhow::Result<Vec<f64>> {
    let deadline = Instant::now() + duration;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..workers {
        tasks.spawn(async move {
            let mut samples = Vec::new();
            let mut buf = Vec::with_capacity(16 * 1024);
            match load {
                Load::Connections => {
                    while Instant::now() < deadline {
                        let started = Instant::now();
                        let mut conn = TcpStream::connect(addr).await?;
                        conn.write_all(b"GET / HTTP/1.0\r\n\r\n").await?;
                        buf.clear();
                        conn.read_to_end(&mut buf).await?;
                        if !buf.starts_with(b"HTTP/1.1 200") {
                            bail!("{addr}: not a 200");
                        }
                        samples.push(started.elapsed().as_secs_f64());
                    }
                }
                Load::KeepAlive(host) => {
                    let request = format!("GET / HTTP/1.1\r\nHost: {host}\r\n\r\n");
                    let mut conn: Option<TcpStream> = None;
                    while Instant::now() < deadline {
                        let reused = conn.is_some();
                        let c = match conn.as_mut() {
                            Some(c) => c,
                            None => {
                                let c = TcpStream::connect(addr).await?;
                                c.set_nodelay(true)?;
                                conn.insert(c)
                            }
                        };
                        let started = Instant::now();
                        let result = async {
                            c.write_all(request.as_bytes()).await?;
                            read_response(c, &mut buf).await
                        }
                        .await;
                        match result {
                            Ok(()) => samples.push(started.elapsed().as_secs_f64()),
                            // nginx closes a keep-alive connection after 100 requests
                            // (`keepalive_requests`): open another one.
                            Err(_) if reused => conn = None,
                            Err(e) => return Err(e),
                        }
                    }
                }
            }
            Ok::<_, anyhow::Error>(samples)
        });
    }
    let mut all = Vec::new();
    while let Some(r) = tasks.join_next().await {
        all.extend(r??);
    }
    Ok(all)
}

/// Requests per second and p50/p99 in ms of `samples` taken over `seconds`.
fn summary(samples: &mut [f64], seconds: f64) -> (f64, f64, f64) {
    let rate = samples.len() as f64 / seconds.max(1e-9);
    let p50 = super::percentile_ms(samples, 0.5);
    let p99 = super::percentile_ms(samples, 0.99);
    (rate, p50, p99)
}

async fn wait_for(what: &str, mut ok: impl AsyncFnMut() -> bool) -> anyhow::Result<()> {
    let started = Instant::now();
    while !ok().await {
        if started.elapsed() > Duration::from_secs(120) {
            bail!("{what} within 120 s");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

/// Runs the traffic benchmark and prints its table; returns the summary fields.
pub async fn run(
    binary: Option<std::path::PathBuf>,
    images: &std::path::Path,
    workers: usize,
    seconds: f64,
    rounds: usize,
) -> anyhow::Result<String> {
    let ingress_port = free_port()?;
    let server = ServerProcess::start_node(
        binary,
        images,
        &["--ingress-http-port".into(), ingress_port.to_string()],
    )
    .await?;
    let client = server.client().await?;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let services: Api<Service> = Api::namespaced(client.clone(), "default");
    let ingresses: Api<Ingress> = Api::namespaced(client.clone(), "default");
    // Two identical nginx pods: one reached directly, one behind the Service (and the
    // ingress). Each path has a server of its own, so the TIME_WAIT 4-tuples one path leaves
    // in a pod do not meet the other path's SYNs (whose TCP timestamps differ: per-destination
    // offsets), which would turn into 1 s SYN retransmits and measure that instead of the path.
    let pod = |name: &str, app: &str| -> anyhow::Result<Pod> {
        Ok(serde_json::from_value(serde_json::json!({
            "metadata": {"name": name, "labels": {"app": app}},
            "spec": {"containers": [{"name": "nginx", "image": "nginx:1.7.9"}]}}))?)
    };
    let service: Service = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "bench-nginx"},
        "spec": {"selector": {"app": "bench-nginx"}, "ports": [{"port": 80}]}}))?;
    let ingress: Ingress = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "bench-nginx"},
        "spec": {"rules": [{"host": HOST, "http": {"paths": [{"path": "/", "pathType": "Prefix",
            "backend": {"service": {"name": "bench-nginx", "port": {"number": 80}}}}]}}]}}))?;
    let (direct_pod, served_pod) = (
        pod("bench-direct", "bench-direct")?,
        pod("bench-nginx", "bench-nginx")?,
    );
    // The node registers (and its namespace's ServiceAccount appears) shortly after start.
    for p in [&direct_pod, &served_pod] {
        let name = p.metadata.name.clone().unwrap_or_default();
        wait_for("the pod was not accepted", async || {
            pods.create(&PostParams::default(), p).await.is_ok() || pods.get(&name).await.is_ok()
        })
        .await?;
    }
    services.create(&PostParams::default(), &service).await?;
    wait_for("the IngressClass did not appear", async || {
        ingresses
            .create(&PostParams::default(), &ingress)
            .await
            .is_ok()
    })
    .await?;
    let mut pod_ip = String::new();
    for name in ["bench-nginx", "bench-direct"] {
        wait_for("an nginx pod was not Ready", async || {
            match pods.get(name).await {
                Ok(p) => {
                    pod_ip = p
                        .status
                        .as_ref()
                        .and_then(|s| s.pod_ip.clone())
                        .unwrap_or_default();
                    p.status.and_then(|s| s.conditions).is_some_and(|cs| {
                        cs.iter().any(|c| c.type_ == "Ready" && c.status == "True")
                    })
                }
                Err(_) => false,
            }
        })
        .await?;
    }
    let cluster_ip = services
        .get("bench-nginx")
        .await?
        .spec
        .and_then(|s| s.cluster_ip)
        .context("no ClusterIP")?;
    let direct: SocketAddr = format!("{pod_ip}:80").parse()?;
    let via_service: SocketAddr = format!("{cluster_ip}:80").parse()?;
    let via_ingress: SocketAddr = format!("127.0.0.1:{ingress_port}").parse()?;
    let short = Duration::from_millis(200);
    wait_for("the ClusterIP did not answer", async || {
        round(via_service, Load::Connections, 1, short)
            .await
            .is_ok()
    })
    .await?;
    wait_for("the ingress did not route", async || {
        round(via_ingress, Load::KeepAlive(HOST), 1, short)
            .await
            .is_ok()
    })
    .await?;

    let length = Duration::from_secs_f64(seconds);
    let (mut pod_c, mut svc_c, mut pod_k, mut ing_k) = (vec![], vec![], vec![], vec![]);
    for _ in 0..rounds {
        pod_c.extend(round(direct, Load::Connections, workers, length).await?);
        svc_c.extend(round(via_service, Load::Connections, workers, length).await?);
        pod_k.extend(round(direct, Load::KeepAlive(HOST), workers, length).await?);
        ing_k.extend(round(via_ingress, Load::KeepAlive(HOST), workers, length).await?);
    }
    let total = seconds * rounds as f64;
    let rows = [
        ("pod IP, new connections", summary(&mut pod_c, total)),
        ("ClusterIP, new connections", summary(&mut svc_c, total)),
        ("pod IP, keep-alive requests", summary(&mut pod_k, total)),
        ("ingress, keep-alive requests", summary(&mut ing_k, total)),
    ];
    println!();
    println!(
        "{:<30} {:>10} {:>9} {:>9}   ({workers} clients, {rounds} alternating rounds of {seconds} s)",
        "traffic to nginx pods", "per s", "p50", "p99"
    );
    for (name, (rate, p50, p99)) in &rows {
        println!("{name:<30} {rate:>10.0} {p50:>7.2}ms {p99:>7.2}ms");
    }
    let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { 0.0 };
    let cluster_ratio = ratio(rows[1].1.0, rows[0].1.0);
    let ingress_ratio = ratio(rows[3].1.0, rows[2].1.0);
    println!(
        "ClusterIP/pod connection rate ratio {cluster_ratio:.2} (goal ≥ 0.95); \
         ingress/pod request rate ratio {ingress_ratio:.2} (goal ≥ 0.8)"
    );
    Ok(format!(
        "clusterip_ratio={cluster_ratio:.2} clusterip_p99_ms={:.2} pod_conn_p99_ms={:.2} \
         ingress_ratio={ingress_ratio:.2} ingress_p99_ms={:.2} pod_req_p99_ms={:.2}",
        rows[1].1.2, rows[0].1.2, rows[3].1.2, rows[2].1.2
    ))
}
