//! The `post_order` storage layout: written while a blob streams in, in memory independent of
//! its size, and read back by byte range (see [`crate::ProofPlan`]).
//!
//! Pre-order cannot be streamed (the root's pair comes first but is known last); post-order
//! can: a parent's pair follows its subtree, so it is written as soon as the subtree is done.

use crate::codec::for_each_pair;
use crate::error::BaoError;
use crate::format::{BaoFormat, Hash};
use crate::hashing::{parent_cv, Cv, GroupHasher, LastGroup};
use crate::tree::{for_each_parent_pre_order, Geometry, PAIR_LEN};
use crate::window::split_pair;

/// Builds a `post_order` bao from data fed in pieces, handing out the pairs as their subtrees
/// complete. It keeps a hasher for the current group and one chaining value per level (the
/// complete subtrees not yet paired), so memory is O(log n) whatever the blob size.
pub struct PostOrderBuilder {
    groups: GroupHasher,
    /// Chaining values of the complete subtrees not yet paired, largest (leftmost) first.
    stack: Vec<Cv>,
}

impl PostOrderBuilder {
    pub fn new(shift: u8) -> Result<Self, BaoError> {
        let geometry = Geometry::new(0, shift)?;
        Ok(Self {
            groups: GroupHasher::new(geometry.group_len),
            stack: Vec::new(),
        })
    }

    /// Feeds the next bytes of the blob and appends to `out` the pairs of every parent that
    /// they complete, in post-order.
    pub fn update(&mut self, data: &[u8], out: &mut Vec<u8>) {
        let stack = &mut self.stack;
        self.groups.update(data, |groups, cv| {
            // The group is not the last one: it closes one complete subtree per trailing zero
            // of the count of finished groups.
            stack.push(cv);
            let mut closed = groups.finished();
            while closed.is_multiple_of(2) {
                pair_top(stack, false, out);
                closed /= 2;
            }
        });
    }

    /// The root hash; appends to `out` the pairs of the right edge of the tree (the parents not
    /// yet handed out), ending with the root's.
    pub fn finalize(mut self, out: &mut Vec<u8>) -> Hash {
        match self.groups.finish() {
            LastGroup::Only(root) => root,
            LastGroup::Last(cv) => {
                self.stack.push(cv);
                while self.stack.len() > 1 {
                    let is_root = self.stack.len() == 2;
                    pair_top(&mut self.stack, is_root, out);
                }
                self.stack[0]
            }
        }
    }

    /// Bytes fed so far.
    pub fn size(&self) -> u64 {
        self.groups.size()
    }
}

/// Replaces the two topmost subtrees by their parent, writing its pair.
fn pair_top(stack: &mut Vec<Cv>, is_root: bool, out: &mut Vec<u8>) {
    let right = stack.pop().expect("two subtrees to pair");
    let left = stack.pop().expect("two subtrees to pair");
    out.extend_from_slice(&left);
    out.extend_from_slice(&right);
    stack.push(parent_cv(&left, &right, is_root));
}

/// A `pre_order` bao rewritten in the `post_order` layout (same pairs, other order): how a store
/// kept in the pre-order layout is migrated.
pub fn pre_order_to_post_order(outboard: &[u8], size: u64, shift: u8) -> Result<Vec<u8>, BaoError> {
    let geometry = Geometry::new(size, shift)?;
    geometry.check_outboard_len(outboard, shift, BaoFormat::PreOrder)?;
    let mut post = vec![0u8; outboard.len()];
    if geometry.groups < 2 {
        return Ok(post);
    }
    for_each_pair(&geometry, outboard, |parent, left, right| {
        let (start, end) = geometry.byte_range(parent.start, parent.count);
        let at = (geometry.post_order_index(start, end) * PAIR_LEN) as usize;
        post[at..at + 32].copy_from_slice(left);
        post[at + 32..at + 64].copy_from_slice(right);
    });
    Ok(post)
}

/// A `post_order` bao rewritten in the `pre_order` layout.
pub fn post_order_to_pre_order(outboard: &[u8], size: u64, shift: u8) -> Result<Vec<u8>, BaoError> {
    let geometry = Geometry::new(size, shift)?;
    // The same length as a pre_order bao; the message names the layout actually given.
    geometry
        .check_outboard_len(outboard, shift, BaoFormat::PreOrder)
        .map_err(|error| {
            BaoError::malformed(error.message().replacen("pre_order", "post_order", 1))
        })?;
    let mut pre = Vec::with_capacity(outboard.len());
    for_each_parent_pre_order(geometry.groups, |parent| {
        let (start, end) = geometry.byte_range(parent.start, parent.count);
        let at = (geometry.post_order_index(start, end) * PAIR_LEN) as usize;
        let (left, right) = split_pair(&outboard[at..at + PAIR_LEN as usize]);
        pre.extend_from_slice(&left);
        pre.extend_from_slice(&right);
    });
    Ok(pre)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outboard::outboard;

    #[test]
    fn post_order_indices_follow_the_post_order_walk() {
        // Post-order of 5 groups: (0,2) (2,2) (0,4) (0,5).
        let geometry = Geometry::new(5 * 1024, 0).unwrap();
        let index = |start: u64, count: u64| {
            let (a, b) = geometry.byte_range(start, count);
            geometry.post_order_index(a, b)
        };
        assert_eq!(
            [index(0, 2), index(2, 2), index(0, 4), index(0, 5)],
            [0, 1, 2, 3]
        );
    }

    #[test]
    fn layouts_convert_both_ways() {
        for len in [0usize, 1, 1024, 1025, 5000, 16 * 1024 + 3, 70_000] {
            let data: Vec<u8> = (0..len).map(|i| (i % 253) as u8).collect();
            let (_, pre) = outboard(&data, 0, BaoFormat::PreOrder, 1).unwrap();
            let post = pre_order_to_post_order(&pre, len as u64, 0).unwrap();
            assert_eq!(post_order_to_pre_order(&post, len as u64, 0).unwrap(), pre);
        }
    }
}
