use std::path::PathBuf;

use crate::store::RegistryError;

/// Why a registry workflow could not run. A refusal of the promotion gate is not an
/// error: it is a [`crate::Decision`] that did not pass.
#[derive(Debug, thiserror::Error)]
#[expect(missing_docs, reason = "the fields are what the messages name")]
pub enum Error {
    /// The store refused or failed.
    #[error(transparent)]
    Store(#[from] RegistryError),
    /// The project's ledger or keys.
    #[error(transparent)]
    Ledger(#[from] aigis_ledger::Error),
    /// Evidence that could not be written.
    #[error(transparent)]
    Evidence(#[from] aigis_evidence::Error),
    /// The scanner could not read a stored file at all.
    #[error("scanning `{}`", path.display())]
    Scan {
        path: PathBuf,
        #[source]
        source: aigis_scan::Error,
    },
    /// A signature bundle named explicitly that is not there.
    #[error("the signature bundle `{}` does not exist", .0.display())]
    NoBundle(PathBuf),
    /// A signature bundle that cannot be read.
    #[error("cannot open the signature bundle `{}`", path.display())]
    Bundle {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A signature bundle larger than [`crate::BUNDLE_LIMIT`].
    #[error("the signature bundle `{}` is larger than {limit} bytes", path.display())]
    BundleTooLarge { path: PathBuf, limit: u64 },
    /// The scanner reported a file the version does not hold.
    #[error("the scan reported `{}`, which was not stored", .0.display())]
    NotStored(PathBuf),
    /// A version with no file (a record edited by hand).
    #[error("the version has no files to scan")]
    NoFiles,
    /// A stage a server cannot serve from (nothing there, no allowed promotion, no file).
    #[error("{0}")]
    NotServable(String),
    /// A stage name that is not one.
    #[error("`{0}` is not a valid stage name (letters, digits, `.`, `_`, `-`)")]
    Stage(String),
    /// Promoting a version to the stage it already holds.
    #[error("{name} version {version} is already at stage `{stage}`")]
    AlreadyAtStage {
        name: String,
        version: u32,
        stage: String,
    },
    /// Rolling back a stage nobody holds.
    #[error("no version of {name} is at stage `{stage}`")]
    EmptyStage { name: String, stage: String },
    /// Rolling back a stage that has held only one version.
    #[error("stage `{stage}` of {name} has held only version {version}: nothing to roll back to")]
    NothingToRollBack {
        name: String,
        stage: String,
        version: u32,
    },
    /// Rolling back to a version the stage never held.
    #[error(
        "stage `{stage}` of {name} never held version {version} before (it held {previous:?}); use `model promote` for another version"
    )]
    NeverHeld {
        name: String,
        stage: String,
        version: u32,
        previous: Vec<u32>,
    },
    /// The gate's policy could not be loaded.
    #[error(transparent)]
    Policy(#[from] crate::policy::PolicyError),
    /// The ledger could not be read for the gate's attributes.
    #[error("reading the evidence the gate decides from: {0}")]
    Facts(String),
    /// A scan report that does not fit its evidence type (a bug, not bad input).
    #[error("internal error: the {what} does not match its evidence type")]
    Internal {
        what: &'static str,
        #[source]
        source: serde_json::Error,
    },
}

impl aigis_core::Hint for Error {
    fn hint(&self) -> Option<String> {
        match self {
            Self::Ledger(e) => e.hint(),
            Self::Policy(_) => Some(
                "`aigis gate --schema` prints the attributes a policy may read, and `aigis gate --default-policy` the built-in policy".into(),
            ),
            _ => None,
        }
    }
}

/// An error and its causes on one line, for the detail of a failed check.
pub(crate) use aigis_core::error_chain as chain;
