//! `aigis data ingest SRC`: data enters only from an approved source, signed by a key
//! that source is approved with, unchanged since it was signed, and clean of findings at
//! or above the request's `fail_on`. The project then signs its own manifest of what it
//! took in and records the provenance as a SLSA Provenance v1 statement, accepted or not.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use aigis_core::{Digest, Progress};
use aigis_crypto::SigningKey;
use aigis_data::manifest::{self as data_manifest, Options};
use aigis_data::scan::ScanOptions;
use aigis_data::sources::{DataConfig, SourceConfig};
use aigis_evidence::{
    BuildDefinition, Builder, Byproduct, ExternalParameters, IngestDecision, IngestManifest,
    IngestProvenance, IngestScan, IngestScans, IngestSource, InternalParameters,
    ManifestAnnotations, ResolvedDependency, RunBy, RunDetails, RunMetadata, Tool,
};
use aigis_ledger::Project;

use crate::scan::FailOn;
use crate::{Error, manifest};

/// The kind of "build" an ingest is, in the provenance.
pub const BUILD_TYPE: &str = "https://aigis.dev/build-type/data-ingest/v1";

/// What to ingest, and how to judge it.
#[derive(Debug, Clone)]
pub struct Request {
    /// A file or a folder inside an approved source's folder.
    pub src: PathBuf,
    /// The source's signed manifest; beside `src` when `None`
    /// ([`manifest::default_path`]).
    pub manifest: Option<PathBuf>,
    /// A reference profile to validate the tables against; the source's own when
    /// `None`.
    pub profile: Option<PathBuf>,
    /// The label column, for the poisoning detectors; the source's own when `None`.
    pub label: Option<String>,
    /// Findings at or above this refuse the data.
    pub fail_on: FailOn,
    /// Where the project's manifest of the accepted data goes; under `.aigis/ingested/`
    /// when `None`.
    pub out: Option<PathBuf>,
}

impl Request {
    /// `src`, judged at `fail_on`, everything else from the source's configuration.
    pub fn new(src: PathBuf, fail_on: FailOn) -> Self {
        Request {
            src,
            manifest: None,
            profile: None,
            label: None,
            fail_on,
            out: None,
        }
    }
}

/// What an ingest decided once the source was known, signed and unchanged (an earlier
/// refusal is an [`Error`] whose `is_check_failure` is true). Either way, the provenance
/// was recorded.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Outcome {
    /// The approved source's name.
    pub source: String,
    /// Whether every table passed its scan.
    pub accepted: bool,
    /// The key id that signed the source's manifest.
    pub signed_by: String,
    /// The files the source's manifest lists.
    pub files: usize,
    /// Each table's scan.
    pub scans: Vec<IngestScan>,
    /// Why the data was refused, one line per failing file.
    pub refusals: Vec<String>,
    /// The project's signed manifest of the accepted data.
    pub manifest: Option<PathBuf>,
    /// Its ledger index.
    pub manifest_evidence: Option<u64>,
    /// The ledger index of the provenance.
    pub provenance_evidence: u64,
}

fn now() -> String {
    humantime::format_rfc3339_seconds(SystemTime::now()).to_string()
}

/// The approved source the canonical path `src` lies in.
fn find_source(project: &Project, src: &Path) -> Result<SourceConfig, Error> {
    let sources = DataConfig::from_table(&project.config.data)?.sources;
    for source in &sources {
        if let Ok(base) = project.root.join(&source.path).canonicalize()
            && src.starts_with(&base)
        {
            return Ok(source.clone());
        }
    }
    let approved = if sources.is_empty() {
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
    Err(Error::NotApproved {
        path: src.to_owned(),
        approved,
    })
}

/// Ingests `request.src` into `project`, signing with `key`; see the module docs.
pub fn ingest(
    project: &Project,
    key: &SigningKey,
    request: &Request,
    progress: &(dyn Progress + Sync),
) -> Result<Outcome, Error> {
    let started = now();
    let fail_on = request.fail_on;
    let src = request
        .src
        .canonicalize()
        .map_err(|e| Error::io(&request.src, e))?;
    let source = find_source(project, &src)?;

    // 1. Signed by a key the source is approved with, and unchanged since.
    let keys = source
        .keys
        .iter()
        .map(|k| {
            aigis_crypto::note::public_key_of(k)
                .map(|(_, key)| key)
                .map_err(|e| Error::SourceKey {
                    source_name: source.name.clone(),
                    source: e,
                })
        })
        .collect::<Result<Vec<_>, Error>>()?;
    if keys.is_empty() {
        return Err(Error::NoSourceKeys(source.name.clone()));
    }
    let manifest_path = match &request.manifest {
        Some(m) => m.clone(),
        None => manifest::default_path(&src)?,
    };
    if !manifest_path.exists() {
        return Err(Error::Unsigned {
            path: request.src.clone(),
            manifest: manifest_path,
        });
    }
    let signed = manifest::open_signed(&manifest_path, &keys).map_err(|e| match e {
        Error::BadSignature { .. } => Error::ForeignSignature {
            source_name: source.name.clone(),
            source: Box::new(e),
        },
        other => other,
    })?;
    let opts = Options {
        chunk_size: signed.manifest.chunk_size,
        exclude: vec![manifest_path.clone(), project.layout().state_dir()],
    };
    let received = manifest::hash(&src, &opts, progress)?;
    let changes = data_manifest::compare(&signed.manifest, &received);
    if !changes.is_empty() {
        return Err(Error::Changed {
            path: request.src.clone(),
            source_name: source.name.clone(),
            changes,
        });
    }

    // 2. Every table scanned.
    let profile_path = request
        .profile
        .clone()
        .or_else(|| source.profile.as_ref().map(|p| project.root.join(p)));
    let profile = profile_path
        .as_deref()
        .map(crate::scan::read_profile)
        .transpose()?;
    let label = request.label.clone().or_else(|| source.label.clone());
    let base = if src.is_dir() {
        src.clone()
    } else {
        src.parent().map(Path::to_path_buf).unwrap_or_default()
    };
    let mut scans = Vec::new();
    let mut refusals = Vec::new();
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
        let (report, digest) = crate::scan::scan_file(&path, &options, progress)?;
        let failing = fail_on.count(&report);
        let index = project.record(
            key,
            vec![(file.path.clone(), digest)],
            &aigis_evidence::DataScan::One(Box::new(crate::scan::evidence(
                &report,
                profile.as_ref().map(|(_, d)| d),
                fail_on,
                failing > 0,
            )?)),
        )?;
        if failing > 0 {
            refusals.push(format!(
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
    let accepted = refusals.is_empty();
    let subjects = received
        .files
        .iter()
        .map(|f| Ok((f.path.clone(), f.sha256.parse::<Digest>()?)))
        .collect::<Result<Vec<_>, Error>>()?;
    let (manifest_out, manifest_index) = if accepted {
        let out = match &request.out {
            Some(o) => o.clone(),
            None => project.layout().ingested_dir().join(format!(
                "{}-{}.aigis-manifest.json",
                source.name,
                received.root.get(..16).unwrap_or(&received.root)
            )),
        };
        if let Some(dir) = out.parent() {
            std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        }
        let index = manifest::sign_and_record(&project.open_ledger()?, key, &received, &out)?;
        (Some(out), Some(index))
    } else {
        (None, None)
    };
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
                    key_id: key.public().key_id(),
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
                        refusals: refusals.clone(),
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
    let provenance_evidence = project.record(key, subjects, &predicate)?;

    Ok(Outcome {
        source: source.name,
        accepted,
        signed_by: signed.signed_by,
        files: received.files.len(),
        scans,
        refusals,
        manifest: manifest_out,
        manifest_evidence: manifest_index,
        provenance_evidence,
    })
}
