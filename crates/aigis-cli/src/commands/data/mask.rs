//! `aigis data mask`, `aigis data detokenize` and `aigis keys mask`: masking tables with
//! the project's masking key (`.aigis/keys/mask.key`), and reversing the tokens.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use aigis_core::Digest;
use aigis_crypto::keyfile::{self, KdfParams};
use aigis_crypto::{HashingWriter, symmetric};
use aigis_data::mask::{ColumnRule, Detokenizer, MaskKey, MaskReport, Masker, Rules};
use aigis_data::pii::Detector;
use aigis_data::pii::PiiKind;
use aigis_data::table::{self, Cell, CellKind, Format, OutCell, ReadIssueKind};
use aigis_evidence::{DataDetokenize, DataMask, Predicate, Tool};
use aigis_ledger::Project;
use anyhow::{Context as _, Result, anyhow};
use serde_json::json;

use crate::cli::{Cli, DataDetokenizeArgs, DataMaskArgs, MaskKeyCommand, ReadArgs};
use aigis_core::CheckFailure as _;

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
    let (id, secret) = symmetric::load_mask_key(path, pass.as_deref().map(String::as_str))?;
    let key = MaskKey::from_bytes(secret.as_slice())?;
    if hex::encode(&id) != key.key_id() {
        anyhow::bail!(
            "the masking key file `{}` records key id `{}` but holds key `{}`: it was modified",
            path.display(),
            hex::encode(&id),
            key.key_id()
        );
    }
    Ok(key)
}

/// The project's masking key; created first when `create` and there is none. Returns
/// whether it was created.
fn project_key(project: &Project, create: bool) -> Result<(MaskKey, bool)> {
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
    symmetric::save_mask_key(
        &path,
        &hex::decode(key.key_id())?,
        &key.to_bytes(),
        pass.as_deref().map(String::as_str),
        KdfParams::default(),
    )?;
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

/// Given a cell's row, column and cell, its new text, or `None` to keep it.
type CellFn<'f> = dyn FnMut(u64, &str, Cell<'_>) -> Result<Option<String>> + 'f;

/// What a rewrite of a table did.
struct Rewritten {
    rows: u64,
    padded: u64,
    input_format: Format,
    output_format: Format,
    input: Digest,
    output: Digest,
    names: Vec<String>,
}

/// Streams `file` batch by batch into `out` (atomically: nothing appears unless the whole
/// table was written), replacing each cell `cell` returns a new text for. `required`
/// columns must be in the file.
fn rewrite(
    cli: &Cli,
    file: &Path,
    out: &Path,
    read: &ReadArgs,
    what: &str,
    required: &[String],
    cell: &mut CellFn<'_>,
) -> Result<Rewritten> {
    crate::commands::crypt::check_distinct(file, out)?;
    let (format, options) = super::scan::read_options(read)?;
    let input_format = match format {
        Some(f) => f,
        None => Format::detect(file)?,
    };
    let output_format = Format::from_extension(out).unwrap_or(input_format);
    if output_format == Format::Parquet {
        return Err(crate::hinted(
            format!(
                "cannot write `{}`: writing Parquet is not supported (masked columns would change type)",
                out.display()
            ),
            "write CSV or JSON Lines, for example `-o out.csv` or `-o out.jsonl`",
        ));
    }
    if input_format == Format::Jsonl && output_format == Format::Csv {
        return Err(crate::hinted(
            format!(
                "cannot write the JSON Lines file `{}` as CSV `{}` (its rows may have different keys)",
                file.display(),
                out.display()
            ),
            "write JSON Lines, for example `-o out.jsonl`",
        ));
    }
    // A `.tsv`/`.tab` output is tab-separated; otherwise the delimiter given for the
    // input, else a comma.
    let out_ext = out
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    let out_delimiter = match out_ext.as_deref() {
        Some("tsv" | "tab") => b'\t',
        _ => options.delimiter.unwrap_or(b','),
    };
    let mut reader = table::open(file, Some(input_format), &options)?;
    let bar = output::byte_progress(cli, super::scan::file_len(file)?, what);
    let header = reader.names();
    let (result, input) = std::thread::scope(|s| {
        let hashing = s.spawn(|| aigis_crypto::sha256_file(file));
        let result = aigis_crypto::fs::write_atomic_try(out, 0o644, |w| -> Result<_> {
            let mut hashing = HashingWriter::new(w);
            let mut writer = table::TableWriter::with_delimiter(
                &mut hashing,
                output_format,
                &header,
                out,
                out_delimiter,
            )?;
            let (mut rows, mut padded) = (0u64, 0u64);
            let mut names: std::sync::Arc<[String]> = header.clone();
            let mut replaced: Vec<Option<String>> = Vec::new();
            for batch in reader.by_ref() {
                let batch = batch?;
                for issue in &batch.issues {
                    let at = match (issue.row, &issue.column) {
                        (0, Some(c)) => format!("the header, column `{c}`"),
                        (0, None) => "the header".to_owned(),
                        (r, Some(c)) => format!("row {r}, column `{c}`"),
                        (r, None) => format!("row {r}"),
                    };
                    match issue.ragged_fields() {
                        Some(n) if n < batch.names.len() => padded += 1,
                        Some(_) => {
                            return Err(crate::hinted(
                                format!(
                                    "`{}`, {at}: {}; a row longer than the header cannot be masked safely",
                                    file.display(),
                                    issue.message
                                ),
                                "fix the row, then run again (nothing was written)",
                            ));
                        }
                        None => {
                            let hint = match issue.kind {
                                ReadIssueKind::Encoding => "convert the file to UTF-8",
                                _ => "fix the input",
                            };
                            return Err(crate::hinted(
                                format!("`{}`, {at}: {}", file.display(), issue.message),
                                format!("{hint}, then run again (nothing was written)"),
                            ));
                        }
                    }
                }
                for r in 0..batch.rows {
                    let row = batch.first_row + r as u64;
                    replaced.clear();
                    for (name, column) in batch.names.iter().zip(&batch.columns) {
                        replaced.push(match column.get(r) {
                            Some(c) => cell(row, name, c)?,
                            None => None,
                        });
                    }
                    let cells: Vec<OutCell<'_>> = batch
                        .columns
                        .iter()
                        .zip(&replaced)
                        .map(|(column, new)| match (new, column.get(r)) {
                            (Some(text), _) => OutCell {
                                kind: CellKind::Text,
                                text,
                                changed: true,
                            },
                            (None, Some(c)) => OutCell {
                                kind: c.kind,
                                text: c.text,
                                changed: false,
                            },
                            (None, None) => OutCell {
                                kind: CellKind::Null,
                                text: "",
                                changed: false,
                            },
                        })
                        .collect();
                    writer.write_row(&batch.names, &cells)?;
                }
                rows += batch.rows as u64;
                bar.inc(batch.input_bytes);
                names = batch.names.clone();
            }
            if let Some(missing) = required.iter().find(|c| !names.contains(c)) {
                anyhow::bail!(
                    "`{}` has no column `{missing}` (it has: {})",
                    file.display(),
                    names.join(", ")
                );
            }
            writer.finish()?;
            Ok((rows, padded, hashing.digest(), names.to_vec()))
        });
        (result, hashing.join())
    });
    bar.finish_and_clear();
    let (rows, padded, output, names) = result?;
    let input = input.map_err(|_| anyhow!("hashing `{}` failed", file.display()))??;
    Ok(Rewritten {
        rows,
        padded,
        input_format,
        output_format,
        input,
        output,
        names,
    })
}

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
    let explicit: HashSet<String> = rules.columns().map(|(n, _)| n.to_owned()).collect();
    // Names, dates of birth, addresses, … are judged per column from the first rows, so
    // that `[pii] person_name = …` applies to each cell of a `detect` column holding them.
    let (format, read) = super::scan::read_options(&args.read)?;
    let min_confidence = f64::from(rules.min_confidence());
    let judged: Vec<(String, PiiKind)> =
        aigis_data::pii::columns::classify_table(&args.file, format, &read)?
            .into_iter()
            .filter(|c| c.confidence >= min_confidence)
            .filter(|c| rules.column(&c.column) == Some(&ColumnRule::Detect))
            .map(|c| (c.column, c.kind))
            .collect();
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
    let masker = Masker::new(rules, Detector::new()?, key.as_ref())?.with_column_kinds(judged);
    let mut report = MaskReport::default();
    let file = &args.file;
    let r = rewrite(
        cli,
        file,
        &args.out,
        &args.read,
        "masking",
        &[],
        &mut |row, column, cell| {
            if cell.kind == CellKind::Null {
                return Ok(None);
            }
            match masker.rules().column(column) {
                None => return Ok(None),
                // `detect_all` scans text only; a column named in the rules gets its
                // rule whatever the kind of its cells.
                Some(ColumnRule::Detect)
                    if cell.kind != CellKind::Text && !explicit.contains(column) =>
                {
                    return Ok(None);
                }
                Some(_) => {}
            }
            let masked = masker
                .mask_cell(column, cell.text)
                .map_err(|e| anyhow!("`{}`, row {row}, column `{column}`: {e}", file.display()))?;
            report.record(column, &masked);
            Ok(match masked.text {
                Cow::Owned(s) => Some(s),
                Cow::Borrowed(_) => None,
            })
        },
    )?;
    let unmatched: Vec<&String> = explicit.iter().filter(|c| !r.names.contains(c)).collect();
    if !unmatched.is_empty() && !args.allow_missing_columns {
        // Fail closed: a misspelt column name would leave that column unmasked.
        let _ = std::fs::remove_file(&args.out);
        return Err(crate::hinted(
            format!(
                "the rules name column(s) `{}` that `{}` does not have, so they would not be masked; nothing was written",
                unmatched
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join("`, `"),
                file.display()
            ),
            "fix the names (they are case-sensitive), or pass --allow-missing-columns",
        ));
    }
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
            ragged_rows_padded: r.padded,
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
            "ragged_rows_padded": r.padded, "key_id": key_id, "key_created": created,
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
    if r.padded > 0 {
        output::note(
            cli,
            &format!(
                "note: {} row(s) shorter than the header were padded with empty cells",
                r.padded
            ),
        );
    }
    if !unmatched.is_empty() {
        let list: Vec<&str> = unmatched.iter().map(|s| s.as_str()).collect();
        output::note(
            cli,
            &format!(
                "warning: the rules name column(s) the file does not have: {}",
                list.join(", ")
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
    let detokenizer = Detokenizer::new(&key)?;
    let wanted: HashSet<&str> = args.columns.iter().map(String::as_str).collect();
    let mut restored: BTreeMap<String, u64> = BTreeMap::new();
    let file = &args.file;
    let r = rewrite(
        cli,
        file,
        &args.out,
        &args.read,
        "detokenizing",
        &args.columns,
        &mut |row, column, cell| {
            if cell.kind == CellKind::Null
                || !(wanted.is_empty() || wanted.contains(column))
                || !cell.text.contains(aigis_data::mask::TOKEN_PREFIX)
            {
                return Ok(None);
            }
            let at = || format!("`{}`, row {row}, column `{column}`", file.display());
            match detokenizer.detokenize(cell.text) {
                Ok(d) => {
                    if d.restored > 0 {
                        *restored.entry(column.to_owned()).or_default() += d.restored;
                    }
                    Ok(match d.text {
                        Cow::Owned(s) => Some(s),
                        Cow::Borrowed(_) => None,
                    })
                }
                Err(e) if e.is_check_failure() => Err(crate::failed(format!(
                    "{}: {e} (nothing was written)",
                    at()
                ))),
                Err(e) => Err(anyhow!("{}: {e}", at())),
            }
        },
    )?;
    let total: u64 = restored.values().sum();
    let index = match (&project, &signing) {
        (Some(p), Some(k)) => Some(record(
            p,
            k,
            file,
            &args.out,
            &r,
            &DataDetokenize {
                key_id: detokenizer.key_id().to_owned(),
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
            "input": file, "output": args.out, "rows": r.rows, "key_id": detokenizer.key_id(),
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
            detokenizer.key_id(),
            index
                .map(|i| format!("; evidence #{i} in the ledger"))
                .unwrap_or_default()
        ),
    );
    Ok(())
}
