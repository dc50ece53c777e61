//! Drives many simulated devices through a block-wise firmware push to `/5/0/0` over a lossy
//! link, on a simulated clock: the server side uses `Exchanges` + `Block1Sender`, each device
//! a `Deduplicator` that replays its answers to retransmitted blocks.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use coap_lite::{CoapOption, MessageClass, MessageType, Packet, RequestType, ResponseType};
use unidm_lwm2m::coap::block::{Block1Sender, Block1Step, BlockOption};
use unidm_lwm2m::coap::dedup::{Deduplicator, Seen};
use unidm_lwm2m::coap::exchange::{ExchangeEvent, Exchanges};
use unidm_lwm2m::coap::{TransmissionParams, Transmit};

struct Device {
    dedup: Deduplicator,
    image: Vec<u8>,
    done: bool,
}

impl Device {
    /// The device's CoAP server: checks duplicates, stores blocks, answers piggybacked.
    fn receive(&mut self, now: Instant, from: SocketAddr, bytes: &[u8]) -> Option<Vec<u8>> {
        let request = Packet::from_bytes(bytes).ok()?;
        let mid = request.header.message_id;
        match self.dedup.check(now, from, mid, true) {
            Seen::Replay(answer) => return Some(answer),
            Seen::Drop => return None,
            Seen::New => {}
        }
        let block = BlockOption::from_packet(&request, CoapOption::Block1).ok()??;
        let mut reply = Packet::new();
        reply.header.set_type(MessageType::Acknowledgement);
        reply.header.message_id = mid;
        reply.set_token(request.get_token().to_vec());
        if block.offset() == self.image.len() {
            self.image.extend_from_slice(&request.payload);
        }
        reply.header.code = MessageClass::Response(if block.more {
            ResponseType::Continue
        } else {
            self.done = true;
            ResponseType::Changed
        });
        reply.add_option(CoapOption::Block1, block.encode());
        let answer = reply.to_bytes().ok()?;
        self.dedup.store_response(from, mid, answer.clone());
        Some(answer)
    }
}

#[test]
fn two_hundred_devices_take_a_firmware_over_a_lossy_link() {
    const DEVICES: u16 = 200;
    let params = TransmissionParams::default();
    let server: SocketAddr = "192.0.2.1:5683".parse().unwrap();
    let image: Vec<u8> = (0..3000u32).map(|i| (i % 251) as u8).collect();
    let t0 = Instant::now();
    let mut now = t0;
    let mut exchanges = Exchanges::new(params, 4242, 10_000);
    let mut devices: HashMap<SocketAddr, Device> = HashMap::new();
    let mut senders: HashMap<SocketAddr, Block1Sender> = HashMap::new();

    let mut put = Packet::new();
    put.header.set_type(MessageType::Confirmable);
    put.header.code = MessageClass::Request(RequestType::Put);
    for seg in ["5", "0", "0"] {
        put.add_option(CoapOption::UriPath, seg.as_bytes().to_vec());
    }
    for d in 0..DEVICES {
        let addr = SocketAddr::from(([10, 0, (d >> 8) as u8, d as u8], 5683));
        devices.insert(addr, Device { dedup: Deduplicator::new(&params, 4, 64), image: Vec::new(), done: false });
        let mut template = put.clone();
        template.set_token(d.to_be_bytes().to_vec());
        let sender = Block1Sender::new(template, image.clone(), 4, 1 << 20).unwrap();
        exchanges.send_request(now, addr, sender.request(), f64::from(d % 10) / 10.0).unwrap();
        senders.insert(addr, sender);
    }

    // Deterministic loss: every 5th datagram in either direction disappears.
    let mut datagrams = 0u64;
    let mut lost = 0u64;
    let mut delivered = |_: &Transmit| {
        datagrams += 1;
        if datagrams % 5 == 0 {
            lost += 1;
            false
        } else {
            true
        }
    };
    let mut finished = 0;
    let mut timeouts = 0u32;
    while finished < DEVICES as usize {
        let mut progressed = false;
        while let Some(t) = exchanges.poll_transmit() {
            progressed = true;
            if !delivered(&t) {
                continue;
            }
            let Some(device) = devices.get_mut(&t.peer) else {
                continue;
            };
            if let Some(answer) = device.receive(now, server, &t.bytes) {
                if !delivered(&Transmit { peer: server, bytes: answer.clone() }) {
                    continue;
                }
                let packet = Packet::from_bytes(&answer).unwrap();
                exchanges.handle(now, t.peer, &packet);
            }
        }
        while let Some(event) = exchanges.poll_event() {
            progressed = true;
            match event {
                ExchangeEvent::Response { peer, response, .. } => {
                    let sender = senders.get_mut(&peer).unwrap();
                    match sender.on_response(&response).unwrap() {
                        Block1Step::Continue(next) => {
                            exchanges.send_request(now, peer, next, 0.5).unwrap();
                        }
                        Block1Step::Done(last) => {
                            assert_eq!(last.header.code, MessageClass::Response(ResponseType::Changed));
                            finished += 1;
                        }
                    }
                }
                // Five lost transmissions in a row happen at this loss rate: the
                // application resends the block in flight, as a real server would.
                ExchangeEvent::TimedOut { peer, .. } => {
                    timeouts += 1;
                    let request = senders.get(&peer).unwrap().request();
                    exchanges.send_request(now, peer, request, 0.5).unwrap();
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        if !progressed {
            let next = exchanges.poll_timeout().expect("a timer while work remains");
            assert!(next >= now);
            now = next;
            exchanges.handle_timeout(now);
        }
    }
    assert!(lost > 0);
    assert!(timeouts < 100, "{timeouts} exchanges timed out");
    for device in devices.values() {
        assert!(device.done);
        assert_eq!(device.image, image);
    }
    assert_eq!(exchanges.pending_count(), 0);
    // Simulated time stays within what retransmission allows, real time is a few ms.
    assert!(now - t0 < Duration::from_secs(3600));
}
