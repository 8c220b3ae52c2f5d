//! The model registry of aigis and its promotion gate, as a library a command line or a
//! server calls.
//!
//! - [`store`]: the registry on disk (`.aigis/registry/`): named, numbered versions of
//!   model files in a content-addressed store, and which version holds each stage.
//! - [`Workflow`]: what changes the registry and records evidence of it in the project's
//!   ledger: [`Workflow::register`] (store the files, scan the stored bytes with
//!   `aigis_scan::Scanner`, verify an OpenSSF model-signing bundle over them),
//!   [`Workflow::promote`] and [`Workflow::rollback`], both decided by the gate.
//! - The gate ([`Workflow::gate`]) decides from signed evidence only: it re-hashes the
//!   stored bytes, reads the scan and signature evidence from the ledger through the
//!   `aigis-evidence` types (an entry not signed by a key of the project's keyring is not
//!   read), and verifies the signature again. Every check is returned, passed or not, so a
//!   refusal names every reason; a refusal is a [`Decision`], not an error.
//!
//! Nothing here prints; progress goes to a [`Progress`] the caller gives.
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use aigis_registry::{NoProgress, Workflow};
//!
//! let project = aigis_ledger::Project::discover(std::path::Path::new("."))?;
//! let key = project.signing_key(None)?;
//! let scanner = aigis_scan::Scanner::new();
//! let flow = Workflow::new(&project, &key, &scanner, &NoProgress);
//! let registered = flow.register(std::path::Path::new("model.onnx"), "fraud", None)?;
//! let decision = flow.promote("fraud", registered.record.version, "production")?;
//! for check in &decision.checks {
//!     println!("{} {} {}", check.check, check.passed, check.detail);
//! }
//! # Ok(())
//! # }
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod bom;
pub mod card;
mod detector;
mod error;
mod gate;
pub mod policy;
pub mod read;
mod scan;
mod serving;
mod shadow;
#[expect(
    missing_docs,
    reason = "moved as is from aigis-model, where missing docs were not denied; documenting every field is left for after the walker change merges into it"
)]
pub mod store;
mod workflow;

pub use aigis_core::{NoProgress, Progress};
pub use error::Error;
pub use gate::{ALLOWLIST_HINT, Check, Decision, NotCounted};
pub use policy::{GatePolicy, PolicyError};
pub use scan::{model_scan, record_model_scan};
pub use serving::{SERVE_LIMIT, Staged, model_file, staged};
pub use store::{Registry, RegistryError, VersionRecord};
pub use workflow::{BUNDLE_LIMIT, Registered, Workflow, check_stage, open};

#[cfg(test)]
mod tests;
