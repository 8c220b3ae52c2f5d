//! The keys of model signatures: Ed25519 (aigis's own project key) and ECDSA P-256 /
//! P-384 (what OpenSSF model-signing's `key` method uses), read from PEM files.
//!
//! A DSSE signature is over the PAE of the payload: Ed25519 signs it as is; ECDSA hashes
//! it with SHA-256 (P-256) or SHA-384 (P-384) and the signature is ASN.1 DER, as
//! model-signing's `sign_ec_key.py` does with `cryptography`.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use p256::ecdsa::signature::{Signer as _, Verifier as _};
use p256::pkcs8::der::{Decode as _, asn1::OctetStringRef};
use p256::pkcs8::spki::SubjectPublicKeyInfoRef;
use p256::pkcs8::{DecodePrivateKey as _, DecodePublicKey as _, EncodePublicKey as _};
use p256::pkcs8::{ObjectIdentifier, PrivateKeyInfo};
use sha2::{Digest as _, Sha256};
use zeroize::Zeroizing;

use crate::Error;

const ID_EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const SECP256R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
const SECP384R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");
const ID_ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");
/// The DER of an Ed25519 SubjectPublicKeyInfo up to the 32 key bytes (RFC 8410).
const ED25519_SPKI_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];

/// A key that signs a model: the secret halves are zeroized when dropped, and `Debug`
/// shows only the public key id.
pub enum SignerKey {
    Ed25519(aigis_crypto::SigningKey),
    P256(p256::ecdsa::SigningKey),
    P384(p384::ecdsa::SigningKey),
}

/// A key that checks a model signature.
#[derive(Clone, PartialEq, Eq)]
pub enum VerifierKey {
    Ed25519(aigis_crypto::PublicKey),
    P256(p256::ecdsa::VerifyingKey),
    P384(p384::ecdsa::VerifyingKey),
}

impl SignerKey {
    /// Reads a PEM private key: PKCS#8 (`PRIVATE KEY`: Ed25519, EC P-256 or P-384) or
    /// SEC1 (`EC PRIVATE KEY`, what `openssl ecparam -genkey` writes). Encrypted PEM is
    /// refused with a hint. Errors never show key material.
    pub fn from_pem(pem: &str) -> Result<Self, Error> {
        let (label, der) = pem_decode(pem)?;
        match label.as_str() {
            "PRIVATE KEY" => Self::from_pkcs8_der(&der),
            "EC PRIVATE KEY" => {
                if let Ok(k) = p256::SecretKey::from_sec1_der(&der) {
                    Ok(Self::P256(k.into()))
                } else if let Ok(k) = p384::SecretKey::from_sec1_der(&der) {
                    Ok(Self::P384(k.into()))
                } else {
                    Err(key_error(
                        "the EC private key is not on P-256 or P-384 (the curves supported)",
                    ))
                }
            }
            "ENCRYPTED PRIVATE KEY" => Err(Error::EncryptedKey),
            other => Err(key_error(&format!(
                "expected a `PRIVATE KEY` PEM block, found `{other}`"
            ))),
        }
    }

    fn from_pkcs8_der(der: &[u8]) -> Result<Self, Error> {
        let info = PrivateKeyInfo::from_der(der)
            .map_err(|e| key_error(&format!("not a PKCS#8 private key ({e})")))?;
        let oid = info.algorithm.oid;
        if oid == ID_ED25519 {
            // RFC 8410: the private key is an OCTET STRING holding the 32-byte seed.
            let inner = OctetStringRef::from_der(info.private_key)
                .map_err(|_| key_error("the Ed25519 private key is malformed"))?;
            let seed: Zeroizing<[u8; 32]> = Zeroizing::new(
                inner
                    .as_bytes()
                    .try_into()
                    .map_err(|_| key_error("the Ed25519 private key is not 32 bytes"))?,
            );
            return Ok(Self::Ed25519(aigis_crypto::SigningKey::from_seed(&seed)));
        }
        if oid != ID_EC_PUBLIC_KEY {
            return Err(key_error(&format!(
                "unsupported key algorithm {oid} (supported: Ed25519, ECDSA P-256, ECDSA P-384)"
            )));
        }
        match info.algorithm.parameters_oid().ok() {
            Some(c) if c == SECP256R1 => p256::SecretKey::from_pkcs8_der(der)
                .map(|k| Self::P256(k.into()))
                .map_err(|_| key_error("the P-256 private key is malformed")),
            Some(c) if c == SECP384R1 => p384::SecretKey::from_pkcs8_der(der)
                .map(|k| Self::P384(k.into()))
                .map_err(|_| key_error("the P-384 private key is malformed")),
            Some(c) => Err(key_error(&format!(
                "unsupported elliptic curve {c} (supported: P-256, P-384)"
            ))),
            None => Err(key_error("the EC private key names no curve")),
        }
    }

    /// The public half.
    pub fn public(&self) -> VerifierKey {
        match self {
            Self::Ed25519(k) => VerifierKey::Ed25519(k.public()),
            Self::P256(k) => VerifierKey::P256(*k.verifying_key()),
            Self::P384(k) => VerifierKey::P384(*k.verifying_key()),
        }
    }

    /// The signature of `msg`: raw 64 bytes for Ed25519, ASN.1 DER for ECDSA.
    pub(crate) fn sign(&self, msg: &[u8]) -> Vec<u8> {
        match self {
            Self::Ed25519(k) => k.sign(msg).to_vec(),
            Self::P256(k) => {
                let sig: p256::ecdsa::Signature = k.sign(msg);
                sig.to_der().as_bytes().to_vec()
            }
            Self::P384(k) => {
                let sig: p384::ecdsa::Signature = k.sign(msg);
                sig.to_der().as_bytes().to_vec()
            }
        }
    }
}

impl From<aigis_crypto::SigningKey> for SignerKey {
    fn from(key: aigis_crypto::SigningKey) -> Self {
        Self::Ed25519(key)
    }
}

impl fmt::Debug for SignerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let public = self.public();
        write!(f, "SignerKey({} {})", public.algorithm(), public.key_id())
    }
}

impl VerifierKey {
    /// Reads a PEM public key (`PUBLIC KEY`, SubjectPublicKeyInfo): Ed25519, EC P-256 or
    /// EC P-384.
    pub fn from_pem(pem: &str) -> Result<Self, Error> {
        let (label, der) = pem_decode(pem)?;
        if label != "PUBLIC KEY" {
            return Err(key_error(&format!(
                "expected a `PUBLIC KEY` PEM block, found `{label}`"
            )));
        }
        Self::from_spki_der(&der)
    }

    /// Reads a DER SubjectPublicKeyInfo.
    pub fn from_spki_der(der: &[u8]) -> Result<Self, Error> {
        let info = SubjectPublicKeyInfoRef::from_der(der)
            .map_err(|e| key_error(&format!("not a public key ({e})")))?;
        let oid = info.algorithm.oid;
        if oid == ID_ED25519 {
            let bytes = info
                .subject_public_key
                .as_bytes()
                .ok_or_else(|| key_error("the Ed25519 public key is malformed"))?;
            return aigis_crypto::PublicKey::from_bytes(bytes)
                .map(Self::Ed25519)
                .map_err(|e| key_error(&e.to_string()));
        }
        if oid != ID_EC_PUBLIC_KEY {
            return Err(key_error(&format!(
                "unsupported key algorithm {oid} (supported: Ed25519, ECDSA P-256, ECDSA P-384)"
            )));
        }
        match info.algorithm.parameters_oid().ok() {
            Some(c) if c == SECP256R1 => p256::ecdsa::VerifyingKey::from_public_key_der(der)
                .map(Self::P256)
                .map_err(|_| key_error("the P-256 public key is not a point on the curve")),
            Some(c) if c == SECP384R1 => p384::ecdsa::VerifyingKey::from_public_key_der(der)
                .map(Self::P384)
                .map_err(|_| key_error("the P-384 public key is not a point on the curve")),
            Some(c) => Err(key_error(&format!(
                "unsupported elliptic curve {c} (supported: P-256, P-384)"
            ))),
            None => Err(key_error("the EC public key names no curve")),
        }
    }

    /// The DER SubjectPublicKeyInfo (EC points uncompressed, as OpenSSL writes them).
    pub fn to_spki_der(&self) -> Vec<u8> {
        match self {
            Self::Ed25519(k) => {
                let mut der = ED25519_SPKI_PREFIX.to_vec();
                der.extend_from_slice(&k.to_bytes());
                der
            }
            // Encoding a valid point of a known curve cannot fail.
            Self::P256(k) => p256::PublicKey::from(k)
                .to_public_key_der()
                .map(|d| d.as_bytes().to_vec())
                .unwrap_or_default(),
            Self::P384(k) => p384::PublicKey::from(k)
                .to_public_key_der()
                .map(|d| d.as_bytes().to_vec())
                .unwrap_or_default(),
        }
    }

    /// The PEM form, byte for byte as OpenSSL (and Python's `cryptography`) writes it:
    /// 64-column base64, `\n` line ends, a final newline.
    pub fn to_pem(&self) -> String {
        let b64 = STANDARD.encode(self.to_spki_der());
        let mut out = String::from("-----BEGIN PUBLIC KEY-----\n");
        for line in b64.as_bytes().chunks(64) {
            out.push_str(&String::from_utf8_lossy(line));
            out.push('\n');
        }
        out.push_str("-----END PUBLIC KEY-----\n");
        out
    }

    /// The bundle's `verificationMaterial.publicKey.hint`: lower-case hex SHA-256 of the
    /// PEM form, as model-signing computes it.
    pub fn hint(&self) -> String {
        hex::encode(Sha256::digest(self.to_pem().as_bytes()))
    }

    /// The key's id in reports: aigis's key id for Ed25519 (hex SHA-256 of the 32 key
    /// bytes, as in the ledger), the model-signing hint for ECDSA keys.
    pub fn key_id(&self) -> String {
        match self {
            Self::Ed25519(k) => k.key_id(),
            Self::P256(_) | Self::P384(_) => self.hint(),
        }
    }

    /// `ed25519`, `ecdsa-p256-sha256` or `ecdsa-p384-sha384`.
    pub fn algorithm(&self) -> &'static str {
        match self {
            Self::Ed25519(_) => "ed25519",
            Self::P256(_) => "ecdsa-p256-sha256",
            Self::P384(_) => "ecdsa-p384-sha384",
        }
    }

    /// Checks a signature of `msg` (Ed25519 strict; ECDSA DER, high-S accepted as OpenSSL
    /// does).
    pub(crate) fn verify(&self, msg: &[u8], sig: &[u8]) -> bool {
        match self {
            Self::Ed25519(k) => k.verify(msg, sig),
            Self::P256(k) => {
                p256::ecdsa::Signature::from_der(sig).is_ok_and(|s| k.verify(msg, &s).is_ok())
            }
            Self::P384(k) => {
                p384::ecdsa::Signature::from_der(sig).is_ok_and(|s| k.verify(msg, &s).is_ok())
            }
        }
    }
}

impl From<aigis_crypto::PublicKey> for VerifierKey {
    fn from(key: aigis_crypto::PublicKey) -> Self {
        Self::Ed25519(key)
    }
}

impl fmt::Debug for VerifierKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "VerifierKey({} {})", self.algorithm(), self.key_id())
    }
}

fn key_error(reason: &str) -> Error {
    Error::Key(reason.to_owned())
}

/// The label and DER bytes of the first PEM block in `text` (the bytes are zeroized on
/// drop: they may be a private key).
fn pem_decode(text: &str) -> Result<(String, Zeroizing<Vec<u8>>), Error> {
    let begin = text
        .find("-----BEGIN ")
        .ok_or_else(|| key_error("not a PEM file (no `-----BEGIN` line)"))?;
    let rest = text.get(begin + "-----BEGIN ".len()..).unwrap_or_default();
    let (label, rest) = rest
        .split_once("-----")
        .ok_or_else(|| key_error("the PEM `-----BEGIN` line is not closed"))?;
    let end_line = format!("-----END {label}-----");
    let (body, _) = rest
        .split_once(end_line.as_str())
        .ok_or_else(|| key_error(&format!("the PEM block has no `{end_line}` line")))?;
    let b64: Zeroizing<String> =
        Zeroizing::new(body.chars().filter(|c| !c.is_ascii_whitespace()).collect());
    if b64.contains(':') {
        return Err(Error::PemHeaders);
    }
    let der = STANDARD
        .decode(b64.as_bytes())
        .map_err(|_| key_error(&format!("the `{label}` PEM block is not valid base64")))?;
    Ok((label.to_owned(), Zeroizing::new(der)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_errors_name_the_problem() {
        assert!(
            SignerKey::from_pem("hello")
                .unwrap_err()
                .to_string()
                .contains("not a PEM")
        );
        let enc =
            "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n";
        assert!(
            SignerKey::from_pem(enc)
                .unwrap_err()
                .to_string()
                .contains("encrypted")
        );
        let public = "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n";
        assert!(
            SignerKey::from_pem(public)
                .unwrap_err()
                .to_string()
                .contains("`PUBLIC KEY`")
        );
        assert!(VerifierKey::from_pem(public).is_err());
    }
}
