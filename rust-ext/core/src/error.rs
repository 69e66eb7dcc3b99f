//! The error type of the crate: what went wrong, by kind, with a message that says where.

use std::fmt;

/// What kind of failure a [`BaoError`] is, so callers branch on a kind, not on text.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// Data, a bao or a proof does not hash to what the root (or a verified node) says, or a
    /// stream is shorter or longer than the window: a lie or damage.
    Mismatch,
    /// A bao or proof whose length cannot belong to the claimed size, shift and window.
    Malformed,
    /// An argument outside its domain (a shift, a format name, a window, a thread count, ...).
    Argument,
}

/// Any mismatch, malformed bao or bad argument. The message names the group and byte offset
/// where that applies (and the argument, for [`ErrorKind::Argument`]), so a caller can show it
/// as is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaoError {
    kind: ErrorKind,
    /// The argument at fault, for [`ErrorKind::Argument`].
    argument: Option<&'static str>,
    message: String,
}

impl BaoError {
    /// Data, bao or proof that does not match.
    pub(crate) fn mismatch(message: impl Into<String>) -> Self {
        Self {
            kind: ErrorKind::Mismatch,
            argument: None,
            message: message.into(),
        }
    }

    /// A bao or proof of a length or shape that cannot be right.
    pub(crate) fn malformed(message: impl Into<String>) -> Self {
        Self {
            kind: ErrorKind::Malformed,
            argument: None,
            message: message.into(),
        }
    }

    /// A bad value of the argument `name`.
    pub(crate) fn argument(name: &'static str, message: impl Into<String>) -> Self {
        Self {
            kind: ErrorKind::Argument,
            argument: Some(name),
            message: message.into(),
        }
    }

    /// The same error with `context` put before its message.
    pub(crate) fn context(&self, context: &str) -> Self {
        Self {
            message: format!("{context}: {}", self.message),
            ..self.clone()
        }
    }

    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The argument at fault, for [`ErrorKind::Argument`].
    pub fn argument_name(&self) -> Option<&'static str> {
        self.argument
    }

    /// The human-readable message (same as `Display`).
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for BaoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for BaoError {}
