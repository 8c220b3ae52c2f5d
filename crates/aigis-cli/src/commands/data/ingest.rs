//! `aigis data ingest SRC`: parse, call `aigis_intake::ingest`, render.

use aigis_intake::ingest::{self, Outcome, Request};
use anyhow::Result;

use crate::cli::{Cli, DataIngestArgs};
use crate::report::FailOn;
use crate::{context, output};

pub fn ingest(cli: &Cli, args: &DataIngestArgs) -> Result<()> {
    let project = context::project(cli)?;
    let o = ingest_in(cli, &project, args)?;
    output::note(
        cli,
        &format!(
            "source `{}`: signature ok (key {}), {} file(s) match the signed manifest",
            o.source, o.signed_by, o.files
        ),
    );
    if cli.json {
        output::json(&serde_json::to_value(&o)?)?;
    } else if o.accepted {
        outln!(
            "accepted {} file(s) from source `{}`; manifest {} (evidence #{}), provenance evidence #{}",
            o.files,
            o.source,
            o.manifest
                .as_deref()
                .map_or("-".into(), |p| p.display().to_string()),
            o.manifest_evidence.map_or("-".into(), |i| i.to_string()),
            o.provenance_evidence
        );
    }
    if !o.accepted {
        return Err(crate::failed(format!(
            "refused: {} (the refusal is recorded as provenance evidence #{})",
            o.refusals.join("; "),
            o.provenance_evidence
        )));
    }
    Ok(())
}

/// Ingests into `project` as `args` say (shared with `aigis demo`).
pub(crate) fn ingest_in(
    cli: &Cli,
    project: &aigis_ledger::Project,
    args: &DataIngestArgs,
) -> Result<Outcome> {
    let key = context::signing_key(project)?;
    let request = Request {
        src: args.src.clone(),
        manifest: args.manifest.clone(),
        profile: args.profile.clone(),
        label: args.label.clone(),
        fail_on: FailOn(args.fail_on.severity()),
        out: args.out.clone(),
    };
    let bar = output::Bar::new(cli);
    Ok(ingest::ingest(project, &key, &request, &bar)?)
}
