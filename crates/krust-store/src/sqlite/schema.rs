//! Connection setup, schema and metadata of the SQLite datastore.
//!
//! Tables:
//! - `kv`: the current state, one row per live key (`key` primary key, `value`,
//!   `create_revision`, `mod_revision`);
//! - `log`: the append-only revision log, one row per write (`revision` primary key, `key`,
//!   `value`, `create_revision`, `deleted`); a deletion stores the key's last value so replayed
//!   DELETE events carry it. Indexed on `(key, revision)` for reads at past revisions and
//!   compaction;
//! - `meta`: `schema_version`, `revision` (the last committed revision, 1 for an empty store),
//!   `compacted` (reads before it fail) and `compact_done` (how far the history up to
//!   `compacted` has actually been pruned; compaction resumes from there after a restart).

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, TransactionBehavior};

use crate::{Revision, StoreError};

/// The layout version this code reads and writes.
pub(super) const SCHEMA_VERSION: i64 = 1;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (
    name  TEXT PRIMARY KEY,
    value INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS kv (
    key             TEXT PRIMARY KEY,
    value           BLOB NOT NULL,
    create_revision INTEGER NOT NULL,
    mod_revision    INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS log (
    revision        INTEGER PRIMARY KEY,
    key             TEXT NOT NULL,
    value           BLOB NOT NULL,
    create_revision INTEGER NOT NULL,
    deleted         INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS log_key_revision ON log (key, revision);
INSERT OR IGNORE INTO meta (name, value) VALUES
    ('schema_version', 1),
    ('revision', 1),
    ('compacted', 0),
    ('compact_done', 0);
";

/// Turns SQLite failures into [`StoreError::Backend`] with some context.
pub(super) trait DbResult<T> {
    fn db(self, what: &str) -> Result<T, StoreError>;
}

impl<T> DbResult<T> for rusqlite::Result<T> {
    fn db(self, what: &str) -> Result<T, StoreError> {
        self.map_err(|e| StoreError::Backend(format!("sqlite: {what}: {e}")))
    }
}

/// The `meta` table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Meta {
    pub(super) revision: Revision,
    pub(super) compacted: Revision,
    pub(super) compact_done: Revision,
}

/// Reads the `meta` table (inside the caller's transaction, if any).
pub(super) fn read_meta(conn: &Connection) -> rusqlite::Result<Meta> {
    let mut stmt = conn.prepare_cached(
        "SELECT (SELECT value FROM meta WHERE name = 'revision'),
                (SELECT value FROM meta WHERE name = 'compacted'),
                (SELECT value FROM meta WHERE name = 'compact_done')",
    )?;
    stmt.query_row([], |row| {
        Ok(Meta {
            revision: row.get(0)?,
            compacted: row.get(1)?,
            compact_done: row.get(2)?,
        })
    })
}

/// Opens (creating it if needed) the database for the writer: WAL, `synchronous=FULL` so that
/// an acknowledged commit survives a crash or power loss, and a busy timeout.
pub(super) fn open_writer(path: &Path, busy_timeout: Duration) -> Result<Connection, StoreError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn =
        Connection::open_with_flags(path, flags).db(&format!("opening {}", path.display()))?;
    conn.busy_timeout(busy_timeout).db("setting busy_timeout")?;
    let mode: String = conn
        .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
        .db("enabling WAL")?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::Backend(format!(
            "sqlite: {} does not support WAL (journal mode {mode})",
            path.display()
        )));
    }
    conn.pragma_update(None, "synchronous", "FULL")
        .db("setting synchronous=FULL")?;
    conn.set_prepared_statement_cache_capacity(32);
    Ok(conn)
}

/// Opens a read connection on an existing database.
pub(super) fn open_reader(path: &Path, busy_timeout: Duration) -> Result<Connection, StoreError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags)
        .db(&format!("opening {} for reading", path.display()))?;
    conn.busy_timeout(busy_timeout).db("setting busy_timeout")?;
    conn.pragma_update(None, "query_only", true)
        .db("setting query_only")?;
    conn.set_prepared_statement_cache_capacity(32);
    Ok(conn)
}

/// Creates the schema if needed, checks its version and returns the metadata.
pub(super) fn init(conn: &mut Connection) -> Result<Meta, StoreError> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .db("starting the schema transaction")?;
    tx.execute_batch(SCHEMA).db("creating the schema")?;
    let version: i64 = tx
        .query_row(
            "SELECT value FROM meta WHERE name = 'schema_version'",
            [],
            |row| row.get(0),
        )
        .db("reading the schema version")?;
    if version != SCHEMA_VERSION {
        return Err(StoreError::Backend(format!(
            "sqlite: unsupported schema version {version} (expected {SCHEMA_VERSION})"
        )));
    }
    let meta = read_meta(&tx).db("reading metadata")?;
    tx.commit().db("committing the schema")?;
    Ok(meta)
}
