//! The data stage of aigis: everything a dataset goes through before training.
//!
//! - [`table`]: CSV, JSON Lines and Parquet read in bounded batches;
//! - [`profile`]: reference profiles with mergeable sketches;
//! - [`scan`]: one streamed pass that validates against a profile, finds personal data
//!   ([`pii`]) and screens for poisoning ([`poison`]: outliers, flipped labels,
//!   duplicates and backdoor-like groups);
//! - [`mask`]: cell-level masking, keyed hashing and reversible tokenization;
//! - [`manifest`]: per-file and per-chunk SHA-256 digests under one Merkle root, so a
//!   signed manifest can say exactly which file and which chunk of it changed.
//!
//! ```
//! use aigis_data::manifest::{self, Options};
//!
//! let dir = tempfile::tempdir()?;
//! std::fs::write(dir.path().join("train.csv"), b"a,b\n1,2\n")?;
//! let m = manifest::build(dir.path(), &Options::default(), &|_| {})?;
//! assert_eq!(m.files.len(), 1);
//! let changes = manifest::compare(&m, &manifest::build(dir.path(), &Options::default(), &|_| {})?);
//! assert!(changes.is_empty());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]

mod error;
pub mod manifest;
pub mod mask;
pub mod pii;
pub mod poison;
pub mod profile;
pub mod scan;
pub mod shred;
pub mod sources;
pub mod table;

pub use error::Error;
