//! Starting one container, as upstream's `startContainer`: the image by its pull policy, the
//! restart count, the environment and mounts, `CreateContainer` (`Created`), `StartContainer`
//! (`Started`), then the `postStart` hook (a failure kills the container). Each failure leaves
//! the container waiting with upstream's reason (`ErrImagePull`, `ImagePullBackOff`,
//! `CreateContainerConfigError`, `CreateContainerError`, `RunContainerError`) and an event.
//! Also killing one container ([`Worker::kill_container`]): `preStop`, then `StopContainer`
//! with what is left of the grace period.

use crate::container::{self, ContainerInputs};
use crate::env::{self, EnvSource};
use crate::events::{NORMAL, WARNING};
use crate::lifecycle::{self, format_pod};
use crate::pod_worker::{Worker, fetch_objects};
use crate::pull;
use crate::runtime::{PodContainer, RuntimePod};
use crate::volumes;
use k8s_openapi::api::core::v1::{Container, Pod, Service};
use kube::api::{Api, ListParams};
use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

/// When a container that could not be configured is tried again.
const CONFIG_RETRY: Duration = Duration::from_secs(5);
/// Shortest grace period a container is stopped with (upstream's 2 s).
pub const MIN_GRACE_SECONDS: i64 = 2;

/// The Services whose variables a pod's containers get: its namespace's (unless
/// `enableServiceLinks: false`) and the `kubernetes` Service of `default`.
async fn services_for(client: &kube::Client, pod: &Pod) -> Vec<Service> {
    let ns = pod.metadata.namespace.clone().unwrap_or_default();
    let links = pod.spec.as_ref().and_then(|s| s.enable_service_links) != Some(false);
    let mut out = Vec::new();
    if links {
        let api: Api<Service> = Api::namespaced(client.clone(), &ns);
        if let Ok(list) = api.list(&ListParams::default()).await {
            out.extend(list.items);
        }
    }
    if ns != "default" || !links {
        let api: Api<Service> = Api::namespaced(client.clone(), "default");
        if let Ok(Some(svc)) = api.get_opt("kubernetes").await {
            out.push(svc);
        }
    }
    out
}

impl Worker {
    fn fail(&mut self, name: &str, reason: &str, message: String) {
        self.ctx.events.pod(
            &self.pod,
            Some(name),
            WARNING,
            "Failed",
            format!("Error: {message}"),
        );
        self.waiting
            .insert(name.to_string(), (reason.to_string(), message));
    }

    /// Creates and starts container `c` in the sandbox; returns when to look again at the
    /// latest (the end of an image pull backoff, a while after a configuration error).
    pub(crate) async fn start(
        &mut self,
        pod: &Pod,
        c: &Container,
        rt: &RuntimePod,
        sandbox_id: &str,
        pod_ip: &str,
    ) -> Duration {
        self.start_in(pod, c, rt, sandbox_id, pod_ip, None).await
    }

    /// Starts an ephemeral container (`kubectl debug`), in the process namespace of its
    /// target container when it names one that is running.
    pub(crate) async fn start_ephemeral(
        &mut self,
        pod: &Pod,
        ec: &k8s_openapi::api::core::v1::EphemeralContainer,
        rt: &RuntimePod,
        sandbox_id: &str,
        pod_ip: &str,
    ) -> Duration {
        let target = ec.target_container_name.as_deref().and_then(|t| {
            rt.by_name(t)
                .into_iter()
                .find(|c| {
                    c.sandbox_id == sandbox_id && c.status.state == crate::status::RunState::Running
                })
                .map(|c| c.status.id.clone())
        });
        // The same fields as a container (the API allows no ports, probes or resources).
        let mut value = serde_json::to_value(ec).unwrap_or_default();
        if let Some(m) = value.as_object_mut() {
            m.remove("targetContainerName");
        }
        let Ok(c) = serde_json::from_value::<Container>(value) else {
            return CONFIG_RETRY;
        };
        self.start_in(pod, &c, rt, sandbox_id, pod_ip, target.as_deref())
            .await
    }

    async fn start_in(
        &mut self,
        pod: &Pod,
        c: &Container,
        rt: &RuntimePod,
        sandbox_id: &str,
        pod_ip: &str,
        pid_target: Option<&str>,
    ) -> Duration {
        let ctx = self.ctx.clone();
        let name = c.name.clone();
        let secrets = crate::pull_secrets::of_pod(&ctx.client, pod).await;
        let image_ref = match pull::ensure_image(
            &ctx.cri,
            &ctx.events,
            &mut self.backoff,
            &self.pod,
            c,
            &pull::Source {
                registries: &ctx.registries,
                registries_file: &ctx.registries_file,
                secrets: &secrets,
            },
        )
        .await
        {
            Ok(r) => r,
            Err(w) => {
                self.waiting.insert(name, (w.reason, w.message));
                let key = pull::backoff_key(pod, c);
                return self
                    .backoff
                    .remaining_since_update(&key, Instant::now())
                    .max(CONFIG_RETRY);
            }
        };
        let restart_count = rt
            .by_name(&name)
            .first()
            .map_or(0, |p| p.status.restart_count + 1);
        let (config_maps, secrets) = match fetch_objects(&ctx.client, pod).await {
            Ok(o) => o,
            Err(e) => {
                self.fail(&name, "CreateContainerConfigError", e);
                return CONFIG_RETRY;
            }
        };
        let services = services_for(&ctx.client, pod).await;
        let src = EnvSource {
            pod: Some(pod),
            pod_ip: pod_ip.to_string(),
            host_ip: ctx.host_ip.clone(),
            config_maps,
            secrets,
            service_env: env::service_env(&services),
            node_allocatable: ctx.allocatable.clone(),
        };
        let envs = match env::container_env(c, &src) {
            Ok(e) => e,
            Err(e) => {
                self.fail(&name, "CreateContainerConfigError", e.to_string());
                return CONFIG_RETRY;
            }
        };
        let prepared = self.prepared.clone().unwrap_or_default();
        let mounts = match volumes::container_mounts(c, &prepared, pod) {
            Ok(m) => m,
            Err(e) => {
                self.fail(&name, "CreateContainerConfigError", e);
                return CONFIG_RETRY;
            }
        };
        let pod_dir = ctx.node.pod_dir(&self.uid);
        let term_dir = pod_dir.join("containers").join(&name);
        let term_file = term_dir.join(format!("termination-{restart_count}"));
        let made = std::fs::create_dir_all(&term_dir)
            .and_then(|_| std::fs::write(&term_file, b""))
            .and_then(|_| {
                std::fs::set_permissions(&term_file, std::fs::Permissions::from_mode(0o666))
            });
        if let Err(e) = made {
            self.fail(
                &name,
                "CreateContainerConfigError",
                format!("termination message file: {e}"),
            );
            return CONFIG_RETRY;
        }
        let host_network = pod.spec.as_ref().and_then(|s| s.host_network) == Some(true);
        let hosts = pod_dir.join("etc-hosts");
        let attempt = rt
            .sandboxes
            .iter()
            .find(|s| s.id == sandbox_id)
            .and_then(|s| s.metadata.as_ref().map(|m| m.attempt))
            .unwrap_or(0);
        let sandbox_config = container::sandbox_config(pod, attempt, &ctx.node, &ctx.host_resolv);
        let config = container::container_config(ContainerInputs {
            pod,
            container: c,
            restart_count,
            image_ref: &image_ref,
            env: envs,
            mounts,
            hosts_file: (!host_network && hosts.exists()).then_some(hosts.as_path()),
            termination_file: &term_file,
            node: &ctx.node,
            pid_target,
        });
        let id = match ctx
            .cri
            .create_container(sandbox_id, config, sandbox_config)
            .await
        {
            Ok(id) => id,
            Err(e) => {
                self.fail(&name, "CreateContainerError", e.message());
                return CONFIG_RETRY;
            }
        };
        ctx.events.pod(
            &self.pod,
            Some(&name),
            NORMAL,
            "Created",
            format!("Created container: {name}"),
        );
        if let Err(e) = ctx.cri.start_container(&id).await {
            self.fail(&name, "RunContainerError", e.message());
            // A container that could not start is removed, and retried with the crash backoff.
            let _ = ctx.cri.remove_container(&id).await;
            let key = format!("{}_{}", format_pod(pod), name);
            self.backoff.next(&key, Instant::now());
            return CONFIG_RETRY;
        }
        ctx.events.pod(
            &self.pod,
            Some(&name),
            NORMAL,
            "Started",
            format!("Started container {name}"),
        );
        self.waiting.remove(&name);
        if let Some(hook) = c.lifecycle.as_ref().and_then(|l| l.post_start.as_ref()) {
            let grace = grace_seconds(pod, None);
            let result = lifecycle::run_hook(
                hook,
                &ctx.cri,
                pod,
                c,
                &id,
                pod_ip,
                Duration::from_secs(grace as u64),
            )
            .await;
            if let Err(msg) = result {
                ctx.events
                    .pod(&self.pod, Some(&name), WARNING, "FailedPostStartHook", msg);
                ctx.events.pod(
                    &self.pod,
                    Some(&name),
                    NORMAL,
                    "Killing",
                    "FailedPostStartHook".to_string(),
                );
                let _ = ctx.cri.stop_container(&id, grace).await;
            }
        }
        self.post_start_done.insert(id);
        Duration::from_millis(500)
    }

    /// Kills a running container (for a restart): `Killing` event, `preStop`, then
    /// `StopContainer` with the rest of the grace period.
    pub(crate) async fn kill_container(
        &mut self,
        pod: &Pod,
        c: &Container,
        pc: &PodContainer,
        message: String,
        grace: Option<i64>,
        pod_ip: &str,
    ) {
        let ctx = self.ctx.clone();
        ctx.events
            .pod(&self.pod, Some(&c.name), NORMAL, "Killing", message);
        stop_with_hooks(
            &ctx,
            pod,
            Some(c),
            &pc.status.id,
            grace_seconds(pod, grace),
            pod_ip,
        )
        .await;
    }
}

/// The grace period of a pod's containers: `override`, else the pod's deletion grace period,
/// else `terminationGracePeriodSeconds` (30 s by default).
pub fn grace_seconds(pod: &Pod, override_: Option<i64>) -> i64 {
    override_
        .or(pod.metadata.deletion_grace_period_seconds)
        .or(pod
            .spec
            .as_ref()
            .and_then(|s| s.termination_grace_period_seconds))
        .unwrap_or(30)
        .max(0)
}

/// Runs `preStop` (if any) and stops the container with what is left of `grace` seconds.
pub async fn stop_with_hooks(
    ctx: &crate::pod_worker::PodContext,
    pod: &Pod,
    c: Option<&Container>,
    container_id: &str,
    grace: i64,
    pod_ip: &str,
) {
    let started = Instant::now();
    if let Some(c) = c
        && let Some(hook) = c.lifecycle.as_ref().and_then(|l| l.pre_stop.as_ref())
    {
        let result = lifecycle::run_hook(
            hook,
            &ctx.cri,
            pod,
            c,
            container_id,
            pod_ip,
            Duration::from_secs(grace.max(1) as u64),
        )
        .await;
        if let Err(msg) = result {
            ctx.events
                .pod(pod, Some(&c.name), WARNING, "FailedPreStopHook", msg);
        }
    }
    let left = grace - started.elapsed().as_secs() as i64;
    let left = left.max(MIN_GRACE_SECONDS.min(grace.max(0)));
    if let Err(e) = ctx.cri.stop_container(container_id, left).await {
        tracing::warn!(container = %container_id, error = %e, "stopping a container failed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn grace_periods() {
        let mut pod: Pod = serde_json::from_value(json!({"spec": {"containers": [],
            "terminationGracePeriodSeconds": 5}}))
        .unwrap();
        assert_eq!(grace_seconds(&pod, None), 5);
        assert_eq!(grace_seconds(&pod, Some(1)), 1);
        pod.metadata.deletion_grace_period_seconds = Some(3);
        assert_eq!(grace_seconds(&pod, None), 3);
        let bare: Pod = serde_json::from_value(json!({"spec": {"containers": []}})).unwrap();
        assert_eq!(grace_seconds(&bare, None), 30);
    }
}
