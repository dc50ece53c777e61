//! A conformance run's status: a catalogue of cases run on one device, as the API and the
//! event stream show it (the cases and reports live in `unidm-interop`).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{DeviceId, Protocol, Timestamp};

/// Where a conformance run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ConformanceRunState {
    /// Cases are running (or will resume after a restart, at the next case).
    Running,
    /// Every case ran; `ok` says whether nothing failed.
    Finished,
    /// Stopped by a user before the last case.
    Cancelled,
}

/// A conformance run's progress and counts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConformanceRunStatus {
    /// The run's id.
    pub id: String,
    /// The device under test.
    pub device: DeviceId,
    /// Its protocol's catalogue.
    pub protocol: Protocol,
    /// Where the run is.
    pub state: ConformanceRunState,
    /// Cases selected.
    pub total: usize,
    /// Cases ended.
    pub done: usize,
    /// The case running now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current: Option<String>,
    /// Cases passed so far.
    pub passed: usize,
    /// Cases failed so far.
    pub failed: usize,
    /// Cases inconclusive so far.
    pub inconclusive: usize,
    /// Cases that could not run so far.
    pub errors: usize,
    /// When the run was created.
    pub created_at: Timestamp,
    /// When it last changed.
    pub updated_at: Timestamp,
}

impl ConformanceRunStatus {
    /// Nothing failed and nothing was in error so far.
    pub fn ok(&self) -> bool {
        self.failed == 0 && self.errors == 0
    }
}
