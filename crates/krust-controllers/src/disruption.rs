//! The disruption controller: the status of every PodDisruptionBudget (expected, healthy and
//! desired healthy pods, `disruptionsAllowed`, the `DisruptionAllowed` condition), which the
//! scheduler's preemption and the eviction API read.

use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::api::{Api, ListParams, Patch, PatchParams};
use kube::runtime::watcher::{self, Event};
use kube::{Client, ResourceExt};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::time::Duration;

/// The disruption controller.
pub struct DisruptionController {
    client: Client,
}

/// What a budget's status says, computed from the pods it selects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Budget {
    pub expected_pods: i32,
    pub current_healthy: i32,
    pub desired_healthy: i32,
    pub disruptions_allowed: i32,
}

fn is_ready(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

fn is_active(pod: &Pod) -> bool {
    let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
    pod.metadata.deletion_timestamp.is_none() && !matches!(phase, Some("Succeeded" | "Failed"))
}

/// `value` of an int-or-percent against `total` (percentages rounded up, as upstream).
fn scaled(v: &IntOrString, total: i32) -> i32 {
    match v {
        IntOrString::Int(i) => *i,
        IntOrString::String(s) => {
            let pct: i64 = s.trim_end_matches('%').parse().unwrap_or(0);
            ((pct * i64::from(total) + 99) / 100) as i32
        }
    }
}

/// The budget of `pdb` over `pods` (those it selects). `expected` is the number of pods the
/// selected pods' controllers want (their scale), or the number of pods for bare pods.
pub fn compute(pdb: &PodDisruptionBudget, pods: &[&Pod], expected: i32) -> Budget {
    let spec = pdb.spec.clone().unwrap_or_default();
    let current_healthy = pods.iter().filter(|p| is_active(p) && is_ready(p)).count() as i32;
    let desired_healthy = match (&spec.min_available, &spec.max_unavailable) {
        (_, Some(max)) => (expected - scaled(max, expected)).max(0),
        (Some(min), None) => scaled(min, expected),
        (None, None) => 0,
    };
    Budget {
        expected_pods: expected,
        current_healthy,
        desired_healthy,
        disruptions_allowed: (current_healthy - desired_healthy).max(0),
    }
}

impl DisruptionController {
    pub fn new(client: Client) -> Self {
        DisruptionController { client }
    }

    /// Runs until the process ends: recomputes every budget when pods or budgets change.
    pub async fn run(self) {
        let pdbs: Api<PodDisruptionBudget> = Api::all(self.client.clone());
        let pods: Api<Pod> = Api::all(self.client.clone());
        let mut pdb_events = watcher::watcher(pdbs, watcher::Config::default()).boxed();
        let mut pod_events = watcher::watcher(pods, watcher::Config::default()).boxed();
        let mut dirty = true;
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tokio::select! {
                ev = pdb_events.next() => match ev {
                    Some(Ok(Event::Apply(_) | Event::Delete(_) | Event::InitDone)) => dirty = true,
                    Some(_) => {}
                    None => return,
                },
                ev = pod_events.next() => match ev {
                    Some(Ok(Event::Apply(_) | Event::Delete(_) | Event::InitDone)) => dirty = true,
                    Some(_) => {}
                    None => return,
                },
                _ = tick.tick() => {
                    if dirty {
                        dirty = false;
                        if let Err(e) = self.sync_all().await {
                            tracing::debug!(error = %e, "disruption budgets");
                            dirty = true;
                        }
                    }
                }
            }
        }
    }

    async fn sync_all(&self) -> Result<(), kube::Error> {
        let pdbs: Api<PodDisruptionBudget> = Api::all(self.client.clone());
        let list = pdbs.list(&ListParams::default()).await?;
        if list.items.is_empty() {
            return Ok(());
        }
        let pods: Api<Pod> = Api::all(self.client.clone());
        let all_pods = pods.list(&ListParams::default()).await?.items;
        for pdb in &list.items {
            let ns = pdb.namespace().unwrap_or_default();
            let selector = pdb
                .spec
                .as_ref()
                .and_then(|s| s.selector.as_ref())
                .map(|s| serde_json::to_value(s).unwrap_or(Value::Null));
            let Ok(sel) = krust_api::selector::LabelSelector::from_structured(selector.as_ref())
            else {
                continue;
            };
            let selected: Vec<&Pod> = all_pods
                .iter()
                .filter(|p| p.namespace().as_deref() == Some(ns.as_str()))
                .filter(|p| {
                    let labels = serde_json::to_value(p.labels()).unwrap_or(Value::Null);
                    sel.matches(labels.as_object())
                })
                .collect();
            let expected = self.expected_pods(&ns, &selected).await;
            let budget = compute(pdb, &selected, expected);
            self.write_status(pdb, &budget).await?;
        }
        Ok(())
    }

    /// The scale the selected pods' controllers want; bare pods count as one each.
    async fn expected_pods(&self, ns: &str, pods: &[&Pod]) -> i32 {
        let mut owners: BTreeSet<(String, String, String)> = BTreeSet::new();
        let mut bare = 0;
        for p in pods {
            match p
                .owner_references()
                .iter()
                .find(|o| o.controller == Some(true))
            {
                Some(o) => {
                    owners.insert((o.api_version.clone(), o.kind.clone(), o.name.clone()));
                }
                None if is_active(p) => bare += 1,
                None => {}
            }
        }
        let mut total = bare;
        for (api_version, kind, name) in owners {
            let path = match (api_version.as_str(), kind.as_str()) {
                ("apps/v1", "ReplicaSet" | "StatefulSet") | ("v1", "ReplicationController") => {
                    let plural = match kind.as_str() {
                        "ReplicaSet" => "replicasets",
                        "StatefulSet" => "statefulsets",
                        _ => "replicationcontrollers",
                    };
                    let prefix = if api_version == "v1" {
                        "/api/v1".to_string()
                    } else {
                        format!("/apis/{api_version}")
                    };
                    Some(format!("{prefix}/namespaces/{ns}/{plural}/{name}"))
                }
                _ => None,
            };
            let replicas = match path {
                Some(path) => {
                    let req = http::Request::get(path).body(Vec::new());
                    match req {
                        Ok(req) => self
                            .client
                            .request::<Value>(req)
                            .await
                            .ok()
                            .and_then(|v| v["spec"]["replicas"].as_i64())
                            .unwrap_or(1) as i32,
                        Err(_) => 1,
                    }
                }
                // Pods of other controllers (e.g. a DaemonSet's) count as they are.
                None => pods
                    .iter()
                    .filter(|p| {
                        p.owner_references()
                            .iter()
                            .any(|o| o.name == name && o.kind == kind)
                    })
                    .count() as i32,
            };
            total += replicas;
        }
        total
    }

    async fn write_status(&self, pdb: &PodDisruptionBudget, b: &Budget) -> Result<(), kube::Error> {
        let status = pdb.status.clone().unwrap_or_default();
        let generation = pdb.metadata.generation.unwrap_or(0);
        let unchanged = status.expected_pods == b.expected_pods
            && status.current_healthy == b.current_healthy
            && status.desired_healthy == b.desired_healthy
            && status.disruptions_allowed == b.disruptions_allowed
            && status.observed_generation == Some(generation);
        if unchanged {
            return Ok(());
        }
        let allowed = b.disruptions_allowed > 0;
        let (reason, message) = if allowed {
            ("SufficientPods", "")
        } else {
            ("InsufficientPods", "")
        };
        let prev = status
            .conditions
            .as_ref()
            .and_then(|cs| cs.iter().find(|c| c.type_ == "DisruptionAllowed"));
        let want = if allowed { "True" } else { "False" };
        let transition = match prev {
            Some(c) if c.status == want => json!(c.last_transition_time),
            _ => json!(krust_api::time::now_rfc3339()),
        };
        let patch = json!({"status": {
            "expectedPods": b.expected_pods,
            "currentHealthy": b.current_healthy,
            "desiredHealthy": b.desired_healthy,
            "disruptionsAllowed": b.disruptions_allowed,
            "observedGeneration": generation,
            "disruptedPods": status.disrupted_pods.clone().unwrap_or_default(),
            "conditions": [{"type": "DisruptionAllowed", "status": want, "reason": reason,
                "message": message, "lastTransitionTime": transition,
                "observedGeneration": generation}],
        }});
        let api: Api<PodDisruptionBudget> =
            Api::namespaced(self.client.clone(), &pdb.namespace().unwrap_or_default());
        match api
            .patch_status(
                &pdb.name_any(),
                &PatchParams::default(),
                &Patch::Merge(&patch),
            )
            .await
        {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(e)) if e.code == 404 || e.code == 409 => Ok(()),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::policy::v1::PodDisruptionBudgetSpec;

    fn pod(ready: bool) -> Pod {
        serde_json::from_value(json!({"metadata": {"name": "p"},
            "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": if ready {"True"} else {"False"}}]}}))
        .unwrap()
    }

    fn pdb(min: Option<IntOrString>, max: Option<IntOrString>) -> PodDisruptionBudget {
        PodDisruptionBudget {
            spec: Some(PodDisruptionBudgetSpec {
                min_available: min,
                max_unavailable: max,
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn budgets_as_upstream() {
        let pods = [pod(true), pod(true), pod(true), pod(false)];
        let refs: Vec<&Pod> = pods.iter().collect();
        let b = compute(&pdb(Some(IntOrString::Int(2)), None), &refs, 4);
        assert_eq!(
            (b.current_healthy, b.desired_healthy, b.disruptions_allowed),
            (3, 2, 1)
        );
        let b = compute(
            &pdb(Some(IntOrString::String("50%".into())), None),
            &refs,
            4,
        );
        assert_eq!((b.desired_healthy, b.disruptions_allowed), (2, 1));
        let b = compute(&pdb(None, Some(IntOrString::Int(1))), &refs, 4);
        assert_eq!((b.desired_healthy, b.disruptions_allowed), (3, 0));
        let b = compute(
            &pdb(None, Some(IntOrString::String("25%".into()))),
            &refs,
            4,
        );
        assert_eq!((b.desired_healthy, b.disruptions_allowed), (3, 0));
        let b = compute(&pdb(Some(IntOrString::Int(5)), None), &refs, 4);
        assert_eq!(b.disruptions_allowed, 0);
    }
}
