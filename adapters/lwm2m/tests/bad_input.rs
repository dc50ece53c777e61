//! Untrusted peers: malformed CoAP, oversized payloads and registration floods are dropped or
//! answered with errors, and what the server keeps stays bounded.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use coap_lite::{CoapOption, MessageClass, MessageType, Packet, RequestType, ResponseType};
use common::Fixture;
use tokio::net::UdpSocket;
use unidm_core::DeviceQuery;
use unidm_lwm2m::sim::{SimClient, SimConfig};

fn register(mid: u16, ep: &str, payload: Vec<u8>) -> Vec<u8> {
    let mut p = Packet::new();
    p.header.set_type(MessageType::Confirmable);
    p.header.code = MessageClass::Request(RequestType::Post);
    p.header.message_id = mid;
    p.set_token(mid.to_be_bytes().to_vec());
    p.add_option(CoapOption::UriPath, b"rd".to_vec());
    p.add_option(CoapOption::UriQuery, format!("ep={ep}").into_bytes());
    p.payload = payload;
    p.to_bytes_with_limit(65_000).unwrap()
}

async fn answer(socket: &UdpSocket) -> Option<Packet> {
    let mut buf = vec![0u8; 2048];
    let (n, _) = tokio::time::timeout(Duration::from_millis(500), socket.recv_from(&mut buf)).await.ok()?.ok()?;
    Packet::from_bytes(&buf[..n]).ok()
}

fn code(p: &Packet) -> ResponseType {
    match p.header.code {
        MessageClass::Response(r) => r,
        _ => ResponseType::UnKnown,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_and_oversized_datagrams_are_refused() {
    let f = Fixture::new().await;
    let socket = UdpSocket::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await.unwrap();
    for garbage in [&[0xFFu8, 0x00][..], &[0x40, 0x02], &[0x4F; 40], &[]] {
        socket.send_to(garbage, f.addr()).await.unwrap();
    }
    assert!(answer(&socket).await.is_none(), "garbage gets no answer");
    socket.send_to(&register(1, "big", vec![b'<'; 20_000]), f.addr()).await.unwrap();
    assert_eq!(answer(&socket).await.map(|p| code(&p)), Some(ResponseType::RequestEntityTooLarge));
    socket.send_to(&register(2, "bad", b"</3/0".to_vec()), f.addr()).await.unwrap();
    assert_eq!(answer(&socket).await.map(|p| code(&p)), Some(ResponseType::BadRequest));
    // The server still works.
    let sim = SimClient::start(SimConfig::new("after-garbage", f.addr())).await.unwrap();
    sim.register().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registration_flood_from_one_address_is_bounded() {
    let mut config = common::config();
    config.server.registration.max_registers_per_source = 10;
    config.read_device_on_register = false;
    let f = Fixture::with(config).await;
    let socket = UdpSocket::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await.unwrap();
    let mut created = 0;
    let mut refused = 0;
    for i in 0..200u16 {
        socket.send_to(&register(i, &format!("flood-{i}"), b"</3/0>".to_vec()), f.addr()).await.unwrap();
        match answer(&socket).await.map(|p| code(&p)) {
            Some(ResponseType::Created) => created += 1,
            Some(ResponseType::TooManyRequests) => refused += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!((created, refused), (10, 190));
    tokio::time::sleep(Duration::from_millis(200)).await;
    let page = f.engine.devices(&DeviceQuery { limit: 1000, ..DeviceQuery::default() }).unwrap();
    assert_eq!(page.total, 10, "only admitted registrations became devices");
    // A retransmission of a recent message is answered from the deduplication cache.
    socket.send_to(&register(199, "flood-199", b"</3/0>".to_vec()), f.addr()).await.unwrap();
    let replay = answer(&socket).await.expect("replayed");
    assert_eq!((code(&replay), replay.header.message_id), (ResponseType::TooManyRequests, 199));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deny_list_answers_forbidden() {
    let mut config = common::config();
    config.server.registration.deny = vec!["evil-*".into()];
    let f = Fixture::with(config).await;
    let socket = UdpSocket::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await.unwrap();
    socket.send_to(&register(9, "evil-1", Vec::new()), f.addr()).await.unwrap();
    assert_eq!(answer(&socket).await.map(|p| code(&p)), Some(ResponseType::Forbidden));
}
