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

/// BLAKE3's initial chaining value (its key when hashing without one).
const IV: [u32; 8] = [
    0x6A09E667, 0xBB67AE85, 0x3C6EF372, 0xA54FF53A, 0x510E527F, 0x9B05688C, 0x1F83D9AB, 0x5BE0CD19,
];
/// Block flags of a chunk's first and last block.
const CHUNK_START: u8 = 1 << 0;
const CHUNK_END: u8 = 1 << 1;

/// Chaining values of the groups of `data`, which starts at blob byte `offset` (a group
/// boundary): one per `group_len` bytes, the last perhaps shorter. None of them may be the root.
///
/// Groups of one chunk (shift 0) are hashed many at once with SIMD: the public API hashes a
/// chunk per call, one block after another, ~8x slower. That path is BLAKE3's own `hash_many`
/// (`blake3::platform`, unstable: the crate is pinned to 1.8.x for it), checked against the
/// one-call-per-group path by the tests below and the bao vectors.
pub(crate) fn cvs_of_groups(data: &[u8], offset: u64, group_len: u64) -> Vec<Cv> {
    const CHUNK: usize = CHUNK_LEN as usize;
    let group_len = group_len as usize;
    if group_len != CHUNK {
        return data
            .chunks(group_len)
            .enumerate()
            .map(|(index, group)| subtree_cv(group, offset + (index * group_len) as u64))
            .collect();
    }
    let whole: Vec<&[u8; CHUNK]> = data
        .chunks_exact(CHUNK)
        .map(|chunk| chunk.try_into().expect("chunks_exact gives whole chunks"))
        .collect();
    let mut bytes = vec![0u8; whole.len() * 32];
    blake3::platform::Platform::detect().hash_many(
        &whole,
        &IV,
        offset / CHUNK_LEN,
        blake3::IncrementCounter::Yes,
        0,
        CHUNK_START,
        CHUNK_END,
        &mut bytes,
    );
    let mut cvs: Vec<Cv> = bytes
        .chunks_exact(32)
        .map(|cv| {
            cv.try_into()
                .expect("chunks_exact gives whole chaining values")
        })
        .collect();
    let rest = &data[whole.len() * CHUNK..];
    if !rest.is_empty() {
        cvs.push(subtree_cv(rest, offset + (whole.len() * CHUNK) as u64));
    }
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

/// Plain BLAKE3 of `data`: the root of a blob.
pub fn hash(data: &[u8]) -> Hash {
    *blake3::hash(data).as_bytes()
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

    #[test]
    fn cvs_of_groups_are_the_cvs_of_each_group() {
        let data: Vec<u8> = (0..70_000u32).map(|i| (i % 249) as u8).collect();
        for group_len in [CHUNK_LEN, 2 * CHUNK_LEN, 16 * CHUNK_LEN] {
            for (start, end) in [(0, data.len()), (3 * 16 * 1024, data.len()), (0, 1024)] {
                let offset = start as u64;
                let expected: Vec<Cv> = data[start..end]
                    .chunks(group_len as usize)
                    .enumerate()
                    .map(|(index, group)| subtree_cv(group, offset + index as u64 * group_len))
                    .collect();
                assert_eq!(
                    cvs_of_groups(&data[start..end], offset, group_len),
                    expected
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
