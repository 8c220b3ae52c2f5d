//! Predicates of governance (`aigis report`).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{Predicate, Tool};

/// `aigis report attest`: a person's signed statement that a control of a framework is in
/// place (a policy adopted, an impact assessment done), for the controls no tool can
/// measure. The subjects are the documents it points to, by digest (or, with none, the
/// statement's own text).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ControlStatement {
    /// The framework's id (`nist-ai-rmf`, `eu-ai-act`, …).
    pub framework: String,
    /// The control's id as the framework writes it (`GOVERN 1.1`, `Article 14`, …).
    pub control: String,
    /// What is in place, in the signer's words.
    pub statement: String,
    /// The documents it points to (a policy, an assessment), by path and SHA-256.
    pub documents: Vec<crate::PathDigest>,
    /// The aigis that recorded it.
    pub tool: Tool,
}

impl Predicate for ControlStatement {
    const TYPE: &'static str = "https://aigis.dev/predicate/control-statement/v1";
    const NAME: &'static str = "control-statement";
}

/// `aigis report compliance`: a compliance report was made. The subject is the report's
/// signed payload (`report:<framework>`), by digest; the counts are what it says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ComplianceReport {
    /// The framework's id.
    pub framework: String,
    /// The framework's version the mapping follows.
    pub framework_version: String,
    /// The SHA-256 of the mapping (controls to evidence) the report applied, in hex.
    #[schemars(schema_with = "super::hex_schema")]
    pub mapping: String,
    /// The size of the ledger checkpoint the report is bound to: every entry it cites is
    /// below it.
    pub checkpoint_size: u64,
    /// Controls met.
    pub met: u64,
    /// Controls partly met.
    pub partial: u64,
    /// Controls with no evidence.
    pub missing: u64,
    /// Every ledger entry the report cites, ascending.
    pub cited: Vec<u64>,
    /// The aigis that made it.
    pub tool: Tool,
}

impl Predicate for ComplianceReport {
    const TYPE: &'static str = "https://aigis.dev/predicate/compliance-report/v1";
    const NAME: &'static str = "compliance-report";
}

/// `aigis deps scan`: lockfiles' pinned packages matched against an OSV database. The
/// subjects are the lockfiles. Package names, versions and advisory ids only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DependencyScan {
    /// The lockfiles read, by path and SHA-256.
    pub lockfiles: Vec<crate::PathDigest>,
    /// OSV records in the database read.
    pub osv_records: u64,
    /// Packages checked.
    pub packages: u64,
    /// What could not be checked (a requirement not pinned, a package not from an index).
    pub unchecked: u64,
    /// Each package a record affects.
    pub vulnerable: Vec<VulnerablePackage>,
    /// The `--fail-on` rating (`none` when nothing fails).
    pub fail_on: String,
    /// No vulnerable package at or above `fail_on`.
    pub passed: bool,
    /// The aigis that scanned.
    pub tool: Tool,
}

/// A package an OSV record affects.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VulnerablePackage {
    /// `crates.io`, `PyPI` or `npm`.
    pub ecosystem: String,
    /// The package.
    pub name: String,
    /// The version pinned.
    pub version: String,
    /// The record's id.
    pub id: String,
    /// `low`, `medium`, `high`, `critical` or `unknown`.
    pub rating: String,
    /// The versions that fix it.
    pub fixed: Vec<String>,
}

impl Predicate for DependencyScan {
    const TYPE: &'static str = "https://aigis.dev/predicate/dependency-scan/v1";
    const NAME: &'static str = "dependency-scan";
}

/// `aigis roles init|grant|revoke`: the project's roles changed. The subject is the new
/// roles file (`roles:<version>`), by the SHA-256 of its signed bytes; the readers of the
/// roles file check that the newest of these names the file they read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleChange {
    /// The roles file's version after the change (1 for `roles init`).
    pub version: u64,
    /// The SHA-256 of the new roles file's bytes, in hex.
    #[schemars(schema_with = "super::hex_schema")]
    pub roles_sha256: String,
    /// `init`, `grant` or `revoke`.
    pub change: String,
    /// The member changed (a key id); `null` for `init`.
    pub member: Option<String>,
    /// The roles granted or revoked.
    pub roles: Vec<String>,
    /// The key id of the admin who signed the change.
    pub by: String,
    /// The aigis that recorded it.
    pub tool: Tool,
}

impl Predicate for RoleChange {
    const TYPE: &'static str = "https://aigis.dev/predicate/role-change/v1";
    const NAME: &'static str = "role-change";
}

/// `aigis data erase`: a data subject's key was destroyed, so every cell protected under
/// it (`aigis data protect`) is unreadable wherever it was copied. The subject is the
/// keyed hash the protected tables name it by (`subject:<hash>`, digest of that string),
/// never its id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Erasure {
    /// The subject's keyed hash (32 hex digits).
    pub subject: String,
    /// Why (a request's reference, a retention rule), as given.
    pub reason: String,
    /// The id of the store key the remaining subject keys were re-encrypted under.
    pub store_key: String,
    /// Subjects whose keys remain.
    pub remaining: u64,
    /// The aigis that erased.
    pub tool: Tool,
}

impl Predicate for Erasure {
    const TYPE: &'static str = "https://aigis.dev/predicate/erasure/v1";
    const NAME: &'static str = "erasure";
}

/// `aigis data retention --enforce`: files past their retention rule, deleted. The
/// subjects are the files, by digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RetentionEnforced {
    /// Each file deleted: its path and SHA-256 (hex), the rule's folder and its days.
    pub deleted: Vec<RetainedFile>,
    /// The aigis that enforced.
    pub tool: Tool,
}

/// A file past its retention.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RetainedFile {
    /// The file.
    pub path: String,
    /// Its SHA-256, hex.
    #[schemars(schema_with = "super::hex_schema")]
    pub sha256: String,
    /// The rule's folder.
    pub rule: String,
    /// The rule's days.
    pub days: u64,
    /// The file's age in whole days when it was deleted.
    pub age_days: u64,
}

impl Predicate for RetentionEnforced {
    const TYPE: &'static str = "https://aigis.dev/predicate/retention/v1";
    const NAME: &'static str = "retention";
}

/// `aigis keys mask rotate`, `aigis keys recipient rotate`: a secret key replaced by a new
/// one, the old one kept for an overlap (its tokens or files still open until then) and
/// then deleted. Key ids only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SecretRotation {
    /// `mask` or `recipient`.
    pub kind: String,
    /// The key retired.
    pub old_key_id: String,
    /// The key in use from now.
    pub new_key_id: String,
    /// When the old key is deleted (RFC 3339).
    pub overlap_until: String,
    /// The aigis that rotated it.
    pub tool: Tool,
}

impl Predicate for SecretRotation {
    const TYPE: &'static str = "https://aigis.dev/predicate/secret-rotation/v1";
    const NAME: &'static str = "secret-rotation";
}
