//! The sans-I/O server without sockets: how fast Register and a Device Management round trip
//! go through `Server` (run by hand: `cargo bench -p unidm-lwm2m --bench server_sansio`).

use std::net::SocketAddr;
use std::time::Instant;

use coap_lite::{CoapOption, MessageClass, MessageType, Packet, RequestType, ResponseType};
use criterion::{criterion_group, criterion_main, Criterion};
use unidm_lwm2m::server::{DmRequest, Server, ServerConfig};
use unidm_lwm2m::Path;

fn register(i: u32) -> Vec<u8> {
    let mut p = Packet::new();
    p.header.set_type(MessageType::Confirmable);
    p.header.code = MessageClass::Request(RequestType::Post);
    p.header.message_id = i as u16;
    p.set_token(i.to_be_bytes().to_vec());
    p.add_option(CoapOption::UriPath, b"rd".to_vec());
    p.add_option(CoapOption::UriQuery, format!("ep=dev{i}").into_bytes());
    p.add_option(CoapOption::UriQuery, b"lt=300".to_vec());
    p.payload = b"</1/0>,</3/0>,</5/0>".to_vec();
    p.to_bytes().unwrap()
}

fn peer(i: u32) -> SocketAddr {
    SocketAddr::from(([10, (i >> 16) as u8, (i >> 8) as u8, i as u8], 5683))
}

fn bench(c: &mut Criterion) {
    c.bench_function("register 1000 clients", |b| {
        let datagrams: Vec<_> = (0..1000).map(register).collect();
        b.iter(|| {
            let mut s = Server::new(ServerConfig::default(), 1);
            let now = Instant::now();
            for (i, d) in datagrams.iter().enumerate() {
                s.handle_datagram(now, peer(i as u32), d);
                while s.poll_transmit().is_some() {}
                while s.poll_event().is_some() {}
            }
            s
        })
    });
    c.bench_function("read round trip", |b| {
        let mut s = Server::new(ServerConfig::default(), 1);
        let now = Instant::now();
        s.handle_datagram(now, peer(0), &register(0));
        while s.poll_transmit().is_some() {}
        while s.poll_event().is_some() {}
        b.iter(|| {
            s.request(now, "dev0", DmRequest::new(RequestType::Get, Path::Resource(3, 0, 0)));
            let t = s.poll_transmit().unwrap();
            let req = Packet::from_bytes(&t.bytes).unwrap();
            let mut ack = Packet::new();
            ack.header.set_type(MessageType::Acknowledgement);
            ack.header.message_id = req.header.message_id;
            ack.header.code = MessageClass::Response(ResponseType::Content);
            ack.set_token(req.get_token().to_vec());
            ack.payload = b"Acme".to_vec();
            s.handle_datagram(now, peer(0), &ack.to_bytes().unwrap());
            s.poll_event().unwrap()
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
