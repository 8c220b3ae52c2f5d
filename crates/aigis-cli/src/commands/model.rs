//! `aigis model …`: one module per verb (`model/scan.rs` is `aigis model scan`); the
//! registry's verbs (`register`, `list`, `show`, `promote`, `rollback`) share
//! `model/registry.rs`, and `encrypt` / `decrypt` are `commands/crypt.rs`, shared with
//! `aigis data`.

pub(crate) mod card;
pub(crate) mod registry;
pub(crate) mod scan;
pub(crate) mod sign;
pub(crate) mod watermark;

use anyhow::Result;

use crate::cli::{Cli, ModelCommand};
use crate::commands::crypt::{self, Artifact};
use crate::commands::{ExitStatus, done};

pub fn run(cli: &Cli, cmd: &ModelCommand) -> Result<ExitStatus> {
    match cmd {
        ModelCommand::Scan(args) => scan::scan(cli, args),
        ModelCommand::Encrypt(args) => done(crypt::encrypt(cli, args, Artifact::Model)),
        ModelCommand::Decrypt(args) => done(crypt::decrypt(cli, args, Artifact::Model)),
        ModelCommand::Register(args) => done(registry::register(cli, args)),
        ModelCommand::List => done(registry::list(cli)),
        ModelCommand::Show(args) => done(registry::show(cli, args)),
        ModelCommand::Card(args) => done(card::run(cli, args)),
        ModelCommand::Promote(args) => registry::promote(cli, args),
        ModelCommand::Rollback(args) => registry::rollback(cli, args),
        ModelCommand::Sign(args) => done(sign::sign(cli, args)),
        ModelCommand::Verify(args) => sign::verify(cli, args),
        ModelCommand::Watermark(cmd) => watermark::run(cli, cmd),
    }
}
