//! Streaming verification of a blob (or a group-aligned window of it) against a root and bao.

use crate::error::BaoError;
use crate::format::{BaoFormat, Hash};
use crate::hashing::{hash, subtree_cv_wide};
use crate::levels::Levels;
use crate::tree::Geometry;
use crate::window::levels_from_proof;

/// Largest subtree hashed in one call (unless a single group is bigger). Big enough for full
/// SIMD speed, small enough to release verified bytes of a huge feed in steady steps.
const MAX_SUBTREE_BYTES: u64 = 4 << 20;

/// Checks the bao against the root when built, then checks the streamed bytes of the window
/// `[start, end)` subtree by subtree and hands out only bytes of complete, checked groups.
///
/// Unverified bytes are kept only while a group is incomplete, so the buffer never exceeds one
/// group. After any error the verifier stays failed.
pub struct Verifier {
    geometry: Geometry,
    root: Hash,
    /// The nodes below the root inside the window; `None` for a one-group blob, whose only
    /// node is the root.
    levels: Option<Levels>,
    window_start: u64,
    window_end: u64,
    /// Blob offset of the first byte not yet released; always on a group boundary.
    verified_to: u64,
    /// Bytes of the incomplete group at `verified_to`.
    pending: Vec<u8>,
    received: u64,
    failed: Option<BaoError>,
}

impl Verifier {
    /// A verifier of the window `[start, end)` (group-aligned; `end` defaults to the size)
    /// given the whole bao, which is checked against `root` first.
    pub fn new(
        root: &Hash,
        size: u64,
        outboard: &[u8],
        shift: u8,
        format: BaoFormat,
        start: u64,
        end: Option<u64>,
    ) -> Result<Self, BaoError> {
        let geometry = Geometry::new(size, shift)?;
        let end = end.unwrap_or(size);
        check_window(&geometry, shift, start, end)?;
        geometry.check_outboard_len(outboard, shift, format)?;
        let window = geometry.group_range(start, end);
        let levels = if geometry.groups >= 2 {
            Some(Levels::trusted(&geometry, outboard, format, root, window)?)
        } else {
            check_single_group_root(size, root)?;
            None
        };
        Ok(Self::with_levels(geometry, root, levels, start, end))
    }

    /// A verifier of the window `[start, end)` (group-aligned, not empty unless the blob is;
    /// `end` defaults to the size) given the window's proof, which is checked against `root`
    /// first (see [`crate::window`] for the proof formats).
    pub fn from_proof(
        root: &Hash,
        size: u64,
        proof: &[u8],
        shift: u8,
        format: BaoFormat,
        start: u64,
        end: Option<u64>,
    ) -> Result<Self, BaoError> {
        let geometry = Geometry::new(size, shift)?;
        let end = end.unwrap_or(size);
        check_window(&geometry, shift, start, end)?;
        if start == end && size != 0 {
            return Err(BaoError::argument(
                "end",
                format!("window [{start}, {end}) is empty: a proof covers at least one group"),
            ));
        }
        let window = geometry.group_range(start, end);
        let levels = if geometry.groups >= 2 {
            Some(levels_from_proof(&geometry, window, proof, format, root)?)
        } else {
            if !proof.is_empty() {
                return Err(BaoError::malformed(format!(
                    "{format} proof is {} bytes, but a blob of one group ({size} bytes) has an empty proof",
                    proof.len()
                )));
            }
            check_single_group_root(size, root)?;
            None
        };
        Ok(Self::with_levels(geometry, root, levels, start, end))
    }

    fn with_levels(
        geometry: Geometry,
        root: &Hash,
        levels: Option<Levels>,
        start: u64,
        end: u64,
    ) -> Self {
        Self {
            geometry,
            root: *root,
            levels,
            window_start: start,
            window_end: end,
            verified_to: start,
            pending: Vec::new(),
            received: 0,
            failed: None,
        }
    }

    /// Feeds the next bytes of the window and appends the bytes of every group they complete
    /// and that checks out to `out`, in order.
    pub fn update(&mut self, data: &[u8], out: &mut Vec<u8>) -> Result<(), BaoError> {
        if self.failed.is_none() {
            out.reserve(data.len() + self.pending.len());
        }
        self.update_with(data, |verified| out.extend_from_slice(verified))
    }

    /// Like [`update`](Self::update), but hands each verified run of bytes to `release` (in
    /// order) instead of copying it. While nothing is pending (`received() == released()`), the
    /// runs are consecutive pieces of `data` itself, so a caller can pass its own buffer on
    /// without any copy.
    pub fn update_with(
        &mut self,
        data: &[u8],
        mut release: impl FnMut(&[u8]),
    ) -> Result<(), BaoError> {
        self.ensure_not_failed()?;
        let result = self.feed(data, &mut release);
        self.remember(result)
    }

    /// Ends the stream: an error if fewer than `end - start` bytes came. All verified bytes have
    /// already been handed out by `update` (the last group as soon as `end` was reached).
    pub fn finalize(&mut self) -> Result<(), BaoError> {
        self.ensure_not_failed()?;
        let result = if self.received < self.window_len() {
            let at = self.window_start + self.received;
            Err(BaoError::mismatch(format!(
                "stream too short: it ended at blob offset {at} (group {}), {} bytes before the end of the window [{}, {})",
                at / self.geometry.group_len,
                self.window_end - at,
                self.window_start,
                self.window_end
            )))
        } else {
            debug_assert!(self.pending.is_empty());
            Ok(())
        };
        self.remember(result)
    }

    /// Bytes fed so far.
    pub fn received(&self) -> u64 {
        self.received
    }

    /// Bytes verified and handed out so far.
    pub fn released(&self) -> u64 {
        self.verified_to - self.window_start
    }

    fn window_len(&self) -> u64 {
        self.window_end - self.window_start
    }

    fn ensure_not_failed(&self) -> Result<(), BaoError> {
        match &self.failed {
            Some(error) => Err(error.context("verifier already failed")),
            None => Ok(()),
        }
    }

    fn remember(&mut self, result: Result<(), BaoError>) -> Result<(), BaoError> {
        if let Err(error) = &result {
            self.failed = Some(error.clone());
        }
        result
    }

    fn feed<R: FnMut(&[u8])>(&mut self, mut data: &[u8], release: &mut R) -> Result<(), BaoError> {
        let room = self.window_len() - self.received;
        if data.len() as u64 > room {
            return Err(BaoError::mismatch(format!(
                "stream too long: the window [{}, {}) holds {} bytes, but {} bytes arrived (byte at blob offset {} is past its end)",
                self.window_start,
                self.window_end,
                self.window_len(),
                self.received + data.len() as u64,
                self.window_end
            )));
        }
        self.received += data.len() as u64;
        if !self.pending.is_empty() {
            // Complete the waiting group from the head of `data` (the only bytes copied, apart
            // from a group that `data` leaves incomplete at its end).
            let missing = (self.group_end_len() - self.pending.len() as u64) as usize;
            let take = missing.min(data.len());
            self.pending.extend_from_slice(&data[..take]);
            data = &data[take..];
            if take < missing {
                return Ok(());
            }
            let mut group = std::mem::take(&mut self.pending);
            let result = self.check_and_release(0, &group, release);
            // Keep the allocation for the next group unless a huge group made it huge.
            if group.capacity() as u64 <= MAX_SUBTREE_BYTES {
                group.clear();
                self.pending = group;
            }
            result?;
        }
        while !data.is_empty() {
            match self.largest_node(data.len() as u64) {
                Some((level, len)) => {
                    let (node, rest) = data.split_at(len as usize);
                    self.check_and_release(level, node, release)?;
                    data = rest;
                }
                None => {
                    self.pending.extend_from_slice(data);
                    break;
                }
            }
        }
        Ok(())
    }

    fn root_level(&self) -> u32 {
        self.levels.as_ref().map_or(0, Levels::root_level)
    }

    fn first_group(&self) -> u64 {
        self.verified_to / self.geometry.group_len
    }

    /// Blob offset where the node at `level` starting at group `first` ends.
    fn node_end(&self, first: u64, level: u32) -> u64 {
        self.geometry
            .groups_end(first.saturating_add(1u64 << level))
    }

    /// Bytes from `verified_to` to the end of its group.
    fn group_end_len(&self) -> u64 {
        self.node_end(self.first_group(), 0) - self.verified_to
    }

    /// The largest node starting at `verified_to` that lies inside the window and is covered
    /// by `available` bytes: its level and byte length.
    fn largest_node(&self, available: u64) -> Option<(u32, u64)> {
        let first = self.first_group();
        let alignment = if first == 0 {
            u32::MAX
        } else {
            first.trailing_zeros()
        };
        let top = alignment.min(self.root_level());
        (0..=top).rev().find_map(|level| {
            let end = self.node_end(first, level);
            let len = end - self.verified_to;
            let fits = end <= self.window_end && len <= available;
            (fits && (level == 0 || len <= MAX_SUBTREE_BYTES)).then_some((level, len))
        })
    }

    /// Whether `bytes` are the node at `level` starting at group `first`.
    fn node_matches(&self, first: u64, level: u32, bytes: &[u8]) -> bool {
        match &self.levels {
            Some(levels) if level < levels.root_level() => {
                let offset = self.geometry.group_start(first);
                subtree_cv_wide(bytes, offset) == *levels.cv(level, first >> level)
            }
            _ => hash(bytes) == self.root,
        }
    }

    /// Checks the node at `verified_to` and releases it, or finds its first damaged group.
    fn check_and_release<R: FnMut(&[u8])>(
        &mut self,
        level: u32,
        bytes: &[u8],
        release: &mut R,
    ) -> Result<(), BaoError> {
        let first = self.first_group();
        if self.node_matches(first, level, bytes) {
            release(bytes);
            self.verified_to += bytes.len() as u64;
            return Ok(());
        }
        Err(self.locate_damage(level, bytes, release))
    }

    /// Descends into a node that failed its check, releasing the intact groups before the
    /// first damaged one, and describes that group.
    fn locate_damage<R: FnMut(&[u8])>(
        &mut self,
        level: u32,
        bytes: &[u8],
        release: &mut R,
    ) -> BaoError {
        let first = self.first_group();
        if level == 0 {
            let start = self.verified_to;
            return BaoError::mismatch(format!(
                "data does not match the bao at group {first} (blob bytes {start}..{}, stream offset {})",
                start + bytes.len() as u64,
                start - self.window_start
            ));
        }
        let child = level - 1;
        let left_len = (self.node_end(first, child) - self.verified_to) as usize;
        if left_len >= bytes.len() {
            // A right-edge node with only a left child: the same node one level down.
            return self.locate_damage(child, bytes, release);
        }
        let (left, right) = bytes.split_at(left_len);
        if !self.node_matches(first, child, left) {
            return self.locate_damage(child, left, release);
        }
        release(left);
        self.verified_to += left_len as u64;
        self.locate_damage(child, right, release)
    }
}

fn check_window(geometry: &Geometry, shift: u8, start: u64, end: u64) -> Result<(), BaoError> {
    let size = geometry.size;
    let group_len = geometry.group_len;
    if start > end || end > size {
        return Err(BaoError::argument(
            "end",
            format!("window [{start}, {end}) is not a range inside the blob of {size} bytes"),
        ));
    }
    if !start.is_multiple_of(group_len) {
        return Err(BaoError::argument(
            "start",
            format!("window start {start} is not on a group boundary (group = {group_len} bytes at shift {shift}); round windows with window()"),
        ));
    }
    if !end.is_multiple_of(group_len) && end != size {
        return Err(BaoError::argument(
            "end",
            format!("window end {end} is neither on a group boundary (group = {group_len} bytes at shift {shift}) nor the blob size {size}; round windows with window()"),
        ));
    }
    Ok(())
}

/// A blob of one group has no bao: only the empty blob's root can be checked before its data.
fn check_single_group_root(size: u64, root: &Hash) -> Result<(), BaoError> {
    if size == 0 && hash(&[]) != *root {
        return Err(BaoError::mismatch(
            "root does not match the empty blob (size 0 claimed)",
        ));
    }
    Ok(())
}
