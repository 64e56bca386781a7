//! Read paths of the SQLite datastore, run on pooled read connections (WAL readers, which never
//! block the writer nor are blocked by it).
//!
//! Each read that must be consistent with a revision runs in one read transaction: the revision
//! it reports and the rows it returns come from the same WAL snapshot.

use std::ops::Bound;

use bytes::Bytes;
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::schema::{DbResult, read_meta};
use crate::memory::{lower_bound, read_revision};
use crate::{Event, EventKind, KeyValue, RangeRequest, RangeResult, Revision, StoreError};

/// The current value of a key.
pub(super) fn get(conn: &Connection, key: &str) -> Result<Option<KeyValue>, StoreError> {
    let mut stmt = conn
        .prepare_cached("SELECT key, value, create_revision, mod_revision FROM kv WHERE key = ?1")
        .db("preparing get")?;
    stmt.query_row([key], kv_from_row).optional().db("get")
}

fn kv_from_row(row: &Row<'_>) -> rusqlite::Result<KeyValue> {
    Ok(KeyValue {
        key: row.get(0)?,
        value: Bytes::from(row.get::<_, Vec<u8>>(1)?),
        create_revision: row.get(2)?,
        mod_revision: row.get(3)?,
    })
}

/// A range read at the current or a past revision.
pub(super) fn range(conn: &mut Connection, req: &RangeRequest) -> Result<RangeResult, StoreError> {
    let tx = conn.transaction().db("starting a read")?;
    let meta = read_meta(&tx).db("reading metadata")?;
    let at = read_revision(req.revision, meta.revision, meta.compacted)?;
    let limit = if req.limit == 0 {
        usize::MAX
    } else {
        req.limit
    };
    let (lower, exclusive) = match lower_bound(req) {
        Bound::Excluded(key) => (key, true),
        Bound::Included(key) => (key, false),
        Bound::Unbounded => (req.prefix.as_str(), false),
    };
    let mut kvs = Vec::new();
    let mut more = false;
    if at == meta.revision {
        let sql = if exclusive {
            "SELECT key, value, create_revision, mod_revision FROM kv WHERE key > ?1 ORDER BY key"
        } else {
            "SELECT key, value, create_revision, mod_revision FROM kv WHERE key >= ?1 ORDER BY key"
        };
        let mut stmt = tx.prepare_cached(sql).db("preparing range")?;
        let mut rows = stmt.query([lower]).db("range")?;
        while let Some(row) = rows.next().db("range")? {
            let key = row.get_ref(0).db("range")?;
            let key = key.as_str().map_err(|e| db_type(&e))?;
            if !key.starts_with(&req.prefix) {
                break;
            }
            if kvs.len() == limit {
                more = true;
                break;
            }
            kvs.push(kv_from_row(row).db("range")?);
        }
    } else {
        // Skip-scan the log's (key, revision) index: for each distinct key from the lower bound
        // on, its latest entry at or before `at`.
        let mut first_key = tx
            .prepare_cached(if exclusive {
                "SELECT key FROM log WHERE key > ?1 ORDER BY key LIMIT 1"
            } else {
                "SELECT key FROM log WHERE key >= ?1 ORDER BY key LIMIT 1"
            })
            .db("preparing range")?;
        let mut next_key = tx
            .prepare_cached("SELECT key FROM log WHERE key > ?1 ORDER BY key LIMIT 1")
            .db("preparing range")?;
        let mut entry_at = tx
            .prepare_cached(
                "SELECT value, create_revision, revision, deleted FROM log
                 WHERE key = ?1 AND revision <= ?2 ORDER BY revision DESC LIMIT 1",
            )
            .db("preparing range")?;
        let mut key: Option<String> = first_key
            .query_row([lower], |row| row.get(0))
            .optional()
            .db("range")?;
        while let Some(k) = key {
            if !k.starts_with(&req.prefix) {
                break;
            }
            let entry = entry_at
                .query_row(params![k, at], |row| {
                    Ok((
                        row.get::<_, Vec<u8>>(0)?,
                        row.get::<_, Revision>(1)?,
                        row.get::<_, Revision>(2)?,
                        row.get::<_, bool>(3)?,
                    ))
                })
                .optional()
                .db("range")?;
            if let Some((value, create_revision, mod_revision, false)) = entry {
                if kvs.len() == limit {
                    more = true;
                    break;
                }
                kvs.push(KeyValue {
                    key: k.clone(),
                    value: Bytes::from(value),
                    create_revision,
                    mod_revision,
                });
            }
            key = next_key
                .query_row([&k], |row| row.get(0))
                .optional()
                .db("range")?;
        }
    }
    Ok(RangeResult {
        kvs,
        more,
        revision: at,
    })
}

fn db_type(e: &rusqlite::types::FromSqlError) -> StoreError {
    StoreError::Backend(format!("sqlite: unexpected column type: {e}"))
}

/// One page of a watch's replay of the log.
#[derive(Debug)]
pub(super) struct ReplayPage {
    /// Events under the prefix, in revision order.
    pub(super) events: Vec<Event>,
    /// The last revision scanned (the next page starts after it).
    pub(super) cursor: Revision,
    /// Whether the log was read to its end.
    pub(super) done: bool,
    /// The current revision of the snapshot the page was read from.
    pub(super) revision: Revision,
}

/// Reads up to `page` log entries after revision `after`, keeping those under `prefix`. Fails
/// with [`StoreError::Compacted`] if entries after `after` may have been compacted away.
pub(super) fn replay_page(
    conn: &mut Connection,
    prefix: &str,
    after: Revision,
    page: usize,
) -> Result<ReplayPage, StoreError> {
    let tx = conn.transaction().db("starting a read")?;
    let meta = read_meta(&tx).db("reading metadata")?;
    if after < meta.compacted {
        return Err(StoreError::Compacted {
            requested: after,
            compacted: meta.compacted,
        });
    }
    let mut stmt = tx
        .prepare_cached(
            "SELECT revision, key, value, create_revision, deleted FROM log
             WHERE revision > ?1 ORDER BY revision LIMIT ?2",
        )
        .db("preparing watch replay")?;
    let limit = i64::try_from(page.max(1)).unwrap_or(i64::MAX);
    let mut rows = stmt.query(params![after, limit]).db("watch replay")?;
    let mut events = Vec::new();
    let mut cursor = after;
    let mut scanned = 0usize;
    while let Some(row) = rows.next().db("watch replay")? {
        scanned += 1;
        cursor = row.get(0).db("watch replay")?;
        // Only the keys under the prefix are decoded fully (values are read lazily).
        let key = row.get_ref(1).db("watch replay")?;
        let key = key.as_str().map_err(|e| db_type(&e))?;
        if !key.starts_with(prefix) {
            continue;
        }
        let deleted: bool = row.get(4).db("watch replay")?;
        events.push(Event {
            kind: if deleted {
                EventKind::Delete
            } else {
                EventKind::Put
            },
            kv: KeyValue {
                key: key.to_owned(),
                value: Bytes::from(row.get::<_, Vec<u8>>(2).db("watch replay")?),
                create_revision: row.get(3).db("watch replay")?,
                mod_revision: cursor,
            },
        });
    }
    Ok(ReplayPage {
        events,
        cursor,
        done: scanned < page.max(1),
        revision: meta.revision,
    })
}

/// The number of rows in the revision log.
#[cfg(test)]
pub(super) fn log_len(conn: &Connection) -> Result<i64, StoreError> {
    conn.query_row("SELECT count(*) FROM log", [], |row| row.get(0))
        .db("counting the log")
}
