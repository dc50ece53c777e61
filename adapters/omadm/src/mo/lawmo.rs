//! LAWMO, the Lock And Wipe Management Object (`urn:oma:mo:oma-lawmo:1.0`; OMA LAWMO 1.0):
//! its operations (factory reset, lock, unlock, wipe), `State` and the `OperationComplete`
//! alert's result codes.

use unidm_models::ErrorKind;

use super::Outcome;

/// The LAWMO management object identifier.
pub const MOID: &str = "urn:oma:mo:oma-lawmo:1.0";
/// The Generic Alert type of a finished LAWMO operation.
pub const ALERT_OPERATION_COMPLETE: &str = "urn:oma:at:lawmo:1.0:OperationComplete";

/// The Exec nodes under `<LAWMO>/Operations/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// `FullyLock`.
    FullyLock,
    /// `PartiallyLock`.
    PartiallyLock,
    /// `UnLock` (some clients name it `Unlock`; the path is matched without case).
    UnLock,
    /// `FactoryReset`.
    FactoryReset,
    /// `Wipe`.
    Wipe,
}

impl Operation {
    /// The node name under `Operations/`.
    pub fn node(self) -> &'static str {
        match self {
            Operation::FullyLock => "FullyLock",
            Operation::PartiallyLock => "PartiallyLock",
            Operation::UnLock => "UnLock",
            Operation::FactoryReset => "FactoryReset",
            Operation::Wipe => "Wipe",
        }
    }

    /// The Exec target under the LAWMO root `root` (e.g. `./LAWMO`,
    /// `./ManagedObjects/LAWMO`).
    pub fn path(self, root: &str) -> String {
        format!("{}/Operations/{}", root.trim_end_matches('/'), self.node())
    }
}

/// `<LAWMO>/State`: 10 Fully Locked, 20 Partially Locked, 30 Unlocked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// 10.
    FullyLocked,
    /// 20.
    PartiallyLocked,
    /// 30.
    Unlocked,
}

impl State {
    /// The state of a node value.
    pub fn from_value(v: i64) -> Option<State> {
        match v {
            10 => Some(State::FullyLocked),
            20 => Some(State::PartiallyLocked),
            30 => Some(State::Unlocked),
            _ => None,
        }
    }
}

/// What a LAWMO result code means for the operation.
pub fn outcome(code: u32) -> Outcome {
    use ErrorKind::*;
    match code {
        1200..=1202 => Outcome::Succeeded,
        1400 => Outcome::failed(DeviceRefused, code, "client error"),
        1401 => Outcome::failed(DeviceRefused, code, "user cancelled"),
        1402 => Outcome::failed(DeviceRefused, code, "fully lock failed"),
        1403 => Outcome::failed(DeviceRefused, code, "partially lock failed"),
        1404 => Outcome::failed(DeviceRefused, code, "unlock failed"),
        1405 => Outcome::failed(DeviceRefused, code, "wipe data failed"),
        1406 => Outcome::failed(DeviceRefused, code, "wipe data not performed"),
        _ => Outcome::failed(DeviceRefused, code, "unknown LAWMO result code"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_states_and_results() {
        assert_eq!(Operation::FactoryReset.path("./LAWMO/"), "./LAWMO/Operations/FactoryReset");
        assert_eq!(Operation::UnLock.path("./ManagedObjects/LAWMO"), "./ManagedObjects/LAWMO/Operations/UnLock");
        assert_eq!(State::from_value(30), Some(State::Unlocked));
        assert_eq!(State::from_value(40), None);
        assert_eq!(outcome(1201), Outcome::Succeeded);
        let Outcome::Failed(e) = outcome(1406) else { panic!() };
        assert_eq!(e.message, "wipe data not performed");
    }
}
