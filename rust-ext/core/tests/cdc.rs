//! FastCDC cut lengths: complete, bounded, and the same whether fed at once or in pieces.

mod support;

use baostore_core::cdc::cut_lengths;
use proptest::prelude::*;
use proptest::sample::Index;
use support::{cuts, pseudo_random, split};

/// Valid FastCDC parameters: min <= avg <= max within the crate's limits.
fn sizes() -> impl Strategy<Value = (u32, u32, u32)> {
    (64u32..=4096, 256u32..=16_384, 1024u32..=65_536).prop_map(|(a, b, c)| {
        let mut sizes = [a, b, c];
        sizes.sort_unstable();
        let [min, avg, max] = sizes;
        (min, avg.max(256), max.max(1024))
    })
}

fn data() -> impl Strategy<Value = Vec<u8>> {
    (0usize..300_000, any::<u64>()).prop_map(|(len, seed)| pseudo_random(len, seed))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn lengths_cover_the_data_within_bounds(data in data(), (min, avg, max) in sizes()) {
        let lengths = cut_lengths(&data, min, avg, max, true).unwrap();
        prop_assert_eq!(lengths.iter().map(|&l| l as usize).sum::<usize>(), data.len());
        if let Some((_, all_but_last)) = lengths.split_last() {
            // fastcdc's v2020 scans two bytes per step from min / 2 * 2, so with an odd min a
            // chunk can end one byte before it: the bound it keeps is min rounded down to even.
            let floor = min & !1;
            prop_assert!(all_but_last.iter().all(|&l| l >= floor && l <= max), "{:?}", lengths);
        }
        prop_assert!(lengths.iter().all(|&l| l > 0 && l <= max));
    }

    #[test]
    fn feeding_in_pieces_reproduces_the_one_shot_cuts(
        data in data(), (min, avg, max) in sizes(), cuts in cuts(),
    ) {
        let expected = cut_lengths(&data, min, avg, max, true).unwrap();
        // A caller that keeps the unfinished tail and appends the next piece to it.
        let mut lengths = Vec::new();
        let mut tail: Vec<u8> = Vec::new();
        for piece in split(&data, &cuts) {
            tail.extend_from_slice(piece);
            let done = cut_lengths(&tail, min, avg, max, false).unwrap();
            let consumed: usize = done.iter().map(|&l| l as usize).sum();
            tail.drain(..consumed);
            lengths.extend(done);
        }
        lengths.extend(cut_lengths(&tail, min, avg, max, true).unwrap());
        prop_assert_eq!(lengths, expected);
    }

    #[test]
    fn nonsense_sizes_are_errors_not_panics(
        min in any::<u32>(), avg in any::<u32>(), max in any::<u32>(), data in data(), last: Index,
    ) {
        let data = &data[..last.index(data.len() + 1).min(5000)];
        let valid = (64..=1 << 20).contains(&min)
            && (256..=1 << 22).contains(&avg)
            && (1024..=1 << 24).contains(&max)
            && min <= avg
            && avg <= max;
        prop_assert_eq!(cut_lengths(data, min, avg, max, true).is_ok(), valid);
    }
}

#[test]
fn known_bad_sizes_name_the_problem() {
    let error = cut_lengths(b"abc", 8, 16, 32, true).unwrap_err();
    assert!(error.to_string().contains("min"), "{error}");
    let error = cut_lengths(b"abc", 4096, 1024, 65536, true).unwrap_err();
    assert!(error.to_string().contains("min <= avg <= max"), "{error}");
}

#[test]
fn non_final_feeds_hold_back_the_last_chunk() {
    let data = pseudo_random(100_000, 3);
    let all = cut_lengths(&data, 2048, 8192, 32768, true).unwrap();
    let held = cut_lengths(&data, 2048, 8192, 32768, false).unwrap();
    assert_eq!(held.as_slice(), &all[..all.len() - 1]);
    assert!(cut_lengths(&[], 2048, 8192, 32768, false)
        .unwrap()
        .is_empty());
    assert!(cut_lengths(&[], 2048, 8192, 32768, true)
        .unwrap()
        .is_empty());
}
