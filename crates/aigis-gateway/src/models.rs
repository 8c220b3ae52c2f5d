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
    /// The registry name and stage it comes from, when it does.
    pub stage: Option<(String, String)>,
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
pub fn load(
    config: &ModelConfig,
    base: &Path,
    trusted: &[VerifierKey],
    project: Option<&aigis_ledger::Project>,
) -> Result<Served, Error> {
    if let Some((name, stage)) = config.registry_stage() {
        return load_staged(config, name, stage, trusted, project);
    }
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
        stage: None,
    })
}

/// The version the gate put at `stage` of the registry's `name`: refused unless a signed,
/// allowed promotion (or rollback) put it there, its bytes match their digests, and (unless
/// `verify = false`) its signature verifies over those bytes with a trusted key.
fn load_staged(
    config: &ModelConfig,
    name: &str,
    stage: &str,
    trusted: &[VerifierKey],
    project: Option<&aigis_ledger::Project>,
) -> Result<Served, Error> {
    let refused = |message: String| Error::Unverified {
        model: config.name.clone(),
        message,
    };
    let project =
        project.ok_or_else(|| refused("a registry model is served from a project".into()))?;
    let reg = aigis_registry::open(project).map_err(|e| refused(crate::chain(&e)))?;
    let staged = aigis_registry::staged(project, &reg, name, stage, config.file.as_deref())
        .map_err(|e| refused(crate::chain(&e)))?;
    let signed_by = if config.verify {
        let bundle = staged
            .bundle
            .as_ref()
            .ok_or_else(|| refused(format!("`{name}` version {} is unsigned", staged.version)))?;
        if trusted.is_empty() {
            return Err(refused("no key is trusted to sign models".into()));
        }
        let report = signing::verify_bytes(&staged.bytes, bundle, trusted).map_err(|e| {
            refused(format!(
                "`{name}` version {}: its signature does not verify over `{}`: {e}",
                staged.version, staged.file
            ))
        })?;
        if !report.passed() {
            return Err(refused(format!(
                "`{name}` version {}: `{}` is not the file its signature signed",
                staged.version, staged.file
            )));
        }
        Some(report.key_id)
    } else {
        tracing::warn!(model = %config.name, "serving without a signature check (verify = false)");
        None
    };
    let runtime = OnnxRuntime::from_bytes(&staged.bytes).map_err(|source| Error::Runtime {
        model: config.name.clone(),
        source,
    })?;
    Ok(Served {
        name: config.name.clone(),
        version: staged.version.to_string(),
        digest: staged.digest,
        signed_by,
        runtime: Arc::new(runtime),
        stage: Some((name.to_owned(), stage.to_owned())),
    })
}

/// Whether the version at a served model's stage is no longer the one served.
pub fn stage_moved(served: &Served, project: &aigis_ledger::Project) -> bool {
    let Some((name, stage)) = &served.stage else {
        return false;
    };
    let Ok(reg) = aigis_registry::open(project) else {
        return false;
    };
    reg.stages(name)
        .ok()
        .and_then(|s| s.stages.get(stage).map(|at| at.version.to_string()))
        .is_none_or(|v| v != served.version)
}
