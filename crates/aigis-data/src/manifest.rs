//! Dataset manifests: what a dataset is, byte for byte, in a form that can be signed and
//! later re-checked file by file and chunk by chunk.
//!
//! ```json
//! {"format": "aigis/data-manifest@v1", "chunk_size": 8388608, "root": "<hex>",
//!  "files": [{"path": "train/part-0.csv", "size": 123, "sha256": "<hex>",
//!             "chunks": ["<hex>", ...]}]}
//! ```
//!
//! - `sha256` is the plain SHA-256 of the whole file (what `sha256sum` prints);
//! - `chunks[i]` is the plain SHA-256 of bytes `[i·chunk_size, (i+1)·chunk_size)`, so a
//!   changed byte is located to its chunk (`dd … | sha256sum` checks one by hand);
//! - `root` is the RFC 6962 Merkle root whose leaves are the files, in path order, each
//!   written as `path \n size \n sha256 \n chunk,chunk,… \n`: one digest that binds every
//!   file, and from which one file's presence can be proven without the others.
//!
//! Each file is read once. A file larger than one chunk is hashed on two threads at the
//! same time, one for the whole-file digest and one for the chunk digests, so it goes at
//! one core's SHA-256 speed (measured in BENCHMARKS.md); a file of one chunk is hashed
//! once, since its chunk digest is its digest. Several files are hashed at once, one per
//! core. Memory stays bounded whatever the sizes: a 1 MiB buffer per worker, plus four
//! per large file being hashed.

use std::io::Read as _;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;

use aigis_core::{ChangeKind, FileChange};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::Error;

pub const FORMAT: &str = "aigis/data-manifest@v1";
pub const DEFAULT_CHUNK_SIZE: u64 = 8 << 20;
const BLOCK: usize = 1 << 20;
const BUFFERS: usize = 4;

/// A dataset: its files with their digests, and one root over them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: String,
    pub chunk_size: u64,
    pub root: String,
    pub files: Vec<FileEntry>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    /// Relative to the manifest's base, `/`-separated.
    pub path: String,
    pub size: u64,
    pub sha256: String,
    pub chunks: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct Options {
    /// Bytes per chunk: a power of two from 4 KiB to 1 GiB.
    pub chunk_size: u64,
    /// Files or folders to leave out (for example the manifest itself when it sits in the
    /// folder, or the project's `.aigis/`).
    pub exclude: Vec<PathBuf>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            chunk_size: DEFAULT_CHUNK_SIZE,
            exclude: Vec::new(),
        }
    }
}

/// One way a dataset differs from its manifest: the file and how it changed, in the
/// words `aigis model verify` uses too ([`FileChange`]), and for a modified file the
/// chunks that differ. In JSON, one flat object:
/// `{"change": "modified", "path": "big.bin", "old_size": …, "new_size": …, "chunks": [3], "first_offset": 24576}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    #[serde(flatten)]
    pub file: FileChange,
    /// Where a modified file differs; `None` for a file added or removed.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub chunks: Option<ChunkChange>,
}

/// Where a modified file differs from its manifest entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChunkChange {
    pub old_size: u64,
    pub new_size: u64,
    /// The indices of the chunks that differ (a chunk that exists on one side only counts
    /// as differing).
    pub chunks: Vec<u64>,
    /// The byte offset where the first differing chunk starts.
    pub first_offset: u64,
}

impl Change {
    fn file(kind: ChangeKind, path: &str) -> Self {
        Self {
            file: FileChange::new(kind, path),
            chunks: None,
        }
    }
}

/// The file's change (`{:#}` for its inline form, see [`FileChange`]), and where a
/// modified file first differs.
impl std::fmt::Display for Change {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if f.alternate() {
            write!(f, "{:#}", self.file)?;
        } else {
            write!(f, "{}", self.file)?;
        }
        let Some(ChunkChange {
            old_size,
            new_size,
            chunks,
            first_offset,
        }) = &self.chunks
        else {
            return Ok(());
        };
        write!(f, " (chunk")?;
        if chunks.len() > 1 {
            write!(f, "s")?;
        }
        let shown: Vec<String> = chunks.iter().take(8).map(u64::to_string).collect();
        write!(f, " {}", shown.join(", "))?;
        if chunks.len() > 8 {
            write!(f, " and {} more", chunks.len() - 8)?;
        }
        write!(f, ", first change within bytes {first_offset}..")?;
        if old_size != new_size {
            write!(f, ", size {old_size} -> {new_size}")?;
        }
        write!(f, ")")
    }
}

/// Hashes the file or folder at `base` into a manifest. `progress(bytes)` is called from
/// the hashing threads as bytes are read.
pub fn build(
    base: &Path,
    opts: &Options,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<Manifest, Error> {
    check_chunk_size(opts.chunk_size).map_err(|m| Error::Path {
        path: base.into(),
        reason: m,
    })?;
    let files = list(base, opts)?;
    let next = AtomicUsize::new(0);
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(files.len().max(1));
    let mut done: Vec<(usize, Result<FileEntry, Error>)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                s.spawn(|| {
                    let mut out = Vec::new();
                    let mut buf = vec![0u8; BLOCK]; // reused for every small file
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some((rel, full)) = files.get(i) else {
                            break;
                        };
                        let hashed = hash_small(full, opts.chunk_size, &mut buf, progress)
                            .transpose()
                            .unwrap_or_else(|| hash_file(full, opts.chunk_size, progress));
                        out.push((
                            i,
                            hashed.map(|(size, sha256, chunks)| FileEntry {
                                path: rel.clone(),
                                size,
                                sha256,
                                chunks,
                            }),
                        ));
                    }
                    out
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_default())
            .collect()
    });
    if done.len() != files.len() {
        return Err(Error::Path {
            path: base.into(),
            reason: "a hashing thread stopped before finishing".into(),
        });
    }
    done.sort_unstable_by_key(|(i, _)| *i);
    let entries = done
        .into_iter()
        .map(|(_, r)| r)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Manifest {
        format: FORMAT.into(),
        chunk_size: opts.chunk_size,
        root: root_of(&entries),
        files: entries,
    })
}

/// Parses a manifest and checks it is well formed and its root matches its files.
pub fn parse(bytes: &[u8]) -> Result<Manifest, Error> {
    let m: Manifest = serde_json::from_slice(bytes).map_err(|e| Error::Manifest(e.to_string()))?;
    m.validate()?;
    Ok(m)
}

impl Manifest {
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    pub fn total_bytes(&self) -> u64 {
        self.files.iter().map(|f| f.size).sum()
    }

    pub fn validate(&self) -> Result<(), Error> {
        let bad = |m: String| Err(Error::Manifest(m));
        if self.format != FORMAT {
            return bad(format!(
                "`format` is `{}`, expected `{FORMAT}`",
                self.format
            ));
        }
        check_chunk_size(self.chunk_size).map_err(Error::Manifest)?;
        let mut previous: Option<&str> = None;
        for f in &self.files {
            if let Err(reason) = check_relative(&f.path) {
                return bad(format!("path `{}`: {reason}", f.path));
            }
            if previous.is_some_and(|p| p >= f.path.as_str()) {
                return bad(format!("paths are not sorted and unique at `{}`", f.path));
            }
            previous = Some(&f.path);
            let want_chunks = f.size.div_ceil(self.chunk_size);
            if f.chunks.len() as u64 != want_chunks {
                return bad(format!(
                    "`{}` has {} chunk digests; {} bytes make {want_chunks}",
                    f.path,
                    f.chunks.len(),
                    f.size
                ));
            }
            for d in std::iter::once(&f.sha256).chain(&f.chunks) {
                if d.len() != 64 || !d.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
                    return bad(format!(
                        "`{}`: `{d}` is not a lower-case SHA-256 hex digest",
                        f.path
                    ));
                }
            }
        }
        if root_of(&self.files) != self.root {
            return bad("`root` does not match the files listed".into());
        }
        Ok(())
    }
}

/// What differs between the manifest and the dataset as it is now. Both must use the
/// same chunk size (build `actual` with `expected.chunk_size`).
pub fn compare(expected: &Manifest, actual: &Manifest) -> Vec<Change> {
    let mut changes = Vec::new();
    let (mut a, mut b) = (
        expected.files.iter().peekable(),
        actual.files.iter().peekable(),
    );
    loop {
        match (a.peek(), b.peek()) {
            (None, None) => break,
            (Some(x), Some(y)) if x.path == y.path => {
                if x.sha256 != y.sha256 || x.size != y.size {
                    let n = x.chunks.len().max(y.chunks.len());
                    let chunks: Vec<u64> = (0..n)
                        .filter(|&i| x.chunks.get(i) != y.chunks.get(i))
                        .map(|i| i as u64)
                        .collect();
                    changes.push(Change {
                        file: FileChange::new(ChangeKind::Modified, &x.path),
                        chunks: Some(ChunkChange {
                            old_size: x.size,
                            new_size: y.size,
                            first_offset: chunks.first().copied().unwrap_or(0)
                                * expected.chunk_size,
                            chunks,
                        }),
                    });
                }
                a.next();
                b.next();
            }
            (Some(x), Some(y)) if x.path < y.path => {
                changes.push(Change::file(ChangeKind::Removed, &x.path));
                a.next();
            }
            (Some(x), None) => {
                changes.push(Change::file(ChangeKind::Removed, &x.path));
                a.next();
            }
            (_, Some(y)) => {
                changes.push(Change::file(ChangeKind::Added, &y.path));
                b.next();
            }
        }
    }
    changes
}

/// The RFC 6962 root over the files' canonical lines.
pub fn root_of(files: &[FileEntry]) -> String {
    let mut range = aigis_core::merkle::CompactRange::default();
    for f in files {
        let line = format!(
            "{}\n{}\n{}\n{}\n",
            f.path,
            f.size,
            f.sha256,
            f.chunks.join(",")
        );
        range.push(aigis_core::merkle::leaf_hash(line.as_bytes()));
    }
    hex::encode(range.root())
}

fn check_chunk_size(n: u64) -> Result<(), String> {
    if n.is_power_of_two() && (4096..=1 << 30).contains(&n) {
        Ok(())
    } else {
        Err(format!(
            "chunk size {n} must be a power of two from 4096 to 1073741824"
        ))
    }
}

fn check_relative(path: &str) -> Result<(), &'static str> {
    if path.is_empty() || path.starts_with('/') || path.contains('\\') {
        return Err("must be a relative `/`-separated path");
    }
    if path
        .split('/')
        .any(|c| c.is_empty() || c == "." || c == "..")
    {
        return Err("has an empty, `.` or `..` component");
    }
    if path.chars().any(char::is_control) {
        return Err("has a control character");
    }
    Ok(())
}

/// The regular files under `base` (or `base` itself), sorted by relative path. Symbolic
/// links are refused rather than followed (the walk's `LinkPolicy::Refuse`): a manifest
/// describes what is in the folder. Devices, pipes and sockets are left out.
fn list(base: &Path, opts: &Options) -> Result<Vec<(String, PathBuf)>, Error> {
    use aigis_core::walk::{self, Kind, LinkPolicy, Walk};
    let meta = std::fs::symlink_metadata(base).map_err(|e| Error::io(base, e))?;
    // Links are refused below, so the canonical base joined with a relative path is the
    // file's canonical path: each exclusion is resolved once, not once per file.
    let canonical_base = base.canonicalize().map_err(|e| Error::io(base, e))?;
    let excludes: Vec<PathBuf> = opts
        .exclude
        .iter()
        .filter_map(|x| x.canonicalize().ok())
        .collect();
    let excluded = |rel: &Path| {
        let full = canonical_base.join(rel);
        excludes.iter().any(|x| full.starts_with(x))
    };
    if meta.is_file() {
        let name = base
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| Error::Path {
                path: base.into(),
                reason: "the name is not UTF-8".into(),
            })?;
        return Ok(vec![(name.to_owned(), base.to_path_buf())]);
    }
    if !meta.is_dir() {
        return Err(Error::Path {
            path: base.into(),
            reason: "not a regular file or folder".into(),
        });
    }
    let entries = Walk::new(base, LinkPolicy::Refuse)
        .skip(excluded)
        .run()
        .map_err(|e| match e {
            walk::Error::Link { path, .. } => Error::Path {
                path,
                reason: "symbolic links are not followed; copy the file in or list its target"
                    .into(),
            },
            other => other.into(),
        })?;
    let mut out = Vec::new();
    for entry in entries.into_iter().filter(|e| e.kind == Kind::File) {
        out.push((relative(base, &entry.path)?, entry.path));
    }
    // The walk's order (bytes of the relative path) is the `/`-joined names' order; sort
    // anyway, the manifest's root depends on it.
    out.sort();
    Ok(out)
}

fn relative(base: &Path, path: &Path) -> Result<String, Error> {
    let rel = path.strip_prefix(base).map_err(|_| Error::Path {
        path: path.into(),
        reason: "outside the dataset folder".into(),
    })?;
    let mut parts = Vec::new();
    for c in rel.components() {
        match c {
            Component::Normal(s) => parts.push(s.to_str().ok_or_else(|| Error::Path {
                path: path.into(),
                reason: "the name is not UTF-8".into(),
            })?),
            _ => {
                return Err(Error::Path {
                    path: path.into(),
                    reason: "unexpected path component".into(),
                });
            }
        }
    }
    let rel = parts.join("/");
    check_relative(&rel).map_err(|reason| Error::Path {
        path: path.into(),
        reason: reason.into(),
    })?;
    Ok(rel)
}

/// A file of at most one chunk has exactly one chunk, whose digest is the whole file's:
/// hash it once, on this thread, in `buf`. `None` if the file is (or grew) larger than a
/// chunk, for [`hash_file`] to read it with the chunk digests beside.
type Hashed = (u64, String, Vec<String>);

fn hash_small(
    path: &Path,
    chunk_size: u64,
    buf: &mut [u8],
    progress: &(dyn Fn(u64) + Sync),
) -> Result<Option<Hashed>, Error> {
    let mut file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let len = file.metadata().map_err(|e| Error::io(path, e))?.len();
    if len > chunk_size {
        return Ok(None);
    }
    let mut hasher = Sha256::new();
    let mut size = 0u64;
    loop {
        let n = fill(&mut file, buf).map_err(|e| Error::io(path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(buf.get(..n).unwrap_or_default());
        size += n as u64;
        if size > chunk_size {
            return Ok(None); // it grew while we read; start again with chunk digests
        }
    }
    progress(size);
    let digest = hex::encode(hasher.finalize());
    let chunks = if size == 0 {
        Vec::new()
    } else {
        vec![digest.clone()]
    };
    Ok(Some((size, digest, chunks)))
}

/// Reads `path` once: this thread computes the whole-file digest while a helper thread
/// computes the chunk digests from the same buffers, which are then reused.
fn hash_file(
    path: &Path,
    chunk_size: u64,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<Hashed, Error> {
    let mut file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let (full_tx, full_rx) = mpsc::sync_channel::<(Vec<u8>, usize)>(BUFFERS);
    let (free_tx, free_rx) = mpsc::sync_channel::<Vec<u8>>(BUFFERS);
    for _ in 0..BUFFERS {
        let _ = free_tx.send(vec![0u8; BLOCK]);
    }
    std::thread::scope(|s| {
        let chunker = s.spawn(move || {
            let mut chunks = Vec::new();
            let mut hasher = Sha256::new();
            let mut filled = 0u64;
            for (buf, len) in full_rx {
                let mut rest = buf.get(..len).unwrap_or_default();
                while !rest.is_empty() {
                    let room = usize::try_from(chunk_size - filled).unwrap_or(usize::MAX);
                    let (now, later) = rest.split_at(room.min(rest.len()));
                    hasher.update(now);
                    filled += now.len() as u64;
                    rest = later;
                    if filled == chunk_size {
                        chunks.push(hex::encode(hasher.finalize_reset()));
                        filled = 0;
                    }
                }
                let _ = free_tx.send(buf);
            }
            if filled > 0 {
                chunks.push(hex::encode(hasher.finalize()));
            }
            chunks
        });
        let mut whole = Sha256::new();
        let mut size = 0u64;
        let read = (|| -> Result<(), Error> {
            while let Ok(mut buf) = free_rx.recv() {
                let len = fill(&mut file, &mut buf).map_err(|e| Error::io(path, e))?;
                if len == 0 {
                    break;
                }
                let data = buf.get(..len).unwrap_or_default();
                whole.update(data);
                size += len as u64;
                progress(len as u64);
                if full_tx.send((buf, len)).is_err() {
                    break;
                }
            }
            Ok(())
        })();
        drop(full_tx);
        let chunks = chunker.join().unwrap_or_default();
        read?;
        Ok((size, hex::encode(whole.finalize()), chunks))
    })
}

/// Reads until `buf` is full or the file ends.
fn fill(file: &mut std::fs::File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match file.read(buf.get_mut(n..).unwrap_or_default()) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(chunk: u64) -> Options {
        Options {
            chunk_size: chunk,
            exclude: vec![],
        }
    }

    fn sha(b: &[u8]) -> String {
        hex::encode(Sha256::digest(b))
    }

    #[test]
    fn digests_are_plain_sha256_of_file_and_chunks() {
        let dir = tempfile::tempdir().unwrap();
        let data: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(dir.path().join("f.bin"), &data).unwrap();
        let m = build(dir.path(), &opts(4096), &|_| {}).unwrap();
        let f = &m.files[0];
        assert_eq!((f.path.as_str(), f.size), ("f.bin", 10_000));
        assert_eq!(f.sha256, sha(&data));
        assert_eq!(
            f.chunks,
            vec![
                sha(&data[..4096]),
                sha(&data[4096..8192]),
                sha(&data[8192..])
            ]
        );
        m.validate().unwrap();
        assert_eq!(parse(&m.to_json()).unwrap(), m);
    }

    #[test]
    fn bigger_than_the_buffers_and_empty_files() {
        let dir = tempfile::tempdir().unwrap();
        let data: Vec<u8> = (0..(3 * BLOCK + 123))
            .map(|i| (i * 7 % 256) as u8)
            .collect();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("sub/big"), &data).unwrap();
        std::fs::write(dir.path().join("empty"), b"").unwrap();
        let m = build(dir.path(), &opts(1 << 20), &|_| {}).unwrap();
        assert_eq!(
            m.files.iter().map(|f| f.path.as_str()).collect::<Vec<_>>(),
            ["empty", "sub/big"]
        );
        assert!(m.files[0].chunks.is_empty());
        assert_eq!(m.files[1].sha256, sha(&data));
        assert_eq!(m.files[1].chunks.len(), 4);
        assert_eq!(m.files[1].chunks[3], sha(&data[3 << 20..]));
    }

    #[test]
    fn compare_names_the_file_and_chunk() {
        let dir = tempfile::tempdir().unwrap();
        let mut data = vec![0u8; 5 * 4096];
        std::fs::write(dir.path().join("a"), &data).unwrap();
        std::fs::write(dir.path().join("b"), b"b").unwrap();
        let before = build(dir.path(), &opts(4096), &|_| {}).unwrap();
        data[3 * 4096 + 17] = 1;
        std::fs::write(dir.path().join("a"), &data).unwrap();
        std::fs::remove_file(dir.path().join("b")).unwrap();
        std::fs::write(dir.path().join("c"), b"c").unwrap();
        let after = build(dir.path(), &opts(4096), &|_| {}).unwrap();
        let changes = compare(&before, &after);
        assert_eq!(
            changes,
            vec![
                Change {
                    file: FileChange::new(ChangeKind::Modified, "a"),
                    chunks: Some(ChunkChange {
                        old_size: 20480,
                        new_size: 20480,
                        chunks: vec![3],
                        first_offset: 12288
                    }),
                },
                Change::file(ChangeKind::Removed, "b"),
                Change::file(ChangeKind::Added, "c"),
            ]
        );
        assert_eq!(
            changes.iter().map(ToString::to_string).collect::<Vec<_>>(),
            [
                "modified: a (chunk 3, first change within bytes 12288..)",
                "removed:  b",
                "added:    c"
            ]
        );
        assert_eq!(
            serde_json::to_value(&changes).unwrap(),
            serde_json::json!([
                {"change": "modified", "path": "a", "old_size": 20480, "new_size": 20480,
                 "chunks": [3], "first_offset": 12288},
                {"change": "removed", "path": "b"},
                {"change": "added", "path": "c"},
            ])
        );
        // Appending to a file changes its size and adds a chunk.
        data.push(9);
        std::fs::write(dir.path().join("a"), &data).unwrap();
        let grown = build(dir.path(), &opts(4096), &|_| {}).unwrap();
        match &compare(&before, &grown)[0] {
            Change {
                file,
                chunks:
                    Some(ChunkChange {
                        chunks, new_size, ..
                    }),
            } if file.kind == ChangeKind::Modified => {
                assert_eq!((chunks.clone(), *new_size), (vec![3, 5], 20481));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn root_binds_every_field() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a"), b"a").unwrap();
        std::fs::write(dir.path().join("b"), b"b").unwrap();
        let m = build(dir.path(), &opts(4096), &|_| {}).unwrap();
        let mut edited = m.clone();
        edited.files[1].size = 2;
        edited.files[1].chunks = vec![edited.files[1].chunks[0].clone()];
        assert!(edited.validate().unwrap_err().to_string().contains("root"));
        let mut renamed = m.clone();
        renamed.files[0].path = "a2".into();
        assert!(renamed.validate().is_err());
        let empty = Manifest {
            format: FORMAT.into(),
            chunk_size: 4096,
            root: root_of(&[]),
            files: vec![],
        };
        assert_eq!(
            empty.root,
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn malformed_manifests_and_paths_are_refused() {
        for bad in [
            r#"{}"#,
            r#"{"format":"x","chunk_size":4096,"root":"","files":[]}"#,
            r#"{"format":"aigis/data-manifest@v1","chunk_size":1000,"root":"","files":[]}"#,
            r#"{"format":"aigis/data-manifest@v1","chunk_size":4096,"root":"00","files":[]}"#,
        ] {
            assert!(parse(bad.as_bytes()).is_err(), "{bad}");
        }
        for p in ["", "/etc/passwd", "a/../b", "a//b", "./a", "a\nb", "a\\b"] {
            assert!(check_relative(p).is_err(), "{p:?}");
        }
        assert!(check_relative("train/part-0.csv").is_ok());
    }

    #[test]
    fn excluded_files_and_folders_are_left_out() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join(".aigis/keys")).unwrap();
        std::fs::write(dir.path().join(".aigis/ledger.db"), b"x").unwrap();
        std::fs::write(dir.path().join("data.csv"), b"d").unwrap();
        std::fs::write(dir.path().join("m.json"), b"m").unwrap();
        let o = Options {
            chunk_size: 4096,
            exclude: vec![dir.path().join(".aigis"), dir.path().join("m.json")],
        };
        let m = build(dir.path(), &o, &|_| {}).unwrap();
        assert_eq!(
            m.files.iter().map(|f| f.path.as_str()).collect::<Vec<_>>(),
            ["data.csv"]
        );
    }

    #[cfg(unix)]
    #[test]
    fn symbolic_links_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink("/etc/hostname", dir.path().join("link")).unwrap();
        let err = build(dir.path(), &opts(4096), &|_| {})
            .unwrap_err()
            .to_string();
        assert!(err.contains("symbolic links"), "{err}");
    }
}
