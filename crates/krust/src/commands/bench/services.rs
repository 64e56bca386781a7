//! `krust bench services`: how long the service proxy takes to program an endpoint change,
//! at several Service counts (each with `--endpoints` simulated endpoints): the plan built
//! from the objects and the partial `nft -f -` transaction that makes the change live, next
//! to a full sync of the same table, in a table of the benchmark's own (removed at the end).
//! Informer delivery (watch latency) is not included; `krust bench api` measures that. With
//! `--images`, also the traffic ratios of [`super::service_traffic`].

use crate::cli::BenchServicesArgs;
use anyhow::Context;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use std::sync::Arc;
use std::time::Instant;

fn service(i: usize) -> Arc<Service> {
    let ip = format!("10.43.{}.{}", i / 250, i % 250 + 2);
    Arc::new(
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": format!("svc-{i}"), "namespace": "bench"},
            "spec": {"clusterIP": ip, "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]}
        }))
        .unwrap_or_default(),
    )
}

fn slice(i: usize, endpoints: usize, generation: usize) -> Arc<EndpointSlice> {
    let eps: Vec<serde_json::Value> = (0..endpoints)
        .map(|e| {
            let n = i * endpoints + e + generation;
            serde_json::json!({"addresses": [format!("10.{}.{}.{}", 64 + n / 62500, (n / 250) % 250, n % 250 + 2)],
                "conditions": {"ready": true}, "nodeName": "bench"})
        })
        .collect();
    Arc::new(
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": format!("svc-{i}-x"), "namespace": "bench",
                "labels": {"kubernetes.io/service-name": format!("svc-{i}")}},
            "addressType": "IPv4",
            "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
            "endpoints": eps
        }))
        .unwrap_or_default(),
    )
}

/// Removes the benchmark's table even when a step fails.
struct TableGuard(String);

impl Drop for TableGuard {
    fn drop(&mut self) {
        let _ = std::process::Command::new("nft")
            .args(["delete", "table", "ip", &self.0])
            .stderr(std::process::Stdio::null())
            .status();
    }
}

pub async fn run(args: BenchServicesArgs) -> anyhow::Result<()> {
    use krust_proxy::ruleset::{RenderState, full_script, incremental_script, plan};
    let table = format!("krust-bench-{}", std::process::id());
    let _guard = TableGuard(table.clone());
    let cidr = "10.64.0.0/11";
    println!(
        "{:>9} {:>10} {:>11} {:>13} {:>15} {:>15} {:>14}",
        "services",
        "endpoints",
        "table KiB",
        "full sync p50",
        "change p50",
        "change p99",
        "of which nft"
    );
    let mut summary = Vec::new();
    for &count in &args.services {
        let services: Vec<Arc<Service>> = (0..count).map(service).collect();
        let mut slices: Vec<Arc<EndpointSlice>> =
            (0..count).map(|i| slice(i, args.endpoints, 0)).collect();
        // Full syncs (what the first sync, or one after the table was lost, costs).
        let mut fulls = Vec::new();
        // As the proxy keeps it: the rendering of each port, redone only for ports that change.
        let mut state = RenderState::default();
        state.advance(cidr, &plan(&services, &slices, "bench"));
        let text = full_script(&table, cidr, &state.full());
        for _ in 0..3 {
            let started = Instant::now();
            krust_proxy::nft::apply(&text)
                .await
                .context("programming the ruleset (needs root and nftables)")?;
            fulls.push(started.elapsed().as_secs_f64());
        }
        // Endpoint changes as the proxy programs them: plan, render, partial transaction.
        let mut changes = Vec::new();
        let mut nft_times = Vec::new();
        for change in 1..=args.changes {
            let which = change % count.max(1);
            if let Some(s) = slices.get_mut(which) {
                *s = slice(which, args.endpoints, change);
            }
            let started = Instant::now();
            let (before, after) = state.advance(cidr, &plan(&services, &slices, "bench"));
            let script = incremental_script(&table, &before, &after);
            let rendered = Instant::now();
            krust_proxy::nft::apply(&script).await?;
            changes.push(started.elapsed().as_secs_f64());
            nft_times.push(rendered.elapsed().as_secs_f64());
        }
        let kib = text.len() as f64 / 1024.0;
        let f50 = super::percentile_ms(&mut fulls, 0.5);
        let c50 = super::percentile_ms(&mut changes.clone(), 0.5);
        let c99 = super::percentile_ms(&mut changes, 0.99);
        let n50 = super::percentile_ms(&mut nft_times, 0.5);
        println!(
            "{count:>9} {:>10} {kib:>11.0} {f50:>11.1}ms {c50:>13.1}ms {c99:>13.1}ms {n50:>12.1}ms",
            args.endpoints
        );
        summary.push(format!(
            "full_sync_ms_at_{count}={f50:.1} change_p99_ms_at_{count}={c99:.1}"
        ));
    }
    if let Some(images) = &args.images {
        let images = std::fs::canonicalize(images)
            .with_context(|| format!("the image archives in {}", images.display()))?;
        summary.push(
            super::service_traffic::run(
                args.server_binary.clone(),
                &images,
                args.clients.max(1),
                args.seconds,
                args.rounds.max(1),
            )
            .await?,
        );
    }
    println!("{}", summary.join(" "));
    Ok(())
}
