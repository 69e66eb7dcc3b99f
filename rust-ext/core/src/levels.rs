//! The nodes of a group tree that lie inside a window of groups, stored level by level for
//! lookups by (level, index).

use crate::codec::for_each_pair;
use crate::error::BaoError;
use crate::format::{BaoFormat, Hash};
use crate::hashing::{parent_cv, parent_cvs, Cv, CHECK_BATCH};
use crate::tree::{ceil_log2, Geometry, GroupRange, PAIR_LEN};

/// The nodes of a tree of `groups >= 2` groups that lie inside the window of groups
/// `[first, end)`: entry `(k, i)` is the chaining value of the node over groups
/// `[i << k, min((i + 1) << k, groups))`, for every level `k` below the root. A node at the right
/// edge with fewer groups than its level holds stands for the smaller node over the same groups.
pub(crate) struct Levels {
    groups: u64,
    window: GroupRange,
    /// `levels[k][j]` is entry `(k, lowest_index(k) + j)`.
    levels: Vec<Vec<Cv>>,
}

impl Levels {
    /// Zeroed entries for every node inside `window` (set them before use).
    pub fn empty(groups: u64, window: GroupRange) -> Self {
        debug_assert!(groups >= 2 && window.end <= groups);
        let root_level = ceil_log2(groups);
        let mut levels = Self {
            groups,
            window,
            levels: Vec::with_capacity(root_level as usize),
        };
        for level in 0..root_level {
            let (low, high) = levels.index_bounds(level);
            levels
                .levels
                .push(vec![[0u8; 32]; high.saturating_sub(low) as usize]);
        }
        levels
    }

    /// Every node of the tree over `group_cvs` (at least two) and the root hash.
    pub fn build(group_cvs: &[Cv]) -> (Self, Hash) {
        let groups = group_cvs.len() as u64;
        let mut levels = Self::empty(groups, GroupRange::new(0, groups));
        levels.levels[0].copy_from_slice(group_cvs);
        levels.fill_up();
        let top = levels.root_level() - 1;
        let root = parent_cv(levels.cv(top, 0), levels.cv(top, 1), true);
        (levels, root)
    }

    /// The entries of `window` from the chaining values of its groups (in order).
    pub fn from_window_groups(groups: u64, window: GroupRange, group_cvs: &[Cv]) -> Self {
        debug_assert_eq!(group_cvs.len() as u64, window.len());
        let mut levels = Self::empty(groups, window);
        levels.levels[0].copy_from_slice(group_cvs);
        levels.fill_up();
        levels
    }

    /// The nodes of a whole bao checked against `root`, keeping those inside `window`.
    ///
    /// pre_order: every pair is checked top-down against the value its parent vouches for, so
    /// a damaged inner node is caught even where the groups below it are intact; the checked
    /// pairs then fill the entries directly, each parent hashed once. leaves: all parents are
    /// rebuilt and the root compared.
    pub fn trusted(
        geometry: &Geometry,
        outboard: &[u8],
        format: BaoFormat,
        root: &Hash,
        window: GroupRange,
    ) -> Result<Self, BaoError> {
        match format {
            BaoFormat::PreOrder => Self::from_checked_pre_order(geometry, outboard, root, window),
            BaoFormat::Leaves => {
                let cvs = crate::codec::decode(geometry, outboard, format);
                let (levels, rebuilt_root) = Self::build(&cvs);
                if rebuilt_root != *root {
                    return Err(BaoError::mismatch(format!(
                        "leaves bao does not match the root: its {} group hashes rebuild to a different root",
                        geometry.groups
                    )));
                }
                Ok(levels)
            }
        }
    }

    fn from_checked_pre_order(
        geometry: &Geometry,
        outboard: &[u8],
        root: &Hash,
        window: GroupRange,
    ) -> Result<Self, BaoError> {
        let mut levels = Self::empty(geometry.groups, window);
        // Pre-order visits a node's left subtree right after it, and its right subtree after
        // that, so the values vouched for by parents pop off a stack in visiting order.
        let mut expected: Vec<Cv> = vec![*root];
        let mut pair_index = 0u64;
        let mut failure = None;
        // The pairs lie side by side in the bao: hashed a batch at a time (SIMD), ahead of use.
        let mut hashes = vec![[0u8; 32]; CHECK_BATCH.min(outboard.len() / PAIR_LEN as usize)];
        for_each_pair(geometry, outboard, |parent, left, right| {
            if failure.is_some() {
                return;
            }
            let in_batch = pair_index as usize % CHECK_BATCH;
            if in_batch == 0 {
                let at = pair_index as usize * PAIR_LEN as usize;
                let batch = &outboard[at..outboard.len().min(at + CHECK_BATCH * PAIR_LEN as usize)];
                parent_cvs(batch, &mut hashes[..batch.len() / PAIR_LEN as usize]);
            }
            let hash = if pair_index == 0 {
                parent_cv(left, right, true)
            } else {
                hashes[in_batch]
            };
            let want = expected.pop().expect("one expected value per parent");
            if hash != want {
                let offset = pair_index * PAIR_LEN;
                failure = Some(BaoError::mismatch(format!(
                    "pre_order bao node {pair_index} (bao bytes {offset}..{}, groups {}..{}, blob bytes {}..{}) does not match {}",
                    offset + PAIR_LEN,
                    parent.start,
                    parent.start + parent.count,
                    geometry.group_start(parent.start),
                    geometry.groups_end(parent.start + parent.count),
                    if pair_index == 0 { "the root" } else { "its parent" },
                )));
                return;
            }
            if parent.right() > 1 {
                expected.push(*right);
            }
            if parent.left > 1 {
                expected.push(*left);
            }
            levels.set_children(parent.start, parent.count, left, right);
            pair_index += 1;
        });
        match failure {
            Some(error) => Err(error),
            None => Ok(levels),
        }
    }

    /// Level of the root: nodes at this level or above would be the root itself.
    pub fn root_level(&self) -> u32 {
        self.levels.len() as u32
    }

    /// Chaining value of node `index` at `level` (below the root level, inside the window).
    pub fn cv(&self, level: u32, index: u64) -> &Cv {
        let (low, _) = self.index_bounds(level);
        &self.levels[level as usize][(index - low) as usize]
    }

    /// Chaining value of the node over groups `[start, start + count)` (inside the window).
    pub fn node_cv(&self, start: u64, count: u64) -> &Cv {
        let level = ceil_log2(count);
        self.cv(level, start >> level)
    }

    /// Records the children of the parent over `[start, start + count)`: the node over its
    /// first `left_groups(count)` groups is `left`, the rest is `right`.
    pub fn set_children(&mut self, start: u64, count: u64, left: &Cv, right: &Cv) {
        let left_count = crate::tree::left_groups(count);
        self.set_node(start, left_count, left);
        self.set_node(start + left_count, count - left_count, right);
    }

    /// Records the node over groups `[start, start + count)` if it lies inside the window, at
    /// every level whose entry stands for it.
    pub fn set_node(&mut self, start: u64, count: u64, cv: &Cv) {
        if start < self.window.start || start + count > self.window.end {
            return;
        }
        let mut level = ceil_log2(count);
        while level < self.root_level()
            && start.trailing_zeros() >= level
            && (start + (1u64 << level)).min(self.groups) == start + count
        {
            let (low, _) = self.index_bounds(level);
            self.levels[level as usize][((start >> level) - low) as usize] = *cv;
            level += 1;
        }
    }

    /// Computes every entry above level 0 from the entries below it, a level's parents hashed
    /// all at once (their children lie side by side in the level below).
    fn fill_up(&mut self) {
        for level in 1..self.root_level() {
            let (low, high) = self.index_bounds(level);
            let (below_low, _) = self.index_bounds(level - 1);
            let groups_below = self.groups.div_ceil(1u64 << (level - 1));
            // Entries below `paired` have two children; one after them moves up unchanged.
            let paired = high.min(groups_below / 2).max(low);
            let (lower, upper) = self.levels.split_at_mut(level as usize);
            let (below, here) = (&lower[level as usize - 1], &mut upper[0]);
            let pairs = (paired - low) as usize;
            if pairs > 0 {
                let first_child = (2 * low - below_low) as usize;
                parent_cvs(
                    below[first_child..first_child + 2 * pairs].as_flattened(),
                    &mut here[..pairs],
                );
            }
            for index in paired..high {
                here[(index - low) as usize] = below[(2 * index - below_low) as usize];
            }
        }
    }

    /// The indices `[low, high)` of the entries at `level` that lie inside the window.
    fn index_bounds(&self, level: u32) -> (u64, u64) {
        let low = self.window.start.div_ceil(1u64 << level);
        let high = if self.window.end == self.groups {
            self.groups.div_ceil(1u64 << level)
        } else {
            self.window.end >> level
        };
        (low, high.max(low))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::encode;
    use crate::tree::left_groups;

    /// Chaining value of the subtree over `cvs` (root-finalized if `is_root`), recursively: what
    /// the tests check the level-by-level tree against.
    fn root_of(cvs: &[Cv], is_root: bool) -> Cv {
        if cvs.len() == 1 {
            return cvs[0];
        }
        let (left_cvs, right_cvs) = cvs.split_at(left_groups(cvs.len() as u64) as usize);
        parent_cv(
            &root_of(left_cvs, false),
            &root_of(right_cvs, false),
            is_root,
        )
    }

    fn cvs(groups: u8) -> Vec<Cv> {
        (0..groups).map(|i| [i; 32]).collect()
    }

    #[test]
    fn levels_agree_with_recursive_root() {
        for groups in 2..40u8 {
            let cvs = cvs(groups);
            let (levels, root) = Levels::build(&cvs);
            assert_eq!(root, root_of(&cvs, true));
            assert!(1u64 << levels.root_level() >= groups as u64);
            assert!(1u64 << (levels.root_level() - 1) < groups as u64);
        }
    }

    #[test]
    fn levels_from_a_checked_pre_order_bao_equal_levels_built_bottom_up() {
        for groups in 2..70u8 {
            let cvs = cvs(groups);
            let (root, bao) = encode(&cvs, BaoFormat::PreOrder);
            let geometry = Geometry::new(groups as u64 * 1024, 0).unwrap();
            let all = GroupRange::new(0, groups as u64);
            let checked =
                Levels::trusted(&geometry, &bao, BaoFormat::PreOrder, &root, all).unwrap();
            let (built, _) = Levels::build(&cvs);
            assert_eq!(checked.levels, built.levels, "{groups} groups");
        }
    }

    #[test]
    fn window_entries_equal_the_same_entries_of_the_whole_tree() {
        for groups in 2..40u64 {
            let cvs: Vec<Cv> = (0..groups as u8).map(|i| [i; 32]).collect();
            let (whole, _) = Levels::build(&cvs);
            for first in 0..groups {
                for end in first + 1..=groups {
                    let window = GroupRange::new(first, end);
                    let part = Levels::from_window_groups(
                        groups,
                        window,
                        &cvs[first as usize..end as usize],
                    );
                    for level in 0..part.root_level() {
                        let (low, high) = part.index_bounds(level);
                        for index in low..high {
                            assert_eq!(part.cv(level, index), whole.cv(level, index));
                        }
                    }
                }
            }
        }
    }
}
