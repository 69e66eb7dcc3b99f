//! The `bao` CLI's outboard format and file hashing, byte for byte against the `bao` crate and
//! BLAKE3, for sizes around every group and tree boundary.

use std::io::Read;

use baostore_core::{
    decode_bao_cli_outboard, encode_bao_cli_outboard, hash, hash_file, outboard, BaoFormat,
    ErrorKind, Verifier,
};

mod support;

/// 0, and one byte either side of every chunk count that is a power of two or one past it
/// (where the tree gains a level or a right edge), up to 1025 chunks.
fn boundary_sizes() -> Vec<usize> {
    let mut sizes = vec![0, 1];
    let mut chunks = 1usize;
    while chunks <= 1024 {
        for count in [chunks, chunks + 1, 3 * chunks / 2] {
            for delta in [-1isize, 0, 1] {
                sizes.push((count * 1024).saturating_add_signed(delta));
            }
        }
        chunks *= 2;
    }
    sizes.sort_unstable();
    sizes.dedup();
    sizes
}

#[test]
fn our_bao_cli_outboard_is_the_bao_crates() {
    for size in boundary_sizes() {
        let data = support::pseudo_random(size, size as u64);
        let (root, pre_order) = outboard(&data, 0, BaoFormat::PreOrder, 1).unwrap();
        let ours = encode_bao_cli_outboard(&pre_order, size as u64).unwrap();
        let (theirs, their_root) = bao::encode::outboard(&data);
        assert_eq!(root, *their_root.as_bytes(), "{size}");
        assert!(ours == theirs, "{size} bytes: outboards differ");
    }
}

#[test]
fn the_bao_crate_accepts_ours_and_we_accept_the_bao_crates() {
    for size in boundary_sizes() {
        let data = support::pseudo_random(size, 7 + size as u64);
        let (root, pre_order) = outboard(&data, 0, BaoFormat::PreOrder, 1).unwrap();
        let ours = encode_bao_cli_outboard(&pre_order, size as u64).unwrap();
        let mut decoded = Vec::new();
        bao::decode::Decoder::new_outboard(&data[..], &ours[..], &bao::Hash::from(root))
            .read_to_end(&mut decoded)
            .unwrap();
        assert!(decoded == data, "{size}");

        let (theirs, _) = bao::encode::outboard(&data);
        let (claimed, bao_outboard) = decode_bao_cli_outboard(&theirs).unwrap();
        assert_eq!(claimed, size as u64);
        let mut verifier = Verifier::new(
            &root,
            claimed,
            bao_outboard,
            0,
            BaoFormat::PreOrder,
            0,
            None,
        )
        .unwrap();
        let mut released = Vec::new();
        verifier.update(&data, &mut released).unwrap();
        verifier.finalize().unwrap();
        assert!(released == data, "{size}");
    }
}

#[test]
fn malformed_bao_cli_outboards_are_refused() {
    let data = support::pseudo_random(5000, 1);
    let (encoded, _) = bao::encode::outboard(&data);
    for bad in [&encoded[..7], &encoded[..encoded.len() - 1], &[0u8; 0][..]] {
        let error = decode_bao_cli_outboard(bad).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Malformed);
    }
    let mut longer = encoded.clone();
    longer.push(0);
    assert!(decode_bao_cli_outboard(&longer).is_err());
    let mut wrong_size = encoded.clone();
    wrong_size[..8].copy_from_slice(&6000u64.to_le_bytes()); // 6 chunks: one pair more
    assert!(decode_bao_cli_outboard(&wrong_size).is_err());
    assert!(encode_bao_cli_outboard(&[0u8; 63], 5000).is_err());
}

#[test]
fn files_hash_to_blake3_on_any_thread_count() {
    let dir = std::env::temp_dir().join(format!("baostore-hash-file-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for size in [0usize, 1, 1024, 16 * 1024 + 1, 3 << 20] {
        let data = support::pseudo_random(size, 3);
        let path = dir.join(format!("blob-{size}"));
        std::fs::write(&path, &data).unwrap();
        for threads in [0, 1, 2, 3] {
            assert_eq!(
                hash_file(&path, threads).unwrap(),
                hash(&data),
                "{size} {threads}"
            );
        }
    }
    assert!(hash_file(&dir.join("missing"), 1).is_err());
    assert!(hash_file(&dir, 2).is_err());
    std::fs::remove_dir_all(&dir).unwrap();
}
