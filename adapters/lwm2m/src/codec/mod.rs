//! LwM2M content-format codecs (TS Core 1.1 §7.4 "Data Formats for Transferring Resource
//! Information"), one module per format, all producing and consuming [`Content`].
//!
//! ```
//! use unidm_lwm2m::codec::{self, ContentFormat, Limits, ResourceType, Value};
//! use unidm_lwm2m::Path;
//!
//! // Battery Level /3/0/9 = 100 as TLV; the object model says it is an Integer.
//! let hints = |p: &Path| (p.resource_id() == Some(9)).then_some(ResourceType::Integer);
//! let base = Path::ObjectInstance(3, 0);
//! let content = codec::decode(
//!     ContentFormat::from(11542), &[0xC1, 0x09, 0x64], &base, &hints, &Limits::default(),
//! )?;
//! assert_eq!(content.get(&Path::Resource(3, 0, 9)), Some(&Value::Integer(100)));
//! let senml = codec::encode(ContentFormat::SenmlJson, &content, &base)?;
//! assert_eq!(senml, br#"[{"bn":"/3/0/","n":"9","v":100}]"#);
//! # Ok::<(), codec::CodecError>(())
//! ```
//!
//! Decoders take untrusted bytes: they return a [`CodecError`], never panic, and bound what
//! they allocate by the input size and by [`Limits`].
//!
//! | Format | Code | Module |
//! |---|---|---|
//! | text/plain | 0 | [`text`] |
//! | link-format | 40 | [`link_format`] (not record-shaped) |
//! | octet-stream | 42 | [`opaque`] |
//! | CBOR | 60 | [`cbor`] |
//! | SenML JSON | 110 | [`senml_json`] |
//! | SenML CBOR | 112 | [`senml_cbor`] |
//! | TLV | 11542 / 1542 | [`tlv`] |
//! | LwM2M JSON | 11543 / 1543 | [`lwm2m_json`] |
//! | LwM2M CBOR | 11544 | [`lwm2m_cbor`] |

pub mod cbor;
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
        Limits { max_records: 10_000 }
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
        ContentFormat::Cbor => cbor::decode(bytes, base, hints),
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
        ContentFormat::Cbor => cbor::encode(content),
        ContentFormat::Tlv => tlv::encode(content, base),
        ContentFormat::SenmlJson => senml_json::encode(content),
        ContentFormat::SenmlCbor => senml_cbor::encode(content),
        ContentFormat::Lwm2mJson => lwm2m_json::encode(content, base),
        ContentFormat::Lwm2mCbor => lwm2m_cbor::encode(content),
        other => Err(CodecError::Unsupported(other)),
    }
}

/// Decodes the path list of a Read-Composite / Observe-Composite request body (SenML JSON or
/// SenML CBOR records holding names only, TS Core 1.1 §6.3).
pub fn decode_paths(format: ContentFormat, bytes: &[u8], limits: &Limits) -> Result<Vec<Path>, CodecError> {
    match format {
        ContentFormat::SenmlJson => senml_json::decode_paths(bytes, limits),
        ContentFormat::SenmlCbor => senml_cbor::decode_paths(bytes, limits),
        other => Err(CodecError::Unsupported(other)),
    }
}

/// Encodes a path list as a Read-Composite / Observe-Composite request body.
pub fn encode_paths(format: ContentFormat, paths: &[Path]) -> Result<Vec<u8>, CodecError> {
    match format {
        ContentFormat::SenmlJson => senml_json::encode_paths(paths),
        ContentFormat::SenmlCbor => senml_cbor::encode_paths(paths),
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
        Err(CodecError::malformed(format!("a single value needs a resource path, got {base}")))
    }
}

#[cfg(test)]
pub(crate) mod testutil;
