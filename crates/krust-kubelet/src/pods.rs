//! The pod manager: watches the pods bound to this node (`spec.nodeName=<node>`; static pods
//! come in as their mirror pods), runs one [`crate::pod_worker`] per pod UID, forwards updates and runtime
//! events to it, and removes what the runtime holds for pods that no longer exist (sandboxes
//! and pod directories of pods deleted while the agent was down) once the first list is in.

use crate::cri::{self, Cri};
use crate::pod_worker::{self, PodContext, WorkerHandle};
use crate::runtime::LABEL_POD_UID;
use crate::volumes;
use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use kube::api::Api;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// How often leftovers of vanished pods are looked for.
const ORPHAN_PERIOD: Duration = Duration::from_secs(60);
/// How long a finished worker's UID is remembered (late watch events are ignored).
const FINISHED_TTL: Duration = Duration::from_secs(300);

struct Manager {
    ctx: Arc<PodContext>,
    workers: HashMap<String, WorkerHandle>,
    finished: HashMap<String, Instant>,
    done_tx: mpsc::UnboundedSender<String>,
}

impl Manager {
    fn apply(&mut self, pod: Pod) {
        let Some(uid) = pod.metadata.uid.clone() else {
            return;
        };
        if let Some(w) = self.workers.get(&uid) {
            w.updates.send_replace(Some(pod));
            w.wake.notify_one();
            return;
        }
        if self.finished.contains_key(&uid) {
            return;
        }
        let handle = pod_worker::spawn(self.ctx.clone(), pod, self.done_tx.clone());
        self.workers.insert(uid, handle);
    }

    fn remove(&mut self, uid: &str) {
        if let Some(w) = self.workers.get(uid) {
            w.updates.send_replace(None);
            w.wake.notify_one();
        }
    }

    async fn cleanup_orphans(&self) {
        let known: HashSet<&String> = self.workers.keys().collect();
        let cri = &self.ctx.cri;
        if let Ok(sandboxes) = cri.list_pod_sandboxes(cri::labels(&[])).await {
            let orphans: Vec<_> = sandboxes
                .iter()
                .filter(|s| {
                    s.labels
                        .get(LABEL_POD_UID)
                        .is_some_and(|u| !known.contains(u))
                })
                .collect();
            if !orphans.is_empty() {
                let containers = cri
                    .list_containers(cri::labels(&[]))
                    .await
                    .unwrap_or_default();
                for sb in orphans {
                    tracing::info!(
                        sandbox = %sb.id,
                        pod = %sb.metadata.as_ref().map(|m| format!("{}/{}", m.namespace, m.name)).unwrap_or_default(),
                        "removing the sandbox of a pod that no longer exists"
                    );
                    for c in containers.iter().filter(|c| c.pod_sandbox_id == sb.id) {
                        let _ = cri.stop_container(&c.id, 2).await;
                        let _ = cri.remove_container(&c.id).await;
                    }
                    let _ = cri.stop_pod_sandbox(&sb.id).await;
                    let _ = cri.remove_pod_sandbox(&sb.id).await;
                }
            }
        }
        let pods_dir = self.ctx.node.agent_dir.join("pods");
        if let Ok(entries) = std::fs::read_dir(&pods_dir) {
            for e in entries.flatten() {
                let uid = e.file_name().to_string_lossy().into_owned();
                if !known.contains(&uid) {
                    let path = e.path();
                    let _ = tokio::task::spawn_blocking(move || volumes::cleanup(&path)).await;
                }
            }
        }
    }
}

/// Runs the pod manager forever; `pleg` delivers the UIDs of pods whose runtime state changed.
pub async fn run(ctx: Arc<PodContext>, mut pleg: mpsc::UnboundedReceiver<String>) {
    let (done_tx, mut done_rx) = mpsc::unbounded_channel();
    let mut m = Manager {
        ctx: ctx.clone(),
        workers: HashMap::new(),
        finished: HashMap::new(),
        done_tx,
    };
    let api: Api<Pod> = Api::all(ctx.client.clone());
    let config = watcher::Config::default().fields(&format!("spec.nodeName={}", ctx.node_name));
    let mut events = watcher::watcher(api, config).default_backoff().boxed();
    let mut relisting: Option<HashSet<String>> = None;
    let mut listed_once = false;
    let mut orphans = tokio::time::interval(ORPHAN_PERIOD);
    orphans.tick().await;
    loop {
        tokio::select! {
            ev = events.next() => match ev {
                Some(Ok(Event::Init)) => relisting = Some(HashSet::new()),
                Some(Ok(Event::InitApply(pod))) => {
                    if let (Some(seen), Some(uid)) = (relisting.as_mut(), pod.metadata.uid.clone()) {
                        seen.insert(uid);
                    }
                    m.apply(pod);
                }
                Some(Ok(Event::InitDone)) => {
                    if let Some(seen) = relisting.take() {
                        let gone: Vec<String> = m
                            .workers
                            .keys()
                            .filter(|u| !seen.contains(*u))
                            .cloned()
                            .collect();
                        for uid in gone {
                            m.remove(&uid);
                        }
                    }
                    if !listed_once {
                        listed_once = true;
                        m.cleanup_orphans().await;
                    }
                }
                Some(Ok(Event::Apply(pod))) => m.apply(pod),
                Some(Ok(Event::Delete(pod))) => {
                    if let Some(uid) = pod.metadata.uid.as_deref() {
                        m.remove(uid);
                    }
                }
                Some(Err(e)) => tracing::debug!(error = %e, "pod watch error"),
                None => return,
            },
            Some(uid) = done_rx.recv() => {
                m.workers.remove(&uid);
                m.finished.insert(uid, Instant::now());
            }
            Some(uid) = pleg.recv() => {
                if let Some(w) = m.workers.get(&uid) {
                    w.wake.notify_one();
                }
            }
            _ = orphans.tick() => {
                m.finished.retain(|_, t| t.elapsed() < FINISHED_TTL);
                if listed_once {
                    m.cleanup_orphans().await;
                }
            }
        }
    }
}

/// Lists every sandbox UID the runtime holds (for tests and diagnostics).
pub async fn runtime_pod_uids(cri: &Cri) -> HashSet<String> {
    cri.list_pod_sandboxes(cri::labels(&[]))
        .await
        .unwrap_or_default()
        .into_iter()
        .filter_map(|s| s.labels.get(LABEL_POD_UID).cloned())
        .collect()
}
