//! `aigis data sign` and `aigis data verify`: signed dataset manifests (the work is
//! `aigis_intake::manifest`'s).

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

pub(crate) fn verify(cli: &Cli, args: &DataVerifyArgs) -> Result<ExitStatus> {
    let project = context::project(cli)?;
    let manifest_path = match &args.manifest {
        Some(m) => m.clone(),
        None => default_path(&args.path)?,
    };
    let keys = if args.keys.is_empty() {
        project.keyring()?.public_keys()
    } else {
        args.keys
            .iter()
            .map(|k| Ok(aigis_crypto::note::public_key_of(k)?.1))
            .collect::<Result<Vec<_>>>()?
    };
    let signed = open_signed(&manifest_path, &keys)?;
    let ledger = find_in_ledger(&project, &signed, &args.keys)?;
    let SignedManifest {
        manifest: expected,
        signed_by,
        ..
    } = signed;

    let opts = Options {
        chunk_size: expected.chunk_size,
        exclude: vec![manifest_path.clone(), project.layout().state_dir()],
    };
    let actual = aigis_intake::manifest::hash(&args.path, &opts, &output::Bar::new(cli))?;
    let changes = manifest::compare(&expected, &actual);
    let ok = changes.is_empty() && ledger.is_some();

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
