//! Multi-step procedures on one device as sans-I/O state machines, driven the way quinn-proto
//! drives a connection: the caller feeds in events (the answer to a request the procedure
//! asked for, a notification, a new registration of the device, a timeout) with the engine's
//! `now`, and takes out requests to send ([`firmware::FirmwareProcedure::poll_request`]), the next
//! timer (`poll_timeout`) and what happened (`poll_event`: progress, firmware snapshot moves, the
//! outcome). No socket, no clock: a test drives a fleet through an update on a manual clock.
//!
//! - [`device_info`]: reading Device /3/0 with /4/0 and /6/0 (identity and state).
//! - [`firmware`]: Firmware Update object /5 by pull or push (registry `5.xml`), with the
//!   no-progress limit per step.
//! - [`gateway`]: finding a LwM2M Gateway's end devices (object /25, LwM2M Gateway TS §6).
//! - [`software`]: installing a package by pull on Software Management object /9 (registry
//!   `9.xml`).

pub mod device_info;
pub mod firmware;
pub mod gateway;
pub mod software;

/// Names a request a procedure asked for, to match its answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestId(pub u64);
