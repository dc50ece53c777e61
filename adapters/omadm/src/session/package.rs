//! Writing one server message: Statuses first, then as many queued commands as the client's
//! `MaxMsgSize` allows (SyncML Representation Protocol 1.2 §5.1.10 `Final`, SyncML
//! Meta-Information 1.2 §5.6 `MaxMsgSize`; OMA DM Protocol 1.2 §6.1 multiple messages in a
//! package). What does not fit stays queued for the next message of the package, which the
//! client asks for with Alert 1222.

use std::collections::VecDeque;

use super::request::{build, InFlight, Request, RequestHandle};
use crate::codec::{self, Alert, CodecError, Command, Item, Location, MediaType, Status, SyncBody, SyncHdr, SyncML};

/// Extra alerts a server message may carry besides its Statuses and commands.
#[derive(Debug, Clone, Default)]
pub(crate) struct Alerts {
    /// Alert 1222: send the next message of your package.
    pub next_message: bool,
    /// Alert 1225 for this node: its large object ended without its last chunk.
    pub no_end_of_data: Option<String>,
}

/// A written message.
#[derive(Debug)]
pub(crate) struct Packed {
    pub bytes: Vec<u8>,
    /// The requests it carries, to match their answers.
    pub sent: Vec<InFlight>,
    /// Requests dropped because one alone exceeds the client's `MaxMsgSize`.
    pub too_large: Vec<RequestHandle>,
}

fn encode(msg: &SyncML, media: MediaType) -> Result<Vec<u8>, CodecError> {
    codec::encode(msg, media.encoding())
}

/// Writes one message. `statuses` are numbered from `CmdID` 1; with `take`, requests come off
/// `outbox` while the message stays within `max` bytes (a request that alone cannot fit is
/// dropped and reported). `Final` is set unless requests remain.
pub(crate) fn pack(
    hdr: SyncHdr,
    statuses: Vec<Status>,
    alerts: &Alerts,
    outbox: &mut VecDeque<Request>,
    take: bool,
    max: Option<usize>,
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
    let (mut sent, mut too_large) = (Vec::new(), Vec::new());
    let mut bytes = None;
    while let Some(request) = if take { outbox.pop_front() } else { None } {
        let mark = next_id;
        let mut parts = Vec::new();
        msg.body.commands.push(build(&request.op, &mut next_id, &mut parts));
        if let Some(max) = max {
            let candidate = encode(&msg, media)?;
            if candidate.len() > max {
                msg.body.commands.pop();
                next_id = mark;
                if sent.is_empty() {
                    // Alone it does not fit either: it can never be sent in this session.
                    too_large.push(request.handle);
                    continue;
                }
                outbox.push_front(request);
                break;
            }
            bytes = Some(candidate);
        }
        sent.push(InFlight { request, msg_id: msg_id.clone(), parts, results: Vec::new(), chunking: false });
    }
    let more = take && !outbox.is_empty();
    msg.body.r#final = !more;
    let bytes = match bytes {
        Some(b) if !more => b,
        _ => encode(&msg, media)?,
    };
    Ok(Packed { bytes, sent, too_large })
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
    fn splits_under_max_msg_size_and_drops_what_never_fits() {
        let mut outbox: VecDeque<Request> = (0..10)
            .map(|i| Request::new(RequestHandle(i), Op::Replace { uri: format!("./N{i}"), value: Value::text("x") }))
            .collect();
        outbox.insert(
            3,
            Request::new(RequestHandle(99), Op::Replace { uri: "./Big".into(), value: Value::text("y".repeat(4000)) }),
        );
        let mut seen = Vec::new();
        for _ in 0..20 {
            let p = pack(hdr(), vec![], &Alerts::default(), &mut outbox, true, Some(900), MediaType::DmXml).unwrap();
            assert!(p.bytes.len() <= 900, "{} bytes", p.bytes.len());
            let msg = codec::decode("application/vnd.syncml.dm+xml", &p.bytes).unwrap();
            let more = !outbox.is_empty();
            assert_eq!(msg.body.r#final, !more);
            seen.extend(p.sent.iter().map(|f| f.request.handle.0));
            if p.too_large.contains(&RequestHandle(99)) {
                seen.push(99);
            }
            if !more {
                break;
            }
        }
        assert_eq!(seen.len(), 11);
        assert!(outbox.is_empty());
    }
}
