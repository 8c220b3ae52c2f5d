//! Ledger benchmarks, each beside a baseline measured in the same run.
//!
//! Full run (release):  cargo bench -p aigis-ledger --bench ledger
//! Smoke run (debug, tiny sizes, what CI does): cargo test -p aigis-ledger --bench ledger
//!
//! Sizes can be changed with AIGIS_BENCH_VERIFY_N (default 1,000,000) and
//! AIGIS_BENCH_APPEND_N (default 200,000); AIGIS_BENCH_DIR picks the disk to write to.
//!
//! Measured:
//! 1. durable appends/s through `Ledger::append` from many threads (group commit, WAL,
//!    synchronous=FULL), against raw SQLite inserts of the same rows with the same
//!    durability, in transactions of the same mean size the ledger's group commit formed;
//! 2. inclusion-proof time on the large ledger, against one SQLite point read of an entry;
//! 3. full `verify` of the large ledger, against SHA-256 of the same entry bytes and
//!    against reading the entries from SQLite.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "a benchmark stops on a broken setup"
)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use aigis_core::{Digest, PAYLOAD_TYPE, Statement};
use aigis_crypto::SigningKey;
use aigis_crypto::dsse::Envelope;
use aigis_ledger::{
    Ledger, NewEntry, SqliteStore, Store, VerifyOptions, evidence_entry, leaf_hash,
};

fn main() {
    // `cargo bench` passes --bench; `cargo test` does not: then run tiny sizes as a smoke test.
    let full = std::env::args().any(|a| a == "--bench");
    let env_n = |name: &str, default: u64| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let (append_n, verify_n) = if full {
        (
            env_n("AIGIS_BENCH_APPEND_N", 200_000),
            env_n("AIGIS_BENCH_VERIFY_N", 1_000_000),
        )
    } else {
        (2_000, 5_000)
    };
    let base = std::env::var_os("AIGIS_BENCH_DIR").map(std::path::PathBuf::from);
    let tmp = match &base {
        Some(b) => tempfile::tempdir_in(b),
        None => tempfile::tempdir(),
    }
    .expect("temporary folder");

    println!(
        "# aigis-ledger benchmarks ({})",
        if full { "full" } else { "smoke" }
    );
    println!(
        "entries: {verify_n} (verify, proofs), {append_n} (appends); machine: {} cores\n",
        cores()
    );
    let key = SigningKey::from_seed(&[42; 32]);
    let t = Instant::now();
    let bodies = envelopes(verify_n.max(append_n), &key);
    let mean_len = bodies.iter().map(Vec::len).sum::<usize>() / bodies.len().max(1);
    println!(
        "made {} signed DSSE envelopes of {mean_len} bytes on average in {:.1?}\n",
        bodies.len(),
        t.elapsed()
    );

    println!("| measure | aigis | baseline | ratio |");
    println!("|---|---|---|---|");
    for threads in [64usize, 256, 1024] {
        bench_appends(tmp.path(), &bodies[..append_n as usize], threads);
    }
    let ledger = build(tmp.path(), &bodies[..verify_n as usize]);
    bench_proofs(&ledger, verify_n);
    bench_verify(&ledger, &bodies[..verify_n as usize], &key);
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Realistic entries: DSSE envelopes of in-toto statements, each signed.
fn envelopes(n: u64, key: &SigningKey) -> Vec<Vec<u8>> {
    let parts = cores() as u64;
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..parts)
            .map(|p| {
                s.spawn(move || {
                    (p * n / parts..(p + 1) * n / parts)
                        .map(|i| {
                            let statement = Statement::new(
                                vec![(format!("model-{i}.onnx"), Digest::of(&i.to_le_bytes()))],
                                "https://aigis.dev/predicate/model-scan/v1",
                                serde_json::json!({"scanner": "aigis", "findings": i % 7, "seconds": 0.25}),
                            )
                            .expect("statement");
                            Envelope::sign(PAYLOAD_TYPE, statement.to_json(), key).to_json()
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("thread"))
            .collect()
    })
}

fn bench_appends(dir: &std::path::Path, bodies: &[Vec<u8>], threads: usize) {
    let path = dir.join(format!("append-{threads}.db"));
    let ledger = Arc::new(Ledger::new(Arc::new(
        SqliteStore::open(&path, true).expect("open"),
    )));
    let chunk = bodies.len().div_ceil(threads);
    let t = Instant::now();
    std::thread::scope(|s| {
        for part in bodies.chunks(chunk) {
            let ledger = ledger.clone();
            s.spawn(move || {
                for body in part {
                    let entry = evidence_entry(body.clone(), 0).expect("entry");
                    ledger.append(entry).expect("append");
                }
            });
        }
    });
    let took = t.elapsed();
    let rate = bodies.len() as f64 / took.as_secs_f64();
    let stats = ledger.commit_stats();
    let mean_batch = (stats.entries as f64 / stats.commits.max(1) as f64).max(1.0);

    // Baseline: the same rows into a bare table, same pragmas, same transaction sizes.
    let raw_path = dir.join(format!("raw-{threads}.db"));
    let conn = rusqlite::Connection::open(&raw_path).expect("raw db");
    conn.pragma_update(None, "journal_mode", "WAL")
        .expect("wal");
    conn.pragma_update(None, "synchronous", "FULL")
        .expect("sync");
    conn.execute_batch("CREATE TABLE entries (idx INTEGER PRIMARY KEY, body BLOB NOT NULL)")
        .expect("table");
    let batch = mean_batch.round() as usize;
    let t = Instant::now();
    let mut conn = conn;
    for (b, rows) in bodies.chunks(batch.max(1)).enumerate() {
        let tx = conn.transaction().expect("tx");
        {
            let mut stmt = tx
                .prepare_cached("INSERT INTO entries (idx, body) VALUES (?1, ?2)")
                .expect("stmt");
            for (i, body) in rows.iter().enumerate() {
                stmt.execute(rusqlite::params![(b * batch + i) as i64, body])
                    .expect("insert");
            }
        }
        tx.commit().expect("commit");
    }
    let raw_rate = bodies.len() as f64 / t.elapsed().as_secs_f64();
    println!(
        "| durable appends/s, {threads} appending threads (mean group commit {mean_batch:.0} entries) | {rate:.0}/s | {raw_rate:.0}/s raw SQLite inserts, same rows and commits | {:.2}× |",
        rate / raw_rate
    );
}

fn build(dir: &std::path::Path, bodies: &[Vec<u8>]) -> Ledger {
    let store = Arc::new(SqliteStore::open(&dir.join("big.db"), true).expect("open"));
    let t = Instant::now();
    for part in bodies.chunks(8192) {
        let batch: Vec<NewEntry> = part
            .iter()
            .map(|b| evidence_entry(b.clone(), 0).expect("entry"))
            .collect();
        store.append(&batch).expect("append");
    }
    let ledger = Ledger::new(store);
    ledger
        .checkpoint("bench.example/log", &SigningKey::from_seed(&[42; 32]))
        .expect("checkpoint");
    println!(
        "| (setup) built a ledger of {} entries | {:.1?} | | |",
        bodies.len(),
        t.elapsed()
    );
    ledger
}

fn bench_proofs(ledger: &Ledger, n: u64) {
    let cp = ledger.checkpoint_at(n).expect("read").expect("checkpoint");
    let mut x = 0x9e37_79b9_7f4a_7c15_u64;
    let mut pick = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % n
    };
    let rounds = 10_000u32;
    let indices: Vec<u64> = (0..rounds).map(|_| pick()).collect();
    let t = Instant::now();
    let mut proofs = Vec::with_capacity(indices.len());
    for &i in &indices {
        proofs.push(ledger.prove_inclusion(i, &cp).expect("prove"));
    }
    let prove = t.elapsed() / rounds;
    let t = Instant::now();
    for &i in &indices {
        std::hint::black_box(ledger.store().entry(i).expect("read"));
    }
    let read = t.elapsed() / rounds;
    println!(
        "| inclusion proof, {n}-entry ledger ({} hashes) | {} | {} one SQLite read of the entry | {:.2}× |",
        proofs.first().map_or(0, |p| p.path.len()),
        us(prove),
        us(read),
        prove.as_secs_f64() / read.as_secs_f64()
    );
}

fn bench_verify(ledger: &Ledger, bodies: &[Vec<u8>], key: &SigningKey) {
    let vkey = aigis_crypto::note::verifier_key("bench.example/log", &key.public()).expect("vkey");
    let opts = VerifyOptions {
        origin: Some("bench.example/log".into()),
        verifiers: Box::new(move || {
            vec![aigis_crypto::note::parse_verifier_key(&vkey).expect("vkey")]
        }),
        entry_keys: None,
        external_checkpoints: vec![],
    };
    let mut runs = Vec::new();
    for _ in 0..3 {
        let t = Instant::now();
        let report = aigis_ledger::verify(ledger.store(), &opts, &mut |_, _| {}).expect("verify");
        runs.push(t.elapsed());
        assert!(report.ok(), "{:?}", report.problems);
        assert_eq!(report.entries_checked, bodies.len() as u64);
    }
    runs.sort();
    let verify = runs[1];

    let t = Instant::now();
    for b in bodies {
        std::hint::black_box(leaf_hash(b));
    }
    let sha = t.elapsed();
    let t = Instant::now();
    let mut from = 0;
    let n = bodies.len() as u64;
    while from < n {
        let to = n.min(from + 16_384);
        std::hint::black_box(ledger.store().bodies_range(from, to).expect("read"));
        from = to;
    }
    let scan = t.elapsed();
    let mb = bodies.iter().map(Vec::len).sum::<usize>() as f64 / 1e6;
    println!(
        "| full verify, {} entries ({mb:.0} MB), median of 3 | {:.2} s | {:.2} s SHA-256 of the same bytes, one thread | {:.2}× |",
        bodies.len(),
        verify.as_secs_f64(),
        sha.as_secs_f64(),
        verify.as_secs_f64() / sha.as_secs_f64()
    );
    println!(
        "| (context) reading those entries from SQLite | | {:.2} s | {:.2}× |",
        scan.as_secs_f64(),
        verify.as_secs_f64() / scan.as_secs_f64()
    );
}

fn us(d: Duration) -> String {
    format!("{:.1} µs", d.as_secs_f64() * 1e6)
}
