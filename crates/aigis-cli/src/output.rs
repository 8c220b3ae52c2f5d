//! Output helpers: stdout carries data only (text or JSON); notes and progress go to
//! stderr.

use std::io::{IsTerminal as _, Write as _};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Result;
use indicatif::{ProgressBar, ProgressStyle};

use crate::Cli;

/// A write to stdout failed: a closed pipe (the reader has all it wanted) ends the program
/// quietly with exit 0, as `cat` or ripgrep do; anything else is an error, exit 2. Called
/// by [`outln!`] and [`out!`], which have no `Result` to return it in.
pub fn stdout_failed(e: &std::io::Error) -> ! {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        std::process::exit(0);
    }
    eprintln!("error: writing to stdout: {e}");
    std::process::exit(2);
}

/// Whether `e` is, somewhere along its chain, a write into a closed pipe.
pub fn is_closed_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            || c.downcast_ref::<serde_json::Error>()
                .and_then(|j| j.io_error_kind())
                .is_some_and(|k| k == std::io::ErrorKind::BrokenPipe)
    })
}

/// The note of a command that also works without a project: why its result was not
/// recorded, and the known fix.
pub fn not_recorded(cli: &Cli, why: &anyhow::Error) {
    let hint = crate::hint_of(why)
        .map(|h| format!("\nhint: {h}"))
        .unwrap_or_default();
    note(
        cli,
        &format!("note: not recorded in a ledger ({why}){hint}"),
    );
}

/// Prints one JSON document on stdout.
pub fn json(value: &serde_json::Value) -> Result<()> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, value)?;
    writeln!(out)?;
    Ok(())
}

/// Prints one JSON object per line (for streams such as `evidence list`).
pub fn json_line(value: &serde_json::Value) -> Result<()> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer(&mut out, value)?;
    writeln!(out)?;
    Ok(())
}

/// Adds `key` to a JSON object made by `json!({…})` (callers pass only objects; anything
/// else is left as it is rather than panicking, as `value[key] = …` would).
pub fn insert(value: &mut serde_json::Value, key: &str, x: impl Into<serde_json::Value>) {
    if let Some(map) = value.as_object_mut() {
        map.insert(key.to_owned(), x.into());
    }
}

/// A note for a person, on stderr, unless --quiet or --json.
pub fn note(cli: &Cli, msg: &str) {
    if !cli.quiet && !cli.json {
        eprintln!("{msg}");
    }
}

/// RFC 3339 UTC with milliseconds.
pub fn time_ms(ms: i64) -> String {
    let t = UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).unwrap_or(0));
    humantime::format_rfc3339_millis(t).to_string()
}

/// Parses a time bound: RFC 3339, a bare date (midnight UTC), or an age such as `7d`.
pub fn parse_time(s: &str) -> Result<i64> {
    let parsed = if let Ok(t) = humantime::parse_rfc3339_weak(s) {
        t
    } else if let Ok(t) = humantime::parse_rfc3339_weak(&format!("{s}T00:00:00")) {
        t
    } else if let Ok(age) = humantime::parse_duration(s) {
        SystemTime::now()
            .checked_sub(age)
            .ok_or_else(|| anyhow::anyhow!("`{s}` reaches back before 1970"))?
    } else {
        return Err(crate::hinted(
            format!("`{s}` is not a time"),
            "use RFC 3339 (2026-11-01T12:00:00Z), a date (2026-11-01) or an age (90m, 7d)",
        ));
    };
    let ms = parsed
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis();
    Ok(i64::try_from(ms).unwrap_or(i64::MAX))
}

/// A progress bar on stderr, drawn only for a person watching a terminal.
pub fn progress(cli: &Cli, total: u64, what: &str) -> ProgressBar {
    if cli.quiet || cli.json || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total);
    if let Ok(style) = ProgressStyle::with_template(
        "{msg} [{bar:40}] {human_pos}/{human_len} ({per_sec}, {eta} left)",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(what.to_owned());
    bar
}

/// A progress bar counting bytes (with a byte rate), drawn only on a terminal.
pub fn byte_progress(cli: &Cli, total: u64, what: &str) -> ProgressBar {
    let bar = progress(cli, total, what);
    if let Ok(style) = ProgressStyle::with_template(
        "{msg} [{bar:40}] {binary_bytes}/{binary_total_bytes} ({binary_bytes_per_sec}, {eta} left)",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

/// Progress of a library step (`aigis_core::Progress`) as a bar on stderr, drawn
/// only on a terminal ([`progress`], [`byte_progress`]).
#[derive(Debug)]
pub struct Bar<'a> {
    cli: &'a Cli,
    bar: std::sync::Mutex<ProgressBar>,
}

impl<'a> Bar<'a> {
    pub fn new(cli: &'a Cli) -> Self {
        Self {
            cli,
            bar: std::sync::Mutex::new(ProgressBar::hidden()),
        }
    }
}

impl aigis_core::Progress for Bar<'_> {
    fn begin(&self, what: &'static str, total: u64, bytes: bool) {
        let bar = if bytes {
            byte_progress(self.cli, total, what)
        } else {
            progress(self.cli, total, what)
        };
        if let Ok(mut current) = self.bar.lock() {
            std::mem::replace(&mut *current, bar).finish_and_clear();
        }
    }

    fn advance(&self, n: u64) {
        if let Ok(bar) = self.bar.lock() {
            bar.inc(n);
        }
    }

    fn message(&self, text: &str) {
        if let Ok(bar) = self.bar.lock() {
            bar.set_message(text.to_owned());
        }
    }

    fn end(&self) {
        if let Ok(bar) = self.bar.lock() {
            bar.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_forms() {
        assert_eq!(parse_time("1970-01-02").unwrap(), 86_400_000);
        assert_eq!(parse_time("1970-01-01T00:00:01Z").unwrap(), 1000);
        let age = parse_time("1h").unwrap();
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64;
        assert!((now - age - 3_600_000).abs() < 5_000);
        let err = parse_time("yesterday-ish").unwrap_err();
        assert_eq!(err.to_string(), "`yesterday-ish` is not a time");
        assert!(crate::hint_of(&err).unwrap().contains("RFC 3339"));
        assert_eq!(time_ms(1000), "1970-01-01T00:00:01.000Z");
    }
}
