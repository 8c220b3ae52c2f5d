//! The project folder: `aigis.toml` and `.aigis/` (ledger database, keys), found from the
//! current directory upward, like cargo finds `Cargo.toml`.

use std::path::{Path, PathBuf};
#[cfg(feature = "sqlite")]
use std::sync::Arc;

use aigis_crypto::keyfile::{self, KdfParams};
use aigis_crypto::{Keyring, KeyringEntry, SigningKey};
use rand_core::{OsRng, RngCore};
use serde::{Deserialize, Serialize};

use crate::Error;
#[cfg(feature = "sqlite")]
use crate::Ledger;

pub use crate::layout::{CONFIG_FILE, Layout, STATE_DIR};

/// `aigis.toml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Config {
    pub project: ProjectConfig,
    #[serde(default)]
    pub ledger: LedgerConfig,
    /// `[data]`, kept as written: the data stage reads it (`aigis_data::sources`), so the
    /// ledger does not need to know its shape.
    #[serde(default, skip_serializing_if = "toml::Table::is_empty")]
    pub data: toml::Table,
    #[serde(default, skip_serializing_if = "ModelConfig::is_empty")]
    pub model: ModelConfig,
    /// `[serve]`, kept as written: the gateway reads it (`aigis_gateway::ServeConfig`).
    #[serde(default, skip_serializing_if = "toml::Table::is_empty")]
    pub serve: toml::Table,
    /// `[redteam]`, kept as written: the thresholds every `aigis redteam` run in the
    /// project is held to (read by the command).
    #[serde(default, skip_serializing_if = "toml::Table::is_empty")]
    pub redteam: toml::Table,
    /// `[fairness]`, kept as written: the thresholds of every `aigis fairness` run.
    #[serde(default, skip_serializing_if = "toml::Table::is_empty")]
    pub fairness: toml::Table,
    /// `[train]`, kept as written: the privacy budgets of the project's tables (read by
    /// `aigis train`).
    #[serde(default, skip_serializing_if = "toml::Table::is_empty")]
    pub train: toml::Table,
}

/// `[model]`: what the model stage trusts.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    /// The reviewed allowlist of pickle imports (`[[model.allow]]`).
    #[serde(default)]
    pub allow: Vec<AllowConfig>,
    /// Known-bad feeds (files of SHA-256 digests with their sources), relative to the
    /// project's folder: a model file that hashes to one is dangerous to `model scan` and
    /// `model register`, and the promotion gate refuses a version that holds one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub known_bad: Vec<std::path::PathBuf>,
    /// What the promotion gate requires besides a safe scan and a verified signature.
    #[serde(default, skip_serializing_if = "GateConfig::is_empty")]
    pub gate: GateConfig,
}

impl ModelConfig {
    pub fn is_empty(&self) -> bool {
        self.allow.is_empty() && self.known_bad.is_empty() && self.gate.is_empty()
    }
}

/// `[model.gate]`: what `aigis model promote` requires besides stored bytes that match,
/// a safe scan and a verified signature.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GateConfig {
    /// A file of Cedar policies that decides promotions and rollbacks instead of the
    /// built-in one, relative to the project's folder (`aigis gate --help` shows the
    /// schema and the built-in policy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<std::path::PathBuf>,
    /// `[model.gate.shadow]`: a shadow period before promotion.
    #[serde(default)]
    pub shadow: Option<ShadowGateConfig>,
    /// `[model.gate.detector]`: detectors calibrated for the version before promotion.
    #[serde(default)]
    pub detector: Option<DetectorGateConfig>,
}

impl GateConfig {
    pub fn is_empty(&self) -> bool {
        self.policy.is_none() && self.shadow.is_none() && self.detector.is_none()
    }
}

/// `[model.gate.detector]`: promoting a version to one of `stages` needs signed
/// `detector-fit` evidence (recorded by `aigis detect fit --model` in the project) of a
/// detector file calibrated with one of the version's files, holding each of `detectors`,
/// its thresholds set for a false-positive rate of at most `max_fpr` on at least
/// `min_calibration_rows` clean rows. The gateway serves such a file with
/// `[serve.models.detector]`; a squeeze detector calibrated with another model is refused
/// there. Rollbacks are not held to it.
///
/// ```toml
/// [model.gate.detector]
/// # detectors = ["ood", "squeeze"]   # the detectors the file must have
/// # stages = ["production"]          # the stages that need it
/// # max_fpr = 0.05                   # the false-positive rate calibrated for, at most
/// # min_calibration_rows = 100       # clean rows the thresholds were set on, at least
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DetectorGateConfig {
    #[serde(default = "both_detectors")]
    pub detectors: Vec<String>,
    #[serde(default = "production")]
    pub stages: Vec<String>,
    #[serde(default = "max_fpr")]
    pub max_fpr: f64,
    #[serde(default = "min_calibration_rows")]
    pub min_calibration_rows: u64,
}

fn both_detectors() -> Vec<String> {
    vec!["ood".into(), "squeeze".into()]
}
fn max_fpr() -> f64 {
    0.05
}
fn min_calibration_rows() -> u64 {
    100
}

impl DetectorGateConfig {
    /// What is wrong with the settings, by key, if anything.
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        if !(self.max_fpr.is_finite() && self.max_fpr > 0.0 && self.max_fpr < 0.5) {
            return Err(("max_fpr", "must be above 0 and under 0.5".into()));
        }
        if self.detectors.is_empty() {
            return Err(("detectors", "must name at least one detector".into()));
        }
        if let Some(d) = self
            .detectors
            .iter()
            .find(|d| !["ood", "mahalanobis", "squeeze"].contains(&d.as_str()))
        {
            return Err((
                "detectors",
                format!(
                    "`{d}` is not a detector of `aigis detect fit` (ood, mahalanobis, squeeze)"
                ),
            ));
        }
        if self.stages.is_empty() {
            return Err(("stages", "must name at least one stage".into()));
        }
        Ok(())
    }
}

/// `[model.gate.shadow]`: promoting a version to one of `stages` needs signed
/// `shadow-period` evidence (recorded by `aigis serve` with `[serve.models.shadow]`) of
/// the version's file answering in the shadow of the version the stage holds, adding up
/// to `min_rows` rows compared over `min_hours`, with at most `max_disagreement` of them
/// answered differently and at most `max_failure_rate` of the calls failed. Periods that
/// ended more than `max_age_days` ago do not count. A first promotion (the stage holds
/// nothing to compare with) and rollbacks are not held to it.
///
/// ```toml
/// [model.gate.shadow]
/// max_disagreement = 0.02     # the share of rows answered differently, at most
/// # stages = ["production"]   # the stages that need it
/// # min_rows = 1000           # rows compared, at least
/// # min_hours = 0             # hours the periods cover, at least
/// # max_failure_rate = 0.01   # the share of mirrored calls the candidate failed, at most
/// # max_age_days = 30         # periods older than this do not count (none: all count)
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShadowGateConfig {
    pub max_disagreement: f64,
    #[serde(default = "production")]
    pub stages: Vec<String>,
    #[serde(default = "min_rows")]
    pub min_rows: u64,
    #[serde(default)]
    pub min_hours: f64,
    #[serde(default = "max_failure_rate")]
    pub max_failure_rate: f64,
    #[serde(default)]
    pub max_age_days: Option<f64>,
}

fn production() -> Vec<String> {
    vec!["production".into()]
}
fn min_rows() -> u64 {
    1000
}
fn max_failure_rate() -> f64 {
    0.01
}

impl ShadowGateConfig {
    /// What is wrong with the settings, by key, if anything.
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        let share = |v: f64| v.is_finite() && (0.0..=1.0).contains(&v);
        if !share(self.max_disagreement) {
            return Err(("max_disagreement", "must be a share, from 0 to 1".into()));
        }
        if !share(self.max_failure_rate) {
            return Err(("max_failure_rate", "must be a share, from 0 to 1".into()));
        }
        if !(self.min_hours.is_finite() && self.min_hours >= 0.0) {
            return Err(("min_hours", "must be 0 or more".into()));
        }
        if self
            .max_age_days
            .is_some_and(|d| !(d.is_finite() && d > 0.0))
        {
            return Err(("max_age_days", "must be above 0".into()));
        }
        if self.stages.is_empty() {
            return Err(("stages", "must name at least one stage".into()));
        }
        Ok(())
    }
}

/// `[[model.allow]]`: one class or function the team pickles itself, reviewed, that
/// `aigis model scan`, `register` and `promote` then accept in pickles. `name` is one
/// exact `module.qualname`: no wildcards, no prefixes, nothing under a dangerous module
/// tree (`os`, `builtins`, `subprocess`, `importlib`, …) and nothing the built-in policy
/// calls dangerous. `reason` and `by` are required and go into the scan evidence with
/// every import the entry allows.
///
/// ```toml
/// [[model.allow]]
/// name = "mypkg.models.Net"                   # module + "." + qualname, exactly
/// reason = "our model class; reviewed in PR 123"
/// by = "alice@example.com"
/// ```
///
/// The entries are checked against the scanner's policy when the CLI loads the project
/// (a bad entry is an error naming it and the rule it breaks).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AllowConfig {
    pub name: String,
    pub reason: String,
    pub by: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectConfig {
    pub name: String,
    /// The log's identity: the origin line of its checkpoints and the name of its key.
    pub origin: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerConfig {
    /// The SQLite file, relative to the project folder.
    pub path: PathBuf,
}

impl Default for LedgerConfig {
    fn default() -> Self {
        Self {
            path: Layout::default_ledger(),
        }
    }
}

/// An aigis project on disk.
#[derive(Debug, Clone)]
pub struct Project {
    pub root: PathBuf,
    pub config: Config,
}

/// Whether `init` made a part of the project or found it there and left it alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Made {
    Created,
    Kept,
}

#[derive(Debug, Clone, Serialize)]
pub struct InitReport {
    pub root: PathBuf,
    pub config: Made,
    pub signing_key: Made,
    pub ledger: Made,
    pub key_encrypted: bool,
    pub origin: String,
    pub verifier_key: String,
}

impl Project {
    /// Makes (or completes) a project in `dir`. Never replaces an existing config, key or
    /// ledger; the report says which parts were already there.
    pub fn init(
        dir: &Path,
        name: Option<&str>,
        passphrase: Option<&str>,
        kdf: KdfParams,
    ) -> Result<(Self, InitReport), Error> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let root = dir.canonicalize().map_err(|e| Error::io(dir, e))?;
        let config_path = root.join(CONFIG_FILE);
        let config_made = if config_path.exists() {
            Made::Kept
        } else {
            let name = match name {
                Some(n) => n.to_owned(),
                None => default_name(&root),
            };
            let config = new_config(&name)?;
            let text = toml::to_string_pretty(&config).map_err(|e| Error::Config {
                path: config_path.clone(),
                reason: e.to_string(),
            })?;
            let text = format!(
                "# aigis project. `origin` names this project's ledger in its signed checkpoints;\n\
                 # keep it stable: changing it makes old checkpoints belong to another log.\n{text}"
            );
            aigis_crypto::fs::write_atomic(&config_path, text.as_bytes(), 0o644)?;
            Made::Created
        };
        let project = Self::load(&root)?;

        let layout = Layout::new(&root);
        create_private_dir(&layout.keys_dir())?;
        let ignore = layout.state_dir().join(".gitignore");
        if !ignore.exists() {
            aigis_crypto::fs::write_atomic(
                &ignore,
                b"# The signing key and the ledger database stay out of version control.\n*\n",
                0o644,
            )?;
        }

        let key_made = if project.key_path().exists() {
            keyfile::public_key(&project.key_path())?;
            Made::Kept
        } else {
            let key = SigningKey::generate();
            keyfile::save(&project.key_path(), &key, passphrase, kdf)?;
            Made::Created
        };
        let public = keyfile::public_key(&project.key_path())?;
        project.ensure_in_keyring(&public)?;

        let ledger_made = if project.ledger_path().exists() {
            Made::Kept
        } else {
            Made::Created
        };
        #[cfg(feature = "sqlite")]
        project.open_store(true)?;

        let report = InitReport {
            root,
            config: config_made,
            signing_key: key_made,
            ledger: ledger_made,
            key_encrypted: keyfile::is_sealed(&project.key_path())?,
            origin: project.config.project.origin.clone(),
            verifier_key: aigis_crypto::note::verifier_key(
                &project.config.project.origin,
                &public,
            )?,
        };
        Ok((project, report))
    }

    /// The project at `start` or the nearest folder above it that has an `aigis.toml`.
    pub fn discover(start: &Path) -> Result<Self, Error> {
        let start = start.canonicalize().map_err(|e| Error::io(start, e))?;
        let mut dir = Some(start.as_path());
        while let Some(d) = dir {
            if d.join(CONFIG_FILE).is_file() {
                return Self::load(d);
            }
            dir = d.parent();
        }
        Err(Error::NoProject { start })
    }

    /// The project whose `aigis.toml` is in `root`.
    pub fn load(root: &Path) -> Result<Self, Error> {
        let path = root.join(CONFIG_FILE);
        let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
        let config: Config = toml::from_str(&text).map_err(|e| Error::Config {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        if !signed_note::is_key_name_valid(&config.project.origin) {
            return Err(Error::Config {
                path,
                reason: format!(
                    "`project.origin` `{}` must be non-empty with no spaces or `+`",
                    config.project.origin
                ),
            });
        }
        Ok(Self {
            root: root.to_path_buf(),
            config,
        })
    }

    pub fn origin(&self) -> &str {
        &self.config.project.origin
    }

    /// Where this project keeps things ([`Layout`]).
    pub fn layout(&self) -> Layout {
        Layout::new(&self.root)
    }

    pub fn key_path(&self) -> PathBuf {
        self.layout().signing_key()
    }

    pub fn keyring_path(&self) -> PathBuf {
        self.layout().keyring()
    }

    pub fn ledger_path(&self) -> PathBuf {
        self.root.join(&self.config.ledger.path)
    }

    /// The keys whose evidence the project trusts: the project's own keys (the keyring
    /// file: the key in use and the ones rotations retired) and, when the project has
    /// roles, its members' keys (verified through the roles chain, see
    /// [`crate::roles`]). A roles chain that does not verify is an error: the set of
    /// trusted keys would be unknown.
    pub fn keyring(&self) -> Result<Keyring, Error> {
        #[cfg_attr(
            not(feature = "sqlite"),
            expect(unused_mut, reason = "members need the ledger")
        )]
        let mut ring = self.keyring_file()?;
        #[cfg(feature = "sqlite")]
        if let Some(roles) = self.roles()? {
            for m in &roles.roles.members {
                if ring.find(&m.key_id).is_none() {
                    ring.keys.push(aigis_crypto::KeyringEntry {
                        verifier_key: m.verifier_key.clone(),
                        key_id: m.key_id.clone(),
                        created_unix: 0,
                        // A member's key is never the project's key in use.
                        retired_unix: Some(0),
                    });
                }
            }
        }
        Ok(ring)
    }

    /// The project's own keys only (the keyring file).
    pub fn keyring_file(&self) -> Result<Keyring, Error> {
        let path = self.keyring_path();
        if !path.exists() {
            return Ok(Keyring::default());
        }
        Ok(Keyring::load(&path)?)
    }

    /// The folder of the roles files.
    pub fn roles_dir(&self) -> PathBuf {
        crate::roles::dir(&self.layout().state_dir())
    }

    /// The project's roles, verified: the chain of roles files rooted in the keyring file,
    /// and the newest `role-change` evidence in the ledger naming the newest file. `None`
    /// when the project has no roles (no one's role is checked).
    #[cfg(feature = "sqlite")]
    pub fn roles(&self) -> Result<Option<crate::roles::Verified>, Error> {
        use aigis_evidence::Predicate as _;
        let root = self.keyring_file()?.public_keys();
        let Some(v) = crate::roles::verify_chain(&self.roles_dir(), &root)? else {
            return Ok(None);
        };
        // The ledger must have recorded this very file as the newest change.
        let mut keys = root;
        keys.extend(v.roles.keys());
        let ledger = self.open_ledger()?;
        let newest = ledger.store().query(&crate::Query {
            predicate_type: Some(aigis_evidence::RoleChange::TYPE.to_owned()),
            newest_first: true,
            limit: Some(64),
            ..Default::default()
        })?;
        let recorded = newest.iter().find_map(|e| {
            let (s, _) = crate::signed_statement(&keys, e.index, &e.body).ok()?;
            aigis_evidence::RoleChange::from_statement(&s).ok()
        });
        match recorded {
            Some(r) if r.roles_sha256 == v.sha256 && r.version == v.roles.version => Ok(Some(v)),
            Some(r) => Err(Error::Roles {
                path: self.roles_dir(),
                message: format!(
                    "are version {} ({}), but the ledger's newest role change records version {} ({}): the files were changed outside `aigis roles`",
                    v.roles.version, v.sha256, r.version, r.roles_sha256
                ),
            }),
            None => Err(Error::Roles {
                path: self.roles_dir(),
                message: "have no `role-change` evidence in the ledger: they were not made by `aigis roles`".into(),
            }),
        }
    }

    /// The project's signing key. A sealed key needs `passphrase`.
    pub fn signing_key(&self, passphrase: Option<&str>) -> Result<SigningKey, Error> {
        let key = keyfile::load(&self.key_path(), passphrase)?;
        // A rotation interrupted between replacing the key and recording it leaves a key
        // the keyring does not know; record it now so its signatures verify.
        self.ensure_in_keyring(&key.public())?;
        Ok(key)
    }

    /// The verifier key string of the key in use.
    pub fn verifier_key(&self) -> Result<String, Error> {
        let public = keyfile::public_key(&self.key_path())?;
        Ok(aigis_crypto::note::verifier_key(self.origin(), &public)?)
    }

    /// Replaces the signing key with a new one (sealed with `new_passphrase` if given),
    /// keeping every old public key in the keyring. Returns the new key; the caller
    /// records the rotation as evidence signed by the old key first.
    pub fn rotate_key(
        &self,
        new_passphrase: Option<&str>,
        kdf: KdfParams,
    ) -> Result<(SigningKey, KeyringEntry), Error> {
        let key = SigningKey::generate();
        let entry = KeyringEntry::new(self.origin(), &key.public(), unix_now())?;
        // Write the new key beside the old one, then rename it over: the key file is
        // always one whole key, old or new.
        let staged = self.key_path().with_extension("key.new");
        keyfile::save(&staged, &key, new_passphrase, kdf)?;
        std::fs::rename(&staged, self.key_path()).map_err(|e| Error::io(self.key_path(), e))?;
        if let Some(dir) = self.key_path().parent() {
            aigis_crypto::fs::sync_dir(dir);
        }
        let mut ring = self.keyring_file()?;
        ring.rotate_to(entry.clone(), unix_now());
        ring.save(&self.keyring_path())?;
        Ok((key, entry))
    }

    fn ensure_in_keyring(&self, public: &aigis_crypto::PublicKey) -> Result<(), Error> {
        let mut ring = self.keyring_file()?;
        if ring.find(&public.key_id()).is_some() {
            return Ok(());
        }
        let now = unix_now();
        ring.rotate_to(KeyringEntry::new(self.origin(), public, now)?, now);
        ring.save(&self.keyring_path())?;
        Ok(())
    }

    #[cfg(feature = "sqlite")]
    fn open_store(&self, create: bool) -> Result<Arc<dyn crate::Store>, Error> {
        let path = self.ledger_path();
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        }
        Ok(Arc::new(crate::SqliteStore::open(&path, create)?))
    }

    /// Opens the project's ledger.
    #[cfg(feature = "sqlite")]
    pub fn open_ledger(&self) -> Result<Ledger, Error> {
        Ok(Ledger::new(self.open_store(false)?))
    }

    /// Records typed evidence: `predicate` about `subjects` (name and digest each), as an
    /// in-toto statement signed by `key`, appended to the project's ledger. Returns the
    /// entry's index. Every command and library that writes evidence goes through here.
    #[cfg(feature = "sqlite")]
    pub fn record<P: aigis_evidence::Predicate>(
        &self,
        key: &SigningKey,
        subjects: Vec<(String, aigis_core::Digest)>,
        predicate: &P,
    ) -> Result<u64, Error> {
        let statement = predicate.statement(subjects)?;
        Ok(self.open_ledger()?.append_statement(&statement, key)?.0)
    }
}

fn new_config(name: &str) -> Result<Config, Error> {
    let clean: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '-'
            }
        })
        .collect();
    let mut id = [0u8; 4];
    OsRng.fill_bytes(&mut id);
    Ok(Config {
        project: ProjectConfig {
            name: name.to_owned(),
            origin: format!("aigis/{clean}/{}", hex::encode(id)),
        },
        ledger: LedgerConfig::default(),
        data: toml::Table::new(),
        model: ModelConfig::default(),
        serve: toml::Table::new(),
        redteam: toml::Table::new(),
        fairness: toml::Table::new(),
        train: toml::Table::new(),
    })
}

fn default_name(root: &Path) -> String {
    root.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| "project".to_owned())
}

fn create_private_dir(dir: &Path) -> Result<(), Error> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .map_err(|e| Error::io(dir, e))?;
    }
    Ok(())
}

pub(crate) fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(all(test, feature = "sqlite"))]
mod tests {
    use aigis_crypto::dsse::Envelope;
    use aigis_evidence::{KeyRotation, Predicate as _};

    use super::*;

    #[test]
    fn record_appends_a_signed_statement_of_the_typed_predicate() {
        let dir = tempfile::tempdir().unwrap();
        let (project, _) =
            Project::init(dir.path(), Some("t"), None, KdfParams::default()).unwrap();
        let key = project.signing_key(None).unwrap();
        let predicate = KeyRotation {
            old_key_id: "a".into(),
            new_key_id: "b".into(),
            new_verifier_key: "c".into(),
        };
        let digest = aigis_core::Digest::of(b"x");
        let index = project
            .record(&key, vec![("x".into(), digest)], &predicate)
            .unwrap();
        let again = project
            .record(&key, vec![("x".into(), digest)], &predicate)
            .unwrap();
        assert_eq!(again, index + 1);
        let ledger = project.open_ledger().unwrap();
        let entry = ledger.store().entry(index).unwrap().unwrap();
        let envelope = Envelope::from_json(&entry.body).unwrap();
        assert_eq!(
            envelope.verify(&[key.public()]).unwrap(),
            key.public().key_id()
        );
        let statement = aigis_core::Statement::from_json(&envelope.payload).unwrap();
        assert_eq!(KeyRotation::from_statement(&statement).unwrap(), predicate);
        assert_eq!(statement.subject.len(), 1);
    }
}
