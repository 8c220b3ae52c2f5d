use aigis_core::{Digest, Statement};
use anyhow::{Context as _, Result};
use serde_json::json;

use crate::cli::{AttestArgs, Cli};
use crate::{context, output};

/// Predicates are documents, not datasets: 16 MiB is far beyond any real one.
const MAX_PREDICATE: u64 = 16 << 20;

pub fn run(cli: &Cli, args: &AttestArgs) -> Result<()> {
    let project = context::project(cli)?;
    let mut subjects = Vec::new();
    for path in &args.subjects {
        let digest = aigis_crypto::sha256_file(path)?;
        subjects.push((path.display().to_string(), digest));
    }
    for spec in &args.subject_digest {
        let (name, digest) = spec
            .split_once('=')
            .with_context(|| format!("`--subject-digest {spec}` is not `NAME=sha256:HEX`"))?;
        let digest: Digest = digest
            .parse()
            .with_context(|| format!("in `--subject-digest {spec}`"))?;
        subjects.push((name.to_owned(), digest));
    }
    let raw = context::read_input(&args.predicate, "predicate", MAX_PREDICATE)?;
    let predicate: serde_json::Value = serde_json::from_slice(&raw)
        .with_context(|| format!("the predicate `{}` is not JSON", args.predicate.display()))?;
    let statement = Statement::new(subjects, &args.predicate_type, predicate)?;
    let key = context::signing_key(&project)?;
    // The predicate is the user's, of any type: the statement is appended as it is.
    let (index, leaf) = project.open_ledger()?.append_statement(&statement, &key)?;

    if cli.json {
        return output::json(&json!({
            "index": index,
            "leaf_hash": hex::encode(leaf.0),
            "predicate_type": statement.predicate_type,
            "subjects": statement.subject,
            "key_id": key.public().key_id(),
        }));
    }
    outln!("{index}");
    output::note(
        cli,
        &format!(
            "appended evidence #{index} ({}) about {} subject(s); `aigis ledger checkpoint` signs the ledger's new state",
            statement.predicate_type,
            statement.subject.len()
        ),
    );
    Ok(())
}
