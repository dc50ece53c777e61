//! The commands of a SyncBody (SyncML Representation Protocol 1.2, "Protocol Command Elements";
//! OMA DM Representation Protocol 1.2.1, "Protocol Command Elements", says which DM uses).

use super::hdr::Cred;
use super::item::{items, Item};
use super::meta::Meta;
use super::status::{Results, Status};
use super::{flag, leaf, opt_num, opt_string, push_flag, push_opt, req_string};
use crate::codec::element::{Element, Namespace};
use crate::codec::error::CodecError;

/// One command of a SyncBody, Atomic or Sequence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `Alert` (Protocol Command Elements: Alert).
    Alert(Alert),
    /// `Add` (Protocol Command Elements: Add).
    Add(ItemCommand),
    /// `Replace` (Protocol Command Elements: Replace).
    Replace(ItemCommand),
    /// `Delete` (Protocol Command Elements: Delete).
    Delete(ItemCommand),
    /// `Copy` (Protocol Command Elements: Copy).
    Copy(ItemCommand),
    /// `Get` (Protocol Command Elements: Get).
    Get(ItemCommand),
    /// `Exec` (Protocol Command Elements: Exec).
    Exec(Exec),
    /// `Atomic` (Protocol Command Elements: Atomic): all or none.
    Atomic(Container),
    /// `Sequence` (Protocol Command Elements: Sequence): in order.
    Sequence(Container),
    /// `Status` (Protocol Management Elements: Status).
    Status(Status),
    /// `Results` (Protocol Command Elements: Results).
    Results(Results),
    /// A command DM does not use (`Map`, `Put`, `Search`, `Sync`, `Move`) or that no spec
    /// names; kept so that a server can answer it with a Status (406 / 501).
    Unknown(UnknownCommand),
}

/// `Add`, `Replace`, `Delete`, `Copy` and `Get`: `(CmdID, NoResp?, Cred?, Meta?, Item+)`
/// (SyncML Representation Protocol 1.2, Protocol Command Elements: Add, Copy, Delete, Get, Replace;
/// `Delete/Archive`, `Delete/SftDel` and `Get/Lang` are skipped when read).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ItemCommand {
    /// `CmdID`.
    pub cmd_id: String,
    /// `NoResp`: no Status wanted.
    pub no_resp: bool,
    /// `Cred` (not used by DM at command level).
    pub cred: Option<Cred>,
    /// `Meta` for every item (an item's own Meta wins).
    pub meta: Option<Meta>,
    /// The items (node URIs and values).
    pub items: Vec<Item>,
}

/// `<!ELEMENT Exec (CmdID, NoResp?, Cred?, Meta?, Correlator?, Item)>` (SyncML Representation
/// Protocol 1.2, Protocol Command Elements: Exec; `Correlator` per OMA DM Representation Protocol
/// 1.2.1, Exec, and OMA DM Protocol 1.2.1, Generic Alert).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Exec {
    /// `CmdID`.
    pub cmd_id: String,
    /// `NoResp`.
    pub no_resp: bool,
    /// `Cred`.
    pub cred: Option<Cred>,
    /// `Meta`.
    pub meta: Option<Meta>,
    /// `Correlator`: echoed in the Generic Alert that reports an asynchronous result.
    pub correlator: Option<String>,
    /// The node to execute, with its optional argument in `Data`.
    pub item: Item,
}

/// `<!ELEMENT Alert (CmdID, NoResp?, Cred?, Data?, Correlator?, Item*)>` (SyncML Representation
/// Protocol 1.2, Protocol Command Elements: Alert; alert codes in OMA DM Protocol 1.2.1, "Alert
/// Codes").
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Alert {
    /// `CmdID`.
    pub cmd_id: String,
    /// `NoResp`.
    pub no_resp: bool,
    /// `Cred`.
    pub cred: Option<Cred>,
    /// `Data`: the alert code.
    pub code: Option<u16>,
    /// `Correlator`: on a Generic Alert, the Exec's correlator it answers.
    pub correlator: Option<String>,
    /// Items (user-interaction parameters, Generic Alert payloads).
    pub items: Vec<Item>,
}

impl Alert {
    /// 1100 DISPLAY (user interaction).
    pub const DISPLAY: u16 = 1100;
    /// 1101 CONFIRM OR REJECT.
    pub const CONFIRM_OR_REJECT: u16 = 1101;
    /// 1102 TEXT INPUT.
    pub const TEXT_INPUT: u16 = 1102;
    /// 1103 SINGLE CHOICE.
    pub const SINGLE_CHOICE: u16 = 1103;
    /// 1104 MULTIPLE CHOICE.
    pub const MULTIPLE_CHOICE: u16 = 1104;
    /// 1200 SERVER-INITIATED MGMT.
    pub const SERVER_INITIATED: u16 = 1200;
    /// 1201 CLIENT-INITIATED MGMT.
    pub const CLIENT_INITIATED: u16 = 1201;
    /// 1222 NEXT MESSAGE.
    pub const NEXT_MESSAGE: u16 = 1222;
    /// 1223 SESSION ABORT.
    pub const SESSION_ABORT: u16 = 1223;
    /// 1224 CLIENT EVENT.
    pub const CLIENT_EVENT: u16 = 1224;
    /// 1225 NO END OF DATA.
    pub const NO_END_OF_DATA: u16 = 1225;
    /// 1226 GENERIC ALERT.
    pub const GENERIC_ALERT: u16 = 1226;
}

/// `Atomic` and `Sequence`: `(CmdID, NoResp?, Meta?, (command)+)` (SyncML Representation
/// Protocol 1.2, Protocol Command Elements: Atomic, Sequence).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Container {
    /// `CmdID`.
    pub cmd_id: String,
    /// `NoResp`.
    pub no_resp: bool,
    /// `Meta`.
    pub meta: Option<Meta>,
    /// The nested commands, in order.
    pub commands: Vec<Command>,
}

/// A command the model does not know: its element name and, when present, its `CmdID`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownCommand {
    /// Element name as received.
    pub name: String,
    /// `CmdID`, if the command has one.
    pub cmd_id: Option<String>,
}

impl Command {
    /// The command's element name (`Get`, `Status`, ...), as a Status `Cmd` names it.
    pub fn name(&self) -> &str {
        match self {
            Command::Alert(_) => "Alert",
            Command::Add(_) => "Add",
            Command::Replace(_) => "Replace",
            Command::Delete(_) => "Delete",
            Command::Copy(_) => "Copy",
            Command::Get(_) => "Get",
            Command::Exec(_) => "Exec",
            Command::Atomic(_) => "Atomic",
            Command::Sequence(_) => "Sequence",
            Command::Status(_) => "Status",
            Command::Results(_) => "Results",
            Command::Unknown(u) => &u.name,
        }
    }

    /// The command's `CmdID`.
    pub fn cmd_id(&self) -> Option<&str> {
        match self {
            Command::Alert(c) => Some(&c.cmd_id),
            Command::Add(c) | Command::Replace(c) | Command::Delete(c) | Command::Copy(c) | Command::Get(c) => {
                Some(&c.cmd_id)
            }
            Command::Exec(c) => Some(&c.cmd_id),
            Command::Atomic(c) | Command::Sequence(c) => Some(&c.cmd_id),
            Command::Status(c) => Some(&c.cmd_id),
            Command::Results(c) => Some(&c.cmd_id),
            Command::Unknown(c) => c.cmd_id.as_deref(),
        }
    }

    pub(crate) fn from_element(el: &Element) -> Result<Command, CodecError> {
        let name = el.name.to_ascii_lowercase();
        Ok(match name.as_str() {
            "alert" => Command::Alert(Alert::from_element(el)?),
            "add" => Command::Add(ItemCommand::from_element(el)?),
            "replace" => Command::Replace(ItemCommand::from_element(el)?),
            "delete" => Command::Delete(ItemCommand::from_element(el)?),
            "copy" => Command::Copy(ItemCommand::from_element(el)?),
            "get" => Command::Get(ItemCommand::from_element(el)?),
            "exec" => Command::Exec(Exec::from_element(el)?),
            "atomic" => Command::Atomic(Container::from_element(el)?),
            "sequence" => Command::Sequence(Container::from_element(el)?),
            "status" => Command::Status(Status::from_element(el)?),
            "results" => Command::Results(Results::from_element(el)?),
            _ => Command::Unknown(UnknownCommand { name: el.name.clone(), cmd_id: opt_string(el, "CmdID")? }),
        })
    }

    pub(crate) fn to_element(&self) -> Element {
        match self {
            Command::Alert(c) => c.to_element(),
            Command::Add(c) => c.to_element("Add"),
            Command::Replace(c) => c.to_element("Replace"),
            Command::Delete(c) => c.to_element("Delete"),
            Command::Copy(c) => c.to_element("Copy"),
            Command::Get(c) => c.to_element("Get"),
            Command::Exec(c) => c.to_element(),
            Command::Atomic(c) => c.to_element("Atomic"),
            Command::Sequence(c) => c.to_element("Sequence"),
            Command::Status(c) => c.to_element(),
            Command::Results(c) => c.to_element(),
            Command::Unknown(c) => {
                let mut el = Element::new(Namespace::SyncMl, c.name.as_str());
                push_opt(&mut el, "CmdID", &c.cmd_id);
                el
            }
        }
    }
}

fn cred(el: &Element) -> Result<Option<Cred>, CodecError> {
    el.child("Cred").map(Cred::from_element).transpose()
}

fn meta(el: &Element) -> Result<Option<Meta>, CodecError> {
    el.child("Meta").map(Meta::from_element).transpose()
}

/// Writes the common head `CmdID, NoResp?, Cred?, Meta?`.
fn head(name: &str, cmd_id: &str, no_resp: bool, cred: &Option<Cred>, meta: &Option<Meta>) -> Element {
    let mut el = Element::new(Namespace::SyncMl, name);
    el.push(leaf("CmdID", cmd_id));
    push_flag(&mut el, "NoResp", no_resp);
    if let Some(c) = cred {
        el.push(c.to_element());
    }
    if let Some(m) = meta {
        el.push(m.to_element());
    }
    el
}

impl ItemCommand {
    fn from_element(el: &Element) -> Result<ItemCommand, CodecError> {
        Ok(ItemCommand {
            cmd_id: req_string(el, "CmdID")?,
            no_resp: flag(el, "NoResp"),
            cred: cred(el)?,
            meta: meta(el)?,
            items: items(el)?,
        })
    }

    fn to_element(&self, name: &str) -> Element {
        let mut el = head(name, &self.cmd_id, self.no_resp, &self.cred, &self.meta);
        for i in &self.items {
            el.push(i.to_element());
        }
        el
    }
}

impl Exec {
    fn from_element(el: &Element) -> Result<Exec, CodecError> {
        let item = el.child("Item").ok_or_else(|| CodecError::invalid(&el.name, "missing Item"))?;
        Ok(Exec {
            cmd_id: req_string(el, "CmdID")?,
            no_resp: flag(el, "NoResp"),
            cred: cred(el)?,
            meta: meta(el)?,
            correlator: opt_string(el, "Correlator")?,
            item: Item::from_element(item)?,
        })
    }

    fn to_element(&self) -> Element {
        let mut el = head("Exec", &self.cmd_id, self.no_resp, &self.cred, &self.meta);
        push_opt(&mut el, "Correlator", &self.correlator);
        el.push(self.item.to_element());
        el
    }
}

impl Alert {
    fn from_element(el: &Element) -> Result<Alert, CodecError> {
        Ok(Alert {
            cmd_id: req_string(el, "CmdID")?,
            no_resp: flag(el, "NoResp"),
            cred: cred(el)?,
            code: opt_num(el, "Data")?,
            correlator: opt_string(el, "Correlator")?,
            items: items(el)?,
        })
    }

    fn to_element(&self) -> Element {
        let mut el = head("Alert", &self.cmd_id, self.no_resp, &self.cred, &None);
        push_opt(&mut el, "Data", &self.code.map(|c| c.to_string()));
        push_opt(&mut el, "Correlator", &self.correlator);
        for i in &self.items {
            el.push(i.to_element());
        }
        el
    }
}

impl Container {
    fn from_element(el: &Element) -> Result<Container, CodecError> {
        let mut commands = Vec::new();
        for child in el.children() {
            if !["CmdID", "NoResp", "Meta"].iter().any(|n| child.is(n)) {
                commands.push(Command::from_element(child)?);
            }
        }
        Ok(Container { cmd_id: req_string(el, "CmdID")?, no_resp: flag(el, "NoResp"), meta: meta(el)?, commands })
    }

    fn to_element(&self, name: &str) -> Element {
        let mut el = head(name, &self.cmd_id, self.no_resp, &None, &self.meta);
        for c in &self.commands {
            el.push(c.to_element());
        }
        el
    }
}
