//! LwM2M content-format codecs (TS Core 1.1 §7.4 "Data Formats for Transferring Resource
//! Information"), one module per format, all producing and consuming [`Content`].
//!
//! Decoders take untrusted bytes: they return a [`CodecError`], never panic, and bound what
//! they allocate by the input size and by [`Limits`].
//!
//! | Format | Code | Module |
//! |---|---|---|
//! | text/plain | 0 | [`text`] |
//! | link-format | 40 | [`link_format`] (not record-shaped) |
//! | octet-stream | 42 | [`opaque`] |
//! | SenML JSON | 110 | [`senml_json`] |
//! | SenML CBOR | 112 | [`senml_cbor`] |
//! | TLV | 11542 / 1542 | [`tlv`] |
//! | LwM2M JSON | 11543 / 1543 | [`lwm2m_json`] |
//! | LwM2M CBOR | 11544 | [`lwm2m_cbor`] |

pub mod content_format;
mod error;
pub mod link_format;
pub mod lwm2m_cbor;
pub mod lwm2m_json;
pub mod opaque;
pub mod senml;
pub mod senml_cbor;
pub mod senml_json;
pub mod text;
pub mod tlv;
mod value;

pub use content_format::ContentFormat;
pub use error::CodecError;
pub use value::{Content, NoHints, ObjectLinkText, Record, ResourceType, TypeHints, Value};

pub(crate) use value::hint_for;

use crate::path::Path;

/// Bounds on what a decoder builds from one payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most records one payload may decode to.
    pub max_records: usize,
}

impl Default for Limits {
    /// 10 000 records: far above a full Device object, low enough to cap memory per request.
    fn default() -> Limits {
        Limits {
            max_records: 10_000,
        }
    }
}

impl Limits {
    pub(crate) fn check(&self, count: usize) -> Result<(), CodecError> {
        if count > self.max_records {
            Err(CodecError::LimitExceeded("too many records"))
        } else {
            Ok(())
        }
    }
}

/// Decodes a payload of `format` sent for a request on `base` (the Uri-Path of the request,
/// which formats without absolute names need to place their records).
pub fn decode(
    format: ContentFormat,
    bytes: &[u8],
    base: &Path,
    hints: &dyn TypeHints,
    limits: &Limits,
) -> Result<Content, CodecError> {
    match format {
        ContentFormat::Text => text::decode(bytes, base, hints),
        ContentFormat::Opaque => opaque::decode(bytes, base),
        ContentFormat::Tlv => tlv::decode(bytes, base, hints, limits),
        ContentFormat::SenmlJson => senml_json::decode(bytes, hints, limits),
        ContentFormat::SenmlCbor => senml_cbor::decode(bytes, hints, limits),
        ContentFormat::Lwm2mJson => lwm2m_json::decode(bytes, base, hints, limits),
        ContentFormat::Lwm2mCbor => lwm2m_cbor::decode(bytes, hints, limits),
        other => Err(CodecError::Unsupported(other)),
    }
}

/// Encodes `content` in `format` as the payload for a request or response on `base`.
pub fn encode(format: ContentFormat, content: &Content, base: &Path) -> Result<Vec<u8>, CodecError> {
    match format {
        ContentFormat::Text => text::encode(content),
        ContentFormat::Opaque => opaque::encode(content),
        ContentFormat::Tlv => tlv::encode(content, base),
        ContentFormat::SenmlJson => senml_json::encode(content),
        ContentFormat::SenmlCbor => senml_cbor::encode(content),
        ContentFormat::Lwm2mJson => lwm2m_json::encode(content, base),
        ContentFormat::Lwm2mCbor => lwm2m_cbor::encode(content),
        other => Err(CodecError::Unsupported(other)),
    }
}

/// The single record a single-value format carries, or why there is not exactly one.
pub(crate) fn single(content: &Content) -> Result<&Record, CodecError> {
    match content.records.as_slice() {
        [one] => Ok(one),
        other => Err(CodecError::Unencodable(format!(
            "a single-value format carries exactly one record, got {}",
            other.len()
        ))),
    }
}

/// The path a single-value payload is for: the request must target a resource or instance.
pub(crate) fn single_path(base: &Path) -> Result<Path, CodecError> {
    if base.is_resource_level() {
        Ok(*base)
    } else {
        Err(CodecError::malformed(format!(
            "a single value needs a resource path, got {base}"
        )))
    }
}

#[cfg(test)]
pub(crate) mod testutil;
