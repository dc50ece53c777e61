//! The [`super::Server`]'s settings and what goes in and out of it: Device Management
//! requests, the client's answers, and the events it reports (TS Core 1.1 §6.3,
//! §6.4).

use std::sync::Arc;
use std::time::Duration;

use coap_lite::{CoapOption, MessageClass, Packet, RequestType, ResponseType};

use super::registration::{RdChange, Registration, RegistrationConfig};
use crate::coap::{decode_uint, TransmissionParams};
use crate::path::Path;

/// Server settings.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerConfig {
    /// Registration interface bounds and deny-list.
    pub registration: RegistrationConfig,
    /// CoAP transmission parameters (RFC 7252 §4.8).
    pub transmission: TransmissionParams,
    /// How long a queue-mode client stays reachable after it was heard from (TS Core 1.1
    /// §6.5; 93 s = MAX_TRANSMIT_WAIT of RFC 7252 §4.8 by default, as in Leshan).
    pub awake_window: Duration,
    /// Requests held per endpoint while it sleeps or is not registered (a commercial
    /// precedent, Pelion Device Management's Connect API, holds 20).
    pub max_queued_per_endpoint: usize,
    /// Endpoints that may have requests held at once.
    pub max_queued_endpoints: usize,
    /// Concurrent outgoing exchanges.
    pub max_exchanges: usize,
    /// Live observations.
    pub max_observations: usize,
    /// Peers and message ids remembered for duplicate detection.
    pub dedup_peers: usize,
    /// Message ids remembered per peer.
    pub dedup_per_peer: usize,
    /// Largest response body reassembled from Block2 blocks (RFC 7959 §2.4).
    pub max_body: usize,
    /// Block1 request bodies (large Register / Update payloads) reassembled at once.
    pub max_block1_transfers: usize,
    /// Largest request body sent block-wise to a client (a firmware image written to
    /// `/5/0/0`, RFC 7959 §2.5). Default 16 MiB.
    pub max_request_body: usize,
    /// Hold the reply to each Register, Update and De-register until the caller has stored the
    /// change and calls [`super::Server::confirm`] with the [`Ack`] of its
    /// [`ServerEvent::Registration`]: a client is told 2.01 only once its registration is
    /// durable. Off (default): replies go out at once and events carry no `Ack`.
    pub confirm_registrations: bool,
    /// Replies held at once waiting for [`super::Server::confirm`]; beyond it, registration
    /// requests get 5.03 Service Unavailable (the client retries) without being processed.
    pub max_unconfirmed: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        let transmission = TransmissionParams::default();
        ServerConfig {
            registration: RegistrationConfig::default(),
            awake_window: transmission.max_transmit_wait(),
            transmission,
            max_queued_per_endpoint: 20,
            max_queued_endpoints: 10_000,
            max_exchanges: 10_000,
            max_observations: 10_000,
            dedup_peers: 10_000,
            dedup_per_peer: 16,
            max_body: 256 * 1024,
            max_block1_transfers: 256,
            max_request_body: 16 << 20,
            confirm_registrations: false,
            max_unconfirmed: 4096,
        }
    }
}

/// A registration reply held until the change is stored ([`ServerConfig::confirm_registrations`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ack(pub(crate) u64);

/// Identifies a Device Management request handed to [`super::Server::request`].
pub type RequestId = u64;

/// A Device Management request (TS Core 1.1 §6.3, §6.4).
#[derive(Debug, Clone, PartialEq)]
pub struct DmRequest {
    /// CoAP method.
    pub method: RequestType,
    /// Target, relative to the client's root path.
    pub path: Path,
    /// Content-Format of `payload`.
    pub content_format: Option<u16>,
    /// Accept option.
    pub accept: Option<u16>,
    /// Observe option: 0 registers an observation, 1 cancels it (RFC 7641 §2).
    pub observe: Option<u32>,
    /// A LwM2M Gateway end-device prefix (`/25/x/1`): the request goes to
    /// `/{prefix}/{path}` (LwM2M Gateway TS §6).
    pub prefix: Option<String>,
    /// Uri-Query options, one per entry (Write-Attributes `pmin=10`, TS Core 1.1 §5.4.3).
    pub query: Vec<String>,
    /// The paths a composite request on `/` lists in its body (Read-Composite,
    /// Observe-Composite and its cancel, TS Core 1.1 §5.4.6, §6.4.3); `None` for the others.
    /// With Observe it keys the observation ([`Observed::Composite`]).
    pub composite: Option<Vec<Path>>,
    /// Payload.
    pub payload: Vec<u8>,
}

impl DmRequest {
    /// A request without options or payload.
    pub fn new(method: RequestType, path: Path) -> DmRequest {
        DmRequest {
            method,
            path,
            content_format: None,
            accept: None,
            observe: None,
            prefix: None,
            query: Vec::new(),
            composite: None,
            payload: Vec::new(),
        }
    }

    /// What an observation made (Observe=0) or cancelled (Observe=1) by this request watches.
    pub fn observed(&self) -> Observed {
        match &self.composite {
            Some(paths) => Observed::composite(paths.iter().copied()),
            None => Observed::Path(self.path),
        }
    }
}

/// What an observation watches; with the endpoint and the end-device prefix
/// ([`DmRequest::prefix`]), the key under which the server finds an observation to cancel and
/// names the source of a notification.
///
/// An Observe (GET) of `/3/0/9` and an Observe-Composite (FETCH on `/`, TS Core 1.1 §6.4.3)
/// listing only `/3/0/9` are two observations: the client tells them apart by token and
/// answers them in different formats, so they have different keys.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Observed {
    /// Observe: GET with Observe on one path (TS Core 1.1 §6.4.1).
    Path(Path),
    /// Observe-Composite: FETCH with Observe on `/`, the body listing these paths, sorted and
    /// without duplicates so that one set is one observation in whatever order it was listed.
    Composite(Vec<Path>),
}

impl Observed {
    /// The composite key of a path list: sorted, duplicates dropped.
    pub fn composite(paths: impl IntoIterator<Item = Path>) -> Observed {
        let mut paths: Vec<Path> = paths.into_iter().collect();
        paths.sort();
        paths.dedup();
        Observed::Composite(paths)
    }

    /// The single observed path, `None` for a composite observation.
    pub fn path(&self) -> Option<Path> {
        match self {
            Observed::Path(p) => Some(*p),
            Observed::Composite(_) => None,
        }
    }
}

impl std::fmt::Display for Observed {
    /// `/3/0/9`, or `composite:/1/0/1,/3/0/9` (the form the adapter persists).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Observed::Path(p) => write!(f, "{p}"),
            Observed::Composite(paths) => {
                f.write_str(COMPOSITE_PREFIX)?;
                for (i, p) in paths.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    write!(f, "{p}")?;
                }
                Ok(())
            }
        }
    }
}

const COMPOSITE_PREFIX: &str = "composite:";

impl std::str::FromStr for Observed {
    type Err = crate::path::PathError;

    /// Parses what [`Observed`]'s `Display` writes.
    fn from_str(s: &str) -> Result<Observed, Self::Err> {
        match s.strip_prefix(COMPOSITE_PREFIX) {
            Some(list) => Ok(Observed::composite(list.split(',').map(str::parse).collect::<Result<Vec<Path>, _>>()?)),
            None => s.parse().map(Observed::Path),
        }
    }
}

/// A client's answer or notification.
#[derive(Debug, Clone, PartialEq)]
pub struct DmResponse {
    /// Response code.
    pub code: ResponseType,
    /// Content-Format, raw (legacy numbers included).
    pub content_format: Option<u16>,
    /// Payload.
    pub payload: Vec<u8>,
    /// Location-Path segments (the new instance of a Create, TS Core 1.1 §5.4.4).
    pub location: Vec<String>,
}

impl DmResponse {
    pub(crate) fn from_packet(p: &Packet) -> DmResponse {
        let code = match p.header.code {
            MessageClass::Response(r) => r,
            _ => ResponseType::UnKnown,
        };
        let content_format =
            p.get_first_option(CoapOption::ContentFormat).and_then(|v| decode_uint(v)).map(|v| v as u16);
        let location = p
            .get_option(CoapOption::LocationPath)
            .into_iter()
            .flatten()
            .map(|s| String::from_utf8_lossy(s).into_owned())
            .collect();
        DmResponse { code, content_format, payload: p.payload.clone(), location }
    }
}

/// Why a request got no answer.
#[derive(Debug, Clone, PartialEq)]
pub enum RequestFailure {
    /// No answer after the retransmission schedule (RFC 7252 §4.2).
    TimedOut,
    /// The client answered with RST.
    Reset,
    /// The request could not be sent or held (bounds reached, encoding).
    Rejected(String),
}

/// What the server reports.
#[derive(Debug, Clone, PartialEq)]
pub enum ServerEvent {
    /// A registration-interface change (Register, Update, De-register), with the reply to
    /// release by [`super::Server::confirm`] once it is stored, when replies are held.
    Registration(Box<RdChange>, Option<Ack>),
    /// A registration's lifetime ran out.
    Expired(Arc<Registration>),
    /// A queue-mode client's awake window ended.
    Sleeping(String),
    /// The outcome of a request.
    Response {
        /// The request.
        request: RequestId,
        /// Its outcome.
        result: Result<DmResponse, RequestFailure>,
    },
    /// Values the client pushed with the Send operation (`POST /dp`, TS Core 1.1 §6.4.6).
    Send {
        /// The endpoint.
        endpoint: String,
        /// The payload (SenML JSON / CBOR, LwM2M CBOR) with its Content-Format.
        response: DmResponse,
    },
    /// A notification of an observation (RFC 7641 §4.2): of one path, or of the paths of an
    /// Observe-Composite (TS Core 1.1 §6.4.3, SenML carrying all of them).
    Notification {
        /// The endpoint.
        endpoint: String,
        /// The end device's prefix when the observation was made with one
        /// ([`DmRequest::prefix`]): the notification is of that end device behind the gateway
        /// `endpoint`, and `observed` is relative to it.
        prefix: Option<String>,
        /// What the observation watches.
        observed: Observed,
        /// The notification.
        response: DmResponse,
    },
}
