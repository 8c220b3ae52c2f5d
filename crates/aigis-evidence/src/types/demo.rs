//! The three predicates `aigis demo` writes to show the ledger with plain statements.

use aigis_core::Digest;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::Predicate;

/// `aigis demo`: what the demo's dataset holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DatasetSummary {
    /// Data rows (the header not counted).
    pub rows: u64,
    /// The column names, in file order.
    pub columns: Vec<String>,
    /// The table format, `csv`.
    pub format: String,
}

impl Predicate for DatasetSummary {
    const TYPE: &'static str = "https://aigis.dev/predicate/dataset-summary/v1";
    const NAME: &'static str = "dataset-summary";
}

/// `aigis demo`: the digest of a stand-in artifact.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ArtifactDigest {
    /// The artifact's size in bytes.
    pub bytes: u64,
    /// What the artifact is.
    pub note: String,
}

impl Predicate for ArtifactDigest {
    const TYPE: &'static str = "https://aigis.dev/predicate/artifact-digest/v1";
    const NAME: &'static str = "artifact-digest";
}

/// `aigis demo`: an approval of a model trained on a dataset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Approval {
    /// Who approved.
    pub approved_by: String,
    /// What was decided, for example `promote`.
    pub decision: String,
    /// The model's digest.
    #[schemars(schema_with = "super::digest_schema")]
    pub model: Digest,
    /// The dataset's digest.
    #[schemars(schema_with = "super::digest_schema")]
    pub dataset: Digest,
}

impl Predicate for Approval {
    const TYPE: &'static str = "https://aigis.dev/predicate/approval/v1";
    const NAME: &'static str = "approval";
}
