//! Property tests of the public API: round trips, tamper detection, streaming, windows,
//! coarsening, format conversion, and a cross-check against bao-tree.

mod support;

use bao_tree::io::outboard::PreOrderMemOutboard;
use bao_tree::BlockSize;
use baostore_core::{
    coarsen, convert_format, hash, outboard, outboard_size, BaoFormat, OutboardBuilder, Verifier,
};
use proptest::prelude::*;
use proptest::sample::Index;
use support::{blob, cuts, format, group_len, run_verifier, shift, split};

fn config() -> ProptestConfig {
    ProptestConfig::with_cases(128)
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn verifier_returns_exactly_the_data(
        data in blob(), shift in shift(), format in format(), cuts in cuts(),
    ) {
        let (root, bao) = outboard(&data, shift, format, 1).unwrap();
        prop_assert_eq!(bao.len() as u64, outboard_size(data.len() as u64, shift, format).unwrap());
        let pieces = split(&data, &cuts);
        let run = run_verifier(&root, data.len() as u64, &bao, shift, format, 0, None, &pieces);
        prop_assert_eq!(run.error, None);
        prop_assert!(run.released == data);
    }

    #[test]
    fn groups_are_released_as_soon_as_they_are_complete(
        data in blob(), shift in shift(), format in format(), cuts in cuts(),
    ) {
        let (root, bao) = outboard(&data, shift, format, 1).unwrap();
        let mut verifier =
            Verifier::new(&root, data.len() as u64, &bao, shift, format, 0, None).unwrap();
        let mut released = Vec::new();
        for piece in split(&data, &cuts) {
            verifier.update(piece, &mut released).unwrap();
            let received = verifier.received() as usize;
            let complete = if received == data.len() {
                received
            } else {
                received / group_len(shift) * group_len(shift)
            };
            prop_assert_eq!(released.len(), complete);
        }
        verifier.finalize().unwrap();
        prop_assert!(released == data);
    }

    #[test]
    fn update_with_hands_out_runs_of_the_fed_buffer(
        data in blob(), shift in shift(), format in format(), cuts in cuts(),
    ) {
        let (root, bao) = outboard(&data, shift, format, 1).unwrap();
        let mut verifier =
            Verifier::new(&root, data.len() as u64, &bao, shift, format, 0, None).unwrap();
        let mut released = Vec::new();
        for piece in split(&data, &cuts) {
            let nothing_pending = verifier.received() == verifier.released();
            let mut offset_in_piece = 0;
            verifier
                .update_with(piece, |run| {
                    if nothing_pending {
                        // The run is the next stretch of `piece` itself, not a copy.
                        let expected = &piece[offset_in_piece..offset_in_piece + run.len()];
                        assert!(std::ptr::eq(run.as_ptr(), expected.as_ptr()));
                        offset_in_piece += run.len();
                    }
                    released.extend_from_slice(run);
                })
                .unwrap();
            prop_assert_eq!(verifier.released(), released.len() as u64);
        }
        verifier.finalize().unwrap();
        prop_assert!(released == data);
    }

    #[test]
    fn a_flipped_data_bit_is_caught_before_its_group_is_released(
        data in blob().prop_filter("non-empty", |d| !d.is_empty()),
        shift in shift(), format in format(), cuts in cuts(), at: Index, bit in 0u8..8,
    ) {
        let (root, bao) = outboard(&data, shift, format, 1).unwrap();
        let position = at.index(data.len());
        let mut damaged = data.clone();
        damaged[position] ^= 1 << bit;
        let pieces = split(&damaged, &cuts);
        let run = run_verifier(&root, data.len() as u64, &bao, shift, format, 0, None, &pieces);
        prop_assert!(run.error.is_some());
        let damaged_group_start = position / group_len(shift) * group_len(shift);
        prop_assert!(run.released.len() <= damaged_group_start);
        prop_assert!(data.starts_with(&run.released));
        let message = run.error.unwrap().to_string();
        prop_assert!(
            message.contains(&format!("group {}", position / group_len(shift))),
            "message {:?} does not name group {}", message, position / group_len(shift)
        );
    }

    #[test]
    fn a_flipped_bao_bit_is_caught_before_any_release(
        data in blob(), shift in shift(), format in format(), at: Index, bit in 0u8..8,
    ) {
        let (root, mut bao) = outboard(&data, shift, format, 1).unwrap();
        prop_assume!(!bao.is_empty());
        let position = at.index(bao.len());
        bao[position] ^= 1 << bit;
        let result = Verifier::new(&root, data.len() as u64, &bao, shift, format, 0, None);
        prop_assert!(result.is_err());
    }

    #[test]
    fn a_wrong_root_or_size_is_caught(
        data in blob(), shift in shift(), format in format(), bit in 0u8..8, size_delta in 1u64..3000,
    ) {
        let (mut root, bao) = outboard(&data, shift, format, 1).unwrap();
        let size = data.len() as u64;
        let run = run_verifier(&root, size + size_delta, &bao, shift, format, 0, None, &[&data]);
        prop_assert!(run.error.is_some());
        prop_assert!(data.starts_with(&run.released));
        prop_assert!(run.released.len() < data.len() || data.is_empty());
        if let Some(smaller) = size.checked_sub(size_delta) {
            let run = run_verifier(&root, smaller, &bao, shift, format, 0, None, &[&data]);
            prop_assert!(run.error.is_some());
        }
        root[0] ^= 1 << bit;
        let run = run_verifier(&root, size, &bao, shift, format, 0, None, &[&data]);
        prop_assert!(run.error.is_some());
        prop_assert!(run.released.len() < data.len() || data.is_empty());
    }

    #[test]
    fn truncated_and_extended_streams_fail(
        data in blob().prop_filter("non-empty", |d| !d.is_empty()),
        shift in shift(), format in format(), cuts in cuts(), cut: Index, extra in 1usize..2000,
    ) {
        let (root, bao) = outboard(&data, shift, format, 1).unwrap();
        let size = data.len() as u64;
        let short = &data[..cut.index(data.len())];
        let run = run_verifier(&root, size, &bao, shift, format, 0, None, &split(short, &cuts));
        let message = run.error.expect("a short stream fails").to_string();
        prop_assert!(message.contains("too short"), "{}", message);
        prop_assert!(message.contains(&short.len().to_string()), "{}", message);
        prop_assert!(short.starts_with(&run.released));

        let mut long = data.clone();
        long.extend(std::iter::repeat_n(7u8, extra));
        let run = run_verifier(&root, size, &bao, shift, format, 0, None, &split(&long, &cuts));
        let message = run.error.expect("a long stream fails").to_string();
        prop_assert!(message.contains("too long"), "{}", message);
        prop_assert!(data.starts_with(&run.released));
    }

    #[test]
    fn a_failed_verifier_stays_failed(data in blob(), shift in shift(), format in format()) {
        let (root, bao) = outboard(&data, shift, format, 1).unwrap();
        let mut verifier =
            Verifier::new(&root, data.len() as u64, &bao, shift, format, 0, None).unwrap();
        let mut out = Vec::new();
        let mut long = data.clone();
        long.push(0);
        prop_assert!(verifier.update(&long, &mut out).is_err());
        prop_assert!(verifier.update(&[], &mut out).is_err());
        prop_assert!(verifier.finalize().is_err());
    }

    #[test]
    fn both_formats_agree_on_the_root_and_it_is_blake3(data in blob(), shift in shift()) {
        let (pre_order_root, _) = outboard(&data, shift, BaoFormat::PreOrder, 1).unwrap();
        let (leaves_root, _) = outboard(&data, shift, BaoFormat::Leaves, 1).unwrap();
        prop_assert_eq!(pre_order_root, leaves_root);
        prop_assert_eq!(pre_order_root, *blake3::hash(&data).as_bytes());
        prop_assert_eq!(pre_order_root, hash(&data));
    }

    #[test]
    // bao-tree allocates a whole group as a buffer, so its side stays at moderate shifts.
    fn pre_order_is_bao_tree_pre_order_outboard(data in blob(), shift in 0u8..=12) {
        let (root, bao) = outboard(&data, shift, BaoFormat::PreOrder, 1).unwrap();
        let reference = PreOrderMemOutboard::create(&data, BlockSize::from_chunk_log(shift));
        prop_assert_eq!(&root, reference.root.as_bytes());
        prop_assert!(bao == reference.data);
    }

    #[test]
    fn builder_fed_in_pieces_equals_outboard(
        data in blob(), shift in shift(), format in format(), cuts in cuts(),
    ) {
        let mut builder = OutboardBuilder::new(shift, format).unwrap();
        for piece in split(&data, &cuts) {
            builder.update(piece);
        }
        prop_assert_eq!(builder.size(), data.len() as u64);
        prop_assert_eq!(builder.finalize(), outboard(&data, shift, format, 1).unwrap());
    }

    #[test]
    fn coarsening_equals_computing_at_the_coarser_shift(
        data in blob(), from_shift in 0u8..=6, levels_up in prop_oneof![0u8..=6, 7u8..=26],
        format in format(),
    ) {
        let to_shift = from_shift + levels_up;
        let (_, fine) = outboard(&data, from_shift, format, 1).unwrap();
        let (_, coarse) = outboard(&data, to_shift, format, 1).unwrap();
        let size = data.len() as u64;
        prop_assert!(coarsen(&fine, size, from_shift, to_shift, format).unwrap() == coarse);
        if levels_up > 0 {
            prop_assert!(coarsen(&coarse, size, to_shift, from_shift, format).is_err());
        }
    }

    #[test]
    fn formats_convert_both_ways(data in blob(), shift in shift()) {
        let size = data.len() as u64;
        let (_, pre_order) = outboard(&data, shift, BaoFormat::PreOrder, 1).unwrap();
        let (_, leaves) = outboard(&data, shift, BaoFormat::Leaves, 1).unwrap();
        let to_leaves =
            convert_format(&pre_order, size, shift, BaoFormat::PreOrder, BaoFormat::Leaves).unwrap();
        let to_pre_order =
            convert_format(&leaves, size, shift, BaoFormat::Leaves, BaoFormat::PreOrder).unwrap();
        prop_assert!(to_leaves == leaves);
        prop_assert!(to_pre_order == pre_order);
        for format in [BaoFormat::PreOrder, BaoFormat::Leaves] {
            let same = if format == BaoFormat::PreOrder { &pre_order } else { &leaves };
            prop_assert!(&convert_format(same, size, shift, format, format).unwrap() == same);
        }
    }

    #[test]
    fn windows_verify_and_reject_other_bytes(
        data in blob().prop_filter("non-empty", |d| !d.is_empty()),
        shift in shift(), format in format(), cuts in cuts(),
        first: Index, last: Index, to_the_end: bool, at: Index, bit in 0u8..8,
    ) {
        let (root, bao) = outboard(&data, shift, format, 1).unwrap();
        let group = group_len(shift);
        let groups = data.len().div_ceil(group);
        let (a, b) = (first.index(groups + 1), last.index(groups + 1));
        let start = a.min(b) * group;
        let mut end = (a.max(b) * group).min(data.len());
        if to_the_end {
            end = data.len();
        }
        // Both on group boundaries (start may only pass `end` at the very end of the blob).
        let start = start.min(end / group * group);
        let window = &data[start..end];
        let end_arg = if to_the_end { None } else { Some(end as u64) };
        let size = data.len() as u64;
        let run = run_verifier(
            &root, size, &bao, shift, format, start as u64, end_arg, &split(window, &cuts),
        );
        prop_assert_eq!(run.error, None);
        prop_assert!(run.released == window);

        if !window.is_empty() {
            let position = at.index(window.len());
            let mut other = window.to_vec();
            other[position] ^= 1 << bit;
            let run = run_verifier(
                &root, size, &bao, shift, format, start as u64, end_arg, &split(&other, &cuts),
            );
            prop_assert!(run.error.is_some());
            prop_assert!(run.released.len() <= position / group * group);
            prop_assert!(window.starts_with(&run.released));
        }
    }

    #[test]
    fn unaligned_windows_are_rejected(
        size in 1u64..100_000, shift in shift(), format in format(), offset in 1u64..1024,
    ) {
        let data = support::pseudo_random(size as usize, size);
        let (root, bao) = outboard(&data, shift, format, 1).unwrap();
        let group = group_len(shift) as u64;
        let unaligned = (group + offset).min(size);
        if unaligned % group != 0 && unaligned != size {
            prop_assert!(Verifier::new(&root, size, &bao, shift, format, unaligned, None).is_err());
            prop_assert!(Verifier::new(&root, size, &bao, shift, format, 0, Some(unaligned)).is_err());
        }
        prop_assert!(Verifier::new(&root, size, &bao, shift, format, 0, Some(size + 1)).is_err());
        if size >= group {
            prop_assert!(Verifier::new(&root, size, &bao, shift, format, group, Some(0)).is_err());
        }
    }

    #[test]
    fn threads_give_the_same_outboard(data in blob(), shift in shift(), threads in 2usize..=4) {
        for format in [BaoFormat::PreOrder, BaoFormat::Leaves] {
            prop_assert_eq!(
                outboard(&data, shift, format, threads).unwrap(),
                outboard(&data, shift, format, 1).unwrap()
            );
        }
    }
}

/// Inputs big enough for `outboard` to actually start threads (a few MiB).
#[test]
fn threads_give_the_same_outboard_on_large_inputs() {
    let data = support::pseudo_random(5 << 20, 42);
    for shift in [0, 4, 13] {
        let single = outboard(&data, shift, BaoFormat::PreOrder, 1).unwrap();
        for threads in [2, 3, 4] {
            assert_eq!(
                outboard(&data, shift, BaoFormat::PreOrder, threads).unwrap(),
                single
            );
        }
    }
}

/// Large feeds are checked a subtree at a time; a damaged byte deep inside one is still pinned
/// to its group and the groups before it are released.
#[test]
fn damage_inside_a_large_feed_names_the_group_and_releases_the_intact_prefix() {
    let data = support::pseudo_random(3 << 20, 7);
    let shift = 2;
    let (root, bao) = outboard(&data, shift, BaoFormat::PreOrder, 1).unwrap();
    let position = 2_500_123;
    let mut damaged = data.clone();
    damaged[position] ^= 0x10;
    let run = run_verifier(
        &root,
        data.len() as u64,
        &bao,
        shift,
        BaoFormat::PreOrder,
        0,
        None,
        &[&damaged],
    );
    let group = position / 4096;
    let message = run.error.expect("damage is caught").to_string();
    assert!(message.contains(&format!("group {group} ")), "{message}");
    assert!(message.contains(&format!("{}", group * 4096)), "{message}");
    assert_eq!(run.released.len(), group * 4096);
    assert!(data.starts_with(&run.released));
}

#[test]
fn the_empty_blob_needs_its_own_root() {
    let root = hash(&[]);
    for format in [BaoFormat::PreOrder, BaoFormat::Leaves] {
        let run = run_verifier(&root, 0, &[], 4, format, 0, None, &[]);
        assert_eq!(run.error, None);
        let wrong = hash(b"x");
        assert!(Verifier::new(&wrong, 0, &[], 4, format, 0, None).is_err());
    }
}

#[test]
fn bad_arguments_are_errors() {
    let root = hash(&[]);
    assert!(outboard(b"", 33, BaoFormat::PreOrder, 1).is_err());
    assert!(outboard_size(10, 255, BaoFormat::Leaves).is_err());
    assert!(OutboardBuilder::new(33, BaoFormat::PreOrder).is_err());
    assert!(Verifier::new(&root, 0, &[], 33, BaoFormat::PreOrder, 0, None).is_err());
    assert!(Verifier::new(&root, 5000, &[0; 10], 0, BaoFormat::PreOrder, 0, None).is_err());
    assert!(coarsen(&[], 10, 4, 33, BaoFormat::PreOrder).is_err());
    assert!(convert_format(&[1], 10, 4, BaoFormat::Leaves, BaoFormat::PreOrder).is_err());
    assert_eq!("pre_order".parse::<BaoFormat>(), Ok(BaoFormat::PreOrder));
    assert_eq!("leaves".parse::<BaoFormat>(), Ok(BaoFormat::Leaves));
    assert_eq!(BaoFormat::Leaves.as_str(), "leaves");
    let error = "post_order".parse::<BaoFormat>().unwrap_err();
    assert!(error.to_string().contains("post_order"));
}

#[test]
fn outboard_sizes_match_the_design() {
    // (groups - 1) * 64 for pre_order, groups * 32 for leaves, empty for one group.
    assert_eq!(
        outboard_size(1 << 30, 4, BaoFormat::PreOrder),
        Ok(4 * 1024 * 1024 - 64)
    );
    assert_eq!(
        outboard_size(1 << 30, 4, BaoFormat::Leaves),
        Ok(2 * 1024 * 1024)
    );
    assert_eq!(outboard_size(16 * 1024, 4, BaoFormat::Leaves), Ok(0));
    assert_eq!(outboard_size(0, 0, BaoFormat::PreOrder), Ok(0));
    assert_eq!(
        outboard_size(u64::MAX, 0, BaoFormat::PreOrder),
        Ok(((u64::MAX >> 10) + 1 - 1) * 64)
    );
}
