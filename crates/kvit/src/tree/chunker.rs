//! Where nodes end: the content-defined chunking rule (see `docs/format.md`).
//!
//! A boundary falls after an entry when a hash of the entry's key, salted by
//! the tree level, is below a threshold that grows with the weight already in
//! the node. The weight counts key bytes plus a fixed overhead and never the
//! value, so editing a value never moves a boundary, and the same keys always
//! split the same way whatever order they were written in.

use super::node::{Node, Slot};

/// Weight added per entry on top of its key length: roughly the bytes a
/// value reference or child reference takes.
pub(crate) const ENTRY_OVERHEAD: u64 = 24;
/// No boundary before a node weighs this much.
pub(crate) const MIN_WEIGHT: u64 = 256;
/// The scale of the boundary hazard: nodes weigh about 0.9 times this on average.
pub(crate) const TARGET_WEIGHT: u64 = 1024;
/// A boundary always falls once a node weighs this much (only reached by very long keys).
pub(crate) const MAX_WEIGHT: u64 = 16 * 1024;

/// The weight one entry adds to its node.
pub(crate) fn weight(key: &str) -> u64 {
    key.len() as u64 + ENTRY_OVERHEAD
}

/// The 64-bit boundary hash of `key` at `level`.
pub(crate) fn boundary_hash(key: &str, level: u8) -> u64 {
    let digest = blake3::hash(key.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest.as_bytes()[..8]);
    mix(u64::from_le_bytes(first) ^ u64::from(level).wrapping_mul(0x9e37_79b9_7f4a_7c15))
}

/// `SplitMix64`'s finaliser: decorrelates the levels' salted hashes.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Whether a boundary falls after an entry that took the node's weight from
/// `before` to `after`. The chance is (after² − before²) / TARGET², so the
/// hazard grows linearly with the node's weight.
pub(crate) fn is_boundary(hash: u64, before: u64, after: u64) -> bool {
    if after < MIN_WEIGHT {
        return false;
    }
    if after >= MAX_WEIGHT {
        return true;
    }
    let before = before.max(MIN_WEIGHT);
    let span = u128::from(after * after - before * before);
    let threshold = (span << 64) / u128::from(TARGET_WEIGHT * TARGET_WEIGHT);
    u128::from(hash) < threshold
}

/// Cuts a stream of entries of one level into nodes.
pub(crate) struct Chunker {
    node: Node,
    weight: u64,
}

/// Entries a node is given room for up front: a little above the average.
const TYPICAL_ENTRIES: usize = 32;

impl Chunker {
    pub(crate) fn new(level: u8) -> Self {
        Chunker {
            node: Node::with_capacity(level, TYPICAL_ENTRIES, TARGET_WEIGHT as usize),
            weight: 0,
        }
    }

    /// Adds the next entry; returns the node it completes, if it ends one.
    ///
    /// Above the leaves a node never ends after its first entry. Otherwise a
    /// key long enough to make a boundary certain by its weight alone (about
    /// 1 KiB) ends a node at every level, each level has as many nodes as the
    /// one below, and the tree never narrows to one root. With at least two
    /// entries per node (the last one aside) each level at most halves the
    /// one below.
    pub(crate) fn push(&mut self, key: &str, slot: Slot<'_>) -> Option<Node> {
        let first = self.node.is_empty();
        let before = self.weight;
        self.weight += weight(key);
        let level = self.node.level;
        let may_end = level == 0 || !first;
        self.node.push(key, slot);
        (may_end && is_boundary(boundary_hash(key, level), before, self.weight))
            .then(|| self.take())
    }

    /// Whether the chunker sits on a boundary (holds no pending entries).
    pub(crate) fn is_empty(&self) -> bool {
        self.node.is_empty()
    }

    /// Ends the level: the pending entries, if any, form the last node.
    pub(crate) fn finish(&mut self) -> Option<Node> {
        (!self.node.is_empty()).then(|| self.take())
    }

    fn take(&mut self) -> Node {
        self.weight = 0;
        let level = self.node.level;
        std::mem::replace(
            &mut self.node,
            Node::with_capacity(level, TYPICAL_ENTRIES, TARGET_WEIGHT as usize),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_boundary_below_min_and_always_at_max() {
        assert!(!is_boundary(0, 0, MIN_WEIGHT - 1));
        assert!(is_boundary(u64::MAX, 0, MAX_WEIGHT));
    }

    #[test]
    fn average_node_weight_is_near_target() {
        let mut chunker = Chunker::new(0);
        let mut nodes = 0u64;
        let total = 200_000u64;
        for i in 0..total {
            if chunker
                .push(&format!("key-{i:08}"), Slot::Inline(b""))
                .is_some()
            {
                nodes += 1;
            }
        }
        let average = total * weight("key-00000000") / nodes.max(1);
        assert!(
            (700..1400).contains(&average),
            "average node weight {average}"
        );
    }

    #[test]
    fn interior_nodes_hold_at_least_two_entries() {
        // Weight alone makes a boundary certain after each of these keys.
        let long = |i: usize| format!("{i:04}{}", "k".repeat(2000));
        let mut leaves = Chunker::new(0);
        assert!((0..4).all(|i| leaves.push(&long(i), Slot::Inline(b"")).is_some()));
        let mut interior = Chunker::new(1);
        let cut: Vec<usize> = (0..4)
            .filter_map(|i| {
                interior
                    .push(&long(i), Slot::Inline(b""))
                    .map(|node| node.len())
            })
            .collect();
        assert_eq!(cut, [2, 2]);
    }

    #[test]
    fn levels_hash_differently() {
        assert_ne!(boundary_hash("k", 0), boundary_hash("k", 1));
    }
}
