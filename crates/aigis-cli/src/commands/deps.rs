//! `aigis deps scan`: lockfiles matched against an OSV database through `aigis_deps`;
//! and `aigis bom`, a version's CycloneDX ML-BOM through `aigis_registry::bom`. This
//! module parses, calls, renders and records.

use aigis_deps::lockfile::{self, Dependency};
use aigis_deps::osv::Database;
use aigis_evidence::{DependencyScan, PathDigest, Tool, VulnerablePackage};
use anyhow::{Context as _, Result};
use serde_json::json;

use crate::cli::{BomArgs, Cli, DepsCommand, DepsScanArgs};
use crate::commands::ExitStatus;
use crate::report::sarif;
use crate::{context, output};

pub(crate) fn run(cli: &Cli, cmd: &DepsCommand) -> Result<ExitStatus> {
    match cmd {
        DepsCommand::Scan(args) => scan(cli, args),
    }
}

fn scan(cli: &Cli, args: &DepsScanArgs) -> Result<ExitStatus> {
    let project = context::project_if_any(cli)?;
    let db = Database::open(&args.osv)?;
    for (path, why) in &db.skipped {
        output::note(cli, &format!("skipped `{}`: {why}", path.display()));
    }
    let mut deps: Vec<(String, Dependency)> = Vec::new();
    let mut notes = Vec::new();
    let mut lockfiles = Vec::new();
    for f in &args.files {
        let lock = lockfile::read(f)?;
        let file = f.display().to_string();
        notes.extend(lock.notes.iter().map(|n| format!("{file}: {n}")));
        deps.extend(lock.dependencies.into_iter().map(|d| (file.clone(), d)));
        lockfiles.push(PathDigest {
            path: f.clone(),
            sha256: aigis_crypto::sha256_file(f)
                .with_context(|| format!("reading `{file}`"))?
                .hex(),
        });
    }
    // One scan per lockfile's packages, so each finding names its file.
    let mut found = Vec::new();
    for (file, d) in &deps {
        for v in aigis_deps::scan(&db, std::slice::from_ref(d)) {
            found.push((file.clone(), v));
        }
    }
    let threshold = args.fail_on.severity();
    let fails = |v: &aigis_deps::Vulnerable| threshold.is_some_and(|t| v.rating.severity() >= t);
    let passed = !found.iter().any(|(_, v)| fails(v));

    if let Some(path) = &args.sarif {
        let findings: Vec<aigis_core::Finding> = found
            .iter()
            .map(|(file, v)| {
                let mut f = aigis_core::Finding::new(
                    format!("osv.{}", v.id),
                    v.rating.severity(),
                    message(v),
                );
                f.file = Some(file.clone());
                f
            })
            .collect();
        let placed: Vec<sarif::Placed<'_>> = found
            .iter()
            .zip(&findings)
            .map(|((_, v), f)| sarif::Placed {
                finding: f,
                start_line: v.dependency.line,
                logical: format!("{} {}", v.dependency.name, v.dependency.version),
            })
            .collect();
        let doc = sarif::document(
            &placed,
            &|_| "A pinned package that a known vulnerability (OSV) affects.",
            json!({"osv_records": db.len(), "packages": deps.len()}),
        )?;
        aigis_crypto::fs::write_atomic(path, &doc, 0o644)
            .with_context(|| format!("writing `{}`", path.display()))?;
    }

    let evidence = match &project {
        Some(p) => {
            let key = context::signing_key(p)?;
            let subjects = lockfiles
                .iter()
                .filter_map(|l| {
                    Some((
                        format!("lockfile:{}", l.path.display()),
                        l.sha256.parse::<aigis_core::Digest>().ok()?,
                    ))
                })
                .collect();
            Some(
                p.record(
                    &key,
                    subjects,
                    &DependencyScan {
                        lockfiles: lockfiles.clone(),
                        osv_records: db.len() as u64,
                        packages: deps.len() as u64,
                        unchecked: notes.len() as u64,
                        vulnerable: found
                            .iter()
                            .map(|(_, v)| VulnerablePackage {
                                ecosystem: v.dependency.ecosystem.osv_name().to_owned(),
                                name: v.dependency.name.clone(),
                                version: v.dependency.version.clone(),
                                id: v.id.clone(),
                                rating: v.rating.as_str().to_owned(),
                                fixed: v.fixed.clone(),
                            })
                            .collect(),
                        fail_on: threshold.map_or("none".into(), |s| s.as_str().to_owned()),
                        passed,
                        tool: Tool::current(),
                    },
                )?,
            )
        }
        None => None,
    };

    if cli.json {
        output::json(&json!({
            "osv_records": db.len(),
            "packages": deps.len(),
            "vulnerable": found.iter().map(|(file, v)| json!({
                "file": file, "ecosystem": v.dependency.ecosystem, "name": v.dependency.name,
                "version": v.dependency.version, "line": v.dependency.line, "id": v.id,
                "aliases": v.aliases, "summary": v.summary, "rating": v.rating,
                "fixed": v.fixed, "unknown": v.unknown, "fails": fails(v),
            })).collect::<Vec<_>>(),
            "unchecked": notes,
            "skipped": db.skipped.iter().map(|(p, why)| json!({"file": p, "why": why})).collect::<Vec<_>>(),
            "passed": passed,
            "evidence": evidence,
        }))?;
        return Ok(ExitStatus::passed(passed));
    }
    for (file, v) in &found {
        outln!(
            "{:<8} {} {} ({}) {}{}",
            v.rating.as_str(),
            v.dependency.name,
            v.dependency.version,
            file,
            message(v),
            v.dependency
                .line
                .map(|l| format!(" [line {l}]"))
                .unwrap_or_default()
        );
    }
    for n in &notes {
        outln!("unchecked: {n}");
    }
    outln!(
        "{}: {} package(s) in {} lockfile(s) against {} OSV record(s): {} affected{}",
        if passed { "ok" } else { "FAILED" },
        deps.len(),
        args.files.len(),
        db.len(),
        found.len(),
        evidence
            .map(|e| format!(" (evidence #{e})"))
            .unwrap_or_default()
    );
    Ok(ExitStatus::passed(passed))
}

/// `GHSA-…` (CVE-…): summary; fixed in 1.2.3.
fn message(v: &aigis_deps::Vulnerable) -> String {
    let aliases = if v.aliases.is_empty() {
        String::new()
    } else {
        format!(" ({})", v.aliases.join(", "))
    };
    let fixed = if v.fixed.is_empty() {
        "no fixed version".to_owned()
    } else {
        format!("fixed in {}", v.fixed.join(", "))
    };
    let unknown = v
        .unknown
        .as_ref()
        .map(|u| format!("; may be affected: {u}"))
        .unwrap_or_default();
    format!("{}{aliases}: {}; {fixed}{unknown}", v.id, v.summary)
}

pub(crate) fn bom(cli: &Cli, args: &BomArgs) -> Result<()> {
    let project = context::project(cli)?;
    let reg = aigis_registry::open(&project)?;
    let record = reg.version(&args.name, args.version)?;
    let mut lockfiles = Vec::new();
    for f in &args.lockfile {
        lockfiles.push(aigis_registry::bom::LockfileInput {
            path: f.display().to_string(),
            lockfile: lockfile::read(f)?,
            sha256: aigis_crypto::sha256_file(f)
                .with_context(|| format!("reading `{}`", f.display()))?,
        });
    }
    let bom = aigis_registry::bom::bom(&project, &record, &lockfiles)?;
    let mut text = serde_json::to_vec_pretty(&bom)?;
    text.push(b'\n');
    match &args.output {
        Some(path) => {
            aigis_crypto::fs::write_atomic(path, &text, 0o644)
                .with_context(|| format!("writing `{}`", path.display()))?;
            let components = bom
                .get("components")
                .and_then(serde_json::Value::as_array)
                .map_or(0, Vec::len);
            output::note(
                cli,
                &format!(
                    "wrote {}: CycloneDX 1.6, {} version {} and {components} component(s)",
                    path.display(),
                    args.name,
                    args.version
                ),
            );
            if cli.json {
                output::json(&json!({"file": path, "components": components}))?;
            }
        }
        None => {
            use std::io::Write as _;
            if let Err(e) = std::io::stdout().lock().write_all(&text) {
                output::stdout_failed(&e);
            }
        }
    }
    Ok(())
}
