//! Predicates of the artifact stage: scans, signatures, watermarks and the registry.

use std::path::PathBuf;

use aigis_core::Digest;
/// How one file differs from the signed model: the type `aigis data verify` shares.
pub use aigis_core::{ChangeKind, FileChange};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{Predicate, Tool};

/// `aigis model scan` (inside a project), `model register` and the promotion gate's
/// rescan: every file's verdict and findings. The subjects are the files, in the order
/// of `files`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ModelScan {
    /// Every file scanned, in subject order.
    pub files: Vec<ScannedFile>,
    /// The project's reviewed allowlist in force. Absent only in scans recorded before
    /// there was an allowlist, which ran under the empty one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowlist: Option<AllowlistInForce>,
    /// The `--fail-on` verdict (`none` when nothing fails).
    pub fail_on: String,
    /// Whether no file is at or above `fail_on`.
    pub passed: bool,
    /// The program that scanned.
    pub tool: Tool,
}

/// One file of a [`ModelScan`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScannedFile {
    /// The file as scanned.
    pub path: PathBuf,
    /// The format found from the content (`pickle`, `pytorch-zip`, `safetensors`, …).
    pub format: String,
    /// The worst verdict of the findings; `safe` when there is none.
    pub verdict: Verdict,
    /// The file's size.
    pub bytes: u64,
    /// What the scanner found (its findings; "evidence" is the ledger entry that holds
    /// this predicate).
    pub findings: Vec<ScanFinding>,
    /// The allowlist entries that let one of its imports through, sorted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowlist_used: Vec<String>,
}

/// A model scanner's verdict, from best to worst.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Only what ordinary ML files use.
    Safe,
    /// Something outside the allowlist that is not known to be dangerous.
    Suspicious,
    /// Part of the file could not be parsed: it may hide anything.
    Inconclusive,
    /// A call known to run code, touch files or the network, or escape the model folder.
    Dangerous,
}

impl Verdict {
    /// The lowercase name, as in JSON.
    pub const fn as_str(self) -> &'static str {
        match self {
            Verdict::Safe => "safe",
            Verdict::Suspicious => "suspicious",
            Verdict::Inconclusive => "inconclusive",
            Verdict::Dangerous => "dangerous",
        }
    }
}

/// One finding of the model scanner: what, where, and the verdict it leads to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScanFinding {
    /// The verdict this finding leads to.
    pub verdict: Verdict,
    /// A stable rule id, for example `pickle.global.dangerous`.
    pub rule: String,
    /// For a person: the import, the header field, the path.
    pub message: String,
    /// Where in the file.
    pub location: Location,
}

/// Where in a file a finding is.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Location {
    /// The member inside an archive, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub member: Option<String>,
    /// The byte offset in the file or the member.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset: Option<u64>,
}

/// The allowlist a scan ran under.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AllowlistInForce {
    /// The digest of the list (compared by the promotion gate).
    #[schemars(schema_with = "super::digest_schema")]
    pub digest: Digest,
    /// Every entry.
    pub entries: Vec<AllowlistEntry>,
}

/// One reviewed allowlist entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AllowlistEntry {
    /// The exact `module.qualname` allowed.
    pub name: String,
    /// Why it is safe to load.
    pub reason: String,
    /// Who reviewed it.
    pub by: String,
}

impl Predicate for ModelScan {
    const TYPE: &'static str = "https://aigis.dev/predicate/model-scan/v1";
    const NAME: &'static str = "model-scan";
}

/// `aigis model sign`: an OpenSSF model-signing signature was made. The subject is the
/// model's name with the manifest's root digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ModelSignature {
    /// The signature file written.
    pub signature: PathBuf,
    /// Its SHA-256, in hex.
    #[schemars(schema_with = "super::hex_schema")]
    pub signature_sha256: String,
    /// The signed statement's predicate type (model-signing's).
    pub format: String,
    /// The signing key's id.
    pub key_id: String,
    /// The signature algorithm.
    pub algorithm: String,
    /// How the model was hashed.
    pub serialization: SigningSerialization,
    /// How many resources (files or shards) are listed.
    pub resources: u64,
    /// How many files were hashed.
    pub files: u64,
    /// How many bytes were hashed.
    pub bytes: u64,
    /// The program that signed.
    pub tool: Tool,
}

impl Predicate for ModelSignature {
    const TYPE: &'static str = "https://aigis.dev/predicate/model-signature/v1";
    const NAME: &'static str = "model-signature";
}

/// How a model became a list of digests (model-signing's `serialization` block).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SigningSerialization {
    /// One digest per file, or per shard of each file.
    pub method: SigningMethod,
    /// The shard size, with `shards`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard_size: Option<u64>,
    /// Whether symbolic links were followed.
    pub allow_symlinks: bool,
    /// Paths left out, relative to the model root.
    pub ignore_paths: Vec<String>,
}

/// How a model is hashed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum SigningMethod {
    /// One SHA-256 per file.
    Files,
    /// One SHA-256 per fixed-size piece of each file.
    Shards,
}

/// `aigis model verify` and `aigis model register --signature`: a model signature was
/// checked. Three shapes, one per way the check ends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum ModelVerification {
    /// `model verify`: a trusted key verified the signature and the files were compared.
    /// The subject is the model's name with the signed root digest.
    Checked(SignatureChecked),
    /// `model verify`: no trusted key verifies the signature. The subject is the
    /// signature file with its digest.
    Rejected(SignatureRejected),
    /// `model register`: the signature checked over the stored files. The subject is the
    /// version, `<name>@<version>`.
    Registered(SignatureRegistered),
}

impl Predicate for ModelVerification {
    const TYPE: &'static str = "https://aigis.dev/predicate/model-verification/v1";
    const NAME: &'static str = "model-verification";
}

/// A verified signature compared with the files on disk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SignatureChecked {
    /// Whether the files match the signed ones.
    pub passed: bool,
    /// The signature file.
    pub signature: PathBuf,
    /// Its SHA-256, in hex.
    #[schemars(schema_with = "super::hex_schema")]
    pub signature_sha256: String,
    /// Always `true` in this shape.
    pub signature_verified: bool,
    /// The key that verified it.
    pub key_id: String,
    /// The signature algorithm.
    pub algorithm: String,
    /// How the model was hashed.
    pub serialization: SigningSerialization,
    /// How many files were compared.
    pub files: u64,
    /// What differs, file by file.
    pub changes: Vec<FileChange>,
    /// The program that verified.
    pub tool: Tool,
}

/// A signature no trusted key verifies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SignatureRejected {
    /// Always `false` in this shape.
    pub passed: bool,
    /// The signature file.
    pub signature: PathBuf,
    /// Its SHA-256, in hex.
    #[schemars(schema_with = "super::hex_schema")]
    pub signature_sha256: String,
    /// Always `false` in this shape.
    pub signature_verified: bool,
    /// Why it was refused.
    pub reason: String,
    /// The program that verified.
    pub tool: Tool,
}

/// A signature checked as a version was registered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SignatureRegistered {
    /// The bundle's digest in the registry's store.
    #[schemars(schema_with = "super::optional_digest_schema")]
    pub bundle: Option<Digest>,
    /// Whether it verified over the stored files.
    pub verified: bool,
    /// What the check found.
    pub detail: String,
    /// The version's files.
    pub files: Vec<RegisteredFile>,
}

/// One stored file of a registered version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisteredFile {
    /// Relative to the model folder, `/`-separated (the file name for one file).
    pub path: String,
    /// Its digest.
    #[schemars(schema_with = "super::digest_schema")]
    pub sha256: Digest,
    /// Its size.
    pub bytes: u64,
}

/// `aigis model register`: a version entered the registry. The subject is
/// `<name>@<version>` with the version's digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ModelRegistration {
    /// The model's name.
    pub name: String,
    /// The version number.
    pub version: u32,
    /// `file` or `folder`.
    pub kind: ModelKind,
    /// Where the files were registered from.
    pub source: String,
    /// The stored files.
    pub files: Vec<RegisteredFile>,
    /// The ledger index of the scan, `null` when there was none.
    pub scan_evidence: Option<u64>,
    /// The signature bundle's digest in the store, `null` when unsigned.
    #[schemars(schema_with = "super::optional_digest_schema")]
    pub signature_bundle: Option<Digest>,
    /// The ledger index of the signature check, `null` when unsigned.
    pub signature_evidence: Option<u64>,
}

/// Whether a version is one file or a folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ModelKind {
    /// One file.
    File,
    /// A folder of files.
    Folder,
}

impl Predicate for ModelRegistration {
    const TYPE: &'static str = "https://aigis.dev/predicate/model-registration/v1";
    const NAME: &'static str = "model-registration";
}

/// `aigis model promote` and `aigis model rollback`: the promotion gate's decision,
/// allowed or refused, with every check. The subject is `<name>@<version>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ModelPromotion {
    /// The model's name.
    pub name: String,
    /// The version moved.
    pub version: u32,
    /// `promote` or `rollback`.
    pub action: StageAction,
    /// The stage.
    pub stage: String,
    /// The version at the stage before, `null` when none.
    pub from: Option<u32>,
    /// `allowed` when every check passed, `refused` otherwise.
    pub decision: Decision,
    /// What the gate's readers of evidence found (stored bytes, scan, signature, and the
    /// shadow and detector checks when they apply), passed or not.
    pub checks: Vec<GateCheck>,
    /// The Cedar policy that decided: where it came from and its digest. Absent from
    /// decisions made before the gate read policies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<GatePolicyRef>,
    /// Each policy's verdict.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub policies: Vec<GatePolicyVerdict>,
    /// The version's attributes the policies were asked about, as plain JSON (decimals as
    /// numbers, keys as key ids), so the decision can be asked again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attributes: Option<serde_json::Map<String, serde_json::Value>>,
    /// Every ledger entry the attributes were read from, ascending.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub read: Vec<u64>,
}

/// The gate's policy file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GatePolicyRef {
    /// `built-in`, or the file's path.
    pub source: String,
    /// The SHA-256 of its text.
    #[schemars(schema_with = "super::digest_schema")]
    pub digest: Digest,
}

/// One policy's verdict in a gate decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GatePolicyVerdict {
    /// Its `@id`.
    pub policy: String,
    /// `permit` or `forbid`.
    pub effect: String,
    /// A forbid that did not apply, or a permit that did.
    pub passed: bool,
    /// The attributes it reads.
    pub reads: Vec<String>,
    /// The ledger entries behind them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub evidence: Vec<u64>,
    /// Why it could not be evaluated (a refusal), when it could not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A change of stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum StageAction {
    /// `model promote`.
    Promote,
    /// `model rollback`.
    Rollback,
}

impl StageAction {
    /// The lowercase name, as in JSON.
    pub const fn as_str(self) -> &'static str {
        match self {
            StageAction::Promote => "promote",
            StageAction::Rollback => "rollback",
        }
    }
}

/// What the gate decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Decision {
    /// Every check passed: the stage moved.
    Allowed,
    /// A check failed: nothing moved.
    Refused,
}

/// One check of the promotion gate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GateCheck {
    /// `stored-bytes`, `scan` or `signature`.
    pub check: String,
    /// Whether it passed.
    pub passed: bool,
    /// What it found.
    pub detail: String,
    /// The ledger index of the evidence it read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evidence: Option<u64>,
}

impl Predicate for ModelPromotion {
    const TYPE: &'static str = "https://aigis.dev/predicate/model-promotion/v1";
    const NAME: &'static str = "model-promotion";
}

/// `aigis model watermark embed`: a key's mark was embedded. The subjects are the input
/// and the marked model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WatermarkEmbed {
    /// The model read.
    pub input: PathDigest,
    /// The marked model written.
    pub output: PathDigest,
    /// The watermark key's id.
    pub key_id: String,
    /// Which weights carry the mark.
    pub selection: TensorSelection,
    /// How strong the mark is.
    pub strength: WatermarkStrength,
    /// The detection threshold (z-score).
    pub threshold: f64,
    /// What embedding did.
    pub report: EmbedReport,
    /// The program that embedded.
    pub tool: Tool,
}

impl Predicate for WatermarkEmbed {
    const TYPE: &'static str = "https://aigis.dev/predicate/model-watermark-embed/v1";
    const NAME: &'static str = "model-watermark-embed";
}

/// A file and its SHA-256 (hex).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PathDigest {
    /// The file.
    pub path: PathBuf,
    /// Its SHA-256, in hex.
    #[schemars(schema_with = "super::hex_schema")]
    pub sha256: String,
}

/// Which weights carry a watermark.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum TensorSelection {
    /// Every float initializer with at least this many elements.
    MinElements(u64),
    /// The named initializers.
    Tensors(Vec<String>),
}

/// How strong a watermark is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum WatermarkStrength {
    /// A fraction of each tensor's RMS.
    Relative(f64),
    /// The combined score the marked model should reach.
    TargetScore(f64),
}

/// What embedding a watermark did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EmbedReport {
    /// Every carrier weight.
    pub tensors: Vec<EmbeddedTensor>,
    /// The marked model's combined score.
    pub z: f64,
    /// Its p-value.
    pub p_value: f64,
    /// The largest change of a weight, as a fraction of its tensor's RMS.
    pub max_change: f64,
    /// The mean change, likewise.
    pub mean_change: f64,
}

/// What embedding did to one carrier.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EmbeddedTensor {
    /// The weight's name.
    pub name: String,
    /// Its element count.
    pub elements: u64,
    /// `α` as a fraction of the tensor's RMS.
    pub strength: f64,
    /// The largest change, as a fraction of the RMS.
    pub max_change: f64,
    /// The mean change, likewise.
    pub mean_change: f64,
    /// `‖w' − w‖ / ‖w‖`.
    pub relative_l2: f64,
    /// The carrier's score in the marked model.
    pub z: f64,
}

/// `aigis model watermark verify`: a model checked for a key's mark. The subject is the
/// model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WatermarkVerify {
    /// The watermark key's id.
    pub key_id: String,
    /// Which weights were read.
    pub selection: TensorSelection,
    /// The detection threshold (z-score).
    pub threshold: f64,
    /// Whether the combined score reached the threshold.
    pub present: bool,
    /// The scores.
    pub detection: Detection,
    /// The program that checked.
    pub tool: Tool,
}

impl Predicate for WatermarkVerify {
    const TYPE: &'static str = "https://aigis.dev/predicate/model-watermark-verify/v1";
    const NAME: &'static str = "model-watermark-verify";
}

/// The scores of a watermark check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Detection {
    /// Every carrier's score.
    pub tensors: Vec<TensorScore>,
    /// The combined score, standard normal when the mark is absent.
    pub z: f64,
    /// The chance that an unmarked model scores `z` or more.
    pub p_value: f64,
}

/// One carrier's detection score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TensorScore {
    /// The weight's name.
    pub name: String,
    /// How its values are stored: `float32`, `int8` or `uint8`.
    pub stored_as: String,
    /// Its element count.
    pub elements: u64,
    /// Its score.
    pub z: f64,
}
