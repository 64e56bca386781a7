//! The Deployment controller (upstream's `pkg/controller/deployment`): a Deployment owns
//! ReplicaSets named `<deployment>-<pod-template-hash>`, one per distinct pod template; the
//! "new" one is the oldest whose template equals the Deployment's (semantically, ignoring the
//! hash, so `kubectl rollout undo` finds the old ReplicaSet again and gives it revision max+1).
//! It rolls out with RollingUpdate (maxSurge/maxUnavailable) or Recreate, scales in proportion
//! during a rollout, honours `paused`, `minReadySeconds`, `progressDeadlineSeconds` (the
//! `Progressing` condition) and `revisionHistoryLimit`, keeps the revision annotations, reports
//! the status `kubectl rollout status` reads, and records `ScalingReplicaSet` events.
//!
//! The pure logic lives in the submodules (`util`: hashing, templates, revisions; `rolling`:
//! strategy steps; `sync`: scaling and status; `progress`: conditions); this module reads the
//! informers and writes to the API.

pub mod progress;
pub mod rolling;
pub mod sync;
pub mod util;

#[cfg(test)]
mod simulation;
#[cfg(test)]
pub(crate) mod test_support;

use crate::replicaset::{selector_matches, selector_of};
use k8s_openapi::api::apps::v1::{Deployment, DeploymentStatus, ReplicaSet, ReplicaSetSpec};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::jiff::Timestamp;
use krust_client::events::{EventRecorder, NORMAL, WARNING};
use krust_client::runtime::{
    self, Claim, Informer, Informers, Notification, SyncError as Error, WorkQueue, api_message,
    controller_of, key_of, split_key,
};
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::{Client, Resource};
use progress::Requeue;
use serde_json::json;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use sync::ScaleAction;
use util::*;

/// The name events are reported under.
pub const REPORTER: &str = "deployment-controller";
/// Workers syncing Deployments concurrently (upstream's `--concurrent-deployment-syncs`).
pub const WORKERS: usize = 5;
/// Retries of a failing Deployment before it waits for the next change.
pub const MAX_RETRIES: u32 = 15;

/// The Deployment controller.
pub struct DeploymentController {
    client: Client,
    informers: Informers,
}

struct Ctx {
    client: Client,
    events: EventRecorder,
    deployments: Arc<Informer<Deployment>>,
    rss: Arc<Informer<ReplicaSet>>,
    pods: Arc<Informer<Pod>>,
    queue: WorkQueue,
}

impl DeploymentController {
    pub fn new(client: Client) -> Self {
        let informers = Informers::new(client.clone());
        Self::with_informers(client, informers)
    }

    /// A controller on shared informers.
    pub fn with_informers(client: Client, informers: Informers) -> Self {
        DeploymentController { client, informers }
    }

    /// Runs until the process ends.
    pub async fn run(self) {
        let ctx = Arc::new(Ctx {
            client: self.client.clone(),
            events: EventRecorder::new(self.client.clone(), REPORTER),
            deployments: self.informers.get::<Deployment>(),
            rss: self.informers.get::<ReplicaSet>(),
            pods: self.informers.get::<Pod>(),
            queue: WorkQueue::new(),
        });
        ctx.deployments.wait_synced().await;
        ctx.rss.wait_synced().await;
        ctx.pods.wait_synced().await;
        {
            let c = Arc::downgrade(&ctx);
            ctx.deployments.add_handler(move |n| {
                if let Some(c) = c.upgrade() {
                    c.on_deployment(n);
                }
            });
            let c = Arc::downgrade(&ctx);
            ctx.rss.add_handler(move |n| {
                if let Some(c) = c.upgrade() {
                    c.on_replica_set(n);
                }
            });
            let c = Arc::downgrade(&ctx);
            ctx.pods.add_handler(move |n| {
                if let (Some(c), Notification::Deleted(p)) = (c.upgrade(), n) {
                    c.on_pod_deleted(p);
                }
            });
        }
        let queue = ctx.queue.clone();
        runtime::run_workers(
            "deployment",
            queue,
            WORKERS,
            Some(MAX_RETRIES),
            move |key: String| {
                let ctx = ctx.clone();
                async move { ctx.sync(&key).await }
            },
        )
        .await;
    }
}

impl Ctx {
    fn on_deployment(&self, n: &Notification<'_, Deployment>) {
        let d = match n {
            Notification::Added(d) | Notification::Deleted(d) => d,
            Notification::Updated { new, .. } => new,
        };
        self.queue.add(key_of(&d.metadata));
    }

    /// The Deployment a controller reference in `ns` points to.
    fn resolve(
        &self,
        ns: &str,
        cref: &k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference,
    ) -> Option<Arc<Deployment>> {
        if cref.kind != "Deployment" {
            return None;
        }
        let d = self.deployments.get(ns, &cref.name)?;
        (d.metadata.uid.as_deref() == Some(cref.uid.as_str())).then_some(d)
    }

    /// Deployments whose selector matches an orphan ReplicaSet's labels.
    fn matching_deployments(&self, rs: &ReplicaSet) -> Vec<Arc<Deployment>> {
        let ns = rs.metadata.namespace.as_deref().unwrap_or("");
        self.deployments
            .list(ns)
            .into_iter()
            .filter(|d| {
                let Some(spec) = d.spec.as_ref() else {
                    return false;
                };
                match selector_of(&spec.selector) {
                    Ok(sel) if !sel.is_empty() => {
                        selector_matches(&sel, rs.metadata.labels.as_ref())
                    }
                    _ => false,
                }
            })
            .collect()
    }

    fn enqueue_owner(&self, rs: &ReplicaSet) -> bool {
        let ns = rs.metadata.namespace.as_deref().unwrap_or("");
        match controller_of(&rs.metadata) {
            Some(cref) => {
                if let Some(d) = self.resolve(ns, cref) {
                    self.queue.add(key_of(&d.metadata));
                }
                true
            }
            None => false,
        }
    }

    fn on_replica_set(&self, n: &Notification<'_, ReplicaSet>) {
        match n {
            Notification::Added(rs) => {
                if !self.enqueue_owner(rs) {
                    for d in self.matching_deployments(rs) {
                        self.queue.add(key_of(&d.metadata));
                    }
                }
            }
            Notification::Updated { old, new } => {
                if old.metadata.resource_version == new.metadata.resource_version {
                    return;
                }
                let ns = new.metadata.namespace.as_deref().unwrap_or("");
                let cur_ref = controller_of(&new.metadata);
                let old_ref = controller_of(&old.metadata);
                let ref_changed = cur_ref != old_ref;
                if ref_changed
                    && let Some(o) = old_ref
                    && let Some(d) = self.resolve(ns, o)
                {
                    self.queue.add(key_of(&d.metadata));
                }
                if cur_ref.is_some() {
                    self.enqueue_owner(new);
                    return;
                }
                if old.metadata.labels != new.metadata.labels || ref_changed {
                    for d in self.matching_deployments(new) {
                        self.queue.add(key_of(&d.metadata));
                    }
                }
            }
            Notification::Deleted(rs) => {
                self.enqueue_owner(rs);
            }
        }
    }

    /// A Recreate Deployment waits for its old pods to be gone.
    fn on_pod_deleted(&self, pod: &Pod) {
        let ns = pod.metadata.namespace.as_deref().unwrap_or("");
        let Some(cref) = controller_of(&pod.metadata) else {
            return;
        };
        if cref.kind != "ReplicaSet" {
            return;
        }
        let Some(rs) = self.rss.get(ns, &cref.name) else {
            return;
        };
        if let Some(dref) = controller_of(&rs.metadata)
            && let Some(d) = self.resolve(ns, dref)
            && is_recreate(&d)
        {
            self.queue.add(key_of(&d.metadata));
        }
    }

    async fn sync(&self, key: &str) -> Result<(), Error> {
        let (ns, name) = split_key(key);
        let Some(d) = self.deployments.get(ns, name) else {
            return Ok(());
        };
        let mut s = Syncer {
            events: self.events.clone(),
            deployments: Api::namespaced(self.client.clone(), ns),
            rs_api: Api::namespaced(self.client.clone(), ns),
            d: (*d).clone(),
            key: key.to_string(),
            queue: self.queue.clone(),
        };
        let Some(spec) = s.d.spec.clone() else {
            return Ok(());
        };
        let selects_all = spec
            .selector
            .match_labels
            .as_ref()
            .is_none_or(|m| m.is_empty())
            && spec
                .selector
                .match_expressions
                .as_ref()
                .is_none_or(|m| m.is_empty());
        if selects_all {
            s.event(
                true,
                "SelectingAll",
                "This deployment is selecting all pods. A non-empty selector is required.".into(),
            );
            let observed = s.status().observed_generation.unwrap_or(0);
            let generation = s.d.metadata.generation.unwrap_or(0);
            if observed < generation {
                let mut st = s.status();
                st.observed_generation = Some(generation);
                s.write_status(st).await?;
            }
            return Ok(());
        }

        let rs_list = self.claim_replica_sets(&s.d).await?;
        if s.d.metadata.deletion_timestamp.is_some() {
            return s.sync_status_only(rs_list).await;
        }
        if let Some(st) = progress::paused_conditions(&s.d, Timestamp::now()) {
            s.write_status(st).await?;
        }
        if is_paused(&s.d) {
            return s.sync_scale(rs_list).await;
        }
        if sync::is_scaling_event(&s.d, &rs_list) {
            return s.sync_scale(rs_list).await;
        }
        if is_recreate(&s.d) {
            let pods = self.pods_by_rs(&s.d, &rs_list);
            return s.rollout_recreate(rs_list, &pods).await;
        }
        s.rollout_rolling(rs_list).await
    }

    /// The Deployment's ReplicaSets: owned ones that still match, adopted orphans that match;
    /// owned ones that stopped matching are released.
    async fn claim_replica_sets(&self, d: &Deployment) -> Result<Vec<ReplicaSet>, Error> {
        let ns = d.metadata.namespace.as_deref().unwrap_or("");
        let Some(spec) = d.spec.as_ref() else {
            return Ok(Vec::new());
        };
        let selector = selector_of(&spec.selector).map_err(Error::Invalid)?;
        let api: Api<ReplicaSet> = Api::namespaced(self.client.clone(), ns);
        let owner_uid = d.metadata.uid.clone().unwrap_or_default();
        let mut claimed = Vec::new();
        let mut can_adopt: Option<Result<(), String>> = None;
        let mut first_error: Option<Error> = None;
        for rs in self.rss.list(ns) {
            if controller_of(&rs.metadata).is_some_and(|c| c.uid != owner_uid) {
                continue;
            }
            let matches = selector_matches(&selector, rs.metadata.labels.as_ref());
            let name = rs.metadata.name.clone().unwrap_or_default();
            let uid = rs.metadata.uid.clone().unwrap_or_default();
            match runtime::claim(&d.metadata, &rs.metadata, matches) {
                Claim::Keep => claimed.push((*rs).clone()),
                Claim::Ignore => {}
                Claim::Release => {
                    if let Err(e) = runtime::release(&api, &name, &uid, &owner_uid).await {
                        first_error.get_or_insert(e.into());
                    }
                }
                Claim::Adopt => {
                    if can_adopt.is_none() {
                        can_adopt = Some(self.recheck(d).await);
                    }
                    if let Some(Err(e)) = &can_adopt {
                        first_error.get_or_insert(Error::Invalid(e.clone()));
                        continue;
                    }
                    let Some(owner) =
                        runtime::new_controller_ref("apps/v1", "Deployment", &d.metadata)
                    else {
                        continue;
                    };
                    match runtime::adopt(&api, &name, &uid, &owner).await {
                        Ok(()) => claimed.push((*rs).clone()),
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

    /// Before adopting: the Deployment, read fresh, is the same one and not being deleted.
    async fn recheck(&self, d: &Deployment) -> Result<(), String> {
        let ns = d.metadata.namespace.as_deref().unwrap_or("");
        let name = d.metadata.name.as_deref().unwrap_or("");
        let api: Api<Deployment> = Api::namespaced(self.client.clone(), ns);
        let fresh = api.get(name).await.map_err(|e| api_message(&e))?;
        if fresh.metadata.uid != d.metadata.uid {
            return Err(format!("original Deployment {ns}/{name} is gone"));
        }
        if fresh.metadata.deletion_timestamp.is_some() {
            return Err(format!("Deployment {ns}/{name} has just been deleted"));
        }
        Ok(())
    }

    /// The Deployment's pods (by its selector) grouped by the uid of the ReplicaSet that
    /// controls them.
    fn pods_by_rs(&self, d: &Deployment, rss: &[ReplicaSet]) -> HashMap<String, Vec<Arc<Pod>>> {
        let ns = d.metadata.namespace.as_deref().unwrap_or("");
        let mut out: HashMap<String, Vec<Arc<Pod>>> = rss
            .iter()
            .filter_map(|rs| rs.metadata.uid.clone())
            .map(|u| (u, Vec::new()))
            .collect();
        let Some(Ok(selector)) = d.spec.as_ref().map(|s| selector_of(&s.selector)) else {
            return out;
        };
        for pod in self.pods.list(ns) {
            if !selector_matches(&selector, pod.metadata.labels.as_ref()) {
                continue;
            }
            if let Some(cref) = controller_of(&pod.metadata)
                && let Some(list) = out.get_mut(&cref.uid)
            {
                list.push(pod);
            }
        }
        out
    }
}

/// One sync of one Deployment: the Deployment as last written, and the API to write with.
struct Syncer {
    events: EventRecorder,
    deployments: Api<Deployment>,
    rs_api: Api<ReplicaSet>,
    d: Deployment,
    key: String,
    queue: WorkQueue,
}

impl Syncer {
    fn name(&self) -> String {
        self.d.metadata.name.clone().unwrap_or_default()
    }

    fn status(&self) -> DeploymentStatus {
        self.d.status.clone().unwrap_or_default()
    }

    fn event(&self, warning: bool, reason: &str, note: String) {
        let type_ = if warning { WARNING } else { NORMAL };
        self.events
            .emit(self.d.object_ref(&()), type_, reason, note);
    }

    /// Writes `status` through the status subresource.
    async fn write_status(&mut self, status: DeploymentStatus) -> Result<(), Error> {
        let mut obj = self.d.clone();
        obj.status = Some(status);
        let name = self.name();
        self.d = self
            .deployments
            .replace_status(&name, &PostParams::default(), &obj)
            .await?;
        Ok(())
    }

    /// Writes the Deployment's revision annotation (the status subresource keeps metadata as
    /// it is, so this is a metadata patch, guarded by the resourceVersion).
    async fn write_revision(&mut self) -> Result<(), Error> {
        let revision = self
            .d
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(REVISION))
            .cloned();
        let patch = json!({"metadata": {
            "resourceVersion": self.d.metadata.resource_version,
            "annotations": {REVISION: revision},
        }});
        let name = self.name();
        let status = self.d.status.clone();
        self.d = self
            .deployments
            .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await?;
        // Keep the status being computed in this sync.
        self.d.status = status;
        Ok(())
    }

    /// Sets `spec.replicas` of `rs` to `to` (and its replica annotations), recording a
    /// `ScalingReplicaSet` event when the size changed. Returns whether it did and the
    /// ReplicaSet as written.
    async fn scale_rs(&self, rs: &ReplicaSet, to: i32) -> Result<(bool, ReplicaSet), Error> {
        let from = rs_replicas(rs);
        let desired = replicas(&self.d);
        let max = desired + max_surge(&self.d);
        let size_changes = from != to;
        if !size_changes && !replicas_annotations_need_update(&rs.metadata, desired, max) {
            return Ok((false, rs.clone()));
        }
        let name = rs.metadata.name.clone().unwrap_or_default();
        let patch = json!({
            "metadata": {
                "resourceVersion": rs.metadata.resource_version,
                "annotations": {DESIRED_REPLICAS: desired.to_string(), MAX_REPLICAS: max.to_string()},
            },
            "spec": {"replicas": to},
        });
        let updated = self
            .rs_api
            .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await?;
        if size_changes {
            let direction = if to > from { "up" } else { "down" };
            self.event(
                false,
                "ScalingReplicaSet",
                format!("Scaled {direction} replica set {name} from {from} to {to}"),
            );
        }
        Ok((size_changes, updated))
    }

    /// Applies scale actions in order to the ReplicaSets they name (in `rss` or `new_rs`),
    /// replacing them with what was written. Whether any size changed.
    async fn apply(
        &self,
        actions: &[ScaleAction],
        new_rs: &mut Option<ReplicaSet>,
        old: &mut [ReplicaSet],
    ) -> Result<bool, Error> {
        let mut scaled = false;
        for a in actions {
            let slot = new_rs
                .iter_mut()
                .chain(old.iter_mut())
                .find(|rs| rs.metadata.name.as_deref() == Some(a.name.as_str()));
            let Some(slot) = slot else {
                continue;
            };
            let (did, updated) = self.scale_rs(slot, a.to).await?;
            scaled |= did;
            *slot = updated;
        }
        Ok(scaled)
    }

    /// Upstream's `getAllReplicaSetsAndSyncRevision`: the new ReplicaSet (created when asked
    /// and missing) with its revision brought up to date, and the old ones.
    async fn new_and_old(
        &mut self,
        rs_list: &[ReplicaSet],
        create: bool,
    ) -> Result<(Option<ReplicaSet>, Vec<ReplicaSet>), Error> {
        let found = find_new_rs(&self.d, rs_list).cloned();
        let old = old_rss(
            rs_list,
            found.as_ref().and_then(|rs| rs.metadata.uid.as_deref()),
        );
        let new = self.new_rs(found, &old, create).await?;
        Ok((new, old))
    }

    /// Upstream's `getNewReplicaSet`.
    async fn new_rs(
        &mut self,
        found: Option<ReplicaSet>,
        old: &[ReplicaSet],
        create: bool,
    ) -> Result<Option<ReplicaSet>, Error> {
        let new_revision = (max_revision(old) + 1).to_string();
        let now = Timestamp::now();
        if let Some(existing) = found {
            let mut copy = existing.clone();
            let annotations_changed = set_new_rs_annotations(
                &self.d,
                &mut copy.metadata,
                &new_revision,
                true,
                MAX_REV_HISTORY_CHARS,
            );
            let min_ready = min_ready_seconds(&self.d);
            let min_ready_changed = copy
                .spec
                .as_ref()
                .and_then(|s| s.min_ready_seconds)
                .unwrap_or(0)
                != min_ready;
            if annotations_changed || min_ready_changed {
                let name = copy.metadata.name.clone().unwrap_or_default();
                let patch = json!({
                    "metadata": {
                        "resourceVersion": copy.metadata.resource_version,
                        "annotations": copy.metadata.annotations,
                    },
                    "spec": {"minReadySeconds": min_ready},
                });
                let updated = self
                    .rs_api
                    .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
                    .await?;
                return Ok(Some(updated));
            }
            let rs_revision = copy
                .metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(REVISION))
                .cloned()
                .unwrap_or_default();
            let revision_changed = set_deployment_revision(&mut self.d, &rs_revision);
            let mut status = self.status();
            let mut status_changed = false;
            if progress_deadline(&self.d).is_some() && get_condition(&status, PROGRESSING).is_none()
            {
                let msg = format!(
                    "Found new replica set {:?}",
                    copy.metadata.name.as_deref().unwrap_or("")
                );
                set_condition(
                    &mut status,
                    new_condition(PROGRESSING, "True", FOUND_NEW_RS_REASON, msg, now),
                );
                status_changed = true;
            }
            if revision_changed {
                self.write_revision().await?;
            }
            if status_changed {
                self.write_status(status).await?;
            }
            return Ok(Some(copy));
        }
        if !create {
            return Ok(None);
        }

        let Some(spec) = self.d.spec.clone() else {
            return Ok(None);
        };
        let collision_count = self.status().collision_count;
        let mut template = spec.template.clone();
        let hash = compute_hash(&template, collision_count);
        template
            .metadata
            .get_or_insert_with(ObjectMeta::default)
            .labels
            .get_or_insert_with(BTreeMap::new)
            .insert(POD_TEMPLATE_HASH.to_string(), hash.clone());
        let mut selector = spec.selector.clone();
        selector
            .match_labels
            .get_or_insert_with(BTreeMap::new)
            .insert(POD_TEMPLATE_HASH.to_string(), hash.clone());
        let rs_name = format!("{}-{hash}", self.name());
        let owner = runtime::new_controller_ref("apps/v1", "Deployment", &self.d.metadata);
        let mut rs = ReplicaSet {
            metadata: ObjectMeta {
                name: Some(rs_name.clone()),
                namespace: self.d.metadata.namespace.clone(),
                owner_references: owner.map(|o| vec![o]),
                labels: template.metadata.as_ref().and_then(|m| m.labels.clone()),
                ..Default::default()
            },
            spec: Some(ReplicaSetSpec {
                replicas: Some(0),
                min_ready_seconds: spec.min_ready_seconds,
                selector,
                template: Some(template),
            }),
            status: None,
        };
        let mut all: Vec<&ReplicaSet> = old.iter().collect();
        all.push(&rs);
        let count = new_rs_new_replicas(&self.d, &all, &rs);
        if let Some(s) = rs.spec.as_mut() {
            s.replicas = Some(count);
        }
        set_new_rs_annotations(
            &self.d,
            &mut rs.metadata,
            &new_revision,
            false,
            MAX_REV_HISTORY_CHARS,
        );

        let mut already_exists = false;
        let created = match self.rs_api.create(&PostParams::default(), &rs).await {
            Ok(c) => c,
            Err(e) if runtime::is_already_exists(&e) => {
                already_exists = true;
                let existing = self.rs_api.get(&rs_name).await?;
                let ours = controller_of(&existing.metadata)
                    .is_some_and(|c| Some(c.uid.as_str()) == self.d.metadata.uid.as_deref());
                let same = existing
                    .spec
                    .as_ref()
                    .and_then(|s| s.template.as_ref())
                    .is_some_and(|t| equal_ignore_hash(t, &spec.template));
                if ours && same {
                    existing
                } else {
                    // A hash collision: bump collisionCount and try again with a new hash.
                    let mut status = self.status();
                    status.collision_count = Some(status.collision_count.unwrap_or(0) + 1);
                    self.write_status(status).await?;
                    return Err(e.into());
                }
            }
            Err(e) if runtime::is_namespace_terminating(&e) => return Err(e.into()),
            Err(e) => {
                let msg = format!(
                    "Failed to create new replica set {rs_name:?}: {}",
                    api_message(&e)
                );
                if progress_deadline(&self.d).is_some() {
                    let mut status = self.status();
                    set_condition(
                        &mut status,
                        new_condition(
                            PROGRESSING,
                            "False",
                            FAILED_RS_CREATE_REASON,
                            msg.clone(),
                            now,
                        ),
                    );
                    let _ = self.write_status(status).await;
                }
                self.event(true, FAILED_RS_CREATE_REASON, msg);
                return Err(e.into());
            }
        };
        if !already_exists && count > 0 {
            self.event(
                false,
                "ScalingReplicaSet",
                format!("Scaled up replica set {rs_name} from 0 to {count}"),
            );
        }
        let revision_changed = set_deployment_revision(&mut self.d, &new_revision);
        let mut status = self.status();
        let mut status_changed = false;
        if !already_exists && progress_deadline(&self.d).is_some() {
            let msg = format!("Created new replica set {rs_name:?}");
            set_condition(
                &mut status,
                new_condition(PROGRESSING, "True", NEW_RS_REASON, msg, now),
            );
            status_changed = true;
        }
        if revision_changed {
            self.write_revision().await?;
        }
        if status_changed {
            self.write_status(status).await?;
        }
        Ok(Some(created))
    }

    /// Upstream's `syncStatusOnly`.
    async fn sync_status_only(&mut self, rs_list: Vec<ReplicaSet>) -> Result<(), Error> {
        let (new, old) = self.new_and_old(&rs_list, false).await?;
        self.sync_deployment_status(new.as_ref(), &old).await
    }

    /// Upstream's `sync`: scaling events and paused Deployments.
    async fn sync_scale(&mut self, rs_list: Vec<ReplicaSet>) -> Result<(), Error> {
        let (mut new, mut old) = self.new_and_old(&rs_list, false).await?;
        let plan = sync::scale_plan(&self.d, new.as_ref(), &old);
        self.apply(&plan, &mut new, &mut old).await?;
        if is_paused(&self.d) {
            self.cleanup(&old).await?;
        }
        self.sync_deployment_status(new.as_ref(), &old).await
    }

    /// Upstream's `syncDeploymentStatus`.
    async fn sync_deployment_status(
        &mut self,
        new: Option<&ReplicaSet>,
        old: &[ReplicaSet],
    ) -> Result<(), Error> {
        let mut all: Vec<&ReplicaSet> = old.iter().collect();
        all.extend(new);
        let status = sync::calculate_status(&all, new, &self.d, Timestamp::now());
        if sync::status_equal(&self.status(), &status) {
            return Ok(());
        }
        self.write_status(status).await
    }

    /// Upstream's `syncRolloutStatus`.
    async fn sync_rollout_status(
        &mut self,
        new: Option<&ReplicaSet>,
        old: &[ReplicaSet],
    ) -> Result<(), Error> {
        let mut all: Vec<&ReplicaSet> = old.iter().collect();
        all.extend(new);
        let (status, requeue) = progress::rollout_status(&self.d, &all, new, Timestamp::now());
        match status {
            Some(s) => self.write_status(s).await,
            None => {
                match requeue {
                    Requeue::No => {}
                    Requeue::RateLimited => self.queue.add_rate_limited(&self.key),
                    Requeue::After(after) => self.queue.add_after(self.key.clone(), after),
                }
                Ok(())
            }
        }
    }

    /// Upstream's `cleanupDeployment`.
    async fn cleanup(&self, old: &[ReplicaSet]) -> Result<(), Error> {
        for name in sync::cleanup_plan(&self.d, old) {
            match self.rs_api.delete(&name, &DeleteParams::default()).await {
                Ok(_) => {}
                Err(e) if runtime::is_not_found(&e) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    /// Upstream's `rolloutRolling`.
    async fn rollout_rolling(&mut self, rs_list: Vec<ReplicaSet>) -> Result<(), Error> {
        let (new, mut old) = self.new_and_old(&rs_list, true).await?;
        let Some(new) = new else {
            return Ok(());
        };
        let actions = rolling::rolling_step(&self.d, &new, &old);
        let mut new = Some(new);
        if !actions.is_empty() {
            self.apply(&actions, &mut new, &mut old).await?;
            return self.sync_rollout_status(new.as_ref(), &old).await;
        }
        if progress::deployment_complete(&self.d, &self.status()) {
            self.cleanup(&old).await?;
        }
        self.sync_rollout_status(new.as_ref(), &old).await
    }

    /// Upstream's `rolloutRecreate`.
    async fn rollout_recreate(
        &mut self,
        rs_list: Vec<ReplicaSet>,
        pods: &HashMap<String, Vec<Arc<Pod>>>,
    ) -> Result<(), Error> {
        let (mut new, mut old) = self.new_and_old(&rs_list, false).await?;
        let down = rolling::recreate_scale_down(&old);
        if self.apply(&down, &mut new, &mut old).await? {
            return self.sync_rollout_status(new.as_ref(), &old).await;
        }
        if rolling::old_pods_running(new.as_ref(), &old, pods) {
            return self.sync_rollout_status(new.as_ref(), &old).await;
        }
        if new.is_none() {
            let (created, old2) = self.new_and_old(&rs_list, true).await?;
            new = created;
            old = old2;
        }
        if let Some(rs) = new.as_ref()
            && let Some(up) = rolling::recreate_scale_up(&self.d, rs)
        {
            self.apply(&[up], &mut new, &mut old).await?;
        }
        if progress::deployment_complete(&self.d, &self.status()) {
            self.cleanup(&old).await?;
        }
        self.sync_rollout_status(new.as_ref(), &old).await
    }
}
