use std::path::PathBuf;

/// What went wrong in a scan. A malformed model file is a verdict, not an error: errors
/// are for files that cannot be read at all.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file or folder that cannot be opened, listed or read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
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
