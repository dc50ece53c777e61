//! The ACS side of one CWMP session, sans I/O (TR-069 Amendment 6, 3.7 "Use of HTTP" and
//! 3.7.1.x session rules; A.3.3.1 Inform).
//!
//! Feed each HTTP POST body in with [`AcsSession::handle_post`] (an empty body is the CPE's
//! empty POST), then drain [`AcsSession::poll_event`] (what the CPE said) and take exactly one
//! [`AcsSession::poll_reply`] (what to answer: an envelope for a 200, or [`Reply::Close`] for
//! the final 204). ACS requests are queued with [`AcsSession::enqueue`]; because the reply is
//! chosen only when it is polled, a caller can react to an event (say a
//! GetParameterNamesResponse) by queueing the next request before answering. Time comes in as
//! `now`, a monotonic reading from any fixed origin (the ACS passes the engine clock's, so a
//! manual clock in tests drives session timeouts too); [`AcsSession::poll_timeout`] says when [`AcsSession::handle_timeout`] is due. Nothing
//! here reads a clock or touches a socket.

use std::collections::VecDeque;
use std::time::Duration;

use thiserror::Error;

use crate::error::CwmpError;
use crate::rpc::fault::{Fault, FaultCode};
use crate::rpc::get_rpc_methods::GetRPCMethodsResponse;
use crate::rpc::inform::{DeviceIdStruct, Inform, InformResponse};
use crate::rpc::{self, Rpc};
use crate::soap::{encode_envelope, parse_envelope_with, CwmpNamespace, Envelope, Limits};

/// Session settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionConfig {
    /// Inactivity timeout when the CPE proposes none (GenieACS uses 30 s).
    pub default_timeout: Duration,
    /// Bounds applied to a timeout proposed with `cwmp:SessionTimeout` (protocol 1.3+).
    pub timeout_range: (Duration, Duration),
    /// Methods listed in the answer to the CPE's GetRPCMethods.
    pub acs_methods: Vec<String>,
    /// Limits applied to every received envelope.
    pub limits: Limits,
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            default_timeout: Duration::from_secs(30),
            timeout_range: (Duration::from_secs(5), Duration::from_secs(300)),
            acs_methods: [
                "Inform",
                "GetRPCMethods",
                "TransferComplete",
                "AutonomousTransferComplete",
                "DUStateChangeComplete",
                "AutonomousDUStateChangeComplete",
                "RequestDownload",
                "Kicked",
            ]
            .map(String::from)
            .to_vec(),
            limits: Limits::default(),
        }
    }
}

/// What the session learnt from the CPE.
#[derive(Debug, Clone, PartialEq)]
pub enum SessionEvent {
    /// The opening Inform (already answered with InformResponse, MaxEnvelopes 1).
    Informed(Box<Inform>),
    /// A CPE request the ACS answered (TransferComplete, DUStateChangeComplete, …).
    CpeRequest(Rpc),
    /// The answer to a queued ACS request: its `…Response` or a Fault.
    Response {
        /// The request as queued.
        request: Rpc,
        /// The CPE's response or [`Rpc::Fault`].
        response: Rpc,
    },
    /// The CPE sent an envelope the ACS answered with a fault (unknown method, bad arguments).
    Refused {
        /// The fault sent back.
        fault: FaultCode,
        /// Why.
        error: CwmpError,
    },
    /// The session ended without an answer to this request; it was not re-queued.
    Abandoned(Rpc),
    /// The session ended (204 sent, timeout or protocol error).
    Closed,
}

/// The answer to one POST.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// HTTP 200 with this SOAP envelope (`text/xml; charset="utf-8"`).
    Envelope(Vec<u8>),
    /// HTTP 204 No Content: the ACS ends the session.
    Close,
}

/// Why a POST could not be taken; the session is closed afterwards unless stated otherwise.
#[derive(Debug, Error, PartialEq)]
pub enum SessionError {
    /// The session has already ended.
    #[error("session closed")]
    Closed,
    /// The inactivity timeout expired before this POST.
    #[error("session timed out")]
    TimedOut,
    /// The previous reply has not been polled yet (the session stays open).
    #[error("previous reply not yet polled")]
    ReplyPending,
    /// The first envelope was not an Inform.
    #[error("session must start with Inform, got {0}")]
    ExpectedInform(String),
    /// The first envelope could not be read.
    #[error("unreadable envelope: {0}")]
    Codec(#[from] CwmpError),
    /// The CPE sent something other than the response the ACS was waiting for.
    #[error("expected {expected}, got {found}")]
    UnexpectedMessage {
        /// What the ACS waited for.
        expected: String,
        /// What came.
        found: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    AwaitingInform,
    /// After InformResponse: the CPE sends its requests until an empty POST.
    CpeRequests,
    /// The CPE is done; the ACS sends its requests one at a time.
    AcsRequests,
    Closed,
}

#[derive(Debug)]
enum Due {
    Envelope(Vec<u8>),
    /// Send the next queued request, or close.
    NextRequest,
    /// Send this envelope, then close (fault 8006).
    EnvelopeThenClose(Vec<u8>),
}

/// One ACS-side CWMP session with one CPE.
#[derive(Debug)]
pub struct AcsSession {
    config: SessionConfig,
    state: State,
    namespace: CwmpNamespace,
    use_version: Option<String>,
    device_id: Option<DeviceIdStruct>,
    timeout: Duration,
    last_activity: Duration,
    hold_requests: bool,
    pending: VecDeque<Rpc>,
    in_flight: Option<(String, Rpc)>,
    next_id: u64,
    due: Option<Due>,
    events: VecDeque<SessionEvent>,
}

/// Protocol versions this ACS speaks, for `UseCWMPVersion` (TR-069 Amendment 6, 3.7.1.x
/// version negotiation; BBF `cwmp-1-4.xsd`).
const ACS_VERSIONS: [&str; 5] = ["1.0", "1.1", "1.2", "1.3", "1.4"];

fn choose_version(supported: &str) -> Option<&'static str> {
    let offered: Vec<&str> = supported.split(',').map(str::trim).collect();
    ACS_VERSIONS.iter().rev().find(|v| offered.contains(v)).copied()
}

impl AcsSession {
    /// A session waiting for its Inform; `now` starts the inactivity timer.
    pub fn new(config: SessionConfig, now: Duration) -> Self {
        AcsSession {
            timeout: config.default_timeout,
            config,
            state: State::AwaitingInform,
            namespace: CwmpNamespace::V1_0,
            use_version: None,
            device_id: None,
            last_activity: now,
            hold_requests: false,
            pending: VecDeque::new(),
            in_flight: None,
            next_id: 1,
            due: None,
            events: VecDeque::new(),
        }
    }

    /// Queues an ACS request (GetParameterValues, Download, …), sent after the CPE's empty POST.
    pub fn enqueue(&mut self, request: impl Into<Rpc>) {
        self.pending.push_back(request.into());
    }

    /// Sets `cwmp:HoldRequests` on every following envelope: while true the CPE must not send
    /// requests (TR-069 Amendment 6, A.2.2 HoldRequests).
    pub fn set_hold_requests(&mut self, hold: bool) {
        self.hold_requests = hold;
    }

    /// The CPE's identity, once the Inform has been read.
    pub fn device_id(&self) -> Option<&DeviceIdStruct> {
        self.device_id.as_ref()
    }

    /// The CWMP namespace the CPE used (replies use the same).
    pub fn namespace(&self) -> CwmpNamespace {
        self.namespace
    }

    /// The inactivity timeout in force.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// True once the session has ended.
    pub fn is_closed(&self) -> bool {
        self.state == State::Closed
    }

    /// When [`AcsSession::handle_timeout`] must be called, if the session is open.
    pub fn poll_timeout(&self) -> Option<Duration> {
        (self.state != State::Closed).then(|| self.last_activity + self.timeout)
    }

    /// Closes the session if its inactivity timeout has expired at `now`.
    pub fn handle_timeout(&mut self, now: Duration) {
        if self.poll_timeout().is_some_and(|deadline| now >= deadline) {
            self.close();
        }
    }

    /// The next event, oldest first.
    pub fn poll_event(&mut self) -> Option<SessionEvent> {
        self.events.pop_front()
    }

    fn close(&mut self) {
        if self.state == State::Closed {
            return;
        }
        self.state = State::Closed;
        self.due = None;
        if let Some((_, request)) = self.in_flight.take() {
            self.events.push_back(SessionEvent::Abandoned(request));
        }
        self.events.push_back(SessionEvent::Closed);
    }

    fn fail(&mut self, err: SessionError) -> Result<(), SessionError> {
        self.close();
        Err(err)
    }

    fn envelope(&self, id: Option<String>, rpc: impl Into<Rpc>) -> Vec<u8> {
        let mut env = Envelope::new(self.namespace, rpc);
        env.header.id = id;
        env.header.hold_requests = self.hold_requests.then_some(true);
        encode_envelope(&env)
    }

    /// Takes one POST body received at `now`. Empty (or whitespace-only) means the CPE has
    /// nothing more to send.
    pub fn handle_post(&mut self, now: Duration, body: &[u8]) -> Result<(), SessionError> {
        match self.state {
            State::Closed => return Err(SessionError::Closed),
            _ if self.due.is_some() => return Err(SessionError::ReplyPending),
            _ if now >= self.last_activity + self.timeout => {
                self.close();
                return Err(SessionError::TimedOut);
            }
            _ => {}
        }
        self.last_activity = now;
        let empty = body.iter().all(u8::is_ascii_whitespace);
        match self.state {
            State::AwaitingInform if empty => self.fail(SessionError::ExpectedInform("an empty POST".into())),
            State::AwaitingInform => match parse_envelope_with(body, &self.config.limits) {
                Ok(env) => self.on_inform(env),
                Err(e) => self.fail(e.into()),
            },
            State::CpeRequests if empty => {
                self.state = State::AcsRequests;
                self.due = Some(Due::NextRequest);
                Ok(())
            }
            State::CpeRequests => {
                self.on_cpe_message(body);
                Ok(())
            }
            State::AcsRequests => self.on_acs_response(body, empty),
            State::Closed => Err(SessionError::Closed),
        }
    }

    fn on_inform(&mut self, env: Envelope) -> Result<(), SessionError> {
        let Rpc::Inform(inform) = env.rpc else {
            return self.fail(SessionError::ExpectedInform(env.rpc.name().into()));
        };
        self.namespace = env.namespace;
        self.device_id = Some(inform.device_id.clone());
        if let Some(secs) = env.header.session_timeout {
            let (lo, hi) = self.config.timeout_range;
            self.timeout = Duration::from_secs(secs.into()).clamp(lo, hi);
        }
        let id = env.header.id;
        if let Some(offered) = &env.header.supported_cwmp_versions {
            match choose_version(offered) {
                Some(v) => self.use_version = Some(v.to_owned()),
                None => {
                    let fault = self.envelope(id, Fault::new(FaultCode::AcsVersionIncompatible));
                    self.due = Some(Due::EnvelopeThenClose(fault));
                    return Ok(());
                }
            }
        }
        let mut reply = Envelope::new(self.namespace, InformResponse { max_envelopes: 1 });
        reply.header.id = id;
        reply.header.hold_requests = self.hold_requests.then_some(true);
        reply.header.use_cwmp_version = self.use_version.clone();
        self.due = Some(Due::Envelope(encode_envelope(&reply)));
        self.events.push_back(SessionEvent::Informed(Box::new(inform)));
        self.state = State::CpeRequests;
        Ok(())
    }

    fn refuse(&mut self, id: Option<String>, error: CwmpError) {
        let code = error.acs_fault_code();
        self.due = Some(Due::Envelope(self.envelope(id, Fault::new(code))));
        self.events.push_back(SessionEvent::Refused { fault: code, error });
    }

    fn on_cpe_message(&mut self, body: &[u8]) {
        let env = match parse_envelope_with(body, &self.config.limits) {
            Ok(env) => env,
            Err(e) => {
                let id = match &e {
                    CwmpError::UnknownMethod { id, .. } => id.clone(),
                    _ => None,
                };
                return self.refuse(id, e);
            }
        };
        let id = env.header.id.clone();
        let answer: Option<Rpc> = match &env.rpc {
            Rpc::TransferComplete(_) => Some(rpc::transfer_complete::TransferCompleteResponse.into()),
            Rpc::AutonomousTransferComplete(_) => {
                Some(rpc::autonomous_transfer_complete::AutonomousTransferCompleteResponse.into())
            }
            Rpc::DUStateChangeComplete(_) => Some(rpc::du_state_change_complete::DUStateChangeCompleteResponse.into()),
            Rpc::AutonomousDUStateChangeComplete(_) => {
                Some(rpc::autonomous_du_state_change_complete::AutonomousDUStateChangeCompleteResponse.into())
            }
            Rpc::RequestDownload(_) => Some(rpc::request_download::RequestDownloadResponse.into()),
            Rpc::Kicked(k) => Some(rpc::kicked::KickedResponse { next_url: k.next.clone() }.into()),
            Rpc::GetRPCMethods(_) => {
                Some(GetRPCMethodsResponse { method_list: self.config.acs_methods.clone() }.into())
            }
            _ => None,
        };
        match answer {
            Some(answer) => {
                self.due = Some(Due::Envelope(self.envelope(id, answer)));
                self.events.push_back(SessionEvent::CpeRequest(env.rpc));
            }
            None => {
                let method = env.rpc.name().to_owned();
                let error = if matches!(env.rpc, Rpc::Inform(_)) {
                    CwmpError::invalid("Inform", "second Inform in one session")
                } else {
                    CwmpError::UnknownMethod { method, id: id.clone(), namespace: Some(env.namespace) }
                };
                self.refuse(id, error);
            }
        }
    }

    fn on_acs_response(&mut self, body: &[u8], empty: bool) -> Result<(), SessionError> {
        let Some((sent_id, request)) = self.in_flight.take() else {
            return self.fail(SessionError::UnexpectedMessage { expected: "nothing".into(), found: "a POST".into() });
        };
        let expected = format!("{}Response", request.name());
        if empty {
            self.in_flight = Some((sent_id, request));
            return self.fail(SessionError::UnexpectedMessage { expected, found: "an empty POST".into() });
        }
        let env = match parse_envelope_with(body, &self.config.limits) {
            Ok(env) => env,
            Err(e) => {
                self.in_flight = Some((sent_id, request));
                return self.fail(e.into());
            }
        };
        let matches_request = matches!(env.rpc, Rpc::Fault(_)) || env.rpc.name() == expected;
        let id_ok = env.header.id.as_deref().is_none_or(|id| id == sent_id);
        if !matches_request || !id_ok {
            let err = SessionError::UnexpectedMessage {
                expected: format!("{expected} with ID {sent_id}"),
                found: format!("{} with ID {:?}", env.rpc.name(), env.header.id),
            };
            self.in_flight = Some((sent_id, request));
            return self.fail(err);
        }
        self.events.push_back(SessionEvent::Response { request, response: env.rpc });
        self.due = Some(Due::NextRequest);
        Ok(())
    }

    /// The answer to the last POST, once per POST. Taking [`Reply::Close`] ends the session.
    pub fn poll_reply(&mut self) -> Option<Reply> {
        match self.due.take()? {
            Due::Envelope(bytes) => Some(Reply::Envelope(bytes)),
            Due::EnvelopeThenClose(bytes) => {
                self.close();
                Some(Reply::Envelope(bytes))
            }
            Due::NextRequest => match self.pending.pop_front() {
                Some(request) => {
                    let id = format!("acs-{}", self.next_id);
                    self.next_id += 1;
                    let bytes = self.envelope(Some(id.clone()), request.clone());
                    self.in_flight = Some((id, request));
                    Some(Reply::Envelope(bytes))
                }
                None => {
                    self.close();
                    Some(Reply::Close)
                }
            },
        }
    }
}

#[cfg(test)]
#[path = "session_tests.rs"]
mod tests;
