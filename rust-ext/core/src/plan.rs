//! Window proofs made from a whole bao in memory, or — what a server needs to scale — from the
//! few pieces of a stored `post_order` bao that a window needs (see [`crate::window`]).

use std::ops::Range;

use crate::codec::decode;
use crate::error::BaoError;
use crate::format::{BaoFormat, Hash, Layout};
use crate::hashing::{cvs_of_groups, Cv};
use crate::levels::Levels;
use crate::tree::{for_each_parent_overlapping, Geometry, GroupRange, Parent, PAIR_LEN};
use crate::window::{
    proof_len, split_pair, tree_window, walk_pruned_tree, PairSource, ProofWriter,
};

/// The proof of the window `[start, end)` (rounded out to groups) of a blob at `shift` in
/// `format`, from its whole bao `outboard` at the same shift in `layout`. The bao is not checked
/// against the root (a verifier checks the proof); O(log n + window) for pre_order and
/// post_order, O(n) for leaves, whose parents have to be rebuilt.
pub fn window_proof(
    outboard: &[u8],
    layout: Layout,
    size: u64,
    shift: u8,
    format: BaoFormat,
    start: u64,
    end: u64,
) -> Result<Vec<u8>, BaoError> {
    let (geometry, window) = tree_window(size, shift, start, end)?;
    // post_order has the pre_order length.
    let layout_format = match layout {
        Layout::Leaves => BaoFormat::Leaves,
        Layout::PreOrder | Layout::PostOrder => BaoFormat::PreOrder,
    };
    geometry
        .check_outboard_len(outboard, shift, layout_format)
        .map_err(|error| error.context(&format!("{layout} bao")))?;
    if geometry.groups < 2 {
        return Ok(Vec::new());
    }
    let mut writer = ProofWriter {
        format,
        bytes: Vec::with_capacity(proof_len(&geometry, window, format) as usize),
    };
    match layout {
        Layout::PreOrder => walk_pruned_tree(
            &geometry,
            window,
            None,
            &mut PreOrderPairs(outboard),
            &mut writer,
            "pre_order bao",
        )?,
        Layout::PostOrder => {
            let pieces = StoredPieces {
                stored: geometry,
                ranges: std::iter::once(0..outboard.len() as u64).collect(),
                pieces: vec![outboard],
            };
            walk_pruned_tree(
                &geometry,
                window,
                None,
                &mut StoredPairs {
                    geometry,
                    pieces,
                    rehashed: None,
                },
                &mut writer,
                "post_order bao",
            )?
        }
        Layout::Leaves => {
            let (levels, _) = Levels::build(&decode(&geometry, outboard, BaoFormat::Leaves));
            walk_pruned_tree(
                &geometry,
                window,
                None,
                &mut LevelPairs(&levels),
                &mut writer,
                "leaves bao",
            )?
        }
    }
    Ok(writer.bytes)
}

/// Pairs of a whole pre_order bao, found by their pre-order index.
struct PreOrderPairs<'a>(&'a [u8]);

impl PairSource for PreOrderPairs<'_> {
    fn pair(&mut self, _parent: &Parent, pre_index: u64) -> Result<(Cv, Cv), BaoError> {
        let at = (pre_index * PAIR_LEN) as usize;
        Ok(split_pair(&self.0[at..at + PAIR_LEN as usize]))
    }
}

/// Pairs made from nodes known level by level.
struct LevelPairs<'a>(&'a Levels);

impl PairSource for LevelPairs<'_> {
    fn pair(&mut self, parent: &Parent, _pre_index: u64) -> Result<(Cv, Cv), BaoError> {
        Ok(pair_from_levels(self.0, parent))
    }
}

fn pair_from_levels(levels: &Levels, parent: &Parent) -> (Cv, Cv) {
    (
        *levels.node_cv(parent.start, parent.left),
        *levels.node_cv(parent.start + parent.left, parent.right()),
    )
}

/// What a server reads to answer a window proof from a stored `post_order` bao at the stored
/// shift, for a proof at any shift in any format, in time and memory O(log n + window).
///
/// At a shift at or above the stored one every parent of the proof is a stored parent with the
/// same pair. Below it, the parents inside a stored group are not stored: the plan then names
/// the stored groups of data to rehash, and the build checks the rehashed groups against the
/// stored bao before it uses them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProofPlan {
    /// Geometry at the proof's shift.
    geometry: Geometry,
    /// Geometry at the stored shift.
    stored: Geometry,
    format: BaoFormat,
    window: GroupRange,
    outboard_ranges: Vec<Range<u64>>,
    data_range: Option<Range<u64>>,
}

impl ProofPlan {
    /// The plan for the window `[start, end)` (rounded out to groups at `shift`) of a blob of
    /// `size` bytes whose bao is stored in the `post_order` layout at `stored_shift`. Stored
    /// pieces less than `max_gap` bytes apart are read as one range.
    pub fn new(
        size: u64,
        stored_shift: u8,
        shift: u8,
        format: BaoFormat,
        start: u64,
        end: u64,
        max_gap: u64,
    ) -> Result<Self, BaoError> {
        let (geometry, window) = tree_window(size, shift, start, end)?;
        let stored = Geometry::new(size, stored_shift)?;
        let mut offsets = Vec::new();
        let mut rehashed_groups: Option<(u64, u64)> = None;
        if geometry.groups >= 2 {
            for_each_parent_overlapping(geometry.groups, window, |parent, _| {
                let (first, end) = geometry.byte_range(parent.start, parent.count);
                if spans_stored_groups(&stored, first, end) {
                    offsets.push(stored.post_order_index(first, end) * PAIR_LEN);
                } else {
                    let group = first / stored.group_len;
                    let (low, high) = rehashed_groups.unwrap_or((group, group));
                    rehashed_groups = Some((low.min(group), high.max(group)));
                }
            });
        }
        offsets.sort_unstable();
        offsets.dedup();
        Ok(Self {
            geometry,
            stored,
            format,
            window,
            outboard_ranges: coalesce(&offsets, max_gap),
            data_range: rehashed_groups
                .map(|(low, high)| stored.group_start(low)..stored.groups_end(high + 1)),
        })
    }

    /// The window the proof answers, in blob bytes (the asked one rounded out to groups).
    pub fn window(&self) -> (u64, u64) {
        self.geometry
            .byte_range(self.window.start, self.window.len())
    }

    /// Byte ranges of the stored post-order bao to read, sorted and disjoint.
    pub fn outboard_ranges(&self) -> &[Range<u64>] {
        &self.outboard_ranges
    }

    /// Blob bytes (whole stored groups) to rehash, when the proof's shift is below the stored.
    pub fn data_range(&self) -> Option<Range<u64>> {
        self.data_range.clone()
    }

    /// Byte length of the proof.
    pub fn proof_len(&self) -> u64 {
        proof_len(&self.geometry, self.window, self.format)
    }

    /// The proof, from the bytes of [`outboard_ranges`](Self::outboard_ranges) (one piece per
    /// range) and, when [`data_range`](Self::data_range) is set, those blob bytes. Every pair is
    /// checked top-down against `root` before it is used, rehashed groups included, so a
    /// damaged store yields an error, never a wrong proof.
    pub fn build(
        &self,
        root: &Hash,
        pieces: &[&[u8]],
        data: Option<&[u8]>,
    ) -> Result<Vec<u8>, BaoError> {
        if pieces.len() != self.outboard_ranges.len() {
            return Err(BaoError::argument(
                "pieces",
                format!(
                    "the plan reads {} ranges of the stored bao, but {} pieces were given",
                    self.outboard_ranges.len(),
                    pieces.len()
                ),
            ));
        }
        for (index, (range, piece)) in self.outboard_ranges.iter().zip(pieces).enumerate() {
            if piece.len() as u64 != range.end - range.start {
                return Err(BaoError::argument(
                    "pieces",
                    format!(
                        "piece {index} is {} bytes, but the stored bao range {}..{} is {}",
                        piece.len(),
                        range.start,
                        range.end,
                        range.end - range.start
                    ),
                ));
            }
        }
        let rehashed = match (&self.data_range, data) {
            (None, None) => None,
            (Some(range), Some(data)) if data.len() as u64 == range.end - range.start => {
                Some(self.rehash(range.start, data))
            }
            (Some(range), Some(data)) => {
                return Err(BaoError::argument(
                    "data",
                    format!(
                        "the plan rehashes blob bytes {}..{} ({} bytes), but {} bytes were given",
                        range.start,
                        range.end,
                        range.end - range.start,
                        data.len()
                    ),
                ))
            }
            (Some(range), None) => {
                return Err(BaoError::argument(
                    "data",
                    format!(
                        "the plan needs blob bytes {}..{} to rehash",
                        range.start, range.end
                    ),
                ))
            }
            (None, Some(_)) => {
                return Err(BaoError::argument(
                    "data",
                    "the plan needs no data: pass None",
                ))
            }
        };
        if self.geometry.groups < 2 {
            return Ok(Vec::new());
        }
        let mut source = StoredPairs {
            geometry: self.geometry,
            pieces: StoredPieces {
                stored: self.stored,
                ranges: self.outboard_ranges.clone(),
                pieces: pieces.to_vec(),
            },
            rehashed,
        };
        let mut writer = ProofWriter {
            format: self.format,
            bytes: Vec::with_capacity(self.proof_len() as usize),
        };
        let what = if source.rehashed.is_some() {
            "stored bao or rehashed data"
        } else {
            "stored bao"
        };
        walk_pruned_tree(
            &self.geometry,
            self.window,
            Some(root),
            &mut source,
            &mut writer,
            what,
        )?;
        Ok(writer.bytes)
    }

    /// The nodes at the proof's shift inside the stored groups of `data`, which starts at blob
    /// byte `offset`.
    fn rehash(&self, offset: u64, data: &[u8]) -> Levels {
        let geometry = &self.geometry;
        let first = offset / geometry.group_len;
        let end = (offset + data.len() as u64).div_ceil(geometry.group_len);
        let cvs = cvs_of_groups(data, geometry.group_start(first), geometry.group_len);
        Levels::from_window_groups(geometry.groups, GroupRange::new(first, end), &cvs)
    }
}

/// Whether the bytes `[first, end)` span more than one stored group (so they are a stored
/// parent).
fn spans_stored_groups(stored: &Geometry, first: u64, end: u64) -> bool {
    first / stored.group_len != (end - 1) / stored.group_len
}

/// Sorted pair offsets merged into ranges, joining those less than `max_gap` bytes apart.
fn coalesce(offsets: &[u64], max_gap: u64) -> Vec<Range<u64>> {
    let mut ranges: Vec<Range<u64>> = Vec::new();
    for &offset in offsets {
        match ranges.last_mut() {
            Some(last) if offset <= last.end.saturating_add(max_gap) => {
                last.end = last.end.max(offset + PAIR_LEN)
            }
            _ => ranges.push(offset..offset + PAIR_LEN),
        }
    }
    ranges
}

/// Pieces of a stored post-order bao and where they lie in it.
struct StoredPieces<'a> {
    stored: Geometry,
    ranges: Vec<Range<u64>>,
    pieces: Vec<&'a [u8]>,
}

impl StoredPieces<'_> {
    /// The stored pair of the parent over blob bytes `[first, end)`.
    fn pair(&self, first: u64, end: u64) -> (Cv, Cv) {
        let offset = self.stored.post_order_index(first, end) * PAIR_LEN;
        let index = self.ranges.partition_point(|range| range.end <= offset);
        let range = &self.ranges[index];
        let at = (offset - range.start) as usize;
        split_pair(&self.pieces[index][at..at + PAIR_LEN as usize])
    }
}

/// Pairs of the proof's tree from stored pieces, or from rehashed data inside stored groups.
struct StoredPairs<'a> {
    geometry: Geometry,
    pieces: StoredPieces<'a>,
    rehashed: Option<Levels>,
}

impl PairSource for StoredPairs<'_> {
    fn pair(&mut self, parent: &Parent, _pre_index: u64) -> Result<(Cv, Cv), BaoError> {
        let (first, end) = self.geometry.byte_range(parent.start, parent.count);
        if spans_stored_groups(&self.pieces.stored, first, end) {
            return Ok(self.pieces.pair(first, end));
        }
        let levels = self
            .rehashed
            .as_ref()
            .expect("the plan rehashes every stored group holding a parent of the proof");
        Ok(pair_from_levels(levels, parent))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_coalesce_within_the_gap() {
        assert_eq!(coalesce(&[0, 64, 128], 0), vec![0..192]);
        assert_eq!(coalesce(&[0, 192], 0), vec![0..64, 192..256]);
        assert_eq!(coalesce(&[0, 192], 128), vec![0..256]);
        assert!(coalesce(&[], 10).is_empty());
    }
}
