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
        "the {what} `{}` is encrypted",
        path.display()
    )]
    PassphraseRequired { what: &'static str, path: PathBuf },
    #[error("wrong passphrase for the {what} `{}` (or the file was modified)", path.display())]
    WrongPassphrase { what: &'static str, path: PathBuf },
    #[error("invalid DSSE envelope: {0}")]
    Envelope(String),
    #[error("DSSE signature does not verify: {0}")]
    BadSignature(String),
    #[error("invalid public key: {0}")]
    PublicKey(String),
    #[error("one-time password: {0}")]
    Otp(String),
    #[error("{0}")]
    Secret(String),
    #[error("invalid keyring `{}`: {reason}", path.display())]
    Keyring { path: PathBuf, reason: String },
    #[error("invalid recipient: {0}")]
    Recipient(String),
    #[error("not an aigis encrypted file: {0}")]
    NotEncrypted(String),
    #[error("invalid encrypted file: {0}")]
    Format(String),
    #[error("format version {found} is not supported (this aigis reads version {supported})")]
    Version { found: u8, supported: u8 },
    #[error("truncated: {0}")]
    Truncated(String),
    #[error("not encrypted to any of your keys: the file is for {recipients}; yours: {yours}")]
    NotForYou { recipients: String, yours: String },
    #[error(
        "the key stanza for `{0}` failed authentication: the header was modified, or the file was not made by aigis"
    )]
    StanzaAuth(String),
    #[error("the header failed authentication: it was modified")]
    HeaderAuth,
    #[error(
        "chunk {index} (at byte {offset}) failed authentication: the file was modified, truncated, reordered or appended to"
    )]
    ChunkAuth { index: u64, offset: u64 },
    #[error(
        "unexpected bytes after the last chunk (chunk {chunk}, which ends at byte {offset}): the file was appended to"
    )]
    TrailingData { chunk: u64, offset: u64 },
    #[error("cannot encrypt: {0}")]
    Encrypt(String),
    #[error("reading the input: {0}")]
    Read(#[source] std::io::Error),
    #[error("writing the output: {0}")]
    Write(#[source] std::io::Error),
    #[error("invalid key name `{0}`: a name is non-empty and has no spaces or `+`")]
    KeyName(String),
}

impl aigis_core::Hint for Error {
    fn hint(&self) -> Option<String> {
        match self {
            Self::PassphraseRequired { .. } => {
                Some("set AIGIS_KEY_PASSPHRASE to its passphrase".into())
            }
            Self::NotForYou { .. } => {
                Some("give the identity of one of its recipients (--identity)".into())
            }
            Self::Version { .. } => Some("a newer aigis may read it".into()),
            _ => None,
        }
    }
}

impl aigis_core::CheckFailure for Error {
    /// An encrypted file that is not authentic or not well formed ([`Error::is_tampered`]).
    fn is_check_failure(&self) -> bool {
        self.is_tampered()
    }
}

impl Error {
    /// Whether this says an encrypted file is not authentic or not well formed (the
    /// check ran and the file failed it), rather than a problem with keys, input or
    /// output.
    pub fn is_tampered(&self) -> bool {
        matches!(
            self,
            Self::NotEncrypted(_)
                | Self::Format(_)
                | Self::Version { .. }
                | Self::Truncated(_)
                | Self::StanzaAuth(_)
                | Self::HeaderAuth
                | Self::ChunkAuth { .. }
                | Self::TrailingData { .. }
        )
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }
}
