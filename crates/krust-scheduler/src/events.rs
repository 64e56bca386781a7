//! Events the scheduler records, as core/v1 Events so that `kubectl describe pod` shows them:
//! `Scheduled` ("Successfully assigned default/x to node-1"), `FailedScheduling` (the fit
//! error), `Preempted` on victims. Source and reporting component are the scheduler's name
//! (`default-scheduler`). A repeat of the same reason and message for the same pod bumps the
//! existing Event's count instead of creating another, as client-go's event correlator does.

use crate::binder::PodRef;
use k8s_openapi::api::core::v1::{Event, EventSource, ObjectReference};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use kube::Client;
use kube::api::{Api, Patch, PatchParams, PostParams};
use std::collections::HashMap;
use std::sync::Mutex;

/// Entries kept for deduplication before the map is reset.
const MAX_TRACKED: usize = 20_000;

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

enum Plan {
    Create(String),
    Bump(String, i32),
}

struct Seen {
    name: String,
    count: i32,
}

/// Records events through the API.
pub struct EventRecorder {
    client: Client,
    component: String,
    instance: String,
    seen: Mutex<HashMap<(String, &'static str, String), Seen>>,
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

impl EventRecorder {
    /// A recorder reporting as `component` (the scheduler name).
    pub fn new(client: Client, component: &str) -> EventRecorder {
        let host = hostname();
        EventRecorder {
            client,
            component: component.to_string(),
            instance: if host.is_empty() {
                component.to_string()
            } else {
                format!("{component}-{host}")
            },
            seen: Mutex::new(HashMap::new()),
        }
    }

    /// The Event object for a first occurrence.
    pub fn build(&self, ev: &EventSpec, name: &str, now: Time) -> Event {
        Event {
            metadata: ObjectMeta {
                name: Some(name.to_string()),
                namespace: Some(ev.regarding.namespace.clone()),
                ..Default::default()
            },
            involved_object: ObjectReference {
                api_version: Some("v1".into()),
                kind: Some("Pod".into()),
                name: Some(ev.regarding.name.clone()),
                namespace: Some(ev.regarding.namespace.clone()),
                uid: Some(ev.regarding.uid.clone()),
                ..Default::default()
            },
            reason: Some(ev.reason.to_string()),
            message: Some(ev.note.clone()),
            type_: Some(ev.type_.to_string()),
            action: Some(ev.action.to_string()),
            count: Some(1),
            first_timestamp: Some(now.clone()),
            last_timestamp: Some(now),
            source: Some(EventSource {
                component: Some(self.component.clone()),
                host: None,
            }),
            reporting_component: Some(self.component.clone()),
            reporting_instance: Some(self.instance.clone()),
            ..Default::default()
        }
    }

    /// Records an event; failures are logged and dropped (events are best effort).
    pub async fn record(&self, ev: EventSpec) {
        let now = Time(k8s_openapi::jiff::Timestamp::now());
        let key = (ev.regarding.uid.clone(), ev.reason, ev.note.clone());
        let plan = {
            let mut seen = match self.seen.lock() {
                Ok(g) => g,
                Err(p) => p.into_inner(),
            };
            if seen.len() > MAX_TRACKED {
                seen.clear();
            }
            match seen.get_mut(&key) {
                Some(s) => {
                    s.count += 1;
                    Plan::Bump(s.name.clone(), s.count)
                }
                None => {
                    let name = format!("{}.{:x}", ev.regarding.name, now.0.as_nanosecond().max(0));
                    seen.insert(
                        key,
                        Seen {
                            name: name.clone(),
                            count: 1,
                        },
                    );
                    Plan::Create(name)
                }
            }
        };
        let api: Api<Event> = Api::namespaced(self.client.clone(), &ev.regarding.namespace);
        let result = match plan {
            Plan::Bump(name, count) => {
                let patch = serde_json::json!({"count": count, "lastTimestamp": now});
                match api
                    .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
                    .await
                {
                    Err(kube::Error::Api(e)) if e.code == 404 => {
                        let mut fresh = self.build(&ev, &name, now);
                        fresh.count = Some(count);
                        api.create(&PostParams::default(), &fresh).await.map(|_| ())
                    }
                    other => other.map(|_| ()),
                }
            }
            Plan::Create(name) => api
                .create(&PostParams::default(), &self.build(&ev, &name, now))
                .await
                .map(|_| ()),
        };
        if let Err(e) = result {
            tracing::debug!(pod = %ev.regarding.name, reason = ev.reason, error = %e, "recording event");
        }
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
    }
}
