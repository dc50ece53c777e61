//! The device snapshot read on first contact and after `0 BOOTSTRAP` / `1 BOOT`: one
//! GetParameterValues of full names (TR-069 Amendment 6, A.3.2.2) for what an LwM2M device
//! gives at registration: device info (TR-181 / TR-098 `DeviceInfo.`), memory
//! (`DeviceInfo.MemoryStatus.`), the running firmware version (`DeviceInfo.SoftwareVersion`) and
//! IP connectivity (TR-181 `IP.Interface.1.IPv4Address.1.`, TR-098 the first WAN IP
//! connection). A CPE faults the whole request when one name does not exist, so a fault is
//! followed by one read of the names every CPE has, and nothing more (bounded: two requests
//! at most per boot). Neither data model has a plain latitude / longitude (TR-181
//! `DeviceInfo.Location.{i}.DataObject` is an opaque, source-specific object), so location is
//! not read.

use unidm_models::DeviceId;

use super::Acs;
use crate::model::{DataModel, Facts};
use crate::rpc::common::ParameterValueStruct;

/// `DeviceInfo.` parameters both data models require.
const REQUIRED: [&str; 5] = [
    "DeviceInfo.Manufacturer",
    "DeviceInfo.ModelName",
    "DeviceInfo.SerialNumber",
    "DeviceInfo.HardwareVersion",
    "DeviceInfo.SoftwareVersion",
];

/// Optional parameters most CPEs of each data model have.
fn optional(model: DataModel) -> &'static [&'static str] {
    match model {
        DataModel::Tr181 => {
            &["DeviceInfo.MemoryStatus.Total", "DeviceInfo.MemoryStatus.Free", "IP.Interface.1.IPv4Address.1.IPAddress"]
        }
        DataModel::Tr098 => &[
            "DeviceInfo.MemoryStatus.Total",
            "DeviceInfo.MemoryStatus.Free",
            "WANDevice.1.WANConnectionDevice.1.WANIPConnection.1.ExternalIPAddress",
        ],
    }
}

/// The full names of the snapshot read: the required ones, and unless `narrowed` the optional
/// ones too.
pub(crate) fn names(model: DataModel, narrowed: bool) -> Vec<String> {
    let optional = if narrowed { &[][..] } else { optional(model) };
    REQUIRED.iter().chain(optional).map(|n| format!("{}{n}", model.root())).collect()
}

impl Acs {
    /// Records what a snapshot read returned (identity, memory, connectivity, firmware
    /// version) and when.
    pub(crate) async fn record_snapshot(&self, id: &DeviceId, params: &[ParameterValueStruct]) {
        let Some(h) = self.handle.get() else { return };
        let facts = Facts::from_params(params);
        let now = h.now();
        let r = h
            .update_device(id, |d| {
                facts.apply(d);
                d.snapshot.refreshed_at = Some(now);
            })
            .await;
        if let Err(e) = r {
            tracing::warn!(device = %id, error = %e, "device snapshot not recorded");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_narrowed_read_keeps_only_required_names() {
        let wide = names(DataModel::Tr098, false);
        assert_eq!(wide.len(), 8);
        assert!(wide.iter().all(|n| n.starts_with("InternetGatewayDevice.") && !n.ends_with('.')));
        let narrow = names(DataModel::Tr181, true);
        assert_eq!(narrow, REQUIRED.map(|n| format!("Device.{n}")).to_vec());
    }
}
