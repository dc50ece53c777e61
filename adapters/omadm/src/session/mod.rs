//! The server side of one SyncML DM session, sans I/O (OMA DM Protocol 1.2 §8.3 packages,
//! §6.1 multiple messages, §6.2 large objects; SyncML Representation Protocol 1.2 §5 - §6;
//! OMA DM Security 1.2 §5.1).
//!
//! Driven like quinn-proto: feed each HTTP POST in with [`DmSession::handle_message`] (or
//! [`DmSession::handle_message_with_hmac`] when the request carries `x-syncml-hmac`), drain
//! [`DmSession::poll_event`], then take exactly one [`DmSession::poll_reply`] (the body of the
//! HTTP 200). Management commands are queued with [`DmSession::enqueue`]; because the reply is
//! written only when polled, the adapter can queue requests in reaction to an event (say the
//! DevInfo of Package 1) before answering. Time comes in as `now` (a [`Duration`] since any
//! epoch the caller keeps); [`DmSession::poll_timeout`] says when [`DmSession::handle_timeout`]
//! is due. Nothing here reads a clock, draws randomness (nonces come from a function the caller
//! gives) or touches a socket.
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//! use unidm_omadm::codec::{self, Alert, Command, Encoding, Location, SyncBody, SyncHdr, SyncML};
//! use unidm_omadm::session::*;
//!
//! struct Accounts;
//! impl CredentialStore for Accounts {
//!     fn client_credentials(&self, _dev: &str, _user: Option<&str>) -> Option<Credentials> {
//!         Some(Credentials::new("dev", "secret"))
//!     }
//!     fn server_credentials(&self, _dev: &str) -> Option<Credentials> { None }
//!     fn client_nonce(&self, _dev: &str) -> Option<Vec<u8>> { Some(b"n0".to_vec()) }
//!     fn server_nonce(&self, _dev: &str) -> Option<Vec<u8>> { None }
//! }
//!
//! let config = SessionConfig { resp_uri: Some("https://dm.example/dm".into()), ..SessionConfig::default() };
//! let mut session = DmSession::new(config, Arc::new(Accounts), Box::new(|| vec![42; 16]), Duration::ZERO);
//!
//! // Package 1 from a client that sends no credentials.
//! let package1 = SyncML {
//!     hdr: SyncHdr {
//!         ver_dtd: "1.2".into(), ver_proto: "DM/1.2".into(), session_id: "1".into(), msg_id: "1".into(),
//!         target: Location::uri("https://dm.example/dm"), source: Location::uri("IMEI:1"),
//!         resp_uri: None, no_resp: false, cred: None, meta: None,
//!     },
//!     body: SyncBody {
//!         commands: vec![Command::Alert(Alert { cmd_id: "1".into(), code: Some(1201), ..Alert::default() })],
//!         r#final: true,
//!     },
//! };
//! let body = codec::encode(&package1, Encoding::Xml).unwrap();
//! session.handle_message(Duration::ZERO, "application/vnd.syncml.dm+xml", &body).unwrap();
//! while let Some(event) = session.poll_event() {
//!     // AuthFailed (407) and NonceUpdated: store the nonce for the device.
//!     # let _ = event;
//! }
//! let reply = session.poll_reply().unwrap(); // HTTP 200, `reply.content_type`, `reply.body`
//! let answer = codec::decode(reply.content_type.as_str(), &reply.body).unwrap();
//! let Command::Status(hdr) = &answer.body.commands[0] else { unreachable!() };
//! assert_eq!(hdr.code, 407); // with a Chal carrying a fresh NextNonce
//! # assert!(!reply.ends_session);
//! ```

mod authentication;
mod credentials;
mod event;
mod inbound;
mod large_object;
mod package;
mod request;

pub use credentials::{ClientAuth, CredentialStore, Credentials, NonceDirection, ServerAuth};
pub use event::{CloseReason, GenericAlert, Initiator, Reply, SessionError, SessionEvent};
pub use large_object::{CHUNK_BUFFERED, SIZE_MISMATCH, TOO_LARGE};
pub use request::{Op, Request, RequestHandle, Value, MAX_NESTING, MAX_PARTS};

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use credentials::server_cred;
use large_object::Assembly;
use package::{pack, Alerts, Outbox};
use request::{status_for, InFlight};

use crate::auth;
use crate::codec::{self, Alert, Command, Limits, Location, MediaType, Meta, Status, SyncHdr, SyncML};
use crate::mo::devinfo::DeviceFacts;

/// Status 200 OK.
const OK: u16 = 200;
/// Status 212: authentication accepted for the session.
const AUTH_ACCEPTED: u16 = 212;
/// Status 400: bad request (a message out of order).
const BAD_REQUEST: u16 = 400;
/// Status 401: invalid credentials.
const UNAUTHORIZED: u16 = 401;
/// Status 405: a command the client may not send.
const NOT_ALLOWED: u16 = 405;
/// Status 406: an optional feature (a command or alert) not supported.
const NOT_SUPPORTED: u16 = 406;
/// Status 407: credentials missing.
const AUTH_REQUIRED: u16 = 407;
/// Status 412: incomplete command.
const INCOMPLETE: u16 = 412;

/// Session settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionConfig {
    /// Base of the `RespURI` the server puts in its SyncHdr (OMA DM Protocol 1.2 §8.3; SyncML
    /// RepPro 1.2 §5.1.19) so that later messages reach this session; the session appends
    /// `s=<route token>` (see [`DmSession::route_token`]). `None`: no RespURI.
    pub resp_uri: Option<String>,
    /// What the client must prove (default md5).
    pub client_auth: ClientAuth,
    /// How the server proves itself, when the store has server credentials (default md5).
    pub server_auth: ServerAuth,
    /// The session id of the Package 0 that asked for this session; a Package 1 with Alert
    /// 1200 must carry it (as hex, or byte-swapped as some clients send it).
    pub notified_session_id: Option<u16>,
    /// Inactivity timeout (the spec sets none between packages; default 60 s).
    pub timeout: Duration,
    /// `MaxMsgSize` the server announces (default 64 KiB).
    pub max_msg_size: u64,
    /// `MaxObjSize` the server announces and enforces on large objects (default 1 MiB).
    pub max_obj_size: u64,
    /// Bounds for decoding every message.
    pub limits: Limits,
    /// Most requests queued and in flight at once (default 256).
    pub max_queued: usize,
    /// Authentication failures before the session ends, counted apart for the client's
    /// credentials and for the client's refusals of the server's (default 3).
    pub max_auth_failures: u32,
    /// Out-of-order or undecodable messages before the session ends (default 3).
    pub max_protocol_errors: u32,
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            resp_uri: None,
            client_auth: ClientAuth::default(),
            server_auth: ServerAuth::default(),
            notified_session_id: None,
            timeout: Duration::from_secs(60),
            max_msg_size: 64 * 1024,
            max_obj_size: 1024 * 1024,
            limits: Limits::default(),
            max_queued: 256,
            max_auth_failures: 3,
            max_protocol_errors: 3,
        }
    }
}

/// The function that makes nonces (the shell uses the OS random source; 16 bytes advised by
/// OMA DM Security 1.2 §5.1.3.3).
pub type NonceSource = Box<dyn FnMut() -> Vec<u8> + Send>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    AwaitingPackage1,
    Open,
    Closed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DueKind {
    /// Statuses only (a refused message).
    Refuse,
    /// Statuses and Alert 1222: the client's package continues.
    AskNext,
    /// Statuses and the next message of the server's package.
    Continue,
    /// Statuses and a new server package from the queue; with nothing queued it ends the
    /// session.
    NewPackage,
}

#[derive(Debug)]
struct Due {
    kind: DueKind,
    statuses: Vec<Status>,
    alerts: Alerts,
    close: Option<CloseReason>,
}

/// What the session keeps of the client's SyncHdr.
#[derive(Debug, Clone)]
struct Peer {
    session_id: String,
    dev_id: String,
    ver_dtd: String,
    ver_proto: String,
    /// The URI the client sent to (the server's `Source` in replies).
    server_uri: String,
}

/// One server-side DM session with one client.
pub struct DmSession {
    config: SessionConfig,
    store: Arc<dyn CredentialStore + Send + Sync>,
    nonce_source: NonceSource,
    state: State,
    media: MediaType,
    peer: Option<Peer>,
    initiator: Option<Initiator>,
    last_msg_id: Option<u64>,
    next_msg_id: u64,
    last_sent_msg_id: Option<String>,
    client_max_msg: Option<usize>,
    client_max_obj: Option<u64>,
    authenticated: bool,
    hmac: bool,
    auth_failures: u32,
    server_refusals: u32,
    protocol_errors: u32,
    client_nonce: Option<Vec<u8>>,
    server_creds: Option<Credentials>,
    server_nonce: Option<Vec<u8>>,
    server_accepted: bool,
    queue: VecDeque<Request>,
    outbox: Outbox,
    /// Intermediate chunks sent (`MsgID`, `CmdID`, request), answered 213 by the client.
    chunks_sent: Vec<(String, String, RequestHandle)>,
    in_flight: Vec<InFlight>,
    assembly: Option<Assembly>,
    /// The open large object got a chunk in the message being read.
    assembly_fed: bool,
    facts: DeviceFacts,
    due: Option<Due>,
    events: VecDeque<SessionEvent>,
    last_activity: Duration,
}

impl std::fmt::Debug for DmSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DmSession")
            .field("state", &self.state)
            .field("peer", &self.peer)
            .field("authenticated", &self.authenticated)
            .field("queued", &self.queue.len())
            .field("in_flight", &self.in_flight.len())
            .finish_non_exhaustive()
    }
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
fn url_token(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Whether a Package 1 SessionID names the Package 0 session id (hex, any case, leading zeros
/// or not; also byte-swapped, as some clients read it on little-endian hosts).
fn same_session_id(text: &str, notified: u16) -> bool {
    u16::from_str_radix(text.trim(), 16).is_ok_and(|v| v == notified || v == notified.swap_bytes())
}

impl DmSession {
    /// A session waiting for its Package 1; `now` starts the timeout.
    pub fn new(
        config: SessionConfig,
        store: Arc<dyn CredentialStore + Send + Sync>,
        nonce_source: NonceSource,
        now: Duration,
    ) -> DmSession {
        DmSession {
            config,
            store,
            nonce_source,
            state: State::AwaitingPackage1,
            media: MediaType::DmXml,
            peer: None,
            initiator: None,
            last_msg_id: None,
            next_msg_id: 1,
            last_sent_msg_id: None,
            client_max_msg: None,
            client_max_obj: None,
            authenticated: false,
            hmac: false,
            auth_failures: 0,
            server_refusals: 0,
            protocol_errors: 0,
            client_nonce: None,
            server_creds: None,
            server_nonce: None,
            server_accepted: false,
            queue: VecDeque::new(),
            outbox: Outbox::default(),
            chunks_sent: Vec::new(),
            in_flight: Vec::new(),
            assembly: None,
            assembly_fed: false,
            facts: DeviceFacts::default(),
            due: None,
            events: VecDeque::new(),
            last_activity: now,
        }
    }

    /// Queues a request for the next server package (bounded by
    /// [`SessionConfig::max_queued`], counting requests in flight).
    pub fn enqueue(&mut self, request: Request) -> Result<(), SessionError> {
        if self.state == State::Closed {
            return Err(SessionError::Closed);
        }
        request.op.check(0).map_err(SessionError::InvalidRequest)?;
        let held = self.queue.len() + self.outbox.len() + self.in_flight.len();
        if held >= self.config.max_queued {
            return Err(SessionError::QueueFull(held));
        }
        self.queue.push_back(request);
        Ok(())
    }

    /// The client's DevId (SyncHdr `Source`), once a message was taken.
    pub fn dev_id(&self) -> Option<&str> {
        self.peer.as_ref().map(|p| p.dev_id.as_str())
    }

    /// The SessionID, once a message was taken.
    pub fn session_id(&self) -> Option<&str> {
        self.peer.as_ref().map(|p| p.session_id.as_str())
    }

    /// Who opened the session, once Package 1 was accepted.
    pub fn initiator(&self) -> Option<Initiator> {
        self.initiator
    }

    /// The token the `RespURI` carries as `s=`: `<SessionID>.<DevId percent-encoded>`; the
    /// shell routes a POST whose `s` matches to this session.
    pub fn route_token(&self) -> Option<String> {
        self.peer.as_ref().map(|p| format!("{}.{}", url_token(&p.session_id), url_token(&p.dev_id)))
    }

    /// Whether the client has authenticated.
    pub fn is_authenticated(&self) -> bool {
        self.authenticated
    }

    /// True once the session has ended.
    pub fn is_closed(&self) -> bool {
        self.state == State::Closed
    }

    /// When [`DmSession::handle_timeout`] is due, while the session is open.
    pub fn poll_timeout(&self) -> Option<Duration> {
        (self.state != State::Closed).then(|| self.last_activity + self.config.timeout)
    }

    /// Ends the session if its timeout has passed at `now`.
    pub fn handle_timeout(&mut self, now: Duration) {
        if self.poll_timeout().is_some_and(|deadline| now >= deadline) {
            self.due = None;
            self.close(CloseReason::TimedOut);
        }
    }

    /// The next event, oldest first.
    pub fn poll_event(&mut self) -> Option<SessionEvent> {
        self.events.pop_front()
    }

    /// Takes one message (an HTTP POST body and its `Content-Type`) received at `now`.
    pub fn handle_message(&mut self, now: Duration, content_type: &str, body: &[u8]) -> Result<(), SessionError> {
        self.handle_message_with_hmac(now, content_type, None, body)
    }

    /// Takes one message with the value of its `x-syncml-hmac` header, if any (OMA DM Security
    /// 1.2 §5.1.4: the mac covers the exact body bytes).
    pub fn handle_message_with_hmac(
        &mut self,
        now: Duration,
        content_type: &str,
        hmac: Option<&str>,
        body: &[u8],
    ) -> Result<(), SessionError> {
        let decoded = codec::decode_with(content_type, body, &self.config.limits);
        self.handle_decoded(now, content_type, hmac, body, decoded)
    }

    /// [`Session::handle_message_with_hmac`] for a message the caller has already decoded
    /// from `body` with this session's [`SessionConfig::limits`] (a shell that had to look
    /// into it first need not decode it twice); `body` is still what a mac covers.
    pub fn handle_decoded(
        &mut self,
        now: Duration,
        content_type: &str,
        hmac: Option<&str>,
        body: &[u8],
        decoded: Result<SyncML, codec::CodecError>,
    ) -> Result<(), SessionError> {
        match self.state {
            State::Closed => return Err(SessionError::Closed),
            _ if self.due.is_some() => return Err(SessionError::ReplyPending),
            _ if self.poll_timeout().is_some_and(|d| now >= d) => {
                self.close(CloseReason::TimedOut);
                return Err(SessionError::TimedOut);
            }
            _ => {}
        }
        let media = MediaType::parse(content_type)?;
        let msg = match decoded {
            Ok(m) => m,
            Err(e) => {
                self.protocol_error();
                return Err(e.into());
            }
        };
        self.check_peer(&msg)?;
        self.last_activity = now;
        self.media = media;
        let msg_id = msg.hdr.msg_id.trim().parse::<u64>().ok().filter(|&id| id > 0);
        let in_order = match (msg_id, self.last_msg_id) {
            (Some(id), Some(last)) => Some(id) == last.checked_add(1),
            (Some(_), None) => true,
            (None, _) => false,
        };
        if !in_order {
            self.protocol_errors += 1;
            let close =
                (self.protocol_errors >= self.config.max_protocol_errors).then_some(CloseReason::ProtocolErrors);
            let s = status_for(&msg.hdr.msg_id, "0", "SyncHdr", BAD_REQUEST);
            self.due = Some(Due { kind: DueKind::Refuse, statuses: vec![s], alerts: Alerts::default(), close });
            return Ok(());
        }
        self.last_msg_id = msg_id;
        if let Some(meta) = &msg.hdr.meta {
            if let Some(max) = meta.max_msg_size {
                self.client_max_msg = usize::try_from(max).ok();
            }
            self.client_max_obj = meta.max_obj_size.or(self.client_max_obj);
        }
        let (hdr_status, ok) = self.authenticate(&msg, hmac, body);
        if !ok {
            self.auth_failures += 1;
            self.events.push_back(SessionEvent::AuthFailed { code: hdr_status.code, failures: self.auth_failures });
            let close = (self.auth_failures >= self.config.max_auth_failures).then_some(CloseReason::AuthFailed);
            self.due =
                Some(Due { kind: DueKind::Refuse, statuses: vec![hdr_status], alerts: Alerts::default(), close });
            return Ok(());
        }
        self.on_message(msg, hdr_status)
    }

    fn protocol_error(&mut self) {
        self.protocol_errors += 1;
        if self.protocol_errors >= self.config.max_protocol_errors {
            self.close(CloseReason::ProtocolErrors);
        }
    }

    /// Binds the session to the first message's SessionID and DevId; refuses others.
    fn check_peer(&mut self, msg: &SyncML) -> Result<(), SessionError> {
        let hdr = &msg.hdr;
        if let Some(p) = &self.peer {
            if !hdr.session_id.trim().eq_ignore_ascii_case(&p.session_id) {
                return Err(SessionError::WrongSession {
                    expected: p.session_id.clone(),
                    found: hdr.session_id.clone(),
                });
            }
            if hdr.source.loc_uri.trim() != p.dev_id {
                return Err(SessionError::WrongDevice {
                    expected: p.dev_id.clone(),
                    found: hdr.source.loc_uri.clone(),
                });
            }
            return Ok(());
        }
        let opening = msg.body.commands.iter().find_map(|c| match c {
            Command::Alert(a) if matches!(a.code, Some(Alert::SERVER_INITIATED | Alert::CLIENT_INITIATED)) => a.code,
            _ => None,
        });
        let Some(code) = opening else {
            self.close(CloseReason::ProtocolErrors);
            return Err(SessionError::NotPackage1("no Alert 1200 / 1201".into()));
        };
        if code == Alert::SERVER_INITIATED {
            if let Some(n) = self.config.notified_session_id {
                if !same_session_id(&hdr.session_id, n) {
                    self.close(CloseReason::ProtocolErrors);
                    return Err(SessionError::WrongSession {
                        expected: format!("{n:X}"),
                        found: hdr.session_id.clone(),
                    });
                }
            }
        }
        let dev_id = hdr.source.loc_uri.trim().to_owned();
        if dev_id.is_empty() {
            self.close(CloseReason::ProtocolErrors);
            return Err(SessionError::NotPackage1("empty SyncHdr Source".into()));
        }
        self.client_nonce = self.store.client_nonce(&dev_id);
        self.server_creds = self.store.server_credentials(&dev_id);
        self.server_nonce = self.store.server_nonce(&dev_id);
        self.peer = Some(Peer {
            session_id: hdr.session_id.trim().to_owned(),
            dev_id,
            ver_dtd: hdr.ver_dtd.clone(),
            ver_proto: hdr.ver_proto.clone(),
            server_uri: hdr.target.loc_uri.clone(),
        });
        self.initiator = Some(if code == Alert::SERVER_INITIATED { Initiator::Server } else { Initiator::Client });
        Ok(())
    }

    fn close(&mut self, reason: CloseReason) {
        if self.state == State::Closed {
            return;
        }
        self.state = State::Closed;
        self.assembly = None;
        for f in std::mem::take(&mut self.in_flight) {
            self.events.push_back(SessionEvent::Abandoned { request: f.request.handle, sent: true });
        }
        for (request, sent) in self.outbox.drain() {
            self.events.push_back(SessionEvent::Abandoned { request, sent });
        }
        for r in std::mem::take(&mut self.queue) {
            self.events.push_back(SessionEvent::Abandoned { request: r.handle, sent: false });
        }
        self.events.push_back(SessionEvent::Closed(reason));
    }

    /// The server's SyncHdr for the next message.
    fn reply_hdr(&self) -> SyncHdr {
        let p = self.peer.clone().unwrap_or_else(|| Peer {
            session_id: String::new(),
            dev_id: String::new(),
            ver_dtd: "1.2".into(),
            ver_proto: "DM/1.2".into(),
            server_uri: String::new(),
        });
        let resp_uri = self.config.resp_uri.as_ref().zip(self.route_token()).map(|(base, token)| {
            let sep = if base.contains('?') { '&' } else { '?' };
            format!("{base}{sep}s={token}")
        });
        let cred = match (&self.server_creds, self.server_accepted || self.hmac) {
            (Some(c), false) => server_cred(self.config.server_auth, c, self.server_nonce.as_deref()),
            _ => None,
        };
        SyncHdr {
            ver_dtd: p.ver_dtd,
            ver_proto: p.ver_proto,
            session_id: p.session_id,
            msg_id: self.next_msg_id.to_string(),
            target: Location::uri(p.dev_id),
            source: Location::uri(p.server_uri),
            resp_uri,
            no_resp: false,
            cred,
            meta: Some(Meta {
                max_msg_size: Some(self.config.max_msg_size),
                max_obj_size: Some(self.config.max_obj_size),
                ..Meta::default()
            }),
        }
    }

    /// The answer to the last message, once per message: the body of an HTTP 200.
    pub fn poll_reply(&mut self) -> Option<Reply> {
        let due = self.due.take()?;
        let mut close = due.close;
        let take = match due.kind {
            DueKind::Refuse | DueKind::AskNext => false,
            DueKind::Continue => close.is_none(),
            DueKind::NewPackage => {
                if close.is_none() {
                    self.outbox.requests.extend(self.queue.drain(..));
                }
                close.is_none()
            }
        };
        let hdr = self.reply_hdr();
        let msg_id = hdr.msg_id.clone();
        let (max, max_obj, media) = (self.client_max_msg, self.client_max_obj, self.media);
        let packed = match pack(hdr, due.statuses, &due.alerts, &mut self.outbox, take, max, max_obj, media) {
            Ok(p) => p,
            Err(_) => {
                // The model always encodes; should it not, the session cannot go on.
                self.close(CloseReason::ProtocolErrors);
                return None;
            }
        };
        for handle in packed.too_large {
            self.events.push_back(SessionEvent::TooLarge(handle));
        }
        let sent_any = !packed.sent.is_empty() || packed.chunk.is_some();
        // The client's message just read answered the chunks of the previous one.
        self.chunks_sent.clear();
        self.chunks_sent.extend(packed.chunk);
        self.in_flight.extend(packed.sent);
        if due.kind == DueKind::NewPackage && close.is_none() && !sent_any && self.outbox.is_empty() {
            close = Some(CloseReason::Completed);
        }
        let hmac = match (&self.server_creds, self.hmac) {
            (Some(c), true) => Some(auth::hmac_header(
                &c.username,
                &c.password,
                self.server_nonce.as_deref().unwrap_or_default(),
                &packed.bytes,
            )),
            _ => None,
        };
        self.last_sent_msg_id = Some(msg_id);
        self.next_msg_id += 1;
        if let Some(reason) = close {
            self.close(reason);
        }
        Some(Reply { content_type: self.media, body: packed.bytes, hmac, ends_session: close.is_some() })
    }
}

#[cfg(test)]
mod tests;
