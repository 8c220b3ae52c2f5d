//! The seam between the log and where its bytes live (rustls's `CryptoProvider` pattern):
//! the Merkle logic in this crate works over any [`Store`]; SQLite is the one built in.

use aigis_core::Digest;

use crate::time::TimeSignature;
use crate::{Error, Hash};

/// An entry on its way into the log. The caller hashes it (`leaf_hash`), so many appending
/// threads share the hashing work before the single writer takes the batch.
#[derive(Debug, Clone)]
pub struct NewEntry {
    pub body: Vec<u8>,
    pub leaf_hash: Hash,
    pub predicate_type: String,
    pub subjects: Vec<Digest>,
    pub recorded_at_ms: i64,
    /// The recording key's signature over the leaf hash and `recorded_at_ms`
    /// ([`crate::time`]); `None` for an entry appended without one.
    pub time: Option<TimeSignature>,
}

/// An entry as stored. `predicate_type`, `subjects` and `recorded_at_ms` are an index for
/// queries, derived from `body` when it was appended; only `body` is in the Merkle tree
/// (`time` signs `recorded_at_ms`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryRecord {
    pub index: u64,
    pub recorded_at_ms: i64,
    pub predicate_type: String,
    pub subjects: Vec<Digest>,
    pub body: Vec<u8>,
    /// Its time signature, if it was appended with one ([`crate::time::signed_time`]
    /// checks it).
    pub time: Option<TimeSignature>,
}

/// A filter over entries; every field that is set must match.
#[derive(Debug, Clone, Default)]
pub struct Query {
    pub subject: Option<Digest>,
    pub predicate_type: Option<String>,
    pub since_ms: Option<i64>,
    pub until_ms: Option<i64>,
    /// Only entries after this index (to read a large result a page at a time).
    pub after_index: Option<u64>,
    /// Return at most this many, newest first when `newest_first`.
    pub limit: Option<u64>,
    pub newest_first: bool,
}

/// A signed checkpoint kept by the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCheckpoint {
    pub id: i64,
    pub tree_size: u64,
    pub created_at_ms: i64,
    pub note: Vec<u8>,
}

/// Where the log's entries, tree hashes and checkpoints are kept.
///
/// Hashes are kept in the dense order of Crosby and Wallach (`tlog_tiles::stored_hash_index`):
/// record `n` adds its leaf hash and the hash of every subtree it completes, so any proof
/// reads at most `2·log₂ n` stored hashes.
pub trait Store: Send + Sync {
    /// Appends `batch` in one durable transaction and returns the index of its first
    /// entry. Concurrent appenders, in this process or another, never share an index.
    fn append(&self, batch: &[NewEntry]) -> Result<u64, Error>;

    /// The number of entries (the tree size).
    fn tree_size(&self) -> Result<u64, Error>;

    /// Stored hashes by stored-hash index, in the order asked.
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, Error>;

    /// Stored hashes with ids in `[from, to)`, in id order, as stored (ids may have gaps if
    /// the store was tampered with; verification checks).
    fn hashes_range(&self, from: u64, to: u64) -> Result<Vec<(u64, Hash)>, Error>;

    /// Entry bodies with indices in `[from, to)`, in index order, as stored.
    fn bodies_range(&self, from: u64, to: u64) -> Result<Vec<(u64, Vec<u8>)>, Error>;

    /// The recorded times of the entries with indices in `[from, to)` and their time
    /// signatures (`None`: appended without one), in index order, as stored.
    fn times_range(
        &self,
        from: u64,
        to: u64,
    ) -> Result<Vec<(u64, i64, Option<TimeSignature>)>, Error>;

    /// The tree size and, read in the same snapshot, how many entry rows lie at or past it
    /// (or below zero): more than zero means rows were inserted behind the log's back.
    fn tree_size_and_rows_past(&self) -> Result<(u64, u64), Error>;

    fn entry(&self, index: u64) -> Result<Option<EntryRecord>, Error>;

    fn query(&self, query: &Query) -> Result<Vec<EntryRecord>, Error>;

    fn add_checkpoint(&self, tree_size: u64, note: &[u8], created_at_ms: i64) -> Result<(), Error>;

    /// All checkpoints, oldest first.
    fn checkpoints(&self) -> Result<Vec<StoredCheckpoint>, Error>;

    /// Moves committed writes from a write-ahead log into the main file without holding
    /// up appends, for stores that keep one. The ledger's writer calls it from a thread of
    /// its own, often, so that a commit rarely has this work to do itself.
    fn backfill(&self) -> Result<(), Error> {
        Ok(())
    }
}
