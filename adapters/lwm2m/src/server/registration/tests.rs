use super::*;
use coap_lite::MessageType;

fn peer(port: u16) -> SocketAddr {
    SocketAddr::from(([192, 0, 2, 7], port))
}

fn req(method: RequestType, query: &[&str], payload: &[u8]) -> Packet {
    let mut p = Packet::new();
    p.header.set_type(MessageType::Confirmable);
    p.header.code = MessageClass::Request(method);
    for q in query {
        p.add_option(CoapOption::UriQuery, q.as_bytes().to_vec());
    }
    p.payload = payload.to_vec();
    p
}

fn register(r: &mut Registry, now: Instant, query: &[&str], payload: &[u8]) -> RdReply {
    r.handle(now, peer(5683), &[], &req(RequestType::Post, query, payload))
}

/// ETS LightweightM2M-1.0-int-101 Initial Registration, server side.
#[test]
fn register_creates_a_registration_with_defaults() {
    let t0 = Instant::now();
    let mut r = Registry::new(RegistrationConfig::default(), 1);
    let reply = register(&mut r, t0, &["ep=dev1"], b"</1/0>,</3/0>,</5>;ver=1.1");
    assert_eq!(reply.code, ResponseType::Created);
    assert_eq!(reply.location[0], "rd");
    let Some(RdChange::Registered { registration, replaced: None }) = reply.change else { panic!("{reply:?}") };
    assert_eq!(registration.lifetime_s, 86_400);
    assert_eq!(registration.version, "1.0");
    assert_eq!(registration.binding, "U");
    assert!(!registration.queue_mode);
    assert!(registration.has_object(5));
    assert_eq!(registration.objects[2].version.as_deref(), Some("1.1"));
    assert_eq!(r.poll_timeout(), Some(t0 + Duration::from_secs(86_400)));
}

#[test]
fn register_parameters_are_checked() {
    let t0 = Instant::now();
    let mut r = Registry::new(RegistrationConfig::default(), 1);
    assert_eq!(register(&mut r, t0, &["lt=60"], b"").code, ResponseType::BadRequest);
    assert_eq!(register(&mut r, t0, &["ep=a", "lt="], b"").code, ResponseType::BadRequest);
    assert_eq!(register(&mut r, t0, &["ep=a", "lt=x"], b"").code, ResponseType::BadRequest);
    assert_eq!(register(&mut r, t0, &["ep=a", "lwm2m=2.0"], b"").code, ResponseType::PreconditionFailed);
    assert_eq!(register(&mut r, t0, &["ep=a", "Q=1"], b"").code, ResponseType::BadRequest);
    assert_eq!(register(&mut r, t0, &["ep=a", "b=X"], b"").code, ResponseType::BadRequest);
    assert_eq!(register(&mut r, t0, &["ep=a"], b"</3/0").code, ResponseType::BadRequest);
    let reply = register(&mut r, t0, &["ep=a&lt=30&lwm2m=1.1&b=U", "Q"], br#"</lwm2m>;rt="oma.lwm2m",</lwm2m/3/0>"#);
    let Some(RdChange::Registered { registration, .. }) = reply.change else { panic!("{reply:?}") };
    assert_eq!(registration.lifetime_s, 30);
    assert!(registration.queue_mode);
    assert_eq!(registration.root_path, "/lwm2m");
    assert_eq!(registration.uri_path(&Path::Resource(3, 0, 4)), ["lwm2m", "3", "0", "4"]);
}

#[test]
fn deny_list_answers_forbidden() {
    let config = RegistrationConfig { deny: vec!["bad".into(), "test-*".into()], ..Default::default() };
    let mut r = Registry::new(config, 1);
    let t0 = Instant::now();
    assert_eq!(register(&mut r, t0, &["ep=bad"], b"").code, ResponseType::Forbidden);
    assert_eq!(register(&mut r, t0, &["ep=test-1"], b"").code, ResponseType::Forbidden);
    assert_eq!(register(&mut r, t0, &["ep=good"], b"").code, ResponseType::Created);
}

/// ETS -102 Registration Update and -103 Deregistration, server side; unknown ids get 4.04.
#[test]
fn update_and_deregister() {
    let t0 = Instant::now();
    let mut r = Registry::new(RegistrationConfig::default(), 1);
    let reply = register(&mut r, t0, &["ep=a", "lt=60"], b"</3/0>");
    let id = reply.location[1].clone();
    let t1 = t0 + Duration::from_secs(30);
    let up = r.handle(t1, peer(6000), std::slice::from_ref(&id), &req(RequestType::Post, &[], b""));
    assert_eq!(up.code, ResponseType::Changed);
    assert_eq!(r.by_endpoint("a").map(|g| g.address), Some(peer(6000)));
    assert_eq!(r.poll_timeout(), Some(t1 + Duration::from_secs(60)));
    let up = r.handle(
        t1,
        peer(6000),
        std::slice::from_ref(&id),
        &req(RequestType::Post, &["lt=90", "b=UQ"], b"</3/0>,</5/0>"),
    );
    let Some(RdChange::Updated { registration, .. }) = up.change else { panic!() };
    assert!(registration.queue_mode && registration.has_object(5) && registration.lifetime_s == 90);
    let unknown = r.handle(t1, peer(6000), &["nope".into()], &req(RequestType::Post, &[], b""));
    assert_eq!(unknown.code, ResponseType::NotFound);
    assert_eq!(
        r.handle(t1, peer(6000), std::slice::from_ref(&id), &req(RequestType::Delete, &[], b"")).code,
        ResponseType::Deleted
    );
    assert_eq!(r.handle(t1, peer(6000), &[id], &req(RequestType::Delete, &[], b"")).code, ResponseType::NotFound);
    assert!(r.is_empty());
    assert_eq!(r.poll_timeout(), None);
}

/// An Update that only refreshes the lifetime keeps the registration as it was, shared with
/// whoever holds the change events (not copied); one that changes anything gets a new one,
/// and the copy held before keeps what it was.
#[test]
fn a_refresh_shares_the_registration_and_a_change_replaces_it() {
    let t0 = Instant::now();
    let mut r = Registry::new(RegistrationConfig::default(), 1);
    let reply = register(&mut r, t0, &["ep=a", "lt=60", "b=U"], b"</3/0>");
    let Some(RdChange::Registered { registration: held, .. }) = reply.change else { panic!("{reply:?}") };
    let id = vec![held.id.clone()];
    let refresh = |r: &mut Registry, query: &[&str], from: u16| {
        let up = r.handle(t0, peer(from), &id, &req(RequestType::Post, query, b""));
        let Some(RdChange::Updated { registration, objects_changed: false }) = up.change else { panic!("{up:?}") };
        registration
    };
    for query in [&[][..], &["lt=60"], &["b=U"], &["lt=60", "b=U"]] {
        assert!(Arc::ptr_eq(&refresh(&mut r, query, 5683), &held), "{query:?}");
    }
    let moved = refresh(&mut r, &[], 6000);
    assert!(!Arc::ptr_eq(&moved, &held));
    assert_eq!((moved.address, held.address), (peer(6000), peer(5683)));
    let longer = refresh(&mut r, &["lt=90"], 6000);
    assert_eq!((longer.lifetime_s, moved.lifetime_s), (90, 60));
    let queued = refresh(&mut r, &["Q"], 6000);
    assert!(queued.queue_mode && !longer.queue_mode);
    assert!(Arc::ptr_eq(&refresh(&mut r, &["Q"], 6000), &queued));
    assert_eq!(r.by_endpoint("a"), Some(&*queued));
}

#[test]
fn same_endpoint_replaces_and_lifetime_expires() {
    let t0 = Instant::now();
    let mut r = Registry::new(RegistrationConfig::default(), 1);
    let first = register(&mut r, t0, &["ep=a", "lt=60"], b"");
    let second = register(&mut r, t0, &["ep=a", "lt=10"], b"");
    let Some(RdChange::Registered { replaced: Some(old), .. }) = second.change else { panic!() };
    assert_eq!(old.id, first.location[1]);
    assert_eq!(r.len(), 1);
    assert!(r.expire(t0 + Duration::from_secs(9)).is_empty());
    let gone = r.expire(t0 + Duration::from_secs(10));
    assert_eq!(gone.len(), 1);
    assert!(r.is_empty());
}

#[test]
fn floods_and_sizes_are_bounded() {
    let config = RegistrationConfig {
        max_registers_per_source: 5,
        max_registrations: 3,
        max_payload: 64,
        max_objects: 2,
        max_tracked_sources: 4,
        ..Default::default()
    };
    let mut r = Registry::new(config, 1);
    let t0 = Instant::now();
    let codes: Vec<_> = (0..8).map(|i| register(&mut r, t0, &[&format!("ep=e{i}")], b"").code).collect();
    assert_eq!(codes[..3], [ResponseType::Created; 3]);
    assert_eq!(codes[3..5], [ResponseType::ServiceUnavailable; 2]);
    assert_eq!(codes[5..], [ResponseType::TooManyRequests; 3]);
    assert_eq!(r.len(), 3);
    let mut r = Registry::new(RegistrationConfig { max_payload: 64, max_objects: 2, ..Default::default() }, 1);
    assert_eq!(register(&mut r, t0, &["ep=x"], &[b'<'; 65]).code, ResponseType::RequestEntityTooLarge);
    assert_eq!(register(&mut r, t0, &["ep=x"], b"</1>,</2>,</3>").code, ResponseType::RequestEntityTooLarge);
    let mut r = Registry::new(RegistrationConfig { max_tracked_sources: 4, ..Default::default() }, 1);
    for port in 0..100u8 {
        let p = SocketAddr::from(([10, 0, 0, port], 1));
        r.handle(t0, p, &[], &req(RequestType::Post, &["ep=z"], b""));
    }
    assert!(r.tracked_sources() <= 4);
}

mod props {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn arbitrary_register_requests_never_panic(
            query in proptest::collection::vec("[a-zA-Z=&0-9.]{0,12}", 0..6),
            payload in proptest::collection::vec(any::<u8>(), 0..64),
            rest in proptest::collection::vec("[a-z0-9]{0,4}", 0..3),
        ) {
            let mut r = Registry::new(RegistrationConfig::default(), 3);
            let q: Vec<&str> = query.iter().map(String::as_str).collect();
            let t0 = Instant::now();
            for method in [RequestType::Post, RequestType::Delete, RequestType::Get] {
                let reply = r.handle(t0, peer(1), &rest, &req(method, &q, &payload));
                prop_assert!(reply.change.is_none() || !reply.code.is_error());
            }
            prop_assert!(r.len() <= 1);
        }
    }
}
