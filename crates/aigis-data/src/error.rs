use std::path::PathBuf;

/// What went wrong in the data stage.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("`{}` cannot be in a manifest: {reason}", path.display())]
    Path { path: PathBuf, reason: String },
    #[error("malformed manifest: {0}")]
    Manifest(String),
    #[error("scan: {0}")]
    Scan(String),
    /// A `[data]` table of aigis.toml that cannot be read.
    #[error("[data]: {0}")]
    Sources(String),
    #[error("profile: {0}")]
    Profile(String),
    #[error("{}{}: {message}", path.display(), row.map(|r| format!(", row {r}")).unwrap_or_default())]
    Table {
        path: PathBuf,
        /// 1-based data row, when the problem is in one.
        row: Option<u64>,
        message: String,
    },
    #[error("internal error: a built-in PII pattern does not compile: {0}")]
    Pattern(String),
    /// A rules file for `data mask` that cannot be used; the message names the key.
    #[error("mask rules: {0}")]
    Rules(String),
    /// A masking key that cannot be used.
    #[error("mask key: {0}")]
    MaskKey(String),
    /// Key bytes of the wrong length.
    #[error("mask key: a masking key is 32 bytes, not {len}")]
    MaskKeyLength { len: usize },
    /// Rules that hash or tokenize, and no key.
    #[error("mask key: the rules hash or tokenize, which needs the project's masking key")]
    MaskKeyMissing,
    /// Masked output asked for in Parquet.
    #[error("`{}`: writing Parquet is not supported (masked columns would change type)", path.display())]
    WriteParquet { path: PathBuf },
    /// A token that cannot be reversed. Never holds the token's plaintext.
    #[error("token at byte {offset} of the cell: {reason}")]
    Token { offset: usize, reason: String },
    /// A token made with another masking key than the one given.
    #[error(
        "token at byte {offset} of the cell was made with key `{token_key}`, not with this key `{key}`"
    )]
    ForeignToken {
        offset: usize,
        token_key: String,
        key: String,
    },
    #[error("cannot run poisoning detection: {0}")]
    Poison(String),
    /// A folder walk stopped on a link (see `aigis_core::walk`); I/O errors of a walk are
    /// [`Error::Io`].
    #[error(transparent)]
    Walk(aigis_core::walk::Error),
}

impl From<aigis_core::walk::Error> for Error {
    fn from(e: aigis_core::walk::Error) -> Self {
        match e {
            aigis_core::walk::Error::Io { path, source } => Self::Io { path, source },
            other => Self::Walk(other),
        }
    }
}

impl aigis_core::Hint for Error {
    fn hint(&self) -> Option<String> {
        match self {
            Self::MaskKeyLength { .. } => Some("is this the right key file?".into()),
            Self::MaskKeyMissing => {
                Some("create one in the project, or use only `mask`, `redact` and `keep`".into())
            }
            Self::WriteParquet { .. } => {
                Some("write CSV or JSON Lines, for example `-o out.csv` or `-o out.jsonl`".into())
            }
            Self::ForeignToken { .. } => Some("detokenize with the key that made it".into()),
            Self::Walk(aigis_core::walk::Error::Escapes { .. }) => {
                Some("pass the file it points to on its own, or copy it into the folder".into())
            }
            _ => None,
        }
    }
}

impl aigis_core::CheckFailure for Error {
    /// A token that does not reverse under the key that made it (forged or damaged).
    fn is_check_failure(&self) -> bool {
        matches!(self, Self::Token { .. })
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
