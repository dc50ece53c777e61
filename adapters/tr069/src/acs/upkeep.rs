//! Work the ACS does on its own account in a CPE's session: setting connection-request
//! credentials (TR-069 Amendment 6, 3.2.2; `ManagementServer.ConnectionRequestUsername` /
//! `Password`) and reading the devices behind a gateway from
//! `ManagementServer.ManageableDevice.{i}.` (TR-111 part 1, Annex F of TR-069) for the
//! topology, and discovering optional functions from the root's first level (GetParameterNames,
//! A.3.2.3).

use std::collections::BTreeMap;
use std::sync::Arc;

use unidm_models::DeviceId;

use super::state::{DeviceRecord, Upkeep, UpkeepWork};
use super::Acs;
use crate::model::{capabilities, DataModel};
use crate::rpc::common::ParameterValueStruct;
use crate::rpc::get_parameter_names::GetParameterNames;
use crate::rpc::get_parameter_values::GetParameterValues;
use crate::rpc::inform::{event_code, Inform};
use crate::rpc::set_parameter_values::SetParameterValues;
use crate::rpc::Rpc;
use crate::soap::Value;

/// The request of an upkeep task.
pub(crate) fn request(task: &Upkeep, model: Option<DataModel>) -> Rpc {
    let ms = model.unwrap_or(DataModel::Tr181).management_server();
    match task {
        Upkeep::SetCrCredentials { username, password } => SetParameterValues {
            parameter_list: vec![
                ParameterValueStruct::new(format!("{ms}ConnectionRequestUsername"), Value::string(username)),
                ParameterValueStruct::new(format!("{ms}ConnectionRequestPassword"), Value::string(password)),
            ],
            parameter_key: "unidm-cr".into(),
        }
        .into(),
        Upkeep::Discover { path } => GetParameterNames { parameter_path: path.clone(), next_level: true }.into(),
        Upkeep::ReadHosts { .. } => {
            GetParameterValues { parameter_names: vec![hosts_path(model.unwrap_or(DataModel::Tr181)).into()] }.into()
        }
        Upkeep::ReadTopology => GetParameterValues { parameter_names: vec![format!("{ms}ManageableDevice.")] }.into(),
        Upkeep::ReadSnapshot { narrowed } => {
            GetParameterValues { parameter_names: super::snapshot::names(model.unwrap_or(DataModel::Tr181), *narrowed) }
                .into()
        }
    }
}

/// The children listed in a ManageableDevice table: one TR-069 id per instance that has an
/// OUI and a serial number.
pub(crate) fn children(params: &[ParameterValueStruct]) -> Vec<DeviceId> {
    let mut rows: BTreeMap<&str, [Option<&str>; 3]> = BTreeMap::new();
    for p in params {
        let Some((instance, leaf)) = p.name.rsplit_once('.') else { continue };
        let slot = match leaf {
            "ManufacturerOUI" => 0,
            "ProductClass" => 1,
            "SerialNumber" => 2,
            _ => continue,
        };
        rows.entry(instance).or_default()[slot] = Some(p.value.text.trim());
    }
    rows.values()
        .filter_map(|[oui, pc, serial]| match (oui, serial) {
            (Some(o), Some(s)) if !o.is_empty() && !s.is_empty() => DeviceId::tr069(o, *pc, s).ok(),
            _ => None,
        })
        .collect()
}

/// Where a data model lists the hosts on its LAN (TR-181 `Device.Hosts.Host.{i}.`; TR-098
/// `LANDevice.{i}.Hosts.Host.{j}.`, whose LANDevice instances are not known in advance).
fn hosts_path(model: DataModel) -> &'static str {
    match model {
        DataModel::Tr181 => "Device.Hosts.Host.",
        DataModel::Tr098 => "InternetGatewayDevice.LANDevice.",
    }
}

/// A host seen on a gateway's LAN (`andi`: devId from the MAC address, devType from the
/// interface, devStatus from `Active`).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct LanHost {
    pub(crate) id: DeviceId,
    pub(crate) name: Option<String>,
    pub(crate) address: Option<String>,
    pub(crate) interface: Option<String>,
    pub(crate) active: bool,
}

/// The hosts in a Hosts table, one child id per MAC address: `tr069:<gateway>/host/<mac>`.
pub(crate) fn hosts(gateway: &DeviceId, params: &[ParameterValueStruct]) -> Vec<LanHost> {
    #[derive(Default)]
    struct Row<'a> {
        mac: Option<&'a str>,
        name: Option<&'a str>,
        ip: Option<&'a str>,
        interface: Option<&'a str>,
        active: Option<&'a str>,
    }
    let mut rows: BTreeMap<&str, Row> = BTreeMap::new();
    for p in params {
        let Some((instance, leaf)) = p.name.rsplit_once('.') else { continue };
        if !instance.contains(".Hosts.Host.") {
            continue;
        }
        let v = Some(p.value.text.trim()).filter(|v| !v.is_empty());
        let row = rows.entry(instance).or_default();
        match leaf {
            "PhysAddress" | "MACAddress" => row.mac = v,
            "HostName" => row.name = v,
            "IPAddress" => row.ip = v,
            "InterfaceType" => row.interface = v,
            "Active" => row.active = v,
            _ => {}
        }
    }
    let mut out: Vec<LanHost> = Vec::new();
    for row in rows.into_values() {
        let Some(mac) = row.mac else { continue };
        let native = format!("{}/host/{}", gateway.native(), mac.to_ascii_lowercase());
        let Ok(id) = DeviceId::new(unidm_models::Protocol::Tr069, &native) else { continue };
        if out.iter().any(|h| h.id == id) {
            continue;
        }
        out.push(LanHost {
            id,
            name: row.name.map(str::to_owned),
            address: row.ip.map(str::to_owned),
            interface: row.interface.map(str::to_owned),
            active: row.active.is_some_and(|a| a == "1" || a.eq_ignore_ascii_case("true")),
        });
    }
    out
}

impl Acs {
    /// Records a gateway's children (when they changed) and what is known of its LAN hosts.
    async fn record_children(&self, id: &DeviceId, managed: Vec<DeviceId>, lan: Vec<LanHost>) {
        let Some(h) = self.handle.get() else { return };
        let mut kids = managed;
        kids.extend(lan.iter().map(|l| l.id.clone()));
        let known = h.device(id).map(|d| d.topology.children).unwrap_or_default();
        if kids != known {
            if let Err(e) = h.set_children(id, kids).await {
                tracing::warn!(device = %id, error = %e, "topology not recorded");
                return;
            }
        }
        for host in lan {
            // A LAN host is known, not managed: no capabilities, presence from `Active`.
            let r = h
                .update_device(&host.id, |d| {
                    d.capabilities = Some(Default::default());
                    d.identity.device_type = host.interface.clone();
                    d.snapshot.device_info.get_or_insert_with(Default::default).device_name = host.name.clone();
                    d.presence.address = host.address.clone();
                    d.presence.state = if host.active {
                        unidm_models::PresenceState::Online
                    } else {
                        unidm_models::PresenceState::Offline
                    };
                })
                .await;
            if let Err(e) = r {
                tracing::warn!(device = %host.id, error = %e, "LAN host not recorded");
            }
        }
    }

    /// Queues the upkeep an Inform calls for: credentials when none are set (or after
    /// `0 BOOTSTRAP`); the device snapshot, functions and topology after a boot or on first
    /// contact since start. User operations go before all of it (see `send_next_queued`).
    pub(crate) fn plan_upkeep(&self, id: &DeviceId, inform: &Inform, record: &DeviceRecord) {
        let bootstrap = inform.has_event(event_code::BOOTSTRAP);
        let boot = bootstrap || inform.has_event(event_code::BOOT);
        let mut st = self.state();
        if bootstrap {
            st.credentials_given_up.remove(id);
        }
        let creds = (self.config.provision_connection_request_credentials
            && record.cr_username.is_none()
            && !st.credentials_given_up.contains(id))
        .then(|| Upkeep::SetCrCredentials { username: super::secret::username(), password: super::secret::password() });
        let topology = st.topology_read.insert(id.clone()) || boot;
        let queue = st.upkeep.entry(id.clone()).or_default();
        let queued =
            |queue: &std::collections::VecDeque<UpkeepWork>, task: &Upkeep| queue.iter().any(|w| w.task == *task);
        if let Some(task) = creds {
            if !queue.iter().any(|w| matches!(w.task, Upkeep::SetCrCredentials { .. })) {
                queue.push_front(UpkeepWork::new(task));
            }
        }
        if topology && !queued(queue, &Upkeep::ReadTopology) {
            let model = record.model.unwrap_or(DataModel::Tr181);
            queue.push_back(UpkeepWork::new(Upkeep::ReadSnapshot { narrowed: false }));
            queue.push_back(UpkeepWork::new(Upkeep::Discover { path: model.root().into() }));
            if model == DataModel::Tr181 {
                queue.push_back(UpkeepWork::new(Upkeep::Discover { path: "Device.IP.Diagnostics.".into() }));
            }
            queue.push_back(UpkeepWork::new(Upkeep::ReadTopology));
        }
    }

    /// Takes the CPE's answer to an upkeep request.
    pub(crate) async fn on_upkeep_response(self: &Arc<Self>, id: &DeviceId, task: Upkeep, response: Rpc) {
        match (task, response) {
            (Upkeep::SetCrCredentials { username, password }, Rpc::SetParameterValuesResponse(_)) => {
                let rec = {
                    let mut st = self.state();
                    let rec = st.devices.entry(id.clone()).or_default();
                    rec.cr_username = Some(username);
                    rec.cr_password = Some(password);
                    rec.clone()
                };
                self.persist_device(id, &rec).await;
            }
            // The hosts are read in a request of their own: a CPE without a Hosts table faults
            // the whole GetParameterValues (A.3.2.2), which must not lose the managed devices.
            (Upkeep::ReadTopology, Rpc::GetParameterValuesResponse(r)) => {
                let managed = children(&r.parameter_list);
                self.state()
                    .upkeep
                    .entry(id.clone())
                    .or_default()
                    .push_front(UpkeepWork::new(Upkeep::ReadHosts { managed }));
            }
            (Upkeep::ReadTopology, Rpc::Fault(f)) => {
                tracing::debug!(device = %id, fault = ?f.code(), "no ManageableDevice table");
                self.state()
                    .upkeep
                    .entry(id.clone())
                    .or_default()
                    .push_front(UpkeepWork::new(Upkeep::ReadHosts { managed: Vec::new() }));
            }
            (Upkeep::ReadHosts { managed }, Rpc::GetParameterValuesResponse(r)) => {
                let lan = hosts(id, &r.parameter_list);
                self.record_children(id, managed, lan).await;
            }
            (Upkeep::ReadHosts { managed }, Rpc::Fault(_)) => self.record_children(id, managed, Vec::new()).await,
            (Upkeep::Discover { .. }, Rpc::GetParameterNamesResponse(r)) => {
                let has = |suffix: &str| r.parameter_list.iter().any(|p| p.name.ends_with(suffix));
                let software = has(".SoftwareModules.");
                let traceroute = has(".TraceRoute.") || has(".TraceRouteDiagnostics.");
                let rec = {
                    let mut st = self.state();
                    let rec = st.devices.entry(id.clone()).or_default();
                    if (rec.software_modules || !software) && (rec.traceroute || !traceroute) {
                        return;
                    }
                    rec.software_modules |= software;
                    rec.traceroute |= traceroute;
                    rec.clone()
                };
                self.persist_device(id, &rec).await;
                let caps = capabilities(rec.software_modules, rec.traceroute);
                if let Some(h) = self.handle.get() {
                    if let Err(e) = h.update_device(id, |d| d.capabilities = Some(caps)).await {
                        tracing::warn!(device = %id, error = %e, "capabilities not recorded");
                    }
                }
            }
            (Upkeep::ReadSnapshot { .. }, Rpc::GetParameterValuesResponse(r)) => {
                self.record_snapshot(id, &r.parameter_list).await
            }
            (Upkeep::ReadSnapshot { narrowed: false }, Rpc::Fault(f)) => {
                // A CPE without one of the optional objects faults the whole request (A.3.2.2):
                // once more with the names every CPE has, then never again until the next boot.
                tracing::debug!(device = %id, fault = ?f.code(), "snapshot read refused; reading fewer names");
                let retry = UpkeepWork::new(Upkeep::ReadSnapshot { narrowed: true });
                self.state().upkeep.entry(id.clone()).or_default().push_front(retry);
            }
            (task, Rpc::Fault(f)) => {
                tracing::info!(device = %id, ?task, fault = ?f.code(), "CPE refused an ACS upkeep request")
            }
            (task, other) => tracing::warn!(device = %id, ?task, got = other.name(), "unexpected upkeep answer"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manageable_devices_become_children() {
        let p = |n: &str, v: &str| {
            ParameterValueStruct::new(format!("Device.ManagementServer.ManageableDevice.{n}"), Value::string(v))
        };
        let params = [
            p("1.ManufacturerOUI", "00D09E"),
            p("1.ProductClass", "STB"),
            p("1.SerialNumber", "S1"),
            p("1.Host", "Device.Hosts.Host.3"),
            p("2.ManufacturerOUI", "00D09E"),
            p("2.ProductClass", ""),
            p("2.SerialNumber", "S2"),
            p("3.ManufacturerOUI", ""),
            p("3.SerialNumber", "S3"),
        ];
        let kids = children(&params);
        assert_eq!(kids.len(), 2);
        assert_eq!(kids[0].as_str(), "tr069:00D09E-STB-S1");
        assert_eq!(kids[1].as_str(), "tr069:00D09E-S2");
    }

    #[test]
    fn lan_hosts_are_keyed_by_mac_address() {
        let gw = DeviceId::tr069("202BC1", Some("BM632w"), "S1").unwrap();
        let p = |n: &str, v: &str| {
            ParameterValueStruct::new(format!("InternetGatewayDevice.LANDevice.1.Hosts.Host.{n}"), Value::string(v))
        };
        let params = [
            p("1.MACAddress", "40:B0:FA:9C:4A:50"),
            p("1.HostName", "phone"),
            p("1.IPAddress", "192.168.1.2"),
            p("1.Active", "true"),
            p("2.MACAddress", "40:b0:fa:9c:4a:50"),
            p("3.HostName", "no mac"),
            p("4.MACAddress", "00:11:22:33:44:55"),
            p("4.Active", "0"),
            ParameterValueStruct::new("InternetGatewayDevice.LANDevice.1.WLANConfiguration.1.SSID", Value::string("x")),
        ];
        let lan = hosts(&gw, &params);
        assert_eq!(lan.len(), 2, "same MAC once, rows without a MAC skipped: {lan:?}");
        assert_eq!(lan[0].id.as_str(), "tr069:202BC1-BM632w-S1/host/40:b0:fa:9c:4a:50");
        assert_eq!(
            (lan[0].name.as_deref(), lan[0].address.as_deref(), lan[0].active),
            (Some("phone"), Some("192.168.1.2"), true)
        );
        assert!(!lan[1].active);
        assert_eq!(hosts_path(DataModel::Tr181), "Device.Hosts.Host.");
    }
}
