use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::{Error, PublicKey, note};

/// Every public key a project has signed with, oldest first. Rotation retires a key
/// rather than forgetting it, so evidence and checkpoints it signed still verify.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Keyring {
    pub keys: Vec<KeyringEntry>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyringEntry {
    /// The C2SP verifier key string: `name+hash+base64`.
    pub verifier_key: String,
    /// The DSSE key id: hex SHA-256 of the public key.
    pub key_id: String,
    /// Seconds since the Unix epoch.
    pub created_unix: u64,
    /// When a rotation replaced it; `None` for the key in use.
    #[serde(default)]
    pub retired_unix: Option<u64>,
}

impl KeyringEntry {
    pub fn new(name: &str, key: &PublicKey, created_unix: u64) -> Result<Self, Error> {
        Ok(Self {
            verifier_key: note::verifier_key(name, key)?,
            key_id: key.key_id(),
            created_unix,
            retired_unix: None,
        })
    }

    pub fn public_key(&self) -> Result<PublicKey, Error> {
        note::public_key_of(&self.verifier_key).map(|(_, k)| k)
    }
}

impl Keyring {
    pub fn load(path: &Path) -> Result<Self, Error> {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        let ring: Self = serde_json::from_slice(&bytes).map_err(|e| Error::Keyring {
            path: path.into(),
            reason: e.to_string(),
        })?;
        for k in &ring.keys {
            let key = k.public_key().map_err(|e| Error::Keyring {
                path: path.into(),
                reason: e.to_string(),
            })?;
            if key.key_id() != k.key_id {
                return Err(Error::Keyring {
                    path: path.into(),
                    reason: format!("key id `{}` does not match its verifier key", k.key_id),
                });
            }
        }
        Ok(ring)
    }

    pub fn save(&self, path: &Path) -> Result<(), Error> {
        let json = serde_json::to_vec_pretty(self).map_err(|e| Error::Keyring {
            path: path.into(),
            reason: e.to_string(),
        })?;
        crate::fs::write_atomic(path, &json, 0o644)
    }

    /// The public keys, parsed; entries that fail to parse were refused by `load`.
    pub fn public_keys(&self) -> Vec<PublicKey> {
        self.keys
            .iter()
            .filter_map(|k| k.public_key().ok())
            .collect()
    }

    /// C2SP verifiers for every key, to check checkpoints signed by any of them.
    pub fn note_verifiers(&self) -> Vec<signed_note::StandardVerifier> {
        self.keys
            .iter()
            .filter_map(|k| note::parse_verifier_key(&k.verifier_key).ok())
            .collect()
    }

    pub fn find(&self, key_id: &str) -> Option<&KeyringEntry> {
        self.keys.iter().find(|k| k.key_id == key_id)
    }

    /// Marks every current key retired at `now` and adds `entry` as the current one.
    pub fn rotate_to(&mut self, entry: KeyringEntry, now: u64) {
        for k in &mut self.keys {
            k.retired_unix.get_or_insert(now);
        }
        self.keys.retain(|k| k.key_id != entry.key_id);
        self.keys.push(entry);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SigningKey;

    #[test]
    fn rotation_keeps_old_keys_and_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keyring.json");
        let a = SigningKey::generate().public();
        let b = SigningKey::generate().public();
        let mut ring = Keyring::default();
        ring.rotate_to(KeyringEntry::new("log", &a, 1).unwrap(), 1);
        ring.rotate_to(KeyringEntry::new("log", &b, 2).unwrap(), 2);
        ring.save(&path).unwrap();
        let back = Keyring::load(&path).unwrap();
        assert_eq!(back, ring);
        assert_eq!(back.public_keys(), vec![a, b]);
        assert_eq!(back.keys[0].retired_unix, Some(2));
        assert_eq!(back.keys[1].retired_unix, None);
        assert_eq!(back.note_verifiers().len(), 2);
    }

    #[test]
    fn a_forged_key_id_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keyring.json");
        let mut ring = Keyring::default();
        ring.rotate_to(
            KeyringEntry::new("log", &SigningKey::generate().public(), 1).unwrap(),
            1,
        );
        ring.keys[0].key_id = "00".repeat(32);
        ring.save(&path).unwrap();
        assert!(
            Keyring::load(&path)
                .unwrap_err()
                .to_string()
                .contains("does not match")
        );
    }
}
