//! The one typed event stream (SSE, webhooks, embedding code).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{Aggregate, Device, DeviceId, Operation, OperationId, Timestamp};

/// Something that happened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum Event {
    /// A device made contact (registration, Inform, DM session) after being offline or unknown.
    DeviceRegistered {
        /// The device as now known.
        device: Box<Device>,
    },
    /// A device's registration, identity, snapshot or labels changed.
    DeviceUpdated {
        /// The device as now known.
        device: Box<Device>,
    },
    /// A device said goodbye (LwM2M De-register).
    DeviceDeregistered {
        /// Which.
        device: DeviceId,
    },
    /// A device's lifetime ran out without contact.
    DeviceExpired {
        /// Which.
        device: DeviceId,
    },
    /// A device was deleted from the registry.
    DeviceDeleted {
        /// Which.
        device: DeviceId,
    },
    /// An operation changed state or progress.
    OperationChanged {
        /// The operation as now stored.
        operation: Box<Operation>,
    },
    /// A group operation's aggregate changed: told at most every 100 ms while its members
    /// move (the last move within the engine's next tick), and at once when every member has
    /// ended (`aggregate.done`).
    GroupOperationChanged {
        /// Which.
        id: OperationId,
        /// Counts per state (per-device results left out to keep events small).
        aggregate: Aggregate,
    },
    /// A device reported a value it is observed for (LwM2M Notify, CWMP VALUE CHANGE).
    Observation {
        /// Which device.
        device: DeviceId,
        /// The protocol path.
        path: String,
        /// The value.
        value: serde_json::Value,
        /// When unidm received it.
        at: Timestamp,
    },
    /// A conformance run started, ended a case, or ended.
    ConformanceRunChanged {
        /// The run as now stored.
        run: Box<crate::ConformanceRunStatus>,
    },
    /// A gateway's children changed.
    TopologyChanged {
        /// The gateway.
        device: DeviceId,
        /// Its children now.
        children: Vec<DeviceId>,
    },
}

impl Event {
    /// The event's type name as it appears in JSON and SSE `event:` lines.
    pub fn kind(&self) -> &'static str {
        match self {
            Event::DeviceRegistered { .. } => "deviceRegistered",
            Event::DeviceUpdated { .. } => "deviceUpdated",
            Event::DeviceDeregistered { .. } => "deviceDeregistered",
            Event::DeviceExpired { .. } => "deviceExpired",
            Event::DeviceDeleted { .. } => "deviceDeleted",
            Event::OperationChanged { .. } => "operationChanged",
            Event::GroupOperationChanged { .. } => "groupOperationChanged",
            Event::Observation { .. } => "observation",
            Event::TopologyChanged { .. } => "topologyChanged",
            Event::ConformanceRunChanged { .. } => "conformanceRunChanged",
        }
    }
}
