//! `aigis data protect|reveal|erase`: erasure by crypto-shredding, through
//! `aigis_data::shred`; this module parses, calls, renders and records.

use aigis_data::shred::{self, Store};
use aigis_evidence::{Erasure, Tool};
use aigis_ledger::Project;
use anyhow::Result;
use serde_json::json;

use crate::cli::{Cli, DataEraseArgs, DataProtectArgs, DataRevealArgs};
use crate::{context, output};

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
    let (mask, _) = super::mask::project_key(&project, true)?;
    let mut store = store(&project)?;
    let done = shred::protect_csv(
        &args.input,
        &args.output,
        &args.subject,
        &args.columns,
        &mask,
        &mut store,
    )?;
    let pass = context::passphrase();
    store.save(pass.as_deref().map(String::as_str))?;
    if cli.json {
        return output::json(
            &json!({"rows": done.rows, "subjects": done.subjects, "cells": done.cells, "output": args.output}),
        );
    }
    outln!(
        "protected {} rows of {} subjects ({} cells, each under its subject's key) into `{}`",
        done.rows,
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
    let r = shred::reveal_csv(&args.input, &args.output, &store)?;
    if cli.json {
        return output::json(
            &json!({"rows": r.rows, "cells": r.cells, "erased_cells": r.erased_cells, "erased_rows": r.erased_rows}),
        );
    }
    outln!(
        "revealed {} cells of {} rows into `{}`; {} cells of {} rows belong to erased subjects and are empty",
        r.cells,
        r.rows,
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
    let (mask, _) = super::mask::project_key(&project, false)?;
    let subject = shred::subject_hash(&mask, &args.subject);
    let mut store = store(&project)?;
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
