//! The firmware snapshot of a CPE, moved only through the model's state machine
//! ([`FirmwareStatus::advance_in`]): Download sent -> `downloading`; DownloadResponse Status 0
//! (TR-069 Amendment 6, A.3.2.8: "the download and application have completed") or a
//! TransferComplete with FaultCode 0 (A.3.3.2) -> `downloaded` -> `updating` -> `succeeded`,
//! with the version; a fault -> `failed` with the CWMP fault code as `protocol_result`.

use unidm_models::firmware::FirmwareReport;
use unidm_models::{Device, DeviceId, FirmwareState, FirmwareStatus, FirmwareUpdate};

use super::Acs;

/// The report of a Download just sent for `f`.
pub(crate) fn download_sent(f: &FirmwareUpdate) -> Vec<FirmwareReport> {
    vec![FirmwareReport {
        state: FirmwareState::Downloading,
        version: f.version.clone(),
        name: f.name.clone(),
        url: Some(f.uri.clone()),
        ..FirmwareReport::default()
    }]
}

/// The phases a CPE went through when it reports a completed download and update at once:
/// downloaded, updating, succeeded. The version is the one asked for, else the
/// `SoftwareVersion` the CPE reported last (a CPE reboots into the new image and informs with
/// it before it sends TransferComplete).
pub(crate) fn completed(f: &FirmwareUpdate, device: &Device) -> Vec<FirmwareReport> {
    let version = f.version.clone().or_else(|| device.identity.fw_version.clone());
    vec![
        FirmwareReport::new(FirmwareState::Downloaded),
        FirmwareReport::new(FirmwareState::Updating),
        FirmwareReport {
            state: FirmwareState::Succeeded,
            version,
            protocol_result: Some("0".into()),
            ..FirmwareReport::default()
        },
    ]
}

/// A failed download or update, with the CPE's words and CWMP fault code.
pub(crate) fn failed(why: &str, fault_code: Option<String>) -> Vec<FirmwareReport> {
    let why = if why.trim().is_empty() { "the CPE reported a fault" } else { why };
    vec![FirmwareReport::failed(why, fault_code)]
}

/// Applies `reports` to a snapshot in order; the first move the state machine refuses is
/// logged and ends the walk, keeping the snapshot where it was.
pub(crate) fn apply(id: &DeviceId, snapshot: &mut Option<Box<FirmwareStatus>>, reports: Vec<FirmwareReport>) {
    for report in reports {
        if let Err(e) = FirmwareStatus::advance_in(snapshot, report) {
            tracing::warn!(device = %id, error = %e, "firmware snapshot kept: the CPE's report is not a legal move");
            return;
        }
    }
}

impl Acs {
    /// Moves the device's firmware snapshot by the reports `make` builds from the device.
    pub(crate) async fn report_firmware(&self, id: &DeviceId, make: impl FnOnce(&Device) -> Vec<FirmwareReport>) {
        let Some(h) = self.handle.get() else { return };
        let r = h
            .change_device(id, |d| {
                let reports = make(d);
                // Only the firmware slot moves: it alone is compared.
                let before = d.snapshot.firmware.clone();
                apply(id, &mut d.snapshot.firmware, reports);
                d.snapshot.firmware != before
            })
            .await;
        if let Err(e) = r {
            tracing::warn!(device = %id, error = %e, "firmware snapshot not recorded");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn update(version: Option<&str>) -> FirmwareUpdate {
        FirmwareUpdate { uri: "http://f/fw.bin".into(), version: version.map(str::to_owned), name: None }
    }

    fn device() -> Device {
        let mut d = Device::new(DeviceId::tr069("00D09E", Some("X"), "1").unwrap(), unidm_models::Timestamp(0));
        d.identity.fw_version = Some("reported-2".into());
        d
    }

    #[test]
    fn a_completed_download_walks_every_phase_to_succeeded() {
        let id = device().id;
        let mut snap = None;
        apply(&id, &mut snap, download_sent(&update(Some("2.0"))));
        assert_eq!(snap.as_ref().map(|s| s.state), Some(FirmwareState::Downloading));
        apply(&id, &mut snap, completed(&update(Some("2.0")), &device()));
        let s = snap.unwrap();
        assert_eq!(
            (s.state, s.version.as_deref(), s.url.as_deref()),
            (FirmwareState::Succeeded, Some("2.0"), Some("http://f/fw.bin"))
        );
        // Without a version asked for, the version the CPE reports is taken.
        let mut snap = None;
        apply(&id, &mut snap, download_sent(&update(None)));
        apply(&id, &mut snap, completed(&update(None), &device()));
        assert_eq!(snap.unwrap().version.as_deref(), Some("reported-2"));
    }

    #[test]
    fn an_illegal_move_keeps_the_snapshot() {
        let id = device().id;
        let mut snap =
            Some(Box::new(FirmwareStatus { state: FirmwareState::Downloading, ..FirmwareStatus::default() }));
        // Downloading -> Succeeded directly is refused; the snapshot stays as it was.
        apply(&id, &mut snap, vec![FirmwareReport::new(FirmwareState::Succeeded)]);
        assert_eq!(snap.unwrap().state, FirmwareState::Downloading);
    }

    #[test]
    fn a_fault_fails_with_the_cwmp_code() {
        let id = device().id;
        let mut snap = None;
        apply(&id, &mut snap, download_sent(&update(None)));
        apply(&id, &mut snap, failed("image rejected", Some("9010".into())));
        let s = snap.unwrap();
        assert_eq!(
            (s.state, s.failure.as_deref(), s.protocol_result.as_deref()),
            (FirmwareState::Failed, Some("image rejected"), Some("9010"))
        );
    }
}
