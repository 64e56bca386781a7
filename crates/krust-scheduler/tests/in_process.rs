//! The scheduler against krust's real API server, in-process (memory storage, no kubelet):
//! placement, the `Scheduled` and `FailedScheduling` events, the `PodScheduled` condition,
//! `schedulerName`, and preemption with graceful deletion played by the test.

// Test helpers outside `#[test]` functions may fail loudly too.
#![allow(clippy::expect_used)]

use k8s_openapi::api::core::v1::{Event, Node, Pod, ServiceAccount};
use krust_apiserver::{ApiServer, Identity};
use krust_scheduler::{Scheduler, SchedulerConfig};
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn client(api: &ApiServer, user: &str, groups: &[&str]) -> kube::Client {
    kube::Client::new(
        krust_apiserver::in_process::InProcess::new(api, Identity::new(user, groups)),
        "default",
    )
}

async fn cluster() -> (kube::Client, tokio::task::JoinHandle<()>) {
    let backend = Arc::new(krust_store::memory::MemoryBackend::new());
    let api = ApiServer::new(krust_apiserver::Config::default(), backend)
        .await
        .expect("api server");
    let admin = client(&api, "admin", &["system:masters"]);
    let sched = client(&api, "system:kube-scheduler", &[]);
    let config = SchedulerConfig {
        initial_backoff: Duration::from_millis(100),
        max_backoff: Duration::from_millis(500),
        ..SchedulerConfig::default()
    };
    let handle = tokio::spawn(Scheduler::new(sched, config).run());
    (admin, handle)
}

fn node(name: &str, cpu: &str, taint: bool) -> Node {
    let mut n = json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
        "status": {
            "capacity": {"cpu": cpu, "memory": "16Gi", "pods": "110"},
            "allocatable": {"cpu": cpu, "memory": "16Gi", "pods": "110"}
        }
    });
    if taint {
        n["spec"] = json!({"taints": [{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}]});
    }
    serde_json::from_value(n).expect("node")
}

fn pod(name: &str, cpu: &str, priority: Option<i32>, node: Option<&str>) -> Pod {
    let mut p = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": "default", "labels": {"app": name}},
        "spec": {"containers": [{"name": "c", "image": "busybox",
            "resources": {"requests": {"cpu": cpu, "memory": "64Mi"}}}]}
    });
    // Priority admission resolves a class into `spec.priority` (a value given directly is
    // refused): priority N comes from the class `prio-N` the test creates.
    if let Some(prio) = priority.filter(|p| *p != 0)
        && let Some(spec) = p.get_mut("spec").and_then(|s| s.as_object_mut())
    {
        spec.insert("priorityClassName".into(), json!(format!("prio-{prio}")));
    }
    if let Some(n) = node {
        p["spec"]["nodeName"] = json!(n);
    }
    serde_json::from_value(p).expect("pod")
}

async fn wait_for<T>(what: &str, mut f: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn event_notes(admin: &kube::Client, pod: &str, reason: &str) -> Vec<String> {
    let events: Api<Event> = Api::namespaced(admin.clone(), "default");
    events
        .list(&ListParams::default())
        .await
        .map(|l| l.items)
        .unwrap_or_default()
        .into_iter()
        .filter(|e| {
            e.involved_object.name.as_deref() == Some(pod) && e.reason.as_deref() == Some(reason)
        })
        .filter_map(|e| e.message)
        .collect()
}

async fn bound_node(pods: &Api<Pod>, name: &str) -> Option<String> {
    pods.get(name)
        .await
        .ok()
        .and_then(|p| p.spec.and_then(|s| s.node_name))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schedules_reports_and_preempts_through_the_api() {
    let (admin, handle) = cluster().await;
    let nodes: Api<Node> = Api::all(admin.clone());
    let pods: Api<Pod> = Api::namespaced(admin.clone(), "default");
    let pp = PostParams::default();
    for n in [
        node("node-1", "4", false),
        node("node-2", "4", false),
        node("cp", "8", true),
    ] {
        nodes.create(&pp, &n).await.expect("create node");
    }
    // No controller manager here: the `default` ServiceAccount pods run as (ServiceAccount
    // admission) is created by hand.
    let accounts: Api<ServiceAccount> = Api::namespaced(admin.clone(), "default");
    let sa: ServiceAccount =
        serde_json::from_value(json!({"metadata": {"name": "default"}})).expect("sa");
    accounts
        .create(&pp, &sa)
        .await
        .expect("create serviceaccount");
    let classes: Api<k8s_openapi::api::scheduling::v1::PriorityClass> = Api::all(admin.clone());
    let class = serde_json::from_value(json!({"metadata": {"name": "prio-1000"}, "value": 1000}))
        .expect("class");
    classes
        .create(&pp, &class)
        .await
        .expect("create priorityclass");

    // Placement, the Scheduled event and the PodScheduled condition.
    pods.create(&pp, &pod("web", "1", None, None))
        .await
        .expect("create");
    let n = wait_for("web bound", async || bound_node(&pods, "web").await).await;
    assert!(n == "node-1" || n == "node-2", "{n}");
    let note = wait_for("Scheduled event", async || {
        event_notes(&admin, "web", "Scheduled")
            .await
            .into_iter()
            .next()
    })
    .await;
    assert_eq!(note, format!("Successfully assigned default/web to {n}"));

    // Another scheduler's pod is left alone.
    let mut theirs = pod("theirs", "1", None, None);
    if let Some(s) = theirs.spec.as_mut() {
        s.scheduler_name = Some("other".into());
    }
    pods.create(&pp, &theirs).await.expect("create");

    // A pod that fits nowhere.
    pods.create(&pp, &pod("huge", "100", None, None))
        .await
        .expect("create");
    let want = "0/3 nodes are available: 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }, 2 Insufficient cpu. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling.";
    let cond = wait_for("Unschedulable condition", async || {
        let p = pods.get("huge").await.ok()?;
        p.status?
            .conditions?
            .into_iter()
            .find(|c| c.type_ == "PodScheduled" && c.status == "False")
    })
    .await;
    assert_eq!(cond.reason.as_deref(), Some("Unschedulable"));
    assert_eq!(cond.message.as_deref(), Some(want));
    let notes = wait_for("FailedScheduling event", async || {
        let n = event_notes(&admin, "huge", "FailedScheduling").await;
        (!n.is_empty()).then_some(n)
    })
    .await;
    assert_eq!(notes[0], want);
    pods.delete("huge", &DeleteParams::default())
        .await
        .expect("delete");

    // Preemption: fill both workers with low-priority pods, then a high-priority one arrives.
    pods.create(&pp, &pod("low-1", "3", Some(0), Some("node-1")))
        .await
        .expect("create");
    pods.create(&pp, &pod("low-2", "3", Some(0), Some("node-2")))
        .await
        .expect("create");
    pods.create(&pp, &pod("vip", "2", Some(1000), None))
        .await
        .expect("create");
    let nominated = wait_for("nominatedNodeName", async || {
        pods.get("vip").await.ok()?.status?.nominated_node_name
    })
    .await;
    let victim = if nominated == "node-1" {
        "low-1"
    } else {
        "low-2"
    };
    // Play the kubelet: the victim is terminating; finish its graceful deletion.
    wait_for("victim terminating", async || {
        match pods.get(victim).await {
            Ok(p) => p.metadata.deletion_timestamp.map(|_| ()),
            Err(_) => Some(()),
        }
    })
    .await;
    let _ = pods
        .delete(victim, &DeleteParams::default().grace_period(0))
        .await;
    let n = wait_for("vip bound", async || bound_node(&pods, "vip").await).await;
    assert_eq!(n, nominated);
    let preempted = event_notes(&admin, victim, "Preempted").await;
    assert_eq!(preempted.len(), 1, "{preempted:?}");
    assert!(
        preempted[0].starts_with("Preempted by pod "),
        "{preempted:?}"
    );

    assert_eq!(bound_node(&pods, "theirs").await, None);
    handle.abort();
}
