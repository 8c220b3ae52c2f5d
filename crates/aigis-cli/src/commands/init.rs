use aigis_crypto::keyfile::KdfParams;
use aigis_ledger::Project;
use aigis_ledger::project::{InitReport, Made};
use anyhow::{Context as _, Result};

use crate::cli::{Cli, InitArgs};
use crate::{context, output};

pub fn run(cli: &Cli, args: &InitArgs) -> Result<()> {
    let dir = match &args.dir {
        Some(d) => d.clone(),
        None => std::env::current_dir().context("reading the current folder")?,
    };
    let (project, report) = init(&dir, args.name.as_deref())?;
    if cli.json {
        return output::json(&serde_json::to_value(&report)?);
    }
    print_report(&project, &report);
    Ok(())
}

/// Creates or completes the project in `dir`; shared with `aigis demo`.
pub fn init(dir: &std::path::Path, name: Option<&str>) -> Result<(Project, InitReport)> {
    let pass = context::passphrase();
    Ok(Project::init(
        dir,
        name,
        pass.as_deref().map(String::as_str),
        KdfParams::default(),
    )?)
}

fn print_report(project: &Project, r: &InitReport) {
    let said = |made: Made, what: &str, path: &str| match made {
        Made::Created => outln!("  created {what} {path}"),
        Made::Kept => outln!("  kept    {what} {path} (already there; not replaced)"),
    };
    outln!("aigis project in {}", r.root.display());
    let layout = project.layout();
    let relative = |p: std::path::PathBuf| {
        p.strip_prefix(&project.root)
            .map_or_else(|_| p.display().to_string(), |p| p.display().to_string())
    };
    said(r.config, "config     ", &relative(layout.config_file()));
    said(
        r.signing_key,
        "signing key",
        &relative(layout.signing_key()),
    );
    said(r.ledger, "ledger     ", &relative(project.ledger_path()));
    if r.key_encrypted {
        outln!("  the signing key is sealed with the passphrase in AIGIS_KEY_PASSPHRASE");
    } else if r.signing_key == Made::Created {
        outln!(
            "  the signing key is not encrypted (set AIGIS_KEY_PASSPHRASE before init to seal it)"
        );
    }
    outln!("origin:       {}", r.origin);
    outln!("verifier key: {}", r.verifier_key);
}
