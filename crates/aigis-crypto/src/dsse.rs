//! DSSE v1 envelopes, as the [DSSE protocol] and [envelope] specs define them.
//!
//! Written here rather than taken from a crate: the protocol is a dozen lines (PAE and a
//! JSON shape), and the crates that carry it (in-toto, sigstore) bring an OpenSSL or a
//! network stack that aigis does not need.
//!
//! [DSSE protocol]: https://github.com/secure-systems-lab/dsse/blob/master/protocol.md
//! [envelope]: https://github.com/secure-systems-lab/dsse/blob/master/envelope.md

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};

use crate::{Error, PublicKey, SigningKey};

/// The largest envelope aigis parses (64 MiB); evidence is small, this only stops a
/// hostile file from exhausting memory.
pub const MAX_ENVELOPE_BYTES: usize = 64 << 20;

/// The pre-authentication encoding: what DSSE actually signs.
/// `"DSSEv1" SP LEN(type) SP type SP LEN(body) SP body`, lengths in ASCII decimal.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload_type.len() + payload.len() + 32);
    out.extend_from_slice(b"DSSEv1 ");
    out.extend_from_slice(payload_type.len().to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(payload_type.as_bytes());
    out.push(b' ');
    out.extend_from_slice(payload.len().to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(payload);
    out
}

/// A DSSE envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    pub payload_type: String,
    pub payload: Vec<u8>,
    pub signatures: Vec<EnvelopeSignature>,
}

/// One signature of an envelope. `keyid` is an unauthenticated hint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvelopeSignature {
    pub keyid: String,
    pub sig: Vec<u8>,
}

#[derive(Serialize, Deserialize)]
struct Wire {
    payload: String,
    #[serde(rename = "payloadType")]
    payload_type: String,
    signatures: Vec<WireSig>,
}

#[derive(Serialize, Deserialize)]
struct WireSig {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    keyid: String,
    sig: String,
}

impl Envelope {
    /// Signs `payload` with `key`.
    pub fn sign(payload_type: &str, payload: Vec<u8>, key: &SigningKey) -> Self {
        let sig = key.sign(&pae(payload_type, &payload)).to_vec();
        Self {
            payload_type: payload_type.to_owned(),
            payload,
            signatures: vec![EnvelopeSignature {
                keyid: key.public().key_id(),
                sig,
            }],
        }
    }

    /// Parses the JSON form. Base64 may be standard or URL-safe, padded or not, as the
    /// spec allows.
    pub fn from_json(bytes: &[u8]) -> Result<Self, Error> {
        if bytes.len() > MAX_ENVELOPE_BYTES {
            return Err(Error::Envelope(format!(
                "{} bytes is more than the {MAX_ENVELOPE_BYTES}-byte limit",
                bytes.len()
            )));
        }
        let wire: Wire =
            serde_json::from_slice(bytes).map_err(|e| Error::Envelope(e.to_string()))?;
        if wire.signatures.is_empty() {
            return Err(Error::Envelope("`signatures` is empty".into()));
        }
        let payload = decode_b64(&wire.payload)
            .map_err(|()| Error::Envelope("`payload` is not base64".into()))?;
        let signatures = wire
            .signatures
            .into_iter()
            .enumerate()
            .map(|(i, s)| {
                let sig = decode_b64(&s.sig).map_err(|()| {
                    Error::Envelope(format!("`signatures[{i}].sig` is not base64"))
                })?;
                Ok(EnvelopeSignature {
                    keyid: s.keyid,
                    sig,
                })
            })
            .collect::<Result<_, Error>>()?;
        Ok(Self {
            payload_type: wire.payload_type,
            payload,
            signatures,
        })
    }

    /// The JSON form: compact, standard padded base64, fields in spec order.
    pub fn to_json(&self) -> Vec<u8> {
        let wire = Wire {
            payload: STANDARD.encode(&self.payload),
            payload_type: self.payload_type.clone(),
            signatures: self
                .signatures
                .iter()
                .map(|s| WireSig {
                    keyid: s.keyid.clone(),
                    sig: STANDARD.encode(&s.sig),
                })
                .collect(),
        };
        // A struct of strings always serializes.
        serde_json::to_vec(&wire).unwrap_or_default()
    }

    /// Accepts the envelope if any signature verifies under any of `keys` (the keyid is
    /// only used to try the likely key first). Returns the key id that verified.
    pub fn verify(&self, keys: &[PublicKey]) -> Result<String, Error> {
        self.verified_key_ids(keys)
            .into_iter()
            .next()
            .ok_or_else(|| {
                let ids: Vec<&str> = self.signatures.iter().map(|s| s.keyid.as_str()).collect();
                Error::BadSignature(format!(
                    "no signature verifies under a trusted key (signature key ids: {})",
                    ids.join(", ")
                ))
            })
    }

    /// The distinct keys among `keys` that signed this envelope, for threshold policies
    /// (the same key signing twice counts once, as the DSSE protocol requires).
    pub fn verified_key_ids(&self, keys: &[PublicKey]) -> Vec<String> {
        let message = pae(&self.payload_type, &self.payload);
        let mut ids: Vec<String> = Vec::new();
        for s in &self.signatures {
            let hinted = keys.iter().filter(|k| k.key_id() == s.keyid);
            let others = keys.iter().filter(|k| k.key_id() != s.keyid);
            let found = hinted
                .chain(others)
                .find(|k| !ids.contains(&k.key_id()) && k.verify(&message, &s.sig));
            if let Some(k) = found {
                ids.push(k.key_id());
            }
        }
        ids
    }
}

/// Standard or URL-safe alphabet, padding optional: the spec accepts all four.
fn decode_b64(s: &str) -> Result<Vec<u8>, ()> {
    use base64::alphabet;
    use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
    let config =
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
    GeneralPurpose::new(&alphabet::STANDARD, config)
        .decode(s)
        .or_else(|_| GeneralPurpose::new(&alphabet::URL_SAFE, config).decode(s))
        .map_err(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pae_matches_the_protocol_example() {
        // DSSE protocol.md, "Pre-Authentication Encoding" example.
        assert_eq!(
            pae("http://example.com/HelloWorld", b"hello world"),
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
        );
        assert_eq!(pae("", b""), b"DSSEv1 0  0 ");
    }

    #[test]
    fn sign_parse_verify_round_trip() {
        let key = SigningKey::from_seed(&[1; 32]);
        let env = Envelope::sign("application/vnd.in-toto+json", b"{}".to_vec(), &key);
        let back = Envelope::from_json(&env.to_json()).unwrap();
        assert_eq!(back, env);
        assert_eq!(back.verify(&[key.public()]).unwrap(), key.public().key_id());
    }

    #[test]
    fn a_changed_payload_or_type_or_wrong_key_fails() {
        let key = SigningKey::from_seed(&[1; 32]);
        let other = SigningKey::from_seed(&[2; 32]);
        let env = Envelope::sign("t", b"body".to_vec(), &key);
        let mut e = env.clone();
        e.payload = b"bodY".to_vec();
        assert!(e.verify(&[key.public()]).is_err());
        let mut e = env.clone();
        e.payload_type = "u".into();
        assert!(e.verify(&[key.public()]).is_err());
        assert!(env.verify(&[other.public()]).is_err());
        // A wrong keyid hint does not stop a good signature from verifying.
        let mut e = env;
        e.signatures[0].keyid = "nonsense".into();
        assert!(e.verify(&[other.public(), key.public()]).is_ok());
    }

    #[test]
    fn accepts_url_safe_unpadded_base64() {
        let key = SigningKey::from_seed(&[3; 32]);
        let env = Envelope::sign("t", vec![0xfb, 0xff], &key);
        let json = format!(
            r#"{{"payload":"-_8","payloadType":"t","signatures":[{{"sig":"{}"}}]}}"#,
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&env.signatures[0].sig)
        );
        let parsed = Envelope::from_json(json.as_bytes()).unwrap();
        assert_eq!(parsed.payload, vec![0xfb, 0xff]);
        assert!(parsed.verify(&[key.public()]).is_ok());
    }

    #[test]
    fn malformed_envelopes_are_errors_not_panics() {
        for bad in [
            &b""[..],
            b"{}",
            b"[]",
            br#"{"payload":"!!","payloadType":"t","signatures":[{"sig":""}]}"#,
            br#"{"payload":"","payloadType":"t","signatures":[]}"#,
            br#"{"payload":"","payloadType":"t","signatures":[{"sig":"%"}]}"#,
        ] {
            assert!(
                Envelope::from_json(bad).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
