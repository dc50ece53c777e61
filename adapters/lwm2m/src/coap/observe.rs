//! Client-side observation (RFC 7641), which coap-lite 0.13 lacks (its `observe` is server side):
//! register with Observe=0, order notifications by the 24-bit sequence rule of §3.4 (with its
//! 128-second escape), cancel passively (forget, then RST the next notification, §3.6) or actively
//! (GET with Observe=1 and the same token, §3.6; LwM2M Cancel Observation, TS Core 1.1 §6.4).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use coap_lite::{CoapOption, MessageClass, Packet};

use super::{decode_uint, encode_uint, CoapError};

/// Observe option value registering an observation.
pub const REGISTER: u32 = 0;
/// Observe option value deregistering an observation.
pub const DEREGISTER: u32 = 1;

/// RFC 7641 §3.4: a notification older than this is fresh whatever its sequence number.
const FRESHNESS_WINDOW: Duration = Duration::from_secs(128);
const HALF_SEQUENCE_SPACE: u32 = 1 << 23;
const SEQUENCE_MASK: u32 = 0xFF_FFFF;

/// What a received response means for observations.
#[derive(Debug, Clone, PartialEq)]
pub enum Notification {
    /// Newer than anything seen: deliver it. `sequence` is its Observe value.
    Fresh {
        /// Observe option value (24 bits).
        sequence: u32,
    },
    /// Reordered, older than the last one delivered: drop it (but ACK it if CON).
    Stale,
    /// The server ended the observation (a response without Observe, or an error code,
    /// §3.2): deliver it and consider the observation gone.
    Ended,
    /// No observation has this token (cancelled passively or never made): answer with RST.
    Unknown,
}

#[derive(Debug, Clone)]
struct Observation {
    request: Packet,
    last: Option<(u32, Instant)>,
}

/// The observations this endpoint holds towards its peers.
#[derive(Debug)]
pub struct Observations {
    max: usize,
    entries: HashMap<(SocketAddr, Vec<u8>), Observation>,
}

/// RFC 7641 §3.4: is `(v2, t2)` newer than `(v1, t1)`?
pub fn is_fresh(v1: u32, t1: Instant, v2: u32, t2: Instant) -> bool {
    let (v1, v2) = (v1 & SEQUENCE_MASK, v2 & SEQUENCE_MASK);
    (v1 < v2 && v2 - v1 < HALF_SEQUENCE_SPACE)
        || (v1 > v2 && v1 - v2 > HALF_SEQUENCE_SPACE)
        || t2 > t1 + FRESHNESS_WINDOW
}

/// Reads the Observe option, if present and well-formed (at most 3 bytes, §2).
pub fn observe_value(packet: &Packet) -> Option<u32> {
    packet.get_first_option(CoapOption::Observe).filter(|v| v.len() <= 3).and_then(|v| decode_uint(v))
}

fn set_observe(packet: &mut Packet, value: u32) {
    packet.clear_option(CoapOption::Observe);
    packet.add_option(CoapOption::Observe, encode_uint(value));
}

impl Observations {
    /// Holds at most `max` observations.
    pub fn new(max: usize) -> Self {
        Observations { max: max.max(1), entries: HashMap::new() }
    }

    /// Number of live observations.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when no observation is live.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Marks `request` (a GET or FETCH with the token chosen by the caller) as an observation
    /// registration: sets Observe=0 and remembers it. Send the returned packet through
    /// [`super::exchange::Exchanges`]; its response goes to [`Observations::on_response`].
    pub fn register(&mut self, peer: SocketAddr, mut request: Packet) -> Result<Packet, CoapError> {
        let key = (peer, request.get_token().to_vec());
        if self.entries.contains_key(&key) {
            return Err(CoapError::TokenInUse);
        }
        if self.entries.len() >= self.max {
            return Err(CoapError::TooMany("observations"));
        }
        set_observe(&mut request, REGISTER);
        self.entries.insert(key, Observation { request: request.clone(), last: None });
        Ok(request)
    }

    /// Classifies a response or notification received at `now` for `peer`.
    pub fn on_response(&mut self, now: Instant, peer: SocketAddr, message: &Packet) -> Notification {
        let key = (peer, message.get_token().to_vec());
        let Some(obs) = self.entries.get_mut(&key) else {
            return Notification::Unknown;
        };
        let success = matches!(message.header.code, MessageClass::Response(r) if !r.is_error());
        let Some(sequence) = observe_value(message).filter(|_| success) else {
            self.entries.remove(&key);
            return Notification::Ended;
        };
        match obs.last {
            Some((v1, t1)) if !is_fresh(v1, t1, sequence, now) => Notification::Stale,
            _ => {
                obs.last = Some((sequence, now));
                Notification::Fresh { sequence }
            }
        }
    }

    /// Passive cancel: forget the observation; the next notification comes back
    /// [`Notification::Unknown`] and gets a RST.
    pub fn forget(&mut self, peer: SocketAddr, token: &[u8]) -> bool {
        self.entries.remove(&(peer, token.to_vec())).is_some()
    }

    /// Active cancel: forgets the observation and returns the GET (or FETCH) to send, equal to
    /// the registration but with Observe=1 and the same token (RFC 7641 §3.6).
    pub fn cancel(&mut self, peer: SocketAddr, token: &[u8]) -> Option<Packet> {
        let obs = self.entries.remove(&(peer, token.to_vec()))?;
        let mut request = obs.request;
        set_observe(&mut request, DEREGISTER);
        Some(request)
    }

    /// Forgets every observation towards `peer` (deregistration, or an address change).
    pub fn forget_peer(&mut self, peer: SocketAddr) {
        self.entries.retain(|(p, _), _| *p != peer);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use coap_lite::{MessageType, RequestType, ResponseType};

    fn peer() -> SocketAddr {
        SocketAddr::from(([192, 0, 2, 9], 5683))
    }

    fn observe_request(token: &[u8]) -> Packet {
        let mut p = Packet::new();
        p.header.set_type(MessageType::Confirmable);
        p.header.code = MessageClass::Request(RequestType::Get);
        p.set_token(token.to_vec());
        for seg in ["3", "0", "9"] {
            p.add_option(CoapOption::UriPath, seg.as_bytes().to_vec());
        }
        p
    }

    fn notification(token: &[u8], seq: Option<u32>, code: ResponseType) -> Packet {
        let mut p = Packet::new();
        p.header.set_type(MessageType::NonConfirmable);
        p.header.code = MessageClass::Response(code);
        p.set_token(token.to_vec());
        if let Some(seq) = seq {
            p.add_option(CoapOption::Observe, encode_uint(seq));
        }
        p
    }

    #[test]
    fn sequence_rule_of_rfc_7641_section_3_4() {
        let t = Instant::now();
        assert!(is_fresh(1, t, 2, t));
        assert!(!is_fresh(2, t, 1, t));
        assert!(!is_fresh(5, t, 5, t));
        // Wrap-around: 0xFFFFFF then 0 is fresh; 0 then 0xFFFFFF is not.
        assert!(is_fresh(0xFF_FFFF, t, 0, t));
        assert!(!is_fresh(0, t, 0xFF_FFFF, t));
        // Exactly half the space apart is neither newer nor older.
        assert!(!is_fresh(0, t, 1 << 23, t));
        // After 128 s anything is fresh.
        assert!(is_fresh(10, t, 3, t + Duration::from_secs(129)));
        assert!(!is_fresh(10, t, 3, t + Duration::from_secs(128)));
    }

    #[test]
    fn register_notify_reorder_and_cancel_actively() {
        let t0 = Instant::now();
        let mut obs = Observations::new(4);
        let req = obs.register(peer(), observe_request(b"ob")).unwrap();
        assert_eq!(observe_value(&req), Some(REGISTER));
        let ok = ResponseType::Content;
        assert_eq!(
            obs.on_response(t0, peer(), &notification(b"ob", Some(10), ok)),
            Notification::Fresh { sequence: 10 }
        );
        assert_eq!(
            obs.on_response(t0, peer(), &notification(b"ob", Some(12), ok)),
            Notification::Fresh { sequence: 12 }
        );
        // 11 arrives late: stale.
        assert_eq!(obs.on_response(t0, peer(), &notification(b"ob", Some(11), ok)), Notification::Stale);
        let later = t0 + Duration::from_secs(200);
        assert_eq!(
            obs.on_response(later, peer(), &notification(b"ob", Some(11), ok)),
            Notification::Fresh { sequence: 11 }
        );
        let cancel = obs.cancel(peer(), b"ob").unwrap();
        assert_eq!(observe_value(&cancel), Some(DEREGISTER));
        assert_eq!(cancel.get_token(), b"ob");
        assert_eq!(cancel.get_option(CoapOption::UriPath).map(|l| l.len()), Some(3));
        assert!(obs.is_empty());
    }

    #[test]
    fn passive_cancel_and_server_side_end() {
        let t0 = Instant::now();
        let mut obs = Observations::new(1);
        obs.register(peer(), observe_request(b"a")).unwrap();
        assert_eq!(obs.register(peer(), observe_request(b"b")).err(), Some(CoapError::TooMany("observations")));
        assert!(obs.forget(peer(), b"a"));
        let n = notification(b"a", Some(3), ResponseType::Content);
        assert_eq!(obs.on_response(t0, peer(), &n), Notification::Unknown);
        // The RST to send for it carries its message id.
        assert_eq!(super::super::reset(&n).header.get_type(), MessageType::Reset);

        obs.register(peer(), observe_request(b"c")).unwrap();
        let end = notification(b"c", Some(4), ResponseType::NotFound);
        assert_eq!(obs.on_response(t0, peer(), &end), Notification::Ended);
        obs.register(peer(), observe_request(b"d")).unwrap();
        let plain = notification(b"d", None, ResponseType::Content);
        assert_eq!(obs.on_response(t0, peer(), &plain), Notification::Ended);
        assert!(obs.is_empty());
        obs.register(peer(), observe_request(b"e")).unwrap();
        obs.forget_peer(peer());
        assert_eq!(obs.len(), 0);
    }
}
