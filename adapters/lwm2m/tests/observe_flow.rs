//! Observe of /3/0/9 (Battery Level) against a simulated device on a simulated clock: the
//! registration goes through `Exchanges`, notifications (one reordered, one duplicated) go to
//! `Observations`, and an active cancel then a stray notification show both cancel styles.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use coap_lite::{CoapOption, MessageClass, MessageType, Packet, RequestType, ResponseType};
use unidm_lwm2m::coap::exchange::{ExchangeEvent, Exchanges};
use unidm_lwm2m::coap::observe::{observe_value, Notification, Observations, DEREGISTER};
use unidm_lwm2m::coap::{empty_ack, encode_uint, reset, TransmissionParams};

fn device() -> SocketAddr {
    "198.51.100.4:56830".parse().unwrap()
}

fn notification(mid: u16, token: &[u8], seq: u32, level: u8) -> Packet {
    let mut n = Packet::new();
    n.header.set_type(MessageType::Confirmable);
    n.header.code = MessageClass::Response(ResponseType::Content);
    n.header.message_id = mid;
    n.set_token(token.to_vec());
    n.add_option(CoapOption::Observe, encode_uint(seq));
    n.payload = level.to_string().into_bytes();
    n
}

#[test]
fn observe_battery_level() {
    let t0 = Instant::now();
    let params = TransmissionParams::default();
    let mut exchanges = Exchanges::new(params, 1, 64);
    let mut observations = Observations::new(16);
    let token = b"bat".to_vec();

    let mut get = Packet::new();
    get.header.set_type(MessageType::Confirmable);
    get.header.code = MessageClass::Request(RequestType::Get);
    get.set_token(token.clone());
    for seg in ["3", "0", "9"] {
        get.add_option(CoapOption::UriPath, seg.as_bytes().to_vec());
    }
    let register = observations.register(device(), get).unwrap();
    let mid = exchanges.send_request(t0, device(), register, 0.3).unwrap();
    let sent = Packet::from_bytes(&exchanges.poll_transmit().unwrap().bytes).unwrap();
    assert_eq!(observe_value(&sent), Some(0));

    // The device answers piggybacked with Observe=5.
    let mut first = notification(mid, &token, 5, 90);
    first.header.set_type(MessageType::Acknowledgement);
    assert!(exchanges.handle(t0, device(), &first));
    let Some(ExchangeEvent::Response { response, .. }) = exchanges.poll_event() else {
        panic!("no response");
    };
    assert_eq!(observations.on_response(t0, device(), &response), Notification::Fresh { sequence: 5 });

    // Notifications: 7 then a late 6, then 7 again (a retransmission).
    let mut delivered = Vec::new();
    let t1 = t0 + Duration::from_secs(60);
    for (mid, seq, level) in [(500, 7, 80), (501, 6, 85), (500, 7, 80)] {
        let n = notification(mid, &token, seq, level);
        assert!(!exchanges.handle(t1, device(), &n), "not an exchange");
        let outcome = observations.on_response(t1, device(), &n);
        // Every CON notification is ACKed, fresh or not.
        assert_eq!(empty_ack(&n).header.message_id, mid);
        if let Notification::Fresh { .. } = outcome {
            delivered.push(n.payload.clone());
        }
    }
    assert_eq!(delivered, vec![b"80".to_vec()]);

    // Active cancel: GET with Observe=1 and the same token.
    let cancel = observations.cancel(device(), &token).unwrap();
    assert_eq!(observe_value(&cancel), Some(DEREGISTER));
    exchanges.send_request(t1, device(), cancel, 0.0).unwrap();
    assert!(exchanges.poll_transmit().is_some());

    // A notification already in flight finds no observation: answer with RST.
    let stray = notification(502, &token, 8, 79);
    assert_eq!(observations.on_response(t1, device(), &stray), Notification::Unknown);
    assert_eq!(reset(&stray).header.get_type(), MessageType::Reset);
}
