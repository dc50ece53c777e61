//! Outgoing requests: CON retransmission with exponential back-off (RFC 7252 §4.2, parameters
//! of §4.8), matching of ACK / RST by message id (§4.4) and of responses by token (§5.3.2),
//! including separate responses after an empty ACK (§5.2.2).
//!
//! Driven like quinn-proto: [`Exchanges::send_request`], [`Exchanges::handle`] and
//! [`Exchanges::handle_timeout`] take `now`; [`Exchanges::poll_transmit`],
//! [`Exchanges::poll_event`] and [`Exchanges::poll_timeout`] say what to do.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use coap_lite::{MessageClass, MessageType, Packet};

use super::{empty_ack, serialize, CoapError, TransmissionParams, Transmit};

/// The outcome of a request.
#[derive(Debug, Clone, PartialEq)]
pub enum ExchangeEvent {
    /// The response (piggybacked on the ACK, or separate).
    Response {
        /// Who answered.
        peer: SocketAddr,
        /// The request's token.
        token: Vec<u8>,
        /// The response message.
        response: Packet,
    },
    /// The peer rejected the request with RST.
    Reset {
        /// Who rejected.
        peer: SocketAddr,
        /// The request's token.
        token: Vec<u8>,
    },
    /// No ACK after MAX_RETRANSMIT retransmissions, or no response in time.
    TimedOut {
        /// The silent peer.
        peer: SocketAddr,
        /// The request's token.
        token: Vec<u8>,
    },
}

#[derive(Debug)]
struct Pending {
    message_id: u16,
    bytes: Vec<u8>,
    /// True while the request still needs its ACK (CON only).
    awaiting_ack: bool,
    retransmissions: u32,
    timeout: Duration,
    /// Next retransmission while `awaiting_ack`, else the give-up time.
    deadline: Instant,
}

/// The client half of the CoAP message layer for many peers.
#[derive(Debug)]
pub struct Exchanges {
    params: TransmissionParams,
    next_message_id: u16,
    max_pending: usize,
    pending: HashMap<(SocketAddr, Vec<u8>), Pending>,
    /// Every pending request's deadline, soonest first: the next timeout and the due requests
    /// without a scan of all of them.
    timers: BTreeSet<(Instant, SocketAddr, Vec<u8>)>,
    by_message_id: HashMap<(SocketAddr, u16), Vec<u8>>,
    /// Separate CON responses already ACKed, so that a retransmission of one (our ACK was
    /// lost) is ACKed again rather than treated as a stray (RFC 7252 §4.5).
    recently_acked: VecDeque<(SocketAddr, u16, Instant)>,
    transmits: VecDeque<Transmit>,
    events: VecDeque<ExchangeEvent>,
}

impl Exchanges {
    /// `first_message_id` should be random (RFC 7252 §4.4) and comes from the caller, as does
    /// every random number here.
    pub fn new(params: TransmissionParams, first_message_id: u16, max_pending: usize) -> Self {
        Exchanges {
            params,
            next_message_id: first_message_id,
            max_pending: max_pending.max(1),
            pending: HashMap::new(),
            timers: BTreeSet::new(),
            by_message_id: HashMap::new(),
            recently_acked: VecDeque::new(),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    /// Number of requests still waiting for their outcome.
    pub fn pending_count(&self) -> usize {
        self.pending.len()
    }

    /// Sends `request` (its token set by the caller, its type CON or NON). A message id is
    /// assigned; `random` in `[0, 1]` places the first timeout in
    /// `[ACK_TIMEOUT, ACK_TIMEOUT * ACK_RANDOM_FACTOR]`. Returns the message id.
    pub fn send_request(
        &mut self,
        now: Instant,
        peer: SocketAddr,
        mut request: Packet,
        random: f64,
    ) -> Result<u16, CoapError> {
        let key = (peer, request.get_token().to_vec());
        if self.pending.contains_key(&key) {
            return Err(CoapError::TokenInUse);
        }
        if self.pending.len() >= self.max_pending {
            return Err(CoapError::TooMany("exchanges"));
        }
        let message_id = self.allocate_message_id(peer).ok_or(CoapError::TooMany("exchanges with one peer"))?;
        request.header.message_id = message_id;
        let confirmable = request.header.get_type() == MessageType::Confirmable;
        let bytes = serialize(&request, &self.params)?;
        let timeout = self.params.initial_timeout(random);
        let deadline = if confirmable { now + timeout } else { now + self.params.max_transmit_wait() };
        self.transmits.push_back(Transmit { peer, bytes: bytes.clone() });
        self.by_message_id.insert((peer, message_id), key.1.clone());
        self.timers.insert((deadline, peer, key.1.clone()));
        self.pending.insert(
            key,
            Pending { message_id, bytes, awaiting_ack: confirmable, retransmissions: 0, timeout, deadline },
        );
        Ok(message_id)
    }

    /// Skips ids still bound to an exchange with this peer, so an ACK cannot be misattributed.
    /// Ids of finished exchanges are reused once the 16-bit space wraps, which honours the
    /// EXCHANGE_LIFETIME rule of RFC 7252 §4.4 below about 265 requests per second to one peer.
    fn allocate_message_id(&mut self, peer: SocketAddr) -> Option<u16> {
        for _ in 0..=u16::MAX {
            let id = self.next_message_id;
            self.next_message_id = self.next_message_id.wrapping_add(1);
            if !self.by_message_id.contains_key(&(peer, id)) {
                return Some(id);
            }
        }
        None
    }

    /// Forgets a request (the caller lost interest); a late response will then be unmatched.
    pub fn cancel(&mut self, peer: SocketAddr, token: &[u8]) {
        let key = (peer, token.to_vec());
        if let Some(p) = self.pending.remove(&key) {
            self.by_message_id.remove(&(peer, p.message_id));
            self.timers.remove(&(p.deadline, key.0, key.1));
        }
    }

    fn finish(&mut self, peer: SocketAddr, token: &[u8]) {
        self.cancel(peer, token);
    }

    /// Offers a received message. Returns false when it belongs to no outstanding request
    /// (an observe notification, a request, a stray): the caller passes it on, and answers a
    /// stray CON with [`super::reset`].
    pub fn handle(&mut self, now: Instant, peer: SocketAddr, message: &Packet) -> bool {
        let mid = message.header.message_id;
        match (message.header.get_type(), message.header.code) {
            (MessageType::Reset, _) => {
                let Some(token) = self.by_message_id.get(&(peer, mid)).cloned() else {
                    return false;
                };
                self.finish(peer, &token);
                self.events.push_back(ExchangeEvent::Reset { peer, token });
                true
            }
            (MessageType::Acknowledgement, MessageClass::Empty) => {
                let Some(token) = self.by_message_id.get(&(peer, mid)).cloned() else {
                    return false;
                };
                let wait = self.params.max_transmit_wait();
                if let Some(p) = self.pending.get_mut(&(peer, token.clone())) {
                    if p.awaiting_ack {
                        p.awaiting_ack = false;
                        self.timers.remove(&(p.deadline, peer, token.clone()));
                        p.deadline = now + wait;
                        self.timers.insert((p.deadline, peer, token));
                    }
                }
                true
            }
            (kind, MessageClass::Response(_)) => {
                let token = message.get_token().to_vec();
                let Some(p) = self.pending.get(&(peer, token.clone())) else {
                    return kind == MessageType::Confirmable && self.reacknowledge(now, peer, message);
                };
                // A piggybacked response must carry the request's message id (§5.2.1).
                if kind == MessageType::Acknowledgement && p.message_id != mid {
                    return false;
                }
                self.finish(peer, &token);
                if kind == MessageType::Confirmable {
                    self.acknowledge(now, peer, message);
                }
                self.events.push_back(ExchangeEvent::Response { peer, token, response: message.clone() });
                true
            }
            _ => false,
        }
    }

    fn acknowledge(&mut self, now: Instant, peer: SocketAddr, message: &Packet) {
        if let Ok(bytes) = serialize(&empty_ack(message), &self.params) {
            self.transmits.push_back(Transmit { peer, bytes });
        }
        if self.recently_acked.len() >= self.max_pending {
            self.recently_acked.pop_front();
        }
        let expires = now + self.params.exchange_lifetime();
        self.recently_acked.push_back((peer, message.header.message_id, expires));
    }

    /// ACKs again a separate response we already took; true if it was one.
    fn reacknowledge(&mut self, now: Instant, peer: SocketAddr, message: &Packet) -> bool {
        while self.recently_acked.front().is_some_and(|(_, _, expires)| *expires <= now) {
            self.recently_acked.pop_front();
        }
        let mid = message.header.message_id;
        if !self.recently_acked.iter().any(|(p, m, _)| *p == peer && *m == mid) {
            return false;
        }
        if let Ok(bytes) = serialize(&empty_ack(message), &self.params) {
            self.transmits.push_back(Transmit { peer, bytes });
        }
        true
    }

    /// Retransmits CON requests whose timer expired and gives up on those past their last one.
    pub fn handle_timeout(&mut self, now: Instant) {
        let mut retransmitted = Vec::new();
        while self.timers.first().is_some_and(|(deadline, ..)| *deadline <= now) {
            let Some((_, peer, token)) = self.timers.pop_first() else { break };
            let Some(p) = self.pending.get_mut(&(peer, token.clone())) else { continue };
            if p.awaiting_ack && p.retransmissions < self.params.max_retransmit {
                p.retransmissions += 1;
                p.timeout *= 2;
                p.deadline = now + p.timeout;
                self.transmits.push_back(Transmit { peer, bytes: p.bytes.clone() });
                retransmitted.push((p.deadline, peer, token));
            } else {
                // Its timer is gone already: `finish` removes nothing more than the request.
                self.finish(peer, &token);
                self.events.push_back(ExchangeEvent::TimedOut { peer, token });
            }
        }
        self.timers.extend(retransmitted);
    }

    /// The next datagram to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// The next outcome.
    pub fn poll_event(&mut self) -> Option<ExchangeEvent> {
        self.events.pop_front()
    }

    /// When [`Exchanges::handle_timeout`] must next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.first().map(|(deadline, ..)| *deadline)
    }
}

#[cfg(test)]
mod tests;
