//! Known-answer tests against the published examples of the specs aigis implements:
//! C2SP signed-note (Go's `sumdb/note` examples) and DSSE (protocol.md and the DSSE test
//! vectors). Sources are listed in tests/data/kat/README.md.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "a test fails by panicking"
)]

use aigis_crypto::dsse::{Envelope, pae};
use aigis_crypto::{PublicKey, SigningKey, note};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;

fn load(name: &str) -> Value {
    let path = format!("{}/../../tests/data/kat/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn signed_note_examples_verify_or_fail_as_published() {
    for ex in load("signed-note.json")["examples"].as_array().unwrap() {
        let id = ex["id"].as_str().unwrap();
        let mut keys = vec![ex["verifier_key"].as_str().unwrap().to_owned()];
        if let Some(more) = ex["additional_verifier_keys"].as_array() {
            keys.extend(more.iter().map(|k| k.as_str().unwrap().to_owned()));
        }
        let verifiers = keys
            .iter()
            .map(|k| note::parse_verifier_key(k).unwrap())
            .collect();
        let result = note::verify(ex["note"].as_str().unwrap().as_bytes(), verifiers);
        if ex["valid"].as_bool().unwrap() {
            let (_, by) = result.unwrap_or_else(|e| panic!("{id}: {e}"));
            let want: Vec<&str> = ex["verified_signers"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s.as_str().unwrap())
                .collect();
            let names: Vec<&str> = by.iter().map(|b| b.split('+').next().unwrap()).collect();
            assert_eq!(names, want, "{id}");
        } else {
            assert!(result.is_err(), "{id} must not verify");
        }
    }
}

#[test]
fn signing_the_published_note_reproduces_its_signature() {
    let ex = &load("signed-note.json")["examples"][0];
    // PRIVATE+KEY+<name>+<hash>+<base64(0x01 || seed)>
    let skey = ex["signer_key"].as_str().unwrap();
    let parts: Vec<&str> = skey.splitn(5, '+').collect();
    let (name, raw) = (parts[2], STANDARD.decode(parts[4]).unwrap());
    assert_eq!(raw[0], 1, "an Ed25519 signer key");
    let key = SigningKey::from_seed(&raw[1..].try_into().unwrap());
    assert_eq!(
        note::verifier_key(name, &key.public()).unwrap(),
        ex["verifier_key"].as_str().unwrap()
    );
    let published = ex["note"].as_str().unwrap().as_bytes();
    let text_end = published.windows(2).position(|w| w == b"\n\n").unwrap() + 1;
    assert_eq!(
        note::sign(&published[..text_end], name, &key).unwrap(),
        published
    );
}

#[test]
fn dsse_pae_vectors() {
    for v in load("dsse.json")["pae"].as_array().unwrap() {
        let payload = hex::decode(v["payload_hex"].as_str().unwrap()).unwrap();
        let want = hex::decode(v["pae_hex"].as_str().unwrap()).unwrap();
        assert_eq!(pae(v["payload_type"].as_str().unwrap(), &payload), want);
    }
}

#[test]
fn dsse_ed25519_envelopes_are_accepted_or_rejected_as_published() {
    let mut checked = 0;
    for v in load("dsse.json")["envelopes"].as_array().unwrap() {
        if v["algorithm"] != "ed25519" {
            continue; // aigis signs and verifies Ed25519 only
        }
        let id = v["id"].as_str().unwrap();
        let keys: Vec<PublicKey> = v["trusted_keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|name| {
                let hex_key = v["public_keys"][name.as_str().unwrap()]["public_hex"]
                    .as_str()
                    .unwrap();
                PublicKey::from_bytes(&hex::decode(hex_key).unwrap()).unwrap()
            })
            .collect();
        let envelope = Envelope::from_json(v["envelope"].to_string().as_bytes()).unwrap();
        let supported = v["supported_payload_types"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t.as_str() == Some(&envelope.payload_type));
        let threshold = v["threshold"].as_u64().unwrap() as usize;
        let accepted = supported && envelope.verified_key_ids(&keys).len() >= threshold;
        assert_eq!(accepted, v["expect"] == "accept", "{id}");
        if threshold == 1 && supported {
            assert_eq!(envelope.verify(&keys).is_ok(), accepted, "{id}");
        }
        checked += 1;
    }
    assert!(checked >= 9, "only {checked} Ed25519 vectors were checked");
}

#[test]
fn the_published_in_toto_statement_parses() {
    let v = load("in-toto-statement.json");
    let bytes = serde_json::to_vec(&v).unwrap();
    let s = aigis_core::Statement::from_json(&bytes).unwrap();
    assert!(!s.subject.is_empty());
    assert_eq!(s.predicate_type, v["predicateType"].as_str().unwrap());
}
