//! Why a query could not be parsed: invalid text (with the byte position), or a construct
//! that is valid TraceQL but not supported yet (named, so the user knows what to change).

use std::fmt;

/// A query that could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    position: usize,
    message: String,
    unsupported: bool,
}

impl ParseError {
    /// Invalid TraceQL at byte offset `position`.
    pub(crate) fn invalid(position: usize, message: impl Into<String>) -> Self {
        Self {
            position,
            message: message.into(),
            unsupported: false,
        }
    }

    /// Valid TraceQL that tracegate does not support yet, at byte offset `position`.
    /// `construct` names it: `the structural operator ">>"`.
    pub(crate) fn unsupported(position: usize, construct: impl fmt::Display) -> Self {
        Self {
            position,
            message: format!("{construct} is not supported yet"),
            unsupported: true,
        }
    }

    /// Byte offset in the query (from 0) of what is wrong.
    pub fn position(&self) -> usize {
        self.position
    }

    /// True for valid TraceQL that is not supported yet (structural operators, metrics
    /// functions, arithmetic, …); false for invalid text.
    pub fn is_unsupported(&self) -> bool {
        self.unsupported
    }

    /// What is wrong, without the position.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.unsupported {
            write!(f, "unsupported TraceQL: {}", self.message)
        } else {
            write!(
                f,
                "invalid TraceQL at position {}: {}",
                self.position, self.message
            )
        }
    }
}

impl std::error::Error for ParseError {}
