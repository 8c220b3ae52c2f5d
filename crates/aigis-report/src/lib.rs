//! Compliance reports an auditor can check offline.
//!
//! - [`framework`]: a framework's controls mapped to the kinds of evidence aigis records,
//!   as data (`frameworks/*.toml`, built in): NIST AI RMF 1.0, the EU AI Act's high-risk
//!   obligations, ISO/IEC 42001 Annex A, the OWASP ML Security Top 10, MITRE ATLAS
//!   mitigations, GDPR and HIPAA.
//! - [`compliance::build`]: each control judged met, partial or missing from the newest
//!   signed evidence in the ledger, up to a checkpoint signed for the report; every entry
//!   cited is carried in the report with its inclusion proof.
//! - [`sign`] wraps the report in a DSSE envelope signed by the project key, and
//!   [`verify()`] checks such a file with nothing but the project's verifier key: the
//!   signature, the checkpoint, each cited entry's inclusion and signature, and each
//!   control's status judged again from the cited entries under the report's own mapping.
//! - [`html`] renders a report for people.
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let project = aigis_ledger::Project::discover(std::path::Path::new("."))?;
//! let key = project.signing_key(None)?;
//! let (framework, mapping) = aigis_report::Framework::built_in("nist-ai-rmf")?;
//! let report = aigis_report::compliance::build(&project, &key, &framework, mapping, aigis_ledger::now_ms())?;
//! let signed = aigis_report::sign(&report, &key)?;
//! let vkey = aigis_crypto::note::verifier_key(project.origin(), &key.public())?;
//! assert!(aigis_report::verify(&signed, &[vkey])?.ok);
//! # Ok(())
//! # }
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod compliance;
pub mod framework;
pub mod html;
mod verify;

pub use compliance::{Report, Status};
pub use framework::Framework;
pub use verify::{Verified, verify};

use sha2::Digest as _;

/// The DSSE payload type of a signed report.
pub const PAYLOAD_TYPE: &str = "application/vnd.aigis.compliance-report+json";

/// Why a report could not be made or read.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The ledger or the project.
    #[error(transparent)]
    Ledger(#[from] aigis_ledger::Error),
    /// A key.
    #[error(transparent)]
    Crypto(#[from] aigis_crypto::Error),
    /// No such built-in framework.
    #[error("`{id}` is not a framework aigis maps (known: {known})")]
    UnknownFramework {
        /// The id asked for.
        id: String,
        /// The ids known.
        known: String,
    },
    /// A mapping that does not read or check.
    #[error("the mapping `{source_name}` {message}")]
    Mapping {
        /// The file.
        source_name: String,
        /// What is wrong.
        message: String,
    },
    /// A ledger entry that is not UTF-8 JSON (a DSSE envelope always is).
    #[error("ledger entry #{0} is not text")]
    NotText(u64),
    /// A file that is not a signed report at all.
    #[error("not a signed aigis compliance report: {0}")]
    NotAReport(String),
    /// The report could not be written as JSON (a bug).
    #[error("the report cannot be written as JSON: {0}")]
    Json(#[from] serde_json::Error),
}

/// The SHA-256 of `bytes`, in hex.
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(bytes))
}

/// The report as a DSSE envelope signed with `key` (JSON bytes).
pub fn sign(report: &Report, key: &aigis_crypto::SigningKey) -> Result<Vec<u8>, Error> {
    let payload = serde_json::to_vec(report)?;
    Ok(aigis_crypto::dsse::Envelope::sign(PAYLOAD_TYPE, payload, key).to_json())
}
