//! The artifact stage of aigis: what a model file would do when loaded.
//!
//! A model file is code: a pickle runs what it names when it is loaded. [`Verdict`]s are
//! allowlist-first: what ordinary ML files use is safe, known-dangerous calls are
//! dangerous, anything else is suspicious, and a file that cannot be fully understood is
//! inconclusive — never clean.
//!

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

pub mod checkpoint;
pub mod compressed;
pub mod detect;
mod error;
mod folder;
pub mod gguf;
pub mod hdf5;
pub mod keras;
mod limits;
pub mod npy;
pub mod onnx;
pub mod pickle;
pub mod proto;

pub mod safetensors;
pub mod savedmodel;
pub mod scan;

pub mod tar;
mod verdict;

pub mod zip;

pub use error::Error;
pub use limits::Limits;
pub use scan::{FileReport, PickleScan, ReadSeek, scan_file, scan_path};
pub use verdict::{Evidence, Location, Verdict};

/// The pickle scanner as the container parsers call it ([`PickleScan`]): a reader that
/// fails mid-pickle makes the pickle inconclusive, never clean.
pub fn pickle_scanner(
    limits: &pickle::Limits,
) -> impl Fn(&mut dyn ReadSeek, &Location, pickle::Layout) -> (Verdict, Vec<Evidence>) + '_ {
    move |reader, location, layout| match pickle::scan_layout(reader, location, limits, layout) {
        Ok(report) => {
            let mut evidence = report.evidence;
            evidence.extend(pickle::imports_evidence(&report.imports, location));
            (report.verdict, evidence)
        }
        Err(e) => (
            Verdict::Inconclusive,
            vec![Evidence {
                verdict: Verdict::Inconclusive,
                rule: "pickle.read".into(),
                message: format!("the pickle could not be read: {e}"),
                location: location.clone(),
            }],
        ),
    }
}
