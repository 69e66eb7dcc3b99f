//! Shift and format parameters shared by every operation.

use std::fmt;
use std::str::FromStr;

use crate::error::BaoError;

/// Largest accepted shift: a group of `1024 << 32` bytes (4 TiB).
pub const MAX_SHIFT: u8 = 32;

/// Bytes in one BLAKE3 chunk.
pub(crate) const CHUNK_LEN: u64 = 1024;

/// A BLAKE3 root hash.
pub type Hash = [u8; 32];

/// How the nodes of a bao are laid out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BaoFormat {
    /// bao-tree's `PreOrderOutboard`: every parent above group level as `left ‖ right`, pre-order.
    PreOrder,
    /// The chaining values of the chunk groups, 32 bytes each, in order.
    Leaves,
}

impl BaoFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            BaoFormat::PreOrder => "pre_order",
            BaoFormat::Leaves => "leaves",
        }
    }
}

impl fmt::Display for BaoFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for BaoFormat {
    type Err = BaoError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "pre_order" => Ok(BaoFormat::PreOrder),
            "leaves" => Ok(BaoFormat::Leaves),
            other => Err(BaoError::new(format!(
                "unknown bao format {other:?}: expected \"pre_order\" or \"leaves\""
            ))),
        }
    }
}

/// Bytes in one chunk group at `shift`, or an error for a shift above [`MAX_SHIFT`].
pub fn group_len(shift: u8) -> Result<u64, BaoError> {
    if shift > MAX_SHIFT {
        return Err(BaoError::new(format!(
            "shift {shift} is out of range: expected 0..={MAX_SHIFT}"
        )));
    }
    Ok(CHUNK_LEN << shift)
}
