//! The SQLite datastore, krust's default [`Backend`].
//!
//! - **Durability**: WAL journal with `synchronous=FULL`; a write is acknowledged only after
//!   its transaction committed, so it survives a crash (SIGKILL) or a power loss.
//! - **Writes**: one writer thread owns the write connection and batches every queued request
//!   into one transaction (group commit); see the `writer` submodule for the details. Requests that fail a
//!   precondition get their error and consume no revision without failing the others.
//! - **Reads** (`get`, `range`, watch replay) run on a small pool of read connections through
//!   `spawn_blocking`; WAL readers never block the writer. A range read takes the revision it
//!   reports and its rows from one snapshot. Reads at past revisions are rebuilt from the log.
//! - **Watches** subscribe to the writer's broadcast of committed batches first, then replay
//!   the log after the requested revision, then continue with live events, skipping revisions
//!   already replayed. A watcher that falls more than the broadcast capacity behind gets
//!   [`StoreError::WatchLagged`] and its stream ends.
//! - **Compaction** records the compaction point at once (older reads fail from then on) and
//!   prunes the history in small chunks interleaved with write batches.
//!
//! Revision 1 is the empty store; the first write gets revision 2, as in etcd. A range at a
//! non-positive revision reads the current one, as in etcd.

mod read;
mod schema;
mod writer;

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::thread::JoinHandle;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use futures::future::BoxFuture;
use rusqlite::Connection;
use tokio::sync::{Semaphore, broadcast, mpsc, oneshot};

use self::read::ReplayPage;
use self::writer::{Op, Request, Shared, Writer, WriterConfig};
use crate::memory::{DEFAULT_WATCH_CAPACITY, EventBatch, LiveEvents};
use crate::{
    Backend, Event, KeyValue, RangeRequest, RangeResult, Revision, StoreError, WatchStream,
};

/// Tuning of a [`SqliteBackend`]. The defaults suit the API server.
#[derive(Clone, Debug)]
pub struct SqliteOptions {
    /// Read connections (and concurrent blocking reads).
    pub read_connections: usize,
    /// Most requests committed in one transaction.
    pub max_batch: usize,
    /// Committed batches a watcher may fall behind before it is cut off.
    pub watch_capacity: usize,
    /// Log entries pruned per compaction transaction.
    pub compact_chunk: usize,
    /// Log entries read per watch replay transaction.
    pub replay_page: usize,
    /// How long a connection waits for a lock held by another process before failing.
    pub busy_timeout: Duration,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        Self {
            read_connections: 4,
            max_batch: 1000,
            watch_capacity: DEFAULT_WATCH_CAPACITY,
            compact_chunk: 500,
            replay_page: 1000,
            busy_timeout: Duration::from_secs(5),
        }
    }
}

/// Counters of a [`SqliteBackend`] (for benchmarks and diagnostics).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SqliteStats {
    /// The last committed revision.
    pub revision: Revision,
    /// The compaction point.
    pub compacted_revision: Revision,
    /// Write transactions committed since open (each a batch of requests).
    pub commits: u64,
    /// Writes committed since open (`writes / commits` is the mean batch size).
    pub writes: u64,
    /// Whether pruning of the history up to the compaction point is still in progress.
    pub compaction_pending: bool,
}

/// The SQLite [`Backend`]. See the module docs.
///
/// Dropping it (or [`SqliteBackend::close`]) stops the writer after it has committed and
/// answered every request already queued.
pub struct SqliteBackend {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    options: SqliteOptions,
    shared: Arc<Shared>,
    requests: RwLock<Option<mpsc::UnboundedSender<Request>>>,
    writer: Mutex<Option<JoinHandle<()>>>,
    events: broadcast::WeakSender<EventBatch>,
    idle_readers: Mutex<Vec<Connection>>,
    read_permits: Arc<Semaphore>,
    closed: AtomicBool,
}

impl std::fmt::Debug for SqliteBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteBackend")
            .field("path", &self.inner.path)
            .finish_non_exhaustive()
    }
}

impl SqliteBackend {
    /// Opens (creating it and its parent directory if needed) the database at `path`.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        Self::open_with(path, SqliteOptions::default())
    }

    /// Opens a datastore from an endpoint `sqlite://<path>`, e.g.
    /// `sqlite:///var/lib/krust/state.db` (a relative path is relative to the working
    /// directory).
    pub fn from_endpoint(endpoint: &str) -> Result<Self, StoreError> {
        let path = endpoint
            .strip_prefix("sqlite://")
            .filter(|path| !path.is_empty())
            .ok_or_else(|| {
                StoreError::Backend(format!(
                    "invalid sqlite endpoint {endpoint:?} (expected sqlite:///path/to/db)"
                ))
            })?;
        Self::open(Path::new(path))
    }

    /// Opens the database at `path` with the given tuning.
    pub fn open_with(path: &Path, options: SqliteOptions) -> Result<Self, StoreError> {
        if let Some(parent) = path.parent()
            && !parent.as_os_str().is_empty()
        {
            std::fs::create_dir_all(parent)
                .map_err(|e| StoreError::Backend(format!("creating {}: {e}", parent.display())))?;
        }
        let mut conn = schema::open_writer(path, options.busy_timeout)?;
        let meta = schema::init(&mut conn)?;
        // One reader up front, so that a broken setup fails here rather than on a read.
        let reader = schema::open_reader(path, options.busy_timeout)?;

        let shared = Arc::new(Shared::new(meta));
        let (events, _) = broadcast::channel(options.watch_capacity.max(1));
        let weak_events = events.downgrade();
        let (requests, rx) = mpsc::unbounded_channel();
        let writer = Writer::new(
            conn,
            shared.clone(),
            events,
            meta,
            WriterConfig {
                max_batch: options.max_batch,
                compact_chunk: options.compact_chunk,
            },
        );
        let handle = std::thread::Builder::new()
            .name("krust-store-writer".into())
            .spawn(move || writer.run(rx))
            .map_err(|e| StoreError::Backend(format!("starting the sqlite writer: {e}")))?;
        tracing::info!(
            path = %path.display(),
            revision = meta.revision,
            compacted = meta.compacted,
            "opened sqlite datastore"
        );
        let read_connections = options.read_connections.max(1);
        Ok(Self {
            inner: Arc::new(Inner {
                path: path.to_owned(),
                options,
                shared,
                requests: RwLock::new(Some(requests)),
                writer: Mutex::new(Some(handle)),
                events: weak_events,
                idle_readers: Mutex::new(vec![reader]),
                read_permits: Arc::new(Semaphore::new(read_connections)),
                closed: AtomicBool::new(false),
            }),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Counters, for benchmarks and diagnostics.
    pub fn stats(&self) -> SqliteStats {
        let shared = &self.inner.shared;
        SqliteStats {
            revision: shared.revision.load(Ordering::SeqCst),
            compacted_revision: shared.compacted.load(Ordering::SeqCst),
            commits: shared.commits.load(Ordering::Relaxed),
            writes: shared.writes.load(Ordering::Relaxed),
            compaction_pending: shared.compacting.load(Ordering::SeqCst),
        }
    }

    /// Stops accepting requests, lets the writer commit and answer those already queued, and
    /// waits for it to stop. Later calls fail with [`StoreError::Closed`]; watches end.
    pub async fn close(&self) -> Result<(), StoreError> {
        let handle = self.inner.shut_down();
        if let Some(handle) = handle {
            tokio::task::spawn_blocking(move || handle.join())
                .await
                .map_err(|e| StoreError::Backend(format!("joining the sqlite writer: {e}")))?
                .map_err(|_| StoreError::Backend("the sqlite writer panicked".into()))?;
        }
        Ok(())
    }

    async fn write(&self, op: Op) -> Result<KeyValue, StoreError> {
        let (reply, rx) = oneshot::channel();
        self.inner.send(Request::Write { op, reply })?;
        rx.await.map_err(|_| StoreError::Closed)?
    }

    /// Queues a write without waiting for it (tests).
    #[cfg(test)]
    fn submit(&self, op: Op) -> oneshot::Receiver<Result<KeyValue, StoreError>> {
        let (reply, rx) = oneshot::channel();
        // A failed send drops `reply`, which the receiver sees as closed.
        let _ = self.inner.send(Request::Write { op, reply });
        rx
    }
}

impl Drop for SqliteBackend {
    fn drop(&mut self) {
        if let Some(handle) = self.inner.shut_down()
            && handle.join().is_err()
        {
            tracing::error!("the sqlite writer panicked");
        }
    }
}

impl Inner {
    fn check_open(&self) -> Result<(), StoreError> {
        if self.closed.load(Ordering::SeqCst) {
            Err(StoreError::Closed)
        } else {
            Ok(())
        }
    }

    fn send(&self, req: Request) -> Result<(), StoreError> {
        self.check_open()?;
        let requests = self.requests.read().unwrap_or_else(PoisonError::into_inner);
        requests
            .as_ref()
            .ok_or(StoreError::Closed)?
            .send(req)
            .map_err(|_| StoreError::Closed)
    }

    /// Marks the store closed and drops the request channel: the writer drains the queue and
    /// stops. Returns the writer's handle, the first time.
    fn shut_down(&self) -> Option<JoinHandle<()>> {
        self.closed.store(true, Ordering::SeqCst);
        drop(
            self.requests
                .write()
                .unwrap_or_else(PoisonError::into_inner)
                .take(),
        );
        self.writer
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }

    /// Runs `f` on a pooled read connection on tokio's blocking pool.
    async fn read<T, F>(self: &Arc<Self>, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        self.check_open()?;
        let permit = self
            .read_permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| StoreError::Closed)?;
        let inner = self.clone();
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let mut conn = inner.take_reader()?;
            let result = f(&mut conn);
            inner.put_reader(conn);
            result
        })
        .await
        .map_err(|e| StoreError::Backend(format!("sqlite read task failed: {e}")))?
    }

    fn take_reader(&self) -> Result<Connection, StoreError> {
        let idle = self
            .idle_readers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        match idle {
            Some(conn) => Ok(conn),
            None => schema::open_reader(&self.path, self.options.busy_timeout),
        }
    }

    fn put_reader(&self, conn: Connection) {
        let mut idle = self
            .idle_readers
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if idle.len() < self.options.read_connections.max(1) {
            idle.push(conn);
        }
    }

    async fn replay_page(
        self: &Arc<Self>,
        prefix: String,
        after: Revision,
    ) -> Result<ReplayPage, StoreError> {
        let page = self.options.replay_page;
        self.read(move |conn| read::replay_page(conn, &prefix, after, page))
            .await
    }
}

/// A watch: replayed pages of the log, then live events.
struct SqliteWatch {
    inner: Arc<Inner>,
    live: LiveEvents,
    /// Where the replay continues, while it is not finished.
    replay: Option<Revision>,
    after: Revision,
}

impl SqliteWatch {
    fn apply(&mut self, page: ReplayPage) {
        self.live.extend_pending(page.events);
        if page.done {
            // Every revision of the page's snapshot was replayed.
            self.live.set_last(page.revision.max(self.after));
            self.replay = None;
        } else {
            self.replay = Some(page.cursor);
        }
    }

    async fn next(&mut self) -> Option<Result<Event, StoreError>> {
        loop {
            if let Some(event) = self.live.pop_pending() {
                return Some(Ok(event));
            }
            let Some(cursor) = self.replay else {
                return self.live.next().await;
            };
            let prefix = self.live.prefix().to_owned();
            match self.inner.replay_page(prefix, cursor).await {
                Ok(page) => self.apply(page),
                Err(e) => {
                    self.replay = None;
                    self.live.finish();
                    return Some(Err(e));
                }
            }
        }
    }
}

impl Backend for SqliteBackend {
    fn get(&self, key: &str) -> BoxFuture<'_, Result<Option<KeyValue>, StoreError>> {
        let key = key.to_owned();
        Box::pin(async move { self.inner.read(move |conn| read::get(conn, &key)).await })
    }

    fn range(&self, req: RangeRequest) -> BoxFuture<'_, Result<RangeResult, StoreError>> {
        Box::pin(async move { self.inner.read(move |conn| read::range(conn, &req)).await })
    }

    fn create(&self, key: &str, value: Bytes) -> BoxFuture<'_, Result<KeyValue, StoreError>> {
        let key = key.to_owned();
        Box::pin(self.write(Op::Create { key, value }))
    }

    fn update(
        &self,
        key: &str,
        value: Bytes,
        expected: Revision,
    ) -> BoxFuture<'_, Result<KeyValue, StoreError>> {
        let key = key.to_owned();
        Box::pin(self.write(Op::Update {
            key,
            value,
            expected,
        }))
    }

    fn delete(
        &self,
        key: &str,
        expected: Option<Revision>,
    ) -> BoxFuture<'_, Result<KeyValue, StoreError>> {
        let key = key.to_owned();
        Box::pin(self.write(Op::Delete { key, expected }))
    }

    fn watch(
        &self,
        prefix: &str,
        after: Revision,
    ) -> BoxFuture<'_, Result<WatchStream, StoreError>> {
        let prefix = prefix.to_owned();
        Box::pin(async move {
            let inner = self.inner.clone();
            inner.check_open()?;
            let after = after.max(0);
            // Subscribe first: whatever commits after the replay's snapshot arrives live.
            let rx = inner
                .events
                .upgrade()
                .ok_or(StoreError::Closed)?
                .subscribe();
            let first = inner.replay_page(prefix.clone(), after).await?;
            let mut watch = SqliteWatch {
                inner,
                live: LiveEvents::new(rx, prefix, after, VecDeque::new()),
                replay: None,
                after,
            };
            watch.apply(first);
            let stream = futures::stream::unfold(watch, |mut watch| async move {
                let item = watch.next().await?;
                Some((item, watch))
            });
            Ok(stream.boxed())
        })
    }

    fn current_revision(&self) -> BoxFuture<'_, Result<Revision, StoreError>> {
        let result = self
            .inner
            .check_open()
            .map(|()| self.inner.shared.revision.load(Ordering::SeqCst));
        Box::pin(async move { result })
    }

    fn check(&self) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async move {
            self.inner
                .read(|conn| read::get(conn, "/registry/health"))
                .await?;
            let shared = &self.inner.shared;
            if shared.probing.swap(true, Ordering::SeqCst) {
                // Another check's probe is on its way: wait for its answer (the caller
                // bounds the wait).
                while shared.probing.load(Ordering::SeqCst) {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                return if shared.probe_ok.load(Ordering::SeqCst) {
                    Ok(())
                } else {
                    Err(StoreError::Backend("the write probe failed".into()))
                };
            }
            let (reply, rx) = oneshot::channel();
            if let Err(e) = self.inner.send(Request::Probe(reply)) {
                shared.probing.store(false, Ordering::SeqCst);
                return Err(e);
            }
            rx.await.map_err(|_| StoreError::Closed)?
        })
    }

    fn compact(&self, revision: Revision) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async move {
            let (reply, rx) = oneshot::channel();
            self.inner.send(Request::Compact { revision, reply })?;
            rx.await.map_err(|_| StoreError::Closed)?
        })
    }

    fn compacted_revision(&self) -> BoxFuture<'_, Result<Revision, StoreError>> {
        let result = self
            .inner
            .check_open()
            .map(|()| self.inner.shared.compacted.load(Ordering::SeqCst));
        Box::pin(async move { result })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::conformance;

    fn fresh() -> (SqliteBackend, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let backend = SqliteBackend::open(&dir.path().join("state.db")).unwrap();
        (backend, dir)
    }

    conformance::conformance_tests!(fresh);

    fn val(s: &str) -> Bytes {
        Bytes::copy_from_slice(s.as_bytes())
    }

    impl SqliteBackend {
        /// Blocks the writer until the returned sender is used or dropped.
        fn pause(&self) -> std::sync::mpsc::Sender<()> {
            let (tx, rx) = std::sync::mpsc::channel();
            self.inner.send(Request::Pause(rx)).unwrap();
            tx
        }

        async fn log_len(&self) -> i64 {
            self.inner.read(|conn| read::log_len(conn)).await.unwrap()
        }

        async fn wait_compacted(&self) {
            for _ in 0..500 {
                if !self.stats().compaction_pending {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            panic!("compaction did not finish");
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn run_all_on_one_backend() {
        let (b, _dir) = fresh();
        conformance::run_all(&b).await;
        // Everything, including the compacted history, survives a reopen.
        let all = RangeRequest {
            prefix: "/".into(),
            ..Default::default()
        };
        let before = b.range(all.clone()).await.unwrap();
        let compacted = b.compacted_revision().await.unwrap();
        let path = b.path().to_owned();
        drop(b);
        let b = SqliteBackend::open(&path).unwrap();
        b.wait_compacted().await;
        assert_eq!(b.range(all.clone()).await.unwrap(), before);
        assert_eq!(b.compacted_revision().await.unwrap(), compacted);
        let at_compaction = RangeRequest {
            revision: Some(compacted),
            ..all
        };
        b.range(at_compaction).await.unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn data_and_revisions_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/dir/state.db");
        let (a, gone, compacted) = {
            let b = SqliteBackend::open(&path).unwrap();
            assert_eq!(b.current_revision().await.unwrap(), 1);
            let a = b.create("/a", val("1")).await.unwrap();
            assert_eq!(a.mod_revision, 2);
            let a = b.update("/a", val("2"), 2).await.unwrap();
            b.create("/gone", val("x")).await.unwrap();
            let gone = b.delete("/gone", None).await.unwrap();
            b.compact(3).await.unwrap();
            b.close().await.unwrap();
            assert_eq!(b.get("/a").await, Err(StoreError::Closed));
            assert_eq!(
                b.create("/late", val("x")).await.unwrap_err(),
                StoreError::Closed
            );
            (a, gone, 3)
        };
        let b = SqliteBackend::from_endpoint(&format!("sqlite://{}", path.display())).unwrap();
        assert_eq!(b.current_revision().await.unwrap(), gone.mod_revision);
        assert_eq!(b.compacted_revision().await.unwrap(), compacted);
        assert_eq!(b.get("/a").await.unwrap(), Some(a.clone()));
        assert_eq!(b.get("/gone").await.unwrap(), None);
        let next = b.create("/b", val("b")).await.unwrap();
        assert_eq!(next.mod_revision, gone.mod_revision + 1);
        // History survived too.
        let mut watch = b.watch("/", 3).await.unwrap();
        let first = watch.next().await.unwrap().unwrap();
        assert_eq!(first.kv.key, "/gone");
        assert_eq!(first.kv.mod_revision, 4);
    }

    #[test]
    fn bad_endpoints_are_rejected() {
        for endpoint in ["sqlite://", "etcd://x", "/plain/path"] {
            assert!(matches!(
                SqliteBackend::from_endpoint(endpoint),
                Err(StoreError::Backend(_))
            ));
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_writes_get_distinct_revisions() {
        let (b, _dir) = fresh();
        let b = Arc::new(b);
        let tasks = 64;
        let per_task = 10;
        let mut handles = Vec::new();
        for t in 0..tasks {
            let b = b.clone();
            handles.push(tokio::spawn(async move {
                let mut revisions = Vec::new();
                let key = format!("/c/{t}");
                let mut kv = b.create(&key, val("0")).await.unwrap();
                revisions.push(kv.mod_revision);
                for i in 1..per_task {
                    kv = b
                        .update(&key, val(&i.to_string()), kv.mod_revision)
                        .await
                        .unwrap();
                    revisions.push(kv.mod_revision);
                }
                revisions
            }));
        }
        let mut all = BTreeSet::new();
        for handle in handles {
            let revisions = handle.await.unwrap();
            assert!(revisions.windows(2).all(|w| w[0] < w[1]));
            for r in revisions {
                assert!(all.insert(r), "revision {r} given twice");
            }
        }
        let total = (tasks * per_task) as Revision;
        assert_eq!(all.len() as Revision, total);
        assert_eq!(all.first().copied(), Some(2));
        assert_eq!(all.last().copied(), Some(1 + total));
        assert_eq!(b.current_revision().await.unwrap(), 1 + total);
        let stats = b.stats();
        assert_eq!(stats.writes, total as u64);
        assert!(stats.commits <= stats.writes);
        let listed = b
            .range(RangeRequest {
                prefix: "/c/".into(),
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(listed.kvs.len(), tasks);
        assert!(listed.kvs.iter().all(|kv| kv.value == val("9")));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn failed_precondition_does_not_fail_the_batch() {
        let (b, _dir) = fresh();
        b.create("/x", val("old")).await.unwrap();
        let before = b.stats();
        let resume = b.pause();
        let mut receivers = Vec::new();
        for i in 0..10 {
            receivers.push(b.submit(Op::Create {
                key: format!("/new/{i}"),
                value: val("v"),
            }));
            // Fails: exists.
            receivers.push(b.submit(Op::Create {
                key: "/x".into(),
                value: val("dup"),
            }));
        }
        receivers.push(b.submit(Op::Update {
            key: "/missing".into(),
            value: val("v"),
            expected: 1,
        }));
        receivers.push(b.submit(Op::Delete {
            key: "/x".into(),
            expected: Some(99),
        }));
        receivers.push(b.submit(Op::Delete {
            key: "/x".into(),
            expected: None,
        }));
        // Succeeds: deleted earlier in the same batch.
        receivers.push(b.submit(Op::Create {
            key: "/x".into(),
            value: val("new"),
        }));
        resume.send(()).unwrap();
        let mut results = Vec::new();
        for rx in receivers {
            results.push(rx.await.unwrap());
        }
        let after = b.stats();
        assert_eq!(after.commits, before.commits + 1, "one batch");
        let ok: Vec<Revision> = results
            .iter()
            .filter_map(|r| r.as_ref().ok().map(|kv| kv.mod_revision))
            .collect();
        // Failed requests consume no revision: the successful ones are contiguous.
        let expected: Vec<Revision> = (before.revision + 1..=before.revision + 12).collect();
        assert_eq!(ok, expected);
        assert_eq!(after.revision, before.revision + 12);
        for i in 0..10 {
            assert_eq!(
                results[2 * i + 1],
                Err(StoreError::AlreadyExists("/x".into()))
            );
        }
        assert_eq!(results[20], Err(StoreError::NotFound("/missing".into())));
        assert!(matches!(results[21], Err(StoreError::Conflict { .. })));
        let x = b.get("/x").await.unwrap().unwrap();
        assert_eq!(x.value, val("new"));
        assert_eq!(x.create_revision, before.revision + 12);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn failed_commit_fails_the_whole_batch() {
        let (b, _dir) = fresh();
        let first = b.create("/a", val("1")).await.unwrap();
        let mut watch = b.watch("/", first.mod_revision).await.unwrap();
        let resume = b.pause();
        b.inner.send(Request::FailNextCommit).unwrap();
        let receivers: Vec<_> = (0..5)
            .map(|i| {
                b.submit(Op::Create {
                    key: format!("/f/{i}"),
                    value: val("v"),
                })
            })
            .collect();
        resume.send(()).unwrap();
        for rx in receivers {
            assert!(matches!(rx.await.unwrap(), Err(StoreError::Backend(_))));
        }
        assert_eq!(b.current_revision().await.unwrap(), first.mod_revision);
        assert_eq!(b.get("/f/0").await.unwrap(), None);
        // The next batch takes the next revision and only its events are published.
        let next = b.create("/f/0", val("v")).await.unwrap();
        assert_eq!(next.mod_revision, first.mod_revision + 1);
        let event = watch.next().await.unwrap().unwrap();
        assert_eq!(event.kv, next);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn close_flushes_queued_writes() {
        let (b, dir) = fresh();
        let resume = b.pause();
        let receivers: Vec<_> = (0..50)
            .map(|i| {
                b.submit(Op::Create {
                    key: format!("/q/{i:02}"),
                    value: val("v"),
                })
            })
            .collect();
        let b = Arc::new(b);
        let closer = {
            let b = b.clone();
            tokio::spawn(async move { b.close().await })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!closer.is_finished(), "close waits for the queue");
        resume.send(()).unwrap();
        closer.await.unwrap().unwrap();
        for rx in receivers {
            rx.await.unwrap().unwrap();
        }
        drop(b);
        let b = SqliteBackend::open(&dir.path().join("state.db")).unwrap();
        let listed = b
            .range(RangeRequest {
                prefix: "/q/".into(),
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(listed.kvs.len(), 50);
        assert_eq!(listed.revision, 51);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn watch_ends_when_closed() {
        let (b, _dir) = fresh();
        let mut watch = b.watch("/", 1).await.unwrap();
        b.close().await.unwrap();
        assert_eq!(watch.next().await, Some(Err(StoreError::Closed)));
        assert_eq!(watch.next().await, None);
        assert!(b.watch("/", 1).await.is_err());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn slow_watcher_is_cut_off() {
        let dir = tempfile::tempdir().unwrap();
        let b = SqliteBackend::open_with(
            &dir.path().join("state.db"),
            SqliteOptions {
                watch_capacity: 2,
                ..Default::default()
            },
        )
        .unwrap();
        conformance::slow_watcher_lags(&b).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn multi_page_replay() {
        let dir = tempfile::tempdir().unwrap();
        let b = SqliteBackend::open_with(
            &dir.path().join("state.db"),
            SqliteOptions {
                replay_page: 3,
                ..Default::default()
            },
        )
        .unwrap();
        let mut written = Vec::new();
        for i in 0..20 {
            let key = if i % 3 == 0 { "/other" } else { "/w/" };
            written.push(
                b.create(&format!("{key}{i}"), val("v"))
                    .await
                    .unwrap()
                    .mod_revision,
            );
        }
        conformance::watch_concurrent_writes(&b).await;
        let mut watch = b.watch("/w/", 1).await.unwrap();
        let expected: Vec<Revision> = written
            .iter()
            .enumerate()
            .filter(|(i, _)| i % 3 != 0)
            .map(|(_, r)| *r)
            .collect();
        for r in &expected {
            assert_eq!(watch.next().await.unwrap().unwrap().kv.mod_revision, *r);
        }
        // Then live events, never a replayed one again.
        let next = b.create("/w/last", val("v")).await.unwrap();
        assert_eq!(watch.next().await.unwrap().unwrap().kv, next);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn compaction_prunes_in_chunks() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        let b = SqliteBackend::open_with(
            &path,
            SqliteOptions {
                compact_chunk: 3,
                ..Default::default()
            },
        )
        .unwrap();
        // 10 keys updated 5 times, 5 of them deleted, 2 of those re-created.
        for k in 0..10 {
            let key = format!("/p/{k}");
            let mut kv = b.create(&key, val("0")).await.unwrap();
            for i in 1..5 {
                kv = b
                    .update(&key, val(&i.to_string()), kv.mod_revision)
                    .await
                    .unwrap();
            }
            if k % 2 == 0 {
                b.delete(&key, None).await.unwrap();
            }
        }
        b.create("/p/0", val("again")).await.unwrap();
        let point = b.current_revision().await.unwrap();
        b.create("/p/2", val("again")).await.unwrap();
        b.update(
            "/p/1",
            val("5"),
            b.get("/p/1").await.unwrap().unwrap().mod_revision,
        )
        .await
        .unwrap();
        let snapshot = b
            .range(RangeRequest {
                prefix: "/p/".into(),
                revision: Some(point),
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(b.log_len().await, 10 * 5 + 5 + 3);
        b.compact(point).await.unwrap();
        b.wait_compacted().await;
        // Kept: the latest entry at the point of the 6 live keys, and the 2 later entries.
        assert_eq!(b.log_len().await, 6 + 2);
        let again = b
            .range(RangeRequest {
                prefix: "/p/".into(),
                revision: Some(point),
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(again, snapshot);
        // Compacting again is cheap and changes nothing.
        b.compact(point).await.unwrap();
        b.wait_compacted().await;
        assert_eq!(b.log_len().await, 8);
        let now = b.current_revision().await.unwrap();
        b.compact(now).await.unwrap();
        b.wait_compacted().await;
        // "/p/2" and "/p/1" superseded their kept entries.
        assert_eq!(b.log_len().await, 7);
        assert_eq!(
            b.range(RangeRequest {
                prefix: "/p/".into(),
                ..Default::default()
            })
            .await
            .unwrap()
            .kvs
            .len(),
            7
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn interrupted_compaction_resumes_on_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        let options = SqliteOptions {
            compact_chunk: 1,
            ..Default::default()
        };
        let b = SqliteBackend::open_with(&path, options.clone()).unwrap();
        let mut kv = b.create("/k", val("0")).await.unwrap();
        for i in 1..200 {
            kv = b
                .update("/k", val(&i.to_string()), kv.mod_revision)
                .await
                .unwrap();
        }
        b.compact(kv.mod_revision).await.unwrap();
        b.close().await.unwrap();
        drop(b);
        let b = SqliteBackend::open_with(&path, options).unwrap();
        assert_eq!(b.compacted_revision().await.unwrap(), kv.mod_revision);
        b.wait_compacted().await;
        assert_eq!(b.log_len().await, 1);
        assert_eq!(b.get("/k").await.unwrap(), Some(kv));
    }
}
