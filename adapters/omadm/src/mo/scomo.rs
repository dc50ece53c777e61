//! SCOMO, the Software Component Management Object (`urn:oma:mo:oma-scomo:1.0`; OMA SCOMO 1.0
//! §5 nodes, §8.7 result codes): inventory nodes as software modules and the
//! `OperationComplete` alert's result codes as operation outcomes (TS-0005 §6.3, `swr`).

use unidm_models::{ErrorKind, SoftwareModule};

use super::Outcome;

/// The SCOMO management object identifier.
pub const MOID: &str = "urn:oma:mo:oma-scomo:1.0";
/// The Generic Alert type of a finished SCOMO operation.
pub const ALERT_OPERATION_COMPLETE: &str = "urn:oma:at:scomo:1.0:OperationComplete";

/// `Inventory/Deployed/<x>/State`: 10 Inactive, 20 Active.
pub fn deployed_active(state: i64) -> Option<bool> {
    match state {
        10 => Some(false),
        20 => Some(true),
        _ => None,
    }
}

/// A deployed component (`Inventory/Deployed/<x>/`) as a software module of the model.
pub fn deployed_module(node: &str, name: &str, version: Option<&str>, state: Option<i64>) -> SoftwareModule {
    SoftwareModule {
        id: node.to_owned(),
        name: name.to_owned(),
        version: version.map(str::to_owned),
        installed: true,
        active: state.and_then(deployed_active).unwrap_or(false),
    }
}

/// A delivered, not installed component (`Inventory/Delivered/<x>/`, State 10).
pub fn delivered_module(node: &str, name: &str) -> SoftwareModule {
    SoftwareModule { id: node.to_owned(), name: name.to_owned(), version: None, installed: false, active: false }
}

/// What a SCOMO result code (§8.7) means for the operation.
pub fn outcome(code: u32) -> Outcome {
    use ErrorKind::*;
    match code {
        1200 | 1250..=1299 => Outcome::Succeeded,
        1400 => Outcome::failed(DeviceRefused, code, "client error"),
        1401 => Outcome::failed(DeviceRefused, code, "user cancelled"),
        1402 => Outcome::failed(Transport, code, "download failed"),
        1403 => Outcome::failed(Transport, code, "alternate download authentication failure"),
        1404 => Outcome::failed(DeviceRefused, code, "download failed: out of memory"),
        1405 => Outcome::failed(DeviceRefused, code, "install failed"),
        1406 => Outcome::failed(DeviceRefused, code, "install failed: out of memory"),
        1407 => Outcome::failed(BadInput, code, "failed package validation (signature)"),
        1408 => Outcome::failed(DeviceRefused, code, "remove failed"),
        1409 => Outcome::failed(DeviceRefused, code, "activate failed"),
        1410 => Outcome::failed(DeviceRefused, code, "deactivate failed"),
        1411 => Outcome::failed(NotSupported, code, "not implemented"),
        1412 => Outcome::failed(DeviceRefused, code, "undefined error"),
        1413 => Outcome::failed(NotSupported, code, "operation rejected: unsupported environment"),
        1500 => Outcome::failed(Transport, code, "alternate download server error"),
        1501 => Outcome::failed(Transport, code, "alternate download server unavailable"),
        _ => Outcome::failed(DeviceRefused, code, "unknown SCOMO result code"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inventory_and_results() {
        let m = deployed_module("./SCOMO/Inventory/Deployed/app1", "app", Some("1.2"), Some(20));
        assert!(m.installed && m.active);
        assert!(!deployed_module("x", "y", None, Some(10)).active);
        assert!(!delivered_module("x", "y").installed);
        assert_eq!(outcome(1200), Outcome::Succeeded);
        let Outcome::Failed(e) = outcome(1405) else { panic!() };
        assert_eq!((e.message.as_str(), e.protocol_code.as_deref()), ("install failed", Some("1405")));
        let Outcome::Failed(e) = outcome(1411) else { panic!() };
        assert_eq!(e.kind, ErrorKind::NotSupported);
    }
}
