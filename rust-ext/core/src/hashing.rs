//! The three BLAKE3 hazmat operations everything else is built from.

use blake3::hazmat::{merge_subtrees_non_root, merge_subtrees_root, HasherExt, Mode};

use crate::format::{Hash, CHUNK_LEN};

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

/// [`subtree_cv`] computed as [`cvs_of_groups`] does: the chunks many at once, then the parents a
/// level at a time (a last node without a partner moves up, which is how BLAKE3's left-balanced
/// tree treats its right edge), ~1.2x as fast as a `Hasher` on a subtree of many chunks.
pub(crate) fn subtree_cv_wide(data: &[u8], offset: u64) -> Cv {
    debug_assert!(!data.is_empty());
    let whole = data.len() - data.len() % CHUNK_LEN as usize;
    if whole < 2 * CHUNK_LEN as usize {
        return subtree_cv(data, offset);
    }
    let mut level = chunk_cvs(&data[..whole], offset);
    if whole < data.len() {
        level.push(subtree_cv(&data[whole..], offset + whole as u64));
    }
    merge_down_to(level, 1)[0]
}

/// One pairing round, its parents hashed at once (SIMD): node `i` of the next level covers
/// nodes `2i` and `2i + 1` of this one, and a last node without a partner moves up unchanged,
/// which is exactly how BLAKE3's left-balanced tree treats its right edge.
pub(crate) fn pair_up(level: &[Cv]) -> Vec<Cv> {
    let pairs = level.len() / 2;
    let mut parents = vec![[0u8; 32]; level.len().div_ceil(2)];
    parent_cvs(level[..2 * pairs].as_flattened(), &mut parents[..pairs]);
    if level.len() % 2 == 1 {
        parents[pairs] = level[level.len() - 1];
    }
    parents
}

/// Pairing rounds (see [`pair_up`]) until at most `nodes` are left.
fn merge_down_to(mut level: Vec<Cv>, nodes: usize) -> Vec<Cv> {
    while level.len() > nodes {
        level = pair_up(&level);
    }
    level
}

/// BLAKE3's initial chaining value (its key when hashing without one).
const IV: [u32; 8] = [
    0x6A09E667, 0xBB67AE85, 0x3C6EF372, 0xA54FF53A, 0x510E527F, 0x9B05688C, 0x1F83D9AB, 0x5BE0CD19,
];
/// Block flags of a chunk's first and last block.
const CHUNK_START: u8 = 1 << 0;
const CHUNK_END: u8 = 1 << 1;

/// Whole groups hashed per round of [`cvs_of_groups`]: bounds the chunk chaining values held
/// at once (32 bytes per KiB: 128 KiB).
const BATCH_BYTES: u64 = 4 << 20;

/// Chaining values of the groups of `data`, which starts at blob byte `offset` (a group
/// boundary): one per `group_len` bytes, the last perhaps shorter. None of them may be the root.
///
/// The chunks of whole groups are hashed many at once, then their parents a level at a time,
/// both with BLAKE3's own `hash_many` (`blake3::platform`, unstable: the crate is pinned to
/// 1.8.x for it): ~1.2x of hashing each group with a `Hasher` call at shift >= 4, and ~8x at
/// shift 0, where a call per 1 KiB group fills one SIMD lane. Checked against the
/// one-call-per-group path by the tests below and the bao vectors.
pub(crate) fn cvs_of_groups(data: &[u8], offset: u64, group_len: u64) -> Vec<Cv> {
    let whole = data.len() - data.len() % group_len as usize;
    let batch = (BATCH_BYTES.max(group_len) / group_len * group_len) as usize;
    let mut cvs = Vec::with_capacity(data.len().div_ceil(group_len as usize));
    for (index, groups) in data[..whole].chunks(batch).enumerate() {
        let mut level = chunk_cvs(groups, offset + (index * batch) as u64);
        // A whole group's chunks form a perfect subtree, and groups start on even positions at
        // every level: merging neighbours level by level never crosses a group.
        let mut span = CHUNK_LEN;
        while span < group_len {
            level = pair_up(&level);
            span *= 2;
        }
        cvs.extend_from_slice(&level);
    }
    if whole < data.len() {
        cvs.push(subtree_cv(&data[whole..], offset + whole as u64));
    }
    cvs
}

/// Chaining values of the chunks of `data` (whole chunks; it starts at blob byte `offset`, a
/// chunk boundary), many at once.
fn chunk_cvs(data: &[u8], offset: u64) -> Vec<Cv> {
    const CHUNK: usize = CHUNK_LEN as usize;
    debug_assert_eq!(data.len() % CHUNK, 0);
    let chunks: Vec<&[u8; CHUNK]> = data
        .chunks_exact(CHUNK)
        .map(|chunk| chunk.try_into().expect("chunks_exact gives whole chunks"))
        .collect();
    let mut cvs = vec![[0u8; 32]; chunks.len()];
    blake3::platform::Platform::detect().hash_many(
        &chunks,
        &IV,
        offset / CHUNK_LEN,
        blake3::IncrementCounter::Yes,
        0,
        CHUNK_START,
        CHUNK_END,
        cvs.as_flattened_mut(),
    );
    cvs
}

/// Pairs checked a batch at a time, their parents hashed many at once by [`parent_cvs`]; bounds
/// the memory a check over a whole bao takes beside it.
pub(crate) const CHECK_BATCH: usize = 4096;

/// Block flag of a parent node.
const PARENT: u8 = 1 << 2;

/// Chaining values of many non-root parents at once, with SIMD (BLAKE3's `hash_many`, as BLAKE3
/// itself merges parents): `pairs` is consecutive 64-byte pairs (`left CV ‖ right CV`), `out`
/// gets one chaining value per pair. Hashing parents one call each costs ~8x as much, which is
/// what a proof of 1 KiB groups (a pair per 1 KiB) is made of.
pub(crate) fn parent_cvs(pairs: &[u8], out: &mut [Cv]) {
    const PAIR: usize = 64;
    debug_assert_eq!(pairs.len(), out.len() * PAIR);
    let inputs: Vec<&[u8; PAIR]> = pairs
        .chunks_exact(PAIR)
        .map(|pair| pair.try_into().expect("chunks_exact gives whole pairs"))
        .collect();
    blake3::platform::Platform::detect().hash_many(
        &inputs,
        &IV,
        0,
        blake3::IncrementCounter::No,
        PARENT,
        0,
        0,
        out.as_flattened_mut(),
    );
}

/// Chaining value of a parent node, root-finalized when it is the root of the blob.
pub(crate) fn parent_cv(left: &Cv, right: &Cv, is_root: bool) -> Cv {
    if is_root {
        *merge_subtrees_root(left, right, Mode::Hash).as_bytes()
    } else {
        merge_subtrees_non_root(left, right, Mode::Hash)
    }
}

/// Hashes a blob fed in pieces group by group. A full group is held back until more data shows
/// it is not the last one, because the only group of a one-group blob is the root itself.
pub(crate) struct GroupHasher {
    group_len: u64,
    current: blake3::Hasher,
    current_len: u64,
    size: u64,
    finished: u64,
}

/// The last group of a blob, once it is known to be the last.
pub(crate) enum LastGroup {
    /// The blob is this one group: its root hash.
    Only(Hash),
    /// The chaining value of the last of several groups.
    Last(Cv),
}

impl GroupHasher {
    pub fn new(group_len: u64) -> Self {
        Self {
            group_len,
            current: blake3::Hasher::new(),
            current_len: 0,
            size: 0,
            finished: 0,
        }
    }

    /// Feeds the next bytes (large pieces are hashed straight from `data`), calling `finished`
    /// with the chaining value of every group they show is not the last, in order.
    pub fn update(&mut self, mut data: &[u8], mut finished: impl FnMut(&mut Self, Cv)) {
        while !data.is_empty() {
            if self.current_len == self.group_len {
                let cv = self.current.finalize_non_root();
                self.current = blake3::Hasher::new();
                self.current.set_input_offset(self.size);
                self.current_len = 0;
                self.finished += 1;
                finished(self, cv);
            }
            if self.current_len == 0 && data.len() as u64 > self.group_len {
                // Whole groups with more data after them are not the last: hashed many at once.
                let count = (data.len() as u64 - 1) / self.group_len;
                let (groups, rest) = data.split_at((count * self.group_len) as usize);
                for cv in cvs_of_groups(groups, self.size, self.group_len) {
                    self.size += self.group_len;
                    self.finished += 1;
                    finished(self, cv);
                }
                self.current = blake3::Hasher::new();
                self.current.set_input_offset(self.size);
                data = rest;
                continue;
            }
            let room = self.group_len - self.current_len;
            let take = room.min(data.len() as u64) as usize;
            let (piece, rest) = data.split_at(take);
            self.current.update(piece);
            self.current_len += take as u64;
            self.size += take as u64;
            data = rest;
        }
    }

    /// The last group, now that no more data comes.
    pub fn finish(&self) -> LastGroup {
        if self.finished == 0 {
            LastGroup::Only(*self.current.finalize().as_bytes())
        } else {
            LastGroup::Last(self.current.finalize_non_root())
        }
    }

    /// Bytes fed so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Groups known not to be the last.
    pub fn finished(&self) -> u64 {
        self.finished
    }
}

/// Plain BLAKE3 of `data`: the root of a blob. Computed as the bao's groups are (see
/// [`cvs_of_groups`]): subtrees of up to 4 MiB aligned to the root's left half, then their
/// parents, the last merge finalized as the root: ~1.2x of `blake3::hash` on one thread.
pub fn hash(data: &[u8]) -> Hash {
    if data.len() <= CHUNK_LEN as usize {
        return *blake3::hash(data).as_bytes();
    }
    let left_half = blake3::hazmat::left_subtree_len(data.len() as u64);
    let halves = merge_down_to(cvs_of_groups(data, 0, left_half.min(BATCH_BYTES)), 2);
    parent_cv(&halves[0], &halves[1], true)
}

/// Plain BLAKE3 of data fed in pieces: what a writer checks a remote store's answer against.
#[derive(Clone, Default)]
pub struct Hasher {
    inner: blake3::Hasher,
}

impl Hasher {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds the next bytes.
    pub fn update(&mut self, data: &[u8]) {
        self.inner.update(data);
    }

    /// The digest of everything fed so far (the hasher can go on).
    pub fn finalize(&self) -> Hash {
        *self.inner.finalize().as_bytes()
    }

    /// Bytes fed so far.
    pub fn size(&self) -> u64 {
        self.inner.count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cvs_one_call_per_group(data: &[u8], offset: u64, group_len: u64) -> Vec<Cv> {
        data.chunks(group_len as usize)
            .enumerate()
            .map(|(index, group)| subtree_cv(group, offset + index as u64 * group_len))
            .collect()
    }

    #[test]
    fn wide_subtree_cvs_are_subtree_cvs() {
        let data: Vec<u8> = (0..300_000u32).map(|i| (i % 253) as u8).collect();
        for len in [
            1usize,
            1023,
            1024,
            1025,
            2048,
            3000,
            4096,
            5 * 1024 + 1,
            16 * 1024,
            65_536,
        ] {
            // A subtree starts at a multiple of its size; one chunk at offset 0 would be a
            // whole blob, whose chaining value is its root.
            let align = len.next_power_of_two().max(1024);
            let offsets = [align, 2 * align];
            for offset in offsets
                .iter()
                .chain(&[0])
                .filter(|&&at| at > 0 || len > 1024)
            {
                let piece = &data[*offset..offset + len];
                assert_eq!(
                    subtree_cv_wide(piece, *offset as u64),
                    subtree_cv(piece, *offset as u64),
                    "{len} bytes at {offset}"
                );
            }
        }
    }

    #[test]
    fn cvs_of_groups_across_batches_and_groups_larger_than_a_batch() {
        let data: Vec<u8> = (0..(9u32 << 20) + 777)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8)
            .collect();
        for shift in [0u32, 4, 12, 13] {
            let group_len = CHUNK_LEN << shift;
            for offset in [0usize, group_len as usize] {
                assert_eq!(
                    cvs_of_groups(&data[offset..], offset as u64, group_len),
                    cvs_one_call_per_group(&data[offset..], offset as u64, group_len),
                    "shift {shift}, offset {offset}"
                );
            }
        }
    }

    #[test]
    fn cvs_of_groups_are_the_cvs_of_each_group() {
        let data: Vec<u8> = (0..70_000u32).map(|i| (i % 249) as u8).collect();
        for group_len in [
            CHUNK_LEN,
            2 * CHUNK_LEN,
            4 * CHUNK_LEN,
            8 * CHUNK_LEN,
            16 * CHUNK_LEN,
        ] {
            for (start, end) in [
                (0, data.len()),
                (3 * 16 * 1024, data.len()),
                (0, 1024),
                (8 * 1024, 8 * 1024 + 5000),
                (16 * 1024, 24 * 1024),
            ] {
                let offset = start as u64;
                assert_eq!(
                    cvs_of_groups(&data[start..end], offset, group_len),
                    cvs_one_call_per_group(&data[start..end], offset, group_len)
                );
            }
        }
    }

    #[test]
    fn parent_cvs_are_the_cvs_of_each_parent() {
        let cvs: Vec<Cv> = (0..37u8).map(|i| [i.wrapping_mul(91); 32]).collect();
        for count in [0, 1, 2, 7, 8, 9, 17, 36] {
            let pairs: Vec<u8> = cvs[..count + 1]
                .windows(2)
                .flat_map(|pair| pair.concat())
                .collect();
            let mut out = vec![[0u8; 32]; count];
            parent_cvs(&pairs, &mut out);
            let expected: Vec<Cv> = cvs[..count + 1]
                .windows(2)
                .map(|pair| parent_cv(&pair[0], &pair[1], false))
                .collect();
            assert_eq!(out, expected, "{count} parents");
        }
    }

    #[test]
    fn hash_is_blake3() {
        let data: Vec<u8> = (0..(9u32 << 20) + 5)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 9) as u8)
            .collect();
        for len in [
            0,
            1,
            1024,
            1025,
            2048,
            2049,
            5000,
            1 << 20,
            (4 << 20) + 1,
            9 << 20,
            data.len(),
        ] {
            assert_eq!(
                hash(&data[..len]),
                *blake3::hash(&data[..len]).as_bytes(),
                "{len}"
            );
        }
    }

    #[test]
    fn hasher_in_pieces_equals_hash() {
        let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        let mut hasher = Hasher::new();
        for piece in data.chunks(777) {
            hasher.update(piece);
        }
        assert_eq!(hasher.finalize(), hash(&data));
        assert_eq!(hasher.size(), data.len() as u64);
    }
}
