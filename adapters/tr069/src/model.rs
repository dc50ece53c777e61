//! The CPE's data model as the common model sees it: which root it uses (TR-181 `Device.` or
//! TR-098 `InternetGatewayDevice.`), and what its parameters say about identity, firmware,
//! memory and presence (mapping tables `unidm_models::mapping::{TR181, TR098}`).

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use unidm_models::firmware::FirmwareReport;
use unidm_models::{units, Device, FirmwareState, FirmwareStatus, Function, Memory};

use crate::rpc::common::ParameterValueStruct;
use crate::soap::{TypedValue, Value};

/// The root data model of a CPE (TR-069 Amendment 6, 3.7.2: one root object per CPE; TR-106).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum DataModel {
    /// TR-181 Device:2, root `Device.`.
    Tr181,
    /// TR-098 InternetGatewayDevice:1, root `InternetGatewayDevice.`.
    Tr098,
}

impl DataModel {
    /// The root object name, with its trailing dot.
    pub fn root(self) -> &'static str {
        match self {
            DataModel::Tr181 => "Device.",
            DataModel::Tr098 => "InternetGatewayDevice.",
        }
    }

    /// Detects the root from parameter names (the Inform's forced parameters always carry it).
    pub fn detect<'a>(mut names: impl Iterator<Item = &'a str>) -> Option<DataModel> {
        names.find_map(|n| {
            if n.starts_with("InternetGatewayDevice.") {
                Some(DataModel::Tr098)
            } else if n.starts_with("Device.") {
                Some(DataModel::Tr181)
            } else {
                None
            }
        })
    }

    /// The IPPing diagnostics object (TR-181 `Device.IP.Diagnostics.IPPing.`, TR-098
    /// `InternetGatewayDevice.IPPingDiagnostics.`).
    pub fn ip_ping(self) -> &'static str {
        match self {
            DataModel::Tr181 => "Device.IP.Diagnostics.IPPing.",
            DataModel::Tr098 => "InternetGatewayDevice.IPPingDiagnostics.",
        }
    }

    /// The TraceRoute diagnostics object (TR-181 `Device.IP.Diagnostics.TraceRoute.`, TR-098
    /// `InternetGatewayDevice.TraceRouteDiagnostics.`).
    pub fn trace_route(self) -> &'static str {
        match self {
            DataModel::Tr181 => "Device.IP.Diagnostics.TraceRoute.",
            DataModel::Tr098 => "InternetGatewayDevice.TraceRouteDiagnostics.",
        }
    }

    /// `ManagementServer.` under the root.
    pub fn management_server(self) -> String {
        format!("{}ManagementServer.", self.root())
    }

    /// `DeviceInfo.` under the root.
    pub fn device_info(self) -> String {
        format!("{}DeviceInfo.", self.root())
    }

    /// A path as the device names it: absolute paths stay, relative ones get the root.
    pub fn absolute(self, path: &str) -> String {
        if path.starts_with("Device.") || path.starts_with("InternetGatewayDevice.") || path.is_empty() {
            path.to_owned()
        } else {
            format!("{}{path}", self.root())
        }
    }
}

/// A parameter name relative to its root (`DeviceInfo.SoftwareVersion`).
fn relative(name: &str) -> &str {
    name.strip_prefix("InternetGatewayDevice.").or_else(|| name.strip_prefix("Device.")).unwrap_or(name)
}

/// A CWMP value as JSON: booleans and integers typed, everything else as its text.
pub fn json_of(v: &Value) -> serde_json::Value {
    match v.typed() {
        Ok(TypedValue::Boolean(b)) => b.into(),
        Ok(TypedValue::Int(n)) => n.into(),
        Ok(TypedValue::UnsignedInt(n)) => n.into(),
        Ok(TypedValue::Long(n)) => n.into(),
        Ok(TypedValue::UnsignedLong(n)) => n.into(),
        _ => v.text.clone().into(),
    }
}

/// What a parameter list (Inform ParameterList or a GetParameterValuesResponse) tells about
/// the device, by the names of TR-181 / TR-098 `DeviceInfo.` and `ManagementServer.`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Facts {
    /// `DeviceInfo.Manufacturer`.
    pub manufacturer: Option<String>,
    /// `DeviceInfo.ModelName`.
    pub model: Option<String>,
    /// `DeviceInfo.SerialNumber`.
    pub serial: Option<String>,
    /// `DeviceInfo.HardwareVersion`.
    pub hw_version: Option<String>,
    /// `DeviceInfo.SoftwareVersion` (also the firmware version, per the mapping tables).
    pub sw_version: Option<String>,
    /// `DeviceInfo.MemoryStatus.Total`, KiB.
    pub memory_total_kib: Option<u64>,
    /// `DeviceInfo.MemoryStatus.Free`, KiB.
    pub memory_free_kib: Option<u64>,
    /// `ManagementServer.PeriodicInformInterval`, seconds.
    pub periodic_inform_interval: Option<u32>,
    /// `ManagementServer.ConnectionRequestURL`.
    pub connection_request_url: Option<String>,
    /// `ManagementServer.UDPConnectionRequestAddress` (`host:port`, Annex G).
    pub udp_connection_request_address: Option<String>,
    /// A `SoftwareModules.` parameter was seen (TR-157).
    pub software_modules: bool,
    /// IP addresses: TR-098 `WANDevice.{i}.WANConnectionDevice.{j}.WANIPConnection.{k}.` /
    /// `WANPPPConnection.{k}.ExternalIPAddress`, TR-181 `IP.Interface.{i}.IPv4Address.{j}.` /
    /// `IPv6Address.{j}.IPAddress`.
    pub ip_addresses: Vec<String>,
}

/// Whether a name (relative to the root) holds an IP address of the device.
fn is_ip_address(rel: &str) -> bool {
    (rel.starts_with("WANDevice.") && rel.ends_with(".ExternalIPAddress"))
        || (rel.starts_with("IP.Interface.")
            && (rel.contains(".IPv4Address.") || rel.contains(".IPv6Address."))
            && rel.ends_with(".IPAddress"))
}

impl Facts {
    /// Reads the facts out of a parameter list.
    pub fn from_params(params: &[ParameterValueStruct]) -> Facts {
        let mut f = Facts::default();
        for p in params {
            let text = || Some(p.value.text.clone()).filter(|t| !t.is_empty());
            let num = || p.value.text.trim().parse::<u64>().ok();
            match relative(&p.name) {
                "DeviceInfo.Manufacturer" => f.manufacturer = text(),
                "DeviceInfo.ModelName" => f.model = text(),
                "DeviceInfo.SerialNumber" => f.serial = text(),
                "DeviceInfo.HardwareVersion" => f.hw_version = text(),
                "DeviceInfo.SoftwareVersion" => f.sw_version = text(),
                "DeviceInfo.MemoryStatus.Total" => f.memory_total_kib = num(),
                "DeviceInfo.MemoryStatus.Free" => f.memory_free_kib = num(),
                "ManagementServer.PeriodicInformInterval" => {
                    f.periodic_inform_interval = num().and_then(|n| u32::try_from(n).ok())
                }
                "ManagementServer.ConnectionRequestURL" => f.connection_request_url = text(),
                "ManagementServer.UDPConnectionRequestAddress" => f.udp_connection_request_address = text(),
                rel if rel.starts_with("SoftwareModules.") => f.software_modules = true,
                rel if is_ip_address(rel) => {
                    let ip = p.value.text.trim();
                    if !ip.is_empty() && ip != "0.0.0.0" && !f.ip_addresses.iter().any(|a| a == ip) {
                        f.ip_addresses.push(ip.to_owned());
                    }
                }
                _ => {}
            }
        }
        f
    }

    /// Writes what is known into the device: identity, and the snapshot's memory,
    /// connectivity and (when none is known yet) firmware version.
    pub fn apply(&self, d: &mut Device) {
        let set = |slot: &mut Option<String>, v: &Option<String>| {
            if v.is_some() {
                slot.clone_from(v);
            }
        };
        set(&mut d.identity.manufacturer, &self.manufacturer);
        set(&mut d.identity.model, &self.model);
        set(&mut d.identity.hw_version, &self.hw_version);
        set(&mut d.identity.sw_version, &self.sw_version);
        set(&mut d.identity.fw_version, &self.sw_version);
        if let (Some(total), Some(free)) = (self.memory_total_kib, self.memory_free_kib) {
            d.snapshot.memory =
                Some(Memory { total: units::cwmp_kib_to_bytes(total), available: units::cwmp_kib_to_bytes(free) });
        }
        if !self.ip_addresses.is_empty() {
            let c = d.snapshot.connectivity.get_or_insert_with(Box::default);
            if c.ip_addresses != self.ip_addresses {
                c.ip_addresses.clone_from(&self.ip_addresses);
            }
        }
        if d.snapshot.firmware.is_none() {
            if let Some(v) = &self.sw_version {
                // The running image, before any update through unidm: idle at that version. An
                // update in progress or done keeps its own state (moved by its operation).
                let report = FirmwareReport { version: Some(v.clone()), ..FirmwareReport::new(FirmwareState::Idle) };
                if let Err(e) = FirmwareStatus::advance_in(&mut d.snapshot.firmware, report) {
                    tracing::warn!(device = %d.id, error = %e, "firmware snapshot kept");
                }
            }
        }
    }
}

/// The functions a CWMP device offers through this adapter: the baseline, plus software
/// management when `SoftwareModules.` exists and traceroute when its diagnostics object does.
pub fn capabilities(software_modules: bool, traceroute: bool) -> BTreeSet<Function> {
    let mut set: BTreeSet<Function> = [
        Function::DeviceInfo,
        Function::Reboot,
        Function::FactoryReset,
        Function::Firmware,
        Function::Native,
        Function::Observe,
        Function::Ping,
    ]
    .into_iter()
    .collect();
    if software_modules {
        set.insert(Function::Software);
    }
    if traceroute {
        set.insert(Function::Traceroute);
    }
    set
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::soap::XsdType;

    fn p(name: &str, v: &str) -> ParameterValueStruct {
        ParameterValueStruct::new(name, Value::string(v))
    }

    #[test]
    fn detects_root_and_reads_facts() {
        let params = [
            p("InternetGatewayDevice.DeviceInfo.SoftwareVersion", "1.2"),
            p("InternetGatewayDevice.DeviceInfo.MemoryStatus.Total", "2048"),
            p("InternetGatewayDevice.DeviceInfo.MemoryStatus.Free", "1024"),
            p("InternetGatewayDevice.ManagementServer.ConnectionRequestURL", "http://h:1/"),
        ];
        assert_eq!(DataModel::detect(params.iter().map(|p| p.name.as_str())), Some(DataModel::Tr098));
        let f = Facts::from_params(&params);
        assert_eq!(f.sw_version.as_deref(), Some("1.2"));
        assert_eq!(f.connection_request_url.as_deref(), Some("http://h:1/"));
        let mut d =
            Device::new(unidm_models::DeviceId::tr069("00D09E", Some("X"), "1").unwrap(), unidm_models::Timestamp(0));
        f.apply(&mut d);
        assert_eq!(d.snapshot.memory, Some(Memory { total: 2048 * 1024, available: 1024 * 1024 }));
        assert_eq!(d.identity.fw_version.as_deref(), Some("1.2"));
        assert_eq!(DataModel::Tr181.absolute("DeviceInfo.UpTime"), "Device.DeviceInfo.UpTime");
        assert_eq!(DataModel::Tr098.absolute("Device.X"), "Device.X");
    }

    #[test]
    fn ip_addresses_and_the_running_firmware_go_into_the_snapshot() {
        let params = [
            p(
                "InternetGatewayDevice.WANDevice.1.WANConnectionDevice.1.WANIPConnection.1.ExternalIPAddress",
                "198.51.100.7",
            ),
            p(
                "InternetGatewayDevice.WANDevice.1.WANConnectionDevice.2.WANPPPConnection.1.ExternalIPAddress",
                "0.0.0.0",
            ),
            p("Device.IP.Interface.2.IPv6Address.1.IPAddress", "2001:db8::7"),
            p("Device.IP.Interface.2.IPv4Address.1.SubnetMask", "255.255.255.0"),
            p("InternetGatewayDevice.DeviceInfo.SoftwareVersion", "1.2"),
        ];
        let f = Facts::from_params(&params);
        assert_eq!(f.ip_addresses, ["198.51.100.7", "2001:db8::7"], "unset (0.0.0.0) and non-address names skipped");
        let mut d =
            Device::new(unidm_models::DeviceId::tr069("00D09E", Some("X"), "1").unwrap(), unidm_models::Timestamp(0));
        f.apply(&mut d);
        assert_eq!(d.snapshot.connectivity.as_ref().unwrap().ip_addresses, f.ip_addresses);
        let fw = d.snapshot.firmware.clone().unwrap();
        assert_eq!((fw.state, fw.version.as_deref()), (FirmwareState::Idle, Some("1.2")));
        // An update under way keeps its state: the running version does not reset it.
        d.snapshot.firmware.as_mut().unwrap().state = FirmwareState::Downloading;
        Facts { sw_version: Some("1.3".into()), ..Facts::default() }.apply(&mut d);
        let fw = d.snapshot.firmware.unwrap();
        assert_eq!((fw.state, fw.version.as_deref()), (FirmwareState::Downloading, Some("1.2")));
    }

    #[test]
    fn json_values_are_typed() {
        assert_eq!(json_of(&Value::new(XsdType::Boolean, "1")), serde_json::json!(true));
        assert_eq!(json_of(&Value::new(XsdType::UnsignedInt, "7")), serde_json::json!(7));
        assert_eq!(json_of(&Value::new(XsdType::Int, "x")), serde_json::json!("x"));
    }
}
