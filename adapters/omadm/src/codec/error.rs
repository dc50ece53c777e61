//! Errors of the SyncML DM codec: one type, with kinds a caller can branch on.

use thiserror::Error;

/// What kind of failure a [`CodecError`] is, for callers that answer differently to each
/// (e.g. HTTP 413 for [`ErrorKind::TooLarge`], 415 for [`ErrorKind::Unsupported`], 400 otherwise).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The input exceeds one of the configured [`Limits`](super::Limits).
    TooLarge,
    /// The input is not well-formed XML / WBXML, or not a valid SyncML DM message.
    Malformed,
    /// The input is well-formed but uses something this codec does not support (a media type,
    /// a WBXML public id or charset, a DOCTYPE), or a message cannot be written in the chosen
    /// encoding.
    Unsupported,
}

/// Everything that can go wrong while reading or writing a SyncML DM message.
///
/// Every variant describes bad or unsupported input; the codec never panics.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum CodecError {
    /// The message exceeds the configured maximum size.
    #[error("message of {size} bytes exceeds the limit of {limit} bytes")]
    TooLarge {
        /// Size of the input in bytes.
        size: usize,
        /// Configured limit in bytes.
        limit: usize,
    },
    /// Elements nest deeper than the configured limit.
    #[error("nesting deeper than {limit} elements")]
    TooDeep {
        /// Configured maximum depth.
        limit: usize,
    },
    /// The document has more elements than the configured limit.
    #[error("document has more than {limit} elements")]
    TooManyElements {
        /// Configured limit.
        limit: usize,
    },
    /// The XML document carries a `<!DOCTYPE>` with an internal subset; it is never processed,
    /// so entity declarations (entity-expansion attacks) are never expanded. (A DOCTYPE with only
    /// an external identifier, as SyncML stacks write it, is skipped, its DTD never fetched.)
    #[error("DOCTYPE refused (entity declarations: {has_entities})")]
    DoctypeRefused {
        /// Whether the refused DOCTYPE declared entities (`<!ENTITY`).
        has_entities: bool,
    },
    /// The input is not well-formed XML (or not UTF-8).
    #[error("malformed XML: {0}")]
    Xml(String),
    /// The input is not well-formed WBXML.
    #[error("malformed WBXML at byte {offset}: {reason}")]
    Wbxml {
        /// Offset of the offending byte.
        offset: usize,
        /// What is wrong there.
        reason: String,
    },
    /// The document is well-formed but is not a valid SyncML message (a required element is
    /// missing, a number does not parse, the root is not `SyncML`).
    #[error("invalid SyncML: <{element}> {reason}")]
    Invalid {
        /// Element where the problem is.
        element: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The HTTP content type is not a SyncML DM media type.
    #[error("unsupported media type {0:?}")]
    UnsupportedMediaType(String),
    /// Something well-formed that this codec does not support, or a message that cannot be
    /// written in the requested encoding.
    #[error("unsupported: {0}")]
    Unsupported(String),
}

impl CodecError {
    /// The kind of failure.
    pub fn kind(&self) -> ErrorKind {
        match self {
            CodecError::TooLarge { .. } | CodecError::TooDeep { .. } | CodecError::TooManyElements { .. } => {
                ErrorKind::TooLarge
            }
            CodecError::Xml(_) | CodecError::Wbxml { .. } | CodecError::Invalid { .. } => ErrorKind::Malformed,
            CodecError::DoctypeRefused { .. } | CodecError::UnsupportedMediaType(_) | CodecError::Unsupported(_) => {
                ErrorKind::Unsupported
            }
        }
    }

    /// Whether the input exceeded a [`Limits`](super::Limits) bound.
    pub fn is_too_large(&self) -> bool {
        self.kind() == ErrorKind::TooLarge
    }

    /// Whether the input is malformed.
    pub fn is_malformed(&self) -> bool {
        self.kind() == ErrorKind::Malformed
    }

    /// Whether the input (or the requested output) is unsupported.
    pub fn is_unsupported(&self) -> bool {
        self.kind() == ErrorKind::Unsupported
    }

    pub(crate) fn invalid(element: &str, reason: impl Into<String>) -> CodecError {
        CodecError::Invalid { element: element.to_owned(), reason: reason.into() }
    }

    pub(crate) fn wbxml(offset: usize, reason: impl Into<String>) -> CodecError {
        CodecError::Wbxml { offset, reason: reason.into() }
    }
}
