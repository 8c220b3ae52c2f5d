use std::path::PathBuf;

/// What went wrong in signing or verifying a model (the scanner's errors are
/// `aigis_scan::Error`).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A key file that cannot be used for model signing.
    #[error("invalid key: {0}")]
    Key(String),
    /// A model signature file that cannot be read as a Sigstore bundle of a DSSE envelope.
    #[error("invalid model signature: {0}")]
    Bundle(String),
    /// A signed statement that is not a well-formed OpenSSF model-signing manifest.
    #[error("invalid signed model manifest: {0}")]
    Statement(String),
    /// No trusted key verifies the signature: the check ran and failed.
    #[error("the model signature does not verify: {0}")]
    BadSignature(String),
    /// The model folder cannot be signed or verified as it is (a symlink, a special
    /// file, a name that is not UTF-8, nothing to sign).
    #[error("`{}`: {reason}", path.display())]
    Model { path: PathBuf, reason: String },
}

impl aigis_core::CheckFailure for Error {
    /// A signature that no trusted key verifies, rather than bad input or an I/O problem.
    fn is_check_failure(&self) -> bool {
        matches!(self, Self::BadSignature(_))
    }
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }
}
