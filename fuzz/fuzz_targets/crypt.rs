//! Encrypted files (`aigis-enc/v1`) from arbitrary bytes: `crypt::read_header`, then
//! `crypt::decrypt` with a fixed identity into memory. Nothing may panic; a header that
//! parses fits in the input; a decryption that succeeds accounts for every input byte;
//! one that fails has handed on only whole, authenticated chunks.
#![no_main]

use std::sync::OnceLock;

use aigis_crypto::crypt;
use aigis_crypto::recipient::Identity;
use libfuzzer_sys::fuzz_target;

/// The identity the files in `seeds/crypt` are encrypted to.
const SEED: [u8; 32] = [0x42; 32];

fn identity() -> &'static [Identity] {
    static ID: OnceLock<[Identity; 1]> = OnceLock::new();
    ID.get_or_init(|| [Identity::from_seed(&SEED).expect("the fuzz identity")])
}

fuzz_target!(|data: &[u8]| {
    let header = crypt::read_header(data);
    if let Ok(h) = &header {
        assert!(h.len <= data.len() as u64);
        assert!(!h.recipients.is_empty());
    }
    let mut out = Vec::new();
    match crypt::decrypt(data, &mut out, identity(), &|_| {}) {
        Ok(s) => {
            let h = header.expect("a file that decrypts has a header");
            assert_eq!(s.ciphertext_bytes, data.len() as u64);
            assert_eq!(s.plaintext_bytes, out.len() as u64);
            assert_eq!(s.ciphertext_bytes, h.len + s.plaintext_bytes + 16 * s.chunks);
        }
        Err(_) => {
            if let Ok(h) = header {
                assert_eq!(out.len() % h.chunk_size as usize, 0);
            } else {
                assert!(out.is_empty());
            }
        }
    }
});
