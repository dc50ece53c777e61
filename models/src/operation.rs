//! Durable operations: one request on one device, from acceptance to its outcome.
//!
//! States: `pending -> dispatched -> waiting | running(progress) -> succeeded | failed |
//! cancelled | expired`. An operation is committed to the store before the API answers
//! with its id, and every state change is committed too, so a restart resumes it.

use std::fmt;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{Action, DeviceId, Timestamp};

/// An operation's id, unique in one store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[schema(value_type = u64)]
pub struct OperationId(pub u64);

impl fmt::Display for OperationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// An operation's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum OperationState {
    /// Accepted and stored; not yet handed to the device's adapter (or waiting for a retry,
    /// a group slot, or the device to be reachable).
    Pending,
    /// Handed to the adapter, which has sent it or queued it for the device's next contact.
    Dispatched,
    /// The adapter waits for the device before it can go on: for it to register, for the CPE's
    /// next session, for `Downloaded`; `waitingFor` says what.
    Waiting,
    /// The device is working on it; see `progress`.
    Running,
    /// Done, with a result.
    Succeeded,
    /// Done, with an error.
    Failed,
    /// Cancelled by a user before it finished.
    Cancelled,
    /// Its deadline passed before it finished.
    Expired,
}

impl OperationState {
    /// Every state, in lifecycle order.
    pub const ALL: [OperationState; 8] = [
        OperationState::Pending,
        OperationState::Dispatched,
        OperationState::Waiting,
        OperationState::Running,
        OperationState::Succeeded,
        OperationState::Failed,
        OperationState::Cancelled,
        OperationState::Expired,
    ];

    /// Whether the operation has ended.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            OperationState::Succeeded | OperationState::Failed | OperationState::Cancelled | OperationState::Expired
        )
    }

    /// The lowercase name used in the API and the store.
    pub fn as_str(self) -> &'static str {
        match self {
            OperationState::Pending => "pending",
            OperationState::Dispatched => "dispatched",
            OperationState::Waiting => "waiting",
            OperationState::Running => "running",
            OperationState::Succeeded => "succeeded",
            OperationState::Failed => "failed",
            OperationState::Cancelled => "cancelled",
            OperationState::Expired => "expired",
        }
    }

    /// Parses the lowercase name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|st| st.as_str() == s)
    }
}

impl fmt::Display for OperationState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What kind of failure, so that callers can branch on it (in the manner of hyper's error kinds).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum ErrorKind {
    /// The device, path or module does not exist.
    NotFound,
    /// The device does not support what was asked.
    NotSupported,
    /// The device refused, with its own code in `protocol_code`.
    DeviceRefused,
    /// The request was malformed for this device.
    BadInput,
    /// The device did not answer in time.
    Timeout,
    /// The transport failed (connection refused, reset, unreachable).
    Transport,
    /// The device stopped progressing: it reported nothing new on a step within the step's
    /// no-progress limit. Not retried.
    Stalled,
    /// Something inside unidm went wrong.
    Internal,
}

impl ErrorKind {
    /// Whether a retry could help.
    pub fn is_retryable(self) -> bool {
        matches!(self, ErrorKind::Timeout | ErrorKind::Transport)
    }
}

/// Why an operation failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OperationError {
    /// The kind, to branch on.
    pub kind: ErrorKind,
    /// Words for a person.
    pub message: String,
    /// The protocol's own code (CoAP `4.04`, CWMP fault `9002`, SyncML status `404`, LwM2M
    /// firmware Update Result `5`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol_code: Option<String>,
}

impl OperationError {
    /// An error of `kind` with a message.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        OperationError { kind, message: message.into(), protocol_code: None }
    }

    /// Adds the protocol's own code.
    pub fn with_code(mut self, code: impl Into<String>) -> Self {
        self.protocol_code = Some(code.into());
        self
    }
}

/// Progress of a running operation.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Progress {
    /// Percent done, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub percent: Option<u8>,
    /// The current step in words (`downloading`, `applying image`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// How often and how soon a failed attempt is retried. Only retryable failures
/// ([`ErrorKind::is_retryable`]) are retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RetryPolicy {
    /// Attempts in all, the first one included (1 = no retry).
    #[schema(minimum = 1, maximum = 100)]
    pub max_attempts: u32,
    /// Delay before the first retry, milliseconds; doubled for each further one.
    pub backoff_ms: u64,
    /// Longest delay between attempts, milliseconds.
    pub max_backoff_ms: u64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy { max_attempts: 3, backoff_ms: 5_000, max_backoff_ms: 300_000 }
    }
}

impl RetryPolicy {
    /// The delay before attempt number `attempt + 1`, given `attempt` attempts made so far.
    pub fn delay_after(&self, attempt: u32) -> u64 {
        let shift = attempt.saturating_sub(1).min(30);
        self.backoff_ms.saturating_mul(1u64 << shift).min(self.max_backoff_ms)
    }
}

/// A durable operation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Operation {
    /// Its id.
    pub id: OperationId,
    /// The device it acts on.
    pub device: DeviceId,
    /// What it does.
    pub action: Action,
    /// Where it stands.
    pub state: OperationState,
    /// Progress while running.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress: Option<Progress>,
    /// What the operation waits for, in words, while `waiting`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waiting_for: Option<String>,
    /// The outcome of a succeeded operation (a read value, ping statistics).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<serde_json::Value>,
    /// Why it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<OperationError>,
    /// Attempts made so far.
    pub attempts: u32,
    /// Retry policy.
    pub retry: RetryPolicy,
    /// When the next attempt may start, while waiting for a retry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_before: Option<Timestamp>,
    /// After this the operation expires if it has not ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline: Option<Timestamp>,
    /// The group operation it belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_operation: Option<OperationId>,
    /// The rule that created it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// When it was accepted.
    pub created_at: Timestamp,
    /// When it last changed.
    pub updated_at: Timestamp,
    /// The adapter's own state of the operation (which step of a multi-step procedure, what it
    /// waits for), stored with the operation's progress and handed back to the adapter after a
    /// restart. Not part of the API.
    #[serde(skip)]
    pub adapter_state: Option<Vec<u8>>,
}

impl Operation {
    /// A new pending operation, as the engine creates it.
    pub fn new(id: OperationId, device: DeviceId, action: Action, retry: RetryPolicy, now: Timestamp) -> Self {
        Operation {
            id,
            device,
            action,
            state: OperationState::Pending,
            progress: None,
            waiting_for: None,
            result: None,
            error: None,
            attempts: 0,
            retry,
            not_before: None,
            deadline: None,
            group_operation: None,
            rule: None,
            created_at: now,
            updated_at: now,
            adapter_state: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_states() {
        let terminal: Vec<_> = OperationState::ALL.into_iter().filter(|s| s.is_terminal()).collect();
        assert_eq!(
            terminal,
            [OperationState::Succeeded, OperationState::Failed, OperationState::Cancelled, OperationState::Expired]
        );
        for s in OperationState::ALL {
            assert_eq!(OperationState::parse(s.as_str()), Some(s));
        }
    }

    #[test]
    fn backoff_doubles_and_caps() {
        let p = RetryPolicy { max_attempts: 10, backoff_ms: 1000, max_backoff_ms: 5000 };
        assert_eq!(p.delay_after(1), 1000);
        assert_eq!(p.delay_after(2), 2000);
        assert_eq!(p.delay_after(3), 4000);
        assert_eq!(p.delay_after(4), 5000);
        assert_eq!(p.delay_after(40), 5000);
    }
}
