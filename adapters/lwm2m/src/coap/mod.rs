//! Sans-I/O CoAP machinery over `coap-lite` packets, which is a codec only (coap-lite 0.13 has no
//! transport, retransmission, token matching or client-side observe): message deduplication,
//! CON retransmission and request/response matching, client-side observe, and block-wise
//! transfers.
//!
//! Nothing here reads a clock, draws a random number or touches a socket: callers pass `now`,
//! the random factor and the bytes they received, and collect what to send and when to wake up
//! (`poll_transmit`, `poll_event`, `poll_timeout`, in the manner of quinn-proto).
//!
//! - [`dedup`]: duplicate detection over EXCHANGE_LIFETIME with response replay (RFC 7252 §4.5).
//! - [`exchange`]: CON retransmission (RFC 7252 §4.2, §4.8) and matching (§4.4, §5.3.2).
//! - [`observe`]: client-side observation (RFC 7641).
//! - [`block`]: Block1 / Block2 (RFC 7959).

pub mod block;
pub mod dedup;
pub mod exchange;
pub mod observe;

use std::net::SocketAddr;
use std::time::Duration;

use coap_lite::{CoapOption, MessageClass, MessageType, Packet};

/// Transmission parameters of RFC 7252 §4.8, with the derived times of §4.8.2.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TransmissionParams {
    /// ACK_TIMEOUT, 2 s by default.
    pub ack_timeout: Duration,
    /// ACK_RANDOM_FACTOR, 1.5 by default.
    pub ack_random_factor: f64,
    /// MAX_RETRANSMIT, 4 by default.
    pub max_retransmit: u32,
    /// MAX_LATENCY, 100 s by default (used for EXCHANGE_LIFETIME).
    pub max_latency: Duration,
    /// PROCESSING_DELAY, ACK_TIMEOUT by default (used for EXCHANGE_LIFETIME).
    pub processing_delay: Duration,
    /// Largest datagram we serialize (coap-lite's default `MAX_SIZE` is 1280).
    pub max_message_size: usize,
}

impl Default for TransmissionParams {
    fn default() -> Self {
        TransmissionParams {
            ack_timeout: Duration::from_secs(2),
            ack_random_factor: 1.5,
            max_retransmit: 4,
            max_latency: Duration::from_secs(100),
            processing_delay: Duration::from_secs(2),
            max_message_size: 1280,
        }
    }
}

impl TransmissionParams {
    /// MAX_TRANSMIT_SPAN = ACK_TIMEOUT * (2^MAX_RETRANSMIT - 1) * ACK_RANDOM_FACTOR (45 s).
    pub fn max_transmit_span(&self) -> Duration {
        self.ack_timeout.mul_f64(((1u64 << self.max_retransmit.min(32)) - 1) as f64 * self.ack_random_factor)
    }

    /// MAX_TRANSMIT_WAIT = ACK_TIMEOUT * (2^(MAX_RETRANSMIT + 1) - 1) * ACK_RANDOM_FACTOR (93 s).
    pub fn max_transmit_wait(&self) -> Duration {
        self.ack_timeout.mul_f64(((1u64 << (self.max_retransmit.min(31) + 1)) - 1) as f64 * self.ack_random_factor)
    }

    /// EXCHANGE_LIFETIME = MAX_TRANSMIT_SPAN + 2 * MAX_LATENCY + PROCESSING_DELAY (247 s).
    pub fn exchange_lifetime(&self) -> Duration {
        self.max_transmit_span() + 2 * self.max_latency + self.processing_delay
    }

    /// NON_LIFETIME = MAX_TRANSMIT_SPAN + MAX_LATENCY (145 s).
    pub fn non_lifetime(&self) -> Duration {
        self.max_transmit_span() + self.max_latency
    }

    /// The first timeout of a CON message: ACK_TIMEOUT scaled by a factor in
    /// `[1, ACK_RANDOM_FACTOR]`; `random` in `[0, 1]` picks where (RFC 7252 §4.2).
    pub fn initial_timeout(&self, random: f64) -> Duration {
        let r = if random.is_finite() { random.clamp(0.0, 1.0) } else { 0.0 };
        self.ack_timeout.mul_f64(1.0 + r * (self.ack_random_factor - 1.0).max(0.0))
    }
}

/// A datagram to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// Destination.
    pub peer: SocketAddr,
    /// The serialized CoAP message.
    pub bytes: Vec<u8>,
}

/// Errors of the CoAP layer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CoapError {
    /// coap-lite refused to serialize the message (too large for the datagram limit, ...).
    #[error("cannot serialize CoAP message: {0}")]
    Encode(String),
    /// A request with this token is already outstanding towards this peer.
    #[error("token already in use towards this peer")]
    TokenInUse,
    /// The bound on concurrent exchanges or observations is reached.
    #[error("too many concurrent {0}")]
    TooMany(&'static str),
    /// A block-wise transfer broke a rule of RFC 7959 or a size bound.
    #[error("block-wise transfer: {0}")]
    Block(String),
}

pub(crate) fn serialize(packet: &Packet, params: &TransmissionParams) -> Result<Vec<u8>, CoapError> {
    packet.to_bytes_with_limit(params.max_message_size).map_err(|e| CoapError::Encode(e.to_string()))
}

/// The request's Uri-Path segments (RFC 7252 §5.10.1), read liberally: an option holding
/// `rd/5` (as lwm2m-node-lib sends it) splits on `/`, empty segments are dropped, and invalid
/// UTF-8 is replaced rather than refused.
pub fn uri_path(packet: &Packet) -> Vec<String> {
    packet
        .get_option(CoapOption::UriPath)
        .into_iter()
        .flatten()
        .flat_map(|s| String::from_utf8_lossy(s).split('/').map(str::to_owned).collect::<Vec<_>>())
        .filter(|s| !s.is_empty())
        .collect()
}

/// The empty ACK for a received CON message (RFC 7252 §4.2).
pub fn empty_ack(received: &Packet) -> Packet {
    empty_reply(received, MessageType::Acknowledgement)
}

/// The RST rejecting a received message (RFC 7252 §4.2, §4.3), e.g. a notification nobody
/// observes any more (RFC 7641 §3.6).
pub fn reset(received: &Packet) -> Packet {
    empty_reply(received, MessageType::Reset)
}

/// The response to a request, to be given its code: piggybacked on the ACK of a CON request,
/// a NON with the request's message id otherwise; the request's token (RFC 7252 §5.2).
pub fn response_to(request: &Packet) -> Packet {
    let mut r = Packet::new();
    r.header.set_type(if request.header.get_type() == MessageType::Confirmable {
        MessageType::Acknowledgement
    } else {
        MessageType::NonConfirmable
    });
    r.header.message_id = request.header.message_id;
    r.set_token(request.get_token().to_vec());
    r
}

/// A non-confirmable notification of an observation (RFC 7641 §4.2): 2.05 with the
/// observation's token, its sequence number and the payload's content format; the message id
/// is the sender's to set.
pub fn notification(token: &[u8], sequence: u32, content_format: u16, payload: Vec<u8>) -> Packet {
    let mut p = Packet::new();
    p.header.set_type(MessageType::NonConfirmable);
    p.header.code = MessageClass::Response(coap_lite::ResponseType::Content);
    p.set_token(token.to_vec());
    p.add_option(CoapOption::Observe, encode_uint(sequence));
    p.add_option(CoapOption::ContentFormat, encode_uint(u32::from(content_format)));
    p.payload = payload;
    p
}

fn empty_reply(received: &Packet, kind: MessageType) -> Packet {
    let mut p = Packet::new();
    p.header.set_type(kind);
    p.header.code = MessageClass::Empty;
    p.header.message_id = received.header.message_id;
    p
}

/// Encodes an option value as the shortest big-endian unsigned integer (RFC 7252 §3.2 "uint").
pub fn encode_uint(value: u32) -> Vec<u8> {
    let bytes = value.to_be_bytes();
    let skip = bytes.iter().take_while(|b| **b == 0).count();
    bytes[skip..].to_vec()
}

/// Decodes a uint option value of at most four bytes.
pub fn decode_uint(bytes: &[u8]) -> Option<u32> {
    if bytes.len() > 4 {
        return None;
    }
    Some(bytes.iter().fold(0u32, |acc, b| (acc << 8) | u32::from(*b)))
}

#[cfg(test)]
mod proptests;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uri_path_is_read_liberally() {
        let mut p = Packet::new();
        for seg in [&b"rd/5"[..], b"", b"x\xff"] {
            p.add_option(CoapOption::UriPath, seg.to_vec());
        }
        assert_eq!(uri_path(&p), ["rd", "5", "x\u{fffd}"]);
        assert!(uri_path(&Packet::new()).is_empty());
    }

    #[test]
    fn derived_times_match_rfc_7252() {
        let p = TransmissionParams::default();
        assert_eq!(p.max_transmit_span(), Duration::from_secs(45));
        assert_eq!(p.max_transmit_wait(), Duration::from_secs(93));
        assert_eq!(p.exchange_lifetime(), Duration::from_secs(247));
        assert_eq!(p.non_lifetime(), Duration::from_secs(145));
        assert_eq!(p.initial_timeout(0.0), Duration::from_secs(2));
        assert_eq!(p.initial_timeout(1.0), Duration::from_secs(3));
        assert_eq!(p.initial_timeout(7.0), Duration::from_secs(3));
        assert_eq!(p.initial_timeout(f64::NAN), Duration::from_secs(2));
    }

    #[test]
    fn uint_options() {
        assert_eq!(encode_uint(0), Vec::<u8>::new());
        assert_eq!(encode_uint(0x1234), vec![0x12, 0x34]);
        assert_eq!(decode_uint(&[0x12, 0x34]), Some(0x1234));
        assert_eq!(decode_uint(&[]), Some(0));
        assert_eq!(decode_uint(&[1, 2, 3, 4, 5]), None);
    }
}
