//! The CWMP catalogue: session and RPC behaviours of a CPE pointed at unidm's ACS, with ids of
//! our own (`TR069-<section>-<what>`) that cite TR-069 Amendment 6 (CWMP 1.4).
//!
//! Paths are relative to the CPE's data model root (`Device.` or `InternetGatewayDevice.`):
//! the ACS completes them. RPCs the CPE does not list in GetRPCMethods are inconclusive; values
//! a case sets are set back after it.

use std::time::Duration;

use serde_json::{json, Value as Json};
use unidm_core::Direction;
use unidm_models::{Action, FirmwareUpdate, NativeOp, NativeRequest, OperationState, SoftwareAction};

use crate::case::{Case, Finding, Outcome};
use crate::ctx::{describe, protocol_code, Ctx};

/// Every case, in the order they run.
pub fn catalogue() -> Vec<Case> {
    vec![
        case!(
            "TR069-3.7.1.1-Inform",
            "Inform identifies the CPE (DeviceIdStruct)",
            ["MGR-003", "MGR-004"],
            "TR-069 §3.7.1.1, A.3.3.1",
            inform_identity
        ),
        case!(
            "TR069-3.2.2-ConnectionRequest",
            "A connection request starts a session with event 6 CONNECTION REQUEST",
            ["MGR-001"],
            "TR-069 §3.2.2, §3.7.1.5 Table 7",
            connection_request
        ),
        case!(
            "TR069-A.3.1.1-GetRPCMethods",
            "GetRPCMethods lists every method a CPE must support",
            ["MGR-004"],
            "TR-069 A.3.1.1, Table 5 (CPE methods)",
            get_rpc_methods
        ),
        case!(
            "TR069-A.3.2.2-GetParameterValues",
            "GetParameterValues of one parameter",
            ["MGR-003", "HLF-002"],
            "TR-069 A.3.2.2",
            get_parameter_values
        ),
        case!(
            "TR069-A.3.2.2-PartialPath",
            "GetParameterValues of a partial path",
            ["MGR-003"],
            "TR-069 A.3.2.2 (ParameterNames may be partial paths)",
            get_partial_path
        ),
        case!(
            "TR069-A.3.2.1-SetParameterValues",
            "SetParameterValues of a writable parameter",
            ["MGR-006"],
            "TR-069 A.3.2.1",
            set_parameter_values
        ),
        case!(
            "TR069-A.5-9005-GetParameterValues",
            "GetParameterValues of an unknown parameter faults 9005",
            ["MGR-004"],
            "TR-069 A.5 Table 56 (9005 Invalid parameter name)",
            fault_get_unknown
        ),
        case!(
            "TR069-A.5-9005-SetParameterValues",
            "SetParameterValues of an unknown parameter faults 9005",
            ["MGR-004"],
            "TR-069 A.3.2.1, A.5 (9003 with SetParameterValuesFault 9005)",
            fault_set_unknown
        ),
        case!(
            "TR069-A.5-9008-SetParameterValues",
            "SetParameterValues of a read-only parameter faults 9008",
            ["MGR-004"],
            "TR-069 A.3.2.1, A.5 (9008 Attempt to set a non-writable parameter)",
            fault_set_read_only
        ),
        case!(
            "TR069-A.3.2.3-GetParameterNames",
            "GetParameterNames with NextLevel true",
            ["MGR-003"],
            "TR-069 A.3.2.3",
            get_parameter_names
        ),
        case!(
            "TR069-A.3.2.4-ParameterAttributes",
            "SetParameterAttributes then GetParameterAttributes",
            ["MGR-007"],
            "TR-069 A.3.2.4, A.3.2.5",
            parameter_attributes
        ),
        case!(
            "TR069-A.3.2.4-NoNotificationOfACSChanges",
            "A value the ACS sets is not notified back as 4 VALUE CHANGE",
            ["MGR-007"],
            "TR-069 A.3.2.4 (notification of changes made other than by the ACS), §3.7.1.5 Table 7",
            no_notification_of_acs_changes
        ),
        case!(
            "TR069-A.3.2.4-ActiveNotification",
            "Active notification: a change on the CPE opens a session with 4 VALUE CHANGE",
            ["MGR-007", "HLF-017"],
            "TR-069 A.3.2.4 (Notification 2), A.3.3.1, §3.7.1.5 Table 7 (4 VALUE CHANGE)",
            active_notification
        ),
        case!(
            "TR069-A.3.2.6-AddObject",
            "AddObject then DeleteObject of a multi-instance object",
            ["MGR-006"],
            "TR-069 A.3.2.6, A.3.2.7",
            add_delete_object
        ),
        case!(
            "TR069-A.3.2.8-Download",
            "Download of a firmware image and its TransferComplete",
            ["MGR-001", "HLF-003"],
            "TR-069 A.3.2.8, A.3.3.2, §3.7.1.5 (7 TRANSFER COMPLETE)",
            download
        ),
        case!(
            "TR069-A.4.1.10-ChangeDUState",
            "ChangeDUState Install and its DUStateChangeComplete",
            ["MGR-008"],
            "TR-069 A.4.1.10, A.4.2.1",
            change_du_state
        ),
        case!(
            "TR069-A.4.1.4-ScheduleInform",
            "ScheduleInform, then an Inform with 3 SCHEDULED, M ScheduleInform and its CommandKey",
            ["MGR-001"],
            "TR-069 A.4.1.4, §3.7.1.5 Table 7",
            schedule_inform
        ),
        case!(
            "TR069-A.4.1.5-Upload",
            "Upload of the vendor configuration file and its TransferComplete",
            ["MGR-007"],
            "TR-069 A.4.1.5, A.3.3.2 (TransferComplete), §3.7.1.5 (M Upload)",
            upload
        ),
        case!(
            "TR069-A.3.2.9-Reboot",
            "Reboot, then an Inform with 1 BOOT and M Reboot",
            ["MGR-009", "HLF-007"],
            "TR-069 A.3.2.9, §3.7.1.5 Table 7",
            reboot
        ),
    ]
}

/// The methods TR-069 Table 5 requires of every CPE.
pub const REQUIRED_CPE_METHODS: [&str; 10] = [
    "GetRPCMethods",
    "SetParameterValues",
    "GetParameterValues",
    "GetParameterNames",
    "SetParameterAttributes",
    "GetParameterAttributes",
    "AddObject",
    "DeleteObject",
    "Reboot",
    "Download",
];

async fn execute(ctx: &Ctx, rpc: &str, path: &str, value: Option<Json>) -> Result<unidm_models::Operation, Finding> {
    let request =
        NativeRequest { op: NativeOp::Execute, path: path.into(), value, args: Some(rpc.into()), format: None };
    ctx.operation(Action::Native(request)).await
}

async fn methods(ctx: &Ctx) -> Result<Vec<String>, Finding> {
    let op = execute(ctx, "GetRPCMethods", ".", None).await?;
    let list = ctx.succeeded(&op, "GetRPCMethods")?.unwrap_or(Json::Null);
    Ok(list.as_array().map(|a| a.iter().filter_map(|m| m.as_str().map(str::to_owned)).collect()).unwrap_or_default())
}

async fn require_method(ctx: &Ctx, method: &str) -> Result<(), Finding> {
    if methods(ctx).await?.iter().any(|m| m == method) {
        Ok(())
    } else {
        Err(Finding::inconclusive(format!("the CPE does not list {method} in GetRPCMethods")))
    }
}

/// The one value a GetParameterValues of a full name returned.
fn single_value(result: &Json, name: &str) -> Option<Json> {
    let map = result.as_object()?;
    map.iter().find(|(k, _)| k.ends_with(name)).map(|(_, v)| v.clone())
}

async fn get_value(ctx: &Ctx, name: &str) -> Result<Json, Finding> {
    let result = ctx.read(name).await?;
    single_value(&result, name).ok_or_else(|| {
        Finding::fail(format!("GetParameterValues {name}"), format!("a value of {name}"), result.to_string())
    })
}

fn number(v: &Json) -> Option<i64> {
    v.as_i64().or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
}

/// Expects a fault with `code` from `op`.
fn expect_fault(op: &unidm_models::Operation, what: &str, code: &str) -> Outcome {
    match (op.state, protocol_code(op)) {
        (OperationState::Failed, Some(c)) if c == code => Ok(format!("{what} answered fault {code}")),
        _ => Err(Finding::fail(what.to_owned(), format!("fault {code}"), describe(op))),
    }
}

async fn inform_identity(ctx: &Ctx) -> Outcome {
    let device = ctx.device()?;
    let id = &device.identity;
    let missing: Vec<&str> = [
        ("Manufacturer", id.manufacturer.as_deref()),
        ("OUI", id.oui.as_deref()),
        ("SerialNumber", id.serial.as_deref()),
    ]
    .into_iter()
    .filter(|(_, v)| v.is_none_or(|s| s.trim().is_empty()))
    .map(|(n, _)| n)
    .collect();
    if !missing.is_empty() {
        return Err(Finding::fail(
            "the DeviceIdStruct of the Inform",
            "Manufacturer, OUI and SerialNumber",
            format!("missing {missing:?}"),
        ));
    }
    Ok(format!(
        "Inform identified {} / OUI {} / serial {}",
        id.manufacturer.as_deref().unwrap_or_default(),
        id.oui.as_deref().unwrap_or_default(),
        id.serial.as_deref().unwrap_or_default()
    ))
}

async fn connection_request(ctx: &Ctx) -> Outcome {
    // Let a session still open end, so that the next operation needs a connection request.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mark = ctx.messages().len();
    let op = execute(ctx, "GetRPCMethods", ".", None).await?;
    ctx.succeeded(&op, "GetRPCMethods (sent in the session the connection request opened)")?;
    let inform = ctx
        .wait_message(mark, Duration::from_secs(1), |m| m.direction == Direction::FromDevice && m.summary == "Inform")
        .await;
    match inform {
        Some(m) if m.body.contains("6 CONNECTION REQUEST") => {
            Ok("the CPE opened a session with 6 CONNECTION REQUEST".into())
        }
        Some(m) => Err(Finding::fail(
            "the EventCodes of the Inform after a connection request",
            "6 CONNECTION REQUEST",
            m.body.lines().filter(|l| l.contains("EventCode")).collect::<Vec<_>>().join(" "),
        )),
        None => {
            Err(Finding::inconclusive("the operation rode a session already open; no connection request was needed"))
        }
    }
}

async fn get_rpc_methods(ctx: &Ctx) -> Outcome {
    let listed = methods(ctx).await?;
    let missing: Vec<&str> = REQUIRED_CPE_METHODS.into_iter().filter(|m| !listed.iter().any(|l| l == m)).collect();
    if !missing.is_empty() {
        return Err(Finding::fail(
            "GetRPCMethods",
            format!("{REQUIRED_CPE_METHODS:?}"),
            format!("missing {missing:?}"),
        ));
    }
    Ok(format!("GetRPCMethods lists {} methods, the 10 required among them", listed.len()))
}

async fn get_parameter_values(ctx: &Ctx) -> Outcome {
    let value = get_value(ctx, "DeviceInfo.SoftwareVersion").await?;
    Ok(format!("DeviceInfo.SoftwareVersion is {value}"))
}

async fn get_partial_path(ctx: &Ctx) -> Outcome {
    let result = ctx.read("DeviceInfo.").await?;
    let names: Vec<&String> = result.as_object().map(|m| m.keys().collect()).unwrap_or_default();
    if names.len() < 2 || !names.iter().all(|n| n.contains(".DeviceInfo.")) {
        return Err(Finding::fail(
            "GetParameterValues of DeviceInfo.",
            "every parameter under DeviceInfo.",
            format!("{names:?}"),
        ));
    }
    Ok(format!("DeviceInfo. gave {} parameters", names.len()))
}

const WRITABLE: &str = "ManagementServer.PeriodicInformInterval";

async fn set_parameter_values(ctx: &Ctx) -> Outcome {
    let before = get_value(ctx, WRITABLE).await?;
    let new = match number(&before) {
        Some(3601) => 3602,
        _ => 3601,
    };
    ctx.restore_later(NativeOp::Write, WRITABLE, Some(before));
    let op = ctx.native(NativeOp::Write, WRITABLE, Some(json!(new))).await?;
    ctx.succeeded(&op, &format!("SetParameterValues {WRITABLE}"))?;
    let after = get_value(ctx, WRITABLE).await?;
    if number(&after) != Some(new) {
        return Err(Finding::fail(format!("{WRITABLE} read back"), new.to_string(), after.to_string()));
    }
    Ok(format!("{WRITABLE} set to {new} and read back"))
}

async fn fault_get_unknown(ctx: &Ctx) -> Outcome {
    let op = ctx.native(NativeOp::Read, "DeviceInfo.UnidmNoSuchParameter", None).await?;
    expect_fault(&op, "GetParameterValues of DeviceInfo.UnidmNoSuchParameter", "9005")
}

async fn fault_set_unknown(ctx: &Ctx) -> Outcome {
    let op = ctx.native(NativeOp::Write, "DeviceInfo.UnidmNoSuchParameter", Some(json!("x"))).await?;
    expect_fault(&op, "SetParameterValues of DeviceInfo.UnidmNoSuchParameter", "9005")
}

async fn fault_set_read_only(ctx: &Ctx) -> Outcome {
    let before = get_value(ctx, "DeviceInfo.Manufacturer").await?;
    let op = ctx.native(NativeOp::Write, "DeviceInfo.Manufacturer", Some(json!("unidm-conformance"))).await?;
    if op.state == OperationState::Succeeded {
        ctx.restore_later(NativeOp::Write, "DeviceInfo.Manufacturer", Some(before));
    }
    expect_fault(&op, "SetParameterValues of the read-only DeviceInfo.Manufacturer", "9008")
}

async fn get_parameter_names(ctx: &Ctx) -> Outcome {
    let op = ctx.native(NativeOp::Discover, "DeviceInfo.", None).await?;
    let list = ctx.succeeded(&op, "GetParameterNames DeviceInfo.")?.unwrap_or(Json::Null);
    let names: Vec<&str> =
        list.as_array().map(|a| a.iter().filter_map(|p| p["name"].as_str()).collect()).unwrap_or_default();
    if !names.iter().any(|n| n.ends_with("DeviceInfo.SoftwareVersion")) {
        return Err(Finding::fail(
            "GetParameterNames DeviceInfo. (NextLevel true)",
            "DeviceInfo.SoftwareVersion among the names",
            format!("{names:?}"),
        ));
    }
    if names
        .iter()
        .any(|n| n.trim_end_matches('.').matches('.').count() > names[0].trim_end_matches('.').matches('.').count())
    {
        return Err(Finding::fail(
            "the depth of the names with NextLevel true",
            "the next level only",
            format!("{names:?}"),
        ));
    }
    Ok(format!("GetParameterNames listed {} names at the next level", names.len()))
}

async fn parameter_attributes(ctx: &Ctx) -> Outcome {
    let op = execute(ctx, "GetParameterAttributes", WRITABLE, None).await?;
    let before = ctx.succeeded(&op, &format!("GetParameterAttributes {WRITABLE}"))?.unwrap_or(Json::Null);
    let old = before[0]["notification"].as_i64().unwrap_or(0);
    let new = if old == 1 { 0 } else { 1 };
    ctx.restore_later(NativeOp::WriteAttributes, WRITABLE, Some(json!({"notification": old})));
    let op = ctx.native(NativeOp::WriteAttributes, WRITABLE, Some(json!({"notification": new}))).await?;
    ctx.succeeded(&op, &format!("SetParameterAttributes {WRITABLE} Notification {new}"))?;
    let op = execute(ctx, "GetParameterAttributes", WRITABLE, None).await?;
    let after = ctx.succeeded(&op, &format!("GetParameterAttributes {WRITABLE}"))?.unwrap_or(Json::Null);
    if after[0]["notification"].as_i64() != Some(new) {
        return Err(Finding::fail(format!("Notification of {WRITABLE} read back"), new.to_string(), after.to_string()));
    }
    Ok(format!("Notification of {WRITABLE} set from {old} to {new} and read back"))
}

/// How long [`active_notification`] waits for a change made on the CPE itself.
pub const VALUE_CHANGE_WAIT: Duration = Duration::from_secs(20);

/// Turns active notification on for `name` (put back after the case); inconclusive when the
/// CPE rejects it (9009: it may, for a parameter it deems unsuited).
async fn notify_actively(ctx: &Ctx, name: &str) -> Result<(), Finding> {
    let op = execute(ctx, "GetParameterAttributes", name, None).await?;
    let before = ctx.succeeded(&op, &format!("GetParameterAttributes {name}"))?.unwrap_or(Json::Null);
    let old = before[0]["notification"].as_i64().unwrap_or(0);
    if old == 2 {
        return Ok(());
    }
    let op = ctx.native(NativeOp::WriteAttributes, name, Some(json!({"notification": 2}))).await?;
    if op.state == OperationState::Succeeded {
        ctx.restore_later(NativeOp::WriteAttributes, name, Some(json!({"notification": old})));
        return Ok(());
    }
    match protocol_code(&op) {
        Some("9009") => Err(Finding::inconclusive(format!("the CPE rejected active notification on {name} (9009)"))),
        _ => Err(Finding::fail(format!("SetParameterAttributes {name} Notification 2"), "success", describe(&op))),
    }
}

/// Whether `m` is an Inform with `4 VALUE CHANGE`.
fn value_change_inform(m: &unidm_core::WireRecord) -> bool {
    m.direction == Direction::FromDevice && m.summary == "Inform" && m.body.contains("4 VALUE CHANGE")
}

async fn no_notification_of_acs_changes(ctx: &Ctx) -> Outcome {
    notify_actively(ctx, WRITABLE).await?;
    let before = get_value(ctx, WRITABLE).await?;
    let new = match number(&before) {
        Some(3603) => 3604,
        _ => 3603,
    };
    ctx.restore_later(NativeOp::Write, WRITABLE, Some(before));
    let mark = ctx.messages().len();
    let op = ctx.native(NativeOp::Write, WRITABLE, Some(json!(new))).await?;
    ctx.succeeded(&op, &format!("SetParameterValues {WRITABLE}"))?;
    // An active notification opens a session at once; give a CPE's throttle a few seconds.
    let notified =
        ctx.wait_message(mark, Duration::from_secs(5), |m| value_change_inform(m) && m.body.contains(WRITABLE)).await;
    if let Some(m) = notified {
        return Err(Finding::fail(
            format!("the Informs after the ACS set {WRITABLE} (active notification on)"),
            "no 4 VALUE CHANGE for a change the ACS made",
            m.body.lines().filter(|l| l.contains("EventCode") || l.contains(WRITABLE)).collect::<Vec<_>>().join(" "),
        ));
    }
    Ok(format!("{WRITABLE} set by the ACS to {new} with active notification on; no 4 VALUE CHANGE in 5 s"))
}

async fn active_notification(ctx: &Ctx) -> Outcome {
    let read = get_value(ctx, WRITABLE).await?;
    let before = text(&read);
    // Whatever the CPE changes it to, the ACS puts it back afterwards.
    ctx.restore_later(NativeOp::Write, WRITABLE, Some(read));
    let mark = ctx.messages().len();
    notify_actively(ctx, WRITABLE).await?;
    // Only a new value counts: a late Inform about an earlier change carries the value we read.
    let changed = |m: &unidm_core::WireRecord| {
        value_change_inform(m) && inform_value(&m.body, WRITABLE).is_some_and(|v| v != before)
    };
    if let Some(inform) = ctx.wait_message(mark, VALUE_CHANGE_WAIT, changed).await {
        let after = inform_value(&inform.body, WRITABLE).unwrap_or_default();
        return Ok(format!("the CPE opened a session with 4 VALUE CHANGE for {WRITABLE} ({before} -> {after})"));
    }
    let now = text(&get_value(ctx, WRITABLE).await?);
    if now != before {
        return Err(Finding::fail(
            format!("the Informs after {WRITABLE} changed on the CPE ({before} -> {now})"),
            "an Inform with 4 VALUE CHANGE and the new value",
            format!("none in {} s", VALUE_CHANGE_WAIT.as_secs()),
        ));
    }
    Err(Finding::inconclusive(format!(
        "nothing changed {WRITABLE} on the CPE in {} s (change it on the CPE itself, its web page or CLI, \
         during this case)",
        VALUE_CHANGE_WAIT.as_secs()
    )))
}

/// A value as text (`3600` whether it came as a number or a string).
fn text(v: &Json) -> String {
    v.as_str().map_or_else(|| v.to_string(), |s| s.trim().to_owned())
}

/// The value an Inform's ParameterList gives `name` (a name relative to the root), whatever
/// prefixes the CPE's XML uses.
fn inform_value(body: &str, name: &str) -> Option<String> {
    let at = body.find(&format!("{name}<"))?;
    let rest = &body[at + name.len()..];
    let tag = rest.find("Value")?;
    let rest = &rest[tag..];
    let content = &rest[rest.find('>')? + 1..];
    Some(content[..content.find('<')?].trim().to_owned())
}

/// Multi-instance objects the ACS may add to in TR-181 and TR-098.
const ADDABLE: [&str; 5] = [
    "NAT.PortMapping.",
    "Routing.Router.1.IPv4Forwarding.",
    "Layer3Forwarding.Forwarding.",
    "WANDevice.1.WANConnectionDevice.1.WANIPConnection.1.PortMapping.",
    "WANDevice.1.WANConnectionDevice.1.WANPPPConnection.1.PortMapping.",
];

async fn add_delete_object(ctx: &Ctx) -> Outcome {
    let mut refused = Vec::new();
    for object in ADDABLE {
        let op = ctx.native(NativeOp::Create, object, None).await?;
        if op.state != OperationState::Succeeded {
            refused.push(format!("{object}: {}", describe(&op)));
            continue;
        }
        let Some(n) = op.result.as_ref().and_then(|r| r["instanceNumber"].as_u64()) else {
            return Err(Finding::fail(format!("AddObject {object}"), "an InstanceNumber", format!("{:?}", op.result)));
        };
        let instance = format!("{object}{n}.");
        let op = ctx.native(NativeOp::Delete, &instance, None).await?;
        ctx.succeeded(&op, &format!("DeleteObject {instance}"))?;
        let op = ctx.native(NativeOp::Discover, &instance, None).await?;
        if op.state == OperationState::Succeeded {
            return Err(Finding::fail(
                format!("GetParameterNames of the deleted {instance}"),
                "fault 9005",
                "its names",
            ));
        }
        return Ok(format!("AddObject {object} made instance {n}; DeleteObject removed it"));
    }
    Err(Finding::inconclusive(format!("the CPE has none of the objects tried: {}", refused.join("; "))))
}

async fn download(ctx: &Ctx) -> Outcome {
    let uri = ctx.firmware_uri()?.to_owned();
    let op = ctx.operation(Action::Firmware(FirmwareUpdate { uri, version: None, name: None })).await?;
    ctx.succeeded(&op, "Download (1 Firmware Upgrade Image) and its TransferComplete")?;
    let complete =
        ctx.messages().into_iter().any(|m| m.direction == Direction::FromDevice && m.summary == "TransferComplete");
    let immediate =
        ctx.messages().iter().any(|m| m.summary == "DownloadResponse" && m.body.contains("<Status>0</Status>"));
    if !complete && !immediate {
        return Err(Finding::fail(
            "the end of the Download",
            "TransferComplete, or DownloadResponse Status 0",
            "neither",
        ));
    }
    Ok(if complete {
        "Download answered, then TransferComplete with FaultCode 0".into()
    } else {
        "Download applied at once (Status 0)".into()
    })
}

async fn change_du_state(ctx: &Ctx) -> Outcome {
    require_method(ctx, "ChangeDUState").await?;
    let uri = ctx.software_uri()?.to_owned();
    let op = ctx
        .operation(Action::Software(SoftwareAction::Install { uri, name: None, version: None, activate: None }))
        .await?;
    let result = ctx.succeeded(&op, "ChangeDUState Install and its DUStateChangeComplete")?.unwrap_or(Json::Null);
    let uuid = result[0]["uuid"].as_str().unwrap_or_default().to_owned();
    if uuid.is_empty() {
        return Err(Finding::fail("the DUStateChangeComplete of the install", "a UUID", result.to_string()));
    }
    let op = ctx.operation(Action::Software(SoftwareAction::Uninstall { module: uuid.clone() })).await?;
    ctx.succeeded(&op, &format!("ChangeDUState Uninstall of {uuid} (putting the CPE back)"))?;
    Ok(format!("installed deployment unit {uuid}, then uninstalled it"))
}

/// The first Inform after message `mark` with `event` among its EventCodes (what `rpc` asked
/// for), waited for up to `timeout`; a fail naming them otherwise.
async fn inform_after(
    ctx: &Ctx,
    mark: usize,
    rpc: &str,
    event: &str,
    timeout: Duration,
) -> Result<unidm_core::WireRecord, Finding> {
    let found = ctx
        .wait_message(mark, timeout, |m| {
            m.direction == Direction::FromDevice && m.summary == "Inform" && m.body.contains(event)
        })
        .await;
    found
        .ok_or_else(|| Finding::fail(format!("the Inform after {rpc}"), format!("EventCode {event}"), "no such Inform"))
}

async fn schedule_inform(ctx: &Ctx) -> Outcome {
    require_method(ctx, "ScheduleInform").await?;
    let mark = ctx.messages().len();
    let op = execute(ctx, "ScheduleInform", ".", Some(json!({"delaySeconds": 1, "commandKey": "unidm-conformance"})))
        .await?;
    ctx.succeeded(&op, "ScheduleInform and the scheduled Inform")?;
    let inform = inform_after(ctx, mark, "ScheduleInform", "3 SCHEDULED", Duration::from_secs(2)).await?;
    if !inform.body.contains("M ScheduleInform") || !inform.body.contains("unidm-conformance") {
        return Err(Finding::fail(
            "the EventCodes of the scheduled Inform",
            "3 SCHEDULED and M ScheduleInform with CommandKey unidm-conformance",
            inform
                .body
                .lines()
                .filter(|l| l.contains("EventCode") || l.contains("CommandKey"))
                .collect::<Vec<_>>()
                .join(" "),
        ));
    }
    Ok("ScheduleInform answered; the CPE came back with 3 SCHEDULED and M ScheduleInform (its CommandKey)".into())
}

async fn upload(ctx: &Ctx) -> Outcome {
    require_method(ctx, "Upload").await?;
    let op = execute(ctx, "Upload", ".", Some(json!({"fileType": "1 Vendor Configuration File"}))).await?;
    if op.error.as_ref().is_some_and(|e| e.kind == unidm_models::ErrorKind::BadInput) {
        return Err(Finding::inconclusive(format!("unidm's file server takes no uploads here: {}", describe(&op))));
    }
    let result = ctx.succeeded(&op, "Upload and its TransferComplete")?.unwrap_or(Json::Null);
    let complete = ctx.messages().iter().any(|m| {
        m.direction == Direction::FromDevice && m.summary == "TransferComplete" && m.body.contains("<FaultCode>0<")
    });
    let immediate =
        ctx.messages().iter().any(|m| m.summary == "UploadResponse" && m.body.contains("<Status>0</Status>"));
    if !complete && !immediate {
        return Err(Finding::fail(
            "the end of the Upload",
            "TransferComplete FaultCode 0, or UploadResponse Status 0",
            "neither",
        ));
    }
    Ok(format!("the vendor configuration file was uploaded to {}", result["url"].as_str().unwrap_or("the file server")))
}

async fn reboot(ctx: &Ctx) -> Outcome {
    let mark = ctx.messages().len();
    let op = ctx.operation(Action::Reboot).await?;
    ctx.succeeded(&op, "Reboot (and the boot Inform)")?;
    let boot = inform_after(ctx, mark, "Reboot", "1 BOOT", Duration::from_secs(5)).await?;
    if !boot.body.contains("M Reboot") {
        return Err(Finding::fail("the EventCodes of the boot Inform", "1 BOOT and M Reboot", "no M Reboot"));
    }
    Ok("Reboot answered; the CPE came back with 1 BOOT and M Reboot".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_inform_value_is_found_whatever_the_prefixes() {
        let body = r#"<ParameterList><ParameterValueStruct><Name>Device.ManagementServer.PeriodicInformInterval</Name>
<Value xsi:type="xsd:unsignedInt">1234</Value></ParameterValueStruct></ParameterList>"#;
        assert_eq!(inform_value(body, WRITABLE).as_deref(), Some("1234"));
        let prefixed = "<cwmp:Name>InternetGatewayDevice.ManagementServer.PeriodicInformInterval</cwmp:Name>\
                        <cwmp:Value>60</cwmp:Value>";
        assert_eq!(inform_value(prefixed, WRITABLE).as_deref(), Some("60"));
        assert_eq!(inform_value(body, "DeviceInfo.SoftwareVersion"), None);
        assert_eq!(text(&json!(3600)), "3600");
        assert_eq!(text(&json!(" 3600 ")), "3600");
    }
}
