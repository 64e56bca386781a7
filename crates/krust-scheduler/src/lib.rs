//! krust's scheduler: upstream kube-scheduler's framework in Rust, running as an ordinary API
//! client (kube-rs) — watches of pods, nodes, PodDisruptionBudgets, namespaces and
//! PriorityClasses feed a node cache with assumed pods and a priority queue with backoff; one
//! scheduling thread filters nodes (in parallel for large clusters) with the default profile's
//! plugins, scores them with upstream's weights, preempts lower-priority pods when nothing
//! fits, and hands bindings, status updates and events to an async executor.
//!
//! ```no_run
//! # async fn f(client: kube::Client) {
//! use krust_scheduler::{Scheduler, SchedulerConfig};
//! Scheduler::new(client, SchedulerConfig::default()).run().await;
//! # }
//! ```

pub mod binder;
pub mod cache;
pub mod events;
pub mod framework;
pub mod informers;
pub mod labels;
pub mod node_info;
pub mod plugins;
pub mod pod_info;
pub mod preemption;
pub mod queue;
pub mod resources;
pub mod scheduler;
#[cfg(test)]
mod testing;

use std::sync::Arc;
use std::time::Duration;

/// How NodeResourcesFit scores nodes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ScoreStrategy {
    /// Prefer nodes with the most free cpu and memory (spreading; upstream's default).
    #[default]
    LeastAllocated,
    /// Prefer the fullest nodes (bin packing).
    MostAllocated,
}

/// Scheduler settings (the parts of upstream's KubeSchedulerConfiguration krust supports).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SchedulerConfig {
    /// Pods with this `spec.schedulerName` are scheduled; others are left alone.
    pub scheduler_name: String,
    pub score_strategy: ScoreStrategy,
    /// Percentage of nodes to find feasible before scoring; `None` uses upstream's adaptive
    /// formula (50% minus 1% per 125 nodes, at least 5%, at least 100 nodes).
    pub percentage_of_nodes_to_score: Option<u32>,
    /// Backoff after the first failed attempt (doubles per attempt).
    pub initial_backoff: Duration,
    /// Longest backoff.
    pub max_backoff: Duration,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        SchedulerConfig {
            scheduler_name: "default-scheduler".to_string(),
            score_strategy: ScoreStrategy::LeastAllocated,
            percentage_of_nodes_to_score: None,
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(10),
        }
    }
}

/// The scheduler.
pub struct Scheduler {
    client: kube::Client,
    config: SchedulerConfig,
}

/// Aborts the watch tasks when the scheduler stops.
struct AbortOnDrop(Vec<tokio::task::JoinHandle<()>>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        for h in &self.0 {
            h.abort();
        }
    }
}

impl Scheduler {
    /// A scheduler talking to the API through `client`.
    pub fn new(client: kube::Client, config: SchedulerConfig) -> Self {
        Scheduler { client, config }
    }

    /// Runs until the process ends (or the future is dropped).
    pub async fn run(self) {
        let (input_tx, input_rx) = std::sync::mpsc::channel();
        let (action_tx, action_rx) = tokio::sync::mpsc::unbounded_channel();
        let core = scheduler::Core::new(self.config.clone(), action_tx);
        let spawned = std::thread::Builder::new()
            .name("krust-scheduler".into())
            .spawn(move || core.run(input_rx));
        if let Err(e) = spawned {
            tracing::error!(error = %e, "starting the scheduling thread");
            return;
        }
        tracing::info!(scheduler = %self.config.scheduler_name, "scheduler started");
        let _watches = AbortOnDrop(informers::spawn(self.client.clone(), input_tx.clone()));
        let recorder = Arc::new(events::EventRecorder::new(
            self.client.clone(),
            &self.config.scheduler_name,
        ));
        binder::run(self.client, action_rx, input_tx, recorder).await;
    }

    /// Runs only while this process holds the `kube-system/kube-scheduler` Lease as
    /// `identity` (upstream's `--leader-elect`): scheduling stops when leadership is lost and
    /// starts again, from fresh watches, when it is regained.
    pub async fn run_with_leader_election(self, identity: String) {
        use krust_client::leader::{LeaderElector, NAMESPACE, SCHEDULER_LEASE};
        let elector = LeaderElector::new(self.client.clone(), NAMESPACE, SCHEDULER_LEASE, identity);
        let (client, config) = (self.client, self.config);
        elector
            .run(move || Scheduler::new(client.clone(), config.clone()).run())
            .await;
    }
}
