//! Status, Chal and Results (SyncML Representation Protocol 1.2, Common Use Elements: Chal;
//! Protocol Command Elements: Results; Protocol Management Elements: Status).

use super::hdr::Cred;
use super::item::{items, Item};
use super::meta::Meta;
use super::{all_strings, leaf, opt_string, parse_num, push_opt, req_string};
use crate::codec::element::{Element, Namespace};
use crate::codec::error::CodecError;

/// `<!ELEMENT Status (CmdID, MsgRef, CmdRef, Cmd, TargetRef*, SourceRef*, Cred?, Chal?, Data,
/// Item*)>` (SyncML Representation Protocol 1.2, Protocol Management Elements: Status; status
/// codes in OMA DM Representation Protocol 1.2.1, "Response Status Codes"). The Status of a header has `Cmd` = `SyncHdr` and
/// `CmdRef` = `0`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Status {
    /// `CmdID`.
    pub cmd_id: String,
    /// `MsgRef`: the message of the command answered (required by the DTD, absent from some
    /// clients' messages, hence optional here).
    pub msg_ref: Option<String>,
    /// `CmdRef`: the `CmdID` answered (`0` for the header).
    pub cmd_ref: String,
    /// `Cmd`: the name of the command answered (`SyncHdr` for the header).
    pub cmd: String,
    /// `TargetRef`s: the target URIs answered.
    pub target_refs: Vec<String>,
    /// `SourceRef`s: the source URIs answered.
    pub source_refs: Vec<String>,
    /// `Cred`.
    pub cred: Option<Cred>,
    /// `Chal`: an authentication challenge (with 401 / 407, or a new nonce with 200 / 212).
    pub chal: Option<Chal>,
    /// `Data`: the status code (200, 212, 401, ...).
    pub code: u16,
    /// Items (e.g. a message to the user).
    pub items: Vec<Item>,
}

/// `<!ELEMENT Chal (Meta)>` (SyncML Representation Protocol 1.2, Common Use Elements: Chal): Type (the
/// scheme), Format (`b64`) and `NextNonce`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Chal {
    /// The challenge.
    pub meta: Meta,
}

/// `<!ELEMENT Results (CmdID, MsgRef?, CmdRef, Meta?, TargetRef?, SourceRef?, Item+)>` (SyncML
/// Representation Protocol 1.2, Protocol Command Elements: Results): the values a Get asked for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Results {
    /// `CmdID`.
    pub cmd_id: String,
    /// `MsgRef`: the message of the Get.
    pub msg_ref: Option<String>,
    /// `CmdRef`: the Get's `CmdID`.
    pub cmd_ref: String,
    /// `Meta` for every item.
    pub meta: Option<Meta>,
    /// `TargetRef`s.
    pub target_refs: Vec<String>,
    /// `SourceRef`s.
    pub source_refs: Vec<String>,
    /// The values, one Item per node (`Source` = node URI).
    pub items: Vec<Item>,
}

impl Status {
    pub(crate) fn from_element(el: &Element) -> Result<Status, CodecError> {
        let data = el.child("Data").ok_or_else(|| CodecError::invalid(&el.name, "missing Data"))?;
        Ok(Status {
            cmd_id: req_string(el, "CmdID")?,
            msg_ref: opt_string(el, "MsgRef")?,
            cmd_ref: req_string(el, "CmdRef")?,
            cmd: req_string(el, "Cmd")?,
            target_refs: all_strings(el, "TargetRef")?,
            source_refs: all_strings(el, "SourceRef")?,
            cred: el.child("Cred").map(Cred::from_element).transpose()?,
            chal: el.child("Chal").map(Chal::from_element).transpose()?,
            code: parse_num(data, &data.string()?)?,
            items: items(el)?,
        })
    }

    pub(crate) fn to_element(&self) -> Element {
        let mut el = Element::new(Namespace::SyncMl, "Status");
        el.push(leaf("CmdID", &self.cmd_id));
        push_opt(&mut el, "MsgRef", &self.msg_ref);
        el.push(leaf("CmdRef", &self.cmd_ref));
        el.push(leaf("Cmd", &self.cmd));
        for r in &self.target_refs {
            el.push(leaf("TargetRef", r));
        }
        for r in &self.source_refs {
            el.push(leaf("SourceRef", r));
        }
        if let Some(c) = &self.cred {
            el.push(c.to_element());
        }
        if let Some(c) = &self.chal {
            let mut chal = Element::new(Namespace::SyncMl, "Chal");
            chal.push(c.meta.to_element());
            el.push(chal);
        }
        el.push(leaf("Data", &self.code.to_string()));
        for i in &self.items {
            el.push(i.to_element());
        }
        el
    }
}

impl Chal {
    fn from_element(el: &Element) -> Result<Chal, CodecError> {
        let meta = el.child("Meta").ok_or_else(|| CodecError::invalid(&el.name, "missing Meta"))?;
        Ok(Chal { meta: Meta::from_element(meta)? })
    }
}

impl Results {
    pub(crate) fn from_element(el: &Element) -> Result<Results, CodecError> {
        Ok(Results {
            cmd_id: req_string(el, "CmdID")?,
            msg_ref: opt_string(el, "MsgRef")?,
            cmd_ref: req_string(el, "CmdRef")?,
            meta: el.child("Meta").map(Meta::from_element).transpose()?,
            target_refs: all_strings(el, "TargetRef")?,
            source_refs: all_strings(el, "SourceRef")?,
            items: items(el)?,
        })
    }

    pub(crate) fn to_element(&self) -> Element {
        let mut el = Element::new(Namespace::SyncMl, "Results");
        el.push(leaf("CmdID", &self.cmd_id));
        push_opt(&mut el, "MsgRef", &self.msg_ref);
        el.push(leaf("CmdRef", &self.cmd_ref));
        if let Some(m) = &self.meta {
            el.push(m.to_element());
        }
        for r in &self.target_refs {
            el.push(leaf("TargetRef", r));
        }
        for r in &self.source_refs {
            el.push(leaf("SourceRef", r));
        }
        for i in &self.items {
            el.push(i.to_element());
        }
        el
    }
}
