//! `aigis data ingest SRC`: data enters only from an approved source, signed by a key
//! that source is approved with, unchanged since it was signed, and clean of findings at
//! or above `--fail-on`. The project then signs its own manifest of what it took in and
//! records the provenance as a SLSA Provenance v1 statement.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use aigis_core::Digest;
use aigis_data::manifest::{self, Options};
use aigis_data::scan::ScanOptions;
use aigis_data::sources::{DataConfig, SourceConfig};
use aigis_evidence::{
    BuildDefinition, Builder, Byproduct, ExternalParameters, IngestDecision, IngestManifest,
    IngestProvenance, IngestScan, IngestScans, IngestSource, InternalParameters,
    ManifestAnnotations, ResolvedDependency, RunBy, RunDetails, RunMetadata, Tool,
};
use anyhow::{Context as _, Result};

use crate::cli::{Cli, DataIngestArgs};
use crate::report::FailOn;
use crate::{Failed, context, output};

/// The kind of "build" an ingest is, in the provenance.
pub const BUILD_TYPE: &str = "https://aigis.dev/build-type/data-ingest/v1";

fn now() -> String {
    humantime::format_rfc3339_seconds(SystemTime::now()).to_string()
}

/// The approved source `src` lies in, with its folder.
fn find_source(project: &aigis_ledger::Project, src: &Path) -> Result<(SourceConfig, PathBuf)> {
    let sources = DataConfig::from_table(&project.config.data)?.sources;
    for source in &sources {
        let base = project.root.join(&source.path);
        if let Ok(base) = base.canonicalize()
            && src.starts_with(&base)
        {
            return Ok((source.clone(), base));
        }
    }
    let listed = if sources.is_empty() {
        "aigis.toml lists no approved sources".to_owned()
    } else {
        format!(
            "the approved sources are {}",
            sources
                .iter()
                .map(|s| format!("`{}` ({})", s.name, s.path.display()))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    Err(crate::failed_hinted(
        format!(
            "refused: `{}` is not from an approved source; {listed}",
            src.display()
        ),
        "add a [[data.sources]] entry (name, path, keys) to aigis.toml",
    ))
}

/// What an ingest decided (an early refusal — unknown, unsigned, foreign or changed
/// source — is an error instead).
#[derive(Debug, serde::Serialize)]
pub(crate) struct Outcome {
    pub source: String,
    pub accepted: bool,
    pub files: usize,
    pub scans: Vec<IngestScan>,
    pub refusals: Vec<String>,
    pub manifest: Option<PathBuf>,
    pub manifest_evidence: Option<u64>,
    pub provenance_evidence: u64,
}

pub fn ingest(cli: &Cli, args: &DataIngestArgs) -> Result<()> {
    let project = context::project(cli)?;
    let o = ingest_in(cli, &project, args)?;
    if cli.json {
        output::json(&serde_json::to_value(&o)?)?;
    } else if o.accepted {
        outln!(
            "accepted {} file(s) from source `{}`; manifest {} (evidence #{}), provenance evidence #{}",
            o.files,
            o.source,
            o.manifest
                .as_deref()
                .map_or("-".into(), |p| p.display().to_string()),
            o.manifest_evidence.map_or("-".into(), |i| i.to_string()),
            o.provenance_evidence
        );
    }
    if !o.accepted {
        return Err(crate::failed(format!(
            "refused: {} (the refusal is recorded as provenance evidence #{})",
            o.refusals.join("; "),
            o.provenance_evidence
        )));
    }
    Ok(())
}

/// Ingests into `project`; see the module doc.
pub(crate) fn ingest_in(
    cli: &Cli,
    project: &aigis_ledger::Project,
    args: &DataIngestArgs,
) -> Result<Outcome> {
    let started = now();
    let fail_on = FailOn(args.fail_on.severity());
    let src = args
        .src
        .canonicalize()
        .with_context(|| format!("cannot read `{}`", args.src.display()))?;
    let (source, _) = find_source(project, &src)?;

    // 1. Signed by a key the source is approved with, and unchanged since.
    let keys = source
        .keys
        .iter()
        .map(|k| {
            aigis_crypto::note::public_key_of(k)
                .map(|(_, key)| key)
                .with_context(|| {
                    format!(
                        "aigis.toml: source `{}` has a key that is not a C2SP verifier key",
                        source.name
                    )
                })
        })
        .collect::<Result<Vec<_>>>()?;
    if keys.is_empty() {
        anyhow::bail!("aigis.toml: source `{}` lists no keys", source.name);
    }
    let manifest_path = match &args.manifest {
        Some(m) => m.clone(),
        None => super::manifest::default_manifest_path(&src)?,
    };
    if !manifest_path.exists() {
        return Err(crate::failed_hinted(
            format!(
                "refused: `{}` is unsigned: no signed manifest at `{}`",
                args.src.display(),
                manifest_path.display()
            ),
            "the source signs its data with `aigis data sign` and ships the manifest beside it",
        ));
    }
    let signed = super::manifest::open_signed_manifest(&manifest_path, &keys).map_err(|e| {
        match e.downcast_ref::<Failed>() {
            Some(f) => crate::failed(format!(
                "refused: the manifest is not signed by a key approved for source `{}`: {f}",
                source.name
            )),
            None => e,
        }
    })?;
    let opts = Options {
        chunk_size: signed.manifest.chunk_size,
        exclude: vec![manifest_path.clone(), project.layout().state_dir()],
    };
    let received = super::manifest::hash(cli, &src, &opts)?;
    let changes = manifest::compare(&signed.manifest, &received);
    if !changes.is_empty() {
        return Err(crate::failed(format!(
            "refused: `{}` changed after source `{}` signed it:\n  {}",
            args.src.display(),
            source.name,
            changes
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n  ")
        )));
    }
    output::note(
        cli,
        &format!(
            "source `{}`: signature ok (key {}), {} file(s) match the signed manifest",
            source.name,
            signed.signed_by,
            received.files.len()
        ),
    );

    // 2. Every table scanned.
    let profile_path = args
        .profile
        .clone()
        .or_else(|| source.profile.as_ref().map(|p| project.root.join(p)));
    let profile = profile_path
        .as_deref()
        .map(super::scan::read_profile)
        .transpose()?;
    let label = args.label.clone().or_else(|| source.label.clone());
    let base = if src.is_dir() {
        src.clone()
    } else {
        src.parent().map(Path::to_path_buf).unwrap_or_default()
    };
    let mut scans = Vec::new();
    let mut failed_files = Vec::new();
    for file in &received.files {
        let path = if src.is_dir() {
            base.join(&file.path)
        } else {
            src.clone()
        };
        if !aigis_data::table::is_table_file(&path) {
            continue;
        }
        let options = ScanOptions {
            profile: profile.as_ref().map(|(p, _)| p.clone()),
            label: label.clone(),
            ..ScanOptions::default()
        };
        let (report, digest) = super::scan::scan_file(cli, &path, &options)?;
        let failing = fail_on.count(&report);
        let index = project.record(
            &context::signing_key(project)?,
            vec![(file.path.clone(), digest)],
            &aigis_evidence::DataScan::One(Box::new(super::scan::evidence_predicate(
                &report,
                profile.as_ref().map(|(_, d)| d),
                fail_on,
                failing > 0,
            )?)),
        )?;
        if failing > 0 {
            failed_files.push(format!(
                "{}: {failing} finding(s) at or above {fail_on} (evidence #{index}; `aigis data scan {}` shows them)",
                file.path,
                path.display()
            ));
        }
        scans.push(IngestScan {
            file: file.path.clone(),
            sha256: digest.hex(),
            rows: report.rows,
            worst: report.worst(),
            passed: failing == 0,
            evidence: index,
        });
    }

    // 3. Signed by this project, and the provenance recorded, accepted or not.
    let accepted = failed_files.is_empty();
    let subjects = received
        .files
        .iter()
        .map(|f| Ok((f.path.clone(), f.sha256.parse::<Digest>()?)))
        .collect::<Result<Vec<_>>>()?;
    let (manifest_out, manifest_index) = if accepted {
        let out = match &args.out {
            Some(o) => o.clone(),
            None => project.layout().ingested_dir().join(format!(
                "{}-{}.aigis-manifest.json",
                source.name,
                &received.root.get(..16).unwrap_or(&received.root)
            )),
        };
        if let Some(dir) = out.parent() {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("creating `{}`", dir.display()))?;
        }
        let key = context::signing_key(project)?;
        let index = super::manifest::record(&project.open_ledger()?, &key, &received, &out)?;
        (Some(out), Some(index))
    } else {
        (None, None)
    };
    let key_id = context::signing_key(project)?.public().key_id();
    let predicate = IngestProvenance {
        build_definition: BuildDefinition {
            build_type: BUILD_TYPE.to_owned(),
            external_parameters: ExternalParameters {
                source: IngestSource {
                    name: source.name.clone(),
                    path: source.path.clone(),
                    uri: format!("file://{}", src.display()),
                },
                profile: profile_path,
                label,
                fail_on: fail_on.to_string(),
            },
            internal_parameters: InternalParameters {
                steps: [
                    "verify the source's signature",
                    "re-hash against its manifest",
                    "scan every table",
                    "sign the project's manifest",
                ]
                .map(String::from)
                .into(),
                run_by: RunBy {
                    key_id,
                    user: std::env::var("USER")
                        .or_else(|_| std::env::var("USERNAME"))
                        .ok(),
                },
            },
            resolved_dependencies: vec![ResolvedDependency {
                name: "source manifest".into(),
                uri: format!("file://{}", manifest_path.display()),
                digest: [("sha256".to_owned(), Digest::of(&signed.bytes).hex())].into(),
                annotations: ManifestAnnotations {
                    signed_by: signed.signed_by.clone(),
                    root: signed.manifest.root.clone(),
                },
            }],
        },
        run_details: RunDetails {
            builder: Builder {
                id: Tool::builder_id(),
            },
            metadata: RunMetadata {
                started_on: started,
                finished_on: now(),
            },
            byproducts: vec![
                Byproduct::Decision {
                    annotations: IngestDecision {
                        accepted,
                        refusals: failed_files.clone(),
                    },
                },
                Byproduct::Scans {
                    annotations: IngestScans {
                        scans: scans.clone(),
                    },
                },
                Byproduct::Manifest {
                    annotations: IngestManifest {
                        path: manifest_out.clone(),
                        evidence: manifest_index,
                        root: received.root.clone(),
                    },
                },
            ],
        },
    };
    let index = project.record(&context::signing_key(project)?, subjects, &predicate)?;

    Ok(Outcome {
        source: source.name.clone(),
        accepted,
        files: received.files.len(),
        scans,
        refusals: failed_files,
        manifest: manifest_out,
        manifest_evidence: manifest_index,
        provenance_evidence: index,
    })
}
