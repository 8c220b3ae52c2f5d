//! Predicates about the project's keys and encrypted artifacts.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::Predicate;

/// `aigis keys rotate`: the old key vouches for the new one (the statement is signed by
/// the old key; its subject is `key:<new key id>` with the new public key's SHA-256).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KeyRotation {
    /// The key id of the key rotated out.
    pub old_key_id: String,
    /// The key id of the new key.
    pub new_key_id: String,
    /// The new key as a C2SP verifier key string.
    pub new_verifier_key: String,
}

impl Predicate for KeyRotation {
    const TYPE: &'static str = "https://aigis.dev/predicate/key-rotation/v1";
    const NAME: &'static str = "key-rotation";
}

/// `aigis data encrypt` and `aigis model encrypt`: a file encrypted to recipients. The
/// subjects are the plaintext and the ciphertext.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Encryption {
    /// What was encrypted: `dataset` or `model`.
    pub artifact: String,
    /// The encryption scheme, named with its format.
    pub algorithm: String,
    /// The version of the `aigis-enc` format.
    pub format_version: u8,
    /// Plaintext bytes per STREAM chunk.
    pub chunk_size: u32,
    /// The plaintext's size.
    pub plaintext_bytes: u64,
    /// The ciphertext's size.
    pub ciphertext_bytes: u64,
    /// The recipients' key ids.
    pub recipients: Vec<String>,
}

impl Predicate for Encryption {
    const TYPE: &'static str = "https://aigis.dev/predicate/encryption/v1";
    const NAME: &'static str = "encryption";
}
