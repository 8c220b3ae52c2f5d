//! A table's scan on a project: the scan with the file's digest, the `--fail-on` rule,
//! and what the ledger keeps of a scan.

use std::fmt;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use aigis_core::{Digest, Progress, Severity};
use aigis_data::profile::Profile;
use aigis_data::scan::{self, ScanOptions, ScanReport};
use aigis_evidence::{
    DataScanFile, PersonalColumn, PoisonCounts, Poisoning, QuasiIdentifiers, RuleCount, Tool,
};

use crate::Error;

/// Profiles are small (sketches of a few KiB per column); this is far beyond any real one.
pub const MAX_PROFILE: u64 = 256 << 20;

/// Which findings fail a scan: those at or above a severity, or none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FailOn(pub Option<Severity>);

impl FailOn {
    /// Findings at `severity` or above fail.
    pub fn at(severity: Severity) -> Self {
        FailOn(Some(severity))
    }

    /// How many findings of `report` fail the check.
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

/// Scans `file`, hashing it at the same time; reports bytes read to `progress`.
pub fn scan_file(
    file: &Path,
    options: &ScanOptions,
    progress: &(dyn Progress + Sync),
) -> Result<(ScanReport, Digest), Error> {
    let len = std::fs::metadata(file)
        .map_err(|e| Error::io(file, e))?
        .len();
    progress.begin("scanning", len, true);
    let read = AtomicU64::new(0);
    let (report, digest) = std::thread::scope(|s| {
        let hashing = s.spawn(|| aigis_crypto::sha256_file(file));
        let report = scan::scan(file, options, &|p| match p {
            scan::Progress::Read(n) => {
                let before = read.fetch_max(n, Ordering::Relaxed);
                progress.advance(n.saturating_sub(before));
            }
            scan::Progress::Poison(stage, done, total) => {
                progress.message(&format!("poisoning: {stage} {done}/{total}"));
            }
        });
        (report, hashing.join())
    });
    progress.end();
    let report = report?;
    let digest = digest.map_err(|_| {
        Error::io(
            file,
            std::io::Error::other("the thread hashing it stopped unexpectedly"),
        )
    })??;
    Ok((report, digest))
}

/// Reads a profile file; returns it with its digest.
pub fn read_profile(path: &Path) -> Result<(Profile, Digest), Error> {
    let bytes = crate::read_bounded(path, "profile", MAX_PROFILE)?;
    let profile = Profile::from_json(&bytes).map_err(|e| match e {
        aigis_data::Error::Profile(m) => {
            aigis_data::Error::Profile(format!("reading the profile `{}`: {m}", path.display()))
        }
        other => other,
    })?;
    Ok((profile, Digest::of(&bytes)))
}

/// What the ledger keeps of a scan: counts per rule and column, never cell values.
/// `profile` is the digest of the profile it was checked against; `failed` whether it
/// failed `fail_on`.
pub fn evidence(
    report: &ScanReport,
    profile: Option<&Digest>,
    fail_on: FailOn,
    failed: bool,
) -> Result<DataScanFile, Error> {
    Ok(DataScanFile {
        format: crate::as_json_string(&report.format)?,
        rows: report.rows,
        columns: report.columns.len() as u64,
        schema: report.schema.to_owned(),
        profile: profile.copied(),
        counts: report
            .counts
            .iter()
            .map(|c| RuleCount {
                rule: c.rule.clone(),
                column: c.column.clone(),
                severity: c.severity,
                count: c.count,
            })
            .collect(),
        worst: report.worst(),
        personal_columns: report
            .personal_columns
            .iter()
            .map(|c| {
                Ok(PersonalColumn {
                    column: c.column.clone(),
                    kind: crate::as_json_string(&c.kind)?,
                    confidence: c.confidence,
                })
            })
            .collect::<Result<_, Error>>()?,
        quasi_identifiers: report.quasi_identifiers.as_ref().and_then(|q| {
            q.worst().map(|w| QuasiIdentifiers {
                rows: q.rows,
                columns: w.columns.clone(),
                unique_share: w.unique_share,
                k: w.k,
            })
        }),
        poisoning: report.poisoning.as_ref().map(|p| {
            let c = &p.detectors.counts;
            Poisoning {
                label: p.label.clone(),
                features: p.features.clone(),
                suspicious_rows: p.rows.len() as u64,
                counts: PoisonCounts {
                    outlier: c.outlier as u64,
                    label_flip: c.label_flip as u64,
                    duplicate: c.duplicate as u64,
                    near_duplicate: c.near_duplicate as u64,
                    backdoor: c.backdoor as u64,
                },
            }
        }),
        fail_on: fail_on.to_string(),
        passed: !failed,
        tool: Tool::current(),
        quarantine: None,
        file: None,
    })
}
