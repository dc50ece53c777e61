//! Meta information (SyncML Meta-Information 1.2, "Meta-Information Elements"; SyncML
//! Representation Protocol 1.2, Data Description Elements: Meta).

use super::{opt_num, opt_string};
use crate::codec::element::{Element, Namespace};
use crate::codec::error::CodecError;

/// The content of a `Meta` element: the MetInf elements DM uses, in the order of
/// `<!ELEMENT MetInf (FieldLevel?, Format?, Type?, Mark?, Size?, Anchor?, Version?, NextNonce?,
/// MaxMsgSize?, MaxObjSize?, EMI*, Mem?)>` (SyncML Meta-Information 1.2, its DTD).
/// `Anchor`, `EMI`, `Mem` and `FieldLevel` are DS-only and skipped when read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Meta {
    /// `Format`: `chr` (default), `b64`, `bin`, `bool`, `int`, `node`, `xml`, ...
    pub format: Option<String>,
    /// `Type`: a MIME type, a DDF / MO identifier, an auth scheme, an alert type.
    pub r#type: Option<String>,
    /// `Mark`: Generic Alert importance (`critical`, `informational`, ...).
    pub mark: Option<String>,
    /// `Size`: size in bytes (the total size of a large object).
    pub size: Option<u64>,
    /// `Version`.
    pub version: Option<String>,
    /// `NextNonce`: the nonce for the next digest, base64 text.
    pub next_nonce: Option<String>,
    /// `MaxMsgSize`: largest message the sender accepts.
    pub max_msg_size: Option<u64>,
    /// `MaxObjSize`: largest object the sender accepts.
    pub max_obj_size: Option<u64>,
}

impl Meta {
    /// Whether nothing is set.
    pub fn is_empty(&self) -> bool {
        *self == Meta::default()
    }

    pub(crate) fn from_element(el: &Element) -> Result<Meta, CodecError> {
        // Some encoders wrap the MetInf elements in a `MetInf` element; read through it.
        let el = el.child("MetInf").unwrap_or(el);
        Ok(Meta {
            format: opt_string(el, "Format")?,
            r#type: opt_string(el, "Type")?,
            mark: opt_string(el, "Mark")?,
            size: opt_num(el, "Size")?,
            version: opt_string(el, "Version")?,
            next_nonce: opt_string(el, "NextNonce")?,
            max_msg_size: opt_num(el, "MaxMsgSize")?,
            max_obj_size: opt_num(el, "MaxObjSize")?,
        })
    }

    pub(crate) fn to_element(&self) -> Element {
        let mut el = Element::new(Namespace::SyncMl, "Meta");
        let mut put = |name: &str, v: Option<String>| {
            if let Some(v) = v {
                el.push(Element::text(Namespace::MetInf, name, v));
            }
        };
        put("Format", self.format.clone());
        put("Type", self.r#type.clone());
        put("Mark", self.mark.clone());
        put("Size", self.size.map(|n| n.to_string()));
        put("Version", self.version.clone());
        put("NextNonce", self.next_nonce.clone());
        put("MaxMsgSize", self.max_msg_size.map(|n| n.to_string()));
        put("MaxObjSize", self.max_obj_size.map(|n| n.to_string()));
        el
    }
}
