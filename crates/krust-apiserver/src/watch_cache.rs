//! The watch cache (upstream's cacher): one backend watch over `/registry/` feeds, per
//! resource, the current objects and a window of recent events. LIST and WATCH are served from
//! memory at a consistent revision; a watch from a revision older than the window is refused
//! (410 Expired); each watcher has a bounded queue and is cut off when it falls behind, so a
//! slow client never stalls the others.

use futures::StreamExt;
use krust_store::{Backend, EventKind, KeyValue, RangeRequest, Revision, StoreError};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// The type of a watch event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    Added,
    Modified,
    Deleted,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

/// One change of one object, with the object before it (for selector transitions).
#[derive(Debug, Clone)]
pub struct CacheEvent {
    pub kind: EventType,
    pub revision: Revision,
    pub key: String,
    /// The object after the change (for deletions: the last state, at the deletion revision).
    pub object: Arc<Value>,
    pub prev: Option<Arc<Value>>,
    /// The object serialized once (storage version), shared by every watcher that sends it
    /// unconverted.
    pub encoded: std::sync::OnceLock<bytes::Bytes>,
    /// Its `PartialObjectMetadata` (v1) serialized once, for metadata-only watchers.
    pub encoded_metadata: std::sync::OnceLock<bytes::Bytes>,
    /// Why the object does not decode as its kind (stored with a wrong JSON type), if so.
    pub corrupt: Option<Arc<str>>,
}

impl CacheEvent {
    /// The object's JSON, serialized on first use.
    pub fn json(&self) -> &bytes::Bytes {
        self.encoded.get_or_init(|| {
            bytes::Bytes::from(serde_json::to_vec(&*self.object).unwrap_or_default())
        })
    }

    /// The object's `meta.k8s.io/v1` PartialObjectMetadata JSON, serialized on first use.
    pub fn metadata_json(&self) -> &bytes::Bytes {
        self.encoded_metadata.get_or_init(|| {
            let partial = crate::object::partial_metadata(&self.object, false);
            bytes::Bytes::from(serde_json::to_vec(&partial).unwrap_or_default())
        })
    }
}

struct Watcher {
    id: u64,
    prefix: String,
    tx: mpsc::Sender<Arc<CacheEvent>>,
}

struct ResourceState {
    objects: BTreeMap<String, Arc<Value>>,
    /// Keys of stored objects that do not decode as their kind, with the decoding error.
    corrupt: BTreeMap<String, Arc<str>>,
    window: VecDeque<Arc<CacheEvent>>,
    /// Watches from any revision >= this are servable from the window.
    window_start: Revision,
    /// The last revision applied to this resource.
    rev: Revision,
    watchers: Vec<Watcher>,
}

impl ResourceState {
    fn new(start: Revision) -> Self {
        ResourceState {
            objects: BTreeMap::new(),
            corrupt: BTreeMap::new(),
            window: VecDeque::new(),
            window_start: start,
            rev: start,
            watchers: Vec::new(),
        }
    }
}

/// Where a watch starts.
#[derive(Debug, Clone, Copy)]
pub enum WatchFrom {
    /// Current state as ADDED events, then changes.
    Now,
    /// Changes after this revision.
    Revision(Revision),
}

/// A registered watch: events to send first, then a live queue.
pub struct WatchStart {
    pub initial: Vec<Arc<CacheEvent>>,
    pub rx: mpsc::Receiver<Arc<CacheEvent>>,
    /// The revision the initial events reflect.
    pub revision: Revision,
    pub id: u64,
}

/// Asked to watch from a revision older than the window.
#[derive(Debug, Clone, Copy)]
pub struct TooOld {
    pub requested: Revision,
    pub oldest: Revision,
}

/// Tunables.
#[derive(Debug, Clone, Copy)]
pub struct CacheConfig {
    /// Events kept per resource for watches that resume from a revision.
    pub window: usize,
    /// Events queued per watcher before it is cut off.
    pub watcher_buffer: usize,
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            window: 10_000,
            watcher_buffer: 4096,
        }
    }
}

struct Inner {
    resources: RwLock<HashMap<String, Arc<Mutex<ResourceState>>>>,
    processed: watch::Sender<Revision>,
    start: std::sync::atomic::AtomicI64,
    config: CacheConfig,
    next_id: AtomicU64,
}

/// The per-resource caches of everything in storage.
#[derive(Clone)]
pub struct WatchCache {
    inner: Arc<Inner>,
}

/// `group/resource` of a storage key `/registry/<group>/<resource>/...`.
pub fn resource_of_key(key: &str) -> Option<&str> {
    let rest = key.strip_prefix("/registry/")?;
    let first = rest.find('/')?;
    let second = rest[first + 1..].find('/')?;
    Some(&rest[..first + 1 + second])
}

/// Why a stored object does not decode as its kind (a wrong JSON type somewhere), if so.
pub fn decode_error(obj: &Value) -> Option<Arc<str>> {
    krust_api::typecheck::check_stored(obj)
        .err()
        .map(|e| Arc::from(e.message.as_str()))
}

/// Decodes a stored value into an object carrying `metadata.resourceVersion`.
pub fn decode_stored(kv: &KeyValue) -> Option<Value> {
    let mut v: Value = serde_json::from_slice(&kv.value).ok()?;
    let meta = v.get_mut("metadata")?.as_object_mut()?;
    meta.insert(
        "resourceVersion".into(),
        Value::String(kv.mod_revision.to_string()),
    );
    Some(v)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl WatchCache {
    /// Loads everything under `/registry/` and starts following the backend.
    pub async fn start(backend: Arc<dyn Backend>, config: CacheConfig) -> Result<Self, StoreError> {
        let (processed, _) = watch::channel(0);
        let cache = WatchCache {
            inner: Arc::new(Inner {
                resources: RwLock::new(HashMap::new()),
                processed,
                start: std::sync::atomic::AtomicI64::new(0),
                config,
                next_id: AtomicU64::new(1),
            }),
        };
        let rev = cache.load(backend.as_ref()).await?;
        let stream = backend.watch("/registry/", rev).await?;
        let this = cache.clone();
        tokio::spawn(async move { this.follow(backend, stream).await });
        Ok(cache)
    }

    /// Replaces every resource state with the backend's current contents; closes all watchers.
    async fn load(&self, backend: &dyn Backend) -> Result<Revision, StoreError> {
        let mut states: HashMap<String, ResourceState> = HashMap::new();
        let mut start_after = None;
        let mut rev = None;
        loop {
            let page = backend
                .range(RangeRequest {
                    prefix: "/registry/".into(),
                    start_after: start_after.clone(),
                    limit: 5000,
                    revision: rev,
                })
                .await?;
            let at = page.revision;
            rev = Some(at);
            for kv in &page.kvs {
                let (Some(res), Some(obj)) = (resource_of_key(&kv.key), decode_stored(kv)) else {
                    tracing::warn!(key = %kv.key, "skipping undecodable stored object");
                    continue;
                };
                let st = states
                    .entry(res.to_string())
                    .or_insert_with(|| ResourceState::new(at));
                if let Some(why) = decode_error(&obj) {
                    tracing::warn!(key = %kv.key, error = %why, "stored object does not decode");
                    st.corrupt.insert(kv.key.clone(), why);
                }
                st.objects.insert(kv.key.clone(), Arc::new(obj));
            }
            start_after = page.kvs.last().map(|kv| kv.key.clone());
            if !page.more {
                break;
            }
        }
        let rev = rev.unwrap_or(0);
        {
            let mut resources = self
                .inner
                .resources
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            for (_, state) in resources.drain() {
                lock(&state).watchers.clear();
            }
            for (name, mut st) in states {
                st.window_start = rev;
                st.rev = rev;
                resources.insert(name, Arc::new(Mutex::new(st)));
            }
        }
        self.inner.start.store(rev, Ordering::SeqCst);
        self.inner.processed.send_replace(rev);
        Ok(rev)
    }

    async fn follow(self, backend: Arc<dyn Backend>, mut stream: krust_store::WatchStream) {
        loop {
            while let Some(item) = stream.next().await {
                match item {
                    Ok(ev) => self.apply(ev),
                    Err(e) => {
                        tracing::warn!(error = %e, "storage watch failed; reloading the watch cache");
                        break;
                    }
                }
            }
            // The stream ended or failed: reload and follow again.
            loop {
                match self.load(backend.as_ref()).await {
                    Ok(rev) => match backend.watch("/registry/", rev).await {
                        Ok(s) => {
                            stream = s;
                            break;
                        }
                        Err(e) => tracing::warn!(error = %e, "re-watching storage"),
                    },
                    Err(StoreError::Closed) => return,
                    Err(e) => tracing::warn!(error = %e, "reloading the watch cache"),
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }

    fn state(&self, resource: &str) -> Arc<Mutex<ResourceState>> {
        if let Some(s) = self
            .inner
            .resources
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(resource)
        {
            return s.clone();
        }
        let start = self.inner.start.load(Ordering::SeqCst);
        self.inner
            .resources
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .entry(resource.to_string())
            .or_insert_with(|| Arc::new(Mutex::new(ResourceState::new(start))))
            .clone()
    }

    fn apply(&self, ev: krust_store::Event) {
        let revision = ev.kv.mod_revision;
        if let Some(res) = resource_of_key(&ev.kv.key) {
            match decode_stored(&ev.kv) {
                Some(obj) => {
                    let state = self.state(res);
                    let mut st = lock(&state);
                    let corrupt = match ev.kind {
                        EventKind::Put => decode_error(&obj),
                        EventKind::Delete => None,
                    };
                    match &corrupt {
                        Some(why) => {
                            st.corrupt.insert(ev.kv.key.clone(), why.clone());
                        }
                        None => {
                            st.corrupt.remove(&ev.kv.key);
                        }
                    }
                    let obj = Arc::new(obj);
                    let (kind, prev) = match ev.kind {
                        EventKind::Put => {
                            let prev = st.objects.insert(ev.kv.key.clone(), obj.clone());
                            let kind = if prev.is_some() {
                                EventType::Modified
                            } else {
                                EventType::Added
                            };
                            (kind, prev)
                        }
                        EventKind::Delete => (EventType::Deleted, st.objects.remove(&ev.kv.key)),
                    };
                    let event = Arc::new(CacheEvent {
                        kind,
                        revision,
                        key: ev.kv.key,
                        object: obj,
                        prev,
                        encoded: Default::default(),
                        encoded_metadata: Default::default(),
                        corrupt,
                    });
                    st.window.push_back(event.clone());
                    while st.window.len() > self.inner.config.window {
                        if let Some(old) = st.window.pop_front() {
                            st.window_start = old.revision;
                        }
                    }
                    st.rev = revision;
                    st.watchers.retain(|w| {
                        if !event.key.starts_with(&w.prefix) {
                            return true;
                        }
                        match w.tx.try_send(event.clone()) {
                            Ok(()) => true,
                            Err(mpsc::error::TrySendError::Full(_)) => {
                                tracing::info!(
                                    watcher = w.id,
                                    "closing a watcher that fell behind"
                                );
                                false
                            }
                            Err(mpsc::error::TrySendError::Closed(_)) => false,
                        }
                    });
                }
                None => tracing::warn!(key = %ev.kv.key, "skipping undecodable stored object"),
            }
        }
        self.inner.processed.send_replace(revision);
    }

    /// The last revision the cache has applied.
    pub fn revision(&self) -> Revision {
        *self.inner.processed.borrow()
    }

    /// Waits until the cache has applied `rev`; false on timeout.
    pub async fn wait_for(&self, rev: Revision, timeout: Duration) -> bool {
        let mut rx = self.inner.processed.subscribe();
        let wait = async {
            loop {
                if *rx.borrow_and_update() >= rev {
                    return true;
                }
                if rx.changed().await.is_err() {
                    return false;
                }
            }
        };
        tokio::time::timeout(timeout, wait).await.unwrap_or(false)
    }

    fn consistent_rev(&self, st: &ResourceState) -> Revision {
        st.rev.max(*self.inner.processed.borrow())
    }

    /// Objects of a resource whose keys start with `prefix`, in key order, and the revision
    /// they reflect.
    pub fn list(&self, resource: &str, prefix: &str) -> (Vec<Arc<Value>>, Revision) {
        let state = self.state(resource);
        let st = lock(&state);
        let items = st
            .objects
            .range(prefix.to_string()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(_, v)| v.clone())
            .collect();
        (items, self.consistent_rev(&st))
    }

    /// The first stored object under `prefix` that does not decode as its kind: its key and
    /// the decoding error.
    pub fn first_corrupt(&self, resource: &str, prefix: &str) -> Option<(String, Arc<str>)> {
        let state = self.state(resource);
        let st = lock(&state);
        st.corrupt
            .range(prefix.to_string()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(k, v)| (k.clone(), v.clone()))
            .next()
    }

    /// How many objects under `prefix` have keys after `after`.
    pub fn count_after(&self, resource: &str, prefix: &str, after: &str) -> usize {
        use std::ops::Bound;
        let state = self.state(resource);
        let st = lock(&state);
        st.objects
            .range::<str, _>((Bound::Excluded(after), Bound::Unbounded))
            .take_while(|(k, _)| k.starts_with(prefix))
            .count()
    }

    /// One object.
    pub fn get(&self, resource: &str, key: &str) -> (Option<Arc<Value>>, Revision) {
        let state = self.state(resource);
        let st = lock(&state);
        (st.objects.get(key).cloned(), self.consistent_rev(&st))
    }

    /// Registers a watcher on keys starting with `prefix`.
    pub fn watch(
        &self,
        resource: &str,
        prefix: &str,
        from: WatchFrom,
    ) -> Result<WatchStart, TooOld> {
        let state = self.state(resource);
        let mut st = lock(&state);
        let revision = self.consistent_rev(&st);
        let initial: Vec<Arc<CacheEvent>> = match from {
            WatchFrom::Now => st
                .objects
                .range(prefix.to_string()..)
                .take_while(|(k, _)| k.starts_with(prefix))
                .map(|(k, v)| {
                    Arc::new(CacheEvent {
                        kind: EventType::Added,
                        revision: krust_api::meta::resource_version(v)
                            .parse()
                            .unwrap_or(revision),
                        key: k.clone(),
                        object: v.clone(),
                        prev: None,
                        encoded: Default::default(),
                        encoded_metadata: Default::default(),
                        corrupt: st.corrupt.get(k).cloned(),
                    })
                })
                .collect(),
            WatchFrom::Revision(rv) => {
                if rv < st.window_start {
                    return Err(TooOld {
                        requested: rv,
                        oldest: st.window_start,
                    });
                }
                st.window
                    .iter()
                    .filter(|e| e.revision > rv && e.key.starts_with(prefix))
                    .cloned()
                    .collect()
            }
        };
        let (tx, rx) = mpsc::channel(self.inner.config.watcher_buffer);
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        st.watchers.push(Watcher {
            id,
            prefix: prefix.to_string(),
            tx,
        });
        Ok(WatchStart {
            initial,
            rx,
            revision,
            id,
        })
    }

    /// A revision safe to report in a bookmark to a watcher whose queue is `rx`: every event
    /// up to it has been queued. `None` while events are still queued (try again later).
    pub fn bookmark_revision(
        &self,
        resource: &str,
        rx: &mpsc::Receiver<Arc<CacheEvent>>,
    ) -> Option<Revision> {
        let state = self.state(resource);
        let st = lock(&state);
        rx.is_empty().then(|| self.consistent_rev(&st))
    }

    /// Removes a watcher (when its client goes away).
    pub fn unwatch(&self, resource: &str, id: u64) {
        let state = self.state(resource);
        lock(&state).watchers.retain(|w| w.id != id);
    }

    /// Number of registered watchers of a resource (for tests and metrics).
    pub fn watcher_count(&self, resource: &str) -> usize {
        lock(&self.state(resource)).watchers.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use krust_store::memory::MemoryBackend;
    use serde_json::json;

    fn obj(name: &str, v: i64) -> Bytes {
        Bytes::from(
            serde_json::to_vec(&json!({"kind": "ConfigMap", "metadata": {"name": name, "namespace": "default"}, "data": {"v": v.to_string()}}))
                .unwrap(),
        )
    }

    #[tokio::test]
    async fn list_watch_and_window() {
        let backend: Arc<dyn Backend> = Arc::new(MemoryBackend::new());
        backend
            .create("/registry/core/configmaps/default/a", obj("a", 1))
            .await
            .unwrap();
        let cache = WatchCache::start(
            backend.clone(),
            CacheConfig {
                window: 3,
                watcher_buffer: 2,
            },
        )
        .await
        .unwrap();
        let (items, rev) = cache.list("core/configmaps", "/registry/core/configmaps/");
        assert_eq!(items.len(), 1);
        let mut w = cache
            .watch(
                "core/configmaps",
                "/registry/core/configmaps/",
                WatchFrom::Revision(rev),
            )
            .unwrap();
        let kv = backend
            .create("/registry/core/configmaps/default/b", obj("b", 1))
            .await
            .unwrap();
        assert!(
            cache
                .wait_for(kv.mod_revision, Duration::from_secs(5))
                .await
        );
        let ev = w.rx.recv().await.unwrap();
        assert_eq!(ev.kind, EventType::Added);
        assert_eq!(krust_api::meta::name(&ev.object), "b");
        assert_eq!(
            krust_api::meta::resource_version(&ev.object),
            kv.mod_revision.to_string()
        );
        // Overflow the window: an old revision is now too old.
        let mut last = kv.clone();
        for i in 0..5 {
            last = backend
                .update(
                    "/registry/core/configmaps/default/b",
                    obj("b", i + 2),
                    last.mod_revision,
                )
                .await
                .unwrap();
        }
        assert!(
            cache
                .wait_for(last.mod_revision, Duration::from_secs(5))
                .await
        );
        assert!(
            cache
                .watch(
                    "core/configmaps",
                    "/registry/core/configmaps/",
                    WatchFrom::Revision(rev)
                )
                .is_err()
        );
        // The slow watcher (buffer 2, never read after the first) was cut off.
        let mut got = 0;
        while w.rx.recv().await.is_some() {
            got += 1;
        }
        assert_eq!(got, 2);
        assert_eq!(cache.watcher_count("core/configmaps"), 0);
        let (items, _) = cache.list("core/configmaps", "/registry/core/configmaps/default/");
        assert_eq!(items.len(), 2);
    }
}
