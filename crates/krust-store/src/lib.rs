//! MVCC key-value storage with etcd's model: one global revision counter, per-key
//! `create_revision` and `mod_revision`, compare-and-swap writes, range reads at a revision,
//! watches from a revision, and compaction.
//!
//! The [`Backend`] trait is implemented by [`sqlite::SqliteBackend`] (the default: WAL, one
//! writer batching concurrent writes into one transaction, acknowledged after commit) and
//! [`memory::MemoryBackend`] (unit tests only).

pub mod memory;
pub mod sqlite;

use bytes::Bytes;
use futures::future::BoxFuture;
use futures::stream::BoxStream;

/// A global revision. The first write of an empty store gets revision 2 (revision 1 is the empty
/// store, as etcd reports it).
pub type Revision = i64;

/// One key at one revision.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyValue {
    pub key: String,
    pub value: Bytes,
    /// Revision of the write that created this key (since its last deletion).
    pub create_revision: Revision,
    /// Revision of the last write to this key; for a deletion event, the revision of the deletion.
    pub mod_revision: Revision,
}

/// What happened to a key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    /// Created (`kv.create_revision == kv.mod_revision`) or updated.
    Put,
    /// Deleted; `kv.value` is the last value before deletion and `kv.mod_revision` the
    /// revision of the deletion.
    Delete,
}

/// One change, as delivered by [`Backend::watch`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    pub kind: EventKind,
    pub kv: KeyValue,
}

/// A range read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RangeRequest {
    /// Keys starting with this prefix.
    pub prefix: String,
    /// Only keys strictly greater than this one (pagination: the last key of the previous page).
    pub start_after: Option<String>,
    /// At most this many keys (0 = no limit).
    pub limit: usize,
    /// Read at this revision (None = current). Fails with [`StoreError::Compacted`] when the
    /// revision is older than the compaction point and [`StoreError::FutureRevision`] when newer
    /// than the current revision.
    pub revision: Option<Revision>,
}

/// The result of a range read, in key order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RangeResult {
    pub kvs: Vec<KeyValue>,
    /// Whether more keys match after the last one returned.
    pub more: bool,
    /// The revision the read was served at.
    pub revision: Revision,
}

/// Storage failures.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// `create` of a key that exists.
    #[error("key already exists: {0}")]
    AlreadyExists(String),
    /// `update`/`delete` of a key that does not exist.
    #[error("key not found: {0}")]
    NotFound(String),
    /// A compare-and-swap precondition failed: the key's current `mod_revision` differs.
    #[error("revision mismatch for {key}: expected {expected}, current {current}")]
    Conflict {
        key: String,
        expected: Revision,
        current: Revision,
    },
    /// The requested revision has been compacted away.
    #[error("required revision {requested} has been compacted (compacted to {compacted})")]
    Compacted {
        requested: Revision,
        compacted: Revision,
    },
    /// The requested revision is newer than the current one.
    #[error("required revision {requested} is a future revision (current {current})")]
    FutureRevision {
        requested: Revision,
        current: Revision,
    },
    /// A watcher fell too far behind the writer and was cut off; it must re-list.
    #[error("watch fell behind and was closed")]
    WatchLagged,
    /// The backend has shut down.
    #[error("storage is closed")]
    Closed,
    /// The underlying database failed.
    #[error("storage failure: {0}")]
    Backend(String),
}

/// A stream of events in revision order.
pub type WatchStream = BoxStream<'static, Result<Event, StoreError>>;

/// MVCC key-value storage in etcd's model.
pub trait Backend: Send + Sync + 'static {
    /// The current value of a key.
    fn get(&self, key: &str) -> BoxFuture<'_, Result<Option<KeyValue>, StoreError>>;

    /// Keys under a prefix, in key order, at the current or a past revision.
    fn range(&self, req: RangeRequest) -> BoxFuture<'_, Result<RangeResult, StoreError>>;

    /// Creates a key that must not exist. Returns the stored key at its new revision.
    fn create(&self, key: &str, value: Bytes) -> BoxFuture<'_, Result<KeyValue, StoreError>>;

    /// Replaces a key whose `mod_revision` must equal `expected`.
    fn update(
        &self,
        key: &str,
        value: Bytes,
        expected: Revision,
    ) -> BoxFuture<'_, Result<KeyValue, StoreError>>;

    /// Deletes a key; when `expected` is set its `mod_revision` must equal it. Returns the last
    /// value with `mod_revision` set to the deletion's revision.
    fn delete(
        &self,
        key: &str,
        expected: Option<Revision>,
    ) -> BoxFuture<'_, Result<KeyValue, StoreError>>;

    /// Every change under `prefix` with a revision greater than `after`, then live changes.
    /// Fails with [`StoreError::Compacted`] if `after` is older than the compaction point.
    fn watch(
        &self,
        prefix: &str,
        after: Revision,
    ) -> BoxFuture<'_, Result<WatchStream, StoreError>>;

    /// The revision of the last committed write.
    fn current_revision(&self) -> BoxFuture<'_, Result<Revision, StoreError>>;

    /// Discards history older than `revision` (reads and watches at or after it keep working).
    /// May complete in the background; never blocks writers for long.
    fn compact(&self, revision: Revision) -> BoxFuture<'_, Result<(), StoreError>>;

    /// The revision history was compacted up to (reads before it fail).
    fn compacted_revision(&self) -> BoxFuture<'_, Result<Revision, StoreError>>;

    /// Answers once the datastore has served a read and would take a write (health checks;
    /// the caller bounds the wait). By default, a read.
    fn check(&self) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async move { self.get("/registry/health").await.map(|_| ()) })
    }
}

/// The exclusive end of a prefix range: the prefix with its last byte incremented.
pub fn prefix_end(prefix: &str) -> String {
    let mut bytes = prefix.as_bytes().to_vec();
    while let Some(last) = bytes.pop() {
        if last < 0xff {
            bytes.push(last + 1);
            return String::from_utf8_lossy(&bytes).into_owned();
        }
    }
    // An empty prefix (or all 0xff) has no end: every key sorts below this one.
    "\u{10FFFF}".to_string()
}

#[cfg(test)]
pub(crate) mod conformance;
