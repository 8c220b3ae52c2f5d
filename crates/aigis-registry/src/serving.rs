//! What a server reads from the registry: the version a stage holds, only when the
//! evidence that put it there is a promotion (or rollback) the gate allowed, signed by a
//! project key, naming that model, version and stage; and its file's bytes, checked
//! against their digests.

use aigis_core::Digest;
use aigis_evidence::{Decision as GateDecision, ModelPromotion, Predicate as _};

use crate::error::Error;
use crate::gate::read_signed;
use crate::store::{FileEntry, Registry, VersionRecord};
use crate::workflow::BUNDLE_LIMIT;

/// The largest model file a server reads from the registry.
pub const SERVE_LIMIT: u64 = 4 << 30;

/// A version at a stage, ready to serve.
#[derive(Debug, Clone)]
pub struct Staged {
    /// The version number.
    pub version: u32,
    /// The ledger index of the gate's decision that put it at the stage.
    pub evidence: u64,
    /// The served file's path in the version.
    pub file: String,
    /// Its bytes, checked against the version's digest.
    pub bytes: Vec<u8>,
    /// Its digest.
    pub digest: Digest,
    /// The version's signature bundle, when it was signed.
    pub bundle: Option<Vec<u8>>,
}

/// Why a stage cannot be served, as a message (the server names the model and key).
fn refuse(message: String) -> Error {
    Error::NotServable(message)
}

/// The version of `name` at `stage`, with `file` (or, when `None`, the version's one
/// `.onnx` file); refused unless the gate allowed it there, by signed evidence.
pub fn staged(
    project: &aigis_ledger::Project,
    reg: &Registry,
    name: &str,
    stage: &str,
    file: Option<&str>,
) -> Result<Staged, Error> {
    let stages = reg.stages(name)?;
    let at = stages
        .stages
        .get(stage)
        .ok_or_else(|| refuse(format!("no version of `{name}` is at stage `{stage}`")))?;
    let (statement, _) = read_signed(project, at.evidence).map_err(refuse)?;
    let promotion = ModelPromotion::from_statement(&statement).map_err(|e| {
        refuse(format!(
            "evidence #{} that put `{name}` at `{stage}` is not a promotion: {e}",
            at.evidence
        ))
    })?;
    if promotion.name != name
        || promotion.version != at.version
        || promotion.stage != stage
        || promotion.decision != GateDecision::Allowed
    {
        return Err(refuse(format!(
            "evidence #{} does not say the gate allowed `{name}` version {} at `{stage}`",
            at.evidence, at.version
        )));
    }
    let record = reg.version(name, at.version)?;
    let entry = model_file(&record, file)?;
    let bytes = reg.read_blob(&entry.sha256, SERVE_LIMIT)?;
    let bundle = record
        .signature_bundle
        .as_ref()
        .map(|d| reg.read_blob(d, BUNDLE_LIMIT))
        .transpose()?;
    Ok(Staged {
        version: at.version,
        evidence: at.evidence,
        file: entry.path.clone(),
        digest: entry.sha256,
        bytes,
        bundle,
    })
}

/// The file `file` of a version, or when `None` its one `.onnx` file.
pub fn model_file<'r>(
    record: &'r VersionRecord,
    file: Option<&str>,
) -> Result<&'r FileEntry, Error> {
    let (name, version) = (&record.name, record.version);
    match file {
        Some(f) => record
            .files
            .iter()
            .find(|e| e.path == f)
            .ok_or_else(|| refuse(format!("`{name}` version {version} has no file `{f}`"))),
        None => {
            let mut onnx = record.files.iter().filter(|e| e.path.ends_with(".onnx"));
            match (onnx.next(), onnx.next()) {
                (Some(one), None) => Ok(one),
                (None, _) => Err(refuse(format!(
                    "`{name}` version {version} has no `.onnx` file"
                ))),
                (Some(_), Some(_)) => Err(refuse(format!(
                    "`{name}` version {version} has several `.onnx` files: say which with `file`"
                ))),
            }
        }
    }
}
