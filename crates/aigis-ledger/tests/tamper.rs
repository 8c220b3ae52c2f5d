//! Tampering with the SQLite file behind the ledger's back: every edit is caught by
//! `verify`, with the problem code and the first bad index it should name; a damaged or
//! garbage file is an error, never a panic.
//!
//! One ledger of 50 signed evidence entries (checkpoints at 20 and 50) is built once; each
//! case edits a fresh copy of its file with `rusqlite`.
#![cfg(feature = "sqlite")]

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

use aigis_core::{Digest, PAYLOAD_TYPE, Statement};
use aigis_crypto::dsse::Envelope;
use aigis_crypto::{SigningKey, note};
use aigis_ledger::{
    Ledger, SqliteStore, VerifyOptions, VerifyReport, evidence_entry, time, verify,
};
use rusqlite::{Connection, params};

const ORIGIN: &str = "example.com/tamper";
const ENTRIES: u64 = 50;
const PREDICATE: &str = "https://example.com/p/v1";

fn key() -> SigningKey {
    SigningKey::from_seed(&[0x11; 32])
}

/// Someone who can write the file but does not hold the project key.
fn attacker() -> SigningKey {
    SigningKey::from_seed(&[0x66; 32])
}

/// The DSSE envelope (JSON) of entry `i`, signed by `key`.
fn envelope(i: u64, key: &SigningKey) -> Vec<u8> {
    let statement = Statement::new(
        vec![(format!("f{i}"), Digest::of(format!("file {i}").as_bytes()))],
        PREDICATE,
        serde_json::json!({ "i": i }),
    )
    .unwrap();
    Envelope::sign(PAYLOAD_TYPE, statement.to_json(), key).to_json()
}

/// A forged entry: valid JSON and a valid statement, but signed by the attacker.
fn forged_envelope(i: u64) -> Vec<u8> {
    let statement = Statement::new(
        vec![(format!("f{i}"), Digest::of(b"something else"))],
        PREDICATE,
        serde_json::json!({ "i": i, "forged": true }),
    )
    .unwrap();
    Envelope::sign(PAYLOAD_TYPE, statement.to_json(), &attacker()).to_json()
}

/// Builds a ledger of `ENTRIES` entries at `path`, with `forge` entries replaced by forged
/// ones and a checkpoint at each size in `checkpoints`. The ledger is closed on return, so
/// the WAL is checkpointed into the main file.
fn build(path: &Path, forge: &[u64], checkpoints: &[u64]) {
    let ledger = Ledger::new(Arc::new(SqliteStore::open(path, true).unwrap()));
    let key = key();
    for i in 0..ENTRIES {
        let body = if forge.contains(&i) {
            forged_envelope(i)
        } else {
            envelope(i, &key)
        };
        let mut entry = evidence_entry(body, 1_700_000_000_000 + i as i64).unwrap();
        // Every other entry's time signed, as aigis signs its own records' (a gateway
        // call's record has none).
        if i % 2 == 0 && !forge.contains(&i) {
            entry.time = Some(time::sign(&key, &entry.leaf_hash, entry.recorded_at_ms));
        }
        let index = ledger.append(entry).unwrap();
        assert_eq!(index, i);
        if checkpoints.contains(&(i + 1)) {
            ledger.checkpoint(ORIGIN, &key).unwrap();
        }
    }
    drop(ledger);
    let wal = PathBuf::from(format!("{}-wal", path.display()));
    assert!(
        std::fs::metadata(&wal).map_or(true, |m| m.len() == 0),
        "the WAL of {} was not checkpointed on close",
        path.display()
    );
}

/// The bytes of the pristine ledger file, built once for all cases.
fn original() -> &'static [u8] {
    static BYTES: OnceLock<Vec<u8>> = OnceLock::new();
    BYTES.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger.db");
        build(&path, &[], &[20, 50]);
        std::fs::read(&path).unwrap()
    })
}

/// A fresh copy of the pristine ledger to tamper with.
fn copy() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.db");
    std::fs::write(&path, original()).unwrap();
    (dir, path)
}

/// Runs SQL on the file directly, as an attacker with write access would.
fn tamper(path: &Path, f: impl FnOnce(&Connection)) {
    let conn = Connection::open(path).unwrap();
    f(&conn);
    // Fold the WAL into the file (closing would too; this makes it explicit).
    let busy: i64 = conn
        .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get(0))
        .unwrap();
    assert_eq!(busy, 0, "the WAL checkpoint did not complete");
    conn.close().map_err(|(_, e)| e).unwrap();
}

fn body_of(conn: &Connection, index: u64) -> Vec<u8> {
    conn.query_row(
        "SELECT body FROM entries WHERE idx = ?1",
        [index as i64],
        |r| r.get(0),
    )
    .unwrap()
}

fn set_body(conn: &Connection, index: u64, body: &[u8]) {
    let n = conn
        .execute(
            "UPDATE entries SET body = ?1 WHERE idx = ?2",
            params![body, index as i64],
        )
        .unwrap();
    assert_eq!(n, 1);
}

/// `tlog_tiles::stored_hash_index(0, n)`: the id of entry `n`'s leaf hash in `hashes`.
/// Entry `n` comes after `n` leaf hashes and the `n/2 + n/4 + …` interior hashes of the
/// perfect subtrees that the first `n` entries complete.
fn leaf_hash_id(n: u64) -> u64 {
    let mut id = 0;
    let mut m = n;
    while m > 0 {
        id += m;
        m >>= 1;
    }
    id
}

fn options(entry_keys: bool) -> VerifyOptions {
    let vkey = note::verifier_key(ORIGIN, &key().public()).unwrap();
    VerifyOptions {
        origin: Some(ORIGIN.into()),
        verifiers: Box::new(move || vec![note::parse_verifier_key(&vkey).unwrap()]),
        entry_keys: entry_keys.then(|| vec![key().public()]),
        external_checkpoints: vec![],
    }
}

fn check(path: &Path, entry_keys: bool) -> VerifyReport {
    let store = SqliteStore::open(path, false).unwrap();
    verify(&store, &options(entry_keys), &mut |_, _| {}).unwrap()
}

/// Asserts that the report failed, names `code` at `index`, and that `index` is the first
/// bad index.
#[track_caller]
fn assert_caught(report: &VerifyReport, code: &str, index: u64) {
    assert!(!report.ok(), "tampering went unnoticed: {report:#?}");
    assert!(
        report
            .problems
            .iter()
            .any(|p| p.code == code && p.index == Some(index)),
        "expected `{code}` at {index}: {report:#?}"
    );
    assert_eq!(
        report.first_bad_index(),
        Some(index),
        "first bad index: {report:#?}"
    );
}

#[test]
fn the_untouched_ledger_verifies() {
    let (_dir, path) = copy();
    let report = check(&path, false);
    assert!(report.ok(), "{report:#?}");
    assert_eq!(report.tree_size, ENTRIES);
    assert_eq!(report.entries_checked, ENTRIES);
    assert_eq!(report.checkpoints_checked, 2);
    assert_eq!(report.first_bad_index(), None);
    let report = check(&path, true);
    assert!(report.ok(), "{report:#?}");
    assert_eq!(report.signatures_checked, ENTRIES);
    assert_eq!(
        (report.times_checked, report.times_unsigned),
        (ENTRIES / 2, ENTRIES / 2)
    );
    // The helper agrees with where the store put entry 30's leaf hash.
    let conn = Connection::open(&path).unwrap();
    let stored: Vec<u8> = conn
        .query_row(
            "SELECT hash FROM hashes WHERE id = ?1",
            [leaf_hash_id(30) as i64],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(stored, aigis_ledger::leaf_hash(&body_of(&conn, 30)).0);
    assert_eq!(
        [0, 1, 2, 3, 4, 30].map(leaf_hash_id),
        [0, 1, 3, 4, 7, 56],
        "stored_hash_index(0, n)"
    );
}

#[test]
fn one_changed_byte_in_an_entry() {
    let (_dir, path) = copy();
    tamper(&path, |c| {
        let mut body = body_of(c, 30);
        let at = body.len() / 2;
        body[at] ^= 0x01;
        set_body(c, 30, &body);
    });
    assert_caught(&check(&path, false), "entry-modified", 30);
}

#[test]
fn a_deleted_entry() {
    let (_dir, path) = copy();
    tamper(&path, |c| {
        assert_eq!(
            c.execute("DELETE FROM entries WHERE idx = 30", []).unwrap(),
            1
        );
    });
    assert_caught(&check(&path, false), "entry-missing", 30);
}

#[test]
fn two_swapped_entries() {
    let (_dir, path) = copy();
    tamper(&path, |c| {
        let (a, b) = (body_of(c, 30), body_of(c, 31));
        set_body(c, 30, &b);
        set_body(c, 31, &a);
    });
    assert_caught(&check(&path, false), "entry-modified", 30);
}

#[test]
fn a_deleted_entry_with_the_rest_renumbered() {
    let (_dir, path) = copy();
    tamper(&path, |c| {
        c.execute("DELETE FROM entries WHERE idx = 30", []).unwrap();
        c.execute("DELETE FROM subjects WHERE idx = 30", [])
            .unwrap();
        for i in 31..ENTRIES as i64 {
            c.execute("UPDATE entries SET idx = ?1 WHERE idx = ?2", [i - 1, i])
                .unwrap();
            c.execute("UPDATE subjects SET idx = ?1 WHERE idx = ?2", [i - 1, i])
                .unwrap();
        }
        c.execute(
            "UPDATE meta SET value = value - 1 WHERE key = 'tree_size'",
            [],
        )
        .unwrap();
    });
    let report = check(&path, false);
    assert_eq!(report.tree_size, ENTRIES - 1);
    assert_caught(&report, "entry-modified", 30);
    // The checkpoint of 50 entries also sees that the log shrank.
    assert!(
        report
            .problems
            .iter()
            .any(|p| p.code == "entries-deleted" && p.index == Some(ENTRIES - 1)),
        "{report:#?}"
    );
}

#[test]
fn an_entry_inserted_past_the_end() {
    let (_dir, path) = copy();
    tamper(&path, |c| {
        // A copy of the last row, whatever columns the schema has, with a new index and a
        // validly signed body.
        c.execute_batch(&format!(
            "CREATE TEMP TABLE extra AS SELECT * FROM entries WHERE idx = {last};
             UPDATE extra SET idx = {ENTRIES};",
            last = ENTRIES - 1
        ))
        .unwrap();
        c.execute("UPDATE extra SET body = ?1", [envelope(ENTRIES, &key())])
            .unwrap();
        let n = c
            .execute("INSERT INTO entries SELECT * FROM extra", [])
            .unwrap();
        assert_eq!(n, 1);
    });
    let report = check(&path, false);
    assert_caught(&report, "entries-inserted", ENTRIES);
    assert_eq!(report.problems.len(), 1, "{report:#?}");
    assert_eq!(report.entries_checked, ENTRIES);
}

#[test]
fn the_last_five_entries_truncated() {
    let (_dir, path) = copy();
    tamper(&path, |c| {
        c.execute("DELETE FROM entries WHERE idx >= 45", [])
            .unwrap();
        c.execute("DELETE FROM subjects WHERE idx >= 45", [])
            .unwrap();
        c.execute(
            "DELETE FROM hashes WHERE id >= ?1",
            [leaf_hash_id(45) as i64],
        )
        .unwrap();
        c.execute("UPDATE meta SET value = 45 WHERE key = 'tree_size'", [])
            .unwrap();
    });
    let report = check(&path, false);
    assert_eq!(report.tree_size, 45);
    // Caught only by the checkpoint of 50 entries: what is left is a consistent log.
    assert_caught(&report, "entries-deleted", 45);
    assert_eq!(report.problems.len(), 1, "{report:#?}");
    assert_eq!(report.entries_checked, 45);
}

#[test]
fn an_entry_and_its_leaf_hash_rewritten() {
    let (_dir, path) = copy();
    tamper(&path, |c| {
        let forged = forged_envelope(30);
        set_body(c, 30, &forged);
        let n = c
            .execute(
                "UPDATE hashes SET hash = ?1 WHERE id = ?2",
                params![
                    &aigis_ledger::leaf_hash(&forged).0[..],
                    leaf_hash_id(30) as i64
                ],
            )
            .unwrap();
        assert_eq!(n, 1);
    });
    // The leaf hash matches now, but the subtree hash above it does not.
    let report = check(&path, false);
    assert!(!report.ok(), "{report:#?}");
    let p = report
        .problems
        .iter()
        .find(|p| p.code == "subtree-mismatch")
        .unwrap_or_else(|| panic!("expected `subtree-mismatch`: {report:#?}"));
    let first = report.first_bad_index().unwrap();
    assert_eq!(p.index, Some(first));
    assert!(first <= 30, "{report:#?}");
    // Checking the entries' signatures names the forged entry itself.
    assert_caught(&check(&path, true), "entry-signature", 30);
}

#[test]
fn an_entry_rewritten_with_every_stored_hash_recomputed() {
    // The attacker rebuilds the whole hash table for the forged log, so only the signed
    // checkpoints can tell: the one of 20 entries still matches, the one of 50 does not.
    let (dir, path) = copy();
    let forged_db = dir.path().join("forged.db");
    build(&forged_db, &[30], &[]);
    tamper(&path, |c| {
        set_body(c, 30, &forged_envelope(30));
        c.execute(
            "ATTACH DATABASE ?1 AS forged",
            [forged_db.to_str().unwrap()],
        )
        .unwrap();
        c.execute_batch(
            "DELETE FROM main.hashes; INSERT INTO main.hashes SELECT id, hash FROM forged.hashes;",
        )
        .unwrap();
        c.execute("DETACH DATABASE forged", []).unwrap();
    });
    let report = check(&path, false);
    assert_caught(&report, "checkpoint-root", 20);
    assert_caught(&check(&path, true), "entry-signature", 30);
}

#[test]
fn a_stored_checkpoint_altered() {
    let (_dir, path) = copy();
    tamper(&path, |c| {
        let note: Vec<u8> = c
            .query_row(
                "SELECT note FROM checkpoints WHERE tree_size = 50",
                [],
                |r| r.get(0),
            )
            .unwrap();
        let text = String::from_utf8(note).unwrap();
        let forged = text.replacen("\n50\n", "\n49\n", 1);
        assert_ne!(forged, text);
        c.execute(
            "UPDATE checkpoints SET note = ?1 WHERE tree_size = 50",
            [forged.as_bytes()],
        )
        .unwrap();
    });
    let report = check(&path, false);
    assert!(!report.ok(), "{report:#?}");
    assert!(
        report
            .problems
            .iter()
            .any(|p| p.code == "checkpoint-signature"),
        "{report:#?}"
    );
}

/// A tiny xorshift64* generator for garbage bytes.
struct XorShift(u64);

impl XorShift {
    fn from_clock() -> Self {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        let seed = nanos ^ (u64::from(std::process::id()) << 32);
        eprintln!("garbage seed {seed}");
        Self(seed | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

/// Opening and verifying a damaged file is an error that names the file or says it is
/// damaged; with `must_fail` unset, a clean report is also accepted (the damage may have
/// missed everything that is read).
fn assert_refused(path: &Path, must_fail: bool) {
    let outcome = SqliteStore::open(path, false)
        .and_then(|store| verify(&store, &options(true), &mut |_, _| {}));
    match outcome {
        Err(e) => {
            let msg = e.to_string();
            assert!(
                msg.contains(&path.display().to_string())
                    || msg.contains("damaged")
                    || msg.contains("database"),
                "the error does not say which file or what is wrong: {msg}"
            );
        }
        Ok(report) => assert!(
            !must_fail || !report.ok(),
            "a damaged file verified: {report:#?}"
        ),
    }
}

#[test]
fn a_file_of_random_bytes_is_an_error() {
    let (_dir, path) = copy();
    let len = std::fs::metadata(&path).unwrap().len() as usize;
    std::fs::write(&path, XorShift::from_clock().bytes(len)).unwrap();
    let err = SqliteStore::open(&path, false)
        .and_then(|store| verify(&store, &options(false), &mut |_, _| {}))
        .expect_err("a file of random bytes opened and verified");
    let msg = err.to_string();
    assert!(
        msg.contains(&path.display().to_string()),
        "the error does not name the file: {msg}"
    );
}

#[test]
fn a_file_cut_in_half_is_an_error() {
    let (_dir, path) = copy();
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    assert_refused(&path, true);
}

#[test]
fn random_damage_past_the_header_never_panics() {
    let mut rng = XorShift::from_clock();
    let pristine = original();
    for round in 0..20 {
        let (_dir, path) = copy();
        let mut bytes = pristine.to_vec();
        match round % 3 {
            // A few flipped bytes anywhere after the 100-byte header.
            0 => {
                for _ in 0..8 {
                    let at = 100 + (rng.next() as usize) % (bytes.len() - 100);
                    bytes[at] ^= (rng.next() as u8) | 1;
                }
            }
            // Every page but the first overwritten.
            1 => {
                let tail = rng.bytes(bytes.len() - 4096);
                bytes[4096..].copy_from_slice(&tail);
            }
            // Cut at a random length.
            _ => bytes.truncate(100 + (rng.next() as usize) % (bytes.len() - 100)),
        }
        std::fs::write(&path, &bytes).unwrap();
        assert_refused(&path, false);
    }
}

/// The recorded time is not in the tree: moved, it passes the tree check, and is caught by
/// the check of entry signatures through its time signature; so is a time signature the
/// attacker made, or one moved to another entry.
#[test]
fn an_edited_recorded_time_is_caught_by_its_time_signature() {
    for case in ["moved", "attacker", "swapped"] {
        let (_dir, path) = copy();
        tamper(&path, |conn| match case {
            "moved" => {
                conn.execute(
                    "UPDATE entries SET recorded_at_ms = recorded_at_ms + 86400000 WHERE idx = 10",
                    [],
                )
                .unwrap();
            }
            "attacker" => {
                let body = body_of(conn, 10);
                let at = 1_700_000_000_000 + 40 * 86_400_000;
                let t = time::sign(&attacker(), &aigis_ledger::leaf_hash(&body), at);
                conn.execute(
                    "UPDATE entry_times SET key_id = ?1, sig = ?2 WHERE idx = 10",
                    params![t.key_id, t.sig],
                )
                .unwrap();
            }
            _ => {
                // Entry 12's signature put on entry 10.
                conn.execute(
                    "UPDATE entry_times SET sig = (SELECT sig FROM entry_times WHERE idx = 12) WHERE idx = 10",
                    [],
                )
                .unwrap();
            }
        });
        assert!(
            check(&path, false).ok(),
            "{case}: the tree does not hold times"
        );
        assert_caught(&check(&path, true), "entry-time", 10);
    }
}
