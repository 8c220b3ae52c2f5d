//! On-disk symmetric keys (the data-masking key of `aigis data mask`, the model
//! watermarking key of `aigis model watermark`): a 32-byte secret
//! whose public part is only its key id, stored by the same code as the signing and
//! recipient keys ([`crate::keyfile`]): mode 0600, written atomically, and sealed with
//! argon2id + XChaCha20-Poly1305 when a passphrase is given. The key id is the sealed
//! secret's associated data, so a file whose id was edited no longer opens.
//!
//! ```json
//! {"format":"aigis-mask-key/v1","algorithm":"hkdf-sha256","public_key":"<b64 key id>",
//!  "protection":"none","secret_key":"<b64>"}
//! {"format":"aigis-watermark-key/v1","algorithm":"hmac-sha256","public_key":"<b64 key id>",
//!  "protection":"none","secret_key":"<b64>"}
//! ```

use std::path::Path;

use zeroize::Zeroizing;

use crate::Error;
use crate::keyfile::{self, KdfParams, Kind};

/// The length of a symmetric secret.
pub const SECRET_LEN: usize = 32;

const MASK: Kind = Kind {
    format: "aigis-mask-key/v1",
    algorithm: "hkdf-sha256",
    secret_len: SECRET_LEN,
    what: "masking key",
};

const WATERMARK: Kind = Kind {
    format: "aigis-watermark-key/v1",
    algorithm: "hmac-sha256",
    secret_len: SECRET_LEN,
    what: "watermark key",
};

/// Writes a masking key (`secret`, with its public `key_id`) to `path`, mode 0600,
/// atomically; sealed with `passphrase` when one is given.
pub fn save_mask_key(
    path: &Path,
    key_id: &[u8],
    secret: &[u8; SECRET_LEN],
    passphrase: Option<&str>,
    params: KdfParams,
) -> Result<(), Error> {
    keyfile::save_secret(path, MASK, key_id, secret, passphrase, params)
}

/// The key id and the secret of the masking key at `path`; a sealed file needs
/// `passphrase`. The caller checks that the id matches the secret.
pub fn load_mask_key(
    path: &Path,
    passphrase: Option<&str>,
) -> Result<(Vec<u8>, Zeroizing<[u8; SECRET_LEN]>), Error> {
    load_32(path, MASK, passphrase)
}

fn load_32(
    path: &Path,
    kind: Kind,
    passphrase: Option<&str>,
) -> Result<(Vec<u8>, Zeroizing<[u8; SECRET_LEN]>), Error> {
    let (id, secret) = keyfile::load_secret(path, kind, passphrase)?;
    let mut out = Zeroizing::new([0u8; SECRET_LEN]);
    if secret.len() != SECRET_LEN {
        return Err(keyfile::key_error(path, "the secret key is not 32 bytes"));
    }
    out.copy_from_slice(secret.as_slice());
    Ok((id, out))
}

/// The key id recorded in the masking key file at `path` (needs no passphrase).
pub fn mask_key_id(path: &Path) -> Result<Vec<u8>, Error> {
    keyfile::read_public(path, MASK)
}

/// Writes a model watermarking key (`secret`, with its public `key_id`) to `path`, mode
/// 0600, atomically; sealed with `passphrase` when one is given.
pub fn save_watermark_key(
    path: &Path,
    key_id: &[u8],
    secret: &[u8; SECRET_LEN],
    passphrase: Option<&str>,
    params: KdfParams,
) -> Result<(), Error> {
    keyfile::save_secret(path, WATERMARK, key_id, secret, passphrase, params)
}

/// The key id and the secret of the watermarking key at `path`; a sealed file needs
/// `passphrase`. The caller checks that the id matches the secret.
pub fn load_watermark_key(
    path: &Path,
    passphrase: Option<&str>,
) -> Result<(Vec<u8>, Zeroizing<[u8; SECRET_LEN]>), Error> {
    load_32(path, WATERMARK, passphrase)
}

const TOTP: Kind = Kind {
    format: "aigis-totp-secret-v1",
    algorithm: "hmac-sha1",
    secret_len: 20,
    what: "one-time password secret",
};

/// Writes a person's TOTP secret (20 bytes, with their key id as its public part) to
/// `path`, mode 0600, atomically; sealed with `passphrase` when one is given, as the
/// project's keys are.
pub fn save_totp_secret(
    path: &Path,
    key_id: &[u8],
    secret: &[u8],
    passphrase: Option<&str>,
    params: KdfParams,
) -> Result<(), Error> {
    keyfile::save_secret(path, TOTP, key_id, secret, passphrase, params)
}

/// The key id and the TOTP secret at `path`; a sealed file needs `passphrase`.
pub fn load_totp_secret(
    path: &Path,
    passphrase: Option<&str>,
) -> Result<(Vec<u8>, Zeroizing<Vec<u8>>), Error> {
    keyfile::load_secret(path, TOTP, passphrase)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FAST: KdfParams = crate::keyfile::TEST_KDF;

    #[test]
    fn round_trips_plain_and_sealed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mask.key");
        save_mask_key(&path, b"\x01\x02\x03\x04", &[7; 32], None, FAST).unwrap();
        let (id, secret) = load_mask_key(&path, None).unwrap();
        assert_eq!((id.as_slice(), *secret), (&[1u8, 2, 3, 4][..], [7u8; 32]));
        assert!(!keyfile::is_sealed(&path).unwrap());

        save_mask_key(&path, b"\x01\x02\x03\x04", &[9; 32], Some("pw"), FAST).unwrap();
        assert!(keyfile::is_sealed(&path).unwrap());
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(!text.contains("CQkJCQkJ"), "{text}"); // base64 of the secret's bytes
        assert_eq!(mask_key_id(&path).unwrap(), [1, 2, 3, 4]);
        assert!(matches!(
            load_mask_key(&path, None),
            Err(Error::PassphraseRequired { .. })
        ));
        assert!(matches!(
            load_mask_key(&path, Some("nope")),
            Err(Error::WrongPassphrase { .. })
        ));
        assert_eq!(*load_mask_key(&path, Some("pw")).unwrap().1, [9u8; 32]);
        // An edited key id breaks the seal.
        let edited = text.replace("AQIDBA==", "AQIDBQ==");
        assert_ne!(edited, text);
        std::fs::write(&path, edited).unwrap();
        assert!(load_mask_key(&path, Some("pw")).is_err());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            save_mask_key(&path, b"id", &[1; 32], None, FAST).unwrap();
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn watermark_keys_round_trip_and_are_not_mask_keys() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wm.key");
        save_watermark_key(&path, b"\x0a\x0b", &[5; 32], Some("pw"), FAST).unwrap();
        let (id, secret) = load_watermark_key(&path, Some("pw")).unwrap();
        assert_eq!((id.as_slice(), *secret), (&[10u8, 11][..], [5u8; 32]));
        assert!(matches!(
            load_watermark_key(&path, None),
            Err(Error::PassphraseRequired { .. })
        ));
        let err = load_mask_key(&path, Some("pw")).unwrap_err().to_string();
        assert!(err.contains("aigis-mask-key/v1"), "{err}");
        save_mask_key(&path, b"id", &[1; 32], None, FAST).unwrap();
        let err = load_watermark_key(&path, None).unwrap_err().to_string();
        assert!(err.contains("aigis-watermark-key/v1"), "{err}");
    }

    #[test]
    fn a_signing_key_file_is_not_a_mask_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        keyfile::save(&path, &crate::SigningKey::generate(), None, FAST).unwrap();
        let err = load_mask_key(&path, None).unwrap_err().to_string();
        assert!(err.contains("aigis-mask-key/v1"), "{err}");
    }
}
