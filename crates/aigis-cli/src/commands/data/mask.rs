//! `aigis data mask`, `aigis data detokenize` and `aigis keys mask`: masking tables with
//! the project's masking key (`.aigis/keys/mask.key`), and reversing the tokens.

use std::path::{Path, PathBuf};

use aigis_core::Digest;
use aigis_crypto::keyfile;
use aigis_crypto::symmetric;
use aigis_data::mask::table::{self, Job, Masked, Restored, Rewritten};
use aigis_data::mask::{MaskKey, Rules};
use aigis_evidence::{DataDetokenize, DataMask, Predicate, Tool};
use aigis_ledger::Project;
use anyhow::{Context as _, Result, anyhow};
use serde_json::json;

use crate::cli::{Cli, DataDetokenizeArgs, DataMaskArgs, MaskKeyCommand, ReadArgs};

use crate::{context, output};

/// A rules file is a few lines of TOML; this is far beyond any real one.
const MAX_RULES: u64 = 1 << 20;

/// Where a project keeps its masking key.
pub fn mask_key_path(project: &Project) -> PathBuf {
    project.layout().mask_key()
}

/// Loads the masking key at `path` (with AIGIS_KEY_PASSPHRASE when it is sealed).
fn load_key(path: &Path) -> Result<MaskKey> {
    let pass = context::passphrase();
    Ok(MaskKey::load(path, pass.as_deref().map(String::as_str))?)
}

/// The project's masking key; created first when `create` and there is none. Returns
/// whether it was created.
pub(crate) fn project_key(project: &Project, create: bool) -> Result<(MaskKey, bool)> {
    let path = mask_key_path(project);
    if path.exists() {
        return Ok((load_key(&path)?, false));
    }
    if !create {
        return Err(crate::hinted(
            format!("the project has no masking key (`{}`)", path.display()),
            "`aigis data mask` creates it, or run `aigis keys mask new`",
        ));
    }
    let key = MaskKey::generate()?;
    let pass = context::passphrase();
    key.save(&path, pass.as_deref().map(String::as_str))?;
    Ok((key, true))
}

fn created_note(cli: &Cli, key: &MaskKey, path: &Path) {
    output::note(
        cli,
        &format!(
            "created the project's masking key {} in `{}` (keep it: only it reverses the tokens)",
            key.key_id(),
            path.display()
        ),
    );
}

/// `aigis keys mask new|show`.
pub fn key(cli: &Cli, project: &Project, cmd: &MaskKeyCommand) -> Result<()> {
    let path = mask_key_path(project);
    let (key_id, created) = match cmd {
        // An existing key is kept, and its id read without the passphrase.
        MaskKeyCommand::New if path.exists() => {
            let id = hex::encode(symmetric::mask_key_id(&path)?);
            output::note(
                cli,
                &format!("kept the existing masking key {id} in `{}`", path.display()),
            );
            (id, false)
        }
        MaskKeyCommand::New => {
            let (key, created) = project_key(project, true)?;
            created_note(cli, &key, &path);
            (key.key_id(), created)
        }
        MaskKeyCommand::Show => {
            if !path.exists() {
                project_key(project, false)?;
            }
            (hex::encode(symmetric::mask_key_id(&path)?), false)
        }
        MaskKeyCommand::Rotate { overlap_days } => {
            return rotate(cli, project, *overlap_days);
        }
    };
    if cli.json {
        return output::json(&json!({
            "key_id": key_id, "path": path, "created": created,
            "encrypted": keyfile::is_sealed(&path)?,
        }));
    }
    outln!("{key_id}");
    Ok(())
}

/// The retired masking keys still in their overlap; the expired ones are deleted (and
/// said).
fn retired_keys(cli: &Cli, project: &Project) -> Result<Vec<MaskKey>> {
    crate::commands::retired::in_overlap(cli, project, "mask")?
        .iter()
        .map(|p| load_key(p))
        .collect()
}

/// `aigis keys mask rotate`.
fn rotate(cli: &Cli, project: &Project, overlap_days: u64) -> Result<()> {
    let signing = context::signing_key(project)?;
    context::require_role(
        project,
        &signing,
        "data-steward",
        "rotating the masking key",
    )?;
    let (old, _) = project_key(project, false)?;
    let pass = context::passphrase();
    let pass = pass.as_deref().map(String::as_str);
    // The old key is copied out first and the new one put in place last: a crash leaves
    // the old key in force, never no key.
    let (retired_key, until) =
        crate::commands::retired::retire(project, "mask", &old.key_id(), overlap_days)?;
    old.save(&retired_key, pass)?;
    let new = MaskKey::generate()?;
    new.save(&mask_key_path(project), pass)?;
    let index = project.record(
        &signing,
        vec![(
            format!("mask-key:{}", new.key_id()),
            aigis_core::Digest::of(new.key_id().as_bytes()),
        )],
        &aigis_evidence::SecretRotation {
            kind: "mask".into(),
            old_key_id: old.key_id(),
            new_key_id: new.key_id(),
            overlap_until: until.clone(),
            tool: Tool::current(),
        },
    )?;
    if cli.json {
        return output::json(
            &json!({"old_key_id": old.key_id(), "new_key_id": new.key_id(), "overlap_until": until, "evidence": index}),
        );
    }
    outln!("{}", new.key_id());
    output::note(
        cli,
        &format!(
            "rotated the masking key: tokens of {} still open until {until}, then its key is deleted (evidence #{index})",
            old.key_id()
        ),
    );
    Ok(())
}

/// Records a rewrite of `file` into `out` (both digests as subjects).
fn record<P: Predicate>(
    project: &Project,
    key: &aigis_crypto::SigningKey,
    file: &Path,
    out: &Path,
    r: &Rewritten,
    predicate: &P,
) -> Result<u64> {
    Ok(project.record(
        key,
        vec![
            (file.display().to_string(), r.input),
            (out.display().to_string(), r.output),
        ],
        predicate,
    )?)
}

/// The rewrite job of `file` into `out` as `read` says, with a progress bar.
fn job<'a>(file: &'a Path, out: &'a Path, read: &ReadArgs) -> Result<Job<'a>> {
    let (format, read) = super::scan::read_options(read)?;
    Ok(Job {
        input: file,
        output: out,
        format,
        read,
    })
}

pub fn mask(cli: &Cli, args: &DataMaskArgs) -> Result<()> {
    let project = context::project(cli).context(
        "`aigis data mask` needs a project: the masking key lives in its `.aigis/keys/` and the evidence in its ledger",
    )?;
    let rules_bytes = context::read_input(&args.rules, "rules file", MAX_RULES)?;
    let rules_text = std::str::from_utf8(&rules_bytes)
        .map_err(|_| anyhow!("the rules file `{}` is not UTF-8", args.rules.display()))?;
    let rules = Rules::parse(rules_text)
        .with_context(|| format!("in the rules file `{}`", args.rules.display()))?;
    let signing = context::signing_key(&project)?;
    let (key, created) = if rules.needs_key() {
        let (key, created) = project_key(&project, true)?;
        (Some(key), created)
    } else {
        (None, false)
    };
    if let (Some(key), true) = (&key, created) {
        created_note(cli, key, &mask_key_path(&project));
    }
    let job = job(&args.file, &args.out, &args.read)?;
    let bar = output::byte_progress(cli, super::scan::file_len(&args.file)?, "masking");
    let masked = table::mask(
        &job,
        rules,
        key.as_ref(),
        args.allow_missing_columns,
        &|n| bar.inc(n),
    );
    bar.finish_and_clear();
    let Masked {
        table: r,
        report,
        judged,
        rules_without_column: unmatched,
    } = masked?;
    if !judged.is_empty() {
        output::note(
            cli,
            &format!(
                "columns judged to hold personal data as a whole: {}",
                judged
                    .iter()
                    .map(|(c, k)| format!("`{c}` ({k})"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        );
    }
    let file = &args.file;
    let key_id = key.as_ref().map(MaskKey::key_id);
    let index = record(
        &project,
        &signing,
        file,
        &args.out,
        &r,
        &DataMask {
            rules: Digest::of(&rules_bytes),
            key_id: key_id.clone(),
            input_format: context::as_json_string(&r.input_format)?,
            output_format: context::as_json_string(&r.output_format)?,
            rows: r.rows,
            ragged_rows_padded: r.ragged_rows_padded,
            cells_changed: report.cells_changed,
            columns: context::convert(&report.columns, "masking report")?,
            tool: Tool::current(),
        },
    )?;
    if cli.json {
        return output::json(&json!({
            "input": file, "output": args.out, "rows": r.rows,
            "input_sha256": r.input.hex(), "output_sha256": r.output.hex(),
            "input_format": r.input_format, "output_format": r.output_format,
            "cells_changed": report.cells_changed, "columns": report.columns,
            "ragged_rows_padded": r.ragged_rows_padded, "key_id": key_id, "key_created": created,
            "rules_without_column": unmatched, "evidence": index,
        }));
    }
    outln!("{}", args.out.display());
    for (column, changes) in &report.columns {
        for c in changes {
            let what = match c.kind {
                Some(kind) => format!("{kind} -> {:?}", c.action),
                None => format!("{:?}", c.action),
            };
            output::note(
                cli,
                &format!("  {column:<24} {:<28} {}", what.to_lowercase(), c.count),
            );
        }
    }
    if r.ragged_rows_padded > 0 {
        output::note(
            cli,
            &format!(
                "note: {} row(s) shorter than the header were padded with empty cells",
                r.ragged_rows_padded
            ),
        );
    }
    if !unmatched.is_empty() {
        output::note(
            cli,
            &format!(
                "warning: the rules name column(s) the file does not have: {}",
                unmatched.join(", ")
            ),
        );
    }
    output::note(
        cli,
        &format!(
            "masked {} rows: {} cells changed{}; evidence #{index} in the ledger",
            r.rows,
            report.cells_changed,
            key_id
                .as_ref()
                .map(|k| format!(" (key {k})"))
                .unwrap_or_default()
        ),
    );
    Ok(())
}

pub fn detokenize(cli: &Cli, args: &DataDetokenizeArgs) -> Result<()> {
    let project = context::project(cli);
    let key = match (&args.key_file, &project) {
        (Some(path), _) => load_key(path)?,
        (None, Ok(p)) => project_key(p, false)?.0,
        (None, Err(e)) => {
            return Err(crate::hinted(
                format!("no masking key: {e}"),
                "run in the project that masked the file, or pass --key-file",
            ));
        }
    };
    let project = match project {
        Ok(p) => Some(p),
        Err(e) => {
            output::note(cli, &format!("note: not recorded in a ledger ({e})"));
            None
        }
    };
    let signing = project.as_ref().map(context::signing_key).transpose()?;
    let job = job(&args.file, &args.out, &args.read)?;
    let bar = output::byte_progress(cli, super::scan::file_len(&args.file)?, "detokenizing");
    let retired = match &project {
        Some(p) => retired_keys(cli, p)?,
        None => Vec::new(),
    };
    let restored = table::detokenize(&job, &key, &retired, &args.columns, &|n| bar.inc(n));
    bar.finish_and_clear();
    let Restored {
        table: r,
        key_id,
        columns: restored,
        tokens_restored: total,
    } = restored?;
    let file = &args.file;
    let index = match (&project, &signing) {
        (Some(p), Some(k)) => Some(record(
            p,
            k,
            file,
            &args.out,
            &r,
            &DataDetokenize {
                key_id: key_id.clone(),
                rows: r.rows,
                tokens_restored: total,
                columns: restored.clone(),
                tool: Tool::current(),
            },
        )?),
        _ => None,
    };
    if cli.json {
        return output::json(&json!({
            "input": file, "output": args.out, "rows": r.rows, "key_id": key_id,
            "input_sha256": r.input.hex(), "output_sha256": r.output.hex(),
            "tokens_restored": total, "columns": restored, "evidence": index,
        }));
    }
    outln!("{}", args.out.display());
    for (column, n) in &restored {
        output::note(cli, &format!("  {column:<24} {n}"));
    }
    output::note(
        cli,
        &format!(
            "restored {total} token(s) in {} rows with key {}{}",
            r.rows,
            key_id,
            index
                .map(|i| format!("; evidence #{i} in the ledger"))
                .unwrap_or_default()
        ),
    );
    Ok(())
}
