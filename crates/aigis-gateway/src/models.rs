//! Loading the models to serve: the file is read once, its signature checked over those
//! very bytes (unless the configuration says `verify = false`), and the same bytes handed
//! to the runtime, so nothing can change between the check and the load.
//!
//! A file encrypted with `aigis model encrypt` (aigis-enc: it starts with `AIGISENC`) is
//! decrypted in memory, never on disk, with the serving recipient key: the model entry's
//! `identity`, or the project's recipient key (`.aigis/keys/recipient.key`), unsealed with
//! `AIGIS_KEY_PASSPHRASE` when it is sealed. Every chunk is authenticated before the model
//! is used; the signature is checked over the plaintext (the model that runs), and by
//! default lies beside the plaintext's name: `digits.onnx.sig` for `digits.onnx.aigis-enc`.

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
    /// How long its calls take: whether one may run on an async thread.
    pub pace: Arc<aigis_runtime::Pace>,
    /// The registry name and stage it comes from, when it does.
    pub stage: Option<(String, String)>,
    /// The recipient key that decrypted it, when the file was encrypted.
    pub decrypted_by: Option<String>,
    /// Its features as the training data's profile has them, for validation.
    pub features: Option<Arc<crate::inspect::Features>>,
    /// The detectors of the inspection seam, each with what its flag does.
    pub detectors: Vec<(Arc<dyn crate::inspect::Detector>, crate::inspect::Action)>,
    /// The extraction detector, with its principals' history.
    pub extraction: Option<Arc<crate::extraction::Extraction>>,
    /// The drift windows.
    pub drift: Option<Arc<crate::drift::Drift>>,
    /// The predictions awaiting labels, and the KPIs.
    pub feedback: Option<Arc<crate::feedback::Feedback>>,
    /// The candidate answering in its shadow.
    pub shadow: Option<Arc<crate::shadow::Shadow>>,
}

/// The environment variable holding the passphrase of a sealed key file (the CLI's).
pub const PASSPHRASE_ENV: &str = "AIGIS_KEY_PASSPHRASE";

/// The plaintext of an encrypted model, opened with `config.identity` or the project's
/// recipient key, and the id of the key that opened it.
fn decrypt(
    config: &ModelConfig,
    base: &Path,
    bytes: &[u8],
    project: Option<&aigis_ledger::Project>,
) -> Result<(zeroize::Zeroizing<Vec<u8>>, String), Error> {
    let refused = |message: String, tampered: bool| Error::Encrypted {
        model: config.name.clone(),
        message,
        tampered,
    };
    let identity_path = match (&config.identity, project) {
        (Some(p), _) => resolve(base, p),
        (None, Some(project)) => project.layout().recipient_key(),
        (None, None) => {
            return Err(refused(
                "it is encrypted: say which recipient key opens it (`identity`)".into(),
                false,
            ));
        }
    };
    let passphrase = std::env::var(PASSPHRASE_ENV)
        .ok()
        .map(zeroize::Zeroizing::new);
    let identity =
        aigis_crypto::recipient::load(&identity_path, passphrase.as_deref().map(String::as_str))
            .map_err(|e| {
                refused(
                    format!(
                        "it is encrypted, and the recipient key `{}` cannot be loaded: {e}",
                        identity_path.display()
                    ),
                    false,
                )
            })?;
    let mut plaintext = zeroize::Zeroizing::new(Vec::with_capacity(bytes.len()));
    let summary = aigis_crypto::crypt::decrypt(bytes, &mut *plaintext, &[identity], &|_| {})
        .map_err(|e| {
            use aigis_core::CheckFailure as _;
            refused(format!("it cannot be decrypted: {e}"), e.is_check_failure())
        })?;
    let by = summary.opened_by.map(|k| k.to_string()).unwrap_or_default();
    Ok((plaintext, by))
}

/// `path` without its `.aigis-enc` suffix, when it has one.
fn plaintext_name(path: &Path) -> PathBuf {
    let name = path.as_os_str().to_string_lossy();
    match name.strip_suffix(".aigis-enc") {
        Some(stem) if !stem.is_empty() => PathBuf::from(stem),
        _ => path.to_owned(),
    }
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
    timeout: std::time::Duration,
) -> Result<Served, Error> {
    if let Some((name, stage)) = config.registry_stage() {
        return load_staged(config, name, stage, trusted, project);
    }
    if let Some(u) = &config.upstream {
        let (upstream, version, digest) = crate::upstream::connect(&config.name, u, base, timeout)
            .map_err(|message| Error::Upstream {
                model: config.name.clone(),
                message,
            })?;
        tracing::warn!(model = %config.name, "served from an upstream server: not verified by aigis (verify = false)");
        return Ok(Served {
            name: config.name.clone(),
            version,
            digest,
            signed_by: None,
            runtime: Arc::new(upstream),
            pace: Arc::default(),
            stage: None,
            decrypted_by: None,
            features: None,
            detectors: Vec::new(),
            extraction: None,
            drift: None,
            feedback: None,
            shadow: None,
        });
    }
    let path = resolve(base, &config.path);
    let read = |path: &Path| {
        std::fs::read(path).map_err(|source| Error::Read {
            model: config.name.clone(),
            path: path.to_owned(),
            source,
        })
    };
    let file = zeroize::Zeroizing::new(read(&path)?);
    let encrypted = file.starts_with(aigis_crypto::crypt::MAGIC);
    let (bytes, decrypted_by) = if encrypted {
        let (plaintext, by) = decrypt(config, base, &file, project)?;
        (plaintext, Some(by))
    } else if config.identity.is_some() {
        return Err(Error::Encrypted {
            model: config.name.clone(),
            message: format!(
                "`identity` is given, but `{}` is not an encrypted file",
                path.display()
            ),
            tampered: false,
        });
    } else {
        (file, None)
    };
    let signed_by = if config.verify {
        let signature = match &config.signature {
            Some(s) => resolve(base, s),
            None => {
                let mut name = plaintext_name(&path).into_os_string();
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
        pace: Arc::default(),
        stage: None,
        decrypted_by,
        features: None,
        detectors: Vec::new(),
        extraction: None,
        drift: None,
        feedback: None,
        shadow: None,
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
        pace: Arc::default(),
        stage: Some((name.to_owned(), stage.to_owned())),
        decrypted_by: None,
        features: None,
        detectors: Vec::new(),
        extraction: None,
        drift: None,
        feedback: None,
        shadow: None,
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
