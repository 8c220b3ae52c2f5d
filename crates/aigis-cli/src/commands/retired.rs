//! Keys retired by a rotation, waiting out their overlap in `.aigis/keys/retired/`:
//! `<kind>-<id>.key` beside `<kind>-<id>.json` (when it expires). While in its overlap a
//! retired key still opens what it made (tokens, encrypted files); after it, it is
//! deleted the next time anything looks, and what it made does not open again.

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aigis_ledger::Project;
use anyhow::{Context as _, Result};
use serde::{Deserialize, Serialize};

use crate::cli::Cli;
use crate::output;

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Expiry {
    /// Seconds since the epoch after which the key is deleted.
    expires_unix: u64,
}

fn dir(project: &Project) -> PathBuf {
    project.layout().keys_dir().join("retired")
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
}

/// Where to write the retiring `kind` key `id` (the caller writes it), its expiry written
/// already; and when the overlap ends (RFC 3339).
pub(crate) fn retire(
    project: &Project,
    kind: &str,
    id: &str,
    overlap_days: u64,
) -> Result<(PathBuf, String)> {
    let dir = dir(project);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating `{}`", dir.display()))?;
    let expires = now() + overlap_days.saturating_mul(86_400);
    let key = dir.join(format!("{kind}-{id}.key"));
    aigis_crypto::fs::write_atomic(
        &key.with_extension("json"),
        &serde_json::to_vec(&Expiry {
            expires_unix: expires,
        })?,
        0o600,
    )?;
    let until =
        humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(expires)).to_string();
    Ok((key, until))
}

/// The key files of `kind` still in their overlap; the expired ones are deleted, and said.
pub(crate) fn in_overlap(cli: &Cli, project: &Project, kind: &str) -> Result<Vec<PathBuf>> {
    let dir = dir(project);
    let mut keys = Vec::new();
    if !dir.exists() {
        return Ok(keys);
    }
    let now = now();
    let prefix = format!("{kind}-");
    for e in std::fs::read_dir(&dir).with_context(|| format!("reading `{}`", dir.display()))? {
        let path = e?.path();
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if !name.starts_with(&prefix) || path.extension().is_none_or(|x| x != "json") {
            continue;
        }
        let expiry: Expiry = serde_json::from_slice(&std::fs::read(&path)?)
            .with_context(|| format!("`{}` is not a retired key's expiry", path.display()))?;
        let key = path.with_extension("key");
        if expiry.expires_unix <= now {
            if key.exists() {
                std::fs::remove_file(&key)
                    .with_context(|| format!("deleting `{}`", key.display()))?;
            }
            std::fs::remove_file(&path)?;
            output::note(
                cli,
                &format!(
                    "deleted the retired key `{}`: its overlap ended",
                    key.display()
                ),
            );
            continue;
        }
        if key.exists() {
            keys.push(key);
        }
    }
    keys.sort();
    Ok(keys)
}
