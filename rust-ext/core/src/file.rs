//! Hashing a whole file the way `b3sum` does: memory-mapped, on several threads for large files.

use std::io;
use std::path::Path;

use crate::format::Hash;

/// The BLAKE3 digest of the file at `path`, hashed on up to `threads` threads (`0`: one per
/// core). Regular files are memory-mapped; small files and non-regular ones (pipes, devices)
/// are read in large pieces instead, as blake3's `update_mmap` decides. A directory, a missing
/// file or an unreadable one is an I/O error.
pub fn hash_file(path: &Path, threads: usize) -> io::Result<Hash> {
    let mut hasher = blake3::Hasher::new();
    match threads {
        1 => {
            hasher.update_mmap(path)?;
        }
        0 => {
            hasher.update_mmap_rayon(path)?;
        }
        _ => {
            let pool = rayon_core::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .map_err(io::Error::other)?;
            pool.install(|| hasher.update_mmap_rayon(path).map(|_| ()))?;
        }
    }
    Ok(*hasher.finalize().as_bytes())
}

/// Bytes of the size prefix of the `bao` CLI's outboard.
const BAO_CLI_SIZE_LEN: usize = 8;

/// The `bao` CLI's outboard (`bao encode --outboard`): the blob size as 8 little-endian bytes,
/// then the shift-0 pre_order bao `outboard` of that blob (its length is checked).
pub fn encode_bao_cli_outboard(outboard: &[u8], size: u64) -> Result<Vec<u8>, crate::BaoError> {
    crate::tree::Geometry::new(size, 0)?.check_outboard_len(
        outboard,
        0,
        crate::BaoFormat::PreOrder,
    )?;
    let mut out = Vec::with_capacity(BAO_CLI_SIZE_LEN + outboard.len());
    out.extend_from_slice(&size.to_le_bytes());
    out.extend_from_slice(outboard);
    Ok(out)
}

/// The size and the shift-0 pre_order bao held in a `bao` CLI outboard; a malformed-bao error
/// unless its length is exactly what the size it states needs.
pub fn decode_bao_cli_outboard(encoded: &[u8]) -> Result<(u64, &[u8]), crate::BaoError> {
    if encoded.len() < BAO_CLI_SIZE_LEN {
        return Err(crate::BaoError::malformed(format!(
            "bao outboard is {} bytes, shorter than its 8-byte size prefix",
            encoded.len()
        )));
    }
    let (prefix, outboard) = encoded.split_at(BAO_CLI_SIZE_LEN);
    let size = u64::from_le_bytes(prefix.try_into().expect("8 bytes"));
    crate::tree::Geometry::new(size, 0)?
        .check_outboard_len(outboard, 0, crate::BaoFormat::PreOrder)
        .map_err(|error| error.context("bao outboard (after its 8-byte size)"))?;
    Ok((size, outboard))
}
