//! Terminating a pod, as upstream's `killPod` and status manager do for a pod with a
//! `deletionTimestamp`: every running container is stopped in parallel (`Killing: Stopping
//! container x`, its `preStop` hook, then SIGTERM and SIGKILL when the grace period runs out),
//! the sandbox is stopped, the final status is written, containers, sandbox, volumes and the
//! pod's directory are removed, and the pod is deleted from the API for good (grace period 0,
//! UID precondition). A pod that vanished from the API is stopped the same way, without the
//! writes.

use crate::events::NORMAL;
use crate::pod_worker::Worker;
use crate::startup::{grace_seconds, stop_with_hooks};
use crate::status::RunState;
use crate::volumes;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams, Preconditions};

impl Worker {
    /// Stops and removes the pod; with `in_api`, writes its final status and deletes it.
    pub(crate) async fn terminate(&mut self, grace_override: Option<i64>, in_api: bool) {
        let pod = self.run_pod();
        let grace = grace_seconds(&pod, grace_override);
        self.probes.stop_all();
        let mut rt = None;
        for _ in 0..5 {
            match self.inspect().await {
                Ok(r) => {
                    rt = Some(r);
                    break;
                }
                Err(e) => {
                    tracing::warn!(pod = %crate::lifecycle::format_pod(&pod), error = %e, "inspecting a terminating pod failed");
                    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                }
            }
        }
        let rt = rt.unwrap_or_default();
        let pod_ip = rt
            .ready_sandbox()
            .and_then(|s| self.sandbox_ips.get(&s.id).cloned())
            .unwrap_or_default();
        let spec = pod.spec.clone().unwrap_or_default();
        let mut stops = Vec::new();
        for pc in rt
            .containers
            .iter()
            .filter(|c| c.status.state == RunState::Running)
        {
            let ctx = self.ctx.clone();
            let pod = pod.clone();
            let container = spec
                .containers
                .iter()
                .chain(spec.init_containers.iter().flatten())
                .find(|c| c.name == pc.name)
                .cloned();
            let id = pc.status.id.clone();
            let name = pc.name.clone();
            let ip = pod_ip.clone();
            let api_pod = self.pod.clone();
            stops.push(tokio::spawn(async move {
                if in_api {
                    ctx.events.pod(
                        &api_pod,
                        Some(&name),
                        NORMAL,
                        "Killing",
                        format!("Stopping container {name}"),
                    );
                }
                stop_with_hooks(&ctx, &pod, container.as_ref(), &id, grace, &ip).await;
            }));
        }
        for s in stops {
            let _ = s.await;
        }
        for sb in &rt.sandboxes {
            let _ = self.ctx.cri.stop_pod_sandbox(&sb.id).await;
        }
        if in_api && let Ok(after) = self.inspect().await {
            let sid = rt.ready_sandbox().map(|s| s.id.clone());
            self.write_status(&pod, &after, sid.as_deref(), &pod_ip, true)
                .await;
        }
        let rt = self.inspect().await.unwrap_or(rt);
        for c in &rt.containers {
            let _ = self.ctx.cri.remove_container(&c.status.id).await;
        }
        for sb in &rt.sandboxes {
            let _ = self.ctx.cri.remove_pod_sandbox(&sb.id).await;
        }
        let pod_dir = self.ctx.node.pod_dir(&self.uid);
        let dir = pod_dir.clone();
        let _ = tokio::task::spawn_blocking(move || volumes::cleanup(&dir)).await;
        if in_api {
            delete_from_api(&self.ctx.client, &self.pod, &self.uid).await;
        }
        tracing::debug!(pod = %crate::lifecycle::format_pod(&pod), "pod terminated");
    }
}

/// Deletes the pod for good (grace period 0, only if it still has `uid`).
pub async fn delete_from_api(client: &kube::Client, pod: &Pod, uid: &str) {
    let ns = pod.metadata.namespace.clone().unwrap_or_default();
    let name = pod.metadata.name.clone().unwrap_or_default();
    let api: Api<Pod> = Api::namespaced(client.clone(), &ns);
    let dp = DeleteParams {
        grace_period_seconds: Some(0),
        preconditions: Some(Preconditions {
            uid: Some(uid.to_string()),
            resource_version: None,
        }),
        ..Default::default()
    };
    match api.delete(&name, &dp).await {
        Ok(_) => {}
        Err(kube::Error::Api(e)) if e.code == 404 || e.code == 409 => {}
        Err(e) => tracing::warn!(pod = %name, error = %e, "deleting a terminated pod failed"),
    }
}
