//! Files a model names by a path relative to its folder (ONNX external data, SavedModel
//! assets). Loaders join the path to the folder and open what is there, so a path that is
//! absolute, climbs out with `..`, names a Windows device, or passes through a symbolic
//! link out of the folder reads a file outside the model (into a tensor an output can
//! leak) or blocks the loader (a device, a pipe). A link that stays inside the folder is
//! followed, and the caller reports it.

use std::fs::Metadata;
use std::path::{Path, PathBuf};

/// Why a location does not name a regular file inside the folder.
#[derive(Debug)]
pub(crate) enum Unresolved {
    /// It reaches outside the folder, or at something that is not a file: why.
    Escape(String),
    /// It cannot be read (missing, no permission).
    Missing(std::io::Error),
    /// It names a folder.
    Folder,
}

/// Whether a location is absolute (`/etc/passwd`, `\\server\share`, `C:\x`, `C:x`).
pub(crate) fn is_absolute(location: &str) -> bool {
    let bytes = location.as_bytes();
    let drive = bytes.len() >= 2
        && bytes.first().is_some_and(u8::is_ascii_alphabetic)
        && bytes.get(1) == Some(&b':');
    location.starts_with(['/', '\\']) || drive
}

/// Why a location leaves the model's folder, if it does, judged from its text alone.
pub(crate) fn escapes(location: &str) -> Option<String> {
    if location.contains('\0') {
        return Some(
            "contains a NUL byte: the loader opens a shorter path than the one written".into(),
        );
    }
    if is_absolute(location) {
        return Some("is an absolute path".into());
    }
    let mut depth = 0usize;
    for part in location.split(['/', '\\']) {
        match part {
            "" | "." => {}
            ".." => match depth.checked_sub(1) {
                Some(d) => depth = d,
                None => return Some("climbs out of the model's folder with `..`".into()),
            },
            _ => {
                let stem = part
                    .split('.')
                    .next()
                    .unwrap_or_default()
                    .to_ascii_uppercase();
                let device = matches!(stem.as_str(), "CON" | "PRN" | "AUX" | "NUL")
                    || ((stem.starts_with("COM") || stem.starts_with("LPT"))
                        && stem.len() == 4
                        && stem.ends_with(|c: char| c.is_ascii_digit()));
                if device {
                    return Some(format!("names the Windows device `{part}`"));
                }
                depth += 1;
            }
        }
    }
    None
}

/// A regular file inside the folder that a location names.
#[derive(Debug)]
pub(crate) struct Resolved {
    pub(crate) path: PathBuf,
    pub(crate) meta: Metadata,
    /// The symbolic link followed on the way, which stays inside the folder (a Hugging
    /// Face snapshot links its files into the cache's blobs): what it is, for a finding.
    pub(crate) link: Option<String>,
}

/// Where the link `path` leads, as a path under `folder`, when it leads inside it (every
/// link on the way resolved); `None` when it leads out, loops or cannot be resolved.
fn inside(folder: &Path, path: &Path) -> Option<PathBuf> {
    let root = std::fs::canonicalize(folder).ok()?;
    let target = std::fs::canonicalize(path).ok()?;
    let rest = target.strip_prefix(&root).ok()?;
    Some(folder.join(rest))
}

/// The regular file `location` names inside `folder`. A symbolic link on the way is
/// followed when it leads to a place inside the folder, and an escape when it leads out.
pub(crate) fn resolve(folder: &Path, location: &str) -> Result<Resolved, Unresolved> {
    if let Some(why) = escapes(location) {
        return Err(Unresolved::Escape(why));
    }
    // Every component is looked at before the next is added, so a symbolic link anywhere
    // on the way (also one that `..` later steps back out of) is seen.
    let mut path = PathBuf::from(folder);
    let mut meta = None;
    let mut link = None;
    for part in location.split(['/', '\\']) {
        match part {
            "" | "." => continue,
            ".." => {
                path.pop();
                meta = None;
                continue;
            }
            _ => path.push(part),
        }
        if !path.starts_with(folder) {
            // only reachable by `..` after a followed link (the text alone stays inside)
            return Err(Unresolved::Escape(
                "climbs out of the model's folder through a symbolic link".into(),
            ));
        }
        match std::fs::symlink_metadata(&path) {
            Ok(m) if m.file_type().is_symlink() => {
                let target = std::fs::read_link(&path)
                    .map(|t| t.display().to_string())
                    .unwrap_or_default();
                let Some(resolved) = inside(folder, &path) else {
                    return Err(Unresolved::Escape(format!(
                        "goes through the symbolic link `{part}` (to `{target}`) out of the model's folder"
                    )));
                };
                link = Some(format!(
                    "goes through the symbolic link `{part}` (to `{target}`), which stays inside the model's folder"
                ));
                meta = Some(std::fs::metadata(&resolved).map_err(Unresolved::Missing)?);
                path = resolved;
            }
            Ok(m) => meta = Some(m),
            Err(e) => return Err(Unresolved::Missing(e)),
        }
    }
    let Some(meta) = meta.filter(|m| !m.is_dir()) else {
        return Err(Unresolved::Folder);
    };
    if !meta.is_file() {
        return Err(Unresolved::Escape(
            "is a device, pipe or socket, not a regular file".into(),
        ));
    }
    Ok(Resolved { path, meta, link })
}
