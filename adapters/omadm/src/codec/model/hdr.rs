//! The message header: SyncHdr, Target / Source and Cred (SyncML Representation Protocol 1.2,
//! Message Container Elements: SyncHdr; Common Use Elements: Cred, Source, Target).

use super::meta::Meta;
use super::{flag, leaf, opt_string, push_flag, push_opt, req_string, SyncMlVersion};
use crate::codec::element::{Element, Namespace};
use crate::codec::error::CodecError;

/// `<!ELEMENT SyncHdr (VerDTD, VerProto, SessionID, MsgID, Target, Source, RespURI?, NoResp?,
/// Cred?, Meta?)>` (SyncML Representation Protocol 1.2, Message Container Elements: SyncHdr;
/// OMA DM Protocol 1.2.1, "OMA DM Protocol Packages": VerDTD `1.2`, VerProto `DM/1.2`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncHdr {
    /// `VerDTD`: `1.2` for DM 1.2 and 1.3, `1.1` for DM 1.1.2.
    pub ver_dtd: String,
    /// `VerProto`: `DM/1.2`, `DM/1.3`, `DM/1.1`.
    pub ver_proto: String,
    /// `SessionID`: upper-case hex without leading zeros after a Package 0.
    pub session_id: String,
    /// `MsgID`: the message within the session.
    pub msg_id: String,
    /// `Target`: the recipient (server URI or device id).
    pub target: Location,
    /// `Source`: the sender.
    pub source: Location,
    /// `RespURI`: where the peer must send later messages of the session.
    pub resp_uri: Option<String>,
    /// `NoResp`: no Status expected for the header.
    pub no_resp: bool,
    /// `Cred`: the sender's credentials.
    pub cred: Option<Cred>,
    /// `Meta`: `MaxMsgSize`, `MaxObjSize`.
    pub meta: Option<Meta>,
}

/// The content of `Target` and `Source`: `(LocURI, LocName?)` (SyncML Representation Protocol
/// 1.2, Common Use Elements: LocName, LocURI, Source, Target; `Target/Filter` is DS only and
/// skipped).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Location {
    /// `LocURI`: an absolute URI, a device id (`IMEI:…`) or a node URI (`./DevInfo/DevId`).
    pub loc_uri: String,
    /// `LocName`: a display name (a user name in a client's Source).
    pub loc_name: Option<String>,
}

/// `<!ELEMENT Cred (Meta?, Data)>` (SyncML Representation Protocol 1.2, Common Use Elements: Cred):
/// `Meta/Type` is the scheme (`syncml:auth-basic`, `syncml:auth-md5`), `Meta/Format` its
/// encoding (`b64`), `Data` the credential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cred {
    /// Type and Format of the credential.
    pub meta: Option<Meta>,
    /// The credential itself (text).
    pub data: String,
}

impl SyncHdr {
    /// The SyncML version, from `VerDTD` (anything but `1.1` is taken as 1.2).
    pub fn version(&self) -> SyncMlVersion {
        if self.ver_dtd.trim() == "1.1" {
            SyncMlVersion::V1_1
        } else {
            SyncMlVersion::V1_2
        }
    }

    pub(crate) fn from_element(el: &Element) -> Result<SyncHdr, CodecError> {
        Ok(SyncHdr {
            ver_dtd: req_string(el, "VerDTD")?,
            ver_proto: req_string(el, "VerProto")?,
            session_id: req_string(el, "SessionID")?,
            msg_id: req_string(el, "MsgID")?,
            target: Location::required(el, "Target")?,
            source: Location::required(el, "Source")?,
            resp_uri: opt_string(el, "RespURI")?,
            no_resp: flag(el, "NoResp"),
            cred: el.child("Cred").map(Cred::from_element).transpose()?,
            meta: el.child("Meta").map(Meta::from_element).transpose()?,
        })
    }

    pub(crate) fn to_element(&self) -> Element {
        let mut el = Element::new(Namespace::SyncMl, "SyncHdr");
        el.push(leaf("VerDTD", &self.ver_dtd));
        el.push(leaf("VerProto", &self.ver_proto));
        el.push(leaf("SessionID", &self.session_id));
        el.push(leaf("MsgID", &self.msg_id));
        el.push(self.target.to_element("Target"));
        el.push(self.source.to_element("Source"));
        push_opt(&mut el, "RespURI", &self.resp_uri);
        push_flag(&mut el, "NoResp", self.no_resp);
        if let Some(c) = &self.cred {
            el.push(c.to_element());
        }
        if let Some(m) = &self.meta {
            el.push(m.to_element());
        }
        el
    }
}

impl Location {
    /// A location with only a `LocURI`.
    pub fn uri(uri: impl Into<String>) -> Location {
        Location { loc_uri: uri.into(), loc_name: None }
    }

    fn required(parent: &Element, name: &str) -> Result<Location, CodecError> {
        let el = parent.child(name).ok_or_else(|| CodecError::invalid(&parent.name, format!("missing {name}")))?;
        Location::from_element(el)
    }

    pub(crate) fn from_element(el: &Element) -> Result<Location, CodecError> {
        Ok(Location { loc_uri: req_string(el, "LocURI")?, loc_name: opt_string(el, "LocName")? })
    }

    pub(crate) fn to_element(&self, name: &str) -> Element {
        let mut el = Element::new(Namespace::SyncMl, name);
        el.push(leaf("LocURI", &self.loc_uri));
        push_opt(&mut el, "LocName", &self.loc_name);
        el
    }
}

impl Cred {
    pub(crate) fn from_element(el: &Element) -> Result<Cred, CodecError> {
        Ok(Cred { meta: el.child("Meta").map(Meta::from_element).transpose()?, data: req_string(el, "Data")? })
    }

    pub(crate) fn to_element(&self) -> Element {
        let mut el = Element::new(Namespace::SyncMl, "Cred");
        if let Some(m) = &self.meta {
            el.push(m.to_element());
        }
        el.push(leaf("Data", &self.data));
        el
    }
}
