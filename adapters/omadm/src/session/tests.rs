//! Unit tests of the session engine's rules; whole sessions are in `tests/session.rs`.

use super::*;
use crate::codec::{Data, Encoding, Item, ItemCommand};

struct Open;
impl CredentialStore for Open {
    fn client_credentials(&self, _: &str, _: Option<&str>) -> Option<Credentials> {
        None
    }
    fn server_credentials(&self, _: &str) -> Option<Credentials> {
        None
    }
    fn client_nonce(&self, _: &str) -> Option<Vec<u8>> {
        None
    }
    fn server_nonce(&self, _: &str) -> Option<Vec<u8>> {
        None
    }
}

const XML: &str = "application/vnd.syncml.dm+xml";

fn open_session(config: SessionConfig) -> DmSession {
    DmSession::new(
        SessionConfig { client_auth: ClientAuth::None, ..config },
        Arc::new(Open),
        Box::new(|| vec![7; 16]),
        Duration::ZERO,
    )
}

fn message(msg_id: u32, commands: Vec<Command>, r#final: bool) -> Vec<u8> {
    let msg = SyncML {
        hdr: SyncHdr {
            ver_dtd: "1.2".into(),
            ver_proto: "DM/1.3".into(),
            session_id: "A1".into(),
            msg_id: msg_id.to_string(),
            target: Location::uri("http://dm/x"),
            source: Location::uri("IMEI:1/2"),
            resp_uri: None,
            no_resp: false,
            cred: None,
            meta: None,
        },
        body: codec::SyncBody { commands, r#final },
    };
    codec::encode(&msg, Encoding::Xml).unwrap()
}

fn alert(cmd_id: &str, code: Option<u16>) -> Command {
    Command::Alert(Alert { cmd_id: cmd_id.into(), code, ..Alert::default() })
}

fn reply(s: &mut DmSession) -> SyncML {
    codec::decode(XML, &s.poll_reply().expect("reply").body).unwrap()
}

fn codes(msg: &SyncML) -> Vec<(String, u16)> {
    msg.body
        .commands
        .iter()
        .filter_map(|c| if let Command::Status(s) = c { Some((s.cmd.clone(), s.code)) } else { None })
        .collect()
}

#[test]
fn tokens_and_session_ids() {
    assert_eq!(url_token("IMEI:1/2 x"), "IMEI%3A1%2F2%20x");
    assert!(same_session_id("1A2B", 0x1A2B));
    assert!(same_session_id("1a2b", 0x1A2B));
    assert!(same_session_id("01A2B", 0x1A2B));
    assert!(same_session_id("2B1A", 0x1A2B), "byte-swapped by some clients");
    assert!(!same_session_id("1A2C", 0x1A2B));
    assert!(!same_session_id("zz", 0x1A2B));
    assert!(!same_session_id("11A2B", 0x1A2B), "more than 16 bits");
}

#[test]
fn replies_echo_the_version_and_carry_resp_uri_and_limits() {
    let mut s = open_session(SessionConfig { resp_uri: Some("http://dm/x?k=1".into()), ..SessionConfig::default() });
    s.handle_message(Duration::ZERO, XML, &message(1, vec![alert("1", Some(Alert::CLIENT_INITIATED))], true)).unwrap();
    s.enqueue(Request::new(RequestHandle(1), Op::Get { uri: "./DevInfo/Mod".into() })).unwrap();
    let r = reply(&mut s);
    assert_eq!(r.hdr.ver_proto, "DM/1.3", "VerProto as the client speaks");
    assert_eq!(r.hdr.resp_uri.as_deref(), Some("http://dm/x?k=1&s=A1.IMEI%3A1%2F2"));
    let meta = r.hdr.meta.unwrap();
    assert_eq!((meta.max_msg_size, meta.max_obj_size), (Some(64 * 1024), Some(1024 * 1024)));
    assert_eq!(s.session_id(), Some("A1"));
    assert_eq!(s.dev_id(), Some("IMEI:1/2"));
}

#[test]
fn enqueue_is_bounded_and_checked() {
    let mut s = open_session(SessionConfig { max_queued: 2, ..SessionConfig::default() });
    let get = |h| Request::new(RequestHandle(h), Op::Get { uri: "./A".into() });
    s.enqueue(get(1)).unwrap();
    s.enqueue(get(2)).unwrap();
    assert_eq!(s.enqueue(get(3)), Err(SessionError::QueueFull(2)));
    let empty = Request::new(RequestHandle(4), Op::Sequence(vec![]));
    assert!(matches!(s.enqueue(empty), Err(SessionError::InvalidRequest(_))));
}

#[test]
fn the_first_message_must_be_a_package_1() {
    let mut s = open_session(SessionConfig::default());
    let err = s.handle_message(Duration::ZERO, XML, &message(1, vec![alert("1", Some(1226))], true));
    assert!(matches!(err, Err(SessionError::NotPackage1(_))));
    assert!(s.is_closed());
    assert_eq!(s.poll_event(), Some(SessionEvent::Closed(CloseReason::ProtocolErrors)));
    assert_eq!(s.enqueue(Request::new(RequestHandle(1), Op::Get { uri: "./A".into() })), Err(SessionError::Closed));
}

#[test]
fn undecodable_messages_are_bounded() {
    let mut s = open_session(SessionConfig { max_protocol_errors: 2, ..SessionConfig::default() });
    assert!(matches!(s.handle_message(Duration::ZERO, XML, b"<nope"), Err(SessionError::Codec(_))));
    assert!(!s.is_closed());
    assert!(matches!(s.handle_message(Duration::ZERO, XML, b"<nope"), Err(SessionError::Codec(_))));
    assert!(s.is_closed());
}

#[test]
fn client_commands_other_than_alert_replace_results_status_are_refused() {
    let mut s = open_session(SessionConfig::default());
    let get = Command::Get(ItemCommand { cmd_id: "3".into(), ..ItemCommand::default() });
    let unknown = Command::Unknown(codec::UnknownCommand { name: "Sync".into(), cmd_id: Some("4".into()) });
    let event = Command::Alert(Alert {
        cmd_id: "5".into(),
        code: Some(Alert::CLIENT_EVENT),
        items: vec![Item { data: Some(Data::Text("e".into())), ..Item::default() }],
        ..Alert::default()
    });
    let cmds = vec![alert("1", Some(1201)), alert("2", None), get, unknown, event, alert("6", Some(1101))];
    s.handle_message(Duration::ZERO, XML, &message(1, cmds, true)).unwrap();
    let r = reply(&mut s);
    assert_eq!(
        codes(&r),
        [
            ("SyncHdr".into(), 200),
            ("Alert".into(), 200),
            ("Alert".into(), 412),
            ("Get".into(), 405),
            ("Sync".into(), 406),
            ("Alert".into(), 200),
            ("Alert".into(), 406),
        ]
    );
    let events: Vec<_> = std::iter::from_fn(|| s.poll_event()).collect();
    assert!(events.iter().any(|e| matches!(e, SessionEvent::Alert { code: 1224, items, .. } if items.len() == 1)));
}

#[test]
fn a_request_that_can_never_fit_is_reported() {
    let mut s = open_session(SessionConfig::default());
    let mut p1 = codec::decode(XML, &message(1, vec![alert("1", Some(1201))], true)).unwrap();
    p1.hdr.meta = Some(Meta { max_msg_size: Some(1000), ..Meta::default() });
    s.handle_message(Duration::ZERO, XML, &codec::encode(&p1, Encoding::Xml).unwrap()).unwrap();
    s.enqueue(Request::new(RequestHandle(9), Op::Get { uri: format!("./{}", "x".repeat(2000)) })).unwrap();
    s.enqueue(Request::new(RequestHandle(10), Op::Get { uri: "./A".into() })).unwrap();
    let r = reply(&mut s);
    assert_eq!(r.body.commands.iter().filter(|c| c.name() == "Get").count(), 1);
    let events: Vec<_> = std::iter::from_fn(|| s.poll_event()).collect();
    assert!(events.contains(&SessionEvent::TooLarge(RequestHandle(9))));
}

#[test]
fn values_beyond_the_clients_max_obj_size_are_not_sent() {
    let mut s = open_session(SessionConfig::default());
    let mut p1 = codec::decode(XML, &message(1, vec![alert("1", Some(1201))], true)).unwrap();
    p1.hdr.meta = Some(Meta { max_msg_size: Some(4000), max_obj_size: Some(100), ..Meta::default() });
    s.handle_message(Duration::ZERO, XML, &codec::encode(&p1, Encoding::Xml).unwrap()).unwrap();
    let big = Op::Replace { uri: "./Big".into(), value: Value::text("x".repeat(101)) };
    s.enqueue(Request::new(RequestHandle(1), big)).unwrap();
    let small = Op::Replace { uri: "./Small".into(), value: Value::text("x".repeat(100)) };
    s.enqueue(Request::new(RequestHandle(2), small)).unwrap();
    let r = reply(&mut s);
    let replaced: Vec<_> = r.body.commands.iter().filter(|c| c.name() == "Replace").collect();
    assert_eq!(replaced.len(), 1);
    let events: Vec<_> = std::iter::from_fn(|| s.poll_event()).collect();
    assert!(events.contains(&SessionEvent::TooLarge(RequestHandle(1))));
}
