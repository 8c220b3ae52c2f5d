//! The trait that ties a predicate type to its URI, and the reading and writing of
//! statements that carry one.

use aigis_core::{Digest, Statement};
use schemars::JsonSchema;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::Error;

/// A predicate aigis writes: its in-toto predicate-type URI, the name of its schema file,
/// and its JSON (serde) and JSON Schema (schemars) forms.
pub trait Predicate: Serialize + DeserializeOwned + JsonSchema {
    /// The predicate-type URI, the statement's `predicateType`.
    const TYPE: &'static str;
    /// The schema's file name under `docs/evidence/`, without `.schema.json`.
    const NAME: &'static str;

    /// The predicate as JSON.
    fn to_value(&self) -> Result<serde_json::Value, Error> {
        serde_json::to_value(self).map_err(|source| Error::Serialize {
            predicate_type: Self::TYPE,
            source,
        })
    }

    /// An in-toto statement of this predicate about `subjects` (name and SHA-256 each).
    fn statement(&self, subjects: Vec<(String, Digest)>) -> Result<Statement, Error> {
        Ok(Statement::new(subjects, Self::TYPE, self.to_value()?)?)
    }

    /// Reads the predicate of `statement`. A statement of another type, one without a
    /// predicate, and a predicate that does not match this type are errors.
    fn from_statement(statement: &Statement) -> Result<Self, Error> {
        if statement.predicate_type != Self::TYPE {
            return Err(Error::WrongType {
                expected: Self::TYPE,
                found: statement.predicate_type.clone(),
            });
        }
        let value = statement
            .predicate
            .as_ref()
            .ok_or(Error::Missing(Self::TYPE))?;
        Self::from_value(value)
    }

    /// Reads a predicate from its JSON.
    fn from_value(value: &serde_json::Value) -> Result<Self, Error> {
        Self::deserialize(value).map_err(|source| Error::Malformed {
            predicate_type: Self::TYPE,
            source,
        })
    }
}
