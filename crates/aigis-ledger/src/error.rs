use std::path::PathBuf;

/// What went wrong in the ledger. A failed *verification* is not an error: it is a
/// [`crate::VerifyReport`] with problems, or a [`crate::ProofError::Invalid`].
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("no ledger at `{}`", path.display())]
    NoLedger { path: PathBuf },
    #[cfg(feature = "sqlite")]
    #[error("ledger database `{}`: {source}", path.display())]
    Database {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error("the ledger is damaged: {0}")]
    Corrupt(String),
    /// The roles chain does not verify: the set of trusted members is unknown.
    #[error("the project's roles `{}` {message}", path.display())]
    Roles { path: PathBuf, message: String },
    #[error("merkle tree: {0}")]
    Tree(#[from] tlog_tiles::Error),
    #[error(transparent)]
    Crypto(#[from] aigis_crypto::Error),
    #[error(transparent)]
    Core(#[from] aigis_core::Error),
    #[cfg(feature = "sqlite")]
    #[error(transparent)]
    Evidence(#[from] aigis_evidence::Error),
    #[error("append failed: {0}")]
    Append(String),
    #[error("a ledger lock was poisoned by a panic in another thread")]
    Poisoned,
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Invalid(String),
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid project file `{}`: {reason}", path.display())]
    Config { path: PathBuf, reason: String },
    #[error("no aigis project in `{}` or any folder above it", start.display())]
    NoProject { start: PathBuf },
}

impl aigis_core::Hint for Error {
    fn hint(&self) -> Option<String> {
        match self {
            Self::NoLedger { .. } => Some("run `aigis init` first".into()),
            #[cfg(feature = "sqlite")]
            Self::Database { .. } => Some(
                "if the file is damaged, restore it from a backup; `aigis ledger verify` checks a readable one"
                    .into(),
            ),
            Self::NoProject { .. } => {
                Some("run `aigis init`, or pass --project DIR (or set AIGIS_PROJECT)".into())
            }
            Self::Crypto(e) => e.hint(),
            _ => None,
        }
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
