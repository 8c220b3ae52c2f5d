//! Where secrets come from: a [`SecretStore`] names a secret and hands its bytes back
//! zeroized; the file and environment backends are here, and a KMS client is one more
//! implementation of the trait. A configuration names a secret by reference:
//! `env:NAME` (an environment variable) or `file:PATH` (a file, relative to the
//! configuration's folder, that must not be readable by others). Errors name the
//! reference, never the secret.

use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use crate::Error;

/// A source of secrets.
pub trait SecretStore {
    /// The secret named `name` in this store, trimmed of surrounding whitespace.
    fn get(&self, name: &str) -> Result<Zeroizing<String>, Error>;
}

/// Secrets in environment variables.
#[derive(Debug, Clone, Copy, Default)]
pub struct EnvStore;

impl SecretStore for EnvStore {
    fn get(&self, name: &str) -> Result<Zeroizing<String>, Error> {
        let v =
            Zeroizing::new(std::env::var(name).map_err(|_| {
                Error::Secret(format!("the environment variable `{name}` is not set"))
            })?);
        Ok(Zeroizing::new(v.trim().to_owned()))
    }
}

/// Secrets in files under a folder.
#[derive(Debug, Clone, Default)]
pub struct FileStore {
    /// Relative names are under it.
    pub base: PathBuf,
}

/// The largest secret file read.
const MAX_SECRET_FILE: u64 = 64 << 10;

impl SecretStore for FileStore {
    fn get(&self, name: &str) -> Result<Zeroizing<String>, Error> {
        let path = self.base.join(name);
        let bad =
            |why: String| Error::Secret(format!("the secret file `{}` {why}", path.display()));
        let meta = std::fs::metadata(&path).map_err(|e| bad(format!("cannot be read: {e}")))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            if meta.permissions().mode() & 0o077 != 0 {
                return Err(bad(
                    "is readable by others than its owner (chmod 600 it)".into()
                ));
            }
        }
        if meta.len() > MAX_SECRET_FILE {
            return Err(bad(format!("is larger than {MAX_SECRET_FILE} bytes")));
        }
        let text = Zeroizing::new(
            std::fs::read_to_string(&path).map_err(|e| bad(format!("cannot be read: {e}")))?,
        );
        Ok(Zeroizing::new(text.trim().to_owned()))
    }
}

/// The secret a reference names: `env:NAME` or `file:PATH` (relative to `base`).
pub fn resolve(reference: &str, base: &Path) -> Result<Zeroizing<String>, Error> {
    match reference.split_once(':') {
        Some(("env", name)) if !name.is_empty() => EnvStore.get(name),
        Some(("file", path)) if !path.is_empty() => FileStore {
            base: base.to_owned(),
        }
        .get(path),
        _ => Err(Error::Secret(format!(
            "`{reference}` is not a secret reference: `env:NAME` or `file:PATH`"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_resolve_and_errors_never_hold_the_secret() {
        let t = tempfile::tempdir().unwrap();
        let path = t.path().join("s.txt");
        crate::fs::write_atomic(&path, b"  hunter2-totp \n", 0o600).unwrap();
        assert_eq!(
            resolve("file:s.txt", t.path()).unwrap().as_str(),
            "hunter2-totp"
        );
        let path2 = t.path().join("open.txt");
        crate::fs::write_atomic(&path2, b"hunter2-totp", 0o644).unwrap();
        let e = resolve("file:open.txt", t.path()).unwrap_err().to_string();
        assert!(
            e.contains("readable by others") && !e.contains("hunter2"),
            "{e}"
        );
        let e = resolve("env:AIGIS_TEST_SURELY_UNSET_VARIABLE", t.path())
            .unwrap_err()
            .to_string();
        assert!(e.contains("is not set"), "{e}");
        for bad in ["hunter2", "vault:x", "env:", "file:"] {
            let e = resolve(bad, t.path()).unwrap_err().to_string();
            assert!(e.contains("not a secret reference"), "{e}");
        }
        // The PATH variable is always set: the env backend reads it.
        assert!(!resolve("env:PATH", t.path()).unwrap().is_empty());
    }
}
