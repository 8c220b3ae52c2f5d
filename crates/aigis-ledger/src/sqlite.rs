//! The embedded store: one SQLite file in WAL mode with `synchronous=FULL`, so a commit
//! that returned is on disk. Appends take the write lock (`BEGIN IMMEDIATE`) before
//! reading the tree size, which is what keeps two processes from sharing an index.

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use aigis_core::Digest;
use rusqlite::{Connection, OpenFlags, OptionalExtension, TransactionBehavior, params};

use crate::store::{EntryRecord, NewEntry, Query, Store, StoredCheckpoint};
use crate::{Error, Hash};

const SCHEMA_VERSION: i64 = 1;

// `entries` carries each entry's subject digests (32 bytes each, concatenated) so the
// lookup tables `subjects` and `types` can be rebuilt from it. Those tables are not written
// on the append path: a random-key index insert dirties one page per row in every commit
// (measured: 50 µs an append with it, 9.5 µs without). Queries bring them up to date first,
// in one sorted batch (`catch_up_index`); `meta.indexed_size` says how far they reach.
const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS entries (
    idx INTEGER PRIMARY KEY,
    recorded_at_ms INTEGER NOT NULL,
    predicate_type TEXT NOT NULL,
    subjects BLOB NOT NULL,
    body BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS subjects (
    digest BLOB NOT NULL,
    idx INTEGER NOT NULL,
    PRIMARY KEY (digest, idx)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS types (
    predicate_type TEXT NOT NULL,
    idx INTEGER NOT NULL,
    PRIMARY KEY (predicate_type, idx)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS hashes (id INTEGER PRIMARY KEY, hash BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS entry_times (
    idx INTEGER PRIMARY KEY,
    key_id TEXT NOT NULL,
    sig BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS checkpoints (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tree_size INTEGER NOT NULL,
    created_at_ms INTEGER NOT NULL,
    note BLOB NOT NULL
);
INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', 1), ('tree_size', 0), ('indexed_size', 0);
";

/// A ledger in one SQLite file.
#[derive(Debug)]
pub struct SqliteStore {
    path: PathBuf,
    writer: Mutex<Connection>,
    reader: Mutex<Connection>,
    /// Backfills the WAL ([`Store::backfill`]); opened at its first use.
    backfiller: Mutex<Option<Connection>>,
}

impl SqliteStore {
    /// Opens the ledger at `path`, creating it if `create` is set.
    pub fn open(path: &Path, create: bool) -> Result<Self, Error> {
        if !create && !path.exists() {
            return Err(Error::NoLedger { path: path.into() });
        }
        let db = |source| Error::Database {
            path: path.into(),
            source,
        };
        let writer = connect(path, create).map_err(db)?;
        writer.execute_batch(SCHEMA).map_err(db)?;
        let version: i64 = writer
            .query_row(
                "SELECT value FROM meta WHERE key = 'schema_version'",
                [],
                |r| r.get(0),
            )
            .map_err(db)?;
        if version != SCHEMA_VERSION {
            return Err(Error::Corrupt(format!(
                "`{}` has ledger schema version {version}; this aigis reads version {SCHEMA_VERSION}",
                path.display()
            )));
        }
        let reader = connect(path, false).map_err(db)?;
        Ok(Self {
            path: path.into(),
            writer: Mutex::new(writer),
            reader: Mutex::new(reader),
            backfiller: Mutex::new(None),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn db(&self, source: rusqlite::Error) -> Error {
        Error::Database {
            path: self.path.clone(),
            source,
        }
    }

    fn read<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Result<T, Error> {
        let conn = self.reader.lock().map_err(|_| Error::Poisoned)?;
        f(&conn).map_err(|e| self.db(e))
    }
}

const BUSY_TIMEOUT: Duration = Duration::from_secs(60);

fn retry_busy<T>(mut f: impl FnMut() -> rusqlite::Result<T>) -> rusqlite::Result<T> {
    let started = std::time::Instant::now();
    let mut pause = Duration::from_millis(1);
    loop {
        match f() {
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::DatabaseBusy
                    && started.elapsed() < BUSY_TIMEOUT =>
            {
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(50));
            }
            other => return other,
        }
    }
}

fn connect(path: &Path, create: bool) -> rusqlite::Result<Connection> {
    let mut flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    if create {
        flags |= OpenFlags::SQLITE_OPEN_CREATE;
    }
    let conn = Connection::open_with_flags(path, flags)?;
    // Another process may hold the write lock for a batch; wait rather than fail.
    conn.busy_timeout(BUSY_TIMEOUT)?;
    // Switching a new file to WAL needs an exclusive lock and SQLite does not call the busy
    // handler for it, so two processes creating one ledger at once retry here instead.
    retry_busy(|| conn.pragma_update(None, "journal_mode", "WAL"))?;
    // FULL: the WAL is synced at every commit, so an acknowledged append survives a crash
    // or power loss (NORMAL would only survive a process crash).
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "OFF")?;
    // Checkpoint the WAL into the database every 64 MiB rather than every 4 MiB: each
    // checkpoint costs the appender that triggers it extra fsyncs. A long-lived ledger
    // backfills it from another thread as it goes (`Store::backfill`), so the appender that
    // reaches 64 MiB has only the last frames left to copy before the WAL starts over.
    conn.pragma_update(None, "wal_autocheckpoint", 16384)?;
    Ok(conn)
}

/// Subject digests as stored in `entries.subjects`: 32-byte digests, concatenated.
fn subject_blob(subjects: &[Digest]) -> Vec<u8> {
    subjects
        .iter()
        .flat_map(|d| d.as_bytes().iter().copied())
        .collect()
}

fn parse_subject_blob(idx: i64, blob: &[u8]) -> Result<Vec<Digest>, Error> {
    let chunks = blob.chunks_exact(32);
    if !chunks.remainder().is_empty() {
        return Err(Error::Corrupt(format!(
            "entry {idx}: the subject list is {} bytes, not a multiple of 32",
            blob.len()
        )));
    }
    Ok(chunks
        .filter_map(|c| <[u8; 32]>::try_from(c).ok().map(Digest::from_bytes))
        .collect())
}

fn hash_from_blob(id: u64, blob: &[u8]) -> Result<Hash, Error> {
    <[u8; 32]>::try_from(blob)
        .map(Hash)
        .map_err(|_| Error::Corrupt(format!("stored hash {id} is {} bytes, not 32", blob.len())))
}

fn to_i64(n: u64) -> Result<i64, Error> {
    i64::try_from(n).map_err(|_| Error::Corrupt(format!("index {n} is out of range")))
}

/// Reads earlier hashes during an append: the batch's own new hashes from memory, older
/// ones from the open transaction.
struct BatchReader<'a, 'c> {
    base: u64,
    fresh: &'a [Hash],
    stmt: &'a RefCell<rusqlite::CachedStatement<'c>>,
    failure: &'a RefCell<Option<rusqlite::Error>>,
}

impl tlog_tiles::HashReader for BatchReader<'_, '_> {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, tlog_tiles::Error> {
        let mut out = Vec::with_capacity(indexes.len());
        for &id in indexes {
            if id >= self.base {
                let i = usize::try_from(id - self.base).map_err(|_| tlog_tiles::Error::BadMath)?;
                out.push(
                    *self
                        .fresh
                        .get(i)
                        .ok_or(tlog_tiles::Error::IndexesNotInTree)?,
                );
                continue;
            }
            let got: rusqlite::Result<Vec<u8>> = i64::try_from(id)
                .map_err(|_| rusqlite::Error::IntegralValueOutOfRange(0, 0))
                .and_then(|id| self.stmt.borrow_mut().query_row([id], |r| r.get(0)));
            match got {
                Ok(blob) => out.push(
                    <[u8; 32]>::try_from(blob.as_slice())
                        .map(Hash)
                        .map_err(|_| tlog_tiles::Error::MalformedHash)?,
                ),
                Err(e) => {
                    *self.failure.borrow_mut() = Some(e);
                    return Err(tlog_tiles::Error::IndexesNotInTree);
                }
            }
        }
        Ok(out)
    }
}

impl Store for SqliteStore {
    fn append(&self, batch: &[NewEntry]) -> Result<u64, Error> {
        let mut conn = self.writer.lock().map_err(|_| Error::Poisoned)?;
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| self.db(e))?;
        let size: i64 = tx
            .query_row("SELECT value FROM meta WHERE key = 'tree_size'", [], |r| {
                r.get(0)
            })
            .map_err(|e| self.db(e))?;
        let size = u64::try_from(size).map_err(|_| Error::Corrupt("negative tree size".into()))?;
        let base = tlog_tiles::stored_hash_index(0, size);
        let mut fresh: Vec<Hash> = Vec::with_capacity(batch.len() * 2);
        {
            let mut ins_entry = tx
                .prepare_cached(
                    "INSERT INTO entries (idx, recorded_at_ms, predicate_type, subjects, body) VALUES (?1, ?2, ?3, ?4, ?5)",
                )
                .map_err(|e| self.db(e))?;
            let mut ins_hash = tx
                .prepare_cached("INSERT INTO hashes (id, hash) VALUES (?1, ?2)")
                .map_err(|e| self.db(e))?;
            let mut ins_time = tx
                .prepare_cached("INSERT INTO entry_times (idx, key_id, sig) VALUES (?1, ?2, ?3)")
                .map_err(|e| self.db(e))?;
            let stmt = RefCell::new(
                tx.prepare_cached("SELECT hash FROM hashes WHERE id = ?1")
                    .map_err(|e| self.db(e))?,
            );
            let failure = RefCell::new(None);
            for (i, entry) in (size..).zip(batch) {
                let reader = BatchReader {
                    base,
                    fresh: &fresh,
                    stmt: &stmt,
                    failure: &failure,
                };
                let hashes = tlog_tiles::stored_hashes_for_record_hash(i, entry.leaf_hash, &reader)
                    .map_err(|e| match failure.take() {
                        Some(db) => self.db(db),
                        None => Error::Tree(e),
                    })?;
                let idx = to_i64(i)?;
                ins_entry
                    .execute(params![
                        idx,
                        entry.recorded_at_ms,
                        entry.predicate_type,
                        subject_blob(&entry.subjects),
                        entry.body
                    ])
                    .map_err(|e| self.db(e))?;
                if let Some(t) = &entry.time {
                    ins_time
                        .execute(params![idx, t.key_id, t.sig])
                        .map_err(|e| self.db(e))?;
                }
                for h in hashes {
                    let id = to_i64(base + fresh.len() as u64)?;
                    ins_hash
                        .execute(params![id, &h.0[..]])
                        .map_err(|e| self.db(e))?;
                    fresh.push(h);
                }
            }
        }
        let new_size = to_i64(size + batch.len() as u64)?;
        tx.execute(
            "UPDATE meta SET value = ?1 WHERE key = 'tree_size'",
            [new_size],
        )
        .map_err(|e| self.db(e))?;
        tx.commit().map_err(|e| self.db(e))?;
        Ok(size)
    }

    fn tree_size(&self) -> Result<u64, Error> {
        let size: i64 = self.read(|c| {
            c.query_row("SELECT value FROM meta WHERE key = 'tree_size'", [], |r| {
                r.get(0)
            })
        })?;
        u64::try_from(size).map_err(|_| Error::Corrupt("negative tree size".into()))
    }

    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, Error> {
        let conn = self.reader.lock().map_err(|_| Error::Poisoned)?;
        let mut stmt = conn
            .prepare_cached("SELECT hash FROM hashes WHERE id = ?1")
            .map_err(|e| self.db(e))?;
        indexes
            .iter()
            .map(|&id| {
                let blob: Option<Vec<u8>> = stmt
                    .query_row([to_i64(id)?], |r| r.get(0))
                    .optional()
                    .map_err(|e| self.db(e))?;
                let blob = blob.ok_or_else(|| {
                    Error::Corrupt(format!("stored hash {id} is missing from the ledger"))
                })?;
                hash_from_blob(id, &blob)
            })
            .collect()
    }

    fn hashes_range(&self, from: u64, to: u64) -> Result<Vec<(u64, Hash)>, Error> {
        self.blob_range(
            "SELECT id, hash FROM hashes WHERE id >= ?1 AND id < ?2 ORDER BY id",
            from,
            to,
        )?
        .into_iter()
        .map(|(id, blob)| Ok((id, hash_from_blob(id, &blob)?)))
        .collect()
    }

    fn bodies_range(&self, from: u64, to: u64) -> Result<Vec<(u64, Vec<u8>)>, Error> {
        self.blob_range(
            "SELECT idx, body FROM entries WHERE idx >= ?1 AND idx < ?2 ORDER BY idx",
            from,
            to,
        )
    }

    fn times_range(
        &self,
        from: u64,
        to: u64,
    ) -> Result<Vec<(u64, i64, Option<crate::time::TimeSignature>)>, Error> {
        type Row = (i64, i64, Option<String>, Option<Vec<u8>>);
        let bound = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        let rows: Vec<Row> = self.read(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT e.idx, e.recorded_at_ms, t.key_id, t.sig FROM entries e
                 LEFT JOIN entry_times t ON t.idx = e.idx
                 WHERE e.idx >= ?1 AND e.idx < ?2 ORDER BY e.idx",
            )?;
            let rows = stmt.query_map([bound(from), bound(to)], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })?;
            rows.collect()
        })?;
        rows.into_iter()
            .map(|(idx, at, key_id, sig)| {
                let idx = u64::try_from(idx)
                    .map_err(|_| Error::Corrupt("negative entry index".into()))?;
                let time = key_id
                    .zip(sig)
                    .map(|(key_id, sig)| crate::time::TimeSignature { key_id, sig });
                Ok((idx, at, time))
            })
            .collect()
    }

    fn tree_size_and_rows_past(&self) -> Result<(u64, u64), Error> {
        // One statement is one snapshot: appends in between cannot split the two numbers.
        let (size, past): (i64, i64) = self.read(|c| {
            c.query_row(
                "SELECT m.value, (SELECT count(*) FROM entries WHERE idx >= m.value OR idx < 0)
                 FROM meta m WHERE m.key = 'tree_size'",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
        })?;
        let size = u64::try_from(size).map_err(|_| Error::Corrupt("negative tree size".into()))?;
        Ok((size, u64::try_from(past).unwrap_or(0)))
    }

    fn entry(&self, index: u64) -> Result<Option<EntryRecord>, Error> {
        let mut found = self.select("WHERE e.idx = ?1", &[&to_i64(index)?])?;
        Ok(found.pop())
    }

    fn query(&self, q: &Query) -> Result<Vec<EntryRecord>, Error> {
        if q.subject.is_some() || q.predicate_type.is_some() {
            self.catch_up_index()?;
        }
        let mut clauses = Vec::new();
        let mut args: Vec<Box<dyn rusqlite::ToSql>> = Vec::new();
        if let Some(d) = &q.subject {
            args.push(Box::new(d.as_bytes().to_vec()));
            clauses.push(format!(
                "e.idx IN (SELECT idx FROM subjects WHERE digest = ?{})",
                args.len()
            ));
        }
        if let Some(p) = &q.predicate_type {
            args.push(Box::new(p.clone()));
            clauses.push(format!(
                "e.idx IN (SELECT idx FROM types WHERE predicate_type = ?{})",
                args.len()
            ));
        }
        if let Some(t) = q.since_ms {
            args.push(Box::new(t));
            clauses.push(format!("e.recorded_at_ms >= ?{}", args.len()));
        }
        if let Some(t) = q.until_ms {
            args.push(Box::new(t));
            clauses.push(format!("e.recorded_at_ms < ?{}", args.len()));
        }
        if let Some(i) = q.after_index {
            args.push(Box::new(to_i64(i)?));
            clauses.push(format!("e.idx > ?{}", args.len()));
        }
        let mut sql = String::new();
        if !clauses.is_empty() {
            sql.push_str("WHERE ");
            sql.push_str(&clauses.join(" AND "));
        }
        sql.push_str(if q.newest_first {
            " ORDER BY e.idx DESC"
        } else {
            " ORDER BY e.idx"
        });
        if let Some(limit) = q.limit {
            sql.push_str(&format!(" LIMIT {limit}"));
        }
        let refs: Vec<&dyn rusqlite::ToSql> = args.iter().map(|a| a.as_ref()).collect();
        self.select(&sql, &refs)
    }

    fn add_checkpoint(&self, tree_size: u64, note: &[u8], created_at_ms: i64) -> Result<(), Error> {
        let conn = self.writer.lock().map_err(|_| Error::Poisoned)?;
        conn.execute(
            "INSERT INTO checkpoints (tree_size, created_at_ms, note) VALUES (?1, ?2, ?3)",
            params![to_i64(tree_size)?, created_at_ms, note],
        )
        .map_err(|e| self.db(e))?;
        Ok(())
    }

    /// A PASSIVE checkpoint on a connection of its own: it copies what it can and never
    /// waits for, or blocks, the writer or a reader. Without it the appender that brings
    /// the WAL to 64 MiB copies all of it and syncs the database file inside its commit,
    /// and every call waiting on that commit waits too (measured with `aigis serve`: a p99
    /// of 11 ms at one connection, 1 ms with the copy moved off the commit).
    fn backfill(&self) -> Result<(), Error> {
        let mut conn = self.backfiller.lock().map_err(|_| Error::Poisoned)?;
        if conn.is_none() {
            *conn = Some(connect(&self.path, false).map_err(|e| self.db(e))?);
        }
        let Some(conn) = conn.as_ref() else {
            return Ok(());
        };
        conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
            .map_err(|e| self.db(e))
    }

    fn checkpoints(&self) -> Result<Vec<StoredCheckpoint>, Error> {
        let rows: Vec<(i64, i64, i64, Vec<u8>)> = self.read(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT id, tree_size, created_at_ms, note FROM checkpoints ORDER BY tree_size, id",
            )?;
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?;
            rows.collect()
        })?;
        rows.into_iter()
            .map(|(id, size, at, note)| {
                Ok(StoredCheckpoint {
                    id,
                    tree_size: u64::try_from(size).map_err(|_| {
                        Error::Corrupt(format!("checkpoint {id} has a negative size"))
                    })?,
                    created_at_ms: at,
                    note,
                })
            })
            .collect()
    }
}

impl SqliteStore {
    /// Brings the `subjects` and `types` lookup tables up to the tree size, in one
    /// transaction, inserting in key order so each B-tree page is written once.
    fn catch_up_index(&self) -> Result<(), Error> {
        let mut conn = self.writer.lock().map_err(|_| Error::Poisoned)?;
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| self.db(e))?;
        let meta = |key: &str| -> rusqlite::Result<i64> {
            tx.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
        };
        let (from, size) = (
            meta("indexed_size").map_err(|e| self.db(e))?,
            meta("tree_size").map_err(|e| self.db(e))?,
        );
        if from >= size {
            return Ok(());
        }
        let mut by_subject: Vec<(Vec<u8>, i64)> = Vec::new();
        let mut by_type: Vec<(String, i64)> = Vec::new();
        {
            let mut stmt = tx
                .prepare("SELECT idx, predicate_type, subjects FROM entries WHERE idx >= ?1 AND idx < ?2")
                .map_err(|e| self.db(e))?;
            let mut rows = stmt.query([from, size]).map_err(|e| self.db(e))?;
            while let Some(row) = rows.next().map_err(|e| self.db(e))? {
                let idx: i64 = row.get(0).map_err(|e| self.db(e))?;
                by_type.push((row.get(1).map_err(|e| self.db(e))?, idx));
                let blob: Vec<u8> = row.get(2).map_err(|e| self.db(e))?;
                for d in parse_subject_blob(idx, &blob)? {
                    by_subject.push((d.as_bytes().to_vec(), idx));
                }
            }
        }
        by_subject.sort_unstable();
        by_type.sort_unstable();
        {
            let mut ins = tx
                .prepare_cached("INSERT OR IGNORE INTO subjects (digest, idx) VALUES (?1, ?2)")
                .map_err(|e| self.db(e))?;
            for (d, idx) in &by_subject {
                ins.execute(params![d, idx]).map_err(|e| self.db(e))?;
            }
            let mut ins = tx
                .prepare_cached("INSERT OR IGNORE INTO types (predicate_type, idx) VALUES (?1, ?2)")
                .map_err(|e| self.db(e))?;
            for (t, idx) in &by_type {
                ins.execute(params![t, idx]).map_err(|e| self.db(e))?;
            }
        }
        tx.execute(
            "UPDATE meta SET value = ?1 WHERE key = 'indexed_size'",
            [size],
        )
        .map_err(|e| self.db(e))?;
        tx.commit().map_err(|e| self.db(e))
    }

    /// Rows `(key, blob)` of a range query whose parameters are `[from, to)`.
    fn blob_range(&self, sql: &str, from: u64, to: u64) -> Result<Vec<(u64, Vec<u8>)>, Error> {
        let bound = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        let rows: Vec<(i64, Vec<u8>)> = self.read(|c| {
            let mut stmt = c.prepare_cached(sql)?;
            let rows = stmt.query_map([bound(from), bound(to)], |r| Ok((r.get(0)?, r.get(1)?)))?;
            rows.collect()
        })?;
        // The WHERE clause keeps keys at or above `from`, so none is negative.
        Ok(rows
            .into_iter()
            .filter_map(|(k, blob)| u64::try_from(k).ok().map(|k| (k, blob)))
            .collect())
    }

    fn select(
        &self,
        where_etc: &str,
        args: &[&dyn rusqlite::ToSql],
    ) -> Result<Vec<EntryRecord>, Error> {
        let sql = format!(
            "SELECT e.idx, e.recorded_at_ms, e.predicate_type, e.body, e.subjects, t.key_id, t.sig
             FROM entries e LEFT JOIN entry_times t ON t.idx = e.idx {where_etc}"
        );
        type Row = (
            i64,
            i64,
            String,
            Vec<u8>,
            Vec<u8>,
            Option<String>,
            Option<Vec<u8>>,
        );
        let rows: Vec<Row> = self.read(|c| {
            let mut stmt = c.prepare(&sql)?;
            let rows = stmt.query_map(args, |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                ))
            })?;
            rows.collect()
        })?;
        rows.into_iter()
            .map(|(idx, at, predicate_type, body, subjects, key_id, sig)| {
                let subjects = parse_subject_blob(idx, &subjects)?;
                Ok(EntryRecord {
                    index: u64::try_from(idx)
                        .map_err(|_| Error::Corrupt("negative entry index".into()))?,
                    recorded_at_ms: at,
                    predicate_type,
                    subjects,
                    body,
                    time: key_id
                        .zip(sig)
                        .map(|(key_id, sig)| crate::time::TimeSignature { key_id, sig }),
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The README promises that an acknowledged append survives power loss: that needs
    /// `synchronous=FULL` in WAL mode on every connection that writes. A SIGKILL test cannot
    /// see the difference (the page cache survives a killed process), so the setting is
    /// pinned here, on the connections the store really uses.
    #[test]
    fn every_connection_is_wal_with_synchronous_full() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("l.db"), true).unwrap();
        store.backfill().unwrap();
        let guard = store.backfiller.lock().unwrap();
        let backfiller = guard.as_ref().unwrap();
        for conn in [
            &*store.writer.lock().unwrap(),
            &*store.reader.lock().unwrap(),
            backfiller,
        ] {
            let sync: i64 = conn
                .query_row("PRAGMA synchronous", [], |r| r.get(0))
                .unwrap();
            assert_eq!(sync, 2, "PRAGMA synchronous is {sync}, not FULL (2)");
            let mode: String = conn
                .query_row("PRAGMA journal_mode", [], |r| r.get(0))
                .unwrap();
            assert_eq!(mode, "wal");
        }
        drop(guard);
        drop(store);
        // Reopened, as every later command does.
        let store = SqliteStore::open(&dir.path().join("l.db"), false).unwrap();
        let sync: i64 = store
            .writer
            .lock()
            .unwrap()
            .query_row("PRAGMA synchronous", [], |r| r.get(0))
            .unwrap();
        assert_eq!(sync, 2);
    }

    /// A large result is read a page at a time: each page starts after the last index of
    /// the previous one, with the other filters still applied.
    #[test]
    fn a_query_reads_on_after_an_index() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("l.db"), true).unwrap();
        let entry = |i: u8| NewEntry {
            body: vec![i],
            leaf_hash: crate::leaf_hash(&[i]),
            predicate_type: if i.is_multiple_of(2) { "even" } else { "odd" }.into(),
            subjects: vec![],
            recorded_at_ms: i64::from(i),
            time: None,
        };
        let batch: Vec<NewEntry> = (0..10).map(entry).collect();
        store.append(&batch).unwrap();
        let page = |after: Option<u64>| {
            store
                .query(&Query {
                    predicate_type: Some("even".into()),
                    after_index: after,
                    limit: Some(2),
                    ..Query::default()
                })
                .unwrap()
                .iter()
                .map(|e| e.index)
                .collect::<Vec<_>>()
        };
        assert_eq!(page(None), [0, 2]);
        assert_eq!(page(Some(2)), [4, 6]);
        assert_eq!(page(Some(6)), [8]);
        assert!(page(Some(8)).is_empty());
    }
}
