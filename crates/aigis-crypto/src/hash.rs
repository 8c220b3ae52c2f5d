use std::io::Read;
use std::path::Path;

use aigis_core::Digest;
use sha2::{Digest as _, Sha256};

use crate::Error;

/// The SHA-256 of a file, read in 256 KiB blocks so files of any size fit in memory.
pub fn sha256_file(path: &Path) -> Result<Digest, Error> {
    let mut file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = file.read(&mut buf).map_err(|e| Error::io(path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(buf.get(..n).unwrap_or_default());
    }
    Ok(Digest::from_bytes(hasher.finalize().into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_a_file_like_its_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let data = vec![7u8; 600_000];
        std::fs::write(&path, &data).unwrap();
        assert_eq!(sha256_file(&path).unwrap(), Digest::of(&data));
    }

    #[test]
    fn a_missing_file_names_its_path() {
        let err = sha256_file(Path::new("/nonexistent/x")).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/x"));
    }
}
