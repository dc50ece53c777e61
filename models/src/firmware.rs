//! The firmware function (`fwr`, mgd 1001) and its update state machine.
//!
//! States follow DESIGN.md: `idle -> downloading -> downloaded -> updating -> succeeded | failed`.
//! Each protocol's progress (LwM2M `/5/0/3` State and `/5/0/5` Update Result, CWMP
//! `TransferComplete`, FUMO `State`) is translated into these by its adapter; the oneM2M
//! `fwr.uds.sus` value follows from the state (onem2m-mapping.md §6.1).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Where a firmware update stands.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum FirmwareState {
    /// Nothing in progress.
    #[default]
    Idle,
    /// The device is fetching the image.
    Downloading,
    /// The image is on the device, not yet applied.
    Downloaded,
    /// The device is applying the image.
    Updating,
    /// The update succeeded.
    Succeeded,
    /// The update failed; see [`FirmwareStatus::failure`].
    Failed,
}

/// oneM2M `m2m:status` (onem2m-mapping.md §3.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[repr(u8)]
pub enum M2mStatus {
    /// 0.
    Uninitialized = 0,
    /// 1.
    Successful = 1,
    /// 2.
    Failure = 2,
    /// 3.
    InProcess = 3,
}

impl FirmwareState {
    /// Whether the state machine allows moving from `self` to `next`. A new update may start
    /// from any resting state; a failure may happen at any time.
    pub fn can_move_to(self, next: FirmwareState) -> bool {
        use FirmwareState::*;
        match (self, next) {
            (_, Failed) => true,
            (Idle | Succeeded | Failed | Downloaded, Downloading) => true,
            (Downloading, Downloaded) => true,
            // Pushed images (LwM2M /5/0/0 block-wise) skip a separate download phase.
            (Idle | Succeeded | Failed | Downloading | Downloaded, Updating) => true,
            (Updating, Succeeded) => true,
            (Succeeded | Failed, Idle) => true,
            (a, b) => a == b,
        }
    }

    /// `fwr.uds.sus` for this state.
    pub fn m2m_status(self) -> M2mStatus {
        match self {
            FirmwareState::Idle => M2mStatus::Uninitialized,
            FirmwareState::Downloading | FirmwareState::Downloaded | FirmwareState::Updating => M2mStatus::InProcess,
            FirmwareState::Succeeded => M2mStatus::Successful,
            FirmwareState::Failed => M2mStatus::Failure,
        }
    }
}

/// The firmware snapshot of a device.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FirmwareStatus {
    /// Update state.
    pub state: FirmwareState,
    /// `fwr.vr`: version of the package (the running one once an update succeeded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// `fwr.fwn`: package name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `fwr.url`: where the package comes from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Why the last update failed, in words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
    /// The protocol's own result (LwM2M Update Result, CWMP fault code, FUMO result code), kept
    /// for diagnostics because `m2m:status` alone loses it (onem2m-mapping.md §6.1 notes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol_result: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::FirmwareState::*;
    use super::*;

    #[test]
    fn happy_path_is_allowed() {
        let path = [Idle, Downloading, Downloaded, Updating, Succeeded, Idle];
        for w in path.windows(2) {
            assert!(w[0].can_move_to(w[1]), "{:?} -> {:?}", w[0], w[1]);
        }
    }

    #[test]
    fn skipping_or_reversing_is_refused() {
        assert!(!Idle.can_move_to(Downloaded));
        assert!(!Idle.can_move_to(Succeeded));
        assert!(!Updating.can_move_to(Downloading));
        assert!(!Downloading.can_move_to(Succeeded));
        assert!(Updating.can_move_to(Failed));
    }

    #[test]
    fn m2m_status_follows_state() {
        assert_eq!(Idle.m2m_status(), M2mStatus::Uninitialized);
        assert_eq!(Downloaded.m2m_status(), M2mStatus::InProcess);
        assert_eq!(Succeeded.m2m_status() as u8, 1);
        assert_eq!(Failed.m2m_status() as u8, 2);
    }
}
