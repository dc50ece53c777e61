//! The WBXML writer (WBXML 1.3, sections 5.3-5.8).

use super::tokens::{self, *};
use super::{put_mb_u32, PublicIdForm, WbxmlOptions, CHARSET_UTF8};
use crate::codec::element::{Element, Namespace, Node};
use crate::codec::error::CodecError;
use crate::codec::model::SyncMlVersion;

/// The code page of a vocabulary; `None` for one WBXML cannot name.
fn page_of(ns: &Namespace, parent: u8) -> Result<u8, CodecError> {
    match ns {
        Namespace::SyncMl => Ok(0),
        Namespace::MetInf => Ok(1),
        Namespace::DmDdf => Ok(2),
        Namespace::Unqualified => Ok(parent),
        Namespace::Other(uri) => {
            Err(CodecError::Unsupported(format!("namespace {uri:?} has no WBXML code page in SyncML DM")))
        }
    }
}

/// Builds the string table: the FPI (literal public-id form) and every tag name the code pages
/// do not have, each NUL-terminated, with their offsets.
struct StringTable {
    bytes: Vec<u8>,
    names: Vec<(String, u32)>,
}

impl StringTable {
    fn add(&mut self, s: &str) -> u32 {
        if let Some((_, off)) = self.names.iter().find(|(n, _)| n == s) {
            return *off;
        }
        let off = self.bytes.len() as u32;
        self.bytes.extend_from_slice(s.as_bytes());
        self.bytes.push(0);
        self.names.push((s.to_owned(), off));
        off
    }

    fn collect(&mut self, el: &Element, parent_page: u8) -> Result<(), CodecError> {
        let page = page_of(&el.ns, parent_page)?;
        if tokens::tag_token(page, &el.name).is_none() {
            if el.name.is_empty() || el.name.contains('\0') {
                return Err(CodecError::Unsupported(format!("tag name {:?}", el.name)));
            }
            self.add(&el.name);
        }
        for child in el.children() {
            self.collect(child, page)?;
        }
        Ok(())
    }

    fn offset(&self, s: &str) -> Option<u32> {
        self.names.iter().find(|(n, _)| n == s).map(|(_, o)| *o)
    }
}

/// Writes an element tree as a WBXML 1.2 document.
///
/// Fails with [`CodecError::Unsupported`] for an element in a namespace without a code page, and
/// for text holding NUL (which `STR_I` cannot carry).
pub fn write_element(root: &Element, version: SyncMlVersion, options: WbxmlOptions) -> Result<Vec<u8>, CodecError> {
    let mut table = StringTable { bytes: Vec::new(), names: Vec::new() };
    let fpi_offset = match options.public_id {
        PublicIdForm::Literal => Some(table.add(version.fpi())),
        PublicIdForm::Numeric => None,
    };
    table.collect(root, 0)?;

    let mut out = Vec::with_capacity(512 + table.bytes.len());
    out.push(0x02);
    match fpi_offset {
        Some(off) => {
            out.push(0x00);
            put_mb_u32(&mut out, off);
        }
        None => put_mb_u32(&mut out, super::public_id(version)),
    }
    put_mb_u32(&mut out, CHARSET_UTF8);
    put_mb_u32(&mut out, table.bytes.len() as u32);
    out.extend_from_slice(&table.bytes);
    let mut page = 0u8;
    write(&mut out, root, &table, &mut page, 0)?;
    Ok(out)
}

fn write(out: &mut Vec<u8>, el: &Element, table: &StringTable, page: &mut u8, parent: u8) -> Result<(), CodecError> {
    let el_page = page_of(&el.ns, parent)?;
    if el_page != *page {
        out.extend_from_slice(&[SWITCH_PAGE, el_page]);
        *page = el_page;
    }
    let content: Vec<&Node> = el.content.iter().filter(|n| !matches!(n, Node::Text(t) if t.is_empty())).collect();
    let content_bit = if content.is_empty() { 0 } else { HAS_CONTENT };
    match tokens::tag_token(el_page, &el.name) {
        Some(t) => out.push(t | content_bit),
        None => {
            let off = table.offset(&el.name).ok_or_else(|| CodecError::Unsupported(format!("tag {:?}", el.name)))?;
            out.push(LITERAL | content_bit);
            put_mb_u32(out, off);
        }
    }
    if content.is_empty() {
        return Ok(());
    }
    for node in content {
        match node {
            Node::Element(child) => write(out, child, table, page, el_page)?,
            Node::Text(t) => {
                if t.contains('\0') {
                    return Err(CodecError::Unsupported(format!("<{}> text holds NUL", el.name)));
                }
                out.push(STR_I);
                out.extend_from_slice(t.as_bytes());
                out.push(0);
            }
            Node::Opaque(b) => {
                let len = u32::try_from(b.len())
                    .map_err(|_| CodecError::Unsupported("opaque data longer than 4 GiB".into()))?;
                out.push(OPAQUE);
                put_mb_u32(out, len);
                out.extend_from_slice(b);
            }
        }
    }
    out.push(END);
    Ok(())
}
