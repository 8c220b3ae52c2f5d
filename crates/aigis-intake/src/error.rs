use std::path::PathBuf;

use aigis_data::manifest::Change;

/// Why a data-stage step on a project failed or refused. The refusals of an ingest
/// (an unknown, unsigned, foreign or changed source) are failed checks
/// ([`aigis_core::CheckFailure`]); data whose scan failed is not an error but an
/// [`crate::ingest::Outcome`] that was not accepted (its refusal is recorded).
#[derive(Debug, thiserror::Error)]
#[expect(missing_docs, reason = "the fields are what the messages name")]
pub enum Error {
    #[error(transparent)]
    Data(#[from] aigis_data::Error),
    #[error(transparent)]
    Ledger(#[from] aigis_ledger::Error),
    #[error(transparent)]
    Crypto(#[from] aigis_crypto::Error),
    #[error(transparent)]
    Evidence(#[from] aigis_evidence::Error),
    #[error(transparent)]
    Core(#[from] aigis_core::Error),
    #[error("cannot read `{}`", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A value of this crate that does not fit its evidence type (a bug).
    #[error("internal error: the {0} does not match its evidence type")]
    Internal(String),
    /// A file read whole that is larger than its limit.
    #[error("the {what} `{}` is larger than {limit} bytes", path.display())]
    TooLarge {
        what: &'static str,
        path: PathBuf,
        limit: u64,
    },
    /// A path without a file name to put a manifest beside.
    #[error("`{}` has no name to put the manifest beside", .0.display())]
    NoName(PathBuf),
    /// A manifest of nothing.
    #[error("there are no files to sign")]
    NothingToSign,
    /// A file that is not a signed manifest at all.
    #[error("`{}` is not a signed manifest", path.display())]
    NotSignedManifest {
        path: PathBuf,
        #[source]
        source: aigis_crypto::Error,
    },
    /// A signed manifest whose signature does not verify with the keys given.
    #[error("the signature of `{}` does not verify", path.display())]
    BadSignature {
        path: PathBuf,
        #[source]
        source: aigis_crypto::Error,
    },
    /// A signed envelope that does not carry an in-toto statement.
    #[error("`{}` does not carry an in-toto statement", path.display())]
    NotStatement {
        path: PathBuf,
        #[source]
        source: aigis_core::Error,
    },
    /// Signed evidence of another kind than a data manifest.
    #[error("`{}` is evidence of `{predicate_type}`, not a data manifest", path.display())]
    NotManifest {
        path: PathBuf,
        predicate_type: String,
    },
    /// A data manifest whose content is not a valid manifest.
    #[error("in `{}`", path.display())]
    BadManifest {
        path: PathBuf,
        #[source]
        source: Box<Error>,
    },
    /// A ledger entry whose inclusion proof against its signed checkpoint fails.
    #[error("ledger entry {index} is not proven by its signed checkpoint")]
    Inclusion {
        index: u64,
        #[source]
        source: aigis_ledger::ProofError,
    },
    /// A source key in `aigis.toml` that is not a C2SP verifier key.
    #[error("aigis.toml: source `{source_name}` has a key that is not a C2SP verifier key")]
    SourceKey {
        source_name: String,
        #[source]
        source: aigis_crypto::Error,
    },
    /// A source in `aigis.toml` with no key to check its data with.
    #[error("aigis.toml: source `{0}` lists no keys")]
    NoSourceKeys(String),
    /// Ingest refused: the data lies in no approved source.
    #[error("refused: `{}` is not from an approved source; {approved}", path.display())]
    NotApproved { path: PathBuf, approved: String },
    /// Ingest refused: no signed manifest beside the data.
    #[error("refused: `{}` is unsigned: no signed manifest at `{}`", path.display(), manifest.display())]
    Unsigned { path: PathBuf, manifest: PathBuf },
    /// Ingest refused: the manifest is not signed by a key the source is approved with.
    #[error("refused: the manifest is not signed by a key approved for source `{source_name}`")]
    ForeignSignature {
        source_name: String,
        #[source]
        source: Box<Error>,
    },
    /// Ingest refused: the data changed after the source signed it.
    #[error(
        "refused: `{}` changed after source `{source_name}` signed it: {}",
        path.display(),
        changes.iter().map(|c| format!("{c:#}")).collect::<Vec<_>>().join(", ")
    )]
    Changed {
        path: PathBuf,
        source_name: String,
        changes: Vec<Change>,
    },
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }
}

impl aigis_core::Hint for Error {
    fn hint(&self) -> Option<String> {
        match self {
            Self::Data(e) => e.hint(),
            Self::Ledger(e) => e.hint(),
            Self::Crypto(e) => e.hint(),
            Self::BadManifest { source, .. } | Self::ForeignSignature { source, .. } => {
                source.hint()
            }
            Self::NotApproved { .. } => {
                Some("add a [[data.sources]] entry (name, path, keys) to aigis.toml".into())
            }
            Self::Unsigned { .. } => Some(
                "the source signs its data with `aigis data sign` and ships the manifest beside it"
                    .into(),
            ),
            _ => None,
        }
    }
}

impl aigis_core::CheckFailure for Error {
    /// A signature that does not verify, a ledger entry whose proof fails, and the
    /// ingest's refusals: the check ran and the data failed it.
    fn is_check_failure(&self) -> bool {
        match self {
            Self::BadSignature { .. }
            | Self::Inclusion { .. }
            | Self::NotApproved { .. }
            | Self::Unsigned { .. }
            | Self::ForeignSignature { .. }
            | Self::Changed { .. } => true,
            Self::Data(e) => e.is_check_failure(),
            Self::Crypto(e) => e.is_check_failure(),
            _ => false,
        }
    }
}
