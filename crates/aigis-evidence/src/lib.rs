//! The evidence aigis writes, as types: one Rust type per in-toto predicate type, with
//! its predicate-type URI, serialized with serde to the JSON that goes into the signed
//! statement, and a JSON Schema generated from the same type (committed under
//! `docs/evidence/`).
//!
//! Writers build a predicate and turn it into a statement with
//! [`Predicate::statement`]; readers (the promotion gate, reports) get it back with
//! [`Predicate::from_statement`], which refuses a statement of another type and a
//! predicate that does not match the type. The types live together in one module, apart
//! from this logic, as ripgrep's `jsont.rs` keeps its JSON messages.
//!
//! ```
//! use aigis_core::Digest;
//! use aigis_evidence::{KeyRotation, Predicate};
//!
//! let rotation = KeyRotation {
//!     old_key_id: "abc".into(),
//!     new_key_id: "def".into(),
//!     new_verifier_key: "demo+def+AQ==".into(),
//! };
//! let statement = rotation
//!     .statement(vec![("key:def".into(), Digest::of(b"new key"))])
//!     .unwrap();
//! assert_eq!(statement.predicate_type, KeyRotation::TYPE);
//! assert_eq!(KeyRotation::from_statement(&statement).unwrap(), rotation);
//! ```

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod error;
mod predicate;
mod schema;
mod types;

pub use error::Error;
pub use predicate::Predicate;
pub use schema::{SchemaFile, schema_text, schemas};
pub use types::*;
