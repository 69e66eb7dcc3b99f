//! Properties of the post-order layout, window proofs, proof plans over a stored post-order bao
//! and the window verifier, with byte equality against bao-tree where it defines the bytes.

mod support;

use bao_tree::io::outboard::{PostOrderMemOutboard, PreOrderMemOutboard};
use bao_tree::io::sync::{encode_ranges_validated, DecodeResponseIter};
use bao_tree::io::BaoContentItem;
use bao_tree::{BaoTree, BlockSize, ChunkNum, ChunkRanges};
use baostore_core::{
    outboard, post_order_to_pre_order, pre_order_to_post_order, proof_size, window, window_proof,
    BaoFormat, ErrorKind, Layout, PostOrderBuilder, ProofPlan, Verifier,
};
use proptest::prelude::*;
use proptest::sample::Index;
use support::{blob, cuts, format, split};

fn config() -> ProptestConfig {
    ProptestConfig::with_cases(128)
}

fn shift() -> impl Strategy<Value = u8> {
    prop_oneof![4 => 0u8..=6, 1 => 7u8..=11]
}

/// A window `[start, end)` drawn inside a blob of `size` bytes (`[0, 0)` for the empty blob).
fn window_in(size: u64, start: Index, len: Index) -> (u64, u64) {
    if size == 0 {
        return (0, 0);
    }
    let start = start.index(size as usize) as u64;
    let end = start + 1 + len.index((size - start) as usize) as u64;
    (start, end)
}

/// The post-order bao of `data` at `shift` as [`PostOrderBuilder`] streams it, fed in `pieces`.
fn streamed_post_order(pieces: &[&[u8]], shift: u8) -> ([u8; 32], Vec<u8>) {
    let mut builder = PostOrderBuilder::new(shift).unwrap();
    let mut out = Vec::new();
    for piece in pieces {
        builder.update(piece, &mut out);
    }
    let root = builder.finalize(&mut out);
    (root, out)
}

/// The parents bao-tree's range encoding emits for the chunk ranges of `[start, end)`, taken
/// from its own decoder run over the encoded stream.
fn bao_tree_range_parents(data: &[u8], shift: u8, start: u64, end: u64) -> Vec<u8> {
    let outboard = PreOrderMemOutboard::create(data, BlockSize::from_chunk_log(shift));
    // bao-tree counts the empty blob as one (empty) chunk.
    let end_chunk = end.div_ceil(1024).max(start / 1024 + 1);
    let ranges = ChunkRanges::from(ChunkNum(start / 1024)..ChunkNum(end_chunk));
    let mut encoded = Vec::new();
    encode_ranges_validated(data, &outboard, &ranges, &mut encoded).unwrap();
    let tree = BaoTree::new(data.len() as u64, BlockSize::from_chunk_log(shift));
    let mut parents = Vec::new();
    for item in DecodeResponseIter::new(outboard.root, tree, &encoded[..], &ranges) {
        if let BaoContentItem::Parent(parent) = item.unwrap() {
            parents.extend_from_slice(parent.pair.0.as_bytes());
            parents.extend_from_slice(parent.pair.1.as_bytes());
        }
    }
    parents
}

/// Feeds `pieces` to a verifier made from a proof; what it released and the first error.
fn run_window(
    verifier: Result<Verifier, baostore_core::BaoError>,
    pieces: &[&[u8]],
) -> (Vec<u8>, Option<baostore_core::BaoError>) {
    let mut released = Vec::new();
    let mut verifier = match verifier {
        Ok(verifier) => verifier,
        Err(error) => return (released, Some(error)),
    };
    for piece in pieces {
        if let Err(error) = verifier.update(piece, &mut released) {
            return (released, Some(error));
        }
    }
    let error = verifier.finalize().err();
    (released, error)
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn post_order_builder_streams_bao_tree_post_order_outboard(
        data in blob(), shift in shift(), cuts in cuts(),
    ) {
        let expected = PostOrderMemOutboard::create(&data, BlockSize::from_chunk_log(shift));
        let (root, post) = streamed_post_order(&split(&data, &cuts), shift);
        prop_assert_eq!(root, *expected.root.as_bytes());
        prop_assert!(post == expected.data);
    }

    #[test]
    fn post_order_pairs_are_handed_out_as_their_subtrees_complete(
        data in blob(), shift in 0u8..=4, cuts in cuts(),
    ) {
        // After each piece, all pairs of subtrees that end at least one group before the bytes
        // fed so far are out (the last full group waits for more data to know it is not last).
        let group = 1024u64 << shift;
        let mut builder = PostOrderBuilder::new(shift).unwrap();
        let mut out = Vec::new();
        for piece in split(&data, &cuts) {
            builder.update(piece, &mut out);
            let finished = (builder.size().saturating_sub(1)) / group;
            let complete_parents = finished - u64::from(finished.count_ones());
            prop_assert!(out.len() as u64 >= complete_parents * 64);
        }
    }

    #[test]
    fn layouts_convert_to_and_from_bao_tree_post_order(data in blob(), shift in shift()) {
        let size = data.len() as u64;
        let (_, pre) = outboard(&data, shift, BaoFormat::PreOrder, 1).unwrap();
        let expected = PostOrderMemOutboard::create(&data, BlockSize::from_chunk_log(shift));
        let post = pre_order_to_post_order(&pre, size, shift).unwrap();
        prop_assert!(post == expected.data);
        prop_assert_eq!(post_order_to_pre_order(&post, size, shift).unwrap(), pre);
    }

    #[test]
    fn pre_order_proof_is_what_bao_tree_range_encoding_emits(
        data in blob(), shift in shift(), start: Index, len: Index,
    ) {
        let size = data.len() as u64;
        let (start, end) = window_in(size, start, len);
        let (first, last) = window(size, shift, start, end).unwrap();
        let (_, pre) = outboard(&data, shift, BaoFormat::PreOrder, 1).unwrap();
        let proof = window_proof(&pre, Layout::PreOrder, size, shift, BaoFormat::PreOrder, start, end)
            .unwrap();
        prop_assert!(proof == bao_tree_range_parents(&data, shift, first, last));
        prop_assert_eq!(proof.len() as u64, proof_size(size, shift, BaoFormat::PreOrder, start, end).unwrap());
    }

    #[test]
    fn every_layout_gives_the_same_proof(
        data in blob(), shift in shift(), format in format(), start: Index, len: Index,
    ) {
        let size = data.len() as u64;
        let (start, end) = window_in(size, start, len);
        let (_, pre) = outboard(&data, shift, BaoFormat::PreOrder, 1).unwrap();
        let (_, leaves) = outboard(&data, shift, BaoFormat::Leaves, 1).unwrap();
        let post = pre_order_to_post_order(&pre, size, shift).unwrap();
        let proofs: Vec<Vec<u8>> = [(&pre, Layout::PreOrder), (&post, Layout::PostOrder), (&leaves, Layout::Leaves)]
            .iter()
            .map(|(bao, layout)| window_proof(bao, *layout, size, shift, format, start, end).unwrap())
            .collect();
        prop_assert!(proofs[0] == proofs[1] && proofs[1] == proofs[2]);
        prop_assert_eq!(proofs[0].len() as u64, proof_size(size, shift, format, start, end).unwrap());
    }

    #[test]
    fn the_whole_window_proof_is_the_whole_bao(data in blob(), shift in shift(), format in format()) {
        let size = data.len() as u64;
        let (_, bao) = outboard(&data, shift, format, 1).unwrap();
        let proof = window_proof(&bao, format.into(), size, shift, format, 0, size).unwrap();
        prop_assert_eq!(proof, bao);
    }

    #[test]
    fn a_proof_verifies_exactly_the_window(
        data in blob(), shift in shift(), format in format(), start: Index, len: Index, cuts in cuts(),
    ) {
        let size = data.len() as u64;
        let (start, end) = window_in(size, start, len);
        let (first, last) = window(size, shift, start, end).unwrap();
        let (root, bao) = outboard(&data, shift, format, 1).unwrap();
        let proof = window_proof(&bao, format.into(), size, shift, format, start, end).unwrap();
        let truth = &data[first as usize..last as usize];
        let verifier = Verifier::from_proof(&root, size, &proof, shift, format, first, Some(last));
        let (released, error) = run_window(verifier, &split(truth, &cuts));
        prop_assert_eq!(error, None);
        prop_assert!(released == truth);
    }

    #[test]
    fn a_flipped_data_bit_is_caught_before_its_group_is_released(
        data in blob(), shift in shift(), format in format(), start: Index, len: Index,
        at: Index, bit in 0u8..8, cuts in cuts(),
    ) {
        let size = data.len() as u64;
        prop_assume!(size > 0);
        let (start, end) = window_in(size, start, len);
        let (first, last) = window(size, shift, start, end).unwrap();
        let (root, bao) = outboard(&data, shift, format, 1).unwrap();
        let proof = window_proof(&bao, format.into(), size, shift, format, start, end).unwrap();
        let mut damaged = data[first as usize..last as usize].to_vec();
        let at = at.index(damaged.len());
        damaged[at] ^= 1 << bit;
        let verifier = Verifier::from_proof(&root, size, &proof, shift, format, first, Some(last));
        let (released, error) = run_window(verifier, &split(&damaged, &cuts));
        prop_assert_eq!(error.map(|e| e.kind()), Some(ErrorKind::Mismatch));
        let group = 1024usize << shift;
        prop_assert!(released.len() <= at / group * group);
        prop_assert!(released[..] == data[first as usize..first as usize + released.len()]);
    }

    #[test]
    fn a_flipped_proof_bit_is_caught_before_anything_is_released(
        data in blob(), shift in shift(), format in format(), start: Index, len: Index,
        at: Index, bit in 0u8..8,
    ) {
        let size = data.len() as u64;
        let (start, end) = window_in(size, start, len);
        let (first, last) = window(size, shift, start, end).unwrap();
        let (root, bao) = outboard(&data, shift, format, 1).unwrap();
        let mut proof = window_proof(&bao, format.into(), size, shift, format, start, end).unwrap();
        prop_assume!(!proof.is_empty());
        let at = at.index(proof.len());
        proof[at] ^= 1 << bit;
        let error = Verifier::from_proof(&root, size, &proof, shift, format, first, Some(last)).err();
        prop_assert_eq!(error.map(|e| e.kind()), Some(ErrorKind::Mismatch));
    }

    #[test]
    fn truncated_or_extended_proofs_are_malformed(
        data in blob(), shift in shift(), format in format(), start: Index, len: Index,
        cut in 1usize..70, extend: bool,
    ) {
        let size = data.len() as u64;
        let (start, end) = window_in(size, start, len);
        let (first, last) = window(size, shift, start, end).unwrap();
        let (root, bao) = outboard(&data, shift, format, 1).unwrap();
        let mut proof = window_proof(&bao, format.into(), size, shift, format, start, end).unwrap();
        if extend || proof.is_empty() {
            proof.extend(std::iter::repeat_n(0u8, cut));
        } else {
            proof.truncate(proof.len().saturating_sub(cut));
        }
        let error = Verifier::from_proof(&root, size, &proof, shift, format, first, Some(last)).err();
        prop_assert_eq!(error.map(|e| e.kind()), Some(ErrorKind::Malformed));
    }

    #[test]
    fn a_proof_for_another_window_is_rejected_unless_it_is_the_same_proof(
        data in blob(), shift in shift(), format in format(),
        start: Index, len: Index, other_start: Index, other_len: Index, cuts in cuts(),
    ) {
        let size = data.len() as u64;
        let (start, end) = window_in(size, start, len);
        let (first, last) = window(size, shift, start, end).unwrap();
        let (other_start, other_end) = window_in(size, other_start, other_len);
        let (root, bao) = outboard(&data, shift, format, 1).unwrap();
        let proof = window_proof(&bao, format.into(), size, shift, format, start, end).unwrap();
        let other = window_proof(&bao, format.into(), size, shift, format, other_start, other_end).unwrap();
        let truth = &data[first as usize..last as usize];
        let verifier = Verifier::from_proof(&root, size, &other, shift, format, first, Some(last));
        let (released, error) = run_window(verifier, &split(truth, &cuts));
        if other == proof {
            prop_assert_eq!(error, None);
            prop_assert!(released == truth);
        } else {
            prop_assert!(error.is_some());
            prop_assert!(released.is_empty());
        }
    }

    #[test]
    fn a_wrong_size_never_releases_a_wrong_byte(
        data in blob(), shift in shift(), format in format(), start: Index, len: Index,
        claimed in 0u64..300_000, cuts in cuts(),
    ) {
        let size = data.len() as u64;
        prop_assume!(claimed != size);
        let (root, bao) = outboard(&data, shift, format, 1).unwrap();
        let (start, end) = window_in(claimed, start, len);
        let (first, last) = window(claimed, shift, start, end).unwrap();
        // The honest proof of this window where it exists, fed whatever the blob holds there.
        let proof = if last <= size && (first, last) != (0, 0) {
            window_proof(&bao, format.into(), size, shift, format, first, last).unwrap()
        } else {
            Vec::new()
        };
        let fed = &data[(first.min(size)) as usize..(last.min(size)) as usize];
        let verifier = Verifier::from_proof(&root, claimed, &proof, shift, format, first, Some(last));
        let (released, error) = run_window(verifier, &split(fed, &cuts));
        if !released.is_empty() {
            prop_assert!(released[..] == data[first as usize..first as usize + released.len()]);
        }
        // Whatever verified came from the true blob; if the window reaches the end of either
        // size, the size itself was checked, so it fails.
        let group = 1024u64 << shift;
        if last == claimed || last.div_ceil(group) >= size.div_ceil(group) {
            prop_assert!(error.is_some());
        }
    }

    #[test]
    fn a_plan_over_a_stored_post_order_bao_builds_the_same_proof(
        data in blob(), stored_shift in 0u8..=8, shift in 0u8..=8, format in format(),
        start: Index, len: Index, max_gap in prop_oneof![Just(0u64), 0u64..5000],
    ) {
        let size = data.len() as u64;
        let (start, end) = window_in(size, start, len);
        let (root, stored) = streamed_post_order(&[&data], stored_shift);
        let plan = ProofPlan::new(size, stored_shift, shift, format, start, end, max_gap).unwrap();
        prop_assert_eq!(plan.window(), window(size, shift, start, end).unwrap());
        let mut previous_end = 0;
        for range in plan.outboard_ranges() {
            prop_assert!(range.start >= previous_end && range.start < range.end);
            prop_assert!(range.end <= stored.len() as u64);
            previous_end = range.end;
        }
        let pieces: Vec<&[u8]> = plan
            .outboard_ranges()
            .iter()
            .map(|range| &stored[range.start as usize..range.end as usize])
            .collect();
        let needed = plan.data_range().map(|range| &data[range.start as usize..range.end as usize]);
        if shift >= stored_shift {
            prop_assert!(needed.is_none());
        }
        let built = plan.build(&root, &pieces, needed).unwrap();
        let (_, bao) = outboard(&data, shift, format, 1).unwrap();
        let expected = window_proof(&bao, format.into(), size, shift, format, start, end).unwrap();
        prop_assert_eq!(built.len() as u64, plan.proof_len());
        prop_assert!(built == expected);
    }

    #[test]
    fn a_plan_refuses_damaged_pieces_or_data(
        data in blob(), stored_shift in 0u8..=6, shift in 0u8..=6, format in format(),
        start: Index, len: Index, at: Index, bit in 0u8..8, in_data: bool,
    ) {
        let size = data.len() as u64;
        let (start, end) = window_in(size, start, len);
        let (root, stored) = streamed_post_order(&[&data], stored_shift);
        let plan = ProofPlan::new(size, stored_shift, shift, format, start, end, 0).unwrap();
        let mut pieces: Vec<Vec<u8>> = plan
            .outboard_ranges()
            .iter()
            .map(|range| stored[range.start as usize..range.end as usize].to_vec())
            .collect();
        let mut needed = plan.data_range().map(|range| data[range.start as usize..range.end as usize].to_vec());
        match (&mut needed, in_data) {
            (Some(bytes), true) if !bytes.is_empty() => {
                let at = at.index(bytes.len());
                bytes[at] ^= 1 << bit;
            }
            _ => {
                let all: usize = pieces.iter().map(Vec::len).sum();
                prop_assume!(all > 0);
                let mut at = at.index(all);
                for piece in &mut pieces {
                    if at < piece.len() {
                        piece[at] ^= 1 << bit;
                        break;
                    }
                    at -= piece.len();
                }
            }
        }
        let pieces: Vec<&[u8]> = pieces.iter().map(Vec::as_slice).collect();
        let error = plan.build(&root, &pieces, needed.as_deref()).err();
        prop_assert_eq!(error.map(|e| e.kind()), Some(ErrorKind::Mismatch));
    }
}

#[test]
fn plans_read_little_of_a_big_stored_bao() {
    // A 1 TiB blob stored at shift 4: a 4 KiB window's proof at shifts 0, 4 and 10.
    let size = 1u64 << 40;
    let at = size / 3;
    for shift in [0u8, 4, 10] {
        let plan = ProofPlan::new(size, 4, shift, BaoFormat::PreOrder, at, at + 4096, 0).unwrap();
        let read: u64 = plan.outboard_ranges().iter().map(|r| r.end - r.start).sum();
        assert!(read <= 64 * 40, "shift {shift}: {read} bytes");
        assert!(plan.proof_len() <= 64 * 40);
        match plan.data_range() {
            Some(range) => {
                assert!(shift < 4);
                assert_eq!(range.end - range.start, 16 * 1024);
            }
            None => assert!(shift >= 4),
        }
    }
}

#[test]
fn bad_windows_and_plan_inputs_are_argument_errors() {
    let kind = |result: Result<(u64, u64), baostore_core::BaoError>| result.unwrap_err().kind();
    assert_eq!(kind(window(100, 0, 50, 50)), ErrorKind::Argument);
    assert_eq!(kind(window(100, 0, 60, 50)), ErrorKind::Argument);
    assert_eq!(kind(window(100, 0, 0, 101)), ErrorKind::Argument);
    assert_eq!(kind(window(100, 99, 0, 1)), ErrorKind::Argument);
    let plan = ProofPlan::new(100_000, 4, 0, BaoFormat::PreOrder, 0, 10, 0).unwrap();
    let root = [0u8; 32];
    assert_eq!(
        plan.build(&root, &[], None).unwrap_err().kind(),
        ErrorKind::Argument
    );
    let unaligned = Verifier::from_proof(&root, 100_000, &[], 0, BaoFormat::PreOrder, 1, None);
    assert_eq!(unaligned.err().map(|e| e.kind()), Some(ErrorKind::Argument));
    let empty = Verifier::from_proof(
        &root,
        100_000,
        &[],
        0,
        BaoFormat::PreOrder,
        1024,
        Some(1024),
    );
    assert_eq!(empty.err().map(|e| e.argument_name()), Some(Some("end")));
}

#[test]
fn proofs_of_thousands_of_pairs_are_checked_pair_by_pair() {
    // Pairs are hashed in batches: a proof of several batches, damaged at and around their
    // edges, is refused naming the damaged pair; intact, it verifies, and a plan rehashing the
    // same window from a bao stored at shift 4 builds the same proof.
    let data: Vec<u8> = (0..9_500u32 * 1024)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let size = data.len() as u64;
    let (root, bao) = outboard(&data, 0, BaoFormat::PreOrder, 1).unwrap();
    let (start, end) = (1024, size - 2048);
    let proof = window_proof(
        &bao,
        Layout::PreOrder,
        size,
        0,
        BaoFormat::PreOrder,
        start,
        end,
    )
    .unwrap();
    let pairs = proof.len() / 64;
    assert!(pairs > 2 * 4096, "{pairs} pairs");
    Verifier::from_proof(
        &root,
        size,
        &proof,
        0,
        BaoFormat::PreOrder,
        start,
        Some(end),
    )
    .unwrap();
    for pair in [0, 1, 4095, 4096, 4097, 8191, 8192, pairs - 1] {
        let mut damaged = proof.clone();
        damaged[pair * 64 + 17] ^= 4;
        let error = Verifier::from_proof(
            &root,
            size,
            &damaged,
            0,
            BaoFormat::PreOrder,
            start,
            Some(end),
        )
        .err()
        .expect("a damaged proof is refused");
        assert_eq!(error.kind(), ErrorKind::Mismatch, "pair {pair}");
        assert!(
            error.to_string().contains(&format!("node {pair} ")),
            "pair {pair}: {error}"
        );
    }
    for pair in [1, 4095, 4096, bao.len() / 64 - 1] {
        let mut damaged = bao.clone();
        damaged[pair * 64 + 40] ^= 1;
        let error = Verifier::new(&root, size, &damaged, 0, BaoFormat::PreOrder, 0, None)
            .err()
            .expect("a damaged bao is refused");
        assert_eq!(error.kind(), ErrorKind::Mismatch, "bao pair {pair}");
        assert!(
            error.to_string().contains(&format!("node {pair} ")),
            "{error}"
        );
    }
    let (_, stored) = outboard(&data, 4, BaoFormat::PreOrder, 1).unwrap();
    let post_order = pre_order_to_post_order(&stored, size, 4).unwrap();
    let plan = ProofPlan::new(size, 4, 0, BaoFormat::PreOrder, start, end, 0).unwrap();
    let pieces: Vec<&[u8]> = plan
        .outboard_ranges()
        .iter()
        .map(|range| &post_order[range.start as usize..range.end as usize])
        .collect();
    let rehashed = plan
        .data_range()
        .expect("shift 0 below the stored 4 rehashes");
    let window_data = &data[rehashed.start as usize..rehashed.end as usize];
    assert_eq!(
        plan.build(&root, &pieces, Some(window_data)).unwrap(),
        proof
    );
    let mut damaged = window_data.to_vec();
    damaged[5000 * 1024 + 3] ^= 1;
    let error = plan.build(&root, &pieces, Some(&damaged)).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Mismatch);
}
