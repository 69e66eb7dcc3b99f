//! The bao project's official test vectors (shift 0) and their 16 KiB-group counterpart
//! (shift 4), read from the shared vectors directory; skipped with a message when absent.

use std::path::PathBuf;

use baostore_core::{convert_format, hash, outboard, BaoFormat, Verifier};
use serde_json::Value;

fn vectors_dir() -> PathBuf {
    match std::env::var_os("BAOSTORE_VECTORS") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/vectors"),
    }
}

/// The parsed vector file, or `None` (after saying why) when it is not there.
fn load(name: &str) -> Option<Value> {
    let path = vectors_dir().join(name);
    let Ok(text) = std::fs::read_to_string(&path) else {
        println!("skipped: vectors not found at {}", path.display());
        return None;
    };
    Some(serde_json::from_str(&text).expect("vector file is valid JSON"))
}

/// Incrementing 4-byte little-endian counter starting at 1, cut to `len`.
fn vector_input(len: usize) -> Vec<u8> {
    (1u32..)
        .flat_map(u32::to_le_bytes)
        .take(len)
        .collect::<Vec<u8>>()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn entries<'a>(vectors: &'a Value, section: &str) -> &'a [Value] {
    vectors[section].as_array().expect("section is a list")
}

fn usize_field(entry: &Value, name: &str) -> usize {
    entry[name].as_u64().expect("numeric field") as usize
}

fn str_field<'a>(entry: &'a Value, name: &str) -> &'a str {
    entry[name].as_str().expect("string field")
}

/// Feeds `data` in one piece; the first error from construction, update or finalize.
fn verify(
    root: &[u8; 32],
    size: u64,
    bao: &[u8],
    shift: u8,
    format: BaoFormat,
    data: &[u8],
) -> Result<Vec<u8>, String> {
    let mut verifier =
        Verifier::new(root, size, bao, shift, format, 0, None).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    verifier.update(data, &mut out).map_err(|e| e.to_string())?;
    verifier.finalize().map_err(|e| e.to_string())?;
    Ok(out)
}

fn check_hashes(vectors: &Value, shift: u8) {
    for entry in entries(vectors, "hash") {
        let input = vector_input(usize_field(entry, "input_len"));
        let expected = str_field(entry, "bao_hash");
        assert_eq!(hex(&hash(&input)), expected);
        for format in [BaoFormat::PreOrder, BaoFormat::Leaves] {
            let (root, _) = outboard(&input, shift, format, 1).unwrap();
            assert_eq!(hex(&root), expected, "len {} {format}", input.len());
        }
    }
}

fn check_outboards(vectors: &Value, shift: u8) {
    for entry in entries(vectors, "outboard") {
        let input = vector_input(usize_field(entry, "input_len"));
        let size = input.len() as u64;
        let (root, bao) = outboard(&input, shift, BaoFormat::PreOrder, 1).unwrap();
        assert_eq!(hex(&root), str_field(entry, "bao_hash"));
        // The vectors' outboards carry an 8-byte little-endian size prefix; ours do not.
        let mut prefixed = size.to_le_bytes().to_vec();
        prefixed.extend_from_slice(&bao);
        assert_eq!(prefixed.len(), usize_field(entry, "output_len"));
        assert_eq!(
            hex(&hash(&prefixed)),
            str_field(entry, "encoded_blake3"),
            "outboard of {size} bytes at shift {shift}"
        );
        assert_eq!(
            verify(&root, size, &bao, shift, BaoFormat::PreOrder, &input),
            Ok(input.clone())
        );

        // The leaves format describes the same tree: same root, converts to the same pre_order.
        let (leaves_root, leaves) = outboard(&input, shift, BaoFormat::Leaves, 1).unwrap();
        assert_eq!(leaves_root, root);
        let converted =
            convert_format(&leaves, size, shift, BaoFormat::Leaves, BaoFormat::PreOrder).unwrap();
        assert_eq!(converted, bao);
        assert_eq!(
            verify(&root, size, &leaves, shift, BaoFormat::Leaves, &input),
            Ok(input.clone())
        );

        for offset in entry["outboard_corruptions"].as_array().unwrap() {
            let offset = offset.as_u64().unwrap() as usize;
            // Offsets index the prefixed outboard. Those inside the prefix corrupt the size we
            // would be told, so they become a wrong `size` argument; the rest hit a node.
            let mut corrupted = prefixed.clone();
            corrupted[offset] ^= 1;
            let (size_bytes, bad_bao) = corrupted.split_at(8);
            let bad_size = u64::from_le_bytes(size_bytes.try_into().unwrap());
            let result = verify(&root, bad_size, bad_bao, shift, BaoFormat::PreOrder, &input);
            assert!(
                result.is_err(),
                "outboard corruption at {offset} of {size} bytes (shift {shift}) accepted"
            );
        }
        for offset in entry["input_corruptions"].as_array().unwrap() {
            let offset = offset.as_u64().unwrap() as usize;
            let mut corrupted = input.clone();
            corrupted[offset] ^= 1;
            for (format, bao) in [(BaoFormat::PreOrder, &bao), (BaoFormat::Leaves, &leaves)] {
                let result = verify(&root, size, bao, shift, format, &corrupted);
                assert!(
                    result.is_err(),
                    "input corruption at {offset} of {size} bytes (shift {shift}, {format}) accepted"
                );
            }
        }
    }
}

#[test]
fn bao_vectors_shift_0() {
    if let Some(vectors) = load("bao-shift0.json") {
        check_hashes(&vectors, 0);
        check_outboards(&vectors, 0);
    }
}

#[test]
fn abao_vectors_shift_4() {
    if let Some(vectors) = load("abao-shift4.json") {
        check_hashes(&vectors, 4);
        check_outboards(&vectors, 4);
    }
}
