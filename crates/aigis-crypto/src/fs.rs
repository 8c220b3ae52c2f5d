//! Crash-safe file writes: a temporary file in the same folder, synced, then renamed over
//! the target, so a reader sees the old file or the new one and never half of one.

use std::io::Write;
use std::path::Path;

use crate::Error;

/// Writes `bytes` to `path` atomically. On Unix the file gets `mode` (for example `0o600`
/// for secrets) before any byte is written.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<(), Error> {
    write_atomic_with(path, mode, |out| {
        out.write_all(bytes).map_err(|e| Error::io(path, e))
    })
}

/// Streams a new file into place: `write` fills a temporary file in `path`'s folder
/// (created with `mode` on Unix), which is synced and renamed over `path` only if `write`
/// returns `Ok`. On any error the temporary file is removed and `path` is left as it was,
/// so a reader never sees a half-written file, or (for decryption) a plaintext whose
/// later chunks failed authentication.
pub fn write_atomic_with<T>(
    path: &Path,
    mode: u32,
    write: impl FnOnce(&mut dyn Write) -> Result<T, Error>,
) -> Result<T, Error> {
    write_atomic_try(path, mode, write)
}

/// [`write_atomic_with`] whose `write` may fail with any error that an [`Error`] converts
/// into (an `anyhow::Error`, a caller's own error type); that error is returned as it is.
pub fn write_atomic_try<T, E: From<Error>>(
    path: &Path,
    mode: u32,
    write: impl FnOnce(&mut dyn Write) -> Result<T, E>,
) -> Result<T, E> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let mut builder = tempfile::Builder::new();
    builder.prefix(".aigis-tmp-");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(mode));
    }
    #[cfg(not(unix))]
    let _ = mode; // only Unix has modes; elsewhere the folder's access rules apply
    // Dropping `tmp` on an early return deletes the temporary file.
    let mut tmp = builder.tempfile_in(dir).map_err(|e| Error::io(dir, e))?;
    let value = {
        let mut out = std::io::BufWriter::with_capacity(256 * 1024, tmp.as_file_mut());
        let value = write(&mut out)?;
        out.flush().map_err(|e| Error::io(path, e))?;
        value
    };
    tmp.as_file().sync_all().map_err(|e| Error::io(path, e))?;
    tmp.persist(path).map_err(|e| Error::io(path, e.error))?;
    sync_dir(dir);
    Ok(value)
}

/// Makes a rename in `dir` durable. Best effort: some file systems refuse to open folders.
pub fn sync_dir(dir: &Path) {
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_the_file_and_sets_the_mode() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        write_atomic(&path, b"one", 0o600).unwrap();
        write_atomic(&path, b"two", 0o600).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // No temporary file is left behind.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn a_failed_write_leaves_the_target_and_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out");
        write_atomic(&path, b"old", 0o644).unwrap();
        let err = write_atomic_with(&path, 0o600, |out| {
            out.write_all(b"half of something").unwrap();
            Err::<(), _>(Error::io(&path, std::io::Error::other("boom")))
        })
        .unwrap_err();
        assert!(err.to_string().contains("boom"));
        assert_eq!(std::fs::read(&path).unwrap(), b"old");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        let n = write_atomic_with(&path, 0o600, |out| {
            out.write_all(b"new").map_err(|e| Error::io(&path, e))?;
            Ok(3)
        })
        .unwrap();
        assert_eq!((n, std::fs::read(&path).unwrap()), (3, b"new".to_vec()));
    }
}
