//! The data stage's work on a project: what `aigis data ingest`, `data sign`,
//! `data verify` and the data scans do beyond reading tables, behind small typed calls a
//! server can make without the command line. It is to data what `aigis-registry` is to
//! models.
//!
//! - [`ingest`]: data enters only from a source approved in `aigis.toml`, signed by a
//!   key that source is approved with, unchanged since, and clean of findings at or
//!   above a severity; the project then signs its own manifest of what it took in and
//!   records the provenance (SLSA Provenance v1), accepted or not;
//! - [`manifest`]: signed dataset manifests: sign and record one, read one back with its
//!   signature checked, find it in the ledger with its inclusion proof;
//! - [`scan`]: a table's scan with its digest, the `--fail-on` rule, and what the ledger
//!   keeps of a scan (counts per rule and column, never cell values).
//!
//! ```no_run
//! use aigis_intake::ingest::{self, Request};
//! use aigis_intake::scan::FailOn;
//!
//! let project = aigis_ledger::Project::discover(std::path::Path::new("."))?;
//! let key = project.signing_key(None)?;
//! let request = Request::new("incoming/vendor-x/batch-1".into(), FailOn::at(aigis_core::Severity::High));
//! let outcome = ingest::ingest(&project, &key, &request, &aigis_core::NoProgress)?;
//! println!("accepted: {}, provenance #{}", outcome.accepted, outcome.provenance_evidence);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod error;
pub mod ingest;
#[expect(missing_docs, reason = "the fields are named for what they hold")]
pub mod manifest;
pub mod scan;

use std::path::Path;

pub use error::Error;

/// Reads a whole file of at most `limit` bytes (`-` is stdin).
pub fn read_bounded(path: &Path, what: &'static str, limit: u64) -> Result<Vec<u8>, Error> {
    use std::io::Read as _;
    let mut buf = Vec::new();
    if path == Path::new("-") {
        std::io::stdin()
            .take(limit + 1)
            .read_to_end(&mut buf)
            .map_err(|e| Error::io(path, e))?;
    } else {
        let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
        file.take(limit + 1)
            .read_to_end(&mut buf)
            .map_err(|e| Error::io(path, e))?;
    }
    if buf.len() as u64 > limit {
        return Err(Error::TooLarge {
            what,
            path: path.to_owned(),
            limit,
        });
    }
    Ok(buf)
}

/// A value of the data crate as its evidence type (the two are kept the same by the
/// evidence schemas; a mismatch is a bug, reported as one).
pub(crate) fn convert<T: serde::Serialize, U: serde::de::DeserializeOwned>(
    value: &T,
    what: &str,
) -> Result<U, Error> {
    serde_json::to_value(value)
        .and_then(serde_json::from_value)
        .map_err(|_| Error::Internal(what.to_owned()))
}

/// A value's JSON string form (`"csv"` -> `csv`), for evidence fields that hold one.
pub(crate) fn as_json_string<T: serde::Serialize>(value: &T) -> Result<String, Error> {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => Ok(s),
        _ => Err(Error::Internal("value".to_owned())),
    }
}

#[cfg(test)]
mod tests;
