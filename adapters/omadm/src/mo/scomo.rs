//! SCOMO, the Software Component Management Object (`urn:oma:mo:oma-scomo:1.0`; OMA SCOMO 1.0
//! §5 nodes, §8.7 result codes): the operation nodes (`Download/<x>/Operations/DownloadInstall`,
//! `Inventory/Deployed/<x>/Operations/{Remove, Activate, Deactivate}`), inventory nodes as
//! software modules and the `OperationComplete` alert's result codes as operation outcomes
//! (TS-0005 §6.3, `swr`).

use unidm_models::{ErrorKind, OperationError, SoftwareModule};

use super::Outcome;

/// The SCOMO management object identifier.
pub const MOID: &str = "urn:oma:mo:oma-scomo:1.0";
/// The Generic Alert type of a finished SCOMO operation.
pub const ALERT_OPERATION_COMPLETE: &str = "urn:oma:at:scomo:1.0:OperationComplete";

/// Longest node name taken from a device or a user (a SCOMO `<x>`).
pub const MAX_NODE_NAME: usize = 128;
/// Longest `Name` / `Version` value kept in the snapshot.
pub const MAX_VALUE: usize = 256;
/// Most deployed components read into the snapshot.
pub const MAX_MODULES: usize = 64;

/// The Exec nodes under `Download/<x>/Operations/` (SCOMO 1.0 §5.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DownloadOperation {
    /// `DownloadInstall`: download, install and activate.
    DownloadInstall,
    /// `DownloadInstallInactive`: download and install, left inactive.
    DownloadInstallInactive,
}

impl DownloadOperation {
    /// The node name under `Operations/`.
    pub fn node(self) -> &'static str {
        match self {
            DownloadOperation::DownloadInstall => "DownloadInstall",
            DownloadOperation::DownloadInstallInactive => "DownloadInstallInactive",
        }
    }
}

/// The Exec nodes under `Inventory/Deployed/<x>/Operations/` (SCOMO 1.0 §5.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeployedOperation {
    /// `Remove`: uninstall.
    Remove,
    /// `Activate`.
    Activate,
    /// `Deactivate` (MTK's constant is spelled `Deactive`; the spec's spelling is used).
    Deactivate,
}

impl DeployedOperation {
    /// The node name under `Operations/`.
    pub fn node(self) -> &'static str {
        match self {
            DeployedOperation::Remove => "Remove",
            DeployedOperation::Activate => "Activate",
            DeployedOperation::Deactivate => "Deactivate",
        }
    }
}

/// `<root>/Download/<x>`.
pub fn download_node(root: &str, x: &str) -> String {
    format!("{}/Download/{x}", root.trim_end_matches('/'))
}

/// `<root>/Inventory/Deployed`.
pub fn deployed_root(root: &str) -> String {
    format!("{}/Inventory/Deployed", root.trim_end_matches('/'))
}

/// `<root>/Inventory/Delivered`: packages downloaded, not installed.
pub fn delivered_root(root: &str) -> String {
    format!("{}/Inventory/Delivered", root.trim_end_matches('/'))
}

/// The Exec target of `op` on the deployed component `x`.
pub fn deployed_exec(root: &str, x: &str, op: DeployedOperation) -> String {
    format!("{}/{x}/Operations/{}", deployed_root(root), op.node())
}

/// The deployed component a user names: its node name `<x>`, or its whole node URI under
/// `<root>/Inventory/Deployed/` (with or without `./`). A name must be one URI segment (OMA DM
/// Tree and Description 1.2 §7: no `/`, no `?`, not `.` or `..`) of at most
/// [`MAX_NODE_NAME`] bytes.
pub fn module_node(root: &str, module: &str) -> Result<String, OperationError> {
    let m = module.trim();
    let under = deployed_root(root);
    let strip = |p: &str| p.trim_start_matches("./").to_owned();
    let (m_rel, under_rel) = (strip(m), strip(&under));
    let name = m_rel.strip_prefix(&format!("{under_rel}/")).unwrap_or(&m_rel).trim_end_matches('/');
    node_name(name).map(str::to_owned).ok_or_else(|| {
        OperationError::new(
            ErrorKind::BadInput,
            format!("module {module:?} is not a SCOMO component: give its node name under {under}/"),
        )
    })
}

/// `name` when it is a usable node name (one segment, bounded, printable).
pub fn node_name(name: &str) -> Option<&str> {
    let ok = !name.is_empty()
        && name.len() <= MAX_NODE_NAME
        && name != "."
        && name != ".."
        && !name.chars().any(|c| c == '/' || c == '?' || c.is_control() || c.is_whitespace());
    ok.then_some(name)
}

/// The child names of an interior node's value (OMA DM Protocol 1.2 §6.6.9: a Get of an
/// interior node returns its children, Format `node`, separated by `/`): unusable names are
/// skipped, duplicates dropped, at most `max` kept.
pub fn child_names(data: &str, max: usize) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for n in data.split('/').map(str::trim).filter_map(node_name) {
        if out.len() >= max {
            break;
        }
        if !out.iter().any(|o| o == n) {
            out.push(n.to_owned());
        }
    }
    out
}

/// A value cut to [`MAX_VALUE`] bytes (at a character boundary).
pub fn bounded(value: &str) -> String {
    let v = value.trim();
    let mut end = v.len().min(MAX_VALUE);
    while !v.is_char_boundary(end) {
        end -= 1;
    }
    v[..end].to_owned()
}

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

    #[test]
    fn paths_and_module_names() {
        assert_eq!(download_node("./SCOMO/", "op7"), "./SCOMO/Download/op7");
        assert_eq!(
            deployed_exec("./SCOMO", "app", DeployedOperation::Deactivate),
            "./SCOMO/Inventory/Deployed/app/Operations/Deactivate"
        );
        assert_eq!(module_node("./SCOMO", " app ").unwrap(), "app");
        assert_eq!(module_node("./SCOMO", "./SCOMO/Inventory/Deployed/app").unwrap(), "app");
        assert_eq!(module_node("./SCOMO", "SCOMO/Inventory/Deployed/app/").unwrap(), "app");
        for bad in ["", "a/b", "..", "x?list=Struct", "a b", &"n".repeat(MAX_NODE_NAME + 1)] {
            let e = module_node("./SCOMO", bad).unwrap_err();
            assert_eq!(e.kind, ErrorKind::BadInput, "{bad:?}");
        }
    }

    #[test]
    fn child_lists_are_bounded_and_cleaned() {
        assert_eq!(child_names("a/b/ c /a//..", 10), ["a", "b", "c"]);
        assert_eq!(child_names("", 10), Vec::<String>::new());
        assert_eq!(child_names("a/b/c", 2), ["a", "b"]);
        let long = "é".repeat(MAX_VALUE);
        assert!(bounded(&long).len() <= MAX_VALUE);
        assert_eq!(bounded(" 1.0 "), "1.0");
    }
}
