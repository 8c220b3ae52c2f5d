//! The aigis command line. `aigis`'s `main` calls [`main`]; everything else is here.
//!
//! Exit codes: 0 ok; 1 the check ran and the artifact failed it (a bad signature, a
//! broken proof, a tampered ledger); 2 usage, I/O or internal error. A command returns
//! its outcome as a [`commands::ExitStatus`]; an error is always exit 2, except one that
//! says the check ran and failed ([`aigis_core::CheckFailure`]), which
//! [`commands::run`] turns into a failure, printing its message once.
//!
//! An error prints as `error: …`, one `caused by: …` line per cause, then at most one
//! `hint: …` line, the known fix, taken from the first error along the chain that has one
//! ([`aigis_core::Hint`]); messages hold no hints and no line breaks. Under `--json` the
//! same goes to stdout as `{"error": {"message", "causes", "hint"}}`, so a script always
//! reads one JSON document there.
//!
//! ```no_run
//! std::process::exit(aigis_cli::main());
//! ```
#![forbid(unsafe_code)]

/// `println!` for data on stdout that never panics: a reader that went away (`aigis
/// evidence list | head -1`) ends the program quietly with exit 0, any other write error
/// with exit 2 ([`output::stdout_failed`]).
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        if let Err(e) = writeln!(std::io::stdout().lock(), $($arg)*) {
            $crate::output::stdout_failed(&e)
        }
    }};
}

/// `print!` for data on stdout; see [`outln!`].
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        if let Err(e) = write!(std::io::stdout().lock(), $($arg)*) {
            $crate::output::stdout_failed(&e)
        }
    }};
}

mod cli;
mod commands;
mod context;
mod output;
mod report;

use std::io::IsTerminal as _;

use clap::Parser as _;

pub use cli::Cli;
/// `aigis monitor report`'s reading of a ledger, for its benchmark (`benches/report.rs`).
#[doc(hidden)]
pub use commands::monitor::report::{Report as MonitorReport, gather as monitor_report};

/// A check the command line itself ran and the artifact failed (an ingest refused, a
/// demo step that misbehaved), or a library's check failure put in the command's words:
/// one of the errors [`is_check_failure`] recognizes. Made by [`failed`].
#[derive(Debug)]
pub(crate) struct Failed {
    message: String,
    hint: Option<String>,
}

impl std::fmt::Display for Failed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Failed {}

impl aigis_core::CheckFailure for Failed {
    fn is_check_failure(&self) -> bool {
        true
    }
}

/// The check ran and the artifact failed it, with `message`: exit 1 once
/// [`commands::run`] maps it.
pub(crate) fn failed(message: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(Failed {
        message: message.into(),
        hint: None,
    })
}

/// [`failed`] with a hint (the known fix), printed after the message.
pub(crate) fn failed_with_hint(
    message: impl Into<String>,
    hint: impl Into<String>,
) -> anyhow::Error {
    anyhow::Error::new(Failed {
        message: message.into(),
        hint: Some(hint.into()),
    })
}

/// Whether `e` means the check ran and the artifact failed it: the first error along its
/// cause chain that says so through [`aigis_core::CheckFailure`]. The one place the
/// command line decides between exit 1 and exit 2 for an error.
pub(crate) fn is_check_failure(e: &anyhow::Error) -> bool {
    e.chain()
        .any(|cause| ask(cause).is_some_and(|(_, failed)| failed))
}

/// What the command line asks an error it knows: its hint ([`aigis_core::Hint`]) and
/// whether it says the check ran and failed ([`aigis_core::CheckFailure`]); `None` for an
/// error of another type. The one list of the error types [`hint_of`] and
/// [`is_check_failure`] read.
fn ask(cause: &(dyn std::error::Error + 'static)) -> Option<(Option<String>, bool)> {
    use aigis_core::{CheckFailure as _, Hint as _};
    if let Some(x) = cause.downcast_ref::<Hinted>() {
        return Some((Some(x.hint.clone()), false));
    }
    if let Some(x) = cause.downcast_ref::<Failed>() {
        return Some((x.hint.clone(), x.is_check_failure()));
    }
    if let Some(x) = cause.downcast_ref::<aigis_ledger::Error>() {
        return Some((x.hint(), false));
    }
    if let Some(x) = cause.downcast_ref::<aigis_crypto::Error>() {
        return Some((x.hint(), x.is_check_failure()));
    }
    if let Some(x) = cause.downcast_ref::<aigis_data::Error>() {
        return Some((x.hint(), x.is_check_failure()));
    }
    if let Some(x) = cause.downcast_ref::<aigis_model::Error>() {
        return Some((x.hint(), x.is_check_failure()));
    }
    if let Some(x) = cause.downcast_ref::<aigis_model::watermark::WatermarkError>() {
        return Some((x.hint(), false));
    }
    if let Some(x) = cause.downcast_ref::<aigis_gateway::Error>() {
        return Some((x.hint(), x.is_check_failure()));
    }
    if let Some(x) = cause.downcast_ref::<aigis_intake::Error>() {
        return Some((x.hint(), x.is_check_failure()));
    }
    if let Some(x) = cause.downcast_ref::<aigis_registry::Error>() {
        return Some((x.hint(), false));
    }
    if let Some(x) = cause.downcast_ref::<aigis_ledger::ProofError>() {
        return Some((None, x.is_check_failure()));
    }
    if let Some(x) = cause.downcast_ref::<aigis_ledger::checkpoint::CheckpointError>() {
        return Some((None, x.is_check_failure()));
    }
    None
}

/// An error of the command line itself whose fix is known: the message and the hint stay
/// apart (see [`hint_of`]).
#[derive(Debug)]
pub(crate) struct Hinted {
    message: String,
    hint: String,
}

impl std::fmt::Display for Hinted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Hinted {}

/// An error with a message and, apart, its known fix.
pub(crate) fn hinted(message: impl Into<String>, hint: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(Hinted {
        message: message.into(),
        hint: hint.into(),
    })
}

/// A library error about the file `path`, as one message (`` `path`: … ``) that keeps the
/// error's hint.
pub(crate) fn located<E: std::fmt::Display + aigis_core::Hint>(
    path: &std::path::Path,
    e: &E,
) -> anyhow::Error {
    let message = format!("`{}`: {e}", path.display());
    match e.hint() {
        Some(hint) => hinted(message, hint),
        None => anyhow::anyhow!(message),
    }
}

/// The known fix for `e`: the hint of the first error along its cause chain that has one.
pub(crate) fn hint_of(e: &anyhow::Error) -> Option<String> {
    e.chain()
        .find_map(|cause| ask(cause).and_then(|(hint, _)| hint))
}

/// Prints an error as the crate docs say: text on stderr, or JSON on stdout.
fn report_error(cli: &Cli, e: &anyhow::Error) {
    let causes: Vec<String> = e.chain().skip(1).map(|c| c.to_string()).collect();
    let hint = hint_of(e);
    if cli.json {
        let doc = serde_json::json!({
            "error": {"message": e.to_string(), "causes": causes, "hint": hint}
        });
        if crate::output::json(&doc).is_ok() {
            return;
        }
    }
    print_error(e);
}

/// Prints an error on stderr: `error: …`, one `caused by: …` per cause, then its hint.
pub(crate) fn print_error(e: &anyhow::Error) {
    eprintln!("error: {e}");
    for cause in e.chain().skip(1) {
        eprintln!("  caused by: {cause}");
    }
    if let Some(hint) = hint_of(e) {
        eprintln!("hint: {hint}");
    }
}

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
        Ok(status) => status.code(),
        // The reader of stdout went away (`| head -1`): nothing is wrong, and nobody
        // is left to tell.
        Err(e) if output::is_closed_pipe(&e) => 0,
        Err(e) => {
            report_error(&cli, &e);
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

#[cfg(test)]
mod tests {
    use anyhow::Context as _;

    use super::{failed, hint_of, is_check_failure};

    #[test]
    fn check_failures_are_recognized_along_the_cause_chain_and_nothing_else() {
        assert!(is_check_failure(&failed("refused")));
        let proof = aigis_ledger::ProofError::Invalid("root mismatch".into());
        assert!(is_check_failure(
            &anyhow::Error::new(proof).context("verifying `p`")
        ));
        let malformed = aigis_ledger::ProofError::Malformed("short".into());
        assert!(!is_check_failure(&anyhow::Error::new(malformed)));
        let signature = aigis_model::Error::BadSignature("no trusted key".into());
        assert!(is_check_failure(
            &Err::<(), _>(signature).context("verifying").unwrap_err()
        ));
        assert!(!is_check_failure(&anyhow::Error::new(
            aigis_model::Error::Key("not PEM".into())
        )));
        let token = aigis_data::Error::Token {
            offset: 3,
            reason: "bad tag".into(),
        };
        assert!(is_check_failure(&anyhow::Error::new(token)));
        assert!(!is_check_failure(&anyhow::anyhow!("an I/O error")));
        // A failure's message is not a hint.
        assert_eq!(hint_of(&failed("refused")), None);
    }
}
