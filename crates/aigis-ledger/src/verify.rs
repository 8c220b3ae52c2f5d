//! Full verification of a ledger: recompute every leaf and stored tree hash from the
//! entries, and check every checkpoint's signature and root against the recomputed tree.
//!
//! Two checkpoints whose roots both match the tree recomputed from the same entries are
//! consistent with each other, so checking each one against the recomputation is the
//! consistency check between successive checkpoints (no separate proof is needed).

use std::sync::mpsc;

use aigis_crypto::PublicKey;
use aigis_crypto::dsse::Envelope;
use signed_note::StandardVerifier;

use crate::checkpoint::{self, CheckpointError};
use crate::store::Store;
use crate::time::TimeSignature;
use crate::{Error, Hash, leaf_hash};

/// Entries read and checked per step; also how often progress is reported.
const CHUNK: u64 = 16_384;

/// What to check besides the tree itself.
pub struct VerifyOptions {
    /// The log's origin; checkpoints for another log are problems.
    pub origin: Option<String>,
    /// Makes verifiers for checkpoint signatures (every key the project has used).
    pub verifiers: Box<dyn Fn() -> Vec<StandardVerifier> + Send + Sync>,
    /// Also check each entry's DSSE signature against these keys.
    pub entry_keys: Option<Vec<PublicKey>>,
    /// Checkpoints held outside the ledger (by an auditor or a witness) to check too.
    pub external_checkpoints: Vec<(String, Vec<u8>)>,
}

impl std::fmt::Debug for VerifyOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifyOptions")
            .field("origin", &self.origin)
            .finish_non_exhaustive()
    }
}

/// One thing found wrong.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Problem {
    /// A stable machine-readable code, such as `entry-modified`.
    pub code: &'static str,
    /// The first entry index the problem concerns, when it concerns entries.
    pub index: Option<u64>,
    pub message: String,
}

/// The outcome of [`verify`]. It passed if `problems` is empty.
#[derive(Debug, Clone, serde::Serialize)]
pub struct VerifyReport {
    pub tree_size: u64,
    pub entries_checked: u64,
    pub checkpoints_checked: u64,
    pub signatures_checked: u64,
    /// With entry signatures checked: the entries whose recorded time is signed (and
    /// verifies), and those recorded without a time signature (a gateway call's record).
    pub times_checked: u64,
    pub times_unsigned: u64,
    /// The recomputed root, hex; absent if the tree could not be recomputed.
    pub root: Option<String>,
    pub problems: Vec<Problem>,
}

impl VerifyReport {
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }

    /// The lowest entry index named by any problem.
    pub fn first_bad_index(&self) -> Option<u64> {
        self.problems.iter().filter_map(|p| p.index).min()
    }
}

struct Chunk {
    from: u64,
    to: u64,
    bodies: Vec<(u64, Vec<u8>)>,
    hashes: Vec<(u64, Hash)>,
    /// Read only when entry signatures are checked.
    times: Vec<(u64, i64, Option<TimeSignature>)>,
}

/// A checkpoint to compare against the recomputed tree.
struct Anchor {
    label: String,
    size: u64,
    root: Hash,
}

/// Verifies the whole ledger. `progress(done, total)` is called after each chunk.
pub fn verify(
    store: &dyn Store,
    opts: &VerifyOptions,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<VerifyReport, Error> {
    // Checkpoints first, then the size: a checkpoint is never of a tree larger than the
    // size read after it, so appends running during a verify are not mistaken for damage.
    let stored_checkpoints = store.checkpoints()?;
    let (size, extra) = store.tree_size_and_rows_past()?;
    let mut report = VerifyReport {
        tree_size: size,
        entries_checked: 0,
        checkpoints_checked: 0,
        signatures_checked: 0,
        times_checked: 0,
        times_unsigned: 0,
        root: None,
        problems: Vec::new(),
    };

    // Checkpoints first: their signatures do not depend on the entries.
    let mut anchors = Vec::new();
    let stored = stored_checkpoints
        .into_iter()
        .map(|c| (format!("checkpoint #{} (stored)", c.id), c.note));
    for (label, note) in stored.chain(opts.external_checkpoints.iter().cloned()) {
        report.checkpoints_checked += 1;
        match checkpoint::open(&note, (opts.verifiers)(), opts.origin.as_deref()) {
            Ok(cp) if cp.size > size => report.problems.push(Problem {
                code: "entries-deleted",
                index: Some(size),
                message: format!(
                    "{label} signed a tree of {} entries but the ledger has {size}: entries {size}..{} were removed",
                    cp.size,
                    cp.size - 1
                ),
            }),
            Ok(cp) => anchors.push(Anchor {
                label,
                size: cp.size,
                root: cp.root,
            }),
            Err(CheckpointError::Malformed(m)) => report.problems.push(Problem {
                code: "checkpoint-malformed",
                index: None,
                message: format!("{label}: {m}"),
            }),
            Err(CheckpointError::Rejected(m)) => report.problems.push(Problem {
                code: "checkpoint-signature",
                index: None,
                message: format!("{label}: {m}"),
            }),
        }
    }
    anchors.sort_by_key(|a| a.size);
    let mut anchors = anchors.into_iter().peekable();
    while let Some(a) = anchors.next_if(|a| a.size == 0) {
        if a.root != tlog_tiles::EMPTY_HASH {
            report.problems.push(Problem {
                code: "checkpoint-root",
                index: None,
                message: format!("{}: signs an empty tree with a wrong root", a.label),
            });
        }
    }

    if extra > 0 {
        report.problems.push(Problem {
            code: "entries-inserted",
            index: Some(size),
            message: format!(
                "{extra} entr{} at or past index {size}, beyond the tree size: rows were inserted behind the log's back",
                if extra == 1 { "y" } else { "ies" }
            ),
        });
    }

    // One thread reads chunks while this one hashes and compares: both cores are busy.
    let mut tree = Frontier::default();
    let mut confirmed = 0; // entries below this match a signed checkpoint
    let mut first_tree_problem = None;
    std::thread::scope(|scope| -> Result<(), Error> {
        let (tx, rx) = mpsc::sync_channel::<Result<Chunk, Error>>(2);
        scope.spawn(move || {
            let mut from = 0;
            while from < size {
                let to = size.min(from.saturating_add(CHUNK));
                let chunk = (|| {
                    Ok(Chunk {
                        from,
                        to,
                        bodies: store.bodies_range(from, to)?,
                        times: if opts.entry_keys.is_some() {
                            store.times_range(from, to)?
                        } else {
                            Vec::new()
                        },
                        hashes: store.hashes_range(
                            tlog_tiles::stored_hash_index(0, from),
                            tlog_tiles::stored_hash_index(0, to),
                        )?,
                    })
                })();
                let failed = chunk.is_err();
                if tx.send(chunk).is_err() || failed {
                    return;
                }
                from = to;
            }
        });
        for chunk in rx {
            let chunk = chunk?;
            if first_tree_problem.is_none() {
                first_tree_problem = check_chunk(
                    &chunk,
                    &mut tree,
                    &mut confirmed,
                    &mut anchors,
                    opts,
                    &mut report,
                );
            }
            progress(chunk.to, size);
            if first_tree_problem.is_some() {
                // The rest of the tree is computed from a bad prefix: stop reading.
                break;
            }
        }
        Ok(())
    })?;
    match first_tree_problem {
        Some(p) => report.problems.push(p),
        None => report.root = Some(hex::encode(tree.root().0)),
    }
    report.problems.sort_by_key(|p| p.index.unwrap_or(u64::MAX));
    Ok(report)
}

/// Checks one chunk. Returns the first tree problem found, which ends the scan.
fn check_chunk(
    chunk: &Chunk,
    tree: &mut Frontier,
    confirmed: &mut u64,
    anchors: &mut std::iter::Peekable<std::vec::IntoIter<Anchor>>,
    opts: &VerifyOptions,
    report: &mut VerifyReport,
) -> Option<Problem> {
    let mut bodies = chunk.bodies.iter().peekable();
    let mut times = chunk.times.iter();
    let mut hashes = chunk.hashes.iter().peekable();
    for i in chunk.from..chunk.to {
        let body = match bodies.next() {
            Some((idx, body)) if *idx == i => body,
            other => {
                let found = other.map_or("the end of the ledger".to_owned(), |(idx, _)| {
                    format!("entry {idx}")
                });
                return Some(Problem {
                    code: "entry-missing",
                    index: Some(i),
                    message: format!(
                        "entry {i} is missing (found {found} in its place): entries were deleted or renumbered"
                    ),
                });
            }
        };
        if let Some(keys) = &opts.entry_keys {
            report.signatures_checked += 1;
            let checked = Envelope::from_json(body).and_then(|e| e.verify(keys));
            if let Err(e) = checked {
                return Some(Problem {
                    code: "entry-signature",
                    index: Some(i),
                    message: format!("entry {i}: {e}"),
                });
            }
            let (at, time) = match times.next() {
                Some((idx, at, time)) if *idx == i => (*at, time.as_ref()),
                _ => {
                    return Some(Problem {
                        code: "entry-missing",
                        index: Some(i),
                        message: format!("entry {i}'s recorded time is missing"),
                    });
                }
            };
            match crate::time::check(keys, i, body, at, time) {
                Ok(Some(_)) => report.times_checked += 1,
                Ok(None) => report.times_unsigned += 1,
                Err(why) => {
                    return Some(Problem {
                        code: "entry-time",
                        index: Some(i),
                        message: why,
                    });
                }
            }
        }
        let leaf = leaf_hash(body);
        let expected_ids = tlog_tiles::stored_hash_index(0, i);
        for (k, (level, computed)) in tree.push(leaf).into_iter().enumerate() {
            let want_id = expected_ids + k as u64;
            let stored = match hashes.next() {
                Some((id, h)) if *id == want_id => *h,
                _ => {
                    return Some(Problem {
                        code: "hash-missing",
                        index: Some(i),
                        message: format!(
                            "the stored tree hash {want_id} (written with entry {i}) is missing"
                        ),
                    });
                }
            };
            if stored != computed {
                let first = (i >> level) << level;
                return Some(if level == 0 {
                    Problem {
                        code: "entry-modified",
                        index: Some(i),
                        message: format!(
                            "entry {i} does not match the leaf hash the log stored for it: it was modified, replaced or moved"
                        ),
                    }
                } else {
                    Problem {
                        code: "subtree-mismatch",
                        index: Some(first),
                        message: format!(
                            "entries {first}..{i} do not match the subtree hash the log stored for them: \
                             an entry in that range was modified, reordered or inserted along with its leaf hash"
                        ),
                    }
                });
            }
        }
        report.entries_checked += 1;
        while let Some(a) = anchors.next_if(|a| a.size == i + 1) {
            if a.root != tree.root() {
                let first = *confirmed;
                return Some(Problem {
                    code: "checkpoint-root",
                    index: Some(first),
                    message: format!(
                        "{}: entries {first}..{i} do not have the root it signed: the log was rewritten \
                         with its stored hashes recomputed, so only the range can be named \
                         (`--signatures` names entries whose content was forged)",
                        a.label
                    ),
                });
            }
            *confirmed = a.size;
        }
    }
    None
}

/// The tree recomputed leaf by leaf, in the ledger's hash type.
#[derive(Default)]
struct Frontier(aigis_core::merkle::CompactRange);

impl Frontier {
    /// The hashes this leaf completes, leaf first: exactly the hashes the log stores with
    /// this entry, in storage order.
    fn push(&mut self, leaf: Hash) -> Vec<(u8, Hash)> {
        self.0
            .push(leaf.0)
            .into_iter()
            .map(|(l, h)| (l, Hash(h)))
            .collect()
    }

    fn root(&self) -> Hash {
        Hash(self.0.root())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frontier_root_matches_tlog_for_every_size_up_to_100() {
        struct Mem(Vec<Hash>);
        impl tlog_tiles::HashReader for Mem {
            fn read_hashes(&self, ids: &[u64]) -> Result<Vec<Hash>, tlog_tiles::Error> {
                Ok(ids.iter().map(|&i| self.0[i as usize]).collect())
            }
        }
        let mut stored = Mem(Vec::new());
        let mut f = Frontier::default();
        for n in 0..100u64 {
            let leaf = leaf_hash(&n.to_be_bytes());
            let expect = tlog_tiles::stored_hashes_for_record_hash(n, leaf, &stored).unwrap();
            let made: Vec<Hash> = f.push(leaf).into_iter().map(|(_, h)| h).collect();
            assert_eq!(made, expect, "stored hashes of record {n}");
            stored.0.extend(expect);
            assert_eq!(
                f.root(),
                tlog_tiles::tree_hash(n + 1, &stored).unwrap(),
                "root of {}",
                n + 1
            );
        }
    }
}
