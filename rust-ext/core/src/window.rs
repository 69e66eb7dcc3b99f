//! Windows of a blob and their proofs: the nodes a verifier needs to check the groups of a
//! byte range `[start, end)` against the root, O(log n) of them plus the window's own.
//!
//! The **pruned tree** of a window is the group tree with every subtree that shares no group
//! with the window cut down to its root. Its inner nodes are exactly the parents that overlap
//! the window; its leaves (the *frontier*) are the window's groups and the roots of the cut
//! subtrees, which close the tree left and right of the window.
//!
//! * A `pre_order` proof is the pair (`left CV ‖ right CV`) of every inner node of the pruned
//!   tree, in pre-order: what bao-tree's range encoding emits as parents for the window's
//!   chunk ranges, without the data.
//! * A `leaves` proof is the chaining value of every frontier node, left to right: the closing
//!   nodes left of the window (largest first), the window's groups, the closing nodes right of
//!   it (smallest first).
//!
//! Both are empty for a blob of one group, whose only node is the root.

use crate::error::BaoError;
use crate::format::{BaoFormat, Hash};
use crate::hashing::{parent_cv, parent_cvs, Cv, CHECK_BATCH};
use crate::levels::Levels;
use crate::tree::{
    for_each_parent_overlapping, left_groups, parents_overlapping, Geometry, GroupRange, Parent,
    CV_LEN, PAIR_LEN,
};

/// The window `[start, end)` of a blob of `size` bytes rounded out to groups at `shift`: `start`
/// down to a group boundary, `end` up to a group boundary or the size. The window must not be
/// empty and must lie inside the blob; the empty blob has the one window `[0, 0)`.
pub fn window(size: u64, shift: u8, start: u64, end: u64) -> Result<(u64, u64), BaoError> {
    let geometry = Geometry::new(size, shift)?;
    let (start, end) = rounded(&geometry, start, end)?;
    Ok((start, end))
}

/// [`window`] for a known geometry.
pub(crate) fn rounded(geometry: &Geometry, start: u64, end: u64) -> Result<(u64, u64), BaoError> {
    let size = geometry.size;
    if size == 0 && start == 0 && end == 0 {
        return Ok((0, 0));
    }
    if start >= end {
        return Err(BaoError::argument(
            "end",
            format!("window [{start}, {end}) is empty or reversed"),
        ));
    }
    if end > size {
        return Err(BaoError::argument(
            "end",
            format!("window [{start}, {end}) reaches past the end of the blob of {size} bytes"),
        ));
    }
    let group_len = geometry.group_len;
    let rounded_end = end.div_ceil(group_len).saturating_mul(group_len).min(size);
    Ok((start - start % group_len, rounded_end))
}

/// The geometry at `shift` and the groups of the rounded window.
pub(crate) fn tree_window(
    size: u64,
    shift: u8,
    start: u64,
    end: u64,
) -> Result<(Geometry, GroupRange), BaoError> {
    let geometry = Geometry::new(size, shift)?;
    let (start, end) = rounded(&geometry, start, end)?;
    Ok((geometry, geometry.group_range(start, end)))
}

/// Byte length of the proof of the window `[start, end)` (rounded out to groups) in `format`.
pub fn proof_size(
    size: u64,
    shift: u8,
    format: BaoFormat,
    start: u64,
    end: u64,
) -> Result<u64, BaoError> {
    let (geometry, window) = tree_window(size, shift, start, end)?;
    Ok(proof_len(&geometry, window, format))
}

/// Byte length of the proof of `window` (not empty) of a blob of `geometry` in `format`.
pub(crate) fn proof_len(geometry: &Geometry, window: GroupRange, format: BaoFormat) -> u64 {
    if geometry.groups < 2 || window.start == window.end {
        return 0;
    }
    let inner = parents_overlapping(geometry.groups, window);
    match format {
        BaoFormat::PreOrder => inner * PAIR_LEN,
        // A binary tree with `inner` inner nodes has one leaf more.
        BaoFormat::Leaves => (inner + 1) * CV_LEN,
    }
}

/// Where the pairs of the parents come from.
pub(crate) trait PairSource {
    /// The pair (left, right) of `parent`, whose index in the pre-order of all parents is
    /// `pre_index`; parents are asked for in pre-order.
    fn pair(&mut self, parent: &Parent, pre_index: u64) -> Result<(Cv, Cv), BaoError>;
}

/// What is done with the nodes of a pruned tree, visited in pre-order.
pub(crate) trait NodeSink {
    /// An inner node (a parent overlapping the window) and its pair.
    fn parent(&mut self, _parent: &Parent, _left: &Cv, _right: &Cv) {}
    /// A frontier node over groups `[start, start + count)`, left to right.
    fn frontier(&mut self, _start: u64, _count: u64, _cv: &Cv) {}
}

/// Writes a proof in `format`.
pub(crate) struct ProofWriter {
    pub format: BaoFormat,
    pub bytes: Vec<u8>,
}

impl NodeSink for ProofWriter {
    fn parent(&mut self, _parent: &Parent, left: &Cv, right: &Cv) {
        if self.format == BaoFormat::PreOrder {
            self.bytes.extend_from_slice(left);
            self.bytes.extend_from_slice(right);
        }
    }

    fn frontier(&mut self, _start: u64, _count: u64, cv: &Cv) {
        if self.format == BaoFormat::Leaves {
            self.bytes.extend_from_slice(cv);
        }
    }
}

impl NodeSink for Levels {
    fn parent(&mut self, parent: &Parent, left: &Cv, right: &Cv) {
        self.set_children(parent.start, parent.count, left, right);
    }
}

/// Walks the pruned tree of `window` of a tree of `geometry.groups >= 2` groups in pre-order,
/// taking the pairs from `source` and handing every node to `sink`. With `root`, every pair is
/// first checked against the value its parent vouches for (the root for the first), so nothing
/// reaches `sink` before it is proven; `what` names the source in errors.
pub(crate) fn walk_pruned_tree(
    geometry: &Geometry,
    window: GroupRange,
    root: Option<&Hash>,
    source: &mut impl PairSource,
    sink: &mut impl NodeSink,
    what: &str,
) -> Result<(), BaoError> {
    debug_assert!(geometry.groups >= 2);
    // A small window's walk (most of them) allocates for its few pairs only.
    let batch = (parents_overlapping(geometry.groups, window) as usize).min(CHECK_BATCH);
    let mut walk = Walk {
        geometry,
        window,
        root,
        what,
        sink,
        expected: root.into_iter().copied().collect(),
        pending_frontier: Vec::new(),
        visited: 0,
        batch: Vec::with_capacity(batch),
        pairs: Vec::with_capacity(batch * PAIR_LEN as usize),
        hashes: vec![[0u8; 32]; batch],
    };
    let mut failure = None;
    for_each_parent_overlapping(geometry.groups, window, |parent, pre_index| {
        if failure.is_some() {
            return;
        }
        let result = source.pair(&parent, pre_index).and_then(|(left, right)| {
            walk.batch.push(parent);
            walk.pairs.extend_from_slice(&left);
            walk.pairs.extend_from_slice(&right);
            if walk.batch.len() == batch {
                walk.flush()?;
            }
            Ok(())
        });
        if let Err(error) = result {
            failure = Some(error);
        }
    });
    // A pair the source could not give comes after those taken: they are checked first.
    walk.flush()?;
    if let Some(error) = failure {
        return Err(error);
    }
    while let Some((start, count, cv)) = walk.pending_frontier.pop() {
        walk.sink.frontier(start, count, &cv);
    }
    Ok(())
}

/// The state of [`walk_pruned_tree`] between batches of pairs.
struct Walk<'a, S> {
    geometry: &'a Geometry,
    window: GroupRange,
    root: Option<&'a Hash>,
    what: &'a str,
    sink: &'a mut S,
    /// Values vouched for by checked parents, popped in visiting order (right pushed first).
    expected: Vec<Cv>,
    /// Frontier nodes right of a subtree wait until the subtree is done.
    pending_frontier: Vec<(u64, u64, Cv)>,
    visited: u64,
    /// Parents taken and not yet checked, and their pairs, side by side.
    batch: Vec<Parent>,
    pairs: Vec<u8>,
    hashes: Vec<Cv>,
}

impl<S: NodeSink> Walk<'_, S> {
    /// Checks the pairs taken so far (with a root) and hands them and the frontier nodes they
    /// show on to the sink, in visiting order.
    fn flush(&mut self) -> Result<(), BaoError> {
        let count = self.batch.len();
        if self.root.is_some() {
            parent_cvs(&self.pairs, &mut self.hashes[..count]);
        }
        let mut result = Ok(());
        for index in 0..count {
            let (parent, hash) = (self.batch[index], self.hashes[index]);
            let at = index * PAIR_LEN as usize;
            let (left, right) = split_pair(&self.pairs[at..at + PAIR_LEN as usize]);
            result = self.visit(&parent, &left, &right, &hash);
            if result.is_err() {
                break;
            }
        }
        // Checked or refused, a batch is done: the pairs after a refused one are never used.
        self.batch.clear();
        self.pairs.clear();
        result
    }

    fn visit(&mut self, parent: &Parent, left: &Cv, right: &Cv, hash: &Cv) -> Result<(), BaoError> {
        // Hand on the closing nodes of subtrees that this parent lies to the right of.
        while let Some(&(start, count, cv)) = self
            .pending_frontier
            .last()
            .filter(|(start, ..)| *start <= parent.start)
        {
            self.sink.frontier(start, count, &cv);
            self.pending_frontier.pop();
        }
        if self.root.is_some() {
            let want = self
                .expected
                .pop()
                .expect("one vouched value per checked parent");
            let is_root = parent.count == self.geometry.groups;
            let got = if is_root {
                parent_cv(left, right, true)
            } else {
                *hash
            };
            if got != want {
                return Err(node_mismatch(
                    self.geometry,
                    parent,
                    self.visited,
                    self.what,
                ));
            }
        }
        self.sink.parent(parent, left, right);
        self.visited += 1;
        let right_start = parent.start + parent.left;
        let window = self.window;
        let inner = |start: u64, count: u64| count >= 2 && window.overlaps(start, count);
        if inner(right_start, parent.right()) {
            if self.root.is_some() {
                self.expected.push(*right);
            }
        } else {
            self.pending_frontier
                .push((right_start, parent.right(), *right));
        }
        if inner(parent.start, parent.left) {
            if self.root.is_some() {
                self.expected.push(*left);
            }
        } else {
            self.sink.frontier(parent.start, parent.left, left);
        }
        Ok(())
    }
}

fn node_mismatch(geometry: &Geometry, parent: &Parent, visited: u64, what: &str) -> BaoError {
    let (first, end) = geometry.byte_range(parent.start, parent.count);
    BaoError::mismatch(format!(
        "{what}: node {visited} (groups {}..{}, blob bytes {first}..{end}) does not match {}",
        parent.start,
        parent.start + parent.count,
        if visited == 0 {
            "the root"
        } else {
            "its parent"
        },
    ))
}

/// Pairs read one after the other from a `pre_order` proof (its length already checked).
struct ProofPairs<'a> {
    pairs: std::slice::ChunksExact<'a, u8>,
}

impl PairSource for ProofPairs<'_> {
    fn pair(&mut self, _parent: &Parent, _pre_index: u64) -> Result<(Cv, Cv), BaoError> {
        let pair = self
            .pairs
            .next()
            .expect("proof length checked: one pair per parent");
        Ok(split_pair(pair))
    }
}

/// The two chaining values of a 64-byte pair.
pub(crate) fn split_pair(pair: &[u8]) -> (Cv, Cv) {
    let left = pair[..32].try_into().expect("64-byte pair");
    let right = pair[32..64].try_into().expect("64-byte pair");
    (left, right)
}

/// The nodes inside `window` (not empty) of a blob of `geometry.groups >= 2` groups, from a
/// proof checked against `root` first.
pub(crate) fn levels_from_proof(
    geometry: &Geometry,
    window: GroupRange,
    proof: &[u8],
    format: BaoFormat,
    root: &Hash,
) -> Result<Levels, BaoError> {
    let expected = proof_len(geometry, window, format);
    if proof.len() as u64 != expected {
        let (start, end) = geometry.byte_range(window.start, window.len());
        return Err(BaoError::malformed(format!(
            "{format} proof is {} bytes, but the window [{start}, {end}) (groups {}..{}) of a blob of {} bytes in {} groups needs {expected}",
            proof.len(),
            window.start,
            window.end,
            geometry.size,
            geometry.groups,
        )));
    }
    let mut levels = Levels::empty(geometry.groups, window);
    match format {
        BaoFormat::PreOrder => {
            let mut pairs = ProofPairs {
                pairs: proof.chunks_exact(PAIR_LEN as usize),
            };
            walk_pruned_tree(
                geometry,
                window,
                Some(root),
                &mut pairs,
                &mut levels,
                "pre_order proof",
            )?;
        }
        BaoFormat::Leaves => {
            let mut frontier = proof.chunks_exact(CV_LEN as usize);
            let rebuilt = rebuild(
                geometry.groups,
                window,
                0,
                geometry.groups,
                &mut frontier,
                &mut levels,
            );
            if rebuilt != *root {
                return Err(BaoError::mismatch(format!(
                    "leaves proof does not match the root: its {} chaining values rebuild to a different root",
                    proof.len() / CV_LEN as usize
                )));
            }
        }
    }
    Ok(levels)
}

/// Chaining value of the node over groups `[start, start + count)` of the pruned tree (the
/// root hash for the whole tree), taking frontier values from `frontier` left to right and
/// recording the nodes inside the window in `levels`. Recursion depth is the tree height.
fn rebuild(
    groups: u64,
    window: GroupRange,
    start: u64,
    count: u64,
    frontier: &mut std::slice::ChunksExact<'_, u8>,
    levels: &mut Levels,
) -> Cv {
    let cv = if count < 2 || !window.overlaps(start, count) {
        frontier
            .next()
            .expect("proof length checked: one value per frontier node")
            .try_into()
            .expect("32-byte chaining value")
    } else {
        let left = left_groups(count);
        let left_cv = rebuild(groups, window, start, left, frontier, levels);
        let right_cv = rebuild(groups, window, start + left, count - left, frontier, levels);
        parent_cv(&left_cv, &right_cv, count == groups)
    };
    if count < groups {
        levels.set_node(start, count, &cv);
    }
    cv
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_round_out_to_groups() {
        let g = 1024u64;
        assert_eq!(window(10 * g, 0, 1, 2), Ok((0, g)));
        assert_eq!(window(10 * g, 0, g, g + 1), Ok((g, 2 * g)));
        assert_eq!(
            window(10 * g - 5, 0, 9 * g + 1, 10 * g - 5),
            Ok((9 * g, 10 * g - 5))
        );
        assert_eq!(window(0, 4, 0, 0), Ok((0, 0)));
        assert!(window(10, 0, 5, 5).is_err());
        assert!(window(10, 0, 6, 5).is_err());
        assert!(window(10, 0, 0, 11).is_err());
        assert!(window(u64::MAX, 0, 0, u64::MAX).is_ok());
        assert!(window(10, 40, 0, 1).is_err());
    }
}
