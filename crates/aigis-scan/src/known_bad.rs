//! A known-bad feed: SHA-256 digests of files known to be malicious, each with where the
//! knowledge comes from. A scanned file whose bytes hash to one is dangerous whatever its
//! content looks like (a pickle that hides its payload from every rule is still caught
//! once someone has seen it).
//!
//! The format is text, one digest a line: `sha256:HEX SOURCE…` or `HEX SOURCE…`, where
//! SOURCE is the rest of the line (an advisory, a URL, a note); `#` starts a comment line.
//! A line that is not that is an error naming it: a feed that half-loads would let through
//! what its other half names.

use std::collections::BTreeMap;
use std::path::Path;

use aigis_core::Digest;

/// The largest feed read.
const MAX_FEED: u64 = 64 << 20;

/// Digests and their sources, from one feed or several.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KnownBad {
    entries: BTreeMap<Digest, Vec<String>>,
    feeds: Vec<String>,
}

/// A feed that does not read.
#[derive(Debug, thiserror::Error)]
#[error("the known-bad feed `{feed}` {message}")]
pub struct KnownBadError {
    /// The feed.
    pub feed: String,
    /// What is wrong, and where.
    pub message: String,
}

impl KnownBad {
    /// No digest.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds the feed in `text`, named `feed` in sources and errors.
    pub fn add_text(&mut self, text: &str, feed: &str) -> Result<(), KnownBadError> {
        let bad = |message: String| KnownBadError {
            feed: feed.to_owned(),
            message,
        };
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (digest, source) = match line.split_once(char::is_whitespace) {
                Some((d, s)) => (d, s.trim()),
                None => (line, ""),
            };
            let digest: Digest = digest.parse().map_err(|e| {
                bad(format!(
                    "line {}: `{digest}` is not a SHA-256 digest: {e}",
                    i + 1
                ))
            })?;
            if source.is_empty() {
                return Err(bad(format!(
                    "line {}: the digest has no source (say where it is known from)",
                    i + 1
                )));
            }
            self.entries
                .entry(digest)
                .or_default()
                .push(format!("{feed}: {source}"));
        }
        self.feeds.push(feed.to_owned());
        Ok(())
    }

    /// Adds the feed in the file at `path`.
    pub fn add_file(&mut self, path: &Path) -> Result<(), KnownBadError> {
        let name = path.display().to_string();
        let bad = |message: String| KnownBadError {
            feed: name.clone(),
            message,
        };
        let file = std::fs::File::open(path).map_err(|e| bad(format!("cannot be read: {e}")))?;
        let mut text = String::new();
        std::io::Read::read_to_string(&mut std::io::Read::take(file, MAX_FEED + 1), &mut text)
            .map_err(|e| bad(format!("cannot be read as UTF-8: {e}")))?;
        if text.len() as u64 > MAX_FEED {
            return Err(bad(format!("is larger than {MAX_FEED} bytes")));
        }
        self.add_text(&text, &name)
    }

    /// The sources that name `digest`, if any.
    pub fn sources(&self, digest: &Digest) -> Option<&[String]> {
        self.entries.get(digest).map(Vec::as_slice)
    }

    /// No digest at all.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// How many digests.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// The feeds read.
    pub fn feeds(&self) -> &[String] {
        &self.feeds
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn feeds_read_strictly() {
        let d = Digest::of(b"x");
        let mut k = KnownBad::new();
        k.add_text(
            &format!("# a feed\n{d} advisory A-1\n{}  seen on a hub\n", d.hex()),
            "f.txt",
        )
        .unwrap();
        assert_eq!(k.len(), 1);
        assert_eq!(k.sources(&d).unwrap().len(), 2);
        assert!(k.sources(&Digest::of(b"y")).is_none());
        for (text, says) in [
            ("abc source", "line 1: `abc` is not a SHA-256 digest"),
            (
                &format!("# ok\n{}", d.hex()) as &str,
                "line 2: the digest has no source",
            ),
        ] {
            let e = KnownBad::new()
                .add_text(text, "g.txt")
                .unwrap_err()
                .to_string();
            assert!(e.contains(says) && e.contains("g.txt"), "{e}");
        }
    }
}
