//! The event recorder, event expiry and leader election against krust's real API server,
//! in-process (memory storage): aggregated counts as stored, combined similar events, the TTL
//! sweep, and Lease acquisition, renewal, takeover and loss with short timings.

// Test helpers outside `#[test]` functions may fail loudly too.
#![allow(clippy::expect_used)]

use futures::future::BoxFuture;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Event, ObjectReference};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use krust_apiserver::{ApiServer, Identity};
use krust_client::events::{EventRecorder, NORMAL, WARNING};
use krust_client::leader::{LeaderElectionConfig, LeaderElector};
use krust_controllers::event_ttl::EventTtlController;
use kube::api::{Api, ListParams, PostParams};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

fn client(api: &ApiServer, user: &str, groups: &[&str]) -> kube::Client {
    kube::Client::new(
        krust_apiserver::in_process::InProcess::new(api, Identity::new(user, groups)),
        "default",
    )
}

/// An API server; returns (admin client, controller-manager client).
async fn cluster() -> (kube::Client, kube::Client) {
    let backend = Arc::new(krust_store::memory::MemoryBackend::new());
    let api = ApiServer::new(krust_apiserver::Config::default(), backend)
        .await
        .expect("api server");
    (
        client(&api, "admin", &["system:masters"]),
        client(&api, "system:kube-controller-manager", &[]),
    )
}

fn deployment_ref(name: &str) -> ObjectReference {
    ObjectReference {
        api_version: Some("apps/v1".into()),
        kind: Some("Deployment".into()),
        name: Some(name.into()),
        namespace: Some("default".into()),
        uid: Some(format!("uid-{name}")),
        resource_version: Some("1".into()),
        ..Default::default()
    }
}

async fn events_about(api: &Api<Event>, name: &str) -> Vec<Event> {
    let mut list = api
        .list(&ListParams::default())
        .await
        .expect("list events")
        .items;
    list.retain(|e| e.involved_object.name.as_deref() == Some(name));
    list.sort_by_key(|e| e.metadata.name.clone());
    list
}

#[tokio::test]
async fn recorder_aggregates_repeats_and_similar_events() {
    let (admin, kcm) = cluster().await;
    let events: Api<Event> = Api::namespaced(admin, "default");
    let rec = EventRecorder::new(kcm, "deployment-controller");
    let web = deployment_ref("web");
    let msg = "Scaled up replica set web-5d8c45cbdb from 1 to 3";

    rec.record(&web, NORMAL, "ScalingReplicaSet", msg).await;
    let first = events_about(&events, "web").await;
    assert_eq!(first.len(), 1);
    let e = &first[0];
    let name = e.metadata.name.clone().unwrap_or_default();
    let hex = name.strip_prefix("web.").unwrap_or_default();
    assert!(
        !hex.is_empty() && u128::from_str_radix(hex, 16).is_ok(),
        "{name}"
    );
    assert_eq!(e.count, Some(1));
    assert_eq!(e.type_.as_deref(), Some("Normal"));
    assert_eq!(
        e.source.as_ref().and_then(|s| s.component.as_deref()),
        Some("deployment-controller")
    );
    assert_eq!(
        e.reporting_component.as_deref(),
        Some("deployment-controller")
    );
    assert!(e.reporting_instance.is_some());
    assert!(e.first_timestamp.is_some() && e.last_timestamp.is_some() && e.event_time.is_some());
    assert_eq!(e.involved_object.uid.as_deref(), Some("uid-web"));

    // The same event again (a second later, so lastTimestamp moves): one Event, count 2.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    rec.record(&web, NORMAL, "ScalingReplicaSet", msg).await;
    let second = events_about(&events, "web").await;
    assert_eq!(second.len(), 1, "{second:?}");
    let e2 = &second[0];
    assert_eq!(e2.metadata.name.as_deref(), Some(name.as_str()));
    assert_eq!(e2.count, Some(2));
    assert_eq!(e2.first_timestamp, e.first_timestamp);
    assert!(e2.last_timestamp > e.last_timestamp, "{e2:?}");

    // Another message: another Event.
    rec.record(
        &web,
        NORMAL,
        "ScalingReplicaSet",
        "Scaled down replica set web-5d8c45cbdb from 3 to 1",
    )
    .await;
    assert_eq!(events_about(&events, "web").await.len(), 2);

    // Ten distinct messages about one object and reason: the tenth is combined, and further
    // ones bump the combined Event.
    let rs = ObjectReference {
        kind: Some("ReplicaSet".into()),
        name: Some("web-5d8c45cbdb".into()),
        uid: Some("uid-rs".into()),
        ..deployment_ref("x")
    };
    for i in 0..12 {
        rec.record(
            &rs,
            NORMAL,
            "SuccessfulCreate",
            &format!("Created pod: web-5d8c45cbdb-{i}"),
        )
        .await;
    }
    let created = events_about(&events, "web-5d8c45cbdb").await;
    assert_eq!(created.len(), 10, "9 single events and a combined one");
    let combined: Vec<&Event> = created
        .iter()
        .filter(|e| {
            e.message
                .as_deref()
                .is_some_and(|m| m.starts_with("(combined from similar events): "))
        })
        .collect();
    assert_eq!(combined.len(), 1);
    assert_eq!(combined[0].count, Some(3));
    assert_eq!(
        combined[0].message.as_deref(),
        Some("(combined from similar events): Created pod: web-5d8c45cbdb-11")
    );

    // A bumped Event that was deleted meanwhile (expired) is recorded anew with its count.
    let warn = deployment_ref("gone");
    rec.record(&warn, WARNING, "FailedCreate", "quota").await;
    let name = events_about(&events, "gone").await[0]
        .metadata
        .name
        .clone()
        .unwrap_or_default();
    events
        .delete(&name, &Default::default())
        .await
        .expect("delete");
    rec.record(&warn, WARNING, "FailedCreate", "quota").await;
    let again = events_about(&events, "gone").await;
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].count, Some(2));
    assert_eq!(again[0].type_.as_deref(), Some("Warning"));
}

#[tokio::test]
async fn recorder_spam_filter_limits_one_object() {
    let (admin, kcm) = cluster().await;
    let events: Api<Event> = Api::namespaced(admin, "default");
    let rec = EventRecorder::new(kcm, "replicaset-controller");
    let noisy = deployment_ref("noisy");
    for i in 0..40 {
        rec.record(&noisy, NORMAL, &format!("Reason{i}"), "m").await;
    }
    assert_eq!(events_about(&events, "noisy").await.len(), 25);
    rec.record(&deployment_ref("quiet"), NORMAL, "Reason", "m")
        .await;
    assert_eq!(events_about(&events, "quiet").await.len(), 1);
}

#[tokio::test]
async fn ttl_sweep_deletes_only_expired_events() {
    let (admin, kcm) = cluster().await;
    let events: Api<Event> = Api::namespaced(admin, "default");
    let now = Timestamp::now();
    for (name, age) in [("old", 7200), ("fresh", 10)] {
        let t = Time(now - SignedDuration::from_secs(age));
        let ev = Event {
            metadata: ObjectMeta {
                name: Some(name.into()),
                ..Default::default()
            },
            involved_object: deployment_ref(name),
            reason: Some("Testing".into()),
            message: Some("hello".into()),
            type_: Some("Normal".into()),
            first_timestamp: Some(t.clone()),
            last_timestamp: Some(t),
            count: Some(1),
            ..Default::default()
        };
        events
            .create(&PostParams::default(), &ev)
            .await
            .expect("create event");
    }
    let ttl = EventTtlController::new(kcm, Duration::from_secs(3600));
    assert_eq!(ttl.sweep().await.expect("sweep"), 1);
    assert!(events.get_opt("old").await.expect("get").is_none());
    assert!(events.get_opt("fresh").await.expect("get").is_some());
    assert_eq!(ttl.sweep().await.expect("sweep"), 0);
}

fn fast() -> LeaderElectionConfig {
    LeaderElectionConfig {
        lease_duration: Duration::from_secs(2),
        renew_deadline: Duration::from_millis(1500),
        retry_period: Duration::from_millis(200),
    }
}

async fn lease(api: &Api<Lease>, name: &str) -> Option<Lease> {
    api.get_opt(name).await.expect("get lease")
}

fn holder(l: &Option<Lease>) -> String {
    l.as_ref()
        .and_then(|l| l.spec.as_ref())
        .and_then(|s| s.holder_identity.clone())
        .unwrap_or_default()
}

async fn wait_until<F, Fut>(timeout: Duration, mut f: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if f().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    f().await
}

/// Sets a flag while alive, clears it when dropped.
struct Alive(Arc<AtomicBool>);
impl Drop for Alive {
    fn drop(&mut self) {
        self.0.store(false, Ordering::SeqCst);
    }
}

fn work(flag: Arc<AtomicBool>, starts: Arc<AtomicUsize>) -> impl FnMut() -> BoxFuture<'static, ()> {
    move || {
        let flag = flag.clone();
        let starts = starts.clone();
        Box::pin(async move {
            starts.fetch_add(1, Ordering::SeqCst);
            flag.store(true, Ordering::SeqCst);
            let _alive = Alive(flag);
            futures::future::pending::<()>().await;
        })
    }
}

#[tokio::test]
async fn leader_election_acquires_renews_and_fails_over() {
    let (admin, kcm) = cluster().await;
    let leases: Api<Lease> = Api::namespaced(admin.clone(), "kube-system");
    let name = "kube-controller-manager";

    let (a_flag, a_starts) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicUsize::new(0)),
    );
    let a = LeaderElector::new(kcm.clone(), "kube-system", name, "host_a").with_config(fast());
    let mut a_leading = a.leading();
    let a_task = tokio::spawn(a.run(work(a_flag.clone(), a_starts.clone())));
    assert!(
        tokio::time::timeout(Duration::from_secs(5), a_leading.wait_for(|l| *l))
            .await
            .is_ok()
    );
    assert!(
        wait_until(Duration::from_secs(2), || async {
            a_flag.load(Ordering::SeqCst)
        })
        .await
    );
    let first = lease(&leases, name).await;
    assert_eq!(holder(&first), "host_a");
    let spec = first
        .as_ref()
        .and_then(|l| l.spec.clone())
        .unwrap_or_default();
    assert_eq!(spec.lease_duration_seconds, Some(2));
    assert_eq!(spec.lease_transitions, Some(0));
    assert!(spec.acquire_time.is_some());

    // B waits while A renews.
    let (b_flag, b_starts) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicUsize::new(0)),
    );
    let b = LeaderElector::new(kcm.clone(), "kube-system", name, "host_b").with_config(fast());
    let b_task = tokio::spawn(b.run(work(b_flag.clone(), b_starts.clone())));
    tokio::time::sleep(Duration::from_secs(3)).await;
    let renewed = lease(&leases, name).await;
    assert_eq!(holder(&renewed), "host_a");
    let rspec = renewed
        .as_ref()
        .and_then(|l| l.spec.clone())
        .unwrap_or_default();
    assert!(rspec.renew_time > spec.renew_time, "renewed: {rspec:?}");
    assert_eq!(rspec.acquire_time, spec.acquire_time);
    assert!(!b_flag.load(Ordering::SeqCst));

    // A dies without releasing: B takes over once the lease duration passed.
    a_task.abort();
    assert!(
        wait_until(Duration::from_secs(10), || async {
            holder(&lease(&leases, name).await) == "host_b"
        })
        .await
    );
    assert!(
        wait_until(Duration::from_secs(2), || async {
            b_flag.load(Ordering::SeqCst)
        })
        .await
    );
    let taken = lease(&leases, name).await;
    let tspec = taken
        .as_ref()
        .and_then(|l| l.spec.clone())
        .unwrap_or_default();
    assert_eq!(tspec.lease_transitions, Some(1));
    assert!(tspec.acquire_time > spec.acquire_time);

    // Someone else overwrites the Lease: B stops its work at its next renewal.
    let mut stolen = taken.clone().expect("lease");
    if let Some(s) = stolen.spec.as_mut() {
        s.holder_identity = Some("intruder".into());
        s.lease_duration_seconds = Some(30);
    }
    leases
        .replace(name, &PostParams::default(), &stolen)
        .await
        .expect("steal the lease");
    assert!(
        wait_until(Duration::from_secs(5), || async {
            !b_flag.load(Ordering::SeqCst)
        })
        .await,
        "work stopped when leadership was lost"
    );
    assert_eq!(b_starts.load(Ordering::SeqCst), 1);
    b_task.abort();
}

#[tokio::test]
async fn leader_releases_the_lease_when_its_work_ends() {
    let (admin, kcm) = cluster().await;
    let leases: Api<Lease> = Api::namespaced(admin, "kube-system");
    let a = LeaderElector::new(kcm.clone(), "kube-system", "kube-scheduler", "host_a")
        .with_config(fast());
    tokio::time::timeout(Duration::from_secs(5), a.run(|| async {}))
        .await
        .expect("work ran and ended");
    let released = lease(&leases, "kube-scheduler").await;
    assert_eq!(holder(&released), "");
    // Free at once for the next candidate.
    let b = LeaderElector::new(kcm, "kube-system", "kube-scheduler", "host_b").with_config(fast());
    let mut b_leading = b.leading();
    let task = tokio::spawn(b.run(futures::future::pending::<()>));
    tokio::time::timeout(Duration::from_millis(800), b_leading.wait_for(|l| *l))
        .await
        .expect("acquired at once")
        .expect("watch");
    let taken = lease(&leases, "kube-scheduler").await;
    assert_eq!(holder(&taken), "host_b");
    assert_eq!(
        taken.and_then(|l| l.spec).and_then(|s| s.lease_transitions),
        Some(1)
    );
    task.abort();
}
