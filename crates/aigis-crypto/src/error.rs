use std::path::PathBuf;

/// What went wrong in a key, signature or file operation. No variant ever carries secret
/// material.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid key file `{}`: {reason}", path.display())]
    KeyFile { path: PathBuf, reason: String },
    #[error(
        "the signing key `{}` is encrypted\nhint: set AIGIS_KEY_PASSPHRASE to its passphrase",
        path.display()
    )]
    PassphraseRequired { path: PathBuf },
    #[error("wrong passphrase for the signing key `{}` (or the file was modified)", path.display())]
    WrongPassphrase { path: PathBuf },
    #[error("invalid DSSE envelope: {0}")]
    Envelope(String),
    #[error("DSSE signature does not verify: {0}")]
    BadSignature(String),
    #[error("invalid public key: {0}")]
    PublicKey(String),
    #[error("invalid keyring `{}`: {reason}", path.display())]
    Keyring { path: PathBuf, reason: String },
    #[error("invalid key name `{0}`: a name is non-empty and has no spaces or `+`")]
    KeyName(String),
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }
}
