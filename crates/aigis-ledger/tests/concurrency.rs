//! Concurrent appends: many threads through one `Ledger`, and two processes appending to
//! the same SQLite file at once. No index is handed out twice, none is skipped, every
//! acknowledged entry is stored under its index, and the log verifies. Also: `verify`
//! running while another connection appends reports nothing wrong.
//!
//! The second process is this test binary run again with only `child_two_process_appender`
//! selected and `AIGIS_CONCURRENCY_CHILD` naming the database.
#![cfg(feature = "sqlite")]

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Instant;

use aigis_ledger::{Ledger, NewEntry, SqliteStore, Store, VerifyOptions, leaf_hash, verify};

const CHILD_ENV: &str = "AIGIS_CONCURRENCY_CHILD";
const CHILD_THREADS: u64 = 4;
const CHILD_APPENDS: u64 = 400;

fn entry(body: Vec<u8>) -> NewEntry {
    NewEntry {
        leaf_hash: leaf_hash(&body),
        body,
        predicate_type: "https://example.com/concurrency".into(),
        subjects: vec![],
        recorded_at_ms: 0,
        time: None,
    }
}

fn no_checkpoints() -> VerifyOptions {
    VerifyOptions {
        origin: None,
        verifiers: Box::new(Vec::new),
        entry_keys: None,
        external_checkpoints: vec![],
    }
}

fn assert_verifies(store: &dyn Store, size: u64) {
    let report = verify(store, &no_checkpoints(), &mut |_, _| {}).unwrap();
    assert!(report.ok(), "{report:#?}");
    assert_eq!(report.tree_size, size);
    assert_eq!(report.entries_checked, size);
}

/// Every `(index, leaf hash)` is stored: the body at `index` hashes to the leaf hash.
fn assert_stored(store: &dyn Store, acks: &BTreeMap<u64, [u8; 32]>) {
    let size = store.tree_size().unwrap();
    let bodies: BTreeMap<u64, Vec<u8>> = store.bodies_range(0, size).unwrap().into_iter().collect();
    for (index, hash) in acks {
        let body = bodies
            .get(index)
            .unwrap_or_else(|| panic!("acknowledged entry {index} is missing"));
        assert_eq!(
            &leaf_hash(body).0,
            hash,
            "entry {index} is not the entry acknowledged with that index"
        );
    }
}

/// The acknowledged indices are exactly `0..n`, the log holds `n` entries, each stored
/// under the index it was acknowledged with, and it verifies.
fn assert_complete(ledger: &Ledger, acks: &BTreeMap<u64, [u8; 32]>, n: u64) {
    assert_eq!(
        acks.keys().copied().collect::<Vec<_>>(),
        (0..n).collect::<Vec<_>>(),
        "the indices are not exactly 0..{n}"
    );
    assert_eq!(ledger.tree_size().unwrap(), n);
    assert_stored(ledger.store(), acks);
    assert_verifies(ledger.store(), n);
}

#[test]
fn many_threads_one_ledger() {
    const THREADS: u64 = 16;
    const PER_THREAD: u64 = 300;
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let ledger = Arc::new(Ledger::new(Arc::new(
        SqliteStore::open(&dir.path().join("ledger.db"), true).unwrap(),
    )));
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let ledger = ledger.clone();
            std::thread::spawn(move || {
                (0..PER_THREAD)
                    .map(|seq| {
                        let body = format!("thread {t} seq {seq}").into_bytes();
                        let leaf = leaf_hash(&body);
                        (ledger.append(entry(body)).unwrap(), leaf.0)
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut acks = BTreeMap::new();
    for t in threads {
        for (index, hash) in t.join().unwrap() {
            assert!(
                acks.insert(index, hash).is_none(),
                "index {index} was handed out twice"
            );
        }
    }
    let n = THREADS * PER_THREAD;
    assert_complete(&ledger, &acks, n);
    eprintln!(
        "{THREADS} threads × {PER_THREAD} appends: {:.1?}",
        started.elapsed()
    );
}

/// Batches from many threads (`append_all`) and callbacks (`submit`) at once: each batch
/// lands as consecutive entries in its own order, and each caller learns the index of
/// its first entry.
#[test]
fn batches_stay_whole_and_in_order() {
    const THREADS: u64 = 8;
    const BATCHES: u64 = 40;
    let dir = tempfile::tempdir().unwrap();
    let ledger = Arc::new(Ledger::new(Arc::new(
        SqliteStore::open(&dir.path().join("ledger.db"), true).unwrap(),
    )));
    let body = |t: u64, b: u64, i: u64| format!("thread {t} batch {b} item {i}").into_bytes();
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let ledger = ledger.clone();
            std::thread::spawn(move || {
                let mut firsts = Vec::new();
                let mut pending = Vec::new();
                for b in 0..BATCHES {
                    // Batches of 1 to 7 entries; odd threads queue them all before waiting.
                    let len = 1 + (t + b) % 7;
                    let entries = (0..len).map(|i| entry(body(t, b, i))).collect();
                    if t % 2 == 0 {
                        firsts.push((b, len, ledger.append_all(entries).unwrap()));
                    } else {
                        let (tx, rx) = std::sync::mpsc::channel();
                        ledger.submit(
                            entries,
                            Box::new(move |r| {
                                let _ = tx.send(r);
                            }),
                        );
                        pending.push((b, len, rx));
                    }
                }
                for (b, len, rx) in pending {
                    firsts.push((b, len, rx.recv().unwrap().unwrap()));
                }
                firsts
            })
        })
        .collect();
    let mut acks = BTreeMap::new();
    for (t, handle) in (0..THREADS).zip(threads) {
        for (b, len, first) in handle.join().unwrap() {
            for i in 0..len {
                assert!(
                    acks.insert(first + i, leaf_hash(&body(t, b, i)).0)
                        .is_none(),
                    "index {} was handed out twice",
                    first + i
                );
            }
        }
    }
    let n = acks.len() as u64;
    assert_complete(&ledger, &acks, n);
    let stats = ledger.commit_stats();
    assert_eq!(stats.entries, n);
}

/// `verify` through its own connection while another connection appends and signs
/// checkpoints (as `aigis ledger verify` next to a running `aigis attest` would): appends
/// that land mid-verify are not damage.
#[test]
fn verify_while_appending_finds_nothing_wrong() {
    const VERIFIES: usize = 40;
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("ledger.db");
    let key = aigis_crypto::SigningKey::from_seed(&[3; 32]);
    let vkey = aigis_crypto::note::verifier_key("example.com/live", &key.public()).unwrap();
    let ledger = Arc::new(Ledger::new(Arc::new(SqliteStore::open(&db, true).unwrap())));
    for i in 0..50 {
        ledger
            .append(entry(format!("before {i}").into_bytes()))
            .unwrap();
    }
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let appender = {
        let (ledger, stop) = (ledger.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut i = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                ledger
                    .append(entry(format!("during {i}").into_bytes()))
                    .unwrap();
                if i.is_multiple_of(3) {
                    ledger.checkpoint("example.com/live", &key).unwrap();
                }
                i += 1;
            }
            i
        })
    };
    let opts = VerifyOptions {
        origin: Some("example.com/live".into()),
        verifiers: Box::new(move || vec![aigis_crypto::note::parse_verifier_key(&vkey).unwrap()]),
        entry_keys: None,
        external_checkpoints: vec![],
    };
    let reader = SqliteStore::open(&db, false).unwrap();
    let reports: Vec<_> = (0..VERIFIES)
        .map(|_| verify(&reader, &opts, &mut |_, _| {}).unwrap())
        .collect();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let appended = appender.join().unwrap();
    for r in &reports {
        assert!(r.ok(), "verify during appends: {:#?}", r.problems);
    }
    // The verifies did overlap appends: they saw different sizes.
    let sizes: BTreeSet<u64> = reports.iter().map(|r| r.tree_size).collect();
    assert!(sizes.len() > 1 || appended == 0, "{sizes:?}");
    eprintln!(
        "{VERIFIES} verifies during {appended} appends (sizes {}..={}): {:.1?}",
        sizes.first().unwrap(),
        sizes.last().unwrap(),
        started.elapsed()
    );
}

/// The child of `two_processes_one_file`: `CHILD_THREADS` threads append
/// `CHILD_APPENDS` entries in all, printing `ack <index> <hex leaf hash>` for each, then
/// it exits normally.
#[test]
fn child_two_process_appender() {
    let Some(path) = std::env::var_os(CHILD_ENV) else {
        return;
    };
    let store = SqliteStore::open(Path::new(&path), false).expect("child: open the ledger");
    let ledger = Arc::new(Ledger::new(Arc::new(store)));
    let pid = std::process::id();
    // Start together with the other child: say `ready`, wait for the parent's `go`.
    {
        let mut out = std::io::stdout().lock();
        out.write_all(b"\nready\n").expect("child: write ready");
        out.flush().expect("child: flush ready");
    }
    let mut go = String::new();
    std::io::stdin().read_line(&mut go).expect("child: read go");
    assert_eq!(go.trim(), "go", "child: expected `go` on stdin");
    let threads: Vec<_> = (0..CHILD_THREADS)
        .map(|t| {
            let ledger = ledger.clone();
            std::thread::spawn(move || {
                for seq in 0..CHILD_APPENDS / CHILD_THREADS {
                    let body = format!("pid {pid} thread {t} seq {seq}").into_bytes();
                    let leaf = leaf_hash(&body);
                    let index = ledger.append(entry(body)).expect("child: append");
                    let line = format!("ack {index} {}\n", hex::encode(leaf.0));
                    let mut out = std::io::stdout().lock();
                    out.write_all(line.as_bytes()).expect("child: write ack");
                    out.flush().expect("child: flush ack");
                    drop(out);
                    // Leave the write lock free now and then: SQLite's busy handler
                    // backs off, so a writer that never pauses starves the other process
                    // and the two would hardly interleave.
                    std::thread::sleep(std::time::Duration::from_millis(1));
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("child: appender thread panicked");
    }
}

fn parse_ack(line: &str) -> Option<(u64, [u8; 32])> {
    // With --nocapture, libtest prints `test <name> ... ` with no newline before the
    // test's own output, so the first ack shares its line.
    let ack = line.find("ack ").map(|at| &line[at..])?;
    let mut parts = ack.strip_prefix("ack ")?.split(' ');
    let index = parts.next()?.parse().ok()?;
    let hash = hex::decode(parts.next()?).ok()?.try_into().ok()?;
    parts.next().is_none().then_some((index, hash))
}

#[test]
fn two_processes_one_file() {
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("ledger.db");
    // The ledger exists before the children start, as after `aigis init`. (Two processes
    // *creating* it at once can fail: switching a new file to WAL mode takes an exclusive
    // lock that SQLite does not wait for, so one `open` gets "database is locked".)
    drop(SqliteStore::open(&db, true).unwrap());
    let children: Vec<_> = (0..2)
        .map(|_| {
            Command::new(std::env::current_exe().unwrap())
                .args([
                    "--exact",
                    "concurrency::child_two_process_appender",
                    "--nocapture",
                    "--test-threads=1",
                ])
                .env(CHILD_ENV, &db)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()
                .expect("spawn a child appender")
        })
        .collect();
    // Read both outputs at once so neither child blocks on a full pipe.
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let mut go = Vec::new();
    let readers: Vec<_> = children
        .into_iter()
        .map(|mut child| {
            go.push(child.stdin.take().unwrap());
            let stdout = child.stdout.take().unwrap();
            let ready_tx = ready_tx.clone();
            std::thread::spawn(move || {
                let mut acks = Vec::new();
                for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                    if line == "ready" {
                        let _ = ready_tx.send(());
                    } else if let Some(ack) = parse_ack(&line) {
                        acks.push(ack);
                    }
                }
                drop(ready_tx);
                (child.wait().unwrap(), acks)
            })
        })
        .collect();
    drop(ready_tx);
    for _ in 0..2 {
        ready_rx
            .recv_timeout(std::time::Duration::from_secs(30))
            .expect("both children open the ledger and say `ready`");
    }
    for mut stdin in go {
        stdin.write_all(b"go\n").unwrap();
    }
    let mut per_child = Vec::new();
    for r in readers {
        let (status, acks) = r.join().unwrap();
        assert!(status.success(), "a child appender failed: {status:?}");
        assert_eq!(
            acks.len() as u64,
            CHILD_APPENDS,
            "a child acknowledged {} appends, not {CHILD_APPENDS}",
            acks.len()
        );
        per_child.push(acks);
    }

    let a: BTreeSet<u64> = per_child[0].iter().map(|(i, _)| *i).collect();
    let b: BTreeSet<u64> = per_child[1].iter().map(|(i, _)| *i).collect();
    assert_eq!(a.len() as u64, CHILD_APPENDS, "a child got an index twice");
    assert_eq!(b.len() as u64, CHILD_APPENDS, "a child got an index twice");
    let shared: Vec<_> = a.intersection(&b).collect();
    assert!(
        shared.is_empty(),
        "both processes were given indices {shared:?}"
    );
    let n = 2 * CHILD_APPENDS;
    assert_eq!(
        a.union(&b).copied().collect::<Vec<_>>(),
        (0..n).collect::<Vec<_>>(),
        "the indices of the two processes together are not exactly 0..{n}"
    );
    // Interleaving is the point of the test; report it rather than demand it (one child
    // could in principle finish before the other starts).
    let switches = (1..n)
        .filter(|&i| a.contains(&i) != a.contains(&(i - 1)))
        .count();

    let acks: BTreeMap<u64, [u8; 32]> = per_child.into_iter().flatten().collect();
    let store = SqliteStore::open(&db, false).unwrap();
    assert_eq!(store.tree_size().unwrap(), n);
    assert_stored(&store, &acks);
    assert_verifies(&store, n);
    eprintln!(
        "two processes × {CHILD_APPENDS} appends: {switches} switches between the writers, {:.1?}",
        started.elapsed()
    );
}

/// Several openers creating one new ledger at the same moment all succeed (switching a new
/// file to WAL needs an exclusive lock, for which SQLite does not wait by itself).
#[test]
fn concurrent_creation_of_a_new_ledger_succeeds() {
    for round in 0..20 {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(format!("new-{round}.db"));
        let barrier = std::sync::Barrier::new(4);
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    barrier.wait();
                    aigis_ledger::SqliteStore::open(&path, true)
                        .unwrap_or_else(|e| panic!("round {round}: {e}"));
                });
            }
        });
    }
}

/// While a ledger's writer runs, another thread copies the WAL into the database file
/// (`Store::backfill`), so no commit has all of it to copy: with appends going on and no
/// commit anywhere near the 64 MiB that makes one copy it, the database file grows, every
/// append is stored under its index, and the log verifies. Calling `backfill` from many
/// threads at once as appends go on breaks nothing either.
#[test]
fn the_wal_is_backfilled_beside_the_appends() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.db");
    let store = Arc::new(SqliteStore::open(&path, true).unwrap());
    let ledger = Arc::new(Ledger::new(store.clone()));
    let before = std::fs::metadata(&path).unwrap().len();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let backfillers: Vec<_> = (0..3)
        .map(|_| {
            let (store, stop) = (store.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    store.backfill().unwrap();
                }
            })
        })
        .collect();
    let appenders: Vec<_> = (0..4u64)
        .map(|t| {
            let ledger = ledger.clone();
            std::thread::spawn(move || {
                (0..150u64)
                    .map(|seq| {
                        let body = format!("{t}/{seq} {}", "x".repeat(2000)).into_bytes();
                        let leaf = leaf_hash(&body);
                        (ledger.append(entry(body)).unwrap(), leaf.0)
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut acks = BTreeMap::new();
    for t in appenders {
        acks.extend(t.join().unwrap());
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for b in backfillers {
        b.join().unwrap();
    }
    assert_complete(&ledger, &acks, 600);
    // The ledger's own backfill thread, on its 100 ms tick, with no other help.
    let more: Vec<NewEntry> = (0..300)
        .map(|i| entry(format!("more {i} {}", "y".repeat(2000)).into_bytes()))
        .collect();
    let grown = std::fs::metadata(&path).unwrap().len();
    ledger.append_all(more).unwrap();
    let deadline = Instant::now() + std::time::Duration::from_secs(10);
    while std::fs::metadata(&path).unwrap().len() < grown + 300 * 2000 {
        assert!(
            Instant::now() < deadline,
            "the writer's backfill did not copy the WAL into the database file"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(grown > before + 600 * 2000, "{before} → {grown} bytes");
    assert_verifies(store.as_ref(), 900);
}
