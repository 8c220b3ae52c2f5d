//! The project's masking key, the two sub-keys derived from it, and the two keyed
//! transforms: HMAC-SHA256 for `hash`, AES-SIV for `tokenize` / `detokenize`.

use aes_siv::KeyInit as _;
use aes_siv::siv::Aes256Siv;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::Mac as _;
use rand_core::RngCore as _;
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;
use zeroize::{Zeroize as _, Zeroizing};

use crate::Error;

/// A masking key: 32 random bytes. Every `hash` and `tokenize` in a project uses the
/// same one, so the same value gives the same output in every file (joins still work),
/// and only a holder of the key can reverse a token.
///
/// The bytes are wiped from memory when the key is dropped; `Debug` shows the key id
/// only. The key itself is never used directly: HKDF-SHA256 derives one sub-key for
/// HMAC and another for AES-SIV, so a hash can never be related to a token.
pub struct MaskKey {
    bytes: Zeroizing<[u8; 32]>,
}

impl std::fmt::Debug for MaskKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MaskKey")
            .field("key_id", &self.key_id())
            .finish()
    }
}

/// `info` strings of the HKDF expansions: a new use gets a new string, never an old one.
const HMAC_INFO: &[u8] = b"aigis mask v1 hmac-sha256";
const SIV_INFO: &[u8] = b"aigis mask v1 aes-256-siv";
/// Associated data of every token: binds the ciphertext to the token format version.
const TOKEN_AD: &[u8] = b"aigis tok1";
/// The start of every token.
pub const TOKEN_PREFIX: &str = "tok1.";

impl MaskKey {
    /// A new key from the operating system's random source.
    pub fn generate() -> Result<Self, Error> {
        let mut bytes = Zeroizing::new([0u8; 32]);
        rand_core::OsRng
            .try_fill_bytes(bytes.as_mut())
            .map_err(|e| Error::MaskKey(format!("the system random source failed: {e}")))?;
        Ok(MaskKey { bytes })
    }

    /// The key whose bytes are `bytes` (32 of them, as [`MaskKey::to_bytes`] gives).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, Error> {
        let array: [u8; 32] = bytes
            .try_into()
            .map_err(|_| Error::MaskKeyLength { len: bytes.len() })?;
        Ok(MaskKey {
            bytes: Zeroizing::new(array),
        })
    }

    /// Reads the key file at `path` (written by [`MaskKey::save`]; `passphrase` opens a
    /// sealed one). A file whose recorded key id is not its key's was modified, and is
    /// refused.
    pub fn load(path: &std::path::Path, passphrase: Option<&str>) -> Result<Self, Error> {
        let (id, secret) = aigis_crypto::symmetric::load_mask_key(path, passphrase)?;
        let key = MaskKey::from_bytes(secret.as_slice())?;
        if hex::encode(&id) != key.key_id() {
            return Err(Error::MaskKey(format!(
                "the key file `{}` records key id `{}` but holds key `{}`: it was modified",
                path.display(),
                hex::encode(&id),
                key.key_id()
            )));
        }
        Ok(key)
    }

    /// Writes the key to `path` (mode 0600, atomically), sealed with `passphrase` when
    /// one is given; its id is readable without the passphrase
    /// (`aigis_crypto::symmetric::mask_key_id`).
    pub fn save(&self, path: &std::path::Path, passphrase: Option<&str>) -> Result<(), Error> {
        let id = hex::decode(self.key_id())
            .map_err(|_| Error::MaskKey("the key id is not hex".into()))?;
        aigis_crypto::symmetric::save_mask_key(
            path,
            &id,
            &self.bytes,
            passphrase,
            aigis_crypto::keyfile::KdfParams::default(),
        )?;
        Ok(())
    }

    /// The key's bytes, wiped when the returned value is dropped.
    pub fn to_bytes(&self) -> Zeroizing<[u8; 32]> {
        self.bytes.clone()
    }

    /// A short public name of the key (8 hex digits of SHA-256 over a label and the
    /// key): it tells which key made a token, and reveals nothing usable about the key.
    pub fn key_id(&self) -> String {
        let mut h = Sha256::new();
        h.update(b"aigis mask key id v1\0");
        h.update(self.bytes.as_slice());
        let digest = h.finalize();
        hex::encode(digest.get(..4).unwrap_or_default())
    }

    fn derive<const N: usize>(&self, info: &[u8]) -> Result<Zeroizing<[u8; N]>, Error> {
        let mut out = Zeroizing::new([0u8; N]);
        hkdf::Hkdf::<Sha256>::new(None, self.bytes.as_slice())
            .expand(info, out.as_mut())
            .map_err(|_| Error::MaskKey(format!("cannot derive a {N}-byte sub-key")))?;
        Ok(out)
    }
}

/// The keyed transforms of one [`MaskKey`], with its sub-keys derived once.
pub(crate) struct Keyed {
    key_id: String,
    hmac_key: Zeroizing<[u8; 32]>,
    siv_key: Zeroizing<[u8; 64]>,
}

impl std::fmt::Debug for Keyed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyed")
            .field("key_id", &self.key_id)
            .finish()
    }
}

impl Keyed {
    pub(crate) fn new(key: &MaskKey) -> Result<Self, Error> {
        Ok(Keyed {
            key_id: key.key_id(),
            hmac_key: key.derive(HMAC_INFO)?,
            siv_key: key.derive(SIV_INFO)?,
        })
    }

    /// HMAC-SHA256 of `value` under the HMAC sub-key.
    pub(crate) fn hmac(&self, value: &[u8]) -> Result<[u8; 32], Error> {
        let mut mac = <hmac::Hmac<Sha256> as hmac::Mac>::new_from_slice(self.hmac_key.as_slice())
            .map_err(|_| Error::MaskKey("the HMAC sub-key was refused".into()))?;
        mac.update(value);
        Ok(mac.finalize().into_bytes().into())
    }

    fn siv(&self) -> Aes256Siv {
        Aes256Siv::new(&(*self.siv_key).into())
    }

    /// `tok1.<key id>.<base64url(SIV tag ‖ ciphertext)>`. AES-SIV without a nonce is
    /// deterministic (RFC 5297, "deterministic authenticated encryption"): equal values
    /// give equal tokens, which keeps joins and counts working, and it reveals only that
    /// equality. The 16-byte synthetic IV is also the tag, so a changed token is refused.
    pub(crate) fn tokenize(&self, value: &str) -> Result<String, Error> {
        let sealed = self
            .siv()
            .encrypt([TOKEN_AD], value.as_bytes())
            .map_err(|_| Error::MaskKey("AES-SIV refused to encrypt a value".into()))?;
        Ok(format!(
            "{TOKEN_PREFIX}{}.{}",
            self.key_id,
            URL_SAFE_NO_PAD.encode(sealed)
        ))
    }

    /// The value inside `token` (a whole token, as [`Keyed::tokenize`] writes it).
    /// `offset` only locates the token in error messages.
    pub(crate) fn detokenize(&self, token: &str, offset: usize) -> Result<String, Error> {
        let fail = |reason: String| Error::Token { offset, reason };
        let rest = token
            .strip_prefix(TOKEN_PREFIX)
            .ok_or_else(|| fail("not a `tok1.` token".into()))?;
        let (key_id, body) = rest
            .split_once('.')
            .ok_or_else(|| fail("a token is `tok1.<key id>.<data>`".into()))?;
        if !bool::from(key_id.as_bytes().ct_eq(self.key_id.as_bytes())) {
            return Err(Error::ForeignToken {
                offset,
                token_key: key_id.to_owned(),
                key: self.key_id.clone(),
            });
        }
        let mut sealed = URL_SAFE_NO_PAD
            .decode(body)
            .map_err(|_| fail("the token's data is not base64url: it was changed or cut".into()))?;
        let plain = self.siv().decrypt([TOKEN_AD], &sealed);
        sealed.zeroize();
        let plain = Zeroizing::new(plain.map_err(|_| {
            fail(format!(
                "the token does not verify under key `{}`: it was changed or is corrupt",
                self.key_id
            ))
        })?);
        String::from_utf8(plain.to_vec())
            .map_err(|_| fail("the token's value is not UTF-8 text".into()))
    }

    pub(crate) fn key_id(&self) -> &str {
        &self.key_id
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(b: u8) -> MaskKey {
        MaskKey::from_bytes(&[b; 32]).unwrap()
    }

    #[test]
    fn key_bytes_round_trip_and_debug_hides_them() {
        let k = MaskKey::generate().unwrap();
        let again = MaskKey::from_bytes(k.to_bytes().as_slice()).unwrap();
        assert_eq!(k.key_id(), again.key_id());
        assert_ne!(k.key_id(), MaskKey::generate().unwrap().key_id());
        assert_eq!(k.key_id().len(), 8);
        let shown = format!("{k:?}");
        assert!(shown.contains(&k.key_id()));
        assert!(!shown.contains(&hex::encode(k.to_bytes().as_slice())));
        let err = MaskKey::from_bytes(&[0; 31]).unwrap_err().to_string();
        assert!(err.contains("32 bytes, not 31"), "{err}");
    }

    #[test]
    fn sub_keys_differ_from_each_other_and_from_the_key() {
        let k = key(7);
        let keyed = Keyed::new(&k).unwrap();
        assert_ne!(keyed.hmac_key.as_slice(), k.bytes.as_slice());
        assert_ne!(keyed.hmac_key.as_slice(), keyed.siv_key.get(..32).unwrap());
        assert_ne!(keyed.hmac_key.as_slice(), keyed.siv_key.get(32..).unwrap());
    }

    #[test]
    fn hmac_is_keyed_and_deterministic() {
        let a = Keyed::new(&key(1)).unwrap();
        let b = Keyed::new(&key(2)).unwrap();
        assert_eq!(a.hmac(b"x").unwrap(), a.hmac(b"x").unwrap());
        assert_ne!(a.hmac(b"x").unwrap(), a.hmac(b"y").unwrap());
        assert_ne!(a.hmac(b"x").unwrap(), b.hmac(b"x").unwrap());
    }

    #[test]
    fn tokens_are_deterministic_reversible_and_tamper_evident() {
        let k = Keyed::new(&key(1)).unwrap();
        let t = k.tokenize("ana@example.com").unwrap();
        assert!(t.starts_with(&format!("tok1.{}.", k.key_id())), "{t}");
        assert_eq!(t, k.tokenize("ana@example.com").unwrap());
        assert_ne!(t, k.tokenize("ana@example.org").unwrap());
        assert_eq!(k.detokenize(&t, 0).unwrap(), "ana@example.com");
        assert_eq!(k.detokenize(&k.tokenize("").unwrap(), 0).unwrap(), "");
        // Flip one character of the data.
        let mut chars: Vec<char> = t.chars().collect();
        let last = chars.len() - 3;
        chars[last] = if chars[last] == 'A' { 'B' } else { 'A' };
        let changed: String = chars.into_iter().collect();
        let err = k.detokenize(&changed, 5).unwrap_err().to_string();
        assert!(
            err.contains("byte 5") && err.contains("changed or is corrupt"),
            "{err}"
        );
        assert!(!err.contains("ana"), "{err}");
        // Cut short.
        assert!(k.detokenize(&t[..t.len() - 4], 0).is_err());
    }

    /// Known answers computed with an independent implementation, Python's
    /// `cryptography` (HKDF, AES-SIV) and `hmac`:
    ///
    /// ```python
    /// key = bytes([0x42] * 32)
    /// kid = sha256(b"aigis mask key id v1\0" + key).digest()[:4].hex()
    /// siv = HKDF(SHA256(), 64, salt=None, info=b"aigis mask v1 aes-256-siv").derive(key)
    /// hk = HKDF(SHA256(), 32, salt=None, info=b"aigis mask v1 hmac-sha256").derive(key)
    /// "tok1." + kid + "." + urlsafe_b64encode(AESSIV(siv).encrypt(v, [b"aigis tok1"])).rstrip(b"=")
    /// hmac.new(hk, v, sha256).hexdigest()
    /// ```
    #[test]
    fn known_answers_from_python_cryptography() {
        let k = Keyed::new(&key(0x42)).unwrap();
        let token = "tok1.3770e4d1.26j8MPny_Sth_JmjSc_-nDE5krEnWoP2pFTTZK1NPA";
        assert_eq!(k.key_id(), "3770e4d1");
        assert_eq!(k.tokenize("ana@example.com").unwrap(), token);
        assert_eq!(k.detokenize(token, 0).unwrap(), "ana@example.com");
        assert_eq!(
            hex::encode(k.hmac(b"ana@example.com").unwrap()),
            "eb06adbfb6eb7cdaca72e2f3505db17ff7a99a62aab2ffc1ee721e9f221e92c0"
        );
    }

    #[test]
    fn a_token_of_another_key_is_refused_by_name() {
        let mine = Keyed::new(&key(1)).unwrap();
        let theirs = Keyed::new(&key(2)).unwrap();
        let t = theirs.tokenize("123-45-6789").unwrap();
        let err = mine.detokenize(&t, 0).unwrap_err().to_string();
        assert!(
            err.contains(theirs.key_id()) && err.contains(mine.key_id()),
            "{err}"
        );
        // Same key id but another key (a forged id) still fails the SIV check.
        let forged = t.replacen(theirs.key_id(), mine.key_id(), 1);
        assert!(mine.detokenize(&forged, 0).is_err());
    }
}
