//! `krust bench …`: benchmarks that start what they need, run bounded loops on loopback, and
//! print a table and a final `key=value` summary line.

mod api;
mod controllers;
mod pods;
mod scheduler;
mod server_process;
mod service_traffic;
mod services;

use crate::cli::{BenchArgs, BenchCommand};

pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    match args.which {
        BenchCommand::Api(a) => api::run(a).await,
        BenchCommand::Scheduler(a) => scheduler::run(a).await,
        BenchCommand::Pods(a) => pods::run(a).await,
        BenchCommand::Controllers(a) => controllers::run(a).await,
        BenchCommand::Services(a) => services::run(a).await,
    }
}

/// Latency percentiles of a set of samples, in milliseconds.
pub(crate) fn percentile_ms(samples: &mut [f64], p: f64) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    samples.sort_by(|a, b| a.total_cmp(b));
    let idx = ((samples.len() as f64 - 1.0) * p).round() as usize;
    samples[idx.min(samples.len() - 1)] * 1000.0
}
