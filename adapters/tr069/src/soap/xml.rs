//! A bounded, namespace-resolved element tree built from untrusted bytes with quick-xml.
//!
//! CWMP envelopes are small (the ACS caps them, default 1 MiB), so the codec reads the whole
//! document into this tree first and the RPC modules then walk it. Every allocation is bounded by
//! [`Limits`]: input size, nesting depth, children per element, elements per document. A
//! `<!DOCTYPE>` is refused outright, so entity declarations are never seen, let alone expanded.

use quick_xml::events::{BytesStart, Event};
use quick_xml::name::{QName, ResolveResult};
use quick_xml::NsReader;

use super::{CwmpNamespace, Limits, NS_SOAP_ENC, NS_SOAP_ENV, NS_XSD, NS_XSI};
use crate::error::CwmpError;

/// The namespace of an element or attribute, classified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Ns {
    /// No namespace (unprefixed, no default namespace): CWMP's unqualified children.
    None,
    /// SOAP 1.1 envelope namespace.
    SoapEnv,
    /// SOAP 1.1 encoding namespace.
    SoapEnc,
    /// XML Schema instance namespace.
    Xsi,
    /// XML Schema namespace.
    Xsd,
    /// One of the CWMP namespaces.
    Cwmp(CwmpNamespace),
    /// Anything else.
    Other(String),
}

impl Ns {
    fn from_uri(uri: &[u8]) -> Ns {
        match uri {
            u if u == NS_SOAP_ENV.as_bytes() => Ns::SoapEnv,
            u if u == NS_SOAP_ENC.as_bytes() => Ns::SoapEnc,
            u if u == NS_XSI.as_bytes() || u == b"http://www.w3.org/1999/XMLSchema-instance" => Ns::Xsi,
            u if u == NS_XSD.as_bytes() || u == b"http://www.w3.org/1999/XMLSchema" => Ns::Xsd,
            u => match CwmpNamespace::from_uri(u) {
                Some(v) => Ns::Cwmp(v),
                None => Ns::Other(String::from_utf8_lossy(u).into_owned()),
            },
        }
    }

    /// The namespace URI, for error messages.
    pub(crate) fn uri(&self) -> String {
        match self {
            Ns::None => String::new(),
            Ns::SoapEnv => NS_SOAP_ENV.to_owned(),
            Ns::SoapEnc => NS_SOAP_ENC.to_owned(),
            Ns::Xsi => NS_XSI.to_owned(),
            Ns::Xsd => NS_XSD.to_owned(),
            Ns::Cwmp(v) => v.uri().to_owned(),
            Ns::Other(s) => s.clone(),
        }
    }
}

/// One attribute, namespace resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Attr {
    pub(crate) ns: Ns,
    pub(crate) name: String,
    pub(crate) value: String,
}

/// One element with its resolved namespace, attributes, child elements and text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Element {
    pub(crate) ns: Ns,
    pub(crate) name: String,
    pub(crate) attrs: Vec<Attr>,
    /// Local name of the `xsi:type` attribute's value (prefix resolved and dropped).
    pub(crate) xsi_type: Option<String>,
    pub(crate) children: Vec<Element>,
    /// Concatenated character data (text and CDATA) directly inside this element.
    pub(crate) text: String,
}

impl Element {
    /// The first child element with this local name (children are unqualified in CWMP, so the
    /// namespace is not checked).
    pub(crate) fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    /// All children with this local name.
    pub(crate) fn children_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }

    /// The value of an attribute in the given namespace.
    pub(crate) fn attr(&self, ns: &Ns, name: &str) -> Option<&str> {
        self.attrs.iter().find(|a| &a.ns == ns && a.name == name).map(|a| a.value.as_str())
    }
}

fn xml_err(e: impl std::fmt::Display) -> CwmpError {
    CwmpError::Xml(e.to_string())
}

fn utf8(bytes: &[u8]) -> Result<String, CwmpError> {
    std::str::from_utf8(bytes).map(str::to_owned).map_err(|_| CwmpError::Xml("name is not UTF-8".into()))
}

/// Builds an [`Element`] from a start tag: resolves its attributes (and the QName inside
/// `xsi:type`) while the tag's namespace scope is active in the reader.
fn element_from_start(
    reader: &NsReader<&[u8]>,
    ns: Ns,
    start: &BytesStart<'_>,
    limits: &Limits,
) -> Result<Element, CwmpError> {
    let name = utf8(start.local_name().as_ref())?;
    let mut attrs = Vec::new();
    let mut xsi_type = None;
    for attr in start.attributes() {
        let attr = attr.map_err(xml_err)?;
        if attr.key.as_namespace_binding().is_some() {
            continue;
        }
        if attrs.len() >= limits.max_children {
            return Err(CwmpError::TooManyChildren {
                element: String::from_utf8_lossy(start.local_name().as_ref()).into_owned(),
                limit: limits.max_children,
            });
        }
        let (res, local) = reader.resolve_attribute(attr.key);
        let attr_ns = match res {
            ResolveResult::Bound(n) => Ns::from_uri(n.as_ref()),
            ResolveResult::Unbound => Ns::None,
            // Lenient: some CPEs use `xsi:` / `soap-enc:` without declaring them.
            ResolveResult::Unknown(p) if p == b"xsi" => Ns::Xsi,
            ResolveResult::Unknown(p) => Ns::Other(String::from_utf8_lossy(&p).into_owned()),
        };
        let local = utf8(local.as_ref())?;
        let value = attr.unescape_value().map_err(xml_err)?.into_owned();
        if attr_ns == Ns::Xsi && local == "type" {
            let (_, type_local) = reader.resolve_element(QName(value.as_bytes()));
            xsi_type = Some(utf8(type_local.as_ref())?);
        }
        attrs.push(Attr { ns: attr_ns, name: local, value });
    }
    Ok(Element { ns, name, attrs, xsi_type, children: Vec::new(), text: String::new() })
}

/// Attaches a finished element to its parent (or makes it the root).
fn attach(stack: &mut [Element], root: &mut Option<Element>, el: Element, limits: &Limits) -> Result<(), CwmpError> {
    match stack.last_mut() {
        Some(parent) => {
            if parent.children.len() >= limits.max_children {
                return Err(CwmpError::TooManyChildren { element: parent.name.clone(), limit: limits.max_children });
            }
            parent.children.push(el);
        }
        None => *root = Some(el),
    }
    Ok(())
}

/// Parses a whole document into its root element, enforcing every limit in `limits`.
pub(crate) fn parse_document(bytes: &[u8], limits: &Limits) -> Result<Element, CwmpError> {
    if bytes.len() > limits.max_envelope_bytes {
        return Err(CwmpError::TooLarge { size: bytes.len(), limit: limits.max_envelope_bytes });
    }
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    if std::str::from_utf8(bytes).is_err() {
        return Err(CwmpError::Xml("document is not UTF-8".into()));
    }
    let mut reader = NsReader::from_reader(bytes);
    let mut buf = Vec::new();
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    let mut elements = 0usize;
    loop {
        buf.clear();
        let (res, event) = reader.read_resolved_event_into(&mut buf).map_err(xml_err)?;
        let ns = match res {
            ResolveResult::Bound(n) => Ns::from_uri(n.as_ref()),
            ResolveResult::Unbound => Ns::None,
            ResolveResult::Unknown(p) => {
                return Err(CwmpError::Xml(format!("undeclared namespace prefix {:?}", String::from_utf8_lossy(&p))))
            }
        };
        match event {
            Event::Start(ref start) | Event::Empty(ref start) => {
                if root.is_some() {
                    return Err(CwmpError::Xml("content after the root element".into()));
                }
                if stack.len() >= limits.max_depth {
                    return Err(CwmpError::TooDeep { limit: limits.max_depth });
                }
                elements += 1;
                if elements > limits.max_elements {
                    return Err(CwmpError::TooManyElements { limit: limits.max_elements });
                }
                let el = element_from_start(&reader, ns, start, limits)?;
                if matches!(event, Event::Empty(_)) {
                    attach(&mut stack, &mut root, el, limits)?;
                } else {
                    stack.push(el);
                }
            }
            Event::End(_) => {
                let el = stack.pop().ok_or_else(|| CwmpError::Xml("unmatched end tag".into()))?;
                attach(&mut stack, &mut root, el, limits)?;
            }
            Event::Text(text) => {
                let text = text.unescape().map_err(xml_err)?;
                match stack.last_mut() {
                    Some(top) => top.text.push_str(&text),
                    None if text.trim().is_empty() => {}
                    None => return Err(CwmpError::Xml("text outside the root element".into())),
                }
            }
            Event::CData(data) => {
                let data = utf8(&data)?;
                match stack.last_mut() {
                    Some(top) => top.text.push_str(&data),
                    None => return Err(CwmpError::Xml("CDATA outside the root element".into())),
                }
            }
            Event::DocType(dtd) => {
                let has_entities = dtd.windows(8).any(|w| w.eq_ignore_ascii_case(b"<!ENTITY"));
                return Err(CwmpError::DoctypeRefused { has_entities });
            }
            Event::Comment(_) | Event::Decl(_) | Event::PI(_) => {}
            Event::Eof => break,
        }
    }
    if !stack.is_empty() {
        return Err(CwmpError::Xml("unexpected end of document".into()));
    }
    root.ok_or_else(|| CwmpError::Xml("document has no root element".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_prefixes_and_default_namespace() {
        let doc = br#"<e:Envelope xmlns:e="http://schemas.xmlsoap.org/soap/envelope/"><Body xmlns="http://schemas.xmlsoap.org/soap/envelope/"><x xmlns="">t&amp;<![CDATA[<c>]]></x></Body></e:Envelope>"#;
        let root = parse_document(doc, &Limits::default()).expect("parses");
        assert_eq!(root.ns, Ns::SoapEnv);
        let body = root.child("Body").expect("body");
        assert_eq!(body.ns, Ns::SoapEnv);
        let x = body.child("x").expect("x");
        assert_eq!(x.ns, Ns::None);
        assert_eq!(x.text, "t&<c>");
    }

    #[test]
    fn limits_are_enforced() {
        let limits = Limits { max_depth: 3, ..Limits::default() };
        let err = parse_document(b"<a><b><c><d/></c></b></a>", &limits).unwrap_err();
        assert_eq!(err, CwmpError::TooDeep { limit: 3 });
        let limits = Limits { max_children: 2, ..Limits::default() };
        let err = parse_document(b"<a><b/><b/><b/></a>", &limits).unwrap_err();
        assert!(err.is_too_large());
        let limits = Limits { max_elements: 2, ..Limits::default() };
        let err = parse_document(b"<a><b/><b/></a>", &limits).unwrap_err();
        assert_eq!(err, CwmpError::TooManyElements { limit: 2 });
    }

    #[test]
    fn undeclared_entities_and_prefixes_are_errors() {
        assert!(parse_document(b"<a>&lol;</a>", &Limits::default()).is_err());
        assert!(parse_document(b"<p:a/>", &Limits::default()).is_err());
        assert!(parse_document(b"<a></b>", &Limits::default()).is_err());
        assert!(parse_document(b"<a>", &Limits::default()).is_err());
        assert!(parse_document(b"<a/><b/>", &Limits::default()).is_err());
    }

    #[test]
    fn xsi_type_prefix_is_resolved() {
        let doc = br#"<v xmlns:i="http://www.w3.org/2001/XMLSchema-instance" xmlns:s="http://www.w3.org/2001/XMLSchema" i:type="s:unsignedInt">7</v>"#;
        let v = parse_document(doc, &Limits::default()).expect("parses");
        assert_eq!(v.xsi_type.as_deref(), Some("unsignedInt"));
    }
}
