//! Property tests over the whole CoAP layer: hostile datagrams never panic anything, and the
//! retransmission schedule stays inside the bounds of RFC 7252 §4.8 for any random factor.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use coap_lite::{CoapOption, MessageClass, MessageType, Packet, RequestType};
use proptest::prelude::*;

use super::block::{Block1Sender, Block2Assembler, BlockOption};
use super::dedup::Deduplicator;
use super::exchange::{ExchangeEvent, Exchanges};
use super::observe::Observations;
use super::TransmissionParams;

fn peer() -> SocketAddr {
    SocketAddr::from(([203, 0, 113, 5], 5683))
}

fn request(token: &[u8]) -> Packet {
    let mut p = Packet::new();
    p.header.set_type(MessageType::Confirmable);
    p.header.code = MessageClass::Request(RequestType::Get);
    p.set_token(token.to_vec());
    p
}

/// Messages close enough to the real ones to reach deep into the state machines.
fn plausible_packet() -> impl Strategy<Value = Vec<u8>> {
    (
        0u8..4,
        any::<u8>(),
        0u16..4,
        0u8..4,
        proptest::option::of(proptest::collection::vec(any::<u8>(), 0..4)),
        proptest::option::of(proptest::collection::vec(any::<u8>(), 0..4)),
        proptest::option::of(proptest::collection::vec(any::<u8>(), 0..4)),
        proptest::collection::vec(any::<u8>(), 0..40),
    )
        .prop_map(|(kind, code, mid, token, observe, block1, block2, payload)| {
            let mut p = Packet::new();
            p.header.set_type(match kind {
                0 => MessageType::Confirmable,
                1 => MessageType::NonConfirmable,
                2 => MessageType::Acknowledgement,
                _ => MessageType::Reset,
            });
            p.header.code = MessageClass::from(code);
            p.header.message_id = mid;
            p.set_token(vec![token]);
            for (opt, value) in
                [(CoapOption::Observe, observe), (CoapOption::Block1, block1), (CoapOption::Block2, block2)]
            {
                if let Some(v) = value {
                    p.add_option(opt, v);
                }
            }
            p.payload = payload;
            p.to_bytes().unwrap_or_default()
        })
}

proptest! {
    #[test]
    fn hostile_datagrams_never_panic(datagrams in proptest::collection::vec(
        prop_oneof![proptest::collection::vec(any::<u8>(), 0..64), plausible_packet()], 1..16)
    ) {
        let t0 = Instant::now();
        let params = TransmissionParams::default();
        let mut x = Exchanges::new(params, 0, 8);
        let mut obs = Observations::new(8);
        let mut dedup = Deduplicator::new(&params, 4, 4);
        let mut asm = Block2Assembler::new(4096);
        let mut sender = Block1Sender::new(request(&[1]), vec![0; 300], 0, 4096).unwrap();
        for token in [[0u8], [1], [2]] {
            let reg = obs.register(peer(), request(&token)).unwrap();
            x.send_request(t0, peer(), reg, 0.5).unwrap();
        }
        for (i, bytes) in datagrams.iter().enumerate() {
            let now = t0 + Duration::from_secs(i as u64 * 7);
            let _ = BlockOption::decode(bytes);
            let Ok(packet) = Packet::from_bytes(bytes) else { continue };
            let _ = dedup.check(now, peer(), packet.header.message_id, true);
            if !x.handle(now, peer(), &packet) {
                let _ = obs.on_response(now, peer(), &packet);
            }
            let _ = asm.on_response(&packet);
            let _ = sender.on_response(&packet);
            x.handle_timeout(now);
            while x.poll_transmit().is_some() {}
            while x.poll_event().is_some() {}
        }
    }

    /// Five transmissions, given up between 62 s (factor 1) and 93 s (factor 1.5) after the
    /// first one: MAX_TRANSMIT_WAIT bounds the wait.
    #[test]
    fn retransmission_schedule_is_bounded(random in 0.0f64..=1.0) {
        let t0 = Instant::now();
        let params = TransmissionParams::default();
        let mut x = Exchanges::new(params, 0, 1);
        x.send_request(t0, peer(), request(b"p"), random).unwrap();
        let mut transmissions = 0;
        let mut now = t0;
        loop {
            while x.poll_transmit().is_some() {
                transmissions += 1;
            }
            let Some(next) = x.poll_timeout() else { break };
            prop_assert!(next > now);
            now = next;
            x.handle_timeout(now);
        }
        prop_assert_eq!(transmissions, 1 + params.max_retransmit);
        let waited = now - t0;
        prop_assert!(waited >= Duration::from_secs(62));
        prop_assert!(waited <= params.max_transmit_wait());
        let timed_out = matches!(x.poll_event(), Some(ExchangeEvent::TimedOut { .. }));
        prop_assert!(timed_out);
    }

    /// Any body, any block size: Block1 blocks reassemble to the body.
    #[test]
    fn block1_blocks_cover_the_payload(body in proptest::collection::vec(any::<u8>(), 0..3000),
                                       szx in 0u8..=6) {
        let mut sender = Block1Sender::new(request(b"b"), body.clone(), szx, 1 << 16).unwrap();
        let mut got = Vec::new();
        let mut req = sender.request();
        loop {
            let block = BlockOption::from_packet(&req, CoapOption::Block1).unwrap().unwrap();
            prop_assert_eq!(block.offset(), got.len());
            got.extend_from_slice(&req.payload);
            let mut resp = Packet::new();
            resp.header.set_type(MessageType::Acknowledgement);
            resp.header.code = MessageClass::Response(if block.more {
                coap_lite::ResponseType::Continue
            } else {
                coap_lite::ResponseType::Changed
            });
            resp.add_option(CoapOption::Block1, block.encode());
            match sender.on_response(&resp).unwrap() {
                super::block::Block1Step::Continue(next) => req = next,
                super::block::Block1Step::Done(_) => break,
            }
        }
        prop_assert_eq!(got, body);
    }
}
