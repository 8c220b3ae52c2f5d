//! `aigis monitor …`: `monitor/drift.rs` is `aigis monitor drift`, `monitor/report.rs`
//! `aigis monitor report`.

pub(crate) mod drift;
pub(crate) mod report;

use anyhow::Result;

use crate::cli::{Cli, MonitorCommand};
use crate::commands::ExitStatus;

pub fn run(cli: &Cli, cmd: &MonitorCommand) -> Result<ExitStatus> {
    match cmd {
        MonitorCommand::Drift(args) => drift::drift(cli, args),
        MonitorCommand::Report(args) => report::report(cli, args),
    }
}
