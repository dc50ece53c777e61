//! Whole DM sessions against the sans-I/O engine, driven by hand-built client messages on a
//! simulated clock (a `Duration` since an arbitrary epoch), in XML and WBXML: packages, requests
//! and their outcomes, multiple messages, large objects, bad input, and a property test.

mod common;
mod dm_client;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use proptest::prelude::*;
use unidm_omadm::auth;
use unidm_omadm::codec::{self, Alert, Command, Data, Exec, Item, Location, Meta, Status, SyncML};
use unidm_omadm::package0::Notification;
use unidm_omadm::session::{
    ClientAuth, CloseReason, Credentials, GenericAlert, Initiator, Op, Request, RequestHandle, SessionConfig,
    SessionError, SessionEvent, Value,
};

use dm_client::*;

fn client_initiated_get_and_results(content_type: &'static str) {
    let config = SessionConfig { resp_uri: Some("https://dm.example/dm".into()), ..SessionConfig::default() };
    let mut s = session(config, store());
    let mut c = Client::new(content_type, "1").md5("dev", "client-secret", b"nonce-0");
    let p2 = open_md5(&mut s, &mut c, Alert::CLIENT_INITIATED, vec![get(7, "./DevDetail/FwV")]);
    assert_eq!(s.initiator(), Some(Initiator::Client));
    // Package 2: 212 with a fresh nonce, Alert and Replace answered, the Get, Final, RespURI.
    assert_eq!(hdr_status(&p2).code, 212);
    assert_eq!(hdr_status(&p2).msg_ref.as_deref(), Some("1"));
    assert_eq!(hdr_status(&p2).cmd_ref, "0");
    assert_eq!(status_of(&p2, "Alert"), [200]);
    assert_eq!(status_of(&p2, "Replace"), [200]);
    assert!(p2.body.r#final);
    assert_eq!(p2.hdr.session_id, "1");
    assert_eq!(p2.hdr.msg_id, "1");
    assert_eq!(p2.hdr.target.loc_uri, DEV);
    assert_eq!(p2.hdr.source.loc_uri, SERVER_URI);
    let token = s.route_token().unwrap();
    assert_eq!(p2.hdr.resp_uri, Some(format!("https://dm.example/dm?s={token}")));
    assert_eq!(token, "1.IMEI%3A493005100592800");
    let get_id = first_cmd_id(&p2, "Get");

    // Package 3: the Get's Status and Results.
    let meta = Meta { format: Some("chr".into()), ..Meta::default() };
    let (p4, reply) = c.send(
        &mut s,
        t(1),
        vec![
            status(1, "1", "0", "SyncHdr", 200),
            status(2, "1", &get_id, "Get", 200),
            res(3, "1", &get_id, "./DevDetail/FwV", Data::Text("2.0.1".into()), Some(meta), false),
        ],
        true,
    );
    let ev = events(&mut s);
    let SessionEvent::Response { request, status, results, parts } = &ev[0] else { panic!("{ev:?}") };
    assert_eq!((*request, *status, parts.len()), (RequestHandle(7), 200, 0));
    assert_eq!(results[0].source.as_ref().unwrap().loc_uri, "./DevDetail/FwV");
    assert_eq!(results[0].data, Some(Data::Text("2.0.1".into())));
    // Package 4: nothing left, only Status and Final: the session ends.
    assert!(reply.ends_session);
    assert!(p4.body.r#final);
    assert!(commands(&p4).is_empty());
    assert_eq!(hdr_status(&p4).code, 200);
    assert_eq!(ev.last(), Some(&SessionEvent::Closed(CloseReason::Completed)));
    assert!(s.is_closed());
    assert_eq!(s.handle_message(t(2), content_type, b"x"), Err(SessionError::Closed));
}

#[test]
fn client_initiated_session_with_get_and_results_xml() {
    client_initiated_get_and_results(XML);
}

#[test]
fn client_initiated_session_with_get_and_results_wbxml() {
    client_initiated_get_and_results(WBXML);
}

#[test]
fn server_initiated_session_takes_the_package0_session_id() {
    // The Package 0 that asked for the session, and the SessionID it makes.
    let notification = Notification::new(0x1A2B, "srv");
    assert_eq!(notification.session_id_text(), "1A2B");
    let config = SessionConfig { notified_session_id: Some(notification.session_id), ..SessionConfig::default() };
    for sid in [notification.session_id_text().as_str(), "1a2b", "2B1A"] {
        let mut s = session(config.clone(), store());
        let mut c = Client::new(WBXML, sid).md5("dev", "client-secret", b"nonce-0");
        let p2 = open_md5(&mut s, &mut c, Alert::SERVER_INITIATED, vec![]);
        assert_eq!(p2.hdr.session_id, sid.trim());
        assert_eq!(s.initiator(), Some(Initiator::Server));
    }
    let mut s = session(config, store());
    let mut c = Client::new(XML, "1A2C").md5("dev", "client-secret", b"nonce-0");
    let msg = c.message(package1(Alert::SERVER_INITIATED), true);
    let err = s.handle_message(t(0), XML, &c.encode(&msg)).unwrap_err();
    assert!(matches!(err, SessionError::WrongSession { .. }), "{err:?}");
}

#[test]
fn exec_with_correlator_then_generic_alert_in_a_later_session() {
    let mut s = session(SessionConfig::default(), store());
    let mut c = Client::new(XML, "3").md5("dev", "client-secret", b"nonce-0");
    let exec = Request::new(
        RequestHandle(1),
        Op::Exec { uri: "./FUMO/fw/DownloadAndUpdate".into(), data: None, correlator: Some("op-42".into()) },
    );
    let p2 = open_md5(&mut s, &mut c, Alert::CLIENT_INITIATED, vec![exec]);
    let Some(Command::Exec(Exec { correlator, cmd_id, .. })) = commands(&p2).first().copied() else { panic!() };
    assert_eq!(correlator.as_deref(), Some("op-42"));
    let (_, reply) =
        c.send(&mut s, t(1), vec![status(1, "1", "0", "SyncHdr", 200), status(2, "1", cmd_id, "Exec", 202)], true);
    assert!(reply.ends_session);
    let ev = events(&mut s);
    assert_eq!(
        ev[0],
        SessionEvent::Response { request: RequestHandle(1), status: 202, results: vec![], parts: vec![] }
    );

    // Later: the client opens a session to report the outcome, with the nonce session 1 gave.
    let store2 = Store { client_nonce: Some(vec![0xA5, 1, 0x5A, 1]), ..store() };
    let mut s2 = session(SessionConfig::default(), store2);
    let mut c2 = Client::new(WBXML, "4").md5("dev", "client-secret", &[0xA5, 1, 0x5A, 1]);
    let generic = Command::Alert(Alert {
        cmd_id: "2".into(),
        code: Some(Alert::GENERIC_ALERT),
        correlator: Some("op-42".into()),
        items: vec![Item {
            source: Some(Location::uri("./FUMO/fw")),
            meta: Some(Meta {
                r#type: Some("org.openmobilealliance.dm.firmwareupdate.downloadandupdate".into()),
                format: Some("int".into()),
                mark: Some("critical".into()),
                ..Meta::default()
            }),
            data: Some(Data::Text("200".into())),
            ..Item::default()
        }],
        ..Alert::default()
    });
    let (p2, _) = c2.send(&mut s2, t(10), vec![alert(1, Alert::CLIENT_INITIATED), generic, devinfo(3)], true);
    assert_eq!(status_of(&p2, "Alert"), [200, 200]);
    let ev = events(&mut s2);
    let ga = ev.iter().find_map(|e| if let SessionEvent::GenericAlert(g) = e { Some(g.clone()) } else { None });
    assert_eq!(
        ga,
        Some(GenericAlert {
            correlator: Some("op-42".into()),
            source: Some("./FUMO/fw".into()),
            target: None,
            r#type: Some("org.openmobilealliance.dm.firmwareupdate.downloadandupdate".into()),
            format: Some("int".into()),
            mark: Some("critical".into()),
            data: Some(Data::Text("200".into())),
        })
    );
}

#[test]
fn multi_message_packages_both_ways_with_a_small_max_msg_size() {
    let mut s = session(SessionConfig { client_auth: ClientAuth::None, ..SessionConfig::default() }, store());
    let mut c = Client::new(XML, "5");
    c.max_msg_size = Some(1100);
    let p1 = c.message(package1(Alert::CLIENT_INITIATED), true);
    s.handle_message(t(0), XML, &c.encode(&p1)).unwrap();
    for i in 0..12 {
        s.enqueue(Request::new(
            RequestHandle(i),
            Op::Replace { uri: format!("./Vendor/Setting{i}"), value: Value::text(format!("value number {i}")) },
        ))
        .unwrap();
    }
    let (mut msg, mut reply) = c.take_reply(&mut s);
    let mut sent = 0;
    let mut messages = 0;
    loop {
        messages += 1;
        assert!(reply.body.len() <= 1100, "message of {} bytes", reply.body.len());
        let ids: Vec<String> = commands(&msg).iter().filter_map(|c| c.cmd_id().map(str::to_owned)).collect();
        sent += ids.len();
        let mut answer = vec![status(1, &msg.hdr.msg_id, "0", "SyncHdr", 200)];
        for (n, id) in ids.iter().enumerate() {
            answer.push(status(n as u32 + 2, &msg.hdr.msg_id, id, "Replace", 200));
        }
        if msg.body.r#final {
            (msg, reply) = c.send(&mut s, t(messages), answer, true);
            break;
        }
        answer.push(alert(90, Alert::NEXT_MESSAGE));
        (msg, reply) = c.send(&mut s, t(messages), answer, true);
    }
    assert!(messages > 2, "split into {messages} messages");
    assert_eq!(sent, 12);
    let ev = events(&mut s);
    let answered = ev.iter().filter(|e| matches!(e, SessionEvent::Response { status: 200, .. })).count();
    assert_eq!(answered, 12, "{ev:?}");
    assert!(reply.ends_session);
    let _ = msg;

    // The client's package in two messages: the server asks for the next with Alert 1222.
    let mut s = session(SessionConfig { client_auth: ClientAuth::None, ..SessionConfig::default() }, store());
    let mut c = Client::new(WBXML, "6");
    let (p, _) = c.send(&mut s, t(0), vec![alert(1, Alert::CLIENT_INITIATED)], false);
    assert_eq!(alerts(&p), [Alert::NEXT_MESSAGE]);
    assert_eq!(status_of(&p, "Alert"), [200]);
    assert!(events(&mut s).is_empty(), "Package 1 is not over yet");
    s.enqueue(get(1, "./DevInfo/Mod")).unwrap();
    let (p, _) = c.send(&mut s, t(1), vec![devinfo(1)], true);
    assert_eq!(status_of(&p, "Replace"), [200]);
    assert_eq!(commands(&p).len(), 1, "the Get");
    assert!(events(&mut s).iter().any(|e| matches!(e, SessionEvent::DeviceInfo { .. })));
}

#[test]
fn chunked_results_are_assembled_and_checked() {
    let config = SessionConfig { client_auth: ClientAuth::None, max_obj_size: 64, ..SessionConfig::default() };
    let mut s = session(config, store());
    let mut c = Client::new(XML, "7");
    let p1 = c.message(package1(Alert::CLIENT_INITIATED), true);
    s.handle_message(t(0), XML, &c.encode(&p1)).unwrap();
    s.enqueue(get(1, "./Big")).unwrap();
    s.enqueue(get(2, "./Bad")).unwrap();
    let (p2, _) = c.take_reply(&mut s);
    events(&mut s);
    let ids: Vec<String> = commands(&p2).iter().map(|c| c.cmd_id().unwrap().to_owned()).collect();
    let size = Meta { size: Some(10), ..Meta::default() };
    let hs = status(1, "1", "0", "SyncHdr", 200);
    let (p, _) = c.send(
        &mut s,
        t(1),
        vec![
            hs.clone(),
            status(2, "1", &ids[0], "Get", 200),
            status(3, "1", &ids[1], "Get", 200),
            res(4, "1", &ids[0], "./Big", Data::Text("0123".into()), Some(size.clone()), true),
        ],
        false,
    );
    assert_eq!(status_of(&p, "Results"), [213]);
    assert_eq!(alerts(&p), [Alert::NEXT_MESSAGE]);
    let (p, _) =
        c.send(&mut s, t(2), vec![res(1, "1", &ids[0], "./Big", Data::Text("4567".into()), None, true)], false);
    assert_eq!(status_of(&p, "Results"), [213]);
    let (p, _) = c.send(
        &mut s,
        t(3),
        vec![
            res(1, "1", &ids[0], "./Big", Data::Text("89".into()), None, false),
            res(2, "1", &ids[1], "./Bad", Data::Text("abc".into()), Some(size), true),
        ],
        false,
    );
    assert_eq!(status_of(&p, "Results"), [200, 213]);
    let ev = events(&mut s);
    let SessionEvent::Response { request: RequestHandle(1), results, .. } = &ev[0] else { panic!("{ev:?}") };
    assert_eq!(results[0].data, Some(Data::Text("0123456789".into())));
    assert!(!results[0].more_data);
    // The second object ends short of its announced Size: 424.
    let (p, _) = c.send(&mut s, t(4), vec![res(1, "1", &ids[1], "./Bad", Data::Text("d".into()), None, false)], true);
    assert_eq!(status_of(&p, "Results"), [424]);
    assert!(events(&mut s)
        .iter()
        .any(|e| matches!(e, SessionEvent::Response { request: RequestHandle(2), results, .. } if results.is_empty())));

    // An object larger than MaxObjSize is refused (413); one interrupted gets Alert 1225.
    let mut s =
        session(SessionConfig { client_auth: ClientAuth::None, max_obj_size: 64, ..SessionConfig::default() }, store());
    let mut c = Client::new(WBXML, "8");
    let p1 = c.message(package1(Alert::CLIENT_INITIATED), true);
    s.handle_message(t(0), WBXML, &c.encode(&p1)).unwrap();
    s.enqueue(get(1, "./A")).unwrap();
    s.enqueue(get(2, "./B")).unwrap();
    let (p2, _) = c.take_reply(&mut s);
    let ids: Vec<String> = commands(&p2).iter().map(|c| c.cmd_id().unwrap().to_owned()).collect();
    let huge = Meta { size: Some(1000), ..Meta::default() };
    let (p, _) = c.send(
        &mut s,
        t(1),
        vec![
            res(1, "1", &ids[0], "./A", Data::Text("x".into()), Some(huge), true),
            res(2, "1", &ids[1], "./B", Data::Opaque(vec![1, 2]), None, true),
        ],
        false,
    );
    assert_eq!(status_of(&p, "Results"), [413, 213]);
    let (p, _) = c.send(&mut s, t(2), vec![status(1, "1", &ids[0], "Get", 200)], true);
    assert_eq!(alerts(&p), [Alert::NO_END_OF_DATA]);
}

#[test]
fn atomic_and_sequence_report_their_parts() {
    let mut s = session(SessionConfig { client_auth: ClientAuth::None, ..SessionConfig::default() }, store());
    let mut c = Client::new(XML, "17");
    let p1 = c.message(package1(Alert::CLIENT_INITIATED), true);
    s.handle_message(t(0), XML, &c.encode(&p1)).unwrap();
    s.enqueue(Request::new(
        RequestHandle(5),
        Op::Atomic(vec![
            Op::Add { uri: "./Vendor/X".into(), value: Some(Value::text("1").with_format("int")) },
            Op::Copy { target: "./Vendor/Y".into(), source: "./Vendor/X".into() },
            Op::Sequence(vec![Op::Get { uri: "./Vendor/Y".into() }, Op::Delete { uri: "./Vendor/X".into() }]),
        ]),
    ))
    .unwrap();
    let (p2, _) = c.take_reply(&mut s);
    let Command::Atomic(a) = commands(&p2)[0] else { panic!() };
    assert_eq!(a.commands.len(), 3);
    events(&mut s);
    let m = &p2.hdr.msg_id;
    let id = |k: u32| (a.cmd_id.parse::<u32>().unwrap() + k).to_string();
    let (_, reply) = c.send(
        &mut s,
        t(1),
        vec![
            status(1, m, "0", "SyncHdr", 200),
            status(2, m, &id(0), "Atomic", 200),
            status(3, m, &id(1), "Add", 200),
            status(4, m, &id(2), "Copy", 200),
            status(5, m, &id(3), "Sequence", 200),
            status(6, m, &id(4), "Get", 200),
            res(7, m, &id(4), "./Vendor/Y", Data::Text("1".into()), None, false),
            status(8, m, &id(5), "Delete", 200),
        ],
        true,
    );
    assert!(reply.ends_session);
    let ev = events(&mut s);
    let SessionEvent::Response { request, status, results, parts } = &ev[0] else { panic!("{ev:?}") };
    assert_eq!((*request, *status), (RequestHandle(5), 200));
    assert_eq!(parts, &[200, 200, 200, 200, 200]);
    assert_eq!(results.len(), 1);
}

#[test]
fn bad_input_gets_a_status_or_a_typed_error() {
    let mut s = session(SessionConfig { client_auth: ClientAuth::None, ..SessionConfig::default() }, store());
    // Garbage, and a media type that is not SyncML.
    assert!(matches!(s.handle_message(t(0), XML, b"\x00\x01garbage"), Err(SessionError::Codec(_))));
    assert!(matches!(s.handle_message(t(0), "text/plain", b"<SyncML/>"), Err(SessionError::Codec(_))));
    let mut c = Client::new(XML, "20");
    let (p, _) = c.send(&mut s, t(0), package1(Alert::CLIENT_INITIATED), true);
    assert_eq!(hdr_status(&p).code, 200);
    assert!(s.is_closed(), "nothing was queued: Package 2 closed the session");
    let mut s = session(SessionConfig { client_auth: ClientAuth::None, ..SessionConfig::default() }, store());
    let mut c = Client::new(WBXML, "21");
    let p1 = c.message(package1(Alert::CLIENT_INITIATED), true);
    s.handle_message(t(0), WBXML, &c.encode(&p1)).unwrap();
    s.enqueue(get(1, "./DevInfo/Mod")).unwrap();
    c.take_reply(&mut s);
    // A message of another session, and of another device.
    let mut other = Client::new(WBXML, "99");
    other.msg_id = 1;
    let m = other.message(vec![], true);
    assert!(matches!(s.handle_message(t(1), WBXML, &other.encode(&m)), Err(SessionError::WrongSession { .. })));
    let mut m = c.message(vec![], true);
    c.msg_id -= 1;
    m.hdr.source.loc_uri = "IMEI:1".into();
    assert!(matches!(s.handle_message(t(1), WBXML, &c.encode(&m)), Err(SessionError::WrongDevice { .. })));
    // MsgID out of order, then repeated: refused with a SyncHdr Status 400.
    c.msg_id += 5;
    let (p, r) = c.send(&mut s, t(2), vec![status(1, "1", "0", "SyncHdr", 200)], true);
    assert_eq!(hdr_status(&p).code, 400);
    assert!(commands(&p).is_empty() && !r.ends_session);
    c.msg_id = 0;
    let (p, _) = c.send(&mut s, t(3), vec![status(1, "1", "0", "SyncHdr", 200)], true);
    assert_eq!(hdr_status(&p).code, 400, "MsgID 1 again");
    // Missing Final without 1222: the server asks for the next message.
    let (p, _) = c.send(&mut s, t(4), vec![status(1, "1", "0", "SyncHdr", 200)], false);
    assert_eq!(alerts(&p), [Alert::NEXT_MESSAGE]);
    // A reply must be polled before the next message.
    let m = c.message(vec![], true);
    s.handle_message(t(5), WBXML, &c.encode(&m)).unwrap();
    assert_eq!(s.handle_message(t(5), WBXML, &c.encode(&m)), Err(SessionError::ReplyPending));
}

#[test]
fn the_session_times_out_and_gives_back_its_requests() {
    let mut s =
        session(SessionConfig { client_auth: ClientAuth::None, timeout: t(30), ..SessionConfig::default() }, store());
    let mut c = Client::new(XML, "22");
    let p1 = c.message(package1(Alert::CLIENT_INITIATED), true);
    s.handle_message(t(0), XML, &c.encode(&p1)).unwrap();
    s.enqueue(get(1, "./A")).unwrap();
    c.take_reply(&mut s);
    s.enqueue(get(2, "./B")).unwrap();
    events(&mut s);
    assert_eq!(s.poll_timeout(), Some(t(30)));
    s.handle_timeout(t(29));
    assert!(!s.is_closed());
    s.handle_timeout(t(30));
    assert_eq!(
        events(&mut s),
        [
            SessionEvent::Abandoned { request: RequestHandle(1), sent: true },
            SessionEvent::Abandoned { request: RequestHandle(2), sent: false },
            SessionEvent::Closed(CloseReason::TimedOut),
        ]
    );
    assert_eq!(s.poll_timeout(), None);
}

#[test]
fn session_abort_ends_the_session() {
    let mut s = session(SessionConfig { client_auth: ClientAuth::None, ..SessionConfig::default() }, store());
    let mut c = Client::new(XML, "23");
    let p1 = c.message(package1(Alert::CLIENT_INITIATED), true);
    s.handle_message(t(0), XML, &c.encode(&p1)).unwrap();
    s.enqueue(get(1, "./A")).unwrap();
    c.take_reply(&mut s);
    let (p, r) = c.send(&mut s, t(1), vec![alert(1, Alert::SESSION_ABORT)], true);
    assert!(r.ends_session);
    assert_eq!(status_of(&p, "Alert"), [200]);
    assert_eq!(events(&mut s).last(), Some(&SessionEvent::Closed(CloseReason::Aborted)));
}

// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
enum Step {
    /// A message of this session with arbitrary commands.
    Message {
        /// `None`: the next MsgID in order.
        msg_id: Option<u64>,
        commands: Vec<Command>,
        r#final: bool,
        wbxml: bool,
    },
    /// Any decodable message.
    Foreign(Box<SyncML>),
    /// Random bytes.
    Garbage(Vec<u8>),
    Enqueue(u64),
    /// A Replace of this many bytes (a large object under a small MaxMsgSize).
    EnqueueLarge(usize),
    /// The client's MaxMsgSize from now on.
    Limit(Option<u64>),
    Tick(u64),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (prop_oneof![3 => Just(None), 1 => (1u64..8).prop_map(Some)], prop::collection::vec(common::command_with(common::data()), 0..5), any::<bool>(), any::<bool>())
            .prop_map(|(msg_id, commands, r#final, wbxml)| Step::Message { msg_id, commands, r#final, wbxml }),
        1 => common::message().prop_map(|m| Step::Foreign(Box::new(m))),
        1 => prop::collection::vec(any::<u8>(), 0..64).prop_map(Step::Garbage),
        1 => (0u64..4).prop_map(Step::Enqueue),
        1 => (0usize..5000).prop_map(Step::EnqueueLarge),
        1 => proptest::option::of(0u64..4000).prop_map(Step::Limit),
        1 => (0u64..100).prop_map(Step::Tick),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_message_sequences_never_panic(steps in prop::collection::vec(step(), 1..12), auth in 0u8..3) {
        let client_auth = [ClientAuth::None, ClientAuth::Md5, ClientAuth::Hmac][auth as usize];
        let st = Store { server: Some(Credentials::new("srv", "pw")), ..store() };
        let mut s = session(SessionConfig { client_auth, max_queued: 4, ..SessionConfig::default() }, st);
        let mut now = 0;
        let mut c = Client::new(XML, "1").md5("dev", "client-secret", b"nonce-0");
        let p1 = c.message(package1(Alert::CLIENT_INITIATED), true);
        let body = c.encode(&p1);
        let mac = auth::hmac_header("dev", "client-secret", b"nonce-0", &body);
        let _ = s.handle_message_with_hmac(t(0), XML, (auth == 2).then_some(mac.as_str()), &body);
        // Something queued keeps the session open past Package 2.
        let _ = s.enqueue(get(0, "./Y"));
        prop_assert!(s.poll_reply().is_some());
        prop_assert!(!s.is_closed());
        for step in steps {
            let (ct, body) = match step {
                Step::Message { msg_id, commands, r#final, wbxml } => {
                    if let Some(id) = msg_id {
                        c.msg_id = id - 1;
                    }
                    c.content_type = if wbxml { WBXML } else { XML };
                    let m = c.message(commands, r#final);
                    match codec::encode(&m, codec::MediaType::parse(c.content_type).unwrap().encoding()) {
                        Ok(b) => (c.content_type, b),
                        Err(_) => continue,
                    }
                }
                Step::Foreign(m) => (XML, codec::encode(&m, codec::Encoding::Xml).unwrap()),
                Step::Garbage(b) => (WBXML, b),
                Step::Enqueue(h) => {
                    let _ = s.enqueue(get(h, "./X"));
                    continue;
                }
                Step::EnqueueLarge(n) => {
                    let value = Value::text("é".repeat(n / 2));
                    let _ = s.enqueue(Request::new(RequestHandle(100), Op::Replace { uri: "./L".into(), value }));
                    continue;
                }
                Step::Limit(max) => {
                    c.max_msg_size = max;
                    continue;
                }
                Step::Tick(d) => {
                    now += d;
                    s.handle_timeout(t(now));
                    continue;
                }
            };
            let mac = (auth == 2).then_some("username=\"dev\", mac=AAAA");
            let _ = s.handle_message_with_hmac(t(now), ct, mac, &body);
            if let Some(reply) = s.poll_reply() {
                prop_assert!(codec::decode(reply.content_type.as_str(), &reply.body).is_ok());
                if let Some(max) = c.max_msg_size.filter(|&m| m >= 2000) {
                    // Large enough for any header and Status this test writes.
                    prop_assert!(reply.body.len() as u64 <= max, "{} > {}", reply.body.len(), max);
                }
            }
            while s.poll_event().is_some() {}
        }
    }
}

#[test]
fn a_value_larger_than_max_msg_size_goes_out_in_chunks() {
    let pkg: Vec<u8> = (0..3000u32).map(|i| (i % 251) as u8).collect();
    for (content_type, refuse) in [(WBXML, false), (XML, true)] {
        let mut s = session(SessionConfig { client_auth: ClientAuth::None, ..SessionConfig::default() }, store());
        let mut c = Client::new(content_type, "30");
        c.max_msg_size = Some(1000);
        let p1 = c.message(package1(Alert::CLIENT_INITIATED), true);
        s.handle_message(t(0), content_type, &c.encode(&p1)).unwrap();
        let data = if content_type == WBXML { Data::Opaque(pkg.clone()) } else { Data::Text(B64.encode(&pkg)) };
        let format = if content_type == WBXML { "bin" } else { "b64" };
        s.enqueue(Request::new(
            RequestHandle(1),
            Op::Replace {
                uri: "./FUMO/fw/Update/PkgData".into(),
                value: Value { data, format: Some(format.into()), r#type: Some("application/octet-stream".into()) },
            },
        ))
        .unwrap();
        s.enqueue(get(2, "./FUMO/fw/State")).unwrap();
        events(&mut s);
        let (mut msg, mut reply) = c.take_reply(&mut s);
        let (mut bytes, mut chunks) = (Vec::new(), 0);
        let outcome = loop {
            assert!(reply.body.len() <= 1000);
            let Some(Command::Replace(r)) = commands(&msg).first().copied() else { panic!("a chunk first") };
            let item = &r.items[0];
            chunks += 1;
            if chunks == 1 {
                assert_eq!(
                    item.meta.as_ref().and_then(|m| m.size),
                    Some(if content_type == WBXML { 3000 } else { 4000 })
                );
                assert_eq!(item.meta.as_ref().and_then(|m| m.format.as_deref()), Some(format));
            } else {
                assert_eq!(item.meta.as_ref().and_then(|m| m.size), None, "Size only on the first chunk");
            }
            match item.data.as_ref().unwrap() {
                Data::Opaque(b) => bytes.extend_from_slice(b),
                Data::Text(t) => bytes.extend_from_slice(t.as_bytes()),
                Data::Markup(_) => panic!(),
            }
            let m = msg.hdr.msg_id.clone();
            if item.more_data {
                assert!(!msg.body.r#final);
                assert_eq!(commands(&msg).len(), 1, "nothing else travels with a chunk");
                let code = if refuse && chunks == 2 { 413 } else { 213 };
                let answer =
                    vec![status(1, &m, "0", "SyncHdr", 200), status(2, &m, &r.cmd_id, "Replace", code), alert(3, 1222)];
                (msg, reply) = c.send(&mut s, t(chunks), answer, true);
                if code == 413 {
                    break events(&mut s);
                }
                continue;
            }
            // The last chunk, then the Get in the same message.
            let id = first_cmd_id(&msg, "Get");
            let answer = vec![
                status(1, &m, "0", "SyncHdr", 200),
                status(2, &m, &r.cmd_id, "Replace", 200),
                status(3, &m, &id, "Get", 200),
                res(4, &m, &id, "./FUMO/fw/State", Data::Text("50".into()), None, false),
            ];
            (msg, reply) = c.send(&mut s, t(chunks), answer, true);
            assert!(reply.ends_session);
            break events(&mut s);
        };
        if refuse {
            assert_eq!(chunks, 2);
            assert!(outcome.contains(&SessionEvent::Response {
                request: RequestHandle(1),
                status: 413,
                results: vec![],
                parts: vec![]
            }));
            // The Get still goes out.
            assert_eq!(commands(&msg).iter().filter(|c| c.name() == "Get").count(), 1, "{msg:?}");
        } else {
            assert!(chunks >= 4, "{chunks} chunks");
            assert_eq!(bytes, pkg);
            assert!(outcome.contains(&SessionEvent::Response {
                request: RequestHandle(1),
                status: 200,
                results: vec![],
                parts: vec![]
            }));
            assert!(outcome
                .iter()
                .any(|e| matches!(e, SessionEvent::Response { request: RequestHandle(2), status: 200, .. })));
        }
    }
}

#[test]
fn results_without_a_status_are_taken_as_200() {
    let mut s = session(SessionConfig { client_auth: ClientAuth::None, ..SessionConfig::default() }, store());
    let mut c = Client::new(XML, "31");
    let p1 = c.message(package1(Alert::CLIENT_INITIATED), true);
    s.handle_message(t(0), XML, &c.encode(&p1)).unwrap();
    s.enqueue(get(1, "./DevInfo/Lang")).unwrap();
    s.enqueue(get(2, "./DevInfo/Mod")).unwrap();
    let (p2, _) = c.take_reply(&mut s);
    events(&mut s);
    let id = first_cmd_id(&p2, "Get");
    let m = p2.hdr.msg_id.clone();
    let (_, reply) = c.send(
        &mut s,
        t(1),
        vec![
            status(1, &m, "0", "SyncHdr", 200),
            res(2, &m, &id, "./DevInfo/Lang", Data::Text("en".into()), None, false),
        ],
        true,
    );
    assert!(reply.ends_session);
    let ev = events(&mut s);
    assert!(
        matches!(&ev[0], SessionEvent::Response { request: RequestHandle(1), status: 200, results, .. } if results.len() == 1)
    );
    assert_eq!(ev[1], SessionEvent::Abandoned { request: RequestHandle(2), sent: true }, "no answer at all");
}

#[test]
fn user_interaction_and_older_protocol_versions() {
    for (version, content_type) in [(("1.1", "DM/1.1"), WBXML), (("1.2", "DM/1.3"), XML)] {
        let mut s = session(SessionConfig { client_auth: ClientAuth::None, ..SessionConfig::default() }, store());
        let mut c = Client::new(content_type, "32");
        c.version = version;
        let p1 = c.message(package1(Alert::CLIENT_INITIATED), true);
        s.handle_message(t(0), content_type, &c.encode(&p1)).unwrap();
        let ask = Op::UserInteraction { code: 1102, items: vec!["MINDT=30&MAXLEN=4".into(), "PIN?".into()] };
        s.enqueue(Request::new(RequestHandle(1), ask)).unwrap();
        let (p2, _) = c.take_reply(&mut s);
        assert_eq!((p2.hdr.ver_dtd.as_str(), p2.hdr.ver_proto.as_str()), version, "the client's version");
        assert_eq!(p2.version().ver_dtd(), version.0);
        let Some(Command::Alert(a)) = commands(&p2).first().copied() else { panic!("{p2:?}") };
        assert_eq!((a.code, a.items.len()), (Some(1102), 2));
        let answer = Command::Status(Status {
            cmd_id: "2".into(),
            msg_ref: Some(p2.hdr.msg_id.clone()),
            cmd_ref: a.cmd_id.clone(),
            cmd: "Alert".into(),
            code: 200,
            items: vec![Item { data: Some(Data::Text("1234".into())), ..Item::default() }],
            ..Status::default()
        });
        let (_, reply) = c.send(&mut s, t(1), vec![status(1, &p2.hdr.msg_id, "0", "SyncHdr", 200), answer], true);
        assert!(reply.ends_session);
        let ev = events(&mut s);
        let SessionEvent::Response { status: 200, results, .. } = &ev[2] else { panic!("{ev:?}") };
        assert_eq!(results[0].data, Some(Data::Text("1234".into())));
    }
    let mut s = session(SessionConfig::default(), store());
    let not_ui = Request::new(RequestHandle(1), Op::UserInteraction { code: 1201, items: vec![] });
    assert!(matches!(s.enqueue(not_ui), Err(SessionError::InvalidRequest(_))));
}
