//! The single error type of the crate.

use std::fmt;

/// Any mismatch, malformed bao or bad argument. The message names the group and byte offset
/// where that applies, so a caller can show it as is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaoError(String);

impl BaoError {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }

    /// The human-readable message (same as `Display`).
    pub fn message(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for BaoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BaoError {}
