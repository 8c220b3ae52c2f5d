//! `aigis data profile` and `aigis data scan`.

use std::path::{Path, PathBuf};

use aigis_core::Digest;
use aigis_data::scan::{self, Progress, ScanOptions, ScanReport};
use aigis_data::table::{Format, ReadOptions};
use aigis_evidence::{DataProfile, DataScan, DataScanFile, DataScanFiles, ProfileColumn, Tool};
use anyhow::{Context as _, Result};
use serde_json::json;

use crate::cli::{Cli, DataProfileArgs, DataScanArgs, ReadArgs};
use crate::commands::ExitStatus;
use crate::report::{self, FailOn};
use crate::{context, output};

/// The reader's options from the command line.
pub(crate) fn read_options(args: &ReadArgs) -> Result<(Option<Format>, ReadOptions)> {
    let format = args.format.map(crate::cli::TableFormat::format);
    let delimiter = match args.delimiter {
        None => None,
        Some(c) if c.is_ascii() => Some(c as u8),
        Some(c) => anyhow::bail!("the delimiter `{c}` is not a single ASCII character"),
    };
    Ok((
        format,
        ReadOptions {
            delimiter,
            max_record_bytes: args.max_record_bytes,
            ..ReadOptions::default()
        },
    ))
}

pub(crate) fn file_len(path: &Path) -> Result<u64> {
    Ok(std::fs::metadata(path)
        .with_context(|| format!("cannot read `{}`", path.display()))?
        .len())
}

/// The project to record evidence in, if there is one (a scan works without).
fn project_for_evidence(cli: &Cli) -> Option<aigis_ledger::Project> {
    match context::project(cli) {
        Ok(p) => Some(p),
        Err(e) => {
            output::note(cli, &format!("note: not recorded in a ledger ({e})"));
            None
        }
    }
}

pub fn profile(cli: &Cli, args: &DataProfileArgs) -> Result<()> {
    let (format, read) = read_options(&args.table.read)?;
    let out = args.out.clone().unwrap_or_else(|| {
        let mut name = args.file.as_os_str().to_owned();
        name.push(".profile.json");
        PathBuf::from(name)
    });
    // A folder is one dataset: its files' statistics merge into one profile.
    let files = aigis_data::table::files_in(&args.file)?;
    let mut total: Option<aigis_data::profile::TableStats> = None;
    let mut subjects = Vec::with_capacity(files.len() + 1);
    for file in &files {
        let bar = output::byte_progress(cli, file_len(file)?, "profiling");
        let (stats, digest) = std::thread::scope(|s| {
            let hashing = s.spawn(|| aigis_crypto::sha256_file(file));
            let stats = scan::profile_stats(file, format, &read, args.table.threads, &|p| {
                if let Progress::Read(n) = p {
                    bar.set_position(n);
                }
            });
            (stats, hashing.join())
        });
        bar.finish_and_clear();
        let stats = stats?;
        let digest =
            digest.map_err(|_| anyhow::anyhow!("hashing `{}` failed", file.display()))??;
        subjects.push((file.display().to_string(), digest));
        match &mut total {
            None => total = Some(stats),
            Some(t) => t
                .merge(&stats)
                .with_context(|| format!("merging the profile of `{}`", file.display()))?,
        }
    }
    let profile = total.map(|t| t.finish()).context("no table to profile")?;
    let json_bytes = serde_json::to_vec_pretty(&profile)?;
    context::write_output(&out, &json_bytes)?;

    let index = match project_for_evidence(cli) {
        Some(project) => Some(
            project.record(
                &context::signing_key(&project)?,
                subjects
                    .into_iter()
                    .chain([(out.display().to_string(), Digest::of(&json_bytes))])
                    .collect(),
                &DataProfile {
                    rows: profile.rows,
                    files: files.len() as u64,
                    columns: profile
                        .columns
                        .iter()
                        .map(|c| {
                            Ok(ProfileColumn {
                                name: c.name.clone(),
                                column_type: context::as_json_string(&c.column_type)?,
                                null_rate: c.null_rate,
                            })
                        })
                        .collect::<Result<_>>()?,
                },
            )?,
        ),
        None => None,
    };
    if cli.json {
        return output::json(&json!({
            "profile": out, "rows": profile.rows, "columns": profile.columns.len(),
            "files": files.len(),
            "evidence": index,
        }));
    }
    outln!("{}", out.display());
    for c in &profile.columns {
        output::note(
            cli,
            &format!(
                "  {:<24} {:<12} nulls {:>6.2}%  distinct ~{}",
                c.name,
                c.column_type.as_str(),
                c.null_rate * 100.0,
                c.distinct
            ),
        );
    }
    output::note(
        cli,
        &format!(
            "profiled {} rows, {} columns{}",
            profile.rows,
            profile.columns.len(),
            index
                .map(|i| format!("; evidence #{i} in the ledger"))
                .unwrap_or_default()
        ),
    );
    Ok(())
}

pub fn scan(cli: &Cli, args: &DataScanArgs) -> Result<ExitStatus> {
    let fail_on = FailOn(args.fail_on.severity());
    let (format, read) = read_options(&args.table.read)?;
    let profile = args
        .profile
        .as_deref()
        .map(aigis_intake::scan::read_profile)
        .transpose()?;
    if !(0.0..=1.0).contains(&args.pii_min_confidence) {
        anyhow::bail!(
            "--pii-min-confidence {} is not between 0 and 1",
            args.pii_min_confidence
        );
    }
    let options = ScanOptions {
        read,
        format,
        profile: profile.as_ref().map(|(p, _)| p.clone()),
        max_details: args.max_details,
        threads: args.table.threads,
        pii: !args.no_pii,
        pii_min_confidence: args.pii_min_confidence,
        label: args.label.clone(),
        poison: args.poison,
        poison_options: aigis_data::poison::Options {
            seed: args.seed,
            ..aigis_data::poison::Options::default()
        },
        flag_rows_at: args
            .quarantine
            .as_ref()
            .map(|_| args.quarantine_on.severity()),
    };
    let files = aigis_data::table::files_in(&args.file)?;
    let single = files.len() == 1 && files.first() == Some(&args.file);
    let mut scans = Vec::with_capacity(files.len());
    for file in &files {
        let (report, digest) =
            aigis_intake::scan::scan_file(file, &options, &output::Bar::new(cli))?;
        let quarantine = match &args.quarantine {
            // One quarantine folder per table: DIR itself for one file, DIR/<path> for a folder.
            Some(dir) => {
                let dir = if single {
                    dir.clone()
                } else {
                    dir.join(file.strip_prefix(&args.file).unwrap_or(file))
                };
                Some(super::quarantine::split(
                    file,
                    options.format,
                    &options.read,
                    &report,
                    &digest,
                    &args.quarantine_on.to_string(),
                    &dir,
                )?)
            }
            None => None,
        };
        scans.push(FileScan {
            file: file.clone(),
            report,
            digest,
            quarantine,
        });
    }
    let failed = scans.iter().any(|f| fail_on.count(&f.report) > 0);
    let reports: Vec<(&Path, &ScanReport)> = scans
        .iter()
        .map(|f| (f.file.as_path(), &f.report))
        .collect();
    if let Some(path) = &args.sarif {
        context::write_output(path, &report::sarif::data_scan(&reports)?)?;
    }
    if let Some(path) = &args.html {
        context::write_output(path, report::html::data_scan(&reports, fail_on).as_bytes())?;
    }
    let profile_digest = profile.as_ref().map(|(_, d)| d);
    let per_file = |f: &FileScan| -> Result<DataScanFile> {
        let mut p = aigis_intake::scan::evidence(
            &f.report,
            profile_digest,
            fail_on,
            fail_on.count(&f.report) > 0,
        )?;
        p.quarantine = f.quarantine.clone();
        if !single {
            p.file = Some(f.file.clone());
        }
        Ok(p)
    };
    let index = match project_for_evidence(cli) {
        Some(project) => Some(
            project.record(
                &context::signing_key(&project)?,
                scans
                    .iter()
                    .map(|f| (f.file.display().to_string(), f.digest))
                    .collect(),
                &match scans.as_slice() {
                    [one] if single => DataScan::One(Box::new(per_file(one)?)),
                    _ => DataScan::Many(DataScanFiles {
                        files: scans.iter().map(per_file).collect::<Result<_>>()?,
                        fail_on: fail_on.to_string(),
                        passed: !failed,
                        tool: Tool::current(),
                    }),
                },
            )?,
        ),
        None => None,
    };
    let json_of = |f: &FileScan| -> Result<serde_json::Value> {
        let mut value = serde_json::to_value(&f.report)?;
        if let Some(obj) = value.as_object_mut() {
            obj.insert("file".into(), json!(f.file));
            obj.insert("sha256".into(), json!(f.digest.hex()));
            obj.insert("fail_on".into(), json!(fail_on.to_string()));
            obj.insert("passed".into(), json!(fail_on.count(&f.report) == 0));
            obj.insert("quarantine".into(), json!(f.quarantine));
        }
        Ok(value)
    };
    if cli.json {
        let value = match scans.as_slice() {
            [one] if single => {
                let mut v = json_of(one)?;
                if let Some(obj) = v.as_object_mut() {
                    obj.insert("evidence".into(), json!(index));
                }
                v
            }
            _ => json!({
                "path": args.file,
                "files": scans.iter().map(json_of).collect::<Result<Vec<_>>>()?,
                "fail_on": fail_on.to_string(),
                "passed": !failed,
                "evidence": index,
            }),
        };
        output::json(&value)?;
    } else {
        for f in &scans {
            out!("{}", report::text::data_scan(&f.file, &f.report, fail_on));
            if let Some(q) = &f.quarantine {
                outln!(
                    "quarantine: {} clean row(s) in {}, {} quarantined row(s) in {}",
                    q.clean.rows,
                    q.clean.file.display(),
                    q.quarantined.rows,
                    q.quarantined.file.display()
                );
            }
            if !single {
                outln!();
            }
        }
        if !single {
            let failing = scans
                .iter()
                .filter(|f| fail_on.count(&f.report) > 0)
                .count();
            outln!(
                "{} table(s) scanned under {}: {}",
                scans.len(),
                args.file.display(),
                if failing == 0 {
                    "all passed".to_owned()
                } else {
                    format!("{failing} FAILED (--fail-on {fail_on})")
                }
            );
        }
        if let Some(i) = index {
            outln!("recorded as evidence #{i} in the ledger");
        }
    }
    Ok(ExitStatus::passed(!failed))
}

/// One table's scan, for the reports and the evidence.
struct FileScan {
    file: PathBuf,
    report: ScanReport,
    digest: Digest,
    quarantine: Option<aigis_evidence::Quarantine>,
}
