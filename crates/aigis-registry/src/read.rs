//! The newest signed evidence of a kind about a version's files or a table, for the
//! commands that report from it (`aigis data minimise`): the gate's own reader, so every
//! reader counts the same entries.

use std::collections::BTreeSet;

use aigis_core::Digest;
use aigis_evidence::{DataScan, Training};

use crate::error::Error;
use crate::policy::facts::Reader;
use crate::store::VersionRecord;

/// The newest `training` evidence naming one of `record`'s files as its model: its index
/// and predicate.
pub fn training(
    project: &aigis_ledger::Project,
    record: &VersionRecord,
) -> Result<Option<(u64, Training)>, Error> {
    let mut not_counted = Vec::new();
    let mut r =
        Reader::new(project, aigis_ledger::now_ms(), &mut not_counted).map_err(Error::Facts)?;
    let files: BTreeSet<Digest> = record.files.iter().map(|f| f.sha256).collect();
    Ok(r.newest::<Training>(&files, "model:")
        .map_err(Error::Facts)?
        .map(|f| (f.index, f.predicate)))
}

/// The newest `data-scan` evidence about the table with `digest`.
pub fn data_scan(
    project: &aigis_ledger::Project,
    digest: Digest,
) -> Result<Option<(u64, DataScan)>, Error> {
    let mut not_counted = Vec::new();
    let mut r =
        Reader::new(project, aigis_ledger::now_ms(), &mut not_counted).map_err(Error::Facts)?;
    Ok(r.newest::<DataScan>(&BTreeSet::from([digest]), "")
        .map_err(Error::Facts)?
        .map(|f| (f.index, f.predicate)))
}
