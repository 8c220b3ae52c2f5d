use std::fmt;

use ed25519_dalek::Signer as _;
use rand_core::OsRng;
use sha2::{Digest as _, Sha256};

use crate::Error;

/// An Ed25519 signing key. The secret scalar is zeroized on drop (ed25519-dalek's
/// `zeroize` feature) and `Debug` prints only the public key id.
pub struct SigningKey(ed25519_dalek::SigningKey);

/// An Ed25519 public key.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct PublicKey(ed25519_dalek::VerifyingKey);

impl SigningKey {
    /// A fresh key from the operating system's random source.
    pub fn generate() -> Self {
        Self(ed25519_dalek::SigningKey::generate(&mut OsRng))
    }

    /// The key whose 32-byte seed is `seed`.
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        Self(ed25519_dalek::SigningKey::from_bytes(seed))
    }

    /// The 32-byte seed. Callers keep it in a `Zeroizing` buffer.
    pub(crate) fn seed(&self) -> zeroize::Zeroizing<[u8; 32]> {
        zeroize::Zeroizing::new(self.0.to_bytes())
    }

    pub fn public(&self) -> PublicKey {
        PublicKey(self.0.verifying_key())
    }

    /// A 64-byte Ed25519 signature of `msg`.
    pub fn sign(&self, msg: &[u8]) -> [u8; 64] {
        self.0.sign(msg).to_bytes()
    }

    /// The key as PKCS#8 DER (RFC 8410), the form TLS libraries load (`aigis federate`
    /// authenticates with the project's key). Zeroized on drop.
    pub fn to_pkcs8_der(&self) -> Result<zeroize::Zeroizing<Vec<u8>>, Error> {
        use ed25519_dalek::pkcs8::EncodePrivateKey as _;
        let doc = self
            .0
            .to_pkcs8_der()
            .map_err(|e| Error::PublicKey(format!("the key as PKCS#8: {e}")))?;
        Ok(zeroize::Zeroizing::new(doc.as_bytes().to_vec()))
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SigningKey(public {})", self.public().key_id())
    }
}

impl PublicKey {
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, Error> {
        let arr: [u8; 32] = bytes
            .try_into()
            .map_err(|_| Error::PublicKey(format!("expected 32 bytes, got {}", bytes.len())))?;
        ed25519_dalek::VerifyingKey::from_bytes(&arr)
            .map(Self)
            .map_err(|_| Error::PublicKey("not a point on Ed25519".into()))
    }

    pub fn to_bytes(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    /// The key as an X.509 `SubjectPublicKeyInfo` in DER (RFC 8410): a TLS raw public key
    /// (RFC 7250).
    pub fn to_spki_der(&self) -> Result<Vec<u8>, Error> {
        use ed25519_dalek::pkcs8::EncodePublicKey as _;
        self.0
            .to_public_key_der()
            .map(|d| d.as_bytes().to_vec())
            .map_err(|e| Error::PublicKey(format!("the key as SubjectPublicKeyInfo: {e}")))
    }

    /// The Ed25519 key a DER `SubjectPublicKeyInfo` holds; anything else is an error.
    pub fn from_spki_der(der: &[u8]) -> Result<Self, Error> {
        use ed25519_dalek::pkcs8::DecodePublicKey as _;
        ed25519_dalek::VerifyingKey::from_public_key_der(der)
            .map(Self)
            .map_err(|e| Error::PublicKey(format!("not an Ed25519 SubjectPublicKeyInfo: {e}")))
    }

    /// The DSSE `keyid` aigis uses: lower-case hex SHA-256 of the 32-byte public key.
    pub fn key_id(&self) -> String {
        hex::encode(Sha256::digest(self.0.as_bytes()))
    }

    /// Checks an Ed25519 signature with the strict rules (no malleable or small-order
    /// forgeries), so a signature accepted here is accepted by every careful verifier.
    /// `verify_strict` is RFC 8032's check (`[s]B = R + [k]A`, with `s` canonical) plus the
    /// rejection of small-order `R` and keys: what it accepts, the plain check accepts, so
    /// it runs alone (running both cost a second verification per signature).
    pub fn verify(&self, msg: &[u8], sig: &[u8]) -> bool {
        let Ok(sig) = ed25519_dalek::Signature::from_slice(sig) else {
            return false;
        };
        self.0.verify_strict(msg, &sig).is_ok()
    }

    pub(crate) fn dalek(&self) -> &ed25519_dalek::VerifyingKey {
        &self.0
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.key_id())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_and_verifies_rfc_8032_test_1() {
        // RFC 8032, section 7.1, TEST 1 (empty message).
        let seed: [u8; 32] =
            hex::decode("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
                .unwrap()
                .try_into()
                .unwrap();
        let key = SigningKey::from_seed(&seed);
        assert_eq!(
            hex::encode(key.public().to_bytes()),
            "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
        );
        let sig = key.sign(b"");
        assert_eq!(
            hex::encode(sig),
            "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
        );
        assert!(key.public().verify(b"", &sig));
        assert!(!key.public().verify(b"x", &sig));
        assert!(!key.public().verify(b"", &sig[..63]));
    }

    /// The forgeries a lax verifier lets through are refused: a non-canonical `s` (the
    /// valid one plus the group order, which reduces to it), and the identity as the key
    /// with the identity as `R` and `s = 0` (`[0]B = R + [k]A` for every message).
    #[test]
    fn malleable_and_small_order_signatures_are_refused() {
        let key = SigningKey::from_seed(&[7; 32]);
        let sig = key.sign(b"m");
        assert!(key.public().verify(b"m", &sig));
        // s + L, little-endian: L = 2^252 + 27742317777372353535851937790883648493.
        let order: [u8; 32] =
            hex::decode("edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010")
                .unwrap()
                .try_into()
                .unwrap();
        let mut malleable = sig;
        let mut carry = 0u16;
        for (b, l) in malleable[32..].iter_mut().zip(order) {
            let sum = u16::from(*b) + u16::from(l) + carry;
            *b = (sum & 0xff) as u8;
            carry = sum >> 8;
        }
        assert!(!key.public().verify(b"m", &malleable));
        let mut identity = [0u8; 32];
        identity[0] = 1;
        let weak = PublicKey::from_bytes(&identity).unwrap();
        let mut forged = [0u8; 64];
        forged[..32].copy_from_slice(&identity);
        for msg in [&b"m"[..], b"anything"] {
            assert!(!weak.verify(msg, &forged));
        }
    }

    /// RFC 8410's examples: section 10.3's private key and section 10.1's public key
    /// (SubjectPublicKeyInfo), which is that private key's. The key is written as PKCS#8
    /// v2 (RFC 5958's OneAsymmetricKey, the public key attached), which TLS libraries read
    /// as they read the RFC's v1.
    #[test]
    fn pkcs8_and_spki_are_rfc_8410s() {
        use base64::Engine as _;
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.decode(s).unwrap();
        let pkcs8 = b64("MC4CAQAwBQYDK2VwBCIEINTuctv5E1hK1bbY8fdp+K06/nwoy/HU++CXqI9EdVhC");
        let spki = b64("MCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=");
        let seed: [u8; 32] = pkcs8[16..].try_into().unwrap();
        let key = SigningKey::from_seed(&seed);
        let v2 = [
            hex::decode("3051020101300506032b657004220420").unwrap(),
            seed.to_vec(),
            hex::decode("812100").unwrap(),
            spki[12..].to_vec(),
        ]
        .concat();
        assert_eq!(*key.to_pkcs8_der().unwrap(), v2);
        assert_eq!(key.public().to_spki_der().unwrap(), spki);
        assert_eq!(PublicKey::from_spki_der(&spki).unwrap(), key.public());
        // Not an Ed25519 key: a truncated one, and an X25519 one (OID 1.3.101.110).
        assert!(PublicKey::from_spki_der(&spki[..40]).is_err());
        let mut x25519 = spki.clone();
        x25519[8] = 0x6e;
        assert!(PublicKey::from_spki_der(&x25519).is_err());
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let key = SigningKey::from_seed(&[0x42; 32]);
        let shown = format!("{key:?}");
        assert!(!shown.contains(&hex::encode([0x42u8; 32])));
        assert!(shown.contains(&key.public().key_id()));
    }
}
