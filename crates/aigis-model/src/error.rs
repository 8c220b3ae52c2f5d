use std::path::PathBuf;

/// What went wrong in the artifact stage (a malformed model file is a verdict, not an
/// error: errors are for files that cannot be read at all).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    #[allow(dead_code)] // used by the scanners as they land
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }
}
