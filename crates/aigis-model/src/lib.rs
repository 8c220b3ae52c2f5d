//! The artifact stage of aigis: what a model file would do when loaded.
//!
//! A model file is code: a pickle runs what it names when it is loaded. [`Verdict`]s are
//! allowlist-first: what ordinary ML files use is safe, known-dangerous calls are
//! dangerous, anything else is suspicious, and a file that cannot be fully understood is
//! inconclusive — never clean.
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

pub mod detect;
mod error;
pub mod gguf;
mod limits;
pub mod npy;
pub mod pickle;
pub mod safetensors;
pub mod scan;
pub mod tar;
mod verdict;
pub mod zip;

pub use error::Error;
pub use limits::Limits;
pub use scan::{FileReport, PickleScan, ReadSeek, scan_file, scan_path};
pub use verdict::{Evidence, Location, Verdict};
