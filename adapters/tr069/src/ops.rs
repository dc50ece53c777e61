//! Operations of the common model as CWMP RPCs, sans I/O: which request an operation sends
//! ([`plan`]) and what the CPE's answer means for it ([`on_response`]).
//!
//! | Action | RPC (TR-069 Amendment 6) | Completion |
//! |---|---|---|
//! | Native read | GetParameterValues (A.3.2.2; a name ending in `.` is a partial path) | the response |
//! | Native write | SetParameterValues (A.3.2.1), ParameterKey = operation id | the response |
//! | Native observe / cancel | SetParameterAttributes (A.3.2.4), Notification 2 / 0 | the response; values arrive with `4 VALUE CHANGE` |
//! | Native discover | GetParameterNames (A.3.2.3), NextLevel true | the response: `[{name, writable}]` |
//! | Native writeAttributes | SetParameterAttributes (A.3.2.4) of `{notification?, accessList?}` | the response; notification 1 / 2 makes later `4 VALUE CHANGE` values `Observation` events |
//! | Native create / delete | AddObject (A.3.2.6) / DeleteObject (A.3.2.7), ParameterKey = operation id | the response: `{instanceNumber, status}` / `{status}` |
//! | Native execute | the RPC named by `args` (see [`execute`]: AddObject, DeleteObject, GetParameterNames, GetParameterAttributes, GetRPCMethods, ScheduleInform, ScheduleDownload, CancelTransfer, Upload) | per RPC, see [`execute`] |
//! | Reboot | Reboot (A.3.2.9), CommandKey = operation id | the Inform with `1 BOOT` + `M Reboot` and that CommandKey |
//! | Factory reset | FactoryReset (A.4.1.6) | the response |
//! | Refresh device info | GetParameterValues of `DeviceInfo.` | the response |
//! | Firmware | Download (A.3.2.8), FileType `1 Firmware Upgrade Image`, CommandKey = operation id | DownloadResponse Status 0, else TransferComplete (A.3.3.2) |
//! | Software install / uninstall | ChangeDUState (CWMP 1.2), CommandKey = operation id | DUStateChangeComplete |
//! | Software activate / deactivate | SetParameterValues of `ExecutionUnit.{i}.RequestedState` | the response |
//! | Traceroute | SetParameterValues of the TraceRoute object with `DiagnosticsState=Requested` | `8 DIAGNOSTICS COMPLETE`, then GetParameterValues of the results |
//! | Ping | SetParameterValues of the IPPing object with `DiagnosticsState=Requested` | `8 DIAGNOSTICS COMPLETE`, then GetParameterValues of the results |

use serde_json::{json, Map};
use unidm_models::{Action, ErrorKind, NativeOp, NativeRequest, Operation, OperationError, SoftwareAction};

use crate::model::{json_of, DataModel};
use crate::rpc::add_object::AddObject;
use crate::rpc::change_du_state::{ChangeDUState, InstallOpStruct, OperationStruct, UninstallOpStruct};
use crate::rpc::common::ParameterValueStruct;
use crate::rpc::delete_object::DeleteObject;
use crate::rpc::download::{file_type, Download};
use crate::rpc::du_state_change_complete::OpResultStruct;
use crate::rpc::factory_reset::FactoryReset;
use crate::rpc::fault::Fault;
use crate::rpc::get_parameter_names::GetParameterNames;
use crate::rpc::get_parameter_values::GetParameterValues;
use crate::rpc::reboot::Reboot;
use crate::rpc::set_parameter_attributes::{SetParameterAttributes, SetParameterAttributesStruct};
use crate::rpc::set_parameter_values::SetParameterValues;
use crate::rpc::Rpc;
use crate::soap::{Value, XsdType};

#[path = "ops_execute.rs"]
pub mod execute;

/// Which part of an operation a request carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// The first request.
    Start,
    /// The follow-up read after `8 DIAGNOSTICS COMPLETE`.
    Results,
}

/// What an operation waits for after its request was answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Await {
    /// An Inform with `M Reboot` and the operation id as CommandKey.
    Boot,
    /// A TransferComplete with the operation id as CommandKey.
    TransferComplete,
    /// An Inform with `8 DIAGNOSTICS COMPLETE`.
    DiagnosticsComplete,
    /// A DUStateChangeComplete with the operation id as CommandKey.
    DuStateChangeComplete,
    /// An Inform with `3 SCHEDULED` + `M ScheduleInform` carrying the ScheduleInform's
    /// CommandKey ([`execute::schedule_inform_key`]).
    ScheduledInform,
}

/// What an answer means for the operation.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Done, with this result.
    Succeeded(Option<serde_json::Value>),
    /// Failed.
    Failed(OperationError),
    /// Accepted by the CPE; completion comes in a later session.
    Await(Await),
}

/// What the planner needs to know about the device.
pub trait DeviceView {
    /// Its data model, once known.
    fn model(&self) -> Option<DataModel>;
    /// The type the CPE last reported for a parameter.
    fn reported_type(&self, name: &str) -> Option<XsdType>;
    /// Where an Upload without `url` sends its file (`http://…/files/`), when the ACS's file
    /// server takes uploads.
    fn upload_base(&self) -> Option<String> {
        None
    }
}

pub(crate) fn bad(message: impl Into<String>) -> OperationError {
    OperationError::new(ErrorKind::BadInput, message)
}

/// The CPE's SOAP fault as an operation error (`DeviceRefused`, the CWMP code as
/// `protocol_code`; A.5).
pub fn fault_error(f: &Fault) -> OperationError {
    // A SetParameterValues fault names the failing parameter: its own code says more than
    // the overall 9003 (A.5, SetParameterValuesFault).
    let (code, text) = match &f.detail {
        Some(d) => match d.set_parameter_values_faults.first() {
            Some(p) => (p.fault_code.code().to_string(), format!("{}: {}", p.parameter_name, p.fault_string)),
            None => (d.fault_code.code().to_string(), d.fault_string.clone()),
        },
        None => ("".into(), f.fault_string.clone()),
    };
    let mut e = OperationError::new(ErrorKind::DeviceRefused, if text.is_empty() { "CWMP fault".into() } else { text });
    if !code.is_empty() {
        e = e.with_code(code);
    }
    e
}

/// Converts a JSON value to a CWMP value: the CPE's reported type wins, else strings are
/// `xsd:string`, booleans `xsd:boolean` and integers `xsd:int` (or `xsd:long` when wider).
pub fn value_of(json: &serde_json::Value, reported: Option<XsdType>) -> Result<Value, OperationError> {
    let text = match json {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Bool(b) => b.to_string(),
        serde_json::Value::Number(n) => n.to_string(),
        _ => return Err(bad("a CWMP value is a string, number or boolean")),
    };
    let ty = reported.unwrap_or_else(|| match json {
        serde_json::Value::Bool(_) => XsdType::Boolean,
        serde_json::Value::Number(n) if n.as_i64().is_some_and(|v| i32::try_from(v).is_ok()) => XsdType::Int,
        serde_json::Value::Number(n) if n.is_i64() => XsdType::Long,
        serde_json::Value::Number(n) if n.is_u64() => XsdType::UnsignedLong,
        serde_json::Value::Number(_) => XsdType::Decimal,
        _ => XsdType::String,
    });
    Ok(Value::new(ty, text))
}

fn need_model(dev: &dyn DeviceView) -> Result<DataModel, OperationError> {
    dev.model().ok_or_else(|| OperationError::new(ErrorKind::Internal, "data model of the device not yet known"))
}

/// The request that carries `phase` of `op`.
pub fn plan(op: &Operation, phase: Phase, dev: &dyn DeviceView) -> Result<Rpc, OperationError> {
    let key = op.id.0.to_string();
    Ok(match (&op.action, phase) {
        (Action::Native(n), _) => plan_native(n, &key, dev)?,
        (Action::Reboot, _) => Reboot { command_key: key }.into(),
        (Action::FactoryReset, _) => FactoryReset.into(),
        (Action::RefreshDeviceInfo, _) => {
            GetParameterValues { parameter_names: vec![need_model(dev)?.device_info()] }.into()
        }
        (Action::Firmware(f), _) => Download {
            command_key: key,
            file_type: file_type::FIRMWARE_UPGRADE_IMAGE.into(),
            url: f.uri.clone(),
            target_file_name: f.name.clone().unwrap_or_default(),
            ..Download::default()
        }
        .into(),
        (Action::Ping(p), Phase::Start) => {
            let base = need_model(dev)?.ip_ping();
            let mut list = vec![ParameterValueStruct::new(format!("{base}Host"), Value::string(&p.host))];
            if let Some(c) = p.count {
                list.push(ParameterValueStruct::new(
                    format!("{base}NumberOfRepetitions"),
                    Value::new(XsdType::UnsignedInt, c.to_string()),
                ));
            }
            if let Some(t) = p.timeout_ms {
                list.push(ParameterValueStruct::new(
                    format!("{base}Timeout"),
                    Value::new(XsdType::UnsignedInt, t.to_string()),
                ));
            }
            list.push(ParameterValueStruct::new(format!("{base}DiagnosticsState"), Value::string("Requested")));
            SetParameterValues { parameter_list: list, parameter_key: key }.into()
        }
        (Action::Ping(_), Phase::Results) => {
            GetParameterValues { parameter_names: vec![need_model(dev)?.ip_ping().to_owned()] }.into()
        }
        (Action::Software(s), _) => plan_software(s, &key, dev)?,
        (Action::Traceroute(t), Phase::Start) => {
            let base = need_model(dev)?.trace_route();
            let mut list = vec![ParameterValueStruct::new(format!("{base}Host"), Value::string(&t.host))];
            if let Some(h) = t.max_hops {
                list.push(ParameterValueStruct::new(
                    format!("{base}MaxHopCount"),
                    Value::new(XsdType::UnsignedInt, h.to_string()),
                ));
            }
            list.push(ParameterValueStruct::new(format!("{base}DiagnosticsState"), Value::string("Requested")));
            SetParameterValues { parameter_list: list, parameter_key: key }.into()
        }
        (Action::Traceroute(_), Phase::Results) => {
            GetParameterValues { parameter_names: vec![need_model(dev)?.trace_route().to_owned()] }.into()
        }
    })
}

/// Software modules (TR-157): install / uninstall by ChangeDUState with the Deployment Unit's
/// UUID as module id; activate / deactivate by `ExecutionUnit.{i}.RequestedState` (`module` is
/// the ExecutionUnit instance number or its path).
fn plan_software(s: &SoftwareAction, key: &str, dev: &dyn DeviceView) -> Result<Rpc, OperationError> {
    let change = |op| ChangeDUState { operations: vec![op], command_key: Some(key.into()) }.into();
    Ok(match s {
        SoftwareAction::Install { activate: Some(_), .. } => {
            return Err(OperationError::new(
                ErrorKind::BadInput,
                "on CWMP the CPE decides whether an installed unit runs (ChangeDUState has no such choice): \
                 leave `activate` out, then activate / deactivate the ExecutionUnit",
            ))
        }
        SoftwareAction::Install { uri, .. } => change(OperationStruct::Install(InstallOpStruct {
            url: uri.clone(),
            uuid: None,
            username: None,
            password: None,
            execution_env_ref: None,
        })),
        SoftwareAction::Uninstall { module } => change(OperationStruct::Uninstall(UninstallOpStruct {
            uuid: module.clone(),
            version: None,
            execution_env_ref: None,
        })),
        SoftwareAction::Activate { module } | SoftwareAction::Deactivate { module } => {
            let root = need_model(dev)?.root();
            let eu = if module.chars().all(|c| c.is_ascii_digit()) && !module.is_empty() {
                format!("{root}SoftwareModules.ExecutionUnit.{module}.")
            } else if module.starts_with(root) && module.contains(".ExecutionUnit.") {
                format!("{}.", module.trim_end_matches('.'))
            } else {
                return Err(bad("module is an ExecutionUnit instance number or path"));
            };
            let state = if matches!(s, SoftwareAction::Activate { .. }) { "Active" } else { "Idle" };
            SetParameterValues {
                parameter_list: vec![ParameterValueStruct::new(format!("{eu}RequestedState"), Value::string(state))],
                parameter_key: key.into(),
            }
            .into()
        }
    })
}

/// The outcome of a DUStateChangeComplete: success when every result has FaultCode 0, with
/// `[{uuid, version, currentState, deploymentUnitRef}]`; else the first fault.
pub fn du_outcome(results: &[OpResultStruct]) -> Result<serde_json::Value, OperationError> {
    if let Some(r) = results.iter().find(|r| !r.fault.is_success()) {
        return Err(OperationError::new(ErrorKind::DeviceRefused, r.fault.fault_string.clone())
            .with_code(r.fault.fault_code.to_string()));
    }
    Ok(results
        .iter()
        .map(|r| {
            json!({"uuid": r.uuid, "version": r.version, "currentState": r.current_state,
                   "deploymentUnitRef": r.deployment_unit_ref})
        })
        .collect())
}

/// A `native` request as one RPC. `path` is made absolute (relative paths get the root).
///
/// `execute` reaches every ACS-to-CPE RPC of Annex A: `args` names the RPC (`AddObject`,
/// `DeleteObject`, `GetParameterNames`, `GetParameterAttributes`, `GetRPCMethods`,
/// `ScheduleInform`, `ScheduleDownload`, `CancelTransfer`, `Upload`; default `AddObject`) and
/// `value` carries its arguments as a camelCase JSON object; see [`execute`] for each RPC's
/// fields and when it completes. The RPCs with their own action (Reboot, FactoryReset,
/// Download, ChangeDUState) are not reachable this way.
fn plan_native(n: &NativeRequest, key: &str, dev: &dyn DeviceView) -> Result<Rpc, OperationError> {
    if let Some(format) = &n.format {
        return Err(OperationError::new(
            ErrorKind::BadInput,
            format!("CWMP has one encoding (SOAP); `format` ({format}) is for LwM2M"),
        ));
    }
    let path = match dev.model() {
        Some(m) => m.absolute(n.path.trim()),
        None => n.path.trim().to_owned(),
    };
    Ok(match n.op {
        NativeOp::Read => GetParameterValues { parameter_names: vec![path] }.into(),
        NativeOp::Write => {
            if path.ends_with('.') {
                return Err(bad("a write needs a full parameter name, not a partial path"));
            }
            let json = n.value.as_ref().ok_or_else(|| bad("a write needs a value"))?;
            let value = value_of(json, dev.reported_type(&path))?;
            SetParameterValues {
                parameter_list: vec![ParameterValueStruct::new(path, value)],
                parameter_key: key.into(),
            }
            .into()
        }
        NativeOp::Observe | NativeOp::CancelObserve => SetParameterAttributes {
            parameter_list: vec![SetParameterAttributesStruct {
                name: path,
                notification_change: true,
                notification: if n.op == NativeOp::Observe { 2 } else { 0 },
                access_list_change: false,
                access_list: Vec::new(),
            }],
        }
        .into(),
        NativeOp::Discover => GetParameterNames { parameter_path: path, next_level: true }.into(),
        NativeOp::Create | NativeOp::Delete => {
            if !path.ends_with('.') {
                return Err(bad("create and delete take an object path ending in `.`"));
            }
            if n.op == NativeOp::Create {
                AddObject { object_name: path, parameter_key: key.into() }.into()
            } else {
                DeleteObject { object_name: path, parameter_key: key.into() }.into()
            }
        }
        NativeOp::WriteAttributes => {
            // TR-069 A.3.2.4: Notification 0 off, 1 passive, 2 active; AccessList e.g. ["Subscriber"].
            let attrs = n.value.as_ref().and_then(|v| v.as_object()).ok_or_else(|| bad("attributes are an object"))?;
            let notification = match attrs.get("notification") {
                None => None,
                Some(v) => match v.as_i64() {
                    Some(x @ 0..=2) => Some(x as u32),
                    _ => return Err(bad("`notification` is 0 (off), 1 (passive) or 2 (active)")),
                },
            };
            let access_list = match attrs.get("accessList") {
                None => None,
                Some(v) => Some(
                    v.as_array()
                        .and_then(|a| a.iter().map(|e| e.as_str().map(str::to_owned)).collect::<Option<Vec<_>>>())
                        .ok_or_else(|| bad("`accessList` is a list of strings"))?,
                ),
            };
            if notification.is_none() && access_list.is_none() {
                return Err(bad("set `notification` and / or `accessList`"));
            }
            SetParameterAttributes {
                parameter_list: vec![SetParameterAttributesStruct {
                    name: path,
                    notification_change: notification.is_some(),
                    notification: notification.unwrap_or(0),
                    access_list_change: access_list.is_some(),
                    access_list: access_list.unwrap_or_default(),
                }],
            }
            .into()
        }
        NativeOp::Execute => execute::plan(n, path, key, dev)?,
        NativeOp::ReadComposite
        | NativeOp::WriteComposite
        | NativeOp::ObserveComposite
        | NativeOp::CancelObserveComposite => {
            return Err(OperationError::new(
                ErrorKind::NotSupported,
                "composite operations are LwM2M 1.1's; on CWMP read or write several parameters by partial path",
            ))
        }
        NativeOp::Copy | NativeOp::Alert => {
            return Err(OperationError::new(
                ErrorKind::NotSupported,
                "copy and user-interaction alerts are OMA DM commands; CWMP has none",
            ))
        }
    })
}

/// What the CPE's `response` to `request` (sent for `op`) means.
pub fn on_response(op: &Operation, request: &Rpc, response: &Rpc) -> Outcome {
    if let Rpc::Fault(f) = response {
        return Outcome::Failed(fault_error(f));
    }
    match (request, response) {
        (Rpc::GetParameterValues(_), Rpc::GetParameterValuesResponse(r)) => match &op.action {
            Action::Ping(_) => ping_result(&r.parameter_list),
            Action::Traceroute(_) => trace_route_result(&r.parameter_list),
            _ => {
                let map: Map<String, serde_json::Value> =
                    r.parameter_list.iter().map(|p| (p.name.clone(), json_of(&p.value))).collect();
                Outcome::Succeeded(Some(map.into()))
            }
        },
        (Rpc::SetParameterValues(_), Rpc::SetParameterValuesResponse(r)) => match &op.action {
            Action::Ping(_) | Action::Traceroute(_) => Outcome::Await(Await::DiagnosticsComplete),
            _ => Outcome::Succeeded(Some(json!({ "status": r.status }))),
        },
        (Rpc::SetParameterAttributes(_), Rpc::SetParameterAttributesResponse(_)) => Outcome::Succeeded(None),
        (Rpc::AddObject(_), Rpc::AddObjectResponse(r)) => {
            Outcome::Succeeded(Some(json!({ "instanceNumber": r.instance_number, "status": r.status })))
        }
        (Rpc::DeleteObject(_), Rpc::DeleteObjectResponse(r)) => Outcome::Succeeded(Some(json!({ "status": r.status }))),
        (Rpc::GetParameterNames(_), Rpc::GetParameterNamesResponse(r)) => {
            let list: Vec<_> =
                r.parameter_list.iter().map(|p| json!({ "name": p.name, "writable": p.writable })).collect();
            Outcome::Succeeded(Some(list.into()))
        }
        (Rpc::GetParameterAttributes(_), Rpc::GetParameterAttributesResponse(r)) => {
            let list: Vec<_> = r
                .parameter_list
                .iter()
                .map(|p| json!({ "name": p.name, "notification": p.notification, "accessList": p.access_list }))
                .collect();
            Outcome::Succeeded(Some(list.into()))
        }
        (Rpc::GetRPCMethods(_), Rpc::GetRPCMethodsResponse(r)) => Outcome::Succeeded(Some(json!(r.method_list))),
        (Rpc::ScheduleInform(_), Rpc::ScheduleInformResponse(_)) => Outcome::Await(Await::ScheduledInform),
        (Rpc::ScheduleDownload(_), Rpc::ScheduleDownloadResponse(_)) => Outcome::Await(Await::TransferComplete),
        (Rpc::CancelTransfer(_), Rpc::CancelTransferResponse(_)) => Outcome::Succeeded(None),
        (Rpc::Upload(u), Rpc::UploadResponse(r)) if r.status == 0 => {
            Outcome::Succeeded(execute::upload_result(Some(u.url.clone())))
        }
        (Rpc::Upload(_), Rpc::UploadResponse(_)) => Outcome::Await(Await::TransferComplete),
        (Rpc::Reboot(_), Rpc::RebootResponse(_)) => Outcome::Await(Await::Boot),
        (Rpc::ChangeDUState(_), Rpc::ChangeDUStateResponse(_)) => Outcome::Await(Await::DuStateChangeComplete),
        (Rpc::FactoryReset(_), Rpc::FactoryResetResponse(_)) => Outcome::Succeeded(None),
        (Rpc::Download(_), Rpc::DownloadResponse(r)) if r.status == 0 => Outcome::Succeeded(None),
        (Rpc::Download(_), Rpc::DownloadResponse(_)) => Outcome::Await(Await::TransferComplete),
        (req, resp) => Outcome::Failed(OperationError::new(
            ErrorKind::Internal,
            format!("{} answered with {}", req.name(), resp.name()),
        )),
    }
}

/// The TraceRoute results (TR-181 `RouteHops.{i}.{Host, HostAddress, ErrorCode, RTTimes}`,
/// TR-098 `RouteHops.{i}.{HopHost, HopHostAddress, HopErrorCode, HopRTTimes}`).
fn trace_route_result(params: &[ParameterValueStruct]) -> Outcome {
    let mut state = String::new();
    let mut response_time = serde_json::Value::Null;
    let mut hops: std::collections::BTreeMap<u32, Map<String, serde_json::Value>> = Default::default();
    for p in params {
        let leaf = p.name.rsplit('.').next().unwrap_or_default();
        match leaf {
            "DiagnosticsState" => state = p.value.text.clone(),
            "ResponseTime" => response_time = json_of(&p.value),
            _ => {}
        }
        let Some((_, hop)) = p.name.split_once(".RouteHops.") else { continue };
        let Some(n) = hop.split('.').next().and_then(|n| n.parse::<u32>().ok()) else { continue };
        let key = match leaf.strip_prefix("Hop").unwrap_or(leaf) {
            "Host" => "host",
            "HostAddress" => "address",
            "ErrorCode" => "errorCode",
            "RTTimes" => "rtTimes",
            _ => continue,
        };
        hops.entry(n).or_default().insert(key.into(), json_of(&p.value));
    }
    if state == "Complete" || state == "Completed" {
        let hops: Vec<serde_json::Value> = hops.into_values().map(serde_json::Value::Object).collect();
        Outcome::Succeeded(Some(json!({"diagnosticsState": state, "responseTime": response_time, "hops": hops})))
    } else {
        Outcome::Failed(
            OperationError::new(ErrorKind::DeviceRefused, format!("traceroute diagnostics ended in state `{state}`"))
                .with_code(state),
        )
    }
}

/// The IPPing results (TR-181 `Device.IP.Diagnostics.IPPing.`, TR-098 `IPPingDiagnostics.`):
/// `DiagnosticsState` `Complete` (TR-098) or `Completed` is a success, anything else a failure
/// carrying the state as its code.
fn ping_result(params: &[ParameterValueStruct]) -> Outcome {
    let mut out = Map::new();
    let mut state = String::new();
    for p in params {
        let leaf = p.name.rsplit('.').next().unwrap_or_default();
        let key = match leaf {
            "DiagnosticsState" => {
                state = p.value.text.clone();
                "diagnosticsState"
            }
            "Host" => "host",
            "SuccessCount" => "successCount",
            "FailureCount" => "failureCount",
            "AverageResponseTime" => "averageResponseTime",
            "MinimumResponseTime" => "minimumResponseTime",
            "MaximumResponseTime" => "maximumResponseTime",
            "NumberOfRepetitions" => "count",
            "IPAddressUsed" => "ipAddressUsed",
            _ => continue,
        };
        out.insert(key.into(), json_of(&p.value));
    }
    if state == "Complete" || state == "Completed" {
        Outcome::Succeeded(Some(out.into()))
    } else {
        Outcome::Failed(
            OperationError::new(ErrorKind::DeviceRefused, format!("ping diagnostics ended in state `{state}`"))
                .with_code(state),
        )
    }
}

#[cfg(test)]
#[path = "ops_tests.rs"]
mod tests;
