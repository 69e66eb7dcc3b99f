//! Converting between the chunk-group chaining values of a blob and its bao bytes.

use crate::format::{BaoFormat, Hash};
use crate::hashing::Cv;
use crate::levels::Levels;
use crate::tree::{for_each_parent_pre_order, Geometry, Parent, CV_LEN, PAIR_LEN};

/// Root and bao of a blob of `cvs.len() >= 2` groups, in `format`. Every level of the tree is
/// built first (a level's parents hashed at once, with SIMD), then written out.
pub(crate) fn encode(cvs: &[Cv], format: BaoFormat) -> (Hash, Vec<u8>) {
    debug_assert!(cvs.len() >= 2);
    let (levels, root) = Levels::build(cvs);
    match format {
        BaoFormat::PreOrder => {
            let mut out = Vec::with_capacity((cvs.len() - 1) * PAIR_LEN as usize);
            for_each_parent_pre_order(cvs.len() as u64, |parent| {
                out.extend_from_slice(levels.node_cv(parent.start, parent.left));
                out.extend_from_slice(levels.node_cv(parent.start + parent.left, parent.right()));
            });
            (root, out)
        }
        BaoFormat::Leaves => (root, cvs.concat()),
    }
}

/// The group chaining values held in a bao of a blob of `geometry.groups >= 2` groups whose
/// length was already checked. Nothing is verified here (see `Levels::trusted` for that).
pub(crate) fn decode(geometry: &Geometry, outboard: &[u8], format: BaoFormat) -> Vec<Cv> {
    debug_assert!(geometry.groups >= 2);
    debug_assert_eq!(outboard.len() as u64, geometry.outboard_len(format));
    match format {
        BaoFormat::Leaves => outboard
            .chunks_exact(CV_LEN as usize)
            .map(|cv| cv.try_into().expect("chunks_exact yields 32 bytes"))
            .collect(),
        BaoFormat::PreOrder => {
            let mut cvs = vec![[0u8; 32]; geometry.groups as usize];
            for_each_pair(geometry, outboard, |parent, left, right| {
                if parent.left == 1 {
                    cvs[parent.start as usize] = *left;
                }
                if parent.right() == 1 {
                    cvs[(parent.start + parent.left) as usize] = *right;
                }
            });
            cvs
        }
    }
}

/// Calls `visit` with every parent of a pre-order bao (already length-checked) and its pair.
pub(crate) fn for_each_pair(
    geometry: &Geometry,
    outboard: &[u8],
    mut visit: impl FnMut(Parent, &Cv, &Cv),
) {
    let mut pairs = outboard.chunks_exact(PAIR_LEN as usize);
    for_each_parent_pre_order(geometry.groups, |parent| {
        let pair = pairs.next().expect("one pair per parent");
        let left: &Cv = pair[..32].try_into().expect("32 bytes");
        let right: &Cv = pair[32..].try_into().expect("32 bytes");
        visit(parent, left, right);
    });
}
