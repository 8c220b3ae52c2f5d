//! The model registry: named, numbered versions of model files kept in a content-addressed
//! store, and which version holds each stage (`staging`, `production`, ...).
//!
//! Layout, under the registry's root (a project keeps it in `.aigis/registry/`):
//!
//! ```text
//! blobs/sha256/<2 hex>/<64 hex>     each file's bytes, named by their SHA-256, read-only
//! models/<name>/versions/<n>.json   a version: its files (path, digest, size), its digest,
//!                                   and the ledger indexes of its scan, signature and
//!                                   registration evidence
//! models/<name>/stages.json         the version at each stage, and the versions it
//!                                   replaced (what `rollback` returns to)
//! lock                              held (an OS file lock) while anything is written
//! ```
//!
//! A version's digest is the file's SHA-256 for a single-file model. For a folder it is
//! the SHA-256 of the listing `sha256sum` prints for its files, sorted by path
//! (`<64 hex>  <relative/path>\n` per file), so an auditor can recompute it with
//! coreutils. Records never hold the decisions the promotion gate takes: the gate reads
//! the evidence they point to, and re-hashes the stored bytes.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Component, Path, PathBuf};

use aigis_core::Digest;
use aigis_core::walk::{self, Kind as Found, LinkPolicy, Walk};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

/// The `schema` of a version record.
pub const VERSION_SCHEMA: &str = "aigis-registry-version/v1";
/// The `schema` of a stages file.
pub const STAGES_SCHEMA: &str = "aigis-registry-stages/v1";

/// Why the registry could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(
        "`{0}` is not a valid model name: use 1 to 64 letters, digits, `.`, `_` or `-`, starting with a letter or digit"
    )]
    Name(String),
    #[error("no model named `{0}` in the registry")]
    NoModel(String),
    #[error("model `{name}` has no version {version}")]
    NoVersion { name: String, version: u32 },
    #[error("`{}`: {what}", path.display())]
    Source { path: PathBuf, what: String },
    #[error("the registry record `{}` is damaged: {what}", path.display())]
    Record { path: PathBuf, what: String },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> RegistryError + '_ {
    move |source| RegistryError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Whether a version is one file or a folder of files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    File,
    Folder,
}

/// One file of a version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    /// Relative to the model folder with `/` separators (the file name for a single file).
    pub path: String,
    pub sha256: Digest,
    pub bytes: u64,
}

/// A version's pointer to a piece of evidence in the ledger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EvidenceRef {
    /// The entry's index in the ledger.
    pub index: u64,
    /// What the evidence said when it was written (for display; the gate re-reads it).
    pub summary: String,
}

/// A version as the registry keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionRecord {
    pub schema: String,
    pub name: String,
    pub version: u32,
    pub kind: Kind,
    pub digest: Digest,
    pub files: Vec<FileEntry>,
    /// Where the files were registered from.
    pub source: String,
    pub registered_at: String,
    /// The key id of the project key that recorded the registration.
    pub registered_by: String,
    pub scan: Option<EvidenceRef>,
    /// The signature bundle as stored in the blob store, if the model was signed.
    pub signature_bundle: Option<Digest>,
    pub signature: Option<EvidenceRef>,
    /// The registration's own evidence.
    pub evidence: Option<EvidenceRef>,
}

/// The version at one stage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StageState {
    pub version: u32,
    pub since: String,
    /// The promotion or rollback evidence that put it there.
    pub evidence: u64,
    /// The versions it replaced, oldest first: `rollback` returns to the last.
    pub previous: Vec<u32>,
}

/// Which version holds each stage of one model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stages {
    pub schema: String,
    pub stages: BTreeMap<String, StageState>,
}

impl Default for Stages {
    fn default() -> Self {
        Self {
            schema: STAGES_SCHEMA.to_owned(),
            stages: BTreeMap::new(),
        }
    }
}

/// A stored file whose bytes no longer match its digest, or that is gone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BlobProblem {
    pub path: String,
    pub expected: Digest,
    /// `None` when the blob is missing or unreadable.
    pub found: Option<Digest>,
}

/// The files a model source holds, before they are stored.
#[derive(Debug, Clone)]
pub struct Source {
    pub kind: Kind,
    pub root: PathBuf,
    /// (relative path, absolute path), sorted by relative path.
    pub files: Vec<(String, PathBuf)>,
}

/// Checks a model name: it becomes a folder name, so no separators, dots-only names or
/// surprises for shells.
pub fn check_name(name: &str) -> Result<(), RegistryError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        && name
            .as_bytes()
            .first()
            .is_some_and(u8::is_ascii_alphanumeric);
    if ok {
        Ok(())
    } else {
        Err(RegistryError::Name(name.to_owned()))
    }
}

/// Lists the files of a model file or folder. `exclude` names files (relative paths)
/// that are not part of the model, such as its signature bundle. Symbolic links (the
/// walk's `LinkPolicy::Refuse`) and special files are refused: a link can point out of
/// the model folder, and what it points to can change after registration.
pub fn list_source(path: &Path, exclude: &[String]) -> Result<Source, RegistryError> {
    let meta = fs::symlink_metadata(path).map_err(io_err(path))?;
    if meta.file_type().is_symlink() {
        return Err(RegistryError::Source {
            path: path.to_owned(),
            what: "is a symbolic link; register the file it points to".into(),
        });
    }
    if meta.is_file() {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        return Ok(Source {
            kind: Kind::File,
            root: path.parent().map(Path::to_owned).unwrap_or_default(),
            files: vec![(name, path.to_owned())],
        });
    }
    let entries = Walk::new(path, LinkPolicy::Refuse)
        .skip(|rel| {
            let rel = rel.to_string_lossy();
            rel == ".git" || exclude.iter().any(|x| *x == rel)
        })
        .run()
        .map_err(|e| match e {
            walk::Error::Io { path, source } => RegistryError::Io { path, source },
            walk::Error::Link { path, .. } => RegistryError::Source {
                path,
                what: "is a symbolic link inside the model folder; links are not registered (they can point anywhere)".into(),
            },
            other => RegistryError::Source {
                path: other.path().to_owned(),
                what: other.to_string(),
            },
        })?;
    let mut files = Vec::new();
    for entry in entries.into_iter().filter(|e| e.depth > 0) {
        let rel = relative(path, &entry.path)?;
        match entry.kind {
            Found::File => files.push((rel, entry.path)),
            Found::Dir => {}
            Found::Link | Found::Special => {
                return Err(RegistryError::Source {
                    path: entry.path,
                    what: "is not a regular file".into(),
                });
            }
        }
    }
    if files.is_empty() {
        return Err(RegistryError::Source {
            path: path.to_owned(),
            what: "holds no files".into(),
        });
    }
    files.sort();
    Ok(Source {
        kind: Kind::Folder,
        root: path.to_owned(),
        files,
    })
}

/// The UTF-8 names in one of the store's own folders, whatever each is (a link there is
/// listed by its name, not followed; the walk's `LinkPolicy::Report`).
fn listing(dir: &Path) -> Result<Vec<String>, RegistryError> {
    let entries = Walk::new(dir, LinkPolicy::Report)
        .max_depth(1)
        .run()
        .map_err(|e| match e {
            walk::Error::Io { path, source } => RegistryError::Io { path, source },
            // INVARIANT: a walk that reports links stops on nothing but I/O.
            other => RegistryError::Source {
                path: other.path().to_owned(),
                what: other.to_string(),
            },
        })?;
    Ok(entries
        .into_iter()
        .filter(|e| e.depth == 1)
        .filter_map(|e| e.relative.to_str().map(str::to_owned))
        .collect())
}

/// `path` relative to `root`, with `/` separators; refuses names that are not UTF-8 or
/// hold a newline (they would make the listing ambiguous).
fn relative(root: &Path, path: &Path) -> Result<String, RegistryError> {
    let rel = path.strip_prefix(root).unwrap_or(path);
    let mut parts = Vec::new();
    for c in rel.components() {
        match c {
            Component::Normal(p) => match p.to_str() {
                Some(s) if !s.contains('\n') && !s.contains('\\') => parts.push(s),
                _ => {
                    return Err(RegistryError::Source {
                        path: path.to_owned(),
                        what: "has a name that is not plain UTF-8 text (or holds a newline or backslash)".into(),
                    });
                }
            },
            _ => {
                return Err(RegistryError::Source {
                    path: path.to_owned(),
                    what: "is outside the model folder".into(),
                });
            }
        }
    }
    Ok(parts.join("/"))
}

/// A version's digest from its files (see the module doc).
pub fn version_digest(kind: Kind, files: &[FileEntry]) -> Digest {
    match (kind, files) {
        (Kind::File, [one]) => one.sha256,
        _ => {
            let mut sorted: Vec<&FileEntry> = files.iter().collect();
            sorted.sort_by(|a, b| a.path.cmp(&b.path));
            let mut h = Sha256::new();
            for f in sorted {
                h.update(format!("{}  {}\n", f.sha256.hex(), f.path).as_bytes());
            }
            Digest::from_bytes(h.finalize().into())
        }
    }
}

/// The registry kept under one folder.
#[derive(Debug, Clone)]
pub struct Registry {
    root: PathBuf,
}

/// The registry's write lock; released when dropped.
#[derive(Debug)]
pub struct Lock {
    file: File,
}

impl Drop for Lock {
    fn drop(&mut self) {
        let _ = self.file.unlock();
    }
}

impl Registry {
    /// The registry under `root`, created if missing.
    pub fn open(root: &Path) -> Result<Self, RegistryError> {
        for sub in ["blobs/sha256", "models"] {
            let dir = root.join(sub);
            fs::create_dir_all(&dir).map_err(io_err(&dir))?;
        }
        Ok(Self {
            root: root.to_owned(),
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Takes the registry's write lock, waiting for another process that holds it.
    pub fn lock(&self) -> Result<Lock, RegistryError> {
        let path = self.root.join("lock");
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io_err(&path))?;
        file.lock().map_err(io_err(&path))?;
        Ok(Lock { file })
    }

    /// Where the bytes with this digest are kept.
    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        let hex = digest.hex();
        self.root
            .join("blobs/sha256")
            .join(hex.get(..2).unwrap_or_default())
            .join(hex)
    }

    /// Copies a file into the store, hashing the bytes as they are copied, and returns
    /// its entry. Checks of the file (the scan) read the stored copy afterwards
    /// ([`Registry::materialize`]), so nothing can change between check and store.
    pub fn store_file(
        &self,
        rel: &str,
        path: &Path,
        progress: &dyn Fn(u64),
    ) -> Result<FileEntry, RegistryError> {
        let tmp_dir = self.root.join("blobs");
        let mut tmp = tempfile::Builder::new()
            .prefix(".incoming-")
            .tempfile_in(&tmp_dir)
            .map_err(io_err(&tmp_dir))?;
        let mut src = File::open(path).map_err(io_err(path))?;
        let mut hasher = Sha256::new();
        let mut bytes = 0u64;
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = src.read(&mut buf).map_err(io_err(path))?;
            let Some(chunk) = buf.get(..n) else { break };
            if n == 0 {
                break;
            }
            hasher.update(chunk);
            tmp.write_all(chunk).map_err(io_err(tmp.path()))?;
            bytes += n as u64;
            progress(n as u64);
        }
        let digest = Digest::from_bytes(hasher.finalize().into());
        let target = self.blob_path(&digest);
        if !target.is_file() {
            tmp.as_file().sync_all().map_err(io_err(tmp.path()))?;
            set_read_only(tmp.path())?;
            if let Some(dir) = target.parent() {
                fs::create_dir_all(dir).map_err(io_err(dir))?;
            }
            tmp.persist(&target).map_err(|e| RegistryError::Io {
                path: target.clone(),
                source: e.error,
            })?;
        }
        Ok(FileEntry {
            path: rel.to_owned(),
            sha256: digest,
            bytes,
        })
    }

    /// Stores arbitrary bytes (a signature bundle) and returns their digest.
    pub fn store_bytes(&self, bytes: &[u8]) -> Result<Digest, RegistryError> {
        let digest = Digest::of(bytes);
        let target = self.blob_path(&digest);
        if !target.is_file() {
            if let Some(dir) = target.parent() {
                fs::create_dir_all(dir).map_err(io_err(dir))?;
            }
            aigis_crypto::fs::write_atomic(&target, bytes, 0o444).map_err(|e| {
                RegistryError::Io {
                    path: target.clone(),
                    source: io::Error::other(e.to_string()),
                }
            })?;
        }
        Ok(digest)
    }

    /// The bytes of a stored blob, checked against their digest.
    pub fn read_blob(&self, digest: &Digest, limit: u64) -> Result<Vec<u8>, RegistryError> {
        let path = self.blob_path(digest);
        let mut bytes = Vec::new();
        File::open(&path)
            .map_err(io_err(&path))?
            .take(limit)
            .read_to_end(&mut bytes)
            .map_err(io_err(&path))?;
        let found = Digest::of(&bytes);
        if found != *digest {
            return Err(RegistryError::Record {
                path,
                what: format!("the stored bytes hash to {found}, not {digest}"),
            });
        }
        Ok(bytes)
    }

    /// Re-hashes every stored file of a version; returns the ones that do not match.
    pub fn check_blobs(&self, record: &VersionRecord, progress: &dyn Fn(u64)) -> Vec<BlobProblem> {
        let mut problems = Vec::new();
        for f in &record.files {
            let found = hash_file(&self.blob_path(&f.sha256), progress).ok();
            if found != Some(f.sha256) {
                problems.push(BlobProblem {
                    path: f.path.clone(),
                    expected: f.sha256,
                    found,
                });
            }
        }
        problems
    }

    /// Lays a version's files out under a new temporary folder, as they were registered
    /// (hard links to the read-only blobs, or copies where links are not possible), for
    /// checks that work on a model path, such as signature verification. Returns the
    /// folder and the model's path inside it. The folder is deleted when dropped.
    pub fn materialize(
        &self,
        record: &VersionRecord,
    ) -> Result<(tempfile::TempDir, PathBuf), RegistryError> {
        let tmp = tempfile::Builder::new()
            .prefix(".check-")
            .tempdir_in(&self.root)
            .map_err(io_err(&self.root))?;
        let model = tmp.path().join("model");
        for f in &record.files {
            // Paths were checked at registration; a record edited since to climb out is
            // refused here too.
            let rel = Path::new(&f.path);
            if f.path.is_empty() || !rel.components().all(|c| matches!(c, Component::Normal(_))) {
                return Err(RegistryError::Record {
                    path: self.version_path(&record.name, record.version),
                    what: format!("the file path `{}` is not a plain relative path", f.path),
                });
            }
            let target = match record.kind {
                Kind::File => tmp.path().join(rel),
                Kind::Folder => model.join(rel),
            };
            if let Some(dir) = target.parent() {
                fs::create_dir_all(dir).map_err(io_err(dir))?;
            }
            let blob = self.blob_path(&f.sha256);
            if fs::hard_link(&blob, &target).is_err() {
                fs::copy(&blob, &target).map_err(io_err(&blob))?;
            }
        }
        let path = match (record.kind, record.files.first()) {
            (Kind::File, Some(f)) => tmp.path().join(&f.path),
            _ => model,
        };
        Ok((tmp, path))
    }

    fn model_dir(&self, name: &str) -> PathBuf {
        self.root.join("models").join(name)
    }

    fn version_path(&self, name: &str, version: u32) -> PathBuf {
        self.model_dir(name)
            .join("versions")
            .join(format!("{version}.json"))
    }

    /// The names of the registered models, sorted.
    pub fn names(&self) -> Result<Vec<String>, RegistryError> {
        let mut names: Vec<String> = listing(&self.root.join("models"))?
            .into_iter()
            .filter(|name| check_name(name).is_ok())
            .collect();
        names.sort();
        Ok(names)
    }

    /// The version numbers of a model, ascending; empty when it has none.
    pub fn versions(&self, name: &str) -> Result<Vec<u32>, RegistryError> {
        check_name(name)?;
        let dir = self.model_dir(name).join("versions");
        if !dir.is_dir() {
            return Ok(Vec::new());
        }
        let mut out: Vec<u32> = listing(&dir)?
            .iter()
            .filter_map(|n| n.strip_suffix(".json")?.parse::<u32>().ok())
            .collect();
        out.sort_unstable();
        Ok(out)
    }

    /// One version's record.
    pub fn version(&self, name: &str, version: u32) -> Result<VersionRecord, RegistryError> {
        check_name(name)?;
        let path = self.version_path(name, version);
        if !path.is_file() {
            return Err(if self.versions(name)?.is_empty() {
                RegistryError::NoModel(name.to_owned())
            } else {
                RegistryError::NoVersion {
                    name: name.to_owned(),
                    version,
                }
            });
        }
        let record: VersionRecord = read_json(&path)?;
        if record.schema != VERSION_SCHEMA || record.name != name || record.version != version {
            return Err(RegistryError::Record {
                path,
                what: "its schema, name or version does not match its place".into(),
            });
        }
        if version_digest(record.kind, &record.files) != record.digest {
            return Err(RegistryError::Record {
                path,
                what: "its digest does not match its file list".into(),
            });
        }
        Ok(record)
    }

    /// Writes a new version's record; the number must be free (callers hold the lock).
    pub fn write_version(&self, record: &VersionRecord) -> Result<(), RegistryError> {
        check_name(&record.name)?;
        let path = self.version_path(&record.name, record.version);
        if path.exists() {
            return Err(RegistryError::Record {
                path,
                what: "this version already exists".into(),
            });
        }
        write_json(&path, record)
    }

    /// Replaces a version's record (to attach evidence written after it); callers hold
    /// the lock.
    pub fn update_version(&self, record: &VersionRecord) -> Result<(), RegistryError> {
        check_name(&record.name)?;
        write_json(&self.version_path(&record.name, record.version), record)
    }

    /// Which version holds each stage of a model.
    pub fn stages(&self, name: &str) -> Result<Stages, RegistryError> {
        check_name(name)?;
        let path = self.model_dir(name).join("stages.json");
        if !path.is_file() {
            return Ok(Stages::default());
        }
        let stages: Stages = read_json(&path)?;
        if stages.schema != STAGES_SCHEMA {
            return Err(RegistryError::Record {
                path,
                what: format!("unknown schema `{}`", stages.schema),
            });
        }
        Ok(stages)
    }

    /// Replaces a model's stages; callers hold the lock.
    pub fn write_stages(&self, name: &str, stages: &Stages) -> Result<(), RegistryError> {
        check_name(name)?;
        write_json(&self.model_dir(name).join("stages.json"), stages)
    }
}

fn hash_file(path: &Path, progress: &dyn Fn(u64)) -> io::Result<Digest> {
    let mut file = File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf)?;
        match buf.get(..n) {
            Some(chunk) if n > 0 => {
                hasher.update(chunk);
                progress(n as u64);
            }
            _ => break,
        }
    }
    Ok(Digest::from_bytes(hasher.finalize().into()))
}

#[cfg(unix)]
fn set_read_only(path: &Path) -> Result<(), RegistryError> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(0o444)).map_err(io_err(path))
}

#[cfg(not(unix))]
fn set_read_only(path: &Path) -> Result<(), RegistryError> {
    let mut perms = fs::metadata(path).map_err(io_err(path))?.permissions();
    perms.set_readonly(true);
    fs::set_permissions(path, perms).map_err(io_err(path))
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, RegistryError> {
    let mut bytes = Vec::new();
    File::open(path)
        .map_err(io_err(path))?
        .take(64 << 20)
        .read_to_end(&mut bytes)
        .map_err(io_err(path))?;
    serde_json::from_slice(&bytes).map_err(|e| RegistryError::Record {
        path: path.to_owned(),
        what: e.to_string(),
    })
}

fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<(), RegistryError> {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).map_err(io_err(dir))?;
    }
    let mut bytes = serde_json::to_vec_pretty(value).map_err(|e| RegistryError::Record {
        path: path.to_owned(),
        what: e.to_string(),
    })?;
    bytes.push(b'\n');
    aigis_crypto::fs::write_atomic(path, &bytes, 0o644).map_err(|e| RegistryError::Io {
        path: path.to_owned(),
        source: io::Error::other(e.to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(reg: &Registry, name: &str, version: u32, src: &Source) -> VersionRecord {
        let files: Vec<FileEntry> = src
            .files
            .iter()
            .map(|(rel, p)| reg.store_file(rel, p, &|_| {}).unwrap())
            .collect();
        VersionRecord {
            schema: VERSION_SCHEMA.into(),
            name: name.into(),
            version,
            kind: src.kind,
            digest: version_digest(src.kind, &files),
            files,
            source: src.root.display().to_string(),
            registered_at: "2026-11-23T00:00:00Z".into(),
            registered_by: "test".into(),
            scan: None,
            signature_bundle: None,
            signature: None,
            evidence: None,
        }
    }

    #[test]
    fn names_are_checked() {
        for good in ["fraud", "fraud-v2", "a.b_c", "X1"] {
            check_name(good).unwrap();
        }
        for bad in ["", "../x", "a/b", ".hidden", "-x", "a b", &"x".repeat(65)] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn folder_digest_is_the_sorted_sha256sum_listing() {
        let dir = tempfile::tempdir().unwrap();
        let m = dir.path().join("m");
        fs::create_dir_all(m.join("sub")).unwrap();
        fs::write(m.join("b.bin"), b"bee").unwrap();
        fs::write(m.join("sub/a.txt"), b"ay").unwrap();
        fs::write(m.join("model.sig"), b"sig").unwrap();
        let src = list_source(&m, &["model.sig".into()]).unwrap();
        let rels: Vec<&str> = src.files.iter().map(|(r, _)| r.as_str()).collect();
        assert_eq!(rels, ["b.bin", "sub/a.txt"]);
        let reg = Registry::open(&dir.path().join("reg")).unwrap();
        let rec = record(&reg, "m", 1, &src);
        let listing = format!(
            "{}  b.bin\n{}  sub/a.txt\n",
            Digest::of(b"bee").hex(),
            Digest::of(b"ay").hex()
        );
        assert_eq!(rec.digest, Digest::of(listing.as_bytes()));
        // A single file's digest is its own.
        let one = list_source(&m.join("b.bin"), &[]).unwrap();
        let rec1 = record(&reg, "one", 1, &one);
        assert_eq!(rec1.digest, Digest::of(b"bee"));
    }

    #[test]
    fn versions_round_trip_and_tampering_is_seen() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("model.onnx");
        fs::write(&f, b"weights").unwrap();
        let reg = Registry::open(&dir.path().join("reg")).unwrap();
        let src = list_source(&f, &[]).unwrap();
        let _lock = reg.lock().unwrap();
        let rec = record(&reg, "fraud", 1, &src);
        reg.write_version(&rec).unwrap();
        assert!(
            reg.write_version(&rec).is_err(),
            "a version is never overwritten"
        );
        assert_eq!(reg.version("fraud", 1).unwrap(), rec);
        assert_eq!(reg.versions("fraud").unwrap(), [1]);
        assert_eq!(reg.names().unwrap(), ["fraud"]);
        assert!(matches!(
            reg.version("fraud", 2),
            Err(RegistryError::NoVersion { .. })
        ));
        assert!(matches!(
            reg.version("nope", 1),
            Err(RegistryError::NoModel(_))
        ));
        assert!(reg.check_blobs(&rec, &|_| {}).is_empty());

        // The stored bytes are changed behind the registry's back.
        let blob = reg.blob_path(&rec.digest);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                fs::metadata(&blob).unwrap().permissions().mode() & 0o777,
                0o444
            );
            fs::set_permissions(&blob, fs::Permissions::from_mode(0o644)).unwrap();
        }
        fs::write(&blob, b"evil").unwrap();
        let problems = reg.check_blobs(&rec, &|_| {});
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].found, Some(Digest::of(b"evil")));
        fs::remove_file(&blob).unwrap();
        assert_eq!(reg.check_blobs(&rec, &|_| {})[0].found, None);

        // A record whose file list was edited no longer matches its digest.
        let path = dir.path().join("reg/models/fraud/versions/1.json");
        let text = fs::read_to_string(&path).unwrap();
        fs::write(&path, text.replace("\"bytes\": 7", "\"bytes\": 8")).unwrap();
        reg.version("fraud", 1).unwrap();
        let mut edited: serde_json::Value = serde_json::from_str(&text).unwrap();
        edited["files"][0]["path"] = "other.onnx".into();
        edited["kind"] = "folder".into();
        fs::write(&path, edited.to_string()).unwrap();
        assert!(matches!(
            reg.version("fraud", 1),
            Err(RegistryError::Record { .. })
        ));
    }

    #[cfg(unix)]
    #[test]
    fn links_in_a_model_folder_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let m = dir.path().join("m");
        fs::create_dir(&m).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", m.join("weights.bin")).unwrap();
        let err = list_source(&m, &[]).unwrap_err();
        assert!(err.to_string().contains("symbolic link"), "{err}");
    }
}
