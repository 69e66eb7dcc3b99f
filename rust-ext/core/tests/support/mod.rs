//! Helpers shared by the property tests.

#![allow(dead_code)]

use baostore_core::{BaoError, BaoFormat, Verifier};
use proptest::prelude::*;
use proptest::sample::Index;

/// Deterministic pseudo-random bytes: cheap to make in debug builds and shrinkable by length.
pub fn pseudo_random(len: usize, seed: u64) -> Vec<u8> {
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

/// Blob lengths up to ~200 KiB, often right at a chunk boundary or one byte either side.
pub fn blob_len() -> impl Strategy<Value = usize> {
    prop_oneof![
        0usize..200_000,
        (0usize..=196, -1isize..=1)
            .prop_map(|(chunks, delta)| { (chunks * 1024).saturating_add_signed(delta) }),
    ]
}

pub fn blob() -> impl Strategy<Value = Vec<u8>> {
    (blob_len(), any::<u64>()).prop_map(|(len, seed)| pseudo_random(len, seed))
}

pub fn format() -> impl Strategy<Value = BaoFormat> {
    prop_oneof![Just(BaoFormat::PreOrder), Just(BaoFormat::Leaves)]
}

/// Mostly shifts where ~200 KiB spans many groups, sometimes any shift up to the maximum.
pub fn shift() -> impl Strategy<Value = u8> {
    prop_oneof![4 => 0u8..=6, 1 => 7u8..=baostore_core::MAX_SHIFT]
}

/// Up to eight cut points, as positions into whatever is being split.
pub fn cuts() -> impl Strategy<Value = Vec<Index>> {
    proptest::collection::vec(any::<Index>(), 0..8)
}

/// `data` split at the cut points (sorted; empty pieces included).
pub fn split<'a>(data: &'a [u8], cuts: &[Index]) -> Vec<&'a [u8]> {
    let mut points: Vec<usize> = cuts.iter().map(|cut| cut.index(data.len() + 1)).collect();
    points.sort_unstable();
    let mut pieces = Vec::new();
    let mut previous = 0;
    for point in points.into_iter().chain([data.len()]) {
        pieces.push(&data[previous..point]);
        previous = point;
    }
    pieces
}

pub fn group_len(shift: u8) -> usize {
    1024 << shift
}

/// What a verification run produced: every byte released (including those released by a call
/// that then failed) and the first error, if any.
pub struct Run {
    pub released: Vec<u8>,
    pub error: Option<BaoError>,
}

/// Builds a verifier and feeds it `pieces`, then finalizes; stops at the first error.
#[allow(clippy::too_many_arguments)]
pub fn run_verifier(
    root: &[u8; 32],
    size: u64,
    bao: &[u8],
    shift: u8,
    format: BaoFormat,
    start: u64,
    end: Option<u64>,
    pieces: &[&[u8]],
) -> Run {
    let mut released = Vec::new();
    let mut verifier = match Verifier::new(root, size, bao, shift, format, start, end) {
        Ok(verifier) => verifier,
        Err(error) => {
            return Run {
                released,
                error: Some(error),
            }
        }
    };
    for piece in pieces {
        if let Err(error) = verifier.update(piece, &mut released) {
            return Run {
                released,
                error: Some(error),
            };
        }
        assert_eq!(verifier.released(), released.len() as u64);
    }
    let error = verifier.finalize().err();
    Run { released, error }
}
