//! The one error type of the codec layer, with kinds a caller can branch on.

use crate::path::{Path, PathError};

use super::content_format::ContentFormat;

/// Why a payload could not be decoded or content could not be encoded.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CodecError {
    /// The payload ends before a length or a value it announces.
    #[error("payload truncated: {0}")]
    Truncated(&'static str),
    /// The payload violates the format's syntax.
    #[error("malformed payload: {0}")]
    Malformed(String),
    /// A name or base name is not a valid LwM2M path.
    #[error(transparent)]
    Path(#[from] PathError),
    /// A value cannot be read as the type it should have.
    #[error("invalid value at {path}: {reason}")]
    InvalidValue {
        /// Where.
        path: Path,
        /// What was wrong.
        reason: String,
    },
    /// A record lies outside the path of the request.
    #[error("{path} is not under the request path {base}")]
    OutsideBase {
        /// The record's path.
        path: Path,
        /// The request path.
        base: Path,
    },
    /// More records or deeper nesting than [`super::Limits`] allow.
    #[error("limit exceeded: {0}")]
    LimitExceeded(&'static str),
    /// The content cannot be expressed in this format (wrong level, several values for a
    /// single-value format, non-finite float in JSON, ...).
    #[error("cannot encode: {0}")]
    Unencodable(String),
    /// No codec for this content format.
    #[error("content format {0:?} is not supported here")]
    Unsupported(ContentFormat),
}

impl CodecError {
    /// True when the peer sent something wrong (answer 4.00 Bad Request), false when the local
    /// side asked for something impossible.
    pub fn is_bad_input(&self) -> bool {
        !matches!(self, CodecError::Unencodable(_) | CodecError::Unsupported(_))
    }

    pub(crate) fn malformed(reason: impl Into<String>) -> CodecError {
        CodecError::Malformed(reason.into())
    }

    pub(crate) fn invalid(path: Path, reason: impl Into<String>) -> CodecError {
        CodecError::InvalidValue { path, reason: reason.into() }
    }
}
