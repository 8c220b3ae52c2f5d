//! A finding: one thing a check found, where, and how serious it is. Every scanner's
//! report is a list of these, so text, JSON and SARIF output are written once.

use serde::{Deserialize, Serialize};

use crate::Severity;

/// One finding of a check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    /// The rule that fired, dotted: `schema.type`, `pii.email`, `poison.label_flip`, ….
    pub rule: String,
    pub severity: Severity,
    /// What was found, for a person. Never holds a secret or a detected personal value.
    pub message: String,
    /// The file, as the user named it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// 1-based data row (the header is not counted; 0 is the header itself).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub row: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub column: Option<String>,
    /// A byte offset, for findings in binary files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset: Option<u64>,
    /// How sure the check is, from 0 to 1, when it can be unsure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confidence: Option<f32>,
}

impl Finding {
    pub fn new(rule: impl Into<String>, severity: Severity, message: impl Into<String>) -> Self {
        Self {
            rule: rule.into(),
            severity,
            message: message.into(),
            file: None,
            row: None,
            column: None,
            offset: None,
            confidence: None,
        }
    }

    pub fn at_row(mut self, row: u64) -> Self {
        self.row = Some(row);
        self
    }

    pub fn in_column(mut self, column: impl Into<String>) -> Self {
        self.column = Some(column.into());
        self
    }

    pub fn with_confidence(mut self, confidence: f32) -> Self {
        self.confidence = Some(confidence);
        self
    }

    pub fn in_file(mut self, file: impl Into<String>) -> Self {
        self.file = Some(file.into());
        self
    }
}
