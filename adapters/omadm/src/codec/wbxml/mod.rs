//! SyncML DM in WBXML (WBXML 1.3, WAP-192-WBXML-20010725-a; the WBXML code pages of SyncML
//! Representation Protocol 1.2 and OMA DM Tree and Description 1.2.1): our own decoder and encoder.
//!
//! The decoder accepts WBXML 1.1 to 1.3, the numeric public ids of SyncML 1.1 (0x0FD3) and 1.2
//! (0x1201), "unknown" (0x01), and the literal form (public id 0 plus a string-table offset
//! of `-//SYNCML//DTD SyncML 1.x//EN`), charset UTF-8 (106; also US-ASCII and "unknown"), the
//! code pages SyncML (0), MetInf (1) and DM DDF (2), `STR_I`, `STR_T`, `ENTITY`, `OPAQUE` and
//! `LITERAL` tags. Attributes (SyncML defines none) are skipped. It is bounded like the XML
//! reader, and also bounds the text that string-table references expand to.
//!
//! The encoder writes WBXML 1.2 (`0x02`, as the DM toolkits do), the numeric public id (or the
//! literal form, see [`WbxmlOptions`]), UTF-8, `STR_I` for text, `OPAQUE` for opaque data and a
//! `LITERAL` tag (named in the string table) for any element the code pages do not name.

mod decode;
mod encode;
pub(crate) mod tokens;

pub use decode::read_element;
pub use encode::write_element;

use super::error::CodecError;
use super::model::{SyncML, SyncMlVersion};
use super::Limits;

/// WBXML public id of `-//SYNCML//DTD SyncML 1.2//EN`.
pub const PUBLIC_ID_SYNCML_1_2: u32 = 0x1201;
/// WBXML public id of `-//SYNCML//DTD MetInf 1.2//EN`.
pub const PUBLIC_ID_METINF_1_2: u32 = 0x1202;
/// WBXML public id of `-//SYNCML//DTD DevInf 1.2//EN`.
pub const PUBLIC_ID_DEVINF_1_2: u32 = 0x1203;
/// WBXML public id of `-//SYNCML//DTD SyncML 1.1//EN`.
pub const PUBLIC_ID_SYNCML_1_1: u32 = 0x0FD3;
/// WBXML public id "unknown or missing" (WBXML 1.3, section 7.2).
pub const PUBLIC_ID_UNKNOWN: u32 = 0x01;
/// IANA MIBenum of UTF-8.
pub const CHARSET_UTF8: u32 = 106;

/// How the encoder writes the document's public identifier (WBXML 1.3, section 5.5).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum PublicIdForm {
    /// The numeric id (0x1201 for SyncML 1.2): `02 A4 01 6A 00`, as the SyncML RTK writes it.
    #[default]
    Numeric,
    /// Public id 0 and the FPI in the string table: `02 00 00 6A 1D -//SYNCML//…`, as the AOSP
    /// DM toolkit writes it.
    Literal,
}

/// Options of the WBXML encoder.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WbxmlOptions {
    /// Form of the public identifier.
    pub public_id: PublicIdForm,
}

/// Decodes a WBXML SyncML message.
pub fn decode(bytes: &[u8], limits: &Limits) -> Result<SyncML, CodecError> {
    SyncML::from_element(&read_element(bytes, limits)?)
}

/// Encodes a message as WBXML with the numeric public id.
pub fn encode(msg: &SyncML) -> Result<Vec<u8>, CodecError> {
    encode_with(msg, WbxmlOptions::default())
}

/// Encodes a message as WBXML with the given options.
pub fn encode_with(msg: &SyncML, options: WbxmlOptions) -> Result<Vec<u8>, CodecError> {
    write_element(&msg.to_element(), msg.version(), options)
}

/// The numeric public id of a SyncML version.
pub fn public_id(version: SyncMlVersion) -> u32 {
    match version {
        SyncMlVersion::V1_1 => PUBLIC_ID_SYNCML_1_1,
        SyncMlVersion::V1_2 => PUBLIC_ID_SYNCML_1_2,
    }
}

/// Appends an mb_u_int32 (WBXML 1.3, section 5.1): 7 bits per byte, most significant first,
/// the high bit set on every byte but the last.
pub(crate) fn put_mb_u32(out: &mut Vec<u8>, mut v: u32) {
    let mut buf = [0u8; 5];
    let mut i = buf.len() - 1;
    buf[i] = (v & 0x7F) as u8;
    v >>= 7;
    while v != 0 {
        i -= 1;
        buf[i] = (v & 0x7F) as u8 | 0x80;
        v >>= 7;
    }
    out.extend_from_slice(&buf[i..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mb_u_int32_matches_the_spec_examples() {
        let enc = |v| {
            let mut out = Vec::new();
            put_mb_u32(&mut out, v);
            out
        };
        assert_eq!(enc(0), [0x00]);
        assert_eq!(enc(0x7F), [0x7F]);
        assert_eq!(enc(0x80), [0x81, 0x00]);
        assert_eq!(enc(0x1201), [0xA4, 0x01]);
        assert_eq!(enc(0x0FD3), [0x9F, 0x53]);
        assert_eq!(enc(u32::MAX), [0x8F, 0xFF, 0xFF, 0xFF, 0x7F]);
    }
}
