//! Proof formats and their offline verification.
//!
//! - Inclusion: the C2SP [tlog-proof] text format (`c2sp.org/tlog-proof@v1`): the entry's
//!   index, the RFC 6962 audit path, and the signed checkpoint it leads to.
//! - Consistency: no standard text format exists, so aigis writes a small JSON document
//!   (`aigis/tlog-consistency-proof@v1`) with the RFC 6962 consistency path and the two
//!   signed checkpoints it joins.
//!
//! [tlog-proof]: https://c2sp.org/tlog-proof

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use signed_note::StandardVerifier;

use crate::checkpoint::{self, Checkpoint, CheckpointError};
use crate::{Hash, leaf_hash};

const INCLUSION_HEADER: &str = "c2sp.org/tlog-proof@v1";
pub const CONSISTENCY_FORMAT: &str = "aigis/tlog-consistency-proof@v1";
/// A tree of 2⁶⁴ leaves has paths of at most 64 hashes; longer "proofs" are refused before
/// any work is done on them.
const MAX_PATH: usize = 64;

/// Why a proof was refused: malformed input (exit 2) or a failed check (exit 1).
#[derive(Debug, thiserror::Error)]
pub enum ProofError {
    #[error("malformed proof: {0}")]
    Malformed(String),
    #[error("proof does not verify: {0}")]
    Invalid(String),
}

impl aigis_core::CheckFailure for ProofError {
    /// A well-formed proof that does not verify.
    fn is_check_failure(&self) -> bool {
        matches!(self, Self::Invalid(_))
    }
}

impl From<CheckpointError> for ProofError {
    fn from(e: CheckpointError) -> Self {
        match e {
            CheckpointError::Malformed(m) => Self::Malformed(format!("checkpoint: {m}")),
            CheckpointError::Rejected(m) => Self::Invalid(format!("checkpoint: {m}")),
        }
    }
}

/// A `c2sp.org/tlog-proof@v1` inclusion proof.
#[derive(Debug, Clone, PartialEq)]
pub struct InclusionProof {
    pub extra: Option<Vec<u8>>,
    pub index: u64,
    pub path: Vec<Hash>,
    /// The signed checkpoint, verbatim.
    pub checkpoint: Vec<u8>,
}

impl InclusionProof {
    pub fn to_text(&self) -> Vec<u8> {
        let mut out = format!("{INCLUSION_HEADER}\n");
        if let Some(extra) = &self.extra {
            out.push_str(&format!("extra {}\n", STANDARD.encode(extra)));
        }
        out.push_str(&format!("index {}\n", self.index));
        for h in &self.path {
            out.push_str(&STANDARD.encode(h.0));
            out.push('\n');
        }
        out.push('\n');
        let mut bytes = out.into_bytes();
        bytes.extend_from_slice(&self.checkpoint);
        bytes
    }

    pub fn parse(text: &[u8]) -> Result<Self, ProofError> {
        let bad = |m: &str| ProofError::Malformed(m.to_owned());
        let text = std::str::from_utf8(text).map_err(|_| bad("not UTF-8 text"))?;
        let (head, checkpoint) = text
            .split_once("\n\n")
            .ok_or_else(|| bad("no blank line before the checkpoint"))?;
        let mut lines = head.split('\n');
        if lines.next() != Some(INCLUSION_HEADER) {
            return Err(bad(&format!("the first line must be `{INCLUSION_HEADER}`")));
        }
        let mut line = lines.next().ok_or_else(|| bad("no `index` line"))?;
        let mut extra = None;
        if let Some(b64) = line.strip_prefix("extra ") {
            extra = Some(
                STANDARD
                    .decode(b64)
                    .map_err(|_| bad("`extra` is not base64"))?,
            );
            line = lines.next().ok_or_else(|| bad("no `index` line"))?;
        }
        let digits = line
            .strip_prefix("index ")
            .ok_or_else(|| bad("expected `index N` after the header"))?;
        let index = parse_decimal(digits).ok_or_else(|| bad("`index` is not a decimal number"))?;
        let path = lines
            .map(|l| {
                parse_hash(l).ok_or_else(|| bad(&format!("`{l}` is not a base64 SHA-256 hash")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if path.len() > MAX_PATH {
            return Err(bad("the proof has more than 64 hashes"));
        }
        Ok(Self {
            extra,
            index,
            path,
            checkpoint: checkpoint.as_bytes().to_vec(),
        })
    }

    /// Checks that `entry` is at `self.index` in the tree that the checkpoint (embedded, or
    /// `checkpoint` if given) signs, with a signature by one of `verifiers`.
    pub fn verify(
        &self,
        entry: &[u8],
        verifiers: Vec<StandardVerifier>,
        checkpoint: Option<&[u8]>,
    ) -> Result<Checkpoint, ProofError> {
        let cp = checkpoint::open(checkpoint.unwrap_or(&self.checkpoint), verifiers, None)?;
        if self.index >= cp.size {
            return Err(ProofError::Invalid(format!(
                "index {} is not in a tree of {} entries",
                self.index, cp.size
            )));
        }
        tlog_tiles::check_record(&self.path, cp.size, cp.root, self.index, leaf_hash(entry))
            .map_err(|_| {
                ProofError::Invalid(format!(
                    "the entry is not at index {} of the tree of {} entries signed by the checkpoint \
                     (the entry must be byte-exact: `aigis evidence show {} --raw` writes it)",
                    self.index, cp.size, self.index
                ))
            })?;
        Ok(cp)
    }
}

/// A consistency proof between two signed tree heads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsistencyProof {
    pub format: String,
    pub old_size: u64,
    pub new_size: u64,
    /// Base64 hashes, RFC 6962 section 2.1.2 order.
    pub path: Vec<String>,
    /// The signed checkpoint of the old tree, when the log has one at that size.
    #[serde(default)]
    pub old_checkpoint: Option<String>,
    pub new_checkpoint: String,
}

impl ConsistencyProof {
    pub fn new(
        old_size: u64,
        new_size: u64,
        path: &[Hash],
        old_checkpoint: Option<&[u8]>,
        new_checkpoint: &[u8],
    ) -> Self {
        Self {
            format: CONSISTENCY_FORMAT.into(),
            old_size,
            new_size,
            path: path.iter().map(|h| STANDARD.encode(h.0)).collect(),
            old_checkpoint: old_checkpoint.map(|c| String::from_utf8_lossy(c).into_owned()),
            new_checkpoint: String::from_utf8_lossy(new_checkpoint).into_owned(),
        }
    }

    pub fn to_json(&self) -> Vec<u8> {
        let mut out = serde_json::to_vec_pretty(self).unwrap_or_default();
        out.push(b'\n');
        out
    }

    pub fn parse(bytes: &[u8]) -> Result<Self, ProofError> {
        let p: Self = serde_json::from_slice(bytes)
            .map_err(|e| ProofError::Malformed(format!("not a consistency proof: {e}")))?;
        if p.format != CONSISTENCY_FORMAT {
            return Err(ProofError::Malformed(format!(
                "`format` is `{}`, expected `{CONSISTENCY_FORMAT}`",
                p.format
            )));
        }
        if p.path.len() > MAX_PATH {
            return Err(ProofError::Malformed(
                "the proof has more than 64 hashes".into(),
            ));
        }
        Ok(p)
    }

    /// Checks that the tree of the new checkpoint extends the tree of the old one. The old
    /// checkpoint is `old_checkpoint` if given (one the verifier kept), else the embedded one.
    pub fn verify(
        &self,
        verifiers: impl Fn() -> Vec<StandardVerifier>,
        old_checkpoint: Option<&[u8]>,
    ) -> Result<(Checkpoint, Checkpoint), ProofError> {
        let path = self
            .path
            .iter()
            .map(|s| {
                parse_hash(s).ok_or_else(|| {
                    ProofError::Malformed(format!("`{s}` is not a base64 SHA-256 hash"))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let old_note = match old_checkpoint {
            Some(b) => b.to_vec(),
            None => self.old_checkpoint.clone().map(String::into_bytes).ok_or_else(|| {
                ProofError::Malformed(format!(
                    "the proof carries no checkpoint for the old tree of {} entries; pass the one you hold with --old-checkpoint",
                    self.old_size
                ))
            })?,
        };
        let old = checkpoint::open(&old_note, verifiers(), None)?;
        let new = checkpoint::open(self.new_checkpoint.as_bytes(), verifiers(), None)?;
        if old.origin != new.origin {
            return Err(ProofError::Invalid(format!(
                "the checkpoints are of different logs (`{}` and `{}`)",
                old.origin, new.origin
            )));
        }
        if (old.size, new.size) != (self.old_size, self.new_size) {
            return Err(ProofError::Invalid(format!(
                "the proof is from {} to {} entries but the checkpoints are of {} and {}",
                self.old_size, self.new_size, old.size, new.size
            )));
        }
        if old.size == 0 {
            // Every tree extends the empty tree; RFC 6962 defines no proof for it.
            return if path.is_empty() {
                Ok((old, new))
            } else {
                Err(ProofError::Invalid(
                    "a proof from the empty tree has no hashes".into(),
                ))
            };
        }
        if old.size > new.size {
            return Err(ProofError::Invalid(
                "the old tree is larger than the new one".into(),
            ));
        }
        tlog_tiles::check_tree(&path, new.size, new.root, old.size, old.root).map_err(|_| {
            ProofError::Invalid(format!(
                "the tree of {} entries does not extend the tree of {} entries: the log was rewritten",
                new.size, old.size
            ))
        })?;
        Ok((old, new))
    }
}

fn parse_hash(s: &str) -> Option<Hash> {
    let raw = STANDARD.decode(s).ok()?;
    <[u8; 32]>::try_from(raw.as_slice()).ok().map(Hash)
}

/// ASCII decimal with no sign and no leading zeros (except `0` itself), as tlog-proof says.
fn parse_decimal(s: &str) -> Option<u64> {
    if s.is_empty() || (s.len() > 1 && s.starts_with('0')) || !s.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    s.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inclusion_text_round_trips() {
        let p = InclusionProof {
            extra: Some(b"ctx".to_vec()),
            index: 5,
            path: vec![Hash([1; 32]), Hash([2; 32])],
            checkpoint:
                b"log\n6\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\n\xe2\x80\x94 log AAAA\n"
                    .to_vec(),
        };
        assert_eq!(InclusionProof::parse(&p.to_text()).unwrap(), p);
        let without = InclusionProof {
            extra: None,
            path: vec![],
            ..p
        };
        assert_eq!(InclusionProof::parse(&without.to_text()).unwrap(), without);
    }

    #[test]
    fn malformed_inclusion_proofs_are_refused() {
        for bad in [
            &b""[..],
            b"c2sp.org/tlog-proof@v1\nindex 1\n",
            b"c2sp.org/tlog-proof@v2\nindex 1\n\nx",
            b"c2sp.org/tlog-proof@v1\nindex 01\n\nx",
            b"c2sp.org/tlog-proof@v1\nindex -1\n\nx",
            b"c2sp.org/tlog-proof@v1\nindex 1\nnot-base64\n\nx",
            b"c2sp.org/tlog-proof@v1\nindex 1\nAAAA\n\nx",
            b"c2sp.org/tlog-proof@v1\nextra !!\nindex 1\n\nx",
            b"c2sp.org/tlog-proof@v1\nindex 99999999999999999999999\n\nx",
        ] {
            assert!(
                matches!(InclusionProof::parse(bad), Err(ProofError::Malformed(_))),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        let long = format!(
            "c2sp.org/tlog-proof@v1\nindex 1\n{}\nx",
            format!("{}\n", STANDARD.encode([0u8; 32])).repeat(65)
        );
        assert!(InclusionProof::parse(long.as_bytes()).is_err());
    }

    #[test]
    fn decimal_rules() {
        assert_eq!(parse_decimal("0"), Some(0));
        assert_eq!(parse_decimal("10"), Some(10));
        for bad in ["", "00", "+1", " 1", "1a"] {
            assert_eq!(parse_decimal(bad), None, "{bad}");
        }
    }
}
