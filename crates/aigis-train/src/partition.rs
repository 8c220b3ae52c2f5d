//! Deep partition aggregation (Levine and Feizi, 2021): `k` networks, each trained on the
//! rows a hash of the row's own content puts in its partition, and a majority vote. Adding
//! or removing one training row changes one partition, so one member, so one vote; a
//! prediction whose lead over every other class is `2ρ + 1` votes (counting the smaller
//! class's win on a tie) stands whatever `ρ` rows an attacker adds or removes. The
//! certificate is per prediction, from the votes alone.

use sha2::{Digest as _, Sha256};

use crate::mlp::{self, Error, Mlp, Settings};

/// The partition of a row among `k`: SHA-256 of its features and label (little-endian
/// `f64`s), read as a number, modulo `k`. A row's partition depends on nothing else, so
/// adding or removing a row moves no other.
pub fn partition_of(features: &[f64], label: f64, k: usize) -> usize {
    let mut h = Sha256::new();
    for v in features.iter().chain(std::iter::once(&label)) {
        h.update((v + 0.0).to_le_bytes());
    }
    let d = h.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(d.get(..8).unwrap_or(&[0; 8]));
    (u64::from_le_bytes(first) % k.max(1) as u64) as usize
}

/// The members: one network per partition of `rows` rows of `x` labelled `y` (class
/// indices) whose label values are `values`. `progress` is told each member done.
#[allow(
    clippy::too_many_arguments,
    reason = "the rows, their labels and the settings"
)]
pub fn train(
    x: &[f64],
    rows: usize,
    y: &[usize],
    values: &[f64],
    classes: usize,
    k: usize,
    s: &Settings,
    progress: &mut dyn FnMut(usize),
) -> Result<(Vec<Mlp>, Vec<usize>), Error> {
    if k < 2 || rows == 0 || !x.len().is_multiple_of(rows) || values.len() != rows {
        return Err(Error::Options(format!(
            "{k} partitions of {rows} rows: an ensemble needs two partitions or more"
        )));
    }
    let features = x.len() / rows;
    let mut parts: Vec<Vec<usize>> = vec![Vec::new(); k];
    for r in 0..rows {
        let row = x.get(r * features..(r + 1) * features).unwrap_or(&[]);
        let p = partition_of(row, values.get(r).copied().unwrap_or(0.0), k);
        if let Some(part) = parts.get_mut(p) {
            part.push(r);
        }
    }
    if let Some(i) = parts.iter().position(Vec::is_empty) {
        return Err(Error::Options(format!(
            "partition {} of {k} has no row ({rows} rows): use fewer partitions",
            i + 1
        )));
    }
    let mut members = Vec::with_capacity(k);
    for (i, part) in parts.iter().enumerate() {
        let px: Vec<f64> = part
            .iter()
            .flat_map(|&r| {
                x.get(r * features..(r + 1) * features)
                    .unwrap_or(&[])
                    .to_vec()
            })
            .collect();
        let py: Vec<usize> = part
            .iter()
            .map(|&r| y.get(r).copied().unwrap_or(0))
            .collect();
        members.push(mlp::train(&px, part.len(), &py, classes, s)?);
        progress(i + 1);
    }
    Ok((members, parts.iter().map(Vec::len).collect()))
}

/// The ensemble as ONNX ([`aigis_runtime::export::VoteEnsemble`]).
pub fn to_onnx(members: &[Mlp], producer: &str, version: &str) -> Result<Vec<u8>, Error> {
    aigis_runtime::export::VoteEnsemble {
        members: members.iter().map(Mlp::classifier).collect(),
    }
    .to_onnx(producer, version)
    .map_err(Error::Options)
}

/// The vote's winner (the most votes, the smaller class on a tie) and how many training
/// rows an attacker may add or remove without changing it (Levine and Feizi's
/// certificate): half the winner's lead over the runner-up, the runner-up counted one
/// vote more when it is the smaller class (it would win a tie).
pub fn certificate(votes: &[u64]) -> (usize, u64) {
    let mut top = 0;
    for (c, &v) in votes.iter().enumerate() {
        if v > votes.get(top).copied().unwrap_or(0) {
            top = c;
        }
    }
    let lead = votes.get(top).copied().unwrap_or(0);
    let rival = votes
        .iter()
        .enumerate()
        .filter(|&(c, _)| c != top)
        .map(|(c, &v)| v + u64::from(c < top))
        .max()
        .unwrap_or(0);
    (top, lead.saturating_sub(rival) / 2)
}

#[cfg(test)]
mod tests;
