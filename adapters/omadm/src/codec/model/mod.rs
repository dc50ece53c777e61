//! The typed SyncML DM message (SyncML Representation Protocol 1.2, "Mark-up Language
//! Description", and its DTD; OMA DM Representation Protocol 1.2.1, "Mark-up Language
//! Description", for DM's restrictions), mapped to and from the neutral element tree.
//!
//! Reading is lenient where clients differ: element names match without regard to ASCII case,
//! namespaces are not checked (a reader knows MetInf from SyncML by position), elements the model
//! has no place for are skipped, and commands it does not know become [`Command::Unknown`] so that
//! a server can still answer them with a Status. Writing is canonical: DTD element order, the
//! spec's spelling, `syncml:metinf` on every Meta child.

mod command;
mod hdr;
mod item;
mod meta;
mod status;

pub use command::{Alert, Command, Container, Exec, ItemCommand, UnknownCommand};
pub use hdr::{Cred, Location, SyncHdr};
pub use item::{Data, Item};
pub use meta::Meta;
pub use status::{Chal, Results, Status};

use super::element::{Element, Namespace};
use super::error::CodecError;

/// The SyncML version of a message, from its `VerDTD` (SyncML Representation Protocol 1.2,
/// Common Use Elements: VerDTD). OMA DM 1.2 and 1.3 both use DTD 1.2; DM 1.1.2 uses 1.1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SyncMlVersion {
    /// SyncML 1.1 (`SYNCML:SYNCML1.1`, WBXML public id 0x0FD3).
    V1_1,
    /// SyncML 1.2 (`SYNCML:SYNCML1.2`, WBXML public id 0x1201).
    V1_2,
}

impl SyncMlVersion {
    /// The XML namespace of the SyncML vocabulary.
    pub fn namespace(self) -> &'static str {
        match self {
            SyncMlVersion::V1_1 => super::element::NS_SYNCML_1_1,
            SyncMlVersion::V1_2 => super::element::NS_SYNCML_1_2,
        }
    }

    /// The formal public identifier of the DTD.
    pub fn fpi(self) -> &'static str {
        match self {
            SyncMlVersion::V1_1 => "-//SYNCML//DTD SyncML 1.1//EN",
            SyncMlVersion::V1_2 => "-//SYNCML//DTD SyncML 1.2//EN",
        }
    }

    /// The `VerDTD` value.
    pub fn ver_dtd(self) -> &'static str {
        match self {
            SyncMlVersion::V1_1 => "1.1",
            SyncMlVersion::V1_2 => "1.2",
        }
    }
}

/// A SyncML message: `<!ELEMENT SyncML (SyncHdr, SyncBody)>` (SyncML Representation Protocol
/// 1.2, Message Container Elements: SyncML).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncML {
    /// The header: versions, session, addresses, credentials.
    pub hdr: SyncHdr,
    /// The body: commands and the `Final` flag.
    pub body: SyncBody,
}

/// The message body: `<!ELEMENT SyncBody ((Alert | Atomic | Copy | Exec | Get | Map | Put |
/// Results | Search | Sequence | Status | Sync | Add | Replace | Delete | Move)+, Final?)>`
/// (SyncML Representation Protocol 1.2, Message Container Elements: SyncBody).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncBody {
    /// Commands in document order (Status first by convention; order is kept as received).
    pub commands: Vec<Command>,
    /// `<Final/>`: this message is the last of its package (Common Use Elements: Final).
    pub r#final: bool,
}

impl SyncML {
    /// The SyncML version, from `VerDTD`.
    pub fn version(&self) -> SyncMlVersion {
        self.hdr.version()
    }

    /// Maps a `SyncML` root element to the message.
    pub fn from_element(root: &Element) -> Result<SyncML, CodecError> {
        if !root.is("SyncML") {
            return Err(CodecError::invalid(&root.name, "root element is not SyncML"));
        }
        let hdr = root.child("SyncHdr").ok_or_else(|| CodecError::invalid("SyncML", "missing SyncHdr"))?;
        let body = root.child("SyncBody").ok_or_else(|| CodecError::invalid("SyncML", "missing SyncBody"))?;
        Ok(SyncML { hdr: SyncHdr::from_element(hdr)?, body: SyncBody::from_element(body)? })
    }

    /// The element tree of the message, in canonical form.
    pub fn to_element(&self) -> Element {
        let mut root = Element::new(Namespace::SyncMl, "SyncML");
        root.push(self.hdr.to_element());
        root.push(self.body.to_element());
        root
    }
}

impl SyncBody {
    fn from_element(el: &Element) -> Result<SyncBody, CodecError> {
        let mut body = SyncBody::default();
        for child in el.children() {
            if child.is("Final") {
                body.r#final = true;
            } else {
                body.commands.push(Command::from_element(child)?);
            }
        }
        Ok(body)
    }

    fn to_element(&self) -> Element {
        let mut el = Element::new(Namespace::SyncMl, "SyncBody");
        for c in &self.commands {
            el.push(c.to_element());
        }
        if self.r#final {
            el.push(Element::new(Namespace::SyncMl, "Final"));
        }
        el
    }
}

// Helpers shared by the model files.

/// A SyncML leaf element.
pub(crate) fn leaf(name: &str, text: &str) -> Element {
    Element::text(Namespace::SyncMl, name, text)
}

/// The text of a required child.
pub(crate) fn req_string(el: &Element, name: &str) -> Result<String, CodecError> {
    el.child(name).ok_or_else(|| CodecError::invalid(&el.name, format!("missing {name}")))?.string()
}

/// The text of an optional child.
pub(crate) fn opt_string(el: &Element, name: &str) -> Result<Option<String>, CodecError> {
    el.child(name).map(Element::string).transpose()
}

/// The texts of every child so named.
pub(crate) fn all_strings(el: &Element, name: &str) -> Result<Vec<String>, CodecError> {
    el.children_named(name).map(Element::string).collect()
}

/// A number in a child's text (surrounding whitespace ignored).
pub(crate) fn parse_num<T: std::str::FromStr>(el: &Element, text: &str) -> Result<T, CodecError> {
    text.trim().parse().map_err(|_| CodecError::invalid(&el.name, format!("{text:?} is not a number")))
}

/// The number in an optional child.
pub(crate) fn opt_num<T: std::str::FromStr>(el: &Element, name: &str) -> Result<Option<T>, CodecError> {
    match el.child(name) {
        Some(c) => Ok(Some(parse_num(c, &c.string()?)?)),
        None => Ok(None),
    }
}

/// Whether an empty flag element (`Final`, `NoResp`, `MoreData`) is present.
pub(crate) fn flag(el: &Element, name: &str) -> bool {
    el.child(name).is_some()
}

/// Appends an optional leaf.
pub(crate) fn push_opt(el: &mut Element, name: &str, value: &Option<String>) {
    if let Some(v) = value {
        el.push(leaf(name, v));
    }
}

/// Appends an empty flag element when set.
pub(crate) fn push_flag(el: &mut Element, name: &str, set: bool) {
    if set {
        el.push(Element::new(Namespace::SyncMl, name));
    }
}
