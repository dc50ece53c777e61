//! The bounded WBXML reader (WBXML 1.3, sections 5.3-5.8).

use super::tokens::{self, *};
use super::{CHARSET_UTF8, PUBLIC_ID_SYNCML_1_1, PUBLIC_ID_SYNCML_1_2, PUBLIC_ID_UNKNOWN};
use crate::codec::element::{Element, Namespace, Node};
use crate::codec::error::CodecError;
use crate::codec::Limits;

/// FPIs accepted in the literal public-id form (compared ignoring ASCII case). The DM DDF one
/// is the public id of a TNDS document embedded as `OPAQUE` in a `Data` element (Meta Type
/// `application/vnd.syncml.dmtnds+wbxml`, OMA DM Tree and Description 1.2.1, "WBXML Definition"),
/// which libwbxml writes.
const FPIS: [&str; 4] = [
    "-//SYNCML//DTD SyncML 1.2//EN",
    "-//SYNCML//DTD SyncML 1.1//EN",
    "-//SYNCML//DTD SyncML 1.0//EN",
    "-//OMA//DTD-DM-DDF 1.2//EN",
];

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
    strtbl: &'a [u8],
}

impl<'a> Reader<'a> {
    fn err(&self, reason: impl Into<String>) -> CodecError {
        CodecError::wbxml(self.pos, reason)
    }

    fn byte(&mut self) -> Result<u8, CodecError> {
        let b = *self.bytes.get(self.pos).ok_or_else(|| self.err("unexpected end of document"))?;
        self.pos += 1;
        Ok(b)
    }

    /// An mb_u_int32 (WBXML 1.3, section 5.1): at most five bytes, and it must fit 32 bits.
    fn mb_u32(&mut self) -> Result<u32, CodecError> {
        let mut v: u32 = 0;
        for _ in 0..5 {
            let b = self.byte()?;
            if v > (u32::MAX >> 7) {
                return Err(self.err("mb_u_int32 overflows 32 bits"));
            }
            v = (v << 7) | u32::from(b & 0x7F);
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(self.err("mb_u_int32 longer than five bytes"))
    }

    fn take(&mut self, len: u32) -> Result<&'a [u8], CodecError> {
        let len = len as usize;
        if len > self.bytes.len() - self.pos {
            return Err(self.err(format!("length {len} runs past the end of the document")));
        }
        let s = &self.bytes[self.pos..self.pos + len];
        self.pos += len;
        Ok(s)
    }

    /// A NUL-terminated inline string.
    fn str_i(&mut self) -> Result<&'a str, CodecError> {
        let rest = &self.bytes[self.pos..];
        let end = rest.iter().position(|&b| b == 0).ok_or_else(|| self.err("unterminated inline string"))?;
        let s = std::str::from_utf8(&rest[..end]).map_err(|_| self.err("inline string is not UTF-8"))?;
        self.pos += end + 1;
        Ok(s)
    }

    /// The NUL-terminated string at a string-table offset.
    fn str_t(&self, offset: u32) -> Result<&'a str, CodecError> {
        let rest = self.strtbl.get(offset as usize..).ok_or_else(|| self.err("string-table offset out of range"))?;
        let end = rest.iter().position(|&b| b == 0).unwrap_or(rest.len());
        std::str::from_utf8(&rest[..end]).map_err(|_| self.err("string-table entry is not UTF-8"))
    }

    /// Skips an attribute list up to and including its END (SyncML defines no attributes).
    fn skip_attributes(&mut self) -> Result<(), CodecError> {
        loop {
            match self.byte()? {
                END => return Ok(()),
                SWITCH_PAGE => {
                    self.byte()?;
                }
                STR_I => {
                    self.str_i()?;
                }
                STR_T | LITERAL | ENTITY | EXT_T_0..=EXT_T_2 => {
                    self.mb_u32()?;
                }
                EXT_I_0..=EXT_I_2 => {
                    self.str_i()?;
                }
                OPAQUE => {
                    let len = self.mb_u32()?;
                    self.take(len)?;
                }
                _ => {}
            }
        }
    }
}

fn page_namespace(page: u8) -> Namespace {
    match page {
        0 => Namespace::SyncMl,
        1 => Namespace::MetInf,
        2 => Namespace::DmDdf,
        p => Namespace::Other(format!("wbxml:page:{p}")),
    }
}

/// Adds text to the open element, merging with a preceding text node.
fn push_text(stack: &mut [Element], text: &str, at: usize) -> Result<(), CodecError> {
    let top = stack.last_mut().ok_or_else(|| CodecError::wbxml(at, "text outside the root element"))?;
    if let Some(Node::Text(prev)) = top.content.last_mut() {
        prev.push_str(text);
    } else {
        top.content.push(Node::Text(text.to_owned()));
    }
    Ok(())
}

/// Reads a WBXML document into its root element, enforcing every bound in `limits`.
///
/// Besides SyncML messages this reads the embedded TNDS documents some encoders put in an
/// Item's opaque `Data` (see [`Data::Opaque`](crate::codec::Data::Opaque)).
pub fn read_element(bytes: &[u8], limits: &Limits) -> Result<Element, CodecError> {
    if bytes.len() > limits.max_message_bytes {
        return Err(CodecError::TooLarge { size: bytes.len(), limit: limits.max_message_bytes });
    }
    let mut r = Reader { bytes, pos: 0, strtbl: &[] };

    // Header (WBXML 1.3, section 5.3): version, publicid, charset, strtbl.
    let version = r.byte()?;
    if !(0x01..=0x03).contains(&version) {
        return Err(CodecError::Unsupported(format!("WBXML version byte {version:#04x}")));
    }
    let public_id = r.mb_u32()?;
    let fpi_index = if public_id == 0 { Some(r.mb_u32()?) } else { None };
    let charset = r.mb_u32()?;
    // 106 UTF-8; 3 US-ASCII is a subset; 0 means "unknown" and is read as UTF-8.
    if ![CHARSET_UTF8, 3, 0].contains(&charset) {
        return Err(CodecError::Unsupported(format!("WBXML charset MIBenum {charset}")));
    }
    let len = r.mb_u32()?;
    r.strtbl = r.take(len)?;
    match fpi_index {
        Some(i) => {
            let fpi = r.str_t(i)?;
            if !FPIS.iter().any(|f| f.eq_ignore_ascii_case(fpi.trim())) {
                return Err(CodecError::Unsupported(format!("WBXML public identifier {fpi:?}")));
            }
        }
        None if [PUBLIC_ID_SYNCML_1_2, PUBLIC_ID_SYNCML_1_1, PUBLIC_ID_UNKNOWN].contains(&public_id) => {}
        None => return Err(CodecError::Unsupported(format!("WBXML public id {public_id:#x}"))),
    }

    // Body (WBXML 1.3, section 5.8): pi* element pi*.
    let mut page = 0u8;
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    let mut elements = 0usize;
    // Text that string-table references and entities expand to, bounded separately: a short
    // STR_T can point at a long entry any number of times.
    let mut expanded = 0usize;
    let mut count_text = |n: usize| -> Result<(), CodecError> {
        expanded = expanded.saturating_add(n);
        if expanded > limits.max_expanded_bytes {
            return Err(CodecError::TooLarge { size: expanded, limit: limits.max_expanded_bytes });
        }
        Ok(())
    };
    while root.is_none() {
        let at = r.pos;
        let tok = r.byte()?;
        match tok {
            SWITCH_PAGE => page = r.byte()?,
            END => {
                let el = stack.pop().ok_or_else(|| CodecError::wbxml(at, "END without an open element"))?;
                match stack.last_mut() {
                    Some(parent) => parent.content.push(Node::Element(el)),
                    None => root = Some(el),
                }
            }
            STR_I => {
                let s = r.str_i()?;
                count_text(s.len())?;
                push_text(&mut stack, s, at)?;
            }
            STR_T => {
                let offset = r.mb_u32()?;
                let s = r.str_t(offset)?;
                count_text(s.len())?;
                push_text(&mut stack, s, at)?;
            }
            ENTITY => {
                let code = r.mb_u32()?;
                let c = char::from_u32(code).ok_or_else(|| CodecError::wbxml(at, "ENTITY is not a character"))?;
                count_text(c.len_utf8())?;
                push_text(&mut stack, c.encode_utf8(&mut [0u8; 4]), at)?;
            }
            OPAQUE => {
                let len = r.mb_u32()?;
                let data = r.take(len)?;
                count_text(data.len())?;
                let top = stack.last_mut().ok_or_else(|| CodecError::wbxml(at, "opaque data outside the root"))?;
                top.content.push(Node::Opaque(data.to_vec()));
            }
            PI => {
                // Processing instructions carry nothing for SyncML; skip target and value.
                r.skip_attributes()?;
            }
            EXT_I_0..=EXT_I_2 | EXT_T_0..=EXT_T_2 | EXT_0..=EXT_2 => {
                return Err(CodecError::Unsupported(format!("WBXML extension token {tok:#04x}")));
            }
            _ => {
                let (name, has_attrs, has_content) = if matches!(tok, LITERAL | LITERAL_C | LITERAL_A | LITERAL_AC) {
                    let offset = r.mb_u32()?;
                    (r.str_t(offset)?, tok & 0x80 != 0, tok & 0x40 != 0)
                } else {
                    let id = tok & 0x3F;
                    let name = tokens::tag_name(page, id).ok_or_else(|| {
                        CodecError::wbxml(at, format!("unknown tag token {id:#04x} on code page {page}"))
                    })?;
                    (name, tok & HAS_ATTRIBUTES != 0, tok & HAS_CONTENT != 0)
                };
                if name.is_empty() {
                    return Err(CodecError::wbxml(at, "literal tag with an empty name"));
                }
                if stack.len() >= limits.max_depth {
                    return Err(CodecError::TooDeep { limit: limits.max_depth });
                }
                elements += 1;
                if elements > limits.max_elements {
                    return Err(CodecError::TooManyElements { limit: limits.max_elements });
                }
                if has_attrs {
                    r.skip_attributes()?;
                }
                let el = Element::new(page_namespace(page), name);
                if has_content {
                    stack.push(el);
                } else {
                    match stack.last_mut() {
                        Some(parent) => parent.content.push(Node::Element(el)),
                        None => root = Some(el),
                    }
                }
            }
        }
    }
    // Trailing processing instructions are allowed; anything else is not.
    while r.pos < bytes.len() {
        match r.byte()? {
            PI => r.skip_attributes()?,
            _ => return Err(r.err("content after the root element")),
        }
    }
    root.ok_or_else(|| r.err("document has no root element"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_public_id_and_string_table() {
        let mut doc = vec![0x02, 0x00, 0x00, 0x6A, 0x1D];
        doc.extend_from_slice(b"-//SYNCML//DTD SyncML 1.2//EN");
        doc.extend_from_slice(&[0x6D, 0x6B, 0x46, 0x4B, 0x83, 0x0B, 0x01, 0x01, 0x01, 0x01]);
        let root = read_element(&doc, &Limits::default()).expect("decodes");
        assert!(root.is("SyncML"));
        let cmd_id = root.child("SyncBody").and_then(|b| b.child("Alert")).and_then(|a| a.child("CmdID"));
        assert_eq!(cmd_id.map(|c| c.string().unwrap()).as_deref(), Some("DTD SyncML 1.2//EN"));
    }

    #[test]
    fn string_table_amplification_is_bounded() {
        let mut doc = vec![0x02, 0xA4, 0x01, 0x6A, 0x10];
        doc.extend_from_slice(b"0123456789abcde\0");
        doc.extend_from_slice(&[0x6D, 0x4F]);
        for _ in 0..100 {
            doc.extend_from_slice(&[0x83, 0x00]);
        }
        doc.extend_from_slice(&[0x01, 0x01]);
        let limits = Limits { max_expanded_bytes: 1000, ..Limits::default() };
        assert!(read_element(&doc, &limits).unwrap_err().is_too_large());
        assert!(read_element(&doc, &Limits::default()).is_ok());
    }

    #[test]
    fn header_errors_are_typed() {
        assert!(read_element(&[0x09, 0xA4, 0x01, 0x6A, 0x00], &Limits::default()).unwrap_err().is_unsupported());
        assert!(read_element(&[0x02, 0xA4, 0x01, 0x04, 0x00], &Limits::default()).unwrap_err().is_unsupported());
        assert!(read_element(&[0x02, 0x9F, 0x54, 0x6A, 0x00], &Limits::default()).unwrap_err().is_unsupported());
        assert!(read_element(&[0x02, 0xA4, 0x01, 0x6A, 0x05], &Limits::default()).unwrap_err().is_malformed());
        assert!(read_element(&[0x02, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF], &Limits::default()).unwrap_err().is_malformed());
    }
}
