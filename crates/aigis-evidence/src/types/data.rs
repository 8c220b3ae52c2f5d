//! Predicates of the data stage: manifests, profiles, scans, quarantine releases,
//! masking.

use std::collections::BTreeMap;
use std::path::PathBuf;

use aigis_core::{Digest, Severity};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{Predicate, Tool};

/// `aigis data sign` (and `aigis data ingest`): a dataset manifest, per-file and
/// per-chunk SHA-256 under an RFC 6962 root. The subjects are the dataset's files.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DataManifest {
    /// The manifest format, `aigis/data-manifest@v1`.
    pub format: String,
    /// Bytes per chunk.
    pub chunk_size: u64,
    /// The RFC 6962 root over every chunk digest, in hex.
    pub root: String,
    /// Every file, sorted by path.
    pub files: Vec<ManifestFile>,
}

/// One file of a [`DataManifest`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ManifestFile {
    /// Relative to the manifest's base, `/`-separated.
    pub path: String,
    /// The file's size in bytes.
    pub size: u64,
    /// The file's SHA-256, in hex.
    #[schemars(schema_with = "super::hex_schema")]
    pub sha256: String,
    /// Each chunk's SHA-256, in hex, in order.
    pub chunks: Vec<String>,
}

impl Predicate for DataManifest {
    const TYPE: &'static str = "https://aigis.dev/predicate/data-manifest/v1";
    const NAME: &'static str = "data-manifest";
}

/// `aigis data profile`: a reference profile was made. The subjects are the tables and
/// the profile file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DataProfile {
    /// Data rows over every table.
    pub rows: u64,
    /// How many tables were profiled.
    pub files: u64,
    /// Every column with its inferred type.
    pub columns: Vec<ProfileColumn>,
}

/// One column of a [`DataProfile`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProfileColumn {
    /// The column's header.
    pub name: String,
    /// The type inferred from every value (`integer`, `float`, `boolean`, `string`, …).
    #[serde(rename = "type")]
    pub column_type: String,
    /// The share of empty cells.
    pub null_rate: f64,
}

impl Predicate for DataProfile {
    const TYPE: &'static str = "https://aigis.dev/predicate/data-profile/v1";
    const NAME: &'static str = "data-profile";
}

/// `aigis data scan` (and `aigis data ingest`, once per table): schema, personal data
/// and poisoning. One table gives one `DataScanFile`; a folder gives every table's,
/// under `files`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum DataScan {
    /// The scan of one table.
    One(Box<DataScanFile>),
    /// The scan of a folder of tables.
    Many(DataScanFiles),
}

impl Predicate for DataScan {
    const TYPE: &'static str = "https://aigis.dev/predicate/data-scan/v1";
    const NAME: &'static str = "data-scan";
}

/// A folder's [`DataScan`]: every table's scan, and the verdict over all.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DataScanFiles {
    /// Every table's scan, each with its `file`.
    pub files: Vec<DataScanFile>,
    /// The `--fail-on` threshold (`none` when nothing fails).
    pub fail_on: String,
    /// Whether no table has a finding at or above `fail_on`.
    pub passed: bool,
    /// The program that scanned.
    pub tool: Tool,
}

/// The scan of one table: counts, never values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DataScanFile {
    /// The table format (`csv`, `jsonl`, `parquet`).
    pub format: String,
    /// Data rows.
    pub rows: u64,
    /// How many columns.
    pub columns: u64,
    /// `reference` when checked against a profile, `inferred` otherwise.
    pub schema: String,
    /// The digest of the reference profile, `null` without one.
    #[schemars(schema_with = "super::optional_digest_schema")]
    pub profile: Option<Digest>,
    /// Findings counted per rule and column, most severe first.
    pub counts: Vec<RuleCount>,
    /// The most severe finding's severity, `null` without findings.
    #[schemars(schema_with = "super::optional_severity_schema")]
    pub worst: Option<Severity>,
    /// Columns judged to hold personal data.
    pub personal_columns: Vec<PersonalColumn>,
    /// The quasi-identifier set that singles out most rows, `null` when none.
    pub quasi_identifiers: Option<QuasiIdentifiers>,
    /// The poisoning screen, `null` when it did not run.
    pub poisoning: Option<Poisoning>,
    /// The `--fail-on` threshold (`none` when nothing fails).
    pub fail_on: String,
    /// Whether no finding is at or above `fail_on`.
    pub passed: bool,
    /// The program that scanned.
    pub tool: Tool,
    /// Where flagged rows went, with `--quarantine`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quarantine: Option<Quarantine>,
    /// The table, in a folder's scan.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<PathBuf>,
}

/// How often one rule fired (in one column).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleCount {
    /// The rule, dotted: `schema.type`, `pii.email`, `poison.label_flip`, ….
    pub rule: String,
    /// The column, for per-column rules.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub column: Option<String>,
    /// The rule's severity.
    #[schemars(schema_with = "super::severity_schema")]
    pub severity: Severity,
    /// How many findings.
    pub count: u64,
}

/// A column judged to hold personal data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PersonalColumn {
    /// The column's header.
    pub column: String,
    /// The kind of personal data (`person_name`, `date_of_birth`, …).
    pub kind: String,
    /// How sure the judgement is, 0 to 1.
    pub confidence: f64,
}

/// The worst quasi-identifier set of a table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct QuasiIdentifiers {
    /// Rows considered.
    pub rows: u64,
    /// The columns that together single people out.
    pub columns: Vec<String>,
    /// The share of rows they make unique.
    pub unique_share: f64,
    /// k-anonymity's k.
    pub k: u64,
}

/// The poisoning screen of a table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Poisoning {
    /// The label column, if one was given.
    pub label: Option<String>,
    /// The feature columns used.
    pub features: Vec<String>,
    /// How many rows were flagged.
    pub suspicious_rows: u64,
    /// Rows flagged per detector.
    pub counts: PoisonCounts,
}

/// Rows flagged by each poisoning detector.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PoisonCounts {
    /// Isolation forest and per-column extremes.
    pub outlier: u64,
    /// Confident learning.
    pub label_flip: u64,
    /// Exact duplicates.
    pub duplicate: u64,
    /// Near duplicates.
    pub near_duplicate: u64,
    /// Trigger groups.
    pub backdoor: u64,
}

/// Where `--quarantine` put a table's rows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Quarantine {
    /// The quarantine folder.
    pub dir: PathBuf,
    /// The severity at which a row is quarantined.
    pub quarantine_on: String,
    /// The rows kept.
    pub clean: QuarantinePart,
    /// The rows set aside.
    pub quarantined: QuarantinePart,
}

/// One half of a [`Quarantine`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct QuarantinePart {
    /// The file written.
    pub file: PathBuf,
    /// Its data rows.
    pub rows: u64,
    /// Its SHA-256, in hex.
    #[schemars(schema_with = "super::hex_schema")]
    pub sha256: String,
}

/// `aigis data release`: quarantined rows released by a reviewer. The subjects are the
/// clean and quarantined files after the release.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DataRelease {
    /// The table the quarantine was made from.
    pub source: ReleaseSource,
    /// The rows released (1-based rows of the source).
    pub released_rows: Vec<u64>,
    /// Rows asked for that were not in the quarantine.
    pub not_found: Vec<u64>,
    /// Why, in the reviewer's words.
    pub reason: String,
    /// Who released them.
    pub reviewer: Reviewer,
    /// The two files' SHA-256 (hex) before the release.
    pub before: CleanQuarantined<String>,
    /// The two files' data rows after it.
    pub rows_now: CleanQuarantined<u64>,
}

/// The source table of a [`DataRelease`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReleaseSource {
    /// The table.
    pub file: String,
    /// Its SHA-256, in hex.
    #[schemars(schema_with = "super::hex_schema")]
    pub sha256: String,
}

/// Who released quarantined rows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Reviewer {
    /// The project key that signed the release.
    pub key_id: String,
    /// The login name, `null` when unknown.
    pub user: Option<String>,
}

/// A value for the clean and the quarantined file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CleanQuarantined<T> {
    /// For the clean file.
    pub clean: T,
    /// For the quarantined file.
    pub quarantined: T,
}

impl Predicate for DataRelease {
    const TYPE: &'static str = "https://aigis.dev/predicate/data-release/v1";
    const NAME: &'static str = "data-release";
}

/// `aigis data mask`: a table masked by rules. The subjects are the input and output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DataMask {
    /// The digest of the rules file.
    #[schemars(schema_with = "super::digest_schema")]
    pub rules: Digest,
    /// The tokenization key's id, `null` when no rule tokenizes.
    pub key_id: Option<String>,
    /// The input's table format.
    pub input_format: String,
    /// The output's table format.
    pub output_format: String,
    /// Data rows.
    pub rows: u64,
    /// Rows shorter than the header, padded.
    pub ragged_rows_padded: u64,
    /// Cells whose text changed.
    pub cells_changed: u64,
    /// Per column, the counts by kind and action.
    pub columns: BTreeMap<String, Vec<MaskChange>>,
    /// The program that masked.
    pub tool: Tool,
}

/// What masking did in one column: how many values of which kind got which action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MaskChange {
    /// The kind of personal data found, `null` for a whole-column rule.
    pub kind: Option<String>,
    /// The action taken (`redact`, `hash`, `tokenize`, …).
    pub action: String,
    /// How many values.
    pub count: u64,
}

impl Predicate for DataMask {
    const TYPE: &'static str = "https://aigis.dev/predicate/data-mask/v1";
    const NAME: &'static str = "data-mask";
}

/// `aigis data detokenize`: tokens turned back into values. The subjects are the input
/// and output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DataDetokenize {
    /// The tokenization key's id.
    pub key_id: String,
    /// Data rows.
    pub rows: u64,
    /// Tokens restored in all.
    pub tokens_restored: u64,
    /// Tokens restored per column.
    pub columns: BTreeMap<String, u64>,
    /// The program that restored them.
    pub tool: Tool,
}

impl Predicate for DataDetokenize {
    const TYPE: &'static str = "https://aigis.dev/predicate/data-detokenize/v1";
    const NAME: &'static str = "data-detokenize";
}
