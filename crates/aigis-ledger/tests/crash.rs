//! Crash safety: a child process appends from several threads and is killed with SIGKILL
//! at random points, 24 times over the same SQLite file. Every append the child saw
//! acknowledged (`Ledger::append` returned its index) must be in the log afterwards, with
//! the same leaf hash, and the log must verify (tree hashes and a signed checkpoint taken
//! between two crashes).
//!
//! The child is this test binary run again (`current_exe`) with only `child_appender`
//! selected and `AIGIS_CRASH_CHILD` naming the database; without that variable the child
//! test returns at once. Set `AIGIS_CRASH_SEED` to replay a run's kill timings.
#![cfg(all(unix, feature = "sqlite"))]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aigis_crypto::{SigningKey, note};
use aigis_ledger::{Ledger, NewEntry, SqliteStore, Store, VerifyOptions, leaf_hash, verify};

const CHILD_ENV: &str = "AIGIS_CRASH_CHILD";
const ROUNDS: usize = 24;
const CHECKPOINT_AFTER_ROUND: usize = 12;
const ORIGIN: &str = "example.com/crash";
const APPENDERS: usize = 4;

/// A tiny xorshift64* generator; the tests need spread, not cryptographic quality.
struct XorShift(u64);

impl XorShift {
    fn from_clock() -> (Self, u64) {
        let seed = std::env::var("AIGIS_CRASH_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                let nanos = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map(|d| d.as_nanos() as u64)
                    .unwrap_or(0);
                nanos ^ (u64::from(std::process::id()) << 32)
            });
        (Self(seed | 1), seed)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo)
    }
}

/// The child: appends from `APPENDERS` threads until it is killed, printing
/// `ack <index> <hex leaf hash>` after each append that returned.
#[test]
fn child_appender() {
    let Some(path) = std::env::var_os(CHILD_ENV) else {
        return;
    };
    let store = SqliteStore::open(Path::new(&path), true).expect("child: open the ledger");
    let ledger = Arc::new(Ledger::new(Arc::new(store)));
    let nonce = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let pid = std::process::id();
    let threads: Vec<_> = (0..APPENDERS)
        .map(|t| {
            let ledger = ledger.clone();
            std::thread::spawn(move || {
                for seq in 0u64.. {
                    let body = format!("pid {pid} nonce {nonce} thread {t} seq {seq}").into_bytes();
                    let leaf = leaf_hash(&body);
                    let index = ledger
                        .append(NewEntry {
                            leaf_hash: leaf,
                            body,
                            predicate_type: "https://example.com/crash".into(),
                            subjects: vec![],
                            recorded_at_ms: 0,
                            time: None,
                        })
                        .expect("child: append");
                    // One write per line, under the lock, so lines never interleave.
                    let line = format!("ack {index} {}\n", hex::encode(leaf.0));
                    let mut out = std::io::stdout().lock();
                    out.write_all(line.as_bytes()).expect("child: write ack");
                    out.flush().expect("child: flush ack");
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("child: appender thread panicked");
    }
}

/// Kills the child if the parent panics before it does, so no appender outlives the test.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn parse_ack(line: &str) -> Option<(u64, String)> {
    // With --nocapture, libtest prints `test <name> ... ` with no newline before the
    // test's own output, so the first ack shares its line.
    let ack = line.find("ack ").map(|at| &line[at..])?;
    let mut parts = ack.strip_prefix("ack ")?.split(' ');
    let index = parts.next()?.parse().ok()?;
    let hash = parts.next()?;
    if parts.next().is_some() || hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    Some((index, hash.to_owned()))
}

/// One round: start the child, let it append for a random while after its first
/// acknowledged append, SIGKILL it. Returns the acks it printed.
fn crash_round(db: &Path, rng: &mut XorShift, round: usize) -> Vec<(u64, String)> {
    let child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "crash::child_appender",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, db)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn the child appender");
    let mut child = KillOnDrop(child);
    let stdout = child.0.stdout.take().unwrap();
    let acks = Arc::new(Mutex::new(Vec::new()));
    let (first_tx, first_rx) = mpsc::channel();
    let reader = {
        let acks = acks.clone();
        std::thread::spawn(move || {
            let mut first = Some(first_tx);
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                // A SIGKILL can only cut the last line short; it then fails to parse.
                if let Some(ack) = parse_ack(&line) {
                    acks.lock().unwrap().push(ack);
                    if let Some(tx) = first.take() {
                        let _ = tx.send(());
                    }
                }
            }
        })
    };
    if first_rx.recv_timeout(Duration::from_secs(20)).is_err() {
        let status = child.0.try_wait().ok().flatten();
        panic!(
            "round {round}: the child acknowledged no append within 20 s (exit status {status:?})"
        );
    }
    let wait = rng.range(20, 150);
    std::thread::sleep(Duration::from_millis(wait));
    child.0.kill().expect("kill the child");
    let status = child.0.wait().expect("wait for the child");
    assert_eq!(
        status.signal(),
        Some(9),
        "round {round}: the child was expected to die of SIGKILL, but it ended with {status:?}"
    );
    reader.join().unwrap();
    std::mem::take(&mut *acks.lock().unwrap())
}

/// Every acknowledged append is in the log with the leaf hash the child computed.
fn check_acks(store: &SqliteStore, acks: &BTreeMap<u64, String>, what: &str) {
    let size = store.tree_size().unwrap();
    if let Some((&last, _)) = acks.last_key_value() {
        assert!(
            last < size,
            "{what}: entry {last} was acknowledged but the tree has only {size} entries"
        );
    }
    let bodies: BTreeMap<u64, Vec<u8>> = store.bodies_range(0, size).unwrap().into_iter().collect();
    for (index, hash) in acks {
        let body = bodies
            .get(index)
            .unwrap_or_else(|| panic!("{what}: acknowledged entry {index} is missing"));
        assert_eq!(
            &hex::encode(leaf_hash(body).0),
            hash,
            "{what}: acknowledged entry {index} has another body than the one appended"
        );
    }
}

#[test]
fn acknowledged_appends_survive_sigkill() {
    let started = Instant::now();
    let (mut rng, seed) = XorShift::from_clock();
    eprintln!("crash test seed {seed} (set AIGIS_CRASH_SEED={seed} to replay)");
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("ledger.db");
    let key = SigningKey::from_seed(&[0x5a; 32]);
    let mut all: BTreeMap<u64, String> = BTreeMap::new();
    let mut checkpoint_size = None;

    for round in 1..=ROUNDS {
        let acks = crash_round(&db, &mut rng, round);
        assert!(!acks.is_empty(), "round {round}: no acks");
        let mut this_round = BTreeMap::new();
        for (index, hash) in acks {
            // An index acknowledged twice means a committed append was lost and its index
            // handed out again.
            if let Some(before) = all.insert(index, hash.clone()) {
                panic!(
                    "round {round}: index {index} was acknowledged again (first {before}, now {hash}): an acknowledged append was lost"
                );
            }
            this_round.insert(index, hash);
        }
        // The database opens after every crash, and this round's acks are all there.
        let store = SqliteStore::open(&db, false)
            .unwrap_or_else(|e| panic!("round {round}: reopen after SIGKILL: {e}"));
        check_acks(&store, &this_round, &format!("round {round}"));
        if round == CHECKPOINT_AFTER_ROUND {
            let ledger = Ledger::new(Arc::new(store));
            let cp = ledger.checkpoint(ORIGIN, &key).unwrap();
            assert!(cp.tree_size >= all.len() as u64);
            checkpoint_size = Some(cp.tree_size);
        }
    }

    let store = SqliteStore::open(&db, false).unwrap();
    let size = store.tree_size().unwrap();
    assert!(
        size >= all.len() as u64,
        "tree size {size} < {} acknowledged entries",
        all.len()
    );
    check_acks(&store, &all, "after all rounds");
    assert_eq!(store.checkpoints().unwrap().len(), 1);
    assert!(checkpoint_size.unwrap() <= size);

    let vkey = note::verifier_key(ORIGIN, &key.public()).unwrap();
    let opts = VerifyOptions {
        origin: Some(ORIGIN.into()),
        verifiers: Box::new(move || vec![note::parse_verifier_key(&vkey).unwrap()]),
        entry_keys: None,
        external_checkpoints: vec![],
    };
    let report = verify(&store, &opts, &mut |_, _| {}).unwrap();
    assert!(report.ok(), "verify after {ROUNDS} crashes: {report:#?}");
    assert_eq!(report.tree_size, size);
    assert_eq!(report.entries_checked, size);
    assert_eq!(report.checkpoints_checked, 1);
    eprintln!(
        "crash test: {ROUNDS} SIGKILLs, {} acknowledged appends, tree size {size}, {:.1?}",
        all.len(),
        started.elapsed()
    );
}
