//! FUMO, the Firmware Update Management Object (`urn:oma:mo:oma-fumo:1.0`; OMA FUMO 1.0
//! §10.1 nodes, §10.2.2.4 result codes): the `State` node and the Generic Alert result codes
//! as the common model's firmware states and operation outcomes (TS-0005 §6.3, `fwr.uds`).

use unidm_models::firmware::FirmwareReport;
use unidm_models::{ErrorKind, FirmwareState};

use super::Outcome;

/// The FUMO management object identifier.
pub const MOID: &str = "urn:oma:mo:oma-fumo:1.0";

/// Generic Alert types of FUMO (§10.2.2.2, §10.3.1.2).
pub mod alert_type {
    /// Result of `Exec <x>/Download`.
    pub const DOWNLOAD: &str = "org.openmobilealliance.dm.firmwareupdate.download";
    /// Result of `Exec <x>/Update`.
    pub const UPDATE: &str = "org.openmobilealliance.dm.firmwareupdate.update";
    /// Result of `Exec <x>/DownloadAndUpdate`.
    pub const DOWNLOAD_AND_UPDATE: &str = "org.openmobilealliance.dm.firmwareupdate.downloadandupdate";
    /// The device asks for an update by itself.
    pub const DEVICE_REQUEST: &str = "org.openmobilealliance.dm.firmwareupdate.devicerequest";
    /// The user asks for an update.
    pub const USER_REQUEST: &str = "org.openmobilealliance.dm.firmwareupdate.userrequest";
}

/// The FUMO `<x>/State` node's values (§10.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// 10: Idle / Start.
    Idle,
    /// 20: Download Failed.
    DownloadFailed,
    /// 30: Download Progressing.
    DownloadProgressing,
    /// 40: Download Complete.
    DownloadComplete,
    /// 50: Ready to Update.
    ReadyToUpdate,
    /// 60: Update Progressing.
    UpdateProgressing,
    /// 70: Update Failed / Have Data.
    UpdateFailedHaveData,
    /// 80: Update Failed / No Data.
    UpdateFailedNoData,
    /// 90: Update Successful / Have Data.
    UpdateSuccessfulHaveData,
    /// 100: Update Successful / No Data.
    UpdateSuccessfulNoData,
}

impl State {
    /// The state of a `State` node value; `None` for values FUMO does not define.
    pub fn from_value(v: i64) -> Option<State> {
        Some(match v {
            10 => State::Idle,
            20 => State::DownloadFailed,
            30 => State::DownloadProgressing,
            40 => State::DownloadComplete,
            50 => State::ReadyToUpdate,
            60 => State::UpdateProgressing,
            70 => State::UpdateFailedHaveData,
            80 => State::UpdateFailedNoData,
            90 => State::UpdateSuccessfulHaveData,
            100 => State::UpdateSuccessfulNoData,
            _ => return None,
        })
    }

    /// The node value.
    pub fn value(self) -> i64 {
        match self {
            State::Idle => 10,
            State::DownloadFailed => 20,
            State::DownloadProgressing => 30,
            State::DownloadComplete => 40,
            State::ReadyToUpdate => 50,
            State::UpdateProgressing => 60,
            State::UpdateFailedHaveData => 70,
            State::UpdateFailedNoData => 80,
            State::UpdateSuccessfulHaveData => 90,
            State::UpdateSuccessfulNoData => 100,
        }
    }

    /// The common model's firmware state (TS-0005 §6.3: 10/40/50 uninitialized or resting,
    /// 30/60 in process, 90/100 successful, 20/70/80 failure).
    pub fn firmware_state(self) -> FirmwareState {
        match self {
            State::Idle => FirmwareState::Idle,
            State::DownloadProgressing => FirmwareState::Downloading,
            State::DownloadComplete | State::ReadyToUpdate => FirmwareState::Downloaded,
            State::UpdateProgressing => FirmwareState::Updating,
            State::UpdateSuccessfulHaveData | State::UpdateSuccessfulNoData => FirmwareState::Succeeded,
            State::DownloadFailed | State::UpdateFailedHaveData | State::UpdateFailedNoData => FirmwareState::Failed,
        }
    }

    /// The report to move a device's firmware snapshot with (`FirmwareStatus::advance`).
    pub fn report(self) -> FirmwareReport {
        let mut r = FirmwareReport::new(self.firmware_state());
        r.protocol_result = Some(format!("State {}", self.value()));
        if r.state == FirmwareState::Failed {
            r.failure = Some(
                match self {
                    State::DownloadFailed => "download failed",
                    State::UpdateFailedHaveData => "update failed (package kept)",
                    _ => "update failed",
                }
                .into(),
            );
        }
        r
    }
}

/// What a FUMO Generic Alert result code (§10.2.2.4) means for the operation.
pub fn outcome(code: u32) -> Outcome {
    use ErrorKind::*;
    match code {
        200 | 250..=299 => Outcome::Succeeded,
        400 => Outcome::failed(DeviceRefused, code, "management client error"),
        401 => Outcome::failed(DeviceRefused, code, "user cancelled"),
        402 => Outcome::failed(BadInput, code, "corrupted firmware update package"),
        403 => Outcome::failed(BadInput, code, "package / device mismatch"),
        404 => Outcome::failed(BadInput, code, "failed package validation (signature)"),
        405 => Outcome::failed(BadInput, code, "package not acceptable"),
        406 => Outcome::failed(Transport, code, "alternate download authentication failure"),
        407 => Outcome::failed(Timeout, code, "alternate download request time-out"),
        408 => Outcome::failed(NotSupported, code, "not implemented"),
        409 => Outcome::failed(DeviceRefused, code, "undefined error"),
        410 => Outcome::failed(DeviceRefused, code, "firmware update failed"),
        411 => Outcome::failed(BadInput, code, "malformed or bad URL"),
        412 => Outcome::failed(Transport, code, "alternate download server unavailable"),
        450..=499 => Outcome::failed(DeviceRefused, code, "client error (vendor specified)"),
        500 => Outcome::failed(Transport, code, "alternate download server error"),
        501 => Outcome::failed(DeviceRefused, code, "download failed: out of memory"),
        502 => Outcome::failed(DeviceRefused, code, "update failed: out of memory"),
        503 => Outcome::failed(Transport, code, "download failed: network"),
        550..=599 => Outcome::failed(Transport, code, "alternate download server error (vendor specified)"),
        _ => Outcome::failed(DeviceRefused, code, "unknown FUMO result code"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use unidm_models::firmware::FirmwareStatus;

    #[test]
    fn every_state_maps_and_round_trips() {
        for v in (10..=100).step_by(10) {
            let s = State::from_value(v).unwrap();
            assert_eq!(s.value(), v);
        }
        assert_eq!(State::from_value(35), None);
        assert_eq!(State::from_value(60).unwrap().firmware_state(), FirmwareState::Updating);
        assert_eq!(State::from_value(50).unwrap().firmware_state(), FirmwareState::Downloaded);
        assert_eq!(State::from_value(80).unwrap().report().failure.as_deref(), Some("update failed"));
    }

    #[test]
    fn a_normal_update_walks_the_model_state_machine() {
        let mut snapshot = None;
        for v in [30, 40, 50, 60, 100] {
            let report = State::from_value(v).unwrap().report();
            FirmwareStatus::advance_in(&mut snapshot, report).unwrap_or_else(|e| panic!("State {v}: {e}"));
        }
        assert_eq!(snapshot.unwrap().state, FirmwareState::Succeeded);
    }

    #[test]
    fn result_codes_map_to_outcomes() {
        assert_eq!(outcome(200), Outcome::Succeeded);
        assert_eq!(outcome(255), Outcome::Succeeded);
        let Outcome::Failed(e) = outcome(402) else { panic!() };
        assert_eq!((e.kind, e.protocol_code.as_deref()), (ErrorKind::BadInput, Some("402")));
        let Outcome::Failed(e) = outcome(503) else { panic!() };
        assert!(e.kind.is_retryable(), "a network failure may be retried");
        let Outcome::Failed(e) = outcome(1234) else { panic!() };
        assert_eq!(e.message, "unknown FUMO result code");
    }
}
