use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;
use std::time::{SystemTime, UNIX_EPOCH};

use aigis_core::{PAYLOAD_TYPE, Statement};
use aigis_crypto::SigningKey;
use aigis_crypto::dsse::Envelope;

use crate::proof::{ConsistencyProof, InclusionProof};
use crate::store::{NewEntry, Store, StoredCheckpoint};
use crate::{Error, Hash, checkpoint, leaf_hash};

/// The most entries one transaction takes. Big enough that a commit's fsync is shared by
/// thousands of appends, small enough that one batch's memory stays modest.
const MAX_BATCH: usize = 8192;

/// The evidence log: appends with group commit, checkpoints and proofs over a [`Store`].
///
/// Appends from many threads are queued to one writer thread, which takes everything
/// waiting (up to 8192 entries) into one durable transaction: the cost of the commit's
/// fsync is shared by the whole batch. `append` and `append_all` return only after that
/// commit; `submit` returns at once and reports the commit to a callback.
pub struct Ledger {
    store: Arc<dyn Store>,
    /// Started by the first append. `Sender` is `Sync`: appenders send without a lock.
    writer: OnceLock<Writer>,
    stats: Arc<Stats>,
}

/// Counters of the group commit since this `Ledger` was made.
#[derive(Debug, Default)]
struct Stats {
    entries: AtomicU64,
    commits: AtomicU64,
}

/// What the writer has done: `entries` appended in `commits` transactions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommitStats {
    pub entries: u64,
    pub commits: u64,
}

impl std::fmt::Debug for Ledger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ledger").finish_non_exhaustive()
    }
}

struct Writer {
    jobs: Sender<Job>,
    /// `None` if no thread could be made; the receiver is then gone and `append` reports
    /// that the writer has stopped instead of hanging.
    thread: Option<JoinHandle<()>>,
    /// Dropped to stop the backfill thread.
    stop_backfill: Sender<()>,
    backfill: Option<JoinHandle<()>>,
}

/// How often the store's write-ahead log is backfilled while a writer runs.
const BACKFILL_EVERY: std::time::Duration = std::time::Duration::from_millis(100);

/// Entries that go in together, in order, and who to tell once they are committed.
struct Job {
    entries: Vec<NewEntry>,
    done: Done,
}

/// Told the index of a job's first entry once its transaction is committed, or why not.
pub type Done = Box<dyn FnOnce(Result<u64, Error>) + Send>;

impl Ledger {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self {
            store,
            writer: OnceLock::new(),
            stats: Arc::default(),
        }
    }

    /// How many entries this ledger appended, in how many transactions.
    pub fn commit_stats(&self) -> CommitStats {
        CommitStats {
            entries: self.stats.entries.load(Ordering::Relaxed),
            commits: self.stats.commits.load(Ordering::Relaxed),
        }
    }

    pub fn store(&self) -> &dyn Store {
        self.store.as_ref()
    }

    /// Appends one entry and returns its index once it is durable.
    pub fn append(&self, entry: NewEntry) -> Result<u64, Error> {
        self.append_all(vec![entry])
    }

    /// Appends `entries` as consecutive entries, in order, in one transaction, and returns
    /// the index of the first once they are durable. Either all of them are in the log or
    /// none is.
    pub fn append_all(&self, entries: Vec<NewEntry>) -> Result<u64, Error> {
        let (done, result) = mpsc::sync_channel(1);
        self.submit(
            entries,
            Box::new(move |r| {
                let _ = done.send(r);
            }),
        );
        result
            .recv()
            .map_err(|_| Error::Append("the ledger writer has stopped".into()))?
    }

    /// Queues `entries` as `append_all` does, without waiting: `done` is called with the
    /// index of the first entry once they are durable, or with the error that kept them
    /// out. It runs on the writer's thread (or at once, here, if the writer has stopped),
    /// so it must only hand the result on.
    pub fn submit(&self, entries: Vec<NewEntry>, done: Done) {
        let sent = self
            .writer
            .get_or_init(|| Writer::start(self.store.clone(), self.stats.clone()))
            .jobs
            .send(Job { entries, done });
        if let Err(mpsc::SendError(job)) = sent {
            (job.done)(Err(Error::Append("the ledger writer has stopped".into())));
        }
    }

    /// Appends a DSSE envelope of an in-toto statement (its JSON, byte for byte as it will
    /// be hashed), its time signed by `key` ([`crate::time`]). The envelope and statement
    /// must parse; the caller checks who signed it.
    pub fn append_evidence(&self, envelope_json: Vec<u8>, key: &SigningKey) -> Result<u64, Error> {
        let mut entry = evidence_entry(envelope_json, now_ms())?;
        entry.time = Some(crate::time::sign(
            key,
            &entry.leaf_hash,
            entry.recorded_at_ms,
        ));
        self.append(entry)
    }

    /// Signs `statement` with `key` into a DSSE envelope and appends it; returns the
    /// entry's index and leaf hash.
    pub fn append_statement(
        &self,
        statement: &Statement,
        key: &SigningKey,
    ) -> Result<(u64, Hash), Error> {
        let entry = statement_entry(statement, key, now_ms());
        let leaf = entry.leaf_hash;
        Ok((self.append(entry)?, leaf))
    }

    /// The root of the empty tree: SHA-256 of no bytes.
    pub fn empty_root() -> Hash {
        tlog_tiles::EMPTY_HASH
    }

    pub fn tree_size(&self) -> Result<u64, Error> {
        self.store.tree_size()
    }

    /// The RFC 6962 root of the first `size` entries.
    pub fn tree_hash(&self, size: u64) -> Result<Hash, Error> {
        Ok(tlog_tiles::tree_hash(size, &Reader(self.store.as_ref()))?)
    }

    /// Signs a checkpoint of the whole log as it is now, stores it and returns it.
    pub fn checkpoint(&self, origin: &str, key: &SigningKey) -> Result<StoredCheckpoint, Error> {
        let size = self.store.tree_size()?;
        let root = self.tree_hash(size)?;
        let note = checkpoint::sign(origin, size, root, key)?;
        let created_at_ms = now_ms();
        self.store.add_checkpoint(size, &note, created_at_ms)?;
        Ok(StoredCheckpoint {
            id: 0,
            tree_size: size,
            created_at_ms,
            note,
        })
    }

    /// The newest stored checkpoint of exactly `size` entries.
    pub fn checkpoint_at(&self, size: u64) -> Result<Option<StoredCheckpoint>, Error> {
        Ok(self
            .store
            .checkpoints()?
            .into_iter()
            .rev()
            .find(|c| c.tree_size == size))
    }

    /// The inclusion proof of entry `index` in the tree signed by `checkpoint`.
    pub fn prove_inclusion(
        &self,
        index: u64,
        checkpoint: &StoredCheckpoint,
    ) -> Result<InclusionProof, Error> {
        if index >= checkpoint.tree_size {
            return Err(Error::NotFound(format!(
                "entry {index} is not in the checkpoint of {} entries",
                checkpoint.tree_size
            )));
        }
        let path =
            tlog_tiles::prove_record(checkpoint.tree_size, index, &Reader(self.store.as_ref()))?;
        Ok(InclusionProof {
            extra: None,
            index,
            path,
            checkpoint: checkpoint.note.clone(),
        })
    }

    /// The consistency proof from the tree of `old` entries to the tree of `new`.
    pub fn prove_consistency(
        &self,
        old: u64,
        new: &StoredCheckpoint,
        old_checkpoint: Option<&StoredCheckpoint>,
    ) -> Result<ConsistencyProof, Error> {
        if old > new.tree_size {
            return Err(Error::Invalid(format!(
                "--from {old} is past --to {}",
                new.tree_size
            )));
        }
        let path = if old == 0 {
            Vec::new()
        } else {
            tlog_tiles::prove_tree(new.tree_size, old, &Reader(self.store.as_ref()))?
        };
        Ok(ConsistencyProof::new(
            old,
            new.tree_size,
            &path,
            old_checkpoint.map(|c| c.note.as_slice()),
            &new.note,
        ))
    }
}

impl Drop for Ledger {
    fn drop(&mut self) {
        if let Some(w) = self.writer.take() {
            drop(w.jobs);
            if let Some(t) = w.thread {
                let _ = t.join();
            }
            drop(w.stop_backfill);
            if let Some(t) = w.backfill {
                let _ = t.join();
            }
        }
    }
}

impl Writer {
    fn start(store: Arc<dyn Store>, stats: Arc<Stats>) -> Self {
        let (jobs, rx) = mpsc::channel();
        let thread = {
            let store = store.clone();
            std::thread::Builder::new()
                .name("aigis-ledger-writer".into())
                .spawn(move || write_loop(store.as_ref(), &rx, &stats))
                .ok()
        };
        let (stop_backfill, stop) = mpsc::channel::<()>();
        // Without this thread nothing is lost: the commit that fills the WAL copies it.
        let backfill = std::thread::Builder::new()
            .name("aigis-ledger-backfill".into())
            .spawn(move || {
                while let Err(mpsc::RecvTimeoutError::Timeout) = stop.recv_timeout(BACKFILL_EVERY) {
                    // A failed backfill is tried again at the next tick; meanwhile the
                    // commits copy the WAL themselves, as without this thread.
                    let _ = store.backfill();
                }
            })
            .ok();
        Self {
            jobs,
            thread,
            stop_backfill,
            backfill,
        }
    }
}

fn write_loop(store: &dyn Store, rx: &Receiver<Job>, stats: &Stats) {
    while let Ok(first) = rx.recv() {
        // A job is never split: the batch may pass MAX_BATCH by the last job taken.
        let mut count = first.entries.len();
        let mut jobs = vec![first];
        while count < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => {
                    count += job.entries.len();
                    jobs.push(job);
                }
                Err(_) => break,
            }
        }
        let mut entries = Vec::with_capacity(count);
        let mut waiters = Vec::with_capacity(jobs.len());
        for job in jobs {
            waiters.push((job.entries.len() as u64, job.done));
            entries.extend(job.entries);
        }
        match store.append(&entries) {
            Ok(first_index) => {
                stats.commits.fetch_add(1, Ordering::Relaxed);
                stats.entries.fetch_add(count as u64, Ordering::Relaxed);
                let mut next = first_index;
                for (n, done) in waiters {
                    done(Ok(next));
                    next += n;
                }
            }
            Err(e) => {
                let msg = e.to_string();
                for (_, done) in waiters {
                    done(Err(Error::Append(msg.clone())));
                }
            }
        }
    }
}

/// Signs `statement` with `key` into a DSSE envelope and makes its ledger entry, its time
/// signed by the same key ([`crate::time`]): what [`evidence_entry`] would make of the
/// envelope, without parsing back what was just built.
pub fn statement_entry(statement: &Statement, key: &SigningKey, recorded_at_ms: i64) -> NewEntry {
    let mut entry = statement_entry_untimed(statement, key, recorded_at_ms);
    entry.time = Some(crate::time::sign(key, &entry.leaf_hash, recorded_at_ms));
    entry
}

/// [`statement_entry`] without the time signature (a second Ed25519 signature): for the
/// gateway's record of each call, written at the request rate and never read for its age
/// by a decision.
pub fn statement_entry_untimed(
    statement: &Statement,
    key: &SigningKey,
    recorded_at_ms: i64,
) -> NewEntry {
    let body = Envelope::sign(PAYLOAD_TYPE, statement.to_json(), key).to_json();
    NewEntry {
        leaf_hash: leaf_hash(&body),
        predicate_type: statement.predicate_type.clone(),
        subjects: statement.subject_digests().collect(),
        body,
        recorded_at_ms,
        time: None,
    }
}

/// Builds the ledger entry for a DSSE envelope of an in-toto statement.
pub fn evidence_entry(envelope_json: Vec<u8>, recorded_at_ms: i64) -> Result<NewEntry, Error> {
    let envelope = Envelope::from_json(&envelope_json)?;
    if envelope.payload_type != PAYLOAD_TYPE {
        return Err(Error::Invalid(format!(
            "the envelope's payloadType is `{}`, expected `{PAYLOAD_TYPE}`",
            envelope.payload_type
        )));
    }
    let statement = Statement::from_json(&envelope.payload)?;
    Ok(NewEntry {
        leaf_hash: leaf_hash(&envelope_json),
        predicate_type: statement.predicate_type.clone(),
        subjects: statement.subject_digests().collect(),
        body: envelope_json,
        recorded_at_ms,
        time: None,
    })
}

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// A store as a `tlog_tiles::HashReader`.
pub(crate) struct Reader<'a>(pub &'a dyn Store);

impl tlog_tiles::HashReader for Reader<'_> {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, tlog_tiles::Error> {
        self.0
            .read_hashes(indexes)
            .map_err(|e| tlog_tiles::Error::InvalidInput(e.to_string()))
    }
}

/// The statement of ledger entry `index` (its `body`), and the id of the key of `keys`
/// that signed it. An entry that is not a DSSE envelope, not signed by one of `keys`, or
/// not an in-toto statement is refused, with why (for a person): nothing that reads
/// evidence to decide reads unsigned claims.
pub fn signed_statement(
    keys: &[aigis_crypto::PublicKey],
    index: u64,
    body: &[u8],
) -> Result<(Statement, String), String> {
    use aigis_core::error_chain as chain;
    let envelope = Envelope::from_json(body)
        .map_err(|e| format!("evidence #{index} is not a DSSE envelope: {}", chain(&e)))?;
    let key_id = envelope.verify(keys).map_err(|e| {
        format!(
            "evidence #{index} is not signed by a project key: {}",
            chain(&e)
        )
    })?;
    let statement = Statement::from_json(&envelope.payload).map_err(|e| {
        format!(
            "evidence #{index} is not an in-toto statement: {}",
            chain(&e)
        )
    })?;
    Ok((statement, key_id))
}

#[cfg(test)]
mod tests {
    use super::*;
    use aigis_core::Digest;

    /// The entry built from the statement is the one `evidence_entry` reads back out of
    /// the signed envelope: the same leaf, type and subjects.
    #[test]
    fn statement_entry_is_what_evidence_entry_reads() {
        let statement = Statement::new(
            vec![
                ("request".into(), Digest::of(b"a")),
                ("model:digits".into(), Digest::of(b"b")),
            ],
            "https://aigis.dev/test/v1",
            serde_json::json!({"n": 1, "text": "é"}),
        )
        .unwrap();
        let key = SigningKey::generate();
        let built = statement_entry(&statement, &key, 7);
        let read = evidence_entry(built.body.clone(), 7).unwrap();
        assert_eq!(built.leaf_hash, read.leaf_hash);
        assert_eq!(built.predicate_type, read.predicate_type);
        assert_eq!(built.subjects, read.subjects);
        assert_eq!(built.subjects.len(), 2);
        assert_eq!(built.recorded_at_ms, read.recorded_at_ms);
    }
}
