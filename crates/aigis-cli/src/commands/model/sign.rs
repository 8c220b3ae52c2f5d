//! `aigis model sign PATH` and `aigis model verify PATH`: OpenSSF model-signing bundles
//! (see `aigis_model::signing`), recorded as evidence in the ledger.

use std::path::{Path, PathBuf};

use aigis_core::Digest;
use aigis_crypto::Zeroizing;
use aigis_evidence::{
    ModelSignature, ModelVerification, Predicate, SignatureChecked, SignatureRejected, Tool,
};
use aigis_ledger::Project;
use aigis_model::signing::{
    self, Method, SignOptions, SignerKey, VerifierKey, VerifyOptions, VerifyReport,
};
use anyhow::{Context as _, Result};
use serde_json::json;

use crate::cli::{Cli, ModelSignArgs, ModelVerifyArgs, SignMethod};
use aigis_core::CheckFailure as _;

use crate::commands::ExitStatus;
use crate::{context, output};

/// A PEM key file is a few hundred bytes.
const MAX_KEY_FILE: u64 = 1 << 16;

/// `models/m/` -> `models/m/model.sig` (as model-signing), `m.gguf` -> `m.gguf.sig`.
fn default_signature(model: &Path) -> PathBuf {
    if model.is_dir() {
        model.join("model.sig")
    } else {
        let mut name = model.as_os_str().to_owned();
        name.push(".sig");
        PathBuf::from(name)
    }
}

/// The paths to leave out, relative to the model root: the signature file and the
/// project's state folder when they lie inside the model, and each --ignore (a path as
/// given on the command line, which must lie inside the model).
fn ignores(
    model: &Path,
    signature: &Path,
    project: Option<&Project>,
    given: &[PathBuf],
) -> Result<Vec<String>> {
    let mut out = Vec::new();
    out.extend(signing::relative_to_model(model, signature));
    if let Some(p) = project {
        let state = p.layout().state_dir();
        out.extend(signing::relative_to_model(model, &state));
    }
    for path in given {
        let rel = signing::relative_to_model(model, path).ok_or_else(|| {
            crate::hinted(
                format!(
                    "--ignore `{}` is not inside the model `{}`",
                    path.display(),
                    model.display()
                ),
                format!(
                    "give the path as seen from here, for example `{}`",
                    model.join("README.md").display()
                ),
            )
        })?;
        out.push(rel);
    }
    Ok(out)
}

fn read_key_text(path: &Path, what: &str) -> Result<Zeroizing<String>> {
    let bytes = Zeroizing::new(context::read_input(path, what, MAX_KEY_FILE)?);
    let text = std::str::from_utf8(&bytes)
        .with_context(|| format!("the {what} `{}` is not a PEM text file", path.display()))?;
    Ok(Zeroizing::new(text.to_owned()))
}

fn signer(args: &ModelSignArgs, project: &Result<Project>) -> Result<SignerKey> {
    if let Some(path) = &args.key {
        let text = read_key_text(path, "private key")?;
        return SignerKey::from_pem(&text)
            .with_context(|| format!("reading the private key `{}`", path.display()));
    }
    let project = project.as_ref().map_err(|e| {
        crate::hinted(
            e.to_string(),
            "sign with a PEM private key instead: --signing-key KEY.pem (or run `aigis init`)",
        )
    })?;
    Ok(SignerKey::from(context::signing_key(project)?))
}

fn method(args: &ModelSignArgs) -> Result<Method> {
    Ok(match (args.method, args.shard_size) {
        (Some(SignMethod::Files), Some(_)) => {
            anyhow::bail!("--shard-size goes with --method shards, not --method files")
        }
        (Some(SignMethod::Files), None) | (None, None) => Method::Files,
        (Some(SignMethod::Shards) | None, size) => Method::Shards {
            shard_size: size.unwrap_or(signing::DEFAULT_SHARD_SIZE),
        },
    })
}

/// Records evidence when there is a project; says so when there is none.
fn record<P: Predicate>(
    cli: &Cli,
    project: &Result<Project>,
    subject: (String, Digest),
    predicate: &P,
) -> Result<Option<u64>> {
    match project {
        Ok(p) => Ok(Some(p.record(
            &context::signing_key(p)?,
            vec![subject],
            predicate,
        )?)),
        Err(e) => {
            output::not_recorded(cli, e);
            Ok(None)
        }
    }
}

/// Signs `path` with `key`, writes the bundle to `signature`, and records
/// `model-signature` evidence when there is a project.
fn sign_and_record(
    cli: &Cli,
    project: &Result<Project>,
    key: &SignerKey,
    path: &Path,
    signature: &Path,
    opts: &SignOptions,
) -> Result<(signing::Signed, Option<u64>)> {
    let bar = output::byte_progress(cli, aigis_core::walk::bytes_under(path), "hashing");
    let signed = signing::sign_model(path, key, opts, &|n| bar.inc(n))
        .with_context(|| format!("signing `{}`", path.display()))?;
    bar.finish_and_clear();
    let bundle = signed.bundle.to_json();
    context::write_output(signature, &bundle)?;
    let m = &signed.manifest;
    let public = key.public();
    let predicate = ModelSignature {
        signature: signature.to_owned(),
        signature_sha256: Digest::of(&bundle).hex(),
        format: signing::PREDICATE_TYPE.to_owned(),
        key_id: public.key_id(),
        algorithm: public.algorithm().to_owned(),
        serialization: context::convert(&m.serialization, "signing serialization")?,
        resources: m.resources.len() as u64,
        files: signed.files as u64,
        bytes: signed.bytes,
        tool: Tool::current(),
    };
    let index = record(
        cli,
        project,
        (m.model_name.clone(), m.root_digest()),
        &predicate,
    )?;
    Ok((signed, index))
}

/// Signs one file other than a model (a detector file) with the project's key, as
/// `aigis model sign FILE` would: the bundle is `FILE.sig`, recorded as evidence.
/// Returns the signature's path and the evidence index.
pub(crate) fn sign_file(cli: &Cli, project: &Project, path: &Path) -> Result<(PathBuf, u64)> {
    let key = SignerKey::from(context::signing_key(project)?);
    let signature = default_signature(path);
    let project = Ok(project.clone());
    let (_, index) = sign_and_record(
        cli,
        &project,
        &key,
        path,
        &signature,
        &SignOptions::default(),
    )?;
    let index = index.context("the signature was not recorded")?;
    Ok((signature, index))
}

/// Checks a one-file artifact held in memory (`bytes`, read from `path`) against its
/// signature `path.sig` and the project's keyring. Returns the signing key's id.
pub(crate) fn verify_file(project: &Project, path: &Path, bytes: &[u8]) -> Result<String> {
    let signature = default_signature(path);
    if !signature.exists() {
        return Err(crate::failed(format!(
            "`{}` is unsigned: there is no signature at `{}` (sign it with `aigis model sign`, or pass --unsigned)",
            path.display(),
            signature.display()
        )));
    }
    let bundle = context::read_input(&signature, "signature", signing::MAX_BUNDLE_BYTES as u64)?;
    let keys = context::model_verifiers(project)?;
    let report = signing::verify_bytes(bytes, &bundle, &keys).map_err(|e| {
        crate::failed(format!(
            "the signature `{}` does not verify with the project's keyring: {e}",
            signature.display()
        ))
    })?;
    if !report.passed() {
        return Err(crate::failed(format!(
            "`{}` is not the file its signature `{}` signed",
            path.display(),
            signature.display()
        )));
    }
    Ok(report.key_id)
}

pub fn sign(cli: &Cli, args: &ModelSignArgs) -> Result<()> {
    let project = context::project(cli);
    let key = signer(args, &project)?;
    let signature = args
        .signature
        .clone()
        .unwrap_or_else(|| default_signature(&args.path));
    let opts = SignOptions {
        method: method(args)?,
        allow_symlinks: args.allow_symlinks,
        ignore_paths: ignores(&args.path, &signature, project.as_ref().ok(), &args.ignore)?,
        ignore_git_paths: !args.no_ignore_git_paths,
    };
    let (signed, index) = sign_and_record(cli, &project, &key, &args.path, &signature, &opts)?;
    let m = &signed.manifest;
    let root = m.root_digest();
    let public = key.public();
    if cli.json {
        return output::json(&json!({
            "signature": signature,
            "path": args.path,
            "model_name": m.model_name,
            "root_digest": root,
            "serialization": m.serialization,
            "resources": m.resources.len(),
            "files": signed.files,
            "bytes": signed.bytes,
            "key_id": public.key_id(),
            "algorithm": public.algorithm(),
            "evidence": index,
        }));
    }
    outln!("{}", signature.display());
    let recorded = index.map_or(String::new(), |i| format!("; evidence #{i} in the ledger"));
    output::note(
        cli,
        &format!(
            "signed {} file(s), {} bytes, root {root} with {} key {}{recorded}",
            signed.files,
            signed.bytes,
            public.algorithm(),
            public.key_id()
        ),
    );
    Ok(())
}

fn trusted_keys(args: &ModelVerifyArgs, project: &Result<Project>) -> Result<Vec<VerifierKey>> {
    if args.keys.is_empty() {
        let project = project.as_ref().map_err(|e| {
            crate::hinted(
                e.to_string(),
                "name the signer's public key instead: --key PUB.pem",
            )
        })?;
        return context::model_verifiers(project);
    }
    pem_keys(&args.keys)
}

/// Public keys from PEM files (SPKI: Ed25519, ECDSA P-256 or P-384).
pub(crate) fn pem_keys(paths: &[PathBuf]) -> Result<Vec<VerifierKey>> {
    paths
        .iter()
        .map(|path| {
            let text = read_key_text(path, "public key")?;
            VerifierKey::from_pem(&text)
                .with_context(|| format!("reading the public key `{}`", path.display()))
        })
        .collect()
}

pub fn verify(cli: &Cli, args: &ModelVerifyArgs) -> Result<ExitStatus> {
    let project = context::project(cli);
    let signature = args
        .signature
        .clone()
        .unwrap_or_else(|| default_signature(&args.path));
    let bundle = context::read_input(
        &signature,
        "model signature",
        signing::MAX_BUNDLE_BYTES as u64,
    )?;
    let keys = trusted_keys(args, &project)?;
    let opts = VerifyOptions {
        extra_ignore: ignores(&args.path, &signature, project.as_ref().ok(), &args.ignore)?,
        ignore_git_paths: !args.no_ignore_git_paths,
        ignore_unsigned_files: args.ignore_unsigned_files,
    };
    let bar = output::byte_progress(cli, aigis_core::walk::bytes_under(&args.path), "hashing");
    let result = signing::verify_model_with(&args.path, &bundle, &keys, &opts, &|n| bar.inc(n));
    bar.finish_and_clear();
    let report = match result {
        Ok(r) => r,
        Err(e) if e.is_check_failure() => {
            return bad_signature(cli, args, &project, &signature, &bundle, &e.to_string());
        }
        Err(e) => {
            return Err(e).with_context(|| {
                format!(
                    "verifying `{}` against `{}`",
                    args.path.display(),
                    signature.display()
                )
            });
        }
    };
    let passed = report.passed();
    let predicate = ModelVerification::Checked(SignatureChecked {
        passed,
        signature: signature.clone(),
        signature_sha256: Digest::of(&bundle).hex(),
        signature_verified: true,
        key_id: report.key_id.clone(),
        algorithm: report.algorithm.to_owned(),
        serialization: context::convert(&report.serialization, "signing serialization")?,
        files: report.files as u64,
        changes: report.changes.clone(),
        tool: Tool::current(),
    });
    let index = record(
        cli,
        &project,
        (report.model_name.clone(), report.root_digest),
        &predicate,
    )?;
    if cli.json {
        output::json(&json!({
            "ok": passed,
            "path": args.path,
            "signature": signature,
            "signature_verified": true,
            "report": report,
            "evidence": index,
        }))?;
    } else {
        print_report(args, &report, index);
    }
    Ok(ExitStatus::passed(passed))
}

fn print_report(args: &ModelVerifyArgs, r: &VerifyReport, index: Option<u64>) {
    outln!("signature: ok, {} key {}", r.algorithm, r.key_id);
    if r.passed() {
        outln!(
            "ok: `{}` matches its signature ({} file(s), {} bytes, root {})",
            args.path.display(),
            r.files,
            r.bytes,
            r.root_digest
        );
    } else {
        outln!(
            "FAILED: `{}` differs from its signature ({} change(s)):",
            args.path.display(),
            r.changes.len()
        );
        for c in &r.changes {
            outln!("  {c}");
        }
    }
    if let Some(i) = index {
        outln!("recorded as evidence #{i} in the ledger");
    }
}

/// No trusted key verifies the signature: say so (exit 1) and record it, with the
/// signature file's digest as the subject (its root digest is not to be believed).
fn bad_signature(
    cli: &Cli,
    args: &ModelVerifyArgs,
    project: &Result<Project>,
    signature: &Path,
    bundle: &[u8],
    reason: &str,
) -> Result<ExitStatus> {
    let predicate = ModelVerification::Rejected(SignatureRejected {
        passed: false,
        signature: signature.to_owned(),
        signature_sha256: Digest::of(bundle).hex(),
        signature_verified: false,
        reason: reason.to_owned(),
        tool: Tool::current(),
    });
    let name = signature
        .file_name()
        .map_or_else(|| "model.sig".into(), |n| n.to_string_lossy().into_owned());
    let index = record(cli, project, (name, Digest::of(bundle)), &predicate)?;
    if cli.json {
        output::json(&json!({
            "ok": false,
            "path": args.path,
            "signature": signature,
            "signature_verified": false,
            "error": reason,
            "evidence": index,
        }))?;
    } else if let Some(i) = index {
        outln!("recorded as evidence #{i} in the ledger");
    }
    Err(crate::failed(format!(
        "`{}`: {reason}",
        signature.display()
    )))
}
