//! unidm's common management model, in oneM2M's vocabulary.
//!
//! One model for LwM2M, TR-069 and OMA DM devices (MGR-003, MGR-004): [`Device`] is the oneM2M
//! `<node>` with its `<mgmtObj>` specialisations folded in, [`Action`] names the management
//! functions (deviceInfo, firmware, software, reboot, factoryReset, diagnostics, native access),
//! [`Operation`] is a durable request with its lifecycle, [`Group`] and [`Rule`] select devices,
//! [`Event`] is what the engine reports, and [`mapping`] holds the per-protocol mapping tables.
//! Unit conversions between protocols live in [`units`].
//!
//! This crate has no I/O and reads no clock: times come in as [`Timestamp`]s.
#![deny(missing_docs)]

mod action;
mod conformance;
mod device;
mod event;
pub mod firmware;
mod group;
mod id;
pub mod mapping;
mod operation;
mod rule;
mod time;
pub mod units;

pub use action::{Action, FirmwareUpdate, NativeOp, NativeRequest, PingRequest, SoftwareAction, TracerouteRequest};
pub use conformance::{ConformanceRunState, ConformanceRunStatus};
pub use device::{
    Battery, Connectivity, Device, DeviceInfo, Function, Identity, Location, Memory, Presence, PresenceState, Snapshot,
    SoftwareModule, Topology,
};
pub use event::Event;
pub use firmware::{FirmwareState, FirmwareStatus, M2mStatus};
pub use group::{Aggregate, Group, GroupOperation, MemberResult, Selector};
pub use id::{DeviceId, IdError, Protocol};
pub use operation::{ErrorKind, Operation, OperationError, OperationId, OperationState, Progress, RetryPolicy};
pub use rule::{Rule, Trigger};
pub use time::{civil_date, Timestamp};

impl Function {
    /// The camelCase name used in JSON and docs.
    pub fn as_str(self) -> &'static str {
        match self {
            Function::DeviceInfo => "deviceInfo",
            Function::Firmware => "firmware",
            Function::Software => "software",
            Function::Reboot => "reboot",
            Function::FactoryReset => "factoryReset",
            Function::Ping => "ping",
            Function::Traceroute => "traceroute",
            Function::Battery => "battery",
            Function::Memory => "memory",
            Function::Connectivity => "connectivity",
            Function::EventLog => "eventLog",
            Function::Location => "location",
            Function::AreaNetwork => "areaNetwork",
            Function::Native => "native",
            Function::Observe => "observe",
        }
    }
}
