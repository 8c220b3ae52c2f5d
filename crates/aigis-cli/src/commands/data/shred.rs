//! `aigis data protect|reveal|erase`: erasure by crypto-shredding, through
//! `aigis_data::shred`; this module parses, calls, renders and records.

use aigis_data::shred::{self, Store};
use aigis_evidence::{Erasure, Tool};
use aigis_ledger::Project;
use anyhow::Result;
use serde_json::json;

use crate::cli::{Cli, DataEraseArgs, DataProtectArgs, DataRevealArgs};
use crate::{context, output};

/// The table job of `input` into `output` as `read` says.
fn table_job<'a>(
    input: &'a std::path::Path,
    output: &'a std::path::Path,
    read: &crate::cli::ReadArgs,
) -> Result<aigis_data::mask::table::Job<'a>> {
    let (format, read) = super::scan::read_options(read)?;
    Ok(aigis_data::mask::table::Job {
        input,
        output,
        format,
        read,
    })
}

fn store(project: &Project) -> Result<Store> {
    let state = project.layout().state_dir();
    let pass = context::passphrase();
    Ok(Store::open(
        &state.join("subjects.store"),
        &state.join("keys").join("subjects.key"),
        pass.as_deref().map(String::as_str),
    )?)
}

pub(crate) fn protect(cli: &Cli, args: &DataProtectArgs) -> Result<()> {
    let project = context::project(cli)?;
    let key = context::signing_key(&project)?;
    context::require_role(&project, &key, "data-steward", "protecting personal data")?;
    if args.output == args.input {
        anyhow::bail!("the output `{}` is the input", args.output.display());
    }
    let mut store = store(&project)?;
    let done = shred::protect(
        &table_job(&args.input, &args.output, &args.read)?,
        &args.subject,
        &args.columns,
        &mut store,
    )?;
    let pass = context::passphrase();
    store.save(pass.as_deref().map(String::as_str))?;
    if cli.json {
        return output::json(
            &json!({"rows": done.table.rows, "subjects": done.subjects, "cells": done.cells, "output": args.output, "input_format": done.table.input_format, "output_format": done.table.output_format}),
        );
    }
    outln!(
        "protected {} rows of {} subjects ({} cells, each under its subject's key) into `{}`",
        done.table.rows,
        done.subjects,
        done.cells,
        args.output.display()
    );
    Ok(())
}

pub(crate) fn reveal(cli: &Cli, args: &DataRevealArgs) -> Result<()> {
    let project = context::project(cli)?;
    if args.output == args.input {
        anyhow::bail!("the output `{}` is the input", args.output.display());
    }
    let store = store(&project)?;
    let r = shred::reveal(&table_job(&args.input, &args.output, &args.read)?, &store)?;
    if cli.json {
        return output::json(
            &json!({"rows": r.table.rows, "cells": r.cells, "erased_cells": r.erased_cells, "erased_rows": r.erased_rows}),
        );
    }
    outln!(
        "revealed {} cells of {} rows into `{}`; {} cells of {} rows belong to erased subjects and are empty",
        r.cells,
        r.table.rows,
        args.output.display(),
        r.erased_cells,
        r.erased_rows
    );
    Ok(())
}

pub(crate) fn erase(cli: &Cli, args: &DataEraseArgs) -> Result<()> {
    let project = context::project(cli)?;
    let key = context::signing_key(&project)?;
    context::require_role(&project, &key, "data-steward", "erasing a data subject")?;
    if args.reason.trim().is_empty() {
        anyhow::bail!("--reason is empty: say why (a request's reference)");
    }
    let mut store = store(&project)?;
    let subject = store.subject(&args.subject);
    if !store.erase(&subject) {
        return Err(crate::failed(
            "no key for that subject: nothing of theirs was protected, or they were erased before",
        ));
    }
    let pass = context::passphrase();
    store.save(pass.as_deref().map(String::as_str))?;
    let index = project.record(
        &key,
        vec![(
            format!("subject:{subject}"),
            aigis_core::Digest::of(format!("subject:{subject}").as_bytes()),
        )],
        &Erasure {
            subject: subject.clone(),
            reason: args.reason.clone(),
            store_key: aigis_crypto::symmetric::mask_key_id(
                &project
                    .layout()
                    .state_dir()
                    .join("keys")
                    .join("subjects.key"),
            )
            .map(hex::encode)?,
            remaining: store.len() as u64,
            tool: Tool::current(),
        },
    )?;
    if cli.json {
        return output::json(
            &json!({"subject": subject, "evidence": index, "remaining": store.len()}),
        );
    }
    outln!(
        "erased subject {subject}: their key is destroyed and the store re-encrypted under a new key (evidence #{index}); {} subjects remain",
        store.len()
    );
    Ok(())
}

/// `aigis data retention [--enforce]`.
pub(crate) fn retention(cli: &Cli, enforce: bool) -> Result<crate::commands::ExitStatus> {
    use std::time::{Duration, SystemTime};
    let project = context::project(cli)?;
    let config = aigis_data::sources::DataConfig::from_table(&project.config.data)?;
    if config.retention.is_empty() {
        output::note(cli, "aigis.toml has no [[data.retention]] rule");
    }
    let now = SystemTime::now();
    let mut due = Vec::new();
    for rule in &config.retention {
        let root = project.root.join(&rule.path);
        if !root.exists() {
            output::note(cli, &format!("`{}` does not exist", rule.path.display()));
            continue;
        }
        let limit = Duration::from_secs(rule.days.saturating_mul(86_400));
        let files = aigis_core::walk::Walk::new(&root, aigis_core::walk::LinkPolicy::Refuse)
            .run()
            .map_err(|e| anyhow::anyhow!("walking `{}`: {e}", rule.path.display()))?;
        for f in files
            .into_iter()
            .filter(|e| e.kind == aigis_core::walk::Kind::File)
        {
            let modified = std::fs::metadata(&f.path)
                .and_then(|m| m.modified())
                .map_err(|e| anyhow::anyhow!("reading `{}`: {e}", f.path.display()))?;
            let age = now.duration_since(modified).unwrap_or_default();
            if age > limit {
                due.push((f.path.clone(), rule, age.as_secs() / 86_400));
            }
        }
    }
    let mut deleted = Vec::new();
    if enforce && !due.is_empty() {
        let key = context::signing_key(&project)?;
        context::require_role(
            &project,
            &key,
            "data-steward",
            "deleting data past its retention",
        )?;
        let mut subjects = Vec::new();
        for (path, rule, age) in &due {
            let digest = aigis_crypto::sha256_file(path)?;
            let shown = path
                .strip_prefix(&project.root)
                .unwrap_or(path)
                .display()
                .to_string();
            subjects.push((format!("file:{shown}"), digest));
            deleted.push(aigis_evidence::RetainedFile {
                path: shown,
                sha256: digest.hex(),
                rule: rule.path.display().to_string(),
                days: rule.days,
                age_days: *age,
            });
        }
        // Recorded before anything is deleted: a crash leaves evidence of an intent, never
        // a deletion nobody recorded.
        let index = project.record(
            &key,
            subjects,
            &aigis_evidence::RetentionEnforced {
                deleted: deleted.clone(),
                tool: Tool::current(),
            },
        )?;
        for (path, _, _) in &due {
            std::fs::remove_file(path)
                .map_err(|e| anyhow::anyhow!("deleting `{}`: {e}", path.display()))?;
        }
        output::note(
            cli,
            &format!("deleted {} file(s) (evidence #{index})", due.len()),
        );
    }
    let passed = due.is_empty() || enforce;
    if cli.json {
        output::json(&json!({
            "due": due.iter().map(|(p, r, age)| json!({"path": p, "rule": r.path, "days": r.days, "age_days": age})).collect::<Vec<_>>(),
            "deleted": enforce,
        }))?;
    } else {
        for (p, r, age) in &due {
            outln!(
                "{} {} ({age} days old; `{}` keeps {} days)",
                if enforce { "deleted" } else { "due" },
                p.display(),
                r.path.display(),
                r.days
            );
        }
        if due.is_empty() {
            outln!("nothing is past its retention");
        } else if !enforce {
            outln!(
                "{} file(s) past their retention: delete them with --enforce",
                due.len()
            );
        }
    }
    Ok(crate::commands::ExitStatus::passed(passed))
}

/// `aigis data minimise`.
pub(crate) fn minimise(
    cli: &Cli,
    args: &crate::cli::DataMinimiseArgs,
) -> Result<crate::commands::ExitStatus> {
    let project = context::project(cli)?;
    // What the model uses.
    let (used, label, source) =
        match &args.model {
            Some(spec) => {
                let (name, version) = spec
                    .split_once('@')
                    .and_then(|(n, v)| Some((n, v.parse::<u32>().ok()?)))
                    .ok_or_else(|| anyhow::anyhow!("--model `{spec}` is not NAME@VERSION"))?;
                let reg = aigis_registry::open(&project)?;
                let record = reg.version(name, version)?;
                let (index, t) = aigis_registry::read::training(&project, &record)?.ok_or_else(|| {
                crate::hinted(
                    format!("no signed training evidence names a file of {name} version {version}"),
                    "name the features it uses: --features COLUMNS --label COLUMN",
                )
            })?;
                (
                    t.features,
                    Some(t.label),
                    format!("training evidence #{index}"),
                )
            }
            None => (
                args.features.clone(),
                args.label.clone(),
                "--features".to_owned(),
            ),
        };
    // What the newest scan of this table judged personal, and kept in the clear.
    let digest = aigis_crypto::sha256_file(&args.input)?;
    let scan = aigis_registry::read::data_scan(&project, digest)?;
    // Columns judged personal, and columns where personal data was found (`pii.*`).
    let files: Vec<&aigis_evidence::DataScanFile> = match &scan {
        Some((_, aigis_evidence::DataScan::One(f))) => vec![f.as_ref()],
        Some((_, aigis_evidence::DataScan::Many(m))) => m.files.iter().collect(),
        None => Vec::new(),
    };
    let mut personal: Vec<(String, String)> = Vec::new();
    for f in &files {
        for p in &f.personal_columns {
            personal.push((p.column.clone(), p.kind.clone()));
        }
        for c in &f.counts {
            if let (Some(col), Some(kind)) = (&c.column, c.rule.strip_prefix("pii.")) {
                personal.push((col.clone(), kind.to_owned()));
            }
        }
    }
    personal.sort();
    personal.dedup_by(|a, b| a.0 == b.0);
    let names: Vec<String> = personal.iter().map(|(c, _)| c.clone()).collect();
    let (format, read) = super::scan::read_options(&args.read)?;
    let (header, in_clear) = shred::columns_in_clear(&args.input, format, &read, &names)?;
    let clear: Vec<(String, String)> = personal
        .into_iter()
        .filter(|(c, _)| in_clear.contains(c))
        .collect();
    let unused: Vec<&String> = header
        .iter()
        .filter(|c| !used.contains(c) && label.as_deref() != Some(c.as_str()))
        .collect();
    let passed = unused.is_empty() && clear.is_empty();
    if cli.json {
        output::json(&json!({
            "used_by_model": used, "label": label, "from": source,
            "unused": unused,
            "scan": scan.as_ref().map(|(i, _)| i),
            "personal_in_clear": clear.iter().map(|(c, k)| json!({"column": c, "kind": k})).collect::<Vec<_>>(),
            "passed": passed,
        }))?;
        return Ok(crate::commands::ExitStatus::passed(passed));
    }
    if unused.is_empty() {
        outln!("every column is used by the model ({source})");
    } else {
        outln!(
            "unused by the model ({source}): {} (drop them from the training data)",
            unused
                .iter()
                .map(|c| format!("`{c}`"))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    match &scan {
        None => outln!(
            "no signed data scan of this table: run `aigis data scan {}` to find its personal data",
            args.input.display()
        ),
        Some((i, _)) if clear.is_empty() => {
            outln!("no personal column kept in the clear (scan evidence #{i})")
        }
        Some((i, _)) => outln!(
            "personal data kept in the clear (scan evidence #{i}): {} (tokenize with `aigis data mask` or protect with `aigis data protect`)",
            clear
                .iter()
                .map(|(c, k)| format!("`{c}` ({k})"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
    Ok(crate::commands::ExitStatus::passed(passed))
}
