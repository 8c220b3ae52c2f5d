//! `[data]` in aigis.toml: what the data stage trusts. The project file is read by
//! aigis-ledger, which keeps this table as written; the data stage reads it here.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::Error;

/// `[data]`: what the data stage trusts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataConfig {
    /// The approved sources `aigis data ingest` accepts data from.
    #[serde(default)]
    pub sources: Vec<SourceConfig>,
    /// How long data may be kept (`aigis data retention`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub retention: Vec<RetentionRule>,
}

/// `[[data.retention]]`: files under `path` (relative to the project's folder) are kept
/// at most `days` days from their last change.
///
/// ```toml
/// [[data.retention]]
/// path = "datasets/raw"
/// days = 365
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionRule {
    /// A folder (or one file).
    pub path: std::path::PathBuf,
    /// The most days a file is kept.
    pub days: u64,
}

impl DataConfig {
    /// Whether nothing is configured.
    pub fn is_empty(&self) -> bool {
        self.sources.is_empty() && self.retention.is_empty()
    }

    /// Reads the `[data]` table of aigis.toml (an unknown key in a source is an error
    /// naming it).
    pub fn from_table(table: &toml::Table) -> Result<Self, Error> {
        toml::Value::Table(table.clone())
            .try_into()
            .map_err(|e: toml::de::Error| Error::Sources(e.message().trim().to_owned()))
    }
}

/// `[[data.sources]]`: one approved source of data.
///
/// ```toml
/// [[data.sources]]
/// name = "vendor-x"
/// path = "incoming/vendor-x"          # relative to the project folder, or absolute
/// keys = ["vendor-x+1a2b3c4d+AW..."]  # C2SP verifier keys that may sign its manifests
/// profile = "profiles/vendor-x.json"  # optional: scan against this profile
/// label = "target"                    # optional: screen for poisoning with this label
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    /// The source's name, as evidence and messages show it.
    pub name: String,
    /// Its folder, relative to the project folder or absolute.
    pub path: PathBuf,
    /// The C2SP verifier keys that may sign its manifests.
    pub keys: Vec<String>,
    /// A reference profile to scan its data against.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<PathBuf>,
    /// The label column to screen for poisoning with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_are_read_and_unknown_keys_refused() {
        let table: toml::Table = toml::from_str(
            "[[sources]]\nname = \"vendor-x\"\npath = \"incoming/x\"\nkeys = [\"k\"]\nlabel = \"y\"\n",
        )
        .unwrap();
        let c = DataConfig::from_table(&table).unwrap();
        assert_eq!(c.sources[0].name, "vendor-x");
        assert_eq!(c.sources[0].label.as_deref(), Some("y"));
        assert!(
            DataConfig::from_table(&toml::Table::new())
                .unwrap()
                .is_empty()
        );
        let bad: toml::Table =
            toml::from_str("[[sources]]\nname = \"x\"\npath = \"p\"\nkeys = []\nkey = \"k\"\n")
                .unwrap();
        let e = DataConfig::from_table(&bad).unwrap_err().to_string();
        assert!(e.contains("unknown field `key`"), "{e}");
    }
}
