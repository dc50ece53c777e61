//! Item and its Data (SyncML Representation Protocol 1.2, Data Description Elements: Data, Item;
//! Common Use Elements: MoreData).

use super::hdr::Location;
use super::meta::Meta;
use super::{flag, push_flag};
use crate::codec::element::{Element, Namespace, Node};
use crate::codec::error::CodecError;

/// `<!ELEMENT Item (Target?, Source?, SourceParent?, TargetParent?, Meta?, Data?, MoreData?)>`
/// (SyncML Representation Protocol 1.2, Data Description Elements: Item). `SourceParent` / `TargetParent` are
/// DS-only and skipped when read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Item {
    /// `Target`: the node a command acts on (`./FUMO/x/Download/PkgURL`).
    pub target: Option<Location>,
    /// `Source`: the node a value comes from (Results, Replace in Package 1, Generic Alert).
    pub source: Option<Location>,
    /// `Meta`: Format, Type, Mark, Size of the value.
    pub meta: Option<Meta>,
    /// `Data`: the value.
    pub data: Option<Data>,
    /// `MoreData`: a large object continues in the next message (OMA DM Protocol 1.2.1, "Large
    /// Object Handling").
    pub more_data: bool,
}

/// The content of an Item's `Data` (SyncML Representation Protocol 1.2, Data Description Elements:
/// Data,
/// `<!ELEMENT Data (#PCDATA)>`, extended by DM to carry TNDS / DDF markup).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Data {
    /// Character data (`<Data/>` is the empty string). Whether it is `chr`, `int`, `b64`, ...
    /// is said by `Meta/Format`; the codec does not interpret it.
    Text(String),
    /// Opaque bytes: WBXML `OPAQUE` (WBXML 1.3, section 5.8.4.6), used for `bin` values.
    /// XML cannot carry them unless they are UTF-8 text.
    Opaque(Vec<u8>),
    /// Markup in another vocabulary (a TNDS `MgmtTree` in `syncml:dmddf1.2`, WBXML page 2).
    Markup(Vec<Element>),
}

impl Data {
    /// The value as text, when it is text or UTF-8 opaque bytes.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Data::Text(t) => Some(t),
            Data::Opaque(b) => std::str::from_utf8(b).ok(),
            Data::Markup(_) => None,
        }
    }

    pub(crate) fn from_element(el: &Element) -> Result<Data, CodecError> {
        if el.has_children() {
            return Ok(Data::Markup(el.children().cloned().collect()));
        }
        match el.content.as_slice() {
            [Node::Opaque(b)] => Ok(Data::Opaque(b.clone())),
            // A mix of strings and opaque bytes (libwbxml splits nothing, but encoders may).
            _ if el.content.iter().any(|n| matches!(n, Node::Opaque(_))) => {
                let mut bytes = Vec::new();
                for n in &el.content {
                    match n {
                        Node::Text(t) => bytes.extend_from_slice(t.as_bytes()),
                        Node::Opaque(b) => bytes.extend_from_slice(b),
                        Node::Element(_) => {}
                    }
                }
                Ok(Data::Opaque(bytes))
            }
            _ => Ok(Data::Text(el.string()?)),
        }
    }

    pub(crate) fn to_element(&self) -> Element {
        let mut el = Element::new(Namespace::SyncMl, "Data");
        match self {
            Data::Text(t) if t.is_empty() => {}
            Data::Text(t) => el.content.push(Node::Text(t.clone())),
            Data::Opaque(b) => el.content.push(Node::Opaque(b.clone())),
            Data::Markup(children) => el.content.extend(children.iter().cloned().map(Node::Element)),
        }
        el
    }
}

impl Item {
    pub(crate) fn from_element(el: &Element) -> Result<Item, CodecError> {
        Ok(Item {
            target: el.child("Target").map(Location::from_element).transpose()?,
            source: el.child("Source").map(Location::from_element).transpose()?,
            meta: el.child("Meta").map(Meta::from_element).transpose()?,
            data: el.child("Data").map(Data::from_element).transpose()?,
            more_data: flag(el, "MoreData"),
        })
    }

    pub(crate) fn to_element(&self) -> Element {
        let mut el = Element::new(Namespace::SyncMl, "Item");
        if let Some(t) = &self.target {
            el.push(t.to_element("Target"));
        }
        if let Some(s) = &self.source {
            el.push(s.to_element("Source"));
        }
        if let Some(m) = &self.meta {
            el.push(m.to_element());
        }
        if let Some(d) = &self.data {
            el.push(d.to_element());
        }
        push_flag(&mut el, "MoreData", self.more_data);
        el
    }
}

pub(crate) fn items(el: &Element) -> Result<Vec<Item>, CodecError> {
    el.children_named("Item").map(Item::from_element).collect()
}
