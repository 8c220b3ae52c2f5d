//! The errors of building and reading evidence.

/// What went wrong building a statement or reading a predicate back.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The statement is of another predicate type.
    #[error("the predicate type is `{found}`, expected `{expected}`")]
    WrongType {
        /// The type the reader asked for.
        expected: &'static str,
        /// The type the statement has.
        found: String,
    },
    /// The statement has no predicate.
    #[error("the `{0}` statement has no predicate")]
    Missing(&'static str),
    /// The predicate does not match its type.
    #[error("the `{predicate_type}` predicate does not match its schema: {source}")]
    Malformed {
        /// The predicate type.
        predicate_type: &'static str,
        /// What serde found.
        source: serde_json::Error,
    },
    /// The predicate could not be turned into JSON (a path that is not UTF-8).
    #[error("the `{predicate_type}` predicate cannot be written as JSON: {source}")]
    Serialize {
        /// The predicate type.
        predicate_type: &'static str,
        /// What serde found.
        source: serde_json::Error,
    },
    /// The statement around the predicate is invalid.
    #[error(transparent)]
    Statement(#[from] aigis_core::Error),
}
