use std::path::PathBuf;

/// What went wrong in signing or verifying a model (the scanner's errors are
/// `aigis_scan::Error`).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A key file that cannot be used for model signing.
    #[error("invalid key: {0}")]
    Key(String),
    /// A PEM private key encrypted with a passphrase (PKCS#8 `ENCRYPTED PRIVATE KEY`).
    #[error("invalid key: the private key is encrypted")]
    EncryptedKey,
    /// A PEM block with headers: the legacy OpenSSL encrypted form.
    #[error("invalid key: the PEM block has headers (a legacy encrypted key?)")]
    PemHeaders,
    /// A model-signing v0.2 statement, which is not supported.
    #[error(
        "invalid signed model manifest: `predicateType` `{predicate_type}` is the model-signing v0.2 format, not supported"
    )]
    ManifestV0 { predicate_type: &'static str },
    /// A model signature file that cannot be read as a Sigstore bundle of a DSSE envelope.
    #[error("invalid model signature: {0}")]
    Bundle(String),
    /// A signed statement that is not a well-formed OpenSSF model-signing manifest.
    #[error("invalid signed model manifest: {0}")]
    Statement(String),
    /// No trusted key verifies the signature: the check ran and failed.
    #[error("the model signature does not verify: {0}")]
    BadSignature(String),
    /// A symbolic link in a model being signed or verified without `--allow-symlinks`.
    #[error(
        "`{}` is a symbolic link, and symbolic links are refused (as model-signing does)",
        path.display()
    )]
    Symlink { path: PathBuf },
    /// The model folder cannot be signed or verified as it is (a symlink, a special
    /// file, a name that is not UTF-8, nothing to sign).
    #[error("`{}`: {reason}", path.display())]
    Model { path: PathBuf, reason: String },
}

impl aigis_core::Hint for Error {
    fn hint(&self) -> Option<String> {
        match self {
            Self::EncryptedKey => Some(
                "write a decrypted copy with `openssl pkcs8 -in KEY -out PLAIN.pem` and keep it safe"
                    .into(),
            ),
            Self::Symlink { .. } => {
                Some("pass --allow-symlinks to sign the files they point to".into())
            }
            Self::PemHeaders => Some("convert it with `openssl pkcs8 -topk8 -nocrypt`".into()),
            Self::ManifestV0 { .. } => {
                Some("sign the model again with model-signing 1.x or aigis".into())
            }
            _ => None,
        }
    }
}

impl aigis_core::CheckFailure for Error {
    /// A signature that no trusted key verifies, rather than bad input or an I/O problem.
    fn is_check_failure(&self) -> bool {
        matches!(self, Self::BadSignature(_))
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
