//! Domain types shared by every aigis crate. No I/O happens here, with one exception:
//! [`walk`], the one directory walker, which every crate that reads a folder shares.
//!
//! - [`Digest`]: a SHA-256 digest, the name aigis gives every dataset, model and report;
//! - [`Statement`]: an [in-toto Statement v1], the body of every piece of evidence;
//! - [`Finding`] and [`Severity`]: what a check found, where, and how serious it is;
//! - [`Hint`]: the known fix for an error, apart from its message; [`CheckFailure`]:
//!   whether an error means the check ran and the artifact failed it;
//! - [`FileChange`]: a file added, removed or modified, in data and model verification alike;
//! - [`walk`]: folders listed with an explicit [`walk::LinkPolicy`] for symbolic links.
//!
//! ```
//! use aigis_core::{Digest, Statement};
//!
//! let model = b"model bytes";
//! let statement = Statement::new(
//!     vec![("model.onnx".into(), Digest::of(model))],
//!     "https://aigis.dev/predicate/model-scan/v1",
//!     serde_json::json!({"findings": 0}),
//! )?;
//! let parsed = Statement::from_json(&statement.to_json())?;
//! assert_eq!(parsed.subject_digests().next(), Some(Digest::of(model)));
//! # Ok::<(), aigis_core::Error>(())
//! ```
//!
//! [in-toto Statement v1]: https://github.com/in-toto/attestation/blob/main/spec/v1/statement.md
#![forbid(unsafe_code)]

mod change;
mod digest;
mod error;
mod finding;
mod hint;
pub mod merkle;
mod progress;
mod severity;
mod statement;
pub mod walk;

pub use change::{ChangeKind, FileChange};
pub use digest::Digest;
pub use error::{Error, error_chain};
pub use finding::Finding;
pub use hint::{CheckFailure, Hint};
pub use progress::{NoProgress, Progress};
pub use severity::{Severity, UnknownSeverity};
pub use statement::{PAYLOAD_TYPE, ResourceDescriptor, STATEMENT_TYPE, Statement};
