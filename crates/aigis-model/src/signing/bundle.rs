//! The signature file: a Sigstore bundle (v0.3, JSON) holding a DSSE envelope and, for
//! key-based signing, only a hint of the public key (no certificate, no transparency-log
//! entry), the shape OpenSSF model-signing writes for `sign key`.

use aigis_crypto::dsse::{Envelope, EnvelopeSignature, pae};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};

use super::keys::{SignerKey, VerifierKey};
use crate::Error;

/// The bundle media type model-signing writes and requires.
pub const BUNDLE_MEDIA_TYPE: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";

/// The largest signature file parsed (256 MiB: a manifest of about a million files);
/// this only stops a hostile file from exhausting memory.
pub const MAX_BUNDLE_BYTES: usize = 256 << 20;

/// A parsed model signature. Nothing in it is trusted until [`Bundle::verify`] accepts it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bundle {
    /// `verificationMaterial.publicKey.hint`: the hex SHA-256 of the signer's public key
    /// PEM, unauthenticated (it only picks the likely key).
    pub key_hint: Option<String>,
    /// The DSSE envelope of the in-toto statement.
    pub envelope: Envelope,
}

#[derive(Serialize, Deserialize)]
struct Wire {
    #[serde(rename = "mediaType")]
    media_type: String,
    #[serde(rename = "verificationMaterial")]
    verification_material: WireMaterial,
    #[serde(rename = "dsseEnvelope", default)]
    dsse_envelope: Option<WireEnvelope>,
    #[serde(
        rename = "messageSignature",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    message_signature: Option<serde_json::Value>,
}

#[derive(Serialize, Deserialize)]
struct WireMaterial {
    #[serde(rename = "publicKey", default, skip_serializing_if = "Option::is_none")]
    public_key: Option<WireKeyId>,
    #[serde(
        rename = "x509CertificateChain",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    chain: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    certificate: Option<serde_json::Value>,
    #[serde(rename = "tlogEntries", default)]
    tlog_entries: Vec<serde_json::Value>,
}

#[derive(Serialize, Deserialize)]
struct WireKeyId {
    #[serde(default)]
    hint: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct WireEnvelope {
    payload: String,
    #[serde(rename = "payloadType")]
    payload_type: String,
    signatures: Vec<WireSig>,
}

#[derive(Serialize, Deserialize)]
struct WireSig {
    sig: String,
    #[serde(default)]
    keyid: Option<String>,
}

impl Bundle {
    /// Signs `payload` (of DSSE type `payload_type`) with `key`.
    pub(crate) fn sign(payload_type: &str, payload: Vec<u8>, key: &SignerKey) -> Self {
        let sig = key.sign(&pae(payload_type, &payload));
        Self {
            key_hint: Some(key.public().hint()),
            envelope: Envelope {
                payload_type: payload_type.to_owned(),
                payload,
                // model-signing leaves `keyid` empty and finds the key by the hint.
                signatures: vec![EnvelopeSignature {
                    keyid: String::new(),
                    sig,
                }],
            },
        }
    }

    /// Parses a signature file. Errors say which field is wrong; bundles made with
    /// certificates (Sigstore keyless, `sign certificate`) are refused as unsupported.
    pub fn from_json(bytes: &[u8]) -> Result<Self, Error> {
        if bytes.len() > MAX_BUNDLE_BYTES {
            return Err(bad(format!(
                "{} bytes is more than the {MAX_BUNDLE_BYTES}-byte limit",
                bytes.len()
            )));
        }
        let wire: Wire = serde_json::from_slice(bytes)
            .map_err(|e| bad(format!("not a Sigstore bundle in JSON ({e})")))?;
        if wire.media_type != BUNDLE_MEDIA_TYPE {
            return Err(bad(format!(
                "`mediaType` is `{}`, expected `{BUNDLE_MEDIA_TYPE}`",
                wire.media_type
            )));
        }
        let material = &wire.verification_material;
        if material.chain.is_some() || material.certificate.is_some() {
            return Err(bad(
                "the bundle is signed with a certificate (Sigstore keyless or `sign certificate`); aigis verifies key-based bundles (`sign key`) only"
                    .into(),
            ));
        }
        if wire.message_signature.is_some() {
            return Err(bad(
                "the bundle carries a `messageSignature`, not a `dsseEnvelope`".into(),
            ));
        }
        let env = wire
            .dsse_envelope
            .ok_or_else(|| bad("the bundle has no `dsseEnvelope`".into()))?;
        if env.signatures.is_empty() {
            return Err(bad("`dsseEnvelope.signatures` is empty".into()));
        }
        let payload = STANDARD
            .decode(env.payload.as_bytes())
            .map_err(|_| bad("`dsseEnvelope.payload` is not base64".into()))?;
        let signatures = env
            .signatures
            .into_iter()
            .enumerate()
            .map(|(i, s)| {
                let sig = STANDARD.decode(s.sig.as_bytes()).map_err(|_| {
                    bad(format!("`dsseEnvelope.signatures[{i}].sig` is not base64"))
                })?;
                Ok(EnvelopeSignature {
                    keyid: s.keyid.unwrap_or_default(),
                    sig,
                })
            })
            .collect::<Result<_, Error>>()?;
        Ok(Self {
            key_hint: material
                .public_key
                .as_ref()
                .and_then(|k| k.hint.clone())
                .filter(|h| !h.is_empty()),
            envelope: Envelope {
                payload_type: env.payload_type,
                payload,
                signatures,
            },
        })
    }

    /// The JSON form, field for field as model-signing writes it.
    pub fn to_json(&self) -> Vec<u8> {
        let wire = Wire {
            media_type: BUNDLE_MEDIA_TYPE.to_owned(),
            verification_material: WireMaterial {
                public_key: Some(WireKeyId {
                    hint: self.key_hint.clone(),
                }),
                chain: None,
                certificate: None,
                tlog_entries: Vec::new(),
            },
            dsse_envelope: Some(WireEnvelope {
                payload: STANDARD.encode(&self.envelope.payload),
                payload_type: self.envelope.payload_type.clone(),
                signatures: self
                    .envelope
                    .signatures
                    .iter()
                    .map(|s| WireSig {
                        sig: STANDARD.encode(&s.sig),
                        keyid: Some(s.keyid.clone()),
                    })
                    .collect(),
            }),
            message_signature: None,
        };
        // A struct of strings always serializes.
        serde_json::to_vec(&wire).unwrap_or_default()
    }

    /// The first of `keys` that verifies a signature of the envelope (keys matching the
    /// hint are tried first), or a [`Error::BadSignature`] naming the hint.
    pub fn verify<'k>(&self, keys: &'k [VerifierKey]) -> Result<&'k VerifierKey, Error> {
        let message = pae(&self.envelope.payload_type, &self.envelope.payload);
        let hinted = |k: &&VerifierKey| self.key_hint.as_deref() == Some(k.hint().as_str());
        let hinted_first = keys
            .iter()
            .filter(hinted)
            .chain(keys.iter().filter(|k| !hinted(k)));
        for key in hinted_first {
            if self
                .envelope
                .signatures
                .iter()
                .any(|s| key.verify(&message, &s.sig))
            {
                return Ok(key);
            }
        }
        let hint = self.key_hint.as_deref().unwrap_or("none");
        Err(Error::BadSignature(if keys.is_empty() {
            "no trusted key was given".into()
        } else {
            format!(
                "no signature verifies under any of the {} trusted key(s) (the bundle's key hint: {hint})",
                keys.len()
            )
        }))
    }
}

fn bad(reason: String) -> Error {
    Error::Bundle(reason)
}

#[cfg(test)]
mod tests {
    use super::*;
    use aigis_core::CheckFailure as _;

    fn ed() -> SignerKey {
        SignerKey::Ed25519(aigis_crypto::SigningKey::from_seed(&[7; 32]))
    }

    #[test]
    fn round_trips_and_verifies() {
        let key = ed();
        let b = Bundle::sign("application/vnd.in-toto+json", b"{}".to_vec(), &key);
        let parsed = Bundle::from_json(&b.to_json()).unwrap();
        assert_eq!(parsed, b);
        assert_eq!(parsed.verify(&[key.public()]).unwrap(), &key.public());
    }

    #[test]
    fn a_changed_payload_or_another_key_fails() {
        let key = ed();
        let mut b = Bundle::sign("application/vnd.in-toto+json", b"{}".to_vec(), &key);
        let other = SignerKey::Ed25519(aigis_crypto::SigningKey::from_seed(&[8; 32]));
        let e = b.verify(&[other.public()]).unwrap_err();
        assert!(e.is_check_failure(), "{e}");
        assert!(e.to_string().contains(&key.public().hint()), "{e}");
        b.envelope.payload = b"{ }".to_vec();
        assert!(b.verify(&[key.public()]).is_err());
        assert!(
            b.verify(&[])
                .unwrap_err()
                .to_string()
                .contains("no trusted key")
        );
    }

    #[test]
    fn malformed_bundles_say_what_is_wrong() {
        let cases: [(&str, &str); 7] = [
            ("not json", "not a Sigstore bundle"),
            (
                r#"{"mediaType":"x","verificationMaterial":{}}"#,
                "`mediaType` is `x`",
            ),
            (
                r#"{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","verificationMaterial":{}}"#,
                "no `dsseEnvelope`",
            ),
            (
                r#"{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","verificationMaterial":{"certificate":{"rawBytes":"AA=="}}}"#,
                "certificate",
            ),
            (
                r#"{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","verificationMaterial":{},"dsseEnvelope":{"payload":"e30=","payloadType":"t","signatures":[]}}"#,
                "`dsseEnvelope.signatures` is empty",
            ),
            (
                r#"{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","verificationMaterial":{},"dsseEnvelope":{"payload":"!!","payloadType":"t","signatures":[{"sig":"AA=="}]}}"#,
                "`dsseEnvelope.payload` is not base64",
            ),
            (
                r#"{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","verificationMaterial":{},"dsseEnvelope":{"payload":"e30=","payloadType":"t","signatures":[{"sig":"*"}]}}"#,
                "`dsseEnvelope.signatures[0].sig` is not base64",
            ),
        ];
        for (input, needle) in cases {
            let e = Bundle::from_json(input.as_bytes()).unwrap_err();
            assert!(matches!(e, Error::Bundle(_)), "{e}");
            assert!(e.to_string().contains(needle), "{input}: {e}");
        }
    }
}
