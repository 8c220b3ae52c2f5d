use std::io::{Read, Write};
use std::path::Path;

use aigis_core::Digest;
use sha2::{Digest as _, Sha256};

use crate::Error;

/// The SHA-256 of a file, read in 256 KiB blocks so files of any size fit in memory.
pub fn sha256_file(path: &Path) -> Result<Digest, Error> {
    let mut file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    Digest::of_reader(&mut file).map_err(|e| Error::io(path, e))
}

/// A reader that hashes (SHA-256) every byte read through it, so a file is hashed in the
/// same pass that uses it.
#[derive(Debug)]
pub struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
}

impl<R: Read> HashingReader<R> {
    pub fn new(inner: R) -> Self {
        Self {
            inner,
            hasher: Sha256::new(),
        }
    }

    /// The SHA-256 of the bytes read so far.
    pub fn digest(&self) -> Digest {
        Digest::from_bytes(self.hasher.clone().finalize().into())
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(buf.get(..n).unwrap_or_default());
        Ok(n)
    }
}

/// A writer that hashes (SHA-256) every byte written through it.
#[derive(Debug)]
pub struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
}

impl<W: Write> HashingWriter<W> {
    pub fn new(inner: W) -> Self {
        Self {
            inner,
            hasher: Sha256::new(),
        }
    }

    /// The SHA-256 of the bytes written so far.
    pub fn digest(&self) -> Digest {
        Digest::from_bytes(self.hasher.clone().finalize().into())
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(buf.get(..n).unwrap_or_default());
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
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
    fn hashing_reader_and_writer_see_every_byte() {
        let data = vec![3u8; 100_000];
        let mut reader = HashingReader::new(&data[..]);
        let mut writer = HashingWriter::new(Vec::new());
        std::io::copy(&mut reader, &mut writer).unwrap();
        assert_eq!(reader.digest(), Digest::of(&data));
        assert_eq!(writer.digest(), Digest::of(&data));
        assert_eq!(writer.inner, data);
    }

    #[test]
    fn a_missing_file_names_its_path() {
        let err = sha256_file(Path::new("/nonexistent/x")).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/x"));
    }
}
