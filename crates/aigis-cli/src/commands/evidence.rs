use std::io::Write as _;
use std::path::Path;

use aigis_core::{Digest, Statement};
use aigis_crypto::dsse::Envelope;
use aigis_ledger::{EntryRecord, Query};
use anyhow::{Context as _, Result};
use serde_json::json;

use crate::cli::{Cli, EvidenceCommand, ListArgs, ShowArgs};
use crate::{context, output};

pub fn run(cli: &Cli, cmd: &EvidenceCommand) -> Result<()> {
    match cmd {
        EvidenceCommand::List(args) => list(cli, args),
        EvidenceCommand::Show(args) => show(cli, args),
    }
}

fn list(cli: &Cli, args: &ListArgs) -> Result<()> {
    let project = context::project(cli)?;
    let subject =
        match &args.subject {
            None => None,
            Some(s) if Path::new(s).is_file() => Some(aigis_crypto::sha256_file(Path::new(s))?),
            Some(s) => Some(s.parse::<Digest>().with_context(|| {
                format!("`--subject {s}` is neither a file nor a sha256 digest")
            })?),
        };
    let query = Query {
        subject,
        predicate_type: args.predicate_type.clone(),
        since_ms: args.since.as_deref().map(output::parse_time).transpose()?,
        until_ms: args.until.as_deref().map(output::parse_time).transpose()?,
        limit: args.limit,
        newest_first: args.limit.is_some(),
        ..Query::default()
    };
    let ledger = project.open_ledger()?;
    let mut found = ledger.store().query(&query)?;
    found.sort_by_key(|e| e.index);
    if cli.json {
        for e in &found {
            output::json_line(&summary(e))?;
        }
        return Ok(());
    }
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "{:>7}  {:<24}  {:<44}  SUBJECTS",
        "INDEX", "RECORDED (UTC)", "PREDICATE TYPE"
    )?;
    for e in &found {
        let subjects = match e.subjects.as_slice() {
            [] => "-".to_owned(),
            [one] => short(one),
            [first, rest @ ..] => format!("{} +{}", short(first), rest.len()),
        };
        writeln!(
            out,
            "{:>7}  {:<24}  {:<44}  {subjects}",
            e.index,
            output::time_ms(e.recorded_at_ms),
            e.predicate_type
        )?;
    }
    drop(out);
    output::note(
        cli,
        &format!(
            "{} entr{}",
            found.len(),
            if found.len() == 1 { "y" } else { "ies" }
        ),
    );
    Ok(())
}

fn show(cli: &Cli, args: &ShowArgs) -> Result<()> {
    let project = context::project(cli)?;
    let ledger = project.open_ledger()?;
    let size = ledger.tree_size()?;
    let entry = ledger.store().entry(args.index)?.with_context(|| {
        format!(
            "there is no entry {} (the ledger has {size} entries, 0..{})",
            args.index,
            size.saturating_sub(1)
        )
    })?;
    if args.raw {
        std::io::stdout().lock().write_all(&entry.body)?;
        return Ok(());
    }
    let envelope = Envelope::from_json(&entry.body)
        .with_context(|| format!("entry {} is not a DSSE envelope", entry.index))?;
    let statement: serde_json::Value = serde_json::from_slice(&envelope.payload)
        .with_context(|| format!("entry {}'s payload is not JSON", entry.index))?;
    if args.statement {
        return output::json(&statement);
    }
    let keys = project.keyring()?.public_keys();
    let signed_by = envelope.verify(&keys);
    let time = aigis_ledger::time::checked_time(&keys, &entry);
    if cli.json {
        let mut v = summary(&entry);
        let envelope: serde_json::Value = serde_json::from_slice(&entry.body)?;
        output::insert(&mut v, "envelope", envelope);
        output::insert(&mut v, "statement", statement);
        let signature = match &signed_by {
            Ok(id) => json!({"verified": true, "key_id": id}),
            Err(e) => json!({"verified": false, "error": e.to_string()}),
        };
        output::insert(&mut v, "signature", signature);
        let time = match &time {
            Ok(Some(_)) => {
                json!({"signed": true, "key_id": entry.time.as_ref().map(|t| &t.key_id)})
            }
            Ok(None) => json!({"signed": false}),
            Err(e) => json!({"signed": false, "error": e}),
        };
        output::insert(&mut v, "time", time);
        return output::json(&v);
    }
    outln!("entry      {}", entry.index);
    match &time {
        Ok(Some(_)) => outln!(
            "recorded   {} (signed by the recording key)",
            output::time_ms(entry.recorded_at_ms)
        ),
        Ok(None) => outln!(
            "recorded   {} (not signed: no decision counts its age)",
            output::time_ms(entry.recorded_at_ms)
        ),
        Err(e) => outln!(
            "recorded   {} NOT VERIFIED: {e}",
            output::time_ms(entry.recorded_at_ms)
        ),
    }
    outln!(
        "leaf hash  {}",
        hex::encode(aigis_ledger::leaf_hash(&entry.body).0)
    );
    match &signed_by {
        Ok(id) => outln!("signature  ok, key {id}"),
        Err(e) => outln!("signature  NOT VERIFIED: {e}"),
    }
    outln!("{}", serde_json::to_string_pretty(&statement)?);
    if Statement::from_json(&envelope.payload).is_err() {
        output::note(cli, "note: the payload is not a valid in-toto Statement v1");
    }
    Ok(())
}

fn summary(e: &EntryRecord) -> serde_json::Value {
    json!({
        "index": e.index,
        "recorded_at": output::time_ms(e.recorded_at_ms),
        "predicate_type": e.predicate_type,
        "subjects": e.subjects,
        "leaf_hash": hex::encode(aigis_ledger::leaf_hash(&e.body).0),
    })
}

fn short(d: &Digest) -> String {
    let s = d.to_string();
    s.get(..19).map_or(s.clone(), |p| format!("{p}…"))
}
