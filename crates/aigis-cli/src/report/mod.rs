//! Reports of scans: text for a terminal, SARIF for code-scanning dashboards, and a
//! self-contained HTML page with plots.

pub mod html;
pub mod sarif;
pub mod text;

use std::fmt;

use aigis_core::Severity;
use aigis_data::scan::ScanReport;

/// `--fail-on`: a severity, or never.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FailOn(pub Option<Severity>);

impl FailOn {
    /// How many findings fail the check.
    pub fn count(self, report: &ScanReport) -> u64 {
        self.0.map_or(0, |s| report.count_at_least(s))
    }
}

impl fmt::Display for FailOn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(s) => f.write_str(s.as_str()),
            None => f.write_str("none"),
        }
    }
}
