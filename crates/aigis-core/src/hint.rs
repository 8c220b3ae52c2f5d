//! Hints: the known fix for an error, kept apart from its message.

/// The known fix for an error, if there is one: one line, for a person, printed once
/// after the whole cause chain (`hint: run `aigis init` first`) and given its own field
/// under `--json`. Messages themselves never hold a hint or a line break (cedar's style).
pub trait Hint {
    /// The fix, or `None` when there is no known one.
    fn hint(&self) -> Option<String>;
}
