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
    /// Crypto-shredding: the subject key store or a protected table.
    #[error("`{}` {message}", path.display())]
    Shred { path: PathBuf, message: String },
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
    /// A table rewrite whose output is its input.
    #[error("the output `{}` is the input file", path.display())]
    SameFile { path: PathBuf },
    /// JSON Lines rows may have different keys: they are not written as CSV.
    #[error(
        "cannot write the JSON Lines file `{}` as CSV `{}` (its rows may have different keys)",
        input.display(),
        output.display()
    )]
    JsonlAsCsv { input: PathBuf, output: PathBuf },
    /// A CSV row with more fields than the header, in a table being rewritten.
    #[error("`{}`, {at}: {message}; a row longer than the header cannot be masked safely", path.display())]
    RowTooLong {
        path: PathBuf,
        /// Where: `row 2`, `the header, column `a``.
        at: String,
        message: String,
    },
    /// A row that cannot be read as it is (bad UTF-8, a JSON line that is not an
    /// object), in a table being rewritten.
    #[error("`{}`, {at}: {message}", path.display())]
    BadRow {
        path: PathBuf,
        at: String,
        message: String,
        /// The row is not UTF-8.
        encoding: bool,
    },
    /// A column asked for that the table does not have.
    #[error("`{}` has no column `{column}` (it has: {})", path.display(), columns.join(", "))]
    MissingColumn {
        path: PathBuf,
        column: String,
        columns: Vec<String>,
    },
    /// Masking rules that name columns the table does not have: they would stay
    /// unmasked.
    #[error(
        "the rules name column(s) `{}` that `{}` does not have, so they would not be masked; nothing was written",
        columns.join("`, `"),
        path.display()
    )]
    RulesWithoutColumn { path: PathBuf, columns: Vec<String> },
    /// An error at one cell of a table.
    #[error("at `{}`, row {row}, column `{column}`", path.display())]
    Cell {
        path: PathBuf,
        row: u64,
        column: String,
        #[source]
        source: Box<Error>,
    },
    /// Key files, file hashing and atomic writes.
    #[error(transparent)]
    Crypto(#[from] aigis_crypto::Error),
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
            Self::SameFile { .. } => Some("choose another output path".into()),
            Self::JsonlAsCsv { .. } => Some("write JSON Lines, for example `-o out.jsonl`".into()),
            Self::RowTooLong { .. } => {
                Some("fix the row, then run again (nothing was written)".into())
            }
            Self::BadRow { encoding: true, .. } => {
                Some("convert the file to UTF-8, then run again (nothing was written)".into())
            }
            Self::BadRow { .. } => Some("fix the input, then run again (nothing was written)".into()),
            Self::RulesWithoutColumn { .. } => Some(
                "fix the names (they are case-sensitive), or allow missing columns (`--allow-missing-columns`)"
                    .into(),
            ),
            Self::Cell { source, .. } => source.hint(),
            Self::Crypto(e) => e.hint(),
            Self::Walk(aigis_core::walk::Error::Escapes { .. }) => {
                Some("pass the file it points to on its own, or copy it into the folder".into())
            }
            _ => None,
        }
    }
}

impl aigis_core::CheckFailure for Error {
    /// A token that does not reverse under the key that made it (forged or damaged), at
    /// a cell or alone.
    fn is_check_failure(&self) -> bool {
        match self {
            Self::Token { .. } => true,
            Self::Cell { source, .. } => source.is_check_failure(),
            Self::Crypto(e) => e.is_check_failure(),
            _ => false,
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
