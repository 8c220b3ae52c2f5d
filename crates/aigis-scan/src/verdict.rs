//! Verdicts on model files, and the findings behind them.

use serde::{Deserialize, Serialize};

/// What loading a file would do, as far as the scanner can tell. Ordered from best to
/// worst, so the verdict of a file is the worst of its parts.
///
/// `Inconclusive` ranks above `Suspicious`: a file the scanner could not fully parse may
/// hide anything, so it is never reported clean.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Only what ordinary ML files use.
    Safe,
    /// Something outside the allowlist that is not known to be dangerous.
    Suspicious,
    /// Part of the file could not be parsed: it may hide anything.
    Inconclusive,
    /// A call known to run code, touch files or the network, or escape the model folder.
    Dangerous,
}

impl Verdict {
    /// Its name, as JSON and the text output print it.
    pub const fn as_str(self) -> &'static str {
        match self {
            Verdict::Safe => "safe",
            Verdict::Suspicious => "suspicious",
            Verdict::Inconclusive => "inconclusive",
            Verdict::Dangerous => "dangerous",
        }
    }

    /// The worst verdict among `findings`; safe when there is none.
    pub fn worst<'a>(findings: impl IntoIterator<Item = &'a Finding>) -> Self {
        findings
            .into_iter()
            .map(|e| e.verdict)
            .max()
            .unwrap_or(Verdict::Safe)
    }

    /// The finding severity of this verdict, for `--fail-on` and SARIF.
    pub const fn severity(self) -> aigis_core::Severity {
        match self {
            Verdict::Safe => aigis_core::Severity::Info,
            Verdict::Suspicious => aigis_core::Severity::Medium,
            Verdict::Inconclusive => aigis_core::Severity::High,
            Verdict::Dangerous => aigis_core::Severity::Critical,
        }
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where in a file something was found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Location {
    /// The member inside an archive (`archive/data.pkl`), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub member: Option<String>,
    /// Byte offset (of the opcode, header field, …) in the file or the member.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset: Option<u64>,
}

impl Location {
    /// A byte offset in the file itself (no archive member).
    pub fn at(offset: usize) -> Self {
        Self {
            member: None,
            offset: Some(offset as u64),
        }
    }
}

/// One reason for a verdict: what was found, where.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// What this finding makes the file at least.
    pub verdict: Verdict,
    /// A stable rule id, e.g. `pickle.global.dangerous`, `zip.path_traversal`.
    pub rule: String,
    /// For a person: the import (`os.system`), the header field, the path.
    pub message: String,
    /// Where in the file.
    pub location: Location,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordered_worst_last_and_inconclusive_is_never_clean() {
        assert!(Verdict::Safe < Verdict::Suspicious);
        assert!(Verdict::Suspicious < Verdict::Inconclusive);
        assert!(Verdict::Inconclusive < Verdict::Dangerous);
        assert_eq!(
            [Verdict::Safe, Verdict::Inconclusive].into_iter().max(),
            Some(Verdict::Inconclusive)
        );
        assert_eq!(
            serde_json::to_string(&Verdict::Dangerous).unwrap(),
            "\"dangerous\""
        );
    }
}
