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
    #[error("cannot run poisoning detection: {0}")]
    Poison(String),
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }
}
