//! Who may do what in a project: members (keys, by their verifier key) and their roles,
//! in a roles file that only an admin can change.
//!
//! Each version of the roles file is a DSSE envelope (`.aigis/roles/<n>.json`) over its
//! members, the digest of the version before, and the project's settings
//! (`separation_of_duties`). Version 1 is signed by a key of the project's keyring (the
//! project's own key: `aigis roles init`); every later version by a member that was an
//! admin in the version before. Every change is also `role-change` evidence in the ledger,
//! and the newest of those must name the version read. A chain that breaks anywhere (a
//! file edited, removed or added, signed by someone else, or not the one the ledger
//! recorded) is an error, never "no roles": the trust set would be unknown.
//!
//! Members' keys are trusted beside the keyring's for evidence (see
//! [`crate::Project::keyring`]), so a person signs with their own key (`--identity`).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use aigis_crypto::dsse::Envelope;
use aigis_crypto::{PublicKey, SigningKey};
use serde::{Deserialize, Serialize};
use sha2::Digest as _;

use crate::Error;

/// The roles a member can hold.
pub const ROLES: [&str; 6] = [
    "admin",
    "data-steward",
    "trainer",
    "releaser",
    "auditor",
    "gateway-admin",
];

/// The DSSE payload type of a roles file.
pub const PAYLOAD_TYPE: &str = "application/vnd.aigis.roles+json";

const FORMAT: &str = "aigis-roles/v1";

/// One member.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Member {
    /// A name for people.
    pub name: String,
    /// Their key, as a C2SP verifier key string.
    pub verifier_key: String,
    /// Its DSSE key id.
    pub key_id: String,
    /// Their roles.
    pub roles: BTreeSet<String>,
}

/// One version of the roles.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Roles {
    /// `aigis-roles/v1`.
    pub format: String,
    /// 1, 2, …
    pub version: u64,
    /// The SHA-256 (hex) of the previous version's file; `null` for version 1.
    pub previous: Option<String>,
    /// The members.
    pub members: Vec<Member>,
    /// The key that trained a model may not promote it (the gate refuses).
    pub separation_of_duties: bool,
}

impl Roles {
    /// The member with `key_id`.
    pub fn member(&self, key_id: &str) -> Option<&Member> {
        self.members.iter().find(|m| m.key_id == key_id)
    }

    /// Whether `key_id` holds `role`.
    pub fn holds(&self, key_id: &str, role: &str) -> bool {
        self.member(key_id).is_some_and(|m| m.roles.contains(role))
    }

    /// The members' public keys.
    pub fn keys(&self) -> Vec<PublicKey> {
        self.members
            .iter()
            .filter_map(|m| aigis_crypto::note::public_key_of(&m.verifier_key).ok())
            .map(|(_, k)| k)
            .collect()
    }
}

/// The roles in force, verified, with the SHA-256 of their file.
#[derive(Debug, Clone)]
pub struct Verified {
    /// The newest version.
    pub roles: Roles,
    /// Its file's SHA-256, hex.
    pub sha256: String,
}

fn bad(path: &Path, message: impl Into<String>) -> Error {
    Error::Roles {
        path: path.to_owned(),
        message: message.into(),
    }
}

/// The folder of the roles files.
pub fn dir(state: &Path) -> PathBuf {
    state.join("roles")
}

/// The roles files, by version, in order: `None` when the project has none.
fn files(dir: &Path) -> Result<Option<Vec<(u64, PathBuf)>>, Error> {
    if !dir.exists() {
        return Ok(None);
    }
    let mut found = Vec::new();
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    for e in entries {
        let e = e.map_err(|e| Error::io(dir, e))?;
        let name = e.file_name().to_string_lossy().into_owned();
        let n = name
            .strip_suffix(".json")
            .and_then(|n| n.parse::<u64>().ok())
            .ok_or_else(|| bad(&e.path(), "is not a roles file (`<version>.json`)"))?;
        found.push((n, e.path()));
    }
    found.sort();
    if found.is_empty() {
        return Err(bad(dir, "is empty: the roles were removed"));
    }
    for (i, (n, p)) in found.iter().enumerate() {
        if *n != i as u64 + 1 {
            return Err(bad(
                p,
                format!(
                    "is version {n} where version {} was expected: a version is missing",
                    i + 1
                ),
            ));
        }
    }
    Ok(Some(found))
}

/// Reads and verifies the chain of roles files under `dir`: version 1 signed by one of
/// `root` (the project's keyring), each later one by an admin of the one before, each
/// naming the digest of the one before. `None` when the project has no roles.
pub fn verify_chain(dir: &Path, root: &[PublicKey]) -> Result<Option<Verified>, Error> {
    let Some(files) = files(dir)? else {
        return Ok(None);
    };
    let mut prev: Option<(Roles, String)> = None;
    for (n, path) in files {
        let bytes = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
        let env = Envelope::from_json(&bytes)
            .map_err(|e| bad(&path, format!("is not a DSSE envelope: {e}")))?;
        if env.payload_type != PAYLOAD_TYPE {
            return Err(bad(&path, "is not a roles file (payload type)"));
        }
        let signers: Vec<PublicKey> = match &prev {
            None => root.to_vec(),
            Some((r, _)) => r
                .members
                .iter()
                .filter(|m| m.roles.contains("admin"))
                .filter_map(|m| aigis_crypto::note::public_key_of(&m.verifier_key).ok())
                .map(|(_, k)| k)
                .collect(),
        };
        env.verify(&signers).map_err(|e| {
            bad(
                &path,
                format!(
                    "is not signed by {}: {e}",
                    if prev.is_none() {
                        "a key of the project's keyring"
                    } else {
                        "an admin of the version before"
                    }
                ),
            )
        })?;
        let roles: Roles = serde_json::from_slice(&env.payload)
            .map_err(|e| bad(&path, format!("does not read as roles: {e}")))?;
        if roles.format != FORMAT || roles.version != n {
            return Err(bad(
                &path,
                format!("says version {}, its name {n}", roles.version),
            ));
        }
        if roles.previous != prev.as_ref().map(|(_, h)| h.clone()) {
            return Err(bad(
                &path,
                "does not follow the version before it (its `previous` digest)",
            ));
        }
        for m in &roles.members {
            let (_, key) = aigis_crypto::note::public_key_of(&m.verifier_key)
                .map_err(|e| bad(&path, format!("member `{}`: {e}", m.name)))?;
            if key.key_id() != m.key_id {
                return Err(bad(
                    &path,
                    format!("member `{}`: the key id is not its key's", m.name),
                ));
            }
            if let Some(r) = m.roles.iter().find(|r| !ROLES.contains(&r.as_str())) {
                return Err(bad(
                    &path,
                    format!("member `{}`: `{r}` is not a role", m.name),
                ));
            }
        }
        prev = Some((roles, hex::encode(sha2::Sha256::digest(&bytes))));
    }
    Ok(prev.map(|(roles, sha256)| Verified { roles, sha256 }))
}

/// Signs `roles` with `key` and writes it as the next version under `dir` (the file must
/// not exist: two changes at once do not overwrite each other). Returns the file's
/// SHA-256.
pub fn write(dir: &Path, roles: &Roles, key: &SigningKey) -> Result<String, Error> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let payload = serde_json::to_vec_pretty(roles).map_err(|e| bad(dir, e.to_string()))?;
    let bytes = Envelope::sign(PAYLOAD_TYPE, payload, key).to_json();
    let path = dir.join(format!("{}.json", roles.version));
    if path.exists() {
        return Err(bad(
            &path,
            "exists already: another change was made at the same time",
        ));
    }
    aigis_crypto::fs::write_atomic(&path, &bytes, 0o644)?;
    Ok(hex::encode(sha2::Sha256::digest(&bytes)))
}

/// The next version of `current` (or version 1), with `members`.
pub fn next(current: Option<&Verified>, members: Vec<Member>, separation_of_duties: bool) -> Roles {
    Roles {
        format: FORMAT.to_owned(),
        version: current.map_or(1, |c| c.roles.version + 1),
        previous: current.map(|c| c.sha256.clone()),
        members,
        separation_of_duties,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(name: &str, key: &SigningKey, roles: &[&str]) -> Member {
        Member {
            name: name.into(),
            verifier_key: aigis_crypto::note::verifier_key("p", &key.public()).unwrap(),
            key_id: key.public().key_id(),
            roles: roles.iter().map(|r| (*r).to_owned()).collect(),
        }
    }

    #[test]
    fn the_chain_is_rooted_in_the_keyring_and_changed_only_by_admins() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path().join("roles");
        let project = SigningKey::generate();
        let alice = SigningKey::generate();
        let bob = SigningKey::generate();
        let root = [project.public()];
        assert!(verify_chain(&d, &root).unwrap().is_none());

        let v1 = next(None, vec![member("owner", &project, &["admin"])], true);
        write(&d, &v1, &project).unwrap();
        let got = verify_chain(&d, &root).unwrap().unwrap();
        assert_eq!(got.roles.version, 1);
        let v2 = next(
            Some(&got),
            vec![
                member("owner", &project, &["admin"]),
                member("alice", &alice, &["releaser"]),
            ],
            true,
        );
        write(&d, &v2, &project).unwrap();
        let got = verify_chain(&d, &root).unwrap().unwrap();
        assert!(got.roles.holds(&alice.public().key_id(), "releaser"));

        // Alice is no admin: her version 3 breaks the chain.
        let v3 = next(
            Some(&got),
            vec![member("alice", &alice, &["admin", "releaser"])],
            false,
        );
        write(&d, &v3, &alice).unwrap();
        let e = verify_chain(&d, &root).unwrap_err().to_string();
        assert!(
            e.contains("3.json") && e.contains("an admin of the version before"),
            "{e}"
        );
        std::fs::remove_file(d.join("3.json")).unwrap();

        // An edited file, a missing version, a stray file, a version 1 by another key.
        let text = std::fs::read_to_string(d.join("2.json")).unwrap();
        let mut env = Envelope::from_json(text.as_bytes()).unwrap();
        env.payload = String::from_utf8(env.payload)
            .unwrap()
            .replace("\"releaser\"", "\"admin\"")
            .into_bytes();
        std::fs::write(d.join("2.json"), env.to_json()).unwrap();
        assert!(
            verify_chain(&d, &root)
                .unwrap_err()
                .to_string()
                .contains("2.json")
        );
        std::fs::write(d.join("2.json"), &text).unwrap();
        std::fs::rename(d.join("2.json"), d.join("5.json")).unwrap();
        assert!(
            verify_chain(&d, &root)
                .unwrap_err()
                .to_string()
                .contains("a version is missing")
        );
        std::fs::remove_file(d.join("5.json")).unwrap();
        std::fs::write(d.join("notes.txt"), "x").unwrap();
        assert!(verify_chain(&d, &root).is_err());
        std::fs::remove_file(d.join("notes.txt")).unwrap();
        assert!(
            verify_chain(&d, &[bob.public()])
                .unwrap_err()
                .to_string()
                .contains("keyring")
        );
        std::fs::remove_file(d.join("1.json")).unwrap();
        assert!(
            verify_chain(&d, &root)
                .unwrap_err()
                .to_string()
                .contains("removed")
        );
    }
}
