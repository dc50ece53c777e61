//! Writing one server message: Statuses first, then as many queued commands as the client's
//! `MaxMsgSize` allows (SyncML Representation Protocol 1.2 §5.1.10 `Final`, SyncML
//! Meta-Information 1.2 §5.6 `MaxMsgSize`; OMA DM Protocol 1.2 §6.1 multiple messages in a
//! package). What does not fit stays queued for the next message of the package, which the
//! client asks for with Alert 1222. A Replace or Add whose value cannot fit in any message goes
//! out as a large object (OMA DM Protocol 1.2 §6.2): one chunk per message, `MoreData` on all
//! but the last, the total `Size` on the first, nothing else in between.

use std::collections::VecDeque;

use super::request::{build, InFlight, Op, Part, Request, RequestHandle, Value};
use crate::codec::{
    self, Alert, CodecError, Command, Data, Item, ItemCommand, Location, MediaType, Meta, Status, SyncBody, SyncHdr,
    SyncML,
};

/// Extra alerts a server message may carry besides its Statuses and commands.
#[derive(Debug, Clone, Default)]
pub(crate) struct Alerts {
    /// Alert 1222: send the next message of your package.
    pub next_message: bool,
    /// Alert 1225 for this node: its large object ended without its last chunk.
    pub no_end_of_data: Option<String>,
}

/// A large object being sent: the request and how much of its value is out.
#[derive(Debug, Clone)]
pub(crate) struct OutgoingObject {
    pub request: Request,
    sent: usize,
}

/// What the server still has to send in its current package.
#[derive(Debug, Default)]
pub(crate) struct Outbox {
    pub requests: VecDeque<Request>,
    pub object: Option<OutgoingObject>,
}

impl Outbox {
    pub fn is_empty(&self) -> bool {
        self.requests.is_empty() && self.object.is_none()
    }

    pub fn len(&self) -> usize {
        self.requests.len() + usize::from(self.object.is_some())
    }

    /// Everything not yet (fully) sent, with whether any of it left.
    pub fn drain(&mut self) -> Vec<(RequestHandle, bool)> {
        let mut out: Vec<_> = self.object.take().map(|o| (o.request.handle, true)).into_iter().collect();
        out.extend(self.requests.drain(..).map(|r| (r.handle, false)));
        out
    }
}

/// A written message.
#[derive(Debug)]
pub(crate) struct Packed {
    pub bytes: Vec<u8>,
    /// The requests it carries, to match their answers.
    pub sent: Vec<InFlight>,
    /// An intermediate chunk it carries (`MsgID`, `CmdID`, request): answered 213.
    pub chunk: Option<(String, String, RequestHandle)>,
    /// Requests dropped because they can never fit the client's `MaxMsgSize` / `MaxObjSize`.
    pub too_large: Vec<RequestHandle>,
}

fn encode(msg: &SyncML, media: MediaType) -> Result<Vec<u8>, CodecError> {
    codec::encode(msg, media.encoding())
}

/// The value of a request that may travel as a large object: a lone Replace or Add of text or
/// opaque data.
fn chunkable(op: &Op) -> Option<(&str, &Value)> {
    match op {
        Op::Replace { uri, value } | Op::Add { uri, value: Some(value) }
            if matches!(value.data, Data::Text(_) | Data::Opaque(_)) =>
        {
            Some((uri, value))
        }
        _ => None,
    }
}

fn data_len(data: &Data) -> usize {
    match data {
        Data::Text(t) => t.len(),
        Data::Opaque(b) => b.len(),
        Data::Markup(_) => 0,
    }
}

/// At most `len` bytes of `data` from `from`, shortened to a character boundary for text.
fn slice(data: &Data, from: usize, len: usize) -> Data {
    let mut len = len.min(data_len(data).saturating_sub(from));
    match data {
        Data::Text(t) => {
            while len > 0 && !t.is_char_boundary(from + len) {
                len -= 1;
            }
            Data::Text(t.get(from..from + len).unwrap_or_default().to_owned())
        }
        Data::Opaque(b) => Data::Opaque(b.get(from..from + len).unwrap_or_default().to_vec()),
        Data::Markup(_) => Data::Text(String::new()),
    }
}

/// The chunk command of `object` starting at its `sent` offset with `len` bytes.
fn chunk_command(object: &OutgoingObject, cmd_id: String, len: usize) -> Option<(Command, usize)> {
    let (uri, value) = chunkable(&object.request.op)?;
    let total = data_len(&value.data);
    let data = slice(&value.data, object.sent, len);
    let taken = data_len(&data);
    let first = object.sent == 0;
    let meta = Meta {
        format: value.format.clone(),
        r#type: value.r#type.clone(),
        size: first.then_some(total as u64),
        ..Meta::default()
    };
    let item = Item {
        target: Some(Location::uri(uri)),
        meta: (!meta.is_empty()).then_some(meta),
        data: Some(data),
        more_data: object.sent + taken < total,
        ..Item::default()
    };
    let c = ItemCommand { cmd_id, items: vec![item], ..ItemCommand::default() };
    let cmd = if matches!(object.request.op, Op::Add { .. }) { Command::Add(c) } else { Command::Replace(c) };
    Some((cmd, taken))
}

/// Puts the next chunk of `object` into `msg`, as large as fits `max`: shrinks by what
/// overflows until it does. Returns whether other commands may follow (the object is done).
#[allow(clippy::too_many_arguments)]
fn put_chunk(
    msg: &mut SyncML,
    next_id: &mut u32,
    mut object: OutgoingObject,
    max: usize,
    media: MediaType,
    outbox: &mut Outbox,
    packed: &mut Packed,
    bytes: &mut Option<(Vec<u8>, bool)>,
) -> Result<bool, CodecError> {
    let msg_id = msg.hdr.msg_id.clone();
    let cmd_id = next_id.to_string();
    let mut len = max;
    let mut placed = None;
    for _ in 0..8 {
        let Some((cmd, taken)) = chunk_command(&object, cmd_id.clone(), len) else { break };
        msg.body.commands.push(cmd);
        msg.body.r#final = false;
        let candidate = encode(msg, media)?;
        if candidate.len() <= max && taken > 0 {
            placed = Some((taken, candidate));
            break;
        }
        msg.body.commands.pop();
        let over = candidate.len().saturating_sub(max);
        len = taken.saturating_sub(over.max(1) + 8);
        if len == 0 {
            break;
        }
    }
    let Some((taken, candidate)) = placed else {
        packed.too_large.push(object.request.handle);
        return Ok(true);
    };
    *next_id += 1;
    *bytes = Some((candidate, false));
    object.sent += taken;
    let total = chunkable(&object.request.op).map_or(0, |(_, v)| data_len(&v.data));
    if object.sent < total {
        packed.chunk = Some((msg_id, cmd_id, object.request.handle));
        outbox.object = Some(object);
        // Nothing else travels with an unfinished object.
        return Ok(false);
    }
    let part = Part { cmd_id, get: false, status: None, answered: false };
    packed.sent.push(InFlight::new(object.request, msg_id, vec![part]));
    Ok(true)
}

/// Writes one message. `statuses` are numbered from `CmdID` 1; with `take`, the current large
/// object's next chunk and then requests come off `outbox` while the message stays within
/// `max` bytes. `Final` is set unless something remains.
#[allow(clippy::too_many_arguments)]
pub(crate) fn pack(
    hdr: SyncHdr,
    statuses: Vec<Status>,
    alerts: &Alerts,
    outbox: &mut Outbox,
    take: bool,
    max: Option<usize>,
    max_obj: Option<u64>,
    media: MediaType,
) -> Result<Packed, CodecError> {
    let msg_id = hdr.msg_id.clone();
    let mut next_id = 1u32;
    let mut commands = Vec::with_capacity(statuses.len() + outbox.len() + 2);
    for mut s in statuses {
        s.cmd_id = next_id.to_string();
        next_id += 1;
        commands.push(Command::Status(s));
    }
    let alert = |code: u16, uri: Option<&String>, next_id: &mut u32| {
        let a = Alert {
            cmd_id: next_id.to_string(),
            code: Some(code),
            items: uri
                .map(|u| vec![Item { target: Some(Location::uri(u.clone())), ..Item::default() }])
                .unwrap_or_default(),
            ..Alert::default()
        };
        *next_id += 1;
        Command::Alert(a)
    };
    if let Some(uri) = &alerts.no_end_of_data {
        commands.push(alert(Alert::NO_END_OF_DATA, Some(uri), &mut next_id));
    }
    if alerts.next_message {
        commands.push(alert(Alert::NEXT_MESSAGE, None, &mut next_id));
    }
    let mut msg = SyncML { hdr, body: SyncBody { commands, r#final: true } };
    let mut packed = Packed { bytes: Vec::new(), sent: Vec::new(), chunk: None, too_large: Vec::new() };
    let mut bytes = None;
    let mut room = true;
    if let (true, Some(object), Some(max)) = (take, outbox.object.take(), max) {
        room = put_chunk(&mut msg, &mut next_id, object, max, media, outbox, &mut packed, &mut bytes)?;
    }
    if let (true, true, Some(max)) = (take && room, outbox.requests.len() > 1, max) {
        // The usual case: everything fits; one encoding instead of one per command.
        let (mark, before) = (next_id, msg.body.commands.len());
        let fits_obj = |r: &Request| match (max_obj, chunkable(&r.op)) {
            (Some(limit), Some((_, v))) => data_len(&v.data) as u64 <= limit,
            _ => true,
        };
        if outbox.requests.iter().all(fits_obj) {
            let mut parts = Vec::with_capacity(outbox.requests.len());
            for r in &outbox.requests {
                let mut p = Vec::new();
                msg.body.commands.push(build(&r.op, &mut next_id, &mut p));
                parts.push(p);
            }
            msg.body.r#final = true;
            let candidate = encode(&msg, media)?;
            if candidate.len() <= max {
                for (r, p) in outbox.requests.drain(..).zip(parts) {
                    packed.sent.push(InFlight::new(r, msg_id.clone(), p));
                }
                bytes = Some((candidate, true));
            } else {
                msg.body.commands.truncate(before);
                next_id = mark;
            }
        }
    }
    while let Some(request) = if take && room { outbox.requests.pop_front() } else { None } {
        if let (Some(limit), Some((_, v))) = (max_obj, chunkable(&request.op)) {
            if data_len(&v.data) as u64 > limit {
                packed.too_large.push(request.handle);
                continue;
            }
        }
        let mark = next_id;
        let mut parts = Vec::new();
        msg.body.commands.push(build(&request.op, &mut next_id, &mut parts));
        if let Some(max) = max {
            msg.body.r#final = true;
            let candidate = encode(&msg, media)?;
            if candidate.len() > max {
                msg.body.commands.pop();
                next_id = mark;
                let alone = packed.sent.is_empty() && packed.chunk.is_none();
                if alone && chunkable(&request.op).is_some() {
                    // It goes out as a large object, starting here.
                    let object = OutgoingObject { request, sent: 0 };
                    room = put_chunk(&mut msg, &mut next_id, object, max, media, outbox, &mut packed, &mut bytes)?;
                    continue;
                } else if alone {
                    // Alone it does not fit either: it can never be sent in this session.
                    packed.too_large.push(request.handle);
                    continue;
                }
                outbox.requests.push_front(request);
                break;
            }
            bytes = Some((candidate, true));
        }
        packed.sent.push(InFlight::new(request, msg_id.clone(), parts));
    }
    let more = take && !outbox.is_empty();
    msg.body.r#final = !more;
    packed.bytes = match bytes {
        // The last size check encoded exactly this message.
        Some((b, was_final)) if was_final == msg.body.r#final => b,
        _ => encode(&msg, media)?,
    };
    Ok(packed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::request::{Op, Value};

    fn hdr() -> SyncHdr {
        SyncHdr {
            ver_dtd: "1.2".into(),
            ver_proto: "DM/1.2".into(),
            session_id: "1".into(),
            msg_id: "2".into(),
            target: Location::uri("IMEI:1"),
            source: Location::uri("http://dm"),
            resp_uri: None,
            no_resp: false,
            cred: None,
            meta: None,
        }
    }

    #[test]
    fn slices_clamp_and_respect_characters() {
        let t = Data::Text("aé€b".into());
        assert_eq!(slice(&t, 0, 2), Data::Text("a".into()), "é is two bytes");
        assert_eq!(slice(&t, 1, 100), Data::Text("é€b".into()));
        assert_eq!(slice(&t, 9, 5), Data::Text(String::new()));
        assert_eq!(slice(&Data::Opaque(vec![1, 2, 3]), 2, 10), Data::Opaque(vec![3]));
    }

    #[test]
    fn splits_under_max_msg_size_and_chunks_what_never_fits() {
        let mut outbox = Outbox {
            requests: (0..10)
                .map(|i| {
                    Request::new(RequestHandle(i), Op::Replace { uri: format!("./N{i}"), value: Value::text("x") })
                })
                .collect(),
            object: None,
        };
        let big =
            Request::new(RequestHandle(99), Op::Replace { uri: "./Big".into(), value: Value::text("y".repeat(2000)) });
        outbox.requests.insert(3, big);
        let huge_get = Request::new(RequestHandle(98), Op::Get { uri: "z".repeat(2000) });
        outbox.requests.insert(5, huge_get);
        let (mut seen, mut chunks, mut data) = (Vec::new(), 0, String::new());
        for _ in 0..40 {
            let p =
                pack(hdr(), vec![], &Alerts::default(), &mut outbox, true, Some(900), None, MediaType::DmXml).unwrap();
            assert!(p.bytes.len() <= 900, "{} bytes", p.bytes.len());
            let msg = codec::decode("application/vnd.syncml.dm+xml", &p.bytes).unwrap();
            let more = !outbox.is_empty();
            assert_eq!(msg.body.r#final, !more);
            for c in &msg.body.commands {
                if let Command::Replace(r) = c {
                    if r.items[0].target.as_ref().unwrap().loc_uri == "./Big" {
                        chunks += 1;
                        data.push_str(r.items[0].data.as_ref().unwrap().as_text().unwrap());
                        assert_eq!(r.items[0].meta.as_ref().and_then(|m| m.size).is_some(), chunks == 1);
                        assert_eq!(r.items[0].more_data, p.chunk.is_some());
                    }
                }
            }
            seen.extend(p.sent.iter().map(|f| f.request.handle.0));
            seen.extend(p.too_large.iter().map(|h| h.0));
            if !more {
                break;
            }
        }
        assert!(chunks >= 3, "{chunks} chunks");
        assert_eq!(data, "y".repeat(2000));
        seen.sort_unstable();
        assert_eq!(seen, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 98, 99]);
    }
}
