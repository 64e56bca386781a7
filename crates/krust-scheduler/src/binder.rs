//! The scheduler's writes, done asynchronously so that scheduling never waits on the API:
//! bindings through `pods/binding` (upstream's DefaultBinder), the `PodScheduled=False`
//! condition and `status.nominatedNodeName` through strategic-merge PATCHes of `pods/status`,
//! preemption of victims (a `DisruptionTarget` condition, then a graceful DELETE with a UID
//! precondition), and events. Binding results go back to the scheduling loop.

use crate::events::{EventRecorder, EventSpec};
use crate::scheduler::Input;
use k8s_openapi::api::core::v1::Pod;
use kube::Client;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams, Preconditions};
use serde_json::json;
use std::sync::Arc;
use std::sync::mpsc::Sender;
use tokio::sync::Semaphore;
use tokio::sync::mpsc::UnboundedReceiver;

/// Concurrent binding calls.
const MAX_BINDINGS_IN_FLIGHT: usize = 256;
/// Concurrent status patches, deletions and events.
const MAX_OTHER_IN_FLIGHT: usize = 64;

/// The identity of a pod the scheduler writes to.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct PodRef {
    pub namespace: String,
    pub name: String,
    pub uid: String,
}

impl PodRef {
    /// The reference of a parsed pod.
    pub fn of(p: &crate::pod_info::PodInfo) -> PodRef {
        PodRef {
            namespace: p.namespace.clone(),
            name: p.name.clone(),
            uid: p.uid.clone(),
        }
    }
}

/// The `PodScheduled=False` condition to set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnschedulableCondition {
    /// `Unschedulable` or `SchedulerError`.
    pub reason: &'static str,
    pub message: String,
}

/// A write the scheduling loop asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// POST `pods/binding`, then report [`Input::BindDone`] and record `Scheduled`.
    Bind { pod: PodRef, node: String },
    /// PATCH `pods/status`: the condition and/or `nominatedNodeName` (`Some(None)` clears it).
    PatchStatus {
        pod: PodRef,
        condition: Option<UnschedulableCondition>,
        nominated_node: Option<Option<String>>,
    },
    /// Evict a preemption victim.
    Preempt {
        victim: PodRef,
        preemptor_uid: String,
        node: String,
        scheduler_name: String,
    },
    /// Record an event.
    Event(EventSpec),
}

/// The body of a `pods/binding` POST.
pub fn binding_body(pod: &PodRef, node: &str) -> serde_json::Value {
    json!({
        "apiVersion": "v1",
        "kind": "Binding",
        "metadata": {"name": pod.name, "namespace": pod.namespace, "uid": pod.uid},
        "target": {"apiVersion": "v1", "kind": "Node", "name": node},
    })
}

/// The strategic-merge patch of `pods/status` for a condition and nomination.
pub fn status_patch(
    condition: Option<&UnschedulableCondition>,
    nominated_node: Option<&Option<String>>,
    now: &str,
) -> serde_json::Value {
    let mut status = serde_json::Map::new();
    if let Some(c) = condition {
        status.insert(
            "conditions".into(),
            json!([{
                "type": "PodScheduled",
                "status": "False",
                "reason": c.reason,
                "message": c.message,
                "lastProbeTime": null,
                "lastTransitionTime": now,
            }]),
        );
    }
    if let Some(n) = nominated_node {
        status.insert("nominatedNodeName".into(), json!(n));
    }
    json!({ "status": status })
}

fn now_rfc3339() -> String {
    k8s_openapi::jiff::Timestamp::now()
        .round(k8s_openapi::jiff::Unit::Second)
        .map(|t| t.to_string())
        .unwrap_or_default()
}

async fn bind(client: &Client, pod: &PodRef, node: &str) -> Result<(), (u16, String)> {
    let api: Api<Pod> = Api::namespaced(client.clone(), &pod.namespace);
    let body = binding_body(pod, node);
    match api
        .create_subresource::<_, serde_json::Value>(
            "binding",
            &pod.name,
            &PostParams::default(),
            &body,
        )
        .await
    {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(e)) => Err((e.code, e.message)),
        Err(e) => Err((0, e.to_string())),
    }
}

async fn patch_status(client: &Client, pod: &PodRef, patch: &serde_json::Value) {
    let api: Api<Pod> = Api::namespaced(client.clone(), &pod.namespace);
    if let Err(e) = api
        .patch_status(&pod.name, &PatchParams::default(), &Patch::Strategic(patch))
        .await
    {
        tracing::debug!(pod = %pod.name, error = %e, "patching pod status");
    }
}

async fn preempt(client: &Client, victim: &PodRef, scheduler_name: &str) -> bool {
    let patch = json!({"status": {"conditions": [{
        "type": "DisruptionTarget",
        "status": "True",
        "reason": "PreemptionByScheduler",
        "message": format!("{scheduler_name}: preempting to accommodate a higher priority pod"),
        "lastTransitionTime": now_rfc3339(),
    }]}});
    patch_status(client, victim, &patch).await;
    let api: Api<Pod> = Api::namespaced(client.clone(), &victim.namespace);
    let dp = DeleteParams {
        preconditions: Some(Preconditions {
            uid: Some(victim.uid.clone()),
            resource_version: None,
        }),
        ..DeleteParams::default()
    };
    match api.delete(&victim.name, &dp).await {
        Ok(_) => true,
        Err(kube::Error::Api(e)) if e.code == 404 => true,
        Err(e) => {
            tracing::warn!(pod = %victim.name, error = %e, "preempting pod");
            false
        }
    }
}

/// Executes actions until the loop's sender is dropped.
pub async fn run(
    client: Client,
    mut actions: UnboundedReceiver<Action>,
    feedback: Sender<Input>,
    recorder: Arc<EventRecorder>,
) {
    let binds = Arc::new(Semaphore::new(MAX_BINDINGS_IN_FLIGHT));
    let others = Arc::new(Semaphore::new(MAX_OTHER_IN_FLIGHT));
    while let Some(action) = actions.recv().await {
        let client = client.clone();
        let recorder = recorder.clone();
        match action {
            Action::Bind { pod, node } => {
                let sem = binds.clone();
                let feedback = feedback.clone();
                tokio::spawn(async move {
                    let _permit = sem.acquire_owned().await;
                    let result = bind(&client, &pod, &node).await;
                    let ok = result.is_ok();
                    let _ = feedback.send(Input::BindDone {
                        uid: pod.uid.clone(),
                        node: node.clone(),
                        error: result.err(),
                    });
                    if ok {
                        recorder.record(EventSpec::scheduled(&pod, &node)).await;
                    }
                });
            }
            Action::PatchStatus {
                pod,
                condition,
                nominated_node,
            } => {
                let sem = others.clone();
                tokio::spawn(async move {
                    let _permit = sem.acquire_owned().await;
                    let patch =
                        status_patch(condition.as_ref(), nominated_node.as_ref(), &now_rfc3339());
                    patch_status(&client, &pod, &patch).await;
                });
            }
            Action::Preempt {
                victim,
                preemptor_uid,
                node,
                scheduler_name,
            } => {
                let sem = others.clone();
                tokio::spawn(async move {
                    let _permit = sem.acquire_owned().await;
                    if preempt(&client, &victim, &scheduler_name).await {
                        recorder
                            .record(EventSpec::preempted(&victim, &preemptor_uid, &node))
                            .await;
                    }
                });
            }
            Action::Event(ev) => {
                let sem = others.clone();
                tokio::spawn(async move {
                    let _permit = sem.acquire_owned().await;
                    recorder.record(ev).await;
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies() {
        let pod = PodRef {
            namespace: "default".into(),
            name: "x".into(),
            uid: "u".into(),
        };
        let b = binding_body(&pod, "node-1");
        assert_eq!(
            b["target"],
            json!({"apiVersion": "v1", "kind": "Node", "name": "node-1"})
        );
        assert_eq!(b["metadata"]["name"], "x");
        let c = UnschedulableCondition {
            reason: "Unschedulable",
            message: "0/1 nodes are available: 1 Insufficient cpu.".into(),
        };
        let p = status_patch(Some(&c), Some(&Some("n1".into())), "2026-01-01T00:00:00Z");
        assert_eq!(p["status"]["conditions"][0]["reason"], "Unschedulable");
        assert_eq!(p["status"]["conditions"][0]["status"], "False");
        assert_eq!(p["status"]["nominatedNodeName"], "n1");
        let clear = status_patch(None, Some(&None), "t");
        assert_eq!(clear, json!({"status": {"nominatedNodeName": null}}));
    }
}
