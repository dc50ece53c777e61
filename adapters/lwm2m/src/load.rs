//! A load generator for any LwM2M server over the network (`unidm bench lwm2m`, and the
//! in-process `benches/server.rs`): many simulated clients share one UDP socket each
//! [`LoadSocket`]; they register distinct endpoints, update and de-register them, answer the
//! server's Device Management requests from a simulated object tree ([`crate::sim::Objects`]),
//! and notify on the observations the server made, NON ([`LoadSocket::notify`]) or CON and
//! acknowledged ([`LoadSocket::notify_confirmed`]).
//!
//! Every request is a CoAP exchange (RFC 7252 §4.2): confirmable, sent again after
//! [`RETRY_AFTER`] with the same message id and token ([`ATTEMPTS`] sends at most), matched by
//! message id when acknowledged (piggybacked response, empty ACK or RST) and by token when the
//! response comes separately (which is acknowledged in turn).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The response codes [`Reply`] carries.
pub use coap_lite::ResponseType;
use coap_lite::{CoapOption, MessageClass, MessageType, Packet, RequestType};
use tokio::net::UdpSocket;
use tokio::sync::oneshot;

use crate::coap::encode_uint;
use crate::sim::{Effect, Objects};

/// How long a request waits for its answer before it is sent again.
pub const RETRY_AFTER: Duration = Duration::from_secs(2);
/// Sends of one request at most.
pub const ATTEMPTS: usize = 5;

/// What answered an exchange.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// A response with this code; `location` is its Location-Path joined with `/` (with a
    /// leading `/`), empty when it has none.
    Response {
        /// The response code.
        code: ResponseType,
        /// `/rd/5a3f`, from the Location-Path options.
        location: String,
    },
    /// An empty acknowledgement (what a notification gets).
    Ack,
    /// A reset: the peer does not want the message (an observation it does not know).
    Reset,
}

impl std::fmt::Display for Reply {
    /// `4.03`, `ACK`, `RST`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Reply::Response { code, .. } => {
                let c = u8::from(MessageClass::Response(*code));
                write!(f, "{}.{:02}", c >> 5, c & 0x1f)
            }
            Reply::Ack => f.write_str("ACK"),
            Reply::Reset => f.write_str("RST"),
        }
    }
}

/// The end of one exchange.
#[derive(Debug, Clone, PartialEq)]
pub enum Exchanged {
    /// Answered, after this long from the first send.
    Answered(Reply, Duration),
    /// No answer after every attempt.
    TimedOut,
}

/// The end of one Register.
#[derive(Debug, Clone, PartialEq)]
pub enum Registered {
    /// 2.01, after this long (from the first send), at this location (`/rd/...`).
    Created(Duration, String),
    /// Another answer.
    Refused(Reply),
    /// No answer after every attempt.
    TimedOut,
}

/// A read's Uri-Path segments and Accept option.
type ReadKey = (Vec<Vec<u8>>, Option<Vec<u8>>);

/// Someone waiting for an answer.
struct Waiter {
    token: Vec<u8>,
    /// Whether an empty ACK ends the exchange (a notification) or only says that the response
    /// comes separately (a request).
    ack_ends: bool,
    tx: oneshot::Sender<Reply>,
}

/// One UDP socket shared by many simulated clients.
pub struct LoadSocket {
    socket: UdpSocket,
    server: SocketAddr,
    /// By message id, until acknowledged.
    pending: Mutex<HashMap<u16, Waiter>>,
    /// By token, acknowledged empty, waiting for the separate response.
    separate: Mutex<HashMap<Vec<u8>, oneshot::Sender<Reply>>>,
    objects: Mutex<Objects>,
    /// Answers to plain reads by path and Accept: every client of the socket has the same
    /// objects, so a read is encoded once until a request that may change them comes.
    reads: Mutex<HashMap<ReadKey, Packet>>,
    observers: Mutex<Vec<Vec<u8>>>,
    counter: AtomicUsize,
    retransmissions: AtomicUsize,
    requests_answered: AtomicUsize,
    reads_answered: AtomicUsize,
}

impl LoadSocket {
    /// A socket on `bind` talking to `server`, its receiver running; `seed` spreads message
    /// ids and tokens between sockets.
    pub async fn bind(bind: SocketAddr, server: SocketAddr, seed: usize) -> std::io::Result<Arc<LoadSocket>> {
        let s = Arc::new(LoadSocket {
            socket: UdpSocket::bind(bind).await?,
            server,
            pending: Mutex::new(HashMap::new()),
            separate: Mutex::new(HashMap::new()),
            objects: Mutex::new(Objects::new("load", "sim-1", "SN", "1.0", 86_400, false)),
            reads: Mutex::new(HashMap::new()),
            observers: Mutex::new(Vec::new()),
            counter: AtomicUsize::new(seed.wrapping_mul(7919)),
            retransmissions: AtomicUsize::new(0),
            requests_answered: AtomicUsize::new(0),
            reads_answered: AtomicUsize::new(0),
        });
        tokio::spawn(s.clone().receive());
        Ok(s)
    }

    fn token(&self) -> Vec<u8> {
        let n = self.counter.fetch_add(1, Ordering::Relaxed) as u64;
        n.wrapping_mul(0x9E37_79B9_7F4A_7C15).to_be_bytes().to_vec()
    }

    fn message_id(&self) -> u16 {
        self.counter.fetch_add(1, Ordering::Relaxed) as u16
    }

    async fn receive(self: Arc<Self>) {
        let mut buf = vec![0u8; 2048];
        loop {
            let Ok((n, peer)) = self.socket.recv_from(&mut buf).await else { continue };
            let Ok(packet) = Packet::from_bytes(&buf[..n]) else { continue };
            match (packet.header.get_type(), packet.header.code) {
                (MessageType::Acknowledgement | MessageType::Reset, code) => {
                    let waiter = lock(&self.pending).remove(&packet.header.message_id);
                    let Some(w) = waiter else { continue };
                    let reply = match code {
                        MessageClass::Response(code) => Reply::Response { code, location: location(&packet) },
                        _ if packet.header.get_type() == MessageType::Reset => Reply::Reset,
                        _ if w.ack_ends => Reply::Ack,
                        _ => {
                            lock(&self.separate).insert(w.token, w.tx);
                            continue;
                        }
                    };
                    let _ = w.tx.send(reply);
                }
                (kind, MessageClass::Response(code)) => {
                    if kind == MessageType::Confirmable {
                        let mut ack = Packet::new();
                        ack.header.set_type(MessageType::Acknowledgement);
                        ack.header.code = MessageClass::Empty;
                        ack.header.message_id = packet.header.message_id;
                        if let Ok(bytes) = ack.to_bytes() {
                            let _ = self.socket.send_to(&bytes, peer).await;
                        }
                    }
                    let waiter = lock(&self.separate).remove(packet.get_token());
                    if let Some(tx) = waiter {
                        let _ = tx.send(Reply::Response { code, location: location(&packet) });
                    }
                }
                (_, MessageClass::Request(method)) => {
                    let read = method == RequestType::Get && packet.get_first_option(CoapOption::Observe).is_none();
                    let response = if read { self.answer_read(&packet) } else { self.answer(&packet) };
                    if let Ok(bytes) = response.to_bytes() {
                        let _ = self.socket.send_to(&bytes, peer).await;
                        self.requests_answered.fetch_add(1, Ordering::Relaxed);
                        if read {
                            self.reads_answered.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
                _ => {}
            }
        }
    }

    /// The simulated objects' answer to `request` (a request that may change them forgets
    /// the reads encoded so far).
    fn answer(&self, request: &Packet) -> Packet {
        let mut response = Packet::new();
        response.header.set_type(MessageType::Acknowledgement);
        response.header.message_id = request.header.message_id;
        response.set_token(request.get_token().to_vec());
        let effects = lock(&self.objects).handle(request, &mut response);
        for e in effects {
            if let Effect::Observe { token, .. } = e {
                lock(&self.observers).push(token);
            }
        }
        if request.header.code != MessageClass::Request(RequestType::Get) {
            lock(&self.reads).clear();
        }
        response
    }

    /// The answer to a plain read, encoded once per path and Accept.
    fn answer_read(&self, request: &Packet) -> Packet {
        let path: Vec<Vec<u8>> =
            request.get_option(CoapOption::UriPath).map(|p| p.iter().cloned().collect()).unwrap_or_default();
        let key = (path, request.get_first_option(CoapOption::Accept).cloned());
        let cached = lock(&self.reads).get(&key).cloned();
        let mut response = match cached {
            Some(r) => r,
            None => {
                let r = self.answer(request);
                lock(&self.reads).insert(key, r.clone());
                r
            }
        };
        response.header.message_id = request.header.message_id;
        response.set_token(request.get_token().to_vec());
        response
    }

    /// Sends `packet` (its type, message id and token set here) and waits for its answer,
    /// sending it again after [`RETRY_AFTER`], [`ATTEMPTS`] times at most. `ack_ends`: an
    /// empty ACK is the answer (a notification), not a promise of a separate response.
    pub async fn exchange(&self, mut packet: Packet, ack_ends: bool) -> Exchanged {
        let start = tokio::time::Instant::now();
        packet.header.set_type(MessageType::Confirmable);
        let mid = self.message_id();
        packet.header.message_id = mid;
        if packet.get_token().is_empty() {
            packet.set_token(self.token());
        }
        let token = packet.get_token().to_vec();
        let Ok(bytes) = packet.to_bytes() else { return Exchanged::TimedOut };
        let (tx, mut rx) = oneshot::channel();
        lock(&self.pending).insert(mid, Waiter { token: token.clone(), ack_ends, tx });
        for attempt in 0..ATTEMPTS {
            if attempt > 0 {
                self.retransmissions.fetch_add(1, Ordering::Relaxed);
            }
            let _ = self.socket.send_to(&bytes, self.server).await;
            if let Ok(answer) = tokio::time::timeout(RETRY_AFTER, &mut rx).await {
                return match answer {
                    Ok(reply) => Exchanged::Answered(reply, start.elapsed()),
                    Err(_) => Exchanged::TimedOut,
                };
            }
            if lock(&self.separate).contains_key(&token) {
                // Acknowledged: the response comes separately; wait once more, no resend.
                let answer = tokio::time::timeout(RETRY_AFTER * ATTEMPTS as u32, &mut rx).await;
                lock(&self.separate).remove(&token);
                return match answer {
                    Ok(Ok(reply)) => Exchanged::Answered(reply, start.elapsed()),
                    _ => Exchanged::TimedOut,
                };
            }
        }
        lock(&self.pending).remove(&mid);
        Exchanged::TimedOut
    }

    /// Registers `ep` with lifetime `lifetime_s`.
    pub async fn register(&self, ep: &str, lifetime_s: u32) -> Registered {
        let mut p = request(RequestType::Post, "/rd");
        p.add_option(CoapOption::UriQuery, format!("ep={ep}").into_bytes());
        p.add_option(CoapOption::UriQuery, format!("lt={lifetime_s}").into_bytes());
        p.add_option(CoapOption::UriQuery, b"lwm2m=1.0".to_vec());
        p.add_option(CoapOption::ContentFormat, encode_uint(40));
        p.payload = b"</1/0>,</3/0>,</5/0>".to_vec();
        match self.exchange(p, false).await {
            Exchanged::Answered(Reply::Response { code: ResponseType::Created, location }, took) => {
                Registered::Created(took, location)
            }
            Exchanged::Answered(reply, _) => Registered::Refused(reply),
            Exchanged::TimedOut => Registered::TimedOut,
        }
    }

    /// A registration update (an empty POST to `location`, TS Core §6.2.2).
    pub async fn update(&self, location: &str) -> Exchanged {
        self.exchange(request(RequestType::Post, location), false).await
    }

    /// A de-registration (DELETE `location`).
    pub async fn deregister(&self, location: &str) -> Exchanged {
        self.exchange(request(RequestType::Delete, location), false).await
    }

    /// A confirmable notification (2.05, plain text) with `token` and sequence number `seq`,
    /// answered by an empty ACK (or a RST when the server no longer wants it).
    pub async fn notify_confirmed(&self, token: &[u8], seq: u32) -> Exchanged {
        self.exchange(notification(token, seq), true).await
    }

    /// Sends `rounds` NON notifications on every observation token; returns how many.
    pub async fn notify(&self, rounds: u32, pause: Duration) -> usize {
        let tokens = self.observations();
        let mut sent = 0;
        for seq in 1..=rounds {
            for token in &tokens {
                let mut p = notification(token, seq);
                p.header.set_type(MessageType::NonConfirmable);
                p.header.message_id = self.message_id();
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

    /// The tokens of the observations the server made on this socket's clients.
    pub fn observations(&self) -> Vec<Vec<u8>> {
        lock(&self.observers).clone()
    }

    /// Requests sent again after [`RETRY_AFTER`] without an answer.
    pub fn retransmissions(&self) -> usize {
        self.retransmissions.load(Ordering::Relaxed)
    }

    /// Device Management requests from the server answered.
    pub fn requests_answered(&self) -> usize {
        self.requests_answered.load(Ordering::Relaxed)
    }

    /// Reads (GET without Observe) from the server answered.
    pub fn reads_answered(&self) -> usize {
        self.reads_answered.load(Ordering::Relaxed)
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A request to `path` (`/rd/5a3f`: one Uri-Path option per segment).
fn request(method: RequestType, path: &str) -> Packet {
    let mut p = Packet::new();
    p.header.code = MessageClass::Request(method);
    for segment in path.split('/').filter(|s| !s.is_empty()) {
        p.add_option(CoapOption::UriPath, segment.as_bytes().to_vec());
    }
    p
}

fn notification(token: &[u8], seq: u32) -> Packet {
    let mut p = Packet::new();
    p.header.code = MessageClass::Response(ResponseType::Content);
    p.set_token(token.to_vec());
    p.add_option(CoapOption::Observe, encode_uint(seq));
    p.add_option(CoapOption::ContentFormat, encode_uint(0));
    p.payload = (seq % 100).to_string().into_bytes();
    p
}

/// The Location-Path options of `packet` as `/a/b`.
fn location(packet: &Packet) -> String {
    let mut out = String::new();
    for segment in packet.get_option(CoapOption::LocationPath).into_iter().flatten() {
        out.push('/');
        out.push_str(&String::from_utf8_lossy(segment));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A server that gives every datagram it receives to `script` (with its index) and sends
    /// back what `script` returns; the datagrams it saw come out of the returned receiver.
    async fn scripted(
        script: impl Fn(usize, &Packet) -> Vec<Packet> + Send + 'static,
    ) -> (SocketAddr, tokio::sync::mpsc::UnboundedReceiver<Packet>) {
        let server = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = server.local_addr().unwrap();
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 2048];
            for seen in 0.. {
                let (n, peer) = server.recv_from(&mut buf).await.unwrap();
                let req = Packet::from_bytes(&buf[..n]).unwrap();
                for answer in script(seen, &req) {
                    server.send_to(&answer.to_bytes().unwrap(), peer).await.unwrap();
                }
                let _ = tx.send(req);
            }
        });
        (addr, rx)
    }

    fn answer(req: &Packet, kind: MessageType, code: MessageClass) -> Packet {
        let mut r = Packet::new();
        r.header.set_type(kind);
        r.header.message_id = req.header.message_id;
        r.header.code = code;
        if code != MessageClass::Empty {
            r.set_token(req.get_token().to_vec());
        }
        r
    }

    #[tokio::test]
    async fn a_register_is_sent_again_as_the_same_message_and_its_location_kept() {
        let (addr, mut seen) = scripted(|n, req| {
            if n == 0 {
                return vec![]; // the first send is lost
            }
            let mut r = answer(req, MessageType::Acknowledgement, MessageClass::Response(ResponseType::Created));
            r.add_option(CoapOption::LocationPath, b"rd".to_vec());
            r.add_option(CoapOption::LocationPath, b"5a3f".to_vec());
            vec![r]
        })
        .await;
        let s = LoadSocket::bind("127.0.0.1:0".parse().unwrap(), addr, 1).await.unwrap();
        tokio::time::pause();
        let r = s.register("ep-1", 60).await;
        assert!(matches!(&r, Registered::Created(d, loc) if *d >= RETRY_AFTER && loc == "/rd/5a3f"), "{r:?}");
        assert_eq!(s.retransmissions(), 1);
        let (first, second) = (seen.recv().await.unwrap(), seen.recv().await.unwrap());
        assert_eq!(first.header.message_id, second.header.message_id, "a retransmission keeps its message id");
        assert_eq!(first.get_token(), second.get_token());
        assert_eq!(first.header.get_type(), MessageType::Confirmable);
        let queries: Vec<_> = first.get_option(CoapOption::UriQuery).unwrap().iter().cloned().collect();
        assert_eq!(queries[0], b"ep=ep-1");
    }

    #[tokio::test]
    async fn updates_and_deregistrations_go_to_the_location_and_separate_responses_are_acknowledged() {
        let (addr, mut seen) = scripted(|_, req| match req.header.get_type() {
            // An empty ACK now, the response later as a CON of its own (RFC 7252 §5.2.2).
            MessageType::Confirmable => {
                let mut later = answer(req, MessageType::Confirmable, MessageClass::Response(ResponseType::Changed));
                later.header.message_id = req.header.message_id.wrapping_add(1000);
                vec![answer(req, MessageType::Acknowledgement, MessageClass::Empty), later]
            }
            _ => vec![],
        })
        .await;
        let s = LoadSocket::bind("127.0.0.1:0".parse().unwrap(), addr, 2).await.unwrap();
        let r = s.update("/rd/5a3f").await;
        assert!(matches!(&r, Exchanged::Answered(Reply::Response { code: ResponseType::Changed, .. }, _)), "{r:?}");
        let update = seen.recv().await.unwrap();
        assert_eq!(update.header.code, MessageClass::Request(RequestType::Post));
        let path: Vec<_> = update.get_option(CoapOption::UriPath).unwrap().iter().cloned().collect();
        assert_eq!(path, [b"rd".to_vec(), b"5a3f".to_vec()]);
        let ack = seen.recv().await.unwrap();
        assert_eq!((ack.header.get_type(), ack.header.code), (MessageType::Acknowledgement, MessageClass::Empty));
        assert_eq!(ack.header.message_id, update.header.message_id.wrapping_add(1000));
        s.deregister("/rd/5a3f").await;
        assert_eq!(seen.recv().await.unwrap().header.code, MessageClass::Request(RequestType::Delete));
    }

    #[tokio::test]
    async fn confirmable_notifications_end_on_an_empty_ack_or_a_reset() {
        let (addr, _seen) = scripted(|n, req| {
            let kind = if n == 0 { MessageType::Acknowledgement } else { MessageType::Reset };
            vec![answer(req, kind, MessageClass::Empty)]
        })
        .await;
        let s = LoadSocket::bind("127.0.0.1:0".parse().unwrap(), addr, 3).await.unwrap();
        let r = s.notify_confirmed(b"tok", 2).await;
        assert!(matches!(r, Exchanged::Answered(Reply::Ack, _)), "{r:?}");
        let r = s.notify_confirmed(b"tok", 3).await;
        assert!(matches!(r, Exchanged::Answered(Reply::Reset, _)), "{r:?}");
        let shown: Vec<String> = [
            Reply::Response { code: ResponseType::Forbidden, location: String::new() },
            Reply::Response { code: ResponseType::ServiceUnavailable, location: String::new() },
            Reply::Ack,
            Reply::Reset,
        ]
        .iter()
        .map(Reply::to_string)
        .collect();
        assert_eq!(shown, ["4.03", "5.03", "ACK", "RST"]);
    }

    #[tokio::test]
    async fn an_unanswered_request_times_out_after_every_attempt() {
        let (addr, _seen) = scripted(|_, _| vec![]).await;
        let s = LoadSocket::bind("127.0.0.1:0".parse().unwrap(), addr, 4).await.unwrap();
        tokio::time::pause();
        assert_eq!(s.register("ep-2", 60).await, Registered::TimedOut);
        assert_eq!(s.retransmissions(), ATTEMPTS - 1);
    }

    #[tokio::test]
    async fn reads_and_observations_of_the_server_are_answered_and_counted() {
        let (addr, _seen) = scripted(|_, _| vec![]).await;
        let s = LoadSocket::bind("127.0.0.1:0".parse().unwrap(), addr, 5).await.unwrap();
        let server = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let target = s.socket.local_addr().unwrap();
        let mut buf = vec![0u8; 2048];
        for (mid, observe) in [(1u16, false), (2, true)] {
            let mut get = request(RequestType::Get, "/3/0/9");
            get.header.set_type(MessageType::Confirmable);
            get.header.message_id = mid;
            get.set_token(vec![mid as u8; 4]);
            if observe {
                get.add_option(CoapOption::Observe, encode_uint(0));
            }
            server.send_to(&get.to_bytes().unwrap(), target).await.unwrap();
            let (n, _) = server.recv_from(&mut buf).await.unwrap();
            let r = Packet::from_bytes(&buf[..n]).unwrap();
            assert_eq!((r.header.message_id, r.header.code), (mid, MessageClass::Response(ResponseType::Content)));
        }
        assert_eq!((s.requests_answered(), s.reads_answered()), (2, 1));
        assert_eq!(s.observations(), vec![vec![2u8; 4]]);

        // Reads are encoded once, and encoded again after a write changed the objects.
        let ask = |method: RequestType, mid: u16, payload: &[u8]| {
            let mut p = request(method, "/1/0/1");
            p.header.set_type(MessageType::Confirmable);
            p.header.message_id = mid;
            p.set_token(vec![mid as u8; 2]);
            if method == RequestType::Put {
                p.add_option(CoapOption::ContentFormat, encode_uint(0));
                p.payload = payload.to_vec();
            }
            p
        };
        let mut answers = Vec::new();
        for p in [
            ask(RequestType::Get, 3, b""),
            ask(RequestType::Get, 4, b""),
            ask(RequestType::Put, 5, b"120"),
            ask(RequestType::Get, 6, b""),
        ] {
            server.send_to(&p.to_bytes().unwrap(), target).await.unwrap();
            let (n, _) = server.recv_from(&mut buf).await.unwrap();
            let r = Packet::from_bytes(&buf[..n]).unwrap();
            assert_eq!(
                (r.header.message_id, r.get_token()),
                (p.header.message_id, p.get_token()),
                "matched to its request"
            );
            answers.push((r.header.code, String::from_utf8_lossy(&r.payload).into_owned()));
        }
        assert_eq!(answers[0], answers[1]);
        assert_eq!(answers[2].0, MessageClass::Response(ResponseType::Changed));
        assert_eq!(answers[3], (MessageClass::Response(ResponseType::Content), "120".to_owned()), "{answers:?}");
        assert_ne!(answers[1], answers[3]);
    }
}
