//! Authentication in whole DM sessions, both ways: md5 and basic `Cred` with challenges and
//! nonces, HMAC on every message, the server's own credentials, bounded failures.

mod dm_client;

use std::time::Duration;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use unidm_omadm::auth;
use unidm_omadm::codec::{Alert, Chal, Command, Data, Meta, Status, SyncML};
use unidm_omadm::session::{
    ClientAuth, CloseReason, Credentials, DmSession, NonceDirection, Reply, RequestHandle, SessionConfig, SessionEvent,
};

use dm_client::*;

#[test]
fn md5_wrong_password_then_new_nonce_then_replay_refused() {
    let mut s = session(SessionConfig::default(), store());
    let mut c = Client::new(XML, "9").md5("dev", "wrong", b"nonce-0");
    let (p, reply) = c.send(&mut s, t(0), package1(Alert::CLIENT_INITIATED), true);
    let hs = hdr_status(&p);
    assert_eq!(hs.code, 401);
    assert_eq!(hs.chal.as_ref().unwrap().meta.r#type.as_deref(), Some(auth::AUTH_MD5));
    assert_eq!(hs.chal.as_ref().unwrap().meta.format.as_deref(), Some("b64"));
    assert!(commands(&p).is_empty() && !reply.ends_session);
    let nonce = next_nonce(hs);
    let ev = events(&mut s);
    assert!(ev.contains(&SessionEvent::AuthFailed { code: 401, failures: 1 }));
    assert!(
        ev.contains(&SessionEvent::NonceUpdated { direction: NonceDirection::ClientToServer, nonce: nonce.clone() })
    );
    // No credentials at all: 407, another fresh nonce.
    let (p, _) = c.send(&mut s, t(1), package1(Alert::CLIENT_INITIATED), true);
    assert_eq!(hdr_status(&p).code, 407);
    let nonce = next_nonce(hdr_status(&p));
    // The right password over the newest nonce: 212 and the next session's nonce.
    c.set_md5("dev", "client-secret", &nonce);
    let (p, _) = c.send(&mut s, t(2), package1(Alert::CLIENT_INITIATED), true);
    assert_eq!(hdr_status(&p).code, 212);
    let stored = next_nonce(hdr_status(&p));
    assert_ne!(stored, nonce);

    // A later session replaying the old digest (over `nonce`) fails against the stored one.
    let store2 = Store { client_nonce: Some(stored.clone()), ..store() };
    let mut s2 = session(SessionConfig::default(), store2);
    let mut c2 = Client::new(XML, "10").md5("dev", "client-secret", &nonce);
    let (p, _) = c2.send(&mut s2, t(0), package1(Alert::CLIENT_INITIATED), true);
    assert_eq!(hdr_status(&p).code, 401);
    // A client hashing the base64 text of the nonce is accepted as well.
    let fresh = next_nonce(hdr_status(&p));
    c2.set_md5("dev", "client-secret", B64.encode(&fresh).as_bytes());
    let (p, _) = c2.send(&mut s2, t(1), package1(Alert::CLIENT_INITIATED), true);
    assert_eq!(hdr_status(&p).code, 212);
}

#[test]
fn auth_failures_are_bounded() {
    let mut s = session(SessionConfig { max_auth_failures: 2, ..SessionConfig::default() }, store());
    let mut c = Client::new(WBXML, "11");
    let (_, r) = c.send(&mut s, t(0), package1(Alert::CLIENT_INITIATED), true);
    assert!(!r.ends_session);
    c.set_md5("dev", "bad", b"x");
    let (p, r) = c.send(&mut s, t(1), package1(Alert::CLIENT_INITIATED), true);
    assert_eq!(hdr_status(&p).code, 401, "still a SyncML status inside an HTTP 200");
    assert!(r.ends_session);
    assert_eq!(events(&mut s).last(), Some(&SessionEvent::Closed(CloseReason::AuthFailed)));
}

#[test]
fn basic_auth_and_unknown_devices() {
    let config = SessionConfig { client_auth: ClientAuth::Basic, ..SessionConfig::default() };
    let mut s = session(config.clone(), store());
    let mut c = Client::new(XML, "12");
    c.cred = Some(cred(auth::AUTH_BASIC, auth::basic("dev", "client-secret")));
    let (p, _) = c.send(&mut s, t(0), package1(Alert::CLIENT_INITIATED), true);
    assert_eq!(hdr_status(&p).code, 212);
    let mut s = session(config, Store::default());
    let mut c = Client::new(XML, "13");
    c.cred = Some(cred(auth::AUTH_BASIC, auth::basic("dev", "client-secret")));
    let (p, _) = c.send(&mut s, t(0), package1(Alert::CLIENT_INITIATED), true);
    assert_eq!(hdr_status(&p).code, 401, "a device the store does not know");
}

fn hmac_send(
    s: &mut DmSession,
    c: &mut Client,
    now: Duration,
    cmds: Vec<Command>,
    nonce: &[u8],
    tamper: bool,
) -> (SyncML, Reply) {
    let msg = c.message(cmds, true);
    let mut body = c.encode(&msg);
    let header = auth::hmac_header("dev", "client-secret", nonce, &body);
    if tamper {
        // A changed value, the document still well-formed.
        let at = body.windows(4).position(|w| w == b"Acme").expect("DevInfo in the body");
        body[at + 3] = b'E';
    }
    match s.handle_message_with_hmac(now, c.content_type, Some(&header), &body) {
        Ok(()) => c.take_reply(s),
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn hmac_good_and_tampered() {
    let st =
        Store { server: Some(Credentials::new("srv", "server-secret")), server_nonce: Some(b"sn".to_vec()), ..store() };
    let config = SessionConfig { client_auth: ClientAuth::Hmac, ..SessionConfig::default() };
    let mut s = session(config.clone(), st.clone());
    let mut c = Client::new(WBXML, "14");
    let msg = c.message(package1(Alert::CLIENT_INITIATED), true);
    let body = c.encode(&msg);
    let header = auth::hmac_header("dev", "client-secret", b"nonce-0", &body);
    s.handle_message_with_hmac(t(0), WBXML, Some(&header), &body).unwrap();
    s.enqueue(get(1, "./DevInfo/Mod")).unwrap();
    let (p, reply) = c.take_reply(&mut s);
    let hs = hdr_status(&p);
    assert_eq!(hs.code, 200, "an HMAC-authenticated header is answered 200");
    assert_eq!(hs.chal.as_ref().unwrap().meta.r#type.as_deref(), Some(auth::AUTH_MAC));
    let nonce = next_nonce(hs);
    // The reply carries the server's mac over its exact body, with the client's nonce for it.
    let h = auth::HmacHeader::parse(reply.hmac.as_deref().expect("x-syncml-hmac")).unwrap();
    assert_eq!(h.username, "srv");
    assert!(h.verify("server-secret", b"sn", &reply.body));
    assert!(p.hdr.cred.is_none(), "HMAC replaces the server Cred");
    // Package 3 under the new nonce; every message gets another.
    let id = first_cmd_id(&p, "Get");
    let (p4, reply) = hmac_send(
        &mut s,
        &mut c,
        t(1),
        vec![
            status(1, "1", "0", "SyncHdr", 200),
            status(2, "1", &id, "Get", 200),
            res(3, "1", &id, "./DevInfo/Mod", Data::Text("X1".into()), None, false),
        ],
        &nonce,
        false,
    );
    assert_eq!(hdr_status(&p4).code, 200);
    assert_ne!(next_nonce(hdr_status(&p4)), nonce);
    assert!(reply.ends_session && reply.hmac.is_some());
    assert!(events(&mut s).iter().any(|e| matches!(e, SessionEvent::Response { request: RequestHandle(1), .. })));
    // A tampered body.
    let mut s = session(config, st);
    let mut c = Client::new(XML, "15");
    let (p, _) = hmac_send(&mut s, &mut c, t(0), package1(Alert::CLIENT_INITIATED), b"nonce-0", true);
    assert_eq!(hdr_status(&p).code, 401);
    let nonce = next_nonce(hdr_status(&p));
    assert!(events(&mut s).iter().any(|e| matches!(e, SessionEvent::AuthFailed { code: 401, .. })));
    // Missing header in an HMAC session: 407.
    let (p, _) = c.send(&mut s, t(1), package1(Alert::CLIENT_INITIATED), true);
    assert_eq!(hdr_status(&p).code, 407);
    let nonce2 = next_nonce(hdr_status(&p));
    assert_ne!(nonce, nonce2);
    let (p, _) = hmac_send(&mut s, &mut c, t(2), package1(Alert::CLIENT_INITIATED), &nonce2, false);
    assert_eq!(hdr_status(&p).code, 200);
}

#[test]
fn server_credentials_are_verifiable_and_resent_after_a_challenge() {
    let st = Store {
        server: Some(Credentials::new("srv", "server-secret")),
        server_nonce: Some(b"sn-1".to_vec()),
        ..store()
    };
    let mut s = session(SessionConfig::default(), st);
    let mut c = Client::new(XML, "16").md5("dev", "client-secret", b"nonce-0");
    let p2 = open_md5(&mut s, &mut c, Alert::CLIENT_INITIATED, vec![get(1, "./DevInfo/Lang")]);
    let cred = p2.hdr.cred.as_ref().expect("server Cred");
    assert_eq!(cred.meta.as_ref().unwrap().r#type.as_deref(), Some(auth::AUTH_MD5));
    assert!(auth::verify_md5(&cred.data, "srv", "server-secret", b"sn-1"));
    // The client refuses it (stale nonce) and challenges with a new one: the Get comes again.
    let refusal = Command::Status(Status {
        cmd_id: "1".into(),
        msg_ref: Some("1".into()),
        cmd_ref: "0".into(),
        cmd: "SyncHdr".into(),
        code: 401,
        chal: Some(Chal {
            meta: Meta {
                r#type: Some(auth::AUTH_MD5.into()),
                format: Some("b64".into()),
                next_nonce: Some(B64.encode(b"sn-2")),
                ..Meta::default()
            },
        }),
        ..Status::default()
    });
    let (p4, reply) = c.send(&mut s, t(1), vec![refusal], true);
    assert!(!reply.ends_session);
    let cred = p4.hdr.cred.as_ref().expect("server Cred again");
    assert!(auth::verify_md5(&cred.data, "srv", "server-secret", b"sn-2"));
    assert_eq!(commands(&p4).len(), 1, "the Get is sent again");
    let ev = events(&mut s);
    assert!(ev.contains(&SessionEvent::ServerAuthRefused { code: 401 }));
    assert!(
        ev.contains(&SessionEvent::NonceUpdated { direction: NonceDirection::ServerToClient, nonce: b"sn-2".to_vec() })
    );
    let id = first_cmd_id(&p4, "Get");
    let (p6, reply) = c.send(
        &mut s,
        t(2),
        vec![
            status(1, &p4.hdr.msg_id, "0", "SyncHdr", 212),
            status(2, &p4.hdr.msg_id, &id, "Get", 200),
            res(3, &p4.hdr.msg_id, &id, "./DevInfo/Lang", Data::Text("en".into()), None, false),
        ],
        true,
    );
    assert!(p6.hdr.cred.is_none(), "accepted: no more Cred");
    assert!(reply.ends_session);
    assert!(events(&mut s)
        .iter()
        .any(|e| matches!(e, SessionEvent::Response { request: RequestHandle(1), status: 200, .. })));
}
