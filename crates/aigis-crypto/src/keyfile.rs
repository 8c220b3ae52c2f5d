//! On-disk secret keys: the signing key, and (through the same code) the recipient key of
//! [`crate::recipient`].
//!
//! A JSON file, mode 0600, in one of two forms:
//!
//! ```json
//! {"format":"aigis-signing-key/v1","algorithm":"ed25519","public_key":"<b64>",
//!  "protection":"none","secret_key":"<b64 seed>"}
//! {"format":"aigis-signing-key/v1","algorithm":"ed25519","public_key":"<b64>",
//!  "protection":"argon2id+xchacha20poly1305",
//!  "kdf":{"m_cost_kib":65536,"t_cost":3,"p_cost":1,"salt":"<b64>"},
//!  "nonce":"<b64>","ciphertext":"<b64>"}
//! ```
//!
//! The sealed form stretches the passphrase with argon2id (64 MiB, 3 passes: above the
//! OWASP minimums) and seals the 32-byte seed with XChaCha20-Poly1305; the public key and
//! format name are the associated data, so swapping the public key in the file breaks the
//! seal rather than pairing a secret with the wrong public key. A recipient key file has
//! the same shape with `"format":"aigis-recipient-key/v1"`, `"algorithm":"x-wing"`, the
//! 1216-byte X-Wing public key and the 32-byte X-Wing secret seed.

use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand_core::{OsRng, RngCore};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::{Error, PublicKey, SigningKey};

const FORMAT: &str = "aigis-signing-key/v1";
const SEALED: &str = "argon2id+xchacha20poly1305";

/// The cost of argon2id. The defaults are what `aigis init` uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct KdfParams {
    pub m_cost_kib: u32,
    pub t_cost: u32,
    pub p_cost: u32,
}

impl Default for KdfParams {
    fn default() -> Self {
        Self {
            m_cost_kib: 64 * 1024,
            t_cost: 3,
            p_cost: 1,
        }
    }
}

#[derive(Serialize, Deserialize)]
struct File {
    format: String,
    algorithm: String,
    public_key: String,
    protection: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    secret_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    kdf: Option<Kdf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    nonce: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ciphertext: Option<String>,
}

impl Drop for File {
    fn drop(&mut self) {
        use zeroize::Zeroize as _;
        if let Some(s) = self.secret_key.as_mut() {
            s.zeroize();
        }
    }
}

#[derive(Serialize, Deserialize)]
struct Kdf {
    #[serde(flatten)]
    params: KdfParams,
    salt: String,
}

/// What a key file holds: its `format` and `algorithm` strings, the length of its
/// secret, and the words errors name it by. One sealing scheme serves every kind.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Kind {
    pub format: &'static str,
    pub algorithm: &'static str,
    pub secret_len: usize,
    pub what: &'static str,
}

const SIGNING: Kind = Kind {
    format: FORMAT,
    algorithm: "ed25519",
    secret_len: 32,
    what: "signing key",
};

/// Writes `key` to `path` (mode 0600, atomically). With a passphrase the seed is sealed.
pub fn save(
    path: &Path,
    key: &SigningKey,
    passphrase: Option<&str>,
    params: KdfParams,
) -> Result<(), Error> {
    let seed = key.seed();
    save_secret(
        path,
        SIGNING,
        &key.public().to_bytes(),
        seed.as_slice(),
        passphrase,
        params,
    )
}

/// Whether the key at `path` is sealed with a passphrase (a signing or a recipient key).
pub fn is_sealed(path: &Path) -> Result<bool, Error> {
    Ok(read(path)?.protection == SEALED)
}

/// The public key recorded in the key file (needs no passphrase).
pub fn public_key(path: &Path) -> Result<PublicKey, Error> {
    let raw = read_public(path, SIGNING)?;
    PublicKey::from_bytes(&raw).map_err(|e| key_error(path, &e.to_string()))
}

/// Loads the signing key at `path`; a sealed key needs `passphrase`.
pub fn load(path: &Path, passphrase: Option<&str>) -> Result<SigningKey, Error> {
    let (public, seed) = load_secret(path, SIGNING, passphrase)?;
    let public = PublicKey::from_bytes(&public).map_err(|e| key_error(path, &e.to_string()))?;
    let seed: &[u8; 32] = seed
        .as_slice()
        .try_into()
        .map_err(|_| key_error(path, "the secret key is not 32 bytes"))?;
    let key = SigningKey::from_seed(seed);
    if key.public() != public {
        return Err(key_error(
            path,
            "the secret key does not match `public_key`",
        ));
    }
    Ok(key)
}

/// Writes a key file of `kind`: `public` in the clear, `secret` either in the clear or
/// sealed with `passphrase` (the format name and `public` are the associated data).
pub(crate) fn save_secret(
    path: &Path,
    kind: Kind,
    public: &[u8],
    secret: &[u8],
    passphrase: Option<&str>,
    params: KdfParams,
) -> Result<(), Error> {
    let mut file = File {
        format: kind.format.into(),
        algorithm: kind.algorithm.into(),
        public_key: STANDARD.encode(public),
        protection: "none".into(),
        secret_key: None,
        kdf: None,
        nonce: None,
        ciphertext: None,
    };
    match passphrase {
        None => file.secret_key = Some(STANDARD.encode(secret)),
        Some(pass) => {
            let mut salt = [0u8; 16];
            OsRng.fill_bytes(&mut salt);
            let mut nonce = [0u8; 24];
            OsRng.fill_bytes(&mut nonce);
            let wrap = derive(pass, &salt, params, path)?;
            let cipher = XChaCha20Poly1305::new_from_slice(wrap.as_slice())
                .map_err(|_| key_error(path, "bad derived key length"))?;
            let aad = aad(kind, public);
            let ct = cipher
                .encrypt(
                    XNonce::from_slice(&nonce),
                    Payload {
                        msg: secret,
                        aad: &aad,
                    },
                )
                .map_err(|_| key_error(path, "encryption failed"))?;
            file.protection = SEALED.into();
            file.kdf = Some(Kdf {
                params,
                salt: STANDARD.encode(salt),
            });
            file.nonce = Some(STANDARD.encode(nonce));
            file.ciphertext = Some(STANDARD.encode(ct));
        }
    }
    let json = Zeroizing::new(
        serde_json::to_vec_pretty(&file).map_err(|e| key_error(path, &e.to_string()))?,
    );
    crate::fs::write_atomic(path, &json, 0o600)
}

/// The public part of a key file of `kind`, decoded from base64 (needs no passphrase).
pub(crate) fn read_public(path: &Path, kind: Kind) -> Result<Vec<u8>, Error> {
    let file = read(path)?;
    check_kind(&file, kind, path)?;
    decode_public(&file, path)
}

/// The public part and the secret of a key file of `kind`; a sealed file needs
/// `passphrase`. The secret is `kind.secret_len` bytes.
pub(crate) fn load_secret(
    path: &Path,
    kind: Kind,
    passphrase: Option<&str>,
) -> Result<(Vec<u8>, Zeroizing<Vec<u8>>), Error> {
    let file = read(path)?;
    check_kind(&file, kind, path)?;
    let public = decode_public(&file, path)?;
    let secret: Zeroizing<Vec<u8>> = match file.protection.as_str() {
        "none" => Zeroizing::new(
            STANDARD
                .decode(file.secret_key.as_deref().unwrap_or_default())
                .map_err(|_| key_error(path, "`secret_key` is not base64"))?,
        ),
        SEALED => {
            let pass = passphrase.ok_or_else(|| Error::PassphraseRequired {
                what: kind.what,
                path: path.into(),
            })?;
            let (Some(kdf), Some(nonce), Some(ct)) = (&file.kdf, &file.nonce, &file.ciphertext)
            else {
                return Err(key_error(
                    path,
                    "sealed key lacks `kdf`, `nonce` or `ciphertext`",
                ));
            };
            let b64 = |s: &str, what: &str| {
                STANDARD
                    .decode(s)
                    .map_err(|_| key_error(path, &format!("`{what}` is not base64")))
            };
            let salt = b64(&kdf.salt, "salt")?;
            let nonce = b64(nonce, "nonce")?;
            let ct = b64(ct, "ciphertext")?;
            if nonce.len() != 24 {
                return Err(key_error(path, "`nonce` is not 24 bytes"));
            }
            let wrap = derive(pass, &salt, kdf.params, path)?;
            let cipher = XChaCha20Poly1305::new_from_slice(wrap.as_slice())
                .map_err(|_| key_error(path, "bad derived key length"))?;
            Zeroizing::new(
                cipher
                    .decrypt(
                        XNonce::from_slice(&nonce),
                        Payload {
                            msg: &ct,
                            aad: &aad(kind, &public),
                        },
                    )
                    .map_err(|_| Error::WrongPassphrase {
                        what: kind.what,
                        path: path.into(),
                    })?,
            )
        }
        other => return Err(key_error(path, &format!("unknown protection `{other}`"))),
    };
    if secret.len() != kind.secret_len {
        return Err(key_error(
            path,
            &format!("the secret key is not {} bytes", kind.secret_len),
        ));
    }
    Ok((public, secret))
}

fn check_kind(file: &File, kind: Kind, path: &Path) -> Result<(), Error> {
    if file.format != kind.format {
        return Err(key_error(
            path,
            &format!(
                "unknown format `{}` (a {} is `{}`)",
                file.format, kind.what, kind.format
            ),
        ));
    }
    if file.algorithm != kind.algorithm {
        return Err(key_error(
            path,
            &format!("unsupported algorithm `{}`", file.algorithm),
        ));
    }
    Ok(())
}

fn read(path: &Path) -> Result<File, Error> {
    let bytes = Zeroizing::new(std::fs::read(path).map_err(|e| Error::io(path, e))?);
    serde_json::from_slice(&bytes).map_err(|e| key_error(path, &e.to_string()))
}

fn decode_public(file: &File, path: &Path) -> Result<Vec<u8>, Error> {
    STANDARD
        .decode(&file.public_key)
        .map_err(|_| key_error(path, "`public_key` is not base64"))
}

fn derive(
    pass: &str,
    salt: &[u8],
    p: KdfParams,
    path: &Path,
) -> Result<Zeroizing<[u8; 32]>, Error> {
    let params = argon2::Params::new(p.m_cost_kib, p.t_cost, p.p_cost, Some(32))
        .map_err(|e| key_error(path, &format!("argon2 parameters: {e}")))?;
    let argon = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    let mut out = Zeroizing::new([0u8; 32]);
    argon
        .hash_password_into(pass.as_bytes(), salt, out.as_mut_slice())
        .map_err(|e| key_error(path, &format!("argon2: {e}")))?;
    Ok(out)
}

/// The seal's associated data: the format name, then the public key. For a signing key
/// this is byte for byte what the first version wrote, so old sealed files still open.
fn aad(kind: Kind, public: &[u8]) -> Vec<u8> {
    let mut aad = kind.format.as_bytes().to_vec();
    aad.extend_from_slice(public);
    aad
}

pub(crate) fn key_error(path: &Path, reason: &str) -> Error {
    Error::KeyFile {
        path: path.into(),
        reason: reason.into(),
    }
}

/// Cheap argon2id parameters that keep the unit tests of every key kind fast; the CLI
/// tests use the defaults.
#[cfg(test)]
pub(crate) const TEST_KDF: KdfParams = KdfParams {
    m_cost_kib: 256,
    t_cost: 1,
    p_cost: 1,
};

#[cfg(test)]
mod tests {
    use super::*;

    const FAST: KdfParams = TEST_KDF;

    #[test]
    fn plain_key_round_trips_with_mode_0600() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        let key = SigningKey::generate();
        save(&path, &key, None, FAST).unwrap();
        assert!(!is_sealed(&path).unwrap());
        assert_eq!(load(&path, None).unwrap().public(), key.public());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn sealed_key_needs_the_right_passphrase() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        let key = SigningKey::generate();
        save(&path, &key, Some("correct horse"), FAST).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(!text.contains(&STANDARD.encode(*key.seed())), "seed leaked");
        assert!(is_sealed(&path).unwrap());
        assert_eq!(public_key(&path).unwrap(), key.public());
        assert!(matches!(
            load(&path, None),
            Err(Error::PassphraseRequired { .. })
        ));
        assert!(matches!(
            load(&path, Some("wrong")),
            Err(Error::WrongPassphrase { .. })
        ));
        let loaded = load(&path, Some("correct horse")).unwrap();
        assert_eq!(loaded.public(), key.public());
    }

    #[test]
    fn swapping_the_public_key_breaks_the_seal() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        save(&path, &SigningKey::generate(), Some("pw"), FAST).unwrap();
        let mut file: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        file["public_key"] = STANDARD
            .encode(SigningKey::generate().public().to_bytes())
            .into();
        std::fs::write(&path, serde_json::to_vec(&file).unwrap()).unwrap();
        assert!(matches!(
            load(&path, Some("pw")),
            Err(Error::WrongPassphrase { .. })
        ));
    }

    #[test]
    fn garbage_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        for junk in [
            &b"not json"[..],
            b"{}",
            br#"{"format":"x","algorithm":"ed25519","public_key":"","protection":"none"}"#,
        ] {
            std::fs::write(&path, junk).unwrap();
            let err = load(&path, None).unwrap_err().to_string();
            assert!(err.contains(&path.display().to_string()), "{err}");
        }
    }

    #[test]
    fn key_files_written_before_the_recipient_keys_still_load() {
        // Written by the first version of this module (tests/data/README.md says how):
        // the seed is [7; 32].
        let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
        let expected = SigningKey::from_seed(&[7; 32]).public();
        let plain = data.join("signing-v1-plain.key");
        let sealed = data.join("signing-v1-sealed.key");
        assert_eq!(load(&plain, None).unwrap().public(), expected);
        assert_eq!(public_key(&sealed).unwrap(), expected);
        assert!(is_sealed(&sealed).unwrap());
        let opened = load(&sealed, Some("fixture passphrase")).unwrap();
        assert_eq!(opened.public(), expected);
        assert!(matches!(
            load(&sealed, Some("nope")),
            Err(Error::WrongPassphrase { .. })
        ));
    }
}
