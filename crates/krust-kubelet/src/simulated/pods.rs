//! The pod side of simulated nodes. One loop owns the state (which pods it runs, the per-node
//! IP pools) and reacts to a watch of bound pods (`spec.nodeName!=`, filtered to its nodes);
//! the API writes it decides on run in spawned tasks, at most `max_in_flight` at once, and
//! report back to the loop. No per-pod sleeps hold a worker: a deletion's short grace delay is
//! a timer that hands the job back to the loop.
//!
//! - A new pod gets an address from its node's pool (the node's own for hostNetwork pods) and a
//!   Running/Ready status through `pods/status` (a merge patch carrying the UID and
//!   resourceVersion it was computed from; on 409 the pod is read again and the status
//!   recomputed).
//! - A pod with a deletionTimestamp is deleted for real (grace period 0, UID precondition) after
//!   min(its grace period, 1 s); its address goes back to the pool when the pod is gone.
//! - A pod found already Running on its node (an agent restart) keeps its address.

use super::ipam::IpPool;
use super::nodes::Shared;
use super::objects::{already_running_here, running_pod_status};
use super::{backoff, retryable, status_code};
use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, DeleteParams, Patch, PatchParams, Preconditions};
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use serde_json::json;
use std::collections::{HashMap, HashSet, VecDeque};
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{Semaphore, mpsc};

/// Attempts a job makes before it is handed back to the loop to be retried later.
const ATTEMPTS: u32 = 5;
/// Delay before a job that failed all its attempts is tried again.
const RETRY_LATER: Duration = Duration::from_secs(5);
/// Longest simulated termination.
const MAX_TERMINATION: Duration = Duration::from_secs(1);
/// How often the loop logs a one-line summary (only when something changed).
const SUMMARY_EVERY: Duration = Duration::from_secs(10);

/// A write the loop wants done.
#[derive(Debug)]
enum Job {
    /// Make the pod Running with these addresses.
    Start {
        pod: Box<Pod>,
        host_ip: Ipv4Addr,
        pod_ip: Ipv4Addr,
    },
    /// Delete the pod for real.
    Delete {
        namespace: String,
        name: String,
        uid: String,
    },
}

impl Job {
    fn uid(&self) -> &str {
        match self {
            Job::Start { pod, .. } => pod.metadata.uid.as_deref().unwrap_or_default(),
            Job::Delete { uid, .. } => uid,
        }
    }
}

/// What became of a job, or a timer firing.
#[derive(Debug)]
enum Msg {
    Started(String),
    /// The pod no longer exists (or is another pod of the same name now).
    Gone(String),
    /// Nothing to do (the pod changed under the job; its next watch event decides).
    Skipped,
    /// Failed every attempt: try again in a while.
    RetryLater(Job),
    /// A timer handing a job back.
    Due(Job),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Status write in flight.
    Starting,
    Running,
    /// The node's pool is exhausted; started when an address frees up.
    WaitingForAddress,
    /// Being deleted (timer or DELETE in flight).
    Deleting,
    /// Finished (Succeeded/Failed) before this agent saw it: left alone.
    Finished,
}

#[derive(Debug)]
struct Entry {
    node: usize,
    /// Address taken from the node's pool (None for hostNetwork pods and finished ones).
    ip: Option<Ipv4Addr>,
    state: State,
}

struct PodLoop {
    shared: Arc<Shared>,
    pools: Vec<IpPool>,
    pods: HashMap<String, Entry>,
    /// Pods waiting for an address, per node, with the object to start them from.
    waiting: Vec<VecDeque<Box<Pod>>>,
    jobs: mpsc::UnboundedSender<Job>,
    msgs: mpsc::UnboundedSender<Msg>,
    /// UIDs seen during a relist (from `Init` to `InitDone`).
    relisting: Option<HashSet<String>>,
    started_total: u64,
    deleted_total: u64,
}

/// Runs the pod loop until the watch ends (never, in practice).
pub(crate) async fn run(shared: Arc<Shared>) {
    let pools = shared
        .nodes
        .iter()
        .map(|n| IpPool::new(n.pod_cidr()))
        .collect();
    let (job_tx, job_rx) = mpsc::unbounded_channel();
    let (msg_tx, mut msg_rx) = mpsc::unbounded_channel();
    tokio::spawn(dispatch(shared.clone(), job_rx, msg_tx.clone()));
    let mut state = PodLoop {
        waiting: (0..shared.nodes.len()).map(|_| VecDeque::new()).collect(),
        shared: shared.clone(),
        pools,
        pods: HashMap::new(),
        jobs: job_tx,
        msgs: msg_tx,
        relisting: None,
        started_total: 0,
        deleted_total: 0,
    };
    let api: Api<Pod> = Api::all(shared.client.clone());
    let config = watcher::Config::default()
        .fields("spec.nodeName!=")
        .any_semantic();
    let mut events = watcher::watcher(api, config).default_backoff().boxed();
    let mut summary = tokio::time::interval(SUMMARY_EVERY);
    let mut last_summary = (0u64, 0u64);
    let since = Instant::now();
    loop {
        tokio::select! {
            ev = events.next() => match ev {
                Some(Ok(ev)) => state.on_event(ev),
                Some(Err(e)) => shared.pod_errors.warn("pods watch", &e),
                None => return,
            },
            Some(msg) = msg_rx.recv() => state.on_msg(msg),
            _ = summary.tick() => {
                let now = (state.started_total, state.deleted_total);
                if now != last_summary {
                    last_summary = now;
                    tracing::info!(
                        running = state.pods.values().filter(|e| e.state == State::Running).count(),
                        started_total = now.0,
                        deleted_total = now.1,
                        uptime_s = since.elapsed().as_secs(),
                        "simulated pods"
                    );
                }
            }
        }
    }
}

impl PodLoop {
    fn on_event(&mut self, ev: Event<Pod>) {
        match ev {
            Event::Init => self.relisting = Some(HashSet::new()),
            Event::InitApply(pod) => {
                if let (Some(seen), Some(uid)) = (self.relisting.as_mut(), pod.metadata.uid.clone())
                {
                    seen.insert(uid);
                }
                self.on_apply(pod);
            }
            Event::InitDone => {
                if let Some(seen) = self.relisting.take() {
                    let gone: Vec<String> = self
                        .pods
                        .keys()
                        .filter(|uid| !seen.contains(*uid))
                        .cloned()
                        .collect();
                    for uid in gone {
                        self.forget(&uid);
                    }
                }
            }
            Event::Apply(pod) => self.on_apply(pod),
            Event::Delete(pod) => {
                if let Some(uid) = pod.metadata.uid.as_deref() {
                    self.forget(uid);
                }
            }
        }
    }

    fn on_apply(&mut self, pod: Pod) {
        let Some(node) = pod
            .spec
            .as_ref()
            .and_then(|s| s.node_name.as_deref())
            .and_then(|n| self.shared.by_name.get(n).copied())
        else {
            return;
        };
        let Some(uid) = pod.metadata.uid.clone() else {
            return;
        };
        if pod.metadata.deletion_timestamp.is_some() {
            self.on_deleting(pod, node, uid);
            return;
        }
        if self.pods.contains_key(&uid) {
            return;
        }
        let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
        if matches!(phase, Some("Succeeded" | "Failed")) {
            self.pods.insert(
                uid,
                Entry {
                    node,
                    ip: None,
                    state: State::Finished,
                },
            );
            return;
        }
        let host_ip = self.shared.nodes[node].address;
        if let Some(existing) = already_running_here(&pod, host_ip) {
            let ip = existing.filter(|ip| self.pools[node].reserve(*ip));
            self.pods.insert(
                uid,
                Entry {
                    node,
                    ip,
                    state: State::Running,
                },
            );
            return;
        }
        self.start(Box::new(pod), node, uid);
    }

    fn start(&mut self, pod: Box<Pod>, node: usize, uid: String) {
        let host_ip = self.shared.nodes[node].address;
        let host_network = pod
            .spec
            .as_ref()
            .and_then(|s| s.host_network)
            .unwrap_or(false);
        let ip = if host_network {
            None
        } else {
            match self.pools[node].allocate() {
                Some(ip) => Some(ip),
                None => {
                    self.shared.pod_errors.warn(
                        &self.shared.nodes[node].name,
                        &format!(
                            "no free pod address in {} ({} in use); the pod waits",
                            self.pools[node].cidr(),
                            self.pools[node].in_use()
                        ),
                    );
                    self.pods.insert(
                        uid,
                        Entry {
                            node,
                            ip: None,
                            state: State::WaitingForAddress,
                        },
                    );
                    self.waiting[node].push_back(pod);
                    return;
                }
            }
        };
        self.pods.insert(
            uid,
            Entry {
                node,
                ip,
                state: State::Starting,
            },
        );
        let _ = self.jobs.send(Job::Start {
            pod,
            host_ip,
            pod_ip: ip.unwrap_or(host_ip),
        });
    }

    fn on_deleting(&mut self, pod: Pod, node: usize, uid: String) {
        match self.pods.get_mut(&uid) {
            Some(e) if e.state == State::Deleting => return,
            Some(e) => {
                if e.state == State::WaitingForAddress {
                    self.waiting[e.node].retain(|p| p.metadata.uid.as_deref() != Some(&uid));
                }
                e.state = State::Deleting;
            }
            None => {
                self.pods.insert(
                    uid.clone(),
                    Entry {
                        node,
                        ip: None,
                        state: State::Deleting,
                    },
                );
            }
        }
        let grace = pod
            .metadata
            .deletion_grace_period_seconds
            .unwrap_or(0)
            .max(0);
        let delay = Duration::from_secs(u64::try_from(grace).unwrap_or(0)).min(MAX_TERMINATION);
        let job = Job::Delete {
            namespace: pod.metadata.namespace.clone().unwrap_or_default(),
            name: pod.metadata.name.clone().unwrap_or_default(),
            uid,
        };
        self.after(delay, job);
    }

    /// Hands `job` back to the loop after `delay`.
    fn after(&self, delay: Duration, job: Job) {
        if delay.is_zero() {
            let _ = self.jobs.send(job);
            return;
        }
        let msgs = self.msgs.clone();
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let _ = msgs.send(Msg::Due(job));
        });
    }

    /// The pod is gone: its address goes back to the pool, and a pod waiting for one starts.
    fn forget(&mut self, uid: &str) {
        let Some(e) = self.pods.remove(uid) else {
            return;
        };
        if e.state == State::Deleting || e.state == State::Running {
            self.deleted_total += 1;
        }
        if e.state == State::WaitingForAddress {
            self.waiting[e.node].retain(|p| p.metadata.uid.as_deref() != Some(uid));
        }
        if let Some(ip) = e.ip {
            self.pools[e.node].release(ip);
            if let Some(pod) = self.waiting[e.node].pop_front()
                && let Some(uid) = pod.metadata.uid.clone()
            {
                self.pods.remove(&uid);
                self.start(pod, e.node, uid);
            }
        }
    }

    fn on_msg(&mut self, msg: Msg) {
        match msg {
            Msg::Started(uid) => {
                if let Some(e) = self.pods.get_mut(&uid)
                    && e.state == State::Starting
                {
                    e.state = State::Running;
                    self.started_total += 1;
                }
            }
            Msg::Gone(uid) => self.forget(&uid),
            Msg::Skipped => {}
            Msg::RetryLater(job) => self.after(RETRY_LATER, job),
            Msg::Due(job) => {
                // Only if the pod is still in the state the job was made for.
                let wanted = match job {
                    Job::Start { .. } => State::Starting,
                    Job::Delete { .. } => State::Deleting,
                };
                if self.pods.get(job.uid()).is_some_and(|e| e.state == wanted) {
                    let _ = self.jobs.send(job);
                }
            }
        }
    }
}

/// Runs jobs as they come, at most `max_in_flight` at once.
async fn dispatch(
    shared: Arc<Shared>,
    mut jobs: mpsc::UnboundedReceiver<Job>,
    msgs: mpsc::UnboundedSender<Msg>,
) {
    let sem = Arc::new(Semaphore::new(shared.config.max_in_flight.max(1)));
    while let Some(job) = jobs.recv().await {
        let Ok(permit) = sem.clone().acquire_owned().await else {
            return;
        };
        let shared = shared.clone();
        let msgs = msgs.clone();
        tokio::spawn(async move {
            let msg = match job {
                Job::Start {
                    pod,
                    host_ip,
                    pod_ip,
                } => start_pod(&shared, pod, host_ip, pod_ip).await,
                Job::Delete {
                    namespace,
                    name,
                    uid,
                } => delete_pod(&shared, namespace, name, uid).await,
            };
            drop(permit);
            let _ = msgs.send(msg);
        });
    }
}

/// Writes the Running status, re-reading the pod on conflicts.
async fn start_pod(shared: &Shared, mut pod: Box<Pod>, host_ip: Ipv4Addr, pod_ip: Ipv4Addr) -> Msg {
    let uid = pod.metadata.uid.clone().unwrap_or_default();
    let namespace = pod.metadata.namespace.clone().unwrap_or_default();
    let name = pod.metadata.name.clone().unwrap_or_default();
    let api: Api<Pod> = Api::namespaced(shared.client.clone(), &namespace);
    let mut last_error = None;
    for attempt in 1..=ATTEMPTS {
        let status = running_pod_status(&pod, host_ip, pod_ip, Timestamp::now());
        let body = json!({
            "metadata": {"uid": uid, "resourceVersion": pod.metadata.resource_version},
            "status": status,
        });
        match api
            .patch_status(&name, &PatchParams::default(), &Patch::Merge(&body))
            .await
        {
            Ok(_) => return Msg::Started(uid),
            Err(e) if status_code(&e) == Some(404) => return Msg::Gone(uid),
            Err(e) if status_code(&e) == Some(409) => {
                // Changed since we looked: read it again and recompute.
                match api.get_opt(&name).await {
                    Ok(Some(fresh)) if fresh.metadata.uid.as_deref() == Some(&uid) => {
                        if fresh.metadata.deletion_timestamp.is_some() {
                            return Msg::Skipped;
                        }
                        pod = Box::new(fresh);
                    }
                    Ok(_) => return Msg::Gone(uid),
                    Err(e) => {
                        last_error = Some(e);
                        tokio::time::sleep(backoff(attempt)).await;
                    }
                }
            }
            Err(e) if retryable(&e) => {
                last_error = Some(e);
                tokio::time::sleep(backoff(attempt)).await;
            }
            Err(e) => {
                // Rejected outright (invalid, forbidden): say so, and try later anyway.
                shared.pod_errors.warn(&format!("{namespace}/{name}"), &e);
                return Msg::RetryLater(Job::Start {
                    pod,
                    host_ip,
                    pod_ip,
                });
            }
        }
    }
    if let Some(e) = last_error {
        shared.pod_errors.warn(&format!("{namespace}/{name}"), &e);
    }
    Msg::RetryLater(Job::Start {
        pod,
        host_ip,
        pod_ip,
    })
}

/// Deletes the pod for real (grace period 0, only this UID).
async fn delete_pod(shared: &Shared, namespace: String, name: String, uid: String) -> Msg {
    let api: Api<Pod> = Api::namespaced(shared.client.clone(), &namespace);
    let params = DeleteParams {
        grace_period_seconds: Some(0),
        preconditions: Some(Preconditions {
            uid: Some(uid.clone()),
            resource_version: None,
        }),
        ..DeleteParams::default()
    };
    let mut last_error = None;
    for attempt in 1..=ATTEMPTS {
        match api.delete(&name, &params).await {
            // Deleted, or held by finalizers (its Delete event comes when they are done).
            Ok(_) => return Msg::Skipped,
            // Gone already, or the name now belongs to another pod.
            Err(e) if matches!(status_code(&e), Some(404 | 409)) => return Msg::Gone(uid),
            Err(e) if retryable(&e) => {
                last_error = Some(e);
                tokio::time::sleep(backoff(attempt)).await;
            }
            Err(e) => {
                last_error = Some(e);
                break;
            }
        }
    }
    if let Some(e) = last_error {
        shared.pod_errors.warn(&format!("{namespace}/{name}"), &e);
    }
    Msg::RetryLater(Job::Delete {
        namespace,
        name,
        uid,
    })
}
