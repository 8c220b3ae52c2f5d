//! What every command needs: the project, the passphrase, trusted keys.

use std::path::Path;

use aigis_crypto::note::StandardVerifier;
use aigis_crypto::{SigningKey, Zeroizing};
use aigis_ledger::Project;
use aigis_scan::{AllowEntry, Allowlist, Scanner};
use anyhow::{Context as _, Result};

use crate::Cli;

/// The environment variable holding the signing key's passphrase.
pub const PASSPHRASE_ENV: &str = "AIGIS_KEY_PASSPHRASE";

/// The project named by `--project` / `AIGIS_PROJECT`, or found from the current folder up.
/// Its `aigis.toml` is checked whole, the model allowlist against the scanner's policy
/// too: a project with a bad entry is refused by every command, not only by the ones
/// that scan.
pub fn project(cli: &Cli) -> Result<Project> {
    let project = find_project(cli)?;
    check_config(&project)?;
    Ok(project)
}

/// The project if there is one. No project is not an error for commands that also work
/// without one (a model scan is then not recorded; the note says so); a project whose
/// `aigis.toml` is invalid is.
pub fn project_if_any(cli: &Cli) -> Result<Option<Project>> {
    let missing_dir = cli
        .project
        .as_ref()
        .is_some_and(|d| !d.join(aigis_ledger::project::CONFIG_FILE).is_file());
    match find_project(cli) {
        Ok(project) => {
            check_config(&project)?;
            Ok(Some(project))
        }
        Err(e)
            if missing_dir
                || matches!(
                    e.downcast_ref::<aigis_ledger::Error>(),
                    Some(aigis_ledger::Error::NoProject { .. })
                ) =>
        {
            crate::output::not_recorded(cli, &e);
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// The sections of `aigis.toml` the ledger keeps as written, read by their stages: every
/// command refuses a project whose file is wrong, not only the ones that use the part.
fn check_config(project: &Project) -> Result<()> {
    allowlist(project)?;
    if let Some(shadow) = &project.config.model.gate.shadow
        && let Err((key, message)) = shadow.check()
    {
        anyhow::bail!(
            "invalid project file `{}`: model.gate.shadow.{key}: {message}",
            project.layout().config_file().display()
        );
    }
    if let Some(detector) = &project.config.model.gate.detector
        && let Err((key, message)) = detector.check()
    {
        anyhow::bail!(
            "invalid project file `{}`: model.gate.detector.{key}: {message}",
            project.layout().config_file().display()
        );
    }
    aigis_data::sources::DataConfig::from_table(&project.config.data).with_context(|| {
        format!(
            "invalid project file `{}`",
            project.layout().config_file().display()
        )
    })?;
    crate::commands::redteam::project_thresholds(Some(project))?;
    crate::commands::fairness::project_thresholds(Some(project))?;
    if !project.config.serve.is_empty() {
        aigis_gateway::ServeConfig::from_table(
            &project.config.serve,
            &project.layout().config_file(),
        )?;
    }
    Ok(())
}

/// The project's reviewed pickle allowlist (`[[model.allow]]`), validated.
pub fn allowlist(project: &Project) -> Result<Allowlist> {
    let entries = project.config.model.allow.iter().map(|a| AllowEntry {
        name: a.name.clone(),
        reason: a.reason.clone(),
        by: a.by.clone(),
    });
    Allowlist::new(entries).map_err(|e| {
        crate::hinted(
            format!(
                "invalid project file `{}`: [[model.allow]]: {e}",
                project.root.join(aigis_ledger::project::CONFIG_FILE).display()
            ),
            "an entry allows one class or function the team pickles itself, by its exact `module.qualname`; dangerous callables cannot be allowed",
        )
    })
}

/// The model scanner for this project: the default bounds and its allowlist.
pub fn scanner(project: Option<&Project>) -> Result<Scanner> {
    scanner_with(project, &[])
}

/// The scanner with the project's allowlist and known-bad feeds (`[model] known_bad`),
/// and the feeds in `extra` (`--known-bad`).
pub fn scanner_with(project: Option<&Project>, extra: &[std::path::PathBuf]) -> Result<Scanner> {
    let mut known_bad = aigis_scan::KnownBad::new();
    if let Some(p) = project {
        for feed in &p.config.model.known_bad {
            known_bad.add_file(&p.root.join(feed))?;
        }
    }
    for feed in extra {
        known_bad.add_file(feed)?;
    }
    Ok(Scanner::new()
        .with_allowlist(match project {
            Some(p) => allowlist(p)?,
            None => Allowlist::default(),
        })
        .with_known_bad(known_bad))
}

fn find_project(cli: &Cli) -> Result<Project> {
    match &cli.project {
        Some(dir) => {
            if !dir.join(aigis_ledger::project::CONFIG_FILE).is_file() {
                return Err(crate::hinted(
                    format!(
                        "no aigis project in `{}` (no {} there)",
                        dir.display(),
                        aigis_ledger::project::CONFIG_FILE
                    ),
                    format!("run `aigis init {}`", dir.display()),
                ));
            }
            Ok(Project::load(dir)?)
        }
        None => {
            let cwd = std::env::current_dir().context("reading the current folder")?;
            Ok(Project::discover(&cwd)?)
        }
    }
}

/// The passphrase from the environment, if set (kept in zeroized memory).
pub fn passphrase() -> Option<Zeroizing<String>> {
    std::env::var(PASSPHRASE_ENV)
        .ok()
        .filter(|p| !p.is_empty())
        .map(Zeroizing::new)
}

/// The acting person's key file (`--identity`), set once at start.
static IDENTITY: std::sync::OnceLock<Option<std::path::PathBuf>> = std::sync::OnceLock::new();
/// The acting person's one-time password (`--otp`), set once at start.
static OTP: std::sync::OnceLock<Option<Zeroizing<String>>> = std::sync::OnceLock::new();

/// Remembers `--identity` and `--otp` for the commands that sign and authorize.
pub fn set_actor(cli: &Cli) {
    let _ = IDENTITY.set(cli.identity.clone());
    let _ = OTP.set(cli.otp.clone().map(Zeroizing::new));
}

/// The key that signs what this command records: the acting person's (`--identity`),
/// else the project's.
pub fn signing_key(project: &Project) -> Result<SigningKey> {
    let pass = passphrase();
    if let Some(Some(path)) = IDENTITY.get() {
        return aigis_crypto::keyfile::load(path, pass.as_deref().map(String::as_str))
            .with_context(|| format!("reading the identity `{}`", path.display()));
    }
    project_key(project)
}

/// The project's own key, whoever acts (key rotation, `roles init`).
pub fn project_key(project: &Project) -> Result<SigningKey> {
    let pass = passphrase();
    Ok(project.signing_key(pass.as_deref().map(String::as_str))?)
}

/// The roles that also need the acting person's second factor.
pub const SECOND_FACTOR_ROLES: [&str; 2] = ["admin", "releaser"];

/// Refuses (exit 1) when the project has roles and `key` does not hold `role` for `what`;
/// for an admin or releaser action, also when the person's one-time password (`--otp`)
/// is missing or wrong. A project without roles checks nothing.
pub fn require_role(project: &Project, key: &SigningKey, role: &str, what: &str) -> Result<()> {
    let Some(roles) = project.roles()? else {
        return Ok(());
    };
    let id = key.public().key_id();
    let who = roles.roles.member(&id).map_or_else(
        || format!("key {id} (not a member)"),
        |m| format!("`{}` (key {id})", m.name),
    );
    if !roles.roles.holds(&id, role) {
        return Err(crate::failed_with_hint(
            format!("{what} needs the role `{role}`, which {who} does not hold"),
            format!(
                "an admin grants it: aigis roles grant {role} --key VKEY; or act as a member who holds it: --identity KEY_FILE"
            ),
        ));
    }
    if SECOND_FACTOR_ROLES.contains(&role) {
        let code = OTP.get().and_then(Option::as_ref);
        crate::commands::roles::second_factor(project, key, code.map(|c| c.as_str()), what)?;
    }
    Ok(())
}

/// The project's keyring as the keys a model signature (or a detector file's) may be
/// made with.
pub fn model_verifiers(project: &Project) -> Result<Vec<aigis_model::signing::VerifierKey>> {
    Ok(project
        .keyring()?
        .public_keys()
        .into_iter()
        .map(aigis_model::signing::VerifierKey::from)
        .collect())
}

/// A verifier key given as its string (`aigis keys show` prints one) or as a file holding
/// it; the string, checked to be a verifier key.
pub fn verifier_key_arg(arg: &str) -> Result<String> {
    let path = Path::new(arg);
    let text = if path.is_file() {
        String::from_utf8(read_input(path, "verifier key", 64 << 10)?)
            .map_err(|_| anyhow::anyhow!("the verifier key `{arg}` is not text"))?
    } else {
        arg.to_owned()
    };
    let text = text.trim().to_owned();
    aigis_crypto::note::public_key_of(&text).with_context(|| {
        format!(
            "`{arg}` is not a verifier key (`aigis keys show` or `aigis keys identity` prints one)"
        )
    })?;
    Ok(text)
}

/// Reads a file, or stdin for `-`, with a size limit, naming the file on error.
pub fn read_input(path: &Path, what: &str, limit: u64) -> Result<Vec<u8>> {
    use std::io::Read as _;
    let mut buf = Vec::new();
    if path == Path::new("-") {
        std::io::stdin()
            .take(limit + 1)
            .read_to_end(&mut buf)
            .with_context(|| format!("reading the {what} from stdin"))?;
    } else {
        let file = std::fs::File::open(path)
            .with_context(|| format!("cannot open the {what} `{}`", path.display()))?;
        file.take(limit + 1)
            .read_to_end(&mut buf)
            .with_context(|| format!("reading the {what} `{}`", path.display()))?;
    }
    if buf.len() as u64 > limit {
        anyhow::bail!(
            "the {what} `{}` is larger than {limit} bytes",
            path.display()
        );
    }
    Ok(buf)
}

/// Writes `bytes` to `path` atomically (a reader never sees half a file).
pub fn write_output(path: &Path, bytes: &[u8]) -> Result<()> {
    aigis_crypto::fs::write_atomic(path, bytes, 0o644)
        .with_context(|| format!("writing `{}`", path.display()))
}

/// C2SP verifiers from verifier key strings given on the command line.
pub fn verifiers(keys: &[String]) -> Result<Vec<StandardVerifier>> {
    keys.iter()
        .map(|k| Ok(aigis_crypto::note::parse_verifier_key(k)?))
        .collect()
}

/// The JSON string a value serializes to (an enum's `rename_all` name), for evidence
/// fields that record a library's enum as text.
pub(crate) fn as_json_string<T: serde::Serialize>(value: &T) -> Result<String> {
    match serde_json::to_value(value)? {
        serde_json::Value::String(s) => Ok(s),
        other => anyhow::bail!("internal error: `{other}` is not written as a JSON string"),
    }
}

/// A library's report as the evidence type with the same JSON shape (the evidence types
/// do not depend on the crates that make the reports). A field the evidence type does
/// not know is an error, so the two cannot drift apart silently.
pub(crate) fn convert<T: serde::Serialize, U: serde::de::DeserializeOwned>(
    value: &T,
    what: &str,
) -> Result<U> {
    let json = serde_json::to_value(value)?;
    serde_json::from_value(json)
        .with_context(|| format!("internal error: the {what} does not match its evidence type"))
}
