//! Signed checkpoints: the C2SP [tlog-checkpoint] body, signed as a C2SP [signed-note].
//!
//! [tlog-checkpoint]: https://c2sp.org/tlog-checkpoint
//! [signed-note]: https://c2sp.org/signed-note

use aigis_crypto::SigningKey;
use aigis_crypto::note::{self, NoteVerifyError};
use signed_note::StandardVerifier;

use crate::{Error, Hash};

/// A checkpoint whose signature was checked.
#[derive(Debug, Clone, PartialEq)]
pub struct Checkpoint {
    pub origin: String,
    pub size: u64,
    pub root: Hash,
    /// The complete signed note, byte for byte.
    pub note: Vec<u8>,
    /// `name+keyhash` of each trusted key that signed it.
    pub signed_by: Vec<String>,
}

/// Why a checkpoint was refused.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// The bytes are not a signed note, or its text is not a checkpoint (exit 2).
    #[error("malformed checkpoint: {0}")]
    Malformed(String),
    /// Well formed, but not signed by a trusted key, or the signature is bad (exit 1).
    #[error("checkpoint rejected: {0}")]
    Rejected(String),
}

impl aigis_core::CheckFailure for CheckpointError {
    /// A well-formed checkpoint no trusted key signed.
    fn is_check_failure(&self) -> bool {
        matches!(self, Self::Rejected(_))
    }
}

/// The checkpoint text for a tree (no extension lines).
pub fn body(origin: &str, size: u64, root: Hash) -> Result<Vec<u8>, Error> {
    let cp = tlog_tiles::Checkpoint::new(origin, size, root, "")
        .map_err(|_| Error::Invalid(format!("`{origin}` cannot be a checkpoint origin")))?;
    Ok(cp.to_bytes())
}

/// Signs a checkpoint of `(size, root)` as `origin`, which is also the key name.
pub fn sign(origin: &str, size: u64, root: Hash, key: &SigningKey) -> Result<Vec<u8>, Error> {
    Ok(note::sign(&body(origin, size, root)?, origin, key)?)
}

/// Verifies a signed checkpoint against `verifiers` and parses its body. If `origin` is
/// set, the checkpoint must be for that log.
pub fn open(
    signed: &[u8],
    verifiers: Vec<StandardVerifier>,
    origin: Option<&str>,
) -> Result<Checkpoint, CheckpointError> {
    let (text, signed_by) = note::verify(signed, verifiers).map_err(|e| match e {
        NoteVerifyError::Malformed(m) => CheckpointError::Malformed(m),
        other => CheckpointError::Rejected(other.to_string()),
    })?;
    let cp = tlog_tiles::Checkpoint::from_bytes(&text).map_err(|_| {
        CheckpointError::Malformed(
            "the note text is not a tlog checkpoint (origin, size and root hash lines)".into(),
        )
    })?;
    if let Some(want) = origin
        && cp.origin() != want
    {
        return Err(CheckpointError::Rejected(format!(
            "checkpoint is for log `{}`, not `{want}`",
            cp.origin()
        )));
    }
    Ok(Checkpoint {
        origin: cp.origin().to_owned(),
        size: cp.size(),
        root: *cp.hash(),
        note: signed.to_vec(),
        signed_by,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_is_the_c2sp_three_line_form() {
        let text = body("example.com/log", 3, Hash([0; 32])).unwrap();
        assert_eq!(
            String::from_utf8(text).unwrap(),
            "example.com/log\n3\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n"
        );
    }

    #[test]
    fn sign_open_round_trip_and_origin_pinning() {
        let key = SigningKey::from_seed(&[5; 32]);
        let vkey = note::verifier_key("example.com/log", &key.public()).unwrap();
        let v = || vec![note::parse_verifier_key(&vkey).unwrap()];
        let signed = sign("example.com/log", 7, Hash([1; 32]), &key).unwrap();
        let cp = open(&signed, v(), Some("example.com/log")).unwrap();
        assert_eq!((cp.size, cp.root), (7, Hash([1; 32])));
        assert!(matches!(
            open(&signed, v(), Some("other")),
            Err(CheckpointError::Rejected(_))
        ));
        assert!(matches!(
            open(b"junk", v(), None),
            Err(CheckpointError::Malformed(_))
        ));
    }

    #[test]
    fn a_signed_note_that_is_not_a_checkpoint_is_malformed() {
        let key = SigningKey::from_seed(&[5; 32]);
        let vkey = note::verifier_key("n", &key.public()).unwrap();
        let signed = note::sign(b"just text\n", "n", &key).unwrap();
        let err = open(
            &signed,
            vec![note::parse_verifier_key(&vkey).unwrap()],
            None,
        );
        assert!(matches!(err, Err(CheckpointError::Malformed(_))));
    }
}
