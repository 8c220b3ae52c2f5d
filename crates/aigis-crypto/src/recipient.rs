//! Recipient key pairs for file encryption: X-Wing, the hybrid of X25519 and ML-KEM-768.
//!
//! A [`Recipient`] is the public half, printable as `aigis-recipient-v1:` followed by the
//! base64url (no padding) of the 1216-byte X-Wing encapsulation key (the ML-KEM-768
//! encapsulation key, 1184 bytes, then the X25519 public key, 32 bytes). Its [`KeyId`] is
//! the first 8 bytes of the SHA-256 of those 1216 bytes, shown as 16 hex digits.
//!
//! An [`Identity`] is the secret half: the 32-byte X-Wing seed from which both the ML-KEM
//! and the X25519 secret keys are expanded (draft-connolly-cfrg-xwing-kem-06, section 5.2).
//! It is kept in a key file like the signing key's ([`save`], [`load`]): mode 0600,
//! optionally sealed with a passphrase by the same argon2id + XChaCha20-Poly1305 code.
//!
//! Why X-Wing and not a hand-made combiner: X-Wing's shared secret is
//! `SHA3-256(ss_MLKEM ‖ ss_X25519 ‖ ct_X25519 ‖ pk_X25519 ‖ label)`, proven IND-CCA secure
//! as long as either ML-KEM-768 or X25519 holds (the ML-KEM ciphertext and key need not be
//! hashed because ML-KEM is ciphertext-collision resistant). The RustCrypto `x-wing` crate
//! implements exactly that; the known-answer test below pins the draft version.

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand_core::{OsRng, RngCore as _};
use sha2::{Digest as _, Sha256};
use x_wing::{Decapsulate as _, Encapsulate as _, KeyExport as _, TryKeyInit as _};
use zeroize::{Zeroize as _, Zeroizing};

use crate::Error;
use crate::keyfile::{self, KdfParams, Kind};

/// The prefix of a printed recipient.
pub const PREFIX: &str = "aigis-recipient-v1:";
/// Bytes in an X-Wing encapsulation key (a recipient).
pub const PUBLIC_LEN: usize = x_wing::ENCAPSULATION_KEY_SIZE;
/// Bytes in an X-Wing ciphertext: the ML-KEM-768 ciphertext (1088), then the X25519
/// ephemeral public key (32).
pub const CIPHERTEXT_LEN: usize = x_wing::CIPHERTEXT_SIZE;

const KIND: Kind = Kind {
    format: "aigis-recipient-key/v1",
    algorithm: "x-wing",
    secret_len: x_wing::DECAPSULATION_KEY_SIZE,
    what: "recipient key",
};

/// A short name of a recipient: the first 8 bytes of SHA-256 of its public key.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId(pub [u8; 8]);

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({self})")
    }
}

/// The public half of a recipient key pair: whom a file can be encrypted to.
#[derive(Clone, PartialEq, Eq)]
pub struct Recipient {
    key: x_wing::EncapsulationKey,
    id: KeyId,
}

impl Recipient {
    /// The recipient whose X-Wing encapsulation key is `bytes` (1216 bytes).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, Error> {
        if bytes.len() != PUBLIC_LEN {
            return Err(Error::Recipient(format!(
                "expected a {PUBLIC_LEN}-byte key, got {} bytes",
                bytes.len()
            )));
        }
        let key = x_wing::EncapsulationKey::new_from_slice(bytes).map_err(|_| {
            Error::Recipient("the ML-KEM-768 part is not a valid encapsulation key".into())
        })?;
        let digest = Sha256::digest(bytes);
        let mut id = [0u8; 8];
        id.copy_from_slice(digest.get(..8).unwrap_or_default());
        Ok(Self { key, id: KeyId(id) })
    }

    /// The 1216-byte X-Wing encapsulation key.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.key.to_bytes().to_vec()
    }

    pub fn key_id(&self) -> KeyId {
        self.id
    }

    /// A fresh X-Wing encapsulation to this recipient: the ciphertext and the shared
    /// secret (zeroized when dropped).
    pub(crate) fn encapsulate(&self) -> ([u8; CIPHERTEXT_LEN], Zeroizing<[u8; 32]>) {
        let (ct, mut ss) = self.key.encapsulate();
        let mut ct_bytes = [0u8; CIPHERTEXT_LEN];
        ct_bytes.copy_from_slice(ct.as_slice());
        let shared = Zeroizing::new(ss.0);
        ss.as_mut_slice().zeroize();
        (ct_bytes, shared)
    }
}

impl fmt::Display for Recipient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{PREFIX}{}", URL_SAFE_NO_PAD.encode(self.to_bytes()))
    }
}

impl fmt::Debug for Recipient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Recipient({})", self.id)
    }
}

impl FromStr for Recipient {
    type Err = Error;

    /// Parses `aigis-recipient-v1:<base64url>`; surrounding white space is ignored, so
    /// the contents of a file written by `aigis keys recipient show > FILE` parse too.
    fn from_str(s: &str) -> Result<Self, Error> {
        let s = s.trim();
        let Some(b64) = s.strip_prefix(PREFIX) else {
            return Err(Error::Recipient(format!(
                "a recipient starts with `{PREFIX}`"
            )));
        };
        let bytes = URL_SAFE_NO_PAD
            .decode(b64)
            .map_err(|_| Error::Recipient("the key after the prefix is not base64url".into()))?;
        Self::from_bytes(&bytes)
    }
}

/// The secret half of a recipient key pair: what decrypts files sent to its
/// [`Recipient`]. The seed is zeroized on drop and never shown by `Debug`.
pub struct Identity {
    key: x_wing::DecapsulationKey,
    recipient: Recipient,
}

impl Identity {
    /// A fresh key pair from the operating system's random source.
    pub fn generate() -> Result<Self, Error> {
        let mut seed = Zeroizing::new([0u8; 32]);
        OsRng.fill_bytes(seed.as_mut_slice());
        Self::from_seed(&seed)
    }

    /// The key pair expanded from a 32-byte X-Wing seed.
    pub fn from_seed(seed: &[u8; 32]) -> Result<Self, Error> {
        let key = x_wing::DecapsulationKey::from(*seed);
        let recipient =
            Recipient::from_bytes(&x_wing::Decapsulator::encapsulation_key(&key).to_bytes())?;
        Ok(Self { key, recipient })
    }

    pub fn recipient(&self) -> &Recipient {
        &self.recipient
    }

    pub fn key_id(&self) -> KeyId {
        self.recipient.id
    }

    /// The shared secret of an X-Wing ciphertext (zeroized when dropped). A ciphertext
    /// made for another key gives an unrelated secret, never an error (ML-KEM's implicit
    /// rejection): the caller finds out when the wrapped key fails to open.
    pub(crate) fn decapsulate(&self, ct: &[u8; CIPHERTEXT_LEN]) -> Zeroizing<[u8; 32]> {
        let ct = x_wing::Ciphertext::from(*ct);
        let mut ss = self.key.decapsulate(&ct);
        let shared = Zeroizing::new(ss.0);
        ss.as_mut_slice().zeroize();
        shared
    }
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Identity(recipient {})", self.recipient.id)
    }
}

/// Writes `identity` to `path` (mode 0600, atomically); with a passphrase the seed is
/// sealed exactly as a signing key's is.
pub fn save(
    path: &Path,
    identity: &Identity,
    passphrase: Option<&str>,
    params: KdfParams,
) -> Result<(), Error> {
    let seed = Zeroizing::new(*identity.key.as_bytes());
    keyfile::save_secret(
        path,
        KIND,
        &identity.recipient.to_bytes(),
        seed.as_slice(),
        passphrase,
        params,
    )
}

/// Loads the identity at `path`; a sealed file needs `passphrase`.
pub fn load(path: &Path, passphrase: Option<&str>) -> Result<Identity, Error> {
    let (public, seed) = keyfile::load_secret(path, KIND, passphrase)?;
    let seed: &[u8; 32] = seed
        .as_slice()
        .try_into()
        .map_err(|_| keyfile::key_error(path, "the secret key is not 32 bytes"))?;
    let identity = Identity::from_seed(seed)?;
    if identity.recipient.to_bytes() != public {
        return Err(keyfile::key_error(
            path,
            "the secret key does not match `public_key`",
        ));
    }
    Ok(identity)
}

/// The recipient recorded in the key file at `path` (needs no passphrase).
pub fn public(path: &Path) -> Result<Recipient, Error> {
    let raw = keyfile::read_public(path, KIND)?;
    Recipient::from_bytes(&raw).map_err(|e| keyfile::key_error(path, &e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const FAST: KdfParams = crate::keyfile::TEST_KDF;

    #[test]
    fn x_wing_draft_06_known_answer() {
        // The first vector of draft-connolly-cfrg-xwing-kem-06, appendix C (as shipped in
        // the x-wing crate's tests/test-vectors.json): seed, encapsulation randomness and
        // shared secret in full, the 1216-byte key and 1120-byte ciphertext by SHA-256.
        let sk: [u8; 32] =
            hex::decode("7f9c2ba4e88f827d616045507605853ed73b8093f6efbc88eb1a6eacfa66ef26")
                .unwrap()
                .try_into()
                .unwrap();
        let eseed = hex::decode(
            "3cb1eea988004b93103cfb0aeefd2a686e01fa4a58e8a3639ca8a1e3f9ae57e2\
             35b8cc873c23dc62b8d260169afa2f75ab916a58d974918835d25e6a435085b2",
        )
        .unwrap();
        let identity = Identity::from_seed(&sk).unwrap();
        let (ct, ss) = identity
            .recipient
            .key
            .encapsulate_deterministic(eseed.as_slice().try_into().unwrap());
        assert_eq!(
            hex::encode(ss),
            "d2df0522128f09dd8e2c92b1e905c793d8f57a54c3da25861f10bf4ca613e384"
        );
        assert_eq!(
            hex::encode(Sha256::digest(identity.recipient.to_bytes())),
            "2e816deebcd76c5c80d0cd2d174478871658e8e2ff42bc9d4a6e486372e856bb"
        );
        assert_eq!(
            hex::encode(Sha256::digest(ct.as_slice())),
            "17cd532d657e44c897ca6583e548a5424fc70bf54f99515a4d2bcf99e3469f33"
        );
        let ct: [u8; CIPHERTEXT_LEN] = ct.as_slice().try_into().unwrap();
        assert_eq!(
            hex::encode(*identity.decapsulate(&ct)),
            "d2df0522128f09dd8e2c92b1e905c793d8f57a54c3da25861f10bf4ca613e384"
        );
    }

    #[test]
    fn recipients_print_and_parse() {
        let id = Identity::generate().unwrap();
        let text = id.recipient().to_string();
        assert!(text.starts_with(PREFIX));
        let parsed: Recipient = format!("  {text}\n").parse().unwrap();
        assert_eq!(&parsed, id.recipient());
        assert_eq!(parsed.key_id().to_string().len(), 16);
        for bad in [
            "",
            "age1xyz",
            &format!("{PREFIX}!!!"),
            &format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode([1u8; 32])),
            &format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode([0xffu8; PUBLIC_LEN])),
        ] {
            let err = bad.parse::<Recipient>().unwrap_err().to_string();
            assert!(err.starts_with("invalid recipient"), "{err}");
        }
    }

    #[test]
    fn encapsulation_round_trips_only_for_its_identity() {
        let id = Identity::generate().unwrap();
        let other = Identity::generate().unwrap();
        let (ct, ss) = id.recipient().encapsulate();
        assert_eq!(*id.decapsulate(&ct), *ss);
        assert_ne!(*other.decapsulate(&ct), *ss);
    }

    #[test]
    fn key_files_plain_and_sealed() {
        let dir = tempfile::tempdir().unwrap();
        let id = Identity::generate().unwrap();
        let plain = dir.path().join("plain.key");
        save(&plain, &id, None, FAST).unwrap();
        assert_eq!(load(&plain, None).unwrap().recipient(), id.recipient());
        let sealed = dir.path().join("sealed.key");
        save(&sealed, &id, Some("pw"), FAST).unwrap();
        let text = std::fs::read_to_string(&sealed).unwrap();
        assert!(
            !text.contains(&base64::engine::general_purpose::STANDARD.encode(id.key.as_bytes()))
        );
        assert_eq!(public(&sealed).unwrap(), *id.recipient());
        assert!(matches!(
            load(&sealed, None),
            Err(Error::PassphraseRequired { .. })
        ));
        let err = load(&sealed, Some("wrong")).unwrap_err();
        assert!(err.to_string().contains("recipient key"), "{err}");
        assert_eq!(load(&sealed, Some("pw")).unwrap().key_id(), id.key_id());
        // A signing key file is not an identity, and the other way round.
        let signing = dir.path().join("signing.key");
        keyfile::save(&signing, &crate::SigningKey::generate(), None, FAST).unwrap();
        assert!(load(&signing, None).is_err());
        assert!(keyfile::load(&plain, None).is_err());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&sealed).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn debug_never_shows_the_seed() {
        let id = Identity::from_seed(&[0x42; 32]).unwrap();
        let shown = format!("{id:?}");
        assert!(!shown.contains(&hex::encode([0x42u8; 32])));
        assert!(shown.contains(&id.key_id().to_string()));
    }
}
