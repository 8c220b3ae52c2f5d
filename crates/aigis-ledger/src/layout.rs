//! Where a project keeps things on disk: the one place that knows the layout.
//!
//! | path (from the project folder) | what | made by |
//! |---|---|---|
//! | `aigis.toml` | the project file: name, log origin, ledger path, data sources, model allowlist | `aigis init` |
//! | `.aigis/` | the project's state, with a `.gitignore` of `*` (none of it belongs in version control) | `aigis init` |
//! | `.aigis/ledger.db` | the evidence ledger (SQLite, WAL, `synchronous=FULL`); the default of `[ledger] path` | `aigis init` |
//! | `.aigis/keys/` | key files, mode 0700 | `aigis init` |
//! | `.aigis/keys/signing.key` | the Ed25519 signing key, mode 0600, sealed when `AIGIS_KEY_PASSPHRASE` is set | `aigis init`, `aigis keys rotate` |
//! | `.aigis/keys/keyring.json` | every signing key the project has used, so old evidence still verifies | `aigis init`, `aigis keys rotate` |
//! | `.aigis/keys/recipient.key` | the X-Wing recipient key pair that encryption defaults to | `aigis keys recipient new` |
//! | `.aigis/keys/mask.key` | the masking and tokenization key | `aigis keys mask new`, `aigis data mask` |
//! | `.aigis/registry/` | the content-addressed store of registered model versions | `aigis model register` |
//! | `.aigis/ingested/` | the signed manifests of data accepted by `aigis data ingest` | `aigis data ingest` |
//! | `.aigis/gateway-extraction.json` | the principals the gateway's extraction detectors suspected, kept from a stop to the next start | `aigis serve` |

use std::path::{Path, PathBuf};

/// The project file, in the project folder.
pub const CONFIG_FILE: &str = "aigis.toml";
/// The state folder, in the project folder.
pub const STATE_DIR: &str = ".aigis";

/// The paths of one project, from its folder.
#[derive(Debug, Clone)]
pub struct Layout {
    root: PathBuf,
}

impl Layout {
    /// The layout of the project in `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The ledger's path relative to the project folder, unless `[ledger] path` says
    /// otherwise.
    pub fn default_ledger() -> PathBuf {
        Path::new(STATE_DIR).join("ledger.db")
    }

    /// `aigis.toml`.
    pub fn config_file(&self) -> PathBuf {
        self.root.join(CONFIG_FILE)
    }

    /// `.aigis/`.
    pub fn state_dir(&self) -> PathBuf {
        self.root.join(STATE_DIR)
    }

    /// `.aigis/gateway-extraction.json`.
    pub fn extraction_state(&self) -> PathBuf {
        self.state_dir().join("gateway-extraction.json")
    }

    /// `.aigis/keys/`.
    pub fn keys_dir(&self) -> PathBuf {
        self.state_dir().join("keys")
    }

    /// `.aigis/keys/signing.key`.
    pub fn signing_key(&self) -> PathBuf {
        self.keys_dir().join("signing.key")
    }

    /// `.aigis/keys/keyring.json`.
    pub fn keyring(&self) -> PathBuf {
        self.keys_dir().join("keyring.json")
    }

    /// `.aigis/keys/recipient.key`.
    pub fn recipient_key(&self) -> PathBuf {
        self.keys_dir().join("recipient.key")
    }

    /// `.aigis/keys/mask.key`.
    pub fn mask_key(&self) -> PathBuf {
        self.keys_dir().join("mask.key")
    }

    /// `.aigis/registry/`.
    pub fn registry_dir(&self) -> PathBuf {
        self.state_dir().join("registry")
    }

    /// `.aigis/ingested/`.
    pub fn ingested_dir(&self) -> PathBuf {
        self.state_dir().join("ingested")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The table in the module docs, path by path: a change here is a change of every
    /// existing project's layout, so it must be deliberate.
    #[test]
    fn the_paths_are_the_documented_ones() {
        let l = Layout::new("/p");
        let rel = |p: PathBuf| p.strip_prefix("/p").unwrap().to_str().unwrap().to_owned();
        assert_eq!(rel(l.config_file()), "aigis.toml");
        assert_eq!(rel(l.state_dir()), ".aigis");
        assert_eq!(Layout::default_ledger(), Path::new(".aigis/ledger.db"));
        assert_eq!(rel(l.keys_dir()), ".aigis/keys");
        assert_eq!(rel(l.signing_key()), ".aigis/keys/signing.key");
        assert_eq!(rel(l.keyring()), ".aigis/keys/keyring.json");
        assert_eq!(rel(l.recipient_key()), ".aigis/keys/recipient.key");
        assert_eq!(rel(l.mask_key()), ".aigis/keys/mask.key");
        assert_eq!(rel(l.registry_dir()), ".aigis/registry");
        assert_eq!(rel(l.ingested_dir()), ".aigis/ingested");
        let docs = include_str!("layout.rs");
        for p in [
            "`aigis.toml`",
            "`.aigis/ledger.db`",
            "`.aigis/keys/signing.key`",
            "`.aigis/keys/keyring.json`",
            "`.aigis/keys/recipient.key`",
            "`.aigis/keys/mask.key`",
            "`.aigis/registry/`",
            "`.aigis/ingested/`",
        ] {
            assert!(
                docs.contains(&format!("//! | {p} |")),
                "{p} is not in the table"
            );
        }
    }
}
