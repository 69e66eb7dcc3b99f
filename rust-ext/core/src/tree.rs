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

    /// The groups of the group-aligned byte window `[start, end)` (`end` may be the size).
    pub fn group_range(&self, start: u64, end: u64) -> GroupRange {
        let end_group = if end >= self.size {
            self.groups
        } else {
            end / self.group_len
        };
        GroupRange::new((start / self.group_len).min(end_group), end_group)
    }

    /// Byte range of the node over groups `[start, start + count)`.
    pub fn byte_range(&self, start: u64, count: u64) -> (u64, u64) {
        (self.group_start(start), self.groups_end(start + count))
    }

    /// Index of the pair of the parent over the bytes `[start, end)` (group-aligned, more than one
    /// group) in a post-order bao of this blob: the parents before it in post-order are those
    /// of the complete subtrees left of it (`s - popcount(s)` for its first group `s`) and
    /// those below it (its groups less two).
    pub fn post_order_index(&self, start: u64, end: u64) -> u64 {
        let first = start / self.group_len;
        let count = end.div_ceil(self.group_len) - first;
        debug_assert!(count >= 2);
        first - u64::from(first.count_ones()) + count - 2
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
            return Err(BaoError::malformed(format!(
                "{format} bao is {} bytes but a blob of {} bytes at shift {shift} ({} groups) needs {expected}",
                outboard.len(),
                self.size,
                self.groups
            )));
        }
        Ok(())
    }
}

/// A range of groups `[start, end)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct GroupRange {
    pub start: u64,
    pub end: u64,
}

impl GroupRange {
    pub fn new(start: u64, end: u64) -> Self {
        debug_assert!(start <= end);
        Self { start, end }
    }

    pub fn len(&self) -> u64 {
        self.end - self.start
    }

    /// Whether the groups `[start, start + count)` share at least one group with this range.
    pub fn overlaps(&self, start: u64, count: u64) -> bool {
        start < self.end && start + count > self.start
    }
}

/// The smallest `k` with `2^k >= count` (0 for 1): the level of a node over `count` groups.
pub(crate) fn ceil_log2(count: u64) -> u32 {
    debug_assert!(count >= 1);
    64 - (count - 1).leading_zeros()
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

/// Calls `visit` with every parent of a tree of `groups` groups that shares a group with
/// `window`, in pre-order, and the parent's index in the pre-order of all parents.
pub(crate) fn for_each_parent_overlapping(
    groups: u64,
    window: GroupRange,
    mut visit: impl FnMut(Parent, u64),
) {
    let mut stack = vec![(0u64, groups, 0u64)];
    while let Some((start, count, index)) = stack.pop() {
        if count < 2 || !window.overlaps(start, count) {
            continue;
        }
        let left = left_groups(count);
        visit(Parent { start, count, left }, index);
        // The left subtree's parents follow this one; the right's follow the left's.
        stack.push((start + left, count - left, index + left));
        stack.push((start, left, index + 1));
    }
}

/// How many parents of a tree of `groups` groups share a group with `window` (not empty):
/// all parents less those left of it and those right of it, in O(log groups).
pub(crate) fn parents_overlapping(groups: u64, window: GroupRange) -> u64 {
    debug_assert!(window.start < window.end && window.end <= groups);
    // The parents left of the window are those of the complete subtrees that tile its left.
    let left_of = window.start - u64::from(window.start.count_ones());
    (groups - 1) - left_of - parents_from(groups, window.end)
}

/// Parents of a tree of `groups` groups that lie entirely at or after group `first`.
fn parents_from(groups: u64, first: u64) -> u64 {
    let (mut count, mut first) = (groups, first);
    loop {
        if first == 0 {
            return count - 1;
        }
        if first >= count || count < 2 {
            return 0;
        }
        let left = left_groups(count);
        if first >= left {
            // The node and its left subtree start before `first`: only the right subtree counts.
            first -= left;
            count -= left;
        } else {
            // All of the right subtree, and within the complete left subtree the parents of the
            // complete subtrees that tile [first, left).
            let tail = left - first;
            return (count - left - 1) + tail - u64::from(tail.count_ones());
        }
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
    fn counted_overlapping_parents_equal_the_walked_ones() {
        for groups in 1..80u64 {
            for start in 0..groups {
                for end in start + 1..=groups {
                    let window = GroupRange::new(start, end);
                    let mut walked = 0;
                    for_each_parent_overlapping(groups, window, |_, _| walked += 1);
                    assert_eq!(
                        parents_overlapping(groups, window),
                        walked,
                        "{groups} {start}..{end}"
                    );
                }
            }
        }
    }

    #[test]
    fn overlapping_walk_gives_pre_order_indices() {
        for groups in 1..70u64 {
            let mut all = Vec::new();
            for_each_parent_pre_order(groups, |p| all.push((p.start, p.count)));
            for start in 0..groups {
                let mut seen = Vec::new();
                for_each_parent_overlapping(groups, GroupRange::new(start, start + 1), |p, i| {
                    assert_eq!(all[i as usize], (p.start, p.count));
                    seen.push(i);
                });
                assert!(seen.windows(2).all(|w| w[0] < w[1]));
            }
        }
    }

    #[test]
    fn pre_order_visits_node_then_left_then_right() {
        let mut seen = Vec::new();
        for_each_parent_pre_order(5, |p| seen.push((p.start, p.count)));
        assert_eq!(seen, vec![(0, 5), (0, 4), (0, 2), (2, 2)]);
    }
}
