//! Every node of a group tree, stored level by level, for lookups by (level, index).

use crate::hashing::{parent_cv, Cv};

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
    use crate::codec::root_of;

    #[test]
    fn levels_agree_with_recursive_root() {
        for groups in 2..40u8 {
            let cvs: Vec<Cv> = (0..groups).map(|i| [i; 32]).collect();
            let (levels, root) = Levels::build(cvs.clone());
            assert_eq!(root, root_of(&cvs, true));
            assert!(1u64 << levels.root_level() >= groups as u64);
            assert!(1u64 << (levels.root_level() - 1) < groups as u64);
        }
    }
}
