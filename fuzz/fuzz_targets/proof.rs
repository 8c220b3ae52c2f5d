//! Proofs from arbitrary bytes: `InclusionProof::parse` (C2SP tlog-proof text) and
//! `ConsistencyProof::parse` (JSON), then `.verify` with a fixed entry and trusted key.
//! Parsing, printing and parsing again must give the same proof.
#![no_main]

use std::sync::OnceLock;

use aigis_crypto::{SigningKey, note};
use aigis_ledger::{ConsistencyProof, InclusionProof};
use libfuzzer_sys::fuzz_target;

/// The key (and key name) the checkpoints in `seeds/proof` are signed with.
const SEED: [u8; 32] = [0x42; 32];
const ORIGIN: &str = "example.com/fuzz";
/// The entry whose inclusion the seeds prove (index 2 of 5).
const ENTRY: &[u8] = b"fuzz entry";

fn verifier_key() -> &'static str {
    static VKEY: OnceLock<String> = OnceLock::new();
    VKEY.get_or_init(|| {
        note::verifier_key(ORIGIN, &SigningKey::from_seed(&SEED).public())
            .expect("a valid key name")
    })
}

fuzz_target!(|data: &[u8]| {
    let verifiers =
        || vec![note::parse_verifier_key(verifier_key()).expect("a valid verifier key")];

    if let Ok(proof) = InclusionProof::parse(data) {
        let again = InclusionProof::parse(&proof.to_text()).expect("a printed proof parses");
        assert_eq!(again, proof);
        if let Ok(cp) = proof.verify(ENTRY, verifiers(), None) {
            assert!(proof.index < cp.size);
        }
        let _ = proof.verify(data, verifiers(), Some(data));
    }

    if let Ok(proof) = ConsistencyProof::parse(data) {
        let again = ConsistencyProof::parse(&proof.to_json()).expect("a printed proof parses");
        assert_eq!(again, proof);
        if let Ok((old, new)) = proof.verify(verifiers, None) {
            assert!(old.size <= new.size);
            assert_eq!(old.origin, new.origin);
        }
        let _ = proof.verify(verifiers, Some(data));
    }
});
