//! Converting between the chunk-group chaining values of a blob and its bao bytes.

use crate::format::{BaoFormat, Hash};
use crate::hashing::{parent_cv, Cv};
use crate::tree::{for_each_parent_pre_order, left_groups, Geometry, Parent, CV_LEN, PAIR_LEN};

/// Root and bao of a blob of `cvs.len() >= 2` groups, in `format`.
pub(crate) fn encode(cvs: &[Cv], format: BaoFormat) -> (Hash, Vec<u8>) {
    debug_assert!(cvs.len() >= 2);
    match format {
        BaoFormat::PreOrder => {
            let mut out = vec![0u8; (cvs.len() - 1) * PAIR_LEN as usize];
            let mut next_pair = 0;
            let root = encode_pre_order(cvs, true, &mut out, &mut next_pair);
            (root, out)
        }
        BaoFormat::Leaves => (root_of(cvs, true), cvs.concat()),
    }
}

/// Chaining value of the subtree over `cvs` (root-finalized if `is_root`), writing its parents
/// in pre-order into `out` starting at pair index `*next_pair`.
fn encode_pre_order(cvs: &[Cv], is_root: bool, out: &mut [u8], next_pair: &mut usize) -> Cv {
    if cvs.len() == 1 {
        return cvs[0];
    }
    let slot = *next_pair * PAIR_LEN as usize;
    *next_pair += 1;
    let (left_cvs, right_cvs) = cvs.split_at(left_groups(cvs.len() as u64) as usize);
    let left = encode_pre_order(left_cvs, false, out, next_pair);
    let right = encode_pre_order(right_cvs, false, out, next_pair);
    out[slot..slot + 32].copy_from_slice(&left);
    out[slot + 32..slot + 64].copy_from_slice(&right);
    parent_cv(&left, &right, is_root)
}

/// Chaining value of the subtree over `cvs` (root-finalized if `is_root`).
pub(crate) fn root_of(cvs: &[Cv], is_root: bool) -> Cv {
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
