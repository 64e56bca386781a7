//! One task per pod (upstream's pod worker + `SyncPod`): each sync reads what the runtime holds
//! for the pod, decides what to do as upstream's `computePodActions` does — create the sandbox
//! (after the volumes), run init containers one at a time in order, start or restart
//! containers by `restartPolicy` with the crash-loop backoff, kill containers whose liveness or
//! startup probe failed or whose spec changed — then computes the pod's status and writes it
//! through `pods/status` when it changed. A pod with a `deletionTimestamp` is terminated
//! ([`crate::termination`]) and deleted for good. The worker wakes on pod updates, on runtime
//! changes (the relister), on probe results, and on its own timers (backoffs end, volumes are
//! refreshed every minute).

use crate::backoff::{Backoff, go_duration};
use crate::container::{self, NodeSettings};
use crate::cri::Cri;
use crate::events::{Events, NORMAL, WARNING};
use crate::lifecycle::format_pod;
use crate::probes::{ProbeKind, ProbeManager, Target};
use crate::resources;
use crate::runtime::{self, ANN_HASH, PodContainer, RuntimePod, StatusCache};
use crate::status::{self, ContainerView, PodView, RunState};
use crate::volumes::{self, Prepared, TokenSpec};
use k8s_openapi::api::core::v1::{ConfigMap, Container, Pod, Secret};
use k8s_openapi::jiff::Timestamp;
use kube::Client;
use kube::api::{Api, Patch, PatchParams};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::{Notify, mpsc, watch};

/// How often a quiet pod is synced anyway.
const RESYNC: Duration = Duration::from_secs(10);
/// How often configMap, secret, downwardAPI and projected volumes are refreshed.
const VOLUME_REFRESH: Duration = Duration::from_secs(60);
/// Sandboxes and exited containers kept per container name (current and previous).
const KEEP_PER_NAME: usize = 2;

/// What every pod worker shares.
pub struct PodContext {
    pub client: Client,
    pub cri: Cri,
    pub events: Events,
    pub node: NodeSettings,
    pub node_name: String,
    pub host_ip: String,
    /// The cluster CA (PEM), for `ca.crt` in ServiceAccount volumes.
    pub ca_pem: String,
    /// The registries pulls may reach, and the file they came from.
    pub registries: crate::registries::Registries,
    pub registries_file: std::path::PathBuf,
    /// Node allocatable (for `resourceFieldRef` limits that are unset).
    pub allocatable: BTreeMap<String, String>,
    /// Whether the pod network (CNI config) is ready.
    pub network_ready: watch::Receiver<bool>,
    /// The host's resolv.conf (for `dnsPolicy: Default`).
    pub host_resolv: String,
}

/// The manager's handle on a worker.
pub struct WorkerHandle {
    pub updates: watch::Sender<Option<Pod>>,
    pub wake: Arc<Notify>,
}

/// Starts the worker of `pod`; `done` receives its UID when it has finished (the pod is gone).
pub fn spawn(ctx: Arc<PodContext>, pod: Pod, done: mpsc::UnboundedSender<String>) -> WorkerHandle {
    let (tx, rx) = watch::channel(Some(pod.clone()));
    let wake = Arc::new(Notify::new());
    let uid = pod.metadata.uid.clone().unwrap_or_default();
    let worker = Worker {
        probes: ProbeManager::new(wake.clone()),
        ctx,
        uid: uid.clone(),
        pod,
        updates: rx,
        wake: wake.clone(),
        cache: StatusCache::default(),
        backoff: Backoff::default(),
        waiting: HashMap::new(),
        prepared: None,
        prepared_at: None,
        tokens: HashMap::new(),
        last_written: None,
        sandbox_ips: HashMap::new(),
        hosts_written: HashSet::new(),
        post_start_done: HashSet::new(),
        announced_backoff: HashSet::new(),
        gone: false,
    };
    tokio::spawn(async move {
        worker.run().await;
        let _ = done.send(uid);
    });
    WorkerHandle { updates: tx, wake }
}

pub(crate) struct Worker {
    pub(crate) ctx: Arc<PodContext>,
    pub(crate) uid: String,
    /// The pod as last seen in the API.
    pub(crate) pod: Pod,
    updates: watch::Receiver<Option<Pod>>,
    wake: Arc<Notify>,
    pub(crate) cache: StatusCache,
    pub(crate) backoff: Backoff,
    /// Waiting reasons decided for containers (by name).
    pub(crate) waiting: HashMap<String, (String, String)>,
    pub(crate) probes: ProbeManager,
    pub(crate) prepared: Option<Prepared>,
    prepared_at: Option<Instant>,
    tokens: HashMap<TokenSpec, (String, Instant, Duration)>,
    last_written: Option<serde_json::Value>,
    pub(crate) sandbox_ips: HashMap<String, String>,
    hosts_written: HashSet<String>,
    pub(crate) post_start_done: HashSet<String>,
    announced_backoff: HashSet<String>,
    gone: bool,
}

/// What a sync decided about the next one.
enum Next {
    In(Duration),
    Finished,
}

fn restart_policy(pod: &Pod) -> String {
    pod.spec
        .as_ref()
        .and_then(|s| s.restart_policy.clone())
        .unwrap_or_else(|| "Always".into())
}

fn should_restart(policy: &str, exit_code: i32) -> bool {
    match policy {
        "Never" => false,
        "OnFailure" => exit_code != 0,
        _ => true,
    }
}

fn system_time(t: Option<Timestamp>) -> SystemTime {
    t.map(|t| SystemTime::UNIX_EPOCH + Duration::from_nanos(t.as_nanosecond().max(0) as u64))
        .unwrap_or_else(SystemTime::now)
}

/// The instant corresponding to a wall-clock time in the past.
fn instant_of(t: Option<Timestamp>) -> Instant {
    let ago = SystemTime::now()
        .duration_since(system_time(t))
        .unwrap_or_default();
    Instant::now().checked_sub(ago).unwrap_or_else(Instant::now)
}

fn is_terminal_phase(pod: &Pod) -> bool {
    matches!(
        pod.status.as_ref().and_then(|s| s.phase.as_deref()),
        Some("Succeeded" | "Failed")
    )
}

impl Worker {
    /// The pod to run: the API object as it is (the ServiceAccount volume comes from the API
    /// server's ServiceAccount admission, as upstream).
    pub(crate) fn run_pod(&self) -> Pod {
        self.pod.clone()
    }

    async fn run(mut self) {
        loop {
            let next = self.sync().await;
            let wait = match next {
                Next::Finished => break,
                Next::In(d) => d,
            };
            tokio::select! {
                changed = self.updates.changed() => {
                    if changed.is_err() {
                        // The kubelet itself stopped (a node shutdown or restart): leave the
                        // containers running for the next kubelet to adopt. Deletion comes
                        // as `None`, never as a closed channel.
                        break;
                    } else {
                        match self.updates.borrow_and_update().clone() {
                            Some(p) => {
                                // Keep our own view of the status when the update is older.
                                self.pod = p;
                            }
                            None => self.gone = true,
                        }
                    }
                }
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(wait) => {}
            }
        }
        self.probes.stop_all();
    }

    async fn sync(&mut self) -> Next {
        if self.gone {
            // Deleted from the API (forcibly, or while we were not looking): stop everything.
            self.terminate(Some(2), false).await;
            return Next::Finished;
        }
        if self.pod.metadata.deletion_timestamp.is_some() {
            self.terminate(None, true).await;
            return Next::Finished;
        }
        match self.sync_running().await {
            Ok(d) => Next::In(d),
            Err(e) => {
                tracing::warn!(pod = %format_pod(&self.pod), error = %e, "pod sync failed");
                Next::In(Duration::from_secs(2))
            }
        }
    }

    pub(crate) async fn inspect(&mut self) -> Result<RuntimePod, crate::cri::CriError> {
        runtime::inspect(&self.ctx.cri, &self.uid, &mut self.cache).await
    }

    async fn sandbox_ip(&mut self, id: &str) -> String {
        if let Some(ip) = self.sandbox_ips.get(id) {
            return ip.clone();
        }
        let ip = match self.ctx.cri.pod_sandbox_status(id).await {
            Ok(st) => st.network.map(|n| n.ip).unwrap_or_default(),
            Err(_) => String::new(),
        };
        if !ip.is_empty() {
            self.sandbox_ips.insert(id.to_string(), ip.clone());
        }
        ip
    }

    /// Whether the pod has run to completion (no container will be started again).
    fn finished(&self, rt: &RuntimePod, pod: &Pod) -> bool {
        let Some(spec) = &pod.spec else { return false };
        let policy = restart_policy(pod);
        if policy == "Never" {
            for ic in spec.init_containers.iter().flatten() {
                if let Some(c) = rt.by_name(&ic.name).first()
                    && c.status.state == RunState::Exited
                    && c.status.exit_code != 0
                {
                    return true;
                }
            }
        }
        if policy == "Always" || spec.containers.is_empty() {
            return false;
        }
        spec.containers
            .iter()
            .all(|c| match rt.by_name(&c.name).first() {
                Some(pc) if pc.status.state == RunState::Exited => {
                    !should_restart(&policy, pc.status.exit_code)
                }
                _ => false,
            })
    }

    async fn sync_running(&mut self) -> Result<Duration, String> {
        let pod = self.run_pod();
        let mut rt = self.inspect().await.map_err(|e| e.to_string())?;
        if is_terminal_phase(&self.pod) {
            // Terminal: nothing runs again; release the sandbox (and its IP).
            self.probes.stop_all();
            for sb in rt
                .sandboxes
                .iter()
                .filter(|s| crate::cri::sandbox_ready(s.state))
            {
                let _ = self.ctx.cri.stop_pod_sandbox(&sb.id).await;
            }
            return Ok(Duration::from_secs(60));
        }
        let mut wake = RESYNC;
        let finished = self.finished(&rt, &pod);
        let sandbox = rt.ready_sandbox().cloned();
        let (sandbox_id, pod_ip) = match sandbox {
            Some(sb) => {
                let ip = self.sandbox_ip(&sb.id).await;
                (Some(sb.id.clone()), ip)
            }
            None if finished => (None, String::new()),
            None => match self.create_sandbox(&pod, &rt).await {
                Ok((id, ip)) => {
                    rt = self.inspect().await.map_err(|e| e.to_string())?;
                    (Some(id), ip)
                }
                Err(wait) => {
                    self.write_status(&pod, &rt, None, "", false).await;
                    return Ok(wait);
                }
            },
        };
        if let Some(id) = &sandbox_id {
            if (self.prepared.is_none()
                || self
                    .prepared_at
                    .is_none_or(|t| t.elapsed() >= VOLUME_REFRESH))
                && let Err(e) = self.prepare_volumes(&pod, &pod_ip).await
            {
                self.ctx
                    .events
                    .pod(&self.pod, None, WARNING, "FailedMount", e.clone());
                tracing::debug!(pod = %format_pod(&pod), error = %e, "volumes not ready");
                if self.prepared.is_none() {
                    self.write_status(&pod, &rt, sandbox_id.as_deref(), &pod_ip, false)
                        .await;
                    return Ok(Duration::from_secs(2));
                }
            }
            if !self.hosts_written.contains(id) {
                let hosts = container::hosts_file(&pod, &pod_ip, &self.ctx.node);
                let path = self.ctx.node.pod_dir(&self.uid).join("etc-hosts");
                if std::fs::write(&path, hosts).is_ok() {
                    self.hosts_written.insert(id.clone());
                }
            }
            if !finished {
                wake = wake.min(self.reconcile(&pod, &rt, id, &pod_ip).await);
                rt = self.inspect().await.map_err(|e| e.to_string())?;
            }
        }
        let finished = self.finished(&rt, &pod);
        if finished {
            self.probes.stop_all();
        } else {
            self.sync_probes(&pod, &rt, sandbox_id.as_deref(), &pod_ip);
        }
        self.write_status(&pod, &rt, sandbox_id.as_deref(), &pod_ip, finished)
            .await;
        if finished && let Some(id) = &sandbox_id {
            // As upstream: a pod that ran to completion keeps its containers (for logs) but
            // not its sandbox.
            let _ = self.ctx.cri.stop_pod_sandbox(id).await;
        }
        self.gc(&rt).await;
        Ok(wake)
    }

    /// Creates a new sandbox (first killing what is left of older ones).
    async fn create_sandbox(
        &mut self,
        pod: &Pod,
        rt: &RuntimePod,
    ) -> Result<(String, String), Duration> {
        if !*self.ctx.network_ready.borrow()
            && pod.spec.as_ref().and_then(|s| s.host_network) != Some(true)
        {
            return Err(Duration::from_secs(1));
        }
        let key = "sandbox";
        if self.backoff.in_backoff_since_update(key, Instant::now()) {
            return Err(self
                .backoff
                .remaining_since_update(key, Instant::now())
                .max(Duration::from_millis(200)));
        }
        if let Err(e) = self.prepare_volumes(pod, "").await {
            self.ctx
                .events
                .pod(&self.pod, None, WARNING, "FailedMount", e.clone());
            self.backoff.next("volumes", Instant::now());
            return Err(Duration::from_secs(2));
        }
        let pod_dir = self.ctx.node.pod_dir(&self.uid);
        let _ = std::fs::create_dir_all(pod_dir.join("logs"));
        if !rt.sandboxes.is_empty() {
            // The old sandbox died: everything in it is killed and the pod starts over.
            self.ctx.events.pod(
                &self.pod,
                None,
                NORMAL,
                "SandboxChanged",
                "Pod sandbox changed, it will be killed and re-created.".into(),
            );
            for c in rt
                .containers
                .iter()
                .filter(|c| c.status.state == RunState::Running)
            {
                let _ = self.ctx.cri.stop_container(&c.status.id, 2).await;
            }
            for sb in &rt.sandboxes {
                let _ = self.ctx.cri.stop_pod_sandbox(&sb.id).await;
            }
        }
        let handler = match self.runtime_handler(pod).await {
            Ok(h) => h,
            Err(message) => {
                self.ctx.events.pod(
                    &self.pod,
                    None,
                    WARNING,
                    "FailedCreatePodSandBox",
                    format!("Failed to create pod sandbox: {message}"),
                );
                self.backoff.next(key, Instant::now());
                return Err(self.backoff.get(key));
            }
        };
        let resolv = self.ctx.host_resolv.clone();
        let config = container::sandbox_config(pod, rt.next_attempt(), &self.ctx.node, &resolv);
        match self.ctx.cri.run_pod_sandbox(config, &handler).await {
            Ok(id) => {
                self.backoff.reset(key);
                // The volumes are written again with the pod's IP (downward API).
                self.prepared_at = None;
                let ip = self.sandbox_ip(&id).await;
                tracing::debug!(pod = %format_pod(pod), sandbox = %id, ip = %ip, "sandbox created");
                Ok((id, ip))
            }
            Err(e) => {
                self.ctx.events.pod(
                    &self.pod,
                    None,
                    WARNING,
                    "FailedCreatePodSandBox",
                    format!(
                        "Failed to create pod sandbox: {}",
                        crate::pull::grpc_error(&e)
                    ),
                );
                self.backoff.next(key, Instant::now());
                Err(self.backoff.get(key))
            }
        }
    }

    /// The runtime handler of the pod's RuntimeClass (empty without one), as upstream's
    /// kubelet looks it up; a class that does not exist fails the sandbox.
    async fn runtime_handler(&self, pod: &Pod) -> Result<String, String> {
        let Some(class) = pod
            .spec
            .as_ref()
            .and_then(|s| s.runtime_class_name.as_deref())
            .filter(|c| !c.is_empty())
        else {
            return Ok(String::new());
        };
        let api: Api<k8s_openapi::api::node::v1::RuntimeClass> = Api::all(self.ctx.client.clone());
        match api.get(class).await {
            Ok(rc) => Ok(rc.handler),
            Err(kube::Error::Api(e)) if e.code == 404 => {
                Err(format!("RuntimeClass {class:?} not found"))
            }
            Err(e) => Err(format!("looking up RuntimeClass {class:?}: {e}")),
        }
    }

    /// Fetches what the volumes need and (re)writes them.
    async fn prepare_volumes(&mut self, pod: &Pod, pod_ip: &str) -> Result<(), String> {
        let ns = pod.metadata.namespace.clone().unwrap_or_default();
        let (cm_names, secret_names) = volumes::referenced_objects(pod);
        let mut cm_names = cm_names;
        cm_names.insert("kube-root-ca.crt".into());
        let config_maps = fetch_config_maps(&self.ctx.client, &ns, &cm_names).await?;
        let secrets = fetch_secrets(&self.ctx.client, &ns, &secret_names).await?;
        let tokens = self.tokens_for(pod).await;
        let src = volumes::VolumeSources {
            config_maps: &config_maps,
            secrets: &secrets,
            tokens: &tokens,
            ca_pem: &self.ctx.ca_pem,
            pod_ip,
            host_ip: &self.ctx.host_ip,
            node_allocatable: &self.ctx.allocatable,
        };
        let pod_dir = self.ctx.node.pod_dir(&self.uid);
        let (prepared, _changed) =
            volumes::prepare(pod, &pod_dir, &src).map_err(|e| e.to_string())?;
        self.prepared = Some(prepared);
        self.prepared_at = Some(Instant::now());
        Ok(())
    }

    /// ServiceAccount tokens for the pod's projected volumes, requested through the API and
    /// renewed after 80% of their lifetime (missing when the API does not serve tokens).
    async fn tokens_for(&mut self, pod: &Pod) -> HashMap<TokenSpec, String> {
        let mut out = HashMap::new();
        for spec in volumes::token_specs(pod) {
            if let Some((tok, at, ttl)) = self.tokens.get(&spec)
                && at.elapsed() < ttl.mul_f64(0.8)
            {
                out.insert(spec, tok.clone());
                continue;
            }
            match request_token(&self.ctx.client, pod, &spec).await {
                Ok(tok) => {
                    self.tokens.insert(
                        spec.clone(),
                        (
                            tok.clone(),
                            Instant::now(),
                            Duration::from_secs(spec.expiration_seconds.max(600) as u64),
                        ),
                    );
                    out.insert(spec, tok);
                }
                Err(e) => {
                    tracing::debug!(pod = %format_pod(pod), error = %e, "no ServiceAccount token");
                    if let Some((tok, _, _)) = self.tokens.get(&spec) {
                        out.insert(spec, tok.clone());
                    }
                }
            }
        }
        out
    }

    /// Starts what should run; returns when to sync next at the latest.
    async fn reconcile(
        &mut self,
        pod: &Pod,
        rt: &RuntimePod,
        sandbox_id: &str,
        pod_ip: &str,
    ) -> Duration {
        let Some(spec) = pod.spec.clone() else {
            return RESYNC;
        };
        let policy = restart_policy(pod);
        let mut wake = RESYNC;
        // Containers of the current sandbox, newest first per name.
        let current = |name: &str| -> Option<PodContainer> {
            rt.by_name(name)
                .into_iter()
                .find(|c| c.sandbox_id == sandbox_id)
                .cloned()
        };
        // Init containers, one at a time, in order.
        let mut initialized = true;
        for ic in spec.init_containers.iter().flatten() {
            match current(&ic.name) {
                None => {
                    wake = self.start(pod, ic, rt, sandbox_id, pod_ip).await;
                    initialized = false;
                    break;
                }
                Some(c) => match c.status.state {
                    RunState::Running => {
                        initialized = false;
                        break;
                    }
                    RunState::Exited if c.status.exit_code == 0 => continue,
                    RunState::Exited => {
                        initialized = false;
                        if policy != "Never" {
                            wake = wake.min(
                                self.restart_after_exit(pod, ic, &c, rt, sandbox_id, pod_ip)
                                    .await,
                            );
                        }
                        break;
                    }
                    RunState::Created | RunState::Unknown => {
                        let _ = self.ctx.cri.remove_container(&c.status.id).await;
                        initialized = false;
                        wake = Duration::from_millis(200);
                        break;
                    }
                },
            }
        }
        if !initialized {
            return wake;
        }
        for c in &spec.containers {
            match current(&c.name) {
                None => {
                    wake = wake.min(self.start(pod, c, rt, sandbox_id, pod_ip).await);
                }
                Some(pc) => match pc.status.state {
                    RunState::Running => {
                        let probes = self.probes.state(c, &pc.status.id);
                        let hash_changed = pc
                            .annotations
                            .get(ANN_HASH)
                            .is_some_and(|h| *h != container::container_hash(c));
                        let reason = if let Some((kind, _msg)) = &probes.failed {
                            let which = if *kind == ProbeKind::Startup {
                                "startup"
                            } else {
                                "liveness"
                            };
                            Some(format!(
                                "Container {} failed {which} probe, will be restarted",
                                c.name
                            ))
                        } else if hash_changed {
                            Some(format!(
                                "Container {} definition changed, will be restarted",
                                c.name
                            ))
                        } else {
                            None
                        };
                        if let Some(msg) = reason {
                            self.kill_container(pod, c, &pc, msg, None, pod_ip).await;
                            wake = Duration::from_millis(200);
                        }
                    }
                    RunState::Exited => {
                        if should_restart(&policy, pc.status.exit_code) {
                            wake = wake.min(
                                self.restart_after_exit(pod, c, &pc, rt, sandbox_id, pod_ip)
                                    .await,
                            );
                        }
                    }
                    RunState::Created | RunState::Unknown => {
                        let _ = self.ctx.cri.remove_container(&pc.status.id).await;
                        wake = Duration::from_millis(200);
                    }
                },
            }
        }
        // Ephemeral containers start once, after the pod's containers, and never restart.
        for ec in spec.ephemeral_containers.iter().flatten() {
            if current(&ec.name).is_none() && !self.waiting.contains_key(&ec.name) {
                wake = wake.min(self.start_ephemeral(pod, ec, rt, sandbox_id, pod_ip).await);
            }
        }
        wake
    }

    /// Restarts an exited container unless it is backing off (`CrashLoopBackOff`).
    async fn restart_after_exit(
        &mut self,
        pod: &Pod,
        c: &Container,
        exited: &PodContainer,
        rt: &RuntimePod,
        sandbox_id: &str,
        pod_ip: &str,
    ) -> Duration {
        let key = format!("{}_{}", format_pod(pod), c.name);
        let finished_at = instant_of(exited.status.finished_at);
        let now = Instant::now();
        if self.backoff.in_backoff_since(&key, finished_at, now) {
            let delay = self.backoff.get(&key);
            let msg = format!(
                "back-off {} restarting failed container={} pod={}",
                go_duration(delay),
                c.name,
                format_pod(pod)
            );
            let marker = format!("{}:{}", c.name, exited.status.id);
            if self.announced_backoff.insert(marker) {
                self.ctx.events.pod(
                    &self.pod,
                    Some(&c.name),
                    WARNING,
                    "BackOff",
                    format!(
                        "Back-off restarting failed container {} in pod {}",
                        c.name,
                        format_pod(pod)
                    ),
                );
            }
            self.waiting
                .insert(c.name.clone(), ("CrashLoopBackOff".into(), msg));
            return self
                .backoff
                .remaining(&key, finished_at, now)
                .max(Duration::from_millis(100));
        }
        self.backoff.next(&key, now);
        self.start(pod, c, rt, sandbox_id, pod_ip).await
    }

    /// Starts the probe tasks of running containers.
    fn sync_probes(&mut self, pod: &Pod, rt: &RuntimePod, sandbox_id: Option<&str>, pod_ip: &str) {
        let Some(spec) = &pod.spec else { return };
        let mut targets = Vec::new();
        if let Some(sid) = sandbox_id {
            for c in &spec.containers {
                if let Some(pc) = rt
                    .by_name(&c.name)
                    .into_iter()
                    .find(|pc| pc.sandbox_id == sid)
                    && pc.status.state == RunState::Running
                {
                    targets.push(Target {
                        container: c.clone(),
                        id: pc.status.id.clone(),
                        started_at: system_time(pc.status.started_at),
                    });
                }
            }
        }
        let ctx = self.ctx.clone();
        self.probes
            .sync(&ctx.cri, &ctx.events, &self.pod, pod_ip, &targets);
    }

    /// The views the status is computed from.
    pub(crate) fn views(
        &self,
        pod: &Pod,
        rt: &RuntimePod,
        sandbox_id: Option<&str>,
    ) -> (Vec<ContainerView>, Vec<ContainerView>, Vec<ContainerView>) {
        let spec = pod.spec.clone().unwrap_or_default();
        let view = |c: &Container| -> ContainerView {
            let all = rt.by_name(&c.name);
            let (current, previous) = match sandbox_id {
                Some(sid) => {
                    let cur = all.iter().position(|pc| pc.sandbox_id == sid);
                    match cur {
                        Some(i) => (
                            Some(all[i]),
                            all.iter()
                                .enumerate()
                                .find(|(j, _)| *j != i)
                                .map(|(_, p)| *p),
                        ),
                        None => (None, all.first().copied()),
                    }
                }
                None => (all.first().copied(), all.get(1).copied()),
            };
            let (ready, started) = match current {
                Some(pc) if pc.status.state == RunState::Running => {
                    let st = self.probes.state(c, &pc.status.id);
                    (st.ready, st.started)
                }
                _ => (false, false),
            };
            let waiting = self.waiting.get(&c.name).cloned().filter(|_| {
                // A decision about a container that has since started no longer applies.
                current.is_none_or(|pc| pc.status.state != RunState::Running)
            });
            ContainerView {
                name: c.name.clone(),
                spec_image: c.image.clone().unwrap_or_default(),
                current: current.map(|pc| pc.status.clone()),
                previous: previous.map(|pc| pc.status.clone()),
                waiting,
                ready,
                started,
            }
        };
        // Ephemeral containers are viewed as containers of the same name would be.
        let ephemeral: Vec<Container> = spec
            .ephemeral_containers
            .iter()
            .flatten()
            .map(|ec| Container {
                name: ec.name.clone(),
                image: ec.image.clone(),
                ..Default::default()
            })
            .collect();
        (
            spec.init_containers.iter().flatten().map(view).collect(),
            spec.containers.iter().map(view).collect(),
            ephemeral.iter().map(view).collect(),
        )
    }

    /// Computes the status and writes it when it changed.
    pub(crate) async fn write_status(
        &mut self,
        pod: &Pod,
        rt: &RuntimePod,
        sandbox_id: Option<&str>,
        pod_ip: &str,
        terminal: bool,
    ) {
        let (init, containers, ephemeral) = self.views(pod, rt, sandbox_id);
        let sandbox_ready = sandbox_id.is_some() && !terminal;
        let view = PodView {
            pod: &self.pod,
            sandbox_ready,
            pod_ip: Some(pod_ip.to_string()).filter(|ip| !ip.is_empty() && !terminal),
            host_ip: self.ctx.host_ip.clone(),
            init,
            containers,
            ephemeral,
            terminal,
            qos_class: resources::qos_class(pod).as_str().to_string(),
            now: Timestamp::now(),
        };
        let mut st = status::compute(&view);
        if terminal && let Some(old_ip) = self.pod.status.as_ref().and_then(|s| s.pod_ip.clone()) {
            // Upstream keeps the IP a finished pod had.
            st.pod_ip = Some(old_ip.clone());
            st.pod_ips = Some(vec![k8s_openapi::api::core::v1::PodIP { ip: old_ip }]);
        }
        let new = serde_json::to_value(&st).unwrap_or_default();
        if self.last_written.as_ref() == Some(&new) {
            return;
        }
        let old = self
            .pod
            .status
            .as_ref()
            .and_then(|s| serde_json::to_value(s).ok())
            .unwrap_or_default();
        let Some(diff) = status::merge_diff(&old, &new) else {
            self.last_written = Some(new);
            return;
        };
        let ns = self.pod.metadata.namespace.clone().unwrap_or_default();
        let name = self.pod.metadata.name.clone().unwrap_or_default();
        let api: Api<Pod> = Api::namespaced(self.ctx.client.clone(), &ns);
        let patch = serde_json::json!({ "status": diff });
        match api
            .patch_status(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            Ok(p) => {
                if p.metadata.uid.as_deref() == Some(self.uid.as_str()) {
                    self.pod.status = p.status;
                    self.pod.metadata.resource_version = p.metadata.resource_version;
                }
                self.last_written = Some(new);
            }
            Err(kube::Error::Api(e)) if e.code == 404 => {}
            Err(e) => {
                tracing::debug!(pod = %format_pod(pod), error = %e, "status update failed");
            }
        }
    }

    /// Removes dead containers beyond the newest two per name, and dead sandboxes that no
    /// longer hold any container.
    async fn gc(&mut self, rt: &RuntimePod) {
        let mut names: HashSet<&str> = HashSet::new();
        for c in &rt.containers {
            names.insert(&c.name);
        }
        let mut removed = HashSet::new();
        for name in names {
            for c in rt.by_name(name).into_iter().skip(KEEP_PER_NAME) {
                if c.status.state != RunState::Running
                    && self.ctx.cri.remove_container(&c.status.id).await.is_ok()
                {
                    removed.insert(c.status.id.clone());
                }
            }
        }
        let newest = rt.sandboxes.iter().map(|s| s.created_at).max();
        for sb in &rt.sandboxes {
            if crate::cri::sandbox_ready(sb.state) || Some(sb.created_at) == newest {
                continue;
            }
            let in_use = rt
                .containers
                .iter()
                .any(|c| c.sandbox_id == sb.id && !removed.contains(&c.status.id));
            if !in_use {
                let _ = self.ctx.cri.remove_pod_sandbox(&sb.id).await;
                self.sandbox_ips.remove(&sb.id);
            }
        }
    }
}

async fn fetch_config_maps(
    client: &Client,
    ns: &str,
    names: &std::collections::BTreeSet<String>,
) -> Result<HashMap<String, ConfigMap>, String> {
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), ns);
    let mut out = HashMap::new();
    for n in names {
        match api.get_opt(n).await {
            Ok(Some(cm)) => {
                out.insert(n.clone(), cm);
            }
            Ok(None) => {}
            Err(e) => return Err(format!("reading configmap {ns}/{n}: {e}")),
        }
    }
    Ok(out)
}

async fn fetch_secrets(
    client: &Client,
    ns: &str,
    names: &std::collections::BTreeSet<String>,
) -> Result<HashMap<String, Secret>, String> {
    let api: Api<Secret> = Api::namespaced(client.clone(), ns);
    let mut out = HashMap::new();
    for n in names {
        match api.get_opt(n).await {
            Ok(Some(s)) => {
                out.insert(n.clone(), s);
            }
            Ok(None) => {}
            Err(e) => return Err(format!("reading secret {ns}/{n}: {e}")),
        }
    }
    Ok(out)
}

/// Fetches the ConfigMaps and Secrets a pod references (missing ones are left out).
pub(crate) async fn fetch_objects(
    client: &Client,
    pod: &Pod,
) -> Result<(HashMap<String, ConfigMap>, HashMap<String, Secret>), String> {
    let ns = pod.metadata.namespace.clone().unwrap_or_default();
    let (cms, secrets) = volumes::referenced_objects(pod);
    Ok((
        fetch_config_maps(client, &ns, &cms).await?,
        fetch_secrets(client, &ns, &secrets).await?,
    ))
}

/// Requests a token for `spec` bound to `pod` (`serviceaccounts/<sa>/token`).
async fn request_token(client: &Client, pod: &Pod, spec: &TokenSpec) -> Result<String, String> {
    let ns = pod.metadata.namespace.clone().unwrap_or_default();
    let api: Api<k8s_openapi::api::core::v1::ServiceAccount> = Api::namespaced(client.clone(), &ns);
    let mut body = serde_json::json!({
        "apiVersion": "authentication.k8s.io/v1",
        "kind": "TokenRequest",
        "spec": {
            "expirationSeconds": spec.expiration_seconds,
            "boundObjectRef": {
                "apiVersion": "v1",
                "kind": "Pod",
                "name": pod.metadata.name.clone().unwrap_or_default(),
                "uid": pod.metadata.uid.clone().unwrap_or_default(),
            }
        }
    });
    if let Some(a) = &spec.audience {
        body["spec"]["audiences"] = serde_json::json!([a]);
    }
    let resp: serde_json::Value = api
        .create_subresource(
            "token",
            &spec.service_account,
            &kube::api::PostParams::default(),
            &body,
        )
        .await
        .map_err(|e| e.to_string())?;
    resp.pointer("/status/token")
        .and_then(|t| t.as_str())
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .ok_or_else(|| "the TokenRequest answer has no token".to_string())
}
