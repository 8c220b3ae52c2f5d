//! `aigis data scan --quarantine DIR` (the split) and `aigis data release`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use aigis_core::Digest;
use aigis_data::scan::ScanReport;
use aigis_data::scan::quarantine::{self, Quarantine};
use aigis_data::table::{Format, ReadOptions};
use aigis_evidence::{CleanQuarantined, DataRelease, QuarantinePart, ReleaseSource, Reviewer};
use anyhow::{Context as _, Result};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::cli::{Cli, DataReleaseArgs};
use crate::{context, output};

/// The record of a quarantine, in its folder.
const RECORD: &str = "quarantine.json";

/// `quarantine.json`: what was split, how, and into which files.
#[derive(Debug, Serialize, Deserialize)]
struct Record {
    format: String,
    source: PathBuf,
    source_sha256: String,
    quarantine_on: String,
    output_format: Format,
    clean: String,
    quarantined: String,
}

/// Splits the scanned table into `dir`; returns what the scan's evidence records.
pub(crate) fn split(
    file: &Path,
    format: Option<Format>,
    read: &ReadOptions,
    report: &ScanReport,
    digest: &Digest,
    quarantine_on: &str,
    dir: &Path,
) -> Result<aigis_evidence::Quarantine> {
    let q: Quarantine = quarantine::split(file, format, read, &report.flagged_rows, dir)?;
    let name = |p: &Path| {
        p.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    let record = Record {
        format: "aigis/quarantine@v1".into(),
        source: file.to_path_buf(),
        source_sha256: digest.hex(),
        quarantine_on: quarantine_on.to_owned(),
        output_format: q.format,
        clean: name(&q.clean),
        quarantined: name(&q.quarantined),
    };
    context::write_output(&dir.join(RECORD), &serde_json::to_vec_pretty(&record)?)?;
    Ok(aigis_evidence::Quarantine {
        dir: dir.to_path_buf(),
        quarantine_on: quarantine_on.to_owned(),
        clean: QuarantinePart {
            sha256: aigis_crypto::sha256_file(&q.clean)?.hex(),
            file: q.clean,
            rows: q.clean_rows,
        },
        quarantined: QuarantinePart {
            sha256: aigis_crypto::sha256_file(&q.quarantined)?.hex(),
            file: q.quarantined,
            rows: q.quarantined_rows,
        },
    })
}

pub fn release(cli: &Cli, args: &DataReleaseArgs) -> Result<()> {
    let project = context::project(cli)?;
    let record_path = args.dir.join(RECORD);
    let bytes = context::read_input(&record_path, "quarantine record", 1 << 20)?;
    let record: Record = serde_json::from_slice(&bytes)
        .with_context(|| format!("`{}` is not a quarantine record", record_path.display()))?;
    if args.reason.trim().is_empty() {
        anyhow::bail!("--reason is empty: say why the rows are released");
    }
    let clean = args.dir.join(&record.clean);
    let quarantined = args.dir.join(&record.quarantined);
    let before = (
        aigis_crypto::sha256_file(&clean)?,
        aigis_crypto::sha256_file(&quarantined)?,
    );
    let rows: BTreeSet<u64> = args.rows.iter().copied().collect();
    let r = quarantine::release(
        &clean,
        &quarantined,
        record.output_format,
        &rows,
        &ReadOptions::default(),
    )?;
    if r.released.is_empty() {
        anyhow::bail!(
            "none of rows {:?} is in the quarantine `{}`; nothing was changed",
            r.not_found,
            args.dir.display()
        );
    }
    let after = (
        aigis_crypto::sha256_file(&clean)?,
        aigis_crypto::sha256_file(&quarantined)?,
    );
    let key = context::signing_key(&project)?;
    let predicate = DataRelease {
        source: ReleaseSource {
            file: record.source.display().to_string(),
            sha256: record.source_sha256.clone(),
        },
        released_rows: r.released.clone(),
        not_found: r.not_found.clone(),
        reason: args.reason.clone(),
        reviewer: Reviewer {
            key_id: key.public().key_id(),
            user: std::env::var("USER")
                .or_else(|_| std::env::var("USERNAME"))
                .ok(),
        },
        before: CleanQuarantined {
            clean: before.0.hex(),
            quarantined: before.1.hex(),
        },
        rows_now: CleanQuarantined {
            clean: r.clean_rows,
            quarantined: r.quarantined_rows,
        },
    };
    let index = project.record(
        &context::signing_key(&project)?,
        vec![
            (record.clean.clone(), after.0),
            (record.quarantined.clone(), after.1),
        ],
        &predicate,
    )?;
    if cli.json {
        return output::json(&json!({
            "released": r.released, "not_found": r.not_found,
            "clean_rows": r.clean_rows, "quarantined_rows": r.quarantined_rows,
            "evidence": index,
        }));
    }
    outln!(
        "released {} row(s) {:?} into {}; {} row(s) stay quarantined; decision recorded as evidence #{index}",
        r.released.len(),
        r.released,
        clean.display(),
        r.quarantined_rows
    );
    if !r.not_found.is_empty() {
        output::note(
            cli,
            &format!("note: rows {:?} were not in the quarantine", r.not_found),
        );
    }
    Ok(())
}
