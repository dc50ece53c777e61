//! The neutral element tree both encodings read into and write from.
//!
//! XML (SyncML Representation Protocol 1.2) and WBXML (WBXML 1.3, section 5.8) carry
//! the same document: elements from the SyncML, MetInf and DM DDF vocabularies holding text,
//! opaque bytes or further elements. The XML and WBXML modules only translate bytes to and from
//! this tree; the message model ([`super::model`]) is mapped onto it in one place, which keeps
//! XML -> model -> WBXML -> model -> XML an identity.

use super::error::CodecError;

/// The vocabulary (XML namespace, WBXML code page) an element belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Namespace {
    /// SyncML Representation Protocol (`SYNCML:SYNCML1.1`, `SYNCML:SYNCML1.2`; WBXML page 0).
    SyncMl,
    /// SyncML Meta-Information (`syncml:metinf`; WBXML page 1).
    MetInf,
    /// OMA DM DDF / TNDS (`syncml:dmddf1.2`; WBXML page 2 inside SyncML).
    DmDdf,
    /// No namespace declared: resolved by context (a lenient reader treats it as the parent's).
    Unqualified,
    /// Any other namespace URI, kept as written.
    Other(String),
}

/// XML namespace of SyncML 1.1.
pub const NS_SYNCML_1_1: &str = "SYNCML:SYNCML1.1";
/// XML namespace of SyncML 1.2.
pub const NS_SYNCML_1_2: &str = "SYNCML:SYNCML1.2";
/// XML namespace of MetInf (SyncML Meta-Information 1.2).
pub const NS_METINF: &str = "syncml:metinf";
/// XML namespace of the DM DDF / TNDS vocabulary (OMA DM TND 1.2, DDF DTD).
pub const NS_DMDDF: &str = "syncml:dmddf1.2";

impl Namespace {
    /// Classifies a namespace URI (case-insensitive: clients write `syncml:SYNCML1.2` too).
    pub fn from_uri(uri: &str) -> Namespace {
        let u = uri.trim();
        if u.eq_ignore_ascii_case(NS_SYNCML_1_2) || u.eq_ignore_ascii_case(NS_SYNCML_1_1) {
            Namespace::SyncMl
        } else if u.eq_ignore_ascii_case(NS_METINF) {
            Namespace::MetInf
        } else if u.eq_ignore_ascii_case(NS_DMDDF) || u.eq_ignore_ascii_case("syncml:dmddf1.1") {
            Namespace::DmDdf
        } else if u.is_empty() {
            Namespace::Unqualified
        } else {
            Namespace::Other(u.to_owned())
        }
    }
}

/// One piece of an element's content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    /// A child element.
    Element(Element),
    /// Character data (XML text or CDATA; WBXML `STR_I`, `STR_T`, `ENTITY`).
    Text(String),
    /// Opaque bytes (WBXML `OPAQUE`, WBXML 1.3 section 5.8.4.6); XML has no such thing.
    Opaque(Vec<u8>),
}

/// An element: its vocabulary, local name and content, in document order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Element {
    /// Vocabulary of the element.
    pub ns: Namespace,
    /// Local name as written (prefix dropped).
    pub name: String,
    /// Content in document order.
    pub content: Vec<Node>,
}

impl Element {
    /// An empty element.
    pub fn new(ns: Namespace, name: impl Into<String>) -> Element {
        Element { ns, name: name.into(), content: Vec::new() }
    }

    /// An element holding one text node.
    pub fn text(ns: Namespace, name: impl Into<String>, text: impl Into<String>) -> Element {
        Element { ns, name: name.into(), content: vec![Node::Text(text.into())] }
    }

    /// Appends a child element.
    pub fn push(&mut self, child: Element) {
        self.content.push(Node::Element(child));
    }

    /// Whether the element is named `name`, ignoring ASCII case (clients differ: `LocUri`).
    pub fn is(&self, name: &str) -> bool {
        self.name.eq_ignore_ascii_case(name)
    }

    /// Child elements in order.
    pub fn children(&self) -> impl Iterator<Item = &Element> {
        self.content.iter().filter_map(|n| match n {
            Node::Element(e) => Some(e),
            _ => None,
        })
    }

    /// The first child named `name` (case-insensitive).
    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children().find(|c| c.is(name))
    }

    /// All children named `name` (case-insensitive).
    pub fn children_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
        self.children().filter(move |c| c.is(name))
    }

    /// Whether the element has any child element.
    pub fn has_children(&self) -> bool {
        self.children().next().is_some()
    }

    /// The character content as a string: text nodes concatenated; opaque nodes must be UTF-8
    /// (some WBXML encoders write every string as `OPAQUE`).
    pub fn string(&self) -> Result<String, CodecError> {
        let mut out = String::new();
        for n in &self.content {
            match n {
                Node::Text(t) => out.push_str(t),
                Node::Opaque(b) => match std::str::from_utf8(b) {
                    Ok(s) => out.push_str(s),
                    Err(_) => return Err(CodecError::invalid(&self.name, "opaque content is not UTF-8 text")),
                },
                Node::Element(_) => {}
            }
        }
        Ok(out)
    }

    /// Number of elements in this subtree, this one included.
    pub fn count(&self) -> usize {
        1 + self.children().map(Element::count).sum::<usize>()
    }

    /// Depth of this subtree (1 for a leaf).
    pub fn depth(&self) -> usize {
        1 + self.children().map(Element::depth).max().unwrap_or(0)
    }
}
