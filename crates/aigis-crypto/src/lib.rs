//! Keys, signatures and hashing for aigis.
//!
//! - [`SigningKey`] / [`PublicKey`]: Ed25519, the one algorithm aigis signs with. The secret
//!   half is zeroized when dropped and never printed (its `Debug` shows only the key id).
//! - [`keyfile`]: the on-disk signing key, optionally sealed with a passphrase
//!   (argon2id + XChaCha20-Poly1305), written with mode 0600.
//! - [`dsse`]: DSSE v1 envelopes (PAE, Ed25519, keyid), the wrapper of every piece of evidence.
//! - [`Keyring`]: the public keys a project has ever used, so old signatures still verify.
//! - [`note`]: C2SP signed-note signing and verifier key strings (`name+hash+base64`).
//! - [`recipient`]: recipient key pairs for encryption, X-Wing (X25519 + ML-KEM-768), their
//!   printable form `aigis-recipient-v1:…` and their key files.
//! - [`symmetric`]: 32-byte symmetric key files (the data-masking and model watermarking
//!   keys), sealed the same way.
//! - [`crypt`]: streaming file encryption to recipients (format `aigis-enc/v1`: a hybrid
//!   post-quantum key wrap per recipient, ChaCha20-Poly1305 STREAM chunks).
//!
//! ```
//! use aigis_crypto::{SigningKey, dsse::Envelope};
//!
//! let key = SigningKey::generate();
//! let envelope = Envelope::sign("text/plain", b"hello".to_vec(), &key);
//! let json = envelope.to_json();
//! let parsed = Envelope::from_json(&json)?;
//! assert_eq!(parsed.verify(&[key.public()])?, key.public().key_id());
//! # Ok::<(), aigis_crypto::Error>(())
//! ```
#![forbid(unsafe_code)]

pub mod crypt;
pub mod dsse;
mod error;
pub mod fs;
mod hash;
mod key;
pub mod keyfile;
mod keyring;
pub mod note;
pub mod recipient;
pub mod secret;
pub mod symmetric;
pub mod totp;

pub use error::Error;
pub use hash::{HashingReader, HashingWriter, sha256_file};
pub use key::{PublicKey, SigningKey};
pub use keyring::{Keyring, KeyringEntry};
pub use zeroize::Zeroizing;
