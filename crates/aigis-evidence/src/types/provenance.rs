//! SLSA provenance v1, as `aigis data ingest` writes it: how a project's copy of a
//! source's dataset was made.

use std::collections::BTreeMap;
use std::path::PathBuf;

use aigis_core::Severity;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::Predicate;

/// `aigis data ingest`: SLSA provenance v1 of an ingest. The subjects are the dataset's
/// files.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IngestProvenance {
    /// What was run, with which parameters and inputs.
    pub build_definition: BuildDefinition,
    /// Who ran it, when, and what came out.
    pub run_details: RunDetails,
}

impl Predicate for IngestProvenance {
    const TYPE: &'static str = "https://slsa.dev/provenance/v1";
    const NAME: &'static str = "slsa-provenance";
}

/// SLSA's `buildDefinition`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BuildDefinition {
    /// The ingest's build type URI.
    pub build_type: String,
    /// The parameters the user chose.
    pub external_parameters: ExternalParameters,
    /// What aigis did on its own.
    pub internal_parameters: InternalParameters,
    /// The source's signed manifest.
    pub resolved_dependencies: Vec<ResolvedDependency>,
}

/// The ingest's parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExternalParameters {
    /// The approved source.
    pub source: IngestSource,
    /// The reference profile, `null` without one.
    pub profile: Option<PathBuf>,
    /// The label column, `null` without one.
    pub label: Option<String>,
    /// The `--fail-on` threshold.
    pub fail_on: String,
}

/// An approved source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IngestSource {
    /// Its name in the project's configuration.
    pub name: String,
    /// Its folder, as configured.
    pub path: PathBuf,
    /// The path read, as a `file://` URI.
    pub uri: String,
}

/// What aigis did on its own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct InternalParameters {
    /// The steps, in order.
    pub steps: Vec<String>,
    /// Who ran the ingest.
    pub run_by: RunBy,
}

/// Who ran an ingest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RunBy {
    /// The project key's id.
    pub key_id: String,
    /// The login name, `null` when unknown.
    pub user: Option<String>,
}

/// The source's signed manifest, as an input.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ResolvedDependency {
    /// `source manifest`.
    pub name: String,
    /// The manifest file, as a `file://` URI.
    pub uri: String,
    /// Algorithm to hex digest of the manifest file.
    pub digest: BTreeMap<String, String>,
    /// Who signed it and its root.
    pub annotations: ManifestAnnotations,
}

/// Who signed a source manifest, and its root.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ManifestAnnotations {
    /// The key id that verified the source's signature.
    pub signed_by: String,
    /// The manifest's RFC 6962 root, in hex.
    pub root: String,
}

/// SLSA's `runDetails`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RunDetails {
    /// The program that ran the ingest.
    pub builder: Builder,
    /// When.
    pub metadata: RunMetadata,
    /// The decision, the scans and the project's manifest.
    pub byproducts: Vec<Byproduct>,
}

/// SLSA's `builder`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Builder {
    /// `https://aigis.dev/aigis@<version>`.
    pub id: String,
}

/// SLSA's run `metadata`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RunMetadata {
    /// RFC 3339.
    pub started_on: String,
    /// RFC 3339.
    pub finished_on: String,
}

/// One byproduct of an ingest, named by `name`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "name", rename_all = "lowercase", deny_unknown_fields)]
pub enum Byproduct {
    /// Whether the data was accepted, and why not.
    Decision {
        /// The decision.
        annotations: IngestDecision,
    },
    /// Every table's scan.
    Scans {
        /// The scans.
        annotations: IngestScans,
    },
    /// The manifest the project signed of its copy.
    Manifest {
        /// The manifest.
        annotations: IngestManifest,
    },
}

/// An ingest's decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IngestDecision {
    /// Whether the data was accepted.
    pub accepted: bool,
    /// Why not, one line per failed table.
    pub refusals: Vec<String>,
}

/// An ingest's scans.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IngestScans {
    /// One per table.
    pub scans: Vec<IngestScan>,
}

/// One table's scan in an ingest (its `data-scan` evidence has the detail).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IngestScan {
    /// The table, relative to the source.
    pub file: String,
    /// Its SHA-256, in hex.
    #[schemars(schema_with = "super::hex_schema")]
    pub sha256: String,
    /// Its data rows.
    pub rows: u64,
    /// The most severe finding's severity, `null` without findings.
    #[schemars(schema_with = "super::optional_severity_schema")]
    pub worst: Option<Severity>,
    /// Whether nothing is at or above the threshold.
    pub passed: bool,
    /// The ledger index of its `data-scan` evidence.
    pub evidence: u64,
}

/// The manifest an ingest signed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IngestManifest {
    /// Where it was written, `null` when the data was refused.
    pub path: Option<PathBuf>,
    /// Its ledger index, `null` when the data was refused.
    pub evidence: Option<u64>,
    /// The root of the data as received, in hex.
    pub root: String,
}
