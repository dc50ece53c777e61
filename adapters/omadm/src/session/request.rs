//! What the adapter asks of the device: [`Request`]s that become the server's management
//! commands (OMA DM Protocol 1.2 §6.6; SyncML Representation Protocol 1.2 §6.6 Add, Atomic,
//! Copy, Delete, Exec, Get, Replace, Sequence), and the table that matches the client's Status
//! and Results (by `MsgRef` / `CmdRef`) back to them.

use crate::codec::{Alert, Command, Container, Data, Exec, Item, ItemCommand, Location, Meta, Results, Status};

/// A handle the adapter chooses for a request; every event about the request carries it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestHandle(pub u64);

impl RequestHandle {
    /// The bit that marks the adapter's own requests (reads that belong to no engine
    /// operation: discovery of the device's management objects, inventory refreshes). Engine
    /// operation ids never reach it, so both kinds share one queue without colliding.
    pub const INTERNAL: u64 = 1 << 63;

    /// The `n`th request of the adapter's own (`n` is taken modulo 2^63).
    pub fn internal(n: u64) -> RequestHandle {
        RequestHandle(Self::INTERNAL | n)
    }

    /// Whether this is one of the adapter's own requests rather than an operation's.
    pub fn is_internal(self) -> bool {
        self.0 & Self::INTERNAL != 0
    }
}

impl From<unidm_models::OperationId> for RequestHandle {
    /// The engine's operation id as the handle, the usual choice of the adapter.
    fn from(id: unidm_models::OperationId) -> Self {
        RequestHandle(id.0)
    }
}

/// A node value with its `Meta/Format` and `Meta/Type` (OMA DM Protocol 1.2 §6.6: both must
/// be sent when not the defaults `chr` / `text/plain`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Value {
    /// The data.
    pub data: Data,
    /// `Format` (`chr`, `int`, `bool`, `b64`, `bin`, `node`, ...); `None` for `chr`.
    pub format: Option<String>,
    /// `Type` (a MIME type or an MO identifier).
    pub r#type: Option<String>,
}

impl Value {
    /// A `chr` value.
    pub fn text(text: impl Into<String>) -> Value {
        Value { data: Data::Text(text.into()), format: None, r#type: None }
    }

    /// The same value with a `Format`.
    pub fn with_format(mut self, format: impl Into<String>) -> Value {
        self.format = Some(format.into());
        self
    }

    /// The same value with a `Type`.
    pub fn with_type(mut self, r#type: impl Into<String>) -> Value {
        self.r#type = Some(r#type.into());
        self
    }

    fn meta(&self) -> Option<Meta> {
        let m = Meta { format: self.format.clone(), r#type: self.r#type.clone(), ..Meta::default() };
        (!m.is_empty()).then_some(m)
    }
}

/// One management command on a node URI (relative to the tree root, `./FUMO/...`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// `Get`: read a node, a property (`?prop=Format`) or a listing (`?list=Struct`).
    Get {
        /// Node URI.
        uri: String,
    },
    /// `Replace`: write a node's value.
    Replace {
        /// Node URI.
        uri: String,
        /// The value.
        value: Value,
    },
    /// `Add`: create a node (interior when `value` has Format `node`).
    Add {
        /// Node URI.
        uri: String,
        /// The value, if a leaf.
        value: Option<Value>,
    },
    /// `Delete`: remove a node.
    Delete {
        /// Node URI.
        uri: String,
    },
    /// `Exec`: run an executable node; with a `Correlator`, the outcome may come later in a
    /// Generic Alert 1226 (OMA DM Protocol 1.2 §8.7).
    Exec {
        /// Node URI.
        uri: String,
        /// An argument.
        data: Option<Value>,
        /// Echoed in the Generic Alert reporting an asynchronous outcome.
        correlator: Option<String>,
    },
    /// `Copy`: copy `source` to `target`.
    Copy {
        /// Node URI written.
        target: String,
        /// Node URI read.
        source: String,
    },
    /// `Alert` with a user-interaction code (OMA DM Protocol 1.2 §8.8 and §10 user
    /// interaction: 1100 display, 1101 confirm or reject, 1102 text input, 1103 single choice,
    /// 1104 multiple choice): the parameters (`MINDT=10`, `MAXDT=30`, ...) as the first item's
    /// data, the text and choices as the following ones. The user's answer comes back as the
    /// Status' items (in [`SessionEvent::Response`](super::SessionEvent::Response) `results`).
    UserInteraction {
        /// 1100 - 1104.
        code: u16,
        /// The items' data, in order.
        items: Vec<String>,
    },
    /// `Atomic`: all or none (statuses 216 / 516 / 215 for the parts).
    Atomic(Vec<Op>),
    /// `Sequence`: in order.
    Sequence(Vec<Op>),
}

/// Most commands one request may hold (nested ones included), and the deepest nesting.
pub const MAX_PARTS: usize = 64;
/// Deepest nesting of Atomic / Sequence.
pub const MAX_NESTING: usize = 4;

impl Op {
    /// The number of commands, and whether nesting and size are within bounds.
    pub(crate) fn check(&self, depth: usize) -> Result<usize, String> {
        match self {
            Op::UserInteraction { code, .. } if !(1100..=1104).contains(code) => {
                Err(format!("alert {code} is not a user interaction (1100 - 1104)"))
            }
            Op::Atomic(ops) | Op::Sequence(ops) => {
                if depth >= MAX_NESTING {
                    return Err(format!("Atomic / Sequence nested deeper than {MAX_NESTING}"));
                }
                if ops.is_empty() {
                    return Err("empty Atomic / Sequence".into());
                }
                let mut n = 1;
                for op in ops {
                    n += op.check(depth + 1)?;
                    if n > MAX_PARTS {
                        return Err(format!("more than {MAX_PARTS} commands in one request"));
                    }
                }
                Ok(n)
            }
            _ => Ok(1),
        }
    }
}

/// A request the adapter enqueues: its handle and what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The adapter's handle.
    pub handle: RequestHandle,
    /// The command.
    pub op: Op,
}

impl Request {
    /// A request.
    pub fn new(handle: RequestHandle, op: Op) -> Request {
        Request { handle, op }
    }
}

/// One command sent for a request: its `CmdID` and whether it is a Get (which expects Results).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Part {
    pub cmd_id: String,
    pub get: bool,
    pub status: Option<u16>,
    /// Results arrived for it.
    pub answered: bool,
}

fn target_item(uri: &str, value: Option<&Value>) -> Item {
    Item {
        target: Some(Location::uri(uri)),
        meta: value.and_then(Value::meta),
        data: value.map(|v| v.data.clone()),
        ..Item::default()
    }
}

fn item_command(cmd_id: String, item: Item) -> ItemCommand {
    ItemCommand { cmd_id, items: vec![item], ..ItemCommand::default() }
}

/// Builds the command of `op`, numbering from `next_id`; `parts` gets one entry per command,
/// the outermost first.
pub(crate) fn build(op: &Op, next_id: &mut u32, parts: &mut Vec<Part>) -> Command {
    let cmd_id = next_id.to_string();
    *next_id += 1;
    parts.push(Part { cmd_id: cmd_id.clone(), get: matches!(op, Op::Get { .. }), status: None, answered: false });
    match op {
        Op::Get { uri } => Command::Get(item_command(cmd_id, target_item(uri, None))),
        Op::Replace { uri, value } => Command::Replace(item_command(cmd_id, target_item(uri, Some(value)))),
        Op::Add { uri, value } => Command::Add(item_command(cmd_id, target_item(uri, value.as_ref()))),
        Op::Delete { uri } => Command::Delete(item_command(cmd_id, target_item(uri, None))),
        Op::Copy { target, source } => Command::Copy(item_command(
            cmd_id,
            Item { target: Some(Location::uri(target)), source: Some(Location::uri(source)), ..Item::default() },
        )),
        Op::UserInteraction { code, items } => Command::Alert(Alert {
            cmd_id,
            code: Some(*code),
            items: items.iter().map(|d| Item { data: Some(Data::Text(d.clone())), ..Item::default() }).collect(),
            ..Alert::default()
        }),
        Op::Exec { uri, data, correlator } => Command::Exec(Exec {
            cmd_id,
            correlator: correlator.clone(),
            item: target_item(uri, data.as_ref()),
            ..Exec::default()
        }),
        Op::Atomic(ops) | Op::Sequence(ops) => {
            let commands = ops.iter().map(|o| build(o, next_id, parts)).collect();
            let c = Container { cmd_id, commands, ..Container::default() };
            if matches!(op, Op::Atomic(_)) {
                Command::Atomic(c)
            } else {
                Command::Sequence(c)
            }
        }
    }
}

/// A request sent and not yet fully answered.
#[derive(Debug, Clone)]
pub(crate) struct InFlight {
    pub request: Request,
    /// The `MsgID` of the server message that carried it.
    pub msg_id: String,
    /// Its commands, the outermost first.
    pub parts: Vec<Part>,
    /// Results items, each with the Results' Meta merged in (the item's own wins).
    pub results: Vec<Item>,
    /// A Results of this request is still arriving in chunks.
    pub chunking: bool,
}

impl InFlight {
    pub fn new(request: Request, msg_id: String, parts: Vec<Part>) -> InFlight {
        InFlight { request, msg_id, parts, results: Vec::new(), chunking: false }
    }

    pub fn find_part(&mut self, msg_ref: &str, cmd_ref: &str) -> Option<&mut Part> {
        if self.msg_id != msg_ref {
            return None;
        }
        self.parts.iter_mut().find(|p| p.cmd_id == cmd_ref)
    }

    pub fn has(&self, msg_ref: &str, cmd_ref: &str) -> bool {
        self.msg_id == msg_ref && self.parts.iter().any(|p| p.cmd_id == cmd_ref)
    }

    /// The outer status; a Get answered with Results but no Status counts as 200 once the
    /// client's package is over (lenient with clients that skip it).
    pub fn status(&self, package_over: bool) -> Option<u16> {
        let outer = self.parts.first()?;
        outer.status.or((package_over && outer.get && outer.answered).then_some(200))
    }

    /// Answered: the outer status is in, every part has its status (or the package is over),
    /// and no successful Get still waits for its Results.
    pub fn complete(&self, package_over: bool) -> bool {
        if self.chunking || self.status(package_over).is_none() {
            return false;
        }
        package_over || self.parts.iter().all(|p| p.status.is_some() && (!p.get || p.status != Some(200) || p.answered))
    }

    /// The part statuses after the outer one (empty for a single command).
    pub fn part_statuses(&self) -> Vec<u16> {
        self.parts.iter().skip(1).map(|p| p.status.unwrap_or(0)).collect()
    }
}

/// The items of a Results, with the Results' Meta folded into each item (SyncML RepPro 1.2
/// §6.6.12: the command's Meta applies to items that carry none of their own).
pub(crate) fn result_items(results: &Results) -> Vec<Item> {
    results
        .items
        .iter()
        .map(|i| {
            let mut i = i.clone();
            i.meta = merge_meta(results.meta.as_ref(), i.meta.as_ref());
            i
        })
        .collect()
}

/// An item's Meta with the command's as fallback.
pub(crate) fn merge_meta(command: Option<&Meta>, item: Option<&Meta>) -> Option<Meta> {
    match (command, item) {
        (None, i) => i.cloned(),
        (Some(c), None) => Some(c.clone()),
        (Some(c), Some(i)) => Some(Meta {
            format: i.format.clone().or_else(|| c.format.clone()),
            r#type: i.r#type.clone().or_else(|| c.r#type.clone()),
            mark: i.mark.clone().or_else(|| c.mark.clone()),
            size: i.size.or(c.size),
            version: i.version.clone().or_else(|| c.version.clone()),
            next_nonce: i.next_nonce.clone().or_else(|| c.next_nonce.clone()),
            max_msg_size: i.max_msg_size.or(c.max_msg_size),
            max_obj_size: i.max_obj_size.or(c.max_obj_size),
        }),
    }
}

/// A Status answering a client command (`CmdRef` = its `CmdID`, `MsgRef` = its message).
pub(crate) fn status_for(msg_ref: &str, cmd_ref: &str, cmd: &str, code: u16) -> Status {
    Status {
        msg_ref: Some(msg_ref.to_owned()),
        cmd_ref: cmd_ref.to_owned(),
        cmd: cmd.to_owned(),
        code,
        ..Status::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn containers_number_their_parts_outermost_first() {
        let op = Op::Atomic(vec![
            Op::Replace { uri: "./A".into(), value: Value::text("1") },
            Op::Sequence(vec![Op::Get { uri: "./B".into() }]),
        ]);
        assert_eq!(op.check(0), Ok(4));
        let (mut id, mut parts) = (5, Vec::new());
        let cmd = build(&op, &mut id, &mut parts);
        assert_eq!(cmd.cmd_id(), Some("5"));
        assert_eq!(
            parts.iter().map(|p| (p.cmd_id.as_str(), p.get)).collect::<Vec<_>>(),
            [("5", false), ("6", false), ("7", false), ("8", true)]
        );
        assert_eq!(id, 9);
        let mut deep = Op::Get { uri: "./x".into() };
        for _ in 0..=MAX_NESTING {
            deep = Op::Sequence(vec![deep]);
        }
        assert!(deep.check(0).is_err());
        assert!(Op::Atomic(vec![]).check(0).is_err());
    }

    #[test]
    fn internal_handles_never_meet_operation_ids() {
        let op = RequestHandle::from(unidm_models::OperationId(u64::MAX >> 1));
        assert!(!op.is_internal());
        let own = RequestHandle::internal(op.0);
        assert!(own.is_internal());
        assert_ne!(own, op);
        assert_eq!(RequestHandle::internal(3), RequestHandle::internal(3 | RequestHandle::INTERNAL));
    }
}
