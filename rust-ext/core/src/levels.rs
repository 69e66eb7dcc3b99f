//! Every node of a group tree, stored level by level, for lookups by (level, index).

use crate::codec::{decode, for_each_pair};
use crate::error::BaoError;
use crate::format::{BaoFormat, Hash};
use crate::hashing::{parent_cv, Cv};
use crate::tree::{Geometry, PAIR_LEN};

/// One pairing round: node `i` of the next level covers nodes `2i` and `2i + 1` of this one.
/// A last node without a partner moves up unchanged, which is exactly how a left-balanced tree
/// treats its right edge.
pub(crate) fn pair_up(level: &[Cv]) -> Vec<Cv> {
    level
        .chunks(2)
        .map(|pair| match pair {
            [left, right] => parent_cv(left, right, false),
            [single] => *single,
            _ => unreachable!("chunks(2) yields one or two items"),
        })
        .collect()
}

/// The nodes of a tree of `groups >= 2` groups: `levels[k][i]` is the chaining value of the
/// node over groups `[i << k, min((i + 1) << k, groups))`, for every level below the root.
pub(crate) struct Levels {
    levels: Vec<Vec<Cv>>,
}

impl Levels {
    /// The nodes of a bao checked against `root`, each parent hashed exactly once.
    ///
    /// pre_order: every pair is checked top-down against the value its parent vouches for, so
    /// a damaged inner node is caught even where the groups below it are intact; the checked
    /// pairs then fill the levels directly. leaves: all parents are rebuilt and the root
    /// compared.
    pub fn trusted(
        geometry: &Geometry,
        outboard: &[u8],
        format: BaoFormat,
        root: &Hash,
    ) -> Result<Self, BaoError> {
        match format {
            BaoFormat::PreOrder => Self::from_checked_pre_order(geometry, outboard, root),
            BaoFormat::Leaves => {
                let (levels, rebuilt_root) = Self::build(decode(geometry, outboard, format));
                if rebuilt_root != *root {
                    return Err(BaoError::new(format!(
                        "leaves bao does not match the root: its {} group hashes rebuild to a different root",
                        geometry.groups
                    )));
                }
                Ok(levels)
            }
        }
    }

    /// Builds all levels above `group_cvs` (at least two). Returns them and the root hash.
    pub fn build(group_cvs: Vec<Cv>) -> (Self, Cv) {
        debug_assert!(group_cvs.len() >= 2);
        let mut levels = vec![group_cvs];
        loop {
            let top = levels.last().expect("at least one level");
            if let [left, right] = top.as_slice() {
                let root = parent_cv(left, right, true);
                return (Self { levels }, root);
            }
            let next = pair_up(top);
            levels.push(next);
        }
    }

    fn from_checked_pre_order(
        geometry: &Geometry,
        outboard: &[u8],
        root: &Hash,
    ) -> Result<Self, BaoError> {
        let groups = geometry.groups;
        let root_level = 64 - (groups - 1).leading_zeros();
        let mut levels: Vec<Vec<Cv>> = (0..root_level)
            .map(|level| vec![[0u8; 32]; groups.div_ceil(1 << level) as usize])
            .collect();
        // Pre-order visits a node's left subtree right after it, and its right subtree after
        // that, so the values vouched for by parents pop off a stack in visiting order.
        let mut expected: Vec<Cv> = vec![*root];
        let mut pair_index = 0u64;
        let mut failure = None;
        for_each_pair(geometry, outboard, |parent, left, right| {
            if failure.is_some() {
                return;
            }
            let want = expected.pop().expect("one expected value per parent");
            if parent_cv(left, right, pair_index == 0) != want {
                let offset = pair_index * PAIR_LEN;
                failure = Some(BaoError::new(format!(
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
            // The left child is a full subtree of `left` (a power of two) groups.
            let left_level = parent.left.trailing_zeros();
            levels[left_level as usize][(parent.start >> left_level) as usize] = *left;
            // The right child may be a partial right-edge node: it then also stands for the
            // entries above it, up to the left child's level, that cover the same groups.
            let right_start = parent.start + parent.left;
            let right_level = 64 - (parent.right() - 1).leading_zeros();
            for level in right_level..=left_level {
                levels[level as usize][(right_start >> level) as usize] = *right;
            }
            pair_index += 1;
        });
        match failure {
            Some(error) => Err(error),
            None => Ok(Self { levels }),
        }
    }

    /// Level of the root: nodes at this level or above would be the root itself.
    pub fn root_level(&self) -> u32 {
        self.levels.len() as u32
    }

    /// Chaining value of node `index` at `level` (below the root level).
    pub fn cv(&self, level: u32, index: u64) -> &Cv {
        &self.levels[level as usize][index as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::{encode, root_of};

    fn cvs(groups: u8) -> Vec<Cv> {
        (0..groups).map(|i| [i; 32]).collect()
    }

    #[test]
    fn levels_agree_with_recursive_root() {
        for groups in 2..40u8 {
            let cvs = cvs(groups);
            let (levels, root) = Levels::build(cvs.clone());
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
            let checked = Levels::trusted(&geometry, &bao, BaoFormat::PreOrder, &root).unwrap();
            let (built, _) = Levels::build(cvs);
            assert_eq!(checked.levels, built.levels, "{groups} groups");
        }
    }
}
