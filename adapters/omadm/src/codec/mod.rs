//! The SyncML DM codec: typed messages, read from and written to XML and WBXML.
//!
//! Pure functions of bytes; no I/O, no clock. [`decode`] takes the HTTP `Content-Type` and the
//! body; [`encode`] writes a message in the encoding asked for. Both encodings pass through the
//! same [`element`] tree, so a message read from one and written to the other is the same
//! message.

pub mod element;
mod error;
pub mod media;
pub mod model;
pub mod wbxml;
pub mod xml;

pub use element::{Element, Namespace, Node};
pub use error::{CodecError, ErrorKind};
pub use media::{Encoding, MediaType};
pub use model::*;
pub use wbxml::{PublicIdForm, WbxmlOptions};

/// Bounds applied to untrusted input before and while it is read.
///
/// Nothing is allocated from a length the peer announces without checking it against the bytes
/// actually present.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest accepted message, in bytes (default 1 MiB; DM clients announce `MaxMsgSize` in
    /// the tens of kilobytes, large objects come in chunks).
    pub max_message_bytes: usize,
    /// Deepest accepted element nesting (default 48: a SyncML command needs about 8, nested
    /// Atomic / Sequence and TNDS trees in `Data` more). The readers are iterative, but mapping
    /// a tree to the model and writing it recurse once per level, so this also bounds stack use:
    /// keep it in the low hundreds on threads with the default 2 MiB stack.
    pub max_depth: usize,
    /// Most elements in one message (default 65 536).
    pub max_elements: usize,
    /// Most text and opaque bytes a WBXML message may expand to (default 4 MiB): a `STR_T`
    /// reference is two bytes but can point at a long string-table entry.
    pub max_expanded_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_message_bytes: 1024 * 1024,
            max_depth: 48,
            max_elements: 64 * 1024,
            max_expanded_bytes: 4 * 1024 * 1024,
        }
    }
}

/// Decodes a message body by its HTTP `Content-Type`, with the default [`Limits`].
pub fn decode(content_type: &str, bytes: &[u8]) -> Result<SyncML, CodecError> {
    decode_with(content_type, bytes, &Limits::default())
}

/// Decodes a message body by its HTTP `Content-Type`.
pub fn decode_with(content_type: &str, bytes: &[u8], limits: &Limits) -> Result<SyncML, CodecError> {
    match MediaType::parse(content_type)?.encoding() {
        Encoding::Xml => xml::decode(bytes, limits),
        Encoding::Wbxml => wbxml::decode(bytes, limits),
    }
}

/// Encodes a message (WBXML with the numeric public id).
pub fn encode(msg: &SyncML, encoding: Encoding) -> Result<Vec<u8>, CodecError> {
    match encoding {
        Encoding::Xml => xml::encode(msg),
        Encoding::Wbxml => wbxml::encode(msg),
    }
}
