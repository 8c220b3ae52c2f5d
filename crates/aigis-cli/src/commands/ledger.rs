use aigis_crypto::note::{self, NoteVerifyError};
use aigis_ledger::checkpoint::{self, CheckpointError};
use aigis_ledger::{
    ConsistencyProof, InclusionProof, Ledger, Project, ProofError, StoredCheckpoint, VerifyOptions,
};
use anyhow::{Context as _, Result};
use serde_json::json;

use crate::cli::{
    CheckpointArgs, Cli, LedgerCommand, ProveArgs, VerifyArgs, VerifyCheckpointArgs,
    VerifyProofArgs,
};
use crate::commands::{ExitStatus, done};
use crate::{context, output};

/// Notes and proofs are a few kilobytes; a megabyte is already hostile.
const MAX_NOTE: u64 = 1 << 20;

pub fn run(cli: &Cli, cmd: &LedgerCommand) -> Result<ExitStatus> {
    match cmd {
        LedgerCommand::Status => done(status(cli)),
        LedgerCommand::Checkpoint(args) => done(make_checkpoint(cli, args)),
        LedgerCommand::VerifyCheckpoint(args) => done(verify_checkpoint(cli, args)),
        LedgerCommand::Prove(args) => done(prove(cli, args)),
        LedgerCommand::VerifyProof(args) => done(verify_proof(cli, args)),
        LedgerCommand::Verify(args) => verify(cli, args),
    }
}

fn status(cli: &Cli) -> Result<()> {
    let project = context::project(cli)?;
    let ledger = project.open_ledger()?;
    let size = ledger.tree_size()?;
    let root = hex::encode(ledger.tree_hash(size)?.0);
    let checkpoints = ledger.store().checkpoints()?;
    let newest = checkpoints
        .iter()
        .max_by_key(|c| (c.tree_size, c.created_at_ms));
    if cli.json {
        return output::json(&json!({
            "origin": project.origin(),
            "ledger": project.ledger_path(),
            "size": size,
            "root": root,
            "checkpoints": checkpoints.len(),
            "newest_checkpoint": newest.map(|c| json!({"size": c.tree_size, "created_at": output::time_ms(c.created_at_ms)})),
        }));
    }
    outln!("origin       {}", project.origin());
    outln!("ledger       {}", project.ledger_path().display());
    outln!("entries      {size}");
    outln!("root         {root}");
    match newest {
        Some(c) => outln!(
            "checkpoints  {} (newest: {} entries at {}{})",
            checkpoints.len(),
            c.tree_size,
            output::time_ms(c.created_at_ms),
            if c.tree_size < size {
                format!(
                    "; {} entries since are not yet checkpointed",
                    size - c.tree_size
                )
            } else {
                String::new()
            }
        ),
        None => outln!("checkpoints  none yet (`aigis ledger checkpoint` signs one)"),
    }
    Ok(())
}

fn make_checkpoint(cli: &Cli, args: &CheckpointArgs) -> Result<()> {
    let project = context::project(cli)?;
    let key = context::signing_key(&project)?;
    let ledger = project.open_ledger()?;
    let cp = ledger.checkpoint(project.origin(), &key)?;
    if let Some(out) = &args.out {
        context::write_output(out, &cp.note)?;
    }
    if cli.json {
        let root = hex::encode(ledger.tree_hash(cp.tree_size)?.0);
        return output::json(&json!({
            "origin": project.origin(),
            "size": cp.tree_size,
            "root": root,
            "note": String::from_utf8_lossy(&cp.note),
        }));
    }
    out!("{}", String::from_utf8_lossy(&cp.note));
    output::note(
        cli,
        &format!("signed a checkpoint of {} entries", cp.tree_size),
    );
    Ok(())
}

fn verify_checkpoint(cli: &Cli, args: &VerifyCheckpointArgs) -> Result<()> {
    let bytes = context::read_input(&args.file, "signed note", MAX_NOTE)?;
    let verifiers = context::verifiers(&args.keys)?;
    let (text, signed_by) = match note::verify(&bytes, verifiers) {
        Ok(ok) => ok,
        Err(NoteVerifyError::Malformed(m)) => {
            anyhow::bail!("`{}` is not a signed note: {m}", args.file.display())
        }
        Err(e) => return Err(crate::failed(format!("`{}`: {e}", args.file.display()))),
    };
    // Not every signed note is a checkpoint; say which this one is.
    let verifiers = context::verifiers(&args.keys)?;
    let cp = match checkpoint::open(&bytes, verifiers, None) {
        Ok(cp) => Some(cp),
        Err(CheckpointError::Malformed(_)) => None,
        Err(CheckpointError::Rejected(m)) => return Err(crate::failed(m)),
    };
    if cli.json {
        return output::json(&json!({
            "verified": true,
            "signed_by": signed_by,
            "checkpoint": cp.as_ref().map(|c| json!({"origin": c.origin, "size": c.size, "root": hex::encode(c.root.0)})),
            "text": String::from_utf8_lossy(&text),
        }));
    }
    match cp {
        Some(c) => outln!(
            "ok: checkpoint of `{}` at {} entries, root {}, signed by {}",
            c.origin,
            c.size,
            hex::encode(c.root.0),
            signed_by.join(", ")
        ),
        None => outln!(
            "ok: signed note (not a tlog checkpoint), signed by {}",
            signed_by.join(", ")
        ),
    }
    Ok(())
}

fn prove(cli: &Cli, args: &ProveArgs) -> Result<()> {
    let project = context::project(cli)?;
    let ledger = project.open_ledger()?;
    let size = ledger.tree_size()?;
    let bytes = match (args.entry, args.from) {
        (Some(index), _) => {
            if index >= size {
                anyhow::bail!("there is no entry {index}: the ledger has {size} entries");
            }
            let cp = newest_checkpoint_covering(cli, &project, &ledger, index + 1)?;
            ledger.prove_inclusion(index, &cp)?.to_text()
        }
        (None, Some(from)) => {
            let to = args.to.unwrap_or(size);
            if to > size {
                anyhow::bail!("--to {to} is past the end of the ledger ({size} entries)");
            }
            if from > to {
                anyhow::bail!("--from {from} is past --to {to}");
            }
            let new = match ledger.checkpoint_at(to)? {
                Some(c) => c,
                None if to == size => sign_now(cli, &project, &ledger)?,
                None => {
                    return Err(crate::hinted(
                        format!("no checkpoint of exactly {to} entries was signed"),
                        format!("checkpoints exist at sizes {}", sizes(&ledger)?),
                    ));
                }
            };
            let old = ledger.checkpoint_at(from)?;
            if old.is_none() {
                output::note(
                    cli,
                    &format!(
                        "note: no checkpoint of {from} entries is stored; the verifier must bring its own (--old-checkpoint)"
                    ),
                );
            }
            ledger
                .prove_consistency(from, &new, old.as_ref())?
                .to_json()
        }
        (None, None) => anyhow::bail!("give an entry index, or --from N"),
    };
    match &args.out {
        Some(out) => {
            context::write_output(out, &bytes)?;
            output::note(cli, &format!("wrote {}", out.display()));
        }
        None => {
            use std::io::Write as _;
            std::io::stdout().lock().write_all(&bytes)?;
        }
    }
    Ok(())
}

/// The newest stored checkpoint of at least `min_size` entries, or a new one.
fn newest_checkpoint_covering(
    cli: &Cli,
    project: &Project,
    ledger: &Ledger,
    min_size: u64,
) -> Result<StoredCheckpoint> {
    let newest = ledger
        .store()
        .checkpoints()?
        .into_iter()
        .filter(|c| c.tree_size >= min_size)
        .max_by_key(|c| (c.tree_size, c.id));
    match newest {
        Some(c) => Ok(c),
        None => sign_now(cli, project, ledger),
    }
}

fn sign_now(cli: &Cli, project: &Project, ledger: &Ledger) -> Result<StoredCheckpoint> {
    let key = context::signing_key(project)?;
    let cp = ledger.checkpoint(project.origin(), &key)?;
    output::note(
        cli,
        &format!("signed a new checkpoint of {} entries", cp.tree_size),
    );
    Ok(cp)
}

fn sizes(ledger: &Ledger) -> Result<String> {
    let list: Vec<String> = ledger
        .store()
        .checkpoints()?
        .iter()
        .map(|c| c.tree_size.to_string())
        .collect();
    Ok(if list.is_empty() {
        "(none)".into()
    } else {
        list.join(", ")
    })
}

fn verify_proof(cli: &Cli, args: &VerifyProofArgs) -> Result<()> {
    let proof = context::read_input(&args.proof, "proof", MAX_NOTE)?;
    let read = |p: &Option<std::path::PathBuf>, what: &str| -> Result<Option<Vec<u8>>> {
        p.as_ref()
            .map(|p| context::read_input(p, what, MAX_NOTE))
            .transpose()
    };
    let checkpoint = read(&args.checkpoint, "checkpoint")?;
    let old_checkpoint = read(&args.old_checkpoint, "old checkpoint")?;
    context::verifiers(&args.keys)?; // refuse a bad key string before reading further

    let failed = |e: ProofError| -> anyhow::Error {
        match e {
            ProofError::Malformed(m) => {
                anyhow::anyhow!("`{}`: malformed proof: {m}", args.proof.display())
            }
            ProofError::Invalid(m) => crate::failed(format!("`{}`: {m}", args.proof.display())),
        }
    };
    if proof.starts_with(b"c2sp.org/tlog-proof@v1") {
        let entry_path = args
            .entry
            .as_ref()
            .context("an inclusion proof needs the entry: pass --entry FILE (`aigis evidence show N --raw > FILE`)")?;
        let entry = context::read_input(
            entry_path,
            "entry",
            aigis_crypto::dsse::MAX_ENVELOPE_BYTES as u64,
        )?;
        let parsed = InclusionProof::parse(&proof).map_err(failed)?;
        let cp = parsed
            .verify(
                &entry,
                context::verifiers(&args.keys)?,
                checkpoint.as_deref(),
            )
            .map_err(failed)?;
        if cli.json {
            return output::json(&json!({
                "verified": true, "kind": "inclusion", "index": parsed.index,
                "origin": cp.origin, "size": cp.size, "root": hex::encode(cp.root.0), "signed_by": cp.signed_by,
            }));
        }
        outln!(
            "ok: entry {} is in `{}` at {} entries (root {}), checkpoint signed by {}",
            parsed.index,
            cp.origin,
            cp.size,
            hex::encode(cp.root.0),
            cp.signed_by.join(", ")
        );
        return Ok(());
    }
    let parsed = ConsistencyProof::parse(&proof).map_err(failed)?;
    if checkpoint.is_some() {
        anyhow::bail!(
            "--checkpoint is for inclusion proofs; a consistency proof takes --old-checkpoint"
        );
    }
    let keys = args.keys.clone();
    let (old, new) = parsed
        .verify(
            move || {
                keys.iter()
                    .filter_map(|k| note::parse_verifier_key(k).ok())
                    .collect()
            },
            old_checkpoint.as_deref(),
        )
        .map_err(failed)?;
    if cli.json {
        return output::json(&json!({
            "verified": true, "kind": "consistency", "origin": new.origin,
            "old": {"size": old.size, "root": hex::encode(old.root.0)},
            "new": {"size": new.size, "root": hex::encode(new.root.0)},
        }));
    }
    outln!(
        "ok: `{}` at {} entries extends its tree of {} entries (both checkpoints signed by {})",
        new.origin,
        new.size,
        old.size,
        new.signed_by.join(", ")
    );
    Ok(())
}

fn verify(cli: &Cli, args: &VerifyArgs) -> Result<ExitStatus> {
    let project = context::project(cli)?;
    let ledger = project.open_ledger()?;
    let pinned = !args.keys.is_empty();
    context::verifiers(&args.keys)?;
    let (note_keys, entry_keys) = if pinned {
        let mut keys = Vec::new();
        for k in &args.keys {
            keys.push(note::public_key_of(k)?.1);
        }
        (args.keys.clone(), keys)
    } else {
        let ring = project.keyring()?;
        (
            ring.keys.iter().map(|k| k.verifier_key.clone()).collect(),
            ring.public_keys(),
        )
    };
    let mut external = Vec::new();
    for path in &args.checkpoints {
        external.push((
            format!("checkpoint `{}`", path.display()),
            context::read_input(path, "checkpoint", MAX_NOTE)?,
        ));
    }
    let opts = VerifyOptions {
        origin: Some(project.origin().to_owned()),
        verifiers: Box::new(move || {
            note_keys
                .iter()
                .filter_map(|k| note::parse_verifier_key(k).ok())
                .collect()
        }),
        entry_keys: args.signatures.then_some(entry_keys),
        external_checkpoints: external,
    };
    let size = ledger.tree_size()?;
    let bar = output::progress(cli, size, "verifying");
    let report =
        aigis_ledger::verify(ledger.store(), &opts, &mut |done, _| bar.set_position(done))?;
    bar.finish_and_clear();

    if cli.json {
        let mut v = serde_json::to_value(&report)?;
        output::insert(&mut v, "ok", report.ok());
        output::insert(&mut v, "first_bad_index", report.first_bad_index());
        output::insert(
            &mut v,
            "trusted_keys",
            if pinned { "pinned" } else { "keyring" },
        );
        output::json(&v)?;
    } else if report.ok() {
        outln!(
            "ok: {} entries, {} checkpoint(s){}, root {}",
            report.entries_checked,
            report.checkpoints_checked,
            if args.signatures {
                format!(
                    ", {} entry signatures, {} signed times ({} recorded without one)",
                    report.signatures_checked, report.times_checked, report.times_unsigned
                )
            } else {
                String::new()
            },
            report.root.as_deref().unwrap_or("-")
        );
        if !pinned {
            output::note(
                cli,
                "trusted keys: the project keyring; pass --key to trust only a key you hold",
            );
        }
        if report.checkpoints_checked == 0 && size > 0 {
            output::note(
                cli,
                "note: no signed checkpoint yet; `aigis ledger checkpoint` makes the ledger's state tamper-evident",
            );
        }
    } else {
        outln!("FAILED: the ledger does not verify");
        if let Some(i) = report.first_bad_index() {
            outln!("first bad index: {i}");
        }
        for p in &report.problems {
            outln!("  [{}] {}", p.code, p.message);
        }
    }
    Ok(ExitStatus::passed(report.ok()))
}
