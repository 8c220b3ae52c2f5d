//! C2SP signed notes and tlog checkpoints from arbitrary bytes: `note::verify` and
//! `checkpoint::open` with a fixed trusted key must return, never panic.
#![no_main]

use std::sync::OnceLock;

use aigis_crypto::{SigningKey, note};
use aigis_ledger::checkpoint;
use libfuzzer_sys::fuzz_target;

/// The key (and key name) the seeds in `seeds/note` are signed with.
const SEED: [u8; 32] = [0x42; 32];
const ORIGIN: &str = "example.com/fuzz";

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

    if let Ok((text, signed_by)) = note::verify(data, verifiers()) {
        // Accepted means signed by the one trusted key, and the text is a prefix of the note.
        assert!(!signed_by.is_empty());
        assert!(data.starts_with(&text));
    }
    for origin in [None, Some(ORIGIN)] {
        if let Ok(cp) = checkpoint::open(data, verifiers(), origin) {
            assert_eq!(cp.note, data);
            assert!(origin.is_none_or(|o| cp.origin == o));
        }
    }
});
