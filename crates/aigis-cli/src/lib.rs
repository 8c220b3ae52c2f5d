//! The aigis command line. `aigis`'s `main` calls [`main`]; everything else is here.
//!
//! Exit codes: 0 ok; 1 the check ran and the artifact failed it (a bad signature, a
//! broken proof, a tampered ledger); 2 usage, I/O or internal error.
//!
//! ```no_run
//! std::process::exit(aigis_cli::main());
//! ```
#![forbid(unsafe_code)]

mod cli;
mod commands;
mod context;
mod output;
mod report;

use std::io::IsTerminal as _;

use clap::Parser as _;

pub use cli::Cli;

/// The check ran and failed: exit 1. The message has already been printed if empty.
#[derive(Debug)]
pub struct CheckFailed(pub String);

impl std::fmt::Display for CheckFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CheckFailed {}

/// Parses the arguments, runs the command and returns the exit code.
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { 2 } else { 0 };
        }
    };
    init_logging(&cli);
    match commands::run(&cli) {
        Ok(()) => 0,
        Err(e) => {
            if let Some(failed) = e.downcast_ref::<CheckFailed>() {
                if !failed.0.is_empty() {
                    eprintln!("error: {failed}");
                }
                return 1;
            }
            eprintln!("error: {e}");
            for cause in e.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            2
        }
    }
}

fn init_logging(cli: &Cli) {
    let level = match (cli.quiet, cli.verbose) {
        (true, _) => tracing::Level::ERROR,
        (false, 0) => tracing::Level::WARN,
        (false, 1) => tracing::Level::INFO,
        (false, 2) => tracing::Level::DEBUG,
        _ => tracing::Level::TRACE,
    };
    let color = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let _ = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr)
        .with_ansi(color)
        .with_target(false)
        .try_init();
}
