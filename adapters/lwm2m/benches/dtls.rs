//! DTLS load tool: prints full DTLS-PSK handshakes/s, memory per DTLS session, and LwM2M
//! registrations/s over established DTLS sessions through the whole adapter (UDP shell, DTLS,
//! sans-I/O server, engine on a durable SQLite file). Run by hand:
//!
//! ```text
//! cargo bench -p unidm-lwm2m --bench dtls
//! UNIDM_BENCH_HANDSHAKES=5000 UNIDM_BENCH_DEVICES=1000 UNIDM_BENCH_SECS=10 cargo bench -p unidm-lwm2m --bench dtls
//! ```
//!
//! 1. Handshakes: `UNIDM_BENCH_HANDSHAKES` (default 3 000) complete handshakes (ClientHello,
//!    HelloVerifyRequest with its cookie, the PSK exchange, Finished both ways) between a
//!    [`DtlsServer`] and fresh [`DtlsClient`]s in memory, on one core: the figure is client
//!    and server together, so the server alone does more.
//!    Then `UNIDM_BENCH_RPK_HANDSHAKES` (default 500) raw-public-key handshakes (RFC 7250,
//!    ECDHE-ECDSA on P-256, both keys checked), the same way.
//! 2. Memory: the growth of resident memory while the server holds those sessions, per
//!    session (each client is dropped once its handshake is done).
//! 3. Registrations: `UNIDM_BENCH_DEVICES` (default 500) clients, each on its own UDP socket
//!    with its own PSK identity, handshake and register once, then register again and again
//!    for `UNIDM_BENCH_SECS` (default 5) over their established sessions; every 2.01 is sent
//!    after the registration is stored (fsync on).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use coap_lite::{CoapOption, MessageClass, MessageType, Packet, RequestType};
use unidm_core::{Engine, SqliteStore};
use unidm_lwm2m::dtls::{DtlsClient, DtlsLimits, DtlsServer, Psk, PskStore};
use unidm_lwm2m::{DtlsSettings, Lwm2mAdapter, Lwm2mConfig};
use unidm_testkit::process::{cpu_time, rss};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

const KEY: &[u8] = b"0123456789abcdef";

/// Carries datagrams between one client and the server until both are quiet.
fn handshake(server: &mut DtlsServer, client: &mut DtlsClient, peer: SocketAddr, srv: SocketAddr) {
    let now = Instant::now();
    for _ in 0..16 {
        let up = client.drain_transmits();
        let down = server.drain_transmits();
        if up.is_empty() && down.is_empty() {
            return;
        }
        for (_, d) in up {
            server.handle_datagram(now, peer, &d);
        }
        for (_, d) in down {
            let _ = client.handle_datagram(srv, &d);
        }
    }
}

fn handshakes(n: usize) {
    let psks = PskStore::default();
    psks.set(b"bench", Psk { endpoint: None, key: KEY.to_vec() });
    let limits = DtlsLimits { handshakes_per_source: u32::MAX, max_sessions: n + 1, ..DtlsLimits::default() };
    let mut server = DtlsServer::new(psks, limits, None, None).unwrap();
    let srv = SocketAddr::from(([127, 0, 0, 1], 5684));
    let before = rss();
    let (cpu, start) = (cpu_time(), Instant::now());
    for i in 0..n {
        let peer = SocketAddr::from(([127, 0, 0, (i / 60_000) as u8 + 1], (i % 60_000) as u16 + 1024));
        let mut client = DtlsClient::psk(b"bench", KEY).unwrap();
        client.send(srv, b"x").unwrap();
        handshake(&mut server, &mut client, peer, srv);
        assert!(server.is_open(&peer), "handshake {i} did not complete");
    }
    let secs = start.elapsed().as_secs_f64();
    let grown = rss().saturating_sub(before);
    println!(
        "DTLS-PSK handshakes (client and server on one core, in memory): {n} in {secs:.2} s = {:.0}/s, CPU {:.0} µs each",
        n as f64 / secs,
        (cpu_time() - cpu).as_secs_f64() * 1e6 / n as f64
    );
    println!(
        "memory per DTLS session held by the server: {:.1} KiB ({} sessions)",
        grown as f64 / 1024.0 / n as f64,
        n
    );
}

fn rpk_handshakes(n: usize) {
    use unidm_lwm2m::dtls::{Rpk, RpkStore};
    let group = openssl::ec::EcGroup::from_curve_name(openssl::nid::Nid::X9_62_PRIME256V1).unwrap();
    let pair = || openssl::pkey::PKey::from_ec_key(openssl::ec::EcKey::generate(&group).unwrap()).unwrap();
    let (server_key, client_key) = (pair(), pair());
    let rpks = RpkStore::default();
    rpks.set(&client_key.public_key_to_der().unwrap(), Rpk { endpoint: None });
    let limits = DtlsLimits { handshakes_per_source: u32::MAX, max_sessions: n + 1, ..DtlsLimits::default() };
    let server_pem = server_key.private_key_to_pem_pkcs8().unwrap();
    let mut server = DtlsServer::new(PskStore::default(), limits, None, Some((&server_pem, rpks))).unwrap();
    let (client_pem, server_pub) =
        (client_key.private_key_to_pem_pkcs8().unwrap(), server_key.public_key_to_der().unwrap());
    let srv = SocketAddr::from(([127, 0, 0, 1], 5684));
    let (cpu, start) = (cpu_time(), Instant::now());
    for i in 0..n {
        let peer = SocketAddr::from(([127, 0, 1, (i / 60_000) as u8 + 1], (i % 60_000) as u16 + 1024));
        let mut client = DtlsClient::rpk(&client_pem, &server_pub).unwrap();
        client.send(srv, b"x").unwrap();
        handshake(&mut server, &mut client, peer, srv);
        assert!(server.is_open(&peer), "RPK handshake {i} did not complete");
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "DTLS-RPK handshakes, ECDHE-ECDSA P-256 (client and server on one core, in memory): {n} in {secs:.2} s = {:.0}/s, CPU {:.0} µs each",
        n as f64 / secs,
        (cpu_time() - cpu).as_secs_f64() * 1e6 / n as f64
    );
}

fn register_request(ep: &str, mid: u16) -> Vec<u8> {
    let mut p = Packet::new();
    p.header.set_type(MessageType::Confirmable);
    p.header.code = MessageClass::Request(RequestType::Post);
    p.header.message_id = mid;
    p.set_token(mid.to_be_bytes().to_vec());
    p.add_option(CoapOption::UriPath, b"rd".to_vec());
    for q in [format!("ep={ep}"), "lt=300".into(), "b=U".into()] {
        p.add_option(CoapOption::UriQuery, q.into_bytes());
    }
    p.payload = b"</1/0>,</3/0>".to_vec();
    p.to_bytes().unwrap()
}

/// One device: handshake + first registration, then registrations until `until`.
async fn device(
    i: usize,
    server: SocketAddr,
    start: Arc<tokio::sync::Barrier>,
    until: Arc<std::sync::Mutex<Option<Instant>>>,
    done: Arc<AtomicUsize>,
) {
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let ep = format!("dtls-bench-{i}");
    let mut client = DtlsClient::psk(ep.as_bytes(), KEY).unwrap();
    let mut buf = vec![0u8; 2048];
    let mut mid = 1u16;
    let mut first = true;
    loop {
        client.send(server, &register_request(&ep, mid)).unwrap();
        mid = mid.wrapping_add(1);
        let answered = loop {
            for (to, d) in client.drain_transmits() {
                socket.send_to(&d, to).await.unwrap();
            }
            match tokio::time::timeout(Duration::from_secs(2), socket.recv_from(&mut buf)).await {
                Ok(Ok((n, from))) => match client.handle_datagram(from, &buf[..n]) {
                    // Only a 2.01 Created counts.
                    Ok(app) if !app.is_empty() => {
                        break app.iter().any(|a| {
                            Packet::from_bytes(a).is_ok_and(|p| {
                                p.header.code == MessageClass::Response(coap_lite::ResponseType::Created)
                            })
                        })
                    }
                    Ok(_) => {}
                    Err(_) => break false,
                },
                _ => break false,
            }
        };
        if first {
            first = false;
            start.wait().await;
            continue;
        }
        let end = until.lock().unwrap().unwrap_or_else(Instant::now);
        if answered {
            done.fetch_add(1, Ordering::Relaxed);
        }
        if Instant::now() >= end {
            return;
        }
    }
}

async fn registrations(devices: usize, secs: u64) {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Lwm2mConfig::new("127.0.0.1:0".parse().unwrap());
    config.read_device_on_register = false;
    config.bootstrap_listen = None;
    config.server.registration.max_registers_per_source = u32::MAX;
    let limits = DtlsLimits { handshakes_per_source: u32::MAX, ..DtlsLimits::default() };
    config.dtls = Some(DtlsSettings { listen: "127.0.0.1:0".parse().unwrap(), limits, ..Default::default() });
    for i in 0..devices {
        let ep = format!("dtls-bench-{i}");
        config.psks.set(ep.as_bytes(), Psk { endpoint: Some(ep.clone()), key: KEY.to_vec() });
    }
    let adapter = Arc::new(Lwm2mAdapter::new(config));
    let engine = Engine::builder()
        .store(SqliteStore::open(dir.path().join("bench.db")).unwrap())
        .adapter_arc(adapter.clone())
        .start()
        .await
        .unwrap();
    let server = adapter.dtls_addr().unwrap();
    let start = Arc::new(tokio::sync::Barrier::new(devices + 1));
    let until = Arc::new(std::sync::Mutex::new(None));
    let done = Arc::new(AtomicUsize::new(0));
    let t0 = Instant::now();
    let tasks: Vec<_> =
        (0..devices).map(|i| tokio::spawn(device(i, server, start.clone(), until.clone(), done.clone()))).collect();
    start.wait().await;
    println!("{devices} devices: handshake + first registration over DTLS in {:.2} s", t0.elapsed().as_secs_f64());
    let (cpu, t1) = (cpu_time(), Instant::now());
    *until.lock().unwrap() = Some(t1 + Duration::from_secs(secs));
    for t in tasks {
        let _ = t.await;
    }
    let secs = t1.elapsed().as_secs_f64();
    let n = done.load(Ordering::Relaxed);
    println!(
        "registrations over established DTLS sessions (durable store): {n} in {secs:.2} s = {:.0}/s, process CPU {:.0} µs each",
        n as f64 / secs,
        (cpu_time() - cpu).as_secs_f64() * 1e6 / n.max(1) as f64
    );
    engine.shutdown().await;
}

fn main() {
    handshakes(env("UNIDM_BENCH_HANDSHAKES", 3000));
    rpk_handshakes(env("UNIDM_BENCH_RPK_HANDSHAKES", 500));
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(registrations(env("UNIDM_BENCH_DEVICES", 500), env("UNIDM_BENCH_SECS", 5) as u64));
}
