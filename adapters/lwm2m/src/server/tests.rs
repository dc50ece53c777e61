//! The server state machine on a simulated clock, without sockets.

use super::*;
use coap_lite::RequestType;
use proptest::prelude::*;

fn peer() -> SocketAddr {
    SocketAddr::from(([192, 0, 2, 1], 5683))
}

fn request(mid: u16, kind: MessageType, method: RequestType, path: &[&str], query: &[&str], payload: &[u8]) -> Vec<u8> {
    let mut p = Packet::new();
    p.header.set_type(kind);
    p.header.code = MessageClass::Request(method);
    p.header.message_id = mid;
    p.set_token(vec![mid as u8]);
    for s in path {
        p.add_option(CoapOption::UriPath, s.as_bytes().to_vec());
    }
    for q in query {
        p.add_option(CoapOption::UriQuery, q.as_bytes().to_vec());
    }
    p.payload = payload.to_vec();
    p.to_bytes().unwrap()
}

fn transmits(s: &mut Server) -> Vec<Packet> {
    std::iter::from_fn(|| s.poll_transmit()).map(|t| Packet::from_bytes(&t.bytes).unwrap()).collect()
}

fn events(s: &mut Server) -> Vec<ServerEvent> {
    std::iter::from_fn(|| s.poll_event()).collect()
}

fn code(p: &Packet) -> Option<ResponseType> {
    match p.header.code {
        MessageClass::Response(r) => Some(r),
        _ => None,
    }
}

fn registered(t0: Instant, query: &[&str]) -> (Server, String) {
    let mut s = Server::new(ServerConfig::default(), 7);
    let reg = request(1, MessageType::Confirmable, RequestType::Post, &["rd"], query, b"</3/0>,</5/0>");
    s.handle_datagram(t0, peer(), &reg);
    let out = transmits(&mut s);
    assert_eq!(code(&out[0]), Some(ResponseType::Created));
    let id = String::from_utf8(out[0].get_option(CoapOption::LocationPath).unwrap().back().unwrap().clone()).unwrap();
    events(&mut s);
    (s, id)
}

fn answer(to: &Packet, code: ResponseType, observe: Option<u32>, payload: &[u8]) -> Vec<u8> {
    let mut p = Packet::new();
    p.header.set_type(MessageType::Acknowledgement);
    p.header.message_id = to.header.message_id;
    p.header.code = MessageClass::Response(code);
    p.set_token(to.get_token().to_vec());
    if let Some(o) = observe {
        p.add_option(CoapOption::Observe, encode_uint(o));
    }
    p.add_option(CoapOption::ContentFormat, encode_uint(0));
    p.payload = payload.to_vec();
    p.to_bytes().unwrap()
}

#[test]
fn requests_wait_for_registration_and_go_to_the_registered_address() {
    let t0 = Instant::now();
    let mut s = Server::new(ServerConfig::default(), 7);
    let id = s.request(t0, "dev", DmRequest::new(RequestType::Post, Path::Resource(3, 0, 4)));
    assert!(transmits(&mut s).is_empty());
    assert_eq!(s.queued_len(), 1);
    let reg = request(1, MessageType::Confirmable, RequestType::Post, &["rd"], &["ep=dev"], b"</3/0>");
    s.handle_datagram(t0, peer(), &reg);
    let out = transmits(&mut s);
    assert_eq!(out.len(), 2);
    assert_eq!(out[1].header.code, MessageClass::Request(RequestType::Post));
    let path: Vec<_> = out[1].get_option(CoapOption::UriPath).unwrap().iter().cloned().collect();
    assert_eq!(path, [b"3".to_vec(), b"0".to_vec(), b"4".to_vec()]);
    s.handle_datagram(t0, peer(), &answer(&out[1], ResponseType::Changed, None, b""));
    let ev = events(&mut s);
    assert!(matches!(&ev[0], ServerEvent::Registration(c, None) if matches!(**c, RdChange::Registered { .. })));
    assert!(
        matches!(&ev[1], ServerEvent::Response { request, result: Ok(r) } if *request == id && r.code == ResponseType::Changed)
    );
}

/// RFC 7252 §4.2: MAX_RETRANSMIT retransmissions with doubling timeouts, then a timeout.
#[test]
fn unanswered_requests_time_out_after_the_schedule() {
    let t0 = Instant::now();
    let (mut s, _) = registered(t0, &["ep=dev"]);
    s.request(t0, "dev", DmRequest::new(RequestType::Get, Path::Resource(3, 0, 0)));
    let mut sent = transmits(&mut s).len();
    let mut now = t0;
    let mut outcome = None;
    while outcome.is_none() && now < t0 + Duration::from_secs(120) {
        now = s.poll_timeout().unwrap().min(t0 + Duration::from_secs(120));
        s.handle_timeout(now);
        sent += transmits(&mut s).len();
        outcome = events(&mut s).into_iter().find_map(|e| match e {
            ServerEvent::Response { result, .. } => Some(result),
            _ => None,
        });
    }
    assert_eq!(sent, 5);
    assert_eq!(outcome, Some(Err(RequestFailure::TimedOut)));
    assert!(now - t0 <= Duration::from_secs(93));
}

/// LightweightM2M-1.0-int-301/-302: notifications reach the observed path; a notification
/// nobody observes is answered with RST (RFC 7641 §3.6).
#[test]
fn notifications_are_routed_and_strangers_reset() {
    let t0 = Instant::now();
    let (mut s, _) = registered(t0, &["ep=dev"]);
    let mut get = DmRequest::new(RequestType::Get, Path::Resource(3, 0, 9));
    get.observe = Some(0);
    s.request(t0, "dev", get);
    let out = transmits(&mut s);
    assert_eq!(out[0].get_first_option(CoapOption::Observe), Some(&vec![]));
    s.handle_datagram(t0, peer(), &answer(&out[0], ResponseType::Content, Some(1), b"80"));
    assert!(matches!(events(&mut s)[0], ServerEvent::Response { result: Ok(_), .. }));
    let mut note = Packet::from_bytes(&answer(&out[0], ResponseType::Content, Some(2), b"79")).unwrap();
    note.header.set_type(MessageType::Confirmable);
    note.header.message_id = 999;
    s.handle_datagram(t0, peer(), &note.to_bytes().unwrap());
    let acks = transmits(&mut s);
    assert_eq!((acks[0].header.get_type(), acks[0].header.message_id), (MessageType::Acknowledgement, 999));
    match &events(&mut s)[0] {
        ServerEvent::Notification { endpoint, prefix, observed, response } => {
            assert_eq!(
                (endpoint.as_str(), prefix, observed, response.payload.as_slice()),
                ("dev", &None, &Observed::Path(Path::Resource(3, 0, 9)), &b"79"[..])
            );
        }
        other => panic!("{other:?}"),
    }
    note.set_token(vec![1, 2, 3]);
    note.header.message_id = 1000;
    s.handle_datagram(t0, peer(), &note.to_bytes().unwrap());
    assert_eq!(transmits(&mut s)[0].header.get_type(), MessageType::Reset);
}

/// npm lwm2m-node-lib style: `rd/{id}` in one Uri-Path option, old content format numbers.
#[test]
fn update_with_joined_location_path_is_understood() {
    let t0 = Instant::now();
    let (mut s, id) = registered(t0, &["ep=dev"]);
    let joined = format!("rd/{id}");
    s.handle_datagram(t0, peer(), &request(2, MessageType::Confirmable, RequestType::Post, &[&joined], &[], b""));
    assert_eq!(code(&transmits(&mut s)[0]), Some(ResponseType::Changed));
    let doubled = format!("rd/{id}");
    s.handle_datagram(
        t0,
        peer(),
        &request(4, MessageType::Confirmable, RequestType::Post, &["rd", &doubled], &[], b""),
    );
    assert_eq!(code(&transmits(&mut s)[0]), Some(ResponseType::Changed));
    let slash = format!("/rd/{id}");
    s.handle_datagram(t0, peer(), &request(3, MessageType::Confirmable, RequestType::Delete, &[&slash], &[], b""));
    assert_eq!(code(&transmits(&mut s)[0]), Some(ResponseType::Deleted));
}

#[test]
fn non_confirmable_register_and_unknown_paths_are_refused() {
    let t0 = Instant::now();
    let mut s = Server::new(ServerConfig::default(), 7);
    s.handle_datagram(t0, peer(), &request(1, MessageType::NonConfirmable, RequestType::Post, &["rd"], &["ep=a"], b""));
    assert_eq!(code(&transmits(&mut s)[0]), Some(ResponseType::BadRequest));
    s.handle_datagram(t0, peer(), &request(2, MessageType::Confirmable, RequestType::Get, &["x"], &[], b""));
    assert_eq!(code(&transmits(&mut s)[0]), Some(ResponseType::NotFound));
    assert!(s.registry().is_empty());
}

#[test]
fn lifetime_expiry_and_queue_mode_sleep() {
    let t0 = Instant::now();
    let (mut s, _) = registered(t0, &["ep=dev", "lt=300", "b=UQ"]);
    s.handle_timeout(t0 + Duration::from_secs(94));
    assert!(matches!(events(&mut s).as_slice(), [ServerEvent::Sleeping(ep)] if ep == "dev"));
    s.request(t0 + Duration::from_secs(95), "dev", DmRequest::new(RequestType::Get, Path::Resource(3, 0, 0)));
    assert!(transmits(&mut s).is_empty(), "held while asleep");
    s.handle_timeout(t0 + Duration::from_secs(300));
    assert!(events(&mut s).iter().any(|e| matches!(e, ServerEvent::Expired(r) if r.endpoint == "dev")));
    assert!(s.registry().is_empty());
}

#[test]
fn many_sources_keep_state_bounded() {
    let mut config = ServerConfig::default();
    config.registration.max_registrations = 50;
    config.registration.max_tracked_sources = 100;
    config.dedup_peers = 100;
    let mut s = Server::new(config, 7);
    let t0 = Instant::now();
    for i in 0..5_000u32 {
        let p = SocketAddr::from(([10, (i >> 16) as u8, (i >> 8) as u8, i as u8], 5683));
        let ep = format!("ep=d{i}");
        s.handle_datagram(
            t0,
            p,
            &request(i as u16, MessageType::Confirmable, RequestType::Post, &["rd"], &[&ep], b"</3/0>"),
        );
        transmits(&mut s);
        events(&mut s);
    }
    assert_eq!(s.registry().len(), 50);
    assert!(s.registry().tracked_sources() <= 100);
    assert!(s.dedup.peer_count() <= 100);
    for i in 0..100 {
        s.request(t0, &format!("nobody{i}"), DmRequest::new(RequestType::Get, Path::Root));
    }
    assert!(s.queued_len() <= 100);
}

proptest! {
    #[test]
    fn arbitrary_datagrams_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let t0 = Instant::now();
        let (mut s, _) = registered(t0, &["ep=dev"]);
        s.handle_datagram(t0, peer(), &bytes);
        s.handle_timeout(t0 + Duration::from_secs(1));
        transmits(&mut s);
    }
}

/// RFC 7959 §2.4: a large answer in Block2 blocks is asked for block by block and delivered
/// whole.
#[test]
fn block2_answers_are_reassembled() {
    use crate::coap::block::BlockOption;
    let t0 = Instant::now();
    let (mut s, _) = registered(t0, &["ep=dev"]);
    let id = s.request(t0, "dev", DmRequest::new(RequestType::Get, Path::ObjectInstance(3, 0)));
    let body: Vec<u8> = (0..40u8).collect();
    let mut req = transmits(&mut s).remove(0);
    for (num, chunk) in body.chunks(16).enumerate() {
        let more = (num + 1) * 16 < body.len();
        let mut p = Packet::from_bytes(&answer(&req, ResponseType::Content, None, chunk)).unwrap();
        p.add_option(CoapOption::Block2, BlockOption { num: num as u32, more, szx: 0 }.encode());
        s.handle_datagram(t0, peer(), &p.to_bytes().unwrap());
        if more {
            req = transmits(&mut s).pop().expect("next block asked for");
            let asked = BlockOption::from_packet(&req, CoapOption::Block2).unwrap().unwrap();
            assert_eq!(asked.num, num as u32 + 1);
            assert!(events(&mut s).is_empty());
        }
    }
    match events(&mut s).as_slice() {
        [ServerEvent::Response { request, result: Ok(r) }] => {
            assert_eq!(*request, id);
            assert_eq!(r.payload, body);
        }
        other => panic!("{other:?}"),
    }
}

/// RFC 7959 §2.5: a Register payload in Block1 blocks gets 2.31 Continue per block and is
/// registered once whole; a gap gets 4.08.
#[test]
fn block1_register_is_reassembled() {
    use crate::coap::block::BlockOption;
    let t0 = Instant::now();
    let mut s = Server::new(ServerConfig::default(), 7);
    let payload: Vec<u8> = (0..40).map(|i| format!("</{i}/0>,")).collect::<String>().trim_end_matches(',').into();
    let chunks: Vec<&[u8]> = payload.chunks(64).collect();
    for (num, chunk) in chunks.iter().enumerate() {
        let more = num + 1 < chunks.len();
        let bytes = request(10 + num as u16, MessageType::Confirmable, RequestType::Post, &["rd"], &["ep=big"], chunk);
        let mut p = Packet::from_bytes(&bytes).unwrap();
        p.add_option(CoapOption::Block1, BlockOption { num: num as u32, more, szx: 2 }.encode());
        s.handle_datagram(t0, peer(), &p.to_bytes().unwrap());
        let out = transmits(&mut s);
        let expected = if more { ResponseType::Continue } else { ResponseType::Created };
        assert_eq!(code(&out[0]), Some(expected));
    }
    assert_eq!(s.registration("big").unwrap().objects.len(), 40);
    assert_eq!(s.block1.len(), 0, "finished transfers are forgotten");
    let bytes = request(99, MessageType::Confirmable, RequestType::Post, &["rd"], &["ep=gap"], &[b'<'; 64]);
    let mut p = Packet::from_bytes(&bytes).unwrap();
    p.add_option(CoapOption::Block1, BlockOption { num: 3, more: true, szx: 2 }.encode());
    s.handle_datagram(t0, peer(), &p.to_bytes().unwrap());
    assert_eq!(code(&transmits(&mut s)[0]), Some(ResponseType::RequestEntityIncomplete));
}

fn confirming(max_unconfirmed: usize) -> Server {
    let config = ServerConfig { confirm_registrations: true, max_unconfirmed, ..ServerConfig::default() };
    Server::new(config, 7)
}

fn ack_of(events: &[ServerEvent]) -> Ack {
    match events {
        [ServerEvent::Registration(_, Some(ack))] => *ack,
        other => panic!("expected one registration event with an ack, got {other:?}"),
    }
}

#[test]
fn held_registration_reply_goes_out_only_once_confirmed() {
    let t0 = Instant::now();
    let mut s = confirming(16);
    // A request for the device waits for its registration, and then for the client's reply.
    s.request(t0, "dev", DmRequest::new(RequestType::Get, Path::Resource(3, 0, 0)));
    let reg = request(1, MessageType::Confirmable, RequestType::Post, &["rd"], &["ep=dev"], b"</3/0>");
    s.handle_datagram(t0, peer(), &reg);
    assert!(transmits(&mut s).is_empty(), "nothing before the registration is stored");
    let ack = ack_of(&events(&mut s));
    assert_eq!(s.unconfirmed(), 1);
    // So does a request made while the reply is held.
    s.request(t0, "dev", DmRequest::new(RequestType::Get, Path::Resource(3, 0, 1)));
    assert!(transmits(&mut s).is_empty());
    // The client's retransmission while the reply is held is neither processed nor answered.
    s.handle_datagram(t0 + Duration::from_secs(2), peer(), &reg);
    assert!(transmits(&mut s).is_empty());
    assert!(events(&mut s).is_empty());

    s.confirm(t0 + Duration::from_secs(2), ack, true);
    let out = transmits(&mut s);
    assert_eq!(out.len(), 3, "the 2.01, then the held GETs");
    assert_eq!(code(&out[0]), Some(ResponseType::Created));
    assert_eq!(out[0].header.message_id, 1);
    assert_eq!(out[1].header.code, MessageClass::Request(RequestType::Get));
    assert_eq!(out[2].header.code, MessageClass::Request(RequestType::Get));
    assert_eq!(s.unconfirmed(), 0);
    // A later duplicate gets the same reply from the dedup cache.
    s.handle_datagram(t0 + Duration::from_secs(3), peer(), &reg);
    assert_eq!(code(&transmits(&mut s)[0]), Some(ResponseType::Created));
    // Confirming twice does nothing.
    s.confirm(t0 + Duration::from_secs(3), ack, true);
    assert!(transmits(&mut s).is_empty());
}

#[test]
fn a_registration_that_could_not_be_stored_gets_5_00() {
    let t0 = Instant::now();
    let mut s = confirming(16);
    let reg = request(9, MessageType::Confirmable, RequestType::Post, &["rd"], &["ep=dev"], b"</3/0>");
    s.handle_datagram(t0, peer(), &reg);
    let ack = ack_of(&events(&mut s));
    s.confirm(t0, ack, false);
    let out = transmits(&mut s);
    assert_eq!(code(&out[0]), Some(ResponseType::InternalServerError));
    assert_eq!(out[0].header.get_type(), MessageType::Acknowledgement);
    assert_eq!(out[0].header.message_id, 9);
    assert_eq!(out[0].get_token(), &[9]);
}

#[test]
fn too_many_unconfirmed_registrations_get_5_03_unprocessed() {
    let t0 = Instant::now();
    let mut s = confirming(2);
    for mid in 1..=3u16 {
        let ep = format!("ep=dev-{mid}");
        let reg = request(mid, MessageType::Confirmable, RequestType::Post, &["rd"], &[ep.as_str()], b"</3/0>");
        s.handle_datagram(t0, SocketAddr::from(([192, 0, 2, mid as u8], 5683)), &reg);
    }
    assert_eq!(events(&mut s).len(), 2);
    let out = transmits(&mut s);
    assert_eq!(out.len(), 1);
    assert_eq!(code(&out[0]), Some(ResponseType::ServiceUnavailable));
    assert!(s.registration("dev-3").is_none());
    assert_eq!(s.unconfirmed(), 2);
}

#[test]
fn a_reply_never_confirmed_is_dropped_and_holds_no_request_back() {
    let t0 = Instant::now();
    let mut s = confirming(16);
    let reg = request(1, MessageType::Confirmable, RequestType::Post, &["rd"], &["ep=dev"], b"</3/0>");
    s.handle_datagram(t0, peer(), &reg);
    ack_of(&events(&mut s));
    s.request(t0, "dev", DmRequest::new(RequestType::Get, Path::Resource(3, 0, 0)));
    assert!(transmits(&mut s).is_empty(), "held while the reply is");
    let later = t0 + s.config.transmission.max_transmit_wait() + Duration::from_secs(1);
    s.handle_timeout(later);
    assert_eq!(s.unconfirmed(), 0);
    assert!(transmits(&mut s).is_empty(), "a dropped reply is not sent");
    s.request(later, "dev", DmRequest::new(RequestType::Get, Path::Resource(3, 0, 1)));
    let out = transmits(&mut s);
    assert_eq!(out.len(), 1, "the client waits for no reply any more");
    assert_eq!(out[0].header.code, MessageClass::Request(RequestType::Get));
}

#[test]
fn update_and_deregister_replies_are_held_too() {
    let t0 = Instant::now();
    let mut s = confirming(16);
    let reg = request(1, MessageType::Confirmable, RequestType::Post, &["rd"], &["ep=dev"], b"</3/0>");
    s.handle_datagram(t0, peer(), &reg);
    let ack = ack_of(&events(&mut s));
    s.confirm(t0, ack, true);
    let out = transmits(&mut s);
    let id = String::from_utf8(out[0].get_option(CoapOption::LocationPath).unwrap().back().unwrap().clone()).unwrap();
    let update = request(2, MessageType::Confirmable, RequestType::Post, &["rd", &id], &["lt=120"], b"");
    s.handle_datagram(t0, peer(), &update);
    assert!(transmits(&mut s).is_empty());
    let ack = ack_of(&events(&mut s));
    s.confirm(t0, ack, true);
    assert_eq!(code(&transmits(&mut s)[0]), Some(ResponseType::Changed));
    let dereg = request(3, MessageType::Confirmable, RequestType::Delete, &["rd", &id], &[], b"");
    s.handle_datagram(t0, peer(), &dereg);
    assert!(transmits(&mut s).is_empty());
    let ack = ack_of(&events(&mut s));
    s.confirm(t0, ack, true);
    assert_eq!(code(&transmits(&mut s)[0]), Some(ResponseType::Deleted));
}

fn observe_composite(paths: &[Path], observe: u32) -> DmRequest {
    let mut r = DmRequest::new(RequestType::Fetch, Path::Root);
    r.content_format = Some(110);
    r.accept = Some(110);
    r.observe = Some(observe);
    r.payload = crate::codec::encode_paths(crate::codec::ContentFormat::SenmlJson, paths).unwrap();
    r.composite = Some(paths.to_vec());
    r
}

fn notification(token: &[u8], mid: u16, sequence: u32) -> Vec<u8> {
    let mut p = Packet::new();
    p.header.set_type(MessageType::NonConfirmable);
    p.header.message_id = mid;
    p.header.code = MessageClass::Response(ResponseType::Content);
    p.set_token(token.to_vec());
    p.add_option(CoapOption::Observe, encode_uint(sequence));
    p.add_option(CoapOption::ContentFormat, encode_uint(110));
    p.payload = br#"[{"n":"/3/0/9","v":5}]"#.to_vec();
    p.to_bytes().unwrap()
}

/// LightweightM2M-1.1-int-304/-305: an Observe-Composite (FETCH on `/` with the path list)
/// is its own observation next to an Observe of one of its paths; notifications are matched
/// by token to the right one, and the cancel (FETCH, Observe=1, paths in any order) reuses
/// the composite observation's token and leaves the single one alone.
#[test]
fn composite_observations_are_keyed_apart_from_single_ones() {
    let t0 = Instant::now();
    let (mut s, _) = registered(t0, &["ep=dev", "lwm2m=1.1"]);
    let (a, b) = (Path::Resource(3, 0, 9), Path::Resource(1, 0, 1));
    let mut single = DmRequest::new(RequestType::Get, a);
    single.observe = Some(0);
    s.request(t0, "dev", single);
    s.request(t0, "dev", observe_composite(&[a, b], 0));
    let out = transmits(&mut s);
    let (get, fetch) = (&out[0], &out[1]);
    assert_eq!(fetch.header.code, MessageClass::Request(RequestType::Fetch));
    assert_eq!(fetch.get_option(CoapOption::UriPath), None, "FETCH on the root path");
    assert_eq!(fetch.get_first_option(CoapOption::Observe), Some(&vec![]));
    assert_eq!(fetch.get_first_option(CoapOption::ContentFormat), Some(&encode_uint(110)));
    assert_eq!(fetch.payload, br#"[{"n":"/3/0/9"},{"n":"/1/0/1"}]"#);
    for request in [get, fetch] {
        s.handle_datagram(t0, peer(), &answer(request, ResponseType::Content, Some(1), b"1"));
    }
    assert_eq!(events(&mut s).len(), 2);

    let composite = Observed::Composite(vec![b, a]);
    s.handle_datagram(t0, peer(), &notification(fetch.get_token(), 500, 2));
    s.handle_datagram(t0, peer(), &notification(get.get_token(), 501, 2));
    let seen: Vec<Observed> = events(&mut s)
        .into_iter()
        .map(|e| match e {
            ServerEvent::Notification { endpoint, observed, .. } if endpoint == "dev" => observed,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(seen, vec![composite.clone(), Observed::Path(a)]);

    s.request(t0, "dev", observe_composite(&[b, a], 1));
    let cancel = transmits(&mut s).remove(0);
    assert_eq!(cancel.header.code, MessageClass::Request(RequestType::Fetch));
    assert_eq!(cancel.get_token(), fetch.get_token(), "same token as the observation (RFC 7641 §3.6)");
    assert_eq!(cancel.get_first_option(CoapOption::Observe), Some(&encode_uint(1)));
    s.handle_datagram(t0, peer(), &answer(&cancel, ResponseType::Content, None, b""));
    events(&mut s);
    // A late composite notification is unknown now: RST. The single observation lives on.
    s.handle_datagram(t0, peer(), &notification(fetch.get_token(), 502, 3));
    assert_eq!(transmits(&mut s)[0].header.get_type(), MessageType::Reset);
    assert!(events(&mut s).is_empty());
    s.handle_datagram(t0, peer(), &notification(get.get_token(), 503, 3));
    assert!(matches!(&events(&mut s)[..], [ServerEvent::Notification { observed: Observed::Path(p), .. }] if *p == a));
}

/// A gateway's own `/3/0/9` and its end device's `/dev1/3/0/9` (LwM2M Gateway TS §6) are two
/// observations: each notification names its prefix, and cancelling the end device's reuses its
/// token and leaves the gateway's alone.
#[test]
fn end_device_observations_are_keyed_by_prefix() {
    let t0 = Instant::now();
    let (mut s, _) = registered(t0, &["ep=gw", "lwm2m=1.1"]);
    let observe = |prefix: Option<&str>, o| {
        let mut r = DmRequest::new(RequestType::Get, Path::Resource(3, 0, 9));
        r.observe = Some(o);
        r.prefix = prefix.map(str::to_owned);
        r
    };
    s.request(t0, "gw", observe(None, 0));
    s.request(t0, "gw", observe(Some("dev1"), 0));
    let out = transmits(&mut s);
    let (own, child) = (&out[0], &out[1]);
    assert_eq!(child.get_option(CoapOption::UriPath).unwrap().front(), Some(&b"dev1".to_vec()));
    assert_ne!(own.get_token(), child.get_token());
    for request in [own, child] {
        s.handle_datagram(t0, peer(), &answer(request, ResponseType::Content, Some(1), b"1"));
    }
    assert_eq!(events(&mut s).len(), 2);
    s.handle_datagram(t0, peer(), &notification(child.get_token(), 600, 2));
    s.handle_datagram(t0, peer(), &notification(own.get_token(), 601, 2));
    let prefixes: Vec<Option<String>> = events(&mut s)
        .into_iter()
        .map(|e| match e {
            ServerEvent::Notification { endpoint, prefix, observed: Observed::Path(p), .. }
                if endpoint == "gw" && p == Path::Resource(3, 0, 9) =>
            {
                prefix
            }
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(prefixes, [Some("dev1".to_owned()), None]);

    s.request(t0, "gw", observe(Some("dev1"), 1));
    let cancel = transmits(&mut s).remove(0);
    assert_eq!(cancel.get_token(), child.get_token(), "the end device's token (RFC 7641 §3.6)");
    s.handle_datagram(t0, peer(), &answer(&cancel, ResponseType::Content, None, b""));
    events(&mut s);
    s.handle_datagram(t0, peer(), &notification(child.get_token(), 602, 3));
    assert_eq!(transmits(&mut s)[0].header.get_type(), MessageType::Reset);
    s.handle_datagram(t0, peer(), &notification(own.get_token(), 603, 3));
    assert!(matches!(&events(&mut s)[..], [ServerEvent::Notification { prefix: None, .. }]));
}

#[test]
fn observed_text_round_trips() {
    let composite = Observed::composite([Path::Resource(3, 0, 9), Path::Root, Path::Resource(3, 0, 9)]);
    assert_eq!(composite, Observed::Composite(vec![Path::Root, Path::Resource(3, 0, 9)]));
    assert_eq!(composite.to_string(), "composite:/,/3/0/9");
    assert_eq!("composite:/3/0/9,/".parse::<Observed>(), Ok(composite));
    assert_eq!("/3/0/9".parse::<Observed>(), Ok(Observed::Path(Path::Resource(3, 0, 9))));
    assert!("composite:/3/x".parse::<Observed>().is_err());
    assert_eq!(Observed::Path(Path::Root).path(), Some(Path::Root));
}
