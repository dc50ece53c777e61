//! The core's error type: one per crate boundary, with kinds a caller can branch on.

use unidm_models::{DeviceId, Function};

/// Why a call into the engine failed.
#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    /// No such device, operation, group or rule.
    #[error("{what} `{id}` not found")]
    NotFound {
        /// What kind of thing (`device`, `operation`, ...).
        what: &'static str,
        /// Its id.
        id: String,
    },
    /// The device does not support the function the request needs.
    #[error("device `{device}` does not support {}", function.as_str())]
    NotSupported {
        /// The device.
        device: DeviceId,
        /// The function it lacks.
        function: Function,
    },
    /// The request is malformed; `field` names the culprit.
    #[error("invalid `{field}`: {message}")]
    BadInput {
        /// The offending field.
        field: String,
        /// What is wrong with it.
        message: String,
    },
    /// The request conflicts with the current state (already exists, already finished).
    #[error("conflict: {0}")]
    Conflict(String),
    /// The store failed.
    #[error("storage: {0}")]
    Storage(#[from] crate::store::StoreError),
    /// The engine is shutting down.
    #[error("the engine is shutting down")]
    Shutdown,
}

impl CoreError {
    pub(crate) fn not_found(what: &'static str, id: impl ToString) -> Self {
        CoreError::NotFound { what, id: id.to_string() }
    }

    pub(crate) fn bad_input(field: impl Into<String>, message: impl Into<String>) -> Self {
        CoreError::BadInput { field: field.into(), message: message.into() }
    }

    /// Whether the error means "no such thing".
    pub fn is_not_found(&self) -> bool {
        matches!(self, CoreError::NotFound { .. })
    }
}
