/// What went wrong while reading a digest or a statement.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid sha256 digest `{value}`: {reason}")]
    Digest { value: String, reason: &'static str },
    #[error("invalid in-toto statement: {0}")]
    Statement(String),
    #[error("invalid in-toto statement: {0}")]
    Json(#[from] serde_json::Error),
}
