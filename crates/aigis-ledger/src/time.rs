//! Signed entry times. The Merkle tree holds each entry's body and nothing else, so the
//! time an entry was recorded (the `recorded_at_ms` column, an index for queries) is not
//! covered by it: whoever can write the ledger file could make an old red-team result look
//! fresh. An entry aigis records therefore also carries a signature, by the key that
//! recorded it, over its leaf hash and its time; what reads an entry's age for a decision
//! (the promotion gate, the compliance reports) reads the time that signature covers, and
//! does not count an entry whose time is not signed by a trusted key.
//!
//! The signed message is `aigis-entry-time/v1\n<leaf hash, hex>\n<milliseconds>\n`,
//! Ed25519 (the project's keys); the signature lives beside the entry (SQLite's
//! `entry_times` table), outside the tree. The leaf hash binds it to the body: moved to
//! another entry it no longer verifies, and the same body recorded twice is the same
//! evidence at either time.

use aigis_crypto::{PublicKey, SigningKey};

use crate::Hash;
use crate::store::EntryRecord;

/// A signature over an entry's leaf hash and recorded time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeSignature {
    /// The signing key's id (lower-case hex SHA-256 of the public key, as DSSE's `keyid`).
    pub key_id: String,
    /// The 64-byte Ed25519 signature.
    pub sig: Vec<u8>,
}

fn message(leaf: &Hash, recorded_at_ms: i64) -> Vec<u8> {
    format!(
        "aigis-entry-time/v1\n{}\n{recorded_at_ms}\n",
        hex::encode(leaf.0)
    )
    .into_bytes()
}

/// `key`'s signature over `leaf` recorded at `recorded_at_ms`.
pub fn sign(key: &SigningKey, leaf: &Hash, recorded_at_ms: i64) -> TimeSignature {
    TimeSignature {
        key_id: key.public().key_id(),
        sig: key.sign(&message(leaf, recorded_at_ms)).to_vec(),
    }
}

/// The time `entry` was recorded, if a key of `keys` signed it; otherwise why not (no
/// signature is a reason too: for what decides by an entry's age).
pub fn signed_time(keys: &[PublicKey], entry: &EntryRecord) -> Result<i64, String> {
    checked_time(keys, entry)?.ok_or_else(|| {
        format!(
            "evidence #{}'s time is not signed (recorded by an aigis before 2026-12-06, or by the gateway for a call): record it again",
            entry.index
        )
    })
}

/// [`signed_time`], except that an entry without a time signature is `Ok(None)` (its age
/// unknown) rather than an error; a signature that does not verify is still one.
pub fn checked_time(keys: &[PublicKey], entry: &EntryRecord) -> Result<Option<i64>, String> {
    check(
        keys,
        entry.index,
        &entry.body,
        entry.recorded_at_ms,
        entry.time.as_ref(),
    )
}

/// [`checked_time`] of an entry given by its parts (as a compliance report carries it).
pub fn check(
    keys: &[PublicKey],
    index: u64,
    body: &[u8],
    recorded_at_ms: i64,
    time: Option<&TimeSignature>,
) -> Result<Option<i64>, String> {
    let Some(t) = time else {
        return Ok(None);
    };
    let Some(key) = keys.iter().find(|k| k.key_id() == t.key_id) else {
        return Err(format!(
            "evidence #{index}'s time is signed by a key that is not a project key ({})",
            t.key_id
        ));
    };
    if key.verify(&message(&crate::leaf_hash(body), recorded_at_ms), &t.sig) {
        Ok(Some(recorded_at_ms))
    } else {
        Err(format!(
            "evidence #{index}'s recorded time does not match its time signature (the ledger file was edited)"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(body: &[u8], at: i64, time: Option<TimeSignature>) -> EntryRecord {
        EntryRecord {
            index: 3,
            recorded_at_ms: at,
            predicate_type: "p".into(),
            subjects: vec![],
            body: body.to_vec(),
            time,
        }
    }

    #[test]
    fn only_the_signed_time_of_the_same_body_by_a_trusted_key_reads() {
        let key = SigningKey::from_seed(&[7; 32]);
        let other = SigningKey::from_seed(&[8; 32]);
        let keys = [key.public()];
        let leaf = crate::leaf_hash(b"body");
        let t = sign(&key, &leaf, 1_000);
        assert_eq!(
            signed_time(&keys, &record(b"body", 1_000, Some(t.clone()))),
            Ok(1_000)
        );
        // The time edited, the body another, no signature, another key.
        let e = signed_time(&keys, &record(b"body", 9_000, Some(t.clone()))).unwrap_err();
        assert!(e.contains("edited"), "{e}");
        let e = signed_time(&keys, &record(b"other", 1_000, Some(t))).unwrap_err();
        assert!(e.contains("edited"), "{e}");
        let e = signed_time(&keys, &record(b"body", 1_000, None)).unwrap_err();
        assert!(e.contains("not signed"), "{e}");
        assert_eq!(checked_time(&keys, &record(b"body", 1_000, None)), Ok(None));
        let forged = sign(&other, &leaf, 1_000);
        let e = signed_time(&keys, &record(b"body", 1_000, Some(forged.clone()))).unwrap_err();
        assert!(e.contains("not a project key"), "{e}");
        // Another key's signature under the trusted key's id.
        let lying = TimeSignature {
            key_id: key.public().key_id(),
            sig: forged.sig,
        };
        assert!(signed_time(&keys, &record(b"body", 1_000, Some(lying))).is_err());
    }
}
