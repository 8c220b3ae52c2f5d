//! `aigis data sign` and `aigis data verify`: signed dataset manifests (the work is
//! `aigis_intake::manifest`'s).

use std::path::{Path, PathBuf};

use aigis_data::manifest::{self, Options};
use aigis_intake::manifest::{SignedManifest, default_path, find_in_ledger, open_signed};
use anyhow::Result;
use serde_json::json;

use crate::cli::{Cli, DataSignArgs, DataVerifyArgs};
use crate::commands::ExitStatus;
use crate::{context, output};

pub(crate) fn sign(cli: &Cli, args: &DataSignArgs) -> Result<()> {
    let project = context::project(cli)?;
    let key = context::signing_key(&project)?;
    context::require_role(&project, &key, "data-steward", "signing a dataset")?;
    let out = match &args.out {
        Some(o) => o.clone(),
        None => default_path(&args.path)?,
    };
    let opts = Options {
        chunk_size: args.chunk_size,
        exclude: vec![out.clone(), project.layout().state_dir()],
    };
    let m = aigis_intake::manifest::hash(&args.path, &opts, &output::Bar::new(cli))?;
    let index = aigis_intake::manifest::sign_and_record(&project.open_ledger()?, &key, &m, &out)?;
    if cli.json {
        return output::json(&json!({
            "manifest": out, "index": index, "root": m.root,
            "files": m.files.len(), "bytes": m.total_bytes(), "chunk_size": m.chunk_size,
        }));
    }
    outln!("{}", out.display());
    output::note(
        cli,
        &format!(
            "signed {} file(s), {} bytes, root {}; evidence #{index} in the ledger",
            m.files.len(),
            m.total_bytes(),
            m.root
        ),
    );
    Ok(())
}

/// What checking a file or folder against its signed manifest found.
pub(crate) struct Checked {
    /// The manifest read.
    pub manifest_path: PathBuf,
    pub expected: aigis_data::manifest::Manifest,
    /// The key id that signed it.
    pub signed_by: String,
    /// Where the ledger has it (`None`: not there).
    pub ledger: Option<aigis_intake::manifest::LedgerPlace>,
    /// How the bytes differ from it.
    pub changes: Vec<manifest::Change>,
}

impl Checked {
    /// Signed, in the ledger, and every file and chunk as signed.
    pub fn ok(&self) -> bool {
        self.changes.is_empty() && self.ledger.is_some()
    }
}

/// Checks `path` against its signed manifest (`manifest`, or the one beside it), trusting
/// `key_args` (verifier keys) or, when none, the project's keyring. A manifest that cannot
/// be read or whose signature fails is an error; a difference is in the result.
pub(crate) fn check(
    cli: &Cli,
    project: &aigis_ledger::Project,
    path: &Path,
    manifest: Option<&Path>,
    key_args: &[String],
) -> Result<Checked> {
    let manifest_path = match manifest {
        Some(m) => m.to_path_buf(),
        None => default_path(path)?,
    };
    let keys = if key_args.is_empty() {
        project.keyring()?.public_keys()
    } else {
        key_args
            .iter()
            .map(|k| Ok(aigis_crypto::note::public_key_of(k)?.1))
            .collect::<Result<Vec<_>>>()?
    };
    let signed = open_signed(&manifest_path, &keys)?;
    let ledger = find_in_ledger(project, &signed, key_args)?;
    let SignedManifest {
        manifest: expected,
        signed_by,
        ..
    } = signed;
    let opts = Options {
        chunk_size: expected.chunk_size,
        exclude: vec![manifest_path.clone(), project.layout().state_dir()],
    };
    let actual = aigis_intake::manifest::hash(path, &opts, &output::Bar::new(cli))?;
    let changes = manifest::compare(&expected, &actual);
    Ok(Checked {
        manifest_path,
        expected,
        signed_by,
        ledger,
        changes,
    })
}

pub(crate) fn verify(cli: &Cli, args: &DataVerifyArgs) -> Result<ExitStatus> {
    let project = context::project(cli)?;
    let checked = check(
        cli,
        &project,
        &args.path,
        args.manifest.as_deref(),
        &args.keys,
    )?;
    let ok = checked.ok();
    let Checked {
        manifest_path,
        expected,
        signed_by,
        ledger,
        changes,
    } = checked;

    if cli.json {
        output::json(&json!({
            "ok": ok,
            "path": args.path,
            "manifest": manifest_path,
            "root": expected.root,
            "files": expected.files.len(),
            "bytes": expected.total_bytes(),
            "signature": {"verified": true, "key_id": signed_by},
            "ledger": ledger.as_ref().map(|l| json!({"index": l.index, "checkpoint_size": l.checkpoint_size})),
            "changes": changes,
        }))?;
    } else {
        match &ledger {
            Some(l) => outln!(
                "ledger:    evidence #{}{}",
                l.index,
                l.checkpoint_size
                    .map_or(" (no signed checkpoint covers it yet)".into(), |n| format!(
                        ", proven in the signed checkpoint of {n} entries"
                    ))
            ),
            None => {
                outln!("ledger:    NOT FOUND: this signed manifest is not in the project's ledger")
            }
        }
        outln!("signature: ok, key {signed_by}");
        if changes.is_empty() {
            outln!(
                "ok: `{}` matches its manifest ({} files, {} bytes, root {})",
                args.path.display(),
                expected.files.len(),
                expected.total_bytes(),
                expected.root
            );
        } else {
            outln!(
                "FAILED: `{}` differs from its signed manifest:",
                args.path.display()
            );
            for c in &changes {
                outln!("  {c}");
            }
        }
    }
    Ok(ExitStatus::passed(ok))
}
