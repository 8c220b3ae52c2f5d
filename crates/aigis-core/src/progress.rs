//! How long library steps report how far they are, without knowing who shows it (a
//! progress bar on a terminal, nothing in a server).

/// Where long steps report how far they are: a progress bar, or nothing.
pub trait Progress {
    /// A step begins: `what` it does (`hashing`, `storing`, `scanning`) and its `total`,
    /// in bytes when `bytes` is true, else in files.
    fn begin(&self, what: &'static str, total: u64, bytes: bool);
    /// `n` more bytes or files are done.
    fn advance(&self, n: u64);
    /// What the step is doing now, in a few words (`poisoning: forest 3/8`).
    fn message(&self, _text: &str) {}
    /// The step is over.
    fn end(&self);
}

/// No progress reported.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn begin(&self, _: &'static str, _: u64, _: bool) {}
    fn advance(&self, _: u64) {}
    fn end(&self) {}
}
