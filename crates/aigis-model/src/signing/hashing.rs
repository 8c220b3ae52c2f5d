//! Listing a model's files as model-signing does, and hashing them (or their shards) in
//! parallel on all cores, each read in large chunks, never loaded whole.

use std::fs::File;
use std::io::{Read as _, Seek as _, SeekFrom};
use std::path::{Path, PathBuf};

use aigis_core::Digest;
use aigis_core::walk::{self, Kind, LinkPolicy, Walk};
use rayon::prelude::*;
use sha2::{Digest as _, Sha256};

use super::manifest::{Method, Resource, shard_bounds};
use crate::Error;

/// Bytes read at a time (model-signing reads 1 MiB; a larger read costs nothing more).
const READ_CHUNK: usize = 4 << 20;

/// A regular file of the model.
#[derive(Debug, Clone)]
pub(crate) struct ModelFile {
    /// Relative to the model root, `/`-separated; `.` when the model is this one file.
    pub name: String,
    pub path: PathBuf,
    pub len: u64,
}

fn model_error(path: &Path, reason: impl Into<String>) -> Error {
    Error::Model {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

/// The ignore paths as component lists; absolute paths and paths through `..` can never
/// name something inside the model, so they are dropped (model-signing drops them too).
fn ignore_components(ignore: &[String]) -> Vec<Vec<&str>> {
    ignore
        .iter()
        .filter(|p| !p.starts_with('/'))
        .map(|p| {
            p.split('/')
                .filter(|c| !c.is_empty() && *c != ".")
                .collect::<Vec<_>>()
        })
        .filter(|c| !c.is_empty() && !c.contains(&".."))
        .collect()
}

/// Every regular file under `root` (or `root` itself when it is a file), not under an
/// ignored path. Symbolic links are refused unless `allow_symlinks`; then a link to a
/// file counts as that file under the link's name, and a link to a folder is not
/// entered (as model-signing's `glob("**/*")` does). Sockets, pipes and devices, broken
/// links and names that are not UTF-8 are errors.
pub(crate) fn list_files(
    root: &Path,
    allow_symlinks: bool,
    ignore: &[String],
) -> Result<Vec<ModelFile>, Error> {
    let meta = std::fs::symlink_metadata(root).map_err(|e| Error::io(root, e))?;
    if meta.file_type().is_symlink() && !allow_symlinks {
        return Err(Error::Symlink {
            path: root.to_path_buf(),
        });
    }
    let meta = std::fs::metadata(root).map_err(|e| Error::io(root, e))?;
    if meta.is_file() {
        return Ok(vec![ModelFile {
            name: ".".into(),
            path: root.to_path_buf(),
            len: meta.len(),
        }]);
    }
    if !meta.is_dir() {
        return Err(model_error(root, "is neither a file nor a folder"));
    }
    let ignore = ignore_components(ignore);
    let is_ignored = |rel: &Path| {
        let rel = rel.to_string_lossy();
        let rel: Vec<&str> = rel.split('/').collect();
        ignore.iter().any(|i| rel.starts_with(i))
    };
    // model-signing's own listing: links refused, or with `--allow-symlinks` a link to a
    // file read as that file wherever it points, and a link to a folder not entered.
    let links = if allow_symlinks {
        LinkPolicy::FollowFileLinks
    } else {
        LinkPolicy::Refuse
    };
    let entries = Walk::new(root, links)
        .skip(is_ignored)
        .run()
        .map_err(|e| match e {
            walk::Error::Io { path, source } => Error::io(path, source),
            walk::Error::Link { path, .. } => Error::Symlink { path },
            walk::Error::Dangling { path, .. } => model_error(&path, "is a broken symbolic link"),
            other => model_error(other.path(), other.to_string()),
        })?;
    let mut out = Vec::new();
    for entry in entries.into_iter().filter(|e| e.depth > 0) {
        // Signed names are text: a name that is not UTF-8 cannot be listed faithfully.
        let Some(rel) = entry.relative.to_str() else {
            return Err(model_error(&entry.path, "has a name that is not UTF-8"));
        };
        match entry.kind {
            Kind::File => out.push(ModelFile {
                name: rel.replace(std::path::MAIN_SEPARATOR, "/"),
                path: entry.path,
                len: entry.len,
            }),
            Kind::Dir | Kind::Link => {}
            Kind::Special if entry.link.is_some() => {
                return Err(model_error(
                    &entry.path,
                    "links to something that is not a file",
                ));
            }
            Kind::Special => {
                return Err(model_error(
                    &entry.path,
                    "is not a regular file (a socket, pipe or device)",
                ));
            }
        }
    }
    Ok(out)
}

/// The resources of `files` by `method`, hashed in parallel (largest pieces first, so
/// the cores finish together). `progress` receives byte counts as they are read.
pub(crate) fn hash(
    files: &[ModelFile],
    method: Method,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<Vec<Resource>, Error> {
    let mut units: Vec<(&ModelFile, Option<(u64, u64)>)> = match method {
        Method::Files => files.iter().map(|f| (f, None)).collect(),
        Method::Shards { shard_size } => files
            .iter()
            .flat_map(|f| {
                shard_bounds(f.len, shard_size)
                    .into_iter()
                    .map(move |b| (f, Some(b)))
            })
            .collect(),
    };
    let size = |u: &(&ModelFile, Option<(u64, u64)>)| u.1.map_or(u.0.len, |(s, e)| e - s);
    units.sort_by_key(|u| std::cmp::Reverse(size(u)));
    units
        .par_iter()
        .map(|(file, bounds)| {
            let digest = hash_range(file, *bounds, progress)?;
            let name = match bounds {
                None => file.name.clone(),
                Some((s, e)) => format!("{}:{s}:{e}", file.name),
            };
            Ok(Resource { name, digest })
        })
        .collect()
}

/// SHA-256 of the whole file (`None`) or of bytes `[start, end)`.
fn hash_range(
    file: &ModelFile,
    bounds: Option<(u64, u64)>,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<Digest, Error> {
    let io = |e| Error::io(&file.path, e);
    let mut f = File::open(&file.path).map_err(io)?;
    let (start, want) = match bounds {
        Some((s, e)) => (s, e - s),
        None => (0, file.len),
    };
    if start > 0 {
        f.seek(SeekFrom::Start(start)).map_err(io)?;
    }
    let mut buf = vec![
        0u8;
        usize::try_from(want)
            .unwrap_or(READ_CHUNK)
            .clamp(1, READ_CHUNK)
    ];
    let mut h = Sha256::new();
    let mut reader: Box<dyn std::io::Read> = match bounds {
        Some(_) => Box::new(f.take(want)),
        None => Box::new(f),
    };
    let mut total = 0u64;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(io(e)),
        };
        let chunk = buf.get(..n).unwrap_or_default();
        h.update(chunk);
        total += n as u64;
        progress(n as u64);
    }
    if bounds.is_some() && total != want {
        return Err(model_error(
            &file.path,
            "changed while it was being hashed (it is shorter than when it was listed)",
        ));
    }
    Ok(Digest::from_bytes(h.finalize().into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(files: &[ModelFile]) -> Vec<String> {
        let mut n: Vec<String> = files.iter().map(|f| f.name.clone()).collect();
        n.sort();
        n
    }

    #[test]
    fn lists_files_relative_and_skips_ignored_paths() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path();
        std::fs::create_dir_all(p.join("sub/deep")).unwrap();
        std::fs::create_dir_all(p.join(".git/objects")).unwrap();
        std::fs::write(p.join("a.bin"), b"a").unwrap();
        std::fs::write(p.join("sub/deep/c"), b"c").unwrap();
        std::fs::write(p.join("sub/skip.me"), b"s").unwrap();
        std::fs::write(p.join(".git/objects/x"), b"x").unwrap();
        std::fs::write(p.join(".gitignore-not"), b"g").unwrap();
        let ignore = vec![
            ".git".into(),
            "sub/skip.me".into(),
            "/abs".into(),
            "../x".into(),
        ];
        let files = list_files(p, false, &ignore).unwrap();
        assert_eq!(names(&files), [".gitignore-not", "a.bin", "sub/deep/c"]);
        let one = list_files(&p.join("a.bin"), false, &[]).unwrap();
        assert_eq!(names(&one), ["."]);
    }

    #[cfg(unix)]
    #[test]
    fn symlinks_are_refused_unless_allowed() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path();
        std::fs::create_dir(p.join("d")).unwrap();
        std::fs::write(p.join("real"), b"r").unwrap();
        std::os::unix::fs::symlink(p.join("real"), p.join("link")).unwrap();
        std::os::unix::fs::symlink(p.join("d"), p.join("dlink")).unwrap();
        let e = list_files(p, false, &[]).unwrap_err();
        assert!(e.to_string().contains("symbolic link"), "{e}");
        assert!(
            aigis_core::Hint::hint(&e).is_some_and(|h| h.contains("--allow-symlinks")),
            "{e}"
        );
        let files = list_files(p, true, &[]).unwrap();
        assert_eq!(names(&files), ["link", "real"]);
        std::os::unix::fs::symlink(p.join("nothing"), p.join("broken")).unwrap();
        let e = list_files(p, true, &[]).unwrap_err().to_string();
        assert!(e.contains("broken symbolic link"), "{e}");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_name_that_is_not_utf8_is_an_error_unless_ignored() {
        use std::os::unix::ffi::OsStrExt as _;
        let dir = tempfile::tempdir().unwrap();
        let odd = std::ffi::OsStr::from_bytes(b"w\xffx.bin");
        std::fs::write(dir.path().join(odd), b"w").unwrap();
        let e = list_files(dir.path(), false, &[]).unwrap_err().to_string();
        assert!(e.contains("not UTF-8"), "{e}");
        let ignored = vec![String::from_utf8_lossy(odd.as_bytes()).into_owned()];
        assert!(list_files(dir.path(), false, &ignored).unwrap().is_empty());
    }

    #[test]
    fn shards_and_files_hash_the_right_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let data: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(dir.path().join("f"), &data).unwrap();
        std::fs::write(dir.path().join("empty"), b"").unwrap();
        let files = list_files(dir.path(), false, &[]).unwrap();
        let counted = std::sync::atomic::AtomicU64::new(0);
        let add = |n| {
            counted.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
        };
        let mut whole = hash(&files, Method::Files, &add).unwrap();
        whole.sort_by(|a, b| a.name.cmp(&b.name));
        assert_eq!(whole[0].name, "empty");
        assert_eq!(whole[0].digest, Digest::of(b""));
        assert_eq!(whole[1].digest, Digest::of(&data));
        let mut shards = hash(&files, Method::Shards { shard_size: 4096 }, &add).unwrap();
        shards.sort_by_key(|r| r.name.len());
        let got: Vec<(String, Digest)> = shards.into_iter().map(|r| (r.name, r.digest)).collect();
        // The empty file has no shard at all.
        assert_eq!(
            got,
            [
                ("f:0:4096".to_string(), Digest::of(&data[..4096])),
                ("f:4096:8192".to_string(), Digest::of(&data[4096..8192])),
                ("f:8192:10000".to_string(), Digest::of(&data[8192..])),
            ]
        );
        assert_eq!(counted.into_inner(), 20_000);
    }
}
