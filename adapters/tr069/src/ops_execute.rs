//! `native` `execute`: any ACS-to-CPE RPC of TR-069 Amendment 6 Annex A, named by `args`, with
//! its arguments in `value` (camelCase JSON). The CommandKey of RPCs that carry one is the
//! operation id unless `value.commandKey` says otherwise (ScheduleInform only), so that the
//! later TransferComplete / Inform finds the operation.
//!
//! | `args` | RPC | `path` | `value` | Completes on |
//! |---|---|---|---|---|
//! | `AddObject` | A.3.2.6 | object path ending in `.` | – | response: `{instanceNumber, status}` |
//! | `DeleteObject` | A.3.2.7 | instance path ending in `.` | – | response: `{status}` |
//! | `GetParameterNames` | A.3.2.3 (NextLevel true) | partial path | – | response: `[{name, writable}]` |
//! | `GetParameterAttributes` | A.3.2.5 | name or partial path | – | response: `[{name, notification, accessList}]` |
//! | `GetRPCMethods` | A.3.1.1 | ignored | – | response: `["GetParameterValues", …]` |
//! | `ScheduleInform` | A.4.1.2 | ignored | `{delaySeconds > 0, commandKey?}` | the Inform with `3 SCHEDULED` + `M ScheduleInform` carrying that CommandKey |
//! | `ScheduleDownload` | A.4.1.8 | ignored | `{url, fileType, timeWindows: [{windowStart, windowEnd, windowMode, userMessage?, maxRetries?}], fileSize?, targetFileName?, username?, password?}` | TransferComplete |
//! | `CancelTransfer` | A.4.1.9 | ignored | `{commandKey}` (the transfer's operation id) | response; a transfer operation waiting on that key fails |
//! | `Upload` | A.4.1.5 | ignored | `{fileType: "1 Vendor Configuration File" \| "2 Vendor Log File", url?, username?, password?, delaySeconds?}` | TransferComplete (or UploadResponse Status 0): `{url}` |
//!
//! Without `url`, Upload sends the file to the ACS's own file server
//! (`/files/upload-<operation id>`), which needs [`crate::Tr069Config::files`] with uploads
//! accepted.

use serde_json::{json, Map, Value as Json};
use unidm_models::{Action, NativeRequest, Operation, OperationError};

use super::{bad, DeviceView};
use crate::rpc::add_object::AddObject;
use crate::rpc::cancel_transfer::CancelTransfer;
use crate::rpc::delete_object::DeleteObject;
use crate::rpc::get_parameter_attributes::GetParameterAttributes;
use crate::rpc::get_parameter_names::GetParameterNames;
use crate::rpc::get_rpc_methods::GetRPCMethods;
use crate::rpc::schedule_download::{ScheduleDownload, TimeWindowStruct};
use crate::rpc::schedule_inform::ScheduleInform;
use crate::rpc::upload::{file_type, Upload};
use crate::rpc::Rpc;

/// The RPC names `args` may take.
pub const METHODS: [&str; 9] = [
    "AddObject",
    "DeleteObject",
    "GetParameterNames",
    "GetParameterAttributes",
    "GetRPCMethods",
    "ScheduleInform",
    "ScheduleDownload",
    "CancelTransfer",
    "Upload",
];

fn fields(n: &NativeRequest) -> Result<&Map<String, Json>, OperationError> {
    n.value.as_ref().and_then(Json::as_object).ok_or_else(|| bad("execute of this RPC needs `value` (an object)"))
}

fn string(m: &Map<String, Json>, key: &str) -> Result<Option<String>, OperationError> {
    match m.get(key) {
        None | Some(Json::Null) => Ok(None),
        Some(Json::String(s)) => Ok(Some(s.clone())),
        Some(Json::Number(n)) => Ok(Some(n.to_string())),
        Some(_) => Err(bad(format!("`{key}` is a string"))),
    }
}

fn required(m: &Map<String, Json>, key: &str) -> Result<String, OperationError> {
    string(m, key)?.filter(|s| !s.trim().is_empty()).ok_or_else(|| bad(format!("`{key}` is required")))
}

fn number<T: TryFrom<i64>>(m: &Map<String, Json>, key: &str, default: Option<T>) -> Result<T, OperationError> {
    match m.get(key) {
        None | Some(Json::Null) => default.ok_or_else(|| bad(format!("`{key}` is required"))),
        Some(v) => v.as_i64().and_then(|x| T::try_from(x).ok()).ok_or_else(|| bad(format!("`{key}` is out of range"))),
    }
}

/// The CommandKey a ScheduleInform carries: `value.commandKey`, else the operation id.
pub fn schedule_inform_key(op: &Operation) -> String {
    match &op.action {
        Action::Native(n) => n
            .value
            .as_ref()
            .and_then(|v| v.get("commandKey"))
            .and_then(|k| k.as_str().map(str::to_owned).or_else(|| k.as_u64().map(|x| x.to_string())))
            .unwrap_or_else(|| op.id.0.to_string()),
        _ => op.id.0.to_string(),
    }
}

/// Where an Upload operation sends its file: `value.url`, else the ACS's upload target.
pub fn upload_url(op: &Operation, upload_base: Option<&str>) -> Option<String> {
    let Action::Native(n) = &op.action else { return None };
    let given = n.value.as_ref().and_then(|v| v.get("url")).and_then(Json::as_str).filter(|u| !u.trim().is_empty());
    match given {
        Some(u) => Some(u.to_owned()),
        None => upload_base.map(|b| format!("{b}upload-{}", op.id.0)),
    }
}

/// Whether `op` is a `native` `execute` of `method`.
pub fn is_execute(op: &Operation, method: &str) -> bool {
    matches!(&op.action, Action::Native(n) if n.op == unidm_models::NativeOp::Execute
        && n.args.as_deref().map(str::trim) == Some(method))
}

/// The request of a `native` `execute`; `path` is already absolute.
pub(super) fn plan(n: &NativeRequest, path: String, op_id: &str, dev: &dyn DeviceView) -> Result<Rpc, OperationError> {
    let key = op_id.to_owned();
    let object_path = |p: String| {
        if p.ends_with('.') {
            Ok(p)
        } else {
            Err(bad("AddObject and DeleteObject take an object path ending in `.`"))
        }
    };
    Ok(match n.args.as_deref().map(str::trim).unwrap_or("AddObject") {
        "AddObject" => AddObject { object_name: object_path(path)?, parameter_key: key }.into(),
        "DeleteObject" => DeleteObject { object_name: object_path(path)?, parameter_key: key }.into(),
        "GetParameterNames" => GetParameterNames { parameter_path: path, next_level: true }.into(),
        "GetParameterAttributes" => GetParameterAttributes { parameter_names: vec![path] }.into(),
        "GetRPCMethods" => GetRPCMethods.into(),
        "ScheduleInform" => {
            let m = fields(n)?;
            let delay_seconds: u32 = number(m, "delaySeconds", None)?;
            if delay_seconds == 0 {
                return Err(bad("`delaySeconds` must be greater than 0 (A.4.1.2)"));
            }
            ScheduleInform { delay_seconds, command_key: string(m, "commandKey")?.unwrap_or(key) }.into()
        }
        "ScheduleDownload" => {
            let m = fields(n)?;
            let windows =
                m.get("timeWindows").and_then(Json::as_array).ok_or_else(|| bad("`timeWindows` is a list"))?;
            if windows.is_empty() || windows.len() > 2 {
                return Err(bad("`timeWindows` holds one or two windows (A.4.1.8)"));
            }
            let time_window_list = windows
                .iter()
                .map(|w| {
                    let w = w.as_object().ok_or_else(|| bad("a time window is an object"))?;
                    let t = TimeWindowStruct {
                        window_start: number(w, "windowStart", None)?,
                        window_end: number(w, "windowEnd", None)?,
                        window_mode: string(w, "windowMode")?.unwrap_or_else(|| "1 At Any Time".into()),
                        user_message: string(w, "userMessage")?.unwrap_or_default(),
                        max_retries: number(w, "maxRetries", Some(-1))?,
                    };
                    if t.window_end < t.window_start {
                        return Err(bad("`windowEnd` is before `windowStart`"));
                    }
                    Ok(t)
                })
                .collect::<Result<_, OperationError>>()?;
            ScheduleDownload {
                command_key: key,
                file_type: required(m, "fileType")?,
                url: required(m, "url")?,
                username: string(m, "username")?.unwrap_or_default(),
                password: string(m, "password")?.unwrap_or_default(),
                file_size: number(m, "fileSize", Some(0))?,
                target_file_name: string(m, "targetFileName")?.unwrap_or_default(),
                time_window_list,
            }
            .into()
        }
        "CancelTransfer" => CancelTransfer { command_key: required(fields(n)?, "commandKey")? }.into(),
        "Upload" => {
            let m = fields(n)?;
            let file_type = required(m, "fileType")?;
            if ![file_type::VENDOR_CONFIGURATION_FILE, file_type::VENDOR_LOG_FILE].contains(&file_type.as_str())
                && !file_type.starts_with("X ")
            {
                return Err(bad("`fileType` is `1 Vendor Configuration File`, `2 Vendor Log File` or `X …`"));
            }
            let base = dev.upload_base();
            let url = match string(m, "url")?.filter(|u| !u.trim().is_empty()) {
                Some(u) => u,
                None => match base {
                    Some(b) => format!("{b}upload-{key}"),
                    None => return Err(bad("no `url` and the ACS file server does not take uploads")),
                },
            };
            Upload {
                command_key: key,
                file_type,
                url,
                username: string(m, "username")?.unwrap_or_default(),
                password: string(m, "password")?.unwrap_or_default(),
                delay_seconds: number(m, "delaySeconds", Some(0))?,
            }
            .into()
        }
        other => {
            return Err(bad(format!("execute `args` names an RPC: one of {}; got `{other}`", METHODS.join(", "))));
        }
    })
}

/// The result of a completed Upload: where the file went.
pub fn upload_result(url: Option<String>) -> Option<Json> {
    url.map(|u| json!({ "url": u }))
}
