//! Merkle trees as RFC 9162 (Certificate Transparency v2) §2.1 defines them, over SHA-256.
//!
//! - leaf hash `SHA-256(0x00 || leaf bytes)`, interior node `SHA-256(0x01 || left || right)`;
//! - the tree over `n` leaves splits at the largest power of two smaller than `n`;
//! - the empty tree's root is `SHA-256("")`.
//!
//! A statement's tree grows one record at a time as batches are applied, so the ledger keeps
//! a [`Frontier`] (the roots of the perfect subtrees that make up the tree, at most 64 hashes)
//! and gets the root in O(log n) when the period closes: closing never walks the records.
//! Inclusion proofs read leaf hashes and the stored roots of complete 256-leaf chunks
//! through a [`TreeReader`].

use serde::{Deserialize, Serialize};

use crate::crypto::{Hash, sha256};
use crate::limits::MERKLE_CHUNK_LEAVES;

/// Level (log2 of leaf count) of a stored chunk root.
pub const CHUNK_LEVEL: u32 = MERKLE_CHUNK_LEAVES.trailing_zeros();

/// `SHA-256(0x00 || data)`.
pub fn leaf_hash(data: &[u8]) -> Hash {
    sha256(&[&[0x00], data])
}

/// `SHA-256(0x01 || left || right)`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    sha256(&[&[0x01], &left.0, &right.0])
}

/// The root of the empty tree.
pub fn empty_root() -> Hash {
    sha256(&[])
}

/// Largest power of two strictly less than `n` (`n >= 2`).
fn split_point(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1u64 << (63 - (n - 1).leading_zeros())
}

/// The right edge of a growing tree: the roots of its perfect subtrees, largest first.
#[derive(Clone, PartialEq, Eq, Debug, Default, Serialize, Deserialize)]
pub struct Frontier {
    size: u64,
    /// One hash per set bit of `size`, from the most significant bit down.
    nodes: Vec<Hash>,
}

impl Frontier {
    /// An empty tree.
    pub fn new() -> Self {
        Frontier::default()
    }

    /// Rebuilds a frontier from stored parts, checking they fit together.
    pub fn from_parts(size: u64, nodes: Vec<Hash>) -> Option<Self> {
        (size.count_ones() as usize == nodes.len()).then_some(Frontier { size, nodes })
    }

    /// Number of leaves.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The stored subtree roots.
    pub fn nodes(&self) -> &[Hash] {
        &self.nodes
    }

    /// Appends a leaf hash. Returns the root of a 256-leaf chunk when this leaf completes one
    /// (with the chunk's index), so the caller can store it for proofs.
    pub fn push(&mut self, leaf: Hash) -> Option<(u64, Hash)> {
        let mut node = leaf;
        let mut level = 0u32;
        let mut chunk = None;
        // Each trailing one bit of the old size is a perfect subtree the new leaf completes.
        let mut s = self.size;
        while s & 1 == 1 {
            let left = self.nodes.pop().expect("frontier holds one node per set bit");
            node = node_hash(&left, &node);
            level += 1;
            if level == CHUNK_LEVEL {
                chunk = Some((self.size >> CHUNK_LEVEL, node));
            }
            s >>= 1;
        }
        if CHUNK_LEVEL == 0 {
            chunk = Some((self.size, node));
        }
        self.nodes.push(node);
        self.size += 1;
        debug_assert_eq!(self.size.count_ones() as usize, self.nodes.len());
        chunk
    }

    /// The tree root (RFC 9162 MTH).
    pub fn root(&self) -> Hash {
        let mut it = self.nodes.iter().rev();
        let Some(last) = it.next() else {
            return empty_root();
        };
        it.fold(*last, |acc, left| node_hash(left, &acc))
    }
}

/// Read access to a stored tree, for building proofs.
pub trait TreeReader {
    /// The error of the underlying storage.
    type Error;
    /// The hash of leaf `index`.
    fn leaf(&self, index: u64) -> Result<Hash, Self::Error>;
    /// The stored root of complete chunk `chunk` (leaves `chunk*256 .. chunk*256+256`), if
    /// available; `None` makes the proof recompute it from leaves.
    fn chunk_root(&self, chunk: u64) -> Result<Option<Hash>, Self::Error>;
}

/// MTH of leaves `start..end`, reading through `r`.
pub fn subtree_root<R: TreeReader>(r: &R, start: u64, end: u64) -> Result<Hash, R::Error> {
    let n = end - start;
    match n {
        0 => Ok(empty_root()),
        1 => r.leaf(start),
        _ => {
            if n == MERKLE_CHUNK_LEAVES
                && start.is_multiple_of(MERKLE_CHUNK_LEAVES)
                && let Some(h) = r.chunk_root(start / MERKLE_CHUNK_LEAVES)?
            {
                return Ok(h);
            }
            let k = split_point(n);
            let left = subtree_root(r, start, start + k)?;
            let right = subtree_root(r, start + k, end)?;
            Ok(node_hash(&left, &right))
        }
    }
}

/// An inclusion proof: the audit path of one leaf in a tree of a given size.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct InclusionProof {
    /// Zero-based leaf index.
    pub leaf_index: u64,
    /// Number of leaves in the tree.
    pub tree_size: u64,
    /// Sibling hashes from the leaf up (RFC 9162 §2.1.3.1).
    pub path: Vec<Hash>,
}

/// Builds the inclusion proof of leaf `m` in the tree of the first `n` leaves.
pub fn inclusion_proof<R: TreeReader>(r: &R, m: u64, n: u64) -> Result<InclusionProof, R::Error> {
    assert!(m < n, "leaf {m} outside a tree of {n}");
    let mut path = Vec::new();
    // PATH(m, D[start:end]) iteratively; siblings are collected top-down, then reversed.
    let (mut start, mut end, mut idx) = (0u64, n, m);
    while end - start > 1 {
        let k = split_point(end - start);
        if idx < k {
            path.push(subtree_root(r, start + k, end)?);
            end = start + k;
        } else {
            path.push(subtree_root(r, start, start + k)?);
            start += k;
            idx -= k;
        }
    }
    path.reverse();
    Ok(InclusionProof {
        leaf_index: m,
        tree_size: n,
        path,
    })
}

/// Why a proof does not verify.
#[derive(Clone, Copy, PartialEq, Eq, Debug, thiserror::Error)]
pub enum ProofError {
    /// The leaf index is not inside the tree.
    #[error("leaf index {leaf_index} is outside a tree of {tree_size} leaves")]
    IndexOutOfRange {
        /// Index claimed.
        leaf_index: u64,
        /// Tree size claimed.
        tree_size: u64,
    },
    /// The path has the wrong length for this index and size.
    #[error("audit path has the wrong length for this leaf and tree size")]
    PathLength,
    /// The recomputed root differs.
    #[error("recomputed root does not match the statement's root")]
    RootMismatch,
}

/// Verifies that `leaf` is at `proof.leaf_index` of the tree with root `root`
/// (RFC 9162 §2.1.3.2).
pub fn verify_inclusion(leaf: &Hash, proof: &InclusionProof, root: &Hash) -> Result<(), ProofError> {
    if proof.leaf_index >= proof.tree_size {
        return Err(ProofError::IndexOutOfRange {
            leaf_index: proof.leaf_index,
            tree_size: proof.tree_size,
        });
    }
    let (mut fnode, mut snode) = (proof.leaf_index, proof.tree_size - 1);
    let mut r = *leaf;
    for p in &proof.path {
        if snode == 0 {
            return Err(ProofError::PathLength);
        }
        if fnode & 1 == 1 || fnode == snode {
            r = node_hash(p, &r);
            if fnode & 1 == 0 {
                while fnode & 1 == 0 && fnode != 0 {
                    fnode >>= 1;
                    snode >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    if snode != 0 {
        return Err(ProofError::PathLength);
    }
    if r != *root {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

/// MTH of a list of leaf hashes, recursively as RFC 9162 defines it. Used by tests and the
/// audit to recompute a root from scratch.
pub fn root_of(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => empty_root(),
        1 => leaves[0],
        n => {
            let k = split_point(n as u64) as usize;
            node_hash(&root_of(&leaves[..k]), &root_of(&leaves[k..]))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::convert::Infallible;

    struct Leaves {
        leaves: Vec<Hash>,
        chunks: Vec<Hash>,
    }

    impl TreeReader for Leaves {
        type Error = Infallible;
        fn leaf(&self, i: u64) -> Result<Hash, Infallible> {
            Ok(self.leaves[i as usize])
        }
        fn chunk_root(&self, c: u64) -> Result<Option<Hash>, Infallible> {
            Ok(self.chunks.get(c as usize).copied())
        }
    }

    fn build(n: u64) -> (Leaves, Frontier) {
        let mut f = Frontier::new();
        let mut t = Leaves {
            leaves: vec![],
            chunks: vec![],
        };
        for i in 0..n {
            let h = leaf_hash(&i.to_be_bytes());
            t.leaves.push(h);
            if let Some((c, root)) = f.push(h) {
                assert_eq!(c as usize, t.chunks.len());
                t.chunks.push(root);
            }
        }
        (t, f)
    }

    #[test]
    fn rfc9162_shapes() {
        let a = leaf_hash(b"a");
        let b = leaf_hash(b"b");
        let c = leaf_hash(b"c");
        assert_eq!(root_of(&[a]), a);
        assert_eq!(root_of(&[a, b]), node_hash(&a, &b));
        assert_eq!(root_of(&[a, b, c]), node_hash(&node_hash(&a, &b), &c));
        // The empty root is SHA-256 of nothing.
        assert_eq!(
            empty_root().to_hex(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn frontier_root_matches_recursive_root() {
        for n in [0u64, 1, 2, 3, 5, 8, 255, 256, 257, 511, 512, 1000, 1025] {
            let (t, f) = build(n);
            assert_eq!(f.root(), root_of(&t.leaves), "n = {n}");
            assert_eq!(t.chunks.len() as u64, n / MERKLE_CHUNK_LEAVES, "n = {n}");
        }
    }

    #[test]
    fn frontier_parts_round_trip() {
        let (_, f) = build(1000);
        let g = Frontier::from_parts(f.size(), f.nodes().to_vec()).unwrap();
        assert_eq!(f, g);
        assert!(Frontier::from_parts(1000, vec![]).is_none());
    }

    #[test]
    fn every_leaf_proves_and_tampering_fails() {
        for n in [1u64, 2, 3, 7, 256, 300, 700] {
            let (t, f) = build(n);
            let root = f.root();
            for m in 0..n {
                let p = inclusion_proof(&t, m, n).unwrap();
                verify_inclusion(&t.leaves[m as usize], &p, &root).unwrap();
                // Another leaf at this position fails.
                let wrong = leaf_hash(b"tampered");
                assert_eq!(verify_inclusion(&wrong, &p, &root), Err(ProofError::RootMismatch));
                // A changed path hash fails.
                if let Some(first) = p.path.first() {
                    let mut q = p.clone();
                    q.path[0] = node_hash(first, first);
                    assert!(verify_inclusion(&t.leaves[m as usize], &q, &root).is_err());
                    let mut short = p.clone();
                    short.path.pop();
                    assert!(verify_inclusion(&t.leaves[m as usize], &short, &root).is_err());
                }
                // A different root fails.
                assert!(verify_inclusion(&t.leaves[m as usize], &p, &leaf_hash(b"x")).is_err());
            }
        }
    }

    #[test]
    fn index_outside_tree_is_refused() {
        let p = InclusionProof {
            leaf_index: 5,
            tree_size: 5,
            path: vec![],
        };
        assert!(matches!(
            verify_inclusion(&Hash::ZERO, &p, &Hash::ZERO),
            Err(ProofError::IndexOutOfRange { .. })
        ));
    }

    proptest! {
        #[test]
        fn proofs_verify_for_any_size(n in 1u64..2000, pick in 0u64..u64::MAX) {
            let (t, f) = build(n);
            let m = pick % n;
            let p = inclusion_proof(&t, m, n).unwrap();
            prop_assert!(verify_inclusion(&t.leaves[m as usize], &p, &f.root()).is_ok());
            // Proving at another index fails.
            if n > 1 {
                let mut q = p.clone();
                q.leaf_index = (m + 1) % n;
                prop_assert!(verify_inclusion(&t.leaves[m as usize], &q, &f.root()).is_err());
            }
        }
    }
}
