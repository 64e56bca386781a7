//! Events the scheduler records, as core/v1 Events so that `kubectl describe pod` shows them:
//! `Scheduled` ("Successfully assigned default/x to node-1"), `FailedScheduling` (the fit
//! error), `Preempted` on victims. Source and reporting component are the scheduler's name
//! (`default-scheduler`). Recording, aggregation (a repeat bumps the existing Event's count)
//! and the spam filter are the controller manager's shared recorder
//! ([`krust_client::events::EventRecorder`]); this module only says what to record.

use crate::binder::PodRef;
use k8s_openapi::api::core::v1::ObjectReference;
use kube::Client;

/// One event to record about a pod.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventSpec {
    pub regarding: PodRef,
    /// `Normal` or `Warning`.
    pub type_: &'static str,
    pub reason: &'static str,
    /// What the scheduler was doing (`Scheduling`, `Binding`, `Preempting`).
    pub action: &'static str,
    pub note: String,
}

impl EventSpec {
    /// `Scheduled`: "Successfully assigned ns/name to node".
    pub fn scheduled(pod: &PodRef, node: &str) -> EventSpec {
        EventSpec {
            regarding: pod.clone(),
            type_: "Normal",
            reason: "Scheduled",
            action: "Binding",
            note: format!(
                "Successfully assigned {}/{} to {}",
                pod.namespace, pod.name, node
            ),
        }
    }

    /// `FailedScheduling` with the fit error message.
    pub fn failed_scheduling(pod: &PodRef, message: &str) -> EventSpec {
        EventSpec {
            regarding: pod.clone(),
            type_: "Warning",
            reason: "FailedScheduling",
            action: "Scheduling",
            note: message.to_string(),
        }
    }

    /// The pod the event is about.
    pub fn object_ref(&self) -> ObjectReference {
        ObjectReference {
            api_version: Some("v1".into()),
            kind: Some("Pod".into()),
            name: Some(self.regarding.name.clone()),
            namespace: Some(self.regarding.namespace.clone()),
            uid: Some(self.regarding.uid.clone()),
            ..Default::default()
        }
    }

    /// `Preempted` on a victim.
    pub fn preempted(victim: &PodRef, preemptor_uid: &str, node: &str) -> EventSpec {
        EventSpec {
            regarding: victim.clone(),
            type_: "Normal",
            reason: "Preempted",
            action: "Preempting",
            note: format!("Preempted by pod {preemptor_uid} on node {node}"),
        }
    }
}

/// Records the scheduler's events through the shared recorder.
pub struct EventRecorder(krust_client::events::EventRecorder);

impl EventRecorder {
    /// A recorder reporting as `component` (the scheduler name).
    pub fn new(client: Client, component: &str) -> EventRecorder {
        EventRecorder(krust_client::events::EventRecorder::new(client, component))
    }

    /// Records an event; failures are logged and dropped (events are best effort).
    pub async fn record(&self, ev: EventSpec) {
        self.0
            .record_action(&ev.object_ref(), ev.type_, ev.reason, ev.action, &ev.note)
            .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod() -> PodRef {
        PodRef {
            namespace: "default".into(),
            name: "x".into(),
            uid: "u1".into(),
        }
    }

    #[test]
    fn wording() {
        assert_eq!(
            EventSpec::scheduled(&pod(), "node-1").note,
            "Successfully assigned default/x to node-1"
        );
        let f =
            EventSpec::failed_scheduling(&pod(), "0/1 nodes are available: 1 Insufficient cpu.");
        assert_eq!((f.type_, f.reason), ("Warning", "FailedScheduling"));
        assert_eq!(
            EventSpec::preempted(&pod(), "u9", "n2").note,
            "Preempted by pod u9 on node n2"
        );
        let r = f.object_ref();
        assert_eq!(
            (r.kind.as_deref(), r.name.as_deref(), r.uid.as_deref()),
            (Some("Pod"), Some("x"), Some("u1"))
        );
    }
}
