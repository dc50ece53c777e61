//! What an operation asks of a device: the management functions and the native escape hatch.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::Function;

/// A management action. One operation carries one action; multi-step protocol procedures (a
/// LwM2M firmware pull, a CWMP Download and its TransferComplete) are the adapter's business.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum Action {
    /// `rbo.rbo`: restart the device.
    Reboot,
    /// `rbo.far`: factory reset.
    FactoryReset,
    /// `fwr`: download and apply a firmware image.
    Firmware(FirmwareUpdate),
    /// `swr`: act on a software module.
    Software(SoftwareAction),
    /// Diagnostics: ping a host from the device.
    Ping(PingRequest),
    /// Diagnostics: trace the route to a host from the device.
    Traceroute(TracerouteRequest),
    /// Re-read the device's management snapshot.
    RefreshDeviceInfo,
    /// Native access to a protocol path.
    Native(NativeRequest),
}

impl Action {
    /// The function a device must support for this action.
    pub fn function(&self) -> Function {
        match self {
            Action::Reboot => Function::Reboot,
            Action::FactoryReset => Function::FactoryReset,
            Action::Firmware(_) => Function::Firmware,
            Action::Software(_) => Function::Software,
            Action::Ping(_) => Function::Ping,
            Action::Traceroute(_) => Function::Traceroute,
            Action::RefreshDeviceInfo => Function::DeviceInfo,
            Action::Native(n) if n.op.is_observation() => Function::Observe,
            Action::Native(_) => Function::Native,
        }
    }

    /// A short name for logs, metrics and lists.
    pub fn name(&self) -> &'static str {
        match self {
            Action::Reboot => "reboot",
            Action::FactoryReset => "factoryReset",
            Action::Firmware(_) => "firmware",
            Action::Software(_) => "software",
            Action::Ping(_) => "ping",
            Action::Traceroute(_) => "traceroute",
            Action::RefreshDeviceInfo => "refreshDeviceInfo",
            Action::Native(_) => "native",
        }
    }

    /// Checks what the type system cannot: non-empty URLs, hosts and paths, sane counts.
    /// Returns the offending field and why.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        match self {
            Action::Firmware(f) => {
                non_empty("uri", &f.uri)?;
                if !f.uri.contains("://") {
                    return Err(("uri", format!("`{}` is not an absolute URI", f.uri)));
                }
            }
            Action::Software(s) => match s {
                SoftwareAction::Install { uri, .. } => non_empty("uri", uri)?,
                SoftwareAction::Uninstall { module }
                | SoftwareAction::Activate { module }
                | SoftwareAction::Deactivate { module } => non_empty("module", module)?,
            },
            Action::Ping(p) => {
                non_empty("host", &p.host)?;
                if p.count == Some(0) || p.count.is_some_and(|c| c > 100) {
                    return Err(("count", "must be between 1 and 100".into()));
                }
            }
            Action::Traceroute(t) => non_empty("host", &t.host)?,
            Action::Native(n) => {
                non_empty("path", &n.path)?;
                if n.op == NativeOp::Alert {
                    if !matches!(n.path.trim().parse::<u16>(), Ok(1100..=1104)) {
                        return Err(("path", "a user-interaction alert code: 1100 to 1104".into()));
                    }
                    let texts =
                        n.value.as_ref().and_then(|v| v.as_array()).is_some_and(|a| a.iter().all(|i| i.is_string()));
                    if !texts {
                        return Err(("value", "the alert's items, strings: [\"MINDT=30\", \"Reboot now?\"]".into()));
                    }
                }
                let source = n.value.as_ref().and_then(|v| v.as_str()).map_or("", str::trim);
                if n.op == NativeOp::Copy && source.is_empty() {
                    return Err(("value", "a copy names its source node, e.g. \"./Vendor/Config/A\"".into()));
                }
                if n.format.is_some() && !matches!(n.op, NativeOp::Read | NativeOp::Observe | NativeOp::Write) {
                    return Err(("format", "only a read, an observe or a write takes a format".into()));
                }
                if matches!(n.op, NativeOp::Write | NativeOp::WriteAttributes) && n.value.is_none() {
                    return Err(("value", "a write needs a value".into()));
                }
                if n.op == NativeOp::WriteAttributes && !n.value.as_ref().is_some_and(|v| v.is_object()) {
                    return Err(("value", "attributes are an object, e.g. {\"pmin\": 10}".into()));
                }
                let listed = n.value.as_ref().and_then(|v| v.as_array()).is_some_and(|a| !a.is_empty());
                if n.op.is_composite() && n.op != NativeOp::WriteComposite && !listed {
                    return Err((
                        "value",
                        "a composite operation lists its paths, e.g. [\"/3/0/0\", \"/1/0/1\"]".into(),
                    ));
                }
                let values = n.value.as_ref().and_then(|v| v.as_object()).is_some_and(|m| !m.is_empty());
                if n.op == NativeOp::WriteComposite && !values {
                    return Err(("value", "a composite write maps paths to values, e.g. {\"/1/0/1\": 300}".into()));
                }
            }
            Action::Reboot | Action::FactoryReset | Action::RefreshDeviceInfo => {}
        }
        Ok(())
    }
}

fn non_empty(field: &'static str, v: &str) -> Result<(), (&'static str, String)> {
    if v.trim().is_empty() {
        Err((field, "must not be empty".into()))
    } else {
        Ok(())
    }
}

/// A firmware update request (`fwr.url`, `fwr.vr`, `fwr.fwn`, `fwr.ud`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FirmwareUpdate {
    /// Where the device fetches the image (an absolute URI).
    #[schema(min_length = 1, pattern = "://")]
    pub uri: String,
    /// The version the image carries; when the device already runs it, rules skip the update.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Package name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// A software-module action (`swr.in`, `un`, `act`, `dea`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "action", rename_all = "camelCase")]
pub enum SoftwareAction {
    /// Download and install a module.
    Install {
        /// Package URL.
        #[schema(min_length = 1, pattern = "\\S")]
        uri: String,
        /// Module name.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        /// Module version.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        version: Option<String>,
        /// Whether the module runs once installed: `true` activates it (LwM2M: Activate
        /// `/9/x/10` after the install; OMA DM: SCOMO `DownloadInstall`), `false` leaves it
        /// inactive (OMA DM: `DownloadInstallInactive`; LwM2M installs inactive); absent: the
        /// protocol's way (OMA DM active, LwM2M inactive, CWMP the CPE's choice, which is why
        /// CWMP refuses the field).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        activate: Option<bool>,
    },
    /// Remove a module.
    Uninstall {
        /// Module id as in the device's software snapshot.
        #[schema(min_length = 1, pattern = "\\S")]
        module: String,
    },
    /// Start / enable a module.
    Activate {
        /// Module id.
        #[schema(min_length = 1, pattern = "\\S")]
        module: String,
    },
    /// Stop / disable a module.
    Deactivate {
        /// Module id.
        #[schema(min_length = 1, pattern = "\\S")]
        module: String,
    },
}

/// A ping diagnostic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PingRequest {
    /// Host name or address to ping.
    #[schema(min_length = 1, pattern = "\\S")]
    pub host: String,
    /// Number of echo requests (1..=100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1, maximum = 100)]
    pub count: Option<u32>,
    /// Per-echo timeout, milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u32>,
}

/// A traceroute diagnostic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TracerouteRequest {
    /// Host name or address.
    #[schema(min_length = 1, pattern = "\\S")]
    pub host: String,
    /// Maximum hop count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_hops: Option<u32>,
}

/// A native protocol operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum NativeOp {
    /// Read a path.
    Read,
    /// Write a value to a path.
    Write,
    /// Execute a path (LwM2M Execute, OMA DM Exec).
    Execute,
    /// Observe a path: changes arrive as observation events.
    Observe,
    /// Stop observing a path.
    CancelObserve,
    /// List what is below a path and its attributes (LwM2M Discover, CWMP GetParameterNames).
    Discover,
    /// Set reporting attributes of a path; `value` is an object such as
    /// `{"pmin": 10, "pmax": 60, "gt": 30.5}` (LwM2M Write-Attributes) or
    /// `{"notification": 2}` (CWMP SetParameterAttributes).
    WriteAttributes,
    /// Create an object instance under `path`, with `value` as its content when given (LwM2M
    /// Create, CWMP AddObject).
    Create,
    /// Delete the object instance at `path` (LwM2M Delete, CWMP DeleteObject).
    Delete,
    /// Read several paths in one request (LwM2M 1.1 Read-Composite): `path` is `/`, `value`
    /// the list of paths (`["/3/0/0", "/1/0/1", "/3/0/7/1"]`; `"/"` reads everything). The
    /// result maps each full resource path present to its value; absent paths are left out.
    ReadComposite,
    /// Write several paths in one request (LwM2M 1.1 Write-Composite): `path` is `/`, `value`
    /// maps paths to values as a `write` on each would take them
    /// (`{"/3/0/14": "+02:00", "/1/0/1": 300, "/3/0/7/1": 5000}`).
    WriteComposite,
    /// Observe several paths as one observation (LwM2M 1.1 Observe-Composite): `path` is `/`,
    /// `value` the list of paths; the result is the first answer as for `readComposite`, and
    /// each notification brings one observation event per resource path it carries.
    ObserveComposite,
    /// Stop an `observeComposite`: `path` is `/`, `value` the same list of paths (in any order).
    CancelObserveComposite,
    /// Copy the node `value` names to `path` (OMA DM `Copy`).
    Copy,
    /// Ask the device's user (OMA DM user-interaction Alert): `path` is the code, 1100 display,
    /// 1101 confirm or reject, 1102 text input, 1103 single choice, 1104 multiple choice;
    /// `value` the items, parameters first (`["MINDT=30", "Install the update now?"]`). The
    /// result carries the user's answer.
    Alert,
}

impl NativeOp {
    /// True for the operations on several paths at once (`value` lists them; `path` is `/`).
    pub fn is_composite(self) -> bool {
        matches!(
            self,
            NativeOp::ReadComposite
                | NativeOp::WriteComposite
                | NativeOp::ObserveComposite
                | NativeOp::CancelObserveComposite
        )
    }

    /// True for starting or stopping an observation (the `observe` function).
    pub fn is_observation(self) -> bool {
        matches!(
            self,
            NativeOp::Observe | NativeOp::CancelObserve | NativeOp::ObserveComposite | NativeOp::CancelObserveComposite
        )
    }
}

/// A native read / write / execute / observe of a path as the device names it (`/3/0/0`,
/// `Device.DeviceInfo.SoftwareVersion`, `./DevInfo/Man`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NativeRequest {
    /// What to do.
    pub op: NativeOp,
    /// The protocol path.
    #[schema(min_length = 1, pattern = "\\S")]
    pub path: String,
    /// The value to write.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<serde_json::Value>,
    /// Execute arguments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub args: Option<String>,
    /// The encoding to ask for (a read's Accept) and to send (a write's Content-Format), where
    /// the protocol has a choice: LwM2M `text`, `opaque`, `tlv`, `json`, `senml+json`,
    /// `senml+cbor`, `cbor`, or a content-format number (`11542`). Absent: the device's
    /// preferred one, with a fallback when it refuses. Given: exactly that one, and an answer in
    /// another format fails the operation (TS Core 1.1 §5.4.1). CWMP and OMA DM refuse it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn actions_are_tagged_by_kind() {
        let a: Action =
            serde_json::from_value(json!({"kind": "firmware", "uri": "http://x/fw.bin", "version": "2.0"})).unwrap();
        assert_eq!(a.function(), Function::Firmware);
        assert_eq!(serde_json::to_value(&a).unwrap()["kind"], "firmware");
        let s: Action =
            serde_json::from_value(json!({"kind": "software", "action": "uninstall", "module": "1"})).unwrap();
        assert_eq!(s, Action::Software(SoftwareAction::Uninstall { module: "1".into() }));
        let o: Action = serde_json::from_value(json!({"kind": "native", "op": "observe", "path": "/3/0/9"})).unwrap();
        assert_eq!(o.function(), Function::Observe);
        let w: Action = serde_json::from_value(
            json!({"kind": "native", "op": "writeAttributes", "path": "/3/0/9", "value": {"pmin": 5}}),
        )
        .unwrap();
        assert_eq!(w.function(), Function::Native);
        assert!(w.validate().is_ok());
        let bad = Action::Native(NativeRequest {
            op: NativeOp::WriteAttributes,
            path: "/3/0/9".into(),
            value: Some(json!(5)),
            args: None,
            format: None,
        });
        assert_eq!(bad.validate().unwrap_err().0, "value");
    }

    #[test]
    fn an_alert_names_its_code_and_items() {
        let alert = |path: &str, value| {
            Action::Native(NativeRequest { op: NativeOp::Alert, path: path.into(), value, args: None, format: None })
        };
        assert!(alert("1101", Some(json!(["MINDT=10", "Reboot now?"]))).validate().is_ok());
        assert_eq!(alert("1200", Some(json!([]))).validate().unwrap_err().0, "path");
        assert_eq!(alert("1100", None).validate().unwrap_err().0, "value");
        assert_eq!(alert("1100", Some(json!([1]))).validate().unwrap_err().0, "value");
    }

    #[test]
    fn a_copy_names_its_source() {
        let copy = |value| {
            Action::Native(NativeRequest { op: NativeOp::Copy, path: "./B".into(), value, args: None, format: None })
        };
        assert!(copy(Some(json!("./A"))).validate().is_ok());
        for bad in [None, Some(json!("  ")), Some(json!(5))] {
            assert_eq!(copy(bad).validate().unwrap_err().0, "value");
        }
    }

    #[test]
    fn composite_operations_list_their_paths() {
        let read: Action = serde_json::from_value(
            json!({"kind": "native", "op": "readComposite", "path": "/", "value": ["/3/0/0", "/1/0/1"]}),
        )
        .unwrap();
        assert_eq!(read.function(), Function::Native);
        assert!(read.validate().is_ok());
        let observe: Action = serde_json::from_value(
            json!({"kind": "native", "op": "observeComposite", "path": "/", "value": ["/3/0/9"]}),
        )
        .unwrap();
        assert_eq!(observe.function(), Function::Observe);
        let cancel = json!({"kind": "native", "op": "cancelObserveComposite", "path": "/"});
        let cancel: Action = serde_json::from_value(cancel).unwrap();
        assert_eq!(cancel.validate().unwrap_err().0, "value");
        let write = |value| {
            Action::Native(NativeRequest {
                op: NativeOp::WriteComposite,
                path: "/".into(),
                value,
                args: None,
                format: None,
            })
        };
        assert!(write(Some(json!({"/1/0/1": 300}))).validate().is_ok());
        assert_eq!(write(Some(json!(["/1/0/1"]))).validate().unwrap_err().0, "value");
        assert_eq!(write(Some(json!({}))).validate().unwrap_err().0, "value");
    }

    #[test]
    fn validation_names_the_field() {
        let bad = Action::Firmware(FirmwareUpdate { uri: "fw.bin".into(), version: None, name: None });
        assert_eq!(bad.validate().unwrap_err().0, "uri");
        let bad = Action::Native(NativeRequest {
            op: NativeOp::Write,
            path: "/1/0/1".into(),
            value: None,
            args: None,
            format: None,
        });
        assert_eq!(bad.validate().unwrap_err().0, "value");
        let bad = Action::Ping(PingRequest { host: "h".into(), count: Some(0), timeout_ms: None });
        assert_eq!(bad.validate().unwrap_err().0, "count");
        assert!(Action::Reboot.validate().is_ok());
    }
}
