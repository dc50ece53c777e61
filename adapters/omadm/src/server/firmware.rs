//! The firmware snapshot of a FUMO update, moved only through `FirmwareStatus::advance`:
//! Exec sent -> downloading; success -> downloaded -> updating -> succeeded (with the version
//! asked for, else the one the device reports); a failure -> failed with the FUMO code.

use unidm_core::AdapterHandle;
use unidm_models::firmware::FirmwareReport;
use unidm_models::{Device, DeviceId, FirmwareState, FirmwareStatus, FirmwareUpdate};

use super::Server;

impl Server {
    pub(super) async fn report_firmware(
        &self,
        h: &AdapterHandle,
        id: &DeviceId,
        make: impl FnOnce(&Device) -> Vec<FirmwareReport>,
    ) {
        let r = h
            .change_device(id, |d| {
                // Only the firmware slot moves: it alone is compared.
                let before = d.snapshot.firmware.clone();
                for report in make(d) {
                    if let Err(e) = FirmwareStatus::advance_in(&mut d.snapshot.firmware, report) {
                        tracing::warn!(device = %d.id, error = %e, "firmware snapshot kept: not a legal move");
                        break;
                    }
                }
                d.snapshot.firmware != before
            })
            .await;
        if let Err(e) = r {
            tracing::warn!(device = %id, error = %e, "firmware snapshot not recorded");
        }
    }
}

pub(super) fn firmware_sent(f: &FirmwareUpdate) -> impl FnOnce(&Device) -> Vec<FirmwareReport> {
    let report = FirmwareReport {
        state: FirmwareState::Downloading,
        version: f.version.clone(),
        name: f.name.clone(),
        url: Some(f.uri.clone()),
        ..FirmwareReport::default()
    };
    move |_| vec![report]
}

pub(super) fn firmware_done(f: &FirmwareUpdate, d: &Device) -> Vec<FirmwareReport> {
    let version = f.version.clone().or_else(|| d.identity.fw_version.clone());
    vec![
        FirmwareReport::new(FirmwareState::Downloaded),
        FirmwareReport::new(FirmwareState::Updating),
        FirmwareReport { state: FirmwareState::Succeeded, version, ..FirmwareReport::default() },
    ]
}
