//! The bootstrap server's protocol logic, sans-I/O (bytes and `now` in, datagrams, events and
//! timers out, as [`crate::server::Server`]). TS Core 1.1 §5.2 "Bootstrap Interface", §6.1:
//!
//! 1. Bootstrap-Request `POST /bs?ep={name}[&pct={cf}]` (CON) → `2.04 Changed` when the
//!    endpoint has a configuration, `4.00 Bad Request` otherwise (as Leshan answers a request
//!    it has no configuration for), `5.03` when too many sessions run.
//! 2. Bootstrap-Delete `/0` and `/1` (the client keeps its bootstrap account, §5.2.7.5).
//! 3. Bootstrap-Discover `/` to see which `/0` and `/1` instances remain (the bootstrap
//!    account); a client that refuses it is assumed to keep its account at `/0/0`.
//! 4. Bootstrap-Write of `/0/x` and `/1/x` per server account, in the format of `pct` when it
//!    is SenML JSON or CBOR, else TLV.
//! 5. Bootstrap-Finish `POST /bs` → `2.04`.
//!
//! Bounds on what a peer can allocate: one session per peer, [`BootstrapLimits::max_sessions`]
//! in all, each ended after [`BootstrapLimits::session_timeout`]; endpoint names of at most
//! [`BootstrapLimits::max_endpoint_len`] bytes; bounded duplicate detection.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use coap_lite::{CoapOption, MessageClass, MessageType, Packet, RequestType, ResponseType};

use super::config::BootstrapConfig;
use crate::coap::dedup::{Deduplicator, Seen};
use crate::coap::exchange::{ExchangeEvent, Exchanges};
use crate::coap::{encode_uint, serialize, TransmissionParams, Transmit};
use crate::codec::{self, link_format, Content, ContentFormat, Limits};
use crate::path::Path;

/// Bounds and timing of the bootstrap server.
#[derive(Debug, Clone, PartialEq)]
pub struct BootstrapLimits {
    /// Bootstrap sessions running at once. Default 1000.
    pub max_sessions: usize,
    /// A session not finished by then is dropped. Default 120 s.
    pub session_timeout: Duration,
    /// Longest endpoint name accepted. Default 256.
    pub max_endpoint_len: usize,
    /// CoAP transmission parameters (RFC 7252 §4.8).
    pub transmission: TransmissionParams,
    /// Peers remembered for duplicate detection. Default 10 000.
    pub dedup_peers: usize,
}

impl Default for BootstrapLimits {
    fn default() -> Self {
        BootstrapLimits {
            max_sessions: 1000,
            session_timeout: Duration::from_secs(120),
            max_endpoint_len: 256,
            transmission: TransmissionParams::default(),
            dedup_peers: 10_000,
        }
    }
}

/// What the bootstrap server reports.
#[derive(Debug, Clone, PartialEq)]
pub enum BootstrapEvent {
    /// A Bootstrap-Request was accepted.
    Started {
        /// The endpoint.
        endpoint: String,
        /// Its address.
        peer: SocketAddr,
    },
    /// Bootstrap-Finish was acknowledged with 2.04.
    Finished {
        /// The endpoint.
        endpoint: String,
        /// Its address.
        peer: SocketAddr,
    },
    /// The client answered one request of the session (for the wire tap: the request named
    /// without its payload, which holds keys).
    Step {
        /// The endpoint.
        endpoint: String,
        /// `Bootstrap-Delete /0`, `Bootstrap-Discover /`, `Bootstrap-Write /0/1`, `Bootstrap-Finish`.
        request: String,
        /// The answer's code, `2.02`.
        answer: String,
    },
    /// The session ended without success.
    Failed {
        /// The endpoint.
        endpoint: String,
        /// Why.
        reason: String,
    },
}

#[derive(Debug, Clone, PartialEq)]
enum Step {
    Delete(Path),
    Discover,
    Write(Path, Vec<u8>),
    Finish,
}

#[derive(Debug)]
struct Session {
    endpoint: String,
    config: BootstrapConfig,
    format: ContentFormat,
    steps: VecDeque<Step>,
    current: Option<(Step, Vec<u8>)>,
    deadline: Instant,
}

/// The bootstrap server state machine.
#[derive(Debug)]
pub struct BootstrapServer {
    limits: BootstrapLimits,
    configs: HashMap<String, BootstrapConfig>,
    sessions: HashMap<SocketAddr, Session>,
    exchanges: Exchanges,
    dedup: Deduplicator,
    transmits: VecDeque<Transmit>,
    events: VecDeque<BootstrapEvent>,
    rng: u64,
    last_housekeeping: Option<Instant>,
}

impl BootstrapServer {
    /// A bootstrap server; `seed` feeds tokens and jitter.
    pub fn new(limits: BootstrapLimits, seed: u64) -> BootstrapServer {
        let params = limits.transmission;
        BootstrapServer {
            exchanges: Exchanges::new(params, (seed >> 16) as u16, limits.max_sessions.max(1)),
            dedup: Deduplicator::new(&params, limits.dedup_peers, 16),
            limits,
            configs: HashMap::new(),
            sessions: HashMap::new(),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            rng: seed | 1,
            last_housekeeping: None,
        }
    }

    fn random(&mut self) -> u64 {
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        self.rng.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Sets (or with `None` removes) the configuration of `endpoint`. Running sessions keep
    /// the configuration they started with.
    pub fn set_config(&mut self, endpoint: &str, config: Option<BootstrapConfig>) {
        match config {
            Some(c) => self.configs.insert(endpoint.to_owned(), c),
            None => self.configs.remove(endpoint),
        };
    }

    /// Sessions running.
    pub fn sessions(&self) -> usize {
        self.sessions.len()
    }

    /// Next datagram to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// Next event.
    pub fn poll_event(&mut self) -> Option<BootstrapEvent> {
        self.events.pop_front()
    }

    /// When [`BootstrapServer::handle_timeout`] should next run.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let sessions = self.sessions.values().map(|s| s.deadline).min();
        [self.exchanges.poll_timeout(), sessions].into_iter().flatten().min()
    }

    /// Retransmissions, session timeouts, housekeeping due by `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.exchanges.handle_timeout(now);
        self.drain(now);
        let late: Vec<SocketAddr> = self.sessions.iter().filter(|(_, s)| s.deadline <= now).map(|(p, _)| *p).collect();
        for peer in late {
            self.fail(peer, "bootstrap session timed out".into());
        }
        if self.last_housekeeping.is_none_or(|t| now.saturating_duration_since(t) >= Duration::from_secs(10)) {
            self.last_housekeeping = Some(now);
            self.dedup.expire(now);
        }
    }

    /// Handles a datagram from `peer`. Undecodable datagrams are dropped.
    pub fn handle_datagram(&mut self, now: Instant, peer: SocketAddr, bytes: &[u8]) {
        let Ok(packet) = Packet::from_bytes(bytes) else { return };
        match packet.header.code {
            MessageClass::Request(method) => self.handle_request(now, peer, method, &packet),
            MessageClass::Empty | MessageClass::Response(_) => {
                self.exchanges.handle(now, peer, &packet);
                self.drain(now);
            }
            MessageClass::Reserved(_) => {}
        }
    }

    fn handle_request(&mut self, now: Instant, peer: SocketAddr, method: RequestType, packet: &Packet) {
        let kind = packet.header.get_type();
        if !matches!(kind, MessageType::Confirmable | MessageType::NonConfirmable) {
            return;
        }
        match self.dedup.check(now, peer, packet.header.message_id, kind == MessageType::Confirmable) {
            Seen::New => {}
            Seen::Replay(bytes) => return self.transmits.push_back(Transmit { peer, bytes }),
            Seen::Drop => return,
        }
        let (code, diagnostic, accepted) = self.bootstrap_request(now, peer, method, packet);
        let mut response = Packet::new();
        response.header.message_id = packet.header.message_id;
        response.set_token(packet.get_token().to_vec());
        if kind == MessageType::Confirmable {
            response.header.set_type(MessageType::Acknowledgement);
        } else {
            response.header.set_type(MessageType::NonConfirmable);
            response.header.message_id = self.random() as u16;
        }
        response.header.code = MessageClass::Response(code);
        if let Some(d) = diagnostic {
            response.payload = d.into_bytes();
        }
        if let Ok(bytes) = serialize(&response, &self.limits.transmission) {
            self.dedup.store_response(peer, packet.header.message_id, bytes.clone());
            self.transmits.push_back(Transmit { peer, bytes });
        }
        // The first Bootstrap-Delete follows the 2.04, never precedes it.
        if accepted {
            self.next_step(now, peer);
        }
    }

    /// Checks a Bootstrap-Request and opens its session: (code, diagnostic, accepted).
    fn bootstrap_request(
        &mut self,
        now: Instant,
        peer: SocketAddr,
        method: RequestType,
        packet: &Packet,
    ) -> (ResponseType, Option<String>, bool) {
        if crate::coap::uri_path(packet) != ["bs"] {
            return (ResponseType::NotFound, None, false);
        }
        if method != RequestType::Post {
            return (ResponseType::MethodNotAllowed, None, false);
        }
        if packet.header.get_type() != MessageType::Confirmable {
            return (ResponseType::BadRequest, Some("CON CoAP type expected".into()), false);
        }
        let mut endpoint = None;
        let mut pct = None;
        for q in packet.get_option(CoapOption::UriQuery).into_iter().flatten() {
            let Ok(q) = std::str::from_utf8(q) else { return (ResponseType::BadRequest, None, false) };
            match q.split_once('=') {
                Some(("ep", v)) => endpoint = Some(v.to_owned()),
                Some(("pct", v)) => match v.parse::<u16>() {
                    Ok(cf) => pct = Some(ContentFormat::from(cf)),
                    Err(_) => return (ResponseType::BadRequest, Some("pct must be a number".into()), false),
                },
                _ => {}
            }
        }
        let Some(endpoint) = endpoint.filter(|e| !e.is_empty() && e.len() <= self.limits.max_endpoint_len) else {
            return (ResponseType::BadRequest, Some("ep missing or too long".into()), false);
        };
        let Some(config) = self.configs.get(&endpoint).cloned() else {
            return (ResponseType::BadRequest, Some("no bootstrap configuration".into()), false);
        };
        if let Some(old) = self.sessions.remove(&peer) {
            if let Some((_, token)) = old.current {
                self.exchanges.cancel(peer, &token);
            }
        } else if self.sessions.len() >= self.limits.max_sessions {
            return (ResponseType::ServiceUnavailable, Some("too many bootstrap sessions".into()), false);
        }
        let format = match pct {
            Some(f @ (ContentFormat::SenmlJson | ContentFormat::SenmlCbor)) => f,
            _ => ContentFormat::Tlv,
        };
        let steps = VecDeque::from([Step::Delete(Path::Object(0)), Step::Delete(Path::Object(1)), Step::Discover]);
        let deadline = now + self.limits.session_timeout;
        self.sessions
            .insert(peer, Session { endpoint: endpoint.clone(), config, format, steps, current: None, deadline });
        self.events.push_back(BootstrapEvent::Started { endpoint, peer });
        (ResponseType::Changed, None, true)
    }

    fn fail(&mut self, peer: SocketAddr, reason: String) {
        if let Some(s) = self.sessions.remove(&peer) {
            if let Some((_, token)) = s.current {
                self.exchanges.cancel(peer, &token);
            }
            self.events.push_back(BootstrapEvent::Failed { endpoint: s.endpoint, reason });
        }
    }

    fn next_step(&mut self, now: Instant, peer: SocketAddr) {
        let Some(step) = self.sessions.get_mut(&peer).and_then(|s| s.steps.pop_front()) else { return };
        let mut p = Packet::new();
        p.header.set_type(MessageType::Confirmable);
        let (method, path) = match &step {
            Step::Delete(path) => (RequestType::Delete, *path),
            Step::Discover => (RequestType::Get, Path::Root),
            Step::Write(path, _) => (RequestType::Put, *path),
            Step::Finish => (RequestType::Post, Path::Root),
        };
        p.header.code = MessageClass::Request(method);
        if step == Step::Finish {
            p.add_option(CoapOption::UriPath, b"bs".to_vec());
        }
        for id in path.ids() {
            p.add_option(CoapOption::UriPath, id.to_string().into_bytes());
        }
        match &step {
            Step::Discover => p.add_option(CoapOption::Accept, encode_uint(40)),
            Step::Write(_, payload) => {
                let format = self.sessions.get(&peer).map(|s| s.format).unwrap_or(ContentFormat::Tlv);
                p.add_option(CoapOption::ContentFormat, encode_uint(u32::from(format.code())));
                p.payload = payload.clone();
            }
            _ => {}
        }
        let token = self.random().to_be_bytes().to_vec();
        p.set_token(token.clone());
        let random = (self.random() >> 11) as f64 / (1u64 << 53) as f64;
        match self.exchanges.send_request(now, peer, p, random) {
            Ok(_) => {
                if let Some(s) = self.sessions.get_mut(&peer) {
                    s.current = Some((step, token));
                }
            }
            Err(e) => self.fail(peer, format!("cannot send: {e}")),
        }
        while let Some(t) = self.exchanges.poll_transmit() {
            self.transmits.push_back(t);
        }
    }

    fn drain(&mut self, now: Instant) {
        while let Some(t) = self.exchanges.poll_transmit() {
            self.transmits.push_back(t);
        }
        while let Some(event) = self.exchanges.poll_event() {
            let (peer, token, result) = match event {
                ExchangeEvent::Response { peer, token, response } => (peer, token, Ok(response)),
                ExchangeEvent::Reset { peer, token } => (peer, token, Err("reset by the client")),
                ExchangeEvent::TimedOut { peer, token } => (peer, token, Err("no answer from the client")),
            };
            let Some(session) = self.sessions.get_mut(&peer) else { continue };
            let Some((step, _)) = session.current.take_if(|(_, t)| *t == token) else { continue };
            let response = match result {
                Ok(r) => r,
                Err(why) => {
                    self.fail(peer, why.into());
                    continue;
                }
            };
            let code = match response.header.code {
                MessageClass::Response(c) => c,
                _ => ResponseType::UnKnown,
            };
            let request = match &step {
                Step::Delete(path) => format!("Bootstrap-Delete {path}"),
                Step::Discover => "Bootstrap-Discover /".to_owned(),
                Step::Write(path, payload) => format!("Bootstrap-Write {path} ({} bytes)", payload.len()),
                Step::Finish => "Bootstrap-Finish".to_owned(),
            };
            self.events.push_back(BootstrapEvent::Step {
                endpoint: session.endpoint.clone(),
                request,
                answer: crate::adapter::device_request::code_string(code),
            });
            let ok = match &step {
                Step::Delete(_) => matches!(code, ResponseType::Deleted | ResponseType::NotFound),
                Step::Discover => {
                    let remaining = (code == ResponseType::Content)
                        .then(|| link_format::parse(&response.payload, &Limits::default()).ok())
                        .flatten()
                        .map(|links| links.iter().filter_map(|l| l.target.parse::<Path>().ok()).collect::<Vec<_>>());
                    match plan_writes(session, remaining.as_deref()) {
                        Ok(writes) => {
                            session.steps.extend(writes);
                            session.steps.push_back(Step::Finish);
                            true
                        }
                        Err(e) => {
                            self.fail(peer, e);
                            continue;
                        }
                    }
                }
                Step::Write(..) | Step::Finish => code == ResponseType::Changed,
            };
            if !ok {
                self.fail(
                    peer,
                    format!("the client answered {} to {step:?}", crate::adapter::device_request::code_string(code)),
                );
                continue;
            }
            if step == Step::Finish {
                if let Some(s) = self.sessions.remove(&peer) {
                    self.events.push_back(BootstrapEvent::Finished { endpoint: s.endpoint, peer });
                }
                continue;
            }
            self.next_step(now, peer);
        }
    }
}

/// The Bootstrap-Writes of a session: each account at the lowest `/0` and `/1` instance ids
/// still free after the deletes (`remaining` from Discover, or `/0/0` assumed taken).
fn plan_writes(session: &Session, remaining: Option<&[Path]>) -> Result<Vec<Step>, String> {
    let taken: BTreeSet<Path> = match remaining {
        Some(paths) => paths.iter().filter_map(|p| p.truncate(2)).collect(),
        None => BTreeSet::from([Path::ObjectInstance(0, 0)]),
    };
    let free = |object: u16, after: &mut u16| -> Result<u16, String> {
        while taken.contains(&Path::ObjectInstance(object, *after)) {
            *after = after.checked_add(1).ok_or("no free instance id")?;
        }
        let id = *after;
        *after = after.saturating_add(1);
        Ok(id)
    };
    let (mut next_security, mut next_server) = (0u16, 0u16);
    let mut steps = Vec::new();
    for account in &session.config.servers {
        let s = free(0, &mut next_security)?;
        let v = free(1, &mut next_server)?;
        for (path, records) in [
            (Path::ObjectInstance(0, s), account.security_records(s)),
            (Path::ObjectInstance(1, v), account.server_records(v)),
        ] {
            let payload = codec::encode(session.format, &Content::new(records), &path).map_err(|e| e.to_string())?;
            steps.push(Step::Write(path, payload));
        }
    }
    Ok(steps)
}

#[cfg(test)]
mod tests;
