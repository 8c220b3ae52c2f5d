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

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS entries (
    idx INTEGER PRIMARY KEY,
    recorded_at_ms INTEGER NOT NULL,
    predicate_type TEXT NOT NULL,
    body BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS subjects (
    digest BLOB NOT NULL,
    idx INTEGER NOT NULL,
    PRIMARY KEY (digest, idx)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS hashes (id INTEGER PRIMARY KEY, hash BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS checkpoints (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tree_size INTEGER NOT NULL,
    created_at_ms INTEGER NOT NULL,
    note BLOB NOT NULL
);
INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', 1), ('tree_size', 0);
";

/// A ledger in one SQLite file.
#[derive(Debug)]
pub struct SqliteStore {
    path: PathBuf,
    writer: Mutex<Connection>,
    reader: Mutex<Connection>,
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

fn connect(path: &Path, create: bool) -> rusqlite::Result<Connection> {
    let mut flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    if create {
        flags |= OpenFlags::SQLITE_OPEN_CREATE;
    }
    let conn = Connection::open_with_flags(path, flags)?;
    // Another process may hold the write lock for a batch; wait rather than fail.
    conn.busy_timeout(Duration::from_secs(60))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    // FULL: the WAL is synced at every commit, so an acknowledged append survives a crash
    // or power loss (NORMAL would only survive a process crash).
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "OFF")?;
    Ok(conn)
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
                    "INSERT INTO entries (idx, recorded_at_ms, predicate_type, body) VALUES (?1, ?2, ?3, ?4)",
                )
                .map_err(|e| self.db(e))?;
            let mut ins_subject = tx
                .prepare_cached("INSERT OR IGNORE INTO subjects (digest, idx) VALUES (?1, ?2)")
                .map_err(|e| self.db(e))?;
            let mut ins_hash = tx
                .prepare_cached("INSERT INTO hashes (id, hash) VALUES (?1, ?2)")
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
                        entry.body
                    ])
                    .map_err(|e| self.db(e))?;
                for s in &entry.subjects {
                    ins_subject
                        .execute(params![&s.as_bytes()[..], idx])
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
        let rows: Vec<(i64, Vec<u8>)> = self.read(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT id, hash FROM hashes WHERE id >= ?1 AND id < ?2 ORDER BY id",
            )?;
            let rows = stmt.query_map(
                [
                    i64::try_from(from).unwrap_or(i64::MAX),
                    i64::try_from(to).unwrap_or(i64::MAX),
                ],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            rows.collect()
        })?;
        rows.into_iter()
            .map(|(id, blob)| {
                let id =
                    u64::try_from(id).map_err(|_| Error::Corrupt("negative hash id".into()))?;
                Ok((id, hash_from_blob(id, &blob)?))
            })
            .collect()
    }

    fn bodies_range(&self, from: u64, to: u64) -> Result<Vec<(u64, Vec<u8>)>, Error> {
        let rows: Vec<(i64, Vec<u8>)> = self.read(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT idx, body FROM entries WHERE idx >= ?1 AND idx < ?2 ORDER BY idx",
            )?;
            let rows = stmt.query_map(
                [
                    i64::try_from(from).unwrap_or(i64::MAX),
                    i64::try_from(to).unwrap_or(i64::MAX),
                ],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            rows.collect()
        })?;
        rows.into_iter()
            .map(|(i, body)| {
                let i =
                    u64::try_from(i).map_err(|_| Error::Corrupt("negative entry index".into()))?;
                Ok((i, body))
            })
            .collect()
    }

    fn count_from(&self, index: u64) -> Result<u64, Error> {
        let n: i64 = self.read(|c| {
            c.query_row(
                "SELECT count(*) FROM entries WHERE idx >= ?1 OR idx < 0",
                [i64::try_from(index).unwrap_or(i64::MAX)],
                |r| r.get(0),
            )
        })?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    fn entry(&self, index: u64) -> Result<Option<EntryRecord>, Error> {
        let mut found = self.select("WHERE e.idx = ?1", &[&to_i64(index)?])?;
        Ok(found.pop())
    }

    fn query(&self, q: &Query) -> Result<Vec<EntryRecord>, Error> {
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
            clauses.push(format!("e.predicate_type = ?{}", args.len()));
        }
        if let Some(t) = q.since_ms {
            args.push(Box::new(t));
            clauses.push(format!("e.recorded_at_ms >= ?{}", args.len()));
        }
        if let Some(t) = q.until_ms {
            args.push(Box::new(t));
            clauses.push(format!("e.recorded_at_ms < ?{}", args.len()));
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
    fn select(
        &self,
        where_etc: &str,
        args: &[&dyn rusqlite::ToSql],
    ) -> Result<Vec<EntryRecord>, Error> {
        let sql = format!(
            "SELECT e.idx, e.recorded_at_ms, e.predicate_type, e.body,
                    (SELECT group_concat(hex(s.digest)) FROM subjects s WHERE s.idx = e.idx)
             FROM entries e {where_etc}"
        );
        type Row = (i64, i64, String, Vec<u8>, Option<String>);
        let rows: Vec<Row> = self.read(|c| {
            let mut stmt = c.prepare(&sql)?;
            let rows = stmt.query_map(args, |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })?;
            rows.collect()
        })?;
        rows.into_iter()
            .map(|(idx, at, predicate_type, body, subjects)| {
                let subjects = subjects
                    .unwrap_or_default()
                    .split(',')
                    .filter(|s| !s.is_empty())
                    .map(|s| {
                        s.parse::<Digest>()
                            .map_err(|e| Error::Corrupt(e.to_string()))
                    })
                    .collect::<Result<_, _>>()?;
                Ok(EntryRecord {
                    index: u64::try_from(idx)
                        .map_err(|_| Error::Corrupt("negative entry index".into()))?,
                    recorded_at_ms: at,
                    predicate_type,
                    subjects,
                    body,
                })
            })
            .collect()
    }
}
