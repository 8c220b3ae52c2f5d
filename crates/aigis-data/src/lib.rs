//! The data stage of aigis. Today: dataset manifests ([`manifest`]) — per-file and
//! per-chunk SHA-256 digests under one Merkle root, so a signed manifest can say exactly
//! which file and which chunk of it changed — and poisoning detection ([`poison`]) on a
//! numeric feature matrix: outliers, flipped labels, duplicates and backdoor-like groups.
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
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::panic
    )
)]

mod error;
pub mod manifest;
pub mod poison;

pub use error::Error;
