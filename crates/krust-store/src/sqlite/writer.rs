//! The single writer of the SQLite datastore.
//!
//! One OS thread owns the write connection and is fed by a channel. It drains every queued
//! request (up to a bound) into one transaction (group commit): each write gets its own
//! revision, a write whose precondition fails gets its error and consumes no revision without
//! aborting the others. Only after the commit does it publish the batch's events to watchers
//! and answer each request; if the commit fails, every request of the batch fails with
//! [`StoreError::Backend`] and the revision counter stays where it was.
//!
//! Compaction is incremental: `compact` records the new compaction point in the batch's
//! transaction, then the writer prunes the history in small chunks (one transaction each)
//! between write batches, so writers never wait for more than one chunk. For each log entry up
//! to the compaction point, in revision order, it deletes the key's older entries (superseded
//! by this one), then the entry itself if it is a tombstone (no older entry is left by then).
//! What remains is, for each key, its latest entry at or before the compaction point unless it
//! is a tombstone, plus everything after: exactly what reads and watches at or after the
//! compaction point need. Progress is recorded in `meta.compact_done`; an interrupted
//! compaction resumes on the next open.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};

use bytes::Bytes;
use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};
use tokio::sync::mpsc::error::TryRecvError;
use tokio::sync::{broadcast, mpsc, oneshot};

use super::schema::{Meta, read_meta};
use crate::memory::EventBatch;
use crate::{Event, EventKind, KeyValue, Revision, StoreError};

/// A write operation.
#[derive(Debug)]
pub(super) enum Op {
    Create {
        key: String,
        value: Bytes,
    },
    Update {
        key: String,
        value: Bytes,
        expected: Revision,
    },
    Delete {
        key: String,
        expected: Option<Revision>,
    },
}

/// A message to the writer thread.
#[derive(Debug)]
pub(super) enum Request {
    Write {
        op: Op,
        reply: oneshot::Sender<Result<KeyValue, StoreError>>,
    },
    Compact {
        revision: Revision,
        reply: oneshot::Sender<Result<(), StoreError>>,
    },
    /// Takes and releases the write lock (`BEGIN IMMEDIATE; ROLLBACK`): answers only when the
    /// database would accept a write (health checks).
    Probe(oneshot::Sender<Result<(), StoreError>>),
    /// Blocks the writer until the sender side is used or dropped (tests: to queue requests
    /// into one batch).
    #[cfg(test)]
    Pause(std::sync::mpsc::Receiver<()>),
    /// Makes the next batch fail instead of committing (tests).
    #[cfg(test)]
    FailNextCommit,
}

/// State the writer shares with the backend handle.
#[derive(Debug, Default)]
pub(super) struct Shared {
    /// The last committed revision.
    pub(super) revision: AtomicI64,
    /// The compaction point.
    pub(super) compacted: AtomicI64,
    /// Committed write transactions (batches).
    pub(super) commits: AtomicU64,
    /// Committed writes.
    pub(super) writes: AtomicU64,
    /// Whether pruning of the history up to the compaction point is still in progress.
    pub(super) compacting: AtomicBool,
    /// A write probe is queued or running (one at a time, so a stalled database does not
    /// collect a queue of them).
    pub(super) probing: AtomicBool,
    /// Whether the last write probe succeeded.
    pub(super) probe_ok: AtomicBool,
}

impl Shared {
    pub(super) fn new(meta: Meta) -> Self {
        Self {
            revision: AtomicI64::new(meta.revision),
            compacted: AtomicI64::new(meta.compacted),
            commits: AtomicU64::new(0),
            writes: AtomicU64::new(0),
            compacting: AtomicBool::new(meta.compact_done < meta.compacted),
            probing: AtomicBool::new(false),
            probe_ok: AtomicBool::new(true),
        }
    }
}

enum Item {
    Write(Op),
    Compact(Revision),
}

enum Reply {
    Write(oneshot::Sender<Result<KeyValue, StoreError>>),
    Compact(oneshot::Sender<Result<(), StoreError>>),
}

enum Outcome {
    Write(Result<KeyValue, StoreError>),
    Compact(Result<(), StoreError>),
}

impl Reply {
    fn send(self, outcome: Outcome) {
        // A requester that went away does not care about its answer.
        match (self, outcome) {
            (Reply::Write(tx), Outcome::Write(result)) => {
                let _ = tx.send(result);
            }
            (Reply::Compact(tx), Outcome::Compact(result)) => {
                let _ = tx.send(result);
            }
            (Reply::Write(tx), Outcome::Compact(_)) => {
                let _ = tx.send(Err(StoreError::Backend("mismatched writer reply".into())));
            }
            (Reply::Compact(tx), Outcome::Write(_)) => {
                let _ = tx.send(Err(StoreError::Backend("mismatched writer reply".into())));
            }
        }
    }

    fn fail(self, err: StoreError) {
        match self {
            Reply::Write(tx) => {
                let _ = tx.send(Err(err));
            }
            Reply::Compact(tx) => {
                let _ = tx.send(Err(err));
            }
        }
    }
}

/// What a committed batch did.
struct Committed {
    outcomes: Vec<Outcome>,
    events: Vec<Event>,
    revision: Revision,
    compacted: Revision,
}

/// Writer tuning.
#[derive(Clone, Copy, Debug)]
pub(super) struct WriterConfig {
    pub(super) max_batch: usize,
    pub(super) compact_chunk: usize,
}

/// The writer thread's state.
pub(super) struct Writer {
    conn: Connection,
    shared: Arc<Shared>,
    events: broadcast::Sender<EventBatch>,
    revision: Revision,
    compacted: Revision,
    compact_done: Revision,
    compacting: bool,
    config: WriterConfig,
    #[cfg(test)]
    fail_next_commit: bool,
}

impl Writer {
    pub(super) fn new(
        conn: Connection,
        shared: Arc<Shared>,
        events: broadcast::Sender<EventBatch>,
        meta: Meta,
        config: WriterConfig,
    ) -> Self {
        Self {
            conn,
            shared,
            events,
            revision: meta.revision,
            compacted: meta.compacted,
            compact_done: meta.compact_done,
            compacting: meta.compact_done < meta.compacted,
            config: WriterConfig {
                max_batch: config.max_batch.max(1),
                compact_chunk: config.compact_chunk.max(1),
            },
            #[cfg(test)]
            fail_next_commit: false,
        }
    }

    /// Serves requests until every sender is gone and the queue is drained.
    pub(super) fn run(mut self, mut rx: mpsc::UnboundedReceiver<Request>) {
        tracing::debug!(revision = self.revision, "sqlite writer started");
        loop {
            let mut batch = Vec::new();
            let mut disconnected = false;
            if !self.compacting {
                match rx.blocking_recv() {
                    Some(req) => self.accept(req, &mut batch),
                    None => break,
                }
            }
            while batch.len() < self.config.max_batch {
                match rx.try_recv() {
                    Ok(req) => self.accept(req, &mut batch),
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => {
                        disconnected = true;
                        break;
                    }
                }
            }
            if !batch.is_empty() {
                self.apply_batch(batch);
            }
            if disconnected {
                break;
            }
            if self.compacting {
                self.compact_step();
            }
        }
        tracing::debug!(revision = self.revision, "sqlite writer stopped");
    }

    fn accept(&mut self, req: Request, batch: &mut Vec<(Item, Reply)>) {
        match req {
            Request::Write { op, reply } => batch.push((Item::Write(op), Reply::Write(reply))),
            Request::Compact { revision, reply } => {
                batch.push((Item::Compact(revision), Reply::Compact(reply)));
            }
            Request::Probe(reply) => {
                let r = self
                    .conn
                    .execute_batch("BEGIN IMMEDIATE; ROLLBACK;")
                    .map_err(|e| StoreError::Backend(format!("write probe: {e}")));
                if r.is_err() && !self.conn.is_autocommit() {
                    let _ = self.conn.execute_batch("ROLLBACK;");
                }
                self.shared.probe_ok.store(r.is_ok(), Ordering::SeqCst);
                self.shared.probing.store(false, Ordering::SeqCst);
                let _ = reply.send(r);
            }
            #[cfg(test)]
            Request::Pause(resume) => {
                let _ = resume.recv();
            }
            #[cfg(test)]
            Request::FailNextCommit => self.fail_next_commit = true,
        }
    }

    #[cfg(test)]
    fn take_fail(&mut self) -> bool {
        std::mem::take(&mut self.fail_next_commit)
    }

    #[cfg(not(test))]
    fn take_fail(&mut self) -> bool {
        false
    }

    fn apply_batch(&mut self, batch: Vec<(Item, Reply)>) {
        let (items, replies): (Vec<Item>, Vec<Reply>) = batch.into_iter().unzip();
        let fail = self.take_fail();
        match execute(&mut self.conn, &items, self.revision, self.compacted, fail) {
            Ok(done) => {
                let writes = done.revision - self.revision;
                self.revision = done.revision;
                self.shared.revision.store(done.revision, Ordering::SeqCst);
                if done.compacted != self.compacted {
                    tracing::info!(
                        from = self.compacted,
                        to = done.compacted,
                        "compacting the revision log"
                    );
                    self.compacted = done.compacted;
                    self.shared
                        .compacted
                        .store(done.compacted, Ordering::SeqCst);
                }
                if items.iter().any(|item| matches!(item, Item::Compact(_))) {
                    // Also restarts a compaction that stopped on an error.
                    self.compacting = self.compact_done < self.compacted;
                    self.shared
                        .compacting
                        .store(self.compacting, Ordering::SeqCst);
                }
                self.shared.commits.fetch_add(1, Ordering::Relaxed);
                self.shared
                    .writes
                    .fetch_add(u64::try_from(writes).unwrap_or(0), Ordering::Relaxed);
                tracing::trace!(
                    requests = items.len(),
                    writes,
                    revision = done.revision,
                    "committed a batch"
                );
                if !done.events.is_empty() {
                    // No watcher is not an error.
                    let _ = self.events.send(Arc::from(done.events));
                }
                for (reply, outcome) in replies.into_iter().zip(done.outcomes) {
                    reply.send(outcome);
                }
            }
            Err(e) => {
                tracing::error!(
                    error = %e,
                    requests = items.len(),
                    "sqlite write batch failed"
                );
                let err = StoreError::Backend(format!("sqlite: write failed: {e}"));
                for reply in replies {
                    reply.fail(err.clone());
                }
                self.resync();
            }
        }
    }

    /// Re-reads the counters from the database after a failed batch, in case it did reach it.
    fn resync(&mut self) {
        match read_meta(&self.conn) {
            Ok(meta) => {
                if meta.revision != self.revision {
                    tracing::warn!(
                        memory = self.revision,
                        database = meta.revision,
                        "revision counter resynchronised from the database"
                    );
                }
                self.revision = meta.revision;
                self.compacted = meta.compacted;
                self.compact_done = meta.compact_done;
                self.shared.revision.store(meta.revision, Ordering::SeqCst);
                self.shared
                    .compacted
                    .store(meta.compacted, Ordering::SeqCst);
            }
            Err(e) => tracing::error!(error = %e, "reading sqlite metadata failed"),
        }
    }

    /// Prunes one chunk of history.
    fn compact_step(&mut self) {
        match compact_chunk(
            &mut self.conn,
            self.compact_done,
            self.compacted,
            self.config.compact_chunk,
        ) {
            Ok(done) => {
                self.compact_done = done;
                if done >= self.compacted {
                    self.compacting = false;
                    self.shared.compacting.store(false, Ordering::SeqCst);
                    tracing::info!(revision = done, "revision log compacted");
                }
            }
            Err(e) => {
                // Retried on the next compact request (or the next open).
                tracing::error!(error = %e, "sqlite compaction step failed");
                self.compacting = false;
                self.shared.compacting.store(false, Ordering::SeqCst);
            }
        }
    }
}

fn injected_failure() -> rusqlite::Error {
    rusqlite::Error::ToSqlConversionFailure(Box::new(std::io::Error::other(
        "injected commit failure",
    )))
}

/// Applies a batch in one transaction and commits it.
fn execute(
    conn: &mut Connection,
    items: &[Item],
    revision: Revision,
    compacted: Revision,
    fail: bool,
) -> rusqlite::Result<Committed> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut next = Committed {
        outcomes: Vec::with_capacity(items.len()),
        events: Vec::new(),
        revision,
        compacted,
    };
    for item in items {
        match item {
            Item::Write(op) => match apply_op(&tx, next.revision + 1, op)? {
                Ok(event) => {
                    next.revision += 1;
                    next.outcomes.push(Outcome::Write(Ok(event.kv.clone())));
                    next.events.push(event);
                }
                Err(e) => next.outcomes.push(Outcome::Write(Err(e))),
            },
            Item::Compact(target) => {
                let result = if *target > next.revision {
                    Err(StoreError::FutureRevision {
                        requested: *target,
                        current: next.revision,
                    })
                } else {
                    next.compacted = next.compacted.max(*target);
                    Ok(())
                };
                next.outcomes.push(Outcome::Compact(result));
            }
        }
    }
    if next.revision != revision {
        tx.prepare_cached("UPDATE meta SET value = ?1 WHERE name = 'revision'")?
            .execute([next.revision])?;
    }
    if next.compacted != compacted {
        tx.prepare_cached("UPDATE meta SET value = ?1 WHERE name = 'compacted'")?
            .execute([next.compacted])?;
    }
    if fail {
        return Err(injected_failure());
    }
    tx.commit()?;
    Ok(next)
}

/// The current row of a key: value, create_revision, mod_revision.
fn current(
    tx: &Transaction<'_>,
    key: &str,
) -> rusqlite::Result<Option<(Bytes, Revision, Revision)>> {
    tx.prepare_cached("SELECT value, create_revision, mod_revision FROM kv WHERE key = ?1")?
        .query_row([key], |row| {
            Ok((
                Bytes::from(row.get::<_, Vec<u8>>(0)?),
                row.get(1)?,
                row.get(2)?,
            ))
        })
        .optional()
}

/// The revisions of a key's current row: create_revision, mod_revision.
fn current_revisions(
    tx: &Transaction<'_>,
    key: &str,
) -> rusqlite::Result<Option<(Revision, Revision)>> {
    tx.prepare_cached("SELECT create_revision, mod_revision FROM kv WHERE key = ?1")?
        .query_row([key], |row| Ok((row.get(0)?, row.get(1)?)))
        .optional()
}

fn append_log(
    tx: &Transaction<'_>,
    revision: Revision,
    key: &str,
    value: &[u8],
    create_revision: Revision,
    deleted: bool,
) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "INSERT INTO log (revision, key, value, create_revision, deleted)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![revision, key, value, create_revision, deleted])?;
    Ok(())
}

/// Applies one write at `revision`. The outer error is a database failure (the batch fails),
/// the inner one a failed precondition (only this write fails).
fn apply_op(
    tx: &Transaction<'_>,
    revision: Revision,
    op: &Op,
) -> rusqlite::Result<Result<Event, StoreError>> {
    match op {
        Op::Create { key, value } => {
            if current_revisions(tx, key)?.is_some() {
                return Ok(Err(StoreError::AlreadyExists(key.clone())));
            }
            tx.prepare_cached(
                "INSERT INTO kv (key, value, create_revision, mod_revision)
                 VALUES (?1, ?2, ?3, ?3)",
            )?
            .execute(params![key, &value[..], revision])?;
            append_log(tx, revision, key, value, revision, false)?;
            Ok(Ok(Event {
                kind: EventKind::Put,
                kv: KeyValue {
                    key: key.clone(),
                    value: value.clone(),
                    create_revision: revision,
                    mod_revision: revision,
                },
            }))
        }
        Op::Update {
            key,
            value,
            expected,
        } => {
            let Some((create_revision, mod_revision)) = current_revisions(tx, key)? else {
                return Ok(Err(StoreError::NotFound(key.clone())));
            };
            if mod_revision != *expected {
                return Ok(Err(StoreError::Conflict {
                    key: key.clone(),
                    expected: *expected,
                    current: mod_revision,
                }));
            }
            tx.prepare_cached("UPDATE kv SET value = ?2, mod_revision = ?3 WHERE key = ?1")?
                .execute(params![key, &value[..], revision])?;
            append_log(tx, revision, key, value, create_revision, false)?;
            Ok(Ok(Event {
                kind: EventKind::Put,
                kv: KeyValue {
                    key: key.clone(),
                    value: value.clone(),
                    create_revision,
                    mod_revision: revision,
                },
            }))
        }
        Op::Delete { key, expected } => {
            let Some((value, create_revision, mod_revision)) = current(tx, key)? else {
                return Ok(Err(StoreError::NotFound(key.clone())));
            };
            if let Some(expected) = expected
                && mod_revision != *expected
            {
                return Ok(Err(StoreError::Conflict {
                    key: key.clone(),
                    expected: *expected,
                    current: mod_revision,
                }));
            }
            tx.prepare_cached("DELETE FROM kv WHERE key = ?1")?
                .execute([key])?;
            append_log(tx, revision, key, &value, create_revision, true)?;
            Ok(Ok(Event {
                kind: EventKind::Delete,
                kv: KeyValue {
                    key: key.clone(),
                    value,
                    create_revision,
                    mod_revision: revision,
                },
            }))
        }
    }
}

/// Prunes the history for up to `chunk` log entries after `done` and at or before `target`, in
/// one transaction. Returns the new progress mark.
fn compact_chunk(
    conn: &mut Connection,
    done: Revision,
    target: Revision,
    chunk: usize,
) -> rusqlite::Result<Revision> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let limit = i64::try_from(chunk).unwrap_or(i64::MAX);
    let entries: Vec<(Revision, String, bool)> = tx
        .prepare_cached(
            "SELECT revision, key, deleted FROM log
             WHERE revision > ?1 AND revision <= ?2 ORDER BY revision LIMIT ?3",
        )?
        .query_map(params![done, target, limit], |row| {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?))
        })?
        .collect::<rusqlite::Result<_>>()?;
    let mut pruned = 0usize;
    {
        let mut older = tx.prepare_cached("DELETE FROM log WHERE key = ?1 AND revision < ?2")?;
        let mut this = tx.prepare_cached("DELETE FROM log WHERE revision = ?1")?;
        // Revision order matters: a key's older entries go before (or with) its tombstone, so
        // at no point does an older value become the latest one at the compaction point.
        for (revision, key, deleted) in &entries {
            pruned += older.execute(params![key, revision])?;
            if *deleted {
                pruned += this.execute([revision])?;
            }
        }
    }
    let progress = if entries.len() < chunk {
        target
    } else {
        entries.last().map_or(target, |entry| entry.0)
    };
    tx.prepare_cached("UPDATE meta SET value = ?1 WHERE name = 'compact_done'")?
        .execute([progress])?;
    tx.commit()?;
    tracing::debug!(
        scanned = entries.len(),
        pruned,
        progress,
        target,
        "compaction step"
    );
    Ok(progress)
}
