//! The managed device: identity, presence, capabilities, management snapshot, topology, labels.
//!
//! A `Device` is the oneM2M `<node>` (`m2m:nod`) with its `<mgmtObj>` children folded in: identity
//! and [`DeviceInfo`] are `deviceInfo` (`dvi`, mgd 1007), [`FirmwareStatus`] is `firmware` (`fwr`,
//! 1001), [`SoftwareModule`] is `software` (`swr`, 1002), [`Battery`] is `battery` (`bat`, 1006),
//! [`Memory`] is `memory` (`mem`, 1003), [`Topology`] carries `areaNwkInfo` / `areaNwkDeviceInfo`
//! (`ani` 1004 / `andi` 1005). Attributes and their short names as oneM2M TS-0001 Annex D
//! (`<mgmtObj>` resource specializations) and TS-0004 define them.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::firmware::FirmwareStatus;
use crate::{DeviceId, Protocol, Timestamp};

/// A managed device as unidm knows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Device {
    /// Stable id, `<protocol>:<native id>`.
    pub id: DeviceId,
    /// The protocol the device is managed with.
    pub protocol: Protocol,
    /// Who the device is.
    #[serde(default)]
    pub identity: Identity,
    /// Whether and how the device can be reached now.
    #[serde(default)]
    pub presence: Presence,
    /// Management functions the device supports, derived from what it registered or reported.
    /// `None` until the device has made contact: operations on it are then accepted and wait.
    #[serde(default)]
    pub capabilities: Option<BTreeSet<Function>>,
    /// The last known management snapshot.
    #[serde(default)]
    pub snapshot: Snapshot,
    /// Gateway parent, children and area network.
    #[serde(default)]
    pub topology: Topology,
    /// Free labels, matched by group and rule selectors.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// When unidm first knew the device.
    pub created_at: Timestamp,
    /// When any of the above last changed.
    pub updated_at: Timestamp,
}

impl Device {
    /// A device known by id only, as an operator pre-provisions it or as an adapter sees it first.
    pub fn new(id: DeviceId, now: Timestamp) -> Self {
        Device {
            protocol: id.protocol(),
            id,
            identity: Identity::default(),
            presence: Presence::default(),
            capabilities: None,
            snapshot: Snapshot::default(),
            topology: Topology::default(),
            labels: BTreeMap::new(),
            created_at: now,
            updated_at: now,
        }
    }

    /// Whether the device supports `function`. Unknown capabilities count as supported: the
    /// operation waits for the device, which answers for itself.
    pub fn supports(&self, function: Function) -> bool {
        self.capabilities.as_ref().is_none_or(|c| c.contains(&function))
    }

    /// The firmware version the device reports, from the firmware snapshot or its identity.
    pub fn firmware_version(&self) -> Option<&str> {
        self.identity.fw_version.as_deref()
    }
}

/// Identity attributes (`dvi` man, mod, dty, hwv, swv and the node id parts).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Identity {
    /// `dvi.man`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manufacturer: Option<String>,
    /// `dvi.mod`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// `dvi.dlb` (serial number).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial: Option<String>,
    /// IEEE OUI (TR-069 DeviceId).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oui: Option<String>,
    /// Product class (TR-069 DeviceId).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product_class: Option<String>,
    /// `dvi.dty`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_type: Option<String>,
    /// `dvi.hwv`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hw_version: Option<String>,
    /// Firmware version (`fwr.vr` of the running image).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fw_version: Option<String>,
    /// `dvi.swv`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sw_version: Option<String>,
}

/// Reachability of a device.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum PresenceState {
    /// Never seen, deregistered or expired.
    #[default]
    Offline,
    /// Registered / in contact: requests can go out now.
    Online,
    /// Registered but asleep (LwM2M queue mode): requests wait for its next wake-up.
    Sleeping,
}

/// Presence: state, last contact, lifetime or inform interval, address.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Presence {
    /// Online, sleeping or offline.
    pub state: PresenceState,
    /// Last message from the device.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_seen: Option<Timestamp>,
    /// Seconds after `last_seen` by which the device promised to be heard from again (LwM2M
    /// lifetime, CWMP PeriodicInformInterval). Past it (plus a grace), the device expires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifetime_s: Option<u32>,
    /// Transport address of the last contact.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
}

/// A management function, named after oneM2M `<mgmtObj>` specialisations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum Function {
    /// `deviceInfo` (1007).
    DeviceInfo,
    /// `firmware` (1001).
    Firmware,
    /// `software` (1002).
    Software,
    /// `reboot` (1009) `rbo`.
    Reboot,
    /// `reboot` (1009) `far`.
    FactoryReset,
    /// Diagnostics: ping.
    Ping,
    /// Diagnostics: traceroute.
    Traceroute,
    /// `battery` (1006).
    Battery,
    /// `memory` (1003).
    Memory,
    /// Connectivity (`mobileNetwork` 1031 and similar).
    Connectivity,
    /// `eventLog` (1010).
    EventLog,
    /// Location.
    Location,
    /// `areaNwkInfo` / `areaNwkDeviceInfo` (1004 / 1005): the device is a gateway.
    AreaNetwork,
    /// Native read / write / execute of protocol paths.
    Native,
    /// Native observe (LwM2M observe, CWMP active notification).
    Observe,
}

/// The last known management snapshot.
///
/// The larger parts are boxed: most devices have few of them, and a million devices are held in
/// memory (one pointer for an absent part instead of its whole size).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Snapshot {
    /// Further `deviceInfo` attributes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_info: Option<Box<DeviceInfo>>,
    /// Firmware image and update state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub firmware: Option<Box<FirmwareStatus>>,
    /// Installed software modules.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub software: Vec<SoftwareModule>,
    /// Battery.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub battery: Option<Battery>,
    /// Memory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<Memory>,
    /// Connectivity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connectivity: Option<Box<Connectivity>>,
    /// Location.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<Box<Location>>,
    /// Error codes the device reports (LwM2M /3/0/11).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub error_codes: Vec<i64>,
    /// When the snapshot was last refreshed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refreshed_at: Option<Timestamp>,
}

/// `deviceInfo` attributes beyond identity.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeviceInfo {
    /// `dvi.dvnm`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_name: Option<String>,
    /// `dvi.osv`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os_version: Option<String>,
    /// `dvi.syst`: the device's clock.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_time: Option<Timestamp>,
    /// `dvi.spur`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub support_url: Option<String>,
}

/// A software module (`swr`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SoftwareModule {
    /// Protocol handle of the module (LwM2M `/9/x` instance, TR-069 DU UUID, SCOMO node).
    pub id: String,
    /// `swr.swn`.
    pub name: String,
    /// `swr.vr`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Installed (as opposed to delivered but not installed).
    pub installed: bool,
    /// Active (running / enabled).
    pub active: bool,
}

/// `battery` (`bat`): level in percent and oneM2M battery status (1 Normal .. 7 Unknown).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Battery {
    /// `bat.btl`, 0..=100.
    pub level: u8,
    /// `bat.bts` in oneM2M numbering (`m2m:batteryStatus`).
    pub status: u8,
}

/// `memory` (`mem`), in bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Memory {
    /// `mem.mma`, bytes.
    pub available: u64,
    /// `mem.mmt`, bytes.
    pub total: u64,
}

/// Connectivity (`mobileNetwork` 1031 attributes and IP addresses).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Connectivity {
    /// `cnb`: network bearer (LwM2M /4/0/0 numbering).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bearer: Option<i64>,
    /// `rss`: radio signal strength, dBm.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal_strength_dbm: Option<i64>,
    /// `liqu`: link quality.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link_quality: Option<i64>,
    /// `ipad`: IP addresses.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ip_addresses: Vec<String>,
    /// `ceid`: cell id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cell_id: Option<i64>,
    /// `apna`: APN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub apn: Option<String>,
}

/// Location (`dvi.loc`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Location {
    /// Degrees.
    pub latitude: f64,
    /// Degrees.
    pub longitude: f64,
    /// Metres.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub altitude: Option<f64>,
}

/// Topology: the gateway a device sits behind, the devices behind it, its area network.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Topology {
    /// The gateway this device is reached through (`andi.awi` side).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<DeviceId>,
    /// Devices behind this gateway (`ani.ldv`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub children: Vec<DeviceId>,
    /// `ani.ant`: the area network's type (e.g. `802.15.4`, `Ethernet`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub area_network_type: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_capabilities_accept_everything() {
        let mut d = Device::new(DeviceId::lwm2m("a").unwrap(), Timestamp(0));
        assert!(d.supports(Function::Firmware));
        d.capabilities = Some([Function::Reboot].into());
        assert!(d.supports(Function::Reboot));
        assert!(!d.supports(Function::Firmware));
    }

    #[test]
    fn json_shape_is_camel_case_and_sparse() {
        let d = Device::new(DeviceId::lwm2m("a").unwrap(), Timestamp(0));
        let v = serde_json::to_value(&d).unwrap();
        assert_eq!(v["presence"]["state"], "offline");
        assert!(v["identity"].as_object().unwrap().is_empty());
        assert!(v.get("createdAt").is_some());
        let back: Device = serde_json::from_value(v).unwrap();
        assert_eq!(back, d);
    }
}
