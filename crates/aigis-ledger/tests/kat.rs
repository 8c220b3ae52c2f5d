//! Known-answer tests: the tree hashes, inclusion proofs and consistency proofs of the
//! aigis ledger (SQLite store, group-commit appends) against the RFC 6962 vectors of an
//! independent implementation (transparency-dev/merkle; see tests/data/kat/README.md).

use std::sync::Arc;

use aigis_crypto::{SigningKey, note};
use aigis_ledger::{
    ConsistencyProof, Hash, InclusionProof, Ledger, NewEntry, SqliteStore, leaf_hash, node_hash,
};
use serde_json::Value;

fn vectors() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/data/kat/rfc6962.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn hex_hash(v: &Value) -> Hash {
    Hash(
        hex::decode(v.as_str().unwrap())
            .unwrap()
            .try_into()
            .unwrap(),
    )
}

fn path_of(v: &Value) -> Vec<Hash> {
    v.as_array()
        .map(|a| a.iter().map(hex_hash).collect())
        .unwrap_or_default()
}

fn entry(body: Vec<u8>) -> NewEntry {
    NewEntry {
        leaf_hash: leaf_hash(&body),
        body,
        predicate_type: "https://example.com/kat".into(),
        subjects: vec![],
        recorded_at_ms: 0,
        time: None,
    }
}

const ORIGIN: &str = "example.com/kat";

/// The 8-leaf tree, with a signed checkpoint taken after every append.
fn build() -> (tempfile::TempDir, Ledger, SigningKey) {
    let v = vectors();
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::new(Arc::new(
        SqliteStore::open(&dir.path().join("l.db"), true).unwrap(),
    ));
    let key = SigningKey::from_seed(&[7; 32]);
    for leaf in v["leaves_hex"].as_array().unwrap() {
        ledger
            .append(entry(hex::decode(leaf.as_str().unwrap()).unwrap()))
            .unwrap();
        ledger.checkpoint(ORIGIN, &key).unwrap();
    }
    (dir, ledger, key)
}

fn verifiers(key: &SigningKey) -> Vec<signed_note::StandardVerifier> {
    let vkey = note::verifier_key(ORIGIN, &key.public()).unwrap();
    vec![note::parse_verifier_key(&vkey).unwrap()]
}

#[test]
fn hasher_vectors() {
    let v = vectors();
    let h = &v["hasher"];
    assert_eq!(
        hex::encode(aigis_ledger::Ledger::empty_root().0),
        h["empty_root_hex"].as_str().unwrap()
    );
    for leaf in h["leaf"].as_array().unwrap() {
        let data = hex::decode(leaf["data_hex"].as_str().unwrap()).unwrap();
        assert_eq!(leaf_hash(&data), hex_hash(&leaf["hash_hex"]));
    }
    for leaf in h["leaf"].as_array().unwrap() {
        // Dataset manifests hash with aigis-core's own function: the same vectors.
        let data = hex::decode(leaf["data_hex"].as_str().unwrap()).unwrap();
        assert_eq!(
            hex::encode(aigis_core::merkle::leaf_hash(&data)),
            leaf["hash_hex"].as_str().unwrap()
        );
    }
    for node in h["node"].as_array().unwrap() {
        // The vector's children are short byte strings, not hashes: aigis-core's
        // `node_hash` takes any bytes, so the vector checks it directly.
        let left = hex::decode(node["left_hex"].as_str().unwrap()).unwrap();
        let right = hex::decode(node["right_hex"].as_str().unwrap()).unwrap();
        assert_eq!(
            hex::encode(aigis_core::merkle::node_hash(&left, &right)),
            node["hash_hex"].as_str().unwrap()
        );
    }
    // The ledger's interior hash (through tlog_tiles) is the same function on hashes.
    for (a, b) in [([0u8; 32], [1u8; 32]), ([0xab; 32], [0x5c; 32])] {
        assert_eq!(
            node_hash(Hash(a), Hash(b)).0,
            aigis_core::merkle::node_hash(&a, &b)
        );
    }
}

#[test]
fn roots_for_every_size() {
    let (_dir, ledger, _) = build();
    for root in vectors()["roots"].as_array().unwrap() {
        let size = root["size"].as_u64().unwrap();
        assert_eq!(
            ledger.tree_hash(size).unwrap(),
            hex_hash(&root["root_hex"]),
            "size {size}"
        );
    }
}

#[test]
fn inclusion_proofs_match_and_verify() {
    let (_dir, ledger, key) = build();
    let v = vectors();
    let leaves = v["leaves_hex"].as_array().unwrap();
    for case in v["inclusion"].as_array().unwrap() {
        let (index, size) = (
            case["leaf_index"].as_u64().unwrap(),
            case["tree_size"].as_u64().unwrap(),
        );
        let cp = ledger.checkpoint_at(size).unwrap().unwrap();
        let proof = ledger.prove_inclusion(index, &cp).unwrap();
        assert_eq!(
            proof.path,
            path_of(&case["path_hex"]),
            "inclusion of {index} in {size}"
        );

        // Through the C2SP text form and the offline verifier.
        let parsed = InclusionProof::parse(&proof.to_text()).unwrap();
        let leaf = hex::decode(leaves[index as usize].as_str().unwrap()).unwrap();
        parsed.verify(&leaf, verifiers(&key), None).unwrap();
        assert!(
            parsed
                .verify(b"another entry", verifiers(&key), None)
                .is_err()
        );
    }
}

#[test]
fn consistency_proofs_match_and_verify() {
    let (_dir, ledger, key) = build();
    for case in vectors()["consistency"].as_array().unwrap() {
        let (old, new) = (
            case["size1"].as_u64().unwrap(),
            case["size2"].as_u64().unwrap(),
        );
        let new_cp = ledger.checkpoint_at(new).unwrap().unwrap();
        let old_cp = ledger.checkpoint_at(old).unwrap();
        let proof = ledger
            .prove_consistency(old, &new_cp, old_cp.as_ref())
            .unwrap();
        let want: Vec<String> = path_of(&case["path_hex"])
            .iter()
            .map(|h| base64::Engine::encode(&base64::engine::general_purpose::STANDARD, h.0))
            .collect();
        assert_eq!(proof.path, want, "consistency {old} -> {new}");
        let parsed = ConsistencyProof::parse(&proof.to_json()).unwrap();
        parsed.verify(|| verifiers(&key), None).unwrap();
    }
}

#[test]
fn a_proof_against_a_rewritten_log_fails() {
    let (_dir, ledger, key) = build();
    // A second log with the same key whose entry 2 differs: its checkpoint of 8 entries
    // must not be provably consistent with the first log's checkpoint of 4.
    let dir = tempfile::tempdir().unwrap();
    let forked = Ledger::new(Arc::new(
        SqliteStore::open(&dir.path().join("f.db"), true).unwrap(),
    ));
    for (i, leaf) in vectors()["leaves_hex"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
    {
        let mut body = hex::decode(leaf.as_str().unwrap()).unwrap();
        if i == 2 {
            body.push(0xff);
        }
        forked.append(entry(body)).unwrap();
    }
    let forked_cp = forked.checkpoint(ORIGIN, &key).unwrap();
    let honest_old = ledger.checkpoint_at(4).unwrap().unwrap();
    let proof = forked.prove_consistency(4, &forked_cp, None).unwrap();
    let err = proof
        .verify(|| verifiers(&key), Some(&honest_old.note))
        .unwrap_err();
    assert!(matches!(err, aigis_ledger::ProofError::Invalid(_)), "{err}");
}
