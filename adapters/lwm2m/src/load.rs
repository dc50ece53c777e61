//! A load generator for any LwM2M server over the network (`unidm bench lwm2m`, and the
//! in-process `benches/server.rs`): many simulated clients share one UDP socket each
//! [`LoadSocket`], register distinct endpoints (CON, retransmitted after 2 s, four times at
//! most), answer the server's Device Management requests from a simulated object tree
//! ([`crate::sim::Objects`]), and send notifications on the observations the server made.
//! [`Latencies`] keeps what the percentiles need.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use coap_lite::{CoapOption, MessageClass, MessageType, Packet, RequestType, ResponseType};
use tokio::net::UdpSocket;
use tokio::sync::oneshot;

use crate::coap::encode_uint;
use crate::sim::{Effect, Objects};

/// How long a Register waits for its answer before it is sent again.
pub const RETRY_AFTER: Duration = Duration::from_secs(2);
/// Sends of one Register at most.
pub const ATTEMPTS: usize = 5;

/// One UDP socket shared by many simulated clients.
pub struct LoadSocket {
    socket: UdpSocket,
    server: SocketAddr,
    pending: Mutex<HashMap<Vec<u8>, oneshot::Sender<ResponseType>>>,
    objects: Mutex<Objects>,
    observers: Mutex<Vec<Vec<u8>>>,
    counter: AtomicUsize,
    retransmissions: AtomicUsize,
    requests_answered: AtomicUsize,
}

/// The end of one Register.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Registered {
    /// 2.01, after this long (from the first send).
    Created(Duration),
    /// Another response code.
    Refused(ResponseType),
    /// No answer after every attempt.
    TimedOut,
}

impl LoadSocket {
    /// A socket on `bind` talking to `server`, its receiver running; `seed` spreads message
    /// ids and tokens between sockets.
    pub async fn bind(bind: SocketAddr, server: SocketAddr, seed: usize) -> std::io::Result<Arc<LoadSocket>> {
        let s = Arc::new(LoadSocket {
            socket: UdpSocket::bind(bind).await?,
            server,
            pending: Mutex::new(HashMap::new()),
            objects: Mutex::new(Objects::new("load", "sim-1", "SN", "1.0", 86_400, false)),
            observers: Mutex::new(Vec::new()),
            counter: AtomicUsize::new(seed.wrapping_mul(7919)),
            retransmissions: AtomicUsize::new(0),
            requests_answered: AtomicUsize::new(0),
        });
        tokio::spawn(s.clone().receive());
        Ok(s)
    }

    fn token(&self) -> Vec<u8> {
        let n = self.counter.fetch_add(1, Ordering::Relaxed) as u64;
        n.wrapping_mul(0x9E37_79B9_7F4A_7C15).to_be_bytes().to_vec()
    }

    async fn receive(self: Arc<Self>) {
        let mut buf = vec![0u8; 2048];
        loop {
            let Ok((n, peer)) = self.socket.recv_from(&mut buf).await else { continue };
            let Ok(packet) = Packet::from_bytes(&buf[..n]) else { continue };
            match packet.header.code {
                MessageClass::Response(code) => {
                    let waiting = self.pending.lock().unwrap_or_else(|e| e.into_inner()).remove(packet.get_token());
                    if let Some(tx) = waiting {
                        let _ = tx.send(code);
                    }
                }
                MessageClass::Request(_) => {
                    let mut response = Packet::new();
                    response.header.set_type(MessageType::Acknowledgement);
                    response.header.message_id = packet.header.message_id;
                    response.set_token(packet.get_token().to_vec());
                    let effects = self.objects.lock().unwrap_or_else(|e| e.into_inner()).handle(&packet, &mut response);
                    for e in effects {
                        if let Effect::Observe { token, .. } = e {
                            self.observers.lock().unwrap_or_else(|e| e.into_inner()).push(token);
                        }
                    }
                    if let Ok(bytes) = response.to_bytes() {
                        let _ = self.socket.send_to(&bytes, peer).await;
                        self.requests_answered.fetch_add(1, Ordering::Relaxed);
                    }
                }
                _ => {}
            }
        }
    }

    /// Registers `ep` with lifetime `lifetime_s` (CON, sent again after [`RETRY_AFTER`], at
    /// most [`ATTEMPTS`] times).
    pub async fn register(&self, ep: &str, lifetime_s: u32) -> Registered {
        let start = tokio::time::Instant::now();
        for attempt in 0..ATTEMPTS {
            if attempt > 0 {
                self.retransmissions.fetch_add(1, Ordering::Relaxed);
            }
            let mut p = Packet::new();
            p.header.set_type(MessageType::Confirmable);
            p.header.code = MessageClass::Request(RequestType::Post);
            p.header.message_id = self.counter.fetch_add(1, Ordering::Relaxed) as u16;
            let token = self.token();
            p.set_token(token.clone());
            p.add_option(CoapOption::UriPath, b"rd".to_vec());
            p.add_option(CoapOption::UriQuery, format!("ep={ep}").into_bytes());
            p.add_option(CoapOption::UriQuery, format!("lt={lifetime_s}").into_bytes());
            p.add_option(CoapOption::UriQuery, b"lwm2m=1.0".to_vec());
            p.add_option(CoapOption::ContentFormat, encode_uint(40));
            p.payload = b"</1/0>,</3/0>,</5/0>".to_vec();
            let (tx, rx) = oneshot::channel();
            self.pending.lock().unwrap_or_else(|e| e.into_inner()).insert(token.clone(), tx);
            let Ok(bytes) = p.to_bytes() else { return Registered::Refused(ResponseType::BadRequest) };
            let _ = self.socket.send_to(&bytes, self.server).await;
            match tokio::time::timeout(RETRY_AFTER, rx).await {
                Ok(Ok(ResponseType::Created)) => return Registered::Created(start.elapsed()),
                Ok(Ok(code)) => return Registered::Refused(code),
                _ => {
                    self.pending.lock().unwrap_or_else(|e| e.into_inner()).remove(&token);
                }
            }
        }
        Registered::TimedOut
    }

    /// Sends `rounds` NON notifications on every observation token; returns how many.
    pub async fn notify(&self, rounds: u32, pause: Duration) -> usize {
        let tokens = self.observers.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let mut sent = 0;
        for seq in 1..=rounds {
            for token in &tokens {
                let mut p = Packet::new();
                p.header.set_type(MessageType::NonConfirmable);
                p.header.code = MessageClass::Response(ResponseType::Content);
                p.header.message_id = self.counter.fetch_add(1, Ordering::Relaxed) as u16;
                p.set_token(token.clone());
                p.add_option(CoapOption::Observe, encode_uint(seq));
                p.add_option(CoapOption::ContentFormat, encode_uint(0));
                p.payload = (seq % 100).to_string().into_bytes();
                if let Ok(bytes) = p.to_bytes() {
                    let _ = self.socket.send_to(&bytes, self.server).await;
                    sent += 1;
                }
            }
            // Pace the burst so that loopback socket buffers do not overflow.
            tokio::time::sleep(pause).await;
        }
        sent
    }

    /// Registers sent again after [`RETRY_AFTER`] without an answer.
    pub fn retransmissions(&self) -> usize {
        self.retransmissions.load(Ordering::Relaxed)
    }

    /// Device Management requests from the server answered.
    pub fn requests_answered(&self) -> usize {
        self.requests_answered.load(Ordering::Relaxed)
    }
}

/// Latencies kept for percentiles.
#[derive(Debug, Clone, Default)]
pub struct Latencies(Vec<Duration>);

impl Latencies {
    /// Records one.
    pub fn push(&mut self, d: Duration) {
        self.0.push(d);
    }

    /// Adds another set.
    pub fn extend(&mut self, other: Latencies) {
        self.0.extend(other.0);
    }

    /// How many.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The `p`-th percentile (0 to 100, nearest rank), `None` when empty.
    pub fn percentile(&mut self, p: f64) -> Option<Duration> {
        if self.0.is_empty() {
            return None;
        }
        self.0.sort_unstable();
        let rank = ((p / 100.0) * self.0.len() as f64).ceil() as usize;
        Some(self.0[rank.clamp(1, self.0.len()) - 1])
    }

    /// The largest.
    pub fn max(&self) -> Option<Duration> {
        self.0.iter().max().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_by_nearest_rank() {
        let mut l = Latencies::default();
        assert_eq!(l.percentile(50.0), None);
        for ms in (1..=100).rev() {
            l.push(Duration::from_millis(ms));
        }
        assert_eq!(l.percentile(50.0), Some(Duration::from_millis(50)));
        assert_eq!(l.percentile(99.0), Some(Duration::from_millis(99)));
        assert_eq!(l.percentile(100.0), Some(Duration::from_millis(100)));
        assert_eq!(l.percentile(0.0), Some(Duration::from_millis(1)));
        assert_eq!(l.max(), Some(Duration::from_millis(100)));
    }

    #[tokio::test]
    async fn registers_are_retransmitted_and_answers_matched_by_token() {
        // A server that drops the first Register and answers the second 2.01.
        let server = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = server.local_addr().unwrap();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 2048];
            let mut seen = 0;
            loop {
                let (n, peer) = server.recv_from(&mut buf).await.unwrap();
                seen += 1;
                if seen == 1 {
                    continue;
                }
                let req = Packet::from_bytes(&buf[..n]).unwrap();
                let mut r = Packet::new();
                r.header.set_type(MessageType::Acknowledgement);
                r.header.message_id = req.header.message_id;
                r.set_token(req.get_token().to_vec());
                r.header.code = MessageClass::Response(ResponseType::Created);
                server.send_to(&r.to_bytes().unwrap(), peer).await.unwrap();
            }
        });
        let s = LoadSocket::bind("127.0.0.1:0".parse().unwrap(), addr, 1).await.unwrap();
        tokio::time::pause();
        let r = s.register("ep-1", 60).await;
        assert!(matches!(r, Registered::Created(d) if d >= RETRY_AFTER), "{r:?}");
        assert_eq!(s.retransmissions(), 1);
    }
}
