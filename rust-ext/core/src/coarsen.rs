//! Re-shaping an existing bao without the data: coarser groups, or the other format.

use crate::codec::{decode, encode, for_each_pair};
use crate::error::BaoError;
use crate::format::BaoFormat;
use crate::hashing::pair_up;
use crate::tree::Geometry;

/// The bao of the same blob at the coarser `to_shift`: groups pair up into parents, so no data
/// is needed. Finer shifts need the data again and are refused.
pub fn coarsen(
    outboard: &[u8],
    size: u64,
    from_shift: u8,
    to_shift: u8,
    format: BaoFormat,
) -> Result<Vec<u8>, BaoError> {
    let fine = Geometry::new(size, from_shift)?;
    let coarse = Geometry::new(size, to_shift)?;
    if to_shift < from_shift {
        return Err(BaoError::argument("to_shift", format!(
            "cannot coarsen from shift {from_shift} to the finer shift {to_shift}: that needs the data"
        )));
    }
    fine.check_outboard_len(outboard, from_shift, format)?;
    if to_shift == from_shift {
        return Ok(outboard.to_vec());
    }
    if coarse.groups == 1 {
        return Ok(Vec::new());
    }
    let levels_up = u32::from(to_shift - from_shift);
    match format {
        BaoFormat::PreOrder => Ok(keep_coarse_parents(&fine, outboard, levels_up)),
        BaoFormat::Leaves => {
            let mut cvs = decode(&fine, outboard, format);
            for _ in 0..levels_up {
                cvs = pair_up(&cvs);
            }
            Ok(cvs.concat())
        }
    }
}

/// The pairs of a fine pre-order bao whose nodes span more than one coarse group: exactly the
/// parents of the coarse tree, already in its pre-order, with the same chaining values.
fn keep_coarse_parents(fine: &Geometry, outboard: &[u8], levels_up: u32) -> Vec<u8> {
    let mut out = Vec::new();
    for_each_pair(fine, outboard, |parent, left, right| {
        let first_coarse = parent.start >> levels_up;
        let end_coarse = (parent.start + parent.count).div_ceil(1u64 << levels_up);
        if end_coarse - first_coarse > 1 {
            out.extend_from_slice(left);
            out.extend_from_slice(right);
        }
    });
    out
}

/// The same bao in the other format.
pub fn convert_format(
    outboard: &[u8],
    size: u64,
    shift: u8,
    from: BaoFormat,
    to: BaoFormat,
) -> Result<Vec<u8>, BaoError> {
    let geometry = Geometry::new(size, shift)?;
    geometry.check_outboard_len(outboard, shift, from)?;
    if from == to || geometry.groups == 1 {
        return Ok(outboard.to_vec());
    }
    let cvs = decode(&geometry, outboard, from);
    Ok(match to {
        BaoFormat::Leaves => cvs.concat(),
        BaoFormat::PreOrder => encode(&cvs, to).1,
    })
}
