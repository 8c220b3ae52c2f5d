//! How a file differs from a signed listing of files: the one vocabulary of `aigis data
//! verify` (a dataset against its manifest) and `aigis model verify` (a model against its
//! OpenSSF signature), in their text, their `--json` and their evidence:
//! `{"change": "modified", "path": "weights.bin"}` in JSON, `modified: weights.bin` in text
//! (the words padded so that paths line up).
//!
//! ```
//! use aigis_core::{ChangeKind, FileChange};
//!
//! let c = FileChange::new(ChangeKind::Removed, "sub/config.json");
//! assert_eq!(c.to_string(), "removed:  sub/config.json");
//! assert_eq!(
//!     serde_json::to_value(&c)?,
//!     serde_json::json!({"change": "removed", "path": "sub/config.json"})
//! );
//! # Ok::<(), serde_json::Error>(())
//! ```

use std::fmt;

use serde::{Deserialize, Serialize};

/// How a file changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum ChangeKind {
    /// On disk, not in the signed listing.
    Added,
    /// In the signed listing, not on disk.
    Removed,
    /// In both, with different content.
    Modified,
}

impl ChangeKind {
    /// `added`, `removed` or `modified`: the word in text and JSON alike.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Added => "added",
            Self::Removed => "removed",
            Self::Modified => "modified",
        }
    }
}

impl fmt::Display for ChangeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How one file differs from a signed listing (a dataset's manifest, a model's signature).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct FileChange {
    /// `added`, `removed` or `modified`.
    #[serde(rename = "change")]
    pub kind: ChangeKind,
    /// The file, relative to the root of the dataset or model, `/`-separated.
    pub path: String,
}

impl FileChange {
    pub fn new(kind: ChangeKind, path: impl Into<String>) -> Self {
        Self {
            kind,
            path: path.into(),
        }
    }
}

/// `modified: a.csv`, padded for a column of lines; the alternate form (`{:#}`) is
/// `modified `a.csv``, for a list inside one line.
impl fmt::Display for FileChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if f.alternate() {
            return write!(f, "{} `{}`", self.kind, self.path);
        }
        // `modified:` is the longest word: pad to it and a space.
        let word = format!("{}:", self.kind);
        write!(f, "{word:<10}{}", self.path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_form_padded_and_an_inline_form() {
        let c = FileChange::new(ChangeKind::Added, "a.csv");
        assert_eq!(c.to_string(), "added:    a.csv");
        assert_eq!(format!("{c:#}"), "added `a.csv`");
    }

    #[test]
    fn one_spelling_in_text_and_json() {
        for (kind, word) in [
            (ChangeKind::Added, "added"),
            (ChangeKind::Removed, "removed"),
            (ChangeKind::Modified, "modified"),
        ] {
            let c = FileChange::new(kind, "a/b.bin");
            assert_eq!(c.to_string(), format!("{:<10}a/b.bin", format!("{word}:")));
            let json = serde_json::to_value(&c).unwrap();
            assert_eq!(json, serde_json::json!({"change": word, "path": "a/b.bin"}));
            assert_eq!(serde_json::from_value::<FileChange>(json).unwrap(), c);
        }
        assert!(
            serde_json::from_str::<FileChange>(r#"{"change": "missing", "path": "x"}"#).is_err()
        );
    }
}
