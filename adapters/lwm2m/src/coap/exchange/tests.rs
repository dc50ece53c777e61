use super::*;
use coap_lite::{RequestType, ResponseType};

fn peer() -> SocketAddr {
    SocketAddr::from(([192, 0, 2, 7], 5683))
}

fn get(token: &[u8], kind: MessageType) -> Packet {
    let mut p = Packet::new();
    p.header.set_type(kind);
    p.header.code = MessageClass::Request(RequestType::Get);
    p.set_token(token.to_vec());
    p.add_option(coap_lite::CoapOption::UriPath, b"3".to_vec());
    p
}

fn response(kind: MessageType, mid: u16, token: &[u8]) -> Packet {
    let mut p = Packet::new();
    p.header.set_type(kind);
    p.header.code = MessageClass::Response(ResponseType::Content);
    p.header.message_id = mid;
    p.set_token(token.to_vec());
    p.payload = b"ok".to_vec();
    p
}

fn drain(x: &mut Exchanges) -> Vec<Transmit> {
    std::iter::from_fn(|| x.poll_transmit()).collect()
}

/// RFC 7252 §4.2: timeouts 2, 4, 8, 16 s between the 5 transmissions, give up 32 s after the
/// last one (random factor 0), i.e. after 62 s; with factor 1.5 the total is 93 s
/// (MAX_TRANSMIT_WAIT).
#[test]
fn retransmits_with_exponential_backoff_then_times_out() {
    for (random, total) in [(0.0, 62.0), (1.0, 93.0)] {
        let t0 = Instant::now();
        let mut x = Exchanges::new(TransmissionParams::default(), 100, 8);
        x.send_request(t0, peer(), get(b"t", MessageType::Confirmable), random).unwrap();
        let first = drain(&mut x);
        assert_eq!(first.len(), 1);
        let mut sends = vec![0.0];
        let mut now = t0;
        while let Some(deadline) = x.poll_timeout() {
            now = deadline;
            x.handle_timeout(now);
            for t in drain(&mut x) {
                assert_eq!(t.bytes, first[0].bytes);
                sends.push((now - t0).as_secs_f64());
            }
        }
        let unit = 2.0 * (1.0 + random * 0.5);
        let expected: Vec<f64> = [0.0, 1.0, 3.0, 7.0, 15.0].iter().map(|k| k * unit).collect();
        assert_eq!(sends, expected);
        assert!(((now - t0).as_secs_f64() - total).abs() < 1e-6);
        assert_eq!(x.poll_event(), Some(ExchangeEvent::TimedOut { peer: peer(), token: b"t".to_vec() }));
        assert_eq!(x.pending_count(), 0);
    }
}

#[test]
fn piggybacked_response_completes_the_exchange() {
    let t0 = Instant::now();
    let mut x = Exchanges::new(TransmissionParams::default(), 100, 8);
    let mid = x.send_request(t0, peer(), get(b"a", MessageType::Confirmable), 0.5).unwrap();
    drain(&mut x);
    // A response with the right token but another message id is not a piggybacked answer.
    assert!(!x.handle(t0, peer(), &response(MessageType::Acknowledgement, mid + 1, b"a")));
    assert!(x.handle(t0, peer(), &response(MessageType::Acknowledgement, mid, b"a")));
    assert!(matches!(x.poll_event(), Some(ExchangeEvent::Response { .. })));
    assert_eq!(x.poll_timeout(), None);
    // A duplicate ACK afterwards is unmatched.
    assert!(!x.handle(t0, peer(), &response(MessageType::Acknowledgement, mid, b"a")));
}

#[test]
fn empty_ack_then_separate_con_response_is_acked() {
    let t0 = Instant::now();
    let mut x = Exchanges::new(TransmissionParams::default(), 100, 8);
    let mid = x.send_request(t0, peer(), get(b"s", MessageType::Confirmable), 0.0).unwrap();
    drain(&mut x);
    let mut ack = Packet::new();
    ack.header.set_type(MessageType::Acknowledgement);
    ack.header.code = MessageClass::Empty;
    ack.header.message_id = mid;
    assert!(x.handle(t0, peer(), &ack));
    // No retransmission after the ACK; the wait for the response is MAX_TRANSMIT_WAIT.
    assert_eq!(x.poll_timeout(), Some(t0 + Duration::from_secs(93)));
    x.handle_timeout(t0 + Duration::from_secs(10));
    assert!(drain(&mut x).is_empty());
    let separate = response(MessageType::Confirmable, 9000, b"s");
    assert!(x.handle(t0, peer(), &separate));
    let sent = drain(&mut x);
    assert_eq!(sent.len(), 1);
    let reply = Packet::from_bytes(&sent[0].bytes).unwrap();
    assert_eq!(reply.header.get_type(), MessageType::Acknowledgement);
    assert_eq!(reply.header.message_id, 9000);
    assert!(matches!(x.poll_event(), Some(ExchangeEvent::Response { .. })));
}

#[test]
fn reset_and_non_requests() {
    let t0 = Instant::now();
    let mut x = Exchanges::new(TransmissionParams::default(), u16::MAX, 8);
    let mid = x.send_request(t0, peer(), get(b"r", MessageType::Confirmable), 0.0).unwrap();
    assert_eq!(mid, u16::MAX);
    let mut rst = Packet::new();
    rst.header.set_type(MessageType::Reset);
    rst.header.code = MessageClass::Empty;
    rst.header.message_id = mid;
    assert!(x.handle(t0, peer(), &rst));
    assert_eq!(x.poll_event(), Some(ExchangeEvent::Reset { peer: peer(), token: b"r".to_vec() }));
    // NON: sent once, never retransmitted, times out after MAX_TRANSMIT_WAIT.
    let mid = x.send_request(t0, peer(), get(b"n", MessageType::NonConfirmable), 0.0).unwrap();
    assert_eq!(mid, 0, "message ids wrap");
    assert_eq!(x.poll_timeout(), Some(t0 + Duration::from_secs(93)));
    let resp = response(MessageType::NonConfirmable, 77, b"n");
    assert!(x.handle(t0, peer(), &resp));
    assert!(matches!(x.poll_event(), Some(ExchangeEvent::Response { .. })));
}

#[test]
fn bounds_and_token_reuse() {
    let t0 = Instant::now();
    let mut x = Exchanges::new(TransmissionParams::default(), 0, 2);
    x.send_request(t0, peer(), get(b"1", MessageType::Confirmable), 0.0).unwrap();
    assert_eq!(x.send_request(t0, peer(), get(b"1", MessageType::Confirmable), 0.0), Err(CoapError::TokenInUse));
    x.send_request(t0, peer(), get(b"2", MessageType::Confirmable), 0.0).unwrap();
    assert_eq!(
        x.send_request(t0, peer(), get(b"3", MessageType::Confirmable), 0.0),
        Err(CoapError::TooMany("exchanges"))
    );
    x.cancel(peer(), b"1");
    assert_eq!(x.pending_count(), 1);
    // A request too large for one datagram is refused, not truncated.
    let mut big = get(b"4", MessageType::Confirmable);
    big.payload = vec![0; 2000];
    assert!(matches!(x.send_request(t0, peer(), big, 0.0), Err(CoapError::Encode(_))));
}

/// The timer queue follows every way an exchange moves or ends (piggybacked response, empty
/// ACK, reset, cancel, retransmission, time-out): one timer per pending request, and the next
/// timeout is the soonest of their deadlines.
#[test]
fn one_timer_per_pending_request_and_the_soonest_is_next() {
    let check = |x: &Exchanges| {
        assert_eq!(x.timers.len(), x.pending.len());
        assert_eq!(x.poll_timeout(), x.pending.values().map(|p| p.deadline).min());
        for ((peer, token), p) in &x.pending {
            assert!(x.timers.contains(&(p.deadline, *peer, token.clone())));
        }
    };
    let t0 = Instant::now();
    let mut x = Exchanges::new(TransmissionParams::default(), 1, 64);
    let mut mids = Vec::new();
    for i in 0..8u8 {
        let random = f64::from(i) / 8.0;
        mids.push(x.send_request(t0, peer(), get(&[i], MessageType::Confirmable), random).unwrap());
        check(&x);
    }
    drain(&mut x);
    let later = t0 + Duration::from_millis(100);
    assert!(x.handle(later, peer(), &response(MessageType::Acknowledgement, mids[0], &[0])));
    check(&x);
    let mut ack = Packet::new();
    ack.header.set_type(MessageType::Acknowledgement);
    ack.header.code = MessageClass::Empty;
    ack.header.message_id = mids[1];
    assert!(x.handle(later, peer(), &ack));
    check(&x);
    ack.header.set_type(MessageType::Reset);
    ack.header.message_id = mids[2];
    assert!(x.handle(later, peer(), &ack));
    check(&x);
    x.cancel(peer(), &[3]);
    check(&x);
    // Retransmissions, then time-outs, one due deadline after another.
    while let Some(deadline) = x.poll_timeout() {
        x.handle_timeout(deadline);
        check(&x);
    }
    assert_eq!(x.pending_count(), 0);
    let timed_out =
        std::iter::from_fn(|| x.poll_event()).filter(|e| matches!(e, ExchangeEvent::TimedOut { .. })).count();
    assert_eq!(timed_out, 5, "request 1 (empty ACK, no response) and requests 4 to 7");
}
