//! `aigis data …`: one module per verb or pair of verbs (`data/scan.rs` is `aigis data
//! profile` and `aigis data scan`, `data/manifest.rs` is `sign` and `verify`,
//! `data/quarantine.rs` is `release`, `data/mask.rs` is `mask` and `detokenize`);
//! `encrypt` / `decrypt` are `commands/crypt.rs`, shared with `aigis model`.

pub(crate) mod ingest;
pub(crate) mod manifest;
pub(crate) mod mask;
pub(crate) mod quarantine;
pub(crate) mod scan;
pub(crate) mod shred;

use anyhow::Result;

use crate::cli::{Cli, DataCommand};
use crate::commands::crypt::{self, Artifact};
use crate::commands::{ExitStatus, done};

pub fn run(cli: &Cli, cmd: &DataCommand) -> Result<ExitStatus> {
    match cmd {
        DataCommand::Sign(args) => done(manifest::sign(cli, args)),
        DataCommand::Verify(args) => manifest::verify(cli, args),
        DataCommand::Profile(args) => done(scan::profile(cli, args)),
        DataCommand::Scan(args) => scan::scan(cli, args),
        DataCommand::Ingest(args) => done(ingest::ingest(cli, args)),
        DataCommand::Release(args) => done(quarantine::release(cli, args)),
        DataCommand::Encrypt(args) => done(crypt::encrypt(cli, args, Artifact::Dataset)),
        DataCommand::Decrypt(args) => done(crypt::decrypt(cli, args, Artifact::Dataset)),
        DataCommand::Mask(args) => done(mask::mask(cli, args)),
        DataCommand::Detokenize(args) => done(mask::detokenize(cli, args)),
        DataCommand::Protect(args) => done(shred::protect(cli, args)),
        DataCommand::Reveal(args) => done(shred::reveal(cli, args)),
        DataCommand::Erase(args) => done(shred::erase(cli, args)),
        DataCommand::Retention { enforce } => shred::retention(cli, *enforce),
        DataCommand::Minimise(args) => shred::minimise(cli, args),
    }
}
