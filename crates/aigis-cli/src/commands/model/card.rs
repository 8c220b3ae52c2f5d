//! `aigis model card NAME VERSION`: a version's model card from the ledger's evidence.

use std::fmt::Write as _;

use aigis_registry::card::{self, Card};
use anyhow::Result;

use crate::cli::{Cli, ModelCardArgs};
use crate::{context, output};

pub(crate) fn run(cli: &Cli, args: &ModelCardArgs) -> Result<()> {
    let project = context::project(cli)?;
    let reg = aigis_registry::open(&project)?;
    let record = reg.version(&args.name, args.version)?;
    let card = card::card(&project, &reg, &record)?;
    let text = if cli.json {
        let mut t = serde_json::to_string_pretty(&card)?;
        t.push('\n');
        t
    } else {
        markdown(&card)?
    };
    match &args.output {
        Some(path) => {
            context::write_output(path, text.as_bytes())?;
            output::note(cli, &format!("wrote the model card to {}", path.display()));
        }
        None => out!("{text}"),
    }
    Ok(())
}

/// The card as Markdown: each statement ends with the ledger index that proves it.
pub(crate) fn markdown(c: &Card) -> Result<String> {
    let mut m = String::new();
    writeln!(m, "# Model card: {} version {}", c.name, c.version)?;
    writeln!(m)?;
    writeln!(
        m,
        "Made by aigis on {} from the project's ledger ({} entries); every statement cites the entry that proves it (`aigis evidence show N`), and nothing here comes from elsewhere.",
        c.made_at, c.ledger_size
    )?;
    writeln!(m)?;
    writeln!(m, "## Model details")?;
    writeln!(m)?;
    writeln!(m, "- Version digest: `{}`", c.digest)?;
    writeln!(
        m,
        "- Registered {} by key `{}`, from `{}`",
        c.registered_at, c.registered_by, c.source
    )?;
    writeln!(
        m,
        "- Stages held now: {}",
        if c.stages.is_empty() {
            "none".to_string()
        } else {
            c.stages.join(", ")
        }
    )?;
    writeln!(m)?;
    writeln!(m, "| file | bytes | SHA-256 |")?;
    writeln!(m, "|---|---|---|")?;
    for f in &c.files {
        writeln!(m, "| `{}` | {} | `{}` |", f.path, f.bytes, f.sha256)?;
    }
    for s in &c.sections {
        writeln!(m)?;
        writeln!(m, "## {}", s.title)?;
        writeln!(m)?;
        if s.statements.is_empty() {
            writeln!(m, "No evidence.")?;
        }
        for l in &s.statements {
            writeln!(
                m,
                "- {} (evidence #{}, {}, {} day(s) old)",
                l.text, l.evidence, l.recorded_at, l.age_days
            )?;
        }
    }
    writeln!(m)?;
    writeln!(m, "## Missing evidence")?;
    writeln!(m)?;
    if c.missing.is_empty() {
        writeln!(m, "None.")?;
    }
    for x in &c.missing {
        writeln!(m, "- {} — {}", x.what, x.how)?;
    }
    if !c.not_counted.is_empty() {
        writeln!(m)?;
        writeln!(m, "## Not counted")?;
        writeln!(m)?;
        for x in &c.not_counted {
            writeln!(m, "- Evidence #{}: {}", x.evidence, x.why)?;
        }
    }
    Ok(m)
}
