//! Loading the models to serve: the file is read once, its signature checked over those
//! very bytes (unless the configuration says `verify = false`), and the same bytes handed
//! to the runtime, so nothing can change between the check and the load.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use aigis_core::Digest;
use aigis_model::signing::{self, VerifierKey};
use aigis_runtime::{OnnxRuntime, Runtime};

use crate::Error;
use crate::config::ModelConfig;

/// A model being served.
#[derive(Debug, Clone)]
pub struct Served {
    pub name: String,
    /// The version clients see: the first 12 hex digits of the file's SHA-256.
    pub version: String,
    pub digest: Digest,
    /// The key id that signed it, or `None` when served with `verify = false`.
    pub signed_by: Option<String>,
    pub runtime: Arc<dyn Runtime>,
}

/// `path` relative to `base` unless it is absolute.
fn resolve(base: &Path, path: &Path) -> PathBuf {
    if path.is_absolute() {
        path.to_owned()
    } else {
        base.join(path)
    }
}

/// Loads one model; `base` is the folder of the configuration file, `trusted` the keys
/// whose signatures are accepted.
pub fn load(config: &ModelConfig, base: &Path, trusted: &[VerifierKey]) -> Result<Served, Error> {
    let path = resolve(base, &config.path);
    let read = |path: &Path| {
        std::fs::read(path).map_err(|source| Error::Read {
            model: config.name.clone(),
            path: path.to_owned(),
            source,
        })
    };
    let bytes = read(&path)?;
    let signed_by = if config.verify {
        let signature = match &config.signature {
            Some(s) => resolve(base, s),
            None => {
                let mut name = path.clone().into_os_string();
                name.push(".sig");
                PathBuf::from(name)
            }
        };
        let unverified = |message: String| Error::Unverified {
            model: config.name.clone(),
            message,
        };
        if !signature.exists() {
            return Err(unverified(format!(
                "it is unsigned: there is no signature at `{}`",
                signature.display()
            )));
        }
        let bundle = read(&signature)?;
        if trusted.is_empty() {
            return Err(unverified("no key is trusted to sign models".into()));
        }
        let report = signing::verify_bytes(&bytes, &bundle, trusted)
            .map_err(|e| unverified(format!("its signature does not verify: {e}")))?;
        if !report.passed() {
            return Err(unverified(
                "the file is not the one its signature signed".into(),
            ));
        }
        Some(report.key_id)
    } else {
        tracing::warn!(model = %config.name, "serving without a signature check (verify = false)");
        None
    };
    let runtime = OnnxRuntime::from_bytes(&bytes).map_err(|source| Error::Runtime {
        model: config.name.clone(),
        source,
    })?;
    let digest = Digest::of(&bytes);
    Ok(Served {
        name: config.name.clone(),
        version: digest.hex().get(..12).unwrap_or_default().to_owned(),
        digest,
        signed_by,
        runtime: Arc::new(runtime),
    })
}
