//! `aigis data encrypt|decrypt`, `aigis model encrypt|decrypt` and `aigis keys recipient`:
//! files encrypted to X-Wing recipients (format `aigis-enc/v1`, see `aigis_crypto::crypt`).
//! Datasets and models share the format, the keys and this code; the evidence names
//! which kind of artifact was sealed.

use std::path::{Path, PathBuf};

use aigis_crypto::crypt::{self, Summary};
use aigis_crypto::keyfile::{self, KdfParams};
use aigis_crypto::recipient::{self, Identity, Recipient};
use aigis_evidence::Encryption;
use aigis_ledger::Project;
use anyhow::{Context as _, Result};
use serde_json::json;

use crate::cli::{Cli, DataDecryptArgs, DataEncryptArgs, RecipientCommand};
use aigis_core::CheckFailure as _;

use crate::{context, output};

/// The suffix `aigis data encrypt` gives its output by default.
pub const SUFFIX: &str = ".aigis-enc";

/// What kind of artifact a file is, as the evidence says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Artifact {
    Dataset,
    Model,
}

impl Artifact {
    const fn as_str(self) -> &'static str {
        match self {
            Artifact::Dataset => "dataset",
            Artifact::Model => "model",
        }
    }
}

/// Where a project keeps its recipient key pair.
pub fn recipient_key_path(project: &Project) -> PathBuf {
    project.layout().recipient_key()
}

/// `aigis keys recipient new|show`.
pub fn recipient(cli: &Cli, project: &Project, cmd: &RecipientCommand) -> Result<()> {
    let path = recipient_key_path(project);
    if let RecipientCommand::Rotate { overlap_days } = cmd {
        return rotate_recipient(cli, project, *overlap_days);
    }
    let created = match cmd {
        RecipientCommand::New if !path.exists() => {
            let identity = Identity::generate()?;
            let pass = context::passphrase();
            recipient::save(
                &path,
                &identity,
                pass.as_deref().map(String::as_str),
                KdfParams::default(),
            )?;
            true
        }
        _ => false,
    };
    let public = own_recipient(project)?;
    if cli.json {
        return output::json(&json!({
            "recipient": public.to_string(),
            "key_id": public.key_id().to_string(),
            "path": path,
            "created": created,
            "encrypted": keyfile::is_sealed(&path)?,
        }));
    }
    outln!("{public}");
    if matches!(cmd, RecipientCommand::New) {
        let what = if created {
            "created"
        } else {
            "kept the existing"
        };
        output::note(
            cli,
            &format!(
                "{what} recipient key {} in `{}`",
                public.key_id(),
                path.display()
            ),
        );
    }
    Ok(())
}

/// `aigis keys recipient rotate`.
fn rotate_recipient(cli: &Cli, project: &Project, overlap_days: u64) -> Result<()> {
    let signing = context::signing_key(project)?;
    context::require_role(
        project,
        &signing,
        "data-steward",
        "rotating the recipient key",
    )?;
    let old_public = own_recipient(project)?;
    let path = recipient_key_path(project);
    let pass = context::passphrase();
    let pass = pass.as_deref().map(String::as_str);
    let old = recipient::load(&path, pass)?;
    // The old pair is copied out first and the new one put in place last: a crash leaves
    // the old pair in force, never none.
    let (retired, until) = crate::commands::retired::retire(
        project,
        "recipient",
        &old_public.key_id().to_string(),
        overlap_days,
    )?;
    recipient::save(&retired, &old, pass, KdfParams::default())?;
    let new = Identity::generate()?;
    recipient::save(&path, &new, pass, KdfParams::default())?;
    let public = own_recipient(project)?;
    let index = project.record(
        &signing,
        vec![(
            format!("recipient:{}", public.key_id()),
            aigis_core::Digest::of(public.to_string().as_bytes()),
        )],
        &aigis_evidence::SecretRotation {
            kind: "recipient".into(),
            old_key_id: old_public.key_id().to_string(),
            new_key_id: public.key_id().to_string(),
            overlap_until: until.clone(),
            tool: aigis_evidence::Tool::current(),
        },
    )?;
    if cli.json {
        return output::json(
            &json!({"recipient": public.to_string(), "old_key_id": old_public.key_id().to_string(), "new_key_id": public.key_id().to_string(), "overlap_until": until, "evidence": index}),
        );
    }
    outln!("{public}");
    output::note(
        cli,
        &format!(
            "rotated the recipient key: files for {} still decrypt until {until} (evidence #{index}); send the new recipient to whoever encrypts to you",
            old_public.key_id()
        ),
    );
    Ok(())
}

fn own_recipient(project: &Project) -> Result<Recipient> {
    let path = recipient_key_path(project);
    if !path.exists() {
        return Err(crate::hinted(
            format!("the project has no recipient key (`{}`)", path.display()),
            "run `aigis keys recipient new`",
        ));
    }
    Ok(recipient::public(&path)?)
}

/// A recipient string, or a file holding one (or a recipient key file).
fn parse_recipient(arg: &str) -> Result<Recipient> {
    if arg.trim_start().starts_with(recipient::PREFIX) {
        return Ok(arg.parse()?);
    }
    let path = Path::new(arg);
    if !path.is_file() {
        return Err(crate::hinted(
            format!(
                "`{arg}` is neither a recipient (`{}...`) nor a file",
                recipient::PREFIX
            ),
            "`aigis keys recipient show` prints a project's recipient",
        ));
    }
    let text = context::read_input(path, "recipient file", 64 * 1024)?;
    let text = String::from_utf8_lossy(&text);
    if text.trim_start().starts_with('{') {
        return Ok(recipient::public(path)?);
    }
    text.parse()
        .with_context(|| format!("in the recipient file `{arg}`"))
}

/// Refuses to write over the input: the rename would destroy it.
pub(crate) fn check_distinct(input: &Path, output: &Path) -> Result<()> {
    if let (Ok(a), Ok(b)) = (input.canonicalize(), output.canonicalize())
        && a == b
    {
        return Err(crate::hinted(
            format!("the output `{}` is the input file", output.display()),
            "choose another path with --out",
        ));
    }
    Ok(())
}

pub fn encrypt(cli: &Cli, args: &DataEncryptArgs, artifact: Artifact) -> Result<()> {
    let project = context::project(cli)?;
    let mut recipients = args
        .to
        .iter()
        .map(|r| parse_recipient(r))
        .collect::<Result<Vec<_>>>()?;
    if args.to_self || recipients.is_empty() {
        recipients.push(own_recipient(&project)?);
    }
    // Load the signing key first: a missing passphrase should fail before the work.
    let key = context::signing_key(&project)?;
    let out = match &args.out {
        Some(o) => o.clone(),
        None => {
            let mut name = args.file.clone().into_os_string();
            name.push(SUFFIX);
            PathBuf::from(name)
        }
    };
    check_distinct(&args.file, &out)?;
    let size = input_size(&args.file, artifact)?;
    let bar = output::byte_progress(cli, size, "encrypting");
    let s = crypt::encrypt_file(&args.file, &out, &recipients, args.chunk_size, &|n| {
        bar.inc(n)
    })?;
    bar.finish_and_clear();
    let index = record(&project, &key, &args.file, &out, &s, artifact)?;
    let ids: Vec<String> = s.recipients.iter().map(ToString::to_string).collect();
    if cli.json {
        return output::json(&json!({
            "input": args.file, "output": out, "artifact": artifact.as_str(),
            "algorithm": crypt::ALGORITHM,
            "chunk_size": s.chunk_size, "chunks": s.chunks,
            "plaintext_bytes": s.plaintext_bytes, "ciphertext_bytes": s.ciphertext_bytes,
            "plaintext_sha256": s.plaintext_sha256, "ciphertext_sha256": s.ciphertext_sha256,
            "recipients": ids, "index": index,
        }));
    }
    outln!("{}", out.display());
    output::note(
        cli,
        &format!(
            "encrypted {} bytes to {} recipient(s) ({}); evidence #{index} in the ledger",
            s.plaintext_bytes,
            ids.len(),
            ids.join(", ")
        ),
    );
    Ok(())
}

/// The size of the file to read; a folder (a model directory) is refused with a hint.
fn input_size(path: &Path, artifact: Artifact) -> Result<u64> {
    let meta =
        std::fs::metadata(path).with_context(|| format!("cannot read `{}`", path.display()))?;
    if meta.is_dir() {
        return Err(crate::hinted(
            format!(
                "`{}` is a folder: {} encryption works on one file",
                path.display(),
                artifact.as_str()
            ),
            format!(
                "encrypt each file, or pack the folder first (tar -cf model.tar {})",
                path.display()
            ),
        ));
    }
    Ok(meta.len())
}

/// Signs an in-toto statement about the encryption and appends it to the ledger.
fn record(
    project: &Project,
    key: &aigis_crypto::SigningKey,
    input: &Path,
    out: &Path,
    s: &Summary,
    artifact: Artifact,
) -> Result<u64> {
    let (Some(plain), Some(sealed)) = (s.plaintext_sha256, s.ciphertext_sha256) else {
        anyhow::bail!("internal error: the encryption reported no digests");
    };
    let predicate = Encryption {
        artifact: artifact.as_str().to_owned(),
        algorithm: crypt::ALGORITHM.to_owned(),
        format_version: crypt::VERSION,
        chunk_size: s.chunk_size,
        plaintext_bytes: s.plaintext_bytes,
        ciphertext_bytes: s.ciphertext_bytes,
        recipients: s.recipients.iter().map(ToString::to_string).collect(),
    };
    Ok(project.record(
        key,
        vec![
            (input.display().to_string(), plain),
            (out.display().to_string(), sealed),
        ],
        &predicate,
    )?)
}

pub fn decrypt(cli: &Cli, args: &DataDecryptArgs, artifact: Artifact) -> Result<()> {
    let out = match &args.out {
        Some(o) => o.clone(),
        None => {
            let name = args.file.to_string_lossy();
            match name.strip_suffix(SUFFIX) {
                Some(stem) if !stem.is_empty() => PathBuf::from(stem),
                _ => anyhow::bail!(
                    "`{}` does not end in `{SUFFIX}`: say where the plaintext goes with --out",
                    args.file.display()
                ),
            }
        }
    };
    check_distinct(&args.file, &out)?;
    let pass = context::passphrase();
    let pass = pass.as_deref().map(String::as_str);
    let identities = if args.identity.is_empty() {
        let project = context::project(cli)?;
        let path = recipient_key_path(&project);
        own_recipient(&project)?;
        let mut all = vec![recipient::load(&path, pass)?];
        // Pairs retired by a rotation, still in their overlap.
        for retired in crate::commands::retired::in_overlap(cli, &project, "recipient")? {
            all.push(recipient::load(&retired, pass)?);
        }
        all
    } else {
        args.identity
            .iter()
            .map(|p| Ok(recipient::load(p, pass)?))
            .collect::<Result<Vec<_>>>()?
    };
    let size = input_size(&args.file, artifact)?;
    let bar = output::byte_progress(cli, size, "decrypting");
    let result = crypt::decrypt_file(&args.file, &out, &identities, &|n| bar.inc(n));
    bar.finish_and_clear();
    let s = match result {
        Ok(s) => s,
        Err(e) if e.is_check_failure() => {
            return Err(crate::failed(format!("`{}`: {e}", args.file.display())));
        }
        Err(e) => return Err(crate::located(&args.file, &e)),
    };
    let opened_by = s.opened_by.map(|k| k.to_string());
    if cli.json {
        return output::json(&json!({
            "input": args.file, "output": out, "opened_by": opened_by,
            "chunks": s.chunks, "plaintext_bytes": s.plaintext_bytes,
            "ciphertext_bytes": s.ciphertext_bytes,
            "plaintext_sha256": s.plaintext_sha256, "ciphertext_sha256": s.ciphertext_sha256,
        }));
    }
    outln!("{}", out.display());
    output::note(
        cli,
        &format!(
            "decrypted and authenticated {} bytes in {} chunk(s) with key {}",
            s.plaintext_bytes,
            s.chunks,
            opened_by.unwrap_or_default()
        ),
    );
    Ok(())
}
