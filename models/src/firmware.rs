//! The firmware function (`fwr`, mgd 1001) and its update state machine.
//!
//! States: `idle -> downloading -> downloaded -> updating -> succeeded | failed`.
//! Each protocol's progress (LwM2M `/5/0/3` State and `/5/0/5` Update Result, CWMP
//! `TransferComplete`, FUMO `State`) is translated into these by its adapter; the oneM2M
//! `fwr.uds.sus` value follows from the state (oneM2M TS-0005 §5.3.2 takes it from FUMO `State`;
//! the other protocols' translations are unidm's).

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

/// oneM2M `m2m:status` (oneM2M TS-0004, enumeration `m2m:status`).
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
    /// for diagnostics because `m2m:status` alone loses it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol_result: Option<String>,
}

/// What an adapter learned of a firmware update: the state the device reports (translated by
/// the adapter from `/5/0/3` + `/5/0/5`, `TransferComplete`, FUMO `State`) and the details that
/// came with it. Fields left `None` keep what the snapshot held.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FirmwareReport {
    /// The state the device is in now.
    pub state: FirmwareState,
    /// Package version, when reported (or asked for by a new update).
    pub version: Option<String>,
    /// Package name.
    pub name: Option<String>,
    /// Package URL.
    pub url: Option<String>,
    /// Why the update failed (with [`FirmwareState::Failed`]).
    pub failure: Option<String>,
    /// The protocol's own result code.
    pub protocol_result: Option<String>,
}

impl FirmwareReport {
    /// A report of `state` with nothing else.
    pub fn new(state: FirmwareState) -> Self {
        FirmwareReport { state, ..FirmwareReport::default() }
    }

    /// A failure with its reason and the protocol's code.
    pub fn failed(failure: impl Into<String>, protocol_result: Option<String>) -> Self {
        FirmwareReport {
            state: FirmwareState::Failed,
            failure: Some(failure.into()),
            protocol_result,
            ..FirmwareReport::default()
        }
    }
}

/// A firmware state change the state machine does not allow ([`FirmwareState::can_move_to`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("firmware state cannot move from {from:?} to {to:?}")]
pub struct IllegalMove {
    /// The state the snapshot held.
    pub from: FirmwareState,
    /// The state asked for.
    pub to: FirmwareState,
}

impl FirmwareStatus {
    /// The one way adapters move a device's firmware snapshot: `current` (the snapshot, `None`
    /// before anything was known) becomes `report`, when the state machine allows the move.
    /// A success or a failure ends the update, so a new report of an earlier phase (a device that
    /// reports `Idle` after it applied the image) is taken as the next resting state.
    /// `status()` gives the oneM2M `uds.sus` of the result.
    pub fn advance(current: Option<&FirmwareStatus>, report: FirmwareReport) -> Result<FirmwareStatus, IllegalMove> {
        let mut next = current.cloned().unwrap_or_default();
        let from = next.state;
        if !from.can_move_to(report.state) {
            return Err(IllegalMove { from, to: report.state });
        }
        next.state = report.state;
        if report.version.is_some() {
            next.version = report.version;
        }
        if report.name.is_some() {
            next.name = report.name;
        }
        if report.url.is_some() {
            next.url = report.url;
        }
        if report.protocol_result.is_some() {
            next.protocol_result = report.protocol_result;
        }
        next.failure = match report.state {
            FirmwareState::Failed => report.failure.or(next.failure).or_else(|| Some("firmware update failed".into())),
            _ => None,
        };
        Ok(next)
    }

    /// [`FirmwareStatus::advance`] on a device's snapshot in place; on an illegal move the
    /// snapshot stays as it was and the error says which move was refused.
    pub fn advance_in(slot: &mut Option<Box<FirmwareStatus>>, report: FirmwareReport) -> Result<(), IllegalMove> {
        *slot = Some(Box::new(FirmwareStatus::advance(slot.as_deref(), report)?));
        Ok(())
    }

    /// oneM2M `fwr.uds.sus` of this status.
    pub fn status(&self) -> M2mStatus {
        self.state.m2m_status()
    }
}

#[cfg(test)]
mod tests {
    use super::FirmwareState::*;
    use super::*;

    #[test]
    fn advance_enforces_the_state_machine_and_keeps_what_was_not_reported() {
        let start = FirmwareReport {
            state: Downloading,
            version: Some("2.0".into()),
            url: Some("http://f/x".into()),
            ..FirmwareReport::default()
        };
        let s = FirmwareStatus::advance(None, start).unwrap();
        assert_eq!((s.state, s.version.as_deref(), s.status()), (Downloading, Some("2.0"), M2mStatus::InProcess));
        let err = FirmwareStatus::advance(Some(&s), FirmwareReport::new(Succeeded)).unwrap_err();
        assert_eq!(err, IllegalMove { from: Downloading, to: Succeeded });
        let s = FirmwareStatus::advance(Some(&s), FirmwareReport::new(Downloaded)).unwrap();
        let s = FirmwareStatus::advance(Some(&s), FirmwareReport::new(Updating)).unwrap();
        let s = FirmwareStatus::advance(Some(&s), FirmwareReport::new(Succeeded)).unwrap();
        assert_eq!(
            (s.version.as_deref(), s.url.as_deref(), s.status()),
            (Some("2.0"), Some("http://f/x"), M2mStatus::Successful)
        );
        let f = FirmwareStatus::advance(Some(&s), FirmwareReport::failed("integrity", Some("5".into()))).unwrap();
        assert_eq!(
            (f.failure.as_deref(), f.protocol_result.as_deref(), f.status()),
            (Some("integrity"), Some("5"), M2mStatus::Failure)
        );
        let again = FirmwareStatus::advance(Some(&f), FirmwareReport::new(Downloading)).unwrap();
        assert_eq!(again.failure, None, "a new attempt clears the old failure");
        let mut slot = Some(Box::new(s.clone()));
        assert!(FirmwareStatus::advance_in(&mut slot, FirmwareReport::new(Downloaded)).is_err());
        assert_eq!(slot, Some(Box::new(s)), "an illegal move leaves the snapshot as it was");
    }

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
