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
    let mut server = DtlsServer::new(store(), DtlsLimits::default(), None, None).unwrap();
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
        let mut server = DtlsServer::new(store(), DtlsLimits::default(), None, None).unwrap();
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
    let mut server = DtlsServer::new(store(), limits, None, None).unwrap();
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
    let mut server = DtlsServer::new(store(), DtlsLimits::default(), None, None).unwrap();
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
    let mut server = DtlsServer::new(store(), DtlsLimits::default(), Some(&server_x509), None).unwrap();
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
    let mut server = DtlsServer::new(store(), DtlsLimits::default(), None, None).unwrap();
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

/// A fresh P-256 key pair: the private key in PEM, the public key as DER SPKI.
fn p256() -> (Vec<u8>, Vec<u8>) {
    let group = openssl::ec::EcGroup::from_curve_name(openssl::nid::Nid::X9_62_PRIME256V1).unwrap();
    let key = openssl::pkey::PKey::from_ec_key(openssl::ec::EcKey::generate(&group).unwrap()).unwrap();
    (key.private_key_to_pem_pkcs8().unwrap(), key.public_key_to_der().unwrap())
}

fn rpk_store(spki: &[u8], endpoint: &str) -> RpkStore {
    let s = RpkStore::default();
    s.set(spki, Rpk { endpoint: Some(endpoint.into()) });
    s
}

#[test]
fn a_raw_public_key_handshake_names_the_client_key_over_the_mandated_suite() {
    let (server_key, server_pub) = p256();
    let (client_key, client_pub) = p256();
    let rpks = rpk_store(&client_pub, "ep-r");
    let mut server = DtlsServer::new(store(), DtlsLimits::default(), None, Some((&server_key, rpks))).unwrap();
    let mut client = DtlsClient::rpk(&client_key, &server_pub).unwrap();
    let (peer, srv) = (addr(40020), addr(5684));
    client.send(srv, b"register").unwrap();
    let (at_server, _) = shuttle(&mut server, &mut client, peer, srv);
    assert_eq!(at_server, [b"register".to_vec()]);
    assert_eq!(server.identity(&peer), Some(&PeerIdentity::RawPublicKey(client_pub.clone())));
    assert_eq!(server.cipher(&peer), Some("ECDHE-ECDSA-AES128-CCM8"), "RFC 7250 mode, LwM2M's suite");
    // Answers go back over the session.
    assert!(server.send(peer, b"created"));
    let (_, at_client) = shuttle(&mut server, &mut client, peer, srv);
    assert_eq!(at_client, [b"created".to_vec()]);
    // The same server still takes PSK clients.
    let mut psk = DtlsClient::psk(b"dev-1", b"0123456789abcdef").unwrap();
    psk.send(srv, b"x").unwrap();
    let (at_server, _) = shuttle(&mut server, &mut psk, addr(40021), srv);
    assert_eq!(at_server, [b"x".to_vec()]);
}

#[test]
fn unknown_raw_public_keys_are_refused_both_ways() {
    let (server_key, server_pub) = p256();
    let (client_key, client_pub) = p256();
    let (stranger_key, _) = p256();
    let rpks = rpk_store(&client_pub, "ep-r");
    let mut server = DtlsServer::new(store(), DtlsLimits::default(), None, Some((&server_key, rpks.clone()))).unwrap();
    let srv = addr(5684);
    // A client key the server does not know: no session, nothing delivered.
    let mut stranger = DtlsClient::rpk(&stranger_key, &server_pub).unwrap();
    stranger.send(srv, b"register").unwrap();
    let (at_server, _) = shuttle(&mut server, &mut stranger, addr(40030), srv);
    assert!(at_server.is_empty());
    assert!(!server.is_open(&addr(40030)) && !stranger.is_open(&srv));
    // A server whose key is not the one the client was given: the client refuses it.
    let (other_key, _) = p256();
    let mut impostor = DtlsServer::new(store(), DtlsLimits::default(), None, Some((&other_key, rpks))).unwrap();
    let mut client = DtlsClient::rpk(&client_key, &server_pub).unwrap();
    client.send(srv, b"register").unwrap();
    let (at_server, _) = shuttle(&mut impostor, &mut client, addr(40031), srv);
    assert!(at_server.is_empty());
    assert!(!client.is_open(&srv));
    // A server key that is not EC is refused at setup.
    let rsa = openssl::pkey::PKey::from_rsa(openssl::rsa::Rsa::generate(2048).unwrap()).unwrap();
    let rsa_pem = rsa.private_key_to_pem_pkcs8().unwrap();
    let err = DtlsServer::new(store(), DtlsLimits::default(), None, Some((&rsa_pem, RpkStore::default())));
    assert!(matches!(err, Err(DtlsSetupError::Key(_))));
}

#[test]
fn public_keys_are_taken_as_pem_der_or_a_bare_point() {
    let (key_pem, der) = p256();
    let key = private_key(&key_pem).unwrap();
    let pem = key.public_key_to_pem().unwrap();
    let ec = key.ec_key().unwrap();
    let mut cx = openssl::bn::BigNumContext::new().unwrap();
    let point = ec.public_key().to_bytes(ec.group(), openssl::ec::PointConversionForm::UNCOMPRESSED, &mut cx).unwrap();
    assert_eq!(point.len(), 65);
    assert_eq!(spki(&der).unwrap(), der);
    assert_eq!(spki(&pem).unwrap(), der);
    assert_eq!(spki(&point).unwrap(), der, "04 || x || y");
    assert_eq!(spki(&point[1..]).unwrap(), der, "x || y");
    assert!(spki(b"garbage").is_err());
    assert!(spki(&[4u8; 65]).is_err(), "not on the curve");
    assert!(fingerprint(&der).starts_with("sha256:") && fingerprint(&der).len() == 7 + 16);
}

#[test]
fn one_server_takes_certificates_and_raw_keys_with_the_certificate_key() {
    let dir = tempfile::tempdir().unwrap();
    let ca = unidm_testkit::tls::TestCa::new(dir.path());
    let (cert, key) = ca.server_pem();
    let server_x509 = X509Settings {
        cert_pem: cert.into_bytes(),
        key_pem: key.clone().into_bytes(),
        ca_pem: ca.ca_pem.clone().into_bytes(),
    };
    let (client_key, client_pub) = p256();
    let rpks = rpk_store(&client_pub, "ep-r");
    // Another key than the certificate's is refused.
    let (other, _) = p256();
    assert!(DtlsServer::new(store(), DtlsLimits::default(), Some(&server_x509), Some((&other, rpks.clone()))).is_err());
    let mut server =
        DtlsServer::new(store(), DtlsLimits::default(), Some(&server_x509), Some((key.as_bytes(), rpks))).unwrap();
    let server_pub = private_key(key.as_bytes()).unwrap().public_key_to_der().unwrap();
    let srv = addr(5684);
    let mut rpk = DtlsClient::rpk(&client_key, &server_pub).unwrap();
    rpk.send(srv, b"r").unwrap();
    let (at_server, _) = shuttle(&mut server, &mut rpk, addr(40040), srv);
    assert_eq!(at_server, [b"r".to_vec()]);
    assert_eq!(server.identity(&addr(40040)), Some(&PeerIdentity::RawPublicKey(client_pub)));
    let (cert, key) = ca.client("urn:dev:x");
    let client_x509 =
        X509Settings { cert_pem: cert.into_bytes(), key_pem: key.into_bytes(), ca_pem: ca.ca_pem.clone().into_bytes() };
    let mut x = DtlsClient::x509(&client_x509).unwrap();
    x.send(srv, b"c").unwrap();
    let (at_server, _) = shuttle(&mut server, &mut x, addr(40041), srv);
    assert_eq!(at_server, [b"c".to_vec()]);
    assert_eq!(server.identity(&addr(40041)), Some(&PeerIdentity::Certificate("urn:dev:x".into())));
}

/// RFC 6347 §4.2.8: a client that lost its session (it restarted) handshakes again from the
/// same address. The old session carries on meanwhile and is replaced once the new one is
/// open; a ClientHello that never completes (spoofed) leaves the session as it was.
#[test]
fn a_new_handshake_from_the_same_address_replaces_the_session_once_it_completes() {
    let mut server = DtlsServer::new(store(), DtlsLimits::default(), None, None).unwrap();
    let (peer, srv) = (addr(40020), addr(5684));
    let mut first = DtlsClient::psk(b"dev-1", b"0123456789abcdef").unwrap();
    first.send(srv, b"before").unwrap();
    let (at_server, _) = shuttle(&mut server, &mut first, peer, srv);
    assert_eq!(at_server, [b"before".to_vec()]);
    assert_eq!(server.counts(), (1, 0));

    // A ClientHello from the same address, nothing after it: the session stays and carries.
    let mut stranger = DtlsClient::psk(b"dev-1", b"0123456789abcdef").unwrap();
    stranger.send(srv, b"x").unwrap();
    let hello = stranger.drain_transmits();
    assert!(server.handle_datagram(Instant::now(), peer, &hello[0].1).is_empty());
    server.drain_transmits();
    assert!(server.is_open(&peer), "the established session outlives a bare ClientHello");
    first.send(srv, b"during").unwrap();
    let wire = first.drain_transmits();
    assert_eq!(server.handle_datagram(Instant::now(), peer, &wire[0].1), [b"during".to_vec()]);
    assert!(server.send(peer, b"to the old session"));
    let (_, at_client) = shuttle(&mut server, &mut first, peer, srv);
    assert_eq!(at_client, [b"to the old session".to_vec()]);
    // The abandoned handshake times out: the old session is back in place.
    server.handle_timeout(Instant::now() + DtlsLimits::default().handshake_timeout + Duration::from_secs(1));
    assert!(server.is_open(&peer));
    assert_eq!(server.counts(), (1, 0));

    // The client restarted (a new DTLS state, same address): its handshake completes and the
    // new session replaces the old one.
    let mut restarted = DtlsClient::psk(b"dev-1", b"0123456789abcdef").unwrap();
    restarted.send(srv, b"after restart").unwrap();
    let (at_server, _) = shuttle(&mut server, &mut restarted, peer, srv);
    assert_eq!(at_server, [b"after restart".to_vec()]);
    assert_eq!(server.counts(), (1, 0), "one session for the address");
    assert!(server.send(peer, b"to the new session"));
    let (_, at_client) = shuttle(&mut server, &mut restarted, peer, srv);
    assert_eq!(at_client, [b"to the new session".to_vec()]);
}
