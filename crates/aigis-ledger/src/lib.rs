//! The aigis evidence ledger: an append-only Merkle log in the RFC 6962 / RFC 9162 shape.
//!
//! - leaf hash `SHA-256(0x00 ‖ entry)`, node hash `SHA-256(0x01 ‖ left ‖ right)`, inclusion
//!   and consistency proofs: from the [`tlog_tiles`] crate (a port of Go's `sumdb/tlog`);
//! - signed checkpoints in the C2SP `tlog-checkpoint` / `signed-note` format ([`checkpoint`]);
//! - proofs in the C2SP `tlog-proof` format ([`proof`]);
//! - storage behind the [`Store`] trait, with SQLite (WAL, group commit) built in;
//! - full verification that names the first bad entry ([`verify()`]);
//! - the project folder that holds the ledger and keys ([`Project`]).
//!
//! ```
//! use std::sync::Arc;
//! use aigis_ledger::{Ledger, SqliteStore, NewEntry, leaf_hash};
//!
//! let dir = tempfile::tempdir()?;
//! let store = SqliteStore::open(&dir.path().join("ledger.db"), true)?;
//! let ledger = Ledger::new(Arc::new(store));
//! let body = b"an entry".to_vec();
//! let index = ledger.append(NewEntry {
//!     leaf_hash: leaf_hash(&body),
//!     body,
//!     predicate_type: "https://example.com/p".into(),
//!     subjects: vec![],
//!     recorded_at_ms: 0,
//!     time: None,
//! })?;
//! assert_eq!(index, 0);
//! assert_eq!(ledger.tree_hash(1)?, leaf_hash(b"an entry"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]

pub mod checkpoint;
mod error;
pub mod layout;
mod ledger;
pub mod project;
pub mod proof;
pub mod roles;
#[cfg(feature = "sqlite")]
mod sqlite;
mod store;
pub mod time;
mod verify;

pub use error::Error;
pub use ledger::{
    CommitStats, Ledger, evidence_entry, now_ms, signed_statement, statement_entry,
    statement_entry_untimed,
};
pub use project::Project;
pub use proof::{ConsistencyProof, InclusionProof, ProofError};
#[cfg(feature = "sqlite")]
pub use sqlite::SqliteStore;
pub use store::{EntryRecord, NewEntry, Query, Store, StoredCheckpoint};
pub use tlog_tiles::Hash;
pub use verify::{Problem, VerifyOptions, VerifyReport, verify};

/// The RFC 6962 leaf hash of an entry: `SHA-256(0x00 ‖ entry)`.
pub fn leaf_hash(entry: &[u8]) -> Hash {
    tlog_tiles::record_hash(entry)
}

/// The RFC 6962 interior node hash: `SHA-256(0x01 ‖ left ‖ right)`.
pub fn node_hash(left: Hash, right: Hash) -> Hash {
    tlog_tiles::node_hash(left, right)
}
