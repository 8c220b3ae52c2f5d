//! DSSE envelopes from arbitrary bytes: `Envelope::from_json` then `.verify` with a fixed
//! key, and `aigis_ledger::evidence_entry` (envelope + in-toto statement) on the same
//! bytes. Parsing, printing and parsing again must give the same envelope.
#![no_main]

use std::sync::OnceLock;

use aigis_crypto::dsse::Envelope;
use aigis_crypto::{PublicKey, SigningKey};
use libfuzzer_sys::fuzz_target;

/// The key the envelopes in `seeds/envelope` are signed with.
const SEED: [u8; 32] = [0x42; 32];

fn key() -> PublicKey {
    static KEY: OnceLock<PublicKey> = OnceLock::new();
    *KEY.get_or_init(|| SigningKey::from_seed(&SEED).public())
}

fuzz_target!(|data: &[u8]| {
    if let Ok(envelope) = Envelope::from_json(data) {
        let again = Envelope::from_json(&envelope.to_json()).expect("a printed envelope parses");
        assert_eq!(again, envelope);
        if let Ok(id) = envelope.verify(&[key()]) {
            assert_eq!(id, key().key_id());
        }
    }
    if let Ok(entry) = aigis_ledger::evidence_entry(data.to_vec(), 0) {
        assert_eq!(entry.body, data);
        assert_eq!(entry.leaf_hash, aigis_ledger::leaf_hash(data));
    }
});
