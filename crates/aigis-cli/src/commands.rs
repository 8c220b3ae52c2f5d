//! One module per command, laid out as the command tree (uv's `commands/`): the code of
//! `aigis model sign` is in `commands/model/sign.rs`, of `aigis data scan` in
//! `commands/data/scan.rs`; a group's file (`model.rs`, `data.rs`) dispatches its verbs.
//! `crypt.rs` serves `data` and `model` `encrypt`/`decrypt` and `keys recipient`.

pub(crate) mod attest;
pub(crate) mod certify;
pub(crate) mod crypt;
pub(crate) mod data;
pub(crate) mod demo;
pub(crate) mod deps;
pub(crate) mod detect;
pub(crate) mod evidence;
pub(crate) mod explain;
pub(crate) mod fairness;
pub(crate) mod federate;
pub(crate) mod gate;
pub(crate) mod init;
pub(crate) mod keys;
pub(crate) mod ledger;
pub(crate) mod model;
pub(crate) mod monitor;
pub(crate) mod privacy;
pub(crate) mod redteam;
pub(crate) mod report;
pub(crate) mod retired;
pub(crate) mod roles;
pub(crate) mod serve;
pub(crate) mod target;
pub(crate) mod train;

use anyhow::Result;

use crate::cli::{Cli, Command};

/// How a command ended, when it ran to the end (uv's `ExitStatus`, ripgrep's exit code
/// as a value): a failed check is a status, not an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// Every check passed: exit 0.
    Success,
    /// The command ran and the artifact failed its check: exit 1. What failed has been
    /// printed.
    Failure,
}

impl ExitStatus {
    /// The process exit code.
    pub fn code(self) -> i32 {
        match self {
            Self::Success => 0,
            Self::Failure => 1,
        }
    }

    /// `Success` when `passed`.
    pub fn passed(passed: bool) -> Self {
        if passed { Self::Success } else { Self::Failure }
    }
}

/// A threshold option's `METRIC=VALUE` (`flag` names the option in errors, `example` is
/// one that works): the metric's name, trimmed, and the value, a finite number.
pub(crate) fn metric_value<'a>(text: &'a str, flag: &str, example: &str) -> Result<(&'a str, f64)> {
    let (metric, value) = text.split_once('=').ok_or_else(|| {
        crate::hinted(
            format!("{flag} `{text}` is not METRIC=VALUE"),
            format!("for example {flag} {example}"),
        )
    })?;
    let value: f64 = value
        .trim()
        .parse()
        .ok()
        .filter(|v: &f64| v.is_finite())
        .ok_or_else(|| anyhow::anyhow!("{flag} `{text}`: `{value}` is not a number"))?;
    Ok((metric.trim(), value))
}

/// `[redteam]` or `[fairness]` of `aigis.toml`: thresholds every run of the command in the
/// project is held to, as `METRIC=VALUE` (a command-line threshold on the same metric and
/// bound replaces the file's).
///
/// ```toml
/// [redteam]
/// fail_under = ["robust-accuracy=0.6"]
/// fail_over = ["mia-auc=0.6", "fidelity-at-1000=0.8"]
/// ```
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ProjectThresholds {
    #[serde(default)]
    pub(crate) fail_under: Vec<String>,
    #[serde(default)]
    pub(crate) fail_over: Vec<String>,
}

impl ProjectThresholds {
    /// The `[name]` table of the project's file, when there is a project.
    pub(crate) fn of(project: Option<&aigis_ledger::Project>, name: &str) -> Result<Self> {
        let Some(project) = project else {
            return Ok(Self::default());
        };
        let table = match name {
            "redteam" => &project.config.redteam,
            _ => &project.config.fairness,
        };
        toml::Value::Table(table.clone())
            .try_into()
            .map_err(|e: toml::de::Error| {
                anyhow::anyhow!(
                    "invalid project file `{}`: [{name}]: {}",
                    project.layout().config_file().display(),
                    e.message()
                )
            })
    }

    /// How the file names an entry in errors, e.g. "`aigis.toml` [redteam] fail_under".
    pub(crate) fn origin(project: &aigis_ledger::Project, name: &str, key: &str) -> String {
        format!(
            "`{}` [{name}] {key}",
            project.layout().config_file().display()
        )
    }
}

/// A command with no check of its own: done is success.
pub(crate) fn done(result: Result<()>) -> Result<ExitStatus> {
    result.map(|()| ExitStatus::Success)
}

/// Runs the command. An error that says the check ran and the artifact failed it
/// ([`crate::is_check_failure`]) becomes [`ExitStatus::Failure`] here, its message
/// printed once as `error: …` on stderr; every other error is returned (exit 2).
pub fn run(cli: &Cli) -> Result<ExitStatus> {
    match dispatch(cli) {
        Err(e) if crate::is_check_failure(&e) => {
            crate::print_error(&e);
            Ok(ExitStatus::Failure)
        }
        other => other,
    }
}

fn dispatch(cli: &Cli) -> Result<ExitStatus> {
    crate::context::set_actor(cli);
    match &cli.command {
        Command::Init(args) => done(init::run(cli, args)),
        Command::Keys(cmd) => done(keys::run(cli, cmd)),
        Command::Attest(args) => done(attest::run(cli, args)),
        Command::Evidence(cmd) => done(evidence::run(cli, cmd)),
        Command::Ledger(cmd) => ledger::run(cli, cmd),
        Command::Data(cmd) => data::run(cli, cmd),
        Command::Model(cmd) => model::run(cli, cmd),
        Command::Monitor(cmd) => monitor::run(cli, cmd),
        Command::Detect(args) => detect::run(cli, args),
        Command::Fairness(args) => fairness::run(cli, args),
        Command::Explain(args) => done(explain::run(cli, args)),
        Command::Redteam(args) => redteam::run(cli, args),
        Command::Privacy(cmd) => done(privacy::run(cli, cmd)),
        Command::Train(args) => done(train::run(cli, args)),
        Command::Certify(args) => done(certify::run(cli, args)),
        Command::Federate(cmd) => federate::run(cli, cmd),
        Command::Gate(args) => gate::run(cli, args),
        Command::Report(cmd) => report::run(cli, cmd),
        Command::Deps(cmd) => deps::run(cli, cmd),
        Command::Roles(cmd) => done(roles::run(cli, cmd)),
        Command::Bom(args) => done(deps::bom(cli, args)),
        Command::Serve(args) => done(serve::run(cli, args)),
        Command::Demo(args) => done(demo::run(cli, args)),
    }
}
