//! The shared controller runtime, after client-go's: shared informers (one watch per kind, a
//! local store indexed by namespace, add/update/delete handlers that see the old object), a
//! work queue keyed by `namespace/name` with upstream's semantics (a key is queued at most
//! once, never processed by two workers at a time, re-queued when it changed while being
//! processed, delayed adds, per-item exponential backoff 5 ms..1000 s combined with an overall
//! 10 qps/100 burst bucket), controller expectations, and controller-reference claiming
//! (adoption and release through ownerReferences).

use futures::StreamExt;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use kube::{Client, Resource};
use serde::de::DeserializeOwned;
use serde_json::json;
use std::any::{Any, TypeId};
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::fmt::Debug;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// Locks a mutex, recovering the data if a panicking thread poisoned it.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The `namespace/name` key of an object (`name` alone for cluster-scoped objects).
pub fn key_of(meta: &ObjectMeta) -> String {
    match meta.namespace.as_deref() {
        Some(ns) if !ns.is_empty() => format!("{ns}/{}", meta.name.as_deref().unwrap_or("")),
        _ => meta.name.clone().unwrap_or_default(),
    }
}

/// Splits a key made by [`key_of`] into namespace and name.
pub fn split_key(key: &str) -> (&str, &str) {
    key.split_once('/').unwrap_or(("", key))
}

/// The controller reference of an object: its owner reference with `controller: true`.
pub fn controller_of(meta: &ObjectMeta) -> Option<&OwnerReference> {
    meta.owner_references
        .iter()
        .flatten()
        .find(|o| o.controller == Some(true))
}

/// A controller reference to `owner` (`controller` and `blockOwnerDeletion` set), as
/// upstream's `metav1.NewControllerRef`.
pub fn new_controller_ref(
    api_version: &str,
    kind: &str,
    owner: &ObjectMeta,
) -> Option<OwnerReference> {
    Some(OwnerReference {
        api_version: api_version.to_string(),
        kind: kind.to_string(),
        name: owner.name.clone()?,
        uid: owner.uid.clone()?,
        controller: Some(true),
        block_owner_deletion: Some(true),
    })
}

// ---------------------------------------------------------------------------------------------
// Informers
// ---------------------------------------------------------------------------------------------

/// What a handler is told about a change in an informer's store.
pub enum Notification<'a, K> {
    Added(&'a K),
    Updated { old: &'a K, new: &'a K },
    Deleted(&'a K),
}

type Handler<K> = Arc<dyn Fn(&Notification<'_, K>) + Send + Sync>;

struct InformerState<K> {
    /// namespace -> name -> object
    objects: BTreeMap<String, BTreeMap<String, Arc<K>>>,
    handlers: Vec<Handler<K>>,
}

/// A shared informer: one watch of a kind, a local store, and event handlers.
pub struct Informer<K> {
    state: Mutex<InformerState<K>>,
    synced: tokio::sync::watch::Sender<bool>,
}

/// The bounds an informer's kind satisfies.
pub trait Kind:
    Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + Sync + 'static
{
}
impl<K> Kind for K where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + Sync + 'static
{
}

fn ns_name(meta: &ObjectMeta) -> (String, String) {
    (
        meta.namespace.clone().unwrap_or_default(),
        meta.name.clone().unwrap_or_default(),
    )
}

impl<K: Kind> Informer<K> {
    fn new() -> Self {
        Informer {
            state: Mutex::new(InformerState {
                objects: BTreeMap::new(),
                handlers: Vec::new(),
            }),
            synced: tokio::sync::watch::channel(false).0,
        }
    }

    /// Adds a handler; it is first told about every object already in the store (as upstream's
    /// `AddEventHandler` replays the store).
    pub fn add_handler(&self, h: impl Fn(&Notification<'_, K>) + Send + Sync + 'static) {
        let h: Handler<K> = Arc::new(h);
        let existing: Vec<Arc<K>> = {
            let mut st = lock(&self.state);
            st.handlers.push(h.clone());
            st.objects
                .values()
                .flat_map(|m| m.values().cloned())
                .collect()
        };
        for o in existing {
            h(&Notification::Added(&o));
        }
    }

    /// Queues the key (`ns/name`) of every object added, updated or deleted.
    pub fn queue_keys(&self, queue: &WorkQueue) {
        let q = queue.clone();
        self.add_handler(move |n| {
            let (Notification::Added(o)
            | Notification::Deleted(o)
            | Notification::Updated { new: o, .. }) = n;
            q.add(key_of(o.meta()));
        });
    }

    /// The object `namespace/name`, if in the store.
    pub fn get(&self, namespace: &str, name: &str) -> Option<Arc<K>> {
        lock(&self.state)
            .objects
            .get(namespace)
            .and_then(|m| m.get(name))
            .cloned()
    }

    /// Every object of a namespace.
    pub fn list(&self, namespace: &str) -> Vec<Arc<K>> {
        lock(&self.state)
            .objects
            .get(namespace)
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default()
    }

    /// Every object, all namespaces.
    pub fn list_all(&self) -> Vec<Arc<K>> {
        lock(&self.state)
            .objects
            .values()
            .flat_map(|m| m.values().cloned())
            .collect()
    }

    /// Waits until the first list has been stored.
    pub async fn wait_synced(&self) {
        let mut rx = self.synced.subscribe();
        let _ = rx.wait_for(|s| *s).await;
    }

    fn handlers(&self) -> Vec<Handler<K>> {
        lock(&self.state).handlers.clone()
    }

    fn apply(&self, obj: K) {
        let (ns, name) = ns_name(obj.meta());
        let new = Arc::new(obj);
        let (old, handlers) = {
            let mut st = lock(&self.state);
            let old = st.objects.entry(ns).or_default().insert(name, new.clone());
            (old, st.handlers.clone())
        };
        for h in handlers {
            match &old {
                Some(old) => h(&Notification::Updated { old, new: &new }),
                None => h(&Notification::Added(&new)),
            }
        }
    }

    fn delete(&self, obj: K) {
        let (ns, name) = ns_name(obj.meta());
        {
            let mut st = lock(&self.state);
            if let Some(m) = st.objects.get_mut(&ns) {
                m.remove(&name);
                if m.is_empty() {
                    st.objects.remove(&ns);
                }
            }
        }
        // Handlers see the last state the watch reported.
        let last = Arc::new(obj);
        for h in self.handlers() {
            h(&Notification::Deleted(&last));
        }
    }

    /// After a relist: objects that were not listed again are gone.
    fn retain_listed(&self, listed: &HashSet<(String, String)>) {
        let gone: Vec<Arc<K>> = {
            let mut st = lock(&self.state);
            let mut gone = Vec::new();
            for (ns, m) in st.objects.iter_mut() {
                let names: Vec<String> = m
                    .keys()
                    .filter(|n| !listed.contains(&(ns.clone(), (*n).clone())))
                    .cloned()
                    .collect();
                for n in names {
                    if let Some(o) = m.remove(&n) {
                        gone.push(o);
                    }
                }
            }
            st.objects.retain(|_, m| !m.is_empty());
            gone
        };
        let handlers = self.handlers();
        for o in gone {
            for h in &handlers {
                h(&Notification::Deleted(&o));
            }
        }
    }

    async fn run(self: Arc<Self>, api: Api<K>) {
        let mut stream = watcher::watcher(api, watcher::Config::default())
            .default_backoff()
            .boxed();
        let mut listing: Option<HashSet<(String, String)>> = None;
        while let Some(ev) = stream.next().await {
            match ev {
                Ok(Event::Init) => listing = Some(HashSet::new()),
                Ok(Event::InitApply(o)) => {
                    if let Some(l) = listing.as_mut() {
                        l.insert(ns_name(o.meta()));
                    }
                    self.apply(o);
                }
                Ok(Event::InitDone) => {
                    if let Some(l) = listing.take() {
                        self.retain_listed(&l);
                    }
                    self.synced.send_replace(true);
                }
                Ok(Event::Apply(o)) => self.apply(o),
                Ok(Event::Delete(o)) => self.delete(o),
                Err(e) => {
                    tracing::debug!(kind = %K::kind(&()), error = %e, "informer watch");
                }
            }
        }
    }
}

/// Aborts the informers' watch tasks when the last [`Informers`] clone is dropped (so that
/// controllers stopped on losing leadership leave no watch behind).
#[derive(Default)]
struct WatchTasks(Mutex<Vec<tokio::task::AbortHandle>>);

impl Drop for WatchTasks {
    fn drop(&mut self) {
        for t in lock(&self.0).drain(..) {
            t.abort();
        }
    }
}

/// A factory of shared informers: one watch per kind, started on first use, stopped when the
/// factory and all its clones are dropped.
#[derive(Clone)]
pub struct Informers {
    client: Client,
    map: Arc<Mutex<HashMap<TypeId, Arc<dyn Any + Send + Sync>>>>,
    tasks: Arc<WatchTasks>,
}

impl Informers {
    pub fn new(client: Client) -> Self {
        Informers {
            client,
            map: Arc::default(),
            tasks: Arc::default(),
        }
    }

    /// The informer of kind `K` (all namespaces), started if needed.
    pub fn get<K: Kind>(&self) -> Arc<Informer<K>> {
        let mut map = lock(&self.map);
        if let Some(existing) = map.get(&TypeId::of::<K>())
            && let Ok(inf) = existing.clone().downcast::<Informer<K>>()
        {
            return inf;
        }
        let inf = Arc::new(Informer::<K>::new());
        map.insert(TypeId::of::<K>(), inf.clone());
        let task = tokio::spawn(inf.clone().run(Api::<K>::all(self.client.clone())));
        lock(&self.tasks.0).push(task.abort_handle());
        inf
    }
}

// ---------------------------------------------------------------------------------------------
// Work queue
// ---------------------------------------------------------------------------------------------

/// Per-item backoff of upstream's default controller rate limiter.
pub const BASE_DELAY: Duration = Duration::from_millis(5);
/// The longest per-item backoff.
pub const MAX_DELAY: Duration = Duration::from_secs(1000);
const BUCKET_QPS: f64 = 10.0;
const BUCKET_BURST: f64 = 100.0;

/// The per-item exponential backoff after `failures` earlier failures: 5 ms, 10 ms, 20 ms, ...,
/// at most 1000 s.
pub fn item_backoff(failures: u32) -> Duration {
    let factor = 2f64.powi(failures.min(64) as i32);
    let nanos = BASE_DELAY.as_nanos() as f64 * factor;
    if nanos >= MAX_DELAY.as_nanos() as f64 {
        MAX_DELAY
    } else {
        Duration::from_nanos(nanos as u64)
    }
}

struct QueueState {
    queue: VecDeque<String>,
    dirty: HashSet<String>,
    processing: HashSet<String>,
    /// key -> when a delayed add is due (the earliest requested)
    waiting: HashMap<String, Instant>,
    failures: HashMap<String, u32>,
    bucket_tokens: f64,
    bucket_at: Instant,
    shut_down: bool,
}

/// A rate-limited work queue of `namespace/name` keys.
#[derive(Clone)]
pub struct WorkQueue {
    state: Arc<Mutex<QueueState>>,
    notify: Arc<Notify>,
}

impl Default for WorkQueue {
    fn default() -> Self {
        Self::new()
    }
}

impl WorkQueue {
    pub fn new() -> Self {
        WorkQueue {
            state: Arc::new(Mutex::new(QueueState {
                queue: VecDeque::new(),
                dirty: HashSet::new(),
                processing: HashSet::new(),
                waiting: HashMap::new(),
                failures: HashMap::new(),
                bucket_tokens: BUCKET_BURST,
                bucket_at: Instant::now(),
                shut_down: false,
            })),
            notify: Arc::new(Notify::new()),
        }
    }

    /// Queues `key` unless it is already queued; a key being processed is queued again when
    /// its processing is done.
    pub fn add(&self, key: impl Into<String>) {
        let key = key.into();
        let mut st = lock(&self.state);
        if st.shut_down || st.dirty.contains(&key) {
            return;
        }
        st.dirty.insert(key.clone());
        if st.processing.contains(&key) {
            return;
        }
        st.queue.push_back(key);
        drop(st);
        self.notify.notify_one();
    }

    /// Queues `key` after `delay` (at the earliest of several requested times).
    pub fn add_after(&self, key: impl Into<String>, delay: Duration) {
        let key = key.into();
        if delay.is_zero() {
            self.add(key);
            return;
        }
        let due = Instant::now() + delay;
        {
            let mut st = lock(&self.state);
            if st.shut_down {
                return;
            }
            match st.waiting.get(&key) {
                Some(existing) if *existing <= due => return,
                _ => {
                    st.waiting.insert(key.clone(), due);
                }
            }
        }
        let q = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep_until(due.into()).await;
            let fire = {
                let mut st = lock(&q.state);
                if st.waiting.get(&key) == Some(&due) {
                    st.waiting.remove(&key);
                    true
                } else {
                    false
                }
            };
            if fire {
                q.add(key);
            }
        });
    }

    /// The delay upstream's default controller rate limiter gives `key` now: the larger of the
    /// per-item exponential backoff and the overall token bucket's wait. Counts a failure.
    pub fn rate_limit_delay(&self, key: &str) -> Duration {
        let mut st = lock(&self.state);
        let failures = st.failures.entry(key.to_string()).or_insert(0);
        let item = item_backoff(*failures);
        *failures = failures.saturating_add(1);
        let now = Instant::now();
        let elapsed = now.duration_since(st.bucket_at).as_secs_f64();
        st.bucket_at = now;
        st.bucket_tokens = (st.bucket_tokens + elapsed * BUCKET_QPS).min(BUCKET_BURST) - 1.0;
        let bucket = if st.bucket_tokens < 0.0 {
            Duration::from_secs_f64(-st.bucket_tokens / BUCKET_QPS)
        } else {
            Duration::ZERO
        };
        item.max(bucket)
    }

    /// Queues `key` after its rate-limited delay.
    pub fn add_rate_limited(&self, key: &str) {
        let delay = self.rate_limit_delay(key);
        self.add_after(key, delay);
    }

    /// Forgets `key`'s failures.
    pub fn forget(&self, key: &str) {
        lock(&self.state).failures.remove(key);
    }

    /// How many times `key` was re-queued with [`WorkQueue::add_rate_limited`] since it was
    /// last forgotten.
    pub fn num_requeues(&self, key: &str) -> u32 {
        lock(&self.state).failures.get(key).copied().unwrap_or(0)
    }

    /// The next key to process; `None` once shut down.
    pub async fn get(&self) -> Option<String> {
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let mut st = lock(&self.state);
                if let Some(key) = st.queue.pop_front() {
                    st.dirty.remove(&key);
                    st.processing.insert(key.clone());
                    let more = !st.queue.is_empty();
                    drop(st);
                    if more {
                        self.notify.notify_one();
                    }
                    return Some(key);
                }
                if st.shut_down {
                    return None;
                }
            }
            notified.await;
        }
    }

    /// Marks `key` processed; queues it again if it was added meanwhile.
    pub fn done(&self, key: &str) {
        let mut st = lock(&self.state);
        st.processing.remove(key);
        if st.dirty.contains(key) {
            st.queue.push_back(key.to_string());
            drop(st);
            self.notify.notify_one();
        }
    }

    /// Number of keys waiting to be processed.
    pub fn len(&self) -> usize {
        lock(&self.state).queue.len()
    }

    /// Whether no key waits to be processed.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Stops handing out keys.
    pub fn shut_down(&self) {
        lock(&self.state).shut_down = true;
        self.notify.notify_waiters();
    }
}

/// Runs `workers` tasks that process keys from `queue` with `sync`. A key whose sync fails is
/// re-queued rate-limited (at most `max_retries` times when given, as upstream's deployment
/// controller; forever otherwise, as its ReplicaSet controller); a key that syncs is forgotten.
pub async fn run_workers<F, Fut, E>(
    name: &'static str,
    queue: WorkQueue,
    workers: usize,
    max_retries: Option<u32>,
    sync: F,
) where
    F: Fn(String) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<(), E>> + Send + 'static,
    E: std::fmt::Display + Send + 'static,
{
    // Dropping this future (controllers stopped) aborts the workers.
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..workers.max(1) {
        let queue = queue.clone();
        let sync = sync.clone();
        tasks.spawn(async move {
            while let Some(key) = queue.get().await {
                match sync(key.clone()).await {
                    Ok(()) => queue.forget(&key),
                    Err(e) => {
                        if max_retries.is_none_or(|m| queue.num_requeues(&key) < m) {
                            tracing::debug!(controller = name, %key, error = %e, "sync failed, requeued");
                            queue.add_rate_limited(&key);
                        } else {
                            tracing::info!(controller = name, %key, error = %e, "dropping key out of the queue");
                            queue.forget(&key);
                        }
                    }
                }
                queue.done(&key);
            }
        });
    }
    while tasks.join_next().await.is_some() {}
}

// ---------------------------------------------------------------------------------------------
// Expectations
// ---------------------------------------------------------------------------------------------

/// How long expectations are trusted before a controller syncs anyway (upstream's 5 minutes).
pub const EXPECTATIONS_TTL: Duration = Duration::from_secs(300);

#[derive(Debug, Clone)]
struct Expectation {
    add: i64,
    del: i64,
    at: Instant,
    /// keys of the pods whose deletion is expected
    deleting: HashSet<String>,
}

/// Upstream's (UID-tracking) controller expectations: how many creations and which deletions a
/// controller has asked for and not yet seen through its informers. A controller does not act
/// on an object while its expectations are unmet, so it never acts twice on a stale cache.
#[derive(Default)]
pub struct Expectations {
    map: Mutex<HashMap<String, Expectation>>,
}

impl Expectations {
    /// Whether the controller may sync `key`: nothing is expected, or what was expected has been
    /// seen, or the expectations are older than [`EXPECTATIONS_TTL`].
    pub fn satisfied(&self, key: &str) -> bool {
        match lock(&self.map).get(key) {
            None => true,
            Some(e) => (e.add <= 0 && e.del <= 0) || e.at.elapsed() > EXPECTATIONS_TTL,
        }
    }

    /// Expects `n` creations for `key`.
    pub fn expect_creations(&self, key: &str, n: i64) {
        lock(&self.map).insert(
            key.to_string(),
            Expectation {
                add: n,
                del: 0,
                at: Instant::now(),
                deleting: HashSet::new(),
            },
        );
    }

    /// Expects the deletion of the pods `pod_keys` for `key`.
    pub fn expect_deletions(&self, key: &str, pod_keys: &[String]) {
        lock(&self.map).insert(
            key.to_string(),
            Expectation {
                add: 0,
                del: pod_keys.len() as i64,
                at: Instant::now(),
                deleting: pod_keys.iter().cloned().collect(),
            },
        );
    }

    /// One expected creation was seen (or will never happen).
    pub fn creation_observed(&self, key: &str) {
        if let Some(e) = lock(&self.map).get_mut(key) {
            e.add -= 1;
        }
    }

    /// The deletion of `pod_key` was seen (or will never happen).
    pub fn deletion_observed(&self, key: &str, pod_key: &str) {
        if let Some(e) = lock(&self.map).get_mut(key)
            && e.deleting.remove(pod_key)
        {
            e.del -= 1;
        }
    }

    /// Forgets `key` (its object was deleted).
    pub fn delete(&self, key: &str) {
        lock(&self.map).remove(key);
    }
}

// ---------------------------------------------------------------------------------------------
// Claiming (controller references)
// ---------------------------------------------------------------------------------------------

/// What a controller does with a candidate dependent (upstream's `ClaimObject`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// Ours and matching: keep it.
    Keep,
    /// Ours but no longer matching: release it.
    Release,
    /// An orphan that matches: adopt it.
    Adopt,
    /// Someone else's, or not for us.
    Ignore,
}

/// Decides what the controller `owner` does with the object `obj` whose labels `matches`
/// (or not) its selector.
pub fn claim(owner: &ObjectMeta, obj: &ObjectMeta, matches: bool) -> Claim {
    let owner_uid = owner.uid.as_deref().unwrap_or("");
    let owner_deleting = owner.deletion_timestamp.is_some();
    if let Some(cref) = controller_of(obj) {
        if cref.uid != owner_uid {
            return Claim::Ignore;
        }
        if matches {
            return Claim::Keep;
        }
        if owner_deleting {
            return Claim::Ignore;
        }
        return Claim::Release;
    }
    if owner_deleting || !matches || obj.deletion_timestamp.is_some() {
        return Claim::Ignore;
    }
    if owner.namespace.as_deref().is_some_and(|ns| !ns.is_empty())
        && owner.namespace != obj.namespace
    {
        return Claim::Ignore;
    }
    Claim::Adopt
}

/// Adds `owner_ref` as the controller reference of `name` (strategic merge patch with the
/// object's uid, as upstream).
pub async fn adopt<K: Kind>(
    api: &Api<K>,
    name: &str,
    uid: &str,
    owner_ref: &OwnerReference,
) -> Result<(), kube::Error> {
    let patch = json!({"metadata": {"ownerReferences": [owner_ref], "uid": uid}});
    api.patch(name, &PatchParams::default(), &Patch::Strategic(&patch))
        .await
        .map(|_| ())
}

/// Removes the owner reference with `owner_uid` from `name`.
pub async fn release<K: Kind>(
    api: &Api<K>,
    name: &str,
    uid: &str,
    owner_uid: &str,
) -> Result<(), kube::Error> {
    let patch = json!({"metadata": {
        "ownerReferences": [{"$patch": "delete", "uid": owner_uid}],
        "uid": uid,
    }});
    match api
        .patch(name, &PatchParams::default(), &Patch::Strategic(&patch))
        .await
    {
        Ok(_) => Ok(()),
        // Gone, or already released (the uid no longer matches): nothing to do.
        Err(kube::Error::Api(s)) if s.code == 404 || s.code == 422 => Ok(()),
        Err(e) => Err(e),
    }
}

/// Why a controller's sync failed.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// An API request failed.
    #[error("{}", api_message(.0))]
    Api(#[from] kube::Error),
    /// The object cannot be acted on (yet).
    #[error("{0}")]
    Invalid(String),
}

/// The message of an API error, as upstream shows `err.Error()`.
pub fn api_message(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(s) => s.message.clone(),
        other => other.to_string(),
    }
}

/// Whether an API error is a NotFound.
pub fn is_not_found(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 404)
}

/// Whether an API error is an AlreadyExists.
pub fn is_already_exists(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 409 && s.reason == "AlreadyExists")
}

/// Whether an API error is a Conflict.
pub fn is_conflict(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 409 && s.reason != "AlreadyExists")
}

/// Whether an API error says the namespace is terminating.
pub fn is_namespace_terminating(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.details.as_ref().is_some_and(|d| d.causes.iter().any(|c| c.reason == "NamespaceTerminating")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_5ms_to_1000s() {
        assert_eq!(item_backoff(0), Duration::from_millis(5));
        assert_eq!(item_backoff(1), Duration::from_millis(10));
        assert_eq!(item_backoff(10), Duration::from_millis(5 * 1024));
        assert_eq!(item_backoff(30), MAX_DELAY);
        assert_eq!(item_backoff(u32::MAX), MAX_DELAY);
    }

    #[tokio::test]
    async fn queue_dedups_and_requeues_dirty_keys() {
        let q = WorkQueue::new();
        q.add("a/x");
        q.add("a/x");
        q.add("a/y");
        assert_eq!(q.len(), 2);
        let k = q.get().await.unwrap();
        assert_eq!(k, "a/x");
        // Added while processing: not handed out twice, queued again when done.
        q.add("a/x");
        assert_eq!(q.len(), 1);
        assert_eq!(q.get().await.unwrap(), "a/y");
        q.done("a/y");
        assert!(q.is_empty());
        q.done("a/x");
        assert_eq!(q.get().await.unwrap(), "a/x");
        q.done("a/x");
        q.shut_down();
        assert!(q.get().await.is_none());
    }

    #[tokio::test]
    async fn rate_limited_and_delayed_adds() {
        let q = WorkQueue::new();
        assert_eq!(q.rate_limit_delay("k"), Duration::from_millis(5));
        assert_eq!(q.rate_limit_delay("k"), Duration::from_millis(10));
        assert_eq!(q.num_requeues("k"), 2);
        q.forget("k");
        assert_eq!(q.num_requeues("k"), 0);
        q.add_after("k", Duration::from_millis(20));
        q.add_after("k", Duration::from_secs(100));
        assert!(q.is_empty());
        let got = tokio::time::timeout(Duration::from_secs(5), q.get()).await;
        assert_eq!(got.unwrap().unwrap(), "k");
    }

    #[test]
    fn expectations_track_creations_and_deletions() {
        let e = Expectations::default();
        assert!(e.satisfied("ns/rs"));
        e.expect_creations("ns/rs", 2);
        assert!(!e.satisfied("ns/rs"));
        e.creation_observed("ns/rs");
        assert!(!e.satisfied("ns/rs"));
        e.creation_observed("ns/rs");
        assert!(e.satisfied("ns/rs"));
        e.expect_deletions("ns/rs", &["ns/p1".into(), "ns/p2".into()]);
        e.deletion_observed("ns/rs", "ns/other");
        e.deletion_observed("ns/rs", "ns/p1");
        e.deletion_observed("ns/rs", "ns/p1");
        assert!(!e.satisfied("ns/rs"));
        e.deletion_observed("ns/rs", "ns/p2");
        assert!(e.satisfied("ns/rs"));
        e.expect_creations("ns/rs", 1);
        e.delete("ns/rs");
        assert!(e.satisfied("ns/rs"));
    }

    fn meta(uid: &str, ns: &str, owner: Option<&str>) -> ObjectMeta {
        ObjectMeta {
            uid: Some(uid.into()),
            name: Some(uid.into()),
            namespace: Some(ns.into()),
            owner_references: owner.map(|o| {
                vec![OwnerReference {
                    uid: o.into(),
                    controller: Some(true),
                    ..Default::default()
                }]
            }),
            ..Default::default()
        }
    }

    #[test]
    fn claiming_follows_controller_ref_manager() {
        let owner = meta("d", "ns", None);
        assert_eq!(
            claim(&owner, &meta("a", "ns", Some("d")), true),
            Claim::Keep
        );
        assert_eq!(
            claim(&owner, &meta("a", "ns", Some("d")), false),
            Claim::Release
        );
        assert_eq!(
            claim(&owner, &meta("a", "ns", Some("x")), true),
            Claim::Ignore
        );
        assert_eq!(claim(&owner, &meta("a", "ns", None), true), Claim::Adopt);
        assert_eq!(claim(&owner, &meta("a", "ns", None), false), Claim::Ignore);
        assert_eq!(
            claim(&owner, &meta("a", "other", None), true),
            Claim::Ignore
        );
        let mut deleting = owner.clone();
        deleting.deletion_timestamp = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
            k8s_openapi::jiff::Timestamp::UNIX_EPOCH,
        ));
        assert_eq!(
            claim(&deleting, &meta("a", "ns", None), true),
            Claim::Ignore
        );
        assert_eq!(
            claim(&deleting, &meta("a", "ns", Some("d")), true),
            Claim::Keep
        );
        assert_eq!(
            claim(&deleting, &meta("a", "ns", Some("d")), false),
            Claim::Ignore
        );
    }
}
