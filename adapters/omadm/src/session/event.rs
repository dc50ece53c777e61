//! What a session reports ([`SessionEvent`]), what it answers ([`Reply`]) and why it refuses
//! input ([`SessionError`]).

use thiserror::Error;

use super::credentials::NonceDirection;
use super::request::RequestHandle;
use crate::codec::{CodecError, Data, Item, MediaType};
use crate::mo::devinfo::DeviceFacts;

/// Who opened the session (OMA DM Protocol 1.2 §8.3, Package 1 Alert).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Initiator {
    /// Alert 1201: the client opened it on its own.
    Client,
    /// Alert 1200: the client answers a Package 0.
    Server,
}

/// A Generic Alert 1226 item (OMA DM Protocol 1.2 §8.7): the asynchronous outcome of an Exec
/// (FUMO, SCOMO, LAWMO) or a client-side event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenericAlert {
    /// `Correlator`: the Exec's, when it answers one.
    pub correlator: Option<String>,
    /// `Item/Source/LocURI`: the node it is about.
    pub source: Option<String>,
    /// `Item/Target/LocURI`.
    pub target: Option<String>,
    /// `Item/Meta/Type`: the alert type (`org.openmobilealliance.dm.firmwareupdate.download`).
    pub r#type: Option<String>,
    /// `Item/Meta/Format`.
    pub format: Option<String>,
    /// `Item/Meta/Mark`: importance (`critical`, `informational`, ...).
    pub mark: Option<String>,
    /// `Item/Data`: the result code or payload.
    pub data: Option<Data>,
}

/// Why a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// The server sent a package with nothing left to do (OMA DM Protocol 1.2 §8.3).
    Completed,
    /// The client sent Alert 1223 (session abort).
    Aborted,
    /// No message within the session timeout.
    TimedOut,
    /// The client failed authentication too many times.
    AuthFailed,
    /// The client refused the server's credentials too many times.
    ServerAuthRefused,
    /// Too many messages that broke the protocol (bad MsgID, not decodable).
    ProtocolErrors,
}

/// What the session learnt; drain with [`DmSession::poll_event`](super::DmSession::poll_event).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionEvent {
    /// Package 1 was accepted (after authentication): who the device is and who opened the
    /// session.
    Started {
        /// The SyncHdr `Source/LocURI` (the DevId).
        dev_id: String,
        /// The `SessionID`.
        session_id: String,
        /// Alert 1200 or 1201.
        initiator: Initiator,
    },
    /// The DevInfo nodes of Package 1 (its `Replace`).
    DeviceInfo {
        /// The DevId (from `./DevInfo/DevId`, else the SyncHdr `Source`).
        dev_id: String,
        /// Every DevInfo / DevDetail node sent.
        facts: DeviceFacts,
    },
    /// The client authenticated.
    Authenticated {
        /// The user name it authenticated as.
        username: String,
        /// `syncml:auth-basic`, `syncml:auth-md5` or `syncml:auth-MAC`.
        scheme: &'static str,
    },
    /// The client's credentials were refused (401) or missing (407); a `Chal` went back.
    AuthFailed {
        /// 401 or 407.
        code: u16,
        /// Failures so far in this session.
        failures: u32,
    },
    /// The client refused the server's credentials (its Status on the server's SyncHdr).
    ServerAuthRefused {
        /// The client's code (401 / 407).
        code: u16,
    },
    /// A nonce to store for the device (OMA DM Security 1.2 §5.1.3.4).
    NonceUpdated {
        /// Which way it works.
        direction: NonceDirection,
        /// Its raw bytes (`NextNonce` carries them in base64).
        nonce: Vec<u8>,
    },
    /// The outcome of a request: the device's Status and, for Gets, its Results.
    Response {
        /// The adapter's handle.
        request: RequestHandle,
        /// The Status code of the command (of the Atomic / Sequence for a container).
        status: u16,
        /// The Results items (node URI in `source`), Meta folded in, large objects assembled.
        results: Vec<Item>,
        /// For Atomic / Sequence: the status of each nested command, in order (0 = none came).
        parts: Vec<u16>,
    },
    /// A Generic Alert 1226 item, answered 200.
    GenericAlert(GenericAlert),
    /// Another client Alert answered 200 (1224 client event, ...): code, correlator, items.
    Alert {
        /// Alert code.
        code: u16,
        /// `Correlator`.
        correlator: Option<String>,
        /// Items.
        items: Vec<Item>,
    },
    /// A request that will not be answered in this session.
    Abandoned {
        /// The adapter's handle.
        request: RequestHandle,
        /// Whether it was sent (its outcome is then unknown) or never left the queue.
        sent: bool,
    },
    /// A request that cannot be sent: a single command larger than the client's MaxMsgSize.
    TooLarge(RequestHandle),
    /// The session ended; no reply or event follows.
    Closed(CloseReason),
}

/// One HTTP answer: status 200 with this body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The `Content-Type`: the media type the client used.
    pub content_type: MediaType,
    /// The SyncML message.
    pub body: Vec<u8>,
    /// The `x-syncml-hmac` header value, when HMAC is in use.
    pub hmac: Option<String>,
    /// This message ends the session (the client will not answer it).
    pub ends_session: bool,
}

/// Why a message was not taken. A message the session can read always gets a SyncML reply,
/// even when refused; these errors are for what is not SyncML of this session, for the shell
/// to answer at the HTTP level.
#[derive(Debug, Error, PartialEq)]
pub enum SessionError {
    /// The session has ended.
    #[error("session closed")]
    Closed,
    /// The session timeout expired before this message.
    #[error("session timed out")]
    TimedOut,
    /// The previous reply has not been polled.
    #[error("previous reply not yet polled")]
    ReplyPending,
    /// The body is not a SyncML DM message (or its media type is not one).
    #[error("unreadable message: {0}")]
    Codec(#[from] CodecError),
    /// The message belongs to another session (SessionID).
    #[error("session id {found:?} is not this session's {expected:?}")]
    WrongSession {
        /// This session's id.
        expected: String,
        /// The message's.
        found: String,
    },
    /// The message comes from another device (SyncHdr Source).
    #[error("device {found:?} is not this session's {expected:?}")]
    WrongDevice {
        /// This session's device.
        expected: String,
        /// The message's.
        found: String,
    },
    /// The first message is not a Package 1 (no Alert 1200 / 1201).
    #[error("not a Package 1: {0}")]
    NotPackage1(String),
    /// [`DmSession::enqueue`](super::DmSession::enqueue): the queue is full.
    #[error("request queue full ({0} requests)")]
    QueueFull(usize),
    /// [`DmSession::enqueue`](super::DmSession::enqueue): the request is malformed.
    #[error("invalid request: {0}")]
    InvalidRequest(String),
}
