//! SyncML DM in XML (SyncML Representation Protocol 1.2 and OMA DM Representation Protocol
//! 1.2.1, "Mark-up Language Description"): bounded reading with quick-xml and canonical writing.
//!
//! Reading resolves namespaces by URI, never by prefix, so `<SyncML xmlns="SYNCML:SYNCML1.2">`
//! and `<s:SyncML xmlns:s="syncml:syncml1.2">` read alike. Whitespace between elements is
//! dropped and the text of a leaf is trimmed (the DTD's values are tokens, URIs, numbers and
//! base64; none carries significant outer whitespace). A `<!DOCTYPE>` with an internal subset is
//! refused outright, so entity declarations are never seen, let alone expanded; a DOCTYPE with
//! only an external identifier (what SyncML stacks write) is skipped and its DTD never fetched.
//! Every allocation is bounded by [`Limits`].
//!
//! Writing is canonical: no XML declaration, no whitespace between elements, `xmlns` only where
//! the vocabulary changes (the root and each MetInf element), `&`, `<`, `>` and CR escaped.

use quick_xml::events::Event;
use quick_xml::name::ResolveResult;
use quick_xml::NsReader;

use super::element::{Element, Namespace, Node, NS_DMDDF, NS_METINF};
use super::error::CodecError;
use super::model::{SyncML, SyncMlVersion};
use super::Limits;

/// Decodes an XML SyncML message.
pub fn decode(bytes: &[u8], limits: &Limits) -> Result<SyncML, CodecError> {
    SyncML::from_element(&read_element(bytes, limits)?)
}

/// Encodes a message as canonical XML (UTF-8, no declaration).
///
/// Opaque Data that is UTF-8 is written as text (and reads back as [`Data::Text`]). Fails with
/// [`CodecError::Unsupported`] when an Item holds opaque bytes that are not UTF-8, or text with
/// characters XML 1.0 cannot carry (NUL and most C0 controls).
///
/// [`Data::Text`]: super::Data::Text
pub fn encode(msg: &SyncML) -> Result<Vec<u8>, CodecError> {
    write_element(&msg.to_element(), msg.version())
}

fn xml_err(e: impl std::fmt::Display) -> CodecError {
    CodecError::Xml(e.to_string())
}

fn namespace(res: ResolveResult<'_>) -> Namespace {
    match res {
        ResolveResult::Bound(ns) => Namespace::from_uri(&String::from_utf8_lossy(ns.as_ref())),
        // Lenient: an undeclared prefix is read as if it were unprefixed.
        ResolveResult::Unbound | ResolveResult::Unknown(_) => Namespace::Unqualified,
    }
}

/// Drops whitespace-only text between elements and trims the text of leaves.
fn normalize(el: &mut Element) {
    if el.has_children() {
        el.content.retain(|n| !matches!(n, Node::Text(t) if t.trim().is_empty()));
    } else if let [Node::Text(t)] = el.content.as_mut_slice() {
        let trimmed = t.trim();
        if trimmed.is_empty() {
            el.content.clear();
        } else if trimmed.len() != t.len() {
            *t = trimmed.to_owned();
        }
    }
}

fn push_text(stack: &mut [Element], text: &str) -> Result<(), CodecError> {
    match stack.last_mut() {
        Some(top) => {
            if let Some(Node::Text(prev)) = top.content.last_mut() {
                prev.push_str(text);
            } else {
                top.content.push(Node::Text(text.to_owned()));
            }
            Ok(())
        }
        None if text.trim().is_empty() => Ok(()),
        None => Err(CodecError::Xml("text outside the root element".into())),
    }
}

fn attach(stack: &mut [Element], root: &mut Option<Element>, mut el: Element) {
    normalize(&mut el);
    match stack.last_mut() {
        Some(parent) => parent.content.push(Node::Element(el)),
        None => *root = Some(el),
    }
}

/// Reads an XML document into its root element, enforcing every bound in `limits`.
pub fn read_element(bytes: &[u8], limits: &Limits) -> Result<Element, CodecError> {
    if bytes.len() > limits.max_message_bytes {
        return Err(CodecError::TooLarge { size: bytes.len(), limit: limits.max_message_bytes });
    }
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    if std::str::from_utf8(bytes).is_err() {
        return Err(CodecError::Xml("document is not UTF-8".into()));
    }
    let mut reader = NsReader::from_reader(bytes);
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    let mut elements = 0usize;
    loop {
        let (res, event) = reader.read_resolved_event().map_err(xml_err)?;
        match event {
            Event::Start(ref start) | Event::Empty(ref start) => {
                if root.is_some() {
                    return Err(CodecError::Xml("content after the root element".into()));
                }
                if stack.len() >= limits.max_depth {
                    return Err(CodecError::TooDeep { limit: limits.max_depth });
                }
                elements += 1;
                if elements > limits.max_elements {
                    return Err(CodecError::TooManyElements { limit: limits.max_elements });
                }
                // Attributes are only namespace declarations in SyncML; others are ignored,
                // but they must be well-formed.
                for attr in start.attributes() {
                    attr.map_err(xml_err)?;
                }
                let name = std::str::from_utf8(start.local_name().as_ref())
                    .map_err(|_| CodecError::Xml("name is not UTF-8".into()))?
                    .to_owned();
                let el = Element::new(namespace(res), name);
                if matches!(event, Event::Empty(_)) {
                    attach(&mut stack, &mut root, el);
                } else {
                    stack.push(el);
                }
            }
            Event::End(_) => {
                let el = stack.pop().ok_or_else(|| CodecError::Xml("unmatched end tag".into()))?;
                attach(&mut stack, &mut root, el);
            }
            Event::Text(text) => {
                let text = text.unescape().map_err(xml_err)?;
                push_text(&mut stack, &text)?;
            }
            Event::CData(data) => {
                let data =
                    std::str::from_utf8(&data).map_err(|_| CodecError::Xml("CDATA is not UTF-8".into()))?.to_owned();
                if stack.is_empty() {
                    return Err(CodecError::Xml("CDATA outside the root element".into()));
                }
                push_text(&mut stack, &data)?;
            }
            Event::DocType(dtd) => {
                // SyncML stacks write `<!DOCTYPE SyncML PUBLIC "-//SYNCML//DTD SyncML 1.2//EN"
                // "http://...dtd">` (libwbxml's wbxml2xml always does); an external identifier
                // alone declares nothing and is never fetched, so it is skipped. An internal
                // subset is where entities are declared: refused without looking further.
                if dtd.contains(&b'[') {
                    let has_entities = dtd.windows(8).any(|w| w.eq_ignore_ascii_case(b"<!ENTITY"));
                    return Err(CodecError::DoctypeRefused { has_entities });
                }
                if root.is_some() || !stack.is_empty() {
                    return Err(CodecError::Xml("DOCTYPE after the root element started".into()));
                }
            }
            Event::Comment(_) | Event::Decl(_) | Event::PI(_) => {}
            Event::Eof => break,
        }
    }
    if !stack.is_empty() {
        return Err(CodecError::Xml("unexpected end of document".into()));
    }
    root.ok_or_else(|| CodecError::Xml("document has no root element".into()))
}

/// Writes an element tree as canonical XML; `version` names the SyncML namespace.
pub fn write_element(root: &Element, version: SyncMlVersion) -> Result<Vec<u8>, CodecError> {
    let mut out = Vec::with_capacity(1024);
    write(&mut out, root, None, version)?;
    Ok(out)
}

fn uri_of<'a>(ns: &'a Namespace, parent: Option<&'a str>, version: SyncMlVersion) -> Option<&'a str> {
    match ns {
        Namespace::SyncMl => Some(version.namespace()),
        Namespace::MetInf => Some(NS_METINF),
        Namespace::DmDdf => Some(NS_DMDDF),
        Namespace::Other(u) => Some(u.as_str()),
        Namespace::Unqualified => parent,
    }
}

fn write(out: &mut Vec<u8>, el: &Element, parent_ns: Option<&str>, version: SyncMlVersion) -> Result<(), CodecError> {
    let ns = uri_of(&el.ns, parent_ns, version);
    out.push(b'<');
    out.extend_from_slice(el.name.as_bytes());
    if ns != parent_ns {
        if let Some(uri) = ns {
            out.extend_from_slice(b" xmlns=\"");
            escape(out, uri, &el.name)?;
            out.push(b'"');
        }
    }
    let content: Vec<&Node> = el.content.iter().filter(|n| !matches!(n, Node::Text(t) if t.is_empty())).collect();
    if content.is_empty() {
        out.extend_from_slice(b"/>");
        return Ok(());
    }
    out.push(b'>');
    for node in content {
        match node {
            Node::Element(child) => write(out, child, ns, version)?,
            Node::Text(t) => escape(out, t, &el.name)?,
            Node::Opaque(b) => {
                let t = std::str::from_utf8(b).map_err(|_| {
                    CodecError::Unsupported(format!("<{}> holds binary opaque data, which XML cannot carry", el.name))
                })?;
                escape(out, t, &el.name)?;
            }
        }
    }
    out.extend_from_slice(b"</");
    out.extend_from_slice(el.name.as_bytes());
    out.push(b'>');
    Ok(())
}

/// Escapes character data (and the one attribute value we write, `xmlns`).
fn escape(out: &mut Vec<u8>, text: &str, element: &str) -> Result<(), CodecError> {
    for c in text.chars() {
        match c {
            '&' => out.extend_from_slice(b"&amp;"),
            '<' => out.extend_from_slice(b"&lt;"),
            '>' => out.extend_from_slice(b"&gt;"),
            '"' => out.extend_from_slice(b"&quot;"),
            // A literal CR would be normalised away by the reader (XML 1.0, section 2.11).
            '\r' => out.extend_from_slice(b"&#13;"),
            '\t' | '\n' => out.push(c as u8),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => {
                return Err(CodecError::Unsupported(format!(
                    "<{element}> holds U+{:04X}, which XML 1.0 cannot carry",
                    c as u32
                )))
            }
            c => {
                let mut buf = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_prefix_and_case_insensitive_namespace() {
        let doc = br#"<s:SyncML xmlns:s="syncml:syncml1.2"><s:SyncHdr/><m:Type xmlns:m="SYNCML:METINF"> a </m:Type></s:SyncML>"#;
        let root = read_element(doc, &Limits::default()).expect("parses");
        assert_eq!(root.ns, Namespace::SyncMl);
        let t = root.child("type").expect("Type");
        assert_eq!(t.ns, Namespace::MetInf);
        assert_eq!(t.string().unwrap(), "a");
    }

    #[test]
    fn writes_xmlns_where_the_vocabulary_changes() {
        let mut root = Element::new(Namespace::SyncMl, "Meta");
        root.push(Element::text(Namespace::MetInf, "Type", "a&b"));
        let out = write_element(&root, SyncMlVersion::V1_2).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"<Meta xmlns="SYNCML:SYNCML1.2"><Type xmlns="syncml:metinf">a&amp;b</Type></Meta>"#
        );
    }

    #[test]
    fn control_characters_and_binary_are_refused_when_writing() {
        let el = Element::text(Namespace::SyncMl, "Data", "a\u{1}");
        assert!(write_element(&el, SyncMlVersion::V1_2).unwrap_err().is_unsupported());
        let el = Element { ns: Namespace::SyncMl, name: "Data".into(), content: vec![Node::Opaque(vec![0xFF])] };
        assert!(write_element(&el, SyncMlVersion::V1_2).unwrap_err().is_unsupported());
    }
}
