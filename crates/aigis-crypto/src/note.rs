//! C2SP [signed notes] with aigis keys, through the `signed_note` crate (a port of Go's
//! `golang.org/x/mod/sumdb/note`).
//!
//! [signed notes]: https://c2sp.org/signed-note

pub use signed_note::StandardVerifier;
use signed_note::{Note, VerifierList};

use crate::{Error, PublicKey, SigningKey};

/// The C2SP verifier key string for `key` under `name`: `name+hex(keyhash)+base64(0x01‖key)`.
pub fn verifier_key(name: &str, key: &PublicKey) -> Result<String, Error> {
    if !signed_note::is_key_name_valid(name) {
        return Err(Error::KeyName(name.to_owned()));
    }
    Ok(signed_note::new_ed25519_verifier_key(name, key.dalek()))
}

/// Parses a verifier key string (Ed25519 keys; other algorithms are refused).
pub fn parse_verifier_key(vkey: &str) -> Result<StandardVerifier, Error> {
    StandardVerifier::new(vkey.trim()).map_err(|e| {
        Error::PublicKey(format!(
            "`{}` is not a C2SP verifier key (name+hash+base64): {e}",
            vkey.trim()
        ))
    })
}

/// The Ed25519 public key inside a verifier key string, with its name.
pub fn public_key_of(vkey: &str) -> Result<(String, PublicKey), Error> {
    use base64::Engine as _;
    let bad = |why: &str| Error::PublicKey(format!("`{vkey}`: {why}"));
    parse_verifier_key(vkey)?;
    let mut parts = vkey.trim().splitn(3, '+');
    let (Some(name), Some(_hash), Some(b64)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(bad("expected name+hash+base64"));
    };
    let raw = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .map_err(|_| bad("key is not base64"))?;
    match raw.split_first() {
        Some((1, key)) => Ok((name.to_owned(), PublicKey::from_bytes(key)?)),
        _ => Err(bad("not an Ed25519 key")),
    }
}

/// Signs `text` (which must end in a newline) as a C2SP note, one signature by `key`.
pub fn sign(text: &[u8], name: &str, key: &SigningKey) -> Result<Vec<u8>, Error> {
    let signer = NoteSigner::new(name, key)?;
    let mut note = Note::new(text, &[]).map_err(|e| Error::Envelope(format!("note text: {e}")))?;
    note.add_sigs(&[&signer])
        .map_err(|e| Error::Envelope(format!("signing note: {e}")))?;
    Ok(note.to_bytes())
}

/// Verifies a signed note against verifier keys. Succeeds when at least one signature is
/// by one of them and every signature by one of them is valid (the C2SP rule). Returns
/// the note text and the names+ids of the keys that verified.
pub fn verify(
    note: &[u8],
    verifiers: Vec<StandardVerifier>,
) -> Result<(Vec<u8>, Vec<String>), NoteVerifyError> {
    let note = Note::from_bytes(note).map_err(|e| NoteVerifyError::Malformed(e.to_string()))?;
    let list = VerifierList::new(
        verifiers
            .into_iter()
            .map(|v| Box::new(v) as Box<dyn signed_note::Verifier>)
            .collect(),
    );
    match note.verify(&list) {
        Ok((good, _unknown)) => Ok((
            note.text().to_vec(),
            good.iter()
                .map(|s| format!("{}+{:08x}", s.name(), s.id()))
                .collect(),
        )),
        Err(signed_note::NoteError::UnverifiedNote) => Err(NoteVerifyError::NoKnownSignature),
        Err(e) => Err(NoteVerifyError::BadSignature(e.to_string())),
    }
}

/// Why a note did not verify: malformed (exit 2) versus a failed check (exit 1).
#[derive(Debug, thiserror::Error)]
pub enum NoteVerifyError {
    #[error("malformed signed note: {0}")]
    Malformed(String),
    #[error("the note has no signature by the given key")]
    NoKnownSignature,
    #[error("bad note signature: {0}")]
    BadSignature(String),
}

/// An aigis key as a `signed_note::Signer`.
struct NoteSigner<'a> {
    name: String,
    id: u32,
    key: &'a SigningKey,
}

impl<'a> NoteSigner<'a> {
    fn new(name: &str, key: &'a SigningKey) -> Result<Self, Error> {
        if !signed_note::is_key_name_valid(name) {
            return Err(Error::KeyName(name.to_owned()));
        }
        let mut pk = vec![1u8];
        pk.extend_from_slice(&key.public().to_bytes());
        Ok(Self {
            name: name.to_owned(),
            id: signed_note::key_id(name, &pk),
            key,
        })
    }
}

impl signed_note::Signer for NoteSigner<'_> {
    fn name(&self) -> &str {
        &self.name
    }
    fn key_id(&self) -> u32 {
        self.id
    }
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, ed25519_dalek::SignatureError> {
        Ok(self.key.sign(msg).to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_then_verify_with_the_verifier_key_string() {
        let key = SigningKey::from_seed(&[9; 32]);
        let vkey = verifier_key("example.com/log", &key.public()).unwrap();
        let note = sign(b"hello\nworld\n", "example.com/log", &key).unwrap();
        let (text, by) = verify(&note, vec![parse_verifier_key(&vkey).unwrap()]).unwrap();
        assert_eq!(text, b"hello\nworld\n");
        assert_eq!(by.len(), 1);
        assert_eq!(
            public_key_of(&vkey).unwrap(),
            ("example.com/log".into(), key.public())
        );

        let other = SigningKey::from_seed(&[8; 32]);
        let other_vkey = verifier_key("example.com/log", &other.public()).unwrap();
        assert!(matches!(
            verify(&note, vec![parse_verifier_key(&other_vkey).unwrap()]),
            Err(NoteVerifyError::NoKnownSignature)
        ));
        let mut tampered = note.clone();
        tampered[0] = b'j';
        assert!(matches!(
            verify(&tampered, vec![parse_verifier_key(&vkey).unwrap()]),
            Err(NoteVerifyError::BadSignature(_))
        ));
    }

    #[test]
    fn rejects_bad_names_and_keys() {
        let key = SigningKey::from_seed(&[9; 32]);
        assert!(verifier_key("has space", &key.public()).is_err());
        assert!(verifier_key("a+b", &key.public()).is_err());
        assert!(parse_verifier_key("nonsense").is_err());
        assert!(matches!(
            verify(b"no signature block", vec![]),
            Err(NoteVerifyError::Malformed(_))
        ));
    }
}
