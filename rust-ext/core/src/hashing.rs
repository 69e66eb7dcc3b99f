//! The three BLAKE3 hazmat operations everything else is built from.

use blake3::hazmat::{merge_subtrees_non_root, merge_subtrees_root, HasherExt, Mode};

use crate::format::Hash;

/// A non-root chaining value of a subtree (a group or a parent above groups).
pub(crate) type Cv = blake3::hazmat::ChainingValue;

/// Chaining value of the aligned, non-empty subtree `data` that starts at byte `offset`
/// of the blob. One hasher call for the whole subtree, so BLAKE3 can hash its chunks with SIMD.
pub(crate) fn subtree_cv(data: &[u8], offset: u64) -> Cv {
    debug_assert!(!data.is_empty());
    blake3::Hasher::new()
        .set_input_offset(offset)
        .update(data)
        .finalize_non_root()
}

/// Chaining value of a parent node, root-finalized when it is the root of the blob.
pub(crate) fn parent_cv(left: &Cv, right: &Cv, is_root: bool) -> Cv {
    if is_root {
        *merge_subtrees_root(left, right, Mode::Hash).as_bytes()
    } else {
        merge_subtrees_non_root(left, right, Mode::Hash)
    }
}

/// Plain BLAKE3 of `data`: the root of a blob.
pub fn hash(data: &[u8]) -> Hash {
    *blake3::hash(data).as_bytes()
}
