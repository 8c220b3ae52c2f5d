//! RFC 6962 / RFC 9162 Merkle hashing for trees built leaf by leaf: the ledger recomputes
//! its tree with it, and dataset manifests compute their root with it.

use sha2::{Digest as _, Sha256};

/// `SHA-256(0x00 ‖ data)`.
pub fn leaf_hash(data: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(data);
    h.finalize().into()
}

/// `SHA-256(0x01 ‖ left ‖ right)`. In a tree both children are 32-byte hashes; the
/// function takes any bytes so that RFC 6962's interior-node vectors (short strings)
/// check it directly.
pub fn node_hash(left: &[u8], right: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The right edge of a tree being built leaf by leaf: the roots of its perfect subtrees,
/// largest first (a "compact range" in RFC 9162 terms).
#[derive(Debug, Default, Clone)]
pub struct CompactRange {
    stack: Vec<(u8, [u8; 32])>,
}

impl CompactRange {
    /// Adds a leaf hash; returns the hashes this leaf completes with their levels, leaf
    /// first (for a log that stores every completed subtree, the hashes to store).
    pub fn push(&mut self, leaf: [u8; 32]) -> Vec<(u8, [u8; 32])> {
        let mut made = vec![(0u8, leaf)];
        let mut cur = (0u8, leaf);
        while let Some(&(level, left)) = self.stack.last() {
            if level != cur.0 {
                break;
            }
            self.stack.pop();
            cur = (level + 1, node_hash(&left, &cur.1));
            made.push(cur);
        }
        self.stack.push(cur);
        made
    }

    /// The root of the leaves pushed so far (SHA-256 of nothing for no leaves).
    pub fn root(&self) -> [u8; 32] {
        let mut it = self.stack.iter().rev();
        let Some(&(_, mut h)) = it.next() else {
            return Sha256::digest([]).into();
        };
        for (_, left) in it {
            h = node_hash(left, &h);
        }
        h
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_6962_roots_of_small_trees() {
        // The first roots of the RFC 6962 reference tree (leaves "", 00, 10, 2021), as
        // published by transparency-dev/merkle (tests/data/kat/rfc6962.json).
        let leaves: [&[u8]; 4] = [b"", &[0x00], &[0x10], &[0x20, 0x21]];
        let roots = [
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
            "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ];
        let mut range = CompactRange::default();
        assert_eq!(
            hex::encode(range.root()),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        for (leaf, root) in leaves.iter().zip(roots) {
            range.push(leaf_hash(leaf));
            assert_eq!(hex::encode(range.root()), root);
        }
    }
}
