//! The ReplicaSet controller (upstream's `pkg/controller/replicaset`): keeps `spec.replicas`
//! active pods for every ReplicaSet. It creates pods from the template in slow-start batches
//! (1, 2, 4, ...) and deletes the pods upstream ranks first; adopts matching orphans and
//! releases pods that stopped matching (controller ownerReferences); counts only active pods;
//! keeps expectations so a stale cache never makes it act twice; and reports replicas,
//! fullyLabeledReplicas, readyReplicas, availableReplicas (ready for `minReadySeconds`, with a
//! requeue when the next pod becomes available), observedGeneration and the `ReplicaFailure`
//! condition. Events: `SuccessfulCreate`, `FailedCreate`, `SuccessfulDelete`, `FailedDelete`.
//!
//! The same logic runs on ReplicationControllers ([`ReplicationManager`]), seen as
//! ReplicaSets through [`replicated::Replicated`], as upstream's replication manager does.

pub mod pods;
pub mod replicated;

pub use replicated::Replicated;

use futures::future::join_all;
use k8s_openapi::api::apps::v1::{ReplicaSet, ReplicaSetStatus};
use k8s_openapi::api::core::v1::{ObjectReference, Pod, ReplicationController};
use k8s_openapi::jiff::Timestamp;
use krust_api::selector::LabelSelector;
use krust_client::events::{EventRecorder, NORMAL, WARNING};
use krust_client::runtime::{
    self, Claim, Expectations, Informer, Informers, Notification, WorkQueue, controller_of, key_of,
    split_key,
};
use kube::Client;
use kube::api::{Api, DeleteParams, PostParams};
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

/// The name events are reported under.
pub const REPORTER: &str = "replicaset-controller";
/// Workers syncing ReplicaSets concurrently (upstream's `--concurrent-replicaset-syncs`).
pub const WORKERS: usize = 5;

pub use krust_client::runtime::{SyncError as Error, api_message};

/// The selector of a ReplicaSet or Deployment as a matcher.
pub fn selector_of(
    sel: &k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector,
) -> Result<LabelSelector, String> {
    let v = serde_json::to_value(sel).map_err(|e| e.to_string())?;
    LabelSelector::from_structured(Some(&v)).map_err(|e| e.0)
}

/// Whether `selector` matches an object's labels.
pub fn selector_matches(
    selector: &LabelSelector,
    labels: Option<&std::collections::BTreeMap<String, String>>,
) -> bool {
    let map: serde_json::Map<String, serde_json::Value> = labels
        .into_iter()
        .flatten()
        .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
        .collect();
    selector.matches(Some(&map))
}

/// The ReplicaSet controller (of ReplicaSets unless `T` says otherwise).
pub struct ReplicaSetController<T: Replicated = ReplicaSet> {
    client: Client,
    informers: Informers,
    kind: PhantomData<T>,
}

/// The ReplicationController controller (upstream's `ReplicationManager`).
pub type ReplicationManager = ReplicaSetController<ReplicationController>;

struct Ctx<T: Replicated> {
    client: Client,
    events: EventRecorder,
    rss: Arc<Informer<T>>,
    pods: Arc<Informer<Pod>>,
    queue: WorkQueue,
    expectations: Expectations,
}

impl<T: Replicated> ReplicaSetController<T> {
    pub fn new(client: Client) -> Self {
        let informers = Informers::new(client.clone());
        Self::with_informers(client, informers)
    }

    /// A controller on shared informers.
    pub fn with_informers(client: Client, informers: Informers) -> Self {
        ReplicaSetController {
            client,
            informers,
            kind: PhantomData,
        }
    }

    /// Runs until the process ends.
    pub async fn run(self) {
        let ctx = Arc::new(Ctx {
            client: self.client.clone(),
            events: EventRecorder::new(self.client.clone(), T::REPORTER),
            rss: self.informers.get::<T>(),
            pods: self.informers.get::<Pod>(),
            queue: WorkQueue::new(),
            expectations: Expectations::default(),
        });
        ctx.rss.wait_synced().await;
        ctx.pods.wait_synced().await;
        {
            let c = Arc::downgrade(&ctx);
            ctx.rss.add_handler(move |n| {
                if let Some(c) = c.upgrade() {
                    c.on_replica_set(n);
                }
            });
            let c = Arc::downgrade(&ctx);
            ctx.pods.add_handler(move |n| {
                if let Some(c) = c.upgrade() {
                    c.on_pod(n);
                }
            });
        }
        let queue = ctx.queue.clone();
        runtime::run_workers(T::QUEUE, queue, WORKERS, None, move |key: String| {
            let ctx = ctx.clone();
            async move { ctx.sync(&key).await }
        })
        .await;
    }
}

impl<T: Replicated> Ctx<T> {
    fn on_replica_set(&self, n: &Notification<'_, T>) {
        match n {
            Notification::Added(rs) => self.queue.add(key_of(rs.meta())),
            Notification::Updated { old, new } => {
                if old.meta().uid != new.meta().uid {
                    self.expectations.delete(&key_of(old.meta()));
                }
                self.queue.add(key_of(new.meta()));
            }
            Notification::Deleted(rs) => {
                let key = key_of(rs.meta());
                self.expectations.delete(&key);
                self.queue.add(key);
            }
        }
    }

    /// The ReplicaSet a controller reference of a pod in `ns` points to.
    fn resolve(
        &self,
        ns: &str,
        cref: &k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference,
    ) -> Option<ReplicaSet> {
        if cref.kind != T::KIND {
            return None;
        }
        let rs = self.rss.get(ns, &cref.name)?;
        (rs.meta().uid.as_deref() == Some(cref.uid.as_str()))
            .then(|| rs.as_replica_set())
            .flatten()
    }

    /// ReplicaSets of the pod's namespace whose selector matches the pod.
    fn matching_replica_sets(&self, pod: &Pod) -> Vec<ReplicaSet> {
        let ns = pod.metadata.namespace.as_deref().unwrap_or("");
        self.rss
            .list(ns)
            .into_iter()
            .filter_map(|rs| rs.as_replica_set())
            .filter(|rs| {
                let Some(spec) = rs.spec.as_ref() else {
                    return false;
                };
                match selector_of(&spec.selector) {
                    Ok(sel) if !sel.is_empty() => {
                        selector_matches(&sel, pod.metadata.labels.as_ref())
                    }
                    _ => false,
                }
            })
            .collect()
    }

    fn pod_deleted(&self, pod: &Pod) {
        let ns = pod.metadata.namespace.as_deref().unwrap_or("");
        let Some(cref) = controller_of(&pod.metadata) else {
            return;
        };
        let Some(rs) = self.resolve(ns, cref) else {
            return;
        };
        let key = key_of(&rs.metadata);
        self.expectations
            .deletion_observed(&key, &key_of(&pod.metadata));
        self.queue.add(key);
    }

    fn on_pod(&self, n: &Notification<'_, Pod>) {
        match n {
            Notification::Added(pod) => {
                if pod.metadata.deletion_timestamp.is_some() {
                    self.pod_deleted(pod);
                    return;
                }
                let ns = pod.metadata.namespace.as_deref().unwrap_or("");
                if let Some(cref) = controller_of(&pod.metadata) {
                    if let Some(rs) = self.resolve(ns, cref) {
                        let key = key_of(&rs.metadata);
                        self.expectations.creation_observed(&key);
                        self.queue.add(key);
                    }
                    return;
                }
                for rs in self.matching_replica_sets(pod) {
                    self.queue.add(key_of(&rs.metadata));
                }
            }
            Notification::Updated { old, new } => {
                if old.metadata.resource_version == new.metadata.resource_version {
                    return;
                }
                let label_changed = old.metadata.labels != new.metadata.labels;
                if new.metadata.deletion_timestamp.is_some() {
                    self.pod_deleted(new);
                    if label_changed {
                        self.pod_deleted(old);
                    }
                    return;
                }
                let ns = new.metadata.namespace.as_deref().unwrap_or("");
                let cur_ref = controller_of(&new.metadata);
                let old_ref = controller_of(&old.metadata);
                let ref_changed = cur_ref != old_ref;
                if ref_changed
                    && let Some(o) = old_ref
                    && let Some(rs) = self.resolve(ns, o)
                {
                    self.queue.add(key_of(&rs.metadata));
                }
                if let Some(c) = cur_ref {
                    let Some(rs) = self.resolve(ns, c) else {
                        return;
                    };
                    let key = key_of(&rs.metadata);
                    self.queue.add(key.clone());
                    let min_ready = rs
                        .spec
                        .as_ref()
                        .and_then(|s| s.min_ready_seconds)
                        .unwrap_or(0);
                    if !pods::is_ready(old) && pods::is_ready(new) && min_ready > 0 {
                        self.queue.add_after(
                            key,
                            Duration::from_secs(min_ready as u64) + Duration::from_secs(1),
                        );
                    }
                    return;
                }
                if label_changed || ref_changed {
                    for rs in self.matching_replica_sets(new) {
                        self.queue.add(key_of(&rs.metadata));
                    }
                }
            }
            Notification::Deleted(pod) => self.pod_deleted(pod),
        }
    }

    async fn sync(&self, key: &str) -> Result<(), Error> {
        let (ns, name) = split_key(key);
        let Some(orig) = self.rss.get(ns, name) else {
            self.expectations.delete(key);
            return Ok(());
        };
        let Some(rs) = orig.as_replica_set() else {
            return Ok(());
        };
        let needs_sync = self.expectations.satisfied(key);
        let Some(spec) = rs.spec.as_ref() else {
            return Ok(());
        };
        let selector = match selector_of(&spec.selector) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(replicaset = %key, error = %e, "invalid selector");
                return Ok(());
            }
        };
        let active: Vec<Arc<Pod>> = self
            .pods
            .list(ns)
            .into_iter()
            .filter(|p| pods::is_active(p))
            .collect();
        let claimed = self.claim_pods(&rs, &selector, active).await?;

        let mut manage_error: Option<Error> = None;
        if needs_sync && rs.metadata.deletion_timestamp.is_none() {
            manage_error = self.manage_replicas(&claimed, &rs, key).await.err();
        }
        let now = Timestamp::now();
        let message = manage_error.as_ref().map(|e| e.to_string());
        let status = pods::calculate_status(&rs, &claimed, message.as_deref(), now);
        self.update_status(&orig, &rs, status).await?;

        let min_ready = spec.min_ready_seconds.unwrap_or(0);
        if manage_error.is_none()
            && let Some(after) = pods::next_available(&claimed, min_ready, now)
        {
            self.queue.add_after(key, after);
        }
        match manage_error {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Adopts matching orphans and releases owned pods that no longer match; returns the pods
    /// the ReplicaSet owns.
    async fn claim_pods(
        &self,
        rs: &ReplicaSet,
        selector: &LabelSelector,
        active: Vec<Arc<Pod>>,
    ) -> Result<Vec<Arc<Pod>>, Error> {
        let ns = rs.metadata.namespace.as_deref().unwrap_or("");
        let api: Api<Pod> = Api::namespaced(self.client.clone(), ns);
        let owner_uid = rs.metadata.uid.clone().unwrap_or_default();
        let mut claimed = Vec::new();
        let mut can_adopt: Option<Result<(), Error>> = None;
        let mut first_error: Option<Error> = None;
        for pod in active {
            // Someone else's: nothing to decide (and no selector to evaluate).
            if controller_of(&pod.metadata).is_some_and(|c| c.uid != owner_uid) {
                continue;
            }
            let matches = selector_matches(selector, pod.metadata.labels.as_ref());
            let pod_name = pod.metadata.name.clone().unwrap_or_default();
            let pod_uid = pod.metadata.uid.clone().unwrap_or_default();
            match runtime::claim(&rs.metadata, &pod.metadata, matches) {
                Claim::Keep => claimed.push(pod),
                Claim::Ignore => {}
                Claim::Release => {
                    if let Err(e) = runtime::release(&api, &pod_name, &pod_uid, &owner_uid).await {
                        first_error.get_or_insert(e.into());
                    }
                }
                Claim::Adopt => {
                    if can_adopt.is_none() {
                        can_adopt = Some(self.recheck(rs).await);
                    }
                    if let Some(Err(e)) = &can_adopt {
                        first_error.get_or_insert(Error::Invalid(e.to_string()));
                        continue;
                    }
                    let Some(owner) =
                        runtime::new_controller_ref(T::API_VERSION, T::KIND, &rs.metadata)
                    else {
                        continue;
                    };
                    match runtime::adopt(&api, &pod_name, &pod_uid, &owner).await {
                        Ok(()) => claimed.push(pod),
                        Err(e) if runtime::is_not_found(&e) => {}
                        Err(e) => {
                            first_error.get_or_insert(e.into());
                        }
                    }
                }
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(claimed),
        }
    }

    /// Before adopting: the ReplicaSet, read fresh, is the same one and not being deleted.
    async fn recheck(&self, rs: &ReplicaSet) -> Result<(), Error> {
        let ns = rs.metadata.namespace.as_deref().unwrap_or("");
        let name = rs.metadata.name.as_deref().unwrap_or("");
        let api: Api<T> = Api::namespaced(self.client.clone(), ns);
        let fresh = api.get(name).await?;
        if fresh.meta().uid != rs.metadata.uid {
            return Err(Error::Invalid(format!(
                "original {} {ns}/{name} is gone: got uid {:?}, wanted {:?}",
                T::KIND,
                fresh.meta().uid,
                rs.metadata.uid
            )));
        }
        if fresh.meta().deletion_timestamp.is_some() {
            return Err(Error::Invalid(format!(
                "{} {ns}/{name} has just been deleted",
                T::KIND
            )));
        }
        Ok(())
    }

    /// The pods of every ReplicaSet that has the same controller as `rs` (just `rs`'s when it
    /// has none).
    fn related_pods(&self, rs: &ReplicaSet) -> Vec<Arc<Pod>> {
        let ns = rs.metadata.namespace.as_deref().unwrap_or("");
        let uids: Vec<String> = match controller_of(&rs.metadata) {
            None => rs.metadata.uid.iter().cloned().collect(),
            Some(cref) => self
                .rss
                .list(ns)
                .into_iter()
                .filter(|o| controller_of(o.meta()).is_some_and(|c| c.uid == cref.uid))
                .filter_map(|o| o.meta().uid.clone())
                .collect(),
        };
        self.pods
            .list(ns)
            .into_iter()
            .filter(|p| controller_of(&p.metadata).is_some_and(|c| uids.contains(&c.uid)))
            .collect()
    }

    fn event(&self, rs: &ReplicaSet, warning: bool, reason: &str, note: String) {
        let type_ = if warning { WARNING } else { NORMAL };
        let meta = &rs.metadata;
        let reference = ObjectReference {
            api_version: Some(T::API_VERSION.into()),
            kind: Some(T::KIND.into()),
            name: meta.name.clone(),
            namespace: meta.namespace.clone(),
            uid: meta.uid.clone(),
            resource_version: meta.resource_version.clone(),
            ..Default::default()
        };
        self.events.emit(reference, type_, reason, note);
    }

    async fn create_pod(&self, rs: &ReplicaSet, api: &Api<Pod>) -> Result<(), kube::Error> {
        let Some(owner) = runtime::new_controller_ref(T::API_VERSION, T::KIND, &rs.metadata) else {
            return Ok(());
        };
        let Some(pod) = pods::pod_from_template(rs, owner) else {
            return Ok(());
        };
        if pod.metadata.labels.as_ref().is_none_or(|l| l.is_empty()) {
            self.event(
                rs,
                true,
                "FailedCreate",
                "Error creating: unable to create pods, no labels".into(),
            );
            return Ok(());
        }
        match api.create(&PostParams::default(), &pod).await {
            Ok(created) => {
                self.event(
                    rs,
                    false,
                    "SuccessfulCreate",
                    format!(
                        "Created pod: {}",
                        created.metadata.name.as_deref().unwrap_or("")
                    ),
                );
                Ok(())
            }
            // Every create fails in a terminating namespace: nothing to do.
            Err(e) if runtime::is_namespace_terminating(&e) => Ok(()),
            Err(e) => {
                self.event(
                    rs,
                    true,
                    "FailedCreate",
                    format!("Error creating: {}", api_message(&e)),
                );
                Err(e)
            }
        }
    }

    async fn manage_replicas(
        &self,
        claimed: &[Arc<Pod>],
        rs: &ReplicaSet,
        key: &str,
    ) -> Result<(), Error> {
        let ns = rs.metadata.namespace.as_deref().unwrap_or("");
        let api: Api<Pod> = Api::namespaced(self.client.clone(), ns);
        let desired = rs
            .spec
            .as_ref()
            .and_then(|s| s.replicas)
            .unwrap_or(1)
            .max(0) as usize;
        if claimed.len() < desired {
            let diff = (desired - claimed.len()).min(pods::BURST_REPLICAS);
            self.expectations.expect_creations(key, diff as i64);
            let mut successes = 0usize;
            let mut error = None;
            for batch in pods::slow_start_batches(diff, pods::SLOW_START_INITIAL_BATCH) {
                let results = join_all((0..batch).map(|_| self.create_pod(rs, &api))).await;
                let failed: Vec<kube::Error> =
                    results.into_iter().filter_map(Result::err).collect();
                successes += batch - failed.len();
                if let Some(e) = failed.into_iter().next() {
                    error = Some(e);
                    break;
                }
            }
            // Creations never attempted (or failed) will not be observed.
            for _ in successes..diff {
                self.expectations.creation_observed(key);
            }
            return match error {
                Some(e) => Err(e.into()),
                None => Ok(()),
            };
        }
        if claimed.len() > desired {
            let diff = (claimed.len() - desired).min(pods::BURST_REPLICAS);
            let related = self.related_pods(rs);
            let victims = pods::pods_to_delete(claimed, &related, diff, Timestamp::now());
            let keys: Vec<String> = victims.iter().map(|p| key_of(&p.metadata)).collect();
            self.expectations.expect_deletions(key, &keys);
            let results = join_all(victims.iter().map(|p| {
                let api = api.clone();
                async move {
                    let name = p.metadata.name.clone().unwrap_or_default();
                    (p, api.delete(&name, &DeleteParams::default()).await)
                }
            }))
            .await;
            let mut error = None;
            for (pod, result) in results {
                let name = pod.metadata.name.clone().unwrap_or_default();
                match result {
                    Ok(_) => self.event(
                        rs,
                        false,
                        "SuccessfulDelete",
                        format!("Deleted pod: {name}"),
                    ),
                    Err(e) => {
                        // The informer will not see this deletion.
                        self.expectations
                            .deletion_observed(key, &key_of(&pod.metadata));
                        if !runtime::is_not_found(&e) {
                            self.event(
                                rs,
                                true,
                                "FailedDelete",
                                format!("Error deleting: {}", api_message(&e)),
                            );
                            error.get_or_insert(e);
                        }
                    }
                }
            }
            return match error {
                Some(e) => Err(e.into()),
                None => Ok(()),
            };
        }
        Ok(())
    }

    /// Writes `status` (with `observedGeneration`) unless nothing changed; on a conflict reads
    /// the ReplicaSet again and retries once, as upstream.
    async fn update_status(
        &self,
        orig: &T,
        rs: &ReplicaSet,
        mut status: ReplicaSetStatus,
    ) -> Result<(), Error> {
        let generation = rs.metadata.generation.unwrap_or(0);
        let current = rs.status.clone().unwrap_or_default();
        status.observed_generation = current.observed_generation;
        if pods::status_equal(&current, &status)
            && current.observed_generation.unwrap_or(0) == generation
        {
            return Ok(());
        }
        status.observed_generation = (generation != 0).then_some(generation);
        let ns = rs.metadata.namespace.as_deref().unwrap_or("");
        let name = rs.metadata.name.as_deref().unwrap_or("");
        let api: Api<T> = Api::namespaced(self.client.clone(), ns);
        let mut obj = orig.clone();
        let mut attempt = 0;
        loop {
            let Some(with_status) = obj.with_status(&status) else {
                return Ok(());
            };
            match api
                .replace_status(name, &PostParams::default(), &with_status)
                .await
            {
                Ok(_) => return Ok(()),
                Err(e) if runtime::is_not_found(&e) => return Ok(()),
                Err(e) if runtime::is_conflict(&e) && attempt == 0 => {
                    attempt += 1;
                    obj = api.get(name).await?;
                    if obj.meta().uid != rs.metadata.uid {
                        return Ok(());
                    }
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
}
