//! Every predicate aigis writes, one type each, grouped by stage. Only types here: the
//! reading and writing of statements is in `predicate.rs`, the schemas in `schema.rs`.
//!
//! Rules every type follows, so that the JSON is the JSON aigis has always written:
//! an optional field that was omitted when empty carries `skip_serializing_if`, one that
//! was written as `null` does not; no type accepts a field it does not know.

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};

mod data;
mod demo;
mod governance;
mod model;
mod monitor;
mod project;
mod provenance;
mod serve;
mod train;
mod validate;

pub use data::*;
pub use demo::*;
pub use governance::*;
pub use model::*;
pub use monitor::*;
pub use project::*;
pub use provenance::*;
pub use serve::*;
pub use train::*;
pub use validate::*;

/// The program that wrote a piece of evidence: `aigis <version>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(transparent)]
#[schemars(extend("pattern" = "^aigis \\S+$"))]
pub struct Tool(pub String);

impl Tool {
    /// This build of aigis.
    pub fn current() -> Self {
        Self(format!("aigis {}", env!("CARGO_PKG_VERSION")))
    }

    /// This build as an SLSA builder id, `https://aigis.dev/aigis@<version>`.
    pub fn builder_id() -> String {
        format!("https://aigis.dev/aigis@{}", env!("CARGO_PKG_VERSION"))
    }
}

impl Default for Tool {
    fn default() -> Self {
        Self::current()
    }
}

/// The schema of an `aigis_core::Digest`: `sha256:` and 64 lowercase hex digits.
fn digest_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({"type": "string", "pattern": "^sha256:[0-9a-f]{64}$"})
}

/// The schema of an optional `aigis_core::Digest`, written as `null` when absent.
fn optional_digest_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({"type": ["string", "null"], "pattern": "^sha256:[0-9a-f]{64}$"})
}

/// The schema of a bare SHA-256 in hex (no `sha256:` prefix).
fn hex_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({"type": "string", "pattern": "^[0-9a-f]{64}$"})
}

/// The schema of an `aigis_core::Severity`.
fn severity_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({"type": "string", "enum": ["info", "low", "medium", "high", "critical"]})
}

/// The schema of an optional `aigis_core::Severity`, written as `null` when absent.
fn optional_severity_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({"enum": ["info", "low", "medium", "high", "critical", null]})
}

#[cfg(test)]
mod tests;
