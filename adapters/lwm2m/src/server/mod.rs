//! The LwM2M server's protocol logic, sans-I/O (in the manner of quinn-proto): feed
//! datagrams with [`Server::handle_datagram`], ask for Device Management requests with
//! [`Server::request`], and collect datagrams ([`Server::poll_transmit`]), events
//! ([`Server::poll_event`]) and the next wake-up ([`Server::poll_timeout`]).
//!
//! It serves the Client Registration interface ([`registration`], TS Core 1.1 §6.2) and acts as
//! CoAP client for Device Management and Information Reporting (§6.3, §6.4): token matching
//! and CON retransmission through [`crate::coap::exchange`], notifications through
//! [`crate::coap::observe`], duplicate detection through [`crate::coap::dedup`]. Requests for a
//! client that is not registered, or asleep in queue mode (§6.5), wait in a
//! bounded per-endpoint queue until the client's next Register, Update or notification.

mod awake;
pub(crate) mod block1;
mod outcomes;
pub mod registration;
mod types;

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use coap_lite::{CoapOption, MessageClass, MessageType, Packet, ResponseType};

use crate::coap::block::{Block1Sender, Block2Assembler, BlockOption};
use crate::coap::dedup::{Deduplicator, Seen};
use crate::coap::exchange::Exchanges;
use crate::coap::observe::{Notification, Observations};
use crate::coap::{encode_uint, reset, serialize, Transmit};
use crate::path::Path;
use block1::{Block1Outcome, Block1Receiver};
pub use registration::{ObjectLink, RdChange, Registration, RegistrationConfig, Registry};
pub use types::{Ack, DmRequest, DmResponse, Observed, RequestFailure, RequestId, ServerConfig, ServerEvent};

/// A registration reply waiting for [`Server::confirm`].
#[derive(Debug)]
struct Held {
    peer: SocketAddr,
    /// The request's message id (the dedup key) and token, and the reply's type, for a 5.00
    /// in place of the reply.
    message_id: u16,
    token: Vec<u8>,
    kind: MessageType,
    reply: Vec<u8>,
    /// The endpoint whose held requests go out once the client has its reply.
    wake: Option<String>,
    since: Instant,
}

/// What the server finds an observation by: the registered endpoint, the end device's prefix
/// when the observation is of an end device behind a LwM2M Gateway (its Uri-Path starts with
/// `/{prefix}`, LwM2M Gateway TS §6), and what it watches. The gateway's own `/3/0/9` and its end
/// device's `/dev1/3/0/9` are two observations with two tokens.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct ObservationKey {
    endpoint: String,
    prefix: Option<String>,
    observed: Observed,
}

#[derive(Debug, Clone)]
struct InFlight {
    request: RequestId,
    endpoint: String,
    /// The observation this request makes, when `observe`, or cancels.
    observation: ObservationKey,
    observe: bool,
    /// The request as sent, to ask for further Block2 blocks.
    original: Packet,
    /// Set once a Block2 transfer started.
    blocks: Option<Block2Assembler>,
    /// A request body sent in Block1 blocks (RFC 7959 §2.5; firmware push to /5/0/0).
    block1: Option<Block1Sender>,
}

/// The LwM2M server state machine.
#[derive(Debug)]
pub struct Server {
    config: ServerConfig,
    registry: Registry,
    exchanges: Exchanges,
    dedup: Deduplicator,
    observations: Observations,
    block1: Block1Receiver,
    in_flight: HashMap<(SocketAddr, Vec<u8>), InFlight>,
    /// Live observations: the peer and token to cancel with.
    observed: HashMap<ObservationKey, (SocketAddr, Vec<u8>)>,
    /// The same, by peer and token, to name the source of a notification.
    by_token: HashMap<(SocketAddr, Vec<u8>), ObservationKey>,
    queued: HashMap<String, VecDeque<(RequestId, DmRequest)>>,
    awake: awake::Awake,
    transmits: VecDeque<Transmit>,
    events: VecDeque<ServerEvent>,
    held: HashMap<Ack, Held>,
    /// How many held replies each endpoint awaits (the `wake` of `held`).
    confirming: HashMap<String, usize>,
    next_ack: u64,
    rng: u64,
    next_request: RequestId,
    last_housekeeping: Option<Instant>,
}

impl Server {
    /// A server; `seed` feeds tokens, registration ids and retransmission jitter.
    pub fn new(config: ServerConfig, seed: u64) -> Server {
        let params = config.transmission;
        Server {
            registry: Registry::new(config.registration.clone(), seed),
            exchanges: Exchanges::new(params, (seed >> 16) as u16, config.max_exchanges),
            dedup: Deduplicator::new(&params, config.dedup_peers, config.dedup_per_peer),
            observations: Observations::new(config.max_observations),
            block1: Block1Receiver::new(
                config.registration.max_payload,
                config.max_block1_transfers,
                params.exchange_lifetime(),
            ),
            config,
            in_flight: HashMap::new(),
            observed: HashMap::new(),
            by_token: HashMap::new(),
            queued: HashMap::new(),
            awake: awake::Awake::default(),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            held: HashMap::new(),
            confirming: HashMap::new(),
            next_ack: 1,
            rng: seed | 1,
            next_request: 1,
            last_housekeeping: None,
        }
    }

    fn random(&mut self) -> u64 {
        // xorshift64*: jitter and tokens need unpredictability, not cryptographic strength.
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        self.rng.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// The registrations.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The registration of an endpoint.
    pub fn registration(&self, endpoint: &str) -> Option<&Registration> {
        self.registry.by_endpoint(endpoint)
    }

    /// The registration with id `id` (the `{id}` of `/rd/{id}`).
    pub fn registration_by_id(&self, id: &str) -> Option<&Registration> {
        self.registry.by_id(id)
    }

    /// Puts back a persisted registration (see [`Registry::restore`]).
    pub fn restore(&mut self, now: Instant, registration: impl Into<Arc<Registration>>, remaining: Option<Duration>) {
        self.registry.restore(now, registration.into(), remaining);
    }

    /// Requests held for sleeping or unregistered endpoints, in all.
    pub fn queued_len(&self) -> usize {
        self.queued.values().map(VecDeque::len).sum()
    }

    /// Block1 request bodies being received.
    pub fn block1_transfers(&self) -> usize {
        self.block1.len()
    }

    /// Outgoing exchanges in flight.
    pub fn exchanges_in_flight(&self) -> usize {
        self.exchanges.pending_count()
    }

    /// Next datagram to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// Next event.
    pub fn poll_event(&mut self) -> Option<ServerEvent> {
        self.events.pop_front()
    }

    /// When [`Server::handle_timeout`] should next run.
    pub fn poll_timeout(&self) -> Option<Instant> {
        [self.exchanges.poll_timeout(), self.registry.poll_timeout(), self.awake.next_end()].into_iter().flatten().min()
    }

    /// Sends, or holds, a Device Management request to `endpoint`. The outcome arrives as
    /// [`ServerEvent::Response`] with the returned id.
    pub fn request(&mut self, now: Instant, endpoint: &str, request: DmRequest) -> RequestId {
        let id = self.next_request;
        self.next_request += 1;
        // A client waiting for its registration reply gets requests only after the reply.
        let confirming = self.confirming.contains_key(endpoint);
        let reachable = match self.registry.by_endpoint(endpoint) {
            None => false,
            Some(_) if confirming => false,
            Some(reg) => !reg.queue_mode || self.awake.is_awake(endpoint, now),
        };
        if reachable {
            self.send(now, endpoint, id, request);
            return id;
        }
        let full = self.queued.len() >= self.config.max_queued_endpoints && !self.queued.contains_key(endpoint);
        let queue = if full { None } else { Some(self.queued.entry(endpoint.to_owned()).or_default()) };
        match queue {
            Some(q) if q.len() < self.config.max_queued_per_endpoint => q.push_back((id, request)),
            _ => self.fail(id, RequestFailure::Rejected("too many requests held for this endpoint".into())),
        }
        id
    }

    /// Drops a request that is held or in flight; no event follows for it.
    pub fn cancel(&mut self, id: RequestId) {
        for q in self.queued.values_mut() {
            q.retain(|(r, _)| *r != id);
        }
        self.queued.retain(|_, q| !q.is_empty());
        let keys: Vec<_> = self.in_flight.iter().filter(|(_, f)| f.request == id).map(|(k, _)| k.clone()).collect();
        for (peer, token) in keys {
            self.in_flight.remove(&(peer, token.clone()));
            self.exchanges.cancel(peer, &token);
        }
    }

    fn fail(&mut self, request: RequestId, why: RequestFailure) {
        self.events.push_back(ServerEvent::Response { request, result: Err(why) });
    }

    fn send(&mut self, now: Instant, endpoint: &str, id: RequestId, request: DmRequest) {
        let Some(reg) = self.registry.by_endpoint(endpoint) else {
            return self.fail(id, RequestFailure::Rejected("not registered".into()));
        };
        let peer = reg.address;
        let observed = request.observed();
        let mut packet = Packet::new();
        packet.header.set_type(MessageType::Confirmable);
        packet.header.code = MessageClass::Request(request.method);
        let mut segments = reg.uri_path(&Path::Root);
        segments.extend(request.prefix.iter().cloned());
        segments.extend(request.path.ids().iter().map(u16::to_string));
        for seg in segments {
            packet.add_option(CoapOption::UriPath, seg.into_bytes());
        }
        if let Some(cf) = request.content_format {
            packet.add_option(CoapOption::ContentFormat, encode_uint(u32::from(cf)));
        }
        if let Some(accept) = request.accept {
            packet.add_option(CoapOption::Accept, encode_uint(u32::from(accept)));
        }
        for q in request.query {
            packet.add_option(CoapOption::UriQuery, q.into_bytes());
        }
        // Bodies above one block go block-wise (RFC 7959 §2.5), 1024-byte blocks (SZX 6).
        let block1 = if request.payload.len() > 1024 {
            match Block1Sender::new(packet.clone(), request.payload, 6, self.config.max_request_body) {
                Ok(sender) => Some(sender),
                Err(e) => return self.fail(id, RequestFailure::Rejected(e.to_string())),
            }
        } else {
            packet.payload = request.payload;
            None
        };
        let key = ObservationKey { endpoint: endpoint.to_owned(), prefix: request.prefix.clone(), observed };
        let token = match request.observe {
            // Cancel with Observe=1 reuses the registration's token (RFC 7641 §3.6).
            Some(1) => match self.observed.remove(&key) {
                Some((p, token)) => {
                    self.by_token.remove(&(p, token.clone()));
                    self.observations.forget(p, &token);
                    token
                }
                None => self.random().to_be_bytes().to_vec(),
            },
            _ => self.random().to_be_bytes().to_vec(),
        };
        packet.set_token(token.clone());
        if let Some(o) = request.observe {
            packet.add_option(CoapOption::Observe, encode_uint(o));
        }
        let mut packet = match &block1 {
            Some(sender) => {
                let mut first = sender.request();
                first.set_token(token.clone());
                first
            }
            None => packet,
        };
        let observe = request.observe == Some(0);
        if observe {
            if let Some((p, old)) = self.observed.remove(&key) {
                self.by_token.remove(&(p, old.clone()));
                self.observations.forget(p, &old);
            }
            match self.observations.register(peer, packet) {
                Ok(p) => packet = p,
                Err(e) => return self.fail(id, RequestFailure::Rejected(e.to_string())),
            }
        }
        let flight = InFlight {
            request: id,
            endpoint: endpoint.to_owned(),
            observation: key.clone(),
            observe,
            original: packet.clone(),
            blocks: None,
            block1,
        };
        match self.transmit_request(now, peer, packet, flight) {
            Ok(()) => {
                if observe {
                    self.by_token.insert((peer, token.clone()), key.clone());
                    self.observed.insert(key, (peer, token));
                }
            }
            Err(e) => {
                if observe {
                    self.observations.forget(peer, &token);
                }
                self.fail(id, RequestFailure::Rejected(e.to_string()));
            }
        }
        self.drain_exchanges(now);
    }

    fn transmit_request(
        &mut self,
        now: Instant,
        peer: SocketAddr,
        packet: Packet,
        flight: InFlight,
    ) -> Result<(), crate::coap::CoapError> {
        let token = packet.get_token().to_vec();
        let random = (self.random() >> 11) as f64 / (1u64 << 53) as f64;
        self.exchanges.send_request(now, peer, packet, random)?;
        self.in_flight.insert((peer, token), flight);
        Ok(())
    }

    fn wake(&mut self, now: Instant, endpoint: &str) {
        let Some(reg) = self.registry.by_endpoint(endpoint) else { return };
        if reg.queue_mode {
            self.awake.insert(endpoint, now + self.config.awake_window);
        }
        if let Some(q) = self.queued.remove(endpoint) {
            for (id, request) in q {
                self.send(now, endpoint, id, request);
            }
        }
    }

    fn forget_observations(&mut self, endpoint: &str) {
        // An end device's observations end with its gateway's registration.
        let keys: Vec<_> = self.observed.keys().filter(|k| k.endpoint == endpoint).cloned().collect();
        for key in keys {
            if let Some((peer, token)) = self.observed.remove(&key) {
                self.by_token.remove(&(peer, token.clone()));
                self.observations.forget(peer, &token);
            }
        }
    }

    /// Handles a datagram from `peer` at `now`. Undecodable datagrams are dropped.
    pub fn handle_datagram(&mut self, now: Instant, peer: SocketAddr, bytes: &[u8]) {
        let Ok(packet) = Packet::from_bytes(bytes) else {
            tracing::debug!(%peer, len = bytes.len(), "dropping undecodable datagram");
            return;
        };
        match packet.header.code {
            MessageClass::Request(_) => self.handle_request(now, peer, &packet),
            MessageClass::Empty | MessageClass::Response(_) => {
                if !self.exchanges.handle(now, peer, &packet) && matches!(packet.header.code, MessageClass::Response(_))
                {
                    self.handle_notification(now, peer, &packet);
                }
                self.drain_exchanges(now);
            }
            MessageClass::Reserved(_) => {}
        }
    }

    fn handle_notification(&mut self, now: Instant, peer: SocketAddr, packet: &Packet) {
        let confirmable = packet.header.get_type() == MessageType::Confirmable;
        let key = (peer, packet.get_token().to_vec());
        let outcome = self.observations.on_response(now, peer, packet);
        let reply = match outcome {
            Notification::Unknown => Some(reset(packet)),
            _ if confirmable => Some(crate::coap::empty_ack(packet)),
            _ => None,
        };
        if let Some(bytes) = reply.and_then(|r| serialize(&r, &self.config.transmission).ok()) {
            self.transmits.push_back(Transmit { peer, bytes });
        }
        let Some(observation) = self.by_token.get(&key).cloned() else { return };
        match outcome {
            Notification::Fresh { .. } | Notification::Ended => {
                if outcome == Notification::Ended {
                    self.by_token.remove(&key);
                    self.observed.remove(&observation);
                }
                let ObservationKey { endpoint, prefix, observed } = observation;
                self.wake(now, &endpoint);
                let response = DmResponse::from_packet(packet);
                self.events.push_back(ServerEvent::Notification { endpoint, prefix, observed, response });
            }
            Notification::Stale | Notification::Unknown => {}
        }
    }

    fn handle_request(&mut self, now: Instant, peer: SocketAddr, packet: &Packet) {
        let kind = packet.header.get_type();
        if !matches!(kind, MessageType::Confirmable | MessageType::NonConfirmable) {
            return;
        }
        match self.dedup.check(now, peer, packet.header.message_id, kind == MessageType::Confirmable) {
            Seen::New => {}
            Seen::Replay(bytes) => return self.transmits.push_back(Transmit { peer, bytes }),
            Seen::Drop => return,
        }
        let (whole, echo) = match self.block1.on_request(now, peer, packet) {
            Block1Outcome::Plain => (None, None),
            Block1Outcome::Whole(whole, block) => (Some(whole), Some(block)),
            Block1Outcome::Reply(code, block) => return self.answer_block(peer, packet, code, block),
        };
        let packet = whole.as_deref().unwrap_or(packet);
        // lwm2m-node-lib and others may send `rd/{id}` as one Uri-Path option.
        let segments = crate::coap::uri_path(packet);
        let mut response = Packet::new();
        response.header.message_id = packet.header.message_id;
        response.set_token(packet.get_token().to_vec());
        if kind == MessageType::Confirmable {
            response.header.set_type(MessageType::Acknowledgement);
        } else {
            response.header.set_type(MessageType::NonConfirmable);
            response.header.message_id = self.random() as u16;
        }
        if let Some(block) = echo {
            response.add_option(CoapOption::Block1, block.encode());
        }
        let mut change = None;
        match segments.split_first() {
            Some((first, rest)) if first == "rd" => {
                // Register must be Confirmable (LwM2M TS §8.2, as Leshan's RegisterResource cites it).
                let reply = if kind != MessageType::Confirmable && rest.is_empty() {
                    registration::RdReply {
                        code: ResponseType::BadRequest,
                        location: Vec::new(),
                        diagnostic: Some("CON CoAP type expected".into()),
                        change: None,
                    }
                } else if self.config.confirm_registrations && self.held.len() >= self.config.max_unconfirmed {
                    // Storage is behind: refuse before changing anything; the client retries.
                    registration::RdReply {
                        code: ResponseType::ServiceUnavailable,
                        location: Vec::new(),
                        diagnostic: Some("busy, retry later".into()),
                        change: None,
                    }
                } else {
                    self.registry.handle(now, peer, rest, packet)
                };
                response.header.code = MessageClass::Response(reply.code);
                for seg in reply.location {
                    response.add_option(CoapOption::LocationPath, seg.into_bytes());
                }
                if let Some(d) = reply.diagnostic {
                    response.payload = d.into_bytes();
                }
                change = reply.change;
            }
            // Send (TS Core 1.1 §6.4.6): only a registered client may push values.
            Some((first, [])) if first == "dp" => {
                let code = match (packet.header.code, self.registry.by_address(&peer)) {
                    (MessageClass::Request(coap_lite::RequestType::Post), Some(reg)) => {
                        let endpoint = reg.endpoint.clone();
                        let mut content = DmResponse::from_packet(packet);
                        content.code = ResponseType::Changed;
                        self.events.push_back(ServerEvent::Send { endpoint: endpoint.clone(), response: content });
                        self.wake(now, &endpoint);
                        ResponseType::Changed
                    }
                    (MessageClass::Request(coap_lite::RequestType::Post), None) => ResponseType::Forbidden,
                    _ => ResponseType::MethodNotAllowed,
                };
                response.header.code = MessageClass::Response(code);
            }
            _ => response.header.code = MessageClass::Response(ResponseType::NotFound),
        }
        let Ok(bytes) = serialize(&response, &self.config.transmission) else { return };
        match change {
            Some(change) if self.config.confirm_registrations => {
                let ack = Ack(self.next_ack);
                self.next_ack += 1;
                let wake = match &change {
                    RdChange::Registered { registration, .. } | RdChange::Updated { registration, .. } => {
                        Some(registration.endpoint.clone())
                    }
                    RdChange::Deregistered { .. } => None,
                };
                let held = Held {
                    peer,
                    message_id: packet.header.message_id,
                    token: packet.get_token().to_vec(),
                    kind: response.header.get_type(),
                    reply: bytes,
                    wake,
                    since: now,
                };
                self.hold(ack, held);
                self.apply(now, change, Some(ack));
            }
            change => {
                self.dedup.store_response(peer, packet.header.message_id, bytes.clone());
                self.transmits.push_back(Transmit { peer, bytes });
                if let Some(change) = change {
                    self.apply(now, change, None);
                }
            }
        }
    }

    /// Releases a held registration reply ([`ServerConfig::confirm_registrations`]): the
    /// change is stored (`stored`), so the client gets its 2.01 / 2.04 / 2.02 and requests held
    /// for it go out; or it could not be, and the client gets 5.00 and registers again. An
    /// unknown or already released `ack` is ignored.
    pub fn confirm(&mut self, now: Instant, ack: Ack, stored: bool) {
        let Some(held) = self.release(ack) else { return };
        let bytes = if stored {
            held.reply
        } else {
            let mut failed = Packet::new();
            failed.header.set_type(held.kind);
            failed.header.message_id = held.message_id;
            if held.kind == MessageType::NonConfirmable {
                failed.header.message_id = self.random() as u16;
            }
            failed.set_token(held.token);
            failed.header.code = MessageClass::Response(ResponseType::InternalServerError);
            failed.payload = b"could not store the registration".to_vec();
            match serialize(&failed, &self.config.transmission) {
                Ok(bytes) => bytes,
                Err(_) => return,
            }
        };
        self.dedup.store_response(held.peer, held.message_id, bytes.clone());
        self.transmits.push_back(Transmit { peer: held.peer, bytes });
        if let Some(ep) = held.wake.filter(|_| stored) {
            self.wake(now, &ep);
        }
    }

    /// Registration replies waiting for [`Server::confirm`].
    pub fn unconfirmed(&self) -> usize {
        self.held.len()
    }

    fn hold(&mut self, ack: Ack, held: Held) {
        if let Some(ep) = &held.wake {
            *self.confirming.entry(ep.clone()).or_default() += 1;
        }
        self.held.insert(ack, held);
    }

    fn release(&mut self, ack: Ack) -> Option<Held> {
        let held = self.held.remove(&ack)?;
        if let Some(ep) = &held.wake {
            if let Some(n) = self.confirming.get_mut(ep) {
                *n -= 1;
                if *n == 0 {
                    self.confirming.remove(ep);
                }
            }
        }
        Some(held)
    }

    fn answer_block(&mut self, peer: SocketAddr, request: &Packet, code: ResponseType, block: Option<BlockOption>) {
        let mut response = Packet::new();
        let kind = request.header.get_type();
        response.header.set_type(if kind == MessageType::Confirmable {
            MessageType::Acknowledgement
        } else {
            MessageType::NonConfirmable
        });
        response.header.message_id = request.header.message_id;
        response.header.code = MessageClass::Response(code);
        response.set_token(request.get_token().to_vec());
        if let Some(b) = block {
            response.add_option(CoapOption::Block1, b.encode());
        }
        if let Ok(bytes) = serialize(&response, &self.config.transmission) {
            self.dedup.store_response(peer, request.header.message_id, bytes.clone());
            self.transmits.push_back(Transmit { peer, bytes });
        }
    }

    /// Applies a registration change; with `ack`, requests held for the client wait for
    /// [`Server::confirm`] (the client must have its reply before the server's requests).
    fn apply(&mut self, now: Instant, change: RdChange, ack: Option<Ack>) {
        match &change {
            RdChange::Registered { registration, replaced } => {
                // A new registration starts without observations (the client lost them).
                if let Some(old) = replaced {
                    self.forget_observations(&old.endpoint);
                }
                let ep = registration.endpoint.clone();
                self.awake.remove(&ep);
                self.events.push_back(ServerEvent::Registration(Box::new(change), ack));
                if ack.is_none() {
                    self.wake(now, &ep);
                }
            }
            RdChange::Updated { registration, .. } => {
                let ep = registration.endpoint.clone();
                self.events.push_back(ServerEvent::Registration(Box::new(change), ack));
                if ack.is_none() {
                    self.wake(now, &ep);
                }
            }
            RdChange::Deregistered { registration } => {
                let ep = registration.endpoint.clone();
                self.forget_observations(&ep);
                self.awake.remove(&ep);
                self.events.push_back(ServerEvent::Registration(Box::new(change), ack));
            }
        }
    }

    /// Runs retransmissions, timeouts, lifetime expiry and awake-window ends due by `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.exchanges.handle_timeout(now);
        self.drain_exchanges(now);
        for registration in self.registry.expire(now) {
            self.forget_observations(&registration.endpoint);
            self.awake.remove(&registration.endpoint);
            self.events.push_back(ServerEvent::Expired(registration));
        }
        for ep in self.awake.fall_asleep(now) {
            self.events.push_back(ServerEvent::Sleeping(ep));
        }
        let due = self.last_housekeeping.is_none_or(|t| now.saturating_duration_since(t) >= Duration::from_secs(10));
        if due {
            self.last_housekeeping = Some(now);
            self.dedup.expire(now);
            self.registry.expire_sources(now);
            self.block1.expire(now);
            // A reply never confirmed (its caller went away): the client has given up by now.
            let limit = self.config.transmission.max_transmit_wait();
            let stale: Vec<Ack> = self
                .held
                .iter()
                .filter(|(_, h)| now.saturating_duration_since(h.since) >= limit)
                .map(|(a, _)| *a)
                .collect();
            if !stale.is_empty() {
                tracing::warn!(dropped = stale.len(), "registration replies never confirmed");
            }
            for ack in stale {
                self.release(ack);
            }
        }
    }
}

#[cfg(test)]
mod tests;
