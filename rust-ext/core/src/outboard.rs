//! Computing a bao: in one call over data in memory, or streamed through [`OutboardBuilder`].
//!
//! The chunks of all groups are hashed many at once and their parents a level at a time, with
//! SIMD (`hashing::cvs_of_groups`, BLAKE3's own `hash_many`): ~1.2x of `blake3::hash` on one
//! thread from shift 2 up, ~0.9x at shift 0 (a parent per KiB to write out as well).

use blake3::hazmat::left_subtree_len;

use crate::codec::encode;
use crate::error::BaoError;
use crate::format::{BaoFormat, Hash, CHUNK_LEN};
use crate::hashing::{cvs_of_groups, parent_cv, subtree_cv_wide, Cv, GroupHasher, LastGroup};
use crate::tree::Geometry;

/// Below this many bytes per thread, spawning threads costs more than it saves.
const MIN_BYTES_PER_THREAD: usize = 1 << 20;

/// Byte length of the bao of a blob of `size` bytes at `shift` in `format`.
pub fn outboard_size(size: u64, shift: u8, format: BaoFormat) -> Result<u64, BaoError> {
    Ok(Geometry::new(size, shift)?.outboard_len(format))
}

/// Root hash and bao of `data` at `shift` in `format`, hashing on up to `threads` threads.
pub fn outboard(
    data: &[u8],
    shift: u8,
    format: BaoFormat,
    threads: usize,
) -> Result<(Hash, Vec<u8>), BaoError> {
    outboard_split(data, shift, format, threads, MIN_BYTES_PER_THREAD)
}

/// [`outboard`] with the smallest share of bytes worth a thread as a parameter, so tests can
/// exercise the threaded paths on small inputs.
fn outboard_split(
    data: &[u8],
    shift: u8,
    format: BaoFormat,
    threads: usize,
    min_bytes_per_thread: usize,
) -> Result<(Hash, Vec<u8>), BaoError> {
    let geometry = Geometry::new(data.len() as u64, shift)?;
    if threads == 0 {
        return Err(BaoError::argument("threads", "threads must be at least 1"));
    }
    let min_bytes_per_thread = min_bytes_per_thread.max(1);
    let split = Split {
        threads: threads.min((data.len() / min_bytes_per_thread).max(1)),
        min_bytes_per_thread,
    };
    if geometry.groups == 1 {
        return Ok((hash_subtree(data, 0, true, split), Vec::new()));
    }
    let cvs = group_cvs(data, &geometry, split);
    Ok(encode(&cvs, format))
}

/// How hashing is spread over threads.
#[derive(Clone, Copy)]
struct Split {
    threads: usize,
    min_bytes_per_thread: usize,
}

/// Chaining values of all groups of `data` (at least two groups).
fn group_cvs(data: &[u8], geometry: &Geometry, split: Split) -> Vec<Cv> {
    let groups = geometry.groups as usize;
    let mut cvs = vec![[0u8; 32]; groups];
    if split.threads <= 1 {
        fill_group_cvs(&mut cvs, 0, data, geometry.group_len);
    } else if groups >= split.threads {
        // Contiguous runs of groups per thread; the parents above them are merged afterwards
        // (one compression each, a negligible share of the work).
        let per_thread = groups.div_ceil(split.threads);
        std::thread::scope(|scope| {
            for (run, run_cvs) in cvs.chunks_mut(per_thread).enumerate() {
                let first_group = (run * per_thread) as u64;
                scope.spawn(move || fill_group_cvs(run_cvs, first_group, data, geometry.group_len));
            }
        });
    } else {
        // Fewer (huge) groups than threads: split inside each group instead.
        for (index, cv) in cvs.iter_mut().enumerate() {
            let (start, end) = group_bounds(index as u64, data.len(), geometry.group_len);
            *cv = hash_subtree(&data[start..end], start as u64, false, split);
        }
    }
    cvs
}

/// Byte range of group `index` within `data`.
fn group_bounds(index: u64, data_len: usize, group_len: u64) -> (usize, usize) {
    let start = index * group_len;
    let end = (start + group_len).min(data_len as u64);
    (start as usize, end as usize)
}

fn fill_group_cvs(cvs: &mut [Cv], first_group: u64, data: &[u8], group_len: u64) {
    let (start, _) = group_bounds(first_group, data.len(), group_len);
    let (_, end) = group_bounds(first_group + cvs.len() as u64 - 1, data.len(), group_len);
    cvs.copy_from_slice(&cvs_of_groups(&data[start..end], start as u64, group_len));
}

/// Chaining value (or root hash, if `is_root`) of the aligned subtree `data` at `offset`,
/// split at its left-subtree boundary over the threads of `split` when it is large.
fn hash_subtree(data: &[u8], offset: u64, is_root: bool, split: Split) -> Cv {
    let worth_splitting = data.len() as u64 > CHUNK_LEN
        && data.len() >= 2 * split.min_bytes_per_thread
        && split.threads > 1;
    if !worth_splitting {
        return if is_root {
            *blake3::hash(data).as_bytes()
        } else {
            subtree_cv_wide(data, offset)
        };
    }
    let left_len = left_subtree_len(data.len() as u64);
    let (left_data, right_data) = data.split_at(left_len as usize);
    let right_split = Split {
        threads: split.threads / 2,
        ..split
    };
    let left_split = Split {
        threads: split.threads - right_split.threads,
        ..split
    };
    let (left, right) = std::thread::scope(|scope| {
        let right =
            scope.spawn(move || hash_subtree(right_data, offset + left_len, false, right_split));
        let left = hash_subtree(left_data, offset, false, left_split);
        (left, right.join().expect("hashing thread panicked"))
    });
    parent_cv(&left, &right, is_root)
}

/// Builds a bao from data fed in pieces of any size. It keeps only the chaining values of the
/// finished groups (32 bytes each) and a hasher for the current group, never the data.
pub struct OutboardBuilder {
    format: BaoFormat,
    groups: GroupHasher,
    finished_groups: Vec<Cv>,
}

impl OutboardBuilder {
    pub fn new(shift: u8, format: BaoFormat) -> Result<Self, BaoError> {
        let geometry = Geometry::new(0, shift)?;
        Ok(Self {
            format,
            groups: GroupHasher::new(geometry.group_len),
            finished_groups: Vec::new(),
        })
    }

    /// Feeds the next bytes of the blob. Large pieces are hashed straight from `data`.
    pub fn update(&mut self, data: &[u8]) {
        let finished_groups = &mut self.finished_groups;
        self.groups.update(data, |_, cv| finished_groups.push(cv));
    }

    /// Root hash and bao of everything fed, the same as [`outboard`] over the whole blob.
    pub fn finalize(mut self) -> (Hash, Vec<u8>) {
        match self.groups.finish() {
            LastGroup::Only(root) => (root, Vec::new()),
            LastGroup::Last(cv) => {
                self.finished_groups.push(cv);
                encode(&self.finished_groups, self.format)
            }
        }
    }

    /// Bytes fed so far.
    pub fn size(&self) -> u64 {
        self.groups.size()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn pseudo_random(len: usize, seed: u64) -> Vec<u8> {
        let mut state = seed;
        (0..len)
            .map(|_| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                (state >> 56) as u8
            })
            .collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        /// Every threaded path (runs of groups; splitting inside huge groups or a one-group
        /// blob) gives the single-threaded result.
        #[test]
        fn threads_do_not_change_the_result(
            len in 0usize..120_000,
            seed: u64,
            shift in 0u8..=8,
            threads in 2usize..=4,
            min_bytes_per_thread in 1usize..20_000,
            leaves: bool,
        ) {
            let data = pseudo_random(len, seed);
            let format = if leaves { BaoFormat::Leaves } else { BaoFormat::PreOrder };
            let single = outboard_split(&data, shift, format, 1, MIN_BYTES_PER_THREAD).unwrap();
            let threaded =
                outboard_split(&data, shift, format, threads, min_bytes_per_thread).unwrap();
            prop_assert_eq!(threaded, single);
        }
    }

    #[test]
    fn zero_threads_is_an_error() {
        assert!(outboard(b"abc", 4, BaoFormat::PreOrder, 0).is_err());
    }
}
