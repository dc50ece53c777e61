use super::*;
use crate::bootstrap::{SecurityMode, ServerAccount};

fn account(id: u16) -> ServerAccount {
    ServerAccount {
        short_server_id: id,
        uri: "coap://127.0.0.1:5683".into(),
        security: SecurityMode::NoSec {},
        lifetime: 300,
        binding: "U".into(),
        default_min_period: None,
        default_max_period: None,
        notification_storing: true,
    }
}

fn peer(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

fn bs_request(mid: u16, query: &[&str]) -> Vec<u8> {
    let mut p = Packet::new();
    p.header.set_type(MessageType::Confirmable);
    p.header.code = MessageClass::Request(RequestType::Post);
    p.header.message_id = mid;
    p.set_token(vec![1, 2]);
    p.add_option(CoapOption::UriPath, b"bs".to_vec());
    for q in query {
        p.add_option(CoapOption::UriQuery, q.as_bytes().to_vec());
    }
    p.to_bytes().unwrap()
}

fn code_of(t: &Transmit) -> MessageClass {
    Packet::from_bytes(&t.bytes).unwrap().header.code
}

/// Answers the server's next request with `code` (piggybacked), returning the request.
fn answer(s: &mut BootstrapServer, now: Instant, from: SocketAddr, code: ResponseType, payload: &str) -> Packet {
    let t = s.poll_transmit().expect("a request");
    let request = Packet::from_bytes(&t.bytes).unwrap();
    let mut r = Packet::new();
    r.header.set_type(MessageType::Acknowledgement);
    r.header.message_id = request.header.message_id;
    r.header.code = MessageClass::Response(code);
    r.set_token(request.get_token().to_vec());
    r.payload = payload.as_bytes().to_vec();
    s.handle_datagram(now, from, &r.to_bytes().unwrap());
    request
}

fn uri(p: &Packet) -> String {
    p.get_option(CoapOption::UriPath)
        .map(|o| o.iter().map(|s| format!("/{}", String::from_utf8_lossy(s))).collect())
        .unwrap_or_else(|| "/".into())
}

#[test]
fn lightweightm2m_1_1_int_6_bootstrap_sequence() {
    let now = Instant::now();
    let mut s = BootstrapServer::new(BootstrapLimits::default(), 7);
    s.set_config("dev", Some(BootstrapConfig { servers: vec![account(101), account(102)] }));
    s.handle_datagram(now, peer(1), &bs_request(1, &["ep=dev"]));
    assert_eq!(code_of(&s.poll_transmit().unwrap()), MessageClass::Response(ResponseType::Changed));
    let r = answer(&mut s, now, peer(1), ResponseType::Deleted, "");
    assert_eq!((r.header.code, uri(&r)), (MessageClass::Request(RequestType::Delete), "/0".into()));
    let r = answer(&mut s, now, peer(1), ResponseType::Deleted, "");
    assert_eq!(uri(&r), "/1");
    let r = answer(&mut s, now, peer(1), ResponseType::Content, "</0/0>,</3/0>");
    assert_eq!((r.header.code, uri(&r)), (MessageClass::Request(RequestType::Get), "/".into()));
    let mut written = Vec::new();
    for _ in 0..4 {
        let r = answer(&mut s, now, peer(1), ResponseType::Changed, "");
        assert_eq!(r.header.code, MessageClass::Request(RequestType::Put));
        written.push(uri(&r));
    }
    assert_eq!(written, ["/0/1", "/1/0", "/0/2", "/1/1"]);
    let r = answer(&mut s, now, peer(1), ResponseType::Changed, "");
    assert_eq!((r.header.code, uri(&r)), (MessageClass::Request(RequestType::Post), "/bs".into()));
    let events: Vec<_> = std::iter::from_fn(|| s.poll_event()).collect();
    assert!(matches!(events.last(), Some(BootstrapEvent::Finished { endpoint, .. }) if endpoint == "dev"));
    assert_eq!(s.sessions(), 0);
}

#[test]
fn refusals_and_bounds() {
    let now = Instant::now();
    let limits = BootstrapLimits { max_sessions: 1, ..BootstrapLimits::default() };
    let mut s = BootstrapServer::new(limits, 7);
    s.handle_datagram(now, peer(1), &bs_request(1, &["ep=unknown"]));
    assert_eq!(code_of(&s.poll_transmit().unwrap()), MessageClass::Response(ResponseType::BadRequest));
    s.handle_datagram(now, peer(1), &bs_request(2, &[]));
    assert_eq!(code_of(&s.poll_transmit().unwrap()), MessageClass::Response(ResponseType::BadRequest));
    s.set_config("a", Some(BootstrapConfig { servers: vec![account(1)] }));
    s.handle_datagram(now, peer(1), &bs_request(3, &["ep=a", "pct=x"]));
    assert_eq!(code_of(&s.poll_transmit().unwrap()), MessageClass::Response(ResponseType::BadRequest));
    s.handle_datagram(now, peer(1), &bs_request(4, &["ep=a", "pct=110"]));
    assert_eq!(code_of(&s.poll_transmit().unwrap()), MessageClass::Response(ResponseType::Changed));
    s.poll_transmit();
    s.handle_datagram(now, peer(2), &bs_request(5, &["ep=a"]));
    assert_eq!(code_of(&s.poll_transmit().unwrap()), MessageClass::Response(ResponseType::ServiceUnavailable));
    // A session that goes quiet ends.
    s.handle_timeout(now + Duration::from_secs(300));
    assert_eq!(s.sessions(), 0);
    let failed = std::iter::from_fn(|| s.poll_event()).any(|e| matches!(e, BootstrapEvent::Failed { .. }));
    assert!(failed);
}

#[test]
fn configurations_are_validated() {
    let ok = BootstrapConfig { servers: vec![account(1)] };
    assert!(ok.validate().is_ok());
    let mut bad = ok.clone();
    bad.servers[0].short_server_id = 0;
    assert!(bad.validate().unwrap_err().is_bad_input());
    let mut bad = ok.clone();
    bad.servers[0].short_server_id = 65535;
    assert!(bad.validate().is_err());
    let mut bad = ok.clone();
    bad.servers[0].uri = "http://x".into();
    assert!(bad.validate().is_err());
    let mut bad = ok.clone();
    bad.servers[0].uri = "coaps://x".into();
    assert!(bad.validate().is_err());
    let mut psk = ok.clone();
    psk.servers[0].uri = "coaps://x:5684".into();
    psk.servers[0].security = SecurityMode::Psk { identity: "id".into(), key: "AAEC".into() };
    assert!(psk.validate().is_ok());
    psk.servers[0].security = SecurityMode::Psk { identity: "id".into(), key: "".into() };
    assert!(psk.validate().is_err());
    let dup = BootstrapConfig { servers: vec![account(1), account(1)] };
    assert!(dup.validate().is_err());
    // Raw public keys: real keys, the secret key the public key's own.
    use base64::Engine as _;
    let b64 = |d: &[u8]| base64::engine::general_purpose::STANDARD.encode(d);
    let group = openssl::ec::EcGroup::from_curve_name(openssl::nid::Nid::X9_62_PRIME256V1).unwrap();
    let pair = || openssl::pkey::PKey::from_ec_key(openssl::ec::EcKey::generate(&group).unwrap()).unwrap();
    let (client, server) = (pair(), pair());
    let rpk = |public: &[u8], secret: &[u8], server_key: &[u8]| {
        serde_json::json!({"servers": [{"shortServerId": 1, "uri": "coaps://h", "security":
            {"mode": "rpk", "publicKey": b64(public), "secretKey": b64(secret), "serverPublicKey": b64(server_key)}}]})
    };
    let (public, secret) = (client.public_key_to_der().unwrap(), client.private_key_to_pkcs8().unwrap());
    let server_public = server.public_key_to_der().unwrap();
    let parsed: BootstrapConfig = serde_json::from_value(rpk(&public, &secret, &server_public)).unwrap();
    assert!(parsed.validate().is_ok());
    assert_eq!(parsed.rpks(), std::slice::from_ref(&public));
    assert_eq!(parsed.servers[0].lifetime, 86_400);
    for (bad, field) in [
        (rpk(b"\0", &secret, &server_public), "publicKey"),
        (rpk(&public, &server.private_key_to_pkcs8().unwrap(), &server_public), "secretKey"),
        (rpk(&public, &secret, b"\0"), "serverPublicKey"),
    ] {
        let parsed: BootstrapConfig = serde_json::from_value(bad).unwrap();
        let err = parsed.validate().unwrap_err().to_string();
        assert!(err.contains(field), "{err}");
    }
    let unknown = serde_json::json!({"servers": [], "extra": 1});
    assert!(serde_json::from_value::<BootstrapConfig>(unknown).is_err());
    let unknown = serde_json::json!({"servers": [{"shortServerId": 1, "uri": "coap://h", "security":
        {"mode": "noSec", "key": "x"}}]});
    assert!(serde_json::from_value::<BootstrapConfig>(unknown).is_err());
}
