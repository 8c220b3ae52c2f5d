//! Hints (the known fix for an error, kept apart from its message) and check failures
//! (an error that means the check ran and the artifact failed it).

/// The known fix for an error, if there is one: one line, for a person, printed once
/// after the whole cause chain (`hint: run `aigis init` first`) and given its own field
/// under `--json`. Messages themselves never hold a hint or a line break (cedar's style).
pub trait Hint {
    /// The fix, or `None` when there is no known one.
    fn hint(&self) -> Option<String>;
}

/// Whether an error says the check ran and the artifact failed it (a signature no trusted
/// key verifies, a ciphertext that does not authenticate, a proof that does not verify),
/// rather than bad input, a missing key or an I/O problem. The command line exits 1 for
/// the first, 2 for the rest; every library error that can mean the first implements
/// this, so "check failed" is decided in one way across crates.
pub trait CheckFailure {
    /// `true` when the check ran and the artifact failed it.
    fn is_check_failure(&self) -> bool;
}
