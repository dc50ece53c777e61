//! How the [`super::Server`] takes the outcome of its own requests (TS Core 1.1 §6.3): ACKs and
//! responses matched by the exchange layer, Block2 reassembly (RFC 7959 §2.4), Block1 sending
//! (§2.5), observation registration (RFC 7641 §3) and queue-mode wake-ups (TS Core 1.1 §6.5).

use std::net::SocketAddr;
use std::time::Instant;

use coap_lite::{CoapOption, Packet};

use super::{DmResponse, InFlight, RequestFailure, Server, ServerEvent};
use crate::coap::block::{Block1Step, Block2Assembler, Block2Step};
use crate::coap::exchange::ExchangeEvent;
use crate::coap::observe::Notification;

impl Server {
    /// Continues a Block2 transfer (RFC 7959 §2.4): `Some(packet)` once the body is whole.
    pub(super) fn reassemble(
        &mut self,
        now: Instant,
        peer: SocketAddr,
        mut flight: InFlight,
        packet: Packet,
    ) -> Option<Packet> {
        let started = flight.blocks.is_some();
        if !started && packet.get_first_option(CoapOption::Block2).is_none() {
            return Some(packet);
        }
        let mut blocks = flight.blocks.take().unwrap_or_else(|| Block2Assembler::new(self.config.max_body));
        let fail = |s: &mut Server, request, why: String| {
            s.events.push_back(ServerEvent::Response { request, result: Err(RequestFailure::Rejected(why)) });
            None
        };
        match blocks.on_response(&packet) {
            Ok(Block2Step::Complete(whole)) => Some(whole),
            Ok(Block2Step::Next(block)) => {
                let mut next = Block2Assembler::next_request(&flight.original, block);
                next.set_token(self.random().to_be_bytes().to_vec());
                let request = flight.request;
                let continued = InFlight { observe: false, blocks: Some(blocks), ..flight };
                match self.transmit_request(now, peer, next, continued) {
                    Ok(()) => None,
                    Err(e) => fail(self, request, e.to_string()),
                }
            }
            Err(e) => fail(self, flight.request, e.to_string()),
        }
    }

    /// A queue-mode client that answered stays awake for another window (TS Core 1.1 §6.5).
    pub(super) fn keep_awake(&mut self, now: Instant, endpoint: &str) {
        if self.registry.by_endpoint(endpoint).is_some_and(|r| r.queue_mode) {
            self.awake.insert(endpoint, now + self.config.awake_window);
        }
    }

    pub(super) fn drain_transmits(&mut self) {
        while let Some(t) = self.exchanges.poll_transmit() {
            self.transmits.push_back(t);
        }
    }

    pub(super) fn drain_exchanges(&mut self, now: Instant) {
        self.drain_transmits();
        while let Some(event) = self.exchanges.poll_event() {
            let (peer, token, result) = match event {
                ExchangeEvent::Response { peer, token, response } => (peer, token, Ok(response)),
                ExchangeEvent::Reset { peer, token } => (peer, token, Err(RequestFailure::Reset)),
                ExchangeEvent::TimedOut { peer, token } => (peer, token, Err(RequestFailure::TimedOut)),
            };
            let Some(flight) = self.in_flight.remove(&(peer, token.clone())) else { continue };
            let request_id = flight.request;
            let result = match result {
                Ok(packet) if packet.get_first_option(CoapOption::Block2).is_some() || flight.blocks.is_some() => {
                    if flight.observe {
                        // The first block of an observe answer registers the observation.
                        let _ = self.observations.on_response(now, peer, &packet);
                    }
                    let (request, endpoint) = (flight.request, flight.endpoint.clone());
                    match self.reassemble(now, peer, flight, packet) {
                        Some(whole) => {
                            self.events.push_back(ServerEvent::Response {
                                request,
                                result: Ok(DmResponse::from_packet(&whole)),
                            });
                            self.keep_awake(now, &endpoint);
                        }
                        None => self.drain_transmits(),
                    }
                    continue;
                }
                Ok(packet) if flight.block1.is_some() => {
                    let mut flight = flight;
                    let step = flight.block1.as_mut().map(|b| b.on_response(&packet));
                    match step {
                        Some(Ok(Block1Step::Continue(mut next))) => {
                            next.set_token(self.random().to_be_bytes().to_vec());
                            let request = flight.request;
                            if let Err(e) = self.transmit_request(now, peer, next, flight) {
                                self.fail(request, RequestFailure::Rejected(e.to_string()));
                            }
                            self.drain_transmits();
                            continue;
                        }
                        Some(Ok(Block1Step::Done(last))) => Ok(DmResponse::from_packet(&last)),
                        Some(Err(e)) => Err(RequestFailure::Rejected(e.to_string())),
                        None => Ok(DmResponse::from_packet(&packet)),
                    }
                }
                Ok(packet) => {
                    if flight.observe
                        && !matches!(self.observations.on_response(now, peer, &packet), Notification::Fresh { .. })
                    {
                        self.observed.remove(&flight.observation);
                        self.by_token.remove(&(peer, token));
                    }
                    self.keep_awake(now, &flight.endpoint);
                    Ok(DmResponse::from_packet(&packet))
                }
                Err(e) => {
                    if flight.observe {
                        self.observations.forget(peer, &token);
                        self.observed.remove(&flight.observation);
                        self.by_token.remove(&(peer, token));
                    }
                    // A timed-out queue-mode client is asleep (TS Core 1.1 §6.5).
                    if e == RequestFailure::TimedOut && self.awake.remove(&flight.endpoint) {
                        self.events.push_back(ServerEvent::Sleeping(flight.endpoint.clone()));
                    }
                    Err(e)
                }
            };
            self.events.push_back(ServerEvent::Response { request: request_id, result });
        }
    }
}
