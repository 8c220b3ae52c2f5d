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

/// An error and its causes on one line, `a: b: c` (as `anyhow` prints `{:#}`), for a
/// message that is a value: a check's detail, an evidence reader's reason, a log field.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        out.push_str(": ");
        out.push_str(&c.to_string());
        cause = c.source();
    }
    out
}
