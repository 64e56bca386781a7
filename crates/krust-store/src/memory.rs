//! In-memory [`Backend`] for unit tests.
//!
//! [`MemoryBackend`] keeps the current keys in a `BTreeMap`, every write in an in-memory
//! revision log, and fans events out to watchers through a tokio broadcast channel. It has the
//! same semantics as the SQLite backend (revisions, compare-and-swap, reads at past revisions,
//! compaction, watch replay), but nothing is persisted and compaction happens synchronously.
//!
//! This module also holds the helpers both backends share: `LiveEvents` (the live half of a
//! watch) and the range-read bounds and pagination.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::ops::Bound;
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use futures::StreamExt;
use futures::future::BoxFuture;
use tokio::sync::broadcast;

use crate::{
    Backend, Event, EventKind, KeyValue, RangeRequest, RangeResult, Revision, StoreError,
    WatchStream,
};

/// Default capacity (in batches of events) of the watch broadcast channel.
pub(crate) const DEFAULT_WATCH_CAPACITY: usize = 4096;

/// The events of one committed batch, in revision order, as broadcast to watchers.
pub(crate) type EventBatch = Arc<[Event]>;

/// The live half of a watch: events waiting to be delivered (replayed history first), then
/// batches from the broadcast channel, filtered by prefix and skipping revisions already
/// delivered. A lagging receiver yields [`StoreError::WatchLagged`] and ends the stream; a
/// closed channel yields [`StoreError::Closed`] and ends it.
pub(crate) struct LiveEvents {
    rx: broadcast::Receiver<EventBatch>,
    prefix: String,
    /// Live events at or below this revision were already delivered (replayed) and are skipped.
    last: Revision,
    pending: VecDeque<Event>,
    done: bool,
}

impl LiveEvents {
    pub(crate) fn new(
        rx: broadcast::Receiver<EventBatch>,
        prefix: String,
        last: Revision,
        pending: VecDeque<Event>,
    ) -> Self {
        Self {
            rx,
            prefix,
            last,
            pending,
            done: false,
        }
    }

    pub(crate) fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Queues replayed events to be delivered before anything else.
    pub(crate) fn extend_pending(&mut self, events: impl IntoIterator<Item = Event>) {
        self.pending.extend(events);
    }

    /// Takes the next queued event without waiting for live ones.
    pub(crate) fn pop_pending(&mut self) -> Option<Event> {
        if self.done {
            return None;
        }
        self.pending.pop_front()
    }

    /// Marks every revision up to `last` as delivered: live events at or below it are skipped.
    pub(crate) fn set_last(&mut self, last: Revision) {
        self.last = self.last.max(last);
    }

    /// Ends the stream: [`LiveEvents::next`] returns `None` from now on.
    pub(crate) fn finish(&mut self) {
        self.done = true;
        self.pending.clear();
    }

    /// The next event: queued ones first, then live ones.
    pub(crate) async fn next(&mut self) -> Option<Result<Event, StoreError>> {
        loop {
            if self.done {
                return None;
            }
            if let Some(event) = self.pending.pop_front() {
                return Some(Ok(event));
            }
            match self.rx.recv().await {
                Ok(batch) => {
                    for event in batch.iter() {
                        if event.kv.mod_revision > self.last
                            && event.kv.key.starts_with(&self.prefix)
                        {
                            self.last = event.kv.mod_revision;
                            self.pending.push_back(event.clone());
                        }
                    }
                }
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    tracing::warn!(
                        prefix = %self.prefix,
                        missed,
                        "watcher fell behind; closing its watch"
                    );
                    self.finish();
                    return Some(Err(StoreError::WatchLagged));
                }
                Err(broadcast::error::RecvError::Closed) => {
                    self.finish();
                    return Some(Err(StoreError::Closed));
                }
            }
        }
    }

    /// This watch as a stream.
    pub(crate) fn into_stream(self) -> WatchStream {
        futures::stream::unfold(self, |mut live| async move {
            let item = live.next().await?;
            Some((item, live))
        })
        .boxed()
    }
}

/// Applies the usual pagination to keys in key order that start at the lower bound: keeps those
/// under `prefix`, stops at the first key outside it, and returns at most `limit` (0 = all) plus
/// whether more matched.
pub(crate) fn paginate(
    kvs: impl Iterator<Item = KeyValue>,
    prefix: &str,
    limit: usize,
) -> (Vec<KeyValue>, bool) {
    let limit = if limit == 0 { usize::MAX } else { limit };
    let mut out = Vec::new();
    for kv in kvs {
        if !kv.key.starts_with(prefix) {
            break;
        }
        if out.len() == limit {
            return (out, true);
        }
        out.push(kv);
    }
    (out, false)
}

/// The lower bound of a range read: after `start_after` when it is past the prefix, else the
/// prefix itself.
pub(crate) fn lower_bound(req: &RangeRequest) -> Bound<&str> {
    match &req.start_after {
        Some(after) if after.as_str() >= req.prefix.as_str() => Bound::Excluded(after.as_str()),
        _ => Bound::Included(req.prefix.as_str()),
    }
}

/// One entry of the revision log.
#[derive(Clone, Debug)]
struct LogEntry {
    key: String,
    /// The written value; for a deletion, the last value before it.
    value: Bytes,
    create_revision: Revision,
    deleted: bool,
}

impl LogEntry {
    fn event(&self, revision: Revision) -> Event {
        Event {
            kind: if self.deleted {
                EventKind::Delete
            } else {
                EventKind::Put
            },
            kv: KeyValue {
                key: self.key.clone(),
                value: self.value.clone(),
                create_revision: self.create_revision,
                mod_revision: revision,
            },
        }
    }
}

#[derive(Debug)]
struct State {
    kv: BTreeMap<String, KeyValue>,
    log: BTreeMap<Revision, LogEntry>,
    revision: Revision,
    compacted: Revision,
}

/// An in-memory [`Backend`] (unit tests only). See the module docs.
pub struct MemoryBackend {
    state: Mutex<State>,
    events: broadcast::Sender<EventBatch>,
}

impl Default for MemoryBackend {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for MemoryBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryBackend").finish_non_exhaustive()
    }
}

impl MemoryBackend {
    /// An empty store at revision 1.
    pub fn new() -> Self {
        Self::with_watch_capacity(DEFAULT_WATCH_CAPACITY)
    }

    /// An empty store whose watchers are cut off ([`StoreError::WatchLagged`]) once they are
    /// `capacity` writes behind.
    pub fn with_watch_capacity(capacity: usize) -> Self {
        let (events, _) = broadcast::channel(capacity.max(1));
        Self {
            state: Mutex::new(State {
                kv: BTreeMap::new(),
                log: BTreeMap::new(),
                revision: 1,
                compacted: 0,
            }),
            events,
        }
    }

    fn lock(&self) -> Result<MutexGuard<'_, State>, StoreError> {
        self.state
            .lock()
            .map_err(|_| StoreError::Backend("memory store lock poisoned".into()))
    }

    /// Applies one write at the next revision and publishes its event.
    fn write(
        &self,
        apply: impl FnOnce(&mut State, Revision) -> Result<Event, StoreError>,
    ) -> Result<KeyValue, StoreError> {
        let mut state = self.lock()?;
        let revision = state.revision + 1;
        let event = apply(&mut state, revision)?;
        state.revision = revision;
        let kv = event.kv.clone();
        // Published under the lock so watchers see events in revision order. No receivers is
        // not an error.
        let _ = self.events.send(Arc::from(vec![event]));
        Ok(kv)
    }
}

fn log_put(state: &mut State, revision: Revision, kv: &KeyValue) {
    state.log.insert(
        revision,
        LogEntry {
            key: kv.key.clone(),
            value: kv.value.clone(),
            create_revision: kv.create_revision,
            deleted: false,
        },
    );
}

/// The revision a range read is served at, checked against the compaction point and the
/// current revision. A non-positive revision means the current one, as in etcd.
pub(crate) fn read_revision(
    requested: Option<Revision>,
    current: Revision,
    compacted: Revision,
) -> Result<Revision, StoreError> {
    let at = match requested {
        Some(r) if r > 0 => r,
        _ => current,
    };
    if at < compacted {
        return Err(StoreError::Compacted {
            requested: at,
            compacted,
        });
    }
    if at > current {
        return Err(StoreError::FutureRevision {
            requested: at,
            current,
        });
    }
    Ok(at)
}

impl Backend for MemoryBackend {
    fn get(&self, key: &str) -> BoxFuture<'_, Result<Option<KeyValue>, StoreError>> {
        let result = self.lock().map(|state| state.kv.get(key).cloned());
        Box::pin(async move { result })
    }

    fn range(&self, req: RangeRequest) -> BoxFuture<'_, Result<RangeResult, StoreError>> {
        let result = (|| {
            let state = self.lock()?;
            let at = read_revision(req.revision, state.revision, state.compacted)?;
            let bounds = (lower_bound(&req), Bound::Unbounded);
            let (kvs, more) = if at == state.revision {
                let iter = state.kv.range::<str, _>(bounds).map(|(_, kv)| kv.clone());
                paginate(iter, &req.prefix, req.limit)
            } else {
                // Rebuild the state at `at` from the log.
                let mut past: BTreeMap<&str, KeyValue> = BTreeMap::new();
                for (revision, entry) in state.log.range(..=at) {
                    if entry.deleted {
                        past.remove(entry.key.as_str());
                    } else {
                        past.insert(entry.key.as_str(), entry.event(*revision).kv);
                    }
                }
                let iter = past.range::<str, _>(bounds).map(|(_, kv)| kv.clone());
                paginate(iter, &req.prefix, req.limit)
            };
            Ok(RangeResult {
                kvs,
                more,
                revision: at,
            })
        })();
        Box::pin(async move { result })
    }

    fn create(&self, key: &str, value: Bytes) -> BoxFuture<'_, Result<KeyValue, StoreError>> {
        let result = self.write(|state, revision| {
            if state.kv.contains_key(key) {
                return Err(StoreError::AlreadyExists(key.to_owned()));
            }
            let kv = KeyValue {
                key: key.to_owned(),
                value,
                create_revision: revision,
                mod_revision: revision,
            };
            state.kv.insert(key.to_owned(), kv.clone());
            log_put(state, revision, &kv);
            Ok(Event {
                kind: EventKind::Put,
                kv,
            })
        });
        Box::pin(async move { result })
    }

    fn update(
        &self,
        key: &str,
        value: Bytes,
        expected: Revision,
    ) -> BoxFuture<'_, Result<KeyValue, StoreError>> {
        let result = self.write(|state, revision| {
            let current = state
                .kv
                .get_mut(key)
                .ok_or_else(|| StoreError::NotFound(key.to_owned()))?;
            if current.mod_revision != expected {
                return Err(StoreError::Conflict {
                    key: key.to_owned(),
                    expected,
                    current: current.mod_revision,
                });
            }
            current.value = value;
            current.mod_revision = revision;
            let kv = current.clone();
            log_put(state, revision, &kv);
            Ok(Event {
                kind: EventKind::Put,
                kv,
            })
        });
        Box::pin(async move { result })
    }

    fn delete(
        &self,
        key: &str,
        expected: Option<Revision>,
    ) -> BoxFuture<'_, Result<KeyValue, StoreError>> {
        let result = self.write(|state, revision| {
            let current = state
                .kv
                .get(key)
                .ok_or_else(|| StoreError::NotFound(key.to_owned()))?;
            if let Some(expected) = expected
                && current.mod_revision != expected
            {
                return Err(StoreError::Conflict {
                    key: key.to_owned(),
                    expected,
                    current: current.mod_revision,
                });
            }
            let mut kv = state
                .kv
                .remove(key)
                .ok_or_else(|| StoreError::NotFound(key.to_owned()))?;
            kv.mod_revision = revision;
            state.log.insert(
                revision,
                LogEntry {
                    key: kv.key.clone(),
                    value: kv.value.clone(),
                    create_revision: kv.create_revision,
                    deleted: true,
                },
            );
            Ok(Event {
                kind: EventKind::Delete,
                kv,
            })
        });
        Box::pin(async move { result })
    }

    fn watch(
        &self,
        prefix: &str,
        after: Revision,
    ) -> BoxFuture<'_, Result<WatchStream, StoreError>> {
        let after = after.max(0);
        let result = (|| {
            let state = self.lock()?;
            if after < state.compacted {
                return Err(StoreError::Compacted {
                    requested: after,
                    compacted: state.compacted,
                });
            }
            // Subscribed under the lock: every later write is live, every earlier one replayed.
            let rx = self.events.subscribe();
            let replay: VecDeque<Event> = state
                .log
                .range(after.saturating_add(1)..)
                .filter(|(_, entry)| entry.key.starts_with(prefix))
                .map(|(revision, entry)| entry.event(*revision))
                .collect();
            let last = after.max(state.revision);
            Ok(LiveEvents::new(rx, prefix.to_owned(), last, replay).into_stream())
        })();
        Box::pin(async move { result })
    }

    fn current_revision(&self) -> BoxFuture<'_, Result<Revision, StoreError>> {
        let result = self.lock().map(|state| state.revision);
        Box::pin(async move { result })
    }

    fn compact(&self, revision: Revision) -> BoxFuture<'_, Result<(), StoreError>> {
        let result = (|| {
            let mut state = self.lock()?;
            if revision > state.revision {
                return Err(StoreError::FutureRevision {
                    requested: revision,
                    current: state.revision,
                });
            }
            if revision <= state.compacted {
                return Ok(());
            }
            state.compacted = revision;
            // Keep, for each key, its latest entry at or below `revision` unless it is a
            // tombstone; drop everything older.
            let mut latest: HashMap<String, Revision> = HashMap::new();
            for (rev, entry) in state.log.range(..=revision) {
                latest.insert(entry.key.clone(), *rev);
            }
            state.log.retain(|rev, entry| {
                *rev > revision || (!entry.deleted && latest.get(&entry.key) == Some(rev))
            });
            Ok(())
        })();
        Box::pin(async move { result })
    }

    fn compacted_revision(&self) -> BoxFuture<'_, Result<Revision, StoreError>> {
        let result = self.lock().map(|state| state.compacted);
        Box::pin(async move { result })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::conformance;

    fn fresh() -> (MemoryBackend, ()) {
        (MemoryBackend::new(), ())
    }

    conformance::conformance_tests!(fresh);

    #[tokio::test]
    async fn run_all_on_one_backend() {
        conformance::run_all(&MemoryBackend::new()).await;
    }

    #[tokio::test]
    async fn slow_watcher_is_cut_off() {
        conformance::slow_watcher_lags(&MemoryBackend::with_watch_capacity(2)).await;
    }

    #[tokio::test]
    async fn compaction_drops_history() {
        let b = MemoryBackend::new();
        assert_eq!(b.current_revision().await.unwrap(), 1);
        let r1 = b.create("/k", Bytes::from_static(b"1")).await.unwrap();
        assert_eq!(r1.mod_revision, 2);
        let r2 = b
            .update("/k", Bytes::from_static(b"2"), r1.mod_revision)
            .await
            .unwrap();
        b.create("/gone", Bytes::from_static(b"x")).await.unwrap();
        let gone = b.delete("/gone", None).await.unwrap();
        b.compact(gone.mod_revision).await.unwrap();
        let state = b.lock().unwrap();
        let revisions: Vec<Revision> = state.log.keys().copied().collect();
        assert_eq!(revisions, vec![r2.mod_revision]);
    }
}
