//! `aigis monitor …`: `monitor/drift.rs` is `aigis monitor drift`.

pub(crate) mod drift;

use anyhow::Result;

use crate::cli::{Cli, MonitorCommand};
use crate::commands::ExitStatus;

pub fn run(cli: &Cli, cmd: &MonitorCommand) -> Result<ExitStatus> {
    match cmd {
        MonitorCommand::Drift(args) => drift::drift(cli, args),
    }
}
