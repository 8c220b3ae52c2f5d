//! One module per verb.

pub(crate) mod attest;
pub(crate) mod crypt;
pub(crate) mod data;
pub(crate) mod demo;
mod demo_data;
mod demo_model;
mod evidence;
mod ingest;
mod init;
mod keys;
mod ledger;
mod mask;
mod model;
mod model_sign;
mod model_watermark;
mod quarantine;
mod registry;
pub(crate) mod scan;

use anyhow::Result;

use crate::cli::{Cli, Command};

pub fn run(cli: &Cli) -> Result<()> {
    match &cli.command {
        Command::Init(args) => init::run(cli, args),
        Command::Keys(cmd) => keys::run(cli, cmd),
        Command::Attest(args) => attest::run(cli, args),
        Command::Evidence(cmd) => evidence::run(cli, cmd),
        Command::Ledger(cmd) => ledger::run(cli, cmd),
        Command::Data(cmd) => data::run(cli, cmd),
        Command::Model(cmd) => model::run(cli, cmd),
        Command::Demo(args) => demo::run(cli, args),
    }
}
