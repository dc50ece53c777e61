use super::*;

fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

fn store() -> PskStore {
    let s = PskStore::default();
    s.set(b"dev-1", Psk { endpoint: Some("ep-1".into()), key: b"0123456789abcdef".to_vec() });
    s
}

/// Carries datagrams both ways until neither side has anything to send; returns what the
/// server and the client received as application data.
fn shuttle(
    server: &mut DtlsServer,
    client: &mut DtlsClient,
    peer: SocketAddr,
    srv: SocketAddr,
) -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
    let (mut at_server, mut at_client) = (Vec::new(), Vec::new());
    let now = Instant::now();
    for _ in 0..20 {
        let up = client.drain_transmits();
        let down = server.drain_transmits();
        if up.is_empty() && down.is_empty() {
            break;
        }
        for (_, d) in up {
            at_server.extend(server.handle_datagram(now, peer, &d));
        }
        for (_, d) in down {
            at_client.extend(client.handle_datagram(srv, &d).unwrap_or_default());
        }
    }
    (at_server, at_client)
}

#[test]
fn a_psk_handshake_with_a_cookie_carries_data_both_ways() {
    let mut server = DtlsServer::new(store(), DtlsLimits::default(), None).unwrap();
    let mut client = DtlsClient::psk(b"dev-1", b"0123456789abcdef").unwrap();
    let (peer, srv) = (addr(40000), addr(5684));
    client.send(srv, b"register").unwrap();
    // The first flight: ClientHello; the server answers with a HelloVerifyRequest (handshake
    // type 3) and no session is open yet.
    let hello = client.drain_transmits();
    assert_eq!(hello.len(), 1);
    assert!(server.handle_datagram(Instant::now(), peer, &hello[0].1).is_empty());
    let hvr = server.drain_transmits();
    assert_eq!(hvr[0].1[13], 3, "HelloVerifyRequest");
    client.handle_datagram(srv, &hvr[0].1).unwrap();
    let (at_server, _) = shuttle(&mut server, &mut client, peer, srv);
    assert_eq!(at_server, [b"register".to_vec()]);
    assert!(server.is_open(&peer) && client.is_open(&srv));
    assert_eq!(server.identity(&peer), Some(&PeerIdentity::Psk(b"dev-1".to_vec())));
    assert_eq!(server.cipher(&peer), Some("PSK-AES128-CCM8"), "the suite LwM2M mandates comes first");
    assert_eq!(
        server.poll_event(),
        Some(DtlsEvent::Established { peer, identity: PeerIdentity::Psk(b"dev-1".to_vec()) })
    );
    assert!(server.send(peer, b"2.01 created"));
    let (_, at_client) = shuttle(&mut server, &mut client, peer, srv);
    assert_eq!(at_client, [b"2.01 created".to_vec()]);
    // Records on the wire are not the plaintext.
    client.send(srv, b"secret payload").unwrap();
    let wire = client.drain_transmits();
    assert!(!wire[0].1.windows(14).any(|w| w == b"secret payload"));
    assert_eq!(server.handle_datagram(Instant::now(), peer, &wire[0].1), [b"secret payload".to_vec()]);
    // A forged record from the client's address (an attacker spoofing it): dropped, and the
    // session goes on.
    let mut forged = vec![23u8, 0xfe, 0xfd, 0, 1, 0, 0, 0, 0, 0, 9, 0, 24];
    forged.extend_from_slice(&[0x5a; 24]);
    assert!(server.handle_datagram(Instant::now(), peer, &forged).is_empty());
    assert!(server.is_open(&peer), "a forged record does not end the session");
    client.send(srv, b"still here").unwrap();
    let wire = client.drain_transmits();
    assert_eq!(server.handle_datagram(Instant::now(), peer, &wire[0].1), [b"still here".to_vec()]);
}

#[test]
fn a_wrong_key_or_unknown_identity_never_opens_a_session() {
    for (identity, key) in [(&b"dev-1"[..], &b"wrong-key-000000"[..]), (b"nobody", b"0123456789abcdef")] {
        let mut server = DtlsServer::new(store(), DtlsLimits::default(), None).unwrap();
        let mut client = DtlsClient::psk(identity, key).unwrap();
        let (peer, srv) = (addr(40001), addr(5684));
        client.send(srv, b"register").unwrap();
        let (at_server, _) = shuttle(&mut server, &mut client, peer, srv);
        assert!(at_server.is_empty());
        assert!(!server.is_open(&peer));
        assert_eq!(server.counts().0, 0);
    }
}

#[test]
fn garbage_and_floods_stay_bounded() {
    let limits = DtlsLimits { max_handshakes: 8, handshakes_per_source: 1000, ..DtlsLimits::default() };
    let mut server = DtlsServer::new(store(), limits, None).unwrap();
    let now = Instant::now();
    // Not DTLS, truncated, and application records from strangers: ignored, nothing kept.
    for d in [&b""[..], b"\x40\x01\x00\x01", &[23u8; 40], &[22u8, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5, 1]] {
        assert!(server.handle_datagram(now, addr(1), d).is_empty());
    }
    // ClientHellos from many ports: at most 8 half-open handshakes at once.
    let mut client = DtlsClient::psk(b"dev-1", b"0123456789abcdef").unwrap();
    client.send(addr(5684), b"x").unwrap();
    let hello = client.drain_transmits().remove(0).1;
    for port in 0..500 {
        server.handle_datagram(now, addr(10_000 + port), &hello);
    }
    assert!(server.counts().1 <= 8, "{:?}", server.counts());
    assert!(server.sessions.len() <= 8);
    // Per source: the 21st handshake of one address within a second is refused.
    let mut server = DtlsServer::new(store(), DtlsLimits::default(), None).unwrap();
    for port in 0..25 {
        server.handle_datagram(now, addr(20_000 + port), &hello);
    }
    assert_eq!(server.counts().1, 20);
    // And half-open handshakes expire.
    server.handle_timeout(now + Duration::from_secs(31));
    assert_eq!(server.counts(), (0, 0));
}

#[test]
fn a_client_certificate_gives_its_cn_over_the_mandated_suite() {
    let dir = tempfile::tempdir().unwrap();
    let ca = unidm_testkit::tls::TestCa::new(dir.path());
    let (cert, key) = ca.server_pem();
    let server_x509 =
        X509Settings { cert_pem: cert.into_bytes(), key_pem: key.into_bytes(), ca_pem: ca.ca_pem.clone().into_bytes() };
    let mut server = DtlsServer::new(store(), DtlsLimits::default(), Some(&server_x509)).unwrap();
    let (cert, key) = ca.client("urn:dev:x");
    let client_x509 =
        X509Settings { cert_pem: cert.into_bytes(), key_pem: key.into_bytes(), ca_pem: ca.ca_pem.clone().into_bytes() };
    let mut client = DtlsClient::x509(&client_x509).unwrap();
    let (peer, srv) = (addr(40002), addr(5684));
    client.send(srv, b"register").unwrap();
    let (at_server, _) = shuttle(&mut server, &mut client, peer, srv);
    assert_eq!(at_server, [b"register".to_vec()]);
    assert_eq!(server.identity(&peer), Some(&PeerIdentity::Certificate("urn:dev:x".into())));
    assert_eq!(server.cipher(&peer), Some("ECDHE-ECDSA-AES128-CCM8"));
    // The same server still takes PSK clients.
    let mut psk = DtlsClient::psk(b"dev-1", b"0123456789abcdef").unwrap();
    psk.send(srv, b"x").unwrap();
    let (at_server, _) = shuttle(&mut server, &mut psk, addr(40003), srv);
    assert_eq!(at_server, [b"x".to_vec()]);
    assert_eq!(server.cipher(&addr(40003)), Some("PSK-AES128-CCM8"));
}

#[test]
fn a_client_coming_back_resumes_its_session() {
    let mut server = DtlsServer::new(store(), DtlsLimits::default(), None).unwrap();
    let mut client = DtlsClient::psk(b"dev-1", b"0123456789abcdef").unwrap();
    let srv = addr(5684);
    client.send(srv, b"first").unwrap();
    let (at_server, _) = shuttle(&mut server, &mut client, addr(40010), srv);
    assert_eq!(at_server, [b"first".to_vec()]);
    assert!(!client.resumed(&srv));
    // A new connection from a new address (as after a NAT rebinding): the abbreviated
    // handshake resumes the cached session, with its identity.
    client.forget(&srv);
    client.send(srv, b"again").unwrap();
    let (at_server, _) = shuttle(&mut server, &mut client, addr(40011), srv);
    assert_eq!(at_server, [b"again".to_vec()]);
    assert!(client.resumed(&srv), "the session was resumed");
    assert_eq!(server.identity(&addr(40011)), Some(&PeerIdentity::Psk(b"dev-1".to_vec())));
}
