//! OpenSSF model-signing signature files from arbitrary bytes: `Bundle::from_json`, then
//! `.verify` with fixed keys and, when a key verifies it, the signed statement through
//! `Manifest::from_statement_json`; the statement parser on the raw bytes too; and the
//! same bytes as a PEM key. Printing a parsed bundle or manifest and parsing it again
//! must give the same value, and a parsed manifest's root digest matches its resources.
#![no_main]

use std::sync::OnceLock;

use aigis_model::signing::{Bundle, Manifest, SignerKey, VerifierKey};
use libfuzzer_sys::fuzz_target;

/// The Ed25519 key the signed seeds in `seeds/model_bundle` are signed with.
const SEED: [u8; 32] = [0x42; 32];

fn keys() -> &'static [VerifierKey] {
    static KEYS: OnceLock<Vec<VerifierKey>> = OnceLock::new();
    KEYS.get_or_init(|| {
        vec![VerifierKey::from(
            aigis_crypto::SigningKey::from_seed(&SEED).public(),
        )]
    })
}

fn check_manifest(bytes: &[u8]) {
    if let Ok(m) = Manifest::from_statement_json(bytes) {
        let again = Manifest::from_statement_json(&m.to_statement_json())
            .expect("a printed manifest parses");
        assert_eq!(again, m);
        assert_eq!(again.root_digest(), m.root_digest());
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(bundle) = Bundle::from_json(data) {
        let again = Bundle::from_json(&bundle.to_json()).expect("a printed bundle parses");
        assert_eq!(again, bundle);
        if let Ok(key) = bundle.verify(keys()) {
            assert_eq!(key, &keys()[0]);
            check_manifest(&bundle.envelope.payload);
        }
    }
    check_manifest(data);
    let text = String::from_utf8_lossy(data);
    if let Ok(key) = SignerKey::from_pem(&text) {
        let _ = key.public().to_pem();
    }
    if let Ok(key) = VerifierKey::from_pem(&text) {
        let pem = key.to_pem();
        assert_eq!(
            VerifierKey::from_pem(&pem).expect("a printed key parses"),
            key
        );
    }
});
