//! What the ACS remembers between sessions: per-device records (data model, connection
//! request URL and credentials, observed paths), its own queued upkeep, and the open sessions.
//! User operations (queued, sent, parked on a wait) are the engine's `Delivery`'s.

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use unidm_models::{DeviceId, Operation, OperationId};

use super::partial_paths::Expansion;
use crate::model::DataModel;
use crate::ops::Phase;
use crate::rpc::Rpc;
use crate::session::AcsSession;
use crate::soap::XsdType;

/// What the ACS keeps about a device, stored in the device's own row
/// ([`unidm_core::AdapterHandle::set_device_record`]).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct DeviceRecord {
    /// Its root data model.
    pub model: Option<DataModel>,
    /// `ManagementServer.ConnectionRequestURL` as last reported.
    pub cr_url: Option<String>,
    /// `ManagementServer.UDPConnectionRequestAddress` as last reported (Annex G).
    pub udp_cr_address: Option<String>,
    /// Connection-request user name the ACS set.
    pub cr_username: Option<String>,
    /// Connection-request password the ACS set.
    pub cr_password: Option<String>,
    /// `ManagementServer.PeriodicInformInterval`, when seen.
    pub periodic_inform_interval: Option<u32>,
    /// Paths with active notification set through an Observe operation.
    pub observed: BTreeSet<String>,
    /// A `SoftwareModules.` parameter was seen.
    pub software_modules: bool,
    /// The TraceRoute diagnostics object was seen.
    pub traceroute: bool,
    /// The user name the CPE presents, set through the API (then bound to this device).
    pub cpe_username: Option<String>,
    /// Its password.
    pub cpe_password: Option<String>,
    /// The CPE refused (with a fault other than 9005) or left unanswered a
    /// GetParameterValues of a partial path: from then on partial paths are expanded with
    /// GetParameterNames and read by their full names ([`super::partial_paths`]).
    pub expand_partial_paths: bool,
}

/// Work the ACS does on its own account in a CPE's session (see [`super::upkeep`]).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Upkeep {
    /// SetParameterValues of the connection-request credentials.
    SetCrCredentials { username: String, password: String },
    /// Read of `ManagementServer.ManageableDevice.` (TR-111 part 1 topology).
    ReadTopology,
    /// Read of the LAN hosts (`Device.Hosts.Host.`, TR-098 `LANDevice.{i}.Hosts.Host.`),
    /// after [`Upkeep::ReadTopology`] found `managed`.
    ReadHosts {
        /// The children the ManageableDevice table listed.
        managed: Vec<DeviceId>,
    },
    /// GetParameterNames of the next level of `path`, to learn the CPE's functions
    /// (`SoftwareModules.`: TR-157 software management; the TraceRoute object).
    Discover { path: String },
    /// One GetParameterValues of the full names the device snapshot is made of (device info,
    /// memory, connectivity); `narrowed` after the CPE faulted on the wide list once.
    ReadSnapshot { narrowed: bool },
}

/// How many times an upkeep request may go unanswered for a device before it is dropped.
pub(crate) const UPKEEP_UNANSWERED_LIMIT: u8 = 3;

/// An upkeep task queued for a device; `unanswered` counts the sessions that ended without
/// its answer.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct UpkeepWork {
    pub task: Upkeep,
    pub unanswered: u8,
}

impl UpkeepWork {
    pub(crate) fn new(task: Upkeep) -> UpkeepWork {
        UpkeepWork { task, unanswered: 0 }
    }
}

/// One request's worth of work in a session.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Work {
    /// A phase of a user's operation (taken from the engine's [`unidm_core::Delivery`]).
    Op { op: Box<Operation>, phase: Phase },
    /// The ACS's own work.
    Upkeep(UpkeepWork),
}

/// The work whose request a session carries, and, when the CPE needs partial paths spelt out,
/// how far their expansion got ([`super::partial_paths`]).
#[derive(Debug)]
pub(crate) struct InFlight {
    pub work: Work,
    pub expansion: Option<Expansion>,
}

/// One open CWMP session.
pub(crate) struct SessionSlot {
    /// Its key (the cookie value).
    pub key: String,
    /// The sans-I/O session.
    pub session: AcsSession,
    /// The CPE, once it informed.
    pub device: Option<DeviceId>,
    /// The work whose request is queued in or sent by the session.
    pub sent: Option<InFlight>,
    /// The request the session sent and the CPE never answered (set when the session ends).
    pub unanswered: Option<Rpc>,
    /// Why the session ended, when the ACS ended it.
    pub end_reason: Option<String>,
    /// Where the CPE connects from.
    pub peer: SocketAddr,
    /// Set when the Inform was refused: the HTTP status to answer.
    pub reject: Option<(u16, String)>,
    /// The user name the CPE authenticated with, if any.
    pub user: Option<String>,
}

/// Everything the ACS tracks, behind one lock that is never held across an await.
#[derive(Default)]
pub(crate) struct State {
    pub devices: HashMap<DeviceId, DeviceRecord>,
    /// Parameter types the CPE reported, for typing writes.
    pub types: HashMap<DeviceId, HashMap<String, XsdType>>,
    /// The ACS's own upkeep per device; user operations wait in the engine's `Delivery`.
    pub upkeep: HashMap<DeviceId, VecDeque<UpkeepWork>>,
    /// Diagnostics operations woken by `8 DIAGNOSTICS COMPLETE`: their next request reads the
    /// results ([`Phase::Results`]).
    pub results_due: HashSet<OperationId>,
    /// Completions that named no parked operation shortly after start, per device
    /// ([`super::waits::Completion`]).
    pub unclaimed: HashMap<DeviceId, Vec<super::waits::Completion>>,
    pub sessions: HashMap<String, Arc<tokio::sync::Mutex<SessionSlot>>>,
    /// Session key by TCP peer, for CPEs without cookies.
    pub by_peer: HashMap<SocketAddr, String>,
    /// Session key by device.
    pub active: HashMap<DeviceId, String>,
    pub cr_inflight: HashSet<DeviceId>,
    /// Devices whose ManageableDevice table was read since this process started.
    pub topology_read: HashSet<DeviceId>,
    /// Devices that left the connection-request credentials unanswered
    /// [`UPKEEP_UNANSWERED_LIMIT`] times: not asked again until their next `0 BOOTSTRAP` (or a
    /// restart), as the credentials would otherwise go out with every Inform.
    pub credentials_given_up: HashSet<DeviceId>,
    /// CPE user names set through the API, to their devices.
    pub cpe_users: HashMap<String, DeviceId>,
    /// Digest nonces issued to CPEs: when, and the highest nonce count accepted.
    pub nonces: HashMap<String, (Duration, u32)>,
}

impl State {
    /// Loads the device records the engine kept; unreadable ones are skipped.
    pub(crate) fn load(&mut self, records: Vec<(DeviceId, Vec<u8>)>) {
        for (id, bytes) in records {
            match serde_json::from_slice::<DeviceRecord>(&bytes) {
                Ok(rec) => {
                    if let Some(user) = &rec.cpe_username {
                        self.cpe_users.insert(user.clone(), id.clone());
                    }
                    self.devices.insert(id, rec);
                }
                Err(e) => tracing::warn!(device = %id, error = %e, "unreadable TR-069 device record skipped"),
            }
        }
    }

    /// Forgets a closed session.
    pub(crate) fn remove_session(&mut self, key: &str, peer: SocketAddr, device: Option<&DeviceId>) {
        self.sessions.remove(key);
        if self.by_peer.get(&peer).is_some_and(|k| k == key) {
            self.by_peer.remove(&peer);
        }
        if let Some(d) = device {
            if self.active.get(d).is_some_and(|k| k == key) {
                self.active.remove(d);
            }
        }
    }
}
