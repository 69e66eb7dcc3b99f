//! Tree geometry: how many groups a blob has, how a node splits, and the pre-order of parents.
//!
//! BLAKE3's tree is left-balanced: a node over `n > 1` leaves puts the largest power of two
//! below `n` on its left. Pruned at group level, the left split always falls on a group
//! boundary, so the same rule applies to groups.

use bao_tree::{BaoTree, BlockSize};

use crate::error::BaoError;
use crate::format::{group_len, BaoFormat};

/// Bytes of one parent in a pre-order bao: `left CV ‖ right CV`.
pub(crate) const PAIR_LEN: u64 = 64;
/// Bytes of one chaining value.
pub(crate) const CV_LEN: u64 = 32;

/// The shape of the group tree of a blob of `size` bytes at `shift`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Geometry {
    pub size: u64,
    pub group_len: u64,
    /// Number of chunk groups, at least 1 (the empty blob has one empty group).
    pub groups: u64,
}

impl Geometry {
    pub fn new(size: u64, shift: u8) -> Result<Self, BaoError> {
        let group_len = group_len(shift)?;
        let groups = BaoTree::new(size, BlockSize::from_chunk_log(shift)).blocks();
        Ok(Self {
            size,
            group_len,
            groups,
        })
    }

    /// Byte length of a bao of this blob in `format`.
    pub fn outboard_len(&self, format: BaoFormat) -> u64 {
        if self.groups == 1 {
            return 0;
        }
        match format {
            BaoFormat::PreOrder => (self.groups - 1) * PAIR_LEN,
            BaoFormat::Leaves => self.groups * CV_LEN,
        }
    }

    /// Byte offset where group `index` starts (saturating, for indices past the end).
    pub fn group_start(&self, index: u64) -> u64 {
        index.saturating_mul(self.group_len)
    }

    /// Byte offset where the groups `[.., end_group)` end, clamped to the blob size.
    pub fn groups_end(&self, end_group: u64) -> u64 {
        self.group_start(end_group).min(self.size)
    }

    /// Errors unless `outboard` has exactly the length this geometry needs in `format`.
    pub fn check_outboard_len(
        &self,
        outboard: &[u8],
        shift: u8,
        format: BaoFormat,
    ) -> Result<(), BaoError> {
        let expected = self.outboard_len(format);
        if outboard.len() as u64 != expected {
            return Err(BaoError::new(format!(
                "{format} bao is {} bytes but a blob of {} bytes at shift {shift} ({} groups) needs {expected}",
                outboard.len(),
                self.size,
                self.groups
            )));
        }
        Ok(())
    }
}

/// Groups in the left subtree of a node over `count > 1` groups: the largest power of two
/// strictly below `count`.
pub(crate) fn left_groups(count: u64) -> u64 {
    debug_assert!(count > 1);
    1 << (63 - (count - 1).leading_zeros())
}

/// A parent node of the group tree: it covers groups `[start, start + count)`, and its left
/// child covers the first `left` of them.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Parent {
    pub start: u64,
    pub count: u64,
    pub left: u64,
}

impl Parent {
    pub fn right(&self) -> u64 {
        self.count - self.left
    }
}

/// Calls `visit` for every parent of a tree of `groups` groups, in pre-order (node, left
/// subtree, right subtree): the order of the pairs in a pre-order bao.
pub(crate) fn for_each_parent_pre_order(groups: u64, mut visit: impl FnMut(Parent)) {
    // An explicit stack instead of recursion; it holds at most ~log2(groups) entries.
    let mut stack = vec![(0u64, groups)];
    while let Some((start, count)) = stack.pop() {
        if count < 2 {
            continue;
        }
        let left = left_groups(count);
        visit(Parent { start, count, left });
        stack.push((start + left, count - left));
        stack.push((start, left));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn left_split_is_largest_power_of_two_below_count() {
        assert_eq!(left_groups(2), 1);
        assert_eq!(left_groups(3), 2);
        assert_eq!(left_groups(4), 2);
        assert_eq!(left_groups(5), 4);
        assert_eq!(left_groups(8), 4);
        assert_eq!(left_groups(9), 8);
        assert_eq!(left_groups(1 << 40), 1 << 39);
    }

    #[test]
    fn left_split_agrees_with_blake3_at_chunk_level() {
        for chunks in 2u64..300 {
            let bytes = chunks * 1024;
            assert_eq!(
                left_groups(chunks) * 1024,
                blake3::hazmat::left_subtree_len(bytes)
            );
        }
    }

    #[test]
    fn group_counts_and_outboard_lengths() {
        let geometry = Geometry::new(0, 4).unwrap();
        assert_eq!(geometry.groups, 1);
        assert_eq!(geometry.outboard_len(BaoFormat::PreOrder), 0);
        let geometry = Geometry::new(16385, 4).unwrap();
        assert_eq!(geometry.groups, 2);
        assert_eq!(geometry.outboard_len(BaoFormat::PreOrder), 64);
        assert_eq!(geometry.outboard_len(BaoFormat::Leaves), 64);
        let geometry = Geometry::new(u64::MAX, 0).unwrap();
        assert_eq!(geometry.groups, (u64::MAX >> 10) + 1);
        assert!(Geometry::new(1, 33).is_err());
    }

    #[test]
    fn pre_order_visits_node_then_left_then_right() {
        let mut seen = Vec::new();
        for_each_parent_pre_order(5, |p| seen.push((p.start, p.count)));
        assert_eq!(seen, vec![(0, 5), (0, 4), (0, 2), (2, 2)]);
    }
}
