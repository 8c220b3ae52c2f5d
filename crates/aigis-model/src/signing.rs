//! Model signatures in the OpenSSF model-signing format (v1.x, key-based), so a model
//! signed here verifies with `python -m model_signing verify key` and one signed there
//! verifies here.
//!
//! A signature is a Sigstore bundle (JSON) holding a DSSE envelope of an in-toto
//! statement that lists every file of the model (or every shard of every file) with its
//! SHA-256; its subject is the model's root digest. Keys: Ed25519 (aigis's project key;
//! model-signing 1.1 itself signs only with EC keys), ECDSA P-256 and P-384.
//!
//! ```
//! use aigis_model::signing::{SignOptions, SignerKey, sign_model, verify_model};
//!
//! let dir = tempfile::tempdir()?;
//! std::fs::write(dir.path().join("weights.bin"), b"\x00\x01")?;
//! let key = SignerKey::from(aigis_crypto::SigningKey::generate());
//! let signed = sign_model(dir.path(), &key, &SignOptions::default(), &|_| {})?;
//! let report = verify_model(dir.path(), &signed.bundle.to_json(), &[key.public()])?;
//! assert!(report.passed());
//!
//! std::fs::write(dir.path().join("weights.bin"), b"\x00\x02")?;
//! let report = verify_model(dir.path(), &signed.bundle.to_json(), &[key.public()])?;
//! assert_eq!(report.changes[0].to_string(), "modified: weights.bin");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Not supported: certificate and Sigstore keyless bundles, the `blake2` / `blake3` hash
//! types, model-signing v0.2 signatures, ECDSA P-521.

mod bundle;
mod hashing;
mod keys;
mod manifest;

use std::path::Path;

use aigis_core::Digest;
use serde::Serialize;

pub use aigis_core::{ChangeKind, FileChange};
pub use bundle::{BUNDLE_MEDIA_TYPE, Bundle, MAX_BUNDLE_BYTES};
pub use keys::{SignerKey, VerifierKey};
pub use manifest::{
    DEFAULT_SHARD_SIZE, Manifest, Method, PREDICATE_TYPE, Resource, Serialization, compare,
    shard_bounds,
};

use crate::Error;

/// The paths model-signing leaves out by default (`--ignore-git-paths`).
pub const GIT_PATHS: [&str; 4] = [".git", ".gitattributes", ".github", ".gitignore"];

/// How to sign.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignOptions {
    pub method: Method,
    /// Follow symbolic links to files instead of refusing them.
    pub allow_symlinks: bool,
    /// Paths relative to the model root to leave out (with all under them); recorded in
    /// the signature, so verification leaves them out too.
    pub ignore_paths: Vec<String>,
    /// Also leave out [`GIT_PATHS`] (model-signing's default).
    pub ignore_git_paths: bool,
}

impl Default for SignOptions {
    fn default() -> Self {
        Self {
            method: Method::Files,
            allow_symlinks: false,
            ignore_paths: Vec::new(),
            ignore_git_paths: true,
        }
    }
}

/// A signed model.
#[derive(Debug, Clone)]
pub struct Signed {
    pub bundle: Bundle,
    pub manifest: Manifest,
    /// How many files were signed, and their bytes.
    pub files: usize,
    pub bytes: u64,
}

/// Hashes the model at `model` (a folder or one file) and signs it. `progress` receives
/// byte counts as files are read.
pub fn sign_model(
    model: &Path,
    key: &SignerKey,
    opts: &SignOptions,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<Signed, Error> {
    let mut ignore: Vec<String> = opts
        .ignore_paths
        .iter()
        .map(|p| manifest::normalize(p))
        .collect();
    if let Some(p) = ignore.iter().find(|p| *p == ".") {
        return Err(Error::Model {
            path: model.to_path_buf(),
            reason: format!("the ignore path `{p}` would leave out the whole model"),
        });
    }
    if opts.ignore_git_paths {
        ignore.extend(GIT_PATHS.iter().map(|p| (*p).to_owned()));
    }
    ignore.sort();
    ignore.dedup();
    let serialization = Serialization {
        method: opts.method,
        allow_symlinks: opts.allow_symlinks,
        ignore_paths: ignore,
    };
    let (manifest, files, bytes) = hash_model(model, &serialization, &[], progress)?;
    if manifest.resources.is_empty() {
        return Err(Error::Model {
            path: model.to_path_buf(),
            reason: "there is nothing to sign (no files, or only empty files with the shards method, or all ignored)".into(),
        });
    }
    let bundle = Bundle::sign(aigis_core::PAYLOAD_TYPE, manifest.to_statement_json(), key);
    Ok(Signed {
        bundle,
        manifest,
        files,
        bytes,
    })
}

/// Hashes the model as `serialization` says (also leaving out `extra_ignore`), into a
/// manifest in canonical order; returns it with the number of files and bytes read.
pub fn hash_model(
    model: &Path,
    serialization: &Serialization,
    extra_ignore: &[String],
    progress: &(dyn Fn(u64) + Sync),
) -> Result<(Manifest, usize, u64), Error> {
    let mut ignore = serialization.ignore_paths.clone();
    ignore.extend(extra_ignore.iter().cloned());
    let files = hashing::list_files(model, serialization.allow_symlinks, &ignore)?;
    let bytes = files.iter().map(|f| f.len).sum();
    let resources = hashing::hash(&files, serialization.method, progress)?;
    let mut manifest = Manifest {
        model_name: model_name(model),
        serialization: serialization.clone(),
        resources,
    };
    manifest.sort();
    Ok((manifest, files.len(), bytes))
}

/// The model's name as model-signing records it: the last component of its full path.
fn model_name(model: &Path) -> String {
    model
        .canonicalize()
        .ok()
        .as_deref()
        .unwrap_or(model)
        .file_name()
        .map_or_else(|| "model".to_owned(), |n| n.to_string_lossy().into_owned())
}

/// How to verify, beyond what the signature itself says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyOptions {
    /// More paths relative to the model root to leave out (the signature file when it
    /// lies inside the model).
    pub extra_ignore: Vec<String>,
    /// Leave out [`GIT_PATHS`] (model-signing verifies so by default).
    pub ignore_git_paths: bool,
    /// Files on disk that the signature does not list are not reported as added.
    pub ignore_unsigned_files: bool,
}

impl Default for VerifyOptions {
    fn default() -> Self {
        Self {
            extra_ignore: Vec::new(),
            ignore_git_paths: true,
            ignore_unsigned_files: false,
        }
    }
}

/// The outcome of a verification whose signature verified: what was signed, by which
/// key, and every file that differs.
#[derive(Debug, Clone, Serialize)]
pub struct VerifyReport {
    /// The model name in the signature (informative only).
    pub model_name: String,
    /// The signed root digest (the statement's subject).
    pub root_digest: Digest,
    pub serialization: Serialization,
    /// The trusted key that verified the signature, and its algorithm.
    pub key_id: String,
    pub algorithm: &'static str,
    /// Resources (files or shards) and distinct files in the signature.
    pub resources: usize,
    pub files: usize,
    /// Bytes hashed on disk.
    pub bytes: u64,
    /// Each file added, removed or modified, by path; empty when the model matches.
    pub changes: Vec<FileChange>,
}

impl VerifyReport {
    /// Whether the model on disk is exactly the signed one.
    pub fn passed(&self) -> bool {
        self.changes.is_empty()
    }
}

/// Verifies `bundle` (a signature file's bytes) against `trusted` keys and the model at
/// `model`, with the default options. A pure function of its inputs and the files: no
/// ledger, no printing.
///
/// Returns `Err` with [`Error::BadSignature`] (see [`aigis_core::CheckFailure`]) when no
/// trusted key verifies the signature, other errors for a malformed signature or an
/// unreadable model; a report otherwise, whose `changes` say what differs.
pub fn verify_model(
    model: &Path,
    bundle: &[u8],
    trusted: &[VerifierKey],
) -> Result<VerifyReport, Error> {
    verify_model_with(model, bundle, trusted, &VerifyOptions::default(), &|_| {})
}

/// The signed manifest of `bundle`, once its signature verified with one of `trusted`
/// (returned) and its payload is an in-toto statement.
fn open_bundle<'k>(
    bundle: &[u8],
    trusted: &'k [VerifierKey],
) -> Result<(&'k VerifierKey, Manifest), Error> {
    let bundle = Bundle::from_json(bundle)?;
    let key = bundle.verify(trusted)?;
    if bundle.envelope.payload_type != aigis_core::PAYLOAD_TYPE {
        return Err(Error::Statement(format!(
            "the DSSE payload type is `{}`, expected `{}`",
            bundle.envelope.payload_type,
            aigis_core::PAYLOAD_TYPE
        )));
    }
    Ok((
        key,
        Manifest::from_statement_json(&bundle.envelope.payload)?,
    ))
}

/// [`verify_model`] with options and a progress callback (bytes hashed).
pub fn verify_model_with(
    model: &Path,
    bundle: &[u8],
    trusted: &[VerifierKey],
    opts: &VerifyOptions,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<VerifyReport, Error> {
    let (key, expected) = open_bundle(bundle, trusted)?;
    let mut extra = opts.extra_ignore.clone();
    if opts.ignore_git_paths {
        extra.extend(GIT_PATHS.iter().map(|p| (*p).to_owned()));
    }
    let (actual, _, bytes) = hash_model(model, &expected.serialization, &extra, progress)?;
    let mut changes = compare(&expected, &actual);
    if opts.ignore_unsigned_files {
        changes.retain(|c| c.kind != ChangeKind::Added);
    }
    let files = {
        let mut paths: Vec<&str> = expected
            .resources
            .iter()
            .map(|r| match expected.serialization.method {
                Method::Files => r.name.as_str(),
                Method::Shards { .. } => manifest::parse_shard(&r.name).map_or("", |s| s.0),
            })
            .collect();
        paths.sort_unstable();
        paths.dedup();
        paths.len()
    };
    Ok(VerifyReport {
        model_name: expected.model_name.clone(),
        root_digest: expected.root_digest(),
        serialization: expected.serialization.clone(),
        key_id: key.key_id(),
        algorithm: key.algorithm(),
        resources: expected.resources.len(),
        files,
        bytes,
        changes,
    })
}

/// Verifies a one-file model held in memory (`bytes`, as a server loads it) against its
/// signature `bundle`: the signature must verify with one of `trusted`, and the signed
/// digests must be those of these very bytes (as `verify_model` would compute them for
/// the file on disk). Verifying the bytes that are then used leaves no window between
/// the check and the use. The report's `changes` lists a mismatch as a modified file.
pub fn verify_bytes(
    bytes: &[u8],
    bundle: &[u8],
    trusted: &[VerifierKey],
) -> Result<VerifyReport, Error> {
    let (key, expected) = open_bundle(bundle, trusted)?;
    let len = bytes.len() as u64;
    let resources = match expected.serialization.method {
        Method::Files => vec![manifest::Resource {
            name: ".".into(),
            digest: Digest::of(bytes),
        }],
        Method::Shards { shard_size } => manifest::shard_bounds(len, shard_size)
            .into_iter()
            .map(|(s, e)| {
                let piece = usize::try_from(s)
                    .ok()
                    .zip(usize::try_from(e).ok())
                    .and_then(|(s, e)| bytes.get(s..e))
                    .unwrap_or_default();
                manifest::Resource {
                    name: format!(".:{s}:{e}"),
                    digest: Digest::of(piece),
                }
            })
            .collect(),
    };
    let mut actual = Manifest {
        model_name: expected.model_name.clone(),
        serialization: expected.serialization.clone(),
        resources,
    };
    actual.sort();
    let changes = compare(&expected, &actual);
    Ok(VerifyReport {
        model_name: expected.model_name.clone(),
        root_digest: expected.root_digest(),
        serialization: expected.serialization.clone(),
        key_id: key.key_id(),
        algorithm: key.algorithm(),
        resources: expected.resources.len(),
        files: 1,
        bytes: len,
        changes,
    })
}

/// `path` relative to the model root, `/`-separated, when it lies inside the model (to
/// leave a signature file or a project's state folder out of the model).
pub fn relative_to_model(model: &Path, path: &Path) -> Option<String> {
    let root = model.canonicalize().ok()?;
    let full = match path.canonicalize() {
        Ok(p) => p,
        // Not written yet: resolve its folder.
        Err(_) => path
            .parent()
            .map(|p| {
                if p.as_os_str().is_empty() {
                    Path::new(".")
                } else {
                    p
                }
            })?
            .canonicalize()
            .ok()?
            .join(path.file_name()?),
    };
    let rel = full.strip_prefix(&root).ok()?;
    let parts: Vec<&str> = rel
        .components()
        .map(|c| c.as_os_str().to_str())
        .collect::<Option<_>>()?;
    (!parts.is_empty()).then(|| parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use aigis_core::CheckFailure as _;

    fn keys() -> Vec<SignerKey> {
        vec![
            SignerKey::Ed25519(aigis_crypto::SigningKey::from_seed(&[0x42; 32])),
            SignerKey::P256(p256::ecdsa::SigningKey::from_slice(&[0x42; 32]).unwrap()),
            SignerKey::P384(p384::ecdsa::SigningKey::from_slice(&[0x42; 48]).unwrap()),
        ]
    }

    fn model() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path();
        std::fs::create_dir_all(p.join("sub")).unwrap();
        std::fs::create_dir_all(p.join(".git")).unwrap();
        std::fs::write(p.join("weights.bin"), vec![7u8; 10_000]).unwrap();
        std::fs::write(p.join("sub/config.json"), b"{}").unwrap();
        std::fs::write(p.join(".git/HEAD"), b"ref").unwrap();
        dir
    }

    fn sign(dir: &Path, key: &SignerKey, method: Method) -> Vec<u8> {
        let opts = SignOptions {
            method,
            ..SignOptions::default()
        };
        sign_model(dir, key, &opts, &|_| {})
            .unwrap()
            .bundle
            .to_json()
    }

    #[test]
    fn every_key_type_round_trips_with_both_methods() {
        let dir = model();
        for key in keys() {
            for method in [Method::Files, Method::Shards { shard_size: 4096 }] {
                let bundle = sign(dir.path(), &key, method);
                let r = verify_model(dir.path(), &bundle, &[key.public()]).unwrap();
                assert!(r.passed(), "{:?} {method:?}: {:?}", key, r.changes);
                assert_eq!(r.key_id, key.public().key_id());
                assert_eq!(r.algorithm, key.public().algorithm());
                assert_eq!(r.files, 2);
                assert_eq!(r.serialization.method, method);
                let expected = match method {
                    Method::Files => 2,
                    Method::Shards { .. } => 4,
                };
                assert_eq!(r.resources, expected);
            }
        }
    }

    #[test]
    fn the_root_digest_does_not_depend_on_the_key_or_the_folder_name() {
        let a = model();
        let b = model();
        let digests: Vec<Digest> = keys()
            .iter()
            .flat_map(|k| {
                [a.path(), b.path()].map(|d| {
                    sign_model(d, k, &SignOptions::default(), &|_| {})
                        .unwrap()
                        .manifest
                        .root_digest()
                })
            })
            .collect();
        assert!(digests.windows(2).all(|w| w[0] == w[1]));
    }

    #[test]
    fn each_change_is_named() {
        let dir = model();
        let key = &keys()[1];
        for method in [Method::Files, Method::Shards { shard_size: 4096 }] {
            let dir = model();
            let bundle = sign(dir.path(), key, method);
            let p = dir.path();
            std::fs::write(p.join("weights.bin"), vec![8u8; 10_000]).unwrap();
            std::fs::remove_file(p.join("sub/config.json")).unwrap();
            std::fs::write(p.join("sub/extra.py"), b"import os").unwrap();
            // Ignored paths may change freely.
            std::fs::write(p.join(".git/HEAD"), b"other").unwrap();
            let r = verify_model(p, &bundle, &[key.public()]).unwrap();
            assert!(!r.passed());
            let shown: Vec<String> = r.changes.iter().map(ToString::to_string).collect();
            assert_eq!(
                shown,
                [
                    "removed:  sub/config.json",
                    "added:    sub/extra.py",
                    "modified: weights.bin"
                ],
                "{method:?}"
            );
            let opts = VerifyOptions {
                ignore_unsigned_files: true,
                ..VerifyOptions::default()
            };
            let r = verify_model_with(p, &bundle, &[key.public()], &opts, &|_| {}).unwrap();
            assert_eq!(r.changes.len(), 2);
        }
        drop(dir);
    }

    #[test]
    fn a_wrong_key_or_a_tampered_bundle_fails_the_check() {
        let dir = model();
        let all = keys();
        let bundle = sign(dir.path(), &all[1], Method::Files);
        let others: Vec<VerifierKey> = [&all[0], &all[2]].iter().map(|k| k.public()).collect();
        let e = verify_model(dir.path(), &bundle, &others).unwrap_err();
        assert!(e.is_check_failure(), "{e}");
        // A statement edited after signing (another root digest) no longer verifies.
        let mut parsed = Bundle::from_json(&bundle).unwrap();
        let text = String::from_utf8(parsed.envelope.payload.clone()).unwrap();
        parsed.envelope.payload = text.replace("weights.bin", "weights.bim").into_bytes();
        let e = verify_model(dir.path(), &parsed.to_json(), &[all[1].public()]).unwrap_err();
        assert!(e.is_check_failure(), "{e}");
        // Garbage is malformed input, not a failed check.
        let e = verify_model(dir.path(), b"{}", &[all[1].public()]).unwrap_err();
        assert!(!e.is_check_failure(), "{e}");
    }

    #[test]
    fn a_signed_statement_of_another_kind_is_refused() {
        let dir = model();
        let key = &keys()[0];
        let bundle = Bundle::sign("text/plain", b"hello".to_vec(), key).to_json();
        let e = verify_model(dir.path(), &bundle, &[key.public()]).unwrap_err();
        assert!(
            e.to_string().contains("payload type is `text/plain`"),
            "{e}"
        );
    }

    #[test]
    fn one_file_is_a_model_named_dot() {
        let dir = model();
        let file = dir.path().join("weights.bin");
        let key = &keys()[0];
        let signed = sign_model(&file, key, &SignOptions::default(), &|_| {}).unwrap();
        assert_eq!(signed.manifest.model_name, "weights.bin");
        assert_eq!(signed.manifest.resources[0].name, ".");
        assert!(
            verify_model(&file, &signed.bundle.to_json(), &[key.public()])
                .unwrap()
                .passed()
        );
    }

    #[test]
    fn bytes_in_memory_verify_as_the_file_would_by_files_and_by_shards() {
        let dir = model();
        let file = dir.path().join("weights.bin");
        let bytes = std::fs::read(&file).unwrap();
        let key = &keys()[1];
        for method in [Method::Files, Method::Shards { shard_size: 4096 }] {
            let opts = SignOptions {
                method,
                ..SignOptions::default()
            };
            let bundle = sign_model(&file, key, &opts, &|_| {})
                .unwrap()
                .bundle
                .to_json();
            let from_disk = verify_model(&file, &bundle, &[key.public()]).unwrap();
            let in_memory = verify_bytes(&bytes, &bundle, &[key.public()]).unwrap();
            assert!(in_memory.passed(), "{method:?}: {:?}", in_memory.changes);
            assert_eq!(in_memory.root_digest, from_disk.root_digest);
            let mut changed = bytes.clone();
            changed[5000] ^= 1;
            assert!(
                !verify_bytes(&changed, &bundle, &[key.public()])
                    .unwrap()
                    .passed()
            );
            assert!(
                !verify_bytes(&bytes[..9000], &bundle, &[key.public()])
                    .unwrap()
                    .passed()
            );
            assert!(verify_bytes(&bytes, &bundle, &[keys()[0].public()]).is_err());
        }
    }

    #[test]
    fn nothing_to_sign_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(".gitignore"), b"x").unwrap();
        let e = sign_model(dir.path(), &keys()[0], &SignOptions::default(), &|_| {}).unwrap_err();
        assert!(e.to_string().contains("nothing to sign"), "{e}");
        let opts = SignOptions {
            ignore_paths: vec!["./".into()],
            ..SignOptions::default()
        };
        let e = sign_model(dir.path(), &keys()[0], &opts, &|_| {}).unwrap_err();
        assert!(e.to_string().contains("whole model"), "{e}");
    }

    #[test]
    fn relative_paths_inside_the_model_only() {
        let dir = model();
        let p = dir.path();
        assert_eq!(
            relative_to_model(p, &p.join("sub/model.sig")).as_deref(),
            Some("sub/model.sig")
        );
        assert_eq!(relative_to_model(&p.join("sub"), &p.join("x.sig")), None);
        assert_eq!(relative_to_model(p, p), None);
    }
}
