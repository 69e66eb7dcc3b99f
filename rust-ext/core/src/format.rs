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
            other => Err(BaoError::argument(
                "format",
                format!("unknown bao format {other:?}: expected \"pre_order\" or \"leaves\""),
            )),
        }
    }
}

/// How a whole bao is laid out where it is kept: a wire [`BaoFormat`], or `post_order`, the
/// storage layout that can be written while a blob streams in and read by byte range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// Same bytes as [`BaoFormat::PreOrder`].
    PreOrder,
    /// bao-tree's `PostOrderOutboard` (no size suffix): every parent above group level as
    /// `left ‖ right`, in post-order (children before their parent, left before right).
    PostOrder,
    /// Same bytes as [`BaoFormat::Leaves`].
    Leaves,
}

impl Layout {
    pub fn as_str(self) -> &'static str {
        match self {
            Layout::PreOrder => "pre_order",
            Layout::PostOrder => "post_order",
            Layout::Leaves => "leaves",
        }
    }
}

impl From<BaoFormat> for Layout {
    fn from(format: BaoFormat) -> Self {
        match format {
            BaoFormat::PreOrder => Layout::PreOrder,
            BaoFormat::Leaves => Layout::Leaves,
        }
    }
}

impl fmt::Display for Layout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Layout {
    type Err = BaoError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "post_order" => Ok(Layout::PostOrder),
            other => other.parse::<BaoFormat>().map(Layout::from).map_err(|_| {
                BaoError::argument(
                    "layout",
                    format!(
                        "unknown bao layout {other:?}: expected \"pre_order\", \"post_order\" or \"leaves\""
                    ),
                )
            }),
        }
    }
}

/// Bytes in one chunk group at `shift`, or an error for a shift above [`MAX_SHIFT`].
pub fn group_len(shift: u8) -> Result<u64, BaoError> {
    if shift > MAX_SHIFT {
        return Err(BaoError::argument(
            "shift",
            format!("shift {shift} is out of range: expected 0..={MAX_SHIFT}"),
        ));
    }
    Ok(CHUNK_LEN << shift)
}
